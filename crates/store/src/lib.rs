//! Proximity's store: runs, results, the response cache, the gateway's ledger and the
//! decision records, persisted with sqlx on SQLite or PostgreSQL.
//!
//! SQLite is the default (`sqlite://<program>/.proximity/proximity.db`), opened in WAL mode
//! so readers never block the writer. `postgres://…` selects PostgreSQL, the backend for
//! several gateways and eval workers sharing one store. The SQL is written once, in the
//! dialect both accept (`$n` placeholders, `CAST`, `COALESCE`, `ON CONFLICT`,
//! `RETURNING`), and compiled for each backend by `with_pool!`; the schema has one
//! migration set per backend (`migrations/sqlite`, `migrations/postgres`) with the same
//! versions. Only this crate knows SQL.

/// Run `$body` with `$pool` bound to the store's concrete pool (`&SqlitePool` or
/// `&PgPool`): the body is written once and compiled for each backend, so what a query
/// binds and decodes must have an encoding on both; the SQL itself is checked by the
/// store's tests, on SQLite and (in CI) PostgreSQL.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite($pool) => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}

pub mod baselines;
mod batch;
pub mod captures;
pub mod dashboard;
pub mod decisions;
pub mod keys;
pub mod live_checks;
pub mod notes;
pub mod queue;
pub mod ratelimits;
mod run_rows;
pub mod runs;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod transfer;
pub mod usage;
mod usage_daily;
mod writer_conn;
pub use writer_conn::WritePriority;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions as _, PgPool, SqlitePool};

pub use baselines::{BaselineRecord, BaselineTool, NewDriftFinding};
pub use batch::MAX_BATCH as RESULTS_PER_BATCH;
pub use captures::{CaptureFilter, CaptureRecord, CapturedMessage, NewCapture};
pub use dashboard::{ResultFilter, ScoreCell};
pub use decisions::{
    DecisionRecord, DriftFinding, DriftSource, Evidence, EvidenceKind, NewDecision, PlanRecord,
};
pub use keys::KeyRecord;
pub use live_checks::LiveCheckRow;
pub use notes::{FailureMode, NewNote, NoteFilter, NoteOutcome, NoteRecord, NoteRole};
pub use queue::{ClaimedItem, NewWorkItem, QueueCounts};
pub use runs::*;
pub use usage::mix::MixCount;
pub use usage::{BudgetLine, Reservation, UsageEntry, UsageGroup, UsageRecord, UsageSummaryRow};

/// What went wrong talking to the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported database URL `{0}`: expected `sqlite://PATH` or `postgres://USER@HOST/DB`"
    )]
    UnsupportedUrl(String),
    #[error("cannot create the database directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt record in the store: {0}")]
    Corrupt(String),
    #[error("no run `{0}` in the store")]
    NoSuchRun(String),
    #[error("a batched write failed: {0}")]
    Write(String),
    #[error("a baseline named `{0}` exists already: baselines are immutable, pick another name")]
    BaselineExists(String),
    #[error("no baseline `{0}` in the store")]
    NoSuchBaseline(String),
    #[error("the store's schema is {0} migration(s) behind this version: run `proximity migrate`")]
    Outdated(usize),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The connection pool of one backend.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which database engine a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// How to connect: pool size and how long to wait for a free connection.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Connections in the pool (default: 4 for SQLite, 16 for PostgreSQL).
    pub max_connections: Option<u32>,
    /// How long a query waits for a free connection before failing.
    pub acquire_timeout: Duration,
    /// Apply pending migrations when connecting (the default). Without it, a store whose
    /// schema is behind is refused with [`StoreError::Outdated`].
    pub migrate: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            acquire_timeout: Duration::from_secs(30),
            migrate: true,
        }
    }
}

/// A handle on the database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// The task writing gateway reservations and usage rows in batches.
    writer: usage::Writer,
    /// The task writing results and response-cache rows in batches.
    results_writer: batch::Writer,
    /// How closing the store reaches the writers' own connections.
    closing: writer_conn::Closing,
    /// The database file, on SQLite (not for an in-memory database).
    sqlite_file: Option<PathBuf>,
}

/// The default database URL for a program directory.
pub fn default_url(program_root: &Path) -> String {
    format!(
        "sqlite://{}",
        program_root
            .join(".proximity")
            .join("proximity.db")
            .display()
    )
}

