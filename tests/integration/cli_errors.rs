//! Every documented configuration and usage error: its message, where it points, and exit code 2.

use crate::fixtures::{SuiteDir, stderr};

const MINIMAL: &str = r#"[suite]
name = "t"

[models.m]
provider = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
model = "x"

[prompts.p]
user = "{{ question }}"

[datasets.d]
cases = [{ id = "a", vars = { question = "q?" } }]

[[checks]]
type = "contains"
value = "x"
"#;

/// Runs `evalgate validate` on a suite and returns stderr, asserting exit code 2.
fn invalid(toml: &str, files: &[(&str, &str)]) -> String {
    let suite = SuiteDir::new(toml);
    for (name, content) in files {
        suite.file(name, content);
    }
    let output = suite.cmd().args(["validate"]).output().expect("run");
    assert_eq!(output.status.code(), Some(2), "stderr: {}", stderr(&output));
    stderr(&output)
}

#[test]
fn valid_suite_passes_validation() {
    let suite = SuiteDir::new(MINIMAL);
    let output = suite.cmd().arg("validate").output().expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        out.contains(
            "suite `t` is valid: 1 model, 1 prompt, 1 case, 1 cell, 1 model call per run\n"
        ),
        "{out}"
    );
}

#[test]
fn validate_counts_a_judge_apart_and_its_calls_too() {
    let toml = MINIMAL.replace(
        "[prompts.p]",
        "[models.judge]\nprovider = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"j\"\n\n[prompts.p]\nmodels = [\"m\"]",
    ) + "\n[[checks]]\ntype = \"llm-judge\"\njudge = \"judge\"\nrubric = \"polite\"\n";
    let suite = SuiteDir::new(&toml);
    let output = suite.cmd().arg("validate").output().expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        out.contains("2 models (1 only grading), 1 prompt, 1 case, 1 cell, 1 model call per run (checks that call a model add at least 1 grading call)\n"),
        "{out}"
    );
}

#[test]
fn typo_in_a_key_names_line_column_and_suggests() {
    let toml = MINIMAL.replace("[models.m]", "[defaults]\ntemprature = 0\n\n[models.m]");
    insta::assert_snapshot!(invalid(&toml, &[]));
}

#[test]
fn unknown_provider_suggests_the_nearest() {
    let toml = MINIMAL.replace("openai-compatible", "opneai");
    insta::assert_snapshot!(invalid(&toml, &[]));
}

/// Another tool's check type gets what to write in evalgate, not the nearest name: `contains`
/// for `contains-all` would pass when any one value occurs.
#[test]
fn another_tools_check_type_says_what_to_write_instead() {
    for (name, hint) in [
        (
            "contains-all",
            "write `type = \"contains\"` with `values = [...]` and `mode = \"all\"`",
        ),
        (
            "icontains-all",
            "write `type = \"icontains\"` with `values = [...]` and `mode = \"all\"`",
        ),
        (
            "not-contains-all",
            "write `type = \"not-contains\"` with `values = [...]` and `mode = \"all\"`",
        ),
        (
            "not-equals",
            "write `type = \"not-regex\"` with an anchored `pattern`",
        ),
        (
            "llm-rubric",
            "write `type = \"llm-judge\"` with `rubric = \"...\"`",
        ),
        ("factuality", "`reference = \"{{ expected }}\"`"),
        ("javascript", "write `type = \"command\"`"),
        ("levenshtein", "write `type = \"similarity\"`"),
        (
            "is-refusal",
            "write `type = \"refusal\"` with `expect = \"refusal\"`",
        ),
    ] {
        let toml = MINIMAL.replace("type = \"contains\"", &format!("type = \"{name}\""));
        let err = invalid(&toml, &[]);
        assert!(
            err.starts_with(&format!(
                "error: evalgate.toml:16:8: `checks[0].type`: unknown check type `{name}`; "
            )),
            "{err}"
        );
        assert!(err.contains(hint), "{name}: {err}");
        assert!(!err.contains("did you mean"), "{name}: {err}");
    }
}

