//! Assertions of a case: their types and their parsing from YAML.
//!
//! Assertions are grouped by what they protect (`contract`, `correct`, `safety`). Each item
//! is a one-key mapping (`- contains: Paris`), optionally wrapped in `not:` to negate it.
//! Parsing is done by hand on the marked YAML tree, so every mistake is reported with its
//! line and column and what shape was expected. Semantics live in the `eval` crate and are
//! documented in `docs/assertions.md`.

use std::fmt;

use marked_yaml::{Node, Span};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contract::{self, FormatSpec};
use crate::diagnostic::{Diagnostic, Diagnostics, SourceMap};
use crate::location::Location;
use crate::suggest::{did_you_mean, one_of};
use crate::yaml::{node_to_json, scalar};

/// What an assertion protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Structure a downstream consumer needs.
    Contract,
    /// Content.
    Correct,
    /// Refusals, leaks, PII.
    Safety,
}

impl Group {
    pub const ALL: [&'static str; 3] = ["contract", "correct", "safety"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contract => "contract",
            Self::Correct => "correct",
            Self::Safety => "safety",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "contract" => Some(Self::Contract),
            "correct" => Some(Self::Correct),
            "safety" => Some(Self::Safety),
            _ => None,
        }
    }
}

/// Whether any or all of several values must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    Any,
    All,
}

/// One check on an output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Check {
    Equals {
        value: String,
        ignore_case: bool,
    },
    Contains {
        values: Vec<String>,
        mode: Match,
        ignore_case: bool,
    },
    NotContains {
        values: Vec<String>,
        ignore_case: bool,
    },
    StartsWith {
        value: String,
    },
    Regex {
        pattern: String,
    },
    MaxLength {
        chars: usize,
    },
    MinLength {
        chars: usize,
    },
    IsJson,
    JsonSchema {
        schema: Value,
    },
    JsonPath {
        path: String,
        equals: Option<Value>,
        contains: Option<String>,
    },
    Numeric {
        value: f64,
        tolerance: f64,
    },
    MustRefuse,
    MustAbstain,
    Judge {
        rubric: String,
        tool: Option<String>,
    },
    /// CSV with a header row holding `columns`; every row has the header's field count.
    Csv {
        columns: Vec<String>,
        delimiter: char,
    },
    /// A Markdown table whose header row holds `headers`.
    MarkdownTable {
        headers: Vec<String>,
    },
    /// The output (or every value `path` selects in its JSON) parses as `spec`.
    Format {
        spec: FormatSpec,
        path: Option<String>,
    },
    /// A consumer command, given the output on standard input, exits 0.
    Command {
        argv: Vec<String>,
        timeout_secs: f64,
    },
    /// The answer calls function `name`, with arguments that match `arguments` (all of
    /// them when `exact`, at least those given otherwise) and satisfy `schema`.
    Called {
        name: String,
        arguments: Option<Value>,
        exact: bool,
        schema: Option<Value>,
    },
    /// The answer does not call function `name`.
    NotCalled {
        name: String,
    },
    /// The answer calls no function.
    NoToolCalls,
    /// The answer makes from `min` to `max` function calls.
    ToolCallCount {
        min: usize,
        max: Option<usize>,
    },
}

/// The assertion keys, as written in YAML.
pub const CHECK_KEYS: [&str; 24] = [
    "equals",
    "contains",
    "icontains",
    "not_contains",
    "starts_with",
    "regex",
    "max_length",
    "min_length",
    "is_json",
    "json_schema",
    "json_path",
    "numeric",
    "must_refuse",
    "must_abstain",
    "judge",
    "csv",
    "markdown_table",
    "format",
    "command",
    "called",
    "not_called",
    "no_tool_calls",
    "tool_calls",
    "not",
];

