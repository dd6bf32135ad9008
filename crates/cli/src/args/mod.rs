//! Command-line arguments (clap). Only argument structs live here.

pub mod baseline;
pub mod capture;
pub mod coverage;
pub mod decide;
pub mod drift;
pub mod export;
pub mod friction;
pub mod import;
pub mod keys;
pub mod migrate;
pub mod mix;
pub mod models;
pub mod note;
pub mod plan;
pub mod probe_risk;
pub mod schema;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use baseline::BaselineCommand;
use drift::DriftArgs;
use keys::KeysCommand;
use models::ModelsCommand;
use probe_risk::ProbeRiskArgs;

/// Keep an organisation's AI decisions close to how its AI tools actually behave.
#[derive(Debug, Parser)]
#[command(name = "proximity", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The program directory (default: the nearest directory holding `proximity.yaml`,
    /// from the current directory upwards).
    #[arg(long, global = true, env = "PROXIMITY_PROGRAM", value_name = "DIR")]
    pub program: Option<PathBuf>,
    /// Where results are stored (default: sqlite://<program>/.proximity/proximity.db).
    #[arg(
        long,
        global = true,
        env = "PROXIMITY_DATABASE_URL",
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// Connections in the store's pool (default: 4 on SQLite, 16 on PostgreSQL).
    #[arg(
        long,
        global = true,
        env = "PROXIMITY_DATABASE_POOL_SIZE",
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=1000)
    )]
    pub database_pool_size: Option<u32>,
    /// Refuse to run on a store whose schema is behind instead of migrating it: for
    /// deployments that apply migrations as a release step with `proximity migrate`.
    #[arg(long, global = true, env = "PROXIMITY_NO_MIGRATE")]
    pub no_migrate: bool,
    /// More logging (-v info, -vv debug); `PROXIMITY_LOG` takes a tracing filter.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No progress bar.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The whole loop on `examples/acme` and the embedded local model.
    Demo(DemoArgs),
    /// Create a program: `proximity.yaml` and a suite, ready for `check` and `eval`.
    Init(InitArgs),
    /// Validate the program; exit 2 with located errors when it is invalid.
    Check(CheckArgs),
    /// Print the JSON Schema of `proximity.yaml` or of a suite file, for editors.
    Schema(schema::SchemaArgs),
    /// Evaluate tools on the program's cases.
    Eval(EvalArgs),
    /// Print the scorecard of a run.
    Report(ReportArgs),
    /// Serve the dashboard (127.0.0.1:7777 by default).
    Serve(ServeArgs),
    /// Generated cases that measure a tool (`context`: context fill; `risk`: the risk
    /// probes).
    #[command(subcommand)]
    Probe(ProbeCommand),
    /// Manage the embedded local model.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Serve the OpenAI-compatible gateway in front of the program's tools.
    Gateway(GatewayArgs),
    /// Manage the gateway's virtual keys (one per person or service, mapped to a persona).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Spend and volume of gateway requests.
    Usage(UsageArgs),
    /// The observed work mix: each persona's declared workflow shares beside the shares
    /// of its gateway requests (exit 1 when a share is flagged).
    Mix(mix::MixArgs),
    /// Pin a run's results as a named, immutable baseline; list baselines.
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// What changed since a baseline: pass rates, flipped cases, output shape, fingerprint
    /// (exit 1 when drift is found).
    Drift(DriftArgs),
    /// The field log: record, list and promote first-hand notes from real work.
    #[command(subcommand)]
    Note(note::NoteCommand),
    /// Requests and answers the gateway captured (redacted) for tiers with `capture:
    /// true`: list them, promote one into a case.
    #[command(subcommand)]
    Capture(capture::CaptureCommand),
    /// The cheapest tool assignment meeting every floor, the cost/quality frontier, and
    /// `--standardize PERSONA=TOOL` what-ifs.
    Plan(plan::PlanArgs),
    /// Friction vs benefit per persona × tool, from the field log.
    Friction(friction::FrictionArgs),
    /// Decision records: add, list, review (exit 1 when any is stale).
    #[command(subcommand)]
    Decide(decide::DecideCommand),
    /// When leaders last used each persona's tools first-hand.
    Coverage(coverage::CoverageArgs),
    /// Apply the store's pending schema migrations (`--check`: list them, exit 1 if any).
    Migrate(migrate::MigrateArgs),
    /// Write the whole store as JSON Lines, to move it to another backend.
    Export(export::ExportArgs),
    /// Load a `proximity export` file into the store (empty, unless `--merge`), or
    /// `import promptfoo CONFIG`: a promptfoo config's tests as cases of a suite file.
    Import(import::ImportArgs),
    /// Evaluate queued runs' items (`proximity eval --queue`) from a shared store, with
    /// other workers on any number of machines.
    Worker(WorkerArgs),
}

