//! Runs on machines that misbehave: a journal that cannot be written (a full disk, simulated by
//! `/dev/full`, whose writes fail with ENOSPC), a cache that cannot be written, and a suite whose
//! folder cannot be written at all.
//!
//! Tests may run as root, which ignores permission bits, so nothing here relies on them alone:
//! an unwritable place is a path under a regular file (ENOTDIR for root too) or `/dev/full`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use wiremock::MockServer;

use crate::fixtures::{SuiteDir, echo_server, echo_suite, stderr};

async fn run(cmd: assert_cmd::Command) -> std::process::Output {
    let mut cmd = cmd;
    cmd.timeout(std::time::Duration::from_secs(120));
    tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join")
}

async fn received(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("results file");
    serde_json::from_str(&text).expect("results JSON")
}

/// The journal path named in `stderr` (`.../journal-HASH.jsonl`).
fn journal_named_in(stderr: &str) -> PathBuf {
    let end = stderr.find(".jsonl").expect("a journal path") + ".jsonl".len();
    let start = stderr[..end].rfind(' ').map_or(0, |i| i + 1);
    PathBuf::from(&stderr[start..end])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_that_cannot_be_written_stops_the_run_paying() {
    const CASES: usize = 20;
    let server = echo_server().await;
    let suite = echo_suite(&server.uri(), CASES, "");

    // A journal that cannot even be created stops the run before any call. (It also tells this
    // test the journal's name.)
    let blocked = suite.path().join("not-a-folder");
    std::fs::write(&blocked, "").expect("write");
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "--state-dir"])
        .arg(&blocked);
    let output = run(cmd).await;
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert_eq!(received(&server).await, 0);
    assert!(
        err.contains(&format!("error: cannot open {}", blocked.display())),
        "{err}"
    );
    assert!(err.contains("Not a directory (os error 20)"), "{err}");
    assert!(err.contains("--state-dir DIR"), "{err}");
    let name = journal_named_in(&err);
    let name = name.file_name().expect("file name");

    // The journal fills the disk at its first write. Calls already in flight finish and are
    // kept; no other call starts.
    let state = suite.path().join("state");
    std::fs::create_dir_all(&state).expect("mkdir");
    let journal = state.join(name);
    std::os::unix::fs::symlink("/dev/full", &journal).expect("symlink");
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "--concurrency", "2", "--state-dir"])
        .arg(&state);
    let output = run(cmd).await;
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    let paid = received(&server).await;
    assert!(
        (1..=2).contains(&paid),
        "{paid} calls of {CASES}: only those in flight"
    );
    assert!(
        err.contains(&format!(
            "error: cannot write the journal {}: No space left on device (os error 28); evalgate stopped starting model calls",
            journal.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("not in the journal and may be paid for again on a re-run"),
        "{err}"
    );
    // What could be written was: the results of the calls made, the others errored.
    let results = read_json(&state.join("results.json"));
    let calls = results["results"].as_array().expect("calls");
    assert_eq!(calls.len(), CASES);
    let answered = calls.iter().filter(|c| c["output"].is_string()).count();
    assert_eq!(answered, paid, "every answer in flight is kept");
    let not_called = calls
        .iter()
        .filter(|c| {
            c["error"].as_str().is_some_and(|e| {
                e.starts_with("not called: the run stopped starting model calls when its journal")
            })
        })
        .count();
    assert_eq!(not_called, CASES - paid);
    assert_eq!(results["verdict"]["status"], "error");
    assert!(journal.exists(), "the journal is kept");

    // Space is back: the re-run pays only for what is in neither the journal nor the cache.
    std::fs::remove_file(&journal).expect("rm");
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "--state-dir"])
        .arg(&state);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(received(&server).await, CASES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_that_cannot_be_written_is_a_warning() {
    let server = echo_server().await;
    let suite = echo_suite(&server.uri(), 5, "\n[cache]\ndir = \"c\"\n");
    std::fs::create_dir_all(suite.path().join("c")).expect("mkdir");
    std::os::unix::fs::symlink("/dev/full", suite.path().join("c/responses.jsonl"))
        .expect("symlink");
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress"]);
    let output = run(cmd).await;
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert_eq!(received(&server).await, 5);
    assert_eq!(suite.results()["summary"]["passed"], 5);
    assert!(
        err.contains(
            "cannot write the response cache c/responses.jsonl: No space left on device (os error 28)"
        ),
        "{err}"
    );
    assert_eq!(err.matches("cannot write the response cache").count(), 1);
}

/// Every file under `dir` with its bytes, so a test can tell that nothing was written there.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            let bytes = if path.is_file() {
                std::fs::read(&path).expect("read")
            } else {
                Vec::new()
            };
            files.push((path, bytes));
        }
    }
    files.sort();
    files
}

