//! `evalgate ci` as library code: what the GitHub Action runs. Finds a baseline, runs the suite
//! reusing the cells that did not change, compares, applies an audited override, writes the
//! results and reports, publishes the job summary, outputs, annotations and the sticky comment,
//! and says which status the step ends with.
//!
//! GitHub's API, payloads and workflow files are handled by [`crate::github`]; this module only
//! sequences them around the run. Everything it prints goes to the writer it is handed.

pub mod baseline;
pub mod inputs;
mod ownership;
mod publish;

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::ConfigErrors;
use crate::execute::{CacheMode, ExecEvent};
use crate::github::{self, comment, env::ActionsEnv};
use crate::pipeline::{Executed, RunError, RunOptions};
use crate::report::markdown::{self, MarkdownOptions};
use crate::results::file::{self, ResultsFileError};
use crate::results::{Acceptance, Results, RuleScope, Status, Verdict};
use crate::support::signals::{self, Signal};
use inputs::{FailOn, Inputs};

/// Why `evalgate ci` could not finish. The pull request's comment and the job summary say so.
#[derive(Debug, thiserror::Error)]
pub enum CiError {
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    #[error(transparent)]
    Results(#[from] ResultsFileError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    GitHub(#[from] github::GitHubError),
    /// An input or the environment is not usable as given.
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// A file that could not be written.
    #[error("{message}")]
    Infra {
        message: String,
        hint: Option<String>,
    },
    /// Stopped by SIGINT or SIGTERM (a cancelled job, `docker stop`) outside the suite's run,
    /// which says so itself ([`RunError::Interrupted`]).
    #[error("{}", match .0 {
        Signal::Interrupt => "interrupted",
        Signal::Terminate => "terminated by SIGTERM",
    })]
    Interrupted(Signal),
}

impl From<crate::report::ReportError> for CiError {
    fn from(e: crate::report::ReportError) -> Self {
        match e {
            crate::report::ReportError::Read(e) => CiError::Results(e),
            crate::report::ReportError::Write(e) => CiError::Infra {
                message: format!("cannot write a report: {e}"),
                hint: None,
            },
        }
    }
}

impl CiError {
    pub fn hint(&self) -> Option<String> {
        match self {
            CiError::Config(_) => None,
            CiError::Results(e) => e.hint().map(str::to_owned),
            // In CI, a stopped job is run again; the journal's resume hint is for a terminal.
            CiError::Run(RunError::Interrupted { signal, .. }) => {
                CiError::Interrupted(*signal).hint()
            }
            CiError::Run(e) => e.hint(),
            CiError::GitHub(e) => e.hint(),
            CiError::Usage { hint, .. } | CiError::Infra { hint, .. } => hint.clone(),
            CiError::Interrupted(_) => Some(
                "the job was cancelled or the container stopped before the gate could judge the change; run the job again".into(),
            ),
        }
    }
}

/// Ends the flow once SIGINT or SIGTERM has been received.
pub(crate) fn stop_if_signalled() -> Result<(), CiError> {
    signals::received().map_or(Ok(()), |signal| Err(CiError::Interrupted(signal)))
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CiOutcome {
    /// A fork's (or Dependabot's) pull request: no secrets, nothing judged.
    Neutral,
    /// The suite was judged. `step` is the status the step ends with under `fail_on` and an
    /// accepted override; `verdict` is the gate's own.
    Judged { verdict: Verdict, step: Status },
}

/// What every stage of the flow shares.
pub(crate) struct Context<'a> {
    env: &'a ActionsEnv,
    runtime: &'a tokio::runtime::Runtime,
    client: Option<&'a github::Client>,
    /// Hears of the progress of every run: the head's, and a re-run of the base branch.
    on_event: RefCell<&'a mut dyn FnMut(ExecEvent)>,
}

impl Context<'_> {
    /// Runs a call to GitHub's API, unless a signal ends the flow first.
    fn block_on<F: std::future::Future>(&self, call: F) -> Result<F::Output, CiError> {
        self.runtime.block_on(async {
            tokio::select! {
                out = call => Ok(out),
                signal = signals::stopped() => Err(CiError::Interrupted(signal)),
            }
        })
    }
}

/// A baseline and where it came from.
#[derive(Debug)]
pub(crate) struct Baseline {
    results: Results,
    source: String,
}

