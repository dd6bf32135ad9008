//! Baselines (a finished run's results pinned under a unique name, per tool fingerprint)
//! and the drift findings `proximity drift` records against them.
//!
//! A baseline is immutable: it is inserted once, in one transaction with its tool rows;
//! there is no update or delete path here, and the migration's triggers refuse both.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::decisions::DriftFinding;
use crate::usage::{time, ts};
use crate::{Result, Store, StoreError};

/// One tool version a baseline covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineTool {
    pub tool_id: String,
    /// The version fingerprint of the results (configuration + reported model version).
    pub tool_fingerprint: String,
    /// The configuration fingerprint, when it could be recomputed from the program.
    pub config_fingerprint: Option<String>,
    pub model_version: Option<String>,
    /// The tool's configuration as fingerprinted (JSON), when it could be recomputed.
    pub config: Option<serde_json::Value>,
    /// Results of this tool version in the run, and how many passed.
    pub results: u64,
    pub passed: u64,
}

/// A named, accepted set of results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineRecord {
    pub name: String,
    pub run_id: String,
    pub accepted_at: DateTime<Utc>,
    pub accepted_by: String,
    pub note: Option<String>,
    pub tools: Vec<BaselineTool>,
}

/// A drift finding to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDriftFinding {
    pub tool: String,
    pub baseline: String,
    pub run_id: Option<String>,
    /// `quality`, `vendor_update` or `config_change`.
    pub kind: String,
    pub summary: String,
}

#[derive(sqlx::FromRow)]
struct BaselineRow {
    name: String,
    run_id: String,
    accepted_at: String,
    accepted_by: String,
    note: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ToolRow {
    baseline: String,
    tool_id: String,
    tool_fingerprint: String,
    config_fingerprint: Option<String>,
    model_version: Option<String>,
    config: Option<String>,
    results: i64,
    passed: i64,
}

impl ToolRow {
    fn into_tool(self) -> Result<BaselineTool> {
        let config = self
            .config
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| {
                StoreError::Corrupt(format!("baseline `{}`: tool config: {e}", self.baseline))
            })?;
        Ok(BaselineTool {
            tool_id: self.tool_id,
            tool_fingerprint: self.tool_fingerprint,
            config_fingerprint: self.config_fingerprint,
            model_version: self.model_version,
            config,
            results: self.results.max(0) as u64,
            passed: self.passed.max(0) as u64,
        })
    }
}

impl Store {
    /// Pin a baseline. Accepting a name that exists is [`StoreError::BaselineExists`];
    /// the run must exist ([`StoreError::NoSuchRun`]).
    pub async fn insert_baseline(&self, b: &BaselineRecord) -> Result<()> {
        with_pool!(self, |pool| {
            self.run(&b.run_id).await?;
            let mut tx = pool.begin().await?;
            let exists: Option<(String,)> =
                sqlx::query_as("SELECT name FROM baselines WHERE name = $1")
                    .bind(&b.name)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_some() {
                return Err(StoreError::BaselineExists(b.name.clone()));
            }
            let inserted = sqlx::query(
                "INSERT INTO baselines (name, run_id, accepted_at, accepted_by, note)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&b.name)
            .bind(&b.run_id)
            .bind(ts(b.accepted_at))
            .bind(&b.accepted_by)
            .bind(&b.note)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::BaselineExists(b.name.clone()));
                }
                Err(e) => return Err(e.into()),
            }
            for t in &b.tools {
                let config = t
                    .config
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO baseline_tools (baseline, tool_id, tool_fingerprint,
                        config_fingerprint, model_version, config, results, passed)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&b.name)
                .bind(&t.tool_id)
                .bind(&t.tool_fingerprint)
                .bind(&t.config_fingerprint)
                .bind(&t.model_version)
                .bind(config)
                .bind(t.results as i64)
                .bind(t.passed as i64)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// A baseline by name.
    pub async fn baseline(&self, name: &str) -> Result<BaselineRecord> {
        with_pool!(self, |pool| {
            let row: Option<BaselineRow> =
                sqlx::query_as("SELECT * FROM baselines WHERE name = $1")
                    .bind(name)
                    .fetch_optional(pool)
                    .await?;
            let row = row.ok_or_else(|| StoreError::NoSuchBaseline(name.to_owned()))?;
            let tools = self.baseline_tools(name).await?;
            baseline_from(row, tools)
        })
    }

    /// Every baseline, newest first.
    pub async fn baselines(&self) -> Result<Vec<BaselineRecord>> {
        with_pool!(self, |pool| {
            let rows: Vec<BaselineRow> =
                sqlx::query_as("SELECT * FROM baselines ORDER BY accepted_at DESC, name")
                    .fetch_all(pool)
                    .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let tools = self.baseline_tools(&row.name).await?;
                out.push(baseline_from(row, tools)?);
            }
            Ok(out)
        })
    }

    async fn baseline_tools(&self, name: &str) -> Result<Vec<BaselineTool>> {
        with_pool!(self, |pool| {
            let rows: Vec<ToolRow> = sqlx::query_as(
                "SELECT * FROM baseline_tools WHERE baseline = $1 ORDER BY tool_id, tool_fingerprint",
            )
            .bind(name)
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(ToolRow::into_tool).collect()
        })
    }

