//! A run killed with SIGKILL, or stopped with SIGTERM or Ctrl-C (SIGINT), resumes without paying
//! for any response twice and ends with the same results as an uninterrupted run.

use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

use crate::fixtures::{Echo, echo_suite};

fn journal_lines(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join(".evalgate"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("journal-"))
        .map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .count()
        })
        .sum()
}

/// The parts of a results file that must not depend on being interrupted.
fn comparable(results: &Value) -> Vec<Value> {
    results["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            serde_json::json!([
                r["cell"],
                r["case_id"],
                r["repeat"],
                r["output"],
                r["passed"],
                r["checks"],
                r["tokens"],
                r["cost_usd"],
                r["cached"]
            ])
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_then_rerun_pays_for_nothing_twice() {
    const CASES: usize = 40;
    const BEFORE_KILL: usize = 12;
    // The first BEFORE_KILL answers come at once; the next request stalls and tells the test,
    // which then kills the run. With one call at a time, every earlier answer has been journaled
    // by the time the next request arrives.
    let (stalled_tx, stalled_rx) = std::sync::mpsc::channel();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(StallAfter {
            answered: AtomicUsize::new(0),
            limit: BEFORE_KILL,
            stalled: Mutex::new(stalled_tx),
        })
        .mount(&server)
        .await;
    let suite = echo_suite(&server.uri(), CASES, "");
    let bin = assert_cmd::cargo::cargo_bin("evalgate");
    let mut child = Command::new(&bin)
        .args([
            "run",
            "--no-progress",
            "--cache",
            "off",
            "--concurrency",
            "1",
        ])
        .current_dir(suite.path())
        .env_remove("OPENAI_API_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    stalled_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the run never reached the stalled request");
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    assert_eq!(journal_lines(suite.path()), BEFORE_KILL);
    let paid_before = server.received_requests().await.map_or(0, |r| r.len());
    assert_eq!(
        paid_before,
        BEFORE_KILL + 1,
        "the stalled request was sent, never answered"
    );

    // The rerun gets every answer at once.
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(Echo)
        .mount(&server)
        .await;
    let mut cmd = suite.cmd();
    cmd.args([
        "run",
        "--no-progress",
        "--cache",
        "off",
        "--concurrency",
        "1",
    ]);
    let output = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let paid_again = server.received_requests().await.map_or(0, |r| r.len());
    assert_eq!(
        paid_again,
        CASES - BEFORE_KILL,
        "a journaled response was paid for again"
    );
    assert_eq!(
        journal_lines(suite.path()),
        0,
        "the journal is removed once the results are written"
    );
    let resumed = suite.results();

    // The same suite, uninterrupted, in a fresh folder.
    let fresh = echo_suite(&server.uri(), CASES, "");
    let mut cmd = fresh.cmd();
    cmd.args(["run", "--no-progress", "--cache", "off"]);
    let output = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert_eq!(output.status.code(), Some(0));
    let fresh = fresh.results();
    assert_eq!(comparable(&resumed), comparable(&fresh));
    let mut expected_summary = fresh["summary"].clone();
    // Latency is measured, not replayed: it may differ.
    expected_summary["latency_p50_ms"] = resumed["summary"]["latency_p50_ms"].clone();
    expected_summary["latency_p95_ms"] = resumed["summary"]["latency_p95_ms"].clone();
    assert_eq!(resumed["summary"], expected_summary);
}

/// Stops a run with `signal` once BEFORE answers are journaled and the next call is in flight;
/// returns the exit code and stderr, and checks that a re-run pays only for the rest.
async fn stop_with(signal: &str) -> (Option<i32>, String) {
    const CASES: usize = 10;
    const BEFORE: usize = 4;
    let (stalled_tx, stalled_rx) = std::sync::mpsc::channel();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(StallAfter {
            answered: AtomicUsize::new(0),
            limit: BEFORE,
            stalled: Mutex::new(stalled_tx),
        })
        .mount(&server)
        .await;
    let suite = echo_suite(&server.uri(), CASES, "");
    let args = [
        "run",
        "--no-progress",
        "--cache",
        "off",
        "--concurrency",
        "1",
    ];
    let child = Command::new(assert_cmd::cargo::cargo_bin("evalgate"))
        .args(args)
        .current_dir(suite.path())
        .env_remove("OPENAI_API_KEY")
        .env_remove("EVALGATE_STATE_DIR")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // With one call at a time, the stalled request arrives after every earlier answer was
    // journaled: the run is mid-call when the signal comes.
    stalled_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the run never reached the stalled request");
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill {signal} failed");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait")),
    )
    .await
    .expect("the run did not stop on the signal")
    .expect("join");
    assert_eq!(journal_lines(suite.path()), BEFORE);

    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(Echo)
        .mount(&server)
        .await;
    let mut cmd = suite.cmd();
    cmd.args(args);
    let rerun = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert_eq!(
        rerun.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    assert_eq!(
        server.received_requests().await.map_or(0, |r| r.len()),
        CASES - BEFORE,
        "a journaled response was paid for again"
    );
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_like_ctrl_c_with_exit_143_and_the_rerun_resumes() {
    let (code, stderr) = stop_with("-TERM").await;
    assert_eq!(code, Some(143), "{stderr}");
    assert!(
        stderr.contains("error: terminated by SIGTERM\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("= hint: every response received so far is saved in .evalgate/journal-"),
        "{stderr}"
    );
    assert!(
        stderr.contains("run the same command again to resume without paying for them"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_with_exit_130_and_the_rerun_resumes() {
    let (code, stderr) = stop_with("-INT").await;
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("error: interrupted\n"), "{stderr}");
    assert!(
        stderr.contains("run the same command again to resume without paying for them"),
        "{stderr}"
    );
}

struct StallAfter {
    answered: AtomicUsize,
    limit: usize,
    stalled: Mutex<std::sync::mpsc::Sender<()>>,
}

impl wiremock::Respond for StallAfter {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        if self.answered.fetch_add(1, Ordering::SeqCst) < self.limit {
            return Echo.respond(request);
        }
        let _ = self.stalled.lock().map(|tx| tx.send(()));
        Echo.respond(request).set_delay(Duration::from_secs(3600))
    }
}
