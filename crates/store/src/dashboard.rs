//! Read-only queries behind the dashboard and the HTML report (`proximity-web`) and the
//! scorecard `proximity eval` and `proximity report` print: the aggregates a page or a
//! scorecard needs, computed with `GROUP BY` in the database so neither loads a run's
//! every result, plus one page of results at a time, the top silent failures and the
//! samples' answers streamed case by case.

use futures::TryStreamExt as _;

use crate::runs::{Degeneracy, DegenerateCounts, ResultRecord, Verdict};
use crate::{run_rows, Result, Store, StoreError};

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
    /// Results served from the response cache.
    pub cached: i64,
}

/// What a (persona, tool) pair's scorecard row needs beside its [`ScoreCell`]s: the sums
/// behind its confidence signals and its latency percentiles.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairSignals {
    pub persona: String,
    pub tool_id: String,
    pub results: u64,
    /// Results without a provider error.
    pub answered: u64,
    /// Results whose output matched the hedge lexicon.
    pub hedged: u64,
    /// Results with the hedge recorded.
    pub hedge_recorded: u64,
    /// Σ mean token log-probability of the passes that have one, and how many have.
    pub logprob_pass_sum: f64,
    pub logprob_pass_n: u64,
    /// The same over silent failures.
    pub logprob_silent_sum: f64,
    pub logprob_silent_n: u64,
    /// Nearest-rank 50th and 95th percentile latency in milliseconds over the answered
    /// results, or over all results when none was answered.
    pub latency_p50: u64,
    pub latency_p95: u64,
    /// Loud results by degenerate reason.
    pub degenerate: DegenerateCounts,
}

#[derive(sqlx::FromRow)]
struct PairSignalRow {
    persona: String,
    tool_id: String,
    results: i64,
    answered: i64,
    hedged: i64,
    hedge_recorded: i64,
    logprob_pass_sum: Option<f64>,
    logprob_pass_n: i64,
    logprob_silent_sum: Option<f64>,
    logprob_silent_n: i64,
    degenerate_repetition_loop: i64,
    degenerate_cut_off: i64,
    degenerate_echo: i64,
    degenerate_error_object: i64,
}

/// One sample's answer, for self-consistency across a case's samples.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerRow {
    pub persona: String,
    pub tool_id: String,
    pub case_id: String,
    pub verdict: Verdict,
    /// The output; `None` when the provider errored. Untrusted.
    pub output: Option<String>,
}

/// Where a silent result comes in the report's list of silent failures.
#[derive(Debug, Clone, PartialEq)]
struct SilentKey {
    edge: bool,
    case_weight: f64,
    case_id: String,
    tool_id: String,
    sample: i64,
}

impl SilentKey {
    /// `proximity_analysis::scorecard`'s failure order among silent results: edge cases
    /// first, heavier case weight first, then case, tool and sample.
    fn order(&self, other: &Self) -> std::cmp::Ordering {
        other
            .edge
            .cmp(&self.edge)
            .then_with(|| other.case_weight.total_cmp(&self.case_weight))
            .then_with(|| self.case_id.cmp(&other.case_id))
            .then_with(|| self.tool_id.cmp(&other.tool_id))
            .then_with(|| self.sample.cmp(&other.sample))
    }
}

/// The 0-based position of the nearest-rank `q`-th percentile among `n` sorted values,
/// as `proximity_analysis::stats::percentile_u64` picks it; `None` when `n` is 0.
/// The `LIKE` pattern of reasons naming `d` (`_` in a prefix matches itself too).
fn like(d: Degeneracy) -> String {
    format!("{}%", d.reason_prefix())
}

