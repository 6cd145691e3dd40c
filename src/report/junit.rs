//! The JUnit XML report, for test reporters (GitLab, Jenkins, GitHub test-report actions).
//!
//! Mapping (documented in `docs/reports.md`):
//! - `<testsuites name=SUITE>` holds one `<testsuite name="evalgate SUITE gate">` first, with
//!   one testcase per gate rule so the verdict itself shows in test reporters, then one
//!   `<testsuite name="evalgate SUITE PROMPT∕MODEL">` per cell with one testcase per case:
//!   repeats are folded into one testcase (they are one cluster), `classname` is the suite's
//!   name, `name` the case id. Names have no `.` or `/`, so no reporter takes them for a source
//!   file (`reporter_name`). The cell suites count cases, the gate suite rules; the totals on
//!   `<testsuites>` add them up, as reporters do when they count testcases.
//! - A case whose graded repeats all failed has a `<failure>`; a case with an errored repeat has
//!   an `<error>` (infrastructure, never a quality failure). The `message` is one line (the first
//!   failing check's reason, or the error); the text holds what GitHub's JUnit actions show, as
//!   they never show `<system-out>`: the failing checks' reasons or the errors, the expected
//!   value, the outputs (cut) and the vars (`problem_body`). Scores, checks, usage and the
//!   whole output go to `<system-out>`, for Jenkins and GitLab.
//! - Flaky cases (repeats disagree) use the surefire elements the schema defines: when most
//!   repeats passed, the testcase passes with one `<flakyFailure>` per failed repeat (the
//!   surefire meaning: "failed, then passed"); otherwise it fails, and the failure message starts
//!   with `flaky:`. Both validate against `junit-10.xsd`, which allows `flakyFailure`.
//! - Removed cases (only in the baseline) are `<skipped>` testcases, so a reader sees them gone.
//!
//! The XML is written by hand rather than with a crate: `quick-junit` always writes a `skipped`
//! attribute on `<testsuites>`, which the Jenkins xunit schema rejects, and `junit-report` puts
//! text in CDATA without splitting `]]>` and keeps control characters, so model output could
//! break the file. Every untrusted value goes through [`sanitize_for_log`] (ANSI escapes and
//! control characters removed) and then [`escape`], which also drops the two characters XML 1.0
//! cannot carry at all (U+FFFE, U+FFFF); text is escaped, never put in CDATA.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

use super::ReportError;
use super::cases::{CaseStatus, CaseView, cases, each_case};
use crate::results::{CallResult, CaseChange, CaseComparison, Results, Status};
use crate::support::fmt::format_usd;
use crate::support::text::{sanitize_for_log, truncate};

/// Longest model output written per repeat; the results file keeps it whole. Test reporters
/// load the whole file into memory, and a suite of thousands of long answers would otherwise
/// make it unreadable.
pub const MAX_OUTPUT_CHARS: usize = 100_000;

/// Longest model output (per repeat) and expected value in a `<failure>` or `<error>` body:
/// enough to see what the model said in a reporter's annotation, well within the 64 KB of
/// details GitHub takes per annotation.
const MAX_BODY_OUTPUT_CHARS: usize = 2_000;

/// Longest vars (as JSON) in a `<failure>` or `<error>` body.
const MAX_BODY_VARS_CHARS: usize = 500;

/// Failed or errored repeats shown in a `<failure>` or `<error>` body; `<system-out>` has them
/// all. A case may have up to 1,000 repeats, and GitHub takes at most 64 KB of details per
/// annotation (mikepenz/action-junit-report sends the text uncut).
const MAX_BODY_REPEATS: usize = 3;

/// Longest `message` attribute: reporters show it on one line.
const MAX_MESSAGE_CHARS: usize = 500;

/// Renders `results` as a JUnit XML document in memory: for tests and small runs; the CLI
/// streams it to a file with [`write`].
#[cfg(test)]
pub fn render(results: &Results) -> Result<String, ReportError> {
    let mut out = Vec::new();
    write(results, &mut out)?;
    String::from_utf8(out).map_err(|e| ReportError::Write(std::io::Error::other(e)))
}

/// Streams the JUnit report of `results` to the file at `path`, atomically: a reader never sees
/// half a report.
pub fn write_file(path: &std::path::Path, results: &Results) -> Result<(), ReportError> {
    let mut failed = None;
    let written = crate::support::fs::write_atomic(path, |w| {
        write(results, w).map_err(|e| {
            let io = std::io::Error::other(e.to_string());
            failed = Some(e);
            io
        })
    });
    match (written, failed) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(ReportError::Write(e)),
        (Ok(()), None) => Ok(()),
    }
}

