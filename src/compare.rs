//! The baseline comparison: pairs a head run with a base run case by case and decides the
//! comparison rules of the gate (`metrics.NAME.max_drop`, `cost.max_increase`,
//! `latency.max_increase`).
//!
//! Pure: two [`Results`] and a [`GateConfig`] in, a [`Comparison`] and its [`RuleOutcome`]s out.
//! Same inputs, same output, byte for byte (maps are ordered, the bootstrap is seeded). The
//! absolute rules, including the error-rate rule that turns an outage into `error`, stay in
//! [`crate::gate`]: errored calls are simply left out of the pairing here.

use std::collections::HashMap;

use crate::aggregate::call_metrics;
use crate::results::PASS_RATE_METRIC;
use crate::results::file::ResultsFileError;
use crate::results::gate::{GateConfig, Measure, Policy};
use crate::results::{
    BaselineInfo, CallResult, Calls, CaseChange, CaseComparison, CellChange, CellComparison,
    CellDelta, Comparison, FlakyCase, MetricComparison, QuantityComparison, Results, RuleOutcome,
    RuleScope, Side, Status, Summary, TestMethod,
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
/// file as given). Each run's calls are read twice, one at a time: once to fold them per case,
/// once more for the outputs and reasons of the cases that changed.
pub fn compare(
    base: &Results,
    head: &Results,
    gate: &GateConfig,
    source: &str,
) -> Result<Outcome, ResultsFileError> {
    let names = metric_names(gate);
    let mut table = CaseTable::new(&names);
    // Head first: the table's order is head plan order, then the cases only the base has.
    table.add(Side::Head, &head.results)?;
    table.add(Side::Base, &base.results)?;

    let mut cells = compare_cells(base, head);
    cell_deltas(&mut cells, &table, gate);
    let (mut cases, unchanged, unpaired_errored) = compare_cases(&table);
    table.fill_details(&mut cases, &base.results, &head.results)?;
    let flaky = flaky_cases(&table);
    let (metrics, mut rules) = compare_metrics(&table, gate);

    let cost = quantity(
        per_case(list_cost(base, &table.base), &base.summary),
        per_case(list_cost(head, &table.head), &head.summary),
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
    Ok(Outcome { comparison, rules })
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

/// How many of the changed cases (in list order) carry their outputs and failing reasons: the
/// reports show far fewer, and a run where everything changed must not hold every output.
pub const DETAILED_CASES: usize = 1_000;

/// One case's calls on one side.
#[derive(Debug, Default, Clone, Copy)]
struct CaseRecord {
    present: bool,
    graded: u32,
    passed: u32,
    score_sum: f64,
}

/// One case's graded repeats for one metric on one side.
#[derive(Debug, Default, Clone, Copy)]
struct MetricRecord {
    passed: u32,
    graded: u32,
    scores: f64,
}

impl CaseRecord {
    fn pass_share(&self) -> Option<f64> {
        (self.graded > 0).then(|| f64::from(self.passed) / f64::from(self.graded))
    }

    fn score(&self) -> Option<f64> {
        (self.graded > 0).then(|| self.score_sum / f64::from(self.graded))
    }
}

impl MetricRecord {
    /// The metric's value for this case: the share of graded repeats that passed it, or the
    /// mean of their scores for that metric.
    fn value(&self, measure: Measure) -> Option<f64> {
        (self.graded > 0).then(|| match measure {
            Measure::PassRate => f64::from(self.passed) / f64::from(self.graded),
            Measure::Score => self.scores / f64::from(self.graded),
        })
    }
}

/// One run's side of a [`CaseTable`]: records by case index, and per case the compared metrics
/// (`metrics.len()` entries a case).
#[derive(Debug, Default)]
struct SideTable {
    cases: Vec<CaseRecord>,
    metrics: Vec<MetricRecord>,
    /// What the calls answered through a batch saved on their list price.
    batch_discount: f64,
}

/// Both runs' calls folded per case, compactly: cell and case ids are stored once, a case is an
/// index, and a case's record on each side holds counts and sums, never a call. Cases are in
/// head plan order, then the cases only the base has, in base order.
struct CaseTable {
    cells: indexmap::IndexSet<String>,
    ids: indexmap::IndexSet<Box<str>>,
    keys: indexmap::IndexSet<(u32, u32)>,
    /// The compared metrics: `pass_rate`, then the gated ones.
    metrics: Vec<String>,
    base: SideTable,
    head: SideTable,
}

impl CaseTable {
    fn new(metrics: &[&str]) -> Self {
        CaseTable {
            cells: Default::default(),
            ids: Default::default(),
            keys: Default::default(),
            metrics: metrics.iter().map(|m| (*m).to_owned()).collect(),
            base: SideTable::default(),
            head: SideTable::default(),
        }
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn side(&self, side: Side) -> &SideTable {
        match side {
            Side::Base => &self.base,
            Side::Head => &self.head,
        }
    }

    fn record(&self, side: Side, case: usize) -> Option<&CaseRecord> {
        self.side(side).cases.get(case).filter(|r| r.present)
    }

    fn metric(&self, side: Side, case: usize, metric: usize) -> Option<MetricRecord> {
        self.record(side, case)?;
        self.side(side)
            .metrics
            .get(case * self.metrics.len() + metric)
            .copied()
    }

    /// The case's index, when either run has it.
    fn find(&self, call: &CallResult) -> Option<usize> {
        let cell = self.cells.get_index_of(call.cell.as_str())? as u32;
        let id = self.ids.get_index_of(call.case_id.as_str())? as u32;
        self.keys.get_index_of(&(cell, id))
    }

    fn key(&self, case: usize) -> (&str, &str) {
        let (cell, id) = self.keys[case];
        (&self.cells[cell as usize], &self.ids[id as usize])
    }

    /// Folds one run's calls in.
    fn add(&mut self, side: Side, calls: &Calls) -> Result<(), ResultsFileError> {
        let stride = self.metrics.len();
        for call in calls.iter() {
            let call = call?;
            let (cell, _) = self.cells.insert_full(call.cell.clone());
            let id = match self.ids.get_index_of(call.case_id.as_str()) {
                Some(id) => id,
                None => self.ids.insert_full(call.case_id.as_str().into()).0,
            };
            let (case, _) = self.keys.insert_full((cell as u32, id as u32));
            let table = match side {
                Side::Base => &mut self.base,
                Side::Head => &mut self.head,
            };
            if table.cases.len() <= case {
                table.cases.resize(case + 1, CaseRecord::default());
                table
                    .metrics
                    .resize((case + 1) * stride, MetricRecord::default());
            }
            if let Some(batch) = &call.batch {
                table.batch_discount += batch.list_cost_usd - call.cost_usd;
            }
            let record = &mut table.cases[case];
            record.present = true;
            if call.is_errored() {
                continue;
            }
            record.graded += 1;
            record.passed += u32::from(call.passed);
            record.score_sum += call.score;
            for (metric, passed, score) in call_metrics(&call) {
                let Some(m) = self.metrics.iter().position(|name| name == metric) else {
                    continue;
                };
                let entry = &mut table.metrics[case * stride + m];
                entry.passed += u32::from(passed);
                entry.graded += 1;
                entry.scores += score;
            }
        }
        Ok(())
    }

    /// Cases the head has, in head plan order.
    fn head_cases(&self) -> impl Iterator<Item = (usize, &CaseRecord)> {
        (0..self.len()).filter_map(|i| self.record(Side::Head, i).map(|r| (i, r)))
    }

    /// Cases only the base has, in base order.
    fn removed_cases(&self) -> impl Iterator<Item = (usize, &CaseRecord)> {
        (0..self.len())
            .filter(|&i| self.record(Side::Head, i).is_none())
            .filter_map(|i| self.record(Side::Base, i).map(|r| (i, r)))
    }

    /// Reads both runs again for the first [`DETAILED_CASES`] entries of `cases`: each side's
    /// first output, and the reasons of the checks that failed on the worse side, each once.
    fn fill_details(
        &self,
        cases: &mut [CaseComparison],
        base: &Calls,
        head: &Calls,
    ) -> Result<(), ResultsFileError> {
        let detailed = cases.len().min(DETAILED_CASES);
        let mut wanted: HashMap<usize, usize> = HashMap::new();
        for (slot, entry) in cases[..detailed].iter().enumerate() {
            let cell = self.cells.get_index_of(entry.cell.as_str());
            let id = self.ids.get_index_of(entry.case_id.as_str());
            if let (Some(cell), Some(id)) = (cell, id)
                && let Some(case) = self.keys.get_index_of(&(cell as u32, id as u32))
            {
                wanted.insert(case, slot);
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        for (side, calls) in [(Side::Head, head), (Side::Base, base)] {
            for call in calls.iter() {
                let call = call?;
                let Some(&slot) = self.find(&call).and_then(|case| wanted.get(&case)) else {
                    continue;
                };
                let entry = &mut cases[slot];
                let output = match side {
                    Side::Base => &mut entry.base_output,
                    Side::Head => &mut entry.head_output,
                };
                if output.is_none() {
                    *output = call.shown_output();
                }
                // The reasons a reviewer needs are those of the worse side.
                let worse = match entry.change {
                    CaseChange::Regressed | CaseChange::New => Side::Head,
                    CaseChange::Improved | CaseChange::Removed => Side::Base,
                };
                if worse == side && !call.is_errored() {
                    for check in call.checks.iter().filter(|c| !c.passed) {
                        if !entry.reasons.contains(&check.reason) {
                            entry.reasons.push(check.reason.clone());
                        }
                    }
                }
            }
        }
        Ok(())
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
fn cell_deltas(cells: &mut [CellComparison], table: &CaseTable, gate: &GateConfig) {
    let test = metric_test(gate, PASS_RATE_METRIC);
    let margin = test.max_drop.unwrap_or(0.0);
    for cell in cells {
        let pairs: Vec<(f64, f64)> = table
            .head_cases()
            .filter(|(case, _)| table.key(*case).0 == cell.id)
            .filter_map(|(case, h)| {
                Some((
                    table.record(Side::Base, case)?.pass_share()?,
                    h.pass_share()?,
                ))
            })
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
/// cases left unpaired because one side only errored. Outputs and reasons are filled in later
/// ([`CaseTable::fill_details`]).
fn compare_cases(table: &CaseTable) -> (Vec<CaseComparison>, u64, u64) {
    let mut out = Vec::new();
    let (mut unchanged, mut unpaired) = (0, 0);
    for (case, h) in table.head_cases() {
        let Some(b) = table.record(Side::Base, case) else {
            out.push(case_entry(table.key(case), CaseChange::New, None, Some(h)));
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
            Some(change) => out.push(case_entry(table.key(case), change, Some(b), Some(h))),
            None => unchanged += 1,
        }
    }
    for (case, b) in table.removed_cases() {
        out.push(case_entry(
            table.key(case),
            CaseChange::Removed,
            Some(b),
            None,
        ));
    }
    (out, unchanged, unpaired)
}

fn case_entry(
    (cell, case_id): (&str, &str),
    change: CaseChange,
    base: Option<&CaseRecord>,
    head: Option<&CaseRecord>,
) -> CaseComparison {
    CaseComparison {
        cell: cell.to_owned(),
        case_id: case_id.to_owned(),
        change,
        base_score: base.and_then(CaseRecord::score),
        head_score: head.and_then(CaseRecord::score),
        base_pass_share: base.and_then(CaseRecord::pass_share),
        head_pass_share: head.and_then(CaseRecord::pass_share),
        base_output: None,
        head_output: None,
        reasons: Vec::new(),
    }
}

/// Cases whose graded repeats disagree, in head order then removed cases; base before head for
/// a case flaky on both sides.
fn flaky_cases(table: &CaseTable) -> Vec<FlakyCase> {
    let entry = |case: usize, side, record: &CaseRecord| {
        let (cell, case_id) = table.key(case);
        (record.passed > 0 && record.passed < record.graded).then(|| FlakyCase {
            cell: cell.to_owned(),
            case_id: case_id.to_owned(),
            side,
            passed: record.passed,
            repeats: record.graded,
        })
    };
    let mut out = Vec::new();
    for (case, h) in table.head_cases() {
        if let Some(b) = table.record(Side::Base, case) {
            out.extend(entry(case, Side::Base, b));
        }
        out.extend(entry(case, Side::Head, h));
    }
    for (case, b) in table.removed_cases() {
        out.extend(entry(case, Side::Base, b));
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

/// The (base, head) values of the table's metric `metric` for every case graded for it in both
/// runs, in head order, and the mean number of graded repeats behind each value.
fn metric_pairs(table: &CaseTable, metric: usize, measure: Measure) -> (Vec<(f64, f64)>, f64) {
    let mut repeats = 0.0;
    let pairs: Vec<(f64, f64)> = table
        .head_cases()
        .filter_map(|(case, _)| {
            let b = table.metric(Side::Base, case, metric)?;
            let h = table.metric(Side::Head, case, metric)?;
            let pair = (b.value(measure)?, h.value(measure)?);
            repeats += (f64::from(b.graded) + f64::from(h.graded)) / 2.0;
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
    table: &CaseTable,
    gate: &GateConfig,
) -> (Vec<MetricComparison>, Vec<RuleOutcome>) {
    let names: Vec<&str> = table.metrics.iter().map(String::as_str).collect();
    let tests: Vec<MetricTest> = names.iter().map(|n| metric_test(gate, n)).collect();
    let (estimates, repeats): (Vec<PairedEstimate>, Vec<f64>) = tests
        .iter()
        .enumerate()
        .map(|(metric, test)| {
            let (pairs, repeats) = metric_pairs(table, metric, test.measure);
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
/// calls answered through a batch put back (summed as the table read the calls). A baseline
/// bought in batch (a nightly run on main) and a pull request run directly then compare like for
/// like; the saving is in `cost_usd`.
fn list_cost(results: &Results, side: &SideTable) -> f64 {
    results.summary.cost_usd + side.batch_discount
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
