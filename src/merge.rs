//! Merging shards: the results files of `run --shard I/N` joined into the results file of one
//! whole run, checked to belong together, re-aggregated and re-gated.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::results::gate::GateConfig;
use crate::results::{CallResult, Results};
use crate::{aggregate, gate};

/// One shard's results file and the name it was given by.
#[derive(Debug)]
pub struct ShardFile {
    pub path: String,
    pub results: Results,
}

/// Why shards cannot be merged. Each message names the files involved.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge: pass the results file of every shard")]
    Empty,
    #[error("{path} is not a shard: it was not written by `evalgate run --shard I/N`")]
    NotAShard { path: String },
    #[error("{path} is a run of suite `{found}`, but {first} is a run of suite `{expected}`")]
    DifferentSuites {
        first: String,
        expected: String,
        path: String,
        found: String,
    },
    #[error(
        "{path} and {first} are runs of different configurations of suite `{suite}` (config fingerprints {found} and {expected})"
    )]
    DifferentConfigs {
        first: String,
        expected: String,
        path: String,
        found: String,
        suite: String,
    },
    #[error("{path} ran with --filter {found:?}, but {first} ran with --filter {expected:?}")]
    DifferentFilters {
        first: String,
        expected: Option<String>,
        path: String,
        found: Option<String>,
    },
    #[error("{path} is one of {found} shards, but {first} is one of {expected}")]
    DifferentCounts {
        first: String,
        expected: u32,
        path: String,
        found: u32,
    },
    #[error("{first} and {path} are both shard {index}/{count}")]
    DuplicateShard {
        first: String,
        path: String,
        index: u32,
        count: u32,
    },
    #[error("{path} says it is shard {index} of {count}, which does not exist")]
    ShardOutOfRange {
        path: String,
        index: u32,
        count: u32,
    },
    #[error("{}; the files given hold shards {}", missing_message(missing, *count), list(present))]
    MissingShards {
        missing: Vec<u32>,
        present: Vec<u32>,
        count: u32,
    },
    #[error("case `{case_id}` of cell `{cell}` is in both {first} and {path}")]
    Overlap {
        first: String,
        path: String,
        cell: String,
        case_id: String,
    },
    #[error("{path} has results for cell `{cell}`, which its `cells` list does not name")]
    UnknownCell { path: String, cell: String },
    #[error(
        "{path} lists {expected} case positions in `run.shard.positions` but holds {found} cases"
    )]
    Positions {
        path: String,
        expected: usize,
        found: usize,
    },
    #[error("{path} does not record the gate it was run with (`run.gate`)")]
    NoGate { path: String },
    #[error("{path} and {first} record different gates (`run.gate`)")]
    DifferentGates { first: String, path: String },
}

impl MergeError {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        use MergeError as E;
        match self {
            E::MissingShards { .. } | E::DuplicateShard { .. } | E::Empty => {
                "pass the results file of each shard 1..N once"
            }
            E::NotAShard { .. } => {
                "pass the files that `evalgate run --shard I/N --results FILE` wrote"
            }
            E::NoGate { .. } | E::DifferentGates { .. } => {
                "pass the suite file with `-c FILE` to use its [gate] table"
            }
            _ => {
                "merge the shards of one run: the same suite, configuration, --filter and shard count"
            }
        }
    }
}

fn missing_message(missing: &[u32], count: u32) -> String {
    match missing {
        [one] => format!("shard {one} of {count} is missing"),
        many => format!("shards {} of {count} are missing", list(many)),
    }
}

fn list(items: &[u32]) -> String {
    let items: Vec<String> = items.iter().map(u32::to_string).collect();
    items.join(", ")
}