/// Writes `results` as a JUnit XML document to `out`, one case at a time: the calls are read
/// twice, once to count each suite's testcases (the counts are attributes of its opening tag),
/// once to write them. Only one case's calls are held at a time.
pub fn write(results: &Results, out: &mut dyn std::io::Write) -> Result<(), ReportError> {
    let suite = results.run.suite.as_str();
    let removed: Vec<&CaseComparison> = results
        .comparison
        .iter()
        .flat_map(|c| &c.cases)
        .filter(|c| c.change == CaseChange::Removed)
        .collect();

    // Cells in the order their calls come (plan order: the configuration's), then any cell of
    // the file without calls, then any only in the baseline (removed), so every case lands in
    // exactly one suite.
    let mut cells: Vec<String> = Vec::new();
    let mut counts: Vec<Counts> = Vec::new();
    each_case(results, |case| {
        let i = cell_slot(&mut cells, &mut counts, &case.cell);
        counts[i].add(&case);
        Ok::<_, ReportError>(())
    })?;
    for cell in &results.cells {
        cell_slot(&mut cells, &mut counts, &cell.id);
    }
    for gone in &removed {
        let i = cell_slot(&mut cells, &mut counts, &gone.cell);
        counts[i].tests += 1;
        counts[i].skipped += 1;
    }

    let gate = gate_suite(results);
    let tests = gate.tests + counts.iter().map(|c| c.tests).sum::<usize>();
    let failures = gate.failures + counts.iter().map(|c| c.failures).sum::<usize>();
    let errors = gate.errors + counts.iter().map(|c| c.errors).sum::<usize>();
    let mut w = Suites {
        results,
        out,
        cells: &cells,
        counts: &counts,
        removed: &removed,
        next: 0,
        open: None,
        buf: String::new(),
    };
    w.put(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{}\">\n",
        escape(suite, true),
        seconds(results.run.duration_ms)
    ))?;
    w.put(&gate.body)?;
    if results.results.in_order() {
        each_case(results, |case| w.case(&case))?;
    } else {
        // Calls in memory may be in any order: the cases of a cell are put together first.
        let mut all = cases(results)?;
        all.sort_by_key(|case| cells.iter().position(|c| *c == case.cell));
        for case in &all {
            w.case(case)?;
        }
    }
    w.close_through(cells.len())?;
    w.put("</testsuites>\n")?;
    Ok(())
}

/// The place of `cell` among the suites, added last (with no counts yet) when it is new.
fn cell_slot(cells: &mut Vec<String>, counts: &mut Vec<Counts>, cell: &str) -> usize {
    match cells.iter().rposition(|c| c == cell) {
        Some(i) => i,
        None => {
            cells.push(cell.to_owned());
            counts.push(Counts::default());
            cells.len() - 1
        }
    }
}

/// A cell suite's counts, taken in a first pass over the cases.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
    time_ms: u64,
}

impl Counts {
    fn add(&mut self, case: &CaseView<'_>) {
        self.tests += 1;
        self.time_ms += case.latency_ms();
        match case.status {
            CaseStatus::Fail
            | CaseStatus::Flaky {
                passed_majority: false,
            } => self.failures += 1,
            CaseStatus::Error => self.errors += 1,
            CaseStatus::Pass | CaseStatus::Flaky { .. } => {}
        }
    }
}

/// The cell suites being written, in order: a cell's suite is opened when its first case comes
/// (or when a later cell's does, for a cell without cases) and closed, with its removed cases,
/// before the next one opens.
struct Suites<'a, 'w> {
    results: &'a Results,
    out: &'w mut dyn std::io::Write,
    cells: &'a [String],
    counts: &'a [Counts],
    removed: &'a [&'a CaseComparison],
    /// The first cell whose suite is not yet opened.
    next: usize,
    /// The open suite: its cell, classname and testcase names.
    open: Option<(usize, String, UniqueNames)>,
    buf: String,
}

impl Suites<'_, '_> {
    fn put(&mut self, text: &str) -> Result<(), ReportError> {
        self.out
            .write_all(text.as_bytes())
            .map_err(ReportError::Write)
    }

    fn case(&mut self, case: &CaseView<'_>) -> Result<(), ReportError> {
        let cell = self
            .cells
            .iter()
            .position(|c| *c == case.cell)
            .unwrap_or(self.cells.len());
        if self.open.as_ref().is_none_or(|(open, ..)| *open != cell) {
            self.close_through(cell)?;
            self.open_suite(cell)?;
        }
        let Some((_, classname, names)) = &mut self.open else {
            return Ok(());
        };
        self.buf.clear();
        write_case(
            &mut self.buf,
            case,
            classname,
            self.results.comparison.is_some(),
            names,
        );
        let text = std::mem::take(&mut self.buf);
        let written = self.put(&text);
        self.buf = text;
        written
    }

    /// Closes the open suite and writes every suite before cell `end` not written yet.
    fn close_through(&mut self, end: usize) -> Result<(), ReportError> {
        self.close_suite()?;
        while self.next < end.min(self.cells.len()) {
            self.open_suite(self.next)?;
            self.close_suite()?;
        }
        Ok(())
    }

    fn open_suite(&mut self, cell: usize) -> Result<(), ReportError> {
        let id = &self.cells[cell];
        let classname = reporter_name(&self.results.run.suite, id);
        let counts = self.counts[cell];
        let head = suite_head(
            self.results,
            &classname,
            &counts,
            &cell_props(self.results, id),
        );
        self.put(&head)?;
        self.next = cell + 1;
        self.open = Some((cell, classname, UniqueNames::default()));
        Ok(())
    }

    fn close_suite(&mut self) -> Result<(), ReportError> {
        let Some((cell, classname, mut names)) = self.open.take() else {
            return Ok(());
        };
        let mut body = String::new();
        for gone in self.removed.iter().filter(|c| c.cell == self.cells[cell]) {
            let name = names.claim(&gone.case_id);
            let score = gone
                .base_score
                .map(|s| format!(" (baseline score {s:.2})"))
                .unwrap_or_default();
            let _ = writeln!(
                body,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"0.000\">\n      <skipped message=\"removed: only in the baseline{score}\" type=\"removed\"/>\n    </testcase>",
                escape(&name, true),
                escape(&classname, true)
            );
        }
        body.push_str("  </testsuite>\n");
        self.put(&body)
    }
}

