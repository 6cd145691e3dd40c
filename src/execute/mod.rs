//! Execution: make every planned call (or replay it), persist each response the moment it
//! arrives, grade it, and hand back results in plan order.
//!
//! Each model has its own driver, concurrency limit and rate limiter, so a slow model never holds
//! back a fast one. Per call: the run's journal is consulted first (a resumed run pays for nothing
//! twice), then the response cache, then the provider. A model that fails in a way no retry can
//! fix (bad key, unknown model, exhausted quota) is not called again: its remaining cases are
//! errored with the first failure's reason. Once the journal cannot be written, no new call
//! starts at all (see [`journal`]); SIGINT and SIGTERM stop the run (see [`signals`]).
//!
//! Model-graded checks (llm-judge, similar) call models too. They get a [`Caller`] whose calls
//! take exactly the same path (journal, cache, the judge model's own concurrency limit, rate
//! limiter and retries), are recorded in the audit log, and are counted as judge usage. The
//! graded call's concurrency permit is released before grading, so a judge that is also a graded
//! model can never wait on a permit its own callers hold.
//!
//! A model in batch mode (`batch = true`, `run --batch`) first settles its graded calls through
//! its provider's batch API (see [`batch`]); they are then graded like any other.
//!
//! The run reports its progress as [`ExecEvent`]s; showing them is the caller's business.
//!
//! [`Caller`]: crate::check::Caller

mod batch;
mod call;
mod caller;
mod events;
mod item;
mod journal;
mod keys;
mod spend;
pub mod store;
mod ticket;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use futures_util::FutureExt;
use tokio::sync::{Semaphore, mpsc};

use crate::config::{Model, Suite};
use crate::plan::Plan;
use crate::privacy::audit::{AuditLog, CiContext};
use crate::provider::Provider;
use crate::provider::ratelimit::RateLimiter;
use crate::provider::retry::RetryPolicy;
use crate::results::CallResult;
use item::{errored, run_item};
use store::Store;
use ticket::Ticket;

use crate::support::signals;
pub use crate::support::signals::Signal;
pub use batch::{
    BatchOptions, BatchesPending, DEFAULT_WAIT as BATCH_DEFAULT_WAIT,
    POLL_FIRST as BATCH_POLL_FIRST, POLL_MAX as BATCH_POLL_MAX, REGISTRY_FILE as BATCH_REGISTRY,
    Registry as BatchRegistry,
};
pub use events::{BatchEvent, CallOutcome, ExecEvent};
pub use journal::JournalWriteError;
pub use keys::{journal_path, request_key};
pub use spend::SpendCapReached;

/// The request one planned call of `cell` sends for `case`, built exactly as a run builds it
/// (see [`request_key`] for its cache key); the error says which template failed to render.
pub fn planned_request(
    suite: &Suite,
    cell: &crate::plan::Cell,
    case: &crate::config::Case,
) -> Result<crate::provider::ChatRequest, String> {
    let prompt = &suite.prompts[cell.prompt];
    let model = &suite.models[cell.model];
    item::chat_request(suite, prompt, model, case).map_err(|(_, error)| error)
}

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
    /// Shared by the models that call the same server model with the same key: the server's
    /// limit is theirs together.
    pub limiter: Arc<RateLimiter>,
    pub semaphore: Arc<Semaphore>,
    /// Permits of `concurrency` not given out: calls in flight start at [`SLOW_START`] and grow
    /// by one per two answers (half again per round trip), so the first answers (and their
    /// rate-limit headers) set the pace before a full burst reaches the server, and fewer calls
    /// are in flight when a server's starting budget runs out; while the server is saturated,
    /// each rejection takes one away again (see [`Endpoint::shrink`]).
    withheld: AtomicUsize,
    concurrency: usize,
    /// Answers that could have grown the calls in flight: every second one does.
    answers: AtomicUsize,
    pub retry: RetryPolicy,
    /// The first unrecoverable failure, after which the model is not called again.
    fatal: OnceLock<String>,
}

/// Calls in flight to a model before its first answers.
pub const SLOW_START: usize = 8;

impl Endpoint {
    pub fn new(
        provider: Box<dyn Provider>,
        model: &Model,
        concurrency: usize,
        limiter: Arc<RateLimiter>,
    ) -> Self {
        let concurrency = concurrency.max(1);
        let start = concurrency.min(SLOW_START);
        Endpoint {
            provider,
            embeddings: None,
            limiter,
            semaphore: Arc::new(Semaphore::new(start)),
            withheld: AtomicUsize::new(concurrency - start),
            concurrency,
            answers: AtomicUsize::new(0),
            retry: RetryPolicy {
                max_retries: model.max_retries,
                rate_limit_wait: model.rate_limit_wait,
                ..RetryPolicy::default()
            },
            fatal: OnceLock::new(),
        }
    }

