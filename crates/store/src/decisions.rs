//! Decisions and what they rest on: recorded decisions with their scope (personas,
//! tools, tiers), review horizon and cited evidence (runs, baselines, notes, plans);
//! recorded plans; and the source of drift findings staleness review reads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::usage::{time, ts};
use crate::{Result, Store, StoreError};

/// What kind of evidence a decision cites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    Run,
    Baseline,
    Note,
    Plan,
}

impl EvidenceKind {
    pub const ALL: [&'static str; 4] = ["run", "baseline", "note", "plan"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Run => "run",
            Self::Baseline => "baseline",
            Self::Note => "note",
            Self::Plan => "plan",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "run" => Some(Self::Run),
            "baseline" => Some(Self::Baseline),
            "note" => Some(Self::Note),
            "plan" => Some(Self::Plan),
            _ => None,
        }
    }
}

/// One piece of cited evidence: a kind and its id (run id, baseline name, note or plan id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Evidence {
    pub kind: EvidenceKind,
    pub reference: String,
}

/// A decision as written, before the store gives it an id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDecision {
    pub title: String,
    pub statement: String,
    pub author: Option<String>,
    pub personas: Vec<String>,
    pub tools: Vec<String>,
    pub tiers: Vec<String>,
    pub evidence: Vec<Evidence>,
    /// Evidence older than this many days makes the decision stale.
    pub horizon_days: u32,
}

/// A stored decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    #[serde(flatten)]
    pub decision: NewDecision,
}

/// A plan recorded with `proximity plan --record`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRecord {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    /// The runs whose results the plan used.
    pub runs: Vec<String>,
    /// The plan as its JSON output.
    pub body: serde_json::Value,
}

/// A drift finding on a tool (issue 5, "drift", produces them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftFinding {
    pub tool: String,
    pub found_at: DateTime<Utc>,
    /// What drifted, in a sentence.
    pub summary: String,
}

