//! Batch mode: a model's graded calls sent through its provider's batch API (OpenAI Batch,
//! Anthropic Message Batches) instead of one by one: answered within 24 hours, at the batch
//! price.
//!
//! Before a batch model's calls are graded, its driver settles them here:
//!
//! 1. The calls that neither the run's journal nor the response cache answers are collected, one
//!    request per distinct cache key. The key (64 hex digits) is the request's `custom_id`, so a
//!    result names the exact request it answers.
//! 2. A call whose key is in a batch that an earlier attempt submitted and did not collect (the
//!    [`Registry`], `batches.jsonl` in the state folder) waits for that batch: a batch is never
//!    submitted twice, even when the suite changed in between.
//! 3. The rest are submitted, split to the provider's limits, and each batch's id and keys are
//!    appended to the registry the moment the provider returns the id, before anything else.
//! 4. The batches are polled, with a growing interval, until they end or `--batch-wait` elapses.
//!    An ended batch's results are read line by line and each answer is journaled (and cached)
//!    the moment it is read, then the batch is marked collected.
//!
//! Each call ends up answered (graded like any answer, priced at the batch rate), failed (the
//! provider's reason; expired and canceled requests say so, and a re-run submits only those
//! again) or not answered yet (its batch is still running: the run ends resumable, see
//! [`BatchesPending`]). Judge calls made while grading stay direct calls.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::call::{Outcome, mask_secrets, save_to_cache};
use super::events::{BatchEvent, ExecEvent};
use super::keys::request_key;
use super::store::{Entry, StoreError};
use super::{Endpoint, Item, Shared};
use crate::config::Model;
use crate::privacy::audit::Source;
use crate::privacy::secrets::scrub;
use crate::provider::ProviderError;
use crate::provider::batch::{BatchApi, BatchStatus, ItemResult, split};
use crate::results::RateLimited;
use crate::support::fmt::{count_of, format_duration};

/// The registry's file in the state folder.
pub const REGISTRY_FILE: &str = "batches.jsonl";
/// How long a run waits for its batches unless `--batch-wait` says otherwise: the providers'
/// own completion window.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(24 * 3600);
/// The first pause between two checks of a batch; each pause is half again as long as the one
/// before, up to [`POLL_MAX`].
pub const POLL_FIRST: Duration = Duration::from_secs(5);
pub const POLL_MAX: Duration = Duration::from_secs(60);

/// How a run uses batches.
#[derive(Debug)]
pub struct BatchOptions {
    pub registry: Registry,
    /// How long to wait for the batches before ending resumable.
    pub wait: Duration,
    /// The first pause between checks, and the longest.
    pub poll_first: Duration,
    pub poll_max: Duration,
}

/// Batches still running when the run stopped waiting: their calls are not answered yet, and
/// the same command resumes waiting for them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct BatchesPending {
    pub batches: Vec<PendingBatch>,
    /// How long the run waited (`--batch-wait`).
    pub waited: Duration,
    /// Where their ids are kept.
    pub registry: PathBuf,
}

/// One batch that had not ended when the run stopped waiting.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingBatch {
    pub id: String,
    pub model: String,
    /// The provider's last word on it (`in_progress`, `validating`...), or `unknown`.
    pub status: String,
    /// This run's calls waiting for it.
    pub calls: usize,
    /// Why it could not be checked or read, when that is why it is still pending.
    pub error: Option<String>,
}

impl BatchesPending {
    /// Calls of the run that wait for these batches.
    pub fn calls(&self) -> usize {
        self.batches.iter().map(|b| b.calls).sum()
    }

    fn describe(&self) -> String {
        let list: Vec<String> = self
            .batches
            .iter()
            .map(|b| {
                let why = b
                    .error
                    .as_ref()
                    .map(|e| format!("; last check failed: {e}"))
                    .unwrap_or_default();
                format!(
                    "{} (model `{}`, {}, {}{why})",
                    b.id,
                    b.model,
                    b.status,
                    count_of(b.calls as u64, "call", "calls")
                )
            })
            .collect();
        format!(
            "{} not ended after waiting {} (--batch-wait): {}; {} not answered yet",
            count_of(self.batches.len() as u64, "batch has", "batches have"),
            format_duration(self.waited),
            list.join(", "),
            count_of(self.calls() as u64, "call is", "calls are"),
        )
    }
}

