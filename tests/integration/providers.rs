//! End-to-end runs through the `anthropic`, `http` and `command` providers: the suite file's
//! settings reach the wire, answers come back graded, and the cache keys them apart.

use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fixtures::{SuiteDir, stderr};

async fn run(cmd: assert_cmd::Command) -> std::process::Output {
    let mut cmd = cmd;
    tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join")
}

const CASES: &str = r#"{"id": "fr", "vars": {"country": "France"}, "expected": "Paris"}
{"id": "pe", "vars": {"country": "Peru"}, "expected": "Lima"}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_suite_sends_the_key_header_and_records_cache_tokens() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", "sk-ant-api03-FAKEFAKEFAKE"))
        .and(header("anthropic-version", "2023-06-01"))
        .and(body_partial_json(json!({
            "system": "Answer with the city only.",
            "max_tokens": 50
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5",
            "content": [{"type": "text", "text": "Paris or Lima"}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 30, "output_tokens": 4}
        })))
        .expect(2)
        .mount(&server)
        .await;
    let suite = SuiteDir::new(&format!(
        r#"[suite]
name = "claude"

[models.claude]
provider = "anthropic"
model = "claude-haiku-4-5"
base_url = "{}"
max_tokens = 50
price = {{ input_per_mtok = 1.0, output_per_mtok = 5.0, cached_input_per_mtok = 0.1 }}

[prompts.city]
system = "Answer with the city only."
user = "Capital of {{{{ country }}}}?"

[datasets.caps]
file = "cases.jsonl"

[[checks]]
type = "contains"
value = "{{{{ expected }}}}"
"#,
        server.uri()
    ));
    suite.file("cases.jsonl", CASES);
    let mut cmd = suite.cmd();
    cmd.env("ANTHROPIC_API_KEY", "sk-ant-api03-FAKEFAKEFAKE")
        .args(["run", "--no-progress"]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let results = suite.results();
    assert_eq!(results["summary"]["passed"], 2);
    assert_eq!(results["summary"]["input_tokens"], 80);
    assert_eq!(results["summary"]["cached_input_tokens"], 60);
    // Per call: 10 uncached at $1, 30 cached at $0.10, 4 output at $5 per Mtok.
    let cost = results["results"][0]["cost_usd"].as_f64().expect("cost");
    assert!((cost - 0.000033).abs() < 1e-12, "{cost}");
    assert!(!suite.written().contains("FAKEFAKEFAKE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_suite_renders_its_body_and_caches_per_case() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/ask"))
        .and(header("authorization", "Token team-secret-123456"))
        .and(body_partial_json(
            json!({"country": "France", "temperature": 0.0}),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"result": {"answer": "Paris"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/ask"))
        .and(body_partial_json(json!({"country": "Peru"})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"result": {"answer": "Cusco"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let suite = SuiteDir::new(&format!(
        r#"[suite]
name = "ours"

[defaults]
temperature = 0

[models.ours]
provider = "http"
url = "{}/v2/ask"
headers = {{ authorization = "Token ${{EVALGATE_TEST_TEAM_TOKEN}}" }}
body = {{ country = "{{{{ country }}}}", chat = "{{{{ messages }}}}", temperature = "{{{{ params.temperature }}}}" }}
output_pointer = "/result/answer"

[prompts.city]
user = "Capital of {{{{ country }}}}?"

[datasets.caps]
file = "cases.jsonl"

[[checks]]
type = "equals"
value = "{{{{ expected }}}}"

[gate]
min_pass_rate = 0.4
"#,
        server.uri()
    ));
    suite.file("cases.jsonl", CASES);
    for _ in 0..2 {
        let mut cmd = suite.cmd();
        cmd.env("EVALGATE_TEST_TEAM_TOKEN", "team-secret-123456")
            .args(["run", "--no-progress"]);
        let output = run(cmd).await;
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}{}",
            stderr(&output),
            crate::fixtures::stdout(&output)
        );
    }
    let results = suite.results();
    assert_eq!(results["summary"]["passed"], 1);
    assert_eq!(results["summary"]["failed"], 1);
    assert_eq!(results["summary"]["cache_hits"], 2);
    assert_eq!(results["results"][1]["output"], "Cusco");
    assert!(!suite.written().contains("team-secret-123456"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_suite_answers_through_a_program_and_its_failures_are_errors() {
    let suite = SuiteDir::new(
        r#"[suite]
name = "script"

[defaults]
max_retries = 0

[models.script]
provider = "command"
command = ["sh", "answer.sh"]

[prompts.city]
user = "Capital of {{ country }}?"

[datasets.caps]
file = "cases.jsonl"

[[checks]]
type = "equals"
value = "{{ expected }}"

[gate]
max_error_rate = 0.5
"#,
    );
    suite.file("cases.jsonl", CASES);
    // Answers France from the request on stdin and fails on anything else.
    suite.file(
        "answer.sh",
        "if grep -q France; then echo Paris; else echo 'no idea about this one' >&2; exit 4; fi\n",
    );
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress"]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let results = suite.results();
    assert_eq!(results["results"][0]["output"], "Paris");
    assert_eq!(results["results"][0]["passed"], true);
    assert_eq!(results["summary"]["errored"], 1);
    let error = results["results"][1]["error"].as_str().expect("error");
    assert!(
        error.contains("exit code 4") && error.contains("no idea about this one"),
        "{error}"
    );
}

/// A prompt's `[[prompts.NAME.tools]]` reach the OpenAI wire as documented, the answer's
/// `tool_calls` are graded by `tool-call` checks and recorded in the results, the reports show
/// them as the output, and an offline re-run replays them from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_are_sent_graded_recorded_reported_and_replayed() {
    let server = MockServer::start().await;
    let answer = |city: &str| {
        let mut body = crate::fixtures::chat_completion("", 20, 5);
        body["choices"][0]["message"] = json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": format!("{{\"city\":\"{city}\"}}")}
            }],
            "refusal": null
        });
        body["choices"][0]["finish_reason"] = json!("tool_calls");
        body
    };
    let tools = json!({
        "tools": [{"type": "function", "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        }}],
        "tool_choice": "required"
    });
    for (country, city) in [("France", "Paris"), ("Peru", "Quito")] {
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(body_partial_json(tools.clone()))
            .and(body_partial_json(json!({"messages": [{"role": "user", "content": format!("Weather in the capital of {country}?")}]})))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer(city)))
            .expect(1)
            .mount(&server)
            .await;
    }
    let suite = SuiteDir::new(&format!(
        r#"[suite]
name = "tools"

[models.local]
provider = "openai-compatible"
base_url = "{}/v1"
model = "m"

[prompts.weather]
user = "Weather in the capital of {{{{ country }}}}?"
tool_choice = "required"

[[prompts.weather.tools]]
name = "get_weather"
description = "Current weather in a city"
parameters = {{ type = "object", properties = {{ city = {{ type = "string" }} }}, required = ["city"] }}

[datasets.caps]
file = "cases.jsonl"

[[checks]]
type = "tool-call"
name = "get_weather"
arguments = {{ city = "{{{{ expected }}}}" }}

[gate]
min_pass_rate = 0.9
"#,
        server.uri()
    ));
    suite.file("cases.jsonl", CASES);
    let mut cmd = suite.cmd();
    cmd.args([
        "run",
        "--no-progress",
        "--junit",
        "junit.xml",
        "--markdown",
        "report.md",
    ]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let results = suite.results();
    let first = &results["results"][0];
    assert_eq!(first["output"], "");
    assert_eq!(
        first["tool_calls"],
        json!([{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}])
    );
    assert_eq!(first["passed"], true);
    let second = &results["results"][1];
    assert_eq!(second["passed"], false);
    assert_eq!(
        second["checks"][0]["reason"],
        r#"called `get_weather` with {"city":"Quito"}, expected arguments {"city":"Lima"}"#
    );
    let junit = std::fs::read_to_string(suite.path().join("junit.xml")).expect("junit");
    // The failure body quotes the answer: here the call, as the output was empty.
    assert!(
        junit.contains("&gt; get_weather({\"city\":\"Quito\"})"),
        "{junit}"
    );
    let markdown = std::fs::read_to_string(suite.path().join("report.md")).expect("markdown");
    assert!(markdown.contains("get_weather("), "{markdown}");
    assert!(markdown.contains("Quito"), "{markdown}");

    // Offline: no server call (each mock expects exactly one), the same calls and grades.
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "--offline"]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let replayed = suite.results();
    assert_eq!(replayed["summary"]["cache_hits"], 2);
    assert_eq!(replayed["results"][0]["tool_calls"], first["tool_calls"]);
    assert_eq!(replayed["results"][1]["checks"], second["checks"]);
}

/// A case's `messages` go after the prompt's system message and before its `user` template, in
/// the chat-completions shape (the earlier call and its result included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_conversation_is_placed_between_the_prompt_system_and_user_messages() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"messages": [
            {"role": "system", "content": "You are a travel agent."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}
            }]},
            {"role": "tool", "content": "18C, sunny", "tool_call_id": "call_1"},
            {"role": "assistant", "content": "It is 18C and sunny."},
            {"role": "user", "content": "Should I pack an umbrella? Answer in French."}
        ]})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(crate::fixtures::chat_completion("Non.", 30, 2)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let suite = SuiteDir::new(&format!(
        r#"[suite]
name = "conversation"

[models.local]
provider = "openai-compatible"
base_url = "{}/v1"
model = "m"

[prompts.agent]
system = "You are a travel agent."
user = "{{{{ question }}}} Answer in French."

[datasets.chats]
file = "chats.jsonl"

[[checks]]
type = "equals"
value = "Non."
"#,
        server.uri()
    ));
    suite.file(
        "chats.jsonl",
        r#"{"id": "umbrella", "vars": {"question": "Should I pack an umbrella?"}, "messages": [{"role": "user", "content": "Weather in Paris?"}, {"role": "assistant", "tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}]}, {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"}, {"role": "assistant", "content": "It is 18C and sunny."}]}
"#,
    );
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress"]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let results = suite.results();
    assert_eq!(results["results"][0]["passed"], true);
    // The results keep the conversation as sent.
    assert_eq!(
        results["results"][0]["messages"][3]["tool_call_id"],
        "call_1"
    );
    assert_eq!(
        results["results"][0]["messages"].as_array().map(Vec::len),
        Some(6)
    );
}

