//! Test fixtures: a small synthetic program, run and results with fixed timestamps, so
//! scorecard tests and report snapshots are stable.

use chrono::{DateTime, TimeZone, Utc};
use proximity_program::{Persona, Price, Program, ProviderKind, Tier, Tool, ToolParams, Workflow};
use proximity_store::{ResultRecord, RunRecord, RunStatus, Verdict};

pub fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 9, 30, 0)
        .single()
        .expect("valid fixed timestamp")
}

pub fn tool(id: &str, input: f64, output: f64, seat: f64) -> Tool {
    Tool {
        id: id.into(),
        provider: ProviderKind::Scripted,
        model: None,
        base_url: None,
        api_key_env: None,
        model_path: None,
        params: ToolParams::default(),
        capabilities: Vec::new(),
        context_window: None,
        price: Price {
            input_per_mtok: input,
            output_per_mtok: output,
            seat_per_month: seat,
        },
        description: None,
        fallback: None,
    }
}

pub fn workflow(id: &str, share: f64, floor: f64, edge_share: f64, volume: u64) -> Workflow {
    Workflow {
        id: id.into(),
        name: None,
        share,
        monthly_volume: volume,
        floor,
        edge_share,
        live: Default::default(),
        live_sample: proximity_program::DEFAULT_LIVE_SAMPLE,
    }
}

pub fn persona(id: &str, headcount: u32, workflows: Vec<Workflow>) -> Persona {
    Persona {
        id: id.into(),
        name: id.into(),
        headcount,
        tier: "standard".into(),
        workflows,
    }
}

pub fn program(tools: Vec<Tool>, personas: Vec<Persona>) -> Program {
    Program {
        root: "/tmp/acme".into(),
        name: "acme".into(),
        description: None,
        tiers: vec![Tier {
            id: "standard".into(),
            tools: tools.iter().map(|t| t.id.clone()).collect(),
            budget_per_seat_month: None,
            rate_limit: None,
            data_classes: Vec::new(),
            capture_sample: None,
        }],
        tools,
        personas,
        cases: Vec::new(),
        judge_tool: None,
        horizon_days: 90,
    }
}

pub fn run(planned: u64) -> RunRecord {
    RunRecord {
        id: "run-1".into(),
        program: "acme".into(),
        started_at: at(),
        finished_at: Some(at()),
        status: RunStatus::Finished,
        config: serde_json::json!({}),
        planned,
    }
}

/// A failed assertion outcome.
fn outcome(group: &str, assertion: &str, detail: &str) -> proximity_store::AssertionOutcome {
    proximity_store::AssertionOutcome {
        group: group.into(),
        assertion: assertion.into(),
        passed: false,
        detail: detail.into(),
        judge_raw: None,
    }
}

/// One result; adjust the rest with struct update syntax or field assignment.
pub fn result(
    persona: &str,
    tool: &str,
    workflow: &str,
    kind: &str,
    case_id: &str,
    sample: u32,
    verdict: Verdict,
) -> ResultRecord {
    ResultRecord {
        tool_calls: Vec::new(),
        run_id: "run-1".into(),
        case_id: case_id.into(),
        tool_id: tool.into(),
        sample,
        persona: persona.into(),
        workflow: workflow.into(),
        kind: kind.into(),
        source: "synthetic".into(),
        case_weight: 1.0,
        tool_fingerprint: "fp".into(),
        model_version: None,
        output: "ok".into(),
        error_class: None,
        error_message: None,
        input_tokens: 100,
        output_tokens: 20,
        cost_usd: 0.0,
        latency_ms: 100,
        attempts: 1,
        cached: false,
        verdict,
        reason: match verdict {
            Verdict::Pass => "all assertions passed".into(),
            Verdict::Loud => "provider error: timeout".into(),
            Verdict::Structural => "contract: output is not valid JSON".into(),
            Verdict::Silent => "correct: expected \"42\" not found".into(),
        },
        assertions: match verdict {
            Verdict::Silent => vec![outcome(
                "correct",
                "contains \"42\"",
                "\"42\" not found in \"ok\"",
            )],
            Verdict::Structural => vec![outcome(
                "contract",
                "is_json",
                "not JSON (expected value at line 1 column 1): \"ok\"",
            )],
            _ => Vec::new(),
        },
        mean_logprob: None,
        hedged: None,
        created_at: at(),
    }
}

