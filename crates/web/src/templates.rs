//! The page templates (minijinja, embedded with `include_str!`), rendered with HTML
//! auto-escaping: every template name ends in `.html`, so every `{{ value }}` is escaped
//! unless it was built as safe on purpose (the SVG from [`crate::svg`], which escapes its
//! own text).

use std::sync::LazyLock;

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("overview.html", include_str!("../templates/overview.html")),
    ("runs.html", include_str!("../templates/runs.html")),
    ("persona.html", include_str!("../templates/persona.html")),
    ("tool.html", include_str!("../templates/tool.html")),
    ("run.html", include_str!("../templates/run.html")),
    ("result.html", include_str!("../templates/result.html")),
    (
        "field_log.html",
        include_str!("../templates/field_log.html"),
    ),
    (
        "decisions.html",
        include_str!("../templates/decisions.html"),
    ),
    ("usage.html", include_str!("../templates/usage.html")),
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Escape HTML in every template, whatever its name.
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    for (name, source) in TEMPLATES {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "bad template");
        }
    }
    env
});

/// Render template `name` with `ctx`.
pub fn render(name: &str, ctx: impl Serialize) -> Result<String, minijinja::Error> {
    ENV.get_template(name)?.render(ctx)
}

/// A string the templates insert as is: only for markup this crate built and escaped.
pub fn trusted_markup(markup: String) -> minijinja::Value {
    minijinja::Value::from_safe_string(markup)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, source) in TEMPLATES {
            let mut env = Environment::new();
            for (n, s) in TEMPLATES {
                env.add_template(n, s).unwrap();
            }
            if let Err(e) = env.get_template(name) {
                panic!("{name} ({} bytes): {e:#}", source.len());
            }
        }
    }

    #[test]
    fn values_are_html_escaped() {
        let out = render(
            "error.html",
            minijinja::context! {
                chrome => minijinja::context! { title => "t", program => "p" },
                links => crate::links::Links::Server.nav(),
                message => "<script>alert(1)</script>",
            },
        )
        .unwrap();
        assert!(
            out.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{out}"
        );
        assert!(!out.contains("<script>"));
    }
}
