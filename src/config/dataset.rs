//! Datasets: cases from JSONL, CSV, a JSON array, or inline in the suite file.
//!
//! A row is an object. The keys `id`, `vars`, `expected`, `checks`, `tags`, `threshold` and
//! `messages` have their meaning; when a row has no `vars` object, its other keys are the vars. A row without `id`
//! gets a stable id from a hash of its vars, so reordering a dataset never re-pairs cases.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

use super::error::ConfigError;
use crate::check::{Check, CheckSpec, CompileCtx};
use crate::support::template::Templates;

/// One test case.
#[derive(Debug)]
pub struct Case {
    pub id: String,
    pub vars: Map<String, Value>,
    pub expected: Option<Value>,
    pub tags: Vec<String>,
    pub threshold: Option<f64>,
    /// The conversation so far, placed after the prompt's leading system messages and before the
    /// rest of the prompt. Data, not templates.
    pub messages: Vec<crate::provider::Message>,
    /// Checks of this case only, on top of the suite's.
    pub checks: Vec<Check>,
    pub check_specs: Vec<CheckSpec>,
    /// Where the case was read, for messages: `data/faq.jsonl:12`.
    pub origin: String,
    /// The template context: the vars at top level, plus `vars`, `expected` and `id`.
    pub ctx: minijinja::Value,
}

/// One row as read: its line (JSONL, CSV) or field path (JSON arrays), and its value or why it
/// could not be read.
pub(super) type Row = (Option<usize>, Option<String>, Result<Value, ConfigError>);

const RESERVED: &[&str] = &[
    "id",
    "vars",
    "expected",
    "checks",
    "tags",
    "threshold",
    "messages",
];

/// One message of a case's `messages`, as written.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCaseMessage {
    role: String,
    #[serde(default)]
    content: String,
    tool_call_id: Option<String>,
    #[serde(default)]
    tool_calls: Vec<RawCaseToolCall>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCaseToolCall {
    id: String,
    name: String,
    #[serde(default = "empty_object")]
    arguments: Value,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// A case's `messages`: roles known, a `tool` message answering a call an earlier assistant
/// message made (both APIs reject one that does not), ids only where they belong. A CSV cell holds
/// the list as JSON text.
fn case_messages(
    value: Value,
    origin: &RowOrigin<'_>,
) -> Result<Vec<crate::provider::Message>, ConfigError> {
    use crate::provider::{Message, Role, ToolCall};
    let value = match value {
        // An empty CSV cell: no conversation.
        Value::String(text) if text.trim().is_empty() => return Ok(Vec::new()),
        Value::String(text) => serde_json::from_str(&text).map_err(|e| {
            origin.error(format!(
                "`messages` is not a JSON list: {}",
                json_message(&e)
            ))
        })?,
        other => other,
    };
    let raw: Vec<RawCaseMessage> = serde_json::from_value(value).map_err(|e| {
        origin
            .error(format!("invalid `messages`: {e}"))
            .help(MESSAGES_HELP)
    })?;
    let mut called: Vec<String> = Vec::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, m) in raw.into_iter().enumerate() {
        let at = |message: String| {
            origin
                .error(format!("`messages[{i}]`: {message}"))
                .help(MESSAGES_HELP)
        };
        let role = match m.role.as_str() {
            "system" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            other => return Err(at(format!("unknown role `{other}`"))),
        };
        if !m.tool_calls.is_empty() && role != Role::Assistant {
            return Err(at("only an `assistant` message has `tool_calls`".into()));
        }
        match (&m.tool_call_id, role) {
            (None, Role::Tool) => {
                return Err(at(
                    "a `tool` message needs the `tool_call_id` it answers".into()
                ));
            }
            (Some(id), Role::Tool) if !called.contains(id) => {
                return Err(at(format!(
                    "`tool_call_id` `{id}` answers no earlier assistant `tool_calls` id"
                )));
            }
            (Some(_), r) if r != Role::Tool => {
                return Err(at("only a `tool` message has a `tool_call_id`".into()));
            }
            _ => {}
        }
        if let Some(c) = m.tool_calls.iter().find(|c| !c.arguments.is_object()) {
            return Err(at(format!(
                "the `arguments` of call `{}` must be an object, found {}",
                c.id,
                json_kind(&c.arguments)
            )));
        }
        called.extend(m.tool_calls.iter().map(|c| c.id.clone()));
        out.push(Message {
            role,
            content: m.content,
            tool_call_id: m.tool_call_id,
            tool_calls: m
                .tool_calls
                .into_iter()
                .map(|c| ToolCall {
                    id: Some(c.id),
                    name: c.name,
                    arguments: c.arguments,
                    raw_arguments: None,
                })
                .collect(),
        });
    }
    Ok(out)
}

