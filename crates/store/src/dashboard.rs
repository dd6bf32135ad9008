//! Read-only queries behind the dashboard and the HTML report (`proximity-web`): the
//! aggregates a page needs, computed with `GROUP BY` in the database so a page never
//! loads a run's every result to show a heatmap, plus one page of results at a time.

use chrono::{DateTime, Utc};

use crate::records::{ResultRecord, Verdict};
use crate::{rows, Result, Store};

/// The sums the scorecard's weighted estimates rest on, for one (persona, tool,
/// workflow, kind, demo-or-not) cell of a run.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ScoreCell {
    pub persona: String,
    pub tool_id: String,
    pub workflow: String,
    pub kind: String,
    /// Results of `source: demo` cases.
    pub demo: bool,
    pub n: i64,
    /// Σ case weight.
    pub sum_w: f64,
    /// Σ case weight² (for Kish's effective sample size).
    pub sum_w2: f64,
    /// Σ case weight of passing results.
    pub sum_w_pass: f64,
    pub pass: i64,
    pub loud: i64,
    pub structural: i64,
    pub silent: i64,
    pub cost_usd: f64,
    /// Cost of results not served from the cache.
    pub spent_usd: f64,
}

/// A run and how many results it has by verdict.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RunTally {
    pub run_id: String,
    pub results: i64,
    pub pass: i64,
    pub loud: i64,
    pub structural: i64,
    pub silent: i64,
    pub cost_usd: f64,
}

/// Which results of a run to list; `None` admits any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultFilter {
    pub verdict: Option<Verdict>,
    pub workflow: Option<String>,
    pub kind: Option<String>,
    pub tool: Option<String>,
    pub persona: Option<String>,
}

/// One result as a listing shows it: no assertions, the output cut short.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ResultLine {
    pub case_id: String,
    pub tool_id: String,
    pub sample: i64,
    pub persona: String,
    pub workflow: String,
    pub kind: String,
    pub source: String,
    pub verdict: String,
    pub reason: String,
    /// The first [`LINE_OUTPUT_CHARS`] characters of the output. Untrusted.
    pub output_head: String,
    pub cost_usd: f64,
    pub latency_ms: i64,
}

/// How many characters of an output a [`ResultLine`] keeps.
pub const LINE_OUTPUT_CHARS: i64 = 160;

/// The distinct values a run's results can be filtered by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterValues {
    pub workflows: Vec<String>,
    pub kinds: Vec<String>,
    pub tools: Vec<String>,
    pub personas: Vec<String>,
}

/// A tool fingerprint as seen in one run.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FingerprintSeen {
    pub run_id: String,
    pub started_at: String,
    pub tool_fingerprint: String,
    pub model_version: Option<String>,
    pub results: i64,
    pub pass: i64,
}

/// Gateway usage of one day and group.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UsageDay {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub group_key: String,
    pub requests: i64,
    pub cost_usd: f64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// What a usage series is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageSeries {
    Persona,
    Tier,
    Tool,
}

impl UsageSeries {
    fn column(self) -> &'static str {
        match self {
            Self::Persona => "COALESCE(persona, '(no key)')",
            Self::Tier => "COALESCE(tier, '(no key)')",
            Self::Tool => "tool_id",
        }
    }
}

const VERDICT_SUMS: &str = "SUM(CASE WHEN verdict = 'pass' THEN 1 ELSE 0 END) AS pass,
       SUM(CASE WHEN verdict = 'loud' THEN 1 ELSE 0 END) AS loud,
       SUM(CASE WHEN verdict = 'structural' THEN 1 ELSE 0 END) AS structural,
       SUM(CASE WHEN verdict = 'silent' THEN 1 ELSE 0 END) AS silent";

impl Store {
    /// The scorecard sums of a run, one row per (persona, tool, workflow, kind, demo).
    pub async fn score_cells(&self, run_id: &str) -> Result<Vec<ScoreCell>> {
        with_pool!(self, |pool| {
            let sql = format!(
                "SELECT persona, tool_id, workflow, kind, (source = 'demo') AS demo,
                        COUNT(*) AS n,
                        CAST(SUM(case_weight) AS DOUBLE PRECISION) AS sum_w,
                        CAST(SUM(case_weight * case_weight) AS DOUBLE PRECISION) AS sum_w2,
                        CAST(SUM(CASE WHEN verdict = 'pass' THEN case_weight ELSE 0 END)
                             AS DOUBLE PRECISION) AS sum_w_pass,
                        {VERDICT_SUMS},
                        CAST(SUM(cost_usd) AS DOUBLE PRECISION) AS cost_usd,
                        CAST(SUM(CASE WHEN cached THEN 0 ELSE cost_usd END) AS DOUBLE PRECISION)
                             AS spent_usd
                 FROM results WHERE run_id = $1
                 GROUP BY persona, tool_id, workflow, kind, (source = 'demo')
                 ORDER BY persona, tool_id, workflow, kind, demo"
            );
            Ok(sqlx::query_as::<_, ScoreCell>(&sql)
                .bind(run_id)
                .fetch_all(pool)
                .await?)
        })
    }

