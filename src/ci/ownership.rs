//! The workspace's files go back to its owner. GitHub runs a container action as root in a
//! workspace that belongs to the runner's user (uid 1001 on GitHub's runners), so everything
//! `evalgate ci` creates there — `.evalgate/`, and git's own files after a fetch or a work tree
//! (`.git/index`, `.git/objects/..`, `.git/shallow`) — would be root's, and the runner's user
//! could neither clean nor fetch into the checkout afterwards: on a self-hosted runner the next
//! job's checkout breaks. At the end of the flow, whatever ended it, every entry in the workspace
//! owned by root is given to the workspace's owner.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What [`give_back`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct GivenBack {
    pub changed: u64,
    /// The first entry that could not be changed, with the OS error.
    pub failed: Option<String>,
}

/// Gives every entry under `workspace` that root owns to the owner of `workspace`, without
/// following symbolic links. Does nothing unless evalgate runs as root and the workspace
/// belongs to someone else.
pub(crate) fn give_back(workspace: &Path) -> GivenBack {
    let mut done = GivenBack::default();
    let Ok(meta) = std::fs::metadata(workspace) else {
        return done;
    };
    let (uid, gid) = (meta.uid(), meta.gid());
    if !nix::unistd::geteuid().is_root() || uid == 0 {
        return done;
    }
    walk(workspace, uid, gid, &mut done);
    done
}

fn walk(dir: &Path, uid: u32, gid: u32, done: &mut GivenBack) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.uid() == 0 {
            match std::os::unix::fs::lchown(&path, Some(uid), Some(gid)) {
                Ok(()) => done.changed += 1,
                Err(e) if done.failed.is_none() => {
                    done.failed = Some(format!("{}: {e}", path.display()));
                }
                Err(_) => {}
            }
        }
        if meta.is_dir() {
            walk(&path, uid, gid, done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_entries_go_to_the_workspace_owner_and_links_are_not_followed() {
        let workspace = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        let root = workspace.path();
        std::fs::create_dir_all(root.join(".evalgate/cache")).expect("mkdir");
        std::fs::write(root.join(".evalgate/results.json"), "{}").expect("write");
        std::fs::write(outside.path().join("secret"), "x").expect("write");
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("link"))
            .expect("symlink");
        let runs_as_root = nix::unistd::geteuid().is_root();
        if runs_as_root {
            std::os::unix::fs::chown(root, Some(1001), Some(1001)).expect("chown");
        }

        let done = give_back(root);

        if !runs_as_root {
            // Nothing of another user's to give back: our files are already ours.
            assert_eq!(done, GivenBack::default());
            return;
        }
        assert_eq!(done.failed, None);
        // `.evalgate`, `cache`, `results.json` and the link itself.
        assert_eq!(done.changed, 4);
        for path in [
            ".evalgate",
            ".evalgate/cache",
            ".evalgate/results.json",
            "link",
        ] {
            let meta = std::fs::symlink_metadata(root.join(path)).expect("exists");
            assert_eq!((meta.uid(), meta.gid()), (1001, 1001), "{path}");
        }
        let target = std::fs::metadata(outside.path().join("secret")).expect("exists");
        assert_eq!(target.uid(), 0, "the link's target outside is not touched");
    }

    #[test]
    fn a_workspace_of_roots_own_is_left_alone() {
        let workspace = tempfile::tempdir().expect("tempdir");
        std::fs::write(workspace.path().join("a"), "x").expect("write");
        assert_eq!(give_back(workspace.path()), GivenBack::default());
    }
}
