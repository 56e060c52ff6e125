//! Captured output: each process's stdout and stderr, split into lines, written to
//! `<state_dir>/logs/<name>.log` and broadcast live on the stack's [`LogHub`].
//!
//! Each file line is `2026-11-26T10:00:00.123456Z out | text` (or `err`). Lines are raw bytes
//! in the file; live [`LogLine`]s carry them as lossy UTF-8. A line longer than
//! [`MAX_LINE`] is split. Writes are buffered per read from the pipe (a flood costs one write
//! per 64 KiB, not one per line) and flushed after each read, so a line reaches the file as
//! soon as herald has read it. A file that grows past its size limit is renamed to `<name>.log.1`
//! (replacing the previous one) and started afresh.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::broadcast;

/// Lines longer than this are split into pieces of this size.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// A log file is rotated once it grows past this size.
pub(crate) const MAX_FILE: u64 = 10 * 1024 * 1024;

/// How many live lines a slow subscriber may fall behind before it misses some.
const HUB_CAPACITY: usize = 4096;

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Out,
    /// Standard error.
    Err,
}

impl Stream {
    /// `out` or `err`, as log files write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Out => "out",
            Stream::Err => "err",
        }
    }
}

/// One captured line of one component's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When herald read it.
    pub time: SystemTime,
    /// The component that printed it.
    pub component: Arc<str>,
    /// The pipe it came from.
    pub stream: Stream,
    /// The line without its newline, as lossy UTF-8.
    pub text: String,
}

/// The live feed of every component's output lines.
///
/// Subscribers get lines from the moment they subscribe. A subscriber that falls more than a
/// few thousand lines behind misses the oldest (the receiver reports how many); the log files
/// always have everything.
#[derive(Debug, Clone)]
pub struct LogHub {
    tx: broadcast::Sender<LogLine>,
}

impl Default for LogHub {
    fn default() -> Self {
        Self::new()
    }
}

impl LogHub {
    /// A hub with no subscribers.
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(HUB_CAPACITY).0,
        }
    }

    /// Receives every line captured from now on, of every component.
    pub fn subscribe(&self) -> broadcast::Receiver<LogLine> {
        self.tx.subscribe()
    }

    /// Whether anyone listens (so lines are only copied when someone does).
    pub(crate) fn listened(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    pub(crate) fn publish(&self, line: LogLine) {
        let _ = self.tx.send(line);
    }
}

/// Formats one file line: `<time> <stream> | <text>\n`, with `time` already formatted.
pub(crate) fn format_line(out: &mut Vec<u8>, time: &str, stream: Stream, text: &[u8]) {
    out.extend_from_slice(time.as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(b" | ");
    out.extend_from_slice(text);
    out.push(b'\n');
}

/// RFC 3339 UTC with microseconds, as log and event lines carry it.
pub(crate) fn format_time(time: SystemTime) -> String {
    humantime::format_rfc3339_micros(time).to_string()
}

/// Splits a byte stream into lines, keeping a partial line until its end arrives.
#[derive(Debug)]
pub(crate) struct LineSplitter {
    pending: Vec<u8>,
    max: usize,
}

impl LineSplitter {
    /// A splitter that cuts lines longer than `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        assert!(max > 0);
        Self {
            pending: Vec::new(),
            max,
        }
    }

    /// Feeds a chunk; `emit` is called with each complete line (without its newline).
    pub(crate) fn feed(&mut self, mut chunk: &[u8], emit: &mut impl FnMut(&[u8])) {
        while !chunk.is_empty() {
            let room = self.max - self.pending.len();
            // A newline right after `room` bytes still ends the line in time.
            let window = &chunk[..chunk.len().min(room + 1)];
            if let Some(i) = window.iter().position(|&b| b == b'\n') {
                if self.pending.is_empty() {
                    emit(&window[..i]);
                } else {
                    self.pending.extend_from_slice(&window[..i]);
                    emit(&self.pending);
                    self.pending.clear();
                }
                chunk = &chunk[i + 1..];
            } else {
                let take = chunk.len().min(room);
                self.pending.extend_from_slice(&chunk[..take]);
                chunk = &chunk[take..];
                if self.pending.len() >= self.max {
                    emit(&self.pending);
                    self.pending.clear();
                }
            }
        }
    }

    /// Emits the final line if it had no newline.
    pub(crate) fn finish(&mut self, emit: &mut impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit(&self.pending);
            self.pending.clear();
        }
    }
}

