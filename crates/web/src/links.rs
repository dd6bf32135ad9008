//! Where each page lives: absolute paths on the server, relative file names in the static
//! report. Page builders ask [`Links`] for every href so one view renders both ways.

use proximity_store::ResultFilter;
use serde::Serialize;

/// How links are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// The dashboard: `/persona/support?run=…`.
    Server,
    /// The static report: `persona-support.html`, all in one directory.
    Static,
}

/// The navigation bar's targets.
#[derive(Debug, Clone, Serialize)]
pub struct Nav {
    pub overview: String,
    pub runs: Option<String>,
    pub run: Option<String>,
    pub field_log: String,
    pub decisions: String,
    pub usage: String,
    /// Whether this is the static report (no forms).
    pub is_static: bool,
}

impl Links {
    pub fn nav(self) -> Nav {
        match self {
            Self::Server => Nav {
                overview: "/".into(),
                runs: Some("/runs".into()),
                run: None,
                field_log: "/field-log".into(),
                decisions: "/decisions".into(),
                usage: "/usage".into(),
                is_static: false,
            },
            Self::Static => Nav {
                overview: "index.html".into(),
                runs: None,
                run: Some("run.html".into()),
                field_log: "field-log.html".into(),
                decisions: "decisions.html".into(),
                usage: "usage.html".into(),
                is_static: true,
            },
        }
    }

    pub fn overview(self, run: &str) -> String {
        match self {
            Self::Server => format!("/?run={}", enc(run)),
            Self::Static => "index.html".into(),
        }
    }

    pub fn persona(self, id: &str, run: &str) -> String {
        match self {
            Self::Server => format!("/persona/{}?run={}", enc(id), enc(run)),
            Self::Static => format!("persona-{}.html", file_slug(id)),
        }
    }

    pub fn tool(self, id: &str) -> String {
        match self {
            Self::Server => format!("/tool/{}", enc(id)),
            Self::Static => format!("tool-{}.html", file_slug(id)),
        }
    }

    pub fn run(self, id: &str, filter: &ResultFilter, page: u64) -> String {
        match self {
            Self::Server => {
                let mut q = Vec::new();
                let mut add = |k: &str, v: Option<&str>| {
                    if let Some(v) = v {
                        q.push(format!("{k}={}", enc(v)));
                    }
                };
                add("verdict", filter.verdict.map(|v| v.as_str()));
                add("workflow", filter.workflow.as_deref());
                add("kind", filter.kind.as_deref());
                add("tool", filter.tool.as_deref());
                add("persona", filter.persona.as_deref());
                if page > 0 {
                    q.push(format!("page={page}"));
                }
                let query = if q.is_empty() {
                    String::new()
                } else {
                    format!("?{}", q.join("&"))
                };
                format!("/run/{}{query}", enc(id))
            }
            Self::Static => "run.html".into(),
        }
    }

    /// A result's page; `index` numbers it in the static report.
    pub fn result(self, run: &str, tool: &str, case: &str, sample: i64, index: usize) -> String {
        match self {
            Self::Server => format!(
                "/run/{}/result/{}/{}/{sample}",
                enc(run),
                enc(tool),
                enc(case)
            ),
            Self::Static => format!("result-{index}.html"),
        }
    }
}

/// Percent-encode everything but unreserved characters (RFC 3986), for a path segment
/// or a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A file-name-safe form of an id: ASCII letters, digits, `-` and `_` kept, anything else
/// `_` followed by its hex code, so distinct ids never share a file.
pub fn file_slug(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for c in id.chars() {
        if c.is_ascii_alphanumeric() || c == '-' {
            out.push(c);
        } else {
            out.push_str(&format!("_{:x}", u32::from(c)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_safe_paths_and_file_names() {
        assert_eq!(enc("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(file_slug("fin-ops"), "fin-ops");
        assert_eq!(file_slug("../x"), "_2e_2e_2fx");
        assert_ne!(file_slug("a_b"), file_slug("a.b"));
    }
}
