//! The gate: turns a run's aggregates into a verdict of pass, fail or error.
//!
//! This module applies the absolute rules (floors and ceilings on this run alone). The baseline
//! comparison adds its own [`RuleOutcome`]s to the same list, so [`evaluate`] returns every
//! evaluated rule and [`verdict_from_rules`] folds any list of outcomes into a [`Verdict`].
//! The gate is pure: exit codes belong to the CLI.

use std::collections::BTreeMap;

use crate::results::PASS_RATE_METRIC;
use crate::results::file::ResultsFileError;
use crate::results::gate::GateConfig;
use crate::results::{MetricSummary, Results, RuleOutcome, RuleScope, Status, Summary, Verdict};
use crate::support::fmt::{format_confidence, format_count, format_percent, format_usd};

/// Judges `head`, read from a file, against `base` under `gate_config`: the absolute rules on
/// head's own numbers, then the comparison rules; the comparison and the merged verdict are
/// stored in `head`. `source` says where the baseline came from.
///
/// Everything the verdict rests on is recomputed from the calls (metrics at the gate's
/// confidence), never trusted from the file.
pub fn apply_baseline(
    head: &mut Results,
    base: &Results,
    gate_config: &GateConfig,
    source: &str,
) -> Result<(), ResultsFileError> {
    let totals = crate::aggregate::tally_calls(&head.results, gate_config.confidence)?;
    head.summary = totals.summary;
    head.metrics = totals.metrics;
    judge_with_baseline(head, base, gate_config, source)
}

/// [`apply_baseline`] for the run this process just made, whose summary and metrics were
/// computed from its calls at `gate_config`'s confidence as they finished.
pub fn judge_with_baseline(
    head: &mut Results,
    base: &Results,
    gate_config: &GateConfig,
    source: &str,
) -> Result<(), ResultsFileError> {
    let absolute = evaluate(gate_config, &head.summary, &head.metrics);
    let outcome = crate::compare::compare(base, head, gate_config, source)?;
    let mut rules = absolute.rules;
    rules.extend(outcome.rules);
    head.verdict = verdict_from_rules(rules);
    head.comparison = Some(outcome.comparison);
    head.run.gate = Some(gate_config.clone());
    Ok(())
}

/// Applies the absolute rules to a run's aggregates.
///
/// Rules, in this order (unset thresholds are not listed):
/// 1. `max_error_rate` — always evaluated; beyond it the status is `error`.
/// 2. `graded` — listed only when it fires: calls were planned but none could be graded (or the
///    run has no calls at all). Status `error`; the quality floors are then not evaluated, since a
///    pass rate of nothing measures nothing.
/// 3. `min_pass_rate`, then `metrics.NAME.min` in configuration order — floors on the point
///    estimate, with the Wilson interval in the message. A gated metric no check fed fails.
/// 4. `cost.max_usd`, then `latency.max_p95_ms` (passes, noting it, when no call was measured).
///
/// The pass-rate floor uses the case-level estimate of `metrics["pass_rate"]` (repeats are a
/// cluster), the same estimate its interval describes; without that entry it falls back to
/// `summary.pass_rate`. The two agree whenever every case has the same number of graded repeats.
pub fn evaluate(
    config: &GateConfig,
    summary: &Summary,
    metrics: &BTreeMap<String, MetricSummary>,
) -> Verdict {
    let mut rules = vec![error_rate_rule(config, summary)];
    let graded = summary.passed + summary.failed;
    if graded == 0 {
        let message = if summary.calls == 0 {
            "the run made no calls, so no case could be graded".to_owned()
        } else {
            format!(
                "no case could be graded: all {} calls errored",
                format_count(summary.calls)
            )
        };
        rules.push(RuleOutcome {
            scope: RuleScope::Absolute,
            rule: "graded".to_owned(),
            status: Status::Error,
            actual: 0.0,
            threshold: 1.0,
            message,
        });
    } else {
        if let Some(min) = config.min_pass_rate {
            rules.push(pass_rate_rule(config, summary, metrics, min));
        }
        for (name, gate) in &config.metrics {
            if let Some(min) = gate.min {
                let confidence = gate.confidence.unwrap_or(config.confidence);
                rules.push(metric_rule(name, metrics.get(name), min, confidence));
            }
        }
    }
    if let Some(max) = config.cost.max_usd {
        rules.push(cost_rule(summary, max));
    }
    if let Some(max) = config.latency.max_p95_ms {
        rules.push(latency_rule(summary, max));
    }
    verdict_from_rules(rules)
}

