//! The static report (`proximity report RUN --format html --out DIR`): self-contained
//! pages with relative links that all resolve, no script, escaped model output; the
//! overview and a result page snapshotted (times, paths and run ids filtered).
#![allow(clippy::unwrap_used)]

mod common;

use proximity_web::render_static_site;

fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn static_site_is_self_contained_and_links_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let (program, store) = common::seeded(dir.path()).await;
    let out = dir.path().join("site");
    let files = render_static_site(&program, &store, "r1", &out)
        .await
        .unwrap();
    assert_eq!(files[0], out.join("index.html"));
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "index.html",
        "run.html",
        "field-log.html",
        "decisions.html",
        "usage.html",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    assert!(names.iter().any(|n| n.starts_with("persona-")));
    assert!(names.iter().any(|n| n.starts_with("tool-")));
    assert!(names.iter().any(|n| n.starts_with("result-")));

    for f in &files {
        let html = fs_err::read_to_string(f).unwrap();
        assert!(!html.contains("<script"), "{}", f.display());
        assert!(!html.contains("<img"), "{}", f.display());
        assert!(!html.contains("<form"), "{}: no forms offline", f.display());
        assert!(html.contains("<style>"), "inline CSS");
        assert!(
            html.contains(
                "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';"
            ),
            "{}: the CSP travels with the file",
            f.display()
        );
        for href in hrefs(&html) {
            if href.starts_with("data:") {
                continue;
            }
            assert!(
                !href.starts_with('/') && !href.contains("://"),
                "{}: absolute link {href}",
                f.display()
            );
            let target = href.split(['#', '?']).next().unwrap();
            assert!(
                out.join(target).is_file(),
                "{}: {href} is missing",
                f.display()
            );
        }
    }

    let filters = vec![
        (
            r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?( UTC)?",
            "[TIME]",
        ),
        (r"/tmp/[^\s<]*", "[PATH]"),
        (r"\br1\b", "[RUN]"),
    ];
    let index = fs_err::read_to_string(out.join("index.html")).unwrap();
    insta::with_settings!({ filters => filters.clone() }, {
        insta::assert_snapshot!("static_index", index);
    });
    let evil = files
        .iter()
        .filter(|f| f.to_string_lossy().contains("result-"))
        .map(|f| fs_err::read_to_string(f).unwrap())
        .find(|html| html.contains("alert(1)"))
        .expect("a page of a seeded injection attempt");
    assert!(evil.contains("&lt;script&gt;alert(1)"), "shown as text");
    insta::with_settings!({ filters => filters }, {
        insta::assert_snapshot!("static_result_injection", evil);
    });
}
