//! The terminal summary printed at the end of a run: a few scannable lines in the manner of
//! cargo's and cargo-nextest's final output, verdict last.
//!
//! Everything shown comes from the [`Results`]; nothing is recomputed except the lists (slowest,
//! failed, errored cases), which are selections of the calls. Model output, check reasons and
//! provider errors are untrusted: each value is made safe, flattened to one line and cut to
//! [`MAX_VALUE_CHARS`] by [`crate::support::text::one_line`].
//!
//! With a baseline, the [`comparison`] is printed between the summary and the verdict, in the
//! same layout and with the same helpers.

pub mod comparison;

use std::fmt::{self, Write};

use crate::results::{CallResult, Results, Status, Summary};
use crate::support::fmt::{format_confidence, format_count, format_percent, format_usd};

/// Longest single value (a reason, an error, an id) printed before it is cut.
pub const MAX_VALUE_CHARS: usize = 200;

/// How many slowest calls are listed.
const SLOWEST_LISTED: usize = 3;

/// Width of the right-aligned label column, as in cargo's `   Compiling`.
const LABEL_WIDTH: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalOptions {
    /// Colour the PASS / FAIL / ERROR words with ANSI escapes.
    pub color: bool,
    /// How many failed cases, and how many errored cases, are listed before "... and N more".
    pub max_listed: usize,
}

impl Default for TerminalOptions {
    fn default() -> Self {
        TerminalOptions {
            color: false,
            max_listed: 10,
        }
    }
}

/// Writes the end-of-run summary of `results` to `out`.
pub fn write_summary(
    out: &mut dyn Write,
    results: &Results,
    opts: &TerminalOptions,
) -> fmt::Result {
    let summary = &results.summary;
    let mut w = Writer { out, opts };

    // One pass over the calls for everything the summary shows of them.
    let shown = Shown::gather(results, w.opts.max_listed);
    w.label("Summary", None)?;
    writeln!(
        w.out,
        "{} in {}: {}: {}",
        one_line(&results.run.suite),
        format_duration(results.run.duration_ms),
        shown.scale,
        counts(summary)
    )?;

    write_cells(&mut w, results)?;
    write_metrics(&mut w, results)?;
    write_usage(&mut w, summary)?;
    write_slowest(&mut w, &shown.slowest)?;
    write_failed(&mut w, &shown)?;
    write_errored(&mut w, &shown.errored)?;
    if let Some(error) = &shown.unreadable {
        w.label("ERROR", Some(Status::Error))?;
        writeln!(w.out, "{}", one_line(error))?;
    }

    if let Some(comparison) = &results.comparison {
        comparison::write_comparison(w.out, comparison, opts)?;
    }
    write_verdict(w.out, &results.verdict, opts)
}

/// Writes the verdict line and one line per reason.
pub fn write_verdict(
    out: &mut dyn Write,
    verdict: &crate::results::Verdict,
    opts: &TerminalOptions,
) -> fmt::Result {
    let mut w = Writer { out, opts };
    w.label("Verdict", None)?;
    w.status_word(verdict.status)?;
    if let Some(accepted) = &verdict.accepted {
        write!(
            w.out,
            ", accepted by {} with the label {:?}",
            one_line(&accepted.by),
            one_line(&accepted.label)
        )?;
    }
    if verdict.reasons.is_empty() {
        let rules = verdict.rules.len();
        let plural = if rules == 1 { "" } else { "s" };
        writeln!(w.out, " ({rules} rule{plural} checked)")?;
    } else {
        writeln!(w.out)?;
        for reason in &verdict.reasons {
            w.continuation()?;
            writeln!(w.out, "{}", one_line(reason))?;
        }
    }
    Ok(())
}

struct Writer<'a> {
    out: &'a mut dyn Write,
    opts: &'a TerminalOptions,
}

impl Writer<'_> {
    /// Writes `text` right-aligned in the label column, coloured as `status` when colour is on.
    fn label(&mut self, text: &str, status: Option<Status>) -> fmt::Result {
        write!(
            self.out,
            "{:width$}",
            "",
            width = LABEL_WIDTH.saturating_sub(text.chars().count())
        )?;
        self.colored(text, status)?;
        write!(self.out, " ")
    }

    /// Indents a line that continues the previous label's section.
    fn continuation(&mut self) -> fmt::Result {
        write!(self.out, "{:width$} ", "", width = LABEL_WIDTH)
    }

    fn status_word(&mut self, status: Status) -> fmt::Result {
        let word = status.as_str().to_ascii_uppercase();
        self.colored(&word, Some(status))
    }

    fn colored(&mut self, text: &str, status: Option<Status>) -> fmt::Result {
        match status.filter(|_| self.opts.color) {
            Some(status) => {
                let code = match status {
                    Status::Pass => "1;32",
                    Status::Fail => "1;31",
                    Status::Error => "1;35",
                };
                write!(self.out, "\x1b[{code}m{text}\x1b[0m")
            }
            None => write!(self.out, "{text}"),
        }
    }
}

