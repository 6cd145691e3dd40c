//! Redaction: masks personal data and custom patterns in everything a run shows or keeps for
//! others to read (the results file, and so every report made from it, the terminal summary and
//! the audit log), after grading, so checks always see the raw text.
//!
//! What is masked is configured in `[redact]` (built-in [`PiiKind`]s and custom regexes). The
//! response cache and the journal keep raw responses: they are replayed and re-graded, and a
//! masked answer would grade differently. `docs/governance.md` lists exactly what is covered.

use std::borrow::Cow;
use std::io::Write;
use std::sync::OnceLock;

use regex::Regex;

use crate::privacy::pii::{self, PiiKind};
use crate::results::{CallResult, Results};

/// A compiled `[redact]` table. The default masks nothing.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    kinds: Vec<PiiKind>,
    patterns: Vec<Regex>,
}

/// What replaces a custom pattern's match.
pub const PATTERN_MASK: &str = "[REDACTED]";

impl Redactor {
    pub fn new(kinds: Vec<PiiKind>, patterns: Vec<Regex>) -> Self {
        Redactor { kinds, patterns }
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty() && self.patterns.is_empty()
    }

    /// What this redactor masks, for the results file: kind names, then `pattern:REGEX`.
    pub fn describe(&self) -> Vec<String> {
        self.kinds
            .iter()
            .map(|k| k.as_str().to_owned())
            .chain(
                self.patterns
                    .iter()
                    .map(|p| format!("pattern:{}", p.as_str())),
            )
            .collect()
    }

    /// `text` with every detected kind replaced by `[REDACTED:KIND]` and every custom pattern
    /// match by `[REDACTED]`. Built-in kinds go first, so a pattern never sees half a mask.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out: Cow<'a, str> = Cow::Borrowed(text);
        let found = pii::find(&out, &self.kinds);
        if !found.is_empty() {
            let mut masked = String::with_capacity(out.len());
            let mut at = 0;
            for f in &found {
                masked.push_str(&out[at..f.start]);
                masked.push_str("[REDACTED:");
                masked.push_str(f.kind.as_str());
                masked.push(']');
                at = f.end;
            }
            masked.push_str(&out[at..]);
            out = Cow::Owned(masked);
        }
        for pattern in &self.patterns {
            if pattern.is_match(&out) {
                out = Cow::Owned(pattern.replace_all(&out, PATTERN_MASK).into_owned());
            }
        }
        out
    }

    /// Masks known secrets (see [`crate::privacy::secrets`]), then what this redactor masks.
    fn redact_in_place(&self, text: &mut String) {
        if let Cow::Owned(scrubbed) = crate::privacy::secrets::mask(text) {
            *text = scrubbed;
        }
        if let Cow::Owned(masked) = self.redact(text) {
            *text = masked;
        }
    }

    /// Every string inside a JSON value (object keys are left alone: they are field names).
    fn redact_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => self.redact_in_place(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.redact_json(v)),
            _ => {}
        }
    }

    /// Masks every free text of a results file: rendered messages, vars, expected values,
    /// outputs, errors, check reasons, judge prompts and answers, and the comparison's outputs
    /// and reasons. Ids, names and numbers are left as they are: they pair runs. Known secret
    /// values are masked whether or not `[redact]` is configured: a server or proxy that echoes
    /// the request's key in an answer must not get it published.
    ///
    /// Calls that are not in memory are not touched: a run redacts each call before it writes it
    /// to its spool ([`Redactor::redact_call`]), and a results file was redacted when written.
    pub fn apply(&self, results: &mut Results) {
        if !self.is_active() {
            return;
        }
        if let Some(calls) = results.results.in_memory_mut() {
            calls.iter_mut().for_each(|call| self.redact_call(call));
        }
        self.redact_verdict_and_comparison(results);
    }

    /// Whether this redactor would change anything: `[redact]` is configured or a secret is known.
    pub fn is_active(&self) -> bool {
        !self.is_empty() || crate::privacy::secrets::any()
    }

    /// Masks every free text of one call (see [`Redactor::apply`]).
    pub fn redact_call(&self, call: &mut CallResult) {
        if !self.is_active() {
            return;
        }
        for m in &mut call.messages {
            self.redact_in_place(&mut m.content);
            for tool_call in &mut m.tool_calls {
                self.redact_json(&mut tool_call.arguments);
            }
        }
        self.redact_json(&mut call.vars);
        if let Some(expected) = &mut call.expected {
            self.redact_json(expected);
        }
        if let Some(output) = &mut call.output {
            self.redact_in_place(output);
        }
        for tool_call in &mut call.tool_calls {
            self.redact_json(&mut tool_call.arguments);
            if let Some(raw) = &mut tool_call.raw_arguments {
                self.redact_in_place(raw);
            }
        }
        if let Some(error) = &mut call.error {
            self.redact_in_place(error);
        }
        for check in &mut call.checks {
            self.redact_in_place(&mut check.reason);
            if let Some(judge) = &mut check.judge {
                for m in &mut judge.prompt {
                    self.redact_in_place(&mut m.content);
                }
                for sample in &mut judge.samples {
                    self.redact_in_place(&mut sample.output);
                    self.redact_in_place(&mut sample.reason);
                }
            }
        }
    }

    /// The verdict's reasons and the comparison's outputs and reasons.
    fn redact_verdict_and_comparison(&self, results: &mut Results) {
        for reason in &mut results.verdict.reasons {
            self.redact_in_place(reason);
        }
        if let Some(comparison) = &mut results.comparison {
            for case in &mut comparison.cases {
                for text in [&mut case.base_output, &mut case.head_output]
                    .into_iter()
                    .flatten()
                {
                    self.redact_in_place(text);
                }
                case.reasons
                    .iter_mut()
                    .for_each(|r| self.redact_in_place(r));
            }
        }
    }
}

