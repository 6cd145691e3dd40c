//! `evalgate ci` end to end, as the Action runs it: a git repository with a base and a head
//! commit, a pull request event payload, a fake model server and a fake GitHub API, run twice.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::fixtures::{echo_server, stderr, stdout};

const REPO: &str = "acme/support-bot";
const TOKEN: &str = "ghs_citesttoken0123456789";

/// The issue-comments API over an in-memory list: GET lists, POST adds, PATCH edits.
#[derive(Clone, Default)]
struct Comments(Arc<Mutex<Vec<Value>>>);

impl Comments {
    fn list(&self) -> Vec<Value> {
        self.0.lock().expect("lock").clone()
    }
}

impl Respond for Comments {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut comments = self.0.lock().expect("lock");
        let body = || -> String {
            serde_json::from_slice::<Value>(&request.body).expect("JSON")["body"]
                .as_str()
                .expect("body")
                .to_owned()
        };
        let comment = |id: u64, body: &str| {
            json!({
                "id": id, "node_id": "IC_x", "body": body,
                "html_url": format!("https://github.com/{REPO}/pull/7#issuecomment-{id}"),
                "user": {"login": "github-actions[bot]", "id": 41_898_282, "type": "Bot"},
                "created_at": "2026-11-24T10:00:00Z", "updated_at": "2026-11-24T10:00:00Z",
                "author_association": "NONE"
            })
        };
        match request.method.as_str() {
            "GET" => ResponseTemplate::new(200).set_body_json(Value::Array(comments.clone())),
            "POST" => {
                let c = comment(100 + comments.len() as u64, &body());
                comments.push(c.clone());
                ResponseTemplate::new(201).set_body_json(c)
            }
            "PATCH" => {
                let id: u64 = request
                    .url
                    .path()
                    .rsplit('/')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("comment id");
                let text = body();
                let Some(found) = comments.iter_mut().find(|c| c["id"] == id) else {
                    return ResponseTemplate::new(404);
                };
                found["body"] = json!(text);
                ResponseTemplate::new(200).set_body_json(found.clone())
            }
            _ => ResponseTemplate::new(405),
        }
    }
}

async fn fake_github(comments: &Comments) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"message": "Resource not accessible by integration"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/actions/artifacts")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"total_count": 0, "artifacts": []})),
        )
        .mount(&server)
        .await;
    Mock::given(path_regex(format!(
        r"^/repos/{REPO}/issues/(7/comments|comments/\d+)$"
    )))
    .respond_with(comments.clone())
    .mount(&server)
    .await;
    server
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn suite_toml(base_url: &str, polite: &str) -> String {
    suite_toml_with(base_url, polite, "{{ question }}", "")
}

/// The suite with the `polite` prompt's system and user templates, and `extra` TOML at the end.
fn suite_toml_with(base_url: &str, polite: &str, polite_user: &str, extra: &str) -> String {
    format!(
        r#"[suite]
name = "support-bot"

[defaults]
temperature = 0
max_retries = 0

[models.fake]
provider = "openai-compatible"
base_url = "{base_url}/v1"
model = "test-model"
price = {{ input_per_mtok = 1.0, output_per_mtok = 2.0 }}

[prompts.ask]
system = "You answer."
user = "{{{{ question }}}}"

[prompts.polite]
system = "{polite}"
user = "{polite_user}"

[datasets.qs]
file = "cases.jsonl"

[[checks]]
type = "contains"
value = "answer to"

[gate]
min_pass_rate = 0.5

[gate.metrics.pass_rate]
max_drop = 0.1
{extra}"#
    )
}

/// A repository whose head commit changes one of two prompts, and the event of its pull request.
fn repository(model_url: &str) -> (tempfile::TempDir, String, String) {
    repository_with(
        &suite_toml(model_url, "You are polite."),
        &suite_toml(model_url, "You are very polite."),
    )
}

fn repository_with(base_toml: &str, head_toml: &str) -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    git(root, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(root.join(".gitignore"), ".evalgate/\n").expect("write");
    let cases: String = (0..6)
        .map(|i| format!("{{\"id\": \"q{i}\", \"vars\": {{\"question\": \"question {i}\"}}}}\n"))
        .collect();
    std::fs::write(root.join("cases.jsonl"), cases).expect("write");
    std::fs::write(root.join("evalgate.toml"), base_toml).expect("write");
    git(root, &["add", "."]);
    git(root, &["commit", "--quiet", "-m", "base"]);
    let base = git(root, &["rev-parse", "HEAD"]);
    git(root, &["checkout", "--quiet", "-b", "tweak"]);
    std::fs::write(root.join("evalgate.toml"), head_toml).expect("write");
    git(root, &["commit", "--quiet", "-am", "head"]);
    let head = git(root, &["rev-parse", "HEAD"]);
    (dir, base, head)
}

