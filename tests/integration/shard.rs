//! `evalgate run --shard I/N` and `evalgate merge`: shards of a suite merged back into the same
//! results as one whole run, and the merge errors that keep unrelated files apart.

use serde_json::Value;

use crate::fixtures::{SuiteDir, echo_server, stderr, stdout};

async fn run(cmd: assert_cmd::Command) -> std::process::Output {
    let mut cmd = cmd;
    tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join")
}

/// Two models, two datasets and two repeats, so the merge has to interleave cells, datasets and
/// repeats; odd questions fail the regex check, so the verdict depends on every shard.
fn suite(base_url: &str) -> SuiteDir {
    let toml = format!(
        r#"[suite]
name = "sharded"

[defaults]
temperature = 0
max_retries = 0
repeats = 2

[models.one]
provider = "openai-compatible"
base_url = "{base_url}/v1"
model = "model-one"
price = {{ input_per_mtok = 1.0, output_per_mtok = 2.0 }}

[models.two]
provider = "openai-compatible"
base_url = "{base_url}/v1"
model = "model-two"

[prompts.ask]
user = "{{{{ question }}}}"

[datasets.first]
file = "first.jsonl"

[datasets.second]
file = "second.jsonl"

[[checks]]
type = "contains"
value = "answer to"

[[checks]]
type = "regex"
pattern = "[02468]$"
metric = "even"

[gate]
min_pass_rate = 0.4
"#
    );
    let suite = SuiteDir::new(&toml);
    let rows = |prefix: &str, n: usize| -> String {
        (0..n)
            .map(|i| {
                format!(
                    "{{\"id\": \"{prefix}{i:02}\", \"vars\": {{\"question\": \"question {i}\"}}}}\n"
                )
            })
            .collect()
    };
    suite.file("first.jsonl", &rows("a", 9));
    suite.file("second.jsonl", &rows("b", 7));
    suite
}

fn read(suite: &SuiteDir, name: &str) -> Value {
    let text = std::fs::read_to_string(suite.path().join(name)).expect("results file");
    serde_json::from_str(&text).expect("results JSON")
}

/// The results without what timing decides: timestamps, durations and latencies.
fn without_timing(mut value: Value) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for key in [
                    "started_at",
                    "finished_at",
                    "duration_ms",
                    "latency_ms",
                    "latency_p50_ms",
                    "latency_p95_ms",
                ] {
                    map.remove(key);
                }
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut value);
    value
}

/// Runs shards 1..=count into `shard-I.json`; returns what each printed.
async fn run_shards(suite: &SuiteDir, count: u32) -> Vec<String> {
    let mut printed = Vec::new();
    for i in 1..=count {
        let mut cmd = suite.cmd();
        cmd.args(["run", "--no-progress", "--cache", "off", "--shard"])
            .arg(format!("{i}/{count}"))
            .args(["--results", &format!("shard-{i}.json")]);
        let output = run(cmd).await;
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "{}",
            stderr(&output)
        );
        assert!(
            stdout(&output).contains(&format!("partial run: shard {i}/{count}")),
            "{}",
            stdout(&output)
        );
        printed.push(stdout(&output));
    }
    printed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_merged_shards_equal_one_whole_run() {
    let server = echo_server().await;
    let suite = suite(&server.uri());
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "--cache", "off"])
        .args(["--results", "whole.json"]);
    let whole_output = run(cmd).await;
    let whole = read(&suite, "whole.json");
    assert_eq!(whole["summary"]["calls"], 64, "{}", stderr(&whole_output));

    run_shards(&suite, 3).await;
    let mut sizes = Vec::new();
    for i in 1..=3 {
        let shard = read(&suite, &format!("shard-{i}.json"));
        assert_eq!(shard["run"]["shard"]["index"], i);
        assert_eq!(shard["run"]["shard"]["count"], 3);
        // A shard keeps the whole suite's fingerprints, so the merge can tell they belong together.
        assert_eq!(
            shard["run"]["config_fingerprint"],
            whole["run"]["config_fingerprint"]
        );
        assert_eq!(
            shard["cells"][1]["fingerprint"],
            whole["cells"][1]["fingerprint"]
        );
        sizes.push(shard["summary"]["calls"].as_u64().expect("calls"));
    }
    assert_eq!(sizes.iter().sum::<u64>(), 64, "{sizes:?}");

    // Given out of order: the merge orders by shard index, then by plan position.
    let mut cmd = suite.cmd();
    cmd.args(["merge", "shard-3.json", "shard-1.json", "shard-2.json"])
        .args(["--results", "merged.json", "--junit", "merged.xml"]);
    let output = run(cmd).await;
    assert_eq!(
        output.status.code(),
        whole_output.status.code(),
        "{}",
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("merged 3 shards: merged.json"),
        "{}",
        stdout(&output)
    );
    assert!(suite.path().join("merged.xml").exists());
    let merged = read(&suite, "merged.json");
    assert!(merged["run"].get("shard").is_none());
    assert_eq!(without_timing(merged), without_timing(whole));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merged_run_compares_with_a_baseline_like_run_does() {
    let server = echo_server().await;
    let suite = suite(&server.uri());
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "--results", "base.json"]);
    run(cmd).await;
    run_shards(&suite, 2).await;
    let mut cmd = suite.cmd();
    cmd.args([
        "merge",
        "shard-1.json",
        "shard-2.json",
        "--baseline",
        "base.json",
    ]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let merged = suite.results();
    assert_eq!(merged["comparison"]["unchanged"], 32);
    assert_eq!(merged["comparison"]["baseline"]["source"], "base.json");
}

