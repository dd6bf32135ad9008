//! HTTP plumbing shared by the remote providers (`openai`, `anthropic`): the per-provider
//! [`Transport`], API keys read from the environment, endpoint URLs, and — the heart of it — turning
//! an HTTP status, headers and error body, or a transport failure, into a classified
//! [`ProviderError`] (with `Retry-After` honoured and secrets redacted).
//!
//! Invariant: nothing produced here contains an API key. Keys are read from the environment
//! when a request is made, sent in a header marked sensitive, and every upstream message is
//! passed through [`redact`] before it reaches an error.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, Uri};
use proximity_program::Tool;
use serde_json::Value;

use crate::error::{ErrorClass, ProviderError};
use crate::transport::{Fault, FaultKind, Response, Transport};

/// Per-request timeout when a tool sets no `timeout_secs`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest upstream message quoted in an error, in characters.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// The tool's per-request timeout: `params.timeout_secs` when it is a positive, finite
/// number of seconds, otherwise [`DEFAULT_TIMEOUT`].
pub fn timeout_of(tool: &Tool) -> Duration {
    tool.params
        .timeout_secs
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// The transport of one provider instance, sending to `url`: the tool's timeout over each
/// request, and a connect timeout no longer than that.
pub fn transport(tool: &Tool, url: &Uri) -> Result<Transport, ProviderError> {
    Transport::new(url, timeout_of(tool))
}

/// `url` (`base_url` joined with an endpoint path) checked and normalised (an
/// internationalised host in punycode) as a request target.
pub fn endpoint(tool: &Tool, url: &str) -> Result<Uri, ProviderError> {
    let bad = |why: String| {
        ProviderError::new(
            ErrorClass::Config,
            format!("tool `{}`: `base_url` `{url}` is not a URL: {why}", tool.id),
        )
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    Uri::try_from(parsed.as_str()).map_err(|e| bad(e.to_string()))
}

/// `base` (with or without a trailing slash) joined with `path` (starting with `/`).
pub fn join_url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

/// The host of an `http(s)://` URL, lower-cased, without port or credentials.
pub fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if host_port.starts_with('[') {
        host_port.split_inclusive(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Checks that `base_url` is an `http://` or `https://` URL.
pub fn check_base_url(tool: &Tool, base_url: &str) -> Result<(), ProviderError> {
    let ok = (base_url.starts_with("http://") || base_url.starts_with("https://"))
        && host_of(base_url).is_some();
    if ok {
        Ok(())
    } else {
        Err(ProviderError::new(
            ErrorClass::Config,
            format!(
                "tool `{}`: `base_url` must be an http:// or https:// URL, got `{}`",
                tool.id,
                trim_message(base_url)
            ),
        ))
    }
}

/// The tool's `model`, which remote providers need.
pub fn model_of(tool: &Tool) -> Result<String, ProviderError> {
    tool.model.clone().ok_or_else(|| {
        ProviderError::new(
            ErrorClass::Config,
            format!("tool `{}` needs a `model`", tool.id),
        )
    })
}

/// The API key held by environment variable `var`: `Ok(None)` when it is unset or empty.
/// The error (a value that is not Unicode) names the variable, never the value.
pub fn read_key(var: &str) -> Result<Option<String>, ProviderError> {
    match std::env::var(var) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v.trim().to_owned())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ProviderError::new(
            ErrorClass::Config,
            format!("the environment variable `{var}` does not hold a valid API key (not Unicode)"),
        )),
    }
}

/// The API key held by `var`, which must be set.
pub fn require_key(tool: &Tool, var: &str) -> Result<String, ProviderError> {
    read_key(var)?.ok_or_else(|| missing_key(&tool.id, var))
}

/// The error for a required API key whose variable is not set: it names the variable.
pub fn missing_key(tool_id: &str, var: &str) -> ProviderError {
    ProviderError::new(
        ErrorClass::Config,
        format!(
            "tool `{tool_id}` needs an API key: set the environment variable `{var}` \
             (or name another one with `api_key_env`)"
        ),
    )
}

/// A header value holding a secret, marked sensitive so it is never printed by `Debug`.
pub fn secret_header(var: &str, value: &str) -> Result<HeaderValue, ProviderError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        ProviderError::new(
            ErrorClass::Config,
            format!("the API key in `{var}` contains characters not allowed in an HTTP header"),
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// `text` with every occurrence of `secret` (when non-empty) replaced by `[redacted]`, and
/// any `Bearer <token>` credential masked as well.
pub fn redact(text: &str, secret: Option<&str>) -> String {
    let mut out = match secret {
        Some(s) if !s.is_empty() => text.replace(s, "[redacted]"),
        _ => text.to_owned(),
    };
    // Upstreams sometimes echo the Authorization header; mask any bearer token we see.
    let lower = out.to_ascii_lowercase();
    if lower.contains("bearer ") {
        let mut masked = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(pos) = rest.to_ascii_lowercase().find("bearer ") {
            let (before, after) = rest.split_at(pos + "bearer ".len());
            masked.push_str(before);
            let token_len = after
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';'))
                .unwrap_or(after.len());
            if token_len > 0 {
                masked.push_str("[redacted]");
            }
            rest = &after[token_len..];
        }
        masked.push_str(rest);
        out = masked;
    }
    out
}