const MESSAGES_HELP: &str = "`messages` is a list of `{role, content}` (role `system`, `user`, `assistant` or `tool`); an assistant message may list `tool_calls` (`{id, name, arguments}`), a `tool` message answers one with `tool_call_id`";

/// Where a row came from, to point errors at it.
pub(super) struct RowOrigin<'a> {
    pub file: &'a Path,
    pub line: Option<usize>,
    /// Field path for rows without a line (inline cases, JSON arrays).
    pub field: Option<String>,
    /// `file:line` or `file field`, as shown to users.
    pub display: String,
}

impl RowOrigin<'_> {
    fn error(&self, message: impl Into<String>) -> ConfigError {
        let mut err = ConfigError::new(self.file, message);
        if let Some(line) = self.line {
            err = err.at(line, 1);
        }
        if let Some(field) = &self.field {
            err = err.field(field.clone());
        }
        err
    }
}

/// Reads a dataset file, dispatching on its extension.
pub(super) fn read_file(path: &Path, shown: &str) -> Result<Vec<Row>, ConfigError> {
    let text = ConfigError::read_text(path, "dataset").map_err(|err| {
        if err.help.is_some() {
            err
        } else {
            err.help("dataset paths are relative to the suite file")
        }
    })?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "jsonl" | "ndjson" => Ok(text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                let parsed = serde_json::from_str::<Value>(line).map_err(|e| {
                    ConfigError::new(path, format!("invalid JSON: {}", json_message(&e)))
                        .at(i + 1, e.column())
                        .help("each line of a JSONL dataset is one JSON object")
                });
                (Some(i + 1), None, parsed)
            })
            .collect()),
        "json" => {
            let value: Value = serde_json::from_str(&text).map_err(|e| {
                ConfigError::new(path, format!("invalid JSON: {}", json_message(&e)))
                    .at(e.line(), e.column())
            })?;
            let Value::Array(rows) = value else {
                return Err(ConfigError::new(
                    path,
                    "a JSON dataset must be an array of case objects",
                ));
            };
            Ok(rows
                .into_iter()
                .enumerate()
                .map(|(i, row)| (None, Some(format!("[{i}]")), Ok(row)))
                .collect())
        }
        "csv" => read_csv(path, &text),
        _ => Err(ConfigError::new(
            path,
            format!("unsupported dataset format `.{ext}` for `{shown}`"),
        )
        .help("use .jsonl, .json (an array of objects) or .csv")),
    }
}

fn read_csv(path: &Path, text: &str) -> Result<Vec<Row>, ConfigError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ConfigError::new(path, format!("invalid CSV header: {e}")).at(1, 1))?
        .clone();
    for (i, name) in headers.iter().enumerate() {
        if headers.iter().take(i).any(|earlier| earlier == name) {
            return Err(ConfigError::new(
                path,
                format!(
                    "column `{name}` appears twice in the CSV header (columns {} and {})",
                    headers.iter().position(|h| h == name).unwrap_or(0) + 1,
                    i + 1
                ),
            )
            .at(1, 1)
            .help("each column names one variable: rename or remove one of them"));
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line() as usize);
                let mut obj = Map::new();
                for (name, value) in headers.iter().zip(record.iter()) {
                    let value = match name {
                        "tags" => Value::Array(
                            value
                                .split([',', ';'])
                                .map(str::trim)
                                .filter(|t| !t.is_empty())
                                .map(|t| Value::String(t.to_owned()))
                                .collect(),
                        ),
                        "threshold" => match value.trim().parse::<f64>() {
                            Ok(n) => {
                                serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
                            }
                            Err(_) if value.trim().is_empty() => continue,
                            Err(_) => Value::String(value.to_owned()),
                        },
                        _ => Value::String(value.to_owned()),
                    };
                    obj.insert(name.to_owned(), value);
                }
                rows.push((Some(line), None, Ok(Value::Object(obj))));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                rows.push((
                    Some(line),
                    None,
                    Err(ConfigError::new(path, format!("invalid CSV row: {e}")).at(line, 1)),
                ));
            }
        }
    }
    Ok(rows)
}

