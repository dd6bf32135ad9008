//! Gateway usage and budgets: one row per request, the monthly spend ledger per budget
//! scope, and the atomic reserve-then-settle protocol that keeps concurrent requests
//! from overspending.
//!
//! A reservation is one guarded `UPDATE` per scope (`spent + reserved + amount <= limit`)
//! inside one transaction (a savepoint of a group commit by the store's writer task), so
//! two requests can never both take the last dollar, whatever the number of gateway
//! processes sharing the database. Settlement writes the usage row and moves the
//! reservation to spent in one transaction: a usage row exists exactly when its spend was
//! counted.
//!
//! A gateway that owns its SQLite file holds reservations in its own memory instead and
//! only writes usage rows with their spend ([`Store::record_usage`]): the same guarantee
//! for spend, two statements per request instead of eleven.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use crate::writer_conn::{Closing, WritePriority, WriterConn};
use crate::{Pool, Result, Store, StoreError};

/// A timestamp as stored: RFC 3339 UTC with microseconds, so text order is time order.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn time(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp `{s}`: {e}")))
}

pub(crate) fn opt_time(s: Option<&str>) -> Result<Option<DateTime<Utc>>> {
    s.map(time).transpose()
}

/// The columns of a `gateway_usage` row, in the order [`bind_usage!`] binds them.
macro_rules! usage_columns {
    () => {
        "(id, created_at, key_id, persona, tier, tool_id, served_by, tool_fingerprint, \
          workflow, input_tokens, output_tokens, cost_usd, latency_ms, ttft_ms, status, \
          error_class, stream, attempts)"
    };
}

/// Bind the fields of [`UsageRecord`] `$u` to `$q` with its method `$bind` (`bind` on a
/// query, `push_bind` on a `QueryBuilder` row), in [`usage_columns!`] order.
macro_rules! bind_usage {
    ($q:expr, $bind:ident, $u:expr) => {
        $q.$bind(&$u.id)
            .$bind(ts($u.created_at))
            .$bind(&$u.key_id)
            .$bind(&$u.persona)
            .$bind(&$u.tier)
            .$bind(&$u.tool_id)
            .$bind(&$u.served_by)
            .$bind(&$u.tool_fingerprint)
            .$bind(&$u.workflow)
            .$bind($u.input_tokens as i64)
            .$bind($u.output_tokens as i64)
            .$bind($u.cost_usd)
            .$bind($u.latency_ms as i64)
            .$bind($u.ttft_ms.map(|t| t as i64))
            .$bind(i64::from($u.status))
            .$bind(&$u.error_class)
            .$bind($u.stream)
            .$bind(i64::from($u.attempts))
    };
}

mod ledger;
pub mod mix;

use ledger::{postgres_ledger, Ledger};

/// One gateway request.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UsageRecord {
    /// The request id (also sent to the client as `x-proximity-request-id`).
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub key_id: Option<String>,
    pub persona: Option<String>,
    pub tier: Option<String>,
    /// The tool the client asked for (`model`).
    pub tool_id: String,
    /// The tool that answered (differs after a fallback); `None` when none did.
    pub served_by: Option<String>,
    pub tool_fingerprint: Option<String>,
    /// From `x-proximity-workflow`, or `unknown`.
    pub workflow: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub latency_ms: u64,
    /// Time to the first token of the answer.
    pub ttft_ms: Option<u64>,
    /// The HTTP status the client got (for streams: 200, or 502 when the stream broke).
    pub status: u16,
    pub error_class: Option<String>,
    pub stream: bool,
    pub attempts: u32,
}

/// A usage row with the budgets its cost counts against: what a gateway holding its
/// reservations in memory hands the store ([`Store::record_usages`]), and one line of its
/// usage journal.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UsageEntry {
    pub usage: UsageRecord,
    /// The budget month (`YYYY-MM`).
    pub month: String,
    /// The budget scopes the cost is added to.
    pub scopes: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct UsageRow {
    id: String,
    created_at: String,
    key_id: Option<String>,
    persona: Option<String>,
    tier: Option<String>,
    tool_id: String,
    served_by: Option<String>,
    tool_fingerprint: Option<String>,
    workflow: String,
    input_tokens: i64,
    output_tokens: i64,
    cost_usd: f64,
    latency_ms: i64,
    ttft_ms: Option<i64>,
    status: i64,
    error_class: Option<String>,
    stream: bool,
    attempts: i64,
}

