//! `evalgate import`: promptfoo configs and OpenAI evals samples become suites that validate, with
//! every item that did not map listed, and nothing is ever overwritten.

use std::path::{Path, PathBuf};

use crate::fixtures::stderr;

fn evalgate(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("evalgate").expect("binary");
    cmd.current_dir(dir)
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    cmd
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rows(path: PathBuf) -> Vec<serde_json::Value> {
    read(path)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect()
}

/// Runs the import into `out` and returns its stdout, asserting exit 0.
fn import(dir: &Path, args: &[&str]) -> String {
    let output = evalgate(dir)
        .arg("import")
        .args(args)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `evalgate validate` on the imported suite: exit 0, and its one-line summary.
fn validate(suite: &Path) -> String {
    let output = evalgate(suite.parent().expect("dir"))
        .args(["validate", "-c"])
        .arg(suite)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `not mapped` lines of an import's output.
fn not_mapped(out: &str) -> Vec<String> {
    out.lines()
        .skip_while(|l| !l.starts_with("not mapped ("))
        .skip(1)
        .take_while(|l| l.starts_with("  - "))
        .map(|l| l.trim_start_matches("  - ").to_owned())
        .collect()
}

#[test]
fn promptfoo_config_imports_to_a_suite_that_validates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = fixture("promptfoo/promptfooconfig.yaml");
    let out = import(
        dir.path(),
        &[
            "promptfoo",
            config.to_str().expect("utf-8"),
            "--out",
            "suite",
        ],
    );
    insta::assert_snapshot!("promptfoo_import_output", out);
    let suite = dir.path().join("suite");
    insta::assert_snapshot!("promptfoo_import_suite", read(suite.join("evalgate.toml")));
    for file in [
        "evalgate.toml",
        "prompts/answer.txt",
        "prompts/chat.txt",
        "prompts/one-word.txt",
        "data/cases.jsonl",
    ] {
        assert!(out.contains(&format!("  {file}\n")), "{out}");
        assert!(suite.join(file).is_file(), "{file} written");
    }

    let toml = read(suite.join("evalgate.toml"));
    for expected in [
        "[models.gpt-4-1-mini]\nprovider = \"openai\"\nmodel = \"gpt-4.1-mini\"\n",
        "[models.claude-haiku-4-5]\nprovider = \"anthropic\"\nmodel = \"claude-haiku-4-5\"\n",
        "[models.llama3-2]\nprovider = \"openai-compatible\"\nbase_url = \"http://localhost:11434/v1\"\n",
        "[models.local-vllm]\nprovider = \"openai-compatible\"\nbase_url = \"http://localhost:8000/v1\"\n",
        "[models.embed]\nprovider = \"openai\"\nmodel = \"text-embedding-3-large\"\ngrader_only = true\n",
        "{ type = \"not-icontains\", value = \"as an AI\" }",
        "{ type = \"latency\", max_ms = 5000 }",
        "[gate]\nmin_pass_rate = 1.0\n",
    ] {
        assert!(toml.contains(expected), "missing {expected:?} in:\n{toml}");
    }
    assert!(!toml.contains("gemini"), "vertex is not mapped:\n{toml}");
    assert_eq!(
        read(suite.join("prompts/chat.txt")),
        "system:\nYou are the bakery's assistant. Be {{ tone }} and brief.\nuser:\n{{ question }}\n"
    );
    assert_eq!(
        read(suite.join("prompts/one-word.txt")),
        "Reply in one word: {{ question }}\n"
    );

    let rows = rows(suite.join("data/cases.jsonl"));
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().expect("id")).collect();
    assert_eq!(
        ids,
        [
            "opening hours",
            "gluten",
            "order format",
            "pastry of the day",
            "pastry of the day-2",
            "only unmapped"
        ]
    );
    // defaultTest vars join every case; a list variable gives one case per value.
    assert_eq!(rows[0]["vars"]["tone"], "friendly");
    assert_eq!(
        rows[4]["vars"]["question"],
        "Which pastry do you recommend today?"
    );
    assert_eq!(
        rows[0]["checks"],
        serde_json::json!([
            {"type": "contains", "values": ["9", "nine"], "mode": "any"},
            {"type": "llm-judge", "judge": "gpt-4-1-mini",
             "rubric": "States the Sunday opening time and nothing it cannot know"}
        ])
    );
    assert_eq!(
        rows[1]["checks"][1],
        serde_json::json!({"type": "similar", "model": "embed",
                           "value": "No, rye contains gluten.", "threshold": 0.8})
    );
    assert_eq!(rows[2]["checks"].as_array().map(Vec::len), Some(2));
    assert_eq!(rows[2]["checks"][0]["type"], "is-json");
    // `contains-json` finds JSON inside the answer: `is-json` reading the first value.
    assert_eq!(rows[2]["checks"][1]["type"], "is-json");
    assert_eq!(rows[2]["checks"][1]["extract"], "first");
    assert!(rows[5].get("checks").is_none(), "its only assert is python");

    let unmapped = not_mapped(&out);
    let items: Vec<&str> = unmapped
        .iter()
        .map(|l| l.split(": ").next().unwrap_or_default())
        .collect();
    assert_eq!(
        items,
        [
            "outputPath",
            "providers[3].config.response_format",
            "providers[4] (vertex:gemini-2.0-flash)",
            "tests[1].assert[1] (javascript)",
            "tests[2].assert[2] (regex)",
            "tests[4].assert[0] (python)",
        ],
        "{out}"
    );
    assert!(
        unmapped[3].contains("rewrite it as a `command` check"),
        "{out}"
    );
    assert!(unmapped[4].contains("look-around"), "{out}");
    assert!(
        out.contains("the judge is `gpt-4-1-mini`, the first model"),
        "{out}"
    );

    let summary = validate(&suite.join("evalgate.toml"));
    assert!(
        summary.contains("is valid: 5 models (1 only grading), 3 prompts, 6 cases, 12 cells"),
        "{summary}"
    );
}

#[test]
fn promptfoo_csv_tests_import_with_their_expected_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = fixture("promptfoo-csv/promptfooconfig.yaml");
    let out = import(
        dir.path(),
        &["promptfoo", config.to_str().expect("utf-8"), "--out", "."],
    );
    let rows = rows(dir.path().join("data/cases.jsonl"));
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["id"], "france");
    assert_eq!(
        rows[0]["checks"],
        serde_json::json!([{"type": "equals", "value": "Paris", "trim": false}])
    );
    assert_eq!(
        rows[1]["checks"],
        serde_json::json!([
            {"type": "icontains", "value": "tokyo"},
            {"type": "not-contains", "value": "Kyoto"}
        ])
    );
    assert_eq!(rows[2]["checks"][0]["type"], "starts-with");
    assert_eq!(rows[3]["checks"][0]["type"], "llm-judge");
    assert_eq!(
        not_mapped(&out),
        [
            "cases.csv:4.assert[1] (javascript): evalgate does not run JavaScript or Python inline: \
          rewrite it as a `command` check, a program that reads the answer as JSON on stdin \
          (docs/checks-graders.md#command)"
        ]
    );
    let toml = read(dir.path().join("evalgate.toml"));
    assert!(
        toml.contains("model = \"gpt-4.1-mini\"\ntemperature = 0\n"),
        "{toml}"
    );
    let summary = validate(&dir.path().join("evalgate.toml"));
    assert!(summary.contains("1 model, 1 prompt, 4 cases"), "{summary}");
}

