//! The body of a report against a baseline: the metric table with intervals, what the suite
//! can detect, the regressed cases with both outputs and a diff, the other changed and flaky
//! cases, cost and usage side by side, and which cells were evaluated again.

use std::fmt::Write;

use super::escape::{html_line, inline, pre, word_diff};
use super::page::{Page, cut};
use super::{
    MAX_DETAILED, MAX_LISTED, MarkdownOptions, Picked, errored_section, floor_rule, metric_status,
    more_line, pretty, rollup, status_badge, what_next, without_output_quote,
};
use crate::report::cases::CaseView;
use crate::results::{
    CaseChange, CaseComparison, CellChange, Comparison, MetricComparison, QuantityComparison,
    Results, Side, Status, TestMethod,
};
use crate::support::fmt::{
    count_of, format_confidence, format_count, format_percent, format_signed_points, format_usd,
    p_clause,
};
use crate::support::text::truncate;

pub(super) fn comparison_body(
    page: &mut Page,
    results: &Results,
    comparison: &Comparison,
    picked: &Picked<'_>,
    opts: &MarkdownOptions,
) {
    page.fixed(why_it_passes(results, comparison));
    page.fixed(metric_table(results, comparison));
    page.fixed(min_detectable_drop(comparison));
    if let Some(table) = cell_table(comparison) {
        page.item(table, cut::CONTEXT, "the pass rate by cell");
    }

    let of = |change: CaseChange| -> Vec<&CaseComparison> {
        comparison
            .cases
            .iter()
            .filter(|c| c.change == change)
            .collect()
    };

    let regressed = of(CaseChange::Regressed);
    if !regressed.is_empty() {
        page.fixed(format!(
            "#### Regressed cases ({})\n\n",
            format_count(regressed.len() as u64)
        ));
        page.fixed(rollup(regressed.iter().filter_map(|c| {
            let reason = c.reasons.first()?;
            Some((reason.as_str(), c.head_output.as_deref()))
        })));
        for (i, case) in regressed.iter().take(MAX_LISTED).enumerate() {
            let view = picked
                .detailed
                .get(&(case.cell.clone(), case.case_id.clone()));
            let line = change_line(case, "❌");
            if i < MAX_DETAILED {
                page.shrinkable(
                    regressed_details(case, view),
                    line,
                    cut::BODIES,
                    cut::KEY_LINES,
                    "regressed cases",
                );
            } else {
                page.item(line, cut::KEY_LINES, "regressed cases");
            }
        }
        more_line(page, regressed.len(), "regressed cases");
        page.fixed("\n");
    }

    errored_section(page, picked);
    let again: Vec<(&str, &str)> = regressed
        .iter()
        .map(|c| (c.cell.as_str(), c.case_id.as_str()))
        .collect();
    what_next(page, results, &again, regressed.len(), opts);

    let improved = of(CaseChange::Improved);
    list_section(
        page,
        "Improved cases",
        &improved,
        "✅",
        cut::IMPROVED,
        "improved cases",
    );
    let new = of(CaseChange::New);
    list_section(page, "New cases", &new, "🆕", cut::LISTS, "new cases");
    let removed = of(CaseChange::Removed);
    list_section(
        page,
        "Removed cases",
        &removed,
        "➖",
        cut::LISTS,
        "removed cases",
    );

    if !comparison.flaky.is_empty() {
        page.fixed(format!(
            "#### Flaky cases ({})\n\nTheir repeats disagree; their score is the mean over repeats.\n\n",
            format_count(comparison.flaky_cases() as u64)
        ));
        for flaky in comparison.flaky.iter().take(MAX_LISTED) {
            let side = match flaky.side {
                Side::Base => "base",
                Side::Head => "head",
            };
            page.item(
                format!(
                    "- 🎲 {} · {}: {side} passed {} of {} repeats\n",
                    inline(&flaky.cell),
                    inline(&flaky.case_id),
                    flaky.passed,
                    flaky.repeats
                ),
                cut::LISTS,
                "flaky cases",
            );
        }
        more_line(page, comparison.flaky.len(), "flaky cases");
        page.fixed("\n");
    }

    page.fixed(usage_table(comparison));
    cells_section(page, comparison);
}

