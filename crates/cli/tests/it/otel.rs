//! End-to-end: trace export over OTLP/HTTP. A receiver in the test (axum on loopback,
//! `POST /v1/traces`, protobuf decoded with `opentelemetry-proto`) takes what the real
//! `proximity gateway` and `proximity eval` send with `--otlp-endpoint`, and the tests
//! check the spans' GenAI and Proximity attributes; a collector that accepts connections
//! and never answers slows neither requests nor an eval.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use prost::Message as _;
use serde_json::Value;

use crate::common;
use crate::gateway_support::*;

/// A span as received: its ids, name, attributes and its resource's attributes.
#[derive(Debug, Clone)]
struct Received {
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    name: String,
    attrs: HashMap<String, Value>,
    events: Vec<(String, HashMap<String, Value>)>,
    resource: HashMap<String, Value>,
}

impl Received {
    fn str(&self, key: &str) -> &str {
        self.attrs
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no string attribute {key} on {self:#?}"))
    }

    fn int(&self, key: &str) -> i64 {
        self.attrs
            .get(key)
            .and_then(Value::as_i64)
            .unwrap_or_else(|| panic!("no integer attribute {key} on {self:#?}"))
    }

    /// Every attribute and event value, as text.
    fn all_text(&self) -> String {
        let mut s = format!("{:?}", self.attrs);
        s.push_str(&format!("{:?}", self.events));
        s
    }
}

fn attributes(kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> HashMap<String, Value> {
    kvs.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Any::StringValue(s)) => Value::from(s.clone()),
                Some(Any::IntValue(i)) => Value::from(*i),
                Some(Any::DoubleValue(d)) => Value::from(*d),
                Some(Any::BoolValue(b)) => Value::from(*b),
                other => Value::from(format!("{other:?}")),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

#[derive(Default)]
struct Collected {
    spans: Mutex<Vec<Received>>,
    posts: Mutex<Vec<String>>,
}

async fn traces(
    State(c): State<Arc<Collected>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], Vec<u8>) {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    c.posts.lock().unwrap().push(content_type);
    let request = ExportTraceServiceRequest::decode(body).unwrap();
    let mut spans = c.spans.lock().unwrap();
    for rs in request.resource_spans {
        let resource = attributes(&rs.resource.map(|r| r.attributes).unwrap_or_default());
        for ss in rs.scope_spans {
            for s in ss.spans {
                spans.push(Received {
                    trace_id: s.trace_id,
                    span_id: s.span_id,
                    parent_span_id: s.parent_span_id,
                    name: s.name,
                    attrs: attributes(&s.attributes),
                    events: s
                        .events
                        .iter()
                        .map(|e| (e.name.clone(), attributes(&e.attributes)))
                        .collect(),
                    resource: resource.clone(),
                });
            }
        }
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        Vec::new(),
    )
}

/// The test's collector on 127.0.0.1:0.
struct Collector {
    base: String,
    got: Arc<Collected>,
}

impl Collector {
    async fn start() -> Self {
        let got = Arc::new(Collected::default());
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .with_state(got.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, got }
    }

    fn spans(&self) -> Vec<Received> {
        self.got.spans.lock().unwrap().clone()
    }

