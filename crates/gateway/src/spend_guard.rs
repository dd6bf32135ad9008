//! What keeps spend within a budget beyond the [`Ledger`]'s atomic reservations, which
//! only hold while upstreams honour `max_tokens` and while no sweeper takes a live
//! reservation for a dead gateway's:
//!
//! - **Learning real costs.** Each budget scope remembers the largest ratio of a
//!   request's real cost to its reservation seen by this process; later requests reserve
//!   their bound times that ratio. An upstream that bills 200 tokens when asked for 1
//!   makes the next reservations 200 times larger.
//! - **One at a time near the edge.** While a scope's ratio is unknown, or its remaining
//!   budget is under [`EDGE_RESERVATIONS`] reservations, a request is admitted only when
//!   no other holds a reservation on it, and then reserves the whole remainder. A greedy
//!   upstream then overspends by at most one request's real cost. The others wait (up
//!   to their deadline or 10 s, looking again at growing intervals, then 429).
//! - **Renewing live reservations.** With reservations in the store, every live one is
//!   renewed periodically, so `release_reservations_before` (the stale-reservation
//!   sweeper of any gateway on the store) never releases a request still in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use proximity_store::{BudgetLine, StoreError, UsageRecord};

use crate::error::ApiError;
use crate::ledger::Ledger;

/// Below this many (learned-size) reservations of remaining budget, a scope admits one
/// request at a time.
pub const EDGE_RESERVATIONS: f64 = 4.0;

/// How soon a request waiting for its turn near a budget's edge first looks again; each
/// look doubles the wait, up to [`WAIT_STEP_MAX`]. Every look reads the budget from the
/// store: 600 requests waiting at a fixed 10 ms on three gateways sharing PostgreSQL
/// kept it too busy to settle the one request admitted, and the waiters ran into the
/// clients' timeouts.
const WAIT_STEP: Duration = Duration::from_millis(10);

/// The longest wait between two looks.
const WAIT_STEP_MAX: Duration = Duration::from_millis(250);

/// The longest a request waits for its turn near a budget's edge before it is answered
/// 429 (sooner when its deadline comes first): a client is better served by a quick
/// "try again" than by a request held open while the budget runs out.
const EDGE_WAIT_MAX: Duration = Duration::from_secs(10);

/// The guard of one gateway process.
pub struct SpendGuard {
    inner: Arc<Inner>,
    renewer: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Default)]
struct Inner {
    /// Reservations of requests in flight, by reservation id.
    live: Mutex<HashMap<String, Live>>,
    /// The largest real cost / reservation seen per budget scope.
    ratios: Mutex<HashMap<String, f64>>,
}

struct Live {
    scopes: Vec<String>,
    /// The request's own bound (before learning and before taking a remainder).
    bound: f64,
}

impl Drop for SpendGuard {
    fn drop(&mut self) {
        if let Some(r) = &self.renewer {
            r.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SpendGuard {
    /// A guard over `ledger`; with reservations in the store it renews the live ones
    /// every `renew_every` (must be called within a Tokio runtime).
    pub fn new(ledger: &Ledger, renew_every: Duration) -> Self {
        let inner = Arc::new(Inner::default());
        let renewer = ledger.shared_store().map(|store| {
            let store = store.clone();
            let inner = inner.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(renew_every).await;
                    let ids: Vec<String> = lock(&inner.live).keys().cloned().collect();
                    if let Err(e) = store.renew_reservations(&ids, Utc::now()).await {
                        tracing::error!(error = %e, "cannot renew live budget reservations");
                    }
                }
            })
        });
        Self { inner, renewer }
    }

    /// Reservations of requests in flight.
    pub fn live(&self) -> usize {
        lock(&self.inner.live).len()
    }

    /// Reserve for a request whose cost is at most `bound` by its `max_tokens`: 402 when
    /// a budget cannot fit it even alone, 429 when its turn near a budget's edge did not
    /// come before `until`.
    pub async fn reserve(
        &self,
        ledger: &Ledger,
        id: &str,
        lines: &[BudgetLine],
        bound: f64,
        now: DateTime<Utc>,
        until: Instant,
    ) -> Result<Option<String>, ApiError> {
        if lines.is_empty() || bound <= 0.0 {
            return ledger.reserve(id, lines, bound, now).await;
        }
        let learned: Vec<Option<f64>> = {
            let ratios = lock(&self.inner.ratios);
            lines
                .iter()
                .map(|l| ratios.get(&l.scope).copied())
                .collect()
        };
        let ratio = learned.iter().flatten().fold(1.0_f64, |a, b| a.max(*b));
        let expected = bound * ratio;
        let until = until.min(Instant::now() + EDGE_WAIT_MAX);
        let mut step = WAIT_STEP;
        loop {
            let balances = ledger.balances(lines, now).await?;
            let mut edge = false;
            let mut busy = false;
            let mut room = f64::INFINITY;
            for ((line, (spent, reserved)), known) in lines.iter().zip(&balances).zip(&learned) {
                let free = line.limit_usd - spent;
                if free < bound {
                    return Err(ApiError::BudgetExhausted {
                        scope: line.scope.clone(),
                        limit_usd: line.limit_usd,
                        spent_usd: *spent,
                        reserved_usd: *reserved,
                    });
                }
                if known.is_none() || free < EDGE_RESERVATIONS * expected {
                    edge = true;
                    busy |= *reserved > 0.0;
                    room = room.min(free);
                } else {
                    room = room.min(free - reserved);
                }
            }
            let amount = if edge { room } else { expected.min(room) };
            if !busy && amount >= bound {
                match ledger.reserve(id, lines, amount, now).await {
                    Ok(Some(r)) => {
                        lock(&self.inner.live).insert(
                            r.clone(),
                            Live {
                                scopes: lines.iter().map(|l| l.scope.clone()).collect(),
                                bound,
                            },
                        );
                        return Ok(Some(r));
                    }
                    Ok(None) => return Ok(None),
                    // Another gateway took the room between the look and the reservation.
                    Err(ApiError::BudgetExhausted { .. }) if edge => {}
                    Err(e) => return Err(e),
                }
            } else if !edge {
                // Far from the edge, but requests in flight hold the room: as before.
                return ledger.reserve(id, lines, bound, now).await;
            }
            if Instant::now() + step >= until {
                return Err(ApiError::BudgetBusy {
                    scope: lines
                        .iter()
                        .map(|l| l.scope.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            tokio::time::sleep(step).await;
            step = (step * 2).min(WAIT_STEP_MAX);
        }
    }

    /// Settle a request (see [`Ledger::settle`]) and learn from its real cost.
    pub async fn settle(
        &self,
        ledger: &Ledger,
        record: &UsageRecord,
        reservation: Option<&str>,
    ) -> Result<(), StoreError> {
        let live = reservation.and_then(|r| lock(&self.inner.live).remove(r));
        let written = ledger.settle(record, reservation).await;
        if let Some(live) = live {
            if written.is_ok() && record.status == 200 && live.bound > 0.0 {
                let ratio = record.cost_usd / live.bound;
                let mut ratios = lock(&self.inner.ratios);
                for scope in live.scopes {
                    let r = ratios.entry(scope).or_insert(ratio);
                    *r = r.max(ratio);
                }
            }
        }
        written
    }
}
