//! End-to-end: the real binary evaluating an OpenAI-compatible tool served by a real
//! local HTTP server that answers, rate-limits, fails, stalls and sends malformed JSON.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use proximity_store::{ResultRecord, Store};

use crate::common::*;

fn results(program: &std::path::Path) -> Vec<ResultRecord> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::connect(&proximity_store::default_url(program))
            .await
            .unwrap();
        let run = store.latest_run().await.unwrap().unwrap();
        store.results(&run.id).await.unwrap()
    })
}

fn by_case(results: &[ResultRecord]) -> HashMap<String, ResultRecord> {
    results
        .iter()
        .map(|r| (r.case_id.clone(), r.clone()))
        .collect()
}

#[test]
fn faults_are_classified_and_retried() {
    let server = start_server();
    let p = openai_program(
        &server.base_url(),
        "      timeout_secs: 1\n      max_attempts: 2",
        &[
            (
                "capital",
                "What is the capital of France? [rate-limit-once]",
                "contains: Paris",
            ),
            ("mult", "What is 17 * 23? [fail-once]", "numeric: 391"),
            ("stall", "Anything [stall]", "contains: x"),
            ("garbage", "Anything [malformed]", "contains: x"),
            ("wrong", "Lyon is where?", "contains: Paris"),
        ],
    );
    let out = run(proximity(p.path())
        .args(["eval", "--concurrency", "5"])
        .env("PROXIMITY_TEST_KEY", "sk-test-secret"));
    // One workflow at 2/5 is below its 0.5 floor: exit 1, the CI gate.
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    let r = by_case(&results(p.path()));
    assert_eq!(r.len(), 5);
    assert_eq!(r["capital"].verdict.as_str(), "pass");
    assert_eq!(r["capital"].attempts, 2, "429 then success");
    assert_eq!(r["mult"].verdict.as_str(), "pass");
    assert_eq!(r["mult"].attempts, 2, "500 then success");
    assert_eq!(r["stall"].verdict.as_str(), "loud");
    assert_eq!(r["stall"].error_class.as_deref(), Some("timeout"));
    assert_eq!(r["garbage"].verdict.as_str(), "loud");
    assert_eq!(r["garbage"].error_class.as_deref(), Some("malformed"));
    assert_eq!(r["wrong"].verdict.as_str(), "silent", "plausible and wrong");
    // The reported model version and prices flow into every answered result.
    assert_eq!(
        r["capital"].model_version.as_deref(),
        Some("fake-model-2026-01")
    );
    assert!((r["capital"].cost_usd - (100.0 * 10.0 + 10.0 * 30.0) / 1e6).abs() < 1e-12);
    // The key never reaches the store.
    let db = fs_err::read(p.path().join(".proximity/proximity.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains("sk-test-secret"));
    let calls = server.state.calls.lock().unwrap();
    assert_eq!(calls["What is the capital of France? [rate-limit-once]"], 2);
    assert_eq!(
        calls["Anything [stall]"], 2,
        "timeouts are retried up to max_attempts"
    );
}

#[test]
fn cache_makes_reruns_free_and_no_cache_bypasses_it() {
    let server = start_server();
    let p = openai_program(
        &server.base_url(),
        "",
        &[
            ("a", "What is the capital of France?", "contains: Paris"),
            ("b", "What is 17 * 23?", "numeric: 391"),
        ],
    );
    let first = run(proximity(p.path()).args(["eval", "-q"]));
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(server.state.total_calls.load(Ordering::SeqCst), 2);
    let second = run(proximity(p.path()).args(["eval", "-q", "--format", "json"]));
    assert!(second.status.success());
    assert_eq!(
        server.state.total_calls.load(Ordering::SeqCst),
        2,
        "served from cache"
    );
    let rs = results(p.path());
    assert!(rs.iter().all(|r| r.cached));
    let json: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(json["scorecard"][0]["spent_usd"], serde_json::json!(0.0));
    let third = run(proximity(p.path()).args(["eval", "-q", "--no-cache"]));
    assert!(third.status.success());
    assert_eq!(server.state.total_calls.load(Ordering::SeqCst), 4);
}

#[test]
fn budget_stops_before_spend_passes_it() {
    let server = start_server();
    let cases: Vec<(String, String)> = (0..20)
        .map(|i| {
            (
                format!("c{i}"),
                format!("Case number {i}: capital of France?"),
            )
        })
        .collect();
    let case_refs: Vec<(&str, &str, &str)> = cases
        .iter()
        .map(|(id, prompt)| (id.as_str(), prompt.as_str(), "contains: Paris"))
        .collect();
    let p = openai_program(&server.base_url(), "", &case_refs);
    // Each answer costs (100 × $10 + 10 × $30) / 1M = $0.0013; the estimate before sending
    // is higher (max_tokens 20 of output), so a $0.01 budget allows a handful of requests.
    let out = run(proximity(p.path()).args(["eval", "--budget", "0.01", "--concurrency", "2"]));
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unfinished run is not a success"
    );
    assert!(stderr(&out).contains("budget"), "{}", stderr(&out));
    let rs = results(p.path());
    let spent: f64 = rs.iter().filter(|r| !r.cached).map(|r| r.cost_usd).sum();
    assert!(spent <= 0.01, "spent {spent}");
    assert!(!rs.is_empty() && rs.len() < 20, "{} results", rs.len());
    assert_eq!(
        server.state.answered_total() as usize,
        rs.len(),
        "every paid answer is kept"
    );
    let json = report_json(p.path());
    assert_eq!(json["status"], "budget_exhausted");
}

#[cfg(unix)]
#[test]
fn killed_run_resumes_without_losing_or_repaying() {
    use std::time::{Duration, Instant};
    let server = start_server();
    let cases: Vec<(String, String)> = (0..12)
        .map(|i| {
            let hold = if i >= 4 { " [hold]" } else { "" };
            (
                format!("c{i:02}"),
                format!("Question {i}: capital of France?{hold}"),
            )
        })
        .collect();
    let case_refs: Vec<(&str, &str, &str)> = cases
        .iter()
        .map(|(id, prompt)| (id.as_str(), prompt.as_str(), "contains: Paris"))
        .collect();
    let p = openai_program(&server.base_url(), "", &case_refs);
    let mut child = proximity(p.path())
        .args(["eval", "-q", "--concurrency", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The first four answer at once; then two requests wait at the gate. Wait until the
    // four answered results are saved, then SIGKILL the process mid-run.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "run did not progress");
        if server.state.answered_total() >= 4 && results(p.path()).len() >= 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Requests that were in flight never got an answer: they were not paid.
    server.state.client_gone.store(true, Ordering::SeqCst);
    server.state.gate_open.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(100));
    server.state.client_gone.store(false, Ordering::SeqCst);

    let json = report_json(p.path());
    let run_id = json["run_id"].as_str().unwrap().to_owned();
    assert_eq!(json["status"], "running", "a killed run is left as it was");
    let out = run(proximity(p.path()).args(["eval", "-q", "--resume", &run_id]));
    assert!(out.status.success(), "resume failed: {}", stderr(&out));

    let rs = results(p.path());
    assert_eq!(rs.len(), 12, "every result exactly once");
    let mut keys: Vec<_> = rs.iter().map(|r| r.case_id.clone()).collect();
    keys.dedup();
    assert_eq!(keys.len(), 12);
    assert!(rs.iter().all(|r| r.verdict.as_str() == "pass"));
    let answered = server.state.answered.lock().unwrap();
    assert_eq!(answered.len(), 12);
    assert!(
        answered.values().all(|&n| n == 1),
        "upstream answered each case once: {answered:?}"
    );
    assert_eq!(report_json(p.path())["status"], "finished");
}