/// A `pull_request` payload. Its label list stays empty: who labelled the pull request is read
/// from the event history, as on a re-run, whose payload is the original one.
fn event(dir: &Path, base: &str, head: &str, head_repo: &str) -> std::path::PathBuf {
    let payload = json!({
        "action": "synchronize",
        "number": 7,
        "pull_request": {
            "number": 7,
            "labels": [],
            "base": {"ref": "main", "sha": base, "repo": {"full_name": REPO}},
            "head": {"ref": "tweak", "sha": head, "repo": {"full_name": head_repo}}
        },
        "repository": {"full_name": REPO}
    });
    let path = dir.join("event.json");
    std::fs::write(&path, payload.to_string()).expect("write");
    path
}

/// A pull request from `head_repo` over [`repository`] (its models at `model`), with a fake
/// GitHub and a scratch folder holding the event payload and the step's files.
async fn pull_request(
    model: &MockServer,
    head_repo: &str,
) -> (
    Comments,
    MockServer,
    tempfile::TempDir,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let comments = Comments::default();
    let github = fake_github(&comments).await;
    let (repo, base, head) = repository(&model.uri());
    let scratch = tempfile::tempdir().expect("tempdir");
    let event = event(scratch.path(), &base, &head, head_repo);
    (comments, github, repo, scratch, event)
}

struct Run {
    output: std::process::Output,
    outputs: String,
    summary: String,
}

async fn ci(repo: &Path, scratch: &Path, event: &Path, github: &str) -> Run {
    ci_with_args(repo, scratch, event, github, "").await
}

/// `evalgate ci` as the Action runs it, off the async test's threads (the fakes answer there).
async fn ci_with_args(repo: &Path, scratch: &Path, event: &Path, github: &str, args: &str) -> Run {
    let (repo, scratch, event) = (repo.to_owned(), scratch.to_owned(), event.to_owned());
    let (github, args) = (github.to_owned(), args.to_owned());
    tokio::task::spawn_blocking(move || run_ci(&repo, &scratch, &event, &github, &args))
        .await
        .expect("join")
}

fn run_ci(repo: &Path, scratch: &Path, event: &Path, github: &str, args: &str) -> Run {
    let output = ci_command(repo, scratch, event, github, args)
        .output()
        .expect("run");
    finished(scratch, output)
}

/// `evalgate ci` with the environment GitHub's runner gives a container action.
fn ci_command(repo: &Path, scratch: &Path, event: &Path, github: &str, args: &str) -> Command {
    let outputs = scratch.join("github_output");
    let summary = scratch.join("step_summary.md");
    let _ = std::fs::remove_file(&outputs);
    let _ = std::fs::remove_file(&summary);
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("evalgate"));
    cmd.current_dir(repo)
        .env_remove("OPENAI_API_KEY")
        .env_remove("GITHUB_TOKEN")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", event)
        .env("GITHUB_REPOSITORY", REPO)
        .env("GITHUB_API_URL", github)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_RUN_ID", "42")
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("INPUT_GITHUB_TOKEN", TOKEN)
        .env("INPUT_CONFIG", "evalgate.toml")
        .env("INPUT_BASELINE", "auto")
        .env("INPUT_COMMENT", "update")
        .env("INPUT_FAIL_ON", "regression")
        .env("INPUT_ARGS", args)
        .arg("ci");
    cmd
}

