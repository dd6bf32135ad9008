//! `proximity import promptfoo CONFIG`: a promptfoo config turned into cases of a suite
//! file by [`proximity_ops::promptfoo::import`]; prints the summary, what did not map
//! (with where it is) and the proposed `tools:` block.

use proximity_ops::promptfoo::{self, ImportRequest, UnsupportedPolicy};

use crate::args::import::{PromptfooArgs, Unsupported};
use crate::args::GlobalArgs;
use crate::commands::output;
use crate::{context, Outcome};

pub fn run(g: &GlobalArgs, a: &PromptfooArgs) -> anyhow::Result<Outcome> {
    let program = context::load_program(g)?;
    let report = promptfoo::import(
        &program,
        &ImportRequest {
            config: a.config.clone(),
            persona: a.persona.clone(),
            workflow: a.workflow.clone(),
            suite: Some(a.suite.clone()),
            unsupported: match a.unsupported {
                Unsupported::Skip => UnsupportedPolicy::Skip,
                Unsupported::DropAssertion => UnsupportedPolicy::DropAssertion,
            },
        },
    )?;
    let mut text = format!(
        "{} cases written to {}, {} skipped, {} assertions unsupported\n",
        report.written.len(),
        report.suite,
        report.skipped,
        report.unsupported_assertions
    );
    if !report.unsupported.is_empty() {
        text.push_str("\nnot imported as written:\n");
        for u in &report.unsupported {
            text.push_str(&format!(
                "  {}: {}: {} ({})\n",
                u.loc, u.what, u.why, u.outcome
            ));
        }
    }
    if let Some(tools) = &report.tools {
        text.push_str(
            "\nproposed tools for proximity.yaml (not written; add them to a tier to use them):\n",
        );
        text.push_str(tools);
    }
    output::emit(text.trim_end(), None)?;
    Ok(Outcome::Ok)
}
