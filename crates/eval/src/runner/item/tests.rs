//! Each step of an item on its own: slot, cache, budget, request, settling, judging,
//! verdict, record and write, on a `scripted` tool and a real (SQLite) store.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;

use proximity_program::fingerprint::config_fingerprint;
use proximity_providers::Usage;
use proximity_store::testing::{self, TestStore};

use super::*;
use crate::runner::{build_providers, new_run, RunOptions, Silent};

const PROGRAM: &str = r#"version: 1
name: items
tools:
  - id: t
    provider: scripted
    price: { input_per_mtok: 1000, output_per_mtok: 2000 }
    params:
      max_attempts: 1
      default_reply: "ok, done"
      rules:
        - { when: "[auth]", error: auth }
        - { when: "wrong", reply: "Lyon" }
        - { when: "hedge", reply: "I'm not sure, maybe Lyon" }
        - { when: "{", reply: "not json" }
tiers:
  - id: all
    tools: [t]
personas:
  - id: p
    headcount: 1
    tier: all
    workflows: [{ id: w, share: 1.0, floor: 0.5 }]
"#;

const SUITE: &str = r#"persona: p
workflow: w
cases:
  - id: fine
    prompt: "say ok"
    assert: { correct: [contains: ok] }
  - id: wrong
    prompt: "wrong city"
    assert: { correct: [contains: Paris] }
  - id: hedge
    prompt: "hedge on the city"
    assert: { correct: [contains: Paris] }
  - id: contract
    prompt: "answer in {json}"
    assert: { contract: [is_json: true] }
  - id: broken
    prompt: "[auth] anything"
    assert: { correct: [contains: ok] }
"#;

struct Fixture {
    _dir: tempfile::TempDir,
    program: Program,
    store: TestStore,
    run_id: String,
    fp: String,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("proximity.yaml"), PROGRAM).unwrap();
    fs_err::create_dir_all(dir.path().join("suites")).unwrap();
    fs_err::write(dir.path().join("suites/s.yaml"), SUITE).unwrap();
    let program = proximity_program::load(dir.path()).unwrap();
    let store = testing::sqlite().await;
    let run = new_run(&program, &RunOptions::default(), serde_json::Map::new(), 5);
    store.store.create_run(&run).await.unwrap();
    let fp = config_fingerprint(&program.tools[0]);
    Fixture {
        _dir: dir,
        program,
        store,
        run_id: run.id,
        fp,
    }
}

impl Fixture {
    fn ctx(&self, case: &str) -> ItemCtx<'_> {
        ItemCtx {
            program: &self.program,
            store: &self.store.store,
            run_id: &self.run_id,
            case: self.program.cases.iter().find(|c| c.id == case).unwrap(),
            tool: &self.program.tools[0],
            config_fp: &self.fp,
            sample: 0,
            use_cache: true,
            lookup: true,
            calls: None,
        }
    }

    fn provider(&self) -> Arc<dyn Provider> {
        build_providers(&self.program, &["t".to_owned()]).unwrap()["t"].clone()
    }

    fn judge(&self) -> ProviderJudge {
        ProviderJudge {
            providers: HashMap::new(),
            policy: RetryPolicy::default(),
        }
    }
}

fn answer(text: &str) -> CachedAnswer {
    CachedAnswer {
        response: ChatResponse {
            text: text.to_owned(),
            usage: Usage {
                input_tokens: 100,
                output_tokens: 10,
            },
            model_version: Some("m-1".to_owned()),
            ..ChatResponse::default()
        },
        latency_ms: 7,
        attempts: 2,
    }
}

#[tokio::test]
async fn a_slot_is_not_given_once_the_run_stopped() {
    let slots = Semaphore::new(1);
    let stop = CancellationToken::new();
    assert_eq!(acquire_slot(None).await.map(|s| s.is_none()), Ok(true));
    let held = acquire_slot(Some((&slots, &stop))).await.unwrap();
    assert!(held.is_some());
    assert_eq!(slots.available_permits(), 0);
    drop(held);
    stop.cancel();
    assert!(acquire_slot(Some((&slots, &stop))).await.is_err());
}