/// The assertion keys a workflow's `live:` checks may use: those that need no expected
/// answer, so the gateway can apply them to real traffic (`not:` around one of them too).
/// A canary leak or a PII echo is written as the risk probes write it: `not_contains`
/// with the canary or the data, or `not: { regex: … }` for a shape of personal data.
pub const LIVE_CHECK_KEYS: [&str; 7] = [
    "is_json",
    "json_schema",
    "max_length",
    "regex",
    "not_contains",
    "judge",
    "not",
];

/// Keys of `called: { … }`.
const CALLED_KEYS: [&str; 4] = ["name", "arguments", "match", "schema"];

impl Check {
    /// The key the check is written with (`called`, `json_schema`, …).
    pub fn key(&self) -> &'static str {
        match self {
            Check::Equals { .. } => "equals",
            Check::Contains {
                ignore_case: true, ..
            } => "icontains",
            Check::Contains { .. } => "contains",
            Check::NotContains { .. } => "not_contains",
            Check::StartsWith { .. } => "starts_with",
            Check::Regex { .. } => "regex",
            Check::MaxLength { .. } => "max_length",
            Check::MinLength { .. } => "min_length",
            Check::IsJson => "is_json",
            Check::JsonSchema { .. } => "json_schema",
            Check::JsonPath { .. } => "json_path",
            Check::Numeric { .. } => "numeric",
            Check::MustRefuse => "must_refuse",
            Check::MustAbstain => "must_abstain",
            Check::Judge { .. } => "judge",
            Check::Csv { .. } => "csv",
            Check::MarkdownTable { .. } => "markdown_table",
            Check::Format { .. } => "format",
            Check::Command { .. } => "command",
            Check::Called { .. } => "called",
            Check::NotCalled { .. } => "not_called",
            Check::NoToolCalls => "no_tool_calls",
            Check::ToolCallCount { .. } => "tool_calls",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(values: &[String]) -> String {
            values
                .iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
        match self {
            Check::Equals { value, ignore_case } => {
                write!(
                    f,
                    "equals{} {value:?}",
                    if *ignore_case { " (any case)" } else { "" }
                )
            }
            Check::Contains {
                values,
                mode,
                ignore_case,
            } => {
                let verb = if *ignore_case {
                    "icontains"
                } else {
                    "contains"
                };
                match (values.len(), mode) {
                    (1, _) => write!(f, "{verb} {}", list(values)),
                    (_, Match::Any) => write!(f, "{verb} any of {}", list(values)),
                    (_, Match::All) => write!(f, "{verb} all of {}", list(values)),
                }
            }
            Check::NotContains { values, .. } => write!(f, "not_contains {}", list(values)),
            Check::StartsWith { value } => write!(f, "starts_with {value:?}"),
            Check::Regex { pattern } => write!(f, "regex /{pattern}/"),
            Check::MaxLength { chars } => write!(f, "max_length {chars}"),
            Check::MinLength { chars } => write!(f, "min_length {chars}"),
            Check::IsJson => write!(f, "is_json"),
            Check::JsonSchema { .. } => write!(f, "json_schema"),
            Check::JsonPath {
                path,
                equals,
                contains,
            } => {
                write!(f, "json_path {path}")?;
                if let Some(v) = equals {
                    write!(f, " == {v}")?;
                }
                if let Some(c) = contains {
                    write!(f, " contains {c:?}")?;
                }
                Ok(())
            }
            Check::Numeric { value, tolerance } => write!(f, "numeric {value} ± {tolerance}"),
            Check::MustRefuse => write!(f, "must_refuse"),
            Check::MustAbstain => write!(f, "must_abstain"),
            Check::Judge { .. } => write!(f, "judge"),
            Check::Csv { columns, delimiter } => {
                write!(f, "csv")?;
                if *delimiter != ',' {
                    write!(f, " ({:?}-separated)", delimiter.to_string())?;
                }
                if !columns.is_empty() {
                    write!(f, " with columns {}", list(columns))?;
                }
                Ok(())
            }
            Check::MarkdownTable { headers } => {
                write!(f, "markdown_table")?;
                if !headers.is_empty() {
                    write!(f, " with headers {}", list(headers))?;
                }
                Ok(())
            }
            Check::Format { spec, path } => {
                write!(f, "format {spec}")?;
                if let Some(p) = path {
                    write!(f, " at {p}")?;
                }
                Ok(())
            }
            Check::Called {
                name,
                arguments,
                exact,
                schema,
            } => {
                write!(f, "called {name}")?;
                if let Some(a) = arguments {
                    write!(f, " with {}{a}", if *exact { "exactly " } else { "" })?;
                }
                if schema.is_some() {
                    write!(f, " (arguments by schema)")?;
                }
                Ok(())
            }
            Check::NotCalled { name } => write!(f, "not_called {name}"),
            Check::NoToolCalls => write!(f, "no_tool_calls"),
            Check::ToolCallCount { min, max } => match max {
                Some(max) if max == min => write!(f, "tool_calls {min}"),
                Some(max) => write!(f, "tool_calls {min}..{max}"),
                None => write!(f, "tool_calls at least {min}"),
            },
            Check::Command { argv, .. } => {
                // The program's own argv, shown short: the first word and a count.
                let first = argv.first().map(String::as_str).unwrap_or_default();
                match argv.len() {
                    0 | 1 => write!(f, "command {first:?}"),
                    n => write!(f, "command {first:?} (+{} args)", n - 1),
                }
            }
        }
    }
}

/// One assertion as written in a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assertion {
    pub check: Check,
    /// Passes when the check fails (written `not:`).
    pub negate: bool,
    pub group: Group,
    pub location: Location,
}