/// An OpenAI evals sample as an evalgate row: `input` becomes `messages` (a string is one user
/// message), `ideal` becomes `expected` (a string, or a list of acceptable answers), `id` stays,
/// and every other key is a variable. Rows without `input` are refused: a sample is its input.
pub(super) fn openai_evals_row(row: Value, origin: &RowOrigin<'_>) -> Result<Value, ConfigError> {
    let Value::Object(mut obj) = row else {
        return Err(origin.error(format!(
            "an OpenAI evals sample must be an object with `input`, found {}",
            json_kind(&row)
        )));
    };
    let messages = match obj.remove("input") {
        Some(Value::String(text)) => serde_json::json!([{"role": "user", "content": text}]),
        Some(list @ Value::Array(_)) => list,
        Some(other) => {
            return Err(origin.error(format!(
                "`input` must be a list of messages or a string, found {}",
                json_kind(&other)
            )));
        }
        None => {
            return Err(origin.error("an OpenAI evals sample needs `input`").help(
                "`input` is the conversation: `[{\"role\": \"user\", \"content\": \"...\"}]`",
            ));
        }
    };
    let mut case = Map::new();
    if let Some(id) = obj.remove("id") {
        case.insert("id".into(), id);
    }
    match obj.remove("ideal") {
        None | Some(Value::Null) => {}
        Some(ideal @ (Value::String(_) | Value::Array(_))) => {
            case.insert("expected".into(), ideal);
        }
        Some(other) => {
            return Err(origin.error(format!(
                "`ideal` must be a string or a list of strings, found {}",
                json_kind(&other)
            )));
        }
    }
    case.insert("messages".into(), messages);
    case.insert("vars".into(), Value::Object(obj));
    Ok(Value::Object(case))
}

/// Turns one row into a case, compiling its own checks.
pub(super) fn case_from_row(
    row: Value,
    origin: &RowOrigin<'_>,
    dataset: &str,
    row_index: usize,
    templates: &mut Templates,
    base_dir: &Path,
    models: &[(String, crate::provider::ProviderKind)],
) -> Result<Case, ConfigError> {
    let Value::Object(mut obj) = row else {
        return Err(origin.error(format!(
            "a case must be an object with `vars` (or plain variables), found {}",
            json_kind(&row)
        )));
    };
    let id = match obj.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(origin.error(format!(
                "`id` must be a non-empty string or a number, found {}",
                json_kind(&other)
            )));
        }
    };
    let expected = obj.remove("expected");
    let tags = match obj.remove("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|t| match t {
                Value::String(s) => Ok(s),
                other => Err(origin.error(format!(
                    "`tags` must hold strings, found {}",
                    json_kind(&other)
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(origin.error(format!(
                "`tags` must be a list of strings, found {}",
                json_kind(&other)
            )));
        }
    };
    let threshold = match obj.remove("threshold") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_f64().is_some_and(|t| (0.0..=1.0).contains(&t)) => {
            n.as_f64()
        }
        Some(other) => {
            return Err(origin.error(format!(
                "`threshold` must be a number from 0 to 1, found {}",
                crate::support::text::one_line(&other.to_string(), 80)
            )));
        }
    };
    let messages = match obj.remove("messages") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => case_messages(value, origin)?,
    };
    let check_specs: Vec<CheckSpec> = match obj.remove("checks") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => serde_json::from_value(value)
            .map_err(|e| origin.error(format!("invalid `checks`: {e}")))?,
    };
    let vars = match obj.remove("vars") {
        Some(Value::Object(vars)) => {
            if let Some(extra) = obj.keys().next() {
                return Err(origin
                    .error(format!("unknown key `{extra}` next to `vars`"))
                    .help(format!(
                        "a case row holds {} and, without `vars`, its variables at top level",
                        RESERVED.join(", ")
                    )));
            }
            vars
        }
        Some(other) => {
            return Err(origin.error(format!(
                "`vars` must be an object, found {}",
                json_kind(&other)
            )));
        }
        None => obj,
    };
    // Without an `id`, cases told apart only by their conversation must not share one; the
    // conversation enters the hash only when there is one, so other ids stay what they were.
    let id = id.unwrap_or_else(|| {
        if messages.is_empty() {
            hash_id(&vars)
        } else {
            let mut keyed = vars.clone();
            keyed.insert(
                "\u{0}messages".into(),
                serde_json::to_value(&messages).unwrap_or_default(),
            );
            hash_id(&keyed)
        }
    });
    let mut checks = Vec::with_capacity(check_specs.len());
    for (i, spec) in check_specs.iter().enumerate() {
        let name = format!("datasets.{dataset}#{row_index}.checks[{i}]");
        let mut ctx = CompileCtx {
            templates,
            name: &name,
            base_dir,
            models,
        };
        let check = Check::compile(spec, &mut ctx)
            .map_err(|e| origin.error(format!("`checks[{i}].{}`: {}", e.field, e.message)))?;
        checks.push(check);
    }
    let ctx = case_context(&id, &vars, expected.as_ref());
    Ok(Case {
        id,
        vars,
        expected,
        tags,
        threshold,
        messages,
        checks,
        check_specs,
        origin: origin.display.clone(),
        ctx,
    })
}

