//! One module per page. Each page has a builder (`build`: store + program → the
//! template's context), used by the server's handler and by the static report alike, so
//! both render the same view.

pub mod decisions;
pub mod field_log;
pub mod overview;
pub mod persona;
pub mod result;
pub mod run;
pub mod runs;
pub mod tool;
pub mod usage;

use axum::response::Html;
use minijinja::Value;
pub use proximity_ops::runs::{run_kind, RunKind};
use proximity_program::Program;
use proximity_store::{RunRecord, Store};
use serde::Serialize;

use crate::links::{Links, Nav};
use crate::security::{Security, WriteAccess};
use crate::WebError;

/// What a page builder reads.
#[derive(Debug, Clone, Copy)]
pub struct PageCtx<'a> {
    pub program: &'a Program,
    pub store: &'a Store,
    pub links: Links,
    /// The server's cache of finished runs' score cells (`None`: read the store).
    pub cache: Option<&'a crate::cache::CellCache>,
}

impl PageCtx<'_> {
    /// The score cells of `run`.
    pub async fn cells(
        &self,
        run: &RunRecord,
    ) -> Result<std::sync::Arc<Vec<proximity_store::ScoreCell>>, WebError> {
        Ok(proximity_ops::plan::Cells::cells(self, run).await?)
    }
}

impl proximity_ops::plan::Cells for PageCtx<'_> {
    async fn cells(
        &self,
        run: &RunRecord,
    ) -> Result<std::sync::Arc<Vec<proximity_store::ScoreCell>>, proximity_store::StoreError> {
        match self.cache {
            Some(c) => c.cells(self.store, run).await,
            None => Ok(std::sync::Arc::new(self.store.score_cells(&run.id).await?)),
        }
    }
}

/// What the base template needs on every page.
#[derive(Debug, Clone, Serialize)]
pub struct Chrome {
    pub title: String,
    pub program: String,
    pub nav: Nav,
    /// The CSRF token for forms (empty in the static report).
    pub csrf: String,
    pub access: WriteAccess,
}

impl Chrome {
    pub fn new(ctx: &PageCtx<'_>, title: impl Into<String>, security: Option<&Security>) -> Self {
        Self {
            title: title.into(),
            program: ctx.program.name.clone(),
            nav: ctx.links.nav(),
            csrf: security
                .map(|s| s.csrf_token().to_owned())
                .unwrap_or_default(),
            access: security.map_or(WriteAccess::ReadOnly, Security::access),
        }
    }
}

/// Render a page: its template with `chrome` and the builder's `view`.
pub fn page(template: &str, chrome: &Chrome, view: Value) -> Result<String, WebError> {
    Ok(crate::templates::render(
        template,
        minijinja::context! { chrome => chrome, links => chrome.nav.clone(), ..view },
    )?)
}

pub fn html(body: String) -> Html<String> {
    Html(body)
}

/// The run a page shows: `requested`, or the newest evaluation run (never a probe or
/// drift run: those have their own pages).
pub async fn pick_run(
    store: &Store,
    requested: Option<&str>,
) -> Result<Option<RunRecord>, WebError> {
    if let Some(id) = requested.filter(|s| !s.is_empty()) {
        return Ok(Some(store.run(id).await?));
    }
    let runs = store.runs().await?;
    Ok(runs.into_iter().find(|r| run_kind(r) == RunKind::Eval))
}

/// Format dollars: `$1,234.50`.
pub fn usd(v: f64) -> String {
    let cents = (v * 100.0).round() as i64;
    let (sign, cents) = if cents < 0 {
        ("-", -cents)
    } else {
        ("", cents)
    };
    let dollars = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in dollars.chars().enumerate() {
        if i > 0 && (dollars.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}${grouped}.{:02}", cents % 100)
}

/// Format a small cost with enough digits: `$0.0042`.
/// Amounts under a dollar keep four places and one under $0.0001 reads `<$0.0001`, so
/// a real spend never reads `$0.00`.
pub fn usd_small(v: f64) -> String {
    if v.abs() >= 1.0 || v == 0.0 {
        usd(v)
    } else if v.abs() < 0.0001 {
        if v < 0.0 {
            "-<$0.0001".into()
        } else {
            "<$0.0001".into()
        }
    } else {
        format!("${v:.4}")
    }
}

/// A difference in points: `+12 pts`.
pub fn points(v: f64) -> String {
    let p = (v * 100.0).round();
    if p > 0.0 {
        format!("+{p:.0} pts")
    } else {
        format!("{p:.0} pts")
    }
}

/// The `?notice=` a write redirects to.
#[derive(Debug, serde::Deserialize)]
pub struct NoticeParam {
    pub notice: Option<String>,
}

/// What a notice code says (codes only: the page never echoes the query string).
pub fn notice_text(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "added" => Some("The note was added to the field log."),
        "promoted" => Some("The note was promoted to a case."),
        "accepted" => Some("The baseline was accepted."),
        _ => None,
    }
}

/// The page for an unknown path.
pub async fn not_found() -> WebError {
    WebError::NotFound("No such page.".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_points_read_well() {
        assert_eq!(usd(1234.5), "$1,234.50");
        assert_eq!(usd(0.0), "$0.00");
        assert_eq!(usd(-12.345), "-$12.35");
        assert_eq!(usd(1_000_000.0), "$1,000,000.00");
        assert_eq!(usd_small(0.00421), "$0.0042");
        assert_eq!(usd_small(0.0033), "$0.0033");
        assert_eq!(usd_small(0.00001), "<$0.0001");
        assert_eq!(usd_small(3609.964), "$3,609.96");
        assert_eq!(points(-0.234), "-23 pts");
        assert_eq!(points(0.1), "+10 pts");
    }
}