/// Folds rule outcomes into a verdict: `error` if any rule errored, else `fail` if any failed,
/// else `pass`. `reasons` are the messages of the rules that did not pass, in order.
pub fn verdict_from_rules(rules: Vec<RuleOutcome>) -> Verdict {
    let status = if rules.iter().any(|r| r.status == Status::Error) {
        Status::Error
    } else if rules.iter().any(|r| r.status == Status::Fail) {
        Status::Fail
    } else {
        Status::Pass
    };
    // Reasons of the verdict's own status first (an error leads with the outage, not a quality
    // failure listed before it), and among them the change against the base before absolute
    // floors: "this pull request made it worse" is what a reviewer acts on.
    let mut failed: Vec<&RuleOutcome> = rules.iter().filter(|r| r.status != Status::Pass).collect();
    failed.sort_by_key(|r| (r.status != status, r.scope != RuleScope::Baseline));
    let reasons = failed.iter().map(|r| r.message.clone()).collect();
    Verdict {
        status,
        rules,
        reasons,
        accepted: None,
    }
}

fn error_rate_rule(config: &GateConfig, summary: &Summary) -> RuleOutcome {
    let max = config.max_error_rate;
    let breached = summary.error_rate > max;
    let counts = format!(
        "{} of {} calls",
        format_count(summary.errored),
        format_count(summary.calls)
    );
    let verb = if breached { "exceeds" } else { "is within" };
    RuleOutcome {
        scope: RuleScope::Absolute,
        rule: "max_error_rate".to_owned(),
        status: if breached {
            Status::Error
        } else {
            Status::Pass
        },
        actual: summary.error_rate,
        threshold: max,
        message: format!(
            "error rate {} ({counts}) {verb} the maximum {}",
            format_percent(summary.error_rate),
            format_percent(max)
        ),
    }
}

fn pass_rate_rule(
    config: &GateConfig,
    summary: &Summary,
    metrics: &BTreeMap<String, MetricSummary>,
    min: f64,
) -> RuleOutcome {
    let (mean, n) = match metrics.get(PASS_RATE_METRIC) {
        Some(metric) if metric.n > 0 => (metric.mean, metric.n),
        _ => (summary.pass_rate, summary.passed + summary.failed),
    };
    floor_rule(
        "min_pass_rate",
        "pass rate",
        mean,
        n,
        min,
        config.confidence,
    )
}

fn metric_rule(
    name: &str,
    metric: Option<&MetricSummary>,
    min: f64,
    confidence: f64,
) -> RuleOutcome {
    let rule = format!("metrics.{name}.min");
    match metric {
        Some(metric) if metric.n > 0 => floor_rule(
            &rule,
            &format!("metric `{name}`"),
            metric.mean,
            metric.n,
            min,
            confidence,
        ),
        _ => RuleOutcome {
            scope: RuleScope::Absolute,
            rule,
            status: Status::Fail,
            actual: 0.0,
            threshold: min,
            message: format!(
                "metric `{name}` has no graded cases, so its minimum {} cannot be met",
                format_percent(min)
            ),
        },
    }
}