impl TryFrom<UsageRow> for UsageRecord {
    type Error = StoreError;

    fn try_from(r: UsageRow) -> Result<Self> {
        Ok(UsageRecord {
            created_at: time(&r.created_at)?,
            id: r.id,
            key_id: r.key_id,
            persona: r.persona,
            tier: r.tier,
            tool_id: r.tool_id,
            served_by: r.served_by,
            tool_fingerprint: r.tool_fingerprint,
            workflow: r.workflow,
            input_tokens: r.input_tokens.max(0) as u64,
            output_tokens: r.output_tokens.max(0) as u64,
            cost_usd: r.cost_usd,
            latency_ms: r.latency_ms.max(0) as u64,
            ttft_ms: r.ttft_ms.map(|t| t.max(0) as u64),
            status: u16::try_from(r.status).unwrap_or(0),
            error_class: r.error_class,
            stream: r.stream,
            attempts: u32::try_from(r.attempts).unwrap_or(0),
        })
    }
}

/// One budget a request must fit: a scope (`persona:<id>`, `key:<id>`) and its monthly
/// limit in US dollars.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetLine {
    pub scope: String,
    pub limit_usd: f64,
}

/// The outcome of a reservation.
#[derive(Debug, Clone, PartialEq)]
pub enum Reservation {
    /// Reserved under this id; settle it with [`Store::settle`].
    Reserved { id: String, month: String },
    /// The scope has no room left for the amount: nothing was reserved.
    Exhausted {
        scope: String,
        limit_usd: f64,
        spent_usd: f64,
        reserved_usd: f64,
    },
}

/// How to group a usage summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGroup {
    Persona,
    Tool,
    Workflow,
    Tier,
}

/// Spend and volume of one group.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UsageSummaryRow {
    pub group_key: String,
    pub requests: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
    pub mean_latency_ms: f64,
}

impl Store {
    /// Reserve `amount_usd` in every line's scope for `month`, all or nothing.
    pub async fn reserve(
        &self,
        id: &str,
        month: &str,
        lines: &[BudgetLine],
        amount_usd: f64,
        now: DateTime<Utc>,
    ) -> Result<Reservation> {
        // Every transaction locks ledger rows in scope order, so two gateways reserving
        // for overlapping scopes can never wait on each other in a cycle.
        let mut lines = lines.to_vec();
        lines.sort_by(|a, b| a.scope.cmp(&b.scope));
        lines.dedup_by(|a, b| a.scope == b.scope);
        let work = Work::Reserve {
            id: id.to_owned(),
            month: month.to_owned(),
            lines,
            amount_usd,
            now,
        };
        match self.ledger(work).await? {
            Done::Reserve(r) => Ok(r),
            Done::Settle => Err(stopped()),
        }
    }

    /// Write the usage row of a request and, when it held reservation `reservation`,
    /// move that reservation to spent at the real cost: one transaction, committed
    /// before this returns.
    pub async fn settle(&self, usage: &UsageRecord, reservation: Option<&str>) -> Result<()> {
        let work = Work::Settle {
            usage: Box::new(usage.clone()),
            reservation: reservation.map(str::to_owned),
        };
        self.ledger(work).await.map(|_| ())
    }

    /// Write the usage row of a request and add its cost to the spend of `scopes` in
    /// `month`: for a gateway that held the request's reservation in memory. Idempotent
    /// by usage id (a second write of the same row changes nothing); committed before
    /// this returns.
    pub async fn record_usage(
        &self,
        usage: &UsageRecord,
        month: &str,
        scopes: &[String],
    ) -> Result<()> {
        self.record_usages(Arc::new(vec![UsageEntry {
            usage: usage.clone(),
            month: month.to_owned(),
            scopes: scopes.to_vec(),
        }]))
        .await
    }

    /// [`Store::record_usage`] for many rows at once, in one transaction: all are
    /// written, or none. On SQLite the writer takes them as one job, so a batch is one
    /// commit however the writer's queue is raced (one job a row made a flush of 250
    /// rows ~19 commits, each rewriting the same pages to the WAL).
    pub async fn record_usages(&self, entries: Arc<Vec<UsageEntry>>) -> Result<()> {
        self.record_usages_at(entries, WritePriority::Normal).await
    }

