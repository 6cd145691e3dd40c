//! One planned call from prompt to result: render the prompt, make (or replay) the call, give the
//! model's permit back, grade the answer.

use super::call::{Api, Outcome, Permit, call};
use super::caller::{CallCtx, ItemCaller};
use super::keys::request_key;
use super::store::Entry;
use super::ticket::Ticket;
use super::{Item, Shared};
use crate::check::{CheckInput, Graded, grade_call};
use crate::config::{Case, Dataset, Model, Prompt, Suite};
use crate::privacy::audit::{Purpose, Source};
use crate::provider::{ChatRequest, Completion, Message, Role};
use crate::results::{BatchUse, CallResult, JudgeUsage, RateLimited, Tokens};

/// A planned call's request and cache key, prepared by its model's driver before the call starts:
/// whether the answer is already in the journal or the cache decides whether the call needs one
/// of the model's concurrency permits.
#[derive(Debug)]
pub(super) struct Prepared {
    /// The request and its key, or the messages rendered before a template failed to render
    /// and the error.
    call: Result<(ChatRequest, String), (Vec<Message>, String)>,
}

/// Renders the prompt of `item` and computes its cache key.
pub(super) fn prepare(shared: &Shared, item: Item) -> Prepared {
    let suite = &shared.suite;
    let cell = &shared.plan.cells[item.cell];
    let model = &suite.models[cell.model];
    let case = &suite.datasets[item.case.0].cases[item.case.1];
    Prepared {
        call: chat_request(suite, &suite.prompts[cell.prompt], model, case).map(|request| {
            let key = request_key(model, &request, item.repeat);
            (request, key)
        }),
    }
}

impl Prepared {
    /// Whether the call will be sent to the model: neither an error before any call nor an
    /// answer this run replays (its journal, or the cache when it is read).
    pub fn needs_model(&self, shared: &Shared) -> bool {
        let Ok((_, key)) = &self.call else {
            return false;
        };
        let cached = || {
            shared.opts.cache.reads()
                && shared
                    .opts
                    .cache_store
                    .as_ref()
                    .is_some_and(|c| c.contains(key))
        };
        !(shared.opts.journal.contains(key) || cached())
    }
}

