//! `ARCHITECTURE.md`'s code map against the tree: every file of every crate (its
//! sources, tests, benches, examples, templates, migrations) is named in the map, by
//! itself or by a folder holding it, under its crate's heading; and every path the map
//! names exists. A new file fails this test until the map says what it is.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Per crate, the paths its section of the map names (`src/lib.rs`, `src/pages/`).
fn map_entries(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("### `") {
            current = rest.split('`').next().map(str::to_owned);
            if let Some(c) = &current {
                out.entry(c.clone()).or_default();
            }
            continue;
        }
        if line.starts_with("## ") {
            current = None;
            continue;
        }
        let Some(c) = &current else {
            continue;
        };
        // The first cell's backticked paths: `| `src/a.rs`, `src/a/` | what … |`.
        let Some(cell) = line.strip_prefix('|').and_then(|l| l.split('|').next()) else {
            continue;
        };
        let paths = cell.split('`').skip(1).step_by(2).map(str::to_owned);
        out.get_mut(c).unwrap().extend(paths);
    }
    out
}

/// Every file of a crate, relative to it, but its manifest and insta's snapshots (they
/// belong to the tests that write them).
fn files(dir: &Path, base: &Path, out: &mut Vec<String>) {
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let rel = path
            .strip_prefix(base)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            if !rel.ends_with("snapshots") && rel != "target" {
                files(&path, base, out);
            }
        } else if rel != "Cargo.toml" && !rel.ends_with(".snap") {
            out.push(rel);
        }
    }
}

#[test]
fn the_code_map_names_every_file_and_nothing_that_is_gone() {
    let root = repo();
    let text = fs_err::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let map = map_entries(&text);
    let mut problems = Vec::new();
    let mut crates: Vec<String> = fs_err::read_dir(root.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    for krate in &crates {
        let Some(named) = map.get(krate) else {
            problems.push(format!("crate `{krate}` has no `### `{krate}`` section"));
            continue;
        };
        let base = root.join("crates").join(krate);
        let mut all = Vec::new();
        files(&base, &base, &mut all);
        all.sort();
        for f in &all {
            let covered = named
                .iter()
                .any(|n| n == f || (n.ends_with('/') && f.starts_with(n.as_str())));
            if !covered {
                problems.push(format!("crates/{krate}/{f} is not in the code map"));
            }
        }
        for n in named {
            if !base.join(n.trim_end_matches('/')).exists() {
                problems.push(format!(
                    "the code map names crates/{krate}/{n}, which does not exist"
                ));
            }
        }
    }
    for krate in map.keys() {
        if !crates.contains(krate) {
            problems.push(format!(
                "the code map has a section for `{krate}`, not a crate"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md's code map and the tree disagree:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_map_reader_finds_sections_and_paths() {
    let map = map_entries(
        "## Code map\n### `ops` — actions\n| path | role |\n| --- | --- |\n| `src/lib.rs` | the index, not `src/x.rs` |\n| `src/a.rs`, `src/a/` | a |\n| `tests/` | against a store |\n## Invariants\n| `src/nope.rs` | outside |\n",
    );
    assert_eq!(
        map["ops"],
        vec!["src/lib.rs", "src/a.rs", "src/a/", "tests/"]
    );
    assert_eq!(map.len(), 1);
}
