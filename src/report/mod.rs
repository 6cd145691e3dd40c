//! Reports: pure views of a [`Results`](crate::results::Results). Untrusted text and numbers are
//! printed through [`crate::support::text`] and [`crate::support::fmt`], the same way in every view.

pub mod cases;
pub mod junit;
pub mod markdown;
pub mod terminal;

#[cfg(test)]
pub(crate) mod xml_tree;

/// Why a report could not be made: the results' calls could not be read, or the report could
/// not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Read(#[from] crate::results::file::ResultsFileError),
    #[error("{0}")]
    Write(#[source] std::io::Error),
}

/// What to do about a call's error, from its text (a [`crate::provider::ProviderError`] as
/// stored, possibly behind "not called: an earlier call … failed:"); `None` when there is
/// nothing better to say than the error itself.
pub fn error_hint(error: &str) -> Option<&'static str> {
    let status = error
        .find("HTTP ")
        .and_then(|i| error.get(i + 5..i + 8))
        .and_then(|code| code.parse::<u16>().ok());
    Some(match status {
        Some(401 | 403) => {
            "The provider refused the key: check the secret that the model's `api_key_env` names, and that the workflow passes it to the step."
        }
        Some(404) => "Check the model's `model` name and its `base_url`.",
        Some(429) => {
            "Still rate-limited after `rate_limit_wait_s`, or the quota is spent: lower `concurrency`, raise `rate_limit_wait_s`, or check the account's quota."
        }
        Some(500..=599) => {
            "The provider kept failing after the retries: run the job again; if it persists, check the provider's status page."
        }
        _ if error.contains("connection failed") => {
            "Nothing answered at the model's address: is the server running, and reachable from the runner (not `localhost` of another container)?"
        }
        _ if error.contains("no response within") => {
            "Raise the model's `timeout_s`, or lower `concurrency` if the server queues requests."
        }
        _ if error.contains("unexpected response body") => {
            "The answer is not in the provider's wire format: check `provider` and `base_url` (an OpenAI-compatible server's `base_url` usually ends in `/v1`)."
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::error_hint;

    #[test]
    fn errors_get_the_hint_of_their_kind() {
        let hint = |e: &str| error_hint(e).unwrap_or("none");
        assert!(hint("HTTP 401 (invalid_api_key): Incorrect API key").contains("api_key_env"));
        assert!(
            hint("not called: an earlier call to model `m` failed: HTTP 403: no").contains("key")
        );
        assert!(hint("HTTP 404: model not found").contains("`model` name"));
        assert!(hint("HTTP 429 (insufficient_quota): quota").contains("quota"));
        assert!(hint("HTTP 503: overloaded").contains("run the job again"));
        assert!(hint("connection failed: tcp connect error").contains("Nothing answered"));
        assert!(hint("no response within 60s").contains("timeout_s"));
        assert!(hint("unexpected response body: missing field").contains("wire format"));
        assert_eq!(error_hint("the program exited with status 1"), None);
        assert_eq!(error_hint("HTTP 400: bad request"), None);
    }
}
