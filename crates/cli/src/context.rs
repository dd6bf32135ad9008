//! Resolving where the program and the store are, from the global arguments.

use std::path::PathBuf;

use anyhow::Context as _;
use proximity_program::{LoadError, Program, PROGRAM_FILE};
use proximity_store::{ConnectOptions, Store};

use crate::args::GlobalArgs;
use crate::hint::hinted;

/// The program directory: `--program`, or the nearest one upwards from here.
pub fn program_root(g: &GlobalArgs) -> anyhow::Result<PathBuf> {
    if let Some(p) = &g.program {
        if !p.join(PROGRAM_FILE).is_file() {
            return Err(hinted(
                format!(
                    "`{}` is not a program directory: it has no `{PROGRAM_FILE}`",
                    p.display()
                ),
                format!("run `proximity init {}` to create one", p.display()),
            ));
        }
        return Ok(p.clone());
    }
    // Search upwards, keeping the path relative so messages show short paths.
    let cwd = std::env::current_dir()?;
    let mut rel = PathBuf::new();
    for dir in cwd.ancestors() {
        if dir.join(PROGRAM_FILE).is_file() {
            return Ok(rel);
        }
        rel.push("..");
    }
    Err(LoadError::NotFound(std::env::current_dir()?))
        .context("pass `--program DIR`, or run from inside a program directory")
}

/// Load and validate the program; invalid programs come back as [`proximity_program::Diagnostics`].
pub fn load_program(g: &GlobalArgs) -> anyhow::Result<Program> {
    let root = program_root(g)?;
    match proximity_program::load(&root) {
        Ok(p) => Ok(p),
        Err(LoadError::Invalid(d)) => Err(d.into()),
        Err(e) => Err(e.into()),
    }
}

/// Load and validate the program, keeping none of its cases (`proximity eval` reads them
/// again as it goes).
pub fn load_suites(g: &GlobalArgs) -> anyhow::Result<proximity_eval::runner::suites::Suites> {
    let root = program_root(g)?;
    match proximity_eval::runner::suites::Suites::load(&root) {
        Ok(s) => Ok(s),
        Err(LoadError::Invalid(d)) => Err(d.into()),
        Err(e) => Err(e.into()),
    }
}

/// Open the store for a program.
pub async fn open_store(g: &GlobalArgs, program: &Program) -> anyhow::Result<Store> {
    open_url(g, &store_url(g, program)).await
}

/// The store's URL: `--database-url`, else the program's SQLite file.
pub fn store_url(g: &GlobalArgs, program: &Program) -> String {
    match &g.database_url {
        Some(u) => u.clone(),
        None => proximity_store::default_url(&program.root),
    }
}

/// Open the store at `url` with the global connection settings.
pub async fn open_url(g: &GlobalArgs, url: &str) -> anyhow::Result<Store> {
    let options = ConnectOptions {
        max_connections: g.database_pool_size,
        migrate: !g.no_migrate,
        ..ConnectOptions::default()
    };
    Store::connect_with(url, &options)
        .await
        .with_context(|| format!("cannot open the store at `{}`", redact_url(url)))
}

/// Move the usage rows a killed gateway acknowledged and left in its journal into the
/// store, before a command reads usage (`usage`, `mix`, `--weights observed`, `serve`,
/// `export`, `gateway`). Nothing to do while a gateway serves the file: it owns its
/// journal. Commands that never read usage (`note list`, `eval` with declared weights, …)
/// do not call this.
pub async fn recover_usage(store: &Store) {
    match proximity_gateway::ledger::recover_journal(store).await {
        Ok(Some(r)) if r.entries > 0 => tracing::info!(
            rows = r.entries,
            "moved usage rows a stopped gateway left in its journal into the store"
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cannot move a stopped gateway's usage journal into the store")
        }
    }
}

/// A database URL without its password.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => url.to_owned(),
    }
}

/// The store of the store-wide commands: `--database-url` alone (no program needed),
/// else the program's SQLite file.
pub fn target_url(g: &GlobalArgs) -> anyhow::Result<String> {
    match &g.database_url {
        Some(url) => Ok(url.clone()),
        None => {
            let root = program_root(g).context(
                "no store named: pass `--database-url URL`, or `--program DIR` for the \
                 program's SQLite store",
            )?;
            Ok(proximity_store::default_url(&root))
        }
    }
}

/// The tool a probe runs on: the one named (it must be in the program), or the
/// program's only tool.
pub fn tool_to_probe(program: &Program, named: Option<&str>) -> anyhow::Result<String> {
    match named {
        Some(t) => {
            proximity_ops::ids::tool(program, t)?;
            Ok(t.to_owned())
        }
        None => match program.tools.as_slice() {
            [only] => Ok(only.id.clone()),
            tools => Err(hinted(
                "which tool?",
                format!(
                    "pass `--tool`, one of: {}",
                    tools
                        .iter()
                        .map(|t| t.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        },
    }
}
