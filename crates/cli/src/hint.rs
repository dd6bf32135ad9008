//! Errors that carry a hint, and how the binary prints any error: the message as
//! `error: …`, each cause as `Caused by: …`, then the hints as `hint: …`, last (uv's
//! order), so a hint never prints before the causes it is about. Hints come from
//! [`Hinted`] errors raised here and from the operations' [`OpsError`].

use std::fmt;

use proximity_ops::OpsError;

/// A message and what to do about it.
#[derive(Debug)]
pub struct Hinted {
    message: String,
    hint: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// An error saying `message`, with `hint` printed after its causes.
pub fn hinted(message: impl fmt::Display, hint: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        message: message.to_string(),
        hint: hint.to_string(),
    })
}

/// `.hint_context(message, hint)`: `anyhow`'s `context` with a hint.
pub trait HintContext<T> {
    fn hint_context(self, message: impl fmt::Display, hint: impl fmt::Display)
        -> anyhow::Result<T>;
}

impl<T, E> HintContext<T> for Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn hint_context(
        self,
        message: impl fmt::Display,
        hint: impl fmt::Display,
    ) -> anyhow::Result<T> {
        self.map_err(|e| {
            anyhow::Error::new(e).context(Hinted {
                message: message.to_string(),
                hint: hint.to_string(),
            })
        })
    }
}

impl<T> HintContext<T> for Option<T> {
    fn hint_context(
        self,
        message: impl fmt::Display,
        hint: impl fmt::Display,
    ) -> anyhow::Result<T> {
        self.ok_or_else(|| hinted(message, hint))
    }
}

/// Every hint an error carries, outermost first.
pub fn hints(e: &anyhow::Error) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(h) = e.downcast_ref::<Hinted>() {
        out.push(h.hint.clone());
    }
    for cause in e.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            out.push(h.hint.clone());
        }
        if let Some(h) = cause.downcast_ref::<OpsError>().and_then(OpsError::hint) {
            out.push(h.to_owned());
        }
    }
    if let Some(h) = e.downcast_ref::<OpsError>().and_then(OpsError::hint) {
        out.push(h.to_owned());
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|h| seen.insert(h.clone()));
    out
}

/// The error as the binary prints it: `error:`, `Caused by:` lines, `hint:` lines.
pub fn render(e: &anyhow::Error) -> String {
    let mut out = format!("error: {e}\n");
    for cause in e.chain().skip(1) {
        out.push_str(&format!("  Caused by: {cause}\n"));
    }
    for h in hints(e) {
        out.push_str(&format!("  hint: {h}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_print_after_the_causes() {
        let io: Result<(), std::io::Error> = Err(std::io::Error::other("disk full"));
        let e = io
            .hint_context("cannot write the report", "free some space")
            .unwrap_err();
        assert_eq!(
            render(&e),
            "error: cannot write the report\n  Caused by: disk full\n  hint: free some space\n"
        );
    }

    #[test]
    fn an_operation_error_brings_its_hint() {
        let e = anyhow::Error::new(OpsError::invalid("unknown tier `gold`").with_hint("one of: a"))
            .context("cannot record the decision");
        assert_eq!(
            render(&e),
            "error: cannot record the decision\n  Caused by: unknown tier `gold`\n  hint: one of: a\n"
        );
        let plain = hinted("missing --author", "run it in a terminal");
        assert_eq!(
            render(&plain),
            "error: missing --author\n  hint: run it in a terminal\n"
        );
    }
}
