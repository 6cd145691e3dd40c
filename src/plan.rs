//! The plan: which calls a run makes (cells × cases × repeats), in a fixed order, and the
//! fingerprints that say whether a cell's inputs changed.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::check::CheckSpec;
use crate::config::Suite;
use crate::support::fingerprint::{hash_canonical, hash_json};

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
    // Judge and embedding models grade this cell: changing one changes its results.
    let graders: Vec<ModelFields> = suite
        .models_called_by_checks()
        .iter()
        .zip(&suite.models)
        .filter(|(called, _)| **called)
        .map(|(_, m)| ModelFields::of(m, Some(&m.id)))
        .collect();
    // Files the suite names by path (a `schema_file`, a grading program, the script a command
    // model runs) determine results through their contents, not their names: an edited schema
    // must not let `ci` reuse the old results.
    let mut paths: Vec<&str> = Vec::new();
    spec_paths(&suite.check_specs, &mut paths);
    for &(di, ci) in cases {
        spec_paths(&suite.datasets[di].check_specs, &mut paths);
        spec_paths(&suite.datasets[di].cases[ci].check_specs, &mut paths);
    }
    paths.sort_unstable();
    paths.dedup();
    paths.extend(model.command.iter().flatten().map(String::as_str));
    let files = file_digests(suite, paths);
    hash_canonical(&CellFields {
        prompt: prompt
            .sources
            .iter()
            .map(|(r, s)| (r.as_str(), s))
            .collect(),
        model: ModelFields::of(model, None),
        checks: &suite.check_specs,
        cases: Cases(suite, cases),
        repeats,
        threshold: suite.defaults.threshold,
        tools: (!prompt.tools.is_empty()).then_some(ToolFields {
            tools: &prompt.tools,
            tool_choice: &prompt.tool_choice,
        }),
        graders,
        files,
    })
}

/// What a cell's fingerprint hashes, as canonical JSON (keys sorted: the fields of these structs
/// are declared in that order, which spares reordering them). The optional parts are left out
/// when empty, so suites without them keep their fingerprints.
#[derive(Serialize)]
struct CellFields<'a> {
    cases: Cases<'a>,
    checks: &'a [CheckSpec],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    files: BTreeMap<&'a str, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    graders: Vec<ModelFields<'a>>,
    model: ModelFields<'a>,
    prompt: Vec<(&'a str, &'a String)>,
    repeats: u32,
    threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<ToolFields<'a>>,
}

/// A model's settings that change its answers (not its rate limits or concurrency, which
/// change speed only); a grader also has its id.
#[derive(Serialize)]
struct ModelFields<'a> {
    base_url: &'a Option<String>,
    command: &'a Option<Vec<String>>,
    http: &'a Option<crate::provider::HttpSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    model: &'a str,
    params: &'a crate::provider::CallParams,
    provider: &'a str,
}

impl<'a> ModelFields<'a> {
    fn of(model: &'a crate::config::Model, id: Option<&'a str>) -> Self {
        ModelFields {
            id,
            provider: model.kind.as_str(),
            model: &model.model,
            base_url: &model.base_url,
            params: &model.params,
            http: &model.http,
            command: &model.command,
        }
    }
}

#[derive(Serialize)]
struct ToolFields<'a> {
    tool_choice: &'a Option<crate::provider::ToolChoice>,
    tools: &'a [crate::provider::ToolDef],
}

/// The cell's cases, written one after the other without a list of them in memory.
struct Cases<'a>(&'a Suite, &'a [(usize, usize)]);

impl Serialize for Cases<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Cases(suite, cases) = *self;
        serializer.collect_seq(cases.iter().map(|&(di, ci)| {
            let c = &suite.datasets[di].cases[ci];
            CaseFields {
                id: &c.id,
                vars: &c.vars,
                expected: &c.expected,
                tags: &c.tags,
                threshold: c.threshold,
                checks: &c.check_specs,
                dataset_checks: &suite.datasets[di].check_specs,
                messages: &c.messages,
            }
        }))
    }
}

#[derive(Serialize)]
struct CaseFields<'a> {
    checks: &'a [CheckSpec],
    dataset_checks: &'a [CheckSpec],
    expected: &'a Option<Value>,
    id: &'a str,
    /// Only when there is one, so cases without a conversation keep their fingerprints.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    messages: &'a [crate::provider::Message],
    tags: &'a [String],
    threshold: Option<f64>,
    vars: &'a serde_json::Map<String, Value>,
}

