//! Suite files: which files the program's `suites:` names, and reading each one case by
//! case (streamed, or whole when streaming cannot be trusted), with the suite-wide
//! defaults and where the checked cases go.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use marked_yaml::types::MarkedMappingNode;
use marked_yaml::{Node, Span, Spanned};

use super::seen_ids::SeenIds;
use super::Loader;
use crate::diagnostic::Diagnostic;
use crate::file_chars::FileChars;
use crate::model::{Case, Persona};
use crate::raw::{RawCase, SUITE_KEYS};
use crate::yaml::scalar;
use crate::yaml_stream::parse_streaming;

/// What every suite's cases are checked against.
pub(super) struct SuiteCtx<'a> {
    pub(super) root: &'a Path,
    pub(super) personas: &'a [Persona],
    pub(super) persona_ids: Vec<&'a str>,
    pub(super) tool_ids: &'a [&'a str],
    pub(super) has_judge_default: bool,
}

/// Where checked cases go: kept in the program, or handed out one at a time.
pub(super) enum CaseSink<'s> {
    Collect(Vec<Case>),
    Each(&'s mut dyn FnMut(Case) -> ControlFlow<()>),
}

/// The cases of every suite read so far.
pub(super) struct SuiteOut<'s> {
    pub(super) sink: CaseSink<'s>,
    /// The sink asked to stop: no more cases are built.
    pub(super) stopped: bool,
    /// Where each case id was first defined.
    pub(super) seen: SeenIds,
}

impl SuiteOut<'_> {
    pub(super) fn emit(&mut self, case: Case) {
        match &mut self.sink {
            CaseSink::Collect(cases) => cases.push(case),
            CaseSink::Each(f) => {
                if f(case).is_break() {
                    self.stopped = true;
                }
            }
        }
    }

    /// Cases kept so far (0 when they are handed out).
    pub(super) fn kept(&self) -> usize {
        match &self.sink {
            CaseSink::Collect(cases) => cases.len(),
            CaseSink::Each(_) => 0,
        }
    }

    /// Forget what suite `source` added: it is read again whole. Cases already handed out
    /// stay given; this only happens to a file marked-yaml rejects, so the load fails.
    pub(super) fn undo(&mut self, source: usize, kept_before: usize) {
        if let CaseSink::Collect(cases) = &mut self.sink {
            cases.truncate(kept_before);
        }
        self.seen
            .forget_source(u32::try_from(source).unwrap_or(u32::MAX));
    }
}

/// A suite file's top-level `persona` and `workflow`, for cases that name none.
pub(super) struct SuiteDefaults {
    pub(super) persona: Option<Spanned<String>>,
    pub(super) workflow: Option<Spanned<String>>,
}

impl SuiteDefaults {
    pub(super) fn of(map: &MarkedMappingNode) -> Self {
        let get = |key| {
            map.get_node(key)
                .and_then(|n| scalar(n).map(|s| Spanned::new(*n.span(), s.to_owned())))
        };
        Self {
            persona: get("persona"),
            workflow: get("workflow"),
        }
    }
}

