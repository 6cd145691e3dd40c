//! Tool-call checks: `tool-call` (the model called the expected functions, with the expected
//! arguments) and `no-tool-call`.

use serde_json::Value;

use super::{
    CheckConfigError, CheckInput, CheckSpec, CompileCtx, ExpectedCallSpec, Grade, Grader,
    template_field,
};
use crate::provider::ToolCall;
use crate::support::template::TemplateStr;

/// The arguments a call must have: a JSON value whose strings are templates of the case vars.
#[derive(Debug)]
enum ArgTemplate {
    Value(Value),
    Text(TemplateStr),
    Array(Vec<ArgTemplate>),
    Object(Vec<(String, ArgTemplate)>),
}

#[derive(Debug)]
enum Args {
    Any,
    Equal(ArgTemplate),
    Schema(Box<jsonschema::Validator>),
}

#[derive(Debug)]
struct Expected {
    name: String,
    args: Args,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Every expected call was made, in any order.
    All,
    /// At least one expected call was made.
    Any,
    /// The expected calls were made in this order (other calls may come between them).
    Sequence,
}

#[derive(Debug)]
enum ToolCheck {
    Calls {
        expected: Vec<Expected>,
        mode: Mode,
    },
    /// No call at all, or none to this function.
    NoCall(Option<String>),
}

pub(super) fn compile(
    kind: &str,
    spec: &CheckSpec,
    ctx: &mut CompileCtx<'_>,
) -> Result<Box<dyn Grader>, CheckConfigError> {
    if kind == "no-tool-call" {
        return Ok(Box::new(ToolCheck::NoCall(spec.name.clone())));
    }
    let single = spec.name.is_some() || spec.arguments.is_some() || spec.schema.is_some();
    let specs: Vec<(String, ExpectedCallSpec)> = match (&spec.calls, single) {
        (Some(_), true) => {
            return Err(CheckConfigError {
                field: "calls".into(),
                message: "give either `name` (with `arguments` or `schema`) or `calls`, not both"
                    .into(),
            });
        }
        (Some(calls), false) if calls.is_empty() => {
            return Err(CheckConfigError {
                field: "calls".into(),
                message: "`calls` is empty: list at least one expected call".into(),
            });
        }
        (Some(calls), false) => calls
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("calls[{i}]."), c.clone()))
            .collect(),
        (None, _) => {
            let name = spec.name.clone().ok_or_else(|| CheckConfigError {
                field: "name".into(),
                message: "a `tool-call` check needs `name` (the expected function) or `calls`"
                    .into(),
            })?;
            vec![(
                String::new(),
                ExpectedCallSpec {
                    name,
                    arguments: spec.arguments.clone(),
                    schema: spec.schema.clone(),
                },
            )]
        }
    };
    let mode = match spec.mode.as_deref() {
        None | Some("all") => Mode::All,
        Some("any") => Mode::Any,
        Some("sequence") => Mode::Sequence,
        Some(other) => {
            return Err(CheckConfigError {
                field: "mode".into(),
                message: format!("`mode` must be `all`, `any` or `sequence`, found `{other}`"),
            });
        }
    };
    let mut expected = Vec::new();
    for (prefix, call) in specs {
        if call.name.trim().is_empty() {
            return Err(CheckConfigError {
                field: format!("{prefix}name"),
                message: "the expected function's `name` must not be empty".into(),
            });
        }
        let args = match (&call.arguments, &call.schema) {
            (Some(_), Some(_)) => {
                return Err(CheckConfigError {
                    field: format!("{prefix}schema"),
                    message: "give either `arguments` (an exact value) or `schema`, not both"
                        .into(),
                });
            }
            (Some(value), None) => {
                let mut counter = 0;
                Args::Equal(arg_template(
                    ctx,
                    &format!("{prefix}arguments"),
                    value,
                    &mut counter,
                )?)
            }
            (None, Some(schema)) => Args::Schema(Box::new(
                jsonschema::validator_for(schema).map_err(|e| CheckConfigError {
                    field: format!("{prefix}schema"),
                    message: format!("invalid JSON schema: {e}"),
                })?,
            )),
            (None, None) => Args::Any,
        };
        expected.push(Expected {
            name: call.name,
            args,
        });
    }
    Ok(Box::new(ToolCheck::Calls { expected, mode }))
}

