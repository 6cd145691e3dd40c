//! The similarity check: normalised Levenshtein or Jaro-Winkler ratio against a reference.

use super::{
    CheckConfigError, CheckInput, CheckSpec, CompileCtx, Grade, Grader, missing, render,
    string_value,
};
use crate::support::template::TemplateStr;

#[derive(Debug)]
struct Similarity {
    value: TemplateStr,
    jaro_winkler: bool,
    threshold: f64,
    ignore_case: bool,
    trim: bool,
}

pub(super) fn compile(
    spec: &CheckSpec,
    ctx: &mut CompileCtx<'_>,
) -> Result<Box<dyn Grader>, CheckConfigError> {
    let value = string_value(
        ctx,
        "value",
        spec.value
            .as_ref()
            .ok_or_else(|| missing("similarity", "value"))?,
    )?;
    let jaro_winkler = match spec.method.as_deref() {
        None | Some("levenshtein") => false,
        Some("jaro-winkler") => true,
        Some(other) => {
            return Err(CheckConfigError {
                field: "method".into(),
                message: format!(
                    "`method` must be `levenshtein` or `jaro-winkler`, found `{other}`"
                ),
            });
        }
    };
    let threshold = spec.threshold.unwrap_or(0.8);
    if !(0.0..=1.0).contains(&threshold) {
        return Err(CheckConfigError {
            field: "threshold".into(),
            message: format!("`threshold` must be between 0 and 1, found {threshold}"),
        });
    }
    Ok(Box::new(Similarity {
        value,
        jaro_winkler,
        threshold,
        ignore_case: spec.ignore_case.unwrap_or(false),
        trim: spec.trim.unwrap_or(true),
    }))
}

impl Grader for Similarity {
    fn grade(&self, input: &CheckInput<'_>) -> Grade {
        let want = match render(input, &self.value) {
            Ok(w) => w,
            Err(grade) => return grade,
        };
        let prepare = |s: &str| {
            let s = if self.trim { s.trim() } else { s };
            if self.ignore_case {
                s.to_lowercase()
            } else {
                s.to_owned()
            }
        };
        let (a, b) = (prepare(input.output), prepare(&want));
        let ratio = if self.jaro_winkler {
            strsim::jaro_winkler(&a, &b)
        } else {
            strsim::normalized_levenshtein(&a, &b)
        };
        let passed = ratio >= self.threshold;
        let method = if self.jaro_winkler {
            "Jaro-Winkler"
        } else {
            "Levenshtein"
        };
        Grade::scored(
            ratio,
            passed,
            format!(
                "{method} similarity {ratio:.3} {} threshold {}",
                if passed { "reaches" } else { "is below" },
                self.threshold
            ),
        )
    }
}
