//! The library's "run a suite": plan → execute → aggregate → gate, assembled into a
//! [`Results`]. `evalgate run`, `evalgate ci` and the base-branch re-run all go through
//! [`run_suite`]; the CLI only parses flags, shows progress and prints.
//!
//! What [`run_suite`] returns is judged by the absolute gate rules but neither compared with a
//! baseline ([`crate::compare::apply_baseline`]) nor redacted nor written: the callers decide
//! those, in that order, so grading and the comparison see the raw text.

pub mod endpoints;
pub mod estimate;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::config::Suite;
use crate::execute::store::{Store, StoreError};
use crate::execute::{
    self, BatchesPending, CacheMode, ExecEvent, ExecOptions, JournalWriteError, Signal,
    SpendCapReached,
};
use crate::plan::{Plan, Shard};
use crate::privacy::audit::{self, AuditLog};
use crate::provider;
use crate::results::calls::Spool;
use crate::results::file::ResultsFileError;
use crate::results::{CallResult, Calls, CellSummary, Results, RunInfo, SCHEMA_VERSION, ShardInfo};
use crate::{aggregate, gate};

pub use endpoints::EndpointError;

/// How `--cache` asks to use the response cache (`--offline` is a flag of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CacheChoice {
    /// Read hits and write new responses (default).
    Rw,
    /// Call every time and store the new responses.
    Refresh,
    /// Neither read nor write the cache.
    Off,
}

/// The cache mode of `--offline` and `--cache`, for `run` and the `args` input of `ci` alike.
pub fn cache_mode(offline: bool, cache: Option<CacheChoice>) -> CacheMode {
    match (offline, cache) {
        (true, _) => CacheMode::Offline,
        (false, None | Some(CacheChoice::Rw)) => CacheMode::ReadWrite,
        (false, Some(CacheChoice::Refresh)) => CacheMode::Refresh,
        (false, Some(CacheChoice::Off)) => CacheMode::Off,
    }
}

/// The knobs of a run, shared by `evalgate run` and `evalgate ci`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Replaces every model's `concurrency`.
    pub concurrency: Option<u32>,
    /// Replaces `[defaults] repeats`.
    pub repeats: Option<u32>,
    /// Only cases whose `PROMPT/MODEL/CASE_ID` contains one of these, or tagged with one.
    pub filters: Vec<String>,
    pub mode: CacheMode,
    /// Replaces the suite's cache folder: a re-run of the base branch in another work tree
    /// shares the head's cache, so what both branches ask is paid for once.
    pub cache_dir: Option<PathBuf>,
    /// Replaces the suite's audit log, for the same reason.
    pub audit_path: Option<PathBuf>,
    /// Only this shard's share of the cases.
    pub shard: Option<Shard>,
    /// The spend cap in US dollars (`--max-cost`); replaces `[gate.cost] max_run_usd`.
    pub max_cost_usd: Option<f64>,
    /// Batch mode for every model whose provider has a batch API (`--batch`), on top of the
    /// models that set `batch = true`.
    pub batch: bool,
    /// How long to wait for batches (`--batch-wait`) before ending resumable; 24 hours unless
    /// given.
    pub batch_wait: Option<std::time::Duration>,
}

impl RunOptions {
    /// A whole run of the suite as configured, in `mode`.
    pub fn new(mode: CacheMode) -> Self {
        RunOptions {
            concurrency: None,
            repeats: None,
            filters: Vec::new(),
            mode,
            cache_dir: None,
            audit_path: None,
            shard: None,
            max_cost_usd: None,
            batch: false,
            batch_wait: None,
        }
    }
}

/// A finished run: results judged by the absolute gate rules, not yet compared, redacted or
/// written.
#[derive(Debug)]
pub struct Executed {
    pub suite: Arc<Suite>,
    pub results: Results,
    /// The journal of this run's responses; the caller removes it once the results file is
    /// written, since the file then holds everything the journal did.
    pub journal_path: PathBuf,
    /// Calls this run planned, and calls the whole suite would make (they differ for a shard).
    pub calls: usize,
    pub suite_calls: usize,
    /// Set when the journal could not be written: the run started no call after that, the
    /// results hold those calls as errored, and the journal must be kept (it holds what was
    /// saved). Turn it into [`RunError::Journal`] once whatever can be written is written.
    pub journal_failure: Option<JournalWriteError>,
    /// Set when the spend cap stopped calls: the results hold those calls as errored, and the
    /// journal must be kept for the re-run. Turn it into [`RunError::SpendCap`] once whatever
    /// can be written is written.
    pub spend_cap: Option<SpendCapReached>,
    /// Set when batches had not ended when the run stopped waiting (`--batch-wait`): the
    /// results hold their calls as errored, and the journal must be kept. Turn it into
    /// [`RunError::BatchPending`] once whatever can be written is written.
    pub batch_pending: Option<BatchesPending>,
}

