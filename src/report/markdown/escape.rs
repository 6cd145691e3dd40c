//! Escaping for the page: every untrusted value (model output, ids, vars, reasons, errors) goes
//! through one of these before it is written, so the rules of what is inert live in one place.

use std::fmt::Write;

use crate::support::fmt::format_count;
use crate::support::text::{sanitize_for_log, truncate};

/// Longest one-line value (an id, a reason) before it is cut.
const MAX_INLINE_CHARS: usize = 200;
/// Longest block (an output, the vars, a diff) inside a case's details.
pub(super) const MAX_BLOCK_CHARS: usize = 2_000;

/// A `<pre>` block holding untrusted text: sanitised, cut to [`MAX_BLOCK_CHARS`], and
/// HTML-escaped. It starts its own HTML block (blank line before, `<pre>` first on its line), so
/// blank lines inside cannot end it: in CommonMark a `<pre>` block ends only at `</pre>`, which
/// escaped text cannot contain. Markdown, autolinks and GitHub's mention and reference filters
/// do not apply inside `<pre>`.
pub fn pre(text: &str) -> String {
    let safe = sanitize_for_log(text);
    let total = safe.chars().count();
    let cut = truncate(safe.trim_end_matches('\n'), MAX_BLOCK_CHARS);
    let mut out = String::with_capacity(cut.len() + 32);
    out.push_str("<pre>\n");
    escape_html_into(&mut out, &cut);
    if total > MAX_BLOCK_CHARS {
        let _ = write!(
            out,
            "\n[cut: {} of {} characters shown]",
            format_count(MAX_BLOCK_CHARS as u64),
            format_count(total as u64)
        );
    }
    out.push_str("\n</pre>\n\n");
    out
}

/// Untrusted text for an HTML context on one line (a `<summary>`): sanitised, flattened, cut,
/// HTML-escaped, with mentions, references and autolinks broken (see [`defuse`]).
pub(super) fn html_line(text: &str) -> String {
    // Entities for `@`, `#` and friends are not needed in HTML, but the zero-width breaks are:
    // GitHub links mentions and references in HTML text too.
    html_text(&one_line(text))
}

/// Untrusted text inside an HTML block that wraps (the word diff's `<p>`): sanitised,
/// HTML-escaped, mentions and references broken (see [`defuse`]), line breaks written as
/// `<br>` so the whole block stays on one source line (a blank line would end the HTML block
/// and hand the rest to markdown). Not cut: the caller cuts before diffing.
pub(super) fn html_text(text: &str) -> String {
    let safe = sanitize_for_log(text);
    defuse(&safe, |c, out| match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        '\n' => out.push_str("<br>"),
        '\r' => {}
        c => out.push(c),
    })
}

/// The output once, as a word diff from `base` to `head` that wraps: an HTML paragraph on one
/// source line, removed words in `<del>`, added ones in `<ins>` (GitHub keeps both tags and
/// shows them struck through and underlined). A reader sees the sentence that changed without
/// scrolling sideways, and the output is not repeated. Each side is cut to [`MAX_BLOCK_CHARS`]
/// first: the cost of a diff grows with the size of what differs, and an output can be
/// megabytes long.
pub(super) fn word_diff(base: &str, head: &str) -> String {
    let total = base.chars().count().max(head.chars().count());
    let base = truncate(base.trim_end(), MAX_BLOCK_CHARS);
    let head = truncate(head.trim_end(), MAX_BLOCK_CHARS);
    let diff = similar::TextDiff::from_words(base.as_ref(), head.as_ref());
    let changes: Vec<(similar::ChangeTag, &str)> = diff
        .iter_all_changes()
        .map(|c| (c.tag(), c.value()))
        .collect();
    let mut out = String::from("<p>");
    // One hunk is the removed and the added text between two stretches of equal words; the
    // blanks between changed words belong to the hunk, so "30 days" → "a week" reads as one
    // change, not as two.
    let (mut removed, mut added) = (String::new(), String::new());
    let flush = |out: &mut String, removed: &mut String, added: &mut String| {
        if !removed.is_empty() {
            let _ = write!(out, "<del>{}</del>", html_text(removed));
        }
        if !removed.is_empty() && !added.is_empty() {
            out.push(' ');
        }
        if !added.is_empty() {
            let _ = write!(out, "<ins>{}</ins>", html_text(added));
        }
        removed.clear();
        added.clear();
    };
    for (i, &(tag, text)) in changes.iter().enumerate() {
        let in_hunk = !removed.is_empty() || !added.is_empty();
        match tag {
            similar::ChangeTag::Delete => removed.push_str(text),
            similar::ChangeTag::Insert => added.push_str(text),
            similar::ChangeTag::Equal
                if in_hunk
                    && text.trim().is_empty()
                    && changes
                        .get(i + 1)
                        .is_some_and(|(t, _)| *t != similar::ChangeTag::Equal) =>
            {
                for side in [&mut removed, &mut added] {
                    if !side.is_empty() {
                        side.push_str(text);
                    }
                }
            }
            similar::ChangeTag::Equal => {
                flush(&mut out, &mut removed, &mut added);
                out.push_str(&html_text(text));
            }
        }
    }
    flush(&mut out, &mut removed, &mut added);
    if total > MAX_BLOCK_CHARS {
        let _ = write!(
            out,
            "<br>[cut: the first {} characters shown; the results file has the whole output]",
            format_count(MAX_BLOCK_CHARS as u64)
        );
    }
    out.push_str("</p>\n\n");
    out
}