/// When cases regressed and the gate still passes, the sentence that says why, so a reviewer
/// does not read a green PASS over red crosses as a bug: the drop is within what the gate
/// allows, or within what the suite can tell from noise (and how large a drop it could tell),
/// or no rule compares with the base at all.
fn why_it_passes(results: &Results, comparison: &Comparison) -> String {
    let regressed = comparison
        .cases
        .iter()
        .filter(|c| c.change == CaseChange::Regressed)
        .count() as u64;
    if results.verdict.status != Status::Pass || regressed == 0 {
        return String::new();
    }
    let mut text = format!(
        "ℹ️ **Why this passes with {}**: ",
        count_of(regressed, "regressed case", "regressed cases")
    );
    // The gated metric that fared worst: the one a reviewer would ask about.
    let gated = comparison
        .metrics
        .iter()
        .filter(|m| m.max_drop.is_some() && m.method != TestMethod::None)
        .min_by(|a, b| a.delta.total_cmp(&b.delta));
    let Some(m) = gated else {
        text.push_str(
            "no gate rule compares the head with the base, so only the absolute floors decide. \
             Add `max_drop` to a metric under `[gate.metrics]` to fail on a regression.\n\n",
        );
        return text;
    };
    let allowed = format_signed_points(m.max_drop.unwrap_or_default())
        .trim_start_matches('+')
        .to_owned();
    let _ = write!(
        text,
        "{} changed by {} ({} CI {} to {}) over {} paired cases",
        inline(&m.metric),
        format_signed_points(m.delta),
        format_confidence(m.confidence),
        format_signed_points(m.ci_low),
        format_signed_points(m.ci_high),
        format_count(m.pairs)
    );
    let improved = comparison
        .cases
        .iter()
        .filter(|c| c.change == CaseChange::Improved)
        .count() as u64;
    if m.delta >= 0.0 {
        let _ = write!(
            text,
            ": no drop overall, {} made up for {}.",
            count_of(improved, "improved case", "improved cases"),
            if regressed == 1 { "it" } else { "them" }
        );
    } else if m.ci_low >= -m.max_drop.unwrap_or_default() {
        let _ = write!(
            text,
            ": even its low end stays within the {allowed} drop the gate allows."
        );
    } else {
        let p = m
            .p_adjusted
            .or(m.p_value)
            .map(|p| format!(" ({})", p_clause(p)))
            .unwrap_or_default();
        let _ = write!(
            text,
            ": this suite cannot tell a drop beyond the {allowed} allowed from noise{p}."
        );
        if let Some(mdd) = m.min_detectable_drop {
            let _ = write!(
                text,
                " Its minimum detectable drop is {}: add cases or repeats to see smaller drops.",
                format_signed_points(mdd).trim_start_matches('+')
            );
        }
    }
    text.push_str("\n\n");
    text
}

