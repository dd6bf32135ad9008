//! Proximity's providers: one async trait, [`Provider`], over every backend a tool can use
//! (`openai` for any OpenAI-compatible endpoint, `anthropic`, the embedded `local` model,
//! and `scripted` for deterministic tests), with faults classified ([`ErrorClass`]) and
//! retried by [`retry::RetryPolicy`].
//!
//! API keys are read from the environment variable a tool names, at call time, and never
//! stored or logged.

pub mod anthropic;
pub mod anthropic_openai;
pub mod error;
pub mod error_chain;
pub mod forward;
pub mod http;
pub mod local;
pub mod openai;
pub mod registry;
pub mod request;
pub mod retry;
pub mod scripted;
pub mod stream;
pub mod tokens;
pub mod transport;

use async_trait::async_trait;

pub use error::{ErrorClass, ProviderError};
pub use registry::build;
pub use request::{ChatRequest, ChatResponse, Usage};
pub use retry::RetryPolicy;
pub use stream::{ChatStream, StreamEnd, StreamEvent};

/// A backend that answers chat requests.
#[async_trait]
pub trait Provider: Send + Sync {
    /// One attempt at a completion; retries are the caller's (see [`complete_with_retries`]).
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError>;

    /// One attempt at a streamed completion: text deltas, then one [`StreamEvent::Done`].
    /// An `Err` before the stream is returned means nothing was produced (safe to retry);
    /// an `Err` item inside the stream means the answer was cut off. The default answers
    /// with [`Provider::complete`] as a single delta.
    async fn complete_stream(&self, request: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let response = self.complete(request).await?;
        Ok(stream::from_response(response))
    }

    /// Whether this provider sends a request's `tools` and `tool_choice` and returns the
    /// answer's tool calls (`openai`, `scripted`). A request with tools for one that does
    /// not is refused by the caller, never sent without them.
    fn supports_tools(&self) -> bool {
        false
    }

    /// This provider as a forwarder of clients' own requests, when it can be one
    /// (`openai`); `None` otherwise.
    fn forwarder(&self) -> Option<&dyn forward::Forward> {
        None
    }
}

/// The outcome of a call with retries: the final result and how many attempts it took.
pub struct Attempted {
    pub result: Result<ChatResponse, ProviderError>,
    pub attempts: u32,
}

/// Call `provider` with a per-attempt timeout, retrying retryable faults per `policy`.
/// `on_retry` is told about each fault that will be retried and the wait before the next try.
pub async fn complete_with_retries(
    provider: &dyn Provider,
    request: &ChatRequest,
    policy: &RetryPolicy,
    timeout: std::time::Duration,
    mut on_retry: impl FnMut(u32, &ProviderError, std::time::Duration),
) -> Attempted {
    let mut attempt = 1;
    loop {
        let result = match tokio::time::timeout(timeout, provider.complete(request)).await {
            Ok(r) => r,
            Err(_) => Err(ProviderError::new(
                ErrorClass::Timeout,
                format!("no answer within {:.1}s", timeout.as_secs_f64()),
            )),
        };
        match result {
            Ok(r) => {
                return Attempted {
                    result: Ok(r),
                    attempts: attempt,
                }
            }
            Err(e) => match policy.delay(attempt, &e) {
                Some(wait) => {
                    on_retry(attempt, &e, wait);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                None => {
                    return Attempted {
                        result: Err(e),
                        attempts: attempt,
                    }
                }
            },
        }
    }
}
