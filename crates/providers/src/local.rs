//! The `local` provider: the embedded llama.cpp model. (Being written.)

use std::path::Path;

use async_trait::async_trait;
use proximity_program::Tool;

use crate::error::{ErrorClass, ProviderError};
use crate::request::{ChatRequest, ChatResponse};
use crate::Provider;

pub struct Local;

impl Local {
    pub fn new(_tool: &Tool, _root: &Path) -> Result<Self, ProviderError> {
        Err(ProviderError::new(
            ErrorClass::Config,
            "the local provider is not built yet",
        ))
    }
}

#[async_trait]
impl Provider for Local {
    async fn complete(&self, _request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        Err(ProviderError::new(
            ErrorClass::Config,
            "the local provider is not built yet",
        ))
    }
}
