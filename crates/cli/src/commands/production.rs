//! The production section `report` and `drift` end with: the gateway's live-check verdicts of the
//! last [`WINDOW_DAYS`] days beside the run's suite failure rates
//! (`proximity_analysis::live`). Shown only when the store holds live checks of the
//! window, so reports of programs without `live:` checks stay as they were.

use chrono::{Duration, Utc};
use proximity_analysis::live::Production;
use proximity_analysis::Report;
use proximity_store::{LiveCheckRow, Store};

use crate::args::Format;

/// The days of live checks a report shows, today included.
pub(crate) const WINDOW_DAYS: i64 = 30;

/// `text` (the report as `format` prints it) with the production section added: a table
/// or Markdown section after it, a `production` object last in JSON.
pub(crate) async fn append(
    store: &Store,
    report: &Report,
    format: Format,
    text: String,
) -> anyhow::Result<String> {
    append_with(store, format, text, |rows, since, until| {
        proximity_analysis::live::production(report, rows, since, until)
    })
    .await
}

/// [`append`] with the comparison made by `compare` from the window's counts, called
/// only when there are some.
pub(crate) async fn append_with(
    store: &Store,
    format: Format,
    text: String,
    compare: impl FnOnce(&[LiveCheckRow], &str, &str) -> Production,
) -> anyhow::Result<String> {
    if !matches!(format, Format::Table | Format::Markdown | Format::Json) {
        return Ok(text);
    }
    let today = Utc::now().date_naive();
    let since = (today - Duration::days(WINDOW_DAYS - 1)).to_string();
    let until = today.to_string();
    let rows = store.live_check_sums(&since, &until, None).await?;
    if rows.is_empty() {
        return Ok(text);
    }
    let production = compare(&rows, &since, &until);
    Ok(match format {
        Format::Json => {
            let body = text.trim_end();
            let Some(open) = body.strip_suffix('}') else {
                anyhow::bail!("the JSON report is not an object");
            };
            let p = serde_json::to_string_pretty(&production)?.replace('\n', "\n  ");
            format!("{},\n  \"production\": {p}\n}}\n", open.trim_end())
        }
        Format::Markdown => format!(
            "{}\n\n{}",
            text.trim_end(),
            proximity_analysis::live::render(&production, true)
        ),
        _ => format!(
            "{}\n\n{}",
            text.trim_end(),
            proximity_analysis::live::render(&production, false)
        ),
    })
}
