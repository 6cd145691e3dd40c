//! The suite file as written: serde structs that mirror the TOML one to one, with unknown keys
//! rejected. Validation into domain types happens in [`super::load`].

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::check::CheckSpec;
use crate::provider::ProviderKind;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSuite {
    pub suite: RawSuiteMeta,
    #[serde(default)]
    pub defaults: RawDefaults,
    #[serde(default)]
    pub models: IndexMap<String, RawModel>,
    #[serde(default)]
    pub prompts: IndexMap<String, RawPrompt>,
    #[serde(default)]
    pub datasets: IndexMap<String, RawDataset>,
    #[serde(default)]
    pub checks: Vec<CheckSpec>,
    #[serde(default)]
    pub gate: RawGate,
    #[serde(default)]
    pub cache: RawCache,
    #[serde(default)]
    pub audit: RawAudit,
    #[serde(default)]
    pub redact: RawRedact,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSuiteMeta {
    pub name: String,
    /// For people reading the suite file; accepted so that it is not an unknown key.
    #[serde(default)]
    #[expect(dead_code, reason = "read by people, not by evalgate")]
    pub description: Option<String>,
}

/// Call settings shared by every model unless it overrides them.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub top_p: Option<f64>,
    pub stop: Option<Vec<String>>,
    pub seed: Option<u64>,
    pub repeats: Option<u32>,
    pub timeout_s: Option<f64>,
    pub concurrency: Option<usize>,
    pub max_retries: Option<u32>,
    pub rate_limit_wait_s: Option<f64>,
    /// Default case threshold: a case passes when its weighted check score reaches it.
    pub threshold: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub provider: ProviderKind,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    #[serde(default)]
    pub query: IndexMap<String, String>,
    pub price: Option<RawPrice>,
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    pub concurrency: Option<usize>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub top_p: Option<f64>,
    pub stop: Option<Vec<String>>,
    pub seed: Option<u64>,
    pub timeout_s: Option<f64>,
    pub max_retries: Option<u32>,
    pub rate_limit_wait_s: Option<f64>,
    pub extra_body: Option<serde_json::Map<String, serde_json::Value>>,
    // provider = "http"
    pub url: Option<String>,
    pub method: Option<String>,
    pub body: Option<serde_json::Value>,
    pub output_pointer: Option<String>,
    pub input_tokens_pointer: Option<String>,
    pub output_tokens_pointer: Option<String>,
    // provider = "command"
    pub command: Option<Vec<String>>,
    /// The model only grades (an `llm-judge` judge, a `similar` embedding model): it is not a
    /// cell of its own.
    pub grader_only: Option<bool>,
    /// Send this model's graded calls through the provider's batch API (OpenAI Batch, Anthropic
    /// Message Batches): answered within 24 hours, at the batch discount (`price.batch_discount`).
    /// `openai`, `openai-compatible` (when the server implements it) and `anthropic` only.
    pub batch: Option<bool>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPrice {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    /// Price of prompt tokens served from the provider's prompt cache; defaults to the input price.
    pub cached_input_per_mtok: Option<f64>,
    /// The share taken off these prices for calls sent through a batch (`batch = true`, `run
    /// --batch`): from 0 to 1, default 0.5 (OpenAI's and Anthropic's batch price is half).
    pub batch_discount: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPrompt {
    pub system: Option<String>,
    pub user: Option<String>,
    pub messages: Option<Vec<RawMessage>>,
    pub file: Option<String>,
    /// Restrict this prompt to some models (default: every model).
    pub models: Option<Vec<String>>,
    /// Functions the model may call: `[[prompts.NAME.tools]]`.
    pub tools: Option<Vec<RawTool>>,
    /// `auto`, `none`, `required`, or the name of one of `tools`.
    pub tool_choice: Option<String>,
}

/// A tool: `name`, `description`, `parameters` directly, or OpenAI's shape
/// (`type = "function"`, `function = { name, description, parameters }`) pasted as is.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTool {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub function: Option<RawFunction>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub parameters: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFunction {
    pub name: String,
    pub description: Option<String>,
    pub parameters: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMessage {
    pub role: String,
    pub content: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDataset {
    pub file: Option<String>,
    pub cases: Option<Vec<serde_json::Value>>,
    /// How the rows are written: evalgate's case rows (the default), or OpenAI evals samples
    /// (`input` messages, `ideal` answer or answers).
    #[serde(default)]
    pub format: DatasetFormat,
    /// Restrict this dataset to some prompts (default: every prompt).
    pub prompts: Option<Vec<String>>,
    /// Checks applied to every case of this dataset, on top of the suite's `[[checks]]`.
    #[serde(default)]
    pub checks: Vec<CheckSpec>,
}

/// The shape of a dataset's rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetFormat {
    /// evalgate's rows: `id`, `vars` (or plain variables), `expected`, `messages`, `checks`...
    #[default]
    Cases,
    /// OpenAI evals samples: `input` (a list of `{role, content}`, or one user message as a
    /// string) becomes the case's conversation, `ideal` its `expected`; other keys are vars.
    OpenaiEvals,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGate {
    pub min_pass_rate: Option<f64>,
    pub max_error_rate: Option<f64>,
    pub confidence: Option<f64>,
    #[serde(default)]
    pub metrics: IndexMap<String, RawMetricGate>,
    #[serde(default)]
    pub cost: RawCostGate,
    #[serde(default)]
    pub latency: RawLatencyGate,
    /// `[gate.override]`: a label that an allowed user applies to accept a failed gate.
    #[serde(default, rename = "override")]
    pub override_label: Option<RawOverride>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOverride {
    /// The pull request label, e.g. `evalgate: accept-regression`.
    pub label: String,
    /// Logins allowed to accept a regression with it.
    pub allowed: Vec<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMetricGate {
    pub min: Option<f64>,
    pub max_drop: Option<f64>,
    pub policy: Option<String>,
    pub confidence: Option<f64>,
    pub measure: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCostGate {
    pub max_usd: Option<f64>,
    pub max_increase: Option<f64>,
    /// Spend cap of one run in US dollars: no new model call starts once the run has spent this
    /// much; the run then ends with exit code 3 and resumes from its journal. `run --max-cost`
    /// replaces it.
    pub max_run_usd: Option<f64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLatencyGate {
    pub max_p95_ms: Option<u64>,
    pub max_increase: Option<f64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    /// Where responses are cached, relative to the suite file (default `.evalgate/cache`).
    pub dir: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    /// The audit log, relative to the suite file (default `.evalgate/audit.jsonl`).
    pub path: Option<String>,
    /// Written on every audit line, for chargeback.
    pub cost_center: Option<String>,
    /// Send who runs the suite to the providers with each call: the audit `actor` (or
    /// `identity`) as OpenAI's `user` and Anthropic's `metadata.user_id`. Off by default.
    #[serde(default)]
    pub send_identity: bool,
    /// A fixed value to send instead of the CI actor when `send_identity = true` (a team name,
    /// an opaque id). Never a secret: it is sent as is, with no `${ENV}` expansion.
    pub identity: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRedact {
    /// Built-in kinds to mask (`email`, `phone`, `card`, `iban`, `ssn`, `api-key`, `jwt`), or
    /// `all`.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Custom regexes to mask.
    #[serde(default)]
    pub patterns: Vec<String>,
}