/// OpenAI evals samples read as a dataset (`format = "openai-evals"`): `input` is the whole
/// conversation, sent as written under a prompt with no messages of its own, and `ideal` is the
/// case's `expected`, which a check reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_evals_samples_are_a_dataset_format() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"messages": [
            {"role": "system", "content": "Answer with the capital only."},
            {"role": "user", "content": "France?"}
        ]})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(crate::fixtures::chat_completion("Paris", 12, 1)),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"messages": [
            {"role": "user", "content": "Capital of Italy?"}
        ]})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(crate::fixtures::chat_completion("Milan", 12, 1)),
        )
        .mount(&server)
        .await;
    let suite = SuiteDir::new(&format!(
        r#"[suite]
name = "evals"

[models.local]
provider = "openai-compatible"
base_url = "{}/v1"
model = "m"

[prompts.sample]
messages = []

[datasets.capitals]
file = "samples.jsonl"
format = "openai-evals"

[[checks]]
type = "starts-with"
value = "{{{{ expected }}}}"
"#,
        server.uri()
    ));
    suite.file(
        "samples.jsonl",
        r#"{"input": [{"role": "system", "content": "Answer with the capital only."}, {"role": "user", "content": "France?"}], "ideal": "Paris"}
{"input": "Capital of Italy?", "ideal": "Rome", "topic": "europe"}
"#,
    );
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress"]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let results = suite.results();
    let rows = results["results"].as_array().expect("results");
    assert_eq!(rows.len(), 2);
    let by_output = |text: &str| {
        rows.iter()
            .find(|r| r["output"] == text)
            .unwrap_or_else(|| panic!("no answer {text}: {rows:?}"))
    };
    let paris = by_output("Paris");
    assert_eq!(paris["passed"], true);
    assert_eq!(paris["expected"], "Paris");
    let milan = by_output("Milan");
    assert_eq!(milan["passed"], false, "ideal is the expected answer");
    assert_eq!(milan["expected"], "Rome");
    // Keys other than input and ideal are the case's variables.
    assert_eq!(milan["vars"]["topic"], "europe");
}
