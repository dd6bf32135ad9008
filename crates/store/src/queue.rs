//! The eval work queue: the (case, tool, sample) items of a queued run, claimed by
//! `proximity worker` processes under a lease.
//!
//! A claim is one statement: on PostgreSQL an `UPDATE … FROM (SELECT … FOR UPDATE SKIP
//! LOCKED)`, so concurrent workers never claim the same item and never wait on each other;
//! on SQLite the same `UPDATE` (SQLite serialises writers). A claimed item is leased to
//! its worker until a time by the database's clock (so workers whose clocks disagree
//! cannot take live leases from each other); the worker extends its leases while it
//! works and marks an item done once its result is written. A worker that dies stops
//! extending, and once its leases expire its items are claimable again. Results stay
//! exactly-once whatever happens: the results table's primary key refuses a second
//! result, and the response cache (written before a result) keeps a retaken item from
//! paying for its answer twice.

use std::time::Duration;

use crate::{Backend, Result, Store};

/// The database's clock in Unix seconds, as SQL.
fn now_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)",
        Backend::Sqlite => "((julianday('now') - 2440587.5) * 86400.0)",
    }
}

/// One item to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWorkItem {
    pub case_id: String,
    pub tool_id: String,
    pub sample: u32,
    /// The response-cache key of the item's request, as the enqueuing program computes it.
    pub request_key: String,
}

/// An item a worker holds a lease on.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClaimedItem {
    pub run_id: String,
    pub case_id: String,
    pub tool_id: String,
    pub sample: i64,
    pub request_key: String,
    /// How many times the item has been claimed, this claim included (above 1: a worker
    /// died or gave it back).
    pub claims: i64,
}

/// How far a queued run has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub queued: u64,
    pub leased: u64,
    pub done: u64,
}

impl QueueCounts {
    pub fn total(&self) -> u64 {
        self.queued + self.leased + self.done
    }
}

/// Rows per INSERT statement when enqueuing (well under SQLite's 32,766 parameters).
const ENQUEUE_CHUNK: usize = 500;

impl Store {
    /// Enqueue `items` for run `run_id` (already created); items already queued are kept
    /// as they are. Returns how many were added.
    pub async fn enqueue(&self, run_id: &str, items: &[NewWorkItem]) -> Result<u64> {
        with_pool!(self, |pool| {
            let mut added = 0;
            let mut tx = pool.begin().await?;
            for chunk in items.chunks(ENQUEUE_CHUNK) {
                let mut sql = String::from(
                    "INSERT INTO work_items (run_id, case_id, tool_id, sample, request_key, state)
                     VALUES ",
                );
                for i in 0..chunk.len() {
                    let b = i * 5;
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!(
                        "(${}, ${}, ${}, ${}, ${}, 'queued')",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5
                    ));
                }
                sql.push_str(" ON CONFLICT (run_id, case_id, tool_id, sample) DO NOTHING");
                let mut q = sqlx::query(&sql);
                for item in chunk {
                    q = q
                        .bind(run_id)
                        .bind(&item.case_id)
                        .bind(&item.tool_id)
                        .bind(i64::from(item.sample))
                        .bind(&item.request_key);
                }
                added += q.execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            Ok(added)
        })
    }

