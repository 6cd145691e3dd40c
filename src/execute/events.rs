//! What a run reports while it goes, so whoever started it can show progress without the
//! executor knowing how (a bar, log lines, nothing).

use crate::results::CallResult;

/// One step of a run, in the order they happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEvent {
    /// The run starts with this many calls to make or replay (a re-run of the base branch in
    /// `evalgate ci` is a second run, with its own `Started`).
    Started { calls: u64 },
    /// A planned call has its result, graded or errored; `cached` when it was served from the
    /// response cache.
    CallDone { outcome: CallOutcome, cached: bool },
    /// Every call has its result; not sent when the run is interrupted.
    Finished,
    /// A batch of a model in batch mode moved on (see `execute::batch`).
    Batch(BatchEvent),
}

/// What became of a batch, for models in batch mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchEvent {
    /// `calls` were submitted as batch `batch`.
    Submitted {
        model: String,
        batch: String,
        calls: u64,
    },
    /// An earlier attempt of the run submitted batch `batch` with `calls` of this run's calls:
    /// the run waits for it again instead of submitting them twice.
    Resumed {
        model: String,
        batch: String,
        calls: u64,
    },
    /// The provider reported a new status or new counts for the batch.
    Status {
        model: String,
        batch: String,
        /// The provider's word (`validating`, `in_progress`, `finalizing`, `ended`...).
        status: String,
        /// Requests with a result, of `total`; `errored` of them without an answer.
        done: u64,
        total: u64,
        errored: u64,
    },
    /// The batch ended and its results were read and saved.
    Collected {
        model: String,
        batch: String,
        status: String,
        answered: u64,
        errored: u64,
    },
}

/// How one call ended, as its result says: errored outranks the checks, as in the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Passed,
    Failed,
    Errored,
}

impl CallOutcome {
    pub fn of(result: &CallResult) -> Self {
        if result.is_errored() {
            CallOutcome::Errored
        } else if result.passed {
            CallOutcome::Passed
        } else {
            CallOutcome::Failed
        }
    }
}
