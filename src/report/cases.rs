//! Calls folded into cases: the unit the JUnit and markdown reports list. A case is one
//! (cell, case id); its repeats are a cluster, so they are judged together, never one by one.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use crate::results::file::ResultsFileError;
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
    pub cell: String,
    pub case_id: String,
    pub repeats: Vec<CallResult>,
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

/// Every case of `results` in memory, in the order their first repeat appears (plan order),
/// each with its comparison entry. For small runs and tests; reports walk [`each_case`].
pub fn cases(results: &Results) -> Result<Vec<CaseView<'_>>, ResultsFileError> {
    let mut out = Vec::new();
    each_case(results, |case| {
        out.push(case);
        Ok::<_, ResultsFileError>(())
    })?;
    Ok(out)
}

/// Calls `each` with every case of `results`, one at a time, in the order their first repeat
/// appears (plan order), each with its comparison entry. Calls on disk are in plan order with a
/// case's repeats on adjacent lines, so only one case is held at a time; calls in memory may be
/// in any order and are grouped first.
pub fn each_case<'a, E: From<ResultsFileError>>(
    results: &'a Results,
    mut each: impl FnMut(CaseView<'a>) -> Result<(), E>,
) -> Result<(), E> {
    let changes: HashMap<(&str, &str), &CaseComparison> = results
        .comparison
        .iter()
        .flat_map(|c| &c.cases)
        .map(|entry| ((entry.cell.as_str(), entry.case_id.as_str()), entry))
        .collect();
    let mut finish = |cell: String, case_id: String, mut repeats: Vec<CallResult>| {
        // Stable, so repeats with equal indexes (a hand-edited file) keep their file order.
        repeats.sort_by_key(|c| c.repeat);
        let change = changes.get(&(cell.as_str(), case_id.as_str())).copied();
        each(CaseView {
            status: status(&repeats),
            cell,
            case_id,
            repeats,
            change,
        })
    };
    if results.results.in_order() {
        let mut current: Option<(String, String, Vec<CallResult>)> = None;
        for call in results.results.iter() {
            let call = call?.into_owned();
            match &mut current {
                Some((cell, case_id, repeats))
                    if *cell == call.cell && *case_id == call.case_id =>
                {
                    repeats.push(call);
                }
                _ => {
                    if let Some((cell, case_id, repeats)) = current.take() {
                        finish(cell, case_id, repeats)?;
                    }
                    current = Some((call.cell.clone(), call.case_id.clone(), vec![call]));
                }
            }
        }
        if let Some((cell, case_id, repeats)) = current {
            finish(cell, case_id, repeats)?;
        }
        return Ok(());
    }
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut grouped: Vec<(String, String, Vec<CallResult>)> = Vec::new();
    for call in results.results.iter() {
        let call = call?.into_owned();
        let key = (call.cell.clone(), call.case_id.clone());
        match index.get(&key) {
            Some(&i) => grouped[i].2.push(call),
            None => {
                index.insert(key, grouped.len());
                grouped.push((call.cell.clone(), call.case_id.clone(), vec![call]));
            }
        }
    }
    for (cell, case_id, repeats) in grouped {
        finish(cell, case_id, repeats)?;
    }
    Ok(())
}

/// [`Scale`] of all the calls of `results` at once.
#[cfg(test)]
pub fn scale(results: &Results) -> Result<String, ResultsFileError> {
    let mut scale = Scale::default();
    for call in results.results.iter() {
        let call = call?;
        scale.add(&call.cell, &call.case_id);
    }
    Ok(scale.describe(results))
}

/// How big the run was, said the same way in every report: distinct case ids, the cells they
/// ran in and the repeats, then the calls they made: `30 cases × 2 cells = 60 calls`,
/// `8 cases × 3 repeats = 24 calls`, or `8 cases` when each case is one call. "Cases" never
/// counts a case twice because two prompts ran it. Gathered a call at a time, in the pass a
/// report makes over the calls anyway.
#[derive(Debug, Default)]
pub struct Scale {
    ids: HashSet<String>,
    cells: HashSet<String>,
}

impl Scale {
    /// Counts a call (or a case) of `cell` with id `case_id`.
    pub fn add(&mut self, cell: &str, case_id: &str) {
        if !self.ids.contains(case_id) {
            self.ids.insert(case_id.to_owned());
        }
        if !self.cells.contains(cell) {
            self.cells.insert(cell.to_owned());
        }
    }

    /// What [`Scale`] says of the calls added, with the counts of `results`' summary.
    pub fn describe(&self, results: &Results) -> String {
        let (ids, cells) = (self.ids.len() as u64, self.cells.len() as u64);
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
}

fn status(repeats: &[CallResult]) -> CaseStatus {
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
        status(&calls)
    }

    #[test]
    fn the_scale_counts_case_ids_once_and_says_what_multiplies_them() {
        let mut results = crate::test_helpers::pass_despite_noise();
        // 4 case ids in 2 cells, one call each.
        assert_eq!(
            scale(&results).expect("scale"),
            "4 cases × 2 cells = 8 calls"
        );
        results.results.to_mut().retain(|c| c.cell == "answer/mini");
        results.summary = crate::aggregate::summarize(&results.results.to_vec());
        assert_eq!(scale(&results).expect("scale"), "4 cases");
        let again: Vec<CallResult> = results
            .results
            .to_vec()
            .iter()
            .map(|c| CallResult {
                repeat: 1,
                ..c.clone()
            })
            .collect();
        results.results.to_mut().extend(again);
        results.summary = crate::aggregate::summarize(&results.results.to_vec());
        results.run.repeats = 2;
        assert_eq!(
            scale(&results).expect("scale"),
            "4 cases × 2 repeats = 8 calls"
        );
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
