//! Git: the state of the suite's repository for the run metadata, and the base branch's files
//! and work tree for baselines.
//!
//! Every command reports git's own message when it fails ("detected dubious ownership", "bad
//! object"), so a baseline that cannot be found says why; and every command is stopped (with
//! SIGTERM, so that git removes its lock files) when evalgate receives SIGINT or SIGTERM, so a
//! cancelled job does not wait for a slow `git fetch`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::results::GitInfo;
use crate::support::signals::{self, Signal};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git: {0}")]
    Spawn(#[source] std::io::Error),
    /// git ran and failed: `message` is what it printed.
    #[error("`git {command}` failed: {message}")]
    Failed { command: String, message: String },
    #[error("git was stopped: evalgate received {}", .0.name())]
    Interrupted(Signal),
}

/// What a git command printed, and how it ended.
struct Ran {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
}

impl Ran {
    /// stdout when git succeeded; its message otherwise.
    fn ok(self, args: &[&str]) -> Result<Vec<u8>, GitError> {
        if self.status.success() {
            Ok(self.stdout)
        } else {
            Err(self.failed(args))
        }
    }

    fn failed(&self, args: &[&str]) -> GitError {
        let mut message = self
            .stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if message.is_empty() {
            message = format!("it exited with {}", self.status);
        }
        GitError::Failed {
            command: args.join(" "),
            message,
        }
    }
}

/// How often a running git command checks for a signal.
const POLL: Duration = Duration::from_millis(20);

/// Runs `git -C dir ARGS`, with no input, collecting its output.
fn run(dir: &Path, args: &[&str]) -> Result<Ran, GitError> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        // No prompt for credentials or a pager: nobody is there to answer.
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(GitError::Spawn)?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = loop {
        if let Some(signal) = signals::received() {
            stop(&mut child);
            return Err(GitError::Interrupted(signal));
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => {
                stop(&mut child);
                return Err(GitError::Spawn(e));
            }
        }
    };
    Ok(Ran {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned(),
    })
}

/// Asks git to stop (it removes its lock files on SIGTERM), then waits for it; SIGKILL if it
/// cannot be asked.
fn stop(child: &mut std::process::Child) {
    let asked = i32::try_from(child.id()).is_ok_and(|pid| {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .is_ok()
    });
    if !asked {
        let _ = child.kill();
    }
    let _ = child.wait();
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).trim().to_owned()
}

