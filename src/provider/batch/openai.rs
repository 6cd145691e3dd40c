//! OpenAI's Batch API, for `openai` models and `openai-compatible` servers that implement it.
//!
//! Wire format: the requests are a JSONL file, one `{"custom_id", "method": "POST", "url":
//! "/v1/chat/completions", "body"}` per line, uploaded to `POST {base_url}/files` as
//! `multipart/form-data` with `purpose=batch`; `POST {base_url}/batches` with `input_file_id`,
//! `endpoint` and `completion_window: "24h"` creates the batch; `GET {base_url}/batches/{id}`
//! reports its `status` and `request_counts`, and once it has ended its `output_file_id` and
//! `error_file_id`, read with `GET {base_url}/files/{id}/content`. Each line of those files is
//! `{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}`: a chat
//! completion in `body`, an error body with a non-2xx `status_code`, or (for requests that
//! expired or were cancelled) `response: null` and an `error` with a `code` such as
//! `batch_expired`.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

use super::{BatchApi, BatchStatus, Counts, ItemResult, Limits, read_lines, send_stream};
use crate::provider::openai::{OpenAi, decode_error, parse_completion, send_json, status_error};
use crate::provider::{BoxFuture, ChatRequest, ProviderError};

/// The endpoint every request of the batch goes to, as the lines and the batch name it.
const ENDPOINT: &str = "/v1/chat/completions";

impl OpenAi {
    /// `{base_url}/SEGMENTS...` with the model's query parameters (Azure's `api-version`).
    fn batch_url(&self, segments: &[&str]) -> Result<reqwest::Url, ProviderError> {
        let mut url = reqwest::Url::parse(&self.root)
            .map_err(|e| ProviderError::Decode(format!("invalid base_url: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| ProviderError::Decode("base_url cannot have a path".into()))?
            .pop_if_empty()
            .extend(segments);
        if !self.query.is_empty() {
            url.query_pairs_mut().extend_pairs(self.query.iter());
        }
        Ok(url)
    }
}

impl BatchApi for OpenAi {
    fn limits(&self) -> Limits {
        // 50,000 requests and 200 MB per input file.
        Limits {
            max_requests: 50_000,
            max_bytes: 199_000_000,
        }
    }

    fn request_line(&self, custom_id: &str, req: &ChatRequest) -> Result<String, ProviderError> {
        // The body exactly as a direct call writes it, inside the line's JSON object.
        let body = String::from_utf8(self.body(req)?)
            .map_err(|e| ProviderError::Decode(format!("cannot write the request: {e}")))?;
        let head = json!({"custom_id": custom_id, "method": "POST", "url": ENDPOINT}).to_string();
        Ok(format!("{},\"body\":{body}}}", &head[..head.len() - 1]))
    }

    fn submit<'a>(
        &'a self,
        lines: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BatchStatus, ProviderError>> {
        Box::pin(async move {
            let mut file = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
            for line in lines {
                file.extend_from_slice(line.as_bytes());
                file.push(b'\n');
            }
            let (boundary, body) = super::multipart(
                &[("purpose", "batch")],
                ("file", "evalgate-batch.jsonl", &file),
            );
            drop(file);
            let uploaded = send_json(
                self.client
                    .post(self.batch_url(&["files"])?)
                    .headers(self.headers.clone())
                    .header(
                        CONTENT_TYPE,
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(body)
                    .timeout(super::transfer_timeout(timeout)),
            )
            .await?;
            let file_id = uploaded
                .body
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| decode_error("no `id` in the uploaded file", &uploaded.bytes))?;
            let created = send_json(
                self.client
                    .post(self.batch_url(&["batches"])?)
                    .headers(self.headers.clone())
                    .json(&json!({
                        "input_file_id": file_id,
                        "endpoint": ENDPOINT,
                        "completion_window": "24h",
                    }))
                    .timeout(timeout),
            )
            .await?;
            parse_batch(&created.body, &created.bytes)
        })
    }

    fn status<'a>(
        &'a self,
        id: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BatchStatus, ProviderError>> {
        Box::pin(async move {
            let answer = send_json(
                self.client
                    .get(self.batch_url(&["batches", id])?)
                    .headers(self.headers.clone())
                    .timeout(timeout),
            )
            .await?;
            parse_batch(&answer.body, &answer.bytes)
        })
    }

    fn results<'a>(
        &'a self,
        status: &'a BatchStatus,
        timeout: Duration,
        on_result: &'a mut (dyn FnMut(ItemResult) + Send),
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            // The output file (successes), then the error file (failed, expired, cancelled).
            for file_id in &status.results {
                let response = send_stream(
                    self.client
                        .get(self.batch_url(&["files", file_id, "content"])?)
                        .headers(self.headers.clone())
                        .timeout(super::transfer_timeout(timeout)),
                )
                .await?;
                read_lines(response, &mut |line| match parse_line(line) {
                    Some(result) => on_result(result),
                    None => tracing::warn!(
                        batch = %status.id,
                        "skipped a line of a batch result file that has no `custom_id`"
                    ),
                })
                .await?;
            }
            Ok(())
        })
    }
}

