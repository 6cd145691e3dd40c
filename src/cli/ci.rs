//! `evalgate ci`: what the GitHub Action runs. Reads its inputs (`INPUT_*`, or flags), finds a
//! baseline, runs the suite reusing the cells that did not change, compares, applies an audited
//! override, writes the results and reports, publishes the job summary, outputs, annotations and
//! the sticky comment, and exits with the gate's code.
//!
//! GitHub's API, payloads and workflow files are handled by [`crate::github`]; this module only
//! sequences them around the run.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::ValueEnum;

use super::run::{CacheArg, Executed, RunOptions, execute_suite, write_results};
use super::{CliError, compare};
use crate::config::{DEFAULT_CONFIG, Suite};
use crate::execute::CacheMode;
use crate::github::{self, comment, env::ActionsEnv, workflow};
use crate::privacy::secrets::Secret;
use crate::report::markdown::{self, MarkdownOptions};
use crate::results::{Acceptance, CaseChange, Results, Status, Verdict};
use crate::{exit_codes, git};

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
    /// Extra `run` options: --filter, --repeats, --concurrency, --offline, --cache [env: INPUT_ARGS]
    #[arg(long = "run-args", value_name = "ARGS", allow_hyphen_values = true)]
    run_args: Option<String>,
}

/// The committed baseline that `baseline: git` reads at the base ref, next to the suite file.
pub const COMMITTED_BASELINE: &str = "evalgate-baseline.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CommentMode {
    Update,
    New,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    /// Any failed rule: a regression against the baseline or a breached threshold.
    Regression,
    /// Only absolute thresholds; drops against the baseline are reported, not failed.
    Threshold,
    /// Report only. Infrastructure and configuration errors still fail.
    Never,
}

/// The `run` options the Action's `args` input may carry.
#[derive(Debug, clap::Parser)]
#[command(no_binary_name = true, name = "args")]
struct ExtraArgs {
    #[arg(long = "filter", value_name = "PATTERN")]
    filters: Vec<String>,
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeats: Option<u32>,
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    concurrency: Option<u32>,
    #[arg(long, conflicts_with = "cache")]
    offline: bool,
    #[arg(long, value_enum)]
    cache: Option<CacheArg>,
}

/// The inputs, resolved.
#[derive(Debug)]
struct Inputs {
    /// The working directory: the suite file and a baseline path are relative to it.
    dir: PathBuf,
    config: PathBuf,
    baseline: String,
    comment: CommentMode,
    artifact: String,
    fail_on: FailOn,
    extra: ExtraArgs,
    token: Option<Secret>,
}

