//! One model call, graded or made by a check: the run's journal first (a resumed run pays for
//! nothing twice), then the response cache, then the provider, whose answer is persisted before
//! anyone grades it.

use std::time::Duration;

use super::store::{Entry, Store};
use super::ticket::Ticket;
use super::{Endpoint, Shared};
use crate::privacy::audit::Source;
use crate::privacy::secrets::{mask, scrub};
use crate::provider::BoxFuture;
use crate::provider::ChatRequest;
use crate::provider::retry::{Parking, complete_with_retries};
use crate::results::RateLimited;

/// Which endpoint of a model a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Api {
    Chat,
    Embeddings,
}

/// Who holds the model's concurrency permit while a call is made.
#[derive(Debug)]
pub(super) enum Permit<'a> {
    /// The driver took it (and a run-wide slot) before starting the graded call, unless the
    /// answer was to be replayed (then the call takes it if it must call after all); the call
    /// gives them back while it waits to retry, and the graded call gives the permit back before
    /// grading.
    HeldByDriver(&'a mut Ticket),
    /// The call takes it for its own duration: a check's call, so a judge is held to its own
    /// model's concurrency limit however many graded calls are being graded at once.
    Acquire,
}

/// What became of one call.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Answered now or replayed.
    Answered {
        /// Boxed: an answer (text, tool calls, limits) is much larger than a failure.
        entry: Box<Entry>,
        source: Source,
        limited: RateLimited,
    },
    /// Called, and failed after its retries; the message is free of secrets.
    Failed {
        error: String,
        attempts: u32,
        limited: RateLimited,
    },
    /// Never sent: offline without a cached response, or the model already failed fatally.
    NotCalled(String),
}

impl Outcome {
    /// How much rate limits held this call back.
    pub fn limited(&self) -> RateLimited {
        match self {
            Outcome::Answered { limited, .. } | Outcome::Failed { limited, .. } => *limited,
            Outcome::NotCalled(_) => RateLimited::default(),
        }
    }
}

/// Makes one call to model `mi` (or replays it): journal first, then the cache, then the
/// provider with retries and rate limits.
pub(super) async fn call(
    shared: &Shared,
    mi: usize,
    request: &ChatRequest,
    key: &str,
    api: Api,
    permit: Permit<'_>,
) -> Outcome {
    let model = &shared.suite.models[mi];
    if let Some(entry) = shared.opts.journal.get(key) {
        // Paid for by an earlier attempt of this run: it counts in its spend, as in the results.
        shared.spend.add(model.price.map_or(0.0, |p| {
            p.cost_of(&entry.completion.usage, entry.batch.is_some())
        }));
        return Outcome::Answered {
            entry: Box::new(entry),
            source: Source::Journal,
            limited: RateLimited::default(),
        };
    }
    if shared.opts.cache.reads()
        && let Some(entry) = shared.opts.cache_store.as_ref().and_then(|c| c.get(key))
    {
        return Outcome::Answered {
            entry: Box::new(entry),
            source: Source::Cache,
            limited: RateLimited::default(),
        };
    }
    let Some(endpoint) = &shared.endpoints[mi] else {
        return Outcome::NotCalled(format!(
            "no cached response for this call and --offline forbids calling model `{}`",
            model.id
        ));
    };
    let provider = match api {
        Api::Chat => endpoint.provider.as_ref(),
        Api::Embeddings => match &endpoint.embeddings {
            Some(p) => p.as_ref(),
            None => {
                return Outcome::NotCalled(format!(
                    "model `{}` has no embeddings endpoint",
                    model.id
                ));
            }
        },
    };
    // A check's request can be sent again by this run (the repeats of a deterministic model
    // send the same judge request), so its answer is indexed as it is stored; a graded call's
    // key, which holds its repeat, is looked up once, before the call.
    let asked_again = matches!(permit, Permit::Acquire);
    let mut own;
    let ticket: &mut Ticket = match permit {
        Permit::Acquire => {
            own = Ticket::permit_of(&endpoint.semaphore).await;
            &mut own
        }
        Permit::HeldByDriver(ticket) => {
            ticket.take_permit().await;
            ticket
        }
    };
    if let Some(reason) = endpoint.fatal.get() {
        return Outcome::NotCalled(format!(
            "not called: an earlier call to model `{}` failed: {reason}",
            model.id
        ));
    }
    // An answer that cannot be journaled could be paid for twice: no new call.
    if let Some(refusal) = shared.journal.refusal() {
        return Outcome::NotCalled(refusal);
    }
    if let Some(refusal) = shared.spend.refusal() {
        return Outcome::NotCalled(refusal);
    }

    let estimate = request
        .messages
        .iter()
        .map(|m| m.content.len() as u64 / 4)
        .sum::<u64>()
        + u64::from(model.params.max_tokens.unwrap_or(256));
    let attempted = complete_with_retries(
        provider,
        request,
        &endpoint.retry,
        &endpoint.limiter,
        model.timeout,
        estimate,
        &mut Guarded {
            ticket,
            shared,
            endpoint,
        },
    )
    .await;
    let limited = RateLimited {
        rejected: u64::from(attempted.rate_limited),
        waited_ms: duration_ms(attempted.waited),
    };
    match attempted.result {
        Ok(mut completion) => {
            endpoint.answered(tokio::time::Instant::now() - attempted.latency);
            mask_secrets(&mut completion);
            let entry = Entry {
                key: key.to_owned(),
                completion,
                latency_ms: duration_ms(attempted.latency),
                attempts: attempted.attempts,
                batch: None,
            };
            // Persist before grading: grading can be redone, a paid response cannot.
            shared
                .journal
                .save(&shared.opts.journal, &entry, asked_again);
            shared
                .spend
                .add(model.price.map_or(0.0, |p| p.cost(&entry.completion.usage)));
            if shared.opts.cache.writes()
                && let Some(cache) = &shared.opts.cache_store
            {
                save_to_cache(shared, cache, &entry, asked_again);
            }
            Outcome::Answered {
                entry: Box::new(entry),
                source: Source::Provider,
                limited,
            }
        }
        Err(err) => {
            let message = scrub(&err.to_string());
            if err.is_fatal_for_model() {
                let _ = endpoint.fatal.set(message.clone());
            }
            Outcome::Failed {
                error: message,
                attempts: attempted.attempts,
                limited,
            }
        }
    }
}

