//! Reading a promptfoo config and the files it names (`file://` prompts, tests, vars,
//! `defaultTest`; YAML, JSON, JSON Lines and CSV; globs) into typed prompts and tests,
//! each value with where it was written. Parsed with the marked tree the program uses,
//! so every problem has a file:line:column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use marked_yaml::Node;
use proximity_program::yaml::{loader_options, node_to_json, scalar, too_deep};
use serde_json::Value;

use super::{Assert, Loc, Unsupported};
use crate::OpsError;

/// The config, read.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config's file name, as locations show it.
    pub name: String,
    pub prompts: Vec<Prompt>,
    pub tests: Vec<Test>,
    pub providers: Vec<Provider>,
    /// What could not be read as something Proximity has (a `.js` prompt, a config key).
    pub unsupported: Vec<Unsupported>,
}

/// A prompt: text or a conversation, with `{{var}}` placeholders kept.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptBody {
    Text(String),
    /// `(role, content)` pairs, from a chat array.
    Messages(Vec<(String, String)>),
}

#[derive(Debug, Clone)]
pub struct Prompt {
    /// The `label` or `id` it was given, or the file it came from.
    pub label: Option<String>,
    pub body: PromptBody,
    pub loc: Loc,
}

/// One test, `defaultTest` merged in.
#[derive(Debug, Clone)]
pub struct Test {
    /// 1-based, in the order the tests are read.
    pub number: usize,
    pub description: Option<String>,
    pub vars: BTreeMap<String, String>,
    pub asserts: Vec<Assert>,
    /// `options.prefix` / `options.suffix`: text around each prompt.
    pub prefix: String,
    pub suffix: String,
    pub loc: Loc,
    /// Why its cases cannot be written (a list var, an option with no equivalent).
    pub problems: Vec<Unsupported>,
}

/// A provider id (`openai:gpt-4o-mini`) and the base URL its config gives, if any.
#[derive(Debug, Clone)]
pub struct Provider {
    pub id: String,
    pub base_url: Option<String>,
    pub loc: Loc,
}

/// A file being read: its name as locations show it, and the line its text starts at
/// (a JSON Lines record is parsed alone).
#[derive(Debug, Clone)]
struct Src {
    name: String,
    first_line: usize,
}

impl Src {
    /// Where `node` starts; a mapping at its first key (the parser marks a block
    /// mapping nested in a list past its first key).
    fn loc(&self, node: &Node) -> Loc {
        let span = match node {
            Node::Mapping(m) => m.keys().next().map_or(node.span(), |k| k.span()),
            _ => node.span(),
        };
        let (line, column) = span.start().map_or((1, 1), |m| (m.line(), m.column()));
        Loc {
            file: self.name.clone(),
            line: line + self.first_line - 1,
            column,
        }
    }

    fn at(&self, line: usize, column: usize) -> Loc {
        Loc {
            file: self.name.clone(),
            line,
            column,
        }
    }
}

fn skip(loc: Loc, what: impl Into<String>, why: impl Into<String>) -> Unsupported {
    Unsupported {
        loc,
        what: what.into(),
        why: why.into(),
        outcome: "case skipped",
    }
}

fn bad(loc: &Loc, message: impl std::fmt::Display) -> OpsError {
    OpsError::invalid(format!("{loc}: {message}"))
}

/// Parse YAML (or JSON) text; `sequence` when the top level must be a list.
fn parse(text: &str, src: &Src, sequence: bool) -> Result<Node, OpsError> {
    if let Some(at) = too_deep(text) {
        return Err(bad(
            &src.at(at.line() + src.first_line - 1, at.col() + 1),
            "nested too deeply",
        ));
    }
    let options = if sequence {
        loader_options().toplevel_sequence()
    } else {
        loader_options()
    };
    marked_yaml::parse_yaml_with_options(0, text, options)
        .map_err(|e| OpsError::invalid(format!("{}: {e}", src.name)))
}

/// The file a `file://` reference (or a bare path) names, relative to `base`.
fn resolve(base: &Path, reference: &str) -> (PathBuf, String) {
    let rel = reference.strip_prefix("file://").unwrap_or(reference);
    (base.join(rel), rel.to_owned())
}

