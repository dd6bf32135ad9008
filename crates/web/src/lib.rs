//! Proximity's dashboard and static HTML report.
//!
//! [`app`] is the axum router `proximity serve` runs: overview, persona, tool, run and
//! result pages, the field log, decisions and usage, rendered server-side from the
//! program and the store (charts are inline SVG; no script, no CDN). [`render_static_site`]
//! writes the same views of one run as a self-contained directory of HTML files with
//! relative links, for `proximity report RUN --format html --out DIR`.
//!
//! Everything a model wrote or a person typed reaches the page through minijinja with
//! HTML auto-escaping on ([`templates`]); SVG is built by [`svg`], which escapes every
//! text it places. Writes need the CSRF token and, where configured, the admin token
//! ([`security`]).

pub mod cache;
pub mod error;
pub mod links;
pub mod pages;
pub mod scores;
pub mod security;
pub mod site;
pub mod svg;
pub mod templates;
pub mod views;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use proximity_program::Program;
use proximity_store::Store;

pub use error::WebError;
pub use security::Security;
pub use site::render_static_site;

/// What every request handler reads.
#[derive(Debug)]
pub struct AppState {
    pub program: Program,
    pub store: Store,
    pub security: Security,
    /// Score cells of finished runs.
    pub cells: cache::CellCache,
}

impl AppState {
    pub fn new(program: Program, store: Store, security: Security) -> Self {
        Self {
            program,
            store,
            security,
            cells: cache::CellCache::default(),
        }
    }
}

impl AppState {
    /// Read the newest evaluation run's score cells into the cache, so the first page
    /// load does not pay for the `GROUP BY`.
    pub async fn warm(&self) -> Result<(), WebError> {
        if let Some(run) = pages::pick_run(&self.store, None).await? {
            self.cells.cells(&self.store, &run).await?;
        }
        Ok(())
    }
}

/// The dashboard's router.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(pages::overview::handler))
        .route("/runs", get(pages::runs::handler))
        .route("/persona/{id}", get(pages::persona::handler))
        .route("/tool/{id}", get(pages::tool::handler))
        .route("/run/{id}", get(pages::run::handler))
        .route(
            "/run/{id}/result/{tool}/{case}/{sample}",
            get(pages::result::handler),
        )
        .route(
            "/field-log",
            get(pages::field_log::handler).post(pages::field_log::add),
        )
        .route("/field-log/{id}/promote", post(pages::field_log::promote))
        .route("/decisions", get(pages::decisions::handler))
        .route("/baseline/accept", post(pages::tool::accept_baseline))
        .route("/usage", get(pages::usage::handler))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .with_state(state)
}
