//! The providers' batch APIs: OpenAI's Batch API (a JSONL file uploaded to `/v1/files`, a batch
//! created on `/v1/batches`, its output and error files read back) and Anthropic's Message
//! Batches (`/v1/messages/batches`, results as JSONL from its `results_url`). Many calls are
//! submitted at once and answered within 24 hours, at half the price.
//!
//! A batch request carries exactly the body a direct call of the same provider would send (built
//! by the same function), under a `custom_id`; a result's body is read by the same parser as a
//! direct response. So tools, conversations, `extra_body` and the end-user identity behave alike
//! in both modes. Which calls go into a batch, the record of submitted batches, polling and
//! resuming are the executor's business (`execute::batch`).

mod anthropic;
mod openai;

use std::ops::Range;
use std::time::Duration;

use super::{BoxFuture, ChatRequest, Completion, ProviderError};

/// How much one batch may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_requests: usize,
    /// Bytes of the serialized requests (the JSONL file, or the create request's body), a little
    /// under the provider's limit to leave room for what wraps them.
    pub max_bytes: usize,
}

/// What a provider says about a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchStatus {
    pub id: String,
    /// The provider's own word: OpenAI's `validating`, `in_progress`, `finalizing`, `completed`,
    /// `failed`, `expired`, `cancelling` or `cancelled`; Anthropic's `in_progress`, `canceling`
    /// or `ended`.
    pub status: String,
    /// Processing is over: the results that will ever exist can be read.
    pub ended: bool,
    pub counts: Counts,
    /// Why the whole batch failed (OpenAI's `failed`, with its `errors`), when it did.
    pub failure: Option<String>,
    /// Where the results are: OpenAI's output and error file ids, Anthropic's results URL.
    pub results: Vec<String>,
}

/// Requests of a batch by state, as far as the provider reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub succeeded: u64,
    pub errored: u64,
    pub expired: u64,
    pub canceled: u64,
}

impl Counts {
    /// Requests with a result of any kind.
    pub fn done(&self) -> u64 {
        self.succeeded + self.errored + self.expired + self.canceled
    }
}

/// The result of one request of a batch.
#[derive(Debug)]
pub struct ItemResult {
    pub custom_id: String,
    /// The answer, or why there is none (free of secrets): the provider's error for this
    /// request, or that it expired or was canceled before it was processed.
    pub answer: Result<Completion, String>,
}

/// One provider's batch API.
pub trait BatchApi: Send + Sync + std::fmt::Debug {
    fn limits(&self) -> Limits;

    /// One request of a batch, serialized: `req`'s body, exactly as a direct call sends it,
    /// under `custom_id`.
    fn request_line(&self, custom_id: &str, req: &ChatRequest) -> Result<String, ProviderError>;

    /// Submits `lines` (from [`Self::request_line`]) as one batch. `timeout` bounds each HTTP
    /// request (uploads get longer).
    fn submit<'a>(
        &'a self,
        lines: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BatchStatus, ProviderError>>;

    /// Where batch `id` is.
    fn status<'a>(
        &'a self,
        id: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BatchStatus, ProviderError>>;

    /// Reads the results of an ended batch, handing each to `on_result` as it is read (so each
    /// can be saved before the next is downloaded).
    fn results<'a>(
        &'a self,
        status: &'a BatchStatus,
        timeout: Duration,
        on_result: &'a mut (dyn FnMut(ItemResult) + Send),
    ) -> BoxFuture<'a, Result<(), ProviderError>>;
}

/// Splits requests of the given serialized sizes, in order, into batches within `limits`: no
/// more than `max_requests` each, and no more than `max_bytes` of requests (each with one byte
/// of separator). A request larger than `max_bytes` on its own gets a batch of its own, for the
/// provider to refuse with its own words.
pub fn split(sizes: &[usize], limits: Limits) -> Vec<Range<usize>> {
    let mut batches = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, size) in sizes.iter().enumerate() {
        let size = size + 1;
        let count = i - start;
        if count > 0 && (count >= limits.max_requests || bytes + size > limits.max_bytes) {
            batches.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        batches.push(start..sizes.len());
    }
    batches
}

