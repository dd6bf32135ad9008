//! The usage journal: how a gateway that owns its SQLite file makes a request's usage
//! row durable with one append to a file instead of a database commit on the request's
//! path.
//!
//! A settled request is appended, as one JSON line, to the current segment of
//! `<database>.usage-journal/` and then acknowledged. A `write(2)` that returned is in
//! the kernel's page cache, so it survives `kill -9` of the gateway, exactly as a SQLite
//! commit in WAL mode with `synchronous=NORMAL` does (neither survives a power cut). A
//! flusher task moves what was appended into the store in group commits (each usage row
//! with its spend, in one transaction, idempotent by request id) and deletes a segment
//! once every line of it is in the store. A gateway starting on the database first moves
//! whatever a killed one left in the journal into the store, then serves.
//!
//! The flusher commits at background priority (on Linux, SQLite's thread for those
//! commits is scheduled `SCHED_IDLE`), so a commit does not take a core from a request,
//! and falls back to normal priority when the backlog grows or background commits are
//! slow ([`Pacing`]).
//!
//! So the store lags the acknowledgements by one flush (the flusher lingers 50 ms for a
//! batch, then commits it): `/healthz` reports `usage_pending`, and [`Journal::flush`]
//! waits for it. Only the gateway that owns the file (it holds the exclusive lock beside it) has
//! a journal; gateways sharing limits through the store commit each row before answering.