/// Gives the folders and files under `dir` their write permission back, so the temporary folder
/// can be removed whatever the test did.
struct Writable<'a>(&'a Path);

impl Drop for Writable<'_> {
    fn drop(&mut self) {
        set_writable(self.0, true);
    }
}

fn set_writable(dir: &Path, writable: bool) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| match (path.is_dir(), writable) {
        (true, true) => 0o755,
        (true, false) => 0o555,
        (false, true) => 0o644,
        (false, false) => 0o444,
    };
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        if writable {
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode(&dir)));
        }
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let _ =
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode(&path)));
            }
        }
        if !writable {
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode(&dir)));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_replays_a_suite_and_cache_in_a_read_only_folder_with_a_state_dir() {
    let server = echo_server().await;
    let suite = echo_suite(&server.uri(), 3, "\n[cache]\ndir = \"cache\"\n");
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress"]);
    assert_eq!(run(cmd).await.status.code(), Some(0));
    assert_eq!(received(&server).await, 3);

    // The folder as a checkout on a read-only mount would have it: the suite, its cases and its
    // committed cache, whose last line a crash cut short. Unwritable even for root: the state
    // folder `.evalgate` is a regular file, so nothing can be created under it (ENOTDIR), and
    // the cut line would be repaired by any store opened for writing. Permission bits are
    // removed as well, which binds when the tests do not run as root.
    std::fs::remove_dir_all(suite.path().join(".evalgate")).expect("rm");
    std::fs::write(suite.path().join(".evalgate"), "").expect("write");
    let cache = suite.path().join("cache/responses.jsonl");
    let mut text = std::fs::read_to_string(&cache).expect("cache");
    text.push_str("{\"key\":\"cut short");
    std::fs::write(&cache, text).expect("write");
    let before = snapshot(suite.path());
    let _restore = Writable(suite.path());
    set_writable(suite.path(), false);

    // Without a state folder, the default one cannot hold the audit log: the error says what to
    // do. (The journal is not needed: nothing is paid for.)
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "--offline"]);
    let output = run(cmd).await;
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(
        err.contains(
            "error: cannot open the audit log .evalgate/audit.jsonl: Not a directory (os error 20)"
        ),
        "{err}"
    );
    assert!(
        err.contains("--state-dir DIR or EVALGATE_STATE_DIR"),
        "{err}"
    );

    // With one (the flag, or the variable), every call is replayed and the run writes only there.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let by_flag = elsewhere.path().join("by-flag");
    let by_env = elsewhere.path().join("by-env");
    let mut flag = suite.cmd();
    flag.args(["run", "--no-progress", "--offline", "--state-dir"])
        .arg(&by_flag);
    let mut env = suite.cmd();
    env.args(["run", "--no-progress", "--offline"])
        .env("EVALGATE_STATE_DIR", &by_env);
    for (cmd, state) in [(flag, &by_flag), (env, &by_env)] {
        let output = run(cmd).await;
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let results = read_json(&state.join("results.json"));
        assert_eq!(results["summary"]["passed"], 3);
        assert_eq!(results["summary"]["cache_hits"], 3);
        assert_eq!(results["run"]["cache"], "offline");
        let audit = std::fs::read_to_string(state.join("audit.jsonl")).expect("audit log");
        assert_eq!(audit.lines().count(), 3);
    }
    assert_eq!(received(&server).await, 3, "offline calls nothing");
    assert_eq!(
        snapshot(suite.path()),
        before,
        "nothing was written next to the suite"
    );
}

/// A suite with a results file argument that is not under the state folder still honours it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_results_path_wins_over_the_state_folder() {
    let server = echo_server().await;
    let suite: SuiteDir = echo_suite(&server.uri(), 2, "");
    let mut cmd = suite.cmd();
    cmd.args([
        "run",
        "--no-progress",
        "--state-dir",
        "state",
        "--results",
        "out.json",
    ]);
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(suite.path().join("out.json").is_file());
    assert!(!suite.path().join("state/results.json").exists());
    assert!(suite.path().join("state/cache/responses.jsonl").is_file());
    assert!(suite.path().join("state/audit.jsonl").is_file());
    assert!(!suite.path().join(".evalgate").exists());
}