/// Why a run could not finish. The results of every call answered before an interruption are
/// in the journal, and the same run resumes from it.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{}", no_case_message(.filters))]
    NoCaseMatches { filters: Vec<String> },
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("cannot set up the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error("cannot open {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Journal(#[from] JournalWriteError),
    #[error("cannot open the audit log {}: {source}", .path.display())]
    Audit {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("{reached}")]
    SpendCap {
        reached: SpendCapReached,
        journal: PathBuf,
    },
    #[error("{}", stopped_by(*.signal))]
    Interrupted { journal: PathBuf, signal: Signal },
    #[error("cannot write the run's calls to a temporary file in {}: {source}", .dir.display())]
    Spool {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the run's calls to a temporary file in {}: {source}", .dir.display())]
    SpoolLost {
        dir: PathBuf,
        journal: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Baseline(ResultsFileError),
    #[error("{pending}")]
    BatchPending {
        pending: BatchesPending,
        journal: PathBuf,
    },
}

fn stopped_by(signal: Signal) -> &'static str {
    match signal {
        Signal::Interrupt => "interrupted",
        Signal::Terminate => "terminated by SIGTERM",
    }
}

fn no_case_message(filters: &[String]) -> String {
    if filters.is_empty() {
        "the suite plans no call: no prompt has both a model to call and a case".into()
    } else {
        format!("no case matches --filter {}", filters.join(", "))
    }
}

impl RunError {
    /// What to do about it, where there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            RunError::NoCaseMatches { filters } if filters.is_empty() => Some(
                "`evalgate validate` lists the suite's cells and calls; a prompt's `models` and `datasets` say what it runs".into(),
            ),
            RunError::NoCaseMatches { .. } => {
                Some("a filter matches a substring of PROMPT/MODEL/CASE_ID, or a whole tag".into())
            }
            RunError::Endpoint(e) => e.hint(),
            RunError::Audit { .. } => Some(
                "set `[audit] path` to a writable file, or move the default one with --state-dir DIR or EVALGATE_STATE_DIR"
                    .into(),
            ),
            RunError::Interrupted { journal, .. } => Some(format!(
                "every response received so far is saved in {}; run the same command again to resume without paying for them",
                journal.display()
            )),
            RunError::Store(_) => Some(
                "make that folder writable, or move the run's files (journal, results, default cache and audit log) with --state-dir DIR or EVALGATE_STATE_DIR"
                    .into(),
            ),
            RunError::Journal(e) => Some(format!(
                "{} received after that point {} not in the journal and may be paid for again on a re-run (the responses saved before it are kept); free space there, fix its permissions or move it with --state-dir DIR, then run the same command again",
                match e.unsaved {
                    1 => "the 1 answer".to_owned(),
                    n => format!("the {n} answers"),
                },
                if e.unsaved == 1 { "is" } else { "are" },
            )),
            RunError::SpendCap { journal, .. } => Some(format!(
                "every response paid for so far is saved in {} (and in the response cache, unless it is off); run the same command again with a higher --max-cost (or `[gate.cost] max_run_usd`) to resume: those responses are replayed, not paid again, and count toward the new cap",
                journal.display()
            )),
            RunError::Spool { .. } => Some(
                "free space in that folder or make it writable, or move the run's files with --state-dir DIR or EVALGATE_STATE_DIR".into(),
            ),
            RunError::SpoolLost { journal, .. } => Some(format!(
                "every response received is saved in {}; free space in that folder (or move the run's files with --state-dir DIR), then run the same command again to resume without paying for them",
                journal.display()
            )),
            RunError::BatchPending { pending, journal } => Some(format!(
                "their ids are kept in {}: run the same command again to resume waiting for them (they are never submitted twice; --batch-wait sets how long a run waits); every answer received so far is saved in {} (and in the response cache, unless it is off)",
                pending.registry.display(),
                journal.display()
            )),
            RunError::HttpClient(_) | RunError::Runtime(_) | RunError::Baseline(_) => None,
        }
    }

    /// A problem with what the user asked for (flags, keys, the suite), as opposed to one with
    /// the machine or a service.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            RunError::NoCaseMatches { .. } | RunError::Endpoint(_) | RunError::Baseline(_)
        )
    }
}