    /// [`Store::record_usages`], committed on SQLite by a connection whose thread is
    /// scheduled at `priority` (a batch with other work in it goes at normal priority).
    /// PostgreSQL ignores it: the server does the work.
    pub async fn record_usages_at(
        &self,
        entries: Arc<Vec<UsageEntry>>,
        priority: WritePriority,
    ) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.ledger(Work::Records(entries, priority))
            .await
            .map(|_| ())
    }

    /// Apply one ledger write: on SQLite through the group-commit writer task (one
    /// writer per database file anyway), on PostgreSQL in a transaction of its own on
    /// the pool, retried when the server picks it as a deadlock or serialization victim.
    async fn ledger(&self, work: Work) -> Result<Done> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                let (reply, answer) = oneshot::channel();
                self.writer
                    .submit(pool, &self.closing, Job { work, reply })
                    .await?;
                answer.await.map_err(|_| stopped())?
            }
            Pool::Postgres(pool) => postgres_ledger(pool, &work).await,
        }
    }

    /// Release, without spending, reservations made before `cutoff` (those of a gateway
    /// that died mid-request). Returns how many were released. A released reservation is
    /// kept, marked, for a week: should its request settle after all (a stream that
    /// outlived the cutoff, a gateway with a slow clock), its cost still counts.
    pub async fn release_reservations_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        with_pool!(self, |pool| {
            let ids: Vec<(String,)> = sqlx::query_as(
                "SELECT id FROM budget_reservations WHERE created_at < $1 AND released = FALSE",
            )
            .bind(ts(cutoff))
            .fetch_all(pool)
            .await?;
            let mut n = 0;
            for (id,) in ids {
                let mut tx = pool.begin().await?;
                if Ledger::expire(&mut tx, &id).await? {
                    n += 1;
                }
                tx.commit().await?;
            }
            sqlx::query(
                "DELETE FROM budget_reservations WHERE released = TRUE AND created_at < $1",
            )
            .bind(ts(cutoff - chrono::Duration::days(7)))
            .execute(pool)
            .await?;
            Ok(n)
        })
    }

    /// Mark the reservations `ids` alive at `now`: their requests are still in flight, so
    /// [`Store::release_reservations_before`] (which goes by this time) must not take
    /// them for a dead gateway's. Returns how many were renewed.
    pub async fn renew_reservations(&self, ids: &[String], now: DateTime<Utc>) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut n = 0;
            for id in ids {
                n += sqlx::query(
                    "UPDATE budget_reservations SET created_at = $1
                     WHERE id = $2 AND released = FALSE",
                )
                .bind(ts(now))
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.commit().await?;
            Ok(n)
        })
    }

    /// Spent and reserved US dollars of a scope in a month.
    pub async fn budget_state(&self, scope: &str, month: &str) -> Result<(f64, f64)> {
        with_pool!(self, |pool| {
            let row: Option<(f64, f64)> = sqlx::query_as(
                "SELECT spent_usd, reserved_usd FROM budget_ledger WHERE scope = $1 AND month = $2",
            )
            .bind(scope)
            .bind(month)
            .fetch_optional(pool)
            .await?;
            Ok(row.unwrap_or((0.0, 0.0)))
        })
    }

    /// Usage rows created at or after `since` (all when `None`), oldest first.
    pub async fn usage(&self, since: Option<DateTime<Utc>>) -> Result<Vec<UsageRecord>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query_as::<_, UsageRow>(
                "SELECT * FROM gateway_usage WHERE created_at >= $1 ORDER BY created_at, id",
            )
            .bind(since.map(ts).unwrap_or_default())
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(TryInto::try_into).collect()
        })
    }

    /// Spend and volume since `since`, grouped, the most expensive group first: from the
    /// daily rollup (`crate::usage_daily`), not from every row.
    pub async fn usage_summary(
        &self,
        since: Option<DateTime<Utc>>,
        by: UsageGroup,
    ) -> Result<Vec<UsageSummaryRow>> {
        self.usage_summary_daily(since, by).await
    }
}

fn stopped() -> StoreError {
    StoreError::Write("the usage writer stopped".to_owned())
}

/// The most jobs committed in one transaction.
const MAX_BATCH: usize = 512;

