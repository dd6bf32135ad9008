//! A case's `tools` (the functions the tool may call, OpenAI function definitions) and
//! `tool_choice`, parsed by hand from the marked YAML so every mistake is located; and
//! the check that `called` / `not_called` assertions name a declared function.

use std::collections::HashSet;

use marked_yaml::{Node, Span};
use serde_json::{json, Map, Value};

use super::Loader;
use crate::assertion::{Assertions, Check};
use crate::diagnostic::Diagnostic;
use crate::suggest::{did_you_mean, one_of};
use crate::yaml::{node_to_json, scalar};

/// Keys of a function definition (written bare, or under `function:` with
/// `type: function`, as OpenAI's API writes it).
const FUNCTION_KEYS: [&str; 4] = ["name", "description", "parameters", "strict"];
/// The `tool_choice` words.
const CHOICES: [&str; 3] = ["auto", "none", "required"];

/// Whether a function name is one OpenAI accepts: 1 to 64 of `a-z A-Z 0-9 _ -`.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Loader {
    /// The case's `tools` (as OpenAI `{"type": "function", "function": …}` objects) and
    /// `tool_choice`.
    pub(super) fn case_tools(
        &mut self,
        node: &Node,
        case_span: &Span,
    ) -> (Vec<Value>, Option<Value>) {
        let map = node.as_mapping();
        let mut tools = Vec::new();
        let mut names: Vec<String> = Vec::new();
        if let Some(list) = map.and_then(|m| m.get_node("tools")) {
            match list.as_sequence() {
                Some(seq) => {
                    for item in seq.iter() {
                        if let Some((name, function)) = self.function(item) {
                            if names.contains(&name) {
                                let d = self
                                    .diag(
                                        item.span(),
                                        format!("function `{name}` is declared twice"),
                                    )
                                    .key("tools")
                                    .expected("each function once");
                                self.diags.push(d);
                                continue;
                            }
                            names.push(name);
                            tools.push(json!({"type": "function", "function": function}));
                        }
                    }
                }
                None => {
                    let d = self
                        .diag(list.span(), "`tools` must be a list")
                        .key("tools")
                        .expected("a list of functions, e.g. `- { name: get_weather, parameters: { type: object } }`");
                    self.diags.push(d);
                }
            }
        }
        let choice = map
            .and_then(|m| m.get_node("tool_choice"))
            .and_then(|c| self.tool_choice(c, &names, case_span));
        (tools, choice)
    }

    /// One function definition: its name and its OpenAI `function` object.
    fn function(&mut self, item: &Node) -> Option<(String, Value)> {
        let expected = "a mapping with `name` and optionally `description`, `parameters` (a JSON Schema) and `strict`";
        let Some(mut map) = item.as_mapping() else {
            let d = self
                .diag(item.span(), "a function must be a mapping")
                .key("tools")
                .expected(expected);
            self.diags.push(d);
            return None;
        };
        // OpenAI's own shape: `{ type: function, function: { … } }`.
        if let Some(inner) = map.get_node("function") {
            for (k, v) in map.iter() {
                let ok = match k.as_str() {
                    "function" => true,
                    "type" => scalar(v) == Some("function"),
                    _ => false,
                };
                if !ok {
                    let d = self
                        .diag(
                            k.span(),
                            format!("unexpected `{}` beside `function`", k.as_str()),
                        )
                        .key(format!("tools.{}", k.as_str()))
                        .expected("`type: function` and `function: { name, … }`");
                    self.diags.push(d);
                    return None;
                }
            }
            map = inner.as_mapping().or_else(|| {
                let d = self
                    .diag(inner.span(), "`function` must be a mapping")
                    .key("tools.function")
                    .expected(expected);
                self.diags.push(d);
                None
            })?;
        }
        let mut ok = true;
        for (k, _) in map.iter() {
            if !FUNCTION_KEYS.contains(&k.as_str()) {
                let d = self
                    .diag(
                        k.span(),
                        format!("unknown key `{}` in a function", k.as_str()),
                    )
                    .key(format!("tools.{}", k.as_str()))
                    .expected(one_of(FUNCTION_KEYS))
                    .hint(did_you_mean(k.as_str(), FUNCTION_KEYS));
                self.diags.push(d);
                ok = false;
            }
        }
        let name = match map.get_node("name").and_then(scalar) {
            Some(n) if valid_name(n) => n.to_owned(),
            _ => {
                let span = map.get_node("name").map_or(*item.span(), |n| *n.span());
                let d = self
                    .diag(&span, "a function needs a `name`")
                    .key("tools.name")
                    .expected("1 to 64 letters, digits, `_` or `-`, e.g. `get_weather`");
                self.diags.push(d);
                return None;
            }
        };
        let mut function = Map::new();
        function.insert("name".into(), Value::String(name.clone()));
        if let Some(d) = map.get_node("description").and_then(scalar) {
            function.insert("description".into(), Value::String(d.to_owned()));
        }
        if let Some(p) = map.get_node("parameters") {
            let schema = node_to_json(p);
            let valid = schema.is_object() && jsonschema::validator_for(&schema).is_ok();
            if !valid {
                let why = match jsonschema::validator_for(&schema) {
                    Err(e) if schema.is_object() => format!(" ({e})"),
                    _ => String::new(),
                };
                let d = self
                    .diag(
                        p.span(),
                        format!("invalid `parameters` of function `{name}`"),
                    )
                    .key("tools.parameters")
                    .expected(format!("a JSON Schema written as a YAML mapping{why}"));
                self.diags.push(d);
                ok = false;
            }
            function.insert("parameters".into(), schema);
        }
        if let Some(s) = map.get_node("strict") {
            match scalar(s) {
                Some("true") => {
                    function.insert("strict".into(), Value::Bool(true));
                }
                Some("false") => {
                    function.insert("strict".into(), Value::Bool(false));
                }
                _ => {
                    let d = self
                        .diag(s.span(), "bad value for `strict`")
                        .key("tools.strict")
                        .expected("`true` or `false`");
                    self.diags.push(d);
                    ok = false;
                }
            }
        }
        ok.then_some((name, Value::Object(function)))
    }

    /// `tool_choice`: a word, or `{ name: <a declared function> }`.
    fn tool_choice(&mut self, node: &Node, names: &[String], case_span: &Span) -> Option<Value> {
        let expected = "`auto`, `none`, `required`, or `{ name: <a function in tools> }`";
        if names.is_empty() {
            let d = self
                .diag(node.span(), "`tool_choice` without `tools`")
                .key("tool_choice")
                .expected("a `tools:` list in the same case");
            self.diags.push(d);
            return None;
        }
        if let Some(word) = scalar(node) {
            if CHOICES.contains(&word) {
                return Some(Value::String(word.to_owned()));
            }
            let d = self
                .diag(node.span(), format!("unknown `tool_choice` `{word}`"))
                .key("tool_choice")
                .expected(expected)
                .hint(did_you_mean(word, CHOICES));
            self.diags.push(d);
            return None;
        }
        let name = node.as_mapping().and_then(|m| {
            (m.len() == 1).then_some(())?;
            m.get_node("name")
        });
        let Some(name_node) = name else {
            let d = self
                .diag(node.span(), "bad value for `tool_choice`")
                .key("tool_choice")
                .expected(expected);
            self.diags.push(d);
            return None;
        };
        let name = scalar(name_node).unwrap_or_default();
        if !names.iter().any(|n| n == name) {
            let span = if name.is_empty() {
                *case_span
            } else {
                *name_node.span()
            };
            let d = self
                .diag(
                    &span,
                    format!("`tool_choice` names unknown function `{name}`"),
                )
                .key("tool_choice.name")
                .expected(one_of(names.iter().map(String::as_str)))
                .hint(did_you_mean(name, names.iter().map(String::as_str)));
            self.diags.push(d);
            return None;
        }
        Some(json!({"type": "function", "function": {"name": name}}))
    }

    /// Each `called` / `not_called` assertion names a function of the case's `tools`.
    pub(super) fn check_called(&mut self, assertions: &Assertions, tools: &[Value]) {
        let names: HashSet<&str> = tools
            .iter()
            .filter_map(|t| t["function"]["name"].as_str())
            .collect();
        for a in assertions.iter() {
            let name = match &a.check {
                Check::Called { name, .. } | Check::NotCalled { name } => name,
                _ => continue,
            };
            if names.contains(name.as_str()) {
                continue;
            }
            let (expected, hint) = if names.is_empty() {
                ("a `tools:` list in the case declaring it".to_owned(), None)
            } else {
                (
                    one_of(names.iter().copied()),
                    did_you_mean(name, names.iter().copied()),
                )
            };
            self.diags.push(Diagnostic {
                file: a.location.file.clone(),
                line: a.location.line,
                column: a.location.column,
                key: Some(format!("assert.{}.{}", a.group.as_str(), a.check.key())),
                message: format!(
                    "`{}` names function `{name}`, not in the case's `tools`",
                    a.check.key()
                ),
                expected: Some(expected),
                hint,
                snippet: None,
            });
        }
    }
}
