//! The one API error type of the gateway: every failure a client can see, its HTTP status
//! (an exhaustive mapping), and the OpenAI-shaped body (`{"error": {message, type, param,
//! code}}`) that existing SDKs parse. Internals are logged, never returned.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use proximity_providers::{ErrorClass, ProviderError};
use serde_json::json;

/// What went wrong with a request, as the client is told.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("missing API key: send `Authorization: Bearer <key>` with a key from `proximity keys create`")]
    MissingKey,
    #[error("invalid API key")]
    InvalidKey,
    #[error("this API key was revoked")]
    RevokedKey,
    #[error("this API key expired")]
    ExpiredKey,
    /// A request the gateway will not serve as sent; `param` names the offending
    /// field (OpenAI's `param`), as a JSON path such as `messages[2].content`.
    #[error("{message}")]
    BadRequest {
        message: String,
        param: Option<String>,
    },
    #[error("the model `{0}` does not exist: `model` must name a tool of the program")]
    UnknownTool(String),
    #[error("{}", not_in_tier(.tool, .persona, .tier, .allowed))]
    ToolNotInTier {
        tool: String,
        persona: String,
        tier: String,
        allowed: Vec<String>,
    },
    #[error("persona `{0}` of this key is not in the program (any more)")]
    UnknownPersona(String),
    #[error("rate limit of tier `{tier}` reached ({what} per minute); retry after {}s", retry_after_secs(*.retry_after))]
    RateLimited {
        tier: String,
        what: &'static str,
        retry_after: Duration,
    },
    #[error("the monthly budget of `{scope}` is exhausted (limit {limit_usd:.2} USD, spent {spent_usd:.4} USD, {reserved_usd:.4} USD reserved by requests in flight)")]
    BudgetExhausted {
        scope: String,
        limit_usd: f64,
        spent_usd: f64,
        reserved_usd: f64,
    },
    #[error("the budget of `{scope}` is near its edge: its requests are admitted one at a time, and this one's turn did not come within its deadline; retry shortly")]
    BudgetBusy { scope: String },
    #[error("upstream `{tool}` failed ({class}): {message}")]
    Upstream {
        tool: String,
        class: ErrorClass,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("no such endpoint")]
    NotFound,
    #[error("method not allowed: {allowed} only")]
    MethodNotAllowed { allowed: &'static str },
    #[error("the client did not send the request within {0}s")]
    RequestTimeout(u64),
    #[error("the request body is larger than the gateway's limit of {limit} bytes (`proximity gateway --max-body-bytes`)")]
    PayloadTooLarge { limit: usize },
    #[error("the request's headers are larger than the gateway's limit")]
    HeadersTooLarge,
    #[error("the gateway is at its connection limit; retry shortly")]
    Overloaded,
    #[error("internal error")]
    Internal,
}

fn not_in_tier(tool: &str, persona: &str, tier: &str, allowed: &[String]) -> String {
    let allowed = if allowed.is_empty() {
        "no tier".to_owned()
    } else {
        allowed
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "tool `{tool}` is not in tier `{tier}` of persona `{persona}`; tiers that allow it: {allowed}"
    )
}

fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

