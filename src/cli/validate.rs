//! `evalgate validate`: load the suite and report every problem, calling no model.

use std::io::Write;

use super::{CliError, ConfigArg, Outcome};
use crate::support::fmt::count_of;
use crate::support::text::one_line;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    config: ConfigArg,
}

pub fn validate(args: ValidateArgs, stdout: &mut dyn Write) -> Result<Outcome, CliError> {
    let suite = crate::config::load(&args.config.config)?;
    let cases: usize = suite.datasets.iter().map(|d| d.cases.len()).sum();
    let plan = crate::plan::plan(&suite, suite.defaults.repeats, &[]);
    // A model no cell calls but a check does is a grader, declared `grader_only` or not.
    let called_by_checks = suite.models_called_by_checks();
    let graders = (0..suite.models.len())
        .filter(|&m| called_by_checks[m] && !plan.cells.iter().any(|c| c.model == m))
        .count();
    let models = count_of(suite.models.len() as u64, "model", "models");
    let models = if graders > 0 {
        format!("{models} ({graders} only grading)")
    } else {
        models
    };
    let grading = grading_calls(&suite, &plan);
    let grading = if grading > 0 {
        format!(
            " (checks that call a model add at least {})",
            count_of(grading, "grading call", "grading calls")
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        stdout,
        "{}: suite `{}` is valid: {models}, {}, {}, {}, {} per run{grading}",
        one_line(&suite.path.display().to_string(), 300),
        one_line(&suite.name, 200),
        count_of(suite.prompts.len() as u64, "prompt", "prompts"),
        count_of(cases as u64, "case", "cases"),
        count_of(plan.cells.len() as u64, "cell", "cells"),
        count_of(plan.calls() as u64, "model call", "model calls"),
    );
    if !suite.gate.can_fail() {
        let _ = writeln!(
            stdout,
            "warning: {}",
            crate::results::gate::NO_RULE_CAN_FAIL
        );
    }
    Ok(Outcome::Done)
}

/// The calls the checks make per run with nothing cached: one per answer for each check that
/// calls a model (`llm-judge`, `similar`) and applies to the answer's case (suite checks to
/// every case, a dataset's to its cases, a case's own to it).
fn grading_calls(suite: &crate::config::Suite, plan: &crate::plan::Plan) -> u64 {
    let calling = |checks: &[crate::check::Check]| -> u64 {
        checks.iter().filter(|c| !c.models().is_empty()).count() as u64
    };
    let everywhere = calling(&suite.checks);
    let per_answer: u64 = plan
        .cells
        .iter()
        .flat_map(|cell| &cell.cases)
        .map(|&(d, c)| {
            let dataset = &suite.datasets[d];
            everywhere + calling(&dataset.checks) + calling(&dataset.cases[c].checks)
        })
        .sum();
    per_answer * u64::from(plan.repeats)
}