fn nearest_rank(n: u64, q: f64) -> Option<u64> {
    if n == 0 {
        return None;
    }
    let rank = ((q.clamp(0.0, 100.0) / 100.0) * n as f64).ceil() as u64;
    Some(rank.clamp(1, n) - 1)
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
    /// Requests answered with status 400 or above, and of those 429 (rate limited).
    pub errors: i64,
    pub rate_limited: i64,
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
    Workflow,
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
                             AS spent_usd,
                        SUM(CASE WHEN cached THEN 1 ELSE 0 END) AS cached
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

    /// The confidence sums and latency percentiles of a run's pairs, one per (persona,
    /// tool) with results, ordered by persona and tool.
    pub async fn pair_signals(&self, run_id: &str) -> Result<Vec<PairSignals>> {
        let rows: Vec<PairSignalRow> = with_pool!(self, |pool| {
            sqlx::query_as::<_, PairSignalRow>(
                "SELECT persona, tool_id, COUNT(*) AS results,
                        SUM(CASE WHEN error_class IS NULL THEN 1 ELSE 0 END) AS answered,
                        SUM(CASE WHEN hedged THEN 1 ELSE 0 END) AS hedged,
                        SUM(CASE WHEN hedged IS NULL THEN 0 ELSE 1 END) AS hedge_recorded,
                        CAST(SUM(CASE WHEN verdict = 'pass' THEN mean_logprob END)
                             AS DOUBLE PRECISION) AS logprob_pass_sum,
                        SUM(CASE WHEN verdict = 'pass' AND mean_logprob IS NOT NULL
                                 THEN 1 ELSE 0 END) AS logprob_pass_n,
                        CAST(SUM(CASE WHEN verdict = 'silent' THEN mean_logprob END)
                             AS DOUBLE PRECISION) AS logprob_silent_sum,
                        SUM(CASE WHEN verdict = 'silent' AND mean_logprob IS NOT NULL
                                 THEN 1 ELSE 0 END) AS logprob_silent_n,
                        SUM(CASE WHEN verdict = 'loud' AND reason LIKE $2
                                 THEN 1 ELSE 0 END) AS degenerate_repetition_loop,
                        SUM(CASE WHEN verdict = 'loud' AND reason LIKE $3
                                 THEN 1 ELSE 0 END) AS degenerate_cut_off,
                        SUM(CASE WHEN verdict = 'loud' AND reason LIKE $4
                                 THEN 1 ELSE 0 END) AS degenerate_echo,
                        SUM(CASE WHEN verdict = 'loud' AND reason LIKE $5
                                 THEN 1 ELSE 0 END) AS degenerate_error_object
                 FROM results WHERE run_id = $1
                 GROUP BY persona, tool_id
                 ORDER BY persona, tool_id",
            )
            .bind(run_id)
            .bind(like(Degeneracy::RepetitionLoop))
            .bind(like(Degeneracy::CutOff))
            .bind(like(Degeneracy::Echo))
            .bind(like(Degeneracy::ErrorObject))
            .fetch_all(pool)
            .await?
        });
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let count = |n: i64| n.max(0) as u64;
            let answered = count(r.answered);
            // Latencies of answered results; of all results when none was answered.
            let (n, answered_only) = if answered > 0 {
                (answered, true)
            } else {
                (count(r.results), false)
            };
            let ranks = [50.0, 95.0].map(|q| nearest_rank(n, q));
            let at = self
                .latencies_at(run_id, &r.persona, &r.tool_id, answered_only, ranks)
                .await?;
            out.push(PairSignals {
                results: count(r.results),
                answered,
                hedged: count(r.hedged),
                hedge_recorded: count(r.hedge_recorded),
                logprob_pass_sum: r.logprob_pass_sum.unwrap_or(0.0),
                logprob_pass_n: count(r.logprob_pass_n),
                logprob_silent_sum: r.logprob_silent_sum.unwrap_or(0.0),
                logprob_silent_n: count(r.logprob_silent_n),
                latency_p50: at[0],
                latency_p95: at[1],
                degenerate: DegenerateCounts {
                    repetition_loop: count(r.degenerate_repetition_loop),
                    cut_off: count(r.degenerate_cut_off),
                    echo: count(r.degenerate_echo),
                    error_object: count(r.degenerate_error_object),
                },
                persona: r.persona,
                tool_id: r.tool_id,
            });
        }
        Ok(out)
    }

    /// The latencies of the given 0-based ranks (smallest first) among a pair's results,
    /// or its answered results only; 0 for a rank that is `None` or past the end. One
    /// sort of the pair's latencies, however many ranks.
    async fn latencies_at(
        &self,
        run_id: &str,
        persona: &str,
        tool_id: &str,
        answered_only: bool,
        ranks: [Option<u64>; 2],
    ) -> Result<[u64; 2]> {
        let mut at = [0_u64; 2];
        if ranks.iter().all(Option::is_none) {
            return Ok(at);
        }
        let answered = if answered_only {
            " AND error_class IS NULL"
        } else {
            ""
        };
        let sql = format!(
            "SELECT pos, latency_ms FROM (
                 SELECT latency_ms, ROW_NUMBER() OVER (ORDER BY latency_ms) - 1 AS pos
                 FROM results
                 WHERE run_id = $1 AND persona = $2 AND tool_id = $3{answered}
             ) AS ranked
             WHERE pos = $4 OR pos = $5"
        );
        let bind = |rank: Option<u64>| rank.map_or(-1, |r| i64::try_from(r).unwrap_or(i64::MAX));
        let rows: Vec<(i64, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(run_id)
                .bind(persona)
                .bind(tool_id)
                .bind(bind(ranks[0]))
                .bind(bind(ranks[1]))
                .fetch_all(pool)
                .await?
        });
        for (slot, rank) in at.iter_mut().zip(ranks) {
            let Some(rank) = rank.and_then(|r| i64::try_from(r).ok()) else {
                continue;
            };
            if let Some((_, ms)) = rows.iter().find(|(r, _)| *r == rank) {
                *slot = (*ms).max(0) as u64;
            }
        }
        Ok(at)
    }

    /// The `limit` silent results of a run the report lists, whole, in its order (edge
    /// cases first, heavier case weight first, then case, tool and sample). Reads the keys
    /// of the run's silent results, keeping the best `limit` at any time, then those
    /// results: memory stays small however many results failed silently.
    pub async fn top_silent(&self, run_id: &str, limit: usize) -> Result<Vec<ResultRecord>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut best: Vec<SilentKey> = Vec::with_capacity(2 * limit);
        let keep = |best: &mut Vec<SilentKey>| {
            best.sort_by(SilentKey::order);
            best.truncate(limit);
        };
        with_pool!(self, |pool| {
            let mut rows = sqlx::query_as::<_, (String, f64, String, String, i64)>(
                "SELECT kind, case_weight, case_id, tool_id, sample FROM results
                 WHERE run_id = $1 AND verdict = 'silent'",
            )
            .bind(run_id)
            .fetch(pool);
            while let Some((kind, case_weight, case_id, tool_id, sample)) = rows.try_next().await? {
                best.push(SilentKey {
                    edge: kind == "edge",
                    case_weight,
                    case_id,
                    tool_id,
                    sample,
                });
                if best.len() >= 2 * limit {
                    keep(&mut best);
                }
            }
        });
        keep(&mut best);
        let mut out = Vec::with_capacity(best.len());
        for k in best {
            let sample = u32::try_from(k.sample).unwrap_or(0);
            if let Some(r) = self.result(run_id, &k.case_id, &k.tool_id, sample).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Every result's answer, a case's samples on one tool together (ordered by case, tool,
    /// persona and sample), handed to `each` one at a time. Hands nothing when no case has two
    /// samples without a provider error (a run with one sample): self-consistency needs
    /// two.
    pub async fn answer_rows(&self, run_id: &str, mut each: impl FnMut(AnswerRow)) -> Result<()> {
        with_pool!(self, |pool| {
            // Most runs have one sample: an index-only look at the sample numbers says so
            // without grouping the run.
            let second: Option<(i64,)> = sqlx::query_as(
                "SELECT CAST(1 AS BIGINT) FROM results WHERE run_id = $1 AND sample > 0 LIMIT 1",
            )
            .bind(run_id)
            .fetch_optional(pool)
            .await?;
            if second.is_none() {
                return Ok(());
            }
            let repeated: Option<(i64,)> = sqlx::query_as(
                "SELECT CAST(1 AS BIGINT) FROM results WHERE run_id = $1 AND error_class IS NULL
                 GROUP BY case_id, tool_id, persona HAVING COUNT(*) >= 2 LIMIT 1",
            )
            .bind(run_id)
            .fetch_optional(pool)
            .await?;
            if repeated.is_none() {
                return Ok(());
            }
            let mut rows = sqlx::query_as::<_, (String, String, String, String, Option<String>)>(
                "SELECT persona, tool_id, case_id, verdict,
                        CASE WHEN error_class IS NULL THEN output ELSE NULL END AS output
                 FROM results WHERE run_id = $1
                 ORDER BY case_id, tool_id, persona, sample",
            )
            .bind(run_id)
            .fetch(pool);
            while let Some((persona, tool_id, case_id, verdict, output)) = rows.try_next().await? {
                let verdict = Verdict::parse(&verdict)
                    .ok_or_else(|| StoreError::Corrupt(format!("verdict `{verdict}`")))?;
                each(AnswerRow {
                    persona,
                    tool_id,
                    case_id,
                    verdict,
                    output,
                });
            }
            Ok(())
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
            let row = sqlx::query_as::<_, run_rows::ResultRow>(
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

    /// The distinct (tool, tool fingerprint, model version) of a run's results, sorted
    /// (missing model versions first): the run's tools from `results_cells`, then each
    /// tool's fingerprints from `results_fingerprints`, both index-only, never the rows.
    pub async fn run_fingerprints(
        &self,
        run_id: &str,
    ) -> Result<Vec<(String, String, Option<String>)>> {
        let mut rows: Vec<(String, String, Option<String>)> = with_pool!(self, |pool| {
            let tools: Vec<(String,)> =
                sqlx::query_as("SELECT DISTINCT tool_id FROM results WHERE run_id = $1")
                    .bind(run_id)
                    .fetch_all(pool)
                    .await?;
            let mut rows = Vec::new();
            for (tool,) in tools {
                let seen: Vec<(String, Option<String>)> = sqlx::query_as(
                    "SELECT tool_fingerprint, model_version FROM results
                     WHERE tool_id = $1 AND run_id = $2
                     GROUP BY tool_fingerprint, model_version",
                )
                .bind(&tool)
                .bind(run_id)
                .fetch_all(pool)
                .await?;
                rows.extend(seen.into_iter().map(|(f, v)| (tool.clone(), f, v)));
            }
            Ok::<_, StoreError>(rows)
        })?;
        rows.sort();
        Ok(rows)
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
mod tests;