    /// Lease up to `limit` claimable items (queued, or leased with an expired lease, of a
    /// run still running; of `run_id` only when given) to `owner` for `lease` from now by
    /// the database's clock.
    pub async fn claim(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
        run_id: Option<&str>,
    ) -> Result<Vec<ClaimedItem>> {
        let now = now_sql(self.backend());
        // Both statements pick in key order; the PostgreSQL one skips rows another
        // worker's claim has locked instead of waiting for them.
        let sql = match self.backend() {
            Backend::Postgres => format!(
                "UPDATE work_items w
                 SET state = 'leased', lease_owner = $1, lease_until = {now} + $2,
                     claims = w.claims + 1
                 FROM (SELECT wi.run_id, wi.case_id, wi.tool_id, wi.sample
                       FROM work_items wi JOIN runs r ON r.id = wi.run_id
                       WHERE r.status = 'running'
                         AND (wi.state = 'queued'
                              OR (wi.state = 'leased' AND wi.lease_until < {now}))
                         AND ($3 = '' OR wi.run_id = $3)
                       ORDER BY wi.run_id, wi.case_id, wi.tool_id, wi.sample
                       LIMIT $4
                       FOR UPDATE OF wi SKIP LOCKED) c
                 WHERE w.run_id = c.run_id AND w.case_id = c.case_id
                   AND w.tool_id = c.tool_id AND w.sample = c.sample
                 RETURNING w.run_id, w.case_id, w.tool_id, w.sample, w.request_key, w.claims"
            ),
            Backend::Sqlite => format!(
                "UPDATE work_items
                 SET state = 'leased', lease_owner = $1, lease_until = {now} + $2,
                     claims = claims + 1
                 WHERE (run_id, case_id, tool_id, sample) IN (
                       SELECT wi.run_id, wi.case_id, wi.tool_id, wi.sample
                       FROM work_items wi JOIN runs r ON r.id = wi.run_id
                       WHERE r.status = 'running'
                         AND (wi.state = 'queued'
                              OR (wi.state = 'leased' AND wi.lease_until < {now}))
                         AND ($3 = '' OR wi.run_id = $3)
                       ORDER BY wi.run_id, wi.case_id, wi.tool_id, wi.sample
                       LIMIT $4)
                 RETURNING run_id, case_id, tool_id, sample, request_key, claims"
            ),
        };
        with_pool!(self, |pool| {
            let mut items: Vec<ClaimedItem> = sqlx::query_as(&sql)
                .bind(owner)
                .bind(lease.as_secs_f64())
                .bind(run_id.unwrap_or(""))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
            items.sort_by(|a, b| {
                (&a.run_id, &a.case_id, &a.tool_id, a.sample)
                    .cmp(&(&b.run_id, &b.case_id, &b.tool_id, b.sample))
            });
            Ok(items)
        })
    }