/// `text` on one line, control characters removed, cut to [`MAX_MESSAGE_CHARS`].
pub fn trim_message(text: &str) -> String {
    let one_line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if one_line.chars().count() > MAX_MESSAGE_CHARS {
        let cut: String = one_line.chars().take(MAX_MESSAGE_CHARS).collect();
        format!("{cut}…")
    } else {
        one_line
    }
}

/// What an error body says, as far as we can tell: the `message`, `type` and `code` of the
/// usual `{"error": {...}}` shapes (OpenAI, Anthropic, vLLM, FastAPI `detail`), or the raw
/// text.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ErrorBody {
    pub message: String,
    pub kind: Option<String>,
    pub code: Option<String>,
}

impl ErrorBody {
    pub fn parse(body: &str) -> Self {
        let Ok(v) = serde_json::from_str::<Value>(body) else {
            return Self {
                message: body.to_owned(),
                ..Self::default()
            };
        };
        let err = match v.get("error") {
            Some(e @ Value::Object(_)) => e,
            _ => &v,
        };
        let as_text = |x: Option<&Value>| match x {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let message = as_text(err.get("message"))
            .or_else(|| as_text(v.get("error")))
            .or_else(|| as_text(v.get("detail")))
            .or_else(|| as_text(v.get("message")))
            .unwrap_or_else(|| body.to_owned());
        Self {
            message,
            kind: as_text(err.get("type")),
            code: as_text(err.get("code")),
        }
    }

    /// Whether the body says the prompt does not fit the model's context window.
    pub fn is_context_overflow(&self) -> bool {
        const CODES: [&str; 2] = ["context_length_exceeded", "exceed_context_size_error"];
        const PHRASES: [&str; 6] = [
            "maximum context length",
            "prompt is too long",
            "context length exceeded",
            "context_length_exceeded",
            "exceeds the available context size",
            "exceeds the context window",
        ];
        let is_code = |x: &Option<String>| x.as_deref().is_some_and(|c| CODES.contains(&c));
        let msg = self.message.to_lowercase();
        is_code(&self.code) || is_code(&self.kind) || PHRASES.iter().any(|p| msg.contains(p))
    }
}

/// How long the provider asks us to wait: `retry-after-ms` (milliseconds), else
/// `Retry-After` (delta-seconds or an HTTP-date, relative to `now`), else the earliest
/// Anthropic `anthropic-ratelimit-*-reset` time.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(parse_seconds) {
        return Some(ms / 1000);
    }
    if let Some(v) = text("retry-after") {
        if let Some(d) = parse_seconds(v) {
            return Some(d);
        }
        if let Ok(at) = httpdate::parse_http_date(v) {
            return Some(at.duration_since(now).unwrap_or(Duration::ZERO));
        }
    }
    let resets = [
        "anthropic-ratelimit-requests-reset",
        "anthropic-ratelimit-tokens-reset",
        "anthropic-ratelimit-input-tokens-reset",
        "anthropic-ratelimit-output-tokens-reset",
    ];
    resets
        .iter()
        .filter_map(|h| text(h).and_then(parse_rfc3339))
        .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
        .min()
}

/// A non-negative number (decimals allowed) as a duration in its unit (seconds here; the
/// caller divides for milliseconds). Absurdly large values are refused.
fn parse_seconds(v: &str) -> Option<Duration> {
    let n: f64 = v.parse().ok()?;
    if !(0.0..=86_400_000.0).contains(&n) {
        return None;
    }
    Duration::try_from_secs_f64(n).ok()
}