/// An input: the flag, else the non-empty `INPUT_NAME` variable.
fn input(flag: Option<String>, name: &str) -> Option<String> {
    flag.or_else(|| std::env::var(format!("INPUT_{name}")).ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn choice<T: ValueEnum>(value: Option<String>, name: &str, default: T) -> Result<T, CliError> {
    match value {
        None => Ok(default),
        Some(v) => T::from_str(&v, true).map_err(|_| CliError::Usage {
            message: format!("input `{name}` is `{v}`, which is not one of its values"),
            hint: Some(format!(
                "use one of: {}",
                T::value_variants()
                    .iter()
                    .filter_map(|v| v.to_possible_value())
                    .map(|p| p.get_name().to_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }),
    }
}

impl Inputs {
    fn resolve(args: CiArgs) -> Result<Inputs, CliError> {
        let dir = input(
            args.working_directory.map(|p| p.display().to_string()),
            "WORKING_DIRECTORY",
        )
        .unwrap_or_else(|| ".".to_owned());
        let config = input(args.config.map(|p| p.display().to_string()), "CONFIG")
            .unwrap_or_else(|| DEFAULT_CONFIG.to_owned());
        let raw_args = input(args.run_args, "ARGS").unwrap_or_default();
        let words = split_words(&raw_args).map_err(|message| CliError::Usage {
            message: format!("input `args`: {message}"),
            hint: None,
        })?;
        let extra = <ExtraArgs as clap::Parser>::try_parse_from(&words).map_err(|e| {
            CliError::Usage {
                message: format!(
                    "input `args` (`{raw_args}`): {}",
                    e.render().to_string().lines().next().unwrap_or_default()
                ),
                hint: Some(
                    "`args` takes run options: --filter, --repeats, --concurrency, --offline, --cache"
                        .into(),
                ),
            }
        })?;
        let token = input(None, "GITHUB_TOKEN")
            .or_else(|| std::env::var("GITHUB_TOKEN").ok().filter(|t| !t.is_empty()))
            .map(Secret::new);
        Ok(Inputs {
            config: Path::new(&dir).join(config),
            dir: PathBuf::from(&dir),
            baseline: input(args.baseline, "BASELINE").unwrap_or_else(|| "auto".into()),
            comment: choice(
                input(args.comment, "COMMENT"),
                "comment",
                CommentMode::Update,
            )?,
            artifact: input(args.results_artifact, "RESULTS_ARTIFACT")
                .unwrap_or_else(|| "evalgate-results".into()),
            fail_on: choice(
                input(args.fail_on, "FAIL_ON"),
                "fail_on",
                FailOn::Regression,
            )?,
            extra,
            token,
        })
    }

    fn cache_mode(&self) -> CacheMode {
        match (self.extra.offline, self.extra.cache) {
            (true, _) => CacheMode::Offline,
            (false, None | Some(CacheArg::Rw)) => CacheMode::ReadWrite,
            (false, Some(CacheArg::Refresh)) => CacheMode::Refresh,
            (false, Some(CacheArg::Off)) => CacheMode::Off,
        }
    }
}

/// Splits the `args` input like a shell would for plain words and '...' / "..." quoting.
fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".into());
    }
    words.extend(word);
    Ok(words)
}

/// A baseline and where it came from.
#[derive(Debug)]
struct Baseline {
    results: Results,
    source: String,
}

/// What the run tells the reader besides the report: where the baseline came from, why there is
/// none, what failed to publish.
#[derive(Debug, Default)]
struct Notes(Vec<String>);

impl Notes {
    fn add(&mut self, note: impl Into<String>) {
        let note = note.into();
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

pub fn ci(args: CiArgs, color: bool, stdout: &mut dyn Write) -> Result<u8, CliError> {
    let env = github::env::from_process().map_err(|e| CliError::Usage {
        message: e.to_string(),
        hint: Some("run `evalgate ci` inside GitHub Actions, or set GITHUB_EVENT_PATH".into()),
    })?;
    let inputs = Inputs::resolve(args)?;
    let mode = inputs.cache_mode();
    let notes = Notes::default();

    // A fork's pull request, and Dependabot's, run with a read-only token and no secrets.
    if let Some(pr) = &env.pull_request
        && (pr.from_fork || env.actor.as_deref() == Some("dependabot[bot]"))
        && mode != CacheMode::Offline
    {
        return neutral_for_fork(&env, stdout);
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Infra {
            message: format!("cannot start the async runtime: {e}"),
            hint: None,
        })?;
    // octocrab spawns its service worker on the runtime it is built in.
    let client = match &inputs.token {
        Some(token) => {
            let _entered = runtime.enter();
            Some(github::Client::new(&env.api_url, token).map_err(github_infra)?)
        }
        None => None,
    };
    let judged = judge_change(
        &env,
        &inputs,
        &runtime,
        client.as_ref(),
        notes,
        color,
        stdout,
    );
    if let Err(err) = &judged {
        report_failure(&env, &inputs, &runtime, client.as_ref(), err, stdout);
    }
    judged
}

/// Everything after the setup: baseline, run, comparison, override, reports, publishing.
fn judge_change(
    env: &ActionsEnv,
    inputs: &Inputs,
    runtime: &tokio::runtime::Runtime,
    client: Option<&github::Client>,
    mut notes: Notes,
    color: bool,
    stdout: &mut dyn Write,
) -> Result<u8, CliError> {
    let mode = inputs.cache_mode();
    let suite = crate::config::load(&inputs.config)?;
    crate::privacy::redact::set_log_redactor(suite.redactor.clone());
    let state_dir = suite.dir.join(".evalgate");
    let options = RunOptions {
        concurrency: inputs.extra.concurrency,
        repeats: inputs.extra.repeats,
        filters: inputs.extra.filters.clone(),
        mode,
        progress: true,
        cache_dir: None,
        audit_path: None,
        shard: None,
    };

    let baseline = resolve_baseline(runtime, env, inputs, client, &suite, &options, &mut notes)?;

    let gate = suite.gate.clone();
    // Who may accept a regression is decided by the base branch: a pull request must not be able
    // to add its own author to `allowed`.
    let override_rule = match &env.pull_request {
        Some(pr) => base_override(&suite, pr, &mut notes),
        None => None,
    };
    let Executed {
        suite,
        mut results,
        journal_path,
        ..
    } = execute_suite(suite, &options, baseline.as_ref().map(|b| &b.results))?;
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
    if let Some(base) = &baseline {
        compare::judge(&mut results, &base.results, &gate, &base.source);
    }

    if results.verdict.status == Status::Fail
        && let (Some(rule), Some(pr), Some(client)) =
            (&override_rule, &env.pull_request, client.as_ref())
    {
        // The event history, not the payload's label list: a re-run replays the original
        // payload, and the history also says who applied the label and whether it was removed.
        let labeled = runtime.block_on(github::label::last_labeled(
            client,
            &env.repository,
            pr.number,
            &rule.label,
        ));
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

    // Grading and the comparison saw the raw text; everything written or shown is redacted.
    suite.redactor.apply(&mut results);
    let results_path = state_dir.join("results.json");
    write_results(&results_path, &results)?;
    let _ = std::fs::remove_file(&journal_path);
    let junit_path = state_dir.join("junit.xml");
    let markdown_path = state_dir.join("report.md");
    let marker = comment::marker(&suite.name);
    let notes_md = notes.markdown();
    let report = markdown::render(
        &results,
        &MarkdownOptions {
            // GitHub's comment limit is 65,536; the notes take the rest.
            max_chars: 65_000usize.saturating_sub(notes_md.chars().count()),
            run_url: env.run_url(),
            marker: Some(comment::marker_text(&suite.name)),
        },
    );
    let body = format!("{report}{notes_md}");
    write_file(&junit_path, &crate::report::junit::render(&results))?;
    write_file(&markdown_path, &body)?;

    super::print_summary(stdout, &results, color);
    for line in annotation_lines(&results) {
        let _ = writeln!(stdout, "{line}");
    }

    if let Some(pr) = &env.pull_request
        && inputs.comment != CommentMode::Off
    {
        match client.as_ref() {
            Some(client) => {
                let mode = match inputs.comment {
                    CommentMode::New => comment::Mode::New,
                    _ => comment::Mode::Update,
                };
                let published = runtime.block_on(comment::publish(
                    client,
                    &env.repository,
                    pr.number,
                    &marker,
                    &body,
                    mode,
                ));
                match published {
                    Ok(comment::Published::Created { url, .. }) => {
                        let _ = writeln!(stdout, "comment: created {url}");
                    }
                    Ok(comment::Published::Updated { url, .. }) => {
                        let _ = writeln!(stdout, "comment: updated {url}");
                    }
                    Err(e) => {
                        let hint = e.hint().map(|h| format!(" ({h})")).unwrap_or_default();
                        let _ = writeln!(
                            stdout,
                            "{}",
                            workflow::annotation(
                                workflow::Level::Warning,
                                "evalgate comment",
                                &format!("{e}{hint}")
                            )
                        );
                    }
                }
            }
            None => {
                let _ = writeln!(
                    stdout,
                    "{}",
                    workflow::annotation(
                        workflow::Level::Warning,
                        "evalgate comment",
                        "no token: set the `github_token` input to comment on the pull request"
                    )
                );
            }
        }
    }

    if let Some(summary) = &env.step_summary {
        workflow::append_summary(summary, &body).map_err(|e| CliError::Infra {
            message: format!("cannot write the job summary {}: {e}", summary.display()),
            hint: None,
        })?;
    }
    let verdict = match (&results.verdict.accepted, results.verdict.status) {
        (Some(_), Status::Fail) => "accepted",
        (_, status) => status.as_str(),
    };
    set_outputs(
        env,
        &[
            ("verdict", verdict.to_owned()),
            ("pass_rate", format!("{}", results.summary.pass_rate)),
            ("results_path", results_path.display().to_string()),
            ("junit_path", junit_path.display().to_string()),
            ("markdown_path", markdown_path.display().to_string()),
            ("cost_usd", format!("{}", results.summary.cost_usd)),
        ],
    )?;
    let _ = writeln!(stdout, "results: {}", results_path.display());
    Ok(exit_code(&results.verdict, inputs.fail_on))
}

/// When the run cannot finish, the pull request must not keep showing an older verdict: the
/// sticky comment and the job summary say what went wrong instead (best effort; the error itself
/// is what the step reports).
fn report_failure(
    env: &ActionsEnv,
    inputs: &Inputs,
    runtime: &tokio::runtime::Runtime,
    client: Option<&github::Client>,
    err: &CliError,
    stdout: &mut dyn Write,
) {
    let message = crate::privacy::secrets::redact(&err.to_string());
    let first = message.lines().next().unwrap_or_default();
    let mut text = format!(
        "### ⚠️ evalgate ERROR: the gate could not run\n\n{}\n",
        markdown::inline(first)
    );
    if let Some(hint) = err.hint() {
        text.push_str(&format!(
            "\n{}\n",
            markdown::inline(&crate::privacy::secrets::redact(hint))
        ));
    }
    if let Some(url) = env.run_url() {
        text.push_str(&format!("\nDetails in the [CI run]({url}).\n"));
    }
    if let Some(summary) = &env.step_summary {
        let _ = workflow::append_summary(summary, &text);
    }
    let _ = set_outputs(env, &[("verdict", "error".to_owned())]);
    // The comment is found by the suite's name, read from the file as it is (it may not load).
    let name = std::fs::read_to_string(&inputs.config)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| t.get("suite")?.get("name")?.as_str().map(str::to_owned));
    if let (Some(pr), Some(client), Some(name)) = (&env.pull_request, client, name)
        && inputs.comment != CommentMode::Off
    {
        let body = format!("<!-- {} -->\n{text}", comment::marker_text(&name));
        let mode = match inputs.comment {
            CommentMode::New => comment::Mode::New,
            _ => comment::Mode::Update,
        };
        let published = runtime.block_on(comment::publish(
            client,
            &env.repository,
            pr.number,
            &comment::marker(&name),
            &body,
            mode,
        ));
        if published.is_ok() {
            let _ = writeln!(stdout, "comment: updated with the error");
        }
    }
}

/// The exit code under `fail_on`. An infrastructure error is never a pass, whatever `fail_on`.
fn exit_code(verdict: &Verdict, fail_on: FailOn) -> u8 {
    match verdict.status {
        Status::Error => exit_codes::INFRA,
        Status::Pass => exit_codes::PASS,
        Status::Fail if verdict.accepted.is_some() => exit_codes::PASS,
        Status::Fail => match fail_on {
            FailOn::Regression => exit_codes::GATE_FAILED,
            FailOn::Never => exit_codes::PASS,
            FailOn::Threshold => {
                let absolute_failed = verdict.rules.iter().any(|r| {
                    r.status == Status::Fail
                        && !(r.rule.ends_with(".max_drop") || r.rule.ends_with(".max_increase"))
                });
                if absolute_failed {
                    exit_codes::GATE_FAILED
                } else {
                    exit_codes::PASS
                }
            }
        },
    }
}

/// One `::error` per regressed case (capped as GitHub caps them).
fn annotation_lines(results: &Results) -> Vec<String> {
    let Some(comparison) = &results.comparison else {
        return Vec::new();
    };
    let items: Vec<(String, String)> = comparison
        .cases
        .iter()
        .filter(|c| c.change == CaseChange::Regressed)
        .map(|c| {
            let why = c.reasons.first().cloned().unwrap_or_else(|| {
                format!(
                    "score {:.2} → {:.2}",
                    c.base_score.unwrap_or_default(),
                    c.head_score.unwrap_or_default()
                )
            });
            (
                format!("evalgate: {} {} regressed", c.cell, c.case_id),
                crate::support::text::truncate(&why, 300).into_owned(),
            )
        })
        .collect();
    workflow::annotations(workflow::Level::Error, &items)
}

/// Finds the baseline the `baseline` input asks for. `auto` tries the artifact, then a committed
/// file, then a re-run of the base ref, and says in the notes why each did not apply.
fn resolve_baseline(
    runtime: &tokio::runtime::Runtime,
    env: &ActionsEnv,
    inputs: &Inputs,
    client: Option<&github::Client>,
    suite: &Suite,
    options: &RunOptions,
    notes: &mut Notes,
) -> Result<Option<Baseline>, CliError> {
    let source = inputs.baseline.as_str();
    match source {
        "none" => {
            notes.add("No baseline (`baseline: none`): only absolute thresholds were applied.");
            return Ok(None);
        }
        "auto" | "artifact" | "git" | "rerun" => {}
        path => {
            let path = inputs.dir.join(path);
            let path = path.as_path();
            let results = compare::load_baseline(path, &suite.name, &suite.path)?;
            return Ok(Some(Baseline {
                results,
                source: path.display().to_string(),
            }));
        }
    }
    let Some(pr) = &env.pull_request else {
        notes.add(
            "Not a pull request: no baseline. Upload this run's results file as the baseline of later pull requests.",
        );
        return Ok(None);
    };
    let forced = source != "auto";
    if matches!(source, "auto" | "artifact") {
        match client {
            Some(client) => {
                let found = runtime.block_on(github::artifact::latest_baseline(
                    client,
                    &env.repository,
                    &pr.base_ref,
                    &inputs.artifact,
                    "results.json",
                ));
                match found {
                    Ok(Some(found)) => {
                        let path = suite.dir.join(".evalgate").join("baseline.json");
                        write_file(&path, &found.text)?;
                        match compare::load_baseline(&path, &suite.name, &suite.path) {
                            Ok(results) => {
                                return Ok(Some(Baseline {
                                    results,
                                    source: format!(
                                        "artifact `{}` of {}/{}/actions/runs/{}",
                                        inputs.artifact,
                                        env.server_url,
                                        env.repository,
                                        found.run_id
                                    ),
                                }));
                            }
                            Err(e) if forced => return Err(e),
                            Err(e) => notes.add(format!("The baseline artifact was not used: {e}")),
                        }
                    }
                    Ok(None) => notes.add(format!(
                        "No artifact `{}` from branch `{}` was found.",
                        inputs.artifact, pr.base_ref
                    )),
                    Err(e) if forced => return Err(github_infra(e)),
                    Err(e) => {
                        notes.add(format!("The baseline artifact could not be fetched: {e}."))
                    }
                }
            }
            None if forced => {
                return Err(CliError::Usage {
                    message: "`baseline: artifact` needs a token".into(),
                    hint: Some("set the `github_token` input".into()),
                });
            }
            None => notes.add("No token, so no baseline artifact was looked for."),
        }
        if forced {
            return Err(CliError::Infra {
                message: format!(
                    "`baseline: artifact` found no artifact `{}` from a successful push run on `{}`",
                    inputs.artifact, pr.base_ref
                ),
                hint: Some(
                    "run the workflow that uploads it on the base branch, or use `baseline: auto`"
                        .into(),
                ),
            });
        }
    }
    let repo = git::toplevel(suite.dir_or_dot());
    let Some(repo) = repo else {
        notes.add("The suite is not in a git repository: no committed or re-run baseline.");
        return Ok(None);
    };
    if !git::has_commit(&repo, &pr.base_sha) && !git::fetch_commit(&repo, &pr.base_sha) {
        notes.add(format!(
            "The base commit {} is not in this checkout: check out with `fetch-depth: 0` for a committed or re-run baseline.",
            short(&pr.base_sha)
        ));
        return Ok(None);
    }
    let suite_abs = absolute(&suite.path);
    let Some(relative) = suite_abs
        .strip_prefix(absolute(&repo))
        .ok()
        .map(Path::to_path_buf)
    else {
        return Ok(None);
    };
    if matches!(source, "auto" | "git") {
        let committed = relative.with_file_name(COMMITTED_BASELINE);
        let committed = committed.to_string_lossy().replace('\\', "/");
        match git::show(&repo, &pr.base_sha, &committed) {
            Some(text) => {
                let path = suite.dir.join(".evalgate").join("baseline.json");
                write_file(&path, &text)?;
                let results = compare::load_baseline(&path, &suite.name, &suite.path)?;
                return Ok(Some(Baseline {
                    results,
                    source: format!("{committed} at {} ({})", pr.base_ref, short(&pr.base_sha)),
                }));
            }
            None if forced => {
                return Err(CliError::Usage {
                    message: format!(
                        "`baseline: git` found no `{committed}` at {} ({})",
                        pr.base_ref,
                        short(&pr.base_sha)
                    ),
                    hint: Some("commit a results file there, or use `baseline: auto`".into()),
                });
            }
            None => notes.add(format!(
                "No committed baseline `{committed}` at {}.",
                pr.base_ref
            )),
        }
    }
    match rerun_base(suite, &repo, &relative, pr, options, notes) {
        // In `auto`, a base branch that cannot be run (a key it needs and the head does not, a
        // filter that matches only new cases) means no baseline, said in the notes.
        Err(e) if !forced => {
            notes.add(format!(
                "The base branch's suite could not be re-run, so there is no baseline: {e}"
            ));
            Ok(None)
        }
        other => other,
    }
}

/// The `[gate.override]` of the suite as the base branch has it, read with `git show`.
fn base_override(
    suite: &Suite,
    pr: &github::env::PullRequest,
    notes: &mut Notes,
) -> Option<crate::config::GateOverride> {
    suite.gate_override.as_ref()?;
    let repo = git::toplevel(suite.dir_or_dot())?;
    let relative = absolute(&suite.path)
        .strip_prefix(absolute(&repo))
        .ok()?
        .to_string_lossy()
        .replace('\\', "/");
    if !git::has_commit(&repo, &pr.base_sha) && !git::fetch_commit(&repo, &pr.base_sha) {
        notes.add("`[gate.override]` is read from the base branch, whose commit is not in this checkout (`fetch-depth: 0`): no override.");
        return None;
    }
    let text = git::show(&repo, &pr.base_sha, &relative)?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    let rule = table.get("gate")?.get("override")?;
    let found = crate::config::GateOverride {
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

/// Runs the base ref's suite in a temporary work tree, sharing the head's cache and audit log.
fn rerun_base(
    suite: &Suite,
    repo: &Path,
    relative: &Path,
    pr: &github::env::PullRequest,
    options: &RunOptions,
    notes: &mut Notes,
) -> Result<Option<Baseline>, CliError> {
    let nonce = format!("{}-{:08x}", std::process::id(), fastrand::u32(..));
    let dir = std::env::temp_dir().join(format!("evalgate-base-{nonce}"));
    let tree = match git::Worktree::add(repo, &dir, &pr.base_sha) {
        Ok(tree) => tree,
        Err(e) => {
            notes.add(format!("Could not check out the base commit: {e}"));
            return Ok(None);
        }
    };
    let base_path = tree.path.join(relative);
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
    let executed = execute_suite(base_suite, &base_options, None)?;
    let mut results = executed.results;
    executed.suite.redactor.apply(&mut results);
    let record = suite.dir.join(".evalgate").join("baseline.json");
    write_results(&record, &results)?;
    drop(tree);
    Ok(Some(Baseline {
        results,
        source: format!("re-run of {} ({})", pr.base_ref, short(&pr.base_sha)),
    }))
}

/// A fork's pull request gets a read-only token and no secrets: say so, judge nothing.
fn neutral_for_fork(env: &ActionsEnv, stdout: &mut dyn Write) -> Result<u8, CliError> {
    let text = "### ⏸️ evalgate NEUTRAL: this pull request comes from a fork\n\n\
        GitHub gives a fork's workflow a read-only token and no secrets, so evalgate called no \
        model and judged nothing: neither a pass nor a failure. To evaluate fork pull requests, \
        use the `pull_request` + `workflow_run` pattern (examples/workflows/evalgate-fork-safe.yml), \
        or run a suite that replays a committed cache (`args: --offline`).\n";
    if let Some(summary) = &env.step_summary {
        workflow::append_summary(summary, text).map_err(|e| CliError::Infra {
            message: format!("cannot write the job summary {}: {e}", summary.display()),
            hint: None,
        })?;
    }
    set_outputs(env, &[("verdict", "neutral".to_owned())])?;
    let _ = writeln!(
        stdout,
        "{}",
        workflow::annotation(
            workflow::Level::Notice,
            "evalgate",
            "fork pull request: no secrets, nothing judged (neutral)"
        )
    );
    Ok(exit_codes::PASS)
}

fn set_outputs(env: &ActionsEnv, outputs: &[(&str, String)]) -> Result<(), CliError> {
    if let Some(path) = &env.output {
        workflow::set_outputs(path, outputs).map_err(|e| CliError::Infra {
            message: format!("cannot write the step outputs {}: {e}", path.display()),
            hint: None,
        })?;
    }
    Ok(())
}

fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    let fail = |e: std::io::Error| CliError::Infra {
        message: format!("cannot write {}: {e}", path.display()),
        hint: None,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    std::fs::write(path, text).map_err(fail)
}

fn github_infra(e: github::GitHubError) -> CliError {
    CliError::Infra {
        hint: e.hint(),
        message: e.to_string(),
    }
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

    fn verdict(rules: &[(&str, Status)]) -> Verdict {
        crate::gate::verdict_from_rules(
            rules
                .iter()
                .map(|(rule, status)| RuleOutcome {
                    rule: (*rule).to_owned(),
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
            ("min_pass_rate", Status::Pass),
            ("metrics.accuracy.max_drop", Status::Fail),
        ]);
        let floor = verdict(&[("metrics.accuracy.min", Status::Fail)]);
        let outage = verdict(&[("max_error_rate", Status::Error)]);
        assert_eq!(
            exit_code(&drop, FailOn::Regression),
            exit_codes::GATE_FAILED
        );
        assert_eq!(exit_code(&drop, FailOn::Threshold), exit_codes::PASS);
        assert_eq!(
            exit_code(&floor, FailOn::Threshold),
            exit_codes::GATE_FAILED
        );
        assert_eq!(exit_code(&floor, FailOn::Never), exit_codes::PASS);
        // An outage is never a pass, whatever fail_on says.
        assert_eq!(exit_code(&outage, FailOn::Never), exit_codes::INFRA);
        let mut accepted = drop.clone();
        accepted.accepted = Some(Acceptance {
            by: "release-manager".into(),
            label: "evalgate: accept-regression".into(),
            at: "2026-11-24T10:00:00Z".into(),
        });
        assert_eq!(exit_code(&accepted, FailOn::Regression), exit_codes::PASS);
    }

    #[test]
    fn args_split_like_a_shell() {
        assert_eq!(
            split_words(r#"--filter "refund policy" --repeats 3 --filter 'a b'"#),
            Ok(vec![
                "--filter".to_owned(),
                "refund policy".to_owned(),
                "--repeats".to_owned(),
                "3".to_owned(),
                "--filter".to_owned(),
                "a b".to_owned()
            ])
        );
        assert_eq!(split_words("  "), Ok(vec![]));
        assert_eq!(
            split_words(r#"--filter """#),
            Ok(vec!["--filter".to_owned(), String::new()])
        );
        assert!(split_words("'open").is_err());
    }
}
