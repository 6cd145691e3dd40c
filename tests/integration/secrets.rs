//! A recognisable fake key never appears in any output, file or log, even when the provider
//! echoes it back in an error.

use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fixtures::{SuiteDir, chat_completion};

const KEY: &str = "sk-evalgate-FAKE-KEY-4b1d9c0e77a2";

fn suite(base_url: &str) -> SuiteDir {
    let toml = format!(
        r#"[suite]
name = "secret"

[defaults]
max_retries = 0

[models.hosted]
provider = "openai"
base_url = "{base_url}/v1"
model = "gpt-test"
api_key_env = "EVALGATE_TEST_KEY"

[prompts.p]
user = "{{{{ q }}}}"

[datasets.d]
cases = [{{ id = "a", vars = {{ q = "hello" }} }}, {{ id = "b", vars = {{ q = "bye" }} }}]

[[checks]]
type = "contains"
value = "ok"
"#
    );
    SuiteDir::new(&toml)
}

async fn run(suite: &SuiteDir) -> std::process::Output {
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "-vv"])
        .env("EVALGATE_TEST_KEY", KEY);
    tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join")
}

/// `run` with the key set, verbose, writing JUnit and markdown under `.evalgate/` too.
async fn run_with_reports(suite: &SuiteDir, extra: &[&str]) -> std::process::Output {
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "-vv"])
        .args(extra)
        .args(["--junit", ".evalgate/junit.xml"])
        .args(["--markdown", ".evalgate/report.md"])
        .env("EVALGATE_TEST_KEY", KEY);
    tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join")
}

fn assert_no_key(suite: &SuiteDir, output: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stdout.contains(KEY), "key in stdout");
    assert!(!stderr.contains(KEY), "key in stderr");
    assert!(
        !stderr.contains("4b1d9c0e77a2"),
        "part of the key in stderr"
    );
    let written = suite.written();
    assert!(!written.is_empty(), "evalgate wrote nothing to inspect");
    assert!(!written.contains(KEY), "key in a written file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_sent_but_never_written() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(chat_completion("ok", 3, 1)))
        .mount(&server)
        .await;
    let suite = suite(&server.uri());
    let output = run(&suite).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_no_key(&suite, &output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_echoed_in_an_error_body_is_redacted() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": {
                "message": format!("Incorrect API key provided: {KEY}. You can find your API key at https://platform.openai.com/account/api-keys."),
                "type": "invalid_request_error",
                "param": null,
                "code": "invalid_api_key"
            }
        })))
        .mount(&server)
        .await;
    let suite = suite(&server.uri());
    let output = run(&suite).await;
    assert_eq!(output.status.code(), Some(3));
    assert_no_key(&suite, &output);
    let results = suite.results();
    let error = results["results"][0]["error"].as_str().expect("error");
    assert!(
        error.contains("HTTP 401") && error.contains("Incorrect API key provided: ***"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_echoed_in_a_successful_answer_is_masked_everywhere() {
    let server = MockServer::start().await;
    // A proxy that helpfully repeats the request's credentials in the answer.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(chat_completion(
            &format!("ok, you sent Authorization: Bearer {KEY}"),
            3,
            1,
        )))
        .mount(&server)
        .await;
    let suite = suite(&server.uri());
    let output = run_with_reports(&suite, &[]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Results, journal, cache, JUnit and markdown all sit under .evalgate.
    assert_no_key(&suite, &output);
    let results = suite.results();
    assert_eq!(
        results["results"][0]["output"],
        "ok, you sent Authorization: Bearer ***"
    );
    let junit = std::fs::read_to_string(suite.path().join(".evalgate/junit.xml")).expect("junit");
    assert!(junit.contains("Bearer ***"), "{junit}");
}

/// A key echoed inside a tool call's arguments (parsed, or not JSON and kept raw) is masked on
/// arrival like one in the text: nothing written holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_echoed_in_tool_call_arguments_is_masked_everywhere() {
    let server = MockServer::start().await;
    let mut body = chat_completion("", 3, 1);
    body["choices"][0]["message"] = serde_json::json!({
        "role": "assistant",
        "content": null,
        "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "auth", "arguments": format!("{{\"token\": \"{KEY}\"}}")}},
            {"id": "call_2", "type": "function",
             "function": {"name": "auth", "arguments": format!("token={KEY}")}}
        ]
    });
    body["choices"][0]["finish_reason"] = serde_json::json!("tool_calls");
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let suite = suite(&server.uri());
    let output = run_with_reports(&suite, &[]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_no_key(&suite, &output);
    let results = suite.results();
    assert_eq!(
        results["results"][0]["tool_calls"][0]["arguments"],
        serde_json::json!({"token": "***"})
    );
    assert_eq!(
        results["results"][0]["tool_calls"][1]["raw_arguments"],
        "token=***"
    );
}

