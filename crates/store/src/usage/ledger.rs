//! The budget ledger's statements ([`Ledger`]), compiled for SQLite and PostgreSQL from
//! one macro: reserve, settle, release and expire per scope, insert a usage row; and the
//! PostgreSQL transaction around them, retried when the server picks it as a deadlock or
//! serialization victim.

use sqlx::PgPool;

use super::{ts, Done, Reservation, UsageRecord, Work};
use crate::{Result, StoreError};

/// How many times a PostgreSQL ledger transaction is tried when the server aborts it as
/// a deadlock or serialization victim.
const PG_ATTEMPTS: u32 = 8;

pub(super) async fn postgres_ledger(pool: &PgPool, work: &Work) -> Result<Done> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = async {
            let mut tx = pool.begin().await?;
            let done = sqlx::Postgres::apply(&mut tx, work).await?;
            if done.keep() {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            Ok::<_, StoreError>(done)
        }
        .await;
        match outcome {
            Err(StoreError::Database(sqlx::Error::Database(e)))
                if attempt < PG_ATTEMPTS
                    && matches!(e.code().as_deref(), Some("40P01" | "40001")) =>
            {
                tracing::debug!(attempt, code = ?e.code(), "ledger transaction retried");
                tokio::time::sleep(std::time::Duration::from_millis(u64::from(attempt) * 2)).await;
            }
            other => return other,
        }
    }
}