/// Registers every string of `value` as a template, under `field.N`.
fn arg_template(
    ctx: &mut CompileCtx<'_>,
    field: &str,
    value: &Value,
    counter: &mut usize,
) -> Result<ArgTemplate, CheckConfigError> {
    Ok(match value {
        Value::String(s) => {
            *counter += 1;
            ArgTemplate::Text(template_field(ctx, &format!("{field}.{counter}"), s)?)
        }
        Value::Array(items) => ArgTemplate::Array(
            items
                .iter()
                .map(|v| arg_template(ctx, field, v, counter))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => ArgTemplate::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), arg_template(ctx, field, v, counter)?)))
                .collect::<Result<_, CheckConfigError>>()?,
        ),
        other => ArgTemplate::Value(other.clone()),
    })
}

fn render_args(input: &CheckInput<'_>, template: &ArgTemplate) -> Result<Value, Grade> {
    Ok(match template {
        ArgTemplate::Value(v) => v.clone(),
        ArgTemplate::Text(t) => Value::String(super::render(input, t)?),
        ArgTemplate::Array(items) => Value::Array(
            items
                .iter()
                .map(|t| render_args(input, t))
                .collect::<Result<_, _>>()?,
        ),
        ArgTemplate::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, t)| Ok((k.clone(), render_args(input, t)?)))
                .collect::<Result<_, Grade>>()?,
        ),
    })
}

/// An expected call with its arguments rendered for this case.
struct Want<'a> {
    name: &'a str,
    args: WantArgs<'a>,
}

enum WantArgs<'a> {
    Any,
    Equal(Value),
    Schema(&'a jsonschema::Validator),
}

impl Want<'_> {
    /// `None` when `call` is this expected call; otherwise why not.
    fn mismatch(&self, input: &CheckInput<'_>, call: &ToolCall) -> Option<String> {
        if call.name != self.name {
            return Some(format!(
                "called `{}` with {}, expected `{}`",
                call.name,
                shown_args(input, call),
                self.name
            ));
        }
        if matches!(self.args, WantArgs::Any) {
            return None;
        }
        if let Some(raw) = &call.raw_arguments {
            return Some(format!(
                "called `{}` with arguments that are not valid JSON: {}",
                call.name,
                input.quote(raw)
            ));
        }
        match &self.args {
            WantArgs::Any => None,
            WantArgs::Equal(want) if *want == call.arguments => None,
            WantArgs::Equal(want) => Some(format!(
                "called `{}` with {}, expected arguments {}",
                call.name,
                shown_args(input, call),
                cut(&want.to_string())
            )),
            WantArgs::Schema(validator) => {
                let errors: Vec<String> = validator
                    .iter_errors(&call.arguments)
                    .take(3)
                    .map(|e| {
                        let at = e.instance_path().to_string();
                        format!("{}: {e}", if at.is_empty() { "/" } else { at.as_str() })
                    })
                    .collect();
                if errors.is_empty() {
                    None
                } else {
                    Some(format!(
                        "called `{}` with {}, which does not match the schema: {}",
                        call.name,
                        shown_args(input, call),
                        input.mask(&errors.join("; "))
                    ))
                }
            }
        }
    }

    fn describe(&self) -> String {
        match &self.args {
            WantArgs::Equal(v) => format!("`{}` with {}", self.name, cut(&v.to_string())),
            _ => format!("`{}`", self.name),
        }
    }
}

