//! End-to-end runs against a fake OpenAI-compatible server.

use serde_json::Value;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fixtures::{chat_completion, echo_server, echo_suite, stderr, stdout};

async fn run(cmd: assert_cmd::Command) -> std::process::Output {
    let mut cmd = cmd;
    tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_run_writes_results_and_exits_0() {
    let server = echo_server().await;
    let suite = echo_suite(&server.uri(), 5, "");
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress"]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let results = suite.results();
    assert_eq!(results["schema_version"], 1);
    assert_eq!(results["summary"]["cases"], 5);
    assert_eq!(results["summary"]["passed"], 5);
    assert_eq!(results["summary"]["input_tokens"], 55);
    assert_eq!(results["summary"]["output_tokens"], 15);
    // 55 input tokens at $1/Mtok + 15 output tokens at $2/Mtok.
    let cost = results["summary"]["cost_usd"].as_f64().expect("cost");
    assert!((cost - 0.000085).abs() < 1e-12, "{cost}");
    let first = &results["results"][0];
    assert_eq!(first["case_id"], "q000");
    assert_eq!(first["output"], "answer to question 0");
    assert_eq!(first["messages"][1]["content"], "question 0");
    assert_eq!(first["attempts"], 1);
    assert_eq!(first["cached"], false);
    assert_eq!(results["verdict"]["status"], "pass");
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(5));
    assert!(stdout(&output).contains("results:"), "{}", stdout(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_is_served_from_the_cache_and_calls_nothing() {
    let server = echo_server().await;
    let suite = echo_suite(&server.uri(), 4, "");
    for _ in 0..2 {
        let mut cmd = suite.cmd();
        cmd.args(["run", "--no-progress"]);
        assert_eq!(run(cmd).await.status.code(), Some(0));
    }
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(4));
    let results = suite.results();
    assert_eq!(results["summary"]["cache_hits"], 4);
    assert_eq!(results["summary"]["spent_usd"], 0.0);
    assert!(
        results["summary"]["cost_usd"]
            .as_f64()
            .is_some_and(|c| c > 0.0)
    );
    assert_eq!(results["results"][2]["output"], "answer to question 2");

    // --offline replays the same answers with no server at all.
    drop(server);
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "--offline"]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        suite.results()["results"][3]["output"],
        "answer to question 3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_refresh_calls_again_and_cache_off_writes_nothing() {
    let server = echo_server().await;
    let suite = echo_suite(&server.uri(), 3, "");
    for mode in ["rw", "refresh", "off"] {
        let mut cmd = suite.cmd();
        cmd.args(["run", "--no-progress", "--cache", mode]);
        assert_eq!(run(cmd).await.status.code(), Some(0));
    }
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(9));
    let cache = std::fs::read_to_string(suite.path().join(".evalgate/cache/responses.jsonl"))
        .expect("cache");
    assert_eq!(
        cache.lines().count(),
        6,
        "rw and refresh write, off does not"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_floor_exits_1_with_the_reason() {
    let server = echo_server().await;
    let suite = echo_suite(
        &server.uri(),
        4,
        "\n[[checks]]\ntype = \"regex\"\npattern = \"question [01]$\"\n\n[gate]\nmin_pass_rate = 0.9\n",
    );
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress"]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let results = suite.results();
    assert_eq!(results["summary"]["passed"], 2);
    assert_eq!(results["summary"]["failed"], 2);
    assert_eq!(results["verdict"]["status"], "fail");
    let reasons = results["verdict"]["reasons"].to_string();
    assert!(
        reasons.contains("50.0%") && reasons.contains("90.0%"),
        "{reasons}"
    );
    let failed = &results["results"][2];
    assert_eq!(failed["passed"], false);
    assert_eq!(failed["checks"][1]["type"], "regex");
    assert_eq!(failed["checks"][1]["passed"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_errors_make_cases_errored_and_exit_3_not_fail() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(500).set_body_json(serde_json::json!({
            "error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}
        })))
        .mount(&server)
        .await;
    let suite = echo_suite(&server.uri(), 2, "");
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress"]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let results = suite.results();
    assert_eq!(results["summary"]["errored"], 2);
    assert_eq!(results["summary"]["failed"], 0);
    assert_eq!(results["verdict"]["status"], "error");
    let error = results["results"][0]["error"].as_str().expect("error");
    assert!(
        error.contains("HTTP 500") && error.contains("server had an error"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrecoverable_error_stops_calling_the_model() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
            "error": {"message": "The model `test-model` does not exist or you do not have access to it.", "type": "invalid_request_error", "param": null, "code": "model_not_found"}
        })))
        .mount(&server)
        .await;
    let suite = echo_suite(&server.uri(), 30, "");
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "--concurrency", "1"]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        server.received_requests().await.map(|r| r.len()),
        Some(1),
        "one 404 is enough to know"
    );
    let results = suite.results();
    assert_eq!(results["summary"]["errored"], 30);
    let later = results["results"][29]["error"].as_str().expect("error");
    assert!(
        later.starts_with("not called: an earlier call to model `fake` failed"),
        "{later}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_and_repeats_shape_the_plan() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(chat_completion(
            "answer to it",
            5,
            1,
        )))
        .mount(&server)
        .await;
    let suite = echo_suite(&server.uri(), 12, "");
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "--filter", "q00", "--repeats", "3"]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let results = suite.results();
    assert_eq!(results["summary"]["cases"], 10);
    assert_eq!(results["summary"]["calls"], 30);
    assert_eq!(results["run"]["repeats"], 3);
    let repeats: Vec<Value> = results["results"].as_array().expect("array")[..3]
        .iter()
        .map(|r| r["repeat"].clone())
        .collect();
    assert_eq!(
        repeats,
        vec![Value::from(0), Value::from(1), Value::from(2)]
    );
    // Each repeat is its own request: the cache key includes the repeat index.
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(30));
}

