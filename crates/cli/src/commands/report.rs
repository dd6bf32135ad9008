//! `proximity report [RUN]`: the scorecard of a stored run.

use anyhow::Context as _;

use crate::args::{GlobalArgs, ReportArgs};
use crate::commands::output::{emit, render};
use crate::context::{load_program, open_store};
use crate::Outcome;

pub async fn run(g: &GlobalArgs, args: &ReportArgs) -> anyhow::Result<Outcome> {
    let program = load_program(g)?;
    let store = open_store(g, &program).await?;
    let run = match &args.run {
        Some(id) => store.run(id).await?,
        None => store
            .latest_run()
            .await?
            .context("no runs yet: run `proximity eval` first")?,
    };
    let results = store.results(&run.id).await?;
    let report = proximity_analysis::scorecard(&program, &run, &results);
    emit(&render(&report, &results, args.format), args.out.as_deref())?;
    store.close().await;
    Ok(Outcome::Ok)
}
