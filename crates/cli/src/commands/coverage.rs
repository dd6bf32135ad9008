//! `proximity coverage`: per persona × tool, when a leader last used the tool first-hand
//! (field notes with role `leader`), and the personas no leader has tried within the
//! program's horizon.

use chrono::Utc;
use proximity_store::NoteFilter;

use crate::args::coverage::CoverageArgs;
use crate::args::{GlobalArgs, ListFormat};
use crate::commands::output;
use crate::{context, Outcome};

pub async fn run(g: &GlobalArgs, a: &CoverageArgs) -> anyhow::Result<Outcome> {
    let program = context::load_program(g)?;
    let store = context::open_store(g, &program).await?;
    let notes = store.notes(&NoteFilter::default()).await?;
    store.close().await;
    let c = proximity_analysis::coverage::coverage(&program, &notes, Utc::now().date_naive());
    let text = match a.format {
        ListFormat::Json => serde_json::to_string_pretty(&c)?,
        ListFormat::Table => {
            let mut out = format!(
                "Leaders' first-hand use, from field notes (horizon {} days)\n\n{:<20} {:<16} {:<16} {:>7} {:>13}\n",
                c.horizon_days, "PERSONA", "TOOL", "LAST LEADER USE", "LEADERS", "PRACTITIONERS"
            );
            for r in &c.rows {
                out.push_str(&format!(
                    "{:<20} {:<16} {:<16} {:>7} {:>13}\n",
                    r.persona,
                    r.tool,
                    r.last_leader_note
                        .map_or_else(|| "never".to_owned(), |d| d.format("%Y-%m-%d").to_string()),
                    r.leader_notes,
                    r.practitioner_notes
                ));
            }
            let flagged: Vec<&str> = c
                .personas
                .iter()
                .filter(|p| p.flagged)
                .map(|p| p.persona.as_str())
                .collect();
            if flagged.is_empty() {
                out.push_str("\nevery persona context was tried by a leader within the horizon\n");
            } else {
                out.push_str(&format!(
                    "\nno leader has tried these persona contexts within {} days: {}\n  hint: do a task of theirs with their tools, then `proximity note add --role leader`\n",
                    c.horizon_days,
                    flagged.join(", ")
                ));
            }
            out
        }
    };
    output::emit(&text, None)?;
    Ok(Outcome::Ok)
}