impl Store {
    /// Open (creating if needed) the database at `url` and apply migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, &ConnectOptions::default()).await
    }

    /// Open the database at `url` (`sqlite://PATH`, `sqlite::memory:` or
    /// `postgres://…`) with `options`.
    pub async fn connect_with(url: &str, options: &ConnectOptions) -> Result<Self> {
        // Processes opening a new SQLite file at the same moment (a worker started beside
        // `eval --queue`) can find it locked while another one switches it to WAL or
        // creates its tables, a moment SQLite's busy timeout does not always cover: try
        // again for a few seconds.
        let sqlite = sqlite_path(url).is_some();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::open_checked(url, options).await {
                Err(e) if sqlite && attempt < 50 && is_sqlite_busy(&e) => {
                    tracing::debug!(error = %e, attempt, "store busy while opening; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    async fn open_checked(url: &str, options: &ConnectOptions) -> Result<Self> {
        let store = Self::connect_unmigrated(url, options).await?;
        if options.migrate {
            store.migrate().await?;
        } else {
            let pending = store.pending_migrations().await?;
            if !pending.is_empty() {
                return Err(StoreError::Outdated(pending.len()));
            }
        }
        Ok(store)
    }

    /// Open the database at `url` as it is: no migration applied, none checked
    /// (`options.migrate` is ignored). For `proximity migrate`, which reports and applies
    /// them itself; everything else uses [`Store::connect_with`].
    pub async fn connect_unmigrated(url: &str, options: &ConnectOptions) -> Result<Self> {
        let (pool, sqlite_file) =
            if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                (Pool::Postgres(connect_postgres(url, options).await?), None)
            } else {
                let file = sqlite_path(url)
                    .filter(|p| *p != ":memory:")
                    .map(PathBuf::from);
                (Pool::Sqlite(connect_sqlite(url, options).await?), file)
            };
        Ok(Self {
            pool,
            writer: usage::Writer::default(),
            results_writer: batch::Writer::default(),
            closing: writer_conn::Closing::new(sqlite_file.is_some()),
            sqlite_file,
        })
    }

    /// The database file of a SQLite store (`None` on PostgreSQL and for an in-memory
    /// database): for processes that must own it, such as a gateway holding budgets in
    /// memory.
    pub fn sqlite_file(&self) -> Option<&Path> {
        self.sqlite_file.as_deref()
    }

    /// Which engine this store runs on.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Apply the migrations the database lacks (idempotent); returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        let before = self.pending_migrations().await?;
        if before.is_empty() {
            return Ok(before);
        }
        match &self.pool {
            Pool::Sqlite(pool) => {
                // PostgreSQL migrations hold an advisory lock; SQLite ones don't, so two
                // processes opening a new database at once can race: the loser's
                // migration fails (its table exists) and rolls back. Applied migrations
                // are skipped on a retry, so retry until the winner is done.
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match sqlite_migrator().run(pool).await {
                        Ok(()) => break,
                        Err(e) if attempt < 20 => {
                            tracing::debug!(error = %e, attempt, "migration raced; retrying");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Pool::Postgres(pool) => postgres_migrator().run(pool).await?,
        }
        Ok(before)
    }

    /// The versions of the migrations this database has not applied yet.
    pub async fn pending_migrations(&self) -> Result<Vec<i64>> {
        let migrator = match self.pool {
            Pool::Sqlite(_) => sqlite_migrator(),
            Pool::Postgres(_) => postgres_migrator(),
        };
        let applied: Vec<i64> = with_pool!(self, |pool| {
            let exists: Option<(i64,)> = match self.backend() {
                Backend::Sqlite => {
                    sqlx::query_as(
                        "SELECT 1 FROM sqlite_master WHERE type = 'table'
                         AND name = '_sqlx_migrations'",
                    )
                    .fetch_optional(pool)
                    .await?
                }
                Backend::Postgres => {
                    sqlx::query_as(
                        "SELECT CAST(1 AS BIGINT) FROM information_schema.tables
                         WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
                    )
                    .fetch_optional(pool)
                    .await?
                }
            };
            if exists.is_none() {
                Vec::new()
            } else {
                let rows: Vec<(i64,)> =
                    sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                        .fetch_all(pool)
                        .await?;
                rows.into_iter().map(|(v,)| v).collect()
            }
        });
        Ok(migrator
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }

    pub async fn create_run(&self, run: &RunRecord) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO runs (id, program, started_at, finished_at, status, config, planned)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&run.id)
            .bind(&run.program)
            .bind(run.started_at.to_rfc3339())
            .bind(run.finished_at.map(|t| t.to_rfc3339()))
            .bind(run.status.as_str())
            .bind(run.config.to_string())
            .bind(run.planned as i64)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Record a run's new status (and finish time when it is no longer running).
    pub async fn set_run_status(
        &self,
        id: &str,
        status: RunStatus,
        finished_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE runs SET status = $1, finished_at = $2 WHERE id = $3")
                .bind(status.as_str())
                .bind(finished_at.map(|t| t.to_rfc3339()))
                .bind(id)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    pub async fn run(&self, id: &str) -> Result<RunRecord> {
        with_pool!(self, |pool| {
            let row = sqlx::query_as::<_, run_rows::RunRow>("SELECT * FROM runs WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            row.ok_or_else(|| StoreError::NoSuchRun(id.to_owned()))?
                .try_into()
        })
    }

    /// The most recently started run.
    pub async fn latest_run(&self) -> Result<Option<RunRecord>> {
        with_pool!(self, |pool| {
            let row = sqlx::query_as::<_, run_rows::RunRow>(
                "SELECT * FROM runs ORDER BY started_at DESC, id DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await?;
            row.map(TryInto::try_into).transpose()
        })
    }

    /// All runs, newest first.
    pub async fn runs(&self) -> Result<Vec<RunRecord>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query_as::<_, run_rows::RunRow>(
                "SELECT * FROM runs ORDER BY started_at DESC, id DESC",
            )
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(TryInto::try_into).collect()
        })
    }

    /// Write a result. Writing the same (run, case, tool, sample) twice keeps the first:
    /// a result exists at most once. `true` when this call inserted it. Committed when
    /// this returns; concurrent calls are group-committed (see [`batch`]).
    pub async fn insert_result(&self, r: &ResultRecord) -> Result<bool> {
        self.results_writer
            .write(
                &self.pool,
                &self.closing,
                batch::Row::Result(Box::new(r.clone())),
            )
            .await
    }

    /// Every result of a run, in a stable order.
    pub async fn results(&self, run_id: &str) -> Result<Vec<ResultRecord>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query_as::<_, run_rows::ResultRow>(
                "SELECT * FROM results WHERE run_id = $1 ORDER BY persona, case_id, tool_id, sample",
            )
            .bind(run_id)
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(TryInto::try_into).collect()
        })
    }

    /// Every result of a run, in [`Store::results`]'s order, handed to `each` one at a time
    /// as they stream from the database (memory flat in the size of the run). An error
    /// from `each` stops the stream and is returned.
    pub async fn each_result(
        &self,
        run_id: &str,
        mut each: impl FnMut(ResultRecord) -> Result<()>,
    ) -> Result<()> {
        use futures::TryStreamExt as _;
        with_pool!(self, |pool| {
            let mut rows = sqlx::query_as::<_, run_rows::ResultRow>(
                "SELECT * FROM results WHERE run_id = $1 ORDER BY persona, case_id, tool_id, sample",
            )
            .bind(run_id)
            .fetch(pool);
            while let Some(row) = rows.try_next().await? {
                each(row.try_into()?)?;
            }
            Ok(())
        })
    }

    /// The (case, tool, sample) keys a run already has results for.
    pub async fn completed_keys(&self, run_id: &str) -> Result<Vec<(String, String, u32)>> {
        with_pool!(self, |pool| {
            let rows: Vec<(String, String, i64)> =
                sqlx::query_as("SELECT case_id, tool_id, sample FROM results WHERE run_id = $1")
                    .bind(run_id)
                    .fetch_all(pool)
                    .await?;
            Ok(rows
                .into_iter()
                .map(|(c, t, s)| (c, t, s.max(0) as u32))
                .collect())
        })
    }

    /// Money actually paid so far in a run (results not served from the cache).
    /// How many results a run holds.
    pub async fn result_count(&self, run_id: &str) -> Result<u64> {
        with_pool!(self, |pool| {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM results WHERE run_id = $1")
                .bind(run_id)
                .fetch_one(pool)
                .await?;
            Ok(n.max(0) as u64)
        })
    }

    pub async fn run_spend(&self, run_id: &str) -> Result<f64> {
        with_pool!(self, |pool| {
            let (spend,): (Option<f64>,) = sqlx::query_as(
                "SELECT SUM(cost_usd) FROM results WHERE run_id = $1 AND cached = FALSE",
            )
            .bind(run_id)
            .fetch_one(pool)
            .await?;
            Ok(spend.unwrap_or(0.0))
        })
    }

    /// A cached provider response (JSON as stored by [`Store::cache_put`]).
    pub async fn cache_get(&self, key: &str) -> Result<Option<String>> {
        with_pool!(self, |pool| {
            let row: Option<(String,)> =
                sqlx::query_as("SELECT response FROM response_cache WHERE key = $1")
                    .bind(key)
                    .fetch_optional(pool)
                    .await?;
            Ok(row.map(|(r,)| r))
        })
    }

    /// Cache a provider response under `key` (a key already cached keeps its first
    /// answer). Committed when this returns; concurrent calls are group-committed.
    pub async fn cache_put(&self, key: &str, tool_fingerprint: &str, response: &str) -> Result<()> {
        let row = batch::Row::Cache {
            key: key.to_owned(),
            tool_fingerprint: tool_fingerprint.to_owned(),
            response: response.to_owned(),
            created_at: Utc::now(),
        };
        self.results_writer
            .write(&self.pool, &self.closing, row)
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        // The writers' connections first, so that the pool's last one checkpoints.
        self.closing.close_writers().await;
        with_pool!(self, |pool| pool.close().await)
    }
}