/// Where decision review reads drift findings from: the store (the findings `proximity
/// drift` records); a double in tests.
pub trait DriftSource {
    /// Findings on `tool` at or after `since`.
    fn drift_findings(
        &self,
        tool: &str,
        since: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Result<Vec<DriftFinding>>> + Send;
}

impl DriftSource for Store {
    async fn drift_findings(&self, tool: &str, since: DateTime<Utc>) -> Result<Vec<DriftFinding>> {
        self.drift_findings_since(tool, since).await
    }
}

#[derive(sqlx::FromRow)]
struct DecisionRow {
    id: i64,
    created_at: String,
    author: Option<String>,
    title: String,
    statement: String,
    personas: String,
    tools: String,
    tiers: String,
    horizon_days: i64,
}

fn json_list(id: i64, what: &str, text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("decision {id}: {what}: {e}")))
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// Record a decision and its evidence in one transaction; returns its id.
    pub async fn insert_decision(&self, d: &NewDecision, created_at: DateTime<Utc>) -> Result<i64> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO decisions (created_at, author, title, statement, personas, tools, tiers,
                    horizon_days)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(ts(created_at))
            .bind(&d.author)
            .bind(&d.title)
            .bind(&d.statement)
            .bind(to_json(&d.personas)?)
            .bind(to_json(&d.tools)?)
            .bind(to_json(&d.tiers)?)
            .bind(i64::from(d.horizon_days))
            .fetch_one(&mut *tx)
            .await?;
            for e in &d.evidence {
                sqlx::query(
                    "INSERT INTO decision_evidence (decision_id, kind, reference) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(e.kind.as_str())
                .bind(&e.reference)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Every decision, oldest first, with its evidence.
    pub async fn decisions(&self) -> Result<Vec<DecisionRecord>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query_as::<_, DecisionRow>("SELECT * FROM decisions ORDER BY id")
                .fetch_all(pool)
                .await?;
            let evidence: Vec<(i64, String, String)> = sqlx::query_as(
                "SELECT decision_id, kind, reference FROM decision_evidence
                 ORDER BY decision_id, kind, reference",
            )
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let mut cited = Vec::new();
                for (_, kind, reference) in evidence.iter().filter(|(d, _, _)| *d == r.id) {
                    let kind = EvidenceKind::parse(kind).ok_or_else(|| {
                        StoreError::Corrupt(format!("decision {}: evidence kind `{kind}`", r.id))
                    })?;
                    cited.push(Evidence {
                        kind,
                        reference: reference.clone(),
                    });
                }
                cited.sort();
                out.push(DecisionRecord {
                    id: r.id,
                    created_at: time(&r.created_at)?,
                    decision: NewDecision {
                        personas: json_list(r.id, "personas", &r.personas)?,
                        tools: json_list(r.id, "tools", &r.tools)?,
                        tiers: json_list(r.id, "tiers", &r.tiers)?,
                        title: r.title,
                        statement: r.statement,
                        author: r.author,
                        evidence: cited,
                        horizon_days: u32::try_from(r.horizon_days).unwrap_or(u32::MAX),
                    },
                });
            }
            Ok(out)
        })
    }

    /// Which (persona, tool) pairs each run has results for, with the run's start:
    /// `(persona, tool, run id, started at)`, newest run first.
    pub async fn run_pairs(&self) -> Result<Vec<(String, String, String, DateTime<Utc>)>> {
        with_pool!(self, |pool| {
            let rows: Vec<(String, String, String, String)> = sqlx::query_as(
                "SELECT DISTINCT results.persona, results.tool_id, runs.id, runs.started_at
                 FROM results JOIN runs ON runs.id = results.run_id
                 ORDER BY runs.started_at DESC, runs.id DESC, results.persona, results.tool_id",
            )
            .fetch_all(pool)
            .await?;
            rows.into_iter()
                .map(|(p, t, r, s)| Ok((p, t, r, time(&s)?)))
                .collect()
        })
    }

    /// Record a plan; returns its id.
    pub async fn insert_plan(
        &self,
        runs: &[String],
        body: &serde_json::Value,
        created_at: DateTime<Utc>,
    ) -> Result<i64> {
        with_pool!(self, |pool| {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO plans (created_at, runs, body) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(ts(created_at))
            .bind(to_json(&runs)?)
            .bind(body.to_string())
            .fetch_one(pool)
            .await?;
            Ok(id)
        })
    }

    /// One recorded plan.
    pub async fn plan(&self, id: i64) -> Result<Option<PlanRecord>> {
        with_pool!(self, |pool| {
            let row: Option<(i64, String, String, String)> =
                sqlx::query_as("SELECT id, created_at, runs, body FROM plans WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
            let Some((id, created_at, runs, body)) = row else {
                return Ok(None);
            };
            Ok(Some(PlanRecord {
                id,
                created_at: time(&created_at)?,
                runs: serde_json::from_str(&runs)
                    .map_err(|e| StoreError::Corrupt(format!("plan {id}: runs: {e}")))?,
                body: serde_json::from_str(&body)
                    .map_err(|e| StoreError::Corrupt(format!("plan {id}: body: {e}")))?,
            }))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_store_answers_drift_findings_that_drift_recorded() {
        for store in crate::testing::stores().await {
            crate::testing::on(&store);
            let t0 = Utc::now();
            store
                .create_run(&crate::RunRecord {
                    id: "r1".into(),
                    program: "acme".into(),
                    started_at: t0,
                    finished_at: Some(t0),
                    status: crate::RunStatus::Finished,
                    config: serde_json::json!({}),
                    planned: 0,
                })
                .await
                .unwrap();
            store
                .insert_baseline(&crate::BaselineRecord {
                    name: "security-review".into(),
                    run_id: "r1".into(),
                    accepted_at: t0,
                    accepted_by: "ana".into(),
                    note: None,
                    tools: Vec::new(),
                })
                .await
                .unwrap();
            let finding = |tool: &str| crate::NewDriftFinding {
                tool: tool.into(),
                baseline: "security-review".into(),
                run_id: None,
                kind: "quality".into(),
                summary: "pass rate fell".into(),
            };
            store
                .insert_drift_findings(
                    t0 + chrono::Duration::hours(1),
                    &[finding("copilot"), finding("other")],
                )
                .await
                .unwrap();
            let found = store.drift_findings("copilot", t0).await.unwrap();
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].tool, "copilot");
            assert!(found[0].summary.contains("pass rate fell"));
            // Findings before `since` are not reported.
            let later = store
                .drift_findings("copilot", t0 + chrono::Duration::hours(2))
                .await
                .unwrap();
            assert!(later.is_empty());
        }
    }

    #[tokio::test]
    async fn decisions_and_plans_round_trip() {
        for store in crate::testing::stores().await {
            crate::testing::on(&store);
            let d = NewDecision {
                title: "Standardise support".into(),
                statement: "Support agents use acme-copilot.".into(),
                author: Some("ana".into()),
                personas: vec!["support-agent".into()],
                tools: vec!["acme-copilot".into()],
                tiers: vec![],
                evidence: vec![
                    Evidence {
                        kind: EvidenceKind::Note,
                        reference: "1".into(),
                    },
                    Evidence {
                        kind: EvidenceKind::Run,
                        reference: "r1".into(),
                    },
                ],
                horizon_days: 30,
            };
            let id = store.insert_decision(&d, Utc::now()).await.unwrap();
            let all = store.decisions().await.unwrap();
            assert_eq!(all.len(), 1);
            assert_eq!(all[0].id, id);
            let mut want = d.clone();
            want.evidence.sort();
            assert_eq!(all[0].decision, want);

            let body = serde_json::json!({"personas": []});
            let p = store
                .insert_plan(&["r1".to_owned()], &body, Utc::now())
                .await
                .unwrap();
            let back = store.plan(p).await.unwrap().unwrap();
            assert_eq!(back.runs, vec!["r1".to_owned()]);
            assert_eq!(back.body, body);
            assert!(store.plan(p + 1).await.unwrap().is_none());
            assert!(store
                .drift_findings("acme-copilot", Utc::now())
                .await
                .unwrap()
                .is_empty());
        }
    }
}