/// How one call of a batch model was settled.
#[derive(Debug, Clone)]
enum Settled {
    /// Answered through a batch; the answer is in the journal, or kept here when the journal
    /// could not take it.
    Answered(Option<Box<Entry>>),
    /// The provider's reason for not answering it (an error, an expired or canceled request, a
    /// failed batch, a batch that could not be submitted).
    Failed(String),
    /// Not answered in this run: still in a batch, or never submitted (and why).
    NotCalled(String),
}

/// The executor's batch state, shared by the drivers.
#[derive(Debug)]
pub(super) struct BatchState {
    registry: Registry,
    /// Per model, set once its calls are settled; only for models in batch mode.
    settled: Vec<OnceLock<HashMap<String, Settled>>>,
    events: mpsc::UnboundedSender<ExecEvent>,
    deadline: Instant,
    wait: Duration,
    poll_first: Duration,
    poll_max: Duration,
    pending: Mutex<Vec<PendingBatch>>,
}

impl BatchState {
    pub fn new(
        options: BatchOptions,
        models: usize,
        events: mpsc::UnboundedSender<ExecEvent>,
    ) -> Self {
        BatchState {
            registry: options.registry,
            settled: (0..models).map(|_| OnceLock::new()).collect(),
            events,
            deadline: Instant::now() + options.wait,
            wait: options.wait,
            poll_first: options.poll_first,
            poll_max: options.poll_max.max(options.poll_first),
            pending: Mutex::default(),
        }
    }

    fn emit(&self, event: BatchEvent) {
        let _ = self.events.send(ExecEvent::Batch(event));
    }

    /// Batches still running when the run stopped waiting, if any; removes the registry once
    /// it holds nothing to wait for.
    pub fn finish(&self) -> Option<BatchesPending> {
        self.registry.tidy();
        let batches = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        (!batches.is_empty()).then(|| BatchesPending {
            batches,
            waited: self.wait,
            registry: self.registry.path.clone(),
        })
    }
}

/// What this run's batch settled for the call with `key` to model `mi`, when the model is in
/// batch mode; `None` otherwise (the call takes the direct path: journal, cache, provider).
pub(super) fn settled(shared: &Shared, mi: usize, key: &str) -> Option<Outcome> {
    let settled = shared.batch.as_ref()?.settled[mi].get()?.get(key)?;
    Some(match settled {
        Settled::Answered(kept) => {
            match kept
                .clone()
                .or_else(|| shared.opts.journal.get(key).map(Box::new))
            {
                Some(entry) => Outcome::Answered {
                    entry,
                    source: Source::Provider,
                    limited: RateLimited::default(),
                },
                None => Outcome::NotCalled(
                    "the batch's answer could not be read back from the journal".into(),
                ),
            }
        }
        Settled::Failed(error) => Outcome::Failed {
            error: error.clone(),
            attempts: 1,
            limited: RateLimited::default(),
        },
        Settled::NotCalled(error) => Outcome::NotCalled(error.clone()),
    })
}

/// Settles the calls of `items` (all of model `mi`) through batches, when the model is in batch
/// mode and callable; does nothing otherwise.
pub(super) async fn settle(shared: &Shared, mi: usize, items: &[Item]) {
    let Some(state) = &shared.batch else {
        return;
    };
    let model = &shared.suite.models[mi];
    if !model.batch {
        return;
    }
    let settled = match shared.endpoints[mi].as_ref() {
        Some(endpoint) => match endpoint.provider.batch() {
            Some(api) => settle_model(shared, state, mi, endpoint, api, items).await,
            None => HashMap::new(),
        },
        // Offline: nothing is called, the cache answers or the call errors as usual.
        None => HashMap::new(),
    };
    let _ = state.settled[mi].set(settled);
}

