//! The `proximity` binary: parse arguments, run the command, map the outcome to an exit
//! code (0 ok, 1 a finding the caller asked about, 2 bad input or failure).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = proximity::args::Cli::parse();
    proximity::run(cli)
}
