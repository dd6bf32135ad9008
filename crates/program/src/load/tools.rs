//! The `tools:` of `proximity.yaml`: each tool deserialized on its own, its provider and
//! model checked, and the `params` of a `scripted` tool (sampling ranges, rules).

use std::collections::HashMap;
use std::path::PathBuf;

use marked_yaml::types::MarkedMappingNode;
use marked_yaml::{Node, Spanned};

use super::Loader;
use crate::model::{ProviderKind, Tool};
use crate::raw::RawTool;
use crate::suggest::{did_you_mean, one_of};

/// Error classes a `scripted` rule may produce.
pub const SCRIPTED_ERRORS: [&str; 8] = [
    "auth",
    "rate_limited",
    "server",
    "timeout",
    "malformed",
    "refused",
    "context_overflow",
    "network",
];

impl Loader {
    /// The tools; each one's `fallback:` goes to `fallbacks` (tool id, fallback) for the
    /// cross-check against the tiers.
    pub(super) fn tools(
        &mut self,
        map: &MarkedMappingNode,
        fallbacks: &mut Vec<(String, Spanned<String>)>,
    ) -> Vec<Tool> {
        let mut out = Vec::new();
        let mut seen = HashMap::new();
        for node in self.list(map, "tools") {
            let Some(raw) = self.item::<RawTool>(node, "tool") else {
                continue;
            };
            if !self.dup_check(&mut seen, &raw.id, "tool") {
                continue;
            }
            let Some(provider) = ProviderKind::parse(&raw.provider) else {
                let d = self
                    .diag(
                        raw.provider.span(),
                        format!("unknown provider `{}`", raw.provider.as_str()),
                    )
                    .key("provider")
                    .expected(one_of(ProviderKind::ALL))
                    .hint(did_you_mean(&raw.provider, ProviderKind::ALL));
                self.diags.push(d);
                continue;
            };
            if matches!(provider, ProviderKind::Openai | ProviderKind::Anthropic)
                && raw.model.is_none()
            {
                let d = self
                    .diag(
                        node.span(),
                        format!("tool `{}` needs a `model`", raw.id.as_str()),
                    )
                    .key("model")
                    .expected(format!("the model name the `{provider}` endpoint serves"));
                self.diags.push(d);
            }
            self.check_params(node, &raw);
            let mut raw = raw;
            typed_arguments(node, &mut raw.params.rules);
            out.push(Tool {
                id: raw.id.as_str().to_owned(),
                provider,
                model: raw.model,
                base_url: raw.base_url,
                api_key_env: raw.api_key_env,
                model_path: raw.model_path.map(PathBuf::from),
                params: raw.params,
                capabilities: raw.capabilities,
                context_window: raw.context_window,
                price: raw.price,
                description: raw.description,
                fallback: raw.fallback.as_ref().map(|f| f.as_str().to_owned()),
            });
            if let Some(f) = raw.fallback {
                fallbacks.push((raw.id.as_str().to_owned(), f));
            }
        }
        out
    }

