//! The arguments of `proximity friction`.

use clap::Args;

use super::ListFormat;

#[derive(Debug, Args)]
pub struct FrictionArgs {
    #[arg(long)]
    pub persona: Option<String>,
    #[arg(long)]
    pub tool: Option<String>,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}
