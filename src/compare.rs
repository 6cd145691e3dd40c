//! The baseline comparison: pairs a head run with a base run case by case and decides the
//! comparison rules of the gate (`metrics.NAME.max_drop`, `cost.max_increase`,
//! `latency.max_increase`).
//!
//! Pure: two [`Results`] and a [`GateConfig`] in, a [`Comparison`] and its [`RuleOutcome`]s out.
//! Same inputs, same output, byte for byte (maps are ordered, the bootstrap is seeded). The
//! absolute rules, including the error-rate rule that turns an outage into `error`, stay in
//! [`crate::gate`]: errored calls are simply left out of the pairing here.

use std::collections::{BTreeMap, HashMap};

use crate::aggregate::call_metrics;
use crate::results::PASS_RATE_METRIC;
use crate::results::gate::{GateConfig, Measure, Policy};
use crate::results::{
    BaselineInfo, CallResult, CaseChange, CaseComparison, CellChange, CellComparison, CellDelta,
    Comparison, FlakyCase, MetricComparison, QuantityComparison, Results, RuleOutcome, RuleScope,
    Side, Status, Summary, TestMethod,
};
use crate::stats::{self, PairedEstimate};
use crate::support::fmt::{
    format_confidence, format_count, format_percent, format_points, format_usd, p_clause,
};

/// A comparison and the gate rules it decided, in the order they are listed in the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub comparison: Comparison,
    pub rules: Vec<RuleOutcome>,
}

/// Compares `head` with `base` under `gate`. `source` says where the baseline came from (the
/// file as given).
pub fn compare(base: &Results, head: &Results, gate: &GateConfig, source: &str) -> Outcome {
    let base_cases = CaseIndex::new(&base.results);
    let head_cases = CaseIndex::new(&head.results);

    let mut cells = compare_cells(base, head);
    cell_deltas(&mut cells, &base_cases, &head_cases, gate);
    let (cases, unchanged, unpaired_errored) = compare_cases(&base_cases, &head_cases);
    let flaky = flaky_cases(&base_cases, &head_cases);
    let (metrics, mut rules) = compare_metrics(&base_cases, &head_cases, gate);

    let cost = quantity(
        per_case(list_cost(base), &base.summary),
        per_case(list_cost(head), &head.summary),
    );
    let mut latency = quantity(
        base.summary.latency_p95_ms as f64,
        head.summary.latency_p95_ms as f64,
    );
    // A p95 of 0 means no call was measured (all replayed from the cache, or errored): a run
    // served from the cache did not get 100% faster.
    if latency.head == 0.0 {
        latency.change = None;
    }
    if let Some(max) = gate.cost.max_increase {
        rules.push(cost_rule(&cost, max));
    }
    if let Some(max) = gate.latency.max_increase {
        rules.push(latency_rule(&latency, max));
    }
    let comparison = Comparison {
        baseline: BaselineInfo {
            source: source.to_owned(),
            suite: base.run.suite.clone(),
            started_at: base.run.started_at.clone(),
            git: base.run.git.clone(),
            config_fingerprint: base.run.config_fingerprint.clone(),
        },
        cells,
        metrics,
        cases,
        unchanged,
        unpaired_errored,
        flaky,
        cost,
        latency_p95_ms: latency,
        input_tokens: quantity(
            per_case(base.summary.input_tokens as f64, &base.summary),
            per_case(head.summary.input_tokens as f64, &head.summary),
        ),
        output_tokens: quantity(
            per_case(base.summary.output_tokens as f64, &base.summary),
            per_case(head.summary.output_tokens as f64, &head.summary),
        ),
    };
    Outcome { comparison, rules }
}

/// How a gated metric's change is judged: the policy's tolerated drop at a confidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricTest {
    pub max_drop: Option<f64>,
    pub policy: Policy,
    pub confidence: f64,
    pub measure: Measure,
}

impl MetricTest {
    /// The one-sided level that matches a two-sided interval at `confidence` (see
    /// [`crate::stats`]).
    pub fn alpha(&self) -> f64 {
        (1.0 - self.confidence) / 2.0
    }
}