/// The template context of a case: its variables, and `vars` (all of them), `id` and `expected`,
/// which take the place of variables of those names.
pub fn case_context(
    id: &str,
    vars: &Map<String, Value>,
    expected: Option<&Value>,
) -> minijinja::Value {
    use minijinja::value::{Serde, Value as Jinja};
    // Each variable is converted once and shared (the engine's values are reference-counted)
    // between the top level and `vars`: the same maps as converting the two apart, at half the
    // cost of the case's share of loading a suite.
    let converted: BTreeMap<Jinja, Jinja> = vars
        .iter()
        .map(|(k, v)| (Jinja::from(k.as_str()), Jinja::from(Serde(v))))
        .collect();
    let mut ctx = converted.clone();
    ctx.insert(Jinja::from("vars"), Jinja::from(converted));
    ctx.insert(Jinja::from("id"), Jinja::from(id));
    if let Some(expected) = expected {
        ctx.insert(Jinja::from("expected"), Jinja::from(Serde(expected)));
    }
    Jinja::from(ctx)
}

/// A stable id from the vars: the first 12 hex digits of the SHA-256 of their canonical JSON.
pub fn hash_id(vars: &Map<String, Value>) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(crate::support::fingerprint::canonical_json(vars));
    hex::encode(&digest[..6])
}

/// serde_json's message without its " at line L column C" suffix: the location is given already.
fn json_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

