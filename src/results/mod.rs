//! The results file: the typed record of a run and the source of truth for every report.
//!
//! Reports (terminal, JUnit, markdown) are views computed from these types; nothing here knows
//! how it will be displayed. The JSON layout is versioned by [`SCHEMA_VERSION`] and documented
//! field by field in `docs/results-format.md`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::provider::{Message, ToolCall};

pub mod calls;
pub mod file;
pub mod gate;

pub use calls::Calls;

/// The metric every call feeds: whether the case passed. Always present in `metrics`.
pub const PASS_RATE_METRIC: &str = "pass_rate";

/// Bumped on any change a reader of an older version would misread.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub schema_version: u32,
    pub run: RunInfo,
    pub summary: Summary,
    /// Per metric, over all cells. `pass_rate` is always present: the share of cases that passed.
    pub metrics: BTreeMap<String, MetricSummary>,
    pub cells: Vec<CellSummary>,
    pub verdict: Verdict,
    /// The case-by-case comparison with a baseline run; absent when the run had no baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// One entry per call (cell × case × repeat), in plan order: cells as configured, cases in
    /// dataset order, repeats ascending. The order does not depend on timing or resumption.
    /// Read one at a time from wherever they are (see [`calls`]); last in the file, so that
    /// everything else can be read first.
    pub results: Calls,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub evalgate_version: String,
    pub suite: String,
    /// The suite file, as given on the command line.
    pub config_path: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitInfo>,
    /// Hash of everything in the suite that determines results.
    pub config_fingerprint: String,
    pub repeats: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Cache mode used: `rw`, `refresh`, `off` or `offline`.
    pub cache: String,
    /// The `[gate]` this run was judged by, so `evalgate compare` can judge from the files
    /// alone. Absent in files written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<gate::GateConfig>,
    /// What `[redact]` masked in this file's free text: kind names and `pattern:REGEX`. Empty
    /// when nothing is redacted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redacted: Vec<String>,
    /// Which slice of the suite this file holds, for a `run --shard I/N`; absent for a whole run
    /// (and in a file `evalgate merge` wrote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
}

/// A shard run's place in the whole run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// From 1 to `count`, as given to `--shard`.
    pub index: u32,
    pub count: u32,
    /// One per (cell, case) of `results`, in order: the case's position among all the suite's
    /// cases (datasets in order, cases in file order). `merge` sorts by it to restore the order
    /// of a whole run without the suite file.
    pub positions: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitInfo {
    pub sha: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Whether the work tree had uncommitted changes.
    pub dirty: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Distinct cases (cell × case id), repeats counted once.
    pub cases: u64,
    /// Calls made or replayed: cases × repeats.
    pub calls: u64,
    pub passed: u64,
    pub failed: u64,
    pub errored: u64,
    /// passed / (passed + failed): errored calls are not graded and are counted in `error_rate`.
    pub pass_rate: f64,
    /// errored / calls.
    pub error_rate: f64,
    /// What the calls cost at the configured prices, whether paid now or replayed from the cache.
    pub cost_usd: f64,
    /// What this run paid: calls not served from the response cache, including those an
    /// interrupted attempt of the same run paid for and the journal replayed.
    pub spent_usd: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_hits: u64,
    pub latency_p50_ms: u64,
    pub latency_p95_ms: u64,
    /// Calls made by checks (llm-judge, similar), reported apart; their cost is also included in
    /// `cost_usd` and `spent_usd` (and so in the gate's cost).
    #[serde(default, skip_serializing_if = "JudgeUsage::is_empty")]
    pub judge: JudgeUsage,
    /// How much the providers' rate limits held the run back; absent when they did not.
    #[serde(default, skip_serializing_if = "RateLimited::is_empty")]
    pub rate_limited: RateLimited,
}

/// What rate limits cost a call, or a run: attempts the server rejected with a 429 (retried, not
/// errors) and time spent waiting for the pace or out a 429.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimited {
    pub rejected: u64,
    pub waited_ms: u64,
}

impl RateLimited {
    pub fn is_empty(&self) -> bool {
        *self == RateLimited::default()
    }

