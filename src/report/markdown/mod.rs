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
//!
//! The two rules each have one home, `escape` and `page`, so a section cannot bypass them. The
//! body differs with and without a baseline (`comparison`, `single_run`); what both kinds of
//! report share (the header, errored cases, gate rules, footer) is here.

mod comparison;
mod escape;
mod page;
mod single_run;

pub use escape::{inline, pre};

use std::collections::HashMap;
use std::fmt::Write;

use super::ReportError;
use super::cases::{CaseStatus, CaseView};
use crate::results::{CaseChange, Results, RuleOutcome, Status};
use crate::support::fmt::{count_of, format_count};
use crate::support::text::{sanitize_for_log, truncate};
use escape::safe_url;
use page::{Page, cut};

/// GitHub rejects a comment body longer than this many characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// The default length limit: GitHub's, less room for a caller to add a line or two.
pub const DEFAULT_MAX_CHARS: usize = 65_000;
const _: () = assert!(DEFAULT_MAX_CHARS < GITHUB_COMMENT_LIMIT);

/// Cases rendered with a collapsible body; later ones are listed on one line.
const MAX_DETAILED: usize = 100;
/// Cases listed per section at most; the rest are counted.
const MAX_LISTED: usize = 500;

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
    /// The pull request label that accepts a failed gate (`[gate.override] label`), named under
    /// "What next" when the gate fails.
    pub accept_label: Option<String>,
}