    /// Wait (10 s at most) until `n` spans named with `prefix` have arrived.
    async fn wait_for(&self, prefix: &str, n: usize) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let spans: Vec<_> = self
                .spans()
                .into_iter()
                .filter(|s| s.name.starts_with(prefix))
                .collect();
            if spans.len() >= n {
                return spans;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{} of {n} `{prefix}` spans after 10 s: {:#?}",
                spans.len(),
                self.spans()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// A collector that accepts connections and never answers.
async fn silent_collector() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    base
}

fn program(base: &str) -> String {
    format!(
        r#"version: 1
name: otel-e2e
tools:
  - id: gpt
    provider: openai
    model: primary-model
    base_url: {base}
    api_key_env: PROXIMITY_GW_TEST_KEY
    price: {{ input_per_mtok: 30, output_per_mtok: 60 }}
    params: {{ max_tokens: 20 }}
tiers:
  - id: a
    tools: [gpt]
personas:
  - id: pa
    headcount: 1
    tier: a
    workflows: [{{ id: triage, share: 1.0, floor: 0.5 }}]
"#
    )
}

/// Export often, so that spans arrive while the process runs.
const QUICK: [(&str, &str); 1] = [("OTEL_BSP_SCHEDULE_DELAY", "50")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_requests_arrive_as_genai_spans_without_content_or_keys() {
    let up = start_upstream().await;
    let collector = Collector::start().await;
    let setup = Setup::new(&program(&up.base_url()));
    let key = setup.key("pa", &[]);
    let gw = setup.start_gateway_with_env(&["--otlp-endpoint", &collector.base], &QUICK);
    let c = reqwest::Client::new();

    let prompt = "What is the capital of France? secret-prompt-text";
    let plain = post_chat(&c, &gw.url, &key, &user("gpt", prompt), Some("triage"))
        .await
        .unwrap();
    assert_eq!(plain.status, 200, "{}", plain.body);
    let streamed = post_chat(
        &c,
        &gw.url,
        &key,
        &user_stream("gpt", prompt),
        Some("triage"),
    )
    .await
    .unwrap();
    assert_eq!(streamed.status, 200, "{}", streamed.body);
    let refused = post_chat(&c, &gw.url, "prx-not-a-key", &user("gpt", prompt), None)
        .await
        .unwrap();
    assert_eq!(refused.status, 401, "{}", refused.body);

    let spans = collector.wait_for("chat", 3).await;
    gw.settled().await;
    let rows = usage_rows(&setup).await;
    for reply in [&plain, &streamed] {
        let id = reply.request_id();
        let span = spans
            .iter()
            .find(|s| s.attrs.get("proximity.request_id") == Some(&Value::from(id.clone())))
            .unwrap_or_else(|| panic!("no span of request {id}: {spans:#?}"));
        let row = rows.iter().find(|r| r.id == id).unwrap();
        assert_eq!(span.name, "chat gpt");
        assert_eq!(span.str("gen_ai.operation.name"), "chat");
        assert_eq!(span.str("gen_ai.provider.name"), "openai");
        assert_eq!(span.str("gen_ai.request.model"), "gpt");
        assert_eq!(span.str("gen_ai.response.model"), "primary-model");
        assert_eq!(
            span.int("gen_ai.usage.input_tokens"),
            row.input_tokens as i64
        );
        assert_eq!(
            span.int("gen_ai.usage.output_tokens"),
            row.output_tokens as i64
        );
        assert!(row.output_tokens > 0);
        assert_eq!(span.str("proximity.persona"), "pa");
        assert_eq!(span.str("proximity.tier"), "a");
        assert_eq!(span.str("proximity.workflow"), "triage");
        assert_eq!(span.str("proximity.tool"), "gpt");
        assert_eq!(
            Some(span.str("proximity.tool.fingerprint")),
            row.tool_fingerprint.as_deref()
        );
        assert!((span.attrs["proximity.cost_usd"].as_f64().unwrap() - row.cost_usd).abs() < 1e-12);
        assert_eq!(span.int("http.response.status_code"), 200);
        assert!(!span.attrs.contains_key("error.type"), "{span:#?}");
        assert_eq!(span.resource["service.name"], "proximity");
        // Neither the prompt, the answer nor the key: no `--log-content`.
        let text = span.all_text();
        assert!(!text.contains("secret-prompt-text"), "{text}");
        assert!(!text.contains("Paris"), "{text}");
        assert!(!text.contains(&key), "{text}");
        assert!(span.events.is_empty(), "{span:#?}");
    }
    assert_eq!(
        spans
            .iter()
            .filter(|s| s.attrs.get("proximity.stream") == Some(&Value::from(true)))
            .count(),
        1
    );
    let refused_span = spans
        .iter()
        .find(|s| s.attrs.get("http.response.status_code") == Some(&Value::from(401)))
        .unwrap();
    assert_eq!(
        refused_span.str("error.type"),
        refused.json()["error"]["code"]
    );
    assert!(!refused_span.all_text().contains("prx-not-a-key"));
    assert!(collector
        .got
        .posts
        .lock()
        .unwrap()
        .iter()
        .all(|t| t == "application/x-protobuf"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_content_puts_the_prompt_and_answer_on_the_span_as_events() {
    let up = start_upstream().await;
    let collector = Collector::start().await;
    let setup = Setup::new(&program(&up.base_url()));
    let key = setup.key("pa", &[]);
    let gw = setup.start_gateway_with_env(
        &["--otlp-endpoint", &collector.base, "--log-content"],
        &QUICK,
    );
    let c = reqwest::Client::new();
    let prompt = "What is the capital of France? secret-prompt-text";
    let r = post_chat(&c, &gw.url, &key, &user("gpt", prompt), None)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let spans = collector.wait_for("chat", 1).await;
    let text = spans[0].all_text();
    assert!(text.contains("secret-prompt-text"), "{spans:#?}");
    assert!(text.contains("Paris"), "{spans:#?}");
    assert!(!text.contains(&key), "{text}");
    assert_eq!(spans[0].events.len(), 2, "{spans:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_never_answers_slows_no_request() {
    let up = start_upstream().await;
    let dead = silent_collector().await;
    let setup = Setup::new(&program(&up.base_url()));
    let key = setup.key("pa", &[]);
    // Export every 10 ms into a queue of 4: exports hang (30 s each) and the queue fills.
    let gw = setup.start_gateway_with_env(
        &["--otlp-endpoint", &dead],
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "10"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "4"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000"),
        ],
    );
    let c = reqwest::Client::new();
    for i in 0..12 {
        let started = Instant::now();
        let r = post_chat(&c, &gw.url, &key, &user("gpt", &format!("hello {i}")), None)
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        // A request that waited for an export would take its 30 s; a loaded test machine
        // takes well under 10.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "request {i}: {:?}",
            started.elapsed()
        );
    }
}

const EVAL_PROGRAM: &str = r#"version: 1
name: otel-eval
tools:
  - id: bot
    provider: scripted
    params:
      rules:
        - when: capital of france
          reply: Paris
      default_reply: "I don't know."
tiers:
  - id: basic
    tools: [bot]
personas:
  - id: clerk
    headcount: 2
    tier: basic
    workflows:
      - { id: lookup, share: 1.0, floor: 0.5 }
"#;

const EVAL_SUITE: &str = r#"persona: clerk
workflow: lookup
cases:
  - id: capital
    prompt: Remind me, capital of France?
    assert:
      correct: [{ contains: Paris }]
  - id: refund
    prompt: How long is the refund window?
    assert:
      correct: [{ contains: "30" }]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eval_is_one_trace_with_a_span_per_item_and_its_verdict() {
    let collector = Collector::start().await;
    let p = common::TempProgram::new(EVAL_PROGRAM, &[("s.yaml", EVAL_SUITE)]);
    let base = collector.base.clone();
    let path = p.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        common::run(common::proximity(&path).args(["eval", "--otlp-endpoint", &base]))
    })
    .await
    .unwrap();
    assert_ne!(out.status.code(), Some(2), "{}", common::stderr(&out));
    // Flushed before the process exits.
    let spans = collector.spans();
    let root = spans
        .iter()
        .find(|s| s.name == "proximity eval")
        .unwrap_or_else(|| panic!("no eval span: {spans:#?}"));
    let items: Vec<_> = spans.iter().filter(|s| s.name == "chat bot").collect();
    assert_eq!(items.len(), 2, "{spans:#?}");
    let report = common::report_json(p.path());
    let run_id = report["run_id"].as_str().unwrap().to_owned();
    for item in &items {
        assert_eq!(item.trace_id, root.trace_id);
        assert_eq!(item.parent_span_id, root.span_id);
        assert_eq!(item.str("gen_ai.operation.name"), "chat");
        assert_eq!(item.str("gen_ai.provider.name"), "scripted");
        assert_eq!(item.str("gen_ai.request.model"), "bot");
        assert_eq!(item.str("proximity.persona"), "clerk");
        assert_eq!(item.str("proximity.workflow"), "lookup");
        assert_eq!(item.str("proximity.tool"), "bot");
        assert_eq!(item.str("proximity.run_id"), run_id);
        assert!(!item.str("proximity.tool.fingerprint").is_empty());
        assert!(item.int("gen_ai.usage.output_tokens") > 0);
        assert!(!item.all_text().contains("refund window"), "{item:#?}");
        assert!(!item.all_text().contains("Paris"), "{item:#?}");
    }
    let verdict = |case: &str| {
        items
            .iter()
            .find(|s| s.str("proximity.case") == case)
            .unwrap()
            .str("proximity.verdict")
            .to_owned()
    };
    assert_eq!(verdict("capital"), "pass");
    assert_ne!(verdict("refund"), "pass");
    assert!(!root.span_id.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eval_with_a_collector_that_never_answers_finishes_as_without_one() {
    let dead = silent_collector().await;
    let timed = |args: Vec<String>| {
        let p = common::TempProgram::new(EVAL_PROGRAM, &[("s.yaml", EVAL_SUITE)]);
        let started = Instant::now();
        let out = common::run(common::proximity(p.path()).args(args));
        let took = started.elapsed();
        let report = common::report_json(p.path());
        (out, took, report)
    };
    let (without, without_took, plain) =
        tokio::task::spawn_blocking(move || timed(vec!["eval".into()]))
            .await
            .unwrap();
    let (with, took, exported) = tokio::task::spawn_blocking(move || {
        timed(vec!["eval".into(), "--otlp-endpoint".into(), dead])
    })
    .await
    .unwrap();
    assert_eq!(
        with.status.code(),
        without.status.code(),
        "{}",
        common::stderr(&with)
    );
    assert_eq!(exported["completed"], 2);
    assert_eq!(
        exported["scorecard"][0]["verdicts"],
        plain["scorecard"][0]["verdicts"]
    );
    // The run is not held up; only the flush at exit waits, 5 s at most.
    assert!(
        took < without_took + Duration::from_secs(8),
        "{took:?} against {without_took:?}"
    );
}

/// `proximity serve` until dropped (SIGKILL).
struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_requests_arrive_as_server_spans_with_their_route() {
    use std::io::{BufRead as _, BufReader};
    let collector = Collector::start().await;
    let p = common::TempProgram::new(EVAL_PROGRAM, &[("s.yaml", EVAL_SUITE)]);
    let path = p.path().to_owned();
    let out =
        tokio::task::spawn_blocking(move || common::run(common::proximity(&path).arg("eval")))
            .await
            .unwrap();
    assert_ne!(out.status.code(), Some(2), "{}", common::stderr(&out));
    let mut child = common::proximity(p.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--otlp-endpoint",
            &collector.base,
        ])
        .envs(QUICK)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _serve = Serve(child);
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let base = line
        .trim()
        .strip_prefix("dashboard on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .trim_end_matches('/')
        .to_owned();
    let page = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(page.status(), 200);
    let spans = collector.wait_for("GET", 1).await;
    let span = &spans[0];
    assert_eq!(span.name, "GET /");
    assert_eq!(span.str("http.request.method"), "GET");
    assert_eq!(span.str("http.route"), "/");
    assert_eq!(span.str("url.path"), "/");
    assert_eq!(span.int("http.response.status_code"), 200);
}
