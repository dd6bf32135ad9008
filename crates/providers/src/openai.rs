//! The `openai` provider: any OpenAI-compatible chat completions endpoint.
//! (Being written; see the issue notes.)

use async_trait::async_trait;
use proximity_program::Tool;

use crate::error::{ErrorClass, ProviderError};
use crate::request::{ChatRequest, ChatResponse};
use crate::Provider;

pub struct OpenAi;

impl OpenAi {
    pub fn new(_tool: &Tool) -> Result<Self, ProviderError> {
        Err(ProviderError::new(
            ErrorClass::Config,
            "the openai provider is not built yet",
        ))
    }
}

#[async_trait]
impl Provider for OpenAi {
    async fn complete(&self, _request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        Err(ProviderError::new(
            ErrorClass::Config,
            "the openai provider is not built yet",
        ))
    }
}
