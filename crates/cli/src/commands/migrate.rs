//! `proximity migrate [--check]`: bring the store's schema up to date as an explicit step
//! (for deployments whose gateways and workers run with `--no-migrate`), or, with
//! `--check`, list what is pending and exit 1 when anything is. Also owns where the
//! store-wide commands (`migrate`, `export`, `import`) find their store.

use anyhow::Context as _;
use proximity_store::{ConnectOptions, Store};

use crate::args::migrate::MigrateArgs;
use crate::args::GlobalArgs;
use crate::commands::output;
use crate::{context, Outcome};

pub async fn run(g: &GlobalArgs, a: &MigrateArgs) -> anyhow::Result<Outcome> {
    let url = context::target_url(g)?;
    let options = ConnectOptions {
        max_connections: g.database_pool_size,
        ..ConnectOptions::default()
    };
    let store = Store::connect_unmigrated(&url, &options)
        .await
        .with_context(|| format!("cannot open the store at `{}`", context::redact_url(&url)))?;
    let outcome = migrate(&store, a.check).await;
    store.close().await;
    outcome
}

async fn migrate(store: &Store, check: bool) -> anyhow::Result<Outcome> {
    let list = |versions: &[i64]| {
        versions
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let pending = store.pending_migrations().await?;
    if pending.is_empty() {
        let schema = store.schema_version().await?.unwrap_or(0);
        output::emit(&format!("up to date (schema {schema})"), None)?;
        return Ok(Outcome::Ok);
    }
    if check {
        output::emit(
            &format!(
                "{} pending migration{}: {}\n  hint: apply them with `proximity migrate`",
                pending.len(),
                plural(pending.len()),
                list(&pending)
            ),
            None,
        )?;
        return Ok(Outcome::Finding);
    }
    let applied = store
        .migrate()
        .await
        .context("migrating the store failed: the migrations before the failing one are applied; fix the cause and run `proximity migrate` again")?;
    let schema = store.schema_version().await?.unwrap_or(0);
    output::emit(
        &format!(
            "applied {} migration{}: {} (schema {schema})",
            applied.len(),
            plural(applied.len()),
            list(&applied)
        ),
        None,
    )?;
    Ok(Outcome::Ok)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
