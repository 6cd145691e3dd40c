//! Merging shards: the results files of `run --shard I/N` joined into the results file of one
//! whole run, checked to belong together, re-aggregated and re-gated.

use std::collections::HashMap;
use std::path::Path;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::results::calls::Spool;
use crate::results::file::ResultsFileError;
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
    #[error(
        "{path} does not list its calls in plan order: case `{case_id}` of cell `{cell}` comes after a later one"
    )]
    OutOfOrder {
        path: String,
        cell: String,
        case_id: String,
    },
    #[error(transparent)]
    Read(Box<ResultsFileError>),
    #[error("cannot write the merged calls to a temporary file: {0}")]
    Spool(#[source] std::io::Error),
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
            E::Read(_) | E::OutOfOrder { .. } => {
                "pass the results files as `evalgate run --shard I/N` wrote them"
            }
            E::Spool(_) => {
                "free space next to the merged results file, or write it elsewhere with --results FILE"
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
///
/// The shards' calls are read one case at a time and written to a spool in `spool_dir` in their
/// merged order; memory holds one case per shard.
pub fn merge(
    mut shards: Vec<ShardFile>,
    gate_override: Option<GateConfig>,
    spool_dir: &Path,
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
    let cell_order: HashMap<&str, usize> = first
        .results
        .cells
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();
    let total: usize = shards.iter().map(|f| f.results.results.len()).sum();
    let mut spool = Spool::create(spool_dir, total).map_err(MergeError::Spool)?;
    let mut tally = aggregate::Tally::new(aggregate::CaseEnd::Adjacent);
    // Each shard's cases in its order, which is plan order: by cell, then by case position.
    // The merged run takes the next case of whichever shard has the earliest one.
    let mut streams = Vec::with_capacity(shards.len());
    for file in &shards {
        streams.push(ShardCases::new(file, &cell_order)?);
    }
    // (cell, case id) of every case, and the shard that holds it, to catch a case in two shards.
    let mut owners: HashMap<u128, usize> = HashMap::new();
    let mut heads: Vec<Option<ShardCase>> = Vec::with_capacity(streams.len());
    for stream in &mut streams {
        heads.push(stream.next_case()?);
    }
    let mut last: Option<(usize, u64, usize)> = None;
    let mut place = 0;
    while let Some(shard) = (0..heads.len())
        .filter(|&i| heads[i].is_some())
        .min_by_key(|&i| heads[i].as_ref().map(|c| (c.cell, c.position)))
    {
        let Some(case) = heads[shard].take() else {
            break;
        };
        heads[shard] = streams[shard].next_case()?;
        let (cell, case_id) = (&case.calls[0].cell, &case.calls[0].case_id);
        if let Some((last_cell, last_position, owner)) = last
            && (last_cell, last_position) == (case.cell, case.position)
        {
            return Err(overlap(
                &shards[owner].path,
                &shards[shard].path,
                cell,
                case_id,
            ));
        }
        let key = crate::results::file::case_hash(cell, case_id);
        if let Some(&owner) = owners.get(&key) {
            return Err(overlap(
                &shards[owner].path,
                &shards[shard].path,
                cell,
                case_id,
            ));
        }
        owners.insert(key, shard);
        last = Some((case.cell, case.position, shard));
        for call in &case.calls {
            tally.add(call);
            spool.push(place, call).map_err(MergeError::Spool)?;
            place += 1;
        }
    }
    drop(owners);
    let results = spool.finish().map_err(MergeError::Spool)?;
    let aggregate::Totals {
        summary,
        metrics,
        by_cell,
    } = tally.finish(gate_config.confidence);
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

/// One case of a shard: its cell's place in the run, its position among the suite's cases, and
/// its calls (the repeats, on adjacent lines of the shard's file).
struct ShardCase {
    cell: usize,
    position: u64,
    calls: Vec<CallResult>,
}

/// A shard's cases in file order, read one at a time, each with its position from
/// `run.shard.positions`; checked to be in plan order (by cell, then by position).
struct ShardCases<'a> {
    file: &'a ShardFile,
    cell_order: &'a HashMap<&'a str, usize>,
    calls: std::iter::Peekable<crate::results::calls::Iter<'a>>,
    positions: &'a [u64],
    index: usize,
    last: Option<(usize, u64)>,
}

impl<'a> ShardCases<'a> {
    fn new(
        file: &'a ShardFile,
        cell_order: &'a HashMap<&'a str, usize>,
    ) -> Result<Self, MergeError> {
        let positions = file
            .results
            .run
            .shard
            .as_ref()
            .map(|s| s.positions.as_slice())
            .unwrap_or_default();
        Ok(ShardCases {
            file,
            cell_order,
            calls: file.results.results.iter().peekable(),
            positions,
            index: 0,
            last: None,
        })
    }

    fn positions_error(&self, found: usize) -> MergeError {
        MergeError::Positions {
            path: self.file.path.clone(),
            expected: self.positions.len(),
            found,
        }
    }

    fn next_case(&mut self) -> Result<Option<ShardCase>, MergeError> {
        let read = |e| MergeError::Read(Box::new(e));
        let Some(first) = self.calls.next() else {
            if self.index != self.positions.len() {
                return Err(self.positions_error(self.index));
            }
            return Ok(None);
        };
        let mut calls = vec![first.map_err(read)?.into_owned()];
        while let Some(next) = self.calls.next_if(|c| {
            c.as_ref()
                .is_ok_and(|c| c.cell == calls[0].cell && c.case_id == calls[0].case_id)
        }) {
            calls.push(next.map_err(read)?.into_owned());
        }
        let Some(&position) = self.positions.get(self.index) else {
            // Count the rest of the cases, to say how many there are.
            let mut found = self.index + 1;
            while let Some(call) = self.calls.next() {
                let call = call.map_err(read)?;
                while self
                    .calls
                    .next_if(|c| {
                        c.as_ref()
                            .is_ok_and(|c| c.cell == call.cell && c.case_id == call.case_id)
                    })
                    .is_some()
                {}
                found += 1;
            }
            return Err(self.positions_error(found));
        };
        self.index += 1;
        let cell = &calls[0].cell;
        let Some(&cell_index) = self.cell_order.get(cell.as_str()) else {
            return Err(MergeError::UnknownCell {
                path: self.file.path.clone(),
                cell: cell.clone(),
            });
        };
        let key = (cell_index, position);
        if self.last.is_some_and(|last| last >= key) {
            return Err(MergeError::OutOfOrder {
                path: self.file.path.clone(),
                cell: cell.clone(),
                case_id: calls[0].case_id.clone(),
            });
        }
        self.last = Some(key);
        Ok(Some(ShardCase {
            cell: cell_index,
            position,
            calls,
        }))
    }
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

    /// Where merged calls are spooled: the system's temporary folder.
    fn spool_dir() -> std::path::PathBuf {
        std::env::temp_dir()
    }

    fn order(results: &Results) -> Vec<String> {
        results
            .results
            .to_vec()
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
        let merged = merge(vec![two, one], None, &spool_dir()).expect("merge");
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
        let merged = merge(vec![one, two], Some(strict.clone()), &spool_dir()).expect("merge");
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
        let err = merge(vec![one, two], None, &spool_dir()).expect_err("different gates");
        assert!(matches!(err, MergeError::DifferentGates { .. }), "{err}");
    }

    /// Shards are merged a case at a time, which needs each in plan order: a shard whose cases
    /// are not (a hand-edited file) is refused, not merged out of order.
    #[test]
    fn a_shard_out_of_plan_order_is_refused() {
        let one = shard(1, 2, &[("p/a", "c2", 2), ("p/a", "c0", 0)], (0, 1));
        let two = shard(2, 2, &[("p/a", "c1", 1)], (0, 1));
        let err = merge(vec![one, two], None, &spool_dir()).expect_err("out of order");
        assert!(
            matches!(&err, MergeError::OutOfOrder { path, case_id, .. } if path == "shard-1.json" && case_id == "c0"),
            "{err}"
        );
    }

    /// The merged calls are read from the spool, in plan order, as often as needed.
    #[test]
    fn merged_calls_are_spooled_and_read_again() {
        let one = shard(1, 2, &[("p/a", "c0", 0), ("p/a", "c2", 2)], (0, 1));
        let two = shard(2, 2, &[("p/a", "c1", 1)], (0, 1));
        let merged = merge(vec![one, two], None, &spool_dir()).expect("merge");
        assert!(merged.results.in_order());
        assert_eq!(order(&merged), order(&merged));
        assert_eq!(
            order(&merged),
            [
                "p/a:c0:0", "p/a:c0:1", "p/a:c1:0", "p/a:c1:1", "p/a:c2:0", "p/a:c2:1"
            ]
        );
    }

    #[test]
    fn positions_that_do_not_match_the_cases_are_refused() {
        let mut one = shard(1, 1, &[("p/a", "c0", 0), ("p/a", "c1", 1)], (0, 1));
        if let Some(shard) = &mut one.results.run.shard {
            shard.positions.pop();
        }
        let err = merge(vec![one], None, &spool_dir()).expect_err("positions");
        assert_eq!(
            err.to_string(),
            "shard-1.json lists 1 case positions in `run.shard.positions` but holds 2 cases"
        );
    }
}
