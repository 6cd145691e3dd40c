//! `evalgate validate`: load the suite and report every problem, calling no model.

use std::io::Write;

use super::{CliError, ConfigArg, Outcome};
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
    let _ = writeln!(
        stdout,
        "{}: suite `{}` is valid: {} models, {} prompts, {} cases, {} cells, {} calls per run",
        one_line(&suite.path.display().to_string(), 300),
        one_line(&suite.name, 200),
        suite.models.len(),
        suite.prompts.len(),
        cases,
        plan.cells.len(),
        plan.calls()
    );
    Ok(Outcome::Done)
}
