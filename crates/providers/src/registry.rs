//! Building the provider for a tool.

use std::path::Path;
use std::sync::Arc;

use proximity_program::{ProviderKind, Tool};

use crate::error::ProviderError;
use crate::Provider;

/// The provider serving `tool`. `program_root` resolves relative `model_path`s.
pub fn build(tool: &Tool, program_root: &Path) -> Result<Arc<dyn Provider>, ProviderError> {
    Ok(match tool.provider {
        ProviderKind::Scripted => Arc::new(crate::scripted::Scripted::new(tool)?),
        ProviderKind::Openai => Arc::new(crate::openai::OpenAi::new(tool)?),
        ProviderKind::Anthropic => Arc::new(crate::anthropic::Anthropic::new(tool)?),
        ProviderKind::Local => Arc::new(crate::local::Local::new(tool, program_root)?),
    })
}