/// The name of a `<testsuite>` and the `classname` of its testcases: `evalgate SUITE gate` for
/// the gate, `evalgate SUITE PROMPT∕MODEL` for a cell. Test reporters turn a classname into a
/// source file to pin annotations on: mikepenz/action-junit-report takes the text after its last
/// `.` and looks for `**/TEXT.*` (so `support-bot.gate` pinned failures on any `gate.*`), and
/// `/` or `\` would make the text a path. So no classname has any of them: `.` becomes `․`
/// (U+2024), `/` becomes `∕` (U+2215) and `\` becomes `∖` (U+2216), which read the same, and
/// the words with spaces name no file. The suite's name is the classname, so dorny/test-reporter
/// lists the testcases right under the suite, without a group heading.
fn reporter_name(suite: &str, part: &str) -> String {
    format!("evalgate {suite} {part}")
        .chars()
        .map(|c| match c {
            '.' => '\u{2024}',
            '/' => '\u{2215}',
            '\\' => '\u{2216}',
            c => c,
        })
        .collect()
}

/// One rendered `<testsuite>` and its counts.
struct SuiteXml {
    tests: usize,
    failures: usize,
    errors: usize,
    body: String,
}

fn gate_suite(results: &Results) -> SuiteXml {
    let name = reporter_name(&results.run.suite, "gate");
    let verdict = &results.verdict;
    let mut props: Vec<(&str, String)> = vec![
        ("verdict", verdict.status.as_str().to_owned()),
        ("evalgate_version", results.run.evalgate_version.clone()),
        ("config_fingerprint", results.run.config_fingerprint.clone()),
    ];
    if let Some(git) = &results.run.git {
        props.push(("git_sha", git.sha.clone()));
        if let Some(branch) = &git.branch {
            props.push(("git_branch", branch.clone()));
        }
    }
    if let Some(comparison) = &results.comparison {
        props.push(("baseline", comparison.baseline.source.clone()));
        if let Some(git) = &comparison.baseline.git {
            props.push(("baseline_git_sha", git.sha.clone()));
        }
    }
    let mut body = String::new();
    let mut names = UniqueNames::default();
    let (mut failures, mut errors) = (0, 0);
    for rule in &verdict.rules {
        let rule_name = names.claim(&rule.rule);
        let _ = writeln!(
            body,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"0.000\">",
            escape(&rule_name, true),
            escape(&name, true)
        );
        let kind = match rule.status {
            Status::Pass => None,
            Status::Fail => {
                failures += 1;
                Some("failure")
            }
            Status::Error => {
                errors += 1;
                Some("error")
            }
        };
        if let Some(kind) = kind {
            let _ = writeln!(
                body,
                "      <{kind} message=\"{}\" type=\"gate\">{}</{kind}>",
                message(&rule.message),
                escape(
                    &format!(
                        "{}\nactual: {}\nthreshold: {}",
                        rule.message, rule.actual, rule.threshold
                    ),
                    false
                )
            );
        }
        let _ = writeln!(
            body,
            "      <system-out>{}</system-out>\n    </testcase>",
            escape(
                &format!("{}: {}", rule.status.as_str(), rule.message),
                false
            )
        );
    }
    let tests = verdict.rules.len();
    let counts = Counts {
        tests,
        failures,
        errors,
        skipped: 0,
        time_ms: 0,
    };
    let mut xml = suite_head(results, &name, &counts, &props);
    xml.push_str(&body);
    xml.push_str("  </testsuite>\n");
    SuiteXml {
        tests,
        failures,
        errors,
        body: xml,
    }
}

/// The `<properties>` of a cell's suite.
fn cell_props(results: &Results, cell: &str) -> Vec<(&'static str, String)> {
    let mut props: Vec<(&str, String)> = Vec::new();
    if let Some(info) = results.cells.iter().find(|c| c.id == cell) {
        props.push(("prompt", info.prompt.clone()));
        props.push(("model", info.model.clone()));
        props.push(("provider", info.provider.clone()));
        props.push(("model_name", info.model_name.clone()));
        props.push(("fingerprint", info.fingerprint.clone()));
        props.push(("pass_rate", format!("{:.4}", info.summary.pass_rate)));
        props.push(("cost_usd", format_usd(info.summary.cost_usd)));
    }
    if let Some(change) = results
        .comparison
        .iter()
        .flat_map(|c| &c.cells)
        .find(|c| c.id == cell)
    {
        let word = serde_json::to_value(change.change)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        props.push(("change", word));
    }
    props
}

/// A `<testsuite>` opening tag with its counts, and its properties.
fn suite_head(results: &Results, name: &str, counts: &Counts, props: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(256);
    // `time` is the sum of the suite's testcase times: reporters that read it (dorny's
    // test-reporter showed "NaNms" without it) add it up per suite.
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\">",
        escape(name, true),
        counts.tests,
        counts.failures,
        counts.errors,
        counts.skipped,
        seconds(counts.time_ms),
        escape(&results.run.started_at, true)
    );
    if !props.is_empty() {
        out.push_str("    <properties>\n");
        for (key, value) in props {
            let _ = writeln!(
                out,
                "      <property name=\"{}\" value=\"{}\"/>",
                escape(key, true),
                escape(value, true)
            );
        }
        out.push_str("    </properties>\n");
    }
    out
}

