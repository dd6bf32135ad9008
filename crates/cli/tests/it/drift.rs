//! End-to-end tests of `proximity baseline` and `proximity drift`: the real binary against
//! a local OpenAI-compatible server (axum, 127.0.0.1:0) whose behaviour the test switches:
//! unchanged (right with probability 0.95 per request, seeded: sampling noise), a quality
//! drop on 15% of the cases, another reported model version with identical answers, and a
//! capability newly enabled in the program.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::common::{proximity, run, stderr, stdout, TempProgram};

/// Cases in the test program: two workflows of 30.
const CASES: u32 = 60;
/// Samples per case in every run (aggregated per case by majority).
const SAMPLES: &str = "3";
/// Probability (per mille) that one request is answered right when nothing changed, in the
/// tests that look for drift; the sampling-noise test uses a noisier [`NOISY`].
const P_RIGHT: u32 = 950;
const NOISY: u32 = 800;

const DROP: u8 = 1;
const NEW_VERSION: u8 = 2;

#[derive(Default)]
struct Fake {
    mode: AtomicU8,
    /// Per mille of requests answered right.
    p_right: AtomicU32,
    /// Requests seen per prompt: the k-th answer to a prompt is drawn from (seed, prompt, k)
    /// so the test is deterministic whatever order the requests come in.
    seen: Mutex<HashMap<String, u64>>,
    /// Bodies posted to the webhook, with their query string.
    hooks: Mutex<Vec<(Option<String>, Value)>>,
}

/// A case is in the dropped 15% when its number is 0, 1 or 2 modulo 20.
fn dropped(case: u32) -> bool {
    case % 20 < 3
}

/// SplitMix64: a fixed, seeded draw in 0..1.
fn draw(seed: u64) -> f64 {
    let mut x = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn case_number(prompt: &str) -> Option<u32> {
    prompt
        .split("item ")
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

async fn completions(State(s): State<Arc<Fake>>, Json(body): Json<Value>) -> Json<Value> {
    let prompt = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_owned();
    let k = {
        let mut seen = s.seen.lock().unwrap();
        let k = seen.entry(prompt.clone()).or_insert(0);
        *k += 1;
        *k
    };
    let n = case_number(&prompt).unwrap_or(0);
    let mode = s.mode.load(Ordering::SeqCst);
    let right = if mode == DROP && dropped(n) {
        false
    } else {
        draw(0x5eed ^ (u64::from(n) << 20) ^ k) * 1000.0
            < f64::from(s.p_right.load(Ordering::SeqCst))
    };
    let text = if right {
        format!("The code word is kiwi-{n}.")
    } else {
        "I believe the code word is mango.".to_owned()
    };
    let model = if mode == NEW_VERSION {
        "fake-model-2026-06"
    } else {
        "fake-model-2026-01"
    };
    Json(json!({
        "id": "chatcmpl-drift",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 8, "total_tokens": 48}
    }))
}

async fn hook(
    State(s): State<Arc<Fake>>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
    Json(body): Json<Value>,
) -> &'static str {
    s.hooks.lock().unwrap().push((q, body));
    "ok"
}

struct Server {
    addr: SocketAddr,
    fake: Arc<Fake>,
    _rt: tokio::runtime::Runtime,
}

fn start() -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fake = Arc::new(Fake::default());
    fake.p_right.store(P_RIGHT, Ordering::SeqCst);
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .route("/hook", post(hook))
        .with_state(fake.clone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server {
        addr,
        fake,
        _rt: rt,
    }
}

fn program_yaml(addr: SocketAddr, capabilities: &str) -> String {
    format!(
        r#"version: 1
name: drift-e2e
tools:
  - id: gpt
    provider: openai
    model: fake-model
    base_url: http://{addr}/v1
    api_key_env: PROXIMITY_TEST_KEY
    capabilities: {capabilities}
    price: {{ input_per_mtok: 1, output_per_mtok: 2 }}
    params:
      temperature: 0.7
      max_tokens: 20
tiers:
  - id: t
    tools: [gpt]
personas:
  - id: p
    headcount: 3
    tier: t
    workflows:
      - {{ id: lookup, share: 0.5, floor: 0.5 }}
      - {{ id: recall, share: 0.5, floor: 0.5 }}
"#
    )
}

