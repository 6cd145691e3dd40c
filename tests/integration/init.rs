//! `evalgate init`: the scaffold validates, its output is locked in, and it never overwrites.

use std::collections::BTreeMap;
use std::path::Path;

use crate::fixtures::stderr;

fn evalgate(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("evalgate").expect("binary");
    cmd.current_dir(dir)
        .env_remove("OPENAI_API_KEY")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    cmd
}

/// Every file under `dir`, by relative path, with its content.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).expect("under dir");
                let text = std::fs::read_to_string(&path).expect("read file");
                files.insert(rel.display().to_string(), text);
            }
        }
    }
    files
}

#[test]
fn init_scaffolds_a_suite_that_validates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = evalgate(dir.path()).arg("init").output().expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stdout));
    let files: Vec<String> = tree(dir.path()).into_keys().collect();
    assert_eq!(
        files,
        [
            ".github/workflows/evalgate-main.yml",
            ".github/workflows/evalgate.yml",
            ".gitignore",
            "evalgate.toml",
            "evals/cases.jsonl",
            "prompts/answer.txt"
        ]
    );
    assert!(
        tree(dir.path())[".gitignore"]
            .lines()
            .any(|l| l == ".evalgate/"),
        "the state folder is ignored"
    );

    let output = evalgate(dir.path()).arg("validate").output().expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        out.contains("suite `support-bot` is valid: 1 model, 1 prompt, 5 cases, 1 cell"),
        "{out}"
    );
}

#[test]
fn init_with_dir_scaffolds_there_and_names_the_suite_in_the_next_steps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = evalgate(dir.path())
        .args(["init", "--dir", "repo"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stdout));
    let output = evalgate(dir.path())
        .args(["validate", "-c", "repo/evalgate.toml"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn second_init_refuses_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = evalgate(dir.path()).arg("init").output().expect("run");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    // Edit a scaffolded file, as a user would, so that an overwrite would show.
    let suite = dir.path().join("evalgate.toml");
    std::fs::write(&suite, "# mine\n").expect("edit");
    let before = tree(dir.path());

    let second = evalgate(dir.path()).arg("init").output().expect("run");
    assert_eq!(second.status.code(), Some(2));
    assert!(second.stdout.is_empty());
    insta::assert_snapshot!(stderr(&second));
    assert_eq!(tree(dir.path()), before);
}

#[test]
fn init_refuses_when_any_one_file_exists_and_writes_nothing_at_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("evals")).expect("mkdir");
    std::fs::write(dir.path().join("evals/cases.jsonl"), "{}\n").expect("write");
    let before = tree(dir.path());

    let output = evalgate(dir.path()).arg("init").output().expect("run");
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!(stderr(&output));
    assert_eq!(tree(dir.path()), before);
    assert!(!dir.path().join("prompts").exists());
    assert!(!dir.path().join(".github").exists());
}

#[test]
fn the_scaffolded_workflows_are_the_examples() {
    // CI lints examples/workflows with actionlint; init must hand out those same files.
    let dir = tempfile::tempdir().expect("tempdir");
    let output = evalgate(dir.path()).arg("init").output().expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/workflows");
    for (scaffolded, example) in [
        ("evalgate.yml", "evalgate-pr.yml"),
        ("evalgate-main.yml", "evalgate-main.yml"),
    ] {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".github/workflows").join(scaffolded))
                .expect("read"),
            std::fs::read_to_string(examples.join(example)).expect("read example"),
            "{scaffolded}"
        );
    }
}

