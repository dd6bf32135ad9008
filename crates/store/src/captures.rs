//! Captured requests and answers: what the gateway keeps of a tier with `capture: true`
//! (already redacted when it gets here), their listing by persona and workflow, and the
//! mark a capture gets when it is promoted into a case.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::usage::{time, ts};
use crate::{Result, Store, StoreError};

/// One message of a captured request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedMessage {
    pub role: String,
    pub content: String,
}

/// A capture as the gateway writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCapture {
    pub created_at: DateTime<Utc>,
    /// The gateway's request id (the usage row's id).
    pub request_id: String,
    pub persona: String,
    pub tier: String,
    /// The tool that served the answer.
    pub tool: String,
    pub workflow: String,
    pub messages: Vec<CapturedMessage>,
    pub answer: String,
}

/// A stored capture.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureRecord {
    pub id: i64,
    pub capture: NewCapture,
    /// The case it was promoted to, if any.
    pub promoted_case: Option<String>,
    /// The suite file (relative to the program) that case went to.
    pub promoted_suite: Option<String>,
}

/// Which captures to list; every field narrows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaptureFilter {
    pub persona: Option<String>,
    pub workflow: Option<String>,
}

#[derive(sqlx::FromRow)]
struct CaptureRow {
    id: i64,
    created_at: String,
    request_id: String,
    persona: String,
    tier: String,
    tool: String,
    workflow: String,
    messages: String,
    answer: String,
    promoted_case: Option<String>,
    promoted_suite: Option<String>,
}

impl TryFrom<CaptureRow> for CaptureRecord {
    type Error = StoreError;

    fn try_from(r: CaptureRow) -> Result<Self> {
        let messages = serde_json::from_str(&r.messages)
            .map_err(|e| StoreError::Corrupt(format!("capture {}: messages: {e}", r.id)))?;
        Ok(CaptureRecord {
            id: r.id,
            capture: NewCapture {
                created_at: time(&r.created_at)?,
                request_id: r.request_id,
                persona: r.persona,
                tier: r.tier,
                tool: r.tool,
                workflow: r.workflow,
                messages,
                answer: r.answer,
            },
            promoted_case: r.promoted_case,
            promoted_suite: r.promoted_suite,
        })
    }
}

impl Store {
    /// Record captures in one transaction; returns how many were written.
    pub async fn insert_captures(&self, captures: &[NewCapture]) -> Result<usize> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for c in captures {
                let messages = serde_json::to_string(&c.messages)
                    .map_err(|e| StoreError::Corrupt(format!("capture messages: {e}")))?;
                sqlx::query(
                    "INSERT INTO captures (created_at, request_id, persona, tier, tool, workflow,
                        messages, answer)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(ts(c.created_at))
                .bind(&c.request_id)
                .bind(&c.persona)
                .bind(&c.tier)
                .bind(&c.tool)
                .bind(&c.workflow)
                .bind(messages)
                .bind(&c.answer)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(captures.len())
        })
    }

    /// One capture by id.
    pub async fn capture(&self, id: i64) -> Result<Option<CaptureRecord>> {
        with_pool!(self, |pool| {
            let row = sqlx::query_as::<_, CaptureRow>("SELECT * FROM captures WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            row.map(TryInto::try_into).transpose()
        })
    }

    /// Captures matching `filter`, oldest first.
    pub async fn captures(&self, filter: &CaptureFilter) -> Result<Vec<CaptureRecord>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query_as::<_, CaptureRow>(
                "SELECT * FROM captures
                 WHERE ($1 IS NULL OR persona = $2) AND ($3 IS NULL OR workflow = $4)
                 ORDER BY id",
            )
            .bind(&filter.persona)
            .bind(&filter.persona)
            .bind(&filter.workflow)
            .bind(&filter.workflow)
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(TryInto::try_into).collect()
        })
    }

    /// Mark a capture as promoted to `case_id` in `suite`.
    pub async fn mark_capture_promoted(&self, id: i64, case_id: &str, suite: &str) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE captures SET promoted_case = $1, promoted_suite = $2 WHERE id = $3",
            )
            .bind(case_id)
            .bind(suite)
            .bind(id)
            .execute(pool)
            .await?;
            Ok(())
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn capture(persona: &str, workflow: &str) -> NewCapture {
        NewCapture {
            created_at: Utc::now(),
            request_id: "r1".into(),
            persona: persona.into(),
            tier: "t".into(),
            tool: "a".into(),
            workflow: workflow.into(),
            messages: vec![CapturedMessage {
                role: "user".into(),
                content: "write to [EMAIL]".into(),
            }],
            answer: "done".into(),
        }
    }

    #[tokio::test]
    async fn captures_round_trip_filter_and_promote() {
        for store in crate::testing::stores().await {
            crate::testing::on(&store);
            let written = store
                .insert_captures(&[capture("p", "w"), capture("p", "v"), capture("q", "w")])
                .await
                .unwrap();
            assert_eq!(written, 3);
            let all = store.captures(&CaptureFilter::default()).await.unwrap();
            assert_eq!(all.len(), 3);
            assert_eq!(all[0].capture.messages[0].content, "write to [EMAIL]");
            let p = store
                .captures(&CaptureFilter {
                    persona: Some("p".into()),
                    workflow: None,
                })
                .await
                .unwrap();
            assert_eq!(p.len(), 2);
            let pw = store
                .captures(&CaptureFilter {
                    persona: Some("p".into()),
                    workflow: Some("w".into()),
                })
                .await
                .unwrap();
            assert_eq!(pw.len(), 1);
            let id = pw[0].id;
            store
                .mark_capture_promoted(id, "capture-1", "suites/p.yaml")
                .await
                .unwrap();
            let back = store.capture(id).await.unwrap().unwrap();
            assert_eq!(back.promoted_case.as_deref(), Some("capture-1"));
            assert_eq!(back.capture, pw[0].capture);
            assert!(store.capture(id + 100).await.unwrap().is_none());
        }
    }
}
