use super::*;
use crate::aggregate::{metrics, summarize, summarize_by_cell};
use crate::results::gate::{CostGate, LatencyGate, MetricGate};
use crate::results::{RunInfo, SCHEMA_VERSION, Verdict};
use crate::test_helpers;
use crate::test_helpers::{call, check, errored};

/// [`super::compare`] of calls in memory, which are always readable.
fn compare(base: &Results, head: &Results, gate: &GateConfig, source: &str) -> Outcome {
    super::compare(base, head, gate, source).expect("calls in memory are readable")
}

/// A results file around `calls`, as `evalgate run` would write it (no verdict rules).
pub(crate) fn fabricate(calls: Vec<CallResult>) -> Results {
    let summary = summarize(&calls);
    let metrics = metrics(&calls, 0.95);
    let cells = summarize_by_cell(&calls)
        .into_iter()
        .map(|(id, summary)| {
            let fingerprint = format!("fp-{id}");
            test_helpers::cell_summary(id, summary, fingerprint)
        })
        .collect();
    Results {
        schema_version: SCHEMA_VERSION,
        run: RunInfo {
            duration_ms: 4_000,
            ..test_helpers::run_info()
        },
        summary,
        metrics,
        cells,
        verdict: Verdict {
            status: Status::Pass,
            rules: vec![],
            reasons: vec![],
            accepted: None,
        },
        comparison: None,
        results: calls.into(),
    }
}

/// One call per case `case-i` for i in 0..n, passing where `pass(i)`, with an `accuracy` check
/// that agrees.
pub(crate) fn suite_run(n: usize, pass: impl Fn(usize) -> bool) -> Vec<CallResult> {
    (0..n)
        .map(|i| {
            let passed = pass(i);
            let mut c = call("answer/mini", &format!("case-{i}"), 0, passed);
            c.checks = vec![check("accuracy", passed, c.score, 1.0)];
            c.output = Some(format!(
                "answer {i} {}",
                if passed { "ok" } else { "wrong" }
            ));
            c
        })
        .collect()
}

pub(crate) fn accuracy_gate(max_drop: f64, policy: Policy) -> GateConfig {
    let mut gate = GateConfig::default();
    gate.metrics.insert(
        "accuracy".to_owned(),
        MetricGate {
            max_drop: Some(max_drop),
            policy,
            ..MetricGate::default()
        },
    );
    gate
}

fn rule<'a>(outcome: &'a Outcome, name: &str) -> &'a RuleOutcome {
    outcome
        .rules
        .iter()
        .find(|r| r.rule == name)
        .unwrap_or_else(|| panic!("no rule {name} in {:?}", outcome.rules))
}

#[test]
fn pairs_cases_and_lists_what_changed() {
    let mut base = suite_run(4, |i| i != 3);
    base.push(call("answer/mini", "gone", 0, true));
    let mut head = suite_run(4, |i| i != 0);
    head[1].score = 1.0;
    head.push(call("answer/mini", "fresh", 0, false));
    let outcome = compare(
        &fabricate(base),
        &fabricate(head),
        &GateConfig::default(),
        "base.json",
    );
    let c = &outcome.comparison;
    let changes: Vec<(&str, CaseChange)> = c
        .cases
        .iter()
        .map(|case| (case.case_id.as_str(), case.change))
        .collect();
    assert_eq!(
        changes,
        [
            ("case-0", CaseChange::Regressed),
            ("case-3", CaseChange::Improved),
            ("fresh", CaseChange::New),
            ("gone", CaseChange::Removed),
        ]
    );
    assert_eq!(c.unchanged, 2);
    let regressed = &c.cases[0];
    assert_eq!(regressed.base_output.as_deref(), Some("answer 0 ok"));
    assert_eq!(regressed.head_output.as_deref(), Some("answer 0 wrong"));
    assert_eq!(
        (regressed.base_pass_share, regressed.head_pass_share),
        (Some(1.0), Some(0.0))
    );
    assert_eq!(
        regressed.reasons,
        ["expected the answer to contain \"30 days\""]
    );
    assert!(
        c.cases[1].reasons.len() == 1,
        "improved: the base side's reasons"
    );
    assert_eq!(c.cases[2].base_output, None);
    assert_eq!(c.cases[3].head_score, None);
    assert_eq!(c.baseline.source, "base.json");
    // No gated metric: pass_rate is compared for information and decides nothing.
    assert!(outcome.rules.is_empty());
    assert_eq!(c.metrics.len(), 1);
    assert_eq!(c.metrics[0].metric, "pass_rate");
    assert_eq!(c.metrics[0].pairs, 4);
    assert_eq!(c.metrics[0].p_value, None);
}

