//! `evalgate import`: turns a suite written for another eval tool (promptfoo, OpenAI evals) into
//! an evalgate suite — the suite file, prompt files and a dataset — and lists, item by item, what
//! it could not carry over and why. It writes nothing over an existing file.

pub mod openai_evals;
pub mod promptfoo;

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One file of the imported suite, relative to the output folder (`/`-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    pub path: String,
    pub content: String,
}

/// Whether an item was left out or carried over with a difference worth knowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    /// Left out of the suite: the source item has no evalgate equivalent.
    NotMapped,
    /// Carried over, with a difference or a choice the user should review.
    Note,
}

/// What the import says about one item of the source (`tests[2].assert[0]`, `providers[1]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    pub item: String,
    pub message: String,
}

/// The result of an import: the files to write and what the user should know about them.
#[derive(Debug, Default)]
pub struct Imported {
    pub files: Vec<OutFile>,
    pub findings: Vec<Finding>,
}

impl Imported {
    pub fn not_mapped(&mut self, item: impl Into<String>, message: impl Into<String>) {
        self.findings.push(Finding {
            kind: FindingKind::NotMapped,
            item: item.into(),
            message: message.into(),
        });
    }

    pub fn note(&mut self, item: impl Into<String>, message: impl Into<String>) {
        self.findings.push(Finding {
            kind: FindingKind::Note,
            item: item.into(),
            message: message.into(),
        });
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: `{field}`: {message}", path.display())]
    Shape {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("{}: nothing to import: {message}", path.display())]
    Empty { path: PathBuf, message: String },
    #[error("refusing to overwrite {}; nothing was written", list(paths))]
    Exists { paths: Vec<PathBuf> },
    #[error("cannot write {}: {source}; nothing was written", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl ImportError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            ImportError::Read { .. } => Some("pass the path of the file to import"),
            ImportError::Syntax { .. } => Some("fix the file so that its own tool accepts it"),
            ImportError::Shape { .. } | ImportError::Empty { .. } => {
                Some("docs/importing.md lists the shapes each importer reads")
            }
            ImportError::Exists { .. } => {
                Some("import into an empty folder with --out DIR, or move those files away")
            }
            ImportError::Write { .. } => None,
        }
    }

    /// A failure of the disk rather than of the input.
    pub fn is_write(&self) -> bool {
        matches!(self, ImportError::Write { .. })
    }
}

pub(crate) fn read(path: &Path) -> Result<String, ImportError> {
    std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes every file under `dir`, or none: all targets are checked first, and a failure midway
/// takes back what was written.
pub fn write_all(dir: &Path, files: &[OutFile]) -> Result<Vec<PathBuf>, ImportError> {
    let targets: Vec<PathBuf> = files.iter().map(|f| dir.join(&f.path)).collect();
    let existing: Vec<PathBuf> = targets
        .iter()
        .filter(|p| p.symlink_metadata().is_ok())
        .cloned()
        .collect();
    if !existing.is_empty() {
        return Err(ImportError::Exists { paths: existing });
    }
    let mut created_dirs: Vec<PathBuf> = Vec::new();
    let mut written: Vec<PathBuf> = Vec::new();
    let undo = |written: &[PathBuf], dirs: &[PathBuf]| {
        for f in written.iter().rev() {
            let _ = std::fs::remove_file(f);
        }
        for d in dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    };
    for (file, path) in files.iter().zip(&targets) {
        if let Some(parent) = path.parent() {
            let mut missing = Vec::new();
            let mut p = Some(parent.to_path_buf());
            while let Some(d) = p.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
                p = d.parent().map(Path::to_path_buf);
                missing.push(d);
            }
            for d in missing.into_iter().rev() {
                if let Err(source) = std::fs::create_dir(&d) {
                    undo(&written, &created_dirs);
                    return Err(ImportError::Write { path: d, source });
                }
                created_dirs.push(d);
            }
        }
        let result = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|mut f| f.write_all(file.content.as_bytes()));
        if let Err(source) = result {
            undo(&written, &created_dirs);
            return Err(match source.kind() {
                io::ErrorKind::AlreadyExists => ImportError::Exists {
                    paths: vec![path.clone()],
                },
                _ => ImportError::Write {
                    path: path.clone(),
                    source,
                },
            });
        }
        written.push(path.clone());
    }
    Ok(targets)
}

