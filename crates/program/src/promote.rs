//! Promoting a field note or a gateway capture into a case: the case YAML built from it
//! and its confirmed assertions, appended to a suite file (the old bytes kept as they
//! were), and the program reloaded to check the case loads — the suite restored
//! unchanged if not. `ops` calls [`append_case`] for `proximity note promote`, the
//! dashboard's Promote and `proximity capture promote`.

use std::path::{Path, PathBuf};

use crate::{load, CaseKind, LoadError, Message, Program, Role};

/// Why a note or capture could not be promoted.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("no assertion given: promotion needs at least one confirmed assertion")]
    NoAssertion,
    #[error("a case `{0}` already exists")]
    CaseExists(String),
    #[error("cannot append to {0}: its last top-level key is not `cases:`")]
    NoFinalCases(PathBuf),
    #[error("{0} is not UTF-8")]
    NotUtf8(PathBuf),
    #[error("the promoted case does not load; {path} was restored unchanged\n{why}")]
    DoesNotLoad { path: PathBuf, why: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Where a promoted case comes from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A field note: the case carries `note: "ID"`.
    Note {
        id: i64,
        author: String,
        /// The day of the encounter, `YYYY-MM-DD`.
        date: String,
        /// The note's outcome (`failed_silently`, …).
        outcome: String,
    },
    /// A request the gateway captured (redacted).
    Capture {
        id: i64,
        /// The day of the request, `YYYY-MM-DD`.
        date: String,
        /// The tool that answered it.
        tool: String,
    },
}

/// The case to write, from a note or a capture.
#[derive(Debug, Clone)]
pub struct Promotion {
    pub origin: Origin,
    pub persona: String,
    pub workflow: String,
    pub kind: CaseKind,
    pub case_id: String,
    pub description: String,
    /// The conversation: one user message is written as `prompt:`, more as `messages:`.
    pub messages: Vec<Message>,
    /// `(group, line)`, e.g. `("correct", "contains: 14 days")` (see [`assertion`]).
    pub assertions: Vec<(&'static str, String)>,
}

/// An assertion line: `correct: contains TEXT` → `("correct", "contains: TEXT")`.
pub fn assertion(group: &'static str, key: &str, value: &str) -> (&'static str, String) {
    (group, format!("{key}: {}", scalar(value)))
}

/// A YAML scalar written so a person can read it: plain where that is unambiguous,
/// else double-quoted (JSON string syntax, which YAML accepts).
pub fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " .,_-/()?'".contains(c))
        && !s.starts_with([' ', '-', '?', '\''])
        && !s.ends_with(' ')
        && s.parse::<f64>().is_err()
        && !matches!(
            s.to_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "null" | "on" | "off" | "~"
        );
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

/// A prompt as a template that renders to exactly `text`.
pub fn template(text: &str) -> String {
    if text.contains("{{") || text.contains("{%") || text.contains("{#") {
        format!("{{% raw %}}{text}{{% endraw %}}")
    } else {
        text.to_owned()
    }
}

/// A key and a possibly multi-line string at `indent`.
pub fn key_value(indent: &str, key: &str, value: &str) -> String {
    let multiline = value.contains('\n');
    let block_ok = multiline
        && !value.starts_with([' ', '\t'])
        && value.lines().all(|l| !l.ends_with([' ', '\t']))
        && !value.contains('\r');
    if block_ok {
        let mut out = format!("{indent}{key}: |-\n");
        for line in value.trim_end_matches('\n').lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                out.push_str(&format!("{indent}  {line}\n"));
            }
        }
        out
    } else {
        format!("{indent}{key}: {}\n", scalar(value))
    }
}

/// The suite file holding the most cases of `persona`.
pub fn suite_for(program: &Program, persona: &str) -> Option<PathBuf> {
    let mut counts: Vec<(PathBuf, usize)> = Vec::new();
    for c in program.cases.iter().filter(|c| c.persona == persona) {
        match counts.iter_mut().find(|(f, _)| *f == c.location.file) {
            Some((_, n)) => *n += 1,
            None => counts.push((c.location.file.clone(), 1)),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    counts.into_iter().next().map(|(f, _)| f)
}

/// The indentation of the `cases:` items, checking `cases:` is the file's last
/// top-level key so appended text lands in that list.
pub fn cases_indent(text: &str, path: &Path) -> Result<String, PromoteError> {
    let mut cases_line = None;
    for (i, line) in text.lines().enumerate() {
        let top = line
            .chars()
            .next()
            .is_some_and(|c| !c.is_whitespace() && c != '#' && c != '-');
        if top {
            cases_line = line.starts_with("cases:").then_some(i);
        }
    }
    let Some(start) = cases_line else {
        return Err(PromoteError::NoFinalCases(path.to_path_buf()));
    };
    for line in text.lines().skip(start + 1) {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix('-') {
            if rest.starts_with(' ') || rest.is_empty() {
                return Ok(line[..line.len() - trimmed.len()].to_owned());
            }
        }
    }
    Ok("  ".to_owned())
}

/// The suite's top-level `persona:`, read from the text.
pub fn suite_default_persona(text: &str) -> Option<String> {
    suite_default(text, "persona")
}

/// The suite's top-level `key:` (`persona`, `workflow`), read from the text.
pub fn suite_default(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .map(|v| {
            v.split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\''])
                .to_owned()
        })
        .filter(|v| !v.is_empty())
}

