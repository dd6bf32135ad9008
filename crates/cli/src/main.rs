//! The `proximity` binary: parse arguments, run the command, map the outcome to an exit
//! code (0 ok, 1 a finding the caller asked about, 2 bad input or failure).

use std::process::ExitCode;

use clap::Parser;

/// jemalloc, not glibc's malloc: a long `proximity eval` (100,000 cases) peaks at the
/// footprint of a 10,000-case one instead of growing with its length (glibc's per-thread
/// arenas fragment), and the gateway is no slower. See `bench/results/2026-11-26.md`.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = proximity::args::Cli::parse();
    proximity::run(cli)
}
