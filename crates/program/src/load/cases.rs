//! One case of a suite file, checked in named steps: its id (unique across suites), its
//! persona and workflow, kind and source, documents, assertions (and the judges they
//! name), and the messages rendered from `prompt` or `messages`.

use std::collections::BTreeMap;

use marked_yaml::{Node, Span, Spanned};

use super::seen_ids::FirstAt;

use super::suites::{SuiteCtx, SuiteDefaults, SuiteOut};
use super::Loader;
use crate::assertion::{parse_assertions, Assertions, Check};
use crate::diagnostic::Diagnostic;
use crate::location::Location;
use crate::model::{Case, CaseKind, CaseSource, Document, Message, Role};
use crate::raw::RawCase;
use crate::suggest::{did_you_mean, one_of};

impl Loader {
    /// Check one case of a suite file and add it to `out`.
    pub(super) fn case(
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
        let Some(loc) = self.first_definition(&raw, out) else {
            return;
        };
        let case_span = *node.span();
        let Some((persona, workflow)) = self.persona_and_workflow(ctx, &raw, defaults, &case_span)
        else {
            return;
        };
        let kind = self.kind(&raw);
        let source = self.case_source(&raw);
        let documents = self.documents(ctx, &raw);
        let assertions = self.assertions(ctx, node, &raw);
        let messages = self.messages(&raw, &case_span, &documents);
        let (tools, tool_choice) = self.case_tools(node, &case_span);
        self.check_called(&assertions, &tools);
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
            tools,
            tool_choice,
            location: loc,
        });
    }

    /// The case's location, recording its id as seen; `None` (and an error naming the
    /// first definition) when the id was already defined, in this suite or an earlier one.
    fn first_definition(&mut self, raw: &RawCase, out: &mut SuiteOut<'_>) -> Option<Location> {
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
            return None;
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
        Some(loc)
    }

    /// The case's persona and workflow, its own or the suite's defaults; `None` when either
    /// is missing. An unknown persona, or a workflow its persona lacks, is reported but
    /// the case is still checked.
    fn persona_and_workflow(
        &mut self,
        ctx: &SuiteCtx<'_>,
        raw: &RawCase,
        defaults: &SuiteDefaults,
        case_span: &Span,
    ) -> Option<(Spanned<String>, Spanned<String>)> {
        let persona = raw.persona.clone().or_else(|| defaults.persona.clone());
        let workflow = raw.workflow.clone().or_else(|| defaults.workflow.clone());
        let (Some(persona), Some(workflow)) = (persona, workflow) else {
            let d = self
                .diag(
                    case_span,
                    format!("case `{}` has no persona or workflow", raw.id.as_str()),
                )
                .key("persona")
                .expected("`persona` and `workflow` on the case or at the top of the suite file");
            self.diags.push(d);
            return None;
        };
        match ctx.personas.iter().find(|p| p.id == persona.as_str()) {
            // Known, but its entry did not load: that error is reported once, there.
            None if self.broken_personas.iter().any(|b| b == persona.as_str()) => {}
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
        Some((persona, workflow))
    }

    /// `kind`: routine unless it says otherwise.
    fn kind(&mut self, raw: &RawCase) -> CaseKind {
        match &raw.kind {
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
        }
    }

    /// `source`: synthetic unless it says otherwise.
    fn case_source(&mut self, raw: &RawCase) -> CaseSource {
        match &raw.source {
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
        }
    }

    /// `documents`: each file read, relative to the program directory.
    fn documents(&mut self, ctx: &SuiteCtx<'_>, raw: &RawCase) -> Vec<Document> {
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
        documents
    }

    /// `assert`: the case's assertions; at least one, and every judge with a tool.
    fn assertions(&mut self, ctx: &SuiteCtx<'_>, node: &Node, raw: &RawCase) -> Assertions {
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
        self.check_judges(ctx, &assertions);
        assertions
    }

    /// Each judge (of a case or of a workflow's `live:` checks) names a declared tool, or
    /// the program has a `judge_tool`.
    pub(super) fn check_judges(&mut self, ctx: &SuiteCtx<'_>, assertions: &Assertions) {
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
