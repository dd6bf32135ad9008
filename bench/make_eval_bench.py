#!/usr/bin/env python3
"""Write the same evaluation twice: as a Proximity program and as a promptfoo config.

Usage: make_eval_bench.py CASES OUT_DIR UPSTREAM_BASE_URL

  OUT_DIR/proximity/proximity.yaml        two `openai` tools (a, b) on one tier, one persona
  OUT_DIR/proximity/suites/bench.yaml     CASES cases
  OUT_DIR/promptfoo/promptfooconfig.yaml  the same two providers, the same CASES tests

Every case has its own prompt ("Case N: reply with the word ok.") and the same
assertions on both sides: contains `ok` and regex `^o\\w$`, plus is-json on every third
case. The instant upstream answers `ok`, so every third case fails (not JSON) and the rest
pass: both tools must report the same pass counts, which is how we know they did the same
work.
"""
import json
import os
import sys

REGEX = r"^o\w$"


def q(s: str) -> str:
    """A YAML scalar: JSON strings are valid YAML flow scalars."""
    return json.dumps(s)


def write_proximity(n: int, out: str, base_url: str) -> None:
    os.makedirs(os.path.join(out, "suites"), exist_ok=True)
    tools = []
    for tid in ("a", "b"):
        tools.append(
            f"""  - id: {tid}
    provider: openai
    model: instant
    base_url: {q(base_url)}
    api_key_env: PROXIMITY_BENCH_KEY
    context_window: 8192
    capabilities: [chat]
    params: {{ max_tokens: 16, temperature: 0, max_attempts: 1 }}
    price: {{ input_per_mtok: 0, output_per_mtok: 0, seat_per_month: 0 }}
"""
        )
    with open(os.path.join(out, "proximity.yaml"), "w") as f:
        f.write(
            "version: 1\nname: eval-bench\ntools:\n"
            + "".join(tools)
            + """tiers:
  - id: bench
    tools: [a, b]
    budget_per_seat_month: 1000000
personas:
  - id: bench
    headcount: 1
    tier: bench
    workflows: [{ id: w, share: 1.0, floor: 0.5 }]
"""
        )
    with open(os.path.join(out, "suites", "bench.yaml"), "w") as f:
        f.write("persona: bench\ncases:\n")
        for i in range(n):
            f.write(
                f"""  - id: c{i:06d}
    workflow: w
    prompt: {q(f"Case {i}: reply with the word ok.")}
    assert:
{"      contract: [{ is_json: true }]" + chr(10) if i % 3 == 0 else ""}      correct:
        - contains: ok
        - regex: {q(REGEX)}
"""
            )


def write_promptfoo(n: int, out: str, base_url: str) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "promptfooconfig.yaml"), "w") as f:
        f.write('description: eval-bench\nprompts: ["{{prompt}}"]\nproviders:\n')
        for label in ("a", "b"):
            f.write(
                f"""  - id: openai:chat:instant
    label: {label}
    config: {{ apiBaseUrl: {q(base_url)}, apiKey: unused, max_tokens: 16, temperature: 0 }}
"""
            )
        f.write("tests:\n")
        for i in range(n):
            f.write(
                f"""  - vars: {{ prompt: {q(f"Case {i}: reply with the word ok.")} }}
    assert:
{"      - type: is-json" + chr(10) if i % 3 == 0 else ""}      - type: contains
        value: ok
      - type: regex
        value: {q(REGEX)}
"""
            )


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    n, out, base_url = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    write_proximity(n, os.path.join(out, "proximity"), base_url)
    write_promptfoo(n, os.path.join(out, "promptfoo"), base_url)


if __name__ == "__main__":
    main()
