//! A run's calls, wherever they are: in memory, in a results file, or in the spool a run writes
//! them to as they finish. Memory never holds all of a large run: the calls are read one at a
//! time, each time a report or the comparison walks them.
//!
//! ## The results file, one call per line
//!
//! `evalgate` writes a results file as one JSON document (the shape `docs/results-format.md`
//! documents, `results` last) laid out so that it can also be read a line at a time:
//!
//! ```text
//! {"schema_version":1,"run":{…},"summary":{…},…,"results":[
//! {"cell":"answer/mini","case_id":"refund-1",…},
//! {"cell":"answer/mini","case_id":"refund-2",…}
//! ]}
//! ```
//!
//! The first line is everything but the calls; with `]}` appended it is a valid results file
//! without calls. Each further line is one call (with a trailing comma but for the last), in
//! plan order, so the repeats of a case are on adjacent lines. Any other layout of the same
//! document (pretty-printed by an older evalgate, or rewritten by `jq`) is read whole instead.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::CallResult;
use super::file::ResultsFileError;

/// What ends the first line of a results file in the line layout.
pub(crate) const CALLS_OPEN: &str = "\"results\":[";
/// The last line of a results file in the line layout.
pub(crate) const CALLS_CLOSE: &str = "]}";

/// The calls of a run, in plan order (see the module docs).
#[derive(Clone)]
pub struct Calls {
    source: Source,
}

#[derive(Clone)]
enum Source {
    Memory(Vec<CallResult>),
    /// The `len` call lines of a results file in the line layout, from byte `start`. The file
    /// stays open: a results file written over it later (`compare --results` onto its head
    /// file) is another file, and these calls are still read from the one that was checked.
    File {
        file: Arc<File>,
        path: Arc<PathBuf>,
        start: u64,
        len: usize,
    },
    /// A run's spool, and where each call's line is, by plan position.
    Spool {
        spool: Arc<SpoolFile>,
        places: Arc<Places>,
    },
    /// The `len` calls of one cell of other calls, under another cell id.
    Cell {
        of: Arc<Calls>,
        cell: String,
        renamed: String,
        len: usize,
    },
}

impl Default for Calls {
    fn default() -> Self {
        Calls::from(Vec::new())
    }
}

impl From<Vec<CallResult>> for Calls {
    fn from(calls: Vec<CallResult>) -> Self {
        Calls {
            source: Source::Memory(calls),
        }
    }
}

impl std::fmt::Debug for Calls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::Memory(calls) => f.debug_list().entries(calls).finish(),
            Source::File {
                path, start, len, ..
            } => write!(
                f,
                "Calls({len} calls in {} from byte {start})",
                path.display()
            ),
            Source::Spool { places, .. } => {
                write!(f, "Calls({} calls in the run's spool)", places.count)
            }
            Source::Cell { of, cell, len, .. } => {
                write!(f, "Calls({len} calls of {cell} in {of:?})")
            }
        }
    }
}

/// Two sets of calls are equal when they hold equal calls in the same order, wherever they are.
impl PartialEq for Calls {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.iter().zip(other.iter()).all(|pair| match pair {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            })
    }
}

impl serde::Serialize for Calls {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for call in self.iter() {
            seq.serialize_element(call.map_err(S::Error::custom)?.as_ref())?;
        }
        seq.end()
    }
}

impl<'de> serde::Deserialize<'de> for Calls {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<CallResult>::deserialize(deserializer).map(Calls::from)
    }
}

impl Calls {
    /// The call lines of `file` (opened from `path`) from byte `start`: `len` calls, already
    /// checked by [`super::file::read`].
    pub(crate) fn in_file(file: File, path: &Path, start: u64, len: usize) -> Self {
        Calls {
            source: Source::File {
                file: Arc::new(file),
                path: Arc::new(path.to_owned()),
                start,
                len,
            },
        }
    }

    pub fn len(&self) -> usize {
        match &self.source {
            Source::Memory(calls) => calls.len(),
            Source::File { len, .. } => *len,
            Source::Spool { places, .. } => places.count,
            Source::Cell { len, .. } => *len,
        }
    }