fn metric_table(results: &Results, comparison: &Comparison) -> String {
    let confidence = comparison.metrics.first().map_or(0.95, |m| m.confidence);
    let mut text = format!(
        "| Metric | Base | Head | Δ ({} CI) | Threshold | Status |\n|---|---:|---:|---|---|---|\n",
        format_confidence(confidence)
    );
    for m in &comparison.metrics {
        let floor = floor_rule(results, &m.metric);
        let mut threshold = Vec::new();
        if let Some(drop) = m.max_drop {
            let word = if m.policy == crate::results::gate::Policy::NonInferiority.as_str() {
                "non-inferior within"
            } else {
                "max drop"
            };
            threshold.push(format!(
                "{word} {}",
                format_signed_points(drop).trim_start_matches('+')
            ));
        }
        if let Some(rule) = floor {
            threshold.push(format!("min {}", format_percent(rule.threshold)));
        }
        let threshold = if threshold.is_empty() {
            "–".to_owned()
        } else {
            threshold.join(", ")
        };
        let name = match m.measure {
            crate::results::gate::Measure::PassRate => inline(&m.metric),
            crate::results::gate::Measure::Score => format!("{} (mean score)", inline(&m.metric)),
        };
        let pairs = format_count(m.pairs);
        if m.method == TestMethod::None {
            // Fewer than two paired cases: there is no interval to show, and nothing was shown.
            let status = match floor {
                Some(rule) => {
                    let (emoji, word) = status_badge(rule.status);
                    format!("{emoji} {}, not compared", word.to_ascii_lowercase())
                }
                None => "⚪ not compared: fewer than 2 paired cases".to_owned(),
            };
            let side = |v: f64| {
                if m.pairs == 0 {
                    "–".to_owned()
                } else {
                    format_percent(v)
                }
            };
            let _ = writeln!(
                text,
                "| {name} (n={pairs}) | {} | {} | – | {threshold} | {status} |",
                side(m.base),
                side(m.head)
            );
            continue;
        }
        let status = worst(m.status, floor.map(|r| r.status));
        let shown = metric_status(results, status);
        // The p-value the decision used: Holm-adjusted across the gated metrics when given.
        let p = m
            .p_adjusted
            .or(m.p_value)
            .map(|p| format!(" ({})", p_clause(p)))
            .unwrap_or_default();
        // A metric with its own confidence says so: the header names the first one's.
        let level = if m.confidence == confidence {
            String::new()
        } else {
            format!(" at {}", format_confidence(m.confidence))
        };
        let _ = writeln!(
            text,
            "| {name} (n={pairs}) | {} | {} | {} ({} to {}{level}) | {threshold} | {shown}{p} |",
            format_percent(m.base),
            format_percent(m.head),
            format_signed_points(m.delta),
            format_signed_points(m.ci_low),
            format_signed_points(m.ci_high),
        );
    }
    text.push('\n');
    text
}

fn worst(a: Status, b: Option<Status>) -> Status {
    let rank = |s: Status| match s {
        Status::Pass => 0,
        Status::Fail => 1,
        Status::Error => 2,
    };
    match b {
        Some(b) if rank(b) > rank(a) => b,
        _ => a,
    }
}

/// The pass rate of each cell that ran in both runs, when there are several: a metric pooled
/// over cells can hide one model's regression behind the others.
fn cell_table(comparison: &Comparison) -> Option<String> {
    let cells: Vec<_> = comparison
        .cells
        .iter()
        .filter_map(|c| Some((c, c.pass_rate.as_ref()?)))
        .collect();
    if cells.len() < 2 {
        return None;
    }
    let confidence = comparison
        .metrics
        .iter()
        .find(|m| m.metric == crate::results::PASS_RATE_METRIC)
        .map_or(0.95, |m| m.confidence);
    let mut text = format!(
        "#### Pass rate by cell\n\n| Cell | Cases | Base | Head | Δ ({} CI) |\n|---|---:|---:|---:|---|\n",
        format_confidence(confidence)
    );
    for (cell, delta) in &cells {
        let mark = if delta.dropped { "⬇️ " } else { "" };
        let _ = writeln!(
            text,
            "| {mark}{} | {} | {} | {} | {} ({} to {}) |",
            inline(&cell.id),
            format_count(delta.pairs),
            format_percent(delta.base),
            format_percent(delta.head),
            format_signed_points(delta.delta),
            format_signed_points(delta.ci_low),
            format_signed_points(delta.ci_high),
        );
    }
    if cells.iter().any(|(_, d)| d.dropped) {
        text.push_str(
            "\n⬇️ dropped on its own by more than the pass rate tolerates, at the gate's confidence \
             (no correction for the number of cells: the gate judges the metrics above).\n",
        );
    }
    text.push('\n');
    Some(text)
}

