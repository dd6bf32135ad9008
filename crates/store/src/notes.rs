//! Field notes: first-hand records of a tool in real work (who, persona context, tool,
//! task, outcome, failure mode, minutes saved and lost), their listing by filter, and
//! the mark a note gets when it is promoted into a case.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::usage::{time, ts};
use crate::{Result, Store, StoreError};

/// Who wrote a note: someone who decides about the tools, or someone doing the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteRole {
    Leader,
    Practitioner,
}

impl NoteRole {
    pub const ALL: [&'static str; 2] = ["leader", "practitioner"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Leader => "leader",
            Self::Practitioner => "practitioner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_lowercase().as_str() {
            "leader" => Some(Self::Leader),
            "practitioner" => Some(Self::Practitioner),
            _ => None,
        }
    }
}

/// How the encounter ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteOutcome {
    Worked,
    /// It failed and the person saw it fail (an error, a refusal, obvious nonsense).
    FailedVisibly,
    /// It looked right and was wrong: found later, or by someone else.
    FailedSilently,
    /// Usable after the person fixed it.
    WorkedWithFixes,
}

impl NoteOutcome {
    pub const ALL: [&'static str; 4] = [
        "worked",
        "failed_visibly",
        "failed_silently",
        "worked_with_fixes",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Worked => "worked",
            Self::FailedVisibly => "failed_visibly",
            Self::FailedSilently => "failed_silently",
            Self::WorkedWithFixes => "worked_with_fixes",
        }
    }

    /// Accepts `failed-silently` and `failed silently` as well as `failed_silently`.
    pub fn parse(s: &str) -> Option<Self> {
        match normalise(s).as_str() {
            "worked" => Some(Self::Worked),
            "failed_visibly" => Some(Self::FailedVisibly),
            "failed_silently" => Some(Self::FailedSilently),
            "worked_with_fixes" => Some(Self::WorkedWithFixes),
            _ => None,
        }
    }

    /// Whether the tool failed (visibly or silently).
    pub fn is_failure(self) -> bool {
        matches!(self, Self::FailedVisibly | Self::FailedSilently)
    }
}

/// What kind of failure it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    Hallucination,
    ContextDecay,
    Structure,
    Refusal,
    Other,
}

impl FailureMode {
    pub const ALL: [&'static str; 5] = [
        "hallucination",
        "context_decay",
        "structure",
        "refusal",
        "other",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hallucination => "hallucination",
            Self::ContextDecay => "context_decay",
            Self::Structure => "structure",
            Self::Refusal => "refusal",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match normalise(s).as_str() {
            "hallucination" => Some(Self::Hallucination),
            "context_decay" => Some(Self::ContextDecay),
            "structure" => Some(Self::Structure),
            "refusal" => Some(Self::Refusal),
            "other" => Some(Self::Other),
            _ => None,
        }
    }
}

fn normalise(s: &str) -> String {
    s.trim().to_lowercase().replace(['-', ' '], "_")
}

/// A note as written, before the store gives it an id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewNote {
    /// The day of the encounter.
    pub date: NaiveDate,
    pub author: String,
    pub role: NoteRole,
    pub persona: String,
    pub tool: String,
    pub workflow: Option<String>,
    pub task: String,
    pub what_happened: String,
    pub outcome: NoteOutcome,
    pub failure_mode: Option<FailureMode>,
    pub minutes_saved: f64,
    pub minutes_lost: f64,
    pub prompt: Option<String>,
    pub output: Option<String>,
}

/// A stored field note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoteRecord {
    pub id: i64,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    #[serde(flatten)]
    pub note: NewNote,
    /// The case it was promoted to, if any.
    pub promoted_case: Option<String>,
    /// The suite file (relative to the program) that case went to.
    pub promoted_suite: Option<String>,
}

/// Which notes to list; every field narrows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NoteFilter {
    pub persona: Option<String>,
    pub tool: Option<String>,
    pub author: Option<String>,
    /// Encounters on or after this day.
    pub since: Option<NaiveDate>,
}

