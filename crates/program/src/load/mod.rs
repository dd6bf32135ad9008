//! Reading a program directory: parse every file, deserialize each item on its own so one
//! mistake does not hide the next, then cross-check ids, shares and documents.
//!
//! All problems are collected into [`Diagnostics`]; a program is returned only when there
//! are none.
//!
//! One module per thing loaded: `tools`, `tiers`, `personas`, then `suites` (which
//! files, read case by case) and `cases` (each case checked in steps). This module holds
//! the entry points, the `Loader` they share and the checks across those parts.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use marked_yaml::types::MarkedMappingNode;
use marked_yaml::{Node, Span, Spanned};
use serde::de::DeserializeOwned;

use crate::diagnostic::{Diagnostic, Diagnostics, SourceMap};
use crate::model::{Case, Program, Tier, DEFAULT_HORIZON_DAYS};
use crate::raw::PROGRAM_KEYS;
use crate::suggest::{did_you_mean, one_of};
use crate::yaml::{loader_options, scalar};

mod case_tools;
mod cases;
mod personas;
mod seen_ids;
mod suites;
mod tiers;
mod tools;
mod yaml_errors;

pub use personas::DEFAULT_EDGE_SHARE;
use seen_ids::SeenIds;
use suites::{CaseSink, SuiteCtx, SuiteOut};
pub use tools::SCRIPTED_ERRORS;
use yaml_errors::{load_error_diag, read_text, serde_error_diag};

/// The file name that marks a program directory.
pub const PROGRAM_FILE: &str = "proximity.yaml";

/// Why a program could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no `{PROGRAM_FILE}` found in {0} or any parent directory")]
    NotFound(PathBuf),
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Find the nearest directory at or above `start` holding `proximity.yaml`.
pub fn find_program_root(start: &Path) -> Result<PathBuf, LoadError> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        if d.join(PROGRAM_FILE).is_file() {
            return Ok(d.to_path_buf());
        }
        dir = d.parent();
    }
    Err(LoadError::NotFound(start.to_path_buf()))
}

fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.contains(char::is_whitespace))
}

/// The `notify:` webhook URL of the program in `root` (read from `proximity.yaml`; the
/// loader has validated it). `None` when absent or unreadable.
pub fn notify_url(root: &Path) -> Option<String> {
    let text = fs_err::read_to_string(root.join(PROGRAM_FILE)).ok()?;
    if crate::yaml::too_deep(&text).is_some() {
        return None;
    }
    let node = marked_yaml::parse_yaml_with_options(0, &text, loader_options()).ok()?;
    let url = node.as_mapping()?.get_node("notify").and_then(scalar)?;
    is_http_url(url).then(|| url.to_owned())
}

