//! The `command` provider: anything that can be run as a program.
//!
//! Protocol: the program is started in the suite's folder with the configured arguments, gets
//! one JSON object on stdin — `{"model", "case_id", "messages": [{role, content}], "vars",
//! "params"}` — and prints the answer on stdout (UTF-8; one trailing newline is removed). A
//! non-zero exit is an error carrying the tail of stderr. The program is killed when the call's
//! timeout expires (the retry loop owns the timeout and drops this future, and the child is
//! spawned with `kill_on_drop`).

use serde_json::json;

use super::openai::build_error;
use super::*;

/// How much of stderr an error carries: enough to see a traceback's last lines.
const STDERR_TAIL_CHARS: usize = 2000;

#[derive(Debug)]
pub struct CommandProvider {
    argv: Vec<String>,
    cwd: PathBuf,
    model: String,
}

impl CommandProvider {
    pub fn new(config: &ProviderConfig) -> Result<Self, BuildError> {
        let spec = config
            .command
            .as_ref()
            .filter(|c| !c.argv.is_empty())
            .ok_or_else(|| build_error(config, "a command model needs `command`"))?;
        Ok(CommandProvider {
            argv: spec.argv.clone(),
            cwd: spec.cwd.clone(),
            model: config.model.clone(),
        })
    }

    fn program(&self) -> &str {
        &self.argv[0]
    }
}

impl Provider for CommandProvider {
    fn complete<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let input = json!({
                "model": self.model,
                "case_id": req.case_id,
                "messages": req.messages,
                "vars": req.vars,
                "params": req.params,
            });
            let mut input = serde_json::to_vec(&input)
                .map_err(|e| ProviderError::Command(format!("cannot encode the request: {e}")))?;
            input.push(b'\n');
            let output = crate::support::process::run_with_input(&self.argv, &self.cwd, &input)
                .await
                .map_err(|e| {
                    ProviderError::Command(format!("cannot start `{}`: {e}", self.program()))
                })?;
            if !output.status.success() {
                let status = match output.status.code() {
                    Some(code) => format!("exit code {code}"),
                    None => "a signal".to_owned(),
                };
                let stderr = tail(&String::from_utf8_lossy(&output.stderr));
                let detail = if stderr.is_empty() {
                    "no output on stderr".to_owned()
                } else {
                    format!("stderr ends: {stderr}")
                };
                return Err(ProviderError::Command(crate::privacy::secrets::scrub(
                    &format!("`{}` exited with {status}; {detail}", self.program()),
                )));
            }
            let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
            if text.ends_with('\n') {
                text.pop();
                if text.ends_with('\r') {
                    text.pop();
                }
            }
            Ok(Completion {
                tool_calls: Vec::new(),
                output: text,
                usage: Usage::default(),
                finish_reason: None,
                limits: Default::default(),
            })
        })
    }
}

/// The last [`STDERR_TAIL_CHARS`] characters of a program's stderr, trimmed.
fn tail(stderr: &str) -> String {
    let trimmed = stderr.trim();
    let count = trimmed.chars().count();
    if count <= STDERR_TAIL_CHARS {
        return trimmed.to_owned();
    }
    let rest: String = trimmed.chars().skip(count - STDERR_TAIL_CHARS).collect();
    format!("...{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(script: &str) -> CommandProvider {
        let config = ProviderConfig {
            model_id: "script".into(),
            kind: ProviderKind::Command,
            model: "script".into(),
            base_url: None,
            api_key: None,
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
            http: None,
            command: Some(CommandSpec {
                argv: vec!["sh".into(), "-c".into(), script.into()],
                cwd: PathBuf::from("."),
            }),
            end_user: None,
        };
        CommandProvider::new(&config).expect("build")
    }

    fn request() -> ChatRequest {
        ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content: "Capital of Norway?".into(),
                ..Default::default()
            }],
            params: CallParams::default(),
            vars: json!({"country": "Norway"}),
            case_id: "no".into(),
        }
    }

    #[tokio::test]
    async fn the_request_goes_to_stdin_and_stdout_is_the_answer() {
        // Echo the request back, so the test sees exactly what the program received.
        let completion = provider("cat")
            .complete(&request())
            .await
            .expect("completion");
        let sent: serde_json::Value =
            serde_json::from_str(&completion.output).expect("the request is one JSON line");
        assert_eq!(sent["case_id"], "no");
        assert_eq!(sent["vars"]["country"], "Norway");
        assert_eq!(sent["messages"][0]["content"], "Capital of Norway?");
        assert_eq!(sent["messages"][0]["role"], "user");
    }

    #[tokio::test]
    async fn one_trailing_newline_is_removed_and_invalid_utf8_is_replaced() {
        let completion = provider("cat >/dev/null; printf 'Oslo\\377\\n\\n'")
            .complete(&request())
            .await
            .expect("completion");
        assert_eq!(completion.output, "Oslo\u{fffd}\n");
    }

    #[tokio::test]
    async fn a_failing_program_is_an_error_with_the_stderr_tail() {
        let err = provider("cat >/dev/null; echo 'Traceback: boom' >&2; exit 3")
            .complete(&request())
            .await
            .expect_err("exit 3");
        assert_eq!(
            err.to_string(),
            "`sh` exited with exit code 3; stderr ends: Traceback: boom"
        );
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error_naming_it() {
        let mut p = provider("");
        p.argv = vec!["evalgate-no-such-program".into()];
        let err = p.complete(&request()).await.expect_err("missing");
        assert!(
            err.to_string()
                .starts_with("cannot start `evalgate-no-such-program`"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_program_that_ignores_its_input_still_answers() {
        let completion = provider("echo fixed")
            .complete(&request())
            .await
            .expect("completion");
        assert_eq!(completion.output, "fixed");
    }

    #[test]
    fn long_stderr_keeps_its_end() {
        let long = format!("{}END", "x".repeat(5000));
        let t = tail(&long);
        assert!(t.starts_with("...") && t.ends_with("END"));
        assert_eq!(t.chars().count(), STDERR_TAIL_CHARS + 3);
    }
}
