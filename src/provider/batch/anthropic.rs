//! Anthropic's Message Batches API.
//!
//! Wire format: `POST {base_url}/v1/messages/batches` with `{"requests": [{"custom_id",
//! "params"}]}`, `params` being a Messages API request body; `GET
//! {base_url}/v1/messages/batches/{id}` reports `processing_status` (`in_progress`, `canceling`,
//! `ended`), `request_counts` (`processing`, `succeeded`, `errored`, `canceled`, `expired`) and,
//! once ended, `results_url`, which streams one `{"custom_id", "result"}` per line: `result` is
//! `{"type": "succeeded", "message"}`, `{"type": "errored", "error"}` (an error response),
//! `{"type": "canceled"}` or `{"type": "expired"}`. The same `x-api-key` and `anthropic-version`
//! headers as the Messages API.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use super::{BatchApi, BatchStatus, Counts, ItemResult, Limits, read_lines, send_stream};
use crate::provider::anthropic::{Anthropic, parse_message};
use crate::provider::openai::{decode_error, send_json};
use crate::provider::{BoxFuture, ChatRequest, ProviderError};

impl Anthropic {
    /// `{base_url}/v1/messages/batches/SEGMENTS...`, with the model's query parameters.
    fn batches_url(&self, segments: &[&str]) -> Result<reqwest::Url, ProviderError> {
        let mut url = self.url.clone();
        url.path_segments_mut()
            .map_err(|()| ProviderError::Decode("base_url cannot have a path".into()))?
            .pop_if_empty()
            .push("batches")
            .extend(segments);
        Ok(url)
    }

    /// Where the results of `status` are: its `results_url` when it is on the configured API's
    /// host (the key is sent there), else the documented path.
    fn results_url(&self, status: &BatchStatus) -> Result<reqwest::Url, ProviderError> {
        let documented = self.batches_url(&[&status.id, "results"])?;
        let given = status
            .results
            .first()
            .and_then(|u| reqwest::Url::parse(u).ok())
            .filter(|u| u.origin() == documented.origin());
        Ok(given.unwrap_or(documented))
    }
}

impl BatchApi for Anthropic {
    fn limits(&self) -> Limits {
        // 100,000 requests or 256 MB per batch, whichever comes first.
        Limits {
            max_requests: 100_000,
            max_bytes: 255_000_000,
        }
    }

    fn request_line(&self, custom_id: &str, req: &ChatRequest) -> Result<String, ProviderError> {
        Ok(json!({"custom_id": custom_id, "params": self.body(req)}).to_string())
    }

    fn submit<'a>(
        &'a self,
        lines: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BatchStatus, ProviderError>> {
        Box::pin(async move {
            let mut body =
                Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>() + 16);
            body.extend_from_slice(b"{\"requests\":[");
            for (i, line) in lines.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(line.as_bytes());
            }
            body.extend_from_slice(b"]}");
            let created = send_json(
                self.client
                    .post(self.batches_url(&[])?)
                    .headers(self.headers.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .body(body)
                    .timeout(super::transfer_timeout(timeout)),
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
                    .get(self.batches_url(&[id])?)
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
            let response = send_stream(
                self.client
                    .get(self.results_url(status)?)
                    .headers(self.headers.clone())
                    .timeout(super::transfer_timeout(timeout)),
            )
            .await?;
            read_lines(response, &mut |line| match parse_line(line) {
                Some(result) => on_result(result),
                None => tracing::warn!(
                    batch = %status.id,
                    "skipped a line of a batch's results that has no `custom_id`"
                ),
            })
            .await
        })
    }
}

