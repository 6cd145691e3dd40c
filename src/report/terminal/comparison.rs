//! The terminal view of a baseline comparison: what changed against the base run, the metric
//! table with intervals, the regressed cases with both outputs, and what the suite can detect.
//!
//! Same layout as the run summary ([`super`]): a right-aligned label column, one
//! untrusted value per line made safe by [`crate::support::text::sanitize_for_log`] and cut to length.

use std::fmt::{self, Write};

use super::{TerminalOptions, Writer, more, one_line};
use crate::results::gate::Policy;
use crate::results::{
    CaseChange, CaseComparison, CellChange, Comparison, MetricComparison, QuantityComparison, Side,
    Status, TestMethod,
};
use crate::support::fmt::{
    format_confidence, format_count, format_p, format_percent, format_points, format_usd,
};

/// Longest output shown for a regressed case; the results file has it whole.
const MAX_OUTPUT_CHARS: usize = 120;

/// Writes the comparison section (everything but the verdict) to `out`.
pub fn write_comparison(
    out: &mut dyn Write,
    comparison: &Comparison,
    opts: &TerminalOptions,
) -> fmt::Result {
    let mut w = Writer { out, opts };
    write_baseline(&mut w, comparison)?;
    write_cells(&mut w, comparison)?;
    write_metric_table(&mut w, &comparison.metrics)?;
    write_mdd(&mut w, &comparison.metrics)?;
    write_regressed(&mut w, &comparison.cases)?;
    write_case_counts(&mut w, comparison)?;
    write_flaky(&mut w, comparison)?;
    write_usage(&mut w, comparison)
}

fn write_baseline(w: &mut Writer<'_>, c: &Comparison) -> fmt::Result {
    w.label("Baseline", None)?;
    let b = &c.baseline;
    write!(
        w.out,
        "{} (suite {}, {}",
        one_line(&b.source),
        one_line(&b.suite),
        one_line(&b.started_at)
    )?;
    if let Some(git) = &b.git {
        let short: String = git.sha.chars().take(10).collect();
        write!(w.out, ", git {}", one_line(&short))?;
        if let Some(branch) = &git.branch {
            write!(w.out, " on {}", one_line(branch))?;
        }
    }
    writeln!(w.out, ")")
}

fn write_cells(w: &mut Writer<'_>, c: &Comparison) -> fmt::Result {
    let count = |change| c.cells.iter().filter(|cell| cell.change == change).count();
    w.label("Cells", None)?;
    writeln!(
        w.out,
        "{} unchanged, {} changed, {} new, {} removed",
        count(CellChange::Unchanged),
        count(CellChange::Changed),
        count(CellChange::New),
        count(CellChange::Removed)
    )?;
    for cell in c
        .cells
        .iter()
        .filter(|cell| cell.change != CellChange::Unchanged)
    {
        w.continuation()?;
        let what = match cell.change {
            CellChange::Changed => "changed",
            CellChange::New => "new",
            CellChange::Removed => "removed",
            CellChange::Unchanged => "unchanged",
        };
        writeln!(w.out, "  {} ({what})", one_line(&cell.id))?;
    }
    // Each cell's own pass rate, when several ran in both runs: which one moved.
    let deltas: Vec<_> = c
        .cells
        .iter()
        .filter_map(|cell| Some((cell, cell.pass_rate.as_ref()?)))
        .collect();
    if deltas.len() >= 2 {
        for (cell, d) in deltas {
            w.continuation()?;
            write!(
                w.out,
                "  {} pass rate {} -> {} ({} pts, CI {} to {})",
                one_line(&cell.id),
                format_percent(d.base),
                format_percent(d.head),
                format_points(d.delta),
                format_points(d.ci_low),
                format_points(d.ci_high)
            )?;
            if d.dropped {
                write!(w.out, " ")?;
                w.colored("DROPPED", Some(Status::Fail))?;
            }
            writeln!(w.out)?;
        }
    }
    Ok(())
}

