//! One module per subcommand.

pub mod check;
pub mod eval;
pub mod models;
pub mod output;
pub mod report;
