//! Reads of the gateway usage rollup `usage_daily` (migration `20261207000030`): spend
//! and volume per UTC day, persona, tier, tool and workflow, kept current by a trigger as
//! usage rows arrive. A window starting mid-day reads that first day's rows from
//! `gateway_usage` (by its `created_at` index) and whole days from the rollup, so a
//! summary over a million rows reads a few thousand.

use chrono::{DateTime, Duration, Utc};

use crate::dashboard::{UsageDay, UsageSeries};
use crate::usage::{ts, UsageGroup, UsageSummaryRow};
use crate::{Result, Store};

/// The rollup's rows from `since` on, as one relation `u` (day, persona, tier, tool_id,
/// workflow, requests, errors, rate_limited, input_tokens, output_tokens, cost_usd,
/// latency_ms_sum): whole days after `since`'s day from the rollup, and `since`'s own
/// day from the rows at or after `since`. Binds `$1` (since), `$2` (its day), `$3` (the
/// next day).
const WINDOW: &str = "WITH u AS (
    SELECT day, persona, tier, tool_id, workflow, requests, errors, rate_limited,
           input_tokens, output_tokens, cost_usd, latency_ms_sum
    FROM usage_daily WHERE day > $2
    UNION ALL
    SELECT substr(created_at, 1, 10), COALESCE(persona, ''), COALESCE(tier, ''), tool_id,
           workflow, 1, CASE WHEN status >= 400 THEN 1 ELSE 0 END,
           CASE WHEN status = 429 THEN 1 ELSE 0 END, input_tokens, output_tokens, cost_usd,
           latency_ms
    FROM gateway_usage WHERE created_at >= $1 AND created_at < $3
)";

/// `$1`..`$3` of [`WINDOW`]: with no `since`, every day of the rollup and no raw row.
fn window_binds(since: Option<DateTime<Utc>>) -> (String, String, String) {
    match since {
        Some(t) => (
            ts(t),
            t.format("%Y-%m-%d").to_string(),
            (t + Duration::days(1)).format("%Y-%m-%d").to_string(),
        ),
        None => (String::new(), String::new(), String::new()),
    }
}

/// A key column of `u`, a missing persona or tier read as `(no key)`.
fn keyed(column: &str) -> String {
    format!("CASE WHEN {column} = '' THEN '(no key)' ELSE {column} END")
}

pub(crate) fn group_column(by: UsageGroup) -> String {
    match by {
        UsageGroup::Persona => keyed("persona"),
        UsageGroup::Tier => keyed("tier"),
        UsageGroup::Tool => "tool_id".into(),
        UsageGroup::Workflow => "workflow".into(),
    }
}

fn series_column(by: UsageSeries) -> String {
    match by {
        UsageSeries::Persona => keyed("persona"),
        UsageSeries::Tier => keyed("tier"),
        UsageSeries::Tool => "tool_id".into(),
        UsageSeries::Workflow => "workflow".into(),
    }
}

impl Store {
    /// Spend and volume since `since`, grouped, the most expensive group first (the
    /// body of [`Store::usage_summary`]).
    pub(crate) async fn usage_summary_daily(
        &self,
        since: Option<DateTime<Utc>>,
        by: UsageGroup,
    ) -> Result<Vec<UsageSummaryRow>> {
        let (a, b, c) = window_binds(since);
        with_pool!(self, |pool| {
            // The grouping column comes from a closed enum, never from input.
            let sql = format!(
                "{WINDOW}
                 SELECT {col} AS group_key, CAST(SUM(requests) AS BIGINT) AS requests,
                        CAST(SUM(errors) AS BIGINT) AS errors,
                        CAST(SUM(input_tokens) AS BIGINT) AS input_tokens,
                        CAST(SUM(output_tokens) AS BIGINT) AS output_tokens,
                        CAST(SUM(cost_usd) AS DOUBLE PRECISION) AS cost_usd,
                        CAST(SUM(latency_ms_sum) AS DOUBLE PRECISION)
                            / CAST(SUM(requests) AS DOUBLE PRECISION) AS mean_latency_ms
                 FROM u GROUP BY {col} HAVING SUM(requests) > 0
                 ORDER BY cost_usd DESC, group_key",
                col = group_column(by)
            );
            Ok(sqlx::query_as::<_, UsageSummaryRow>(&sql)
                .bind(&a)
                .bind(&b)
                .bind(&c)
                .fetch_all(pool)
                .await?)
        })
    }

    /// Gateway usage per UTC day and group since `since`, oldest day first.
    pub async fn usage_days(
        &self,
        since: Option<DateTime<Utc>>,
        by: UsageSeries,
    ) -> Result<Vec<UsageDay>> {
        let (a, b, c) = window_binds(since);
        with_pool!(self, |pool| {
            // The grouping column comes from a closed enum, never from input.
            let sql = format!(
                "{WINDOW}
                 SELECT day, {col} AS group_key, CAST(SUM(requests) AS BIGINT) AS requests,
                        CAST(SUM(errors) AS BIGINT) AS errors,
                        CAST(SUM(rate_limited) AS BIGINT) AS rate_limited,
                        CAST(SUM(cost_usd) AS DOUBLE PRECISION) AS cost_usd,
                        CAST(SUM(input_tokens) AS BIGINT) AS input_tokens,
                        CAST(SUM(output_tokens) AS BIGINT) AS output_tokens
                 FROM u GROUP BY day, {col} HAVING SUM(requests) > 0
                 ORDER BY day, group_key",
                col = series_column(by)
            );
            Ok(sqlx::query_as::<_, UsageDay>(&sql)
                .bind(&a)
                .bind(&b)
                .bind(&c)
                .fetch_all(pool)
                .await?)
        })
    }
}

#[cfg(test)]
mod tests;
