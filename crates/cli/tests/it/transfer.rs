//! End-to-end: the store-wide commands on the real binary. A program's SQLite store with
//! real rows (a scripted `eval`, a virtual key, a field note) is exported, imported into
//! a fresh PostgreSQL database (when `PROXIMITY_TEST_DATABASE_URL` names a server), and
//! must give the same scorecard and export the same rows; `migrate` is explicit and
//! idempotent; `import` names malformed lines and refuses a store with rows.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::*;

fn ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "failed ({:?}):\n{}\n{}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    out
}

/// `proximity` with `--database-url` only: no program.
fn on_url(url: &str, cwd: &Path) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(cwd)
        .env_remove("PROXIMITY_DATABASE_URL")
        .env_remove("PROXIMITY_PROGRAM")
        .env("NO_COLOR", "1")
        .args(["--database-url", url]);
    c
}

/// A program store with real rows: an evaluation of the scripted tool, a key, a note.
fn populate(root: &Path) {
    let out = run(proximity(root).args([
        "--quiet",
        "eval",
        "--tool",
        "acme-copilot",
        "--format",
        "json",
    ]));
    // Exit 1: workflows below their floor, which the example program has on purpose.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "eval failed: {}",
        stderr(&out)
    );
    ok(proximity(root).args([
        "keys",
        "create",
        "--persona",
        "finance-analyst",
        "--name",
        "ana",
    ]));
    ok(proximity(root).args([
        "note",
        "add",
        "--author",
        "ana",
        "--role",
        "practitioner",
        "--persona",
        "finance-analyst",
        "--tool",
        "acme-copilot",
        "--workflow",
        "expense-review",
        "--task",
        "Check a chair claim",
        "--what-happened",
        "It said \"reimbursable\"; the policy says not.",
        "--outcome",
        "failed_silently",
        "--failure-mode",
        "hallucination",
        "--minutes-saved",
        "2.5",
        "--minutes-lost",
        "30",
        "--date",
        "2026-11-20",
    ]));
}