impl ApiError {
    /// A 400 about the request field `param`.
    pub fn bad_param(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            param: Some(param.into()),
        }
    }

    /// A 400 about the request as a whole.
    pub fn bad(message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            param: None,
        }
    }

    /// The OpenAI error `param`: the request field at fault, where one is.
    pub fn param(&self) -> Option<&str> {
        match self {
            Self::BadRequest { param, .. } => param.as_deref(),
            Self::UnknownTool(_) | Self::ToolNotInTier { .. } => Some("model"),
            _ => None,
        }
    }

    /// A provider's final fault, as the client sees it.
    pub fn upstream(tool: &str, e: &ProviderError) -> Self {
        Self::Upstream {
            tool: tool.to_owned(),
            class: e.class,
            message: e.message.clone(),
            retry_after: e.retry_after,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingKey | Self::InvalidKey | Self::RevokedKey | Self::ExpiredKey => {
                StatusCode::UNAUTHORIZED
            }
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::UnknownTool(_) | Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::ToolNotInTier { .. } | Self::UnknownPersona(_) => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } | Self::BudgetBusy { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BudgetExhausted { .. } => StatusCode::PAYMENT_REQUIRED,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Upstream { class, .. } => match class {
                ErrorClass::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                ErrorClass::Timeout => StatusCode::GATEWAY_TIMEOUT,
                ErrorClass::ContextOverflow | ErrorClass::Refused => StatusCode::BAD_REQUEST,
                ErrorClass::Auth
                | ErrorClass::Server
                | ErrorClass::Malformed
                | ErrorClass::Network
                | ErrorClass::Config => StatusCode::BAD_GATEWAY,
            },
        }
    }

    /// The OpenAI error `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MissingKey | Self::InvalidKey | Self::RevokedKey | Self::ExpiredKey => {
                "authentication_error"
            }
            Self::BadRequest { .. }
            | Self::UnknownTool(_)
            | Self::NotFound
            | Self::MethodNotAllowed { .. }
            | Self::RequestTimeout(_)
            | Self::PayloadTooLarge { .. }
            | Self::HeadersTooLarge => "invalid_request_error",
            Self::ToolNotInTier { .. } | Self::UnknownPersona(_) => "permission_error",
            Self::RateLimited { .. } | Self::BudgetBusy { .. } => "rate_limit_error",
            Self::BudgetExhausted { .. } => "insufficient_quota",
            Self::Upstream { .. } => "upstream_error",
            Self::Internal | Self::Overloaded => "server_error",
        }
    }

    /// The OpenAI error `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingKey => "missing_api_key",
            Self::InvalidKey => "invalid_api_key",
            Self::RevokedKey => "revoked_api_key",
            Self::ExpiredKey => "expired_api_key",
            Self::BadRequest { .. } => "invalid_request",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::RequestTimeout(_) => "request_timeout",
            Self::PayloadTooLarge { .. } => "request_too_large",
            Self::HeadersTooLarge => "headers_too_large",
            Self::Overloaded => "overloaded",
            Self::UnknownTool(_) => "model_not_found",
            Self::NotFound => "not_found",
            Self::ToolNotInTier { .. } => "tool_not_in_tier",
            Self::UnknownPersona(_) => "unknown_persona",
            Self::RateLimited { .. } => "rate_limit_exceeded",
            Self::BudgetExhausted { .. } => "budget_exhausted",
            Self::BudgetBusy { .. } => "budget_edge",
            Self::Upstream { class, .. } => match class {
                ErrorClass::ContextOverflow => "context_length_exceeded",
                other => other.as_str(),
            },
            Self::Internal => "internal_error",
        }
    }

    /// The error class recorded in usage.
    pub fn error_class(&self) -> String {
        match self {
            Self::Upstream { class, .. } => class.as_str().to_owned(),
            other => other.code().to_owned(),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::Overloaded | Self::BudgetBusy { .. } => Some(Duration::from_secs(1)),
            Self::Upstream {
                class: ErrorClass::RateLimited,
                retry_after,
                ..
            } => Some(retry_after.unwrap_or(Duration::from_secs(1))),
            _ => None,
        }
    }

    /// The OpenAI-shaped body.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.to_string(),
                "type": self.kind(),
                "param": self.param(),
                "code": self.code(),
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        if let Self::MethodNotAllowed { allowed } = self {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allowed));
        }
        if let Some(after) = self.retry_after() {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs(after).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_carry_retry_after_and_bodies_are_openai_shaped() {
        let e = ApiError::RateLimited {
            tier: "t".into(),
            what: "requests",
            retry_after: Duration::from_millis(1200),
        };
        let r = e.clone().into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        let b = e.body();
        assert_eq!(b["error"]["type"], "rate_limit_error");
        assert_eq!(b["error"]["code"], "rate_limit_exceeded");
    }

    #[test]
    fn tier_errors_name_the_tiers_that_allow_the_tool() {
        let e = ApiError::ToolNotInTier {
            tool: "x".into(),
            persona: "p".into(),
            tier: "a".into(),
            allowed: vec!["b".into(), "c".into()],
        };
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert!(e.to_string().contains("tiers that allow it: `b`, `c`"));
    }

    #[test]
    fn upstream_faults_map_to_gateway_statuses() {
        let up = |class| ApiError::Upstream {
            tool: "t".into(),
            class,
            message: "m".into(),
            retry_after: None,
        };
        assert_eq!(
            up(ErrorClass::Timeout).status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(up(ErrorClass::Server).status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            up(ErrorClass::ContextOverflow).status(),
            StatusCode::BAD_REQUEST
        );
    }
}