impl Grader for ToolCheck {
    fn grade(&self, input: &CheckInput<'_>) -> Grade {
        let calls = input.tool_calls;
        match self {
            ToolCheck::NoCall(name) => {
                let offending = calls
                    .iter()
                    .find(|c| name.as_ref().is_none_or(|n| *n == c.name));
                match (offending, name) {
                    (None, None) => Grade::pass("no tool call"),
                    (None, Some(n)) => Grade::pass(format!("`{n}` was not called")),
                    (Some(c), None) => Grade::fail(format!(
                        "called `{}` with {}, expected no tool call",
                        c.name,
                        shown_args(input, c)
                    )),
                    (Some(c), Some(n)) => Grade::fail(format!(
                        "called `{n}` with {}, expected no call to it",
                        shown_args(input, c)
                    )),
                }
            }
            ToolCheck::Calls { expected, mode } => {
                let mut wants = Vec::with_capacity(expected.len());
                for e in expected {
                    let args = match &e.args {
                        Args::Any => WantArgs::Any,
                        Args::Equal(t) => match render_args(input, t) {
                            Ok(v) => WantArgs::Equal(v),
                            Err(grade) => return grade,
                        },
                        Args::Schema(v) => WantArgs::Schema(v),
                    };
                    wants.push(Want {
                        name: &e.name,
                        args,
                    });
                }
                grade_calls(input, &wants, *mode)
            }
        }
    }
}

fn grade_calls(input: &CheckInput<'_>, wants: &[Want<'_>], mode: Mode) -> Grade {
    let calls = input.tool_calls;
    let names = || {
        wants
            .iter()
            .map(Want::describe)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if calls.is_empty() {
        let text = if input.output.is_empty() {
            String::new()
        } else {
            format!(", answered {}", input.quote(input.output))
        };
        return Grade::fail(format!("no tool call, expected {}{text}", names()));
    }
    // For one expected call: the reason a call with its name failed, or else the first call's.
    let why_not = |want: &Want<'_>| -> String {
        calls
            .iter()
            .find(|c| c.name == want.name)
            .or(calls.first())
            .and_then(|c| want.mismatch(input, c))
            .unwrap_or_default()
    };
    let matched = |want: &Want<'_>| calls.iter().any(|c| want.mismatch(input, c).is_none());
    match mode {
        Mode::Any => {
            if let Some(w) = wants.iter().find(|w| matched(w)) {
                return Grade::pass(format!("called {}", w.describe()));
            }
            if wants.len() == 1 {
                return Grade::fail(why_not(&wants[0]));
            }
            Grade::fail(format!(
                "none of the expected calls ({}) was made; called {}",
                names(),
                shown_calls(input)
            ))
        }
        Mode::All => match wants.iter().find(|w| !matched(w)) {
            None => Grade::pass(format!("called {}", names())),
            Some(w) if wants.len() == 1 => Grade::fail(why_not(w)),
            Some(w) => Grade::fail(format!(
                "{} (expected all of {}; called {})",
                why_not(w),
                names(),
                shown_calls(input)
            )),
        },
        Mode::Sequence => {
            // Greedy subsequence match: each expected call at the first later call it fits.
            let mut next = 0;
            for (i, want) in wants.iter().enumerate() {
                match calls[next..]
                    .iter()
                    .position(|c| want.mismatch(input, c).is_none())
                {
                    Some(at) => next += at + 1,
                    None => {
                        let detail = if wants.len() == 1 {
                            why_not(want)
                        } else {
                            format!(
                                "expected call {} of {} ({}) not made in order; called {}",
                                i + 1,
                                wants.len(),
                                want.describe(),
                                shown_calls(input)
                            )
                        };
                        return Grade::fail(detail);
                    }
                }
            }
            Grade::pass(format!("called {} in order", names()))
        }
    }
}

/// A call's arguments for a reason: masked like any model output, and cut.
fn shown_args(input: &CheckInput<'_>, call: &ToolCall) -> String {
    let text = match &call.raw_arguments {
        Some(raw) => raw.clone(),
        None => call.arguments.to_string(),
    };
    cut(&input.mask(&text))
}

/// Every call, `name(args)`, for a reason.
fn shown_calls(input: &CheckInput<'_>) -> String {
    input
        .tool_calls
        .iter()
        .map(|c| format!("{}({})", c.name, shown_args(input, c)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn cut(text: &str) -> String {
    const MAX: usize = 120;
    let mut out: String = text.chars().take(MAX).collect();
    if text.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}
