//! The Action's packaging against its contract with `evalgate ci`: the input and output names
//! `ci` reads and writes, the entrypoint, and the one `image:` line the release workflow rewrites.
//! (actionlint and hadolint run in .ci/run; the YAML here is checked as text, so that the test
//! needs no YAML parser.)

use std::path::Path;

const INPUTS: &[&str] = &[
    "config",
    "github_token",
    "baseline",
    "comment",
    "results_artifact",
    "working_directory",
    "fail_on",
    "args",
];
const OUTPUTS: &[&str] = &[
    "verdict",
    "pass_rate",
    "results_path",
    "junit_path",
    "markdown_path",
    "cost_usd",
];

fn read(relative: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(relative))
        .expect("read file")
}

/// The keys directly under a top-level section of action.yml (two-space indent).
fn keys(action: &str, section: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut inside = false;
    for line in action.lines() {
        if !line.starts_with(' ') && !line.is_empty() && !line.starts_with('#') {
            inside = line == format!("{section}:");
            continue;
        }
        if inside
            && let Some(key) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':'))
            && !key.starts_with([' ', '#'])
        {
            keys.push(key.to_string());
        }
    }
    keys
}

#[test]
fn action_inputs_and_outputs_are_the_ones_ci_reads_and_writes() {
    let action = read("action.yml");
    assert_eq!(keys(&action, "inputs"), INPUTS);
    assert_eq!(keys(&action, "outputs"), OUTPUTS);
}

#[test]
fn action_runs_the_ci_command_in_a_docker_image() {
    let action = read("action.yml");
    assert!(action.contains("\n  using: docker\n"), "{action}");
    assert!(action.contains("\n  args: [\"ci\"]\n"), "{action}");
    // The release workflow rewrites exactly this line (`sed 's|^  image: .*|...|'`), and refuses
    // to release when there is not exactly one.
    let images: Vec<&str> = action
        .lines()
        .filter(|l| l.starts_with("  image: "))
        .collect();
    assert_eq!(images, ["  image: Dockerfile"]);
    assert!(read("Dockerfile").contains("ENTRYPOINT [\"/usr/local/bin/evalgate\"]"));
}

#[test]
fn every_input_and_output_is_documented() {
    let docs = read("docs/github-action.md");
    let readme = read("README.md");
    let section = readme
        .split("## Use it in GitHub Actions")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has the GitHub Actions section");
    for name in INPUTS.iter().chain(OUTPUTS) {
        let row = format!("| `{name}` |");
        assert!(docs.contains(&row), "docs/github-action.md lacks {row}");
        assert!(
            section.contains(&format!("`{name}`")),
            "README.md's GitHub Actions section lacks {name}"
        );
    }
}

/// The image builds from `src/` and the few files the code includes from outside it: each one
/// must be copied by the Dockerfile and let through by .dockerignore, or `docker build` breaks
/// while `cargo build` here works.
#[test]
fn files_the_code_includes_from_outside_src_reach_the_image() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = read("Dockerfile");
    let ignore = read(".dockerignore");
    let include = regex::Regex::new(r#"include_(?:str|bytes)!\("([^"]+)"\)"#).expect("regex");
    let mut outside = Vec::new();
    let mut stack = vec![root.join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            for caps in include.captures_iter(&text) {
                let target = path.parent().expect("parent").join(&caps[1]);
                let target = target.canonicalize().expect("included file exists");
                let relative = target
                    .strip_prefix(root.canonicalize().expect("root"))
                    .expect("inside the repository")
                    .to_string_lossy()
                    .into_owned();
                if !relative.starts_with("src/") {
                    outside.push(relative);
                }
            }
        }
    }
    assert!(!outside.is_empty(), "init includes the workflow examples");
    for file in &outside {
        assert!(
            dockerfile.contains(&format!("COPY {file} {file}")),
            "the Dockerfile does not copy {file}"
        );
        assert!(
            ignore.lines().any(|l| l == format!("!{file}")),
            ".dockerignore does not let {file} through"
        );
    }
}
