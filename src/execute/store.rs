//! Append-only response stores: the cache (across runs) and the journal (within one run).
//!
//! Both are JSON-lines files of [`Entry`] keyed by the request hash. An entry is appended with a
//! single `write` the moment a response arrives, before it is graded, so a run killed at any point
//! (Ctrl-C, `kill -9`, a runner timeout) loses no paid response: the next run reads them back.
//! Opening a store scans it once and keeps only an index of offsets in memory, so a large cache
//! costs a few bytes per entry, not the responses themselves. A torn last line (a crash mid-write)
//! is skipped with a warning.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::provider::Completion;

/// One stored response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub key: String,
    pub completion: Completion,
    pub latency_ms: u64,
    pub attempts: u32,
    /// The provider batch that answered it (see `execute::batch`): priced at the batch rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
}

#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    /// Opened with `O_APPEND`: concurrent writers (tasks, or shards on one machine) never
    /// interleave inside a line. `None` for a store opened read-only.
    append: Option<File>,
    /// `None` when a read-only store's file does not exist: it holds nothing.
    read: Option<File>,
    /// Where each key's line is: filled at open and by every `put`, so an answer stored earlier
    /// in the same run is found too (repeats that send the same judge request pay once and grade
    /// alike on the first run and on a replay).
    index: std::sync::RwLock<HashMap<String, (u64, usize)>>,
    /// Serialises this process's appends so each knows where its line starts; holds whether the
    /// last append failed, when part of its line may have been written.
    appending: std::sync::Mutex<bool>,
}

