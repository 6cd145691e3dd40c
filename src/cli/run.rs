//! `evalgate run`: load the suite, run it ([`crate::pipeline::run_suite`]), compare with a
//! baseline when asked, write the results file and reports, summarise.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use super::progress::{Progress, ProgressMode};
use super::{CliError, ConfigArg, Outcome};
use crate::pipeline::{CacheChoice, Executed, RunOptions, cache_mode};
use crate::results::file;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Where to write the results file [default: results.json in the state folder]
    #[arg(long, value_name = "FILE")]
    results: Option<PathBuf>,
    /// The folder for what a run writes: its journal, the results file, and the cache and audit
    /// log unless the suite names them [default: .evalgate next to the suite file]
    #[arg(long, value_name = "DIR", env = "EVALGATE_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Concurrent calls per model (overrides the suite's `concurrency`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::config::MAX_CONCURRENCY)))]
    concurrency: Option<u32>,
    /// Samples per case (overrides `[defaults] repeats`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::config::MAX_REPEATS)))]
    repeats: Option<u32>,
    /// Only cases whose `PROMPT/MODEL/CASE_ID` contains PATTERN, or tagged PATTERN. Repeatable.
    #[arg(long = "filter", value_name = "PATTERN")]
    filters: Vec<String>,
    /// How to use the response cache.
    #[arg(long, value_enum, value_name = "MODE")]
    cache: Option<CacheChoice>,
    /// Replay cached responses only; a call missing from the cache is an error. Needs no API key.
    #[arg(long, conflicts_with = "cache")]
    offline: bool,
    /// No progress bar or progress lines on stderr.
    #[arg(long)]
    no_progress: bool,
    /// Compare with this baseline results file (the base branch's run) and gate on the change.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Run only shard I of N: a stable share of the cases (by dataset and case id), for a CI
    /// matrix. Combine the shards' results files with `evalgate merge`, which applies the real gate
    /// (and takes `--baseline`: against one shard, every other case would look removed).
    #[arg(
        long,
        value_name = "I/N",
        value_parser = clap::value_parser!(crate::plan::Shard),
        conflicts_with = "baseline"
    )]
    shard: Option<crate::plan::Shard>,
    /// Stop starting model calls once this run has spent USD US dollars (calls not served from
    /// the cache, at the configured prices); calls in flight finish. Exit code 3; the same
    /// command with a higher cap resumes from the journal. Replaces `[gate.cost] max_run_usd`.
    #[arg(long, value_name = "USD", value_parser = parse_usd)]
    max_cost: Option<f64>,
    /// Send the graded calls of every model whose provider has a batch API (openai,
    /// openai-compatible, anthropic) through it: half price, answered within 24 hours. A run
    /// stopped before its batches end resumes waiting for them; they are never submitted twice.
    #[arg(long)]
    batch: bool,
    /// How long to wait for batches before ending with exit code 3, resumable by the same
    /// command (e.g. 30m, 2h, 1h30m; 0 submits and checks once) [default: 24h]
    #[arg(long, value_name = "DURATION", value_parser = crate::support::fmt::parse_duration)]
    batch_wait: Option<std::time::Duration>,
    /// Call nothing: print what the run would call and cost, as `evalgate plan` does.
    #[arg(long, conflicts_with_all = ["baseline", "results", "junit", "markdown", "max_cost"])]
    dry_run: bool,
    #[command(flatten)]
    reports: super::report::ReportOutputs,
}

