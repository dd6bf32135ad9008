//! Decisions: recording one with the evidence it rests on (every id checked, every piece
//! of evidence found in the store), and reviewing them all for staleness
//! ([`staleness::review_all`]). `proximity decide` and the dashboard come here.

use chrono::{DateTime, Utc};
use proximity_analysis::staleness::{self, Review};
use proximity_program::Program;
use proximity_store::{DecisionRecord, Evidence, EvidenceKind, NewDecision, Store};

use crate::{ids, OpsError};

/// A decision as asked for.
#[derive(Debug, Clone, Default)]
pub struct DecisionInput {
    pub title: String,
    pub statement: String,
    pub author: Option<String>,
    pub personas: Vec<String>,
    pub tools: Vec<String>,
    pub tiers: Vec<String>,
    /// `KIND:REF`: `run:ID`, `baseline:NAME`, `note:ID` or `plan:ID`.
    pub evidence: Vec<String>,
    /// Default: the program's `horizon_days`.
    pub horizon_days: Option<u32>,
}

/// `KIND:REF` as evidence.
pub fn parse_evidence(s: &str) -> Result<Evidence, OpsError> {
    let (kind, reference) = s.split_once(':').ok_or_else(|| {
        OpsError::invalid(format!("evidence `{s}` is not KIND:REF"))
            .with_hint("e.g. `run:20261125-…`, `baseline:security-review`, `note:3`, `plan:1`")
    })?;
    let kind = EvidenceKind::parse(kind).ok_or_else(|| {
        OpsError::invalid(format!("evidence `{s}`: unknown kind `{kind}`"))
            .with_hint(format!("one of: {}", EvidenceKind::ALL.join(", ")))
    })?;
    Ok(Evidence {
        kind,
        reference: reference.to_owned(),
    })
}

/// Check and record a decision; its id.
pub async fn add(
    store: &Store,
    program: &Program,
    d: &DecisionInput,
    now: DateTime<Utc>,
) -> Result<i64, OpsError> {
    if d.title.trim().is_empty() || d.statement.trim().is_empty() {
        return Err(OpsError::invalid(
            "a decision needs a title and a statement",
        ));
    }
    for p in &d.personas {
        ids::persona(program, p)?;
    }
    for t in &d.tools {
        ids::tool(program, t)?;
    }
    for t in &d.tiers {
        ids::tier(program, t)?;
    }
    let mut evidence = Vec::with_capacity(d.evidence.len());
    for text in &d.evidence {
        let e = parse_evidence(text)?;
        if staleness::evidence_time(store, &e).await?.is_none() {
            return Err(OpsError::invalid(format!(
                "evidence `{}:{}` is not in the store",
                e.kind.as_str(),
                e.reference
            ))
            .with_hint("cite a run, baseline, note or recorded plan that exists (`proximity report`, `baseline list`, `note list`, `plan --record`)"));
        }
        evidence.push(e);
    }
    let new = NewDecision {
        title: d.title.clone(),
        statement: d.statement.clone(),
        author: d.author.clone().filter(|a| !a.trim().is_empty()),
        personas: d.personas.clone(),
        tools: d.tools.clone(),
        tiers: d.tiers.clone(),
        evidence,
        horizon_days: d.horizon_days.unwrap_or(program.horizon_days),
    };
    Ok(store.insert_decision(&new, now).await?)
}

/// Every decision, oldest first.
pub async fn list(store: &Store) -> Result<Vec<DecisionRecord>, OpsError> {
    Ok(store.decisions().await?)
}

/// Every decision with its review, the stale or contradicted ones first (otherwise oldest
/// first). Cited runs' score cells come from `cells`: the store, or the dashboard's cache
/// of finished runs.
pub async fn review(
    store: &Store,
    program: &Program,
    now: DateTime<Utc>,
    cells: &impl crate::plan::Cells,
) -> Result<Vec<(DecisionRecord, Review)>, OpsError> {
    let mut all = staleness::review_all(program, store, now, cells).await?;
    all.sort_by_key(|(_, r)| !r.stale && r.contradicted_by.is_empty());
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_is_kind_colon_ref() {
        let e = parse_evidence("note:3").unwrap();
        assert_eq!((e.kind.as_str(), e.reference.as_str()), ("note", "3"));
        let bad = parse_evidence("memo:3").unwrap_err();
        assert_eq!(bad.to_string(), "evidence `memo:3`: unknown kind `memo`");
        assert!(bad.hint().unwrap().contains("baseline"));
        assert!(parse_evidence("run").unwrap_err().hint().is_some());
    }
}