/// A component's log file: buffered, flushed on demand, rotated by size.
#[derive(Debug)]
pub(crate) struct LogFile {
    path: PathBuf,
    file: Option<File>,
    buf: Vec<u8>,
    size: u64,
    max: u64,
    failed: bool,
}

impl LogFile {
    /// Opens (appending to) `path`, rotating it past `max` bytes. If the file cannot be
    /// opened, lines are still broadcast and the problem is logged once.
    pub(crate) fn open(path: PathBuf, max: u64) -> Self {
        let mut log = Self {
            path,
            file: None,
            buf: Vec::with_capacity(64 * 1024),
            size: 0,
            max,
            failed: false,
        };
        log.reopen();
        log
    }

    fn reopen(&mut self) {
        match OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            Ok(file) => {
                self.size = file.metadata().map(|m| m.len()).unwrap_or(0);
                self.file = Some(file);
            }
            Err(e) => self.fail("open", e),
        }
    }

    fn fail(&mut self, what: &str, e: io::Error) {
        if !self.failed {
            tracing::warn!(path = %self.path.display(), "cannot {what} the log file: {e}");
            self.failed = true;
        }
        self.file = None;
    }

    /// Appends one line to the buffer, writing the buffer out when it is full.
    pub(crate) fn push(&mut self, time: &str, stream: Stream, text: &[u8]) {
        format_line(&mut self.buf, time, stream, text);
        if self.buf.len() >= 64 * 1024 {
            self.flush();
        }
    }

    /// Writes the buffered lines to the file, rotating it first if it would grow too big.
    pub(crate) fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        if self.size > 0 && self.size + self.buf.len() as u64 > self.max {
            self.rotate();
        }
        if let Some(file) = self.file.as_mut() {
            match file.write_all(&self.buf) {
                Ok(()) => self.size += self.buf.len() as u64,
                Err(e) => self.fail("write", e),
            }
        }
        self.buf.clear();
    }

    fn rotate(&mut self) {
        self.file = None;
        let old = rotated(&self.path);
        if let Err(e) = std::fs::rename(&self.path, &old) {
            tracing::warn!(path = %self.path.display(), "cannot rotate the log file: {e}");
        }
        self.reopen();
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        self.flush();
    }
}

/// `<name>.log.1` for `<name>.log`.
pub(crate) fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn split(chunks: &[&[u8]], max: usize) -> Vec<String> {
        let mut lines = Vec::new();
        let mut splitter = LineSplitter::new(max);
        let mut emit = |l: &[u8]| lines.push(String::from_utf8_lossy(l).into_owned());
        for chunk in chunks {
            splitter.feed(chunk, &mut emit);
        }
        splitter.finish(&mut emit);
        lines
    }

    #[test]
    fn lines_are_split_across_chunks_and_the_last_is_kept() {
        let lines = split(&[b"one\ntw", b"o\n\nthr", b"ee"], 1024);
        assert_eq!(lines, ["one", "two", "", "three"]);
    }

    #[test]
    fn absurdly_long_lines_are_cut() {
        assert_eq!(split(&[b"abcdefg\nhi\n"], 3), ["abc", "def", "g", "hi"]);
        assert_eq!(split(&[b"ab", b"cd", b"e\n"], 3), ["abc", "de"]);
        // A newline right after a full line ends it, without an empty line after.
        assert_eq!(split(&[b"abc\nd\n"], 3), ["abc", "d"]);
    }

    #[test]
    fn file_lines_carry_time_stream_and_raw_text() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_micros(1_795_000_000_123_456);
        let mut out = Vec::new();
        format_line(&mut out, &format_time(time), Stream::Err, b"bad \xff byte");
        assert_eq!(out, b"2026-11-18T11:06:40.123456Z err | bad \xff byte\n");
    }

    #[test]
    fn a_full_file_is_rotated_keeping_one_old_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut log = LogFile::open(path.clone(), 100);
        for i in 0..10 {
            log.push("T", Stream::Out, format!("line {i} .........").as_bytes());
            log.flush();
        }
        drop(log);
        let current = std::fs::read_to_string(&path).unwrap();
        let old = std::fs::read_to_string(rotated(&path)).unwrap();
        assert!(
            current.len() <= 100 && old.len() <= 100,
            "{current:?} {old:?}"
        );
        assert!(current.ends_with("line 9 .........\n"), "{current:?}");
        assert!(old.contains("line 5"), "{old:?}");
    }
}
