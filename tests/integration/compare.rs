//! `evalgate compare BASE HEAD` on results files built here, and `evalgate run --baseline`
//! end to end against a fake provider.

use serde_json::{Value, json};

use crate::fixtures::{SuiteDir, echo_server, echo_suite, stderr, stdout};

/// A results file of suite `suite` with one call per case `q000`.., passing where `pass(i)`,
/// judged by `gate` (stored as `run.gate`, or left out when `Value::Null`).
fn results_file(suite: &str, n: usize, pass: impl Fn(usize) -> bool, gate: &Value) -> Value {
    let passed = (0..n).filter(|&i| pass(i)).count();
    let calls: Vec<Value> = (0..n)
        .map(|i| {
            let ok = pass(i);
            json!({
                "cell": "ask/fake",
                "case_id": format!("q{i:03}"),
                "repeat": 0,
                "vars": {"question": format!("question {i}")},
                "messages": [{"role": "user", "content": format!("question {i}")}],
                "output": format!("answer {i} {}", if ok { "right" } else { "wrong" }),
                "checks": [{
                    "type": "contains", "metric": "pass_rate", "weight": 1.0,
                    "score": if ok { 1.0 } else { 0.0 }, "passed": ok,
                    "reason": if ok { "found" } else { "expected the answer to contain \"right\"" }
                }],
                "score": if ok { 1.0 } else { 0.0 },
                "passed": ok,
                "error": null,
                "latency_ms": 100,
                "tokens": {"input": 10, "output": 5, "cached_input": 0},
                "cost_usd": 0.01,
                "cached": false,
                "attempts": 1
            })
        })
        .collect();
    let rate = passed as f64 / n as f64;
    let summary = json!({
        "cases": n, "calls": n, "passed": passed, "failed": n - passed, "errored": 0,
        "pass_rate": rate, "error_rate": 0.0, "cost_usd": 0.01 * n as f64,
        "spent_usd": 0.01 * n as f64, "input_tokens": 10 * n, "output_tokens": 5 * n,
        "cached_input_tokens": 0, "cache_hits": 0, "latency_p50_ms": 100, "latency_p95_ms": 100
    });
    let mut run = json!({
        "evalgate_version": "0.1.0",
        "suite": suite,
        "config_path": "evalgate.toml",
        "started_at": "2025-01-01T00:00:00Z",
        "finished_at": "2025-01-01T00:00:01Z",
        "duration_ms": 1000,
        "config_fingerprint": "cafe",
        "repeats": 1,
        "cache": "rw"
    });
    if !gate.is_null() {
        run["gate"] = gate.clone();
    }
    json!({
        "schema_version": 1,
        "run": run,
        "summary": summary,
        "metrics": {"pass_rate": {"mean": rate, "n": n, "ci_low": 0.0, "ci_high": 1.0, "score_mean": rate}},
        "cells": [{
            "id": "ask/fake", "prompt": "ask", "model": "fake", "provider": "openai-compatible",
            "model_name": "test-model", "fingerprint": "f1", "summary": summary
        }],
        "verdict": {"status": "pass", "rules": [], "reasons": []},
        "results": calls
    })
}

fn gate(max_drop: f64) -> Value {
    json!({"max_error_rate": 0.0, "confidence": 0.95, "metrics": {"pass_rate": {"max_drop": max_drop}}})
}

fn write(suite: &SuiteDir, name: &str, value: &Value) {
    suite.file(name, &serde_json::to_string_pretty(value).expect("json"));
}

/// A folder with `base.json` and `head.json` (the suite file is not used unless `-c` names it).
fn files(base: &Value, head: &Value) -> SuiteDir {
    let dir = SuiteDir::new("");
    write(&dir, "base.json", base);
    write(&dir, "head.json", head);
    dir
}

fn compare(dir: &SuiteDir, extra: &[&str]) -> std::process::Output {
    dir.cmd()
        .args(["compare", "base.json", "head.json"])
        .args(extra)
        .output()
        .expect("run")
}