pub(super) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The context is the map the case's variables, `vars`, `id` and `expected` make, converted
    /// as a whole: equal, and rendered alike.
    #[test]
    fn a_case_context_is_its_variables_with_vars_id_and_expected() {
        let reference = |id: &str, vars: &Map<String, Value>, expected: Option<&Value>| {
            let mut ctx = vars.clone();
            ctx.insert("vars".into(), Value::Object(vars.clone()));
            ctx.insert("id".into(), Value::String(id.to_owned()));
            if let Some(expected) = expected {
                ctx.insert("expected".into(), expected.clone());
            }
            minijinja::Value::from(minijinja::value::Serde(ctx))
        };
        let vars = json!({
            "q": "Ünï \"quoted\"", "n": 1.5, "i": -3, "big": 18446744073709551615u64,
            "list": [1, "a", null, {"x": true}], "nested": {"b": [], "a": {}},
            "id": "shadowed", "vars": "shadowed too", "expected": "kept without one",
        });
        let vars = vars.as_object().expect("object");
        let mut env = minijinja::Environment::new();
        env.add_template(
            "t",
            "{{ q }}|{{ n }}|{{ big }}|{{ list }}|{{ nested }}|{{ id }}|{{ vars.q }}|{{ vars.id }}|\
             {{ expected }}|{% for k, v in vars|items %}{{ k }}={{ v }};{% endfor %}|{{ vars|length }}|\
             {{ nested.a is mapping }}|{{ list[3].x }}",
        )
        .expect("template");
        for expected in [None, Some(&json!({"answer": 42}))] {
            let ctx = case_context("case-1", vars, expected);
            let want = reference("case-1", vars, expected);
            assert_eq!(ctx, want);
            assert_eq!(format!("{ctx:?}"), format!("{want:?}"));
            let render = |ctx: &minijinja::Value| {
                env.get_template("t")
                    .expect("t")
                    .render(ctx)
                    .expect("render")
            };
            assert_eq!(render(&ctx), render(&want));
        }
    }

    fn case(row: Value) -> Result<Case, ConfigError> {
        let origin = RowOrigin {
            file: Path::new("chats.jsonl"),
            line: Some(3),
            field: None,
            display: "chats.jsonl:3".into(),
        };
        case_from_row(
            row,
            &origin,
            "d",
            0,
            &mut Templates::new(),
            Path::new(""),
            &[],
        )
    }

    #[test]
    fn openai_evals_samples_become_rows() {
        let origin = RowOrigin {
            file: Path::new("samples.jsonl"),
            line: Some(3),
            field: None,
            display: "samples.jsonl:3".into(),
        };
        let row = |v: Value| openai_evals_row(v, &origin);
        assert_eq!(
            row(json!({"input": [{"role": "user", "content": "2+2?"}], "ideal": ["4", "four"], "id": "q1", "level": 1}))
                .expect("a sample"),
            json!({"id": "q1", "expected": ["4", "four"], "messages": [{"role": "user", "content": "2+2?"}], "vars": {"level": 1}})
        );
        assert_eq!(
            row(json!({"input": "hi"})).expect("a string input"),
            json!({"messages": [{"role": "user", "content": "hi"}], "vars": {}})
        );
        let missing = row(json!({"ideal": "x"}))
            .expect_err("no input")
            .to_string();
        assert!(
            missing.contains("samples.jsonl:3") && missing.contains("needs `input`"),
            "{missing}"
        );
        let bad = row(json!({"input": "x", "ideal": 4}))
            .expect_err("a number")
            .to_string();
        assert!(
            bad.contains("`ideal` must be a string or a list of strings, found a number"),
            "{bad}"
        );
        // The row then reads as any conversation row does.
        let c = case(row(json!({"input": "hi", "ideal": "hello"})).expect("row")).expect("case");
        assert_eq!(c.messages.len(), 1);
        assert_eq!(c.expected, Some(json!("hello")));
    }

    #[test]
    fn a_conversation_is_read_with_its_tool_calls_and_results() {
        let c = case(json!({"vars": {"q": "x"}, "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"}
        ]}))
        .expect("valid");
        assert_eq!(c.messages.len(), 3);
        assert_eq!(c.messages[1].tool_calls[0].name, "get_weather");
        assert_eq!(c.messages[2].role, crate::provider::Role::Tool);
        // The conversation is not a variable, and it tells cases with the same vars apart,
        // while a case without one keeps the id of its vars alone.
        assert!(!c.vars.contains_key("messages"));
        let plain = case(json!({"vars": {"q": "x"}})).expect("valid");
        assert_eq!(plain.id, hash_id(&plain.vars));
        assert_ne!(c.id, plain.id);
        // A CSV cell holds the list as JSON text; an empty one is no conversation.
        let csv =
            case(json!({"q": "x", "messages": "[{\"role\": \"user\", \"content\": \"hi\"}]"}))
                .expect("valid");
        assert_eq!(csv.messages[0].content, "hi");
        assert!(
            case(json!({"q": "x", "messages": ""}))
                .expect("valid")
                .messages
                .is_empty()
        );
    }

    #[test]
    fn tool_call_arguments_in_a_conversation_are_an_object() {
        let e = case(json!({"vars": {}, "messages": [
            {"role": "assistant", "tool_calls": [{"id": "c", "name": "f", "arguments": "x"}]}
        ]}))
        .expect_err("invalid");
        assert_eq!(
            e.message,
            "`messages[0]`: the `arguments` of call `c` must be an object, found a string"
        );
    }

    #[test]
    fn conversation_mistakes_name_the_row_and_the_message() {
        let err = |messages: Value| {
            let e = case(json!({"vars": {}, "messages": messages})).expect_err("invalid");
            assert_eq!(e.location, Some((3, 1)));
            e.message
        };
        assert_eq!(
            err(json!([{"role": "tool", "content": "x"}])),
            "`messages[0]`: a `tool` message needs the `tool_call_id` it answers"
        );
        assert_eq!(
            err(json!([{"role": "user", "content": "x", "tool_call_id": "c1"}])),
            "`messages[0]`: only a `tool` message has a `tool_call_id`"
        );
        assert_eq!(
            err(
                json!([{"role": "user", "content": "x", "tool_calls": [{"id": "c", "name": "f"}]}])
            ),
            "`messages[0]`: only an `assistant` message has `tool_calls`"
        );
        assert!(
            err(json!([{"role": "user", "text": "x"}]))
                .starts_with("invalid `messages`: unknown field `text`")
        );
    }
}
