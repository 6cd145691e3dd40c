//! Model providers: one trait, one file per wire protocol, and the retry loop they share.
//!
//! A provider performs exactly one attempt per [`Provider::complete`] call; retries, backoff and
//! rate limiting live in [`retry`] and [`ratelimit`] so every protocol behaves the same way.

pub mod anthropic;
pub mod batch;
pub mod command;
pub mod embeddings;
pub mod http;
pub mod limits;
pub mod openai;
pub mod ratelimit;
pub mod retry;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use crate::privacy::secrets::Secret;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One chat message, as rendered from a prompt template (or taken from a case's `messages`) and
/// sent to a model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// For a `tool` message: the id of the call it answers. Left out of the serialized form when
    /// absent, so cache keys of conversations without tools stay what they were.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tool_call_id: Option<String>,
    /// For an `assistant` message in a case's history: the calls it made.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tool_calls: Vec<ToolCall>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    #[default]
    User,
    Assistant,
    /// A function's result, answering an earlier assistant tool call.
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// Sampling parameters of a call. `None` means "let the server decide" and is not sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub stop: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Extra top-level body fields merged into the request as-is (`extra_body` in the config).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty", default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Functions the model may call (the prompt's `tools`). Left out of the serialized form when
    /// empty, so cache keys of suites without tools stay what they were.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tools: Vec<ToolDef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tool_choice: Option<ToolChoice>,
}

/// A function the model may call: the same three fields in OpenAI's `function` object and in
/// Anthropic's tool (where `parameters` is named `input_schema`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    /// A JSON Schema for the arguments object.
    pub parameters: serde_json::Value,
}

/// Whether, and which, function the model must call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoice {
    /// The model decides (both APIs' default when tools are given).
    Auto,
    /// No call, even though tools are described.
    None,
    /// At least one call (Anthropic's `any`).
    Required,
    /// This function.
    Function(String),
}

/// A function call in a model's answer: OpenAI's `message.tool_calls[]`, Anthropic's `tool_use`
/// content blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's call id (`call_...`, `toolu_...`), which a later `tool` message answers.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    pub name: String,
    /// The arguments, parsed; `null` when the model sent text that is not JSON (see `raw_arguments`).
    #[serde(default)]
    pub arguments: serde_json::Value,
    /// The arguments exactly as sent, kept only when they are not valid JSON.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub raw_arguments: Option<String>,
}

impl ToolCall {
    /// A call whose arguments arrive as a JSON string (OpenAI's `function.arguments`).
    pub fn from_json_text(id: Option<String>, name: String, text: &str) -> ToolCall {
        match serde_json::from_str(text) {
            Ok(arguments) => ToolCall {
                id,
                name,
                arguments,
                raw_arguments: None,
            },
            Err(_) => ToolCall {
                id,
                name,
                arguments: serde_json::Value::Null,
                raw_arguments: Some(text.to_owned()),
            },
        }
    }

    /// `get_weather({"city":"Paris"})`: how reports and reasons show a call. Arguments that are
    /// not JSON are shown as sent, marked.
    pub fn display(&self) -> String {
        match &self.raw_arguments {
            Some(raw) => format!("{}({raw}) [arguments are not valid JSON]", self.name),
            None => format!("{}({})", self.name, self.arguments),
        }
    }
}

/// What an answer shows a reader: its text, its tool calls one per line, or both (text first).
pub fn display_answer(text: &str, calls: &[ToolCall]) -> String {
    if calls.is_empty() {
        return text.to_owned();
    }
    let calls = calls
        .iter()
        .map(ToolCall::display)
        .collect::<Vec<_>>()
        .join("\n");
    if text.is_empty() {
        calls
    } else {
        format!("{text}\n\n{calls}")
    }
}

/// What a provider is asked to complete.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub params: CallParams,
    /// The case's variables, for providers whose request is a template (`http`, `command`, see
    /// [`ProviderKind::sees_case_vars`]); `null` for the others, which never read them.
    pub vars: serde_json::Value,
    pub case_id: String,
}

/// Token usage as the provider reported it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Prompt tokens served from the provider's prompt cache (OpenAI `cached_tokens`,
    /// Anthropic `cache_read_input_tokens`); a subset of `input_tokens`.
    #[serde(default)]
    pub cached_input_tokens: u64,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub output: String,
    /// Functions the model called, in answer order. Stored with the response (cache, journal)
    /// so a replay reproduces them.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub finish_reason: Option<String>,
    /// What the response's headers said about the server's rate limits. Not persisted.
    #[serde(skip)]
    pub limits: limits::ServerLimits,
}

/// Why one attempt failed. `Display` never includes a secret: messages come from the server's
/// error body and are passed through the secret redactor before they are stored or printed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// The server answered with a non-success status.
    #[error("HTTP {status}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status {
        status: u16,
        /// The provider's machine-readable error code or type (`insufficient_quota`, `overloaded_error`).
        code: Option<String>,
        message: String,
        /// From `retry-after-ms` / `retry-after`.
        retry_after: Option<Duration>,
        /// From `x-should-retry`, which overrides the status-based decision when present.
        should_retry: Option<bool>,
        /// What the error's headers said about the server's rate limits.
        limits: limits::ServerLimits,
    },
    /// No connection could be made, or it broke before a full response arrived.
    #[error("connection failed: {0}")]
    Connect(String),
    /// One attempt took longer than `timeout_s`.
    #[error("no response within {0:?}")]
    Timeout(Duration),
    /// A success status with a body that is not what the protocol promises.
    #[error("unexpected response body: {0}")]
    Decode(String),
    /// The `command` provider's program failed.
    #[error("{0}")]
    Command(String),
}

