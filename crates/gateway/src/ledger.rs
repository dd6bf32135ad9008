//! Where a request's budget reservation lives while it is served, and how its spend is
//! settled.
//!
//! - [`Ledger::Shared`]: in the store, one guarded transaction to reserve and one to
//!   settle, so any number of gateways on one database share the budgets (PostgreSQL, or
//!   SQLite with `--shared-limits`).
//! - [`Ledger::Local`]: a gateway that owns its SQLite file holds reservations in memory
//!   (they only live as long as their requests anyway) and appends each usage row with
//!   its spend to its [`Journal`], which a background task moves into the store in group
//!   commits. Spend stays as durable as the usage rows, and nothing is left reserved by a
//!   gateway that died. It owns the file through an exclusive lock beside it, so a
//!   second gateway on the same file cannot start without `--shared-limits`; gateways
//!   with `--shared-limits` hold a shared lock.
//!
//! Either way a reservation is all-or-nothing across the request's budget scopes, and
//! `spent + reserved + amount <= limit` is checked and applied atomically, so concurrent
//! requests together never spend more than a budget plus what the last admitted
//! requests cost beyond their reservations (nothing: reservations are upper bounds).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use proximity_store::{BudgetLine, Store, StoreError, UsageRecord};

use crate::budget::{self, month};
use crate::error::ApiError;
use crate::journal::{self, Entry, Journal, JournalError};

/// Why a ledger could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("another gateway serves `{0}` with its budgets in memory; start every gateway on one SQLite file with --shared-limits")]
    Owned(PathBuf),
    #[error("gateways with --shared-limits serve `{0}`; start this one with --shared-limits too")]
    Shared(PathBuf),
    #[error("cannot open the lock file `{path}`: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// The budget ledger of a gateway process.
pub enum Ledger {
    Shared(Shared),
    Local(Local),
}

/// Reservations in the store.
pub struct Shared {
    store: Store,
    _lock: Option<File>,
}

/// Reservations in this process; spend in the store, through the journal when the store
/// is a file.
pub struct Local {
    store: Store,
    state: Mutex<State>,
    journal: Option<Arc<Journal>>,
    flusher: Option<tokio::task::JoinHandle<()>>,
    _lock: Option<File>,
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Some(f) = &self.flusher {
            f.abort();
        }
    }
}

#[derive(Default)]
struct State {
    /// Spent (as loaded, plus what this process settled) and reserved, by (scope, month).
    accounts: HashMap<(String, String), Account>,
    /// The reservations of requests in flight, by request id.
    holds: HashMap<String, Hold>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Account {
    spent: f64,
    reserved: f64,
}

struct Hold {
    month: String,
    scopes: Vec<String>,
    amount: f64,
}

impl Ledger {
    /// Budgets in the store (`shared`, or always on PostgreSQL), else in this process.
    /// A gateway owning a SQLite file first moves what a killed predecessor left in the
    /// usage journal into the store, then keeps a journal of its own (must be called
    /// within a Tokio runtime: it starts the journal's flusher).
    pub async fn open(store: Store, shared: bool) -> Result<Self, LedgerError> {
        let file = store.sqlite_file().map(Path::to_path_buf);
        if shared || store.backend() == proximity_store::Backend::Postgres {
            let lock = match file.as_deref() {
                Some(f) => Some(open_shared(&store, f).await?),
                None => None,
            };
            return Ok(Self::Shared(Shared { store, _lock: lock }));
        }
        let lock = match file.as_deref() {
            Some(f) => Some(lock_patiently(f).await?),
            None => None,
        };
        let journal = match file.as_deref() {
            Some(f) => Some(Arc::new(Journal::open(&store, f).await?.0)),
            None => None,
        };
        let flusher = journal.as_ref().map(|j| j.spawn_flusher(store.clone()));
        Ok(Self::Local(Local {
            store,
            state: Mutex::new(State::default()),
            journal,
            flusher,
            _lock: lock,
        }))
    }

    /// Usage rows acknowledged but not yet in the store (in the journal).
    pub fn usage_pending(&self) -> usize {
        match self {
            Self::Local(Local {
                journal: Some(j), ..
            }) => j.unflushed(),
            _ => 0,
        }
    }

