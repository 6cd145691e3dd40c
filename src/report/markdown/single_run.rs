//! The body of a report without a baseline: the metric table with Wilson intervals, the failed
//! cases with their input and output, the flaky cases, cost and usage, and a table per cell.

use std::fmt::Write;

use super::escape::{html_line, inline, pre, word_diff};
use super::page::{Page, cut};
use super::{
    MAX_DETAILED, MAX_LISTED, MarkdownOptions, Picked, errored_section, floor_rule, metric_status,
    more_line, pretty, rollup, what_next, without_output_quote,
};
use crate::report::cases::CaseView;
use crate::report::terminal::{VARIABLE_PREFIX_NOTE, prompt_cache_share};
use crate::results::Results;
use crate::support::fmt::{format_confidence, format_count, format_percent, format_usd};
use crate::support::text::truncate;

pub(super) fn single_run_body(
    page: &mut Page,
    results: &Results,
    picked: &Picked<'_>,
    opts: &MarkdownOptions,
) {
    page.fixed(single_metric_table(results));

    let failed = &picked.failed;
    if picked.failed_total > 0 {
        page.fixed(format!(
            "#### Failed cases ({})\n\n",
            format_count(picked.failed_total as u64)
        ));
        page.fixed(rollup(
            picked
                .failed_rollup
                .iter()
                .map(|(r, o)| (r.as_str(), o.as_deref())),
        ));
        for (i, view) in failed.iter().take(MAX_LISTED).enumerate() {
            let line = format!(
                "- ❌ {} · {}: {}\n",
                inline(&view.cell),
                inline(&view.case_id),
                inline(&without_output_quote(&first_failure(view)))
            );
            if i < MAX_DETAILED {
                page.shrinkable(
                    failed_details(view),
                    line,
                    cut::BODIES,
                    cut::KEY_LINES,
                    "failed cases",
                );
            } else {
                page.item(line, cut::KEY_LINES, "failed cases");
            }
        }
        more_line(page, picked.failed_total, "failed cases");
        page.fixed("\n");
    }

    errored_section(page, picked);
    let again: Vec<(&str, &str)> = picked
        .failed_keys
        .iter()
        .map(|(cell, case)| (cell.as_str(), case.as_str()))
        .collect();
    what_next(page, results, &again, picked.failed_total, opts);

    if picked.flaky_total > 0 {
        page.fixed(format!(
            "#### Flaky cases ({})\n\n",
            format_count(picked.flaky_total as u64)
        ));
        for view in picked.flaky.iter().take(MAX_LISTED) {
            page.item(
                format!(
                    "- 🎲 {} · {}: passed {} of {} repeats\n",
                    inline(&view.cell),
                    inline(&view.case_id),
                    view.passed(),
                    view.graded()
                ),
                cut::LISTS,
                "flaky cases",
            );
        }
        more_line(page, picked.flaky_total, "flaky cases");
        page.fixed("\n");
    }

    let s = &results.summary;
    let mut usage = String::from("#### Cost and usage\n\n");
    let _ = write!(usage, "Cost {}", format_usd(s.cost_usd));
    if s.spent_usd != s.cost_usd {
        let _ = write!(
            usage,
            " ({} spent, the rest replayed from the cache)",
            format_usd(s.spent_usd)
        );
    }
    let _ = writeln!(
        usage,
        " · tokens {} input, {} output ({} cached input) · latency p50 {} ms, p95 {} ms · cache hits {} of {} calls\n",
        format_count(s.input_tokens),
        format_count(s.output_tokens),
        format_count(s.cached_input_tokens),
        format_count(s.latency_p50_ms),
        format_count(s.latency_p95_ms),
        format_count(s.cache_hits),
        format_count(s.calls)
    );
    page.fixed(usage);

    if !results.cells.is_empty() {
        let show_cache = results.summary.cached_input_tokens > 0;
        let mut table = String::from(
            "<details><summary>Cells</summary>\n\n| Cell | Model | Passed | Failed | Errored | Pass rate | Cost |",
        );
        table.push_str(if show_cache {
            " Prompt cache |\n|---|---|---:|---:|---:|---:|---:|---:|\n"
        } else {
            "\n|---|---|---:|---:|---:|---:|---:|\n"
        });
        for cell in &results.cells {
            let s = &cell.summary;
            let _ = write!(
                table,
                "| {} | {} | {} | {} | {} | {} | {} |",
                inline(&cell.id),
                inline(&cell.model_name),
                format_count(s.passed),
                format_count(s.failed),
                format_count(s.errored),
                if s.passed + s.failed == 0 {
                    "–".to_owned()
                } else {
                    format_percent(s.pass_rate)
                },
                format_usd(s.cost_usd)
            );
            if show_cache {
                let share = prompt_cache_share(results, s).map_or("–".to_owned(), format_percent);
                let _ = write!(table, " {share} |");
            }
            table.push('\n');
        }
        table.push_str("\n</details>\n\n");
        page.item(table, cut::CONTEXT, "cell tables");
    }
    let flagged: Vec<String> = results
        .cells
        .iter()
        .filter(|c| c.variable_prefix)
        .map(|c| inline(&c.id))
        .collect();
    if !flagged.is_empty() {
        page.item(
            format!(
                "Prompt cache: in {}, {}.\n\n",
                flagged.join(", "),
                VARIABLE_PREFIX_NOTE
            ),
            cut::CONTEXT,
            "prompt cache notes",
        );
    }
}

