//! The markdown report: the sticky PR comment and the CI job summary. A reviewer reads it in a
//! minute: the verdict first, on one line; the metric table; then the evidence (regressed cases
//! with outputs side by side, improvements, new, removed and flaky cases), cost and usage, and
//! which cells were evaluated.
//!
//! Two rules shape everything here (both documented in `docs/reports.md`):
//!
//! - **Untrusted text is inert.** Model output, case ids, vars, expected values, check reasons and
//!   provider errors cannot mention anyone, reference an issue, make a link, an image or HTML,
//!   close a `<details>` or a block, or forge the hidden marker. Short values are flattened to
//!   one line and escaped with [`inline`]; long ones go in `<pre>` blocks, HTML-escaped, where
//!   neither markdown nor GitHub's mention and reference filters apply. Code fences are not used:
//!   their content is copied into the page verbatim, so a fence holding `<!-- marker -->` would
//!   put the marker string in the comment body for anyone who searches for it.
//! - **The page fits GitHub's limit** (65,536 characters for a comment). Content is cut least
//!   important first (see [`render`]); the verdict line and the metric table are never cut, and
//!   the page says what was left out.

use std::collections::HashMap;
use std::fmt::Write;

use super::cases::{CaseStatus, CaseView, cases};
use crate::results::{
    CaseChange, CaseComparison, CellChange, Comparison, MetricComparison, QuantityComparison,
    Results, RuleOutcome, Side, Status, TestMethod,
};
use crate::support::fmt::{
    format_confidence, format_count, format_percent, format_signed_points, format_usd, p_clause,
};
use crate::support::text::{sanitize_for_log, truncate};

/// GitHub rejects a comment body longer than this many characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// The default length limit: GitHub's, less room for a caller to add a line or two.
pub const DEFAULT_MAX_CHARS: usize = 65_000;
const _: () = assert!(DEFAULT_MAX_CHARS < GITHUB_COMMENT_LIMIT);

/// Longest one-line value (an id, a reason) before it is cut.
const MAX_INLINE_CHARS: usize = 200;
/// Longest block (an output, the vars, a diff) inside a case's details.
const MAX_BLOCK_CHARS: usize = 2_000;
/// Cases rendered with a collapsible body; later ones are listed on one line.
const MAX_DETAILED: usize = 100;
/// Cases listed per section at most; the rest are counted.
const MAX_LISTED: usize = 500;
/// Room kept for the "cut to fit" notes that truncation adds.
const NOTES_RESERVE: usize = 2_000;

/// What the caller adds around the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkdownOptions {
    /// Length limit in characters (Unicode scalar values, as GitHub counts).
    pub max_chars: usize,
    /// A link to the CI run, shown in the header and footer. Only `http(s)` URLs without
    /// spaces or markup are linked; anything else is ignored.
    pub run_url: Option<String>,
    /// Text of a hidden marker written as the first line, `<!-- TEXT -->`, by which a bot finds
    /// its own comment again. `--` and `>` are removed from it so it cannot end early.
    pub marker: Option<String>,
}

impl Default for MarkdownOptions {
    fn default() -> Self {
        MarkdownOptions {
            max_chars: DEFAULT_MAX_CHARS,
            run_url: None,
            marker: None,
        }
    }
}

/// Renders `results` as markdown of at most `opts.max_chars` characters.
///
/// When the page is too long, content is cut in this order, each step only as far as needed:
/// 1. the improved cases;
/// 2. the bodies (input, expected, outputs, diff) of regressed cases — or failed cases in a
///    single-run report — last first, leaving a one-line entry;
/// 3. the new, removed, flaky and errored case lists, last first;
/// 4. the one-line entries of regressed (failed) cases, last first;
/// 5. the cell list and the full list of gate rules.
///
/// The verdict, the metric table, the minimum detectable drop and the usage table are never
/// cut; a note at the end says what was.
pub fn render(results: &Results, opts: &MarkdownOptions) -> String {
    let mut page = Page::default();
    header(&mut page, results, opts);
    match &results.comparison {
        Some(comparison) => comparison_body(&mut page, results, comparison),
        None => single_run_body(&mut page, results),
    }
    rules_section(&mut page, results);
    footer(&mut page, results, opts);
    page.fit(opts.max_chars)
}

// ---------------------------------------------------------------------------------------------
// Layout and truncation

/// When a block is shortened or dropped, from first cut (1) to last.
mod cut {
    pub const IMPROVED: u8 = 1;
    pub const BODIES: u8 = 2;
    pub const LISTS: u8 = 3;
    pub const KEY_LINES: u8 = 4;
    pub const CONTEXT: u8 = 5;
    /// Never cut.
    pub const NEVER: u8 = u8::MAX;
}

#[derive(Debug)]
struct Block {
    full: String,
    /// A shorter stand-in used from `alt_level` on.
    alt: Option<(u8, String)>,
    /// Dropped from this level on.
    drop_level: u8,
    /// What a dropped block was, for the "N more" note (`None` for fixed text).
    what: Option<&'static str>,
    /// For a count of `what` never rendered at all (beyond [`MAX_LISTED`]): how many. It is
    /// merged into the "… and N more" line of the dropped blocks just before it.
    more: usize,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Full,
    Alt,
    Dropped,
}

impl Block {
    fn len(&self) -> usize {
        match self.state {
            State::Full => self.full.chars().count(),
            State::Alt => self.alt.as_ref().map_or(0, |(_, a)| a.chars().count()),
            State::Dropped => 0,
        }
    }
}

