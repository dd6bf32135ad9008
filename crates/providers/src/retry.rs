//! Retries with exponential backoff, full jitter and `Retry-After`.

use std::time::Duration;

use rand::Rng;

use crate::error::ProviderError;

/// How a failed request is retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before attempt `attempt + 1` (attempt counts from 1), or `None`
    /// when the error is final or attempts are used up.
    pub fn delay(&self, attempt: u32, error: &ProviderError) -> Option<Duration> {
        if !error.class.is_retryable() || attempt >= self.max_attempts {
            return None;
        }
        if let Some(after) = error.retry_after {
            return Some(after.min(self.max_delay));
        }
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let cap = exp.min(self.max_delay);
        // Full jitter: uniform in [cap/2, cap].
        let ms = cap.as_millis() as u64;
        let jittered = rand::rng().random_range(ms / 2..=ms.max(1));
        Some(Duration::from_millis(jittered))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;

    #[test]
    fn auth_is_not_retried() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, &ProviderError::new(ErrorClass::Auth, "x")), None);
    }

    #[test]
    fn retry_after_is_honoured() {
        let p = RetryPolicy::default();
        let e = ProviderError::new(ErrorClass::RateLimited, "x")
            .with_retry_after(Some(Duration::from_secs(2)));
        assert_eq!(p.delay(1, &e), Some(Duration::from_secs(2)));
    }

    #[test]
    fn backoff_grows_and_stops() {
        let p = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let e = ProviderError::new(ErrorClass::Server, "x");
        let d1 = p.delay(1, &e).unwrap();
        let d2 = p.delay(2, &e).unwrap();
        assert!(d1 <= Duration::from_millis(100) && d1 >= Duration::from_millis(50));
        assert!(d2 <= Duration::from_millis(200) && d2 >= Duration::from_millis(100));
        assert_eq!(p.delay(3, &e), None);
    }
}