/// The ledger's statements, compiled for each backend.
pub(super) trait Ledger: sqlx::Database {
    async fn apply(tx: &mut sqlx::Transaction<'_, Self>, work: &Work) -> Result<Done>;
    /// Settle reservation `id` at `cost`: move it out of `reserved` (unless the sweeper
    /// released it already) and `cost` into `spent` in each of its scopes, and forget it.
    /// `false` when there was no such reservation (settled before).
    async fn release(tx: &mut sqlx::Transaction<'_, Self>, id: &str, cost: f64) -> Result<bool>;
    /// Release reservation `id` without spending (its gateway looked dead), keeping it
    /// marked so a late settlement still counts. `false` when it was gone or released.
    async fn expire(tx: &mut sqlx::Transaction<'_, Self>, id: &str) -> Result<bool>;
    /// Insert a usage row; `false` when a row with its id was there already.
    async fn insert_usage(tx: &mut sqlx::Transaction<'_, Self>, u: &UsageRecord) -> Result<bool>;
}

macro_rules! ledger {
    ($db:ty) => {
        impl Ledger for $db {
            async fn apply(tx: &mut sqlx::Transaction<'_, Self>, work: &Work) -> Result<Done> {
                match work {
                    Work::Reserve {
                        id,
                        month,
                        lines,
                        amount_usd,
                        now,
                    } => {
                        for line in lines {
                            sqlx::query(
                                "INSERT INTO budget_ledger (scope, month) VALUES ($1, $2)
                                 ON CONFLICT DO NOTHING",
                            )
                            .bind(&line.scope)
                            .bind(month)
                            .execute(&mut **tx)
                            .await?;
                            let done = sqlx::query(
                                "UPDATE budget_ledger SET reserved_usd = reserved_usd + $1
                                 WHERE scope = $2 AND month = $3
                                   AND spent_usd + reserved_usd + $1 <= $4",
                            )
                            .bind(*amount_usd)
                            .bind(&line.scope)
                            .bind(month)
                            .bind(line.limit_usd)
                            .execute(&mut **tx)
                            .await?;
                            if done.rows_affected() != 1 {
                                let (spent_usd, reserved_usd): (f64, f64) = sqlx::query_as(
                                    "SELECT spent_usd, reserved_usd FROM budget_ledger
                                     WHERE scope = $1 AND month = $2",
                                )
                                .bind(&line.scope)
                                .bind(month)
                                .fetch_one(&mut **tx)
                                .await?;
                                return Ok(Done::Reserve(Reservation::Exhausted {
                                    scope: line.scope.clone(),
                                    limit_usd: line.limit_usd,
                                    spent_usd,
                                    reserved_usd,
                                }));
                            }
                        }
                        let scopes: Vec<&str> = lines.iter().map(|l| l.scope.as_str()).collect();
                        sqlx::query(
                            "INSERT INTO budget_reservations
                             (id, month, scopes, amount_usd, created_at)
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(id)
                        .bind(month)
                        .bind(serde_json::to_string(&scopes).unwrap_or_default())
                        .bind(*amount_usd)
                        .bind(ts(*now))
                        .execute(&mut **tx)
                        .await?;
                        Ok(Done::Reserve(Reservation::Reserved {
                            id: id.clone(),
                            month: month.clone(),
                        }))
                    }
                    Work::Settle { usage: u, reservation } => {
                        if !Self::insert_usage(tx, u).await? {
                            return Err(StoreError::Write(format!(
                                "a usage row `{}` exists already",
                                u.id
                            )));
                        }
                        if let Some(id) = reservation {
                            Self::release(tx, id, u.cost_usd).await?;
                        }
                        Ok(Done::Settle)
                    }
                    Work::Records(entries, _) => {
                        for e in entries.iter() {
                            let u = &e.usage;
                            if !Self::insert_usage(tx, u).await? || u.cost_usd <= 0.0 {
                                continue;
                            }
                            for scope in &e.scopes {
                                sqlx::query(
                                    "INSERT INTO budget_ledger (scope, month, spent_usd)
                                     VALUES ($1, $2, $3)
                                     ON CONFLICT (scope, month) DO UPDATE
                                     SET spent_usd = budget_ledger.spent_usd + excluded.spent_usd",
                                )
                                .bind(scope)
                                .bind(&e.month)
                                .bind(u.cost_usd)
                                .execute(&mut **tx)
                                .await?;
                            }
                        }
                        Ok(Done::Settle)
                    }
                }
            }

            async fn insert_usage(
                tx: &mut sqlx::Transaction<'_, Self>,
                u: &UsageRecord,
            ) -> Result<bool> {
                let query = sqlx::query(concat!(
                    "INSERT INTO gateway_usage ",
                    usage_columns!(),
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                             $14, $15, $16, $17, $18)
                     ON CONFLICT (id) DO NOTHING"
                ));
                let done = bind_usage!(query, bind, u)
                .execute(&mut **tx)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn release(
                tx: &mut sqlx::Transaction<'_, Self>,
                id: &str,
                cost: f64,
            ) -> Result<bool> {
                let row: Option<(String, String, f64, bool)> = sqlx::query_as(
                    "DELETE FROM budget_reservations WHERE id = $1
                     RETURNING month, scopes, amount_usd, released",
                )
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
                let Some((month, scopes, amount, released)) = row else {
                    return Ok(false);
                };
                // A released reservation is no longer in `reserved`: only spend.
                let amount = if released { 0.0 } else { amount };
                for scope in scopes_of(&scopes)? {
                    sqlx::query(
                        "UPDATE budget_ledger
                         SET reserved_usd = CASE WHEN reserved_usd > $1
                                                 THEN reserved_usd - $1 ELSE 0 END,
                             spent_usd = spent_usd + $2
                         WHERE scope = $3 AND month = $4",
                    )
                    .bind(amount)
                    .bind(cost)
                    .bind(&scope)
                    .bind(&month)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(true)
            }

            async fn expire(tx: &mut sqlx::Transaction<'_, Self>, id: &str) -> Result<bool> {
                let row: Option<(String, String, f64)> = sqlx::query_as(
                    "UPDATE budget_reservations SET released = TRUE
                     WHERE id = $1 AND released = FALSE
                     RETURNING month, scopes, amount_usd",
                )
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
                let Some((month, scopes, amount)) = row else {
                    return Ok(false);
                };
                for scope in scopes_of(&scopes)? {
                    sqlx::query(
                        "UPDATE budget_ledger
                         SET reserved_usd = CASE WHEN reserved_usd > $1
                                                 THEN reserved_usd - $1 ELSE 0 END
                         WHERE scope = $2 AND month = $3",
                    )
                    .bind(amount)
                    .bind(&scope)
                    .bind(&month)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(true)
            }
        }
    };
}

fn scopes_of(json: &str) -> Result<Vec<String>> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("reservation scopes: {e}")))
}

ledger!(sqlx::Sqlite);
ledger!(sqlx::Postgres);
