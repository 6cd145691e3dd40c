//! Aggregation: per-call results into run and cell summaries and per-metric estimates with
//! Wilson intervals.
//!
//! Repeats of a case are a cluster, never independent samples (DESIGN.md §8): every metric first
//! averages a case's graded repeats, then averages over cases, and `n` counts cases.

use std::collections::{BTreeMap, HashMap};

use crate::results::file::ResultsFileError;
use crate::results::{CallResult, Calls, JudgeUsage, MetricSummary, PASS_RATE_METRIC, Summary};
use crate::stats::wilson;
use crate::support::exact::ExactSum;

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
#[cfg(test)]
pub fn summarize(results: &[CallResult]) -> Summary {
    tally(results, 0.95).summary
}

/// [`summarize`] for each cell, keyed by cell id (`PROMPT/MODEL`).
#[cfg(test)]
pub fn summarize_by_cell(results: &[CallResult]) -> BTreeMap<String, Summary> {
    tally(results, 0.95).by_cell
}

/// Per-metric estimates over all cells, with Wilson intervals at `confidence` (e.g. 0.95).
///
/// `pass_rate` is always present: a call's value is whether it passed. Every other metric named
/// by a check gets an entry: a call's value for metric M is 1 when all its checks feeding M
/// passed; calls without a check for M do not count for M. Errored calls count for nothing.
/// `score_mean` is the same cluster mean over the weighted check scores (for `pass_rate`, the
/// call's overall score).
#[cfg(test)]
pub fn metrics(results: &[CallResult], confidence: f64) -> BTreeMap<String, MetricSummary> {
    tally(results, confidence).metrics
}

/// [`summarize`], [`summarize_by_cell`] and [`metrics`] at once over calls wherever they are,
/// read one at a time.
pub fn tally_calls(calls: &Calls, confidence: f64) -> Result<Totals, ResultsFileError> {
    let mut tally = Tally::new(if calls.in_order() {
        CaseEnd::Adjacent
    } else {
        CaseEnd::AtFinish
    });
    for call in calls.iter() {
        tally.add(&*call?);
    }
    Ok(tally.finish(confidence))
}

/// [`Tally`] of calls in memory, in any order.
#[cfg(test)]
pub(crate) fn tally(results: &[CallResult], confidence: f64) -> Totals {
    let mut tally = Tally::new(CaseEnd::AtFinish);
    results.iter().for_each(|call| tally.add(call));
    tally.finish(confidence)
}

/// What a [`Tally`] adds up to.
#[derive(Debug, Clone, PartialEq)]
pub struct Totals {
    pub summary: Summary,
    pub metrics: BTreeMap<String, MetricSummary>,
    pub by_cell: BTreeMap<String, Summary>,
}

/// When a [`Tally`] may close a case and fold its repeats into the metrics: closed cases are
/// forgotten, so memory holds only the cases whose repeats are still coming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseEnd {
    /// Once this many of its calls are in (a run: every case has the run's repeats).
    Repeats(u32),
    /// When a call of another case comes (a results file: repeats are on adjacent lines).
    Adjacent,
    /// Only at the end (calls in memory, in any order).
    AtFinish,
}

/// The running totals of [`summarize`], [`summarize_by_cell`] and [`metrics`], fed one call at a
/// time in any order: a run folds each call in as it finishes, and a results file is folded a
/// line at a time, so no call is kept. Sums are [`ExactSum`]s, so the totals do not depend on the
/// order the calls came in.
#[derive(Debug)]
pub struct Tally {
    end: CaseEnd,
    cells: Vec<CellTally>,
    cell_index: HashMap<String, usize>,
    metric_names: Vec<String>,
    metric_index: HashMap<String, usize>,
    /// Per metric, over closed cases.
    metric_totals: Vec<MetricTotal>,
    /// Cases with repeats still to come, by (cell, case id).
    open: HashMap<(usize, String), OpenCase>,
    /// The case of the last call, for [`CaseEnd::Adjacent`].
    last: Option<(usize, String)>,
}

#[derive(Debug, Default)]
struct CellTally {
    calls: u64,
    cases: u64,
    passed: u64,
    failed: u64,
    errored: u64,
    cost: ExactSum,
    spent: ExactSum,
    input_tokens: u64,
    output_tokens: u64,
    cached_input_tokens: u64,
    cache_hits: u64,
    judge: JudgeUsage,
    judge_cost: ExactSum,
    judge_spent: ExactSum,
    rate_limited: crate::results::RateLimited,
    /// Measured latencies: how many calls took each number of milliseconds. Exact percentiles
    /// in memory bounded by the spread of latencies, not by the number of calls.
    latencies: BTreeMap<u64, u64>,
}

#[derive(Debug, Default)]
struct OpenCase {
    calls: u32,
    /// Per metric index: this case's graded repeats.
    clusters: Vec<(usize, Cluster)>,
}

#[derive(Debug, Default, Clone, Copy)]
struct MetricTotal {
    cases: u64,
    pass_shares: ExactSum,
    scores: ExactSum,
}