#[test]
fn another_tools_check_type_in_a_dataset_row_says_what_to_write_instead() {
    let toml = MINIMAL.replace(
        "cases = [{ id = \"a\", vars = { question = \"q?\" } }]",
        "file = \"cases.jsonl\"",
    );
    let err = invalid(
        &toml,
        &[(
            "cases.jsonl",
            "{\"id\": \"a\", \"vars\": {\"question\": \"q?\"}, \"checks\": [{\"type\": \"contains-all\", \"value\": [\"a\", \"b\"]}]}\n",
        )],
    );
    assert!(err.contains("cases.jsonl:1"), "{err}");
    assert!(
        err.contains("unknown check type `contains-all`; write `type = \"contains\"` with `values = [...]` and `mode = \"all\"`"),
        "{err}"
    );
    assert!(!err.contains("did you mean"), "{err}");
}

/// Another tool's provider gets how to reach it with evalgate's providers, at the value's line
/// and column.
#[test]
fn another_tools_provider_says_how_to_reach_it() {
    for (name, hint) in [
        (
            "azure",
            "`base_url = \"https://RESOURCE.openai.azure.com/openai/deployments/DEPLOYMENT\"`, `query = { api-version = \"2024-10-21\" }` and `headers = { api-key = \"${AZURE_OPENAI_KEY}\" }`",
        ),
        ("AzureOpenAI", "write `provider = \"openai-compatible\"`"),
        (
            "ollama",
            "write `provider = \"openai-compatible\"` with `base_url = \"http://localhost:11434/v1\"`",
        ),
        ("vllm", "`base_url = \"http://localhost:8000/v1\"`"),
        ("llamacpp", "`base_url = \"http://localhost:8080/v1\"`"),
        ("lmstudio", "`base_url = \"http://localhost:1234/v1\"`"),
        ("bedrock", "evalgate has no Bedrock provider"),
        ("vertex", "`provider = \"http\"`"),
        (
            "ollama:chat:llama3.2",
            "`base_url = \"http://localhost:11434/v1\"` (Ollama's OpenAI-compatible API), and `model = \"llama3.2\"`",
        ),
        (
            "openai:gpt-4o-mini",
            "write the provider and the model apart: `provider = \"openai\"` and `model = \"gpt-4o-mini\"`",
        ),
    ] {
        let toml = MINIMAL.replace(
            "provider = \"openai-compatible\"",
            &format!("provider = \"{name}\""),
        );
        let err = invalid(&toml, &[]);
        assert!(
            err.starts_with(&format!(
                "error: evalgate.toml:5:12: unknown value `{name}`\n"
            )),
            "{err}"
        );
        assert!(err.contains("  = help: "), "{err}");
        assert!(err.contains(hint), "{name}: {err}");
        assert!(!err.contains("did you mean"), "{name}: {err}");
    }
}

#[test]
fn toml_syntax_error_points_at_the_line() {
    let toml = MINIMAL.replace("name = \"t\"", "name = \"t");
    let err = invalid(&toml, &[]);
    assert!(err.starts_with("error: evalgate.toml:2:"), "{err}");
}

