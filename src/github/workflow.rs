//! Talking to the Actions runner through files and workflow commands: the job summary
//! (`$GITHUB_STEP_SUMMARY`), step outputs (`$GITHUB_OUTPUT`) and annotations (`::error::`).
//!
//! Values written here may contain model output. Outputs use a random heredoc delimiter that the
//! value does not contain, so a value cannot end its block and set other outputs; annotation
//! text is escaped as the runner's command parser expects, so it cannot start a new command.

use std::io::Write;
use std::path::Path;

/// GitHub rejects a step summary over 1 MiB; stay a little below.
pub const SUMMARY_MAX_BYTES: usize = 1_000_000;
/// GitHub shows at most 10 annotations of each level per step; more are dropped silently, so we
/// emit the first 10 and say how many were left out.
pub const ANNOTATIONS_PER_LEVEL: usize = 10;

/// Appends markdown to the job summary, cut on a character boundary to fit GitHub's limit.
pub fn append_summary(path: &Path, markdown: &str) -> std::io::Result<()> {
    let existing = std::fs::metadata(path)
        .map(|m| m.len() as usize)
        .unwrap_or(0);
    let room = SUMMARY_MAX_BYTES.saturating_sub(existing);
    let mut text = markdown;
    let mut note = "";
    if text.len() + 1 > room {
        const CUT: &str = "\n\n*(cut to fit GitHub's job summary limit)*\n";
        let mut end = room.saturating_sub(CUT.len() + 1);
        while end > 0 && !text.is_char_boundary(end) {
            end -= 1;
        }
        text = &text[..end];
        note = CUT;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(note.as_bytes())?;
    file.write_all(b"\n")
}

/// Appends step outputs in the heredoc form `name<<DELIMITER`, one random delimiter per value
/// that does not occur in it.
pub fn set_outputs(path: &Path, outputs: &[(&str, String)]) -> std::io::Result<()> {
    let mut text = String::new();
    for (name, value) in outputs {
        let delimiter = loop {
            let candidate = format!("EVALGATE_EOF_{:016x}", fastrand::u64(..));
            if !value.contains(&candidate) {
                break candidate;
            }
        };
        text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

impl Level {
    fn command(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        }
    }
}

/// One annotation as a workflow command line: `::error title=T::message`.
pub fn annotation(level: Level, title: &str, message: &str) -> String {
    format!(
        "::{} title={}::{}",
        level.command(),
        escape_property(title),
        escape_data(message)
    )
}

/// Annotation lines for a list of (title, message), capped at [`ANNOTATIONS_PER_LEVEL`] with a
/// notice saying how many more there were.
pub fn annotations(level: Level, items: &[(String, String)]) -> Vec<String> {
    let mut lines: Vec<String> = items
        .iter()
        .take(ANNOTATIONS_PER_LEVEL)
        .map(|(title, message)| annotation(level, title, message))
        .collect();
    if items.len() > ANNOTATIONS_PER_LEVEL {
        lines.push(annotation(
            Level::Notice,
            "evalgate",
            &format!(
                "{} more not annotated; the job summary lists them all",
                items.len() - ANNOTATIONS_PER_LEVEL
            ),
        ));
    }
    lines
}

/// Escaping of a command's message, as the runner's parser undoes it.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escaping of a command property value (also `:` and `,`, which delimit properties).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_cannot_be_forged_by_a_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("output");
        let hostile = "42\nEVALGATE_EOF_0000000000000000\nverdict<<X\npass\nX".to_owned();
        set_outputs(
            &path,
            &[("pass_rate", hostile.clone()), ("verdict", "fail".into())],
        )
        .expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let parsed = parse_outputs(&text);
        assert_eq!(
            parsed,
            vec![
                ("pass_rate".to_owned(), hostile),
                ("verdict".to_owned(), "fail".to_owned())
            ]
        );
    }

    /// The runner's reading of the heredoc form.
    fn parse_outputs(text: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let (name, delimiter) = line.split_once("<<").expect("heredoc header");
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delimiter {
                    break;
                }
                value.push(l);
            }
            out.push((name.to_owned(), value.join("\n")));
        }
        out
    }

    #[test]
    fn annotation_text_cannot_start_a_new_command() {
        let line = annotation(
            Level::Error,
            "case a:b, c",
            "output was\n::set-output name=x::y\r\n100%",
        );
        assert_eq!(
            line,
            "::error title=case a%3Ab%2C c::output was%0A::set-output name=x::y%0D%0A100%25"
        );
        assert_eq!(line.lines().count(), 1);
    }

    #[test]
    fn annotations_are_capped_with_a_count() {
        let items: Vec<(String, String)> = (0..13)
            .map(|i| (format!("case {i}"), "regressed".to_owned()))
            .collect();
        let lines = annotations(Level::Error, &items);
        assert_eq!(lines.len(), ANNOTATIONS_PER_LEVEL + 1);
        assert!(lines[10].starts_with("::notice") && lines[10].contains("3 more"));
    }

    #[test]
    fn the_summary_is_cut_to_fit_and_appended() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("summary.md");
        append_summary(&path, "first").expect("write");
        append_summary(&path, &"é".repeat(SUMMARY_MAX_BYTES)).expect("write");
        let text = std::fs::read_to_string(&path).expect("valid UTF-8 after the cut");
        assert!(text.len() <= SUMMARY_MAX_BYTES, "{}", text.len());
        assert!(text.starts_with("first\n"));
        assert!(text.contains("cut to fit"));
    }
}
