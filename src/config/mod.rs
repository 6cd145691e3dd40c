//! The suite: `evalgate.toml` and the files it names, parsed, validated and compiled.
//!
//! Loading is two steps, as in ripgrep and typos: serde structs that mirror the file ([`raw`]),
//! then validation into domain types ([`Suite`]) that the rest of the program can trust. Every
//! problem names its file and line/column or field path; loading collects as many problems as it
//! can so that `evalgate validate` reports them all at once.

mod dataset;
pub mod error;
mod gate;
mod load;
mod model;
pub mod raw;
pub mod schema;

pub use dataset::Case;
pub use error::ConfigErrors;
pub use load::load;

use std::path::PathBuf;
use std::time::Duration;

use crate::check::{Check, CheckSpec};
use crate::provider::{CallParams, ProviderKind, Role};
use crate::results::gate::GateConfig;
use crate::support::template::{TemplateStr, Templates};

/// A loaded, validated suite.
#[derive(Debug)]
pub struct Suite {
    pub name: String,
    /// The suite file as given.
    pub path: PathBuf,
    /// The folder every relative path in the suite resolves against; empty for the current
    /// folder (see [`Suite::dir_or_dot`]).
    pub dir: PathBuf,
    pub defaults: Defaults,
    pub models: Vec<Model>,
    pub prompts: Vec<Prompt>,
    pub datasets: Vec<Dataset>,
    /// Checks applied to every case.
    pub checks: Vec<Check>,
    pub check_specs: Vec<CheckSpec>,
    pub templates: Templates,
    pub gate: GateConfig,
    /// `[gate.override]`: who may accept a failed gate, and with which label.
    pub gate_override: Option<GateOverride>,
    /// Where a run keeps what it writes: its journal, the results file and reports by default,
    /// and the cache and audit log unless `[cache] dir` / `[audit] path` name them. `.evalgate`
    /// next to the suite file, or another folder (`--state-dir`, see [`Suite::set_state_dir`]).
    pub state_dir: PathBuf,
    pub cache_dir: PathBuf,
    /// `[cache] dir` is set: the state folder does not move the cache.
    pub cache_dir_set: bool,
    /// `[audit]`: where every model call is recorded.
    pub audit: crate::privacy::audit::AuditSettings,
    /// `[audit] path` is set: the state folder does not move the audit log.
    pub audit_path_set: bool,
    /// `[redact]`: what is masked in results, reports and the audit log.
    pub redactor: crate::privacy::redact::Redactor,
}

/// `[gate.override]`: a pull request label that one of the `allowed` logins applies to accept a
/// failed gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateOverride {
    pub label: String,
    pub allowed: Vec<String>,
}

impl Suite {
    /// Which models the suite's checks call (judges, embedding models), by model index.
    pub fn models_called_by_checks(&self) -> Vec<bool> {
        let mut called = vec![false; self.models.len()];
        let checks = self.checks.iter().chain(self.datasets.iter().flat_map(|d| {
            d.checks
                .iter()
                .chain(d.cases.iter().flat_map(|c| c.checks.iter()))
        }));
        for check in checks {
            for id in check.models() {
                if let Some(i) = self.models.iter().position(|m| &m.id == id) {
                    called[i] = true;
                }
            }
        }
        called
    }

    /// Moves the state folder to `dir`, and with it the cache and the audit log unless the suite
    /// names them, so a suite in a read-only folder can still run.
    pub fn set_state_dir(&mut self, dir: PathBuf) {
        if !self.cache_dir_set {
            self.cache_dir = dir.join(CACHE_IN_STATE_DIR);
        }
        if !self.audit_path_set {
            self.audit.path = dir.join(AUDIT_IN_STATE_DIR);
        }
        self.state_dir = dir;
    }

    /// The suite's folder, as `.` rather than empty, for programs that need a real path.
    pub fn dir_or_dot(&self) -> &std::path::Path {
        if self.dir.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            &self.dir
        }
    }
}