impl fmt::Display for Assertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negate {
            write!(f, "not {}", self.check)
        } else {
            write!(f, "{}", self.check)
        }
    }
}

/// The assertions of a case, by group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Assertions {
    pub contract: Vec<Assertion>,
    pub correct: Vec<Assertion>,
    pub safety: Vec<Assertion>,
}

impl Assertions {
    pub fn iter(&self) -> impl Iterator<Item = &Assertion> {
        self.contract
            .iter()
            .chain(self.correct.iter())
            .chain(self.safety.iter())
    }

    pub fn is_empty(&self) -> bool {
        self.contract.is_empty() && self.correct.is_empty() && self.safety.is_empty()
    }

    pub fn len(&self) -> usize {
        self.contract.len() + self.correct.len() + self.safety.len()
    }
}

/// Parse the `assert:` node of a case. Problems go to `diags`; what parsed is returned.
pub fn parse_assertions(sources: &SourceMap, node: &Node, diags: &mut Diagnostics) -> Assertions {
    parse_groups(sources, node, "assert", diags)
}

/// Parse a mapping of assertion groups written under `root` (`assert` of a case, `live`
/// of a workflow): errors name their keys under `root`.
pub fn parse_groups(
    sources: &SourceMap,
    node: &Node,
    root: &str,
    diags: &mut Diagnostics,
) -> Assertions {
    let mut out = Assertions::default();
    let Some(map) = node.as_mapping() else {
        diags.push(
            Diagnostic::at(
                sources,
                node.span(),
                format!("`{root}` must be a mapping of groups"),
            )
            .key(root.to_owned())
            .expected("a mapping with `contract`, `correct` and/or `safety` lists"),
        );
        return out;
    };
    for (key, value) in map.iter() {
        let Some(group) = Group::parse(key.as_str()) else {
            diags.push(
                Diagnostic::at(
                    sources,
                    key.span(),
                    format!("unknown assertion group `{}`", key.as_str()),
                )
                .key(format!("{root}.{}", key.as_str()))
                .expected(one_of(Group::ALL))
                .hint(did_you_mean(key.as_str(), Group::ALL)),
            );
            continue;
        };
        let Some(seq) = value.as_sequence() else {
            diags.push(
                Diagnostic::at(
                    sources,
                    value.span(),
                    format!("`{root}.{}` must be a list", group.as_str()),
                )
                .key(format!("{root}.{}", group.as_str()))
                .expected("a list of assertions, e.g. `- contains: Paris`"),
            );
            continue;
        };
        for item in seq.iter() {
            match parse_item(sources, item, root, group) {
                Ok(a) => match group {
                    Group::Contract => out.contract.push(a),
                    Group::Correct => out.correct.push(a),
                    Group::Safety => out.safety.push(a),
                },
                Err(d) => diags.push(*d),
            }
        }
    }
    // Held for the whole run, once per case: no spare capacity (a suite of 100,000 cases
    // kept ~40 MB of it).
    out.contract.shrink_to_fit();
    out.correct.shrink_to_fit();
    out.safety.shrink_to_fit();
    out
}