#[derive(Debug, Default)]
struct Page {
    blocks: Vec<Block>,
}

impl Page {
    /// Text that is never cut.
    fn fixed(&mut self, text: impl Into<String>) {
        self.blocks.push(Block {
            full: text.into(),
            alt: None,
            drop_level: cut::NEVER,
            what: None,
            more: 0,
            state: State::Full,
        });
    }

    /// Text dropped whole at `level`, counted as one `what` in the note.
    fn item(&mut self, text: String, level: u8, what: &'static str) {
        self.blocks.push(Block {
            full: text,
            alt: None,
            drop_level: level,
            what: Some(what),
            more: 0,
            state: State::Full,
        });
    }

    /// Text shortened to `alt` at `alt_level`, dropped at `drop_level`.
    fn shrinkable(
        &mut self,
        text: String,
        alt: String,
        alt_level: u8,
        drop_level: u8,
        what: &'static str,
    ) {
        self.blocks.push(Block {
            full: text,
            alt: Some((alt_level, alt)),
            drop_level,
            what: Some(what),
            more: 0,
            state: State::Full,
        });
    }

    /// `n` more `what` that were never rendered.
    fn more(&mut self, n: usize, what: &'static str) {
        self.blocks.push(Block {
            full: String::new(),
            alt: None,
            drop_level: cut::NEVER,
            what: Some(what),
            more: n,
            state: State::Full,
        });
    }

