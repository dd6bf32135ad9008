//! `proximity keys create|list|revoke`: the gateway's virtual keys. A key is printed once
//! at creation; only its hash is stored.

use anyhow::{bail, Context as _};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::args::{GlobalArgs, ListFormat};
use crate::commands::output;
use crate::{context, Outcome};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for a persona; the key is printed once, on standard output.
    Create(CreateArgs),
    /// List keys (never the keys themselves).
    List(ListArgs),
    /// Revoke a key by its id: requests with it get 401 from then on.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The persona the key acts as (its tier decides tools, limits and budget).
    #[arg(long)]
    pub persona: String,
    /// A name to recognise the key by (a person, a service).
    #[arg(long)]
    pub name: Option<String>,
    /// When the key stops working: `YYYY-MM-DD` (it works through that day, UTC) or an
    /// RFC 3339 time.
    #[arg(long, value_name = "DATE")]
    pub expires: Option<String>,
    /// A monthly budget of this key in US dollars, on top of the persona's.
    #[arg(long, value_name = "USD")]
    pub budget: Option<f64>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The key id (`key_...`, as `keys list` shows it).
    pub id: String,
}

pub async fn run(g: &GlobalArgs, command: &KeysCommand) -> anyhow::Result<Outcome> {
    let program = context::load_program(g)?;
    let store = context::open_store(g, &program).await?;
    match command {
        KeysCommand::Create(a) => {
            let Some(persona) = program.persona(&a.persona) else {
                let known: Vec<&str> = program.personas.iter().map(|p| p.id.as_str()).collect();
                bail!(
                    "unknown persona `{}`\n  hint: one of: {}",
                    a.persona,
                    known.join(", ")
                );
            };
            if a.budget.is_some_and(|b| !(b.is_finite() && b >= 0.0)) {
                bail!("`--budget` must be a non-negative number of US dollars");
            }
            let now = Utc::now();
            let expires = a.expires.as_deref().map(parse_expiry).transpose()?;
            if let Some(t) = expires.filter(|t| *t <= now) {
                note(&format!(
                    "warning: `--expires {}` is {}, already past: this key is expired from the start",
                    a.expires.as_deref().unwrap_or_default().trim(),
                    t.to_rfc3339()
                ));
            }
            let new = proximity_gateway::auth::generate(
                &persona.id,
                a.name.clone(),
                expires,
                a.budget,
                now,
            );
            store.insert_key(&new.record).await?;
            note(&format!(
                "created key {} for persona `{}` (tier `{}`); it is shown only this once",
                new.record.id, persona.id, persona.tier
            ));
            output::emit(&new.key, None)?;
        }
        KeysCommand::List(a) => {
            let keys = store.keys().await?;
            let now = Utc::now();
            let status = |k: &proximity_store::KeyRecord| {
                if k.revoked_at.is_some() {
                    "revoked"
                } else if k.expires_at.is_some_and(|t| t <= now) {
                    "expired"
                } else {
                    "active"
                }
            };
            let text = match a.format {
                ListFormat::Json => {
                    let rows: Vec<_> = keys
                        .iter()
                        .map(|k| {
                            json!({
                                "id": k.id, "persona": k.persona, "name": k.name,
                                "created_at": k.created_at, "expires_at": k.expires_at,
                                "revoked_at": k.revoked_at, "budget_usd": k.budget_usd,
                                "status": status(k),
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
                    for k in &keys {
                        out.push_str(&format!(
                            "{:<18} {:<20} {:<16} {:<8} {:<11} {:<11}\n",
                            k.id,
                            k.persona,
                            k.name.as_deref().unwrap_or("-"),
                            status(k),
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
            if !store.revoke_key(&a.id, Utc::now()).await? {
                bail!(
                    "no active key `{}`\n  hint: `proximity keys list` shows the ids",
                    a.id
                );
            }
            note(&format!("revoked {}", a.id));
        }
    }
    Ok(Outcome::Ok)
}

#[allow(clippy::print_stderr)]
fn note(text: &str) {
    eprintln!("{text}");
}

/// When a key created with `--expires TEXT` stops working: a `YYYY-MM-DD` date works
/// through that day (until the next midnight UTC), so `--expires` today gives a key for
/// the rest of the day, not one expired already; an RFC 3339 time is taken as it is.
pub fn parse_expiry(text: &str) -> anyhow::Result<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.succ_opt())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc())
        .with_context(|| format!("`{t}` is not a date (`YYYY-MM-DD` or RFC 3339)"))
}

/// `YYYY-MM-DD` (midnight UTC), RFC 3339, or a relative `7d` / `12h` (ago for `--since`,
/// from now for `--expires` is not needed: dates only).
pub fn parse_when(text: &str) -> anyhow::Result<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if let Some(dt) = d.and_hms_opt(0, 0, 0) {
            return Ok(dt.and_utc());
        }
    }
    let (n, unit) = t.split_at(t.len().saturating_sub(1));
    let n: i64 = n
        .parse()
        .with_context(|| format!("`{t}` is not a date (`YYYY-MM-DD`, RFC 3339, `7d`, `12h`)"))?;
    let ago = match unit {
        "d" => chrono::Duration::days(n),
        "h" => chrono::Duration::hours(n),
        _ => bail!("`{t}` is not a date (`YYYY-MM-DD`, RFC 3339, `7d`, `12h`)"),
    };
    Ok(Utc::now() - ago)
}
