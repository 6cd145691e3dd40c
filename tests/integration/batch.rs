//! Batch mode (`run --batch`, `[models.ID] batch = true`) against fake OpenAI Batch and Anthropic
//! Message Batches servers that follow the API references: the uploaded JSONL and the create
//! bodies, polling, results files with partial failures, expired batches, a run that stops
//! waiting (`--batch-wait`) or is killed and resumes without ever submitting a batch twice, and
//! the batch price.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::fixtures::{SuiteDir, chat_completion, stderr};

/// What the fake does with a batch once it is polled.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    /// `in_progress` for this many checks, then `completed` with every request answered.
    Complete { after: usize },
    /// Answered, except requests whose question contains "question 1": a 400 in the error file.
    PartlyRefused,
    /// `expired`: the first `answered` requests in the output file, the rest `batch_expired`.
    Expire { answered: usize },
    /// `failed` at validation.
    Fail,
    /// `in_progress` forever.
    Never,
}

#[derive(Debug)]
struct Batch {
    id: String,
    /// The uploaded requests, in file order.
    lines: Vec<Value>,
    outcome: Outcome,
    checks: usize,
}

#[derive(Debug)]
struct State {
    outcome: Outcome,
    batches: Vec<Batch>,
    /// `POST /v1/files` bodies' JSONL lines, one list per upload.
    uploads: Vec<Vec<Value>>,
    /// `POST /v1/batches` bodies.
    creates: Vec<Value>,
    /// Direct chat completions bodies.
    direct: Vec<Value>,
    /// Every request's `METHOD path`.
    log: Vec<String>,
    /// Downloads of result files answered with a 500 while this is set.
    downloads_fail: bool,
}

/// A fake OpenAI API: chat completions, Files and Batch, as the reference shows them. Shared
/// state, so a test can change what the next batch does between runs.
#[derive(Clone)]
struct FakeOpenAi(Arc<Mutex<State>>);

impl FakeOpenAi {
    async fn start(outcome: Outcome) -> (MockServer, FakeOpenAi) {
        let fake = FakeOpenAi(Arc::new(Mutex::new(State {
            outcome,
            batches: Vec::new(),
            uploads: Vec::new(),
            creates: Vec::new(),
            direct: Vec::new(),
            log: Vec::new(),
            downloads_fail: false,
        })));
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(fake.clone())
            .mount(&server)
            .await;
        (server, fake)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().expect("state")
    }

    fn set_outcome(&self, outcome: Outcome) {
        let mut state = self.state();
        state.outcome = outcome;
        for batch in &mut state.batches {
            batch.outcome = outcome;
        }
    }

    fn count(&self, request: &str) -> usize {
        self.state().log.iter().filter(|l| *l == request).count()
    }
}

