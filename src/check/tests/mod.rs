//! Checks graded through the public path: spec → compile → grade.

use serde_json::json;

use super::*;
use crate::privacy::pii::PiiKind;

struct Fixture {
    templates: Templates,
    dir: tempfile::TempDir,
    redactor: Redactor,
    /// The tool calls of the graded answer.
    calls: Vec<crate::provider::ToolCall>,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            templates: Templates::new(),
            dir: tempfile::tempdir().expect("tempdir"),
            redactor: Redactor::default(),
            calls: Vec::new(),
        }
    }

    fn compile(&mut self, spec: serde_json::Value) -> Result<Check, CheckConfigError> {
        let spec: CheckSpec = serde_json::from_value(spec).expect("spec shape");
        let name = format!("t{}", fastrand::u64(..));
        let models = [
            ("judge".to_owned(), crate::provider::ProviderKind::Openai),
            (
                "embed".to_owned(),
                crate::provider::ProviderKind::OpenaiCompatible,
            ),
            (
                "claude".to_owned(),
                crate::provider::ProviderKind::Anthropic,
            ),
        ];
        let mut ctx = CompileCtx {
            templates: &mut self.templates,
            name: &name,
            base_dir: self.dir.path(),
            models: &models,
        };
        Check::compile(&spec, &mut ctx)
    }

    /// Grades `output` with the vars `{"city": "Paris", "n": 42}` and `expected = "Paris"`.
    fn grade(&mut self, spec: serde_json::Value, output: &str) -> Grade {
        self.grade_with(spec, output, &graders::Script::default())
    }

    /// Grades through the async path, with `caller` answering the check's model calls.
    fn grade_with(&mut self, spec: serde_json::Value, output: &str, caller: &dyn Caller) -> Grade {
        let check = self.compile(spec).expect("compiles");
        let ctx = minijinja::Value::from(minijinja::value::Serde(json!({
            "city": "Paris", "n": 42, "expected": "Paris", "person": {"name": "Ana", "age": 31}
        })));
        let vars = json!({"city": "Paris", "n": 42});
        let expected = json!("Paris");
        let messages = [crate::provider::Message {
            role: crate::provider::Role::User,
            content: "What is the capital of France?".into(),
            ..Default::default()
        }];
        let input = CheckInput {
            output,
            tool_calls: &self.calls,
            ctx: &ctx,
            templates: &self.templates,
            latency_ms: 120,
            cost_usd: 0.002,
            messages: &messages,
            vars: vars.as_object().expect("object"),
            expected: Some(&expected),
            redactor: &self.redactor,
        };
        if !check.is_async() {
            return check.grade(&input);
        }
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(check.grade_with(&input, caller))
    }
}

fn passes(spec: serde_json::Value, output: &str) -> bool {
    let grade = Fixture::new().grade(spec, output);
    assert!(!grade.errored, "unexpected error: {}", grade.reason);
    grade.passed
}

#[test]
fn equals_trims_and_optionally_ignores_case() {
    assert!(passes(
        json!({"type": "equals", "value": "{{ expected }}"}),
        "  Paris\n"
    ));
    assert!(!passes(
        json!({"type": "equals", "value": "{{ expected }}"}),
        "paris"
    ));
    assert!(passes(
        json!({"type": "equals", "value": "PARIS", "ignore_case": true}),
        "paris"
    ));
    assert!(!passes(
        json!({"type": "equals", "value": "Paris", "trim": false}),
        " Paris"
    ));
}

#[test]
fn contains_family_with_any_and_all() {
    assert!(passes(
        json!({"type": "contains", "value": "{{ city }}"}),
        "It is Paris."
    ));
    assert!(!passes(
        json!({"type": "contains", "value": "{{ city }}"}),
        "It is paris."
    ));
    assert!(passes(
        json!({"type": "icontains", "value": "{{ city }}"}),
        "It is PARIS."
    ));
    assert!(passes(
        json!({"type": "contains", "values": ["Rome", "Paris"]}),
        "Paris"
    ));
    assert!(!passes(
        json!({"type": "contains", "values": ["Rome", "Paris"], "mode": "all"}),
        "Paris"
    ));
    assert!(passes(
        json!({"type": "contains", "values": ["Rome", "Paris"], "mode": "all"}),
        "Paris, Rome"
    ));
}

