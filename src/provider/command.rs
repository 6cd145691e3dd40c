//! Stub, replaced by the real implementation.
use super::*;

#[derive(Debug)]
pub struct CommandProvider;

impl CommandProvider {
    pub fn new(_config: &ProviderConfig) -> Result<Self, BuildError> {
        unimplemented!()
    }
}

impl Provider for CommandProvider {
    fn complete<'a>(
        &'a self,
        _req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        unimplemented!()
    }
}