/// The status of one metric under its test, given its (Holm-adjusted, for `confident-drop`)
/// p-value. A metric without `max_drop` is informational and always passes.
pub fn decide(test: &MetricTest, estimate: &PairedEstimate, p_adjusted: f64) -> Status {
    if test.max_drop.is_none() {
        return Status::Pass;
    }
    match (test.policy, estimate.method) {
        // Nothing paired: no drop can be shown, and neither can its absence.
        (Policy::ConfidentDrop, TestMethod::None) => Status::Pass,
        (Policy::NonInferiority, TestMethod::None) => Status::Fail,
        (Policy::ConfidentDrop, _) if p_adjusted < test.alpha() => Status::Fail,
        (Policy::ConfidentDrop, _) => Status::Pass,
        (Policy::NonInferiority, _) if p_adjusted < test.alpha() => Status::Pass,
        (Policy::NonInferiority, _) => Status::Fail,
    }
}

/// One case's graded repeats on one side.
#[derive(Debug, Default)]
struct CaseRecord<'a> {
    /// Every call of the case, errored or not, in repeat order.
    calls: Vec<&'a CallResult>,
    graded: u32,
    passed: u32,
    score_sum: f64,
    /// metric → (passed, graded, sum of scores) over this case's graded repeats.
    metrics: BTreeMap<&'a str, (u32, u32, f64)>,
}

impl CaseRecord<'_> {
    fn pass_share(&self) -> Option<f64> {
        (self.graded > 0).then(|| f64::from(self.passed) / f64::from(self.graded))
    }

    fn score(&self) -> Option<f64> {
        (self.graded > 0).then(|| self.score_sum / f64::from(self.graded))
    }

    /// The metric's value for this case: the share of graded repeats that passed it, or the
    /// mean of their scores for that metric.
    fn metric(&self, name: &str, measure: Measure) -> Option<f64> {
        self.metrics
            .get(name)
            .filter(|(_, graded, _)| *graded > 0)
            .map(|&(passed, graded, scores)| match measure {
                Measure::PassRate => f64::from(passed) / f64::from(graded),
                Measure::Score => scores / f64::from(graded),
            })
    }

    fn graded_for(&self, metric: &str) -> f64 {
        self.metrics
            .get(metric)
            .map_or(0.0, |&(_, graded, _)| f64::from(graded))
    }

    fn first_output(&self) -> Option<String> {
        self.calls.iter().find_map(|c| c.shown_output())
    }

    /// Reasons of the failed checks over the graded repeats, each once, in order.
    fn failing_reasons(&self) -> Vec<String> {
        let mut reasons: Vec<String> = Vec::new();
        for call in self.calls.iter().filter(|c| !c.is_errored()) {
            for check in call.checks.iter().filter(|c| !c.passed) {
                if !reasons.contains(&check.reason) {
                    reasons.push(check.reason.clone());
                }
            }
        }
        reasons
    }
}

type Key<'a> = (&'a str, &'a str);

/// A run's calls grouped by case, remembering plan order.
struct CaseIndex<'a> {
    order: Vec<Key<'a>>,
    cases: HashMap<Key<'a>, CaseRecord<'a>>,
}

impl<'a> CaseIndex<'a> {
    fn new(calls: &'a [CallResult]) -> Self {
        let mut order = Vec::new();
        let mut cases: HashMap<Key<'a>, CaseRecord<'a>> = HashMap::new();
        for call in calls {
            let key = (call.cell.as_str(), call.case_id.as_str());
            let record = cases.entry(key).or_insert_with(|| {
                order.push(key);
                CaseRecord::default()
            });
            record.calls.push(call);
            if call.is_errored() {
                continue;
            }
            record.graded += 1;
            record.passed += u32::from(call.passed);
            record.score_sum += call.score;
            for (metric, passed, score) in call_metrics(call) {
                let entry = record.metrics.entry(metric).or_default();
                entry.0 += u32::from(passed);
                entry.1 += 1;
                entry.2 += score;
            }
        }
        CaseIndex { order, cases }
    }

