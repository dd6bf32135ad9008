//! Authenticating a request by its virtual key: the key it presents, hashed as
//! [`proximity_ops::keys`] stores keys (that module creates them and says why a plain
//! SHA-256 is the right hash), looked up once and cached briefly.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use chrono::{DateTime, Utc};
use proximity_store::{KeyRecord, Store};

use crate::error::ApiError;

pub use proximity_ops::keys::{generate, hash_key, NewKey, KEY_PREFIX};

/// The key a request carries: `Authorization: Bearer <key>` (what OpenAI SDKs send) or
/// `x-api-key: <key>`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        let token = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .unwrap_or(v)
            .trim();
        return (!token.is_empty()).then_some(token);
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// How long a looked-up key is trusted without asking the store again: a revocation
/// reaches a running gateway within this time.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(1);
const KEY_CACHE_MAX: usize = 10_000;

/// Keys recently found in the store, by hash (unknown keys are never cached).
#[derive(Debug, Default)]
pub struct KeyCache {
    map: Mutex<HashMap<String, (KeyRecord, Instant)>>,
}

impl KeyCache {
    fn get(&self, hash: &str) -> Option<KeyRecord> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(hash)
            .filter(|(_, at)| at.elapsed() < KEY_CACHE_TTL)
            .map(|(k, _)| k.clone())
    }

    fn put(&self, hash: String, record: KeyRecord) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= KEY_CACHE_MAX {
            map.retain(|_, (_, at)| at.elapsed() < KEY_CACHE_TTL);
            if map.len() >= KEY_CACHE_MAX {
                map.clear();
            }
        }
        map.insert(hash, (record, Instant::now()));
    }
}

/// The stored key of a request, if it is known, not revoked and not expired.
pub async fn authenticate(
    store: &Store,
    cache: &KeyCache,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<KeyRecord, ApiError> {
    let key = presented_key(headers).ok_or(ApiError::MissingKey)?;
    if !key.starts_with(KEY_PREFIX) {
        return Err(ApiError::InvalidKey);
    }
    let hash = hash_key(key);
    if let Some(record) = cache.get(&hash) {
        check(&record, now)?;
        return Ok(record);
    }
    let record = store
        .key_by_hash(&hash)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "key lookup failed");
            ApiError::Internal
        })?
        .ok_or(ApiError::InvalidKey)?;
    cache.put(hash, record.clone());
    check(&record, now)?;
    Ok(record)
}

/// Whether a stored key may be used at `now`.
pub fn check(record: &KeyRecord, now: DateTime<Utc>) -> Result<(), ApiError> {
    if record.revoked_at.is_some_and(|t| t <= now) {
        return Err(ApiError::RevokedKey);
    }
    if record.expires_at.is_some_and(|t| t <= now) {
        return Err(ApiError::ExpiredKey);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn keys_are_prefixed_random_and_stored_by_hash() {
        let now = Utc::now();
        let a = generate("p", None, None, None, now);
        let b = generate("p", None, None, None, now);
        assert!(a.key.starts_with("prx-"));
        assert_eq!(a.key.len(), 4 + 64);
        assert_ne!(a.key, b.key);
        assert_eq!(a.record.key_hash, hash_key(&a.key));
        assert!(!a.record.key_hash.contains(&a.key[4..]));
        assert!(a.record.id.starts_with("key_"));
    }

    #[test]
    fn bearer_and_x_api_key_are_accepted() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h), None);
        h.insert("x-api-key", HeaderValue::from_static("prx-1"));
        assert_eq!(presented_key(&h), Some("prx-1"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer prx-2"),
        );
        assert_eq!(presented_key(&h), Some("prx-2"));
    }

    #[test]
    fn revoked_and_expired_keys_are_refused() {
        let now = Utc::now();
        let mut k = generate("p", None, None, None, now).record;
        assert!(check(&k, now).is_ok());
        k.expires_at = Some(now - chrono::Duration::seconds(1));
        assert!(matches!(check(&k, now), Err(ApiError::ExpiredKey)));
        k.revoked_at = Some(now);
        assert!(matches!(check(&k, now), Err(ApiError::RevokedKey)));
    }
}
