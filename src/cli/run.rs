//! `evalgate run`: load, plan, execute, aggregate, gate, write the results file, summarise.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::ValueEnum;

use super::progress::{Progress, ProgressMode};
use super::{CliError, ConfigArg};
use crate::config::{Model, Suite};
use crate::execute::store::Store;
use crate::execute::{self, CacheMode, Endpoint, ExecOptions};
use crate::privacy::secrets::Secret;
use crate::provider::{self, ProviderConfig};
use crate::results::{CellSummary, Results, RunInfo, SCHEMA_VERSION, ShardInfo};
use crate::{aggregate, gate};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Where to write the results file [default: .evalgate/results.json next to the suite file]
    #[arg(long, value_name = "FILE")]
    results: Option<PathBuf>,
    /// Concurrent calls per model (overrides the suite's `concurrency`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    concurrency: Option<u32>,
    /// Samples per case (overrides `[defaults] repeats`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeats: Option<u32>,
    /// Only cases whose `PROMPT/MODEL/CASE_ID` contains PATTERN, or tagged PATTERN. Repeatable.
    #[arg(long = "filter", value_name = "PATTERN")]
    filters: Vec<String>,
    /// How to use the response cache.
    #[arg(long, value_enum, value_name = "MODE")]
    cache: Option<CacheArg>,
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
    #[command(flatten)]
    reports: super::report::ReportOutputs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CacheArg {
    /// Read hits and write new responses (default).
    Rw,
    /// Call every time and store the new responses.
    Refresh,
    /// Neither read nor write the cache.
    Off,
}

pub fn run(args: RunArgs, color: bool, stdout: &mut dyn Write) -> Result<u8, CliError> {
    let suite = crate::config::load(&args.config.config)?;
    crate::privacy::redact::set_log_redactor(suite.redactor.clone());
    // A broken baseline is found before any call is paid for.
    let baseline = match &args.baseline {
        Some(path) => Some(super::compare::load_baseline(
            path,
            &suite.name,
            &suite.path,
        )?),
        None => None,
    };
    let mode = match (args.offline, args.cache) {
        (true, _) => CacheMode::Offline,
        (false, None | Some(CacheArg::Rw)) => CacheMode::ReadWrite,
        (false, Some(CacheArg::Refresh)) => CacheMode::Refresh,
        (false, Some(CacheArg::Off)) => CacheMode::Off,
    };
    let results_path = args
        .results
        .clone()
        .unwrap_or_else(|| suite.dir.join(".evalgate").join("results.json"));
    let options = RunOptions {
        concurrency: args.concurrency,
        repeats: args.repeats,
        filters: args.filters.clone(),
        mode,
        progress: !args.no_progress,
        cache_dir: None,
        audit_path: None,
        shard: args.shard,
    };
    let Executed {
        suite,
        mut results,
        journal_path,
        calls,
        suite_calls,
    } = execute_suite(suite, &options, None)?;
    if let (Some(base), Some(path)) = (&baseline, &args.baseline) {
        let gate_config = suite.gate.clone();
        super::compare::judge(
            &mut results,
            base,
            &gate_config,
            &path.display().to_string(),
        );
    }
    // Grading and the comparison saw the raw text; everything written or shown from here on is
    // redacted.
    suite.redactor.apply(&mut results);
    write_results(&results_path, &results)?;
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
        return Ok(crate::exit_codes::PASS);
    }
    Ok(super::compare::exit_code(results.verdict.status))
}

/// The knobs of a run, shared by `evalgate run` and `evalgate ci`.
#[derive(Debug, Clone)]
pub(crate) struct RunOptions {
    pub concurrency: Option<u32>,
    pub repeats: Option<u32>,
    pub filters: Vec<String>,
    pub mode: CacheMode,
    pub progress: bool,
    /// Replaces the suite's cache folder: a re-run of the base branch in another work tree
    /// shares the head's cache, so what both branches ask is paid for once.
    pub cache_dir: Option<PathBuf>,
    /// Replaces the suite's audit log, for the same reason.
    pub audit_path: Option<PathBuf>,
    /// Only this shard's share of the cases.
    pub shard: Option<crate::plan::Shard>,
}