/// The paths a check names: its schema file and its grading program's arguments.
fn spec_paths<'a>(specs: &'a [crate::check::CheckSpec], out: &mut Vec<&'a str>) {
    for spec in specs {
        out.extend(spec.schema_file.as_deref());
        out.extend(spec.command.iter().flatten().map(String::as_str));
    }
}

/// The SHA-256 of each of `paths` that names a file relative to the suite's folder (program
/// names such as `python3` and flags name none and are skipped).
fn file_digests<'a>(
    suite: &Suite,
    paths: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<&'a str, String> {
    use sha2::Digest;
    paths
        .into_iter()
        .filter_map(|p| {
            let path = suite.dir_or_dot().join(p);
            if !path.is_file() {
                return None;
            }
            let bytes = std::fs::read(&path).ok()?;
            Some((p, hex::encode(sha2::Sha256::digest(&bytes))))
        })
        .collect()
}

/// How far into a prompt the providers' prompt caches look for a common prefix: OpenAI caches
/// prompts of 1,024 tokens and more by their prefix, Anthropic from 1,024 tokens on its smaller
/// models. A difference within the first 1,024 characters (about 256 tokens) is well inside it.
pub const PROMPT_CACHE_PREFIX_CHARS: usize = 1024;

/// Cases whose first message is rendered to tell a variable prefix; enough to see variation.
const PREFIX_SAMPLE: usize = 50;

/// Whether the cell's prompt puts variable text before static text, which defeats the
/// providers' prompt caches (they reuse a common *prefix*): its first message renders
/// differently between the cell's cases within its first [`PROMPT_CACHE_PREFIX_CHARS`]
/// characters, while a later message of the prompt renders the same for every case. Moving the
/// static message first (or the variable part to the end) lets calls share the cached prefix.
/// Needs two cases to tell; a template that fails to render says nothing.
pub fn variable_prefix(suite: &Suite, cell: &Cell) -> bool {
    let prompt = &suite.prompts[cell.prompt];
    if prompt.messages.len() < 2 || cell.cases.len() < 2 {
        return false;
    }
    let rendered: Vec<Vec<String>> = cell
        .cases
        .iter()
        .take(PREFIX_SAMPLE)
        .filter_map(|&(di, ci)| {
            let case = &suite.datasets[di].cases[ci];
            prompt
                .messages
                .iter()
                .map(|(_, template)| suite.templates.render(template, &case.ctx).ok())
                .collect()
        })
        .collect();
    let Some(first) = rendered.first() else {
        return false;
    };
    let head = |text: &str| -> String { text.chars().take(PROMPT_CACHE_PREFIX_CHARS).collect() };
    let varies_early = rendered.iter().any(|r| head(&r[0]) != head(&first[0]));
    let later_static =
        (1..prompt.messages.len()).any(|m| rendered.iter().all(|r| r[m] == first[m]));
    varies_early && later_static
}

/// One slice of a sharded run, as `--shard INDEX/COUNT` gives it: both count from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((index, count)) = s.split_once('/') else {
            return Err(format!("expected I/N, such as 1/3, not `{s}`"));
        };
        let number = |part: &str| {
            part.trim()
                .parse::<u32>()
                .map_err(|_| format!("expected I/N with whole numbers, such as 1/3, not `{s}`"))
        };
        let (index, count) = (number(index)?, number(count)?);
        if count == 0 {
            return Err("the shard count N must be at least 1".to_owned());
        }
        if index == 0 || index > count {
            return Err(format!(
                "the shard index must be between 1 and {count}, not {index}"
            ));
        }
        Ok(Shard { index, count })
    }
}

/// The shard (from 1 to `count`) a case belongs to. It depends only on the case's dataset and id,
/// never on its position or on the other cases, so adding or removing a case moves no other case
/// and every cell and repeat of a case lands in the same shard.
pub fn shard_of(dataset: &str, case_id: &str, count: u32) -> u32 {
    let hash = hash_json(&json!([dataset, case_id]));
    // The first 16 hex digits of a SHA-256 are uniform enough to split on.
    let head = u64::from_str_radix(hash.get(..16).unwrap_or("0"), 16).unwrap_or(0);
    let count = u64::from(count.max(1));
    // Lossless: the remainder is below `count`, a u32.
    (head % count) as u32 + 1
}