    /// Wait until every usage row acknowledged so far is in the store.
    pub async fn flush(&self) -> Result<(), JournalError> {
        if let Self::Local(Local {
            journal: Some(j),
            store,
            ..
        }) = self
        {
            j.flush(store).await?;
        }
        Ok(())
    }

    /// At shutdown, after the last request: move the journal into the store and remove
    /// it (left on disk, for the next start, if the store fails).
    pub async fn close(&self) -> Result<(), JournalError> {
        if let Self::Local(l) = self {
            if let Some(f) = &l.flusher {
                f.abort();
            }
            if let Some(j) = &l.journal {
                j.close(&l.store).await?;
            }
        }
        Ok(())
    }

    /// Whether reservations are held in this process.
    pub fn is_local(&self) -> bool {
        matches!(self, Self::Local(_))
    }

    /// Reserve `amount` in every budget of the request; 402 when one has no room left.
    /// Free requests and requests without budgets reserve nothing (`None`), but still
    /// stop once a budget is spent.
    pub async fn reserve(
        &self,
        id: &str,
        lines: &[BudgetLine],
        amount: f64,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, ApiError> {
        match self {
            Self::Shared(s) => budget::reserve(&s.store, id, lines, amount, now).await,
            Self::Local(l) => l.reserve(id, lines, amount, now).await,
        }
    }

    /// Spent and reserved US dollars of each budget of `lines` this month, in order.
    pub async fn balances(
        &self,
        lines: &[BudgetLine],
        now: DateTime<Utc>,
    ) -> Result<Vec<(f64, f64)>, ApiError> {
        let month = month(now);
        let mut out = Vec::with_capacity(lines.len());
        match self {
            Self::Shared(s) => {
                for line in lines {
                    let state = s.store.budget_state(&line.scope, &month).await;
                    out.push(state.map_err(|e| {
                        tracing::error!(error = %e, "budget store failed");
                        ApiError::Internal
                    })?);
                }
            }
            Self::Local(l) => {
                l.load(lines, &month).await?;
                let state = l.lock_state();
                for line in lines {
                    let a = state
                        .accounts
                        .get(&(line.scope.clone(), month.clone()))
                        .copied()
                        .unwrap_or_default();
                    out.push((a.spent, a.reserved));
                }
            }
        }
        Ok(out)
    }

    /// The store, where reservations live in the shared ledger.
    pub fn shared_store(&self) -> Option<&Store> {
        match self {
            Self::Shared(s) => Some(&s.store),
            Self::Local(_) => None,
        }
    }

    /// Write the usage row of a request and settle its reservation at the real cost,
    /// durably, before returning.
    pub async fn settle(
        &self,
        record: &UsageRecord,
        reservation: Option<&str>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Shared(s) => s.store.settle(record, reservation).await,
            Self::Local(l) => l.settle(record, reservation).await,
        }
    }
}

impl Local {
    async fn reserve(
        &self,
        id: &str,
        lines: &[BudgetLine],
        amount: f64,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, ApiError> {
        if lines.is_empty() {
            return Ok(None);
        }
        let month = month(now);
        self.load(lines, &month).await?;
        let mut state = self.lock_state();
        for line in lines {
            let account = state
                .accounts
                .get(&(line.scope.clone(), month.clone()))
                .copied()
                .unwrap_or_default();
            let refused = if amount > 0.0 {
                account.spent + account.reserved + amount > line.limit_usd
            } else {
                account.spent >= line.limit_usd
            };
            if refused {
                return Err(ApiError::BudgetExhausted {
                    scope: line.scope.clone(),
                    limit_usd: line.limit_usd,
                    spent_usd: account.spent,
                    reserved_usd: account.reserved,
                });
            }
        }
        if amount <= 0.0 {
            return Ok(None);
        }
        let mut scopes: Vec<String> = lines.iter().map(|l| l.scope.clone()).collect();
        scopes.sort();
        scopes.dedup();
        for scope in &scopes {
            let account = state
                .accounts
                .entry((scope.clone(), month.clone()))
                .or_default();
            account.reserved += amount;
        }
        state.holds.insert(
            id.to_owned(),
            Hold {
                month,
                scopes,
                amount,
            },
        );
        Ok(Some(id.to_owned()))
    }

    /// Load the stored spend of the scopes this process has not seen this month. Only
    /// this process adds spend to them afterwards (it owns the file), so the loaded
    /// figure plus its own settlements stays exact.
    async fn load(&self, lines: &[BudgetLine], month: &str) -> Result<(), ApiError> {
        for line in lines {
            let key = (line.scope.clone(), month.to_owned());
            if self.lock_state().accounts.contains_key(&key) {
                continue;
            }
            let (spent, _) = self
                .store
                .budget_state(&line.scope, month)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "budget store failed");
                    ApiError::Internal
                })?;
            // Another request may have loaded it meanwhile: keep the first.
            self.lock_state().accounts.entry(key).or_insert(Account {
                spent,
                reserved: 0.0,
            });
        }
        Ok(())
    }

    async fn settle(
        &self,
        record: &UsageRecord,
        reservation: Option<&str>,
    ) -> Result<(), StoreError> {
        let hold = reservation.and_then(|id| self.lock_state().holds.remove(id));
        let (month, scopes) = match &hold {
            Some(h) => (h.month.clone(), h.scopes.clone()),
            None => (month(record.created_at), Vec::new()),
        };
        let written = match &self.journal {
            Some(journal) => journal
                .append(Entry {
                    usage: record.clone(),
                    month,
                    scopes,
                })
                .map_err(|e| StoreError::Write(e.to_string())),
            None => self.store.record_usage(record, &month, &scopes).await,
        };
        // The hold is released whatever happened; the spend counts only once durable.
        let mut state = self.lock_state();
        if let Some(hold) = hold {
            for scope in &hold.scopes {
                if let Some(account) = state.accounts.get_mut(&(scope.clone(), hold.month.clone()))
                {
                    account.reserved = (account.reserved - hold.amount).max(0.0);
                    if written.is_ok() {
                        account.spent += record.cost_usd;
                    }
                }
            }
        }
        written
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way
        // that matters more than refusing every request would.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Take the lock beside database `file`: exclusive for a gateway holding budgets in
/// memory, shared for gateways sharing them through the store.
fn lock(file: &Path, exclusive: bool) -> Result<File, LedgerError> {
    let mut name = file.as_os_str().to_owned();
    name.push(".gateway-lock");
    let path = PathBuf::from(name);
    let handle = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| LedgerError::Lock {
            path: path.clone(),
            source,
        })?;
    let taken = if exclusive {
        handle.try_lock()
    } else {
        handle.try_lock_shared()
    };
    match taken {
        Ok(()) => Ok(handle),
        Err(std::fs::TryLockError::WouldBlock) if exclusive => {
            // Held shared by --shared-limits gateways, or exclusively by another one.
            match handle.try_lock_shared() {
                Ok(()) => Err(LedgerError::Shared(file.to_path_buf())),
                Err(_) => Err(LedgerError::Owned(file.to_path_buf())),
            }
        }
        Err(std::fs::TryLockError::WouldBlock) => Err(LedgerError::Owned(file.to_path_buf())),
        Err(std::fs::TryLockError::Error(source)) => Err(LedgerError::Lock { path, source }),
    }
}

