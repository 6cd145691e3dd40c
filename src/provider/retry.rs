//! The retry loop every provider shares, as the official OpenAI and Anthropic SDKs do it, with
//! two budgets:
//! - **rate limits** (a 429 that waiting can fix): retried until [`RetryPolicy::rate_limit_wait`]
//!   has passed since the first attempt, each retry after the server's `retry-after-ms` /
//!   `retry-after` (at least 50 ms, doubled for each 429 in a row) stretched by a random 0–25%,
//!   so calls told the same time do not all come back at once; the limiter learns from every 429
//!   (see [`super::ratelimit`]);
//! - **faults** (408/409/5xx, connection errors, timeouts): at most
//!   [`RetryPolicy::max_retries`] retries with exponential backoff and jitter, within
//!   [`RetryPolicy::max_total`].
//!
//! Errors that waiting cannot fix (an exhausted quota, 400/401/403/404) fail at once. While a
//! call waits to retry it gives back what it holds ([`Parking`]), so other calls go meanwhile;
//! after a 429 while most responses are 429s, it gives up its place for good, so that fewer
//! calls are in flight.

use std::time::Duration;

use tokio::time::Instant;

use super::ratelimit::RateLimiter;
use super::{BoxFuture, ChatRequest, Completion, Provider, ProviderError};

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after faults (not counting rate limits).
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// No retry after a fault starts later than this after the first attempt.
    pub max_total: Duration,
    /// No retry after a rate limit starts later than this after the first attempt.
    pub rate_limit_wait: Duration,
}

/// The default of `rate_limit_wait`: a long rate-limit episode is waited out rather than turned
/// into errored cases, which would fail the gate for a reason that is not the change's.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(600);

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_total: Duration::from_secs(300),
            rate_limit_wait: DEFAULT_RATE_LIMIT_WAIT,
        }
    }
}

/// What a call holds while it is sent (its model's concurrency permit, a run-wide slot): given
/// back while it waits to retry, taken again before it does.
pub trait Parking: Send {
    fn park(&mut self);
    /// Parks after a 429 while the server rejects most calls, giving up the call's place for
    /// good where it can: fewer calls should be in flight, and a new call started in its place
    /// would only be rejected too (see `execute::Endpoint`).
    fn give_up_place(&mut self) {
        self.park();
    }
    /// Takes back what [`Parking::park`] gave; `false` when the call must not be retried after
    /// all (the run has stopped starting calls), which ends it with its last error.
    fn resume(&mut self) -> BoxFuture<'_, bool>;
}

/// Holds nothing: for tests of the loop alone.
#[cfg(test)]
#[derive(Debug)]
pub struct NoParking;

#[cfg(test)]
impl Parking for NoParking {
    fn park(&mut self) {}
    fn resume(&mut self) -> BoxFuture<'_, bool> {
        Box::pin(async { true })
    }
}

/// The outcome of a call with its retries.
#[derive(Debug)]
pub struct Attempted {
    pub result: Result<Completion, ProviderError>,
    pub attempts: u32,
    /// Duration of the last attempt: the model's latency, not our waiting.
    pub latency: Duration,
    /// Attempts the server rejected with a rate limit (429).
    pub rate_limited: u32,
    /// Time spent held back by rate limits: waiting for the pace, or out a 429.
    pub waited: Duration,
}

/// The least wait after a first 429, doubled for each further 429 of the same call.
const RATE_LIMIT_FLOOR: Duration = Duration::from_millis(50);

/// A server-requested wait after a fault longer than this is not honoured: the call fails.
const MAX_SERVER_WAIT: Duration = Duration::from_secs(60);

