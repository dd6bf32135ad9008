//! Rendering a case's prompt: `{{ var }}` templates (minijinja, strict about undefined
//! variables) and attached documents formatted as delimited context blocks.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};

use crate::model::Document;

/// Whether `text` holds template syntax (`{{`, `{%` or `{#`). Text without any renders
/// to itself (less one trailing line break, as minijinja strips it) and names no variable,
/// so most prompts skip compiling a template.
fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// Render a template with the case's variables; an undefined variable is an error.
pub fn render(template: &str, vars: &BTreeMap<String, String>) -> Result<String, minijinja::Error> {
    if !is_template(template) {
        return Ok(template
            .strip_suffix("\r\n")
            .or_else(|| template.strip_suffix(['\n', '\r']))
            .unwrap_or(template)
            .to_owned());
    }
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Prompts are plain text: never HTML-escape them.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.render_str(template, vars)
}

/// Whether a template refers to the variable `name` (so documents are not injected twice).
pub fn uses_variable(template: &str, name: &str) -> bool {
    if !is_template(template) {
        return false;
    }
    let env = Environment::new();
    match env.template_from_str(template) {
        Ok(t) => t.undeclared_variables(false).contains(name),
        Err(_) => false,
    }
}

/// The variables a template needs that `vars` does not define.
pub fn missing_variables(template: &str, vars: &BTreeMap<String, String>) -> Vec<String> {
    if !is_template(template) {
        return Vec::new();
    }
    let env = Environment::new();
    let Ok(t) = env.template_from_str(template) else {
        return Vec::new();
    };
    let mut missing: Vec<String> = t
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !vars.contains_key(v))
        .collect();
    missing.sort();
    missing
}

/// Documents as context blocks, in the order the case lists them.
pub fn format_documents(documents: &[Document]) -> String {
    documents
        .iter()
        .map(|d| {
            format!(
                "<document name=\"{}\">\n{}\n</document>",
                d.path,
                d.content.trim_end()
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_vars() {
        let vars = BTreeMap::from([("city".to_owned(), "Paris".to_owned())]);
        assert_eq!(
            render("Where is {{ city }}?", &vars).unwrap(),
            "Where is Paris?"
        );
    }

    /// Text without template syntax takes the short way, to the same result.
    #[test]
    fn plain_text_renders_as_minijinja_renders_it() {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        let vars = BTreeMap::from([("a".to_owned(), "1".to_owned())]);
        for text in [
            "",
            "plain",
            "ends with a newline\n",
            "two newlines\n\n",
            "crlf\r\n",
            "cr\r",
            "lf then cr\n\r",
            "\n",
            "a { brace } and } {",
            "<b>&amp; not escaped</b>",
            "  spaces  \n  ",
            "percent % and hash #",
        ] {
            assert!(!is_template(text));
            let slow = env.render_str(text, &vars).unwrap();
            assert_eq!(render(text, &vars).unwrap(), slow, "{text:?}");
            assert!(!uses_variable(text, "a"));
            assert!(missing_variables(text, &vars).is_empty());
        }
        assert!(is_template("{{ a }}") && is_template("{% if x %}") && is_template("{# c #}"));
    }

    #[test]
    fn undefined_var_is_an_error() {
        assert!(render("{{ nope }}", &BTreeMap::new()).is_err());
    }

    #[test]
    fn detects_variable_use_not_the_word() {
        assert!(uses_variable("Read {{ documents }} now", "documents"));
        assert!(!uses_variable(
            "Summarise the attached documents.",
            "documents"
        ));
    }

    #[test]
    fn names_missing_variables() {
        let vars = BTreeMap::from([("a".to_owned(), "1".to_owned())]);
        assert_eq!(
            missing_variables("{{ a }} {{ b }}", &vars),
            vec!["b".to_owned()]
        );
    }

    #[test]
    fn documents_are_delimited() {
        let d = Document {
            path: "docs/a.md".into(),
            content: "hello\n".into(),
        };
        assert_eq!(
            format_documents(&[d]),
            "<document name=\"docs/a.md\">\nhello\n</document>"
        );
    }
}