#[test]
fn a_score_change_alone_is_a_change() {
    let base = suite_run(2, |_| true);
    let mut head = base.clone();
    head[0].score = 0.7;
    let outcome = compare(
        &fabricate(base),
        &fabricate(head),
        &GateConfig::default(),
        "b",
    );
    assert_eq!(outcome.comparison.cases.len(), 1);
    assert_eq!(outcome.comparison.cases[0].change, CaseChange::Regressed);
    assert_eq!(outcome.comparison.cases[0].head_score, Some(0.7));
}

#[test]
fn errored_calls_are_never_regressions() {
    let base = suite_run(30, |_| true);
    let mut head = base.clone();
    // An outage on half the head run: those cases are not paired, and nothing regressed.
    for call in head.iter_mut().take(15) {
        *call = errored(&call.cell, &call.case_id, 0, "HTTP 503");
    }
    let outcome = compare(
        &fabricate(base),
        &fabricate(head),
        &accuracy_gate(0.0, Policy::ConfidentDrop),
        "b",
    );
    let c = &outcome.comparison;
    assert!(c.cases.is_empty(), "{:?}", c.cases);
    assert_eq!((c.unchanged, c.unpaired_errored), (15, 15));
    let accuracy = &c.metrics[1];
    assert_eq!(accuracy.pairs, 15);
    assert_eq!(accuracy.delta, 0.0);
    assert_eq!(
        rule(&outcome, "metrics.accuracy.max_drop").status,
        Status::Pass
    );
}

#[test]
fn an_errored_repeat_leaves_the_others_to_speak_for_the_case() {
    let base = vec![call("a/m", "c", 0, true), call("a/m", "c", 1, true)];
    let head = vec![call("a/m", "c", 0, true), errored("a/m", "c", 1, "timeout")];
    let c = compare(
        &fabricate(base),
        &fabricate(head),
        &GateConfig::default(),
        "b",
    )
    .comparison;
    assert_eq!((c.unchanged, c.cases.len(), c.flaky.len()), (1, 0, 0));
}

#[test]
fn flaky_cases_are_listed_on_either_side() {
    let base = vec![
        call("a/m", "x", 0, true),
        call("a/m", "x", 1, false),
        call("a/m", "y", 0, true),
        call("a/m", "y", 1, true),
    ];
    let head = vec![
        call("a/m", "x", 0, true),
        call("a/m", "x", 1, false),
        call("a/m", "y", 0, false),
        call("a/m", "y", 1, true),
        call("a/m", "y", 2, true),
    ];
    let c = compare(
        &fabricate(base),
        &fabricate(head),
        &GateConfig::default(),
        "b",
    )
    .comparison;
    let flaky: Vec<(&str, Side, u32, u32)> = c
        .flaky
        .iter()
        .map(|f| (f.case_id.as_str(), f.side, f.passed, f.repeats))
        .collect();
    assert_eq!(
        flaky,
        [
            ("x", Side::Base, 1, 2),
            ("x", Side::Head, 1, 2),
            ("y", Side::Head, 2, 3)
        ]
    );
    // y went from 2/2 to 2/3: a regression of its pass share.
    assert_eq!(c.cases[0].head_pass_share, Some(2.0 / 3.0));
}

