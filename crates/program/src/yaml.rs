//! Small helpers over the marked YAML tree: scalars, JSON conversion, parser options.

use marked_yaml::{LoaderOptions, Node};
use serde_json::{Number, Value};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

/// The deepest nesting of mappings and lists a program file may have. A program needs a
/// handful of levels (a JSON Schema in a contract perhaps twenty); a tree thousands deep
/// is hostile, and building or dropping it would overflow the stack.
pub const MAX_DEPTH: usize = 100;

/// Where `text` first nests deeper than [`MAX_DEPTH`], if it does: the start of the
/// collection one level too deep. Reads the events only (no tree), and stops there, so
/// a hostile file costs at most one pass over its text. A text the parser refuses is left
/// to the parse that follows, which says where and why.
pub fn too_deep(text: &str) -> Option<Marker> {
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    loop {
        match parser.next_token() {
            Ok((Event::SequenceStart(..) | Event::MappingStart(..), at)) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(at);
                }
            }
            Ok((Event::SequenceEnd | Event::MappingEnd, _)) => depth = depth.saturating_sub(1),
            Ok((Event::StreamEnd, _)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

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
    fn nesting_past_the_limit_is_found_where_it_starts() {
        let ok = format!(
            "a: {}x{}\n",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert!(too_deep(&ok).is_none());
        let flow = format!("a: {}x{}\n", "[".repeat(200), "]".repeat(200));
        let at = too_deep(&flow).unwrap();
        assert_eq!((at.line(), at.col()), (1, 3 + MAX_DEPTH - 1));
        // Past 255 flow levels the scanner refuses the text itself, with its location.
        let deeper = format!("a: {}x{}\n", "[".repeat(50_000), "]".repeat(50_000));
        assert!(too_deep(&deeper).is_none());
        assert!(marked_yaml::parse_yaml_with_options(0, &deeper, loader_options()).is_err());
        let block = format!("a:\n  {}x\n", "- ".repeat(50_000));
        let at = too_deep(&block).unwrap();
        assert_eq!(at.line(), 2);
        assert!(
            too_deep("a: [unclosed\n").is_none(),
            "left to the parser's own error"
        );
    }

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