#[test]
fn not_contains_fails_when_any_forbidden_value_appears() {
    assert!(passes(
        json!({"type": "not-contains", "values": ["sorry", "cannot"]}),
        "Paris"
    ));
    assert!(!passes(
        json!({"type": "not-contains", "values": ["sorry", "cannot"]}),
        "Sorry, I cannot"
    ));
    assert!(!passes(
        json!({"type": "not-icontains", "value": "SORRY"}),
        "sorry"
    ));
    // `all`: only the presence of every value fails.
    assert!(passes(
        json!({"type": "not-contains", "values": ["a", "zz"], "mode": "all"}),
        "a"
    ));
}

#[test]
fn starts_with_ignores_leading_space() {
    assert!(passes(
        json!({"type": "starts-with", "value": "Yes"}),
        "  Yes, indeed"
    ));
    assert!(!passes(
        json!({"type": "starts-with", "value": "Yes"}),
        "No. Yes"
    ));
}

#[test]
fn regex_with_literal_and_templated_patterns() {
    assert!(passes(
        json!({"type": "regex", "pattern": r"^\d{2}$"}),
        "42"
    ));
    assert!(!passes(
        json!({"type": "regex", "pattern": r"^\d{2}$"}),
        "421"
    ));
    assert!(passes(
        json!({"type": "regex", "pattern": "(?i)^{{ city }}$"}),
        "paris"
    ));
    assert!(passes(
        json!({"type": "not-regex", "pattern": "@"}),
        "no email here"
    ));
    assert!(!passes(
        json!({"type": "not-regex", "pattern": "@"}),
        "a@b.c"
    ));
}

