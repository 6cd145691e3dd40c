//! `evalgate plan` (and `run --dry-run`): what a run would call and cost, from the suite, the
//! journal and the response cache, read-only. Calls no model and needs no API key.

use std::io::Write;
use std::path::PathBuf;

use super::{CliError, ConfigArg, Outcome};
use crate::config::Suite;
use crate::pipeline::{CacheChoice, RunOptions, cache_mode};
use std::fmt::Write as _;

use crate::pipeline::estimate::{CHARS_PER_TOKEN, CellEstimate, OutputEstimate, PlanEstimate};
use crate::support::fmt::{count_of, format_count, format_usd};

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The folder a run would write in, where its journal is [default: .evalgate next to the
    /// suite file]
    #[arg(long, value_name = "DIR", env = "EVALGATE_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Samples per case (overrides `[defaults] repeats`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::config::MAX_REPEATS)))]
    repeats: Option<u32>,
    /// Only cases whose `PROMPT/MODEL/CASE_ID` contains PATTERN, or tagged PATTERN. Repeatable.
    #[arg(long = "filter", value_name = "PATTERN")]
    filters: Vec<String>,
    /// How the run would use the response cache (`refresh` and `off` answer nothing from it).
    #[arg(long, value_enum, value_name = "MODE")]
    cache: Option<CacheChoice>,
    /// Plan a replay: calls missing from the cache would be errors, and nothing is paid.
    #[arg(long, conflicts_with = "cache")]
    offline: bool,
    /// Plan only shard I of N.
    #[arg(long, value_name = "I/N", value_parser = clap::value_parser!(crate::plan::Shard))]
    shard: Option<crate::plan::Shard>,
    /// Plan a `run --batch`: the cells whose provider has a batch API at the batch price.
    #[arg(long)]
    batch: bool,
}

pub fn plan(args: PlanArgs, stdout: &mut dyn Write) -> Result<Outcome, CliError> {
    let mut suite = crate::config::load(&args.config.config)?;
    if let Some(dir) = &args.state_dir {
        suite.set_state_dir(dir.clone());
    }
    let options = RunOptions {
        repeats: args.repeats,
        filters: args.filters,
        shard: args.shard,
        batch: args.batch,
        ..RunOptions::new(cache_mode(args.offline, args.cache))
    };
    show(suite, &options, stdout)
}

/// Estimates the run `options` describes and prints the plan.
pub(super) fn show(
    suite: Suite,
    options: &RunOptions,
    stdout: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let estimate = crate::pipeline::estimate::estimate(suite, options)?;
    let mut text = String::new();
    let _ = write_plan(&mut text, &estimate);
    let _ = write!(stdout, "{text}");
    Ok(Outcome::Done)
}

