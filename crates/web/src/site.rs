//! The static report: the dashboard's views of one run written as a directory of
//! self-contained HTML files (inline CSS and SVG, relative links, no script), to mail or
//! attach to a decision. `proximity report RUN --format html --out DIR` calls
//! [`render_static_site`].

use std::path::{Path, PathBuf};

use minijinja::context;
use proximity_program::Program;
use proximity_store::{ResultFilter, Store};

use crate::links::{file_slug, Links};
use crate::pages::{self, page, Chrome, PageCtx};
use crate::WebError;

/// How many results the static run page lists (failures first), each with its page.
pub const STATIC_RESULTS: u32 = 500;

/// Write the report of `run_id` into `out` (created if needed); the files written, in
/// order, `index.html` first.
pub async fn render_static_site(
    program: &Program,
    store: &Store,
    run_id: &str,
    out: &Path,
) -> Result<Vec<PathBuf>, WebError> {
    let run = store.run(run_id).await?;
    let ctx = PageCtx {
        program,
        store,
        links: Links::Static,
        cache: None,
    };
    fs_err::create_dir_all(out)?;
    let mut written = Vec::new();
    let mut write = |name: &str, body: String| -> Result<(), WebError> {
        let path = out.join(name);
        fs_err::write(&path, body)?;
        written.push(path);
        Ok(())
    };

    let view = pages::overview::build(&ctx, Some(&run)).await?;
    let title = format!("Run {}", run.id);
    write(
        "index.html",
        page("overview.html", &Chrome::new(&ctx, &title, None), view)?,
    )?;

    let cells = store.score_cells(&run.id).await?;
    let mut personas: Vec<&str> = cells.iter().map(|c| c.persona.as_str()).collect();
    personas.sort_unstable();
    personas.dedup();
    for p in personas {
        if program.persona(p).is_none() {
            continue;
        }
        let view = pages::persona::build(&ctx, p, Some(&run)).await?;
        write(
            &format!("persona-{}.html", file_slug(p)),
            page(
                "persona.html",
                &Chrome::new(&ctx, format!("Persona {p}"), None),
                view,
            )?,
        )?;
    }
    for t in &program.tools {
        let view = pages::tool::build(&ctx, &t.id).await?;
        write(
            &format!("tool-{}.html", file_slug(&t.id)),
            page(
                "tool.html",
                &Chrome::new(&ctx, format!("Tool {}", t.id), None),
                context! { notice => (), ..view },
            )?,
        )?;
    }

    let all = ResultFilter::default();
    let view = pages::run::build(&ctx, &run, &all, 0, STATIC_RESULTS).await?;
    write(
        "run.html",
        page("run.html", &Chrome::new(&ctx, &title, None), view)?,
    )?;
    let lines = store.result_lines(&run.id, &all, STATIC_RESULTS, 0).await?;
    for (i, l) in lines.iter().enumerate() {
        let Some(r) = store
            .result(&run.id, &l.case_id, &l.tool_id, l.sample.max(0) as u32)
            .await?
        else {
            continue;
        };
        let view = pages::result::build(&ctx, &run, &r);
        write(
            &format!("result-{i}.html"),
            page(
                "result.html",
                &Chrome::new(&ctx, format!("{} on {}", r.case_id, r.tool_id), None),
                view,
            )?,
        )?;
    }

    let view = pages::field_log::build(&ctx).await?;
    write(
        "field-log.html",
        page(
            "field_log.html",
            &Chrome::new(&ctx, "Field log", None),
            context! { notice => (), ..view },
        )?,
    )?;
    let view = pages::decisions::build(&ctx).await?;
    write(
        "decisions.html",
        page(
            "decisions.html",
            &Chrome::new(&ctx, "Decisions", None),
            view,
        )?,
    )?;
    let view = pages::usage::build(&ctx).await?;
    write(
        "usage.html",
        page(
            "usage.html",
            &Chrome::new(&ctx, "Usage & spend", None),
            view,
        )?,
    )?;
    Ok(written)
}