/// The values of `key: value` lines in a workflow, in order; a key that opens a mapping (`key:`
/// alone, like the job `baseline:`) has none. The YAML is read as text: no parser needed.
fn values(yaml: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}:");
    yaml.lines()
        .filter_map(|l| l.trim_start().strip_prefix(prefix.as_str()))
        .map(|v| v.split(" #").next().unwrap_or(v).trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

#[test]
fn the_scaffolded_pr_gate_finds_the_baseline_the_main_workflow_uploads() {
    // docs/github-action.md#baseline: main's workflow uploads .evalgate/results.json as the
    // `evalgate-results` artifact; the PR gate downloads the artifact named by `results_artifact`
    // (default `evalgate-results`, action.yml), which needs `actions: read`. Both run the
    // scaffolded suite, whose results file is .evalgate/results.json beside it.
    let dir = tempfile::tempdir().expect("tempdir");
    let output = evalgate(dir.path()).arg("init").output().expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).expect("read");
    let main = read(".github/workflows/evalgate-main.yml");
    let pr = read(".github/workflows/evalgate.yml");

    let action = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml"))
        .expect("read action.yml");
    let default_artifact = action
        .split("\n  results_artifact:")
        .nth(1)
        .and_then(|rest| values(rest, "default").into_iter().next())
        .expect("action.yml has a default results_artifact");
    let artifact = values(&pr, "results_artifact")
        .pop()
        .unwrap_or(default_artifact);
    assert_eq!(artifact, "evalgate-results");
    assert!(
        values(&main, "name").contains(&artifact),
        "main uploads {:?}, the PR gate downloads {artifact}",
        values(&main, "name")
    );
    assert_eq!(values(&main, "path"), [".evalgate/results.json"]);
    assert_eq!(values(&main, "include-hidden-files"), ["true"]);
    assert_eq!(values(&main, "baseline"), ["none"]);
    assert_eq!(values(&main, "branches"), ["[main]"]);
    assert_eq!(values(&pr, "actions"), ["read"]);
    for workflow in [&main, &pr] {
        assert_eq!(values(workflow, "config"), ["evalgate.toml"]);
        assert!(values(workflow, "working_directory").is_empty());
    }
    assert!(dir.path().join("evalgate.toml").is_file());
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/github-action.md"),
    )
    .expect("read docs");
    assert!(docs.contains("uploads `.evalgate/results.json` as the `evalgate-results` artifact"));
}

#[test]
fn init_never_overwrites_a_baseline_workflow_set_up_by_hand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let workflows = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&workflows).expect("mkdir");
    std::fs::write(workflows.join("evalgate-main.yml"), "name: mine\n").expect("write");
    let before = tree(dir.path());

    let output = evalgate(dir.path()).arg("init").output().expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(
            "refusing to overwrite .github/workflows/evalgate-main.yml; nothing was written"
        ),
        "{}",
        stderr(&output)
    );
    assert_eq!(tree(dir.path()), before);
}

#[test]
fn init_that_cannot_write_a_file_takes_back_what_it_wrote() {
    // `.github` is a file, so the workflow (written last) cannot be: the files and folders written
    // before it must go again, and the error is an infrastructure one (exit 3).
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(".github"), "not a folder\n").expect("write");
    let before = tree(dir.path());

    let output = evalgate(dir.path()).arg("init").output().expect("run");
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot write .github/workflows/evalgate.yml"),
        "{}",
        stderr(&output)
    );
    assert_eq!(tree(dir.path()), before);
    assert!(!dir.path().join("prompts").exists());
    assert!(!dir.path().join("evals").exists());
}

#[test]
fn init_appends_to_a_gitignore_and_never_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(".gitignore"), "target/\n*.log").expect("write");
    let output = evalgate(dir.path()).arg("init").output().expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains(".gitignore"));
    let text = std::fs::read_to_string(dir.path().join(".gitignore")).expect("read");
    // What was there is kept, the missing line break added, the entry appended once.
    assert!(text.starts_with("target/\n*.log\n"), "{text:?}");
    assert_eq!(
        text.lines().filter(|l| *l == ".evalgate/").count(),
        1,
        "{text:?}"
    );

    // A folder that already ignores it is left alone.
    let other = tempfile::tempdir().expect("tempdir");
    std::fs::write(other.path().join(".gitignore"), "/.evalgate\n").expect("write");
    let output = evalgate(other.path()).arg("init").output().expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(other.path().join(".gitignore")).expect("read"),
        "/.evalgate\n"
    );
}