/// What the run tells the reader besides the report: where the baseline came from, why there is
/// none, what failed to publish.
#[derive(Debug, Default)]
pub(crate) struct Notes(Vec<String>);

impl Notes {
    /// Adds a note (an empty one is nothing to say, and is dropped).
    fn add(&mut self, note: impl Into<String>) {
        let note = note.into();
        if note.is_empty() {
            return;
        }
        tracing::info!("{note}");
        self.0.push(note);
    }

    fn markdown(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let mut text = String::from("\n<details><summary>evalgate notes</summary>\n\n");
        for note in &self.0 {
            text.push_str(&format!("- {}\n", markdown::inline(note)));
        }
        text.push_str("\n</details>\n");
        text
    }
}

/// Runs the Action's flow in `env` with `inputs`; the terminal summary, annotations and what was
/// published go to `out`. When the run cannot finish, the comment and job summary are replaced
/// by the error before it is returned.
pub fn run(
    env: &ActionsEnv,
    inputs: &Inputs,
    on_event: &mut dyn FnMut(ExecEvent),
    color: bool,
    out: &mut dyn Write,
) -> Result<CiOutcome, CiError> {
    // From here on SIGINT and SIGTERM are recorded, whatever the flow is doing, and end it at the
    // next step with the error published (a cancelled job must not leave an old verdict).
    signals::watch();
    let mode = inputs.cache_mode();
    // A fork's pull request, and Dependabot's, run with a read-only token and no secrets.
    if let Some(pr) = &env.pull_request
        && (pr.from_fork || env.actor.as_deref() == Some("dependabot[bot]"))
        && mode != CacheMode::Offline
    {
        publish::neutral_for_fork(env, out)?;
        return Ok(CiOutcome::Neutral);
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CiError::Infra {
            message: format!("cannot start the async runtime: {e}"),
            hint: None,
        })?;
    // octocrab spawns its service worker on the runtime it is built in.
    let client = match &inputs.token {
        Some(token) => {
            let _entered = runtime.enter();
            Some(github::Client::new(&env.api_url, token)?)
        }
        None => None,
    };
    let ctx = Context {
        env,
        runtime: &runtime,
        client: client.as_ref(),
        on_event: RefCell::new(on_event),
    };
    let judged = judge_change(&ctx, inputs, color, out);
    if let Err(err) = &judged {
        publish::report_failure(&ctx, inputs, err, out);
    }
    give_back_workspace(env);
    judged
}

/// Gives what the flow created in the workspace to the workspace's owner (see [`ownership`]).
fn give_back_workspace(env: &ActionsEnv) {
    let Some(workspace) = &env.workspace else {
        return;
    };
    let given = ownership::give_back(workspace);
    if given.changed > 0 {
        tracing::info!(
            "gave {} file(s) evalgate created in {} to the workspace's owner",
            given.changed,
            workspace.display()
        );
    }
    if let Some(failed) = given.failed {
        tracing::warn!(
            "cannot give a file evalgate created to the workspace's owner ({failed}): the runner's user may not be able to remove it"
        );
    }
}