/// Personal data planted at every position of an answer (the start, the middle, the end, and
/// all around the 80-character cut of a reason) never reaches an artifact in the clear: not the
/// results, JUnit, markdown, stdout or the log. The cache keeps raw answers by design.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_personal_data_is_masked_in_every_artifact_at_every_position() {
    let server = crate::fixtures::echo_server().await;
    // The answer is "answer to " (10 characters) followed by the case's question.
    let planted = [
        ("alice.smith@example.com", "alice.smith"),
        ("4111 1111 1111 1111", "4111 1"),
        ("DE89370400440532013000", "DE893704"),
    ];
    let mut cases = String::new();
    for (i, (pii, _)) in planted.iter().enumerate() {
        for at in [10usize, 40, 60, 65, 68, 70, 72, 75, 78, 79, 80, 85, 120] {
            // A word, then a space: detectors look for whole words.
            let filler = if at > 10 {
                format!("{} ", "w".repeat(at - 11))
            } else {
                String::new()
            };
            let question = format!("{filler}{pii} and the rest");
            cases.push_str(&format!(
                "{{ id = \"p{i}-{at}\", vars = {{ q = \"{question}\" }} }},\n"
            ));
        }
    }
    let toml = format!(
        r#"[suite]
name = "planted"

[models.m]
provider = "openai-compatible"
base_url = "{}/v1"
model = "x"

[prompts.p]
user = "{{{{ q }}}}"

[datasets.d]
cases = [
{cases}]

[[checks]]
type = "contains"
value = "nowhere to be found"

[[checks]]
type = "is-json"

[[checks]]
type = "not-regex"
pattern = ".+"

[gate]
min_pass_rate = 0.5

[redact]
kinds = ["email", "card", "iban"]
"#,
        server.uri()
    );
    let suite = SuiteDir::new(&toml);
    let output = run_with_reports(&suite, &["--cache", "off"]).await;
    // Every case fails its checks: the gate fails (exit 1), nothing errored.
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results = suite.results();
    assert_eq!(results["summary"]["errored"], 0);
    let reason = results["results"][0]["checks"][0]["reason"]
        .as_str()
        .expect("reason");
    assert!(reason.contains("[REDACTED:"), "{reason}");
    let artifacts = [
        (
            "stdout",
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ),
        (
            "stderr",
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ),
        (
            "results",
            std::fs::read_to_string(suite.path().join(".evalgate/results.json")).expect("results"),
        ),
        (
            "junit",
            std::fs::read_to_string(suite.path().join(".evalgate/junit.xml")).expect("junit"),
        ),
        (
            "markdown",
            std::fs::read_to_string(suite.path().join(".evalgate/report.md")).expect("markdown"),
        ),
    ];
    for (name, text) in &artifacts {
        for (_, telltale) in &planted {
            if let Some(at) = text.find(telltale) {
                let from = text[..at]
                    .char_indices()
                    .rev()
                    .nth(150)
                    .map_or(0, |(i, _)| i);
                panic!(
                    "{telltale:?} in the {name}: …{}",
                    &text[from..at + telltale.len()]
                );
            }
        }
    }
}

/// What a server says reaches the log inert: a forged workflow command or escape sequence in an
/// error body is neither a line of its own nor raw in the CI log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_error_body_is_inert_in_the_log() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_json(serde_json::json!({
            "error": {
                "message": "boom\n::error::forged by the server\n##[warning]also forged \u{1b}[31mred\u{1b}]0;title\u{7}",
                "type": "server_error",
                "param": null,
                "code": null
            }
        })))
        .mount(&server)
        .await;
    let suite = suite(&server.uri());
    // One retry, so the error is logged (`retrying`, at debug level) as well as recorded.
    let toml = std::fs::read_to_string(suite.path().join("evalgate.toml")).expect("suite");
    suite.file(
        "evalgate.toml",
        &toml.replace("max_retries = 0", "max_retries = 1"),
    );
    let output = run(&suite).await;
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("forged by the server"),
        "the error is logged: {stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(!stderr.contains("##[warning]"), "{stderr}");
    for line in stderr.lines() {
        assert!(!line.trim_start().starts_with("::"), "{line}");
    }
}
