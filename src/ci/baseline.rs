//! Finding the baseline the `baseline` input asks for. Each source is one function that finds a
//! baseline, misses (with a note for the reader, and the error to raise when that source was
//! asked for by name), or fails; `auto` tries the artifact, a committed file and a re-run of the
//! base ref in that order and says in the notes why each did not apply.

use std::path::{Path, PathBuf};

use super::inputs::{BaselineSource, Inputs};
use super::{Baseline, CiError, Context, Notes, absolute, short, write_file};
use crate::config::{GateOverride, Suite};
use crate::git;
use crate::github::{self, env::PullRequest};
use crate::pipeline::{RunError, RunOptions};
use crate::results::file;

/// The committed baseline that `baseline: git` reads at the base ref, next to the suite file.
pub const COMMITTED_BASELINE: &str = "evalgate-baseline.json";

/// What one source gave.
enum Attempt {
    Found(Box<Baseline>),
    /// This source has no baseline. `note` tells the reader why; `refusal` is the error when the
    /// source was asked for by name (none: no baseline, and no error either).
    Missed {
        note: String,
        refusal: Option<CiError>,
    },
    /// No source can give a baseline here (no repository, no base commit): stop looking.
    Stop(String),
}

impl Attempt {
    fn missed(note: impl Into<String>, refusal: CiError) -> Attempt {
        Attempt::Missed {
            note: note.into(),
            refusal: Some(refusal),
        }
    }
}

/// Finds the baseline `inputs.baseline` asks for; `None` when there is none, said in `notes`.
pub(super) fn resolve(
    ctx: &Context<'_>,
    inputs: &Inputs,
    suite: &Suite,
    options: &RunOptions,
    notes: &mut Notes,
) -> Result<Option<Baseline>, CiError> {
    let sources: &[BaselineSource] = match &inputs.baseline {
        BaselineSource::None => {
            notes.add("No baseline (`baseline: none`): only absolute thresholds were applied.");
            return Ok(None);
        }
        BaselineSource::File(path) => {
            let results = file::read_baseline(path, &suite.name, &suite.path)?;
            return Ok(Some(Baseline {
                results,
                source: path.display().to_string(),
            }));
        }
        BaselineSource::Auto => &[
            BaselineSource::Artifact,
            BaselineSource::Git,
            BaselineSource::Rerun,
        ],
        named => std::slice::from_ref(named),
    };
    let Some(pr) = &ctx.env.pull_request else {
        notes.add(
            "Not a pull request: no baseline. Upload this run's results file as the baseline of later pull requests.",
        );
        return Ok(None);
    };
    let named = inputs.baseline != BaselineSource::Auto;
    let mut checkout = None;
    for source in sources {
        let attempt = match source {
            BaselineSource::Artifact => from_artifact(ctx, inputs, suite, pr)?,
            BaselineSource::Git => match base_checkout(suite, pr, &mut checkout) {
                Ok(base) => from_commit(suite, pr, base)?,
                Err(stop) => stop,
            },
            BaselineSource::Rerun => match base_checkout(suite, pr, &mut checkout) {
                Ok(base) => rerun(ctx, suite, pr, base, options, notes),
                Err(stop) => stop,
            },
            BaselineSource::Auto | BaselineSource::None | BaselineSource::File(_) => continue,
        };
        // A signal stops the search too (it shows as a failed attempt: a stopped `git fetch`,
        // an interrupted re-run), and the run after it.
        super::stop_if_signalled()?;
        match attempt {
            Attempt::Found(baseline) => return Ok(Some(*baseline)),
            Attempt::Stop(note) => {
                notes.add(note);
                return Ok(None);
            }
            Attempt::Missed { note, refusal } => {
                notes.add(note);
                match refusal {
                    Some(err) if named => return Err(err),
                    None if named => return Ok(None),
                    _ => {}
                }
            }
        }
    }
    Ok(None)
}