impl Default for MarkdownOptions {
    fn default() -> Self {
        MarkdownOptions {
            max_chars: DEFAULT_MAX_CHARS,
            run_url: None,
            marker: None,
            accept_label: None,
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
///
/// The calls are read once, one case at a time ([`Picked`]); only the cases the page can show
/// are kept.
pub fn render(results: &Results, opts: &MarkdownOptions) -> Result<String, ReportError> {
    let picked = Picked::gather(results)?;
    let mut page = Page::default();
    header(&mut page, results, &picked, opts);
    match &results.comparison {
        Some(comparison) => {
            comparison::comparison_body(&mut page, results, comparison, &picked, opts)
        }
        None => single_run::single_run_body(&mut page, results, &picked, opts),
    }
    rules_section(&mut page, results);
    footer(&mut page, results, opts);
    Ok(page.fit(opts.max_chars))
}

/// Failed cases whose reason and answer feed the roll-up ("**10 cases** answered the same"):
/// the first ones, so a run where everything failed does not hold every answer.
const ROLLUP_CASES: usize = 1_000;

/// Kinds of error told apart; cases with any other error are counted together.
const MAX_ERROR_KINDS: usize = 1_000;

/// Errored cases that failed the same way: the error, how many cases, the first few (cell, case
/// id).
pub(super) type ErrorGroup = (String, usize, Vec<(String, String)>);

/// The cases a report shows, picked in one pass over the calls: the first failed, flaky and
/// errored cases (all of them counted), and the cases the comparison details. Memory holds what
/// the page can show, whatever the size of the run.
pub(super) struct Picked<'a> {
    /// How big the run was ([`crate::report::cases::Scale`]), worked out in the same pass.
    pub scale: String,
    /// Failed cases (every graded repeat failed, or most did): the first [`MAX_LISTED`].
    pub failed: Vec<CaseView<'a>>,
    pub failed_total: usize,
    /// The first failed cases' (cell, case id), for the reproduce command.
    pub failed_keys: Vec<(String, String)>,
    /// (first failure, first failed answer) of the first [`ROLLUP_CASES`] failed cases.
    pub failed_rollup: Vec<(String, Option<String>)>,
    pub flaky: Vec<CaseView<'a>>,
    pub flaky_total: usize,
    /// Errored cases by error, most cases first.
    pub errored: Vec<ErrorGroup>,
    pub errored_total: usize,
    /// The cases the comparison shows in detail, by (cell, case id).
    pub detailed: HashMap<(String, String), CaseView<'a>>,
}

impl<'a> Picked<'a> {
    fn gather(results: &'a Results) -> Result<Self, ReportError> {
        let wanted: std::collections::HashSet<(&str, &str)> = results
            .comparison
            .iter()
            .flat_map(|c| &c.cases)
            .filter(|c| c.change == CaseChange::Regressed)
            .take(MAX_DETAILED)
            .map(|c| (c.cell.as_str(), c.case_id.as_str()))
            .collect();
        let mut picked = Picked {
            scale: String::new(),
            failed: Vec::new(),
            failed_total: 0,
            failed_keys: Vec::new(),
            failed_rollup: Vec::new(),
            flaky: Vec::new(),
            flaky_total: 0,
            errored: Vec::new(),
            errored_total: 0,
            detailed: HashMap::new(),
        };
        let mut kinds: HashMap<String, usize> = HashMap::new();
        let mut scale = crate::report::cases::Scale::default();
        crate::report::cases::each_case(results, |view: CaseView<'a>| {
            scale.add(&view.cell, &view.case_id);
            if wanted.contains(&(view.cell.as_str(), view.case_id.as_str())) {
                picked
                    .detailed
                    .insert((view.cell.clone(), view.case_id.clone()), view.clone());
            }
            match view.status {
                CaseStatus::Error => {
                    picked.errored_total += 1;
                    let error = view
                        .repeats
                        .iter()
                        .find_map(|c| c.error.as_deref())
                        .unwrap_or_default();
                    let other = "(other errors)";
                    let key = if kinds.contains_key(error) || kinds.len() < MAX_ERROR_KINDS {
                        error
                    } else {
                        other
                    };
                    let i = match kinds.get(key) {
                        Some(&i) => i,
                        None => {
                            kinds.insert(key.to_owned(), picked.errored.len());
                            picked.errored.push((key.to_owned(), 0, Vec::new()));
                            picked.errored.len() - 1
                        }
                    };
                    let group = &mut picked.errored[i];
                    group.1 += 1;
                    if group.2.len() < ERROR_GROUP_NAMES {
                        group.2.push((view.cell.clone(), view.case_id.clone()));
                    }
                }
                CaseStatus::Fail
                | CaseStatus::Flaky {
                    passed_majority: false,
                } => {
                    picked.failed_total += 1;
                    if picked.failed_rollup.len() < ROLLUP_CASES {
                        let output = view.repeats.iter().find(|c| !c.passed);
                        picked.failed_rollup.push((
                            single_run::first_failure(&view),
                            output.and_then(|c| c.shown_output()),
                        ));
                    }
                    if picked.failed_keys.len() < MAX_LISTED {
                        picked
                            .failed_keys
                            .push((view.cell.clone(), view.case_id.clone()));
                    }
                    if let CaseStatus::Flaky { .. } = view.status {
                        picked.flaky_total += 1;
                        if picked.flaky.len() < MAX_LISTED {
                            picked.flaky.push(view.clone());
                        }
                    }
                    if picked.failed.len() < MAX_LISTED {
                        picked.failed.push(view);
                    }
                }
                CaseStatus::Flaky { .. } => {
                    picked.flaky_total += 1;
                    if picked.flaky.len() < MAX_LISTED {
                        picked.flaky.push(view);
                    }
                }
                CaseStatus::Pass => {}
            }
            Ok::<_, ReportError>(())
        })?;
        picked.scale = scale.describe(results);
        // Largest first; stable, so equal groups keep their order of first appearance.
        picked
            .errored
            .sort_by_key(|(_, cases, _)| std::cmp::Reverse(*cases));
        Ok(picked)
    }
}

fn header(page: &mut Page, results: &Results, picked: &Picked<'_>, opts: &MarkdownOptions) {
    let mut text = String::new();
    if let Some(marker) = &opts.marker {
        let clean: String = sanitize_for_log(marker)
            .replace("--", "")
            .replace(['>', '<', '\n'], "");
        let _ = writeln!(text, "<!-- {} -->", clean.trim());
    }
    let verdict = &results.verdict;
    let (emoji, word) = status_badge(verdict.status);
    // The main reason is the first of the verdict's reasons of the verdict's own status (an
    // `error` leads with the outage): they come in the order a reviewer needs them, the
    // regression against the base before absolute floors (see `gate::verdict_from_rules`).
    let own_status = |reason: &&String| {
        verdict
            .rules
            .iter()
            .any(|r| &r.message == *reason && r.status == verdict.status)
    };
    let main = verdict
        .reasons
        .iter()
        .find(own_status)
        .or(verdict.reasons.first())
        .map(String::as_str);
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
        "**{}**: {}: {} passed, {} failed, {} errored",
        inline(&run.suite),
        picked.scale,
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

/// Cases with an errored repeat: listed in both kinds of report, since an outage is never a
/// regression and never hidden. Cases that failed the same way are one line, with a count, a few
/// of their names and what to do: thirty "connection refused" lines say less than one.
fn errored_section(page: &mut Page, picked: &Picked<'_>) {
    if picked.errored_total == 0 {
        return;
    }
    page.fixed(format!(
        "#### Errored cases ({})\n\nThese could not be graded (provider or check failure): they count toward the error rate, never as failures.\n\n",
        format_count(picked.errored_total as u64)
    ));
    let groups = &picked.errored;
    for (error, n, members) in groups.iter().take(MAX_LISTED) {
        let mut line = match *n {
            1 => format!(
                "- ⚠️ {} · {}: {}",
                inline(&members[0].0),
                inline(&members[0].1),
                inline(error)
            ),
            n => {
                let names: Vec<String> = members
                    .iter()
                    .take(ERROR_GROUP_NAMES)
                    .map(|(cell, case)| format!("{} · {}", inline(cell), inline(case)))
                    .collect();
                let more = n.saturating_sub(ERROR_GROUP_NAMES);
                let more = if more > 0 {
                    format!(" and {} more", format_count(more as u64))
                } else {
                    String::new()
                };
                format!(
                    "- ⚠️ **{} cases**: {} ({}{more})",
                    format_count(n as u64),
                    inline(error),
                    names.join(", ")
                )
            }
        };
        if let Some(hint) = crate::report::error_hint(error) {
            let _ = write!(line, ". {hint}");
        }
        line.push('\n');
        page.item(line, cut::LISTS, "kinds of error");
    }
    more_line(page, groups.len(), "kinds of error");
    page.fixed("\n");
}

/// The longest failure reason in a case's one-line summary.
const SUMMARY_REASON_CHARS: usize = 120;

/// Names shown for a group of cases that errored the same way.
const ERROR_GROUP_NAMES: usize = 3;

/// "Why they fail": the first failed check of each case, grouped, most common first, so "9 cases:
/// output contains 'guarantee'" is read once instead of nine times; and the answers several
/// cases share word for word (a fallback, a refusal), which often say more than any check.
/// Empty when no two cases share either: the case lines say it all then.
///
/// `cases` holds each case's first failed check's reason and its (head) output.
fn rollup<'a>(cases: impl Iterator<Item = (&'a str, Option<&'a str>)>) -> String {
    let mut reasons: Vec<(String, u64)> = Vec::new();
    let mut answers: Vec<(&str, u64)> = Vec::new();
    let mut total = 0;
    for (reason, output) in cases {
        total += 1;
        let reason = without_output_quote(reason);
        match reasons.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => reasons.push((reason, 1)),
        }
        let Some(output) = output.map(str::trim).filter(|o| !o.is_empty()) else {
            continue;
        };
        match answers.iter_mut().find(|(a, _)| *a == output) {
            Some((_, n)) => *n += 1,
            None => answers.push((output, 1)),
        }
    }
    // Only what is shared: a group of one is already its case's line.
    reasons.retain(|(_, n)| *n > 1);
    answers.retain(|(_, n)| *n > 1);
    if reasons.is_empty() && answers.is_empty() {
        return String::new();
    }
    reasons.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    answers.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let mut text = String::from("**Why they fail** (the first failed check of each case)\n\n");
    for (reason, n) in reasons.iter().take(ROLLUP_GROUPS) {
        let _ = writeln!(
            text,
            "- **{}**: {}",
            count_of(*n, "case", "cases"),
            inline(&truncate(reason, ROLLUP_REASON_CHARS))
        );
    }
    let grouped: u64 = reasons.iter().take(ROLLUP_GROUPS).map(|(_, n)| n).sum();
    if grouped < total && !reasons.is_empty() {
        let others = total - grouped;
        let _ = writeln!(
            text,
            "- {}: a reason of {}",
            count_of(others, "other case", "other cases"),
            if others == 1 { "its own" } else { "their own" }
        );
    }
    for (answer, n) in answers.iter().take(ROLLUP_ANSWERS) {
        let _ = writeln!(
            text,
            "- **{}** answered the same: “{}”",
            count_of(*n, "case", "cases"),
            inline(&truncate(answer, ROLLUP_REASON_CHARS))
        );
    }
    text.push('\n');
    text
}

