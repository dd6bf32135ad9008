//! The `anthropic` provider: Anthropic messages API.
//! (Being written; see the issue notes.)

use async_trait::async_trait;
use proximity_program::Tool;

use crate::error::{ErrorClass, ProviderError};
use crate::request::{ChatRequest, ChatResponse};
use crate::Provider;

pub struct Anthropic;

impl Anthropic {
    pub fn new(_tool: &Tool) -> Result<Self, ProviderError> {
        Err(ProviderError::new(
            ErrorClass::Config,
            "the anthropic provider is not built yet",
        ))
    }
}

#[async_trait]
impl Provider for Anthropic {
    async fn complete(&self, _request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        Err(ProviderError::new(
            ErrorClass::Config,
            "the anthropic provider is not built yet",
        ))
    }
}
