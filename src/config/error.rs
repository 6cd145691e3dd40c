//! Configuration errors: where (file, line, column or field path), what was expected, what to do.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a suite file or a file it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub location: Option<(usize, usize)>,
    /// The dotted path of the offending key (`models.mini.price`), when known.
    pub field: Option<String>,
    pub message: String,
    /// The offending source line with a caret under the span.
    pub snippet: Option<String>,
    pub help: Option<String>,
}

/// The longest message an error prints: messages quote values and other libraries' errors
/// (a regex error repeats its whole pattern), and an 80 KB line must not come back whole.
const MAX_MESSAGE_CHARS: usize = 1_000;

impl ConfigError {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        let message = message.into();
        ConfigError {
            file: file.to_owned(),
            location: None,
            field: None,
            message: crate::support::text::truncate(&message, MAX_MESSAGE_CHARS).into_owned(),
            snippet: None,
            help: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn at(mut self, line: usize, col: usize) -> Self {
        self.location = Some((line, col));
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Reads a text file the suite names (`what`: "the suite file", "dataset"...): an error
    /// says why, and for text that is not UTF-8, where.
    pub fn read_text(file: &Path, what: &str) -> Result<String, ConfigError> {
        use crate::support::fs::{NOT_UTF8_HELP, TextError};
        crate::support::fs::read_text(file).map_err(|e| match e {
            TextError::Io(io) => ConfigError::new(file, format!("cannot read {what}: {io}")),
            TextError::NotUtf8 { line, column, .. } => {
                ConfigError::new(file, format!("cannot read {what}: {e}"))
                    .at(line, column)
                    .help(NOT_UTF8_HELP)
            }
        })
    }

    /// Points the error at a byte span of `source`, adding line, column and a snippet.
    pub fn span(mut self, source: &str, span: std::ops::Range<usize>) -> Self {
        let (line, col) = line_col(source, span.start);
        self.location = Some((line, col));
        let text = source.lines().nth(line - 1).unwrap_or("");
        let width = source[span.start..span.end.min(source.len())]
            .lines()
            .next()
            .map_or(1, |s| s.chars().count().max(1));
        let (shown, caret_at, width) = window(text, col - 1, width);
        let gutter = line.to_string().len();
        self.snippet = Some(format!(
            "{:gutter$} |\n{line} | {shown}\n{:gutter$} | {}{}",
            "",
            "",
            " ".repeat(caret_at),
            "^".repeat(width),
        ));
        self
    }
}

/// Characters of a snippet line shown around the error: a generated file can hold a whole
/// dataset on one line, and the error should not print 80 KB of it.
const SNIPPET_CHARS: usize = 100;

/// `line` cut to about [`SNIPPET_CHARS`] around the character `at` (cuts marked `…`), with the
/// caret's new position and width.
fn window(line: &str, at: usize, width: usize) -> (String, usize, usize) {
    let count = line.chars().count();
    if count <= SNIPPET_CHARS {
        return (line.to_owned(), at, width);
    }
    let start = at
        .saturating_sub(SNIPPET_CHARS / 2)
        .min(count - SNIPPET_CHARS);
    let end = start + SNIPPET_CHARS;
    let mut shown = String::new();
    if start > 0 {
        shown.push('…');
    }
    shown.extend(line.chars().skip(start).take(SNIPPET_CHARS));
    if end < count {
        shown.push('…');
    }
    let caret_at = at - start + usize::from(start > 0);
    (shown, caret_at, width.min(end.saturating_sub(at)).max(1))
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = source[line_start..offset].chars().count() + 1;
    (line, col)
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.location {
            write!(f, ":{line}:{col}")?;
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "`{field}`: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(snippet) = &self.snippet {
            write!(f, "\n{snippet}")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found while loading a suite; loading goes on after a problem where it can, so
/// one `validate` run lists them all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, err) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n\n")?;
            }
            write!(f, "error: {err}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(err: ConfigError) -> Self {
        ConfigErrors(vec![err])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_message_is_cut() {
        let err = ConfigError::new(
            Path::new("s.toml"),
            format!("invalid regex: ({}", "x".repeat(80_000)),
        );
        assert_eq!(err.message.chars().count(), MAX_MESSAGE_CHARS);
        assert!(err.message.starts_with("invalid regex: (xxx") && err.message.ends_with('…'));
    }

    #[test]
    fn a_snippet_of_a_huge_line_is_a_window_around_the_error() {
        let line = format!("x = \"{}\" oops {}", "a".repeat(40_000), "b".repeat(40_000));
        let at = line.find("oops").expect("oops");
        let err = ConfigError::new(Path::new("s.toml"), "bad").span(&line, at..at + 4);
        let snippet = err.snippet.expect("snippet");
        assert!(snippet.len() < 400, "{} bytes", snippet.len());
        let lines: Vec<&str> = snippet.lines().collect();
        // The caret still sits under `oops`.
        let text = lines[1].split_once("| ").expect("gutter").1;
        let carets = lines[2].split_once("| ").expect("gutter").1;
        let col = carets.find('^').expect("caret");
        let chars: Vec<char> = text.chars().collect();
        assert_eq!(chars[col..col + 4].iter().collect::<String>(), "oops");
        assert_eq!(carets.trim(), "^^^^");
        assert!(text.starts_with('…') && text.ends_with('…'), "{text}");
    }

    #[test]
    fn line_col_counts_characters() {
        let src = "a = 1\nbé = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, src.find('=').map_or(0, |_| 10)), (2, 4));
    }

    #[test]
    fn display_has_location_field_snippet_and_help() {
        let src = "[defaults]\ntemprature = 0\n";
        let err = ConfigError::new(Path::new("evalgate.toml"), "unknown key `temprature`")
            .span(src, 11..21)
            .help("did you mean `temperature`?");
        let text = err.to_string();
        assert!(
            text.starts_with("evalgate.toml:2:1: unknown key `temprature`"),
            "{text}"
        );
        assert!(
            text.contains("2 | temprature = 0\n  | ^^^^^^^^^^"),
            "{text}"
        );
        assert!(
            text.ends_with("= help: did you mean `temperature`?"),
            "{text}"
        );
    }
}