/// An RFC 3339 UTC timestamp (`2025-01-01T00:00:00Z`, fractional seconds and a numeric
/// offset allowed) as a system time.
fn parse_rfc3339(v: &str) -> Option<SystemTime> {
    let b = v.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| v.get(r)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut rest = &v[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.chars().take_while(char::is_ascii_digit).count();
        let padded: String = frac[..digits]
            .chars()
            .chain("000000000".chars())
            .take(9)
            .collect();
        nanos = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && o.get(3..4) == Some(":") => {
            let sign = match o.get(..1) {
                Some("+") => 1,
                Some("-") => -1,
                _ => return None,
            };
            let hours = o.get(1..3)?.parse::<i64>().ok()?;
            let minutes = o.get(4..6)?.parse::<i64>().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset;
    let secs = u64::try_from(secs).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// Which provider an error came from, for messages and provider-specific statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    OpenAi,
    Anthropic,
}

impl Upstream {
    fn name(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
        }
    }
}

/// Classify a non-success HTTP answer. `secret` is redacted from whatever the body says.
///
/// 401/403 → auth; 429 → rate limited (with `Retry-After`); 408 → timeout; 5xx (Anthropic's
/// 529 overloaded included) → server; a 4xx whose body says the context was exceeded (and
/// 413) → context overflow; any other 4xx → config, quoting the provider's message.
pub fn classify_status(
    upstream: Upstream,
    status: u16,
    headers: &HeaderMap,
    body: &str,
    secret: Option<&str>,
    key_env: &str,
) -> ProviderError {
    let parsed = ErrorBody::parse(body);
    let said = trim_message(&redact(&parsed.message, secret));
    let said = if said.is_empty() {
        String::from("(no message)")
    } else {
        said
    };
    let who = upstream.name();
    let (class, message) = match status {
        401 | 403 => (
            ErrorClass::Auth,
            format!("{who} rejected the credentials in `{key_env}` (HTTP {status}): {said}"),
        ),
        429 => (
            ErrorClass::RateLimited,
            format!("{who} rate limit (HTTP 429): {said}"),
        ),
        408 => (
            ErrorClass::Timeout,
            format!("{who} timed out the request (HTTP 408): {said}"),
        ),
        529 if upstream == Upstream::Anthropic => (
            ErrorClass::Server,
            format!("{who} is overloaded (HTTP 529): {said}"),
        ),
        500..=599 => (
            ErrorClass::Server,
            format!("{who} server error (HTTP {status}): {said}"),
        ),
        413 => (
            ErrorClass::ContextOverflow,
            format!("{who}: the request is too large (HTTP 413): {said}"),
        ),
        400..=499 if parsed.is_context_overflow() => (
            ErrorClass::ContextOverflow,
            format!("{who}: the prompt does not fit the context window (HTTP {status}): {said}"),
        ),
        400..=499 => (
            ErrorClass::Config,
            format!("{who} refused the request (HTTP {status}): {said}"),
        ),
        _ => (
            ErrorClass::Server,
            format!("{who} answered with unexpected HTTP {status}: {said}"),
        ),
    };
    let wait = matches!(class, ErrorClass::RateLimited | ErrorClass::Server)
        .then(|| retry_after(headers, SystemTime::now()))
        .flatten();
    ProviderError::new(class, message)
        .with_status(status)
        .with_retry_after(wait)
}

/// Classify a failure to get an answer at all: timeouts → timeout; connection refused,
/// reset, DNS → network; a body cut off after a success status → malformed.
pub fn classify_transport(
    upstream: Upstream,
    fault: &Fault,
    secret: Option<&str>,
) -> ProviderError {
    let who = upstream.name();
    let detail = trim_message(&redact(&fault.detail, secret));
    match fault.kind {
        FaultKind::Timeout => ProviderError::new(
            ErrorClass::Timeout,
            format!("{who}: no answer in time: {detail}"),
        ),
        FaultKind::Body => ProviderError::new(
            ErrorClass::Malformed,
            format!("{who}: the answer was cut off: {detail}"),
        ),
        FaultKind::Build => ProviderError::new(
            ErrorClass::Config,
            format!("{who}: the request could not be built: {detail}"),
        ),
        FaultKind::Connect => ProviderError::new(
            ErrorClass::Network,
            format!("{who}: could not reach the endpoint: {detail}"),
        ),
    }
}

/// The outcome of one POST: the status, headers and body text, or a classified fault.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// This answer's failed status, classified by [`classify_status`].
    fn refused(&self, upstream: Upstream, secret: Option<&str>, key_env: &str) -> ProviderError {
        classify_status(
            upstream,
            self.status,
            &self.headers,
            &self.body,
            secret,
            key_env,
        )
    }
}

/// One JSON request to `url`: its headers and its body.
pub struct Post<'a> {
    pub transport: &'a Transport,
    pub url: &'a Uri,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Send `post` and read the whole answer.
pub async fn send(
    upstream: Upstream,
    post: Post<'_>,
    secret: Option<&str>,
) -> Result<Answer, ProviderError> {
    let response = open(upstream, post, secret).await?;
    read(upstream, response, secret).await
}

