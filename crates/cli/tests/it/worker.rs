//! End-to-end: `proximity eval --queue` and `proximity worker` processes sharing one
//! store (SQLite, and PostgreSQL when `PROXIMITY_TEST_DATABASE_URL` names a server), with
//! one worker killed with SIGKILL at the worst moment (its answer paid for and cached,
//! its result not written): every result exists exactly once and the upstream is called
//! once per result.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::HashSet;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use proximity_store::{RunStatus, Store};

use crate::common::*;

const CASES: usize = 24;

fn program(server: &Server) -> TempProgram {
    let cases: Vec<(String, String)> = (0..CASES)
        .map(|i| (format!("c{i:02}"), format!("Word{i:02} is the answer")))
        .collect();
    let refs: Vec<(&str, &str, &str)> = cases
        .iter()
        .map(|(id, prompt)| (id.as_str(), prompt.as_str(), "contains: Word"))
        .collect();
    openai_program(&server.base_url(), "", &refs)
}

/// The store URLs to run on: a fresh SQLite file in the program, and a fresh PostgreSQL
/// database when there is a test server.
fn store_urls(p: &TempProgram) -> Vec<String> {
    let mut urls = vec![format!(
        "sqlite://{}",
        p.path().join(".proximity/shared.db").display()
    )];
    let rt = tokio::runtime::Runtime::new().unwrap();
    if let Some(url) = rt.block_on(proximity_store::testing::fresh_postgres_url()) {
        urls.push(url);
    }
    urls
}

fn worker(p: &TempProgram, url: &str, extra: &[&str]) -> std::process::Command {
    let mut c = proximity(p.path());
    c.args([
        "--database-url",
        url,
        "worker",
        "--lease-secs",
        "3",
        "--poll-ms",
        "50",
    ])
    .args(extra)
    .env("PROXIMITY_TEST_KEY", "sk-test")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    c
}

fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("process still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn child_stderr(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_killed_workers_items_are_taken_over_exactly_once_without_paying_twice() {
    for_each_store(|p, url, server| {
        server.state.delay_ms.store(40, Ordering::SeqCst);
        let out = run(proximity(p.path())
            .args(["--database-url", url, "eval", "--queue"])
            .env("PROXIMITY_TEST_KEY", "sk-test"));
        assert!(out.status.success(), "{}", stderr(&out));
        let run_id = stdout(&out).trim().to_owned();
        assert!(!run_id.is_empty());

        // Worker a dies by SIGKILL right after caching its third answer, before writing
        // its result; worker b does the rest, taking a's item over once its lease expires.
        let mut a = worker(
            p,
            url,
            &["--concurrency", "1", "--name", "a", "--exit-when-done"],
        )
        .env("PROXIMITY_FAILPOINT_KILL_AFTER_CACHE_PUTS", "3")
        .spawn()
        .unwrap();
        let mut b = worker(
            p,
            url,
            &["--concurrency", "2", "--name", "b", "--exit-when-done"],
        )
        .spawn()
        .unwrap();
        let a_status = wait(&mut a, Duration::from_secs(60));
        assert_eq!(a_status.signal(), Some(9), "worker a was killed by SIGKILL");
        let b_status = wait(&mut b, Duration::from_secs(120));
        let b_err = child_stderr(b);
        assert!(b_status.success(), "worker b: {b_err}");
        assert!(
            b_err.contains("taken over from other workers")
                && !b_err.contains(", 0 items taken over"),
            "worker b took a's item over: {b_err}"
        );

        let rt = tokio::runtime::Runtime::new().unwrap();
        let (run, results, counts) = rt.block_on(async {
            let store = Store::connect(url).await.unwrap();
            let run = store.run(&run_id).await.unwrap();
            let results = store.results(&run_id).await.unwrap();
            let counts = store.queue_counts(&run_id).await.unwrap();
            (run, results, counts)
        });
        assert_eq!(run.status, RunStatus::Finished);
        assert!(run.finished_at.is_some());
        assert_eq!(results.len(), CASES, "every result exactly once");
        let keys: HashSet<_> = results.iter().map(|r| r.case_id.clone()).collect();
        assert_eq!(keys.len(), CASES);
        assert_eq!(counts.done, CASES as u64);
        assert_eq!(counts.queued + counts.leased, 0);
        assert!(results.iter().all(|r| r.verdict.as_str() == "pass"));
        // The answer a paid for before dying came from the shared cache.
        assert_eq!(results.iter().filter(|r| r.cached).count(), 1);
        // Once per result: nobody paid for an answer twice.
        assert_eq!(
            server.state.total_calls.load(Ordering::SeqCst),
            CASES as u64,
            "upstream calls"
        );
        assert!(server.state.calls.lock().unwrap().values().all(|&n| n == 1));
    });
}