/// How long an upload or a download of results may take: far longer than a call.
fn transfer_timeout(timeout: Duration) -> Duration {
    timeout.max(Duration::from_secs(600))
}

/// Sends a request whose answer is a stream (a file's content) and checks its status.
async fn send_stream(request: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderError> {
    let response = request.send().await.map_err(connect_error)?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let headers = response.headers().clone();
    let bytes = response.bytes().await.map_err(connect_error)?;
    Err(super::openai::status_error(
        status.as_u16(),
        &headers,
        &bytes,
    ))
}

fn connect_error(e: reqwest::Error) -> ProviderError {
    ProviderError::Connect(crate::privacy::secrets::error_chain(&e))
}

/// Reads a JSON-lines answer chunk by chunk, handing every non-empty line to `on_line` as soon as
/// it is complete: a results file of hundreds of megabytes is never held whole.
async fn read_lines(
    mut response: reqwest::Response,
    on_line: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<(), ProviderError> {
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(connect_error)? {
        pending.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(end) = pending[start..].iter().position(|b| *b == b'\n') {
            let line = &pending[start..start + end];
            if !line.iter().all(u8::is_ascii_whitespace) {
                on_line(line);
            }
            start += end + 1;
        }
        pending.drain(..start);
    }
    if !pending.iter().all(u8::is_ascii_whitespace) {
        on_line(&pending);
    }
    Ok(())
}

/// A `multipart/form-data` body (RFC 7578) of text `fields` and one file: what `curl -F` sends.
/// Returns the boundary and the body.
fn multipart(fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> (String, Vec<u8>) {
    let (name, filename, content) = file;
    // A random boundary that the content does not contain.
    let boundary = loop {
        let candidate = format!(
            "evalgate-{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        if !content
            .windows(candidate.len())
            .any(|w| w == candidate.as_bytes())
        {
            break candidate;
        }
    };
    let mut body = Vec::with_capacity(content.len() + 512);
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

/// An error object's words: `message (code)`, or whichever of the two there is.
fn error_words(error: &serde_json::Value, code_field: &str) -> String {
    let message = error
        .get("message")
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|m| !m.is_empty());
    let code = error.get(code_field).and_then(serde_json::Value::as_str);
    let text = match (message, code) {
        (Some(m), Some(c)) => format!("{m} ({c})"),
        (Some(m), None) => m.to_owned(),
        (None, Some(c)) => c.to_owned(),
        (None, None) => error.to_string(),
    };
    crate::privacy::secrets::scrub(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_split_by_count_and_by_size_in_order() {
        let limits = Limits {
            max_requests: 3,
            max_bytes: 100,
        };
        assert_eq!(split(&[], limits), Vec::<Range<usize>>::new());
        assert_eq!(split(&[10; 7], limits), vec![0..3, 3..6, 6..7]);
        // 40 + 1 and 40 + 1 fit in 100; a third does not.
        assert_eq!(split(&[40, 40, 40, 10], limits), vec![0..2, 2..4]);
        // Too big on its own: alone, never dropped.
        assert_eq!(split(&[10, 500, 10], limits), vec![0..1, 1..2, 2..3]);
    }

    #[test]
    fn a_multipart_body_has_the_fields_the_file_and_a_closing_boundary() {
        let (boundary, body) = multipart(
            &[("purpose", "batch")],
            ("file", "batch.jsonl", b"{\"a\":1}\n"),
        );
        let text = String::from_utf8(body).expect("utf-8");
        assert_eq!(
            text,
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"batch.jsonl\"\r\nContent-Type: application/octet-stream\r\n\r\n\
                 {{\"a\":1}}\n\r\n--{boundary}--\r\n"
            )
        );
    }

    #[test]
    fn error_objects_read_as_message_and_code() {
        let e = serde_json::json!({"code": "batch_expired", "message": "This request could not be executed before the completion window expired."});
        assert_eq!(
            error_words(&e, "code"),
            "This request could not be executed before the completion window expired. (batch_expired)"
        );
        assert_eq!(
            error_words(&serde_json::json!({"type": "overloaded_error"}), "type"),
            "overloaded_error"
        );
    }
}
