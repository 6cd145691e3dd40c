//! Fuzz targets that stay: suite loading, dataset parsing, results reading and the three
//! renderers, fed inputs mutated from the seed corpus in `tests/fuzz/corpus/`.
//!
//! They are proptest runs over mutations rather than coverage-guided fuzzing (cargo-fuzz needs a
//! nightly toolchain), so they run on stable, in the ordinary test suite, a few dozen inputs each.
//! `.ci/run` gives each a time budget; `docs/fuzzing.md` says how to run them longer. What each
//! target asserts:
//!
//! - **suite files**: loading never panics, whatever the bytes; a suite that loads can be planned.
//! - **dataset files** (JSONL, CSV, JSON): the same.
//! - **results files**: reading never panics; a file that is read can be written and read back,
//!   and then rendered: the markdown is inert on GitHub's renderer, the JUnit validates against
//!   `junit-10.xsd` with consistent counts, the terminal summary holds no escape, carriage return
//!   or workflow command, and comparing the file with itself works. This is the property "for any
//!   results file evalgate writes, `report` and `compare` succeed", over every file it would read.
//!
//! A failing input is saved by proptest under `tests/fuzz/regressions/` (replayed first on every
//! later run) and gets a test of its own below.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use serde_json::Value;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz/corpus");

/// Text that tends to matter to the parsers and renderers, inserted whole by the mutations.
const DICTIONARY: &[&str] = &[
    "inf",
    "-inf",
    "nan",
    "1e308",
    "-1",
    "0",
    "99999999999999999999",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "=",
    ",",
    "\n",
    "\r\n",
    "\\",
    "\\u0000",
    "\u{feff}",
    "\u{1b}[31m",
    "::error::",
    "${X}",
    "{{",
    "}}",
    "{%",
    "null",
    "true",
    "\u{202e}",
    "é",
    "😀",
    "\0",
    "#",
    "..",
    "$.a[*]",
    "(",
    "*",
    "<![CDATA[",
    "]]>",
    "<details>",
    "@octocat",
];

/// One change to a byte string. Positions are taken modulo the length, so every edit applies.
#[derive(Debug, Clone)]
enum Edit {
    Byte { at: usize, byte: u8 },
    Insert { at: usize, token: usize },
    Delete { at: usize, len: usize },
    Repeat { at: usize, len: usize },
    Cut { at: usize },
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Byte { at, byte }),
        (any::<usize>(), 0..DICTIONARY.len()).prop_map(|(at, token)| Edit::Insert { at, token }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), 1usize..256).prop_map(|(at, len)| Edit::Repeat { at, len }),
        any::<usize>().prop_map(|at| Edit::Cut { at }),
    ];
    vec(edit, 1..6)
}

fn mutate(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for edit in edits {
        let at = |i: usize, out: &[u8]| i % (out.len() + 1);
        match *edit {
            Edit::Byte { at: i, byte } if !out.is_empty() => {
                let i = i % out.len();
                out[i] = byte;
            }
            Edit::Byte { .. } => {}
            Edit::Insert { at: i, token } => {
                let i = at(i, &out);
                out.splice(i..i, DICTIONARY[token].bytes());
            }
            Edit::Delete { at: i, len } => {
                let i = at(i, &out);
                let end = (i + len).min(out.len());
                out.drain(i..end);
            }
            Edit::Repeat { at: i, len } => {
                let i = at(i, &out);
                let end = (i + len).min(out.len());
                let piece = out[i..end].to_vec();
                out.splice(end..end, piece);
            }
            Edit::Cut { at: i } => {
                let i = at(i, &out);
                out.truncate(i);
            }
        }
    }
    out
}

/// The files of a corpus folder, sorted, with their contents.
fn seeds(folder: &str, extensions: &[&str]) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(CORPUS).join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("seed"))
        })
        .collect()
}

