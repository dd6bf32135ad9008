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
        for rule in &p.rules {
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
            if rule.reply.is_none() && rule.error.is_none() {
                let d = self
                    .diag(
                        &params_span,
                        "a scripted rule needs a `reply` or an `error`",
                    )
                    .key("params.rules");
                self.diags.push(d);
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
