//! Text checks: equals, starts-with, the contains family, regex and not-regex.

use regex::Regex;

use super::{
    CheckConfigError, CheckInput, CheckSpec, CompileCtx, Grade, Grader, missing, render,
    string_value, template_field,
};
use crate::support::template::TemplateStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equals,
    StartsWith,
    Contains,
    NotContains,
}

#[derive(Debug)]
struct TextCheck {
    op: Op,
    values: Vec<TemplateStr>,
    /// `all` rather than `any`, for several values.
    all: bool,
    ignore_case: bool,
    trim: bool,
}

pub(super) fn compile(
    kind: &str,
    spec: &CheckSpec,
    ctx: &mut CompileCtx<'_>,
) -> Result<Box<dyn Grader>, CheckConfigError> {
    let op = match kind {
        "equals" => Op::Equals,
        "starts-with" => Op::StartsWith,
        "contains" | "icontains" => Op::Contains,
        _ => Op::NotContains,
    };
    let values = match (&spec.value, &spec.values) {
        (Some(_), Some(_)) => {
            return Err(CheckConfigError {
                field: "values".into(),
                message: "give either `value` or `values`, not both".into(),
            });
        }
        (Some(v), None) => vec![string_value(ctx, "value", v)?],
        (None, Some(vs)) if !vs.is_empty() => vs
            .iter()
            .enumerate()
            .map(|(i, v)| template_field(ctx, &format!("values[{i}]"), v))
            .collect::<Result<_, _>>()?,
        (None, Some(_)) => {
            return Err(CheckConfigError {
                field: "values".into(),
                message: "`values` must not be empty".into(),
            });
        }
        (None, None) if matches!(op, Op::Contains | Op::NotContains) => {
            return Err(CheckConfigError {
                field: "value".into(),
                message: format!("a `{kind}` check needs `value` or `values`"),
            });
        }
        (None, None) => return Err(missing(kind, "value")),
    };
    let all = match spec.mode.as_deref() {
        None | Some("any") => false,
        Some("all") => true,
        Some(other) => {
            return Err(CheckConfigError {
                field: "mode".into(),
                message: format!("`mode` must be `any` or `all`, found `{other}`"),
            });
        }
    };
    Ok(Box::new(TextCheck {
        op,
        values,
        all,
        ignore_case: kind.contains("icontains") || spec.ignore_case.unwrap_or(false),
        trim: spec.trim.unwrap_or(true),
    }))
}

impl Grader for TextCheck {
    fn grade(&self, input: &CheckInput<'_>) -> Grade {
        let mut output = if self.trim && matches!(self.op, Op::Equals | Op::StartsWith) {
            input.output.trim().to_owned()
        } else {
            input.output.to_owned()
        };
        if self.ignore_case {
            output = output.to_lowercase();
        }
        let mut found = Vec::with_capacity(self.values.len());
        for template in &self.values {
            let mut value = match render(input, template) {
                Ok(v) => v,
                Err(grade) => return grade,
            };
            if self.trim && self.op == Op::Equals {
                value = value.trim().to_owned();
            }
            let needle = if self.ignore_case {
                value.to_lowercase()
            } else {
                value.clone()
            };
            let hit = match self.op {
                Op::Equals => output == needle,
                Op::StartsWith => output.starts_with(&needle),
                Op::Contains | Op::NotContains => output.contains(&needle),
            };
            found.push((value, hit));
        }
        let hits = found.iter().filter(|(_, h)| *h).count();
        let listed = |want: bool| {
            found
                .iter()
                .filter(|(_, h)| *h == want)
                .map(|(v, _)| input.quote(v))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.op {
            Op::Equals | Op::StartsWith => {
                let (yes, no) = match self.op {
                    Op::Equals => ("equals", "does not equal"),
                    _ => ("starts with", "does not start with"),
                };
                if hits > 0 {
                    Grade::pass(format!("output {yes} {}", listed(true)))
                } else {
                    Grade::fail(format!(
                        "output {} {no} {}",
                        input.quote(input.output),
                        listed(false)
                    ))
                }
            }
            Op::Contains => {
                let passed = if self.all {
                    hits == found.len()
                } else {
                    hits > 0
                };
                if passed {
                    Grade::pass(format!("output contains {}", listed(true)))
                } else if self.all || found.len() == 1 {
                    Grade::fail(format!(
                        "output {} does not contain {}",
                        input.quote(input.output),
                        listed(false)
                    ))
                } else {
                    Grade::fail(format!(
                        "output {} contains none of {}",
                        input.quote(input.output),
                        listed(false)
                    ))
                }
            }
            Op::NotContains => {
                // `any` (default): fails if any value appears. `all`: fails only if all appear.
                let failed = if self.all {
                    hits == found.len()
                } else {
                    hits > 0
                };
                if failed {
                    Grade::fail(format!("output contains {}", listed(true)))
                } else {
                    Grade::pass("output contains none of the forbidden values")
                }
            }
        }
    }
}

#[derive(Debug)]
struct RegexCheck {
    negate: bool,
    /// Compiled once when the pattern has no template syntax.
    fixed: Option<Regex>,
    template: TemplateStr,
}

pub(super) fn compile_regex(
    kind: &str,
    spec: &CheckSpec,
    ctx: &mut CompileCtx<'_>,
) -> Result<Box<dyn Grader>, CheckConfigError> {
    let pattern = spec
        .pattern
        .as_deref()
        .ok_or_else(|| missing(kind, "pattern"))?;
    let template = template_field(ctx, "pattern", pattern)?;
    let fixed = match &template {
        TemplateStr::Literal(p) => Some(Regex::new(p).map_err(|e| CheckConfigError {
            field: "pattern".into(),
            message: format!("invalid regex: {e}"),
        })?),
        TemplateStr::Template(_) => None,
    };
    Ok(Box::new(RegexCheck {
        negate: kind == "not-regex",
        fixed,
        template,
    }))
}

impl Grader for RegexCheck {
    fn grade(&self, input: &CheckInput<'_>) -> Grade {
        let compiled;
        let regex = match &self.fixed {
            Some(r) => r,
            None => {
                let pattern = match render(input, &self.template) {
                    Ok(p) => p,
                    Err(grade) => return grade,
                };
                compiled = match Regex::new(&pattern) {
                    Ok(r) => r,
                    Err(e) => {
                        return Grade::error(format!(
                            "rendered pattern {} is not a valid regex: {e}",
                            input.quote(&pattern)
                        ));
                    }
                };
                &compiled
            }
        };
        let found = regex.find(input.output);
        match (found, self.negate) {
            (Some(m), false) => Grade::pass(format!(
                "output matches /{}/ at {}",
                regex.as_str(),
                input.quote(m.as_str())
            )),
            (None, false) => Grade::fail(format!("output does not match /{}/", regex.as_str())),
            (Some(m), true) => Grade::fail(format!(
                "output matches forbidden /{}/ at {}",
                regex.as_str(),
                input.quote(m.as_str())
            )),
            (None, true) => Grade::pass(format!("output does not match /{}/", regex.as_str())),
        }
    }
}