#[test]
fn cells_are_classified_by_fingerprint() {
    let base = fabricate(vec![
        call("a/m", "1", 0, true),
        call("b/m", "1", 0, true),
        call("c/m", "1", 0, true),
    ]);
    let mut head = fabricate(vec![
        call("a/m", "1", 0, true),
        call("b/m", "1", 0, true),
        call("d/m", "1", 0, true),
    ]);
    head.cells[1].fingerprint = "edited".to_owned();
    let cells = compare(&base, &head, &GateConfig::default(), "b")
        .comparison
        .cells;
    let changes: Vec<(&str, CellChange)> =
        cells.iter().map(|c| (c.id.as_str(), c.change)).collect();
    assert_eq!(
        changes,
        [
            ("a/m", CellChange::Unchanged),
            ("b/m", CellChange::Changed),
            ("d/m", CellChange::New),
            ("c/m", CellChange::Removed)
        ]
    );
    assert_eq!(cells[1].base_fingerprint.as_deref(), Some("fp-b/m"));
    assert_eq!(cells[1].head_fingerprint.as_deref(), Some("edited"));
}

#[test]
fn a_confident_drop_beyond_the_tolerance_fails_with_a_readable_reason() {
    // 200 cases at 90%; head loses 20 of the passing ones and gains nothing: −10 points.
    let base = suite_run(200, |i| i % 10 != 0);
    let head = suite_run(200, |i| i % 10 > 1);
    let outcome = compare(
        &fabricate(base),
        &fabricate(head),
        &accuracy_gate(0.02, Policy::ConfidentDrop),
        "b",
    );
    let accuracy = &outcome.comparison.metrics[1];
    assert_eq!(accuracy.method, TestMethod::McnemarExact);
    assert!((accuracy.delta + 0.10).abs() < 1e-12, "{}", accuracy.delta);
    assert_eq!(accuracy.status, Status::Fail);
    assert!(accuracy.mcnemar_p.is_some_and(|p| p < 0.001));
    let rule = rule(&outcome, "metrics.accuracy.max_drop");
    assert_eq!(rule.status, Status::Fail);
    assert!((rule.actual - 0.10).abs() < 1e-12 && rule.threshold == 0.02);
    assert_eq!(
        rule.message,
        format!(
            "accuracy dropped 10.0 points (95% CI {} to {}), more than the 2.0 tolerated (p < 0.001)",
            format_points(accuracy.ci_low),
            format_points(accuracy.ci_high)
        )
    );
    assert!(accuracy.ci_high < -0.02);
}

#[test]
fn noise_within_the_tolerance_passes() {
    // Two cases swap outcomes: Δ = 0.
    let base = suite_run(50, |i| i != 7);
    let head = suite_run(50, |i| i != 8);
    let outcome = compare(
        &fabricate(base),
        &fabricate(head),
        &accuracy_gate(0.02, Policy::ConfidentDrop),
        "b",
    );
    let rule = rule(&outcome, "metrics.accuracy.max_drop");
    assert_eq!(rule.status, Status::Pass);
    assert!(
        rule.message.starts_with("accuracy did not change (95% CI "),
        "{}",
        rule.message
    );
    assert!(
        rule.message
            .ends_with("not confidently more than the 2.0 tolerated")
    );
    let mdd = outcome.comparison.metrics[1].min_detectable_drop;
    assert!(mdd.is_some_and(|d| d > 0.02 && d < 0.5), "{mdd:?}");
}

