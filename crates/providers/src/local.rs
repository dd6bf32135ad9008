//! The `local` provider: the embedded llama.cpp model of `proximity-local`, adapted to the
//! [`Provider`] trait. The model file is resolved (tool `model_path` > `PROXIMITY_MODEL_PATH` >
//! the pulled default), loaded once per process and shared; requests go to the model's
//! worker thread (which decodes several together), so no tokio thread ever blocks on
//! inference.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use proximity_local::{ChatMessage, GenerateRequest, LocalError, LocalModel, ModelInfo};
use proximity_program::{Role, Tool};

use crate::error::{ErrorClass, ProviderError};
use crate::request::{ChatRequest, ChatResponse, Usage};
use crate::Provider;

/// A tool served by the embedded model.
#[derive(Debug)]
pub struct Local {
    model: Arc<LocalModel>,
    context_window: u32,
}

impl Local {
    /// Resolve and load the tool's model (shared with every other tool using the same file).
    pub fn new(tool: &Tool, program_root: &Path) -> Result<Self, ProviderError> {
        let path = proximity_local::resolve_model_path(tool.model_path.as_deref(), program_root)
            .map_err(|e| provider_error(&e))?;
        let model = proximity_local::load(&path).map_err(|e| provider_error(&e))?;
        let trained = model.info().n_ctx_train;
        let context_window = tool.context_window.map_or(trained, |w| w.min(trained));
        Ok(Self {
            model,
            context_window,
        })
    }

    /// The loaded model: name, file, version, training context.
    pub fn model_info(&self) -> &ModelInfo {
        self.model.info()
    }

    /// The window requests get: the GGUF's training context, capped by the tool's
    /// `context_window`.
    pub fn context_window(&self) -> u32 {
        self.context_window
    }

    /// Tokens the model's own vocabulary splits `text` into (no chat template). This runs
    /// on the model's worker thread between decode steps, so it blocks the caller briefly:
    /// call it from a blocking task on an async runtime.
    pub fn count_tokens(&self, text: &str) -> Result<u32, ProviderError> {
        self.model
            .count_tokens(text)
            .map_err(|e| provider_error(&e))
    }

    fn generate_request(&self, request: &ChatRequest) -> Result<GenerateRequest, ProviderError> {
        let grammar = request
            .grammar
            .as_deref()
            .map(|g| proximity_local::grammar::resolve(g, request.json_schema.as_ref()))
            .transpose()
            .map_err(|e| provider_error(&e))?;
        Ok(GenerateRequest {
            messages: request
                .messages
                .iter()
                .map(|m| ChatMessage::new(role(m.role), m.content.clone()))
                .collect(),
            temperature: request.temperature.map(|t| t as f32),
            top_p: request.top_p.map(|p| p as f32),
            seed: request.seed,
            max_tokens: request.max_tokens,
            stop: request.stop.clone(),
            grammar,
            context_window: Some(self.context_window),
        })
    }
}

/// Whether the embedded model can constrain its answer to `schema`: `Err` says why not
/// (llama.cpp's converter refused a construct). Needs no model.
pub fn check_schema(schema: &serde_json::Value) -> Result<(), String> {
    proximity_local::grammar::resolve(proximity_local::grammar::JSON_SCHEMA, Some(schema))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn role(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// Classify a local-model error.
fn provider_error(e: &LocalError) -> ProviderError {
    let class = match e {
        LocalError::ContextOverflow { .. } => ErrorClass::ContextOverflow,
        LocalError::Inference(_) | LocalError::WorkerGone => ErrorClass::Server,
        LocalError::Cancelled => ErrorClass::Timeout,
        LocalError::ModelMissing { .. }
        | LocalError::NoModel
        | LocalError::Backend(_)
        | LocalError::Load { .. }
        | LocalError::Template(_)
        | LocalError::Grammar(_)
        | LocalError::Pull(_)
        | LocalError::Io(_) => ErrorClass::Config,
    };
    ProviderError::new(class, e.to_string())
}

/// Sets the flag when dropped: a request whose future is dropped (timed out) is cancelled.
struct CancelOnDrop(Option<Arc<AtomicBool>>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = &self.0 {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

#[async_trait]
impl Provider for Local {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let cancelled = Arc::new(AtomicBool::new(false));
        let guard = CancelOnDrop(Some(cancelled.clone()));
        self.model.submit_cancellable(
            self.generate_request(request)?,
            Some(cancelled),
            move |result| {
                let _ = tx.send(result);
            },
        );
        let result = rx.await.map_err(|_| {
            ProviderError::new(ErrorClass::Server, "the local model worker stopped")
        })?;
        // Finished: nothing left to cancel.
        guard.disarm();
        let g = result.map_err(|e| provider_error(&e))?;
        Ok(ChatResponse {
            text: g.text,
            usage: Usage {
                input_tokens: u64::from(g.prompt_tokens),
                output_tokens: u64::from(g.generated_tokens),
            },
            model_version: Some(self.model.info().version.clone()),
            finish_reason: Some(g.finish.as_str().to_string()),
            logprobs: request.logprobs.then_some(g.logprobs),
            refused: false,
            tool_calls: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_for_the_runner() {
        let overflow = LocalError::ContextOverflow {
            prompt_tokens: 300,
            window: 256,
        };
        assert_eq!(provider_error(&overflow).class, ErrorClass::ContextOverflow);
        assert_eq!(
            provider_error(&LocalError::NoModel).class,
            ErrorClass::Config
        );
        let grammar = LocalError::Grammar("bad".into());
        assert_eq!(provider_error(&grammar).class, ErrorClass::Config);
        let crash = LocalError::Inference("decode".into());
        assert!(provider_error(&crash).class.is_retryable());
        assert_eq!(
            provider_error(&LocalError::Cancelled).class,
            ErrorClass::Timeout
        );
    }

    #[test]
    fn missing_model_is_a_config_error_that_says_how_to_get_one() {
        let tool = Tool {
            id: "l".into(),
            provider: proximity_program::ProviderKind::Local,
            model: None,
            base_url: None,
            api_key_env: None,
            model_path: Some("models/absent.gguf".into()),
            params: Default::default(),
            capabilities: vec![],
            context_window: None,
            price: Default::default(),
            description: None,
            fallback: None,
        };
        let err = Local::new(&tool, Path::new("/nonexistent-root")).unwrap_err();
        assert_eq!(err.class, ErrorClass::Config);
        assert!(err.message.contains("absent.gguf"), "{}", err.message);
        assert!(
            err.message.contains("proximity models pull"),
            "{}",
            err.message
        );
    }

    #[test]
    fn cancel_guard_sets_the_flag_when_dropped() {
        let flag = Arc::new(AtomicBool::new(false));
        CancelOnDrop(Some(flag.clone())).disarm();
        assert!(!flag.load(Ordering::Relaxed));
        drop(CancelOnDrop(Some(flag.clone())));
        assert!(flag.load(Ordering::Relaxed));
    }
}
