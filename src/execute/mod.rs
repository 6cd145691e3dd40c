//! Execution: make every planned call (or replay it), persist each response the moment it
//! arrives, grade it, and hand back results in plan order.
//!
//! Each model has its own concurrency limit and rate limiter. Per call: the run's journal is
//! consulted first (a resumed run pays for nothing twice), then the response cache, then the
//! provider. A model that fails in a way no retry can fix (bad key, unknown model, exhausted quota)
//! is not called again: its remaining cases are errored with the first failure's reason.
//!
//! Model-graded checks (llm-judge, similar) call models too. They get a [`Caller`] whose calls
//! take exactly the same path (journal, cache, the judge model's own concurrency limit, rate
//! limiter and retries), are recorded in the audit log, and are counted as judge usage. The
//! graded call's concurrency permit is released before grading, so a judge that is also a graded
//! model can never wait on a permit its own callers hold.

pub mod store;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::check::{Answer, Caller, CheckInput, Grade};
use crate::cli::progress::Progress;
use crate::config::{Case, Dataset, Model, Suite};
use crate::plan::Plan;
use crate::privacy::audit::{AuditLog, AuditRecord, CiContext, Purpose, Source};
use crate::privacy::secrets::redact;
use crate::provider::ratelimit::RateLimiter;
use crate::provider::retry::{RetryPolicy, complete_with_retries};
use crate::provider::{BoxFuture, ChatRequest, Completion, Message, Provider, ProviderKind, Role};
use crate::results::{CallResult, CheckResult, JudgeUsage, Tokens};
use crate::support::fingerprint::hash_json;
use store::{Entry, Store};

/// How the response cache is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Read hits, write new responses (default).
    ReadWrite,
    /// Call every time, overwrite with new responses.
    Refresh,
    /// Neither read nor write.
    Off,
    /// Replay only: a miss is an error, nothing is called.
    Offline,
}

impl CacheMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheMode::ReadWrite => "rw",
            CacheMode::Refresh => "refresh",
            CacheMode::Off => "off",
            CacheMode::Offline => "offline",
        }
    }
    fn reads(self) -> bool {
        matches!(self, CacheMode::ReadWrite | CacheMode::Offline)
    }
    fn writes(self) -> bool {
        matches!(self, CacheMode::ReadWrite | CacheMode::Refresh)
    }
}

/// A model ready to call.
#[derive(Debug)]
pub struct Endpoint {
    pub provider: Box<dyn Provider>,
    /// The model's `/embeddings` endpoint, for `similar` checks that name it.
    pub embeddings: Option<Box<dyn Provider>>,
    pub limiter: RateLimiter,
    pub semaphore: Arc<Semaphore>,
    pub retry: RetryPolicy,
    /// The first unrecoverable failure, after which the model is not called again.
    fatal: OnceLock<String>,
}

impl Endpoint {
    pub fn new(provider: Box<dyn Provider>, model: &Model, concurrency: usize) -> Self {
        Endpoint {
            provider,
            embeddings: None,
            limiter: RateLimiter::new(model.rpm, model.tpm),
            semaphore: Arc::new(Semaphore::new(concurrency.max(1))),
            retry: RetryPolicy {
                max_retries: model.max_retries,
                ..RetryPolicy::default()
            },
            fatal: OnceLock::new(),
        }
    }

    /// Adds the embeddings endpoint; it shares the model's limits and retry policy.
    pub fn with_embeddings(mut self, embeddings: Box<dyn Provider>) -> Self {
        self.embeddings = Some(embeddings);
        self
    }
}

#[derive(Debug)]
pub struct ExecOptions {
    pub cache: CacheMode,
    pub cache_store: Option<Store>,
    pub journal: Store,
    /// Where every call is recorded; `None` records nothing.
    pub audit: Option<AuditLog>,
    /// Written on every audit line.
    pub ci: CiContext,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("interrupted")]
    Interrupted,
}

struct Shared {
    suite: Arc<Suite>,
    plan: Arc<Plan>,
    endpoints: Vec<Option<Endpoint>>,
    opts: ExecOptions,
    store_warned: std::sync::atomic::AtomicBool,
}

/// One planned call.
#[derive(Debug, Clone, Copy)]
struct Item {
    index: usize,
    cell: usize,
    case: (usize, usize),
    repeat: u32,
}

