//! JSON checks: is-json (optionally with a schema), json-schema and json-path, on the whole
//! output or on JSON found inside it (`extract`).

use serde_json::Value;
use serde_json_path::JsonPath;

use super::{
    CheckConfigError, CheckInput, CheckSpec, CompileCtx, Grade, Grader, missing, render,
    string_value,
};
use crate::support::template::TemplateStr;

#[derive(Debug)]
enum Expected {
    /// Any match will do.
    Exists,
    /// The first match must equal this JSON value.
    Json(Value),
    /// A template: compared with a string match, or with a match's JSON text.
    Text(TemplateStr),
}

#[derive(Debug)]
enum Kind {
    Parse,
    Schema(Box<jsonschema::Validator>),
    Path {
        path: JsonPath,
        source: String,
        expected: Expected,
    },
}

/// Where the JSON is in the output.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Extract {
    /// The whole output, trimmed.
    Whole,
    /// The first fenced block tagged `json` or untagged.
    Fenced,
    /// The first `{` or `[` from which a JSON value parses.
    First,
}

#[derive(Debug)]
struct JsonCheck {
    kind: Kind,
    extract: Extract,
}

/// How many `{`/`[` positions `extract = "first"` tries before it gives up, so a long answer
/// full of braces cannot make grading quadratic.
const MAX_FIRST_CANDIDATES: usize = 1_000;

pub(super) fn compile(
    kind: &str,
    spec: &CheckSpec,
    ctx: &mut CompileCtx<'_>,
) -> Result<Box<dyn Grader>, CheckConfigError> {
    let extract = match spec.extract.as_deref() {
        None => Extract::Whole,
        Some("fenced") => Extract::Fenced,
        Some("first") => Extract::First,
        Some(other) => {
            return Err(CheckConfigError {
                field: "extract".into(),
                message: format!(
                    "`extract` must be `fenced` or `first` (or left out for the whole output), found `{other}`"
                ),
            });
        }
    };
    let schema = load_schema(spec, ctx)?;
    let kind = match (kind, schema) {
        ("is-json", None) => Kind::Parse,
        ("is-json" | "json-schema", Some(schema)) => Kind::Schema(Box::new(schema)),
        ("json-schema", None) => return Err(missing(kind, "schema")),
        _ => {
            let source = spec.path.clone().ok_or_else(|| missing(kind, "path"))?;
            let path = JsonPath::parse(&source).map_err(|e| CheckConfigError {
                field: "path".into(),
                message: format!("invalid JSONPath: {e}"),
            })?;
            let expected = match &spec.value {
                None => Expected::Exists,
                Some(v @ Value::String(_)) => Expected::Text(string_value(ctx, "value", v)?),
                Some(v) => Expected::Json(v.clone()),
            };
            Kind::Path {
                path,
                source,
                expected,
            }
        }
    };
    Ok(Box::new(JsonCheck { kind, extract }))
}

fn load_schema(
    spec: &CheckSpec,
    ctx: &CompileCtx<'_>,
) -> Result<Option<jsonschema::Validator>, CheckConfigError> {
    let (schema, field) = match (&spec.schema, &spec.schema_file) {
        (Some(_), Some(_)) => {
            return Err(CheckConfigError {
                field: "schema_file".into(),
                message: "give either `schema` or `schema_file`, not both".into(),
            });
        }
        (Some(schema), None) => (schema.clone(), "schema"),
        (None, Some(file)) => {
            let path = ctx.base_dir.join(file);
            let text = std::fs::read_to_string(&path).map_err(|e| CheckConfigError {
                field: "schema_file".into(),
                message: format!("cannot read `{}`: {e}", path.display()),
            })?;
            let schema = serde_json::from_str(&text).map_err(|e| CheckConfigError {
                field: "schema_file".into(),
                message: format!("`{}` is not JSON: {e}", path.display()),
            })?;
            (schema, "schema_file")
        }
        (None, None) => return Ok(None),
    };
    jsonschema::validator_for(&schema)
        .map(Some)
        .map_err(|e| CheckConfigError {
            field: field.into(),
            message: format!("invalid JSON schema: {e}"),
        })
}