#[test]
fn a_worker_stalled_past_its_lease_does_not_count_the_result_its_successor_wrote() {
    for_each_store(|p, url, server| {
        server.state.delay_ms.store(300, Ordering::SeqCst);
        let out = run(proximity(p.path())
            .args(["--database-url", url, "eval", "--queue"])
            .env("PROXIMITY_TEST_KEY", "sk-test"));
        assert!(out.status.success(), "{}", stderr(&out));

        // Worker a is stopped (SIGSTOP) with its first request in flight, and stays
        // stopped until worker b, after a's lease expired, has written every result.
        let mut a = worker(
            p,
            url,
            &["--concurrency", "1", "--name", "a", "--exit-when-done"],
        )
        .spawn()
        .unwrap();
        let start = Instant::now();
        while server.state.total_calls.load(Ordering::SeqCst) == 0 {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "worker a sent nothing"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        rustix_kill(a.id(), 19);
        let mut b = worker(
            p,
            url,
            &["--concurrency", "4", "--name", "b", "--exit-when-done"],
        )
        .spawn()
        .unwrap();
        let b_status = wait(&mut b, Duration::from_secs(120));
        let b_err = child_stderr(b);
        assert!(b_status.success(), "worker b: {b_err}");
        assert!(
            b_err.contains(&format!("{CASES} results written")),
            "worker b wrote every result: {b_err}"
        );

        // a wakes up, gets its answer, and finds the result written already.
        rustix_kill(a.id(), 18);
        let a_status = wait(&mut a, Duration::from_secs(60));
        let a_err = child_stderr(a);
        assert!(a_status.success(), "worker a: {a_err}");
        assert!(
            a_err.contains("0 results written, 1 already written by another worker"),
            "worker a: {a_err}"
        );
        let rt = tokio::runtime::Runtime::new().unwrap();
        let results = rt.block_on(async {
            let store = Store::connect(url).await.unwrap();
            let run_id = stdout(&out).trim().to_owned();
            store.results(&run_id).await.unwrap()
        });
        assert_eq!(results.len(), CASES, "every result exactly once");
    });
}

#[test]
fn eval_queue_wait_follows_workers_to_the_scorecard_and_sigterm_stops_a_worker() {
    for_each_store(|p, url, _server| {
        let mut follow = proximity(p.path())
            .args([
                "--database-url",
                url,
                "eval",
                "--queue",
                "--wait",
                "--format",
                "json",
            ])
            .env("PROXIMITY_TEST_KEY", "sk-test")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut w = worker(p, url, &["--concurrency", "3"]).spawn().unwrap();
        let status = wait(&mut follow, Duration::from_secs(120));
        let out = follow.wait_with_output().unwrap();
        assert!(status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["completed"], CASES as u64, "{report}");
        assert_eq!(report["status"], "finished");
        // SIGTERM: the worker finishes what it holds and exits cleanly.
        rustix_kill(w.id(), 15);
        let st = wait(&mut w, Duration::from_secs(30));
        let err = child_stderr(w);
        assert!(st.success(), "{err}");
        assert!(err.contains("stopped:"), "{err}");
    });
}

fn rustix_kill(pid: u32, sig: i32) {
    let out = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .output()
        .unwrap();
    assert!(out.status.success());
}

fn for_each_store(check: impl Fn(&TempProgram, &str, &Server)) {
    let server = start_server();
    let p = program(&server);
    for url in store_urls(&p) {
        eprintln!("--- on {}", url.split(':').next().unwrap_or(""));
        server.state.total_calls.store(0, Ordering::SeqCst);
        server.state.calls.lock().unwrap().clear();
        check(&p, &url, &server);
    }
}
