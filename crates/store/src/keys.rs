//! Virtual keys of the gateway: stored by hash only, looked up by hash, revoked in place.

use chrono::{DateTime, Utc};

use crate::usage::{opt_time, time, ts};
use crate::{Result, Store};

/// A virtual key as stored: never the key itself, only its SHA-256 hash.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRecord {
    /// Public identifier (safe to log and print).
    pub id: String,
    /// Hex SHA-256 of the key.
    pub key_hash: String,
    pub persona: String,
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Monthly budget of this key in US dollars, on top of the persona's.
    pub budget_usd: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    key_hash: String,
    persona: String,
    name: Option<String>,
    created_at: String,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    budget_usd: Option<f64>,
}

impl TryFrom<KeyRow> for KeyRecord {
    type Error = crate::StoreError;

    fn try_from(r: KeyRow) -> Result<Self> {
        Ok(KeyRecord {
            created_at: time(&r.created_at)?,
            expires_at: opt_time(r.expires_at.as_deref())?,
            revoked_at: opt_time(r.revoked_at.as_deref())?,
            id: r.id,
            key_hash: r.key_hash,
            persona: r.persona,
            name: r.name,
            budget_usd: r.budget_usd,
        })
    }
}

impl Store {
    pub async fn insert_key(&self, k: &KeyRecord) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO virtual_keys
                 (id, key_hash, persona, name, created_at, expires_at, revoked_at, budget_usd)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&k.id)
            .bind(&k.key_hash)
            .bind(&k.persona)
            .bind(&k.name)
            .bind(ts(k.created_at))
            .bind(k.expires_at.map(ts))
            .bind(k.revoked_at.map(ts))
            .bind(k.budget_usd)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// The key whose hash is `key_hash`, revoked and expired ones included.
    pub async fn key_by_hash(&self, key_hash: &str) -> Result<Option<KeyRecord>> {
        with_pool!(self, |pool| {
            let row = sqlx::query_as::<_, KeyRow>("SELECT * FROM virtual_keys WHERE key_hash = $1")
                .bind(key_hash)
                .fetch_optional(pool)
                .await?;
            row.map(TryInto::try_into).transpose()
        })
    }

    /// All keys, oldest first.
    pub async fn keys(&self) -> Result<Vec<KeyRecord>> {
        with_pool!(self, |pool| {
            let rows =
                sqlx::query_as::<_, KeyRow>("SELECT * FROM virtual_keys ORDER BY created_at, id")
                    .fetch_all(pool)
                    .await?;
            rows.into_iter().map(TryInto::try_into).collect()
        })
    }

    /// Revoke key `id`; `false` when there is no such key or it was already revoked.
    pub async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> Result<bool> {
        with_pool!(self, |pool| {
            let done = sqlx::query(
                "UPDATE virtual_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(ts(at))
            .bind(id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_are_found_by_hash_and_revoked_once() {
        for store in crate::testing::stores().await {
            crate::testing::on(&store);
            let k = KeyRecord {
                id: "k1".into(),
                key_hash: "abc".into(),
                persona: "p".into(),
                name: Some("ci".into()),
                created_at: Utc::now(),
                expires_at: None,
                revoked_at: None,
                budget_usd: Some(5.0),
            };
            store.insert_key(&k).await.unwrap();
            let got = store.key_by_hash("abc").await.unwrap().unwrap();
            assert_eq!(got.persona, "p");
            assert_eq!(got.budget_usd, Some(5.0));
            assert!(store.key_by_hash("abd").await.unwrap().is_none());
            assert!(store.revoke_key("k1", Utc::now()).await.unwrap());
            assert!(!store.revoke_key("k1", Utc::now()).await.unwrap());
            assert!(store.keys().await.unwrap()[0].revoked_at.is_some());
        }
    }
}