#[tokio::test]
async fn the_cache_returns_what_was_kept_and_skips_what_does_not_read() {
    let f = fixture().await;
    let ctx = f.ctx("fine");
    let (request, key) = request_and_key(&ctx);
    assert_eq!(key, key_of(&ctx, &request));
    assert!(cache_lookup(ctx.store, &key).await.unwrap().is_none());
    keep(&ctx, &key, &answer("ok there")).await.unwrap();
    let found = cache_lookup(ctx.store, &key).await.unwrap().unwrap();
    assert_eq!(found.response.text, "ok there");
    assert_eq!((found.latency_ms, found.attempts), (7, 2));
    ctx.store
        .cache_put("garbage", &f.fp, "{not json")
        .await
        .unwrap();
    assert!(cache_lookup(ctx.store, "garbage").await.unwrap().is_none());
}

#[tokio::test]
async fn without_the_shared_cache_keys_are_the_runs_own() {
    let f = fixture().await;
    let shared = f.ctx("fine");
    let own = ItemCtx {
        use_cache: false,
        ..f.ctx("fine")
    };
    let request = request_of(&shared);
    assert_ne!(key_of(&shared, &request), key_of(&own, &request));
    // Without the shared cache and without a judge to wait for, the result row is the
    // only record of an answer.
    assert!(answer_kept_apart(&shared));
    assert!(!answer_kept_apart(&own));
}

#[tokio::test]
async fn a_reservation_that_would_pass_the_budget_is_refused() {
    let f = fixture().await;
    let ctx = f.ctx("fine");
    let request = request_of(&ctx);
    let estimate = estimate_cost(ctx.tool, &request);
    assert!(estimate > 0.0);
    let budget = Mutex::new(Budget::new(Some(estimate * 1.5), 0.0));
    let first = reserve(&budget, ctx.tool, &request).unwrap();
    assert_eq!(first.estimate, estimate);
    assert!(reserve(&budget, ctx.tool, &request).is_none());
    assert!(budget.lock().unwrap().exhausted);
    // Settling a failure frees the reservation and spends nothing.
    let failure = Err(FailedAnswer {
        error: ProviderError::new(ErrorClass::Server, "boom"),
        latency_ms: 12,
        attempts: 4,
    });
    settle(&budget, ctx.tool, first, &failure);
    let b = budget.lock().unwrap();
    assert_eq!((b.spent, b.reserved), (0.0, 0.0));
}

#[tokio::test]
async fn settling_an_answer_spends_its_real_cost() {
    let f = fixture().await;
    let ctx = f.ctx("fine");
    let request = request_of(&ctx);
    let budget = Mutex::new(Budget::new(None, 0.0));
    let r = reserve(&budget, ctx.tool, &request).unwrap();
    settle(&budget, ctx.tool, r, &Ok(answer("ok")));
    let b = budget.lock().unwrap();
    // 100 input tokens at $1000/M and 10 output at $2000/M.
    assert!((b.spent - 0.12).abs() < 1e-12, "{}", b.spent);
    assert_eq!(b.reserved, 0.0);
}

#[tokio::test]
async fn asking_returns_the_answer_or_the_providers_error_class() {
    let f = fixture().await;
    let provider = f.provider();
    let ctx = f.ctx("fine");
    let ok = ask(&ctx, provider.as_ref(), &request_of(&ctx), &Silent)
        .await
        .unwrap();
    assert_eq!(ok.response.text, "ok, done");
    assert_eq!(ok.attempts, 1);
    let ctx = f.ctx("broken");
    let err = ask(&ctx, provider.as_ref(), &request_of(&ctx), &Silent)
        .await
        .unwrap_err();
    assert_eq!(err.error.class, ErrorClass::Auth);
    // An auth fault is not retried: one attempt, and its time is kept.
    assert_eq!(err.attempts, 1);
    let result = failed(&ctx, err);
    assert_eq!(result.attempts, 1);
    assert_eq!(result.error_class.as_deref(), Some("auth"));
}

#[tokio::test]
async fn judging_and_the_verdict_follow_the_decision_table() {
    let f = fixture().await;
    let judge = f.judge();
    for (case, text, want) in [
        ("fine", "ok, done", Verdict::Pass),
        ("wrong", "Lyon", Verdict::Silent),
        ("hedge", "I'm not sure, maybe Lyon", Verdict::Loud),
        ("contract", "not json", Verdict::Structural),
        ("fine", "", Verdict::Loud),
    ] {
        let ctx = f.ctx(case);
        let response = answer(text).response;
        let outcomes = judge_answer(&ctx, &judge, &response).await;
        assert_eq!(outcomes.len(), 1, "{case}");
        assert_eq!(outcomes[0].passed, want == Verdict::Pass, "{case}");
        let (verdict, reason) = super::verdict(ctx.case, Ok(&response), &outcomes);
        assert_eq!(verdict, want, "{case}: {reason}");
    }
    let e = ProviderError::new(ErrorClass::RateLimited, "slow down");
    let (verdict, reason) = super::verdict(f.ctx("fine").case, Err(&e), &[]);
    assert_eq!(verdict, Verdict::Loud);
    assert!(reason.contains("rate_limited"), "{reason}");
}

