//! Aggregation: per-call results into run and cell summaries and per-metric estimates with
//! Wilson intervals.
//!
//! Repeats of a case are a cluster, never independent samples (DESIGN.md §8): every metric first
//! averages a case's graded repeats, then averages over cases, and `n` counts cases.

use std::collections::BTreeMap;

use crate::results::{CallResult, MetricSummary, PASS_RATE_METRIC, Summary};
use crate::stats::wilson;

/// Counts, rates, cost, tokens and latency over `results` (any subset: a run, a cell, a shard).
///
/// - `passed`, `failed` and `errored` count calls; an errored call is neither passed nor failed.
/// - `pass_rate` = passed / (passed + failed); when nothing was graded it is 0, so a run that
///   graded nothing can never look healthy (the gate reports it as an error on its own).
/// - `error_rate` = errored / calls, 0 for no calls.
/// - `spent_usd` counts only calls not served from the cache; `cost_usd` counts every call.
///   Both include the calls checks made (judges, embeddings), which `judge` also reports apart.
/// - Latency percentiles (nearest rank) cover calls that were really made and answered: cached
///   replays, batch answers and errored calls would distort them. 0 when there are none.
pub fn summarize(results: &[CallResult]) -> Summary {
    let mut summary = Summary::default();
    let mut cases = std::collections::BTreeSet::new();
    let mut latencies = Vec::new();
    for call in results {
        cases.insert((call.cell.as_str(), call.case_id.as_str()));
        summary.calls += 1;
        if call.is_errored() {
            summary.errored += 1;
        } else if call.passed {
            summary.passed += 1;
        } else {
            summary.failed += 1;
        }
        summary.cost_usd += call.cost_usd;
        if call.cached {
            summary.cache_hits += 1;
        } else {
            summary.spent_usd += call.cost_usd;
            // A batch's answer has no latency of its own: it came back with the batch.
            if !call.is_errored() && call.batch.is_none() {
                latencies.push(call.latency_ms);
            }
        }
        summary.judge.add(&call.judge);
        summary.rate_limited.add(&call.rate_limited);
        summary.cost_usd += call.judge.cost_usd;
        summary.spent_usd += call.judge.spent_usd;
        summary.input_tokens += call.tokens.input;
        summary.output_tokens += call.tokens.output;
        summary.cached_input_tokens += call.tokens.cached_input;
    }
    summary.cases = cases.len() as u64;
    let graded = summary.passed + summary.failed;
    summary.pass_rate = ratio(summary.passed, graded);
    summary.error_rate = ratio(summary.errored, summary.calls);
    latencies.sort_unstable();
    summary.latency_p50_ms = nearest_rank(&latencies, 50);
    summary.latency_p95_ms = nearest_rank(&latencies, 95);
    summary
}

/// [`summarize`] for each cell, keyed by cell id (`PROMPT/MODEL`).
pub fn summarize_by_cell(results: &[CallResult]) -> BTreeMap<String, Summary> {
    let mut by_cell: BTreeMap<&str, Vec<CallResult>> = BTreeMap::new();
    for call in results {
        by_cell
            .entry(call.cell.as_str())
            .or_default()
            .push(call.clone());
    }
    by_cell
        .into_iter()
        .map(|(cell, calls)| (cell.to_owned(), summarize(&calls)))
        .collect()
}

/// Per-metric estimates over all cells, with Wilson intervals at `confidence` (e.g. 0.95).
///
/// `pass_rate` is always present: a call's value is whether it passed. Every other metric named
/// by a check gets an entry: a call's value for metric M is 1 when all its checks feeding M
/// passed; calls without a check for M do not count for M. Errored calls count for nothing.
/// `score_mean` is the same cluster mean over the weighted check scores (for `pass_rate`, the
/// call's overall score).
pub fn metrics(results: &[CallResult], confidence: f64) -> BTreeMap<String, MetricSummary> {
    // metric → case (cell, case id) → accumulated repeats.
    let mut acc: BTreeMap<&str, BTreeMap<(&str, &str), Cluster>> = BTreeMap::new();
    acc.insert(PASS_RATE_METRIC, BTreeMap::new());
    for call in results.iter().filter(|call| !call.is_errored()) {
        let case = (call.cell.as_str(), call.case_id.as_str());
        for (metric, passed, score) in call_metrics(call) {
            acc.entry(metric)
                .or_default()
                .entry(case)
                .or_default()
                .add(passed, score);
        }
    }
    acc.into_iter()
        .map(|(metric, cases)| (metric.to_owned(), metric_summary(&cases, confidence)))
        .collect()
}

