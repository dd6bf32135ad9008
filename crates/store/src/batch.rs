//! Group commit of the eval runner's writes: results and response-cache rows.
//!
//! Each [`Store`](crate::Store) has one writer task for them (started on first use). It
//! takes whatever has queued up and writes it with one multi-row
//! `INSERT … ON CONFLICT DO NOTHING` per table (for results, the count of rows inserted, or
//! on a conflict which ones, tells each caller whether its row was the one inserted), and
//! answers every caller only after its
//! statement has committed. A single statement is its own transaction, so what a returned
//! call means does not change: the row is committed (a run killed afterwards keeps it).
//! Under concurrency many round trips — on SQLite, hand-offs to the connection's worker
//! thread and back, which dominated an eval run's profile — become a few.
//!
//! When a batch statement fails (one row breaks a constraint, or PostgreSQL picks it as a
//! deadlock victim against another process's batch), its rows are written one by one, so
//! every caller gets its own outcome.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use tokio::sync::{mpsc, oneshot};

use crate::writer_conn::{Closing, WriterConn};
use crate::{Pool, Result, ResultRecord, StoreError};

/// The most rows written by one statement (27 parameters a result: far below SQLite's
/// 32,766 and PostgreSQL's 65,535 parameters per statement).
pub const MAX_BATCH: usize = 256;

/// Whether to keep the prepared statement of a multi-row `INSERT` of `rows` rows in the
/// connection's statement cache. Every batch size is a statement of its own, and sqlx
/// keeps 100 per connection: cached, the large ones (hundreds of rows, thousands of
/// parameters) held tens of megabytes for statements rarely run twice.
pub(crate) fn keep_prepared(rows: usize) -> bool {
    rows <= 8
}

/// One row to write.
pub(crate) enum Row {
    Result(Box<ResultRecord>),
    Cache {
        key: String,
        tool_fingerprint: String,
        response: String,
        created_at: DateTime<Utc>,
    },
}

struct Job {
    row: Row,
    /// Whether this row was inserted (`false`: one with its key was there already).
    reply: oneshot::Sender<Result<bool>>,
}

/// The queue of a store's writer task.
#[derive(Clone, Default)]
pub(crate) struct Writer(Arc<OnceLock<mpsc::Sender<Job>>>);

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("batch::Writer")
    }
}

fn stopped() -> StoreError {
    StoreError::Write("the result writer stopped".to_owned())
}