#[test]
fn promptfoo_without_a_mappable_provider_gets_a_named_placeholder() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("promptfooconfig.yaml"),
        "prompts: ['Say {{ word }}']\nproviders: ['exec: python answer.py']\n\
         tests:\n  - vars: {word: hi}\n    assert:\n      - type: icontains\n        value: hi\n",
    )
    .expect("write");
    let out = import(
        dir.path(),
        &["promptfoo", "promptfooconfig.yaml", "--out", "out"],
    );
    let unmapped = not_mapped(&out);
    assert!(
        unmapped[0].starts_with("providers[0] (exec: python answer.py): "),
        "{out}"
    );
    assert!(
        unmapped[1].starts_with(
            "providers: no provider could be mapped: wrote the placeholder model `replace-me`"
        ),
        "{out}"
    );
    let toml = read(dir.path().join("out/evalgate.toml"));
    assert!(toml.contains("[models.replace-me]"), "{toml}");
    validate(&dir.path().join("out/evalgate.toml"));
}

#[test]
fn openai_evals_samples_import_with_a_match_check_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let samples = fixture("openai-evals/samples.jsonl");
    let out = import(
        dir.path(),
        &[
            "openai-evals",
            samples.to_str().expect("utf-8"),
            "--out",
            "m",
        ],
    );
    insta::assert_snapshot!("openai_evals_import_output", out);
    assert_eq!(
        not_mapped(&out),
        ["`source`: a sample field other than `input` and `ideal`: not carried over"]
    );
    let toml = read(dir.path().join("m/evalgate.toml"));
    assert!(
        toml.contains(
            "messages = [{ role = \"system\", content = \"{{ system }}\" }, \
             { role = \"user\", content = \"{{ user }}\" }]"
        ),
        "{toml}"
    );
    let first = rows(dir.path().join("m/data/samples-1.jsonl"));
    assert_eq!(first[0]["vars"]["user"], "Gold");
    assert_eq!(
        first[0]["checks"],
        serde_json::json!([{"type": "starts-with", "value": "Au"}])
    );
    assert_eq!(
        first[1]["checks"],
        serde_json::json!([{"type": "regex", "pattern": r"^\s*(?:Fe|fe)"}])
    );
    let second = rows(dir.path().join("m/data/samples-2.jsonl"));
    assert_eq!(second[0]["id"], "line-3");
    assert_eq!(second[0]["vars"]["user_2"], "And potassium?");
    let summary = validate(&dir.path().join("m/evalgate.toml"));
    assert!(summary.contains("1 model, 2 prompts, 3 cases"), "{summary}");

    import(
        dir.path(),
        &[
            "openai-evals",
            samples.to_str().expect("utf-8"),
            "--check",
            "includes",
            "--out",
            "i",
        ],
    );
    let first = rows(dir.path().join("i/data/samples-1.jsonl"));
    assert_eq!(
        first[1]["checks"],
        serde_json::json!([{"type": "contains", "values": ["Fe", "fe"], "mode": "any"}])
    );
    validate(&dir.path().join("i/evalgate.toml"));
}

