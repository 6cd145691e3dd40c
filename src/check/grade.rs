//! Grading one answer with every check that applies to it: each check's result, the weighted
//! score, whether the call passed, and what the checks' own model calls used.
//!
//! A check that could not run makes the call errored, never passed, whatever the other checks
//! and the threshold say: a gate must not pass on a grade nobody could give.

use super::{Caller, Check, CheckInput, Grade};
use crate::results::{CheckResult, JudgeUsage};

/// What the checks made of one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Graded {
    pub checks: Vec<CheckResult>,
    /// Weighted mean of the check scores; 1 when there is no check.
    pub score: f64,
    /// Reached the threshold when there is one, else passed every check; never when errored.
    pub passed: bool,
    /// Why the answer could not be graded: the first check that could not run.
    pub error: Option<String>,
    /// The calls the checks made through the caller.
    pub judge: JudgeUsage,
}

/// Grades `input` with `checks`, in order, making the checks' model calls through `caller`.
/// `threshold` (the case's, else the suite's default) replaces "every check passed" with "the
/// weighted score reaches it".
// A slice rather than any iterator of checks: a generic iterator held across the awaits makes
// the executor's spawned task fail the compiler's `Send` check (a higher-ranked lifetime error).
pub async fn grade_call(
    checks: &[&Check],
    threshold: Option<f64>,
    input: &CheckInput<'_>,
    caller: &dyn Caller,
) -> Graded {
    let mut results = Vec::with_capacity(checks.len());
    let mut weighted = 0.0;
    let mut weights = 0.0;
    let mut all_passed = true;
    let mut error = None;
    for check in checks {
        let Grade {
            score,
            passed,
            reason,
            errored,
            judge,
        } = check.grade_with(input, caller).await;
        weighted += check.weight * score;
        weights += check.weight;
        all_passed &= passed;
        if errored && error.is_none() {
            error = Some(format!(
                "check `{}` could not run: {reason}",
                check.type_name
            ));
        }
        results.push(CheckResult {
            kind: check.type_name.clone(),
            metric: check.metric.clone(),
            weight: check.weight,
            score,
            passed,
            reason,
            errored,
            judge,
        });
    }
    let score = if weights > 0.0 {
        weighted / weights
    } else {
        1.0
    };
    let passed = error.is_none()
        && match threshold {
            Some(threshold) => score >= threshold,
            None => all_passed,
        };
    Graded {
        checks: results,
        score,
        passed,
        error,
        // Read once every check has run: a judge's calls are counted as they are made.
        judge: caller.usage(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::check::{Answer, CheckSpec, CompileCtx};
    use crate::provider::{BoxFuture, Message, ProviderKind, Role};
    use crate::support::template::Templates;

    /// Answers every judge call with the same text and counts each call as the executor's
    /// caller would: one call, a few tokens, a cent.
    struct FakeCaller {
        answer: Result<String, String>,
        usage: Mutex<JudgeUsage>,
    }

    impl FakeCaller {
        fn answering(answer: &str) -> Self {
            FakeCaller {
                answer: Ok(answer.to_owned()),
                usage: Mutex::default(),
            }
        }
    }

    impl Caller for FakeCaller {
        fn chat<'a>(
            &'a self,
            _model: &'a str,
            _messages: Vec<Message>,
            _sample: u32,
        ) -> BoxFuture<'a, Result<Answer, String>> {
            Box::pin(async move {
                self.usage.lock().expect("lock").add(&JudgeUsage {
                    calls: 1,
                    input_tokens: 20,
                    output_tokens: 5,
                    cost_usd: 0.01,
                    spent_usd: 0.01,
                    ..JudgeUsage::default()
                });
                self.answer.clone().map(|output| Answer {
                    output,
                    cached: false,
                })
            })
        }

        fn embed<'a>(
            &'a self,
            _model: &'a str,
            _text: String,
        ) -> BoxFuture<'a, Result<Vec<f64>, String>> {
            Box::pin(async { Err("no embeddings here".to_owned()) })
        }

        fn usage(&self) -> JudgeUsage {
            *self.usage.lock().expect("lock")
        }
    }

    /// Compiles `specs` and grades `output` with them, the case's vars being `{"city": "Paris"}`.
    fn grade(
        specs: &[serde_json::Value],
        threshold: Option<f64>,
        output: &str,
        caller: &FakeCaller,
    ) -> Graded {
        let mut templates = Templates::new();
        let models = [("judge".to_owned(), ProviderKind::Openai)];
        let checks: Vec<Check> = specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let spec: CheckSpec = serde_json::from_value(spec.clone()).expect("spec shape");
                let name = format!("checks[{i}]");
                let mut ctx = CompileCtx {
                    templates: &mut templates,
                    name: &name,
                    base_dir: std::path::Path::new("."),
                    models: &models,
                };
                Check::compile(&spec, &mut ctx).expect("compiles")
            })
            .collect();
        let ctx = minijinja::Value::from(minijinja::value::Serde(json!({"city": "Paris"})));
        let vars = json!({"city": "Paris"});
        let messages = [Message {
            role: Role::User,
            content: "What is the capital of France?".into(),
            ..Default::default()
        }];
        let input = CheckInput {
            output,
            tool_calls: &[],
            ctx: &ctx,
            templates: &templates,
            latency_ms: 100,
            cost_usd: 0.001,
            messages: &messages,
            vars: vars.as_object().expect("object"),
            expected: None,
            redactor: &Default::default(),
        };
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(grade_call(
                &checks.iter().collect::<Vec<_>>(),
                threshold,
                &input,
                caller,
            ))
    }

    fn contains(value: &str, weight: f64) -> serde_json::Value {
        json!({"type": "contains", "value": value, "weight": weight})
    }

    fn no_calls() -> FakeCaller {
        FakeCaller::answering("unused")
    }

    #[test]
    fn every_check_passing_passes_with_a_full_score() {
        let specs = [
            contains("{{ city }}", 1.0),
            json!({"type": "regex", "pattern": "^The capital", "metric": "style"}),
        ];
        let graded = grade(&specs, None, "The capital is Paris.", &no_calls());
        assert!(graded.passed);
        assert_eq!(graded.score, 1.0);
        assert_eq!(graded.error, None);
        assert_eq!(graded.judge, JudgeUsage::default());
        let kinds: Vec<_> = graded
            .checks
            .iter()
            .map(|c| (c.kind.as_str(), c.metric.as_str(), c.passed, c.errored))
            .collect();
        assert_eq!(
            kinds,
            [
                ("contains", "pass_rate", true, false),
                ("regex", "style", true, false)
            ]
        );
    }

    #[test]
    fn one_failing_check_fails_the_call_without_erroring_it() {
        let specs = [contains("Paris", 1.0), contains("Berlin", 1.0)];
        let graded = grade(&specs, None, "Paris.", &no_calls());
        assert!(!graded.passed);
        assert_eq!(graded.error, None);
        assert_eq!(graded.score, 0.5);
        assert!(graded.checks[0].passed && !graded.checks[1].passed);
    }

    #[test]
    fn a_check_that_cannot_run_errors_the_call_even_above_the_threshold() {
        let specs = [
            contains("Paris", 1.0),
            contains("{{ nope }}", 1.0),
            json!({"type": "regex", "pattern": "{{ also_missing }}"}),
        ];
        let graded = grade(&specs, Some(0.0), "Paris.", &no_calls());
        assert!(!graded.passed, "an errored call never passes");
        let error = graded.error.expect("errored");
        // The first check that could not run is the one named.
        assert!(
            error.starts_with("check `contains` could not run: template failed to render"),
            "{error}"
        );
        // The checks after it are still graded and kept.
        assert_eq!(graded.checks.len(), 3);
        assert!(graded.checks[1].errored && graded.checks[2].errored);
        assert_eq!(graded.score, 1.0 / 3.0);
    }

    #[test]
    fn the_score_is_the_weighted_mean_and_a_threshold_replaces_all_passed() {
        let specs = [contains("Paris", 3.0), contains("Berlin", 1.0)];
        let graded = grade(&specs, None, "Paris.", &no_calls());
        assert_eq!(graded.score, 0.75);
        assert!(!graded.passed, "without a threshold every check must pass");
        // The threshold is reached at equality, and a failing check no longer fails the call.
        assert!(grade(&specs, Some(0.75), "Paris.", &no_calls()).passed);
        assert!(!grade(&specs, Some(0.76), "Paris.", &no_calls()).passed);
        let weights: Vec<_> = graded.checks.iter().map(|c| (c.weight, c.score)).collect();
        assert_eq!(weights, [(3.0, 1.0), (1.0, 0.0)]);
    }

    #[test]
    fn no_checks_scores_one_and_passes() {
        let graded = grade(&[], None, "anything", &no_calls());
        assert_eq!((graded.score, graded.passed), (1.0, true));
        assert!(graded.checks.is_empty());
    }

    #[test]
    fn a_judges_usage_and_record_are_kept() {
        let specs = [
            json!({"type": "llm-judge", "judge": "judge", "rubric": "Names the city.", "scale": "1-5", "samples": 2, "weight": 2.0}),
            contains("Paris", 1.0),
        ];
        let caller = FakeCaller::answering("Score: 4");
        let graded = grade(&specs, None, "Paris.", &caller);
        // Both samples were counted, as the caller recorded them.
        assert_eq!(graded.judge, caller.usage());
        assert_eq!(graded.judge.calls, 2);
        assert_eq!(graded.judge.cost_usd, 0.02);
        let record = graded.checks[0].judge.as_ref().expect("judge record");
        assert_eq!(record.model, "judge");
        assert_eq!(record.samples.len(), 2);
        assert_eq!(graded.checks[0].score, 0.75);
        assert_eq!(graded.score, (2.0 * 0.75 + 1.0) / 3.0);
        assert!(graded.passed && graded.error.is_none());
    }

    #[test]
    fn a_failed_judge_call_errors_the_call_and_keeps_its_usage() {
        let caller = FakeCaller {
            answer: Err("HTTP 503: overloaded".to_owned()),
            usage: Mutex::default(),
        };
        let specs = [json!({"type": "llm-judge", "judge": "judge", "rubric": "Names the city."})];
        let graded = grade(&specs, Some(0.0), "Paris.", &caller);
        assert!(!graded.passed);
        let error = graded.error.expect("errored");
        assert!(
            error.starts_with("check `llm-judge` could not run:") && error.contains("HTTP 503"),
            "{error}"
        );
        assert_eq!(graded.judge.calls, 1);
    }
}