use fs_err::{self as fs, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use proximity_store::{Store, StoreError, WritePriority};
use tokio::sync::Notify;

/// A segment is sealed, and a new one started, once it holds this many bytes.
const SEGMENT_BYTES: u64 = 8 << 20;
/// The most entries moved into the store by one call (the store's writer commits them in
/// transactions of up to 512).
const FLUSH_MAX: usize = 8192;
/// Appends are refused (the request gets a 500, nothing is acknowledged) while this many
/// entries wait for the store: the store has stopped taking writes, and memory must not
/// grow without bound.
const MAX_PENDING: usize = 200_000;
/// How long the flusher waits, once woken, for more entries to join its batch. What a
/// commit costs beyond its rows (its statements, the multi-row `INSERT` prepared for its
/// row count, the locks) is paid once per commit: at 5,000 rps, 50 ms instead of 5
/// halved the CPU of SQLite's thread. The store lags the answers by about this much,
/// which nothing on a request's path reads.
const LINGER: Duration = Duration::from_millis(50);
/// Entries written to the store at once when replaying a journal at start.
const REPLAY_CHUNK: usize = 4096;

/// What the journal could not do.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// An I/O error; it names the file.
    #[error("usage journal: {0}")]
    Io(#[from] io::Error),
    #[error("{0} usage rows wait for the store, which is not taking writes; refusing more")]
    Backlog(usize),
    #[error("the gateway is shutting down")]
    Closed,
    #[error("cannot move the usage journal into the store: {0}")]
    Store(#[from] StoreError),
}

/// One settled request: its usage row and the budgets its cost counts against (a line of
/// a segment).
pub use proximity_store::UsageEntry as Entry;

/// The journal of one gateway process.
pub struct Journal {
    dir: PathBuf,
    /// A segment is sealed once it holds this many bytes.
    segment_bytes: u64,
    inner: Mutex<Inner>,
    /// Entries appended and not yet committed to the store.
    unflushed: AtomicUsize,
    /// Writes to the store that moved entries (each one transaction).
    commits: AtomicUsize,
    wake: Notify,
    /// One flush at a time, so entries reach the store in the order they were appended.
    flushing: tokio::sync::Mutex<()>,
}

struct Inner {
    file: File,
    path: PathBuf,
    seq: u64,
    bytes: u64,
    /// Appended, not yet handed to the store, oldest first.
    pending: Vec<Entry>,
    /// Segments whose every line is appended; deleted once `pending` as taken with them
    /// is committed.
    sealed: Vec<PathBuf>,
    closed: bool,
}

/// What [`Journal::open`] found left by an earlier gateway.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Entries moved into the store (already there counts too: writes are idempotent).
    pub entries: usize,
    /// Segments read.
    pub segments: usize,
    /// A final line cut short by a kill mid-append (its request was never acknowledged).
    pub torn: usize,
}

impl Journal {
    /// The journal of the SQLite database `db_file`: whatever an earlier gateway left in
    /// it is moved into `store` first, then a new segment is started.
    pub async fn open(store: &Store, db_file: &Path) -> Result<(Self, Replayed), JournalError> {
        let dir = dir_of(db_file);
        fs::create_dir_all(&dir).map_err(JournalError::Io)?;
        let segments = segments(&dir)?;
        let mut replayed = Replayed::default();
        for (_, path) in &segments {
            replay(store, path, &mut replayed).await?;
            fs::remove_file(path).map_err(JournalError::Io)?;
            replayed.segments += 1;
        }
        if replayed.entries > 0 || replayed.torn > 0 {
            tracing::warn!(
                entries = replayed.entries,
                segments = replayed.segments,
                torn = replayed.torn,
                "moved the usage journal of a gateway that stopped without flushing it into the store"
            );
        }
        let seq = segments.last().map_or(1, |(n, _)| n + 1);
        let (file, path) = create_segment(&dir, seq)?;
        let journal = Self {
            dir,
            segment_bytes: SEGMENT_BYTES,
            inner: Mutex::new(Inner {
                file,
                path,
                seq,
                bytes: 0,
                pending: Vec::new(),
                sealed: Vec::new(),
                closed: false,
            }),
            unflushed: AtomicUsize::new(0),
            commits: AtomicUsize::new(0),
            wake: Notify::new(),
            flushing: tokio::sync::Mutex::new(()),
        };
        Ok((journal, replayed))
    }

    /// The folder holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Append `entry`: once this returns `Ok`, the entry survives a kill of the process
    /// and the request may be acknowledged.
    pub fn append(&self, entry: Entry) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(&entry)
            .map_err(|e| JournalError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))?;
        line.push(b'\n');
        let mut inner = self.lock();
        if inner.closed {
            return Err(JournalError::Closed);
        }
        if inner.pending.len() >= MAX_PENDING {
            return Err(JournalError::Backlog(inner.pending.len()));
        }
        if let Err(e) = inner.file.write_all(&line) {
            // Cut off what part of the line made it, so the segment stays whole lines.
            let bytes = inner.bytes;
            let _ = inner.file.set_len(bytes);
            return Err(JournalError::Io(e));
        }
        inner.bytes += line.len() as u64;
        inner.pending.push(entry);
        drop(inner);
        self.unflushed.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_one();
        Ok(())
    }

    /// Entries acknowledged and not yet committed to the store.
    pub fn unflushed(&self) -> usize {
        self.unflushed.load(Ordering::SeqCst)
    }

    /// How many writes to the store have moved entries so far.
    pub fn commits(&self) -> usize {
        self.commits.load(Ordering::SeqCst)
    }

    /// Move what is pending into the store: up to [`FLUSH_MAX`] entries, oldest first.
    /// Returns how many; on a store error they stay pending (and in the journal).
    pub async fn flush_some(&self, store: &Store) -> Result<usize, JournalError> {
        self.flush_some_at(store, WritePriority::Normal).await
    }

    /// [`Journal::flush_some`], committed by a store connection whose thread is scheduled
    /// at `priority`.
    async fn flush_some_at(
        &self,
        store: &Store,
        priority: WritePriority,
    ) -> Result<usize, JournalError> {
        let _one = self.flushing.lock().await;
        // Cancellation-safe: should this future be dropped mid-write (the flusher task
        // aborted), the guard puts the batch back.
        let (batch, sealed) = self.take();
        let mut taken = Taken {
            journal: self,
            batch: Some((Arc::new(batch), sealed)),
        };
        let n = match &taken.batch {
            Some((batch, _)) if !batch.is_empty() => {
                store.record_usages_at(batch.clone(), priority).await?;
                self.commits.fetch_add(1, Ordering::SeqCst);
                batch.len()
            }
            _ => 0,
        };
        let sealed = taken
            .batch
            .take()
            .map(|(_, sealed)| sealed)
            .unwrap_or_default();
        self.unflushed.fetch_sub(n, Ordering::SeqCst);
        for path in sealed {
            if let Err(e) = fs::remove_file(&path) {
                tracing::warn!(error = %e, "cannot delete a flushed usage journal segment");
            }
        }
        Ok(n)
    }

    /// Move everything appended so far into the store; returns how many entries.
    pub async fn flush(&self, store: &Store) -> Result<usize, JournalError> {
        let mut n = 0;
        loop {
            let moved = self.flush_some(store).await?;
            n += moved;
            if moved == 0 {
                return Ok(n);
            }
        }
    }

    /// Flush whenever something is appended, until the task is aborted. A store error is
    /// logged and retried with backoff (up to 5 s); the entries stay in the journal.
    /// Commits go at background priority while that keeps up ([`Pacing`]).
    pub fn spawn_flusher(self: &Arc<Self>, store: Store) -> tokio::task::JoinHandle<()> {
        let journal = self.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(50);
            let mut pacing = Pacing::default();
            loop {
                journal.wake.notified().await;
                // Let a few more requests join the batch: one commit for many rows.
                tokio::time::sleep(LINGER).await;
                loop {
                    let priority = pacing.priority(journal.unflushed(), Instant::now());
                    let started = Instant::now();
                    let flushed = journal.flush_some_at(&store, priority).await;
                    pacing.took(priority, started.elapsed(), Instant::now());
                    match flushed {
                        // Only a full batch (a backlog) is followed at once. What came
                        // during the commit waits for the next linger: draining to zero
                        // here chained commits of a row or two each (at 5,000 rps a
                        // commit outlasts the gap between requests), ~19 in each 50 ms,
                        // every one rewriting the same pages to the WAL.
                        Ok(n) => {
                            backoff = Duration::from_millis(50);
                            if n < FLUSH_MAX {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, pending = journal.unflushed(), "cannot move usage rows into the store; retrying");
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                }
            }
        })
    }

    /// Flush everything, refuse further appends, and delete the (flushed) segment. On a
    /// store error the journal is left on disk for the next gateway to replay.
    pub async fn close(&self, store: &Store) -> Result<(), JournalError> {
        self.lock().closed = true;
        self.flush(store).await?;
        let _one = self.flushing.lock().await;
        let inner = self.lock();
        if inner.pending.is_empty() && self.unflushed() == 0 {
            fs::remove_file(&inner.path).map_err(JournalError::Io)?;
        }
        Ok(())
    }

    /// Take up to [`FLUSH_MAX`] pending entries, sealing the segment first when it is
    /// full; the sealed segments are returned only with the batch that empties them.
    fn take(&self) -> (Vec<Entry>, Vec<PathBuf>) {
        let mut inner = self.lock();
        if inner.bytes >= self.segment_bytes && !inner.closed {
            let seq = inner.seq + 1;
            match create_segment(&self.dir, seq) {
                Ok((file, path)) => {
                    let old = std::mem::replace(&mut inner.path, path);
                    inner.file = file;
                    inner.seq = seq;
                    inner.bytes = 0;
                    inner.sealed.push(old);
                }
                Err(e) => tracing::warn!(error = %e, "cannot start a new usage journal segment"),
            }
        }
        if inner.pending.len() <= FLUSH_MAX {
            (
                std::mem::take(&mut inner.pending),
                std::mem::take(&mut inner.sealed),
            )
        } else {
            let rest = inner.pending.split_off(FLUSH_MAX);
            (std::mem::replace(&mut inner.pending, rest), Vec::new())
        }
    }

    /// Put back a batch the store did not take, ahead of what came since.
    fn give_back(&self, mut batch: Vec<Entry>, mut sealed: Vec<PathBuf>) {
        let mut inner = self.lock();
        batch.append(&mut inner.pending);
        inner.pending = batch;
        sealed.append(&mut inner.sealed);
        inner.sealed = sealed;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Appends leave `Inner` consistent at every step a panic could interrupt.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The most pending entries the flusher commits at background priority; a larger
/// backlog goes at normal priority, so the store keeps up whatever the load. 512 rows a
/// 50 ms linger is ~10,000 requests a second: past that, cores are likely busy enough to
/// starve a background commit, and the backlog such a stall leaves is then committed in
/// one burst (on one core at 20,000 rps, up to 4,096 rows a background commit stalled
/// for 100-300 ms, and the next seconds' p99 paid for it).
const BACKGROUND_MAX: usize = 512;
/// A background commit that took longer than this means the cores are busy: SQLite's
/// idle-priority thread got little of them (a commit of 250 rows is ~1.5 ms of CPU).
const BACKGROUND_SLOW: Duration = Duration::from_millis(100);
/// How long the flusher then commits at normal priority before trying background again;
/// doubled, up to [`NORMAL_AFTER_SLOW_MAX`], each time the next try is slow too (cores
/// that stay saturated would otherwise stall a commit every few seconds).
const NORMAL_AFTER_SLOW: Duration = Duration::from_secs(2);
const NORMAL_AFTER_SLOW_MAX: Duration = Duration::from_secs(64);

/// When the flusher commits at background priority ([`WritePriority::Background`]: on
/// Linux, SQLite's thread at `SCHED_IDLE`, so a commit never holds a core a request is
/// waiting for). At background priority a commit runs only on a core nothing else
/// wants, and on saturated cores it could wait for long while the backlog grows; so a
/// large backlog, or a background commit that was slow, sends the next commits at
/// normal priority for a while.
#[derive(Debug)]
struct Pacing {
    normal_until: Option<Instant>,
    /// How long the next slow background commit sends commits to normal priority.
    hold: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            normal_until: None,
            hold: NORMAL_AFTER_SLOW,
        }
    }
}

