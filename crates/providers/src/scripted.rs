//! The `scripted` provider: deterministic answers chosen by the tool's rules.
//!
//! The first rule whose `when` text appears in the last user message (case-insensitive),
//! or whose `when_regex` matches it, decides: it replies with text or with function calls
//! (`tool_calls`), or fails with an error class. Otherwise `default_reply` answers. Tokens
//! are counted as one per four characters (rounded up), the usual estimate for English
//! text; a call counts its name and arguments.
//!
//! It answers provider-neutral requests ([`Provider::complete`]) and, as a [`Forward`]er,
//! clients' OpenAI requests: a `chat.completion`, or a stream of `chat.completion.chunk`s
//! whose tool calls arrive as OpenAI's deltas (the call's id and name first, its
//! arguments in pieces).

use std::time::Duration;

use async_trait::async_trait;
use proximity_program::{ScriptRule, Tool, ToolCall};
use regex::Regex;
use serde_json::{json, Value};

use crate::error::{ErrorClass, ProviderError};
use crate::forward::{ChunkStream, Forward, ForwardRequest};
use crate::request::{ChatRequest, ChatResponse, Usage};
use crate::Provider;

struct CompiledRule {
    rule: ScriptRule,
    when_lower: Option<String>,
    regex: Option<Regex>,
}

/// A provider answering from rules.
pub struct Scripted {
    rules: Vec<CompiledRule>,
    default_reply: Option<String>,
    model: String,
}

/// What a rule (or the default) answers: text, or function calls.
struct Reply {
    text: String,
    tool_calls: Vec<ToolCall>,
}

impl Scripted {
    pub fn new(tool: &Tool) -> Result<Self, ProviderError> {
        let mut rules = Vec::new();
        for rule in &tool.params.rules {
            let regex = match &rule.when_regex {
                Some(re) => Some(Regex::new(re).map_err(|e| {
                    ProviderError::new(ErrorClass::Config, format!("bad when_regex: {e}"))
                })?),
                None => None,
            };
            rules.push(CompiledRule {
                when_lower: rule.when.as_ref().map(|w| w.to_lowercase()),
                regex,
                rule: rule.clone(),
            });
        }
        Ok(Self {
            rules,
            default_reply: tool.params.default_reply.clone(),
            model: tool.model.clone().unwrap_or_else(|| "scripted".to_owned()),
        })
    }

    /// The answer to a conversation whose last user message is `last`, after the rule's
    /// delay; `max_tokens` cuts a text reply.
    async fn reply(&self, last: &str, max_tokens: Option<u32>) -> Result<Reply, ProviderError> {
        let lower = last.to_lowercase();
        let rule = self.rules.iter().find(|r| {
            let when_ok = r.when_lower.as_ref().map(|w| lower.contains(w.as_str()));
            let re_ok = r.regex.as_ref().map(|re| re.is_match(last));
            match (when_ok, re_ok) {
                (None, None) => true,
                (a, b) => a.unwrap_or(true) && b.unwrap_or(true),
            }
        });
        if let Some(ms) = rule.and_then(|r| r.rule.delay_ms) {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let (mut text, tool_calls) = match rule {
            Some(r) => {
                if let Some(class) = &r.rule.error {
                    let class = ErrorClass::parse(class).unwrap_or(ErrorClass::Server);
                    return Err(ProviderError::new(class, "scripted failure"));
                }
                let calls = r
                    .rule
                    .tool_calls
                    .iter()
                    .enumerate()
                    .map(|(i, c)| ToolCall {
                        id: format!("call_{}", i + 1),
                        name: c.name.clone(),
                        arguments: c.arguments_text(),
                    })
                    .collect();
                (r.rule.reply.clone().unwrap_or_default(), calls)
            }
            None => (self.default_reply.clone().unwrap_or_default(), Vec::new()),
        };
        if let Some(max) = max_tokens {
            let max_chars = max as usize * 4;
            if text.chars().count() > max_chars {
                text = text.chars().take(max_chars).collect();
            }
        }
        Ok(Reply { text, tool_calls })
    }
}

/// Estimated tokens of a text: one per four characters, rounded up.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// Estimated output tokens of a reply: its text, and each call's name and arguments.
fn output_tokens(reply: &Reply) -> u64 {
    estimate_tokens(&reply.text)
        + reply
            .tool_calls
            .iter()
            .map(|c| estimate_tokens(&c.name) + estimate_tokens(&c.arguments))
            .sum::<u64>()
}

fn finish_reason(reply: &Reply) -> &'static str {
    if reply.tool_calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    }
}

