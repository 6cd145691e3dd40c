//! `evalgate compare BASE HEAD`: the gate decision from two results files, with no model call;
//! and the baseline half of `evalgate run --baseline`.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::CliError;
use crate::results::gate::GateConfig;
use crate::results::{Results, Status};
use crate::{aggregate, compare, exit_codes, gate};

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

pub fn compare(args: CompareArgs, color: bool, stdout: &mut dyn Write) -> Result<u8, CliError> {
    let mut head = read(&args.head)?;
    let base = load_baseline(&args.base, &head.run.suite, &args.head)?;
    let gate_config = match &args.config {
        Some(path) => crate::config::load(path)?.gate,
        None => match &head.run.gate {
            Some(gate) => gate.clone(),
            None => {
                return Err(CliError::Usage {
                    message: format!(
                        "{} does not record the gate it was run with, so there is nothing to compare against",
                        args.head.display()
                    ),
                    hint: Some(
                        "pass the suite file with `-c FILE` to use its [gate] table".to_owned(),
                    ),
                });
            }
        },
    };
    judge(
        &mut head,
        &base,
        &gate_config,
        &args.base.display().to_string(),
    );
    if let Some(path) = &args.results {
        super::run::write_results(path, &head)?;
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
    Ok(exit_code(head.verdict.status))
}

pub(crate) fn exit_code(status: Status) -> u8 {
    match status {
        Status::Pass => exit_codes::PASS,
        Status::Fail => exit_codes::GATE_FAILED,
        Status::Error => exit_codes::INFRA,
    }
}

fn read(path: &Path) -> Result<Results, CliError> {
    Ok(crate::results::file::read(path)?)
}

/// Reads a baseline and checks it is a run of the same suite as `head_path`'s.
pub(crate) fn load_baseline(
    path: &Path,
    suite: &str,
    head_path: &Path,
) -> Result<Results, CliError> {
    let base = read(path)?;
    if base.run.suite != suite {
        return Err(CliError::Usage {
            message: format!(
                "{} is a run of suite `{}`, but {} is a run of suite `{suite}`",
                path.display(),
                base.run.suite,
                head_path.display()
            ),
            hint: Some("compare two runs of the same suite".to_owned()),
        });
    }
    Ok(base)
}

/// Judges `head` against `base` under `gate_config`: the absolute rules on head's own numbers
/// (metrics recomputed at the gate's confidence), then the comparison rules; the comparison and
/// the merged verdict are stored in `head`.
pub(crate) fn judge(head: &mut Results, base: &Results, gate_config: &GateConfig, source: &str) {
    // Everything the verdict rests on is recomputed from the calls, never trusted from the file.
    head.summary = aggregate::summarize(&head.results);
    head.metrics = aggregate::metrics(&head.results, gate_config.confidence);
    let absolute = gate::evaluate(gate_config, &head.summary, &head.metrics);
    let outcome = compare::compare(base, head, gate_config, source);
    let mut rules = absolute.rules;
    rules.extend(outcome.rules);
    head.verdict = gate::verdict_from_rules(rules);
    head.comparison = Some(outcome.comparison);
    head.run.gate = Some(gate_config.clone());
}
