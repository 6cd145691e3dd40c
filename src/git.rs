//! Git: the state of the suite's repository for the run metadata, and the base branch's files
//! and work tree for baselines.

use std::path::Path;
use std::process::Command;

use crate::results::GitInfo;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The commit, branch and dirtiness of the repository holding `dir`, if it is in one.
pub fn info(dir: &Path) -> Option<GitInfo> {
    let sha = git(dir, &["rev-parse", "HEAD"])?;
    let branch = git(dir, &["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD");
    let dirty =
        git(dir, &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(GitInfo { sha, branch, dirty })
}

/// The root of the work tree holding `dir`.
pub fn toplevel(dir: &Path) -> Option<std::path::PathBuf> {
    git(dir, &["rev-parse", "--show-toplevel"]).map(std::path::PathBuf::from)
}

/// Whether `rev` names a commit this clone has (a shallow CI checkout may lack the base).
pub fn has_commit(repo: &Path, rev: &str) -> bool {
    git(repo, &["cat-file", "-e", &format!("{rev}^{{commit}}")]).is_some()
}

/// Fetches one commit from `origin` (a shallow checkout's missing base), quietly.
pub fn fetch_commit(repo: &Path, rev: &str) -> bool {
    git(repo, &["fetch", "--quiet", "--depth=1", "origin", rev]).is_some()
}

/// The content of `path` (relative to the repository root) at `rev`, if it exists there.
pub fn show(repo: &Path, rev: &str, path: &str) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["show", &format!("{rev}:{path}")])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A detached work tree of another commit, removed when dropped.
#[derive(Debug)]
pub struct Worktree {
    repo: std::path::PathBuf,
    pub path: std::path::PathBuf,
}

impl Worktree {
    /// Checks out `rev` into `path` (which must not exist) as a detached work tree of `repo`.
    pub fn add(repo: &Path, path: &Path, rev: &str) -> Result<Worktree, String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["worktree", "add", "--detach", "--quiet"])
            .arg(path)
            .arg(rev)
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Worktree {
            repo: repo.to_owned(),
            path: path.to_owned(),
        })
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        let _ = Command::new("git")
            .arg("-C")
            .arg(&self.repo)
            .args(["worktree", "remove", "--force"])
            .arg(&self.path)
            .output();
    }
}