/// A write to the gateway's ledger.
pub(crate) enum Work {
    Reserve {
        id: String,
        month: String,
        lines: Vec<BudgetLine>,
        amount_usd: f64,
        now: DateTime<Utc>,
    },
    Settle {
        usage: Box<UsageRecord>,
        reservation: Option<String>,
    },
    /// Usage rows and their cost added to `spent` of their scopes in their month, with
    /// no reservation in the store (the gateway held it in memory), at a priority.
    Records(Arc<Vec<UsageEntry>>, WritePriority),
}

/// What a [`Work`] did.
pub(crate) enum Done {
    Reserve(Reservation),
    Settle,
}

impl Done {
    /// Whether the work's writes stay (a reservation refused for lack of budget leaves
    /// nothing behind).
    fn keep(&self) -> bool {
        matches!(
            self,
            Done::Settle | Done::Reserve(Reservation::Reserved { .. })
        )
    }
}

/// A ledger write queued for the SQLite writer task, with where its answer goes.
pub(crate) struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Done>>,
}

/// Group commit: one task per store takes the gateway's reservations and settlements
/// from a queue and applies whatever has queued up in one transaction (each job in a
/// savepoint of its own), answering every job only after the commit. Under load this
/// turns many small transactions into few, without weakening what an answer means.
#[derive(Clone, Default)]
pub(crate) struct Writer(Arc<OnceLock<mpsc::Sender<Job>>>);

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Writer {
    async fn submit(&self, pool: &SqlitePool, closing: &Closing, job: Job) -> Result<()> {
        let sender = self
            .0
            .get_or_init(|| {
                let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
                tokio::spawn(write_loop(pool.clone(), closing.clone(), rx));
                tx
            })
            .clone();
        sender.send(job).await.map_err(|_| stopped())
    }
}

/// Applies batches on the writer's own connection, kept between batches (see
/// [`crate::writer_conn`]: at 2,000 requests/s, preads fell from 6,945 to 453 for 6,000
/// requests, and the SQLite thread's CPU by ~17%).
///
/// A batch of nothing but [`WritePriority::Background`] usage rows goes through a second
/// connection of the writer's own, whose SQLite thread runs at background priority.
async fn write_loop(pool: SqlitePool, closing: Closing, mut rx: mpsc::Receiver<Job>) {
    let mut normal = WriterConn::new(closing.clone());
    let mut background = WriterConn::with_priority(closing, WritePriority::Background);
    loop {
        // Either connection closes when the store does, whichever is waited on.
        let Some(first) = normal.wait(background.wait(rx.recv())).await else {
            break;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let writer = if batch
            .iter()
            .all(|j| matches!(j.work, Work::Records(_, WritePriority::Background)))
        {
            &mut background
        } else {
            &mut normal
        };
        match writer.take(&pool).await {
            Ok(mut conn) => {
                let ok = write_batch(&mut conn, batch).await;
                writer.give_back(conn, ok);
            }
            Err(e) => fail_all(batch, &e),
        }
    }
}

/// Answer every job of a batch that could not be written with `e`.
fn fail_all(jobs: Vec<Job>, e: &sqlx::Error) {
    let msg = e.to_string();
    for job in jobs {
        let _ = job.reply.send(Err(StoreError::Write(msg.clone())));
    }
}

/// Apply `jobs` in one transaction on `conn`; false when the batch failed.
async fn write_batch(conn: &mut sqlx::SqliteConnection, jobs: Vec<Job>) -> bool {
    use sqlx::Connection as _;
    let mut tx = match conn.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            fail_all(jobs, &e);
            return false;
        }
    };
    let mut results: Vec<Option<Result<Done>>> = Vec::with_capacity(jobs.len());
    for job in &jobs {
        results.push(match &job.work {
            Work::Records(..) => None,
            _ => Some(in_savepoint(&mut tx, &job.work).await),
        });
    }
    // Usage rows of gateways holding reservations in memory: all in one statement, their
    // spend summed per budget; one by one (each in a savepoint, with its own error) only
    // if that fails.
    let records: Vec<&UsageEntry> = jobs
        .iter()
        .filter_map(|j| match &j.work {
            Work::Records(entries, _) => Some(entries.iter()),
            _ => None,
        })
        .flatten()
        .collect();
    if !records.is_empty() {
        let bulk = async {
            sqlx::query("SAVEPOINT records").execute(&mut *tx).await?;
            let written = record_all(&mut tx, &records).await;
            if written.is_err() {
                sqlx::query("ROLLBACK TO records").execute(&mut *tx).await?;
            }
            sqlx::query("RELEASE records").execute(&mut *tx).await?;
            written
        }
        .await;
        let bulk_ok = bulk.is_ok();
        for (job, result) in jobs.iter().zip(results.iter_mut()) {
            if result.is_none() {
                *result = Some(if bulk_ok {
                    Ok(Done::Settle)
                } else {
                    in_savepoint(&mut tx, &job.work).await
                });
            }
        }
    }
    let results: Vec<Result<Done>> = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(stopped())))
        .collect();
    match tx.commit().await {
        Ok(()) => {
            for (job, result) in jobs.into_iter().zip(results) {
                let _ = job.reply.send(result);
            }
            true
        }
        Err(e) => {
            fail_all(jobs, &e);
            false
        }
    }
}

