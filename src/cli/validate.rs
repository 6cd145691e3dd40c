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
    let graders = suite.models.iter().filter(|m| m.grader_only).count();
    let models = count_of(suite.models.len() as u64, "model", "models");
    let models = if graders > 0 {
        format!("{models} ({graders} only grading)")
    } else {
        models
    };
    let _ = writeln!(
        stdout,
        "{}: suite `{}` is valid: {models}, {}, {}, {}, {} per run",
        one_line(&suite.path.display().to_string(), 300),
        one_line(&suite.name, 200),
        count_of(suite.prompts.len() as u64, "prompt", "prompts"),
        count_of(cases as u64, "case", "cases"),
        count_of(plan.cells.len() as u64, "cell", "cells"),
        count_of(plan.calls() as u64, "call", "calls"),
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