fn read_text(path: &Path, loc: &Loc) -> Result<String, OpsError> {
    fs_err::read_to_string(path).map_err(|e| bad(loc, e))
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn extension(name: &str) -> String {
    Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

/// Read the config at `path`.
pub fn read(path: &Path) -> Result<Config, OpsError> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let src = Src {
        name: name.clone(),
        first_line: 1,
    };
    let text = fs_err::read_to_string(path).map_err(|e| {
        OpsError::invalid(format!("cannot read the promptfoo config: {e}"))
            .with_hint("give the path of a promptfooconfig.yaml")
    })?;
    let root = parse(&text, &src, false)?;
    let map = root
        .as_mapping()
        .ok_or_else(|| bad(&src.loc(&root), "a promptfoo config is a mapping"))?;
    let mut unsupported = Vec::new();
    for (key, value) in map.iter() {
        let why = match key.as_str() {
            "scenarios" => "scenarios combine test sets with promptfoo's own rules",
            "nunjucksFilters" => "custom template filters are JavaScript",
            "extensions" => "extension hooks run code",
            _ => continue,
        };
        unsupported.push(Unsupported {
            loc: src.loc(value),
            what: key.as_str().to_owned(),
            why: why.to_owned(),
            outcome: "ignored",
        });
    }
    let prompts = match map.get_node("prompts") {
        Some(node) => read_prompts(node, &src, &base, &mut unsupported)?,
        None => vec![Prompt {
            label: None,
            body: PromptBody::Text("{{prompt}}".to_owned()),
            loc: src.at(1, 1),
        }],
    };
    let default = match map.get_node("defaultTest") {
        Some(node) => Some(read_default(node, &src, &base)?),
        None => None,
    };
    let mut tests = Vec::new();
    if let Some(node) = map.get_node("tests") {
        read_tests(node, &src, &base, &mut tests)?;
    }
    if let Some(d) = &default {
        for t in &mut tests {
            merge_default(t, d);
        }
    }
    let providers = match map.get_node("providers") {
        Some(node) => read_providers(node, &src),
        None => Vec::new(),
    };
    Ok(Config {
        name,
        prompts,
        tests,
        providers,
        unsupported,
    })
}

fn read_prompts(
    node: &Node,
    src: &Src,
    base: &Path,
    unsupported: &mut Vec<Unsupported>,
) -> Result<Vec<Prompt>, OpsError> {
    let items: Vec<&Node> = match node {
        Node::Sequence(seq) => seq.iter().collect(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    for item in items {
        let loc = src.loc(item);
        let (text, label) = match item {
            Node::Scalar(s) => (s.as_str().to_owned(), None),
            Node::Mapping(m) => {
                let label = m
                    .get_scalar("label")
                    .or_else(|| m.get_scalar("id"))
                    .map(|s| s.as_str().to_owned());
                match (m.get_scalar("raw"), m.get_scalar("id")) {
                    (Some(raw), _) => (raw.as_str().to_owned(), label),
                    (None, Some(id)) if id.as_str().starts_with("file://") => {
                        (id.as_str().to_owned(), label)
                    }
                    _ => return Err(bad(&loc, "a prompt object needs `raw` or a `file://` `id`")),
                }
            }
            Node::Sequence(_) => return Err(bad(&loc, "a prompt is a string or an object")),
        };
        if !text.starts_with("file://") {
            out.push(Prompt {
                label,
                body: PromptBody::Text(text),
                loc,
            });
            continue;
        }
        let (path, rel) = resolve(base, &text);
        let label = label.or_else(|| Some(rel.clone()));
        match extension(&rel).as_str() {
            "json" | "yaml" | "yml" => {
                let body = read_chat(&read_text(&path, &loc)?, &rel)?;
                out.push(Prompt { label, body, loc });
            }
            "js" | "cjs" | "mjs" | "ts" | "py" => unsupported.push(Unsupported {
                loc,
                what: format!("prompt {rel}"),
                why: "a prompt function runs code".to_owned(),
                outcome: "not imported",
            }),
            _ => {
                let file_text = read_text(&path, &loc)?;
                let parts = split_prompts(&file_text);
                let several = parts.len() > 1;
                for (i, part) in parts.into_iter().enumerate() {
                    out.push(Prompt {
                        label: label.as_ref().map(|l| {
                            if several {
                                format!("{l}#{}", i + 1)
                            } else {
                                l.clone()
                            }
                        }),
                        body: PromptBody::Text(part),
                        loc: loc.clone(),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The prompts of a text file: separated by lines of `---`.
pub fn split_prompts(text: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    for line in text.lines() {
        if line.trim() == "---" {
            parts.push(String::new());
        } else if let Some(last) = parts.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    parts
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// A JSON or YAML prompt file: a chat array (`[{role, content}, …]`) or one string.
fn read_chat(text: &str, name: &str) -> Result<PromptBody, OpsError> {
    let src = Src {
        name: name.to_owned(),
        first_line: 1,
    };
    if let Ok(Node::Scalar(s)) =
        marked_yaml::parse_yaml_with_options(0, text, loader_options().toplevel_sequence())
    {
        return Ok(PromptBody::Text(s.as_str().to_owned()));
    }
    let root = parse(text, &src, true)?;
    let seq = root
        .as_sequence()
        .ok_or_else(|| bad(&src.loc(&root), "a chat prompt is a list of messages"))?;
    let mut messages = Vec::new();
    for m in seq.iter() {
        let map = m.as_mapping().ok_or_else(|| {
            bad(
                &src.loc(m),
                "a message is a mapping with `role` and `content`",
            )
        })?;
        let role = map.get_scalar("role");
        let content = map.get_scalar("content");
        match (role, content) {
            (Some(r), Some(c)) => messages.push((r.as_str().to_owned(), c.as_str().to_owned())),
            _ => {
                return Err(bad(
                    &src.loc(m),
                    "a message needs a text `role` and a text `content`",
                ))
            }
        }
    }
    Ok(PromptBody::Messages(messages))
}

fn read_default(node: &Node, src: &Src, base: &Path) -> Result<Test, OpsError> {
    if let Some(reference) = scalar(node) {
        let (path, rel) = resolve(base, reference);
        let text = read_text(&path, &src.loc(node))?;
        let fsrc = Src {
            name: rel,
            first_line: 1,
        };
        let root = parse(&text, &fsrc, false)?;
        return read_test(&root, &fsrc, base, 0);
    }
    read_test(node, src, base, 0)
}

fn merge_default(t: &mut Test, d: &Test) {
    for (k, v) in &d.vars {
        t.vars.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let mut asserts = d.asserts.clone();
    asserts.append(&mut t.asserts);
    t.asserts = asserts;
    if t.prefix.is_empty() {
        t.prefix.clone_from(&d.prefix);
    }
    if t.suffix.is_empty() {
        t.suffix.clone_from(&d.suffix);
    }
    let mut problems = d.problems.clone();
    problems.append(&mut t.problems);
    t.problems = problems;
}

fn read_tests(node: &Node, src: &Src, base: &Path, out: &mut Vec<Test>) -> Result<(), OpsError> {
    match node {
        Node::Scalar(s) => read_test_files(s.as_str(), &src.loc(node), base, out),
        Node::Sequence(seq) => {
            for item in seq.iter() {
                match item {
                    Node::Scalar(s) => read_test_files(s.as_str(), &src.loc(item), base, out)?,
                    _ => {
                        let t = read_test(item, src, base, out.len() + 1)?;
                        out.push(t);
                    }
                }
            }
            Ok(())
        }
        Node::Mapping(_) => Err(bad(&src.loc(node), "`tests` is a list or a file")),
    }
}

/// Tests from a file reference, or from every file a glob matches (in name order).
fn read_test_files(
    reference: &str,
    loc: &Loc,
    base: &Path,
    out: &mut Vec<Test>,
) -> Result<(), OpsError> {
    let rel = reference.strip_prefix("file://").unwrap_or(reference);
    if !is_glob(rel) {
        return read_test_file(&base.join(rel), rel, loc, base, out);
    }
    let pattern = base.join(rel).to_string_lossy().into_owned();
    let mut paths: Vec<PathBuf> = glob::glob(&pattern)
        .map_err(|e| bad(loc, format!("bad glob `{rel}`: {e}")))?
        .filter_map(Result::ok)
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(bad(loc, format!("`{rel}` matches no file")));
    }
    for path in paths {
        let name = path
            .strip_prefix(base)
            .unwrap_or(&path)
            .display()
            .to_string();
        read_test_file(&path, &name, loc, base, out)?;
    }
    Ok(())
}

fn read_test_file(
    path: &Path,
    name: &str,
    loc: &Loc,
    base: &Path,
    out: &mut Vec<Test>,
) -> Result<(), OpsError> {
    let text = read_text(path, loc)?;
    let src = Src {
        name: name.to_owned(),
        first_line: 1,
    };
    match extension(name).as_str() {
        "csv" => read_csv(&text, &src, out),
        "jsonl" => {
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let lsrc = Src {
                    name: name.to_owned(),
                    first_line: i + 1,
                };
                let node = parse(line, &lsrc, false)?;
                let t = read_test(&node, &lsrc, base, out.len() + 1)?;
                out.push(t);
            }
            Ok(())
        }
        "yaml" | "yml" | "json" => {
            let root = parse(&text, &src, true)?;
            let seq = root
                .as_sequence()
                .ok_or_else(|| bad(&src.loc(&root), "a test file is a list of tests"))?;
            for item in seq.iter() {
                let t = read_test(item, &src, base, out.len() + 1)?;
                out.push(t);
            }
            Ok(())
        }
        other => Err(bad(
            loc,
            format!(
                "tests from a `.{other}` file are not supported (YAML, JSON, JSON Lines or CSV)"
            ),
        )),
    }
}

fn read_test(node: &Node, src: &Src, base: &Path, number: usize) -> Result<Test, OpsError> {
    let loc = src.loc(node);
    let map = node
        .as_mapping()
        .ok_or_else(|| bad(&loc, "a test is a mapping (`vars`, `assert`, …)"))?;
    let mut t = Test {
        number,
        description: None,
        vars: BTreeMap::new(),
        asserts: Vec::new(),
        prefix: String::new(),
        suffix: String::new(),
        loc: loc.clone(),
        problems: Vec::new(),
    };
    for (key, value) in map.iter() {
        match key.as_str() {
            "description" => t.description = scalar(value).map(str::to_owned),
            "vars" => read_vars(value, src, base, &mut t)?,
            "assert" => {
                let seq = value
                    .as_sequence()
                    .ok_or_else(|| bad(&src.loc(value), "`assert` is a list"))?;
                for a in seq.iter() {
                    t.asserts.push(read_assert(a, src)?);
                }
            }
            "options" => {
                let opts = value
                    .as_mapping()
                    .ok_or_else(|| bad(&src.loc(value), "`options` is a mapping"))?;
                for (k, v) in opts.iter() {
                    match (k.as_str(), scalar(v)) {
                        ("prefix", Some(s)) => s.clone_into(&mut t.prefix),
                        ("suffix", Some(s)) => s.clone_into(&mut t.suffix),
                        (other, _) => t.problems.push(skip(
                            src.loc(v),
                            format!("option {other}"),
                            "only `prefix` and `suffix` options map to a case",
                        )),
                    }
                }
            }
            "metadata" => {}
            other => t.problems.push(skip(
                src.loc(value),
                format!("test key {other}"),
                "no case field has this meaning",
            )),
        }
    }
    Ok(t)
}

fn read_vars(node: &Node, src: &Src, base: &Path, t: &mut Test) -> Result<(), OpsError> {
    let map = node
        .as_mapping()
        .ok_or_else(|| bad(&src.loc(node), "`vars` is a mapping"))?;
    for (key, value) in map.iter() {
        let name = key.as_str().to_owned();
        let loc = src.loc(value);
        match node_to_json(value) {
            Value::String(s) => {
                if let Some(rel) = s.strip_prefix("file://") {
                    if matches!(extension(rel).as_str(), "js" | "py" | "cjs" | "mjs" | "ts") {
                        t.problems
                            .push(skip(loc, format!("var {name}"), "a var computed by code"));
                        continue;
                    }
                    let text = read_text(&base.join(rel), &loc)?;
                    t.vars.insert(name, text);
                } else {
                    t.vars.insert(name, s);
                }
            }
            Value::Array(_) => t.problems.push(skip(
                loc,
                format!("var {name}"),
                "a list var expands into one test per value in promptfoo",
            )),
            Value::Null => {
                t.vars.insert(name, String::new());
            }
            Value::Object(_) => t.problems.push(skip(
                loc,
                format!("var {name}"),
                "case vars are text; an object var has no equivalent",
            )),
            other => {
                t.vars.insert(name, other.to_string());
            }
        }
    }
    Ok(())
}

fn read_assert(node: &Node, src: &Src) -> Result<Assert, OpsError> {
    let loc = src.loc(node);
    let map = node
        .as_mapping()
        .ok_or_else(|| bad(&loc, "an assertion is a mapping with `type`"))?;
    let kind = map
        .get_scalar("type")
        .ok_or_else(|| bad(&loc, "an assertion needs a `type`"))?
        .as_str()
        .to_owned();
    let mut modifiers = Vec::new();
    for (k, _) in map.iter() {
        let changes_the_check = match k.as_str() {
            "transform" | "provider" | "rubricPrompt" | "contextTransform" => true,
            // A rubric's score threshold: a judge says PASS or FAIL, it gives no score.
            "threshold" => kind == "llm-rubric",
            _ => false,
        };
        if changes_the_check {
            modifiers.push(k.as_str().to_owned());
        }
    }
    Ok(Assert {
        kind,
        value: map.get_node("value").map(node_to_json),
        modifiers,
        loc,
    })
}

/// CSV tests: columns are vars, but `__expected…` (assertions, promptfoo's `type: value`
/// shorthand), `__description`, `__prefix` and `__suffix`.
fn read_csv(text: &str, src: &Src, out: &mut Vec<Test>) -> Result<(), OpsError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| bad(&src.at(1, 1), e))?.clone();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(1, |p| p.line() as usize);
            bad(&src.at(line, 1), e)
        })?;
        let line = record.position().map_or(1, |p| p.line() as usize);
        let loc = src.at(line, 1);
        let mut t = Test {
            number: out.len() + 1,
            description: None,
            vars: BTreeMap::new(),
            asserts: Vec::new(),
            prefix: String::new(),
            suffix: String::new(),
            loc: loc.clone(),
            problems: Vec::new(),
        };
        for (column, (header, value)) in headers.iter().zip(record.iter()).enumerate() {
            let cell = src.at(line, column + 1);
            match header {
                h if h.starts_with("__expected") => {
                    if !value.trim().is_empty() {
                        t.asserts.push(shorthand(value, cell));
                    }
                }
                "__description" => t.description = Some(value.to_owned()),
                "__prefix" => value.clone_into(&mut t.prefix),
                "__suffix" => value.clone_into(&mut t.suffix),
                h if h.starts_with("__") => t.problems.push(skip(
                    cell,
                    format!("column {h}"),
                    "no case field has this meaning",
                )),
                h => {
                    t.vars.insert(h.to_owned(), value.to_owned());
                }
            }
        }
        out.push(t);
    }
    Ok(())
}

/// promptfoo's `__expected` shorthand: `contains: Paris`, `not-icontains: x`,
/// `grade: rubric` (llm-rubric), `fn:`/`eval:` (javascript), `python:`, `is-json`, or a
/// plain value (equals).
pub fn shorthand(cell: &str, loc: Loc) -> Assert {
    let cell = cell.trim();
    let (head, rest) = match cell.split_once(':') {
        Some((h, r)) => (h.trim(), Some(r.trim())),
        None => (cell, None),
    };
    let kind = match head {
        "grade" => Some("llm-rubric".to_owned()),
        "fn" | "eval" => Some("javascript".to_owned()),
        h if super::assertions::is_known_type(h) => Some(h.to_owned()),
        _ => None,
    };
    match kind {
        Some(kind) => Assert {
            kind,
            value: rest.map(|r| Value::String(r.to_owned())),
            modifiers: Vec::new(),
            loc,
        },
        None => Assert {
            kind: "equals".to_owned(),
            value: Some(Value::String(cell.to_owned())),
            modifiers: Vec::new(),
            loc,
        },
    }
}

fn read_providers(node: &Node, src: &Src) -> Vec<Provider> {
    let items: Vec<&Node> = match node {
        Node::Sequence(seq) => seq.iter().collect(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    for item in items {
        let loc = src.loc(item);
        match item {
            Node::Scalar(s) => out.push(Provider {
                id: s.as_str().to_owned(),
                base_url: None,
                loc,
            }),
            Node::Mapping(m) => {
                if let Some(id) = m.get_scalar("id") {
                    let base_url = m.get_mapping("config").and_then(|c| {
                        c.get_scalar("apiBaseUrl")
                            .or_else(|| c.get_scalar("apiHost"))
                            .map(|s| s.as_str().to_owned())
                    });
                    out.push(Provider {
                        id: id.as_str().to_owned(),
                        base_url,
                        loc,
                    });
                } else {
                    // The older `{ "openai:gpt-4o": { config } }` form.
                    for (k, _) in m.iter() {
                        out.push(Provider {
                            id: k.as_str().to_owned(),
                            base_url: None,
                            loc: loc.clone(),
                        });
                    }
                }
            }
            Node::Sequence(_) => {}
        }
    }
    out
}
