//! Accepting a finished run as a named, immutable baseline: one row per tool fingerprint
//! of its results. `proximity baseline accept` and the tool page's form both come here.

use chrono::{DateTime, Utc};
use proximity_analysis::drift::baseline_tools;
use proximity_program::Program;
use proximity_store::{BaselineRecord, RunStatus, Store, StoreError};

use crate::OpsError;

/// A baseline as asked for.
#[derive(Debug, Clone)]
pub struct AcceptBaseline {
    /// The run to pin.
    pub run: String,
    /// Its name, unique (`security-review-2026-11`).
    pub name: String,
    /// Why it was accepted.
    pub note: Option<String>,
    /// Who accepts it.
    pub by: String,
}

/// Pin a finished run's results under a name. Names are accepted once.
pub async fn accept(
    store: &Store,
    program: &Program,
    a: &AcceptBaseline,
    now: DateTime<Utc>,
) -> Result<BaselineRecord, OpsError> {
    let name = a.name.trim();
    if name.is_empty() {
        return Err(OpsError::invalid("a baseline needs a name")
            .with_hint("name it for what it pins, e.g. `security-review-2026-11`"));
    }
    let run = match store.run(a.run.trim()).await {
        Ok(r) => r,
        Err(StoreError::NoSuchRun(id)) => {
            return Err(OpsError::invalid(format!("no run `{id}` in the store"))
                .with_hint("`proximity report` and the dashboard's runs page list the runs"))
        }
        Err(e) => return Err(e.into()),
    };
    if run.status != RunStatus::Finished {
        return Err(OpsError::invalid(format!(
            "run `{}` is {}: only a finished run can be a baseline",
            run.id,
            run.status.as_str()
        ))
        .with_hint(format!(
            "finish it first (`proximity eval --resume {}`)",
            run.id
        )));
    }
    let results = store.results(&run.id).await?;
    if results.is_empty() {
        return Err(OpsError::invalid(format!(
            "run `{}` has no results to pin",
            run.id
        )));
    }
    let record = BaselineRecord {
        name: name.to_owned(),
        run_id: run.id.clone(),
        accepted_at: now,
        accepted_by: a.by.clone(),
        note: a.note.clone().filter(|n| !n.trim().is_empty()),
        tools: baseline_tools(program, &results),
    };
    match store.insert_baseline(&record).await {
        Ok(()) => Ok(record),
        Err(e @ StoreError::BaselineExists(_)) => Err(OpsError::invalid(e.to_string())),
        Err(e) => Err(e.into()),
    }
}