/// The plan a run or an estimate works from, and what is known of it before a shard or a reused
/// cell leaves fewer calls.
struct Planned {
    plan: crate::plan::Plan,
    repeats: u32,
    /// Per cell, whether its prompt puts variable text before a static part, from every case the
    /// run covers.
    variable_prefix: Vec<bool>,
    /// Calls of the whole (filtered) suite, before the shard.
    suite_calls: usize,
}

/// Applies the command line's overrides and plans the calls: filters, repeats, then the shard.
/// A filter that matches nothing is a usage error; a shard that holds none of the filtered cases
/// is not.
fn prepare(suite: &mut Suite, options: &RunOptions) -> Result<Planned, RunError> {
    apply_overrides(suite, options);
    let repeats = options.repeats.unwrap_or(suite.defaults.repeats);
    let mut plan = crate::plan::plan(suite, repeats, &options.filters);
    if plan.calls() == 0 {
        return Err(RunError::NoCaseMatches {
            filters: options.filters.clone(),
        });
    }
    let variable_prefix = plan
        .cells
        .iter()
        .map(|c| crate::plan::variable_prefix(suite, c))
        .collect();
    let suite_calls = plan.calls();
    if let Some(shard) = options.shard {
        crate::plan::keep_shard(&mut plan, suite, shard);
    }
    Ok(Planned {
        plan,
        repeats,
        variable_prefix,
        suite_calls,
    })
}