#[tokio::test]
async fn records_carry_the_answer_or_the_error() {
    let f = fixture().await;
    let ctx = f.ctx("fine");
    let judge = f.judge();
    let a = answer("ok, done");
    let outcomes = judge_answer(&ctx, &judge, &a.response).await;
    let r = answered(&ctx, a, true, outcomes);
    assert_eq!((r.case_id.as_str(), r.tool_id.as_str()), ("fine", "t"));
    assert_eq!(r.verdict, Verdict::Pass);
    assert_eq!((r.input_tokens, r.output_tokens), (100, 10));
    assert!((r.cost_usd - 0.12).abs() < 1e-12);
    assert_eq!((r.latency_ms, r.attempts, r.cached), (7, 2, true));
    assert_eq!(r.model_version.as_deref(), Some("m-1"));
    assert_eq!(r.hedged, Some(false));
    assert_ne!(r.tool_fingerprint, version_fingerprint(&f.fp, None));

    let r = failed(&ctx, boom(4, 1500));
    assert_eq!(r.verdict, Verdict::Loud);
    assert_eq!(r.error_class.as_deref(), Some("server"));
    assert_eq!(r.error_message.as_deref(), Some("boom"));
    // A failed request keeps what happened: its attempts and the time they took.
    assert_eq!((r.cost_usd, r.attempts, r.cached), (0.0, 4, false));
    assert_eq!(r.latency_ms, 1500);
    assert!(r.output.is_empty() && r.assertions.is_empty() && r.hedged.is_none());
}

/// A server fault after `attempts` attempts taking `latency_ms` in all.
fn boom(attempts: u32, latency_ms: u64) -> FailedAnswer {
    FailedAnswer {
        error: ProviderError::new(ErrorClass::Server, "boom"),
        latency_ms,
        attempts,
    }
}

#[tokio::test]
async fn a_result_is_written_once() {
    let f = fixture().await;
    let ctx = f.ctx("fine");
    let budget = Mutex::new(Budget::new(None, 0.0));
    let r = failed(&ctx, boom(1, 3));
    let first = write(&ctx, r.clone(), None, &budget, &Silent)
        .await
        .unwrap();
    assert!(first.inserted);
    let again = write(&ctx, r, None, &budget, &Silent).await.unwrap();
    assert!(!again.inserted);
    assert_eq!(ctx.store.result_count(&f.run_id).await.unwrap(), 1);
}

#[tokio::test]
async fn an_item_pays_once_then_is_answered_from_the_cache() {
    let f = fixture().await;
    let provider = f.provider();
    let judge = f.judge();
    let budget = Mutex::new(Budget::new(None, 0.0));
    let ctx = f.ctx("fine");
    let first = evaluate_item(&ctx, provider.as_ref(), &judge, &budget, &Silent)
        .await
        .unwrap()
        .unwrap();
    assert!(!first.result.cached && first.inserted);
    let spent = budget.lock().unwrap().spent;
    assert!(spent > 0.0);
    // Another run asks the same: the answer comes from the cache, for nothing.
    let other = new_run(
        &f.program,
        &RunOptions::default(),
        serde_json::Map::new(),
        5,
    );
    f.store.store.create_run(&other).await.unwrap();
    let ctx = ItemCtx {
        run_id: &other.id,
        ..f.ctx("fine")
    };
    let second = evaluate_item(&ctx, provider.as_ref(), &judge, &budget, &Silent)
        .await
        .unwrap()
        .unwrap();
    assert!(second.result.cached);
    assert_eq!(second.result.output, first.result.output);
    assert_eq!(budget.lock().unwrap().spent, spent);
}

#[tokio::test]
async fn an_item_past_the_budget_sends_nothing_and_writes_nothing() {
    let f = fixture().await;
    let provider = f.provider();
    let budget = Mutex::new(Budget::new(Some(0.0), 0.0));
    let ctx = f.ctx("fine");
    let out = evaluate_item(&ctx, provider.as_ref(), &f.judge(), &budget, &Silent)
        .await
        .unwrap();
    assert!(out.is_none());
    assert!(budget.lock().unwrap().exhausted);
    assert_eq!(ctx.store.result_count(&f.run_id).await.unwrap(), 0);
}