/// Joins `shards` into the results of the whole run: results in plan order, summaries and metrics
/// recomputed, the verdict decided under `gate_override` or the gate the shards recorded, and the
/// run's span from the earliest start to the latest finish. No comparison: a baseline is judged
/// on the merged run.
pub fn merge(
    mut shards: Vec<ShardFile>,
    gate_override: Option<GateConfig>,
) -> Result<Results, MergeError> {
    for file in &shards {
        if file.results.run.shard.is_none() {
            return Err(MergeError::NotAShard {
                path: file.path.clone(),
            });
        }
    }
    check_same_run(&shards)?;
    shards.sort_by_key(|f| f.results.run.shard.as_ref().map_or(0, |s| s.index));
    check_complete(&shards)?;
    let gate_config = match gate_override {
        Some(gate) => gate,
        None => recorded_gate(&shards)?,
    };

    let Some(first) = shards.first() else {
        return Err(MergeError::Empty);
    };
    let cell_order: BTreeMap<&str, usize> = first
        .results
        .cells
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();
    // (cell position, case position) -> the case's calls, and the file that holds them.
    let mut groups: BTreeMap<(usize, u64), (Vec<CallResult>, &str)> = BTreeMap::new();
    let mut owners: BTreeMap<(String, String), &str> = BTreeMap::new();
    for file in &shards {
        let positions = file
            .results
            .run
            .shard
            .as_ref()
            .map(|s| s.positions.as_slice())
            .unwrap_or_default();
        let cases = split_cases(&file.results.results);
        if cases.len() != positions.len() {
            return Err(MergeError::Positions {
                path: file.path.clone(),
                expected: positions.len(),
                found: cases.len(),
            });
        }
        for (calls, &position) in cases.into_iter().zip(positions) {
            let (cell, case_id) = (&calls[0].cell, &calls[0].case_id);
            let Some(&cell_index) = cell_order.get(cell.as_str()) else {
                return Err(MergeError::UnknownCell {
                    path: file.path.clone(),
                    cell: cell.clone(),
                });
            };
            if let Some(owner) = owners.insert((cell.clone(), case_id.clone()), &file.path) {
                return Err(overlap(owner, &file.path, cell, case_id));
            }
            if let Some((other, owner)) = groups.get(&(cell_index, position)) {
                return Err(overlap(owner, &file.path, cell, &other[0].case_id));
            }
            groups.insert((cell_index, position), (calls.to_vec(), &file.path));
        }
    }
    let results: Vec<CallResult> = groups.into_values().flat_map(|(calls, _)| calls).collect();

    let summary = aggregate::summarize(&results);
    let metrics = aggregate::metrics(&results, gate_config.confidence);
    let by_cell = aggregate::summarize_by_cell(&results);
    let verdict = gate::evaluate(&gate_config, &summary, &metrics);
    let mut cells = first.results.cells.clone();
    for cell in &mut cells {
        cell.summary = by_cell.get(&cell.id).cloned().unwrap_or_default();
    }
    let mut run = first.results.run.clone();
    let (started, finished, duration_ms) = span(&shards);
    run.started_at = started;
    run.finished_at = finished;
    run.duration_ms = duration_ms;
    if shards
        .iter()
        .any(|f| f.results.run.cache != first.results.run.cache)
    {
        run.cache = "mixed".to_owned();
    }
    run.gate = Some(gate_config);
    run.shard = None;
    Ok(Results {
        schema_version: first.results.schema_version,
        run,
        summary,
        metrics,
        cells,
        verdict,
        comparison: None,
        results,
    })
}

fn overlap(first: &str, path: &str, cell: &str, case_id: &str) -> MergeError {
    MergeError::Overlap {
        first: first.to_owned(),
        path: path.to_owned(),
        cell: cell.to_owned(),
        case_id: case_id.to_owned(),
    }
}

/// Runs of consecutive calls of the same (cell, case): a results file keeps a case's repeats
/// together, in plan order.
fn split_cases(results: &[CallResult]) -> Vec<&[CallResult]> {
    results
        .chunk_by(|a, b| a.cell == b.cell && a.case_id == b.case_id)
        .collect()
}

fn check_same_run(shards: &[ShardFile]) -> Result<(), MergeError> {
    let Some(first) = shards.first() else {
        return Err(MergeError::Empty);
    };
    let (a, count) = (
        &first.results.run,
        first.results.run.shard.as_ref().map_or(0, |s| s.count),
    );
    for file in &shards[1..] {
        let b = &file.results.run;
        let (path, first) = (file.path.clone(), first.path.clone());
        if b.suite != a.suite {
            return Err(MergeError::DifferentSuites {
                first,
                expected: a.suite.clone(),
                path,
                found: b.suite.clone(),
            });
        }
        if b.config_fingerprint != a.config_fingerprint {
            return Err(MergeError::DifferentConfigs {
                first,
                expected: a.config_fingerprint.chars().take(12).collect(),
                path,
                found: b.config_fingerprint.chars().take(12).collect(),
                suite: a.suite.clone(),
            });
        }
        if b.filter != a.filter {
            return Err(MergeError::DifferentFilters {
                first,
                expected: a.filter.clone(),
                path,
                found: b.filter.clone(),
            });
        }
        let found = b.shard.as_ref().map_or(0, |s| s.count);
        if found != count {
            return Err(MergeError::DifferentCounts {
                first,
                expected: count,
                path,
                found,
            });
        }
    }
    Ok(())
}