    /// Gives out one more permit after an answer to a call sent at `sent`, until all of
    /// `concurrency` is in use, unless the server is congested and has rejected a call since
    /// `sent`: that answer was let through before the limit was reached, and says nothing about
    /// room for more.
    fn answered(&self, sent: tokio::time::Instant) {
        if self.limiter.congested() && self.limiter.rejected_since(sent) {
            return;
        }
        if self
            .answers
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(2)
        {
            return;
        }
        let grew = self
            .withheld
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if grew {
            self.semaphore.add_permits(1);
        }
    }

    /// Takes the permit of a call rejected by the client's limit out of use, unless it is the
    /// last one: while the server rejects calls, each rejection removes a call in flight and
    /// each answer adds one back, so calls in flight settle where the server answers as many as
    /// it rejects, and a 429 never lets a new call start in its place. Returns whether the
    /// permit was taken.
    fn shrink(&self, ticket: &mut ticket::Ticket) -> bool {
        let concurrency = self.concurrency;
        let withheld = self
            .withheld
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (concurrency - n > 1).then_some(n + 1)
            })
            .is_ok();
        if withheld && !ticket.forget_permit() {
            self.withheld.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        withheld
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
    /// No new call starts once this run has spent this many US dollars (see [`spend`]).
    pub max_cost_usd: Option<f64>,
    /// How models in batch mode use their batches; `None` when no model is in batch mode (or
    /// nothing is called).
    pub batch: Option<BatchOptions>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Stopped by SIGINT or SIGTERM; the journal keeps every answer received.
    #[error("interrupted by {}", .0.name())]
    Interrupted(Signal),
}

/// How a run that was not interrupted ended; its results went to `on_result`.
#[derive(Debug)]
pub struct Execution {
    /// Set when the journal could not be written: the calls not started after that are errored.
    pub journal_failure: Option<JournalWriteError>,
    /// Set when the spend cap stopped calls: those not started are errored.
    pub spend_cap: Option<SpendCapReached>,
    /// Set when batches had not ended when the run stopped waiting: their calls are errored as
    /// not answered yet.
    pub batch_pending: Option<BatchesPending>,
}

struct Shared {
    suite: Arc<Suite>,
    plan: Arc<Plan>,
    endpoints: Vec<Option<Endpoint>>,
    opts: ExecOptions,
    /// Set once a cache write has failed and been reported.
    store_warned: std::sync::atomic::AtomicBool,
    journal: journal::JournalHealth,
    spend: spend::SpendMeter,
    batch: Option<batch::BatchState>,
}

/// One planned call.
#[derive(Debug, Clone, Copy)]
struct Item {
    index: usize,
    cell: usize,
    case: (usize, usize),
    repeat: u32,
}

/// The planned calls of model `model`, in plan order; `first_index[c]` is the index of cell
/// `c`'s first call.
fn model_items<'a>(
    plan: &'a Plan,
    first_index: &'a [usize],
    model: usize,
) -> impl Iterator<Item = Item> + 'a {
    let repeats = plan.repeats;
    plan.cells
        .iter()
        .enumerate()
        .filter(move |(_, cell)| cell.model == model)
        .flat_map(move |(ci, cell)| {
            cell.cases.iter().enumerate().flat_map(move |(k, &case)| {
                (0..repeats).map(move |repeat| Item {
                    index: first_index[ci] + k * repeats as usize + repeat as usize,
                    cell: ci,
                    case,
                    repeat,
                })
            })
        })
}

