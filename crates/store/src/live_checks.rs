//! Live checks: verdict counts of the gateway's checks on real answers per UTC day ×
//! persona × tool × workflow (pass / structural / silent / loud, and the checks skipped
//! because the queue was full), added to by upserts and summed over a window for
//! `report`.

use crate::runs::Verdict;
use crate::{Result, Store};

/// Counts of one day × persona × tool × workflow, or their sums over a window (then `day`
/// is the window's last day with counts).
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct LiveCheckRow {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub persona: String,
    pub tool_id: String,
    pub workflow: String,
    pub pass: i64,
    pub structural: i64,
    pub silent: i64,
    pub loud: i64,
    /// Sampled answers not checked: the gateway's check queue was full.
    pub skipped: i64,
}

impl LiveCheckRow {
    /// A row of zero counts.
    pub fn new(day: &str, persona: &str, tool_id: &str, workflow: &str) -> Self {
        Self {
            day: day.to_owned(),
            persona: persona.to_owned(),
            tool_id: tool_id.to_owned(),
            workflow: workflow.to_owned(),
            ..Self::default()
        }
    }

    /// Count one verdict.
    pub fn add(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Pass => self.pass += 1,
            Verdict::Structural => self.structural += 1,
            Verdict::Silent => self.silent += 1,
            Verdict::Loud => self.loud += 1,
        }
    }

    /// Answers checked.
    pub fn checked(&self) -> i64 {
        self.pass + self.structural + self.silent + self.loud
    }

    /// Answers checked that did not pass.
    pub fn failed(&self) -> i64 {
        self.structural + self.silent + self.loud
    }
}

impl Store {
    /// Add `rows`' counts to the stored ones (one transaction; a new day × persona × tool
    /// × workflow starts at the row's counts).
    pub async fn add_live_checks(&self, rows: &[LiveCheckRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for r in rows {
                sqlx::query(
                    "INSERT INTO live_checks
                         (day, persona, tool_id, workflow, pass, structural, silent, loud, skipped)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (day, persona, tool_id, workflow) DO UPDATE SET
                         pass = live_checks.pass + excluded.pass,
                         structural = live_checks.structural + excluded.structural,
                         silent = live_checks.silent + excluded.silent,
                         loud = live_checks.loud + excluded.loud,
                         skipped = live_checks.skipped + excluded.skipped",
                )
                .bind(&r.day)
                .bind(&r.persona)
                .bind(&r.tool_id)
                .bind(&r.workflow)
                .bind(r.pass)
                .bind(r.structural)
                .bind(r.silent)
                .bind(r.loud)
                .bind(r.skipped)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Counts per persona × tool × workflow summed over the days from `since` to `until`
    /// (`YYYY-MM-DD`, both included); only `persona`'s when given.
    pub async fn live_check_sums(
        &self,
        since: &str,
        until: &str,
        persona: Option<&str>,
    ) -> Result<Vec<LiveCheckRow>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query_as::<_, LiveCheckRow>(
                "SELECT MAX(day) AS day, persona, tool_id, workflow,
                        CAST(SUM(pass) AS BIGINT) AS pass,
                        CAST(SUM(structural) AS BIGINT) AS structural,
                        CAST(SUM(silent) AS BIGINT) AS silent,
                        CAST(SUM(loud) AS BIGINT) AS loud,
                        CAST(SUM(skipped) AS BIGINT) AS skipped
                 FROM live_checks
                 WHERE day >= $1 AND day <= $2 AND ($3 IS NULL OR persona = $3)
                 GROUP BY persona, tool_id, workflow
                 ORDER BY persona, tool_id, workflow",
            )
            .bind(since)
            .bind(until)
            .bind(persona)
            .fetch_all(pool)
            .await?;
            Ok(rows)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::testing::{on, stores};

    fn row(day: &str, persona: &str, verdicts: &[Verdict], skipped: i64) -> LiveCheckRow {
        let mut r = LiveCheckRow::new(day, persona, "gpt", "triage");
        for v in verdicts {
            r.add(*v);
        }
        r.skipped = skipped;
        r
    }

    #[tokio::test]
    async fn counts_add_up_per_day_and_sum_over_the_window() {
        use Verdict::*;
        for s in stores().await {
            on(&s);
            s.add_live_checks(&[
                row("2026-12-01", "p", &[Pass, Pass, Silent], 0),
                row("2026-12-02", "p", &[Loud], 2),
                row("2026-12-02", "q", &[Structural], 0),
            ])
            .await
            .unwrap();
            // The same day again adds to it.
            s.add_live_checks(&[row("2026-12-02", "p", &[Pass, Silent], 1)])
                .await
                .unwrap();
            // Before the window: not summed.
            s.add_live_checks(&[row("2026-11-01", "p", &[Silent; 5], 0)])
                .await
                .unwrap();
            let sums = s
                .live_check_sums("2026-11-30", "2026-12-07", None)
                .await
                .unwrap();
            assert_eq!(sums.len(), 2);
            let p = &sums[0];
            assert_eq!(
                (
                    p.persona.as_str(),
                    p.pass,
                    p.structural,
                    p.silent,
                    p.loud,
                    p.skipped
                ),
                ("p", 3, 0, 2, 1, 3)
            );
            assert_eq!((p.checked(), p.failed()), (6, 3));
            assert_eq!(p.day, "2026-12-02");
            assert_eq!((sums[1].persona.as_str(), sums[1].structural), ("q", 1));
            let only_q = s
                .live_check_sums("2026-11-01", "2026-12-07", Some("q"))
                .await
                .unwrap();
            assert_eq!(only_q.len(), 1);
            let all = s
                .live_check_sums("2026-11-01", "2026-12-07", Some("p"))
                .await
                .unwrap();
            assert_eq!(all[0].silent, 7);
        }
    }
}
