//! Token buckets kept in the database, so that every gateway on one store enforces one
//! rate limit together instead of each enforcing the whole limit.
//!
//! A bucket is one `rate_buckets` row: its level at `updated_at` (Unix seconds). A take is
//! one statement — an upsert whose `DO UPDATE` refills the level by the time elapsed
//! times the rate, capped at the capacity, and takes only `WHERE` the refilled level
//! holds what is needed — so two gateways can never both take the last request: the
//! database serialises the statements on the row (PostgreSQL re-checks the guard on the
//! latest row version; SQLite has one writer). Nothing is read first and written later.
//!
//! Time comes from the caller's clock; `updated_at` never moves back, so a gateway whose
//! clock is behind refills nothing until it catches up and one whose clock is ahead
//! refills at most its lead times the rate once. Adjustments ([`Store::rate_adjust`])
//! apply a debit (a token bucket may go into debt) or a refund (capped at capacity).

use crate::{Result, Store};

/// One bucket: its scope (the row's key), how much it holds when full, and how fast it
/// refills.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// Any string naming the bucket, e.g. `tier:a/persona:p/requests`.
    pub scope: String,
    /// The most the bucket holds (a new bucket starts full).
    pub capacity: f64,
    /// Refill rate, units per second.
    pub per_second: f64,
}

/// What a take did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Take {
    /// Taken; the level left.
    Taken { level: f64 },
    /// Not enough in the bucket: nothing was taken. `wait` is how many seconds until the
    /// level reaches what was needed at the bucket's rate (others' takes aside).
    Refused { level: f64, wait: f64 },
}

impl Take {
    pub fn taken(&self) -> bool {
        matches!(self, Take::Taken { .. })
    }
}

/// The level refilled to `now`, in SQL over the old row (`rate_buckets.*`) with `$2`
/// capacity, `$3` rate and `$4` now.
const REFILLED: &str = "(CASE WHEN rate_buckets.level
        + (CASE WHEN $4 > rate_buckets.updated_at THEN $4 - rate_buckets.updated_at ELSE 0 END) * $3
        > $2 THEN $2
     ELSE rate_buckets.level
        + (CASE WHEN $4 > rate_buckets.updated_at THEN $4 - rate_buckets.updated_at ELSE 0 END) * $3
     END)";

/// The later of the stored time and `$4`.
const LATER: &str =
    "(CASE WHEN $4 > rate_buckets.updated_at THEN $4 ELSE rate_buckets.updated_at END)";