fn write_cells(w: &mut Writer<'_>, results: &Results) -> fmt::Result {
    let ids: Vec<_> = results.cells.iter().map(|c| one_line(&c.id)).collect();
    let width = ids.iter().map(|id| id.chars().count()).max().unwrap_or(0);
    for (i, (cell, id)) in results.cells.iter().zip(&ids).enumerate() {
        if i == 0 {
            w.label("Cells", None)?;
        } else {
            w.continuation()?;
        }
        let s = &cell.summary;
        write!(
            w.out,
            "{id:<width$}  {}; pass rate {}; cost {}; cache hits {}/{}",
            counts(s),
            format_percent(s.pass_rate),
            format_usd(s.cost_usd),
            format_count(s.cache_hits),
            format_count(s.calls)
        )?;
        if let Some(share) = prompt_cache_share(results, s) {
            write!(w.out, "; prompt cache {} of input", format_percent(share))?;
        }
        writeln!(w.out)?;
    }
    for cell in results.cells.iter().filter(|c| c.variable_prefix) {
        w.label("Prompt cache", None)?;
        writeln!(w.out, "{}: {}", one_line(&cell.id), VARIABLE_PREFIX_NOTE)?;
    }
    Ok(())
}

/// Why a cell is flagged with [`CellSummary::variable_prefix`](crate::results::CellSummary).
pub const VARIABLE_PREFIX_NOTE: &str = "the prompt's first message differs between cases in its first 1,024 characters while a later message is the same for all; providers cache a common prefix only, so put the static message first to have it cached";

/// The share of a cell's input tokens the provider served from its prompt cache; shown only when
/// some call of the run reported cached input tokens (providers that report none would show 0%
/// everywhere).
pub fn prompt_cache_share(results: &Results, cell: &Summary) -> Option<f64> {
    (results.summary.cached_input_tokens > 0 && cell.input_tokens > 0)
        .then(|| cell.cached_input_tokens.min(cell.input_tokens) as f64 / cell.input_tokens as f64)
}

fn write_metrics(w: &mut Writer<'_>, results: &Results) -> fmt::Result {
    let width = results
        .metrics
        .keys()
        .map(|name| name.chars().count())
        .max()
        .unwrap_or(0);
    for (i, (name, metric)) in results.metrics.iter().enumerate() {
        if i == 0 {
            w.label("Metrics", None)?;
        } else {
            w.continuation()?;
        }
        writeln!(
            w.out,
            "{:<width$}  {:>6} ({} CI {}–{}, n={}, mean score {:.2})",
            one_line(name),
            format_percent(metric.mean),
            format_confidence(metric.confidence),
            format_percent(metric.ci_low),
            format_percent(metric.ci_high),
            format_count(metric.n),
            metric.score_mean
        )?;
    }
    Ok(())
}

fn write_usage(w: &mut Writer<'_>, s: &Summary) -> fmt::Result {
    w.label("Cost", None)?;
    write!(w.out, "{}", format_usd(s.cost_usd))?;
    if s.spent_usd != s.cost_usd {
        write!(
            w.out,
            " ({} spent; the rest was replayed from the cache)",
            format_usd(s.spent_usd)
        )?;
    }
    writeln!(w.out)?;
    if !s.judge.is_empty() {
        // Included in the cost above; shown apart so the price of grading is visible.
        w.label("Judges", None)?;
        writeln!(
            w.out,
            "{} calls, {} (included above), {} input and {} output tokens, {} from the cache",
            format_count(s.judge.calls),
            format_usd(s.judge.cost_usd),
            format_count(s.judge.input_tokens),
            format_count(s.judge.output_tokens),
            format_count(s.judge.cache_hits)
        )?;
    }
    w.label("Tokens", None)?;
    writeln!(
        w.out,
        "{} input, {} output, {} cached input",
        format_count(s.input_tokens),
        format_count(s.output_tokens),
        format_count(s.cached_input_tokens)
    )?;
    w.label("Latency", None)?;
    if s.latency_p95_ms == 0 && s.calls.saturating_sub(s.cache_hits + s.errored) == 0 {
        writeln!(w.out, "no measured calls")?;
    } else {
        writeln!(
            w.out,
            "p50 {} ms, p95 {} ms",
            format_count(s.latency_p50_ms),
            format_count(s.latency_p95_ms)
        )?;
    }
    write_rate_limited(w, s)
}

