//! `evalgate plan` and `run --dry-run`: the bill before paying it, from the suite and the
//! response cache, read-only, with no model called.

use wiremock::MockServer;

use crate::fixtures::{SuiteDir, echo_server, stdout};

/// Three cases whose rendered messages are "You answer." (11 characters) and "question N"
/// (10): 21 characters, so 6 estimated input tokens per call.
fn priced_suite(base_url: &str, max_tokens: &str) -> SuiteDir {
    let suite = SuiteDir::new(&format!(
        r#"[suite]
name = "priced"

[defaults]
temperature = 0
max_retries = 0
{max_tokens}

[models.fake]
provider = "openai-compatible"
base_url = "{base_url}/v1"
model = "test-model"
price = {{ input_per_mtok = 1000.0, output_per_mtok = 2000.0 }}

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
    let rows: String = (0..3)
        .map(|i| format!("{{\"id\": \"q{i:03}\", \"vars\": {{\"question\": \"question {i}\"}}}}\n"))
        .collect();
    suite.file("cases.jsonl", &rows);
    suite
}

fn plan(suite: &SuiteDir, args: &[&str]) -> String {
    let output = suite.cmd().arg("plan").args(args).output().expect("plan");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        crate::fixtures::stderr(&output)
    );
    stdout(&output)
}

/// The cells table row of `cell`, split in columns.
fn row<'a>(text: &'a str, cell: &str) -> Vec<&'a str> {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{cell} ")))
        .unwrap_or_else(|| panic!("no row {cell}: {text}"));
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

#[tokio::test]
async fn plan_gives_the_exact_estimate_from_max_tokens_and_price_and_writes_nothing() {
    let server = MockServer::start().await;
    let suite = priced_suite(&server.uri(), "max_tokens = 100");
    let text = plan(&suite, &[]);
    // 3 calls × 6 input tokens; 3 × 100 output tokens; (18 × 1000 + 300 × 2000) / 10⁶ = 0.618.
    assert_eq!(
        row(&text, "ask/fake"),
        ["ask/fake", "3", "0", "3", "18", "300", "≤ $0.618"],
        "{text}"
    );
    assert!(
        text.contains("3 calls to pay, estimated cost at most $0.618."),
        "{text}"
    );
    assert!(text.contains("characters / 4"), "{text}");
    assert!(
        !suite.path().join(".evalgate").exists(),
        "a plan writes nothing"
    );
    assert_eq!(server.received_requests().await.map_or(0, |r| r.len()), 0);

    // --repeats and --filter shape the plan as they shape a run.
    let text = plan(&suite, &["--repeats", "2", "--filter", "q001"]);
    assert_eq!(
        row(&text, "ask/fake"),
        ["ask/fake", "2", "0", "2", "12", "200", "≤ $0.412"],
        "{text}"
    );
    // `run --dry-run` is the same plan.
    let output = suite
        .cmd()
        .args(["run", "--dry-run", "--repeats", "2", "--filter", "q001"])
        .output()
        .expect("dry run");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), text);
    assert_eq!(server.received_requests().await.map_or(0, |r| r.len()), 0);
    // A dry run writes nothing, so a flag about what a run writes is a usage error.
    let output = suite
        .cmd()
        .args(["run", "--dry-run", "--junit", "j.xml"])
        .output()
        .expect("dry run");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        !suite.path().join(".evalgate").exists(),
        "a plan writes nothing"
    );
}

#[tokio::test]
async fn a_warm_cache_makes_the_plan_count_those_calls_as_cached_and_free() {
    let server = echo_server().await;
    let suite = priced_suite(&server.uri(), "max_tokens = 100");
    // A first run pays for one case.
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "--filter", "q000"]);
    let output = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        crate::fixtures::stderr(&output)
    );
    assert_eq!(server.received_requests().await.map_or(0, |r| r.len()), 1);

    let text = plan(&suite, &[]);
    assert_eq!(
        row(&text, "ask/fake"),
        ["ask/fake", "3", "1", "2", "12", "200", "≤ $0.412"],
        "{text}"
    );
    // --cache refresh and off answer nothing from the cache; --offline pays nothing.
    let refresh = plan(&suite, &["--cache", "refresh"]);
    assert_eq!(row(&refresh, "ask/fake")[2..4], ["0", "3"], "{refresh}");
    let offline = plan(&suite, &["--offline"]);
    assert_eq!(row(&offline, "ask/fake")[2..4], ["1", "0"], "{offline}");
    assert!(
        offline.contains("2 calls not in the cache: --offline errors them"),
        "{offline}"
    );

    // Once every case is cached, nothing is left to pay.
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
    let text = plan(&suite, &[]);
    assert_eq!(
        row(&text, "ask/fake"),
        ["ask/fake", "3", "3", "0", "0", "0", "$0.00"],
        "{text}"
    );
    assert!(
        text.contains("0 calls to pay, estimated cost at most $0.00."),
        "{text}"
    );
    assert_eq!(server.received_requests().await.map_or(0, |r| r.len()), 3);
}

#[tokio::test]
async fn without_max_tokens_the_output_comes_from_cached_answers_or_is_unbounded() {
    let server = echo_server().await;
    let suite = priced_suite(&server.uri(), "");
    let text = plan(&suite, &[]);
    assert_eq!(
        row(&text, "ask/fake"),
        [
            "ask/fake",
            "3",
            "0",
            "3",
            "18",
            "unbounded",
            "≥ $0.018 (input only)"
        ],
        "{text}"
    );
    assert!(
        text.contains("ask/fake: output unbounded: no max_tokens"),
        "{text}"
    );
    // The echo server answers with 3 output tokens: the mean of the cached answer.
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "--filter", "q000"]);
    let output = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        crate::fixtures::stderr(&output)
    );
    let text = plan(&suite, &[]);
    // (12 × 1000 + 6 × 2000) / 10⁶ = 0.024.
    assert_eq!(
        row(&text, "ask/fake"),
        ["ask/fake", "3", "1", "2", "12", "6", "~ $0.024"],
        "{text}"
    );
}

#[test]
fn a_model_without_a_price_says_so() {
    let suite = SuiteDir::new(
        r#"[suite]
name = "free"
[models.m]
provider = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
model = "x"
max_tokens = 10
[prompts.p]
user = "hello"
[datasets.d]
cases = [{ id = "a" }]
[[checks]]
type = "contains"
value = "x"
"#,
    );
    let text = plan(&suite, &[]);
    assert_eq!(
        row(&text, "p/m"),
        ["p/m", "1", "0", "1", "2", "10", "no price set"],
        "{text}"
    );
    assert!(text.contains("p/m: no price set"), "{text}");
}
