//! `[gate]` as written → the [`GateConfig`] the gate and the comparison apply. `load` has
//! already checked every value, so this conversion cannot fail.

use super::raw::RawGate;
use crate::results::gate::{CostGate, GateConfig, LatencyGate, MetricGate, Policy};

pub(super) fn gate_config(raw: &RawGate) -> GateConfig {
    let defaults = GateConfig::default();
    GateConfig {
        min_pass_rate: raw.min_pass_rate,
        max_error_rate: raw.max_error_rate.unwrap_or(defaults.max_error_rate),
        confidence: raw.confidence.unwrap_or(defaults.confidence),
        metrics: raw
            .metrics
            .iter()
            .map(|(name, m)| {
                let gate = MetricGate {
                    min: m.min,
                    max_drop: m.max_drop,
                    // An unknown name is a config error reported by `load`.
                    policy: m
                        .policy
                        .as_deref()
                        .and_then(Policy::from_name)
                        .unwrap_or_default(),
                    confidence: m.confidence,
                };
                (name.clone(), gate)
            })
            .collect(),
        cost: CostGate {
            max_usd: raw.cost.max_usd,
            max_increase: raw.cost.max_increase,
        },
        latency: LatencyGate {
            max_p95_ms: raw.latency.max_p95_ms,
            max_increase: raw.latency.max_increase,
        },
    }
}