    fn get(&self, key: &Key<'a>) -> Option<&CaseRecord<'a>> {
        self.cases.get(key)
    }

    fn iter(&self) -> impl Iterator<Item = (Key<'a>, &CaseRecord<'a>)> {
        self.order
            .iter()
            .filter_map(|key| self.cases.get(key).map(|record| (*key, record)))
    }
}

fn compare_cells(base: &Results, head: &Results) -> Vec<CellComparison> {
    let mut cells: Vec<CellComparison> = head
        .cells
        .iter()
        .map(|cell| {
            let before = base.cells.iter().find(|b| b.id == cell.id);
            CellComparison {
                id: cell.id.clone(),
                change: match before {
                    None => CellChange::New,
                    Some(b) if b.fingerprint == cell.fingerprint => CellChange::Unchanged,
                    Some(_) => CellChange::Changed,
                },
                base_fingerprint: before.map(|b| b.fingerprint.clone()),
                head_fingerprint: Some(cell.fingerprint.clone()),
                pass_rate: None,
            }
        })
        .collect();
    cells.extend(
        base.cells
            .iter()
            .filter(|b| !head.cells.iter().any(|h| h.id == b.id))
            .map(|b| CellComparison {
                id: b.id.clone(),
                change: CellChange::Removed,
                base_fingerprint: Some(b.fingerprint.clone()),
                head_fingerprint: None,
                pass_rate: None,
            }),
    );
    cells
}

/// Each cell's own paired pass-rate change, for the cells that ran in both runs.
fn cell_deltas(
    cells: &mut [CellComparison],
    base: &CaseIndex<'_>,
    head: &CaseIndex<'_>,
    gate: &GateConfig,
) {
    let test = metric_test(gate, PASS_RATE_METRIC);
    let margin = test.max_drop.unwrap_or(0.0);
    for cell in cells {
        let pairs: Vec<(f64, f64)> = head
            .iter()
            .filter(|(key, _)| key.0 == cell.id)
            .filter_map(|(key, h)| Some((base.get(&key)?.pass_share()?, h.pass_share()?)))
            .collect();
        if pairs.is_empty() {
            continue;
        }
        let est = stats::paired(&pairs, margin, test.confidence);
        cell.pass_rate = Some(CellDelta {
            pairs: est.n as u64,
            base: est.base_mean,
            head: est.head_mean,
            delta: est.delta,
            ci_low: est.ci_low,
            ci_high: est.ci_high,
            dropped: est.method != TestMethod::None && est.p_drop < test.alpha(),
        });
    }
}

/// Scores closer than this are the same score (floating-point noise from weighted means).
const SCORE_EPSILON: f64 = 1e-9;

/// The case list (regressed, improved, new, removed), the unchanged count and the count of
/// cases left unpaired because one side only errored.
fn compare_cases(base: &CaseIndex<'_>, head: &CaseIndex<'_>) -> (Vec<CaseComparison>, u64, u64) {
    let mut out = Vec::new();
    let (mut unchanged, mut unpaired) = (0, 0);
    for (key, h) in head.iter() {
        let Some(b) = base.get(&key) else {
            out.push(case_entry(key, CaseChange::New, None, Some(h)));
            continue;
        };
        let (Some(bp), Some(hp), Some(bs), Some(hs)) =
            (b.pass_share(), h.pass_share(), b.score(), h.score())
        else {
            unpaired += 1;
            continue;
        };
        let change = if hp < bp {
            Some(CaseChange::Regressed)
        } else if hp > bp {
            Some(CaseChange::Improved)
        } else if hs < bs - SCORE_EPSILON {
            Some(CaseChange::Regressed)
        } else if hs > bs + SCORE_EPSILON {
            Some(CaseChange::Improved)
        } else {
            None
        };
        match change {
            Some(change) => out.push(case_entry(key, change, Some(b), Some(h))),
            None => unchanged += 1,
        }
    }
    for (key, b) in base.iter() {
        if head.get(&key).is_none() {
            out.push(case_entry(key, CaseChange::Removed, Some(b), None));
        }
    }
    (out, unchanged, unpaired)
}

fn case_entry(
    (cell, case_id): Key<'_>,
    change: CaseChange,
    base: Option<&CaseRecord<'_>>,
    head: Option<&CaseRecord<'_>>,
) -> CaseComparison {
    // The reasons a reviewer needs are those of the worse side.
    let worse = match change {
        CaseChange::Regressed | CaseChange::New => head,
        CaseChange::Improved | CaseChange::Removed => base,
    };
    CaseComparison {
        cell: cell.to_owned(),
        case_id: case_id.to_owned(),
        change,
        base_score: base.and_then(CaseRecord::score),
        head_score: head.and_then(CaseRecord::score),
        base_pass_share: base.and_then(CaseRecord::pass_share),
        head_pass_share: head.and_then(CaseRecord::pass_share),
        base_output: base.and_then(CaseRecord::first_output),
        head_output: head.and_then(CaseRecord::first_output),
        reasons: worse.map(CaseRecord::failing_reasons).unwrap_or_default(),
    }
}

/// Cases whose graded repeats disagree, in head order then removed cases; base before head for
/// a case flaky on both sides.
fn flaky_cases(base: &CaseIndex<'_>, head: &CaseIndex<'_>) -> Vec<FlakyCase> {
    let entry = |(cell, case_id): Key<'_>, side, record: &CaseRecord<'_>| {
        (record.passed > 0 && record.passed < record.graded).then(|| FlakyCase {
            cell: cell.to_owned(),
            case_id: case_id.to_owned(),
            side,
            passed: record.passed,
            repeats: record.graded,
        })
    };
    let mut out = Vec::new();
    for (key, h) in head.iter() {
        if let Some(b) = base.get(&key) {
            out.extend(entry(key, Side::Base, b));
        }
        out.extend(entry(key, Side::Head, h));
    }
    for (key, b) in base.iter() {
        if head.get(&key).is_none() {
            out.extend(entry(key, Side::Base, b));
        }
    }
    out
}

/// `pass_rate` first, then the gated metrics in configuration order.
fn metric_names(gate: &GateConfig) -> Vec<&str> {
    let mut names = vec![PASS_RATE_METRIC];
    names.extend(
        gate.metrics
            .keys()
            .map(String::as_str)
            .filter(|name| *name != PASS_RATE_METRIC),
    );
    names
}

fn metric_test(gate: &GateConfig, name: &str) -> MetricTest {
    let configured = gate.metrics.get(name);
    MetricTest {
        max_drop: configured.and_then(|m| m.max_drop),
        policy: configured.map(|m| m.policy).unwrap_or_default(),
        confidence: configured
            .and_then(|m| m.confidence)
            .unwrap_or(gate.confidence),
        measure: configured.map(|m| m.measure).unwrap_or_default(),
    }
}

/// The (base, head) values of `metric` for every case graded for it in both runs, in head order,
/// and the mean number of graded repeats behind each value.
fn metric_pairs(
    base: &CaseIndex<'_>,
    head: &CaseIndex<'_>,
    metric: &str,
    measure: Measure,
) -> (Vec<(f64, f64)>, f64) {
    let mut repeats = 0.0;
    let pairs: Vec<(f64, f64)> = head
        .iter()
        .filter_map(|(key, h)| {
            let b = base.get(&key)?;
            let pair = (b.metric(metric, measure)?, h.metric(metric, measure)?);
            repeats += (b.graded_for(metric) + h.graded_for(metric)) / 2.0;
            Some(pair)
        })
        .collect();
    let mean_repeats = if pairs.is_empty() {
        1.0
    } else {
        repeats / pairs.len() as f64
    };
    (pairs, mean_repeats)
}

fn compare_metrics(
    base: &CaseIndex<'_>,
    head: &CaseIndex<'_>,
    gate: &GateConfig,
) -> (Vec<MetricComparison>, Vec<RuleOutcome>) {
    let names = metric_names(gate);
    let tests: Vec<MetricTest> = names.iter().map(|n| metric_test(gate, n)).collect();
    let (estimates, repeats): (Vec<PairedEstimate>, Vec<f64>) = names
        .iter()
        .zip(&tests)
        .map(|(name, test)| {
            let (pairs, repeats) = metric_pairs(base, head, name, test.measure);
            let est = stats::paired(&pairs, test.max_drop.unwrap_or(0.0), test.confidence);
            (est, repeats)
        })
        .unzip();

    // Holm across the confident-drop metrics: any one of them failing fails the gate, so the
    // chance of a false alarm adds up over them. Non-inferiority needs no correction: the gate
    // passes only when every such metric passes (an intersection-union test).
    let family: Vec<usize> = (0..names.len())
        .filter(|&i| {
            tests[i].max_drop.is_some()
                && tests[i].policy == Policy::ConfidentDrop
                && estimates[i].method != TestMethod::None
        })
        .collect();
    let adjusted = stats::holm(
        &family
            .iter()
            .map(|&i| estimates[i].p_drop)
            .collect::<Vec<_>>(),
    );
    let family_size = family.len().max(1);

    let mut metrics = Vec::with_capacity(names.len());
    let mut rules = Vec::new();
    for (i, (name, (test, est))) in names.iter().zip(tests.iter().zip(&estimates)).enumerate() {
        let p = match test.policy {
            Policy::ConfidentDrop => est.p_drop,
            Policy::NonInferiority => est.p_within,
        };
        let p_adjusted = family
            .iter()
            .position(|&j| j == i)
            .map_or(p, |slot| adjusted[slot]);
        let status = decide(test, est, p_adjusted);
        let mdd = min_detectable_drop(test, est, family_size, repeats[i]);
        if let Some(max_drop) = test.max_drop {
            rules.push(RuleOutcome {
                scope: RuleScope::Baseline,
                rule: format!("metrics.{name}.max_drop"),
                status,
                actual: -est.delta,
                threshold: max_drop,
                message: metric_message(name, test, est, p_adjusted, status, family.len()),
            });
        }
        metrics.push(MetricComparison {
            metric: (*name).to_owned(),
            pairs: est.n as u64,
            base: est.base_mean,
            head: est.head_mean,
            delta: est.delta,
            ci_low: est.ci_low,
            ci_high: est.ci_high,
            confidence: test.confidence,
            method: est.method,
            measure: test.measure,
            p_value: test.max_drop.map(|_| p),
            p_adjusted: test.max_drop.map(|_| p_adjusted),
            mcnemar_p: est.mcnemar_p,
            max_drop: test.max_drop,
            policy: test.policy.as_str().to_owned(),
            min_detectable_drop: mdd,
            status,
        });
    }
    (metrics, rules)
}

/// The smallest true drop caught with 80% power.
///
/// - `confident-drop`: the tolerated drop plus what the noise hides, at the first Holm step
///   (α / k), which is what one metric dropping alone must clear.
/// - `non-inferiority` and ungated metrics: the noise alone (margin 0). For non-inferiority
///   this is the smallest `max_drop` with which an unchanged metric passes 80% of the time.
fn min_detectable_drop(
    test: &MetricTest,
    est: &PairedEstimate,
    family: usize,
    repeats: f64,
) -> Option<f64> {
    let (margin, alpha) = match (test.max_drop, test.policy) {
        (Some(m), Policy::ConfidentDrop) => (m, test.alpha() / family as f64),
        _ => (0.0, test.alpha()),
    };
    match est.method {
        TestMethod::None => None,
        TestMethod::McnemarExact => stats::mdd_pass_fail(est.noise, est.n, margin, alpha),
        TestMethod::PairedT | TestMethod::PairedBootstrap => {
            stats::mdd_mean(est.noise, est.n, margin, alpha, repeats)
        }
    }
}

fn metric_message(
    name: &str,
    test: &MetricTest,
    est: &PairedEstimate,
    p_adjusted: f64,
    status: Status,
    family: usize,
) -> String {
    let max_drop = test.max_drop.unwrap_or(0.0);
    let tolerated = format_points(max_drop);
    let name = &match test.measure {
        Measure::PassRate => name.to_owned(),
        Measure::Score => format!("{name}'s mean score"),
    };
    if est.method == TestMethod::None {
        let paired = match est.n {
            0 => "no case was graded in both runs".to_owned(),
            n => format!(
                "only {} case was graded in both runs",
                format_count(n as u64)
            ),
        };
        return match test.policy {
            Policy::ConfidentDrop => {
                format!("{name} not compared: {paired}, so no drop can be shown")
            }
            Policy::NonInferiority => format!(
                "{name} not compared: {paired}, so the drop cannot be shown to be within the {tolerated} tolerated (non-inferiority)"
            ),
        };
    }
    let change = if est.delta < 0.0 && format_points(est.delta) != "0.0" {
        format!("{name} dropped {} points", format_points(-est.delta))
    } else if est.delta > 0.0 && format_points(est.delta) != "0.0" {
        format!("{name} rose {} points", format_points(est.delta))
    } else {
        format!("{name} did not change")
    };
    let ci = format!(
        "{} CI {} to {}",
        format_confidence(test.confidence),
        format_points(est.ci_low),
        format_points(est.ci_high)
    );
    let holm = if family > 1 {
        format!(
            "Holm-adjusted {} across {family} gated metrics",
            p_clause(p_adjusted)
        )
    } else {
        p_clause(p_adjusted)
    };
    match (test.policy, status) {
        (Policy::ConfidentDrop, Status::Fail) => {
            format!("{change} ({ci}), more than the {tolerated} tolerated ({holm})")
        }
        (Policy::ConfidentDrop, _) if family > 1 && est.ci_high < -max_drop => format!(
            "{change} ({ci}), more than the {tolerated} tolerated on its own, but not after correcting for {family} gated metrics ({holm})"
        ),
        (Policy::ConfidentDrop, _) => {
            format!("{change} ({ci}), not confidently more than the {tolerated} tolerated")
        }
        // Non-inferiority metrics must all pass, so no correction applies to them.
        (Policy::NonInferiority, Status::Pass) => format!(
            "{change} ({ci}), confidently within the {tolerated} tolerated (non-inferiority, {})",
            p_clause(p_adjusted)
        ),
        (Policy::NonInferiority, _) => format!(
            "{change} ({ci}), not confidently within the {tolerated} tolerated (non-inferiority, {})",
            p_clause(p_adjusted)
        ),
    }
}

/// What a run's calls cost at the models' list prices: its `cost_usd` with the discount of the
/// calls answered through a batch put back. A baseline bought in batch (a nightly run on main)
/// and a pull request run directly then compare like for like; the saving is in `cost_usd`.
fn list_cost(results: &Results) -> f64 {
    let discounts: f64 = results
        .results
        .iter()
        .filter_map(|c| c.batch.as_ref().map(|b| b.list_cost_usd - c.cost_usd))
        .sum();
    results.summary.cost_usd + discounts
}

/// A total per case, counting only the calls that were answered: errored calls cost nothing, so
/// an outage in one run must not make the other look more expensive per case.
fn per_case(total: f64, summary: &Summary) -> f64 {
    let answered = summary.calls.saturating_sub(summary.errored);
    if summary.cases == 0 || answered == 0 {
        0.0
    } else {
        let calls_per_case = summary.calls as f64 / summary.cases as f64;
        total / answered as f64 * calls_per_case
    }
}

fn quantity(base: f64, head: f64) -> QuantityComparison {
    QuantityComparison {
        base,
        head,
        change: (base != 0.0).then(|| (head - base) / base),
    }
}

fn increase_words(change: f64) -> String {
    if change >= 0.0 {
        format!("rose {}", format_percent(change))
    } else {
        format!("fell {}", format_percent(-change))
    }
}

fn cost_rule(cost: &QuantityComparison, max: f64) -> RuleOutcome {
    let rule = "cost.max_increase".to_owned();
    let Some(change) = cost.change else {
        return RuleOutcome {
            scope: RuleScope::Baseline,
            rule,
            status: Status::Pass,
            actual: 0.0,
            threshold: max,
            message: format!(
                "cost per case not checked against the {} tolerated increase: the baseline cost nothing (no prices configured, or every call errored)",
                format_percent(max)
            ),
        };
    };
    let over = change > max;
    RuleOutcome {
        scope: RuleScope::Baseline,
        rule,
        status: if over { Status::Fail } else { Status::Pass },
        actual: change,
        threshold: max,
        message: format!(
            "cost per case {} ({} to {}), {} the {} tolerated",
            increase_words(change),
            format_usd(cost.base),
            format_usd(cost.head),
            if over { "more than" } else { "within" },
            format_percent(max)
        ),
    }
}

fn latency_rule(latency: &QuantityComparison, max: f64) -> RuleOutcome {
    let rule = "latency.max_increase".to_owned();
    let missing = match (latency.base == 0.0, latency.head == 0.0) {
        (true, true) => Some("either run"),
        (true, false) => Some("the baseline"),
        (false, true) => Some("this run"),
        (false, false) => None,
    };
    let (Some(change), None) = (latency.change, missing) else {
        return RuleOutcome {
            scope: RuleScope::Baseline,
            rule,
            status: Status::Pass,
            actual: 0.0,
            threshold: max,
            message: format!(
                "p95 latency not checked against the {} tolerated increase: no measured calls in {} (answers came from the cache or errored)",
                format_percent(max),
                missing.unwrap_or("the baseline")
            ),
        };
    };
    let over = change > max;
    RuleOutcome {
        scope: RuleScope::Baseline,
        rule,
        status: if over { Status::Fail } else { Status::Pass },
        actual: change,
        threshold: max,
        message: format!(
            "p95 latency {} ({} ms to {} ms), {} the {} tolerated",
            increase_words(change),
            format_count(latency.base as u64),
            format_count(latency.head as u64),
            if over { "more than" } else { "within" },
            format_percent(max)
        ),
    }
}

pub mod cells;
#[cfg(test)]
mod simulation;
#[cfg(test)]
pub(crate) mod tests;
