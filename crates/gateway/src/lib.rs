//! Proximity's gateway: an OpenAI-compatible proxy in front of the program's tools.
//!
//! A virtual key ([`auth`]) maps to a persona and so to a tier; the tier decides which
//! tools the key reaches ([`tiers`]), how fast ([`ratelimit`]) and how much it may spend
//! ([`budget`], reserved atomically before the upstream call by the [`ledger`], in the
//! store or in the process that owns its SQLite file; [`spend_guard`] keeps it honest
//! against greedy upstreams and keeps live reservations renewed). Every request
//! leaves a usage row ([`usage`]) before it is acknowledged. [`relay`] serves chat
//! completions, streamed or not; [`metrics`] exposes Prometheus metrics; [`error`] is the
//! one API error type; [`server`] is the bounded HTTP/1.1 server (timeouts, connection
//! cap, JSON answers to malformed requests). [`live`] checks a sample of finished answers
//! in the background. The loaded program and its providers sit
//! behind an [`ArcSwap`] so a reload never drops a request.

pub mod auth;
pub mod budget;
pub mod capture;
pub mod error;
pub mod journal;
pub mod ledger;
pub mod live;
pub mod metrics;
pub mod ratelimit;
pub mod relay;
pub mod server;
pub mod spend_guard;
pub mod tiers;
pub mod trace;
pub mod usage;
pub mod wire;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use proximity_program::{Program, Tool};
use proximity_providers::{Provider, ProviderError};
use proximity_store::Store;
use serde_json::json;

pub use error::ApiError;

/// What can stop the gateway from starting.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Store(#[from] proximity_store::StoreError),
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
}

type ProviderSlot = OnceLock<Result<Arc<dyn Provider>, ProviderError>>;

/// A loaded program and its providers, built on first use (a `local` tool loads its
/// model only when a request needs it).
pub struct Loaded {
    pub program: Program,
    /// The program's redactor (its `canaries:`), for captures.
    pub redactor: Arc<proximity_program::redact::Redactor>,
    providers: HashMap<String, ProviderSlot>,
    fingerprints: HashMap<String, String>,
}

impl Loaded {
    pub fn new(program: Program) -> Self {
        let providers = program
            .tools
            .iter()
            .map(|t| (t.id.clone(), OnceLock::new()))
            .collect();
        let fingerprints = program
            .tools
            .iter()
            .map(|t| {
                (
                    t.id.clone(),
                    proximity_program::fingerprint::config_fingerprint(t),
                )
            })
            .collect();
        Self {
            redactor: Arc::new(capture::redactor(&program)),
            program,
            providers,
            fingerprints,
        }
    }

    /// Use `provider` for tool `id` instead of building one (tests, embedding).
    pub fn with_provider(self, id: &str, provider: Arc<dyn Provider>) -> Self {
        if let Some(slot) = self.providers.get(id) {
            let _ = slot.set(Ok(provider));
        }
        self
    }

    /// The provider of `tool`, built the first time it is asked for.
    pub fn provider(&self, tool: &Tool) -> Result<Arc<dyn Provider>, ProviderError> {
        let Some(slot) = self.providers.get(&tool.id) else {
            return proximity_providers::build(tool, &self.program.root);
        };
        slot.get_or_init(|| proximity_providers::build(tool, &self.program.root))
            .clone()
    }

    /// The configuration fingerprint of tool `id`.
    pub fn fingerprint(&self, id: &str) -> &str {
        self.fingerprints.get(id).map_or("", String::as_str)
    }
}

/// How the gateway behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Log prompts and answers (off by default: they may hold customer data).
    pub log_content: bool,
    /// The longest a request may take, retries and fallback included, unless the client
    /// sends a shorter `x-proximity-deadline-ms`.
    pub deadline: Duration,
    /// Keep rate-limit buckets and budget reservations in the store, shared by every
    /// gateway on it (always so on PostgreSQL; on SQLite only when several processes
    /// serve one database file). Otherwise one gateway owns its SQLite file and keeps
    /// both in memory.
    pub shared_limits: bool,
    /// The largest request body accepted, in bytes; larger ones get a 413.
    pub max_body_bytes: usize,
    /// How long a client may take to send a request body; slower ones get a 408.
    pub body_timeout: Duration,
    /// How long a client may take to send a request head, and how long a keep-alive
    /// connection may stay idle.
    pub header_timeout: Duration,
    /// Open client connections at most (lowered to fit the open-file limit); past it a
    /// connection gets a 503.
    pub max_connections: usize,
    /// How often live budget reservations in the store are renewed (see
    /// [`spend_guard`]); well under the stale-reservation sweeper's cutoff.
    pub renew_every: Duration,
    /// Answers waiting for their live checks at most ([`live`]); past it a drawn answer
    /// is skipped and counted.
    pub live_queue: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            log_content: false,
            deadline: Duration::from_secs(120),
            shared_limits: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            body_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            renew_every: Duration::from_secs(20),
            live_queue: live::DEFAULT_QUEUE,
        }
    }
}

