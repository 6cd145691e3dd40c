//! The spend cap (`run --max-cost`, `[gate.cost] max_run_usd`): no new call once the run has
//! spent the cap, exit 3, and a re-run with a higher cap resumes from the journal without paying
//! for any answer twice.

use serde_json::Value;

use crate::fixtures::{SuiteDir, echo_server, stderr};

/// Six cases on the echo server, which reports 11 input and 3 output tokens per call: at
/// $1000 and $2000 per million tokens, each call costs (11 × 1000 + 3 × 2000) / 10⁶ = $0.017.
fn suite(base_url: &str, gate: &str) -> SuiteDir {
    let suite = SuiteDir::new(&format!(
        r#"[suite]
name = "capped"

[defaults]
max_retries = 0

[models.fake]
provider = "openai-compatible"
base_url = "{base_url}/v1"
model = "test-model"
price = {{ input_per_mtok = 1000.0, output_per_mtok = 2000.0 }}

[prompts.ask]
user = "{{{{ question }}}}"

[datasets.qs]
file = "cases.jsonl"

[[checks]]
type = "contains"
value = "answer to"
{gate}"#
    ));
    let rows: String = (0..6)
        .map(|i| format!("{{\"id\": \"q{i}\", \"vars\": {{\"question\": \"question {i}\"}}}}\n"))
        .collect();
    suite.file("cases.jsonl", &rows);
    suite
}

async fn run(suite: &SuiteDir, args: &[&str]) -> std::process::Output {
    let mut cmd = suite.cmd();
    cmd.args([
        "run",
        "--no-progress",
        "--concurrency",
        "1",
        "--cache",
        "off",
    ])
    .args(args);
    tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join")
}

async fn requests(server: &wiremock::MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}

fn journal_lines(suite: &SuiteDir) -> usize {
    std::fs::read_dir(suite.path().join(".evalgate"))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_stops_new_calls_and_a_higher_cap_resumes_without_paying_twice() {
    let server = echo_server().await;
    let suite = suite(&server.uri(), "");
    // $0.04: after two calls ($0.034) a third may start; after it ($0.051) none.
    let output = run(&suite, &["--max-cost", "0.04"]).await;
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(
        err.lines().any(|l| l
            == "error: the run reached its spend cap: $0.051 spent of $0.04 allowed; 3 calls were not started"),
        "{err}"
    );
    assert!(
        err.contains("run the same command again with a higher --max-cost (or `[gate.cost] max_run_usd`) to resume: those responses are replayed, not paid again"),
        "{err}"
    );
    assert!(err.contains(".evalgate/journal-"), "{err}");
    assert_eq!(requests(&server).await, 3, "no call after the cap");
    assert_eq!(journal_lines(&suite), 3, "every paid answer is journaled");
    // The results file says which calls were not started, and why.
    let results: Value = suite.results();
    let not_started: Vec<&str> = results["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["error"].as_str())
        .collect();
    assert_eq!(not_started.len(), 3, "{results}");
    for error in not_started {
        assert_eq!(
            error,
            "not called: the run reached its spend cap ($0.051 spent of $0.04 allowed)"
        );
    }
    assert!((results["summary"]["spent_usd"].as_f64().unwrap_or(0.0) - 0.051).abs() < 1e-9);

    // The same cap again: the journal's answers count toward it, so nothing more is paid.
    let output = run(&suite, &["--max-cost", "0.04"]).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(requests(&server).await, 3);

    // A higher cap: the three paid answers are replayed from the journal, only the rest is called.
    let output = run(&suite, &["--max-cost", "1"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(requests(&server).await, 6, "no answer paid twice");
    let results = suite.results();
    assert_eq!(results["summary"]["passed"], 6, "{results}");
    assert!((results["summary"]["spent_usd"].as_f64().unwrap_or(0.0) - 0.102).abs() < 1e-9);
    assert_eq!(
        journal_lines(&suite),
        0,
        "the journal is gone once the results are written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_run_usd_in_the_suite_caps_the_run_and_the_flag_replaces_it() {
    let server = echo_server().await;
    let suite = suite(&server.uri(), "\n[gate.cost]\nmax_run_usd = 0.02\n");
    // After one call ($0.017 < $0.02) a second starts; after it none.
    let output = run(&suite, &[]).await;
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(
        err.lines().any(|l| l
            == "error: the run reached its spend cap: $0.034 spent of $0.02 allowed; 4 calls were not started"),
        "{err}"
    );
    assert_eq!(requests(&server).await, 2);
    let output = run(&suite, &["--max-cost", "10"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(requests(&server).await, 6);
}

#[test]
fn a_negative_or_malformed_cap_is_a_usage_error() {
    let suite = suite("http://127.0.0.1:9", "");
    for bad in ["-1", "lots", "NaN"] {
        let output = suite
            .cmd()
            .args(["run", &format!("--max-cost={bad}")])
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&output).contains("--max-cost"),
            "{}",
            stderr(&output)
        );
    }
    let bad = crate::fixtures::SuiteDir::new(
        "[suite]\nname = \"s\"\n[models.m]\nprovider = \"command\"\ncommand = [\"cat\"]\n\
         [prompts.p]\nuser = \"hi\"\n[datasets.d]\ncases = [{ id = \"a\" }]\n\
         [[checks]]\ntype = \"contains\"\nvalue = \"x\"\n[gate.cost]\nmax_run_usd = -1.0\n",
    );
    let output = bad.cmd().arg("validate").output().expect("validate");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("max_run_usd"),
        "{}",
        stderr(&output)
    );
}