/// Everything after the setup: baseline, run, comparison, override, reports, publishing.
fn judge_change(
    ctx: &Context<'_>,
    inputs: &Inputs,
    color: bool,
    out: &mut dyn Write,
) -> Result<CiOutcome, CiError> {
    let mut notes = Notes::default();
    let mut suite = crate::config::load(&inputs.config)?;
    if let Some(dir) = &inputs.state_dir {
        suite.set_state_dir(dir.clone());
    }
    crate::privacy::redact::set_log_redactor(suite.redactor.clone());
    let state_dir = suite.state_dir.clone();
    let options = RunOptions {
        concurrency: inputs.extra.concurrency,
        repeats: inputs.extra.repeats,
        filters: inputs.extra.filters.clone(),
        batch: inputs.extra.batch,
        batch_wait: inputs.extra.batch_wait,
        ..RunOptions::new(inputs.cache_mode())
    };

    let baseline = baseline::resolve(ctx, inputs, &suite, &options, &mut notes)?;
    let gate = suite.gate.clone();
    let override_rule = match &ctx.env.pull_request {
        Some(pr) => baseline::base_override(&suite, pr, &mut notes),
        None => None,
    };
    stop_if_signalled()?;
    let Executed {
        suite,
        mut results,
        journal_path,
        journal_failure,
        spend_cap,
        batch_pending,
        ..
    } = crate::pipeline::run_suite(
        suite,
        &options,
        baseline.as_ref().map(|b| &b.results),
        &mut *ctx.on_event.borrow_mut(),
    )?;
    // A run that stopped calling models is no verdict: the comment and summary say why.
    if let Some(failure) = journal_failure {
        return Err(RunError::from(failure).into());
    }
    if let Some(reached) = spend_cap {
        return Err(RunError::SpendCap {
            reached,
            journal: journal_path,
        }
        .into());
    }
    if let Some(pending) = batch_pending {
        return Err(RunError::BatchPending {
            pending,
            journal: journal_path,
        }
        .into());
    }
    note_reused(&results, &mut notes);
    if let Some(base) = &baseline {
        // The run's summary and metrics were computed from its calls under this gate.
        crate::gate::judge_with_baseline(&mut results, &base.results, &gate, &base.source)?;
    }

    if results.verdict.status == Status::Fail
        && let (Some(rule), Some(pr), Some(client)) =
            (&override_rule, &ctx.env.pull_request, ctx.client)
    {
        // The event history, not the payload's label list: a re-run replays the original
        // payload, and the history also says who applied the label and whether it was removed.
        let labeled = ctx.block_on(github::label::last_labeled(
            client,
            &ctx.env.repository,
            pr.number,
            &rule.label,
        ))?;
        match labeled {
            Ok(Some(by)) if rule.allowed.iter().any(|a| a.eq_ignore_ascii_case(&by.actor)) => {
                results.verdict.accepted = Some(Acceptance {
                    by: by.actor,
                    label: rule.label.clone(),
                    at: by.at,
                });
            }
            Ok(Some(by)) => notes.add(format!(
                "The label `{}` was applied by {}, who is not in `[gate.override] allowed`: the failure stands.",
                rule.label, by.actor
            )),
            Ok(None) => {}
            Err(e) => notes.add(format!(
                "Could not check who applied `{}`: {e}. The failure stands.",
                rule.label
            )),
        }
    }

    // A cancelled job reports the cancellation, not a verdict that might be read as its result.
    stop_if_signalled()?;
    // Grading and the comparison saw the raw text; everything written or shown is redacted.
    suite.redactor.apply(&mut results);
    let results_path = state_dir.join("results.json");
    file::write(&results_path, &results)?;
    let _ = std::fs::remove_file(&journal_path);
    let junit_path = state_dir.join("junit.xml");
    let markdown_path = state_dir.join("report.md");
    let notes_md = notes.markdown();
    let report = markdown::render(
        &results,
        &MarkdownOptions {
            // GitHub's comment limit is 65,536; the notes take the rest.
            max_chars: 65_000usize.saturating_sub(notes_md.chars().count()),
            run_url: ctx.env.run_url(),
            marker: Some(comment::marker_text(&suite.name)),
            accept_label: override_rule.as_ref().map(|rule| rule.label.clone()),
        },
    );
    let report = report?;
    let body = format!("{report}{notes_md}");
    crate::report::junit::write_file(&junit_path, &results).map_err(|e| match e {
        crate::report::ReportError::Write(e) => CiError::Infra {
            message: format!("cannot write {}: {e}", junit_path.display()),
            hint: None,
        },
        e => e.into(),
    })?;
    write_file(&markdown_path, &body)?;

    let mut summary = String::new();
    let opts = crate::report::terminal::TerminalOptions {
        color,
        ..Default::default()
    };
    let _ = crate::report::terminal::write_summary(&mut summary, &results, &opts);
    let _ = write!(out, "{summary}");
    for line in publish::annotation_lines(&results) {
        let _ = writeln!(out, "{line}");
    }
    publish::comment(ctx, inputs, &comment::marker(&suite.name), &body, out);
    publish::append_summary(ctx.env, &body)?;
    let verdict = match (&results.verdict.accepted, results.verdict.status) {
        (Some(_), Status::Fail) => "accepted",
        (_, status) => status.as_str(),
    };
    publish::set_outputs(
        ctx.env,
        &[
            ("verdict", verdict.to_owned()),
            ("pass_rate", format!("{}", results.summary.pass_rate)),
            ("results_path", results_path.display().to_string()),
            ("junit_path", junit_path.display().to_string()),
            ("markdown_path", markdown_path.display().to_string()),
            ("cost_usd", format!("{}", results.summary.cost_usd)),
        ],
    )?;
    let _ = writeln!(out, "results: {}", results_path.display());
    let step = step_status(&results.verdict, inputs.fail_on);
    Ok(CiOutcome::Judged {
        verdict: results.verdict,
        step,
    })
}

