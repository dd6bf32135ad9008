//! One module per subcommand.

pub mod check;
pub mod demo;
pub mod eval;
pub mod init;
pub mod models;
pub mod output;
pub mod report;
