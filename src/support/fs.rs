//! Files that other programs read while evalgate runs (results, reports, the job summary's
//! sources) are written atomically: a reader, or a run killed half way, never sees half a file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes `path` through `write`, into a temporary file in the same folder that is renamed over
/// `path` once complete. Missing parent folders are created.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = temporary_path(path);
    let result = (|| {
        let mut writer = BufWriter::new(File::create(&tmp)?);
        write(&mut writer)?;
        writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// [`write_atomic`] for text already in memory.
pub fn write_text_atomic(path: &Path, text: &str) -> io::Result<()> {
    write_atomic(path, |w| w.write_all(text.as_bytes()))
}

/// `dir/.name.PID.tmp`: in the same folder (so the rename stays on one file system), hidden, and
/// distinct per process so two evalgate runs writing the same file do not share a temporary.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/out.txt");
        write_text_atomic(&path, "one").expect("write");
        write_text_atomic(&path, "two").expect("overwrite");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "two");
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("parent"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec!["out.txt"]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.txt");
        write_text_atomic(&path, "old").expect("write");
        let result = write_atomic(&path, |_| Err(io::Error::other("disk full")));
        assert_eq!(
            result.map_err(|e| e.to_string()),
            Err("disk full".to_owned())
        );
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "old");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    }
}