#[test]
fn non_inferiority_needs_evidence_to_pass() {
    let gate = accuracy_gate(0.05, Policy::NonInferiority);
    // 20 identical cases: too few to be confident the drop is under 5 points.
    let small = fabricate(suite_run(20, |i| i % 2 == 0));
    let outcome = compare(&small, &small, &gate, "b");
    let rule_small = rule(&outcome, "metrics.accuracy.max_drop");
    assert_eq!(rule_small.status, Status::Fail);
    assert!(
        rule_small
            .message
            .contains("not confidently within the 5.0 tolerated (non-inferiority"),
        "{}",
        rule_small.message
    );
    // 400 identical cases: confident.
    let large = fabricate(suite_run(400, |i| i % 2 == 0));
    let outcome = compare(&large, &large, &gate, "b");
    let rule_large = rule(&outcome, "metrics.accuracy.max_drop");
    assert_eq!(rule_large.status, Status::Pass, "{}", rule_large.message);
    assert!(
        rule_large
            .message
            .contains("confidently within the 5.0 tolerated")
    );
    // Nothing paired at all cannot show non-inferiority.
    let other = fabricate(vec![call("other/m", "z", 0, true)]);
    let outcome = compare(&other, &large, &gate, "b");
    assert_eq!(
        rule(&outcome, "metrics.accuracy.max_drop").status,
        Status::Fail
    );
}

#[test]
fn a_metric_can_set_its_own_confidence() {
    let base = fabricate(suite_run(100, |i| i % 5 != 0));
    let head = fabricate(suite_run(100, |i| i % 5 > 1));
    let at_95 = compare(
        &base,
        &head,
        &accuracy_gate(0.02, Policy::ConfidentDrop),
        "b",
    );
    let mut gate = accuracy_gate(0.02, Policy::ConfidentDrop);
    gate.metrics["accuracy"].confidence = Some(0.8);
    let at_80 = compare(&base, &head, &gate, "b");
    let (wide, narrow) = (&at_95.comparison.metrics[1], &at_80.comparison.metrics[1]);
    assert_eq!((wide.confidence, narrow.confidence), (0.95, 0.8));
    assert!(narrow.ci_low > wide.ci_low && narrow.ci_high < wide.ci_high);
    // pass_rate keeps the gate's confidence.
    assert_eq!(at_80.comparison.metrics[0].confidence, 0.95);
    assert!(
        rule(&at_80, "metrics.accuracy.max_drop")
            .message
            .contains("(80% CI "),
    );
}

#[test]
fn holm_corrects_across_confident_drop_metrics() {
    let mut gate = accuracy_gate(0.0, Policy::ConfidentDrop);
    gate.metrics.insert(
        "pass_rate".to_owned(),
        MetricGate {
            max_drop: Some(0.0),
            ..MetricGate::default()
        },
    );
    let base = fabricate(suite_run(100, |_| true));
    let head = fabricate(suite_run(100, |i| i >= 6));
    let outcome = compare(&base, &head, &gate, "b");
    let metrics = &outcome.comparison.metrics;
    // pass_rate first, then accuracy; both see the same 6 regressions.
    assert_eq!(metrics[0].metric, "pass_rate");
    let (p, adjusted) = (
        metrics[1].p_value.expect("p"),
        metrics[1].p_adjusted.expect("adjusted"),
    );
    assert!((adjusted - 2.0 * p).abs() < 1e-12, "{p} {adjusted}");
    assert!(
        rule(&outcome, "metrics.accuracy.max_drop")
            .message
            .contains("Holm-adjusted p = "),
    );
    assert_eq!(
        outcome
            .rules
            .iter()
            .map(|r| r.rule.as_str())
            .collect::<Vec<_>>(),
        ["metrics.pass_rate.max_drop", "metrics.accuracy.max_drop"]
    );
}

