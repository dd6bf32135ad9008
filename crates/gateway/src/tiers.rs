//! Authorization by tier: which tools a persona's tier allows, which tiers allow a tool,
//! and which fallback a persona may be given. A persona never reaches a tool outside its
//! tier, directly, through `/v1/models`, or through a fallback.

use proximity_program::{Persona, Program, Tier, Tool};

use crate::error::ApiError;

/// What a request may use: the persona, its tier and the tool it asked for.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    pub persona: &'a Persona,
    pub tier: &'a Tier,
    pub tool: &'a Tool,
}

/// The persona and tier of a key's persona.
pub fn persona_tier<'a>(
    program: &'a Program,
    persona: &str,
) -> Result<(&'a Persona, &'a Tier), ApiError> {
    let p = program
        .persona(persona)
        .ok_or_else(|| ApiError::UnknownPersona(persona.to_owned()))?;
    let t = program
        .tier(&p.tier)
        .ok_or_else(|| ApiError::UnknownPersona(persona.to_owned()))?;
    Ok((p, t))
}

/// May `persona` use `tool`? 404 for a tool the program lacks, 403 naming the tiers that
/// allow it for one outside the persona's tier.
pub fn authorize<'a>(
    program: &'a Program,
    persona: &str,
    tool: &str,
) -> Result<Access<'a>, ApiError> {
    let (p, tier) = persona_tier(program, persona)?;
    let t = program
        .tool(tool)
        .ok_or_else(|| ApiError::UnknownTool(tool.to_owned()))?;
    if !tier.tools.iter().any(|x| x == tool) {
        return Err(ApiError::ToolNotInTier {
            tool: tool.to_owned(),
            persona: p.id.clone(),
            tier: tier.id.clone(),
            allowed: tiers_allowing(program, tool),
        });
    }
    Ok(Access {
        persona: p,
        tier,
        tool: t,
    })
}

/// The ids of the tiers listing `tool`.
pub fn tiers_allowing(program: &Program, tool: &str) -> Vec<String> {
    program
        .tiers
        .iter()
        .filter(|t| t.tools.iter().any(|x| x == tool))
        .map(|t| t.id.clone())
        .collect()
}

/// The tools a tier allows, in the tier's order.
pub fn visible_tools<'a>(program: &'a Program, tier: &Tier) -> Vec<&'a Tool> {
    tier.tools
        .iter()
        .filter_map(|id| program.tool(id))
        .collect()
}

/// The fallback of `tool` when it is in `tier` too (the program check only ensures it
/// shares *a* tier with the tool, not this persona's).
pub fn fallback_for<'a>(program: &'a Program, tier: &Tier, tool: &Tool) -> Option<&'a Tool> {
    let id = tool.fallback.as_deref()?;
    if !tier.tools.iter().any(|x| x == id) {
        return None;
    }
    program.tool(id)
}