/// What a finished `evalgate ci` left: its output, and the step's outputs and summary files.
fn finished(scratch: &Path, output: std::process::Output) -> Run {
    Run {
        output,
        outputs: std::fs::read_to_string(scratch.join("github_output")).unwrap_or_default(),
        summary: std::fs::read_to_string(scratch.join("step_summary.md")).unwrap_or_default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_is_judged_against_a_rerun_base_and_commented_once() {
    let model = echo_server().await;
    let (comments, github, repo, scratch, event) = pull_request(&model, REPO).await;

    let first = ci(repo.path(), scratch.path(), &event, &github.uri()).await;
    assert_eq!(
        first.output.status.code(),
        Some(0),
        "{}{}",
        stderr(&first.output),
        stdout(&first.output)
    );
    // The base ran both cells (12 calls); the head ran only the changed one (6 calls).
    let calls = model.received_requests().await.map(|r| r.len());
    assert_eq!(calls, Some(18));
    let results: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.path().join(".evalgate/results.json")).expect("results"),
    )
    .expect("JSON");
    let cells = results["comparison"]["cells"].as_array().expect("cells");
    assert_eq!(cells[0]["id"], "ask/fake");
    assert_eq!(cells[0]["change"], "unchanged");
    assert_eq!(cells[1]["change"], "changed");
    assert_eq!(results["cells"][0]["reused"], true);
    assert!(results["cells"][1].get("reused").is_none());
    assert!(
        results["comparison"]["baseline"]["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("re-run of main")),
        "{}",
        results["comparison"]["baseline"]
    );
    assert_eq!(results["verdict"]["status"], "pass");
    assert!(first.outputs.contains("verdict<<"), "{}", first.outputs);
    assert!(first.outputs.contains("\npass\n"), "{}", first.outputs);
    assert!(first.summary.contains("evalgate PASS"), "{}", first.summary);
    assert!(
        first
            .summary
            .contains("Reused from the baseline, unchanged: ask/fake")
    );
    let after_first = comments.list();
    assert_eq!(after_first.len(), 1);
    let body = after_first[0]["body"].as_str().expect("body");
    assert!(body.starts_with("<!-- evalgate:sticky-comment suite=support-bot id="));
    assert!(stdout(&first.output).contains("comment: created"));

    // Again, as a re-run of the job: everything is cached, the same comment is edited.
    let second = ci(repo.path(), scratch.path(), &event, &github.uri()).await;
    assert_eq!(
        second.output.status.code(),
        Some(0),
        "{}",
        stderr(&second.output)
    );
    assert_eq!(model.received_requests().await.map(|r| r.len()), Some(18));
    assert_eq!(comments.list().len(), 1);
    assert!(stdout(&second.output).contains("comment: updated"));
    // The token never reaches a file or the log.
    for text in [
        stdout(&second.output),
        stderr(&second.output),
        second.summary,
        std::fs::read_to_string(repo.path().join(".evalgate/results.json")).expect("results"),
    ] {
        assert!(!text.contains(TOKEN));
    }
    // The base work tree is gone.
    let worktrees = git(repo.path(), &["worktree", "list"]);
    assert_eq!(worktrees.lines().count(), 1, "{worktrees}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_pull_request_is_neutral_and_calls_nothing() {
    let model = echo_server().await;
    let (comments, github, repo, scratch, event) =
        pull_request(&model, "mallory/support-bot").await;
    let run = ci(repo.path(), scratch.path(), &event, &github.uri()).await;
    assert_eq!(run.output.status.code(), Some(0), "{}", stderr(&run.output));
    assert!(run.outputs.contains("\nneutral\n"), "{}", run.outputs);
    assert!(run.summary.contains("NEUTRAL"), "{}", run.summary);
    assert_eq!(model.received_requests().await.map(|r| r.len()), Some(0));
    assert!(comments.list().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regression_fails_until_an_allowed_user_accepts_it_by_label() {
    let model = echo_server().await;
    let comments = Comments::default();
    let github = fake_github(&comments).await;
    let label = "evalgate: accept-regression";
    let events = Events::default();
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/issues/7/events")))
        .respond_with(events.clone())
        .mount(&github)
        .await;
    // The head's `polite` answers now contain "very", which a new check forbids: 6 of 12 cases
    // regress, a confident drop far beyond the 10 points tolerated.
    let check = "\n[[checks]]\ntype = \"not-contains\"\nvalue = \"very\"\n";
    let override_rule =
        format!("\n[gate.override]\nlabel = \"{label}\"\nallowed = [\"release-manager\"]\n");
    // The rule lives on the base branch; the head may not widen `allowed`, and here it tries to.
    let widened =
        override_rule.replace("[\"release-manager\"]", "[\"release-manager\", \"alice\"]");
    let (repo, base, head) = repository_with(
        &suite_toml_with(
            &model.uri(),
            "You are polite.",
            "{{ question }}",
            &format!("{check}{override_rule}"),
        ),
        &suite_toml_with(
            &model.uri(),
            "You are polite.",
            "{{ question }} (very politely)",
            &format!("{check}{widened}"),
        ),
    );
    let scratch = tempfile::tempdir().expect("tempdir");

    // Without the label: exit 1.
    let plain = event(scratch.path(), &base, &head, REPO);
    let failed = ci(repo.path(), scratch.path(), &plain, &github.uri()).await;
    assert_eq!(
        failed.output.status.code(),
        Some(1),
        "{}",
        stdout(&failed.output)
    );
    assert!(failed.outputs.contains("\nfail\n"), "{}", failed.outputs);
    assert!(
        stdout(&failed.output).contains("::error title=evalgate%3A polite/fake q0 regressed::"),
        "{}",
        stdout(&failed.output)
    );

    // Labelled by alice, whom only the pull request's own suite allows: the failure stands.
    events.label_by("alice", label);
    let refused = ci(repo.path(), scratch.path(), &plain, &github.uri()).await;
    assert_eq!(
        refused.output.status.code(),
        Some(1),
        "{}",
        stdout(&refused.output)
    );
    assert!(
        refused.summary.contains("who is not in"),
        "{}",
        refused.summary
    );

    // Then by an allowed user: accepted, exit 0, on record. The replayed payload of a re-run
    // still lists no label; the event history is what counts.
    events.label_by("release-manager", label);
    let accepted = ci(repo.path(), scratch.path(), &plain, &github.uri()).await;
    assert_eq!(
        accepted.output.status.code(),
        Some(0),
        "{}",
        stdout(&accepted.output)
    );
    assert!(
        accepted.outputs.contains("\naccepted\n"),
        "{}",
        accepted.outputs
    );
    let results: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.path().join(".evalgate/results.json")).expect("results"),
    )
    .expect("JSON");
    assert_eq!(results["verdict"]["status"], "fail");
    assert_eq!(results["verdict"]["accepted"]["by"], "release-manager");
    assert!(
        accepted.summary.contains("**Accepted** by release-manager"),
        "{}",
        accepted.summary
    );
}

/// The issue-events API over an in-memory list.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<Value>>>);

impl Events {
    fn label_by(&self, actor: &str, label: &str) {
        let mut events = self.0.lock().expect("lock");
        let id = events.len() as u64 + 1;
        events.push(json!({
            "id": id, "event": "labeled", "created_at": format!("2026-11-24T09:3{id}:00Z"),
            "actor": {"login": actor, "id": id, "type": "User"},
            "label": {"name": label, "color": "ededed"}
        }));
    }
}

impl Respond for Events {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(Value::Array(self.0.lock().expect("lock").clone()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_cannot_finish_replaces_the_old_verdict_in_the_comment() {
    let model = echo_server().await;
    let (comments, github, repo, scratch, event) = pull_request(&model, REPO).await;
    let first = ci(repo.path(), scratch.path(), &event, &github.uri()).await;
    assert_eq!(
        first.output.status.code(),
        Some(0),
        "{}",
        stderr(&first.output)
    );
    assert!(
        comments.list()[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("evalgate PASS"))
    );

    // A filter that matches nothing: a usage error, and the PASS must not linger.
    let broken = ci_with_args(
        repo.path(),
        scratch.path(),
        &event,
        &github.uri(),
        "--filter no-such-case",
    )
    .await;
    assert_eq!(
        broken.output.status.code(),
        Some(2),
        "{}",
        stdout(&broken.output)
    );
    let list = comments.list();
    assert_eq!(list.len(), 1, "the same comment is edited");
    let body = list[0]["body"].as_str().expect("body");
    assert!(
        body.contains("evalgate ERROR: the gate could not run"),
        "{body}"
    );
    assert!(!body.contains("evalgate PASS"), "{body}");
    assert!(broken.outputs.contains("\nerror\n"), "{}", broken.outputs);
    assert!(
        broken.summary.contains("no case matches"),
        "{}",
        broken.summary
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_error_in_the_comment_keeps_its_place_and_hint() {
    let model = echo_server().await;
    let (comments, github, repo, scratch, event) = pull_request(&model, REPO).await;
    let suite = repo.path().join("evalgate.toml");
    let text = std::fs::read_to_string(&suite).expect("read");
    std::fs::write(
        &suite,
        text.replace("min_pass_rate = 0.5", "min_pas_rate = 0.5"),
    )
    .expect("write");
    let broken = ci(repo.path(), scratch.path(), &event, &github.uri()).await;
    assert_eq!(
        broken.output.status.code(),
        Some(2),
        "{}",
        stderr(&broken.output)
    );
    let list = comments.list();
    assert_eq!(list.len(), 1, "{list:?}");
    let body = list[0]["body"].as_str().expect("body");
    assert!(
        body.contains("evalgate ERROR: the gate could not run"),
        "{body}"
    );
    // What the terminal printed after the first line: the place and the suggestion.
    assert!(body.contains("min_pas_rate"), "{body}");
    assert!(
        body.contains("min_pass_rate"),
        "the did-you-mean is kept: {body}"
    );
    assert!(body.contains("<pre>"), "{body}");
}

/// Answers nothing for a minute, and says when the first request arrived.
struct Stall(Mutex<std::sync::mpsc::Sender<()>>);

impl Respond for Stall {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let _ = self.0.lock().expect("lock").send(());
        ResponseTemplate::new(500).set_delay(std::time::Duration::from_secs(60))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_the_base_rerun_ends_the_job_with_the_error_published() {
    let (arrived_tx, arrived_rx) = std::sync::mpsc::channel();
    let model = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Stall(Mutex::new(arrived_tx)))
        .mount(&model)
        .await;
    let (comments, github, repo, scratch, event) = pull_request(&model, REPO).await;
    let mut child = ci_command(
        repo.path(),
        scratch.path(),
        &event,
        &github.uri(),
        "--concurrency 1",
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("spawn");
    // No artifact and no committed baseline: the first model call is the base branch's re-run.
    let arrived = tokio::task::spawn_blocking(move || {
        arrived_rx.recv_timeout(std::time::Duration::from_secs(120))
    })
    .await
    .expect("join");
    if arrived.is_err() {
        let _ = child.kill();
        panic!("the base re-run never called the model");
    }
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
        .await
        .expect("join");
    let run = finished(scratch.path(), output);

    assert_eq!(
        run.output.status.code(),
        Some(143),
        "{}",
        stderr(&run.output)
    );
    assert!(
        stderr(&run.output).contains("terminated by SIGTERM"),
        "{}",
        stderr(&run.output)
    );
    // The head's suite was not run after it, as if there were merely no baseline.
    assert_eq!(
        model.received_requests().await.map_or(0, |r| r.len()),
        1,
        "only the stalled call"
    );
    let list = comments.list();
    assert_eq!(list.len(), 1);
    let body = list[0]["body"].as_str().expect("body");
    assert!(body.contains("evalgate ERROR"), "{body}");
    assert!(body.contains("terminated by SIGTERM"), "{body}");
    assert!(run.outputs.contains("\nerror\n"), "{}", run.outputs);
    assert!(
        run.summary.contains("terminated by SIGTERM"),
        "{}",
        run.summary
    );
    assert!(run.summary.contains("run the job again"), "{}", run.summary);
    // The base commit's work tree is gone.
    assert_eq!(git(repo.path(), &["worktree", "list"]).lines().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_refusing_the_repository_is_reported_in_its_own_words() {
    // git refuses a repository another user owns ("dubious ownership"), as in a container whose
    // image does not trust the mounted workspace. Only root can hand a folder to someone else.
    let model = echo_server().await;
    let (comments, github, repo, scratch, event) = pull_request(&model, REPO).await;
    let chowned = Command::new("chown")
        .args(["-R", "4321:4321"])
        .arg(repo.path())
        .status()
        .expect("run chown");
    if !chowned.success() {
        assert!(
            !Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|o| o.stdout.starts_with(b"0\n")),
            "root could not chown"
        );
        return;
    }
    let (repo_path, scratch_path, github_uri) = (
        repo.path().to_owned(),
        scratch.path().to_owned(),
        github.uri(),
    );
    let output = tokio::task::spawn_blocking(move || {
        ci_command(&repo_path, &scratch_path, &event, &github_uri, "")
            // Neither this machine's nor the user's git configuration may trust it.
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    let run = finished(scratch.path(), output);
    assert_eq!(run.output.status.code(), Some(0), "{}", stderr(&run.output));
    let list = comments.list();
    let body = list[0]["body"].as_str().expect("body");
    assert!(body.contains("dubious ownership"), "{body}");
    assert!(!body.contains("not in a git repository"), "{body}");
}