/// Send `post` for an answer read as it arrives: a success status is returned with its
/// body unread; any other is read in full and classified by [`classify_status`].
pub async fn send_streaming(
    upstream: Upstream,
    post: Post<'_>,
    secret: Option<&str>,
    key_env: &str,
) -> Result<Response, ProviderError> {
    let response = open(upstream, post, secret).await?;
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    let answer = read(upstream, response, secret).await?;
    Err(answer.refused(upstream, secret, key_env))
}

/// Send `post` and wait for the answer's head; a transport fault is classified.
async fn open(
    upstream: Upstream,
    post: Post<'_>,
    secret: Option<&str>,
) -> Result<Response, ProviderError> {
    post.transport
        .post_json(post.url, post.headers, post.body)
        .await
        .map_err(|e| classify_transport(upstream, &e, secret))
}

/// The whole of an answer whose head has arrived.
async fn read(
    upstream: Upstream,
    mut response: Response,
    secret: Option<&str>,
) -> Result<Answer, ProviderError> {
    let status = response.status;
    let headers = std::mem::take(&mut response.headers);
    let body = match response.bytes().await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        // A failed status whose body was lost is still classified by its status.
        Err(_) if !(200..300).contains(&status) => String::new(),
        Err(e) => return Err(classify_transport(upstream, &e, secret).with_status(status)),
    };
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// A success body that is not what the provider should have sent.
pub fn malformed(upstream: Upstream, status: u16, what: &str) -> ProviderError {
    ProviderError::new(
        ErrorClass::Malformed,
        format!(
            "{}: unexpected answer: {}",
            upstream.name(),
            trim_message(what)
        ),
    )
    .with_status(status)
}

/// Whether a body is a JSON object with an `error` member.
pub fn has_error_object(body: &str) -> bool {
    serde_json::from_str::<Value>(body).is_ok_and(|v| v.get("error").is_some_and(|e| !e.is_null()))
}

/// A `{"error": ...}` object in a success body (some OpenAI-compatible gateways answer
/// 200 with an error): classified by its numeric `code` where it has one.
pub fn error_in_success(
    upstream: Upstream,
    status: u16,
    headers: &HeaderMap,
    body: &str,
    secret: Option<&str>,
    key_env: &str,
) -> ProviderError {
    let parsed = ErrorBody::parse(body);
    match parsed.code.as_deref().and_then(|c| c.parse::<u16>().ok()) {
        Some(code) if (400..600).contains(&code) => {
            classify_status(upstream, code, headers, body, secret, key_env)
        }
        _ if parsed.is_context_overflow() => {
            classify_status(upstream, 400, headers, body, secret, key_env).with_status(status)
        }
        _ => malformed(
            upstream,
            status,
            &format!("an error object: {}", redact(&parsed.message, secret)),
        ),
    }
}

