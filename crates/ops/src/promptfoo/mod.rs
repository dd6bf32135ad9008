//! `proximity import promptfoo`: a promptfoo config (`promptfooconfig.yaml`) turned into
//! cases of a suite file. [`config`] reads the config and the files it names into typed
//! prompts and tests (every value with its file:line:column), [`assertions`] maps
//! promptfoo's assertion types to Proximity's, [`write`] builds the case YAML and the
//! proposed `tools:` block, and [`import`] appends the cases the way `note promote` does
//! (existing bytes untouched, the program reloaded, the suite restored if it does not load).

pub mod assertions;
pub mod config;
pub mod write;

use std::collections::HashSet;
use std::fmt;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use proximity_program::load::load_each;
use proximity_program::promote::{cases_indent, suite_default};
use proximity_program::{LoadError, Program};

use crate::{ids, OpsError};

/// Where something is: a file (as the config names it, relative to the config's folder)
/// and a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One promptfoo assertion as written.
#[derive(Debug, Clone)]
pub struct Assert {
    /// `contains`, `not-icontains`, `llm-rubric`, …
    pub kind: String,
    pub value: Option<serde_json::Value>,
    /// Keys that change what the assertion checks and have no Proximity equivalent
    /// (`transform`, `provider`, `rubricPrompt`).
    pub modifiers: Vec<String>,
    pub loc: Loc,
}

/// What to do with a case that has an assertion Proximity cannot express.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnsupportedPolicy {
    /// Leave the case out (the default).
    #[default]
    Skip,
    /// Keep the case without the assertion, saying so in a comment on the case.
    DropAssertion,
}

/// What to import and where.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// The promptfoo config file.
    pub config: PathBuf,
    /// The persona of the cases (default: the suite's, else the program's only one).
    pub persona: Option<String>,
    /// The workflow of the cases (default: the suite's, else the persona's only one).
    pub workflow: Option<String>,
    /// The suite file to append to (relative to the program or absolute; default
    /// `suites/promptfoo.yaml`).
    pub suite: Option<PathBuf>,
    pub unsupported: UnsupportedPolicy,
}

/// One thing that did not map, where it is and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub loc: Loc,
    /// What it is: `assert python`, `prompt`, `var topics`, `option transform`, …
    pub what: String,
    pub why: String,
    /// What became of it: `case skipped`, `assertion dropped`, `not proposed`.
    pub outcome: &'static str,
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// The suite file written, relative to the program root when it is inside it.
    pub suite: String,
    /// The ids of the cases written, in order.
    pub written: Vec<String>,
    /// Cases not written (prompt × test pairs), with the reason of each listed in
    /// `unsupported`.
    pub skipped: usize,
    /// Everything that did not map, in the order met.
    pub unsupported: Vec<Unsupported>,
    /// How many assertions were unsupported (whether their case was skipped or kept).
    pub unsupported_assertions: usize,
    /// A proposed `tools:` block for the config's providers, if any map.
    pub tools: Option<String>,
}

/// Import the promptfoo config into the program's suite.
pub fn import(program: &Program, req: &ImportRequest) -> Result<ImportReport, OpsError> {
    let suite = match &req.suite {
        Some(asked) if asked.is_absolute() || asked.exists() => asked.clone(),
        Some(asked) => program.root.join(asked),
        None => program.root.join("suites").join("promptfoo.yaml"),
    };
    let existing = match fs_err::read(&suite) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let text = match &existing {
        Some(bytes) => Some(
            String::from_utf8(bytes.clone())
                .map_err(|_| OpsError::invalid(format!("{} is not UTF-8", suite.display())))?,
        ),
        None => None,
    };
    let (persona, workflow) = persona_and_workflow(program, req, text.as_deref())?;

    let cfg = config::read(&req.config)?;
    if cfg.prompts.is_empty() {
        let listed: Vec<String> = cfg
            .unsupported
            .iter()
            .map(|u| format!("{}: {}: {}", u.loc, u.what, u.why))
            .collect();
        return Err(
            OpsError::invalid("the config has no prompt Proximity can use")
                .with_hint(listed.join("; ")),
        );
    }
    let mut unsupported = cfg.unsupported.clone();
    let mut taken: HashSet<String> = program.cases.iter().map(|c| c.id.clone()).collect();
    // A suite the import creates gets a header with both.
    let header_persona = match text.as_deref() {
        Some(t) => suite_default(t, "persona"),
        None => Some(persona.clone()),
    };
    let header_workflow = match text.as_deref() {
        Some(t) => suite_default(t, "workflow"),
        None => Some(workflow.clone()),
    };
    let ctx = write::CaseContext {
        config_name: cfg.name.clone(),
        persona: (header_persona.as_deref() != Some(persona.as_str())).then(|| persona.clone()),
        workflow: (header_workflow.as_deref() != Some(workflow.as_str())).then(|| workflow.clone()),
        several_prompts: cfg.prompts.len() > 1,
        policy: req.unsupported,
    };
    let indent = match &text {
        Some(t) => cases_indent(t, &suite).map_err(|e| OpsError::invalid(e.to_string()))?,
        None => "  ".to_owned(),
    };
    let mut blocks = String::new();
    let mut written = Vec::new();
    let mut skipped = 0;
    let mut unsupported_assertions = 0;
    for test in &cfg.tests {
        let mapped = assertions::map_all(&test.asserts);
        unsupported_assertions += mapped.unsupported.len();
        for (pi, prompt) in cfg.prompts.iter().enumerate() {
            match write::case_block(&ctx, &indent, test, prompt, pi, &mapped, &mut taken) {
                Ok(block) => {
                    written.push(block.id);
                    blocks.push_str(&block.text);
                }
                Err(reasons) => {
                    skipped += 1;
                    unsupported.extend(reasons);
                }
            }
        }
        // Assertions are listed once per test, whatever became of its cases.
        let outcome = match req.unsupported {
            UnsupportedPolicy::Skip => "case skipped",
            UnsupportedPolicy::DropAssertion => "assertion dropped",
        };
        for u in &mapped.unsupported {
            unsupported.push(Unsupported {
                outcome,
                ..u.clone()
            });
        }
    }
    unsupported.sort_by(|a, b| {
        (a.loc.file.as_str(), a.loc.line, a.loc.column).cmp(&(
            b.loc.file.as_str(),
            b.loc.line,
            b.loc.column,
        ))
    });
    unsupported.dedup();
    let tools = write::tools_block(&cfg.providers, &mut unsupported);
    let shown = suite
        .strip_prefix(&program.root)
        .unwrap_or(&suite)
        .display()
        .to_string();
    if !written.is_empty() {
        append(
            program, &suite, existing, &persona, &workflow, &blocks, &written,
        )?;
    }
    Ok(ImportReport {
        suite: shown,
        written,
        skipped,
        unsupported,
        unsupported_assertions,
        tools,
    })
}

