//! `proximity friction`: per persona × tool, minutes saved and lost from the field log,
//! net hours per month at the persona's volume, cost per net hour saved, and where
//! friction outweighs the benefit. Rests on n notes, with a 95% t-interval.

use std::collections::BTreeMap;

use proximity_store::NoteFilter;

use crate::args::friction::FrictionArgs;
use crate::args::{GlobalArgs, ListFormat};
use crate::commands::output;
use crate::{context, Outcome};

fn ci(x: Option<(f64, f64)>) -> String {
    x.map_or_else(|| "n<2".to_owned(), |(l, h)| format!("[{l:.0}, {h:.0}]"))
}

pub async fn run(g: &GlobalArgs, a: &FrictionArgs) -> anyhow::Result<Outcome> {
    let program = context::load_program(g)?;
    let store = context::open_store(g, &program).await?;
    let notes = proximity_ops::notes::list(
        &store,
        &NoteFilter {
            persona: a.persona.clone(),
            tool: a.tool.clone(),
            ..Default::default()
        },
    )
    .await?;
    // Monthly cost per persona × tool from measured tokens where there are results.
    let (input, _) = proximity_ops::plan::input(&store, &program, chrono::Utc::now()).await?;
    store.close().await;
    let mut cost = BTreeMap::new();
    for p in &input.personas {
        for (t, o) in p.tools.iter().enumerate() {
            let (c, _) = p.evaluate(&vec![t; p.workflows.len()]);
            cost.insert((p.id.clone(), o.tool.clone()), c);
        }
    }
    let rows = proximity_analysis::friction::friction(&program, &notes, &cost);
    let text = match a.format {
        ListFormat::Json => serde_json::to_string_pretty(&serde_json::json!({
            "method": "per-note net minutes (saved - lost); mean with a 95% Student-t interval (n-1 df); scaled by the persona's monthly volume",
            "rows": rows,
        }))?,
        ListFormat::Table => {
            let mut out = format!(
                "Friction vs benefit, from field notes (people's own estimates; 95% t-interval)\n\n{:<20} {:<14} {:>3} {:>7} {:>7} {:>8} {:>14} {:>10} {:>16} {:>12}\n",
                "PERSONA", "TOOL", "N", "SAVED", "LOST", "NET MIN", "NET MIN CI", "NET H/MO", "NET H/MO CI", "USD/NET H"
            );
            for r in &rows {
                out.push_str(&format!(
                    "{:<20} {:<14} {:>3} {:>7.1} {:>7.1} {:>8.1} {:>14} {:>10.0} {:>16} {:>12}\n",
                    r.persona,
                    r.tool,
                    r.n,
                    r.mean_minutes_saved,
                    r.mean_minutes_lost,
                    r.mean_net_minutes,
                    ci(r.net_minutes_ci),
                    r.net_hours_per_month,
                    ci(r.net_hours_ci),
                    r.cost_per_net_hour_usd
                        .map_or_else(|| "-".to_owned(), |c| format!("{c:.2}")),
                ));
                let notes = if r.n == 1 { "note" } else { "notes" };
                if r.friction_outweighs_benefit {
                    out.push_str(&format!(
                        "  {} × {}: friction cost outweighs efficiency benefit (based on {} {notes})\n",
                        r.persona, r.tool, r.n
                    ));
                } else if r.net_minutes_ci.is_some_and(|(lo, _)| lo <= 0.0) {
                    out.push_str(&format!(
                        "  {} × {}: the interval includes no benefit; not yet shown (based on {} {notes})\n",
                        r.persona, r.tool, r.n
                    ));
                }
            }
            if rows.is_empty() {
                out.push_str("no field notes yet: `proximity note add`\n");
            }
            out
        }
    };
    output::emit(&text, None)?;
    Ok(Outcome::Ok)
}
