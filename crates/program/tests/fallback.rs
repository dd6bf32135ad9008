//! `fallback:` on a tool: it must name another tool that shares a tier with it.
#![allow(clippy::unwrap_used)]

use proximity_program::{load, LoadError};

fn program(fallback: &str) -> String {
    format!(
        r#"version: 1
name: fb
tools:
  - id: a
    provider: scripted
    fallback: {fallback}
    params: {{ default_reply: a }}
  - id: b
    provider: scripted
    params: {{ default_reply: b }}
  - id: c
    provider: scripted
    params: {{ default_reply: c }}
tiers:
  - id: t1
    tools: [a, b]
  - id: t2
    tools: [c]
personas:
  - id: p
    headcount: 1
    tier: t1
    workflows: [{{ id: w, share: 1.0, floor: 0.5 }}]
"#
    )
}

fn check(fallback: &str) -> Result<proximity_program::Program, String> {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("proximity.yaml"), program(fallback)).unwrap();
    fs_err::create_dir_all(dir.path().join("suites")).unwrap();
    match load(dir.path()) {
        Ok(p) => Ok(p),
        Err(LoadError::Invalid(d)) => Err(d.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn a_fallback_in_a_common_tier_is_accepted() {
    let p = check("b").unwrap();
    assert_eq!(p.tool("a").unwrap().fallback.as_deref(), Some("b"));
    assert_eq!(p.tool("b").unwrap().fallback, None);
}

#[test]
fn unknown_self_and_cross_tier_fallbacks_are_located_errors() {
    let e = check("nope").unwrap_err();
    assert!(
        e.contains("unknown fallback tool `nope`") && e.contains(":6:"),
        "{e}"
    );
    let e = check("a").unwrap_err();
    assert!(e.contains("falls back to itself"), "{e}");
    let e = check("c").unwrap_err();
    assert!(
        e.contains("fallback `c` shares no tier with tool `a`"),
        "{e}"
    );
}

#[test]
fn a_fallback_does_not_change_the_fingerprint() {
    use proximity_program::fingerprint::config_fingerprint;
    let p = check("b").unwrap();
    let mut a = p.tool("a").unwrap().clone();
    let with = config_fingerprint(&a);
    a.fallback = None;
    assert_eq!(with, config_fingerprint(&a));
    let json = serde_json::to_value(&a).unwrap();
    assert!(json.get("fallback").is_none());
}
