//! What a run reports while it goes, so whoever started it can show progress without the
//! executor knowing how (a bar, log lines, nothing).

/// One step of a run, in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecEvent {
    /// A planned call has its result, graded or errored.
    CallDone { errored: bool },
    /// Every call has its result; not sent when the run is interrupted.
    Finished,
}
