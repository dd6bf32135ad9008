//! `proximity usage`: spend and volume of gateway requests, grouped by persona, tool,
//! workflow or tier.

use proximity_store::UsageGroup;
use serde_json::json;

use crate::args::{GlobalArgs, ListFormat, UsageArgs, UsageBy};
use crate::commands::output;
use crate::{context, Outcome};

pub async fn run(g: &GlobalArgs, a: &UsageArgs) -> anyhow::Result<Outcome> {
    let program = context::load_program(g)?;
    let store = context::open_store(g, &program).await?;
    context::recover_usage(&store).await;
    let since = a
        .since
        .as_deref()
        .map(|t| proximity_ops::when::parse_when(t, chrono::Utc::now()))
        .transpose()?;
    let by = match a.by {
        UsageBy::Persona => UsageGroup::Persona,
        UsageBy::Tool => UsageGroup::Tool,
        UsageBy::Workflow => UsageGroup::Workflow,
        UsageBy::Tier => UsageGroup::Tier,
    };
    let rows = store.usage_summary(since, by).await?;
    let text = match a.format {
        ListFormat::Json => {
            let rows: Vec<_> = rows
                .iter()
                .map(|r| {
                    json!({
                        "group": r.group_key, "requests": r.requests, "errors": r.errors,
                        "input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
                        "cost_usd": r.cost_usd, "mean_latency_ms": r.mean_latency_ms,
                    })
                })
                .collect();
            serde_json::to_string_pretty(
                &json!({"since": since, "by": format!("{:?}", a.by).to_lowercase(), "groups": rows}),
            )?
        }
        ListFormat::Table => {
            let mut out = format!(
                "{:<24} {:>9} {:>7} {:>12} {:>12} {:>12} {:>10}\n",
                "GROUP", "REQUESTS", "ERRORS", "TOKENS IN", "TOKENS OUT", "SPEND USD", "MEAN MS"
            );
            let mut total = 0.0;
            for r in &rows {
                total += r.cost_usd;
                out.push_str(&format!(
                    "{:<24} {:>9} {:>7} {:>12} {:>12} {:>12.4} {:>10.1}\n",
                    r.group_key,
                    r.requests,
                    r.errors,
                    r.input_tokens,
                    r.output_tokens,
                    r.cost_usd,
                    r.mean_latency_ms
                ));
            }
            out.push_str(&format!("{:<24} {:>56.4}\n", "total", total));
            out
        }
    };
    output::emit(&text, None)?;
    Ok(Outcome::Ok)
}