/// Runs `property` over `strategy` for `EVALGATE_FUZZ_CASES` inputs (default 32), in batches
/// with fresh random seeds until `EVALGATE_FUZZ_SECONDS` have passed when that is set. Failures
/// are saved to `tests/fuzz/regressions/NAME.txt` and replayed first next time.
fn fuzz<S: Strategy>(
    persistence: &'static str,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let number = |var: &str| std::env::var(var).ok().and_then(|v| v.parse::<u64>().ok());
    let cases = number("EVALGATE_FUZZ_CASES").unwrap_or(32) as u32;
    let until = number("EVALGATE_FUZZ_SECONDS").map(|s| Instant::now() + Duration::from_secs(s));
    loop {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(persistence))),
            max_shrink_time: 60_000,
            ..Config::default()
        });
        if let Err(e) = runner.run(&strategy, &property) {
            panic!("{e}");
        }
        if until.is_none_or(|t| Instant::now() >= t) {
            break;
        }
    }
}

/// Writes `bytes` as `name` in a copy of the corpus's suite folder, so the files a suite names
/// (prompts, datasets, schemas) are there.
fn suite_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&Path::new(CORPUS).join("suite"), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read corpus").flatten() {
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

/// Loads a suite; one that loads is planned too (the plan sizes every cell).
fn load_and_plan(path: &Path) {
    if let Ok(suite) = crate::config::load(path) {
        let plan = crate::plan::plan(&suite, suite.defaults.repeats, &[]);
        let _ = plan.calls();
    }
}

#[test]
fn suite_files_load_or_are_refused_never_panic() {
    let seeds = seeds("suite", &["toml"]);
    let folder = suite_folder();
    let path = folder.path().join("fuzzed.toml");
    fuzz(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fuzz/regressions/suite.txt"
        ),
        (0..seeds.len(), edits()),
        |(seed, edits)| {
            std::fs::write(&path, mutate(&seeds[seed].1, &edits)).expect("write");
            load_and_plan(&path);
            Ok(())
        },
    );
}

/// A suite whose one dataset is the fuzzed file.
fn dataset_suite(file: &str) -> String {
    format!(
        "[suite]\nname = \"d\"\n\n[models.m]\nprovider = \"command\"\ncommand = [\"cat\"]\n\n\
         [prompts.p]\nuser = \"{{{{ q }}}} {{{{ question }}}}\"\n\n[datasets.d]\nfile = \"{file}\"\n\n\
         [[checks]]\ntype = \"contains\"\nvalue = \"x\"\n"
    )
}

#[test]
fn dataset_files_load_or_are_refused_never_panic() {
    let seeds = seeds("dataset", &["jsonl", "csv", "json"]);
    let folder = tempfile::tempdir().expect("tempdir");
    fuzz(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fuzz/regressions/dataset.txt"
        ),
        (0..seeds.len(), edits()),
        |(seed, edits)| {
            let (name, bytes) = &seeds[seed];
            let ext = name.rsplit('.').next().unwrap_or("jsonl");
            let file = format!("data.{ext}");
            std::fs::write(folder.path().join(&file), mutate(bytes, &edits)).expect("write");
            let suite = folder.path().join("evalgate.toml");
            std::fs::write(&suite, dataset_suite(&file)).expect("write");
            load_and_plan(&suite);
            Ok(())
        },
    );
}

/// A value put in place of a part of a results file.
#[derive(Debug, Clone)]
enum Leaf {
    Text(String),
    Number(f64),
    Integer(i64),
    Bool(bool),
    Null,
    EmptyObject,
    EmptyArray,
}

impl Leaf {
    fn json(&self) -> Value {
        match self {
            Leaf::Text(s) => Value::String(s.clone()),
            Leaf::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
            Leaf::Integer(n) => Value::from(*n),
            Leaf::Bool(b) => Value::Bool(*b),
            Leaf::Null => Value::Null,
            Leaf::EmptyObject => Value::Object(Default::default()),
            Leaf::EmptyArray => Value::Array(Vec::new()),
        }
    }
}

fn leaf() -> impl Strategy<Value = Leaf> {
    let hostile = crate::test_helpers::hostile_texts();
    prop_oneof![
        4 => proptest::sample::select(hostile).prop_map(Leaf::Text),
        4 => any::<String>().prop_map(Leaf::Text),
        2 => proptest::sample::select(DICTIONARY).prop_map(|s| Leaf::Text(s.to_owned())),
        3 => prop_oneof![
            Just(0.0),
            Just(1.0),
            Just(0.5),
            Just(-1.0),
            Just(1e308),
            Just(-1e308),
            Just(f64::MIN_POSITIVE),
            0.0..=1.0f64,
        ]
        .prop_map(Leaf::Number),
        2 => any::<i64>().prop_map(Leaf::Integer),
        1 => any::<bool>().prop_map(Leaf::Bool),
        1 => Just(Leaf::Null),
        1 => Just(Leaf::EmptyObject),
        1 => Just(Leaf::EmptyArray),
    ]
}

