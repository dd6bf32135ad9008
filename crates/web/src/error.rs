//! The web crate's error type and its HTTP mapping: each variant has one status; the page
//! says what happened in words a person can act on, internals go to the log only.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use proximity_ops::OpsError;

/// `text` with its first letter upper-case, ending with a full stop: an operation's
/// message as a sentence on a page.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.ends_with(['.', '?', '!']) {
        out.push('.');
    }
    out
}

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
    /// An operation refused the input or failed (the same error the CLI prints).
    #[error(transparent)]
    Op(#[from] proximity_ops::OpsError),
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Store(proximity_store::StoreError::NoSuchRun(_)) | Self::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Op(OpsError::Invalid { .. }) => StatusCode::BAD_REQUEST,
            Self::Op(OpsError::NotFound { .. }) => StatusCode::NOT_FOUND,
            Self::Store(_)
            | Self::Template(_)
            | Self::Io(_)
            | Self::Op(OpsError::Store(_) | OpsError::Io(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the page says: the message for what the caller did, a generic line otherwise.
    fn public_message(&self) -> String {
        match self {
            Self::Store(proximity_store::StoreError::NoSuchRun(id)) => {
                format!("No run `{id}` in the store.")
            }
            Self::NotFound(m) | Self::BadRequest(m) | Self::Forbidden(m) => m.clone(),
            Self::Op(e) if e.is_input() => capitalised(&e.to_string()),
            Self::Store(_) | Self::Template(_) | Self::Io(_) | Self::Op(_) => {
                "Something went wrong on the server; its log says what.".to_owned()
            }
        }
    }

    /// What to do about it, when the operation said.
    fn hint(&self) -> Option<String> {
        match self {
            Self::Op(e) => e.hint().map(capitalised),
            _ => None,
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
                hint => self.hint(),
                links => crate::links::Links::Server.nav(),
            },
        )
        .unwrap_or_else(|_| "error".to_owned());
        (status, Html(body)).into_response()
    }
}
