//! `evalgate merge SHARD...`: the results files of a sharded run joined into one, gated like a
//! whole run (and compared with a baseline when asked).

use std::io::Write;
use std::path::PathBuf;

use super::{CliError, Outcome};
use crate::merge::{ShardFile, merge as merge_shards};

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The results file of every shard (`run --shard I/N --results FILE`), in any order.
    #[arg(value_name = "SHARD", required = true)]
    shards: Vec<PathBuf>,
    /// Where to write the merged results file.
    #[arg(long, value_name = "FILE", default_value = ".evalgate/results.json")]
    results: PathBuf,
    /// A suite file whose `[gate]` replaces the one the shards recorded.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Compare the merged run with this baseline results file and gate on the change.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    #[command(flatten)]
    reports: super::report::ReportOutputs,
}

/// Exit code like `run`'s: 0 pass, 1 gate failed, 3 the gate could not decide; after the merged
/// file and the reports are written.
pub fn merge(args: MergeArgs, color: bool, stdout: &mut dyn Write) -> Result<Outcome, CliError> {
    let mut shards = Vec::with_capacity(args.shards.len());
    for path in &args.shards {
        shards.push(ShardFile {
            path: path.display().to_string(),
            results: crate::results::file::read(path)?,
        });
    }
    let gate_override = match &args.config {
        Some(path) => Some(crate::config::load(path)?.gate),
        None => None,
    };
    // The merged calls are spooled next to the file they are written to.
    let spool_dir = match args.results.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut results = merge_shards(shards, gate_override, &spool_dir)?;
    if let Some(path) = &args.baseline {
        // A baseline of another suite is named against the shards, which exist; OUT does not yet.
        let shard = args.shards.first().unwrap_or(&args.results);
        let base = crate::results::file::read_baseline(path, &results.run.suite, shard)?;
        let gate_config = results.run.gate.clone().unwrap_or_default();
        // The merged summary and metrics were just computed from the calls under this gate.
        crate::gate::judge_with_baseline(
            &mut results,
            &base,
            &gate_config,
            &path.display().to_string(),
        )?;
    }
    crate::results::file::write(&args.results, &results)?;

    super::print_summary(stdout, &results, color);
    let _ = writeln!(
        stdout,
        "merged {} shards: {}",
        args.shards.len(),
        args.results.display()
    );
    // After the summary, so a report that cannot be written does not hide the verdict.
    for line in super::report::write_reports(&results, &args.reports)? {
        let _ = writeln!(stdout, "{line}");
    }
    Ok(Outcome::Verdict(results.verdict.status))
}
