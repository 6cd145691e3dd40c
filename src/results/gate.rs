//! The `[gate]` table as the results file records it (`run.gate`), so a comparison can be judged
//! from the files alone. `config` validates it; `gate` and `compare` apply it.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The `[gate]` table, validated. Stored in the results file (`run.gate`) so a comparison can
/// be judged from the files alone; missing fields read as their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GateConfig {
    /// Floor on the pass rate's point estimate.
    pub min_pass_rate: Option<f64>,
    /// Share of errored calls tolerated; beyond it the verdict is `error`, never a regression.
    pub max_error_rate: f64,
    /// Two-sided confidence for intervals and comparisons, in (0, 1).
    pub confidence: f64,
    /// Gated metrics, in configuration order (which is the order their rules are listed in).
    pub metrics: IndexMap<String, MetricGate>,
    pub cost: CostGate,
    pub latency: LatencyGate,
}

impl GateConfig {
    /// Whether any rule can fail a run on what it measured (quality, cost or latency). Without
    /// one, a run where every case fails still passes: only errors can stop it.
    pub fn can_fail(&self) -> bool {
        self.min_pass_rate.is_some()
            || self
                .metrics
                .values()
                .any(|m| m.min.is_some() || m.max_drop.is_some())
            || self.cost.max_usd.is_some()
            || self.cost.max_increase.is_some()
            || self.latency.max_p95_ms.is_some()
            || self.latency.max_increase.is_some()
    }
}

/// What `validate` and `run` say when [`GateConfig::can_fail`] is false.
pub const NO_RULE_CAN_FAIL: &str = "the gate has no rule that can fail this suite: a run where every case fails still passes. Add `min_pass_rate` to `[gate]`, or `min`/`max_drop` to a `[gate.metrics.NAME]` table";

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            min_pass_rate: None,
            max_error_rate: 0.0,
            confidence: 0.95,
            metrics: IndexMap::new(),
            cost: CostGate::default(),
            latency: LatencyGate::default(),
        }
    }
}

/// `[gate.metrics.NAME]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricGate {
    /// Floor on the metric's point estimate.
    pub min: Option<f64>,
    /// Drop tolerated against the baseline (applied by the comparison, not here).
    pub max_drop: Option<f64>,
    pub policy: Policy,
    /// Overrides the gate's confidence for this metric.
    pub confidence: Option<f64>,
    /// What the comparison pairs per case: the share of repeats that passed the metric's checks
    /// (the default), or the mean score of those checks (for judges and similarity, whose
    /// scores can fall while every check still passes its threshold).
    pub measure: Measure,
}

/// What a metric's comparison measures per case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Measure {
    #[default]
    PassRate,
    Score,
}

impl Measure {
    pub const ALL: [Measure; 2] = [Measure::PassRate, Measure::Score];

    pub fn as_str(self) -> &'static str {
        match self {
            Measure::PassRate => "pass-rate",
            Measure::Score => "score",
        }
    }

    pub fn from_name(name: &str) -> Option<Measure> {
        Measure::ALL.into_iter().find(|m| m.as_str() == name)
    }

    pub fn is_pass_rate(&self) -> bool {
        *self == Measure::PassRate
    }
}

/// How a drop against the baseline is judged (DESIGN.md §8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Fail when confident the drop exceeds `max_drop`.
    #[default]
    ConfidentDrop,
    /// Pass only when confident the drop is below `max_drop`.
    NonInferiority,
}

impl Policy {
    /// Every policy, in the order the docs list them.
    pub const ALL: [Policy; 2] = [Policy::ConfidentDrop, Policy::NonInferiority];

    /// The name the suite file, the results file and every message use.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::ConfidentDrop => "confident-drop",
            Policy::NonInferiority => "non-inferiority",
        }
    }

    pub fn from_name(name: &str) -> Option<Policy> {
        Policy::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// `[gate.cost]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CostGate {
    /// Ceiling on the run's cost at the configured prices, cached calls included: the gate must
    /// not depend on what happened to be in the cache.
    pub max_usd: Option<f64>,
    /// Per-case cost increase tolerated against the baseline (applied by the comparison).
    pub max_increase: Option<f64>,
    /// Spend cap of one run: no new call starts once the run has spent this much (not a gate
    /// rule: a run stopped by it ends as an infrastructure error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_run_usd: Option<f64>,
}

/// `[gate.latency]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LatencyGate {
    /// Ceiling on the p95 latency of calls actually made.
    pub max_p95_ms: Option<u64>,
    /// p95 increase tolerated against the baseline (applied by the comparison).
    pub max_increase: Option<f64>,
}