    /// The calls of cell `cell`, with `renamed` as their cell id: one cell of a run compared with
    /// another as if they were two runs of one cell. Reads the calls once to count them.
    pub fn of_cell(&self, cell: &str, renamed: &str) -> Result<Calls, ResultsFileError> {
        let mut len = 0;
        for call in self.iter() {
            len += usize::from(call?.cell == cell);
        }
        Ok(Calls {
            source: Source::Cell {
                of: Arc::new(self.clone()),
                cell: cell.to_owned(),
                renamed: renamed.to_owned(),
                len,
            },
        })
    }

    /// Whether the repeats of each case are known to be adjacent (calls on disk, in plan order):
    /// readers may then close a case when the next one starts. Calls in memory may be in any
    /// order.
    pub fn in_order(&self) -> bool {
        match &self.source {
            Source::Memory(_) => false,
            Source::Cell { of, .. } => of.in_order(),
            Source::File { .. } | Source::Spool { .. } => true,
        }
    }

    /// Every call, in order, read as it is reached. A file that can no longer be read ends the
    /// walk with its error.
    pub fn iter(&self) -> Iter<'_> {
        let inner = match &self.source {
            Source::Memory(calls) => Inner::Memory(calls.iter()),
            Source::File {
                file,
                path,
                start,
                len,
            } => Inner::File {
                reader: reader_at(file, *start),
                path,
                line: 1,
                left: *len,
                buf: String::new(),
            },
            Source::Spool { spool, places } => Inner::Spool {
                reader: SpoolReader::new(spool),
                offsets: Box::new(places.offsets()),
            },
            Source::Cell {
                of, cell, renamed, ..
            } => Inner::Cell {
                of: Box::new(of.iter()),
                cell,
                renamed,
            },
        };
        Iter { inner }
    }

    /// Calls `each` with the JSON text of every call in order (no trailing comma or newline):
    /// what the results file writes, copied from where the calls are without parsing them again.
    /// `out` names the file `each` writes to, for its errors.
    pub fn write_json_lines(
        &self,
        out: &Path,
        mut each: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<(), ResultsFileError> {
        let read_error = |path: &Path, source| ResultsFileError::Read {
            path: path.display().to_string(),
            source,
        };
        let write_error = |source| ResultsFileError::Write {
            path: out.display().to_string(),
            source,
        };
        match &self.source {
            Source::Memory(calls) => {
                let mut buf = Vec::new();
                for call in calls {
                    buf.clear();
                    serde_json::to_writer(&mut buf, call).map_err(|e| write_error(e.into()))?;
                    each(&buf).map_err(write_error)?;
                }
            }
            Source::File {
                file,
                path,
                start,
                len,
            } => {
                let mut reader = reader_at(file, *start);
                let mut line = Vec::new();
                for _ in 0..*len {
                    line.clear();
                    reader
                        .read_until(b'\n', &mut line)
                        .map_err(|e| read_error(path, e))?;
                    each(trim_call_line(&line)).map_err(write_error)?;
                }
            }
            Source::Cell { .. } => {
                let mut buf = Vec::new();
                for call in self.iter() {
                    buf.clear();
                    serde_json::to_writer(&mut buf, call?.as_ref())
                        .map_err(|e| write_error(e.into()))?;
                    each(&buf).map_err(write_error)?;
                }
            }
            Source::Spool { spool, places } => {
                let mut reader = SpoolReader::new(spool);
                for offset in places.offsets() {
                    let line = reader
                        .line(offset)
                        .map_err(|e| read_error(&spool.path, e))?;
                    each(trim_call_line(line)).map_err(write_error)?;
                }
            }
        }
        Ok(())
    }

    /// The calls, when they are in memory (read from a file in an older layout, or made by a
    /// test); `None` when they are on disk.
    pub fn in_memory_mut(&mut self) -> Option<&mut Vec<CallResult>> {
        match &mut self.source {
            Source::Memory(calls) => Some(calls),
            _ => None,
        }
    }

    /// The calls as a vector in memory, for tests that edit them.
    #[cfg(test)]
    pub fn to_mut(&mut self) -> &mut Vec<CallResult> {
        if !matches!(self.source, Source::Memory(_)) {
            let calls: Vec<CallResult> = self
                .iter()
                .map(|c| c.expect("calls readable").into_owned())
                .collect();
            self.source = Source::Memory(calls);
        }
        match &mut self.source {
            Source::Memory(calls) => calls,
            _ => unreachable!("made a vector above"),
        }
    }

    /// Every call in memory, for tests.
    #[cfg(test)]
    pub fn to_vec(&self) -> Vec<CallResult> {
        self.iter()
            .map(|c| c.expect("calls readable").into_owned())
            .collect()
    }
}