/// One graded call's value for every metric it feeds, `pass_rate` first: (metric, passed,
/// score). `pass_rate` is the call's overall outcome; metric M passes when all the call's checks
/// feeding M passed, and scores the weighted mean of their scores. The caller skips errored
/// calls: they feed no metric.
pub fn call_metrics(call: &CallResult) -> Vec<(&str, bool, f64)> {
    let mut per_metric: BTreeMap<&str, (bool, f64, f64, f64, usize)> = BTreeMap::new();
    for check in call
        .checks
        .iter()
        .filter(|check| check.metric != PASS_RATE_METRIC)
    {
        let entry = per_metric
            .entry(check.metric.as_str())
            .or_insert((true, 0.0, 0.0, 0.0, 0));
        entry.0 &= check.passed;
        entry.1 += check.weight * check.score;
        entry.2 += check.weight;
        entry.3 += check.score;
        entry.4 += 1;
    }
    let mut out = vec![(PASS_RATE_METRIC, call.passed, call.score)];
    for (metric, (passed, weighted, weights, plain, count)) in per_metric {
        // Zero total weight would make the weighted mean undefined: fall back to the plain mean.
        let score = if weights > 0.0 {
            weighted / weights
        } else {
            plain / count as f64
        };
        out.push((metric, passed, score));
    }
    out
}

/// One case's graded repeats for one metric.
#[derive(Debug, Default)]
struct Cluster {
    passed: f64,
    score: f64,
    repeats: u32,
}

impl Cluster {
    fn add(&mut self, passed: bool, score: f64) {
        self.passed += if passed { 1.0 } else { 0.0 };
        self.score += score;
        self.repeats += 1;
    }
}

