//! The YAML written for imported cases (each preceded by a comment saying where it came
//! from), their stable ids, and the proposed `tools:` block for the config's providers.

use std::collections::HashSet;

use proximity_program::promote::{key_value, scalar};
use proximity_program::prompt::render;

use super::assertions::MappedAll;
use super::config::{Prompt, PromptBody, Provider, Test};
use super::{Unsupported, UnsupportedPolicy};

/// What every case of one import shares.
#[derive(Debug, Clone)]
pub struct CaseContext {
    pub config_name: String,
    /// Written on each case when the suite's header does not already say it.
    pub persona: Option<String>,
    pub workflow: Option<String>,
    /// Whether ids get a `-p<N>` suffix for the prompt.
    pub several_prompts: bool,
    pub policy: UnsupportedPolicy,
}

/// A case's YAML and its id.
#[derive(Debug, Clone)]
pub struct Block {
    pub id: String,
    pub text: String,
}

/// A slug: lowercase letters, digits and single dashes, at most 60 characters.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= 60 {
            break;
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// The case id: the description's slug or `test-<N>`, `-p<N>` per prompt when there are
/// several, then `-2`, `-3`, … until it is unique (and taken).
pub fn case_id(
    test: &Test,
    prompt_index: usize,
    several: bool,
    taken: &mut HashSet<String>,
) -> String {
    let mut base = test
        .description
        .as_deref()
        .map(slug)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("test-{}", test.number));
    if several {
        base = format!("{base}-p{}", prompt_index + 1);
    }
    let mut id = base.clone();
    let mut n = 2;
    while taken.contains(&id) {
        id = format!("{base}-{n}");
        n += 1;
    }
    taken.insert(id.clone());
    id
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn skip(test: &Test, what: &str, why: String) -> Vec<Unsupported> {
    vec![Unsupported {
        loc: test.loc.clone(),
        what: what.to_owned(),
        why,
        outcome: "case skipped",
    }]
}

/// The YAML of one prompt × test case, or why it is not written (the reasons to list;
/// empty when they are listed already, as unsupported assertions are).
pub fn case_block(
    ctx: &CaseContext,
    indent: &str,
    test: &Test,
    prompt: &Prompt,
    prompt_index: usize,
    mapped: &MappedAll,
    taken: &mut HashSet<String>,
) -> Result<Block, Vec<Unsupported>> {
    if !test.problems.is_empty() {
        return Err(test.problems.clone());
    }
    if ctx.policy == UnsupportedPolicy::Skip && !mapped.unsupported.is_empty() {
        return Err(Vec::new());
    }
    if mapped.mapped.is_empty() {
        let why = if mapped.unsupported.is_empty() {
            "a case needs at least one assertion and this test has none"
        } else {
            "no assertion left once the unsupported ones are dropped"
        };
        return Err(skip(test, &format!("test {}", test.number), why.to_owned()));
    }
    let templates: Vec<(String, String)> = match &prompt.body {
        PromptBody::Text(t) => vec![(
            "user".to_owned(),
            format!("{}{t}{}", test.prefix, test.suffix),
        )],
        PromptBody::Messages(m) => {
            if !test.prefix.is_empty() || !test.suffix.is_empty() {
                return Err(skip(
                    test,
                    "option prefix/suffix",
                    "a prefix or suffix on a chat prompt has no equivalent".to_owned(),
                ));
            }
            m.clone()
        }
    };
    let chat = matches!(prompt.body, PromptBody::Messages(_));
    if chat {
        if let Some((role, _)) = templates
            .iter()
            .find(|(r, _)| !matches!(r.as_str(), "system" | "user" | "assistant"))
        {
            return Err(skip(
                test,
                "prompt",
                format!("message role `{role}` is not system, user or assistant"),
            ));
        }
        if templates.last().map(|(r, _)| r.as_str()) != Some("user") {
            return Err(skip(
                test,
                "prompt",
                "the last message of a conversation must be the user's".to_owned(),
            ));
        }
    }
    for (_, t) in &templates {
        if let Err(e) = render(t, &test.vars) {
            return Err(vec![Unsupported {
                loc: prompt.loc.clone(),
                what: "prompt".to_owned(),
                why: format!(
                    "does not render with test {}'s vars: {}",
                    test.number,
                    one_line(&e.to_string())
                ),
                outcome: "case skipped",
            }]);
        }
    }

    let id = case_id(test, prompt_index, ctx.several_prompts, taken);
    let inner = format!("{indent}  ");
    let mut b = String::from("\n");
    let label = prompt.label.as_deref().map_or_else(
        || format!("prompt {}", prompt_index + 1),
        |l| format!("prompt {}", one_line(l)),
    );
    b.push_str(&format!(
        "{indent}# From promptfoo {}: test {} ({}), {label} ({})\n",
        ctx.config_name, test.number, test.loc, prompt.loc
    ));
    for u in &mapped.unsupported {
        b.push_str(&format!(
            "{indent}# Dropped: {} ({}): {}\n",
            u.what,
            u.loc,
            one_line(&u.why)
        ));
    }
    b.push_str(&format!("{indent}- id: {}\n", scalar(&id)));
    if let Some(p) = &ctx.persona {
        b.push_str(&format!("{inner}persona: {}\n", scalar(p)));
    }
    if let Some(w) = &ctx.workflow {
        b.push_str(&format!("{inner}workflow: {}\n", scalar(w)));
    }
    if let Some(d) = &test.description {
        b.push_str(&key_value(&inner, "description", d));
    }
    if chat {
        b.push_str(&format!("{inner}messages:\n"));
        for (role, content) in &templates {
            b.push_str(&format!("{inner}  - role: {role}\n"));
            b.push_str(&key_value(&format!("{inner}    "), "content", content));
        }
    } else if let Some((_, t)) = templates.first() {
        b.push_str(&key_value(&inner, "prompt", t));
    }
    if !test.vars.is_empty() {
        b.push_str(&format!("{inner}vars:\n"));
        for (k, v) in &test.vars {
            b.push_str(&key_value(&format!("{inner}  "), &scalar(k), v));
        }
    }
    b.push_str(&format!("{inner}assert:\n"));
    for group in ["contract", "correct", "safety"] {
        let items: Vec<&str> = mapped
            .mapped
            .iter()
            .filter(|m| m.group == group)
            .map(|m| m.item.as_str())
            .collect();
        if items.is_empty() {
            continue;
        }
        b.push_str(&format!("{inner}  {group}:\n"));
        for item in items {
            b.push_str(&format!("{inner}    - {item}\n"));
        }
    }
    Ok(Block { id, text: b })
}

