//! Stand-in; replaced by the providers branch.
use std::time::Duration;

#[derive(Debug)]
pub struct RateLimiter;

impl RateLimiter {
    pub fn new(_rpm: Option<u32>, _tpm: Option<u32>) -> Self {
        RateLimiter
    }
    pub async fn acquire(&self, _tokens: u64) {}
    pub fn pause_for(&self, _d: Duration) {}
}
