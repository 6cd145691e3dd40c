//! Per-model rate limits: `rpm` and `tpm` as token buckets that refill continuously, plus a
//! model-wide pause when the server asks for one (a 429 with `retry-after`, or rate-limit headers
//! reporting nothing left), so in-flight calls slow down together instead of all hitting 429.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    /// False when there is no limit and no pause was ever asked for: the fast path takes no lock.
    active: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    paused_until: Option<Instant>,
}

#[derive(Debug)]
struct Bucket {
    capacity: f64,
    available: f64,
    per_sec: f64,
    updated: Instant,
}

impl Bucket {
    fn per_minute(limit: u32) -> Self {
        let capacity = f64::from(limit);
        Bucket {
            capacity,
            available: capacity,
            per_sec: capacity / 60.0,
            updated: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.available = (self.available + elapsed * self.per_sec).min(self.capacity);
        self.updated = now;
    }

    /// How long until `amount` is available. A request larger than the bucket waits for a full
    /// bucket and then goes, so it can never wait forever.
    fn wait_for(&self, amount: f64) -> Duration {
        let needed = amount.min(self.capacity) - self.available;
        if needed <= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(needed / self.per_sec).unwrap_or(Duration::MAX)
        }
    }
}

impl RateLimiter {
    pub fn new(rpm: Option<u32>, tpm: Option<u32>) -> Self {
        RateLimiter {
            active: AtomicBool::new(rpm.is_some() || tpm.is_some()),
            state: Mutex::new(State {
                requests: rpm.map(Bucket::per_minute),
                tokens: tpm.map(Bucket::per_minute),
                paused_until: None,
            }),
        }
    }

    /// Waits until one request of about `tokens` tokens may start, and takes it from the buckets.
    pub async fn acquire(&self, tokens: u64) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        loop {
            let wait = {
                let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let s = &mut *guard;
                let now = Instant::now();
                let mut wait = s
                    .paused_until
                    .map_or(Duration::ZERO, |until| until.saturating_duration_since(now));
                for (bucket, amount) in [(&mut s.requests, 1.0), (&mut s.tokens, tokens as f64)] {
                    if let Some(b) = bucket {
                        b.refill(now);
                        wait = wait.max(b.wait_for(amount));
                    }
                }
                if wait.is_zero() {
                    if let Some(b) = &mut s.requests {
                        b.available -= 1.0;
                    }
                    if let Some(b) = &mut s.tokens {
                        b.available -= (tokens as f64).min(b.capacity);
                    }
                    return;
                }
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every later `acquire` for `d` from now.
    pub fn pause_for(&self, d: Duration) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + d;
        s.paused_until = Some(s.paused_until.map_or(until, |old| old.max(until)));
        self.active.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rpm_spreads_requests_over_the_minute() {
        let limiter = RateLimiter::new(Some(60), None);
        let start = Instant::now();
        for _ in 0..60 {
            limiter.acquire(0).await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(10),
            "a full bucket serves a burst"
        );
        limiter.acquire(0).await;
        assert!(
            start.elapsed() >= Duration::from_millis(990),
            "the 61st waits for a refill"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tpm_counts_tokens_and_oversized_requests_still_go() {
        let limiter = RateLimiter::new(None, Some(600));
        let start = Instant::now();
        limiter.acquire(5000).await;
        assert!(start.elapsed() < Duration::from_millis(10));
        limiter.acquire(300).await;
        assert!(
            start.elapsed() >= Duration::from_secs(29),
            "300 tokens at 10 per second"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pause_holds_everyone() {
        let limiter = RateLimiter::new(None, None);
        let start = Instant::now();
        limiter.acquire(1).await;
        limiter.pause_for(Duration::from_secs(2));
        limiter.acquire(1).await;
        assert!(start.elapsed() >= Duration::from_secs(2));
    }
}