/// A Batch object: its status, counts, and where its results are once it has ended.
fn parse_batch(body: &Value, bytes: &[u8]) -> Result<BatchStatus, ProviderError> {
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| decode_error("no `id` in the batch", bytes))?;
    let status = body
        .get("status")
        .and_then(Value::as_str)
        .ok_or_else(|| decode_error("no `status` in the batch", bytes))?;
    let count = |key: &str| {
        body.pointer(&format!("/request_counts/{key}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let (total, completed, failed) = (count("total"), count("completed"), count("failed"));
    // Requests neither completed nor failed when the batch expired or was cancelled were never
    // processed; the error file lists them.
    let unprocessed = total.saturating_sub(completed + failed);
    let counts = Counts {
        total,
        succeeded: completed,
        errored: failed,
        expired: if status == "expired" { unprocessed } else { 0 },
        canceled: if status == "cancelled" {
            unprocessed
        } else {
            0
        },
    };
    let failure = (status == "failed").then(|| {
        let errors: Vec<String> = body
            .pointer("/errors/data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|e| {
                let words = super::error_words(e, "code");
                match e.get("line").and_then(Value::as_u64) {
                    Some(line) => format!("line {line}: {words}"),
                    None => words,
                }
            })
            .collect();
        if errors.is_empty() {
            "the provider gave no reason".to_owned()
        } else {
            errors.join("; ")
        }
    });
    let results = ["output_file_id", "error_file_id"]
        .into_iter()
        .filter_map(|k| body.get(k).and_then(Value::as_str))
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(BatchStatus {
        id: id.to_owned(),
        status: status.to_owned(),
        ended: matches!(status, "completed" | "failed" | "expired" | "cancelled"),
        counts,
        failure,
        results,
    })
}

/// One line of an output or error file; `None` for a line that names no request.
fn parse_line(line: &[u8]) -> Option<ItemResult> {
    let value: Value = serde_json::from_slice(line).ok()?;
    let custom_id = value.get("custom_id")?.as_str()?.to_owned();
    let present = |key: &str| value.get(key).filter(|v| !v.is_null());
    let answer = match (present("response"), present("error")) {
        (Some(response), _) => {
            let status = response
                .get("status_code")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let body = response.get("body").cloned().unwrap_or(Value::Null);
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            if (200..300).contains(&status) {
                parse_completion(&body, &bytes).map_err(|e| e.to_string())
            } else {
                let status = u16::try_from(status).unwrap_or(0);
                Err(status_error(status, &HeaderMap::new(), &bytes).to_string())
            }
        }
        (None, Some(error)) => Err(super::error_words(error, "code")),
        (None, None) => Err("the batch's result holds neither a response nor an error".into()),
    };
    Some(ItemResult { custom_id, answer })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_error_lines_of_the_reference_are_read() {
        let ok = parse_line(br#"{"id": "batch_req_123", "custom_id": "request-2", "response": {"status_code": 200, "request_id": "req_123", "body": {"id": "chatcmpl-123", "object": "chat.completion", "created": 1711652795, "model": "gpt-3.5-turbo-0125", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello."}, "logprobs": null, "finish_reason": "stop"}], "usage": {"prompt_tokens": 22, "completion_tokens": 2, "total_tokens": 24}, "system_fingerprint": "fp_123"}}, "error": null}"#).expect("a result");
        assert_eq!(ok.custom_id, "request-2");
        let completion = ok.answer.expect("answered");
        assert_eq!(completion.output, "Hello.");
        assert_eq!(
            (
                completion.usage.input_tokens,
                completion.usage.output_tokens
            ),
            (22, 2)
        );

        let expired = parse_line(br#"{"id": "batch_req_456", "custom_id": "request-3", "response": null, "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}}"#).expect("a result");
        assert_eq!(
            expired.answer.expect_err("expired"),
            "This request could not be executed before the completion window expired. (batch_expired)"
        );

        let refused = parse_line(br#"{"id": "batch_req_789", "custom_id": "request-4", "response": {"status_code": 400, "request_id": "req_789", "body": {"error": {"message": "Invalid 'messages': empty array.", "type": "invalid_request_error", "param": "messages", "code": "empty_array"}}}, "error": null}"#).expect("a result");
        assert_eq!(
            refused.answer.expect_err("refused"),
            "HTTP 400 (empty_array): Invalid 'messages': empty array."
        );
        assert!(parse_line(b"{\"id\": \"x\"}").is_none());
    }

    #[test]
    fn a_failed_batch_says_why_and_an_expired_one_counts_what_was_never_processed() {
        let failed = json!({
            "id": "batch_abc123", "object": "batch", "endpoint": "/v1/chat/completions",
            "errors": {"object": "list", "data": [{"code": "invalid_json_line", "message": "This line is not parseable as valid JSON.", "param": null, "line": 2}]},
            "input_file_id": "file-abc123", "completion_window": "24h", "status": "failed",
            "output_file_id": null, "error_file_id": null,
            "request_counts": {"total": 0, "completed": 0, "failed": 0}
        });
        let status = parse_batch(&failed, b"").expect("batch");
        assert!(status.ended);
        assert_eq!(
            status.failure.as_deref(),
            Some("line 2: This line is not parseable as valid JSON. (invalid_json_line)")
        );
        assert!(status.results.is_empty());

        let expired = json!({
            "id": "batch_abc123", "object": "batch", "status": "expired",
            "output_file_id": "file-out", "error_file_id": "file-err",
            "request_counts": {"total": 10, "completed": 6, "failed": 1}
        });
        let status = parse_batch(&expired, b"").expect("batch");
        assert!(status.ended);
        assert_eq!(status.results, ["file-out", "file-err"]);
        assert_eq!(
            status.counts,
            Counts {
                total: 10,
                succeeded: 6,
                errored: 1,
                expired: 3,
                canceled: 0
            }
        );
        for word in ["validating", "in_progress", "finalizing", "cancelling"] {
            let status = parse_batch(&json!({"id": "b", "status": word}), b"").expect("batch");
            assert!(!status.ended, "{word}");
        }
    }
}