impl Writer {
    /// Write `row` in the next batch; `Ok(true)` when this call inserted it, once committed.
    pub(crate) async fn write(&self, pool: &Pool, closing: &Closing, row: Row) -> Result<bool> {
        let sender = self
            .0
            .get_or_init(|| {
                let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
                tokio::spawn(write_loop(pool.clone(), closing.clone(), rx));
                tx
            })
            .clone();
        let (reply, answer) = oneshot::channel();
        sender
            .send(Job { row, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Where a batch is written: on SQLite, the writer's connection (see
/// [`crate::writer_conn`]); on PostgreSQL, the pool.
enum Target<'a> {
    Sqlite(&'a mut sqlx::SqliteConnection),
    Postgres(&'a sqlx::PgPool),
}

/// Runs `$body` with `$conn` as the target's executor (each backend's code compiled once).
macro_rules! on_target {
    ($target:expr, |$conn:ident| $body:expr) => {
        match $target {
            Target::Sqlite(c) => {
                let $conn = &mut **c;
                $body
            }
            Target::Postgres(p) => {
                let $conn = *p;
                $body
            }
        }
    };
}

async fn write_loop(pool: Pool, closing: Closing, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut writer = WriterConn::new(closing);
    loop {
        let n = writer.wait(rx.recv_many(&mut batch, MAX_BATCH)).await;
        if n == 0 {
            break;
        }
        let (results, caches): (Vec<Job>, Vec<Job>) = std::mem::take(&mut batch)
            .into_iter()
            .partition(|j| matches!(j.row, Row::Result(_)));
        match &pool {
            Pool::Sqlite(p) => match writer.take(p).await {
                Ok(mut conn) => {
                    let ok = write_all(&mut Target::Sqlite(&mut conn), caches, results).await;
                    writer.give_back(conn, ok);
                }
                Err(e) => {
                    for job in results.into_iter().chain(caches) {
                        let _ = job.reply.send(Err(StoreError::Write(e.to_string())));
                    }
                }
            },
            Pool::Postgres(p) => {
                write_all(&mut Target::Postgres(p), caches, results).await;
            }
        }
    }
}

/// Write a batch's cache rows, then its results; false when a statement failed.
async fn write_all(target: &mut Target<'_>, caches: Vec<Job>, results: Vec<Job>) -> bool {
    let mut ok = true;
    if !caches.is_empty() {
        ok &= write_jobs(target, caches).await;
    }
    if !results.is_empty() {
        ok &= write_jobs(target, results).await;
    }
    ok
}

/// Write `jobs` (all of one table) in one statement and answer them; row by row when the
/// statement fails. False when a statement failed.
async fn write_jobs(target: &mut Target<'_>, jobs: Vec<Job>) -> bool {
    let rows: Vec<&Row> = jobs.iter().map(|j| &j.row).collect();
    match insert(target, &rows).await {
        Ok(inserted) => {
            for (job, ok) in jobs.into_iter().zip(inserted) {
                let _ = job.reply.send(Ok(ok));
            }
            true
        }
        Err(e) if jobs.len() > 1 => {
            tracing::debug!(error = %e, rows = jobs.len(), "batch insert failed; writing row by row");
            for job in jobs {
                let outcome = insert(target, &[&job.row]).await.map(|v| v[0]);
                let _ = job.reply.send(outcome);
            }
            false
        }
        Err(e) => {
            for job in jobs {
                let _ = job.reply.send(Err(StoreError::Write(e.to_string())));
            }
            false
        }
    }
}

type ResultKey<'a> = (&'a str, &'a str, &'a str, i64);

/// Insert `rows` (all results or all cache rows) in one statement; for each, whether it
/// was inserted. Of two rows with the same key, the first is.
async fn insert(target: &mut Target<'_>, rows: &[&Row]) -> Result<Vec<bool>> {
    let results: Vec<&ResultRecord> = rows
        .iter()
        .filter_map(|r| match r {
            Row::Result(r) => Some(r.as_ref()),
            Row::Cache { .. } => None,
        })
        .collect();
    if results.is_empty() {
        return insert_cache(target, rows).await;
    }
    let assertions: Vec<String> = results
        .iter()
        .map(|r| serde_json::to_string(&r.assertions))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let created: Vec<String> = results.iter().map(|r| r.created_at.to_rfc3339()).collect();
    let tool_calls: Vec<Option<String>> = results
        .iter()
        .map(|r| {
            (!r.tool_calls.is_empty())
                .then(|| serde_json::to_string(&r.tool_calls))
                .transpose()
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    // `INSERT INTO results … VALUES (…), (…)` of `results`, without its conflict clause.
    macro_rules! insert_results {
        () => {{
            let mut q = QueryBuilder::new(
                "INSERT INTO results (run_id, case_id, tool_id, sample, persona, workflow, kind,
                        source, case_weight, tool_fingerprint, model_version, output, error_class,
                        error_message, input_tokens, output_tokens, cost_usd, latency_ms, attempts,
                        cached, verdict, reason, assertions, mean_logprob, created_at, hedged,
                        tool_calls) ",
            );
            q.push_values(
                results
                    .iter()
                    .zip(assertions.iter().zip(&created))
                    .zip(&tool_calls),
                |mut b, ((r, (assertions, created)), tool_calls)| {
                    b.push_bind(&r.run_id)
                        .push_bind(&r.case_id)
                        .push_bind(&r.tool_id)
                        .push_bind(r.sample as i64)
                        .push_bind(&r.persona)
                        .push_bind(&r.workflow)
                        .push_bind(&r.kind)
                        .push_bind(&r.source)
                        .push_bind(r.case_weight)
                        .push_bind(&r.tool_fingerprint)
                        .push_bind(&r.model_version)
                        .push_bind(&r.output)
                        .push_bind(&r.error_class)
                        .push_bind(&r.error_message)
                        .push_bind(r.input_tokens as i64)
                        .push_bind(r.output_tokens as i64)
                        .push_bind(r.cost_usd)
                        .push_bind(r.latency_ms as i64)
                        .push_bind(r.attempts as i64)
                        .push_bind(r.cached)
                        .push_bind(r.verdict.as_str())
                        .push_bind(&r.reason)
                        .push_bind(assertions)
                        .push_bind(r.mean_logprob)
                        .push_bind(created)
                        .push_bind(r.hedged)
                        .push_bind(tool_calls);
                },
            );
            q.push(" ON CONFLICT (run_id, case_id, tool_id, sample) DO NOTHING");
            q
        }};
    }
    let returned: Vec<(String, String, String, i64)> = match target {
        // Without `RETURNING`: sqlx hands each returned row back from its SQLite thread on
        // its own, which cost more than the insert. When every row went in, the count
        // says so; when some were there already, the rows this statement inserted are
        // the last `changes` rowids (one statement's rows get consecutive rowids, and
        // SQLite has one writer at a time).
        Target::Sqlite(conn) => {
            let done = insert_results!()
                .build()
                .persistent(keep_prepared(results.len()))
                .execute(&mut **conn)
                .await?;
            let changes = done.rows_affected() as usize;
            if changes == results.len() || changes == 0 {
                return Ok(vec![changes > 0; results.len()]);
            }
            let last = done.last_insert_rowid();
            sqlx::query_as(
                "SELECT run_id, case_id, tool_id, sample FROM results
                 WHERE rowid > $1 AND rowid <= $2",
            )
            .bind(last - changes as i64)
            .bind(last)
            .fetch_all(&mut **conn)
            .await?
        }
        Target::Postgres(pool) => {
            let mut q = insert_results!();
            q.push(" RETURNING run_id, case_id, tool_id, sample");
            q.build_query_as()
                .persistent(keep_prepared(results.len()))
                .fetch_all(*pool)
                .await?
        }
    };
    let mut inserted: HashSet<ResultKey<'_>> = returned
        .iter()
        .map(|(run, case, tool, sample)| (run.as_str(), case.as_str(), tool.as_str(), *sample))
        .collect();
    Ok(results
        .iter()
        .map(|r| {
            inserted.remove(&(
                r.run_id.as_str(),
                r.case_id.as_str(),
                r.tool_id.as_str(),
                r.sample as i64,
            ))
        })
        .collect())
}

/// Insert response-cache rows in one statement (a key already cached keeps its answer).
async fn insert_cache(target: &mut Target<'_>, rows: &[&Row]) -> Result<Vec<bool>> {
    let created: Vec<String> = rows
        .iter()
        .map(|r| match r {
            Row::Cache { created_at, .. } => created_at.to_rfc3339(),
            Row::Result(_) => String::new(),
        })
        .collect();
    on_target!(target, |conn| {
        let mut q = QueryBuilder::new(
            "INSERT INTO response_cache (key, tool_fingerprint, response, created_at) ",
        );
        q.push_values(rows.iter().zip(&created), |mut b, (row, created)| {
            if let Row::Cache {
                key,
                tool_fingerprint,
                response,
                ..
            } = row
            {
                b.push_bind(key)
                    .push_bind(tool_fingerprint)
                    .push_bind(response)
                    .push_bind(created);
            }
        });
        q.push(" ON CONFLICT (key) DO NOTHING");
        q.build()
            .persistent(keep_prepared(rows.len()))
            .execute(conn)
            .await?;
    });
    Ok(vec![true; rows.len()])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::{AssertionOutcome, RunRecord, RunStatus, Verdict};

    use super::*;

    fn result(run_id: &str, case: usize) -> ResultRecord {
        ResultRecord {
            tool_calls: Vec::new(),
            run_id: run_id.into(),
            case_id: format!("c{case}"),
            tool_id: "t".into(),
            sample: 0,
            persona: "p".into(),
            workflow: "w".into(),
            kind: "routine".into(),
            source: "real".into(),
            case_weight: 1.0,
            tool_fingerprint: "fp".into(),
            model_version: None,
            output: format!("answer {case}"),
            error_class: None,
            error_message: None,
            input_tokens: 3,
            output_tokens: 1,
            cost_usd: 0.001,
            latency_ms: 1,
            attempts: 1,
            cached: false,
            verdict: Verdict::Pass,
            reason: String::new(),
            assertions: vec![AssertionOutcome {
                group: "correct".into(),
                assertion: "contains".into(),
                passed: true,
                detail: String::new(),
                judge_raw: None,
            }],
            mean_logprob: None,
            hedged: Some(false),
            created_at: Utc::now(),
        }
    }

    /// Create the running run `r` of `planned` items.
    async fn running_run(store: &crate::Store, planned: u64) {
        store
            .create_run(&RunRecord {
                id: "r".into(),
                program: "p".into(),
                started_at: Utc::now(),
                finished_at: None,
                status: RunStatus::Running,
                config: serde_json::json!({}),
                planned,
            })
            .await
            .unwrap();
    }

    /// The writer keeps a connection of its own between batches: the pool still serves
    /// every reader, even a pool of one, and closing the store waits for the writer to
    /// close its connection (it hangs if the writer is not told).
    #[tokio::test]
    async fn the_writer_keeps_a_connection_and_closes_it_with_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        let mut written = 0;
        for pool in [1, 2, 4] {
            let options = crate::ConnectOptions {
                max_connections: Some(pool),
                acquire_timeout: std::time::Duration::from_secs(5),
                ..crate::ConnectOptions::default()
            };
            let s = crate::Store::connect_with(&url, &options).await.unwrap();
            if pool == 1 {
                running_run(&s, 3).await;
            }
            for i in 0..3 {
                let mut r = result("r", i);
                r.tool_id = format!("t{pool}");
                assert!(s.insert_result(&r).await.unwrap());
                s.cache_put(&format!("k{pool}-{i}"), "fp", "answer")
                    .await
                    .unwrap();
                // Readers get a connection while the writer holds one.
                written += 1;
                assert_eq!(s.result_count("r").await.unwrap(), written);
            }
            tokio::time::timeout(std::time::Duration::from_secs(5), s.close())
                .await
                .unwrap_or_else(|_| panic!("pool of {pool}: close waited on the writer"));
        }
    }

    /// One statement whose rows are partly new, partly there already, partly repeated:
    /// each says whether it was the one inserted.
    #[tokio::test]
    async fn a_batch_tells_which_rows_it_inserted() {
        for store in crate::testing::stores().await {
            crate::testing::on(&store);
            running_run(&store, 5).await;
            let mut conn = match &store.store.pool {
                Pool::Sqlite(p) => Some(WriterConn::new(Closing::new(true)).take(p).await.unwrap()),
                Pool::Postgres(_) => None,
            };
            let target = &mut match (&store.store.pool, &mut conn) {
                (Pool::Sqlite(_), Some(c)) => Target::Sqlite(c),
                (Pool::Postgres(p), _) => Target::Postgres(p),
                (Pool::Sqlite(_), None) => unreachable!(),
            };
            let before = [1, 3].map(|i| Row::Result(Box::new(result("r", i))));
            let refs: Vec<&Row> = before.iter().collect();
            assert_eq!(insert(target, &refs).await.unwrap(), [true, true]);
            let rows = [0, 1, 2, 3, 4, 2].map(|i| Row::Result(Box::new(result("r", i))));
            let refs: Vec<&Row> = rows.iter().collect();
            assert_eq!(
                insert(target, &refs).await.unwrap(),
                [true, false, true, false, true, false]
            );
            let refs: Vec<&Row> = rows[..2].iter().collect();
            assert_eq!(insert(target, &refs).await.unwrap(), [false, false]);
            assert_eq!(store.result_count("r").await.unwrap(), 5);
        }
    }

    /// Many concurrent writers, every result written twice, one row that breaks a
    /// constraint: each result is inserted once and exactly one call says so, the bad row
    /// fails alone, and every answered row is in the store.
    #[tokio::test]
    async fn concurrent_writes_are_batched_once_each_and_fail_alone() {
        for store in crate::testing::stores().await {
            crate::testing::on(&store);
            running_run(&store, 300).await;
            let n = 300;
            let mut tasks = Vec::new();
            for copy in 0..2 {
                for i in 0..n {
                    let s = store.store.clone();
                    tasks.push(tokio::spawn(async move {
                        let key = format!("k{i}");
                        s.cache_put(&key, "fp", &format!("{{\"copy\":{copy}}}"))
                            .await
                            .unwrap();
                        s.insert_result(&result("r", i)).await.unwrap()
                    }));
                }
            }
            let bad = store.insert_result(&result("no-such-run", 0)).await;
            let mut inserted = 0;
            for t in tasks {
                inserted += usize::from(t.await.unwrap());
            }
            assert!(
                bad.is_err(),
                "a result of a run that does not exist is refused"
            );
            assert_eq!(inserted, n, "one `true` per result");
            assert_eq!(store.completed_keys("r").await.unwrap().len(), n);
            assert_eq!(store.results("r").await.unwrap()[0].assertions.len(), 1);
            assert!(store.cache_get("k7").await.unwrap().is_some());
        }
    }
}