/// Keeps only the cases of `shard` in every cell. Cell and config fingerprints stay those of the
/// whole suite, so the shards of one suite can be recognised and merged.
pub fn keep_shard(plan: &mut Plan, suite: &Suite, shard: Shard) {
    for cell in &mut plan.cells {
        cell.cases.retain(|&(di, ci)| {
            let dataset = &suite.datasets[di];
            shard_of(&dataset.id, &dataset.cases[ci].id, shard.count) == shard.index
        });
    }
}

/// For each (cell, case) of the plan, in plan order, the case's position among all the suite's
/// cases (datasets in order, cases in file order). Within a cell cases run in that order, so
/// `evalgate merge` can restore the plan order of a whole run from its shards' files alone.
pub fn case_positions(suite: &Suite, plan: &Plan) -> Vec<u64> {
    let mut offsets = Vec::with_capacity(suite.datasets.len());
    let mut total = 0u64;
    for dataset in &suite.datasets {
        offsets.push(total);
        total += dataset.cases.len() as u64;
    }
    plan.cells
        .iter()
        .flat_map(|cell| cell.cases.iter())
        .map(|&(di, ci)| offsets[di] + ci as u64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fingerprints let `ci` reuse a baseline's cells: a change to how they are computed must
    /// not change them. Every optional part is here: tools, graders, files, a threshold, a
    /// case's conversation, dataset checks and case checks.
    #[test]
    fn fingerprints_stay_what_they_were() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text).expect("write");
        };
        write(
            "evalgate.toml",
            r#"[suite]
name = "fingerprints"

[defaults]
threshold = 0.5

[models.m]
provider = "openai-compatible"
base_url = "http://localhost:8080/v1"
model = "gemma"
temperature = 0.2

[models.judge]
provider = "openai-compatible"
base_url = "http://localhost:8080/v1"
model = "judge"
grader_only = true

[prompts.p]
system = "Use the tools."
user = "{{ q }}"
tool_choice = "auto"

[[prompts.p.tools]]
name = "get_weather"
description = "Weather"
parameters = { type = "object", properties = { city = { type = "string" } } }

[datasets.d]
file = "cases.jsonl"
checks = [{ type = "icontains", value = "{{ expected }}", metric = "accuracy" }]

[[checks]]
type = "json-schema"
schema_file = "schema.json"

[[checks]]
type = "llm-judge"
judge = "judge"
rubric = "Polite."
"#,
        );
        write(
            "cases.jsonl",
            r#"{"id": "a", "vars": {"q": "Weather?", "n": 1.5}, "expected": "sun", "tags": ["x"], "threshold": 0.8, "checks": [{"type": "length", "max": 9}]}
{"id": "b", "vars": {"q": "Umbrella?"}, "expected": "yes", "messages": [{"role": "user", "content": "Paris?"}, {"role": "assistant", "tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}]}, {"role": "tool", "tool_call_id": "call_1", "content": "18C"}]}
"#,
        );
        write("schema.json", r#"{"type": "object"}"#);
        let suite = crate::config::load(&dir.path().join("evalgate.toml")).expect("suite");
        let plan = plan(&suite, 3, &[]);
        let mut fingerprints: Vec<&str> =
            plan.cells.iter().map(|c| c.fingerprint.as_str()).collect();
        fingerprints.push(&plan.config_fingerprint);
        assert_eq!(
            fingerprints,
            [
                "53dfc5a28399d3813597b5f855cc1287460718fca25e0deb4fb0642fb887946b",
                "16663ce26a3c66cacae62ea086be796b7af6ec9468352578ff4d8ee0c20a1e23",
            ]
        );
        assert_eq!(shard_of("d", "a", 7), 4);
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("case-{i}")).collect()
    }

    #[test]
    fn editing_a_file_the_suite_names_changes_the_fingerprint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text).expect("write");
        };
        write(
            "evalgate.toml",
            r#"[suite]
name = "files"

[models.m]
provider = "command"
command = ["sh", "model.sh"]

[prompts.p]
user = "{{ q }}"

[datasets.d]
cases = [{ id = "a", vars = { q = "x" } }]

[[checks]]
type = "json-schema"
schema_file = "schema.json"
"#,
        );
        write("model.sh", "echo '{}'\n");
        write("schema.json", r#"{"type": "object"}"#);
        let fingerprint = || {
            let suite = crate::config::load(&dir.path().join("evalgate.toml")).expect("suite");
            plan(&suite, 1, &[]).cells[0].fingerprint.clone()
        };
        let before = fingerprint();
        assert_eq!(fingerprint(), before, "stable when nothing changes");
        write("schema.json", r#"{"type": "array"}"#);
        let after_schema = fingerprint();
        assert_ne!(after_schema, before);
        write("model.sh", "echo '[]'\n");
        assert_ne!(fingerprint(), after_schema);
    }

    fn prompt_cache_suite(system: &str, user: &str) -> (tempfile::TempDir, Suite) {
        let dir = tempfile::tempdir().expect("tempdir");
        let toml = format!(
            "[suite]\nname = \"s\"\n[models.m]\nprovider = \"command\"\ncommand = [\"cat\"]\n\
             [prompts.p]\nsystem = \"{system}\"\nuser = \"{user}\"\n\
             [datasets.d]\ncases = [{{ id = \"a\", question = \"What is 2 + 2?\" }}, \
             {{ id = \"b\", question = \"Who wrote Hamlet?\" }}]\n\
             [[checks]]\ntype = \"contains\"\nvalue = \"x\"\n"
        );
        std::fs::write(dir.path().join("evalgate.toml"), toml).expect("write");
        let suite = crate::config::load(&dir.path().join("evalgate.toml")).expect("suite");
        (dir, suite)
    }

    #[test]
    fn a_prompt_whose_first_message_varies_before_a_static_one_is_flagged() {
        // Static system first, the question last: the prefix is shared, no note.
        let (_dir, suite) = prompt_cache_suite("You answer trivia questions.", "{{ question }}");
        let planned = plan(&suite, 1, &[]);
        assert!(!variable_prefix(&suite, &planned.cells[0]));
        // The question first, in the system message, then a static instruction: flagged.
        let (_dir, suite) = prompt_cache_suite(
            "Question: {{ question }}. You answer trivia questions.",
            "Answer in one word.",
        );
        let planned = plan(&suite, 1, &[]);
        assert!(variable_prefix(&suite, &planned.cells[0]));
        // Everything variable: nothing static to move first, no note.
        let (_dir, suite) = prompt_cache_suite("{{ question }}", "{{ question }}?");
        let planned = plan(&suite, 1, &[]);
        assert!(!variable_prefix(&suite, &planned.cells[0]));
        // One case cannot vary.
        let (_dir, suite) = prompt_cache_suite("{{ question }}", "Answer.");
        let planned = plan(&suite, 1, &["/a".to_owned()]);
        assert!(!variable_prefix(&suite, &planned.cells[0]));
    }

    #[test]
    fn every_case_lands_in_exactly_one_shard_within_range() {
        for count in [1, 2, 3, 7] {
            for id in ids(200) {
                let shard = shard_of("d", &id, count);
                assert!((1..=count).contains(&shard), "{id} -> {shard}/{count}");
                let owners = (1..=count)
                    .filter(|&i| shard_of("d", &id, count) == i)
                    .count();
                assert_eq!(owners, 1);
            }
        }
    }

    #[test]
    fn adding_cases_moves_no_existing_case() {
        let before: Vec<u32> = ids(100).iter().map(|id| shard_of("d", id, 4)).collect();
        let more = ids(250);
        let after: Vec<u32> = more.iter().map(|id| shard_of("d", id, 4)).collect();
        assert_eq!(before, after[..100]);
    }

    #[test]
    fn the_dataset_is_part_of_the_key() {
        // The same id in two datasets is two cases; across many ids some must split.
        let differs = ids(100)
            .iter()
            .any(|id| shard_of("a", id, 3) != shard_of("b", id, 3));
        assert!(differs);
    }

    #[test]
    fn shards_are_roughly_balanced() {
        let mut sizes = [0u32; 3];
        for id in ids(3000) {
            sizes[(shard_of("d", &id, 3) - 1) as usize] += 1;
        }
        for size in sizes {
            assert!((900..=1100).contains(&size), "{sizes:?}");
        }
    }

    #[test]
    fn shard_argument_is_parsed_and_checked() {
        assert_eq!("2/3".parse(), Ok(Shard { index: 2, count: 3 }));
        assert_eq!("1/1".parse(), Ok(Shard { index: 1, count: 1 }));
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", "-1/3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