impl Tally {
    pub fn new(end: CaseEnd) -> Self {
        let mut tally = Tally {
            end,
            cells: Vec::new(),
            cell_index: HashMap::new(),
            metric_names: Vec::new(),
            metric_index: HashMap::new(),
            metric_totals: Vec::new(),
            open: HashMap::new(),
            last: None,
        };
        // `pass_rate` is always reported, even when nothing was graded.
        tally.metric(PASS_RATE_METRIC);
        tally
    }

    fn metric(&mut self, name: &str) -> usize {
        if let Some(&i) = self.metric_index.get(name) {
            return i;
        }
        let i = self.metric_names.len();
        self.metric_names.push(name.to_owned());
        self.metric_index.insert(name.to_owned(), i);
        self.metric_totals.push(MetricTotal::default());
        i
    }

    /// Folds one call in.
    pub fn add(&mut self, call: &CallResult) {
        let cell = match self.cell_index.get(call.cell.as_str()) {
            Some(&i) => i,
            None => {
                let i = self.cells.len();
                self.cells.push(CellTally::default());
                self.cell_index.insert(call.cell.clone(), i);
                i
            }
        };
        self.add_to_cell(cell, call);

        if self.end == CaseEnd::Adjacent {
            let same = self
                .last
                .as_ref()
                .is_some_and(|(c, id)| *c == cell && *id == call.case_id);
            if !same {
                if let Some(previous) = self.last.take() {
                    self.close(&previous);
                }
                self.last = Some((cell, call.case_id.clone()));
            }
        }
        let key = (cell, call.case_id.clone());
        let metrics: Vec<(usize, bool, f64)> = if call.is_errored() {
            Vec::new()
        } else {
            call_metrics(call)
                .into_iter()
                .map(|(name, passed, score)| (self.metric(name), passed, score))
                .collect()
        };
        if !self.open.contains_key(&key) {
            self.cells[cell].cases += 1;
        }
        let case = self.open.entry(key.clone()).or_default();
        case.calls += 1;
        for (metric, passed, score) in metrics {
            match case.clusters.iter_mut().find(|(m, _)| *m == metric) {
                Some((_, cluster)) => cluster.add(passed, score),
                None => {
                    let mut cluster = Cluster::default();
                    cluster.add(passed, score);
                    case.clusters.push((metric, cluster));
                }
            }
        }
        if let CaseEnd::Repeats(repeats) = self.end
            && case.calls >= repeats
        {
            self.close(&key);
        }
    }

    fn add_to_cell(&mut self, cell: usize, call: &CallResult) {
        let t = &mut self.cells[cell];
        t.calls += 1;
        if call.is_errored() {
            t.errored += 1;
        } else if call.passed {
            t.passed += 1;
        } else {
            t.failed += 1;
        }
        t.cost.add(call.cost_usd);
        if call.cached {
            t.cache_hits += 1;
        } else {
            t.spent.add(call.cost_usd);
            // A batch's answer has no latency of its own: it came back with the batch.
            if !call.is_errored() && call.batch.is_none() {
                *t.latencies.entry(call.latency_ms).or_default() += 1;
            }
        }
        t.judge.add(&call.judge);
        t.judge_cost.add(call.judge.cost_usd);
        t.judge_spent.add(call.judge.spent_usd);
        t.rate_limited.add(&call.rate_limited);
        t.input_tokens += call.tokens.input;
        t.output_tokens += call.tokens.output;
        t.cached_input_tokens += call.tokens.cached_input;
    }

    /// Folds a case's repeats into the metrics and forgets it.
    fn close(&mut self, key: &(usize, String)) {
        let Some(case) = self.open.remove(key) else {
            return;
        };
        for (metric, cluster) in case.clusters {
            let total = &mut self.metric_totals[metric];
            let repeats = f64::from(cluster.repeats);
            total.cases += 1;
            total.pass_shares.add(f64::from(cluster.passed) / repeats);
            total.scores.add(cluster.score.value() / repeats);
        }
    }

    pub fn finish(mut self, confidence: f64) -> Totals {
        let mut open: Vec<(usize, String)> = self.open.keys().cloned().collect();
        open.sort_unstable();
        for key in open {
            self.close(&key);
        }
        let mut names: Vec<(&String, &usize)> = self.cell_index.iter().collect();
        names.sort_unstable();
        let mut total = CellTally::default();
        let mut by_cell = BTreeMap::new();
        for (name, &i) in names {
            let cell = &self.cells[i];
            by_cell.insert(name.clone(), cell.summary());
            total.merge(cell);
        }
        let summary = total.summary();
        let metrics = self
            .metric_names
            .iter()
            .zip(&self.metric_totals)
            .map(|(name, t)| (name.clone(), t.summary(confidence)))
            .collect();
        Totals {
            summary,
            metrics,
            by_cell,
        }
    }
}