/// Plans, executes, aggregates and applies the absolute gate. `on_event` hears of the run's
/// progress (see [`ExecEvent`]).
///
/// Cells whose fingerprint equals a cell of `reuse` (the baseline) are not run when that copy is
/// complete and healthy (see [`reuse_cells`]): their results are taken from it, since nothing
/// they depend on changed.
pub fn run_suite(
    mut suite: Suite,
    options: &RunOptions,
    reuse: Option<&Results>,
    on_event: &mut dyn FnMut(ExecEvent),
) -> Result<Executed, RunError> {
    let started = Instant::now();
    let started_at = audit::now();
    let Planned {
        mut plan,
        repeats,
        variable_prefix,
        suite_calls,
    } = prepare(&mut suite, options)?;
    let calls = plan.calls();
    let reused = reuse_cells(&plan, reuse, options, repeats);
    // Reused cells keep their place in the plan but have nothing left to call.
    for (cell, reused) in plan.cells.iter_mut().zip(&reused) {
        if *reused {
            cell.cases.clear();
        }
    }

    let client = provider::http_client().map_err(RunError::HttpClient)?;
    // Models the plan evaluates, and models the checks call (judges, embedding models).
    let called_by_checks = suite.models_called_by_checks();
    let used: Vec<bool> = (0..suite.models.len())
        .map(|m| {
            called_by_checks[m]
                || plan
                    .cells
                    .iter()
                    .any(|c| c.model == m && !c.cases.is_empty())
        })
        .collect();
    let ci = audit::CiContext::from_env();
    // The identity is not in the cache key (see `ProviderConfig::end_user`): the same question
    // asked by two people has one answer, and each pull request author must not pay again.
    let end_user = endpoints::end_user(suite.audit.send_identity.as_ref(), &ci);
    if suite.audit.send_identity.is_some()
        && end_user.is_none()
        && options.mode != CacheMode::Offline
    {
        tracing::warn!(
            "[audit] send_identity: no identity to send (no CI actor; set EVALGATE_ACTOR or `[audit] identity`), so none is sent"
        );
    }
    let endpoints = endpoints::build_endpoints(
        &suite,
        &used,
        &called_by_checks,
        options.mode,
        &client,
        end_user.as_deref(),
    )?;
    let stores = open_stores(&suite, &plan, options)?;
    let journal_path = stores.journal_path.clone();
    let batch = batch_options(&suite, &plan, options)?;

    let suite = Arc::new(suite);
    let plan = Arc::new(plan);
    // One thread: a call's own work (render, hash, parse, journal, grade) is a fraction of a
    // millisecond against a model's latency of many, so a second worker thread gains nothing
    // but costs every answer a cross-thread wake-up (futex, reschedule IPI): a third of the
    // CPU per call on the bench (bench/README.md, "CPU per case").
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    let opts = ExecOptions {
        cache: options.mode,
        cache_store: stores.cache,
        journal: stores.journal,
        audit: Some(stores.audit),
        ci,
        max_cost_usd: options.max_cost_usd.or(suite.gate.cost.max_run_usd),
        batch,
    };
    let mut sink = Sink::new(&suite, &plan, &reused, reuse, repeats)?;
    let execute::Execution {
        journal_failure,
        spend_cap,
        batch_pending,
    } = runtime
        .block_on(execute::execute(
            Arc::clone(&suite),
            Arc::clone(&plan),
            endpoints,
            opts,
            on_event,
            &mut |index, call| sink.executed(index, call),
        ))
        .map_err(
            |execute::ExecError::Interrupted(signal)| RunError::Interrupted {
                journal: journal_path.clone(),
                signal,
            },
        )?;
    let (totals, spooled) = sink.finish(&journal_path)?;
    let run = RunInfo {
        evalgate_version: env!("CARGO_PKG_VERSION").to_owned(),
        suite: suite.name.clone(),
        config_path: suite.path.display().to_string(),
        started_at,
        finished_at: audit::now(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        git: crate::git::info(suite.dir_or_dot()),
        config_fingerprint: plan.config_fingerprint.clone(),
        repeats,
        filter: (!options.filters.is_empty()).then(|| options.filters.join(",")),
        cache: options.mode.as_str().to_owned(),
        gate: Some(suite.gate.clone()),
        redacted: suite.redactor.describe(),
        shard: options.shard.map(|shard| ShardInfo {
            index: shard.index,
            count: shard.count,
            positions: crate::plan::case_positions(&suite, &plan),
        }),
    };
    let mut results = assemble_results(&suite, &plan, &reused, run, totals, spooled);
    for (cell, flagged) in results.cells.iter_mut().zip(variable_prefix) {
        cell.variable_prefix = flagged;
    }
    Ok(Executed {
        suite,
        results,
        journal_path,
        calls,
        suite_calls,
        journal_failure,
        spend_cap,
        batch_pending,
    })
}

/// How the run's batch models use their batches, when any cell to run is in batch mode and
/// models are called: the state folder's batch registry, the wait and the pace of the checks.
fn batch_options(
    suite: &Suite,
    plan: &Plan,
    options: &RunOptions,
) -> Result<Option<execute::BatchOptions>, RunError> {
    let batched = plan
        .cells
        .iter()
        .any(|c| suite.models[c.model].batch && !c.cases.is_empty());
    if !batched || options.mode == CacheMode::Offline {
        if options.batch_wait.is_some() && options.mode != CacheMode::Offline {
            tracing::warn!(
                "--batch-wait: no cell of this run is in batch mode (`--batch`, or `batch = true` on a model), so nothing waits"
            );
        }
        return Ok(None);
    }
    let registry = execute::BatchRegistry::open(&suite.state_dir.join(execute::BATCH_REGISTRY))?;
    // Tests (and impatient people) can check batches more often than every 5 to 60 seconds.
    let poll = std::env::var("EVALGATE_BATCH_POLL_MS")
        .ok()
        .and_then(|ms| ms.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_millis);
    Ok(Some(execute::BatchOptions {
        registry,
        wait: options.batch_wait.unwrap_or(execute::BATCH_DEFAULT_WAIT),
        poll_first: poll.unwrap_or(execute::BATCH_POLL_FIRST),
        poll_max: poll.unwrap_or(execute::BATCH_POLL_MAX),
    }))
}

/// The flags that replace suite settings for this run.
fn apply_overrides(suite: &mut Suite, options: &RunOptions) {
    if options.batch {
        let mut any = false;
        for model in suite.models.iter_mut().filter(|m| m.kind.has_batch_api()) {
            model.batch = true;
            any = true;
        }
        if !any {
            tracing::warn!(
                "--batch: no model's provider has a batch API (only openai, openai-compatible and anthropic do), so every call is made directly"
            );
        }
    }
    if let Some(n) = options.concurrency {
        for model in &mut suite.models {
            model.concurrency = n as usize;
        }
    }
    if let Some(dir) = &options.cache_dir {
        suite.cache_dir = dir.clone();
    }
    if let Some(path) = &options.audit_path {
        suite.audit.path = path.clone();
    }
}

/// Which cells of `plan` the baseline `reuse` can stand in for, by cell index.
///
/// Only a complete, healthy copy stands in for a run: this run must be whole (no filter, no
/// shard), and the baseline must cover every case and repeat of the cell (no filter, no shard,
/// the same repeats) with the same fingerprint and no errored call, or an old outage or a
/// partial run would be judged as this run's result.
pub fn reuse_cells(
    plan: &Plan,
    reuse: Option<&Results>,
    options: &RunOptions,
    repeats: u32,
) -> Vec<bool> {
    let Some(base) = reuse.filter(|base| {
        options.filters.is_empty()
            && options.shard.is_none()
            && base.run.repeats == repeats
            && base.run.filter.is_none()
            && base.run.shard.is_none()
    }) else {
        return vec![false; plan.cells.len()];
    };
    // Per cell of the baseline: its calls, and whether any errored. A baseline that can no
    // longer be read stands in for nothing.
    let mut calls: std::collections::HashMap<String, (usize, bool)> = Default::default();
    for call in base.results.iter() {
        let Ok(call) = call else {
            return vec![false; plan.cells.len()];
        };
        let entry = calls.entry(call.cell.clone()).or_default();
        entry.0 += 1;
        entry.1 |= call.is_errored();
    }
    plan.cells
        .iter()
        .map(|c| {
            base.cells
                .iter()
                .any(|b| b.id == c.id && b.fingerprint == c.fingerprint)
                && calls
                    .get(&c.id)
                    .is_some_and(|&(n, errored)| n == c.cases.len() * repeats as usize && !errored)
        })
        .collect()
}

/// The cache, this run's journal and the audit log, opened.
struct Stores {
    cache: Option<Store>,
    journal: Store,
    journal_path: PathBuf,
    audit: AuditLog,
}

/// The journal a run with `options` keeps (and a resumed run finds again).
fn run_journal_path(suite: &Suite, plan: &Plan, options: &RunOptions) -> PathBuf {
    // Shards of one suite run in the same folder keep separate journals.
    let mut journal_key = options.filters.clone();
    if let Some(shard) = options.shard {
        journal_key.push(format!("--shard {}/{}", shard.index, shard.count));
    }
    execute::journal_path(&suite.state_dir, plan, &journal_key)
}

fn open_stores(suite: &Suite, plan: &Plan, options: &RunOptions) -> Result<Stores, RunError> {
    let journal_path = run_journal_path(suite, plan, options);
    // Replaying pays for nothing, so it needs no journal and writes no store: a suite and its
    // committed cache in a read-only folder replay as they are.
    let open = match options.mode {
        CacheMode::Offline => Store::open_read_only,
        _ => Store::open,
    };
    let journal = open(&journal_path)?;
    if !journal.is_empty() {
        tracing::info!(
            responses = journal.len(),
            "resuming an interrupted run from its journal"
        );
    }
    let cache = match options.mode {
        CacheMode::Off => None,
        _ => Some(open(&suite.cache_dir.join("responses.jsonl"))?),
    };
    let audit = AuditLog::open(&suite.audit.path).map_err(|source| RunError::Audit {
        path: suite.audit.path.clone(),
        source,
    })?;
    Ok(Stores {
        cache,
        journal,
        journal_path,
        audit,
    })
}

/// Where a run's calls go as they finish: redacted, folded into the run's totals, and written
/// to the spool at their place in the plan. Reused cells' calls are taken from the baseline
/// first, in their place. No call stays in memory.
struct Sink<'a> {
    suite: &'a Suite,
    tally: aggregate::Tally,
    spool: Spool,
    /// Per executed cell, in plan order: (its first index among the executed calls, its first
    /// place in the results).
    starts: Vec<(usize, usize)>,
    /// The first error writing the spool: later calls are dropped, and the run ends with it.
    failed: Option<std::io::Error>,
}

