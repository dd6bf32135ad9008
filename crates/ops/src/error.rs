//! [`OpsError`]: what an operation refused or failed at, with a hint saying what to do.
//! Callers render it their way: the CLI as `error: … / Caused by: … / hint: …`, the
//! dashboard as a 400 or 404 page.

use proximity_store::StoreError;

/// Why an operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The input is wrong (an unknown id, an empty field, a value out of range, a run or
    /// piece of evidence it names that is not in the store).
    #[error("{message}")]
    Invalid {
        message: String,
        hint: Option<String>,
    },
    /// What the operation acts on is not there (the note to promote, the key to
    /// revoke): a 404 on the dashboard.
    #[error("{message}")]
    NotFound {
        message: String,
        hint: Option<String>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing a program file (a promoted case) failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl OpsError {
    /// Bad input, without a hint.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
            hint: None,
        }
    }

    /// Something that is not there, without a hint.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound {
            message: message.into(),
            hint: None,
        }
    }

    /// The same error with `hint` (replacing any hint it had).
    #[must_use]
    pub fn with_hint(mut self, text: impl Into<String>) -> Self {
        match &mut self {
            Self::Invalid { hint, .. } | Self::NotFound { hint, .. } => *hint = Some(text.into()),
            Self::Store(_) | Self::Io(_) => {}
        }
        self
    }

    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Self::Invalid { hint, .. } | Self::NotFound { hint, .. } => hint.as_deref(),
            Self::Store(_) | Self::Io(_) => None,
        }
    }

    /// Whether the caller's input is at fault (a 4xx, exit 2), not the machinery.
    pub fn is_input(&self) -> bool {
        matches!(self, Self::Invalid { .. } | Self::NotFound { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_attaches_to_input_errors_only() {
        let e = OpsError::invalid("bad").with_hint("do this");
        assert_eq!(e.hint(), Some("do this"));
        assert!(e.is_input());
        let io = OpsError::from(std::io::Error::other("disk")).with_hint("ignored");
        assert_eq!(io.hint(), None);
        assert!(!io.is_input());
    }
}