/// Runs the plan. `endpoints[m]` is the callable model `m` (None in offline mode).
pub async fn execute(
    suite: Arc<Suite>,
    plan: Arc<Plan>,
    endpoints: Vec<Option<Endpoint>>,
    opts: ExecOptions,
    progress: &mut Progress,
) -> Result<Vec<CallResult>, ExecError> {
    let total = plan.calls();
    let shared = Arc::new(Shared {
        suite,
        plan,
        endpoints,
        opts,
        store_warned: Default::default(),
    });
    let (tx, mut rx) = mpsc::channel::<(usize, CallResult)>(1024);

    // One driver per model, so a slow model never holds back a fast one.
    let mut items_by_model: Vec<Vec<Item>> =
        (0..shared.suite.models.len()).map(|_| Vec::new()).collect();
    let mut index = 0;
    for (ci, cell) in shared.plan.cells.iter().enumerate() {
        for &case in &cell.cases {
            for repeat in 0..shared.plan.repeats {
                items_by_model[cell.model].push(Item {
                    index,
                    cell: ci,
                    case,
                    repeat,
                });
                index += 1;
            }
        }
    }
    // Calls in flight across all models, grading included. A graded call gives its model's permit
    // back before grading, and replayed calls need no permit at all, so without this bound a warm
    // cache would start every case's grading (and every `command` grader's process) at once.
    let in_flight_limit = shared
        .suite
        .models
        .iter()
        .map(|m| m.concurrency)
        .sum::<usize>()
        .saturating_mul(2)
        .max(32);
    let in_flight = Arc::new(Semaphore::new(in_flight_limit));
    let mut drivers = tokio::task::JoinSet::new();
    for (model, items) in items_by_model.into_iter().enumerate() {
        if items.is_empty() {
            continue;
        }
        let shared = Arc::clone(&shared);
        let tx = tx.clone();
        let in_flight = Arc::clone(&in_flight);
        drivers.spawn(async move {
            let semaphore = shared.endpoints[model]
                .as_ref()
                .map(|e| Arc::clone(&e.semaphore));
            let mut tasks = tokio::task::JoinSet::new();
            for item in items {
                // The run-wide slot first, then the model's permit: a task waiting for a judge's
                // permit holds only a slot, never another model's permit.
                let slot = Arc::clone(&in_flight).acquire_owned().await.ok();
                let permit = match &semaphore {
                    Some(s) => Arc::clone(s).acquire_owned().await.ok(),
                    None => None,
                };
                let shared = Arc::clone(&shared);
                let tx = tx.clone();
                tasks.spawn(async move {
                    // A bug that panics while one call is handled must not drop that case from
                    // the results (a missing case could let a gate pass): it becomes an error.
                    let result = std::panic::AssertUnwindSafe(run_item(&shared, item, permit))
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|_| {
                            let cell = &shared.plan.cells[item.cell];
                            let case = &shared.suite.datasets[item.case.0].cases[item.case.1];
                            errored(
                                &cell.id,
                                case,
                                item.repeat,
                                Vec::new(),
                                "internal error while handling this call (a bug in evalgate: please report it)".to_owned(),
                                0,
                            )
                        });
                    let _ = tx.send((item.index, result)).await;
                    drop(slot);
                });
                // Reap finished tasks as we go so the set stays small.
                while tasks.try_join_next().is_some() {}
            }
            while tasks.join_next().await.is_some() {}
        });
    }
    drop(tx);

    let mut slots: Vec<Option<CallResult>> = (0..total).map(|_| None).collect();
    let collect = async {
        while let Some((index, result)) = rx.recv().await {
            progress.record(result.is_errored());
            slots[index] = Some(result);
        }
    };
    tokio::select! {
        () = collect => {}
        _ = tokio::signal::ctrl_c() => {
            drivers.abort_all();
            return Err(ExecError::Interrupted);
        }
    }
    while drivers.join_next().await.is_some() {}
    progress.finish();
    Ok(slots.into_iter().flatten().collect())
}