#[test]
fn non_inferiority_metrics_are_not_in_the_holm_family() {
    let mut gate = accuracy_gate(0.0, Policy::ConfidentDrop);
    gate.metrics.insert(
        "pass_rate".to_owned(),
        MetricGate {
            max_drop: Some(0.05),
            policy: Policy::NonInferiority,
            ..MetricGate::default()
        },
    );
    let base = fabricate(suite_run(100, |_| true));
    let head = fabricate(suite_run(100, |i| i >= 6));
    let outcome = compare(&base, &head, &gate, "b");
    for m in &outcome.comparison.metrics {
        assert_eq!(m.p_value, m.p_adjusted, "{}: a family of one", m.metric);
    }
    let ni = &outcome.comparison.metrics[0];
    assert_eq!(
        (ni.metric.as_str(), ni.policy.as_str()),
        ("pass_rate", "non-inferiority")
    );
    assert!(
        !rule(&outcome, "metrics.accuracy.max_drop")
            .message
            .contains("Holm")
    );
}

#[test]
fn cost_and_latency_increases_are_judged_per_case_and_at_p95() {
    let base = suite_run(10, |_| true);
    let mut head = base.clone();
    for c in &mut head {
        c.cost_usd = 0.013; // +30% per case
        c.latency_ms = 120; // +20% p95
    }
    let gate = GateConfig {
        cost: CostGate {
            max_usd: None,
            max_increase: Some(0.25),
            ..CostGate::default()
        },
        latency: LatencyGate {
            max_p95_ms: None,
            max_increase: Some(0.25),
        },
        ..GateConfig::default()
    };
    let outcome = compare(&fabricate(base), &fabricate(head.clone()), &gate, "b");
    let cost = rule(&outcome, "cost.max_increase");
    assert_eq!(cost.status, Status::Fail);
    assert_eq!(
        cost.message,
        "cost per case rose 30.0% ($0.01 to $0.013), more than the 25.0% tolerated"
    );
    let latency = rule(&outcome, "latency.max_increase");
    assert_eq!(latency.status, Status::Pass);
    assert_eq!(
        latency.message,
        "p95 latency rose 20.0% (100 ms to 120 ms), within the 25.0% tolerated"
    );
    let c = &outcome.comparison;
    assert!((c.cost.base - 0.01).abs() < 1e-12 && (c.cost.head - 0.013).abs() < 1e-12);
    assert_eq!(c.input_tokens.change, Some(0.0));

    // A cached baseline has no measured latency: not a pass by comparison, said so.
    let mut cached = suite_run(10, |_| true);
    for c in &mut cached {
        c.cached = true;
    }
    let outcome = compare(&fabricate(cached), &fabricate(head), &gate, "b");
    let latency = rule(&outcome, "latency.max_increase");
    assert_eq!(latency.status, Status::Pass);
    assert!(
        latency
            .message
            .contains("no measured calls in the baseline"),
        "{}",
        latency.message
    );
}

#[test]
fn a_baseline_bought_in_batch_compares_with_a_direct_run_at_list_prices() {
    // The nightly baseline went through a batch at half price; the pull request ran directly at
    // the same list price: no cost increase.
    let mut base = suite_run(10, |_| true);
    for c in &mut base {
        c.cost_usd = 0.005;
        c.batch = Some(crate::results::BatchUse {
            id: "batch_abc".into(),
            list_cost_usd: 0.01,
        });
    }
    let head = suite_run(10, |_| true);
    let gate = GateConfig {
        cost: CostGate {
            max_increase: Some(0.25),
            ..CostGate::default()
        },
        ..GateConfig::default()
    };
    let outcome = compare(
        &fabricate(base.clone()),
        &fabricate(head.clone()),
        &gate,
        "b",
    );
    let cost = rule(&outcome, "cost.max_increase");
    assert_eq!(cost.status, Status::Pass, "{}", cost.message);
    assert_eq!(outcome.comparison.cost.change, Some(0.0));
    // The other way round too: a batch run against a direct baseline is no saving to gate on.
    let outcome = compare(&fabricate(head), &fabricate(base), &gate, "b");
    assert_eq!(outcome.comparison.cost.change, Some(0.0));
}