#[test]
fn compare_of_an_unchanged_run_passes() {
    let run = results_file("echo", 100, |i| i % 10 != 0, &gate(0.02));
    let dir = files(&run, &run);
    let output = compare(&dir, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("Comparison metric"), "{out}");
    assert!(out.contains("Verdict PASS"), "{out}");
    assert!(out.contains("0 regressed, 0 improved"), "{out}");
}

#[test]
fn compare_fails_a_confident_drop_and_writes_the_verdict() {
    let base = results_file("echo", 200, |i| i % 10 != 0, &gate(0.02));
    let head = results_file("echo", 200, |i| i % 10 > 2, &gate(0.02));
    let dir = files(&base, &head);
    let output = compare(&dir, &["--results", "judged.json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains("pass_rate dropped 20.0 points (95% CI −")
            && out.contains("more than the 2.0 tolerated (p < 0.001)"),
        "{out}"
    );
    assert!(out.contains("REGRESSED ask/fake q001"), "{out}");
    assert!(out.contains("results: judged.json"), "{out}");
    insta::assert_snapshot!(out);
    let judged: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("judged.json")).expect("written"),
    )
    .expect("json");
    assert_eq!(judged["verdict"]["status"], "fail");
    let rules: Vec<&str> = judged["verdict"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["rule"].as_str())
        .collect();
    assert_eq!(rules, ["max_error_rate", "metrics.pass_rate.max_drop"]);
    let comparison = &judged["comparison"];
    assert_eq!(comparison["baseline"]["source"], "base.json");
    assert_eq!(comparison["metrics"][0]["method"], "mcnemar-exact");
    assert_eq!(comparison["metrics"][0]["status"], "fail");
    assert_eq!(comparison["cases"].as_array().map(Vec::len), Some(40));
    assert_eq!(comparison["cases"][0]["head_output"], "answer 1 wrong");
    // The judged file is itself a valid results file: comparing again gives the same verdict.
    let again = dir
        .cmd()
        .args(["compare", "base.json", "judged.json"])
        .output()
        .expect("run");
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(stdout(&again), out.replace("results: judged.json\n", ""));
}

#[test]
fn compare_writes_byte_identical_results_for_the_same_inputs() {
    // Three repeats per case and skewed changes: the seeded bootstrap decides.
    let mut base = results_file("echo", 40, |_| true, &gate(0.02));
    let calls = base["results"].as_array().expect("calls").clone();
    let mut repeated = Vec::new();
    for call in &calls {
        for repeat in 0..3 {
            let mut c = call.clone();
            c["repeat"] = json!(repeat);
            repeated.push(c);
        }
    }
    base["results"] = json!(repeated);
    let mut head = base.clone();
    for call in head["results"]
        .as_array_mut()
        .expect("calls")
        .iter_mut()
        .take(12)
    {
        if call["repeat"] == 0 {
            call["passed"] = json!(false);
            call["score"] = json!(0.0);
        }
    }
    let dir = files(&base, &head);
    let first = compare(&dir, &["--results", "one.json"]);
    let second = compare(&dir, &["--results", "two.json"]);
    assert_eq!(first.status.code(), second.status.code());
    let read = |name: &str| std::fs::read(dir.path().join(name)).expect("written");
    assert_eq!(read("one.json"), read("two.json"));
    let judged: Value = serde_json::from_slice(&read("one.json")).expect("json");
    assert_eq!(
        judged["comparison"]["metrics"][0]["method"],
        "paired-bootstrap"
    );
}

#[test]
fn compare_passes_noise_within_the_tolerance() {
    // Three cases fail in base, three others in head: the same pass rate, reshuffled.
    let base = results_file("echo", 60, |i| !matches!(i, 3 | 17 | 40), &gate(0.02));
    let head = results_file("echo", 60, |i| !matches!(i, 5 | 22 | 51), &gate(0.02));
    let dir = files(&base, &head);
    let output = compare(&dir, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("3 regressed, 3 improved"), "{out}");
    assert!(out.contains("a true drop of"), "{out}");
}