/// The redactor applied to log lines, set once the suite is loaded.
static LOG_REDACTOR: OnceLock<Redactor> = OnceLock::new();

/// Makes every later log line pass through `redactor` (logs written before the suite was loaded
/// cannot hold model text). The first call wins.
pub fn set_log_redactor(redactor: Redactor) {
    let _ = LOG_REDACTOR.set(redactor);
}

/// Log lines with registered secrets and `[redact]` matches masked: a `tracing` writer for
/// stderr. Provider errors in debug logs can quote a request or a key; this is where they are
/// caught, whatever module logged them. Unless `colored` (stderr is a terminal and the log has
/// colours of its own), every line is also made inert for a CI log
/// ([`crate::support::text::sanitize_for_log`]): a logged file name or model answer cannot
/// start a line with a workflow command.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter {
    pub colored: bool,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

impl Write for LogWriter {
    /// The fmt layer hands over one whole formatted event per call, so a match never straddles
    /// two writes.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let text = crate::privacy::secrets::scrub(&text);
        let text = match LOG_REDACTOR.get() {
            Some(r) => r.redact(&text).into_owned(),
            None => text,
        };
        let text = if self.colored {
            text
        } else {
            crate::support::text::sanitize_for_log(&text).into_owned()
        };
        std::io::stderr().write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_kinds_then_patterns() {
        let r = Redactor::new(
            vec![PiiKind::Email, PiiKind::Card],
            vec![Regex::new(r"ACCT-\d+").expect("regex")],
        );
        assert_eq!(
            r.redact("mail ana@example.com, card 4111-1111-1111-1111, account ACCT-991"),
            "mail [REDACTED:email], card [REDACTED:card], account [REDACTED]"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_default_masks_nothing() {
        let r = Redactor::default();
        assert!(r.is_empty());
        assert_eq!(r.redact("ana@example.com"), "ana@example.com");
    }

    #[test]
    fn json_strings_are_masked_at_any_depth() {
        let r = Redactor::new(vec![PiiKind::Email], vec![]);
        let mut v =
            serde_json::json!({"a": ["x ana@example.com"], "b": {"c": "bo@example.org"}, "n": 3});
        r.redact_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": ["x [REDACTED:email]"], "b": {"c": "[REDACTED:email]"}, "n": 3})
        );
    }

    /// Tool-call arguments are free text like the output: masked in the answer's calls (parsed
    /// or raw) and in a conversation's earlier calls.
    #[test]
    fn tool_call_arguments_are_masked_in_results() {
        use crate::provider::{Message, Role, ToolCall};
        let r = Redactor::new(vec![PiiKind::Email], vec![]);
        let mut results = crate::test_helpers::pass();
        let call = &mut results.results.to_mut()[0];
        call.tool_calls = vec![
            ToolCall {
                id: None,
                name: "email".into(),
                arguments: serde_json::json!({"to": "ana@example.com"}),
                raw_arguments: None,
            },
            ToolCall::from_json_text(None, "email".into(), "{\"to\": \"bo@example.org"),
        ];
        call.messages.push(Message {
            role: Role::Assistant,
            tool_calls: vec![ToolCall {
                id: Some("c1".into()),
                name: "email".into(),
                arguments: serde_json::json!({"to": "cy@example.net"}),
                raw_arguments: None,
            }],
            ..Default::default()
        });
        r.apply(&mut results);
        let text = serde_json::to_string(&results).expect("json");
        assert!(!text.contains("@example."), "{text}");
        assert_eq!(text.matches("[REDACTED:email]").count(), 3, "{text}");
    }
}
