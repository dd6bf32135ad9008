//! Small helpers over the marked YAML tree: scalars, JSON conversion, parser options.

use marked_yaml::{LoaderOptions, Node};
use serde_json::{Number, Value};

/// Parser options used for every program file: duplicate keys are errors, and quoted
/// scalars stay strings (`"1"` is text, `1` is a number).
pub fn loader_options() -> LoaderOptions {
    LoaderOptions::default()
        .error_on_duplicate_keys(true)
        .prevent_coercion(true)
}

/// The text of a scalar node.
pub fn scalar(node: &Node) -> Option<&str> {
    node.as_scalar().map(|s| s.as_str())
}

/// Convert a YAML node into JSON, typing plain scalars as YAML 1.2's core schema does
/// (null, booleans, integers, floats); quoted scalars stay strings.
pub fn node_to_json(node: &Node) -> Value {
    match node {
        Node::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().to_owned(), node_to_json(v)))
                .collect(),
        ),
        Node::Sequence(seq) => Value::Array(seq.iter().map(node_to_json).collect()),
        Node::Scalar(s) => {
            let text = s.as_str();
            if !s.may_coerce() {
                return Value::String(text.to_owned());
            }
            match text {
                "null" | "~" | "" => return Value::Null,
                "true" => return Value::Bool(true),
                "false" => return Value::Bool(false),
                _ => {}
            }
            if let Ok(i) = text.parse::<i64>() {
                return Value::Number(i.into());
            }
            if let Ok(f) = text.parse::<f64>() {
                if let Some(n) = Number::from_f64(f) {
                    return Value::Number(n);
                }
            }
            Value::String(text.to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_scalars_stay_strings() {
        let node = marked_yaml::parse_yaml_with_options(
            0,
            "a: 1\nb: '1'\nc: true\nd: x\n",
            loader_options(),
        )
        .unwrap();
        assert_eq!(
            node_to_json(&node),
            serde_json::json!({"a": 1, "b": "1", "c": true, "d": "x"})
        );
    }
}
