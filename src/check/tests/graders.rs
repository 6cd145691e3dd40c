//! Checks that call out: llm-judge and similar with a scripted [`Caller`], command with real
//! programs, and the no-pii and refusal checks.

use std::sync::Mutex;

use serde_json::json;

use super::*;

/// Answers chat calls from a script (in order) and embeddings from a fixed table, recording
/// every request.
#[derive(Default)]
pub(super) struct Script {
    pub chat: Mutex<Vec<Result<String, String>>>,
    pub embeddings: Vec<(&'static str, Vec<f64>)>,
    pub asked: Mutex<Vec<(String, Vec<Message>, u32)>>,
}

impl Script {
    fn answering(answers: &[&str]) -> Self {
        Script {
            chat: Mutex::new(answers.iter().rev().map(|a| Ok((*a).to_owned())).collect()),
            ..Script::default()
        }
    }
}

impl Caller for Script {
    fn chat<'a>(
        &'a self,
        model: &'a str,
        messages: Vec<Message>,
        sample: u32,
    ) -> BoxFuture<'a, Result<Answer, String>> {
        Box::pin(async move {
            self.asked
                .lock()
                .expect("lock")
                .push((model.to_owned(), messages, sample));
            let next = self.chat.lock().expect("lock").pop();
            next.unwrap_or_else(|| Err("no scripted answer".into()))
                .map(|output| Answer {
                    output,
                    cached: false,
                })
        })
    }

    fn embed<'a>(
        &'a self,
        _model: &'a str,
        text: String,
    ) -> BoxFuture<'a, Result<Vec<f64>, String>> {
        Box::pin(async move {
            self.embeddings
                .iter()
                .find(|(t, _)| *t == text)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("HTTP 500: no embedding for {text:?}"))
        })
    }

    // These tests grade one check at a time; what its calls cost is tested with the grading of
    // a whole call, in `check::grade`.
    fn usage(&self) -> crate::results::JudgeUsage {
        crate::results::JudgeUsage::default()
    }
}

fn judge_spec() -> serde_json::Value {
    json!({"type": "llm-judge", "judge": "judge", "rubric": "Names {{ expected }} correctly.", "scale": "1-5", "threshold": 0.75})
}

