//! The run's spend cap (`run --max-cost`, `[gate.cost] max_run_usd`): once the money this run
//! has spent reaches it, no new model call starts. Calls in flight finish and are journaled like
//! any other, so a re-run with a higher cap resumes from the journal without paying twice.
//!
//! "Spent" is what the results file's `summary.spent_usd` counts: every answer not served from
//! the response cache, graded and judge calls alike, at the configured prices — including the
//! answers a resumed run replays from its journal, which an earlier attempt of this run paid for.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The cap was reached: the run started no call after that.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "the run reached its spend cap: {} spent of {} allowed; {} not started",
    crate::support::fmt::format_usd(*.spent_usd),
    crate::support::fmt::format_usd(*.cap_usd),
    crate::support::fmt::count_of(*.not_started as u64, "call was", "calls were")
)]
pub struct SpendCapReached {
    pub spent_usd: f64,
    pub cap_usd: f64,
    /// Calls refused because of the cap (graded and judge calls).
    pub not_started: usize,
}

#[derive(Debug, Default)]
pub(super) struct SpendMeter {
    cap: Option<f64>,
    spent: Mutex<f64>,
    refused: AtomicUsize,
}

impl SpendMeter {
    pub fn new(cap: Option<f64>) -> Self {
        SpendMeter {
            cap,
            ..Default::default()
        }
    }

    /// Counts the cost of an answer this run paid for (now, or in an attempt it resumes).
    pub fn add(&self, usd: f64) {
        if self.cap.is_some() {
            *self.spent.lock().unwrap_or_else(|e| e.into_inner()) += usd;
        }
    }

    fn spent(&self) -> f64 {
        *self.spent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why a new call may not start: `Some` once the spend has reached the cap.
    pub fn refusal(&self) -> Option<String> {
        let cap = self.cap?;
        let spent = self.spent();
        if spent < cap {
            return None;
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        Some(format!(
            "not called: the run reached its spend cap ({} spent of {} allowed)",
            crate::support::fmt::format_usd(spent),
            crate::support::fmt::format_usd(cap)
        ))
    }

    /// The cap's report, when it stopped any call.
    pub fn reached(&self) -> Option<SpendCapReached> {
        let cap = self.cap?;
        let not_started = self.refused.load(Ordering::Relaxed);
        (not_started > 0).then(|| SpendCapReached {
            spent_usd: self.spent(),
            cap_usd: cap,
            not_started,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_start_until_the_spend_reaches_the_cap() {
        let meter = SpendMeter::new(Some(0.25));
        assert_eq!(meter.refusal(), None);
        meter.add(0.1);
        meter.add(0.1);
        assert_eq!(meter.refusal(), None, "0.20 < 0.25");
        assert_eq!(meter.reached(), None);
        meter.add(0.1);
        let refusal = meter.refusal().expect("0.30 ≥ 0.25");
        assert_eq!(
            refusal,
            "not called: the run reached its spend cap ($0.30 spent of $0.25 allowed)"
        );
        assert!(meter.refusal().is_some());
        let reached = meter.reached().expect("reached");
        assert_eq!(reached.not_started, 2);
        assert_eq!(
            reached.to_string(),
            "the run reached its spend cap: $0.30 spent of $0.25 allowed; 2 calls were not started"
        );
        // No cap: nothing is ever refused.
        let free = SpendMeter::new(None);
        free.add(1e9);
        assert_eq!(free.refusal(), None);
        assert_eq!(free.reached(), None);
    }
}
