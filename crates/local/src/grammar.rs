//! GBNF grammars for constrained generation: the built-in `json` grammar and the mapping from a
//! tool's `grammar` parameter (GBNF text or the word `json`) to grammar text.

/// A JSON value (object or array at the top level), after llama.cpp's `grammars/json.gbnf`,
/// with whitespace bounded and strings cut at 40 characters, so a small model cannot loop
/// inside a string or on spaces until `max_tokens` truncates the object into invalid JSON.
pub const JSON_GBNF: &str = r#"root   ::= (object | array) ws
value  ::= object | array | string | number | ("true" | "false" | "null")

object ::= "{" ws ( member ( "," ws member )* )? ws "}"
member ::= string ws ":" ws value ws

array  ::= "[" ws ( value ws ( "," ws value ws )* )? "]"

string ::= "\"" char{0,40} "\""
char   ::= [^"\\\x7F\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )

number ::= "-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,4} )?

ws     ::= | " " | "\n" [ \t]{0,20}
"#;

/// The grammar text for a tool's `grammar` parameter: `json` (any case, surrounding blanks
/// ignored) is the built-in [`JSON_GBNF`]; anything else is taken as GBNF text.
pub fn grammar_text(param: &str) -> &str {
    if param.trim().eq_ignore_ascii_case("json") {
        JSON_GBNF
    } else {
        param
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keyword_selects_the_builtin_grammar() {
        assert_eq!(grammar_text("json"), JSON_GBNF);
        assert_eq!(grammar_text(" JSON\n"), JSON_GBNF);
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
    }
}
