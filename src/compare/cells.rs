//! Two cells of one run as a base and a head: "is the new model a regression?" answered by the
//! same paired comparison and gate as a baseline run, with no second run.
//!
//! [`cell_views`] cuts a results file into two [`Results`]: the OLD cell's calls, relabelled as
//! the NEW cell so they pair case by case (case id, then repeats as a cluster), as the base; the
//! NEW cell's calls as the head. [`crate::compare::compare`] and [`crate::gate::apply_baseline`]
//! then run unchanged on them.

use crate::results::file::ResultsFileError;
use crate::results::{Calls, Results};

/// Why two cells cannot be compared. Every variant but `Read` is a usage error: nothing was
/// judged.
#[derive(Debug, thiserror::Error)]
pub enum CellsError {
    #[error(transparent)]
    Read(Box<ResultsFileError>),
    #[error("{path} has no cell `{cell}`; its cells are: {known}")]
    UnknownCell {
        path: String,
        cell: String,
        known: String,
    },
    #[error("`--cells` names `{cell}` twice: there is nothing to compare it with")]
    SameCell { cell: String },
    #[error("cells `{old}` and `{new}` of {path} have no case in common, so no case can be paired")]
    NoCommonCase {
        path: String,
        old: String,
        new: String,
    },
}

impl CellsError {
    pub fn hint(&self) -> &'static str {
        match self {
            CellsError::UnknownCell { .. } => {
                "name two cells as PROMPT/MODEL, exactly as the file's `cells[].id` spell them"
            }
            CellsError::SameCell { .. } => "name the current cell, then the one to judge",
            CellsError::NoCommonCase { .. } => {
                "run both models on the same prompts and dataset (a `--filter` that kept different cases for each cannot be paired)"
            }
            CellsError::Read(_) => "",
        }
    }
}

/// The two views of `results` (read from `path`) to judge cell `new` against cell `old`.
#[derive(Debug, Clone, PartialEq)]
pub struct CellViews {
    pub base: Results,
    pub head: Results,
    /// Says where the base came from, for the reports: `cell OLD of PATH`.
    pub source: String,
    /// The two cells' prompts, when they differ: the change then mixes a prompt change with the
    /// model change, which the reports must not hide.
    pub different_prompts: Option<(String, String)>,
}

