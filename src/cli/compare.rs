//! `evalgate compare BASE HEAD`: the gate decision from two results files, with no model call;
//! `evalgate compare --cells OLD NEW RESULTS`: the same decision between two cells of one run
//! (a model rotation: is the new model a regression?).

use std::io::Write;
use std::path::PathBuf;

use super::{CliError, Outcome};
use crate::results::file;

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The baseline results file: the run of the base branch. With `--cells`, the one results
    /// file that holds both cells.
    #[arg(value_name = "BASE")]
    base: PathBuf,
    /// The results file to judge: the run of this change. Not with `--cells`.
    #[arg(value_name = "HEAD", required_unless_present = "cells")]
    head: Option<PathBuf>,
    /// Compare two cells (PROMPT/MODEL) of one results file instead of two runs, case by case:
    /// OLD is the base, NEW the head (e.g. `--cells answer/mini answer/nano results.json`).
    #[arg(
        long,
        num_args = 2,
        value_names = ["OLD", "NEW"],
        conflicts_with = "head"
    )]
    cells: Option<Vec<String>>,
    /// A suite file whose `[gate]` replaces the one recorded in HEAD.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Write HEAD with the comparison and the new verdict to FILE (with `--cells`: the NEW cell's
    /// calls only).
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
    let (mut head, base, source, head_path, note) = match (&args.cells, &args.head) {
        (Some(cells), _) => {
            let [old, new] = cells.as_slice() else {
                // clap takes exactly two values for `--cells`.
                return Err(CliError::usage(
                    "`--cells` takes two cells",
                    Some("pass `--cells OLD NEW RESULTS`"),
                ));
            };
            let run = file::read(&args.base)?;
            let shown = args.base.display().to_string();
            let views = crate::compare::cells::cell_views(&run, &shown, old, new)?;
            let note = views.different_prompts.as_ref().map(|(a, b)| {
                format!(
                    "note: the cells run different prompts (`{a}` and `{b}`): the change is the prompt's and the model's together\n"
                )
            });
            (views.head, views.base, views.source, &args.base, note)
        }
        (None, Some(head_path)) => {
            let head = file::read(head_path)?;
            let base = file::read_baseline(&args.base, &head.run.suite, head_path)?;
            let source = args.base.display().to_string();
            (head, base, source, head_path, None)
        }
        (None, None) => {
            return Err(CliError::usage(
                "nothing to compare with",
                Some("pass BASE HEAD, or `--cells OLD NEW RESULTS`"),
            ));
        }
    };
    let gate_config = match &args.config {
        Some(path) => crate::config::load(path)?.gate,
        None => head.run.gate.clone().ok_or_else(|| {
            CliError::usage(
                format!(
                    "{} does not record the gate it was run with, so there is nothing to compare against",
                    head_path.display()
                ),
                Some("pass the suite file with `-c FILE` to use its [gate] table"),
            )
        })?,
    };
    crate::gate::apply_baseline(&mut head, &base, &gate_config, &source)?;
    if let Some(path) = &args.results {
        file::write(path, &head)?;
    }

    let mut text = note.unwrap_or_default();
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
