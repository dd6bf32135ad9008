//! JSON checks: `is_json`, `json_schema`, `json_path`.
//!
//! All three read the output the same way ([`parse_output`]): the trimmed output must be
//! one JSON value; if the *whole* output is a single fenced code block (```` ```json ````
//! or a bare ```` ``` ````), the fence is stripped first, because consumers that strip
//! fences are common and models add them by habit. Prose around the JSON is not tolerated.

use serde_json::Value;
use serde_json_path::JsonPath;

use super::{excerpt, Finding};

/// How many schema errors a detail lists.
const MAX_SCHEMA_ERRORS: usize = 3;

/// The JSON inside a single fenced code block that is the whole (trimmed) output, or
/// `None` when the output is not exactly one such block.
pub fn strip_fence(out: &str) -> Option<&str> {
    let rest = out.strip_prefix("```")?;
    let (info, body) = rest.split_once('\n')?;
    let info = info.trim();
    if !(info.is_empty() || info.eq_ignore_ascii_case("json")) {
        return None;
    }
    let inner = body.trim_end().strip_suffix("```")?;
    if inner.contains("```") {
        return None;
    }
    Some(inner.trim())
}

/// The output as a JSON value (fence tolerated), or why it is not JSON.
pub fn parse_output(out: &str) -> Result<Value, String> {
    let text = strip_fence(out).unwrap_or(out);
    serde_json::from_str(text).map_err(|e| format!("not JSON ({e}): {}", excerpt(out)))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The output parses as one JSON value (any type; use `json_schema` to require an object).
pub fn is_json(out: &str) -> Finding {
    match parse_output(out) {
        Ok(v) => {
            let fenced = if strip_fence(out).is_some() {
                " (fence stripped)"
            } else {
                ""
            };
            Finding::pass(format!("valid JSON {}{fenced}", kind(&v)))
        }
        Err(e) => Finding::fail(e),
    }
}

/// The output is JSON and validates against `schema`.
pub fn json_schema(out: &str, schema: &Value) -> Finding {
    let value = match parse_output(out) {
        Ok(v) => v,
        Err(e) => return Finding::fail(e),
    };
    let validator = match jsonschema::validator_for(schema) {
        Ok(v) => v,
        Err(e) => return Finding::fail(format!("invalid JSON Schema: {e}")),
    };
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| {
            let at = e.instance_path.to_string();
            let at = if at.is_empty() { "/".to_owned() } else { at };
            format!("at {at}: {e}")
        })
        .collect();
    match errors.len() {
        0 => Finding::pass("matches the schema"),
        n => {
            let shown: Vec<String> = errors
                .into_iter()
                .take(MAX_SCHEMA_ERRORS)
                .map(|e| shorten(&e, 120))
                .collect();
            let more = if n > MAX_SCHEMA_ERRORS {
                format!("; and {} more", n - MAX_SCHEMA_ERRORS)
            } else {
                String::new()
            };
            let noun = if n == 1 { "error" } else { "errors" };
            Finding::fail(format!("{n} schema {noun}: {}{more}", shown.join("; ")))
        }
    }
}

/// The output is JSON and `path` selects at least one value that satisfies `equals` (JSON
/// equality, numbers by value) and `contains` (its text contains the substring); with
/// neither, a match is enough.
pub fn json_path(out: &str, path: &str, equals: Option<&Value>, contains: Option<&str>) -> Finding {
    let value = match parse_output(out) {
        Ok(v) => v,
        Err(e) => return Finding::fail(e),
    };
    let path_ = match JsonPath::parse(path) {
        Ok(p) => p,
        Err(e) => return Finding::fail(format!("invalid JSONPath {path}: {e}")),
    };
    let nodes = path_.query(&value).all();
    if nodes.is_empty() {
        return Finding::fail(format!("{path} matched nothing"));
    }
    let ok = |n: &Value| {
        equals.is_none_or(|want| json_eq(n, want))
            && contains.is_none_or(|needle| as_text(n).contains(needle))
    };
    let shown = shorten(
        &nodes
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        80,
    );
    match nodes.iter().find(|n| ok(n)) {
        Some(hit) => Finding::pass(format!("{path} = {}", shorten(&hit.to_string(), 80))),
        None => {
            let mut want = Vec::new();
            if let Some(v) = equals {
                want.push(format!("== {v}"));
            }
            if let Some(c) = contains {
                want.push(format!("contains {c:?}"));
            }
            Finding::fail(format!("{path} = {shown}, expected {}", want.join(" and ")))
        }
    }
}