/// Says which cells were taken from the baseline instead of run.
fn note_reused(results: &Results, notes: &mut Notes) {
    let reused: Vec<&str> = results
        .cells
        .iter()
        .filter(|c| c.reused)
        .map(|c| c.id.as_str())
        .collect();
    if !reused.is_empty() && reused.len() == results.cells.len() {
        notes.add(
            "Nothing the suite depends on changed since the baseline: every cell was reused from it and no model was called.",
        );
    } else if !reused.is_empty() {
        notes.add(format!(
            "Reused from the baseline, unchanged: {} (same fingerprint: prompt, model settings, checks and cases).",
            reused.join(", ")
        ));
    }
}

/// The status the step ends with under `fail_on`. An infrastructure error is never a pass,
/// whatever `fail_on` says; an accepted override passes.
pub fn step_status(verdict: &Verdict, fail_on: FailOn) -> Status {
    match verdict.status {
        Status::Error => Status::Error,
        Status::Pass => Status::Pass,
        Status::Fail if verdict.accepted.is_some() => Status::Pass,
        Status::Fail => match fail_on {
            FailOn::Regression => Status::Fail,
            FailOn::Never => Status::Pass,
            FailOn::Threshold => {
                let absolute_failed = verdict
                    .rules
                    .iter()
                    .any(|r| r.status == Status::Fail && r.scope == RuleScope::Absolute);
                if absolute_failed {
                    Status::Fail
                } else {
                    Status::Pass
                }
            }
        },
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), CiError> {
    crate::support::fs::write_text_atomic(path, text).map_err(|e| CiError::Infra {
        message: format!("cannot write {}: {e}", path.display()),
        hint: None,
    })
}

/// The path with symlinks resolved where it exists, so a suite path and the repository root
/// compare alike.
fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_owned())
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::RuleOutcome;

    fn verdict(rules: &[(&str, RuleScope, Status)]) -> Verdict {
        crate::gate::verdict_from_rules(
            rules
                .iter()
                .map(|(rule, scope, status)| RuleOutcome {
                    rule: (*rule).to_owned(),
                    scope: *scope,
                    status: *status,
                    actual: 0.0,
                    threshold: 0.0,
                    message: format!("{rule} {status:?}"),
                })
                .collect(),
        )
    }

    #[test]
    fn fail_on_decides_which_failures_fail_the_step() {
        let drop = verdict(&[
            ("min_pass_rate", RuleScope::Absolute, Status::Pass),
            (
                "metrics.accuracy.max_drop",
                RuleScope::Baseline,
                Status::Fail,
            ),
        ]);
        let floor = verdict(&[("metrics.accuracy.min", RuleScope::Absolute, Status::Fail)]);
        let outage = verdict(&[("max_error_rate", RuleScope::Absolute, Status::Error)]);
        assert_eq!(step_status(&drop, FailOn::Regression), Status::Fail);
        assert_eq!(step_status(&drop, FailOn::Threshold), Status::Pass);
        assert_eq!(step_status(&floor, FailOn::Threshold), Status::Fail);
        assert_eq!(step_status(&floor, FailOn::Never), Status::Pass);
        // An outage is never a pass, whatever fail_on says.
        assert_eq!(step_status(&outage, FailOn::Never), Status::Error);
        let mut accepted = drop.clone();
        accepted.accepted = Some(Acceptance {
            by: "release-manager".into(),
            label: "evalgate: accept-regression".into(),
            at: "2026-11-24T10:00:00Z".into(),
        });
        assert_eq!(step_status(&accepted, FailOn::Regression), Status::Pass);
    }

    #[test]
    fn empty_notes_are_dropped_and_notes_are_inert_markdown() {
        let mut notes = Notes::default();
        assert_eq!(notes.markdown(), "");
        notes.add("");
        assert_eq!(notes.markdown(), "");
        notes.add("ping @octocat");
        let md = notes.markdown();
        assert!(
            md.contains("<details><summary>evalgate notes</summary>"),
            "{md}"
        );
        assert!(!md.contains("@octocat"), "{md}");
    }
}
