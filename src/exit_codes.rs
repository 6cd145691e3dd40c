//! Process exit codes. A regression is a different code from a broken setup, so CI can tell
//! "the prompt got worse" from "the gate could not run".

/// The gate passed (or a failure was accepted by an override).
pub const PASS: u8 = 0;
/// The gate failed: quality, cost or latency below the declared thresholds.
pub const GATE_FAILED: u8 = 1;
/// Bad usage or configuration: nothing was judged. Fix the command or the suite.
pub const USAGE: u8 = 2;
/// Infrastructure failure (provider unreachable, too many errored calls, a file that cannot be
/// written): the gate could not decide. Never reported as a pass or a regression.
pub const INFRA: u8 = 3;
/// Interrupted by Ctrl-C (SIGINT); the journal keeps every paid response for the next run.
/// 128 + 2, what a shell reports for a process killed by SIGINT.
pub const INTERRUPTED: u8 = 130;
/// Stopped by SIGTERM (`docker stop`, a cancelled CI job, Kubernetes), handled like Ctrl-C.
/// 128 + 15, what a shell reports for a process killed by SIGTERM: supervisors and CI runners
/// read it as "stopped on request", not as a failed gate or a crash.
pub const TERMINATED: u8 = 143;
