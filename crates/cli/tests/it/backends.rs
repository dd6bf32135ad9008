//! End-to-end: every command behaves the same on PostgreSQL as on SQLite. One scenario —
//! eval, report, failures, baseline, drift, field notes, decisions, plan, friction,
//! coverage, keys, usage, the dashboard's static export — runs on a copy of
//! `examples/acme` (its scripted tool: deterministic, no network) once on the program's
//! SQLite store and once on a fresh PostgreSQL database; exit codes and outputs must be
//! equal once run ids, timestamps, latencies and secrets are masked.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::path::Path;

use regex::Regex;
use serde_json::Value;

use crate::common::*;

/// Drop what differs between two runs of the same thing: times, latencies, secrets.
fn mask_json(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                let volatile = k.ends_with("_at")
                    || k.contains("latency")
                    || k == "key"
                    || k == "elapsed_ms"
                    || k == "generated";
                if volatile {
                    *val = Value::String("*".into());
                } else {
                    mask_json(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_json),
        Value::String(s) => *s = mask_text(s),
        _ => {}
    }
}

fn mask_text(s: &str) -> String {
    let run_id = Regex::new(r"\b\d{8}-\d{6}-[0-9a-f]{4}\b").unwrap();
    let stamp = Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)").unwrap();
    let key = Regex::new(r"prx-[0-9a-f]+").unwrap();
    let key_id = Regex::new(r"\bkey_[0-9a-f]{6,}\b").unwrap();
    let minute = Regex::new(r"\d{4}-\d\d-\d\d \d\d:\d\d( UTC)?").unwrap();
    let s = run_id.replace_all(s, "RUN");
    let s = stamp.replace_all(&s, "TIME");
    let s = key.replace_all(&s, "KEY");
    let s = minute.replace_all(&s, "MINUTE");
    key_id.replace_all(&s, "KEYID").into_owned()
}

/// One step's masked outcome: exit code and output.
fn step(root: &Path, url: Option<&str>, args: &[&str]) -> String {
    let mut cmd = proximity(root);
    if let Some(u) = url {
        cmd.args(["--database-url", u]);
    }
    cmd.arg("--quiet").args(args);
    let out = run(&mut cmd);
    let code = out.status.code();
    let text = match serde_json::from_slice::<Value>(&out.stdout) {
        Ok(mut v) => {
            mask_json(&mut v);
            serde_json::to_string_pretty(&v).unwrap()
        }
        Err(_) => mask_text(&stdout(&out)),
    };
    assert!(
        matches!(code, Some(0 | 1)),
        "`{}` failed ({code:?}): {}",
        args.join(" "),
        stderr(&out)
    );
    mask_text(&format!(
        "$ proximity {}\nexit {code:?}\n{text}",
        args.join(" ")
    ))
}

fn latest_run(root: &Path, url: Option<&str>) -> String {
    let mut cmd = proximity(root);
    if let Some(u) = url {
        cmd.args(["--database-url", u]);
    }
    let out = run(cmd.args(["report", "--format", "json"]));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["run_id"].as_str().unwrap().to_owned()
}

/// The scenario, on the store at `url` (the program's SQLite store when `None`).
fn scenario(root: &Path, url: Option<&str>) -> Vec<String> {
    let mut log = Vec::new();
    log.push(step(
        root,
        url,
        &["eval", "--tool", "acme-copilot", "--format", "json"],
    ));
    let run_id = latest_run(root, url);
    log.push(step(root, url, &["report", "--format", "json"]));
    log.push(step(
        root,
        url,
        &["report", "--failures", "silent", "--format", "json"],
    ));
    log.push(step(
        root,
        url,
        &[
            "baseline", "accept", &run_id, "--name", "review", "--by", "ana",
        ],
    ));
    log.push(step(root, url, &["baseline", "list", "--format", "json"]));
    log.push(step(root, url, &["drift", "--format", "json"]));
    log.push(step(
        root,
        url,
        &[
            "note",
            "add",
            "--author",
            "ana",
            "--role",
            "practitioner",
            "--persona",
            "finance-analyst",
            "--tool",
            "acme-copilot",
            "--workflow",
            "expense-review",
            "--task",
            "Check a chair claim",
            "--what-happened",
            "It approved a chair the policy excludes.",
            "--outcome",
            "failed_silently",
            "--failure-mode",
            "hallucination",
            "--minutes-saved",
            "2",
            "--minutes-lost",
            "30",
            "--date",
            "2026-11-20",
        ],
    ));
    log.push(step(root, url, &["note", "list", "--format", "json"]));
    let evidence = format!("run:{run_id}");
    log.push(step(
        root,
        url,
        &[
            "decide",
            "add",
            "--title",
            "Support on acme-copilot",
            "--statement",
            "Support agents use acme-copilot.",
            "--persona",
            "support-agent",
            "--tool",
            "acme-copilot",
            "--evidence",
            &evidence,
        ],
    ));
    log.push(step(root, url, &["decide", "review", "--format", "json"]));
    log.push(step(root, url, &["plan", "--format", "json", "--record"]));
    log.push(step(root, url, &["friction", "--format", "json"]));
    log.push(step(root, url, &["coverage", "--format", "json"]));
    log.push(step(
        root,
        url,
        &[
            "keys",
            "create",
            "--persona",
            "support-agent",
            "--name",
            "ci",
        ],
    ));
    log.push(step(root, url, &["keys", "list"]));
    log.push(step(root, url, &["usage", "--format", "json"]));
    log
}

#[test]
fn every_command_behaves_the_same_on_postgres_as_on_sqlite() {
    let (_d1, sqlite_root) = acme();
    let on_sqlite = scenario(&sqlite_root, None);
    assert!(on_sqlite.len() > 10);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(url) = rt.block_on(proximity_store::testing::fresh_postgres_url()) else {
        eprintln!("no PostgreSQL test server (PROXIMITY_TEST_DATABASE_URL): SQLite half only");
        return;
    };
    let (_d2, pg_root) = acme();
    let on_postgres = scenario(&pg_root, Some(&url));
    assert!(
        !pg_root.join(".proximity/proximity.db").exists(),
        "the PostgreSQL scenario must not touch the SQLite store"
    );
    for (s, p) in on_sqlite.iter().zip(&on_postgres) {
        pretty_assertions_eq(s, p);
    }
}

fn pretty_assertions_eq(sqlite: &str, postgres: &str) {
    if sqlite != postgres {
        let first = sqlite
            .lines()
            .zip(postgres.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "SQLite and PostgreSQL differ at line {first}:\n--- sqlite\n{sqlite}\n--- postgres\n{postgres}"
        );
    }
}
