//! End-to-end: from evidence to decisions on a temporary copy of `examples/acme` with the
//! scripted `acme-copilot` tool — field notes (flags, bulk JSON, and the interactive
//! prompts driven through a pseudo-terminal), promotion of a note into a case that
//! `proximity eval` then runs, the standardisation what-if and the plan, friction,
//! decision review and coverage.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

fn ok(cmd: &mut std::process::Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "failed ({:?}):\n{}\n{}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

fn json(cmd: &mut std::process::Command) -> Value {
    let out = run(cmd);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(&out), stderr(&out)))
}

fn eval_copilot(root: &Path, extra: &[&str]) {
    let mut cmd = proximity(root);
    cmd.args([
        "--quiet",
        "eval",
        "--tool",
        "acme-copilot",
        "--format",
        "json",
    ])
    .args(extra);
    let out = run(&mut cmd);
    // Exit 1: workflows below their floor, which the example program has on purpose.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "eval failed: {}",
        stderr(&out)
    );
}

const CHAIR_PROMPT: &str = "Can I expense a home-office chair for EUR 250?";

fn add_chair_note(root: &Path) {
    let out = ok(proximity(root).args([
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
        "Check a home-office chair claim",
        "--what-happened",
        "It said home-office equipment is reimbursable; the policy says it is not.",
        "--outcome",
        "failed_silently",
        "--failure-mode",
        "hallucination",
        "--minutes-saved",
        "2",
        "--minutes-lost",
        "30",
        "--prompt",
        CHAIR_PROMPT,
        "--date",
        "2026-11-20",
    ]));
    assert_eq!(out.trim(), "recorded note 1");
}

