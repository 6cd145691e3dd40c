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

/// Why a text file could not be read.
#[derive(Debug)]
pub enum TextError {
    Io(io::Error),
    /// The first byte that is not UTF-8, 1-based, columns counted in characters.
    NotUtf8 {
        line: usize,
        column: usize,
        byte: u8,
    },
}

impl std::fmt::Display for TextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextError::Io(e) => e.fmt(f),
            TextError::NotUtf8 { line, column, byte } => write!(
                f,
                "not UTF-8 text: byte 0x{byte:02X} at line {line}, column {column} is not valid UTF-8"
            ),
        }
    }
}

/// What to do about a [`TextError::NotUtf8`].
pub const NOT_UTF8_HELP: &str =
    "save the file as UTF-8 (most editors offer it under \"Save with encoding\")";

/// A text file's contents. A leading UTF-8 byte-order mark (which some Windows editors write)
/// is dropped; bytes that are not UTF-8 are an error naming the line and column of the first.
pub fn read_text(path: &Path) -> Result<String, TextError> {
    let bytes = std::fs::read(path).map_err(TextError::Io)?;
    text_from_bytes(bytes)
}

fn text_from_bytes(mut bytes: Vec<u8>) -> Result<String, TextError> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        // Everything before `at` is valid UTF-8.
        let before = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        TextError::NotUtf8 {
            line,
            column: before[line_start..].chars().count() + 1,
            byte: bytes[at],
        }
    })
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
    fn text_drops_a_byte_order_mark_and_places_bad_bytes() {
        assert_eq!(
            text_from_bytes(b"\xEF\xBB\xBF{\"a\": 1}".to_vec()).expect("text"),
            "{\"a\": 1}"
        );
        match text_from_bytes(b"ok\nca\xC3\xA9 \xFF!".to_vec()) {
            Err(TextError::NotUtf8 { line, column, byte }) => {
                assert_eq!((line, column, byte), (2, 5, 0xFF));
            }
            other => panic!("expected NotUtf8, got {other:?}"),
        }
    }

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