/// One change to a parsed results file, at the node numbered `at` in document order.
#[derive(Debug, Clone)]
enum JsonEdit {
    Replace {
        at: usize,
        with: Leaf,
    },
    /// Replaces a string with another string, or a number with another number: the file stays
    /// the right shape and the change reaches the renderers.
    SameType {
        at: usize,
        with: Leaf,
    },
    Remove {
        at: usize,
    },
    RepeatElement {
        at: usize,
    },
}

fn json_edits() -> impl Strategy<Value = Vec<JsonEdit>> {
    let edit = prop_oneof![
        1 => (any::<usize>(), leaf()).prop_map(|(at, with)| JsonEdit::Replace { at, with }),
        6 => (any::<usize>(), leaf()).prop_map(|(at, with)| JsonEdit::SameType { at, with }),
        1 => any::<usize>().prop_map(|at| JsonEdit::Remove { at }),
        1 => any::<usize>().prop_map(|at| JsonEdit::RepeatElement { at }),
    ];
    vec(edit, 1..10)
}

/// JSON pointers of every node below the root, in document order.
fn pointers(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(v, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(v, &p, out);
            }
        }
        _ => {}
    }
}

fn apply_json(root: &mut Value, edits: &[JsonEdit]) {
    for edit in edits {
        let mut all = Vec::new();
        pointers(root, "", &mut all);
        if all.is_empty() {
            return;
        }
        let pick = |at: usize| all[at % all.len()].clone();
        match edit {
            JsonEdit::Replace { at, with } => {
                if let Some(v) = root.pointer_mut(&pick(*at)) {
                    *v = with.json();
                }
            }
            JsonEdit::SameType { at, with } => {
                // The nearest node from `at` on that `with` can replace without changing its
                // type: a string, a number of the same kind (an integer stays an integer,
                // unsigned stays unsigned), a boolean.
                let start = *at % all.len();
                for i in 0..all.len() {
                    let p = &all[(start + i) % all.len()];
                    if let Some(v) = root.pointer_mut(p)
                        && let Some(new) = same_type(v, with)
                    {
                        *v = new;
                        break;
                    }
                }
            }
            JsonEdit::Remove { at } => {
                let p = pick(*at);
                let (parent, key) = p.rsplit_once('/').expect("pointer");
                match root.pointer_mut(parent) {
                    Some(Value::Object(map)) => {
                        map.remove(&key.replace("~1", "/").replace("~0", "~"));
                    }
                    Some(Value::Array(items)) => {
                        if let Ok(i) = key.parse::<usize>()
                            && i < items.len()
                        {
                            items.remove(i);
                        }
                    }
                    _ => {}
                }
            }
            JsonEdit::RepeatElement { at } => {
                if let Some(Value::Array(items)) = root.pointer_mut(&pick(*at))
                    && let Some(first) = items.first().cloned()
                {
                    items.push(first);
                }
            }
        }
    }
}

/// `with` as a value of `old`'s type, if it can be one.
fn same_type(old: &Value, with: &Leaf) -> Option<Value> {
    match (old, with) {
        (Value::String(_), Leaf::Text(s)) => Some(Value::String(s.clone())),
        (Value::Bool(_), Leaf::Bool(b)) => Some(Value::Bool(*b)),
        (Value::Number(n), Leaf::Integer(i)) if n.is_u64() => Some(Value::from(i.unsigned_abs())),
        (Value::Number(n), Leaf::Integer(i)) if n.is_i64() => Some(Value::from(*i)),
        (Value::Number(n), Leaf::Number(f)) if n.is_f64() => {
            serde_json::Number::from_f64(*f).map(Value::Number)
        }
        _ => None,
    }
}

