//! Anthropic's Messages API.
//!
//! Wire format: `POST {base_url}/v1/messages` with `x-api-key` and `anthropic-version` headers;
//! system messages travel in the top-level `system` field, the rest as `messages`; `max_tokens`
//! is required. The answer is the concatenated `text` blocks of `content`. Anthropic reports
//! `input_tokens` *excluding* prompt-cache reads and writes, so the input we record is the sum of
//! `input_tokens`, `cache_creation_input_tokens` and `cache_read_input_tokens`, and the cached
//! part is `cache_read_input_tokens`.

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

use super::limits::ServerLimits;
use super::openai::{JsonAnswer, build_error, decode_error, extra_headers, send_json, sensitive};
use super::*;

/// The API version evalgate speaks; the body and response shapes below are this version's.
const API_VERSION: &str = "2023-06-01";
const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The Messages API requires `max_tokens`; used when the suite sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

#[derive(Debug)]
pub struct Anthropic {
    pub(super) client: reqwest::Client,
    /// Parsed once, not for every call.
    pub(super) url: reqwest::Url,
    pub(super) headers: HeaderMap,
    model: String,
    /// Sent as `metadata.user_id` (`[audit] send_identity`).
    end_user: Option<String>,
}

impl Anthropic {
    pub fn new(config: &ProviderConfig, client: reqwest::Client) -> Result<Self, BuildError> {
        let base = config
            .base_url
            .as_deref()
            .unwrap_or(DEFAULT_BASE_URL)
            .trim_end_matches('/');
        // The SDKs' base URL has no `/v1`; accept one anyway, as people copy OpenAI-style URLs.
        let endpoint = if base.ends_with("/v1") {
            format!("{base}/messages")
        } else {
            format!("{base}/v1/messages")
        };
        let mut url = reqwest::Url::parse(&endpoint)
            .map_err(|e| build_error(config, &format!("invalid base_url `{base}`: {e}")))?;
        if !config.query.is_empty() {
            url.query_pairs_mut().extend_pairs(config.query.iter());
        }
        let mut headers = extra_headers(config)?;
        headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
        if let Some(key) = &config.api_key {
            headers.insert("x-api-key", sensitive(config, key.expose())?);
        }
        Ok(Anthropic {
            client,
            url,
            headers,
            model: config.model.clone(),
            end_user: config.end_user.clone(),
        })
    }

    /// The request body of a call: what a direct call posts and a batch request's `params`.
    pub(super) fn body(&self, req: &ChatRequest) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model));
        let system: Vec<&str> = req
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.content.as_str())
            .collect();
        if !system.is_empty() {
            body.insert("system".into(), json!(system.join("\n\n")));
        }
        body.insert(
            "messages".into(),
            Value::Array(wire_messages(&req.messages)),
        );
        let p = &req.params;
        body.insert(
            "max_tokens".into(),
            json!(p.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
        );
        if let Some(t) = p.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(t) = p.top_p {
            body.insert("top_p".into(), json!(t));
        }
        if !p.stop.is_empty() {
            body.insert("stop_sequences".into(), json!(p.stop));
        }
        if !p.tools.is_empty() {
            body.insert(
                "tools".into(),
                Value::Array(
                    p.tools
                        .iter()
                        .map(|t| {
                            let mut tool = Map::new();
                            tool.insert("name".into(), json!(t.name));
                            if let Some(d) = &t.description {
                                tool.insert("description".into(), json!(d));
                            }
                            tool.insert("input_schema".into(), t.parameters.clone());
                            Value::Object(tool)
                        })
                        .collect(),
                ),
            );
        }
        if let Some(choice) = &p.tool_choice {
            let choice = match choice {
                ToolChoice::Auto => json!({"type": "auto"}),
                ToolChoice::None => json!({"type": "none"}),
                ToolChoice::Required => json!({"type": "any"}),
                ToolChoice::Function(name) => json!({"type": "tool", "name": name}),
            };
            body.insert("tool_choice".into(), choice);
        }
        // The Messages API's end-user id. Before `extra_body`, so a suite that sets `metadata`
        // itself keeps its value.
        if let Some(user) = &self.end_user {
            body.insert("metadata".into(), json!({"user_id": user}));
        }
        // The Messages API has no `seed`; sending one would be rejected as an unknown field.
        for (k, v) in &p.extra {
            body.insert(k.clone(), v.clone());
        }
        Value::Object(body)
    }
}

