//! The one way results files are read and written: checked against the schema version on the
//! way in, written atomically on the way out.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use serde::Deserialize;
use serde_json::error::Category;

use super::calls::{CALLS_CLOSE, CALLS_OPEN};
use super::{CallResult, Calls, Results, SCHEMA_VERSION};

/// Why a results file could not be used. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ResultsFileError {
    #[error("cannot read the results file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path} is not an evalgate results file: it has no numeric `schema_version`")]
    NotResults { path: String },
    #[error(
        "{path} has results schema version {found}, but this evalgate reads version {SCHEMA_VERSION}"
    )]
    Schema { path: String, found: u64 },
    #[error("{path} is not a valid evalgate results file: {source}")]
    Invalid {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path} line {line} is not a call of an evalgate results file: {source}")]
    Line {
        path: String,
        line: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path} is not a consistent evalgate results file: {problem}")]
    Inconsistent { path: String, problem: String },
    #[error("{path} is a run of suite `{found}`, but {other} is a run of suite `{expected}`")]
    OtherSuite {
        path: String,
        found: String,
        other: String,
        expected: String,
    },
    #[error("cannot write the results file {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl ResultsFileError {
    /// What to do about it, where there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            ResultsFileError::Read { .. } => Some(
                "pass the results file that `evalgate run` wrote (by default .evalgate/results.json next to the suite file)",
            ),
            ResultsFileError::Schema { .. } => Some(
                "read it with the evalgate version that wrote it, or run the suite again with this one",
            ),
            ResultsFileError::OtherSuite { .. } => Some("compare two runs of the same suite"),
            _ => None,
        }
    }

    /// A results file that cannot be written is an infrastructure problem; one that cannot be
    /// read was named by the user.
    pub fn is_write(&self) -> bool {
        matches!(self, ResultsFileError::Write { .. })
    }
}

/// Reads and checks a results file: readable, JSON, of the current schema version, consistent.
///
/// The version is checked before the full parse, so a file from a newer evalgate says so instead
/// of failing on whichever field changed. A file in the line layout (see [`super::calls`]) is
/// checked one call at a time and its calls are left on disk; any other layout is read whole.
pub fn read(path: &Path) -> Result<Results, ResultsFileError> {
    let shown = path.display().to_string();
    let read_error = |source| ResultsFileError::Read {
        path: shown.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut first = String::new();
    reader.read_line(&mut first).map_err(read_error)?;
    let header = first.trim_end_matches(['\n', '\r']);
    if header.starts_with('{') && header.ends_with(CALLS_OPEN) {
        let mut results = parse(&format!("{header}{CALLS_CLOSE}"), &shown)?;
        let file = reader.get_ref().try_clone().map_err(read_error)?;
        let len = check_lines(&results, reader, path)?;
        results.results = Calls::in_file(file, path, first.len() as u64, len);
        return Ok(results);
    }
    drop(reader);
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    let results = parse(&text, &shown)?;
    let mut checker = Checker::new(&results, false);
    for call in results.results.iter() {
        checker
            .check(&*call?)
            .map_err(|problem| ResultsFileError::Inconsistent {
                path: shown.clone(),
                problem,
            })?;
    }
    Ok(results)
}

/// Parses a whole results document (or the header line made whole), version first.
fn parse(text: &str, shown: &str) -> Result<Results, ResultsFileError> {
    let shown = shown.to_owned();
    #[derive(Deserialize)]
    struct Version {
        #[serde(default)]
        schema_version: Option<serde_json::Value>,
    }
    if !text.trim_start().starts_with('{') {
        // Valid JSON of another shape (an array, a string) is not a results file either.
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => ResultsFileError::NotResults { path: shown },
            Err(source) => ResultsFileError::Json {
                path: shown,
                source,
            },
        });
    }
    let version = match serde_json::from_str::<Version>(text) {
        Ok(version) => version.schema_version.and_then(|v| v.as_u64()),
        Err(source) if matches!(source.classify(), Category::Syntax | Category::Eof) => {
            return Err(ResultsFileError::Json {
                path: shown,
                source,
            });
        }
        Err(_) => None,
    };
    match version {
        None => return Err(ResultsFileError::NotResults { path: shown }),
        Some(found) if found != u64::from(SCHEMA_VERSION) => {
            return Err(ResultsFileError::Schema { path: shown, found });
        }
        Some(_) => {}
    }
    serde_json::from_str(text).map_err(|source| ResultsFileError::Invalid {
        path: shown,
        source,
    })
}