/// Trace export, on the commands that serve or evaluate.
#[derive(Debug, Clone, Default, Args)]
pub struct OtlpArgs {
    /// Export traces over OTLP/HTTP (protobuf) to this collector, a base URL such as
    /// `http://localhost:4318` (`/v1/traces` is added). Without it, the standard
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` turn export on.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Items evaluated at once by this worker.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    /// Seconds an item stays leased to this worker without being extended; a killed
    /// worker's items are taken over by others after at most this long.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..=86_400))]
    pub lease_secs: u64,
    /// How often to look for work when there is none, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub poll_ms: u64,
    /// Work on this run only.
    #[arg(long, value_name = "RUN")]
    pub run: Option<String>,
    /// Exit once no queued run has work left, instead of waiting for more.
    #[arg(long)]
    pub exit_when_done: bool,
    /// This worker's name in the queue's leases (default: host-pid-random).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub otlp: OtlpArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the program.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,
    /// Ask the model again instead of reusing cached answers from an earlier demo.
    #[arg(long)]
    pub fresh: bool,
}

/// Output formats of a scorecard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Markdown,
    Junit,
    /// A static site (`report --out DIR` only): the dashboard's views of the run.
    Html,
    /// One row per result, for spreadsheets (text that would run as a formula is
    /// prefixed with `'`).
    Csv,
}

/// Output formats of a context-fill curve: a scorecard's, less JUnit and HTML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CurveFormat {
    Table,
    Json,
    Markdown,
}

impl From<CurveFormat> for Format {
    fn from(f: CurveFormat) -> Self {
        match f {
            CurveFormat::Table => Self::Table,
            CurveFormat::Json => Self::Json,
            CurveFormat::Markdown => Self::Markdown,
        }
    }
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Only cases of this persona (repeatable).
    #[arg(long, value_name = "PERSONA")]
    pub persona: Vec<String>,
    /// Only this tool, on every selected case whatever the tier (repeatable). Default:
    /// each case runs on the tools of its persona's tier.
    #[arg(long, value_name = "TOOL")]
    pub tool: Vec<String>,
    /// Samples per case and tool.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub samples: u32,
    /// Requests in flight at once (as many answers again may be waiting for their
    /// results to be written meanwhile).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    /// Stop before the estimated spend of the run passes this many US dollars.
    #[arg(long, value_name = "USD")]
    pub budget: Option<f64>,
    /// Ask the providers again instead of reusing cached answers.
    #[arg(long)]
    pub no_cache: bool,
    /// Continue an interrupted run: only missing results are produced, none paid twice.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<String>,
    /// Put the run's items in the store's work queue for `proximity worker` processes
    /// instead of evaluating them here (use a store they share: `--database-url`).
    #[arg(long, conflicts_with = "resume")]
    pub queue: bool,
    /// With `--queue`: follow the run until the workers finish it, then print its
    /// scorecard.
    #[arg(long, requires = "queue")]
    pub wait: bool,
    /// How to print the scorecard of the run.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the scorecard to this file instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub weights: mix::WeightsArgs,
    #[command(flatten)]
    pub otlp: OtlpArgs,
}