fn write_case(
    out: &mut String,
    case: &CaseView<'_>,
    classname: &str,
    compared: bool,
    names: &mut UniqueNames,
) {
    let name = names.claim(&case.case_id);
    let _ = writeln!(
        out,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\">",
        escape(&name, true),
        escape(classname, true),
        seconds(case.latency_ms())
    );
    let regressed = case.change.filter(|c| c.change == CaseChange::Regressed);
    let prefix =
        regressed.map(|c| format!("regressed against the baseline ({}): ", change_scores(c)));
    let prefix = prefix.as_deref().unwrap_or("");
    let graded = case.graded();
    let passed = case.passed();
    let failed: Vec<&CallResult> = case.repeats.iter().filter(|c| !c.passed).collect();
    match case.status {
        CaseStatus::Pass => {}
        CaseStatus::Fail => {
            let summary = format!("{prefix}{}", first_reason(case));
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"check\">{}</failure>",
                message(&summary),
                escape(&problem_body(&summary, case, &failed), false)
            );
        }
        CaseStatus::Flaky {
            passed_majority: false,
        } => {
            let summary = format!(
                "flaky: {prefix}passed {passed} of {graded} repeats; {}",
                first_reason(case)
            );
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"flaky\">{}</failure>",
                message(&summary),
                escape(&problem_body(&summary, case, &failed), false)
            );
        }
        CaseStatus::Flaky {
            passed_majority: true,
        } => {
            for call in failed {
                let summary = format!(
                    "flaky: repeat {} failed (passed {passed} of {graded} repeats)",
                    call.repeat
                );
                let _ = writeln!(
                    out,
                    "      <flakyFailure message=\"{}\" type=\"flaky\">{}</flakyFailure>",
                    message(&summary),
                    escape(&problem_body(&summary, case, &[call]), false)
                );
            }
        }
        CaseStatus::Error => {
            let first = case
                .repeats
                .iter()
                .find_map(|c| c.error.as_deref())
                .unwrap_or_default();
            let summary = format!(
                "{} of {} repeats errored: {first}",
                case.errored(),
                case.repeats.len()
            );
            // Errored repeats are never passed, so `failed` holds them and the failed ones.
            let _ = writeln!(
                out,
                "      <error message=\"{}\" type=\"infrastructure\">{}</error>",
                message(&summary),
                escape(&problem_body(&summary, case, &failed), false)
            );
        }
    }
    let _ = writeln!(
        out,
        "      <system-out>{}</system-out>\n    </testcase>",
        escape(&system_out(case, compared), false)
    );
}

/// `base → head` scores of a comparison entry.
fn change_scores(change: &CaseComparison) -> String {
    let score = |s: Option<f64>| s.map_or_else(|| "–".to_owned(), |s| format!("{s:.2}"));
    format!(
        "score {} → {}",
        score(change.base_score),
        score(change.head_score)
    )
}

fn first_reason(case: &CaseView<'_>) -> String {
    let failed: Vec<_> = case
        .repeats
        .iter()
        .filter(|c| !c.passed)
        .flat_map(|c| c.checks.iter().filter(|k| !k.passed))
        .collect();
    match failed.first() {
        Some(check) => {
            let more = failed.len() - 1;
            let suffix = if more > 0 {
                format!(" (+{more} more)")
            } else {
                String::new()
            };
            format!("{}: {}{suffix}", check.kind, check.reason)
        }
        None => format!(
            "weighted score {:.2} is below the case threshold",
            case.score()
        ),
    }
}