/// The `canaries:` of the program in `root`: strings that must never leave it, redacted
/// from captures (read from `proximity.yaml`; the loader has validated them). Empty when
/// absent or unreadable.
pub fn canaries(root: &Path) -> Vec<String> {
    let Ok(text) = fs_err::read_to_string(root.join(PROGRAM_FILE)) else {
        return Vec::new();
    };
    if crate::yaml::too_deep(&text).is_some() {
        return Vec::new();
    }
    let Ok(node) = marked_yaml::parse_yaml_with_options(0, &text, loader_options()) else {
        return Vec::new();
    };
    node.as_mapping()
        .and_then(|m| m.get_node("canaries"))
        .and_then(Node::as_sequence)
        .map(|seq| {
            seq.iter()
                .filter_map(scalar)
                .filter(|c| !c.trim().is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Load and validate the program in `root`.
pub fn load(root: &Path) -> Result<Program, LoadError> {
    load_with(Loader::default(), root)
}

/// Load and validate the program in `root`, handing each case to `on_case` as soon as it
/// is read and checked instead of keeping it: the program returned has no `cases`, and
/// memory does not grow with the suites. `on_case` returning `Break` stops the reading
/// (the result is then the program as read so far).
///
/// Cases are handed out before the whole program is checked, so a program with errors
/// may have given some: read it once to validate (counting what it needs), then again to
/// use the cases.
pub fn load_each(
    root: &Path,
    on_case: &mut dyn FnMut(Case) -> ControlFlow<()>,
) -> Result<Program, LoadError> {
    finish(Loader::default(), root, CaseSink::Each(on_case))
}

fn load_with(loader: Loader, root: &Path) -> Result<Program, LoadError> {
    finish(loader, root, CaseSink::Collect(Vec::new()))
}

fn finish(mut loader: Loader, root: &Path, sink: CaseSink<'_>) -> Result<Program, LoadError> {
    let program = loader.load(root, sink);
    if loader.diags.is_empty() {
        if let Some(p) = program {
            return Ok(p);
        }
    }
    loader.diags.sort();
    Err(LoadError::Invalid(loader.diags))
}

#[derive(Default)]
struct Loader {
    sources: SourceMap,
    diags: Diagnostics,
    /// Parse every suite file whole, as before suites were streamed: the behaviour
    /// streaming is tested against.
    whole_files: bool,
    /// Ids of personas whose entry failed to load (its error already reported): cases
    /// naming one are not reported again as naming an unknown persona.
    broken_personas: Vec<String>,
}

impl Loader {
    fn diag(&self, span: &Span, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::at(&self.sources, span, msg)
    }

    /// Read a file into the source map; its source id.
    fn read_source(&mut self, path: &Path) -> Option<usize> {
        match read_text(path) {
            Ok(text) => Some(self.sources.add(path.to_path_buf(), text)),
            Err(d) => {
                self.diags.push(*d);
                None
            }
        }
    }

    /// Parse a file read with [`Self::read_source`] whole.
    fn parse(&mut self, id: usize, path: &Path) -> Option<Node> {
        if let Some(at) = crate::yaml::too_deep(self.sources.text(id)) {
            let at = marked_yaml::Marker::new(id, at.index(), at.line(), at.col() + 1);
            let d = Diagnostic::at(
                &self.sources,
                &marked_yaml::Span::new_start(at),
                format!(
                    "the YAML nests deeper than {} levels",
                    crate::yaml::MAX_DEPTH
                ),
            )
            .expected("a program's lists and mappings nested a few levels deep");
            self.diags.push(d);
            return None;
        }
        match marked_yaml::parse_yaml_with_options(id, self.sources.text(id), loader_options()) {
            Ok(node) => Some(node),
            Err(e) => {
                let d = load_error_diag(&self.sources, path, &e);
                self.diags.push(d);
                None
            }
        }
    }

    fn read(&mut self, path: &Path) -> Option<Node> {
        let id = self.read_source(path)?;
        self.parse(id, path)
    }

    /// Deserialize one item; on failure record a located diagnostic.
    fn item<T: DeserializeOwned>(&mut self, node: &Node, what: &str) -> Option<T> {
        match marked_yaml::from_node::<T>(node) {
            Ok(v) => Some(v),
            Err(e) => {
                let d = serde_error_diag(&self.sources, node, what, e);
                self.diags.push(d);
                None
            }
        }
    }

    fn check_keys(&mut self, map: &MarkedMappingNode, allowed: &[&str], what: &str) {
        for (k, _) in map.iter() {
            if !allowed.contains(&k.as_str()) {
                let d = self
                    .diag(k.span(), format!("unknown key `{}` in {what}", k.as_str()))
                    .key(k.as_str())
                    .expected(one_of(allowed.iter().copied()))
                    .hint(did_you_mean(k.as_str(), allowed.iter().copied()));
                self.diags.push(d);
            }
        }
    }

    fn list<'a>(&mut self, map: &'a MarkedMappingNode, key: &str) -> &'a [Node] {
        match map.get_node(key) {
            None => &[],
            Some(Node::Sequence(seq)) => seq.as_slice(),
            Some(other) => {
                let d = self
                    .diag(other.span(), format!("`{key}` must be a list"))
                    .key(key)
                    .expected("a YAML list (`- id: ...` items)");
                self.diags.push(d);
                &[]
            }
        }
    }

    fn load(&mut self, root: &Path, sink: CaseSink<'_>) -> Option<Program> {
        let path = root.join(PROGRAM_FILE);
        if !path.is_file() {
            self.diags.push(Diagnostic::file(
                &path,
                format!("`{PROGRAM_FILE}` not found; run `proximity init` to create a program"),
            ));
            return None;
        }
        let top = self.read(&path)?;
        let map = top.as_mapping()?.clone();
        self.check_keys(&map, &PROGRAM_KEYS, "`proximity.yaml`");
        if let Some(v) = map.get_node("version") {
            if scalar(v) != Some("1") {
                let d = self
                    .diag(v.span(), "unsupported program version")
                    .key("version")
                    .expected("`1`");
                self.diags.push(d);
            }
        }
        let name = map
            .get_node("name")
            .and_then(scalar)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let abs = if root.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    root
                };
                abs.canonicalize()
                    .ok()
                    .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
                    .unwrap_or_else(|| "program".to_owned())
            });
        let description = map
            .get_node("description")
            .and_then(scalar)
            .map(str::to_owned);
        let judge_tool = map
            .get_node("judge_tool")
            .and_then(|n| scalar(n).map(|s| Spanned::new(*n.span(), s.to_owned())));

        let horizon_days = self.horizon_days(&map);
        self.check_notify(&map);
        self.check_canaries(&map);
        let mut fallbacks = Vec::new();
        let tools = self.tools(&map, &mut fallbacks);
        // Ids declared by items that failed to parse still count for references, so one
        // mistake in a tool does not also make every mention of it an error.
        let declared_tools = declared_ids(&map, "tools");
        let declared_tiers = declared_ids(&map, "tiers");
        let tiers = self.tiers(&map, &declared_tools);
        let personas = self.personas(&map, &declared_tiers);
        self.check_fallbacks(&fallbacks, &declared_tools, &tiers);
        let tool_ids: Vec<&str> = declared_tools.iter().map(String::as_str).collect();
        if let Some(j) = &judge_tool {
            if !tool_ids.contains(&j.as_str()) {
                let d = self
                    .diag(j.span(), format!("unknown tool `{}`", j.as_str()))
                    .key("judge_tool")
                    .expected(one_of(tool_ids.iter().copied()))
                    .hint(did_you_mean(j, tool_ids.iter().copied()));
                self.diags.push(d);
            }
        }

        let suite_files = self.suite_files(root, &map);
        let ctx = SuiteCtx {
            root,
            personas: &personas,
            persona_ids: personas.iter().map(|p| p.id.as_str()).collect(),
            tool_ids: &tool_ids,
            has_judge_default: judge_tool.is_some(),
        };
        for w in personas.iter().flat_map(|p| &p.workflows) {
            self.check_judges(&ctx, &w.live);
        }
        let mut out = SuiteOut {
            sink,
            stopped: false,
            seen: SeenIds::default(),
        };
        for file in suite_files {
            if out.stopped {
                break;
            }
            self.suite(&ctx, &file, &mut out);
        }
        let cases = match out.sink {
            CaseSink::Collect(cases) => cases,
            CaseSink::Each(_) => Vec::new(),
        };

        Some(Program {
            root: root.to_path_buf(),
            name,
            description,
            tools,
            tiers,
            personas,
            cases,
            judge_tool: judge_tool.map(|j| j.as_str().to_owned()),
            horizon_days,
        })
    }

    /// `notify`: the webhook `proximity drift` posts its summary to, an http(s) URL.
    fn check_notify(&mut self, map: &MarkedMappingNode) {
        let Some(node) = map.get_node("notify") else {
            return;
        };
        if !scalar(node).is_some_and(is_http_url) {
            let d = self
                .diag(node.span(), "`notify` must be an http or https URL")
                .key("notify")
                .expected("a webhook URL, e.g. `https://hooks.example.com/T0/B1`");
            self.diags.push(d);
        }
    }

    /// `canaries`: a list of non-empty strings (see [`canaries`]).
    fn check_canaries(&mut self, map: &MarkedMappingNode) {
        let Some(node) = map.get_node("canaries") else {
            return;
        };
        let expected = "a list of strings that must never leave, e.g. `[ACME-INTERNAL-7731]`";
        let Some(seq) = node.as_sequence() else {
            let d = self
                .diag(node.span(), "`canaries` must be a list")
                .key("canaries")
                .expected(expected);
            self.diags.push(d);
            return;
        };
        for item in seq.iter() {
            if scalar(item).is_none_or(|c| c.trim().is_empty()) {
                let d = self
                    .diag(item.span(), "a canary must be a non-empty string")
                    .key("canaries")
                    .expected(expected);
                self.diags.push(d);
            }
        }
    }

    /// `horizon_days`: a positive whole number of days, [`DEFAULT_HORIZON_DAYS`] if absent.
    fn horizon_days(&mut self, map: &MarkedMappingNode) -> u32 {
        let Some(node) = map.get_node("horizon_days") else {
            return DEFAULT_HORIZON_DAYS;
        };
        match scalar(node).and_then(|s| s.parse::<u32>().ok()) {
            Some(days) if days > 0 => days,
            _ => {
                let d = self
                    .diag(
                        node.span(),
                        "`horizon_days` must be a positive whole number",
                    )
                    .key("horizon_days")
                    .expected("days evidence stays current, e.g. `90`");
                self.diags.push(d);
                DEFAULT_HORIZON_DAYS
            }
        }
    }

    fn dup_check(
        &mut self,
        seen: &mut HashMap<String, Span>,
        id: &Spanned<String>,
        what: &str,
    ) -> bool {
        if let Some(first) = seen.get(id.as_str()) {
            let first = Diagnostic::at(&self.sources, first, "");
            let d = self
                .diag(id.span(), format!("duplicate {what} id `{}`", id.as_str()))
                .key("id")
                .expected(format!(
                    "a unique id (first defined at line {})",
                    first.line
                ));
            self.diags.push(d);
            return false;
        }
        seen.insert(id.as_str().to_owned(), *id.span());
        true
    }

    /// Each `fallback:` names another declared tool that shares a tier with its tool, so
    /// falling back never gives a persona a tool outside its tier.
    fn check_fallbacks(
        &mut self,
        fallbacks: &[(String, Spanned<String>)],
        tool_ids: &[String],
        tiers: &[Tier],
    ) {
        for (tool, fallback) in fallbacks {
            let target = fallback.as_str();
            if target == tool {
                let d = self
                    .diag(
                        fallback.span(),
                        format!("tool `{tool}` falls back to itself"),
                    )
                    .key("fallback")
                    .expected("another tool of a tier this tool is in");
                self.diags.push(d);
                continue;
            }
            if !tool_ids.iter().any(|t| t == target) {
                let d = self
                    .diag(fallback.span(), format!("unknown fallback tool `{target}`"))
                    .key("fallback")
                    .expected(one_of(tool_ids.iter().map(String::as_str)))
                    .hint(did_you_mean(fallback, tool_ids.iter().map(String::as_str)));
                self.diags.push(d);
                continue;
            }
            let shared = tiers
                .iter()
                .any(|t| t.tools.iter().any(|x| x == tool) && t.tools.iter().any(|x| x == target));
            if !shared {
                let d = self
                    .diag(
                        fallback.span(),
                        format!("fallback `{target}` shares no tier with tool `{tool}`"),
                    )
                    .key("fallback")
                    .expected(format!(
                        "a tool listed in the same tier as `{tool}` (add `{target}` to that tier, or pick another fallback)"
                    ));
                self.diags.push(d);
            }
        }
    }
}

/// The `id`s written in a list, whether or not their items are otherwise valid.
fn declared_ids(map: &MarkedMappingNode, key: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    if let Some(seq) = map.get_node(key).and_then(Node::as_sequence) {
        for item in seq.iter() {
            if let Some(id) = item
                .as_mapping()
                .and_then(|m| m.get_node("id"))
                .and_then(scalar)
            {
                if !ids.iter().any(|i| i == id) {
                    ids.push(id.to_owned());
                }
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests;
