//! What must never leak, and what is written down about every call:
//!
//! | what | where it is masked | how |
//! |---|---|---|
//! | API keys, `${ENV}` header values, the GitHub token | every error, log line, report and results file | [`secrets`]: a process-wide registry of known secret values, filled as they are read |
//! | `[redact]` PII and patterns | results, reports, the terminal and the log, after grading | [`redact::Redactor`], installed for the log by [`redact::set_log_redactor`] |
//!
//! [`pii`] holds the detectors that `[redact]` and the `no-pii` check share; [`audit`] appends
//! one line per model call.

pub mod audit;
pub mod pii;
pub mod redact;
pub mod secrets;
