//! Stub, replaced by the real implementation.
use super::*;

#[derive(Debug)]
pub struct Anthropic;

impl Anthropic {
    pub fn new(_config: &ProviderConfig, _client: reqwest::Client) -> Result<Self, BuildError> {
        unimplemented!()
    }
}

impl Provider for Anthropic {
    fn complete<'a>(
        &'a self,
        _req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        unimplemented!()
    }
}