/// A finished run: results judged by the absolute gate rules, not yet redacted or written.
#[derive(Debug)]
pub(crate) struct Executed {
    pub suite: Arc<Suite>,
    pub results: Results,
    /// Removed by the caller once the results file is written.
    pub journal_path: PathBuf,
    /// Calls this run planned, and calls the whole suite would make (they differ for a shard).
    pub calls: usize,
    pub suite_calls: usize,
}

/// Plans, executes, aggregates and applies the absolute gate. Cells whose fingerprint equals a
/// cell of `reuse` (the baseline) are not run: their results are taken from it, since nothing
/// they depend on changed.
pub(crate) fn execute_suite(
    mut suite: Suite,
    options: &RunOptions,
    reuse: Option<&Results>,
) -> Result<Executed, CliError> {
    let started = Instant::now();
    let started_at = crate::privacy::audit::now();
    if let Some(n) = options.concurrency {
        for model in &mut suite.models {
            model.concurrency = n as usize;
        }
    }
    if let Some(dir) = &options.cache_dir {
        suite.cache_dir = dir.clone();
    }
    if let Some(path) = &options.audit_path {
        suite.audit.path = path.clone();
    }
    let repeats = options.repeats.unwrap_or(suite.defaults.repeats);
    let mut plan = crate::plan::plan(&suite, repeats, &options.filters);
    if plan.calls() == 0 {
        return Err(CliError::Usage {
            message: format!("no case matches --filter {}", options.filters.join(", ")),
            hint: Some(
                "a filter matches a substring of PROMPT/MODEL/CASE_ID, or a whole tag".into(),
            ),
        });
    }
    // After the filter check: a shard that holds none of the filtered cases is not a usage error.
    let suite_calls = plan.calls();
    if let Some(shard) = options.shard {
        crate::plan::keep_shard(&mut plan, &suite, shard);
    }
    let calls = plan.calls();
    // Reused cells keep their place in the plan but have nothing left to call.
    let reused: Vec<bool> = plan
        .cells
        .iter()
        .map(|c| {
            reuse.is_some_and(|base| {
                // Only a complete, healthy copy stands in for a run: the baseline must cover
                // every case and repeat of the cell (no filter, no shard) with no errored call,
                // or an old outage or a partial run would be judged as this run's result.
                let calls: Vec<_> = base.results.iter().filter(|r| r.cell == c.id).collect();
                options.filters.is_empty()
                    && options.shard.is_none()
                    && base.run.repeats == repeats
                    && base.run.filter.is_none()
                    && base.run.shard.is_none()
                    && base
                        .cells
                        .iter()
                        .any(|b| b.id == c.id && b.fingerprint == c.fingerprint)
                    && calls.len() == c.cases.len() * repeats as usize
                    && calls.iter().all(|r| !r.is_errored())
            })
        })
        .collect();
    for (cell, reused) in plan.cells.iter_mut().zip(&reused) {
        if *reused {
            cell.cases.clear();
        }
    }
    let mode = options.mode;
    let gate_config = suite.gate.clone();
    let state_dir = suite.dir.join(".evalgate");

    let client = provider::http_client().map_err(|e| CliError::Infra {
        message: format!("cannot set up the HTTP client: {e}"),
        hint: None,
    })?;
    // Models the plan evaluates, and models the checks call (judges, embedding models).
    let called_by_checks = suite.models_called_by_checks();
    let used: Vec<bool> = (0..suite.models.len())
        .map(|m| {
            called_by_checks[m]
                || plan
                    .cells
                    .iter()
                    .any(|c| c.model == m && !c.cases.is_empty())
        })
        .collect();
    let mut endpoints = Vec::with_capacity(suite.models.len());
    for (m, (model, used)) in suite.models.iter().zip(&used).enumerate() {
        endpoints.push(if mode == CacheMode::Offline || !used {
            None
        } else {
            let config = provider_config(model, &suite)?;
            let usage = |e: provider::BuildError| CliError::Usage {
                message: e.to_string(),
                hint: None,
            };
            let provider = provider::build(&config, &client).map_err(usage)?;
            let mut endpoint = Endpoint::new(provider, model, model.concurrency);
            if called_by_checks[m]
                && matches!(
                    model.kind,
                    provider::ProviderKind::Openai | provider::ProviderKind::OpenaiCompatible
                )
            {
                let embeddings = provider::embeddings::Embeddings::new(&config, client.clone())
                    .map_err(usage)?;
                endpoint = endpoint.with_embeddings(Box::new(embeddings));
            }
            Some(endpoint)
        });
    }

    let store_err = |e: crate::execute::store::StoreError| CliError::Infra {
        message: format!("cannot open {e}"),
        hint: None,
    };
    // Shards of one suite run in the same folder keep separate journals.
    let mut journal_key = options.filters.clone();
    if let Some(shard) = options.shard {
        journal_key.push(format!("--shard {}/{}", shard.index, shard.count));
    }
    let journal_path = execute::journal_path(&state_dir, &plan, &journal_key);
    let journal = Store::open(&journal_path).map_err(store_err)?;
    if !journal.is_empty() {
        tracing::info!(
            responses = journal.len(),
            "resuming an interrupted run from its journal"
        );
    }
    let cache_store = match mode {
        CacheMode::Off => None,
        _ => Some(Store::open(&suite.cache_dir.join("responses.jsonl")).map_err(store_err)?),
    };
    let progress_mode = if !options.progress {
        ProgressMode::Off
    } else if std::io::stderr().is_terminal() {
        ProgressMode::Bar
    } else {
        ProgressMode::Lines
    };
    let mut progress = Progress::new(progress_mode, plan.calls() as u64);

    let suite = Arc::new(suite);
    let plan = Arc::new(plan);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Infra {
            message: format!("cannot start the async runtime: {e}"),
            hint: None,
        })?;
    let audit =
        crate::privacy::audit::AuditLog::open(&suite.audit.path).map_err(|e| CliError::Infra {
            message: format!(
                "cannot open the audit log {}: {e}",
                suite.audit.path.display()
            ),
            hint: Some("set `[audit] path` to a writable file".into()),
        })?;
    let opts = ExecOptions {
        cache: mode,
        cache_store,
        journal,
        audit: Some(audit),
        ci: crate::privacy::audit::CiContext::from_env(),
    };
    let outcome = runtime.block_on(execute::execute(
        Arc::clone(&suite),
        Arc::clone(&plan),
        endpoints,
        opts,
        &mut |event| progress.on_event(event),
    ));
    let executed = match outcome {
        Ok(results) => results,
        Err(execute::ExecError::Interrupted) => {
            return Err(CliError::Interrupted {
                hint: format!(
                    "every response received so far is saved in {}; run the same command again to resume without paying for them",
                    journal_path.display()
                ),
            });
        }
    };
    // Results in plan order, reused cells' calls taken from the baseline in place.
    let results: Vec<_> = match reuse {
        Some(base) if reused.iter().any(|r| *r) => {
            let mut executed = executed.into_iter().peekable();
            let mut ordered = Vec::new();
            for (cell, reused) in plan.cells.iter().zip(&reused) {
                if *reused {
                    ordered.extend(base.results.iter().filter(|r| r.cell == cell.id).cloned());
                } else {
                    while let Some(r) = executed.next_if(|r| r.cell == cell.id) {
                        ordered.push(r);
                    }
                }
            }
            ordered.extend(executed);
            ordered
        }
        _ => executed,
    };

    let summary = aggregate::summarize(&results);
    let metrics = aggregate::metrics(&results, gate_config.confidence);
    let by_cell = aggregate::summarize_by_cell(&results);
    let verdict = gate::evaluate(&gate_config, &summary, &metrics);
    let cells = plan
        .cells
        .iter()
        .zip(&reused)
        .map(|(c, reused)| {
            let model = &suite.models[c.model];
            CellSummary {
                id: c.id.clone(),
                prompt: suite.prompts[c.prompt].id.clone(),
                model: model.id.clone(),
                provider: model.kind.as_str().to_owned(),
                model_name: model.model.clone(),
                fingerprint: c.fingerprint.clone(),
                summary: by_cell.get(&c.id).cloned().unwrap_or_default(),
                reused: *reused,
            }
        })
        .collect();
    let results = Results {
        schema_version: SCHEMA_VERSION,
        run: RunInfo {
            evalgate_version: env!("CARGO_PKG_VERSION").to_owned(),
            suite: suite.name.clone(),
            config_path: suite.path.display().to_string(),
            started_at,
            finished_at: crate::privacy::audit::now(),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            git: crate::git::info(suite.dir_or_dot()),
            config_fingerprint: plan.config_fingerprint.clone(),
            repeats,
            filter: (!options.filters.is_empty()).then(|| options.filters.join(",")),
            cache: mode.as_str().to_owned(),
            gate: Some(gate_config.clone()),
            redacted: suite.redactor.describe(),
            shard: options.shard.map(|shard| ShardInfo {
                index: shard.index,
                count: shard.count,
                positions: crate::plan::case_positions(&suite, &plan),
            }),
        },
        summary,
        metrics,
        cells,
        verdict,
        comparison: None,
        results,
    };
    Ok(Executed {
        suite,
        results,
        journal_path,
        calls,
        suite_calls,
    })
}