#[test]
fn an_outage_in_head_is_an_error_never_a_regression() {
    let base = results_file("echo", 100, |_| true, &gate(0.02));
    let mut head = results_file("echo", 100, |_| true, &gate(0.02));
    // The provider failed on 30 calls: not graded, never failed.
    for call in head["results"]
        .as_array_mut()
        .expect("calls")
        .iter_mut()
        .take(30)
    {
        call["error"] = json!("HTTP 503 from provider: overloaded");
        call["output"] = Value::Null;
        call["passed"] = json!(false);
        call["checks"] = json!([]);
    }
    head["summary"]["passed"] = json!(70);
    head["summary"]["errored"] = json!(30);
    head["summary"]["error_rate"] = json!(0.3);
    let output = compare(&files(&base, &head), &[]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("0 regressed"), "{out}");
    assert!(
        out.contains("30 not paired because every call errored on one side"),
        "{out}"
    );
    assert!(out.contains("Verdict ERROR"), "{out}");
    assert!(
        out.contains("error rate 30.0% (30 of 100 calls) exceeds the maximum 0.0%"),
        "{out}"
    );
}

#[test]
fn compare_of_another_suite_is_a_usage_error_naming_both_files() {
    let base = results_file("other-bot", 10, |_| true, &gate(0.02));
    let head = results_file("echo", 10, |_| true, &gate(0.02));
    let output = compare(&files(&base, &head), &[]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains(
            "error: base.json is a run of suite `other-bot`, but head.json is a run of suite `echo`"
        ),
        "{err}"
    );
}

#[test]
fn compare_rejects_an_unknown_schema_version() {
    let mut base = results_file("echo", 10, |_| true, &gate(0.02));
    base["schema_version"] = json!(99);
    let head = results_file("echo", 10, |_| true, &gate(0.02));
    let output = compare(&files(&base, &head), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "error: base.json has results schema version 99, but this evalgate reads version 1\n  \
         = hint: read it with the evalgate version that wrote it, or run the suite again with this one\n"
    );
}

#[test]
fn compare_names_a_missing_or_invalid_file() {
    let head = results_file("echo", 10, |_| true, &gate(0.02));
    let dir = SuiteDir::new("");
    write(&dir, "head.json", &head);
    let output = compare(&dir, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with("error: cannot read the results file base.json: "),
        "{}",
        stderr(&output)
    );
    dir.file("base.json", "{\"schema_version\": 1, \"run\": 3}");
    let output = compare(&dir, &[]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.starts_with("error: base.json is not a valid evalgate results file: ")
            && err.contains("line 1"),
        "{err}"
    );
}

