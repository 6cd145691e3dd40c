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

impl ConfigError {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_owned(),
            location: None,
            field: None,
            message: message.into(),
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

    /// Points the error at a byte span of `source`, adding line, column and a snippet.
    pub fn span(mut self, source: &str, span: std::ops::Range<usize>) -> Self {
        let (line, col) = line_col(source, span.start);
        self.location = Some((line, col));
        let text = source.lines().nth(line - 1).unwrap_or("");
        let width = source[span.start..span.end.min(source.len())]
            .lines()
            .next()
            .map_or(1, |s| s.chars().count().max(1));
        let gutter = line.to_string().len();
        self.snippet = Some(format!(
            "{:gutter$} |\n{line} | {text}\n{:gutter$} | {}{}",
            "",
            "",
            " ".repeat(col - 1),
            "^".repeat(width),
        ));
        self
    }
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