/// What the renderers and the comparison must do with any results file evalgate reads.
fn renders(path: &Path) -> Result<(), TestCaseError> {
    let Ok(results) = crate::results::file::read(path) else {
        return Ok(());
    };
    // Written and read back: the writer and the reader agree.
    let again = path.with_extension("again.json");
    crate::results::file::write(&again, &results).expect("write results");
    let results = crate::results::file::read(&again)
        .map_err(|e| TestCaseError::fail(format!("evalgate refuses what it wrote: {e}")))?;
    crate::report::markdown::tests::checked(&results, &crate::report::markdown::tests::opts());
    crate::report::junit::tests::checked(&results);
    let mut text = String::new();
    crate::report::terminal::write_summary(&mut text, &results, &Default::default())
        .expect("terminal summary");
    prop_assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
    prop_assert!(
        text.lines().all(|l| !l.trim_start().starts_with("::")),
        "{text}"
    );
    // The file compared with itself, as `evalgate compare` does, then rendered again.
    let gate = results.run.gate.clone().unwrap_or_default();
    let mut head = results.clone();
    crate::gate::apply_baseline(&mut head, &results, &gate, "fuzz").expect("calls just read");
    crate::report::markdown::tests::checked(&head, &crate::report::markdown::tests::opts());
    crate::report::junit::tests::checked(&head);
    Ok(())
}

#[test]
fn results_files_are_read_or_refused_and_what_is_read_renders() {
    let seeds: Vec<Value> = seeds("results", &["json"])
        .into_iter()
        .map(|(_, bytes)| serde_json::from_slice(&bytes).expect("seed results JSON"))
        .collect();
    let folder = tempfile::tempdir().expect("tempdir");
    let path = folder.path().join("results.json");
    fuzz(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fuzz/regressions/results.txt"
        ),
        (0..seeds.len(), json_edits()),
        |(seed, edits)| {
            let mut value = seeds[seed].clone();
            apply_json(&mut value, &edits);
            std::fs::write(&path, value.to_string()).expect("write");
            renders(&path)
        },
    );
}

#[test]
fn results_bytes_are_read_or_refused_never_panic() {
    let seeds = seeds("results", &["json"]);
    let folder = tempfile::tempdir().expect("tempdir");
    let path = folder.path().join("results.json");
    fuzz(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fuzz/regressions/results-bytes.txt"
        ),
        (0..seeds.len(), edits()),
        |(seed, edits)| {
            std::fs::write(&path, mutate(&seeds[seed].1, &edits)).expect("write");
            renders(&path)
        },
    );
}

#[test]
fn the_mutations_change_their_seed() {
    // The targets above mean nothing if the edits were no-ops.
    let seed = b"[suite]\nname = \"x\"\n";
    assert_eq!(
        mutate(seed, &[Edit::Insert { at: 0, token: 0 }]),
        b"inf[suite]\nname = \"x\"\n"
    );
    assert_eq!(mutate(seed, &[Edit::Cut { at: 7 }]), b"[suite]");
    let mut v = serde_json::json!({"a": "x", "b": [1, 2]});
    apply_json(
        &mut v,
        &[JsonEdit::SameType {
            at: 0,
            with: Leaf::Text("y".into()),
        }],
    );
    assert_eq!(v, serde_json::json!({"a": "y", "b": [1, 2]}));
    apply_json(&mut v, &[JsonEdit::RepeatElement { at: 1 }]);
    assert_eq!(v["b"], serde_json::json!([1, 2, 1]));
}

/// Found by `results_files_are_read_or_refused_and_what_is_read_renders`: a case id `'` is
/// written `&#39;` in a `<summary>`, which the inertness check read as an issue reference
/// (`#3`). GitHub decodes the entity before looking for references, and so does the check now.
#[test]
fn a_case_id_that_is_an_apostrophe_renders_inert() {
    let (_, seed) = seeds("results", &["json"])
        .into_iter()
        .find(|(name, _)| name == "quickstart.json")
        .expect("seed");
    let text = String::from_utf8(seed)
        .expect("UTF-8")
        .replace("\"capital-ch\"", "\"'\"");
    let folder = tempfile::tempdir().expect("tempdir");
    let path = folder.path().join("results.json");
    std::fs::write(&path, text).expect("write");
    let results = crate::results::file::read(&path).expect("read");
    let md =
        crate::report::markdown::tests::checked(&results, &crate::report::markdown::tests::opts());
    assert!(md.contains("· &#39;:"), "the case is listed: {md}");
    renders(&path).expect("renders");
}
