//! Stand-in; replaced by the providers branch.
use std::time::{Duration, Instant};

use super::ratelimit::RateLimiter;
use super::{ChatRequest, Completion, Provider, ProviderError};

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
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

#[derive(Debug)]
pub struct Attempted {
    pub result: Result<Completion, ProviderError>,
    pub attempts: u32,
    pub latency: Duration,
}

pub async fn complete_with_retries(
    provider: &dyn Provider,
    req: &ChatRequest,
    _policy: &RetryPolicy,
    limiter: &RateLimiter,
    timeout: Duration,
    estimated_tokens: u64,
) -> Attempted {
    limiter.acquire(estimated_tokens).await;
    let start = Instant::now();
    let result = match tokio::time::timeout(timeout, provider.complete(req)).await {
        Ok(r) => r,
        Err(_) => Err(ProviderError::Timeout(timeout)),
    };
    Attempted {
        result,
        attempts: 1,
        latency: start.elapsed(),
    }
}