impl<'a> Sink<'a> {
    fn new(
        suite: &'a Suite,
        plan: &Plan,
        reused: &[bool],
        reuse: Option<&Results>,
        repeats: u32,
    ) -> Result<Self, RunError> {
        let spool_error = |source| RunError::Spool {
            dir: suite.state_dir.clone(),
            source,
        };
        let mut sink = Sink {
            suite,
            tally: aggregate::Tally::new(aggregate::CaseEnd::Repeats(repeats)),
            // Beside the run's other files; in the system's temporary folder when that folder
            // cannot be written (an offline replay of a committed cache in a read-only checkout).
            spool: Spool::create(&suite.state_dir, plan.calls())
                .or_else(|_| Spool::create(&std::env::temp_dir(), plan.calls()))
                .map_err(spool_error)?,
            starts: Vec::new(),
            failed: None,
        };
        let (mut executed, mut place) = (0, 0);
        for (cell, reused) in plan.cells.iter().zip(reused) {
            match reuse.filter(|_| *reused) {
                Some(base) => {
                    for call in base.results.iter() {
                        let call = call.map_err(RunError::Baseline)?;
                        if call.cell == cell.id {
                            sink.tally.add(&call);
                            sink.spool.push(place, &call).map_err(spool_error)?;
                            place += 1;
                        }
                    }
                }
                None => {
                    sink.starts.push((executed, place));
                    let calls = cell.cases.len() * plan.repeats as usize;
                    executed += calls;
                    place += calls;
                }
            }
        }
        Ok(sink)
    }