#[test]
fn import_refuses_to_overwrite_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("out")).expect("mkdir");
    std::fs::write(dir.path().join("out/evalgate.toml"), "# mine\n").expect("write");
    let config = fixture("promptfoo/promptfooconfig.yaml");
    let output = evalgate(dir.path())
        .args([
            "import",
            "promptfoo",
            config.to_str().expect("utf-8"),
            "--out",
            "out",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.starts_with("error: refusing to overwrite out/evalgate.toml; nothing was written\n"),
        "{err}"
    );
    assert!(
        err.contains("= hint: import into an empty folder with --out DIR"),
        "{err}"
    );
    assert_eq!(read(dir.path().join("out/evalgate.toml")), "# mine\n");
    assert!(!dir.path().join("out/prompts").exists());
    assert!(!dir.path().join("out/data").exists());
}

#[test]
fn import_errors_name_the_file_and_where() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.yaml"),
        "prompts:\n  - 'a'\n tests: [\n",
    )
    .expect("write");
    let output = evalgate(dir.path())
        .args(["import", "promptfoo", "bad.yaml"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.starts_with("error: bad.yaml:3:"), "{err}");
    assert!(!dir.path().join("evalgate.toml").exists());

    std::fs::write(dir.path().join("s.jsonl"), "{\"input\": \"hi\"}\n").expect("write");
    let output = evalgate(dir.path())
        .args(["import", "openai-evals", "s.jsonl"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.starts_with(
            "error: s.jsonl: `line 1: ideal`: expected a string or a non-empty list of strings"
        ),
        "{err}"
    );
}

#[test]
fn promptfoo_test_files_are_read_and_variables_cases_lack_are_flagged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write =
        |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("write");
    write(
        "promptfooconfig.yaml",
        "prompts: ['Hello {{ name }}, {{ greeting }}']\nproviders: [openai:gpt-4.1-mini]\n\
         tests:\n  - file://more.yaml\n  - file://rows.jsonl\n",
    );
    write(
        "more.yaml",
        "- vars: {name: Ada, greeting: hi}\n  assert: [{type: contains, value: Ada}]\n",
    );
    write(
        "rows.jsonl",
        "{\"vars\": {\"name\": \"Bob\"}, \"assert\": [{\"type\": \"contains\", \"value\": \"Bob\"}]}\n",
    );
    let out = import(
        dir.path(),
        &["promptfoo", "promptfooconfig.yaml", "--out", "s"],
    );
    let rows = rows(dir.path().join("s/data/cases.jsonl"));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["vars"]["name"], "Ada");
    assert_eq!(rows[1]["vars"]["name"], "Bob");
    assert!(
        out.contains(
            "  - prompt `prompt1`: it reads `greeting`, which 1 of 2 cases do not set: promptfoo \
             renders it empty, evalgate stops at it"
        ),
        "{out}"
    );
    assert!(!out.contains("reads `name`"), "{out}");
    // The note is right: validate stops at the case that lacks the variable.
    let output = evalgate(dir.path())
        .args(["validate", "-c", "s/evalgate.toml"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("greeting"), "{}", stderr(&output));
}

#[test]
fn promptfoo_yaml_merge_keys_and_the_prompt_map_form_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.txt"), "Say {{ word }}\n").expect("write");
    std::fs::write(
        dir.path().join("promptfooconfig.yaml"),
        "x-assert: &hi\n  type: icontains\n  value: hi\n\
         prompts:\n  file://p.txt: greet\nproviders: [openai:gpt-4.1-mini]\n\
         tests:\n  - vars: {word: hi}\n    assert:\n      - <<: *hi\n        metric: greeting\n",
    )
    .expect("write");
    let out = import(
        dir.path(),
        &["promptfoo", "promptfooconfig.yaml", "--out", "s"],
    );
    assert_eq!(
        read(dir.path().join("s/prompts/greet.txt")),
        "Say {{ word }}\n"
    );
    let rows = rows(dir.path().join("s/data/cases.jsonl"));
    assert_eq!(
        rows[0]["checks"],
        serde_json::json!([{"type": "icontains", "value": "hi", "metric": "greeting"}])
    );
    assert_eq!(
        not_mapped(&out),
        ["x-assert: no evalgate equivalent: this top-level key is ignored"]
    );
    validate(&dir.path().join("s/evalgate.toml"));
}