/// The text of a `<failure>`, `<flakyFailure>` or `<error>`: all a reader of GitHub's JUnit
/// actions gets, since dorny/test-reporter and mikepenz/action-junit-report show this text and
/// never `<system-out>`. The summary (the `message`) first, as reporters that ignore the
/// attribute show the first line; then, for each failed or errored repeat, its failing checks
/// with their reasons, or its error; then the expected value, each output, and the vars.
///
/// Values are quoted line by line (`> `) so no line of model text can pass for a stack-trace
/// frame (`at pkg.Class(File.java:12)`), from which dorny's parser pins annotations to files.
fn problem_body(summary: &str, case: &CaseView<'_>, repeats: &[&CallResult]) -> String {
    let mut text = format!("{summary}\n\n");
    let (repeats, more) = repeats.split_at(repeats.len().min(MAX_BODY_REPEATS));
    for call in repeats {
        match &call.error {
            Some(error) => {
                let _ = writeln!(text, "repeat {}: error: {error}", call.repeat);
            }
            None => text.push_str(&repeat_failures(call)),
        }
    }
    if !more.is_empty() {
        let _ = writeln!(
            text,
            "[{} more failed or errored repeats: system-out and the results file have them]",
            more.len()
        );
    }
    let first = case.repeats.first();
    if let Some(expected) = first.and_then(|c| c.expected.as_ref()) {
        let expected = match expected {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        text.push_str("expected:\n");
        quote(&mut text, &expected, MAX_BODY_OUTPUT_CHARS);
    }
    for call in repeats {
        if let Some(output) = &call.shown_output() {
            let _ = writeln!(text, "output of repeat {}:", call.repeat);
            quote(&mut text, output, MAX_BODY_OUTPUT_CHARS);
        }
    }
    if let Some(first) = first {
        let _ = writeln!(
            text,
            "vars: {}",
            truncate(&first.vars.to_string(), MAX_BODY_VARS_CHARS)
        );
    }
    text
}

/// Appends `value`, cut to `max` characters, each line prefixed with `> `, then a note when cut.
fn quote(text: &mut String, value: &str, max: usize) {
    for line in truncate(value, max).lines() {
        let _ = writeln!(text, "> {line}");
    }
    let total = value.chars().count();
    if total > max {
        let _ = writeln!(
            text,
            "[cut: {max} of {total} characters shown; the results file has it whole]"
        );
    }
}

fn repeat_failures(call: &CallResult) -> String {
    let mut text = format!("repeat {}: failed, score {:.2}\n", call.repeat, call.score);
    let mut any = false;
    for check in call.checks.iter().filter(|k| !k.passed) {
        any = true;
        let _ = writeln!(
            text,
            "  {} [{}] score {:.2}: {}",
            check.kind, check.metric, check.score, check.reason
        );
    }
    if !any {
        text.push_str("  weighted score is below the case threshold\n");
    }
    text
}

/// Scores, checks, usage and output of every repeat: what a reader opens a testcase for.
fn system_out(case: &CaseView<'_>, compared: bool) -> String {
    let mut text = String::new();
    let repeats = case.repeats.len();
    let _ = writeln!(
        text,
        "score {:.2} (mean over {} graded of {repeats} repeats); passed {} of {repeats}",
        case.score(),
        case.graded(),
        case.passed()
    );
    if let CaseStatus::Flaky { .. } = case.status {
        text.push_str("flaky: the repeats disagree\n");
    }
    match case.change {
        Some(change) => {
            let word = match change.change {
                CaseChange::Regressed => "regressed",
                CaseChange::Improved => "improved",
                CaseChange::New => "new (not in the baseline)",
                CaseChange::Removed => "removed",
            };
            let _ = writeln!(text, "baseline: {word}, {}", change_scores(change));
        }
        // Every case that is not unchanged has an entry, new cases included.
        None if compared => {
            text.push_str("baseline: unchanged\n");
        }
        None => {}
    }
    if let Some(first) = case.repeats.first() {
        let _ = writeln!(text, "vars: {}", first.vars);
        if let Some(expected) = &first.expected {
            let _ = writeln!(text, "expected: {expected}");
        }
        if !first.tags.is_empty() {
            let _ = writeln!(text, "tags: {}", first.tags.join(", "));
        }
    }
    for call in &case.repeats {
        let state = if call.is_errored() {
            "errored"
        } else if call.passed {
            "passed"
        } else {
            "failed"
        };
        let _ = writeln!(
            text,
            "\n--- repeat {}: {state}, score {:.2}, {} ms, {} input + {} output tokens, {}{}",
            call.repeat,
            call.score,
            call.latency_ms,
            call.tokens.input,
            call.tokens.output,
            format_usd(call.cost_usd),
            if call.cached { ", cached" } else { "" }
        );
        if let Some(error) = &call.error {
            let _ = writeln!(text, "error: {error}");
        }
        for check in &call.checks {
            let _ = writeln!(
                text,
                "{} {} [{}] score {:.2}: {}",
                if check.passed { "PASS" } else { "FAIL" },
                check.kind,
                check.metric,
                check.score,
                check.reason
            );
        }
        if let Some(output) = &call.shown_output() {
            text.push_str("output:\n");
            text.push_str(&truncate(output, MAX_OUTPUT_CHARS));
            text.push('\n');
            let total = output.chars().count();
            if total > MAX_OUTPUT_CHARS {
                let _ = writeln!(
                    text,
                    "[output cut: {} of {total} characters shown; the results file has it all]",
                    MAX_OUTPUT_CHARS
                );
            }
        }
    }
    text
}

/// Seconds with three decimals, the precision the schema's `SUREFIRE_TIME` allows.
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// A one-line attribute value, cut for readability.
fn message(text: &str) -> String {
    let flat = text.trim().replace(['\n', '\t'], " ");
    escape(&truncate(&flat, MAX_MESSAGE_CHARS), true)
}

/// Makes untrusted text safe XML: sanitised as for a log (no ANSI, no control characters),
/// without the characters XML 1.0 forbids, and escaped. In attributes, line breaks and tabs
/// become spaces, as an XML parser would normalise them anyway.
pub fn escape(text: &str, attribute: bool) -> String {
    let safe = sanitize_for_log(text);
    let mut out = String::with_capacity(safe.len() + 16);
    for c in safe.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            // Escaped everywhere so `]]>` can never appear, in text or attributes.
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' | '\t' if attribute => out.push(' '),
            // Not XML 1.0 characters in any form, escaped or not.
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// XML 1.0's `Char` production (surrogates cannot occur in a Rust `str`).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Hands out testcase names unique within a suite: the same case id twice in one cell (only a
/// hand-edited results file can hold that), or two ids that sanitise to the same text, get
/// ` (2)`, ` (3)`... so reporters never merge two testcases.
#[derive(Default)]
struct UniqueNames {
    seen: HashSet<String>,
    next: BTreeMap<String, usize>,
}

impl UniqueNames {
    fn claim(&mut self, raw: &str) -> String {
        // Normalised as the attribute will be, so two ids that would print the same are
        // told apart here.
        let base: String = sanitize_for_log(raw)
            .chars()
            .map(|c| match c {
                '\n' | '\t' => ' ',
                '\u{FFFE}' | '\u{FFFF}' => '\u{FFFD}',
                c => c,
            })
            .collect();
        if self.seen.insert(base.clone()) {
            return base;
        }
        let counter = self.next.entry(base.clone()).or_insert(1);
        loop {
            *counter += 1;
            let candidate = format!("{base} ({counter})");
            if self.seen.insert(candidate.clone()) {
                return candidate;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::xml_tree::{Element, parse};
    use crate::test_helpers::{self, have_tool};

    /// The Jenkins xunit plugin's JUnit schema (MIT), vendored so the check needs no network.
    const XSD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemas/junit-10.xsd");

    /// Validates `xml` against the Jenkins xunit JUnit schema with xmllint.
    fn assert_valid(xml: &str) {
        if !have_tool("xmllint") {
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("report.xml");
        std::fs::write(&file, xml).expect("write report");
        let out = std::process::Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(XSD)
            .arg(&file)
            .output()
            .expect("xmllint runs");
        assert!(
            out.status.success(),
            "xmllint rejected the report:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn suites(root: &Element) -> Vec<&Element> {
        root.children_named("testsuite").collect()
    }

    fn count(root: &Element, name: &str) -> usize {
        root.descendants(name).len()
    }

    /// Every count attribute agrees with the elements it counts, and names are unique.
    fn assert_consistent(root: &Element) {
        assert_eq!(root.name, "testsuites");
        let mut total = (0, 0, 0);
        for suite in suites(root) {
            let cases: Vec<_> = suite.children_named("testcase").collect();
            let failures = cases
                .iter()
                .filter(|c| c.child("failure").is_some())
                .count();
            let errors = cases.iter().filter(|c| c.child("error").is_some()).count();
            let skipped = cases
                .iter()
                .filter(|c| c.child("skipped").is_some())
                .count();
            assert_eq!(suite.attr("tests"), Some(cases.len().to_string().as_str()));
            // The suite's time is its testcases' times added up (in milliseconds, as written).
            let ms = |t: Option<&str>| {
                t.map_or(0, |t| {
                    let (s, frac) = t.split_once('.').expect("seconds.millis");
                    s.parse::<u64>().expect("seconds") * 1000 + frac.parse::<u64>().expect("ms")
                })
            };
            // Every suite and testcase has a time: dorny's reporter shows a missing one as
            // "NaNms".
            assert!(
                suite.attr("time").is_some(),
                "{:?} has no time",
                suite.attr("name")
            );
            for case in &cases {
                assert!(
                    case.attr("time").is_some(),
                    "{:?} has no time",
                    case.attr("name")
                );
            }
            let summed: u64 = cases.iter().map(|c| ms(c.attr("time"))).sum();
            assert_eq!(ms(suite.attr("time")), summed, "{:?}", suite.attr("name"));
            assert_eq!(suite.attr("failures"), Some(failures.to_string().as_str()));
            assert_eq!(suite.attr("errors"), Some(errors.to_string().as_str()));
            assert_eq!(suite.attr("skipped"), Some(skipped.to_string().as_str()));
            let mut names = HashSet::new();
            for case in &cases {
                assert_eq!(case.attr("classname"), suite.attr("name"));
                let key = (case.attr("classname"), case.attr("name"));
                assert!(names.insert(key), "duplicate testcase {key:?}");
            }
            total.0 += cases.len();
            total.1 += failures;
            total.2 += errors;
        }
        assert!(root.attr("time").is_some(), "<testsuites> has no time");
        assert_eq!(root.attr("tests"), Some(total.0.to_string().as_str()));
        assert_eq!(root.attr("failures"), Some(total.1.to_string().as_str()));
        assert_eq!(root.attr("errors"), Some(total.2.to_string().as_str()));
    }

    pub(crate) fn checked(results: &Results) -> (String, Element) {
        let xml = render(results).expect("render");
        assert_valid(&xml);
        let root = parse(&xml);
        assert_consistent(&root);
        (xml, root)
    }

    #[test]
    fn passing_run_has_a_gate_suite_and_a_suite_per_cell() {
        let (xml, root) = checked(&test_helpers::pass());
        let names: Vec<_> = suites(&root).iter().map(|s| s.attr("name")).collect();
        assert_eq!(
            names,
            [
                Some("evalgate support-bot gate"),
                Some("evalgate support-bot answer∕mini"),
                Some("evalgate support-bot answer∕local")
            ]
        );
        assert_eq!(root.attr("tests"), Some("11"));
        assert_eq!(count(&root, "failure") + count(&root, "error"), 0);
        let gate = suites(&root)[0];
        let rules: Vec<_> = gate
            .children_named("testcase")
            .map(|c| c.attr("name"))
            .collect();
        assert_eq!(
            rules,
            [
                Some("max_error_rate"),
                Some("min_pass_rate"),
                Some("metrics.accuracy.max_drop")
            ]
        );
        insta::assert_snapshot!(xml);
    }

    #[test]
    fn floor_failure_fails_the_rule_and_the_failing_cases() {
        let (xml, root) = checked(&test_helpers::fail_by_floor());
        let gate = suites(&root)[0];
        let rule = gate
            .children_named("testcase")
            .find(|c| c.attr("name") == Some("min_pass_rate"))
            .expect("rule testcase");
        let failure = rule.child("failure").expect("failed rule");
        assert!(
            failure
                .attr("message")
                .is_some_and(|m| m.contains("is below the minimum 90.0%"))
        );
        // 3 failing cases + the failed rule.
        assert_eq!(count(&root, "failure"), 4);
        let case = suites(&root)[1]
            .children_named("testcase")
            .find(|c| c.attr("name") == Some("refund-1"))
            .expect("case");
        let failure = case.child("failure").expect("failure");
        assert_eq!(failure.attr("type"), Some("check"));
        assert!(
            failure.text.contains(
                "contains [accuracy] score 0.00: expected the answer to contain \"30 days\""
            ),
            "{}",
            failure.text
        );
        let out = &case.child("system-out").expect("system-out").text;
        assert!(
            out.contains("You can return items within a reasonable time."),
            "{out}"
        );
        assert!(
            out.contains("vars: {\"question\":\"What about refund-1?\"}"),
            "{out}"
        );
        insta::assert_snapshot!(xml);
    }

    /// GitHub's JUnit actions show a failure's text and never `system-out`: the text alone
    /// must say why the case failed, what was expected, what the model said and to what input.
    #[test]
    fn failure_bodies_carry_reason_expected_output_and_vars() {
        let (_, root) = checked(&test_helpers::fail_by_floor());
        let case = suites(&root)[1]
            .children_named("testcase")
            .find(|c| c.attr("name") == Some("refund-1"))
            .expect("case");
        let failure = case.child("failure").expect("failure");
        let message = failure.attr("message").expect("message");
        assert!(!message.contains('\n'));
        let body = &failure.text;
        // The summary leads, for reporters that show the body's first line as the message.
        assert!(body.starts_with(message), "{body}");
        for part in [
            "repeat 0: failed, score 0.00\n  contains [accuracy] score 0.00: expected the answer to contain \"30 days\"\n",
            "expected:\n> 30 days\n",
            "output of repeat 0:\n> You can return items within a reasonable time.\n",
            "vars: {\"question\":\"What about refund-1?\"}",
        ] {
            assert!(body.contains(part), "missing {part:?} in:\n{body}");
        }
    }

    #[test]
    fn bodies_show_a_few_repeats_of_many() {
        let mut results = test_helpers::fail_by_floor();
        let call = results
            .results
            .to_vec()
            .iter()
            .find(|c| c.case_id == "refund-1")
            .expect("refund-1")
            .clone();
        results
            .results
            .to_mut()
            .extend((1..10).map(|repeat| CallResult {
                repeat,
                ..call.clone()
            }));
        let (_, root) = checked(&results);
        let body = &root
            .descendants("failure")
            .into_iter()
            .find(|f| f.text.contains("What about refund-1?"))
            .expect("refund-1 failure")
            .text;
        assert_eq!(body.matches("output of repeat").count(), MAX_BODY_REPEATS);
        assert!(
            body.contains(
                "[7 more failed or errored repeats: system-out and the results file have them]"
            ),
            "{body}"
        );
    }

    #[test]
    fn error_bodies_carry_the_error_and_vars() {
        let (_, root) = checked(&test_helpers::infra_error());
        let error = root
            .descendants("error")
            .into_iter()
            .find(|e| e.attr("type") == Some("infrastructure"))
            .expect("infrastructure error");
        assert!(
            error.text.contains(
                "repeat 0: error: HTTP 503 from provider: overloaded (after 4 attempts)\n"
            ),
            "{}",
            error.text
        );
        assert!(error.text.contains("vars: "), "{}", error.text);
    }

    #[test]
    fn long_outputs_are_cut_in_bodies_and_no_line_reads_as_a_stack_frame() {
        let mut results = test_helpers::fail_by_floor();
        let call = results
            .results
            .to_mut()
            .iter_mut()
            .find(|c| c.case_id == "refund-1")
            .expect("refund-1");
        // A frame dorny's parser would pin to `src/report/junit.rs` if the line were bare.
        let frame = "at src.report.Junit.render(junit.rs:12)";
        call.output = Some(format!("{frame}\n{}", "y".repeat(5_000)));
        let (_, root) = checked(&results);
        let body = &root
            .descendants("failure")
            .into_iter()
            .find(|f| f.attr("type") == Some("check") && f.text.contains(frame))
            .expect("refund-1 failure")
            .text;
        assert!(body.contains(&format!("> {frame}\n")), "{body}");
        assert!(!body.lines().any(|l| l.trim_start().starts_with("at ")));
        assert!(body.contains(&format!(
            "[cut: {MAX_BODY_OUTPUT_CHARS} of {} characters shown; the results file has it whole]",
            frame.len() + 1 + 5_000
        )));
        assert!(!body.contains(&"y".repeat(MAX_BODY_OUTPUT_CHARS)));
    }

    /// mikepenz/action-junit-report looks for `**/TEXT.*`, TEXT the classname after its last
    /// `.`: a dot, or a slash that makes TEXT a path, would pin annotations to a source file.
    #[test]
    fn classnames_name_no_file() {
        let mut results = test_helpers::new_and_removed();
        results.run.suite = "support.bot/v1.2\\x".to_owned();
        let (_, root) = checked(&results);
        let names: Vec<_> = suites(&root)
            .iter()
            .filter_map(|s| s.attr("name"))
            .collect();
        assert_eq!(names[0], "evalgate support․bot∕v1․2∖x gate");
        assert_eq!(names[1], "evalgate support․bot∕v1․2∖x answer∕mini");
        for case in root.descendants("testcase") {
            let classname = case.attr("classname").expect("classname");
            assert!(
                !classname.contains(['.', '/', '\\']),
                "{classname:?} reads as a file"
            );
            assert!(classname.starts_with("evalgate "), "{classname:?}");
        }
    }

    #[test]
    fn confident_drop_marks_regressed_cases() {
        let (xml, root) = checked(&test_helpers::fail_by_confident_drop());
        let failures = root.descendants("failure");
        let regressed: Vec<_> = failures
            .iter()
            .filter(|f| {
                f.attr("message").is_some_and(|m| {
                    m.starts_with("regressed against the baseline (score 1.00 → 0.00)")
                })
            })
            .collect();
        assert_eq!(regressed.len(), 2);
        assert!(xml.contains("baseline: regressed, score 1.00 → 0.00"));
        assert!(xml.contains("baseline: unchanged"));
        insta::assert_snapshot!(xml);
    }

    #[test]
    fn noise_passes_with_regression_noted() {
        let (xml, root) = checked(&test_helpers::pass_despite_noise());
        let gate = suites(&root)[0];
        assert_eq!(gate.attr("failures"), Some("0"));
        assert!(xml.contains("baseline: improved, score 0.00 → 1.00"));
        insta::assert_snapshot!(xml);
    }

    #[test]
    fn infrastructure_errors_are_errors_not_failures() {
        let (xml, root) = checked(&test_helpers::infra_error());
        // 6 errored cases + the error-rate rule; nothing is a quality failure.
        assert_eq!(count(&root, "error"), 7);
        assert_eq!(count(&root, "failure"), 0);
        let error = root
            .descendants("error")
            .into_iter()
            .find(|e| e.attr("type") == Some("infrastructure"))
            .expect("infrastructure error");
        assert!(
            error
                .attr("message")
                .is_some_and(|m| m.contains("HTTP 503 from provider"))
        );
        insta::assert_snapshot!(xml);
    }

    #[test]
    fn flaky_cases_are_marked() {
        let (xml, root) = checked(&test_helpers::flaky());
        let cases: Vec<_> = suites(&root)[1].children_named("testcase").collect();
        assert_eq!(cases.len(), 3, "repeats fold into one testcase");
        // 2 of 3 passed: a pass with one flakyFailure for the failed repeat.
        assert!(cases[1].child("failure").is_none());
        let flaky: Vec<_> = cases[1].children_named("flakyFailure").collect();
        assert_eq!(flaky.len(), 1);
        assert_eq!(
            flaky[0].attr("message"),
            Some("flaky: repeat 1 failed (passed 2 of 3 repeats)")
        );
        // 1 of 3 passed: a failure that says it is flaky.
        let failure = cases[2].child("failure").expect("failure");
        assert_eq!(failure.attr("type"), Some("flaky"));
        assert!(
            failure
                .attr("message")
                .is_some_and(|m| m.starts_with("flaky: regressed against the baseline"))
        );
        insta::assert_snapshot!(xml);
    }

    #[test]
    fn new_and_removed_cases_and_cells() {
        let (xml, root) = checked(&test_helpers::new_and_removed());
        let names: Vec<_> = suites(&root).iter().map(|s| s.attr("name")).collect();
        assert_eq!(
            names,
            [
                Some("evalgate support-bot gate"),
                Some("evalgate support-bot answer∕mini"),
                Some("evalgate support-bot answer∕local"),
                Some("evalgate support-bot answer∕large"),
                Some("evalgate support-bot answer∕old"),
            ]
        );
        let skipped = root.descendants("skipped");
        assert_eq!(skipped.len(), 2);
        assert!(skipped.iter().all(|s| s.attr("type") == Some("removed")));
        assert!(xml.contains("baseline: new (not in the baseline)"));
        insta::assert_snapshot!(xml);
    }

    #[test]
    fn ten_thousand_cases_validate_and_count() {
        let results = test_helpers::huge();
        let (_, root) = checked(&results);
        assert_eq!(root.attr("tests"), Some("10002"));
        assert_eq!(root.attr("failures"), Some("3001"));
    }

    #[test]
    fn hostile_output_stays_valid_xml() {
        let results = test_helpers::hostile();
        let (xml, root) = checked(&results);
        for bad in [
            '\0', '\x07', '\x0b', '\x0c', '\x1b', '\u{7f}', '\u{9b}', '\u{FFFE}', '\u{FFFF}',
        ] {
            assert!(!xml.contains(bad), "{bad:?} survived");
        }
        assert!(!xml.contains("]]>"));
        assert!(!xml.contains("<![CDATA["));
        // What the reader needs survives: text around the removed characters, the lossy
        // replacement characters, markup shown as text, and the cut 1 MB answer.
        let outs: String = root
            .descendants("system-out")
            .iter()
            .map(|e| e.text.as_str())
            .collect();
        assert!(outs.contains("end ]]> of CDATA <![CDATA[ x ]]> & <tag attr=\"v\">"));
        assert!(
            outs.contains("nul  bell  vt  ff  esc red  del  c1 "),
            "{}",
            &outs[..2000.min(outs.len())]
        );
        assert!(outs.contains("bad \u{FFFD}\u{FFFD}\u{FFFD} surrogate"));
        assert!(outs.contains("astral 😀"));
        assert!(outs.contains(&"x".repeat(MAX_OUTPUT_CHARS)));
        assert!(outs.contains(&format!(
            "[output cut: {MAX_OUTPUT_CHARS} of {} characters shown",
            1 << 20
        )));
        // Case ids with markup and control characters are still unique, readable names.
        let names: Vec<_> = root
            .descendants("testcase")
            .iter()
            .filter_map(|c| c.attr("name"))
            .map(str::to_owned)
            .collect();
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("case-0 end ]]> of CDATA")),
            "{names:?}"
        );
        assert!(names.iter().all(|n| !n.contains('\n')));
        assert!(
            xml.len() < 3_000_000,
            "the 1 MB answer is cut: {}",
            xml.len()
        );
    }

    #[test]
    fn duplicate_ids_get_distinct_names() {
        let mut results = test_helpers::fail_by_floor();
        // Two ids that differ only by an escape sequence sanitise to the same name.
        results.results.to_mut()[1].case_id = "refund-0\x1b[0m".to_owned();
        // And two that differ by a line break, which an attribute shows as a space.
        results.results.to_mut()[2].case_id = "a b".to_owned();
        results.results.to_mut()[3].case_id = "a\nb".to_owned();
        let (_, root) = checked(&results);
        let names: Vec<_> = suites(&root)[1]
            .children_named("testcase")
            .filter_map(|c| c.attr("name"))
            .collect();
        assert_eq!(names, ["refund-0", "refund-0 (2)", "a b", "a b (2)"]);
    }

    #[test]
    fn escape_handles_xml_specials() {
        assert_eq!(
            escape("a<b>&\"c\"]]>", true),
            "a&lt;b&gt;&amp;&quot;c&quot;]]&gt;"
        );
        assert_eq!(escape("l1\nl2\tx", true), "l1 l2 x");
        assert_eq!(escape("l1\nl2", false), "l1\nl2");
        assert_eq!(escape("\u{FFFF}\0x", false), "\u{FFFD}x");
        assert_eq!(seconds(1_234), "1.234");
        assert_eq!(seconds(5), "0.005");
    }
}
