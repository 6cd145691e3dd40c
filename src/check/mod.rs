//! Checks: grade one model output with a score in [0, 1], pass/fail and a reason.
//!
//! A check is configured by a [`CheckSpec`] (from `[[checks]]` or a dataset row), compiled once
//! into a [`Check`] (templates registered, regexes and schemas built) and then graded per call.
//! One file per family implements [`Grader`].
//!
//! Checks that call out (a judge model, an embeddings endpoint, a program) implement
//! [`AsyncGrader`] instead: the executor hands them a [`Caller`] through which every model call
//! goes the same way as the graded call (journal, cache, retries, rate limits, audit log), so a
//! check never talks to a provider itself and stays testable with a fake caller.
//!
//! [`grade_call`] grades one answer with all its checks, for the executor.

mod embed;
mod external;
mod grade;
mod json;
mod judge;
mod numeric;
mod perf;
mod safety;
mod similarity;
mod text;
mod tools;

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::privacy::redact::Redactor;
use crate::provider::{BoxFuture, Message, ProviderKind};
use crate::results::{JudgeRecord, JudgeUsage, PASS_RATE_METRIC};
use crate::support::template::{TemplateStr, Templates};

pub use grade::{Graded, grade_call};
pub use safety::parse_kinds as parse_pii_kinds;

/// A check as written in the suite file or a dataset row. Which fields apply depends on `type`;
/// loading rejects fields that do not apply, naming them (see `Check::compile`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// The check type, e.g. `contains`, `json-schema`, `llm-judge`.
    #[serde(rename = "type")]
    #[schemars(schema_with = "check_type_schema")]
    pub kind: String,
    /// The expected text (a template) for text checks, a number for `numeric`, the expected JSON
    /// value for `json-path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// Several expected texts (templates) for the `contains` family, with `mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// `any` (default) or `all`, for `values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_case: Option<bool>,
    /// Whether to trim surrounding whitespace of the output before comparing (`equals`,
    /// `starts-with`, `numeric`); default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trim: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// `levenshtein` (default) or `jaro-winkler`, for `similarity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// `chars` (default) or `words`, for `length`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// An inline JSON schema, for `json-schema` (and optionally `is-json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    /// A JSON schema file, relative to the suite file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_file: Option<String>,
    /// A JSONPath (RFC 9535) expression, for `json-path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_usd: Option<f64>,
    /// The judge model's id, for `llm-judge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<String>,
    /// What the judge grades against (a template), for `llm-judge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rubric: Option<String>,
    /// A reference answer shown to the judge (a template), for `llm-judge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// `pass-fail` (default), `1-5` or `0-1`, for `llm-judge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<String>,
    /// Judge calls averaged per output, for `llm-judge`; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<u32>,
    /// The embedding model's id, for `similar`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The grading program and its arguments, for `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Seconds the grading program may run, for `command`; default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
    /// Which kinds of personal data to look for, for `no-pii`; default all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<String>>,
    /// `answer` (default: a refusal fails) or `refusal` (the output must refuse), for `refusal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// The function a `tool-call` check expects (or a `no-tool-call` check forbids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The arguments a `tool-call` check expects, a JSON value whose strings are templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<serde_json::Value>,
    /// Several expected calls, for `tool-call` with `mode` (`all`, `any`, `sequence`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls: Option<Vec<ExpectedCallSpec>>,
    /// Where the JSON is in the output, for the JSON checks: the whole output (default),
    /// `fenced` (the first ``` block) or `first` (the first JSON object or array in the text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<String>,
    /// Weight in the case's weighted score; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// The metric this check feeds; default `pass_rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
}

/// One expected call of a `tool-call` check's `calls` list.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedCallSpec {
    pub name: String,
    /// Arguments the call must have, exactly (strings are templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<serde_json::Value>,
    /// A JSON Schema the call's arguments must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
}