    /// Every run's result count by verdict (runs without results are absent).
    pub async fn run_tallies(&self) -> Result<Vec<RunTally>> {
        with_pool!(self, |pool| {
            let sql = format!(
                "SELECT run_id, COUNT(*) AS results, {VERDICT_SUMS},
                        CAST(SUM(cost_usd) AS DOUBLE PRECISION) AS cost_usd
                 FROM results GROUP BY run_id"
            );
            Ok(sqlx::query_as::<_, RunTally>(&sql).fetch_all(pool).await?)
        })
    }

    /// How many results of a run `filter` admits.
    pub async fn count_results(&self, run_id: &str, filter: &ResultFilter) -> Result<u64> {
        Ok(self
            .verdict_counts(run_id, filter)
            .await?
            .iter()
            .map(|(_, n)| n)
            .sum())
    }

    /// How many results of a run `filter` admits, by verdict (verdicts without results
    /// are absent).
    pub async fn verdict_counts(
        &self,
        run_id: &str,
        filter: &ResultFilter,
    ) -> Result<Vec<(Verdict, u64)>> {
        with_pool!(self, |pool| {
            let (clause, binds) = filter_clause(filter, 2);
            let sql = format!(
                "SELECT verdict, COUNT(*) FROM results WHERE run_id = $1{clause} GROUP BY verdict"
            );
            let mut q = sqlx::query_as::<_, (String, i64)>(&sql).bind(run_id);
            for b in binds {
                q = q.bind(b);
            }
            let rows = q.fetch_all(pool).await?;
            Ok(rows
                .into_iter()
                .filter_map(|(v, n)| Some((Verdict::parse(&v)?, n.max(0) as u64)))
                .collect())
        })
    }