fn sqlite_migrator() -> &'static sqlx::migrate::Migrator {
    static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
    &MIGRATOR
}

fn postgres_migrator() -> &'static sqlx::migrate::Migrator {
    static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
    &MIGRATOR
}

/// Whether `e` is SQLite's "database is locked" (`SQLITE_BUSY` and its extended codes).
fn is_sqlite_busy(e: &StoreError) -> bool {
    match e {
        StoreError::Database(sqlx::Error::Database(db)) => db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| c & 0xff == 5),
        _ => false,
    }
}

/// The path part of a `sqlite:` URL, without its query.
fn sqlite_path(url: &str) -> Option<&str> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(path.split('?').next().unwrap_or(path))
}

/// The page cache of each SQLite connection (`cache_size`; negative is KiB), instead of
/// SQLite's 2 MiB. A writer appends in key order and touches few pages; a report's
/// aggregates scan a run's results once, from the operating system's file cache. With
/// the default, every connection a scan passed through kept up to 2 MiB of pages: a
/// 10,000-case eval peaked at 43.5 MiB instead of 37.5, and ran no faster
/// (measured 2026-11-26, `2f741de`).
pub(crate) const PAGE_CACHE: &str = "-512";

/// Where SQLite keeps its temporary files (`temp_store`): in memory. A multi-row
/// statement inside a transaction that may abort half-way (a foreign key, a `NOT NULL`)
/// keeps a statement journal of the pages it changes, and past 64 KiB SQLite spilled it
/// to a file it created, wrote and deleted in `/var/tmp`: at 5,000 rps a gateway's usage
/// commit (~250 rows) did that 20 times a second, ~1,500 `pwrite64` a second, more than
/// the write-ahead log itself (bench/results/gateway-ab.md, 2026-11-27). A statement
/// journal holds one statement's pages, so memory stays small.
pub(crate) const TEMP_STORE: &str = "memory";

