//! `evalgate report` and the `--junit`/`--markdown` flags of `run`: files written, the same text
//! from a run and from its results file, and clear errors for files that cannot be rendered.

use crate::fixtures::{SuiteDir, echo_server, echo_suite, stderr, stdout};

async fn run(cmd: assert_cmd::Command) -> std::process::Output {
    let mut cmd = cmd;
    tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join")
}

fn read(suite: &SuiteDir, name: &str) -> String {
    std::fs::read_to_string(suite.path().join(name)).expect(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_writes_reports_and_report_renders_the_same_from_the_results_file() {
    let server = echo_server().await;
    let suite = echo_suite(&server.uri(), 3, "");
    let mut cmd = suite.cmd();
    cmd.args([
        "run",
        "--no-progress",
        "--junit",
        "out/junit.xml",
        "--markdown",
        "out/report.md",
    ]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("junit: out/junit.xml"), "{out}");
    assert!(out.contains("markdown: out/report.md"), "{out}");

    let junit = read(&suite, "out/junit.xml");
    assert!(junit.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"echo\" tests=\"4\" failures=\"0\" errors=\"0\""), "{junit}");
    assert_eq!(junit.matches("<testcase name=\"q00").count(), 3);
    assert!(
        junit.contains("classname=\"evalgate echo ask∕fake\""),
        "{junit}"
    );
    let markdown = read(&suite, "out/report.md");
    assert!(markdown.starts_with("### ✅ evalgate PASS"), "{markdown}");

    // The same results file gives the same reports, with no server and no key.
    drop(server);
    let output = suite
        .cmd()
        .args([
            "report",
            ".evalgate/results.json",
            "--junit",
            "again.xml",
            "--markdown",
            "again.md",
        ])
        .output()
        .expect("report");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(read(&suite, "again.xml"), junit);
    assert_eq!(read(&suite, "again.md"), markdown);
}

fn report_error(suite: &SuiteDir, file: &str) -> String {
    let output = suite
        .cmd()
        .args(["report", file, "--junit", "j.xml"])
        .output()
        .expect("report");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(!suite.path().join("j.xml").exists());
    stderr(&output)
}

#[test]
fn unreadable_or_foreign_results_files_are_usage_errors_naming_the_file() {
    let suite = SuiteDir::new("");
    let err = report_error(&suite, "missing.json");
    assert!(
        err.starts_with("error: cannot read the results file missing.json: "),
        "{err}"
    );

    suite.file("broken.json", "{\"schema_version\": 1,");
    let err = report_error(&suite, "broken.json");
    assert!(
        err.starts_with("error: broken.json is not valid JSON: "),
        "{err}"
    );

    suite.file("future.json", "{\"schema_version\": 99}");
    let err = report_error(&suite, "future.json");
    assert!(
        err.contains(
            "future.json has results schema version 99, but this evalgate reads version 1"
        ),
        "{err}"
    );

    suite.file("other.json", "{\"name\": \"x\"}");
    let err = report_error(&suite, "other.json");
    assert!(
        err.contains("other.json is not an evalgate results file"),
        "{err}"
    );

    suite.file("partial.json", "{\"schema_version\": 1}");
    let err = report_error(&suite, "partial.json");
    assert!(
        err.contains("partial.json is not a valid evalgate results file: missing field"),
        "{err}"
    );
}

#[test]
fn report_without_an_output_says_what_to_pass() {
    let suite = SuiteDir::new("");
    let output = suite
        .cmd()
        .args(["report", "results.json"])
        .output()
        .expect("report");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("pass --junit FILE, --markdown FILE, or both"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_results_file_is_refused_with_what_is_wrong() {
    let server = echo_server().await;
    let suite = echo_suite(&server.uri(), 2, "");
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress"]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = read(&suite, ".evalgate/results.json");
    let good: serde_json::Value = serde_json::from_str(&text).expect("json");

    let tamper = |name: &str, change: &dyn Fn(&mut serde_json::Value)| {
        let mut bad = good.clone();
        change(&mut bad);
        suite.file(name, &bad.to_string());
        let err = report_error(&suite, name);
        // `compare` reads the same way.
        let output = suite
            .cmd()
            .args(["compare", ".evalgate/results.json", name])
            .output()
            .expect("compare");
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("is not a consistent"),
            "{}",
            stderr(&output)
        );
        err
    };
    let err = tamper("dup.json", &|v| {
        let first = v["results"][0].clone();
        v["results"].as_array_mut().expect("rows").push(first);
    });
    assert!(
        err.contains("dup.json is not a consistent evalgate results file: `results[2]` (ask/fake q000 repeat 0) appears twice"),
        "{err}"
    );
    let err = tamper("cell.json", &|v| {
        v["results"][1]["cell"] = "ask/ghost".into()
    });
    assert!(
        err.contains(
            "`results[1]` (ask/ghost q001 repeat 0): its cell is not among the file's `cells`"
        ),
        "{err}"
    );
    let err = tamper("score.json", &|v| v["results"][0]["score"] = 1.5.into());
    assert!(err.contains("score 1.5 is outside 0 to 1"), "{err}");
    let err = tamper("cost.json", &|v| {
        v["results"][0]["cost_usd"] = (-0.01).into()
    });
    assert!(err.contains("cost_usd -0.01 is below zero"), "{err}");
}
