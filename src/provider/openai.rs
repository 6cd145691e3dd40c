//! OpenAI chat completions, for `openai` (also Azure OpenAI and proxies) and `openai-compatible`
//! servers (llama.cpp server, vLLM, Ollama, LiteLLM).
//!
//! Wire format: `POST {base_url}/chat/completions` with `model`, `messages` and sampling fields;
//! the answer is `choices[0].message.content`, usage in `usage.prompt_tokens`,
//! `usage.completion_tokens` and `usage.prompt_tokens_details.cached_tokens`.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::limits::ServerLimits;
use super::*;

#[derive(Debug)]
pub struct OpenAi {
    pub(super) client: reqwest::Client,
    /// Parsed once: parsing it for every call cost as much CPU as the rest of the request.
    url: reqwest::Url,
    /// The configured headers and the key, as every request to the API sends them.
    pub(super) headers: HeaderMap,
    /// `headers` with `content-type: application/json`, for the chat completions this module
    /// serializes itself.
    json_headers: HeaderMap,
    model: String,
    /// `max_completion_tokens` (OpenAI's current name) rather than `max_tokens` (what
    /// OpenAI-compatible servers read).
    completion_tokens_field: bool,
    /// Sent as `user` (`[audit] send_identity`).
    end_user: Option<String>,
    /// The API root (`base_url`) and the model's query parameters, for the Files and Batch
    /// endpoints of batch mode.
    pub(super) root: String,
    pub(super) query: BTreeMap<String, String>,
}

impl OpenAi {
    pub fn new(config: &ProviderConfig, client: reqwest::Client) -> Result<Self, BuildError> {
        let root = base_url(config)?;
        let (url, headers) = bearer_endpoint(config, &format!("{root}/chat/completions"))?;
        let url = reqwest::Url::parse(&url)
            .map_err(|e| build_error(config, &format!("invalid URL `{url}`: {e}")))?;
        // As `RequestBuilder::json` would: unless the suite's headers set their own.
        let mut json_headers = headers.clone();
        if !json_headers.contains_key(CONTENT_TYPE) {
            json_headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        Ok(OpenAi {
            client,
            url,
            headers,
            json_headers,
            root,
            query: config.query.clone(),
            model: config.model.clone(),
            completion_tokens_field: config.kind == ProviderKind::Openai,
            end_user: config.end_user.clone(),
        })
    }

    /// The request body, as sent: written straight from the request, unless `extra_body` is set,
    /// whose fields are merged last, over any field set here, so a shared one is sent once.
    pub(super) fn body(&self, req: &ChatRequest) -> Result<Vec<u8>, ProviderError> {
        let p = &req.params;
        let max_tokens = |wanted: bool| p.max_tokens.filter(|_| wanted);
        let wire = WireRequest {
            model: &self.model,
            messages: WireMessages(&req.messages),
            temperature: p.temperature,
            top_p: p.top_p,
            max_completion_tokens: max_tokens(self.completion_tokens_field),
            max_tokens: max_tokens(!self.completion_tokens_field),
            stop: &p.stop,
            seed: p.seed,
            tools: p.tools.iter().map(WireTool::of).collect(),
            tool_choice: p.tool_choice.as_ref().map(WireToolChoice),
            // Chat completions' end-user id (OpenAI, Azure and most compatible servers read
            // it). Before `extra_body`, so a suite that sets `user` itself keeps its value.
            user: self.end_user.as_deref(),
        };
        let unserializable =
            |e: serde_json::Error| ProviderError::Decode(format!("cannot write the request: {e}"));
        if p.extra.is_empty() {
            return serde_json::to_vec(&wire).map_err(unserializable);
        }
        let mut body = serde_json::to_value(&wire).map_err(unserializable)?;
        if let Value::Object(fields) = &mut body {
            for (k, v) in &p.extra {
                fields.insert(k.clone(), v.clone());
            }
        }
        serde_json::to_vec(&body).map_err(unserializable)
    }
}

/// A chat-completions request; `None` and empty fields are not sent.
#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: WireMessages<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
}

/// A tool as `{"type": "function", "function": {name, description, parameters}}`.
#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: &'a Value,
}

impl<'a> WireTool<'a> {
    fn of(tool: &'a ToolDef) -> Self {
        WireTool {
            kind: "function",
            function: WireFunction {
                name: &tool.name,
                description: tool.description.as_deref(),
                parameters: &tool.parameters,
            },
        }
    }
}

/// `"auto"`, `"none"`, `"required"`, or `{"type": "function", "function": {"name": NAME}}`.
struct WireToolChoice<'a>(&'a ToolChoice);

impl Serialize for WireToolChoice<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Named<'a> {
            name: &'a str,
        }
        #[derive(Serialize)]
        struct Function<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            function: Named<'a>,
        }
        match self.0 {
            ToolChoice::Auto => serializer.serialize_str("auto"),
            ToolChoice::None => serializer.serialize_str("none"),
            ToolChoice::Required => serializer.serialize_str("required"),
            ToolChoice::Function(name) => Function {
                kind: "function",
                function: Named { name },
            }
            .serialize(serializer),
        }
    }
}

/// The messages in the chat-completions shape: a `tool` message carries the `tool_call_id` it
/// answers; an assistant message that called functions carries them as `tool_calls` (arguments as
/// a JSON string) and a `null` content when it said nothing.
struct WireMessages<'a>(&'a [Message]);

impl Serialize for WireMessages<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(WireMessage))
    }
}