/// Every check type: its name, the fields it takes besides `type`, `weight` and `metric`, and
/// how it compiles, in the order the docs list them. Adding a check type is one row here and one
/// module with its grader.
const CHECKS: &[CheckType] = &[
    sync("equals", &["value", "ignore_case", "trim"], text::compile),
    sync(
        "contains",
        &["value", "values", "mode", "ignore_case"],
        text::compile,
    ),
    sync("icontains", &["value", "values", "mode"], text::compile),
    sync(
        "not-contains",
        &["value", "values", "mode", "ignore_case"],
        text::compile,
    ),
    sync("not-icontains", &["value", "values", "mode"], text::compile),
    sync(
        "starts-with",
        &["value", "ignore_case", "trim"],
        text::compile,
    ),
    sync("regex", &["pattern"], text::compile_regex),
    sync("not-regex", &["pattern"], text::compile_regex),
    sync(
        "is-json",
        &["schema", "schema_file", "extract"],
        json::compile,
    ),
    sync(
        "json-schema",
        &["schema", "schema_file", "extract"],
        json::compile,
    ),
    sync("json-path", &["path", "value", "extract"], json::compile),
    sync(
        "similarity",
        &["value", "threshold", "method", "ignore_case", "trim"],
        |_, spec, ctx| similarity::compile(spec, ctx),
    ),
    sync("numeric", &["value", "tolerance"], numeric::compile),
    sync("length", &["min", "max", "unit"], numeric::compile),
    sync("latency", &["max_ms"], |kind, spec, _| {
        perf::compile(kind, spec)
    }),
    sync("cost", &["max_usd"], |kind, spec, _| {
        perf::compile(kind, spec)
    }),
    sync("no-pii", &["kinds"], |_, spec, _| {
        safety::compile_no_pii(spec)
    }),
    sync("refusal", &["expect", "values"], |_, spec, _| {
        safety::compile_refusal(spec)
    }),
    sync(
        "tool-call",
        &["name", "arguments", "schema", "calls", "mode"],
        tools::compile,
    ),
    sync("no-tool-call", &["name"], tools::compile),
    CheckType {
        name: "llm-judge",
        fields: &[
            "judge",
            "rubric",
            "reference",
            "scale",
            "threshold",
            "samples",
        ],
        compile: Compiler::Calling(|_, spec, ctx| {
            let (grader, model) = judge::compile(spec, ctx)?;
            Ok((grader, Some(model)))
        }),
    },
    CheckType {
        name: "similar",
        fields: &["model", "value", "threshold"],
        compile: Compiler::Calling(|_, spec, ctx| {
            let (grader, model) = embed::compile(spec, ctx)?;
            Ok((grader, Some(model)))
        }),
    },
    CheckType {
        name: "command",
        fields: &["command", "timeout_s", "threshold"],
        compile: Compiler::Calling(|_, spec, ctx| Ok((external::compile(spec, ctx)?, None))),
    },
];

/// The JSON schema of `type`: one of the names in [`CHECKS`], so an editor completes them.
fn check_type_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "enum": check_types().collect::<Vec<_>>(),
    })
}

/// Every check type's name, in the order the docs list them.
pub fn check_types() -> impl Iterator<Item = &'static str> {
    CHECKS.iter().map(|c| c.name)
}

/// A row of [`CHECKS`].
struct CheckType {
    name: &'static str,
    fields: &'static [&'static str],
    compile: Compiler,
}

/// How a check type builds its grader from a spec (the type's name is passed along, for the
/// modules that compile several types).
enum Compiler {
    /// A grader that needs nothing but the answer.
    Pure(CompilePure),
    /// A grader that calls out (a judge, an embedding model, a program), with the suite model
    /// it calls, if any.
    Calling(CompileCalling),
}

type CompilePure =
    fn(&str, &CheckSpec, &mut CompileCtx<'_>) -> Result<Box<dyn Grader>, CheckConfigError>;
type CompileCalling = fn(
    &str,
    &CheckSpec,
    &mut CompileCtx<'_>,
) -> Result<(Box<dyn AsyncGrader>, Option<String>), CheckConfigError>;

const fn sync(
    name: &'static str,
    fields: &'static [&'static str],
    compile: CompilePure,
) -> CheckType {
    CheckType {
        name,
        fields,
        compile: Compiler::Pure(compile),
    }
}

/// A check configuration problem. `field` is relative to the check (`pattern`, `values[1]`); the
/// caller prefixes it with where the check was declared.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CheckConfigError {
    pub field: String,
    pub message: String,
}

/// What compiling a check needs from the suite.
#[derive(Debug)]
pub struct CompileCtx<'a> {
    pub templates: &'a mut Templates,
    /// Unique prefix for template names registered by this check (e.g. `checks[2]`).
    pub name: &'a str,
    /// The suite file's folder, for `schema_file` and the `command` check's working directory.
    pub base_dir: &'a Path,
    /// Every configured model (id and provider), for checks that call one.
    pub models: &'a [(String, ProviderKind)],
}

