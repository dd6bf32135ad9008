//! Fuzz smoke of `import` (JSONL store exports), on the stable toolchain (proptest):
//! arbitrary bytes, and exports built from the exported tables' own columns with values of
//! the right kind, the wrong kind or anything, never panic; a refusal of a malformed line
//! names a line of the input. Every input goes into one SQLite store (`merge`, so rows
//! already there are skipped). Short (proptest's default 256 cases) so it runs with every
//! `cargo test`; `PROPTEST_CASES=1000000` for a long run (`docs/fuzzing.md`).
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use proximity_store::testing::{self, TestStore};
use proximity_store::transfer::{ImportOptions, Kind, TransferError, TABLES};
use serde_json::{json, Map, Value};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value for a column of `kind`: mostly of that kind (few distinct keys, so rows
/// collide), sometimes null or anything.
fn value_of(kind: Kind, pick: u8, n: i64, f: f64, s: &str, any: &Value) -> Value {
    match (pick % 8, kind) {
        (0, _) => Value::Null,
        (1, _) => any.clone(),
        (_, Kind::Text) => json!(s),
        (_, Kind::Integer) => json!(n),
        (_, Kind::Real) => json!(f),
        (_, Kind::Bool) => json!(n % 2 == 0),
    }
}

/// One export line: a row of a known table (or of a name that is none).
fn line() -> impl Strategy<Value = String> {
    (
        0..TABLES.len() + 1,
        prop::collection::vec(
            (
                any::<u8>(),
                -3i64..3,
                -1.0f64..1.0,
                "[a-c]{0,2}|.{0,10}",
                any_json(),
            ),
            32,
        ),
        any::<u8>(),
        "[a-z_]{0,8}",
    )
        .prop_map(|(t, values, skip, other)| {
            let Some(table) = TABLES.get(t) else {
                return json!({"table": other, "row": {}}).to_string();
            };
            let mut row = Map::new();
            for (i, (c, (pick, n, f, s, any))) in table.columns.iter().zip(values).enumerate() {
                if skip != 0 && i == usize::from(skip) % table.columns.len() {
                    continue;
                }
                row.insert(c.name.to_owned(), value_of(c.kind, pick, n, f, &s, &any));
            }
            json!({"table": table.name, "row": row}).to_string()
        })
}

thread_local! {
    static STORE: (tokio::runtime::Runtime, TestStore, i64) = {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let store = rt.block_on(testing::sqlite());
        let version = rt.block_on(store.store.schema_version()).unwrap().unwrap_or(0);
        (rt, store, version)
    };
}

/// Import `input` into the shared store: any outcome but a panic; a malformed line is
/// one of the input's.
fn import(input: &[u8], batch_rows: usize) {
    STORE.with(|(rt, store, _)| {
        let options = ImportOptions {
            merge: true,
            batch_rows,
        };
        let lines = input.split(|b| *b == b'\n').count() as u64;
        let r = rt.block_on(store.store.import_jsonl(input, &options, &mut |_, _| {}));
        if let Err(TransferError::Malformed { line, .. }) = r {
            assert!((1..=lines).contains(&line), "line {line} of {lines}");
        }
    });
}

fn header() -> String {
    STORE.with(|(_, _, v)| json!({"proximity_export": 1, "schema_version": v}).to_string())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        import(&bytes, 500);
        let mut with_header = header().into_bytes();
        with_header.push(b'\n');
        with_header.extend_from_slice(&bytes);
        import(&with_header, 500);
    }

    #[test]
    fn structured_exports_never_panic(
        lines in prop::collection::vec(line(), 0..6),
        batch_rows in 1usize..4,
        odd_header in prop::option::weighted(0.1, any_json()),
    ) {
        let mut text = match odd_header {
            Some(h) => h.to_string(),
            None => header(),
        };
        for l in &lines {
            text.push('\n');
            text.push_str(l);
        }
        import(text.as_bytes(), batch_rows);
    }
}
