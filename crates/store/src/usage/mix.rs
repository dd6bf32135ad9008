//! The observed work mix: gateway requests per persona × workflow in a window, with their
//! tokens, the counts `proximity mix` and `--weights observed` rest on.

use chrono::{DateTime, Utc};

use super::ts;
use crate::{Result, Store};

/// The answered requests (status 2xx) of one persona × workflow tag in a window.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MixCount {
    pub persona: String,
    /// As recorded: the `x-proximity-workflow` header, or `unknown` without it.
    pub workflow: String,
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

impl Store {
    /// Answered requests (status 2xx) that came with a key, per persona × workflow, made
    /// at or after `since` and before `until`; only `persona`'s when given. Refused and
    /// failed requests are left out: clients retry them, so they would count twice.
    pub async fn usage_mix(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        persona: Option<&str>,
    ) -> Result<Vec<MixCount>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query_as::<_, MixCount>(
                "SELECT persona, workflow, COUNT(*) AS requests,
                        CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS input_tokens,
                        CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS output_tokens
                 FROM gateway_usage
                 WHERE created_at >= $1 AND created_at < $2
                   AND persona IS NOT NULL AND status >= 200 AND status < 300
                   AND ($3 IS NULL OR persona = $3)
                 GROUP BY persona, workflow
                 ORDER BY persona, workflow",
            )
            .bind(ts(since))
            .bind(ts(until))
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

    use chrono::{Duration, Utc};

    use crate::testing::{on, stores, usage_record};

    #[tokio::test]
    async fn the_mix_counts_answered_requests_per_persona_and_workflow_in_the_window() {
        for s in stores().await {
            on(&s);
            let now = Utc::now();
            let mut rows = Vec::new();
            for (i, (persona, workflow, status, ago)) in [
                ("p", "triage", 200, 1),
                ("p", "triage", 200, 2),
                ("p", "unknown", 200, 3),
                ("q", "triage", 200, 4),
                // Refused, before the window, without a key: not counted.
                ("p", "triage", 429, 5),
                ("p", "triage", 200, 24 * 40),
                ("", "triage", 200, 6),
            ]
            .into_iter()
            .enumerate()
            {
                let mut u = usage_record(&format!("u{i}"), 0.01, now - Duration::hours(ago));
                u.persona = (!persona.is_empty()).then(|| persona.to_owned());
                u.workflow = workflow.into();
                u.status = status;
                u.input_tokens = 100 + i as u64;
                rows.push(u);
            }
            for u in &rows {
                s.settle(u, None).await.unwrap();
            }
            let since = now - Duration::days(30);
            let mix = s.usage_mix(since, now, None).await.unwrap();
            let got: Vec<(&str, &str, i64, i64)> = mix
                .iter()
                .map(|m| {
                    (
                        m.persona.as_str(),
                        m.workflow.as_str(),
                        m.requests,
                        m.input_tokens,
                    )
                })
                .collect();
            assert_eq!(
                got,
                vec![
                    ("p", "triage", 2, 201),
                    ("p", "unknown", 1, 102),
                    ("q", "triage", 1, 103)
                ]
            );
            let only_q = s.usage_mix(since, now, Some("q")).await.unwrap();
            assert_eq!(only_q.len(), 1);
            assert_eq!(only_q[0].output_tokens, 5);
        }
    }
}