#[test]
fn a_judge_answering_json_grades_on_its_scale() {
    let script = Script::answering(&[r#"{"score": 5, "reason": "Correct and concise."}"#]);
    let grade = Fixture::new().grade_with(judge_spec(), "Paris.", &script);
    assert!(grade.passed && !grade.errored, "{grade:?}");
    assert_eq!(grade.score, 1.0);
    assert!(grade.reason.contains("scored 5/5") && grade.reason.contains("Correct and concise."));
    let record = grade.judge.expect("judge record");
    assert_eq!(record.model, "judge");
    assert_eq!(record.samples[0].score, Some(5.0));
    // The prompt holds the rendered rubric, the conversation and the output.
    let asked = script.asked.lock().expect("lock");
    let user = &asked[0].1[1].content;
    assert!(user.contains("Names Paris correctly."), "{user}");
    assert!(user.contains("What is the capital of France?") && user.contains("Paris."));
    assert_eq!(record.prompt, asked[0].1);
}

#[test]
fn fenced_json_and_a_bare_score_line_are_read() {
    let script = Script::answering(&["```json\n{\"score\": 2, \"reason\": \"vague\"}\n```"]);
    let grade = Fixture::new().grade_with(judge_spec(), "Somewhere in Europe.", &script);
    assert!(!grade.passed && !grade.errored, "{grade:?}");
    assert_eq!(grade.score, 0.25);

    let script = Script::answering(&["Score: 4"]);
    let grade = Fixture::new().grade_with(judge_spec(), "Paris", &script);
    assert!(grade.passed && !grade.errored, "{grade:?}");
    assert_eq!(grade.score, 0.75);
    assert_eq!(
        grade.reason,
        "judge `judge` scored 4/5 (0.75 reaches threshold 0.75)"
    );
}

#[test]
fn an_unreadable_or_refusing_judge_errors_the_check() {
    for answer in [
        "Looks fine to me!",
        "I'm sorry, but I can't help with evaluating this content.",
        r#"{"score": 9, "reason": "out of range"}"#,
    ] {
        let script = Script::answering(&[answer]);
        let grade = Fixture::new().grade_with(judge_spec(), "Paris", &script);
        assert!(grade.errored && !grade.passed, "{answer}: {grade:?}");
        assert!(
            grade.reason.contains("cannot read a score"),
            "{}",
            grade.reason
        );
        assert_eq!(
            grade.judge.expect("record").samples[0].output,
            answer,
            "the raw answer is kept"
        );
    }
}

#[test]
fn a_failed_judge_call_errors_the_check() {
    let script = Script {
        chat: Mutex::new(vec![Err("HTTP 503: overloaded".into())]),
        ..Script::default()
    };
    let grade = Fixture::new().grade_with(judge_spec(), "Paris", &script);
    assert!(grade.errored);
    assert!(grade.reason.contains("HTTP 503"), "{}", grade.reason);
}

#[test]
fn samples_are_distinct_calls_and_averaged() {
    let script = Script::answering(&["Score: 1", "Score: 0", "Score: 1"]);
    let spec = json!({"type": "llm-judge", "judge": "judge", "rubric": "Polite.", "samples": 3, "reference": "{{ expected }}"});
    let grade = Fixture::new().grade_with(spec, "Paris", &script);
    assert!(!grade.errored, "{grade:?}");
    assert!((grade.score - 2.0 / 3.0).abs() < 1e-9);
    assert!(grade.passed, "2/3 reaches the default threshold 0.5");
    let asked = script.asked.lock().expect("lock");
    let mut samples: Vec<u32> = asked.iter().map(|a| a.2).collect();
    samples.sort_unstable();
    assert_eq!(samples, [0, 1, 2]);
    assert!(
        asked[0].1[1]
            .content
            .contains("<reference>\nParis\n</reference>")
    );
}

#[test]
fn judge_configuration_errors_name_the_field() {
    let mut f = Fixture::new();
    let err = f
        .compile(json!({"type": "llm-judge", "judge": "jugde", "rubric": "x"}))
        .expect_err("unknown judge");
    assert_eq!(err.field, "judge");
    assert!(
        err.message.contains("did you mean `judge`?"),
        "{}",
        err.message
    );
    let err = f
        .compile(json!({"type": "llm-judge", "judge": "judge"}))
        .expect_err("no rubric");
    assert_eq!(
        (err.field.as_str(), err.message.as_str()),
        ("rubric", "a `llm-judge` check needs `rubric`")
    );
    let err = f
        .compile(json!({"type": "llm-judge", "judge": "judge", "rubric": "x", "scale": "1-10"}))
        .expect_err("bad scale");
    assert_eq!(err.field, "scale");
    let err = f
        .compile(json!({"type": "llm-judge", "judge": "judge", "rubric": "x", "samples": 0}))
        .expect_err("no samples");
    assert_eq!(err.field, "samples");
    let err = f
        .compile(json!({"type": "llm-judge", "judge": "judge", "rubric": "x", "pattern": "y"}))
        .expect_err("field of another check");
    assert_eq!(err.field, "pattern");
}

#[test]
fn similar_compares_embeddings_by_cosine() {
    let script = Script {
        embeddings: vec![
            ("Paris", vec![1.0, 0.0, 0.0]),
            ("paris!", vec![0.9, 0.1, 0.0]),
            ("Berlin", vec![0.0, 1.0, 0.0]),
        ],
        ..Script::default()
    };
    let spec =
        json!({"type": "similar", "model": "embed", "value": "{{ expected }}", "threshold": 0.9});
    let grade = Fixture::new().grade_with(spec.clone(), "paris!", &script);
    assert!(grade.passed && !grade.errored, "{grade:?}");
    assert!(grade.score > 0.99);
    let grade = Fixture::new().grade_with(spec.clone(), "Berlin", &script);
    assert!(
        !grade.passed && !grade.errored && grade.score == 0.0,
        "{grade:?}"
    );
    let grade = Fixture::new().grade_with(spec, "unknown text", &script);
    assert!(
        grade.errored && grade.reason.contains("embedding call failed"),
        "{grade:?}"
    );
}

#[test]
fn similar_needs_an_openai_style_model() {
    let err = Fixture::new()
        .compile(json!({"type": "similar", "model": "claude", "value": "x"}))
        .expect_err("anthropic has no embeddings");
    assert_eq!(err.field, "model");
    assert!(
        err.message.contains("embeddings need an `openai`"),
        "{}",
        err.message
    );
}

fn command_spec(script: &str) -> serde_json::Value {
    json!({"type": "command", "command": ["sh", "-c", script], "timeout_s": 5})
}

#[test]
fn a_command_grader_gets_the_case_as_json_and_its_verdict_counts() {
    // The program echoes back what it received, so the test sees the stdin contract.
    let spec = command_spec(
        r#"input=$(cat); case "$input" in *'"output":"Paris"'*'"city":"Paris"'*) echo '{"score": 0.9, "pass": true, "reason": "got it"}';; *) echo "{\"score\": 0, \"reason\": \"bad input\"}";; esac"#,
    );
    let grade = Fixture::new().grade(spec.clone(), "Paris");
    assert!(grade.passed && !grade.errored, "{grade:?}");
    assert_eq!((grade.score, grade.reason.as_str()), (0.9, "got it"));
    let grade = Fixture::new().grade(spec, "Lyon");
    assert!(!grade.passed && !grade.errored, "{grade:?}");
}

#[test]
fn a_command_grader_sees_messages_and_expected() {
    let spec = command_spec(
        r#"input=$(cat); case "$input" in *'"expected":"Paris"'*'"messages":[{"content":"What is the capital of France?","role":"user"}]'*) echo '{"pass": true}';; *) echo "$input" >&2; exit 3;; esac"#,
    );
    let grade = Fixture::new().grade(spec, "Paris");
    assert!(grade.passed, "{grade:?}");
}

#[test]
fn a_broken_command_grader_is_an_error_with_its_stderr() {
    let grade = Fixture::new().grade(command_spec("echo 'Traceback: boom' >&2; exit 2"), "x");
    assert!(grade.errored, "{grade:?}");
    assert!(
        grade.reason.contains("exited with code 2") && grade.reason.contains("Traceback: boom"),
        "{}",
        grade.reason
    );
    let grade = Fixture::new().grade(command_spec("echo not json"), "x");
    assert!(
        grade.errored && grade.reason.contains("instead of a JSON object"),
        "{}",
        grade.reason
    );
    let grade = Fixture::new().grade(command_spec("echo '{\"reason\": \"no verdict\"}'"), "x");
    assert!(
        grade.errored && grade.reason.contains("neither `score` nor `pass`"),
        "{}",
        grade.reason
    );
    let grade = Fixture::new().grade(
        json!({"type": "command", "command": ["evalgate-no-such-grader"]}),
        "x",
    );
    assert!(
        grade.errored && grade.reason.contains("cannot run grader"),
        "{}",
        grade.reason
    );
}

#[test]
fn a_grader_path_that_does_not_exist_is_a_config_error() {
    let mut f = Fixture::new();
    let err = f
        .compile(json!({"type": "command", "command": ["graders/tone.py"]}))
        .expect_err("missing program");
    assert_eq!(err.field, "command");
    assert!(
        err.message.contains("`graders/tone.py` does not exist"),
        "{}",
        err.message
    );
    std::fs::create_dir_all(f.dir.path().join("graders")).expect("mkdir");
    std::fs::write(f.dir.path().join("graders/tone.py"), "").expect("write");
    assert!(
        f.compile(json!({"type": "command", "command": ["graders/tone.py"]}))
            .is_ok()
    );
}

#[test]
fn similar_does_not_call_for_identical_texts() {
    let spec = json!({"type": "similar", "model": "embed", "value": "{{ expected }}"});
    // The script has no embeddings: any call would error the check.
    let grade = Fixture::new().grade_with(spec, "Paris", &Script::default());
    assert!(
        grade.passed && !grade.errored && grade.score == 1.0,
        "{grade:?}"
    );
}

#[test]
fn a_hanging_command_grader_is_stopped_at_its_timeout() {
    let spec = json!({"type": "command", "command": ["tail", "-f", "/dev/null"], "timeout_s": 0.3});
    let grade = Fixture::new().grade(spec, "x");
    assert!(
        grade.errored && grade.reason.contains("did not finish within 0.3s"),
        "{}",
        grade.reason
    );
}

#[test]
fn no_pii_flags_kinds_without_quoting_them() {
    let grade = Fixture::new().grade(
        json!({"type": "no-pii"}),
        "Mail ana@example.com or use card 4111 1111 1111 1111.",
    );
    assert!(!grade.passed);
    assert_eq!(grade.reason, "output contains email ×1, card ×1");
    assert!(passes(
        json!({"type": "no-pii", "kinds": ["card"]}),
        "Mail ana@example.com"
    ));
    assert!(passes(
        json!({"type": "no-pii"}),
        "Order 4111 1111 1111 1112 shipped."
    ));
    let err = Fixture::new()
        .compile(json!({"type": "no-pii", "kinds": ["emails"]}))
        .expect_err("unknown kind");
    assert_eq!(err.field, "kinds[0]");
}

#[test]
fn refusal_passes_answers_by_default_and_can_require_a_refusal() {
    assert!(passes(json!({"type": "refusal"}), "Refunds take 5 days."));
    assert!(!passes(
        json!({"type": "refusal"}),
        "I'm sorry, but I can't help with that."
    ));
    assert!(passes(
        json!({"type": "refusal", "expect": "refusal"}),
        "I cannot provide that information."
    ));
    assert!(!passes(
        json!({"type": "refusal", "values": ["not my department"]}),
        "That is NOT my department."
    ));
    assert_eq!(
        Fixture::new()
            .compile(json!({"type": "refusal", "expect": "no"}))
            .expect_err("bad expect")
            .field,
        "expect"
    );
}

/// An answer that called a function is graded with its calls: the judge reads them in the
/// answer block, a grading program gets them as `tool_calls`.
#[test]
fn graders_see_the_answer_tool_calls() {
    let weather = crate::provider::ToolCall {
        id: None,
        name: "get_weather".into(),
        arguments: json!({"city": "Paris"}),
        raw_arguments: None,
    };
    let script = Script::answering(&[r#"{"score": 5, "reason": "Right tool."}"#]);
    let mut fixture = Fixture::new();
    fixture.calls = vec![weather.clone()];
    let grade = fixture.grade_with(judge_spec(), "", &script);
    assert!(grade.passed, "{grade:?}");
    let asked = script.asked.lock().expect("lock");
    let user = &asked[0].1[1].content;
    assert!(
        user.contains("<answer>\n") && user.contains(r#"get_weather({"city":"Paris"})"#),
        "{user}"
    );

    let spec = command_spec(
        r#"input=$(cat); case "$input" in *'"tool_calls":[{"arguments":{"city":"Paris"},"name":"get_weather"}]'*) echo '{"pass": true}';; *) echo "$input" >&2; exit 3;; esac"#,
    );
    let mut fixture = Fixture::new();
    fixture.calls = vec![weather];
    let grade = fixture.grade(spec, "");
    assert!(grade.passed, "{grade:?}");
}