async fn run_item(shared: &Shared, item: Item, permit: Option<OwnedSemaphorePermit>) -> CallResult {
    let suite = &shared.suite;
    let cell = &shared.plan.cells[item.cell];
    let model = &suite.models[cell.model];
    let prompt = &suite.prompts[cell.prompt];
    let dataset = &suite.datasets[item.case.0];
    let case = &dataset.cases[item.case.1];

    let mut messages = Vec::with_capacity(prompt.messages.len());
    for (role, template) in &prompt.messages {
        match suite.templates.render(template, &case.ctx) {
            Ok(content) => messages.push(Message {
                role: *role,
                content,
            }),
            Err(e) => {
                let error = format!("prompt `{}` failed to render: {e}", prompt.id);
                return errored(&cell.id, case, item.repeat, messages, error, 0);
            }
        }
    }
    let request = ChatRequest {
        messages,
        params: model.params.clone(),
        vars: serde_json::Value::Object(case.vars.clone()),
        case_id: case.id.clone(),
    };
    let key = request_key(model, &request, item.repeat);
    let ctx = CallCtx {
        shared,
        cell: &cell.id,
        case,
        repeat: item.repeat,
    };
    // The driver already holds this model's permit for the graded call.
    let outcome = call(shared, cell.model, &request, &key, Api::Chat, false).await;
    drop(permit);
    ctx.audit(model, &key, &outcome, Purpose::Eval, None);
    match outcome {
        Outcome::Answered { entry, source } => {
            grade(
                &ctx,
                model,
                dataset,
                request.messages,
                entry,
                source == Source::Cache,
            )
            .await
        }
        Outcome::Failed { error, attempts } => errored(
            &cell.id,
            case,
            item.repeat,
            request.messages,
            error,
            attempts,
        ),
        Outcome::NotCalled(error) => {
            errored(&cell.id, case, item.repeat, request.messages, error, 0)
        }
    }
}

/// Which endpoint of a model a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Chat,
    Embeddings,
}

/// What became of one call.
#[derive(Debug)]
enum Outcome {
    /// Answered now or replayed.
    Answered { entry: Entry, source: Source },
    /// Called, and failed after its retries; the message is free of secrets.
    Failed { error: String, attempts: u32 },
    /// Never sent: offline without a cached response, or the model already failed fatally.
    NotCalled(String),
}

/// Makes one call to model `mi` (or replays it): journal first, then the cache, then the
/// provider with retries and rate limits. `acquire` takes the model's concurrency permit for the
/// duration of the call (checks' calls; the graded call's permit is held by the driver).
async fn call(
    shared: &Shared,
    mi: usize,
    request: &ChatRequest,
    key: &str,
    api: Api,
    acquire: bool,
) -> Outcome {
    let model = &shared.suite.models[mi];
    if let Some(entry) = shared.opts.journal.get(key) {
        return Outcome::Answered {
            entry,
            source: Source::Journal,
        };
    }
    if shared.opts.cache.reads()
        && let Some(entry) = shared.opts.cache_store.as_ref().and_then(|c| c.get(key))
    {
        return Outcome::Answered {
            entry,
            source: Source::Cache,
        };
    }
    let Some(endpoint) = &shared.endpoints[mi] else {
        return Outcome::NotCalled(format!(
            "no cached response for this call and --offline forbids calling model `{}`",
            model.id
        ));
    };
    let provider = match api {
        Api::Chat => endpoint.provider.as_ref(),
        Api::Embeddings => match &endpoint.embeddings {
            Some(p) => p.as_ref(),
            None => {
                return Outcome::NotCalled(format!(
                    "model `{}` has no embeddings endpoint",
                    model.id
                ));
            }
        },
    };
    let _permit = if acquire {
        Arc::clone(&endpoint.semaphore).acquire_owned().await.ok()
    } else {
        None
    };
    if let Some(reason) = endpoint.fatal.get() {
        return Outcome::NotCalled(format!(
            "not called: an earlier call to model `{}` failed: {reason}",
            model.id
        ));
    }

    let estimate = request
        .messages
        .iter()
        .map(|m| m.content.len() as u64 / 4)
        .sum::<u64>()
        + u64::from(model.params.max_tokens.unwrap_or(256));
    let attempted = complete_with_retries(
        provider,
        request,
        &endpoint.retry,
        &endpoint.limiter,
        model.timeout,
        estimate,
    )
    .await;
    match attempted.result {
        Ok(completion) => {
            let entry = Entry {
                key: key.to_owned(),
                completion,
                latency_ms: duration_ms(attempted.latency),
                attempts: attempted.attempts,
            };
            // Persist before grading: grading can be redone, a paid response cannot.
            persist(shared, &shared.opts.journal, &entry);
            if shared.opts.cache.writes()
                && let Some(cache) = &shared.opts.cache_store
            {
                persist(shared, cache, &entry);
            }
            Outcome::Answered {
                entry,
                source: Source::Provider,
            }
        }
        Err(err) => {
            let message = redact(&err.to_string());
            if err.is_fatal_for_model() {
                let _ = endpoint.fatal.set(message.clone());
            }
            Outcome::Failed {
                error: message,
                attempts: attempted.attempts,
            }
        }
    }
}