/// The persona and workflow of the imported cases: given, else the suite's header, else
/// the program's only persona and its only workflow; checked against the program.
fn persona_and_workflow(
    program: &Program,
    req: &ImportRequest,
    suite_text: Option<&str>,
) -> Result<(String, String), OpsError> {
    let persona = match req
        .persona
        .clone()
        .or_else(|| suite_text.and_then(|t| suite_default(t, "persona")))
    {
        Some(p) => p,
        None => match program.personas.as_slice() {
            [only] => only.id.clone(),
            _ => {
                return Err(
                    OpsError::invalid("which persona do the cases belong to?").with_hint(format!(
                        "give `--persona`, one of: {}",
                        program
                            .personas
                            .iter()
                            .map(|p| p.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                )
            }
        },
    };
    ids::persona(program, &persona)?;
    let workflow = match req
        .workflow
        .clone()
        .or_else(|| suite_text.and_then(|t| suite_default(t, "workflow")))
    {
        Some(w) => w,
        None => {
            let flows: Vec<&str> = program
                .persona(&persona)
                .map(|p| p.workflows.iter().map(|w| w.id.as_str()).collect())
                .unwrap_or_default();
            match flows.as_slice() {
                [only] => (*only).to_owned(),
                _ => {
                    return Err(OpsError::invalid(format!(
                        "which workflow of `{persona}` do the cases belong to?"
                    ))
                    .with_hint(format!("give `--workflow`, one of: {}", flows.join(", "))))
                }
            }
        }
    };
    ids::workflow(program, &persona, &workflow)?;
    Ok((persona, workflow))
}

/// Append `blocks` to the suite (created with a header when absent), reload the program
/// and check every new case loads; put the suite back as it was if not.
fn append(
    program: &Program,
    suite: &Path,
    existing: Option<Vec<u8>>,
    persona: &str,
    workflow: &str,
    blocks: &str,
    written: &[String],
) -> Result<(), OpsError> {
    let mut updated = match &existing {
        Some(bytes) => {
            let mut b = bytes.clone();
            if !b.is_empty() && !b.ends_with(b"\n") {
                b.push(b'\n');
            }
            b
        }
        None => {
            if let Some(dir) = suite.parent() {
                fs_err::create_dir_all(dir)?;
            }
            format!(
                "# Imported from promptfoo by `proximity import promptfoo`.\npersona: {}\nworkflow: {}\ncases:\n",
                proximity_program::promote::scalar(persona),
                proximity_program::promote::scalar(workflow)
            )
            .into_bytes()
        }
    };
    updated.extend_from_slice(blocks.as_bytes());
    fs_err::write(suite, &updated)?;
    // Reloaded case by case (none kept): memory does not grow with the import.
    let mut missing: HashSet<&str> = written.iter().map(String::as_str).collect();
    let check = load_each(&program.root, &mut |case| {
        missing.remove(case.id.as_str());
        ControlFlow::Continue(())
    });
    let why = match check {
        Ok(_) => missing.iter().min().map(|id| {
            format!("case `{id}` is not in the reloaded program (is the suite file among the program's `suites`?)")
        }),
        Err(LoadError::Invalid(d)) => Some(d.to_string()),
        Err(e) => Some(e.to_string()),
    };
    if let Some(why) = why {
        match existing {
            Some(bytes) => fs_err::write(suite, bytes)?,
            None => fs_err::remove_file(suite)?,
        }
        return Err(OpsError::invalid(format!(
            "the imported cases do not load; {} was restored unchanged\n{why}",
            suite.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proximity_program::load;

    const PROGRAM: &str = "version: 1\nname: t\ntools:\n  - id: v\n    provider: scripted\n    params: { default_reply: ok }\ntiers:\n  - id: b\n    tools: [v]\npersonas:\n  - id: clerk\n    name: Clerk\n    headcount: 1\n    tier: b\n    workflows:\n      - { id: lookup, share: 1, floor: 0.5 }\n";

    fn program() -> (tempfile::TempDir, Program) {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("proximity.yaml"), PROGRAM).unwrap();
        fs_err::create_dir_all(dir.path().join("suites")).unwrap();
        let p = load(dir.path()).unwrap();
        (dir, p)
    }

    fn request(config: PathBuf, suite: Option<PathBuf>) -> ImportRequest {
        ImportRequest {
            config,
            persona: None,
            workflow: None,
            suite,
            unsupported: UnsupportedPolicy::Skip,
        }
    }

    #[test]
    fn csv_tests_file_vars_and_default_test_are_read() {
        let (dir, program) = program();
        let cfg = dir.path().join("pf");
        fs_err::create_dir_all(&cfg).unwrap();
        fs_err::write(cfg.join("ctx.txt"), "the context").unwrap();
        fs_err::write(
            cfg.join("t.csv"),
            "q,__expected,__description\nhi,contains: ok,First\nyo,ok,\n",
        )
        .unwrap();
        fs_err::write(
            cfg.join("promptfooconfig.yaml"),
            "prompts: ['{{ctx}}: {{q}}']\ndefaultTest:\n  vars: { ctx: file://ctx.txt }\n  assert:\n    - type: max-length\ntests: file://t.csv\n",
        )
        .unwrap();
        let c = config::read(&cfg.join("promptfooconfig.yaml")).unwrap();
        assert_eq!(c.tests.len(), 2);
        assert_eq!(c.tests[0].vars["ctx"], "the context");
        assert_eq!(c.tests[0].description.as_deref(), Some("First"));
        assert_eq!(c.tests[0].asserts[1].kind, "contains");
        assert_eq!(
            c.tests[1].asserts[1].kind, "equals",
            "a plain value is equals"
        );
        assert_eq!(c.tests[1].asserts[1].loc.to_string(), "t.csv:3:2");
        assert_eq!(
            c.tests[0].asserts[0].loc.to_string(),
            "promptfooconfig.yaml:5:7"
        );

        // `max-length` maps to nothing: every case is skipped, the assertion listed once.
        let report = import(&program, &request(cfg.join("promptfooconfig.yaml"), None)).unwrap();
        assert!(report.written.is_empty());
        assert_eq!(report.skipped, 2);
        assert_eq!(report.unsupported_assertions, 2);
        assert_eq!(report.unsupported.len(), 1, "{:?}", report.unsupported);
        assert!(!dir.path().join("suites/promptfoo.yaml").exists());
    }

    #[test]
    fn a_suite_the_program_does_not_read_is_restored() {
        let (dir, program) = program();
        fs_err::write(
            dir.path().join("pf.yaml"),
            "prompts: ['Q: {{q}}']\ntests:\n  - vars: { q: a }\n    assert: [{ type: contains, value: a }]\n",
        )
        .unwrap();
        let outside = dir.path().join("elsewhere.yaml");
        let original = "persona: clerk\nworkflow: lookup\ncases:\n";
        fs_err::write(&outside, original).unwrap();
        let err = import(
            &program,
            &request(dir.path().join("pf.yaml"), Some(outside.clone())),
        )
        .unwrap_err();
        assert!(err.to_string().contains("restored unchanged"), "{err}");
        assert_eq!(fs_err::read_to_string(&outside).unwrap(), original);
    }

    #[test]
    fn code_prompts_and_rubric_thresholds_are_refused_with_their_location() {
        let (dir, program) = program();
        fs_err::write(
            dir.path().join("pf.yaml"),
            "prompts: [file://p.js]\ntests:\n  - assert:\n      - type: llm-rubric\n        value: ok\n        threshold: 0.8\n",
        )
        .unwrap();
        let err = import(&program, &request(dir.path().join("pf.yaml"), None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the config has no prompt Proximity can use"
        );
        assert_eq!(
            err.hint(),
            Some("pf.yaml:1:11: prompt p.js: a prompt function runs code")
        );
        let c = config::read(&dir.path().join("pf.yaml")).unwrap();
        let why = assertions::map(&c.tests[0].asserts[0]).unwrap_err();
        assert!(why.contains("`threshold`"), "{why}");
    }

    #[test]
    fn text_prompt_files_split_on_dashes() {
        assert_eq!(
            config::split_prompts("one {{a}}\n---\ntwo\n  ---  \n\nthree\n"),
            ["one {{a}}", "two", "three"]
        );
    }
}
