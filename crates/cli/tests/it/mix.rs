//! End-to-end: `proximity mix` on requests sent through the real gateway (SQLite, and
//! PostgreSQL when a test server is given), and `--weights observed` of `report` and
//! `plan` on a scripted run.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use crate::gateway_support::*;

fn gateway_program(base: &str) -> String {
    format!(
        r#"version: 1
name: mix-e2e
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
    workflows:
      - {{ id: triage, share: 0.8, floor: 0.5 }}
      - {{ id: billing, share: 0.2, floor: 0.5 }}
  - id: pb
    headcount: 1
    tier: a
    workflows: [{{ id: triage, share: 1.0, floor: 0.5 }}]
"#
    )
}

/// SQLite, and a fresh PostgreSQL database when `PROXIMITY_TEST_DATABASE_URL` is set.
async fn setups(yaml: &str) -> Vec<Setup> {
    let mut out = vec![Setup::new(yaml)];
    if let Some(url) = proximity_store::testing::fresh_postgres_url().await {
        out.push(Setup::with_database(yaml, &url));
    }
    out
}

fn mix_json(setup: &Setup, extra: &[&str]) -> (Value, i32) {
    let out = setup
        .proximity()
        .args(["mix", "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    assert!(
        code == 0 || code == 1,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (serde_json::from_slice(&out.stdout).unwrap(), code)
}

fn row<'a>(persona: &'a Value, workflow: &str) -> &'a Value {
    persona["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["workflow"] == workflow)
        .unwrap_or_else(|| panic!("no row {workflow}: {persona}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observed_mix_is_the_request_mix_sent_through_the_gateway() {
    let up = start_upstream().await;
    for setup in setups(&gateway_program(&up.base_url())).await {
        let key = setup.key("pa", &[]);
        let gw = setup.start_gateway();
        let c = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        // 4 triage, 4 billing, 2 unlabelled, 1 of a workflow the program lacks; and one
        // refused request (an unknown tool), which is not work done.
        let sent = [
            (Some("triage"), 4),
            (Some("billing"), 4),
            (None, 2),
            (Some("escalation"), 1),
        ];
        for (workflow, n) in sent {
            for _ in 0..n {
                let r = post_chat(&c, &gw.url, &key, &user("gpt", "hello there"), workflow)
                    .await
                    .unwrap();
                assert_eq!(r.status, 200, "{}", r.body);
            }
        }
        let r = post_chat(&c, &gw.url, &key, &user("nope", "hi"), Some("triage"))
            .await
            .unwrap();
        assert_ne!(r.status, 200);
        gw.settled().await;

        let (mix, code) = mix_json(&setup, &["--since", "1d"]);
        assert_eq!(code, 1, "flagged rows exit 1: {mix}");
        assert_eq!(mix["requests"], 11);
        let pa = mix["personas"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["persona"] == "pa")
            .unwrap();
        assert_eq!(pa["requests"], 11);
        let names: Vec<&str> = pa["workflows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["workflow"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["triage", "billing", "escalation", "unlabelled"]);
        let triage = row(pa, "triage");
        assert_eq!(triage["requests"], 4);
        assert!((triage["observed_share"].as_f64().unwrap() - 4.0 / 11.0).abs() < 1e-12);
        // 0.8 declared, more than 5 points above the interval of 4 in 11 (15–65%).
        assert_eq!(triage["flag"], "outside_interval");
        assert!(triage["ci_high"].as_f64().unwrap() < 0.75);
        // 0.2 declared lies within it.
        assert_eq!(row(pa, "billing")["flag"], Value::Null);
        assert_eq!(row(pa, "escalation")["flag"], "not_in_program");
        assert_eq!(row(pa, "escalation")["declared_share"], Value::Null);
        assert_eq!(row(pa, "unlabelled")["requests"], 2);
        assert_eq!(row(pa, "unlabelled")["flag"], Value::Null);
        // Tokens per request are the usage rows' own.
        let rows = usage_rows(&setup).await;
        let tagged: Vec<_> = rows
            .iter()
            .filter(|r| r.workflow == "triage" && r.status == 200)
            .collect();
        assert_eq!(tagged.len(), 4);
        let mean_in =
            tagged.iter().map(|r| r.input_tokens).sum::<u64>() as f64 / tagged.len() as f64;
        assert_eq!(triage["input_tokens_per_request"].as_f64(), Some(mean_in));
        assert!(mean_in > 0.0);

        // `--persona` shows one persona; the other has no requests and no flags.
        let (only_pb, code) = mix_json(&setup, &["--persona", "pb"]);
        assert_eq!(code, 0);
        assert_eq!(only_pb["personas"].as_array().unwrap().len(), 1);
        assert_eq!(
            only_pb["personas"][0]["workflows"][0]["observed_share"],
            Value::Null
        );

        // The table names the flags and the unlabelled share.
        let out = setup.proximity().args(["mix"]).output().unwrap();
        let table = String::from_utf8(out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(1));
        // The window's first line names times that change from run to run.
        let (first, rest) = table.split_once('\n').unwrap();
        assert!(
            first.starts_with("Observed work mix from ")
                && first.ends_with("(30.0 days): 11 answered requests through the gateway."),
            "{first}"
        );
        insta::assert_snapshot!("mix_table", rest);

        let out = setup
            .proximity()
            .args(["mix", "--persona", "pz"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("unknown persona `pz`"));
    }
}

const SCRIPTED: &str = r#"version: 1
name: weights
tools:
  - id: vendor
    provider: scripted
    price: { input_per_mtok: 2.5, output_per_mtok: 10, seat_per_month: 30 }
    params:
      rules:
        - when: capital of france
          reply: Paris
        - when: "17 * 23"
          reply: "The answer is 381."
        - when: invoice
          reply: "total: 12"
      default_reply: "I don't know."
tiers:
  - id: basic
    tools: [vendor]
personas:
  - id: agent
    headcount: 10
    tier: basic
    workflows:
      - { id: lookup, share: 0.5, floor: 0.0, monthly_volume: 1000 }
      - { id: math, share: 0.3, floor: 0.0, monthly_volume: 1000 }
      - { id: extract, share: 0.2, floor: 0.0, monthly_volume: 1000 }
"#;

const SUITE: &str = r#"persona: agent
cases:
  - id: capital
    workflow: lookup
    prompt: Remind me, capital of France?
    assert:
      correct: [{ contains: Paris }]
  - id: mult
    workflow: math
    prompt: What is 17 * 23?
    assert:
      correct: [{ numeric: 391 }]
  - id: invoice
    workflow: extract
    prompt: Extract the invoice total as JSON.
    assert:
      contract: [{ is_json: true }]
"#;

fn json_of(setup: &Setup, args: &[&str]) -> Value {
    let out = setup.proximity().args(args).output().unwrap();
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observed_weights_reweigh_the_report_and_price_the_plan_by_real_requests() {
    for setup in setups(SCRIPTED).await {
        fs_err::write(setup.path().join("suites/agent.yaml"), SUITE).unwrap();
        json_of(&setup, &["eval", "--format", "json"]);
        // 30 look-ups, 10 sums, no extractions, 20 unlabelled: 1,000 tokens in and 500
        // out each.
        let store = proximity_store::Store::connect(&setup.db_url())
            .await
            .unwrap();
        let now = Utc::now();
        let mut i = 0;
        for (workflow, n) in [("lookup", 30), ("math", 10), ("unknown", 20)] {
            for _ in 0..n {
                i += 1;
                let mut u = proximity_store::testing::usage_record(
                    &format!("u{i}"),
                    0.0075,
                    now - chrono::Duration::hours(1),
                );
                u.persona = Some("agent".into());
                u.tool_id = "vendor".into();
                u.workflow = workflow.into();
                u.input_tokens = 1000;
                u.output_tokens = 500;
                store.settle(&u, None).await.unwrap();
            }
        }
        store.close().await;

        // `eval` prints its scorecard under the weights asked for, too.
        let evaluated = json_of(
            &setup,
            &["eval", "--format", "json", "--weights", "observed"],
        );
        assert_eq!(evaluated["weights"]["requests"], 40);
        let declared = json_of(&setup, &["report", "--format", "json"]);
        assert!(declared.get("weights").is_none());
        let observed = json_of(
            &setup,
            &["report", "--format", "json", "--weights", "observed"],
        );
        assert_eq!(observed["weights"]["source"], "observed");
        assert_eq!(observed["weights"]["requests"], 40);
        let score = |r: &Value, w: &str| {
            r["scorecard"][0]["workflows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["workflow"] == w)
                .unwrap()["score"]["value"]
                .as_f64()
                .unwrap()
        };
        let (l, m, e) = (
            score(&observed, "lookup"),
            score(&observed, "math"),
            score(&observed, "extract"),
        );
        let rws = |r: &Value| {
            r["scorecard"][0]["real_work_score"]["value"]
                .as_f64()
                .unwrap()
        };
        assert!((rws(&declared) - (0.5 * l + 0.3 * m + 0.2 * e)).abs() < 1e-9);
        assert!((rws(&observed) - (0.75 * l + 0.25 * m)).abs() < 1e-9);
        assert!((rws(&observed) - rws(&declared)).abs() > 0.1, "{l} {m} {e}");

        let out = setup
            .proximity()
            .args(["report", "--weights", "observed"])
            .output()
            .unwrap();
        let table = String::from_utf8(out.stdout).unwrap();
        assert!(
            table.starts_with("Weights: observed work mix from ")
                && table.contains("40 requests of the program's workflows"),
            "{table}"
        );

        // The plan: seats 10 × 30 USD, plus 30 + 10 requests a month at 1,000 tokens in
        // (2.5 USD per million) and 500 out (10 USD per million).
        let plan = json_of(
            &setup,
            &["plan", "--format", "json", "--weights", "observed"],
        );
        assert_eq!(plan["weights"]["requests"], 40);
        let cost = plan["personas"][0]["monthly_cost_usd"].as_f64().unwrap();
        assert!((cost - (300.0 + 40.0 * 0.0075)).abs() < 1e-9, "{plan}");
        let plan = json_of(&setup, &["plan", "--format", "json"]);
        let declared_cost = plan["personas"][0]["monthly_cost_usd"].as_f64().unwrap();
        // Declared: 1,000 requests a month per workflow at the evaluation's mean cost.
        assert!(
            (declared_cost - cost).abs() > 1e-6,
            "{declared_cost} vs {cost}"
        );

        let out = setup
            .proximity()
            .args(["report", "--weights", "observed", "--format", "junit"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
    }
}