async fn connect_sqlite(url: &str, options: &ConnectOptions) -> Result<SqlitePool> {
    let Some(path) = sqlite_path(url) else {
        return Err(StoreError::UnsupportedUrl(url.to_owned()));
    };
    if path != ":memory:" {
        if let Some(parent) = Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                fs_err::create_dir_all(parent)?;
            }
        }
    }
    let connect = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(30))
        .foreign_keys(true)
        .pragma("cache_size", PAGE_CACHE)
        .pragma("temp_store", TEMP_STORE)
        .log_slow_statements(SLOW_STATEMENT_LOG, SLOW_STATEMENT);
    let max = if path == ":memory:" {
        1
    } else {
        options.max_connections.unwrap_or(4)
    };
    Ok(SqlitePoolOptions::new()
        .max_connections(max)
        .acquire_timeout(options.acquire_timeout)
        // No ping before each use: the connection is a file handle on its own thread,
        // and the ping was one more hand-off to that thread for every statement or batch
        // (a gateway's usage flush, an eval's result batch).
        .test_before_acquire(false)
        .connect_with(connect)
        .await?)
}

/// sqlx logs a statement slower than [`SLOW_STATEMENT`] at this level: `info`, which the
/// CLI shows behind `-v` (its default level is `warn`), so a slow query never writes
/// SQL into a command's output.
const SLOW_STATEMENT_LOG: log::LevelFilter = log::LevelFilter::Info;
const SLOW_STATEMENT: Duration = Duration::from_secs(1);

