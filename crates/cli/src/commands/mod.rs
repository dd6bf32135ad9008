//! One module per subcommand.

pub mod baseline;
pub mod check;
pub mod coverage;
pub mod decide;
pub mod demo;
pub mod drift;
pub mod eval;
pub mod export;
pub mod friction;
pub mod gateway;
pub mod import;
pub mod import_promptfoo;
pub mod init;
pub mod keys;
pub mod migrate;
pub mod models;
pub mod note;
pub mod notify;
pub mod output;
pub mod plan;
pub mod probe;
pub mod probe_risk;
pub mod report;
pub mod serve;
pub mod usage;
pub mod worker;