/// A batch this run waits for.
#[derive(Debug)]
struct Watch {
    id: String,
    /// This run's calls in it.
    keys: Vec<String>,
    last: Option<BatchStatus>,
    /// Why the last check or download failed.
    error: Option<String>,
    /// Answers already saved (a download that broke off is read again from the start).
    saved: HashSet<String>,
    done: bool,
}

impl Watch {
    fn new(id: String, keys: Vec<String>, last: Option<BatchStatus>) -> Self {
        Watch {
            id,
            keys,
            last,
            error: None,
            saved: HashSet::new(),
            done: false,
        }
    }
}

async fn settle_model(
    shared: &Shared,
    state: &BatchState,
    mi: usize,
    endpoint: &Endpoint,
    api: &dyn BatchApi,
    items: &[Item],
) -> HashMap<String, Settled> {
    let model = &shared.suite.models[mi];
    let mut out = HashMap::new();
    // A batch whose every answer is saved already (a run killed while it read them) has nothing
    // more to give.
    for id in state
        .registry
        .fully_answered(&model.id, |key| answered_already(shared, key))
    {
        if let Err(err) = state.registry.collected(&id) {
            tracing::warn!("{err}");
        }
    }

    // 1. The calls to pay for, one request per key, in plan order.
    let mut keys: Vec<String> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for item in items {
        let cell = &shared.plan.cells[item.cell];
        let case = &shared.suite.datasets[item.case.0].cases[item.case.1];
        let prompt = &shared.suite.prompts[cell.prompt];
        // A prompt that does not render errors the call before any batch.
        let Ok(request) = super::item::chat_request(&shared.suite, prompt, model, case) else {
            continue;
        };
        let key = request_key(model, &request, item.repeat);
        if seen.contains(&key) || answered_already(shared, &key) {
            continue;
        }
        // A request that cannot be written goes the direct way, which says why it fails.
        let Ok(line) = api.request_line(&key, &request) else {
            continue;
        };
        seen.insert(key.clone());
        lines.push(line);
        keys.push(key);
    }
    if keys.is_empty() {
        return out;
    }

    // 2. Calls an earlier attempt already submitted wait for that batch.
    let mut watches = Vec::new();
    let mut waiting: HashSet<String> = HashSet::new();
    for (id, batch_keys) in state.registry.pending_for(&seen) {
        state.emit(BatchEvent::Resumed {
            model: model.id.clone(),
            batch: id.clone(),
            calls: batch_keys.len() as u64,
        });
        waiting.extend(batch_keys.iter().cloned());
        watches.push(Watch::new(id, batch_keys, None));
    }
    let (keys, lines): (Vec<String>, Vec<String>) = keys
        .into_iter()
        .zip(lines)
        .filter(|(key, _)| !waiting.contains(key))
        .unzip();

    // 3. The rest in new batches.
    if !keys.is_empty() {
        submit_all(
            shared,
            state,
            model,
            endpoint,
            api,
            &keys,
            &lines,
            &mut watches,
            &mut out,
        )
        .await;
    }
    drop(lines);

    // 4. Wait for them.
    poll(shared, state, model, api, &mut watches, &mut out).await;
    out
}

/// Whether the run's journal or the response cache answers `key`: no batch needed.
fn answered_already(shared: &Shared, key: &str) -> bool {
    shared.opts.journal.get(key).is_some()
        || (shared.opts.cache.reads()
            && shared
                .opts
                .cache_store
                .as_ref()
                .is_some_and(|c| c.get(key).is_some()))
}