/// The base branch's results artifact, from its latest successful push run.
fn from_artifact(
    ctx: &Context<'_>,
    inputs: &Inputs,
    suite: &Suite,
    pr: &PullRequest,
) -> Result<Attempt, CiError> {
    let env = ctx.env;
    let not_found = || CiError::Infra {
        message: format!(
            "`baseline: artifact` found no artifact `{}` from a successful push run on `{}`",
            inputs.artifact, pr.base_ref
        ),
        hint: Some(
            "run the workflow that uploads it on the base branch, or use `baseline: auto`".into(),
        ),
    };
    let Some(client) = ctx.client else {
        return Ok(Attempt::missed(
            "No token, so no baseline artifact was looked for.",
            CiError::Usage {
                message: "`baseline: artifact` needs a token".into(),
                hint: Some("set the `github_token` input".into()),
            },
        ));
    };
    let found = ctx.block_on(github::artifact::latest_baseline(
        client,
        &env.repository,
        &pr.base_ref,
        &inputs.artifact,
        "results.json",
    ))?;
    let found = match found {
        Ok(Some(found)) => found,
        Ok(None) => {
            return Ok(Attempt::missed(
                format!(
                    "No artifact `{}` from branch `{}` was found.",
                    inputs.artifact, pr.base_ref
                ),
                not_found(),
            ));
        }
        Err(e) => {
            return Ok(Attempt::missed(
                format!("The baseline artifact could not be fetched: {e}."),
                e.into(),
            ));
        }
    };
    let path = suite.state_dir.join("baseline.json");
    write_file(&path, &found.text)?;
    Ok(match file::read_baseline(&path, &suite.name, &suite.path) {
        Ok(results) => Attempt::Found(Box::new(Baseline {
            results,
            source: format!(
                "artifact `{}` of {}/{}/actions/runs/{}",
                inputs.artifact, env.server_url, env.repository, found.run_id
            ),
        })),
        Err(e) => Attempt::missed(format!("The baseline artifact was not used: {e}"), e.into()),
    })
}

/// Where the base ref's suite is: the repository, and the suite file's path inside it.
#[derive(Debug, Clone)]
pub(super) struct BaseCheckout {
    repo: PathBuf,
    relative: PathBuf,
}

/// The repository and the base commit, found once for the sources that need them.
fn base_checkout<'a>(
    suite: &Suite,
    pr: &PullRequest,
    found: &'a mut Option<BaseCheckout>,
) -> Result<&'a BaseCheckout, Attempt> {
    if found.is_none() {
        let repo = match git::toplevel(suite.dir_or_dot()) {
            Ok(Some(repo)) => repo,
            Ok(None) => {
                return Err(Attempt::Stop(
                    "The suite is not in a git repository: no committed or re-run baseline.".into(),
                ));
            }
            Err(e) => {
                return Err(Attempt::Stop(format!(
                    "git cannot read the suite's repository, so there is no committed or re-run baseline: {e}"
                )));
            }
        };
        if let Err(e) = have_commit(&repo, &pr.base_sha) {
            return Err(Attempt::Stop(format!(
                "The base commit {} is not in this checkout ({e}): check out with `fetch-depth: 0` for a committed or re-run baseline.",
                short(&pr.base_sha)
            )));
        }
        let Some(relative) = absolute(&suite.path)
            .strip_prefix(absolute(&repo))
            .ok()
            .map(Path::to_path_buf)
        else {
            return Err(Attempt::Stop(
                "The suite file is outside its git repository: no committed or re-run baseline."
                    .into(),
            ));
        };
        *found = Some(BaseCheckout { repo, relative });
    }
    found.as_ref().ok_or_else(|| Attempt::Stop(String::new()))
}

/// Makes sure the clone has `sha`, fetching it when it does not (a shallow checkout).
fn have_commit(repo: &Path, sha: &str) -> Result<(), git::GitError> {
    if git::has_commit(repo, sha)? {
        return Ok(());
    }
    git::fetch_commit(repo, sha)
}

/// `evalgate-baseline.json` committed next to the suite file at the base ref.
fn from_commit(suite: &Suite, pr: &PullRequest, base: &BaseCheckout) -> Result<Attempt, CiError> {
    let committed = base.relative.with_file_name(COMMITTED_BASELINE);
    let committed = committed.to_string_lossy().replace('\\', "/");
    let shown = match git::show(&base.repo, &pr.base_sha, &committed) {
        Ok(shown) => shown,
        Err(e) => {
            return Ok(Attempt::missed(
                format!("git cannot read `{committed}` at {}: {e}", pr.base_ref),
                CiError::Infra {
                    message: format!("`baseline: git` cannot read `{committed}`: {e}"),
                    hint: None,
                },
            ));
        }
    };
    let Some(text) = shown else {
        return Ok(Attempt::missed(
            format!("No committed baseline `{committed}` at {}.", pr.base_ref),
            CiError::Usage {
                message: format!(
                    "`baseline: git` found no `{committed}` at {} ({})",
                    pr.base_ref,
                    short(&pr.base_sha)
                ),
                hint: Some("commit a results file there, or use `baseline: auto`".into()),
            },
        ));
    };
    let path = suite.state_dir.join("baseline.json");
    write_file(&path, &text)?;
    let results = file::read_baseline(&path, &suite.name, &suite.path)?;
    Ok(Attempt::Found(Box::new(Baseline {
        results,
        source: format!("{committed} at {} ({})", pr.base_ref, short(&pr.base_sha)),
    })))
}

