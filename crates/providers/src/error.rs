//! Provider faults, classified so the runner knows what to retry and reports can say what
//! went wrong without quoting secrets.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What kind of fault a provider call hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Missing or rejected credentials (401/403). Not retried.
    Auth,
    /// 429 or an explicit quota signal. Retried, honouring `Retry-After`.
    RateLimited,
    /// 5xx or an overloaded upstream. Retried.
    Server,
    /// No complete answer within the tool's timeout. Retried.
    Timeout,
    /// The answer could not be parsed (bad JSON, missing fields). Retried once more.
    Malformed,
    /// The provider itself declined (content filter, safety stop). Not retried.
    Refused,
    /// The prompt does not fit the model's context window. Not retried.
    ContextOverflow,
    /// Connection refused, reset, DNS. Retried.
    Network,
    /// The tool cannot be used as configured (missing API key, missing model file,
    /// 400 Bad Request). Not retried.
    Config,
}

impl ErrorClass {
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited | Self::Server | Self::Timeout | Self::Malformed | Self::Network
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::RateLimited => "rate_limited",
            Self::Server => "server",
            Self::Timeout => "timeout",
            Self::Malformed => "malformed",
            Self::Refused => "refused",
            Self::ContextOverflow => "context_overflow",
            Self::Network => "network",
            Self::Config => "config",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "auth" => Self::Auth,
            "rate_limited" => Self::RateLimited,
            "server" => Self::Server,
            "timeout" => Self::Timeout,
            "malformed" => Self::Malformed,
            "refused" => Self::Refused,
            "context_overflow" => Self::ContextOverflow,
            "network" => Self::Network,
            "config" => Self::Config,
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified provider fault.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{class}: {message}")]
pub struct ProviderError {
    pub class: ErrorClass,
    /// Human-readable detail; never contains credentials.
    pub message: String,
    /// HTTP status where there was one.
    pub status: Option<u16>,
    /// How long the provider asked us to wait.
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            status: None,
            retry_after: None,
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }
}
