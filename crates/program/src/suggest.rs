//! Did-you-mean suggestions for misspelt keys and unknown ids.

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut best: Option<(f64, &str)> = None;
    let word_lower = word.to_lowercase();
    for c in candidates {
        let c_lower = c.to_lowercase();
        let mut score = strsim::jaro_winkler(&word_lower, &c_lower);
        // A swapped or missing letter in a short id still reads as a typo.
        let edits = strsim::damerau_levenshtein(&word_lower, &c_lower);
        if edits <= (c_lower.chars().count() / 3).max(1) {
            score = score.max(0.85);
        }
        if score > best.map(|(s, _)| s).unwrap_or(0.0) {
            best = Some((score, c));
        }
    }
    match best {
        Some((score, c)) if score >= 0.8 => Some(format!("did you mean `{c}`?")),
        _ => None,
    }
}

/// `one of `a`, `b`, `c`` for an "expected" line.
pub fn one_of<'a, I>(candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    let list: Vec<String> = candidates.into_iter().map(|c| format!("`{c}`")).collect();
    match list.len() {
        0 => "nothing (no ids are defined)".to_owned(),
        1 => list[0].clone(),
        _ => format!("one of {}", list.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_key() {
        assert_eq!(
            did_you_mean("promt", ["prompt", "messages", "vars"]),
            Some("did you mean `prompt`?".to_owned())
        );
    }

    #[test]
    fn suggests_transposed_short_id() {
        assert_eq!(
            did_you_mean("gtp", ["bot", "gpt"]),
            Some("did you mean `gpt`?".to_owned())
        );
    }

    #[test]
    fn no_suggestion_when_far() {
        assert_eq!(did_you_mean("zzz", ["prompt", "messages"]), None);
    }

    #[test]
    fn one_of_lists_candidates() {
        assert_eq!(one_of(["a", "b"]), "one of `a`, `b`");
        assert_eq!(one_of(["a"]), "`a`");
    }
}