/// A floor on a point estimate, reported with its Wilson interval.
fn floor_rule(rule: &str, what: &str, mean: f64, n: u64, min: f64, confidence: f64) -> RuleOutcome {
    let (low, high) = crate::stats::wilson(mean * n as f64, n as f64, confidence);
    let below = mean < min;
    let verb = if below { "is below" } else { "meets" };
    RuleOutcome {
        scope: RuleScope::Absolute,
        rule: rule.to_owned(),
        status: if below { Status::Fail } else { Status::Pass },
        actual: mean,
        threshold: min,
        message: format!(
            "{what} {} ({} CI {}–{}) {verb} the minimum {}",
            format_percent(mean),
            format_confidence(confidence),
            format_percent(low),
            format_percent(high),
            format_percent(min)
        ),
    }
}

fn cost_rule(summary: &Summary, max: f64) -> RuleOutcome {
    let over = summary.cost_usd > max;
    let verb = if over { "exceeds" } else { "is within" };
    RuleOutcome {
        scope: RuleScope::Absolute,
        rule: "cost.max_usd".to_owned(),
        status: if over { Status::Fail } else { Status::Pass },
        actual: summary.cost_usd,
        threshold: max,
        message: format!(
            "cost {} {verb} the maximum {}",
            format_usd(summary.cost_usd),
            format_usd(max)
        ),
    }
}