/// What the providers' rate limits cost the run, when they held it back at all: the wait is
/// summed over calls, which wait side by side, so it can exceed the run's duration.
fn write_rate_limited(w: &mut Writer<'_>, s: &Summary) -> fmt::Result {
    let limited = &s.rate_limited;
    if limited.is_empty() {
        return Ok(());
    }
    w.label("Rate limits", None)?;
    let plural = if limited.rejected == 1 { "" } else { "s" };
    writeln!(
        w.out,
        "{} call{plural} rejected with HTTP 429 and retried; calls held back {} in all",
        format_count(limited.rejected),
        format_duration(limited.waited_ms)
    )
}

/// Kinds of error the summary tells apart; calls with any other error are counted together.
const MAX_ERROR_KINDS: usize = 1_000;

/// What the summary shows of the calls, gathered in one pass over them with bounded memory: the
/// slowest calls, the first failed ones and the errors by kind.
struct Shown {
    /// How big the run was ([`crate::report::cases::Scale`]).
    scale: String,
    /// (latency, plan position, name), slowest first.
    slowest: Vec<(u64, usize, String)>,
    /// The first failed calls not listed as regressed, and how many there are.
    failed: Vec<CallResult>,
    failed_total: usize,
    errored: Vec<ErrorKind>,
    /// Why the calls could not all be read.
    unreadable: Option<String>,
}

/// Errored calls that failed the same way.
struct ErrorKind {
    error: String,
    calls: usize,
    /// The first few calls' names.
    names: Vec<String>,
}

impl Shown {
    fn gather(results: &Results, max_listed: usize) -> Shown {
        let regressed: std::collections::HashSet<(&str, &str)> = results
            .comparison
            .iter()
            .flat_map(|c| &c.cases)
            .filter(|c| c.change == crate::results::CaseChange::Regressed)
            .map(|c| (c.cell.as_str(), c.case_id.as_str()))
            .collect();
        let mut scale = crate::report::cases::Scale::default();
        let mut shown = Shown {
            scale: String::new(),
            slowest: Vec::new(),
            failed: Vec::new(),
            failed_total: 0,
            errored: Vec::new(),
            unreadable: None,
        };
        let mut kinds: std::collections::HashMap<String, usize> = Default::default();
        let other = "(other errors)";
        for (position, call) in results.results.iter().enumerate() {
            let call = match call {
                Ok(call) => call,
                Err(e) => {
                    shown.unreadable = Some(e.to_string());
                    break;
                }
            };
            scale.add(&call.cell, &call.case_id);
            if let Some(error) = &call.error {
                // Past the kinds told apart, every new error counts as "other errors".
                let name = if kinds.contains_key(error.as_str()) || kinds.len() < MAX_ERROR_KINDS {
                    error.as_str()
                } else {
                    other
                };
                let kind = match kinds.get(name) {
                    Some(&i) => i,
                    None => {
                        kinds.insert(name.to_owned(), shown.errored.len());
                        shown.errored.push(ErrorKind {
                            error: name.to_owned(),
                            calls: 0,
                            names: Vec::new(),
                        });
                        shown.errored.len() - 1
                    }
                };
                let kind = &mut shown.errored[kind];
                kind.calls += 1;
                if kind.names.len() < 3 {
                    kind.names.push(case_name(&call));
                }
                continue;
            }
            if !call.cached {
                // Stable: equal latencies keep plan order, so the list is deterministic.
                let entry = (call.latency_ms, position);
                let at = shown.slowest.partition_point(|(l, p, _)| {
                    (std::cmp::Reverse(*l), *p) < (std::cmp::Reverse(entry.0), entry.1)
                });
                if at < SLOWEST_LISTED {
                    shown
                        .slowest
                        .insert(at, (call.latency_ms, position, case_name(&call)));
                    shown.slowest.truncate(SLOWEST_LISTED);
                }
            }
            if !call.passed && !regressed.contains(&(call.cell.as_str(), call.case_id.as_str())) {
                shown.failed_total += 1;
                if shown.failed.len() < max_listed {
                    shown.failed.push(call.into_owned());
                }
            }
        }
        shown
            .errored
            .sort_by_key(|kind| std::cmp::Reverse(kind.calls));
        shown.scale = scale.describe(results);
        shown
    }
}