/// The graded call a model call belongs to, for the audit log and judge usage.
struct CallCtx<'a> {
    shared: &'a Shared,
    cell: &'a str,
    case: &'a Case,
    repeat: u32,
}

impl CallCtx<'_> {
    /// Appends the audit line of a call that was made or replayed.
    fn audit(
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
        let (usage, latency_ms, attempts, source, error) = match outcome {
            Outcome::NotCalled(_) => return,
            Outcome::Answered { entry, source } => (
                entry.completion.usage,
                entry.latency_ms,
                if *source == Source::Provider {
                    entry.attempts
                } else {
                    0
                },
                *source,
                None,
            ),
            Outcome::Failed { error, attempts } => (
                Default::default(),
                0,
                *attempts,
                Source::Provider,
                Some(suite.redactor.redact(&redact(error)).into_owned()),
            ),
        };
        log.record(&AuditRecord {
            time: crate::privacy::audit::now(),
            suite: suite.name.clone(),
            cell: self.cell.to_owned(),
            case: self.case.id.clone(),
            repeat: self.repeat,
            purpose,
            sample,
            model: model.id.clone(),
            provider: model.kind.as_str().to_owned(),
            model_name: model.model.clone(),
            request_hash: key.to_owned(),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cached_input_tokens: usage.cached_input_tokens,
            cost_usd: model.price.map_or(0.0, |p| p.cost(&usage)),
            latency_ms,
            status: if error.is_some() { "error" } else { "ok" }.to_owned(),
            error,
            attempts,
            cache_hit: source == Source::Cache,
            source,
            ci: self.shared.opts.ci.clone(),
            cost_center: suite.audit.cost_center.clone(),
        });
    }
}

/// The [`Caller`] handed to the checks of one graded call.
struct ItemCaller<'a> {
    ctx: &'a CallCtx<'a>,
    usage: std::sync::Mutex<JudgeUsage>,
}

impl ItemCaller<'_> {
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
        let outcome = call(shared, mi, &request, &key, api, true).await;
        self.ctx.audit(model, &key, &outcome, purpose, sample);
        let mut usage = JudgeUsage::default();
        let result = match outcome {
            Outcome::Answered { entry, source } => {
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
                vars: serde_json::Value::Object(self.ctx.case.vars.clone()),
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
}

/// The cache key of a check's call: like [`request_key`], with the purpose (so a judge prompt
/// can never collide with a graded call) and the sample index in place of the repeat.
fn check_call_key(purpose: &str, model: &Model, request: &ChatRequest, sample: u32) -> String {
    let mut key = request_fields(model, request);
    key["purpose"] = json!(purpose);
    key["sample"] = json!(sample);
    hash_json(&key)
}

fn persist(shared: &Shared, store: &Store, entry: &Entry) {
    if let Err(err) = store.put(entry)
        && !shared
            .store_warned
            .swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        tracing::warn!("cannot save responses, a resumed run may pay for some calls again: {err}");
    }
}

/// The cache key: everything that determines the response, and nothing secret.
pub fn request_key(model: &Model, request: &ChatRequest, repeat: u32) -> String {
    let mut key = request_fields(model, request);
    key["repeat"] = json!(repeat);
    hash_json(&key)
}

/// What every cache key holds: the endpoint and the request, never a secret. Graded calls add
/// their repeat, check calls their purpose and sample.
fn request_fields(model: &Model, request: &ChatRequest) -> serde_json::Value {
    let mut key = json!({
        "v": 1,
        "provider": model.kind.as_str(),
        "endpoint": model.base_url,
        "http": model.http,
        "command": model.command,
        "model": model.model,
        "messages": request.messages,
        "params": request.params,
    });
    // `http` bodies and `command` programs see the case's variables and id, not only the
    // rendered messages, so those determine their answers too. (Left out for chat APIs, whose
    // keys must not change when a variable no prompt uses is added.)
    if matches!(model.kind, ProviderKind::Http | ProviderKind::Command) {
        key["vars"] = request.vars.clone();
        key["case_id"] = json!(request.case_id);
    }
    // Query parameters (Azure's `api-version`) and headers select what answers; headers are
    // keyed as written, `${ENV}` references unexpanded, so no secret enters the key. Both are
    // left out when empty so that keys of suites without them stay what they were.
    if !model.query.is_empty() {
        key["query"] = json!(model.query);
    }
    if !model.headers.is_empty() {
        key["headers"] = json!(model.headers);
    }
    key
}

