//! Calls folded into cases: the unit the JUnit and markdown reports list. A case is one
//! (cell, case id); its repeats are a cluster, so they are judged together, never one by one.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use crate::results::{CallResult, CaseComparison, Results};
use crate::support::fmt::{count_of, format_count};

/// How a case fared over its repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseStatus {
    /// Every repeat was graded and passed.
    Pass,
    /// Every graded repeat failed.
    Fail,
    /// Graded repeats disagree. `passed_majority` says whether more than half passed.
    Flaky { passed_majority: bool },
    /// At least one repeat could not be graded (provider failure, a check that could not run).
    /// An infrastructure problem outranks the quality result: a case with an errored repeat is
    /// never reported as passed, and never as a quality failure.
    Error,
}

/// One case of the head run, with its repeats in ascending order.
#[derive(Debug, Clone)]
pub struct CaseView<'a> {
    pub cell: &'a str,
    pub case_id: &'a str,
    pub repeats: Vec<&'a CallResult>,
    pub status: CaseStatus,
    /// The comparison entry for this case, when the results carry a comparison and the case is
    /// not unchanged.
    pub change: Option<&'a CaseComparison>,
}

impl CaseView<'_> {
    pub fn graded(&self) -> usize {
        self.repeats.iter().filter(|c| !c.is_errored()).count()
    }

    pub fn passed(&self) -> usize {
        self.repeats.iter().filter(|c| c.passed).count()
    }

    pub fn errored(&self) -> usize {
        self.repeats.iter().filter(|c| c.is_errored()).count()
    }

    /// Mean of the graded repeats' scores; 0 when none was graded.
    pub fn score(&self) -> f64 {
        let graded: Vec<f64> = self
            .repeats
            .iter()
            .filter(|c| !c.is_errored())
            .map(|c| c.score)
            .collect();
        if graded.is_empty() {
            0.0
        } else {
            graded.iter().sum::<f64>() / graded.len() as f64
        }
    }

    pub fn latency_ms(&self) -> u64 {
        self.repeats.iter().map(|c| c.latency_ms).sum()
    }
}

/// Folds the calls of `results` into cases, in the order their first repeat appears (plan
/// order), attaching each case's comparison entry.
pub fn cases(results: &Results) -> Vec<CaseView<'_>> {
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    let mut out: Vec<CaseView<'_>> = Vec::new();
    for call in &results.results {
        let key = (call.cell.as_str(), call.case_id.as_str());
        match index.get(&key) {
            Some(&i) => out[i].repeats.push(call),
            None => {
                index.insert(key, out.len());
                out.push(CaseView {
                    cell: &call.cell,
                    case_id: &call.case_id,
                    repeats: vec![call],
                    status: CaseStatus::Pass,
                    change: None,
                });
            }
        }
    }
    if let Some(comparison) = &results.comparison {
        for entry in &comparison.cases {
            if let Some(&i) = index.get(&(entry.cell.as_str(), entry.case_id.as_str())) {
                out[i].change = Some(entry);
            }
        }
    }
    for case in &mut out {
        // Stable, so repeats with equal indexes (a hand-edited file) keep their file order.
        case.repeats.sort_by_key(|c| c.repeat);
        case.status = status(&case.repeats);
    }
    out
}

/// How big the run was, said the same way in every report: distinct case ids, the cells they
/// ran in and the repeats, then the calls they made: `30 cases × 2 cells = 60 calls`,
/// `8 cases × 3 repeats = 24 calls`, or `8 cases` when each case is one call. "Cases" never
/// counts a case twice because two prompts ran it.
pub fn scale(results: &Results) -> String {
    let mut ids: HashSet<&str> = HashSet::new();
    let mut cells: HashSet<&str> = HashSet::new();
    for call in &results.results {
        ids.insert(&call.case_id);
        cells.insert(&call.cell);
    }
    let (ids, cells) = (ids.len() as u64, cells.len() as u64);
    let summary = &results.summary;
    let mut text = if cells > 1 && ids * cells == summary.cases {
        format!(
            "{} × {} cells",
            count_of(ids, "case", "cases"),
            format_count(cells)
        )
    } else if cells > 1 {
        // Prompts with datasets of their own: not every case ran in every cell.
        format!(
            "{} in {} cells",
            count_of(summary.cases, "case", "cases"),
            format_count(cells)
        )
    } else {
        count_of(summary.cases, "case", "cases")
    };
    let repeats = u64::from(results.run.repeats);
    if repeats > 1 && summary.cases * repeats == summary.calls {
        let _ = write!(text, " × {repeats} repeats");
    }
    if summary.calls != ids {
        let _ = write!(text, " = {}", count_of(summary.calls, "call", "calls"));
    }
    text
}

fn status(repeats: &[&CallResult]) -> CaseStatus {
    if repeats.iter().any(|c| c.is_errored()) {
        return CaseStatus::Error;
    }
    let passed = repeats.iter().filter(|c| c.passed).count();
    if passed == repeats.len() {
        CaseStatus::Pass
    } else if passed == 0 {
        CaseStatus::Fail
    } else {
        CaseStatus::Flaky {
            passed_majority: passed * 2 > repeats.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_helpers::{call, errored};

    fn status_of(calls: Vec<CallResult>) -> CaseStatus {
        let refs: Vec<_> = calls.iter().collect();
        status(&refs)
    }

    #[test]
    fn the_scale_counts_case_ids_once_and_says_what_multiplies_them() {
        let mut results = crate::test_helpers::pass_despite_noise();
        // 4 case ids in 2 cells, one call each.
        assert_eq!(scale(&results), "4 cases × 2 cells = 8 calls");
        results.results.retain(|c| c.cell == "answer/mini");
        results.summary = crate::aggregate::summarize(&results.results);
        assert_eq!(scale(&results), "4 cases");
        let again: Vec<CallResult> = results
            .results
            .iter()
            .map(|c| CallResult {
                repeat: 1,
                ..c.clone()
            })
            .collect();
        results.results.extend(again);
        results.summary = crate::aggregate::summarize(&results.results);
        results.run.repeats = 2;
        assert_eq!(scale(&results), "4 cases × 2 repeats = 8 calls");
    }

    #[test]
    fn repeats_are_judged_together() {
        assert_eq!(status_of(vec![call("c", "x", 0, true)]), CaseStatus::Pass);
        assert_eq!(
            status_of(vec![call("c", "x", 0, false), call("c", "x", 1, false)]),
            CaseStatus::Fail
        );
        assert_eq!(
            status_of(vec![
                call("c", "x", 0, true),
                call("c", "x", 1, false),
                call("c", "x", 2, true)
            ]),
            CaseStatus::Flaky {
                passed_majority: true
            }
        );
        // A tie is not a pass.
        assert_eq!(
            status_of(vec![call("c", "x", 0, true), call("c", "x", 1, false)]),
            CaseStatus::Flaky {
                passed_majority: false
            }
        );
        // An errored repeat outranks passing ones: an outage is never a pass.
        assert_eq!(
            status_of(vec![call("c", "x", 0, true), errored("c", "x", 1, "503")]),
            CaseStatus::Error
        );
    }
}