#[test]
fn json_checks() {
    assert!(passes(json!({"type": "is-json"}), " {\"a\": 1} "));
    let grade = Fixture::new().grade(json!({"type": "is-json"}), "not json");
    assert!(
        !grade.passed && !grade.errored && grade.reason.starts_with("output is not JSON"),
        "{}",
        grade.reason
    );
    let schema =
        json!({"type": "object", "required": ["name"], "properties": {"age": {"type": "integer"}}});
    assert!(passes(
        json!({"type": "json-schema", "schema": schema}),
        r#"{"name": "Ana", "age": 3}"#
    ));
    let grade = Fixture::new().grade(
        json!({"type": "json-schema", "schema": schema}),
        r#"{"age": "x"}"#,
    );
    assert!(
        !grade.passed && grade.reason.contains("/age") && grade.reason.contains("name"),
        "{}",
        grade.reason
    );
    assert!(passes(
        json!({"type": "json-path", "path": "$.name", "value": "{{ person.name }}"}),
        r#"{"name": "Ana"}"#
    ));
    assert!(passes(
        json!({"type": "json-path", "path": "$.age", "value": "{{ person.age }}"}),
        r#"{"age": 31}"#
    ));
    assert!(passes(
        json!({"type": "json-path", "path": "$.tags[0]", "value": {"k": 1}}),
        r#"{"tags": [{"k": 1}]}"#
    ));
    assert!(passes(
        json!({"type": "json-path", "path": "$.name"}),
        r#"{"name": null}"#
    ));
    let grade = Fixture::new().grade(
        json!({"type": "json-path", "path": "$.name", "value": "Bo"}),
        r#"{"name": "Ana"}"#,
    );
    assert_eq!(grade.reason, r#"$.name is "Ana", expected "Bo""#);
    assert!(!passes(
        json!({"type": "json-path", "path": "$.missing"}),
        "{}"
    ));
}

#[test]
fn schema_file_is_read_relative_to_the_suite() {
    let mut f = Fixture::new();
    std::fs::write(f.dir.path().join("s.json"), r#"{"type": "array"}"#).expect("write");
    assert!(
        f.grade(
            json!({"type": "json-schema", "schema_file": "s.json"}),
            "[1]"
        )
        .passed
    );
    let err = f
        .compile(json!({"type": "json-schema", "schema_file": "missing.json"}))
        .expect_err("missing file");
    assert_eq!(err.field, "schema_file");
    assert!(err.message.contains("missing.json"), "{}", err.message);
}

#[test]
fn similarity_scores_the_ratio() {
    let grade = Fixture::new().grade(
        json!({"type": "similarity", "value": "Paris", "threshold": 0.7}),
        "Pariss",
    );
    assert!(
        grade.passed && grade.score > 0.8 && grade.score < 1.0,
        "{grade:?}"
    );
    let grade = Fixture::new().grade(json!({"type": "similarity", "value": "Paris"}), "London");
    assert!(!grade.passed && grade.score < 0.5, "{grade:?}");
    let grade = Fixture::new().grade(
        json!({"type": "similarity", "value": "Paris", "method": "jaro-winkler"}),
        "Paris",
    );
    assert_eq!(grade.score, 1.0);
}

#[test]
fn numeric_parses_the_first_number() {
    assert_eq!(numeric::parse_number("total: 1,234.5 USD"), Some(1234.5));
    assert_eq!(numeric::parse_number("it is -3e2"), Some(-300.0));
    assert_eq!(numeric::parse_number("none"), None);
    assert!(passes(
        json!({"type": "numeric", "value": "{{ n }}"}),
        "The answer is 42."
    ));
    assert!(passes(
        json!({"type": "numeric", "value": 40, "tolerance": 2.5}),
        "42"
    ));
    assert!(!passes(
        json!({"type": "numeric", "value": 40, "tolerance": 1}),
        "42"
    ));
    assert!(!passes(json!({"type": "numeric", "value": 1}), "no digits"));
}

#[test]
fn length_in_chars_and_words() {
    assert!(passes(json!({"type": "length", "max": 5}), "héllo"));
    assert!(!passes(json!({"type": "length", "max": 4}), "héllo"));
    assert!(passes(
        json!({"type": "length", "min": 2, "max": 3, "unit": "words"}),
        "one two  three"
    ));
    assert!(!passes(
        json!({"type": "length", "min": 2, "unit": "words"}),
        "one"
    ));
}

#[test]
fn latency_and_cost_use_the_call() {
    assert!(passes(json!({"type": "latency", "max_ms": 120}), ""));
    assert!(!passes(json!({"type": "latency", "max_ms": 119}), ""));
    assert!(passes(json!({"type": "cost", "max_usd": 0.01}), ""));
    assert!(!passes(json!({"type": "cost", "max_usd": 0.001}), ""));
}

#[test]
fn a_template_that_fails_to_render_errors_the_check() {
    let grade = Fixture::new().grade(json!({"type": "contains", "value": "{{ nope }}"}), "x");
    assert!(grade.errored && !grade.passed, "{grade:?}");
}

#[test]
fn compile_errors_name_the_field() {
    let mut f = Fixture::new();
    let err = f
        .compile(json!({"type": "contians", "value": "x"}))
        .expect_err("typo");
    assert_eq!(
        (err.field.as_str(), err.message.as_str()),
        (
            "type",
            "unknown check type `contians`; did you mean `contains`?"
        )
    );
    let err = f
        .compile(json!({"type": "contains", "value": "x", "pattern": "y"}))
        .expect_err("inapplicable");
    assert_eq!(err.field, "pattern");
    assert!(
        err.message
            .starts_with("`pattern` does not apply to a `contains` check; it takes: value, values"),
        "{}",
        err.message
    );
    let err = f.compile(json!({"type": "regex"})).expect_err("missing");
    assert_eq!(err.message, "a `regex` check needs `pattern`");
    let err = f
        .compile(json!({"type": "regex", "pattern": "("}))
        .expect_err("bad regex");
    assert!(err.message.starts_with("invalid regex"), "{}", err.message);
    let err = f
        .compile(json!({"type": "json-path", "path": "name["}))
        .expect_err("bad path");
    assert!(
        err.message.starts_with("invalid JSONPath"),
        "{}",
        err.message
    );
    let err = f
        .compile(json!({"type": "length", "min": 5, "max": 2}))
        .expect_err("bounds");
    assert_eq!(err.field, "min");
    let err = f
        .compile(json!({"type": "equals", "value": "x", "weight": 0}))
        .expect_err("weight");
    assert_eq!(err.field, "weight");
    let err = f
        .compile(json!({"type": "contains", "value": "x", "mode": "most"}))
        .expect_err("mode");
    assert_eq!(err.field, "mode");
}

#[test]
fn defaults_are_weight_one_and_metric_pass_rate() {
    let check = Fixture::new()
        .compile(json!({"type": "equals", "value": "x"}))
        .expect("compiles");
    assert_eq!(
        (
            check.weight,
            check.metric.as_str(),
            check.type_name.as_str()
        ),
        (1.0, "pass_rate", "equals")
    );
}

#[test]
fn every_listed_type_compiles_with_its_fields() {
    let mut f = Fixture::new();
    for kind in check_types() {
        let spec = match kind {
            "regex" | "not-regex" => json!({"type": kind, "pattern": "x"}),
            "is-json" => json!({"type": kind}),
            "json-schema" => json!({"type": kind, "schema": {}}),
            "json-path" => json!({"type": kind, "path": "$.a"}),
            "numeric" => json!({"type": kind, "value": 1}),
            "length" => json!({"type": kind, "max": 1}),
            "latency" => json!({"type": kind, "max_ms": 1}),
            "cost" => json!({"type": kind, "max_usd": 1}),
            "no-pii" | "refusal" => json!({"type": kind}),
            "llm-judge" => json!({"type": kind, "judge": "judge", "rubric": "x"}),
            "similar" => json!({"type": kind, "model": "embed", "value": "x"}),
            "command" => json!({"type": kind, "command": ["true"]}),
            "tool-call" => json!({"type": kind, "name": "f"}),
            "no-tool-call" => json!({"type": kind}),
            _ => json!({"type": kind, "value": "x"}),
        };
        assert!(f.compile(spec).is_ok(), "{kind}");
    }
}

mod graders;

#[test]
fn reasons_mask_personal_data_and_keys_before_cutting_at_any_position() {
    let key = "sk-reason-planted-key-0123456789";
    crate::privacy::secrets::register(key);
    let planted = [
        ("alice.smith@example.com", "alice"),
        ("4111 1111 1111 1111", "4111"),
        ("DE89370400440532013000", "DE8937"),
        (key, "sk-reason"),
    ];
    // Checks that quote the output in their reason: a failed `contains`, a failed `is-json`, a
    // failed `regex` match quoting what matched.
    let specs = [
        json!({"type": "contains", "value": "nowhere to be found"}),
        json!({"type": "is-json"}),
        json!({"type": "not-regex", "pattern": ".+"}),
    ];
    let mut fixture = Fixture::new();
    fixture.redactor = Redactor::new(vec![PiiKind::Email, PiiKind::Card, PiiKind::Iban], vec![]);
    for (secret, telltale) in planted {
        // At the start, around the 80-character cut, and at the end.
        for at in [0, 60, 65, 70, 75, 78, 79, 80, 81, 120] {
            let output = format!("{}{secret} and then some more words", "w ".repeat(at / 2));
            for spec in &specs {
                let grade = fixture.grade(spec.clone(), &output);
                assert!(!grade.passed, "{spec}: {}", grade.reason);
                assert!(
                    !grade.reason.contains(telltale),
                    "{spec} at {at} leaks {telltale:?}: {}",
                    grade.reason
                );
            }
        }
    }
}

#[test]
fn numbers_a_check_cannot_use_are_configuration_errors() {
    let mut f = Fixture::new();
    for (spec, field, says) in [
        (
            json!({"type": "length", "max": -1}),
            "max",
            "zero or more, found -1",
        ),
        (
            json!({"type": "length", "min": -0.5}),
            "min",
            "zero or more, found -0.5",
        ),
        (
            json!({"type": "contains", "value": "x", "weight": 1e308}),
            "weight",
            "up to 1,000,000, found 1e308",
        ),
    ] {
        let err = f.compile(spec.clone()).expect_err("invalid");
        assert_eq!(err.field, field, "{spec}");
        assert!(err.message.contains(says), "{spec}: {}", err.message);
    }
    assert!(
        f.compile(json!({"type": "contains", "value": "x", "weight": 1_000_000.0}))
            .is_ok()
    );
}

fn tool_call(name: &str, arguments: serde_json::Value) -> crate::provider::ToolCall {
    crate::provider::ToolCall {
        id: None,
        name: name.into(),
        arguments,
        raw_arguments: None,
    }
}

/// Grades an answer made of `calls` (and no text) with `spec`.
fn grade_calls(spec: serde_json::Value, calls: Vec<crate::provider::ToolCall>) -> Grade {
    let mut fixture = Fixture::new();
    fixture.calls = calls;
    let grade = fixture.grade(spec, "");
    assert!(!grade.errored, "unexpected error: {}", grade.reason);
    grade
}

#[test]
fn tool_call_checks_the_name_and_says_what_was_called_instead() {
    let weather = || vec![tool_call("get_weather", json!({"city": "Paris"}))];
    assert!(
        grade_calls(
            json!({"type": "tool-call", "name": "get_weather"}),
            weather()
        )
        .passed
    );
    let grade = grade_calls(json!({"type": "tool-call", "name": "get_time"}), weather());
    assert!(!grade.passed);
    assert_eq!(
        grade.reason,
        r#"called `get_weather` with {"city":"Paris"}, expected `get_time`"#
    );
    let mut fixture = Fixture::new();
    let grade = fixture.grade(
        json!({"type": "tool-call", "name": "get_weather"}),
        "It is sunny.",
    );
    assert!(!grade.passed);
    assert_eq!(
        grade.reason,
        r#"no tool call, expected `get_weather`, answered "It is sunny.""#
    );
}

#[test]
fn tool_call_arguments_are_templated_values_or_a_schema() {
    let spec = json!({"type": "tool-call", "name": "get_weather", "arguments": {"city": "{{ city }}", "days": [1, "{{ n }}"]}});
    let paris = tool_call("get_weather", json!({"city": "Paris", "days": [1, "42"]}));
    assert!(grade_calls(spec.clone(), vec![paris]).passed);
    let rome = tool_call("get_weather", json!({"city": "Rome", "days": [1, "42"]}));
    let grade = grade_calls(spec, vec![rome]);
    assert!(!grade.passed);
    assert_eq!(
        grade.reason,
        r#"called `get_weather` with {"city":"Rome","days":[1,"42"]}, expected arguments {"city":"Paris","days":[1,"42"]}"#
    );

    let schema = json!({"type": "tool-call", "name": "get_weather", "schema": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]
    }});
    let ok = tool_call("get_weather", json!({"city": "Oslo"}));
    assert!(grade_calls(schema.clone(), vec![ok]).passed);
    let grade = grade_calls(
        schema.clone(),
        vec![tool_call("get_weather", json!({"town": 1}))],
    );
    assert!(!grade.passed);
    assert!(
        grade.reason.contains("does not match the schema"),
        "{}",
        grade.reason
    );
    assert!(grade.reason.contains("city"), "{}", grade.reason);

    // Arguments that are not JSON never match, and the reason says so.
    let broken =
        crate::provider::ToolCall::from_json_text(None, "get_weather".into(), "{\"city\": ");
    let grade = grade_calls(schema, vec![broken]);
    assert!(!grade.passed);
    assert!(grade.reason.contains("not valid JSON"), "{}", grade.reason);
}