impl Pacing {
    /// The priority of the next commit, with `pending` entries waiting.
    fn priority(&self, pending: usize, now: Instant) -> WritePriority {
        let slowed = self.normal_until.is_some_and(|until| now < until);
        if pending <= BACKGROUND_MAX && !slowed {
            WritePriority::Background
        } else {
            WritePriority::Normal
        }
    }

    /// A commit at `priority` took `took`, ending `now`.
    fn took(&mut self, priority: WritePriority, took: Duration, now: Instant) {
        if priority != WritePriority::Background {
            return;
        }
        if took > BACKGROUND_SLOW {
            tracing::debug!(
                took_ms = took.as_millis() as u64,
                normal_for_s = self.hold.as_secs(),
                "a background usage commit was slow; committing at normal priority for a while"
            );
            self.normal_until = Some(now + self.hold);
            self.hold = (self.hold * 2).min(NORMAL_AFTER_SLOW_MAX);
        } else {
            self.hold = NORMAL_AFTER_SLOW;
        }
    }
}

/// A batch taken for the store: given back to the journal unless it was committed.
struct Taken<'a> {
    journal: &'a Journal,
    batch: Option<(Arc<Vec<Entry>>, Vec<PathBuf>)>,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if let Some((batch, sealed)) = self.batch.take() {
            // The store's writer may still hold the batch (this future was dropped while
            // it wrote): then the entries are copied back.
            let batch = Arc::try_unwrap(batch).unwrap_or_else(|shared| (*shared).clone());
            self.journal.give_back(batch, sealed);
        }
    }
}

