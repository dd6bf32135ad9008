//! Reading a program directory: parse every file, deserialize each item on its own so one
//! mistake does not hide the next, then cross-check ids, shares and documents.
//!
//! All problems are collected into [`Diagnostics`]; a program is returned only when there
//! are none.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use marked_yaml::types::MarkedMappingNode;
use marked_yaml::{Node, Span, Spanned};
use serde::de::DeserializeOwned;

use crate::assertion::{parse_assertions, Assertions, Check};
use crate::diagnostic::{Diagnostic, Diagnostics, SourceMap};
use crate::file_chars::FileChars;
use crate::model::{
    Case, CaseKind, CaseSource, Document, Location, Message, Persona, Program, ProviderKind, Role,
    Tier, Tool, Workflow, DEFAULT_HORIZON_DAYS,
};
use crate::raw::{RawCase, RawPersona, RawTier, RawTool, PROGRAM_KEYS, SUITE_KEYS};
use crate::suggest::{did_you_mean, one_of};
use crate::yaml::{loader_options, scalar};
use crate::yaml_stream::parse_streaming;

mod seen_ids;
use seen_ids::{FirstAt, SeenIds};

/// The file name that marks a program directory.
pub const PROGRAM_FILE: &str = "proximity.yaml";

/// Default share of edge cases in a workflow's real work.
pub const DEFAULT_EDGE_SHARE: f64 = 0.4;

/// Error classes a `scripted` rule may produce.
pub const SCRIPTED_ERRORS: [&str; 8] = [
    "auth",
    "rate_limited",
    "server",
    "timeout",
    "malformed",
    "refused",
    "context_overflow",
    "network",
];

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
    let node = marked_yaml::parse_yaml_with_options(0, &text, loader_options()).ok()?;
    let url = node.as_mapping()?.get_node("notify").and_then(scalar)?;
    is_http_url(url).then(|| url.to_owned())
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
}

/// What every suite's cases are checked against.
struct SuiteCtx<'a> {
    root: &'a Path,
    personas: &'a [Persona],
    persona_ids: Vec<&'a str>,
    tool_ids: &'a [&'a str],
    has_judge_default: bool,
}

/// Where checked cases go: kept in the program, or handed out one at a time.
enum CaseSink<'s> {
    Collect(Vec<Case>),
    Each(&'s mut dyn FnMut(Case) -> ControlFlow<()>),
}

/// The cases of every suite read so far.
struct SuiteOut<'s> {
    sink: CaseSink<'s>,
    /// The sink asked to stop: no more cases are built.
    stopped: bool,
    /// Where each case id was first defined.
    seen: SeenIds,
}

impl SuiteOut<'_> {
    fn emit(&mut self, case: Case) {
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
    fn kept(&self) -> usize {
        match &self.sink {
            CaseSink::Collect(cases) => cases.len(),
            CaseSink::Each(_) => 0,
        }
    }

    /// Forget what suite `source` added: it is read again whole. Cases already handed out
    /// stay given; this only happens to a file marked-yaml rejects, so the load fails.
    fn undo(&mut self, source: usize, kept_before: usize) {
        if let CaseSink::Collect(cases) = &mut self.sink {
            cases.truncate(kept_before);
        }
        self.seen
            .forget_source(u32::try_from(source).unwrap_or(u32::MAX));
    }
}

/// A suite file's top-level `persona` and `workflow`, for cases that name none.
struct SuiteDefaults {
    persona: Option<Spanned<String>>,
    workflow: Option<Spanned<String>>,
}

