//! `proximity check`: validate the program and summarise it.

use crate::args::{CheckArgs, GlobalArgs};
use crate::context::load_program;
use crate::Outcome;

#[allow(clippy::print_stdout)]
pub fn run(g: &GlobalArgs, _args: &CheckArgs) -> anyhow::Result<Outcome> {
    let program = load_program(g)?;
    let workflows: usize = program.personas.iter().map(|p| p.workflows.len()).sum();
    let edge = program
        .cases
        .iter()
        .filter(|c| c.kind == proximity_program::CaseKind::Edge)
        .count();
    let demo = program
        .cases
        .iter()
        .filter(|c| c.source == proximity_program::CaseSource::Demo)
        .count();
    let n = program.cases.len().max(1);
    println!(
        "ok: program `{}`: {} tools, {} tiers, {} personas ({} workflows), {} cases ({}% edge, {} demo)",
        program.name,
        program.tools.len(),
        program.tiers.len(),
        program.personas.len(),
        workflows,
        program.cases.len(),
        edge * 100 / n,
        demo
    );
    Ok(Outcome::Ok)
}