#[test]
fn a_bad_shard_argument_is_a_usage_error() {
    let suite = SuiteDir::new("");
    for bad in ["0/3", "4/3", "2"] {
        let output = suite
            .cmd()
            .args(["run", "--shard", bad])
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(
            stderr(&output).contains(&format!("invalid value '{bad}' for '--shard <I/N>'")),
            "{}",
            stderr(&output)
        );
    }
    let output = suite
        .cmd()
        .args(["run", "--shard", "4/3"])
        .output()
        .expect("run");
    insta::assert_snapshot!(stderr(&output));

    // A baseline is compared with the merged run: against one shard every other case would look
    // removed.
    let output = suite
        .cmd()
        .args(["run", "--shard", "1/3", "--baseline", "base.json"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("'--shard <I/N>' cannot be used with '--baseline <FILE>'"),
        "{}",
        stderr(&output)
    );
}

/// A shard results file with the given suite, fingerprint, index and count, holding case `c{i}`.
fn shard_file(suite: &str, fingerprint: &str, index: u32, count: u32) -> String {
    serde_json::json!({
        "schema_version": 1,
        "run": {
            "evalgate_version": "0.1.0",
            "suite": suite,
            "config_path": "evalgate.toml",
            "started_at": "2025-01-01T00:00:00Z",
            "finished_at": "2025-01-01T00:00:01Z",
            "duration_ms": 1000,
            "config_fingerprint": fingerprint,
            "repeats": 1,
            "cache": "rw",
            "gate": {"max_error_rate": 0.0, "confidence": 0.95, "metrics": {}, "cost": {}, "latency": {}},
            "shard": {"index": index, "count": count, "positions": [index]}
        },
        "summary": {
            "cases": 1, "calls": 1, "passed": 1, "failed": 0, "errored": 0, "pass_rate": 1.0,
            "error_rate": 0.0, "cost_usd": 0.0, "spent_usd": 0.0, "input_tokens": 1,
            "output_tokens": 1, "cached_input_tokens": 0, "cache_hits": 0,
            "latency_p50_ms": 1, "latency_p95_ms": 1
        },
        "metrics": {},
        "cells": [{
            "id": "p/m", "prompt": "p", "model": "m", "provider": "openai-compatible",
            "model_name": "x", "fingerprint": "f",
            "summary": {
                "cases": 1, "calls": 1, "passed": 1, "failed": 0, "errored": 0, "pass_rate": 1.0,
                "error_rate": 0.0, "cost_usd": 0.0, "spent_usd": 0.0, "input_tokens": 1,
                "output_tokens": 1, "cached_input_tokens": 0, "cache_hits": 0,
                "latency_p50_ms": 1, "latency_p95_ms": 1
            }
        }],
        "verdict": {"status": "pass", "rules": [], "reasons": []},
        "results": [{
            "cell": "p/m", "case_id": format!("c{index}"), "repeat": 0, "vars": {},
            "messages": [], "output": "ok", "checks": [], "score": 1.0, "passed": true,
            "error": null, "latency_ms": 1, "tokens": {"input": 1, "output": 1, "cached_input": 0},
            "cost_usd": 0.0, "cached": false, "attempts": 1
        }]
    })
    .to_string()
}

/// `evalgate merge FILES` on shard files written here; asserts exit code 2 and returns stderr.
fn merge_error(files: &[(&str, String)]) -> String {
    let suite = SuiteDir::new("");
    for (name, content) in files {
        suite.file(name, content);
    }
    let output = suite
        .cmd()
        .arg("merge")
        .args(files.iter().map(|(name, _)| *name))
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(!suite.path().join(".evalgate/results.json").exists());
    stderr(&output)
}

#[test]
fn well_formed_shard_files_merge() {
    // The error tests below change one thing each from these files.
    let suite = SuiteDir::new("");
    suite.file("s1.json", &shard_file("t", "cafe", 1, 2));
    suite.file("s2.json", &shard_file("t", "cafe", 2, 2));
    let output = suite
        .cmd()
        .args(["merge", "s2.json", "s1.json"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let merged = suite.results();
    assert_eq!(merged["results"][0]["case_id"], "c1");
    assert_eq!(merged["results"][1]["case_id"], "c2");
    assert_eq!(merged["summary"]["cases"], 2);
}

#[test]
fn merging_shards_of_different_suites_names_both_files() {
    insta::assert_snapshot!(merge_error(&[
        ("s1.json", shard_file("t", "cafe", 1, 2)),
        ("s2.json", shard_file("other", "cafe", 2, 2)),
    ]));
}

#[test]
fn merging_shards_of_different_configurations_names_both_files() {
    insta::assert_snapshot!(merge_error(&[
        ("s1.json", shard_file("t", "cafe", 1, 2)),
        ("s2.json", shard_file("t", "beef", 2, 2)),
    ]));
}

#[test]
fn merging_shards_of_different_counts_names_both_files() {
    insta::assert_snapshot!(merge_error(&[
        ("s1.json", shard_file("t", "cafe", 1, 2)),
        ("s2.json", shard_file("t", "cafe", 2, 3)),
    ]));
}

#[test]
fn a_missing_shard_is_named() {
    insta::assert_snapshot!(merge_error(&[
        ("s1.json", shard_file("t", "cafe", 1, 3)),
        ("s3.json", shard_file("t", "cafe", 3, 3)),
    ]));
}

#[test]
fn a_duplicated_shard_names_both_files() {
    insta::assert_snapshot!(merge_error(&[
        ("s1.json", shard_file("t", "cafe", 1, 2)),
        ("s2.json", shard_file("t", "cafe", 2, 2)),
        ("again.json", shard_file("t", "cafe", 2, 2)),
    ]));
}

#[test]
fn a_case_in_two_shards_is_an_overlap() {
    let second = shard_file("t", "cafe", 2, 2).replace("\"c2\"", "\"c1\"");
    insta::assert_snapshot!(merge_error(&[
        ("s1.json", shard_file("t", "cafe", 1, 2)),
        ("s2.json", second),
    ]));
}

#[test]
fn a_whole_run_is_not_a_shard() {
    let whole = shard_file("t", "cafe", 1, 1)
        .replace(r#","shard":{"count":1,"index":1,"positions":[1]}"#, "");
    assert!(!whole.contains("\"shard\""), "{whole}");
    insta::assert_snapshot!(merge_error(&[("whole.json", whole)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_shard_exits_0_and_still_merges() {
    let server = echo_server().await;
    // One case in two shards: one of them is empty.
    let suite = crate::fixtures::echo_suite(&server.uri(), 1, "");
    let printed = run_shards(&suite, 2).await;
    let sizes: Vec<u64> = (1..=2)
        .map(|i| read(&suite, &format!("shard-{i}.json"))["summary"]["calls"].as_u64())
        .map(|calls| calls.expect("calls"))
        .collect();
    assert_eq!(sizes.iter().sum::<u64>(), 1, "{sizes:?}");
    let empty = sizes
        .iter()
        .position(|&calls| calls == 0)
        .expect("an empty shard");
    assert!(
        printed[empty].contains("holds none of the 1 calls, so there is nothing to gate here"),
        "{}",
        printed[empty]
    );
    let mut cmd = suite.cmd();
    cmd.args(["merge", "shard-1.json", "shard-2.json"]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(suite.results()["results"][0]["case_id"], "q000");
}
