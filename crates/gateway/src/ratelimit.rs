//! Rate limits of tiers: token buckets per (tier, persona), one for requests and one for
//! tokens per minute. A request is admitted when a request is available and the token
//! bucket is not in debt; its estimated input tokens are taken at admission and its
//! output tokens once known, so a long answer pushes later requests back.
//!
//! Two homes for the buckets. In this process (the default on SQLite: one gateway, no
//! database round trip), or in the store ([`RateLimiter::shared`], always on PostgreSQL
//! and with `--shared-limits`), where every gateway on the database takes from the same
//! buckets with one atomic statement per take (`proximity_store::ratelimits`), so N
//! replicas together admit the limit, not N times it. The shared request bucket is
//! exact up to clock skew between replicas times the rate; the token bucket is soft by
//! design (output tokens are debited after the answer, in the background).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proximity_program::{RateLimit, Tier};
use proximity_store::ratelimits::{Bucket as SharedBucket, Take};
use proximity_store::Store;

use crate::error::ApiError;

#[derive(Debug, Clone)]
struct Bucket {
    capacity: f64,
    level: f64,
    last: Instant,
}

impl Bucket {
    fn new(per_minute: f64, now: Instant) -> Self {
        Self {
            capacity: per_minute,
            level: per_minute,
            last: now,
        }
    }

    fn refill(&mut self, per_minute: f64, now: Instant) {
        self.capacity = per_minute;
        let secs = now.saturating_duration_since(self.last).as_secs_f64();
        self.level = (self.level + secs * per_minute / 60.0).min(self.capacity);
        self.last = now;
    }

    /// How long until the level reaches `need`.
    fn wait_for(&self, need: f64) -> Duration {
        let missing = (need - self.level).max(0.0);
        Duration::from_secs_f64(missing * 60.0 / self.capacity.max(f64::MIN_POSITIVE))
    }
}

#[derive(Debug, Default)]
struct Buckets {
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
}

/// The buckets of every (tier, persona) seen: in this process, or in the store.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<(String, String), Buckets>>,
    shared: Option<Store>,
}

impl RateLimiter {
    /// Buckets kept in `store`, shared by every gateway on it.
    pub fn shared(store: Store) -> Self {
        Self {
            buckets: Mutex::default(),
            shared: Some(store),
        }
    }

    /// Whether the buckets live in the store.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Admit one request of about `tokens` input tokens, or say how long to wait.
    pub async fn admit(&self, tier: &Tier, persona: &str, tokens: u64) -> Result<(), ApiError> {
        match &self.shared {
            None => self.admit_local(tier, persona, tokens, Instant::now()),
            Some(store) => admit_shared(store, tier, persona, tokens, unix_now()).await,
        }
    }

    /// [`RateLimiter::admit`] on the in-process buckets at `now`.
    pub fn admit_local(
        &self,
        tier: &Tier,
        persona: &str,
        tokens: u64,
        now: Instant,
    ) -> Result<(), ApiError> {
        let Some(limit) = &tier.rate_limit else {
            return Ok(());
        };
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = map
            .entry((tier.id.clone(), persona.to_owned()))
            .or_default();
        let (rpm, tpm) = per_minute(limit);
        if let Some(rpm) = rpm {
            let bucket = b.requests.get_or_insert_with(|| Bucket::new(rpm, now));
            bucket.refill(rpm, now);
            if bucket.level < 1.0 {
                return Err(ApiError::RateLimited {
                    tier: tier.id.clone(),
                    what: "requests",
                    retry_after: bucket.wait_for(1.0),
                });
            }
        }
        if let Some(tpm) = tpm {
            let bucket = b.tokens.get_or_insert_with(|| Bucket::new(tpm, now));
            bucket.refill(tpm, now);
            if bucket.level <= 0.0 {
                return Err(ApiError::RateLimited {
                    tier: tier.id.clone(),
                    what: "tokens",
                    retry_after: bucket.wait_for(1.0),
                });
            }
            bucket.level -= tokens as f64;
        }
        if let Some(bucket) = b.requests.as_mut() {
            bucket.level -= 1.0;
        }
        Ok(())
    }

