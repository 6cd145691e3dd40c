//! Checks: grade one model output with a score in [0, 1], pass/fail and a reason.
//!
//! A check is configured by a [`CheckSpec`] (from `[[checks]]` or a dataset row), compiled once
//! into a [`Check`] (templates registered, regexes and schemas built) and then graded per call.
//! One file per family implements [`Grader`].

mod json;
mod numeric;
mod perf;
mod similarity;
mod text;

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::template::{TemplateStr, Templates};

/// A check as written in the suite file or a dataset row. Which fields apply depends on `type`;
/// [`Check::compile`] rejects fields that do not apply, naming them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    #[serde(rename = "type")]
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
    /// Weight in the case's weighted score; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// The metric this check feeds; default `pass_rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
}

/// The metric a check feeds when it names none.
pub const DEFAULT_METRIC: &str = "pass_rate";

/// Every check type, for "did you mean" suggestions and the docs.
pub const CHECK_TYPES: &[&str] = &[
    "equals",
    "contains",
    "icontains",
    "not-contains",
    "not-icontains",
    "starts-with",
    "regex",
    "not-regex",
    "is-json",
    "json-schema",
    "json-path",
    "similarity",
    "numeric",
    "length",
    "latency",
    "cost",
];

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
    /// The suite file's folder, for `schema_file`.
    pub base_dir: &'a Path,
}

/// What grading one output needs.
#[derive(Debug)]
pub struct CheckInput<'a> {
    pub output: &'a str,
    /// The case's template context: its vars at top level, plus `expected` and `id`.
    pub ctx: &'a minijinja::Value,
    pub templates: &'a Templates,
    pub latency_ms: u64,
    pub cost_usd: f64,
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
}

impl Grade {
    pub fn pass(reason: impl Into<String>) -> Self {
        Grade {
            score: 1.0,
            passed: true,
            reason: reason.into(),
            errored: false,
        }
    }
    pub fn fail(reason: impl Into<String>) -> Self {
        Grade {
            score: 0.0,
            passed: false,
            reason: reason.into(),
            errored: false,
        }
    }
    pub fn scored(score: f64, passed: bool, reason: impl Into<String>) -> Self {
        Grade {
            score,
            passed,
            reason: reason.into(),
            errored: false,
        }
    }
    pub fn error(reason: impl Into<String>) -> Self {
        Grade {
            score: 0.0,
            passed: false,
            reason: reason.into(),
            errored: true,
        }
    }
}

/// One family's grading logic.
pub trait Grader: Send + Sync + std::fmt::Debug {
    fn grade(&self, input: &CheckInput<'_>) -> Grade;
}

/// A compiled check.
#[derive(Debug)]
pub struct Check {
    pub type_name: String,
    pub metric: String,
    pub weight: f64,
    grader: Box<dyn Grader>,
}

impl Check {
    pub fn compile(spec: &CheckSpec, ctx: &mut CompileCtx<'_>) -> Result<Check, CheckConfigError> {
        let _ = (spec, ctx);
        unimplemented!("implemented by the check families")
    }

    pub fn grade(&self, input: &CheckInput<'_>) -> Grade {
        self.grader.grade(input)
    }
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
