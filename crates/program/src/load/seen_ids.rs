//! The case ids read so far, each with where it was first defined, for the duplicate-id
//! check. It is the one part of loading that grows with the suites (a run reads them case
//! by case), so it is kept compact: the ids' text in one string and a hash table of where
//! each starts — about 30 bytes an id, where a map of owned strings took about 80.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

/// Where a case id was first defined: source id, line, column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FirstAt {
    pub(super) source: u32,
    pub(super) line: u32,
    pub(super) column: u32,
}

#[derive(Clone, Copy)]
struct Entry {
    start: usize,
    len: u32,
    at: FirstAt,
}

#[derive(Default)]
pub(super) struct SeenIds {
    text: String,
    table: HashTable<Entry>,
    hasher: RandomState,
}

fn id_of<'t>(text: &'t str, e: &Entry) -> &'t str {
    text.get(e.start..e.start + e.len as usize).unwrap_or("")
}

impl SeenIds {
    /// Where `id` was first defined, if it was.
    pub(super) fn get(&self, id: &str) -> Option<FirstAt> {
        let hash = self.hasher.hash_one(id);
        self.table
            .find(hash, |e| id_of(&self.text, e) == id)
            .map(|e| e.at)
    }

    /// Record `id` at `at`; the caller has checked it is new.
    pub(super) fn insert(&mut self, id: &str, at: FirstAt) {
        let Self {
            text,
            table,
            hasher,
        } = self;
        let hash = hasher.hash_one(id);
        let entry = Entry {
            start: text.len(),
            len: u32::try_from(id.len()).unwrap_or(u32::MAX),
            at,
        };
        text.push_str(id);
        table.insert_unique(hash, entry, |e| hasher.hash_one(id_of(text, e)));
    }

    /// Forget the ids first defined in `source` (their text stays: this is rare).
    pub(super) fn forget_source(&mut self, source: u32) {
        self.table.retain(|e| e.at.source != source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(source: u32, line: u32) -> FirstAt {
        FirstAt {
            source,
            line,
            column: 5,
        }
    }

    #[test]
    fn finds_each_id_where_it_was_first_defined() {
        let mut seen = SeenIds::default();
        for i in 0..10_000_u32 {
            let id = format!("case-{i}");
            assert_eq!(seen.get(&id), None);
            seen.insert(&id, at(i % 3, i));
        }
        for i in (0..10_000_u32).step_by(7) {
            assert_eq!(seen.get(&format!("case-{i}")), Some(at(i % 3, i)));
        }
        assert_eq!(seen.get("case-10000"), None);
        assert_eq!(seen.get("case-1"), Some(at(1, 1)));
        assert_eq!(seen.get("case-"), None, "a prefix of an id is not the id");
        assert_eq!(seen.get(""), None);
        seen.insert("", at(0, 0));
        assert_eq!(seen.get(""), Some(at(0, 0)));
    }

    #[test]
    fn forgets_one_source() {
        let mut seen = SeenIds::default();
        seen.insert("a", at(0, 1));
        seen.insert("b", at(1, 1));
        seen.forget_source(1);
        assert_eq!(seen.get("a"), Some(at(0, 1)));
        assert_eq!(seen.get("b"), None);
        seen.insert("b", at(2, 3));
        assert_eq!(seen.get("b"), Some(at(2, 3)));
    }
}
