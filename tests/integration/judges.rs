//! Model-graded checks end to end: judges and embeddings on fake servers, the audit log, and
//! redaction, through the `evalgate` binary.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::fixtures::{SuiteDir, chat_completion, echo_server, stderr, stdout};

async fn run(suite: &SuiteDir) -> std::process::Output {
    let mut cmd = suite.cmd();
    // A guard against a hang (e.g. a deadlock between graded and judge calls), not a timing
    // assertion: the runs here take well under a second.
    cmd.timeout(std::time::Duration::from_secs(120));
    cmd.args(["run", "--no-progress"])
        .env_remove("EVALGATE_ACTOR")
        .env_remove("EVALGATE_RUN_ID")
        .env_remove("EVALGATE_WORKFLOW")
        .env_remove("EVALGATE_REF")
        .env("GITHUB_ACTOR", "octocat")
        .env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_WORKFLOW", "evals")
        .env("GITHUB_REF", "refs/pull/7/merge");
    tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join")
}

/// The audit log's lines, parsed.
fn audit(suite: &SuiteDir) -> Vec<Value> {
    std::fs::read_to_string(suite.path().join(".evalgate/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// A judge server that answers every request with `answer`.
async fn judge_server(answer: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(chat_completion(answer, 100, 10)))
        .mount(&server)
        .await;
    server
}

fn judged_suite(model_url: &str, judge_url: &str) -> SuiteDir {
    SuiteDir::new(&format!(
        r#"[suite]
name = "judged"

[defaults]
temperature = 0
max_retries = 0

[models.fake]
provider = "openai-compatible"
base_url = "{model_url}/v1"
model = "test-model"
price = {{ input_per_mtok = 1.0, output_per_mtok = 2.0 }}

[models.judge]
provider = "openai-compatible"
base_url = "{judge_url}/v1"
model = "judge-model"
grader_only = true
price = {{ input_per_mtok = 10.0, output_per_mtok = 20.0 }}

[prompts.ask]
user = "{{{{ question }}}}"

[datasets.qs]
cases = [{{ id = "a", vars = {{ question = "q1" }} }}, {{ id = "b", vars = {{ question = "q2" }} }}]

[[checks]]
type = "llm-judge"
judge = "judge"
rubric = "The answer addresses {{{{ question }}}}."
scale = "1-5"
threshold = 0.75
metric = "quality"

[audit]
cost_center = "ml-platform"
"#
    ))
}

/// Runs the judged suite with a judge that always answers `answer`.
async fn judged(answer: &str) -> (SuiteDir, std::process::Output, MockServer, MockServer) {
    let model = echo_server().await;
    let judge = judge_server(answer).await;
    let suite = judged_suite(&model.uri(), &judge.uri());
    let output = run(&suite).await;
    (suite, output, model, judge)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_judge_answering_json_grades_every_case_and_is_counted_apart() {
    let (suite, output, model, judge) =
        judged(r#"{"score": 4, "reason": "It addresses the question."}"#).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let results = suite.results();
    let check = &results["results"][0]["checks"][0];
    assert_eq!(check["type"], "llm-judge");
    assert_eq!(check["score"], 0.75);
    assert_eq!(check["passed"], true);
    // The judge prompt is kept: rubric rendered for the case, the conversation and the output.
    let prompt = check["judge"]["prompt"][1]["content"]
        .as_str()
        .expect("prompt");
    assert!(prompt.contains("The answer addresses q1."), "{prompt}");
    assert!(
        prompt.contains("<answer>\nanswer to q1\n</answer>"),
        "{prompt}"
    );
    assert_eq!(check["judge"]["samples"][0]["score"], 4.0);

    // Two graded calls and two judge calls; judge usage apart, and inside the run's cost.
    assert_eq!(model.received_requests().await.map(|r| r.len()), Some(2));
    assert_eq!(judge.received_requests().await.map(|r| r.len()), Some(2));
    let summary = &results["summary"];
    assert_eq!(summary["judge"]["calls"], 2);
    assert_eq!(summary["judge"]["input_tokens"], 200);
    let judge_cost = summary["judge"]["cost_usd"].as_f64().expect("judge cost");
    assert!((judge_cost - 2.0 * 0.0012).abs() < 1e-12, "{judge_cost}");
    let cost = summary["cost_usd"].as_f64().expect("cost");
    assert!(
        (cost - (judge_cost + 2.0 * 0.000017)).abs() < 1e-12,
        "{cost}"
    );
    assert_eq!(results["results"][0]["judge"]["calls"], 1);
    assert_eq!(results["metrics"]["quality"]["mean"], 1.0);
    assert!(
        stdout(&output).contains("Judges 2 calls"),
        "{}",
        stdout(&output)
    );

    // One audit line per call made, judge calls included.
    let lines = audit(&suite);
    assert_eq!(lines.len(), 4);
    let purposes: Vec<&str> = lines.iter().filter_map(|l| l["purpose"].as_str()).collect();
    assert_eq!(purposes.iter().filter(|p| **p == "eval").count(), 2);
    assert_eq!(purposes.iter().filter(|p| **p == "judge").count(), 2);
    let judge_line = lines
        .iter()
        .find(|l| l["purpose"] == "judge" && l["case"] == "a")
        .expect("judge line");
    for (field, want) in [
        ("suite", json!("judged")),
        ("cell", json!("ask/fake")),
        ("repeat", json!(0)),
        ("sample", json!(0)),
        ("model", json!("judge")),
        ("provider", json!("openai-compatible")),
        ("model_name", json!("judge-model")),
        ("input_tokens", json!(100)),
        ("output_tokens", json!(10)),
        ("status", json!("ok")),
        ("attempts", json!(1)),
        ("cache_hit", json!(false)),
        ("source", json!("provider")),
        ("actor", json!("octocat")),
        ("run_id", json!("4242")),
        ("workflow", json!("evals")),
        ("ref", json!("refs/pull/7/merge")),
        ("cost_center", json!("ml-platform")),
    ] {
        assert_eq!(judge_line[field], want, "{field} in {judge_line}");
    }
    assert_eq!(
        judge_line["request_hash"].as_str().map(str::len),
        Some(64),
        "a sha-256 hash, not the request"
    );
    assert!(
        judge_line["time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_replays_judges_from_the_cache_and_marks_them() {
    let (suite, output, model, judge) = judged(r#"{"score": 5, "reason": "ok"}"#).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let again = run(&suite).await;
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(model.received_requests().await.map(|r| r.len()), Some(2));
    assert_eq!(judge.received_requests().await.map(|r| r.len()), Some(2));
    let lines = audit(&suite);
    assert_eq!(lines.len(), 8, "appended, never truncated");
    assert!(
        lines[4..]
            .iter()
            .all(|l| l["cache_hit"] == true && l["attempts"] == 0)
    );
    let summary = &suite.results()["summary"];
    assert_eq!(summary["judge"]["cache_hits"], 2);
    assert_eq!(summary["spent_usd"], 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn judges_replay_offline_from_the_cache_without_any_server() {
    let (suite, output, model, judge) = judged(r#"{"score": 5, "reason": "ok"}"#).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    drop((model, judge));
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "--offline"]);
    let offline = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert_eq!(offline.status.code(), Some(0), "{}", stderr(&offline));
    let results = suite.results();
    assert_eq!(results["summary"]["passed"], 2);
    assert_eq!(results["summary"]["judge"]["cache_hits"], 2);
    assert_eq!(
        results["results"][0]["checks"][0]["judge"]["samples"][0]["cached"],
        true
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fenced_json_and_a_bare_score_line_are_understood() {
    for answer in [
        "```json\n{\"score\": 5, \"reason\": \"good\"}\n```",
        "Score: 4",
    ] {
        let (suite, output, _, _) = judged(answer).await;
        assert_eq!(
            output.status.code(),
            Some(0),
            "{answer}: {}",
            stderr(&output)
        );
        let check = &suite.results()["results"][1]["checks"][0];
        assert_eq!(check["passed"], true, "{answer}: {check}");
        assert!(check.get("errored").is_none(), "{check}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_or_refusing_judge_errors_the_case_not_fails_it() {
    for answer in [
        "The answer seems fine overall.",
        "I'm sorry, but I can't help with grading this.",
    ] {
        let (suite, output, _, _) = judged(answer).await;
        // Errored calls are infrastructure, not quality: exit 3 with the default error budget.
        assert_eq!(
            output.status.code(),
            Some(3),
            "{answer}: {}",
            stderr(&output)
        );
        let results = suite.results();
        assert_eq!(results["summary"]["errored"], 2);
        assert_eq!(results["summary"]["failed"], 0);
        let call = &results["results"][0];
        assert!(
            call["error"]
                .as_str()
                .is_some_and(|e| e.contains("check `llm-judge` could not run: cannot read a score")),
            "{call}"
        );
        assert_eq!(call["checks"][0]["errored"], true);
        assert_eq!(call["checks"][0]["judge"]["samples"][0]["output"], answer);
        assert_eq!(audit(&suite).len(), 4);
    }
}

/// Embeds by content: texts about "q1" or "first" point one way, everything else the other.
struct Embedder;

impl Respond for Embedder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).expect("JSON request");
        let text = body["input"][0].as_str().unwrap_or_default();
        let vector = if text.contains("q1") || text.contains("first") {
            json!([0.6, 0.8, 0.0])
        } else {
            json!([0.0, 0.0, 1.0])
        };
        // The documented response of POST /v1/embeddings.
        ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": vector}],
            "model": body["model"],
            "usage": {"prompt_tokens": 5, "total_tokens": 5}
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn similar_embeds_output_and_reference_and_compares_them() {
    let model = echo_server().await;
    let embeddings = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(Embedder)
        .mount(&embeddings)
        .await;
    let suite = SuiteDir::new(&format!(
        r#"[suite]
name = "embedded"

[defaults]
max_retries = 0

[models.fake]
provider = "openai-compatible"
base_url = "{}/v1"
model = "test-model"

[models.embed]
provider = "openai-compatible"
base_url = "{}/v1"
model = "text-embedding-3-small"
grader_only = true
price = {{ input_per_mtok = 0.02, output_per_mtok = 0 }}

[prompts.ask]
user = "{{{{ question }}}}"

[datasets.qs]
cases = [
  {{ id = "a", vars = {{ question = "q1" }}, expected = "the first one" }},
  {{ id = "b", vars = {{ question = "q2" }}, expected = "the first one, again" }},
]

[[checks]]
type = "similar"
model = "embed"
value = "{{{{ expected }}}}"
threshold = 0.9
"#,
        model.uri(),
        embeddings.uri()
    ));
    let output = run(&suite).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let results = suite.results();
    let a = &results["results"][0]["checks"][0];
    let b = &results["results"][1]["checks"][0];
    assert_eq!(
        (a["passed"].clone(), a["score"].clone()),
        (json!(true), json!(1.0)),
        "{a}"
    );
    assert_eq!(
        (b["passed"].clone(), b["score"].clone()),
        (json!(false), json!(0.0)),
        "{b}"
    );
    assert!(
        a["reason"]
            .as_str()
            .is_some_and(|r| r.contains("cosine similarity 1.000"))
    );

    let requests = embeddings.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 4, "output and reference, for two cases");
    let body: Value = serde_json::from_slice(&requests[0].body).expect("JSON");
    assert_eq!(body["model"], "text-embedding-3-small");
    assert_eq!(body["encoding_format"], "float");
    assert!(body["input"].as_array().is_some_and(|i| i.len() == 1));
    assert_eq!(results["summary"]["judge"]["calls"], 4);
    assert_eq!(results["summary"]["judge"]["input_tokens"], 20);
    let lines = audit(&suite);
    assert_eq!(lines.len(), 6);
    assert_eq!(
        lines.iter().filter(|l| l["purpose"] == "embedding").count(),
        4
    );

    // Replayed from the cache the second time: no new embedding request.
    assert_eq!(run(&suite).await.status.code(), Some(0));
    assert_eq!(
        embeddings.received_requests().await.map(|r| r.len()),
        Some(4)
    );
}

const KEY: &str = "sk-evalgate-FAKE-JUDGE-KEY-7c3e9a51d2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_never_reaches_the_audit_log_even_when_a_judge_echoes_it() {
    let model = echo_server().await;
    let judge = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {
                "message": format!("Incorrect API key provided: {KEY}."),
                "type": "invalid_request_error",
                "param": null,
                "code": "invalid_api_key"
            }
        })))
        .mount(&judge)
        .await;
    let suite = SuiteDir::new(&format!(
        r#"[suite]
name = "keyed"

[defaults]
max_retries = 0

[models.fake]
provider = "openai-compatible"
base_url = "{}/v1"
model = "test-model"
api_key_env = "EVALGATE_TEST_KEY"

[models.judge]
provider = "openai"
base_url = "{}/v1"
model = "gpt-judge"
api_key_env = "EVALGATE_TEST_KEY"
grader_only = true

[prompts.ask]
user = "{{{{ question }}}}"

[datasets.qs]
cases = [{{ id = "a", vars = {{ question = "q1" }} }}]

[[checks]]
type = "llm-judge"
judge = "judge"
rubric = "Helpful."
"#,
        model.uri(),
        judge.uri()
    ));
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "-vv"])
        .env("EVALGATE_TEST_KEY", KEY);
    let output = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    // The key was sent to both models...
    let sent = judge.received_requests().await.expect("recorded");
    assert_eq!(
        sent[0]
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some(format!("Bearer {KEY}").as_str())
    );
    // ...and is written nowhere, the audit log included.
    let log = std::fs::read_to_string(suite.path().join(".evalgate/audit.jsonl")).expect("audit");
    assert_eq!(log.lines().count(), 2);
    assert!(!log.contains(KEY) && !log.contains("7c3e9a51d2"), "{log}");
    assert!(log.contains("Incorrect API key provided: ***"), "{log}");
    for text in [stdout(&output), stderr(&output), suite.written()] {
        assert!(!text.contains(KEY));
    }
}

/// Answers every chat call with a text holding an e-mail address and an account number.
async fn leaky_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(chat_completion(
            "Write to ana.lopez@example.com about ACCT-5521.",
            5,
            5,
        )))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redaction_masks_results_reports_and_logs_but_not_grading() {
    let server = leaky_server().await;
    let suite = SuiteDir::new(&format!(
        r#"[suite]
name = "redacted"

[models.fake]
provider = "openai-compatible"
base_url = "{}/v1"
model = "test-model"

[prompts.ask]
user = "My account is ACCT-{{{{ n }}}}, mail me at {{{{ mail }}}}"

[datasets.qs]
cases = [{{ id = "a", vars = {{ n = "7781", mail = "bo@example.org" }} }}]

[[checks]]
type = "contains"
value = "ana.lopez@example.com"

[[checks]]
type = "no-pii"
kinds = ["email"]

[redact]
kinds = ["email"]
patterns = ['ACCT-\d+']
"#,
        server.uri()
    ));
    let output = run(&suite).await;
    // The no-pii check saw the raw address and failed: the gate has no floor, so exit 0.
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let results = suite.results();
    let call = &results["results"][0];
    assert_eq!(
        call["checks"][0]["passed"], true,
        "contains saw the raw text"
    );
    assert_eq!(
        call["checks"][1]["passed"], false,
        "no-pii saw the raw text"
    );
    assert_eq!(
        call["output"],
        "Write to [REDACTED:email] about [REDACTED]."
    );
    assert_eq!(
        call["messages"][0]["content"],
        "My account is [REDACTED], mail me at [REDACTED:email]"
    );
    assert_eq!(call["vars"]["mail"], "[REDACTED:email]");
    assert_eq!(
        results["run"]["redacted"],
        json!(["email", r"pattern:ACCT-\d+"])
    );
    let shown = format!(
        "{}{}{}",
        stdout(&output),
        stderr(&output),
        std::fs::read_to_string(suite.path().join(".evalgate/results.json")).expect("results")
    );
    for secret in [
        "ana.lopez@example.com",
        "bo@example.org",
        "ACCT-5521",
        "ACCT-7781",
    ] {
        assert!(!shown.contains(secret), "{secret} leaked");
    }
    let log = std::fs::read_to_string(suite.path().join(".evalgate/audit.jsonl")).expect("audit");
    assert!(!log.contains("example.") && !log.contains("ACCT-"), "{log}");
}

// Configuration errors of the new checks, as `evalgate validate` reports them.

const BASE: &str = r#"[suite]
name = "t"

[models.m]
provider = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
model = "x"

[models.judge]
provider = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
model = "j"
grader_only = true

[prompts.p]
user = "{{ question }}"

[datasets.d]
cases = [{ id = "a", vars = { question = "q?" } }]
"#;

fn invalid(extra: &str) -> String {
    let suite = SuiteDir::new(&format!("{BASE}\n{extra}"));
    let output = suite.cmd().arg("validate").output().expect("run");
    assert_eq!(output.status.code(), Some(2), "stderr: {}", stderr(&output));
    stderr(&output)
}

#[test]
fn a_judge_check_without_a_rubric_is_a_config_error() {
    insta::assert_snapshot!(invalid(
        "[[checks]]\ntype = \"llm-judge\"\njudge = \"judge\"\n"
    ));
}

#[test]
fn an_unknown_judge_suggests_the_nearest_model() {
    insta::assert_snapshot!(invalid(
        "[[checks]]\ntype = \"llm-judge\"\njudge = \"jugde\"\nrubric = \"Polite.\"\n"
    ));
}

#[test]
fn similar_on_a_model_without_embeddings_is_a_config_error() {
    let err = invalid(
        "[models.c]\nprovider = \"command\"\ncommand = [\"true\"]\ngrader_only = true\n\n[[checks]]\ntype = \"similar\"\nmodel = \"c\"\nvalue = \"x\"\n",
    );
    assert!(
        err.contains("`checks[0].model`: model `c` is `provider = \"command\"`"),
        "{err}"
    );
}

#[test]
fn unknown_pii_kinds_and_bad_patterns_are_config_errors() {
    insta::assert_snapshot!(invalid(
        "[[checks]]\ntype = \"no-pii\"\nkinds = [\"email\", \"phnoe\"]\n\n[redact]\nkinds = [\"cards\"]\npatterns = [\"(unclosed\"]\n"
    ));
}

#[test]
fn a_command_check_needs_a_program() {
    let err = invalid("[[checks]]\ntype = \"command\"\ncommand = []\n");
    assert!(
        err.contains("`checks[0].command`: `command` must be a non-empty list"),
        "{err}"
    );
}

#[test]
fn valid_model_graded_checks_pass_validation_offline() {
    let suite = SuiteDir::new(&format!(
        "{BASE}\n[[checks]]\ntype = \"llm-judge\"\njudge = \"judge\"\nrubric = \"Polite.\"\nscale = \"0-1\"\nsamples = 3\n\n[[checks]]\ntype = \"refusal\"\n\n[audit]\npath = \"logs/audit.jsonl\"\ncost_center = \"cc-1\"\n\n[redact]\nkinds = [\"all\"]\n"
    ));
    let output = suite.cmd().arg("validate").output().expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // The grader-only judge is not a cell.
    assert!(
        stdout(&output).contains("2 models (1 only grading), 1 prompt, 1 case, 1 cell"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_errors_quoting_personal_data_are_redacted_in_logs() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(500)
                .insert_header("retry-after-ms", "1")
                .set_body_json(json!({"error": {"message": "upstream rejected ana.lopez@example.com", "type": "server_error"}})),
        )
        .mount(&server)
        .await;
    let suite = SuiteDir::new(&format!(
        r#"[suite]
name = "logged"

[defaults]
max_retries = 1

[models.fake]
provider = "openai-compatible"
base_url = "{}/v1"
model = "test-model"

[prompts.ask]
user = "hi"

[datasets.qs]
cases = [{{ id = "a", vars = {{}} }}]

[[checks]]
type = "contains"
value = "x"

[redact]
kinds = ["email"]
"#,
        server.uri()
    ));
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "-vv"]);
    let output = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let err = stderr(&output);
    // The retry was logged, with the address masked.
    assert!(
        err.contains("retrying") && err.contains("upstream rejected [REDACTED:email]"),
        "{err}"
    );
    let written = suite.written();
    for text in [err, stdout(&output), written] {
        assert!(!text.contains("ana.lopez@example.com"), "{text}");
    }
    let log = std::fs::read_to_string(suite.path().join(".evalgate/audit.jsonl")).expect("audit");
    assert!(
        log.contains(r#""status":"error""#) && log.contains(r#""attempts":2"#),
        "{log}"
    );
}

/// Answers judge prompts with a score and everything else with an echo, so one model can be
/// both the graded model and its own judge.
struct SelfJudge;

impl Respond for SelfJudge {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).expect("JSON request");
        let user = body["messages"]
            .as_array()
            .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default();
        let answer = if user.starts_with("<rubric>") {
            r#"{"score": 1, "reason": "fine"}"#.to_owned()
        } else {
            format!("answer to {user}")
        };
        ResponseTemplate::new(200).set_body_json(chat_completion(&answer, 3, 1))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_judges_its_own_answers_with_one_slot_does_not_deadlock() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(SelfJudge)
        .mount(&server)
        .await;
    let cases: Vec<String> = (0..6)
        .map(|i| format!("{{ id = \"c{i}\", vars = {{ question = \"q{i}\" }} }}"))
        .collect();
    let suite = SuiteDir::new(&format!(
        r#"[suite]
name = "self"

[defaults]
max_retries = 0

[models.solo]
provider = "openai-compatible"
base_url = "{}/v1"
model = "test-model"
concurrency = 1

[prompts.ask]
user = "{{{{ question }}}}"

[datasets.qs]
cases = [{}]

[[checks]]
type = "llm-judge"
judge = "solo"
rubric = "Answers the question."
samples = 2
"#,
        server.uri(),
        cases.join(", ")
    ));
    let output = run(&suite).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "killed after hanging, or failed: {}",
        stderr(&output)
    );
    let results = suite.results();
    assert_eq!(results["summary"]["passed"], 6);
    assert_eq!(results["summary"]["judge"]["calls"], 12);
    // 6 graded calls and 2 samples each.
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(18));
    assert_eq!(audit(&suite).len(), 18);
}