/// What grading one output needs.
#[derive(Debug)]
pub struct CheckInput<'a> {
    pub output: &'a str,
    /// Functions the model called.
    pub tool_calls: &'a [crate::provider::ToolCall],
    /// The case's template context: its vars at top level, plus `expected` and `id`.
    pub ctx: &'a minijinja::Value,
    pub templates: &'a Templates,
    pub latency_ms: u64,
    pub cost_usd: f64,
    /// The rendered messages the model was sent.
    pub messages: &'a [Message],
    /// The case's variables and expected value, as written in the dataset.
    pub vars: &'a serde_json::Map<String, serde_json::Value>,
    pub expected: Option<&'a serde_json::Value>,
    /// What `[redact]` masks. A reason quotes output masked *then* cut, so a cut can never hide
    /// half an e-mail or card number from the detector that masks the results afterwards.
    pub redactor: &'a Redactor,
}

impl CheckInput<'_> {
    /// `text` with known secrets and `[redact]` matches masked: what may be cut for a reason.
    pub(crate) fn mask(&self, text: &str) -> String {
        let scrubbed = crate::privacy::secrets::scrub(text);
        self.redactor.redact(&scrubbed).into_owned()
    }

    /// `text` for a reason line: masked, then shortened.
    pub(crate) fn quote(&self, text: &str) -> String {
        short(&self.mask(text))
    }
}

/// The grade of one output by one check.
#[derive(Debug, Clone, PartialEq)]
pub struct Grade {
    pub score: f64,
    pub passed: bool,
    pub reason: String,
    /// The check could not be evaluated (e.g. a template failed to render); the case is then
    /// errored rather than failed.
    pub errored: bool,
    /// What a judge was asked and answered, for `llm-judge`.
    pub judge: Option<JudgeRecord>,
}

impl Grade {
    pub fn pass(reason: impl Into<String>) -> Self {
        Grade {
            score: 1.0,
            passed: true,
            reason: reason.into(),
            errored: false,
            judge: None,
        }
    }
    pub fn fail(reason: impl Into<String>) -> Self {
        Grade {
            score: 0.0,
            passed: false,
            reason: reason.into(),
            errored: false,
            judge: None,
        }
    }
    pub fn scored(score: f64, passed: bool, reason: impl Into<String>) -> Self {
        Grade {
            score,
            passed,
            reason: reason.into(),
            errored: false,
            judge: None,
        }
    }
    pub fn error(reason: impl Into<String>) -> Self {
        Grade {
            score: 0.0,
            passed: false,
            reason: reason.into(),
            errored: true,
            judge: None,
        }
    }
}

/// One family's grading logic.
pub trait Grader: Send + Sync + std::fmt::Debug {
    fn grade(&self, input: &CheckInput<'_>) -> Grade;
}

/// Grading that waits on something outside the process: a judge model, an embeddings endpoint,
/// a program.
pub trait AsyncGrader: Send + Sync + std::fmt::Debug {
    fn grade<'a>(
        &'a self,
        input: &'a CheckInput<'a>,
        caller: &'a dyn Caller,
    ) -> BoxFuture<'a, Grade>;
}

/// The model calls a check may make. The executor implements it so that these calls go through
/// the journal, the cache, retries, rate limits and the audit log like any call, and are counted
/// in the run's cost. Errors are messages ready for a check's reason, already free of secrets.
pub trait Caller: Send + Sync {
    /// A chat completion from model `model` (a suite model id). `sample` distinguishes
    /// otherwise identical requests, so each sample is its own cached response.
    fn chat<'a>(
        &'a self,
        model: &'a str,
        messages: Vec<Message>,
        sample: u32,
    ) -> BoxFuture<'a, Result<Answer, String>>;

    /// The embedding of `text` from model `model`'s `/embeddings` endpoint.
    fn embed<'a>(&'a self, model: &'a str, text: String)
    -> BoxFuture<'a, Result<Vec<f64>, String>>;

    /// What the calls made through this caller so far used, reported as the graded call's judge
    /// usage.
    fn usage(&self) -> JudgeUsage;
}

/// A chat answer given to a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub output: String,
    /// Replayed from the cache or the journal rather than called.
    pub cached: bool,
}

#[derive(Debug)]
enum GraderImpl {
    Sync(Box<dyn Grader>),
    Async(Box<dyn AsyncGrader>),
}