/// Why no new batch may be submitted now, if there is a reason: the same rules as a direct call.
fn refusal(shared: &Shared, model: &Model, endpoint: &Endpoint) -> Option<String> {
    if let Some(reason) = endpoint.fatal.get() {
        return Some(format!(
            "not called: an earlier call to model `{}` failed: {reason}",
            model.id
        ));
    }
    shared.journal.refusal().or_else(|| shared.spend.refusal())
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site, the settle step's state"
)]
async fn submit_all(
    shared: &Shared,
    state: &BatchState,
    model: &Model,
    endpoint: &Endpoint,
    api: &dyn BatchApi,
    keys: &[String],
    lines: &[String],
    watches: &mut Vec<Watch>,
    out: &mut HashMap<String, Settled>,
) {
    let sizes: Vec<usize> = lines.iter().map(String::len).collect();
    for range in split(&sizes, api.limits()) {
        let batch_keys = &keys[range.clone()];
        if let Some(first) = refusal(shared, model, endpoint) {
            for (i, key) in batch_keys.iter().enumerate() {
                // Asked once per call, so the spend cap counts every call it did not start.
                let reason = match i {
                    0 => first.clone(),
                    _ => refusal(shared, model, endpoint).unwrap_or_else(|| first.clone()),
                };
                out.insert(key.clone(), Settled::NotCalled(reason));
            }
            continue;
        }
        match submit_with_retries(api, &lines[range], model).await {
            Ok(status) => {
                // On record before anything else: a run killed from here on finds it again.
                if let Err(err) = state.registry.submitted(&status.id, model, batch_keys) {
                    shared.journal.failed(err);
                }
                state.emit(BatchEvent::Submitted {
                    model: model.id.clone(),
                    batch: status.id.clone(),
                    calls: batch_keys.len() as u64,
                });
                watches.push(Watch::new(status.id.clone(), batch_keys.to_vec(), None));
            }
            Err(err) => {
                let mut message = scrub(&err.to_string());
                if model.kind == crate::provider::ProviderKind::OpenaiCompatible
                    && matches!(
                        err,
                        ProviderError::Status {
                            status: 404 | 405,
                            ..
                        }
                    )
                {
                    message.push_str(
                        " (this server may not implement OpenAI's Files and Batch API: without `batch = true` or --batch its calls are made directly)",
                    );
                }
                if err.is_fatal_for_model() {
                    let _ = endpoint.fatal.set(message.clone());
                }
                tracing::warn!(model = %model.id, "cannot submit a batch: {message}");
                for key in batch_keys {
                    out.insert(
                        key.clone(),
                        Settled::Failed(format!("the batch could not be submitted: {message}")),
                    );
                }
            }
        }
    }
}

/// Submits one batch, retrying only when the server answered that it did not take it (429,
/// 5xx): after a broken connection the batch may exist, and a second one would be paid twice.
async fn submit_with_retries(
    api: &dyn BatchApi,
    lines: &[String],
    model: &Model,
) -> Result<BatchStatus, ProviderError> {
    let mut attempt = 0;
    loop {
        match api.submit(lines, model.timeout).await {
            Err(err @ ProviderError::Status { .. })
                if err.is_retryable() && attempt < model.max_retries =>
            {
                let delay = err
                    .retry_after()
                    .unwrap_or_else(|| Duration::from_secs(1u64 << attempt.min(5)));
                attempt += 1;
                tokio::time::sleep(delay.min(Duration::from_secs(60))).await;
            }
            other => return other,
        }
    }
}

