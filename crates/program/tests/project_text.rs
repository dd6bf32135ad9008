//! The project's text speaks of the project: results and changes are cited by date,
//! commit and results page, never by the numbered round of work they came from. This
//! walks README.md, ARCHITECTURE.md, docs/, bench/ and the crates' Rust sources and
//! Markdown, and fails naming each file:line that cites such a round.
//!
//! The word is assembled from pieces so that this file does not match itself.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// The word a numbered round of work is cited by, built so that it appears nowhere
/// literally.
fn word() -> String {
    ["ses", "sion"].concat()
}

/// Whether `line` holds the word (singular or plural, any case, not inside a longer
/// word) followed by spaces and a digit.
fn cites_round(line: &str, word: &str) -> bool {
    let lower = line.to_lowercase();
    let bytes = lower.as_bytes();
    let mut from = 0;
    while let Some(found) = lower[from..].find(word) {
        let start = from + found;
        let mut i = start + word.len();
        from = i;
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        if bytes.get(i) == Some(&b's') {
            i += 1;
        }
        let spaces = bytes[i..].iter().take_while(|b| **b == b' ').count();
        if spaces > 0 && bytes.get(i + spaces).is_some_and(u8::is_ascii_digit) {
            return true;
        }
    }
    false
}

/// Files under `dir` (recursively) whose names end with one of `exts` (all files when
/// `exts` is empty), skipping hidden folders (`bench/.deps`) and build output.
fn files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let entries = fs_err::read_dir(dir).unwrap();
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                files(&path, exts, out);
            }
        } else if exts.is_empty() || exts.iter().any(|ext| name.ends_with(ext)) {
            out.push(path);
        }
    }
}

#[test]
fn the_pattern_finds_numbered_rounds_and_nothing_else() {
    let w = word();
    let upper = {
        let mut chars = w.chars();
        let first = chars.next().unwrap().to_ascii_uppercase();
        format!("{first}{}", chars.as_str())
    };
    for hit in [
        format!("as measured in {w} 12."),
        format!("{upper} 15: the writer"),
        format!("before the last two {w}s 14 and 15"),
        format!("({w}s  8 and 9)"),
    ] {
        assert!(cites_round(&hit, &w), "missed: {hit}");
    }
    for miss in [
        format!("a {w} of the dashboard"),
        format!("use expectrl::{upper};"),
        format!("{w}_id 12"),
        format!("sub{w} 3"),
        format!("{w}s, 4 of them"),
    ] {
        assert!(!cites_round(&miss, &w), "matched: {miss}");
    }
}

#[test]
fn the_project_text_cites_no_numbered_round_of_work() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut paths = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    files(&root.join("docs"), &[], &mut paths);
    files(&root.join("bench"), &[], &mut paths);
    files(&root.join("crates"), &[".rs", ".md"], &mut paths);
    assert!(
        paths.len() > 50,
        "found only {} files under {}",
        paths.len(),
        root.display()
    );

    let w = word();
    let mut found = Vec::new();
    for path in &paths {
        let bytes = fs_err::read(path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for (n, line) in text.lines().enumerate() {
            if cites_round(line, &w) {
                let shown = path.strip_prefix(&root).unwrap_or(path);
                found.push(format!("{}:{}: {}", shown.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "cite results by date, commit and bench/results page, not by a numbered round of \
         work:\n{}",
        found.join("\n")
    );
}