/// The commit, branch and dirtiness of the repository holding `dir`, if it is in one (and git
/// can read it: this is metadata, not worth an error).
pub fn info(dir: &Path) -> Option<GitInfo> {
    let read = |args: &[&str]| run(dir, args).ok()?.ok(args).ok().map(text);
    let sha = read(&["rev-parse", "HEAD"])?;
    let branch = read(&["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD");
    let dirty =
        read(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(GitInfo { sha, branch, dirty })
}

/// The root of the work tree holding `dir`; `None` when `dir` is in no repository. Any other
/// failure (git refusing a repository owned by another user, say) is an error with git's
/// message.
pub fn toplevel(dir: &Path) -> Result<Option<PathBuf>, GitError> {
    let args = ["rev-parse", "--show-toplevel"];
    let ran = run(dir, &args)?;
    if !ran.status.success() && ran.stderr.contains("not a git repository") {
        return Ok(None);
    }
    ran.ok(&args).map(|out| Some(PathBuf::from(text(out))))
}

/// Whether `rev` names a commit this clone has (a shallow CI checkout may lack the base).
pub fn has_commit(repo: &Path, rev: &str) -> Result<bool, GitError> {
    let object = format!("{rev}^{{commit}}");
    let args = ["rev-parse", "--quiet", "--verify", object.as_str()];
    let ran = run(repo, &args)?;
    // `--quiet --verify` exits 1 without a word when the object is missing.
    if !ran.status.success() && ran.stderr.trim().is_empty() {
        return Ok(false);
    }
    ran.ok(&args).map(|_| true)
}

/// Fetches one commit from `origin` (a shallow checkout's missing base), quietly.
pub fn fetch_commit(repo: &Path, rev: &str) -> Result<(), GitError> {
    let args = ["fetch", "--quiet", "--depth=1", "origin", rev];
    run(repo, &args)?.ok(&args).map(drop)
}

/// The content of `path` (relative to the repository root) at `rev`; `None` when it does not
/// exist there.
pub fn show(repo: &Path, rev: &str, path: &str) -> Result<Option<String>, GitError> {
    let object = format!("{rev}:{path}");
    let args = ["show", object.as_str()];
    let ran = run(repo, &args)?;
    if !ran.status.success()
        && (ran.stderr.contains("does not exist in") || ran.stderr.contains("but not in"))
    {
        return Ok(None);
    }
    ran.ok(&args)
        .map(|out| Some(String::from_utf8_lossy(&out).into_owned()))
}

/// A detached work tree of another commit, removed when dropped.
#[derive(Debug)]
pub struct Worktree {
    repo: PathBuf,
    pub path: PathBuf,
}

impl Worktree {
    /// Checks out `rev` into `path` (which must not exist) as a detached work tree of `repo`.
    pub fn add(repo: &Path, path: &Path, rev: &str) -> Result<Worktree, GitError> {
        let target = path.to_string_lossy();
        let args = ["worktree", "add", "--detach", "--quiet", &target, rev];
        let added = run(repo, &args)?.ok(&args);
        if added.is_err() {
            // A half-made work tree (stopped by a signal, say) is not left behind.
            Worktree::remove(repo, path);
        }
        added?;
        Ok(Worktree {
            repo: repo.to_owned(),
            path: path.to_owned(),
        })
    }

    fn remove(repo: &Path, path: &Path) {
        // Not `run`: this cleans up after a signal too, so it must not be stopped by one.
        let _ = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["worktree", "remove", "--force"])
            .arg(path)
            .output();
        let _ = std::fs::remove_dir_all(path);
        let _ = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["worktree", "prune"])
            .output();
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        Worktree::remove(&self.repo, &self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git_in(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .expect("git runs")
            .status
            .success();
        assert!(ok, "git {args:?}");
    }

    /// A repository with one commit holding `a.txt`; returns the commit.
    fn repo(dir: &Path) -> String {
        git_in(dir, &["init", "-q"]);
        std::fs::write(dir.join("a.txt"), "one\n").expect("write");
        git_in(dir, &["add", "a.txt"]);
        git_in(
            dir,
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "commit",
                "-qm",
                "one",
            ],
        );
        text(run(dir, &["rev-parse", "HEAD"]).expect("runs").stdout)
    }

    #[test]
    fn missing_things_are_none_or_false_not_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(toplevel(dir.path()), Ok(None)));
        let sha = repo(dir.path());
        let top = toplevel(dir.path()).expect("ok").expect("a repository");
        assert_eq!(top.canonicalize().ok(), dir.path().canonicalize().ok());
        assert!(has_commit(dir.path(), &sha).expect("ok"));
        assert!(!has_commit(dir.path(), &"0".repeat(40)).expect("ok"));
        assert_eq!(
            show(dir.path(), &sha, "a.txt").expect("ok").as_deref(),
            Some("one\n")
        );
        assert_eq!(show(dir.path(), &sha, "missing.txt").expect("ok"), None);
    }

    #[test]
    fn a_failure_carries_gits_own_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        repo(dir.path());
        // No `origin` to fetch from: git says so, and so does the error.
        let err = fetch_commit(dir.path(), "main").expect_err("no origin");
        let text = err.to_string();
        assert!(text.starts_with("`git fetch --quiet --depth=1 origin main` failed: "));
        assert!(text.contains("origin"), "{text}");
        assert!(!text.contains('\n'), "one line: {text}");
    }

    #[test]
    fn a_failed_worktree_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        repo(dir.path());
        let target = dir.path().join("tree");
        let err = Worktree::add(dir.path(), &target, "no-such-rev").expect_err("bad rev");
        assert!(err.to_string().contains("no-such-rev"), "{err}");
        assert!(!target.exists());

        let sha = text(
            run(dir.path(), &["rev-parse", "HEAD"])
                .expect("runs")
                .stdout,
        );
        let tree = Worktree::add(dir.path(), &target, &sha).expect("added");
        assert!(target.join("a.txt").exists());
        drop(tree);
        assert!(!target.exists(), "removed when dropped");
    }
}