/// Runs the plan. `endpoints[m]` is the callable model `m` (None in offline mode).
///
/// `on_result` gets each planned call's result as it comes, in the order they finish, with the
/// call's index in plan order: every planned call exactly once, unless the run is interrupted.
pub async fn execute(
    suite: Arc<Suite>,
    plan: Arc<Plan>,
    endpoints: Vec<Option<Endpoint>>,
    opts: ExecOptions,
    on_event: &mut dyn FnMut(ExecEvent),
    on_result: &mut dyn FnMut(usize, CallResult),
) -> Result<Execution, ExecError> {
    // Before the first call starts, so a signal is always ours once a call is in flight.
    signals::watch();
    let total = plan.calls();
    on_event(ExecEvent::Started {
        calls: total as u64,
    });
    let mut opts = opts;
    // Batch progress comes from the drivers; it reaches `on_event` through the collecting loop.
    let (batch_events, mut batch_rx) = mpsc::unbounded_channel::<ExecEvent>();
    let batch = opts
        .batch
        .take()
        .map(|options| batch::BatchState::new(options, suite.models.len(), batch_events));
    let shared = Arc::new(Shared {
        suite,
        plan,
        endpoints,
        spend: spend::SpendMeter::new(opts.max_cost_usd),
        opts,
        store_warned: Default::default(),
        journal: Default::default(),
        batch,
    });
    let (tx, mut rx) = mpsc::channel::<(usize, CallResult)>(1024);

    // One driver per model, so a slow model never holds back a fast one. Each walks its own
    // calls of the plan as it starts them, so no list of every call is held.
    let first_index: Vec<usize> = shared
        .plan
        .cells
        .iter()
        .scan(0, |next, cell| {
            let first = *next;
            *next += cell.cases.len() * shared.plan.repeats as usize;
            Some(first)
        })
        .collect();
    let first_index = Arc::new(first_index);
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
    for model in 0..shared.suite.models.len() {
        if !shared
            .plan
            .cells
            .iter()
            .any(|c| c.model == model && !c.cases.is_empty())
        {
            continue;
        }
        let shared = Arc::clone(&shared);
        let tx = tx.clone();
        let in_flight = Arc::clone(&in_flight);
        let first_index = Arc::clone(&first_index);
        drivers.spawn(async move {
            let items = || model_items(&shared.plan, &first_index, model);
            // A model in batch mode has its calls answered (or not) by its batches first.
            if shared.suite.models[model].batch {
                batch::settle(&shared, model, &items().collect::<Vec<_>>()).await;
            }
            let semaphore = shared.endpoints[model]
                .as_ref()
                .map(|e| Arc::clone(&e.semaphore));
            let mut tasks = tokio::task::JoinSet::new();
            for item in items() {
                // The run-wide slot first, then the model's permit: a task waiting for a judge's
                // permit holds only a slot, never another model's permit.
                let slot = Arc::clone(&in_flight).acquire_owned().await.ok();
                // Rendered and keyed here, so that an answer the run replays (journal, cache)
                // takes no permit: it neither waits for the model's calls in flight nor for the
                // slow start, and counts against neither. A panic is the task's to report.
                let prepared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    item::prepare(&shared, item)
                }));
                let needs_model = prepared.as_ref().is_ok_and(|p| p.needs_model(&shared));
                let permit = match &semaphore {
                    Some(s) if needs_model => Arc::clone(s).acquire_owned().await.ok(),
                    _ => None,
                };
                let mut ticket = Ticket::held(&in_flight, slot, semaphore.as_ref(), permit);
                let shared = Arc::clone(&shared);
                let tx = tx.clone();
                tasks.spawn(async move {
                    // A bug that panics while one call is handled must not drop that case from
                    // the results (a missing case could let a gate pass): it becomes an error.
                    let handled = match prepared {
                        Ok(prepared) => {
                            std::panic::AssertUnwindSafe(run_item(
                                &shared,
                                item,
                                prepared,
                                &mut ticket,
                            ))
                            .catch_unwind()
                            .await
                        }
                        Err(panic) => Err(panic),
                    };
                    let result = handled.unwrap_or_else(|_| {
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
                    // The run-wide slot is held through grading and given back here.
                    drop(ticket);
                });
                // Reap finished tasks as we go so the set stays small.
                while tasks.try_join_next().is_some() {}
            }
            while tasks.join_next().await.is_some() {}
        });
    }
    drop(tx);

    let collect = async {
        loop {
            tokio::select! {
                biased;
                Some(event) = batch_rx.recv() => on_event(event),
                received = rx.recv() => {
                    let Some((index, result)) = received else { break };
                    on_event(ExecEvent::CallDone {
                        outcome: CallOutcome::of(&result),
                        cached: result.cached,
                    });
                    on_result(index, result);
                }
            }
        }
        while let Ok(event) = batch_rx.try_recv() {
            on_event(event);
        }
    };
    tokio::select! {
        () = collect => {}
        signal = signals::stopped() => {
            drivers.abort_all();
            return Err(ExecError::Interrupted(signal));
        }
    }
    while drivers.join_next().await.is_some() {}
    on_event(ExecEvent::Finished);
    Ok(Execution {
        journal_failure: shared.journal.error(),
        spend_cap: shared.spend.reached(),
        batch_pending: shared.batch.as_ref().and_then(batch::BatchState::finish),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{BoxFuture, ChatRequest, Completion, ProviderError};

    #[derive(Debug)]
    struct Never;

    impl Provider for Never {
        fn complete<'a>(
            &'a self,
            _req: &'a ChatRequest,
        ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
            Box::pin(async { Err(ProviderError::Connect("unused".into())) })
        }
    }

    /// A suite of one `cat` model, in `dir`.
    fn command_suite(dir: &std::path::Path) -> Suite {
        std::fs::write(
            dir.join("evalgate.toml"),
            "[suite]\nname = \"s\"\n[models.m]\nprovider = \"command\"\ncommand = [\"cat\"]\n\
             [prompts.p]\nuser = \"hi\"\n[datasets.d]\ncases = [{ id = \"a\" }]\n\
             [[checks]]\ntype = \"contains\"\nvalue = \"x\"\n",
        )
        .expect("write");
        crate::config::load(&dir.join("evalgate.toml")).expect("suite")
    }

    #[test]
    fn calls_in_flight_start_small_and_grow_one_per_two_answers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let suite = command_suite(dir.path());
        let limiter = Arc::new(RateLimiter::new(None, None));
        let endpoint = Endpoint::new(Box::new(Never), &suite.models[0], 10, limiter);
        assert_eq!(endpoint.semaphore.available_permits(), SLOW_START);
        endpoint.answered(tokio::time::Instant::now());
        assert_eq!(endpoint.semaphore.available_permits(), SLOW_START);
        endpoint.answered(tokio::time::Instant::now());
        assert_eq!(endpoint.semaphore.available_permits(), SLOW_START + 1);
        for _ in 0..4 {
            endpoint.answered(tokio::time::Instant::now());
        }
        assert_eq!(
            endpoint.semaphore.available_permits(),
            10,
            "never beyond concurrency"
        );
        let small = Endpoint::new(
            Box::new(Never),
            &suite.models[0],
            3,
            Arc::new(RateLimiter::new(None, None)),
        );
        assert_eq!(small.semaphore.available_permits(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_saturated_server_takes_calls_in_flight_away_until_one_is_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let suite = command_suite(dir.path());
        let limiter = Arc::new(RateLimiter::new(None, None));
        let endpoint = Endpoint::new(
            Box::new(Never),
            &suite.models[0],
            SLOW_START,
            Arc::clone(&limiter),
        );
        let sent = tokio::time::Instant::now();
        let mut tickets = Vec::new();
        for _ in 0..SLOW_START {
            tickets.push(ticket::Ticket::permit_of(&endpoint.semaphore).await);
        }
        tokio::time::advance(std::time::Duration::from_millis(10)).await;
        // Every call is rejected: each gives its permit up for good, except the last one left.
        for ticket in &mut tickets {
            limiter.rejected(&crate::provider::limits::ServerLimits::default(), 0);
            endpoint.shrink(ticket);
        }
        drop(tickets);
        assert!(limiter.congested());
        assert_eq!(endpoint.semaphore.available_permits(), 1);
        // An answer to a call sent before the rejections does not give one back...
        endpoint.answered(sent);
        assert_eq!(endpoint.semaphore.available_permits(), 1);
        // ...later ones do, one per two.
        endpoint.answered(tokio::time::Instant::now());
        endpoint.answered(tokio::time::Instant::now());
        assert_eq!(endpoint.semaphore.available_permits(), 2);
    }

    /// An answer the run replays takes none of the model's permits: a fully cached re-run is
    /// not held to the calls in flight (nor to their slow start).
    #[tokio::test]
    async fn a_replayed_answer_needs_no_permit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let suite = command_suite(dir.path());
        let plan = crate::plan::plan(&suite, 1, &[]);
        let request =
            planned_request(&suite, &plan.cells[0], &suite.datasets[0].cases[0]).expect("request");
        let journal = Store::open(&dir.path().join("journal.jsonl")).expect("journal");
        journal
            .append(&store::Entry {
                key: request_key(&suite.models[0], &request, 0),
                completion: crate::provider::Completion {
                    output: "x marks the spot".into(),
                    tool_calls: Vec::new(),
                    usage: Default::default(),
                    finish_reason: None,
                    limits: Default::default(),
                },
                latency_ms: 5,
                attempts: 1,
                batch: None,
            })
            .expect("append");
        let journal = Store::open(&dir.path().join("journal.jsonl")).expect("reopen");
        let endpoint = Endpoint::new(
            Box::new(Never),
            &suite.models[0],
            1,
            Arc::new(RateLimiter::new(None, None)),
        );
        let mut ignore = |_| {};
        let mut calls = Vec::new();
        let mut collect = |index, call| calls.push((index, call));
        // Every permit is taken: a call that needed one would wait for ever.
        let _taken = Arc::clone(&endpoint.semaphore)
            .try_acquire_owned()
            .expect("permit");
        let run = execute(
            Arc::new(suite),
            Arc::new(plan),
            vec![Some(endpoint)],
            ExecOptions {
                cache: CacheMode::ReadWrite,
                cache_store: None,
                journal,
                audit: None,
                ci: Default::default(),
                max_cost_usd: None,
                batch: None,
            },
            &mut ignore,
            &mut collect,
        );
        tokio::time::timeout(std::time::Duration::from_secs(10), run)
            .await
            .expect("replayed without a permit")
            .expect("not interrupted");
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].0, 0);
        assert_eq!(calls[0].1.output.as_deref(), Some("x marks the spot"));
        assert!(calls[0].1.passed, "{:?}", calls[0].1);
    }
}
