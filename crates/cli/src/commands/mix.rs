//! `proximity mix`: each persona's declared workflow shares beside the observed shares of
//! its gateway requests (exit 1 when a share is flagged); and `--weights` of `eval`,
//! `report` and `plan`, which weigh by either. The operations are in `proximity_ops::mix`.

use chrono::Utc;
use proximity_analysis::Report;
use proximity_ops::mix::{self as ops_mix, Mix, WeightChoice, Weighted, Weights, FLAG_MARGIN};
use proximity_program::Program;
use proximity_store::{ResultRecord, Store};

use crate::args::mix::{MixArgs, WeightsArg, WeightsArgs};
use crate::args::{Format, GlobalArgs, ListFormat};
use crate::commands::output;
use crate::hint::hinted;
use crate::{context, Outcome};

pub async fn run(g: &GlobalArgs, a: &MixArgs) -> anyhow::Result<Outcome> {
    let program = context::load_program(g)?;
    let store = context::open_store(g, &program).await?;
    context::recover_usage(&store).await;
    let now = Utc::now();
    let since = proximity_ops::when::parse_when(&a.since, now)?;
    let mix = ops_mix::observe(&store, &program, since, now, a.persona.as_deref()).await?;
    let text = match a.format {
        ListFormat::Json => serde_json::to_string_pretty(&mix)?,
        ListFormat::Table => render_mix(&mix),
    };
    output::emit(&text, None)?;
    store.close().await;
    Ok(if mix.flagged() > 0 {
        Outcome::Finding
    } else {
        Outcome::Ok
    })
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

fn num(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"))
}

/// The mix as a table.
pub fn render_mix(mix: &Mix) -> String {
    let days = (mix.until - mix.since).num_seconds() as f64 / 86_400.0;
    let mut out = format!(
        "Observed work mix from {} to {} ({days:.1} days): {} answered request{} through the gateway.\n\
         Shares are of each persona's requests; the interval is 95% Wilson; volumes are per 30 days.\n\n",
        mix.since.format("%Y-%m-%d %H:%M UTC"),
        mix.until.format("%Y-%m-%d %H:%M UTC"),
        mix.requests,
        if mix.requests == 1 { "" } else { "s" },
    );
    out.push_str(&format!(
        "{:<20} {:<22} {:>8} {:>8} {:>15} {:>8} {:>9} {:>10} {:>7} {:>7}  {}\n",
        "PERSONA",
        "WORKFLOW",
        "DECLARED",
        "OBSERVED",
        "95% INTERVAL",
        "REQUESTS",
        "OBS/MONTH",
        "DECL/MONTH",
        "IN/REQ",
        "OUT/REQ",
        "FLAG"
    ));
    for p in &mix.personas {
        for w in &p.workflows {
            let interval = match (w.ci_low, w.ci_high) {
                (Some(l), Some(h)) => format!("{:.1}–{:.1}%", l * 100.0, h * 100.0),
                _ => "-".to_owned(),
            };
            let line = format!(
                "{:<20} {:<22} {:>8} {:>8} {:>15} {:>8} {:>9.0} {:>10} {:>7} {:>7}  {}",
                p.persona,
                w.workflow,
                pct(w.declared_share),
                pct(w.observed_share),
                interval,
                w.requests,
                w.observed_monthly_volume,
                w.declared_monthly_volume
                    .map_or_else(|| "-".to_owned(), |v| v.to_string()),
                num(w.input_tokens_per_request),
                num(w.output_tokens_per_request),
                w.flag.map_or("", |f| f.describe()),
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        if !p.in_program {
            out.push_str(&format!(
                "{:<20} (a persona the program no longer has)\n",
                p.persona
            ));
        }
    }
    let flagged = mix.flagged();
    if flagged > 0 {
        out.push_str(&format!(
            "\n{flagged} flagged: a declared share more than {:.0} points outside the observed interval, \
             or requests for a workflow the persona does not have in the program.\n",
            FLAG_MARGIN * 100.0
        ));
    }
    if mix
        .personas
        .iter()
        .flat_map(|p| &p.workflows)
        .any(|w| w.workflow == ops_mix::UNLABELLED && w.requests > 0)
    {
        out.push_str(
            "\n`unlabelled`: requests without an `x-proximity-workflow` header; they lower every \
             observed share, so label them.\n",
        );
    }
    out
}

/// The weights `a` asks for: see [`ops_mix::weigh`].
pub(crate) async fn weigh<'a>(
    store: &Store,
    program: &'a Program,
    a: &WeightsArgs,
) -> anyhow::Result<Weighted<'a>> {
    let now = Utc::now();
    let choice = match a.weights {
        WeightsArg::Declared => WeightChoice::Declared,
        WeightsArg::Observed => {
            let since = proximity_ops::when::parse_when(&a.mix_since, now)?;
            context::recover_usage(store).await;
            WeightChoice::Observed { since }
        }
    };
    Ok(ops_mix::weigh(store, program, choice, now).await?)
}

/// Refuse `--weights observed` where the output cannot say so (JUnit, the HTML site,
/// CSV's rows of results).
pub(crate) fn check_format(a: &WeightsArgs, format: Format) -> anyhow::Result<()> {
    if a.weights == WeightsArg::Observed
        && matches!(format, Format::Junit | Format::Html | Format::Csv)
    {
        return Err(hinted(
            "`--weights observed` prints a table, json or markdown scorecard",
            "drop `--weights observed` for JUnit, CSV and the HTML site",
        ));
    }
    Ok(())
}

/// The scorecard as `format` prints it; with observed weights it says which weights,
/// which window and how many requests they rest on (JSON: a `weights` object).
pub(crate) fn render_weighted(
    report: &Report,
    results: &[ResultRecord],
    format: Format,
    weights: &Weights,
) -> anyhow::Result<String> {
    let text = output::render(report, results, format);
    if weights.source != "observed" {
        return Ok(text);
    }
    Ok(match format {
        Format::Json => {
            // The report's object, its fields in their order, with `weights` last.
            let body = text.trim_end();
            let Some(open) = body.strip_suffix('}') else {
                anyhow::bail!("the JSON scorecard is not an object");
            };
            let w = serde_json::to_string_pretty(weights)?.replace('\n', "\n  ");
            format!("{},\n  \"weights\": {w}\n}}\n", open.trim_end())
        }
        Format::Table | Format::Markdown => format!("{}\n\n{text}", weights.describe()),
        Format::Junit | Format::Html | Format::Csv => text,
    })
}
