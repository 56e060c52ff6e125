//! Captured output: each process's stdout and stderr, split into lines, written to
//! `<state_dir>/logs/<name>.log` and broadcast live on the stack's [`LogHub`].
//!
//! Each file line is `2026-11-26T10:00:00.123456Z out | text` (or `err`). Lines are raw bytes
//! in the file; live [`LogLine`]s carry them as lossy UTF-8. A line longer than
//! [`MAX_LINE`] is split. Writes are buffered per read from the pipe (a flood costs one write
//! per 64 KiB, not one per line) and flushed after each read, so a line reaches the file as
//! soon as herald has read it.
//!
//! Retention is a setting ([`LogRetention`]): a file that would grow past `max_size` is renamed
//! to `<name>.log.1` (the older copies move up to `.2`... `.keep`, the oldest is deleted) and
//! started afresh. Nothing goes silently: a file started by a rotation opens with a header line
//! `-- N earlier lines --`, the count of lines written before it, so a reader knows how many
//! lines are gone: the header of the oldest file still there.
//!
//! Files are private: created 0600, opened without following a symlink (`O_NOFOLLOW`,
//! relative to their folder), and refused unless they are regular files of herald's own user.

use rustix::fs::{FileType, Mode, OFlags};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;
use tokio::sync::broadcast;

/// Lines longer than this are split into pieces of this size.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// The most rotated copies a component may keep.
pub const MAX_KEEP: u32 = 99;

/// How much of a component's output is kept on disk: the current file, rotated once it would
/// grow past `max_size` bytes, and `keep` rotated copies (`<name>.log.1` the newest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRetention {
    /// The size a file may reach before it is rotated, in bytes.
    pub max_size: u64,
    /// How many rotated copies are kept (0: the output before the last rotation is dropped).
    pub keep: u32,
}

impl Default for LogRetention {
    /// 10 MiB per file, 3 rotated copies.
    fn default() -> Self {
        Self {
            max_size: 10 * 1024 * 1024,
            keep: 3,
        }
    }
}

/// The header line that opens a file started by a rotation: how many lines came before it.
pub fn rotation_header(before: u64) -> String {
    format!("-- {before} earlier lines --")
}

/// The count in a [`rotation_header`] line, if `line` is one.
pub fn parse_rotation_header(line: &[u8]) -> Option<u64> {
    let rest = line
        .strip_prefix(b"-- ")?
        .strip_suffix(b" earlier lines --")?;
    std::str::from_utf8(rest).ok()?.parse().ok()
}

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
/// always have everything. The channel is made on the first subscription: its slots are
/// allocated and touched when it is made (a few hundred KiB), which a stack nobody follows
/// never needs, and which would sit on the path to the first spawn.
#[derive(Debug, Clone, Default)]
pub struct LogHub {
    tx: Arc<OnceLock<broadcast::Sender<LogLine>>>,
}

impl LogHub {
    /// A hub with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Receives every line captured from now on, of every component.
    pub fn subscribe(&self) -> broadcast::Receiver<LogLine> {
        self.tx
            .get_or_init(|| broadcast::channel(HUB_CAPACITY).0)
            .subscribe()
    }

    /// Whether anyone listens (so lines are only copied when someone does).
    pub(crate) fn listened(&self) -> bool {
        self.tx.get().is_some_and(|tx| tx.receiver_count() > 0)
    }