impl Store {
    /// Refill `bucket` to `now` (Unix seconds) and take `amount` from it if its level is
    /// at least `need`, in one atomic statement. A bucket seen for the first time starts
    /// full. `amount` may exceed `need` (a token bucket admits while not in debt and
    /// then takes the request's estimate, going into debt).
    pub async fn rate_take(
        &self,
        bucket: &Bucket,
        need: f64,
        amount: f64,
        now: f64,
    ) -> Result<Take> {
        if bucket.capacity < need {
            return Ok(Take::Refused {
                level: bucket.capacity,
                wait: f64::INFINITY,
            });
        }
        let sql = format!(
            "INSERT INTO rate_buckets (scope, level, updated_at) VALUES ($1, $2 - $6, $4)
             ON CONFLICT (scope) DO UPDATE SET level = {REFILLED} - $6, updated_at = {LATER}
             WHERE {REFILLED} >= $5
             RETURNING level"
        );
        let taken: Option<(f64,)> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(&bucket.scope)
                .bind(bucket.capacity)
                .bind(bucket.per_second)
                .bind(now)
                .bind(need)
                .bind(amount)
                .fetch_optional(pool)
                .await?
        });
        if let Some((level,)) = taken {
            return Ok(Take::Taken { level });
        }
        // Refused: read the level only to say how long to wait (the decision is made).
        let level = self
            .rate_level(bucket, now)
            .await?
            .unwrap_or(bucket.capacity);
        let wait = if bucket.per_second > 0.0 {
            ((need - level) / bucket.per_second).max(0.0)
        } else {
            f64::INFINITY
        };
        Ok(Take::Refused { level, wait })
    }

    /// Add `delta` to `bucket` after refilling it to `now`: negative to debit (the level
    /// may go below zero), positive to refund (capped at capacity). A bucket never taken
    /// from is left alone.
    pub async fn rate_adjust(&self, bucket: &Bucket, delta: f64, now: f64) -> Result<()> {
        let sql = format!(
            "UPDATE rate_buckets
             SET level = CASE WHEN {REFILLED} + $5 > $2 THEN $2 ELSE {REFILLED} + $5 END,
                 updated_at = {LATER}
             WHERE scope = $1"
        );
        with_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(&bucket.scope)
                .bind(bucket.capacity)
                .bind(bucket.per_second)
                .bind(now)
                .bind(delta)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The level of `bucket` refilled to `now`; `None` when it was never taken from.
    pub async fn rate_level(&self, bucket: &Bucket, now: f64) -> Result<Option<f64>> {
        let row: Option<(f64, f64)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT level, updated_at FROM rate_buckets WHERE scope = $1")
                .bind(&bucket.scope)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(level, at)| {
            (level + (now - at).max(0.0) * bucket.per_second).min(bucket.capacity)
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn bucket(scope: &str, capacity: f64, per_minute: f64) -> Bucket {
        Bucket {
            scope: scope.into(),
            capacity,
            per_second: per_minute / 60.0,
        }
    }

    #[tokio::test]
    async fn takes_stop_at_capacity_and_refill_with_time() {
        for s in crate::testing::stores().await {
            crate::testing::on(&s);
            let b = bucket("t/p/requests", 2.0, 2.0);
            let t0 = 1_000_000.0;
            assert_eq!(
                s.rate_take(&b, 1.0, 1.0, t0).await.unwrap(),
                Take::Taken { level: 1.0 }
            );
            assert!(s.rate_take(&b, 1.0, 1.0, t0).await.unwrap().taken());
            let Take::Refused { level, wait } = s.rate_take(&b, 1.0, 1.0, t0).await.unwrap() else {
                panic!("a third request within the same instant was admitted");
            };
            assert_eq!(level, 0.0);
            assert!((wait - 30.0).abs() < 1e-9, "{wait}");
            // Another scope is another bucket.
            assert!(s
                .rate_take(&bucket("t/q/requests", 2.0, 2.0), 1.0, 1.0, t0)
                .await
                .unwrap()
                .taken());
            // 2 per minute: one more after 30 s, not after 29 s.
            assert!(!s.rate_take(&b, 1.0, 1.0, t0 + 29.0).await.unwrap().taken());
            assert!(s.rate_take(&b, 1.0, 1.0, t0 + 30.0).await.unwrap().taken());
            // A long pause refills to capacity, no further.
            assert_eq!(
                s.rate_level(&b, t0 + 3600.0).await.unwrap(),
                Some(2.0),
                "capped at capacity"
            );
        }
    }

    #[tokio::test]
    async fn a_clock_behind_refills_nothing_and_time_never_moves_back() {
        for s in crate::testing::stores().await {
            crate::testing::on(&s);
            let b = bucket("skew", 1.0, 60.0);
            let t0 = 5_000.0;
            assert!(s.rate_take(&b, 1.0, 1.0, t0).await.unwrap().taken());
            // A gateway 10 s behind: no refill, and its clock does not rewind the row.
            assert!(!s.rate_take(&b, 1.0, 1.0, t0 - 10.0).await.unwrap().taken());
            assert!(!s.rate_take(&b, 1.0, 1.0, t0 + 0.5).await.unwrap().taken());
            assert!(s.rate_take(&b, 1.0, 1.0, t0 + 1.0).await.unwrap().taken());
        }
    }

    #[tokio::test]
    async fn token_debt_blocks_until_repaid_and_refunds_cap_at_capacity() {
        for s in crate::testing::stores().await {
            crate::testing::on(&s);
            // 600 tokens a minute: 10 a second. Admitted while not in debt.
            let b = bucket("t/p/tokens", 600.0, 600.0);
            let t0 = 10_000.0;
            let need = f64::MIN_POSITIVE;
            assert!(s.rate_take(&b, need, 500.0, t0).await.unwrap().taken());
            s.rate_adjust(&b, -200.0, t0).await.unwrap();
            assert_eq!(s.rate_level(&b, t0).await.unwrap(), Some(-100.0));
            let Take::Refused { wait, .. } = s.rate_take(&b, need, 1.0, t0).await.unwrap() else {
                panic!("admitted in debt");
            };
            assert!((wait - 10.0).abs() < 1e-6, "{wait}");
            assert!(!s.rate_take(&b, need, 1.0, t0 + 9.0).await.unwrap().taken());
            assert!(s.rate_take(&b, need, 1.0, t0 + 11.0).await.unwrap().taken());
            s.rate_adjust(&b, 10_000.0, t0 + 11.0).await.unwrap();
            assert_eq!(s.rate_level(&b, t0 + 11.0).await.unwrap(), Some(600.0));
            // Adjusting a bucket nobody took from creates nothing.
            let fresh = bucket("never", 5.0, 5.0);
            s.rate_adjust(&fresh, -3.0, t0).await.unwrap();
            assert_eq!(s.rate_level(&fresh, t0).await.unwrap(), None);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_takes_never_admit_more_than_capacity() {
        for s in crate::testing::stores().await {
            crate::testing::on(&s);
            let store = Arc::new(s.store.clone());
            let b = Arc::new(bucket("race", 25.0, 25.0));
            // The same instant for all: no refill, so exactly the capacity is admitted.
            let now = 42_000.0;
            let tasks: Vec<_> = (0..200)
                .map(|_| {
                    let (store, b) = (store.clone(), b.clone());
                    tokio::spawn(async move { store.rate_take(&b, 1.0, 1.0, now).await })
                })
                .collect();
            let mut taken = 0;
            for t in tasks {
                if t.await.unwrap().unwrap().taken() {
                    taken += 1;
                }
            }
            assert_eq!(taken, 25, "admitted {taken} of a 25-request bucket");
            let level = s.rate_level(&b, now).await.unwrap().unwrap();
            assert!(level.abs() < 1e-9, "{level}");
        }
    }
}