#[test]
fn a_suite_of_only_grader_models_is_a_config_error() {
    let toml = BASE.replace(
        "[models.m]\nprovider = \"openai-compatible\"",
        "[models.m]\ngrader_only = true\nprovider = \"openai-compatible\"",
    );
    let suite = SuiteDir::new(&format!("{toml}\n[[checks]]\ntype = \"refusal\"\n"));
    let output = suite.cmd().arg("validate").output().expect("run");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("every model is `grader_only`: nothing to evaluate"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_graders_run_in_bounded_numbers() {
    // 80 cases of a model with concurrency 2: graders may overlap, but never more than the run's
    // in-flight bound (32 here), however fast the answers come back.
    let server = crate::fixtures::echo_server().await;
    let suite = crate::fixtures::echo_suite(
        &server.uri(),
        80,
        "\n[[checks]]\ntype = \"command\"\ncommand = [\"sh\", \"grader.sh\"]\n",
    );
    suite.file(
        "grader.sh",
        "cat >/dev/null\nmkdir -p running\ntouch running/$$\nls running | wc -l >> counts.txt\nsleep 0.1\nrm -f running/$$\necho '{\"pass\": true}'\n",
    );
    let toml = std::fs::read_to_string(suite.path().join("evalgate.toml")).expect("read");
    let toml = toml.replace(
        "model = \"test-model\"",
        "model = \"test-model\"\nconcurrency = 2",
    );
    std::fs::write(suite.path().join("evalgate.toml"), toml).expect("write");
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress"]);
    let output = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        crate::fixtures::stderr(&output)
    );
    let counts = std::fs::read_to_string(suite.path().join("counts.txt")).expect("counts");
    let max = counts
        .lines()
        .filter_map(|l| l.trim().parse::<usize>().ok())
        .max()
        .unwrap_or(0);
    assert!(max <= 32, "{max} graders ran at once");
}