/// The non-system messages in the Messages API's shape. Plain messages keep a string content. An
/// assistant message that called functions becomes content blocks (its text, then one `tool_use`
/// per call); `tool` messages become `tool_result` blocks of a user message, consecutive results
/// in one message, as the API expects them right after the assistant turn that asked.
fn wire_messages(messages: &[Message]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut results: Vec<Value> = Vec::new();
    let flush = |results: &mut Vec<Value>, out: &mut Vec<Value>| {
        if !results.is_empty() {
            out.push(json!({"role": "user", "content": std::mem::take(results)}));
        }
    };
    for m in messages.iter().filter(|m| m.role != Role::System) {
        if m.role == Role::Tool {
            results.push(json!({
                "type": "tool_result",
                "tool_use_id": m.tool_call_id,
                "content": m.content
            }));
            continue;
        }
        flush(&mut results, &mut out);
        if m.tool_calls.is_empty() {
            out.push(json!({"role": m.role.as_str(), "content": m.content}));
            continue;
        }
        let mut blocks = Vec::new();
        if !m.content.is_empty() {
            blocks.push(json!({"type": "text", "text": m.content}));
        }
        for call in &m.tool_calls {
            blocks.push(json!({
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                // Case data is checked to hold an object, and the API takes only one.
                "input": if call.arguments.is_object() { call.arguments.clone() } else { json!({}) }
            }));
        }
        out.push(json!({"role": m.role.as_str(), "content": blocks}));
    }
    flush(&mut results, &mut out);
    out
}

impl Provider for Anthropic {
    fn complete<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let JsonAnswer {
                body,
                bytes,
                headers,
            } = send_json(
                self.client
                    .post(self.url.clone())
                    .headers(self.headers.clone())
                    .json(&self.body(req)),
            )
            .await?;
            let mut completion = parse_message(&body, &bytes)?;
            completion.limits = ServerLimits::from_headers(&headers);
            Ok(completion)
        })
    }

    fn batch(&self) -> Option<&dyn super::batch::BatchApi> {
        Some(self)
    }
}