#[test]
fn compare_needs_a_gate_from_the_file_or_the_suite() {
    let base = results_file("echo", 200, |i| i % 10 != 0, &Value::Null);
    let head = results_file("echo", 200, |i| i % 10 > 2, &Value::Null);
    let dir = files(&base, &head);
    let output = compare(&dir, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("head.json does not record the gate it was run with"),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("hint: pass the suite file with `-c FILE`"));
    // The suite file's [gate] decides.
    let server_less = echo_suite(
        "http://127.0.0.1:9",
        1,
        "\n[gate.metrics.pass_rate]\nmax_drop = 0.05\n",
    );
    write(&server_less, "base.json", &base);
    write(&server_less, "head.json", &head);
    let output = compare(&server_less, &["-c", "evalgate.toml"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("more than the 5.0 tolerated"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_a_baseline_stores_the_comparison() {
    let server = echo_server().await;
    let suite = echo_suite(
        &server.uri(),
        6,
        "\n[gate.metrics.pass_rate]\nmax_drop = 0.02\n",
    );
    let run = |args: Vec<&'static str>| {
        let mut cmd = suite.cmd();
        cmd.args(args);
        tokio::task::spawn_blocking(move || cmd.output().expect("run"))
    };
    let first = run(vec!["run", "--no-progress", "--results", "base.json"])
        .await
        .expect("join");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let second = run(vec!["run", "--no-progress", "--baseline", "base.json"])
        .await
        .expect("join");
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let out = stdout(&second);
    assert!(out.contains("Baseline base.json"), "{out}");
    let results = suite.results();
    let comparison = &results["comparison"];
    assert_eq!(comparison["unchanged"], 6);
    assert_eq!(comparison["cells"][0]["change"], "unchanged");
    assert_eq!(
        results["run"]["gate"]["metrics"]["pass_rate"]["max_drop"],
        0.02
    );
    let rules: Vec<&str> = results["verdict"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["rule"].as_str())
        .collect();
    assert_eq!(rules, ["max_error_rate", "metrics.pass_rate.max_drop"]);

    // A baseline of another suite is refused before any call is made.
    let mut other: Value = serde_json::from_str(
        &std::fs::read_to_string(suite.path().join("base.json")).expect("base"),
    )
    .expect("json");
    other["run"]["suite"] = json!("someone-else");
    write(&suite, "other.json", &other);
    let calls_before = server.received_requests().await.map(|r| r.len());
    let refused = run(vec![
        "run",
        "--no-progress",
        "--cache",
        "off",
        "--baseline",
        "other.json",
    ])
    .await
    .expect("join");
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("other.json is a run of suite `someone-else`"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        server.received_requests().await.map(|r| r.len()),
        calls_before
    );
}

#[test]
fn compare_writes_the_junit_and_markdown_of_the_judged_run() {
    let base = results_file("echo", 200, |i| i % 10 != 0, &gate(0.02));
    let head = results_file("echo", 200, |i| i % 10 > 2, &gate(0.02));
    let dir = files(&base, &head);
    let output = compare(&dir, &["--junit", "report.xml", "--markdown", "report.md"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let markdown = std::fs::read_to_string(dir.path().join("report.md")).expect("markdown");
    assert!(markdown.starts_with("### ❌ evalgate FAIL"), "{markdown}");
    assert!(
        markdown.contains("| pass\\_rate (n=200) | 90.0% | 70.0% |"),
        "{markdown}"
    );
    let junit = std::fs::read_to_string(dir.path().join("report.xml")).expect("junit");
    assert!(junit.contains("regressed against the baseline"), "{junit}");
    assert!(stdout(&output).contains("junit: report.xml"));
}

/// One results file with cells `answer/gpt-4.1-mini` (passing where `old(i)`) and
/// `answer/gpt-5-mini` (passing where `new(i)`), of `n` cases each, judged by `gate(0.02)`.
fn rotation_file(n: usize, old: impl Fn(usize) -> bool, new: impl Fn(usize) -> bool) -> Value {
    let relabel = |mut file: Value, model: &str| {
        let id = format!("answer/{model}");
        for call in file["results"].as_array_mut().expect("results") {
            call["cell"] = json!(id);
        }
        let mut cell = file["cells"][0].clone();
        cell["id"] = json!(id);
        cell["prompt"] = json!("answer");
        cell["model"] = json!(model);
        cell["fingerprint"] = json!(format!("fp-{model}"));
        (cell, file["results"].clone())
    };
    let mut file = results_file("echo", n, &old, &gate(0.02));
    let (old_cell, old_calls) = relabel(file.clone(), "gpt-4.1-mini");
    let (new_cell, new_calls) = relabel(results_file("echo", n, new, &gate(0.02)), "gpt-5-mini");
    file["cells"] = json!([old_cell, new_cell]);
    let mut calls = old_calls.as_array().expect("calls").clone();
    calls.extend(new_calls.as_array().expect("calls").iter().cloned());
    file["results"] = json!(calls);
    file
}

fn compare_cells(
    file: &Value,
    old: &str,
    new: &str,
    extra: &[&str],
) -> (SuiteDir, std::process::Output) {
    let dir = SuiteDir::new("");
    write(&dir, "results.json", file);
    let output = dir
        .cmd()
        .args(["compare", "--cells", old, new, "results.json"])
        .args(extra)
        .output()
        .expect("run");
    (dir, output)
}

#[test]
fn compare_cells_fails_a_new_model_that_drops_and_lists_its_regressed_cases() {
    let file = rotation_file(200, |i| i % 10 != 0, |i| i % 10 > 2);
    let (dir, output) = compare_cells(
        &file,
        "answer/gpt-4.1-mini",
        "answer/gpt-5-mini",
        &[
            "--results",
            "judged.json",
            "--junit",
            "report.xml",
            "--markdown",
            "report.md",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains("Baseline cell answer/gpt-4.1-mini of results.json (suite echo"),
        "{out}"
    );
    assert!(out.contains("pass_rate dropped 20.0 points"), "{out}");
    assert!(out.contains("REGRESSED answer/gpt-5-mini q001"), "{out}");
    assert!(out.contains("Verdict FAIL"), "{out}");
    let judged: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("judged.json")).expect("written"),
    )
    .expect("json");
    assert_eq!(judged["verdict"]["status"], "fail");
    let comparison = &judged["comparison"];
    assert_eq!(
        comparison["baseline"]["source"],
        "cell answer/gpt-4.1-mini of results.json"
    );
    let regressed: Vec<&str> = comparison["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| c["change"] == "regressed")
        .filter_map(|c| c["case_id"].as_str())
        .collect();
    assert_eq!(regressed.len(), 40, "{regressed:?}");
    assert_eq!(regressed[..2], ["q001", "q002"]);
    let markdown = std::fs::read_to_string(dir.path().join("report.md")).expect("markdown");
    assert!(markdown.starts_with("### ❌ evalgate FAIL"), "{markdown}");
    assert!(
        markdown.contains("vs baseline cell answer/gpt-4.1-mini of results.json"),
        "{markdown}"
    );
    let junit = std::fs::read_to_string(dir.path().join("report.xml")).expect("junit");
    assert!(
        junit.contains("cell answer/gpt-4.1-mini of results.json"),
        "{junit}"
    );
}

#[test]
fn compare_cells_passes_identical_cells() {
    let file = rotation_file(100, |i| i % 10 != 0, |i| i % 10 != 0);
    let (_dir, output) = compare_cells(&file, "answer/gpt-4.1-mini", "answer/gpt-5-mini", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("0 regressed, 0 improved"), "{out}");
    assert!(out.contains("Verdict PASS"), "{out}");
}

#[test]
fn compare_cells_names_the_cells_of_the_file_for_an_unknown_one() {
    let file = rotation_file(5, |_| true, |_| true);
    let (_dir, output) = compare_cells(&file, "answer/gpt-4.1-mini", "answer/gpt-5", &[]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stderr(&output),
        "error: results.json has no cell `answer/gpt-5`; its cells are: answer/gpt-4.1-mini, answer/gpt-5-mini\n  = hint: name two cells as PROMPT/MODEL, exactly as the file's `cells[].id` spell them\n"
    );
}

#[test]
fn compare_cells_takes_one_results_file() {
    let file = rotation_file(5, |_| true, |_| true);
    let dir = SuiteDir::new("");
    write(&dir, "results.json", &file);
    let output = dir
        .cmd()
        .args([
            "compare",
            "--cells",
            "answer/gpt-4.1-mini",
            "answer/gpt-5-mini",
        ])
        .args(["results.json", "results.json"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot be used with"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn compare_cells_of_different_prompts_says_so_and_cells_without_common_cases_exit_2() {
    let mut file = rotation_file(20, |_| true, |_| true);
    let cells = file["cells"].as_array_mut().expect("cells");
    cells[1]["id"] = json!("terse/gpt-5-mini");
    cells[1]["prompt"] = json!("terse");
    for call in file["results"].as_array_mut().expect("calls") {
        if call["cell"] == "answer/gpt-5-mini" {
            call["cell"] = json!("terse/gpt-5-mini");
        }
    }
    let (_dir, output) = compare_cells(&file, "answer/gpt-4.1-mini", "terse/gpt-5-mini", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.starts_with("note: the cells run different prompts (`answer` and `terse`)"),
        "{out}"
    );
    assert!(
        out.contains("cell answer/gpt-4.1-mini of results.json (another prompt: answer)"),
        "{out}"
    );

    for call in file["results"].as_array_mut().expect("calls") {
        if call["cell"] == "terse/gpt-5-mini" {
            let id = call["case_id"].as_str().expect("id").to_owned();
            call["case_id"] = json!(format!("other-{id}"));
        }
    }
    let (_dir, output) = compare_cells(&file, "answer/gpt-4.1-mini", "terse/gpt-5-mini", &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with(
            "error: cells `answer/gpt-4.1-mini` and `terse/gpt-5-mini` of results.json have no case in common"
        ),
        "{}",
        stderr(&output)
    );
}
