//! Prometheus metrics of the gateway (`GET /metrics`): requests, errors, tokens, spend,
//! latency and gateway overhead, per tool and persona; live checks by verdict and those
//! skipped, per tool, persona and workflow. Its own registry, so tests and
//! several gateways in one process do not share counters.

use prometheus::{
    CounterVec, Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    errors: IntCounterVec,
    tokens: IntCounterVec,
    spend: CounterVec,
    latency: HistogramVec,
    overhead: HistogramVec,
    usage_pending: IntGauge,
    live: LiveMetrics,
}

/// The live-check counters (see [`crate::live`]).
#[derive(Clone)]
pub struct LiveMetrics {
    /// Checked answers, by verdict.
    pub checks: IntCounterVec,
    /// Answers drawn for a check and not checked: the queue was full.
    pub skipped: IntCounterVec,
}

/// What one finished request adds to the metrics.
pub struct Observation<'a> {
    pub tool: &'a str,
    pub persona: &'a str,
    pub status: u16,
    pub error_class: Option<&'a str>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub latency_secs: f64,
    pub overhead_secs: f64,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("proximity_gateway_requests_total", "Requests, by status."),
            &["tool", "persona", "status"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "proximity_gateway_errors_total",
                "Failed requests, by class.",
            ),
            &["tool", "persona", "class"],
        )?;
        let tokens = IntCounterVec::new(
            Opts::new(
                "proximity_gateway_tokens_total",
                "Tokens, input and output.",
            ),
            &["tool", "persona", "direction"],
        )?;
        let spend = CounterVec::new(
            Opts::new("proximity_gateway_spend_usd_total", "Spend in US dollars."),
            &["tool", "persona"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "proximity_gateway_latency_seconds",
                "Request latency, gateway and upstream.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
            &["tool", "persona"],
        )?;
        let overhead = HistogramVec::new(
            HistogramOpts::new(
                "proximity_gateway_overhead_seconds",
                "Gateway time: latency minus upstream time.",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
            ]),
            &["tool", "persona"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(tokens.clone()))?;
        registry.register(Box::new(spend.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        let usage_pending = IntGauge::new(
            "proximity_gateway_usage_pending",
            "Usage rows acknowledged and in the journal, not yet in the store.",
        )?;
        registry.register(Box::new(overhead.clone()))?;
        registry.register(Box::new(usage_pending.clone()))?;
        let live = LiveMetrics {
            checks: IntCounterVec::new(
                Opts::new(
                    "proximity_gateway_live_checks_total",
                    "Answers checked by their workflow's live checks, by verdict.",
                ),
                &["tool", "persona", "workflow", "verdict"],
            )?,
            skipped: IntCounterVec::new(
                Opts::new(
                    "proximity_gateway_live_checks_skipped_total",
                    "Answers drawn for a live check and not checked: the queue was full.",
                ),
                &["tool", "persona", "workflow"],
            )?,
        };
        registry.register(Box::new(live.checks.clone()))?;
        registry.register(Box::new(live.skipped.clone()))?;
        Ok(Self {
            live,
            usage_pending,
            registry,
            requests,
            errors,
            tokens,
            spend,
            latency,
            overhead,
        })
    }

    /// The registry, for counters kept by other modules ([`crate::capture`]).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The live-check counters, for the check queue and its worker.
    pub fn live(&self) -> LiveMetrics {
        self.live.clone()
    }

    /// Set the number of usage rows waiting in the journal.
    pub fn set_usage_pending(&self, n: usize) {
        self.usage_pending.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn observe(&self, o: &Observation<'_>) {
        let status = o.status.to_string();
        self.requests
            .with_label_values(&[o.tool, o.persona, status.as_str()])
            .inc();
        if let Some(class) = o.error_class {
            self.errors
                .with_label_values(&[o.tool, o.persona, class])
                .inc();
        }
        self.tokens
            .with_label_values(&[o.tool, o.persona, "input"])
            .inc_by(o.input_tokens);
        self.tokens
            .with_label_values(&[o.tool, o.persona, "output"])
            .inc_by(o.output_tokens);
        if o.cost_usd > 0.0 {
            self.spend
                .with_label_values(&[o.tool, o.persona])
                .inc_by(o.cost_usd);
        }
        self.latency
            .with_label_values(&[o.tool, o.persona])
            .observe(o.latency_secs);
        self.overhead
            .with_label_values(&[o.tool, o.persona])
            .observe(o.overhead_secs);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn observations_show_up_in_the_exposition() {
        let m = Metrics::new().unwrap();
        m.observe(&Observation {
            tool: "gpt",
            persona: "p",
            status: 502,
            error_class: Some("server"),
            input_tokens: 10,
            output_tokens: 2,
            cost_usd: 0.5,
            latency_secs: 0.2,
            overhead_secs: 0.0003,
        });
        let text = m.render();
        assert!(text.contains(
            r#"proximity_gateway_requests_total{persona="p",status="502",tool="gpt"} 1"#
        ));
        assert!(text.contains(
            r#"proximity_gateway_errors_total{class="server",persona="p",tool="gpt"} 1"#
        ));
        assert!(text.contains("proximity_gateway_overhead_seconds_bucket"));
        assert!(text.contains(r#"proximity_gateway_spend_usd_total{persona="p",tool="gpt"} 0.5"#));
    }
}