/// An export's rows, without its header (which names the backend and the time).
fn rows(export: &str) -> &str {
    let (header, rows) = export.split_once('\n').unwrap();
    let header: Value = serde_json::from_str(header).unwrap();
    assert_eq!(header["proximity_export"], 1, "{header}");
    rows
}

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_program_store_moves_to_postgres_and_keeps_its_scorecard_and_rows() {
    let (dir, root) = acme();
    populate(&root);
    let file = dir.path().join("acme.jsonl");
    let out = ok(proximity(&root).args(["export", "--out"]).arg(&file));
    let progress = stderr(&out);
    assert!(progress.contains("results"), "{progress}");
    assert!(progress.contains("virtual_keys"), "{progress}");
    let export = fs_err::read_to_string(&file).unwrap();
    let lines: Vec<&str> = rows(&export).lines().collect();
    for table in ["runs", "results", "virtual_keys", "field_notes"] {
        let prefix = format!("{{\"table\":\"{table}\"");
        assert!(
            lines.iter().any(|l| l.starts_with(&prefix)),
            "no `{table}` row in the export"
        );
    }
    // Runs come before their results.
    let first = |t: &str| {
        let prefix = format!("{{\"table\":\"{t}\"");
        lines.iter().position(|l| l.starts_with(&prefix)).unwrap()
    };
    assert!(first("runs") < first("results"));
    let sqlite_report = report_json(&root);

    let Some(pg) = tokio().block_on(proximity_store::testing::fresh_postgres_url()) else {
        return;
    };
    // A fresh database: `migrate --check` reports every migration pending.
    let check = run(on_url(&pg, dir.path()).args(["migrate", "--check"]));
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    assert!(
        stdout(&check).contains("pending migration"),
        "{}",
        stdout(&check)
    );
    let out = ok(on_url(&pg, dir.path()).arg("migrate"));
    assert!(stdout(&out).starts_with("applied "), "{}", stdout(&out));
    ok(on_url(&pg, dir.path()).arg("import").arg(&file));
    let pg_report: Value = serde_json::from_slice(
        &ok(proximity(&root).args(["--database-url", &pg, "report", "--format", "json"])).stdout,
    )
    .unwrap();
    assert_eq!(pg_report, sqlite_report);
    let pg_export = stdout(&ok(on_url(&pg, dir.path()).args(["--quiet", "export"])));
    assert_eq!(rows(&pg_export), rows(&export));
    let header: Value = serde_json::from_str(pg_export.lines().next().unwrap()).unwrap();
    assert_eq!(header["source_backend"], "postgres");
    // New rows after the import get new ids: the note sequence moved past the imported one.
    let note = ok(proximity(&root).args([
        "--database-url",
        &pg,
        "note",
        "add",
        "--author",
        "bo",
        "--role",
        "leader",
        "--persona",
        "finance-analyst",
        "--tool",
        "acme-copilot",
        "--task",
        "t",
        "--what-happened",
        "fine",
        "--outcome",
        "worked",
        "--minutes-saved",
        "1",
        "--minutes-lost",
        "0",
    ]));
    assert_eq!(stdout(&note).trim(), "recorded note 2");
    let pg_export = stdout(&ok(on_url(&pg, dir.path()).args(["--quiet", "export"])));
    assert_eq!(
        rows(&pg_export).lines().count(),
        rows(&export).lines().count() + 1
    );

    // And back, through standard input, into a new SQLite file.
    let back = format!("sqlite://{}", dir.path().join("back.db").display());
    let mut import = on_url(&back, dir.path());
    import
        .args(["import", "-"])
        .stdin(std::process::Stdio::piped());
    import.stdout(std::process::Stdio::piped());
    import.stderr(std::process::Stdio::piped());
    let mut child = import.spawn().unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(pg_export.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let back_export = stdout(&ok(on_url(&back, dir.path()).args(["--quiet", "export"])));
    assert_eq!(rows(&back_export), rows(&pg_export));
}

#[test]
fn migrate_is_explicit_and_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let check = run(on_url(&url, dir.path()).args(["migrate", "--check"]));
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    // Other commands refuse a store behind its schema under `--no-migrate`.
    let refused = run(on_url(&url, dir.path()).args(["--no-migrate", "export"]));
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("run `proximity migrate`"),
        "{}",
        stderr(&refused)
    );
    let first = stdout(&ok(on_url(&url, dir.path()).arg("migrate")));
    assert!(first.starts_with("applied "), "{first}");
    let version = first
        .trim()
        .rsplit_once("(schema ")
        .map(|(_, v)| v.trim_end_matches(')').to_owned())
        .unwrap();
    let again = stdout(&ok(on_url(&url, dir.path()).arg("migrate")));
    assert_eq!(again.trim(), format!("up to date (schema {version})"));
    let check = ok(on_url(&url, dir.path()).args(["migrate", "--check"]));
    assert_eq!(
        stdout(&check).trim(),
        format!("up to date (schema {version})")
    );
    ok(on_url(&url, dir.path()).args(["--no-migrate", "--quiet", "export"]));
}

#[test]
fn import_names_malformed_lines_and_refuses_a_store_with_rows() {
    let (dir, root) = acme();
    populate(&root);
    let file = dir.path().join("acme.jsonl");
    ok(proximity(&root)
        .args(["--quiet", "export", "--out"])
        .arg(&file));
    let export = fs_err::read_to_string(&file).unwrap();

    // Into the same store: refused, with the way out.
    let refused = run(proximity(&root).arg("import").arg(&file));
    assert_eq!(refused.status.code(), Some(2));
    let err = stderr(&refused);
    assert!(err.contains("already holds rows"), "{err}");
    assert!(err.contains("--merge"), "{err}");
    // With `--merge` every row is there already: nothing changes.
    ok(proximity(&root)
        .args(["--quiet", "import", "--merge"])
        .arg(&file));
    let after = stdout(&ok(proximity(&root).args(["--quiet", "export"])));
    assert_eq!(rows(&after), rows(&export));

    // A malformed line, into an empty store.
    let header = export.lines().next().unwrap();
    let bad = dir.path().join("bad.jsonl");
    let first_row = export.lines().nth(1).unwrap();
    fs_err::write(&bad, format!("{header}\n{first_row}\n{{\"row\": {{}}}}\n")).unwrap();
    let empty = format!("sqlite://{}", dir.path().join("empty.db").display());
    let out = run(on_url(&empty, dir.path()).arg("import").arg(&bad));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("line 3: expected a JSON object with \"table\" and \"row\""),
        "{}",
        stderr(&out)
    );
}
