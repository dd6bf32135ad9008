//! Located diagnostics from marked-yaml's errors: a file that does not parse, and an
//! item that does not deserialize.

use std::path::Path;

use marked_yaml::{Node, Span};

use crate::diagnostic::{Diagnostic, SourceMap};
use crate::suggest::{did_you_mean, one_of};

pub(super) fn load_error_diag(
    sources: &SourceMap,
    path: &Path,
    e: &marked_yaml::LoadError,
) -> Diagnostic {
    use marked_yaml::LoadError as E;
    let (marker, message, expected) = match e {
        E::TopLevelMustBeMapping(m) => (
            Some(*m),
            "the file must be a YAML mapping".to_owned(),
            Some("`key: value` lines at the top level"),
        ),
        E::TopLevelMustBeSequence(m) => (Some(*m), "the file must be a YAML list".to_owned(), None),
        E::UnexpectedAnchor(m) => (
            Some(*m),
            "YAML anchors and aliases are not supported".to_owned(),
            Some("the value written out in full"),
        ),
        E::MappingKeyMustBeScalar(m) => (
            Some(*m),
            "mapping keys must be plain strings".to_owned(),
            None,
        ),
        E::UnexpectedTag(m) => (
            Some(*m),
            "YAML tags (`!tag`) are not supported".to_owned(),
            None,
        ),
        E::ScanError(m, err) => (Some(*m), format!("invalid YAML: {err}"), None),
        E::DuplicateKey(inner) => {
            let key = inner.key.as_str().to_owned();
            (
                inner.key.span().start().copied(),
                format!("duplicate key `{key}`"),
                Some("each key once per mapping"),
            )
        }
    };
    let mut d = match marker {
        Some(m) => Diagnostic::at(sources, &Span::new_start(m), message),
        None => Diagnostic::file(path, message),
    };
    if let Some(x) = expected {
        d = d.expected(x);
    }
    d
}

pub(super) fn serde_error_diag(
    sources: &SourceMap,
    node: &Node,
    what: &str,
    e: marked_yaml::FromNodeError,
) -> Diagnostic {
    use marked_yaml::Error as E;
    let path = e.path().map(str::to_owned);
    let inner = e.into_inner();
    let span = match inner.start_mark() {
        Some(m) => Span::new_start(m),
        None => *node.span(),
    };
    match inner {
        E::UnknownFieldError(field, expected, _) => {
            Diagnostic::at(sources, &span, format!("unknown key `{field}` in {what}"))
                .key(path.unwrap_or(field.clone()))
                .expected(one_of(expected.iter().copied()))
                .hint(did_you_mean(&field, expected.iter().copied()))
        }
        E::FloatParseFailure(_, _) | E::IntegerParseFailure(_, _) => {
            let key = path.unwrap_or_default();
            Diagnostic::at(
                sources,
                &span,
                format!("`{key}` in {what} is not a valid number"),
            )
            .key(key)
            .expected("a number")
        }
        E::NotBoolean(_) => {
            let key = path.unwrap_or_default();
            Diagnostic::at(
                sources,
                &span,
                format!("`{key}` in {what} is not a boolean"),
            )
            .key(key)
            .expected("`true` or `false`")
        }
        E::Other(msg, _) => {
            if let Some(field) = msg
                .strip_prefix("missing field `")
                .and_then(|m| m.strip_suffix('`'))
            {
                Diagnostic::at(sources, &span, format!("missing key `{field}` in {what}"))
                    .key(field.to_owned())
                    .expected(format!("`{field}:` on this {what}"))
            } else {
                let mut d = Diagnostic::at(sources, &span, format!("invalid {what}: {msg}"));
                if let Some(p) = path {
                    d = d.key(p);
                }
                d
            }
        }
    }
}