/// Checks the batches until each has ended and been collected, or the wait is over.
async fn poll(
    shared: &Shared,
    state: &BatchState,
    model: &Model,
    api: &dyn BatchApi,
    watches: &mut [Watch],
    out: &mut HashMap<String, Settled>,
) {
    let mut pause = state.poll_first;
    while !watches.is_empty() {
        for watch in watches.iter_mut().filter(|w| !w.done) {
            check(shared, state, model, api, watch, out).await;
        }
        if watches.iter().all(|w| w.done) {
            break;
        }
        let now = Instant::now();
        if now >= state.deadline {
            break;
        }
        tokio::time::sleep(pause.min(state.deadline - now)).await;
        pause = pause.mul_f64(1.5).min(state.poll_max);
    }
    for watch in watches.iter().filter(|w| !w.done) {
        let status = watch
            .last
            .as_ref()
            .map_or("unknown", |s| s.status.as_str())
            .to_owned();
        let reason = match (&watch.last, &watch.error) {
            (Some(last), Some(error)) if last.ended => format!(
                "not answered yet: batch {} ended ({status}) but {error}; run the same command again to collect it (it is not submitted again)",
                watch.id
            ),
            _ => format!(
                "not answered yet: batch {} is still {status}; run the same command again to collect it (it is not submitted again)",
                watch.id
            ),
        };
        let mut calls = 0;
        for key in &watch.keys {
            if !out.contains_key(key) {
                out.insert(key.clone(), Settled::NotCalled(reason.clone()));
                calls += 1;
            }
        }
        state
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(PendingBatch {
                id: watch.id.clone(),
                model: model.id.clone(),
                status,
                calls,
                error: watch.error.clone(),
            });
    }
}

/// One check of a batch; an ended batch is collected.
async fn check(
    shared: &Shared,
    state: &BatchState,
    model: &Model,
    api: &dyn BatchApi,
    watch: &mut Watch,
    out: &mut HashMap<String, Settled>,
) {
    let status = match api.status(&watch.id, model.timeout).await {
        Ok(status) => status,
        Err(ProviderError::Status {
            status: 404,
            message,
            ..
        }) => {
            // Unknown to the provider (another account's key, deleted): nothing to wait for.
            let message = scrub(&message);
            tracing::warn!(batch = %watch.id, "the provider does not know this batch ({message}); its calls are submitted again by the next run");
            for key in &watch.keys {
                out.insert(
                    key.clone(),
                    Settled::Failed(format!(
                        "batch {} is unknown to the provider (HTTP 404: {message}); a re-run submits this call again",
                        watch.id
                    )),
                );
            }
            if let Err(err) = state.registry.collected(&watch.id) {
                tracing::warn!("{err}");
            }
            watch.done = true;
            return;
        }
        Err(err) => {
            let message = scrub(&err.to_string());
            tracing::warn!(batch = %watch.id, "cannot check the batch: {message}; trying again");
            watch.error = Some(message);
            return;
        }
    };
    if watch.last.as_ref() != Some(&status) {
        state.emit(BatchEvent::Status {
            model: model.id.clone(),
            batch: status.id.clone(),
            status: status.status.clone(),
            done: status.counts.done(),
            total: status.counts.total,
            errored: status.counts.errored + status.counts.expired + status.counts.canceled,
        });
    }
    if status.ended {
        collect(shared, state, model, api, watch, &status, out).await;
    }
    watch.last = Some(status);
}