/// Every index from 1 to the count, once. `shards` is sorted by index.
fn check_complete(shards: &[ShardFile]) -> Result<(), MergeError> {
    let index = |f: &ShardFile| {
        f.results
            .run
            .shard
            .as_ref()
            .map_or((0, 0), |s| (s.index, s.count))
    };
    for pair in shards.windows(2) {
        let ((i, count), (j, _)) = (index(&pair[0]), index(&pair[1]));
        if i == j {
            return Err(MergeError::DuplicateShard {
                first: pair[0].path.clone(),
                path: pair[1].path.clone(),
                index: i,
                count,
            });
        }
    }
    let count = shards.first().map_or(0, |f| index(f).1);
    let present: Vec<u32> = shards.iter().map(|f| index(f).0).collect();
    // An index outside 1..=count (a hand-edited file) is as wrong as a missing one.
    if let Some(bad) = shards.iter().find(|f| !(1..=count).contains(&index(f).0)) {
        return Err(MergeError::ShardOutOfRange {
            path: bad.path.clone(),
            index: index(bad).0,
            count,
        });
    }
    let missing: Vec<u32> = (1..=count).filter(|i| !present.contains(i)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(MergeError::MissingShards {
            missing,
            present,
            count,
        })
    }
}

fn recorded_gate(shards: &[ShardFile]) -> Result<GateConfig, MergeError> {
    let mut gate: Option<(&GateConfig, &str)> = None;
    for file in shards {
        let Some(this) = &file.results.run.gate else {
            return Err(MergeError::NoGate {
                path: file.path.clone(),
            });
        };
        match gate {
            Some((first, path)) if first != this => {
                return Err(MergeError::DifferentGates {
                    first: path.to_owned(),
                    path: file.path.clone(),
                });
            }
            Some(_) => {}
            None => gate = Some((this, &file.path)),
        }
    }
    gate.map(|(g, _)| g.clone()).ok_or(MergeError::Empty)
}

