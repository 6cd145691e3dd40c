//! The git state of the suite's repository, for the run metadata.

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
