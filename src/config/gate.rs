//! `[gate]`: its validation, and its conversion into the [`GateConfig`] the gate and the
//! comparison apply. The suite is only built once validation found nothing, so the conversion
//! cannot fail.

use std::collections::BTreeSet;

use super::Dataset;
use super::load::Loader;
use super::raw::{RawGate, RawMetricGate};
use crate::check::Check;
use crate::results::PASS_RATE_METRIC;
use crate::results::gate::{CostGate, GateConfig, LatencyGate, Measure, MetricGate, Policy};
use crate::support::suggest::did_you_mean;

impl Loader<'_> {
    pub(super) fn validate_gate(&mut self, g: &RawGate, checks: &[Check], datasets: &[Dataset]) {
        if let Some(o) = &g.override_label {
            if o.label.trim().is_empty() {
                let e = self.err("gate.override.label", "`label` must not be empty");
                self.push(e);
            }
            if o.allowed.iter().all(|u| u.trim().is_empty()) {
                let e = self
                    .err(
                        "gate.override.allowed",
                        "`allowed` must name at least one GitHub login",
                    )
                    .help("for example `allowed = [\"release-manager\"]`; nobody else can accept a failed gate");
                self.push(e);
            }
        }
        self.check_range("gate.min_pass_rate", g.min_pass_rate, 0.0, 1.0);
        self.check_range("gate.max_error_rate", g.max_error_rate, 0.0, 1.0);
        self.check_confidence("gate.confidence", g.confidence);
        let mut fed: BTreeSet<&str> = BTreeSet::from([PASS_RATE_METRIC]);
        fed.extend(checks.iter().map(|c| c.metric.as_str()));
        for d in datasets {
            fed.extend(d.checks.iter().map(|c| c.metric.as_str()));
            for case in &d.cases {
                fed.extend(case.checks.iter().map(|c| c.metric.as_str()));
            }
        }
        for (name, m) in &g.metrics {
            self.validate_metric_gate(name, m, &fed);
        }
        if g.cost.max_usd.is_some_and(|v| v.is_nan() || v < 0.0) {
            let e = self.err("gate.cost.max_usd", "`max_usd` must be zero or positive");
            self.push(e);
        }
        if g.cost
            .max_run_usd
            .is_some_and(|v| !v.is_finite() || v < 0.0)
        {
            let e = self.err(
                "gate.cost.max_run_usd",
                "`max_run_usd` must be a number of US dollars, zero or positive",
            );
            self.push(e);
        }
    }

    /// `[gate.metrics.NAME]`; `fed` is every metric some check of the suite produces.
    fn validate_metric_gate(&mut self, name: &str, m: &RawMetricGate, fed: &BTreeSet<&str>) {
        let field = format!("gate.metrics.{name}");
        if !fed.contains(name) {
            let mut e = self.err(&field, format!("no check feeds metric `{name}`"));
            e = e.help(match did_you_mean(name, fed.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!(
                    "metrics fed by checks: {}",
                    fed.iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
            self.push(e);
        }
        self.check_range(&format!("{field}.min"), m.min, 0.0, 1.0);
        self.check_range(&format!("{field}.max_drop"), m.max_drop, 0.0, 1.0);
        self.check_confidence(&format!("{field}.confidence"), m.confidence);
        if let Some(policy) = &m.policy
            && Policy::from_name(policy).is_none()
        {
            let mut e = self.err(
                &format!("{field}.policy"),
                format!("unknown policy `{policy}`"),
            );
            e = e.help(
                match did_you_mean(policy, Policy::ALL.map(Policy::as_str)) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!(
                        "expected `{}` or `{}`",
                        Policy::ConfidentDrop.as_str(),
                        Policy::NonInferiority.as_str()
                    ),
                },
            );
            self.push(e);
        }
        if let Some(measure) = &m.measure
            && Measure::from_name(measure).is_none()
        {
            let help = match did_you_mean(measure, Measure::ALL.map(Measure::as_str)) {
                Some(best) => format!("did you mean `{best}`?"),
                None => "expected `pass-rate` or `score`".to_owned(),
            };
            let e = self
                .err(
                    &format!("{field}.measure"),
                    format!("unknown measure `{measure}`"),
                )
                .help(help);
            self.push(e);
        }
    }

    fn check_confidence(&mut self, field: &str, value: Option<f64>) {
        if let Some(c) = value
            && !(c > 0.5 && c < 1.0)
        {
            let e = self.err(
                field,
                format!(
                    "`confidence` must be between 0.5 and 1 (exclusive), found {}",
                    crate::support::fmt::format_found(c)
                ),
            );
            self.push(e);
        }
    }
}

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
                    // An unknown name is a config error reported by `validate_gate`.
                    policy: m
                        .policy
                        .as_deref()
                        .and_then(Policy::from_name)
                        .unwrap_or_default(),
                    confidence: m.confidence,
                    measure: m
                        .measure
                        .as_deref()
                        .and_then(Measure::from_name)
                        .unwrap_or_default(),
                };
                (name.clone(), gate)
            })
            .collect(),
        cost: CostGate {
            max_usd: raw.cost.max_usd,
            max_increase: raw.cost.max_increase,
            max_run_usd: raw.cost.max_run_usd,
        },
        latency: LatencyGate {
            max_p95_ms: raw.latency.max_p95_ms,
            max_increase: raw.latency.max_increase,
        },
    }
}
