//! What more than one page shows of a decision and of a drift finding, as the templates
//! read them. The data comes from the operations ([`proximity_ops`]); this is only its
//! rendering into words and dates.

use chrono::Duration;
use proximity_analysis::staleness::{Review, StaleReason};
use proximity_store::{DecisionRecord, DriftFinding};
use serde::Serialize;

/// A recorded decision and why it may be stale.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionView {
    pub id: String,
    pub title: String,
    pub decided_at: String,
    pub review_by: Option<String>,
    /// Why it is stale (evidence older than its horizon, a tool's fingerprint changed),
    /// in plain words, each once; empty when it is current.
    pub stale_reasons: Vec<String>,
    pub statement: String,
    /// Who decided; `—` when nobody was recorded.
    pub author: String,
    /// What it covers: `personas …; tools …; tiers …`, or `the whole program`.
    pub scope: String,
    /// The evidence cited, `kind:reference`.
    pub evidence: Vec<String>,
    /// Where its own evidence says otherwise (a cited run below floor for the pair it
    /// chose, a cited plan choosing another tool), in plain words.
    pub contradicted: Vec<String>,
}

/// A stale reason in plain words: fingerprints as "the tool's configuration or model
/// changed", not hashes.
fn plain(r: &StaleReason) -> String {
    match r {
        StaleReason::FingerprintChanged { tool, run, .. } => format!(
            "`{tool}` has changed (its configuration or model version) since run {run}, the evidence"
        ),
        other => other.describe(),
    }
}

impl DecisionView {
    pub fn new(d: &DecisionRecord, r: &Review) -> Self {
        Self {
            id: d.id.to_string(),
            title: d.decision.title.clone(),
            decided_at: d.created_at.format("%Y-%m-%d").to_string(),
            review_by: d
                .created_at
                .checked_add_signed(Duration::days(i64::from(d.decision.horizon_days)))
                .map(|t| t.format("%Y-%m-%d").to_string()),
            stale_reasons: {
                let mut out: Vec<String> = Vec::new();
                for s in r.reasons.iter().map(plain) {
                    if !out.contains(&s) {
                        out.push(s);
                    }
                }
                out
            },
            statement: d.decision.statement.clone(),
            author: d.decision.author.clone().unwrap_or_else(|| "—".into()),
            scope: {
                let mut parts = Vec::new();
                for (what, ids) in [
                    ("personas", &d.decision.personas),
                    ("tools", &d.decision.tools),
                    ("tiers", &d.decision.tiers),
                ] {
                    if !ids.is_empty() {
                        parts.push(format!("{what} {}", ids.join(", ")));
                    }
                }
                if parts.is_empty() {
                    "the whole program".into()
                } else {
                    parts.join("; ")
                }
            },
            evidence: d
                .decision
                .evidence
                .iter()
                .map(|e| format!("{}:{}", e.kind.as_str(), e.reference))
                .collect(),
            contradicted: r.contradicted_by.iter().map(|c| c.describe()).collect(),
        }
    }
}

/// A drift finding against a baseline (`proximity drift` records them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftAlert {
    pub tool: String,
    /// When it was found, `YYYY-MM-DD HH:MM`.
    pub found_at: String,
    /// What drifted (`quality: …`, `vendor_update: …`, `config_change: …`).
    pub summary: String,
}

impl From<DriftFinding> for DriftAlert {
    fn from(f: DriftFinding) -> Self {
        Self {
            tool: f.tool,
            found_at: f.found_at.format("%Y-%m-%d %H:%M").to_string(),
            summary: f.summary,
        }
    }
}