impl CellTally {
    fn merge(&mut self, other: &CellTally) {
        self.calls += other.calls;
        self.cases += other.cases;
        self.passed += other.passed;
        self.failed += other.failed;
        self.errored += other.errored;
        self.cost.add_sum(other.cost);
        self.spent.add_sum(other.spent);
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
        self.cache_hits += other.cache_hits;
        self.judge.add(&other.judge);
        self.judge_cost.add_sum(other.judge_cost);
        self.judge_spent.add_sum(other.judge_spent);
        self.rate_limited.add(&other.rate_limited);
        for (&ms, &calls) in &other.latencies {
            *self.latencies.entry(ms).or_default() += calls;
        }
    }

    fn summary(&self) -> Summary {
        let mut judge = self.judge;
        judge.cost_usd = self.judge_cost.value();
        judge.spent_usd = self.judge_spent.value();
        let mut cost = self.cost;
        cost.add_sum(self.judge_cost);
        let mut spent = self.spent;
        spent.add_sum(self.judge_spent);
        let graded = self.passed + self.failed;
        Summary {
            cases: self.cases,
            calls: self.calls,
            passed: self.passed,
            failed: self.failed,
            errored: self.errored,
            pass_rate: ratio(self.passed, graded),
            error_rate: ratio(self.errored, self.calls),
            cost_usd: cost.value(),
            spent_usd: spent.value(),
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cached_input_tokens: self.cached_input_tokens,
            cache_hits: self.cache_hits,
            latency_p50_ms: nearest_rank(&self.latencies, 50),
            latency_p95_ms: nearest_rank(&self.latencies, 95),
            judge,
            rate_limited: self.rate_limited,
        }
    }
}

impl MetricTotal {
    fn summary(&self, confidence: f64) -> MetricSummary {
        let n = self.cases;
        let pass_sum = self.pass_shares.value();
        let (mean, score_mean) = if n == 0 {
            (0.0, 0.0)
        } else {
            (pass_sum / n as f64, self.scores.value() / n as f64)
        };
        let (ci_low, ci_high) = wilson(pass_sum, n as f64, confidence);
        MetricSummary {
            mean,
            n,
            ci_low,
            ci_high,
            confidence,
            score_mean,
        }
    }
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
    passed: u32,
    score: ExactSum,
    repeats: u32,
}

impl Cluster {
    fn add(&mut self, passed: bool, score: f64) {
        self.passed += u32::from(passed);
        self.score.add(score);
        self.repeats += 1;
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Nearest-rank percentile of the values `counts` holds (value → how many times); 0 when empty.
fn nearest_rank(counts: &BTreeMap<u64, u64>, percent: u64) -> u64 {
    let total: u64 = counts.values().sum();
    if total == 0 {
        return 0;
    }
    let rank = (percent * total).div_ceil(100).max(1);
    let mut seen = 0;
    for (&value, &n) in counts {
        seen += n;
        if seen >= rank {
            return value;
        }
    }
    0
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

    /// A run folds calls in as they finish: the totals must not depend on that order, to the
    /// last bit, and closing each case once its repeats are in must change nothing.
    #[test]
    fn totals_do_not_depend_on_the_order_calls_come_in() {
        let mut calls = Vec::new();
        for case in 0..40 {
            for repeat in 0..3 {
                let mut c = call(
                    if case % 2 == 0 { "a/m" } else { "b/m" },
                    &format!("c{case}"),
                    repeat,
                    (case + repeat) % 3 != 0,
                );
                c.score = f64::from(case * 7 + repeat) / 300.0 + 0.1;
                c.cost_usd = 0.1 + f64::from(case) * 1e-7 + f64::from(repeat) / 3.0;
                c.latency_ms = u64::from(case * 13 + repeat * 7);
                c.checks = vec![check("accuracy", c.passed, c.score, 0.3)];
                calls.push(c);
            }
        }
        let in_plan_order = tally(&calls, 0.95);
        let mut shuffled = calls.clone();
        let mut seed = 7u64;
        for i in (1..shuffled.len()).rev() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            shuffled.swap(i, (seed >> 33) as usize % (i + 1));
        }
        assert_ne!(shuffled, calls);
        let mut closing = Tally::new(CaseEnd::Repeats(3));
        shuffled.iter().for_each(|c| closing.add(c));
        assert!(
            closing.open.is_empty(),
            "cases whose repeats are all in are closed"
        );
        let folded = closing.finish(0.95);
        assert_eq!(folded, in_plan_order);
        let bits = |t: &Totals| {
            (
                t.summary.cost_usd.to_bits(),
                t.metrics["accuracy"].score_mean.to_bits(),
                t.metrics["pass_rate"].mean.to_bits(),
            )
        };
        assert_eq!(bits(&folded), bits(&in_plan_order));
        let mut adjacent = Tally::new(CaseEnd::Adjacent);
        calls.iter().for_each(|c| adjacent.add(c));
        assert_eq!(adjacent.finish(0.95), in_plan_order);
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
