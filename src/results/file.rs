//! The one way results files are read and written: checked against the schema version on the
//! way in, written atomically on the way out.

use std::path::Path;

use serde::Deserialize;
use serde_json::error::Category;

use super::{Results, SCHEMA_VERSION};

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

/// Reads and checks a results file: readable, JSON, of the current schema version.
///
/// The version is checked before the full parse, so a file from a newer evalgate says so instead
/// of failing on whichever field changed.
pub fn read(path: &Path) -> Result<Results, ResultsFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ResultsFileError::Read {
        path: shown.clone(),
        source,
    })?;
    #[derive(Deserialize)]
    struct Version {
        #[serde(default)]
        schema_version: Option<serde_json::Value>,
    }
    if !text.trim_start().starts_with('{') {
        // Valid JSON of another shape (an array, a string) is not a results file either.
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(&text) {
            Ok(_) => ResultsFileError::NotResults { path: shown },
            Err(source) => ResultsFileError::Json {
                path: shown,
                source,
            },
        });
    }
    let version = match serde_json::from_str::<Version>(&text) {
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
    let results: Results =
        serde_json::from_str(&text).map_err(|source| ResultsFileError::Invalid {
            path: shown.clone(),
            source,
        })?;
    consistent(&results).map_err(|problem| ResultsFileError::Inconsistent {
        path: shown,
        problem,
    })?;
    Ok(results)
}

/// What evalgate itself never writes, and the comparison and reports would silently count:
/// a row of a cell the file does not list, the same row twice, a score outside 0–1, a cost
/// below zero.
fn consistent(results: &Results) -> Result<(), String> {
    use crate::support::text::one_line;
    let cells: std::collections::HashSet<&str> =
        results.cells.iter().map(|c| c.id.as_str()).collect();
    let mut seen = std::collections::HashSet::new();
    let in_range = |v: f64| (0.0..=1.0).contains(&v);
    for (i, call) in results.results.iter().enumerate() {
        let at = || {
            format!(
                "`results[{i}]` ({} {} repeat {})",
                one_line(&call.cell, 80),
                one_line(&call.case_id, 80),
                call.repeat
            )
        };
        if !cells.contains(call.cell.as_str()) {
            return Err(format!(
                "{}: its cell is not among the file's `cells`",
                at()
            ));
        }
        if !seen.insert((call.cell.as_str(), call.case_id.as_str(), call.repeat)) {
            return Err(format!("{} appears twice", at()));
        }
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
    }
    Ok(())
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

/// Writes the results file atomically: a reader never sees half a file.
pub fn write(path: &Path, results: &Results) -> Result<(), ResultsFileError> {
    crate::support::fs::write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, results)?;
        std::io::Write::write_all(w, b"\n")
    })
    .map_err(|source| ResultsFileError::Write {
        path: path.display().to_string(),
        source,
    })
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
        results.results[0].output = Some(String::new());
        results.results[0].tool_calls = vec![
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
            back.results[0].shown_output().as_deref(),
            Some(
                "get_weather({\"city\":\"Paris\"})\nget_time({\"tz\":) [arguments are not valid JSON]"
            )
        );
    }
}