/// Runs the base ref's suite in a temporary work tree, sharing the head's cache and audit log.
/// In `auto`, a base branch that cannot be run (a key it needs and the head does not, a filter
/// that matches only new cases) means no baseline, said in the notes.
fn rerun(
    ctx: &Context<'_>,
    suite: &Suite,
    pr: &PullRequest,
    base: &BaseCheckout,
    options: &RunOptions,
    notes: &mut Notes,
) -> Attempt {
    match rerun_base(ctx, suite, pr, base, options, notes) {
        Ok(Some(baseline)) => Attempt::Found(Box::new(baseline)),
        Ok(None) => Attempt::Missed {
            note: String::new(),
            refusal: None,
        },
        Err(e) => Attempt::Missed {
            note: format!(
                "The base branch's suite could not be re-run, so there is no baseline: {e}"
            ),
            refusal: Some(e),
        },
    }
}

fn rerun_base(
    ctx: &Context<'_>,
    suite: &Suite,
    pr: &PullRequest,
    base: &BaseCheckout,
    options: &RunOptions,
    notes: &mut Notes,
) -> Result<Option<Baseline>, CiError> {
    let nonce = format!("{}-{:08x}", std::process::id(), fastrand::u32(..));
    let dir = std::env::temp_dir().join(format!("evalgate-base-{nonce}"));
    let tree = match git::Worktree::add(&base.repo, &dir, &pr.base_sha) {
        Ok(tree) => tree,
        Err(e) => {
            notes.add(format!("Could not check out the base commit: {e}"));
            return Ok(None);
        }
    };
    let base_path = tree.path.join(&base.relative);
    if !base_path.exists() {
        notes.add(format!(
            "The suite does not exist at {} ({}): every case is new.",
            pr.base_ref,
            short(&pr.base_sha)
        ));
        return Ok(None);
    }
    let base_suite = match crate::config::load(&base_path) {
        Ok(s) => s,
        Err(e) => {
            notes.add(format!(
                "The base branch's suite does not load, so there is no baseline: {}",
                e.to_string().lines().next().unwrap_or_default()
            ));
            return Ok(None);
        }
    };
    if base_suite.name != suite.name {
        notes.add("The suite was renamed: no baseline.");
        return Ok(None);
    }
    let base_options = RunOptions {
        cache_dir: Some(absolute(&suite.cache_dir)),
        audit_path: Some(absolute(&suite.audit.path)),
        ..options.clone()
    };
    tracing::info!(
        "re-running the suite at {} to get a baseline",
        short(&pr.base_sha)
    );
    let executed = crate::pipeline::run_suite(
        base_suite,
        &base_options,
        None,
        &mut *ctx.on_event.borrow_mut(),
    )?;
    if let Some(failure) = executed.journal_failure {
        return Err(RunError::from(failure).into());
    }
    if let Some(reached) = executed.spend_cap {
        return Err(RunError::SpendCap {
            reached,
            journal: executed.journal_path,
        }
        .into());
    }
    let mut results = executed.results;
    executed.suite.redactor.apply(&mut results);
    let record = suite.state_dir.join("baseline.json");
    file::write(&record, &results)?;
    drop(tree);
    Ok(Some(Baseline {
        results,
        source: format!("re-run of {} ({})", pr.base_ref, short(&pr.base_sha)),
    }))
}

/// The `[gate.override]` of the suite as the base branch has it, read with `git show`: a pull
/// request must not be able to add its own author to `allowed`.
pub(super) fn base_override(
    suite: &Suite,
    pr: &PullRequest,
    notes: &mut Notes,
) -> Option<GateOverride> {
    suite.gate_override.as_ref()?;
    let unreadable = |notes: &mut Notes, e: git::GitError| {
        notes.add(format!(
            "`[gate.override]` is read from the base branch, which git cannot read ({e}): no override."
        ));
    };
    let repo = match git::toplevel(suite.dir_or_dot()) {
        Ok(repo) => repo?,
        Err(e) => {
            unreadable(notes, e);
            return None;
        }
    };
    let relative = absolute(&suite.path)
        .strip_prefix(absolute(&repo))
        .ok()?
        .to_string_lossy()
        .replace('\\', "/");
    if let Err(e) = have_commit(&repo, &pr.base_sha) {
        notes.add(format!("`[gate.override]` is read from the base branch, whose commit is not in this checkout ({e}; `fetch-depth: 0` fetches it): no override."));
        return None;
    }
    let text = match git::show(&repo, &pr.base_sha, &relative) {
        Ok(text) => text?,
        Err(e) => {
            unreadable(notes, e);
            return None;
        }
    };
    let table: toml::Table = toml::from_str(&text).ok()?;
    let rule = table.get("gate")?.get("override")?;
    let found = GateOverride {
        label: rule.get("label")?.as_str()?.to_owned(),
        allowed: rule
            .get("allowed")?
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
    };
    if found.allowed.is_empty() {
        return None;
    }
    Some(found)
}
