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

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{ConnectOptions as _, Connection as _, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// Writer tasks a store may have (results, ledger), each with at most one connection.
const WRITERS: u32 = 2;

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
        Self {
            conn: None,
            closing,
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
                let conn = pool.connect_options().connect().await?;
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