pub async fn complete_with_retries(
    provider: &dyn Provider,
    req: &ChatRequest,
    policy: &RetryPolicy,
    limiter: &RateLimiter,
    timeout: Duration,
    estimated_tokens: u64,
    parking: &mut dyn Parking,
) -> Attempted {
    let first = Instant::now();
    let mut attempts = 0;
    let mut faults = 0;
    let mut rate_limited = 0;
    let mut waited = Duration::ZERO;
    loop {
        let paced = Instant::now();
        limiter.acquire(estimated_tokens).await;
        waited += paced.elapsed();
        attempts += 1;
        let start = Instant::now();
        let result = match tokio::time::timeout(timeout, provider.complete(req)).await {
            Ok(result) => result,
            Err(_) => Err(ProviderError::Timeout(timeout)),
        };
        let latency = start.elapsed();
        let done = |result| Attempted {
            result,
            attempts,
            latency,
            rate_limited,
            waited,
        };
        let err = match result {
            Ok(completion) => {
                limiter.observe(&completion.limits);
                limiter.answered(start);
                return done(Ok(completion));
            }
            Err(err) => err,
        };
        if let ProviderError::Status { limits, .. } = &err {
            limiter.observe(limits);
        }
        if !err.is_retryable() {
            return done(Err(err));
        }
        let limited = matches!(err, ProviderError::Status { status: 429, .. });
        let mut counted = false;
        let (wait, budget) = if limited {
            rate_limited += 1;
            if let ProviderError::Status { limits, .. } = &err {
                counted = limiter.rejected(limits, estimated_tokens);
            }
            // A server that says "retry in 1 ms" to every caller gets a busy loop unless each
            // rejected call also backs off on its own: 50 ms, doubling, for each 429 in a row.
            let floor = RATE_LIMIT_FLOOR
                .saturating_mul(1 << (rate_limited - 1).min(16))
                .min(policy.max_delay);
            let told = err
                .retry_after()
                .unwrap_or_else(|| backoff(policy, rate_limited))
                .max(floor);
            (
                told.mul_f64(1.0 + 0.25 * fastrand::f64()),
                policy.rate_limit_wait,
            )
        } else {
            faults += 1;
            if faults > policy.max_retries {
                return done(Err(err));
            }
            match err.retry_after() {
                Some(told) if told <= MAX_SERVER_WAIT => (told, policy.max_total),
                Some(_) => return done(Err(err)),
                None => (backoff(policy, faults), policy.max_total),
            }
        };
        if first.elapsed() + wait > budget {
            return Attempted {
                result: Err(err),
                attempts,
                latency,
                rate_limited,
                waited,
            };
        }
        tracing::debug!(case = %req.case_id, attempt = attempts, wait_ms = wait.as_millis() as u64, error = %err, "retrying");
        if counted && limiter.congested() {
            parking.give_up_place();
        } else {
            parking.park();
        }
        tokio::time::sleep(wait).await;
        if limited {
            waited += wait;
        }
        if !parking.resume().await {
            return Attempted {
                result: Err(err),
                attempts,
                latency,
                rate_limited,
                waited,
            };
        }
    }
}

