//! promptfoo assertion types mapped to Proximity assertions, each in its group
//! (`contract` for structure, `correct` for content), or the reason one does not map.
//! The table is in `docs/import.md`.

use std::sync::LazyLock;

use proximity_program::promote::scalar;
use regex::Regex;
use serde_json::Value;

use super::{Assert, Unsupported};

/// A mapped assertion: its group and the item written under it (`contains: Paris`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub group: &'static str,
    pub item: String,
}

/// A test's assertions, mapped: those that map, and those that do not.
#[derive(Debug, Clone, Default)]
pub struct MappedAll {
    pub mapped: Vec<Mapped>,
    pub unsupported: Vec<Unsupported>,
}

/// Types promptfoo documents (a CSV `__expected` cell starting with one is an assertion).
const KNOWN: &[&str] = &[
    "equals",
    "contains",
    "icontains",
    "contains-any",
    "contains-all",
    "icontains-any",
    "icontains-all",
    "starts-with",
    "regex",
    "is-json",
    "contains-json",
    "javascript",
    "python",
    "llm-rubric",
    "similar",
    "moderation",
    "cost",
    "latency",
    "levenshtein",
    "rouge-n",
    "bleu",
    "perplexity",
    "perplexity-score",
    "is-valid-openai-tools-call",
    "is-valid-openai-function-call",
    "is-sql",
    "contains-sql",
    "is-xml",
    "contains-xml",
    "is-html",
    "contains-html",
    "factuality",
    "answer-relevance",
    "context-faithfulness",
    "context-recall",
    "context-relevance",
    "model-graded-closedqa",
    "g-eval",
    "webhook",
    "classifier",
    "select-best",
    "assert-set",
    "finish-reason",
    "word-count",
    "meteor",
    "f-score",
    "trace-span-count",
    "guardrails",
    "pi",
];

/// Whether `kind` (possibly `not-…`) is a promptfoo assertion type.
pub fn is_known_type(kind: &str) -> bool {
    KNOWN.contains(&kind.strip_prefix("not-").unwrap_or(kind))
}

/// Map every assertion of a test.
pub fn map_all(asserts: &[Assert]) -> MappedAll {
    let mut out = MappedAll::default();
    for a in asserts {
        match map(a) {
            Ok(m) => out.mapped.push(m),
            Err(why) => out.unsupported.push(Unsupported {
                loc: a.loc.clone(),
                what: format!("assert {}", a.kind),
                why,
                outcome: "case skipped",
            }),
        }
    }
    out
}

/// One assertion, or why it does not map.
pub fn map(a: &Assert) -> Result<Mapped, String> {
    if let Some(m) = a.modifiers.first() {
        return Err(format!(
            "`{m}` changes what is checked; Proximity checks the output as it is"
        ));
    }
    let (negated, base) = match a.kind.strip_prefix("not-") {
        Some(b) => (true, b),
        None => (false, a.kind.as_str()),
    };
    let (group, item) = map_base(base, a.value.as_ref())?;
    let item = if negated {
        format!("not: {{ {item} }}")
    } else {
        item
    };
    Ok(Mapped { group, item })
}

/// A JSON value written as YAML: strings readable, the rest as JSON (YAML flow syntax).
pub fn yaml_value(v: &Value) -> String {
    match v {
        Value::String(s) => scalar(s),
        other => other.to_string(),
    }
}

fn text(v: Option<&Value>, kind: &str) -> Result<String, String> {
    match v {
        Some(Value::String(s)) => {
            if s.starts_with("file://") {
                Err(format!("`{kind}` with a `file://` value is not read"))
            } else {
                Ok(s.clone())
            }
        }
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        _ => Err(format!("`{kind}` needs a text value")),
    }
}

/// A list value: a YAML list, or promptfoo's comma-separated text.
fn list(v: Option<&Value>, kind: &str) -> Result<Vec<Value>, String> {
    match v {
        Some(Value::Array(items)) if !items.is_empty() => Ok(items
            .iter()
            .map(|i| match i {
                Value::String(_) => i.clone(),
                other => Value::String(other.to_string()),
            })
            .collect()),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s
            .split(',')
            .map(|p| Value::String(p.trim().to_owned()))
            .collect()),
        _ => Err(format!("`{kind}` needs a list of values")),
    }
}