impl ProviderError {
    /// Whether a later attempt may succeed, as the official OpenAI and Anthropic SDKs decide:
    /// 408, 409, 429, 5xx (529 included) and connection errors, unless the server said otherwise
    /// or the 429 is an exhausted quota, which waiting does not fix.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::Status {
                status,
                code,
                should_retry,
                message,
                ..
            } => {
                if is_quota_exhausted(*status, code.as_deref(), message) {
                    return false;
                }
                if let Some(explicit) = should_retry {
                    return *explicit;
                }
                matches!(status, 408 | 409 | 429) || *status >= 500
            }
            ProviderError::Connect(_) | ProviderError::Timeout(_) => true,
            ProviderError::Decode(_) | ProviderError::Command(_) => false,
        }
    }

    /// Whether every later call to the same model will fail the same way (bad key, unknown model,
    /// exhausted quota), so the runner stops calling it instead of failing thousands of cases one
    /// by one.
    pub fn is_fatal_for_model(&self) -> bool {
        match self {
            ProviderError::Status {
                status,
                code,
                message,
                ..
            } => {
                matches!(status, 401 | 403 | 404)
                    || is_quota_exhausted(*status, code.as_deref(), message)
            }
            _ => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

fn is_quota_exhausted(status: u16, code: Option<&str>, message: &str) -> bool {
    status == 429
        && (matches!(
            code,
            Some(
                "insufficient_quota"
                    | "billing_hard_limit_reached"
                    | "enforced_spend_limit_reached"
            )
        ) || message.contains("exceeded your current quota"))
}

/// One wire protocol. Implementations make a single attempt and classify failures precisely.
pub trait Provider: Send + Sync + std::fmt::Debug {
    fn complete<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>>;

    /// The protocol's batch API, when it has one (OpenAI's Batch API, Anthropic's Message
    /// Batches): see [`batch`].
    fn batch(&self) -> Option<&dyn batch::BatchApi> {
        None
    }
}

impl ProviderKind {
    /// Whether the kind has a batch API evalgate can use (`batch = true`, `run --batch`). An
    /// `openai-compatible` server may not implement it: its first batch then fails, saying so.
    pub fn has_batch_api(self) -> bool {
        matches!(
            self,
            ProviderKind::Openai | ProviderKind::OpenaiCompatible | ProviderKind::Anthropic
        )
    }
}

/// Which protocol a model speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    Openai,
    OpenaiCompatible,
    Anthropic,
    Http,
    Command,
}

impl ProviderKind {
    /// Whether a request of this kind is built from the case's variables and id too (the `http`
    /// body is a template over them, a `command` program reads them), not only from the rendered
    /// messages: only these requests carry them ([`ChatRequest::vars`]).
    pub fn sees_case_vars(self) -> bool {
        matches!(self, ProviderKind::Http | ProviderKind::Command)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::OpenaiCompatible => "openai-compatible",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Http => "http",
            ProviderKind::Command => "command",
        }
    }
}

/// Settings of the `http` provider: a team's own endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpSpec {
    pub url: String,
    pub method: String,
    /// The JSON body; every string in it is a template. A string that is exactly one
    /// `{{ expression }}` is replaced by the expression's value (so `"{{ messages }}"` inserts an
    /// array, not its text).
    pub body: serde_json::Value,
    /// JSON pointer (RFC 6901) to the answer text in the response body.
    pub output_pointer: String,
    pub input_tokens_pointer: Option<String>,
    pub output_tokens_pointer: Option<String>,
}

/// Settings of the `command` provider.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandSpec {
    pub argv: Vec<String>,
    /// Working directory: the suite file's folder.
    pub cwd: PathBuf,
}

/// Everything needed to build a provider for one configured model. Secrets are already resolved
/// from the environment and wrapped so they cannot be printed by accident.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub model_id: String,
    pub kind: ProviderKind,
    /// The model name sent to the API.
    pub model: String,
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    /// Extra headers; values may hold secrets taken from `${ENV}` references.
    pub headers: BTreeMap<String, Secret>,
    /// Extra query parameters (e.g. Azure's `api-version`).
    pub query: BTreeMap<String, String>,
    pub http: Option<HttpSpec>,
    pub command: Option<CommandSpec>,
    /// Who the calls are made for, sent as OpenAI's `user` and Anthropic's `metadata.user_id`
    /// when `[audit] send_identity = true`; `None` (nothing sent) by default. Not part of the
    /// request the cache key hashes: it says who asked, not what was asked.
    pub end_user: Option<String>,
}

/// Builds the provider for a model. Shares one HTTP client (connection pool) across models.
pub fn build(
    config: &ProviderConfig,
    client: &reqwest::Client,
) -> Result<Box<dyn Provider>, BuildError> {
    Ok(match config.kind {
        ProviderKind::Openai | ProviderKind::OpenaiCompatible => {
            Box::new(openai::OpenAi::new(config, client.clone())?)
        }
        ProviderKind::Anthropic => Box::new(anthropic::Anthropic::new(config, client.clone())?),
        ProviderKind::Http => Box::new(http::HttpProvider::new(config, client.clone())?),
        ProviderKind::Command => Box::new(command::CommandProvider::new(config)?),
    })
}

/// A provider that cannot be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[error("model `{model_id}`: {message}")]
pub struct BuildError {
    pub model_id: String,
    pub message: String,
}

/// The shared HTTP client: rustls with the ring provider, connection pooling, no global timeout
/// (each attempt has its own).
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    // Installing twice is harmless: the second call returns an error we ignore.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("evalgate/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()
}