    /// Extend every lease `owner` holds to `lease` from now (the database's clock);
    /// returns how many it holds.
    pub async fn extend_leases(&self, owner: &str, lease: Duration) -> Result<u64> {
        let sql = format!(
            "UPDATE work_items SET lease_until = {} + $1 WHERE lease_owner = $2 AND state = 'leased'",
            now_sql(self.backend())
        );
        with_pool!(self, |pool| {
            let done = sqlx::query(&sql)
                .bind(lease.as_secs_f64())
                .bind(owner)
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// Mark an item done (its result is written). `false` when `owner` no longer held it
    /// (its lease expired and another worker took it; the result is still unique).
    pub async fn complete_item(&self, item: &ClaimedItem, owner: &str) -> Result<bool> {
        with_pool!(self, |pool| {
            let done = sqlx::query(
                "UPDATE work_items SET state = 'done', lease_until = NULL, last_error = NULL
                 WHERE run_id = $1 AND case_id = $2 AND tool_id = $3 AND sample = $4
                   AND lease_owner = $5 AND state = 'leased'",
            )
            .bind(&item.run_id)
            .bind(&item.case_id)
            .bind(&item.tool_id)
            .bind(item.sample)
            .bind(owner)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Give an item back to the queue (the worker is stopping, or cannot do it), with the
    /// reason when there is one.
    pub async fn release_item(
        &self,
        item: &ClaimedItem,
        owner: &str,
        error: Option<&str>,
    ) -> Result<bool> {
        with_pool!(self, |pool| {
            let done = sqlx::query(
                "UPDATE work_items
                 SET state = 'queued', lease_owner = NULL, lease_until = NULL, last_error = $6
                 WHERE run_id = $1 AND case_id = $2 AND tool_id = $3 AND sample = $4
                   AND lease_owner = $5 AND state = 'leased'",
            )
            .bind(&item.run_id)
            .bind(&item.case_id)
            .bind(&item.tool_id)
            .bind(item.sample)
            .bind(owner)
            .bind(error)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// How many of a run's queued items are waiting, leased and done.
    pub async fn queue_counts(&self, run_id: &str) -> Result<QueueCounts> {
        with_pool!(self, |pool| {
            let rows: Vec<(String, i64)> = sqlx::query_as(
                "SELECT state, COUNT(*) FROM work_items WHERE run_id = $1 GROUP BY state",
            )
            .bind(run_id)
            .fetch_all(pool)
            .await?;
            let mut c = QueueCounts::default();
            for (state, n) in rows {
                let n = n.max(0) as u64;
                match state.as_str() {
                    "queued" => c.queued += n,
                    "leased" => c.leased += n,
                    _ => c.done += n,
                }
            }
            Ok(c)
        })
    }

    /// The runs that still have items not done, oldest first.
    pub async fn runs_with_queued_work(&self) -> Result<Vec<String>> {
        with_pool!(self, |pool| {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT w.run_id FROM work_items w JOIN runs r ON r.id = w.run_id
                 WHERE w.state <> 'done' AND r.status = 'running'
                 GROUP BY w.run_id, r.started_at ORDER BY r.started_at, w.run_id",
            )
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|(r,)| r).collect())
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::{RunRecord, RunStatus};

    fn items(n: u32) -> Vec<NewWorkItem> {
        (0..n)
            .map(|i| NewWorkItem {
                case_id: format!("c{i:03}"),
                tool_id: "t".into(),
                sample: 0,
                request_key: format!("k{i}"),
            })
            .collect()
    }

    async fn run(store: &Store, id: &str) {
        store
            .create_run(&RunRecord {
                id: id.into(),
                program: "acme".into(),
                started_at: chrono::Utc::now(),
                finished_at: None,
                status: RunStatus::Running,
                config: serde_json::json!({}),
                planned: 0,
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn items_are_claimed_once_and_expired_leases_are_taken_over() {
        for store in crate::testing::stores().await {
            crate::testing::on(&store);
            run(&store, "r").await;
            assert_eq!(store.enqueue("r", &items(5)).await.unwrap(), 5);
            assert_eq!(
                store.enqueue("r", &items(5)).await.unwrap(),
                0,
                "idempotent"
            );
            let lease = Duration::from_secs(30);
            let a = store
                .claim("a", Duration::from_secs(2), 3, None)
                .await
                .unwrap();
            let b = store.claim("b", lease, 3, Some("r")).await.unwrap();
            assert_eq!((a.len(), b.len()), (3, 2));
            let ids: HashSet<_> = a.iter().chain(&b).map(|i| i.case_id.clone()).collect();
            assert_eq!(ids.len(), 5, "no item is claimed twice");
            assert!(store.claim("c", lease, 3, None).await.unwrap().is_empty());

            assert!(store.complete_item(&a[0], "a").await.unwrap());
            assert!(
                !store.complete_item(&a[1], "b").await.unwrap(),
                "only the lease owner completes an item"
            );
            // Worker a dies: once its leases expire, c takes its two unfinished items;
            // b, alive, keeps extending its own.
            tokio::time::sleep(Duration::from_millis(2100)).await;
            assert_eq!(store.extend_leases("b", lease).await.unwrap(), 2);
            let c = store.claim("c", lease, 10, None).await.unwrap();
            assert_eq!(c.len(), 2, "{c:?}");
            assert!(c.iter().all(|i| i.claims == 2));
            assert!(
                !store.complete_item(&a[1], "a").await.unwrap(),
                "a's lease is gone"
            );
            let counts = store.queue_counts("r").await.unwrap();
            assert_eq!(
                counts,
                QueueCounts {
                    queued: 0,
                    leased: 4,
                    done: 1
                }
            );
            assert!(store
                .release_item(&c[0], "c", Some("stopping"))
                .await
                .unwrap());
            assert_eq!(store.queue_counts("r").await.unwrap().queued, 1);
            assert_eq!(
                store.runs_with_queued_work().await.unwrap(),
                vec!["r".to_owned()]
            );
        }
    }

    #[tokio::test]
    async fn items_of_runs_no_longer_running_are_not_claimed() {
        for store in crate::testing::stores().await {
            crate::testing::on(&store);
            run(&store, "r").await;
            store.enqueue("r", &items(2)).await.unwrap();
            store
                .set_run_status("r", RunStatus::Interrupted, None)
                .await
                .unwrap();
            let got = store
                .claim("a", Duration::from_secs(5), 10, None)
                .await
                .unwrap();
            assert!(got.is_empty());
        }
    }

    #[tokio::test]
    async fn concurrent_claims_never_share_an_item() {
        for store in crate::testing::stores().await {
            crate::testing::on(&store);
            run(&store, "r").await;
            store.enqueue("r", &items(200)).await.unwrap();
            let mut tasks = Vec::new();
            for w in 0..8 {
                let s = store.store.clone();
                tasks.push(tokio::spawn(async move {
                    let owner = format!("w{w}");
                    let mut mine = Vec::new();
                    loop {
                        let got = s
                            .claim(&owner, Duration::from_secs(60), 7, None)
                            .await
                            .unwrap();
                        if got.is_empty() {
                            break;
                        }
                        mine.extend(got.into_iter().map(|i| i.case_id));
                    }
                    mine
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.unwrap());
            }
            let unique: HashSet<_> = all.iter().collect();
            assert_eq!(all.len(), 200);
            assert_eq!(unique.len(), 200);
        }
    }
}
