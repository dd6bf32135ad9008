//! Hand-worked examples of the planner, and a property test against brute force.

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::stats::wilson_counts;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
        .single()
        .unwrap()
}

fn cell(pass: u64, n: u64, mean_cost: f64) -> Option<Cell> {
    let ci = wilson_counts(pass, n);
    Some(Cell {
        score: pass as f64 / n as f64,
        ci_low: ci.low,
        n,
        mean_cost_usd: mean_cost,
    })
}

fn option(tool: &str, seat: f64, cells: Vec<Option<Cell>>, silent: f64) -> ToolOption {
    ToolOption {
        tool: tool.into(),
        seat_per_month: seat,
        run_id: format!("run-{tool}"),
        run_started_at: now() - chrono::Duration::days(10),
        cells,
        silent_rate: silent,
        results: 100,
    }
}

fn wf(id: &str, share: f64, floor: f64, volume: u64) -> WorkflowInput {
    WorkflowInput {
        id: id.into(),
        share,
        floor,
        monthly_volume: volume,
    }
}

/// One persona of 10 seats: `cheap` is perfect on w1 and 30/50 on w2; `good` is perfect
/// on both and twice the price per request.
fn example(budget: Option<f64>, w2_floor: f64) -> PlanInput {
    PlanInput {
        personas: vec![PersonaInput {
            id: "analyst".into(),
            headcount: 10,
            tier: "t".into(),
            budget_per_seat: budget,
            workflows: vec![wf("w1", 0.5, 0.5, 100), wf("w2", 0.5, w2_floor, 100)],
            tools: vec![
                option(
                    "cheap",
                    0.0,
                    vec![cell(50, 50, 0.01), cell(30, 50, 0.01)],
                    0.2,
                ),
                option(
                    "good",
                    0.0,
                    vec![cell(50, 50, 0.02), cell(50, 50, 0.02)],
                    0.05,
                ),
            ],
        }],
        horizon_days: 90,
        now: now(),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn one_tool_per_persona_takes_the_cheapest_that_meets_every_floor() {
    let plan = plan(&example(None, 0.8), false).unwrap();
    assert!(plan.feasible);
    let p = &plan.personas[0];
    // `cheap` misses w2 (lower bound of 30/50 is 0.46 < 0.8), so `good`: 100 × 0.02 × 2.
    assert!(p.assignment.iter().all(|c| c.tool == "good"), "{p:?}");
    assert!(close(p.monthly_cost_usd.unwrap(), 4.0));
    assert!(close(p.cost_per_seat_usd.unwrap(), 0.4));
}

#[test]
fn per_workflow_mixes_tools_when_that_is_cheaper() {
    let plan = plan(&example(None, 0.8), true).unwrap();
    let p = &plan.personas[0];
    let tools: Vec<&str> = p.assignment.iter().map(|c| c.tool.as_str()).collect();
    assert_eq!(tools, ["cheap", "good"]);
    assert!(close(p.monthly_cost_usd.unwrap(), 3.0));
}

#[test]
fn seat_prices_can_make_mixing_dearer() {
    let mut input = example(None, 0.8);
    input.personas[0].tools[0].seat_per_month = 1.0; // 10 seats: +10 USD to mix
    let plan = plan(&input, true).unwrap();
    assert!(plan.personas[0].assignment.iter().all(|c| c.tool == "good"));
    assert!(close(plan.personas[0].monthly_cost_usd.unwrap(), 4.0));
}

#[test]
fn the_budget_binds_and_says_so() {
    // 0.2 USD per seat: 2 USD for the persona, and meeting every floor costs 4.
    let plan = plan(&example(Some(0.2), 0.8), false).unwrap();
    assert!(!plan.feasible);
    let b = &plan.personas[0].binding;
    assert_eq!(b.len(), 1, "{b:?}");
    assert!(b[0].contains("tier budget binds"), "{b:?}");
    assert!(b[0].contains("0.40 USD per seat"), "{b:?}");
}

#[test]
fn an_unreachable_floor_binds_and_names_the_workflow() {
    // 50/50 has a lower bound of 0.929: a floor of 0.95 cannot be shown.
    let plan = plan(&example(None, 0.95), false).unwrap();
    assert!(!plan.feasible);
    let b = &plan.personas[0].binding;
    assert!(b[0].contains("floor 0.95 of `w2` binds"), "{b:?}");
    assert!(b[0].contains("0.929"), "{b:?}");
}

#[test]
fn floors_are_judged_on_the_lower_bound_not_the_point_estimate() {
    let mut input = example(None, 0.85);
    // 9/10 = 0.9 ≥ 0.85, but the Wilson lower bound is 0.596.
    input.personas[0].tools[1].cells[1] = cell(9, 10, 0.02);
    let w = what_if(&input, "analyst", "good").unwrap();
    assert_eq!(w.below_floor.len(), 1);
    assert_eq!(w.below_floor[0].workflow, "w2");
    assert!(close(w.below_floor[0].score.unwrap(), 0.9));
    assert!(w.below_floor[0].ci_low.unwrap() < 0.6);
}

#[test]
fn what_if_reports_cost_and_silent_rate_changes() {
    let w = what_if(&example(None, 0.8), "analyst", "cheap").unwrap();
    assert_eq!(w.below_floor.len(), 1);
    assert!(close(w.monthly_cost_usd, 2.0));
    let c = w.compared_with.as_ref().unwrap();
    assert_eq!(c.tool, "good");
    assert!(close(c.cost_change_usd, -2.0));
    assert!(close(c.silent_rate_change, 0.15));
    assert!(w.stale.is_none());
    assert!(matches!(
        what_if(&example(None, 0.8), "analyst", "nope"),
        Err(PlanError::NoEvidence { .. })
    ));
}

#[test]
fn evidence_older_than_the_horizon_is_flagged() {
    let mut input = example(None, 0.8);
    input.personas[0].tools[0].run_started_at = now() - chrono::Duration::days(120);
    let plan = plan(&input, false).unwrap();
    assert_eq!(plan.stale_evidence.len(), 1);
    assert_eq!(plan.stale_evidence[0].tool, "cheap");
    assert_eq!(plan.stale_evidence[0].age_days, 120);
}

#[test]
fn frontier_holds_only_pareto_optimal_assignments() {
    let plan = plan(&example(None, 0.8), false).unwrap();
    // cheap: cost 2, score 0.8; good: cost 4, score 1.0. Neither dominates.
    let pts: Vec<(f64, f64, bool)> = plan
        .frontier
        .iter()
        .map(|p| (p.monthly_cost_usd, p.score, p.feasible))
        .collect();
    assert_eq!(pts.len(), 2);
    assert!(close(pts[0].0, 2.0) && close(pts[0].1, 0.8) && !pts[0].2);
    assert!(close(pts[1].0, 4.0) && close(pts[1].1, 1.0) && pts[1].2);
    assert_eq!(plan.frontier[1].assignment["analyst"], "good");
}

// ------------------------------------------------------------------ brute force

/// Every whole-program assignment: per persona, per workflow, a tool index.
fn all_assignments(input: &PlanInput, per_workflow: bool) -> Vec<Vec<Vec<usize>>> {
    let mut out: Vec<Vec<Vec<usize>>> = vec![Vec::new()];
    for p in &input.personas {
        let nw = p.workflows.len();
        let nt = p.tools.len();
        let mut choices: Vec<Vec<usize>> = Vec::new();
        if per_workflow {
            let total = nt.pow(nw as u32);
            for mut code in 0..total {
                let mut c = Vec::with_capacity(nw);
                for _ in 0..nw {
                    c.push(code % nt);
                    code /= nt;
                }
                choices.push(c);
            }
        } else {
            choices = (0..nt).map(|t| vec![t; nw]).collect();
        }
        let mut next = Vec::new();
        for a in &out {
            for c in &choices {
                let mut a = a.clone();
                a.push(c.clone());
                next.push(a);
            }
        }
        out = next;
    }
    out
}

fn brute(input: &PlanInput, per_workflow: bool) -> (Option<f64>, Vec<(f64, f64)>) {
    let heads: f64 = input.personas.iter().map(|p| f64::from(p.headcount)).sum();
    let mut best: Option<f64> = None;
    let mut points = Vec::new();
    for a in all_assignments(input, per_workflow) {
        let mut cost = 0.0;
        let mut score = 0.0;
        let mut ok = true;
        for (p, choice) in input.personas.iter().zip(&a) {
            let (c, s) = p.evaluate(choice);
            cost += c;
            score += f64::from(p.headcount) / heads * s;
            ok &= p.feasible(choice);
        }
        if ok && best.is_none_or(|b| cost < b) {
            best = Some(cost);
        }
        points.push((cost, score, Vec::new()));
    }
    let front = pareto(points).into_iter().map(|(c, s, _)| (c, s)).collect();
    (best, front)
}

prop_compose! {
    fn arb_cell()(n in 1_u64..=20, frac in 0.0_f64..=1.0, cost in 0_u8..=3, missing in 0_u8..8)
        -> Option<Cell> {
        if missing == 0 {
            return None;
        }
        let pass = (frac * n as f64).round() as u64;
        cell(pass, n, f64::from(cost))
    }
}

fn arb_persona(nt: usize) -> impl Strategy<Value = PersonaInput> {
    (1_usize..=3, 1_u32..=4, prop::option::of(0_u8..=30)).prop_flat_map(
        move |(nw, heads, budget)| {
            (
                prop::collection::vec(
                    (
                        1_u8..=4,
                        prop::sample::select(vec![0.0, 0.3, 0.5, 0.7, 0.9]),
                        0_u64..=10,
                    ),
                    nw,
                ),
                prop::collection::vec(
                    (
                        0_u8..=5,
                        prop::collection::vec(arb_cell(), nw),
                        0.0_f64..=1.0,
                    ),
                    nt,
                ),
            )
                .prop_map(move |(wfs, tools)| PersonaInput {
                    id: String::new(),
                    headcount: heads,
                    tier: "t".into(),
                    budget_per_seat: budget.map(f64::from),
                    workflows: wfs
                        .into_iter()
                        .enumerate()
                        .map(|(i, (share, floor, vol))| {
                            wf(&format!("w{i}"), f64::from(share) / 4.0, floor, vol)
                        })
                        .collect(),
                    tools: tools
                        .into_iter()
                        .enumerate()
                        .map(|(i, (seat, cells, silent))| {
                            option(&format!("t{i}"), f64::from(seat), cells, silent)
                        })
                        .collect(),
                })
        },
    )
}

fn arb_input() -> impl Strategy<Value = PlanInput> {
    (1_usize..=3, 1_usize..=3).prop_flat_map(|(np, nt)| {
        prop::collection::vec(arb_persona(nt), np).prop_map(|mut personas| {
            for (i, p) in personas.iter_mut().enumerate() {
                p.id = format!("p{i}");
            }
            PlanInput {
                personas,
                horizon_days: 90,
                now: now(),
            }
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn planner_optimum_and_frontier_equal_brute_force(input in arb_input(), per_workflow in any::<bool>()) {
        let plan = plan(&input, per_workflow).unwrap();
        let (best, front) = brute(&input, per_workflow);
        prop_assert_eq!(plan.feasible, best.is_some());
        if let Some(best) = best {
            prop_assert!((plan.monthly_cost_usd - best).abs() < 1e-6,
                "planner {} vs brute force {}", plan.monthly_cost_usd, best);
        }
        // Every chosen assignment is feasible and costs what the plan says.
        for (pp, p) in plan.personas.iter().zip(&input.personas) {
            if pp.assignment.is_empty() {
                prop_assert!(!pp.binding.is_empty());
                continue;
            }
            let choice: Vec<usize> = pp.assignment.iter()
                .map(|c| p.tools.iter().position(|t| t.tool == c.tool).unwrap())
                .collect();
            prop_assert!(p.feasible(&choice));
            prop_assert!((p.evaluate(&choice).0 - pp.monthly_cost_usd.unwrap()).abs() < 1e-6);
        }
        let ours: Vec<(f64, f64)> = plan.frontier.iter().map(|f| (f.monthly_cost_usd, f.score)).collect();
        prop_assert_eq!(ours.len(), front.len(), "ours {:?} brute {:?}", ours, front);
        for (a, b) in ours.iter().zip(&front) {
            prop_assert!((a.0 - b.0).abs() < 1e-6 && (a.1 - b.1).abs() < 1e-6, "ours {:?} brute {:?}", ours, front);
        }
    }
}

/// The largest program the planner promises to solve exactly: 20 personas × 10 tools
/// (1–3 workflows each, random measurements), one tool per workflow.
#[test]
fn twenty_personas_by_ten_tools_per_workflow_is_solved() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let personas: Vec<PersonaInput> = (0..20)
        .map(|i| {
            let strategy = arb_persona(10);
            let mut p = strategy.new_tree(&mut runner).unwrap().current();
            p.id = format!("p{i}");
            p
        })
        .collect();
    let input = PlanInput {
        personas,
        horizon_days: 90,
        now: now(),
    };
    let started = std::time::Instant::now();
    let plan = plan(&input, true).unwrap();
    eprintln!(
        "20 × 10 per workflow: {:?}, {} frontier points",
        started.elapsed(),
        plan.frontier.len()
    );
    assert_eq!(plan.personas.len(), 20);
    assert!(!plan.frontier.is_empty());
}