/// Reasons listed in the roll-up; the rest are counted.
const ROLLUP_GROUPS: usize = 5;
/// Shared answers listed in the roll-up.
const ROLLUP_ANSWERS: usize = 3;
/// The longest reason in the roll-up.
const ROLLUP_REASON_CHARS: usize = 150;

/// A check's reason without the quote of the output it starts with (`output "…" does not
/// contain "30 days"` → `output does not contain "30 days"`): the case shows its output anyway,
/// and without it the same failure reads the same in every case. The quote is a Rust debug
/// string (see `check::CheckInput::quote`); a reason without one is returned as it is.
fn without_output_quote(reason: &str) -> String {
    let Some(at) = reason.find("output \"") else {
        return reason.to_owned();
    };
    if at != 0 && !reason[..at].ends_with(": ") {
        return reason.to_owned();
    }
    let quote = at + "output ".len();
    let mut escaped = false;
    for (i, c) in reason[quote + 1..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => {
                let end = quote + 1 + i + 1;
                return format!("{}output{}", &reason[..at], &reason[end..]);
            }
            _ => {}
        }
    }
    reason.to_owned()
}

/// "What next": the command that runs the listed cases again locally, and the label that
/// accepts the failure when one is configured. Nothing when no case failed and the gate passed.
/// `cases` are the first of `total` cases to run again.
fn what_next(
    page: &mut Page,
    results: &Results,
    cases: &[(&str, &str)],
    total: usize,
    opts: &MarkdownOptions,
) {
    let failed = results.verdict.status == Status::Fail && results.verdict.accepted.is_none();
    let label = opts.accept_label.as_deref().filter(|_| failed);
    if cases.is_empty() && label.is_none() {
        return;
    }
    let mut text = String::from("**What next**\n\n");
    if !cases.is_empty() {
        // `--filter` matches a substring of PROMPT/MODEL/CASE_ID: `cell/case` picks the case.
        let mut command = format!("evalgate run -c {}", shell_word(&results.run.config_path));
        // One filter a line: a `<pre>` does not wrap.
        for (cell, case) in cases.iter().take(REPRODUCE_CASES) {
            let _ = write!(
                command,
                " \\\n  --filter {}",
                shell_word(&format!("{cell}/{case}"))
            );
        }
        let shown = cases.len().min(REPRODUCE_CASES);
        let _ = write!(
            text,
            "Run {} again on your machine (it calls the models, so it needs their keys):\n\n",
            if shown < total {
                format!(
                    "the first {shown} of these {} cases",
                    format_count(total as u64)
                )
            } else if shown == 1 {
                "this case".to_owned()
            } else {
                "these cases".to_owned()
            }
        );
        text.push_str(&pre(&command));
    }
    if let Some(label) = label {
        let _ = writeln!(
            text,
            "If the drop is intended, someone allowed by `[gate.override]` can accept it: add the label **{}** to this pull request and run the job again.\n",
            inline(label)
        );
    }
    page.item(text, cut::CONTEXT, "what next");
}