#[derive(sqlx::FromRow)]
struct NoteRow {
    id: i64,
    created_at: String,
    date: String,
    author: String,
    role: String,
    persona: String,
    tool: String,
    workflow: Option<String>,
    task: String,
    what_happened: String,
    outcome: String,
    failure_mode: Option<String>,
    minutes_saved: f64,
    minutes_lost: f64,
    prompt: Option<String>,
    output: Option<String>,
    promoted_case: Option<String>,
    promoted_suite: Option<String>,
}

impl TryFrom<NoteRow> for NoteRecord {
    type Error = StoreError;

    fn try_from(r: NoteRow) -> Result<Self> {
        let corrupt =
            |what: &str, v: &str| StoreError::Corrupt(format!("note {}: {what} `{v}`", r.id));
        let date =
            NaiveDate::parse_from_str(&r.date, "%Y-%m-%d").map_err(|_| corrupt("date", &r.date))?;
        let role = NoteRole::parse(&r.role).ok_or_else(|| corrupt("role", &r.role))?;
        let outcome =
            NoteOutcome::parse(&r.outcome).ok_or_else(|| corrupt("outcome", &r.outcome))?;
        let failure_mode = match &r.failure_mode {
            None => None,
            Some(m) => Some(FailureMode::parse(m).ok_or_else(|| corrupt("failure mode", m))?),
        };
        Ok(NoteRecord {
            id: r.id,
            created_at: time(&r.created_at)?,
            note: NewNote {
                date,
                author: r.author,
                role,
                persona: r.persona,
                tool: r.tool,
                workflow: r.workflow,
                task: r.task,
                what_happened: r.what_happened,
                outcome,
                failure_mode,
                minutes_saved: r.minutes_saved,
                minutes_lost: r.minutes_lost,
                prompt: r.prompt,
                output: r.output,
            },
            promoted_case: r.promoted_case,
            promoted_suite: r.promoted_suite,
        })
    }
}