impl EvalArgs {
    /// What clap cannot refuse, checked before anything runs: a budget that is not a
    /// number of dollars, and `--format html` (a site of several pages, which `report`
    /// writes; `eval` prints one scorecard).
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(b) = self.budget {
            if !(b.is_finite() && b >= 0.0) {
                anyhow::bail!("`--budget` must be a non-negative number of US dollars, got {b}");
            }
        }
        if self.format == Format::Html {
            return Err(crate::hint::hinted(
                "`proximity eval` prints its scorecard as table, json, markdown, junit or csv, not html",
                "after the run, `proximity report RUN --format html --out DIR` writes its pages \
                 (or `proximity serve` shows them)",
            ));
        }
        Ok(())
    }
}

/// The probes.
#[derive(Debug, Subcommand)]
pub enum ProbeCommand {
    /// Plant a made-up fact at depths of a context filled to fractions of the tool's
    /// window: accuracy per fill × depth and the effective context.
    Context(ProbeContextArgs),
    /// Run the built-in risk probes (injection, canary leakage, PII echo, unsafe
    /// compliance, tool-use overreach) and the program's `risk:<family>` cases on a tool.
    Risk(ProbeRiskArgs),
}

/// Where a context-fill probe plants its fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DepthArg {
    Start,
    Middle,
    End,
}

#[derive(Debug, Args)]
pub struct ProbeContextArgs {
    /// The tool to probe (default: the program's only tool).
    #[arg(long, value_name = "TOOL")]
    pub tool: Option<String>,
    /// Fills to measure, in percent of the window left after the question and the
    /// answer's `max_tokens` (0, the baseline, is always measured).
    #[arg(
        long,
        value_delimiter = ',',
        default_values_t = [0u32, 25, 50, 75, 90],
        value_parser = clap::value_parser!(u32).range(0..=100),
        value_name = "PERCENT,..."
    )]
    pub fills: Vec<u32>,
    /// Where to plant the fact.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values = ["start", "middle", "end"],
        value_name = "DEPTH,..."
    )]
    pub depths: Vec<DepthArg>,
    /// Repeats per fill and depth, each with a different fact and filler order.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub samples: u32,
    /// Bisect between the last good and the first bad fill until the two contexts differ
    /// by at most 5% of the good one's tokens (or 16 tokens): the default. The most
    /// steps it can take, and their tokens, are stated before the probe starts.
    #[arg(long, overrides_with = "no_refine")]
    pub refine: bool,
    /// Measure the grid only: no refinement (the knee is then only located between two
    /// fills of the grid).
    #[arg(long, overrides_with = "refine")]
    pub no_refine: bool,
    /// Refuse to start when the estimated tokens (prompts and `max_tokens` answers) pass
    /// this; stop once the tokens really sent reach it.
    #[arg(long, value_name = "TOKENS")]
    pub max_tokens_budget: Option<u64>,
    /// Fill the context with this persona's documents (default: the documents of the
    /// personas whose tier has the tool, else a built-in corpus).
    #[arg(long, value_name = "PERSONA")]
    pub persona: Option<String>,
    /// Seed of the facts and of the filler's order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    /// Ask the tool again instead of reusing cached answers.
    #[arg(long)]
    pub no_cache: bool,
    /// How to print the curve.
    #[arg(long, value_enum, default_value_t = CurveFormat::Table)]
    pub format: CurveFormat,
    /// Write the curve to this file instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run (default: the latest).
    pub run: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Instead of the scorecard, list the failing cases of this kind per persona and tool,
    /// most common first, with what was expected (table, json or markdown).
    #[arg(long, value_enum, value_name = "KIND")]
    pub failures: Option<FailuresArg>,
    /// With `--failures`: at most this many cases per persona and tool.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub limit: u32,
    #[command(flatten)]
    pub weights: mix::WeightsArgs,
}