/// Cases named in the "reproduce locally" command.
const REPRODUCE_CASES: usize = 10;

/// `word` as one shell word: as it is when it holds only characters no shell treats specially,
/// else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@+,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
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

/// The floor rule of a metric: `min_pass_rate` for `pass_rate`, `metrics.NAME.min` otherwise.
fn floor_rule<'a>(results: &'a Results, metric: &str) -> Option<&'a RuleOutcome> {
    let name = if metric == crate::results::PASS_RATE_METRIC {
        "min_pass_rate".to_owned()
    } else {
        format!("metrics.{metric}.min")
    };
    results.verdict.rules.iter().find(|r| r.rule == name)
}

/// Counts the cases beyond [`MAX_LISTED`], which are never rendered, into the "and N more".
fn more_line(page: &mut Page, total: usize, what: &'static str) {
    if total > MAX_LISTED {
        page.more(total - MAX_LISTED, what);
    }
}

fn pretty(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

fn short_sha(sha: &str) -> String {
    inline(&sha.chars().take(7).collect::<String>())
}

/// A metric row's status. Under an ERROR verdict a passing row is not green: it was judged on
/// the calls that did not error, and a reviewer must not read a green row as "this is fine".
fn metric_status(results: &Results, status: Status) -> String {
    if results.verdict.status == Status::Error && status == Status::Pass {
        return "⚪ pass on the calls that did not error".to_owned();
    }
    let (emoji, word) = status_badge(status);
    format!("{emoji} {}", word.to_ascii_lowercase())
}

fn status_badge(status: Status) -> (&'static str, &'static str) {
    match status {
        Status::Pass => ("✅", "PASS"),
        Status::Fail => ("❌", "FAIL"),
        Status::Error => ("⚠️", "ERROR"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::results::TestMethod;
    use crate::test_helpers::{self, have_tool};

    const RUN_URL: &str = "https://ci.example/runs/42";

    pub(crate) fn opts() -> MarkdownOptions {
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
            // Links: only the run's. `<del>`: only the word diff's, which the report writes as
            // raw HTML; escaped text cannot hold a `<`, so a `<del>` in the markdown is ours, and
            // a strikethrough (`~~x~~`) from untrusted text would add one more to the page.
            let allowed = match tag {
                "<a " => {
                    html.matches("<a ").count()
                        == html.matches(&format!("<a href=\"{RUN_URL}\"")).count()
                }
                "<del>" => html.matches("<del>").count() == md.matches("<del>").count(),
                _ => false,
            };
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
        // In raw HTML (a `<summary>`) characters are still entities (`&#8203;`, `&#39;`): what
        // GitHub's filters see is the decoded text.
        let entity = regex::Regex::new(r"&#([0-9]+);").expect("regex");
        let decoded = entity.replace_all(html, |c: &regex::Captures<'_>| {
            c[1].parse::<u32>()
                .ok()
                .and_then(char::from_u32)
                .map_or_else(|| c[0].to_owned(), String::from)
        });
        let outside = outside_code(&decoded);
        let pings =
            regex::Regex::new(r"(?i)@[a-z0-9]|#[0-9]|gh-[0-9]|www\.|://evil").expect("regex");
        assert!(!pings.is_match(&outside), "{:?}", pings.find(&outside));
        assert!(md.matches("<!--").count() <= 1, "forged marker");
        assert!(!md.contains("\n<!-- evalgate-report") || md.starts_with("<!-- evalgate-report"));
    }

    pub(crate) fn checked(results: &Results, opts: &MarkdownOptions) -> String {
        let md = render(results, opts).expect("render");
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
        let md = render(&results, &opts()).expect("render");
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
        let md = render(&results, &opts()).expect("render");
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
        // The output once, as a word diff, with each case's first failed check in its line.
        assert!(md.contains("<p>You can return items within <del>30 days of delivery.</del> <ins>a reasonable time.</ins><br>Refunds go"), "{md}");
        assert!(!md.contains("**Base output**"), "{md}");
        assert!(
            md.contains("<summary>❌ answer/mini · refund-1: score 1.00 → 0.00 · expected the answer to contain &quot;30 days&quot;</summary>"),
            "{md}"
        );
        // Two cases fail the same check: one line says so.
        assert!(
            md.contains("**Why they fail** (the first failed check of each case)\n\n- **2 cases**: expected the answer to contain \"30 days\"\n"),
            "{md}"
        );
        assert!(
            md.contains("evalgate run -c evalgate.toml \\\n  --filter answer/mini/refund-1 \\\n  --filter answer/local/refund-2\n</pre>"),
            "{md}"
        );
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
        // Six cases failed the same way: one line, a count, three names and a hint.
        assert!(
            md.contains("- ⚠️ **6 cases**: HTTP 503 from provider: overloaded \\(after 4 attempts\\) (answer/mini · refund-2, answer/mini · refund-3, answer/local · refund-0 and 3 more). The provider kept failing"),
            "{md}"
        );
        assert!(!md.contains("#### Failed cases"));
        insta::assert_snapshot!(md);
    }

    #[test]
    fn a_pass_over_regressed_cases_says_why() {
        let noisy = |results: &mut Results| {
            let m = &mut results.comparison.as_mut().expect("comparison").metrics[0];
            (m.delta, m.ci_low, m.ci_high) = (-0.067, -0.152, 0.018);
            m.min_detectable_drop = Some(0.22);
            m.p_adjusted = Some(0.5);
        };
        let mut results = test_helpers::pass_despite_noise();
        noisy(&mut results);
        let md = checked(&results, &opts());
        assert!(
            md.contains("ℹ️ **Why this passes with 1 regressed case**: accuracy changed by −6.7pp (95% CI −15.2pp to +1.8pp) over 8 paired cases: this suite cannot tell a drop beyond the 5.0pp allowed from noise (p = 0.500). Its minimum detectable drop is 22.0pp: add cases or repeats to see smaller drops.\n"),
            "{md}"
        );

        // A drop whose whole interval is within the tolerance.
        let m = &mut results.comparison.as_mut().expect("comparison").metrics[0];
        (m.delta, m.ci_low, m.ci_high) = (-0.02, -0.04, 0.0);
        let md = render(&results, &opts()).expect("render");
        assert!(
            md.contains("even its low end stays within the 5.0pp drop the gate allows."),
            "{md}"
        );

        // No rule looks at the base: the sentence says how to add one.
        let mut floors_only = test_helpers::pass_despite_noise();
        for m in &mut floors_only.comparison.as_mut().expect("comparison").metrics {
            m.max_drop = None;
        }
        let md = render(&floors_only, &opts()).expect("render");
        assert!(
            md.contains("no gate rule compares the head with the base, so only the absolute floors decide. Add `max_drop`"),
            "{md}"
        );

        // A failing gate needs no excuse, and a pass with nothing regressed none either.
        let md = render(&test_helpers::fail_by_confident_drop(), &opts()).expect("render");
        assert!(!md.contains("Why this passes"), "{md}");
        let md = render(&test_helpers::pass(), &opts()).expect("render");
        assert!(!md.contains("Why this passes"), "{md}");
    }

    #[test]
    fn what_next_names_the_accept_label_only_when_the_gate_failed() {
        let with_label = MarkdownOptions {
            accept_label: Some("evalgate: accept-regression".to_owned()),
            ..opts()
        };
        let md = checked(&test_helpers::fail_by_confident_drop(), &with_label);
        assert!(
            md.contains("add the label **evalgate: accept-regression** to this pull request"),
            "{md}"
        );
        let md = render(&test_helpers::fail_by_confident_drop(), &opts()).expect("render");
        assert!(!md.contains("add the label"), "{md}");
        let md = render(&test_helpers::pass_despite_noise(), &with_label).expect("render");
        assert!(!md.contains("add the label"), "{md}");
        // Failed cases of a run without a baseline are reproducible too.
        let md = render(&test_helpers::fail_by_floor(), &with_label).expect("render");
        assert!(
            md.contains("<pre>\nevalgate run -c evalgate.toml \\\n  --filter "),
            "{md}"
        );
    }

    #[test]
    fn reasons_lose_the_output_quote_and_shared_ones_roll_up() {
        assert_eq!(
            without_output_quote(r#"output "I can\"t \\ help" does not contain "30 days""#),
            r#"output does not contain "30 days""#
        );
        assert_eq!(
            without_output_quote(r#"contains: output "x" does not contain "y""#),
            r#"contains: output does not contain "y""#
        );
        assert_eq!(
            without_output_quote(r#"output contains "guarantee""#),
            r#"output contains "guarantee""#
        );
        assert_eq!(
            without_output_quote(r#"output "unclosed"#),
            r#"output "unclosed"#
        );

        let sorry = "Sorry, I can't help with that.";
        let cases = [
            (r#"output "a" does not contain "30 days""#, Some("a")),
            (r#"output "b" does not contain "30 days""#, Some(sorry)),
            (r#"output "c" does not contain "30 days""#, Some(sorry)),
            (r#"output contains "guarantee""#, Some("d")),
        ];
        let text = rollup(cases.into_iter());
        assert_eq!(
            text,
            "**Why they fail** (the first failed check of each case)\n\n\
             - **3 cases**: output does not contain \"30 days\"\n\
             - 1 other case: a reason of its own\n\
             - **2 cases** answered the same: “Sorry, I can't help with that.”\n\n"
        );
        // Nothing shared: the case lines say it all.
        let alone = [("r1", Some("a")), ("r2", Some("b"))];
        assert_eq!(rollup(alone.into_iter()), "");
    }

    #[test]
    fn an_improved_case_says_its_reason_was_the_base_failure() {
        let mut results = test_helpers::pass_despite_noise();
        let comparison = results.comparison.as_mut().expect("comparison");
        let improved = comparison
            .cases
            .iter_mut()
            .find(|c| c.change == crate::results::CaseChange::Improved)
            .expect("an improved case");
        improved.reasons = vec![r#"output "x" does not contain "30 days""#.to_owned()];
        let md = render(&results, &opts()).expect("render");
        assert!(
            md.contains("score 0.00 → 1.00 (the base failed: output does not contain \"30 days\")"),
            "{md}"
        );
    }

    #[test]
    fn the_shell_command_quotes_what_a_shell_would_read() {
        assert_eq!(shell_word("evals/evalgate.toml"), "evals/evalgate.toml");
        assert_eq!(shell_word("my evals/x.toml"), "'my evals/x.toml'");
        assert_eq!(shell_word("it's $HOME"), "'it'\\''s $HOME'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn flaky_snapshot() {
        let md = checked(&test_helpers::flaky(), &opts());
        // Three flaky sides, two cases: refund-2 is flaky in both runs.
        assert!(md.contains("#### Flaky cases (2)"), "{md}");
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
        let full = render(&results, &MarkdownOptions::default()).expect("render");
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
        assert!(md.contains("**Output**, base → head"), "{md}");
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

    /// A failed answer made only of tool calls shows them as its output, and a hostile function
    /// name or arguments are escaped like any model output.
    #[test]
    fn hostile_tool_calls_are_shown_and_inert() {
        let mut results = test_helpers::hostile();
        results.comparison = None;
        let call = &mut results.results.to_mut()[0];
        call.output = Some(String::new());
        call.tool_calls = vec![crate::provider::ToolCall {
            id: None,
            name: "</pre></details><script>x".into(),
            arguments: serde_json::json!({"to": "@octocat <!-- evalgate-report:forged -->"}),
            raw_arguments: None,
        }];
        let md = checked(
            &results,
            &MarkdownOptions {
                run_url: None,
                ..opts()
            },
        );
        assert_eq!(md.matches("<!--").count(), 1, "{md}");
        assert!(!md.contains("<script>x"), "{md}");
        assert!(
            md.contains("&lt;/pre&gt;&lt;/details&gt;&lt;script&gt;x({&quot;to&quot;"),
            "{md}"
        );
        if let Some(html) = cmark(&md) {
            assert!(html.contains("@&#8203;octocat"), "{html}");
        }
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
        let md = render(&results, &MarkdownOptions::default()).expect("render");
        assert!(
            md.starts_with("### ⚠️ evalgate ERROR: error rate exceeds\n\n- pass rate is below\n"),
            "{md}"
        );
    }

    #[test]
    fn a_failure_leads_with_the_regression_against_the_base() {
        let mut results = test_helpers::fail_by_confident_drop();
        let mut regression = test_helpers::rule(
            "metrics.accuracy.max_drop",
            Status::Fail,
            0.1,
            0.02,
            "accuracy dropped 10.0 points",
        );
        regression.scope = crate::results::RuleScope::Baseline;
        results.verdict = crate::gate::verdict_from_rules(vec![
            test_helpers::rule(
                "min_pass_rate",
                Status::Fail,
                0.8,
                0.9,
                "pass rate is below the minimum",
            ),
            regression,
        ]);
        let md = render(&results, &MarkdownOptions::default()).expect("render");
        assert!(
            md.starts_with(
                "### ❌ evalgate FAIL: accuracy dropped 10.0 points\n\n- pass rate is below the minimum\n"
            ),
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
        )
        .expect("render");
        assert!(md.starts_with("<!-- x  by/b -->\n"), "{md}");
    }
}