/// A compiled check.
#[derive(Debug)]
pub struct Check {
    pub type_name: String,
    pub metric: String,
    pub weight: f64,
    grader: GraderImpl,
    /// Suite models this check calls (the judge, the embedding model).
    models: Vec<String>,
    /// The prefix its templates are registered under in the suite's [`Templates`], so `validate`
    /// can check every case provides the variables they read.
    pub template_prefix: String,
}

impl Check {
    /// Validates a spec and builds its grader: templates registered, regexes, schemas and paths
    /// compiled once.
    pub fn compile(spec: &CheckSpec, ctx: &mut CompileCtx<'_>) -> Result<Check, CheckConfigError> {
        let kind = spec.kind.as_str();
        let Some(row) = CHECKS.iter().find(|c| c.name == kind) else {
            // Another tool's name first: the nearest name can mean something else.
            let foreign = crate::support::foreign::check_hint(kind);
            let message = match (
                foreign,
                crate::support::suggest::did_you_mean(kind, check_types()),
            ) {
                (Some(hint), _) => format!("unknown check type `{kind}`; {hint}"),
                (None, Some(best)) => {
                    format!("unknown check type `{kind}`; did you mean `{best}`?")
                }
                (None, None) => format!(
                    "unknown check type `{kind}`; expected one of {}",
                    check_types().collect::<Vec<_>>().join(", ")
                ),
            };
            return Err(CheckConfigError {
                field: "type".into(),
                message,
            });
        };
        let allowed = row.fields;
        for (field, present) in present_fields(spec) {
            if present && !allowed.contains(&field) && !COMMON.contains(&field) {
                return Err(CheckConfigError {
                    field: field.into(),
                    message: format!(
                        "`{field}` does not apply to a `{kind}` check; it takes: {}",
                        allowed
                            .iter()
                            .chain(COMMON)
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        let weight = spec.weight.unwrap_or(1.0);
        // Capped so that the weights of a case's checks add up to a finite number.
        if !(weight > 0.0 && weight <= MAX_WEIGHT) {
            return Err(CheckConfigError {
                field: "weight".into(),
                message: format!(
                    "`weight` must be a positive number up to 1,000,000, found {}",
                    crate::support::fmt::format_found(weight)
                ),
            });
        }
        let metric = spec
            .metric
            .clone()
            .unwrap_or_else(|| PASS_RATE_METRIC.to_owned());
        if metric.trim().is_empty() {
            return Err(CheckConfigError {
                field: "metric".into(),
                message: "`metric` must not be empty".into(),
            });
        }
        let (grader, model) = match row.compile {
            Compiler::Pure(compile) => (GraderImpl::Sync(compile(kind, spec, ctx)?), None),
            Compiler::Calling(compile) => {
                let (grader, model) = compile(kind, spec, ctx)?;
                (GraderImpl::Async(grader), model)
            }
        };
        let models = model.into_iter().collect();
        Ok(Check {
            type_name: kind.to_owned(),
            metric,
            weight,
            grader,
            models,
            template_prefix: ctx.name.to_owned(),
        })
    }

    /// Grades without outside calls. A check that needs them ([`Check::is_async`]) is errored
    /// here: use [`Check::grade_with`].
    #[cfg(test)]
    pub fn grade(&self, input: &CheckInput<'_>) -> Grade {
        match &self.grader {
            GraderImpl::Sync(g) => g.grade(input),
            GraderImpl::Async(_) => Grade::error(format!(
                "a `{}` check calls out and can only be graded during a run",
                self.type_name
            )),
        }
    }

    /// Grades, making the check's outside calls through `caller`.
    pub async fn grade_with(&self, input: &CheckInput<'_>, caller: &dyn Caller) -> Grade {
        match &self.grader {
            GraderImpl::Sync(g) => g.grade(input),
            GraderImpl::Async(g) => g.grade(input, caller).await,
        }
    }

    #[cfg(test)]
    pub fn is_async(&self) -> bool {
        matches!(self.grader, GraderImpl::Async(_))
    }

    /// Ids of the suite models this check calls.
    pub fn models(&self) -> &[String] {
        &self.models
    }
}

const COMMON: &[&str] = &["weight", "metric"];

/// The largest `weight`: relative weights need no more, and a case's total stays finite.
const MAX_WEIGHT: f64 = 1_000_000.0;

fn present_fields(s: &CheckSpec) -> [(&'static str, bool); 31] {
    [
        ("value", s.value.is_some()),
        ("values", s.values.is_some()),
        ("mode", s.mode.is_some()),
        ("ignore_case", s.ignore_case.is_some()),
        ("trim", s.trim.is_some()),
        ("pattern", s.pattern.is_some()),
        ("threshold", s.threshold.is_some()),
        ("method", s.method.is_some()),
        ("tolerance", s.tolerance.is_some()),
        ("min", s.min.is_some()),
        ("max", s.max.is_some()),
        ("unit", s.unit.is_some()),
        ("schema", s.schema.is_some()),
        ("schema_file", s.schema_file.is_some()),
        ("path", s.path.is_some()),
        ("max_ms", s.max_ms.is_some()),
        ("max_usd", s.max_usd.is_some()),
        ("judge", s.judge.is_some()),
        ("rubric", s.rubric.is_some()),
        ("reference", s.reference.is_some()),
        ("scale", s.scale.is_some()),
        ("samples", s.samples.is_some()),
        ("model", s.model.is_some()),
        ("command", s.command.is_some()),
        ("timeout_s", s.timeout_s.is_some()),
        ("kinds", s.kinds.is_some()),
        ("expect", s.expect.is_some()),
        ("name", s.name.is_some()),
        ("arguments", s.arguments.is_some()),
        ("calls", s.calls.is_some()),
        ("extract", s.extract.is_some()),
    ]
}

/// A threshold in [0, 1], or `default`.
pub(crate) fn unit_threshold(spec: &CheckSpec, default: f64) -> Result<f64, CheckConfigError> {
    let threshold = spec.threshold.unwrap_or(default);
    if !(0.0..=1.0).contains(&threshold) {
        return Err(CheckConfigError {
            field: "threshold".into(),
            message: format!("`threshold` must be between 0 and 1, found {threshold}"),
        });
    }
    Ok(threshold)
}

/// Resolves a model id named by a check, with a "did you mean" for typos.
pub(crate) fn model_ref(
    ctx: &CompileCtx<'_>,
    field: &str,
    id: &str,
) -> Result<ProviderKind, CheckConfigError> {
    if let Some((_, kind)) = ctx.models.iter().find(|(m, _)| m == id) {
        return Ok(*kind);
    }
    let known = ctx.models.iter().map(|(m, _)| m.as_str());
    let message = match crate::support::suggest::did_you_mean(id, known) {
        Some(best) => format!("unknown model `{id}`; did you mean `{best}`?"),
        None => format!(
            "unknown model `{id}`; configured models: {}",
            ctx.models
                .iter()
                .map(|(m, _)| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(CheckConfigError {
        field: field.into(),
        message,
    })
}

pub(crate) fn missing(kind: &str, field: &str) -> CheckConfigError {
    CheckConfigError {
        field: field.into(),
        message: format!("a `{kind}` check needs `{field}`"),
    }
}

/// A template-valued string field (`value`): a string, or a number/bool taken as its text.
pub(crate) fn string_value(
    ctx: &mut CompileCtx<'_>,
    field: &str,
    value: &serde_json::Value,
) -> Result<TemplateStr, CheckConfigError> {
    match value {
        serde_json::Value::String(s) => template_field(ctx, field, s),
        serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {
            Ok(TemplateStr::Literal(value.to_string()))
        }
        other => Err(CheckConfigError {
            field: field.into(),
            message: format!(
                "`{field}` must be a string, found {}",
                crate::support::text::one_line(&other.to_string(), 80)
            ),
        }),
    }
}

/// Shortens a text for a reason line, on a character boundary. Model output goes through
/// [`CheckInput::quote`], which masks before it cuts.
fn short(text: &str) -> String {
    const MAX: usize = 80;
    let mut out: String = text.chars().take(MAX).collect();
    if text.chars().nth(MAX).is_some() {
        out.push('…');
    }
    format!("{out:?}")
}

/// Renders a template for a grader, turning a failure into an errored grade.
pub(crate) fn render(input: &CheckInput<'_>, template: &TemplateStr) -> Result<String, Grade> {
    input
        .templates
        .render(template, input.ctx)
        .map_err(|e| Grade::error(format!("template failed to render: {e}")))
}

/// Registers an optional template-valued field, for the families.
pub(crate) fn template_field(
    ctx: &mut CompileCtx<'_>,
    field: &str,
    source: &str,
) -> Result<TemplateStr, CheckConfigError> {
    let name = format!("{}.{field}", ctx.name);
    ctx.templates
        .add(&name, source)
        .map_err(|e| CheckConfigError {
            field: field.to_owned(),
            message: format!("invalid template: {e}"),
        })
}

#[cfg(test)]
mod tests;