/// Reads an ended batch's results, saving each answer the moment it is read.
async fn collect(
    shared: &Shared,
    state: &BatchState,
    model: &Model,
    api: &dyn BatchApi,
    watch: &mut Watch,
    status: &BatchStatus,
    out: &mut HashMap<String, Settled>,
) {
    let id = status.id.clone();
    let needed: HashSet<&str> = watch.keys.iter().map(String::as_str).collect();
    let (mut answered, mut errored) = (0u64, 0u64);
    let saved = &mut watch.saved;
    let mut on_result = |ItemResult { custom_id, answer }: ItemResult| match answer {
        Ok(mut completion) => {
            answered += 1;
            if saved.contains(&custom_id) {
                return;
            }
            mask_secrets(&mut completion);
            let entry = Entry {
                key: custom_id.clone(),
                completion,
                latency_ms: 0,
                attempts: 1,
                batch: Some(id.clone()),
            };
            // Indexed as stored: the graded calls find their answers by key after the batch.
            shared.journal.save(&shared.opts.journal, &entry, true);
            if shared.opts.cache.writes()
                && let Some(cache) = &shared.opts.cache_store
            {
                save_to_cache(shared, cache, &entry, true);
            }
            saved.insert(custom_id.clone());
            // Answers of calls this run does not make (the suite changed since the batch was
            // submitted) are kept in the cache for whoever asks next.
            if needed.contains(custom_id.as_str()) {
                shared.spend.add(
                    model
                        .price
                        .map_or(0.0, |p| p.cost_of(&entry.completion.usage, true)),
                );
                let kept = shared.journal.refusal().map(|_| Box::new(entry));
                out.insert(custom_id, Settled::Answered(kept));
            }
        }
        Err(reason) => {
            errored += 1;
            if needed.contains(custom_id.as_str()) {
                out.insert(custom_id, Settled::Failed(format!("batch {id}: {reason}")));
            }
        }
    };
    let read = api.results(status, model.timeout, &mut on_result).await;
    if let Err(err) = read {
        // Read again at the next check, from the start; what was saved is not saved twice.
        let message = scrub(&err.to_string());
        tracing::warn!(batch = %status.id, "cannot read the batch's results: {message}; trying again");
        watch.error = Some(format!("its results could not be read: {message}"));
        return;
    }
    for key in &watch.keys {
        if !out.contains_key(key) {
            let reason = match &status.failure {
                Some(failure) => format!("batch {} failed: {failure}", status.id),
                None => format!(
                    "batch {} ended ({}) without a result for this call",
                    status.id, status.status
                ),
            };
            out.insert(key.clone(), Settled::Failed(reason));
        }
    }
    if let Err(err) = state.registry.collected(&status.id) {
        // Harmless: a re-run reads the results again and finds the answers in the journal.
        tracing::warn!("{err}");
    }
    state.emit(BatchEvent::Collected {
        model: model.id.clone(),
        batch: status.id.clone(),
        status: status.status.clone(),
        answered,
        errored,
    });
    watch.done = true;
}

/// The batches a state folder submitted and has not collected yet: `batches.jsonl`, one JSON
/// record per line, appended with one write each, never rewritten. A `submitted` record (batch
/// id, provider, model, time, and the keys of the requests in it) is written the moment the
/// provider returns the id; a `collected` record once its results are saved. A run killed
/// between the two finds the batch here and waits for it again instead of submitting it twice.
/// The file is removed once nothing in it is pending.
#[derive(Debug)]
pub struct Registry {
    path: PathBuf,
    pending: Mutex<Vec<Submitted>>,
    /// Serialises this process's appends.
    writing: Mutex<()>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Record {
    Submitted(Submitted),
    Collected { batch: String, at: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Submitted {
    batch: String,
    provider: String,
    model: String,
    at: String,
    /// The cache keys of its requests, which are their `custom_id`s.
    keys: Vec<String>,
}

impl Registry {
    /// The registry at `path`, read; a missing file holds nothing. Nothing is created until a
    /// batch is submitted.
    pub fn open(path: &Path) -> Result<Registry, StoreError> {
        let err = |source| StoreError {
            path: path.to_owned(),
            source,
        };
        let mut pending: Vec<Submitted> = Vec::new();
        match File::open(path) {
            Ok(file) if file.metadata().map_err(err)?.is_file() => {
                let mut torn = 0;
                for line in BufReader::new(file).split(b'\n') {
                    let line = line.map_err(err)?;
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    match serde_json::from_slice::<Record>(&line) {
                        Ok(Record::Submitted(s)) => pending.push(s),
                        Ok(Record::Collected { batch, .. }) => pending.retain(|s| s.batch != batch),
                        Err(_) => torn += 1,
                    }
                }
                if torn > 0 {
                    tracing::warn!(path = %path.display(), lines = torn, "skipped unreadable lines in the batch registry");
                }
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) => {}
            Err(e) => return Err(err(e)),
        }
        Ok(Registry {
            path: path.to_owned(),
            pending: Mutex::new(pending),
            writing: Mutex::default(),
        })
    }

    /// The keys of requests in batches not collected yet, with their batch id: what an earlier
    /// attempt paid for and a later one must wait for.
    pub fn pending_keys(&self) -> Vec<(String, Vec<String>)> {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|s| (s.batch.clone(), s.keys.clone()))
            .collect()
    }

    /// Pending batches of model `model` whose every request is `answered` already.
    fn fully_answered(&self, model: &str, answered: impl Fn(&str) -> bool) -> Vec<String> {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|s| s.model == model && s.keys.iter().all(|k| answered(k)))
            .map(|s| s.batch.clone())
            .collect()
    }

    /// The pending batches holding some of `keys`, each with those keys; a key is given to one
    /// batch only, the latest submitted.
    fn pending_for(&self, keys: &HashSet<String>) -> Vec<(String, Vec<String>)> {
        let mut taken: HashSet<&str> = HashSet::new();
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut found: Vec<(String, Vec<String>)> = pending
            .iter()
            .rev()
            .filter_map(|s| {
                let mine: Vec<String> = s
                    .keys
                    .iter()
                    .filter(|k| keys.contains(*k) && taken.insert(k.as_str()))
                    .cloned()
                    .collect();
                (!mine.is_empty()).then(|| (s.batch.clone(), mine))
            })
            .collect();
        found.reverse();
        found
    }

    fn submitted(&self, batch: &str, model: &Model, keys: &[String]) -> Result<(), StoreError> {
        let record = Submitted {
            batch: batch.to_owned(),
            provider: model.kind.as_str().to_owned(),
            model: model.id.clone(),
            at: crate::privacy::audit::now(),
            keys: keys.to_vec(),
        };
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record.clone());
        self.append(&Record::Submitted(record))
    }