fn single_metric_table(results: &Results) -> String {
    let confidence = results
        .metrics
        .values()
        .next()
        .map_or(0.95, |m| m.confidence);
    let mut text = format!(
        "| Metric | Value | {} CI (Wilson) | n | Threshold | Status |\n|---|---:|---|---:|---|---|\n",
        format_confidence(confidence)
    );
    for (name, m) in &results.metrics {
        let floor = floor_rule(results, name);
        let (threshold, status) = match floor {
            Some(rule) => (
                format!("min {}", format_percent(rule.threshold)),
                metric_status(results, rule.status),
            ),
            None => ("–".to_owned(), "–".to_owned()),
        };
        let _ = writeln!(
            text,
            "| {} | {} | {}–{} | {} | {threshold} | {status} |",
            inline(name),
            format_percent(m.mean),
            format_percent(m.ci_low),
            format_percent(m.ci_high),
            format_count(m.n)
        );
    }
    text.push('\n');
    text
}

fn failed_details(view: &CaseView<'_>) -> String {
    let mut text = format!(
        "<details><summary>❌ {} · {}: score {:.2}, passed {} of {} repeats · {}</summary>\n\n",
        html_line(&view.cell),
        html_line(&view.case_id),
        view.score(),
        view.passed(),
        view.repeats.len(),
        html_line(&truncate(
            &without_output_quote(&first_failure(view)),
            super::SUMMARY_REASON_CHARS
        ))
    );
    let reasons: Vec<String> = view
        .repeats
        .iter()
        .filter(|c| !c.passed)
        .flat_map(|c| c.checks.iter().filter(|k| !k.passed))
        .take(10)
        .map(|k| format!("- {}: {}\n", inline(&k.kind), inline(&k.reason)))
        .collect();
    if !reasons.is_empty() {
        text.push_str("**Failed checks**\n\n");
        text.push_str(&reasons.concat());
        text.push('\n');
    }
    if let Some(first) = view.repeats.first() {
        text.push_str("**Input**\n\n");
        text.push_str(&pre(&pretty(&first.vars)));
        if let Some(expected) = &first.expected {
            text.push_str("**Expected**\n\n");
            text.push_str(&pre(&pretty(expected)));
        }
    }
    if let Some(call) = view.repeats.iter().find(|c| !c.passed) {
        let _ = writeln!(text, "**Output** (repeat {})\n", call.repeat);
        let output = call.shown_output().unwrap_or_default();
        text.push_str(&word_diff(&output, &output));
    }
    text.push_str("</details>\n\n");
    text
}

pub(super) fn first_failure(view: &CaseView<'_>) -> String {
    view.repeats
        .iter()
        .filter(|c| !c.passed)
        .flat_map(|c| c.checks.iter().filter(|k| !k.passed))
        .next()
        .map_or_else(
            || format!("score {:.2} is below the case threshold", view.score()),
            |k| format!("{}: {}", k.kind, k.reason),
        )
}
