//! The arguments of `proximity migrate`.

use clap::Args;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Only list the pending migrations, applying none: exit 1 when there are any.
    #[arg(long)]
    pub check: bool,
}