#[async_trait]
impl Provider for Scripted {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let reply = self
            .reply(request.last_user_text(), request.max_tokens)
            .await?;
        let input: u64 = request
            .messages
            .iter()
            .map(|m| estimate_tokens(&m.content))
            .sum();
        Ok(ChatResponse {
            usage: Usage {
                input_tokens: input,
                output_tokens: output_tokens(&reply),
            },
            finish_reason: Some(finish_reason(&reply).to_owned()),
            text: reply.text,
            tool_calls: reply.tool_calls,
            model_version: Some(self.model.clone()),
            logprobs: None,
            refused: false,
        })
    }

    fn supports_tools(&self) -> bool {
        true
    }

    fn forwarder(&self) -> Option<&dyn Forward> {
        Some(self)
    }
}

/// The text of an OpenAI message's `content`: a string, or its `text` parts joined.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// A client's messages: the text of the last user message, and the input tokens of all.
fn forwarded_conversation(request: &ForwardRequest) -> (String, u64) {
    let messages = request
        .fields
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let last = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content"))
        .map(content_text)
        .unwrap_or_default();
    let system = request.system.as_deref().map_or(0, estimate_tokens);
    let input = messages
        .iter()
        .filter_map(|m| m.get("content"))
        .map(|c| estimate_tokens(&content_text(c)))
        .sum::<u64>()
        + system;
    (last, input)
}

fn usage_json(input: u64, output: u64) -> Value {
    json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output})
}

fn calls_json(calls: &[ToolCall]) -> Value {
    calls
        .iter()
        .map(|c| {
            json!({"id": c.id, "type": "function",
                "function": {"name": c.name, "arguments": c.arguments}})
        })
        .collect()
}

/// How many characters of a call's arguments each streamed delta carries.
const ARGUMENT_PIECE_CHARS: usize = 16;

impl Scripted {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0,
            "model": self.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }

    /// The chunks of a streamed reply: role, text, each call's id and name then its
    /// arguments in pieces, the finish reason, and the usage (as `include_usage` asks).
    fn chunks(&self, reply: &Reply, input: u64) -> Vec<Value> {
        let mut out = vec![self.chunk(json!({"role": "assistant", "content": ""}), None)];
        if !reply.text.is_empty() {
            out.push(self.chunk(json!({"content": reply.text}), None));
        }
        for (index, call) in reply.tool_calls.iter().enumerate() {
            out.push(self.chunk(
                json!({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                    "function": {"name": call.name, "arguments": ""}}]}),
                None,
            ));
            let chars: Vec<char> = call.arguments.chars().collect();
            for piece in chars.chunks(ARGUMENT_PIECE_CHARS) {
                let piece: String = piece.iter().collect();
                out.push(self.chunk(
                    json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                    None,
                ));
            }
        }
        out.push(self.chunk(json!({}), Some(finish_reason(reply))));
        out.push(
            json!({"id": "chatcmpl-scripted", "object": "chat.completion.chunk",
            "created": 0, "model": self.model, "choices": [],
            "usage": usage_json(input, output_tokens(reply))}),
        );
        out
    }
}