/// `pass` passing and `fail` silently failing results for one workflow-kind cell.
pub fn cell(
    persona: &str,
    tool: &str,
    workflow: &str,
    kind: &str,
    pass: usize,
    fail: usize,
) -> Vec<ResultRecord> {
    (0..pass + fail)
        .map(|i| {
            let verdict = if i < pass {
                Verdict::Pass
            } else {
                Verdict::Silent
            };
            result(
                persona,
                tool,
                workflow,
                kind,
                &format!("{workflow}-{kind}-{i}"),
                0,
                verdict,
            )
        })
        .collect()
}

/// The program and results the report snapshots render: two personas, two tools, a
/// demo case, every verdict, cached results, backticks in a silent failure's output.
pub fn sample() -> (Program, RunRecord, Vec<ResultRecord>) {
    let program = program(
        vec![tool("small", 0.0, 0.0, 0.0), tool("big", 3.0, 15.0, 30.0)],
        vec![
            persona(
                "analyst",
                12,
                vec![
                    workflow("summarise", 0.6, 0.8, 0.4, 400),
                    workflow("extract", 0.3, 0.7, 0.5, 200),
                    workflow("forecast", 0.1, 0.5, 0.4, 50),
                ],
            ),
            persona("support", 40, vec![workflow("reply", 1.0, 0.75, 0.3, 3000)]),
        ],
    );
    let mut results = Vec::new();
    let mut latency = 80;
    let mut push = |mut r: ResultRecord, tool: &str| {
        latency = (latency * 7 + 13) % 900 + 50;
        if r.latency_ms == 100 {
            r.latency_ms = latency;
        }
        if r.error_class.is_none() {
            r.hedged = Some(r.output.contains("maybe"));
        }
        if tool == "big" {
            r.mean_logprob = Some(if r.verdict == Verdict::Pass {
                -0.4
            } else {
                -0.1
            });
            r.cost_usd = 0.0006 + 0.0001 * f64::from(r.sample);
            r.input_tokens = 150;
            r.output_tokens = 10;
        }
        results.push(r);
    };
    for tool in ["big", "small"] {
        let weak = tool == "small";
        for i in 0..4u32 {
            let mut r = result(
                "analyst",
                tool,
                "summarise",
                "routine",
                &format!("sum-r{}", i / 2),
                i % 2,
                if weak && i == 3 {
                    Verdict::Silent
                } else {
                    Verdict::Pass
                },
            );
            r.cached = i == 1;
            push(r, tool);
        }
        for i in 0..2u32 {
            let mut r = result(
                "analyst",
                tool,
                "summarise",
                "edge",
                "sum-e0",
                i,
                if weak || i == 1 {
                    Verdict::Silent
                } else {
                    Verdict::Pass
                },
            );
            r.case_weight = 2.0;
            if r.verdict == Verdict::Silent {
                r.output = "The total is ```42```.\n```\nrm -rf / <script>x</script>\n```".into();
                r.reason = "correct: expected \"41\" | got \"42\"".into();
                r.assertions = vec![outcome(
                    "correct",
                    "numeric 41 ± 0",
                    "last number 42 (\"42\") is not 41",
                )];
            }
            push(r, tool);
        }
        let mut r = result(
            "analyst",
            tool,
            "extract",
            "routine",
            "ext-r0",
            0,
            if weak {
                Verdict::Structural
            } else {
                Verdict::Pass
            },
        );
        r.output = if weak {
            "{\"total\": 4".into()
        } else {
            "{\"total\": 41}".into()
        };
        push(r, tool);
        let mut r = result(
            "analyst",
            tool,
            "extract",
            "edge",
            "ext-e0",
            0,
            Verdict::Loud,
        );
        r.output = String::new();
        r.error_class = Some("timeout".into());
        r.latency_ms = 60_000;
        push(r, tool);
        let mut r = result(
            "analyst",
            tool,
            "summarise",
            "routine",
            "demo-0",
            0,
            Verdict::Pass,
        );
        r.source = "demo".into();
        push(r, tool);
    }
    for i in 0..3u32 {
        let r = result(
            "support",
            "small",
            "reply",
            "routine",
            &format!("reply-{i}"),
            0,
            if i == 2 {
                Verdict::Silent
            } else {
                Verdict::Pass
            },
        );
        push(r, "small");
    }
    let planned = results.len() as u64 + 2;
    (program, run(planned), results)
}

/// A routine result of case `case` (persona `p`, tool `t`, workflow `w`) with `output`.
pub fn with_output(case: &str, sample: u32, verdict: Verdict, output: &str) -> ResultRecord {
    let mut r = result("p", "t", "w", "routine", case, sample, verdict);
    r.output = output.into();
    r
}