fn program(addr: SocketAddr) -> TempProgram {
    let mut suites = Vec::new();
    for (workflow, range) in [("lookup", 0..CASES / 2), ("recall", CASES / 2..CASES)] {
        let mut s = format!("persona: p\nworkflow: {workflow}\ncases:\n");
        for n in range {
            s.push_str(&format!(
                "  - id: c{n:02}\n    prompt: \"What is the code word of item {n}?\"\n    assert:\n      correct:\n        - contains: kiwi-{n}\n"
            ));
        }
        suites.push((format!("{workflow}.yaml"), s));
    }
    let refs: Vec<(&str, &str)> = suites
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_str()))
        .collect();
    TempProgram::new(&program_yaml(addr, "[chat]"), &refs)
}

fn latest_run(dir: &Path) -> String {
    let out = run(proximity(dir).args(["report", "--format", "json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["run_id"].as_str().unwrap().to_owned()
}

/// Evaluate the program and accept the run as baseline `name`.
fn baseline(dir: &Path, name: &str) -> String {
    let out = run(proximity(dir).args(["-q", "eval", "--samples", SAMPLES]));
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "eval: {}",
        stderr(&out)
    );
    let run_id = latest_run(dir);
    let out = run(proximity(dir).args([
        "baseline", "accept", &run_id, "--name", name, "--by", "tester", "--note", "e2e",
    ]));
    assert!(out.status.success(), "accept: {}", stderr(&out));
    run_id
}

fn drift_json(dir: &Path, extra: &[&str]) -> (i32, Value) {
    let out = run(proximity(dir)
        .args(["-q", "drift", "--samples", SAMPLES, "--format", "json"])
        .args(extra));
    let code = out.status.code().unwrap();
    assert!(
        code == 0 || code == 1,
        "drift failed ({code}): {}",
        stderr(&out)
    );
    (code, serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn unchanged_tool_with_sampling_noise_is_not_drift_across_20_reruns() {
    let server = start();
    server.fake.p_right.store(NOISY, Ordering::SeqCst);
    let p = program(server.addr);
    baseline(p.path(), "v1");
    let mut alarms = 0;
    let mut flips = 0;
    for _ in 0..20 {
        let (code, report) = drift_json(p.path(), &[]);
        let tool = &report["tools"][0];
        assert_eq!(tool["paired_cases"], CASES);
        assert_eq!(tool["fingerprint"]["config_changed"], false);
        assert_eq!(tool["fingerprint"]["vendor_update"], false);
        flips += tool["flips"].as_array().unwrap().len();
        if code == 1 {
            alarms += 1;
        }
    }
    // The documented family-wise false-alarm rate is at most 5% per tool (about 2.3% for
    // this setting by simulation, docs/drift.md): at most 1 in 20 expected; 2 allows for
    // chance.
    assert!(alarms <= 2, "{alarms} false alarms in 20 reruns");
    eprintln!("{alarms} false alarms, {flips} case flips in 20 reruns");
    // The noise is real: some cases do flip between runs, yet that is not drift.
    assert!(flips > 0, "the fake server should add sampling noise");
}

#[test]
fn quality_drop_on_15_percent_of_cases_is_drift_with_the_flips_listed() {
    let server = start();
    let p = program(server.addr);
    baseline(p.path(), "before-drop");
    server.fake.mode.store(DROP, Ordering::SeqCst);
    let hook = format!(
        "http://alerts:hunter2@{}/hook?token=s3cr3t-token",
        server.addr
    );
    let out = run(proximity(p.path()).args([
        "-q",
        "drift",
        "--samples",
        SAMPLES,
        "--format",
        "json",
        "--notify",
        &hook,
    ]));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        stderr(&out),
        stdout(&out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tool = &report["tools"][0];
    assert_eq!(report["drift"], true);
    assert_eq!(tool["quality_drift"], true);
    assert_eq!(tool["fingerprint"]["vendor_update"], false);
    assert_eq!(tool["fingerprint"]["config_changed"], false);
    assert!(tool["overall"]["difference"].as_f64().unwrap() < -0.1);
    assert!(tool["overall"]["interval"]["high"].as_f64().unwrap() < 0.0);
    let flipped: Vec<&str> = tool["flips"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["direction"] == "pass_to_fail")
        .map(|f| f["case"].as_str().unwrap())
        .collect();
    let dropped_ids: Vec<String> = (0..CASES)
        .filter(|n| dropped(*n))
        .map(|n| format!("c{n:02}"))
        .collect();
    assert!(flipped.len() >= 8, "{flipped:?}");
    for id in &flipped {
        assert!(
            dropped_ids.iter().any(|d| d == id),
            "{id} flipped but was not dropped"
        );
    }
    let flip = &tool["flips"][0];
    assert!(flip["before"]["output"].as_str().unwrap().contains("kiwi"));
    assert!(flip["after"]["output"].as_str().unwrap().contains("mango"));
    assert_eq!(tool["findings"][0]["kind"], "quality");

    // The webhook got the summary; the credentials and the query never reach the logs.
    let hooks = server.fake.hooks.lock().unwrap();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].0.as_deref(), Some("token=s3cr3t-token"));
    assert_eq!(hooks[0].1["event"], "proximity.drift");
    assert_eq!(hooks[0].1["tools"][0]["quality_drift"], true);
    let err = stderr(&out);
    assert!(!err.contains("hunter2") && !err.contains("s3cr3t"), "{err}");

    // The table names the flipped cases with both outputs.
    let out = run(proximity(p.path()).args(["-q", "drift", "--samples", SAMPLES]));
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("flipped cases:") && text.contains("pass to fail"),
        "{text}"
    );
    assert!(
        text.contains("before (") && text.contains("after  ("),
        "{text}"
    );
}

#[test]
fn another_reported_model_version_is_a_silent_vendor_update_not_quality_drift() {
    let server = start();
    let p = program(server.addr);
    baseline(p.path(), "v1");
    // The program's `notify:` key is the webhook when `--notify` is not given.
    let yaml = fs_err::read_to_string(p.path().join("proximity.yaml")).unwrap();
    fs_err::write(
        p.path().join("proximity.yaml"),
        format!("{yaml}notify: http://{}/hook\n", server.addr),
    )
    .unwrap();
    server.fake.mode.store(NEW_VERSION, Ordering::SeqCst);
    let (code, report) = drift_json(p.path(), &[]);
    assert_eq!(code, 1);
    let tool = &report["tools"][0];
    assert_eq!(tool["fingerprint"]["vendor_update"], true);
    assert_eq!(tool["fingerprint"]["config_changed"], false);
    assert_eq!(tool["quality_drift"], false);
    assert_eq!(
        tool["fingerprint"]["before_model_versions"],
        json!(["fake-model-2026-01"])
    );
    assert_eq!(
        tool["fingerprint"]["after_model_versions"],
        json!(["fake-model-2026-06"])
    );
    let kinds: Vec<&str> = tool["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["vendor_update"]);
    {
        let hooks = server.fake.hooks.lock().unwrap();
        assert_eq!(hooks.len(), 1, "the program's notify: URL was posted to");
        assert_eq!(hooks[0].1["tools"][0]["vendor_update"], true);
    }

    // `--run` compares with a stored run instead of re-running: the same finding.
    let out = run(proximity(p.path()).args(["-q", "eval", "--no-cache", "--samples", SAMPLES]));
    assert!(out.status.code().is_some_and(|c| c <= 1));
    let run_id = latest_run(p.path());
    let (code, report) = drift_json(p.path(), &["--run", &run_id]);
    assert_eq!(code, 1);
    assert_eq!(report["runs"], json!([run_id]));
    assert_eq!(report["tools"][0]["fingerprint"]["vendor_update"], true);
}

#[test]
fn newly_enabled_capability_is_a_configuration_change() {
    let server = start();
    let p = program(server.addr);
    baseline(p.path(), "v1");
    fs_err::write(
        p.path().join("proximity.yaml"),
        program_yaml(server.addr, "[chat, tools]"),
    )
    .unwrap();
    let (code, report) = drift_json(p.path(), &[]);
    assert_eq!(code, 1);
    let fp = &report["tools"][0]["fingerprint"];
    assert_eq!(fp["config_changed"], true);
    assert_eq!(fp["vendor_update"], false);
    assert_eq!(fp["changed_fields"][0]["field"], "capabilities");
    assert_eq!(fp["changed_fields"][0]["before"], json!(["chat"]));
    assert_eq!(fp["changed_fields"][0]["after"], json!(["chat", "tools"]));
    assert_eq!(report["tools"][0]["findings"][0]["kind"], "config_change");
}

#[test]
fn baselines_are_immutable_and_listed_with_who_accepted_them() {
    let server = start();
    let p = program(server.addr);
    let run_id = baseline(p.path(), "security-review");
    let again =
        run(proximity(p.path()).args(["baseline", "accept", &run_id, "--name", "security-review"]));
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("exists already"),
        "{}",
        stderr(&again)
    );
    let out = run(proximity(p.path()).args(["baseline", "list", "--format", "json"]));
    assert!(out.status.success());
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["accepted_by"], "tester");
    assert_eq!(list[0]["run_id"], run_id.as_str());
    assert_eq!(list[0]["tools"][0]["tool_id"], "gpt");
    assert_eq!(list[0]["tools"][0]["results"], CASES * 3);
    assert!(list[0]["tools"][0]["config"].is_object());
    // Bad input is exit 2.
    let out = run(proximity(p.path()).args(["drift", "--baseline", "nope"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("security-review"), "{}", stderr(&out));
    let yaml = fs_err::read_to_string(p.path().join("proximity.yaml")).unwrap();
    fs_err::write(
        p.path().join("proximity.yaml"),
        format!("{yaml}notify: not-a-url\n"),
    )
    .unwrap();
    let out = run(proximity(p.path()).args(["check"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`notify` must be an http or https URL"),
        "{}",
        stderr(&out)
    );
    fs_err::write(p.path().join("proximity.yaml"), yaml).unwrap();
    let out = run(proximity(p.path()).args(["drift", "--notify", "ftp://x/y"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_risk_probe_baseline_is_rerun_with_a_new_canary_and_compared_per_family() {
    let server = start();
    let p = program(server.addr);
    let out = run(proximity(p.path()).args(["-q", "probe", "risk", "--tool", "gpt"]));
    // The fake complies with everything: the `unsafe` probes fail (exit 1, a finding).
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("unsafe"), "{}", stdout(&out));
    let run_id = latest_run(p.path());
    let out = run(proximity(p.path()).args(["baseline", "accept", &run_id, "--name", "risk-v1"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, report) = drift_json(p.path(), &[]);
    assert_eq!(code, 0, "{report}");
    let tool = &report["tools"][0];
    assert_eq!(
        tool["paired_cases"], 8,
        "every built-in probe but tool overreach"
    );
    let families: Vec<&str> = tool["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(families, ["canary", "injection", "pii", "unsafe"]);
    let unsafe_family = &tool["families"][3];
    assert_eq!(unsafe_family["before"], 0.0);
    assert_eq!(unsafe_family["after"], 0.0);
}