fn method_name(method: TestMethod) -> &'static str {
    match method {
        TestMethod::McnemarExact => "mcnemar",
        TestMethod::PairedT => "paired t",
        TestMethod::PairedBootstrap => "bootstrap",
        TestMethod::None => "-",
    }
}

fn write_metric_table(w: &mut Writer<'_>, metrics: &[MetricComparison]) -> fmt::Result {
    let header = [
        "metric", "base", "head", "Δ pts", "CI", "method", "p", "status",
    ];
    let rows: Vec<[String; 8]> = metrics
        .iter()
        .map(|m| {
            let ci = if m.method == TestMethod::None {
                "-".to_owned()
            } else {
                format!(
                    "{} {} to {}",
                    format_confidence(m.confidence),
                    format_points(m.ci_low),
                    format_points(m.ci_high)
                )
            };
            // Fewer than two paired cases: nothing was compared, and no 0.0% → 0.0% PASS says
            // otherwise.
            let compared = m.method != TestMethod::None;
            let side = |v: f64| {
                if m.pairs == 0 {
                    "-".to_owned()
                } else {
                    format_percent(v)
                }
            };
            let status = match m.max_drop {
                _ if !compared => "not compared: fewer than 2 paired cases".to_owned(),
                None => "info".to_owned(),
                Some(max) => format!(
                    "{} (max drop {}, {})",
                    m.status.as_str().to_ascii_uppercase(),
                    format_points(max),
                    m.policy
                ),
            };
            let name = match m.measure {
                crate::results::gate::Measure::PassRate => one_line(&m.metric),
                crate::results::gate::Measure::Score => {
                    format!("{} (mean score)", one_line(&m.metric))
                }
            };
            [
                name,
                side(m.base),
                side(m.head),
                if compared {
                    format_points(m.delta)
                } else {
                    "-".to_owned()
                },
                ci,
                method_name(m.method).to_owned(),
                m.p_adjusted.map_or_else(|| "-".to_owned(), format_p),
                status,
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    w.label("Comparison", None)?;
    write_row(w, &header.map(str::to_owned), &widths, None)?;
    for (row, m) in rows.iter().zip(metrics) {
        w.continuation()?;
        let status = m
            .max_drop
            .filter(|_| m.method != TestMethod::None)
            .map(|_| m.status);
        write_row(w, row, &widths, status)?;
    }
    Ok(())
}

/// One table row: the first column left-aligned, numbers right-aligned, the status last (and
/// coloured when it decided something).
fn write_row(
    w: &mut Writer<'_>,
    row: &[String; 8],
    widths: &[usize; 8],
    status: Option<Status>,
) -> fmt::Result {
    for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
        let pad = width.saturating_sub(cell.chars().count());
        match i {
            0 | 4 | 5 => write!(w.out, "{cell}{:pad$}  ", "")?,
            7 => {
                let (word, rest) = cell.split_once(' ').unwrap_or((cell, ""));
                match status {
                    Some(status) => w.colored(word, Some(status))?,
                    None => write!(w.out, "{word}")?,
                }
                if !rest.is_empty() {
                    write!(w.out, " {rest}")?;
                }
            }
            _ => write!(w.out, "{:pad$}{cell}  ", "")?,
        }
    }
    writeln!(w.out)
}

fn write_mdd(w: &mut Writer<'_>, metrics: &[MetricComparison]) -> fmt::Result {
    for (i, m) in metrics.iter().enumerate() {
        if i == 0 {
            w.label("Detectable", None)?;
        } else {
            w.continuation()?;
        }
        match m.min_detectable_drop {
            Some(mdd) if m.max_drop.is_some() && m.policy == Policy::NonInferiority.as_str() => {
                writeln!(
                    w.out,
                    "{}: an unchanged metric passes non-inferiority 80% of the time only with a max drop of {} points or more ({} paired cases)",
                    one_line(&m.metric),
                    format_points(mdd),
                    format_count(m.pairs)
                )?
            }
            Some(mdd) => writeln!(
                w.out,
                "{}: a true drop of {} points or more is caught 80% of the time ({} paired cases)",
                one_line(&m.metric),
                format_points(mdd),
                format_count(m.pairs)
            )?,
            None => writeln!(
                w.out,
                "{}: not estimable ({} paired cases, no variation seen)",
                one_line(&m.metric),
                format_count(m.pairs)
            )?,
        }
    }
    Ok(())
}

fn share(passed: Option<f64>) -> String {
    passed.map_or_else(|| "-".to_owned(), format_percent)
}

fn write_regressed(w: &mut Writer<'_>, cases: &[CaseComparison]) -> fmt::Result {
    let regressed: Vec<_> = cases
        .iter()
        .filter(|c| c.change == CaseChange::Regressed)
        .collect();
    for case in regressed.iter().take(w.opts.max_listed) {
        w.label("REGRESSED", Some(Status::Fail))?;
        writeln!(
            w.out,
            "{} {}: passed {} → {}, score {:.2} → {:.2}",
            one_line(&case.cell),
            one_line(&case.case_id),
            share(case.base_pass_share),
            share(case.head_pass_share),
            case.base_score.unwrap_or_default(),
            case.head_score.unwrap_or_default()
        )?;
        for reason in &case.reasons {
            w.continuation()?;
            writeln!(w.out, "  {}", one_line(reason))?;
        }
        for (side, output) in [("base", &case.base_output), ("head", &case.head_output)] {
            if let Some(output) = output {
                w.continuation()?;
                let text = one_line(output);
                writeln!(
                    w.out,
                    "  {side}: {}",
                    crate::support::text::truncate(&text, MAX_OUTPUT_CHARS)
                )?;
            }
        }
    }
    more(w, regressed.len(), "regressed")
}

fn write_case_counts(w: &mut Writer<'_>, c: &Comparison) -> fmt::Result {
    let count = |change| c.cases.iter().filter(|case| case.change == change).count() as u64;
    w.label("Cases", None)?;
    write!(
        w.out,
        "{} regressed, {} improved, {} new, {} removed, {} flaky, {} unchanged",
        format_count(count(CaseChange::Regressed)),
        format_count(count(CaseChange::Improved)),
        format_count(count(CaseChange::New)),
        format_count(count(CaseChange::Removed)),
        format_count(c.flaky_cases() as u64),
        format_count(c.unchanged)
    )?;
    if c.unpaired_errored > 0 {
        write!(
            w.out,
            "; {} not paired because every call errored on one side",
            format_count(c.unpaired_errored)
        )?;
    }
    writeln!(w.out)
}

fn write_flaky(w: &mut Writer<'_>, c: &Comparison) -> fmt::Result {
    for (i, flaky) in c.flaky.iter().take(w.opts.max_listed).enumerate() {
        if i == 0 {
            w.label("Flaky", None)?;
        } else {
            w.continuation()?;
        }
        let side = match flaky.side {
            Side::Base => "base",
            Side::Head => "head",
        };
        writeln!(
            w.out,
            "{} {} ({side}): passed {} of {} repeats",
            one_line(&flaky.cell),
            one_line(&flaky.case_id),
            flaky.passed,
            flaky.repeats
        )?;
    }
    more(w, c.flaky.len(), "flaky")
}

fn change(q: &QuantityComparison) -> String {
    match q.change {
        Some(change) if change >= 0.0 => format!(" (+{})", format_percent(change)),
        Some(change) => format!(" (−{})", format_percent(-change)),
        None => String::new(),
    }
}

fn write_usage(w: &mut Writer<'_>, c: &Comparison) -> fmt::Result {
    w.label("vs base", None)?;
    let latency = if c.latency_p95_ms.base == 0.0 && c.latency_p95_ms.head == 0.0 {
        "p95 latency not measured (every answer came from the cache)".to_owned()
    } else {
        format!(
            "p95 latency {} → {} ms{}",
            format_count(c.latency_p95_ms.base as u64),
            format_count(c.latency_p95_ms.head as u64),
            change(&c.latency_p95_ms)
        )
    };
    writeln!(
        w.out,
        "cost per case {} → {}{}; {latency}; tokens per case {:.0} → {:.0} in, {:.0} → {:.0} out",
        format_usd(c.cost.base),
        format_usd(c.cost.head),
        change(&c.cost),
        c.input_tokens.base,
        c.input_tokens.head,
        c.output_tokens.base,
        c.output_tokens.head
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::tests::{accuracy_gate, fabricate, suite_run};
    use crate::results::gate::Policy;

    fn render(c: &Comparison, opts: &TerminalOptions) -> String {
        let mut out = String::new();
        write_comparison(&mut out, c, opts).expect("writing to a String cannot fail");
        out
    }

    fn sample() -> Comparison {
        let base = suite_run(200, |i| i % 10 != 0);
        let mut head = suite_run(200, |i| i % 10 > 1);
        head.truncate(199);
        head[11].checks[0].reason = "expected \"refund\"\n::error::forged \x1b[31mred".to_owned();
        head[1].output = Some("::set-output name=x::y\r\n##[error]z".to_owned());
        let mut head = fabricate(head);
        head.cells[0].fingerprint = "changed".to_owned();
        crate::compare::compare(
            &fabricate(base),
            &head,
            &accuracy_gate(0.02, Policy::ConfidentDrop),
            "base.json",
        )
        .expect("compare")
        .comparison
    }

    #[test]
    fn comparison_snapshot() {
        let opts = TerminalOptions {
            color: false,
            max_listed: 3,
        };
        insta::assert_snapshot!(render(&sample(), &opts));
    }

    #[test]
    fn untrusted_output_and_reasons_are_neutralised() {
        let text = render(&sample(), &TerminalOptions::default());
        assert!(!text.contains('\x1b') && !text.contains('\r'), "{text:?}");
        assert!(!text.contains("##["), "{text}");
        for line in text.lines() {
            assert!(!line.trim_start().starts_with("::"), "{line}");
        }
        assert!(text.contains(": :error::forged"), "{text}");
    }

    #[test]
    fn non_inferiority_states_the_tolerance_it_needs() {
        let run = fabricate(suite_run(400, |i| i % 3 != 0));
        let c = crate::compare::compare(
            &run,
            &run,
            &accuracy_gate(0.05, Policy::NonInferiority),
            "b.json",
        )
        .expect("compare")
        .comparison;
        let text = render(&c, &TerminalOptions::default());
        assert!(
            text.contains("accuracy: an unchanged metric passes non-inferiority 80% of the time only with a max drop of "),
            "{text}"
        );
        assert!(
            text.contains("PASS (max drop 5.0, non-inferiority)"),
            "{text}"
        );
        assert!(text.contains("pass_rate: a true drop of "), "{text}");
    }

    #[test]
    fn a_metric_with_nothing_paired_says_so_instead_of_passing() {
        let mut c = sample();
        let m = &mut c.metrics[0];
        m.method = TestMethod::None;
        m.pairs = 0;
        m.status = Status::Pass;
        let text = render(&c, &TerminalOptions::default());
        let row = text
            .lines()
            .find(|l| {
                l.contains(&format!(" {} ", c.metrics[0].metric)) && l.contains("not compared")
            })
            .unwrap_or_else(|| panic!("no not-compared row: {text}"));
        assert!(!row.contains("0.0%") && !row.contains("PASS"), "{row}");
        assert!(
            row.ends_with("not compared: fewer than 2 paired cases"),
            "{row}"
        );
    }

    #[test]
    fn status_is_coloured_only_when_asked() {
        let opts = TerminalOptions {
            color: true,
            max_listed: 1,
        };
        let text = render(&sample(), &opts);
        assert!(text.contains("\x1b[1;31mFAIL\x1b[0m"), "{text}");
        assert!(text.contains("\x1b[1;31mREGRESSED\x1b[0m"), "{text}");
    }
}
