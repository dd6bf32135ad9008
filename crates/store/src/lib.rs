//! Proximity's store: runs, results and the response cache, persisted with sqlx
//! (SQLite by default; written so PostgreSQL can follow).

pub mod records;

pub use records::*;