    pub(crate) fn publish(&self, line: LogLine) {
        if let Some(tx) = self.tx.get() {
            let _ = tx.send(line);
        }
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

/// Opens `path` with `flags` without following a symlink, relative to its folder (itself not
/// followed if a symlink), and checks that it is a regular file of this user; a file written
/// to gets mode 0600.
pub fn open_private(path: &Path, flags: OFlags) -> io::Result<File> {
    let refused = |why: String| {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing {}: {why}", path.display()),
        )
    };
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(refused("not a file path".into()));
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let dir = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let fd = rustix::fs::openat(
        &dir,
        name,
        flags | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| match e {
        rustix::io::Errno::LOOP => refused("a symlink where a log file belongs".into()),
        e => io::Error::from(e),
    })?;
    let stat = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(refused("not a regular file".into()));
    }
    let me = rustix::process::geteuid().as_raw();
    if stat.st_uid != me {
        return Err(refused(format!("owned by uid {}, not {me}", stat.st_uid)));
    }
    if !flags.contains(OFlags::WRONLY) && !flags.contains(OFlags::RDWR) {
        // Read only: the mode is left as it is.
    } else if stat.st_mode & 0o7777 != 0o600 {
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o600))?;
    }
    rustix::fs::fcntl_setfl(&fd, rustix::fs::fcntl_getfl(&fd)? - OFlags::NONBLOCK)?;
    Ok(File::from(fd))
}

/// The header count of a log file and the lines after it, read in pieces (a file may be as
/// large as its retention allows).
fn count_lines(path: &Path) -> io::Result<(u64, u64)> {
    let mut file = open_private(path, OFlags::RDONLY)?;
    let mut buf = vec![0; 64 * 1024];
    let mut first = Vec::new();
    let mut first_done = false;
    let mut newlines = 0u64;
    loop {
        let read = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..read];
        if !first_done {
            let end = chunk.iter().position(|&b| b == b'\n');
            first.extend_from_slice(&chunk[..end.unwrap_or(chunk.len())]);
            first_done = end.is_some() || first.len() > 64;
        }
        newlines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
    }
    Ok(match parse_rotation_header(&first) {
        Some(before) => (before, newlines.saturating_sub(1)),
        None => (0, newlines),
    })
}

