//! The `command` check: a program of the team's own grades the output, in any language.
//!
//! It gets `{"output", "tool_calls", "vars", "expected", "messages"}` as JSON on stdin and prints
//! `{"score", "pass", "reason"}` on stdout. A program that crashes, exits non-zero, runs past its
//! timeout or prints something else makes the check *errored*, with the end of its stderr, so a
//! broken grader is never mistaken for a bad answer.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::{
    AsyncGrader, Caller, CheckConfigError, CheckInput, CheckSpec, CompileCtx, Grade, missing,
    unit_threshold,
};
use crate::provider::BoxFuture;

#[derive(Debug)]
struct CommandCheck {
    argv: Vec<String>,
    cwd: PathBuf,
    timeout: Duration,
    threshold: f64,
}

/// How much of the program's stderr an errored grade quotes.
const STDERR_TAIL: usize = 500;

pub(super) fn compile(
    spec: &CheckSpec,
    ctx: &mut CompileCtx<'_>,
) -> Result<Box<dyn AsyncGrader>, CheckConfigError> {
    let argv = match &spec.command {
        Some(argv) if argv.first().is_some_and(|p| !p.trim().is_empty()) => argv.clone(),
        Some(_) => {
            return Err(CheckConfigError {
                field: "command".into(),
                message: "`command` must be a non-empty list: the program, then its arguments"
                    .into(),
            });
        }
        None => return Err(missing("command", "command")),
    };
    let timeout_s = spec.timeout_s.unwrap_or(30.0);
    if !(timeout_s > 0.0 && timeout_s.is_finite() && timeout_s <= 86_400.0) {
        return Err(CheckConfigError {
            field: "timeout_s".into(),
            message: format!("`timeout_s` must be a positive number of seconds, found {timeout_s}"),
        });
    }
    let cwd = if ctx.base_dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        ctx.base_dir.to_path_buf()
    };
    // A program named by a path (not looked up in PATH) can be checked offline; a typo there is
    // the most common mistake.
    let program = std::path::Path::new(&argv[0]);
    if argv[0].contains('/') && !cwd.join(program).exists() {
        return Err(CheckConfigError {
            field: "command".into(),
            message: format!(
                "grader program `{}` does not exist (paths are relative to the suite file)",
                argv[0]
            ),
        });
    }
    Ok(Box::new(CommandCheck {
        argv,
        cwd,
        timeout: Duration::from_secs_f64(timeout_s),
        threshold: unit_threshold(spec, 0.5)?,
    }))
}

impl AsyncGrader for CommandCheck {
    fn grade<'a>(
        &'a self,
        input: &'a CheckInput<'a>,
        _caller: &'a dyn Caller,
    ) -> BoxFuture<'a, Grade> {
        Box::pin(async move {
            let payload = json!({
                "output": input.output,
                "tool_calls": input.tool_calls,
                "vars": input.vars,
                "expected": input.expected,
                "messages": input.messages,
            });
            let name = &self.argv[0];
            let payload = payload.to_string();
            let run =
                crate::support::process::run_with_input(&self.argv, &self.cwd, payload.as_bytes());
            let mut grade = match tokio::time::timeout(self.timeout, run).await {
                Err(_) => Grade::error(format!(
                    "grader `{name}` did not finish within {}s",
                    self.timeout.as_secs_f64()
                )),
                Ok(Err(e)) => Grade::error(format!("cannot run grader `{name}`: {e}")),
                Ok(Ok(output)) => self.read(input, &output),
            };
            // The program's stdout and stderr end up in the reason: it inherits the keys in the
            // environment and may print one.
            grade.reason = crate::privacy::secrets::scrub(&grade.reason);
            grade
        })
    }
}

impl CommandCheck {
    fn read(&self, input: &CheckInput<'_>, output: &std::process::Output) -> Grade {
        let name = &self.argv[0];
        // Masked before the tail is cut from it: half a key or e-mail would escape the masks.
        let tail = stderr_tail(
            input
                .mask(&String::from_utf8_lossy(&output.stderr))
                .as_bytes(),
        );
        let with_stderr = |message: String| {
            if tail.is_empty() {
                Grade::error(message)
            } else {
                Grade::error(format!("{message}; stderr: {tail}"))
            }
        };
        if !output.status.success() {
            let how = match output.status.code() {
                Some(code) => format!("exited with code {code}"),
                None => "was killed by a signal".to_owned(),
            };
            return with_stderr(format!("grader `{name}` {how}"));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let parsed: Value = match serde_json::from_str(stdout.trim()) {
            Ok(v) => v,
            Err(e) => {
                return with_stderr(format!(
                    "grader `{name}` printed {} instead of a JSON object: {e}",
                    input.quote(stdout.trim())
                ));
            }
        };
        match verdict(&parsed, self.threshold) {
            Ok(grade) => grade,
            Err(why) => with_stderr(format!("grader `{name}`: {why}")),
        }
    }
}

/// Reads `{score, pass, reason}`: `pass` defaults to `score >= threshold`, `score` to 1 or 0 by
/// `pass`; at least one is required.
fn verdict(value: &Value, threshold: f64) -> Result<Grade, String> {
    let Value::Object(map) = value else {
        return Err(format!("expected a JSON object, found {value}"));
    };
    let score = match map.get("score") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(s) if (0.0..=1.0).contains(&s) => Some(s),
            _ => return Err(format!("`score` must be between 0 and 1, found {n}")),
        },
        Some(other) => return Err(format!("`score` must be a number, found {other}")),
    };
    let pass = match map.get("pass") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => return Err(format!("`pass` must be true or false, found {other}")),
    };
    let reason = match map.get("reason") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    };
    let (score, passed) = match (score, pass) {
        (Some(s), Some(p)) => (s, p),
        (Some(s), None) => (s, s >= threshold),
        (None, Some(p)) => (if p { 1.0 } else { 0.0 }, p),
        (None, None) => return Err("the JSON has neither `score` nor `pass`".into()),
    };
    let reason = if reason.is_empty() {
        format!("grader scored {score}")
    } else {
        reason
    };
    Ok(Grade::scored(score, passed, reason))
}

/// The last [`STDERR_TAIL`] characters of stderr, on one line.
fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    let count = text.chars().count();
    let tail: String = text
        .chars()
        .skip(count.saturating_sub(STDERR_TAIL))
        .collect();
    let flat = tail.split_whitespace().collect::<Vec<_>>().join(" ");
    if count > STDERR_TAIL {
        format!("…{flat}")
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_defaults_pass_from_score_and_score_from_pass() {
        let g = verdict(&json!({"score": 0.7}), 0.5).expect("valid");
        assert!(g.passed && g.score == 0.7);
        let g = verdict(&json!({"pass": false, "reason": "rude"}), 0.5).expect("valid");
        assert!(!g.passed && g.score == 0.0 && g.reason == "rude");
        assert!(verdict(&json!({"reason": "x"}), 0.5).is_err());
        assert!(verdict(&json!({"score": 3}), 0.5).is_err());
        assert!(verdict(&json!({"pass": "yes"}), 0.5).is_err());
        assert!(verdict(&json!([1]), 0.5).is_err());
    }

    #[test]
    fn stderr_tail_keeps_the_end() {
        let long = format!("{}END", "x".repeat(1000));
        let tail = stderr_tail(long.as_bytes());
        assert!(tail.ends_with("END") && tail.starts_with('…'));
        assert_eq!(tail.chars().count(), STDERR_TAIL + 1);
    }
}
