//! Execution: make every planned call (or replay it), persist each response the moment it
//! arrives, grade it, and hand back results in plan order.
//!
//! Each model has its own concurrency limit and rate limiter. Per call: the run's journal is
//! consulted first (a resumed run pays for nothing twice), then the response cache, then the
//! provider. A model that fails in a way no retry can fix (bad key, unknown model, exhausted quota)
//! is not called again: its remaining cases are errored with the first failure's reason.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::json;
use tokio::sync::{Semaphore, mpsc};

use crate::check::{CheckInput, Grade};
use crate::config::{Case, Dataset, Model, Suite};
use crate::fingerprint::hash_json;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::provider::ratelimit::RateLimiter;
use crate::provider::retry::{RetryPolicy, complete_with_retries};
use crate::provider::{ChatRequest, Completion, Message, Provider, ProviderKind};
use crate::results::{CallResult, CheckResult, Tokens};
use crate::secrets::redact;
use crate::store::{Entry, Store};

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
            limiter: RateLimiter::new(model.rpm, model.tpm),
            semaphore: Arc::new(Semaphore::new(concurrency.max(1))),
            retry: RetryPolicy {
                max_retries: model.max_retries,
                ..RetryPolicy::default()
            },
            fatal: OnceLock::new(),
        }
    }
}

#[derive(Debug)]
pub struct ExecOptions {
    pub cache: CacheMode,
    pub cache_store: Option<Store>,
    pub journal: Store,
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
    let mut drivers = tokio::task::JoinSet::new();
    for (model, items) in items_by_model.into_iter().enumerate() {
        if items.is_empty() {
            continue;
        }
        let shared = Arc::clone(&shared);
        let tx = tx.clone();
        drivers.spawn(async move {
            let semaphore = shared.endpoints[model]
                .as_ref()
                .map(|e| Arc::clone(&e.semaphore));
            let mut tasks = tokio::task::JoinSet::new();
            for item in items {
                let permit = match &semaphore {
                    Some(s) => Arc::clone(s).acquire_owned().await.ok(),
                    None => None,
                };
                let shared = Arc::clone(&shared);
                let tx = tx.clone();
                tasks.spawn(async move {
                    let result = run_item(&shared, item).await;
                    drop(permit);
                    let _ = tx.send((item.index, result)).await;
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

async fn run_item(shared: &Shared, item: Item) -> CallResult {
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

    if let Some(entry) = shared.opts.journal.get(&key) {
        return grade(
            suite,
            model,
            &cell.id,
            dataset,
            case,
            item.repeat,
            request.messages,
            entry,
            false,
        );
    }
    if shared.opts.cache.reads()
        && let Some(entry) = shared.opts.cache_store.as_ref().and_then(|c| c.get(&key))
    {
        return grade(
            suite,
            model,
            &cell.id,
            dataset,
            case,
            item.repeat,
            request.messages,
            entry,
            true,
        );
    }
    let Some(endpoint) = &shared.endpoints[cell.model] else {
        let error = format!(
            "no cached response for this call and --offline forbids calling model `{}`",
            model.id
        );
        return errored(&cell.id, case, item.repeat, request.messages, error, 0);
    };
    if let Some(reason) = endpoint.fatal.get() {
        let error = format!(
            "not called: an earlier call to model `{}` failed: {reason}",
            model.id
        );
        return errored(&cell.id, case, item.repeat, request.messages, error, 0);
    }

    let estimate = request
        .messages
        .iter()
        .map(|m| m.content.len() as u64 / 4)
        .sum::<u64>()
        + u64::from(model.params.max_tokens.unwrap_or(256));
    let attempted = complete_with_retries(
        endpoint.provider.as_ref(),
        &request,
        &endpoint.retry,
        &endpoint.limiter,
        model.timeout,
        estimate,
    )
    .await;
    match attempted.result {
        Ok(completion) => {
            let entry = Entry {
                key,
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
            grade(
                suite,
                model,
                &cell.id,
                dataset,
                case,
                item.repeat,
                request.messages,
                entry,
                false,
            )
        }
        Err(err) => {
            let message = redact(&err.to_string());
            if err.is_fatal_for_model() {
                let _ = endpoint.fatal.set(message.clone());
            }
            errored(
                &cell.id,
                case,
                item.repeat,
                request.messages,
                message,
                attempted.attempts,
            )
        }
    }
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
    let mut key = json!({
        "v": 1,
        "provider": model.kind.as_str(),
        "endpoint": model.base_url,
        "http": model.http,
        "command": model.command,
        "model": model.model,
        "messages": request.messages,
        "params": request.params,
        "repeat": repeat,
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
    hash_json(&key)
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
fn grade(
    suite: &Suite,
    model: &Model,
    cell: &str,
    dataset: &Dataset,
    case: &Case,
    repeat: u32,
    messages: Vec<Message>,
    entry: Entry,
    cached: bool,
) -> CallResult {
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
        } = check.grade(&input);
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
        });
    }
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
        cell: cell.to_owned(),
        case_id: case.id.clone(),
        repeat,
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
    state_dir.join(format!("journal-{}.jsonl", crate::fingerprint::short(&key)))
}