#[test]
fn several_expected_calls_in_all_any_and_sequence_modes() {
    let calls = || {
        vec![
            tool_call("search", json!({"q": "Paris"})),
            tool_call("get_weather", json!({"city": "Paris"})),
        ]
    };
    let spec = |mode: &str, first: &str, second: &str| {
        json!({"type": "tool-call", "mode": mode, "calls": [
            {"name": first},
            {"name": second, "arguments": {"city": "{{ city }}"}}
        ]})
    };
    assert!(grade_calls(spec("all", "search", "get_weather"), calls()).passed);
    assert!(grade_calls(spec("sequence", "search", "get_weather"), calls()).passed);
    // Reversed order: every call was made (`all` passes), but not in this order.
    let reversed = |mode: &str| json!({"type": "tool-call", "mode": mode, "calls": [{"name": "get_weather"}, {"name": "search"}]});
    assert!(grade_calls(reversed("all"), calls()).passed);
    let grade = grade_calls(reversed("sequence"), calls());
    assert!(!grade.passed);
    assert!(
        grade
            .reason
            .contains("expected call 2 of 2 (`search`) not made in order"),
        "{}",
        grade.reason
    );
    // `all` fails on a missing call; `any` passes on one of them.
    let grade = grade_calls(spec("all", "search", "book_hotel"), calls());
    assert!(!grade.passed);
    assert!(
        grade.reason.contains("expected `book_hotel`"),
        "{}",
        grade.reason
    );
    assert!(grade_calls(spec("any", "book_hotel", "get_weather"), calls()).passed);
    assert!(!grade_calls(spec("any", "book_hotel", "book_flight"), calls()).passed);
}

