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
    let mut cmd = suite.cmd();
    cmd.args([
        "run",
        "--no-progress",
        "-vv",
        "--junit",
        ".evalgate/junit.xml",
        "--markdown",
        ".evalgate/report.md",
    ])
    .env("EVALGATE_TEST_KEY", KEY);
    let output = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
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