#[test]
fn same_inputs_give_byte_identical_output() {
    // Repeats make the metric continuous; 40 cases of which a few lose one repeat make the
    // differences skewed, which sends them to the seeded bootstrap.
    let mut base = Vec::new();
    let mut head = Vec::new();
    for i in 0..40 {
        for r in 0..3 {
            base.push(call("a/m", &format!("c{i}"), r, true));
            head.push(call("a/m", &format!("c{i}"), r, i >= 4 || r != 0));
        }
    }
    let gate = {
        let mut g = GateConfig::default();
        g.metrics.insert(
            "pass_rate".to_owned(),
            MetricGate {
                max_drop: Some(0.02),
                ..MetricGate::default()
            },
        );
        g
    };
    let (base, head) = (fabricate(base), fabricate(head));
    let first = compare(&base, &head, &gate, "b");
    assert_eq!(
        first.comparison.metrics[0].method,
        TestMethod::PairedBootstrap
    );
    let second = compare(&base, &head, &gate, "b");
    assert_eq!(first, second);
    let json = |o: &Outcome| serde_json::to_string(&(&o.comparison, &o.rules)).expect("json");
    assert_eq!(json(&first), json(&second));
}

#[test]
fn per_case_usage_counts_only_answered_calls() {
    // 50 cases, 40 of them errored at $0: the 10 answered cost $0.10 each.
    let outage = Summary {
        cases: 50,
        calls: 50,
        errored: 40,
        cost_usd: 1.0,
        ..Summary::default()
    };
    let healthy = Summary {
        cases: 50,
        calls: 50,
        cost_usd: 5.0,
        ..Summary::default()
    };
    assert!((super::per_case(outage.cost_usd, &outage) - 0.1).abs() < 1e-12);
    assert!((super::per_case(healthy.cost_usd, &healthy) - 0.1).abs() < 1e-12);
    // Repeats: 10 cases × 3 calls, all answered, $3 in all → $0.30 per case.
    let repeated = Summary {
        cases: 10,
        calls: 30,
        cost_usd: 3.0,
        ..Summary::default()
    };
    assert!((super::per_case(repeated.cost_usd, &repeated) - 0.3).abs() < 1e-12);
}

#[test]
fn each_cell_says_whether_it_moved_on_its_own() {
    // Two models, 40 cases each. `answer/mini` loses 12 cases; `answer/local` does not move.
    let run = |broken: usize| {
        let mut calls = Vec::new();
        for i in 0..40 {
            calls.push(call("answer/local", &format!("case-{i}"), 0, true));
            calls.push(call("answer/mini", &format!("case-{i}"), 0, i >= broken));
        }
        fabricate(calls)
    };
    let (base, head) = (run(0), run(12));
    let outcome = compare(&base, &head, &GateConfig::default(), "base.json");
    let by_id = |id: &str| {
        outcome
            .comparison
            .cells
            .iter()
            .find(|c| c.id == id)
            .and_then(|c| c.pass_rate.clone())
            .expect("paired")
    };
    let mini = by_id("answer/mini");
    assert_eq!((mini.pairs, mini.base, mini.head), (40, 1.0, 0.7));
    assert!(mini.dropped && mini.ci_high < 0.0, "{mini:?}");
    let local = by_id("answer/local");
    assert!(!local.dropped && local.delta == 0.0, "{local:?}");

    let mut shown = head.clone();
    shown.comparison = Some(outcome.comparison);
    let md = crate::report::markdown::render(&shown, &Default::default()).expect("render");
    assert!(md.contains("#### Pass rate by cell"), "{md}");
    assert!(
        md.contains("| ⬇️ answer/mini | 40 | 100.0% | 70.0% | −30.0"),
        "{md}"
    );
    assert!(
        md.contains("| answer/local | 40 | 100.0% | 100.0% |"),
        "{md}"
    );
    let mut text = String::new();
    crate::report::terminal::write_summary(&mut text, &shown, &Default::default())
        .expect("summary");
    assert!(
        text.contains("answer/mini pass rate 100.0% -> 70.0% (−30.0 pts"),
        "{text}"
    );
    assert!(text.contains("DROPPED"), "{text}");
}

