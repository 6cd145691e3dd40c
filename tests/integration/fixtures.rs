//! Shared helpers: a temporary suite folder, the binary, and a fake OpenAI-compatible server that
//! answers from the request it received.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub struct SuiteDir {
    pub dir: tempfile::TempDir,
}

impl SuiteDir {
    pub fn new(toml: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("evalgate.toml"), toml).expect("write suite");
        SuiteDir { dir }
    }

    pub fn file(&self, name: &str, content: &str) -> &Self {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, content).expect("write file");
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `evalgate ARGS` run in the suite folder, with no provider keys in its environment.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("evalgate").expect("binary");
        cmd.current_dir(self.path())
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("RUST_LOG")
            .env_remove("EVALGATE_STATE_DIR")
            .env("NO_COLOR", "1");
        cmd
    }

    pub fn results(&self) -> Value {
        let text = std::fs::read_to_string(self.path().join(".evalgate/results.json"))
            .expect("results file");
        serde_json::from_str(&text).expect("results JSON")
    }

    /// Every file evalgate wrote under `.evalgate/`, concatenated.
    pub fn written(&self) -> String {
        let mut out = String::new();
        let mut stack = vec![self.path().join(".evalgate")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let p: PathBuf = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
                }
            }
        }
        out
    }
}

/// Answers a chat completion with the last user message reversed, so every request gets its own
/// answer and a replayed answer can be told from a fresh one.
pub struct Echo;

impl Respond for Echo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).expect("JSON request");
        let user = body["messages"]
            .as_array()
            .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
            .and_then(|m| m["content"].as_str())
            .unwrap_or("")
            .to_owned();
        ResponseTemplate::new(200).set_body_json(chat_completion(
            &format!("answer to {user}"),
            11,
            3,
        ))
    }
}

/// A chat completion body as the OpenAI API documents it.
pub fn chat_completion(content: &str, prompt_tokens: u64, completion_tokens: u64) -> Value {
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "test-model",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0}
        }
    })
}

pub async fn echo_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(Echo)
        .mount(&server)
        .await;
    server
}

/// A suite of `n` cases against an openai-compatible server at `base_url`, checked with
/// `contains "answer"` and, for the case ids listed in `fail`, a check that cannot pass.
pub fn echo_suite(base_url: &str, n: usize, extra: &str) -> SuiteDir {
    let toml = format!(
        r#"[suite]
name = "echo"

[defaults]
temperature = 0
max_retries = 0

[models.fake]
provider = "openai-compatible"
base_url = "{base_url}/v1"
model = "test-model"
price = {{ input_per_mtok = 1.0, output_per_mtok = 2.0 }}

[prompts.ask]
system = "You answer."
user = "{{{{ question }}}}"

[datasets.qs]
file = "cases.jsonl"

[[checks]]
type = "contains"
value = "answer to"
{extra}"#
    );
    let suite = SuiteDir::new(&toml);
    let rows: String = (0..n)
        .map(|i| format!("{{\"id\": \"q{i:03}\", \"vars\": {{\"question\": \"question {i}\"}}}}\n"))
        .collect();
    suite.file("cases.jsonl", &rows);
    suite
}

pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
