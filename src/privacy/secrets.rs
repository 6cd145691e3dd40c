//! Secrets: API keys and tokens, held so they cannot be printed by accident, and a redactor that
//! scrubs their values from any text that leaves the process (errors, logs, results).

use std::borrow::Cow;
use std::fmt;
use std::sync::{Mutex, OnceLock};

/// A secret value. `Debug` and `Display` print `***`; only [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value and registers it with the process-wide redactor.
    pub fn new(value: String) -> Self {
        register(&value);
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

fn registry() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Remembers a secret value so that [`scrub`] removes it. Values shorter than 8 characters are
/// not registered: masking every "abc" in a model answer would corrupt outputs, and such short
/// values are not real keys.
pub fn register(value: &str) {
    if value.len() < 8 {
        return;
    }
    let mut secrets = registry().lock().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| s == value) {
        secrets.push(value.to_owned());
    }
}

/// Replaces every registered secret in `text` with `***`.
///
/// Providers sometimes echo the key they were sent in an error body; this is the last line of
/// defence that keeps it out of errors, logs and results.
pub fn scrub(text: &str) -> String {
    mask(text).into_owned()
}

/// [`scrub`], borrowing `text` when it holds no secret.
pub fn mask(text: &str) -> Cow<'_, str> {
    let secrets = registry().lock().unwrap_or_else(|e| e.into_inner());
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), "***"));
        }
    }
    out
}

/// Whether any secret value is registered.
pub fn any() -> bool {
    !registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_empty()
}

/// An error's message followed by its sources ("error sending request: connection refused"),
/// with secrets removed: what any layer shows of a foreign error.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let s = inner.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = inner.source();
    }
    scrub(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("sk-test-hidden-value-123".into());
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "sk-test-hidden-value-123");
    }

    #[test]
    fn redact_removes_registered_values() {
        register("tok-redact-me-please");
        assert_eq!(
            scrub("bad key tok-redact-me-please given"),
            "bad key *** given"
        );
    }

    #[test]
    fn short_values_are_not_registered() {
        register("abc");
        assert_eq!(scrub("abc"), "abc");
    }
}