/// A buffered reader of `file` from byte `start`, with a position of its own: readers of one
/// file never move each other's.
fn reader_at(file: &Arc<File>, start: u64) -> BufReader<FileAt> {
    BufReader::with_capacity(
        64 * 1024,
        FileAt {
            file: Arc::clone(file),
            at: start,
        },
    )
}

/// `Read` over a shared file with `pread`, from a position of its own.
struct FileAt {
    file: Arc<File>,
    at: u64,
}

impl io::Read for FileAt {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.file.read_at(buf, self.at)?;
        self.at += read as u64;
        Ok(read)
    }
}

/// A call line without its line end and trailing comma.
pub(crate) fn trim_call_line(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r' | b' ' | b'\t') {
        end -= 1;
    }
    if end > 0 && line[end - 1] == b',' {
        end -= 1;
    }
    &line[..end]
}

/// The calls of a [`Calls`], in order: each read when it is reached.
pub struct Iter<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    Memory(std::slice::Iter<'a, CallResult>),
    File {
        reader: BufReader<FileAt>,
        path: &'a Path,
        /// The line of the file the next call is on (the header is line 1).
        line: u64,
        left: usize,
        buf: String,
    },
    Spool {
        reader: SpoolReader<'a>,
        offsets: Box<dyn Iterator<Item = u64> + 'a>,
    },
    Cell {
        of: Box<Iter<'a>>,
        cell: &'a str,
        renamed: &'a str,
    },
}

impl<'a> Iterator for Iter<'a> {
    type Item = Result<Cow<'a, CallResult>, ResultsFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Memory(calls) => calls.next().map(|c| Ok(Cow::Borrowed(c))),
            Inner::File {
                reader,
                path,
                line,
                left,
                buf,
            } => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                *line += 1;
                buf.clear();
                let result = match reader.read_line(buf) {
                    Ok(0) => Err(ResultsFileError::Inconsistent {
                        path: path.display().to_string(),
                        problem: format!("it ends at line {line}, before its last call"),
                    }),
                    Ok(_) => parse_call_line(buf.as_bytes(), path, *line).map(Cow::Owned),
                    Err(source) => Err(ResultsFileError::Read {
                        path: path.display().to_string(),
                        source,
                    }),
                };
                if result.is_err() {
                    *left = 0;
                }
                Some(result)
            }
            Inner::Spool { reader, offsets } => {
                let offset = offsets.next()?;
                let path = reader.spool.path.display().to_string();
                let result = match reader.line(offset) {
                    Ok(line) => serde_json::from_slice(trim_call_line(line))
                        .map_err(|source| ResultsFileError::Invalid { path, source }),
                    Err(source) => Err(ResultsFileError::Read { path, source }),
                };
                if result.is_err() {
                    *offsets = Box::new(std::iter::empty());
                }
                Some(result.map(Cow::Owned))
            }
            Inner::Cell { of, cell, renamed } => loop {
                match of.next()? {
                    Ok(call) if call.cell == *cell => {
                        let mut call = call.into_owned();
                        call.cell = (*renamed).to_owned();
                        return Some(Ok(Cow::Owned(call)));
                    }
                    Ok(_) => {}
                    Err(e) => return Some(Err(e)),
                }
            },
        }
    }
}

/// One call line of a results file, parsed; the error names the file and the line.
pub(crate) fn parse_call_line(
    line: &[u8],
    path: &Path,
    number: u64,
) -> Result<CallResult, ResultsFileError> {
    serde_json::from_slice(trim_call_line(line)).map_err(|source| ResultsFileError::Line {
        path: path.display().to_string(),
        line: number,
        source,
    })
}

/// Where each call's line is in the spool, by plan position, in about 4 bytes a call: calls
/// finish close to plan order, so the offsets of each block of [`BLOCK`] positions are kept as
/// 32-bit deltas from the first of them written; the rare one that does not fit is kept apart.
#[derive(Debug, Default)]
struct Places {
    /// Per block: the offset the deltas are relative to; [`NO_BASE`] before the first.
    bases: Vec<u64>,
    /// Per position: the delta, [`FAR`] when kept apart, [`NONE`] when nothing was written.
    deltas: Vec<i32>,
    far: HashMap<usize, u64>,
    /// Positions written.
    count: usize,
}