struct WireMessage<'a>(&'a Message);

impl Serialize for WireMessage<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let m = self.0;
        let mut out = serializer.serialize_map(None)?;
        out.serialize_entry("role", m.role.as_str())?;
        if m.tool_calls.is_empty() || !m.content.is_empty() {
            out.serialize_entry("content", &m.content)?;
        } else {
            out.serialize_entry("content", &())?;
        }
        if let Some(id) = &m.tool_call_id {
            out.serialize_entry("tool_call_id", id)?;
        }
        if !m.tool_calls.is_empty() {
            let calls: Vec<Value> = m
                .tool_calls
                .iter()
                .map(|c| {
                    let arguments = match &c.raw_arguments {
                        Some(raw) => raw.clone(),
                        None => c.arguments.to_string(),
                    };
                    json!({
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": arguments}
                    })
                })
                .collect();
            out.serialize_entry("tool_calls", &calls)?;
        }
        out.end()
    }
}

/// `message.tool_calls`: function calls whose `arguments` is a JSON string. Other call types
/// (`custom`) carry no `function` and are kept by name with their input as raw text.
fn tool_calls(calls: Option<&Value>) -> Vec<ToolCall> {
    let Some(Value::Array(calls)) = calls else {
        return Vec::new();
    };
    calls
        .iter()
        .filter_map(|call| {
            let id = call.get("id").and_then(Value::as_str).map(str::to_owned);
            let function = call.get("function").or_else(|| call.get("custom"))?;
            let name = function.get("name").and_then(Value::as_str)?.to_owned();
            Some(
                match function.get("arguments").or_else(|| function.get("input")) {
                    Some(Value::String(text)) => ToolCall::from_json_text(id, name, text),
                    // Some compatible servers send the arguments as an object already.
                    Some(value) => ToolCall {
                        id,
                        name,
                        arguments: value.clone(),
                        raw_arguments: None,
                    },
                    None => ToolCall::from_json_text(id, name, "{}"),
                },
            )
        })
        .collect()
}

impl Provider for OpenAi {
    fn complete<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let (bytes, limits) = send(
                self.client
                    .post(self.url.clone())
                    .headers(self.json_headers.clone())
                    .body(self.body(req)?),
            )
            .await?;
            let Answer {
                output,
                tool_calls,
                finish_reason,
                usage,
            } = answer(&bytes)?;
            // No answer at all because the model ran out of tokens (a reasoning model spending
            // `max_tokens` on thinking) or was filtered is a setup problem, not a bad answer.
            if output.is_empty()
                && tool_calls.is_empty()
                && let Some(why @ ("length" | "content_filter")) = finish_reason.as_deref()
            {
                let hint = if why == "length" {
                    "raise `max_tokens`: the model used them all before answering"
                } else {
                    "the provider's content filter removed the answer"
                };
                return Err(ProviderError::Decode(format!(
                    "empty answer with finish_reason `{why}`: {hint}"
                )));
            }
            Ok(Completion {
                output,
                tool_calls,
                usage,
                finish_reason,
                limits,
            })
        })
    }

    fn batch(&self) -> Option<&dyn super::batch::BatchApi> {
        Some(self)
    }
}