#[test]
fn a_judge_score_that_falls_while_every_check_passes_is_caught_when_measured_by_score() {
    // 200 cases whose judge score falls from about 0.95 to about 0.72: every check still passes
    // its 0.7 threshold, so the pass share does not move.
    let run = |level: f64| {
        let calls = (0..200)
            .map(|i| {
                let score = level + 0.02 * ((i % 5) as f64 - 2.0);
                let mut c = call("answer/mini", &format!("case-{i}"), 0, true);
                c.checks = vec![check("accuracy", true, score, 1.0)];
                c.score = score;
                c
            })
            .collect();
        fabricate(calls)
    };
    let (base, head) = (run(0.95), run(0.72));
    let by_pass_share = compare(
        &base,
        &head,
        &accuracy_gate(0.02, Policy::ConfidentDrop),
        "b",
    );
    let r = rule(&by_pass_share, "metrics.accuracy.max_drop");
    assert_eq!(r.status, Status::Pass, "{}", r.message);
    assert!(r.message.contains("did not change"), "{}", r.message);

    let mut gate = accuracy_gate(0.02, Policy::ConfidentDrop);
    gate.metrics[0].measure = Measure::Score;
    let by_score = compare(&base, &head, &gate, "b");
    let r = rule(&by_score, "metrics.accuracy.max_drop");
    assert_eq!(r.status, Status::Fail, "{}", r.message);
    assert!(
        r.message
            .starts_with("accuracy's mean score dropped 23.0 points"),
        "{}",
        r.message
    );
    let m = &by_score.comparison.metrics[1];
    assert_eq!((m.metric.as_str(), m.measure), ("accuracy", Measure::Score));
    assert!(
        (m.base - 0.95).abs() < 1e-9 && (m.head - 0.72).abs() < 1e-9,
        "{m:?}"
    );
}

