//! `proximity schema [program|suite]`: print the JSON Schema of `proximity.yaml` or of a
//! suite file, generated from the program's types, for editors and other tools.

use std::io::Write as _;

use proximity_program::schema::schema;

use crate::args::schema::SchemaArgs;
use crate::Outcome;

pub fn run(args: &SchemaArgs) -> anyhow::Result<Outcome> {
    let text = serde_json::to_string_pretty(&schema(args.file.into()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    Ok(Outcome::Ok)
}
