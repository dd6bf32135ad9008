//! The arguments of `proximity keys`.

use clap::{Args, Subcommand};

use super::ListFormat;

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
    /// When the key stops working (`YYYY-MM-DD`, midnight UTC, or RFC 3339).
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