const BLOCK: usize = 64;
const NO_BASE: u64 = u64::MAX;
const NONE: i32 = i32::MIN;
const FAR: i32 = i32::MIN + 1;

impl Places {
    fn new(positions: usize) -> Self {
        Places {
            bases: vec![NO_BASE; positions.div_ceil(BLOCK)],
            deltas: vec![NONE; positions],
            far: HashMap::new(),
            count: 0,
        }
    }

    fn set(&mut self, index: usize, offset: u64) {
        if index >= self.deltas.len() {
            self.deltas.resize(index + 1, NONE);
            self.bases.resize((index + 1).div_ceil(BLOCK), NO_BASE);
        }
        if self.deltas[index] == NONE {
            self.count += 1;
        }
        let base = &mut self.bases[index / BLOCK];
        if *base == NO_BASE {
            *base = offset;
        }
        let delta = i64::try_from(offset).unwrap_or(i64::MAX) - i64::try_from(*base).unwrap_or(0);
        match i32::try_from(delta) {
            Ok(d) if d > FAR => self.deltas[index] = d,
            _ => {
                self.deltas[index] = FAR;
                self.far.insert(index, offset);
            }
        }
    }

    fn get(&self, index: usize) -> Option<u64> {
        match *self.deltas.get(index)? {
            NONE => None,
            FAR => self.far.get(&index).copied(),
            d => Some(self.bases[index / BLOCK].wrapping_add_signed(i64::from(d))),
        }
    }

    /// The offsets written, in plan order.
    fn offsets(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.deltas.len()).filter_map(|i| self.get(i))
    }
}

/// An unnamed file the calls of a run are written to as they finish, in the order they finish;
/// [`Spool::finish`] puts them back in plan order. The file is removed from its folder as soon
/// as it is created, so nothing is left behind however the run ends.
#[derive(Debug)]
pub struct Spool {
    file: SpoolFile,
    writer: io::BufWriter<File>,
    end: u64,
    /// Where each call is, by its index in the run's plan.
    places: Places,
    buf: Vec<u8>,
}

#[derive(Debug)]
struct SpoolFile {
    file: File,
    /// Where it was created, for error messages.
    path: PathBuf,
}

/// Reads a spool's lines by offset, through a window of the file: the lines of calls that
/// finished one after the other are read with one `pread`.
struct SpoolReader<'a> {
    spool: &'a SpoolFile,
    window: Vec<u8>,
    /// The offset of `window[0]`.
    start: u64,
}

impl<'a> SpoolReader<'a> {
    const WINDOW: usize = 256 * 1024;

    fn new(spool: &'a SpoolFile) -> Self {
        SpoolReader {
            spool,
            window: Vec::new(),
            start: 0,
        }
    }

    /// The line at `offset`, with its newline.
    fn line(&mut self, offset: u64) -> io::Result<&[u8]> {
        let in_window = |r: &Self| {
            let from = usize::try_from(offset.checked_sub(r.start)?).ok()?;
            let rest = r.window.get(from..)?;
            let end = rest.iter().position(|&b| b == b'\n')?;
            Some((from, from + end + 1))
        };
        if let Some((from, to)) = in_window(self) {
            return Ok(&self.window[from..to]);
        }
        // Refill from `offset`, growing the window until it holds the whole line.
        self.start = offset;
        self.window.clear();
        let mut filled = 0;
        loop {
            let want = (filled + Self::WINDOW).max(self.window.len());
            self.window.resize(want, 0);
            let read = self
                .spool
                .file
                .read_at(&mut self.window[filled..], offset + filled as u64)?;
            filled += read;
            if let Some(end) = self.window[filled - read..filled]
                .iter()
                .position(|&b| b == b'\n')
            {
                self.window.truncate(filled);
                let to = filled - read + end + 1;
                return Ok(&self.window[..to]);
            }
            if read == 0 {
                self.window.truncate(filled);
                return Ok(&self.window[..]);
            }
        }
    }
}

impl Spool {
    /// Creates the spool in `dir` for a run of `calls` planned calls.
    pub fn create(dir: &Path, calls: usize) -> io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!(
            ".spool-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        std::fs::remove_file(&path)?;
        let writer = io::BufWriter::with_capacity(256 * 1024, file.try_clone()?);
        Ok(Spool {
            file: SpoolFile { file, path },
            writer,
            end: 0,
            places: Places::new(calls),
            buf: Vec::new(),
        })
    }