impl Grader for JsonCheck {
    fn grade(&self, input: &CheckInput<'_>) -> Grade {
        let value: Value = match self.extract {
            Extract::Whole => match serde_json::from_str(input.output.trim()) {
                Ok(v) => v,
                Err(e) => {
                    return Grade::fail(format!(
                        "output is not JSON ({e}): {}",
                        input.quote(input.output)
                    ));
                }
            },
            Extract::Fenced => match fenced_block(input.output) {
                None => {
                    return Grade::fail(format!(
                        "no ```json (or plain ```) fenced block in the output: {}",
                        input.quote(input.output)
                    ));
                }
                Some(block) => match serde_json::from_str(block.trim()) {
                    Ok(v) => v,
                    Err(e) => {
                        return Grade::fail(format!(
                            "the fenced block is not JSON ({e}): {}",
                            input.quote(block)
                        ));
                    }
                },
            },
            Extract::First => match first_json(input.output) {
                Some(v) => v,
                None => {
                    return Grade::fail(format!(
                        "no JSON object or array in the output: {}",
                        input.quote(input.output)
                    ));
                }
            },
        };
        match &self.kind {
            Kind::Parse if self.extract == Extract::Whole => Grade::pass("output is valid JSON"),
            Kind::Parse => Grade::pass("output holds valid JSON"),
            Kind::Schema(validator) => {
                let errors: Vec<String> = validator
                    .iter_errors(&value)
                    .take(3)
                    .map(|e| {
                        let at = e.instance_path().to_string();
                        format!("{}: {e}", if at.is_empty() { "/" } else { at.as_str() })
                    })
                    .collect();
                if errors.is_empty() {
                    Grade::pass("output matches the schema")
                } else {
                    Grade::fail(format!(
                        "output does not match the schema: {}",
                        errors.join("; ")
                    ))
                }
            }
            Kind::Path {
                path,
                source,
                expected,
            } => {
                let nodes = path.query(&value).all();
                let Some(first) = nodes.first() else {
                    return Grade::fail(format!("{source} matches nothing in the output"));
                };
                let (passed, want) = match expected {
                    Expected::Exists => {
                        return Grade::pass(format!("{source} is {}", shown(input, first)));
                    }
                    Expected::Json(want) => (*first == want, want.to_string()),
                    Expected::Text(template) => {
                        let want = match render(input, template) {
                            Ok(w) => w,
                            Err(grade) => return grade,
                        };
                        let passed = match first {
                            Value::String(s) => *s == want,
                            other => other.to_string() == want,
                        };
                        (passed, want)
                    }
                };
                if passed {
                    Grade::pass(format!("{source} is {}", input.quote(&want)))
                } else {
                    Grade::fail(format!(
                        "{source} is {}, expected {}",
                        shown(input, first),
                        input.quote(&want)
                    ))
                }
            }
        }
    }
}

/// A JSON value for a reason line: strings as text (quoted once), anything else as JSON.
fn shown(input: &CheckInput<'_>, value: &Value) -> String {
    match value {
        Value::String(s) => input.quote(s),
        other => input.quote(&other.to_string()),
    }
}

/// The content of the first fenced block (```` ``` ```` or `~~~`) whose info string is `json`
/// (any case) or empty; `None` when there is none. An unclosed block runs to the end of the text,
/// as in CommonMark.
fn fenced_block(text: &str) -> Option<&str> {
    let mut lines = text.split_inclusive('\n');
    let mut offset = 0;
    while let Some(line) = lines.next() {
        offset += line.len();
        let trimmed = line.trim_start();
        let Some(fence) = ["```", "~~~"].into_iter().find(|f| trimmed.starts_with(f)) else {
            continue;
        };
        let info = trimmed
            .trim_start_matches(fence.chars().next().unwrap_or('`'))
            .trim();
        if !(info.is_empty() || info.eq_ignore_ascii_case("json")) {
            // Another language's block: skip to its closing fence.
            for inner in lines.by_ref() {
                offset += inner.len();
                if inner.trim_start().starts_with(fence) {
                    break;
                }
            }
            continue;
        }
        let body_start = offset;
        for inner in lines.by_ref() {
            if inner.trim_start().starts_with(fence) {
                return Some(&text[body_start..offset]);
            }
            offset += inner.len();
        }
        return Some(&text[body_start..]);
    }
    None
}

/// The first JSON object or array in `text`: from each `{` or `[` in turn, the value that
/// parses from there (trailing text allowed).
fn first_json(text: &str) -> Option<Value> {
    text.char_indices()
        .filter(|(_, c)| *c == '{' || *c == '[')
        .take(MAX_FIRST_CANDIDATES)
        .find_map(|(i, _)| {
            serde_json::Deserializer::from_str(&text[i..])
                .into_iter::<Value>()
                .next()
                .and_then(Result::ok)
        })
}