    fn check_params(&mut self, node: &Node, raw: &RawTool) {
        let params_span = node
            .as_mapping()
            .and_then(|m| m.get_node("params"))
            .map(|n| *n.span())
            .unwrap_or(*node.span());
        let p = &raw.params;
        if let Some(t) = p.temperature {
            if !(0.0..=2.0).contains(&t) {
                let d = self
                    .diag(&params_span, format!("temperature {t} is out of range"))
                    .key("params.temperature")
                    .expected("a number from 0 to 2");
                self.diags.push(d);
            }
        }
        if let Some(t) = p.top_p {
            if !(t > 0.0 && t <= 1.0) {
                let d = self
                    .diag(&params_span, format!("top_p {t} is out of range"))
                    .key("params.top_p")
                    .expected("a number greater than 0 and at most 1");
                self.diags.push(d);
            }
        }
        for (r, rule) in p.rules.iter().enumerate() {
            if let Some(re) = &rule.when_regex {
                if let Err(e) = regex::Regex::new(re) {
                    let d = self
                        .diag(&params_span, "invalid `when_regex` in a scripted rule")
                        .key("params.rules.when_regex")
                        .expected(format!("a valid Rust regex ({e})"));
                    self.diags.push(d);
                }
            }
            if let Some(err) = &rule.error {
                if !SCRIPTED_ERRORS.contains(&err.as_str()) {
                    let d = self
                        .diag(
                            &params_span,
                            format!("unknown error class `{err}` in a scripted rule"),
                        )
                        .key("params.rules.error")
                        .expected(one_of(SCRIPTED_ERRORS))
                        .hint(did_you_mean(err, SCRIPTED_ERRORS));
                    self.diags.push(d);
                }
            }
            if rule.reply.is_none() && rule.error.is_none() && rule.tool_calls.is_empty() {
                let d = self
                    .diag(
                        &params_span,
                        "a scripted rule needs a `reply`, `tool_calls` or an `error`",
                    )
                    .key("params.rules");
                self.diags.push(d);
            }
            for (c, call) in rule.tool_calls.iter().enumerate() {
                let at = |key: &str| call_span(node, r, c, key).unwrap_or(params_span);
                if call.name.trim().is_empty() {
                    let d = self
                        .diag(&at("name"), "a scripted tool call needs a `name`")
                        .key("params.rules.tool_calls.name")
                        .expected("the function's name, e.g. `get_weather`");
                    self.diags.push(d);
                }
                if !matches!(
                    call.arguments,
                    serde_json::Value::Null
                        | serde_json::Value::Object(_)
                        | serde_json::Value::String(_)
                ) {
                    let d = self
                        .diag(&at("arguments"), "bad `arguments` in a scripted tool call")
                        .key("params.rules.tool_calls.arguments")
                        .expected("a mapping (sent as JSON) or a string (sent as written)");
                    self.diags.push(d);
                }
            }
        }
        if raw.provider.as_str() == "scripted" && p.rules.is_empty() && p.default_reply.is_none() {
            let d = self
                .diag(
                    raw.id.span(),
                    format!(
                        "scripted tool `{}` has no `rules` and no `default_reply`",
                        raw.id.as_str()
                    ),
                )
                .key("params")
                .expected("`params.rules` (a list of `when:`/`reply:`) or `params.default_reply`");
            self.diags.push(d);
        }
    }
}

/// The span of `key` in the `call`th tool call of the `rule`th rule of a tool's `params`
/// (or of the call itself when it has no such key).
fn call_span(tool: &Node, rule: usize, call: usize, key: &str) -> Option<marked_yaml::Span> {
    let call = tool
        .as_mapping()?
        .get_node("params")?
        .as_mapping()?
        .get_node("rules")?
        .as_sequence()?
        .get(rule)?
        .as_mapping()?
        .get_node("tool_calls")?
        .as_sequence()?
        .get(call)?;
    let node = call
        .as_mapping()
        .and_then(|m| m.get_node(key))
        .unwrap_or(call);
    Some(*node.span())
}

/// The `arguments` of scripted tool calls typed as JSON (numbers, booleans, null) from the
/// YAML: serde sees every plain scalar as a string.
fn typed_arguments(tool: &Node, rules: &mut [crate::model::ScriptRule]) {
    let Some(nodes) = tool
        .as_mapping()
        .and_then(|m| m.get_node("params"))
        .and_then(Node::as_mapping)
        .and_then(|p| p.get_node("rules"))
        .and_then(Node::as_sequence)
    else {
        return;
    };
    for (rule, node) in rules.iter_mut().zip(nodes.iter()) {
        let Some(calls) = node
            .as_mapping()
            .and_then(|r| r.get_node("tool_calls"))
            .and_then(Node::as_sequence)
        else {
            continue;
        };
        for (call, node) in rule.tool_calls.iter_mut().zip(calls.iter()) {
            if let Some(args) = node.as_mapping().and_then(|c| c.get_node("arguments")) {
                if args.as_mapping().is_some() {
                    call.arguments = crate::yaml::node_to_json(args);
                }
            }
        }
    }
}