/// Checks the call lines after the header, one at a time: each parses, and together they are
/// consistent (see [`Checker`]). Returns how many there are.
fn check_lines(
    results: &Results,
    mut reader: BufReader<std::fs::File>,
    path: &Path,
) -> Result<usize, ResultsFileError> {
    let shown = path.display().to_string();
    let inconsistent = |problem: String| ResultsFileError::Inconsistent {
        path: shown.clone(),
        problem,
    };
    let mut checker = Checker::new(results, true);
    let mut line = Vec::new();
    let mut number = 1u64;
    let mut count = 0usize;
    loop {
        line.clear();
        let read =
            reader
                .read_until(b'\n', &mut line)
                .map_err(|source| ResultsFileError::Read {
                    path: shown.clone(),
                    source,
                })?;
        number += 1;
        if read == 0 {
            return Err(inconsistent(format!(
                "it ends at line {number} without the `{CALLS_CLOSE}` that closes its calls: the file was cut short"
            )));
        }
        if super::calls::trim_call_line(&line) == CALLS_CLOSE.as_bytes() {
            break;
        }
        let call = super::calls::parse_call_line(&line, path, number)?;
        checker
            .check(&call)
            .map_err(|problem| inconsistent(format!("line {number}: {problem}")))?;
        count += 1;
    }
    let mut rest = Vec::new();
    reader
        .read_to_end(&mut rest)
        .map_err(|source| ResultsFileError::Read {
            path: shown.clone(),
            source,
        })?;
    if !rest.iter().all(u8::is_ascii_whitespace) {
        return Err(inconsistent(format!(
            "there is more after the `{CALLS_CLOSE}` that closes its calls on line {number}"
        )));
    }
    Ok(count)
}

/// What evalgate itself never writes, and the comparison and reports would silently count:
/// a row of a cell the file does not list, the same row twice, a score outside 0–1, a cost
/// below zero; and in the line layout, the repeats of a case or the cases of a cell apart from
/// each other (readers take a case's repeats, and a cell's cases, from adjacent lines).
struct Checker<'a> {
    cells: HashSet<&'a str>,
    index: usize,
    /// The line layout: repeats must be adjacent, and only the current case is remembered.
    adjacent: bool,
    current: Option<(String, String)>,
    repeats: HashSet<u32>,
    /// Cases already passed, as 128-bit hashes of (cell, case id).
    done: HashSet<u128>,
    /// Cells already passed.
    cells_done: HashSet<String>,
    /// Every (cell, case id, repeat), for a file read whole.
    seen: HashSet<(String, String, u32)>,
}

impl<'a> Checker<'a> {
    fn new(results: &'a Results, adjacent: bool) -> Self {
        Checker {
            cells: results.cells.iter().map(|c| c.id.as_str()).collect(),
            index: 0,
            adjacent,
            current: None,
            repeats: HashSet::new(),
            done: HashSet::new(),
            cells_done: HashSet::new(),
            seen: HashSet::new(),
        }
    }

