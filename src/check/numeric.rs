//! Numeric checks: the first number in the output within a tolerance, and length bounds.

use std::sync::LazyLock;

use regex::Regex;

use super::{
    CheckConfigError, CheckInput, CheckSpec, CompileCtx, Grade, Grader, missing, render,
    string_value,
};
use crate::support::template::TemplateStr;

#[derive(Debug)]
struct Numeric {
    value: TemplateStr,
    tolerance: f64,
}

#[derive(Debug)]
struct Length {
    min: Option<f64>,
    max: Option<f64>,
    words: bool,
}

pub(super) fn compile(
    kind: &str,
    spec: &CheckSpec,
    ctx: &mut CompileCtx<'_>,
) -> Result<Box<dyn Grader>, CheckConfigError> {
    if kind == "numeric" {
        let value = spec.value.as_ref().ok_or_else(|| missing(kind, "value"))?;
        if let serde_json::Value::String(s) = value
            && !s.contains("{{")
            && parse_number(s).is_none()
        {
            return Err(CheckConfigError {
                field: "value".into(),
                message: format!("`value` must be a number or a template, found {s:?}"),
            });
        }
        let tolerance = spec.tolerance.unwrap_or(0.0);
        if !(tolerance >= 0.0 && tolerance.is_finite()) {
            return Err(CheckConfigError {
                field: "tolerance".into(),
                message: format!("`tolerance` must be zero or positive, found {tolerance}"),
            });
        }
        return Ok(Box::new(Numeric {
            value: string_value(ctx, "value", value)?,
            tolerance,
        }));
    }
    if spec.min.is_none() && spec.max.is_none() {
        return Err(CheckConfigError {
            field: "max".into(),
            message: "a `length` check needs `min`, `max` or both".into(),
        });
    }
    for (field, bound) in [("min", spec.min), ("max", spec.max)] {
        if bound.is_some_and(|b| !(b >= 0.0 && b.is_finite())) {
            return Err(CheckConfigError {
                field: field.into(),
                message: format!(
                    "`{field}` is a count of characters or words: zero or more, found {}",
                    crate::support::fmt::format_found(bound.unwrap_or_default())
                ),
            });
        }
    }
    if let (Some(min), Some(max)) = (spec.min, spec.max)
        && min > max
    {
        return Err(CheckConfigError {
            field: "min".into(),
            message: format!("`min` ({min}) is greater than `max` ({max})"),
        });
    }
    let words = match spec.unit.as_deref() {
        None | Some("chars") => false,
        Some("words") => true,
        Some(other) => {
            return Err(CheckConfigError {
                field: "unit".into(),
                message: format!("`unit` must be `chars` or `words`, found `{other}`"),
            });
        }
    };
    Ok(Box::new(Length {
        min: spec.min,
        max: spec.max,
        words,
    }))
}

static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    #[expect(clippy::unwrap_used, reason = "a constant pattern, covered by tests")]
    Regex::new(
        r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+(?:[eE][-+]?\d+)?",
    )
    .unwrap()
});

/// The first number in `text`: sign, thousands separators, decimals and exponent allowed.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    NUMBER
        .find(text)
        .and_then(|m| m.as_str().replace(',', "").parse().ok())
}

impl Grader for Numeric {
    fn grade(&self, input: &CheckInput<'_>) -> Grade {
        let want = match render(input, &self.value) {
            Ok(w) => w,
            Err(grade) => return grade,
        };
        let Some(want) = parse_number(&want) else {
            return Grade::error(format!(
                "expected value {} is not a number",
                input.quote(&want)
            ));
        };
        let Some(got) = parse_number(input.output) else {
            return Grade::fail(format!("no number in output {}", input.quote(input.output)));
        };
        if (got - want).abs() <= self.tolerance {
            Grade::pass(format!("{got} is within {} of {want}", self.tolerance))
        } else {
            Grade::fail(format!("{got} is not within {} of {want}", self.tolerance))
        }
    }
}

impl Grader for Length {
    fn grade(&self, input: &CheckInput<'_>) -> Grade {
        let (n, unit) = if self.words {
            (input.output.split_whitespace().count(), "words")
        } else {
            (input.output.chars().count(), "characters")
        };
        let n_f = n as f64;
        if let Some(min) = self.min
            && n_f < min
        {
            return Grade::fail(format!("{n} {unit}, fewer than the minimum {min}"));
        }
        if let Some(max) = self.max
            && n_f > max
        {
            return Grade::fail(format!("{n} {unit}, more than the maximum {max}"));
        }
        Grade::pass(format!("{n} {unit}, within bounds"))
    }
}
