//! The `anthropic` provider: Anthropic's messages API, `POST {base_url}/v1/messages`.
//!
//! The key comes from the environment variable `api_key_env` names (default
//! `ANTHROPIC_API_KEY`), is required, and is read at each request. System messages go to
//! the top-level `system` field; `max_tokens`, which the API requires, defaults to 1024.
//!
//! As a forwarder ([`Forward`]) it serves a client's whole OpenAI request, translated by
//! [`crate::anthropic_openai`] (tools, structured output, images), answered and streamed
//! back as OpenAI's `chat.completion` and `chat.completion.chunk` objects. A typed
//! request with tools (an eval case's) goes through the same translation; a typed stream
//! is read through the same event translation, delta by delta.

use ::http::{HeaderMap, HeaderValue, Uri};
use async_trait::async_trait;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use proximity_program::{Role, Tool};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::anthropic_openai::{self, StreamTranslator};
use crate::error::{ErrorClass, ProviderError};
use crate::forward::{ChunkStream, Forward, ForwardRequest};
use crate::http::{self, Upstream};
use crate::openai::ChunkOutcome;
use crate::request::{ChatRequest, ChatResponse, Usage};
use crate::stream::{ChatStream, StreamEnd, StreamEvent};
use crate::transport::Transport;
use crate::Provider;

/// Where requests go when a tool names no `base_url`.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The variable holding the key when a tool names no `api_key_env`.
pub const DEFAULT_KEY_ENV: &str = "ANTHROPIC_API_KEY";
/// The API version sent in `anthropic-version`.
pub const API_VERSION: &str = "2023-06-01";
/// `max_tokens` when the tool sets none (the API requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// A client of Anthropic's messages API, for one tool.
pub struct Anthropic {
    transport: Transport,
    url: Uri,
    model: String,
    key_env: String,
    tool_id: String,
}

impl Anthropic {
    /// The provider for `tool`. Fails (config) without a `model`, with a malformed
    /// `base_url`, or when the key variable is unset.
    pub fn new(tool: &Tool) -> Result<Self, ProviderError> {
        let base = tool.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        http::check_base_url(tool, base)?;
        let key_env = tool
            .api_key_env
            .clone()
            .unwrap_or_else(|| DEFAULT_KEY_ENV.to_owned());
        // Checked now so a misconfigured tool fails early; read again at each request.
        http::require_key(tool, &key_env)?;
        let url = http::endpoint(tool, &http::join_url(base, "/v1/messages"))?;
        Ok(Self {
            transport: http::transport(tool, &url)?,
            url,
            model: http::model_of(tool)?,
            key_env,
            tool_id: tool.id.clone(),
        })
    }

    /// The URL requests are sent to.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    fn headers(&self) -> Result<(HeaderMap, String), ProviderError> {
        let key = http::read_key(&self.key_env)?
            .ok_or_else(|| http::missing_key(&self.tool_id, &self.key_env))?;
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", http::secret_header(&self.key_env, &key)?);
        headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
        Ok((headers, key))
    }

    /// The translated request, or a config fault for a field the translation refuses
    /// (the gateway refuses those with a 400 before calling).
    fn translated(
        &self,
        request: &ForwardRequest,
        stream: bool,
    ) -> Result<anthropic_openai::Translated, ProviderError> {
        anthropic_openai::translate_request(&self.model, request, stream).map_err(|e| {
            ProviderError::new(ErrorClass::Config, format!("`{}`: {}", e.param, e.message))
        })
    }
}

