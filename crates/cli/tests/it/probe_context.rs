//! End-to-end: `proximity probe context` against a real OpenAI-compatible server whose
//! recall falls off past a known number of tokens (the knee found with `--refine` must be
//! within 10% of it), the default probe against a server that sees only the last N tokens
//! of its prompt (the echo-tail pattern: knees at 10%, 30% and 70% of the window, each
//! found within 10% in a bounded number of requests, which the grid alone misses), the
//! token budget (refused before anything is sent; stopped cleanly
//! when real usage reaches it), `proximity report` on a probe run, and a small grid on the
//! real local model.
//!
//! The local-model test needs the model (`proximity models pull`): without it, it prints a
//! note and passes, unless `PROXIMITY_REQUIRE_MODEL=1` (as in CI).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::common::*;

/// The server answers with the planted number only while the prompt is shorter than this
/// many tokens (o200k_base, as the probe counts for `gpt-4o-mini`).
const KNEE: usize = 6000;

struct Recall {
    /// Prompts answered while shorter than this many tokens, or (with `tail`) the
    /// tokens at the end of the prompt the server sees.
    knee: usize,
    /// Echo-tail: the server sees only the last `knee` tokens of the prompt, and answers
    /// with the planted number when it is among them.
    tail: bool,
    calls: AtomicU64,
    /// Every prompt received (all messages joined).
    prompts: std::sync::Mutex<Vec<String>>,
    /// Report this many prompt tokens instead of the real count (to trip a budget).
    inflate: AtomicBool,
}

/// The five-digit number of `... is 12345.` in the prompt.
fn planted(text: &str) -> Option<String> {
    text.match_indices(" is ").find_map(|(i, _)| {
        let rest = &text[i + 4..];
        let digits: String = rest.chars().take(5).collect();
        (digits.len() == 5
            && digits.chars().all(|c| c.is_ascii_digit())
            && rest[5..].starts_with('.'))
        .then_some(digits)
    })
}

async fn completions(State(s): State<Arc<Recall>>, Json(body): Json<Value>) -> Json<Value> {
    s.calls.fetch_add(1, Ordering::SeqCst);
    let text: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    let text = text.join("\n");
    s.prompts.lock().unwrap().push(text.clone());
    let (_, bpe) = proximity_providers::tokens::tiktoken_for_model("gpt-4o-mini").unwrap();
    let encoded = bpe.encode_ordinary(&text);
    let tokens = encoded.len();
    let seen = if s.tail {
        // The last `knee` tokens, less one or two where the cut splits a character.
        let cut = tokens.saturating_sub(s.knee);
        (cut..cut + 4)
            .find_map(|from| bpe.decode(&encoded[from.min(tokens)..]).ok())
            .and_then(|tail| planted(&tail))
    } else {
        planted(&text).filter(|_| tokens < s.knee)
    };
    let answer = seen.unwrap_or_else(|| "I could not find that in the document.".to_owned());
    let prompt_tokens = if s.inflate.load(Ordering::SeqCst) {
        1_000_000
    } else {
        tokens
    };
    Json(json!({
        "id": "chatcmpl-probe",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 8, "total_tokens": prompt_tokens + 8}
    }))
}

struct RecallServer {
    addr: SocketAddr,
    state: Arc<Recall>,
    _rt: tokio::runtime::Runtime,
}

fn start_recall_server(inflate: bool) -> RecallServer {
    start_server(KNEE, false, inflate)
}