impl SuiteDefaults {
    fn of(map: &MarkedMappingNode) -> Self {
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
    fn diag(&self, span: &Span, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::at(&self.sources, span, msg)
    }

    /// Read a file into the source map; its source id.
    fn read_source(&mut self, path: &Path) -> Option<usize> {
        match fs_err::read_to_string(path) {
            Ok(text) => Some(self.sources.add(path.to_path_buf(), text)),
            Err(e) => {
                self.diags
                    .push(Diagnostic::file(path, format!("cannot read: {e}")));
                None
            }
        }
    }

    /// Parse a file read with [`Self::read_source`] whole.
    fn parse(&mut self, id: usize, path: &Path) -> Option<Node> {
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

    fn check_keys(
        &mut self,
        map: &marked_yaml::types::MarkedMappingNode,
        allowed: &[&str],
        what: &str,
    ) {
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

    fn list<'a>(
        &mut self,
        map: &'a marked_yaml::types::MarkedMappingNode,
        key: &str,
    ) -> &'a [Node] {
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
    fn check_notify(&mut self, map: &marked_yaml::types::MarkedMappingNode) {
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

    /// `horizon_days`: a positive whole number of days, [`DEFAULT_HORIZON_DAYS`] if absent.
    fn horizon_days(&mut self, map: &marked_yaml::types::MarkedMappingNode) -> u32 {
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

    fn tools(
        &mut self,
        map: &marked_yaml::types::MarkedMappingNode,
        fallbacks: &mut Vec<(String, Spanned<String>)>,
    ) -> Vec<Tool> {
        let mut out = Vec::new();
        let mut seen = HashMap::new();
        for node in self.list(map, "tools") {
            let Some(raw) = self.item::<RawTool>(node, "tool") else {
                continue;
            };
            if !self.dup_check(&mut seen, &raw.id, "tool") {
                continue;
            }
            let Some(provider) = ProviderKind::parse(&raw.provider) else {
                let d = self
                    .diag(
                        raw.provider.span(),
                        format!("unknown provider `{}`", raw.provider.as_str()),
                    )
                    .key("provider")
                    .expected(one_of(ProviderKind::ALL))
                    .hint(did_you_mean(&raw.provider, ProviderKind::ALL));
                self.diags.push(d);
                continue;
            };
            if matches!(provider, ProviderKind::Openai | ProviderKind::Anthropic)
                && raw.model.is_none()
            {
                let d = self
                    .diag(
                        node.span(),
                        format!("tool `{}` needs a `model`", raw.id.as_str()),
                    )
                    .key("model")
                    .expected(format!("the model name the `{provider}` endpoint serves"));
                self.diags.push(d);
            }
            self.check_params(node, &raw);
            out.push(Tool {
                id: raw.id.as_str().to_owned(),
                provider,
                model: raw.model,
                base_url: raw.base_url,
                api_key_env: raw.api_key_env,
                model_path: raw.model_path.map(PathBuf::from),
                params: raw.params,
                capabilities: raw.capabilities,
                context_window: raw.context_window,
                price: raw.price,
                description: raw.description,
                fallback: raw.fallback.as_ref().map(|f| f.as_str().to_owned()),
            });
            if let Some(f) = raw.fallback {
                fallbacks.push((raw.id.as_str().to_owned(), f));
            }
        }
        out
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

    fn check_params(&mut self, node: &Node, raw: &RawTool) {
        let params_span = node
            .as_mapping()
            .and_then(|m| m.get_node("params"))
            .map(|n| *n.span())
            .unwrap_or(*node.span());
        let p = &raw.params;
        if let Some(t) = p.temperature {
            if !(0.0..=2.0).contains(&t) {
                let d = self
                    .diag(&params_span, format!("temperature {t} is out of range"))
                    .key("params.temperature")
                    .expected("a number from 0 to 2");
                self.diags.push(d);
            }
        }
        if let Some(t) = p.top_p {
            if !(t > 0.0 && t <= 1.0) {
                let d = self
                    .diag(&params_span, format!("top_p {t} is out of range"))
                    .key("params.top_p")
                    .expected("a number greater than 0 and at most 1");
                self.diags.push(d);
            }
        }
        for rule in &p.rules {
            if let Some(re) = &rule.when_regex {
                if let Err(e) = regex::Regex::new(re) {
                    let d = self
                        .diag(&params_span, "invalid `when_regex` in a scripted rule")
                        .key("params.rules.when_regex")
                        .expected(format!("a valid Rust regex ({e})"));
                    self.diags.push(d);
                }
            }
            if let Some(err) = &rule.error {
                if !SCRIPTED_ERRORS.contains(&err.as_str()) {
                    let d = self
                        .diag(
                            &params_span,
                            format!("unknown error class `{err}` in a scripted rule"),
                        )
                        .key("params.rules.error")
                        .expected(one_of(SCRIPTED_ERRORS))
                        .hint(did_you_mean(err, SCRIPTED_ERRORS));
                    self.diags.push(d);
                }
            }
            if rule.reply.is_none() && rule.error.is_none() {
                let d = self
                    .diag(
                        &params_span,
                        "a scripted rule needs a `reply` or an `error`",
                    )
                    .key("params.rules");
                self.diags.push(d);
            }
        }
        if raw.provider.as_str() == "scripted" && p.rules.is_empty() && p.default_reply.is_none() {
            let d = self
                .diag(
                    raw.id.span(),
                    format!(
                        "scripted tool `{}` has no `rules` and no `default_reply`",
                        raw.id.as_str()
                    ),
                )
                .key("params")
                .expected("`params.rules` (a list of `when:`/`reply:`) or `params.default_reply`");
            self.diags.push(d);
        }
    }

    fn tiers(
        &mut self,
        map: &marked_yaml::types::MarkedMappingNode,
        tool_ids: &[String],
    ) -> Vec<Tier> {
        let tool_ids: Vec<&str> = tool_ids.iter().map(String::as_str).collect();
        let mut out = Vec::new();
        let mut seen = HashMap::new();
        for node in self.list(map, "tiers") {
            let Some(raw) = self.item::<RawTier>(node, "tier") else {
                continue;
            };
            if !self.dup_check(&mut seen, &raw.id, "tier") {
                continue;
            }
            for t in &raw.tools {
                if !tool_ids.contains(&t.as_str()) {
                    let d = self
                        .diag(
                            t.span(),
                            format!(
                                "tier `{}` names unknown tool `{}`",
                                raw.id.as_str(),
                                t.as_str()
                            ),
                        )
                        .key("tools")
                        .expected(one_of(tool_ids.iter().copied()))
                        .hint(did_you_mean(t, tool_ids.iter().copied()));
                    self.diags.push(d);
                }
            }
            out.push(Tier {
                id: raw.id.as_str().to_owned(),
                tools: raw.tools.iter().map(|t| t.as_str().to_owned()).collect(),
                budget_per_seat_month: raw.budget_per_seat_month,
                rate_limit: raw.rate_limit,
                data_classes: raw.data_classes,
            });
        }
        out
    }

    fn personas(
        &mut self,
        map: &marked_yaml::types::MarkedMappingNode,
        tier_ids: &[String],
    ) -> Vec<Persona> {
        let tier_ids: Vec<&str> = tier_ids.iter().map(String::as_str).collect();
        let mut out = Vec::new();
        let mut seen = HashMap::new();
        for node in self.list(map, "personas") {
            let Some(raw) = self.item::<RawPersona>(node, "persona") else {
                continue;
            };
            if !self.dup_check(&mut seen, &raw.id, "persona") {
                continue;
            }
            if !tier_ids.contains(&raw.tier.as_str()) {
                let d = self
                    .diag(
                        raw.tier.span(),
                        format!(
                            "persona `{}` names unknown tier `{}`",
                            raw.id.as_str(),
                            raw.tier.as_str()
                        ),
                    )
                    .key("tier")
                    .expected(one_of(tier_ids.iter().copied()))
                    .hint(did_you_mean(&raw.tier, tier_ids.iter().copied()));
                self.diags.push(d);
            }
            let mut wf_seen = HashMap::new();
            let mut workflows = Vec::new();
            let mut total = 0.0;
            for w in raw.workflows.iter() {
                if !self.dup_check(&mut wf_seen, &w.id, "workflow") {
                    continue;
                }
                for (name, value) in [("share", &w.share), ("floor", &w.floor)] {
                    if !(0.0..=1.0).contains(&**value) {
                        let d = self
                            .diag(value.span(), format!("{name} {} is out of range", **value))
                            .key(name)
                            .expected("a fraction from 0 to 1 (e.g. 0.25 for 25%)");
                        self.diags.push(d);
                    }
                }
                if let Some(e) = &w.edge_share {
                    if !(0.0..=1.0).contains(&**e) {
                        let d = self
                            .diag(e.span(), format!("edge_share {} is out of range", **e))
                            .key("edge_share")
                            .expected("a fraction from 0 to 1");
                        self.diags.push(d);
                    }
                }
                total += *w.share;
                workflows.push(Workflow {
                    id: w.id.as_str().to_owned(),
                    name: w.name.clone(),
                    share: *w.share,
                    monthly_volume: w.monthly_volume,
                    floor: *w.floor,
                    edge_share: w
                        .edge_share
                        .as_ref()
                        .map(|e| **e)
                        .unwrap_or(DEFAULT_EDGE_SHARE),
                });
            }
            if workflows.is_empty() {
                let d = self
                    .diag(
                        raw.workflows.span(),
                        format!("persona `{}` has no workflows", raw.id.as_str()),
                    )
                    .key("workflows")
                    .expected("at least one workflow with `id`, `share` and `floor`");
                self.diags.push(d);
            } else if (total - 1.0).abs() > 0.01 {
                let d = self
                    .diag(raw.workflows.span(), format!("workflow shares of persona `{}` sum to {total:.3}", raw.id.as_str()))
                    .key("workflows[].share")
                    .expected("shares that sum to 1 (±0.01): each is the fraction of the persona's real work");
                self.diags.push(d);
            }
            out.push(Persona {
                id: raw.id.as_str().to_owned(),
                name: raw.name.unwrap_or_else(|| raw.id.as_str().to_owned()),
                headcount: raw.headcount,
                tier: raw.tier.as_str().to_owned(),
                workflows,
            });
        }
        out
    }

    fn suite_files(
        &mut self,
        root: &Path,
        map: &marked_yaml::types::MarkedMappingNode,
    ) -> Vec<PathBuf> {
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
    fn suite(&mut self, ctx: &SuiteCtx<'_>, file: &Path, out: &mut SuiteOut<'_>) {
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
            match fs_err::read_to_string(file) {
                Ok(text) => self.sources.set_text(id, text),
                Err(e) => {
                    self.diags
                        .push(Diagnostic::file(file, format!("cannot read: {e}")));
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

    /// Check one case of a suite file and add it to `out`.
    fn case(
        &mut self,
        ctx: &SuiteCtx<'_>,
        node: &Node,
        raw: RawCase,
        defaults: &SuiteDefaults,
        out: &mut SuiteOut<'_>,
    ) {
        if out.stopped {
            return;
        }
        let loc = self.sources.location(raw.id.span());
        if let Some(first) = out.seen.get(raw.id.as_str()) {
            let first = Location {
                file: self.sources.path(first.source as usize).to_path_buf(),
                line: first.line as usize,
                column: first.column as usize,
            };
            let d = self
                .diag(
                    raw.id.span(),
                    format!("duplicate case id `{}`", raw.id.as_str()),
                )
                .key("id")
                .expected(format!("a unique case id (first defined at {first})"));
            self.diags.push(d);
            return;
        }
        let source = raw.id.span().start().map_or(usize::MAX, |m| m.source());
        let small = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        out.seen.insert(
            raw.id.as_str(),
            FirstAt {
                source: small(source),
                line: small(loc.line),
                column: small(loc.column),
            },
        );

        let case_span = *node.span();
        let persona = raw.persona.clone().or_else(|| defaults.persona.clone());
        let workflow = raw.workflow.clone().or_else(|| defaults.workflow.clone());
        let (Some(persona), Some(workflow)) = (persona, workflow) else {
            let d = self
                .diag(
                    &case_span,
                    format!("case `{}` has no persona or workflow", raw.id.as_str()),
                )
                .key("persona")
                .expected("`persona` and `workflow` on the case or at the top of the suite file");
            self.diags.push(d);
            return;
        };
        match ctx.personas.iter().find(|p| p.id == persona.as_str()) {
            None => {
                let d = self
                    .diag(
                        persona.span(),
                        format!("unknown persona `{}`", persona.as_str()),
                    )
                    .key("persona")
                    .expected(one_of(ctx.persona_ids.iter().copied()))
                    .hint(did_you_mean(&persona, ctx.persona_ids.iter().copied()));
                self.diags.push(d);
            }
            Some(p) => {
                if p.workflow(&workflow).is_none() {
                    let wf: Vec<&str> = p.workflows.iter().map(|w| w.id.as_str()).collect();
                    let d = self
                        .diag(
                            workflow.span(),
                            format!(
                                "persona `{}` has no workflow `{}`",
                                persona.as_str(),
                                workflow.as_str()
                            ),
                        )
                        .key("workflow")
                        .expected(one_of(wf.iter().copied()))
                        .hint(did_you_mean(&workflow, wf.iter().copied()));
                    self.diags.push(d);
                }
            }
        }
        let kind = match &raw.kind {
            None => CaseKind::Routine,
            Some(k) => CaseKind::parse(k).unwrap_or_else(|| {
                let d = self
                    .diag(k.span(), format!("unknown case kind `{}`", k.as_str()))
                    .key("kind")
                    .expected(one_of(CaseKind::ALL))
                    .hint(did_you_mean(k, CaseKind::ALL));
                self.diags.push(d);
                CaseKind::Routine
            }),
        };
        let source = match &raw.source {
            None => CaseSource::Synthetic,
            Some(s) => CaseSource::parse(s).unwrap_or_else(|| {
                let d = self
                    .diag(s.span(), format!("unknown case source `{}`", s.as_str()))
                    .key("source")
                    .expected(one_of(CaseSource::ALL))
                    .hint(did_you_mean(s, CaseSource::ALL));
                self.diags.push(d);
                CaseSource::Synthetic
            }),
        };
        let mut documents = Vec::new();
        for doc in &raw.documents {
            let path = ctx.root.join(doc.as_str());
            match fs_err::read_to_string(&path) {
                Ok(content) => documents.push(Document {
                    path: doc.as_str().to_owned(),
                    content,
                }),
                Err(_) => {
                    let d = self
                        .diag(doc.span(), format!("document `{}` not found", doc.as_str()))
                        .key("documents")
                        .expected(format!(
                            "a readable file relative to the program directory ({})",
                            ctx.root.display()
                        ));
                    self.diags.push(d);
                }
            }
        }
        let assertions = match node.as_mapping().and_then(|m| m.get_node("assert")) {
            Some(a) => parse_assertions(&self.sources, a, &mut self.diags),
            None => Assertions::default(),
        };
        if assertions.is_empty() && !has_assertion_items(node) {
            let d = self
                .diag(raw.id.span(), format!("case `{}` has no assertion", raw.id.as_str()))
                .key("assert")
                .expected("at least one assertion under `assert.contract`, `assert.correct` or `assert.safety`");
            self.diags.push(d);
        }
        for a in assertions.iter() {
            if let Check::Judge { tool, .. } = &a.check {
                match tool {
                    Some(t) if !ctx.tool_ids.contains(&t.as_str()) => {
                        let d = Diagnostic {
                            file: a.location.file.clone(),
                            line: a.location.line,
                            column: a.location.column,
                            key: Some("judge.tool".into()),
                            message: format!("judge names unknown tool `{t}`"),
                            expected: Some(one_of(ctx.tool_ids.iter().copied())),
                            hint: did_you_mean(t, ctx.tool_ids.iter().copied()),
                            snippet: None,
                        };
                        self.diags.push(d);
                    }
                    None if !ctx.has_judge_default => {
                        let d = Diagnostic {
                            file: a.location.file.clone(),
                            line: a.location.line,
                            column: a.location.column,
                            key: Some("judge.tool".into()),
                            message: "judge names no tool and the program has no `judge_tool`".into(),
                            expected: Some("`judge: { rubric: ..., tool: <tool id> }` or a top-level `judge_tool`".into()),
                            hint: None,
                            snippet: None,
                        };
                        self.diags.push(d);
                    }
                    _ => {}
                }
            }
        }
        let messages = self.messages(&raw, &case_span, &documents);
        out.emit(Case {
            id: raw.id.as_str().to_owned(),
            persona: persona.as_str().to_owned(),
            workflow: workflow.as_str().to_owned(),
            kind,
            source,
            description: raw.description.clone(),
            messages,
            vars: raw.vars.clone(),
            documents,
            assertions,
            weight: raw.weight.unwrap_or(1.0),
            tags: raw.tags.clone(),
            note: raw.note.clone(),
            location: loc,
        });
    }

    fn messages(
        &mut self,
        raw: &RawCase,
        case_span: &Span,
        documents: &[Document],
    ) -> Vec<Message> {
        let docs_text = crate::prompt::format_documents(documents);
        let mut vars: BTreeMap<String, String> = raw.vars.clone();
        vars.insert("documents".to_owned(), docs_text.clone());
        let mentions_docs = |s: &str| crate::prompt::uses_variable(s, "documents");
        let mut out = Vec::new();
        match (&raw.prompt, &raw.messages) {
            (Some(prompt), None) => match crate::prompt::render(prompt, &vars) {
                Ok(text) => {
                    let content = if !documents.is_empty() && !mentions_docs(prompt) {
                        format!("{docs_text}\n\n{text}")
                    } else {
                        text
                    };
                    out.push(Message {
                        role: Role::User,
                        content,
                    });
                }
                Err(e) => {
                    let d = self
                        .diag(prompt.span(), render_error("prompt", prompt, &vars, &e))
                        .key("prompt")
                        .expected("a template whose `{{ variables }}` are all defined in `vars`");
                    self.diags.push(d);
                }
            },
            (None, Some(msgs)) => {
                let mut docs_used = false;
                for m in msgs {
                    let Some(role) = Role::parse(&m.role) else {
                        let d = self
                            .diag(m.role.span(), format!("unknown role `{}`", m.role.as_str()))
                            .key("messages[].role")
                            .expected(one_of(Role::ALL))
                            .hint(did_you_mean(&m.role, Role::ALL));
                        self.diags.push(d);
                        continue;
                    };
                    docs_used |= mentions_docs(&m.content);
                    match crate::prompt::render(&m.content, &vars) {
                        Ok(content) => out.push(Message { role, content }),
                        Err(e) => {
                            let d = self
                                .diag(
                                    m.role.span(),
                                    render_error("message", &m.content, &vars, &e),
                                )
                                .key("messages[].content")
                                .expected(
                                    "a template whose `{{ variables }}` are all defined in `vars`",
                                );
                            self.diags.push(d);
                        }
                    }
                }
                if !documents.is_empty() && !docs_used {
                    if let Some(first_user) = out.iter_mut().find(|m| m.role == Role::User) {
                        first_user.content = format!("{docs_text}\n\n{}", first_user.content);
                    }
                }
                if out.last().map(|m| m.role) != Some(Role::User) && !out.is_empty() {
                    let d = self
                        .diag(
                            case_span,
                            format!(
                                "case `{}`: the last message must be from the user",
                                raw.id.as_str()
                            ),
                        )
                        .key("messages")
                        .expected("a conversation ending with a `user` message");
                    self.diags.push(d);
                }
            }
            (Some(_), Some(_)) => {
                let d = self
                    .diag(
                        case_span,
                        format!(
                            "case `{}` has both `prompt` and `messages`",
                            raw.id.as_str()
                        ),
                    )
                    .key("prompt")
                    .expected("either `prompt` (one user message) or `messages`, not both");
                self.diags.push(d);
            }
            (None, None) => {
                let d = self
                    .diag(
                        case_span,
                        format!("case `{}` has no `prompt` or `messages`", raw.id.as_str()),
                    )
                    .key("prompt")
                    .expected("`prompt: <text>` or `messages: [{ role: user, content: ... }]`");
                self.diags.push(d);
            }
        }
        out
    }
}

/// A template error, naming the undefined variables where that is the cause.
fn render_error(
    what: &str,
    template: &str,
    vars: &BTreeMap<String, String>,
    e: &minijinja::Error,
) -> String {
    let missing = crate::prompt::missing_variables(template, vars);
    if missing.is_empty() {
        format!("cannot render {what}: {e}")
    } else {
        let names: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
        format!(
            "cannot render {what}: undefined variable {}",
            names.join(", ")
        )
    }
}

/// Whether a case's `assert` holds any item at all (valid or not): a case whose only
/// assertion is misspelt gets one error, not two.
fn has_assertion_items(case: &Node) -> bool {
    case.as_mapping()
        .and_then(|m| m.get_node("assert"))
        .and_then(Node::as_mapping)
        .is_some_and(|groups| {
            groups
                .values()
                .any(|g| g.as_sequence().is_some_and(|s| !s.is_empty()))
        })
}

/// The `id`s written in a list, whether or not their items are otherwise valid.
fn declared_ids(map: &marked_yaml::types::MarkedMappingNode, key: &str) -> Vec<String> {
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

fn load_error_diag(sources: &SourceMap, path: &Path, e: &marked_yaml::LoadError) -> Diagnostic {
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

fn serde_error_diag(
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

#[cfg(test)]
mod tests;
