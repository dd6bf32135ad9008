//! Located errors in a program: what `proximity check` prints.
//!
//! A [`Diagnostic`] names the file, line and column, the offending key, what was expected
//! and, where one is close, a did-you-mean. [`Diagnostics`] collects every error the loader
//! can find so that one run of `check` reports them all.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use marked_yaml::Span;

use crate::location::Location;

/// Every file read, so diagnostics can quote the offending line.
///
/// A suite is parsed as it is read from disk, so its text is not kept: the map reads a
/// file's text (and indexes its lines) the first time something asks for it, which is
/// when a diagnostic quotes it or a file must be parsed whole.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

#[derive(Debug, Clone)]
struct SourceFile {
    path: PathBuf,
    /// Shared, so a file can be parsed while diagnostics quote it.
    text: OnceLock<Arc<String>>,
    /// Byte offset of the start of each line, so that quoting a line does not rescan the
    /// file.
    line_starts: OnceLock<Vec<usize>>,
}

impl SourceMap {
    /// Register a file with its text; the returned index is the marked-yaml source id.
    pub fn add(&mut self, path: PathBuf, text: String) -> usize {
        let id = self.add_unread(path);
        if let Some(f) = self.files.get(id) {
            let _ = f.text.set(Arc::new(text));
        }
        id
    }

    /// Register a file whose text is read when first needed.
    pub fn add_unread(&mut self, path: PathBuf) -> usize {
        self.files.push(SourceFile {
            path,
            text: OnceLock::new(),
            line_starts: OnceLock::new(),
        });
        self.files.len() - 1
    }

    /// Give a file registered unread its text (read whole because it must be parsed whole).
    pub fn set_text(&mut self, source: usize, text: String) {
        if let Some(f) = self.files.get(source) {
            let _ = f.text.set(Arc::new(text));
        }
    }

    pub fn path(&self, source: usize) -> &Path {
        self.files
            .get(source)
            .map(|f| f.path.as_path())
            .unwrap_or_else(|| Path::new("<unknown>"))
    }

    /// The text of a registered file ("" for an unknown id or an unreadable file).
    pub fn text(&self, source: usize) -> &str {
        self.file_text(source).map_or("", |t| t.as_str())
    }

    fn file_text(&self, source: usize) -> Option<&Arc<String>> {
        let f = self.files.get(source)?;
        Some(
            f.text
                .get_or_init(|| Arc::new(fs_err::read_to_string(&f.path).unwrap_or_default())),
        )
    }

    /// Line `line` (1-based) of a file, without its line ending, as `str::lines` gives it.
    fn line(&self, source: usize, line: usize) -> Option<&str> {
        let text = self.file_text(source)?;
        let starts = self.files.get(source)?.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        });
        let index = line.checked_sub(1)?;
        let start = *starts.get(index)?;
        if start >= text.len() {
            return None;
        }
        let end = starts.get(index + 1).copied().unwrap_or(text.len());
        let l = text.get(start..end)?;
        let l = l.strip_suffix('\n').unwrap_or(l);
        Some(l.strip_suffix('\r').unwrap_or(l))
    }

    /// Where `span` starts, without quoting the line (what a case or an assertion keeps).
    pub fn location(&self, span: &Span) -> Location {
        let (source, line, column) = span
            .start()
            .map(|m| (m.source(), m.line(), m.column()))
            .unwrap_or((usize::MAX, 0, 0));
        Location {
            file: self.path(source).to_path_buf(),
            line,
            column,
        }
    }
}

/// One problem found in a program.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// The file, relative to the program root where possible.
    pub file: PathBuf,
    /// 1-based; 0 when the problem concerns the whole file.
    pub line: usize,
    pub column: usize,
    /// The key (or id) at fault, e.g. `tools[2].provider`.
    pub key: Option<String>,
    pub message: String,
    pub expected: Option<String>,
    pub hint: Option<String>,
    /// The source line, quoted under the location.
    pub snippet: Option<String>,
}

impl Diagnostic {
    /// A diagnostic for a whole file (no position).
    pub fn file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: 0,
            column: 0,
            key: None,
            message: message.into(),
            expected: None,
            hint: None,
            snippet: None,
        }
    }

    /// A diagnostic at the start of `span` in a file of `sources`.
    pub fn at(sources: &SourceMap, span: &Span, message: impl Into<String>) -> Self {
        let (source, line, column) = span
            .start()
            .map(|m| (m.source(), m.line(), m.column()))
            .unwrap_or((usize::MAX, 0, 0));
        let file = sources.path(source).to_path_buf();
        let snippet = sources.line(source, line).map(str::to_owned);
        Self {
            file,
            line,
            column,
            key: None,
            message: message.into(),
            expected: None,
            hint: None,
            snippet,
        }
    }

    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub fn hint(mut self, hint: Option<String>) -> Self {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        if self.line > 0 {
            writeln!(
                f,
                "  --> {}:{}:{}",
                self.file.display(),
                self.line,
                self.column
            )?;
        } else {
            writeln!(f, "  --> {}", self.file.display())?;
        }
        if let Some(snippet) = &self.snippet {
            let gutter = self.line.to_string();
            let pad = " ".repeat(gutter.len());
            writeln!(f, "   {pad} |")?;
            writeln!(f, "   {gutter} | {snippet}")?;
            let mut caret = String::new();
            let _ = write!(caret, "{}^", " ".repeat(self.column.saturating_sub(1)));
            writeln!(f, "   {pad} | {caret}")?;
        }
        if let Some(key) = &self.key {
            writeln!(f, "   = key: `{key}`")?;
        }
        if let Some(expected) = &self.expected {
            writeln!(f, "   = expected: {expected}")?;
        }
        if let Some(hint) = &self.hint {
            writeln!(f, "   = hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in a program, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// Sort by file then position, so output is stable.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            (a.file.as_path(), a.line, a.column).cmp(&(b.file.as_path(), b.line, b.column))
        });
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        let n = self.0.len();
        write!(
            f,
            "{n} error{} found in the program",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_lines_match_str_lines() {
        for text in [
            "",
            "a",
            "a\n",
            "a\nb",
            "a\r\nb\r\n",
            "\n\nx\n",
            "one\ntwo\n\nfour",
        ] {
            let mut sources = SourceMap::default();
            let id = sources.add(PathBuf::from("f.yaml"), text.to_owned());
            for n in 0usize..6 {
                let expected = n.checked_sub(1).and_then(|i| text.lines().nth(i));
                assert_eq!(sources.line(id, n), expected, "line {n} of {text:?}");
            }
        }
    }
}