/// The view of a [`PlanEstimate`] (a pure function of it): one row per cell, the totals, and
/// what each estimate rests on.
fn write_plan(out: &mut String, plan: &PlanEstimate) -> std::fmt::Result {
    let name = crate::support::text::sanitize_for_log(&plan.suite);
    writeln!(
        out,
        "plan of suite `{name}`: {} ({}), cache {}; no model is called",
        count_of(plan.calls(), "call", "calls"),
        count_of(u64::from(plan.repeats), "repeat", "repeats"),
        plan.mode.as_str(),
    )?;
    writeln!(out)?;
    let width = plan
        .cells
        .iter()
        .map(|c| c.id.len())
        .chain(["total".len(), "CELL".len()])
        .max()
        .unwrap_or(4);
    writeln!(
        out,
        "{:<width$}  {:>7}  {:>7}  {:>7}  {:>12}  {:>13}  EST. COST",
        "CELL", "CALLS", "CACHED", "TO PAY", "INPUT TOKENS", "OUTPUT TOKENS"
    )?;
    for cell in &plan.cells {
        let output = match cell.output_tokens() {
            Some(n) => format_count(n),
            None => "unbounded".to_owned(),
        };
        writeln!(
            out,
            "{:<width$}  {:>7}  {:>7}  {:>7}  {:>12}  {:>13}  {}",
            cell.id,
            format_count(cell.calls),
            format_count(cell.cached),
            format_count(cell.to_pay),
            format_count(cell.input_tokens),
            output,
            cell_cost(cell),
        )?;
    }
    let (total, sentence) = if plan.is_upper_bound() {
        let bound = format!("at most {}", format_usd(plan.cost_usd()));
        (bound.clone(), bound)
    } else {
        let known = format_usd(plan.cost_usd());
        (
            format!("{known} + unknown"),
            format!("{known} for what can be estimated, the rest unknown (see the notes)"),
        )
    };
    writeln!(
        out,
        "{:<width$}  {:>7}  {:>7}  {:>7}  {:>12}  {:>13}  {}",
        "total",
        format_count(plan.calls()),
        format_count(plan.cached()),
        format_count(plan.to_pay()),
        format_count(plan.cells.iter().map(|c| c.input_tokens).sum()),
        "",
        total,
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{} to pay, estimated cost {sentence}.",
        count_of(plan.to_pay(), "call", "calls")
    )?;
    writeln!(
        out,
        "Tokens are those of the calls to pay. Input: the rendered messages' characters / {CHARS_PER_TOKEN},\n\
         an estimate. Output: `max_tokens` per call (an upper bound), else the mean of the cell's\n\
         cached answers. Cached: calls the run's journal or the response cache answers, which cost\n\
         nothing. Calls made by checks (judges) are not included."
    )?;
    let mut notes = Vec::new();
    for cell in &plan.cells {
        if cell.to_pay > 0 && cell.price.is_none() {
            notes.push(format!(
                "{}: no price set: its cost is not counted",
                cell.id
            ));
        }
        if cell.to_pay > 0 && cell.output == OutputEstimate::Unbounded {
            notes.push(format!(
                "{}: output unbounded: no max_tokens and no cached answer (its cost counts input only)",
                cell.id
            ));
        }
        if let OutputEstimate::CachedMean(n) = cell.output
            && cell.to_pay > 0
        {
            notes.push(format!(
                "{}: no max_tokens: output estimated at {} per call, the mean of its cached answers",
                cell.id,
                format_count(n)
            ));
        }
        if cell.batch && cell.to_pay > 0 {
            let discount = cell.price.map_or(String::new(), |p| {
                format!(
                    " ({} off)",
                    crate::support::fmt::format_percent(p.batch_discount)
                )
            });
            notes.push(format!(
                "{}: batch mode: estimated at the batch price{discount}; answered within 24 hours",
                cell.id
            ));
        }
        if cell.in_batch > 0 {
            notes.push(format!(
                "{}: {} in batches an earlier attempt submitted (counted as cached): a run waits for them, it does not submit them again",
                cell.id,
                count_of(cell.in_batch, "call is", "calls are")
            ));
        }
        if cell.variable_prefix {
            notes.push(format!(
                "{}: {}",
                cell.id,
                crate::report::terminal::VARIABLE_PREFIX_NOTE
            ));
        }
        if cell.render_errors > 0 {
            notes.push(format!(
                "{}: {} whose prompt does not render (`evalgate validate` says why): a run errors them",
                cell.id,
                count_of(cell.render_errors, "call", "calls")
            ));
        }
        if cell.missing > 0 {
            notes.push(format!(
                "{}: {} not in the cache: --offline errors them",
                cell.id,
                count_of(cell.missing, "call", "calls")
            ));
        }
    }
    if !plan.graders.is_empty() {
        notes.push(format!(
            "checks call {} (judges, embeddings): those calls depend on the answers and are not estimated",
            plan.graders
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !notes.is_empty() {
        writeln!(out, "notes:")?;
        for note in notes {
            writeln!(out, "  {note}")?;
        }
    }
    Ok(())
}

/// A cell's estimated cost: `≤` an upper bound, `~` from cached answers, `≥` input only.
fn cell_cost(cell: &CellEstimate) -> String {
    let Some(cost) = cell.cost_usd() else {
        return if cell.to_pay == 0 {
            format_usd(0.0)
        } else {
            "no price set".to_owned()
        };
    };
    if cell.to_pay == 0 {
        return format_usd(0.0);
    }
    match cell.output {
        OutputEstimate::MaxTokens(_) => format!("≤ {}", format_usd(cost)),
        OutputEstimate::CachedMean(_) => format!("~ {}", format_usd(cost)),
        OutputEstimate::Unbounded => format!("≥ {} (input only)", format_usd(cost)),
    }
}
