//! The retry loop every provider shares, as the official OpenAI and Anthropic SDKs do it:
//! 408/409/429/5xx and connection errors are retried with exponential backoff and jitter, the
//! server's `retry-after-ms`/`retry-after` wins when given, and there is a cap on attempts and on
//! the total time spent on one call.

use std::time::{Duration, Instant};

use super::ratelimit::RateLimiter;
use super::{ChatRequest, Completion, Provider, ProviderError};

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// No retry starts later than this after the first attempt.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_total: Duration::from_secs(300),
        }
    }
}

/// The outcome of a call with its retries.
#[derive(Debug)]
pub struct Attempted {
    pub result: Result<Completion, ProviderError>,
    pub attempts: u32,
    /// Duration of the last attempt: the model's latency, not our waiting.
    pub latency: Duration,
}

/// A server-requested wait longer than this is not honoured: the call fails instead.
const MAX_SERVER_WAIT: Duration = Duration::from_secs(60);

pub async fn complete_with_retries(
    provider: &dyn Provider,
    req: &ChatRequest,
    policy: &RetryPolicy,
    limiter: &RateLimiter,
    timeout: Duration,
    estimated_tokens: u64,
) -> Attempted {
    let first = Instant::now();
    let mut attempts = 0;
    loop {
        limiter.acquire(estimated_tokens).await;
        attempts += 1;
        let start = Instant::now();
        let result = match tokio::time::timeout(timeout, provider.complete(req)).await {
            Ok(result) => result,
            Err(_) => Err(ProviderError::Timeout(timeout)),
        };
        let latency = start.elapsed();
        let err = match result {
            Ok(completion) => {
                if let Some(wait) = completion.throttle {
                    limiter.pause_for(wait.min(MAX_SERVER_WAIT));
                }
                return Attempted {
                    result: Ok(completion),
                    attempts,
                    latency,
                };
            }
            Err(err) => err,
        };
        if !err.is_retryable() || attempts > policy.max_retries {
            return Attempted {
                result: Err(err),
                attempts,
                latency,
            };
        }
        let wait = match err.retry_after() {
            Some(server) if server <= MAX_SERVER_WAIT => {
                if matches!(err, ProviderError::Status { status: 429, .. }) {
                    limiter.pause_for(server);
                }
                server
            }
            Some(_) => {
                return Attempted {
                    result: Err(err),
                    attempts,
                    latency,
                };
            }
            None => backoff(policy, attempts),
        };
        if first.elapsed() + wait > policy.max_total {
            return Attempted {
                result: Err(err),
                attempts,
                latency,
            };
        }
        tracing::debug!(case = %req.case_id, attempt = attempts, wait_ms = wait.as_millis() as u64, error = %err, "retrying");
        tokio::time::sleep(wait).await;
    }
}

/// `base × 2^(n−1)`, capped, with jitter that shortens the wait by up to a quarter so many
/// clients that failed together do not retry together.
fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exp = policy
        .base_delay
        .saturating_mul(1u32 << (attempt - 1).min(16));
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
                        output: "ok".into(),
                        usage: Usage::default(),
                        finish_reason: None,
                        throttle: None,
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
        }
    }

    async fn run(errors: Vec<ProviderError>, max_retries: u32) -> Attempted {
        let provider = Script(Mutex::new(errors.into_iter().rev().collect()));
        let policy = RetryPolicy {
            max_retries,
            ..RetryPolicy::default()
        };
        complete_with_retries(
            &provider,
            &request(),
            &policy,
            &RateLimiter::new(None, None),
            Duration::from_secs(5),
            1,
        )
        .await
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
        };
        let out = run(vec![quota], 4).await;
        assert_eq!(out.attempts, 1);
        let told = ProviderError::Status {
            status: 500,
            code: None,
            message: "x".into(),
            retry_after: None,
            should_retry: Some(false),
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
                        output: "late".into(),
                        usage: Usage::default(),
                        finish_reason: None,
                        throttle: None,
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
        )
        .await;
        assert_eq!(out.attempts, 2);
        assert_eq!(out.result.map(|c| c.output).ok().as_deref(), Some("late"));
    }
}