fn map_base(kind: &str, v: Option<&Value>) -> Result<(&'static str, String), String> {
    let correct = |key: &str, value: String| Ok(("correct", format!("{key}: {value}")));
    match kind {
        "equals" => match v {
            Some(obj @ (Value::Object(_) | Value::Array(_))) => Ok((
                "correct",
                format!("json_path: {{ path: \"$\", equals: {obj} }}"),
            )),
            _ => correct("equals", scalar(&text(v, kind)?)),
        },
        "contains" | "icontains" | "starts-with" => {
            let key = if kind == "starts-with" {
                "starts_with"
            } else {
                kind
            };
            correct(key, scalar(&text(v, kind)?))
        }
        "contains-any" | "contains-all" | "icontains-any" | "icontains-all" => {
            let (key, which) = kind.split_once('-').unwrap_or((kind, "all"));
            let values = Value::Array(list(v, kind)?);
            correct(key, format!("{{ {which}: {values} }}"))
        }
        "regex" => {
            let pattern = text(v, kind)?;
            Regex::new(&pattern).map_err(|_| {
                "not a Rust regex (look-around and back-references have no equivalent)".to_owned()
            })?;
            correct("regex", scalar(&pattern))
        }
        "is-json" => match v {
            None | Some(Value::Null) => Ok(("contract", "is_json: true".to_owned())),
            Some(schema @ Value::Object(_)) => Ok(("contract", format!("json_schema: {schema}"))),
            Some(_) => Err("`is-json` with a schema from a file is not read".to_owned()),
        },
        "javascript" => javascript(&text(v, kind)?),
        "llm-rubric" => correct("judge", scalar(&text(v, kind)?)),
        "contains-json" => Err(
            "Proximity's JSON checks read the whole output as JSON, not JSON inside text"
                .to_owned(),
        ),
        "is-valid-openai-tools-call" | "is-valid-openai-function-call" => {
            Err("Proximity has no tool-call assertions yet".to_owned())
        }
        "python" => Err("runs Python".to_owned()),
        "similar" => Err("needs embeddings".to_owned()),
        "moderation" => Err("needs a moderation API".to_owned()),
        "cost" | "latency" => Err(format!("Proximity assertions have no {kind} threshold")),
        "levenshtein" | "rouge-n" | "bleu" | "meteor" | "f-score" | "perplexity"
        | "perplexity-score" => {
            Err("a similarity score with a threshold has no equivalent".to_owned())
        }
        "factuality"
        | "answer-relevance"
        | "context-faithfulness"
        | "context-recall"
        | "context-relevance"
        | "model-graded-closedqa"
        | "g-eval"
        | "select-best" => Err(
            "a model-graded metric with its own grading prompt; only `llm-rubric` maps to `judge`"
                .to_owned(),
        ),
        other => Err(format!("`{other}` has no Proximity equivalent")),
    }
}

/// `javascript` that is a literal comparison on `output`.
static JS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    let s = r#"(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")"#;
    let pats = [
        (format!(r"^output\s*===?\s*{s}$"), "equals"),
        (format!(r"^output\.includes\(\s*{s}\s*\)$"), "contains"),
        (
            format!(r"^!\s*output\.includes\(\s*{s}\s*\)$"),
            "not_contains_cs",
        ),
        (
            format!(r"^output\.toLowerCase\(\)\.includes\(\s*{s}\s*\)$"),
            "icontains",
        ),
        (format!(r"^output\.startsWith\(\s*{s}\s*\)$"), "starts_with"),
        (r"^output\.length\s*(<=?|>=?)\s*(\d+)$".to_owned(), "length"),
    ];
    pats.into_iter()
        .filter_map(|(p, k)| Regex::new(&p).ok().map(|r| (r, k)))
        .collect()
});