/// The earliest start, the latest finish and the wall-clock time between them. A timestamp that
/// does not parse (a hand-edited file) falls back to the longest shard's duration.
fn span(shards: &[ShardFile]) -> (String, String, u64) {
    let parse = |s: &str| OffsetDateTime::parse(s, &Rfc3339).ok();
    let mut start: Option<(OffsetDateTime, &str)> = None;
    let mut finish: Option<(OffsetDateTime, &str)> = None;
    let mut parsed = true;
    for file in shards {
        let run = &file.results.run;
        match (parse(&run.started_at), parse(&run.finished_at)) {
            (Some(s), Some(f)) => {
                if start.is_none_or(|(t, _)| s < t) {
                    start = Some((s, &run.started_at));
                }
                if finish.is_none_or(|(t, _)| f > t) {
                    finish = Some((f, &run.finished_at));
                }
            }
            _ => parsed = false,
        }
    }
    let longest = shards
        .iter()
        .map(|f| f.results.run.duration_ms)
        .max()
        .unwrap_or(0);
    match (start, finish) {
        (Some((s, started)), Some((f, finished))) if parsed => {
            let ms = u64::try_from((f - s).whole_milliseconds()).unwrap_or(longest);
            (started.to_owned(), finished.to_owned(), ms)
        }
        _ => {
            let first = shards.first().map(|f| &f.results.run);
            (
                first.map(|r| r.started_at.clone()).unwrap_or_default(),
                first.map(|r| r.finished_at.clone()).unwrap_or_default(),
                longest,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::ShardInfo;
    use crate::test_helpers::call;

    /// A shard holding `cases` (cell, case id, position), two repeats each, that ran from
    /// `start` to `end` (seconds past midnight).
    fn shard(index: u32, count: u32, cases: &[(&str, &str, u64)], times: (u32, u32)) -> ShardFile {
        let calls = cases
            .iter()
            .flat_map(|&(cell, id, _)| (0..2).map(move |r| call(cell, id, r, r == 0)))
            .collect();
        let mut results = crate::test_helpers::results(calls, vec![], None);
        // Every shard lists every cell of the suite, in suite order; merge recomputes summaries.
        results.cells = ["p/a", "p/b"]
            .into_iter()
            .map(|id| crate::results::CellSummary {
                id: id.to_owned(),
                prompt: "p".to_owned(),
                model: id.trim_start_matches("p/").to_owned(),
                provider: "openai".to_owned(),
                model_name: "m".to_owned(),
                fingerprint: format!("fp-{id}"),
                summary: crate::results::Summary::default(),
                reused: false,
                variable_prefix: false,
                batch: false,
            })
            .collect();
        results.run.started_at = format!("2026-01-01T00:00:{:02}Z", times.0);
        results.run.finished_at = format!("2026-01-01T00:00:{:02}Z", times.1);
        results.run.gate = Some(GateConfig::default());
        results.run.shard = Some(ShardInfo {
            index,
            count,
            positions: cases.iter().map(|&(_, _, p)| p).collect(),
        });
        ShardFile {
            path: format!("shard-{index}.json"),
            results,
        }
    }

    fn order(results: &Results) -> Vec<String> {
        results
            .results
            .iter()
            .map(|c| format!("{}:{}:{}", c.cell, c.case_id, c.repeat))
            .collect()
    }

    #[test]
    fn merge_restores_plan_order_across_cells_and_shards() {
        let one = shard(
            1,
            2,
            &[("p/a", "c0", 0), ("p/a", "c2", 2), ("p/b", "c0", 0)],
            (3, 9),
        );
        let two = shard(2, 2, &[("p/a", "c1", 1), ("p/b", "c1", 1)], (1, 5));
        let merged = merge(vec![two, one], None).expect("merge");
        assert_eq!(
            order(&merged),
            [
                "p/a:c0:0", "p/a:c0:1", "p/a:c1:0", "p/a:c1:1", "p/a:c2:0", "p/a:c2:1", "p/b:c0:0",
                "p/b:c0:1", "p/b:c1:0", "p/b:c1:1"
            ]
        );
        assert_eq!(merged.summary.cases, 5);
        assert_eq!(merged.summary.calls, 10);
        assert_eq!(merged.cells[0].summary.cases, 3);
        assert_eq!(merged.cells[1].summary.cases, 2);
        assert_eq!(merged.run.started_at, "2026-01-01T00:00:01Z");
        assert_eq!(merged.run.finished_at, "2026-01-01T00:00:09Z");
        assert_eq!(merged.run.duration_ms, 8_000);
        assert_eq!(merged.run.shard, None);
    }

    #[test]
    fn the_verdict_is_decided_again_on_the_whole_run() {
        let one = shard(1, 2, &[("p/a", "c0", 0)], (0, 1));
        let two = shard(2, 2, &[("p/a", "c1", 1)], (0, 1));
        // Half of the calls pass (the first repeat of each case).
        let strict = GateConfig {
            min_pass_rate: Some(0.9),
            ..GateConfig::default()
        };
        let merged = merge(vec![one, two], Some(strict.clone())).expect("merge");
        assert_eq!(merged.verdict.status, crate::results::Status::Fail);
        assert_eq!(merged.run.gate, Some(strict));
    }

    #[test]
    fn shards_that_recorded_different_gates_need_one_given() {
        let one = shard(1, 2, &[("p/a", "c0", 0)], (0, 1));
        let mut two = shard(2, 2, &[("p/a", "c1", 1)], (0, 1));
        two.results.run.gate = Some(GateConfig {
            min_pass_rate: Some(0.5),
            ..GateConfig::default()
        });
        let err = merge(vec![one, two], None).expect_err("different gates");
        assert!(matches!(err, MergeError::DifferentGates { .. }), "{err}");
    }

    #[test]
    fn positions_that_do_not_match_the_cases_are_refused() {
        let mut one = shard(1, 1, &[("p/a", "c0", 0), ("p/a", "c1", 1)], (0, 1));
        if let Some(shard) = &mut one.results.run.shard {
            shard.positions.pop();
        }
        let err = merge(vec![one], None).expect_err("positions");
        assert_eq!(
            err.to_string(),
            "shard-1.json lists 1 case positions in `run.shard.positions` but holds 2 cases"
        );
    }
}