/// Reads a chat completion (`body`, whose raw bytes are `bytes`, for error excerpts): a direct
/// call's response, or the `response.body` of a batch's output line.
pub(super) fn parse_completion(body: &Value, bytes: &[u8]) -> Result<Completion, ProviderError> {
    let choice = body
        .pointer("/choices/0")
        .ok_or_else(|| decode_error("no `choices[0]` in the response", bytes))?;
    let output = match choice.pointer("/message/content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let tool_calls = tool_calls(choice.get("message"));
    let finish = choice.get("finish_reason").and_then(Value::as_str);
    // No answer at all because the model ran out of tokens (a reasoning model spending
    // `max_tokens` on thinking) or was filtered is a setup problem, not a bad answer.
    if output.is_empty()
        && tool_calls.is_empty()
        && let Some(why @ ("length" | "content_filter")) = finish
    {
        let hint = if why == "length" {
            "raise `max_tokens`: the model used them all before answering"
        } else {
            "the provider's content filter removed the answer"
        };
        return Err(ProviderError::Decode(format!(
            "empty answer with finish_reason `{why}`: {hint}"
        )));
    }
    let tokens = |p: &str| body.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    Ok(Completion {
        output,
        tool_calls,
        usage: Usage {
            input_tokens: tokens("/usage/prompt_tokens"),
            output_tokens: tokens("/usage/completion_tokens"),
            cached_input_tokens: tokens("/usage/prompt_tokens_details/cached_tokens"),
        },
        finish_reason: finish.map(str::to_owned),
        limits: ServerLimits::default(),
    })
}

/// What a chat completion answered: `choices[0]`'s message (`content` as text: a string as is,
/// `null` or none as empty, anything else as its JSON) and finish reason, and the usage counts
/// (0 when absent or not a whole number).
#[derive(Debug, PartialEq)]
struct Answer {
    output: String,
    tool_calls: Vec<ToolCall>,
    finish_reason: Option<String>,
    usage: Usage,
}

/// Reads a success body: into the fields it needs when it has the documented shape (the rest is
/// skipped, not parsed into a tree), else through a `Value`, which reads any shape the same way.
fn answer(bytes: &[u8]) -> Result<Answer, ProviderError> {
    #[derive(Deserialize)]
    struct Body {
        choices: Vec<Choice>,
        #[serde(default)]
        usage: Option<WireUsage>,
    }
    #[derive(Deserialize)]
    struct Choice {
        #[serde(default)]
        message: Option<AnswerMessage>,
        #[serde(default)]
        finish_reason: Option<Value>,
    }
    #[derive(Deserialize)]
    struct AnswerMessage {
        #[serde(default)]
        content: Option<Value>,
        #[serde(default)]
        tool_calls: Option<Value>,
    }
    #[derive(Deserialize)]
    struct WireUsage {
        #[serde(default)]
        prompt_tokens: Option<u64>,
        #[serde(default)]
        completion_tokens: Option<u64>,
        #[serde(default)]
        prompt_tokens_details: Option<Details>,
    }
    #[derive(Deserialize)]
    struct Details {
        #[serde(default)]
        cached_tokens: Option<u64>,
    }
    let Ok(Body { choices, usage }) = serde_json::from_slice::<Body>(bytes) else {
        return answer_from_value(bytes);
    };
    let Some(choice) = choices.into_iter().next() else {
        return Err(decode_error("no `choices[0]` in the response", bytes));
    };
    let (content, calls) = match choice.message {
        Some(m) => (m.content, m.tool_calls),
        None => (None, None),
    };
    let usage = usage.as_ref();
    Ok(Answer {
        output: match content {
            Some(Value::String(s)) => s,
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        },
        tool_calls: tool_calls(calls.as_ref()),
        finish_reason: match choice.finish_reason {
            Some(Value::String(s)) => Some(s),
            _ => None,
        },
        usage: Usage {
            input_tokens: usage.and_then(|u| u.prompt_tokens).unwrap_or(0),
            output_tokens: usage.and_then(|u| u.completion_tokens).unwrap_or(0),
            cached_input_tokens: usage
                .and_then(|u| u.prompt_tokens_details.as_ref())
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
        },
    })
}

/// [`answer`] through a `Value`, for any shape.
fn answer_from_value(bytes: &[u8]) -> Result<Answer, ProviderError> {
    let text = |content: Option<&Value>| match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let body: Value =
        serde_json::from_slice(bytes).map_err(|e| decode_error(&e.to_string(), bytes))?;
    let choice = body
        .pointer("/choices/0")
        .ok_or_else(|| decode_error("no `choices[0]` in the response", bytes))?;
    let tokens = |p: &str| body.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    Ok(Answer {
        output: text(choice.pointer("/message/content")),
        tool_calls: tool_calls(choice.pointer("/message/tool_calls")),
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
        usage: Usage {
            input_tokens: tokens("/usage/prompt_tokens"),
            output_tokens: tokens("/usage/completion_tokens"),
            cached_input_tokens: tokens("/usage/prompt_tokens_details/cached_tokens"),
        },
    })
}

/// The API root of an OpenAI-protocol model: its `base_url`, or OpenAI's for `openai`.
pub(super) fn base_url(config: &ProviderConfig) -> Result<String, BuildError> {
    match (&config.base_url, config.kind) {
        (Some(url), _) => Ok(url.trim_end_matches('/').to_owned()),
        (None, ProviderKind::Openai) => Ok("https://api.openai.com/v1".to_owned()),
        (None, ProviderKind::OpenaiCompatible) => Err(build_error(
            config,
            "an openai-compatible model needs `base_url`",
        )),
        (None, other) => Err(build_error(
            config,
            &format!(
                "`provider = \"{}\"` does not speak the OpenAI protocol",
                other.as_str()
            ),
        )),
    }
}

/// `url` with the model's `query` parameters, and its headers plus `Authorization: Bearer KEY`
/// when it has a key: how every bearer-token HTTP protocol here addresses its endpoint.
pub(super) fn bearer_endpoint(
    config: &ProviderConfig,
    url: &str,
) -> Result<(String, HeaderMap), BuildError> {
    let mut parsed = reqwest::Url::parse(url)
        .map_err(|e| build_error(config, &format!("invalid URL `{url}`: {e}")))?;
    if !config.query.is_empty() {
        parsed.query_pairs_mut().extend_pairs(config.query.iter());
    }
    let mut headers = extra_headers(config)?;
    if let Some(key) = &config.api_key {
        headers.insert(
            AUTHORIZATION,
            sensitive(config, &format!("Bearer {}", key.expose()))?,
        );
    }
    Ok((parsed.to_string(), headers))
}

pub(super) fn build_error(config: &ProviderConfig, message: &str) -> BuildError {
    BuildError {
        model_id: config.model_id.clone(),
        message: message.to_owned(),
    }
}

/// A header value that hides itself from debug output.
pub(super) fn sensitive(config: &ProviderConfig, value: &str) -> Result<HeaderValue, BuildError> {
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        build_error(
            config,
            "a key or header value contains characters not allowed in HTTP headers",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The configured extra headers, all marked sensitive (they may carry `${ENV}` secrets).
pub(super) fn extra_headers(config: &ProviderConfig) -> Result<HeaderMap, BuildError> {
    let mut headers = HeaderMap::new();
    for (name, value) in &config.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            build_error(config, &format!("`{name}` is not a valid HTTP header name"))
        })?;
        headers.insert(name, sensitive(config, value.expose())?);
    }
    Ok(headers)
}

/// A JSON answer: the parsed body, its bytes (for error excerpts) and the headers.
pub(super) struct JsonAnswer {
    pub body: Value,
    pub bytes: bytes::Bytes,
    pub headers: HeaderMap,
}