/// Resolves a model's key and `${ENV}` header references from the environment.
fn provider_config(model: &Model, suite: &Suite) -> Result<ProviderConfig, CliError> {
    let api_key = match &model.api_key_env {
        Some(var) => match std::env::var(var) {
            Ok(value) if !value.is_empty() => Some(Secret::new(value)),
            _ if model.key_required => {
                return Err(CliError::Usage {
                    message: format!(
                        "model `{}` needs an API key in the environment variable `{var}`",
                        model.id
                    ),
                    hint: Some(format!(
                        "export {var}=..., set `api_key_env` to the variable that holds the key, or use --offline to replay cached responses"
                    )),
                });
            }
            _ => None,
        },
        None => None,
    };
    let mut headers = BTreeMap::new();
    for (name, value) in &model.headers {
        let resolved = expand_env(value).map_err(|var| CliError::Usage {
            message: format!(
                "model `{}`: header `{name}` uses `${{{var}}}`, which is not set",
                model.id
            ),
            hint: Some(format!("export {var}=... before running")),
        })?;
        headers.insert(name.clone(), Secret::new(resolved));
    }
    Ok(ProviderConfig {
        model_id: model.id.clone(),
        kind: model.kind,
        model: model.model.clone(),
        base_url: model.base_url.clone(),
        api_key,
        headers,
        query: model.query.iter().cloned().collect(),
        timeout: model.timeout,
        http: model.http.clone(),
        command: model.command.as_ref().map(|argv| provider::CommandSpec {
            argv: argv.clone(),
            cwd: suite.dir_or_dot().to_path_buf(),
        }),
    })
}

/// Replaces `${NAME}` with the variable's value; the error is the first unset name.
fn expand_env(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        match std::env::var(name) {
            Ok(v) => {
                // The variable alone is a secret too: a server may echo the token without the
                // "Bearer " the header put in front of it.
                crate::privacy::secrets::register(&v);
                out.push_str(&v);
            }
            Err(_) => return Err(name.to_owned()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Writes the results atomically: a reader never sees half a file.
pub(crate) fn write_results(path: &Path, results: &Results) -> Result<(), CliError> {
    Ok(crate::results::file::write(path, results)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_env_substitutes_and_reports_missing() {
        // SAFETY-free: PATH is always set in tests.
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(
            expand_env("a ${PATH} b").as_deref(),
            Ok(format!("a {path} b").as_str())
        );
        assert_eq!(
            expand_env("x ${EVALGATE_SURELY_UNSET_VAR} y"),
            Err("EVALGATE_SURELY_UNSET_VAR".to_owned())
        );
        assert_eq!(expand_env("no refs").as_deref(), Ok("no refs"));
    }
}
