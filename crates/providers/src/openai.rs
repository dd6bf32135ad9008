//! The `openai` provider: any OpenAI-compatible chat completions endpoint (OpenAI itself,
//! vLLM, Ollama, the llama.cpp server, OpenRouter, ...): `POST {base_url}/chat/completions`.
//!
//! The key comes from the environment variable `api_key_env` names (default
//! `OPENAI_API_KEY`) and is read at each request. It is required for `api.openai.com`;
//! other endpoints get a bearer token only when the variable is set.

use async_trait::async_trait;
use proximity_program::{Role, Tool};
use reqwest::header::AUTHORIZATION;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::ProviderError;
use crate::http::{self, Upstream};
use crate::request::{ChatRequest, ChatResponse, Usage};
use crate::Provider;

/// Where requests go when a tool names no `base_url`.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The variable holding the key when a tool names no `api_key_env`.
pub const DEFAULT_KEY_ENV: &str = "OPENAI_API_KEY";

/// A client of one OpenAI-compatible endpoint, for one tool.
pub struct OpenAi {
    client: reqwest::Client,
    url: String,
    model: String,
    key_env: String,
    key_required: bool,
    tool_id: String,
}

impl OpenAi {
    /// The provider for `tool`. Fails (config) without a `model`, with a malformed
    /// `base_url`, or when the endpoint is `api.openai.com` and the key variable is unset.
    pub fn new(tool: &Tool) -> Result<Self, ProviderError> {
        let base = tool.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        http::check_base_url(tool, base)?;
        let key_env = tool
            .api_key_env
            .clone()
            .unwrap_or_else(|| DEFAULT_KEY_ENV.to_owned());
        let key_required = http::host_of(base).as_deref() == Some("api.openai.com");
        if key_required {
            // Checked now so a misconfigured tool fails before any case runs; the key
            // itself is read again at each request and never kept.
            http::require_key(tool, &key_env)?;
        }
        Ok(Self {
            client: http::client(tool)?,
            url: http::join_url(base, "/chat/completions"),
            model: http::model_of(tool)?,
            key_env,
            key_required,
            tool_id: tool.id.clone(),
        })
    }

    /// The URL requests are sent to.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The JSON body of a chat completions request.
pub fn request_body(model: &str, request: &ChatRequest) -> Value {
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            json!({ "role": role, "content": m.content })
        })
        .collect();
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages));
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(n) = request.max_tokens {
        body.insert("max_tokens".into(), json!(n));
    }
    if let Some(s) = request.seed {
        body.insert("seed".into(), json!(s));
    }
    if !request.stop.is_empty() {
        body.insert("stop".into(), json!(request.stop));
    }
    if request.logprobs {
        body.insert("logprobs".into(), json!(true));
    }
    Value::Object(body)
}

#[derive(Deserialize)]
struct WireResponse {
    model: Option<String>,
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireMessage,
    finish_reason: Option<String>,
    logprobs: Option<WireLogprobs>,
}

#[derive(Deserialize)]
struct WireMessage {
    /// A string, null, or (some compatible servers) an array of `{type, text}` parts.
    content: Option<Value>,
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct WireLogprobs {
    content: Option<Vec<WireToken>>,
}

#[derive(Deserialize)]
struct WireToken {
    logprob: f64,
}

#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

/// Parse a success body. `Err` holds what was wrong with it.
pub fn parse_response(body: &str) -> Result<ChatResponse, String> {
    let wire: WireResponse = serde_json::from_str(body).map_err(|e| format!("{e}"))?;
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| "no `choices`".to_owned())?;
    let content = match choice.message.content {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Array(parts)) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
        ),
        Some(other) => return Err(format!("`message.content` is {other}")),
    };
    let (text, mut refused) = match (content, choice.message.refusal) {
        (None, Some(refusal)) => (refusal, true),
        (Some(text), _) => (text, false),
        (None, None) => (String::new(), false),
    };
    if choice.finish_reason.as_deref() == Some("content_filter") {
        refused = true;
    }
    let usage = wire.usage.map_or(Usage::default(), |u| Usage {
        input_tokens: u.prompt_tokens.unwrap_or(0),
        output_tokens: u.completion_tokens.unwrap_or(0),
    });
    Ok(ChatResponse {
        text,
        usage,
        model_version: wire.model,
        finish_reason: choice.finish_reason,
        logprobs: choice
            .logprobs
            .and_then(|l| l.content)
            .map(|toks| toks.into_iter().map(|t| t.logprob).collect()),
        refused,
    })
}

#[async_trait]
impl Provider for OpenAi {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let key = http::read_key(&self.key_env)?;
        let mut builder = self
            .client
            .post(&self.url)
            .json(&request_body(&self.model, request));
        match &key {
            Some(k) => {
                builder = builder.header(
                    AUTHORIZATION,
                    http::secret_header(&self.key_env, &format!("Bearer {k}"))?,
                );
            }
            None if self.key_required => {
                return Err(http::missing_key(&self.tool_id, &self.key_env));
            }
            None => {}
        }
        let secret = key.as_deref();
        http::send_and_parse(
            Upstream::OpenAi,
            builder,
            secret,
            &self.key_env,
            parse_response,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proximity_program::Message;

    fn req(logprobs: bool) -> ChatRequest {
        ChatRequest {
            messages: vec![
                Message {
                    role: Role::System,
                    content: "be brief".into(),
                },
                Message {
                    role: Role::User,
                    content: "hi".into(),
                },
            ],
            temperature: Some(0.0),
            top_p: None,
            max_tokens: Some(5),
            seed: Some(7),
            stop: vec!["\n".into()],
            grammar: Some("json".into()),
            logprobs,
        }
    }

    #[test]
    fn body_carries_the_parameters_that_are_set() {
        let b = request_body("gpt-x", &req(true));
        assert_eq!(b["model"], "gpt-x");
        assert_eq!(b["messages"][0]["role"], "system");
        assert_eq!(b["messages"][1]["content"], "hi");
        assert_eq!(b["temperature"], 0.0);
        assert_eq!(b["max_tokens"], 5);
        assert_eq!(b["seed"], 7);
        assert_eq!(b["stop"][0], "\n");
        assert_eq!(b["logprobs"], true);
        assert!(b.get("top_p").is_none());
        assert!(b.get("grammar").is_none());
        assert!(request_body("m", &req(false)).get("logprobs").is_none());
    }

    #[test]
    fn refusal_and_content_filter_mark_the_answer_refused() {
        let r = parse_response(
            r#"{"choices":[{"message":{"content":null,"refusal":"I can't help"},"finish_reason":"stop"}]}"#,
        )
        .unwrap();
        assert!(r.refused);
        assert_eq!(r.text, "I can't help");
        let r = parse_response(
            r#"{"choices":[{"message":{"content":""},"finish_reason":"content_filter"}]}"#,
        )
        .unwrap();
        assert!(r.refused);
        let r =
            parse_response(r#"{"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}]}"#)
                .unwrap();
        assert!(!r.refused);
        assert_eq!(r.usage, Usage::default());
    }

    #[test]
    fn content_parts_are_joined() {
        let r = parse_response(
            r#"{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}}]}"#,
        )
        .unwrap();
        assert_eq!(r.text, "ab");
    }

    #[test]
    fn bodies_without_choices_are_rejected() {
        assert!(parse_response(r#"{"choices":[]}"#).is_err());
        assert!(parse_response(r#"{"model":"x"}"#).is_err());
        assert!(parse_response(r#"{"choices":[{"message":{"content":"tru"#).is_err());
    }
}