/// The journal folder of database `db_file`.
fn dir_of(db_file: &Path) -> PathBuf {
    let mut name = db_file.as_os_str().to_owned();
    name.push(".usage-journal");
    PathBuf::from(name)
}

/// Whether database `db_file` has a journal with segments (a gateway runs, or one died).
pub fn has_segments(db_file: &Path) -> bool {
    segments(&dir_of(db_file)).is_ok_and(|s| !s.is_empty())
}

/// The segments in `dir`, by sequence number.
fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(JournalError::Io)? {
        let path = entry.map_err(JournalError::Io)?.path();
        let seq = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".jsonl"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(seq) = seq {
            found.push((seq, path));
        }
    }
    found.sort();
    Ok(found)
}

fn create_segment(dir: &Path, seq: u64) -> Result<(File, PathBuf), JournalError> {
    let path = dir.join(format!("{seq:016}.jsonl"));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(JournalError::Io)?;
    Ok((file, path))
}

/// Move the entries of segment `path` into the store. A last line cut short (a kill
/// mid-append: never acknowledged) is dropped; any other unreadable line stops the start,
/// naming the segment and line, since dropping it could lose an acknowledged request.
async fn replay(store: &Store, path: &Path, replayed: &mut Replayed) -> Result<(), JournalError> {
    let file = File::open(path).map_err(JournalError::Io)?;
    let mut reader = BufReader::new(file);
    let mut chunk = Vec::with_capacity(REPLAY_CHUNK);
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(JournalError::Io)?;
        if n == 0 {
            break;
        }
        number += 1;
        if line.last() != Some(&b'\n') {
            replayed.torn += 1;
            break;
        }
        match serde_json::from_slice::<Entry>(&line) {
            Ok(entry) => chunk.push(entry),
            Err(e) => {
                return Err(JournalError::Io(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "`{}` line {number} is not a usage entry ({e}); move the file aside to start without it",
                        path.display()
                    ),
                )));
            }
        }
        if chunk.len() == REPLAY_CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(REPLAY_CHUNK));
            replayed.entries += full.len();
            // Idempotent: a row already there is skipped with its spend.
            store.record_usages(Arc::new(full)).await?;
        }
    }
    replayed.entries += chunk.len();
    store.record_usages(Arc::new(chunk)).await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proximity_store::UsageRecord;

    fn entry(id: &str, cost: f64) -> Entry {
        Entry {
            usage: UsageRecord {
                id: id.into(),
                created_at: "2026-11-20T10:00:00.123456Z".parse().unwrap(),
                key_id: Some("k".into()),
                persona: Some("p".into()),
                tier: Some("t".into()),
                tool_id: "gpt".into(),
                served_by: Some("gpt".into()),
                tool_fingerprint: Some("fp".into()),
                workflow: "triage".into(),
                input_tokens: 12,
                output_tokens: 3,
                cost_usd: cost,
                latency_ms: 4,
                ttft_ms: Some(2),
                status: 200,
                error_class: None,
                stream: true,
                attempts: 1,
            },
            month: "2026-11".into(),
            scopes: vec!["key:k".into(), "persona:p".into()],
        }
    }

    async fn spent(store: &Store) -> f64 {
        store.budget_state("persona:p", "2026-11").await.unwrap().0
    }

    async fn ids(store: &Store) -> Vec<String> {
        let mut ids: Vec<String> = store
            .usage(None)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        ids.sort();
        ids
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn appended_entries_reach_the_store_once_and_close_removes_the_segment() {
        let t = proximity_store::testing::sqlite().await;
        let db = t.store.sqlite_file().unwrap().to_path_buf();
        let (j, replayed) = Journal::open(&t.store, &db).await.unwrap();
        assert_eq!(replayed, Replayed::default());
        j.append(entry("a", 0.25)).unwrap();
        j.append(entry("b", 0.5)).unwrap();
        assert_eq!(j.unflushed(), 2);
        assert!(ids(&t.store).await.is_empty(), "flushed before asked");
        assert_eq!(j.flush(&t.store).await.unwrap(), 2);
        assert_eq!(j.unflushed(), 0);
        let rows = t.store.usage(None).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows.iter().find(|r| r.id == "a"),
            Some(&entry("a", 0.25).usage)
        );
        assert!((spent(&t.store).await - 0.75).abs() < 1e-12);
        // Nothing new: a flush moves nothing and counts nothing twice.
        assert_eq!(j.flush(&t.store).await.unwrap(), 0);
        assert!((spent(&t.store).await - 0.75).abs() < 1e-12);
        j.close(&t.store).await.unwrap();
        assert!(files(j.dir()).is_empty());
        assert!(matches!(
            j.append(entry("c", 1.0)),
            Err(JournalError::Closed)
        ));
    }

    /// The flusher commits at background priority while the backlog is small and those
    /// commits are quick; a large backlog, or a slow background commit (the cores are
    /// busy), sends commits at normal priority for a while.
    #[test]
    fn commits_go_at_background_priority_while_that_keeps_up() {
        let t0 = Instant::now();
        let mut pacing = Pacing::default();
        assert_eq!(pacing.priority(250, t0), WritePriority::Background);
        assert_eq!(
            pacing.priority(BACKGROUND_MAX, t0),
            WritePriority::Background
        );
        assert_eq!(
            pacing.priority(BACKGROUND_MAX + 1, t0),
            WritePriority::Normal
        );
        // A quick background commit and a slow normal one change nothing.
        pacing.took(WritePriority::Background, Duration::from_millis(2), t0);
        pacing.took(WritePriority::Normal, Duration::from_secs(1), t0);
        assert_eq!(pacing.priority(250, t0), WritePriority::Background);
        // A slow background commit: normal priority until NORMAL_AFTER_SLOW has passed.
        pacing.took(WritePriority::Background, BACKGROUND_SLOW * 2, t0);
        assert_eq!(pacing.priority(1, t0), WritePriority::Normal);
        let later = t0 + NORMAL_AFTER_SLOW - Duration::from_millis(1);
        assert_eq!(pacing.priority(1, later), WritePriority::Normal);
        let t1 = t0 + NORMAL_AFTER_SLOW;
        assert_eq!(pacing.priority(1, t1), WritePriority::Background);
        // Slow again: twice as long at normal priority, and so on up to the maximum.
        pacing.took(WritePriority::Background, BACKGROUND_SLOW * 2, t1);
        assert_eq!(
            pacing.priority(1, t1 + NORMAL_AFTER_SLOW * 2 - Duration::from_millis(1)),
            WritePriority::Normal
        );
        let mut t = t1 + NORMAL_AFTER_SLOW * 2;
        assert_eq!(pacing.priority(1, t), WritePriority::Background);
        for _ in 0..10 {
            pacing.took(WritePriority::Background, BACKGROUND_SLOW * 2, t);
            t += NORMAL_AFTER_SLOW_MAX;
        }
        assert_eq!(
            pacing.priority(1, t - Duration::from_millis(1)),
            WritePriority::Normal
        );
        assert_eq!(pacing.priority(1, t), WritePriority::Background);
        // A quick background commit starts over at NORMAL_AFTER_SLOW.
        pacing.took(WritePriority::Background, Duration::from_millis(2), t);
        pacing.took(WritePriority::Background, BACKGROUND_SLOW * 2, t);
        assert_eq!(
            pacing.priority(1, t + NORMAL_AFTER_SLOW),
            WritePriority::Background
        );
    }

    /// Requests arriving faster than a commit takes: the flusher commits once a linger,
    /// not once for whatever arrived during the previous commit (draining to zero made
    /// ~19 commits of a row or two in each 50 ms at 5,000 rps).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_flusher_commits_once_a_linger_under_a_steady_trickle() {
        let t = proximity_store::testing::sqlite().await;
        let db = t.store.sqlite_file().unwrap().to_path_buf();
        let (j, _) = Journal::open(&t.store, &db).await.unwrap();
        let j = Arc::new(j);
        let flusher = j.spawn_flusher(t.store.clone());
        let started = std::time::Instant::now();
        let n = 2_000;
        for i in 0..n {
            j.append(entry(&format!("r{i}"), 0.001)).unwrap();
            if i % 10 == 9 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let appending = started.elapsed();
        j.flush(&t.store).await.unwrap();
        flusher.abort();
        assert_eq!(ids(&t.store).await.len(), n);
        // Each commit but a backlog's and the last `flush` follows a linger.
        let lingers = (appending.as_millis() / LINGER.as_millis()) as usize;
        assert!(
            j.commits() <= lingers + 3,
            "{} commits in {appending:?} ({lingers} lingers)",
            j.commits()
        );
    }

    #[tokio::test]
    async fn a_journal_left_by_a_killed_gateway_is_replayed_once_torn_line_and_all() {
        let t = proximity_store::testing::sqlite().await;
        let db = t.store.sqlite_file().unwrap().to_path_buf();
        let (j, _) = Journal::open(&t.store, &db).await.unwrap();
        j.append(entry("a", 0.25)).unwrap();
        // "a" reaches the store; "b" and "c" are acknowledged only in the journal.
        j.flush(&t.store).await.unwrap();
        j.append(entry("b", 0.5)).unwrap();
        j.append(entry("c", 1.0)).unwrap();
        let dir = j.dir().to_path_buf();
        let segment = dir.join(files(&dir).pop().unwrap());
        drop(j);
        // The kill came in the middle of a fourth append.
        let mut line = serde_json::to_vec(&entry("d", 8.0)).unwrap();
        line.truncate(line.len() / 2);
        OpenOptions::new()
            .append(true)
            .open(&segment)
            .unwrap()
            .write_all(&line)
            .unwrap();

        let (j, replayed) = Journal::open(&t.store, &db).await.unwrap();
        assert_eq!(
            replayed,
            Replayed {
                entries: 3,
                segments: 1,
                torn: 1
            }
        );
        assert_eq!(ids(&t.store).await, ["a", "b", "c"]);
        // "a" was in the store already: its cost is not counted twice.
        assert!((spent(&t.store).await - 1.75).abs() < 1e-12);
        assert!(!segment.exists(), "the replayed segment is gone");
        assert_eq!(files(&dir).len(), 1, "one new segment: {:?}", files(&dir));
        drop(j);
        let (_, again) = Journal::open(&t.store, &db).await.unwrap();
        assert_eq!(again.entries, 0);
        assert!((spent(&t.store).await - 1.75).abs() < 1e-12);
    }

    #[tokio::test]
    async fn an_unreadable_line_stops_the_start_naming_segment_and_line() {
        let t = proximity_store::testing::sqlite().await;
        let db = t.store.sqlite_file().unwrap().to_path_buf();
        let dir = dir_of(&db);
        fs::create_dir_all(&dir).unwrap();
        let mut text = serde_json::to_string(&entry("a", 0.25)).unwrap();
        text.push_str("\n{\"not\": \"an entry\"}\n");
        let segment = dir.join(format!("{:016}.jsonl", 7));
        fs::write(&segment, text).unwrap();
        let err = Journal::open(&t.store, &db)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("0000000000000007.jsonl") && err.contains("line 2"),
            "{err}"
        );
        assert!(segment.exists(), "kept for the operator");
    }

    #[tokio::test]
    async fn full_segments_are_sealed_and_deleted_once_flushed() {
        let t = proximity_store::testing::sqlite().await;
        let db = t.store.sqlite_file().unwrap().to_path_buf();
        let (mut j, _) = Journal::open(&t.store, &db).await.unwrap();
        j.segment_bytes = 1;
        for i in 0..3 {
            j.append(entry(&format!("r{i}"), 0.1)).unwrap();
            j.flush(&t.store).await.unwrap();
            assert_eq!(files(j.dir()).len(), 1, "{:?}", files(j.dir()));
        }
        assert_eq!(ids(&t.store).await, ["r0", "r1", "r2"]);
        assert_eq!(files(j.dir()), [format!("{:016}.jsonl", 4)]);
    }

    #[tokio::test]
    async fn a_store_that_refuses_keeps_the_entries_for_the_next_flush() {
        let t = proximity_store::testing::sqlite().await;
        let db = t.store.sqlite_file().unwrap().to_path_buf();
        let (j, _) = Journal::open(&t.store, &db).await.unwrap();
        j.append(entry("a", 0.25)).unwrap();
        let closed = Store::connect(&t.url).await.unwrap();
        closed.close().await;
        assert!(j.flush(&closed).await.is_err());
        assert_eq!(j.unflushed(), 1);
        j.append(entry("b", 0.5)).unwrap();
        assert_eq!(j.flush(&t.store).await.unwrap(), 2);
        assert_eq!(ids(&t.store).await, ["a", "b"]);
    }

    #[tokio::test]
    async fn a_flush_dropped_mid_write_gives_its_batch_back() {
        let t = proximity_store::testing::sqlite().await;
        let db = t.store.sqlite_file().unwrap().to_path_buf();
        let (j, _) = Journal::open(&t.store, &db).await.unwrap();
        j.append(entry("a", 0.25)).unwrap();
        j.append(entry("b", 0.5)).unwrap();
        // Polled until it waits on the store, then dropped: an aborted flusher task.
        let cut = tokio::time::timeout(Duration::ZERO, j.flush_some(&t.store)).await;
        assert!(cut.is_err(), "the flush finished within one poll");
        assert_eq!(j.unflushed(), 2);
        j.close(&t.store).await.unwrap();
        assert_eq!(ids(&t.store).await, ["a", "b"]);
        assert!((spent(&t.store).await - 0.75).abs() < 1e-12);
        assert!(files(j.dir()).is_empty());
    }
}
