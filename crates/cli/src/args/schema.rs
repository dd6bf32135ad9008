//! The arguments of `proximity schema`.

use clap::{Args, ValueEnum};
use proximity_program::schema::SchemaKind;

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which file the schema describes.
    #[arg(value_enum, default_value_t = SchemaFile::Program)]
    pub file: SchemaFile,
}

/// The files a schema is printed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaFile {
    /// `proximity.yaml`.
    Program,
    /// A suite file (`suites/*.yaml`).
    Suite,
}

impl From<SchemaFile> for SchemaKind {
    fn from(f: SchemaFile) -> Self {
        match f {
            SchemaFile::Program => SchemaKind::Program,
            SchemaFile::Suite => SchemaKind::Suite,
        }
    }
}