#[test]
fn missing_suite_file_says_how_to_pass_one() {
    let suite = SuiteDir::new(MINIMAL);
    let output = suite
        .cmd()
        .args(["validate", "-c", "nope.toml"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!(stderr(&output));
}

#[test]
fn template_variable_missing_from_a_case_names_prompt_case_and_variable() {
    let toml = MINIMAL.replace("{{ question }}", "{{ question }} {{ context }}");
    insta::assert_snapshot!(invalid(&toml, &[]));
}

#[test]
fn check_template_reading_a_missing_expected_names_check_and_case() {
    // `{{ expected }}` in a check, on a case without `expected`: caught offline, not as an
    // errored call at run time.
    let toml = MINIMAL.replace("value = \"x\"", "value = \"{{ expected }}\"");
    insta::assert_snapshot!(invalid(&toml, &[]));
}

#[test]
fn broken_dataset_row_names_file_and_line() {
    let toml = MINIMAL.replace(
        "cases = [{ id = \"a\", vars = { question = \"q?\" } }]",
        "file = \"data.jsonl\"",
    );
    let err = invalid(
        &toml,
        &[(
            "data.jsonl",
            "{\"question\": \"one\"}\n{\"question\": \"two\"\n",
        )],
    );
    insta::assert_snapshot!(err);
}

#[test]
fn duplicate_case_ids_are_rejected_with_both_places() {
    let toml = MINIMAL.replace(
        "cases = [{ id = \"a\", vars = { question = \"q?\" } }]",
        "file = \"data.jsonl\"",
    );
    let err = invalid(
        &toml,
        &[(
            "data.jsonl",
            "{\"id\": \"x\", \"question\": \"one\"}\n{\"id\": \"x\", \"question\": \"two\"}\n",
        )],
    );
    insta::assert_snapshot!(err);
}

#[test]
fn unknown_check_type_suggests_the_nearest() {
    let toml = MINIMAL.replace("type = \"contains\"", "type = \"contians\"");
    let err = invalid(&toml, &[]);
    assert!(err.starts_with("error: evalgate.toml:16:8: `checks[0].type`: unknown check type `contians`; did you mean `contains`?"), "{err}");
    // One mistake, one message: the check that failed to compile does not cascade.
    assert!(!err.contains("has no checks"), "{err}");
}

#[test]
fn gated_metric_that_no_check_feeds_is_an_error() {
    let toml = format!("{MINIMAL}\n[gate.metrics.acuracy]\nmin = 0.5\n");
    insta::assert_snapshot!(invalid(&toml, &[]));
}

#[test]
fn openai_compatible_without_base_url_says_what_to_add() {
    let toml = MINIMAL.replace("base_url = \"http://127.0.0.1:9/v1\"\n", "");
    insta::assert_snapshot!(invalid(&toml, &[]));
}

#[test]
fn several_problems_are_reported_at_once() {
    let toml = MINIMAL
        .replace("{{ question }}", "{{ qestion }}")
        .replace("model = \"x\"", "model = \"x\"\ntemperature = 9");
    let err = invalid(&toml, &[]);
    assert!(
        err.contains("`models.m.temperature`: must be between 0 and 2, found 9"),
        "{err}"
    );
    assert!(err.contains("has no variable `qestion`"), "{err}");
    assert!(err.contains("the case has `question`"), "{err}");
}

#[test]
fn missing_api_key_is_a_usage_error_naming_the_variable() {
    // A gate that can fail, so the only line on stderr is the error.
    let toml = format!("{MINIMAL}\n[gate]\nmin_pass_rate = 0.5\n").replace(
        "provider = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:9/v1\"",
        "provider = \"openai\"",
    );
    let suite = SuiteDir::new(&toml);
    let output = suite
        .cmd()
        .args(["run", "--no-progress"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!(stderr(&output));
}

#[test]
fn a_filter_that_matches_nothing_is_a_usage_error() {
    let suite = SuiteDir::new(MINIMAL);
    let output = suite
        .cmd()
        .args(["run", "--no-progress", "--filter", "zzz"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no case matches --filter zzz"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn offline_with_an_empty_cache_errors_every_case_and_exits_3() {
    let suite = SuiteDir::new(MINIMAL);
    let output = suite
        .cmd()
        .args(["run", "--no-progress", "--offline"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let results = suite.results();
    assert_eq!(results["verdict"]["status"], "error");
    let error = results["results"][0]["error"].as_str().expect("error text");
    assert!(
        error.contains("no cached response") && error.contains("--offline"),
        "{error}"
    );
}

#[test]
fn a_timeout_out_of_range_is_an_error_not_a_panic() {
    for bad in ["-1.0", "0.0", "inf", "nan", "1e308", "86401"] {
        let toml = MINIMAL.replace(
            "model = \"x\"",
            &format!("model = \"x\"\ntimeout_s = {bad}"),
        );
        let err = invalid(&toml, &[]);
        assert!(
            err.contains("`models.m.timeout_s`: `timeout_s` must be a number of seconds above 0 and at most 86400"),
            "timeout_s = {bad}: {err}"
        );
        let toml = MINIMAL.replace(
            "[models.m]",
            &format!("[defaults]\ntimeout_s = {bad}\n\n[models.m]"),
        );
        let err = invalid(&toml, &[]);
        assert!(
            err.contains("`defaults.timeout_s`"),
            "defaults timeout_s = {bad}: {err}"
        );
    }
}

#[test]
fn counts_beyond_the_command_lines_caps_are_errors_in_the_file_too() {
    let toml = MINIMAL.replace("model = \"x\"", "model = \"x\"\nconcurrency = 99999999999");
    let err = invalid(&toml, &[]);
    assert!(
        err.contains("`models.m.concurrency`: `concurrency` must be from 1 to 10000"),
        "{err}"
    );
    let toml = MINIMAL.replace(
        "[models.m]",
        "[defaults]\nrepeats = 100000000\n\n[models.m]",
    );
    let err = invalid(&toml, &[]);
    assert!(
        err.contains("`defaults.repeats`: `repeats` must be from 1 to 1000"),
        "{err}"
    );
}

/// What `run` would refuse when it builds the HTTP client, `validate` refuses first: a URL the
/// client cannot parse, a header it cannot send, a method that is not one.
#[test]
fn validate_catches_what_the_http_client_would_refuse() {
    let cases = [
        (
            "base_url = \"http://127.0.0.1:9/v1\"",
            "base_url = \"http://exa mple.com/v1\"",
            "`models.m.base_url`: `http://exa mple.com/v1` is not a valid URL",
        ),
        (
            "base_url = \"http://127.0.0.1:9/v1\"",
            "base_url = \"http://\"",
            "`models.m.base_url`: `http://` is not a valid URL: empty host",
        ),
        (
            "model = \"x\"",
            "model = \"x\"\nheaders = { \"X Team\" = \"a\" }",
            "`models.m.headers.X Team`: `X Team` is not a valid HTTP header name",
        ),
        (
            "model = \"x\"",
            "model = \"x\"\nheaders = { \"X-Team\" = \"a\\nb\" }",
            "`models.m.headers.X-Team`: the value holds characters HTTP headers cannot carry",
        ),
        (
            "model = \"x\"",
            "model = \"x\"\nprice = { input_per_mtok = 1e308, output_per_mtok = 1 }",
            "`models.m.price.input_per_mtok`: prices are US dollars per million tokens, from 0 to 1,000,000",
        ),
    ];
    for (from, to, expected) in cases {
        let err = invalid(&MINIMAL.replace(from, to), &[]);
        assert!(err.contains(expected), "{to}: {err}");
    }
    // A header value that reads its secret from the environment is fine as written.
    let toml = MINIMAL.replace(
        "model = \"x\"",
        "model = \"x\"\nheaders = { \"X-Team\" = \"Bearer ${TEAM_TOKEN}\" }",
    );
    let suite = SuiteDir::new(&toml);
    let output = suite.cmd().arg("validate").output().expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn an_http_model_with_a_bad_url_or_method_is_invalid() {
    let toml = MINIMAL.replace(
        "provider = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"x\"",
        "provider = \"http\"\nurl = \"ftp://127.0.0.1/answer\"\nmethod = \"PO ST\"\noutput_pointer = \"/answer\"",
    );
    let err = invalid(&toml, &[]);
    assert!(
        err.contains("`models.m.url`: `ftp://127.0.0.1/answer` is not an http(s) URL"),
        "{err}"
    );
    assert!(
        err.contains("`models.m.method`: `PO ST` is not an HTTP method"),
        "{err}"
    );
}

#[test]
fn dataset_encoding_and_header_problems_are_named_with_their_place() {
    let toml = MINIMAL.replace(
        "cases = [{ id = \"a\", vars = { question = \"q?\" } }]",
        "file = \"data.jsonl\"",
    );
    // A byte-order mark at the start of a JSONL file is dropped, not an error.
    let suite = SuiteDir::new(&toml);
    suite.file("data.jsonl", "\u{feff}{\"question\": \"one\"}\n");
    let output = suite.cmd().arg("validate").output().expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    // Latin-1 where UTF-8 was expected: the line and column of the first bad byte.
    let suite = SuiteDir::new(&toml);
    std::fs::write(
        suite.path().join("data.jsonl"),
        b"{\"question\": \"one\"}\n{\"question\": \"caf\xe9\"}\n",
    )
    .expect("write");
    let output = suite.cmd().arg("validate").output().expect("run");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains(
            "data.jsonl:2:18: cannot read dataset: not UTF-8 text: byte 0xE9 at line 2, column 18"
        ),
        "{err}"
    );
    assert!(err.contains("save the file as UTF-8"), "{err}");

    // A CSV header naming a column twice.
    let toml = toml.replace("data.jsonl", "data.csv");
    let err = invalid(&toml, &[("data.csv", "question,question\none,two\n")]);
    assert!(
        err.contains(
            "data.csv:1:1: column `question` appears twice in the CSV header (columns 1 and 2)"
        ),
        "{err}"
    );
}

#[test]
fn inf_and_nan_where_json_is_expected_are_named_not_turned_into_null() {
    let toml = MINIMAL
        .replace("value = \"x\"", "value = inf")
        .replace("question = \"q?\"", "question = \"q?\", weight = nan");
    let err = invalid(&toml, &[]);
    assert!(
        err.contains("`checks[0].value`: `inf` is not a finite number"),
        "{err}"
    );
    assert!(
        err.contains("`datasets.d.cases[0].vars.weight`: `nan` is not a finite number"),
        "{err}"
    );
}

/// Names from a suite file reach evalgate's own output inert: no workflow command, no escape.
#[test]
fn a_crafted_suite_name_cannot_inject_into_the_terminal_or_the_ci_log() {
    let hostile = r#"x\n::error::pwned \u001b[31mred\r::set-output name=a::b"#;
    let suite_for = |name: &str| {
        SuiteDir::new(&format!(
            r#"[suite]
name = "{name}"

[models.m]
provider = "command"
command = ["cat"]

[prompts.p]
user = "{{{{ q }}}}"

[datasets.d]
cases = [{{ id = "c", vars = {{ q = "x" }} }}]

[[checks]]
type = "contains"
value = "x"
"#
        ))
    };
    let inert = |text: &str| {
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
        assert!(
            text.lines().all(|l| !l.trim_start().starts_with("::")),
            "{text}"
        );
    };
    let crafted = suite_for(hostile);
    let output = crafted.cmd().arg("validate").output().expect("validate");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    inert(&String::from_utf8_lossy(&output.stdout));
    let output = crafted
        .cmd()
        .args(["run", "--no-progress"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    let plain = suite_for("plain");
    let output = plain
        .cmd()
        .args(["run", "--no-progress"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let crafted_results = crafted.path().join(".evalgate/results.json");
    let output = plain
        .cmd()
        .args(["compare", ".evalgate/results.json"])
        .arg(&crafted_results)
        .output()
        .expect("compare");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("is a run of suite `x"), "{err}");
    inert(&err);
}

#[test]
fn empty_model_and_prompt_lists_are_errors_not_a_suite_that_runs_nothing() {
    let toml = MINIMAL.replace(
        "user = \"{{ question }}\"",
        "user = \"{{ question }}\"\nmodels = []",
    );
    let err = invalid(&toml, &[]);
    assert!(
        err.contains("`prompts.p.models`: an empty `models` list runs the prompt on no model"),
        "{err}"
    );
    let toml = MINIMAL.replace(
        "cases = [{ id = \"a\", vars = { question = \"q?\" } }]",
        "cases = [{ id = \"a\", vars = { question = \"q?\" } }]\nprompts = []",
    );
    let err = invalid(&toml, &[]);
    assert!(
        err.contains("`datasets.d.prompts`: an empty `prompts` list"),
        "{err}"
    );
}

#[test]
fn a_metric_measure_is_pass_rate_or_score() {
    let with = |measure: &str| {
        MINIMAL.replace(
            "value = \"x\"",
            &format!("value = \"x\"\n\n[gate.metrics.pass_rate]\nmax_drop = 0.02\nmeasure = \"{measure}\""),
        )
    };
    let suite = SuiteDir::new(&with("score"));
    let output = suite.cmd().arg("validate").output().expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let err = invalid(&with("scores"), &[]);
    assert!(
        err.contains("`gate.metrics.pass_rate.measure`: unknown measure `scores`"),
        "{err}"
    );
    assert!(err.contains("did you mean `score`?"), "{err}");
}

#[test]
fn a_gate_that_cannot_fail_is_warned_about() {
    // MINIMAL has no [gate]: every case could fail and the run would pass.
    let suite = SuiteDir::new(MINIMAL);
    let output = suite.cmd().arg("validate").output().expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        out.contains("warning: the gate has no rule that can fail this suite"),
        "{out}"
    );
    let gated = SuiteDir::new(&format!("{MINIMAL}\n[gate]\nmin_pass_rate = 0.9\n"));
    let output = gated.cmd().arg("validate").output().expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!String::from_utf8_lossy(&output.stdout).contains("warning"));
}

/// A prompt's tools and a case's conversation are checked offline: each mistake names the
/// file, where it is, and what to do, and exits 2.
#[test]
fn tool_and_conversation_mistakes_are_configuration_errors() {
    let err = invalid(
        &MINIMAL.replace(
            "user = \"{{ question }}\"",
            "user = \"{{ question }}\"\ntool_choice = \"get_wether\"\n\n[[prompts.p.tools]]\nname = \"get_weather\"",
        ),
        &[],
    );
    assert!(err.contains("evalgate.toml:"), "{err}");
    assert!(
        err.contains("`tool_choice` `get_wether` is neither a mode nor a declared tool"),
        "{err}"
    );
    assert!(err.contains("did you mean `get_weather`?"), "{err}");

    // A system-only prompt whose cases bring their conversation from a file.
    let suite = || {
        MINIMAL
            .replace(
                "[datasets.d]\ncases = [{ id = \"a\", vars = { question = \"q?\" } }]",
                "[datasets.d]\nfile = \"cases.jsonl\"",
            )
            .replace("user = \"{{ question }}\"", "system = \"Be brief.\"")
    };
    let err = invalid(
        &suite(),
        &[(
            "cases.jsonl",
            "{\"id\": \"a\", \"vars\": {}, \"messages\": [{\"role\": \"tool\", \"content\": \"18C\", \"tool_call_id\": \"call_9\"}]}\n",
        )],
    );
    assert!(err.contains("cases.jsonl:1"), "{err}");
    assert!(
        err.contains(
            "`messages[0]`: `tool_call_id` `call_9` answers no earlier assistant `tool_calls` id"
        ),
        "{err}"
    );
    let err = invalid(
        &suite(),
        &[(
            "cases.jsonl",
            "{\"id\": \"a\", \"vars\": {}, \"messages\": [{\"role\": \"robot\", \"content\": \"hi\"}]}\n",
        )],
    );
    assert!(err.contains("`messages[0]`: unknown role `robot`"), "{err}");
    // A system-only prompt needs every case to bring its conversation.
    let err = invalid(
        &suite(),
        &[("cases.jsonl", "{\"id\": \"a\", \"vars\": {}}\n")],
    );
    assert!(
        err.contains("prompt `p` has no `user` message and case `a`"),
        "{err}"
    );
}

/// The tools-and-conversations example stays valid, offline and without a key.
#[test]
fn the_support_agent_example_validates() {
    let suite = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/support-agent/evalgate.toml");
    let output = assert_cmd::Command::cargo_bin("evalgate")
        .expect("binary")
        .env_remove("OPENAI_API_KEY")
        .args(["validate", "-c"])
        .arg(&suite)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("5 cases"),
        "{}",
        stderr(&output)
    );
}