/// Usage rows in one `INSERT`. A commit's rows go in statements of this size, prepared
/// once and kept, and one for the rest. One statement for a whole commit (~250 rows at
/// 5,000 rps) was prepared anew each time, 4,500 parameters of it: a millisecond-long
/// burst on SQLite's thread every commit, which the gateway's answers queued behind on a
/// small machine (p99 at 5,000 rps on 2 cores: 1.6–1.9 ms against 2.1–2.4 ms; 8, 16 and
/// 64 rows did as well as 32).
const RECORDS_PER_STATEMENT: usize = 32;

/// Insert the usage rows of `records` and add the cost of those that were new to their
/// budgets: one statement per [`RECORDS_PER_STATEMENT`] rows, one per budget and month.
async fn record_all(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    records: &[&UsageEntry],
) -> Result<()> {
    let mut spend: std::collections::BTreeMap<(&str, &str), f64> = Default::default();
    for rows in records.chunks(RECORDS_PER_STATEMENT) {
        let mut q =
            sqlx::QueryBuilder::new(concat!("INSERT INTO gateway_usage ", usage_columns!(), " "));
        q.push_values(rows, |mut b, e| {
            bind_usage!(b, push_bind, e.usage);
        });
        q.push(" ON CONFLICT (id) DO NOTHING");
        // Without `RETURNING`, as the eval's result batches (crate::batch): when every
        // row went in the count says so, and otherwise the rows this statement inserted
        // are its last `changes` rowids (consecutive: one statement, one writer).
        let done = q
            .build()
            .persistent(
                rows.len() == RECORDS_PER_STATEMENT || crate::batch::keep_prepared(rows.len()),
            )
            .execute(&mut **tx)
            .await?;
        let changes = done.rows_affected() as usize;
        let mut inserted: Option<std::collections::HashSet<String>> = if changes == rows.len() {
            None
        } else if changes == 0 {
            Some(Default::default())
        } else {
            let last = done.last_insert_rowid();
            let ids: Vec<String> =
                sqlx::query_scalar("SELECT id FROM gateway_usage WHERE rowid > $1 AND rowid <= $2")
                    .bind(last - changes as i64)
                    .bind(last)
                    .fetch_all(&mut **tx)
                    .await?;
            Some(ids.into_iter().collect())
        };
        for e in rows {
            let u = &e.usage;
            // `remove`: a row given twice in one batch was inserted, and counts, once.
            let new = inserted.as_mut().is_none_or(|ids| ids.remove(&u.id));
            if new && u.cost_usd > 0.0 {
                for scope in &e.scopes {
                    *spend.entry((scope.as_str(), e.month.as_str())).or_default() += u.cost_usd;
                }
            }
        }
    }
    for ((scope, month), cost) in spend {
        sqlx::query(
            "INSERT INTO budget_ledger (scope, month, spent_usd) VALUES ($1, $2, $3)
             ON CONFLICT (scope, month) DO UPDATE
             SET spent_usd = budget_ledger.spent_usd + excluded.spent_usd",
        )
        .bind(scope)
        .bind(month)
        .bind(cost)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// One job inside the batch's transaction, in a savepoint: undone when it fails or finds
/// a budget exhausted, kept otherwise.
async fn in_savepoint(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>, work: &Work) -> Result<Done> {
    sqlx::query("SAVEPOINT job").execute(&mut **tx).await?;
    let result = sqlx::Sqlite::apply(tx, work).await;
    if !matches!(&result, Ok(done) if done.keep()) {
        sqlx::query("ROLLBACK TO job").execute(&mut **tx).await?;
    }
    sqlx::query("RELEASE job").execute(&mut **tx).await?;
    result
}

#[cfg(test)]
mod tests;
