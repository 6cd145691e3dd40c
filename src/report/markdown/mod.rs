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

pub use escape::inline;

use std::fmt::Write;

use super::cases::{CaseStatus, CaseView};
use crate::results::{Results, RuleOutcome, Status};
use crate::support::fmt::format_count;
use crate::support::text::sanitize_for_log;
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
        Some(comparison) => comparison::comparison_body(&mut page, results, comparison),
        None => single_run::single_run_body(&mut page, results),
    }
    rules_section(&mut page, results);
    footer(&mut page, results, opts);
    page.fit(opts.max_chars)
}

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
        let md = render(&results, &MarkdownOptions::default());
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
        );
        assert!(md.starts_with("<!-- x  by/b -->\n"), "{md}");
    }
}
