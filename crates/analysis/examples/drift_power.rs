//! The numbers in `docs/drift.md`: the exact power of drift's overall test (two-sided exact
//! McNemar at α = 0.05) to detect a 10-point drop at the case counts of the example
//! program, and the simulated false-alarm rate of re-running an unchanged tool with
//! sampling noise (the setting of `crates/cli/tests/it/drift.rs`).
//!
//! `cargo run -p proximity-analysis --example drift_power`
#![allow(clippy::print_stdout)]

use proximity_analysis::paired::{mcnemar_exact, mcnemar_power, PairedCounts, ALPHA};

/// SplitMix64, so the simulation is reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Pass of one case: strict majority of `samples` requests, each right with `p`.
fn case_pass(rng: &mut Rng, p: f64, samples: u32) -> bool {
    let passes = (0..samples).filter(|_| rng.next_f64() < p).count() as u32;
    2 * passes > samples
}

fn main() {
    println!("Exact power of the overall test (two-sided exact McNemar, alpha = {ALPHA}):");
    println!(
        "a 10-point drop, as pass->fail flips on 10% of cases and no fail->pass (deterministic"
    );
    println!("tool), or 12.5% pass->fail and 2.5% fail->pass (a noisy tool, same net drop).");
    println!();
    println!("| cases | where | power (10% -> , 0% <-) | power (12.5% ->, 2.5% <-) |");
    println!("|---|---|---|---|");
    for (n, what) in [
        (20u64, "acme: software-engineer's cases"),
        (21, "acme: finance-analyst's cases"),
        (25, "acme: support-agent's cases"),
        (41, "acme: all cases of `local-json`"),
        (60, "the drift e2e test program"),
        (66, "acme: all cases of `local`, `acme-copilot`"),
        (100, "for comparison"),
        (200, "for comparison"),
    ] {
        println!(
            "| {n} | {what} | {:.2} | {:.2} |",
            mcnemar_power(n, 0.10, 0.0, ALPHA),
            mcnemar_power(n, 0.125, 0.025, ALPHA)
        );
    }

    // False alarms: an unchanged tool, right with p per request, `samples` per case,
    // aggregated by majority; baseline and rerun drawn independently.
    let sims = 200_000u32;
    println!();
    println!("Simulated false-alarm rate of the overall test ({sims} pairs of runs, 60 cases):");
    println!();
    println!("| p right per request | samples | false alarms |");
    println!("|---|---|---|");
    let mut rng = Rng(0x5eed);
    for (p, samples) in [(0.95, 1u32), (0.95, 3), (0.8, 1), (0.8, 3), (0.6, 5)] {
        let mut alarms = 0u32;
        for _ in 0..sims {
            let mut t = PairedCounts::default();
            for _ in 0..60 {
                let before = case_pass(&mut rng, p, samples);
                let after = case_pass(&mut rng, p, samples);
                t.add(before, after);
            }
            if mcnemar_exact(t.pass_to_fail, t.fail_to_pass) <= ALPHA {
                alarms += 1;
            }
        }
        println!(
            "| {p} | {samples} | {:.4} |",
            f64::from(alarms) / f64::from(sims)
        );
    }
}
