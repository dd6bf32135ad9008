//! The arguments of `proximity mix`, and `--weights` of `eval`, `report` and `plan`.

use clap::{Args, ValueEnum};

use super::ListFormat;

#[derive(Debug, Args)]
pub struct MixArgs {
    /// Requests since this date (`YYYY-MM-DD`, RFC 3339, or `7d` / `12h` ago).
    #[arg(long, value_name = "WHEN", default_value = "30d")]
    pub since: String,
    /// Only this persona.
    #[arg(long, value_name = "PERSONA")]
    pub persona: Option<String>,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// Which shares and volumes the real-work score and the planner use.
#[derive(Debug, Args)]
pub struct WeightsArgs {
    /// `declared`: the shares and monthly volumes in `proximity.yaml`; `observed`: the
    /// work mix, volume and tokens per request of gateway requests (`proximity mix`).
    #[arg(long, value_enum, default_value_t = WeightsArg::Declared)]
    pub weights: WeightsArg,
    /// With `--weights observed`: requests since this date (`YYYY-MM-DD`, RFC 3339, or
    /// `7d` / `12h` ago).
    #[arg(long, value_name = "WHEN", default_value = "30d")]
    pub mix_since: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WeightsArg {
    Declared,
    Observed,
}
