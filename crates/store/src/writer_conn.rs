//! The SQLite connection a group-commit writer task keeps between its batches (the eval's
//! result writer in [`crate::batch`], the gateway's ledger writer in [`crate::usage`]).
//!
//! A connection taken from the pool for each batch has had its page cache invalidated by
//! whichever connection committed last, and reads back every page the batch touches: ~2
//! `pread`s a result in an eval. A connection of the writer's own stays valid, since the
//! writer is the one committing. It is opened beside the pool, not taken from it, so the
//! pool keeps all its connections for everyone else (a pool connection held for good
//! starved a queue worker's other queries). An in-memory store, whose database another
//! connection would not see, has no file: there the writer takes a pool connection for
//! each batch, as before.
//!
//! A writer may also keep a connection at background priority ([`WritePriority`]): on
//! Linux, SQLite's thread for that connection is scheduled `SCHED_IDLE`, so it runs on
//! cores nothing else wants and yields the moment something else does. The gateway's
//! usage journal commits through it while its backlog is small.

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// Connections the writer tasks may have open: the results writer's, and the ledger
/// writer's at each [`WritePriority`].
const WRITERS: u32 = 3;

/// How the thread that runs a writer's SQLite statements is scheduled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WritePriority {
    /// As the rest of the process.
    #[default]
    Normal,
    /// On Linux, `SCHED_IDLE`: the kernel runs it only on a core no normal thread wants
    /// and preempts it as soon as one does, so a commit does not hold a core a request
    /// is waiting for (the gateway's p99 with SQLite's thread at `SCHED_IDLE`: half, on a
    /// core of its own; bench/results/gateway-ab.md, 2026-11-27). A background write
    /// can wait for long on saturated cores: it suits writes nothing waits for, and a
    /// caller that can fall back to [`WritePriority::Normal`]. Elsewhere, or where the
    /// kernel refuses the policy, the same as `Normal`.
    Background,
}

/// What [`crate::Store::close`] uses to have the writers close their connections before
/// the pool's: the last connection to close checkpoints the WAL into the database file,
/// which two connections closing at once may both leave to the other.
#[derive(Clone, Debug)]
pub(crate) struct Closing {
    requested: Arc<watch::Sender<bool>>,
    /// One permit per writer connection open.
    open: Arc<Semaphore>,
    /// The store is a file: writers may open connections of their own.
    file: bool,
}

impl Closing {
    /// For a store that is a file (`file`), or an in-memory one.
    pub(crate) fn new(file: bool) -> Self {
        Self {
            requested: Arc::new(watch::channel(false).0),
            open: Arc::new(Semaphore::new(WRITERS as usize)),
            file,
        }
    }

    /// Ask every writer to close its connection, and wait until they have.
    pub(crate) async fn close_writers(&self) {
        self.requested.send_replace(true);
        let _ = self.open.acquire_many(WRITERS).await;
    }

    fn requested(&self) -> bool {
        *self.requested.borrow()
    }
}

/// The writer's connection, when it has one open.
pub(crate) struct WriterConn {
    conn: Option<(SqliteConnection, OwnedSemaphorePermit)>,
    closing: Closing,
    priority: WritePriority,
}

/// A connection for one batch: the writer's own, or one of the pool's.
pub(crate) enum BatchConn {
    Own(SqliteConnection, OwnedSemaphorePermit),
    Pooled(PoolConnection<Sqlite>),
}

impl Deref for BatchConn {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match self {
            BatchConn::Own(c, _) => c,
            BatchConn::Pooled(c) => c,
        }
    }
}

impl DerefMut for BatchConn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            BatchConn::Own(c, _) => c,
            BatchConn::Pooled(c) => c,
        }
    }
}

impl WriterConn {
    pub(crate) fn new(closing: Closing) -> Self {
        Self::with_priority(closing, WritePriority::Normal)
    }

    /// A writer whose own connection's thread is scheduled at `priority`.
    pub(crate) fn with_priority(closing: Closing, priority: WritePriority) -> Self {
        Self {
            conn: None,
            closing,
            priority,
        }
    }

    /// Await `next` (the writer's next jobs); should the store close meanwhile, close the
    /// writer's connection first.
    pub(crate) async fn wait<T>(&mut self, next: impl Future<Output = T>) -> T {
        let mut next = std::pin::pin!(next);
        if self.conn.is_some() {
            let mut requested = self.closing.requested.subscribe();
            tokio::select! {
                out = &mut next => return out,
                () = async { let _ = requested.wait_for(|closing| *closing).await; } => {
                    if let Some((conn, permit)) = self.conn.take() {
                        let _ = conn.close().await;
                        drop(permit);
                    }
                }
            }
        }
        next.await
    }