/// Which failures `report --failures` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailuresArg {
    /// Well-formed, no hedge, and wrong.
    Silent,
    /// A contract a downstream consumer needs was broken.
    Structural,
    /// Errors, refusals, empty or visibly unsure answers.
    Loud,
    /// Every failure.
    All,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen. Beyond loopback the dashboard is read-only unless an admin
    /// token is set.
    #[arg(long, default_value = "127.0.0.1:7777", value_name = "ADDR")]
    pub listen: String,
    /// The token write actions (add a note, promote, accept a baseline) must present.
    #[arg(
        long,
        env = "PROXIMITY_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    #[command(flatten)]
    pub otlp: OtlpArgs,
}

#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR")]
    pub listen: String,
    /// Log prompts and answers (off by default: they may hold customer data).
    #[arg(long)]
    pub log_content: bool,
    /// The longest a request may take, retries and fallback included (clients may ask
    /// for less with `x-proximity-deadline-ms`).
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub deadline_secs: u64,
    /// Keep rate limits and budget reservations in the store, shared by every gateway on
    /// it (always so on PostgreSQL). On SQLite, without it one gateway owns the database
    /// file and keeps them in memory; give it to every gateway sharing one file.
    #[arg(long)]
    pub shared_limits: bool,
    /// The largest request body accepted; larger ones get a JSON 413.
    #[arg(long, default_value_t = proximity_gateway::DEFAULT_MAX_BODY_BYTES, value_name = "BYTES")]
    pub max_body_bytes: usize,
    /// How long a client may take to send a request head, and how long a keep-alive
    /// connection may stay idle (a half-sent head then gets a 408).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub header_timeout_secs: u64,
    /// How long a client may take to send a request body (408 past it).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub body_timeout_secs: u64,
    /// Open client connections at most, lowered to fit the open-file limit; past it a
    /// connection gets a JSON 503.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub max_connections: usize,
    /// Answers waiting for their workflow's live checks at most; past it an answer drawn
    /// for a check is skipped and counted (docs/live.md).
    #[arg(long, default_value_t = proximity_gateway::live::DEFAULT_QUEUE, value_name = "N")]
    pub live_queue: usize,
    #[command(flatten)]
    pub otlp: OtlpArgs,
}

/// How to group `proximity usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UsageBy {
    Persona,
    Tool,
    Workflow,
    Tier,
}

/// Output formats of listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Only requests since this date (`YYYY-MM-DD`, RFC 3339, or `7d` / `12h` ago).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// How to group requests.
    #[arg(long, value_enum, default_value_t = UsageBy::Persona)]
    pub by: UsageBy,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn eval_args(args: &[&str]) -> EvalArgs {
        let cli = Cli::try_parse_from([&["proximity", "eval"], args].concat())
            .unwrap_or_else(|e| panic!("{e}"));
        match cli.command {
            Command::Eval(a) => a,
            other => panic!("not eval: {other:?}"),
        }
    }

    #[test]
    fn eval_refuses_html_and_names_what_writes_it() {
        let err = eval_args(&["--format", "html"]).check().unwrap_err();
        let text = crate::hint::render(&err);
        assert!(text.contains("not html\n  hint: "), "{text}");
        assert!(
            text.contains("proximity report RUN --format html --out DIR"),
            "{text}"
        );
        for ok in ["table", "json", "markdown", "junit"] {
            eval_args(&["--format", ok]).check().unwrap();
        }
    }

    #[test]
    fn eval_refuses_a_budget_that_is_not_dollars() {
        for bad in ["-1", "NaN", "inf"] {
            let err = eval_args(&[&format!("--budget={bad}")])
                .check()
                .unwrap_err();
            assert!(err.to_string().contains("`--budget`"), "{bad}: {err}");
        }
        eval_args(&["--budget", "0.5"]).check().unwrap();
    }
}