type Res<T> = Result<T, Box<Diagnostic>>;

fn location(sources: &SourceMap, span: &Span) -> Location {
    sources.location(span)
}

fn parse_item(sources: &SourceMap, item: &Node, root: &str, group: Group) -> Res<Assertion> {
    let err = |span: &Span, msg: String| Box::new(Diagnostic::at(sources, span, msg));
    let Some(map) = item.as_mapping() else {
        return Err(Box::new(
            Diagnostic::at(
                sources,
                item.span(),
                "an assertion must be a one-key mapping",
            )
            .key(format!("{root}.{}", group.as_str()))
            .expected("e.g. `- contains: Paris` or `- not: { regex: '\\d' }`"),
        ));
    };
    if map.len() != 1 {
        return Err(Box::new(
            Diagnostic::at(
                sources,
                item.span(),
                format!(
                    "an assertion must have exactly one key, found {}",
                    map.len()
                ),
            )
            .key(format!("{root}.{}", group.as_str()))
            .expected(format!("one of {}", one_of(CHECK_KEYS))),
        ));
    }
    let Some((key, value)) = map.iter().next() else {
        return Err(err(item.span(), "empty assertion".into()));
    };
    let name = key.as_str();
    if name == "not" {
        let inner = parse_item(sources, value, root, group)?;
        return Ok(Assertion {
            negate: !inner.negate,
            location: location(sources, key.span()),
            ..inner
        });
    }
    let check = parse_check(sources, name, key.span(), value, root, group)?;
    Ok(Assertion {
        check,
        negate: false,
        group,
        location: location(sources, key.span()),
    })
}

/// Whether `pattern` compiles, remembering the patterns that did: a suite repeats a few
/// patterns over thousands of cases, and compiling one costs far more than the lookup.
fn validate_regex(pattern: &str) -> Result<(), regex::Error> {
    thread_local! {
        static VALID: std::cell::RefCell<std::collections::HashSet<String>> = Default::default();
    }
    if VALID.with(|valid| valid.borrow().contains(pattern)) {
        return Ok(());
    }
    regex::Regex::new(pattern)?;
    VALID.with(|valid| {
        let mut valid = valid.borrow_mut();
        if valid.len() >= 4096 {
            valid.clear();
        }
        valid.insert(pattern.to_owned());
    });
    Ok(())
}

fn expect(sources: &SourceMap, node: &Node, name: &str, expected: &str) -> Box<Diagnostic> {
    Box::new(
        Diagnostic::at(sources, node.span(), format!("bad value for `{name}`"))
            .key(name.to_owned())
            .expected(expected.to_owned()),
    )
}

fn string_list(node: &Node) -> Option<Vec<String>> {
    if let Some(s) = scalar(node) {
        return Some(vec![s.to_owned()]);
    }
    node.as_sequence()?
        .iter()
        .map(|n| scalar(n).map(str::to_owned))
        .collect()
}

fn number(node: &Node) -> Option<f64> {
    scalar(node)?.trim().parse::<f64>().ok()
}

