//! Drift findings as people read them: the program's recent ones (the overview's alerts)
//! and one tool's whole history (the tool page's timeline). `proximity drift` records
//! them; these read them back.

use chrono::{DateTime, Duration, Utc};
use proximity_program::Program;
use proximity_store::{DriftFinding, Store};

use crate::OpsError;

/// Drift found on the program's tools within its horizon, newest first.
pub async fn alerts(
    store: &Store,
    program: &Program,
    now: DateTime<Utc>,
) -> Result<Vec<DriftFinding>, OpsError> {
    let since = now - Duration::days(i64::from(program.horizon_days));
    let mut found = Vec::new();
    for t in &program.tools {
        found.extend(store.drift_findings_since(&t.id, since).await?);
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.found_at));
    Ok(found)
}

/// Every drift finding on one tool, oldest first.
pub async fn timeline(store: &Store, tool: &str) -> Result<Vec<DriftFinding>, OpsError> {
    Ok(store
        .drift_findings_since(tool, DateTime::<Utc>::MIN_UTC)
        .await?)
}