/// OpenAI-compatible services promptfoo names by prefix: base URL and key variable.
const COMPATIBLE: &[(&str, &str, &str)] = &[
    (
        "openrouter",
        "https://openrouter.ai/api/v1",
        "OPENROUTER_API_KEY",
    ),
    ("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    (
        "deepseek",
        "https://api.deepseek.com/v1",
        "DEEPSEEK_API_KEY",
    ),
    (
        "together",
        "https://api.together.xyz/v1",
        "TOGETHER_API_KEY",
    ),
];

/// A proposed `tools:` block for the providers that are OpenAI, Anthropic or
/// OpenAI-compatible ids; the others are listed as not proposed.
pub fn tools_block(providers: &[Provider], unsupported: &mut Vec<Unsupported>) -> Option<String> {
    let mut out = String::new();
    let mut taken = HashSet::new();
    for p in providers {
        let (prefix, rest) = p.id.split_once(':').unwrap_or((p.id.as_str(), ""));
        let tool = match prefix {
            "openai" => {
                let model = rest.strip_prefix("chat:").unwrap_or(rest);
                (!model.is_empty() && !model.contains(':'))
                    .then(|| ("openai", model.to_owned(), p.base_url.clone(), None))
            }
            "anthropic" => {
                let model = rest.strip_prefix("messages:").unwrap_or(rest);
                (!model.is_empty() && !model.contains(':'))
                    .then(|| ("anthropic", model.to_owned(), p.base_url.clone(), None))
            }
            other => COMPATIBLE
                .iter()
                .find(|(name, _, _)| *name == other)
                .filter(|_| !rest.is_empty())
                .map(|(_, url, key)| {
                    (
                        "openai",
                        rest.to_owned(),
                        Some((*url).to_owned()),
                        Some(*key),
                    )
                }),
        };
        let Some((provider, model, base_url, key)) = tool else {
            unsupported.push(Unsupported {
                loc: p.loc.clone(),
                what: format!("provider {}", p.id),
                why: "not an OpenAI, Anthropic or OpenAI-compatible chat model id".to_owned(),
                outcome: "not proposed",
            });
            continue;
        };
        let mut id = slug(&model);
        let base = id.clone();
        let mut n = 2;
        while !taken.insert(id.clone()) {
            id = format!("{base}-{n}");
            n += 1;
        }
        out.push_str(&format!("  - id: {}\n", scalar(&id)));
        out.push_str(&format!("    provider: {provider}\n"));
        out.push_str(&format!("    model: {}\n", scalar(&model)));
        if let Some(url) = base_url {
            out.push_str(&format!("    base_url: {}\n", scalar(&url)));
        }
        if let Some(key) = key {
            out.push_str(&format!("    api_key_env: {key}\n"));
        }
    }
    (!out.is_empty()).then(|| format!("tools:\n{out}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promptfoo::Loc;

    #[test]
    fn slugs_and_ids_are_stable_and_unique() {
        assert_eq!(
            slug("What's the capital of France?"),
            "what-s-the-capital-of-france"
        );
        let t = Test {
            number: 7,
            description: None,
            vars: Default::default(),
            asserts: Vec::new(),
            prefix: String::new(),
            suffix: String::new(),
            loc: Loc {
                file: "c".into(),
                line: 1,
                column: 1,
            },
            problems: Vec::new(),
        };
        let mut taken: HashSet<String> = ["test-7".to_owned()].into();
        assert_eq!(case_id(&t, 0, false, &mut taken), "test-7-2");
        assert_eq!(case_id(&t, 1, true, &mut taken), "test-7-p2");
    }

    #[test]
    fn providers_become_tools_or_are_listed() {
        let at = Loc {
            file: "c".into(),
            line: 2,
            column: 5,
        };
        let p = |id: &str| Provider {
            id: id.into(),
            base_url: None,
            loc: at.clone(),
        };
        let mut un = Vec::new();
        let block = tools_block(
            &[
                p("openai:gpt-4o-mini"),
                p("anthropic:messages:claude-3-5-haiku"),
                p("groq:llama-3.1-8b"),
                p("vertex:gemini-pro"),
            ],
            &mut un,
        )
        .unwrap();
        assert!(
            block.contains("  - id: gpt-4o-mini\n    provider: openai\n    model: gpt-4o-mini\n"),
            "{block}"
        );
        assert!(
            block.contains("provider: anthropic\n    model: claude-3-5-haiku\n"),
            "{block}"
        );
        assert!(
            block.contains("base_url: \"https://api.groq.com/openai/v1\""),
            "{block}"
        );
        assert_eq!(un.len(), 1);
        assert_eq!(un[0].what, "provider vertex:gemini-pro");
    }
}