/// Untrusted text for a markdown inline context (a list item, a table cell): sanitised,
/// flattened to one line, cut to [`MAX_INLINE_CHARS`], the characters that start inline
/// markdown backslash-escaped and `<`, `>`, `&` written as entities (so no emphasis, link,
/// image, code span, math, table cell or HTML can start; block syntax such as `#` or `-` only
/// acts at the start of a line, where untrusted text is never put), and mentions, issue
/// references and autolinks broken with a zero-width space (see [`defuse`]).
pub fn inline(text: &str) -> String {
    let flat = one_line(text);
    defuse(&flat, |c, out| match c {
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '&' => out.push_str("&amp;"),
        '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '!' | '|' | '~' | '$' | '{' | '}' => {
            out.push('\\');
            out.push(c);
        }
        c => out.push(c),
    })
}

/// Writes each character with `escape`, inserting a zero-width space (as the entity
/// `&#8203;`, which survives copy and paste and any sanitiser) where GitHub or GFM would
/// otherwise see:
/// - a mention `@user` or `@org/team`, and an email autolink `a@b.example`: after every `@`;
/// - an issue reference `#123`, `owner/repo#123`: after every `#`;
/// - `GH-123`: between `GH` and `-`;
/// - an URL autolink `http://`, `https://`, `ftp://`: between `:` and `//`;
/// - a `www.` autolink: between `www` and `.`.
fn defuse(text: &str, escape: impl Fn(char, &mut String)) -> String {
    const ZWSP: &str = "&#8203;";
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    for (i, &c) in chars.iter().enumerate() {
        let prev = |n: usize| -> String {
            chars[i.saturating_sub(n)..i]
                .iter()
                .collect::<String>()
                .to_ascii_lowercase()
        };
        if (c == '-' && i >= 2 && prev(2) == "gh") || (c == '.' && i >= 3 && prev(3) == "www") {
            out.push_str(ZWSP);
        }
        escape(c, &mut out);
        let next_two: String = chars.iter().skip(i + 1).take(2).collect();
        if c == '@' || c == '#' || (c == ':' && next_two == "//") {
            out.push_str(ZWSP);
        }
    }
    out
}

fn escape_html_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// One safe line of at most [`MAX_INLINE_CHARS`] characters.
fn one_line(text: &str) -> String {
    crate::support::text::one_line(text, MAX_INLINE_CHARS)
}

/// A link target we wrote ourselves from the command line: `http(s)` only, and nothing that
/// could end the link or start markup.
pub(super) fn safe_url(url: &str) -> Option<&str> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.chars().all(|c| {
            c.is_ascii_graphic()
                && !matches!(
                    c,
                    '(' | ')' | '<' | '>' | '[' | ']' | '"' | '\'' | '`' | '\\'
                )
        });
    ok.then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_diff_shows_each_change_once_and_keeps_text_inert() {
        assert_eq!(
            word_diff(
                "Returns within 30 days of delivery.\nRefunds go back.",
                "Returns within a reasonable time.\nRefunds go back."
            ),
            "<p>Returns within <del>30 days of delivery.</del> <ins>a reasonable time.</ins><br>Refunds go back.</p>\n\n"
        );
        // Only added, only removed: no empty or blank-only tags.
        assert_eq!(word_diff("a c", "a b c"), "<p>a <ins>b </ins>c</p>\n\n");
        assert_eq!(word_diff("a b c", "a c"), "<p>a <del>b </del>c</p>\n\n");
        // The same text is shown once, plain.
        assert_eq!(word_diff("same", "same"), "<p>same</p>\n\n");
        // Untrusted text is escaped and defused, a blank line cannot end the HTML block.
        let diff = word_diff("ok", "<del>@octocat</p>\n\n# x");
        assert!(diff.starts_with("<p>"), "{diff}");
        assert_eq!(diff.matches("\n").count(), 2, "one source line: {diff}");
        assert!(
            diff.contains("&lt;del&gt;@&#8203;octocat&lt;/p&gt;<br><br>#&#8203; x"),
            "{diff}"
        );
        // Long outputs are cut, and say so.
        let long = "word ".repeat(1_000);
        let diff = word_diff(&long, &long);
        assert!(
            diff.contains("[cut: the first 2,000 characters shown"),
            "{diff}"
        );
    }

    #[test]
    fn inline_escaping_defuses_github_syntax() {
        assert_eq!(inline("@octocat"), "@&#8203;octocat");
        assert_eq!(inline("fixes #12"), "fixes #&#8203;12");
        assert_eq!(inline("GH-7"), "GH&#8203;-7");
        assert_eq!(inline("https://x"), "https:&#8203;//x");
        assert_eq!(inline("www.x"), "www&#8203;.x");
        assert_eq!(inline("<b>*x*</b>|"), "&lt;b&gt;\\*x\\*&lt;/b&gt;\\|");
        assert_eq!(
            inline("[a](b) ![c](d) `e` $f$ ~~g~~ _h_"),
            "\\[a\\]\\(b\\) \\!\\[c\\]\\(d\\) \\`e\\` \\$f\\$ \\~\\~g\\~\\~ \\_h\\_"
        );
        assert_eq!(inline("a\nb"), "a ⏎ b");
        assert_eq!(html_line("<x> @y"), "&lt;x&gt; @&#8203;y");
        assert_eq!(
            safe_url("https://ci.example/r/1"),
            Some("https://ci.example/r/1")
        );
        assert_eq!(safe_url("javascript:alert(1)"), None);
        assert_eq!(safe_url("https://x/a)(b"), None);
    }
}