fn truthy(node: &Node) -> Option<bool> {
    match scalar(node)? {
        "true" | "yes" | "on" => Some(true),
        "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_check(
    sources: &SourceMap,
    name: &str,
    key_span: &Span,
    value: &Node,
    root: &str,
    group: Group,
) -> Res<Check> {
    let e = |expected: &str| expect(sources, value, name, expected);
    let flag = |check: Check| match truthy(value) {
        Some(true) => Ok(check),
        Some(false) => Err(Box::new(
            Diagnostic::at(
                sources,
                value.span(),
                format!("`{name}: false` checks nothing"),
            )
            .key(name.to_owned())
            .expected("`true` (use `not:` to negate an assertion)"),
        )),
        None => Err(e("`true`")),
    };
    match name {
        "equals" => {
            if let Some(s) = scalar(value) {
                return Ok(Check::Equals {
                    value: s.to_owned(),
                    ignore_case: false,
                });
            }
            let map = value
                .as_mapping()
                .ok_or_else(|| e("a string, or `{ value: ..., ignore_case: true }`"))?;
            let v = map
                .get_node("value")
                .and_then(scalar)
                .ok_or_else(|| e("a mapping with a string `value`"))?;
            let ignore_case = map
                .get_node("ignore_case")
                .and_then(truthy)
                .unwrap_or(false);
            Ok(Check::Equals {
                value: v.to_owned(),
                ignore_case,
            })
        }
        "contains" | "icontains" => {
            let ignore_case = name == "icontains";
            let expected = "a string, a list of strings (all must appear), or `{ any: [...] }` / `{ all: [...] }`";
            if let Some(values) = string_list(value) {
                if values.is_empty() {
                    return Err(e(expected));
                }
                return Ok(Check::Contains {
                    values,
                    mode: Match::All,
                    ignore_case,
                });
            }
            let map = value.as_mapping().ok_or_else(|| e(expected))?;
            let (mode, node) = match (map.get_node("any"), map.get_node("all")) {
                (Some(n), None) => (Match::Any, n),
                (None, Some(n)) => (Match::All, n),
                _ => return Err(e(expected)),
            };
            let values = string_list(node).ok_or_else(|| e(expected))?;
            Ok(Check::Contains {
                values,
                mode,
                ignore_case,
            })
        }
        "not_contains" => Ok(Check::NotContains {
            values: string_list(value).ok_or_else(|| e("a string or a list of strings"))?,
            ignore_case: true,
        }),
        "starts_with" => Ok(Check::StartsWith {
            value: scalar(value).ok_or_else(|| e("a string"))?.to_owned(),
        }),
        "regex" => {
            let pattern = scalar(value).ok_or_else(|| e("a regular expression string"))?;
            if let Err(err) = validate_regex(pattern) {
                return Err(Box::new(
                    Diagnostic::at(sources, value.span(), "invalid regular expression")
                        .key("regex")
                        .expected(format!("a valid Rust regex ({err})")),
                ));
            }
            Ok(Check::Regex {
                pattern: pattern.to_owned(),
            })
        }
        "max_length" | "min_length" => {
            let chars = scalar(value)
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| e("a whole number of characters"))?;
            Ok(if name == "max_length" {
                Check::MaxLength { chars }
            } else {
                Check::MinLength { chars }
            })
        }
        "is_json" => flag(Check::IsJson),
        "must_refuse" => flag(Check::MustRefuse),
        "must_abstain" => flag(Check::MustAbstain),
        "json_schema" => {
            let schema = node_to_json(value);
            if !schema.is_object() {
                return Err(e("a JSON Schema written as a YAML mapping"));
            }
            if let Err(err) = jsonschema::validator_for(&schema) {
                return Err(Box::new(
                    Diagnostic::at(sources, value.span(), "invalid JSON Schema")
                        .key("json_schema")
                        .expected(format!("a valid JSON Schema ({err})")),
                ));
            }
            Ok(Check::JsonSchema { schema })
        }
        "json_path" => {
            let expected =
                "`{ path: '$.field', equals: <value> }` or `{ path: ..., contains: <text> }`";
            let map = value.as_mapping().ok_or_else(|| e(expected))?;
            for (k, _) in map.iter() {
                if !["path", "equals", "contains"].contains(&k.as_str()) {
                    return Err(Box::new(
                        Diagnostic::at(
                            sources,
                            k.span(),
                            format!("unknown key `{}` in `json_path`", k.as_str()),
                        )
                        .key(format!("json_path.{}", k.as_str()))
                        .expected(one_of(["path", "equals", "contains"]))
                        .hint(did_you_mean(k.as_str(), ["path", "equals", "contains"])),
                    ));
                }
            }
            let path = map
                .get_node("path")
                .and_then(scalar)
                .ok_or_else(|| e(expected))?;
            if let Err(err) = serde_json_path::JsonPath::parse(path) {
                return Err(Box::new(
                    Diagnostic::at(sources, value.span(), "invalid JSONPath")
                        .key("json_path.path")
                        .expected(format!("an RFC 9535 JSONPath such as `$.total` ({err})")),
                ));
            }
            let equals = map.get_node("equals").map(node_to_json);
            let contains = map.get_node("contains").and_then(scalar).map(str::to_owned);
            Ok(Check::JsonPath {
                path: path.to_owned(),
                equals,
                contains,
            })
        }
        "numeric" => {
            let expected = "a number, or `{ value: <number>, tolerance: <number> }`";
            if let Some(v) = number(value) {
                return Ok(Check::Numeric {
                    value: v,
                    tolerance: 0.0,
                });
            }
            let map = value.as_mapping().ok_or_else(|| e(expected))?;
            let v = map
                .get_node("value")
                .and_then(number)
                .ok_or_else(|| e(expected))?;
            let tolerance = match map.get_node("tolerance") {
                Some(n) => number(n).ok_or_else(|| e(expected))?.abs(),
                None => 0.0,
            };
            Ok(Check::Numeric {
                value: v,
                tolerance,
            })
        }
        "judge" => {
            let expected = "a rubric string, or `{ rubric: ..., tool: <tool id> }`";
            if let Some(s) = scalar(value) {
                return Ok(Check::Judge {
                    rubric: s.to_owned(),
                    tool: None,
                });
            }
            let map = value.as_mapping().ok_or_else(|| e(expected))?;
            let rubric = map
                .get_node("rubric")
                .and_then(scalar)
                .ok_or_else(|| e(expected))?;
            let tool = map.get_node("tool").and_then(scalar).map(str::to_owned);
            Ok(Check::Judge {
                rubric: rubric.to_owned(),
                tool,
            })
        }
        "csv" => {
            let (columns, delimiter) = contract::parse_csv(sources, value)?;
            Ok(Check::Csv { columns, delimiter })
        }
        "markdown_table" => Ok(Check::MarkdownTable {
            headers: contract::parse_markdown_table(sources, value)?,
        }),
        "format" => {
            let (spec, path) = contract::parse_format(sources, value)?;
            Ok(Check::Format { spec, path })
        }
        "command" => {
            let (argv, timeout_secs) = contract::parse_command(sources, value)?;
            Ok(Check::Command { argv, timeout_secs })
        }
        "called" => parse_called(sources, value),
        "not_called" => Ok(Check::NotCalled {
            name: function_name(value)
                .ok_or_else(|| e("a function name, e.g. `delete_account`"))?,
        }),
        "no_tool_calls" => flag(Check::NoToolCalls),
        "tool_calls" => {
            let expected = "a whole number of calls, or `{ min: <n>, max: <n> }`";
            let whole = |n: &Node| scalar(n).and_then(|s| s.trim().parse::<usize>().ok());
            if let Some(n) = whole(value) {
                return Ok(Check::ToolCallCount {
                    min: n,
                    max: Some(n),
                });
            }
            let map = value.as_mapping().ok_or_else(|| e(expected))?;
            for (k, _) in map.iter() {
                if !["min", "max"].contains(&k.as_str()) {
                    return Err(unknown_key(sources, k, "tool_calls", &["min", "max"]));
                }
            }
            let min = match map.get_node("min") {
                Some(n) => whole(n).ok_or_else(|| e(expected))?,
                None => 0,
            };
            let max = match map.get_node("max") {
                Some(n) => Some(whole(n).ok_or_else(|| e(expected))?),
                None => None,
            };
            if max.is_some_and(|m| m < min) || (map.get_node("min").is_none() && max.is_none()) {
                return Err(e(expected));
            }
            Ok(Check::ToolCallCount { min, max })
        }
        other => Err(Box::new(
            Diagnostic::at(sources, key_span, format!("unknown assertion `{other}`"))
                .key(format!("{root}.{}.{other}", group.as_str()))
                .expected(one_of(CHECK_KEYS))
                .hint(did_you_mean(other, CHECK_KEYS)),
        )),
    }
}