async fn connect_postgres(url: &str, options: &ConnectOptions) -> Result<PgPool> {
    let connect = PgConnectOptions::from_str(url)?
        .application_name("proximity")
        .log_slow_statements(SLOW_STATEMENT_LOG, SLOW_STATEMENT);
    Ok(PgPoolOptions::new()
        .max_connections(options.max_connections.unwrap_or(16))
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_opens_of_a_new_sqlite_file_at_once_all_succeed() {
        for round in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("new.db").display());
            let opens: Vec<_> = (0..8)
                .map(|_| {
                    let url = url.clone();
                    tokio::spawn(async move { Store::connect(&url).await })
                })
                .collect();
            for open in opens {
                let store = open
                    .await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("round {round}: {e}"));
                assert!(store.pending_migrations().await.unwrap().is_empty());
                store.close().await;
            }
        }
    }

    fn run(id: &str) -> RunRecord {
        RunRecord {
            id: id.into(),
            program: "acme".into(),
            started_at: Utc::now(),
            finished_at: None,
            status: RunStatus::Running,
            config: serde_json::json!({"samples": 1}),
            planned: 2,
        }
    }

    fn result(run_id: &str, case: &str) -> ResultRecord {
        ResultRecord {
            tool_calls: Vec::new(),
            run_id: run_id.into(),
            case_id: case.into(),
            tool_id: "t".into(),
            sample: 0,
            persona: "p".into(),
            workflow: "w".into(),
            kind: "edge".into(),
            source: "demo".into(),
            case_weight: 1.0,
            tool_fingerprint: "abc".into(),
            model_version: Some("m-1".into()),
            output: "Paris".into(),
            error_class: None,
            error_message: None,
            input_tokens: 10,
            output_tokens: 2,
            cost_usd: 0.5,
            latency_ms: 12,
            attempts: 1,
            cached: false,
            verdict: Verdict::Silent,
            reason: "wrong".into(),
            assertions: vec![AssertionOutcome {
                group: "correct".into(),
                assertion: "contains \"Lyon\"".into(),
                passed: false,
                detail: "not found".into(),
                judge_raw: None,
            }],
            mean_logprob: Some(-0.25),
            hedged: Some(true),
            created_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn sqlite_creates_the_database_directory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("x/p.db").display());
        let store = Store::connect(&url).await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        assert!(dir.path().join("x/p.db").exists());
        assert!(store.pending_migrations().await.unwrap().is_empty());
        assert!(
            store.migrate().await.unwrap().is_empty(),
            "migrating twice is a no-op"
        );
    }

    #[tokio::test]
    async fn results_round_trip_and_are_unique() {
        for store in crate::testing::stores().await {
            crate::testing::on(&store);
            store.create_run(&run("r1")).await.unwrap();
            let r = result("r1", "c1");
            assert!(store.insert_result(&r).await.unwrap());
            assert!(
                !store.insert_result(&r).await.unwrap(),
                "second write is ignored"
            );
            let mut cached = result("r1", "c2");
            cached.cached = true;
            store.insert_result(&cached).await.unwrap();
            let back = store.results("r1").await.unwrap();
            assert_eq!(back.len(), 2);
            assert_eq!(back[0].case_id, "c1");
            assert_eq!(back[0].assertions, r.assertions);
            assert_eq!(back[0].verdict, Verdict::Silent);
            assert_eq!(back[0].mean_logprob, Some(-0.25));
            assert_eq!(back[0].hedged, Some(true));
            assert_eq!(store.run_spend("r1").await.unwrap(), 0.5);
            assert_eq!(store.completed_keys("r1").await.unwrap().len(), 2);
        }
    }

    #[tokio::test]
    async fn run_status_and_latest() {
        for store in crate::testing::stores().await {
            crate::testing::on(&store);
            store.create_run(&run("a")).await.unwrap();
            store
                .set_run_status("a", RunStatus::Finished, Some(Utc::now()))
                .await
                .unwrap();
            let latest = store.latest_run().await.unwrap().unwrap();
            assert_eq!(latest.status, RunStatus::Finished);
            assert!(latest.finished_at.is_some());
            assert!(matches!(
                store.run("nope").await,
                Err(StoreError::NoSuchRun(_))
            ));
        }
    }

    #[tokio::test]
    async fn cache_keeps_first_answer() {
        for store in crate::testing::stores().await {
            crate::testing::on(&store);
            assert_eq!(store.cache_get("k").await.unwrap(), None);
            store.cache_put("k", "fp", "{\"a\":1}").await.unwrap();
            store.cache_put("k", "fp", "{\"a\":2}").await.unwrap();
            assert_eq!(
                store.cache_get("k").await.unwrap().as_deref(),
                Some("{\"a\":1}")
            );
        }
    }

    #[tokio::test]
    async fn rejects_unknown_url() {
        assert!(matches!(
            Store::connect("mysql://x").await,
            Err(StoreError::UnsupportedUrl(_))
        ));
    }
}
