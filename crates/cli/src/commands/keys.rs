//! `proximity keys create|list|revoke`: the gateway's virtual keys. A key is printed once
//! at creation; only its hash is stored.

use chrono::Utc;
use proximity_ops::keys::{self, KeyRequest};
use proximity_ops::when;
use serde_json::json;

use crate::args::keys::KeysCommand;
use crate::args::{GlobalArgs, ListFormat};
use crate::commands::output;
use crate::{context, Outcome};

pub async fn run(g: &GlobalArgs, command: &KeysCommand) -> anyhow::Result<Outcome> {
    let program = context::load_program(g)?;
    let store = context::open_store(g, &program).await?;
    let now = Utc::now();
    match command {
        KeysCommand::Create(a) => {
            let expires_at = a.expires.as_deref().map(when::parse_until).transpose()?;
            let new = keys::create(
                &store,
                &program,
                &KeyRequest {
                    persona: a.persona.clone(),
                    name: a.name.clone(),
                    expires_at,
                    budget_usd: a.budget,
                },
                now,
            )
            .await?;
            let tier = program
                .persona(&new.record.persona)
                .map_or("", |p| p.tier.as_str());
            output::note(&format!(
                "created key {} for persona `{}` (tier `{tier}`); it is shown only this once",
                new.record.id, new.record.persona
            ));
            output::emit(&new.key, None)?;
        }
        KeysCommand::List(a) => {
            let keys = keys::list(&store, now).await?;
            let text = match a.format {
                ListFormat::Json => {
                    let rows: Vec<_> = keys
                        .iter()
                        .map(|(k, status)| {
                            json!({
                                "id": k.id, "persona": k.persona, "name": k.name,
                                "created_at": k.created_at, "expires_at": k.expires_at,
                                "revoked_at": k.revoked_at, "budget_usd": k.budget_usd,
                                "status": status.as_str(),
                            })
                        })
                        .collect();
                    serde_json::to_string_pretty(&rows)?
                }
                ListFormat::Table => {
                    let mut out = format!(
                        "{:<18} {:<20} {:<16} {:<8} {:<11} {:<11}\n",
                        "ID", "PERSONA", "NAME", "STATUS", "CREATED", "EXPIRES"
                    );
                    for (k, status) in &keys {
                        out.push_str(&format!(
                            "{:<18} {:<20} {:<16} {:<8} {:<11} {:<11}\n",
                            k.id,
                            k.persona,
                            k.name.as_deref().unwrap_or("-"),
                            status.as_str(),
                            k.created_at.format("%Y-%m-%d"),
                            k.expires_at
                                .map_or("-".to_owned(), |t| t.format("%Y-%m-%d").to_string()),
                        ));
                    }
                    out
                }
            };
            output::emit(&text, None)?;
        }
        KeysCommand::Revoke(a) => {
            keys::revoke(&store, &a.id, now).await?;
            output::note(&format!("revoked {}", a.id));
        }
    }
    Ok(Outcome::Ok)
}
