//! What keeps the dashboard safe to open: security headers on every response
//! (a strict CSP: no script at all), a Host check against DNS rebinding while listening on
//! loopback, and for writes a same-origin check (Origin, or Referer), a per-process CSRF
//! token (hidden field + `SameSite=Strict` cookie, both required) and the admin token.
//!
//! Who may write: with `--admin-token` set, whoever presents it; without one, anybody on
//! a loopback listener and nobody on any other (the dashboard is then read-only).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{AppState, WebError};

/// The Content-Security-Policy of every page: nothing may load but inline styles and
/// data: images; forms post only to this origin.
pub const CSP: &str = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The CSRF cookie's name.
pub const CSRF_COOKIE: &str = "proximity_csrf";

/// Who may use the write actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteAccess {
    /// Loopback listener, no admin token configured.
    Open,
    /// The admin token must come with each write.
    TokenRequired,
    /// Listening beyond loopback without an admin token: no writes.
    ReadOnly,
}

/// The security settings of one server process.
pub struct Security {
    admin_token: Option<String>,
    loopback: bool,
    csrf: String,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("loopback", &self.loopback)
            .finish_non_exhaustive()
    }
}

impl Security {
    /// Settings for a server listening on `listen`; a fresh random CSRF token.
    pub fn new(listen: SocketAddr, admin_token: Option<String>) -> Self {
        Self {
            admin_token: admin_token.filter(|t| !t.is_empty()),
            loopback: listen.ip().is_loopback(),
            csrf: hex::encode(rand::random::<[u8; 32]>()),
        }
    }

    pub fn access(&self) -> WriteAccess {
        match (&self.admin_token, self.loopback) {
            (Some(_), _) => WriteAccess::TokenRequired,
            (None, true) => WriteAccess::Open,
            (None, false) => WriteAccess::ReadOnly,
        }
    }

    /// The token forms carry in their hidden `csrf` field.
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    /// Whether a write may proceed: same origin, CSRF field and cookie, admin token.
    pub fn check_write(
        &self,
        headers: &HeaderMap,
        csrf_field: &str,
        admin_field: Option<&str>,
    ) -> Result<(), WebError> {
        same_origin(headers)?;
        let cookie = cookie(headers, CSRF_COOKIE).unwrap_or_default();
        if !(eq_ct(csrf_field, &self.csrf) && eq_ct(&cookie, &self.csrf)) {
            return Err(WebError::Forbidden(
                "The form's security token is missing or stale: reload the page and submit again."
                    .into(),
            ));
        }
        match self.access() {
            WriteAccess::Open => Ok(()),
            WriteAccess::ReadOnly => Err(WebError::Forbidden(
                "This dashboard is read-only: it listens beyond loopback without an admin token (`--admin-token` or `PROXIMITY_ADMIN_TOKEN`).".into(),
            )),
            WriteAccess::TokenRequired => {
                let bearer = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "));
                let given = admin_field.filter(|t| !t.is_empty()).or(bearer);
                match (given, &self.admin_token) {
                    (Some(g), Some(t)) if eq_ct(g, t) => Ok(()),
                    _ => Err(WebError::Forbidden(
                        "This action needs the admin token.".into(),
                    )),
                }
            }
        }
    }
}

/// Compare secrets in time independent of where they differ.
fn eq_ct(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0_u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|v| v.to_str().ok())
}

/// A write must come from a page of this origin: its `Origin` (or, without one, its
/// `Referer`) names the host the request was sent to.
fn same_origin(headers: &HeaderMap) -> Result<(), WebError> {
    let denied = || {
        WebError::Forbidden(
            "Cross-origin writes are refused: submit the form from the dashboard itself.".into(),
        )
    };
    let host = host(headers).ok_or_else(denied)?;
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .ok_or_else(denied)?;
    let rest = from
        .strip_prefix("http://")
        .or_else(|| from.strip_prefix("https://"))
        .ok_or_else(denied)?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(denied())
    }
}

/// Whether `host` (a Host header) names this machine's loopback.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => host,
    };
    matches!(name, "localhost" | "[::1]")
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The middleware in front of every route: Host check on loopback, security headers,
/// and the CSRF cookie on pages.
pub async fn guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if state.security.loopback && !host(req.headers()).is_some_and(is_loopback_host) {
        return WebError::Forbidden(
            "This dashboard answers only to localhost / 127.0.0.1 (a DNS-rebinding guard).".into(),
        )
        .into_response();
    }
    let is_get = req.method() == Method::GET;
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if is_get {
        let value = format!(
            "{CSRF_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
            state.security.csrf
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(header::SET_COOKIE, v);
        }
    }
    res
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn local(token: Option<&str>) -> Security {
        Security::new("127.0.0.1:7777".parse().unwrap(), token.map(str::to_owned))
    }

    #[test]
    fn write_access_follows_listener_and_token() {
        assert_eq!(local(None).access(), WriteAccess::Open);
        assert_eq!(local(Some("t")).access(), WriteAccess::TokenRequired);
        let public = Security::new("0.0.0.0:7777".parse().unwrap(), None);
        assert_eq!(public.access(), WriteAccess::ReadOnly);
        assert_ne!(local(None).csrf_token(), local(None).csrf_token());
    }

    #[test]
    fn writes_need_same_origin_csrf_cookie_and_token() {
        let s = local(Some("secret"));
        let csrf = s.csrf_token().to_owned();
        let cookie = format!("{CSRF_COOKIE}={csrf}");
        let good = headers(&[
            ("host", "127.0.0.1:7777"),
            ("origin", "http://127.0.0.1:7777"),
            ("cookie", &cookie),
        ]);
        assert!(s.check_write(&good, &csrf, Some("secret")).is_ok());
        assert!(s.check_write(&good, &csrf, Some("wrong")).is_err());
        assert!(s.check_write(&good, &csrf, None).is_err());
        assert!(s.check_write(&good, "forged", Some("secret")).is_err());
        let no_cookie = headers(&[
            ("host", "127.0.0.1:7777"),
            ("origin", "http://127.0.0.1:7777"),
        ]);
        assert!(s.check_write(&no_cookie, &csrf, Some("secret")).is_err());
        let evil = headers(&[
            ("host", "127.0.0.1:7777"),
            ("origin", "http://evil.example"),
            ("cookie", &cookie),
        ]);
        assert!(s.check_write(&evil, &csrf, Some("secret")).is_err());
        let bearer = headers(&[
            ("host", "127.0.0.1:7777"),
            ("referer", "http://127.0.0.1:7777/field-log"),
            ("cookie", &cookie),
            ("authorization", "Bearer secret"),
        ]);
        assert!(s.check_write(&bearer, &csrf, None).is_ok());
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(is_loopback_host("127.0.0.1:7777"));
        assert!(is_loopback_host("localhost"));
        assert!(is_loopback_host("[::1]:80"));
        assert!(!is_loopback_host("evil.example:7777"));
        assert!(!is_loopback_host("127.0.0.1.evil.example"));
    }
}