/// Cuts `results` into a base (cell `old`, relabelled as `new`) and a head (cell `new`).
///
/// Each view holds one cell, its summary recomputed from its own calls (the comparison reads
/// cost, tokens and latency per case from it). The base keeps no git info: both cells ran in the
/// same commit, and reports would otherwise call it a base branch.
pub fn cell_views(
    results: &Results,
    path: &str,
    old: &str,
    new: &str,
) -> Result<CellViews, CellsError> {
    let find = |id: &str| {
        results
            .cells
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| CellsError::UnknownCell {
                path: path.to_owned(),
                cell: id.to_owned(),
                known: results
                    .cells
                    .iter()
                    .map(|c| c.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    };
    let (old_cell, new_cell) = (find(old)?, find(new)?);
    if old == new {
        return Err(CellsError::SameCell {
            cell: old.to_owned(),
        });
    }
    let read = |e: ResultsFileError| CellsError::Read(Box::new(e));
    // The old cell's calls under the new cell's id, so the two pair case by case.
    let base_calls = results.results.of_cell(old, new).map_err(read)?;
    let head_calls = results.results.of_cell(new, new).map_err(read)?;
    let mut old_ids = std::collections::HashSet::new();
    for call in base_calls.iter() {
        old_ids.insert(call.map_err(read)?.case_id.clone());
    }
    let mut common = false;
    for call in head_calls.iter() {
        if old_ids.contains(&call.map_err(read)?.case_id) {
            common = true;
            break;
        }
    }
    drop(old_ids);
    if !common {
        return Err(CellsError::NoCommonCase {
            path: path.to_owned(),
            old: old.to_owned(),
            new: new.to_owned(),
        });
    }

    let confidence = results.run.gate.as_ref().map_or(0.95, |g| g.confidence);
    let view = |cell: &crate::results::CellSummary, calls: Calls| {
        let totals = crate::aggregate::tally_calls(&calls, confidence)?;
        let mut view = Results {
            schema_version: results.schema_version,
            run: results.run.clone(),
            summary: totals.summary,
            metrics: totals.metrics,
            cells: Vec::new(),
            verdict: results.verdict.clone(),
            comparison: None,
            results: calls,
        };
        let mut cell = cell.clone();
        cell.summary = view.summary.clone();
        cell.id = new.to_owned();
        view.cells = vec![cell];
        // The shard's case positions describe the whole file's rows, not this cut.
        view.run.shard = None;
        Ok::<_, ResultsFileError>(view)
    };
    let mut base = view(old_cell, base_calls).map_err(read)?;
    base.run.git = None;
    let head = view(new_cell, head_calls).map_err(read)?;
    let different_prompts = (old_cell.prompt != new_cell.prompt)
        .then(|| (old_cell.prompt.clone(), new_cell.prompt.clone()));
    // The source is what every report names the baseline by, so it carries the prompt warning.
    let source = match &different_prompts {
        None => format!("cell {old} of {path}"),
        Some((old_prompt, _)) => format!("cell {old} of {path} (another prompt: {old_prompt})"),
    };
    Ok(CellViews {
        base,
        head,
        source,
        different_prompts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::gate::GateConfig;
    use crate::results::{CaseChange, Status};
    use crate::test_helpers::{call, results};

    /// Cell `answer/old` passes every case; `answer/new` fails those where `fails(i)`.
    fn two_cells(n: usize, fails: impl Fn(usize) -> bool) -> Results {
        let mut calls = Vec::new();
        for i in 0..n {
            calls.push(call("answer/old", &format!("q{i:03}"), 0, true));
        }
        for i in 0..n {
            calls.push(call("answer/new", &format!("q{i:03}"), 0, !fails(i)));
        }
        results(calls, Vec::new(), None)
    }

    fn gate(max_drop: f64) -> GateConfig {
        toml::from_str(&format!(
            "max_error_rate = 0.0\n[metrics.pass_rate]\nmax_drop = {max_drop}\n"
        ))
        .expect("gate")
    }

    #[test]
    fn the_old_cell_is_relabelled_as_the_new_one_and_each_view_holds_one_cell() {
        let run = two_cells(10, |i| i < 3);
        let views = cell_views(&run, "results.json", "answer/old", "answer/new").expect("views");
        assert_eq!(views.source, "cell answer/old of results.json");
        assert_eq!(views.different_prompts, None);
        for view in [&views.base, &views.head] {
            assert_eq!(view.cells.len(), 1);
            assert_eq!(view.cells[0].id, "answer/new");
            assert!(view.results.to_vec().iter().all(|c| c.cell == "answer/new"));
            assert_eq!(view.summary.cases, 10);
        }
        assert_eq!(views.base.cells[0].model, "old");
        assert_eq!(views.base.summary.passed, 10);
        assert_eq!(views.head.summary.passed, 7);
        assert_eq!(views.base.run.git, None);
        assert!(views.head.run.git.is_some());
    }

    #[test]
    fn a_new_cell_that_drops_fails_the_gate_with_its_regressed_cases() {
        let run = two_cells(200, |i| i % 5 == 0);
        let views = cell_views(&run, "r.json", "answer/old", "answer/new").expect("views");
        let mut head = views.head;
        crate::gate::apply_baseline(&mut head, &views.base, &gate(0.02), &views.source)
            .expect("baseline");
        assert_eq!(head.verdict.status, Status::Fail);
        let comparison = head.comparison.expect("comparison");
        assert_eq!(comparison.baseline.source, "cell answer/old of r.json");
        let regressed: Vec<&str> = comparison
            .cases
            .iter()
            .filter(|c| c.change == CaseChange::Regressed)
            .map(|c| c.case_id.as_str())
            .collect();
        assert_eq!(regressed.len(), 40);
        assert_eq!(regressed[..2], ["q000", "q005"]);
    }

    #[test]
    fn identical_cells_pass() {
        let run = two_cells(50, |_| false);
        let views = cell_views(&run, "r.json", "answer/old", "answer/new").expect("views");
        let mut head = views.head;
        crate::gate::apply_baseline(&mut head, &views.base, &gate(0.02), &views.source)
            .expect("baseline");
        assert_eq!(head.verdict.status, Status::Pass);
        assert_eq!(head.comparison.expect("comparison").unchanged, 50);
    }

    #[test]
    fn unknown_same_and_disjoint_cells_are_usage_errors_that_say_what_exists() {
        let run = two_cells(3, |_| false);
        let err = cell_views(&run, "r.json", "answer/old", "answer/gpt-5").expect_err("an error");
        assert_eq!(
            err.to_string(),
            "r.json has no cell `answer/gpt-5`; its cells are: answer/old, answer/new"
        );
        let err = cell_views(&run, "r.json", "answer/old", "answer/old").expect_err("an error");
        assert!(matches!(err, CellsError::SameCell { .. }), "{err}");

        let mut disjoint = vec![call("answer/old", "a", 0, true)];
        disjoint.push(call("other/new", "b", 0, true));
        let run = results(disjoint, Vec::new(), None);
        let err = cell_views(&run, "r.json", "answer/old", "other/new").expect_err("an error");
        assert_eq!(
            err.to_string(),
            "cells `answer/old` and `other/new` of r.json have no case in common, so no case can be paired"
        );
    }

    #[test]
    fn cells_of_different_prompts_are_allowed_and_flagged() {
        let calls = vec![
            call("answer/old", "a", 0, true),
            call("terse/new", "a", 0, true),
        ];
        let run = results(calls, Vec::new(), None);
        let views = cell_views(&run, "r.json", "answer/old", "terse/new").expect("views");
        assert_eq!(
            views.different_prompts,
            Some(("answer".to_owned(), "terse".to_owned()))
        );
        assert_eq!(views.base.results.to_vec()[0].cell, "terse/new");
        assert_eq!(
            views.source,
            "cell answer/old of r.json (another prompt: answer)"
        );
    }
}