/// The JSON body of a messages request: system messages joined into `system`, the rest
/// in order.
pub fn request_body(model: &str, request: &ChatRequest) -> Value {
    let mut system = Vec::new();
    let mut messages = Vec::new();
    for m in &request.messages {
        match m.role {
            Role::System => system.push(m.content.as_str()),
            Role::User => messages.push(json!({ "role": "user", "content": m.content })),
            Role::Assistant => {
                messages.push(json!({ "role": "assistant", "content": m.content }));
            }
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert(
        "max_tokens".into(),
        json!(request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    body.insert("messages".into(), Value::Array(messages));
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !request.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(request.stop));
    }
    Value::Object(body)
}

#[derive(Deserialize)]
struct WireResponse {
    model: Option<String>,
    content: Vec<WireBlock>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireBlock {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

/// Parse a success body. `Err` holds what was wrong with it.
pub fn parse_response(body: &str) -> Result<ChatResponse, String> {
    let wire: WireResponse = serde_json::from_str(body).map_err(|e| format!("{e}"))?;
    let text = wire
        .content
        .iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text.as_deref())
        .collect::<Vec<_>>()
        .join("");
    let refused = wire.stop_reason.as_deref() == Some("refusal");
    let finish_reason = wire.stop_reason.map(|r| match r.as_str() {
        "end_turn" | "stop_sequence" => "stop".to_owned(),
        "max_tokens" => "length".to_owned(),
        _ => r,
    });
    let usage = wire.usage.map_or(Usage::default(), |u| Usage {
        // Cached prompt tokens are prompt tokens too.
        input_tokens: u.input_tokens.unwrap_or(0)
            + u.cache_creation_input_tokens.unwrap_or(0)
            + u.cache_read_input_tokens.unwrap_or(0),
        output_tokens: u.output_tokens.unwrap_or(0),
    });
    Ok(ChatResponse {
        text,
        usage,
        model_version: wire.model,
        finish_reason,
        logprobs: None,
        refused,
        tool_calls: Vec::new(),
    })
}

#[async_trait]
impl Provider for Anthropic {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        if !request.tools.is_empty() {
            return self.complete_with_tools(request).await;
        }
        let (headers, key) = self.headers()?;
        let post = http::Post {
            transport: &self.transport,
            url: &self.url,
            headers,
            body: serde_json::to_vec(&request_body(&self.model, request)).unwrap_or_default(),
        };
        let secret = Some(key.as_str());
        http::send_and_parse(
            Upstream::Anthropic,
            post,
            secret,
            &self.key_env,
            parse_response,
        )
        .await
    }

    /// Streamed as Anthropic streams it: each text delta as it comes, through the same
    /// event translation the forwarding path uses.
    async fn complete_stream(&self, request: &ChatRequest) -> Result<ChatStream, ProviderError> {
        if !request.tools.is_empty() {
            // Text deltas cannot carry tool calls: answered whole.
            let response = self.complete(request).await?;
            return Ok(crate::stream::from_response(response));
        }
        let (headers, key) = self.headers()?;
        let mut body = request_body(&self.model, request);
        body["stream"] = json!(true);
        let post = http::Post {
            transport: &self.transport,
            url: &self.url,
            headers,
            body: serde_json::to_vec(&body).unwrap_or_default(),
        };
        let response =
            http::send_streaming(Upstream::Anthropic, post, Some(key.as_str()), &self.key_env)
                .await?;
        let events = response.into_stream().eventsource();
        let chunks = Box::pin(translated_chunks(events, StreamTranslator::new(None), key));
        Ok(Box::pin(text_events(chunks)))
    }

    fn supports_tools(&self) -> bool {
        true
    }

    fn forwarder(&self) -> Option<&dyn Forward> {
        Some(self)
    }
}

impl Anthropic {
    /// A request with tools, through the translation the gateway forwards with
    /// ([`crate::anthropic_openai`]), its answer read as OpenAI's.
    async fn complete_with_tools(
        &self,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let answer = self.forward(&as_openai_request(request)).await?;
        crate::openai::parse_response(&answer.to_string())
            .map_err(|what| http::malformed(Upstream::Anthropic, 200, &what))
    }
}

/// A typed request as the OpenAI request it stands for.
fn as_openai_request(request: &ChatRequest) -> ForwardRequest {
    let mut fields = Map::new();
    let messages = request
        .messages
        .iter()
        .map(|m| json!({ "role": m.role, "content": m.content }))
        .collect();
    fields.insert("messages".into(), Value::Array(messages));
    if let Some(t) = request.temperature {
        fields.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        fields.insert("top_p".into(), json!(p));
    }
    if !request.stop.is_empty() {
        fields.insert("stop".into(), json!(request.stop));
    }
    fields.insert("tools".into(), Value::Array(request.tools.clone()));
    if let Some(choice) = &request.tool_choice {
        fields.insert("tool_choice".into(), choice.clone());
    }
    ForwardRequest {
        fields: std::sync::Arc::new(fields),
        system: None,
        defaults: Vec::new(),
        max_tokens: request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
    }
}

/// Translated chunks as text deltas, then one `Done` once the stream has ended after
/// `message_stop` (a cut-off stream's `Err` is passed on, and ends it).
fn text_events(
    chunks: impl futures::Stream<Item = Result<Value, ProviderError>> + Send + Unpin + 'static,
) -> impl futures::Stream<Item = Result<StreamEvent, ProviderError>> + Send {
    futures::stream::unfold(
        (chunks, StreamEnd::default(), false),
        |(mut chunks, mut end, finished)| async move {
            if finished {
                return None;
            }
            loop {
                match chunks.next().await {
                    None => {
                        let done = StreamEvent::Done(std::mem::take(&mut end));
                        return Some((Ok(done), (chunks, end, true)));
                    }
                    Some(Err(e)) => return Some((Err(e), (chunks, end, true))),
                    Some(Ok(chunk)) => match crate::openai::apply_chunk_value(&chunk, &mut end) {
                        Ok(ChunkOutcome::Delta(text)) => {
                            return Some((Ok(StreamEvent::Delta(text)), (chunks, end, false)));
                        }
                        Ok(_) => continue,
                        Err(what) => {
                            let e = http::malformed(Upstream::Anthropic, 200, &what);
                            return Some((Err(e), (chunks, end, true)));
                        }
                    },
                }
            }
        },
    )
}

#[async_trait]
impl Forward for Anthropic {
    async fn forward(&self, request: &ForwardRequest) -> Result<Value, ProviderError> {
        let translated = self.translated(request, false)?;
        let (headers, key) = self.headers()?;
        let post = http::Post {
            transport: &self.transport,
            url: &self.url,
            headers,
            body: serde_json::to_vec(&translated.body).unwrap_or_default(),
        };
        let answer_tool = translated.answer_tool;
        http::send_and_parse(
            Upstream::Anthropic,
            post,
            Some(key.as_str()),
            &self.key_env,
            |body| anthropic_openai::translate_response(body, answer_tool.as_deref()),
        )
        .await
    }

    async fn forward_stream(&self, request: &ForwardRequest) -> Result<ChunkStream, ProviderError> {
        let translated = self.translated(request, true)?;
        let (headers, key) = self.headers()?;
        let post = http::Post {
            transport: &self.transport,
            url: &self.url,
            headers,
            body: serde_json::to_vec(&translated.body).unwrap_or_default(),
        };
        let response =
            http::send_streaming(Upstream::Anthropic, post, Some(key.as_str()), &self.key_env)
                .await?;
        let events = response.into_stream().eventsource();
        let translator = StreamTranslator::new(translated.answer_tool);
        Ok(Box::pin(translated_chunks(events, translator, key)))
    }
}

/// The `chat.completion.chunk`s of an Anthropic event stream, up to `message_stop`; a
/// stream cut off before it ends in an `Err`.
fn translated_chunks<S, E>(
    events: S,
    translator: StreamTranslator,
    secret: String,
) -> impl futures::Stream<Item = Result<Value, ProviderError>> + Send
where
    S: futures::Stream<Item = Result<eventsource_stream::Event, E>> + Send + Unpin + 'static,
    E: std::fmt::Display + Send,
{
    let pending: std::collections::VecDeque<Value> = std::collections::VecDeque::new();
    futures::stream::unfold(
        (events, translator, pending, false, secret),
        |(mut events, mut t, mut pending, failed, secret)| async move {
            loop {
                if let Some(chunk) = pending.pop_front() {
                    return Some((Ok(chunk), (events, t, pending, failed, secret)));
                }
                if t.finished || failed {
                    return None;
                }
                let fault = match events.next().await {
                    None => {
                        "the stream ended before `message_stop` (the answer was cut off)".to_owned()
                    }
                    Some(Err(e)) => format!(
                        "the stream was cut off: {}",
                        http::trim_message(&http::redact(&e.to_string(), Some(&secret)))
                    ),
                    Some(Ok(event)) => {
                        let data = event.data.trim();
                        if data.is_empty() {
                            continue;
                        }
                        match serde_json::from_str::<Value>(data)
                            .map_err(|e| format!("a stream event: {e}"))
                            .and_then(|v| t.event(&v))
                        {
                            Ok(chunks) => {
                                pending.extend(chunks);
                                continue;
                            }
                            Err(what) => {
                                let what = http::redact(&what, Some(&secret));
                                let e = http::malformed(Upstream::Anthropic, 200, &what);
                                return Some((Err(e), (events, t, pending, true, secret)));
                            }
                        }
                    }
                };
                let e = ProviderError::new(ErrorClass::Malformed, format!("anthropic: {fault}"));
                return Some((Err(e), (events, t, pending, true, secret)));
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proximity_program::Message;

    fn msg(role: Role, content: &str) -> Message {
        Message {
            role,
            content: content.into(),
        }
    }

    #[test]
    fn system_messages_move_to_the_top_and_max_tokens_defaults() {
        let req = ChatRequest {
            messages: vec![
                msg(Role::System, "be brief"),
                msg(Role::User, "hi"),
                msg(Role::Assistant, "hello"),
                msg(Role::System, "and polite"),
                msg(Role::User, "bye"),
            ],
            temperature: Some(0.5),
            top_p: None,
            max_tokens: None,
            seed: Some(1),
            stop: vec!["END".into()],
            grammar: None,
            logprobs: true,
            json_schema: None,
            tools: Vec::new(),
            tool_choice: None,
        };
        let b = request_body("claude-x", &req);
        assert_eq!(b["system"], "be brief\n\nand polite");
        assert_eq!(b["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(b["messages"].as_array().unwrap().len(), 3);
        assert_eq!(b["messages"][1]["role"], "assistant");
        assert_eq!(b["stop_sequences"][0], "END");
        assert_eq!(b["temperature"], 0.5);
        // Not part of the messages API.
        assert!(b.get("seed").is_none() && b.get("logprobs").is_none());
    }

    #[test]
    fn stop_reasons_map_to_finish_reasons() {
        let body = |reason: &str| {
            format!(
                r#"{{"content":[{{"type":"text","text":"a"}},{{"type":"thinking","thinking":"x"}},{{"type":"text","text":"b"}}],"stop_reason":"{reason}","model":"m","usage":{{"input_tokens":3,"output_tokens":2,"cache_read_input_tokens":4}}}}"#
            )
        };
        let r = parse_response(&body("max_tokens")).unwrap();
        assert_eq!(r.text, "ab");
        assert_eq!(r.finish_reason.as_deref(), Some("length"));
        assert_eq!(r.usage.input_tokens, 7);
        assert!(!r.refused);
        let r = parse_response(&body("end_turn")).unwrap();
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        let r = parse_response(&body("refusal")).unwrap();
        assert!(r.refused);
    }

    #[test]
    fn bodies_without_content_are_rejected() {
        assert!(parse_response(r#"{"model":"m"}"#).is_err());
        assert!(parse_response("not json").is_err());
    }
}
