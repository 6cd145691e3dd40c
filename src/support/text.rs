//! Untrusted text (model output, check reasons, provider errors) made safe for a terminal or a
//! CI log, and cut to length.

use std::borrow::Cow;

/// Makes untrusted text (model output, check reasons, provider errors) safe to write to a
/// terminal or a CI log.
///
/// - ANSI escape sequences (CSI, OSC, DCS and the like, 7- and 8-bit) are removed whole, so
///   output cannot recolour, retitle or clear the reader's terminal.
/// - Other control characters are removed, except `\n` and `\t`; `\r` is removed too because log
///   readers treat a lone `\r` as a line break and terminals use it to overwrite a line.
///   Bidirectional overrides and zero-width characters are removed (they hide what a line says),
///   and U+2028/U+2029 become spaces.
/// - GitHub workflow commands are neutralised: the runner executes a line whose first
///   non-blank characters are `::` and, in the legacy syntax, any line containing `##[`. A
///   leading `::` becomes `: :` and every `##[` becomes `# #[`: a visible, deliberately simple
///   change a reader still understands, with no invisible characters that could be stripped
///   again downstream.
///
/// Nothing is truncated here (see [`truncate`]); text that needs no change is borrowed.
pub fn sanitize_for_log(s: &str) -> Cow<'_, str> {
    if !needs_sanitizing(s) {
        return Cow::Borrowed(s);
    }
    let stripped = strip_controls(s);
    let mut out = String::with_capacity(stripped.len() + 8);
    for (i, line) in stripped.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        out.push_str(indent);
        match body.strip_prefix("::") {
            Some(rest) => {
                out.push_str(": :");
                out.push_str(&rest.replace("##[", "# #["));
            }
            None => out.push_str(&body.replace("##[", "# #[")),
        }
    }
    Cow::Owned(out)
}

/// Cuts `s` to at most `max` characters, marking the cut with `…`.
pub fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((end, _)) => {
            let keep = s[..end]
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(end, |(i, _)| i);
            Cow::Owned(format!("{}…", &s[..keep]))
        }
    }
}

fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

fn needs_sanitizing(s: &str) -> bool {
    s.contains("##[")
        || s.chars().any(|c| {
            (c.is_control() && c != '\n' && c != '\t')
                || is_invisible(c)
                || matches!(c, '\u{2028}' | '\u{2029}')
        })
        || s.split('\n')
            .any(|line| line.trim_start().starts_with("::"))
}

/// Removes escape sequences and control and invisible characters (see [`sanitize_for_log`]).
fn strip_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // A two-character escape (or a lone ESC at the end): both dropped.
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' | '\t' => out.push(c),
            '\u{2028}' | '\u{2029}' => out.push(' '),
            c if c.is_control() || is_invisible(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Skips a CSI sequence's parameters through its final byte (`@` to `~`).
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('@'..='~').contains(&c) {
            break;
        }
    }
}

/// Skips an OSC/DCS/SOS/PM/APC payload through its terminator (BEL, ESC `\` or 8-bit ST).
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\x07' | '\u{9c}' => break,
            '\x1b' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

/// Untrusted text as one safe line of at most `max` characters: sanitised (see
/// [`sanitize_for_log`]), trimmed, line breaks shown as ` ⏎ `, tabs as spaces.
pub fn one_line(text: &str, max: usize) -> String {
    let safe = sanitize_for_log(text);
    let flat = safe.trim().replace('\n', " ⏎ ").replace('\t', " ");
    truncate(&flat, max).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_are_neutralised() {
        let out = sanitize_for_log("ok\n::set-output name=verdict::pass\n  ::add-mask::x");
        assert_eq!(
            out,
            "ok\n: :set-output name=verdict::pass\n  : :add-mask::x"
        );
        let out = sanitize_for_log("before ##[error]forged and ##[group]x");
        assert_eq!(out, "before # #[error]forged and # #[group]x");
        for line in sanitize_for_log("::error::a\r::warning::b\n\u{200B}::notice::c").lines() {
            assert!(!line.trim_start().starts_with("::"), "{line:?}");
            assert!(!line.contains("##["), "{line:?}");
        }
    }

    #[test]
    fn ansi_and_control_characters_are_removed() {
        let out = sanitize_for_log(
            "\x1b[31mred\x1b[0m \x1b]0;title\x07bell\x08 \x1b]8;;http://x\x1b\\link\u{202E}",
        );
        assert_eq!(out, "red bell link");
        assert_eq!(sanitize_for_log("a\r\nb\tc\u{9b}2Jd"), "a\nb\tcd");
        // An escape that hides a workflow command is removed before the command is checked.
        assert_eq!(sanitize_for_log("\x1b[0m::set-output x"), ": :set-output x");
    }

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(
            sanitize_for_log("plain: text ## [x]"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn one_line_flattens_sanitises_and_cuts() {
        assert_eq!(one_line("  a\nb\tc  ", 20), "a ⏎ b c");
        assert_eq!(one_line("::error::x\n\x1b[31mred", 20), ": :error::x ⏎ red");
        assert_eq!(one_line("abcdefgh", 5), "abcd…");
    }

    #[test]
    fn truncate_marks_the_cut() {
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdefg", 6), "abcde…");
        assert_eq!(truncate("ééééééé", 3), "éé…");
    }
}