    /// Writes the call planned at `index`.
    pub fn push(&mut self, index: usize, call: &CallResult) -> io::Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, call)?;
        self.buf.push(b'\n');
        self.writer.write_all(&self.buf)?;
        self.places.set(index, self.end);
        self.end += self.buf.len() as u64;
        Ok(())
    }

    /// The calls written, in plan order; indexes never written are left out.
    pub fn finish(mut self) -> io::Result<Calls> {
        self.writer.flush()?;
        Ok(Calls {
            source: Source::Spool {
                spool: Arc::new(self.file),
                places: Arc::new(self.places),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_helpers::{call, errored};

    fn calls(n: usize) -> Vec<CallResult> {
        (0..n)
            .map(|i| match i % 3 {
                2 => errored("a/m", &format!("c{i}"), 0, "timeout"),
                _ => call("a/m", &format!("c{i}"), 0, i % 3 == 0),
            })
            .collect()
    }

    /// Calls pushed in the order they finish come back in plan order, however many times they
    /// are read, and are copied to a file as the same JSON a call serialises to.
    #[test]
    fn the_spool_gives_calls_back_in_plan_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let planned = calls(50);
        let mut spool = Spool::create(dir.path(), planned.len()).expect("spool");
        let mut order: Vec<usize> = (0..planned.len()).collect();
        order.reverse();
        order.swap(3, 17);
        for i in order {
            spool.push(i, &planned[i]).expect("push");
        }
        let spooled = spool.finish().expect("finish");
        assert_eq!(spooled.len(), planned.len());
        assert!(spooled.in_order());
        for _ in 0..2 {
            let back: Vec<CallResult> = spooled
                .iter()
                .map(|c| c.expect("read").into_owned())
                .collect();
            assert_eq!(back, planned);
        }
        let mut lines = Vec::new();
        spooled
            .write_json_lines(Path::new("out"), |line| {
                lines.push(String::from_utf8(line.to_vec()).expect("utf8"));
                Ok(())
            })
            .expect("copy");
        let expected: Vec<String> = planned
            .iter()
            .map(|c| serde_json::to_string(c).expect("json"))
            .collect();
        assert_eq!(lines, expected);
        // The spool leaves no file behind in its folder.
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    /// A call whose line is longer than the read window (256 KiB) is read whole.
    #[test]
    fn a_call_longer_than_the_read_window_reads_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut long = call("a/m", "long", 0, true);
        long.output = Some("x".repeat(3 * SpoolReader::WINDOW + 10));
        let planned = vec![call("a/m", "short", 0, true), long];
        let mut spool = Spool::create(dir.path(), 2).expect("spool");
        spool.push(1, &planned[1]).expect("push");
        spool.push(0, &planned[0]).expect("push");
        let back: Vec<CallResult> = spool
            .finish()
            .expect("finish")
            .iter()
            .map(|c| c.expect("read").into_owned())
            .collect();
        assert_eq!(back, planned);
    }

    /// Offsets are kept by position whatever order they come in, however far apart (beyond
    /// what a 32-bit delta from their block's first offset can say), and past the planned count.
    #[test]
    fn places_keep_any_offset_at_its_position() {
        let mut places = Places::new(130);
        let written = [
            (5, 10),
            (0, 5_000_000_000),
            (129, 3),
            (64, 1 << 40),
            (65, (1 << 40) - 7),
            (200, 42),
        ];
        for (index, offset) in written {
            places.set(index, offset);
        }
        for (index, offset) in written {
            assert_eq!(places.get(index), Some(offset), "position {index}");
        }
        assert_eq!((places.get(1), places.get(130)), (None, None));
        assert_eq!(places.count, written.len());
        assert_eq!(
            places.offsets().collect::<Vec<_>>(),
            [5_000_000_000, 10, 1 << 40, (1 << 40) - 7, 3, 42]
        );
    }

    /// One cell of other calls, under another id: what `compare --cells` pairs.
    #[test]
    fn a_cell_of_calls_is_read_relabelled() {
        let mut all = calls(4);
        all.push(call("b/m", "c0", 0, false));
        let all = Calls::from(all);
        let cell = all.of_cell("b/m", "a/m").expect("cell");
        assert_eq!(cell.len(), 1);
        let back: Vec<CallResult> = cell.iter().map(|c| c.expect("read").into_owned()).collect();
        assert_eq!((back[0].cell.as_str(), back[0].passed), ("a/m", false));
    }
}