impl Loader {
    pub(super) fn suite_files(&mut self, root: &Path, map: &MarkedMappingNode) -> Vec<PathBuf> {
        let entries: Vec<(String, Option<Span>)> = match map.get_node("suites") {
            None => vec![("suites".to_owned(), None)],
            Some(node) => match node.as_sequence() {
                Some(seq) => seq
                    .iter()
                    .filter_map(|n| scalar(n).map(|s| (s.to_owned(), Some(*n.span()))))
                    .collect(),
                None => {
                    let d = self
                        .diag(node.span(), "`suites` must be a list")
                        .key("suites")
                        .expected("a list of suite files or directories, relative to the program");
                    self.diags.push(d);
                    Vec::new()
                }
            },
        };
        let mut files = Vec::new();
        for (entry, span) in entries {
            let path = root.join(&entry);
            if path.is_dir() {
                let mut found: Vec<PathBuf> = match fs_err::read_dir(&path) {
                    Ok(rd) => rd
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| {
                            matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                        })
                        .collect(),
                    Err(e) => {
                        self.diags
                            .push(Diagnostic::file(&path, format!("cannot list suites: {e}")));
                        Vec::new()
                    }
                };
                found.sort();
                files.extend(found);
            } else if path.is_file() {
                files.push(path);
            } else if let Some(span) = span {
                let d = self
                    .diag(&span, format!("suite `{entry}` not found"))
                    .key("suites")
                    .expected("a YAML file or a directory of them, relative to the program");
                self.diags.push(d);
            }
        }
        files
    }

    /// Load one suite file. Its cases are parsed one at a time as the file is read
    /// ([`parse_streaming`] over [`FileChars`]) and each is checked as soon as it is
    /// complete, so neither the file's text nor its tree is held; a file marked-yaml would
    /// reject (or that is not UTF-8) is undone and read whole, so that its errors are
    /// reported exactly as before.
    pub(super) fn suite(&mut self, ctx: &SuiteCtx<'_>, file: &Path, out: &mut SuiteOut<'_>) {
        let reader = match fs_err::File::open(file) {
            Ok(f) => f,
            Err(e) => {
                self.diags
                    .push(Diagnostic::file(file, format!("cannot read: {e}")));
                return;
            }
        };
        let id = self.sources.add_unread(file.to_path_buf());
        let diags_before = self.diags.len();
        let kept_before = out.kept();
        // Cases that need a suite default not read yet (`persona:` or `workflow:` may come
        // after `cases:`), and every case after the first of them, so order is kept.
        let mut deferred: Vec<Node> = Vec::new();
        let whole_file = self.whole_files;
        let mut chars = FileChars::new(std::io::BufReader::new(reader));
        let on_case = |node: Node, top: &MarkedMappingNode| {
            if out.stopped {
                return;
            }
            if !deferred.is_empty() {
                deferred.push(node);
                return;
            }
            let Some(raw) = self.item::<RawCase>(&node, "case") else {
                return;
            };
            // A top-level key already read has its final value (a repeated key is an error).
            let known = (raw.persona.is_some() || top.get_node("persona").is_some())
                && (raw.workflow.is_some() || top.get_node("workflow").is_some());
            if known {
                self.case(ctx, &node, raw, &SuiteDefaults::of(top), out);
            } else {
                deferred.push(node);
            }
        };
        let streamed = if whole_file {
            None
        } else {
            parse_streaming(id, &mut chars, "cases", on_case)
        };
        let Some(top) = streamed.filter(|_| !chars.failed()) else {
            self.diags.0.truncate(diags_before);
            out.undo(id, kept_before);
            match super::yaml_errors::read_text(file) {
                Ok(text) => self.sources.set_text(id, text),
                Err(d) => {
                    self.diags.push(*d);
                    return;
                }
            }
            let Some(top) = self.parse(id, file) else {
                return;
            };
            if let Some((items, defaults)) = self.suite_top(&top) {
                for node in items {
                    if let Some(raw) = self.item::<RawCase>(node, "case") {
                        self.case(ctx, node, raw, &defaults, out);
                    }
                }
            }
            return;
        };
        // The file's own problems come before its cases', as when it is read whole.
        let case_diags = self.diags.0.split_off(diags_before);
        let defaults = self.suite_top(&top).map(|(_, defaults)| defaults);
        self.diags.0.extend(case_diags);
        if let Some(defaults) = defaults {
            for node in &deferred {
                if let Some(raw) = self.item::<RawCase>(node, "case") {
                    self.case(ctx, node, raw, &defaults, out);
                }
            }
        }
    }

    /// Check a suite file's top-level mapping; its cases and defaults.
    fn suite_top<'a>(&mut self, top: &'a Node) -> Option<(&'a [Node], SuiteDefaults)> {
        let map = top.as_mapping()?;
        self.check_keys(map, &SUITE_KEYS, "a suite file");
        let defaults = SuiteDefaults::of(map);
        if map.get_node("cases").is_none() {
            let d = self
                .diag(top.span(), "suite file has no `cases`")
                .key("cases")
                .expected("a list of cases");
            self.diags.push(d);
        }
        Some((self.list(map, "cases"), defaults))
    }
}