fn min_detectable_drop(comparison: &Comparison) -> String {
    let mut text = min_detectable_drop_line(comparison);
    if comparison.unpaired_errored > 0 {
        let _ = write!(
            text,
            "**{} not compared**: a call errored in the base or the head run. An outage is never counted as a regression, nor as a pass.\n\n",
            if comparison.unpaired_errored == 1 {
                "1 case".to_owned()
            } else {
                format!("{} cases", format_count(comparison.unpaired_errored))
            }
        );
    }
    text
}

fn min_detectable_drop_line(comparison: &Comparison) -> String {
    let known: Vec<&MetricComparison> = comparison
        .metrics
        .iter()
        .filter(|m| m.min_detectable_drop.is_some())
        .collect();
    if known.is_empty() {
        return "**Minimum detectable drop**: not estimated (too few paired cases).\n\n".to_owned();
    }
    let parts: Vec<String> = known
        .iter()
        .map(|m| {
            format!(
                "{} {} (n={})",
                inline(&m.metric),
                format_signed_points(m.min_detectable_drop.unwrap_or_default())
                    .trim_start_matches('+'),
                format_count(m.pairs)
            )
        })
        .collect();
    format!(
        "**Minimum detectable drop** (80% power): {}. Smaller true drops can pass unnoticed at this suite size.\n\n",
        parts.join(", ")
    )
}

fn usage_table(comparison: &Comparison) -> String {
    let mut text =
        String::from("#### Cost and usage\n\n| | Base | Head | Change |\n|---|---:|---:|---:|\n");
    type Row<'a> = (&'a str, &'a QuantityComparison, fn(f64) -> String);
    let rows: [Row<'_>; 4] = [
        ("Cost per case", &comparison.cost, format_usd),
        ("Input tokens per case", &comparison.input_tokens, |v| {
            format_count(v.max(0.0).round() as u64)
        }),
        ("Output tokens per case", &comparison.output_tokens, |v| {
            format_count(v.max(0.0).round() as u64)
        }),
        ("Latency p95", &comparison.latency_p95_ms, |v| {
            // 0 is no measured call: every answer came from the cache (or errored).
            if v <= 0.0 {
                "– (cached)".to_owned()
            } else {
                format!("{} ms", format_count(v.round() as u64))
            }
        }),
    ];
    for (label, q, fmt) in rows {
        let change = q.change.map_or_else(
            || "–".to_owned(),
            |c| {
                format!(
                    "{}{:.1}%",
                    if c >= 0.0 { "+" } else { "−" },
                    c.abs() * 100.0
                )
            },
        );
        let _ = writeln!(
            text,
            "| {label} | {} | {} | {change} |",
            fmt(q.base),
            fmt(q.head)
        );
    }
    text.push('\n');
    text
}

fn cells_section(page: &mut Page, comparison: &Comparison) {
    let mut text = String::from("#### Cells\n\n");
    let groups = [
        (
            CellChange::Changed,
            "changed (re-evaluated: their prompt, model, checks or data changed)",
        ),
        (CellChange::New, "new (not in the baseline)"),
        (CellChange::Removed, "removed (only in the baseline)"),
        (
            CellChange::Unchanged,
            "unchanged (same fingerprint as the baseline)",
        ),
    ];
    for (change, label) in groups {
        let ids: Vec<String> = comparison
            .cells
            .iter()
            .filter(|c| c.change == change)
            .map(|c| inline(&c.id))
            .collect();
        if ids.is_empty() {
            continue;
        }
        let shown = ids.iter().take(50).cloned().collect::<Vec<_>>().join(", ");
        let more = ids.len().saturating_sub(50);
        let _ = write!(text, "- {} {label}: {shown}", ids.len());
        if more > 0 {
            let _ = write!(text, " and {more} more");
        }
        text.push('\n');
    }
    let _ = writeln!(
        text,
        "\n{} paired cases unchanged.\n",
        format_count(comparison.unchanged)
    );
    page.item(text, cut::CONTEXT, "cell lists");
}

