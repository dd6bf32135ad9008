//! What a caller asks of a local model ([`GenerateRequest`], [`ChatMessage`]) and what it
//! gets back ([`Generation`], [`FinishReason`]), with the defaults a request falls back to:
//! shared by the engine that takes requests and the scheduler that decodes them.

use std::time::Duration;

/// Tokens generated when a request sets no `max_tokens`.
pub const DEFAULT_MAX_TOKENS: u32 = 512;
/// Sampling temperature when a request sets none (llama.cpp's default).
pub const DEFAULT_TEMPERATURE: f32 = 0.8;
/// Nucleus sampling threshold when a request sets none (llama.cpp's default).
pub const DEFAULT_TOP_P: f32 = 0.95;
/// One chat message, with the role as the chat template expects it (`system`, `user`,
/// `assistant`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerateRequest {
    pub messages: Vec<ChatMessage>,
    /// 0 is greedy (deterministic); `None` is [`DEFAULT_TEMPERATURE`].
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    /// Sampling seed; `None` is random.
    pub seed: Option<u64>,
    /// `None` is [`DEFAULT_MAX_TOKENS`]; generation also stops at the window.
    pub max_tokens: Option<u32>,
    /// Generation stops before the first occurrence of any of these.
    pub stop: Vec<String>,
    /// GBNF grammar text, or `json` for the built-in JSON grammar.
    pub grammar: Option<String>,
    /// The window this request may use, capped by the model's training context.
    pub context_window: Option<u32>,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// End of turn, a stop string, or a completed grammar.
    Stop,
    /// `max_tokens` or the window was reached.
    Length,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
        }
    }
}

/// A completed generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    pub text: String,
    /// Tokens in the templated prompt.
    pub prompt_tokens: u32,
    /// Tokens generated (the end-of-turn token is not counted).
    pub generated_tokens: u32,
    /// Natural-log probability of each generated token under the model (log-softmax of the raw
    /// logits, before temperature or grammar), one per generated token.
    pub logprobs: Vec<f64>,
    pub finish: FinishReason,
    /// Prompt tokens actually evaluated (the rest were reused from the previous request).
    pub prompt_evaluated: u32,
    pub prompt_time: Duration,
    pub generation_time: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons_use_openai_words() {
        assert_eq!(FinishReason::Stop.as_str(), "stop");
        assert_eq!(FinishReason::Length.as_str(), "length");
    }
}