/// `base × 2^(n−1)`, capped, with jitter that shortens the wait by up to a quarter so many
/// clients that failed together do not retry together.
fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exp = policy
        .base_delay
        .saturating_mul(1u32 << (attempt.max(1) - 1).min(16));
    exp.min(policy.max_delay)
        .mul_f64(1.0 - 0.25 * fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{BoxFuture, CallParams, Usage};
    use std::sync::Mutex;

    /// Fails with the given errors in turn, then succeeds.
    #[derive(Debug)]
    struct Script(Mutex<Vec<ProviderError>>);

    impl Provider for Script {
        fn complete<'a>(
            &'a self,
            _req: &'a ChatRequest,
        ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
            Box::pin(async move {
                let next = self.0.lock().expect("lock").pop();
                match next {
                    Some(err) => Err(err),
                    None => Ok(Completion {
                        tool_calls: Vec::new(),
                        output: "ok".into(),
                        usage: Usage::default(),
                        finish_reason: None,
                        limits: Default::default(),
                    }),
                }
            })
        }
    }

    fn request() -> ChatRequest {
        ChatRequest {
            messages: vec![],
            params: CallParams::default(),
            vars: serde_json::json!({}),
            case_id: "c".into(),
        }
    }

    fn status(code: u16, retry_after: Option<Duration>) -> ProviderError {
        ProviderError::Status {
            status: code,
            code: None,
            message: "x".into(),
            retry_after,
            should_retry: None,
            limits: Default::default(),
        }
    }

    async fn run(errors: Vec<ProviderError>, max_retries: u32) -> Attempted {
        let policy = RetryPolicy {
            max_retries,
            ..RetryPolicy::default()
        };
        run_with(errors, policy, &mut NoParking).await
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_then_succeeds() {
        let started = tokio::time::Instant::now();
        let out = run(
            vec![
                status(429, Some(Duration::from_secs(3))),
                status(503, None),
                ProviderError::Connect("reset".into()),
            ],
            4,
        )
        .await;
        assert!(out.result.is_ok());
        assert_eq!(out.attempts, 4);
        // The server's 3 s, then backoff of at least 0.375 s and 0.75 s (jitter shortens by ≤ 25%).
        assert!(started.elapsed() >= Duration::from_millis(3000 + 375 + 750));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_retries() {
        let out = run(vec![status(500, None); 10], 2).await;
        assert_eq!(out.attempts, 3);
        assert!(matches!(
            out.result,
            Err(ProviderError::Status { status: 500, .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_client_errors_or_exhausted_quota() {
        let out = run(vec![status(401, None)], 4).await;
        assert_eq!(out.attempts, 1);
        let quota = ProviderError::Status {
            status: 429,
            code: Some("insufficient_quota".into()),
            message: "quota".into(),
            retry_after: None,
            should_retry: None,
            limits: Default::default(),
        };
        let out = run(vec![quota], 4).await;
        assert_eq!(out.attempts, 1);
        let told = ProviderError::Status {
            status: 500,
            code: None,
            message: "x".into(),
            retry_after: None,
            should_retry: Some(false),
            limits: Default::default(),
        };
        assert_eq!(run(vec![told], 4).await.attempts, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_wait_beyond_the_cap_fails_the_call() {
        let out = run(vec![status(429, Some(Duration::from_secs(3600)))], 4).await;
        assert_eq!(out.attempts, 1);
        assert!(out.result.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_attempt_times_out_and_is_retried() {
        #[derive(Debug)]
        struct SlowOnce(Mutex<bool>);
        impl Provider for SlowOnce {
            fn complete<'a>(
                &'a self,
                _req: &'a ChatRequest,
            ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
                Box::pin(async move {
                    let first = std::mem::replace(&mut *self.0.lock().expect("lock"), false);
                    if first {
                        tokio::time::sleep(Duration::from_secs(100)).await;
                    }
                    Ok(Completion {
                        tool_calls: Vec::new(),
                        output: "late".into(),
                        usage: Usage::default(),
                        finish_reason: None,
                        limits: Default::default(),
                    })
                })
            }
        }
        let out = complete_with_retries(
            &SlowOnce(Mutex::new(true)),
            &request(),
            &RetryPolicy::default(),
            &RateLimiter::new(None, None),
            Duration::from_secs(5),
            1,
            &mut NoParking,
        )
        .await;
        assert_eq!(out.attempts, 2);
        assert_eq!(out.result.map(|c| c.output).ok().as_deref(), Some("late"));
    }

    /// Counts what the loop gives back and takes again.
    #[derive(Debug)]
    struct Counting {
        parked: u32,
        gave_up: u32,
        resumed: u32,
        /// Resumes allowed before the run stops retrying.
        allowed: u32,
    }

    impl Default for Counting {
        fn default() -> Self {
            Counting {
                parked: 0,
                gave_up: 0,
                resumed: 0,
                allowed: u32::MAX,
            }
        }
    }

    impl Parking for Counting {
        fn park(&mut self) {
            self.parked += 1;
        }
        fn give_up_place(&mut self) {
            self.gave_up += 1;
        }
        fn resume(&mut self) -> BoxFuture<'_, bool> {
            self.resumed += 1;
            let go_on = self.resumed <= self.allowed;
            Box::pin(async move { go_on })
        }
    }

    async fn run_with(
        errors: Vec<ProviderError>,
        policy: RetryPolicy,
        parking: &mut dyn Parking,
    ) -> Attempted {
        run_limited(errors, policy, &RateLimiter::new(None, None), parking).await
    }

    async fn run_limited(
        errors: Vec<ProviderError>,
        policy: RetryPolicy,
        limiter: &RateLimiter,
        parking: &mut dyn Parking,
    ) -> Attempted {
        let provider = Script(Mutex::new(errors.into_iter().rev().collect()));
        complete_with_retries(
            &provider,
            &request(),
            &policy,
            limiter,
            Duration::from_secs(5),
            1,
            parking,
        )
        .await
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limits_are_waited_out_beyond_the_retry_count() {
        let started = tokio::time::Instant::now();
        let mut parking = Counting::default();
        let policy = RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        };
        let out = run_with(
            vec![status(429, Some(Duration::from_secs(1))); 5],
            policy,
            &mut parking,
        )
        .await;
        assert!(out.result.is_ok(), "{:?}", out.result);
        assert_eq!(out.attempts, 6);
        assert_eq!(out.rate_limited, 5);
        // Each wait is the server's second stretched by 0-25%, so retries told the same time
        // spread out.
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_secs(5) && elapsed <= Duration::from_millis(6_250),
            "{elapsed:?}"
        );
        assert!(out.waited >= Duration::from_secs(5), "{:?}", out.waited);
        // The call gave back what it held during every wait, and took it again.
        assert_eq!((parking.parked, parking.resumed), (5, 5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_rejected_in_a_row_backs_off_even_when_told_to_retry_at_once() {
        let started = tokio::time::Instant::now();
        let out = run_with(
            vec![status(429, Some(Duration::from_millis(1))); 3],
            RetryPolicy::default(),
            &mut Counting::default(),
        )
        .await;
        assert!(out.result.is_ok());
        // 50, 100 and 200 ms, not three times 1 ms.
        assert!(
            started.elapsed() >= Duration::from_millis(350),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_limit_that_outlasts_the_budget_errors_the_call() {
        let policy = RetryPolicy {
            rate_limit_wait: Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        let out = run_with(
            vec![status(429, Some(Duration::from_secs(2))); 10],
            policy,
            &mut Counting::default(),
        )
        .await;
        assert!(matches!(
            out.result,
            Err(ProviderError::Status { status: 429, .. })
        ));
        assert!((2..=3).contains(&out.attempts), "{}", out.attempts);
    }

    #[tokio::test(start_paused = true)]
    async fn faults_keep_their_count_cap_among_rate_limits() {
        let policy = RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        };
        let out = run_with(
            vec![
                status(500, None),
                status(429, Some(Duration::from_millis(100))),
                status(500, None),
                status(429, Some(Duration::from_millis(100))),
                status(500, None),
            ],
            policy,
            &mut Counting::default(),
        )
        .await;
        // The third fault is one retry too many; the rate limits in between did not count.
        assert_eq!(out.attempts, 5);
        assert!(matches!(
            out.result,
            Err(ProviderError::Status { status: 500, .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_that_stops_starting_calls_stops_retrying_too() {
        let mut parking = Counting {
            allowed: 1,
            ..Counting::default()
        };
        let out = run_with(
            vec![status(429, Some(Duration::from_millis(10))); 5],
            RetryPolicy::default(),
            &mut parking,
        )
        .await;
        assert_eq!(out.attempts, 2);
        assert!(matches!(
            out.result,
            Err(ProviderError::Status { status: 429, .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_gives_up_the_calls_place_only_while_most_responses_are_429s() {
        let one_429 = || vec![status(429, Some(Duration::from_millis(10)))];
        let calm = RateLimiter::new(None, None);
        let mut parking = Counting::default();
        let out = run_limited(one_429(), RetryPolicy::default(), &calm, &mut parking).await;
        assert!(out.result.is_ok());
        assert_eq!(
            (parking.parked, parking.gave_up),
            (1, 0),
            "one 429 is no saturation"
        );

        let saturated = RateLimiter::new(None, None);
        for _ in 0..8 {
            saturated.rejected(&Default::default(), 0);
        }
        let mut parking = Counting::default();
        let out = run_limited(one_429(), RetryPolicy::default(), &saturated, &mut parking).await;
        assert!(out.result.is_ok());
        assert_eq!((parking.parked, parking.gave_up), (0, 1));
    }
}