/// The YAML block appended to a suite whose text is `text` (pure).
pub fn case_block(text: &str, path: &Path, p: &Promotion) -> Result<String, PromoteError> {
    let indent = cases_indent(text, path)?;
    let inner = format!("{indent}  ");
    let suite_persona = suite_default_persona(text);
    let mut block = String::new();
    if !text.ends_with('\n') && !text.is_empty() {
        block.push('\n');
    }
    block.push('\n');
    match &p.origin {
        Origin::Note {
            id,
            author,
            date,
            outcome,
        } => block.push_str(&format!(
            "{indent}# Promoted from field note {id} ({author}, {date}): {}\n",
            outcome.replace('_', " ")
        )),
        Origin::Capture { id, date, tool } => block.push_str(&format!(
            "{indent}# Promoted from gateway capture {id} ({date}, answered by {tool}; redacted)\n"
        )),
    }
    block.push_str(&format!("{indent}- id: {}\n", scalar(&p.case_id)));
    if suite_persona.as_deref() != Some(p.persona.as_str()) {
        block.push_str(&format!("{inner}persona: {}\n", scalar(&p.persona)));
    }
    block.push_str(&format!("{inner}workflow: {}\n", scalar(&p.workflow)));
    block.push_str(&format!("{inner}kind: {}\n", p.kind.as_str()));
    block.push_str(&format!("{inner}source: field\n"));
    if let Origin::Note { id, .. } = &p.origin {
        block.push_str(&format!("{inner}note: \"{id}\"\n"));
    }
    block.push_str(&key_value(&inner, "description", &p.description));
    match p.messages.as_slice() {
        [one] if one.role == Role::User => {
            block.push_str(&key_value(&inner, "prompt", &template(&one.content)));
        }
        messages => {
            block.push_str(&format!("{inner}messages:\n"));
            for m in messages {
                let role = match m.role {
                    Role::System => "system",
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                block.push_str(&format!("{inner}  - role: {role}\n"));
                block.push_str(&key_value(
                    &format!("{inner}    "),
                    "content",
                    &template(&m.content),
                ));
            }
        }
    }
    block.push_str(&format!("{inner}assert:\n"));
    for group in ["contract", "correct", "safety"] {
        let items: Vec<&String> = p
            .assertions
            .iter()
            .filter(|(g, _)| *g == group)
            .map(|(_, l)| l)
            .collect();
        if items.is_empty() {
            continue;
        }
        block.push_str(&format!("{inner}  {group}:\n"));
        for item in items {
            block.push_str(&format!("{inner}    - {item}\n"));
        }
    }
    Ok(block)
}

/// Append the case to `suite` (old bytes kept), reload the program and check the case
/// loads (with its note, for a note); restore the suite unchanged if it does not. Answers the suite's
/// path relative to the program root, as the store records it.
pub fn append_case(program: &Program, suite: &Path, p: &Promotion) -> Result<String, PromoteError> {
    if p.assertions.is_empty() {
        return Err(PromoteError::NoAssertion);
    }
    if program.cases.iter().any(|c| c.id == p.case_id) {
        return Err(PromoteError::CaseExists(p.case_id.clone()));
    }
    let original = fs_err::read(suite)?;
    let text = String::from_utf8(original.clone())
        .map_err(|_| PromoteError::NotUtf8(suite.to_path_buf()))?;
    let block = case_block(&text, suite, p)?;
    let mut updated = original.clone();
    updated.extend_from_slice(block.as_bytes());
    fs_err::write(suite, &updated)?;
    let note = match &p.origin {
        Origin::Note { id, .. } => Some(id.to_string()),
        Origin::Capture { .. } => None,
    };
    let check = load(&program.root);
    let loaded_ok = match &check {
        Ok(prog) => prog
            .cases
            .iter()
            .any(|c| c.id == p.case_id && c.note == note),
        Err(_) => false,
    };
    if !loaded_ok {
        fs_err::write(suite, &original)?;
        let why = match check {
            Err(LoadError::Invalid(d)) => d.to_string(),
            Err(e) => e.to_string(),
            Ok(_) => "the appended case did not load as part of the `cases:` list".to_owned(),
        };
        return Err(PromoteError::DoesNotLoad {
            path: suite.to_path_buf(),
            why,
        });
    }
    Ok(suite
        .strip_prefix(&program.root)
        .unwrap_or(suite)
        .display()
        .to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_plain_only_when_unambiguous() {
        assert_eq!(scalar("refund"), "refund");
        assert_eq!(scalar("14 days"), "14 days");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("42"), "\"42\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
        assert_eq!(scalar("say \"hi\""), "\"say \\\"hi\\\"\"");
    }

    #[test]
    fn prompts_with_template_syntax_render_verbatim() {
        assert_eq!(
            template("Hi {{ name }}"),
            "{% raw %}Hi {{ name }}{% endraw %}"
        );
        assert_eq!(template("plain"), "plain");
    }

    #[test]
    fn appends_only_after_a_final_cases_key() {
        let ok = "persona: a\ncases:\n    - id: x\n";
        assert_eq!(cases_indent(ok, Path::new("s.yaml")).unwrap(), "    ");
        let bad = "cases:\n  - id: x\ndescription: late\n";
        assert!(cases_indent(bad, Path::new("s.yaml")).is_err());
        assert_eq!(
            suite_default_persona("# c\npersona: finance-analyst # x\n").as_deref(),
            Some("finance-analyst")
        );
    }
}
