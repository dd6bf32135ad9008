//! The gateway's virtual keys: creating one (its secret shown once, only its SHA-256
//! stored), listing them with their status, revoking one, and the hash the gateway
//! authenticates a request by. `proximity keys` and the gateway come here.
//!
//! A key is `prx-` and 32 random bytes in hex (256 bits). A slow password hash (argon2,
//! bcrypt) would add nothing: it protects low-entropy secrets against guessing, and a
//! 256-bit random key cannot be guessed. A plain hash also lets a request be
//! authenticated by one indexed lookup, which keeps the gateway's overhead in
//! microseconds.

use chrono::{DateTime, Utc};
use proximity_program::Program;
use proximity_store::{KeyRecord, Store};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{ids, OpsError};

/// The prefix of every virtual key.
pub const KEY_PREFIX: &str = "prx-";

/// A freshly created key: the secret (shown once) and what is stored.
pub struct NewKey {
    pub key: String,
    pub record: KeyRecord,
}

/// Never the secret: a key printed by a `{:?}` in a log or a panic would be a leak.
impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("key", &"prx-…")
            .field("record", &self.record)
            .finish()
    }
}

/// The hex SHA-256 of a key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new random key for `persona` (not stored: [`create`] checks and stores one).
pub fn generate(
    persona: &str,
    name: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    budget_usd: Option<f64>,
    now: DateTime<Utc>,
) -> NewKey {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let key = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    let key_hash = hash_key(&key);
    let id = format!("key_{}", &key_hash[..12]);
    NewKey {
        key,
        record: KeyRecord {
            id,
            key_hash,
            persona: persona.to_owned(),
            name,
            created_at: now,
            expires_at,
            revoked_at: None,
            budget_usd,
        },
    }
}

/// A key as asked for.
#[derive(Debug, Clone, Default)]
pub struct KeyRequest {
    pub persona: String,
    pub name: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// A monthly budget of the key, on top of the persona's.
    pub budget_usd: Option<f64>,
}

/// Check and store a new key for a persona of the program.
pub async fn create(
    store: &Store,
    program: &Program,
    req: &KeyRequest,
    now: DateTime<Utc>,
) -> Result<NewKey, OpsError> {
    ids::persona(program, &req.persona)?;
    if req.budget_usd.is_some_and(|b| !(b.is_finite() && b >= 0.0)) {
        return Err(OpsError::invalid(
            "a key's budget must be a non-negative number of US dollars",
        ));
    }
    if let Some(t) = req.expires_at {
        if t <= now {
            return Err(OpsError::invalid(format!(
                "the key would expire at {}, which is not in the future",
                t.format("%Y-%m-%d %H:%M UTC")
            ))
            .with_hint("a date means midnight UTC at its start: give a later day"));
        }
    }
    let new = generate(
        &req.persona,
        req.name.clone().filter(|n| !n.trim().is_empty()),
        req.expires_at,
        req.budget_usd,
        now,
    );
    store.insert_key(&new.record).await?;
    Ok(new)
}

/// Where a key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

impl KeyStatus {
    pub fn of(k: &KeyRecord, now: DateTime<Utc>) -> Self {
        if k.revoked_at.is_some() {
            Self::Revoked
        } else if k.expires_at.is_some_and(|t| t <= now) {
            Self::Expired
        } else {
            Self::Active
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// Every key (never the secrets), with its status at `now`.
pub async fn list(
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Vec<(KeyRecord, KeyStatus)>, OpsError> {
    Ok(store
        .keys()
        .await?
        .into_iter()
        .map(|k| {
            let s = KeyStatus::of(&k, now);
            (k, s)
        })
        .collect())
}

/// Revoke an active key by its id.
pub async fn revoke(store: &Store, id: &str, now: DateTime<Utc>) -> Result<(), OpsError> {
    if store.revoke_key(id, now).await? {
        Ok(())
    } else {
        Err(OpsError::not_found(format!("no active key `{id}`"))
            .with_hint("`proximity keys list` shows the ids"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_stored_only_as_its_hash() {
        let now = Utc::now();
        let k = generate("analyst", None, None, None, now);
        assert!(k.key.starts_with(KEY_PREFIX));
        assert_eq!(k.key.len(), KEY_PREFIX.len() + 64);
        assert_eq!(k.record.key_hash, hash_key(&k.key));
        assert!(!k.record.key_hash.contains(&k.key[KEY_PREFIX.len()..]));
        assert!(k.record.id.starts_with("key_"));
        assert_eq!(KeyStatus::of(&k.record, now), KeyStatus::Active);
        assert!(!format!("{k:?}").contains(&k.key), "Debug shows the secret");
    }
}