fn list_section(
    page: &mut Page,
    title: &str,
    cases: &[&CaseComparison],
    emoji: &str,
    level: u8,
    what: &'static str,
) {
    if cases.is_empty() {
        return;
    }
    page.fixed(format!(
        "#### {title} ({})\n\n",
        format_count(cases.len() as u64)
    ));
    for case in cases.iter().take(MAX_LISTED) {
        page.item(change_line(case, emoji), level, what);
    }
    more_line(page, cases.len(), what);
    page.fixed("\n");
}

/// `- ❌ cell · case: score 1.00 → 0.00 (reason)`.
fn change_line(case: &CaseComparison, emoji: &str) -> String {
    let score = |s: Option<f64>| s.map_or_else(|| "–".to_owned(), |s| format!("{s:.2}"));
    let mut line = format!(
        "- {emoji} {} · {}: score {} → {}",
        inline(&case.cell),
        inline(&case.case_id),
        score(case.base_score),
        score(case.head_score)
    );
    // The reasons are the worse side's: for an improved or a removed case, the base's failure,
    // which must not read as the head's.
    let side = match case.change {
        CaseChange::Improved | CaseChange::Removed => "the base failed: ",
        _ => "",
    };
    if let Some(reason) = case.reasons.first() {
        let _ = write!(line, " ({side}{})", inline(&without_output_quote(reason)));
    }
    line.push('\n');
    line
}

fn regressed_details(case: &CaseComparison, view: Option<&CaseView<'_>>) -> String {
    let score = |s: Option<f64>| s.map_or_else(|| "–".to_owned(), |s| format!("{s:.2}"));
    let first = case.reasons.first();
    let mut text = format!(
        "<details><summary>❌ {} · {}: score {} → {}",
        html_line(&case.cell),
        html_line(&case.case_id),
        score(case.base_score),
        score(case.head_score)
    );
    if let Some(reason) = first {
        let _ = write!(
            text,
            " · {}",
            html_line(&truncate(
                &without_output_quote(reason),
                super::SUMMARY_REASON_CHARS
            ))
        );
    }
    text.push_str("</summary>\n\n");
    // The summary carries the first reason; the list is for more of them, or a longer one.
    let first_cut = first
        .is_some_and(|r| without_output_quote(r).chars().count() > super::SUMMARY_REASON_CHARS);
    if case.reasons.len() > 1 || first_cut {
        text.push_str("**Failed checks**\n\n");
        for reason in case.reasons.iter().take(10) {
            let _ = writeln!(text, "- {}", inline(reason));
        }
        text.push('\n');
    }
    if let Some(first) = view.and_then(|v| v.repeats.first()) {
        text.push_str("**Input**\n\n");
        text.push_str(&pre(&pretty(&first.vars)));
        if let Some(expected) = &first.expected {
            text.push_str("**Expected**\n\n");
            text.push_str(&pre(&pretty(expected)));
        }
    }
    // The comparison carries the first repeat's output; an older file may not, so fall back to
    // the head run's own record.
    let head = case.head_output.clone().or_else(|| {
        view.and_then(|v| v.repeats.first())
            .and_then(|c| c.shown_output())
    });
    match (case.base_output.as_deref(), head.as_deref()) {
        (Some(base), Some(head)) if base != head => {
            text.push_str("**Output**, base → head (<del>removed</del>, <ins>added</ins>)\n\n");
            text.push_str(&word_diff(base, head));
        }
        (Some(_), Some(head)) => {
            text.push_str("**Output** (the same in both runs)\n\n");
            text.push_str(&word_diff(head, head));
        }
        (None, Some(head)) => {
            text.push_str("**Head output**\n\n");
            text.push_str(&word_diff(head, head));
        }
        (Some(base), None) => {
            text.push_str("**Base output** (the head run has none)\n\n");
            text.push_str(&word_diff(base, base));
        }
        (None, None) => {}
    }
    text.push_str("</details>\n\n");
    text
}