/// Sends a request and reads a JSON answer, classifying every failure the same way for each
/// HTTP protocol: transport problems are connection errors (retryable), a non-success status is
/// classified from its body and headers, and a success that is not JSON is a decode error.
pub(super) async fn send_json(
    request: reqwest::RequestBuilder,
) -> Result<JsonAnswer, ProviderError> {
    let response = request.send().await.map_err(connect_error)?;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.map_err(connect_error)?;
    if !status.is_success() {
        return Err(status_error(status.as_u16(), &headers, &bytes));
    }
    let body = serde_json::from_slice(&bytes).map_err(|e| decode_error(&e.to_string(), &bytes))?;
    Ok(JsonAnswer {
        body,
        bytes,
        headers,
    })
}

/// Like [`send_json`], but leaves the body unparsed and keeps only what the headers say about the
/// server's limits (a success's headers are not copied).
async fn send(
    request: reqwest::RequestBuilder,
) -> Result<(bytes::Bytes, ServerLimits), ProviderError> {
    let response = request.send().await.map_err(connect_error)?;
    let status = response.status();
    if !status.is_success() {
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(connect_error)?;
        return Err(status_error(status.as_u16(), &headers, &bytes));
    }
    let limits = ServerLimits::from_headers(response.headers());
    let bytes = response.bytes().await.map_err(connect_error)?;
    Ok((bytes, limits))
}

fn connect_error(e: reqwest::Error) -> ProviderError {
    ProviderError::Connect(crate::privacy::secrets::error_chain(&e))
}

pub(super) fn decode_error(what: &str, body: &[u8]) -> ProviderError {
    let excerpt: String = String::from_utf8_lossy(body).chars().take(200).collect();
    ProviderError::Decode(crate::privacy::secrets::scrub(&format!(
        "{what}; body starts {excerpt:?}"
    )))
}