    /// Record what a drift check found.
    pub async fn insert_drift_findings(
        &self,
        found_at: DateTime<Utc>,
        findings: &[NewDriftFinding],
    ) -> Result<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for f in findings {
                sqlx::query(
                    "INSERT INTO drift_findings (found_at, tool, baseline, run_id, kind, summary)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(ts(found_at))
                .bind(&f.tool)
                .bind(&f.baseline)
                .bind(&f.run_id)
                .bind(&f.kind)
                .bind(&f.summary)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Drift findings on `tool` at or after `since`, oldest first: what
    /// [`crate::decisions::DriftSource`] answers once wired to it.
    pub async fn drift_findings_since(
        &self,
        tool: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DriftFinding>> {
        with_pool!(self, |pool| {
            let rows: Vec<(String, String, String, String)> = sqlx::query_as(
                "SELECT found_at, tool, kind, summary FROM drift_findings
                 WHERE tool = $1 AND found_at >= $2 ORDER BY found_at, id",
            )
            .bind(tool)
            .bind(ts(since))
            .fetch_all(pool)
            .await?;
            rows.into_iter()
                .map(|(found_at, tool, kind, summary)| {
                    Ok(DriftFinding {
                        tool,
                        found_at: time(&found_at)?,
                        summary: format!("{kind}: {summary}"),
                    })
                })
                .collect()
        })
    }
}

fn baseline_from(row: BaselineRow, tools: Vec<BaselineTool>) -> Result<BaselineRecord> {
    Ok(BaselineRecord {
        accepted_at: time(&row.accepted_at)?,
        name: row.name,
        run_id: row.run_id,
        accepted_by: row.accepted_by,
        note: row.note,
        tools,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{RunRecord, RunStatus};

    async fn store_with_run() -> Vec<crate::testing::TestStore> {
        let mut out = Vec::new();
        for store in crate::testing::stores().await {
            store
                .create_run(&RunRecord {
                    id: "r1".into(),
                    program: "acme".into(),
                    started_at: Utc::now(),
                    finished_at: Some(Utc::now()),
                    status: RunStatus::Finished,
                    config: serde_json::json!({}),
                    planned: 1,
                })
                .await
                .unwrap();
            out.push(store);
        }
        out
    }

    fn baseline(name: &str) -> BaselineRecord {
        BaselineRecord {
            name: name.into(),
            run_id: "r1".into(),
            accepted_at: Utc::now(),
            accepted_by: "ana".into(),
            note: Some("security review".into()),
            tools: vec![BaselineTool {
                tool_id: "t".into(),
                tool_fingerprint: "v1".into(),
                config_fingerprint: Some("c1".into()),
                model_version: Some("m-1".into()),
                config: Some(serde_json::json!({"model": "m"})),
                results: 3,
                passed: 2,
            }],
        }
    }

    #[tokio::test]
    async fn baseline_round_trips_and_names_are_unique() {
        for store in store_with_run().await {
            crate::testing::on(&store);
            let b = baseline("sec-review");
            store.insert_baseline(&b).await.unwrap();
            let back = store.baseline("sec-review").await.unwrap();
            assert_eq!(back.tools, b.tools);
            assert_eq!(back.note.as_deref(), Some("security review"));
            assert!(matches!(
                store.insert_baseline(&b).await,
                Err(StoreError::BaselineExists(n)) if n == "sec-review"
            ));
            assert_eq!(store.baselines().await.unwrap().len(), 1);
            assert!(matches!(
                store.baseline("nope").await,
                Err(StoreError::NoSuchBaseline(_))
            ));
        }
    }

    #[tokio::test]
    async fn baseline_needs_an_existing_run() {
        for store in store_with_run().await {
            crate::testing::on(&store);
            let mut b = baseline("x");
            b.run_id = "missing".into();
            assert!(matches!(
                store.insert_baseline(&b).await,
                Err(StoreError::NoSuchRun(_))
            ));
        }
    }

    #[tokio::test]
    async fn baselines_refuse_update_and_delete_in_the_database() {
        for store in store_with_run().await {
            crate::testing::on(&store);
            store.insert_baseline(&baseline("b")).await.unwrap();
            let update = with_pool!(store, |pool| sqlx::query(
                "UPDATE baselines SET note = 'changed' WHERE name = 'b'"
            )
            .execute(pool)
            .await
            .map(|_| ()));
            assert!(update.is_err(), "an UPDATE must be refused");
            let delete = with_pool!(store, |pool| sqlx::query(
                "DELETE FROM baseline_tools WHERE baseline = 'b'"
            )
            .execute(pool)
            .await
            .map(|_| ()));
            assert!(delete.is_err(), "a DELETE must be refused");
            let back = store.baseline("b").await.unwrap();
            assert_eq!(back.note.as_deref(), Some("security review"));
            assert_eq!(back.tools.len(), 1);
        }
    }

    #[tokio::test]
    async fn drift_findings_are_read_back_per_tool_and_time() {
        for store in store_with_run().await {
            crate::testing::on(&store);
            store.insert_baseline(&baseline("b")).await.unwrap();
            let t0 = Utc::now();
            store
                .insert_drift_findings(
                    t0,
                    &[NewDriftFinding {
                        tool: "t".into(),
                        baseline: "b".into(),
                        run_id: Some("r1".into()),
                        kind: "vendor_update".into(),
                        summary: "model version m-1 → m-2".into(),
                    }],
                )
                .await
                .unwrap();
            let found = store
                .drift_findings_since("t", t0 - chrono::Duration::days(1))
                .await
                .unwrap();
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].summary, "vendor_update: model version m-1 → m-2");
            assert!(store
                .drift_findings_since("t", t0 + chrono::Duration::days(1))
                .await
                .unwrap()
                .is_empty());
            assert!(store
                .drift_findings_since("other", t0 - chrono::Duration::days(1))
                .await
                .unwrap()
                .is_empty());
        }
    }
}
