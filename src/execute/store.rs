//! Append-only response stores: the cache (across runs) and the journal (within one run).
//!
//! Both are JSON-lines files of [`Entry`] keyed by the request hash. An entry is appended with a
//! single `write` the moment a response arrives, before it is graded, so a run killed at any point
//! (Ctrl-C, `kill -9`, a runner timeout) loses no paid response: the next run reads them back.
//! Opening a store scans it once and keeps only an index in memory, 16 bytes per entry (64 bits of
//! its key and where its line starts), not the responses nor even their keys: a read checks that
//! the line it finds holds the key asked for. A torn last line (a crash mid-write) is skipped with
//! a warning.
//!
//! An entry appended by this process is indexed too when it may be asked for again
//! ([`Store::put`]: a check's call, whose request the repeats of a deterministic model send
//! again), and not when it is asked for once, before it is made ([`Store::append`]: a graded
//! call, whose key holds its repeat), so that a run of a million calls does not grow its index by
//! a million entries.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, Write};
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
    index: std::sync::RwLock<Index>,
    /// Serialises this process's appends so each knows where its line starts; holds whether the
    /// last append failed, when part of its line may have been written.
    appending: std::sync::Mutex<bool>,
}

/// Where each key's line starts, by the key's [`slot`]. Two keys of one slot (one chance in
/// 2^64 for a pair) only cost a miss: a read checks the key of the line it finds.
#[derive(Debug, Default)]
struct Index {
    /// The lines found when the store was opened, sorted by slot, the last line of a slot only.
    opened: Vec<(u64, u64)>,
    /// Entries [`Store::put`] since, whose slot was not among those.
    added: HashMap<u64, u64>,
}

impl Index {
    fn get(&self, slot: u64) -> Option<u64> {
        match self.opened.binary_search_by_key(&slot, |&(s, _)| s) {
            Ok(i) => Some(self.opened[i].1),
            Err(_) => self.added.get(&slot).copied(),
        }
    }

    fn insert(&mut self, slot: u64, offset: u64) {
        match self.opened.binary_search_by_key(&slot, |&(s, _)| s) {
            Ok(i) => self.opened[i].1 = offset,
            Err(_) => {
                self.added.insert(slot, offset);
            }
        }
    }

    fn len(&self) -> usize {
        self.opened.len() + self.added.len()
    }
}

/// 64 bits of a key: keys are hex SHA-256 digests, whose first 16 digits are as good as any hash
/// (any other string is hashed).
fn slot(key: &str) -> u64 {
    key.get(..16)
        .filter(|head| head.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|head| u64::from_str_radix(head, 16).ok())
        .unwrap_or_else(|| {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::hash::DefaultHasher::new();
            key.hash(&mut hasher);
            hasher.finish()
        })
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
            None => Index::default(),
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

    /// Entries indexed: those found at open and those [`Store::put`] since.
    pub fn len(&self) -> usize {
        self.index.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry stored under `key`, by an earlier run or (with [`Store::put`]) by this one.
    pub fn get(&self, key: &str) -> Option<Entry> {
        let offset = self
            .index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(slot(key))?;
        let line = read_line_at(self.read.as_ref()?, offset)?;
        // Another process appending at the same moment could shift where a line landed, and
        // another key can share the slot: an entry is only trusted when it is the one asked for.
        let entry: Entry = serde_json::from_slice(&line).ok()?;
        (entry.key == key).then_some(entry)
    }

    /// Whether the index has a line for `key`, without reading it: [`Store::get`] may still
    /// find it torn, or another key's.
    pub fn contains(&self, key: &str) -> bool {
        self.index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(slot(key))
            .is_some()
    }

    /// Appends an entry with one write and indexes it, for an answer this process may ask for
    /// again.
    pub fn put(&self, entry: &Entry) -> Result<(), StoreError> {
        self.write(entry, true)
    }

    /// Appends an entry with one write, without indexing it: for an answer this process will
    /// not ask for again (a later process finds it when it opens the store).
    pub fn append(&self, entry: &Entry) -> Result<(), StoreError> {
        self.write(entry, false)
    }

    fn write(&self, entry: &Entry, indexed: bool) -> Result<(), StoreError> {
        let err = |source| StoreError {
            path: self.path.clone(),
            source,
        };
        let Some(append) = &self.append else {
            return Err(err(io::Error::other(
                "opened read-only: replaying (--offline) stores nothing",
            )));
        };
        // A separator first, used only after a failed write (see below), then the line.
        let mut line = Vec::with_capacity(512);
        line.push(b'\n');
        serde_json::to_writer(&mut line, entry).map_err(|e| err(e.into()))?;
        line.push(b'\n');
        let mut failed_before = self.appending.lock().unwrap_or_else(|e| e.into_inner());
        // A failed write (a full disk) may have left part of a line: start on a line of its own.
        let text = if *failed_before {
            &line[..]
        } else {
            &line[1..]
        };
        let written = (&*append).write_all(text);
        *failed_before = written.is_err();
        written.map_err(err)?;
        if indexed {
            // After an `O_APPEND` write, the file position is the end of what it wrote, wherever
            // other writers' lines landed: no `stat` needed to know where this line starts.
            let end = (&*append).stream_position().map_err(err)?;
            let start = end.saturating_sub((line.len() - 1) as u64);
            self.index
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(slot(&entry.key), start);
        }
        Ok(())
    }
}

/// The line of `file` that starts at `offset`, without its newline; `None` when it has none (a
/// torn last line) or cannot be read.
fn read_line_at(file: &File, offset: u64) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 2048];
    let mut filled = 0;
    loop {
        let n = match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        };
        if let Some(end) = buf[filled..filled + n].iter().position(|&b| b == b'\n') {
            buf.truncate(filled + end);
            return Some(buf);
        }
        filled += n;
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
    }
}