fn bodies(requests: &[wiremock::Request]) -> Vec<Value> {
    requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("JSON request"))
        .collect()
}

/// `[audit] send_identity = true` sends the CI actor as `user` on every call; the identity is
/// not in the cache key, so another actor's run replays the same answers without calling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_identity_sends_the_actor_as_user_and_shares_the_cache() {
    let server = echo_server().await;
    let suite = echo_suite(&server.uri(), 3, "\n[audit]\nsend_identity = true\n");
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress"])
        .env("EVALGATE_ACTOR", "octocat");
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let sent = bodies(&server.received_requests().await.expect("recorded"));
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|b| b["user"] == "octocat"), "{sent:?}");

    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress"])
        .env("EVALGATE_ACTOR", "hubot");
    assert_eq!(run(cmd).await.status.code(), Some(0));
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(3));
    assert_eq!(suite.results()["summary"]["cache_hits"], 3);
}

/// Off by default: a CI actor in the environment is recorded in the audit log, never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_identity_is_sent_by_default() {
    let server = echo_server().await;
    let suite = echo_suite(&server.uri(), 2, "");
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress"])
        .env("EVALGATE_ACTOR", "octocat")
        .env("GITHUB_ACTOR", "octocat");
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let sent = bodies(&server.received_requests().await.expect("recorded"));
    assert_eq!(sent.len(), 2);
    for body in &sent {
        assert!(body.get("user").is_none(), "{body}");
        assert!(body.get("metadata").is_none(), "{body}");
    }
}

/// `[audit] identity` replaces the actor, and needs `send_identity = true`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_identity_is_sent_and_needs_send_identity() {
    let server = echo_server().await;
    let suite = echo_suite(
        &server.uri(),
        1,
        "\n[audit]\nsend_identity = true\nidentity = \"team-support\"\n",
    );
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress"])
        .env("EVALGATE_ACTOR", "octocat");
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let sent = bodies(&server.received_requests().await.expect("recorded"));
    assert_eq!(sent[0]["user"], "team-support");

    let suite = echo_suite(&server.uri(), 1, "\n[audit]\nidentity = \"team-support\"\n");
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress"]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("audit.identity") && err.contains("add it, or remove `identity`"),
        "{err}"
    );
}
