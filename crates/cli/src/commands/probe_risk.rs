//! `proximity probe risk [--tool T]`: run the built-in risk probes (`risk-probes v1`) and
//! the program's cases tagged `risk:<family>` on a tool into a new run, and print the
//! outcome per family. Exit 1 when a probe failed (a finding), 0 when all passed.

use std::collections::BTreeMap;

use anyhow::Context as _;
use proximity_eval::probe::risk::{self, Settings};
use proximity_eval::runner::RunOptions;
use proximity_program::Program;
use proximity_store::{ResultRecord, RunStatus, Verdict};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::args::probe_risk::ProbeRiskArgs;
use crate::args::{GlobalArgs, ListFormat};
use crate::commands::output;
use crate::progress::Bar;
use crate::{context, Outcome};

/// The family of a risk-probe result.
fn family(program: &Program, r: &ResultRecord) -> String {
    risk::workflow_family(&r.persona, &r.workflow)
        .or_else(|| {
            program
                .cases
                .iter()
                .find(|c| c.id == r.case_id)
                .and_then(risk::tagged_family)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| r.workflow.clone())
}

#[allow(clippy::print_stderr)]
pub async fn run(g: &GlobalArgs, args: &ProbeRiskArgs) -> anyhow::Result<Outcome> {
    let program = context::load_program(g)?;
    let tool_id = crate::context::tool_to_probe(&program, args.tool.as_deref())?;
    let settings = Settings {
        families: args.family.clone(),
        samples: args.samples,
    };
    let canary = risk::new_canary();
    let plan = risk::plan(&program, &tool_id, &settings, &canary)?;
    if plan.cases.is_empty() {
        anyhow::bail!(
            "no risk probe to run on `{tool_id}` for families {:?}",
            args.family
        );
    }
    let config = plan.config.clone();
    if !g.quiet {
        eprintln!(
            "probe risk `{tool_id}`: {} ({} built-in probes, {} program cases)",
            config.set,
            config.probes.len(),
            config.program_cases.len()
        );
        for s in &config.skipped {
            eprintln!("  skipped {}: {}", s.probe, s.reason);
        }
    }
    let store = context::open_store(g, &program).await?;
    let bar = Bar::new(g.quiet);
    let options = RunOptions {
        tools: vec![tool_id.clone()],
        personas: Vec::new(),
        samples: args.samples,
        concurrency: args.concurrency as usize,
        budget_usd: None,
        // A fresh canary makes every request new: there is nothing to reuse.
        use_cache: true,
    };
    let summary = risk::run(
        &program,
        &store,
        plan,
        options,
        CancellationToken::new(),
        &bar,
    )
    .await;
    bar.finish();
    let summary = summary.context("the risk probe run failed")?;
    let results = store.results(&summary.run_id).await?;
    store.close().await;

    let mut families: BTreeMap<String, (u64, u64, Vec<&ResultRecord>)> = BTreeMap::new();
    for r in &results {
        let e = families.entry(family(&program, r)).or_default();
        e.0 += 1;
        if r.verdict == Verdict::Pass {
            e.1 += 1;
        } else {
            e.2.push(r);
        }
    }
    let failed: u64 = families.values().map(|(n, p, _)| n - p).sum();
    let text = match args.format {
        ListFormat::Json => {
            let value = json!({
                "run": summary.run_id,
                "tool": tool_id,
                "set": config.set,
                "skipped": config.skipped,
                "families": families.iter().map(|(f, (n, p, fails))| json!({
                    "family": f,
                    "results": n,
                    "passed": p,
                    "failures": fails.iter().map(|r| json!({
                        "case": r.case_id,
                        "sample": r.sample,
                        "verdict": r.verdict,
                        "reason": r.reason,
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            });
            serde_json::to_string_pretty(&value)? + "\n"
        }
        ListFormat::Table => {
            let mut out = format!(
                "risk probes ({}) on `{tool_id}`, run {}\n",
                config.set, summary.run_id
            );
            for (f, (n, p, fails)) in &families {
                out.push_str(&format!("  {f:<16} {p}/{n} passed\n"));
                for r in fails {
                    out.push_str(&format!(
                        "    FAIL {} ({}): {}\n",
                        r.case_id, r.verdict, r.reason
                    ));
                }
            }
            for s in &config.skipped {
                out.push_str(&format!("  skipped {}: {}\n", s.probe, s.reason));
            }
            out
        }
    };
    output::emit(&text, args.out.as_deref())?;
    if summary.status != RunStatus::Finished {
        anyhow::bail!(
            "risk probe run {} did not finish ({})",
            summary.run_id,
            summary.status.as_str()
        );
    }
    Ok(if failed > 0 {
        Outcome::Finding
    } else {
        Outcome::Ok
    })
}
