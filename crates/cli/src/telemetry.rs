//! The process's `tracing` subscriber: logs to stderr (filtered by `PROXIMITY_LOG` and
//! `-v`) and, when an OTLP endpoint is given, traces exported over OTLP/HTTP (protobuf)
//! by the OpenTelemetry SDK's batch processor.
//!
//! Only spans with the target `proximity::otel` (the gateway's requests, an eval's or a
//! worker's items) go to the exporter, and they never reach the log; without an endpoint
//! there is no exporter and those spans are disabled at their call sites. The queue is
//! the SDK's: bounded (`OTEL_BSP_MAX_QUEUE_SIZE`, 2,048 by default), a full queue drops
//! spans and counts them (a warning at the first drop and the total at exit), and the
//! export runs on the SDK's own thread, so a collector that is down or slow never holds
//! up a request or an eval.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::field::Empty;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::args::Command;

/// The target of the spans that are exported (and kept out of the log).
pub const OTEL_TARGET: &str = "proximity::otel";

/// How long one export may take when `OTEL_EXPORTER_OTLP_TIMEOUT` does not say: short,
/// so that the flush at exit gives up soon on a collector that does not answer.
const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long the flush at exit may take in all.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Where to send traces: the `--otlp-endpoint` of the commands that take one, else the
/// standard variables (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT`),
/// unless `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// No exporter.
    Off,
    /// The traces URL, from `--otlp-endpoint` (a base URL as `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// is: `/v1/traces` is added unless it is there).
    Given(String),
    /// The SDK reads the standard variables itself.
    FromEnv,
}

impl Endpoint {
    /// The endpoint for `command`, reading the environment through `var`.
    pub fn of(command: &Command, var: impl Fn(&str) -> Option<String>) -> Self {
        let flag = match command {
            Command::Gateway(a) => Some(&a.otlp),
            Command::Eval(a) => Some(&a.otlp),
            Command::Worker(a) => Some(&a.otlp),
            Command::Serve(a) => Some(&a.otlp),
            _ => None,
        };
        let Some(flag) = flag else {
            return Endpoint::Off;
        };
        let set = |name: &str| var(name).is_some_and(|v| !v.trim().is_empty());
        let off = |name: &str, value: &str| {
            var(name).is_some_and(|v| v.trim().eq_ignore_ascii_case(value))
        };
        if off("OTEL_SDK_DISABLED", "true") || off("OTEL_TRACES_EXPORTER", "none") {
            return Endpoint::Off;
        }
        match flag.otlp_endpoint.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => Endpoint::Given(traces_url(url)),
            _ if set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                || set("OTEL_EXPORTER_OTLP_ENDPOINT") =>
            {
                Endpoint::FromEnv
            }
            _ => Endpoint::Off,
        }
    }
}

/// A base URL's traces path, as the SDK builds it from `OTEL_EXPORTER_OTLP_ENDPOINT`.
fn traces_url(base: &str) -> String {
    if base.trim_end_matches('/').ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{}/v1/traces", base.trim_end_matches('/'))
    }
}

/// Flushes and stops the exporter when dropped (at the end of `run`).
#[must_use]
pub struct Guard(Option<SdkTracerProvider>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take() {
            if let Err(e) = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
                tracing::warn!(error = %e, "the trace exporter did not flush");
            }
        }
    }
}

/// Install the subscriber: the log, and the exporter when `endpoint` says so. An exporter
/// that cannot be built (a malformed URL) is reported and left out: tracing is never a
/// reason for a command to fail.
pub fn init(verbose: u8, endpoint: &Endpoint) -> Guard {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("PROXIMITY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // The exported spans stay out of the log (and out of its lines' span context).
    if let Ok(directive) =
        format!("{OTEL_TARGET}=off").parse::<tracing_subscriber::filter::Directive>()
    {
        filter = filter.add_directive(directive);
    }
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter);
    let (provider, problem) = match endpoint {
        Endpoint::Off => (None, None),
        Endpoint::Given(url) => match provider(Some(url)) {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e)),
        },
        Endpoint::FromEnv => match provider(None) {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e)),
        },
    };
    let traces = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("proximity"))
            .with_location(false)
            .with_target(false)
            .with_level(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_context_activation(false)
            .with_filter(filter_fn(exported))
    });
    let _ = tracing_subscriber::registry()
        .with(log)
        .with(traces)
        .try_init();
    if let Some(e) = problem {
        tracing::warn!(error = %e, "traces are not exported");
    }
    Guard(provider)
}

/// What the exporter takes: the spans meant for it, and the gateway's content events
/// (only ever emitted under `--log-content`), which become events of the request's span.
fn exported(m: &tracing::Metadata<'_>) -> bool {
    if m.target() == OTEL_TARGET {
        return true;
    }
    m.is_event()
        && m.target() == "proximity_gateway::relay"
        && (m.fields().field("answer").is_some() || m.fields().field("messages").is_some())
}

/// The tracer provider: the OTLP/HTTP exporter on the workspace's reqwest (blocking, so
/// it runs on the batch processor's thread without an async runtime), batched.
fn provider(url: Option<&str>) -> Result<SdkTracerProvider, String> {
    let timeout = export_timeout(|name| std::env::var(name).ok());
    let client = HttpClient::new(timeout)?;
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_http_client(client)
        .with_timeout(timeout);
    if let Some(url) = url {
        builder = builder.with_endpoint(url);
    }
    let exporter = builder.build().map_err(|e| e.to_string())?;
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(BatchConfigBuilder::default().build())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource())
        .build())
}

