//! What a run reports while it goes, so whoever started it can show progress without the
//! executor knowing how (a bar, log lines, nothing).

/// One step of a run, in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecEvent {
    /// The run starts with this many calls to make or replay (a re-run of the base branch in
    /// `evalgate ci` is a second run, with its own `Started`).
    Started { calls: u64 },
    /// A planned call has its result, graded or errored.
    CallDone { errored: bool },
    /// Every call has its result; not sent when the run is interrupted.
    Finished,
}