/// Reads a Message (`body`, whose raw bytes are `bytes`, for error excerpts): a direct call's
/// response, or the `result.message` of a batch's succeeded result.
pub(super) fn parse_message(body: &Value, bytes: &[u8]) -> Result<Completion, ProviderError> {
    let content = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| decode_error("no `content` array in the response", bytes))?;
    let output: String = content
        .iter()
        .filter(|block| block.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|block| block.get("text").and_then(Value::as_str))
        .collect();
    let tool_calls = content
        .iter()
        .filter(|block| block.get("type").and_then(Value::as_str) == Some("tool_use"))
        .filter_map(|block| {
            Some(ToolCall {
                id: block.get("id").and_then(Value::as_str).map(str::to_owned),
                name: block.get("name").and_then(Value::as_str)?.to_owned(),
                arguments: block.get("input").cloned().unwrap_or(json!({})),
                raw_arguments: None,
            })
        })
        .collect();
    let tokens = |p: &str| body.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let cache_read = tokens("/usage/cache_read_input_tokens");
    Ok(Completion {
        output,
        tool_calls,
        usage: Usage {
            input_tokens: tokens("/usage/input_tokens")
                + tokens("/usage/cache_creation_input_tokens")
                + cache_read,
            output_tokens: tokens("/usage/output_tokens"),
            cached_input_tokens: cache_read,
        },
        finish_reason: body
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
        limits: ServerLimits::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::secrets::Secret;
    use wiremock::matchers::{body_partial_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn config(server: &MockServer) -> ProviderConfig {
        config_at(&server.uri())
    }

    fn config_at(base_url: &str) -> ProviderConfig {
        ProviderConfig {
            model_id: "claude".into(),
            kind: ProviderKind::Anthropic,
            model: "claude-haiku-4-5".into(),
            base_url: Some(base_url.to_owned()),
            api_key: Some(Secret::new("sk-ant-test-0123456789".into())),
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
            http: None,
            command: None,
            end_user: None,
        }
    }

    fn request() -> ChatRequest {
        ChatRequest {
            messages: vec![
                Message {
                    role: Role::System,
                    content: "Be brief.".into(),
                    ..Default::default()
                },
                Message {
                    role: Role::User,
                    content: "Capital of France?".into(),
                    ..Default::default()
                },
            ],
            params: CallParams {
                temperature: Some(0.0),
                stop: vec!["\n".into()],
                ..CallParams::default()
            },
            vars: json!({}),
            case_id: "fr".into(),
        }
    }

    /// A response as the Messages API reference shows it, with prompt-cache usage.
    fn message_body() -> Value {
        json!({
            "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5",
            "content": [
                {"type": "text", "text": "Paris"},
                {"type": "text", "text": "."}
            ],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {
                "input_tokens": 12,
                "cache_creation_input_tokens": 3,
                "cache_read_input_tokens": 100,
                "output_tokens": 2
            }
        })
    }

    #[tokio::test]
    async fn sends_the_documented_request_and_reads_text_and_cache_usage() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/messages"))
            .and(header("x-api-key", "sk-ant-test-0123456789"))
            .and(header("anthropic-version", API_VERSION))
            .and(body_partial_json(json!({
                "model": "claude-haiku-4-5",
                "system": "Be brief.",
                "messages": [{"role": "user", "content": "Capital of France?"}],
                "max_tokens": DEFAULT_MAX_TOKENS,
                "temperature": 0.0,
                "stop_sequences": ["\n"]
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(message_body()))
            .expect(1)
            .mount(&server)
            .await;
        let provider =
            Anthropic::new(&config(&server), http_client().expect("client")).expect("build");
        let completion = provider.complete(&request()).await.expect("completion");
        assert_eq!(completion.output, "Paris.");
        assert_eq!(completion.finish_reason.as_deref(), Some("end_turn"));
        assert_eq!(
            completion.usage,
            Usage {
                input_tokens: 115,
                output_tokens: 2,
                cached_input_tokens: 100
            }
        );
    }

    /// `[audit] send_identity` goes out as the Messages API's `metadata.user_id`; without it
    /// no `metadata` is sent at all.
    #[tokio::test]
    async fn the_end_user_is_sent_as_metadata_user_id_only_when_configured() {
        let with = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/messages"))
            .and(body_partial_json(json!({
                "model": "claude-haiku-4-5",
                "metadata": {"user_id": "octocat"}
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(message_body()))
            .expect(1)
            .mount(&with)
            .await;
        let config = ProviderConfig {
            end_user: Some("octocat".into()),
            ..config(&with)
        };
        let provider = Anthropic::new(&config, http_client().expect("client")).expect("build");
        provider.complete(&request()).await.expect("completion");

        let without = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/messages"))
            .respond_with(ResponseTemplate::new(200).set_body_json(message_body()))
            .expect(1)
            .mount(&without)
            .await;
        let provider = Anthropic::new(&config_at(&without.uri()), http_client().expect("client"))
            .expect("build");
        provider.complete(&request()).await.expect("completion");
        let received = without.received_requests().await.expect("recorded");
        let body: Value = serde_json::from_slice(&received[0].body).expect("json");
        assert!(body.get("metadata").is_none(), "{body}");
        assert!(body.get("user").is_none(), "{body}");
    }

    /// Tools go out as Anthropic's `tools` (`input_schema`) with `tool_choice` as a typed object,
    /// and `tool_use` content blocks come back as calls beside the text.
    #[tokio::test]
    async fn tools_are_sent_and_tool_use_blocks_read_back() {
        let server = MockServer::start().await;
        let parameters = json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"]
        });
        let answer = json!({
            "id": "msg_01Aq9w938a90dw8q",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5",
            "content": [
                {"type": "text", "text": "I'll check the weather."},
                {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9",
                 "name": "get_weather", "input": {"city": "Paris"}}
            ],
            "stop_reason": "tool_use",
            "stop_sequence": null,
            "usage": {"input_tokens": 400, "output_tokens": 40}
        });
        Mock::given(method("POST"))
            .and(path("/v1/messages"))
            .and(body_partial_json(json!({
                "tools": [{
                    "name": "get_weather",
                    "description": "Current weather in a city",
                    "input_schema": parameters.clone()
                }],
                "tool_choice": {"type": "any"}
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .expect(1)
            .mount(&server)
            .await;
        let provider =
            Anthropic::new(&config(&server), http_client().expect("client")).expect("build");
        let mut req = request();
        req.params.tools = vec![ToolDef {
            name: "get_weather".into(),
            description: Some("Current weather in a city".into()),
            parameters,
        }];
        req.params.tool_choice = Some(ToolChoice::Required);
        let completion = provider.complete(&req).await.expect("answered");
        assert_eq!(completion.output, "I'll check the weather.");
        assert_eq!(completion.finish_reason.as_deref(), Some("tool_use"));
        assert_eq!(
            completion.tool_calls,
            vec![ToolCall {
                id: Some("toolu_01A09q90qw90lq917835lq9".into()),
                name: "get_weather".into(),
                arguments: json!({"city": "Paris"}),
                raw_arguments: None,
            }]
        );
        let wire = |choice| {
            let mut r = request();
            r.params.tools.clone_from(&req.params.tools);
            r.params.tool_choice = Some(choice);
            provider.body(&r)["tool_choice"].clone()
        };
        assert_eq!(wire(ToolChoice::Auto), json!({"type": "auto"}));
        assert_eq!(wire(ToolChoice::None), json!({"type": "none"}));
        assert_eq!(
            wire(ToolChoice::Function("get_weather".into())),
            json!({"type": "tool", "name": "get_weather"})
        );
    }

    /// The same conversation in the Messages API's shape: system apart, the call as a
    /// `tool_use` block, its result as a `tool_result` block of a user turn.
    #[test]
    fn a_conversation_with_tool_results_is_sent_as_content_blocks() {
        let provider = Anthropic::new(
            &config_at("http://localhost:1"),
            http_client().expect("client"),
        )
        .expect("build");
        let mut messages = crate::provider::openai::tests::conversation();
        // A second result in a row joins the first in one user turn.
        messages.insert(
            4,
            Message {
                role: Role::Tool,
                content: "no data".into(),
                tool_call_id: Some("call_1".into()),
                ..Default::default()
            },
        );
        let req = ChatRequest {
            messages,
            params: CallParams::default(),
            vars: json!({}),
            case_id: "c".into(),
        };
        let body = provider.body(&req);
        assert_eq!(body["system"], "Use the tools.");
        assert_eq!(
            body["messages"],
            json!([
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "18C, sunny"},
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "no data"}
                ]},
                {"role": "user", "content": "And tomorrow?"}
            ])
        );
    }

    #[tokio::test]
    async fn a_v1_base_url_is_not_doubled() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/messages"))
            .respond_with(ResponseTemplate::new(200).set_body_json(message_body()))
            .expect(1)
            .mount(&server)
            .await;
        let mut config = config(&server);
        config.base_url = Some(format!("{}/v1/", server.uri()));
        let provider = Anthropic::new(&config, http_client().expect("client")).expect("build");
        provider.complete(&request()).await.expect("completion");
    }

    #[tokio::test]
    async fn overloaded_and_rate_limit_errors_are_classified_from_the_documented_bodies() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "7")
                    .set_body_json(json!({
                        "type": "error",
                        "error": {"type": "rate_limit_error", "message": "Number of request tokens has exceeded your per-minute rate limit"}
                    })),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(529).set_body_json(json!({
                "type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"}
            })))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({
                "type": "error",
                "error": {"type": "authentication_error", "message": "invalid x-api-key"}
            })))
            .mount(&server)
            .await;
        let provider =
            Anthropic::new(&config(&server), http_client().expect("client")).expect("build");

        let err = provider.complete(&request()).await.expect_err("429");
        assert!(err.is_retryable() && !err.is_fatal_for_model());
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        assert!(err.to_string().contains("rate_limit_error"), "{err}");

        let err = provider.complete(&request()).await.expect_err("529");
        assert!(err.is_retryable());
        assert_eq!(err.to_string(), "HTTP 529 (overloaded_error): Overloaded");

        let err = provider.complete(&request()).await.expect_err("401");
        assert!(!err.is_retryable() && err.is_fatal_for_model());
    }

    /// A 429 as Anthropic sends it when the request budget is spent, then the answer: the retry
    /// loop waits out `retry-after` and the limiter paces at the stated requests per minute.
    #[tokio::test]
    async fn a_rate_limit_with_anthropic_headers_is_waited_out_and_its_rate_learned() {
        use crate::provider::ratelimit::{HEADROOM, RateLimiter};
        use crate::provider::retry::{NoParking, RetryPolicy, complete_with_retries};
        let server = MockServer::start().await;
        let reset = (time::OffsetDateTime::now_utc() + time::Duration::seconds(1))
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format");
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "0")
                    .insert_header("anthropic-ratelimit-requests-limit", "3000")
                    .insert_header("anthropic-ratelimit-requests-remaining", "12")
                    .insert_header("anthropic-ratelimit-requests-reset", reset.as_str())
                    .set_body_json(json!({
                        "type": "error",
                        "error": {"type": "rate_limit_error", "message": "Number of requests has exceeded your per-minute rate limit"}
                    })),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("anthropic-ratelimit-requests-limit", "3000")
                    .insert_header("anthropic-ratelimit-requests-remaining", "11")
                    .set_body_json(message_body()),
            )
            .mount(&server)
            .await;
        let provider =
            Anthropic::new(&config(&server), http_client().expect("client")).expect("build");
        let limiter = RateLimiter::new(None, None);
        let out = complete_with_retries(
            &provider,
            &request(),
            &RetryPolicy::default(),
            &limiter,
            Duration::from_secs(5),
            10,
            &mut NoParking,
        )
        .await;
        assert_eq!(out.result.expect("answered").output, "Paris.");
        assert_eq!((out.attempts, out.rate_limited), (2, 1));
        // 3,000 per minute is 50 per second, paced just under.
        assert_eq!(limiter.rate(), Some(50.0 * HEADROOM));
    }

    #[tokio::test]
    async fn a_body_without_content_is_a_decode_error() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"type": "message"})))
            .mount(&server)
            .await;
        let provider =
            Anthropic::new(&config(&server), http_client().expect("client")).expect("build");
        let err = provider.complete(&request()).await.expect_err("decode");
        assert!(matches!(err, ProviderError::Decode(_)), "{err}");
        assert!(!err.is_retryable());
    }

    #[test]
    fn exhausted_request_budget_throttles_until_the_reset() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "anthropic-ratelimit-requests-remaining",
            HeaderValue::from_static("0"),
        );
        let reset = time::OffsetDateTime::now_utc() + time::Duration::seconds(30);
        let reset = reset
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format");
        headers.insert(
            "anthropic-ratelimit-requests-reset",
            HeaderValue::from_str(&reset).expect("header"),
        );
        let wait = ServerLimits::from_headers(&headers)
            .exhausted_for()
            .expect("throttled");
        assert!(wait > Duration::from_secs(20) && wait <= Duration::from_secs(30));
        headers.insert(
            "anthropic-ratelimit-requests-remaining",
            HeaderValue::from_static("5"),
        );
        assert_eq!(ServerLimits::from_headers(&headers).exhausted_for(), None);
    }
}