/// `service.name` is `proximity` unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES`
/// names it; `service.version` is this build's.
fn resource() -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|v| !v.as_str().starts_with("unknown_service"));
    let mut builder = Resource::builder()
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if !named {
        builder = builder.with_service_name("proximity");
    }
    builder.build()
}

/// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` or `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds),
/// else [`DEFAULT_EXPORT_TIMEOUT`].
fn export_timeout(var: impl Fn(&str) -> Option<String>) -> Duration {
    [
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ]
    .iter()
    .find_map(|name| var(name).and_then(|v| v.trim().parse::<u64>().ok()))
    .map_or(DEFAULT_EXPORT_TIMEOUT, Duration::from_millis)
}

/// The exporter's HTTP client: the workspace's reqwest (0.12, rustls), whose blocking
/// client the SDK's batch thread calls. (`opentelemetry-otlp` 0.33's own reqwest feature
/// would bring a second reqwest, 0.13.)
#[derive(Debug)]
struct HttpClient(reqwest::blocking::Client);

impl HttpClient {
    fn new(timeout: Duration) -> Result<Self, String> {
        // reqwest's blocking client starts a runtime of its own, which must not be built
        // (nor dropped) on an async runtime's thread: build it on a thread of its own.
        std::thread::spawn(move || {
            reqwest::blocking::Client::builder()
                .timeout(timeout)
                .build()
        })
        .join()
        .map_err(|_| "the HTTP client's thread panicked".to_owned())?
        .map(HttpClient)
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for HttpClient {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<bytes::Bytes>,
    ) -> Result<opentelemetry_http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = request.into_parts();
        let response = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body.to_vec())
            .send()?;
        let mut out = opentelemetry_http::Response::builder().status(response.status().as_u16());
        if let Some(headers) = out.headers_mut() {
            headers.extend(
                response
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        }
        let body = response.bytes()?;
        Ok(out.body(body)?)
    }
}

/// The span of a whole `eval`: its items' spans are its children, one trace a run.
pub fn eval_span() -> tracing::Span {
    tracing::info_span!(target: OTEL_TARGET, "eval", otel.name = "proximity eval")
}

/// Axum middleware: a server span for each dashboard request (method, route, status).
pub async fn http_span(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument as _;
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let span = tracing::info_span!(
        target: OTEL_TARGET,
        "http",
        otel.name = Empty,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method.as_str(),
        http.route = Empty,
        url.path = request.uri().path(),
        http.response.status_code = Empty,
    );
    if span.is_disabled() {
        return next.run(request).await;
    }
    match &route {
        Some(r) => {
            span.record("otel.name", format!("{method} {r}").as_str());
            span.record("http.route", r.as_str());
        }
        None => {
            span.record("otel.name", method.as_str());
        }
    }
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Cli;
    use clap::Parser as _;

    fn endpoint(args: &[&str], env: &[(&str, &str)]) -> Endpoint {
        let cli = Cli::parse_from(args);
        Endpoint::of(&cli.command, |name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_flag_is_a_base_url_like_the_standard_variable() {
        assert_eq!(
            endpoint(
                &[
                    "proximity",
                    "gateway",
                    "--otlp-endpoint",
                    "http://127.0.0.1:4318"
                ],
                &[]
            ),
            Endpoint::Given("http://127.0.0.1:4318/v1/traces".into())
        );
        assert_eq!(
            endpoint(
                &[
                    "proximity",
                    "eval",
                    "--otlp-endpoint",
                    "http://c:4318/v1/traces/"
                ],
                &[]
            ),
            Endpoint::Given("http://c:4318/v1/traces/".into())
        );
    }

    #[test]
    fn the_standard_variables_turn_it_on_and_off() {
        assert_eq!(endpoint(&["proximity", "worker"], &[]), Endpoint::Off);
        let on = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")];
        assert_eq!(endpoint(&["proximity", "serve"], &on), Endpoint::FromEnv);
        let traces = [(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://c:4318/v1/traces",
        )];
        assert_eq!(endpoint(&["proximity", "eval"], &traces), Endpoint::FromEnv);
        let disabled = [on[0], ("OTEL_SDK_DISABLED", "true")];
        assert_eq!(
            endpoint(&["proximity", "gateway"], &disabled),
            Endpoint::Off
        );
        let none = [on[0], ("OTEL_TRACES_EXPORTER", "none")];
        assert_eq!(endpoint(&["proximity", "gateway"], &none), Endpoint::Off);
        // Commands that export nothing ignore it.
        assert_eq!(endpoint(&["proximity", "check"], &on), Endpoint::Off);
    }

    #[test]
    fn the_export_timeout_is_short_unless_the_variables_say() {
        assert_eq!(export_timeout(|_| None), DEFAULT_EXPORT_TIMEOUT);
        assert_eq!(
            export_timeout(|n| (n == "OTEL_EXPORTER_OTLP_TIMEOUT").then(|| "250".to_owned())),
            Duration::from_millis(250)
        );
    }
}