    /// The connection for the next batch.
    pub(crate) async fn take(&mut self, pool: &SqlitePool) -> Result<BatchConn, sqlx::Error> {
        if let Some((conn, permit)) = self.conn.take() {
            return Ok(BatchConn::Own(conn, permit));
        }
        if self.closing.file && !self.closing.requested() {
            if let Ok(permit) = Arc::clone(&self.closing.open).try_acquire_owned() {
                // The pool's options: the same file, pragmas and page cache.
                let options = pool.connect_options();
                let conn = match self.priority {
                    WritePriority::Normal => options.connect().await?,
                    WritePriority::Background => connect_in_background(&options).await?,
                };
                return Ok(BatchConn::Own(conn, permit));
            }
        }
        Ok(BatchConn::Pooled(pool.acquire().await?))
    }

    /// After a batch: keep the writer's own connection unless the batch failed (a
    /// connection in an unknown state is dropped, and the next batch opens another).
    pub(crate) fn give_back(&mut self, conn: BatchConn, ok: bool) {
        if let (BatchConn::Own(conn, permit), true) = (conn, ok) {
            self.conn = Some((conn, permit));
        }
    }
}

/// Open a connection whose SQLite thread is scheduled `SCHED_IDLE`. sqlx starts that
/// thread when it opens the connection, and a thread starts with its creator's policy:
/// so the connection is opened from a short-lived thread of ours at `SCHED_IDLE`.
async fn connect_in_background(
    options: &SqliteConnectOptions,
) -> Result<SqliteConnection, sqlx::Error> {
    let options = options
        .clone()
        .thread_name(|id| format!("{BACKGROUND_THREAD}{id}"));
    let runtime = tokio::runtime::Handle::current();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("sqlite-bg-open".into())
        .spawn(move || {
            lower_this_thread();
            let _ = tx.send(runtime.block_on(options.connect()));
        })?;
    rx.await.map_err(|_| sqlx::Error::WorkerCrashed)?
}

/// The name of a background connection's SQLite thread, before its number.
pub(crate) const BACKGROUND_THREAD: &str = "sqlite-bg-";

/// Schedule the calling thread `SCHED_IDLE` (Linux); where that is refused, say so once
/// and go on at normal priority.
fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            set_thread_priority_and_policy, thread_native_id, thread_schedule_policy,
            NormalThreadSchedulePolicy, ThreadSchedulePolicy,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        let set = set_thread_priority_and_policy(
            thread_native_id(),
            thread_priority::ThreadPriority::Min,
            idle,
        );
        // The crate sets the policy, then the nice value (0): in a process started with a
        // higher nice value the second step is refused though the first took effect.
        if let (Err(e), false) = (set, matches!(thread_schedule_policy(), Ok(p) if p == idle)) {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                tracing::warn!(error = ?e, "cannot schedule SQLite's background writer SCHED_IDLE; it runs at normal priority");
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The connection's page cache and where its temporary files go (`2`: memory).
    async fn cache_size(conn: &mut SqliteConnection) -> (i64, i64) {
        let cache = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let temp = sqlx::query_scalar("PRAGMA temp_store")
            .fetch_one(conn)
            .await
            .unwrap();
        (cache, temp)
    }

    /// The writer's own connection and every pool connection keep the store's small page
    /// cache, not SQLite's 2 MiB default, and their statement journals in memory, not in
    /// files created and deleted in `/var/tmp` each commit.
    #[tokio::test]
    async fn every_connection_keeps_the_small_page_cache_and_temp_files_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        let store = crate::Store::connect(&url).await.unwrap();
        let crate::Pool::Sqlite(pool) = &store.pool else {
            panic!("a file URL opens a SQLite store");
        };
        let cache: i64 = crate::PAGE_CACHE.parse().unwrap();
        assert_ne!(cache, -2000, "SQLite's default");
        assert_eq!(crate::TEMP_STORE, "memory");
        let expected = (cache, 2);
        let mut pooled = vec![pool.acquire().await.unwrap(), pool.acquire().await.unwrap()];
        for conn in &mut pooled {
            assert_eq!(cache_size(conn).await, expected);
        }
        drop(pooled);
        let mut writer = WriterConn::new(Closing::new(true));
        let mut conn = writer.take(pool).await.unwrap();
        assert!(
            matches!(conn, BatchConn::Own(..)),
            "a file store's writer opens its own"
        );
        assert_eq!(cache_size(&mut conn).await, expected);
        writer.give_back(conn, true);
    }
}