    pub fn add(&mut self, other: &RateLimited) {
        self.rejected += other.rejected;
        self.waited_ms += other.waited_ms;
    }
}

/// Model calls made by model-graded checks (llm-judge samples, `similar` embeddings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JudgeUsage {
    /// Calls made or replayed.
    pub calls: u64,
    /// Of which served from the response cache.
    pub cache_hits: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    /// At the judge models' configured prices, cached calls included.
    pub cost_usd: f64,
    /// Calls not served from the cache.
    pub spent_usd: f64,
}

impl JudgeUsage {
    pub fn is_empty(&self) -> bool {
        self.calls == 0
    }

    pub fn add(&mut self, other: &JudgeUsage) {
        self.calls += other.calls;
        self.cache_hits += other.cache_hits;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
        self.cost_usd += other.cost_usd;
        self.spent_usd += other.spent_usd;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// Share of graded cases whose checks for this metric all passed (a case's value is its mean
    /// over repeats).
    pub mean: f64,
    /// Graded cases (repeats counted once).
    pub n: u64,
    /// Wilson score interval at `confidence`.
    pub ci_low: f64,
    pub ci_high: f64,
    /// Two-sided confidence of the interval (the gate's `confidence`), e.g. 0.95.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Mean of the weighted check scores in [0, 1] (partial credit from similarity and the like).
    pub score_mean: f64,
}

fn default_confidence() -> f64 {
    0.95
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellSummary {
    /// `PROMPT/MODEL`.
    pub id: String,
    pub prompt: String,
    pub model: String,
    pub provider: String,
    /// The model name sent to the API.
    pub model_name: String,
    /// Hash of everything that determines this cell's results.
    pub fingerprint: String,
    pub summary: Summary,
    /// Not run: its fingerprint equals the baseline's, so its results were taken from there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
    /// The prompt's first message varies between cases within its first 1,024 characters while
    /// a later message is static: the providers' prompt caches, which reuse a common prefix,
    /// cannot serve it (see `plan::variable_prefix`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub variable_prefix: bool,
    /// The cell's calls were sent through the provider's batch API (`batch = true`, `run
    /// --batch`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub batch: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub status: Status,
    /// Every rule that was evaluated, passed or not, in a stable order.
    pub rules: Vec<RuleOutcome>,
    /// One sentence per failed rule: the messages a reviewer reads.
    pub reasons: Vec<String>,
    /// A failed gate accepted through `[gate.override]`: the status stays `fail`, the exit code
    /// is 0, and who accepted it is on record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Acceptance>,
}

/// Who accepted a failed gate, with which label, and when they applied it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acceptance {
    pub by: String,
    pub label: String,
    /// RFC 3339, when the label was applied.
    pub at: String,
}

/// What a gate rule looks at: `fail_on: threshold` fails only on absolute rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleScope {
    /// A floor or ceiling on this run alone (`min_pass_rate`, `metrics.NAME.min`,
    /// `max_error_rate`, `cost.max_usd`, `latency.max_p95_ms`).
    #[default]
    Absolute,
    /// The change against the baseline (`metrics.NAME.max_drop`, `cost.max_increase`,
    /// `latency.max_increase`).
    Baseline,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleOutcome {
    /// e.g. `min_pass_rate`, `metrics.accuracy.min`, `max_error_rate`, `cost.max_usd`.
    pub rule: String,
    /// Whether the rule judged this run alone or its change against the baseline.
    #[serde(default)]
    pub scope: RuleScope,
    pub status: Status,
    pub actual: f64,
    pub threshold: f64,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallResult {
    /// `PROMPT/MODEL`.
    pub cell: String,
    pub case_id: String,
    pub repeat: u32,
    pub vars: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub messages: Vec<Message>,
    /// The model's answer; `null` when the call errored.
    pub output: Option<String>,
    /// Functions the model called, in answer order; absent when it called none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    pub checks: Vec<CheckResult>,
    /// Weighted mean of the check scores.
    pub score: f64,
    /// Passed every check (or reached the case threshold). Always false when errored.
    pub passed: bool,
    /// Why the call could not be graded: a provider failure or a check that could not run.
    pub error: Option<String>,
    pub latency_ms: u64,
    pub tokens: Tokens,
    pub cost_usd: f64,
    /// Served from the response cache: no call was made and nothing was paid.
    pub cached: bool,
    /// HTTP attempts made (0 when cached).
    pub attempts: u32,
    /// Calls the checks made to grade this output (judges, embeddings); not in `cost_usd`,
    /// `tokens` or `attempts`, which describe the graded call only.
    #[serde(default, skip_serializing_if = "JudgeUsage::is_empty")]
    pub judge: JudgeUsage,
    /// How much rate limits held this call back (the graded call and its checks' calls).
    #[serde(default, skip_serializing_if = "RateLimited::is_empty")]
    pub rate_limited: RateLimited,
    /// The answer was bought through a provider's batch API (`cost_usd` is then the batch
    /// price); absent for a direct call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchUse>,
}

/// How a call answered through a provider's batch API was bought.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchUse {
    /// The provider's batch id (`batch_…` for OpenAI, `msgbatch_…` for Anthropic).
    pub id: String,
    /// What the answer would have cost at the model's list price, without the batch discount.
    pub list_cost_usd: f64,
}

impl CallResult {
    pub fn is_errored(&self) -> bool {
        self.error.is_some()
    }