    /// The executed call `index` (its index among the calls this run makes) has its result.
    fn executed(&mut self, index: usize, mut call: CallResult) {
        if self.failed.is_some() {
            return;
        }
        self.suite.redactor.redact_call(&mut call);
        self.tally.add(&call);
        let cell = self.starts.partition_point(|(first, _)| *first <= index) - 1;
        let (first, place) = self.starts[cell];
        if let Err(e) = self.spool.push(place + index - first, &call) {
            self.failed = Some(e);
        }
    }

    fn finish(self, journal: &std::path::Path) -> Result<(aggregate::Totals, Calls), RunError> {
        let spool_error = |source| RunError::SpoolLost {
            dir: self.suite.state_dir.clone(),
            journal: journal.to_owned(),
            source,
        };
        if let Some(e) = self.failed {
            return Err(spool_error(e));
        }
        let calls = self.spool.finish().map_err(spool_error)?;
        Ok((self.tally.finish(self.suite.gate.confidence), calls))
    }
}

/// Applies the absolute gate to the run's totals and assembles the results file's content.
pub fn assemble_results(
    suite: &Suite,
    plan: &Plan,
    reused: &[bool],
    run: RunInfo,
    totals: aggregate::Totals,
    calls: Calls,
) -> Results {
    let gate_config = &suite.gate;
    let aggregate::Totals {
        summary,
        metrics,
        by_cell,
    } = totals;
    let verdict = gate::evaluate(gate_config, &summary, &metrics);
    let cells = plan
        .cells
        .iter()
        .zip(reused)
        .map(|(c, reused)| {
            let model = &suite.models[c.model];
            CellSummary {
                id: c.id.clone(),
                prompt: suite.prompts[c.prompt].id.clone(),
                model: model.id.clone(),
                provider: model.kind.as_str().to_owned(),
                model_name: model.model.clone(),
                fingerprint: c.fingerprint.clone(),
                summary: by_cell.get(&c.id).cloned().unwrap_or_default(),
                reused: *reused,
                variable_prefix: false,
                batch: model.batch,
            }
        })
        .collect();
    Results {
        schema_version: SCHEMA_VERSION,
        run,
        summary,
        metrics,
        cells,
        verdict,
        comparison: None,
        results: calls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::CallOutcome;
    use crate::test_helpers::{call, errored, run_info};

    /// Two cells (`a/m`, `b/m`) over three cases, loaded from a suite file as a user writes it.
    fn suite() -> (tempfile::TempDir, Suite) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("evalgate.toml"),
            r#"
[suite]
name = "s"

[models.m]
provider = "command"
command = ["cat"]

[prompts.a]
user = "{{ q }}"

[prompts.b]
user = "Q: {{ q }}"

[datasets.d]
cases = [
  { id = "c1", vars = { q = "x" } },
  { id = "c2", vars = { q = "y" } },
  { id = "c3", vars = { q = "z" } },
]

[[checks]]
type = "contains"
value = "x"

[gate]
min_pass_rate = 0.5
"#,
        )
        .expect("write suite");
        let suite = crate::config::load(&dir.path().join("evalgate.toml")).expect("suite");
        (dir, suite)
    }

    /// A complete, healthy baseline of `plan`: every cell and case answered once.
    fn baseline(suite: &Suite, plan: &Plan) -> Results {
        let calls: Vec<CallResult> = plan
            .cells
            .iter()
            .flat_map(|cell| ["c1", "c2", "c3"].map(|case| call(&cell.id, case, 0, true)))
            .collect();
        let reused = vec![false; plan.cells.len()];
        assemble(suite, plan, &reused, calls)
    }

    /// [`assemble_results`] of calls in memory.
    fn assemble(suite: &Suite, plan: &Plan, reused: &[bool], calls: Vec<CallResult>) -> Results {
        let totals = aggregate::tally(&calls, suite.gate.confidence);
        assemble_results(suite, plan, reused, run_info(), totals, calls.into())
    }

    #[test]
    fn only_a_complete_healthy_copy_of_an_unchanged_cell_is_reused() {
        let (_dir, suite) = suite();
        let plan = crate::plan::plan(&suite, 1, &[]);
        let whole = RunOptions::new(CacheMode::ReadWrite);
        let base = baseline(&suite, &plan);
        assert_eq!(reuse_cells(&plan, None, &whole, 1), [false, false]);
        assert_eq!(reuse_cells(&plan, Some(&base), &whole, 1), [true, true]);

        // A changed cell (another fingerprint) runs again; the other is still reused.
        let mut changed = base.clone();
        changed.cells[0].fingerprint = "edited".into();
        assert_eq!(reuse_cells(&plan, Some(&changed), &whole, 1), [false, true]);

        // An errored call in the baseline, or a missing case, is no stand-in for a run.
        let mut outage = base.clone();
        outage.results.to_mut()[4] = errored("b/m", "c2", 0, "timeout");
        assert_eq!(reuse_cells(&plan, Some(&outage), &whole, 1), [true, false]);
        let mut partial = base.clone();
        partial.results.to_mut().remove(0);
        assert_eq!(reuse_cells(&plan, Some(&partial), &whole, 1), [false, true]);

        // Nor is any copy when this run is partial, or ran with other repeats.
        let filtered = RunOptions {
            filters: vec!["c1".into()],
            ..whole.clone()
        };
        assert_eq!(
            reuse_cells(&plan, Some(&base), &filtered, 1),
            [false, false]
        );
        assert_eq!(reuse_cells(&plan, Some(&base), &whole, 2), [false, false]);
        let mut base_filtered = base.clone();
        base_filtered.run.filter = Some("c1".into());
        assert_eq!(
            reuse_cells(&plan, Some(&base_filtered), &whole, 1),
            [false, false]
        );
    }

    #[test]
    fn reused_calls_take_their_cells_place_in_plan_order_whatever_order_calls_finish_in() {
        let (dir, suite) = suite();
        let mut plan = crate::plan::plan(&suite, 1, &[]);
        let base = baseline(&suite, &plan);
        // The first cell was reused: it has nothing left to call.
        plan.cells[0].cases.clear();
        let mut sink = Sink::new(&suite, &plan, &[true, false], Some(&base), 1).expect("sink");
        // The executor answered only the second cell, last case first.
        for (index, case) in [(2, "c3"), (0, "c1"), (1, "c2")] {
            sink.executed(index, call("b/m", case, 0, false));
        }
        let journal = dir.path().join("journal");
        let (totals, calls) = sink.finish(&journal).expect("finish");
        let order: Vec<(String, String, bool)> = calls
            .iter()
            .map(|c| {
                let c = c.expect("readable");
                (c.cell.clone(), c.case_id.clone(), c.passed)
            })
            .collect();
        let order: Vec<(&str, &str, bool)> = order
            .iter()
            .map(|(cell, case, passed)| (cell.as_str(), case.as_str(), *passed))
            .collect();
        assert_eq!(
            order,
            [
                ("a/m", "c1", true),
                ("a/m", "c2", true),
                ("a/m", "c3", true),
                ("b/m", "c1", false),
                ("b/m", "c2", false),
                ("b/m", "c3", false),
            ]
        );
        // The totals count the reused calls and the executed ones.
        assert_eq!((totals.summary.passed, totals.summary.failed), (3, 3));
        assert_eq!(totals.by_cell["a/m"].passed, 3);
        assert_eq!(totals.by_cell["b/m"].failed, 3);
    }

    #[test]
    fn assembled_results_carry_cells_aggregates_and_the_absolute_verdict() {
        let (_dir, suite) = suite();
        let plan = crate::plan::plan(&suite, 1, &[]);
        let calls: Vec<CallResult> = plan
            .cells
            .iter()
            .flat_map(|cell| ["c1", "c2", "c3"].map(|case| call(&cell.id, case, 0, case == "c1")))
            .collect();
        let results = assemble(&suite, &plan, &[true, false], calls);
        assert_eq!(results.schema_version, SCHEMA_VERSION);
        assert_eq!(results.summary.passed, 2);
        assert_eq!(results.summary.failed, 4);
        let cells: Vec<(&str, &str, &str, bool)> = results
            .cells
            .iter()
            .map(|c| {
                (
                    c.id.as_str(),
                    c.prompt.as_str(),
                    c.provider.as_str(),
                    c.reused,
                )
            })
            .collect();
        assert_eq!(
            cells,
            [
                ("a/m", "a", "command", true),
                ("b/m", "b", "command", false)
            ]
        );
        assert_eq!(results.cells[1].summary.cases, 3);
        // 2 of 6 passed, under the suite's 50% floor.
        assert_eq!(results.verdict.status, crate::results::Status::Fail);
        assert!(results.comparison.is_none());
    }

    #[test]
    fn a_filter_matching_nothing_is_a_usage_error_before_any_call() {
        let (_dir, suite) = suite();
        let options = RunOptions {
            filters: vec!["no-such-case".into()],
            ..RunOptions::new(CacheMode::Offline)
        };
        let err = run_suite(suite, &options, None, &mut |_| {}).expect_err("no match");
        assert!(matches!(err, RunError::NoCaseMatches { .. }));
        assert!(err.is_usage());
        assert_eq!(err.to_string(), "no case matches --filter no-such-case");
        // Without a filter, the message does not blame one.
        let unfiltered = RunError::NoCaseMatches { filters: vec![] };
        assert!(!unfiltered.to_string().contains("--filter"), "{unfiltered}");
        assert!(
            unfiltered
                .hint()
                .is_some_and(|h| h.contains("evalgate validate"))
        );
    }

    #[test]
    fn a_suite_runs_in_process_and_reports_its_progress() {
        // The command model answers with its own request (`cat`): only case c1, whose question
        // is "x", contains "x", in both cells.
        let (dir, suite) = suite();
        let mut events = Vec::new();
        let executed = run_suite(suite, &RunOptions::new(CacheMode::Off), None, &mut |e| {
            events.push(e)
        })
        .expect("run");
        assert_eq!(executed.calls, 6);
        assert_eq!(executed.suite_calls, 6);
        let results = &executed.results;
        let calls = results.results.to_vec();
        assert_eq!(calls.len(), 6);
        assert_eq!(results.summary.errored, 0, "{:?}", calls[0].error);
        let passed: Vec<(&str, &str)> = calls
            .iter()
            .filter(|c| c.passed)
            .map(|c| (c.cell.as_str(), c.case_id.as_str()))
            .collect();
        assert_eq!(passed, [("a/m", "c1"), ("b/m", "c1")]);
        assert_eq!(events.first(), Some(&ExecEvent::Started { calls: 6 }));
        assert_eq!(events.last(), Some(&ExecEvent::Finished));
        // One event per call, with the outcome its result has: the progress bar's counts.
        let outcomes: Vec<CallOutcome> = events
            .iter()
            .filter_map(|e| match e {
                ExecEvent::CallDone { outcome, cached } => {
                    assert!(!cached, "the cache is off");
                    Some(*outcome)
                }
                _ => None,
            })
            .collect();
        assert_eq!(outcomes.len(), 6);
        let count = |o: CallOutcome| outcomes.iter().filter(|x| **x == o).count();
        assert_eq!(count(CallOutcome::Passed), 2);
        assert_eq!(count(CallOutcome::Failed), 4);
        assert_eq!(count(CallOutcome::Errored), 0);
        // The journal holds every answer until the caller has written the results file.
        assert!(executed.journal_path.starts_with(dir.path()));
        assert!(executed.journal_path.exists());
    }

    #[test]
    fn a_journal_that_cannot_be_written_stops_new_calls_and_keeps_the_answers_in_flight() {
        // The journal is /dev/full: its first write fails as on a full disk (ENOSPC). With one
        // call at a time, that first answer is the only call made; the five others never start.
        let (_dir, suite) = suite();
        let plan = crate::plan::plan(&suite, 1, &[]);
        let journal = execute::journal_path(&suite.state_dir, &plan, &[]);
        std::fs::create_dir_all(&suite.state_dir).expect("mkdir");
        std::os::unix::fs::symlink("/dev/full", &journal).expect("symlink");
        let options = RunOptions {
            concurrency: Some(1),
            ..RunOptions::new(CacheMode::Off)
        };
        let executed = run_suite(suite, &options, None, &mut |_| {}).expect("run");
        let failure = executed.journal_failure.expect("the journal failed");
        assert_eq!(failure.path, journal);
        assert_eq!(failure.unsaved, 1);
        assert_eq!(failure.source.kind(), std::io::ErrorKind::StorageFull);

        let calls = executed.results.results.to_vec();
        assert_eq!(calls.len(), 6, "every planned call has a result");
        let answered: Vec<&str> = calls
            .iter()
            .filter(|c| c.output.is_some())
            .map(|c| c.case_id.as_str())
            .collect();
        assert_eq!(answered, ["c1"], "the answer in flight is kept");
        for call in calls.iter().filter(|c| c.output.is_none()) {
            let error = call.error.as_deref().unwrap_or_default();
            assert!(
                error.starts_with(&format!(
                    "not called: the run stopped starting model calls when its journal {} could not be written (No space left on device",
                    journal.display()
                )),
                "{error}"
            );
        }

        let err = RunError::from(failure);
        assert!(!err.is_usage());
        assert_eq!(
            err.to_string(),
            format!(
                "cannot write the journal {}: No space left on device (os error 28); evalgate stopped starting model calls",
                journal.display()
            )
        );
        let hint = err.hint().unwrap_or_default();
        assert!(
            hint.starts_with("the 1 answer received after that point is not in the journal and may be paid for again on a re-run"),
            "{hint}"
        );
    }
}