/// The default request body limit: 2 MiB, OpenAI's own is larger, but a chat request of
/// text is far smaller.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Everything a request handler needs.
pub struct AppState {
    pub loaded: ArcSwap<Loaded>,
    pub store: Store,
    pub ledger: ledger::Ledger,
    pub guard: spend_guard::SpendGuard,
    pub keys: auth::KeyCache,
    pub limiter: ratelimit::RateLimiter,
    pub metrics: metrics::Metrics,
    pub capture: capture::Capturer,
    pub live: live::LiveChecks,
    pub options: Options,
}

impl AppState {
    /// The state of a gateway on `store` (async: a gateway owning a SQLite file first
    /// moves a killed predecessor's usage journal into it).
    pub async fn new(loaded: Loaded, store: Store, options: Options) -> Result<Self, GatewayError> {
        let limiter =
            if options.shared_limits || store.backend() == proximity_store::Backend::Postgres {
                ratelimit::RateLimiter::shared(store.clone())
            } else {
                ratelimit::RateLimiter::default()
            };
        let ledger = ledger::Ledger::open(store.clone(), options.shared_limits).await?;
        let guard = spend_guard::SpendGuard::new(&ledger, options.renew_every);
        let metrics = metrics::Metrics::new()?;
        let capture = capture::Capturer::start(store.clone(), metrics.registry())?;
        let live = live::LiveChecks::start(store.clone(), metrics.live(), options.live_queue);
        Ok(Self {
            loaded: ArcSwap::from_pointee(loaded),
            guard,
            ledger,
            store,
            keys: auth::KeyCache::default(),
            limiter,
            metrics,
            capture,
            live,
            options,
        })
    }

    /// Swap in a newly loaded program: requests in flight finish on the old one.
    pub fn reload(&self, loaded: Loaded) {
        self.loaded.store(Arc::new(loaded));
    }
}

/// The gateway's routes.
pub fn app(state: Arc<AppState>) -> Router {
    let only_post = || async { ApiError::MethodNotAllowed { allowed: "POST" } };
    let only_get = || async {
        ApiError::MethodNotAllowed {
            allowed: "GET, HEAD",
        }
    };
    Router::new()
        .route(
            "/v1/chat/completions",
            post(chat_completions).fallback(only_post),
        )
        .route("/v1/models", get(models).fallback(only_get))
        .route("/v1/models/{id}", get(model).fallback(only_get))
        .route("/healthz", get(healthz).fallback(only_get))
        .route("/metrics", get(metrics_text).fallback(only_get))
        .fallback(not_found)
        .with_state(state)
}

/// Serve `app(state)` on `listener` until `shutdown` resolves, then finish the requests
/// in flight (streams included) and move the usage journal into the store before
/// returning. The soft open-file limit is raised to the hard one first, and the
/// connection cap lowered to fit it ([`server`]).
pub async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    let files = server::raise_open_file_limit();
    let limits = server::Limits {
        max_connections: server::effective_cap(state.options.max_connections, files),
        header_timeout: state.options.header_timeout,
    };
    tracing::info!(
        open_file_limit = files.unwrap_or(u64::MAX),
        max_connections = limits.max_connections,
        "serving"
    );
    server::run(listener, app(state.clone()), limits, shutdown).await;
    state.capture.flush(Duration::from_secs(5)).await;
    state.live.close().await;
    state
        .ledger
        .close()
        .await
        .map_err(ledger::LedgerError::from)?;
    Ok(())
}

/// A request body, at most `--max-body-bytes` (413 past it) and sent within the body
/// timeout (408 past it).
pub async fn read_body(
    options: &Options,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let limit = options.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let read = http_body_util::Limited::new(body, limit).collect();
    match tokio::time::timeout(options.body_timeout, read).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::PayloadTooLarge { limit })
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "cannot read a request body");
            Err(ApiError::bad("the request body could not be read"))
        }
        Err(_) => Err(ApiError::RequestTimeout(options.body_timeout.as_secs())),
    }
}

async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match read_body(&state.options, &headers, body).await {
        Ok(body) => relay::chat(state, headers, body).await,
        Err(e) => e.into_response(),
    }
}

async fn models(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let key = auth::authenticate(&state.store, &state.keys, &headers, chrono::Utc::now()).await?;
    let loaded = state.loaded.load();
    let (_, tier) = tiers::persona_tier(&loaded.program, &key.persona)?;
    Ok(Json(wire::models(&tiers::visible_tools(
        &loaded.program,
        tier,
    ))))
}

async fn model(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let key = auth::authenticate(&state.store, &state.keys, &headers, chrono::Utc::now()).await?;
    let loaded = state.loaded.load();
    let (_, tier) = tiers::persona_tier(&loaded.program, &key.persona)?;
    tiers::visible_tools(&loaded.program, tier)
        .into_iter()
        .find(|t| t.id == id)
        .map(|t| Json(wire::model(t)))
        .ok_or(ApiError::UnknownTool(id))
}

async fn healthz(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let loaded = state.loaded.load();
    Json(json!({
        "status": "ok",
        "program": loaded.program.name,
        "tools": loaded.program.tools.len(),
        "usage_pending": state.ledger.usage_pending(),
        "live_pending": state.live.pending(),
    }))
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    state
        .metrics
        .set_usage_pending(state.ledger.usage_pending());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}