    /// The answer as reports show it: the text, then the tool calls one per line
    /// (`get_weather({"city":"Paris"})`); `None` when the call errored.
    pub fn shown_output(&self) -> Option<String> {
        self.output
            .as_deref()
            .map(|text| crate::provider::display_answer(text, &self.tool_calls))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cached_input: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    #[serde(rename = "type")]
    pub kind: String,
    pub metric: String,
    pub weight: f64,
    pub score: f64,
    pub passed: bool,
    pub reason: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub errored: bool,
    /// For `llm-judge`: the prompt the judge was sent and what each sample answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeRecord>,
}

/// What an `llm-judge` check asked and was answered. Judge answers are untrusted text, shown
/// like model output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeRecord {
    /// The judge model's id in the suite.
    pub model: String,
    /// The messages sent to the judge (identical for every sample).
    pub prompt: Vec<Message>,
    pub samples: Vec<JudgeSample>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeSample {
    /// The judge's raw answer; empty when the call failed.
    pub output: String,
    /// The score read from the answer, on the check's scale, before mapping to [0, 1]; absent
    /// when no score could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The judge's reason, or why no score could be read.
    pub reason: String,
    pub cached: bool,
}

/// The comparison of this run (head) with a baseline run (base) of the same suite: cases paired
/// by (cell, case id), one statistical test per gated metric, and what changed. The rules it
/// decides are also listed in [`Verdict::rules`]; this is the evidence behind them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub baseline: BaselineInfo,
    /// Every cell of either run, in head order then removed cells in base order.
    pub cells: Vec<CellComparison>,
    /// One entry per gated metric (`[gate.metrics.NAME]`) and `pass_rate`, in gate order.
    pub metrics: Vec<MetricComparison>,
    /// Every case that is not unchanged: regressed, improved, new or removed, in head plan
    /// order then removed cases in base order.
    pub cases: Vec<CaseComparison>,
    /// Paired cases whose score and pass state did not change.
    pub unchanged: u64,
    /// Cases in both runs that could not be paired because every repeat errored on one side:
    /// an outage is never a regression, so they are counted here and nowhere else.
    #[serde(default)]
    pub unpaired_errored: u64,
    /// Cases whose repeats disagree (some passed, some failed), in either run.
    pub flaky: Vec<FlakyCase>,
    /// Cost per case in USD at the configured prices (cached calls included), so runs of
    /// different sizes compare.
    pub cost: QuantityComparison,
    /// p95 latency of measured (not cached, not errored) calls, in ms; 0 when none.
    pub latency_p95_ms: QuantityComparison,
    /// Input and output tokens per case.
    pub input_tokens: QuantityComparison,
    pub output_tokens: QuantityComparison,
}

impl Comparison {
    /// Distinct cases with a flaky side: `flaky` lists a case once per side whose repeats
    /// disagree, so a case flaky on both sides is one case, not two.
    pub fn flaky_cases(&self) -> usize {
        let mut cases: Vec<(&str, &str)> = self
            .flaky
            .iter()
            .map(|f| (f.cell.as_str(), f.case_id.as_str()))
            .collect();
        cases.sort_unstable();
        cases.dedup();
        cases.len()
    }
}

/// Where the baseline came from and what it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineInfo {
    /// The baseline results file, as given (or how it was obtained).
    pub source: String,
    pub suite: String,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitInfo>,
    pub config_fingerprint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellChange {
    /// Same fingerprint in both runs: nothing the cell depends on changed.
    Unchanged,
    /// Present in both runs with different fingerprints.
    Changed,
    /// Only in head.
    New,
    /// Only in base.
    Removed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellComparison {
    /// `PROMPT/MODEL`.
    pub id: String,
    pub change: CellChange,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_fingerprint: Option<String>,
    /// The cell's pass rate paired case by case, when it ran in both runs: which cell moved,
    /// where a metric pooled over several cells can hide one model's regression. Informational;
    /// the gate judges the metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_rate: Option<CellDelta>,
}

/// One cell's paired pass-rate change, estimated like a gated metric (same method, the pass
/// rate's `max_drop` and confidence), without multiplicity correction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellDelta {
    /// Cases graded in both runs.
    pub pairs: u64,
    pub base: f64,
    pub head: f64,
    pub delta: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// The cell on its own dropped by more than the pass rate's `max_drop` (0 when unset) with
    /// the gate's confidence: the upper end of the interval is below it.
    pub dropped: bool,
}

/// The paired method used for a metric's interval and p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestMethod {
    /// Pass/fail data (every paired value 0 or 1): Newcombe's interval for the paired
    /// difference, with the exact McNemar test on discordant pairs reported beside it.
    McnemarExact,
    /// Paired t on per-case differences (repeat means), unless the bootstrap's conditions hold.
    PairedT,
    /// Seeded paired bootstrap of per-case differences: heavily skewed differences (|skewness|
    /// > 1) with at least 30 pairs.
    PairedBootstrap,
    /// Fewer than two pairs: nothing can be tested.
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricComparison {
    pub metric: String,
    /// Cases graded in both runs for this metric.
    pub pairs: u64,
    /// Means over the paired cases.
    pub base: f64,
    pub head: f64,
    /// head − base.
    pub delta: f64,
    /// Two-sided interval for `delta` at `confidence`.
    pub ci_low: f64,
    pub ci_high: f64,
    pub confidence: f64,
    pub method: TestMethod,
    /// What was paired per case: the pass share (`pass-rate`, the default, left out of the
    /// file) or the mean check score (`score`).
    #[serde(default, skip_serializing_if = "gate::Measure::is_pass_rate")]
    pub measure: gate::Measure,
    /// p-value of the policy's one-sided test, before and after Holm correction across the gated
    /// metrics; absent when the metric has no `max_drop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_adjusted: Option<f64>,
    /// Exact two-sided McNemar p-value for "the pass rate did not change at all" (pass/fail
    /// data only): binomial on the cases whose pass state changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcnemar_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_drop: Option<f64>,
    /// `confident-drop` or `non-inferiority`.
    pub policy: String,
    /// The smallest true drop this suite would catch with 80% power at this confidence, given
    /// its size and the observed noise; absent when it cannot be estimated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_detectable_drop: Option<f64>,
    pub status: Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseChange {
    /// Passed (or scored higher) in base, worse in head.
    Regressed,
    Improved,
    /// Only in head.
    New,
    /// Only in base.
    Removed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseComparison {
    pub cell: String,
    pub case_id: String,
    pub change: CaseChange,
    /// Mean score over repeats, and share of repeats that passed, on each side present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_pass_share: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_pass_share: Option<f64>,
    /// The first repeat's output on each side, so reports can show them side by side from the
    /// results file alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_output: Option<String>,
    /// Reasons of the checks that failed on the worse side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Base,
    Head,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlakyCase {
    pub cell: String,
    pub case_id: String,
    pub side: Side,
    pub passed: u32,
    pub repeats: u32,
}

/// A quantity in both runs. `change` is relative ((head − base) / base), absent when base is 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantityComparison {
    pub base: f64,
    pub head: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
}