#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct StoreError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and indexes what it holds.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let err = |source| StoreError {
            path: path.to_owned(),
            source,
        };
        // A parent that exists but is a file is left to `open`, whose error (ENOTDIR) says so
        // better than `create_dir_all`'s (EEXIST).
        if let Some(parent) = path.parent()
            && let Err(e) = std::fs::create_dir_all(parent)
            && e.kind() != io::ErrorKind::AlreadyExists
        {
            return Err(err(e));
        }
        let mut append = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(err)?;
        let read = File::open(path).map_err(err)?;
        let index = index(path, &read, Some(&mut append))?;
        Ok(Store {
            path: path.to_owned(),
            append: Some(append),
            read: Some(read),
            index: std::sync::RwLock::new(index),
            appending: std::sync::Mutex::new(false),
        })
    }

    /// Opens the store at `path` for reading only, creating nothing: a file that does not exist
    /// (or cannot, under a path that is not a folder) is an empty store. For replaying
    /// (`--offline`), which must work in a read-only folder.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let read = match File::open(path) {
            Ok(file) => Some(file),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                None
            }
            Err(source) => {
                return Err(StoreError {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let index = match &read {
            Some(file) => index(path, file, None)?,
            None => HashMap::new(),
        };
        Ok(Store {
            path: path.to_owned(),
            append: None,
            read,
            index: std::sync::RwLock::new(index),
            appending: std::sync::Mutex::new(false),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
        self.index.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// The entry stored under `key`, by this run or an earlier one.
    pub fn get(&self, key: &str) -> Option<Entry> {
        let (offset, len) = *self
            .index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)?;
        let mut buf = vec![0u8; len];
        self.read.as_ref()?.read_exact_at(&mut buf, offset).ok()?;
        // Another process appending at the same moment could shift where a line landed: an entry
        // is only trusted when it is the one asked for.
        let entry: Entry = serde_json::from_slice(&buf).ok()?;
        (entry.key == key).then_some(entry)
    }

    /// Appends an entry with one write.
    pub fn put(&self, entry: &Entry) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(entry).map_err(|e| StoreError {
            path: self.path.clone(),
            source: e.into(),
        })?;
        line.push(b'\n');
        let err = |source| StoreError {
            path: self.path.clone(),
            source,
        };
        let Some(append) = &self.append else {
            return Err(err(io::Error::other(
                "opened read-only: replaying (--offline) stores nothing",
            )));
        };
        let mut failed_before = self.appending.lock().unwrap_or_else(|e| e.into_inner());
        // A failed write (a full disk) may have left part of a line: start on a line of its own.
        let separator: &[u8] = if *failed_before { b"\n" } else { b"" };
        let written = append.metadata().and_then(|m| {
            (&*append).write_all(&[separator, &line].concat())?;
            Ok(m.len() + separator.len() as u64)
        });
        *failed_before = written.is_err();
        let offset = written.map_err(err)?;
        self.index
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(entry.key.clone(), (offset, line.len()));
        Ok(())
    }
}

/// Indexes the lines of `read`, the store at `path`. A torn last line is skipped, and when the
/// store is open for appending (`append`), the next entry is made to start on a line of its own.
///
/// Only a regular file is read: anything else (a symlink to `/dev/full` or `/dev/null`, a pipe)
/// holds no entries, and reading some devices never ends.
fn index(
    path: &Path,
    read: &File,
    append: Option<&mut File>,
) -> Result<HashMap<String, (u64, usize)>, StoreError> {
    let err = |source| StoreError {
        path: path.to_owned(),
        source,
    };
    let mut index = HashMap::new();
    if !read.metadata().map_err(err)?.is_file() {
        return Ok(index);
    }
    let mut offset = 0u64;
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    let mut torn = 0usize;
    let mut ends_torn = false;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(err)?;
        if n == 0 {
            break;
        }
        if line == "\n" {
            // Left by a write that failed half way: the next entry starts after it.
        } else if line.ends_with('\n') {
            match key_of(&line) {
                Some(key) => {
                    index.insert(key, (offset, n));
                }
                None => torn += 1,
            }
        } else {
            torn += 1;
            ends_torn = true;
        }
        offset += n as u64;
    }
    if ends_torn && let Some(append) = append {
        // The last write was cut short; start the next entry on a line of its own.
        append.write_all(b"\n").map_err(err)?;
    }
    if torn > 0 {
        tracing::warn!(path = %path.display(), lines = torn, "skipped unreadable lines in response store");
    }
    Ok(index)
}

/// The key of a stored line, without parsing the whole entry.
fn key_of(line: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct KeyOnly {
        key: String,
    }
    // Entries are written with `key` first; a full parse would also validate the rest, but
    // reading it back on `get` does that.
    serde_json::from_str::<KeyOnly>(line).ok().map(|k| k.key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Usage;

    fn entry(key: &str, output: &str) -> Entry {
        Entry {
            key: key.into(),
            completion: Completion {
                tool_calls: Vec::new(),
                output: output.into(),
                usage: Usage {
                    input_tokens: 3,
                    output_tokens: 2,
                    cached_input_tokens: 0,
                },
                finish_reason: Some("stop".into()),
                limits: Default::default(),
            },
            latency_ms: 12,
            attempts: 1,
            batch: None,
        }
    }

    #[test]
    fn entries_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/cache.jsonl");
        let store = Store::open(&path).expect("open");
        store.put(&entry("a", "first")).expect("put");
        store
            .put(&entry("b", "second \"quoted\"\nline"))
            .expect("put");
        drop(store);
        let store = Store::open(&path).expect("reopen");
        assert_eq!(store.len(), 2);
        assert_eq!(store.get("b"), Some(entry("b", "second \"quoted\"\nline")));
        assert_eq!(
            store.get("a").map(|e| e.completion.output),
            Some("first".into())
        );
        assert_eq!(store.get("c"), None);
    }

    /// A cached or journaled answer replays its tool calls, so a re-run grades them the same.
    #[test]
    fn tool_calls_are_stored_with_the_answer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cache.jsonl");
        let mut e = entry("t", "");
        e.completion.tool_calls = vec![crate::provider::ToolCall {
            id: Some("toolu_1".into()),
            name: "get_weather".into(),
            arguments: serde_json::json!({"city": "Paris"}),
            raw_arguments: None,
        }];
        Store::open(&path).expect("open").put(&e).expect("put");
        let reopened = Store::open_read_only(&path).expect("reopen");
        assert_eq!(reopened.get("t"), Some(e));
    }

    #[test]
    fn an_entry_put_in_this_session_is_found_and_another_writer_cannot_confuse_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cache.jsonl");
        let store = Store::open(&path).expect("open");
        store.put(&entry("a", "first")).expect("put");
        assert_eq!(store.get("a"), Some(entry("a", "first")));
        // A second process appends to the same file: its line is not in this index, and this
        // store's own later entries are still found where they landed.
        let other = Store::open(&path).expect("open");
        other.put(&entry("x", "theirs")).expect("put");
        store.put(&entry("b", "second")).expect("put");
        assert_eq!(store.get("b"), Some(entry("b", "second")));
        assert_eq!(store.get("x"), None);
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_the_next_write_starts_clean() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cache.jsonl");
        let good = serde_json::to_string(&entry("a", "ok")).expect("json");
        std::fs::write(&path, format!("{good}\n{{\"key\":\"b\",\"compl")).expect("write");
        let store = Store::open(&path).expect("open");
        assert_eq!(store.len(), 1);
        store.put(&entry("c", "after")).expect("put");
        drop(store);
        let store = Store::open(&path).expect("reopen");
        assert_eq!(store.len(), 2);
        assert_eq!(
            store.get("c").map(|e| e.completion.output),
            Some("after".into())
        );
    }

    #[test]
    fn a_device_holds_nothing_and_a_failed_write_names_the_file_and_the_os_error() {
        // Reading /dev/full never ends; writing to it fails as a full disk does (ENOSPC).
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        std::os::unix::fs::symlink("/dev/full", &path).expect("symlink");
        let store = Store::open(&path).expect("open");
        assert!(store.is_empty());
        let err = store.put(&entry("a", "lost")).expect_err("disk full");
        assert_eq!(err.path, path);
        assert_eq!(err.source.raw_os_error(), Some(28));
        assert!(
            err.to_string()
                .starts_with(&format!("{}: No space left on device", path.display())),
            "{err}"
        );
        assert_eq!(store.get("a"), None);
    }

    #[test]
    fn a_read_only_store_reads_and_creates_or_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Missing, even its folder: an empty store, and nothing is created.
        let missing = dir.path().join("no/such/cache.jsonl");
        let store = Store::open_read_only(&missing).expect("open");
        assert!(store.is_empty());
        assert!(!dir.path().join("no").exists());
        // Under a file, where nothing can exist (ENOTDIR): empty too.
        std::fs::write(dir.path().join("file"), "").expect("write");
        assert!(
            Store::open_read_only(&dir.path().join("file/cache.jsonl"))
                .expect("open")
                .is_empty()
        );

        // A store whose last line was cut short: read as it is, not repaired.
        let path = dir.path().join("cache.jsonl");
        let good = serde_json::to_string(&entry("a", "ok")).expect("json");
        let text = format!("{good}\n{{\"key\":\"b\",\"compl");
        std::fs::write(&path, &text).expect("write");
        let store = Store::open_read_only(&path).expect("open");
        assert_eq!(store.get("a"), Some(entry("a", "ok")));
        let err = store.put(&entry("c", "new")).expect_err("read-only");
        assert!(err.to_string().contains("opened read-only"), "{err}");
        drop(store);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
    }
}
