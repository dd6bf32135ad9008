//! End-to-end: `proximity serve` on a copy of the example program with a real run in it,
//! driven by headless Chromium (through `headless_chrome`, over the DevTools protocol):
//! every page loads with its key figures and without a console error, a field note is
//! submitted through the form and listed, then promoted to a case, and screenshots land
//! in `target/test-artifacts/dashboard/`.
//! Then `proximity report RUN --format html --out DIR` writes the static site.
//!
//! Without Chromium the browser part is skipped with a note, unless
//! `PROXIMITY_REQUIRE_BROWSER=1` (as in CI), where it fails.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions};

use crate::common::*;

pub(crate) fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("CHROME") {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// The server process, killed when the test ends.
pub(crate) struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts/dashboard");
    fs_err::create_dir_all(&dir).unwrap();
    dir
}

/// `proximity serve` of `program` on a free port: the process (killed when dropped) and
/// the dashboard's base URL, without a trailing slash.
pub(crate) fn serve(program: &Path) -> (Serve, String) {
    let mut child = proximity(program)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let serve = Serve(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("dashboard on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .trim_end_matches('/')
        .to_owned();
    (serve, base)
}

/// Wait until the tab's URL contains `part` (a click starts a navigation a moment later).
fn wait_for_url(tab: &headless_chrome::Tab, part: &str) {
    for _ in 0..200 {
        if tab.get_url().contains(part) {
            tab.wait_until_navigated().unwrap();
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("never reached a URL with `{part}`: at {}", tab.get_url());
}

fn pct(v: &serde_json::Value) -> String {
    format!("{:.0}%", v.as_f64().unwrap() * 100.0)
}

#[test]
fn dashboard_in_a_real_browser() {
    let Some(chrome) = chromium() else {
        if std::env::var("PROXIMITY_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("PROXIMITY_REQUIRE_BROWSER=1 but no Chromium: apt-get install chromium");
        }
        eprintln!("note: skipping the browser test: no Chromium (apt-get install chromium)");
        return;
    };

    // A copy of the example program with a real run of the scripted vendor tool.
    let tmp = tempfile::tempdir().unwrap();
    let program = tmp.path().join("acme");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme"),
        &program,
    );
    let eval = run(proximity(&program).args(["eval", "--tool", "acme-copilot", "-q"]));
    assert!(
        matches!(eval.status.code(), Some(0 | 1)),
        "eval failed: {}",
        stderr(&eval)
    );
    let report = report_json(&program);
    let run_id = report["run_id"].as_str().unwrap().to_owned();
    let pair = report["scorecard"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["persona"] == "support-agent" && r["tool"] == "acme-copilot")
        .unwrap()
        .clone();
    let real_work = pct(&pair["real_work_score"]["value"]);
    let silent = pct(&pair["silent_failure_rate"]["value"]);
    let first_failure = report["silent_failures"][0]["case_id"]
        .as_str()
        .map(str::to_owned);

    // The real server on a free port.
    let (_serve, base) = serve(&program);

    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::new(LaunchOptions {
        headless: true,
        sandbox: false,
        enable_gpu: false,
        path: Some(chrome),
        user_data_dir: Some(profile.path().to_owned()),
        window_size: Some((1280, 1000)),
        idle_browser_timeout: Duration::from_secs(120),
        ..LaunchOptions::default()
    })
    .unwrap();
    let tab = browser.new_tab().unwrap();
    tab.set_default_timeout(Duration::from_secs(30));
    let console: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = console.clone();
    tab.enable_log().unwrap();
    tab.enable_runtime().unwrap();
    tab.add_event_listener(Arc::new(move |event: &Event| {
        let message = match event {
            Event::LogEntryAdded(e) if format!("{:?}", e.params.entry.level) == "Error" => Some(
                format!("log: {} ({:?})", e.params.entry.text, e.params.entry.url),
            ),
            Event::RuntimeExceptionThrown(e) => {
                Some(format!("exception: {:?}", e.params.exception_details.text))
            }
            Event::RuntimeConsoleAPICalled(e) if format!("{:?}", e.params.Type) == "Error" => {
                Some(format!("console.error: {:?}", e.params.args))
            }
            _ => None,
        };
        if let Some(m) = message {
            sink.lock().unwrap().push(m);
        }
    }))
    .unwrap();

    let shots = artifacts();
    let visit = |name: &str, path: &str, expect: &[&str]| -> String {
        tab.navigate_to(&format!("{base}{path}"))
            .unwrap()
            .wait_until_navigated()
            .unwrap();
        let html = tab.get_content().unwrap();
        for e in expect {
            assert!(html.contains(e), "{path}: `{e}` not on the page");
        }
        let png = tab
            .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
            .unwrap();
        fs_err::write(shots.join(format!("{name}.png")), png).unwrap();
        html
    };

    visit(
        "overview",
        "/",
        &[
            "<svg class=\"heatmap\"",
            &format!("support-agent × acme-copilot: real-work score {real_work}"),
            &silent,
            "Cost per month",
            "Decisions due for review",
            "Drift alerts",
            "Coverage gaps",
            &run_id,
        ],
    );
    visit("runs", "/runs", &[&run_id, "eval"]);
    visit(
        "persona",
        "/persona/support-agent",
        &[
            "ticket-triage",
            "If standardised on one tool",
            "acme-copilot",
        ],
    );
    visit(
        "tool",
        "/tool/acme-copilot",
        &[
            "Fingerprint history",
            "1 distinct fingerprint",
            "Context fill",
        ],
    );
    let run_page = visit(
        "run",
        &format!("/run/{run_id}?verdict=silent"),
        &["class=\"v-silent\""],
    );
    assert!(!run_page.contains("class=\"v-pass\""), "the filter applies");
    if let Some(case) = first_failure {
        // Open the first listed result from the run page, as a person would.
        tab.find_element("td a").unwrap().click().unwrap();
        wait_for_url(&tab, "/result/");
        let html = tab.get_content().unwrap();
        assert!(html.contains("Assertions") && html.contains("Expected"));
        assert!(html.contains("silent"));
        let png = tab
            .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
            .unwrap();
        fs_err::write(shots.join("result.png"), png).unwrap();
        let _ = case;
    }
    visit("decisions", "/decisions", &["Decisions"]);
    visit("usage", "/usage", &["Usage &amp; spend"]);

    // A field note through the form: it is stored and listed, its text escaped.
    visit(
        "field-log",
        "/field-log",
        &["Add a note", "id=\"add-note\"", "No field notes yet"],
    );
    tab.find_element("input[name=author]")
        .unwrap()
        .type_into("Ana")
        .unwrap();
    tab.find_element("textarea[name=task]")
        .unwrap()
        .type_into("Refund window for a damaged kettle")
        .unwrap();
    tab.find_element("textarea[name=what_happened]")
        .unwrap()
        .type_into("It said 14 days <script>alert(1)</script>; the policy says 30.")
        .unwrap();
    // Pick the workflow (the select's default is none; a note needs one to be promoted).
    tab.find_element("select[name=workflow]")
        .unwrap()
        .call_js_fn(
            "function() { this.value = 'policy-lookup'; }",
            vec![],
            false,
        )
        .unwrap();
    tab.find_element("textarea[name=prompt]")
        .unwrap()
        .type_into("How long is the refund window for a damaged kettle?")
        .unwrap();
    tab.find_element("input[name=minutes_lost]")
        .unwrap()
        .type_into("20")
        .unwrap();
    tab.find_element("#add-note button[type=submit]")
        .unwrap()
        .click()
        .unwrap();
    wait_for_url(&tab, "notice=");
    assert!(
        tab.get_url().ends_with("/field-log?notice=added"),
        "{}",
        tab.get_url()
    );
    let after = tab.get_content().unwrap();
    assert!(after.contains("The note was added"));
    assert!(after.contains("Refund window for a damaged kettle"));
    assert!(after.contains("&lt;script&gt;alert(1)"), "shown as text");
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    fs_err::write(shots.join("field-log-submitted.png"), png).unwrap();
    // Promote it to a case, with the assertion the author confirms.
    tab.find_element("#notes input[name=must_contain]")
        .unwrap()
        .type_into("30 days")
        .unwrap();
    tab.find_element("#notes button[type=submit]")
        .unwrap()
        .click()
        .unwrap();
    wait_for_url(&tab, "notice=promoted");
    let promoted = tab.get_content().unwrap();
    assert!(promoted.contains("The note was promoted to a case"));
    assert!(promoted.contains("field-note-1"), "the note links its case");
    let suites = fs_err::read_to_string(program.join("suites/support.yaml")).unwrap();
    assert!(suites.contains("source: field") && suites.contains("30 days"));

    let errors = console.lock().unwrap().clone();
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // The static report of the same run.
    let site = tmp.path().join("site");
    let out = run(proximity(&program).args([
        "report",
        &run_id,
        "--format",
        "html",
        "--out",
        site.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let index = fs_err::read_to_string(site.join("index.html")).unwrap();
    assert!(index.contains(&format!(
        "support-agent × acme-copilot: real-work score {real_work}"
    )));
    tab.navigate_to(&format!("file://{}", site.join("index.html").display()))
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    fs_err::write(shots.join("static-index.png"), png).unwrap();
}
