//! Rate limits of tiers: in-process token buckets per (tier, persona), one for requests
//! and one for tokens per minute. A request is admitted when a request is available and
//! the token bucket is not in debt; its estimated input tokens are taken at admission and
//! its output tokens once known, so a long answer pushes later requests back.
//!
//! The buckets live in this process: replicas behind a load balancer each enforce the
//! whole limit (sharing them is a later issue).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proximity_program::{RateLimit, Tier};

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

/// The buckets of every (tier, persona) seen.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<(String, String), Buckets>>,
}

impl RateLimiter {
    /// Admit one request of about `tokens` input tokens, or say how long to wait.
    pub fn admit(
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

    /// Take `tokens` more from the token bucket (the answer's, once known).
    pub fn debit(&self, tier: &Tier, persona: &str, tokens: u64) {
        if tokens == 0 {
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
        }
    }

    #[test]
    fn requests_per_minute_refill_over_time() {
        let l = RateLimiter::default();
        let t = tier(Some(2), None);
        let now = Instant::now();
        l.admit(&t, "p", 0, now).unwrap();
        l.admit(&t, "p", 0, now).unwrap();
        let Err(ApiError::RateLimited { retry_after, .. }) = l.admit(&t, "p", 0, now) else {
            panic!("third request admitted");
        };
        assert!(retry_after > Duration::from_secs(29) && retry_after <= Duration::from_secs(30));
        // Another persona of the same tier has its own bucket.
        l.admit(&t, "q", 0, now).unwrap();
        l.admit(&t, "p", 0, now + Duration::from_secs(30)).unwrap();
    }

    #[test]
    fn token_debt_blocks_until_repaid() {
        let l = RateLimiter::default();
        let t = tier(None, Some(600));
        let now = Instant::now();
        l.admit(&t, "p", 500, now).unwrap();
        l.debit(&t, "p", 200);
        assert!(l.admit(&t, "p", 1, now).is_err());
        // 10 tokens a second: 101 tokens of debt are repaid after about 10.1 s.
        assert!(l.admit(&t, "p", 1, now + Duration::from_secs(11)).is_ok());
    }
}
