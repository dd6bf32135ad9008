//! The arguments of `proximity coverage`.

use clap::Args;

use super::ListFormat;

#[derive(Debug, Args)]
pub struct CoverageArgs {
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}