fn javascript(code: &str) -> Result<(&'static str, String), String> {
    let code = code
        .trim()
        .trim_start_matches("return ")
        .trim_end_matches(';')
        .trim();
    for (re, kind) in JS.iter() {
        let Some(c) = re.captures(code) else {
            continue;
        };
        if *kind == "length" {
            let n: u64 = c[2].parse().map_err(|_| "length out of range".to_owned())?;
            let item = match &c[1] {
                "<" if n > 0 => format!("max_length: {}", n - 1),
                "<=" => format!("max_length: {n}"),
                ">" => format!("min_length: {}", n + 1),
                ">=" => format!("min_length: {n}"),
                _ => return Err("an impossible length".to_owned()),
            };
            return Ok(("correct", item));
        }
        let literal = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
        if literal.contains('\\') {
            return Err("a JavaScript string with escapes is not read".to_owned());
        }
        let value = scalar(literal);
        let item = match *kind {
            "not_contains_cs" => format!("not: {{ contains: {value} }}"),
            k => format!("{k}: {value}"),
        };
        return Ok(("correct", item));
    }
    Err("JavaScript other than a literal comparison on `output` runs code".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promptfoo::Loc;
    use serde_json::json;

    fn a(kind: &str, value: Value) -> Assert {
        Assert {
            kind: kind.to_owned(),
            value: if value.is_null() { None } else { Some(value) },
            modifiers: Vec::new(),
            loc: Loc {
                file: "c.yaml".into(),
                line: 3,
                column: 7,
            },
        }
    }

    fn ok(kind: &str, value: Value) -> (&'static str, String) {
        let m = map(&a(kind, value)).unwrap();
        (m.group, m.item)
    }

    #[test]
    fn text_types_map_to_correct() {
        assert_eq!(
            ok("equals", json!("Paris")),
            ("correct", "equals: Paris".into())
        );
        assert_eq!(
            ok("equals", json!("4")),
            ("correct", "equals: \"4\"".into())
        );
        assert_eq!(
            ok("equals", json!({"a": 1})),
            (
                "correct",
                r#"json_path: { path: "$", equals: {"a":1} }"#.into()
            )
        );
        assert_eq!(
            ok("icontains", json!("paris")),
            ("correct", "icontains: paris".into())
        );
        assert_eq!(
            ok("starts-with", json!("Dear")),
            ("correct", "starts_with: Dear".into())
        );
        assert_eq!(
            ok("contains-any", json!(["a", "b"])),
            ("correct", r#"contains: { any: ["a","b"] }"#.into())
        );
        assert_eq!(
            ok("icontains-all", json!("x, y")),
            ("correct", r#"icontains: { all: ["x","y"] }"#.into())
        );
        assert_eq!(
            ok("not-contains", json!("AI")),
            ("correct", "not: { contains: AI }".into())
        );
        assert_eq!(
            ok("regex", json!("^\\d+$")),
            ("correct", r#"regex: "^\\d+$""#.into())
        );
        assert_eq!(
            ok("llm-rubric", json!("Is polite")),
            ("correct", "judge: Is polite".into())
        );
    }

    #[test]
    fn json_types_map_to_contract() {
        assert_eq!(
            ok("is-json", Value::Null),
            ("contract", "is_json: true".into())
        );
        assert_eq!(
            ok("is-json", json!({"type": "object"})),
            ("contract", r#"json_schema: {"type":"object"}"#.into())
        );
        assert_eq!(
            ok("not-is-json", Value::Null),
            ("contract", "not: { is_json: true }".into())
        );
    }

    #[test]
    fn literal_javascript_maps_and_code_does_not() {
        assert_eq!(
            ok("javascript", json!("output === 'Paris'")),
            ("correct", "equals: Paris".into())
        );
        assert_eq!(
            ok("javascript", json!("output.includes(\"refund\")")),
            ("correct", "contains: refund".into())
        );
        assert_eq!(
            ok("javascript", json!("!output.includes('sorry')")),
            ("correct", "not: { contains: sorry }".into())
        );
        assert_eq!(
            ok("javascript", json!("output.length < 100")),
            ("correct", "max_length: 99".into())
        );
        assert_eq!(
            ok("javascript", json!("output.length >= 5")),
            ("correct", "min_length: 5".into())
        );
        let err = map(&a("javascript", json!("JSON.parse(output).x > 3"))).unwrap_err();
        assert!(err.contains("runs code"), "{err}");
    }

    #[test]
    fn what_does_not_map_says_why() {
        for (kind, why) in [
            ("python", "Python"),
            ("similar", "embeddings"),
            ("contains-json", "whole output"),
            ("is-valid-openai-tools-call", "tool-call"),
            ("cost", "cost threshold"),
            ("regex", "Rust regex"),
        ] {
            let value = if kind == "regex" {
                json!("(?<=a)b")
            } else {
                json!("x")
            };
            let err = map(&a(kind, value)).unwrap_err();
            assert!(err.contains(why), "{kind}: {err}");
        }
        let mut t = a("contains", json!("x"));
        t.modifiers.push("transform".into());
        assert!(map(&t).unwrap_err().contains("transform"));
        let all = map_all(&[a("contains", json!("x")), a("python", json!("x"))]);
        assert_eq!(all.mapped.len(), 1);
        assert_eq!(all.unsupported[0].loc.to_string(), "c.yaml:3:7");
    }
}
