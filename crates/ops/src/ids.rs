//! Checks that an id names something in the program (a persona, a tool, a tier, a
//! persona's workflow), with a did-you-mean hint when it does not.

use proximity_program::suggest::did_you_mean;
use proximity_program::Program;

use crate::OpsError;

/// `Ok` when `value` is one of `known`; else "unknown WHAT `value`", hinting at the
/// closest id and listing them all.
pub fn one_of(what: &str, value: &str, known: &[&str]) -> Result<(), OpsError> {
    if known.contains(&value) {
        return Ok(());
    }
    let list = if known.is_empty() {
        "the program defines none".to_owned()
    } else {
        format!("one of: {}", known.join(", "))
    };
    let hint = match did_you_mean(value, known.iter().copied()) {
        Some(close) => format!("{close} {list}"),
        None => list,
    };
    Err(OpsError::invalid(format!("unknown {what} `{value}`")).with_hint(hint))
}

pub fn persona(program: &Program, id: &str) -> Result<(), OpsError> {
    let known: Vec<&str> = program.personas.iter().map(|p| p.id.as_str()).collect();
    one_of("persona", id, &known)
}

pub fn tool(program: &Program, id: &str) -> Result<(), OpsError> {
    let known: Vec<&str> = program.tools.iter().map(|t| t.id.as_str()).collect();
    one_of("tool", id, &known)
}

pub fn tier(program: &Program, id: &str) -> Result<(), OpsError> {
    let known: Vec<&str> = program.tiers.iter().map(|t| t.id.as_str()).collect();
    one_of("tier", id, &known)
}

/// `id` is a workflow of `persona` (which must exist: check it first).
pub fn workflow(program: &Program, persona: &str, id: &str) -> Result<(), OpsError> {
    let known: Vec<&str> = program
        .persona(persona)
        .map(|p| p.workflows.iter().map(|w| w.id.as_str()).collect())
        .unwrap_or_default();
    one_of(&format!("workflow of `{persona}`"), id, &known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_id_names_the_closest_and_lists_all() {
        let e = one_of("persona", "analsyt", &["analyst", "support-agent"]).unwrap_err();
        assert_eq!(e.to_string(), "unknown persona `analsyt`");
        assert_eq!(
            e.hint(),
            Some("did you mean `analyst`? one of: analyst, support-agent")
        );
        assert!(one_of("persona", "analyst", &["analyst"]).is_ok());
        let none = one_of("tier", "x", &[]).unwrap_err();
        assert_eq!(none.hint(), Some("the program defines none"));
    }
}