fn unknown_key(
    sources: &SourceMap,
    k: &marked_yaml::types::MarkedScalarNode,
    check: &str,
    allowed: &[&str],
) -> Box<Diagnostic> {
    Box::new(
        Diagnostic::at(
            sources,
            k.span(),
            format!("unknown key `{}` in `{check}`", k.as_str()),
        )
        .key(format!("{check}.{}", k.as_str()))
        .expected(one_of(allowed.iter().copied()))
        .hint(did_you_mean(k.as_str(), allowed.iter().copied())),
    )
}

/// A function name as an assertion writes it.
fn function_name(node: &Node) -> Option<String> {
    scalar(node)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `called: NAME` or `called: { name, arguments, match: subset | exact, schema }`.
fn parse_called(sources: &SourceMap, value: &Node) -> Res<Check> {
    let expected = "a function name, or `{ name: <function>, arguments: { … }, match: subset | exact, schema: { … } }`";
    let e = || expect(sources, value, "called", expected);
    if let Some(name) = function_name(value) {
        return Ok(Check::Called {
            name,
            arguments: None,
            exact: false,
            schema: None,
        });
    }
    let map = value.as_mapping().ok_or_else(e)?;
    for (k, _) in map.iter() {
        if !CALLED_KEYS.contains(&k.as_str()) {
            return Err(unknown_key(sources, k, "called", &CALLED_KEYS));
        }
    }
    let name = map.get_node("name").and_then(function_name).ok_or_else(e)?;
    let arguments = match map.get_node("arguments") {
        Some(a) if a.as_mapping().is_some() => Some(node_to_json(a)),
        Some(a) => {
            return Err(expect(
                sources,
                a,
                "called.arguments",
                "the arguments as a mapping, e.g. `{ city: Paris }`",
            ))
        }
        None => None,
    };
    let exact = match map.get_node("match") {
        None => false,
        Some(m) => match scalar(m) {
            Some("subset") => false,
            Some("exact") => true,
            other => {
                let word = other.unwrap_or_default();
                return Err(Box::new(
                    Diagnostic::at(sources, m.span(), format!("unknown `match` `{word}`"))
                        .key("called.match")
                        .expected(one_of(["subset", "exact"]))
                        .hint(did_you_mean(word, ["subset", "exact"])),
                ));
            }
        },
    };
    if exact && arguments.is_none() {
        return Err(expect(
            sources,
            value,
            "called.match",
            "`arguments` to match exactly",
        ));
    }
    let schema = match map.get_node("schema") {
        None => None,
        Some(s) => {
            let schema = node_to_json(s);
            if !schema.is_object() {
                return Err(expect(
                    sources,
                    s,
                    "called.schema",
                    "a JSON Schema written as a YAML mapping",
                ));
            }
            if let Err(err) = jsonschema::validator_for(&schema) {
                return Err(Box::new(
                    Diagnostic::at(sources, s.span(), "invalid JSON Schema")
                        .key("called.schema")
                        .expected(format!("a valid JSON Schema ({err})")),
                ));
            }
            Some(schema)
        }
    };
    Ok(Check::Called {
        name,
        arguments,
        exact,
        schema,
    })
}

#[cfg(test)]
mod tests;
