//! `proximity drift [--baseline NAME] [--tool T] [--run RUN]`: re-run a baseline's cases on
//! each tool as it is now (fresh answers, never the cache), or take a stored run, and
//! report what changed (`proximity_analysis::drift`). Exit 1 when drift is found, 0 when
//! not, 2 on bad input. Findings are recorded for decision review; `--notify` posts the
//! summary to a webhook. Where the gateway's live checks have counts, the output ends
//! with their production failure rates beside those of the results compared now.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::bail;
use chrono::Utc;
use proximity_analysis::drift::{self, DriftInput, DriftReport, ToolConfig};
use proximity_eval::detect;
use proximity_eval::probe::risk;
use proximity_eval::runner::{self, Cases, RunOptions, RunSpec};
use proximity_program::Program;
use proximity_store::{
    BaselineRecord, NewDriftFinding, ResultRecord, RunStatus, Store, StoreError,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::args::drift::{DriftArgs, DriftFormat};
use crate::args::{Format, GlobalArgs};
use crate::commands::{notify, output};
use crate::hint::{hinted, HintContext as _};
use crate::progress::Bar;
use crate::{context, Outcome};
use proximity_analysis::drift::matching_config;

#[allow(clippy::print_stderr)]
pub async fn run(g: &GlobalArgs, args: &DriftArgs) -> anyhow::Result<Outcome> {
    let cli_notify = args.notify.as_deref().map(notify::validate).transpose()?;
    let program = context::load_program(g)?;
    // The command line wins over the program's `notify:`.
    let notify_url = match cli_notify {
        Some(u) => Some(u),
        None => proximity_program::load::notify_url(&program.root)
            .as_deref()
            .map(notify::validate)
            .transpose()?,
    };
    let store = context::open_store(g, &program).await?;
    let baseline = pick_baseline(&store, args.baseline.as_deref()).await?;
    let mut before = store.results(&baseline.run_id).await?;
    let baseline_tools: BTreeSet<String> = before.iter().map(|r| r.tool_id.clone()).collect();
    for t in &args.tool {
        if !baseline_tools.contains(t) {
            return Err(hinted(
                format!("baseline `{}` has no results for tool `{t}`", baseline.name),
                format!(
                    "its tools are {}",
                    baseline_tools
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    if !args.tool.is_empty() {
        before.retain(|r| args.tool.contains(&r.tool_id));
    }
    let tools: Vec<String> = before
        .iter()
        .map(|r| r.tool_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    let after = match &args.run {
        Some(run_id) => {
            let run = match store.run(run_id).await {
                Ok(r) => r,
                Err(StoreError::NoSuchRun(id)) => bail!("no run `{id}` in the store"),
                Err(e) => return Err(e.into()),
            };
            let mut rs = store.results(&run.id).await?;
            rs.retain(|r| tools.contains(&r.tool_id));
            rs
        }
        None => rerun(g, args, &program, &store, &baseline, &before, &tools).await?,
    };

    let mut before_configs: BTreeMap<String, ToolConfig> = BTreeMap::new();
    for t in &baseline.tools {
        if t.config.is_some() || !before_configs.contains_key(&t.tool_id) {
            before_configs.insert(
                t.tool_id.clone(),
                ToolConfig {
                    fingerprint: t.config_fingerprint.clone(),
                    value: t.config.clone(),
                },
            );
        }
    }
    let mut after_configs: BTreeMap<String, ToolConfig> = BTreeMap::new();
    for r in &after {
        if after_configs
            .get(&r.tool_id)
            .is_some_and(|c| c.fingerprint.is_some())
        {
            continue;
        }
        after_configs.insert(
            r.tool_id.clone(),
            matching_config(
                &program,
                &r.tool_id,
                &r.tool_fingerprint,
                r.model_version.as_deref(),
            ),
        );
    }
    let tagged: HashMap<&str, &str> = program
        .cases
        .iter()
        .filter_map(|c| risk::tagged_family(c).map(|f| (c.id.as_str(), f)))
        .collect();
    let family_of = |r: &ResultRecord| {
        risk::workflow_family(&r.persona, &r.workflow)
            .or_else(|| tagged.get(r.case_id.as_str()).map(|f| (*f).to_owned()))
    };
    let refused = |s: &str| detect::is_refusal(s);
    let report = drift::compare(&DriftInput {
        baseline: &baseline.name,
        before: &before,
        after: &after,
        before_configs: &before_configs,
        after_configs: &after_configs,
        family_of: &family_of,
        refused: &refused,
        alpha: drift::ALPHA,
    });

    let text = match args.format {
        DriftFormat::Table => drift::table(&report),
        DriftFormat::Json => drift::json(&report) + "\n",
    };
    // The gateway's live checks beside the failure rates of the results compared now.
    let run = match report.runs.first() {
        Some(id) => Some(store.run(id).await?),
        None => None,
    };
    let text = match run {
        Some(run) => {
            let format = match args.format {
                DriftFormat::Table => Format::Table,
                DriftFormat::Json => Format::Json,
            };
            super::production::append_with(&store, format, text, |rows, since, until| {
                let suite = proximity_analysis::scorecard(&program, &run, &after);
                proximity_analysis::live::production(&suite, rows, since, until)
            })
            .await?
        }
        None => text,
    };
    output::emit(&text, args.out.as_deref())?;

    let findings: Vec<NewDriftFinding> = report
        .tools
        .iter()
        .flat_map(|t| {
            t.findings.iter().map(|f| NewDriftFinding {
                tool: t.tool.clone(),
                baseline: report.baseline.clone(),
                run_id: report.runs.first().cloned(),
                kind: f.kind.to_owned(),
                summary: f.summary.clone(),
            })
        })
        .collect();
    if !findings.is_empty() {
        store.insert_drift_findings(Utc::now(), &findings).await?;
    }
    store.close().await;

    if let Some(url) = notify_url {
        if let Err(e) = notify::post(&url, &summary(&report)).await {
            // The report is printed and the findings stored: a failed webhook is reported,
            // not a reason to hide what was found.
            eprintln!("warning: {e:#}");
        }
    }
    Ok(if report.drift {
        Outcome::Finding
    } else {
        Outcome::Ok
    })
}

/// The summary posted to `--notify` (see `docs/drift.md`).
pub fn summary(report: &DriftReport) -> serde_json::Value {
    json!({
        "event": "proximity.drift",
        "baseline": report.baseline,
        "runs": report.runs,
        "drift": report.drift,
        "alpha": report.alpha,
        "tools": report.tools.iter().map(|t| json!({
            "tool": t.tool,
            "drift": t.drift,
            "quality_drift": t.quality_drift,
            "config_changed": t.fingerprint.config_changed,
            "vendor_update": t.fingerprint.vendor_update,
            "pass_rate_before": t.overall.before,
            "pass_rate_after": t.overall.after,
            "difference": t.overall.difference,
            "p_adjusted": t.overall.p_adjusted,
            "flips": t.flips.len(),
            "findings": t.findings,
        })).collect::<Vec<_>>(),
    })
}

async fn pick_baseline(store: &Store, name: Option<&str>) -> anyhow::Result<BaselineRecord> {
    match name {
        Some(n) => match store.baseline(n).await {
            Ok(b) => Ok(b),
            Err(StoreError::NoSuchBaseline(n)) => {
                let names: Vec<String> = store
                    .baselines()
                    .await?
                    .into_iter()
                    .map(|b| b.name)
                    .collect();
                Err(hinted(
                    format!("no baseline `{n}` in the store"),
                    if names.is_empty() {
                        "accept one first: `proximity baseline accept RUN --name NAME`".to_owned()
                    } else {
                        format!("the baselines are {}", names.join(", "))
                    },
                ))
            }
            Err(e) => Err(e.into()),
        },
        None => store.baselines().await?.into_iter().next().hint_context(
            "no baseline yet",
            "accept one first: `proximity baseline accept RUN --name NAME`",
        ),
    }
}

/// Re-run the baseline's cases on each tool as the program has it now: one run per tool,
/// fresh answers (the cache is bypassed, or the baseline's answers would come back).
#[allow(clippy::print_stderr)]
async fn rerun(
    g: &GlobalArgs,
    args: &DriftArgs,
    program: &Program,
    store: &Store,
    baseline: &BaselineRecord,
    before: &[ResultRecord],
    tools: &[String],
) -> anyhow::Result<Vec<ResultRecord>> {
    let baseline_run = store.run(&baseline.run_id).await?;
    let samples = args.samples.unwrap_or_else(|| {
        baseline_run
            .config
            .get("samples")
            .and_then(serde_json::Value::as_u64)
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(1)
            .max(1)
    });
    let mut after = Vec::new();
    for tool in tools {
        if program.tool(tool).is_none() {
            if !g.quiet {
                eprintln!("tool `{tool}` is no longer in the program: not re-run");
            }
            continue;
        }
        let case_ids: Vec<String> = before
            .iter()
            .filter(|r| &r.tool_id == tool)
            .map(|r| r.case_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut cases: Vec<_> = program
            .cases
            .iter()
            .filter(|c| case_ids.contains(&c.id))
            .cloned()
            .collect();
        let canary = risk::new_canary();
        cases.extend(risk::regenerate(program, tool, &case_ids, &canary)?);
        if cases.is_empty() {
            if !g.quiet {
                eprintln!("none of the baseline's cases for `{tool}` are in the program now");
            }
            continue;
        }
        let missing = case_ids.len() - cases.len();
        if missing > 0 && !g.quiet {
            eprintln!(
                "{missing} of the baseline's cases for `{tool}` are no longer in the program"
            );
        }
        let mut synthetic = program.clone();
        synthetic.cases = cases;
        let options = RunOptions {
            tools: vec![tool.clone()],
            personas: Vec::new(),
            samples,
            concurrency: args.concurrency as usize,
            budget_usd: args.budget,
            use_cache: false,
        };
        // Marked as a probe run so `eval --resume` does not try to re-plan it from the
        // program (the probe cases are generated).
        let spec = RunSpec::new(Cases::Held(&synthetic), options).with_config(
            "probe",
            json!({"kind": "drift", "baseline": baseline.name, "tool": tool}),
        );
        let bar = Bar::new(g.quiet);
        let summary = runner::start(store, spec, CancellationToken::new(), &bar).await;
        bar.finish();
        let summary = summary?;
        if summary.status != RunStatus::Finished {
            bail!(
                "the drift run {} of `{tool}` did not finish ({}): the comparison would be partial",
                summary.run_id,
                summary.status.as_str()
            );
        }
        after.extend(store.results(&summary.run_id).await?);
    }
    Ok(after)
}