fn metric_summary(cases: &BTreeMap<(&str, &str), Cluster>, confidence: f64) -> MetricSummary {
    let n = cases.len();
    let (mut pass_sum, mut score_sum) = (0.0, 0.0);
    for cluster in cases.values() {
        let repeats = f64::from(cluster.repeats);
        pass_sum += cluster.passed / repeats;
        score_sum += cluster.score / repeats;
    }
    let (mean, score_mean) = if n == 0 {
        (0.0, 0.0)
    } else {
        (pass_sum / n as f64, score_sum / n as f64)
    };
    let (ci_low, ci_high) = wilson(pass_sum, n as f64, confidence);
    MetricSummary {
        mean,
        n: n as u64,
        ci_low,
        ci_high,
        confidence,
        score_mean,
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Nearest-rank percentile of ascending `sorted` values; 0 when empty.
fn nearest_rank(sorted: &[u64], percent: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_helpers::{call, check, errored};

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() < 1e-4
    }

    #[test]
    fn summarize_excludes_errored_calls_from_pass_rate() {
        let results = vec![
            call("a/m", "c1", 0, true),
            call("a/m", "c2", 0, true),
            call("a/m", "c3", 0, false),
            errored("a/m", "c4", 0, "connection refused"),
        ];
        let summary = summarize(&results);
        assert_eq!((summary.passed, summary.failed, summary.errored), (2, 1, 1));
        assert!(close(summary.pass_rate, 2.0 / 3.0));
        assert!(close(summary.error_rate, 0.25));
        assert_eq!((summary.cases, summary.calls), (4, 4));
    }

    #[test]
    fn summarize_separates_spent_from_cost_for_cached_calls() {
        let mut replayed = call("a/m", "c2", 0, true);
        replayed.cached = true;
        replayed.cost_usd = 0.02;
        replayed.latency_ms = 1;
        replayed.tokens.cached_input = 3;
        let results = vec![call("a/m", "c1", 0, true), replayed];
        let summary = summarize(&results);
        assert!(close(summary.cost_usd, 0.03));
        assert!(close(summary.spent_usd, 0.01));
        assert_eq!(summary.cache_hits, 1);
        assert_eq!(
            (
                summary.input_tokens,
                summary.output_tokens,
                summary.cached_input_tokens
            ),
            (20, 10, 3)
        );
        // The cached replay's 1 ms must not count as a measured latency.
        assert_eq!((summary.latency_p50_ms, summary.latency_p95_ms), (100, 100));
    }

    #[test]
    fn summarize_latency_is_nearest_rank_over_measured_calls() {
        let mut results: Vec<_> = (1..=20)
            .map(|i| {
                let mut c = call("a/m", &format!("c{i}"), 0, true);
                c.latency_ms = i * 10;
                c
            })
            .collect();
        let mut failed_call = errored("a/m", "slow", 0, "timeout");
        failed_call.latency_ms = 60_000;
        results.push(failed_call);
        // A batch's answer came back with the batch: no latency of its own to count.
        let mut batched = call("a/m", "batched", 0, true);
        batched.latency_ms = 0;
        batched.batch = Some(crate::results::BatchUse {
            id: "batch_abc".into(),
            list_cost_usd: 0.02,
        });
        results.push(batched);
        let summary = summarize(&results);
        assert_eq!(summary.latency_p50_ms, 100);
        assert_eq!(summary.latency_p95_ms, 190);
        assert_eq!(summary.cases, 22);
    }

    #[test]
    fn summarize_empty_and_ungraded_runs_have_zero_rates() {
        assert_eq!(summarize(&[]), Summary::default());
        let summary = summarize(&[errored("a/m", "c1", 0, "quota")]);
        assert_eq!(summary.pass_rate, 0.0);
        assert_eq!(summary.error_rate, 1.0);
        assert_eq!(summary.latency_p95_ms, 0);
    }

    #[test]
    fn summarize_by_cell_splits_cells() {
        let results = vec![
            call("a/m", "c1", 0, true),
            call("b/m", "c1", 0, false),
            call("b/m", "c2", 0, false),
        ];
        let by_cell = summarize_by_cell(&results);
        assert_eq!(by_cell.len(), 2);
        assert_eq!((by_cell["a/m"].passed, by_cell["a/m"].cases), (1, 1));
        assert_eq!((by_cell["b/m"].failed, by_cell["b/m"].cases), (2, 2));
    }

    #[test]
    fn metrics_treat_repeats_as_clusters() {
        // c1 passes 1 of 2 repeats (value 0.5), c2 passes both (1.0), c3's only graded repeat
        // fails (0.0; its errored repeat does not count): mean over 3 cases = 0.5.
        let results = vec![
            call("a/m", "c1", 0, true),
            call("a/m", "c1", 1, false),
            call("a/m", "c2", 0, true),
            call("a/m", "c2", 1, true),
            call("a/m", "c3", 0, false),
            errored("a/m", "c3", 1, "timeout"),
        ];
        let metrics = metrics(&results, 0.95);
        let pass = &metrics["pass_rate"];
        assert_eq!(pass.n, 3);
        assert!(close(pass.mean, 0.5));
        let (low, high) = wilson(1.5, 3.0, 0.95);
        assert!(close(pass.ci_low, low) && close(pass.ci_high, high));
        assert!(close(pass.score_mean, 0.5));
        assert_eq!(metrics.len(), 1);
    }

    #[test]
    fn metrics_cover_every_named_metric_and_only_calls_that_feed_it() {
        let mut c1 = call("a/m", "c1", 0, false);
        c1.checks = vec![
            check("accuracy", true, 1.0, 1.0),
            check("accuracy", false, 0.5, 3.0),
            check("tone", true, 0.8, 1.0),
        ];
        let mut c2 = call("a/m", "c2", 0, true);
        c2.checks = vec![check("accuracy", true, 1.0, 1.0)];
        let mut c3 = errored("a/m", "c3", 0, "judge unreachable");
        c3.checks = vec![check("tone", false, 0.0, 1.0)];
        let metrics = metrics(&[c1, c2, c3], 0.95);
        assert_eq!(
            metrics.keys().collect::<Vec<_>>(),
            ["accuracy", "pass_rate", "tone"]
        );
        let accuracy = &metrics["accuracy"];
        assert_eq!(accuracy.n, 2);
        assert!(close(accuracy.mean, 0.5));
        // c1: (1·1 + 0.5·3) / 4 = 0.625; c2: 1.0.
        assert!(close(accuracy.score_mean, 0.8125));
        let tone = &metrics["tone"];
        assert_eq!(tone.n, 1, "the errored call must not feed `tone`");
        assert!(close(tone.mean, 1.0));
        assert!(close(tone.score_mean, 0.8));
        assert_eq!(metrics["pass_rate"].n, 2);
    }

    #[test]
    fn metrics_always_include_pass_rate() {
        let metrics = metrics(&[], 0.95);
        let pass = &metrics["pass_rate"];
        assert_eq!(
            (pass.n, pass.mean, pass.ci_low, pass.ci_high),
            (0, 0.0, 0.0, 1.0)
        );
    }
}