async fn grade(
    ctx: &CallCtx<'_>,
    model: &Model,
    dataset: &Dataset,
    messages: Vec<Message>,
    entry: Entry,
    cached: bool,
) -> CallResult {
    let suite = &ctx.shared.suite;
    let case = ctx.case;
    let Completion {
        output,
        usage,
        finish_reason,
        ..
    } = entry.completion;
    let cost_usd = model.price.map_or(0.0, |p| p.cost(&usage));
    let input = CheckInput {
        output: &output,
        ctx: &case.ctx,
        templates: &suite.templates,
        latency_ms: entry.latency_ms,
        cost_usd,
        messages: &messages,
        vars: &case.vars,
        expected: case.expected.as_ref(),
    };
    let caller = ItemCaller {
        ctx,
        usage: Default::default(),
    };
    let mut checks = Vec::with_capacity(suite.checks.len() + case.checks.len());
    let mut weighted = 0.0;
    let mut weights = 0.0;
    let mut all_passed = true;
    let mut check_error = None;
    for check in suite
        .checks
        .iter()
        .chain(&dataset.checks)
        .chain(&case.checks)
    {
        let Grade {
            score,
            passed,
            reason,
            errored,
            judge,
        } = check.grade_with(&input, &caller).await;
        weighted += check.weight * score;
        weights += check.weight;
        all_passed &= passed;
        if errored && check_error.is_none() {
            check_error = Some(format!(
                "check `{}` could not run: {reason}",
                check.type_name
            ));
        }
        checks.push(CheckResult {
            kind: check.type_name.clone(),
            metric: check.metric.clone(),
            weight: check.weight,
            score,
            passed,
            reason,
            errored,
            judge,
        });
    }
    let judge = caller.usage.into_inner().unwrap_or_else(|e| e.into_inner());
    let score = if weights > 0.0 {
        weighted / weights
    } else {
        1.0
    };
    let passed = check_error.is_none()
        && match case.threshold.or(suite.defaults.threshold) {
            Some(threshold) => score >= threshold,
            None => all_passed,
        };
    CallResult {
        cell: ctx.cell.to_owned(),
        case_id: case.id.clone(),
        repeat: ctx.repeat,
        vars: serde_json::Value::Object(case.vars.clone()),
        expected: case.expected.clone(),
        tags: case.tags.clone(),
        messages,
        output: Some(output),
        finish_reason,
        checks,
        score,
        passed,
        error: check_error,
        latency_ms: entry.latency_ms,
        tokens: Tokens {
            input: usage.input_tokens,
            output: usage.output_tokens,
            cached_input: usage.cached_input_tokens,
        },
        cost_usd,
        cached,
        attempts: if cached { 0 } else { entry.attempts },
        judge,
    }
}

fn errored(
    cell: &str,
    case: &Case,
    repeat: u32,
    messages: Vec<Message>,
    error: String,
    attempts: u32,
) -> CallResult {
    CallResult {
        cell: cell.to_owned(),
        case_id: case.id.clone(),
        repeat,
        vars: serde_json::Value::Object(case.vars.clone()),
        expected: case.expected.clone(),
        tags: case.tags.clone(),
        messages,
        output: None,
        finish_reason: None,
        checks: Vec::new(),
        score: 0.0,
        passed: false,
        error: Some(error),
        latency_ms: 0,
        tokens: Tokens::default(),
        cost_usd: 0.0,
        cached: false,
        attempts,
        judge: JudgeUsage::default(),
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Where a run keeps its journal: one file per (suite, plan), removed once the results file is
/// written.
pub fn journal_path(state_dir: &std::path::Path, plan: &Plan, filters: &[String]) -> PathBuf {
    let key = hash_json(
        &json!({"plan": plan.config_fingerprint, "repeats": plan.repeats, "filters": filters}),
    );
    state_dir.join(format!(
        "journal-{}.jsonl",
        crate::support::fingerprint::short(&key)
    ))
}