fn write_slowest(w: &mut Writer<'_>, slowest: &[(u64, usize, String)]) -> fmt::Result {
    for (i, (latency, _, name)) in slowest.iter().enumerate() {
        if i == 0 {
            w.label("Slowest", None)?;
        } else {
            w.continuation()?;
        }
        writeln!(w.out, "{:>6} ms  {name}", format_count(*latency))?;
    }
    Ok(())
}

/// The failed calls, each with its failed checks. A case the comparison lists as regressed is
/// left to that list (with both outputs), so no case is printed twice.
fn write_failed(w: &mut Writer<'_>, shown: &Shown) -> fmt::Result {
    for call in shown.failed.iter().take(w.opts.max_listed) {
        w.label("FAIL", Some(Status::Fail))?;
        writeln!(w.out, "{}", case_name(call))?;
        let mut any = false;
        for check in call.checks.iter().filter(|c| !c.passed) {
            any = true;
            w.continuation()?;
            writeln!(
                w.out,
                "  {}: {}",
                one_line(&check.kind),
                one_line(&check.reason)
            )?;
        }
        if !call.tool_calls.is_empty() {
            w.continuation()?;
            let calls: Vec<String> = call.tool_calls.iter().map(|c| c.display()).collect();
            writeln!(w.out, "  tool calls: {}", one_line(&calls.join(", ")))?;
        }
        if !any {
            w.continuation()?;
            writeln!(
                w.out,
                "  weighted score {:.2} is below the case threshold",
                call.score
            )?;
        }
    }
    more(w, shown.failed_total, "failed")
}

/// Errored calls, those that failed the same way on one line with a count and what to do:
/// a hundred "connection failed" lines say less than one.
fn write_errored(w: &mut Writer<'_>, kinds: &[ErrorKind]) -> fmt::Result {
    for kind in kinds.iter().take(w.opts.max_listed) {
        w.label("ERROR", Some(Status::Error))?;
        let error = &kind.error;
        match kind.calls {
            1 => writeln!(w.out, "{}: {}", kind.names[0], one_line(error))?,
            calls => {
                let more = calls.saturating_sub(kind.names.len());
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                writeln!(
                    w.out,
                    "{calls} calls: {} ({}{more})",
                    one_line(error),
                    kind.names.join(", ")
                )?;
            }
        }
        if let Some(hint) = crate::report::error_hint(error) {
            w.continuation()?;
            writeln!(w.out, "hint: {}", hint.replace('`', ""))?;
        }
    }
    let hidden = kinds.len().saturating_sub(w.opts.max_listed);
    if hidden > 0 {
        w.continuation()?;
        writeln!(
            w.out,
            "... and {hidden} more kind{} of error",
            if hidden == 1 { "" } else { "s" }
        )?;
    }
    Ok(())
}

fn more(w: &mut Writer<'_>, total: usize, what: &str) -> fmt::Result {
    let hidden = total.saturating_sub(w.opts.max_listed);
    if hidden > 0 {
        w.continuation()?;
        let plural = if hidden == 1 { "" } else { "s" };
        writeln!(w.out, "... and {hidden} more {what} case{plural}")?;
    }
    Ok(())
}

/// `cell case-id`, with ` (repeat N)` for repeats after the first.
fn case_name(call: &CallResult) -> String {
    let mut name = format!("{} {}", one_line(&call.cell), one_line(&call.case_id));
    if call.repeat > 0 {
        name.push_str(&format!(" (repeat {})", call.repeat));
    }
    name
}

fn counts(s: &Summary) -> String {
    format!(
        "{} passed, {} failed, {} errored",
        format_count(s.passed),
        format_count(s.failed),
        format_count(s.errored)
    )
}

/// One safe line of at most [`MAX_VALUE_CHARS`] characters.
fn one_line(value: &str) -> String {
    crate::support::text::one_line(value, MAX_VALUE_CHARS)
}