/// Classifies a non-success answer from its documented error body (OpenAI
/// `{"error": {"message", "type", "code"}}`, Anthropic `{"type": "error", "error": {"type",
/// "message"}}`) and its retry headers.
pub(super) fn status_error(status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|b| b.get("error"));
    let message = match error.and_then(|e| e.get("message")).and_then(Value::as_str) {
        Some(m) => m.to_owned(),
        None => String::from_utf8_lossy(body).chars().take(500).collect(),
    };
    // An empty body says nothing; the status's reason phrase at least names the problem.
    let message = if message.trim().is_empty() {
        reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("no error message")
            .to_owned()
    } else {
        message
    };
    // The most specific code first: Anthropic puts its spend cap in `error.details.error_code`
    // under a generic `rate_limit_error` type.
    let code = error.and_then(|e| {
        e.pointer("/details/error_code")
            .and_then(Value::as_str)
            .or_else(|| e.get("code").and_then(Value::as_str))
            .or_else(|| e.get("type").and_then(Value::as_str))
            .map(str::to_owned)
    });
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let retry_after = header("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .and_then(|ms| seconds(ms / 1000.0))
        .or_else(|| header("retry-after").and_then(parse_retry_after));
    let should_retry = match header("x-should-retry") {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    ProviderError::Status {
        status,
        code,
        message: crate::privacy::secrets::scrub(message.trim()),
        retry_after,
        should_retry,
        limits: ServerLimits::from_headers(headers),
    }
}

/// A server-given number of seconds as a duration: `None` for a negative, infinite or absurd
/// value (a day or more), which must not crash the run or stall it.
fn seconds(secs: f64) -> Option<Duration> {
    (secs.is_finite() && (0.0..86_400.0).contains(&secs))
        .then(|| Duration::try_from_secs_f64(secs).ok())
        .flatten()
}

/// `retry-after`: seconds, or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(secs) = value.trim().parse::<f64>() {
        return seconds(secs);
    }
    let when = httpdate::parse_http_date(value.trim()).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The fast reading of a success body gives what reading it through a `Value` gives, for
    /// the documented shape and for every odd one a compatible server may send.
    #[test]
    fn a_success_body_reads_the_same_typed_or_through_a_value() {
        let bodies = [
            r#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"ok \"42\""},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":6,"prompt_tokens_details":{"cached_tokens":4}}}"#,
            r#"{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[{"message":{"content":["parts"]},"finish_reason":7}],"usage":null}"#,
            r#"{"choices":[{"message":{"content":{"text":"t"}}}],"usage":{"prompt_tokens":12.0,"completion_tokens":-1}}"#,
            r#"{"choices":[{"message":"not an object"}],"usage":{"prompt_tokens":"3"}}"#,
            r#"{"choices":[{}],"usage":{"prompt_tokens_details":null}}"#,
            r#"{"choices":[{"finish_reason":"length","message":{"content":""}}]}"#,
            r#"{"choices":{"0":{"message":{"content":"an object, not a list"}}}}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1}}"#,
            r#"{"choices":null}"#,
            r#"{"usage":{"prompt_tokens":1}}"#,
            r#"{"choices":[{"message":{"content":"first"}}],"choices":[{"message":{"content":"second"}}]}"#,
            r#"[1, 2]"#,
            "<html>proxy login</html>",
        ];
        for body in bodies {
            assert_eq!(
                format!("{:?}", answer(body.as_bytes())),
                format!("{:?}", answer_from_value(body.as_bytes())),
                "{body}"
            );
        }
        let typed = answer(bodies[0].as_bytes()).expect("answer");
        assert_eq!(
            typed,
            Answer {
                output: "ok \"42\"".into(),
                tool_calls: Vec::new(),
                finish_reason: Some("stop".into()),
                usage: Usage {
                    input_tokens: 20,
                    output_tokens: 6,
                    cached_input_tokens: 4,
                },
            }
        );
    }

    /// `extra_body` is merged last: a field it shares with one evalgate sets is sent once, with
    /// its value; without it, the body is written straight from the request.
    #[test]
    fn extra_body_fields_replace_the_ones_evalgate_sets() {
        let config = ProviderConfig {
            model_id: "local".into(),
            kind: ProviderKind::OpenaiCompatible,
            model: "m".into(),
            base_url: Some("http://localhost:1/v1".into()),
            api_key: None,
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
            http: None,
            command: None,
            end_user: Some("octocat".into()),
        };
        let provider = OpenAi::new(&config, http_client().expect("client")).expect("build");
        let mut request = ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content: "hi".into(),
                ..Default::default()
            }],
            params: CallParams {
                temperature: Some(0.5),
                top_p: Some(0.9),
                max_tokens: Some(30),
                stop: vec!["END".into()],
                seed: Some(7),
                ..CallParams::default()
            },
            vars: json!({}),
            case_id: "c".into(),
        };
        let body = |request: &ChatRequest| {
            String::from_utf8(provider.body(request).expect("body")).expect("utf-8")
        };
        let plain: Value = serde_json::from_str(&body(&request)).expect("json");
        assert_eq!(
            plain,
            json!({
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "temperature": 0.5,
                "top_p": 0.9,
                "max_tokens": 30,
                "stop": ["END"],
                "seed": 7,
                "user": "octocat"
            })
        );
        request.params.extra = json!({"temperature": 1, "user": "team", "n": 2})
            .as_object()
            .cloned()
            .expect("object");
        let merged = body(&request);
        assert_eq!(merged.matches("\"temperature\"").count(), 1, "{merged}");
        let merged: Value = serde_json::from_str(&merged).expect("json");
        assert_eq!(
            (
                &merged["temperature"],
                &merged["user"],
                &merged["n"],
                &merged["seed"]
            ),
            (&json!(1), &json!("team"), &json!(2), &json!(7))
        );
    }

    #[test]
    fn error_bodies_of_both_vendors_are_classified() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after-ms", HeaderValue::from_static("250"));
        headers.insert("retry-after", HeaderValue::from_static("9"));
        let err = status_error(429, &headers, br#"{"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}"#);
        assert!(!err.is_retryable() && err.is_fatal_for_model());
        assert_eq!(err.retry_after(), Some(Duration::from_millis(250)));
        let err = status_error(
            529,
            &HeaderMap::new(),
            br#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#,
        );
        assert!(err.is_retryable());
        assert_eq!(err.to_string(), "HTTP 529 (overloaded_error): Overloaded");
        let err = status_error(
            429,
            &HeaderMap::new(),
            br#"{"type": "error", "error": {"type": "rate_limit_error", "message": "You have reached your specified workspace API usage limits.", "details": {"error_code": "enforced_spend_limit_reached"}}}"#,
        );
        assert!(!err.is_retryable() && err.is_fatal_for_model(), "{err}");
        let err = status_error(502, &HeaderMap::new(), b"<html>Bad Gateway</html>");
        assert_eq!(err.to_string(), "HTTP 502: <html>Bad Gateway</html>");
        let err = status_error(404, &HeaderMap::new(), b"");
        assert_eq!(err.to_string(), "HTTP 404: Not Found");
        // Absurd waits are ignored, never a panic.
        let mut absurd = HeaderMap::new();
        absurd.insert("retry-after", HeaderValue::from_static("1e20"));
        absurd.insert("retry-after-ms", HeaderValue::from_static("1e300"));
        assert_eq!(status_error(503, &absurd, b"").retry_after(), None);
    }

    /// System, a question, an assistant turn that called `get_weather`, its result, and a
    /// follow-up question.
    pub(in crate::provider) fn conversation() -> Vec<Message> {
        vec![
            Message {
                role: Role::System,
                content: "Use the tools.".into(),
                ..Default::default()
            },
            Message {
                role: Role::User,
                content: "Weather in Paris?".into(),
                ..Default::default()
            },
            Message {
                role: Role::Assistant,
                content: String::new(),
                tool_calls: vec![ToolCall {
                    id: Some("call_1".into()),
                    name: "get_weather".into(),
                    arguments: json!({"city": "Paris"}),
                    raw_arguments: None,
                }],
                ..Default::default()
            },
            Message {
                role: Role::Tool,
                content: "18C, sunny".into(),
                tool_call_id: Some("call_1".into()),
                ..Default::default()
            },
            Message {
                role: Role::User,
                content: "And tomorrow?".into(),
                ..Default::default()
            },
        ]
    }

    mod wire {
        //! The provider and the shared retry loop against a fake server that answers with the
        //! bodies and headers of OpenAI's API reference.
        use super::super::*;
        use crate::privacy::secrets::Secret;
        use crate::provider::ratelimit::RateLimiter;
        use crate::provider::retry::{Attempted, RetryPolicy, complete_with_retries};
        use serde_json::json;
        use wiremock::matchers::{body_partial_json, header, method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};

        /// A chat-completions model `mini` at `base_url`, with no key, header or identity: each
        /// test sets what it is about.
        fn config(base_url: Option<String>) -> ProviderConfig {
            ProviderConfig {
                model_id: "mini".into(),
                kind: ProviderKind::Openai,
                model: "gpt-4.1-mini".into(),
                base_url,
                api_key: None,
                headers: BTreeMap::new(),
                query: BTreeMap::new(),
                http: None,
                command: None,
                end_user: None,
            }
        }

        /// The body `provider` sends for `request`, parsed.
        fn sent(provider: &OpenAi, request: &ChatRequest) -> Value {
            serde_json::from_slice(&provider.body(request).expect("body")).expect("json")
        }

        fn completion_body(content: &str) -> Value {
            json!({
                "id": "chatcmpl-abc123",
                "object": "chat.completion",
                "created": 1_741_569_952,
                "model": "gpt-4.1-mini-2025-04-14",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": null, "annotations": []},
                    "logprobs": null,
                    "finish_reason": "stop"
                }],
                "usage": {
                    "prompt_tokens": 1200,
                    "completion_tokens": 5,
                    "total_tokens": 1205,
                    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}
                },
                "service_tier": "default"
            })
        }

        fn error_body(message: &str, kind: &str, code: &str) -> Value {
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        }

        async fn call(server: &MockServer, max_retries: u32, timeout: Duration) -> Attempted {
            let policy = RetryPolicy {
                max_retries,
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(5),
                ..RetryPolicy::default()
            };
            call_with(server, &policy, &RateLimiter::new(None, None), timeout).await
        }

        /// One call through the retry loop with `policy` and `limiter`.
        async fn call_with(
            server: &MockServer,
            policy: &RetryPolicy,
            limiter: &RateLimiter,
            timeout: Duration,
        ) -> Attempted {
            let config = ProviderConfig {
                api_key: Some(Secret::new("sk-proj-wiretest-0123456789".into())),
                ..config(Some(format!("{}/v1", server.uri())))
            };
            let provider = OpenAi::new(&config, http_client().expect("client")).expect("build");
            let request = ChatRequest {
                messages: vec![Message {
                    role: Role::User,
                    content: "hi".into(),
                    ..Default::default()
                }],
                params: CallParams {
                    max_tokens: Some(20),
                    ..CallParams::default()
                },
                vars: json!({}),
                case_id: "c1".into(),
            };
            complete_with_retries(
                &provider,
                &request,
                policy,
                limiter,
                timeout,
                10,
                &mut crate::provider::retry::NoParking,
            )
            .await
        }

        #[tokio::test]
        async fn rate_limited_then_served_honours_retry_after_ms_and_counts_cached_tokens() {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path("/v1/chat/completions"))
                .respond_with(
                    ResponseTemplate::new(429)
                        .insert_header("retry-after-ms", "20")
                        .insert_header("x-ratelimit-remaining-requests", "0")
                        .set_body_json(error_body(
                            "Rate limit reached for gpt-4.1-mini on requests per min (RPM): Limit 3, Used 3, Requested 1.",
                            "requests",
                            "rate_limit_exceeded",
                        )),
                )
                .up_to_n_times(1)
                .mount(&server)
                .await;
            Mock::given(method("POST"))
                .and(path("/v1/chat/completions"))
                .and(header(
                    "authorization",
                    "Bearer sk-proj-wiretest-0123456789",
                ))
                .and(body_partial_json(
                    json!({"model": "gpt-4.1-mini", "max_completion_tokens": 20}),
                ))
                .respond_with(ResponseTemplate::new(200).set_body_json(completion_body("hello")))
                .mount(&server)
                .await;
            let attempted = call(&server, 2, Duration::from_secs(5)).await;
            assert_eq!(attempted.attempts, 2);
            let completion = attempted.result.expect("served after the retry");
            assert_eq!(completion.output, "hello");
            assert_eq!(
                completion.usage,
                Usage {
                    input_tokens: 1200,
                    output_tokens: 5,
                    cached_input_tokens: 1024
                }
            );
        }

        #[tokio::test]
        async fn server_errors_are_retried_up_to_the_cap() {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(500).set_body_json(error_body(
                    "The server had an error while processing your request.",
                    "server_error",
                    "server_error",
                )))
                .expect(3)
                .mount(&server)
                .await;
            let attempted = call(&server, 2, Duration::from_secs(5)).await;
            assert_eq!(attempted.attempts, 3);
            let err = attempted.result.expect_err("never served");
            assert!(err.to_string().starts_with("HTTP 500"), "{err}");
        }

        #[tokio::test]
        async fn exhausted_quota_is_not_retried() {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(429).set_body_json(error_body(
                    "You exceeded your current quota, please check your plan and billing details.",
                    "insufficient_quota",
                    "insufficient_quota",
                )))
                .expect(1)
                .mount(&server)
                .await;
            let attempted = call(&server, 4, Duration::from_secs(5)).await;
            assert_eq!(attempted.attempts, 1);
            let err = attempted.result.expect_err("quota");
            assert!(err.is_fatal_for_model(), "{err}");
        }

        #[tokio::test]
        async fn a_slow_server_times_out_every_attempt() {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_json(completion_body("late"))
                        .set_delay(Duration::from_secs(30)),
                )
                .mount(&server)
                .await;
            let attempted = call(&server, 1, Duration::from_millis(100)).await;
            assert_eq!(attempted.attempts, 2);
            assert!(matches!(
                attempted.result,
                Err(ProviderError::Timeout(t)) if t == Duration::from_millis(100)
            ));
        }

        #[tokio::test]
        async fn a_malformed_success_body_is_a_decode_error_and_not_retried() {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(
                    ResponseTemplate::new(200).set_body_string("<html>proxy login</html>"),
                )
                .expect(1)
                .mount(&server)
                .await;
            let attempted = call(&server, 3, Duration::from_secs(5)).await;
            let err = attempted.result.expect_err("decode");
            assert!(matches!(err, ProviderError::Decode(_)), "{err}");
            assert!(err.to_string().contains("proxy login"), "{err}");
        }

        #[tokio::test]
        async fn an_empty_answer_cut_by_the_token_limit_is_an_error_not_a_bad_answer() {
            let server = MockServer::start().await;
            let mut body = completion_body("");
            body["choices"][0]["finish_reason"] = json!("length");
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(200).set_body_json(body))
                .mount(&server)
                .await;
            let err = call(&server, 0, Duration::from_secs(5))
                .await
                .result
                .expect_err("no answer");
            assert!(err.to_string().contains("raise `max_tokens`"), "{err}");
        }

        /// OpenAI's 429 for a requests-per-minute limit, with the headers its reference lists,
        /// retried past `max_retries` (rate limits have a time budget, not a count), and the
        /// limiter paced at the stated rate and the token budget.
        #[tokio::test]
        async fn rate_limits_beyond_the_retry_count_are_waited_out_and_the_limits_learned() {
            use crate::provider::ratelimit::HEADROOM;
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path("/v1/chat/completions"))
                .respond_with(
                    ResponseTemplate::new(429)
                        .insert_header("retry-after-ms", "5")
                        .insert_header("x-ratelimit-limit-requests", "1200")
                        .insert_header("x-ratelimit-limit-tokens", "600000")
                        .insert_header("x-ratelimit-remaining-requests", "3")
                        .insert_header("x-ratelimit-remaining-tokens", "599000")
                        .insert_header("x-ratelimit-reset-requests", "50ms")
                        .insert_header("x-ratelimit-reset-tokens", "100ms")
                        .set_body_json(error_body(
                            "Rate limit reached for gpt-4.1-mini in organization org-x on requests per min (RPM): Limit 1200, Used 1200, Requested 1.",
                            "requests",
                            "rate_limit_exceeded",
                        )),
                )
                .up_to_n_times(3)
                .mount(&server)
                .await;
            Mock::given(method("POST"))
                .and(path("/v1/chat/completions"))
                .respond_with(ResponseTemplate::new(200).set_body_json(completion_body("hello")))
                .mount(&server)
                .await;
            let limiter = RateLimiter::new(None, None);
            let policy = RetryPolicy {
                max_retries: 1,
                ..RetryPolicy::default()
            };
            let attempted = call_with(&server, &policy, &limiter, Duration::from_secs(5)).await;
            assert_eq!(attempted.result.expect("served").output, "hello");
            assert_eq!((attempted.attempts, attempted.rate_limited), (4, 3));
            assert_eq!(limiter.rate(), Some(20.0 * HEADROOM));
        }

        /// The prompt's tools go out as `tools` of `{type: "function", function: {...}}` with
        /// `tool_choice`, and `message.tool_calls` (arguments as a JSON string, content null)
        /// come back parsed, an argument string that is not JSON kept as sent.
        #[tokio::test]
        async fn tools_are_sent_and_tool_calls_read_back() {
            let server = MockServer::start().await;
            let parameters = json!({
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"]
            });
            let mut answer = completion_body("");
            answer["choices"][0]["message"] = json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [
                    {"id": "call_abc123", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                    {"id": "call_def456", "type": "function",
                     "function": {"name": "get_time", "arguments": "{\"tz\": "}}
                ],
                "refusal": null,
                "annotations": []
            });
            answer["choices"][0]["finish_reason"] = json!("tool_calls");
            Mock::given(method("POST"))
                .and(path("/v1/chat/completions"))
                .and(body_partial_json(json!({
                    "tools": [{"type": "function", "function": {
                        "name": "get_weather",
                        "description": "Current weather in a city",
                        "parameters": parameters.clone()
                    }}, {"type": "function", "function": {
                        "name": "get_time",
                        "parameters": {"type": "object", "properties": {}}
                    }}],
                    "tool_choice": {"type": "function", "function": {"name": "get_weather"}}
                })))
                .respond_with(ResponseTemplate::new(200).set_body_json(answer))
                .expect(1)
                .mount(&server)
                .await;
            let config = config(Some(format!("{}/v1", server.uri())));
            let provider = OpenAi::new(&config, http_client().expect("client")).expect("build");
            let request = ChatRequest {
                messages: vec![Message {
                    role: Role::User,
                    content: "Weather in Paris?".into(),
                    ..Default::default()
                }],
                params: CallParams {
                    tools: vec![
                        ToolDef {
                            name: "get_weather".into(),
                            description: Some("Current weather in a city".into()),
                            parameters,
                        },
                        ToolDef {
                            name: "get_time".into(),
                            description: None,
                            parameters: json!({"type": "object", "properties": {}}),
                        },
                    ],
                    tool_choice: Some(ToolChoice::Function("get_weather".into())),
                    ..CallParams::default()
                },
                vars: json!({}),
                case_id: "c1".into(),
            };
            let completion = provider.complete(&request).await.expect("answered");
            assert_eq!(completion.output, "");
            assert_eq!(completion.finish_reason.as_deref(), Some("tool_calls"));
            assert_eq!(
                completion.tool_calls,
                vec![
                    ToolCall {
                        id: Some("call_abc123".into()),
                        name: "get_weather".into(),
                        arguments: json!({"city": "Paris"}),
                        raw_arguments: None,
                    },
                    ToolCall {
                        id: Some("call_def456".into()),
                        name: "get_time".into(),
                        arguments: Value::Null,
                        raw_arguments: Some("{\"tz\": ".into()),
                    },
                ]
            );
            assert_eq!(
                display_answer(&completion.output, &completion.tool_calls),
                "get_weather({\"city\":\"Paris\"})\nget_time({\"tz\": ) [arguments are not valid JSON]"
            );
        }

        #[test]
        fn the_tool_choice_modes_are_sent_as_openai_names_them() {
            let config = ProviderConfig {
                model_id: "local".into(),
                kind: ProviderKind::OpenaiCompatible,
                model: "m".into(),
                base_url: Some("http://localhost:1/v1".into()),
                api_key: None,
                headers: BTreeMap::new(),
                query: BTreeMap::new(),
                http: None,
                command: None,
                end_user: None,
            };
            let provider = OpenAi::new(&config, http_client().expect("client")).expect("build");
            for (choice, wire) in [
                (ToolChoice::Auto, json!("auto")),
                (ToolChoice::None, json!("none")),
                (ToolChoice::Required, json!("required")),
            ] {
                let request = ChatRequest {
                    messages: Vec::new(),
                    params: CallParams {
                        tools: vec![ToolDef {
                            name: "f".into(),
                            description: None,
                            parameters: json!({"type": "object"}),
                        }],
                        tool_choice: Some(choice),
                        ..CallParams::default()
                    },
                    vars: json!({}),
                    case_id: "c".into(),
                };
                assert_eq!(sent(&provider, &request)["tool_choice"], wire);
            }
            // No tools: neither field is sent, so requests of tool-less suites are unchanged.
            let plain = ChatRequest {
                messages: Vec::new(),
                params: CallParams::default(),
                vars: json!({}),
                case_id: "c".into(),
            };
            let body = sent(&provider, &plain);
            assert!(body.get("tools").is_none() && body.get("tool_choice").is_none());
        }

        /// `[audit] send_identity` goes out as chat completions' `user`; without it no `user`
        /// is sent at all.
        #[tokio::test]
        async fn the_end_user_is_sent_as_user_only_when_configured() {
            let request = ChatRequest {
                messages: vec![Message {
                    role: Role::User,
                    content: "hi".into(),
                    ..Default::default()
                }],
                params: CallParams::default(),
                vars: json!({}),
                case_id: "c".into(),
            };
            let call = |server: &MockServer, end_user: Option<&str>| {
                let config = ProviderConfig {
                    end_user: end_user.map(str::to_owned),
                    ..config(Some(format!("{}/v1", server.uri())))
                };
                OpenAi::new(&config, http_client().expect("client")).expect("build")
            };

            let with = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path("/v1/chat/completions"))
                .and(body_partial_json(
                    json!({"model": "gpt-4.1-mini", "user": "octocat"}),
                ))
                .respond_with(ResponseTemplate::new(200).set_body_json(completion_body("ok")))
                .expect(1)
                .mount(&with)
                .await;
            let provider = call(&with, Some("octocat"));
            provider.complete(&request).await.expect("completion");

            let without = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path("/v1/chat/completions"))
                .respond_with(ResponseTemplate::new(200).set_body_json(completion_body("ok")))
                .expect(1)
                .mount(&without)
                .await;
            let provider = call(&without, None);
            provider.complete(&request).await.expect("completion");
            let received = without.received_requests().await.expect("recorded");
            let body: Value = serde_json::from_slice(&received[0].body).expect("json");
            assert!(body.get("user").is_none(), "{body}");
            assert!(body.get("metadata").is_none(), "{body}");
        }

        /// A conversation with a function call and its result goes out in the chat-completions
        /// shape: the assistant's `tool_calls` with arguments as a JSON string and a null
        /// content, the `tool` message with its `tool_call_id`.
        #[test]
        fn a_conversation_with_tool_results_is_sent_in_the_documented_shape() {
            use super::conversation;
            let config = config(None);
            let provider = OpenAi::new(&config, http_client().expect("client")).expect("build");
            let request = ChatRequest {
                messages: conversation(),
                params: CallParams::default(),
                vars: json!({}),
                case_id: "c".into(),
            };
            assert_eq!(
                sent(&provider, &request)["messages"],
                json!([
                    {"role": "system", "content": "Use the tools."},
                    {"role": "user", "content": "Weather in Paris?"},
                    {"role": "assistant", "content": null, "tool_calls": [{
                        "id": "call_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}
                    }]},
                    {"role": "tool", "content": "18C, sunny", "tool_call_id": "call_1"},
                    {"role": "user", "content": "And tomorrow?"}
                ])
            );
        }

        #[tokio::test]
        async fn zero_remaining_requests_asks_the_runner_to_hold_off() {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(
                    ResponseTemplate::new(200)
                        .insert_header("x-ratelimit-limit-requests", "500")
                        .insert_header("x-ratelimit-remaining-requests", "0")
                        .insert_header("x-ratelimit-reset-requests", "1.5s")
                        .set_body_json(completion_body("ok")),
                )
                .mount(&server)
                .await;
            let attempted = call(&server, 0, Duration::from_secs(5)).await;
            let completion = attempted.result.expect("served");
            assert_eq!(
                completion.limits.exhausted_for(),
                Some(Duration::from_millis(1500))
            );
            assert_eq!(completion.limits.requests.per_minute, Some(500.0));
        }
    }
}
