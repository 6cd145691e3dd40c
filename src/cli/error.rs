//! The edge's error type and the one exit-code policy. Every layer's error converts into
//! [`CliError`] with `From`, keeping its hint; [`exit_code`] is the only place that turns a
//! command's outcome into a process exit code.

use crate::config::ConfigErrors;
use crate::execute::Signal;
use crate::exit_codes;
use crate::results::Status;

/// What a command ended with, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did what was asked and judged nothing: reports written, a suite validated, a shard
    /// with no case, a fork's pull request left neutral.
    Done,
    /// The gate's verdict, after anything that may turn a failure into a pass (an accepted
    /// override, `fail_on`).
    Verdict(Status),
}

/// Everything that stops a command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// Bad usage: a flag, an input, a file the user named. Nothing was judged.
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// The gate could not run to the end: a service, the disk, the runtime.
    #[error("{message}")]
    Infra {
        message: String,
        hint: Option<String>,
    },
    /// Stopped by a signal (`message` says which); the hint says how to resume.
    #[error("{message}")]
    Interrupted {
        message: String,
        signal: Signal,
        hint: String,
    },
}

impl CliError {
    pub fn usage(message: impl Into<String>, hint: Option<&str>) -> Self {
        CliError::Usage {
            message: message.into(),
            hint: hint.map(str::to_owned),
        }
    }

    pub fn infra(message: impl Into<String>, hint: Option<&str>) -> Self {
        CliError::Infra {
            message: message.into(),
            hint: hint.map(str::to_owned),
        }
    }

    pub fn hint(&self) -> Option<&str> {
        match self {
            CliError::Usage { hint, .. } | CliError::Infra { hint, .. } => hint.as_deref(),
            CliError::Interrupted { hint, .. } => Some(hint),
            CliError::Config(_) => None,
        }
    }
}

/// The process exit code of a command's result (DESIGN.md §4): 0 passed or nothing to judge,
/// 1 the gate failed, 2 usage or configuration, 3 infrastructure (never a pass, never a
/// regression), 130 interrupted by Ctrl-C, 143 stopped by SIGTERM.
pub fn exit_code(result: &Result<Outcome, CliError>) -> u8 {
    match result {
        Ok(Outcome::Done | Outcome::Verdict(Status::Pass)) => exit_codes::PASS,
        Ok(Outcome::Verdict(Status::Fail)) => exit_codes::GATE_FAILED,
        Ok(Outcome::Verdict(Status::Error)) => exit_codes::INFRA,
        Err(CliError::Config(_) | CliError::Usage { .. }) => exit_codes::USAGE,
        Err(CliError::Infra { .. }) => exit_codes::INFRA,
        Err(CliError::Interrupted {
            signal: Signal::Interrupt,
            ..
        }) => exit_codes::INTERRUPTED,
        Err(CliError::Interrupted {
            signal: Signal::Terminate,
            ..
        }) => exit_codes::TERMINATED,
    }
}

impl From<crate::results::file::ResultsFileError> for CliError {
    fn from(e: crate::results::file::ResultsFileError) -> Self {
        let hint = e.hint();
        if e.is_write() {
            CliError::infra(e.to_string(), hint)
        } else {
            CliError::usage(e.to_string(), hint)
        }
    }
}

impl From<crate::pipeline::RunError> for CliError {
    fn from(e: crate::pipeline::RunError) -> Self {
        use crate::pipeline::RunError;
        let hint = e.hint();
        match e {
            RunError::Interrupted { signal, .. } => CliError::Interrupted {
                message: e.to_string(),
                signal,
                hint: hint.unwrap_or_default(),
            },
            e if e.is_usage() => CliError::Usage {
                message: e.to_string(),
                hint,
            },
            e => CliError::Infra {
                message: e.to_string(),
                hint,
            },
        }
    }
}

impl From<crate::compare::cells::CellsError> for CliError {
    fn from(e: crate::compare::cells::CellsError) -> Self {
        match e {
            crate::compare::cells::CellsError::Read(e) => (*e).into(),
            e => CliError::usage(e.to_string(), Some(e.hint())),
        }
    }
}