#[async_trait]
impl Forward for Scripted {
    async fn forward(&self, request: &ForwardRequest) -> Result<Value, ProviderError> {
        let (last, input) = forwarded_conversation(request);
        let reply = self.reply(&last, Some(request.max_tokens)).await?;
        let mut message = json!({"role": "assistant",
        "content": if reply.tool_calls.is_empty() || !reply.text.is_empty() {
            Value::String(reply.text.clone())
        } else {
            Value::Null
        }});
        if !reply.tool_calls.is_empty() {
            message["tool_calls"] = calls_json(&reply.tool_calls);
        }
        Ok(
            json!({"id": "chatcmpl-scripted", "object": "chat.completion", "created": 0,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(&reply)}],
            "usage": usage_json(input, output_tokens(&reply))}),
        )
    }

    async fn forward_stream(&self, request: &ForwardRequest) -> Result<ChunkStream, ProviderError> {
        let (last, input) = forwarded_conversation(request);
        let reply = self.reply(&last, Some(request.max_tokens)).await?;
        let chunks = self.chunks(&reply, input);
        Ok(Box::pin(futures::stream::iter(chunks.into_iter().map(Ok))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proximity_program::{Message, Price, ProviderKind, Role, ScriptToolCall, ToolParams};

    fn tool(rules: Vec<ScriptRule>) -> Tool {
        Tool {
            id: "s".into(),
            provider: ProviderKind::Scripted,
            model: None,
            base_url: None,
            api_key_env: None,
            model_path: None,
            params: ToolParams {
                rules,
                default_reply: Some("I don't know.".into()),
                ..Default::default()
            },
            capabilities: vec![],
            context_window: None,
            price: Price::default(),
            description: None,
            fallback: None,
        }
    }

    fn req(text: &str) -> ChatRequest {
        ChatRequest::for_tool(
            &tool(vec![]),
            &[Message {
                role: Role::User,
                content: text.into(),
            }],
        )
    }

    #[tokio::test]
    async fn first_matching_rule_answers() {
        let s = Scripted::new(&tool(vec![
            ScriptRule {
                when: Some("capital of france".into()),
                reply: Some("Paris".into()),
                ..Default::default()
            },
            ScriptRule {
                when_regex: Some(r"\d+ \+ \d+".into()),
                reply: Some("5".into()),
                ..Default::default()
            },
        ]))
        .unwrap();
        assert_eq!(
            s.complete(&req("The CAPITAL of France?"))
                .await
                .unwrap()
                .text,
            "Paris"
        );
        assert_eq!(s.complete(&req("2 + 2")).await.unwrap().text, "5");
        assert_eq!(s.complete(&req("hm")).await.unwrap().text, "I don't know.");
    }

    #[tokio::test]
    async fn error_rule_fails_with_class() {
        let s = Scripted::new(&tool(vec![ScriptRule {
            when: Some("boom".into()),
            error: Some("rate_limited".into()),
            ..Default::default()
        }]))
        .unwrap();
        let e = s.complete(&req("boom")).await.unwrap_err();
        assert_eq!(e.class, ErrorClass::RateLimited);
    }

    fn calling_tool() -> Tool {
        tool(vec![ScriptRule {
            when: Some("weather".into()),
            tool_calls: vec![
                ScriptToolCall {
                    name: "get_weather".into(),
                    arguments: serde_json::json!({"city": "Paris", "days": 3}),
                },
                ScriptToolCall {
                    name: "broken".into(),
                    arguments: serde_json::json!("{\"city\": "),
                },
            ],
            ..Default::default()
        }])
    }

    fn forward_request(text: &str) -> ForwardRequest {
        let fields = serde_json::json!({"model": "s", "messages": [
            {"role": "user", "content": [{"type": "text", "text": text}]}]});
        ForwardRequest {
            fields: std::sync::Arc::new(fields.as_object().unwrap().clone()),
            system: None,
            defaults: vec![],
            max_tokens: 100,
        }
    }

    #[tokio::test]
    async fn a_rule_replies_with_tool_calls() {
        let s = Scripted::new(&calling_tool()).unwrap();
        let r = s.complete(&req("Weather in Paris?")).await.unwrap();
        assert_eq!(r.text, "");
        assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(r.tool_calls.len(), 2);
        assert_eq!(r.tool_calls[0].name, "get_weather");
        let args: serde_json::Value = serde_json::from_str(&r.tool_calls[0].arguments).unwrap();
        assert_eq!(args, serde_json::json!({"city": "Paris", "days": 3}));
        assert_eq!(
            r.tool_calls[1].arguments, "{\"city\": ",
            "a string is sent as written"
        );
        assert!(r.usage.output_tokens > 0);
        assert!(s.supports_tools());
        // No rule calls anything: text, no calls.
        let r = s.complete(&req("hello")).await.unwrap();
        assert!(r.tool_calls.is_empty());
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    }

    #[tokio::test]
    async fn forwarded_tool_calls_are_openai_json() {
        let s = Scripted::new(&calling_tool()).unwrap();
        let v = s
            .forwarder()
            .unwrap()
            .forward(&forward_request("weather?"))
            .await
            .unwrap();
        let choice = &v["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], serde_json::Value::Null);
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["type"], "function");
        assert_eq!(call["id"], "call_1");
        assert_eq!(call["function"]["name"], "get_weather");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(
                call["function"]["arguments"].as_str().unwrap()
            )
            .unwrap(),
            serde_json::json!({"city": "Paris", "days": 3})
        );
        assert!(v["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    }

    #[tokio::test]
    async fn streamed_tool_calls_arrive_as_deltas_that_reassemble() {
        use futures::StreamExt;
        let s = Scripted::new(&calling_tool()).unwrap();
        let chunks: Vec<_> = s
            .forward_stream(&forward_request("weather?"))
            .await
            .unwrap()
            .collect()
            .await;
        let mut names = vec![String::new(); 2];
        let mut args = vec![String::new(); 2];
        let mut finish = None;
        let mut argument_deltas = 0;
        for c in chunks {
            let c = c.unwrap();
            if let Some(u) = c.get("usage") {
                assert!(u["completion_tokens"].as_u64().unwrap() > 0);
            }
            let Some(choice) = c["choices"].get(0) else {
                continue;
            };
            if let Some(f) = choice["finish_reason"].as_str() {
                finish = Some(f.to_owned());
            }
            for d in choice["delta"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let i = d["index"].as_u64().unwrap() as usize;
                if let Some(n) = d["function"]["name"].as_str() {
                    names[i].push_str(n);
                }
                if let Some(a) = d["function"]["arguments"].as_str() {
                    if !a.is_empty() {
                        argument_deltas += 1;
                    }
                    args[i].push_str(a);
                }
            }
        }
        assert_eq!(names, ["get_weather", "broken"]);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&args[0]).unwrap(),
            serde_json::json!({"city": "Paris", "days": 3})
        );
        assert_eq!(args[1], "{\"city\": ");
        assert!(argument_deltas > 2, "the arguments come in pieces");
        assert_eq!(finish.as_deref(), Some("tool_calls"));
    }

    #[tokio::test]
    async fn a_streamed_text_reply_has_no_calls() {
        use futures::StreamExt;
        let s = Scripted::new(&calling_tool()).unwrap();
        let chunks: Vec<_> = s
            .forward_stream(&forward_request("hi"))
            .await
            .unwrap()
            .collect()
            .await;
        let text: String = chunks
            .iter()
            .filter_map(|c| c.as_ref().unwrap()["choices"].get(0))
            .filter_map(|c| c["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "I don't know.");
        assert!(chunks
            .iter()
            .all(|c| c.as_ref().unwrap()["choices"][0]["delta"]
                .get("tool_calls")
                .is_none()));
    }
}
