//! The plan: which calls a run makes (cells × cases × repeats), in a fixed order, and the
//! fingerprints that say whether a cell's inputs changed.

use serde_json::{Value, json};

use crate::config::Suite;
use crate::fingerprint::hash_json;

/// One (prompt × model) pair and the cases it evaluates.
#[derive(Debug, Clone)]
pub struct Cell {
    /// `PROMPT/MODEL`.
    pub id: String,
    pub prompt: usize,
    pub model: usize,
    /// Hash of everything that determines this cell's results.
    pub fingerprint: String,
    /// (dataset index, case index) of each case, in dataset order.
    pub cases: Vec<(usize, usize)>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub cells: Vec<Cell>,
    pub repeats: u32,
    /// Hash of every cell's fingerprint.
    pub config_fingerprint: String,
}

impl Plan {
    pub fn calls(&self) -> usize {
        self.cells.iter().map(|c| c.cases.len()).sum::<usize>() * self.repeats as usize
    }
}

/// Builds the plan. `filters` keep a case when any of them is a substring of
/// `PROMPT/MODEL/CASE_ID` or equals one of the case's tags; no filter keeps everything.
pub fn plan(suite: &Suite, repeats: u32, filters: &[String]) -> Plan {
    let mut cells = Vec::new();
    for (pi, prompt) in suite.prompts.iter().enumerate() {
        for &mi in &prompt.models {
            let model = &suite.models[mi];
            let id = format!("{}/{}", prompt.id, model.id);
            let mut all = Vec::new();
            for (di, dataset) in suite.datasets.iter().enumerate() {
                if dataset.prompts.contains(&pi) {
                    all.extend((0..dataset.cases.len()).map(|ci| (di, ci)));
                }
            }
            let fingerprint = cell_fingerprint(suite, pi, mi, &all, repeats);
            let cases = all
                .into_iter()
                .filter(|&(di, ci)| {
                    let case = &suite.datasets[di].cases[ci];
                    filters.is_empty()
                        || filters.iter().any(|f| {
                            format!("{id}/{}", case.id).contains(f.as_str())
                                || case.tags.iter().any(|t| t == f)
                        })
                })
                .collect();
            cells.push(Cell {
                id,
                prompt: pi,
                model: mi,
                fingerprint,
                cases,
            });
        }
    }
    let config_fingerprint = hash_json(&Value::Array(
        cells.iter().map(|c| json!([c.id, c.fingerprint])).collect(),
    ));
    Plan {
        cells,
        repeats,
        config_fingerprint,
    }
}

/// Everything that can change a cell's results: the prompt's templates, the model and its call
/// settings (not its rate limits or concurrency, which change speed only), the checks, every case,
/// the repeats, the case threshold, and the settings of the models the checks call.
fn cell_fingerprint(
    suite: &Suite,
    pi: usize,
    mi: usize,
    cases: &[(usize, usize)],
    repeats: u32,
) -> String {
    let prompt = &suite.prompts[pi];
    let model = &suite.models[mi];
    let cases: Vec<Value> = cases
        .iter()
        .map(|&(di, ci)| {
            let c = &suite.datasets[di].cases[ci];
            json!({
                "id": c.id,
                "vars": c.vars,
                "expected": c.expected,
                "tags": c.tags,
                "threshold": c.threshold,
                "checks": c.check_specs,
                "dataset_checks": suite.datasets[di].check_specs,
            })
        })
        .collect();
    let mut fingerprint = json!({
        "prompt": prompt.sources.iter().map(|(r, s)| json!([r.as_str(), s])).collect::<Vec<_>>(),
        "model": {
            "provider": model.kind.as_str(),
            "model": model.model,
            "base_url": model.base_url,
            "params": model.params,
            "http": model.http,
            "command": model.command,
        },
        "checks": suite.check_specs,
        "cases": cases,
        "repeats": repeats,
        "threshold": suite.defaults.threshold,
    });
    // Judge and embedding models grade this cell: changing one changes its results. Added only
    // when there are some, so suites without model-graded checks keep their fingerprints.
    let graders: Vec<Value> = suite
        .models_called_by_checks()
        .iter()
        .zip(&suite.models)
        .filter(|(called, _)| **called)
        .map(|(_, m)| {
            json!({
                "id": m.id,
                "provider": m.kind.as_str(),
                "model": m.model,
                "base_url": m.base_url,
                "params": m.params,
                "http": m.http,
                "command": m.command,
            })
        })
        .collect();
    if !graders.is_empty()
        && let Value::Object(map) = &mut fingerprint
    {
        map.insert("graders".into(), Value::Array(graders));
    }
    hash_json(&fingerprint)
}
