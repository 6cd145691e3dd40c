//! What a run reports while it goes, so whoever started it can show progress without the
//! executor knowing how (a bar, log lines, nothing).

use crate::results::CallResult;

/// One step of a run, in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecEvent {
    /// The run starts with this many calls to make or replay (a re-run of the base branch in
    /// `evalgate ci` is a second run, with its own `Started`).
    Started { calls: u64 },
    /// A planned call has its result, graded or errored; `cached` when it was served from the
    /// response cache.
    CallDone { outcome: CallOutcome, cached: bool },
    /// Every call has its result; not sent when the run is interrupted.
    Finished,
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
