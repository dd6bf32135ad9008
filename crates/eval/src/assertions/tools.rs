//! Assertions on the functions an answer calls (`called`, `not_called`, `no_tool_calls`,
//! `tool_calls`), and [`malformed`]: a call a consumer could not dispatch (arguments that
//! are not a JSON object, or a function the case did not declare), which the verdict
//! reports as structural.

use proximity_program::{Case, ToolCall};
use serde_json::Value;

use super::{excerpt, Finding};

/// The calls, short: `get_weather({"city":"Paris"}), f(…)`.
fn listed(calls: &[ToolCall]) -> String {
    if calls.is_empty() {
        return "no function called".to_owned();
    }
    let all: Vec<String> = calls
        .iter()
        .map(|c| format!("{}({})", c.name, c.arguments))
        .collect();
    excerpt(&all.join(", "))
}

/// Whether `got` holds every key of `want` with a matching value (objects recursively;
/// other values, arrays included, equal).
fn subset(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|gv| subset(v, gv))),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => want == got,
    }
}

/// `called`: some call of `name` has arguments that match and satisfy `schema`.
pub fn called(
    calls: &[ToolCall],
    name: &str,
    arguments: Option<&Value>,
    exact: bool,
    schema: Option<&Value>,
) -> Finding {
    let of_name: Vec<&ToolCall> = calls.iter().filter(|c| c.name == name).collect();
    if of_name.is_empty() {
        return Finding::fail(format!("did not call {name}: {}", listed(calls)));
    }
    let mut why = String::new();
    for call in &of_name {
        let Ok(args) = serde_json::from_str::<Value>(&call.arguments) else {
            why = format!("arguments are not JSON: {}", excerpt(&call.arguments));
            continue;
        };
        if let Some(want) = arguments {
            let ok = if exact {
                subset(want, &args) && subset(&args, want)
            } else {
                subset(want, &args)
            };
            if !ok {
                why = format!("arguments {} do not match", excerpt(&call.arguments));
                continue;
            }
        }
        if let Some(schema) = schema {
            match jsonschema::validator_for(schema) {
                Ok(v) => {
                    if let Some(err) = v.iter_errors(&args).next() {
                        why = format!("arguments fail the schema: {err}");
                        continue;
                    }
                }
                Err(e) => {
                    why = format!("invalid schema: {e}");
                    continue;
                }
            }
        }
        return Finding::pass(format!("called {name}({})", excerpt(&call.arguments)));
    }
    Finding::fail(format!("called {name}, but {why}"))
}

/// `not_called`: no call of `name`.
pub fn not_called(calls: &[ToolCall], name: &str) -> Finding {
    match calls.iter().find(|c| c.name == name) {
        Some(c) => Finding::fail(format!("called {name}({})", excerpt(&c.arguments))),
        None => Finding::pass(format!("did not call {name}: {}", listed(calls))),
    }
}

/// `no_tool_calls`: no call at all.
pub fn no_tool_calls(calls: &[ToolCall]) -> Finding {
    if calls.is_empty() {
        Finding::pass("no function called")
    } else {
        Finding::fail(format!("called {}", listed(calls)))
    }
}

/// `tool_calls`: from `min` to `max` calls.
pub fn count(calls: &[ToolCall], min: usize, max: Option<usize>) -> Finding {
    let n = calls.len();
    let ok = n >= min && max.is_none_or(|m| n <= m);
    let detail = format!(
        "{n} call{}: {}",
        if n == 1 { "" } else { "s" },
        listed(calls)
    );
    if ok {
        Finding::pass(detail)
    } else {
        Finding::fail(detail)
    }
}

/// The first call a consumer could not dispatch, and why: arguments that are not a JSON
/// object, or a function the case's `tools` do not declare.
pub fn malformed(case: &Case, calls: &[ToolCall]) -> Option<String> {
    calls.iter().find_map(|c| {
        let declared = case
            .tools
            .iter()
            .any(|t| t["function"]["name"].as_str() == Some(c.name.as_str()));
        if !declared {
            return Some(format!(
                "called {}, a function the case does not declare",
                c.name
            ));
        }
        match serde_json::from_str::<Value>(&c.arguments) {
            Ok(Value::Object(_)) => None,
            Ok(_) => Some(format!(
                "{}'s arguments are not a JSON object: {}",
                c.name,
                excerpt(&c.arguments)
            )),
            Err(e) => Some(format!(
                "{}'s arguments are not JSON ({e}): {}",
                c.name,
                excerpt(&c.arguments)
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, args: &str) -> ToolCall {
        ToolCall {
            id: "call_1".into(),
            name: name.into(),
            arguments: args.into(),
        }
    }

    #[test]
    fn called_matches_by_subset_exact_or_schema() {
        let calls = [call("get_weather", r#"{"city": "Paris", "days": 3}"#)];
        let paris = json!({"city": "Paris"});
        assert!(called(&calls, "get_weather", None, false, None).passed);
        assert!(called(&calls, "get_weather", Some(&paris), false, None).passed);
        assert!(!called(&calls, "get_weather", Some(&paris), true, None).passed);
        assert!(
            called(
                &calls,
                "get_weather",
                Some(&json!({"days": 3.0, "city": "Paris"})),
                true,
                None
            )
            .passed
        );
        let f = called(
            &calls,
            "get_weather",
            Some(&json!({"city": "Rome"})),
            false,
            None,
        );
        assert!(!f.passed);
        assert!(f.detail.contains("do not match"), "{}", f.detail);
        let schema = json!({"type": "object", "properties": {"days": {"maximum": 2}}});
        assert!(!called(&calls, "get_weather", None, false, Some(&schema)).passed);
        let f = called(&calls, "delete_account", None, false, None);
        assert!(!f.passed);
        assert!(
            f.detail.starts_with("did not call delete_account"),
            "{}",
            f.detail
        );
        let broken = [call("get_weather", r#"{"city": "#)];
        assert!(!called(&broken, "get_weather", None, false, None).passed);
    }

    #[test]
    fn not_called_none_and_counts() {
        let calls = [call("a", "{}"), call("b", "{}")];
        assert!(!not_called(&calls, "b").passed);
        assert!(not_called(&calls, "c").passed);
        assert!(!no_tool_calls(&calls).passed);
        assert!(no_tool_calls(&[]).passed);
        assert!(count(&calls, 2, Some(2)).passed);
        assert!(!count(&calls, 1, Some(1)).passed);
        assert!(count(&calls, 1, None).passed);
        assert!(!count(&[], 1, None).passed);
    }
}