    fn fit(mut self, max_chars: usize) -> String {
        let mut total: usize = self.blocks.iter().map(Block::len).sum();
        let budget = max_chars.saturating_sub(NOTES_RESERVE);
        let mut shortened: Vec<&'static str> = Vec::new();
        if total > max_chars {
            for level in 1..cut::NEVER {
                for block in self.blocks.iter_mut().rev() {
                    if total <= budget {
                        break;
                    }
                    let before = block.len();
                    if block.drop_level == level && block.state != State::Dropped {
                        block.state = State::Dropped;
                    } else if block.state == State::Full
                        && block.alt.as_ref().is_some_and(|(l, _)| *l == level)
                    {
                        block.state = State::Alt;
                        if let Some(what) = block.what
                            && !shortened.contains(&what)
                        {
                            shortened.push(what);
                        }
                    } else {
                        continue;
                    }
                    total = total - before + block.len();
                }
                if total <= budget {
                    break;
                }
            }
        }

        let mut out = String::with_capacity(max_chars.min(total + NOTES_RESERVE));
        let mut dropped: Vec<(&'static str, usize)> = Vec::new();
        let mut run: Option<(&'static str, usize)> = None;
        for block in &self.blocks {
            if block.more > 0 {
                if let Some(what) = block.what {
                    match &mut run {
                        Some((w, n)) if *w == what => *n += block.more,
                        _ => {
                            flush_run(&mut out, run.take(), &mut dropped);
                            run = Some((what, block.more));
                        }
                    }
                }
                continue;
            }
            if block.state == State::Dropped {
                if let Some(what) = block.what {
                    match &mut run {
                        Some((w, n)) if *w == what => *n += 1,
                        _ => {
                            flush_run(&mut out, run.take(), &mut dropped);
                            run = Some((what, 1));
                        }
                    }
                }
                continue;
            }
            flush_run(&mut out, run.take(), &mut dropped);
            match block.state {
                State::Full => out.push_str(&block.full),
                State::Alt => {
                    if let Some((_, alt)) = &block.alt {
                        out.push_str(alt);
                    }
                }
                State::Dropped => {}
            }
        }
        flush_run(&mut out, run.take(), &mut dropped);

        if !dropped.is_empty() || !shortened.is_empty() {
            let mut parts: Vec<String> = dropped
                .iter()
                .map(|(what, n)| format!("{} {what} left out", format_count(*n as u64)))
                .collect();
            parts.extend(
                shortened
                    .iter()
                    .map(|what| format!("details of {what} shortened")),
            );
            let _ = writeln!(
                out,
                "\n✂️ **Cut to fit the {} character limit**: {}. The JUnit report and the results file have everything.",
                format_count(max_chars as u64),
                parts.join("; ")
            );
        }
        // A last guard for pathological inputs (hundreds of gated metrics): the fixed text alone
        // is over the limit. Cut at a line boundary so no block is left half open, then close
        // any `<details>` or `<pre>` the cut left open.
        if out.chars().count() > max_chars {
            out = hard_cut(&out, max_chars);
        }
        out
    }
}

fn flush_run(
    out: &mut String,
    run: Option<(&'static str, usize)>,
    dropped: &mut Vec<(&'static str, usize)>,
) {
    if let Some((what, n)) = run {
        // Lists of cases say how many were left out in place; whole sections (the cell list,
        // the rule list) only in the closing note.
        if what.ends_with("cases") {
            let _ = writeln!(out, "- … and {} more {what}", format_count(n as u64));
        }
        match dropped.iter_mut().find(|(w, _)| *w == what) {
            Some((_, total)) => *total += n,
            None => dropped.push((what, n)),
        }
    }
}

fn hard_cut(text: &str, max_chars: usize) -> String {
    const NOTE: &str = "\n**Report cut: it did not fit the length limit.**\n";
    // Room for the note and for closing one `<pre>` and one `<details>` (they never nest).
    let keep = max_chars.saturating_sub(NOTE.len() + 40);
    let mut end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    if let Some(newline) = text[..end].rfind('\n') {
        end = newline + 1;
    }
    let head = &text[..end];
    let mut out = head.to_owned();
    if head.matches("<pre>").count() > head.matches("</pre>").count() {
        out.push_str("\n</pre>\n\n");
    }
    if head.matches("<details>").count() > head.matches("</details>").count() {
        out.push_str("\n</details>\n\n");
    }
    out.push_str(NOTE);
    out
}

// ---------------------------------------------------------------------------------------------
// Sections

fn header(page: &mut Page, results: &Results, opts: &MarkdownOptions) {
    let mut text = String::new();
    if let Some(marker) = &opts.marker {
        let clean: String = sanitize_for_log(marker)
            .replace("--", "")
            .replace(['>', '<', '\n'], "");
        let _ = writeln!(text, "<!-- {} -->", clean.trim());
    }
    let verdict = &results.verdict;
    let (emoji, word) = status_badge(verdict.status);
    // The main reason is a rule of the verdict's own status: an `error` verdict leads with the
    // infrastructure problem, never with a quality failure listed before it.
    let main = verdict
        .rules
        .iter()
        .find(|r| r.status == verdict.status && r.status != Status::Pass)
        .map(|r| r.message.as_str())
        .or(verdict.reasons.first().map(String::as_str));
    let reason = match main {
        Some(reason) => inline(reason),
        None => match verdict.rules.len() {
            0 => "no gate rule is configured".to_owned(),
            1 => "the gate rule passed".to_owned(),
            n => format!("all {n} gate rules passed"),
        },
    };
    let _ = writeln!(text, "### {emoji} evalgate {word}: {reason}\n");
    if let Some(accepted) = &verdict.accepted {
        // Logins are shown without `@`: the comment must not ping the person who accepted it.
        let _ = writeln!(
            text,
            "☑️ **Accepted** by {} with the label {} at {}: this failure does not block the merge.\n",
            inline(&accepted.by),
            inline(&accepted.label),
            inline(&accepted.at)
        );
    }
    let others: Vec<&String> = verdict
        .reasons
        .iter()
        .filter(|r| Some(r.as_str()) != main)
        .collect();
    for more in &others {
        let _ = writeln!(text, "- {}", inline(more));
    }
    if !others.is_empty() {
        text.push('\n');
    }
    let run = &results.run;
    let s = &results.summary;
    let mut context = format!(
        "**{}**: {} cases",
        inline(&run.suite),
        format_count(s.cases)
    );
    if run.repeats > 1 {
        let _ = write!(context, " × {} repeats", run.repeats);
    }
    let _ = write!(
        context,
        " ({} passed, {} failed, {} errored calls)",
        format_count(s.passed),
        format_count(s.failed),
        format_count(s.errored)
    );
    if let Some(git) = &run.git {
        let _ = write!(context, " · head {}", short_sha(&git.sha));
        if let Some(branch) = &git.branch {
            let _ = write!(context, " ({})", inline(branch));
        }
    }
    if let Some(comparison) = &results.comparison {
        match &comparison.baseline.git {
            Some(git) => {
                let _ = write!(context, " vs base {}", short_sha(&git.sha));
                if let Some(branch) = &git.branch {
                    let _ = write!(context, " ({})", inline(branch));
                }
            }
            None => {
                let _ = write!(
                    context,
                    " vs baseline {}",
                    inline(&comparison.baseline.source)
                );
            }
        }
    }
    if let Some(url) = opts.run_url.as_deref().and_then(safe_url) {
        let _ = write!(context, " · [CI run]({url})");
    }
    let _ = writeln!(text, "{context}\n");
    page.fixed(text);
}

fn comparison_body(page: &mut Page, results: &Results, comparison: &Comparison) {
    page.fixed(metric_table(results, comparison));
    page.fixed(min_detectable_drop(comparison));

    let views = cases(results);
    let by_key: HashMap<(&str, &str), &CaseView<'_>> =
        views.iter().map(|v| ((v.cell, v.case_id), v)).collect();
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
        for (i, case) in regressed.iter().take(MAX_LISTED).enumerate() {
            let view = by_key
                .get(&(case.cell.as_str(), case.case_id.as_str()))
                .copied();
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

    errored_section(page, &views);

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
            format_count(comparison.flaky.len() as u64)
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

fn single_run_body(page: &mut Page, results: &Results) {
    page.fixed(single_metric_table(results));
    let views = cases(results);

    let failed: Vec<&CaseView<'_>> = views
        .iter()
        .filter(|v| {
            matches!(
                v.status,
                CaseStatus::Fail
                    | CaseStatus::Flaky {
                        passed_majority: false
                    }
            )
        })
        .collect();
    if !failed.is_empty() {
        page.fixed(format!(
            "#### Failed cases ({})\n\n",
            format_count(failed.len() as u64)
        ));
        for (i, view) in failed.iter().take(MAX_LISTED).enumerate() {
            let line = format!(
                "- ❌ {} · {}: {}\n",
                inline(view.cell),
                inline(view.case_id),
                inline(&first_failure(view))
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
        more_line(page, failed.len(), "failed cases");
        page.fixed("\n");
    }

    errored_section(page, &views);

    let flaky: Vec<&CaseView<'_>> = views
        .iter()
        .filter(|v| matches!(v.status, CaseStatus::Flaky { .. }))
        .collect();
    if !flaky.is_empty() {
        page.fixed(format!(
            "#### Flaky cases ({})\n\n",
            format_count(flaky.len() as u64)
        ));
        for view in flaky.iter().take(MAX_LISTED) {
            page.item(
                format!(
                    "- 🎲 {} · {}: passed {} of {} repeats\n",
                    inline(view.cell),
                    inline(view.case_id),
                    view.passed(),
                    view.graded()
                ),
                cut::LISTS,
                "flaky cases",
            );
        }
        more_line(page, flaky.len(), "flaky cases");
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
        let mut table = String::from(
            "<details><summary>Cells</summary>\n\n| Cell | Model | Passed | Failed | Errored | Pass rate | Cost |\n|---|---|---:|---:|---:|---:|---:|\n",
        );
        for cell in &results.cells {
            let s = &cell.summary;
            let _ = writeln!(
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
        }
        table.push_str("\n</details>\n\n");
        page.item(table, cut::CONTEXT, "cell tables");
    }
}

/// Cases with an errored repeat: listed in both kinds of report, since an outage is never a
/// regression and never hidden.
fn errored_section(page: &mut Page, views: &[CaseView<'_>]) {
    let errored: Vec<&CaseView<'_>> = views
        .iter()
        .filter(|v| v.status == CaseStatus::Error)
        .collect();
    if !errored.is_empty() {
        page.fixed(format!(
            "#### Errored cases ({})\n\nThese could not be graded (provider or check failure): they count toward the error rate, never as failures.\n\n",
            format_count(errored.len() as u64)
        ));
        for view in errored.iter().take(MAX_LISTED) {
            let error = view
                .repeats
                .iter()
                .find_map(|c| c.error.as_deref())
                .unwrap_or_default();
            page.item(
                format!(
                    "- ⚠️ {} · {}: {}\n",
                    inline(view.cell),
                    inline(view.case_id),
                    inline(error)
                ),
                cut::LISTS,
                "errored cases",
            );
        }
        more_line(page, errored.len(), "errored cases");
        page.fixed("\n");
    }
}

fn rules_section(page: &mut Page, results: &Results) {
    let rules = &results.verdict.rules;
    if rules.is_empty() {
        return;
    }
    let mut text = format!(
        "<details><summary>Gate rules ({})</summary>\n\n",
        rules.len()
    );
    for rule in rules {
        let _ = writeln!(
            text,
            "- {} {}: {}",
            status_badge(rule.status).0,
            inline(&rule.rule),
            inline(&rule.message)
        );
    }
    text.push_str("\n</details>\n\n");
    page.item(text, cut::CONTEXT, "rule lists");
}

fn footer(page: &mut Page, results: &Results, opts: &MarkdownOptions) {
    let mut text = format!(
        "\n<sub>evalgate {} · config {}",
        inline(&results.run.evalgate_version),
        inline(&short_sha(&results.run.config_fingerprint))
    );
    if let Some(url) = opts.run_url.as_deref().and_then(safe_url) {
        let _ = write!(text, " · [CI run]({url})");
    }
    text.push_str("</sub>\n");
    page.fixed(text);
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
        let name = inline(&m.metric);
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
        let (emoji, word) = status_badge(status);
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
            "| {name} (n={pairs}) | {} | {} | {} ({} to {}{level}) | {threshold} | {emoji} {}{p} |",
            format_percent(m.base),
            format_percent(m.head),
            format_signed_points(m.delta),
            format_signed_points(m.ci_low),
            format_signed_points(m.ci_high),
            word.to_ascii_lowercase()
        );
    }
    text.push('\n');
    text
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
            Some(rule) => {
                let (emoji, word) = status_badge(rule.status);
                (
                    format!("min {}", format_percent(rule.threshold)),
                    format!("{emoji} {}", word.to_ascii_lowercase()),
                )
            }
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

/// The floor rule of a metric: `min_pass_rate` for `pass_rate`, `metrics.NAME.min` otherwise.
fn floor_rule<'a>(results: &'a Results, metric: &str) -> Option<&'a RuleOutcome> {
    let name = if metric == crate::results::PASS_RATE_METRIC {
        "min_pass_rate".to_owned()
    } else {
        format!("metrics.{metric}.min")
    };
    results.verdict.rules.iter().find(|r| r.rule == name)
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
            format!("{} ms", format_count(v.max(0.0).round() as u64))
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

/// Counts the cases beyond [`MAX_LISTED`], which are never rendered, into the "and N more".
fn more_line(page: &mut Page, total: usize, what: &'static str) {
    if total > MAX_LISTED {
        page.more(total - MAX_LISTED, what);
    }
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
    if let Some(reason) = case.reasons.first() {
        let _ = write!(line, " ({})", inline(reason));
    }
    line.push('\n');
    line
}

fn regressed_details(case: &CaseComparison, view: Option<&CaseView<'_>>) -> String {
    let score = |s: Option<f64>| s.map_or_else(|| "–".to_owned(), |s| format!("{s:.2}"));
    let mut text = format!(
        "<details><summary>❌ {} · {}: score {} → {}</summary>\n\n",
        html_line(&case.cell),
        html_line(&case.case_id),
        score(case.base_score),
        score(case.head_score)
    );
    if !case.reasons.is_empty() {
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
    let base = case.base_output.as_deref().unwrap_or("");
    // The comparison carries the first repeat's output; an older file may not, so fall back to
    // the head run's own record.
    let head = case
        .head_output
        .as_deref()
        .or_else(|| {
            view.and_then(|v| v.repeats.first())
                .and_then(|c| c.output.as_deref())
        })
        .unwrap_or("");
    text.push_str("**Diff** (base → head)\n\n");
    text.push_str(&pre(&line_diff(base, head)));
    text.push_str("**Base output**\n\n");
    text.push_str(&pre(base));
    text.push_str("**Head output**\n\n");
    text.push_str(&pre(head));
    text.push_str("</details>\n\n");
    text
}

fn failed_details(view: &CaseView<'_>) -> String {
    let mut text = format!(
        "<details><summary>❌ {} · {}: score {:.2}, passed {} of {} repeats</summary>\n\n",
        html_line(view.cell),
        html_line(view.case_id),
        view.score(),
        view.passed(),
        view.repeats.len()
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
        text.push_str(&pre(call.output.as_deref().unwrap_or("")));
    }
    text.push_str("</details>\n\n");
    text
}

fn first_failure(view: &CaseView<'_>) -> String {
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

/// A unified line diff, `-` for base and `+` for head, cut to [`MAX_BLOCK_CHARS`] by [`pre`].
fn line_diff(base: &str, head: &str) -> String {
    // Only the start is shown, so only the start is diffed: the cost of a diff grows with the
    // size of what differs, and an output can be megabytes long.
    let limit = MAX_BLOCK_CHARS * 4;
    let base = truncate(base, limit);
    let head = truncate(head, limit);
    let diff = similar::TextDiff::from_lines(base.as_ref(), head.as_ref());
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        out.push(sign);
        out.push(' ');
        out.push_str(change.value().trim_end_matches('\n'));
        out.push('\n');
        if out.len() > MAX_BLOCK_CHARS * 4 {
            break;
        }
    }
    out
}

fn pretty(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------------
// Escaping and formatting

/// A `<pre>` block holding untrusted text: sanitised, cut to [`MAX_BLOCK_CHARS`], and
/// HTML-escaped. It starts its own HTML block (blank line before, `<pre>` first on its line), so
/// blank lines inside cannot end it: in CommonMark a `<pre>` block ends only at `</pre>`, which
/// escaped text cannot contain. Markdown, autolinks and GitHub's mention and reference filters
/// do not apply inside `<pre>`.
fn pre(text: &str) -> String {
    let safe = sanitize_for_log(text);
    let total = safe.chars().count();
    let cut = truncate(safe.trim_end_matches('\n'), MAX_BLOCK_CHARS);
    let mut out = String::with_capacity(cut.len() + 32);
    out.push_str("<pre>\n");
    escape_html_into(&mut out, &cut);
    if total > MAX_BLOCK_CHARS {
        let _ = write!(
            out,
            "\n[cut: {} of {} characters shown]",
            format_count(MAX_BLOCK_CHARS as u64),
            format_count(total as u64)
        );
    }
    out.push_str("\n</pre>\n\n");
    out
}

/// Untrusted text for an HTML context on one line (a `<summary>`): sanitised, flattened, cut,
/// HTML-escaped, with mentions, references and autolinks broken (see [`defuse`]).
fn html_line(text: &str) -> String {
    let flat = one_line(text);
    // Entities for `@`, `#` and friends are not needed in HTML, but the zero-width breaks are:
    // GitHub links mentions and references in HTML text too.
    defuse(&flat, |c, out| match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c => out.push(c),
    })
}

/// Untrusted text for a markdown inline context (a list item, a table cell): sanitised,
/// flattened to one line, cut to [`MAX_INLINE_CHARS`], the characters that start inline
/// markdown backslash-escaped and `<`, `>`, `&` written as entities (so no emphasis, link,
/// image, code span, math, table cell or HTML can start; block syntax such as `#` or `-` only
/// acts at the start of a line, where untrusted text is never put), and mentions, issue
/// references and autolinks broken with a zero-width space (see [`defuse`]).
pub fn inline(text: &str) -> String {
    let flat = one_line(text);
    defuse(&flat, |c, out| match c {
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '&' => out.push_str("&amp;"),
        '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '!' | '|' | '~' | '$' | '{' | '}' => {
            out.push('\\');
            out.push(c);
        }
        c => out.push(c),
    })
}

/// Writes each character with `escape`, inserting a zero-width space (as the entity
/// `&#8203;`, which survives copy and paste and any sanitiser) where GitHub or GFM would
/// otherwise see:
/// - a mention `@user` or `@org/team`, and an email autolink `a@b.example`: after every `@`;
/// - an issue reference `#123`, `owner/repo#123`: after every `#`;
/// - `GH-123`: between `GH` and `-`;
/// - an URL autolink `http://`, `https://`, `ftp://`: between `:` and `//`;
/// - a `www.` autolink: between `www` and `.`.
fn defuse(text: &str, escape: impl Fn(char, &mut String)) -> String {
    const ZWSP: &str = "&#8203;";
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    for (i, &c) in chars.iter().enumerate() {
        let prev = |n: usize| -> String {
            chars[i.saturating_sub(n)..i]
                .iter()
                .collect::<String>()
                .to_ascii_lowercase()
        };
        if (c == '-' && i >= 2 && prev(2) == "gh") || (c == '.' && i >= 3 && prev(3) == "www") {
            out.push_str(ZWSP);
        }
        escape(c, &mut out);
        let next_two: String = chars.iter().skip(i + 1).take(2).collect();
        if c == '@' || c == '#' || (c == ':' && next_two == "//") {
            out.push_str(ZWSP);
        }
    }
    out
}

fn escape_html_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Sanitised, on one line (line breaks as ` ⏎ `), cut to [`MAX_INLINE_CHARS`].
fn one_line(text: &str) -> String {
    let safe = sanitize_for_log(text);
    let flat = safe.trim().replace('\n', " ⏎ ").replace('\t', " ");
    truncate(&flat, MAX_INLINE_CHARS).into_owned()
}

/// A link target we wrote ourselves from the command line: `http(s)` only, and nothing that
/// could end the link or start markup.
fn safe_url(url: &str) -> Option<&str> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.chars().all(|c| {
            c.is_ascii_graphic()
                && !matches!(
                    c,
                    '(' | ')' | '<' | '>' | '[' | ']' | '"' | '\'' | '`' | '\\'
                )
        });
    ok.then_some(url)
}

fn short_sha(sha: &str) -> String {
    inline(&sha.chars().take(7).collect::<String>())
}

fn status_badge(status: Status) -> (&'static str, &'static str) {
    match status {
        Status::Pass => ("✅", "PASS"),
        Status::Fail => ("❌", "FAIL"),
        Status::Error => ("⚠️", "ERROR"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_helpers::{self, have_tool};

    const RUN_URL: &str = "https://ci.example/runs/42";

    fn opts() -> MarkdownOptions {
        MarkdownOptions {
            run_url: Some(RUN_URL.to_owned()),
            marker: Some("evalgate-report:support-bot".to_owned()),
            ..MarkdownOptions::default()
        }
    }

    /// The HTML GitHub's renderer (cmark-gfm, with GitHub's extensions) makes of `md`; `None`
    /// when cmark-gfm is not installed. Raw HTML is let through (`--unsafe`) so the test sees
    /// every tag the markdown could produce, not a sanitised subset.
    fn cmark(md: &str) -> Option<String> {
        use std::io::Write as _;
        if !have_tool("cmark-gfm") {
            return None;
        }
        let mut child = std::process::Command::new("cmark-gfm")
            .args([
                "--unsafe",
                "-e",
                "table",
                "-e",
                "autolink",
                "-e",
                "strikethrough",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("cmark-gfm runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(md.as_bytes())
            .expect("write markdown");
        let out = child.wait_with_output().expect("cmark-gfm output");
        assert!(out.status.success());
        Some(String::from_utf8(out.stdout).expect("UTF-8 HTML"))
    }

    /// `html` with the content of `<pre>` and `<code>` elements removed: what GitHub's mention
    /// and reference filters would look at.
    fn outside_code(html: &str) -> String {
        let re = regex::Regex::new(r"(?s)<pre>.*?</pre>|<code>.*?</code>").expect("regex");
        re.replace_all(html, "").into_owned()
    }

    /// The rendered page holds only the markup the report writes itself.
    fn assert_inert(md: &str, html: &str) {
        for tag in [
            "<a ",
            "<a>",
            "<img",
            "<script",
            "<em>",
            "<del>",
            "<blockquote",
            "<h1",
            "<h2",
            "<input",
            "<iframe",
            "<tag",
            "<hr",
            "<ol",
            "<li><p>",
        ] {
            let allowed = tag == "<a "
                && html.matches("<a ").count()
                    == html.matches(&format!("<a href=\"{RUN_URL}\"")).count();
            assert!(allowed || !html.contains(tag), "{tag} in the rendered page");
        }
        // `<details>` and `<pre>` open and close in order: nothing escaped its block.
        let re = regex::Regex::new(r"<(/?)(details|pre)>").expect("regex");
        let mut stack: Vec<&str> = Vec::new();
        for caps in re.captures_iter(html) {
            let name = caps.get(2).map_or("", |m| m.as_str());
            if caps.get(1).is_some_and(|m| !m.as_str().is_empty()) {
                assert_eq!(stack.pop(), Some(name), "unbalanced </{name}>");
            } else {
                assert_ne!(stack.last(), Some(&"pre"), "<{name}> inside <pre>");
                stack.push(name);
            }
        }
        assert!(stack.is_empty(), "unclosed {stack:?}");
        // In raw HTML (a `<summary>`) the zero-width space is still an entity.
        let outside = outside_code(&html.replace("&#8203;", "\u{200b}"));
        let pings =
            regex::Regex::new(r"(?i)@[a-z0-9]|#[0-9]|gh-[0-9]|www\.|://evil").expect("regex");
        assert!(!pings.is_match(&outside), "{:?}", pings.find(&outside));
        assert!(md.matches("<!--").count() <= 1, "forged marker");
        assert!(!md.contains("\n<!-- evalgate-report") || md.starts_with("<!-- evalgate-report"));
    }

    fn checked(results: &Results, opts: &MarkdownOptions) -> String {
        let md = render(results, opts);
        assert!(md.chars().count() <= opts.max_chars);
        if let Some(html) = cmark(&md) {
            assert_inert(&md, &html);
        }
        md
    }

    #[test]
    fn pass_snapshot() {
        let md = checked(&test_helpers::pass(), &opts());
        assert!(md.starts_with("<!-- evalgate-report:support-bot -->\n### ✅ evalgate PASS: all 3 gate rules passed\n"), "{md}");
        assert!(md.contains(&format!("[CI run]({RUN_URL})")));
        insta::assert_snapshot!(md);
    }

    #[test]
    fn fail_by_floor_snapshot() {
        let md = checked(&test_helpers::fail_by_floor(), &MarkdownOptions::default());
        assert!(md.starts_with("### ❌ evalgate FAIL: pass rate 62.5% \\(95% CI 30.6%–86.3%\\) is below the minimum 90.0%\n"), "{md}");
        assert!(
            md.contains("| pass\\_rate | 62.5% | 30.6%–86.3% | 8 | min 90.0% | ❌ fail |"),
            "{md}"
        );
        assert_eq!(md.matches("<details><summary>❌").count(), 3);
        insta::assert_snapshot!(md);
    }

    #[test]
    fn cases_left_unpaired_by_an_outage_are_said_so() {
        let mut results = test_helpers::fail_by_confident_drop();
        results
            .comparison
            .as_mut()
            .expect("comparison")
            .unpaired_errored = 40;
        let md = render(&results, &opts());
        assert!(
            md.contains("**40 cases not compared**: a call errored"),
            "{md}"
        );
    }

    #[test]
    fn a_metric_with_too_few_pairs_shows_no_interval_and_says_it_was_not_compared() {
        let mut results = test_helpers::fail_by_confident_drop();
        let comparison = results.comparison.as_mut().expect("comparison");
        let m = &mut comparison.metrics[0];
        m.method = TestMethod::None;
        m.pairs = 0;
        m.status = Status::Pass;
        let metric = m.metric.clone();
        let md = render(&results, &opts());
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| {} (n=0)", inline(&metric))))
            .expect("the metric's row");
        // Base, head and Δ are blank; the floor's own status stands, marked as not compared.
        assert!(row.contains("| – | – | – |"), "{row}");
        assert!(row.ends_with("| ✅ pass, not compared |"), "{row}");
    }

    #[test]
    fn confident_drop_snapshot() {
        let md = checked(&test_helpers::fail_by_confident_drop(), &opts());
        assert!(
            md.contains("### ❌ evalgate FAIL: metric \\`accuracy\\` dropped by 25.0pp"),
            "{md}"
        );
        assert!(md.contains("| accuracy (n=8) | 100.0% | 75.0% | −25.0pp (−43.0pp to −7.0pp) | max drop 2.0pp | ❌ fail (p = 0.060) |"), "{md}");
        assert!(md.contains("#### Regressed cases (2)"));
        assert!(md.contains("- You can return items within 30 days of delivery.\n+ You can return items within a reasonable time.\n  Refunds go"), "{md}");
        insta::assert_snapshot!(md);
    }

    #[test]
    fn pass_despite_noise_snapshot() {
        let md = checked(&test_helpers::pass_despite_noise(), &opts());
        assert!(md.contains("### ✅ evalgate PASS"));
        assert!(md.contains("#### Improved cases (1)"));
        assert!(
            md.contains("**Minimum detectable drop** (80% power): accuracy 35.0pp (n=8)"),
            "{md}"
        );
        insta::assert_snapshot!(md);
    }

    #[test]
    fn infrastructure_error_snapshot() {
        let md = checked(&test_helpers::infra_error(), &opts());
        assert!(
            md.contains("### ⚠️ evalgate ERROR: error rate 75.0% \\(6 of 8 calls\\)"),
            "{md}"
        );
        assert!(md.contains("#### Errored cases (6)"));
        assert!(!md.contains("#### Failed cases"));
        insta::assert_snapshot!(md);
    }

    #[test]
    fn flaky_snapshot() {
        let md = checked(&test_helpers::flaky(), &opts());
        assert!(md.contains("#### Flaky cases (3)"));
        assert!(
            md.contains("answer/mini · refund-1: head passed 2 of 3 repeats"),
            "{md}"
        );
        insta::assert_snapshot!(md);
    }

    #[test]
    fn new_and_removed_snapshot() {
        let md = checked(&test_helpers::new_and_removed(), &opts());
        assert!(md.contains("#### New cases (2)"));
        assert!(md.contains("#### Removed cases (2)"));
        assert!(
            md.contains("- 1 new (not in the baseline): answer/large"),
            "{md}"
        );
        assert!(
            md.contains("- 1 removed (only in the baseline): answer/old"),
            "{md}"
        );
        insta::assert_snapshot!(md);
    }

    #[test]
    fn huge_suite_fits_with_verdict_and_table() {
        let results = test_helpers::huge();
        let md = checked(&results, &opts());
        let len = md.chars().count();
        assert!(len <= DEFAULT_MAX_CHARS, "{len}");
        assert!(
            len > DEFAULT_MAX_CHARS - 10_000,
            "the budget is used: {len}"
        );
        assert!(md.contains("### ❌ evalgate FAIL: metric \\`accuracy\\` dropped by 20.0pp"));
        assert!(md.contains("| accuracy (n=10,000) | 90.0% | 70.0% | −20.0pp (−21.2pp to −18.8pp) | max drop 2.0pp | ❌ fail (p = 0.060) |"));
        // Improvements go first, then regressed bodies from the end; the first bodies stay.
        assert!(
            !md.contains("#### Improved cases (1,000)\n\n- ✅"),
            "improvements cut"
        );
        assert!(md.contains("<details><summary>❌ answer/mini · case-00000"));
        assert!(
            md.contains("✂️ **Cut to fit the 65,000 character limit**: "),
            "{}",
            &md[md.len() - 600..]
        );
        assert!(md.contains("improved cases left out"));
        assert!(md.contains(" more regressed cases\n"));
    }

    #[test]
    fn truncation_snapshot() {
        let small = MarkdownOptions {
            max_chars: 6_000,
            ..opts()
        };
        let md = checked(&test_helpers::huge(), &small);
        assert!(md.chars().count() <= 6_000);
        assert!(md.contains("| accuracy (n=10,000) |"));
        insta::assert_snapshot!(md);
    }

    #[test]
    fn improvements_are_cut_before_regressions() {
        let mut results = test_helpers::pass_despite_noise();
        let comparison = results.comparison.as_mut().expect("comparison");
        for i in 0..100 {
            let mut improved = comparison.cases[1].clone();
            improved.case_id = format!("extra-{i}");
            comparison.cases.push(improved);
        }
        let full = render(&results, &MarkdownOptions::default());
        let max = full.chars().count() - 100;
        let md = checked(
            &results,
            &MarkdownOptions {
                max_chars: max,
                ..MarkdownOptions::default()
            },
        );
        // Some improvements went, the regressed case's body stayed whole.
        assert!(
            md.contains("<details><summary>❌ answer/mini · refund-1"),
            "{md}"
        );
        assert!(md.contains("**Head output**"), "{md}");
        let left = md.matches("- ✅ answer/mini · extra-").count();
        assert!(left > 0 && left < 100, "{left}");
        assert!(md.contains("improved cases left out"), "{md}");
        assert!(!md.contains("details of regressed cases shortened"), "{md}");
    }

    #[test]
    fn hostile_text_is_inert() {
        let results = test_helpers::hostile();
        let md = checked(
            &results,
            &MarkdownOptions {
                run_url: None,
                ..opts()
            },
        );
        assert!(md.starts_with("<!-- evalgate-report:support-bot -->\n"));
        assert_eq!(md.matches("<!--").count(), 1);
        // Errors are listed with a baseline too, their hostile text inline.
        assert!(md.contains("#### Errored cases (9)"), "{md}");
        for bad in ['\0', '\x07', '\x1b', '\u{9b}', '\r'] {
            assert!(!md.contains(bad), "{bad:?}");
        }
        // The hostile text is still there to read, escaped.
        assert!(
            md.contains("&lt;/pre&gt;&lt;/details&gt;"),
            "escaped in blocks"
        );
        assert!(
            md.contains("@octocat please look"),
            "output shown in a pre block"
        );
        if let Some(html) = cmark(&md) {
            assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
            assert!(
                html.contains("@&#8203;octocat"),
                "the mention is broken, not removed"
            );
        }
    }

    #[test]
    fn inline_escaping_defuses_github_syntax() {
        assert_eq!(inline("@octocat"), "@&#8203;octocat");
        assert_eq!(inline("fixes #12"), "fixes #&#8203;12");
        assert_eq!(inline("GH-7"), "GH&#8203;-7");
        assert_eq!(inline("https://x"), "https:&#8203;//x");
        assert_eq!(inline("www.x"), "www&#8203;.x");
        assert_eq!(inline("<b>*x*</b>|"), "&lt;b&gt;\\*x\\*&lt;/b&gt;\\|");
        assert_eq!(
            inline("[a](b) ![c](d) `e` $f$ ~~g~~ _h_"),
            "\\[a\\]\\(b\\) \\!\\[c\\]\\(d\\) \\`e\\` \\$f\\$ \\~\\~g\\~\\~ \\_h\\_"
        );
        assert_eq!(inline("a\nb"), "a ⏎ b");
        assert_eq!(html_line("<x> @y"), "&lt;x&gt; @&#8203;y");
        assert_eq!(
            safe_url("https://ci.example/r/1"),
            Some("https://ci.example/r/1")
        );
        assert_eq!(safe_url("javascript:alert(1)"), None);
        assert_eq!(safe_url("https://x/a)(b"), None);
    }

    #[test]
    fn an_error_verdict_leads_with_the_error() {
        let mut results = test_helpers::infra_error();
        results.verdict = crate::gate::verdict_from_rules(vec![
            test_helpers::rule(
                "min_pass_rate",
                Status::Fail,
                0.5,
                0.9,
                "pass rate is below",
            ),
            test_helpers::rule(
                "max_error_rate",
                Status::Error,
                0.75,
                0.05,
                "error rate exceeds",
            ),
        ]);
        let md = render(&results, &MarkdownOptions::default());
        assert!(
            md.starts_with("### ⚠️ evalgate ERROR: error rate exceeds\n\n- pass rate is below\n"),
            "{md}"
        );
    }

    #[test]
    fn a_limit_below_the_fixed_text_still_holds_and_closes_blocks() {
        for max in [300, 700, 1_500, 2_500] {
            let md = checked(
                &test_helpers::fail_by_confident_drop(),
                &MarkdownOptions {
                    max_chars: max,
                    ..opts()
                },
            );
            assert!(md.starts_with("<!-- evalgate-report:support-bot -->\n### ❌ evalgate FAIL"));
            assert!(
                md.ends_with("**Report cut: it did not fit the length limit.**\n")
                    || md.contains("✂️ **Cut to fit the"),
                "{md}"
            );
        }
    }

    #[test]
    fn marker_cannot_end_early() {
        let md = render(
            &test_helpers::pass(),
            &MarkdownOptions {
                marker: Some("x --> <b>y</b>".to_owned()),
                ..MarkdownOptions::default()
            },
        );
        assert!(md.starts_with("<!-- x  by/b -->\n"), "{md}");
    }
}
