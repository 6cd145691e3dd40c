//! The [`Caller`] the checks of one graded call get, and the audit line of every call.
//!
//! A check's calls take the same path as the graded call (journal, cache, the judge model's own
//! concurrency limit, rate limiter and retries), are audited with the graded call's cell, case
//! and repeat, and are counted as its judge usage.

use std::sync::Mutex;

use super::Shared;
use super::call::{Api, Outcome, Permit, call};
use super::keys::check_call_key;
use crate::check::{Answer, Caller};
use crate::config::{Case, Model};
use crate::privacy::audit::{AuditLine, Purpose, Source};
use crate::privacy::secrets::scrub;
use crate::provider::{BoxFuture, ChatRequest, Message, Role};
use crate::results::{JudgeUsage, RateLimited};

/// The graded call a model call belongs to, for the audit log and judge usage.
pub(super) struct CallCtx<'a> {
    pub shared: &'a Shared,
    pub cell: &'a str,
    pub case: &'a Case,
    pub repeat: u32,
}

impl CallCtx<'_> {
    /// Appends the audit line of a call that was made or replayed.
    pub fn audit(
        &self,
        model: &Model,
        key: &str,
        outcome: &Outcome,
        purpose: Purpose,
        sample: Option<u32>,
    ) {
        let Some(log) = &self.shared.opts.audit else {
            return;
        };
        let suite = &self.shared.suite;
        let mut batch = None;
        let (usage, latency_ms, attempts, source, error) = match outcome {
            Outcome::NotCalled(_) => return,
            Outcome::Answered { entry, source, .. } => (
                {
                    batch = entry.batch.clone();
                    entry.completion.usage
                },
                entry.latency_ms,
                if *source == Source::Provider {
                    entry.attempts
                } else {
                    0
                },
                *source,
                None,
            ),
            Outcome::Failed {
                error, attempts, ..
            } => (
                Default::default(),
                0,
                *attempts,
                Source::Provider,
                Some(suite.redactor.redact(&scrub(error)).into_owned()),
            ),
        };
        let ci = &self.shared.opts.ci;
        log.record(&AuditLine {
            time: &crate::privacy::audit::now(),
            suite: &suite.name,
            cell: self.cell,
            case: &self.case.id,
            repeat: self.repeat,
            purpose,
            sample,
            model: &model.id,
            provider: model.kind.as_str(),
            model_name: &model.model,
            request_hash: key,
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cached_input_tokens: usage.cached_input_tokens,
            cost_usd: model
                .price
                .map_or(0.0, |p| p.cost_of(&usage, batch.is_some())),
            batch: batch.as_deref(),
            latency_ms,
            status: if error.is_some() { "error" } else { "ok" },
            error: error.as_deref(),
            attempts,
            cache_hit: source == Source::Cache,
            source,
            actor: ci.actor.as_deref(),
            run_id: ci.run_id.as_deref(),
            workflow: ci.workflow.as_deref(),
            git_ref: ci.git_ref.as_deref(),
            cost_center: suite.audit.cost_center.as_deref(),
        });
    }
}

/// The [`Caller`] handed to the checks of one graded call.
pub(super) struct ItemCaller<'a> {
    ctx: &'a CallCtx<'a>,
    usage: Mutex<JudgeUsage>,
    rate_limited: Mutex<RateLimited>,
}

impl<'a> ItemCaller<'a> {
    pub fn new(ctx: &'a CallCtx<'a>) -> Self {
        ItemCaller {
            ctx,
            usage: Mutex::default(),
            rate_limited: Mutex::default(),
        }
    }

    /// How much rate limits held the checks' calls back.
    pub fn rate_limited(&self) -> RateLimited {
        *self.rate_limited.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn model(&self, id: &str) -> Result<usize, String> {
        self.ctx
            .shared
            .suite
            .models
            .iter()
            .position(|m| m.id == id)
            .ok_or_else(|| format!("model `{id}` is not configured"))
    }

    /// Makes a check's call, audits it and adds it to the judge usage.
    async fn make(
        &self,
        mi: usize,
        request: ChatRequest,
        key: String,
        api: Api,
        purpose: Purpose,
        sample: Option<u32>,
    ) -> Result<(String, bool), String> {
        let shared = self.ctx.shared;
        let model = &shared.suite.models[mi];
        let outcome = call(shared, mi, &request, &key, api, Permit::Acquire).await;
        self.ctx.audit(model, &key, &outcome, purpose, sample);
        self.rate_limited
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(&outcome.limited());
        let mut usage = JudgeUsage::default();
        let result = match outcome {
            Outcome::Answered { entry, source, .. } => {
                let cost = model.price.map_or(0.0, |p| p.cost(&entry.completion.usage));
                usage.calls = 1;
                usage.cache_hits = u64::from(source == Source::Cache);
                usage.input_tokens = entry.completion.usage.input_tokens;
                usage.output_tokens = entry.completion.usage.output_tokens;
                usage.cached_input_tokens = entry.completion.usage.cached_input_tokens;
                usage.cost_usd = cost;
                if source != Source::Cache {
                    usage.spent_usd = cost;
                }
                Ok((entry.completion.output, source != Source::Provider))
            }
            Outcome::Failed { error, .. } => {
                usage.calls = 1;
                Err(error)
            }
            Outcome::NotCalled(error) => Err(error),
        };
        self.usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(&usage);
        result
    }
}

impl Caller for ItemCaller<'_> {
    fn chat<'a>(
        &'a self,
        model: &'a str,
        messages: Vec<Message>,
        sample: u32,
    ) -> BoxFuture<'a, Result<Answer, String>> {
        Box::pin(async move {
            let mi = self.model(model)?;
            let m = &self.ctx.shared.suite.models[mi];
            let request = ChatRequest {
                messages,
                params: m.params.clone(),
                vars: super::item::case_vars(m, self.ctx.case),
                case_id: self.ctx.case.id.clone(),
            };
            let key = check_call_key("judge", m, &request, sample);
            let (output, cached) = self
                .make(mi, request, key, Api::Chat, Purpose::Judge, Some(sample))
                .await?;
            Ok(Answer { output, cached })
        })
    }

    fn embed<'a>(
        &'a self,
        model: &'a str,
        text: String,
    ) -> BoxFuture<'a, Result<Vec<f64>, String>> {
        Box::pin(async move {
            let mi = self.model(model)?;
            let m = &self.ctx.shared.suite.models[mi];
            let request = ChatRequest {
                messages: vec![Message {
                    role: Role::User,
                    content: text,
                    ..Default::default()
                }],
                params: Default::default(),
                vars: serde_json::Value::Null,
                case_id: self.ctx.case.id.clone(),
            };
            let key = check_call_key("embedding", m, &request, 0);
            let (output, _) = self
                .make(mi, request, key, Api::Embeddings, Purpose::Embedding, None)
                .await?;
            crate::provider::embeddings::parse_vector(&output)
        })
    }

    fn usage(&self) -> JudgeUsage {
        *self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }
}