/// An id made of what `[models.ID]`, `[prompts.ID]` and `[datasets.ID]` accept (ASCII letters,
/// digits, `_`, `-`), unique among `taken`, which it joins.
pub(crate) fn unique_id(wanted: &str, fallback: &str, taken: &mut Vec<String>) -> String {
    let mut base: String = wanted
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    base = base.trim_matches('-').to_owned();
    while base.contains("--") {
        base = base.replace("--", "-");
    }
    if base.is_empty() {
        base = fallback.to_owned();
    }
    let mut id = base.clone();
    let mut n = 2;
    while taken.contains(&id) {
        id = format!("{base}-{n}");
        n += 1;
    }
    taken.push(id.clone());
    id
}

/// A JSON value as an inline TOML value, or why it has none (TOML has no `null`).
pub(crate) fn toml_inline(value: &Value) -> Result<String, String> {
    Ok(to_toml(value)?.to_string())
}

/// Tables keep `type`, `role` and `id` first, so a check reads `{ type = "contains", ... }`.
fn to_toml(value: &Value) -> Result<toml::Value, String> {
    Ok(match value {
        Value::Object(map) => {
            let mut table = toml::Table::new();
            let first = ["type", "role", "id"];
            for key in first.iter().filter(|k| map.contains_key(**k)) {
                table.insert((*key).to_owned(), to_toml(&map[*key])?);
            }
            for (key, v) in map.iter().filter(|(k, _)| !first.contains(&k.as_str())) {
                table.insert(key.clone(), to_toml(v)?);
            }
            toml::Value::Table(table)
        }
        Value::Array(items) => {
            toml::Value::Array(items.iter().map(to_toml).collect::<Result<_, _>>()?)
        }
        other => toml::Value::try_from(other).map_err(|e| e.to_string())?,
    })
}

/// A `[TABLE]` section with one `key = value` line per field, in order.
pub(crate) fn toml_section(out: &mut String, header: &str, fields: &[(&str, Value)]) {
    out.push_str(&format!("\n[{header}]\n"));
    for (key, value) in fields {
        // Every value written here comes from JSON without nulls (the callers leave them out);
        // a value TOML cannot hold is written as a comment so the file still parses.
        match toml_inline(value) {
            Ok(text) => out.push_str(&format!("{key} = {text}\n")),
            Err(e) => out.push_str(&format!("# {key}: not written ({e})\n")),
        }
    }
}

/// Whether a prompt file line would be read as a role line by evalgate's prompt file format.
pub(crate) fn is_role_line(line: &str) -> bool {
    matches!(line.trim_end(), "system:" | "user:" | "assistant:")
}

/// The summary of an import, for the terminal.
pub fn summary(dir: &Path, imported: &Imported, written: &[PathBuf]) -> String {
    let mut text = format!("wrote {} files in {}:\n", written.len(), dir.display());
    for file in &imported.files {
        text.push_str(&format!("  {}\n", file.path));
    }
    for (kind, title) in [
        (FindingKind::NotMapped, "not mapped"),
        (FindingKind::Note, "review"),
    ] {
        let items: Vec<&Finding> = imported
            .findings
            .iter()
            .filter(|f| f.kind == kind)
            .collect();
        if items.is_empty() {
            continue;
        }
        text.push_str(&format!("{title} ({}):\n", items.len()));
        for f in items {
            text.push_str(&format!("  - {}: {}\n", f.item, f.message));
        }
    }
    text.push_str(&format!(
        "next: evalgate validate -c {}\n",
        dir.join("evalgate.toml").display()
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sanitised_and_unique() {
        let mut taken = Vec::new();
        assert_eq!(unique_id("gpt-4.1-mini", "m", &mut taken), "gpt-4-1-mini");
        assert_eq!(unique_id("gpt-4.1-mini", "m", &mut taken), "gpt-4-1-mini-2");
        assert_eq!(unique_id("::", "model", &mut taken), "model");
    }

    #[test]
    fn write_all_refuses_any_existing_file_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("evalgate.toml"), "x").expect("write");
        let files = [
            OutFile {
                path: "prompts/a.txt".into(),
                content: "a".into(),
            },
            OutFile {
                path: "evalgate.toml".into(),
                content: "b".into(),
            },
        ];
        let err = write_all(dir.path(), &files).expect_err("refused");
        assert!(matches!(err, ImportError::Exists { .. }), "{err}");
        assert!(!dir.path().join("prompts").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("evalgate.toml")).expect("read"),
            "x"
        );
    }
}