    /// Take `tokens` more from the token bucket (the answer's, once known). Shared
    /// buckets are debited in a task of its own, so the answer does not wait for it.
    pub fn debit(&self, tier: &Tier, persona: &str, tokens: u64) {
        if tokens == 0 {
            return;
        }
        if let Some(store) = &self.shared {
            let Some(bucket) = tier
                .rate_limit
                .as_ref()
                .and_then(|l| per_minute(l).1)
                .map(|tpm| shared_bucket(tier, persona, "tokens", tpm))
            else {
                return;
            };
            let store = store.clone();
            tokio::spawn(async move {
                if let Err(e) = store
                    .rate_adjust(&bucket, -(tokens as f64), unix_now())
                    .await
                {
                    tracing::error!(error = %e, "cannot debit the shared token bucket");
                }
            });
            return;
        }
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bucket) = map
            .get_mut(&(tier.id.clone(), persona.to_owned()))
            .and_then(|b| b.tokens.as_mut())
        {
            bucket.level -= tokens as f64;
        }
    }
}

/// Admission on the store's buckets: the request bucket first (one atomic take), then
/// the token bucket (admits while not in debt, takes the estimate); a request refused
/// for tokens gives its request back, so a refusal never costs a request.
async fn admit_shared(
    store: &Store,
    tier: &Tier,
    persona: &str,
    tokens: u64,
    now: f64,
) -> Result<(), ApiError> {
    let Some(limit) = &tier.rate_limit else {
        return Ok(());
    };
    let (rpm, tpm) = per_minute(limit);
    let requests = rpm.map(|rpm| shared_bucket(tier, persona, "requests", rpm));
    if let Some(bucket) = &requests {
        if let Take::Refused { wait, .. } = store
            .rate_take(bucket, 1.0, 1.0, now)
            .await
            .map_err(internal)?
        {
            return Err(ApiError::RateLimited {
                tier: tier.id.clone(),
                what: "requests",
                retry_after: seconds(wait),
            });
        }
    }
    if let Some(tpm) = tpm {
        let bucket = shared_bucket(tier, persona, "tokens", tpm);
        let take = store
            .rate_take(&bucket, f64::MIN_POSITIVE, tokens as f64, now)
            .await
            .map_err(internal)?;
        if let Take::Refused { level, .. } = take {
            if let Some(requests) = &requests {
                if let Err(e) = store.rate_adjust(requests, 1.0, now).await {
                    tracing::error!(error = %e, "cannot give back a shared rate-limit request");
                }
            }
            return Err(ApiError::RateLimited {
                tier: tier.id.clone(),
                what: "tokens",
                retry_after: seconds((1.0 - level) / bucket.per_second),
            });
        }
    }
    Ok(())
}

/// The store's bucket of (tier, persona) for `what` (`requests` or `tokens`).
fn shared_bucket(tier: &Tier, persona: &str, what: &str, per_minute: f64) -> SharedBucket {
    SharedBucket {
        scope: format!("tier:{}/persona:{persona}/{what}", tier.id),
        capacity: per_minute,
        per_second: per_minute / 60.0,
    }
}

/// Unix time in seconds, the shared buckets' clock.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A wait in seconds as a `Retry-After` duration (at least a millisecond, at most an hour).
fn seconds(wait: f64) -> Duration {
    if wait.is_finite() {
        Duration::from_secs_f64(wait.clamp(0.001, 3600.0))
    } else {
        Duration::from_secs(3600)
    }
}

fn internal(e: proximity_store::StoreError) -> ApiError {
    tracing::error!(error = %e, "rate-limit store failed");
    ApiError::Internal
}