fn start_server(knee: usize, tail: bool, inflate: bool) -> RecallServer {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let state = Arc::new(Recall {
        knee,
        tail,
        calls: AtomicU64::new(0),
        prompts: std::sync::Mutex::new(Vec::new()),
        inflate: AtomicBool::new(inflate),
    });
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(state.clone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    RecallServer {
        addr,
        state,
        _rt: rt,
    }
}

const SUITE: &str = r#"persona: p
workflow: w
cases:
  - id: hello
    prompt: Say hello.
    assert:
      correct: [{ contains: hello }]
"#;

fn openai_probe_program(addr: SocketAddr) -> TempProgram {
    let program = format!(
        r#"version: 1
name: probe-e2e
tools:
  - id: gpt
    provider: openai
    model: gpt-4o-mini
    base_url: http://{addr}/v1
    api_key_env: PROXIMITY_TEST_KEY
    context_window: 16000
    price: {{ input_per_mtok: 0.15, output_per_mtok: 0.6 }}
    params:
      max_tokens: 16
      temperature: 0
tiers:
  - id: t
    tools: [gpt]
personas:
  - id: p
    headcount: 3
    tier: t
    workflows:
      - {{ id: w, share: 1.0, floor: 0.5 }}
"#
    );
    TempProgram::new(&program, &[("s.yaml", SUITE)])
}

fn probe(program: &TempProgram) -> std::process::Command {
    let mut c = proximity(program.path());
    c.env("PROXIMITY_TEST_KEY", "test-key");
    c.args(["probe", "context", "--tool", "gpt"]);
    c
}

fn points(report: &Value) -> &Vec<Value> {
    report["points"].as_array().unwrap()
}

#[test]
fn refine_finds_the_knee_of_a_server_whose_recall_falls_off() {
    let server = start_recall_server(false);
    let p = openai_probe_program(server.addr);
    let out = run(probe(&p).args(["--refine", "--samples", "2", "--format", "json", "-q"]));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["tool"], "gpt");
    assert_eq!(report["counting"], "tiktoken o200k_base");

    let pts = points(&report);
    for p in pts {
        for key in [
            "fill", "tokens", "depth", "accuracy", "ci_low", "ci_high", "n",
        ] {
            assert!(p.get(key).is_some(), "point without `{key}`: {p}");
        }
        assert_eq!(p["n"], 2);
        assert!(p["ci_low"].as_f64().unwrap() <= p["accuracy"].as_f64().unwrap());
    }
    // The grid (5 fills × 3 depths) plus at least one refinement fill (`--refine` is the
    // default, and still accepted).
    let fills: std::collections::BTreeSet<u64> = pts
        .iter()
        .map(|p| (p["fill"].as_f64().unwrap() * 100.0).round() as u64)
        .collect();
    assert!(
        fills.is_superset(&[0, 2500, 5000, 7500, 9000].into()),
        "{fills:?}"
    );
    assert!(fills.len() > 5, "refinement added no fill: {fills:?}");
    // The empty context is always answered; the 90% one never is.
    let at = |fill: u64| {
        report["fills"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["fill"] == fill)
            .unwrap()["accuracy"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(at(0), 1.0);
    assert_eq!(at(90), 0.0);

    let effective = report["effective_context_tokens"].as_u64().unwrap();
    let knee = KNEE as f64;
    assert!(
        (effective as f64 - knee).abs() <= 0.1 * knee,
        "effective context {effective} is not within 10% of the knee {KNEE}"
    );
    // Every answered prompt was under the knee, so the context alone is too.
    assert!(effective < KNEE as u64);
    // The report states the bracket the knee lies in.
    let above = report["first_below_tokens"].as_u64().unwrap();
    assert!(above > effective && above as f64 <= effective as f64 * 1.05 + 16.0);

    // Results are stored like any run, and `report` shows the curve.
    let run_id = report["run_id"].as_str().unwrap().to_owned();
    let again = run(proximity(p.path()).args(["report", &run_id, "--format", "json"]));
    assert!(again.status.success(), "{}", stderr(&again));
    let stored: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(stored["effective_context_tokens"], effective);
    assert_eq!(stored["points"], report["points"]);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (stored_run, results) = rt.block_on(async {
        let store = proximity_store::Store::connect(&proximity_store::default_url(p.path()))
            .await
            .unwrap();
        let run = store.run(&run_id).await.unwrap();
        let results = store.results(&run_id).await.unwrap();
        (run, results)
    });
    assert_eq!(stored_run.config["probe"]["kind"], "context");
    assert_eq!(stored_run.config["probe"]["window"], 16000);
    assert_eq!(
        results.len() as u64,
        server.state.calls.load(Ordering::SeqCst)
    );
    assert!(results
        .iter()
        .all(|r| r.persona == "probe" && r.workflow == "context-fill"));
    assert!(results.iter().all(|r| r.case_id.starts_with("ctx-f")));

    // The table a person reads.
    let table = run(proximity(p.path()).args(["report", &run_id]));
    let text = stdout(&table).replace(&run_id, "[RUN]");
    insta::assert_snapshot!("probe_context_table", text);
}

/// Window of the programs the servers above are probed through.
const WINDOW: usize = 16000;

/// The default probe (4 samples, 3 depths, fills 0, 25, 50, 75, 90: 60 requests, and
/// refinement) against a server that sees only the last `knee_percent`% of the window.
fn default_probe_finds_a_tail_knee(knee_percent: usize) {
    let knee = WINDOW * knee_percent / 100;
    let server = start_server(knee, true, false);
    let p = openai_probe_program(server.addr);
    let out = run(probe(&p).args(["--format", "json"]));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();

    // The bound is stated before the probe starts, and kept: the grid's 60 requests and
    // at most 8 refinement steps of 12 (the widest bracket, fill 0 to 25%, narrowed to
    // 16 tokens).
    assert!(
        err.contains("60 requests + at most 8 refinement steps of 12 requests"),
        "{err}"
    );
    let calls = server.state.calls.load(Ordering::SeqCst);
    assert!(calls <= 60 + 8 * 12, "{calls} requests");
    assert!(calls > 60, "no refinement: {calls} requests");
    assert!(err.contains("refine: step 1 of at most 8"), "{err}");

    let effective = report["effective_context_tokens"].as_u64().unwrap();
    assert!(
        (effective as f64 - knee as f64).abs() <= 0.1 * knee as f64,
        "knee {knee} ({knee_percent}% of the window): effective context {effective}, {calls} requests"
    );
    let above = report["first_below_tokens"].as_u64().unwrap();
    assert!(above > effective, "{report}");
    eprintln!("knee {knee}: effective context {effective} (next fill {above}), {calls} requests");

    // The grid alone (answers from the cache) misses the knee by more than 10%.
    let grid = run(probe(&p).args(["--no-refine", "--format", "json", "-q"]));
    assert!(grid.status.success(), "stderr: {}", stderr(&grid));
    let grid: Value = serde_json::from_slice(&grid.stdout).unwrap();
    assert_eq!(grid["fills"].as_array().unwrap().len(), 5, "{grid}");
    let coarse = grid["effective_context_tokens"].as_u64().unwrap();
    assert!(
        (coarse as f64) < 0.9 * knee as f64,
        "the grid alone found {coarse} for a knee of {knee}"
    );
    assert_eq!(server.state.calls.load(Ordering::SeqCst), calls);
}

#[test]
fn the_default_probe_finds_a_tail_knee_at_10_percent_of_the_window() {
    default_probe_finds_a_tail_knee(10);
}

#[test]
fn the_default_probe_finds_a_tail_knee_at_30_percent_of_the_window() {
    default_probe_finds_a_tail_knee(30);
}

#[test]
fn the_default_probe_finds_a_tail_knee_at_70_percent_of_the_window() {
    default_probe_finds_a_tail_knee(70);
}

#[test]
fn a_probe_over_its_token_budget_is_refused_before_anything_is_sent() {
    let server = start_recall_server(false);
    let p = openai_probe_program(server.addr);
    let out = run(probe(&p).args(["--fills", "0,50", "--max-tokens-budget", "5000"]));
    assert_eq!(out.status.code(), Some(2), "stdout: {}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("would send about"), "{err}");
    assert!(err.contains("--max-tokens-budget 5000"), "{err}");
    // The estimate is stated: 3 depths × 4 samples at 50% of ~16k plus the baselines.
    let estimate: u64 = err
        .split("about ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(estimate > 12 * 7900, "estimate {estimate}");
    assert!(err.contains("`--no-refine`"), "{err}");
    // Without refinement its allowance is dropped: the grid's 24 requests alone.
    let grid = run(probe(&p).args([
        "--fills",
        "0,50",
        "--max-tokens-budget",
        "5000",
        "--no-refine",
    ]));
    assert_eq!(grid.status.code(), Some(2));
    let grid_estimate: u64 = stderr(&grid)
        .split("about ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(
        grid_estimate > 12 * 7900 && grid_estimate < estimate,
        "{grid_estimate} (refining: {estimate})"
    );
    assert_eq!(server.state.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn a_probe_stops_cleanly_when_real_usage_reaches_the_budget() {
    // The server claims a million prompt tokens per answer: the first answer spends the
    // whole budget, so the probe stops after the requests in flight.
    let server = start_recall_server(true);
    let p = openai_probe_program(server.addr);
    let out = run(probe(&p).args([
        "--fills",
        "0,25",
        "--samples",
        "2",
        "--concurrency",
        "1",
        "--max-tokens-budget",
        "500000",
        "--format",
        "json",
    ]));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("token budget of 500000 reached"), "{err}");
    assert!(!err.contains("eval --resume"), "{err}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "budget_exhausted");
    assert_eq!(server.state.calls.load(Ordering::SeqCst), 1);
    let n: u64 = points(&report)
        .iter()
        .map(|p| p["n"].as_u64().unwrap())
        .sum();
    assert_eq!(n, 1);
}

#[test]
fn the_personas_documents_fill_the_context_when_the_program_has_them() {
    let server = start_recall_server(false);
    let p = openai_probe_program(server.addr);
    let handbook: String = (1..=60)
        .map(|i| {
            format!(
                "Dock rule {i}: pallets wait in lane {} until the forklift crew signs them off. ",
                i % 7
            )
        })
        .collect();
    fs_err::create_dir_all(p.path().join("documents")).unwrap();
    fs_err::write(p.path().join("documents/handbook.md"), &handbook).unwrap();
    let suite = r#"persona: p
workflow: w
cases:
  - id: dock
    prompt: Which lane do pallets wait in?
    documents: [documents/handbook.md]
    assert:
      correct: [{ contains: lane }]
"#;
    fs_err::write(p.path().join("suites/s.yaml"), suite).unwrap();
    let out = run(probe(&p).args([
        "--fills",
        "0,25",
        "--depths",
        "middle",
        "--samples",
        "1",
        "--format",
        "json",
        "-q",
    ]));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["filler"], "documents: documents/handbook.md");
    let prompts = server.state.prompts.lock().unwrap();
    assert_eq!(prompts.len(), 2);
    assert!(prompts.iter().any(|t| t.contains("forklift crew")));
    assert!(prompts
        .iter()
        .all(|t| !t.contains("The river leaves the hills")));
}

fn model_available() -> bool {
    let found =
        proximity_local::models::resolve_model_path(None, std::path::Path::new(".")).is_ok();
    if !found {
        assert!(
            std::env::var("PROXIMITY_REQUIRE_MODEL").as_deref() != Ok("1"),
            "PROXIMITY_REQUIRE_MODEL=1 but the local model is missing: run `proximity models pull`"
        );
        eprintln!("skipping: the local model is not installed (run `proximity models pull`)");
    }
    found
}

const LOCAL_PROGRAM: &str = r#"version: 1
name: probe-local
tools:
  - id: local-small
    provider: local
    context_window: 1024
    params: { temperature: 0, max_tokens: 32 }
tiers:
  - id: t
    tools: [local-small]
personas:
  - id: p
    headcount: 1
    tier: t
    workflows:
      - { id: w, share: 1.0, floor: 0.5 }
"#;

#[test]
fn real_model_context_probe_on_a_small_window() {
    if !model_available() {
        return;
    }
    let p = TempProgram::new(LOCAL_PROGRAM, &[("s.yaml", SUITE)]);
    let out = run(proximity(p.path()).args([
        "probe",
        "context",
        "--fills",
        "0,50",
        "--depths",
        "middle",
        "--samples",
        "2",
        "--concurrency",
        "1",
        // The grid only: refinement would add up to 12 requests to the model per step.
        "--no-refine",
        "--format",
        "json",
        "-q",
    ]));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["tool"], "local-small");
    assert_eq!(report["window"], 1024);
    assert_eq!(report["counting"], "local model tokenizer");
    let pts = points(&report);
    assert_eq!(pts.len(), 2, "{report}");
    assert!(pts.iter().all(|p| p["depth"] == "middle" && p["n"] == 2));
    let half = pts[1]["tokens"].as_u64().unwrap();
    assert!(
        half > 300 && half < 512,
        "fill 50 of ~900 usable tokens: {half}"
    );
    assert!(report.get("effective_context_tokens").is_some());
    if let Some(e) = report["effective_context_tokens"].as_u64() {
        assert!(e == 0 || e == half, "{e}");
    }

    // The model really read filled contexts: the prompts at fill 50 are longer by about
    // the fill, and every prompt fits the 1,024-token window with room for the answer.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let results = rt.block_on(async {
        let store = proximity_store::Store::connect(&proximity_store::default_url(p.path()))
            .await
            .unwrap();
        let run = store.latest_run().await.unwrap().unwrap();
        store.results(&run.id).await.unwrap()
    });
    assert_eq!(results.len(), 4);
    for r in &results {
        assert!(
            r.error_class.is_none(),
            "{}: {:?}",
            r.case_id,
            r.error_message
        );
        assert!(
            r.input_tokens + 32 <= 1024,
            "{}: {}",
            r.case_id,
            r.input_tokens
        );
    }
    let empty = results
        .iter()
        .find(|r| r.case_id.starts_with("ctx-f0-"))
        .unwrap();
    let full = results
        .iter()
        .find(|r| r.case_id.starts_with("ctx-f50-"))
        .unwrap();
    let grown = full.input_tokens - empty.input_tokens;
    assert!(
        grown + 40 >= half && grown <= half + 40,
        "prompt grew by {grown} tokens for a fill of {half}"
    );
}