/// Indexes the lines of `read`, the store at `path`. A torn last line is skipped, and when the
/// store is open for appending (`append`), the next entry is made to start on a line of its own.
///
/// Only a regular file is read: anything else (a symlink to `/dev/full` or `/dev/null`, a pipe)
/// holds no entries, and reading some devices never ends.
fn index(path: &Path, read: &File, append: Option<&mut File>) -> Result<Index, StoreError> {
    let err = |source| StoreError {
        path: path.to_owned(),
        source,
    };
    let mut opened = Vec::new();
    if !read.metadata().map_err(err)?.is_file() {
        return Ok(Index::default());
    }
    let mut offset = 0u64;
    let mut reader = BufReader::with_capacity(1 << 16, read);
    let mut line = Vec::new();
    let mut torn = 0usize;
    let mut ends_torn = false;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(err)?;
        if n == 0 {
            break;
        }
        if line == b"\n" {
            // Left by a write that failed half way: the next entry starts after it.
        } else if line.ends_with(b"\n") {
            match key_of(&line) {
                Some(key) => opened.push((slot(&key), offset)),
                None => torn += 1,
            }
        } else {
            torn += 1;
            ends_torn = true;
        }
        offset += n as u64;
    }
    // By slot, and of the lines of one slot the last, as a later line replaces an earlier one.
    opened.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    opened.dedup_by_key(|&mut (slot, _)| slot);
    opened.shrink_to_fit();
    if ends_torn && let Some(append) = append {
        // The last write was cut short; start the next entry on a line of its own.
        append.write_all(b"\n").map_err(err)?;
    }
    if torn > 0 {
        tracing::warn!(path = %path.display(), lines = torn, "skipped unreadable lines in response store");
    }
    Ok(Index {
        opened,
        added: HashMap::new(),
    })
}

/// The key of a stored line, without parsing the whole entry into memory.
fn key_of(line: &[u8]) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct KeyOnly<'a> {
        #[serde(borrow)]
        key: Cow<'a, str>,
    }
    // Entries are written with `key` first; this still reads the rest of the line, so a line that
    // is not whole JSON is not indexed (reading it back on `get` checks the rest).
    serde_json::from_slice::<KeyOnly>(line).ok().map(|k| k.key)
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

    /// A graded call's answer is appended without growing the index (it is not asked for
    /// again in this process), a check's is indexed; both are found once the store is opened
    /// again, and of two lines of one key, the later one.
    #[test]
    fn appended_entries_are_found_after_reopening_and_the_last_line_of_a_key_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        let store = Store::open(&path).expect("open");
        store.append(&entry("graded", "first")).expect("append");
        assert_eq!(store.get("graded"), None, "not indexed");
        assert!(store.is_empty());
        store.put(&entry("judge", "yes")).expect("put");
        assert_eq!(store.get("judge"), Some(entry("judge", "yes")));
        store.append(&entry("graded", "second")).expect("append");
        drop(store);
        let store = Store::open(&path).expect("reopen");
        assert_eq!(store.len(), 2);
        assert_eq!(store.get("graded"), Some(entry("graded", "second")));
        assert_eq!(store.get("judge"), Some(entry("judge", "yes")));
        // A put of a key found at open replaces it in place.
        store.put(&entry("judge", "no")).expect("put");
        assert_eq!(store.len(), 2);
        assert_eq!(store.get("judge"), Some(entry("judge", "no")));
    }

    /// Keys as a run writes them (hex SHA-256), many of them, and answers longer than one read.
    #[test]
    fn many_hex_keys_and_long_lines_are_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cache.jsonl");
        let key = |i: u32| crate::support::fingerprint::hash_canonical(&i);
        let store = Store::open(&path).expect("open");
        for i in 0..500 {
            let output = "x".repeat((i as usize % 7) * 1500);
            store.append(&entry(&key(i), &output)).expect("append");
        }
        drop(store);
        let store = Store::open_read_only(&path).expect("reopen");
        assert_eq!(store.len(), 500);
        for i in 0..500 {
            let found = store.get(&key(i)).expect("found");
            assert_eq!(found.completion.output.len(), (i as usize % 7) * 1500);
        }
        assert_eq!(store.get(&key(500)), None);
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
