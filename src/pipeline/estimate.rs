//! What a run would call and what it would cost, before paying for anything (`evalgate plan`,
//! `run --dry-run`).
//!
//! Every planned call's request is built as a run builds it ([`execute::planned_request`]) and
//! its cache key computed as a run computes it; the run's journal and the response cache are
//! looked up read-only (neither is created or written), so the calls they would answer are
//! counted as free. No model is called and no API key is read. Tokens are estimated, not
//! counted: a tokenizer per provider would be exact for some models and wrong for the rest.

use crate::config::Suite;
use crate::execute::store::Store;
use crate::execute::{self, CacheMode};
use crate::plan::Plan;
use crate::provider::ProviderKind;

use super::{RunError, RunOptions, run_journal_path};

/// Characters per token of the input estimate: the usual rule of thumb for English text with
/// the OpenAI and Anthropic tokenizers.
pub const CHARS_PER_TOKEN: u64 = 4;

/// What one cell would cost.
#[derive(Debug, Clone, PartialEq)]
pub struct CellEstimate {
    /// `PROMPT/MODEL`.
    pub id: String,
    /// Planned calls (cases × repeats).
    pub calls: u64,
    /// Calls the run's journal or the response cache would answer: paid for already.
    pub cached: u64,
    /// Calls that would be sent to the model.
    pub to_pay: u64,
    /// Calls whose prompt does not render: a run errors them, paying nothing.
    pub render_errors: u64,
    /// `--offline` only: calls the cache does not hold, which the run would error.
    pub missing: u64,
    /// Estimated input tokens of the calls to pay: their rendered messages' characters / 4.
    pub input_tokens: u64,
    /// Output tokens of one call to pay.
    pub output: OutputEstimate,
    /// The model's price, when it has one.
    pub price: Option<crate::config::Price>,
    /// The prompt puts variable text before static text (see [`crate::plan::variable_prefix`]).
    pub variable_prefix: bool,
    /// The cell is in batch mode: its calls to pay are estimated at the batch price.
    pub batch: bool,
    /// Of `cached`, calls in a batch an earlier attempt submitted and nobody collected yet: paid
    /// for, and waited for rather than submitted again.
    pub in_batch: u64,
}

/// How many output tokens one call is expected to take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutputEstimate {
    /// The model's `max_tokens` (Anthropic's default 1024 when unset): an upper bound.
    MaxTokens(u32),
    /// No `max_tokens`: the mean output tokens of this cell's cached answers.
    CachedMean(u64),
    /// No `max_tokens` and no cached answer to learn from.
    Unbounded,
}

impl CellEstimate {
    /// Estimated output tokens of the calls to pay, when they can be estimated.
    pub fn output_tokens(&self) -> Option<u64> {
        match self.output {
            OutputEstimate::MaxTokens(n) => Some(u64::from(n) * self.to_pay),
            OutputEstimate::CachedMean(n) => Some(n * self.to_pay),
            OutputEstimate::Unbounded => None,
        }
    }

    /// Estimated cost in US dollars of the calls to pay: `None` without a price; the input part
    /// only when the output is unbounded. Calls answered by the cache or the journal cost 0.
    pub fn cost_usd(&self) -> Option<f64> {
        let price = self.price?;
        let output = self.output_tokens().unwrap_or(0);
        let list = (self.input_tokens as f64 * price.input_per_mtok
            + output as f64 * price.output_per_mtok)
            / 1_000_000.0;
        Some(if self.batch {
            list * (1.0 - price.batch_discount)
        } else {
            list
        })
    }
}

/// The estimate of a whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanEstimate {
    pub suite: String,
    pub repeats: u32,
    pub mode: CacheMode,
    pub cells: Vec<CellEstimate>,
    /// Models the checks call (judges, embeddings): their calls depend on the answers and are
    /// not in the estimate.
    pub graders: Vec<String>,
}

impl PlanEstimate {
    pub fn calls(&self) -> u64 {
        self.cells.iter().map(|c| c.calls).sum()
    }
    pub fn cached(&self) -> u64 {
        self.cells.iter().map(|c| c.cached).sum()
    }
    pub fn to_pay(&self) -> u64 {
        self.cells.iter().map(|c| c.to_pay).sum()
    }
    /// The estimated cost of every cell that has a price.
    pub fn cost_usd(&self) -> f64 {
        self.cells.iter().filter_map(CellEstimate::cost_usd).sum()
    }
    /// Whether [`Self::cost_usd`] is an upper bound: every call to pay has a price and a
    /// `max_tokens`.
    pub fn is_upper_bound(&self) -> bool {
        self.cells.iter().all(|c| {
            c.to_pay == 0 || (c.price.is_some() && matches!(c.output, OutputEstimate::MaxTokens(_)))
        })
    }
}