fn per_minute(limit: &RateLimit) -> (Option<f64>, Option<f64>) {
    (
        limit.requests_per_minute.filter(|n| *n > 0).map(f64::from),
        limit.tokens_per_minute.filter(|n| *n > 0).map(|n| n as f64),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tier(rpm: Option<u32>, tpm: Option<u64>) -> Tier {
        Tier {
            id: "t".into(),
            tools: vec![],
            budget_per_seat_month: None,
            rate_limit: Some(RateLimit {
                requests_per_minute: rpm,
                tokens_per_minute: tpm,
            }),
            data_classes: vec![],
            capture_sample: None,
        }
    }

    #[test]
    fn requests_per_minute_refill_over_time() {
        let l = RateLimiter::default();
        let t = tier(Some(2), None);
        let now = Instant::now();
        l.admit_local(&t, "p", 0, now).unwrap();
        l.admit_local(&t, "p", 0, now).unwrap();
        let Err(ApiError::RateLimited { retry_after, .. }) = l.admit_local(&t, "p", 0, now) else {
            panic!("third request admitted");
        };
        assert!(retry_after > Duration::from_secs(29) && retry_after <= Duration::from_secs(30));
        // Another persona of the same tier has its own bucket.
        l.admit_local(&t, "q", 0, now).unwrap();
        l.admit_local(&t, "p", 0, now + Duration::from_secs(30))
            .unwrap();
    }

    #[test]
    fn token_debt_blocks_until_repaid() {
        let l = RateLimiter::default();
        let t = tier(None, Some(600));
        let now = Instant::now();
        l.admit_local(&t, "p", 500, now).unwrap();
        l.debit(&t, "p", 200);
        assert!(l.admit_local(&t, "p", 1, now).is_err());
        // 10 tokens a second: 101 tokens of debt are repaid after about 10.1 s.
        assert!(l
            .admit_local(&t, "p", 1, now + Duration::from_secs(11))
            .is_ok());
    }

    /// A second handle on the same database, as another gateway process would open it.
    async fn replica(url: &str) -> Store {
        Store::connect(url).await.unwrap()
    }

    #[tokio::test]
    async fn replicas_share_one_request_bucket() {
        for s in proximity_store::testing::stores().await {
            proximity_store::testing::on(&s);
            let (a, b) = (s.store.clone(), replica(&s.url).await);
            let t = tier(Some(2), None);
            let now = 1_000.0;
            admit_shared(&a, &t, "p", 0, now).await.unwrap();
            admit_shared(&b, &t, "p", 0, now).await.unwrap();
            let Err(ApiError::RateLimited {
                what, retry_after, ..
            }) = admit_shared(&a, &t, "p", 0, now).await
            else {
                panic!("a third request within the minute was admitted by the other replica");
            };
            assert_eq!(what, "requests");
            assert!((retry_after.as_secs_f64() - 30.0).abs() < 1e-6);
            assert!(admit_shared(&b, &t, "p", 0, now + 30.0).await.is_ok());
            admit_shared(&b, &t, "q", 0, now).await.unwrap();
            b.close().await;
        }
    }

    #[tokio::test]
    async fn a_refusal_for_tokens_gives_its_request_back() {
        for s in proximity_store::testing::stores().await {
            proximity_store::testing::on(&s);
            let t = tier(Some(5), Some(600));
            let now = 2_000.0;
            admit_shared(&s, &t, "p", 600, now).await.unwrap();
            let Err(ApiError::RateLimited { what, .. }) = admit_shared(&s, &t, "p", 1, now).await
            else {
                panic!("admitted with the token bucket empty");
            };
            assert_eq!(what, "tokens");
            let requests = shared_bucket(&t, "p", "requests", 5.0);
            assert_eq!(s.rate_level(&requests, now).await.unwrap(), Some(4.0));
        }
    }

    #[tokio::test]
    async fn shared_debits_land_in_the_store() {
        for s in proximity_store::testing::stores().await {
            proximity_store::testing::on(&s);
            let l = RateLimiter::shared(s.store.clone());
            assert!(l.is_shared());
            let t = tier(None, Some(600));
            l.admit(&t, "p", 100).await.unwrap();
            l.debit(&t, "p", 1000);
            let tokens = shared_bucket(&t, "p", "tokens", 600.0);
            let mut level = 600.0;
            for _ in 0..200 {
                level = s.rate_level(&tokens, unix_now()).await.unwrap().unwrap();
                if level < 0.0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(level < 0.0, "the debit never landed: level {level}");
            assert!(l.admit(&t, "p", 1).await.is_err(), "admitted in debt");
        }
    }
}
