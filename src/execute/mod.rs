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
//! The run reports its progress as [`ExecEvent`]s; showing them is the caller's business.
//!
//! [`Caller`]: crate::check::Caller

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
pub use events::{CallOutcome, ExecEvent};
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
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Stopped by SIGINT or SIGTERM; the journal keeps every answer received.
    #[error("interrupted by {}", .0.name())]
    Interrupted(Signal),
}

/// What a run that was not interrupted produced.
#[derive(Debug)]
pub struct Execution {
    /// One result per planned call, in plan order.
    pub calls: Vec<CallResult>,
    /// Set when the journal could not be written: the calls not started after that are errored.
    pub journal_failure: Option<JournalWriteError>,
    /// Set when the spend cap stopped calls: those not started are errored.
    pub spend_cap: Option<SpendCapReached>,
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
    on_event: &mut dyn FnMut(ExecEvent),
) -> Result<Execution, ExecError> {
    // Before the first call starts, so a signal is always ours once a call is in flight.
    signals::watch();
    let total = plan.calls();
    on_event(ExecEvent::Started {
        calls: total as u64,
    });
    let shared = Arc::new(Shared {
        suite,
        plan,
        endpoints,
        spend: spend::SpendMeter::new(opts.max_cost_usd),
        opts,
        store_warned: Default::default(),
        journal: Default::default(),
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

    let mut slots: Vec<Option<CallResult>> = (0..total).map(|_| None).collect();
    let collect = async {
        while let Some((index, result)) = rx.recv().await {
            on_event(ExecEvent::CallDone {
                outcome: CallOutcome::of(&result),
                cached: result.cached,
            });
            slots[index] = Some(result);
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
        calls: slots.into_iter().flatten().collect(),
        journal_failure: shared.journal.error(),
        spend_cap: shared.spend.reached(),
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
            },
            &mut ignore,
        );
        let done = tokio::time::timeout(std::time::Duration::from_secs(10), run)
            .await
            .expect("replayed without a permit")
            .expect("not interrupted");
        assert_eq!(done.calls.len(), 1);
        assert_eq!(done.calls[0].output.as_deref(), Some("x marks the spot"));
        assert!(done.calls[0].passed, "{:?}", done.calls[0]);
    }
}