/// The state folder, relative to the suite file's folder, unless `--state-dir` moves it.
pub const DEFAULT_STATE_DIR: &str = ".evalgate";
/// The cache folder and the audit log in the state folder, unless the suite names them.
const CACHE_IN_STATE_DIR: &str = "cache";
const AUDIT_IN_STATE_DIR: &str = "audit.jsonl";

#[derive(Debug, Clone)]
pub struct Defaults {
    pub repeats: u32,
    pub threshold: Option<f64>,
}

/// A configured model: who to call and how.
#[derive(Debug, Clone)]
pub struct Model {
    pub id: String,
    pub kind: ProviderKind,
    /// The model name sent to the API.
    pub model: String,
    pub base_url: Option<String>,
    /// The NAME of the environment variable holding the key; never the key.
    pub api_key_env: Option<String>,
    /// Whether a missing key is an error (true for hosted APIs, false for local servers).
    pub key_required: bool,
    /// Header values may reference `${ENV}` variables; resolved only when the run starts.
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub params: CallParams,
    pub price: Option<Price>,
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    pub concurrency: usize,
    pub timeout: Duration,
    pub max_retries: u32,
    /// How long one call keeps retrying after rate limits (429s) before it errors.
    pub rate_limit_wait: Duration,
    pub http: Option<crate::provider::HttpSpec>,
    pub command: Option<Vec<String>>,
    /// Only grades (judge, embeddings): never a cell unless a prompt lists it.
    pub grader_only: bool,
    /// Its graded calls go through the provider's batch API (`batch = true`, or `run --batch`
    /// for a kind that has one); judge calls stay direct.
    pub batch: bool,
}

/// Prices in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    pub cached_input_per_mtok: f64,
    /// The share taken off for a call answered through a batch.
    pub batch_discount: f64,
}

/// OpenAI's and Anthropic's batch APIs both charge half the list price.
pub const DEFAULT_BATCH_DISCOUNT: f64 = 0.5;

impl Price {
    /// What a call with `usage` costs: at the list price, or at the batch price when it was
    /// answered through a batch.
    pub fn cost_of(&self, usage: &crate::provider::Usage, batched: bool) -> f64 {
        let list = self.cost(usage);
        if batched {
            list * (1.0 - self.batch_discount)
        } else {
            list
        }
    }

    pub fn cost(&self, usage: &crate::provider::Usage) -> f64 {
        let cached = usage.cached_input_tokens.min(usage.input_tokens);
        let uncached = usage.input_tokens - cached;
        (uncached as f64 * self.input_per_mtok
            + cached as f64 * self.cached_input_per_mtok
            + usage.output_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

/// A named prompt: chat messages rendered from the case's variables.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub id: String,
    pub messages: Vec<(Role, TemplateStr)>,
    /// The template sources, for fingerprints.
    pub sources: Vec<(Role, String)>,
    /// Models this prompt runs on (indexes into `Suite::models`).
    pub models: Vec<usize>,
    /// Functions the model may call, sent with every call of this prompt.
    pub tools: Vec<crate::provider::ToolDef>,
    pub tool_choice: Option<crate::provider::ToolChoice>,
    /// Written with `system` and no `user`: every case fed to it must bring its conversation
    /// (`messages`).
    pub needs_case_messages: bool,
}

#[derive(Debug)]
pub struct Dataset {
    pub id: String,
    pub cases: Vec<Case>,
    /// Prompts this dataset feeds (indexes into `Suite::prompts`).
    pub prompts: Vec<usize>,
    /// Checks applied to every case of this dataset.
    pub checks: Vec<Check>,
    pub check_specs: Vec<CheckSpec>,
}

pub const DEFAULT_CONFIG: &str = "evalgate.toml";
pub const DEFAULT_CONCURRENCY: usize = 8;
pub const DEFAULT_TIMEOUT_S: f64 = 60.0;
pub const DEFAULT_MAX_RETRIES: u32 = 6;
/// The most `concurrency` and `repeats` taken, in the suite file and on the command line alike.
pub const MAX_CONCURRENCY: u32 = 10_000;
pub const MAX_REPEATS: u32 = 1_000;
/// The longest `rate_limit_wait_s` and `timeout_s` taken: a day.
pub const MAX_WAIT_S: f64 = 86_400.0;