    /// One page of a run's results that `filter` admits: failures first (silent,
    /// structural, loud, then passes), then persona, case, tool and sample. Each
    /// verdict's slice walks the `results_listing` index: no sort of the whole run.
    pub async fn result_lines(
        &self,
        run_id: &str,
        filter: &ResultFilter,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<ResultLine>> {
        with_pool!(self, |pool| {
            let counts = self.verdict_counts(run_id, filter).await?;
            let mut skip = offset;
            let mut need = u64::from(limit);
            let mut out = Vec::new();
            for verdict in [
                Verdict::Silent,
                Verdict::Structural,
                Verdict::Loud,
                Verdict::Pass,
            ] {
                if need == 0 {
                    break;
                }
                let n = counts
                    .iter()
                    .find(|(v, _)| *v == verdict)
                    .map_or(0, |(_, n)| *n);
                if skip >= n {
                    skip -= n;
                    continue;
                }
                let one = ResultFilter {
                    verdict: Some(verdict),
                    ..filter.clone()
                };
                let (clause, binds) = filter_clause(&one, 2);
                let (limit_at, offset_at) = (binds.len() + 2, binds.len() + 3);
                let sql = format!(
                    "SELECT case_id, tool_id, sample, persona, workflow, kind, source, verdict, reason,
                            substr(output, 1, {LINE_OUTPUT_CHARS}) AS output_head, cost_usd, latency_ms
                     FROM results WHERE run_id = $1{clause}
                     ORDER BY persona, case_id, tool_id, sample
                     LIMIT ${limit_at} OFFSET ${offset_at}"
                );
                let mut q = sqlx::query_as::<_, ResultLine>(&sql).bind(run_id);
                for b in binds {
                    q = q.bind(b);
                }
                let lines = q
                    .bind(i64::try_from(need).unwrap_or(i64::MAX))
                    .bind(i64::try_from(skip).unwrap_or(i64::MAX))
                    .fetch_all(pool)
                    .await?;
                need = need.saturating_sub(lines.len() as u64);
                skip = 0;
                out.extend(lines);
            }
            Ok(out)
        })
    }

    /// The distinct workflows, kinds, tools and personas of a run's results.
    pub async fn filter_values(&self, run_id: &str) -> Result<FilterValues> {
        with_pool!(self, |pool| {
            let rows: Vec<(String, String, String, String)> = sqlx::query_as(
                "SELECT DISTINCT workflow, kind, tool_id, persona FROM results WHERE run_id = $1",
            )
            .bind(run_id)
            .fetch_all(pool)
            .await?;
            let mut v = FilterValues::default();
            for (w, k, t, p) in rows {
                v.workflows.push(w);
                v.kinds.push(k);
                v.tools.push(t);
                v.personas.push(p);
            }
            for list in [
                &mut v.workflows,
                &mut v.kinds,
                &mut v.tools,
                &mut v.personas,
            ] {
                list.sort();
                list.dedup();
            }
            Ok(v)
        })
    }

    /// One result, whole.
    pub async fn result(
        &self,
        run_id: &str,
        case_id: &str,
        tool_id: &str,
        sample: u32,
    ) -> Result<Option<ResultRecord>> {
        with_pool!(self, |pool| {
            let row = sqlx::query_as::<_, rows::ResultRow>(
                "SELECT * FROM results WHERE run_id = $1 AND case_id = $2 AND tool_id = $3 AND sample = $4",
            )
            .bind(run_id)
            .bind(case_id)
            .bind(tool_id)
            .bind(i64::from(sample))
            .fetch_optional(pool)
            .await?;
            row.map(TryInto::try_into).transpose()
        })
    }

    /// The fingerprints a tool had, run by run, oldest run first.
    pub async fn fingerprint_history(&self, tool_id: &str) -> Result<Vec<FingerprintSeen>> {
        with_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, FingerprintSeen>(
                "SELECT r.run_id AS run_id, runs.started_at AS started_at,
                        r.tool_fingerprint AS tool_fingerprint, MAX(r.model_version) AS model_version,
                        COUNT(*) AS results,
                        SUM(CASE WHEN r.verdict = 'pass' THEN 1 ELSE 0 END) AS pass
                 FROM results r JOIN runs ON runs.id = r.run_id
                 WHERE r.tool_id = $1
                 GROUP BY r.run_id, runs.started_at, r.tool_fingerprint
                 ORDER BY runs.started_at, r.run_id, r.tool_fingerprint",
            )
            .bind(tool_id)
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
        with_pool!(self, |pool| {
            // The grouping column comes from a closed enum, never from input.
            let sql = format!(
                "SELECT substr(created_at, 1, 10) AS day, {col} AS group_key,
                        COUNT(*) AS requests,
                        CAST(SUM(cost_usd) AS DOUBLE PRECISION) AS cost_usd,
                        CAST(SUM(input_tokens) AS BIGINT) AS input_tokens,
                        CAST(SUM(output_tokens) AS BIGINT) AS output_tokens
                 FROM gateway_usage WHERE created_at >= $1
                 GROUP BY substr(created_at, 1, 10), {col}
                 ORDER BY day, group_key",
                col = by.column()
            );
            Ok(sqlx::query_as::<_, UsageDay>(&sql)
                .bind(since.map(crate::usage::ts).unwrap_or_default())
                .fetch_all(pool)
                .await?)
        })
    }
}

/// The `AND …` clause of a filter and its bound values (never spliced into the SQL), its
/// placeholders numbered from `$first`.
fn filter_clause(filter: &ResultFilter, first: usize) -> (String, Vec<String>) {
    let mut clause = String::new();
    let mut binds = Vec::new();
    let mut add = |column: &str, value: Option<&str>| {
        if let Some(v) = value {
            clause.push_str(&format!(" AND {column} = ${}", first + binds.len()));
            binds.push(v.to_owned());
        }
    };
    add("verdict", filter.verdict.map(Verdict::as_str));
    add("workflow", filter.workflow.as_deref());
    add("kind", filter.kind.as_deref());
    add("tool_id", filter.tool.as_deref());
    add("persona", filter.persona.as_deref());
    (clause, binds)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::records::{AssertionOutcome, RunRecord, RunStatus};

    fn run(id: &str, at: &str) -> RunRecord {
        RunRecord {
            id: id.into(),
            program: "acme".into(),
            started_at: DateTime::parse_from_rfc3339(at)
                .unwrap()
                .with_timezone(&Utc),
            finished_at: None,
            status: RunStatus::Finished,
            config: serde_json::json!({}),
            planned: 4,
        }
    }

    fn result(run_id: &str, case: &str, sample: u32, verdict: Verdict, w: f64) -> ResultRecord {
        ResultRecord {
            run_id: run_id.into(),
            case_id: case.into(),
            tool_id: "t".into(),
            sample,
            persona: "p".into(),
            workflow: if case.starts_with('a') { "wa" } else { "wb" }.into(),
            kind: "routine".into(),
            source: if case == "demo" { "demo" } else { "field" }.into(),
            case_weight: w,
            tool_fingerprint: format!("fp-{run_id}"),
            model_version: Some("m".into()),
            output: "x".repeat(500),
            error_class: None,
            error_message: None,
            input_tokens: 1,
            output_tokens: 1,
            cost_usd: 0.25,
            latency_ms: 5,
            attempts: 1,
            cached: sample == 1,
            verdict,
            reason: "r".into(),
            assertions: vec![AssertionOutcome {
                group: "correct".into(),
                assertion: "contains \"y\"".into(),
                passed: verdict == Verdict::Pass,
                detail: String::new(),
                judge_raw: None,
            }],
            mean_logprob: None,
            hedged: None,
            created_at: Utc::now(),
        }
    }

    async fn seeded() -> Vec<crate::testing::TestStore> {
        let mut out = Vec::new();
        for store in crate::testing::stores().await {
            store
                .create_run(&run("r1", "2026-01-01T00:00:00Z"))
                .await
                .unwrap();
            store
                .create_run(&run("r2", "2026-02-01T00:00:00Z"))
                .await
                .unwrap();
            for r in [
                result("r1", "a1", 0, Verdict::Pass, 2.0),
                result("r1", "a1", 1, Verdict::Silent, 2.0),
                result("r1", "b1", 0, Verdict::Loud, 1.0),
                result("r1", "demo", 0, Verdict::Pass, 1.0),
                result("r2", "a1", 0, Verdict::Pass, 1.0),
            ] {
                store.insert_result(&r).await.unwrap();
            }
            out.push(store);
        }
        out
    }

    #[tokio::test]
    async fn score_cells_sum_weights_by_cell() {
        for store in seeded().await {
            crate::testing::on(&store);
            let cells = store.score_cells("r1").await.unwrap();
            assert_eq!(cells.len(), 3, "{cells:?}");
            let wa = cells.iter().find(|c| c.workflow == "wa").unwrap();
            assert_eq!((wa.n, wa.pass, wa.silent), (2, 1, 1));
            assert_eq!((wa.sum_w, wa.sum_w2, wa.sum_w_pass), (4.0, 8.0, 2.0));
            assert_eq!((wa.cost_usd, wa.spent_usd), (0.5, 0.25));
            assert!(cells.iter().any(|c| c.demo && c.pass == 1));
        }
    }

    #[tokio::test]
    async fn result_lines_filter_order_and_cut_output() {
        for store in seeded().await {
            crate::testing::on(&store);
            let all = ResultFilter::default();
            assert_eq!(store.count_results("r1", &all).await.unwrap(), 4);
            let lines = store.result_lines("r1", &all, 10, 0).await.unwrap();
            assert_eq!(lines[0].verdict, "silent", "failures first");
            assert_eq!(
                lines[0].output_head.chars().count() as i64,
                LINE_OUTPUT_CHARS
            );
            let loud = ResultFilter {
                verdict: Some(Verdict::Loud),
                ..ResultFilter::default()
            };
            assert_eq!(store.count_results("r1", &loud).await.unwrap(), 1);
            let wb = ResultFilter {
                workflow: Some("wb' OR 1=1 --".into()),
                ..ResultFilter::default()
            };
            assert_eq!(store.count_results("r1", &wb).await.unwrap(), 0);
            let page = store.result_lines("r1", &all, 2, 2).await.unwrap();
            assert_eq!(page.len(), 2);
            let values = store.filter_values("r1").await.unwrap();
            assert_eq!(values.workflows, vec!["wa", "wb"]);
            let one = store.result("r1", "b1", "t", 0).await.unwrap().unwrap();
            assert_eq!(one.verdict, Verdict::Loud);
            assert!(store.result("r1", "b1", "t", 9).await.unwrap().is_none());
        }
    }

    #[tokio::test]
    async fn fingerprints_and_tallies_per_run() {
        for store in seeded().await {
            crate::testing::on(&store);
            let history = store.fingerprint_history("t").await.unwrap();
            let fps: Vec<&str> = history
                .iter()
                .map(|h| h.tool_fingerprint.as_str())
                .collect();
            assert_eq!(fps, vec!["fp-r1", "fp-r2"]);
            let tallies = store.run_tallies().await.unwrap();
            let r1 = tallies.iter().find(|t| t.run_id == "r1").unwrap();
            assert_eq!((r1.results, r1.pass, r1.loud, r1.silent), (4, 2, 1, 1));
            assert!(store
                .usage_days(None, UsageSeries::Persona)
                .await
                .unwrap()
                .is_empty());
        }
    }
}
