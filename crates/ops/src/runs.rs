//! What kind a run is (an evaluation, a drift re-run, a probe), as its recorded
//! configuration says, and the evaluation run a view or a plan rests on: the dashboard's
//! pages and `proximity plan` pick it here, so neither rests on a probe or drift run.

use proximity_analysis::context_fill::is_context_probe;
use proximity_store::{RunRecord, Store};

use crate::OpsError;

/// What a run measured: an evaluation of the program's cases, or one of the probes
/// (`proximity probe context`, `probe risk`) or a drift re-run (`proximity drift`), as
/// its recorded configuration says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Eval,
    Drift,
    RiskProbe,
    ContextProbe,
    /// A probe of a kind this build does not know.
    OtherProbe,
}

impl RunKind {
    /// How pages and commands label it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Eval => "eval",
            Self::Drift => "drift",
            Self::RiskProbe => "risk probe",
            Self::ContextProbe => "context probe",
            Self::OtherProbe => "probe",
        }
    }
}

pub fn run_kind(run: &RunRecord) -> RunKind {
    if is_context_probe(run) {
        return RunKind::ContextProbe;
    }
    let Some(probe) = run.config.get("probe") else {
        return RunKind::Eval;
    };
    match probe.get("kind").and_then(|k| k.as_str()) {
        Some("drift") => RunKind::Drift,
        Some("risk") => RunKind::RiskProbe,
        _ => RunKind::OtherProbe,
    }
}

/// The evaluation runs of the store, newest first.
pub async fn eval_runs(store: &Store) -> Result<Vec<RunRecord>, OpsError> {
    Ok(store
        .runs()
        .await?
        .into_iter()
        .filter(|r| run_kind(r) == RunKind::Eval)
        .collect())
}

/// Run `id`, which must be an evaluation: a probe or drift run measures something else,
/// so nothing is planned or judged from it.
pub async fn eval_run(store: &Store, id: &str) -> Result<RunRecord, OpsError> {
    let run = store.run(id).await?;
    match run_kind(&run) {
        RunKind::Eval => Ok(run),
        kind => Err(OpsError::invalid(format!(
            "run `{id}` is a {} run, not an evaluation",
            kind.label()
        ))
        .with_hint("name an evaluation run (`proximity eval` makes one), or leave the run out for the newest")),
    }
}