/// A Message Batch object.
fn parse_batch(body: &Value, bytes: &[u8]) -> Result<BatchStatus, ProviderError> {
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| decode_error("no `id` in the message batch", bytes))?;
    let status = body
        .get("processing_status")
        .and_then(Value::as_str)
        .ok_or_else(|| decode_error("no `processing_status` in the message batch", bytes))?;
    let count = |key: &str| {
        body.pointer(&format!("/request_counts/{key}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let counts = Counts {
        total: ["processing", "succeeded", "errored", "canceled", "expired"]
            .into_iter()
            .map(count)
            .sum(),
        succeeded: count("succeeded"),
        errored: count("errored"),
        expired: count("expired"),
        canceled: count("canceled"),
    };
    Ok(BatchStatus {
        id: id.to_owned(),
        status: status.to_owned(),
        ended: status == "ended",
        counts,
        failure: None,
        results: body
            .get("results_url")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .into_iter()
            .collect(),
    })
}

/// One line of a batch's results; `None` for a line that names no request.
fn parse_line(line: &[u8]) -> Option<ItemResult> {
    let value: Value = serde_json::from_slice(line).ok()?;
    let custom_id = value.get("custom_id")?.as_str()?.to_owned();
    let result = value.get("result").unwrap_or(&Value::Null);
    let answer = match result.get("type").and_then(Value::as_str) {
        Some("succeeded") => {
            let message = result.get("message").cloned().unwrap_or(Value::Null);
            let bytes = serde_json::to_vec(&message).unwrap_or_default();
            parse_message(&message, &bytes).map_err(|e| e.to_string())
        }
        Some("errored") => {
            // An error response (`{"type": "error", "error": {"type", "message"}}`); read a bare
            // error object too.
            let error = result.get("error").unwrap_or(&Value::Null);
            Err(super::error_words(
                error.get("error").unwrap_or(error),
                "type",
            ))
        }
        Some("expired") => Err(
            "the batch expired (24 hours after it was created) before this request was processed"
                .into(),
        ),
        Some("canceled") => Err("the batch was canceled before this request was processed".into()),
        other => Err(format!(
            "the batch's result has an unknown type {}",
            other.map_or("(none)".to_owned(), |t| format!("`{t}`"))
        )),
    };
    Some(ItemResult { custom_id, answer })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_of_every_type_are_read() {
        let ok = parse_line(br#"{"custom_id":"my-second-request","result":{"type":"succeeded","message":{"id":"msg_014VwiXbi91y3JMjcpyGBHX5","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{"type":"text","text":"Hello again!"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":36}}}}"#).expect("a result");
        assert_eq!(ok.custom_id, "my-second-request");
        let completion = ok.answer.expect("answered");
        assert_eq!(completion.output, "Hello again!");
        assert_eq!(completion.finish_reason.as_deref(), Some("end_turn"));

        let errored = parse_line(br#"{"custom_id":"my-first-request","result":{"type":"errored","error":{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}}}"#).expect("a result");
        assert_eq!(
            errored.answer.expect_err("errored"),
            "max_tokens: Field required (invalid_request_error)"
        );
        let expired =
            parse_line(br#"{"custom_id":"c","result":{"type":"expired"}}"#).expect("a result");
        assert!(
            expired
                .answer
                .expect_err("expired")
                .starts_with("the batch expired")
        );
        let canceled =
            parse_line(br#"{"custom_id":"c","result":{"type":"canceled"}}"#).expect("a result");
        assert!(canceled.answer.expect_err("canceled").contains("canceled"));
    }

    /// The key goes with the request for the results: only to the configured API's host. A
    /// `results_url` elsewhere is not followed; the documented path is read instead.
    #[tokio::test]
    async fn results_are_read_from_the_configured_host_only() {
        use crate::privacy::secrets::Secret;
        use crate::provider::{ProviderConfig, ProviderKind};
        use wiremock::matchers::{header, method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};

        let api = MockServer::start().await;
        let elsewhere = MockServer::start().await;
        let line = r#"{"custom_id":"k1","result":{"type":"expired"}}"#;
        Mock::given(method("GET"))
            .and(path("/v1/messages/batches/msgbatch_1/results"))
            .and(header("x-api-key", "sk-ant-results-0123456789"))
            .and(header("anthropic-version", "2023-06-01"))
            .respond_with(ResponseTemplate::new(200).set_body_string(format!("{line}\n")))
            .expect(2)
            .mount(&api)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_string(format!("{line}\n")))
            .expect(0)
            .mount(&elsewhere)
            .await;
        let config = ProviderConfig {
            model_id: "claude".into(),
            kind: ProviderKind::Anthropic,
            model: "claude-haiku-4-5".into(),
            base_url: Some(api.uri()),
            api_key: Some(Secret::new("sk-ant-results-0123456789".into())),
            headers: Default::default(),
            query: Default::default(),
            http: None,
            command: None,
            end_user: None,
        };
        let anthropic = Anthropic::new(&config, crate::provider::http_client().expect("client"))
            .expect("build");
        for results_url in [
            format!("{}/v1/messages/batches/msgbatch_1/results", api.uri()),
            format!("{}/steal", elsewhere.uri()),
        ] {
            let status = BatchStatus {
                id: "msgbatch_1".into(),
                status: "ended".into(),
                ended: true,
                counts: Counts::default(),
                failure: None,
                results: vec![results_url],
            };
            let mut read = Vec::new();
            anthropic
                .results(&status, Duration::from_secs(5), &mut |r| {
                    read.push(r.custom_id)
                })
                .await
                .expect("results");
            assert_eq!(read, ["k1"]);
        }
    }

    #[test]
    fn a_batch_object_gives_its_status_counts_and_results_url() {
        let body = json!({
            "id": "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF",
            "type": "message_batch",
            "processing_status": "ended",
            "request_counts": {"processing": 0, "succeeded": 50, "errored": 30, "canceled": 10, "expired": 10},
            "ended_at": "2024-08-20T18:37:24.100435Z",
            "created_at": "2024-08-20T18:37:24.100435Z",
            "expires_at": "2024-08-21T18:37:24.100435Z",
            "cancel_initiated_at": null,
            "results_url": "https://api.anthropic.com/v1/messages/batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF/results"
        });
        let status = parse_batch(&body, b"").expect("batch");
        assert!(status.ended);
        assert_eq!(status.counts.total, 100);
        assert_eq!(status.counts.done(), 100);
        assert_eq!(
            status.results,
            [
                "https://api.anthropic.com/v1/messages/batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF/results"
            ]
        );
    }
}
