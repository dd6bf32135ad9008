//! `proximity init [DIR]`: scaffold a program — a `proximity.yaml` with one tool, tier and
//! persona, and a suite with two cases — that `proximity check` accepts as it is, with the
//! JSON Schemas of both files in `schemas/` and the `yaml-language-server` line that points
//! editors at them. Existing files are never overwritten.

use std::path::Path;

use anyhow::Context as _;
use proximity_program::schema::{schema, SchemaKind};
use proximity_program::PROGRAM_FILE;

use crate::args::InitArgs;
use crate::Outcome;

const PROGRAM_YAML: &str = r#"# yaml-language-server: $schema=schemas/program.schema.json
# A Proximity program: the AI tools people get, by persona. See docs/program.md.
version: 1
name: my-program

tools:
  # The embedded model (`proximity models pull`), free and offline.
  - id: local
    provider: local
    params: { temperature: 0, max_tokens: 64 }
  # Any OpenAI-compatible endpoint; the key is read from the environment, never stored.
  # - id: gpt-4o-mini
  #   provider: openai
  #   model: gpt-4o-mini
  #   api_key_env: OPENAI_API_KEY
  #   price: { input_per_mtok: 0.15, output_per_mtok: 0.60 }

tiers:
  - id: standard
    tools: [local]
    budget_per_seat_month: 20

personas:
  - id: support-agent
    name: Support agent
    headcount: 10
    tier: standard
    workflows:
      # `share`: the fraction of this persona's real work; shares sum to 1.
      # `floor`: the lowest acceptable real-work pass rate.
      - { id: policy-lookup, share: 0.6, monthly_volume: 2000, floor: 0.9 }
      - { id: customer-reply, share: 0.4, monthly_volume: 1500, floor: 0.8 }
"#;

const SUITE_YAML: &str = r#"# yaml-language-server: $schema=../schemas/suite.schema.json
# Real-work cases of the support agent. See docs/program.md and docs/assertions.md.
persona: support-agent
cases:
  - id: refund-window
    workflow: policy-lookup
    kind: routine
    source: synthetic
    prompt: "Our policy: refunds within 30 days of delivery. How many days do customers have to ask for a refund?"
    assert:
      correct:
        - contains: "30"
  - id: refund-missing-info
    workflow: customer-reply
    kind: edge
    prompt: "Our policy says nothing about gift cards. Can a gift card be refunded? If the policy does not say, say you don't know."
    assert:
      correct:
        - must_abstain: true
"#;

fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    if path.exists() {
        anyhow::bail!("`{}` already exists; not overwriting it", path.display());
    }
    fs_err::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[allow(clippy::print_stdout)]
pub fn run(args: &InitArgs) -> anyhow::Result<Outcome> {
    let dir = &args.dir;
    fs_err::create_dir_all(dir.join("suites"))?;
    write_new(&dir.join(PROGRAM_FILE), PROGRAM_YAML)?;
    write_new(&dir.join("suites").join("support.yaml"), SUITE_YAML)?;
    // Editors with the YAML language server (VS Code, Neovim, …) complete and validate
    // against these; `proximity schema` prints them again after an upgrade.
    fs_err::create_dir_all(dir.join("schemas"))?;
    for kind in [SchemaKind::Program, SchemaKind::Suite] {
        let text = serde_json::to_string_pretty(&schema(kind))? + "\n";
        write_new(&dir.join("schemas").join(kind.file_name()), &text)?;
    }
    let gitignore = dir.join(".gitignore");
    if !gitignore.exists() {
        fs_err::write(&gitignore, ".proximity/\n")?;
    }
    println!("created a program in {}", dir.display());
    println!("next: proximity --program {} check", dir.display());
    println!("      proximity --program {} eval", dir.display());
    Ok(Outcome::Ok)
}
