//! The journal's health. A response that cannot be journaled could be paid for again by a resumed
//! run, so once the journal cannot be written (a full disk, a folder gone read-only) the run starts
//! no new model call: calls already in flight finish and their answers are kept in memory (and in
//! the cache, if that can still be written), and the run ends with [`JournalWriteError`].

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::store::{Entry, Store, StoreError};

/// The journal could not be written: from then on, no new model call was started.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot write the journal {}: {source}; evalgate stopped starting model calls",
    .path.display()
)]
pub struct JournalWriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
    /// Answers that arrived without being journaled: the first that failed and those of the calls
    /// already in flight. A re-run may pay for them again.
    pub unsaved: usize,
}

/// Whether the journal still takes entries.
#[derive(Debug, Default)]
pub(super) struct JournalHealth {
    failure: OnceLock<StoreError>,
    unsaved: AtomicUsize,
}

impl JournalHealth {
    /// Appends `entry` to `journal`, indexed when this run may ask for it again (see
    /// [`Store::put`]). The first failure stops new calls (see [`Self::refusal`]).
    pub fn save(&self, journal: &Store, entry: &Entry, asked_again: bool) {
        let saved = if asked_again {
            journal.put(entry)
        } else {
            journal.append(entry)
        };
        let Err(err) = saved else {
            return;
        };
        self.unsaved.fetch_add(1, Ordering::Relaxed);
        let message = err.source.to_string();
        if self.failure.set(err).is_ok() {
            tracing::warn!(
                path = %journal.path().display(),
                "cannot write the journal: {message}; no new model call will be started, calls in flight finish"
            );
        }
    }

    /// Records that another of the run's records could not be written (the batch registry,
    /// whose ids keep a batch from being submitted twice): from then on, as for the journal, no
    /// new call starts.
    pub fn failed(&self, err: StoreError) {
        let message = err.source.to_string();
        let path = err.path.display().to_string();
        if self.failure.set(err).is_ok() {
            tracing::warn!(
                path = %path,
                "cannot write the run's records: {message}; no new model call will be started"
            );
        }
    }

    /// Why a new call may not start: `Some` once the journal has failed.
    pub fn refusal(&self) -> Option<String> {
        self.failure.get().map(|err| {
            format!(
                "not called: the run stopped starting model calls when its journal {} could not be written ({})",
                err.path.display(),
                err.source
            )
        })
    }

    /// The failure, if the journal failed.
    pub fn error(&self) -> Option<JournalWriteError> {
        self.failure.get().map(|err| JournalWriteError {
            path: err.path.clone(),
            // `io::Error` is not `Clone`: keep its kind and text (which names the OS error).
            source: std::io::Error::new(err.source.kind(), err.source.to_string()),
            unsaved: self.unsaved.load(Ordering::Relaxed),
        })
    }
}