/// `<name>.log.<n>` for `<name>.log`.
pub fn rotated_copy(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// A component's log file: buffered, flushed on demand, rotated by size.
#[derive(Debug)]
pub(crate) struct LogFile {
    path: PathBuf,
    file: Option<File>,
    buf: Vec<u8>,
    size: u64,
    retention: LogRetention,
    failed: bool,
    /// Whether the file was opened (it is, when the first lines are written).
    opened: bool,
}

impl LogFile {
    /// The log at `path`, rotated as `retention` says. The file is opened (appending,
    /// created if need be) when the first lines are written: a component that prints
    /// nothing costs no file, and creating one is not on the path of its spawn. If the file
    /// cannot be opened, lines are still broadcast and the problem is logged once.
    pub(crate) fn open(path: PathBuf, retention: LogRetention) -> Self {
        Self {
            path,
            file: None,
            buf: Vec::with_capacity(64 * 1024),
            size: 0,
            retention,
            failed: false,
            opened: false,
        }
    }

    fn reopen(&mut self) {
        match open_private(&self.path, OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE) {
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
        if !self.opened {
            self.opened = true;
            self.reopen();
        }
        if self.size > 0 && self.size + self.buf.len() as u64 > self.retention.max_size {
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

    /// Moves the current file to `.1` (the older copies up by one, the oldest deleted), starts
    /// a new one, and opens it with the count of lines written before it.
    fn rotate(&mut self) {
        self.file = None;
        let before = match count_lines(&self.path) {
            Ok((header, lines)) => header + lines,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), "cannot count the log file's lines: {e}");
                0
            }
        };
        let keep = self.retention.keep.min(MAX_KEEP);
        let moved = if keep == 0 {
            std::fs::remove_file(&self.path)
        } else {
            let gone = |r: io::Result<()>| match r {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            };
            gone(std::fs::remove_file(rotated_copy(&self.path, keep)))
                .and_then(|()| {
                    (1..keep).rev().try_for_each(|n| {
                        gone(std::fs::rename(
                            rotated_copy(&self.path, n),
                            rotated_copy(&self.path, n + 1),
                        ))
                    })
                })
                .and_then(|()| std::fs::rename(&self.path, rotated_copy(&self.path, 1)))
        };
        if let Err(e) = moved {
            tracing::warn!(path = %self.path.display(), "cannot rotate the log file: {e}");
        }
        self.reopen();
        if self.size == 0 && before > 0 {
            let header = format!("{}\n", rotation_header(before));
            if let Some(file) = self.file.as_mut() {
                match file.write_all(header.as_bytes()) {
                    Ok(()) => self.size += header.len() as u64,
                    Err(e) => self.fail("write", e),
                }
            }
        }
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        self.flush();
    }
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

    fn retention(max_size: u64, keep: u32) -> LogRetention {
        LogRetention { max_size, keep }
    }

    #[test]
    fn rotations_keep_as_many_copies_as_asked_and_count_what_went() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut log = LogFile::open(path.clone(), retention(100, 2));
        // Each flush writes one 20-byte line: 5 lines a file.
        for i in 0..40 {
            log.push("T", Stream::Out, format!("line {i:02} ......").as_bytes());
            log.flush();
        }
        drop(log);
        assert!(!rotated_copy(&path, 3).exists());
        let oldest = std::fs::read_to_string(rotated_copy(&path, 2)).unwrap();
        let header = oldest.lines().next().unwrap();
        let gone = parse_rotation_header(header.as_bytes()).unwrap();
        let first_kept: u64 = oldest.lines().nth(1).unwrap()[13..15].parse().unwrap();
        assert_eq!(gone, first_kept, "{oldest}");
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(current.ends_with("line 39 ......\n"), "{current:?}");
        // Nothing kept: every rotation drops the file, the header still counts.
        let path = dir.path().join("d.log");
        let mut log = LogFile::open(path.clone(), retention(100, 0));
        for i in 0..12 {
            log.push("T", Stream::Out, format!("line {i:02} ......").as_bytes());
            log.flush();
        }
        drop(log);
        let current = std::fs::read_to_string(&path).unwrap();
        let gone = parse_rotation_header(current.lines().next().unwrap().as_bytes()).unwrap();
        assert_eq!(gone + current.lines().count() as u64 - 1, 12, "{current}");
    }

    #[test]
    fn log_files_are_private_and_symlinks_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me\n").unwrap();
        let path = dir.path().join("c.log");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let mut log = LogFile::open(path.clone(), LogRetention::default());
        log.push("T", Stream::Out, b"written");
        log.flush();
        drop(log);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me\n");
        std::fs::remove_file(&path).unwrap();
        let old = rustix::process::umask(Mode::from_raw_mode(0o022));
        let mut log = LogFile::open(path.clone(), LogRetention::default());
        log.push("T", Stream::Out, b"created now");
        log.flush();
        rustix::process::umask(old);
        drop(log);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn the_file_is_created_by_the_first_line_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut log = LogFile::open(path.clone(), LogRetention::default());
        log.flush();
        assert!(!path.exists(), "nothing was written");
        log.push("T", Stream::Err, b"first");
        log.flush();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "T err | first\n");
        drop(log);
        drop(LogFile::open(path.clone(), LogRetention::default()));
        assert!(path.exists(), "a later run leaves the file as it was");
    }

    #[test]
    fn a_full_file_is_rotated_keeping_one_old_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut log = LogFile::open(path.clone(), retention(100, 1));
        for i in 0..10 {
            log.push("T", Stream::Out, format!("line {i} .........").as_bytes());
            log.flush();
        }
        drop(log);
        let current = std::fs::read_to_string(&path).unwrap();
        let old = std::fs::read_to_string(rotated_copy(&path, 1)).unwrap();
        assert!(
            current.len() <= 100 && old.len() <= 100,
            "{current:?} {old:?}"
        );
        assert!(current.ends_with("line 9 .........\n"), "{current:?}");
        assert!(old.contains("line 5"), "{old:?}");
    }
}