/// Estimates what running `suite` with `options` would call and cost.
pub fn estimate(mut suite: Suite, options: &RunOptions) -> Result<PlanEstimate, RunError> {
    let super::Planned {
        plan,
        repeats,
        variable_prefix,
        ..
    } = super::prepare(&mut suite, options)?;
    // Read-only: a plan creates and writes nothing, whatever the mode.
    let journal = Store::open_read_only(&run_journal_path(&suite, &plan, options))?;
    let cache = match options.mode {
        CacheMode::ReadWrite | CacheMode::Offline => Some(Store::open_read_only(
            &suite.cache_dir.join("responses.jsonl"),
        )?),
        CacheMode::Refresh | CacheMode::Off => None,
    };
    // Calls in batches an earlier attempt submitted are paid for: a run waits for them.
    let in_batches: std::collections::HashSet<String> = if options.mode != CacheMode::Offline
        && plan.cells.iter().any(|c| suite.models[c.model].batch)
    {
        execute::BatchRegistry::open(&suite.state_dir.join(execute::BATCH_REGISTRY))?
            .pending_keys()
            .into_iter()
            .flat_map(|(_, keys)| keys)
            .collect()
    } else {
        Default::default()
    };
    let stores = Lookups {
        journal: &journal,
        cache: cache.as_ref(),
        in_batches: &in_batches,
    };
    let cells = plan
        .cells
        .iter()
        .zip(variable_prefix)
        .map(|(cell, variable_prefix)| CellEstimate {
            variable_prefix,
            ..estimate_cell(&suite, &plan, cell, options.mode, &stores)
        })
        .collect();
    let graders = suite
        .models_called_by_checks()
        .iter()
        .zip(&suite.models)
        .filter(|(called, _)| **called)
        .map(|(_, m)| m.id.clone())
        .collect();
    Ok(PlanEstimate {
        suite: suite.name.clone(),
        repeats,
        mode: options.mode,
        cells,
        graders,
    })
}

/// Where a run would find calls already paid for.
struct Lookups<'a> {
    journal: &'a Store,
    cache: Option<&'a Store>,
    /// Keys of requests in batches not collected yet.
    in_batches: &'a std::collections::HashSet<String>,
}

fn estimate_cell(
    suite: &Suite,
    plan: &Plan,
    cell: &crate::plan::Cell,
    mode: CacheMode,
    stores: &Lookups<'_>,
) -> CellEstimate {
    let Lookups {
        journal,
        cache,
        in_batches,
    } = *stores;
    let model = &suite.models[cell.model];
    let mut estimate = CellEstimate {
        id: cell.id.clone(),
        calls: 0,
        cached: 0,
        to_pay: 0,
        render_errors: 0,
        missing: 0,
        input_tokens: 0,
        output: OutputEstimate::Unbounded,
        price: model.price,
        variable_prefix: false,
        batch: model.batch && mode != CacheMode::Offline,
        in_batch: 0,
    };
    let (mut cached_output, mut cached_answers) = (0u64, 0u64);
    for &(di, ci) in &cell.cases {
        let case = &suite.datasets[di].cases[ci];
        let request = execute::planned_request(suite, cell, case);
        for repeat in 0..plan.repeats {
            estimate.calls += 1;
            let Ok(request) = &request else {
                estimate.render_errors += 1;
                continue;
            };
            let key = execute::request_key(model, request, repeat);
            // The order a run looks: its journal, then the cache.
            if let Some(entry) = journal
                .get(&key)
                .or_else(|| cache.and_then(|c| c.get(&key)))
            {
                estimate.cached += 1;
                cached_output += entry.completion.usage.output_tokens;
                cached_answers += 1;
                continue;
            }
            if mode == CacheMode::Offline {
                estimate.missing += 1;
                continue;
            }
            if estimate.batch && in_batches.contains(&key) {
                estimate.cached += 1;
                estimate.in_batch += 1;
                continue;
            }
            estimate.to_pay += 1;
            let chars: u64 = request
                .messages
                .iter()
                .map(|m| m.content.chars().count() as u64)
                .sum();
            estimate.input_tokens += chars.div_ceil(CHARS_PER_TOKEN);
        }
    }
    let max_tokens = model.params.max_tokens.or(match model.kind {
        ProviderKind::Anthropic => Some(crate::provider::anthropic::DEFAULT_MAX_TOKENS),
        _ => None,
    });
    estimate.output = match max_tokens {
        Some(n) => OutputEstimate::MaxTokens(n),
        None if cached_answers > 0 => {
            OutputEstimate::CachedMean(cached_output.div_ceil(cached_answers))
        }
        None => OutputEstimate::Unbounded,
    };
    estimate
}