/// JSON equality where numbers compare by value (`1 == 1.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A value as text: a string's content, anything else as compact JSON.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fence_is_stripped_only_around_the_whole_output() {
        assert_eq!(strip_fence("```json\n{\"a\": 1}\n```"), Some("{\"a\": 1}"));
        assert_eq!(strip_fence("```\n[1]\n```"), Some("[1]"));
        assert_eq!(strip_fence("```JSON\n{}\n```"), Some("{}"));
        assert_eq!(strip_fence("```python\n{}\n```"), None);
        assert_eq!(strip_fence("{}"), None);
        assert_eq!(strip_fence("```json\n{}\n```\n```json\n{}\n```"), None);
        assert!(is_json("```json\n{\"a\": 1}\n```").passed);
        assert!(!is_json("Here you go:\n```json\n{\"a\": 1}\n```").passed);
    }

    #[test]
    fn is_json_accepts_any_value_and_rejects_prose() {
        let f = is_json("{\"total\": 12.5}");
        assert!(f.passed);
        assert_eq!(f.detail, "valid JSON object");
        assert_eq!(
            is_json("```json\n[]\n```").detail,
            "valid JSON array (fence stripped)"
        );
        let f = is_json("{\"total\": 12.5,}");
        assert!(!f.passed);
        assert_eq!(
            f.detail,
            r#"not JSON (trailing comma at line 1 column 16): "{\"total\": 12.5,}""#
        );
        assert!(!is_json("Sure! {\"total\": 1}").passed);
    }

    #[test]
    fn json_schema_reports_where_it_fails() {
        let schema = json!({
            "type": "object",
            "required": ["total"],
            "properties": { "total": { "type": "number", "minimum": 0 } }
        });
        assert!(json_schema("{\"total\": 3}", &schema).passed);
        assert!(json_schema("```json\n{\"total\": 3}\n```", &schema).passed);
        let f = json_schema("{\"total\": \"3\"}", &schema);
        assert!(!f.passed);
        assert_eq!(
            f.detail,
            r#"1 schema error: at /total: "3" is not of type "number""#
        );
        let f = json_schema("{}", &schema);
        assert!(f.detail.contains("total"), "{}", f.detail);
        assert!(!json_schema("total: 3", &schema).passed);
    }

    #[test]
    fn json_path_equals_compares_numbers_by_value() {
        let out = r#"{"total": 1, "items": [{"sku": "A-1"}, {"sku": "B-2"}]}"#;
        assert!(json_path(out, "$.total", Some(&json!(1.0)), None).passed);
        let f = json_path(out, "$.total", Some(&json!(2)), None);
        assert!(!f.passed);
        assert_eq!(f.detail, "$.total = 1, expected == 2");
        assert!(json_path(out, "$.items[*].sku", Some(&json!("B-2")), None).passed);
        assert!(
            json_path(
                out,
                "$.items",
                Some(&json!([{"sku": "A-1"}, {"sku": "B-2"}])),
                None
            )
            .passed
        );
    }

    #[test]
    fn json_path_contains_and_existence() {
        let out = r#"{"summary": "Refund approved", "n": 1250}"#;
        assert!(json_path(out, "$.summary", None, Some("approved")).passed);
        assert!(!json_path(out, "$.summary", None, Some("denied")).passed);
        assert!(json_path(out, "$.n", None, Some("125")).passed);
        assert!(json_path(out, "$.summary", None, None).passed);
        let f = json_path(out, "$.missing", None, None);
        assert!(!f.passed);
        assert_eq!(f.detail, "$.missing matched nothing");
        assert!(!json_path("not json", "$.a", None, None).passed);
    }

    #[test]
    fn json_eq_is_structural() {
        assert!(json_eq(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!json_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!json_eq(&json!("1"), &json!(1)));
    }
}
