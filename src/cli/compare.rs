//! `evalgate compare BASE HEAD`: the gate decision from two results files, with no model call.

use std::io::Write;
use std::path::PathBuf;

use super::{CliError, Outcome};
use crate::results::file;

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The baseline results file: the run of the base branch.
    #[arg(value_name = "BASE")]
    base: PathBuf,
    /// The results file to judge: the run of this change.
    #[arg(value_name = "HEAD")]
    head: PathBuf,
    /// A suite file whose `[gate]` replaces the one recorded in HEAD.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Write HEAD with the comparison and the new verdict to FILE.
    #[arg(long, value_name = "FILE")]
    results: Option<PathBuf>,
    #[command(flatten)]
    reports: super::report::ReportOutputs,
}

pub fn compare(
    args: CompareArgs,
    color: bool,
    stdout: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let mut head = file::read(&args.head)?;
    let base = file::read_baseline(&args.base, &head.run.suite, &args.head)?;
    let gate_config = match &args.config {
        Some(path) => crate::config::load(path)?.gate,
        None => head.run.gate.clone().ok_or_else(|| {
            CliError::usage(
                format!(
                    "{} does not record the gate it was run with, so there is nothing to compare against",
                    args.head.display()
                ),
                Some("pass the suite file with `-c FILE` to use its [gate] table"),
            )
        })?,
    };
    crate::gate::apply_baseline(
        &mut head,
        &base,
        &gate_config,
        &args.base.display().to_string(),
    );
    if let Some(path) = &args.results {
        file::write(path, &head)?;
    }

    let mut text = String::new();
    let opts = crate::report::terminal::TerminalOptions {
        color,
        ..Default::default()
    };
    if let Some(comparison) = &head.comparison {
        let _ = crate::report::terminal::comparison::write_comparison(&mut text, comparison, &opts);
    }
    let _ = crate::report::terminal::write_verdict(&mut text, &head.verdict, &opts);
    let _ = write!(stdout, "{text}");
    if let Some(path) = &args.results {
        let _ = writeln!(stdout, "results: {}", path.display());
    }
    // After the verdict, so a report that cannot be written does not hide it.
    for line in super::report::write_reports(&head, &args.reports)? {
        let _ = writeln!(stdout, "{line}");
    }
    Ok(Outcome::Verdict(head.verdict.status))
}