/// A regressed case whose head answer is a tool call carries the call as its head output, so
/// the comment's side-by-side shows what the model did, not an empty answer.
#[test]
fn a_regressed_tool_call_answer_is_shown_as_its_calls() {
    let base = suite_run(2, |_| true);
    let mut head = suite_run(2, |i| i != 0);
    head[0].output = Some(String::new());
    head[0].tool_calls = vec![crate::provider::ToolCall {
        id: Some("call_1".into()),
        name: "get_weather".into(),
        arguments: serde_json::json!({"city": "Paris"}),
        raw_arguments: None,
    }];
    let outcome = compare(
        &fabricate(base),
        &fabricate(head),
        &GateConfig::default(),
        "base.json",
    );
    let regressed = &outcome.comparison.cases[0];
    assert_eq!(regressed.change, CaseChange::Regressed);
    assert_eq!(regressed.base_output.as_deref(), Some("answer 0 ok"));
    assert_eq!(
        regressed.head_output.as_deref(),
        Some(r#"get_weather({"city":"Paris"})"#)
    );
}

/// A base and a head with every kind of change: regressed, improved, flaky on either side,
/// errored, new and removed cases, over two cells and three repeats.
fn varied_runs() -> (Results, Results) {
    let mut base = Vec::new();
    let mut head = Vec::new();
    for cell in ["answer/mini", "answer/large"] {
        for case in 0..30 {
            for repeat in 0..3 {
                let id = format!("case-{case}");
                let was = case % 4 != 0 || repeat == 1;
                let now = match case % 7 {
                    0 => repeat != 2,
                    1 | 2 => false,
                    _ => was,
                };
                let mut b = call(cell, &id, repeat, was);
                b.output = Some(format!("base answer {case}"));
                b.checks = vec![check("accuracy", was, if was { 1.0 } else { 0.2 }, 1.0)];
                if case != 29 {
                    base.push(b);
                }
                let mut h = if case == 5 && repeat == 0 {
                    errored(cell, &id, repeat, "HTTP 503: overloaded")
                } else {
                    call(cell, &id, repeat, now)
                };
                if h.error.is_none() {
                    h.output = Some(format!("head answer {case}"));
                    h.checks = vec![check("accuracy", now, if now { 1.0 } else { 0.1 }, 1.0)];
                }
                if case != 0 {
                    head.push(h);
                }
            }
        }
    }
    (fabricate(base), fabricate(head))
}

/// Calls read from results files compare, judge and render exactly as the same calls in
/// memory: the comparison, the verdict, the JUnit and markdown reports and the terminal summary.
#[test]
fn calls_read_from_files_compare_and_render_as_calls_in_memory() {
    let (base, head) = varied_runs();
    let dir = tempfile::tempdir().expect("tempdir");
    let on_disk = |results: &Results, name: &str| {
        let path = dir.path().join(name);
        crate::results::file::write(&path, results).expect("write");
        let back = crate::results::file::read(&path).expect("read");
        assert!(back.results.in_order());
        back
    };
    let (base_file, head_file) = (on_disk(&base, "base.json"), on_disk(&head, "head.json"));
    let gate = accuracy_gate(0.05, Policy::ConfidentDrop);
    let in_memory = compare(&base, &head, &gate, "b");
    let from_files = compare(&base_file, &head_file, &gate, "b");
    assert_eq!(from_files, in_memory);
    let c = &in_memory.comparison;
    for change in [
        CaseChange::Regressed,
        CaseChange::Improved,
        CaseChange::New,
        CaseChange::Removed,
    ] {
        assert!(c.cases.iter().any(|e| e.change == change), "{change:?}");
    }
    assert!(c.flaky.iter().any(|f| f.side == Side::Head));
    assert!(c.flaky.iter().any(|f| f.side == Side::Base));

    let judged = |mut head: Results, base: &Results| {
        crate::gate::apply_baseline(&mut head, base, &gate, "b").expect("judge");
        head
    };
    let (memory, files) = (judged(head, &base), judged(head_file, &base_file));
    assert_eq!(files.comparison, memory.comparison);
    assert_eq!(files.verdict, memory.verdict);
    assert_eq!(
        crate::report::junit::render(&files).expect("junit"),
        crate::report::junit::render(&memory).expect("junit")
    );
    let opts = crate::report::markdown::MarkdownOptions::default();
    assert_eq!(
        crate::report::markdown::render(&files, &opts).expect("markdown"),
        crate::report::markdown::render(&memory, &opts).expect("markdown")
    );
    let terminal = |results: &Results| {
        let mut text = String::new();
        crate::report::terminal::write_summary(&mut text, results, &Default::default())
            .expect("summary");
        text
    };
    assert_eq!(terminal(&files), terminal(&memory));
}

/// Outputs and reasons are kept for the first `DETAILED_CASES` changed cases only, so a run
/// where everything changed does not hold every answer; the rest are still listed and scored.
#[test]
fn only_the_first_changed_cases_carry_their_outputs() {
    let n = DETAILED_CASES + 20;
    let base = fabricate(suite_run(n, |_| true));
    let head = fabricate(suite_run(n, |_| false));
    let outcome = compare(&base, &head, &GateConfig::default(), "b");
    let cases = &outcome.comparison.cases;
    assert_eq!(cases.len(), n);
    assert!(cases.iter().all(|c| c.change == CaseChange::Regressed));
    let first = &cases[DETAILED_CASES - 1];
    assert_eq!(
        first.head_output.as_deref(),
        Some(format!("answer {} wrong", DETAILED_CASES - 1).as_str())
    );
    assert!(!first.reasons.is_empty());
    let after = &cases[DETAILED_CASES];
    assert_eq!((after.head_output.as_ref(), after.reasons.len()), (None, 0));
    assert_eq!(after.head_score, Some(0.0).or(after.head_score));
    assert!(after.base_pass_share == Some(1.0) && after.head_pass_share == Some(0.0));
}