impl From<crate::merge::MergeError> for CliError {
    fn from(e: crate::merge::MergeError) -> Self {
        match e {
            crate::merge::MergeError::Read(e) => (*e).into(),
            e @ crate::merge::MergeError::Spool(_) => {
                CliError::infra(e.to_string(), Some(e.hint()))
            }
            e => CliError::usage(e.to_string(), Some(e.hint())),
        }
    }
}

impl From<crate::github::GitHubError> for CliError {
    fn from(e: crate::github::GitHubError) -> Self {
        CliError::Infra {
            hint: e.hint(),
            message: e.to_string(),
        }
    }
}

impl From<crate::ci::CiError> for CliError {
    fn from(e: crate::ci::CiError) -> Self {
        use crate::ci::CiError;
        match e {
            CiError::Config(e) => CliError::Config(e),
            CiError::Results(e) => e.into(),
            CiError::Run(crate::pipeline::RunError::Interrupted { signal, .. })
            | CiError::Interrupted(signal) => CliError::Interrupted {
                hint: e.hint().unwrap_or_default(),
                message: e.to_string(),
                signal,
            },
            CiError::Run(e) => e.into(),
            CiError::GitHub(e) => e.into(),
            CiError::Usage { message, hint } => CliError::Usage { message, hint },
            CiError::Infra { message, hint } => CliError::Infra { message, hint },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_policy_maps_every_outcome() {
        assert_eq!(exit_code(&Ok(Outcome::Done)), exit_codes::PASS);
        assert_eq!(
            exit_code(&Ok(Outcome::Verdict(Status::Pass))),
            exit_codes::PASS
        );
        assert_eq!(
            exit_code(&Ok(Outcome::Verdict(Status::Fail))),
            exit_codes::GATE_FAILED
        );
        // An outage is never a pass and never a regression.
        assert_eq!(
            exit_code(&Ok(Outcome::Verdict(Status::Error))),
            exit_codes::INFRA
        );
        assert_eq!(
            exit_code(&Err(CliError::usage("bad flag", None))),
            exit_codes::USAGE
        );
        assert_eq!(
            exit_code(&Err(CliError::Config(ConfigErrors::default()))),
            exit_codes::USAGE
        );
        assert_eq!(
            exit_code(&Err(CliError::infra("disk full", None))),
            exit_codes::INFRA
        );
        assert_eq!(
            exit_code(&Err(CliError::Interrupted {
                message: "interrupted".into(),
                signal: Signal::Interrupt,
                hint: String::new()
            })),
            exit_codes::INTERRUPTED
        );
        assert_eq!(
            exit_code(&Err(CliError::Interrupted {
                message: "terminated by SIGTERM".into(),
                signal: Signal::Terminate,
                hint: String::new()
            })),
            exit_codes::TERMINATED
        );
    }

    #[test]
    fn run_errors_keep_their_class_and_hint() {
        use crate::pipeline::RunError;
        let err: CliError = RunError::NoCaseMatches {
            filters: vec!["x".into()],
        }
        .into();
        assert!(matches!(err, CliError::Usage { .. }));
        assert_eq!(err.to_string(), "no case matches --filter x");
        assert!(err.hint().is_some_and(|h| h.contains("substring")));
        let err: CliError = RunError::Interrupted {
            journal: "j.jsonl".into(),
            signal: Signal::Interrupt,
        }
        .into();
        assert_eq!(err.to_string(), "interrupted");
        assert_eq!(exit_code(&Err(err)), exit_codes::INTERRUPTED);
        let err: CliError = RunError::Interrupted {
            journal: "j.jsonl".into(),
            signal: Signal::Terminate,
        }
        .into();
        assert_eq!(err.to_string(), "terminated by SIGTERM");
        assert!(err.hint().is_some_and(|h| h.contains("j.jsonl")));
        assert_eq!(exit_code(&Err(err)), exit_codes::TERMINATED);
    }
}
