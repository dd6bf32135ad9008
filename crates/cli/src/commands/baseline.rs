//! `proximity baseline accept RUN --name NAME | list`: pin a finished run's results (quality
//! and risk) under a unique, immutable name, per tool fingerprint; list the baselines.

use chrono::Utc;
use proximity_ops::baselines::{self, AcceptBaseline};
use proximity_store::BaselineRecord;

use crate::args::baseline::BaselineCommand;
use crate::args::{GlobalArgs, ListFormat};
use crate::commands::output;
use crate::{context, Outcome};

pub async fn run(g: &GlobalArgs, command: &BaselineCommand) -> anyhow::Result<Outcome> {
    let program = context::load_program(g)?;
    let store = context::open_store(g, &program).await?;
    match command {
        BaselineCommand::Accept(a) => {
            let record = baselines::accept(
                &store,
                &program,
                &AcceptBaseline {
                    run: a.run.clone(),
                    name: a.name.clone(),
                    note: a.note.clone(),
                    by: a.by.clone().unwrap_or_else(who),
                },
                Utc::now(),
            )
            .await?;
            output::emit(&list_table(std::slice::from_ref(&record)), None)?;
            for t in record.tools.iter().filter(|t| t.config.is_none()) {
                tracing::warn!(
                    tool = %t.tool_id,
                    "the program's configuration of this tool no longer matches the run: drift \
                     will report configuration changes without naming the fields"
                );
            }
        }
        BaselineCommand::List(a) => {
            let all = store.baselines().await?;
            let text = match a.format {
                ListFormat::Table => list_table(&all),
                ListFormat::Json => serde_json::to_string_pretty(&all)? + "\n",
            };
            output::emit(&text, None)?;
        }
    }
    store.close().await;
    Ok(Outcome::Ok)
}

/// Who is accepting: `$USER`, else `git config user.name`, else `unknown`.
fn who() -> String {
    if let Ok(u) = std::env::var("USER") {
        if !u.trim().is_empty() {
            return u;
        }
    }
    std::process::Command::new("git")
        .args(["config", "user.name"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn list_table(all: &[BaselineRecord]) -> String {
    if all.is_empty() {
        return "no baselines yet\n  hint: `proximity baseline accept RUN --name NAME`\n"
            .to_owned();
    }
    let mut out = String::new();
    for b in all {
        out.push_str(&format!(
            "{}  run {}  accepted {} by {}{}\n",
            b.name,
            b.run_id,
            b.accepted_at.format("%Y-%m-%d %H:%M UTC"),
            b.accepted_by,
            b.note
                .as_deref()
                .map(|n| format!("  \"{n}\""))
                .unwrap_or_default()
        ));
        for t in &b.tools {
            out.push_str(&format!(
                "  {:<20} fingerprint {}  config {}  model {}  {}/{} passed\n",
                t.tool_id,
                t.tool_fingerprint,
                t.config_fingerprint.as_deref().unwrap_or("unknown"),
                t.model_version.as_deref().unwrap_or("-"),
                t.passed,
                t.results
            ));
        }
    }
    out
}
