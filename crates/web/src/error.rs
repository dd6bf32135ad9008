//! The web crate's error type and its HTTP mapping: each variant has one status; the page
//! says what happened in words a person can act on, internals go to the log only.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// What went wrong serving a page or writing the report.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("store: {0}")]
    Store(#[from] proximity_store::StoreError),
    #[error("template: {0}")]
    Template(#[from] minijinja::Error),
    #[error("cannot write the report: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Store(proximity_store::StoreError::NoSuchRun(_)) | Self::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Store(_) | Self::Template(_) | Self::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the page says: the message for what the caller did, a generic line otherwise.
    fn public_message(&self) -> String {
        match self {
            Self::Store(proximity_store::StoreError::NoSuchRun(id)) => {
                format!("No run `{id}` in the store.")
            }
            Self::NotFound(m) | Self::BadRequest(m) | Self::Forbidden(m) => m.clone(),
            Self::Store(_) | Self::Template(_) | Self::Io(_) => {
                "Something went wrong on the server; its log says what.".to_owned()
            }
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "dashboard request failed");
        }
        let body = crate::templates::render(
            "error.html",
            minijinja::context! {
                chrome => minijinja::context! {
                    title => status.canonical_reason().unwrap_or("Error"),
                    program => "Proximity",
                },
                title => status.canonical_reason().unwrap_or("Error"),
                status => status.as_u16(),
                message => self.public_message(),
                links => crate::links::Links::Server.nav(),
            },
        )
        .unwrap_or_else(|_| "error".to_owned());
        (status, Html(body)).into_response()
    }
}
