//! Located diagnostics from marked-yaml's errors: a file that does not parse, and an
//! item that does not deserialize.

use std::path::Path;

use marked_yaml::{Marker, Node, Span};

use crate::diagnostic::{Diagnostic, SourceMap};
use crate::suggest::{did_you_mean, one_of};

pub(super) fn load_error_diag(
    sources: &SourceMap,
    path: &Path,
    e: &marked_yaml::LoadError,
) -> Diagnostic {
    use marked_yaml::LoadError as E;
    if let E::ScanError(m, err) = e {
        if let Some(d) = unclosed_flow_diag(sources, m, err) {
            return d;
        }
    }
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

/// The scanner reports a `[` or `{` never closed where it gives up — often the next
/// line (`kind: [edge` on line 14 is reported at line 15). When a flow collection opened
/// on an earlier line is still open there, point at it instead.
fn unclosed_flow_diag(
    sources: &SourceMap,
    m: &Marker,
    err: &impl std::fmt::Display,
) -> Option<Diagnostic> {
    let text = sources.text(m.source());
    let (line, column) = unclosed_flow_before(text, m.line())?;
    // Unless the scanner names a flow collection itself, only the line just before counts
    // (blank and comment lines aside): a `[` further up may be text of a block scalar.
    let mut between = text
        .lines()
        .skip(line)
        .take(m.line().saturating_sub(line + 1));
    let names_flow = err.to_string().contains("flow");
    if !names_flow && between.any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')) {
        return None;
    }
    let opener = text.lines().nth(line - 1)?.chars().nth(column - 1)?;
    let closer = if opener == '[' { ']' } else { '}' };
    let at = Marker::new(m.source(), 0, line, column);
    Some(
        Diagnostic::at(
            sources,
            &Span::new_start(at),
            format!("invalid YAML: `{opener}` is never closed"),
        )
        .expected(format!(
            "`{closer}` on the same line, or the value without `{opener}`"
        ))
        .hint(Some(format!(
            "the parser stopped at line {}: {err}",
            m.line()
        ))),
    )
}

/// The line and column (1-based) of the last `[` or `{` opened before line `before` and
/// not closed by then, outside quotes and comments.
pub(super) fn unclosed_flow_before(text: &str, before: usize) -> Option<(usize, usize)> {
    let mut open: Vec<(usize, usize)> = Vec::new();
    for (i, l) in text.lines().enumerate().take(before.saturating_sub(1)) {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (j, c) in l.chars().enumerate() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '#' if prev.is_whitespace() => break,
                    '"' | '\'' if prev.is_whitespace() || "[{,:".contains(prev) => quote = Some(c),
                    '[' | '{' => open.push((i + 1, j + 1)),
                    ']' | '}' => {
                        open.pop();
                    }
                    _ => {}
                },
            }
            prev = c;
        }
    }
    open.last().copied()
}

/// A file's text, or a diagnostic: one that cannot be read, or one that is not UTF-8
/// (located at the first bad byte: its line, column and byte offset).
pub(super) fn read_text(path: &Path) -> Result<String, Box<Diagnostic>> {
    let bytes = fs_err::read(path)
        .map_err(|e| Box::new(Diagnostic::file(path, format!("cannot read: {e}"))))?;
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let before = &bytes[..at];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let good = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let mut d = Diagnostic::file(
            path,
            format!(
                "cannot read: not UTF-8 (byte 0x{:02x} at byte offset {at})",
                bytes[at]
            ),
        );
        d.line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        d.column = good(&bytes[line_start..at]).chars().count() + 1;
        let line_end = bytes[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| at + i);
        d.snippet = Some(good(&bytes[line_start..line_end]));
        Box::new(d.expected("UTF-8 text: save the file as UTF-8"))
    })
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