/// The exclusive lock of a gateway holding budgets in memory. A command moving an
/// orphaned journal into the store ([`recover_journal`]) holds it for a moment, so a
/// refusal is retried for up to two seconds.
async fn lock_patiently(file: &Path) -> Result<File, LedgerError> {
    let mut tries = 0;
    loop {
        match lock(file, true) {
            Err(LedgerError::Owned(_) | LedgerError::Shared(_)) if tries < 20 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

/// The shared lock of a gateway sharing limits through the store. The first of them
/// (nobody holds the lock) first moves what a gateway that owned the file left in its
/// journal into the store, holding the lock exclusively meanwhile.
async fn open_shared(store: &Store, file: &Path) -> Result<File, LedgerError> {
    match lock(file, true) {
        Ok(handle) => {
            if journal::has_segments(file) {
                let (j, _) = Journal::open(store, file).await?;
                j.close(store).await?;
            }
            // Converts this handle's exclusive lock to a shared one.
            handle.try_lock_shared().map_err(|e| LedgerError::Lock {
                path: file.to_path_buf(),
                source: match e {
                    std::fs::TryLockError::Error(e) => e,
                    std::fs::TryLockError::WouldBlock => std::io::ErrorKind::WouldBlock.into(),
                },
            })?;
            Ok(handle)
        }
        Err(LedgerError::Owned(_) | LedgerError::Shared(_)) => lock(file, false),
        Err(e) => Err(e),
    }
}

/// Move the usage journal of a gateway that was killed into the store, when no gateway
/// serves the file now (a running one owns its journal). For commands that read usage:
/// they then see every request a gateway acknowledged. `None` when there was nothing to
/// do or a gateway is running.
pub async fn recover_journal(store: &Store) -> Result<Option<journal::Replayed>, LedgerError> {
    let Some(file) = store.sqlite_file() else {
        return Ok(None);
    };
    if !journal::has_segments(file) {
        return Ok(None);
    }
    let _lock = match lock(file, true) {
        Ok(l) => l,
        Err(LedgerError::Owned(_) | LedgerError::Shared(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let (j, replayed) = Journal::open(store, file).await?;
    j.close(store).await?;
    Ok(Some(replayed))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn record(id: &str, cost: f64, now: DateTime<Utc>) -> UsageRecord {
        proximity_store::testing::usage_record(id, cost, now)
    }

    fn line(scope: &str, limit_usd: f64) -> BudgetLine {
        BudgetLine {
            scope: scope.into(),
            limit_usd,
        }
    }

    #[tokio::test]
    async fn local_holds_stop_at_the_limit_and_spend_survives_a_restart() {
        let t = proximity_store::testing::sqlite().await;
        let now = Utc::now();
        let lines = [line("persona:p", 1.0), line("key:k", 0.7)];
        {
            let ledger = Ledger::open(t.store.clone(), false).await.unwrap();
            assert!(ledger.is_local());
            let a = ledger.reserve("a", &lines, 0.4, now).await.unwrap();
            assert_eq!(a.as_deref(), Some("a"));
            // The key's 0.7 cannot hold a second 0.4; nothing of it is reserved.
            let refused = ledger.reserve("b", &lines, 0.4, now).await.unwrap_err();
            assert!(
                matches!(&refused, ApiError::BudgetExhausted { scope, reserved_usd, .. }
                    if scope == "key:k" && (*reserved_usd - 0.4).abs() < 1e-9),
                "{refused:?}"
            );
            ledger
                .settle(&record("a", 0.1, now), a.as_deref())
                .await
                .unwrap();
            // 0.1 spent, nothing reserved: 0.6 more fits the key, 0.61 does not.
            assert!(ledger.reserve("c", &lines, 0.61, now).await.is_err());
            let c = ledger.reserve("c", &lines, 0.6, now).await.unwrap();
            assert!(c.is_some());
            // Dropped here with "c" in flight and "a" perhaps only in the journal, as a
            // gateway killed mid-request.
        }
        // A new process moves the journal into the store, and starts from the stored
        // spend, with nothing reserved.
        let ledger = Ledger::open(t.store.clone(), false).await.unwrap();
        assert_eq!(
            t.store
                .budget_state("persona:p", &month(now))
                .await
                .unwrap(),
            (0.1, 0.0)
        );
        assert!(ledger.reserve("d", &lines, 0.6, now).await.is_ok());
        assert!(ledger.reserve("e", &lines, 0.01, now).await.is_err());
        // Free requests pass until a budget is spent.
        assert_eq!(ledger.reserve("f", &lines, 0.0, now).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_second_owner_of_a_sqlite_file_is_refused() {
        let t = proximity_store::testing::sqlite().await;
        let first = Ledger::open(t.store.clone(), false).await.unwrap();
        let err = Ledger::open(t.store.clone(), false).await.err().unwrap();
        assert!(matches!(err, LedgerError::Owned(_)), "{err}");
        let err = Ledger::open(t.store.clone(), true).await.err().unwrap();
        assert!(matches!(err, LedgerError::Owned(_)), "{err}");
        drop(first);
        let shared = Ledger::open(t.store.clone(), true).await.unwrap();
        let also = Ledger::open(t.store.clone(), true).await.unwrap();
        assert!(!shared.is_local() && !also.is_local());
        let err = Ledger::open(t.store.clone(), false).await.err().unwrap();
        assert!(matches!(err, LedgerError::Shared(_)), "{err}");
    }
}