/// A call's [`Ticket`] that also refuses a retry once no new call may start: the journal
/// failed, or the model failed for good while this call waited.
struct Guarded<'a> {
    ticket: &'a mut Ticket,
    shared: &'a Shared,
    endpoint: &'a Endpoint,
}

impl Parking for Guarded<'_> {
    fn park(&mut self) {
        self.ticket.park();
    }

    fn give_up_place(&mut self) {
        self.endpoint.shrink(self.ticket);
        self.ticket.park();
    }

    fn resume(&mut self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            if self.shared.journal.refusal().is_some() || self.endpoint.fatal.get().is_some() {
                return false;
            }
            self.ticket.resume().await
        })
    }
}

/// A server or proxy that echoes the request's key in its answer must not get it journaled,
/// cached, graded into a reason or published: it is masked on arrival.
pub(super) fn mask_secrets(completion: &mut crate::provider::Completion) {
    if let std::borrow::Cow::Owned(masked) = mask(&completion.output) {
        completion.output = masked;
    }
    for call in &mut completion.tool_calls {
        if let Some(raw) = &mut call.raw_arguments
            && let std::borrow::Cow::Owned(masked) = mask(raw)
        {
            *raw = masked;
        }
        let text = call.arguments.to_string();
        if let std::borrow::Cow::Owned(masked) = mask(&text) {
            call.arguments =
                serde_json::from_str(&masked).unwrap_or(serde_json::Value::String(masked));
        }
    }
}

/// A cache that cannot be written costs the next run, not this one (the journal keeps the run
/// resumable): a warning, once. `asked_again` as for [`super::journal::JournalHealth::save`].
pub(super) fn save_to_cache(shared: &Shared, cache: &Store, entry: &Entry, asked_again: bool) {
    let saved = if asked_again {
        cache.put(entry)
    } else {
        cache.append(entry)
    };
    if let Err(err) = saved
        && !shared
            .store_warned
            .swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        tracing::warn!(
            "cannot write the response cache {err}; the run goes on (its journal keeps it resumable), but a later run may pay again for the answers not cached"
        );
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
