//! What is sent to a provider and what comes back, independent of any wire format.

use proximity_program::{Message, Role, Tool, ToolCall};
use serde::{Deserialize, Serialize};

/// One chat completion request, already carrying the tool's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation, the tool's system prompt first where it has one.
    pub messages: Vec<Message>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u32>,
    pub seed: Option<u64>,
    pub stop: Vec<String>,
    /// GBNF grammar or `json` (local tools only).
    pub grammar: Option<String>,
    /// Ask for token log-probabilities where supported.
    pub logprobs: bool,
    /// The JSON schema the answer must satisfy (the case's `json_schema` contract). Only
    /// providers configured to constrain output use it: `local` tools with
    /// `grammar: json_schema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<serde_json::Value>,
    /// The functions the model may call (OpenAI `tools`: `{"type": "function",
    /// "function": {...}}` each), from the case. Only providers that honour them
    /// ([`crate::Provider::supports_tools`]) are sent a request with any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<serde_json::Value>,
    /// OpenAI `tool_choice` (`auto`, `none`, `required` or a named function).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<serde_json::Value>,
}

impl ChatRequest {
    /// The request a tool sends for a conversation: its system prompt and parameters.
    pub fn for_tool(tool: &Tool, conversation: &[Message]) -> Self {
        let p = &tool.params;
        let mut messages = Vec::with_capacity(conversation.len() + 1);
        if let Some(system) = &p.system {
            if conversation.first().map(|m| m.role) != Some(Role::System) {
                messages.push(Message {
                    role: Role::System,
                    content: system.clone(),
                });
            }
        }
        messages.extend_from_slice(conversation);
        Self {
            messages,
            temperature: p.temperature,
            top_p: p.top_p,
            max_tokens: p.max_tokens,
            seed: p.seed,
            stop: p.stop.clone(),
            grammar: p.grammar.clone(),
            logprobs: p.logprobs,
            json_schema: None,
            tools: Vec::new(),
            tool_choice: None,
        }
    }

    /// The text of the last user message.
    pub fn last_user_text(&self) -> &str {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.content.as_str())
            .unwrap_or("")
    }
}

/// Token counts as the provider reports them (or as counted locally).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A completed answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub text: String,
    pub usage: Usage,
    /// The model version the provider reports (e.g. `gpt-4o-2024-08-06`).
    pub model_version: Option<String>,
    pub finish_reason: Option<String>,
    /// Log-probability of each generated token, where the provider returns them.
    pub logprobs: Option<Vec<f64>>,
    /// The provider flagged the answer as a refusal (OpenAI `refusal`, Anthropic
    /// `stop_reason: refusal`).
    pub refused: bool,
    /// The functions the answer calls (OpenAI `tool_calls`), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}