#[test]
fn no_tool_call_fails_on_any_call_or_on_the_named_one() {
    assert!(grade_calls(json!({"type": "no-tool-call"}), Vec::new()).passed);
    let grade = grade_calls(
        json!({"type": "no-tool-call"}),
        vec![tool_call("delete_account", json!({"id": 7}))],
    );
    assert!(!grade.passed);
    assert_eq!(
        grade.reason,
        r#"called `delete_account` with {"id":7}, expected no tool call"#
    );
    let search = || vec![tool_call("search", json!({}))];
    assert!(
        grade_calls(
            json!({"type": "no-tool-call", "name": "delete_account"}),
            search()
        )
        .passed
    );
    assert!(!grade_calls(json!({"type": "no-tool-call", "name": "search"}), search()).passed);
}

#[test]
fn tool_call_configuration_errors_name_the_field() {
    let mut f = Fixture::new();
    let err = f
        .compile(json!({"type": "tool-call", "name": "a", "calls": [{"name": "b"}]}))
        .expect_err("both");
    assert_eq!(err.field, "calls");
    let err = f
        .compile(json!({"type": "tool-call", "name": "a", "mode": "some"}))
        .expect_err("mode");
    assert_eq!(err.field, "mode");
    let err = f
        .compile(json!({"type": "tool-call"}))
        .expect_err("no name");
    assert_eq!(err.field, "name");
    let err = f
        .compile(
            json!({"type": "tool-call", "calls": [{"name": "a", "arguments": {}, "schema": {}}]}),
        )
        .expect_err("both arguments and schema");
    assert_eq!(err.field, "calls[0].schema");
    let err = f
        .compile(json!({"type": "no-tool-call", "arguments": {}}))
        .expect_err("does not apply");
    assert_eq!(err.field, "arguments");
}