    fn check(&mut self, call: &CallResult) -> Result<(), String> {
        use crate::support::text::one_line;
        let i = self.index;
        self.index += 1;
        let at = || {
            format!(
                "`results[{i}]` ({} {} repeat {})",
                one_line(&call.cell, 80),
                one_line(&call.case_id, 80),
                call.repeat
            )
        };
        if !self.cells.contains(call.cell.as_str()) {
            return Err(format!(
                "{}: its cell is not among the file's `cells`",
                at()
            ));
        }
        if self.adjacent {
            let same = self
                .current
                .as_ref()
                .is_some_and(|(cell, case)| *cell == call.cell && *case == call.case_id);
            if !same {
                if let Some((cell, case)) = self.current.take() {
                    self.done.insert(case_hash(&cell, &case));
                    if cell != call.cell {
                        self.cells_done.insert(cell);
                    }
                }
                if self.cells_done.contains(&call.cell) {
                    return Err(format!(
                        "{} is apart from the other cases of its cell (evalgate writes a cell's cases on adjacent lines)",
                        at()
                    ));
                }
                if self.done.contains(&case_hash(&call.cell, &call.case_id)) {
                    return Err(format!(
                        "{} is apart from the other repeats of its case (evalgate writes them on adjacent lines)",
                        at()
                    ));
                }
                self.current = Some((call.cell.clone(), call.case_id.clone()));
                self.repeats.clear();
            }
            if !self.repeats.insert(call.repeat) {
                return Err(format!("{} appears twice", at()));
            }
        } else if !self
            .seen
            .insert((call.cell.clone(), call.case_id.clone(), call.repeat))
        {
            return Err(format!("{} appears twice", at()));
        }
        let in_range = |v: f64| (0.0..=1.0).contains(&v);
        if !in_range(call.score) {
            return Err(format!("{}: score {} is outside 0 to 1", at(), call.score));
        }
        if let Some(check) = call.checks.iter().find(|c| !in_range(c.score)) {
            return Err(format!(
                "{}: check `{}` has score {}, outside 0 to 1",
                at(),
                one_line(&check.kind, 40),
                check.score
            ));
        }
        if !(call.cost_usd >= 0.0 && call.cost_usd.is_finite()) {
            return Err(format!(
                "{}: cost_usd {} is below zero",
                at(),
                call.cost_usd
            ));
        }
        Ok(())
    }
}