/// `ticket` holds the run-wide slot that the driver took before it started this task, and the
/// model's concurrency permit when the call [needs the model](Prepared::needs_model).
pub(super) async fn run_item(
    shared: &Shared,
    item: Item,
    prepared: Prepared,
    ticket: &mut Ticket,
) -> CallResult {
    let suite = &shared.suite;
    let cell = &shared.plan.cells[item.cell];
    let model = &suite.models[cell.model];
    let dataset = &suite.datasets[item.case.0];
    let case = &dataset.cases[item.case.1];

    let (request, key) = match prepared.call {
        Ok(call) => call,
        Err((messages, error)) => {
            return errored(&cell.id, case, item.repeat, messages, error, 0);
        }
    };
    let ctx = CallCtx {
        shared,
        cell: &cell.id,
        case,
        repeat: item.repeat,
    };
    let outcome = match super::batch::settled(shared, cell.model, &key) {
        Some(settled) => settled,
        None => {
            call(
                shared,
                cell.model,
                &request,
                &key,
                Api::Chat,
                Permit::HeldByDriver(ticket),
            )
            .await
        }
    };
    // Given back before grading, so a judge that is also a graded model can never wait on a
    // permit its own callers hold.
    ticket.release_permit();
    let limited = outcome.limited();
    ctx.audit(model, &key, &outcome, Purpose::Eval, None);
    let mut result = match outcome {
        Outcome::Answered { entry, source, .. } => {
            graded(
                &ctx,
                model,
                dataset,
                request.messages,
                *entry,
                source == Source::Cache,
            )
            .await
        }
        Outcome::Failed {
            error, attempts, ..
        } => errored(
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
    };
    result.rate_limited.add(&RateLimited {
        rejected: limited.rejected,
        waited_ms: limited.waited_ms,
    });
    result
}

/// The request a run sends for one case of a cell: the prompt rendered with the case's
/// variables, the case's conversation in place, the model's parameters and the prompt's tools.
/// `evalgate plan` builds its estimates and cache keys with it too, so it sees exactly what a
/// run would send. A template that fails to render gives the messages rendered before it and
/// the error.
pub(crate) fn chat_request(
    suite: &Suite,
    prompt: &Prompt,
    model: &Model,
    case: &Case,
) -> Result<ChatRequest, (Vec<Message>, String)> {
    let mut messages = Vec::with_capacity(prompt.messages.len() + case.messages.len());
    // The case's conversation goes after the prompt's leading system messages and before the
    // rest of the prompt (its `user` template, when it has one).
    let leading_system = prompt
        .messages
        .iter()
        .take_while(|(role, _)| *role == Role::System)
        .count();
    for (i, (role, template)) in prompt.messages.iter().enumerate() {
        if i == leading_system {
            messages.extend(case.messages.iter().cloned());
        }
        match suite.templates.render(template, &case.ctx) {
            Ok(content) => messages.push(Message {
                role: *role,
                content,
                ..Default::default()
            }),
            Err(e) => {
                return Err((
                    messages,
                    format!("prompt `{}` failed to render: {e}", prompt.id),
                ));
            }
        }
    }
    if leading_system == prompt.messages.len() {
        messages.extend(case.messages.iter().cloned());
    }
    let mut params = model.params.clone();
    params.tools.clone_from(&prompt.tools);
    params.tool_choice.clone_from(&prompt.tool_choice);
    Ok(ChatRequest {
        messages,
        params,
        vars: case_vars(model, case),
        case_id: case.id.clone(),
    })
}

/// The case's variables for a request to `model`, when its kind reads them.
pub(super) fn case_vars(model: &Model, case: &Case) -> serde_json::Value {
    if model.kind.sees_case_vars() {
        serde_json::Value::Object(case.vars.clone())
    } else {
        serde_json::Value::Null
    }
}

/// Grades an answer with the suite's, the dataset's and the case's checks.
async fn graded(
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
        tool_calls,
        usage,
        finish_reason,
        ..
    } = entry.completion;
    // An answer bought through a batch costs the batch price, replayed or not.
    let cost_usd = model
        .price
        .map_or(0.0, |p| p.cost_of(&usage, entry.batch.is_some()));
    let batch = entry.batch.map(|id| BatchUse {
        id,
        list_cost_usd: model.price.map_or(0.0, |p| p.cost(&usage)),
    });
    let input = CheckInput {
        output: &output,
        tool_calls: &tool_calls,
        ctx: &case.ctx,
        templates: &suite.templates,
        latency_ms: entry.latency_ms,
        cost_usd,
        messages: &messages,
        vars: &case.vars,
        expected: case.expected.as_ref(),
        redactor: &suite.redactor,
    };
    let checks: Vec<_> = suite
        .checks
        .iter()
        .chain(&dataset.checks)
        .chain(&case.checks)
        .collect();
    let threshold = case.threshold.or(suite.defaults.threshold);
    let caller = ItemCaller::new(ctx);
    let Graded {
        checks,
        score,
        passed,
        error,
        judge,
    } = grade_call(&checks, threshold, &input, &caller).await;
    CallResult {
        cell: ctx.cell.to_owned(),
        case_id: case.id.clone(),
        repeat: ctx.repeat,
        vars: serde_json::Value::Object(case.vars.clone()),
        expected: case.expected.clone(),
        tags: case.tags.clone(),
        messages,
        output: Some(output),
        tool_calls,
        finish_reason,
        checks,
        score,
        passed,
        error,
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
        // The checks' calls; the graded call's own is added by the caller.
        rate_limited: caller.rate_limited(),
        batch,
    }
}

/// The result of a call that has no answer to grade.
pub(super) fn errored(
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
        tool_calls: Vec::new(),
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
        rate_limited: RateLimited::default(),
        batch: None,
    }
}