fn latency_rule(summary: &Summary, max: u64) -> RuleOutcome {
    let rule = "latency.max_p95_ms".to_owned();
    // Errored calls are never served from the cache, so this counts the calls whose latency was
    // measured. A p95 above zero proves some were, whatever the count says.
    let measured = summary
        .calls
        .saturating_sub(summary.cache_hits)
        .saturating_sub(summary.errored);
    if measured == 0 && summary.latency_p95_ms == 0 {
        return RuleOutcome {
            scope: RuleScope::Absolute,
            rule,
            status: Status::Pass,
            actual: 0.0,
            threshold: max as f64,
            message: format!(
                "p95 latency not checked against the maximum {max} ms: no measured calls (every answer came from the cache or errored)"
            ),
        };
    }
    let over = summary.latency_p95_ms > max;
    let verb = if over { "exceeds" } else { "is within" };
    RuleOutcome {
        scope: RuleScope::Absolute,
        rule,
        status: if over { Status::Fail } else { Status::Pass },
        actual: summary.latency_p95_ms as f64,
        threshold: max as f64,
        message: format!(
            "p95 latency {} ms {verb} the maximum {} ms",
            format_count(summary.latency_p95_ms),
            format_count(max)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{metrics, summarize};
    use crate::results::CallResult;
    use crate::results::gate::{CostGate, LatencyGate, MetricGate};
    use crate::test_helpers::{call, check, errored};

    /// 10 cases: `passing` pass, the rest fail; each carries an `accuracy` check that agrees.
    fn run(passing: usize) -> Vec<CallResult> {
        (0..10)
            .map(|i| {
                let passed = i < passing;
                let mut c = call("answer/mini", &format!("case-{i}"), 0, passed);
                c.checks = vec![check("accuracy", passed, c.score, 1.0)];
                c
            })
            .collect()
    }

    fn verdict(config: &GateConfig, results: &[CallResult]) -> Verdict {
        let summary = summarize(results);
        evaluate(config, &summary, &metrics(results, config.confidence))
    }

    fn rule_names(verdict: &Verdict) -> Vec<&str> {
        verdict.rules.iter().map(|r| r.rule.as_str()).collect()
    }

    fn full_config() -> GateConfig {
        let mut config = GateConfig {
            min_pass_rate: Some(0.8),
            max_error_rate: 0.1,
            cost: CostGate {
                max_usd: Some(1.0),
                max_increase: Some(0.25),
                ..CostGate::default()
            },
            latency: LatencyGate {
                max_p95_ms: Some(500),
                max_increase: None,
            },
            ..GateConfig::default()
        };
        config.metrics.insert(
            "accuracy".to_owned(),
            MetricGate {
                min: Some(0.7),
                max_drop: Some(0.02),
                ..MetricGate::default()
            },
        );
        config
    }

    #[test]
    fn passes_when_every_rule_holds_and_lists_rules_in_order() {
        let verdict = verdict(&full_config(), &run(9));
        assert_eq!(verdict.status, Status::Pass);
        assert!(verdict.reasons.is_empty());
        assert_eq!(
            rule_names(&verdict),
            [
                "max_error_rate",
                "min_pass_rate",
                "metrics.accuracy.min",
                "cost.max_usd",
                "latency.max_p95_ms"
            ]
        );
        assert!(verdict.rules.iter().all(|r| r.status == Status::Pass));
    }

    #[test]
    fn unset_rules_are_not_listed() {
        let verdict = verdict(&GateConfig::default(), &run(3));
        assert_eq!(rule_names(&verdict), ["max_error_rate"]);
        assert_eq!(verdict.status, Status::Pass);
    }

    #[test]
    fn pass_rate_below_minimum_fails_with_interval() {
        let config = GateConfig {
            min_pass_rate: Some(0.9),
            ..GateConfig::default()
        };
        let verdict = verdict(&config, &run(8));
        assert_eq!(verdict.status, Status::Fail);
        assert_eq!(
            verdict.reasons,
            ["pass rate 80.0% (95% CI 49.0%–94.3%) is below the minimum 90.0%"]
        );
        let rule = &verdict.rules[1];
        assert_eq!((rule.actual, rule.threshold), (0.8, 0.9));
    }

    #[test]
    fn metric_below_minimum_fails_at_its_own_confidence() {
        let mut config = full_config();
        config.min_pass_rate = None;
        config.metrics["accuracy"].confidence = Some(0.9);
        let verdict = verdict(&config, &run(6));
        assert_eq!(verdict.status, Status::Fail);
        assert_eq!(
            verdict.reasons,
            ["metric `accuracy` 60.0% (90% CI 35.2%–80.6%) is below the minimum 70.0%"]
        );
    }

    #[test]
    fn gated_metric_without_graded_cases_fails() {
        let mut config = GateConfig::default();
        config.metrics.insert(
            "tone".to_owned(),
            MetricGate {
                min: Some(0.5),
                ..MetricGate::default()
            },
        );
        let verdict = verdict(&config, &run(10));
        assert_eq!(verdict.status, Status::Fail);
        assert_eq!(verdict.rules[1].rule, "metrics.tone.min");
        assert!(verdict.reasons[0].contains("metric `tone` has no graded cases"));
    }

    #[test]
    fn metric_gate_without_min_adds_no_absolute_rule() {
        let mut config = GateConfig::default();
        config.metrics.insert(
            "accuracy".to_owned(),
            MetricGate {
                max_drop: Some(0.05),
                ..MetricGate::default()
            },
        );
        assert_eq!(rule_names(&verdict(&config, &run(2))), ["max_error_rate"]);
    }

    #[test]
    fn errors_beyond_tolerance_are_an_error_not_a_failure() {
        let mut results = run(5); // would also fail min_pass_rate and accuracy
        results.push(errored("answer/mini", "case-10", 0, "HTTP 503"));
        results.push(errored("answer/mini", "case-11", 0, "HTTP 503"));
        let verdict = verdict(&full_config(), &results);
        assert_eq!(
            verdict.status,
            Status::Error,
            "error takes precedence over fail"
        );
        assert_eq!(verdict.rules[0].status, Status::Error);
        assert_eq!(
            verdict.reasons[0],
            "error rate 16.7% (2 of 12 calls) exceeds the maximum 10.0%"
        );
        assert!(verdict.rules[1..].iter().any(|r| r.status == Status::Fail));
    }

    #[test]
    fn errors_within_tolerance_pass() {
        let mut results = run(10);
        results.push(errored("answer/mini", "case-10", 0, "HTTP 503"));
        let verdict = verdict(&full_config(), &results);
        assert_eq!(verdict.rules[0].status, Status::Pass);
        assert_eq!(verdict.status, Status::Pass);
        // The default tolerance is zero: the same run is an error without configuration.
        let strict = super::verdict_from_rules(vec![error_rate_rule(
            &GateConfig::default(),
            &summarize(&results),
        )]);
        assert_eq!(strict.status, Status::Error);
    }

    #[test]
    fn nothing_graded_is_an_error_even_when_errors_are_tolerated() {
        let config = GateConfig {
            max_error_rate: 1.0,
            ..full_config()
        };
        let results = vec![
            errored("answer/mini", "a", 0, "quota exhausted"),
            errored("answer/mini", "b", 0, "quota exhausted"),
        ];
        let verdict = verdict(&config, &results);
        assert_eq!(verdict.status, Status::Error);
        assert_eq!(
            rule_names(&verdict),
            [
                "max_error_rate",
                "graded",
                "cost.max_usd",
                "latency.max_p95_ms"
            ]
        );
        assert_eq!(
            verdict.reasons,
            ["no case could be graded: all 2 calls errored"]
        );
        // An empty run is not a pass either.
        assert_eq!(
            evaluate(&config, &Summary::default(), &BTreeMap::new()).status,
            Status::Error
        );
    }

    #[test]
    fn cost_over_maximum_fails() {
        let mut results = run(10);
        for c in &mut results {
            c.cost_usd = 0.15;
            c.cached = true; // cached calls still count: the gate ignores the cache's state
        }
        let verdict = verdict(&full_config(), &results);
        assert_eq!(verdict.status, Status::Fail);
        assert_eq!(verdict.reasons, ["cost $1.50 exceeds the maximum $1.00"]);
    }

    #[test]
    fn latency_over_maximum_fails() {
        let mut results = run(10);
        results[3].latency_ms = 2_000;
        let verdict = verdict(&full_config(), &results);
        assert_eq!(verdict.status, Status::Fail);
        assert_eq!(
            verdict.reasons,
            ["p95 latency 2,000 ms exceeds the maximum 500 ms"]
        );
    }

    #[test]
    fn latency_without_measured_calls_passes_and_says_so() {
        let mut results = run(10);
        for c in &mut results {
            c.cached = true;
        }
        let verdict = verdict(&full_config(), &results);
        let rule = verdict.rules.last().expect("latency rule");
        assert_eq!(rule.rule, "latency.max_p95_ms");
        assert_eq!(rule.status, Status::Pass);
        assert!(
            rule.message.contains("no measured calls"),
            "{}",
            rule.message
        );
    }

    #[test]
    fn verdict_reasons_lead_with_the_verdicts_status_then_the_regression() {
        let rule = |scope, name: &str, status| RuleOutcome {
            scope,
            rule: name.to_owned(),
            status,
            actual: 0.0,
            threshold: 0.0,
            message: name.to_owned(),
        };
        let (absolute, baseline) = (RuleScope::Absolute, RuleScope::Baseline);
        // A failed floor listed before a failed comparison: the regression leads.
        let verdict = verdict_from_rules(vec![
            rule(absolute, "floor", Status::Fail),
            rule(absolute, "fine", Status::Pass),
            rule(baseline, "regression", Status::Fail),
            rule(absolute, "other floor", Status::Fail),
        ]);
        assert_eq!(verdict.status, Status::Fail);
        assert_eq!(verdict.reasons, ["regression", "floor", "other floor"]);
        // An error verdict leads with the error, whatever failed before it.
        let verdict = verdict_from_rules(vec![
            rule(baseline, "regression", Status::Fail),
            rule(absolute, "outage", Status::Error),
        ]);
        assert_eq!(verdict.status, Status::Error);
        assert_eq!(verdict.reasons, ["outage", "regression"]);
    }
}
