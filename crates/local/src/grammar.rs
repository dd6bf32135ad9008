//! GBNF grammars for constrained generation: the built-in `json` grammar, grammars compiled
//! from a JSON schema, and the mapping from a tool's `grammar` parameter to grammar text:
//!
//! - `json`: the built-in [`JSON_GBNF`], any JSON object or array;
//! - `json_schema`: the request's JSON schema (a case's `json_schema` contract) compiled to
//!   GBNF by llama.cpp's own converter, strings without a `maxLength` bounded at
//!   [`SCHEMA_STRING_BOUND`] characters and `required` keys the schema does not describe
//!   generated as strings; plain `json` when the request carries no schema;
//! - anything else: GBNF text.

use serde_json::Value;

use crate::error::LocalError;

/// The `grammar` parameter that asks for the request's JSON schema.
pub const JSON_SCHEMA: &str = "json_schema";
/// Characters a string may hold when the schema sets no `maxLength`: a small model can
/// otherwise loop inside a string until `max_tokens` cuts the object into invalid JSON.
pub const SCHEMA_STRING_BOUND: u64 = 64;

/// The rules of [`JSON_GBNF`] below its root.
macro_rules! json_rules {
    () => {
        r#"value  ::= object | array | string | number | ("true" | "false" | "null")

object ::= "{" ws ( member ( "," ws member )* )? ws "}"
member ::= string ws ":" ws value ws

array  ::= "[" ws ( value ws ( "," ws value ws )* )? "]"

string ::= "\"" char{0,40} "\""
char   ::= [^"\\\x7F\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )

number ::= "-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,4} )?

ws     ::= | " " | "\n" [ \t]{0,20}
"#
    };
}

/// A JSON value (object or array at the top level), after llama.cpp's `grammars/json.gbnf`,
/// with whitespace bounded and strings cut at 40 characters, so a small model cannot loop
/// inside a string or on spaces until `max_tokens` truncates the object into invalid JSON.
pub const JSON_GBNF: &str = concat!("root   ::= (object | array) ws\n", json_rules!());

/// The `grammar` parameter that asks for one JSON object (OpenAI's `json_object`).
pub const JSON_OBJECT: &str = "json_object";
/// One JSON object for a small model: at most 8 members, nested at most two levels (a
/// member's value is a scalar, or an object or array of scalars), strings and whitespace
/// bounded as in [`JSON_GBNF`]. Unbounded, the bundled model nests objects in objects
/// until `max_tokens` cuts the answer into invalid JSON.
pub const JSON_OBJECT_GBNF: &str = r#"root    ::= object2 ws
object2 ::= "{" ws ( member2 ( "," ws member2 ){0,7} )? ws "}"
member2 ::= string ws ":" ws value1 ws
value1  ::= object1 | array1 | scalar
object1 ::= "{" ws ( member1 ( "," ws member1 ){0,7} )? ws "}"
member1 ::= string ws ":" ws scalar ws
array1  ::= "[" ws ( scalar ws ( "," ws scalar ws ){0,7} )? "]"
scalar  ::= string | number | ("true" | "false" | "null")

string ::= "\"" char{0,40} "\""
char   ::= [^"\\\x7F\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )

number ::= "-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,4} )?

ws     ::= | " " | "\n" [ \t]{0,20}
"#;

/// The grammar text for a tool's `grammar` parameter: `json` (any case, surrounding blanks
/// ignored) is the built-in [`JSON_GBNF`], `json_object` [`JSON_OBJECT_GBNF`]; anything else
/// is taken as GBNF text.
pub fn grammar_text(param: &str) -> &str {
    if param.trim().eq_ignore_ascii_case("json") {
        JSON_GBNF
    } else if param.trim().eq_ignore_ascii_case(JSON_OBJECT) {
        JSON_OBJECT_GBNF
    } else {
        param
    }
}

/// The grammar text for a tool's `grammar` parameter and the request's JSON schema.
pub fn resolve(param: &str, schema: Option<&Value>) -> Result<String, LocalError> {
    if !param.trim().eq_ignore_ascii_case(JSON_SCHEMA) {
        return Ok(grammar_text(param).to_string());
    }
    let Some(schema) = schema else {
        return Ok(JSON_GBNF.to_string());
    };
    if let Some(at) = unsupported_keyword(schema, "") {
        return Err(LocalError::Grammar(format!(
            "the JSON schema uses `{at}`, which llama.cpp's converter does not enforce"
        )));
    }
    let mut bounded = schema.clone();
    declare_required(&mut bounded);
    bound_strings(&mut bounded);
    llama_cpp_2::json_schema_to_grammar(&bounded.to_string()).map_err(|e| {
        LocalError::Grammar(format!(
            "could not compile the JSON schema into a grammar: {e}"
        ))
    })
}

/// Keywords llama.cpp's converter ignores (its `grammars/README.md`): a grammar compiled
/// from a schema using them would let through answers the schema rejects.
const UNENFORCED: &[&str] = &[
    "not",
    "if",
    "then",
    "else",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "patternProperties",
    "propertyNames",
    "dependentRequired",
    "dependentSchemas",
    "dependencies",
    "unevaluatedProperties",
    "unevaluatedItems",
    "multipleOf",
    "minProperties",
    "maxProperties",
];

/// The path (`/properties/a/not`) of the first keyword of `schema` the converter does not
/// enforce, walking its subschemas (never property names).
fn unsupported_keyword(schema: &Value, at: &str) -> Option<String> {
    let Value::Object(map) = schema else {
        return None;
    };
    if let Some(k) = map.keys().find(|k| UNENFORCED.contains(&k.as_str())) {
        return Some(format!("{at}/{k}"));
    }
    for (k, v) in map {
        let found = match (k.as_str(), v) {
            ("properties" | "$defs" | "definitions", Value::Object(children)) => children
                .iter()
                .find_map(|(name, c)| unsupported_keyword(c, &format!("{at}/{k}/{name}"))),
            ("anyOf" | "oneOf" | "allOf" | "prefixItems", Value::Array(items)) => items
                .iter()
                .enumerate()
                .find_map(|(i, c)| unsupported_keyword(c, &format!("{at}/{k}/{i}"))),
            ("items" | "additionalProperties", c) => unsupported_keyword(c, &format!("{at}/{k}")),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// llama.cpp's converter only emits the keys listed under `properties`; a key that is
/// `required` but not described there would be left out. Declare it as a string (which then
/// gets the string bound): any value satisfies the schema there, and a bounded string keeps a
/// small model from rambling through a nested value.
fn declare_required(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let required: Vec<String> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(|k| k.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            if !required.is_empty() {
                let props = map
                    .entry("properties")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Value::Object(props) = props {
                    for key in required {
                        props
                            .entry(key)
                            .or_insert_with(|| serde_json::json!({"type": "string"}));
                    }
                }
            }
            for value in map.values_mut() {
                declare_required(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(declare_required),
        _ => {}
    }
}

/// Give every string schema without a `maxLength` (or a `format`/`pattern`/`enum`/`const`,
/// which bound it already) the [`SCHEMA_STRING_BOUND`].
fn bound_strings(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let is_string = match map.get("type") {
                Some(Value::String(t)) => t == "string",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
                _ => false,
            };
            let bounded = ["maxLength", "enum", "const", "pattern", "format"]
                .iter()
                .any(|k| map.contains_key(*k));
            if is_string && !bounded {
                map.insert("maxLength".into(), Value::from(SCHEMA_STRING_BOUND));
            }
            for value in map.values_mut() {
                bound_strings(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(bound_strings),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_schema_compiles_to_a_grammar_with_its_keys() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "invoice_number": {"type": "string"},
                "total": {"type": "number"}
            },
            "required": ["invoice_number", "total"]
        });
        let g = resolve("json_schema", Some(&schema)).unwrap();
        assert!(g.contains("invoice_number"), "{g}");
        assert!(g.contains("root ::="), "{g}");
        // Strings got a bound.
        assert!(g.contains("{0,64}"), "{g}");
        // Without a schema: any JSON.
        assert_eq!(resolve("json_schema", None).unwrap(), JSON_GBNF);
        assert_eq!(resolve("json", Some(&schema)).unwrap(), JSON_GBNF);
    }

    #[test]
    fn schemas_the_converter_cannot_enforce_are_refused() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "not": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}
            }
        });
        let e = resolve("json_schema", Some(&schema))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/properties/tags/uniqueItems"), "{e}");
        let e = resolve(
            "json_schema",
            Some(&serde_json::json!({"anyOf": [{"type": "integer"}, {"not": {}}]})),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("/anyOf/1/not"), "{e}");
        // A property named like a keyword is a name, not the keyword.
        let ok = serde_json::json!({"type": "object", "properties": {"not": {"type": "string"}}});
        assert!(resolve("json_schema", Some(&ok)).is_ok());
        // A reference to nowhere is the converter's own refusal.
        let dangling =
            serde_json::json!({"type": "object", "properties": {"a": {"$ref": "#/$defs/nope"}}});
        assert!(resolve("json_schema", Some(&dangling)).is_err());
    }

    #[test]
    fn required_keys_missing_from_properties_are_still_emitted() {
        let schema = serde_json::json!({
            "type": "object",
            "required": ["vendor", "total"],
            "properties": { "total": {"type": "number"} }
        });
        let g = resolve("json_schema", Some(&schema)).unwrap();
        assert!(g.contains("vendor"), "{g}");
    }

    #[test]
    fn strings_keep_their_own_bounds() {
        let mut schema = serde_json::json!({
            "type": "object",
            "properties": {
                "a": {"type": "string"},
                "b": {"type": "string", "maxLength": 5},
                "c": {"type": "string", "enum": ["x", "y"]},
                "d": {"type": "array", "items": {"type": ["string", "null"]}}
            }
        });
        bound_strings(&mut schema);
        assert_eq!(schema["properties"]["a"]["maxLength"], 64);
        assert_eq!(schema["properties"]["b"]["maxLength"], 5);
        assert!(schema["properties"]["c"].get("maxLength").is_none());
        assert_eq!(schema["properties"]["d"]["items"]["maxLength"], 64);
    }

    #[test]
    fn json_keyword_selects_the_builtin_grammar() {
        assert_eq!(grammar_text("json"), JSON_GBNF);
        assert_eq!(grammar_text(" JSON\n"), JSON_GBNF);
        assert!(grammar_text("json_object").starts_with("root    ::= object2 ws\n"));
        assert!(JSON_GBNF.starts_with("root   ::= (object | array) ws\nvalue  ::="));
        let custom = "root ::= \"yes\" | \"no\"";
        assert_eq!(grammar_text(custom), custom);
    }

    #[test]
    fn builtin_grammar_defines_every_rule_it_uses() {
        let defined: Vec<&str> = JSON_GBNF
            .lines()
            .filter_map(|l| l.split_once("::=").map(|(name, _)| name.trim()))
            .collect();
        for rule in [
            "root", "value", "object", "member", "array", "string", "number", "ws",
        ] {
            assert!(defined.contains(&rule), "rule {rule} missing");
        }
        let defined: Vec<&str> = JSON_OBJECT_GBNF
            .lines()
            .filter_map(|l| l.split_once("::=").map(|(name, _)| name.trim()))
            .collect();
        for rule in [
            "root", "object2", "member2", "value1", "object1", "member1", "array1", "scalar",
            "string", "char", "number", "ws",
        ] {
            assert!(defined.contains(&rule), "rule {rule} missing");
        }
    }
}