fn format_duration(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1_000.0)
    } else {
        format!("{}m {:02}s", ms / 60_000, (ms % 60_000) / 1_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{metrics, summarize, summarize_by_cell};
    use crate::gate::evaluate;
    use crate::results::gate::GateConfig;
    use crate::results::{RunInfo, SCHEMA_VERSION};
    use crate::support::text::sanitize_for_log;
    use crate::test_helpers::{call, check, errored};

    fn fabricate(calls: Vec<CallResult>, config: &GateConfig) -> Results {
        let summary = summarize(&calls);
        let metrics = metrics(&calls, config.confidence);
        let verdict = evaluate(config, &summary, &metrics);
        let cells = summarize_by_cell(&calls)
            .into_iter()
            .map(|(id, summary)| crate::test_helpers::cell_summary(id, summary, "f00d".to_owned()))
            .collect();
        Results {
            schema_version: SCHEMA_VERSION,
            run: RunInfo {
                repeats: 2,
                ..crate::test_helpers::run_info()
            },
            summary,
            metrics,
            cells,
            verdict,
            comparison: None,
            results: calls.into(),
        }
    }

    fn render(results: &Results, opts: &TerminalOptions) -> String {
        let mut out = String::new();
        write_summary(&mut out, results, opts).expect("writing to a String cannot fail");
        out
    }

    fn sample() -> Results {
        let mut pass = call("answer/mini", "refund-window", 0, true);
        pass.checks = vec![check("accuracy", true, 1.0, 1.0)];
        pass.latency_ms = 812;
        let mut cached = call("answer/mini", "refund-window", 1, true);
        cached.checks = pass.checks.clone();
        cached.cached = true;
        cached.latency_ms = 2;
        let mut fail = call("answer/mini", "shipping", 1, false);
        fail.checks = vec![
            check("accuracy", false, 0.0, 1.0),
            check("tone", true, 1.0, 1.0),
        ];
        fail.latency_ms = 1_530;
        let mut fail0 = call("answer/local", "shipping", 0, false);
        fail0.checks = vec![check("accuracy", false, 0.2, 1.0)];
        fail0.checks[0].reason = "similarity 0.20 is below 0.80".to_owned();
        let down = errored(
            "answer/local",
            "warranty",
            0,
            "HTTP 503 from provider: overloaded",
        );
        let config = GateConfig {
            min_pass_rate: Some(0.8),
            max_error_rate: 0.25,
            ..GateConfig::default()
        };
        fabricate(vec![pass, cached, fail, fail0, down], &config)
    }

    #[test]
    fn a_regressed_case_is_listed_once_not_as_failed_too() {
        let results = crate::test_helpers::fail_by_confident_drop();
        let comparison = results.comparison.as_ref().expect("compared");
        let regressed = comparison
            .cases
            .iter()
            .find(|c| c.change == crate::results::CaseChange::Regressed)
            .expect("a regressed case");
        // It failed in head, so without the rule it would be listed twice.
        assert!(
            results
                .results
                .to_vec()
                .iter()
                .any(|c| c.case_id == regressed.case_id && !c.passed)
        );
        let text = render(&results, &TerminalOptions::default());
        let needle = format!("{} {}", regressed.cell, regressed.case_id);
        let listed: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(&needle) && (l.contains("FAIL ") || l.contains("REGRESSED ")))
            .collect();
        assert_eq!(listed.len(), 1, "{text}");
        assert!(listed[0].contains("REGRESSED"), "{text}");
    }

    #[test]
    fn summary_snapshot() {
        insta::assert_snapshot!(render(&sample(), &TerminalOptions::default()));
    }

    #[test]
    fn rate_limits_are_shown_only_when_they_held_the_run_back() {
        let results = sample();
        assert!(!render(&results, &TerminalOptions::default()).contains("Rate limits"));
        let mut limited = results.clone();
        limited.summary.rate_limited = crate::results::RateLimited {
            rejected: 42,
            waited_ms: 61_500,
        };
        let text = render(&limited, &TerminalOptions::default());
        assert!(
            text.contains(
                "Rate limits 42 calls rejected with HTTP 429 and retried; calls held back 1m 01s in all"
            ),
            "{text}"
        );
    }

    #[test]
    fn color_only_wraps_status_words() {
        let results = sample();
        let plain = render(&results, &TerminalOptions::default());
        assert!(!plain.contains('\x1b'));
        let colored = render(
            &results,
            &TerminalOptions {
                color: true,
                ..TerminalOptions::default()
            },
        );
        assert!(colored.contains("\x1b[1;31mFAIL\x1b[0m"));
        assert!(colored.contains("\x1b[1;35mERROR\x1b[0m"));
        // Stripping the colour gives back the plain text exactly.
        assert_eq!(sanitize_for_log(&colored), plain);
    }

    #[test]
    fn identical_errors_are_one_line_with_a_count_and_a_hint() {
        let mut results = crate::test_helpers::infra_error();
        results.comparison = None;
        let text = render(&results, &TerminalOptions::default());
        let errors: Vec<&str> = text.lines().filter(|l| l.contains("ERROR ")).collect();
        assert_eq!(errors.len(), 1, "{text}");
        assert!(
            errors[0].contains("ERROR 6 calls: HTTP 503 from provider: overloaded (after 4 attempts) (answer/mini refund-2, answer/mini refund-3, answer/local refund-0 and 3 more)"),
            "{text}"
        );
        assert!(
            text.contains("hint: The provider kept failing after the retries"),
            "{text}"
        );
    }

    #[test]
    fn lists_are_capped_with_a_count_of_the_rest() {
        let calls: Vec<_> = (0..5)
            .map(|i| call("a/m", &format!("case-{i}"), 0, false))
            .chain((0..3).map(|i| errored("a/m", &format!("down-{i}"), 0, &format!("timeout {i}"))))
            .collect();
        let results = fabricate(calls, &GateConfig::default());
        let text = render(
            &results,
            &TerminalOptions {
                color: false,
                max_listed: 2,
            },
        );
        assert_eq!(text.matches("FAIL a/m").count(), 2, "{text}");
        assert!(text.contains("... and 3 more failed cases"), "{text}");
        // Three kinds of error, two listed.
        assert!(text.contains("... and 1 more kind of error\n"), "{text}");
        assert!(!text.contains("FAIL a/m case-2"), "{text}");
    }

    #[test]
    fn untrusted_text_is_neutralised() {
        let mut bad = call("a/m", "x", 0, false);
        bad.output = Some("::set-output name=verdict::pass".to_owned());
        bad.checks = vec![check("equals", false, 0.0, 1.0)];
        bad.checks[0].reason = format!(
            "got \"\x1b[32mok\x1b[0m\"\n::set-output name=verdict::pass\n##[error]forged {}",
            "x".repeat(500)
        );
        let down = errored(
            "a/m",
            "y",
            0,
            "\x1b]0;pwned\x07::error::forged\r\n##[warning]x",
        );
        let results = fabricate(vec![bad, down], &GateConfig::default());
        let text = render(&results, &TerminalOptions::default());
        assert!(!text.contains('\x1b'), "{text:?}");
        assert!(!text.contains('\r'), "{text:?}");
        assert!(!text.contains("##["), "{text}");
        for line in text.lines() {
            assert!(!line.trim_start().starts_with("::"), "{line}");
            assert!(
                line.chars().count() < LABEL_WIDTH + 20 + MAX_VALUE_CHARS,
                "{line}"
            );
        }
        assert!(text.contains("got \"ok\" ⏎ : :set-output"), "{text}");
        assert!(
            text.contains("y: : :error::forged ⏎ # #[warning]x"),
            "{text}"
        );
        assert!(text.contains("x…"), "{text}");
    }

    /// A failed case's calls are listed under its failed checks, neutralised like its reasons.
    #[test]
    fn a_failed_case_lists_its_tool_calls() {
        let mut bad = call("a/m", "x", 0, false);
        bad.output = Some(String::new());
        bad.checks = vec![check("pass_rate", false, 0.0, 1.0)];
        bad.tool_calls = vec![crate::provider::ToolCall {
            id: None,
            name: "get_weather".into(),
            arguments: serde_json::json!({"city": "Paris"}),
            raw_arguments: None,
        }];
        let mut forged = call("a/m", "y", 0, false);
        forged.output = Some(String::new());
        forged.checks = vec![check("pass_rate", false, 0.0, 1.0)];
        forged.tool_calls = vec![crate::provider::ToolCall::from_json_text(
            None,
            "x".into(),
            "\n::set-output name=verdict::pass",
        )];
        let results = fabricate(vec![bad, forged], &GateConfig::default());
        let text = render(&results, &TerminalOptions::default());
        assert!(
            text.contains(r#"  tool calls: get_weather({"city":"Paris"})"#),
            "{text}"
        );
        for line in text.lines() {
            assert!(!line.trim_start().starts_with("::"), "{line}");
        }
    }
}
