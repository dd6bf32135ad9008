//! Proximity's program: the YAML an organisation keeps in git (tools, tiers, personas with
//! their work mix, suites of real-work cases), loaded with every error located, and the
//! checked domain types the rest of Proximity works with.
//!
//! This crate does no I/O beyond reading the program's own files.

pub mod assertion;
pub mod contract;
pub mod diagnostic;
mod file_chars;
pub mod fingerprint;
pub mod load;
mod location;
pub mod model;
pub mod promote;
pub mod prompt;
pub mod raw;
pub mod redact;
pub mod schema;
mod schema_shapes;
pub mod suggest;
pub mod yaml;
mod yaml_stream;

pub use assertion::{Assertion, Assertions, Check, Group, Match};
pub use diagnostic::{Diagnostic, Diagnostics};
pub use load::{canaries, find_program_root, load, LoadError, PROGRAM_FILE};
pub use model::*;
