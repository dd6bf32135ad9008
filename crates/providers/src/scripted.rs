//! The `scripted` provider: deterministic answers chosen by the tool's rules.
//!
//! The first rule whose `when` text appears in the last user message (case-insensitive),
//! or whose `when_regex` matches it, decides: it replies, or fails with an error class.
//! Otherwise `default_reply` answers. Tokens are counted as one per four characters
//! (rounded up), the usual estimate for English text.

use std::time::Duration;

use async_trait::async_trait;
use proximity_program::{ScriptRule, Tool};
use regex::Regex;

use crate::error::{ErrorClass, ProviderError};
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
}

/// Estimated tokens of a text: one per four characters, rounded up.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

#[async_trait]
impl Provider for Scripted {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let last = request.last_user_text();
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
        let reply = match rule {
            Some(r) => {
                if let Some(class) = &r.rule.error {
                    let class = ErrorClass::parse(class).unwrap_or(ErrorClass::Server);
                    return Err(ProviderError::new(class, "scripted failure"));
                }
                r.rule.reply.clone().unwrap_or_default()
            }
            None => self.default_reply.clone().unwrap_or_default(),
        };
        let input: u64 = request
            .messages
            .iter()
            .map(|m| estimate_tokens(&m.content))
            .sum();
        let mut text = reply;
        if let Some(max) = request.max_tokens {
            let max_chars = max as usize * 4;
            if text.chars().count() > max_chars {
                text = text.chars().take(max_chars).collect();
            }
        }
        Ok(ChatResponse {
            usage: Usage {
                input_tokens: input,
                output_tokens: estimate_tokens(&text),
            },
            text,
            model_version: Some(self.model.clone()),
            finish_reason: Some("stop".to_owned()),
            logprobs: None,
            refused: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proximity_program::{Message, Price, ProviderKind, Role, ToolParams};

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
}
