#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use marked_yaml::types::MarkedScalarNode;

use super::*;
use crate::yaml::loader_options;

/// Whether two trees are the same, spans and coercion flags included (marked-yaml's
/// `PartialEq` ignores spans).
fn same(a: &Node, b: &Node, at: &str) -> Result<(), String> {
    if a.span() != b.span() {
        return Err(format!("{at}: span {:?} != {:?}", a.span(), b.span()));
    }
    match (a, b) {
        (Node::Scalar(x), Node::Scalar(y)) => same_scalar(x, y, at),
        (Node::Sequence(x), Node::Sequence(y)) => {
            if x.len() != y.len() {
                return Err(format!("{at}: {} items != {}", x.len(), y.len()));
            }
            for (i, (x, y)) in x.iter().zip(y.iter()).enumerate() {
                same(x, y, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        (Node::Mapping(x), Node::Mapping(y)) => {
            if x.len() != y.len() {
                return Err(format!("{at}: {} keys != {}", x.len(), y.len()));
            }
            for ((kx, vx), (ky, vy)) in x.iter().zip(y.iter()) {
                let here = format!("{at}.{}", kx.as_str());
                same_scalar(kx, ky, &format!("{here} (key)"))?;
                same(vx, vy, &here)?;
            }
            Ok(())
        }
        _ => Err(format!("{at}: {a:?} is not the same kind as {b:?}")),
    }
}

fn same_scalar(a: &MarkedScalarNode, b: &MarkedScalarNode, at: &str) -> Result<(), String> {
    if a.span() != b.span() {
        return Err(format!("{at}: span {:?} != {:?}", a.span(), b.span()));
    }
    if a.as_str() != b.as_str() || a.may_coerce() != b.may_coerce() {
        return Err(format!(
            "{at}: {:?} (coerce {}) != {:?} (coerce {})",
            a.as_str(),
            a.may_coerce(),
            b.as_str(),
            b.may_coerce()
        ));
    }
    Ok(())
}

/// Stream `text` on `key`, then put the streamed items back into the list they came from.
fn reassembled(text: &str, key: &str) -> Option<Node> {
    let mut items = Vec::new();
    let mut top = parse_streaming(5, text.chars(), key, |item, _| items.push(item))?;
    if !items.is_empty() {
        let list = top
            .as_mapping_mut()
            .and_then(|m| m.get_mut(key))
            .and_then(Node::as_sequence_mut)
            .expect("streamed items come from a top-level list");
        assert!(list.is_empty(), "streamed items are not kept");
        list.extend(items);
    }
    Some(top)
}

/// The streamed tree equals marked-yaml's, and a file marked-yaml rejects is given up on.
fn assert_like_marked_yaml(name: &str, text: &str) {
    let expected = marked_yaml::parse_yaml_with_options(5, text, loader_options());
    for key in ["cases", "tools", "not-a-key"] {
        match (&expected, reassembled(text, key)) {
            (Ok(want), Some(got)) => {
                if let Err(e) = same(want, &got, "$") {
                    panic!("{name} (streaming `{key}`): {e}");
                }
                assert_eq!(format!("{want:?}"), format!("{got:?}"), "{name}");
            }
            (Err(_), None) => {}
            (Ok(_), None) => panic!("{name} (streaming `{key}`): gave up on a valid file"),
            (Err(e), Some(_)) => panic!("{name} (streaming `{key}`): accepted, marked-yaml: {e}"),
        }
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
}

#[test]
fn every_example_file_streams_to_marked_yamls_tree() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files = Vec::new();
    yaml_files(&examples, &mut files);
    assert!(files.len() >= 4, "examples found: {files:?}");
    for file in files {
        let text = fs_err::read_to_string(&file).unwrap();
        assert_like_marked_yaml(&file.display().to_string(), &text);
        assert_like_marked_yaml(
            &format!("{} (CRLF)", file.display()),
            &text.replace('\n', "\r\n"),
        );
    }
}

/// Every YAML file under `$PROXIMITY_YAML_CORPUS` (run by hand on a larger corpus).
#[test]
#[ignore = "needs PROXIMITY_YAML_CORPUS"]
fn a_corpus_streams_to_marked_yamls_tree() {
    let dir = std::env::var("PROXIMITY_YAML_CORPUS").unwrap();
    let mut files = Vec::new();
    yaml_files(Path::new(&dir), &mut files);
    for file in &files {
        if let Ok(text) = fs_err::read_to_string(file) {
            assert_like_marked_yaml(&file.display().to_string(), &text);
        }
    }
}

const VALID: &[(&str, &str)] = &[
    ("empty", ""),
    ("comments only", "# nothing\n# here\n"),
    ("empty flow mapping", "{}"),
    ("document markers", "---\ncases: [a]\n...\n"),
    (
        "suite",
        "persona: p\nworkflow: w\ncases:\n  - id: a\n    prompt: hi\n  - id: b\n    prompt: \"x\"\n",
    ),
    (
        "defaults after cases",
        "cases:\n- id: a\n  prompt: hi\npersona: p\nworkflow: w\n",
    ),
    (
        "flow style",
        "cases: [{id: a, prompt: 'q', assert: {correct: [{contains: x}, {regex: \"^o$\"}]}}, [1, 2], x]\n",
    ),
    (
        "block scalars",
        "cases:\n  - prompt: |\n      line one\n        indented\n      last\n    note: >\n      folded\n      text\n\n      para\n    keep: |+\n      kept\n\n    strip: >-\n      stripped\n",
    ),
    (
        "quoted keys and values",
        "\"persona\": 'p'\n'cases':\n  - \"id\": \"a\\tb\"\n    'it''s': 'don''t'\n    \"1\": \"1\"\n    2: 2\n",
    ),
    (
        "empty values",
        "persona:\nworkflow: ~\ncases:\n  -\n  - id:\n    prompt: ''\n  - {}\n  - []\ndescription: null\n",
    ),
    (
        "comments everywhere",
        "# head\ncases: # the cases\n  # before\n  - id: a # trailing\n    # inside\n    prompt: hi\n  # after\npersona: p # end\n",
    ),
    (
        "CRLF",
        "persona: p\r\ncases:\r\n  - id: a\r\n    prompt: |\r\n      two\r\n      lines\r\n",
    ),
    (
        "unicode",
        "persona: \"ünï\"\ncases:\n  - id: 日本語\n    prompt: \"emoji 🎉 and é\"\n    tags: [ß, \"\\u00e9\"]\n  - id: zwj👩‍💻\n",
    ),
    (
        "nested sequences",
        "cases:\n  - - a\n    - - b\n      - []\n  - [[1], [2, [3]]]\n  -\n    - x\ntools: [[t]]\n",
    ),
    (
        "indentless sequence",
        "cases:\n- id: a\n  tags:\n  - x\n  - y\n- id: b\npersona: p\n",
    ),
    (
        "scalars of every style",
        "cases:\n  - plain: 1\n    single: '1'\n    double: \"true\"\n    float: 1.5e3\n    bool: false\n    null: ~\n    multi: plain\n      continued\n",
    ),
    ("cases not a list", "cases: {id: a}\npersona: p\n"),
    ("cases a scalar", "cases: nope\n"),
    ("cases nested only", "suite:\n  cases: [a, b]\n"),
    (
        "same key in different mappings",
        "cases:\n  - id: a\n  - id: a\nid: a\ntools:\n  - id: a\n",
    ),
    (
        "explicit keys",
        "? persona\n: p\n? cases\n: - id: a\n",
    ),
    ("second document is not read", "cases: [a]\n---\n{ unclosed\n"),
];

const REJECTED: &[(&str, &str)] = &[
    ("top-level scalar", "just text\n"),
    ("top-level list", "- a\n- b\n"),
    ("document with nothing", "---\n"),
    ("anchor", "persona: &p x\ncases: [*p]\n"),
    ("anchor on a case", "cases:\n  - &a {id: a}\n  - *a\n"),
    ("alias to nothing", "cases: [*nope]\n"),
    ("tag", "cases:\n  - !!str a\n"),
    ("tag on a mapping", "cases:\n  - !case {id: a}\n"),
    (
        "duplicate key at the top",
        "persona: a\ncases: []\npersona: b\n",
    ),
    ("duplicate cases", "cases: [a]\ncases: [b]\n"),
    ("duplicate key in a case", "cases:\n  - id: a\n    id: b\n"),
    (
        "duplicate key with a list value",
        "cases:\n  - tags: [a]\n    tags: [b]\n",
    ),
    ("mapping as a key", "cases:\n  - ? {a: 1}\n    : x\n"),
    ("list as a key", "? [a]\n: x\n"),
    (
        "scan error after cases",
        "cases:\n  - id: a\n  - id: b\npersona: \"unclosed\n",
    ),
    ("bad indentation", "cases:\n  - id: a\n   prompt: x\n"),
    ("unclosed flow", "cases: [a, b\n"),
    ("tab indentation", "cases:\n\t- a\n"),
];

#[test]
fn hand_written_files_stream_to_marked_yamls_tree() {
    for (name, text) in VALID {
        assert!(
            marked_yaml::parse_yaml_with_options(0, text, loader_options()).is_ok(),
            "{name} should be valid"
        );
        assert_like_marked_yaml(name, text);
        assert_like_marked_yaml(&format!("{name} (CRLF)"), &text.replace('\n', "\r\n"));
    }
}

#[test]
fn files_marked_yaml_rejects_are_given_up_on() {
    for (name, text) in REJECTED {
        assert!(
            marked_yaml::parse_yaml_with_options(0, text, loader_options()).is_err(),
            "{name} should be rejected"
        );
        assert!(
            parse_streaming(0, text.chars(), "cases", |_, _| {}).is_none(),
            "{name}"
        );
        assert_like_marked_yaml(name, text);
    }
}

#[test]
fn a_generated_suite_streams_to_marked_yamls_tree() {
    let mut text = String::from("persona: bench\ncases:\n");
    for i in 0..300 {
        text.push_str(&format!(
            "  - id: c{i:06}\n    workflow: w\n    prompt: \"Case {i}: reply with the word ok.\"\n    assert:\n{}      correct:\n        - contains: ok\n        - regex: \"^o\\\\w$\"\n",
            if i % 3 == 0 { "      contract: [{ is_json: true }]\n" } else { "" }
        ));
    }
    assert_like_marked_yaml("generated", &text);
}

#[test]
fn cases_are_handed_over_one_at_a_time_with_the_keys_read_so_far() {
    let text = "persona: p\ncases:\n  - id: a\n  - id: b\nworkflow: w\n";
    let mut seen = Vec::new();
    let top = parse_streaming(0, text.chars(), "cases", |item, top| {
        let id = item
            .as_mapping()
            .and_then(|m| m.get_scalar("id"))
            .map(|s| s.as_str().to_owned());
        let keys: Vec<String> = top.keys().map(|k| k.as_str().to_owned()).collect();
        seen.push((id, keys));
    })
    .unwrap();
    assert_eq!(
        seen,
        vec![
            (Some("a".to_owned()), vec!["persona".to_owned()]),
            (Some("b".to_owned()), vec!["persona".to_owned()]),
        ]
    );
    let whole = marked_yaml::parse_yaml_with_options(0, text, loader_options()).unwrap();
    let map = top.as_mapping().unwrap();
    let keys: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["persona", "cases", "workflow"]);
    let cases = map.get_sequence("cases").unwrap();
    assert!(cases.is_empty());
    assert_eq!(
        cases.span(),
        whole
            .as_mapping()
            .unwrap()
            .get_sequence("cases")
            .unwrap()
            .span()
    );
}

#[test]
fn only_the_top_level_list_is_streamed() {
    let text = "suite:\n  cases: [a]\ncases: {x: [b]}\n";
    let mut n = 0;
    let top = parse_streaming(0, text.chars(), "cases", |_, _| n += 1).unwrap();
    assert_eq!(n, 0);
    let whole = marked_yaml::parse_yaml_with_options(0, text, loader_options()).unwrap();
    same(&whole, &top, "$").unwrap();
}