/// Send a request and turn the answer into a response or a classified error: a non-2xx
/// status by [`classify_status`], a 2xx carrying an error object by [`error_in_success`],
/// and a 2xx that `parse` rejects as [`malformed`].
pub async fn send_and_parse<T>(
    upstream: Upstream,
    post: Post<'_>,
    secret: Option<&str>,
    key_env: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, ProviderError> {
    let answer = send(upstream, post, secret).await?;
    if !(200..300).contains(&answer.status) {
        return Err(answer.refused(upstream, secret, key_env));
    }
    parse(&answer.body).map_err(|what| {
        if has_error_object(&answer.body) {
            error_in_success(
                upstream,
                answer.status,
                &answer.headers,
                &answer.body,
                secret,
                key_env,
            )
        } else {
            malformed(upstream, answer.status, &what)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proximity_program::{Price, ProviderKind, ToolParams};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn tool(timeout_secs: Option<f64>) -> Tool {
        Tool {
            id: "t".into(),
            provider: ProviderKind::Openai,
            model: Some("m".into()),
            base_url: None,
            api_key_env: None,
            model_path: None,
            params: ToolParams {
                timeout_secs,
                ..Default::default()
            },
            capabilities: vec![],
            context_window: None,
            price: Price::default(),
            description: None,
            fallback: None,
        }
    }

    #[test]
    fn timeout_defaults_to_sixty_seconds_and_rejects_nonsense() {
        assert_eq!(timeout_of(&tool(None)), Duration::from_secs(60));
        assert_eq!(timeout_of(&tool(Some(1.5))), Duration::from_millis(1500));
        assert_eq!(timeout_of(&tool(Some(-1.0))), DEFAULT_TIMEOUT);
        assert_eq!(timeout_of(&tool(Some(f64::NAN))), DEFAULT_TIMEOUT);
    }

    #[test]
    fn urls_join_with_or_without_trailing_slash() {
        assert_eq!(join_url("http://h/v1/", "/x"), "http://h/v1/x");
        assert_eq!(join_url("http://h/v1", "/x"), "http://h/v1/x");
        assert_eq!(
            host_of("https://user:pw@API.openai.com:443/v1").as_deref(),
            Some("api.openai.com")
        );
        assert_eq!(host_of("http://[::1]:8000/v1").as_deref(), Some("[::1]"));
        assert_eq!(host_of("http://"), None);
    }

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")]), now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "2"), ("retry-after-ms", "150")]),
                now
            ),
            Some(Duration::from_millis(150))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            retry_after(&headers(&[("retry-after", date.as_str())]), now),
            Some(Duration::from_secs(30))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(
            retry_after(&headers(&[("retry-after", past.as_str())]), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "-3")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn anthropic_reset_headers_give_the_earliest_wait() {
        // 1_700_000_000 is 2023-11-14T22:13:20Z.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let h = headers(&[
            ("anthropic-ratelimit-requests-reset", "2023-11-14T22:13:25Z"),
            (
                "anthropic-ratelimit-tokens-reset",
                "2023-11-14T22:13:22.500Z",
            ),
        ]);
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(2500)));
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20+01:00"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn redact_removes_the_key_and_bearer_tokens() {
        let out = redact(
            "header was 'Bearer sk-abc123', key sk-abc123 again",
            Some("sk-abc123"),
        );
        assert!(!out.contains("sk-abc123"), "{out}");
        let out = redact("Authorization: bearer tok-999 rest", None);
        assert_eq!(out, "Authorization: bearer [redacted] rest");
    }

    #[test]
    fn long_messages_are_trimmed_to_one_line() {
        let msg = trim_message(&format!("a\nb\t{}", "x".repeat(1000)));
        assert!(msg.starts_with("a b "));
        assert_eq!(msg.chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn error_bodies_of_each_shape_are_understood() {
        let openai = ErrorBody::parse(
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error","code":"context_length_exceeded"}}"#,
        );
        assert!(openai.is_context_overflow());
        assert_eq!(openai.code.as_deref(), Some("context_length_exceeded"));
        let anthropic = ErrorBody::parse(
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#,
        );
        assert!(anthropic.is_context_overflow());
        let vllm = ErrorBody::parse(r#"{"object":"error","message":"bad temperature","code":400}"#);
        assert_eq!(vllm.message, "bad temperature");
        assert!(!vllm.is_context_overflow());
        assert_eq!(ErrorBody::parse("<html>oops").message, "<html>oops");
    }

    #[test]
    fn statuses_map_to_classes() {
        let h = headers(&[("retry-after", "3")]);
        let c = |up, s, body: &str| classify_status(up, s, &h, body, None, "K").class;
        assert_eq!(c(Upstream::OpenAi, 401, ""), ErrorClass::Auth);
        assert_eq!(c(Upstream::OpenAi, 403, ""), ErrorClass::Auth);
        assert_eq!(c(Upstream::OpenAi, 429, ""), ErrorClass::RateLimited);
        assert_eq!(c(Upstream::OpenAi, 408, ""), ErrorClass::Timeout);
        assert_eq!(c(Upstream::OpenAi, 502, ""), ErrorClass::Server);
        assert_eq!(c(Upstream::Anthropic, 529, ""), ErrorClass::Server);
        assert_eq!(
            c(Upstream::OpenAi, 404, "no such model"),
            ErrorClass::Config
        );
        assert_eq!(
            c(
                Upstream::OpenAi,
                400,
                r#"{"error":{"message":"prompt is too long"}}"#
            ),
            ErrorClass::ContextOverflow
        );
        let e = classify_status(Upstream::OpenAi, 429, &h, "", None, "K");
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(e.status, Some(429));
        // Retry-After on a client error is not a reason to wait.
        let e = classify_status(Upstream::OpenAi, 400, &h, "", None, "K");
        assert_eq!(e.retry_after, None);
    }

    #[test]
    fn upstream_messages_never_carry_the_key() {
        let e = classify_status(
            Upstream::OpenAi,
            400,
            &HeaderMap::new(),
            r#"{"error":{"message":"bad header Authorization: Bearer sk-live-XYZ"}}"#,
            Some("sk-live-XYZ"),
            "OPENAI_API_KEY",
        );
        assert!(!e.to_string().contains("sk-live-XYZ"), "{e}");
        assert!(e.to_string().contains("bad header"), "{e}");
    }
}