/// The question a request asks: its last user message.
fn question(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The file part of a `multipart/form-data` body, and its other fields.
fn multipart(request: &Request) -> (Vec<(String, String)>, String) {
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = content_type
        .split_once("boundary=")
        .map(|(_, b)| b.to_owned())
        .expect("a multipart boundary");
    let body = String::from_utf8(request.body.clone()).expect("utf-8");
    let mut fields = Vec::new();
    let mut file = String::new();
    for part in body.split(&format!("--{boundary}")) {
        let Some((head, content)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let content = content.strip_suffix("\r\n").unwrap_or(content);
        let name = head
            .split("name=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_owned();
        if head.contains("filename=") {
            file = content.to_owned();
        } else {
            fields.push((name, content.to_owned()));
        }
    }
    (fields, file)
}

fn batch_object(batch: &Batch, status: &str) -> Value {
    let total = batch.lines.len();
    let (completed, failed) = match (status, batch.outcome) {
        ("completed", Outcome::PartlyRefused) => {
            let refused = batch
                .lines
                .iter()
                .filter(|l| question(&l["body"]).contains("question 1"))
                .count();
            (total - refused, refused)
        }
        ("completed", _) => (total, 0),
        ("expired", Outcome::Expire { answered }) => (answered.min(total), 0),
        _ => (0, 0),
    };
    let ended = matches!(status, "completed" | "expired");
    json!({
        "id": batch.id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "errors": if status == "failed" {
            json!({"object": "list", "data": [{"code": "invalid_request", "message": "The model `gpt-4.1-mini` does not support batches.", "param": null, "line": 1}]})
        } else { Value::Null },
        "input_file_id": format!("file-in-{}", batch.id),
        "completion_window": "24h",
        "status": status,
        "output_file_id": if ended { json!(format!("file-out-{}", batch.id)) } else { Value::Null },
        "error_file_id": if ended && completed < total { json!(format!("file-err-{}", batch.id)) } else { Value::Null },
        "created_at": 1_711_471_533,
        "in_progress_at": 1_711_471_538,
        "expires_at": 1_711_557_933,
        "request_counts": {"total": total, "completed": completed, "failed": failed},
        "metadata": null
    })
}

/// The lines of a batch's output file (`errors = false`) or error file.
fn result_file(batch: &Batch, errors: bool) -> String {
    let mut out = String::new();
    for (i, line) in batch.lines.iter().enumerate() {
        let q = question(&line["body"]);
        let custom_id = &line["custom_id"];
        let result = match batch.outcome {
            Outcome::PartlyRefused if q.contains("question 1") => json!({
                "id": format!("batch_req_{i}"), "custom_id": custom_id,
                "response": {"status_code": 400, "request_id": format!("req_{i}"), "body": {"error": {"message": "Invalid 'messages[1].content': string too long.", "type": "invalid_request_error", "param": "messages", "code": "string_above_max_length"}}},
                "error": null
            }),
            Outcome::Expire { answered } if i >= answered => json!({
                "id": format!("batch_req_{i}"), "custom_id": custom_id, "response": null,
                "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}
            }),
            _ => json!({
                "id": format!("batch_req_{i}"), "custom_id": custom_id,
                "response": {"status_code": 200, "request_id": format!("req_{i}"), "body": chat_completion(&format!("answer to {q}"), 11, 3)},
                "error": null
            }),
        };
        let is_error = result["error"] != Value::Null || result["response"]["status_code"] != 200;
        if is_error == errors {
            out.push_str(&result.to_string());
            out.push('\n');
        }
    }
    out
}

impl Respond for FakeOpenAi {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.state();
        let route = format!("{} {}", request.method, request.url.path());
        state.log.push(route.clone());
        let segments: Vec<&str> = request.url.path().trim_matches('/').split('/').collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "chat", "completions"]) => {
                let body: Value = serde_json::from_slice(&request.body).expect("JSON");
                let q = question(&body);
                state.direct.push(body);
                ResponseTemplate::new(200).set_body_json(chat_completion(
                    &format!("answer to {q}"),
                    11,
                    3,
                ))
            }
            ("POST", ["v1", "files"]) => {
                assert_eq!(
                    request
                        .headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok()),
                    Some("Bearer sk-batch-test-0123456789")
                );
                let (fields, file) = multipart(request);
                assert_eq!(fields, [("purpose".to_owned(), "batch".to_owned())]);
                assert!(file.ends_with('\n'), "one request per line");
                let lines: Vec<Value> = file
                    .lines()
                    .map(|l| serde_json::from_str(l).expect("a JSON line"))
                    .collect();
                state.uploads.push(lines);
                let n = state.uploads.len();
                ResponseTemplate::new(200).set_body_json(json!({
                    "id": format!("file-in-{n}"), "object": "file", "bytes": file.len(),
                    "created_at": 1_711_471_533, "filename": "evalgate-batch.jsonl",
                    "purpose": "batch", "status": "processed"
                }))
            }
            ("POST", ["v1", "batches"]) => {
                let body: Value = serde_json::from_slice(&request.body).expect("JSON");
                state.creates.push(body.clone());
                let n = state.creates.len();
                let file_id = body["input_file_id"].as_str().unwrap_or_default();
                // The batch holds the file it names (the upload before it).
                let lines = if file_id == format!("file-in-{n}") {
                    state.uploads[n - 1].clone()
                } else {
                    Vec::new()
                };
                let batch = Batch {
                    id: format!("batch_{n}"),
                    lines,
                    outcome: state.outcome,
                    checks: 0,
                };
                let created = batch_object(&batch, "validating");
                state.batches.push(batch);
                ResponseTemplate::new(200).set_body_json(created)
            }
            ("GET", ["v1", "batches", id]) => {
                let Some(batch) = state.batches.iter_mut().find(|b| b.id == *id) else {
                    return ResponseTemplate::new(404).set_body_json(json!({"error": {"message": format!("No batch found with id '{id}'."), "type": "invalid_request_error", "param": null, "code": null}}));
                };
                batch.checks += 1;
                let status = match batch.outcome {
                    Outcome::Complete { after } if batch.checks > after => "completed",
                    Outcome::Complete { .. } | Outcome::Never => "in_progress",
                    Outcome::PartlyRefused => "completed",
                    Outcome::Expire { .. } => "expired",
                    Outcome::Fail => "failed",
                };
                ResponseTemplate::new(200).set_body_json(batch_object(batch, status))
            }
            ("GET", ["v1", "files", _, "content"]) if state.downloads_fail => {
                ResponseTemplate::new(500).set_body_json(json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}}))
            }
            ("GET", ["v1", "files", file, "content"]) => {
                let (errors, id) = match (
                    file.strip_prefix("file-out-"),
                    file.strip_prefix("file-err-"),
                ) {
                    (Some(id), _) => (false, id),
                    (_, Some(id)) => (true, id),
                    _ => return ResponseTemplate::new(404),
                };
                let Some(batch) = state.batches.iter().find(|b| b.id == id) else {
                    return ResponseTemplate::new(404);
                };
                ResponseTemplate::new(200)
                    .insert_header("content-type", "application/octet-stream")
                    .set_body_string(result_file(batch, errors))
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

/// Four cases against the fake OpenAI; at $1000/$2000 per million tokens an answer (11 input,
/// 3 output tokens) costs $0.017, $0.0085 at the batch price.
fn openai_suite(base_url: &str, model_extra: &str) -> SuiteDir {
    let suite = SuiteDir::new(&format!(
        r#"[suite]
name = "nightly"

[defaults]
temperature = 0
max_tokens = 50
max_retries = 0

[models.mini]
provider = "openai"
base_url = "{base_url}/v1"
model = "gpt-4.1-mini"
price = {{ input_per_mtok = 1000.0, output_per_mtok = 2000.0 }}
{model_extra}

[prompts.ask]
system = "You answer."
user = "{{{{ question }}}}"

[datasets.qs]
file = "cases.jsonl"

[[checks]]
type = "contains"
value = "answer to"
"#
    ));
    let rows: String = (0..4)
        .map(|i| format!("{{\"id\": \"q{i}\", \"vars\": {{\"question\": \"question {i}\"}}}}\n"))
        .collect();
    suite.file("cases.jsonl", &rows);
    suite
}

/// `evalgate run --no-progress ARGS` with the keys set and fast batch checks.
async fn run(suite: &SuiteDir, args: &[&str]) -> std::process::Output {
    let mut cmd = suite.cmd();
    cmd.env("OPENAI_API_KEY", "sk-batch-test-0123456789")
        .env("ANTHROPIC_API_KEY", "sk-ant-batch-test-0123456789")
        .env("EVALGATE_BATCH_POLL_MS", "1")
        .args(["run", "--no-progress"])
        .args(args);
    tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join")
}

fn registry(suite: &SuiteDir) -> Option<String> {
    std::fs::read_to_string(suite.path().join(".evalgate/batches.jsonl")).ok()
}

fn results_of(results: &Value) -> &Vec<Value> {
    results["results"].as_array().expect("results")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_carries_the_direct_calls_bodies_and_answers_at_half_price() {
    let (server, fake) = FakeOpenAi::start(Outcome::Complete { after: 1 }).await;
    let suite = openai_suite(&server.uri(), "");

    // Direct first, to know what a direct call sends.
    let output = run(&suite, &["--cache", "off"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let direct_cost = suite.results()["summary"]["cost_usd"]
        .as_f64()
        .expect("cost");
    assert!((direct_cost - 4.0 * 0.017).abs() < 1e-9, "{direct_cost}");

    let output = run(&suite, &["--cache", "off", "--batch"]).await;
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let state = fake.state();
    // One file, one batch, exactly as the reference describes them.
    assert_eq!(state.uploads.len(), 1);
    assert_eq!(
        state.creates,
        [
            json!({"input_file_id": "file-in-1", "endpoint": "/v1/chat/completions", "completion_window": "24h"})
        ]
    );
    let lines = &state.uploads[0];
    assert_eq!(lines.len(), 4);
    let mut batch_bodies = Vec::new();
    for line in lines {
        let object = line.as_object().expect("an object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["body", "custom_id", "method", "url"]);
        assert_eq!(line["method"], "POST");
        assert_eq!(line["url"], "/v1/chat/completions");
        // The request's cache key: within Anthropic's `^[a-zA-Z0-9_-]{1,64}$` too.
        let custom_id = line["custom_id"].as_str().expect("custom_id");
        assert_eq!(custom_id.len(), 64);
        assert!(
            custom_id.chars().all(|c| c.is_ascii_hexdigit()),
            "{custom_id}"
        );
        batch_bodies.push(line["body"].clone());
    }
    // Each body is exactly what the direct run sent.
    let key = |b: &Value| b.to_string();
    let mut direct: Vec<String> = state.direct.iter().map(key).collect();
    let mut batched: Vec<String> = batch_bodies.iter().map(key).collect();
    direct.sort();
    batched.sort();
    assert_eq!(batched, direct);
    assert_eq!(
        lines[0]["body"],
        json!({"model": "gpt-4.1-mini", "messages": [{"role": "system", "content": "You answer."}, {"role": "user", "content": "question 0"}], "temperature": 0.0, "max_completion_tokens": 50})
    );
    drop(state);

    // Graded like any answer, at the batch price, and on record.
    let results = suite.results();
    assert_eq!(results["summary"]["passed"], 4, "{results}");
    let cost = results["summary"]["cost_usd"].as_f64().expect("cost");
    assert!((cost - direct_cost / 2.0).abs() < 1e-9, "{cost}");
    assert!((results["summary"]["spent_usd"].as_f64().unwrap_or(0.0) - cost).abs() < 1e-9);
    for call in results_of(&results) {
        assert_eq!(call["batch"]["id"], "batch_1", "{call}");
        assert!((call["batch"]["list_cost_usd"].as_f64().unwrap_or(0.0) - 0.017).abs() < 1e-9);
        assert!((call["cost_usd"].as_f64().unwrap_or(0.0) - 0.0085).abs() < 1e-9);
        assert_eq!(call["cached"], false);
        assert_eq!(call["attempts"], 1);
        assert_eq!(
            call["output"],
            format!(
                "answer to question {}",
                &call["case_id"].as_str().unwrap_or("q?")[1..]
            )
        );
    }
    assert_eq!(results["cells"][0]["batch"], true);
    // Batch answers have no latency of their own.
    assert_eq!(results["summary"]["latency_p95_ms"], 0);
    // Nothing left to resume: the registry and the journal are gone.
    assert_eq!(registry(&suite), None);
    // The audit log records the batch and its price.
    let audit = std::fs::read_to_string(suite.path().join(".evalgate/audit.jsonl")).expect("audit");
    let batched: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
        .filter(|l| l["batch"] == "batch_1")
        .collect();
    assert_eq!(batched.len(), 4);
    assert!(
        batched
            .iter()
            .all(|l| (l["cost_usd"].as_f64().unwrap_or(0.0) - 0.0085).abs() < 1e-9)
    );
    // The key never reaches a file.
    assert!(
        !suite.written().contains("sk-batch-test"),
        "a key was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_batch_refused_are_errored_calls_with_the_providers_reason() {
    let (server, fake) = FakeOpenAi::start(Outcome::PartlyRefused).await;
    // `batch = true` in the suite, no flag.
    let suite = openai_suite(&server.uri(), "batch = true");
    let output = run(&suite, &[]).await;
    let err = stderr(&output);
    // One of four errored: over the default max_error_rate, an infrastructure verdict.
    assert_eq!(output.status.code(), Some(3), "{err}");
    let results = suite.results();
    let calls = results_of(&results);
    let refused: Vec<&Value> = calls.iter().filter(|c| c["error"].is_string()).collect();
    assert_eq!(refused.len(), 1, "{results}");
    assert_eq!(refused[0]["case_id"], "q1");
    assert_eq!(
        refused[0]["error"],
        "batch batch_1: HTTP 400 (string_above_max_length): Invalid 'messages[1].content': string too long."
    );
    assert_eq!(results["summary"]["passed"], 3);
    assert_eq!(fake.count("POST /v1/batches"), 1);
    assert_eq!(fake.count("GET /v1/files/file-err-batch_1/content"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_batch_keeps_its_answers_and_a_rerun_submits_only_the_expired_requests() {
    let (server, fake) = FakeOpenAi::start(Outcome::Expire { answered: 3 }).await;
    let suite = openai_suite(&server.uri(), "");
    let output = run(&suite, &["--batch"]).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let results = suite.results();
    let expired: Vec<&Value> = results_of(&results)
        .iter()
        .filter(|c| c["error"].is_string())
        .collect();
    assert_eq!(expired.len(), 1, "{results}");
    assert_eq!(expired[0]["case_id"], "q3");
    assert_eq!(
        expired[0]["error"],
        "batch batch_1: This request could not be executed before the completion window expired. (batch_expired)"
    );
    assert_eq!(results["summary"]["passed"], 3);
    let expired_line = fake.state().uploads[0][3].clone();

    // The same command again: the three answers come from the response cache, and only the
    // expired request goes into a new batch.
    fake.set_outcome(Outcome::Complete { after: 0 });
    let output = run(&suite, &["--batch"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    {
        let state = fake.state();
        assert_eq!(state.uploads.len(), 2);
        assert_eq!(state.uploads[1], [expired_line]);
        assert_eq!(state.creates.len(), 2);
    }
    let results = suite.results();
    assert_eq!(results["summary"]["passed"], 4, "{results}");
    let calls = results_of(&results);
    assert_eq!(calls[3]["batch"]["id"], "batch_2");
    assert_eq!(calls[3]["cached"], false);
    // Replayed from the cache, still at the price they were bought at.
    assert_eq!(calls[0]["cached"], true);
    assert_eq!(calls[0]["batch"]["id"], "batch_1");
    assert!((calls[0]["cost_usd"].as_f64().unwrap_or(0.0) - 0.0085).abs() < 1e-9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_failed_validation_errors_its_calls_with_the_reason() {
    let (server, _fake) = FakeOpenAi::start(Outcome::Fail).await;
    let suite = openai_suite(&server.uri(), "");
    let output = run(&suite, &["--batch", "--cache", "off"]).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let results = suite.results();
    for call in results_of(&results) {
        assert_eq!(
            call["error"],
            "batch batch_1 failed: line 1: The model `gpt-4.1-mini` does not support batches. (invalid_request)"
        );
    }
    assert_eq!(registry(&suite), None, "a failed batch is collected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_wait_elapses_the_run_ends_resumable_and_the_same_command_collects_the_batch() {
    let (server, fake) = FakeOpenAi::start(Outcome::Never).await;
    let suite = openai_suite(&server.uri(), "");
    let args = ["--batch", "--batch-wait", "0", "--cache", "off"];
    let output = run(&suite, &args).await;
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(
        err.lines().any(|l| l
            == "error: 1 batch has not ended after waiting 0s (--batch-wait): batch_1 (model `mini`, in_progress, 4 calls); 4 calls are not answered yet"),
        "{err}"
    );
    assert!(err.contains(".evalgate/batches.jsonl: run the same command again to resume waiting for them (they are never submitted twice"), "{err}");
    assert!(
        err.contains("the calls still in a batch as errors"),
        "{err}"
    );
    let results = suite.results();
    for call in results_of(&results) {
        assert_eq!(
            call["error"],
            "not answered yet: batch batch_1 is still in_progress; run the same command again to collect it (it is not submitted again)"
        );
    }
    let recorded = registry(&suite).expect("the batch is on record");
    assert!(recorded.contains("\"batch\":\"batch_1\""), "{recorded}");
    assert_eq!(fake.count("GET /v1/batches/batch_1"), 1);
    // The plan knows those calls are paid for and waited for.
    let plan = suite
        .cmd()
        .args(["plan", "--batch", "--cache", "off"])
        .output()
        .expect("plan");
    let plan = String::from_utf8_lossy(&plan.stdout).into_owned();
    assert!(plan.contains("0 calls to pay"), "{plan}");
    assert!(
        plan.contains(
            "ask/mini: 4 calls are in batches an earlier attempt submitted (counted as cached)"
        ),
        "{plan}"
    );

    // Again, still running: checked again, never submitted again.
    let output = run(&suite, &args).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(fake.count("POST /v1/batches"), 1);
    assert_eq!(fake.count("POST /v1/files"), 1);

    // It ended meanwhile: collected, graded, and the registry is gone.
    fake.set_outcome(Outcome::Complete { after: 0 });
    let output = run(&suite, &args).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(fake.count("POST /v1/batches"), 1);
    assert_eq!(fake.count("POST /v1/files"), 1);
    assert_eq!(fake.count("GET /v1/batches/batch_1"), 3);
    let results = suite.results();
    assert_eq!(results["summary"]["passed"], 4, "{results}");
    assert_eq!(registry(&suite), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_that_cannot_be_read_yet_are_read_by_the_next_run_without_a_new_batch() {
    let (server, fake) = FakeOpenAi::start(Outcome::Complete { after: 0 }).await;
    fake.state().downloads_fail = true;
    let suite = openai_suite(&server.uri(), "");
    let args = ["--batch", "--batch-wait", "0", "--cache", "off"];
    let output = run(&suite, &args).await;
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(
        err.contains("batch_1 (model `mini`, completed, 4 calls; last check failed: its results could not be read: HTTP 500 (server_error): The server had an error while processing your request.)"),
        "{err}"
    );
    let results = suite.results();
    assert!(
        results_of(&results)[0]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("not answered yet: batch batch_1 ended (completed) but its results could not be read")),
        "{results}"
    );

    fake.state().downloads_fail = false;
    let output = run(&suite, &args).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(fake.count("POST /v1/batches"), 1);
    assert_eq!(suite.results()["summary"]["passed"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_while_it_waits_resumes_polling_the_same_batch() {
    let (server, fake) = FakeOpenAi::start(Outcome::Never).await;
    let suite = openai_suite(&server.uri(), "");
    let bin = assert_cmd::cargo::cargo_bin("evalgate");
    let mut child = Command::new(&bin)
        .args(["run", "--no-progress", "--batch", "--cache", "off"])
        .current_dir(suite.path())
        .env("OPENAI_API_KEY", "sk-batch-test-0123456789")
        .env("EVALGATE_BATCH_POLL_MS", "5")
        .env_remove("EVALGATE_STATE_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Killed (SIGKILL, no chance to clean up) once it is polling its batch.
    let mut waited = 0;
    while fake.count("GET /v1/batches/batch_1") < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
        assert!(waited < 500, "the run never polled its batch");
    }
    child.kill().expect("kill");
    let _ = child.wait();
    assert!(registry(&suite).is_some());

    fake.set_outcome(Outcome::Complete { after: 1 });
    let output = run(&suite, &["--batch", "--cache", "off"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(fake.count("POST /v1/batches"), 1, "never submitted twice");
    assert_eq!(fake.count("POST /v1/files"), 1);
    let results = suite.results();
    assert_eq!(results["summary"]["passed"], 4, "{results}");
    assert!(
        results_of(&results)
            .iter()
            .all(|c| c["batch"]["id"] == "batch_1")
    );
    assert_eq!(registry(&suite), None);
}

/// A fake Anthropic Message Batches API: one batch, ended at the second check, the request
/// asking "question 2" errored.
struct FakeAnthropic {
    uri: String,
    state: Arc<Mutex<(Vec<Value>, usize)>>,
}

impl Respond for FakeAnthropic {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        assert_eq!(
            request
                .headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok()),
            Some("sk-ant-batch-test-0123456789")
        );
        assert_eq!(
            request
                .headers
                .get("anthropic-version")
                .and_then(|v| v.to_str().ok()),
            Some("2023-06-01")
        );
        let mut state = self.state.lock().expect("state");
        let batch = |status: &str, counts: Value, results_url: Value| {
            json!({
                "id": "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF",
                "type": "message_batch",
                "processing_status": status,
                "request_counts": counts,
                "ended_at": null,
                "created_at": "2024-09-24T18:37:24.100435Z",
                "expires_at": "2024-09-25T18:37:24.100435Z",
                "cancel_initiated_at": null,
                "results_url": results_url
            })
        };
        match (request.method.as_str(), request.url.path()) {
            ("POST", "/v1/messages/batches") => {
                let body: Value = serde_json::from_slice(&request.body).expect("JSON");
                state.0 = body["requests"].as_array().cloned().unwrap_or_default();
                let n = state.0.len();
                ResponseTemplate::new(200).set_body_json(batch(
                    "in_progress",
                    json!({"processing": n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}),
                    Value::Null,
                ))
            }
            ("GET", "/v1/messages/batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF") => {
                state.1 += 1;
                let n = state.0.len();
                if state.1 < 2 {
                    return ResponseTemplate::new(200).set_body_json(batch(
                        "in_progress",
                        json!({"processing": n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}),
                        Value::Null,
                    ));
                }
                ResponseTemplate::new(200).set_body_json(batch(
                    "ended",
                    json!({"processing": 0, "succeeded": n - 1, "errored": 1, "canceled": 0, "expired": 0}),
                    json!(format!("{}/v1/messages/batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF/results", self.uri)),
                ))
            }
            ("GET", "/v1/messages/batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF/results") => {
                let mut out = String::new();
                // Not in request order, as the reference warns.
                for request in state.0.iter().rev() {
                    let q = question(&request["params"]);
                    let result = if q == "question 2" {
                        json!({"type": "errored", "error": {"type": "error", "error": {"type": "invalid_request_error", "message": "messages.0.content: too long"}}})
                    } else {
                        json!({"type": "succeeded", "message": {
                            "id": "msg_014VwiXbi91y3JMjcpyGBHX5", "type": "message", "role": "assistant",
                            "model": "claude-haiku-4-5",
                            "content": [{"type": "text", "text": format!("answer to {q}")}],
                            "stop_reason": "end_turn", "stop_sequence": null,
                            "usage": {"input_tokens": 11, "output_tokens": 3}
                        }})
                    };
                    out.push_str(
                        &json!({"custom_id": request["custom_id"], "result": result}).to_string(),
                    );
                    out.push('\n');
                }
                ResponseTemplate::new(200).set_body_string(out)
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_message_batches_carry_the_messages_body_and_answer_at_half_price() {
    let server = MockServer::start().await;
    let state = Arc::new(Mutex::new((Vec::new(), 0)));
    Mock::given(any())
        .respond_with(FakeAnthropic {
            uri: server.uri(),
            state: Arc::clone(&state),
        })
        .mount(&server)
        .await;
    let suite = SuiteDir::new(&format!(
        r#"[suite]
name = "nightly"

[models.claude]
provider = "anthropic"
base_url = "{}"
model = "claude-haiku-4-5"
max_tokens = 50
max_retries = 0
batch = true
price = {{ input_per_mtok = 1000.0, output_per_mtok = 2000.0, batch_discount = 0.5 }}

[prompts.ask]
system = "You answer."
user = "{{{{ question }}}}"

[datasets.qs]
cases = [
  {{ id = "q0", vars = {{ question = "question 0" }} }},
  {{ id = "q1", vars = {{ question = "question 1" }} }},
  {{ id = "q2", vars = {{ question = "question 2" }} }},
]

[[checks]]
type = "contains"
value = "answer to"

[gate]
max_error_rate = 0.5
"#,
        server.uri()
    ));
    let output = run(&suite, &["--cache", "off"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let requests = state.lock().expect("state").0.clone();
    assert_eq!(requests.len(), 3);
    for request in &requests {
        let custom_id = request["custom_id"].as_str().expect("custom_id");
        assert!(
            custom_id.len() <= 64
                && custom_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "{custom_id}"
        );
    }
    assert_eq!(
        requests[0]["params"],
        json!({"model": "claude-haiku-4-5", "system": "You answer.", "messages": [{"role": "user", "content": "question 0"}], "max_tokens": 50})
    );
    let results = suite.results();
    let calls = results_of(&results);
    assert_eq!(results["summary"]["passed"], 2, "{results}");
    assert_eq!(
        calls[2]["error"],
        "batch msgbatch_013Zva2CMHLNnXjNJJKqJ2EF: messages.0.content: too long (invalid_request_error)"
    );
    for call in &calls[..2] {
        assert_eq!(call["batch"]["id"], "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF");
        assert!(
            (call["cost_usd"].as_f64().unwrap_or(0.0) - 0.0085).abs() < 1e-9,
            "{call}"
        );
    }
    assert_eq!(registry(&suite), None);
}

#[test]
fn batch_on_a_provider_without_a_batch_api_is_a_config_error_naming_the_field() {
    let suite = SuiteDir::new(
        "[suite]\nname = \"s\"\n\n[models.script]\nprovider = \"command\"\ncommand = [\"cat\"]\nbatch = true\n\n\
         [prompts.p]\nuser = \"hi\"\n[datasets.d]\ncases = [{ id = \"a\" }]\n\
         [[checks]]\ntype = \"contains\"\nvalue = \"x\"\n",
    );
    let output = suite.cmd().arg("validate").output().expect("validate");
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("evalgate.toml:7:9: `models.script.batch`: `batch` does not apply to `provider = \"command\"`"),
        "{err}"
    );
    assert!(
        err.contains("only `openai`, `openai-compatible` and `anthropic` models have one"),
        "{err}"
    );
}

#[test]
fn plan_estimates_batch_cells_at_the_batch_price() {
    let suite = openai_suite("http://127.0.0.1:9", "");
    let direct = suite.cmd().arg("plan").output().expect("plan");
    let batch = suite
        .cmd()
        .args(["plan", "--batch"])
        .output()
        .expect("plan");
    let dry_run = suite
        .cmd()
        .args(["run", "--dry-run", "--batch"])
        .output()
        .expect("plan");
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();
    // 4 calls: (6 input tokens × $1000 + 50 output × $2000) / 10⁶ each, at most; half that.
    assert!(
        text(&direct).contains("at most $0.424"),
        "{}",
        text(&direct)
    );
    assert!(text(&batch).contains("at most $0.212"), "{}", text(&batch));
    assert!(
        text(&batch).contains("ask/mini: batch mode: estimated at the batch price (50.0% off); answered within 24 hours"),
        "{}",
        text(&batch)
    );
    assert_eq!(text(&batch), text(&dry_run));
}