#[test]
fn json_checks_read_a_fenced_block_when_asked() {
    let answer = "Here you go:\n```python\nprint({1: 2})\n```\n```json\n{\"name\": \"Ana\", \"age\": 31}\n```\nAnything else?";
    // The whole output is not JSON: today's default is unchanged.
    assert!(!passes(json!({"type": "is-json"}), answer));
    assert!(passes(
        json!({"type": "is-json", "extract": "fenced"}),
        answer
    ));
    assert!(passes(
        json!({"type": "json-path", "path": "$.age", "value": 31, "extract": "fenced"}),
        answer
    ));
    assert!(!passes(
        json!({"type": "json-schema", "extract": "fenced", "schema": {"type": "object", "required": ["city"]}}),
        answer
    ));
    // A plain fence counts; a python fence does not.
    assert!(passes(
        json!({"type": "is-json", "extract": "fenced"}),
        "```\n[1, 2]\n```"
    ));
    let grade = Fixture::new().grade(
        json!({"type": "is-json", "extract": "fenced"}),
        "```python\n{}\n```",
    );
    assert!(!grade.passed);
    assert!(
        grade
            .reason
            .starts_with("no ```json (or plain ```) fenced block in the output"),
        "{}",
        grade.reason
    );
    let grade = Fixture::new().grade(
        json!({"type": "is-json", "extract": "fenced"}),
        "```json\n{\"a\": }\n```",
    );
    assert!(!grade.passed);
    assert!(
        grade.reason.starts_with("the fenced block is not JSON"),
        "{}",
        grade.reason
    );
}

#[test]
fn json_checks_read_the_first_json_value_in_the_text_when_asked() {
    let answer = "Sure {not json} here it is: {\"city\": \"Paris\"} and [1] after.";
    assert!(!passes(json!({"type": "is-json"}), answer));
    assert!(passes(
        json!({"type": "json-path", "path": "$.city", "value": "{{ city }}", "extract": "first"}),
        answer
    ));
    assert!(passes(
        json!({"type": "json-schema", "extract": "first", "schema": {"type": "array"}}),
        "The list: [1, 2, 3]."
    ));
    let grade = Fixture::new().grade(
        json!({"type": "is-json", "extract": "first"}),
        "no braces {here",
    );
    assert!(!grade.passed);
    assert_eq!(
        grade.reason,
        r#"no JSON object or array in the output: "no braces {here""#
    );
    let err = Fixture::new()
        .compile(json!({"type": "is-json", "extract": "last"}))
        .expect_err("unknown extract");
    assert_eq!(err.field, "extract");
    let err = Fixture::new()
        .compile(json!({"type": "contains", "value": "x", "extract": "first"}))
        .expect_err("not a JSON check");
    assert_eq!(err.field, "extract");
}