/// A 128-bit hash of a case's key: two fixed-key SipHashes, so no two cases of a file collide in
/// practice and the same file always checks the same way.
pub(crate) fn case_hash(cell: &str, case: &str) -> u128 {
    use std::hash::{Hash, Hasher};
    let half = |salt: u8| {
        let mut h = std::hash::DefaultHasher::new();
        salt.hash(&mut h);
        cell.hash(&mut h);
        case.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// Reads a baseline and checks it is a run of `suite`, the suite of `other` (the run it is to be
/// compared with, named in the error).
pub fn read_baseline(path: &Path, suite: &str, other: &Path) -> Result<Results, ResultsFileError> {
    let base = read(path)?;
    if base.run.suite != suite {
        return Err(ResultsFileError::OtherSuite {
            path: path.display().to_string(),
            found: base.run.suite,
            other: other.display().to_string(),
            expected: suite.to_owned(),
        });
    }
    Ok(base)
}

/// Writes the results file atomically (a reader never sees half a file), in the line layout
/// of [`super::calls`]: the header line, then one call per line.
pub fn write(path: &Path, results: &Results) -> Result<(), ResultsFileError> {
    let shown = path.display().to_string();
    let write_error = |source| ResultsFileError::Write {
        path: shown.clone(),
        source,
    };
    let fields = HeaderFields {
        schema_version: results.schema_version,
        run: &results.run,
        summary: &results.summary,
        metrics: &results.metrics,
        cells: &results.cells,
        verdict: &results.verdict,
        comparison: results.comparison.as_ref(),
    };
    let mut header = serde_json::to_vec(&fields).map_err(|e| write_error(e.into()))?;
    // `{…}` without its closing brace, then the calls' array opened.
    header.pop();
    header.push(b',');
    header.extend_from_slice(CALLS_OPEN.as_bytes());
    header.push(b'\n');
    let total = results.results.len();
    let mut copy_error = None;
    let written = crate::support::fs::write_atomic(path, |w| {
        w.write_all(&header)?;
        let mut written = 0usize;
        let copied = results.results.write_json_lines(path, |line| {
            w.write_all(line)?;
            written += 1;
            w.write_all(if written < total { b",\n" } else { b"\n" })
        });
        if let Err(e) = copied {
            copy_error = Some(e);
            return Err(std::io::Error::other("the calls could not be copied"));
        }
        w.write_all(CALLS_CLOSE.as_bytes())?;
        w.write_all(b"\n")
    });
    match (written, copy_error) {
        (_, Some(error)) => Err(error),
        (Err(source), None) => Err(write_error(source)),
        (Ok(()), None) => Ok(()),
    }
}

/// A results file without its calls: the fields of [`Results`] in the same order, `results`
/// left out. What the first line of the line layout holds.
#[derive(serde::Serialize)]
struct HeaderFields<'a> {
    schema_version: u32,
    run: &'a super::RunInfo,
    summary: &'a super::Summary,
    metrics: &'a std::collections::BTreeMap<String, super::MetricSummary>,
    cells: &'a [super::CellSummary],
    verdict: &'a super::Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    comparison: Option<&'a super::Comparison>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Result<Results, ResultsFileError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.json");
        std::fs::write(&path, text).expect("write");
        read(&path)
    }

    #[test]
    fn each_kind_of_bad_file_gets_its_own_error() {
        assert!(matches!(
            read(Path::new("/nonexistent/r.json")),
            Err(ResultsFileError::Read { .. })
        ));
        assert!(matches!(
            read_text("{\"schema_version\": 1,"),
            Err(ResultsFileError::Json { .. })
        ));
        assert!(matches!(
            read_text("{\"name\": \"x\"}"),
            Err(ResultsFileError::NotResults { .. })
        ));
        assert!(matches!(
            read_text("[1, 2]"),
            Err(ResultsFileError::NotResults { .. })
        ));
        assert!(matches!(
            read_text("{\"schema_version\": 99}"),
            Err(ResultsFileError::Schema { found: 99, .. })
        ));
        assert!(matches!(
            read_text("{\"schema_version\": 1}"),
            Err(ResultsFileError::Invalid { .. })
        ));
    }

    fn write_text(dir: &Path, text: &str) -> std::path::PathBuf {
        let path = dir.join("r.json");
        std::fs::write(&path, text).expect("write");
        path
    }

    /// The file is one JSON document, the same a pretty-printed writer would give, laid out as a
    /// header line and one line per call; reading it leaves the calls on disk and reads them
    /// back as they were.
    #[test]
    fn the_file_is_one_document_with_a_call_per_line_and_its_calls_stay_on_disk() {
        let results = crate::test_helpers::flaky();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("results.json");
        write(&path, &results).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let whole: serde_json::Value = serde_json::from_str(&text).expect("one JSON document");
        assert_eq!(whole, serde_json::to_value(&results).expect("json"));
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("{\"schema_version\":1,"),
            "{}",
            lines[0]
        );
        assert!(lines[0].ends_with(CALLS_OPEN), "{}", lines[0]);
        assert_eq!(lines.len(), results.results.len() + 2);
        assert_eq!(*lines.last().expect("lines"), CALLS_CLOSE);
        for (line, call) in lines[1..lines.len() - 1]
            .iter()
            .zip(results.results.to_vec())
        {
            let back: CallResult =
                serde_json::from_str(line.trim_end_matches(',')).expect("a call a line");
            assert_eq!(back, call);
        }

        let back = read(&path).expect("read");
        assert!(back.results.in_order(), "the calls are read from the file");
        assert_eq!(back, results);
        // Written again from the file, byte for byte.
        let again = dir.path().join("again.json");
        write(&again, &back).expect("write again");
        assert_eq!(std::fs::read_to_string(&again).expect("read"), text);
    }

    /// Calls read from a file stay those of the file that was read, even once another results
    /// file is written over it (`compare --results` onto its head file, whose header grows).
    #[test]
    fn calls_survive_a_results_file_written_over_theirs() {
        let results = crate::test_helpers::flaky();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("results.json");
        write(&path, &results).expect("write");
        let mut read_back = read(&path).expect("read");
        read_back.comparison = crate::test_helpers::pass().comparison;
        read_back
            .verdict
            .reasons
            .push("a much longer header line than before".repeat(20));
        write(&path, &read_back).expect("write over");
        assert_eq!(read_back.results.to_vec(), results.results.to_vec());
        assert_eq!(read(&path).expect("read again"), read_back);
    }

    /// Files in any other layout of the same document (an older evalgate's pretty print, `jq`)
    /// are read whole, and a run without calls is written and read too.
    #[test]
    fn other_layouts_and_empty_runs_read() {
        let results = crate::test_helpers::pass();
        let dir = tempfile::tempdir().expect("tempdir");
        let pretty = serde_json::to_string_pretty(&results).expect("json");
        let back = read(&write_text(dir.path(), &pretty)).expect("pretty");
        assert!(!back.results.in_order(), "read whole");
        assert_eq!(back, results);
        let compact = serde_json::to_string(&results).expect("json");
        assert_eq!(
            read(&write_text(dir.path(), &compact)).expect("compact"),
            results
        );

        let mut empty = results.clone();
        empty.results = Vec::new().into();
        let path = dir.path().join("empty.json");
        write(&path, &empty).expect("write");
        assert!(
            std::fs::read_to_string(&path)
                .expect("read")
                .ends_with("\"results\":[\n]}\n")
        );
        assert_eq!(read(&path).expect("read"), empty);
    }

    /// A cut-short file, a broken call line, something after the end and the repeats of a case
    /// apart each get an error naming the file and, where there is one, the line.
    #[test]
    fn broken_line_files_say_where() {
        let results = crate::test_helpers::flaky();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("results.json");
        write(&path, &results).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        let message = |text: &str| match read(&write_text(dir.path(), text)) {
            Ok(_) => panic!("read {text}"),
            Err(e) => e.to_string(),
        };

        let cut = lines[..lines.len() - 1].join("\n");
        assert!(message(&cut).contains("cut short"), "{}", message(&cut));

        let mut broken = lines.clone();
        broken[2] = "{\"cell\": oops},";
        let e = message(&broken.join("\n"));
        assert!(e.contains("r.json line 3 is not a call"), "{e}");

        let after = format!("{text}{{\"more\": 1}}\n");
        assert!(
            message(&after).contains("more after"),
            "{}",
            message(&after)
        );

        // flaky() has case `c1` with repeats on lines 2 and 3: move one of them last.
        let mut apart: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        let moved = apart.remove(1).trim_end_matches(',').to_owned();
        let last = apart.len() - 2;
        apart[last] = format!("{},", apart[last].trim_end_matches(','));
        apart.insert(last + 1, moved);
        let e = message(&apart.join("\n"));
        assert!(e.contains("apart from the other repeats"), "{e}");

        // A cell whose cases are not together: `a/m` c1, `b/m` c1, then `a/m` c2.
        use crate::test_helpers::call;
        let cells = crate::test_helpers::results(
            vec![
                call("a/m", "c1", 0, true),
                call("b/m", "c1", 0, true),
                call("a/m", "c2", 0, true),
            ],
            Vec::new(),
            None,
        );
        write(&path, &cells).expect("write");
        let e = match read(&path) {
            Ok(_) => panic!("read a cell apart"),
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains("line 4") && e.contains("other cases of its cell"),
            "{e}"
        );
    }

    #[test]
    fn written_results_read_back_equal() {
        let results = crate::test_helpers::pass();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out/results.json");
        write(&path, &results).expect("write");
        assert_eq!(read(&path).expect("read"), results);
    }

    /// Tool calls are written beside the output and read back as they were, a call whose
    /// arguments were not JSON included; a file without them (every older file) reads too.
    #[test]
    fn tool_calls_round_trip_and_are_optional() {
        use crate::provider::ToolCall;
        let mut results = crate::test_helpers::pass();
        let plain = serde_json::to_string(&results).expect("json");
        assert!(!plain.contains("tool_calls"), "absent when there are none");
        results.results.to_mut()[0].output = Some(String::new());
        results.results.to_mut()[0].tool_calls = vec![
            ToolCall {
                id: Some("call_1".into()),
                name: "get_weather".into(),
                arguments: serde_json::json!({"city": "Paris"}),
                raw_arguments: None,
            },
            ToolCall::from_json_text(None, "get_time".into(), "{\"tz\":"),
        ];
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("results.json");
        write(&path, &results).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let json: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            json["results"][0]["tool_calls"],
            serde_json::json!([
                {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}},
                {"name": "get_time", "arguments": null, "raw_arguments": "{\"tz\":"}
            ])
        );
        let back = read(&path).expect("read");
        assert_eq!(back, results);
        assert_eq!(
            back.results.to_vec()[0].shown_output().as_deref(),
            Some(
                "get_weather({\"city\":\"Paris\"})\nget_time({\"tz\":) [arguments are not valid JSON]"
            )
        );
    }
}