    fn collected(&self, batch: &str) -> Result<(), StoreError> {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|s| s.batch != batch);
        self.append(&Record::Collected {
            batch: batch.to_owned(),
            at: crate::privacy::audit::now(),
        })
    }

    /// Appends one record with one write.
    fn append(&self, record: &Record) -> Result<(), StoreError> {
        let err = |source| StoreError {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(record).map_err(|e| err(e.into()))?;
        line.push(b'\n');
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(parent) = self.path.parent()
            && let Err(e) = std::fs::create_dir_all(parent)
            && e.kind() != io::ErrorKind::AlreadyExists
        {
            return Err(err(e));
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(err)?;
        // A torn last line (a crash mid-write) must not swallow this record.
        let separator: &[u8] = match file.metadata() {
            Ok(m) if m.len() > 0 && !ends_with_newline(&self.path) => b"\n",
            _ => b"",
        };
        file.write_all(&[separator, &line].concat()).map_err(err)
    }

    /// Removes the file once no batch in it is pending (read again, in case another process
    /// appended to it meanwhile).
    fn tidy(&self) {
        if !self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
        {
            return;
        }
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(again) = Registry::open(&self.path)
            && again.pending_keys().is_empty()
            && self.path.is_file()
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn ends_with_newline(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = File::open(path) else {
        return true;
    };
    let mut last = [0u8; 1];
    file.seek(SeekFrom::End(-1)).is_err() || file.read_exact(&mut last).is_err() || last[0] == b'\n'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("evalgate.toml"),
            "[suite]\nname = \"s\"\n[models.m]\nprovider = \"openai\"\nmodel = \"gpt-4.1-mini\"\nbatch = true\n\
             [prompts.p]\nuser = \"hi\"\n[datasets.d]\ncases = [{ id = \"a\" }]\n\
             [[checks]]\ntype = \"contains\"\nvalue = \"x\"\n",
        )
        .expect("write");
        let suite = crate::config::load(&dir.path().join("evalgate.toml")).expect("suite");
        suite.models[0].clone()
    }

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|k| (*k).to_owned()).collect()
    }

    #[test]
    fn the_registry_keeps_submitted_batches_until_collected_and_survives_a_torn_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state/batches.jsonl");
        let registry = Registry::open(&path).expect("open");
        assert!(registry.pending_keys().is_empty());
        assert!(
            !path.exists(),
            "nothing is created before a batch is submitted"
        );
        let m = model();
        registry
            .submitted("batch_1", &m, &keys(&["k1", "k2"]))
            .expect("record");
        registry
            .submitted("batch_2", &m, &keys(&["k3"]))
            .expect("record");
        // A crash in the middle of a write leaves a torn line: it is skipped, and the next
        // record starts on a line of its own.
        let mut file = OpenOptions::new().append(true).open(&path).expect("open");
        file.write_all(b"{\"submitted\":{\"batch\":\"batch_torn\"")
            .expect("write");
        drop(file);
        let again = Registry::open(&path).expect("reopen");
        assert_eq!(
            again.pending_keys(),
            vec![
                ("batch_1".to_owned(), keys(&["k1", "k2"])),
                ("batch_2".to_owned(), keys(&["k3"]))
            ]
        );
        again.collected("batch_1").expect("record");
        let wanted: HashSet<String> = keys(&["k1", "k3", "k9"]).into_iter().collect();
        let reopened = Registry::open(&path).expect("reopen");
        assert_eq!(
            reopened.pending_for(&wanted),
            vec![("batch_2".to_owned(), keys(&["k3"]))]
        );
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.lines()
                .last()
                .is_some_and(|l| l.starts_with("{\"collected\":{\"batch\":\"batch_1\"")),
            "{text}"
        );
        // Nothing secret: ids, the model's name and hashes.
        assert!(
            text.contains("\"provider\":\"openai\",\"model\":\"m\""),
            "{text}"
        );

        reopened.tidy();
        assert!(path.exists(), "batch_2 is still pending");
        reopened.collected("batch_2").expect("record");
        reopened.tidy();
        assert!(!path.exists(), "nothing pending: removed");
    }

    #[test]
    fn a_batch_whose_answers_are_all_saved_has_nothing_more_to_give() {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = Registry::open(&dir.path().join("batches.jsonl")).expect("open");
        let m = model();
        registry
            .submitted("all", &m, &keys(&["a", "b"]))
            .expect("record");
        registry
            .submitted("some", &m, &keys(&["a", "c"]))
            .expect("record");
        let saved = |k: &str| k != "c";
        assert_eq!(registry.fully_answered("m", saved), ["all"]);
        assert!(registry.fully_answered("other-model", saved).is_empty());
    }

    #[test]
    fn a_key_in_two_pending_batches_waits_for_the_latest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = Registry::open(&dir.path().join("batches.jsonl")).expect("open");
        let m = model();
        registry
            .submitted("old", &m, &keys(&["a", "b"]))
            .expect("record");
        registry
            .submitted("new", &m, &keys(&["b"]))
            .expect("record");
        let wanted: HashSet<String> = keys(&["a", "b"]).into_iter().collect();
        assert_eq!(
            registry.pending_for(&wanted),
            vec![
                ("old".to_owned(), keys(&["a"])),
                ("new".to_owned(), keys(&["b"]))
            ]
        );
    }

    #[test]
    fn pending_batches_are_described_with_their_ids_and_calls() {
        let pending = BatchesPending {
            batches: vec![
                PendingBatch {
                    id: "batch_abc".into(),
                    model: "mini".into(),
                    status: "in_progress".into(),
                    calls: 120,
                    error: None,
                },
                PendingBatch {
                    id: "msgbatch_x".into(),
                    model: "claude".into(),
                    status: "unknown".into(),
                    calls: 1,
                    error: Some("connection failed: refused".into()),
                },
            ],
            waited: Duration::from_secs(1800),
            registry: PathBuf::from(".evalgate/batches.jsonl"),
        };
        assert_eq!(pending.calls(), 121);
        assert_eq!(
            pending.to_string(),
            "2 batches have not ended after waiting 30m (--batch-wait): batch_abc (model `mini`, in_progress, 120 calls), msgbatch_x (model `claude`, unknown, 1 call; last check failed: connection failed: refused); 121 calls are not answered yet"
        );
    }
}