pub fn run(args: RunArgs, color: bool, stdout: &mut dyn Write) -> Result<Outcome, CliError> {
    let mut suite = crate::config::load(&args.config.config)?;
    if let Some(dir) = &args.state_dir {
        suite.set_state_dir(dir.clone());
    }
    crate::privacy::redact::set_log_redactor(suite.redactor.clone());
    let options = RunOptions {
        concurrency: args.concurrency,
        repeats: args.repeats,
        filters: args.filters.clone(),
        shard: args.shard,
        max_cost_usd: args.max_cost,
        batch: args.batch,
        batch_wait: args.batch_wait,
        ..RunOptions::new(cache_mode(args.offline, args.cache))
    };
    if args.dry_run {
        return super::plan::show(suite, &options, stdout);
    }
    if !suite.gate.can_fail() {
        tracing::warn!("{}", crate::results::gate::NO_RULE_CAN_FAIL);
    }
    // A broken baseline is found before any call is paid for.
    let baseline = match &args.baseline {
        Some(path) => Some(file::read_baseline(path, &suite.name, &suite.path)?),
        None => None,
    };
    let results_path = args
        .results
        .clone()
        .unwrap_or_else(|| suite.state_dir.join("results.json"));
    let mut progress = Progress::new(progress_mode(!args.no_progress));
    let Executed {
        suite,
        mut results,
        journal_path,
        calls,
        suite_calls,
        journal_failure,
        spend_cap,
        batch_pending,
    } = crate::pipeline::run_suite(suite, &options, None, &mut |e| progress.on_event(e))?;
    if let (Some(base), Some(path)) = (&baseline, &args.baseline) {
        // The run's summary and metrics were computed from its calls under this gate.
        crate::gate::judge_with_baseline(
            &mut results,
            base,
            &suite.gate,
            &path.display().to_string(),
        )?;
    }
    // Grading and the comparison saw the raw text; everything written or shown from here on is
    // redacted.
    suite.redactor.apply(&mut results);
    if let Some(failure) = journal_failure {
        return Err(journal_lost(
            failure,
            &results_path,
            &results,
            &args.reports,
        ));
    }
    if let Some(reached) = spend_cap {
        let error = crate::pipeline::RunError::SpendCap {
            reached,
            journal: journal_path,
        };
        return Err(stopped_resumable(
            error,
            "the calls not started as errors",
            &results_path,
            &results,
            &args.reports,
            color,
            stdout,
        ));
    }
    if let Some(pending) = batch_pending {
        let error = crate::pipeline::RunError::BatchPending {
            pending,
            journal: journal_path,
        };
        return Err(stopped_resumable(
            error,
            "the calls still in a batch as errors",
            &results_path,
            &results,
            &args.reports,
            color,
            stdout,
        ));
    }
    file::write(&results_path, &results)?;
    // The results file now holds everything the journal did.
    let _ = std::fs::remove_file(&journal_path);

    super::print_summary(stdout, &results, color);
    let _ = writeln!(stdout, "results: {}", results_path.display());
    if let Some(shard) = args.shard {
        let share = if calls == 0 {
            format!(
                "holds none of the {suite_calls} calls, so there is nothing to gate here (exit 0)"
            )
        } else {
            format!("{calls} of {suite_calls} calls; the verdict above covers this shard only")
        };
        let _ = writeln!(
            stdout,
            "partial run: shard {}/{} {share}; the real gate runs on the results of all {} shards joined by `evalgate merge`",
            shard.index, shard.count, shard.count
        );
    }
    // After the summary, so a report that cannot be written does not hide the verdict.
    for line in super::report::write_reports(&results, &args.reports)? {
        let _ = writeln!(stdout, "{line}");
    }
    if args.shard.is_some() && calls == 0 {
        // A small suite can leave a shard empty; that is not an outage, and the merged run is
        // gated as a whole.
        return Ok(Outcome::Done);
    }
    let status = results.verdict.status;
    // The process ends next: every case and every call's result is left to the OS rather than
    // freed one allocation at a time, which took 5-10% of a run's CPU (bench/README.md).
    std::mem::forget(results);
    std::mem::forget(suite);
    Ok(Outcome::Verdict(status))
}

/// The run stopped calling models when its journal could not be written: write what can be
/// written (the results of the calls answered, the reports), keep the journal (it holds what was
/// saved before), and end with the journal's error, never with a verdict.
fn journal_lost(
    failure: crate::execute::JournalWriteError,
    results_path: &std::path::Path,
    results: &crate::results::Results,
    reports: &super::report::ReportOutputs,
) -> CliError {
    let failure = crate::pipeline::RunError::from(failure);
    let written = match file::write(results_path, results) {
        Ok(()) => {
            let _ = super::report::write_reports(results, reports);
            format!(
                "the results of the calls made are in {}, the calls not made as errors",
                results_path.display()
            )
        }
        Err(e) => format!("the results file could not be written either ({e})"),
    };
    CliError::Infra {
        message: failure.to_string(),
        hint: Some(match failure.hint() {
            Some(hint) => format!("{hint}; {written}"),
            None => written,
        }),
    }
}

/// The spend cap stopped the run, or its batches had not ended when it stopped waiting: write
/// the results (the calls not made as errors, which `errored` names) and the reports, show the
/// summary, keep the journal for the re-run, and end as an infrastructure error, never with a
/// verdict.
fn stopped_resumable(
    error: crate::pipeline::RunError,
    errored: &str,
    results_path: &std::path::Path,
    results: &crate::results::Results,
    reports: &super::report::ReportOutputs,
    color: bool,
    stdout: &mut dyn Write,
) -> CliError {
    let written = match file::write(results_path, results) {
        Ok(()) => {
            super::print_summary(stdout, results, color);
            let _ = writeln!(stdout, "results: {}", results_path.display());
            let _ = super::report::write_reports(results, reports);
            format!(
                "the results of the calls made are in {}, {errored}",
                results_path.display()
            )
        }
        Err(e) => format!("the results file could not be written ({e})"),
    };
    CliError::Infra {
        message: error.to_string(),
        hint: Some(match error.hint() {
            Some(hint) => format!("{hint}; {written}"),
            None => written,
        }),
    }
}

/// A `--max-cost` amount: US dollars, zero or more.
fn parse_usd(text: &str) -> Result<f64, String> {
    let usd: f64 = text
        .trim()
        .trim_start_matches('$')
        .parse()
        .map_err(|_| format!("expected an amount of US dollars such as 2.50, not `{text}`"))?;
    if !usd.is_finite() || usd < 0.0 {
        return Err(format!(
            "the cap must be zero or more US dollars, not `{text}`"
        ));
    }
    Ok(usd)
}

/// The progress display on stderr: a bar on a terminal, a line every few seconds in a CI log.
pub(crate) fn progress_mode(enabled: bool) -> ProgressMode {
    if !enabled {
        ProgressMode::Off
    } else if std::io::stderr().is_terminal() {
        ProgressMode::Bar
    } else {
        ProgressMode::Lines
    }
}
