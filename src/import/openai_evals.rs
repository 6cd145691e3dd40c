//! OpenAI evals samples (`{"input": [messages], "ideal": "..."}` per line) to an evalgate suite:
//! one prompt per shape of conversation whose messages come from the case's variables, and a
//! check on `ideal` per case.

use std::path::Path;

use serde_json::{Map, Value, json};

use super::{ImportError, Imported, OutFile, read, toml_section, unique_id};

/// How `ideal` is checked: OpenAI evals' `Match` (the answer starts with an ideal answer) or
/// `Includes` (the answer contains one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdealCheck {
    Match,
    Includes,
}

/// The model the suite calls: the samples name none.
const DEFAULT_MODEL: &str = "gpt-4.1-mini";

pub fn import(path: &Path, ideal_check: IdealCheck) -> Result<Imported, ImportError> {
    let text = read(path)?;
    let mut out = Imported::default();
    // Conversations of one shape (the same roles in the same order) share a prompt.
    let mut shapes: Vec<Vec<String>> = Vec::new();
    let mut rows: Vec<Vec<Value>> = Vec::new();
    let mut extra_keys: Vec<String> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let sample: Value = serde_json::from_str(line).map_err(|e| ImportError::Syntax {
            path: path.to_path_buf(),
            line: line_no,
            column: e.column(),
            message: format!("not a JSON sample: {e}"),
        })?;
        let field = |name: &str| format!("line {line_no}: {name}");
        let shape_err = |field: String, message: &str| ImportError::Shape {
            path: path.to_path_buf(),
            field,
            message: message.to_owned(),
        };
        let Value::Object(sample) = sample else {
            return Err(shape_err(
                field("(the line)"),
                "expected an object with `input` and `ideal`",
            ));
        };
        let messages: Vec<(String, String)> = match sample.get("input") {
            Some(Value::String(s)) => vec![("user".into(), s.clone())],
            Some(Value::Array(items)) if !items.is_empty() => {
                let mut messages = Vec::new();
                for (k, m) in items.iter().enumerate() {
                    let role = m.get("role").and_then(Value::as_str);
                    let content = m.get("content").and_then(Value::as_str);
                    match (role, content) {
                        (Some(r @ ("system" | "user" | "assistant")), Some(c)) => {
                            messages.push((r.to_owned(), c.to_owned()));
                        }
                        _ => {
                            return Err(shape_err(
                                field(&format!("input[{k}]")),
                                "expected {\"role\": \"system\"|\"user\"|\"assistant\", \"content\": \"text\"}",
                            ));
                        }
                    }
                }
                messages
            }
            _ => {
                return Err(shape_err(
                    field("input"),
                    "expected a non-empty list of {role, content} messages or a string",
                ));
            }
        };
        let ideals: Vec<String> = match sample.get("ideal") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items))
                if !items.is_empty() && items.iter().all(Value::is_string) =>
            {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            }
            _ => {
                return Err(shape_err(
                    field("ideal"),
                    "expected a string or a non-empty list of strings",
                ));
            }
        };
        for key in sample.keys() {
            if key != "input" && key != "ideal" && !extra_keys.contains(key) {
                extra_keys.push(key.clone());
            }
        }
        let roles: Vec<String> = messages.iter().map(|(r, _)| r.clone()).collect();
        let names = var_names(&roles);
        let shape = match shapes.iter().position(|s| *s == roles) {
            Some(i) => i,
            None => {
                shapes.push(roles);
                rows.push(Vec::new());
                shapes.len() - 1
            }
        };
        let mut vars = Map::new();
        for (name, (_, content)) in names.iter().zip(&messages) {
            vars.insert(name.clone(), json!(content));
        }
        let check = match (ideal_check, ideals.as_slice()) {
            (IdealCheck::Match, [one]) => json!({"type": "starts-with", "value": one}),
            (IdealCheck::Match, many) => {
                let alternatives: Vec<String> = many.iter().map(|i| regex::escape(i)).collect();
                json!({"type": "regex", "pattern": format!(r"^\s*(?:{})", alternatives.join("|"))})
            }
            (IdealCheck::Includes, [one]) => json!({"type": "contains", "value": one}),
            (IdealCheck::Includes, many) => {
                json!({"type": "contains", "values": many, "mode": "any"})
            }
        };
        let expected = match ideals.as_slice() {
            [one] => json!(one),
            many => json!(many),
        };
        rows[shape].push(json!({
            "id": format!("line-{line_no}"),
            "vars": vars,
            "expected": expected,
            "checks": [check],
        }));
    }
    if shapes.is_empty() {
        return Err(ImportError::Empty {
            path: path.to_path_buf(),
            message: "the file holds no sample".into(),
        });
    }
    for key in &extra_keys {
        out.not_mapped(
            format!("`{key}`"),
            "a sample field other than `input` and `ideal`: not carried over",
        );
    }
    out.note(
        "models",
        format!(
            "the samples name no model: the suite calls OpenAI {DEFAULT_MODEL} as model `target`; \
             change [models.target] to evaluate another"
        ),
    );
    out.note(
        "ideal",
        match ideal_check {
            IdealCheck::Match => {
                "checked as OpenAI evals' Match: the answer (leading whitespace \
                                  trimmed) starts with an ideal answer; `--check includes` checks \
                                  that it contains one"
            }
            IdealCheck::Includes => {
                "checked as OpenAI evals' Includes: the answer contains an \
                                     ideal answer (case-sensitive)"
            }
        },
    );

    out.note(
        "gate",
        "OpenAI evals reports an accuracy and fails nothing: add a floor such as \
         `[gate] min_pass_rate = 0.9` for the suite to gate",
    );

    let mut toml = format!(
        "# Imported from {} by `evalgate import openai-evals`.\n",
        path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned()
        )
    );
    let name = path.file_stem().map_or_else(
        || "openai-evals".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    );
    toml_section(&mut toml, "suite", &[("name", json!(name))]);
    toml_section(
        &mut toml,
        "models.target",
        &[
            ("provider", json!("openai")),
            ("model", json!(DEFAULT_MODEL)),
        ],
    );
    let many = shapes.len() > 1;
    let mut taken = Vec::new();
    let mut files = Vec::new();
    for (i, roles) in shapes.iter().enumerate() {
        let suffix = if many {
            format!("-{}", i + 1)
        } else {
            String::new()
        };
        let prompt = unique_id(&format!("chat{suffix}"), "chat", &mut taken);
        let messages: Vec<Value> = roles
            .iter()
            .zip(var_names(roles))
            .map(|(role, var)| json!({"role": role, "content": format!("{{{{ {var} }}}}")}))
            .collect();
        toml_section(
            &mut toml,
            &format!("prompts.{prompt}"),
            &[("messages", Value::Array(messages))],
        );
        let data = format!("data/samples{suffix}.jsonl");
        toml_section(
            &mut toml,
            &format!("datasets.samples{suffix}"),
            &[("file", json!(data)), ("prompts", json!([prompt]))],
        );
        let mut jsonl = String::new();
        for row in &rows[i] {
            jsonl.push_str(&row.to_string());
            jsonl.push('\n');
        }
        files.push(OutFile {
            path: data,
            content: jsonl,
        });
    }
    if many {
        out.note(
            "input",
            format!(
                "the samples hold {} shapes of conversation: one prompt and one dataset per shape",
                shapes.len()
            ),
        );
    }
    out.files.push(OutFile {
        path: "evalgate.toml".into(),
        content: toml,
    });
    out.files.extend(files);
    Ok(out)
}

/// The variable each message's content goes in: its role (`system`, `user`), numbered when the
/// role comes back (`user_1`, `assistant_1`, `user_2`).
fn var_names(roles: &[String]) -> Vec<String> {
    let mut seen: Vec<(&str, usize)> = Vec::new();
    let repeated = |role: &str| roles.iter().filter(|r| *r == role).count() > 1;
    roles
        .iter()
        .map(|role| {
            let count = match seen.iter_mut().find(|(r, _)| r == role) {
                Some((_, c)) => {
                    *c += 1;
                    *c
                }
                None => {
                    seen.push((role, 1));
                    1
                }
            };
            if repeated(role) {
                format!("{role}_{count}")
            } else {
                role.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_roles_are_numbered() {
        let roles: Vec<String> = ["system", "user", "assistant", "user"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            var_names(&roles),
            ["system", "user_1", "assistant", "user_2"]
        );
    }
}