#[test]
fn promoted_note_becomes_a_case_that_eval_runs_and_the_suite_keeps_its_bytes() {
    let (_dir, root) = acme();
    add_chair_note(&root);
    let suite = root.join("suites/finance.yaml");
    let before = fs_err::read(&suite).unwrap();

    let out = ok(proximity(&root).args([
        "note",
        "promote",
        "1",
        "--assert-icontains",
        "not reimbursable",
    ]));
    assert!(
        out.contains("promoted note 1 to case `field-note-1`"),
        "{out}"
    );
    let after = fs_err::read(&suite).unwrap();
    assert!(after.starts_with(&before), "the old bytes are a prefix");
    let added = String::from_utf8(after[before.len()..].to_vec()).unwrap();
    assert!(added.contains("- id: field-note-1"), "{added}");
    assert!(added.contains("source: field"), "{added}");
    assert!(added.contains("note: \"1\""), "{added}");
    assert!(added.contains("- icontains: not reimbursable"), "{added}");
    // The suite's persona is the note's: no `persona:` repeated on the case.
    assert!(!added.contains("persona:"), "{added}");
    ok(proximity(&root).arg("check"));

    let notes = json(proximity(&root).args(["note", "list", "--format", "json"]));
    assert_eq!(notes["notes"][0]["promoted_case"], "field-note-1");
    assert_eq!(notes["notes"][0]["promoted_suite"], "suites/finance.yaml");

    // The new case runs: the scripted tool still invents the policy, a silent failure.
    eval_copilot(&root, &["--persona", "finance-analyst"]);
    let failures = json(proximity(&root).args([
        "report",
        "--failures",
        "silent",
        "--limit",
        "100",
        "--format",
        "json",
    ]));
    let text = failures.to_string();
    assert!(text.contains("field-note-1"), "{text}");

    // Promoting twice is refused; the file does not change.
    let out = run(proximity(&root).args(["note", "promote", "1", "--assert-contains", "x"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("already promoted"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs_err::read(&suite).unwrap(), after);
}

#[test]
fn a_promoted_case_that_does_not_load_restores_the_suite() {
    let (_dir, root) = acme();
    add_chair_note(&root);
    let suite = root.join("suites/finance.yaml");
    let before = fs_err::read(&suite).unwrap();
    let out = run(proximity(&root).args(["note", "promote", "1", "--assert-regex", "(unclosed"]));
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("was restored unchanged"), "{err}");
    assert!(err.contains("regex"), "{err}");
    assert_eq!(fs_err::read(&suite).unwrap(), before);
    let notes = json(proximity(&root).args(["note", "list", "--format", "json"]));
    assert_eq!(notes["notes"][0]["promoted_case"], Value::Null);
}

#[test]
fn bulk_notes_are_all_or_nothing_and_list_filters() {
    let (dir, root) = acme();
    let good = r#"{"author":"kim","role":"leader","persona":"support-agent","tool":"acme-copilot","workflow":"customer-reply","task":"Reply on a late order","what_happened":"Fine","outcome":"worked","minutes_saved":6,"date":"2026-11-01"}
{"author":"lee","persona":"software-engineer","tool":"acme-copilot","task":"Review a diff","what_happened":"Missed the bug","outcome":"failed silently","failure_mode":"hallucination","minutes_lost":25,"date":"2026-11-10"}
"#;
    let bad = r#"[{"author":"kim","persona":"suport-agent","tool":"acme-copilot","task":"t","what_happened":"w","outcome":"worked"}]"#;
    let bad_path = dir.path().join("bad.json");
    fs_err::write(&bad_path, bad).unwrap();
    let out = run(proximity(&root)
        .args(["note", "add", "--from-json"])
        .arg(&bad_path));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `support-agent`"),
        "{}",
        stderr(&out)
    );

    let good_path = dir.path().join("notes.jsonl");
    fs_err::write(&good_path, good).unwrap();
    let out = ok(proximity(&root)
        .args(["note", "add", "--from-json"])
        .arg(&good_path));
    assert!(out.contains("recorded 2 notes"), "{out}");
    let all = json(proximity(&root).args(["note", "list", "--format", "json"]));
    assert_eq!(
        all["notes"].as_array().unwrap().len(),
        2,
        "the bad file added none"
    );
    let kim = json(proximity(&root).args(["note", "list", "--author", "kim", "--format", "json"]));
    assert_eq!(kim["notes"].as_array().unwrap().len(), 1);
    assert_eq!(kim["notes"][0]["role"], "leader");
    let since =
        json(proximity(&root).args(["note", "list", "--since", "2026-11-05", "--format", "json"]));
    assert_eq!(since["notes"][0]["outcome"], "failed_silently");
    let table = ok(proximity(&root).args(["note", "list", "--tool", "acme-copilot"]));
    assert!(
        table.contains("kim*") && table.contains("2 notes"),
        "{table}"
    );

    let friction = ok(proximity(&root).arg("friction"));
    assert!(
        friction.contains("software-engineer × acme-copilot: friction cost outweighs efficiency benefit (based on 1 note)"),
        "{friction}"
    );
    insta::assert_snapshot!("friction_table", friction);

    // Coverage: support has a leader note; finance and engineering have none.
    let cov = json(proximity(&root).args(["coverage", "--format", "json"]));
    let flagged: Vec<&str> = cov["personas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["flagged"] == true)
        .map(|p| p["persona"].as_str().unwrap())
        .collect();
    // The leader note is dated 2026-11-01; within 90 days of today only if today is
    // before 2027-01-30, so compare with what the date says.
    let today = chrono::Utc::now().date_naive();
    let note_day = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    if (today - note_day).num_days() <= 90 {
        assert_eq!(flagged, ["finance-analyst", "software-engineer"]);
    } else {
        assert_eq!(flagged.len(), 3);
    }
}

#[test]
fn what_if_and_plan_on_the_example_program() {
    let (_dir, root) = acme();
    eval_copilot(&root, &[]);

    let out = run(proximity(&root).args([
        "plan",
        "--standardize",
        "support-agent=acme-copilot",
        "--format",
        "json",
    ]));
    // Exit 1: standardising would leave workflows below their floor.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let w = &v["what_if"][0];
    assert_eq!(w["persona"], "support-agent");
    let below = w["below_floor"].as_array().unwrap();
    assert!(!below.is_empty(), "{w}");
    for b in below {
        assert!(
            b["ci_low"].as_f64().unwrap() < b["floor"].as_f64().unwrap(),
            "{b}"
        );
    }
    assert_eq!(w["workflows"].as_array().unwrap().len(), 3);
    // 120 seats at 30 USD, plus tokens at list prices × monthly volume.
    let cost = w["monthly_cost_usd"].as_f64().unwrap();
    assert!(cost > 3600.0, "{cost}");
    assert!(w["silent_rate"].as_f64().unwrap() > 0.0);

    let table = run(proximity(&root).args(["plan", "--standardize", "support-agent=acme-copilot"]));
    let text = stdout(&table);
    assert!(text.contains("would fall below their floor"), "{text}");
    assert!(text.contains("below floor"), "{text}");
    insta::assert_snapshot!("what_if_support_on_copilot", text);

    // Unknown ids get did-you-mean.
    let out = run(proximity(&root).args(["plan", "--standardize", "support-agent=acme-copilto"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `acme-copilot`"),
        "{}",
        stderr(&out)
    );

    // The plan: with one measured tool, support cannot meet its floors; the frontier has
    // the one assignment there is, and the plan can be recorded.
    let out = run(proximity(&root).args(["plan", "--format", "json", "--record"]));
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["personas"].as_array().unwrap().len(), 3);
    assert_eq!(plan["frontier"].as_array().unwrap().len(), 1);
    assert_eq!(plan["feasible"] == true, out.status.code() == Some(0));
    let support = &plan["personas"][0];
    assert!(
        !support["binding"].as_array().unwrap().is_empty(),
        "{support}"
    );
    let text = stdout(&run(proximity(&root).arg("plan")));
    assert!(text.contains("Frontier"), "{text}");
    insta::assert_snapshot!("plan_acme_copilot_only", text);
}

#[test]
fn decisions_go_stale_when_the_tool_changes_or_notes_contradict_them() {
    let (_dir, root) = acme();
    eval_copilot(&root, &["--persona", "support-agent"]);
    let run_id = {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let store = proximity_store::Store::connect(&proximity_store::default_url(&root))
                .await
                .unwrap();
            let id = store.latest_run().await.unwrap().unwrap().id;
            store.close().await;
            id
        })
    };
    let evidence = format!("run:{run_id}");
    let out = ok(proximity(&root).args([
        "decide",
        "add",
        "--title",
        "Support on acme-copilot",
        "--statement",
        "Support agents use acme-copilot for replies.",
        "--persona",
        "support-agent",
        "--tool",
        "acme-copilot",
        "--evidence",
        &evidence,
    ]));
    assert_eq!(out.trim(), "recorded decision 1");
    let out = run(proximity(&root).args([
        "decide",
        "add",
        "--title",
        "x",
        "--statement",
        "y",
        "--evidence",
        "run:nope",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not in the store"));

    let fresh = run(proximity(&root).args(["decide", "review"]));
    assert_eq!(fresh.status.code(), Some(0), "{}", stdout(&fresh));
    assert!(stdout(&fresh).contains("0 of 1 decisions stale"));
    let list = ok(proximity(&root).args(["decide", "list"]));
    assert!(
        list.contains("Support on acme-copilot") && list.contains(&evidence),
        "{list}"
    );

    // A contradicting note after the decision.
    ok(proximity(&root).args([
        "note",
        "add",
        "--author",
        "kim",
        "--persona",
        "support-agent",
        "--tool",
        "acme-copilot",
        "--task",
        "Gift card refund",
        "--what-happened",
        "Promised a refund on a gift card",
        "--outcome",
        "failed_visibly",
    ]));
    // The tool's configuration changes in the program.
    let yaml = root.join("proximity.yaml");
    let text = fs_err::read_to_string(&yaml).unwrap();
    fs_err::write(
        &yaml,
        text.replacen("timeout_secs: 30", "timeout_secs: 45", 1),
    )
    .unwrap();

    let out = run(proximity(&root).args(["decide", "review", "--format", "json"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reasons: Vec<&str> = v["stale"][0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"fingerprint_changed"), "{v}");
    assert!(reasons.contains(&"contradicting_note"), "{v}");
    let table = stdout(&run(proximity(&root).args(["decide", "review"])));
    assert!(
        table.contains("tool `acme-copilot` changed since run"),
        "{table}"
    );
    insta::with_settings!({filters => vec![
        (r"run [0-9A-Za-z_-]+:", "run [RUN]:"),
        (r"fingerprint [0-9a-f]{16} → [0-9a-f]{16}", "fingerprint [OLD] → [NEW]"),
    ]}, {
        insta::assert_snapshot!("decide_review_stale", table);
    });

    // Friction: one note, lost time, no interval.
    let fr = json(proximity(&root).args(["friction", "--format", "json"]));
    assert_eq!(fr["rows"][0]["n"], 1);
    assert_eq!(fr["rows"][0]["net_minutes_ci"], Value::Null);
}

#[test]
fn interactive_note_add_in_a_terminal_validates_with_did_you_mean() {
    use expectrl::{Eof, Session};

    let (_dir, root) = acme();
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("--program").arg(&root).args(["note", "add"]);
    cmd.env("NO_COLOR", "1").env("TERM", "xterm");
    cmd.env_remove("PROXIMITY_DATABASE_URL");
    let mut s = Session::spawn(cmd).unwrap();
    s.get_process_mut().set_window_size(120, 40).unwrap();
    s.set_expect_timeout(Some(Duration::from_secs(20)));

    let mut answer = |prompt: &str, text: &str| {
        s.expect(prompt)
            .unwrap_or_else(|e| panic!("no prompt `{prompt}`: {e}"));
        s.send(format!("{text}\r")).unwrap();
    };
    answer("Author", "Dana");
    answer("Role", "leader");
    answer("Persona", "suport-agent");
    // The misspelt persona is refused with a suggestion; the prompt asks again.
    s.expect("did you mean `support-agent`").unwrap();
    s.send("\x15support-agent\r").unwrap(); // Ctrl-U clears the line first
    let mut answer = |prompt: &str, text: &str| {
        s.expect(prompt)
            .unwrap_or_else(|e| panic!("no prompt `{prompt}`: {e}"));
        s.send(format!("{text}\r")).unwrap();
    };
    answer("Tool", "acme-copilot");
    answer("Workflow", "policy-lookup");
    answer("Task", "Restocking fee question");
    answer("What happened", "Invented a 15% restocking fee");
    answer("Outcome", "failed_silently");
    answer("Failure mode", "hallucination");
    answer("Minutes saved", "1");
    answer("Minutes lost", "20");
    answer("Prompt", "Is there a restocking fee on opened items?");
    answer("Output", "A 15% restocking fee applies to opened items.");
    answer("Date", "2026-11-24");
    s.expect("recorded note 1").unwrap();
    s.expect(Eof).unwrap();

    let notes = json(proximity(&root).args(["note", "list", "--format", "json"]));
    let n = &notes["notes"][0];
    assert_eq!(n["author"], "Dana");
    assert_eq!(n["role"], "leader");
    assert_eq!(n["persona"], "support-agent");
    assert_eq!(n["workflow"], "policy-lookup");
    assert_eq!(n["outcome"], "failed_silently");
    assert_eq!(n["failure_mode"], "hallucination");
    assert_eq!(n["minutes_lost"], 20.0);
    assert_eq!(n["date"], "2026-11-24");
    assert_eq!(n["prompt"], "Is there a restocking fee on opened items?");
}

#[test]
fn interactive_promote_proposes_assertions_from_the_expected_answer() {
    use expectrl::{Eof, Session};

    let (_dir, root) = acme();
    add_chair_note(&root);
    let suite = root.join("suites/finance.yaml");
    let before = fs_err::read(&suite).unwrap();
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("--program")
        .arg(&root)
        .args(["note", "promote", "1"]);
    cmd.env("NO_COLOR", "1").env("TERM", "xterm");
    cmd.env_remove("PROXIMITY_DATABASE_URL");
    let mut s = Session::spawn(cmd).unwrap();
    s.get_process_mut().set_window_size(120, 40).unwrap();
    s.set_expect_timeout(Some(Duration::from_secs(20)));
    s.expect("What should the answer have contained").unwrap();
    s.send("not reimbursable\r").unwrap();
    // Proposals: contains, icontains, equals; pick the second.
    s.expect("icontains: not reimbursable").unwrap();
    s.send("\x1b[B").unwrap();
    s.send("\r").unwrap();
    s.expect("Add the case").unwrap();
    s.send("y").unwrap();
    s.expect("promoted note 1").unwrap();
    s.expect(Eof).unwrap();

    let after = fs_err::read(&suite).unwrap();
    assert!(after.starts_with(&before));
    let added = String::from_utf8(after[before.len()..].to_vec()).unwrap();
    assert!(
        added.contains("        - icontains: not reimbursable\n"),
        "{added}"
    );
    ok(proximity(&root).arg("check"));
}

#[test]
fn plan_keeps_evidence_of_personas_a_later_partial_run_left_out() {
    let (_dir, root) = acme();
    eval_copilot(&root, &[]);
    // A later run of one persona only: the others keep their earlier evidence.
    eval_copilot(&root, &["--persona", "support-agent"]);
    let plan = json(proximity(&root).args(["plan", "--format", "json"]));
    for p in plan["personas"].as_array().unwrap() {
        let binding = p["binding"].to_string();
        assert!(!binding.contains("no tool has results"), "{p}");
    }
    assert_eq!(
        plan["frontier"][0]["assignment"].as_object().unwrap().len(),
        3
    );
}

/// `plan` reads per-run sums as the persona page does, from the newest evaluation run:
/// after the tool changes and `drift` re-runs its cases (a newer run, with other scores
/// for the same pairs) and a risk probe runs, the plan is what it was; a named drift run
/// is refused.
#[test]
fn plan_rests_on_evaluation_runs_never_on_drift_or_probe_runs() {
    let (_dir, root) = acme();
    eval_copilot(&root, &[]);
    let before = json(proximity(&root).args(["plan", "--format", "json"]));
    let runs = || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let store = proximity_store::Store::connect(&proximity_store::default_url(&root))
                .await
                .unwrap();
            let mut out = Vec::new();
            for r in store.runs().await.unwrap() {
                let n = store.result_count(&r.id).await.unwrap();
                out.push((r, n));
            }
            store.close().await;
            out
        })
    };
    let eval_id = runs()[0].0.id.clone();
    ok(proximity(&root).args([
        "baseline", "accept", "--name", "launch", "--by", "kim", &eval_id,
    ]));
    // The vendor's tool now mislabels shipping tickets.
    let yaml = root.join("proximity.yaml");
    let text = fs_err::read_to_string(&yaml).unwrap();
    assert!(text.contains("reply: shipping"));
    fs_err::write(&yaml, text.replace("reply: shipping", "reply: billing")).unwrap();
    let drift = run(proximity(&root).args(["--quiet", "drift", "--tool", "acme-copilot"]));
    assert!(
        matches!(drift.status.code(), Some(0 | 1)),
        "{}",
        stderr(&drift)
    );
    let probe = run(proximity(&root).args(["--quiet", "probe", "risk", "--tool", "acme-copilot"]));
    assert!(
        matches!(probe.status.code(), Some(0 | 1)),
        "{}",
        stderr(&probe)
    );

    let all = runs();
    let kind = |r: &proximity_store::RunRecord| {
        r.config["probe"]["kind"]
            .as_str()
            .unwrap_or("eval")
            .to_owned()
    };
    let (drift_run, drift_results) = all
        .iter()
        .find(|(r, _)| kind(r) == "drift")
        .expect("a drift run");
    assert!(*drift_results > 0, "the drift run has results");
    assert_ne!(
        kind(&all[0].0),
        "eval",
        "the newest run is not an evaluation"
    );

    let after = json(proximity(&root).args(["plan", "--format", "json"]));
    assert_eq!(after, before, "the plan still rests on the evaluation");
    let named = json(proximity(&root).args(["plan", "--run", &eval_id, "--format", "json"]));
    assert_eq!(named, before);
    let text = stdout(&run(proximity(&root).args(["plan", "--run", &eval_id])));
    assert!(
        text.contains(&format!("from evaluation run {eval_id}.")),
        "{text}"
    );

    let refused = run(proximity(&root).args(["plan", "--run", &drift_run.id]));
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains(&format!(
            "run `{}` is a drift run, not an evaluation",
            drift_run.id
        )),
        "{}",
        stderr(&refused)
    );
}
