//! Rendering a case's prompt: `{{ var }}` templates (minijinja, strict about undefined
//! variables) and attached documents formatted as delimited context blocks.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};

use crate::model::Document;

/// Render a template with the case's variables; an undefined variable is an error.
pub fn render(template: &str, vars: &BTreeMap<String, String>) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Prompts are plain text: never HTML-escape them.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.render_str(template, vars)
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

    #[test]
    fn undefined_var_is_an_error() {
        assert!(render("{{ nope }}", &BTreeMap::new()).is_err());
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