impl Store {
    /// Record a note; returns its id.
    pub async fn insert_note(&self, n: &NewNote, created_at: DateTime<Utc>) -> Result<i64> {
        with_pool!(self, |pool| {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO field_notes (created_at, date, author, role, persona, tool, workflow,
                    task, what_happened, outcome, failure_mode, minutes_saved, minutes_lost, prompt,
                    output)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                 RETURNING id",
            )
            .bind(ts(created_at))
            .bind(n.date.format("%Y-%m-%d").to_string())
            .bind(&n.author)
            .bind(n.role.as_str())
            .bind(&n.persona)
            .bind(&n.tool)
            .bind(&n.workflow)
            .bind(&n.task)
            .bind(&n.what_happened)
            .bind(n.outcome.as_str())
            .bind(n.failure_mode.map(FailureMode::as_str))
            .bind(n.minutes_saved)
            .bind(n.minutes_lost)
            .bind(&n.prompt)
            .bind(&n.output)
            .fetch_one(pool)
            .await?;
            Ok(id)
        })
    }

    /// Record many notes in one transaction: all or none. Returns their ids in order.
    pub async fn insert_notes(
        &self,
        notes: &[NewNote],
        created_at: DateTime<Utc>,
    ) -> Result<Vec<i64>> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut ids = Vec::with_capacity(notes.len());
            for n in notes {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO field_notes (created_at, date, author, role, persona, tool, workflow,
                        task, what_happened, outcome, failure_mode, minutes_saved, minutes_lost,
                        prompt, output)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                     RETURNING id",
                )
                .bind(ts(created_at))
                .bind(n.date.format("%Y-%m-%d").to_string())
                .bind(&n.author)
                .bind(n.role.as_str())
                .bind(&n.persona)
                .bind(&n.tool)
                .bind(&n.workflow)
                .bind(&n.task)
                .bind(&n.what_happened)
                .bind(n.outcome.as_str())
                .bind(n.failure_mode.map(FailureMode::as_str))
                .bind(n.minutes_saved)
                .bind(n.minutes_lost)
                .bind(&n.prompt)
                .bind(&n.output)
                .fetch_one(&mut *tx)
                .await?;
                ids.push(id);
            }
            tx.commit().await?;
            Ok(ids)
        })
    }

    /// One note by id.
    pub async fn note(&self, id: i64) -> Result<Option<NoteRecord>> {
        with_pool!(self, |pool| {
            let row = sqlx::query_as::<_, NoteRow>("SELECT * FROM field_notes WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            row.map(TryInto::try_into).transpose()
        })
    }

    /// Notes matching `filter`, oldest encounter first.
    pub async fn notes(&self, filter: &NoteFilter) -> Result<Vec<NoteRecord>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query_as::<_, NoteRow>(
                "SELECT * FROM field_notes
                 WHERE ($1 IS NULL OR persona = $2) AND ($3 IS NULL OR tool = $4)
                   AND ($5 IS NULL OR author = $6) AND ($7 IS NULL OR date >= $8)
                 ORDER BY date, id",
            )
            .bind(&filter.persona)
            .bind(&filter.persona)
            .bind(&filter.tool)
            .bind(&filter.tool)
            .bind(&filter.author)
            .bind(&filter.author)
            .bind(filter.since.map(|d| d.format("%Y-%m-%d").to_string()))
            .bind(filter.since.map(|d| d.format("%Y-%m-%d").to_string()))
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(TryInto::try_into).collect()
        })
    }

    /// Mark a note as promoted to `case_id` in `suite`.
    pub async fn mark_note_promoted(&self, id: i64, case_id: &str, suite: &str) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE field_notes SET promoted_case = $1, promoted_suite = $2 WHERE id = $3",
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

    pub(crate) fn note(persona: &str, tool: &str, author: &str, day: u32) -> NewNote {
        NewNote {
            date: NaiveDate::from_ymd_opt(2026, 11, day).unwrap(),
            author: author.into(),
            role: NoteRole::Practitioner,
            persona: persona.into(),
            tool: tool.into(),
            workflow: Some("w".into()),
            task: "a task".into(),
            what_happened: "it answered".into(),
            outcome: NoteOutcome::FailedSilently,
            failure_mode: Some(FailureMode::Hallucination),
            minutes_saved: 5.0,
            minutes_lost: 20.0,
            prompt: Some("What is the capital?".into()),
            output: None,
        }
    }

    #[tokio::test]
    async fn notes_round_trip_filter_and_promote() {
        for store in crate::testing::stores().await {
            crate::testing::on(&store);
            let a = store
                .insert_note(&note("p", "t", "ana", 3), Utc::now())
                .await
                .unwrap();
            let ids = store
                .insert_notes(
                    &[note("p", "u", "bo", 10), note("q", "t", "ana", 20)],
                    Utc::now(),
                )
                .await
                .unwrap();
            assert_eq!(ids.len(), 2);
            let back = store.note(a).await.unwrap().unwrap();
            assert_eq!(back.note, note("p", "t", "ana", 3));
            assert_eq!(back.promoted_case, None);

            let by_persona = store
                .notes(&NoteFilter {
                    persona: Some("p".into()),
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(by_persona.len(), 2);
            let since = store
                .notes(&NoteFilter {
                    since: NaiveDate::from_ymd_opt(2026, 11, 10),
                    author: Some("ana".into()),
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(since.len(), 1);
            assert_eq!(since[0].note.persona, "q");

            store
                .mark_note_promoted(a, "field-1", "suites/x.yaml")
                .await
                .unwrap();
            let back = store.note(a).await.unwrap().unwrap();
            assert_eq!(back.promoted_case.as_deref(), Some("field-1"));
            assert!(store.note(999).await.unwrap().is_none());
        }
    }

    #[test]
    fn outcomes_parse_loosely() {
        assert_eq!(
            NoteOutcome::parse("Failed silently"),
            Some(NoteOutcome::FailedSilently)
        );
        assert_eq!(
            FailureMode::parse("context-decay"),
            Some(FailureMode::ContextDecay)
        );
        assert_eq!(NoteRole::parse("boss"), None);
    }
}
