//! `evalgate ci`: the Action's flow ([`crate::ci`]) with its inputs from flags or `INPUT_*`.

use std::io::Write;
use std::path::PathBuf;

use super::{CliError, Outcome};
use crate::ci::{self, CiOutcome, inputs::Inputs, inputs::Requested};

/// Flags win over the Action's `INPUT_*` variables, which win over the defaults.
#[derive(Debug, clap::Args)]
pub struct CiArgs {
    /// The suite file, relative to the working directory [env: INPUT_CONFIG] [default: evalgate.toml]
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the baseline comes from: auto, none, rerun, artifact, git, or a results file
    /// [env: INPUT_BASELINE] [default: auto]
    #[arg(long, value_name = "SOURCE")]
    baseline: Option<String>,
    /// The pull request comment: update, new or off [env: INPUT_COMMENT] [default: update]
    #[arg(long, value_name = "MODE")]
    comment: Option<String>,
    /// Name of the artifact holding the base branch's results [env: INPUT_RESULTS_ARTIFACT]
    /// [default: evalgate-results]
    #[arg(long, value_name = "NAME")]
    results_artifact: Option<String>,
    /// Folder to run in [env: INPUT_WORKING_DIRECTORY] [default: .]
    #[arg(long, value_name = "DIR")]
    working_directory: Option<PathBuf>,
    /// When to fail: regression, threshold or never [env: INPUT_FAIL_ON] [default: regression]
    #[arg(long, value_name = "WHEN")]
    fail_on: Option<String>,
    /// Extra `run` options: --filter, --repeats, --concurrency, --offline, --cache, --state-dir
    /// [env: INPUT_ARGS]
    #[arg(long = "run-args", value_name = "ARGS", allow_hyphen_values = true)]
    run_args: Option<String>,
}

pub fn ci(args: CiArgs, color: bool, stdout: &mut dyn Write) -> Result<Outcome, CliError> {
    let env = crate::github::env::from_process().map_err(|e| {
        CliError::usage(
            e.to_string(),
            Some("run `evalgate ci` inside GitHub Actions, or set GITHUB_EVENT_PATH"),
        )
    })?;
    let requested = Requested {
        config: args.config,
        baseline: args.baseline,
        comment: args.comment,
        results_artifact: args.results_artifact,
        working_directory: args.working_directory,
        fail_on: args.fail_on,
        run_args: args.run_args,
    };
    let inputs = Inputs::resolve(requested, |name| std::env::var(name).ok())?;
    let mut progress = super::progress::Progress::new(super::run::progress_mode(true));
    Ok(
        match ci::run(&env, &inputs, &mut |e| progress.on_event(e), color, stdout)? {
            CiOutcome::Neutral => Outcome::Done,
            CiOutcome::Judged { step, .. } => Outcome::Verdict(step),
        },
    )
}
