//! Reading components' log files as they grow, as `tail -F` does: what `herald logs` prints,
//! and where `logs --follow` takes its lines from.
//!
//! The files are complete (a line is in its file before it is published live), so a follower
//! that reads them from where it left off never loses a line, however far behind it falls;
//! the live stream only says when to read. Each [`Tail`] keeps its file open and reads on from
//! its position. When the supervisor rotates `<name>.log` to `<name>.log.1`, the old file is
//! read to its end through the open handle (nothing is written to it after the rename), then
//! the new one from its start. A follower so far behind that the file was rotated twice reads
//! the file in between from `<name>.log.1` too; rotated more often than that, the files in
//! between are gone from disk, which it says (it cannot count their lines).
//!
//! The first read takes every rotated copy still there, the oldest (`<name>.log.N`) first. A
//! file started by a rotation opens with a header, the count of lines written before it: that
//! of the oldest file read is what retention dropped, shown first as
//! `-- 713,737 earlier lines rotated away --`; the other headers are not shown.
//!
//! Files are opened without following a symlink and must belong to this user: a file that
//! does not is refused, said, and read no further.

use super::protocol::LogRecord;
use herald::process::{MAX_KEEP, open_private, parse_rotation_header, rotated_copy};
use rustix::fs::OFlags;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One component's log file, read as it grows.
#[derive(Debug)]
pub struct Tail {
    name: String,
    path: PathBuf,
    /// The open file and its identity (device, inode); `None` until it exists.
    file: Option<(File, (u64, u64))>,
    /// A line not yet ended by its newline.
    partial: Vec<u8>,
    /// The file last read to its end, once one was rotated away.
    finished: Option<(u64, u64)>,
    /// Whether a line (or the notice of rotated-away lines) was given already.
    started: bool,
    /// Why a file was refused, once one was.
    refused: Option<String>,
}

/// The identity of a file: its device and inode.
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

impl Tail {
    /// The log of component `name` in `logs_dir`; nothing is read yet.
    pub fn new(logs_dir: &Path, name: &str) -> Tail {
        Tail {
            name: name.to_string(),
            path: logs_dir.join(format!("{name}.log")),
            file: None,
            partial: Vec::new(),
            finished: None,
            started: false,
            refused: None,
        }
    }

    /// Why a file of this log was refused (not ours, or a symlink), if one was.
    pub fn refused(&self) -> Option<&str> {
        self.refused.as_deref()
    }

    /// The component.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The newest rotated copy, `<name>.log.1`.
    fn rotated(&self) -> PathBuf {
        rotated_copy(&self.path, 1)
    }

    /// Opens one of this log's files; `Ok(None)` when it is not there.
    fn open_file(&mut self, path: &Path) -> Result<Option<File>, String> {
        match open_private(path, OFlags::RDONLY) {
            Ok(file) => Ok(Some(file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => {
                let message = format!("herald: {e}");
                self.refused = Some(message.clone());
                Err(message)
            }
        }
    }

    /// On the first read: every rotated copy older than `.1`, the oldest first.
    fn read_older_copies(&mut self, records: &mut Vec<LogRecord>) -> Option<String> {
        let count = (2..=MAX_KEEP)
            .take_while(|&n| rotated_copy(&self.path, n).exists())
            .last()?;
        for n in (2..=count).rev() {
            let path = rotated_copy(&self.path, n);
            let mut file = match self.open_file(&path) {
                Ok(Some(file)) => file,
                Ok(None) => continue,
                Err(note) => return Some(note),
            };
            let mut bytes = Vec::new();
            let read = file.read_to_end(&mut bytes);
            self.lines(&bytes, records);
            self.end_partial(records);
            if let Err(e) = read {
                return Some(cannot_read(&path, &e));
            }
        }
        None
    }

    /// Every line written since the last call (the first call: all there is, the rotated copy
    /// first), in file order. A problem worth telling (lines that may have been rotated away
    /// before they could be read, a file that cannot be read) is returned as a note for stderr.
    pub fn read(&mut self) -> (Vec<LogRecord>, Option<String>) {
        let mut records = Vec::new();
        let mut note = None;
        loop {
            if self.refused.is_some() {
                return (records, note);
            }
            if self.file.is_none() {
                match self.open() {
                    Ok(true) => {}
                    Ok(false) => return (records, note),
                    Err(refused) => return (records, Some(refused)),
                }
                if !self.started
                    && self.finished.is_none()
                    && let Some(problem) = self.read_older_copies(&mut records)
                {
                    return (records, Some(problem));
                }
                if let Some(missed) = self.read_rotated_copy(&mut records) {
                    note = Some(missed);
                }
            }
            if let Err(e) = self.drain(&mut records) {
                return (records, Some(self.cannot_read(&e)));
            }
            let Some((_, ours)) = &self.file else {
                return (records, note);
            };
            let ours = *ours;
            let current = std::fs::metadata(&self.path).ok().map(|m| identity(&m));
            if current == Some(ours) {
                return (records, note);
            }
            // Rotated (or removed): what was written before the rename is read to the end.
            if let Err(e) = self.drain(&mut records) {
                note = Some(self.cannot_read(&e));
            }
            self.end_partial(&mut records);
            self.file = None;
            self.finished = Some(ours);
            if current.is_none() {
                return (records, note);
            }
        }
    }

    /// Right after the current file is opened: reads `<name>.log.1` whole unless it is the
    /// current file (rotated since it was opened: it is read through the open handle) or the
    /// one read to its end before. Gives a note when the copy came after that one: files
    /// rotated away in between are gone.
    fn read_rotated_copy(&mut self, records: &mut Vec<LogRecord>) -> Option<String> {
        let current = self.file.as_ref().map(|(_, id)| *id);
        let mut copy = match self.open_file(&self.rotated()) {
            Ok(copy) => copy?,
            Err(note) => return Some(note),
        };
        let id = copy.metadata().ok().map(|m| identity(&m));
        if id == current || id == self.finished {
            return None;
        }
        let mut bytes = Vec::new();
        let read = copy.read_to_end(&mut bytes);
        self.lines(&bytes, records);
        self.end_partial(records);
        if let Err(e) = read {
            return Some(cannot_read(&self.rotated(), &e));
        }
        self.finished.map(|_| {
            format!(
                "herald: the log of {} was rotated more than once while this reader was behind; \
                 lines of files rotated away before {} may be missing",
                self.name,
                self.rotated().display()
            )
        })
    }

    /// Opens the current file; whether it exists, or why it was refused.
    fn open(&mut self) -> Result<bool, String> {
        let path = self.path.clone();
        let Some(file) = self.open_file(&path)? else {
            return Ok(false);
        };
        let Ok(meta) = file.metadata() else {
            return Ok(false);
        };
        self.file = Some((file, identity(&meta)));
        Ok(true)
    }

    /// Reads the open file to its end.
    fn drain(&mut self, records: &mut Vec<LogRecord>) -> io::Result<()> {
        let Some((file, _)) = self.file.as_mut() else {
            return Ok(());
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        self.lines(&bytes, records);
        Ok(())
    }

    /// Splits `bytes` into lines after what is pending, keeping an unended last line.
    fn lines(&mut self, mut bytes: &[u8], records: &mut Vec<LogRecord>) {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            if self.partial.is_empty() {
                self.push(&bytes[..end], records);
            } else {
                self.partial.extend_from_slice(&bytes[..end]);
                let line = std::mem::take(&mut self.partial);
                self.push(&line, records);
            }
            bytes = &bytes[end + 1..];
        }
        self.partial.extend_from_slice(bytes);
    }

    /// One whole line: a record, or a rotation header (the first one read says how many lines
    /// are gone; the others are left out).
    fn push(&mut self, line: &[u8], records: &mut Vec<LogRecord>) {
        if let Some(before) = parse_rotation_header(line) {
            if !self.started && before > 0 {
                records.push(LogRecord {
                    time: String::new(),
                    component: self.name.clone(),
                    stream: "out".into(),
                    text: format!("-- {} earlier lines rotated away --", thousands(before)),
                });
            }
        } else {
            records.push(parse(&self.name, line));
        }
        self.started = true;
    }

    /// Ends a file: a last line without its newline is a line too.
    fn end_partial(&mut self, records: &mut Vec<LogRecord>) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.push(&line, records);
        }
    }

    fn cannot_read(&self, e: &io::Error) -> String {
        cannot_read(&self.path, e)
    }
}

/// `713737` as `713,737`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// "herald: cannot read PATH: why".
fn cannot_read(path: &Path, e: &io::Error) -> String {
    format!("herald: cannot read {}: {e}", path.display())
}

/// The tails of several components, read together.
#[derive(Debug)]
pub struct Tails {
    tails: Vec<Tail>,
}

impl Tails {
    /// The logs of `names` in `logs_dir`.
    pub fn new(logs_dir: &Path, names: &[String]) -> Tails {
        Tails {
            tails: names.iter().map(|n| Tail::new(logs_dir, n)).collect(),
        }
    }

    /// What every file gained since the last read, merged by time (each file's own order
    /// kept), and notes for stderr.
    pub fn read_all(&mut self) -> (Vec<LogRecord>, Vec<String>) {
        let mut records = Vec::new();
        let mut notes = Vec::new();
        for tail in &mut self.tails {
            let (mut more, note) = tail.read();
            records.append(&mut more);
            notes.extend(note);
        }
        records.sort_by(|a, b| a.time.cmp(&b.time));
        (records, notes)
    }

    /// Why files were refused (not ours, or symlinks), one message per log.
    pub fn refused(&self) -> Vec<&str> {
        self.tails.iter().filter_map(Tail::refused).collect()
    }

    /// What the file of `name` gained since the last read (nothing for a name not followed).
    pub fn read_one(&mut self, name: &str) -> (Vec<LogRecord>, Option<String>) {
        match self.tails.iter_mut().find(|t| t.name() == name) {
            Some(tail) => tail.read(),
            None => (Vec::new(), None),
        }
    }
}

/// One log-file line: `2026-11-26T10:00:00.123456Z out | text`; a line of another shape is
/// kept whole as text.
fn parse(component: &str, line: &[u8]) -> LogRecord {
    let line = String::from_utf8_lossy(line);
    let parsed = line.split_once(' ').and_then(|(time, rest)| {
        let (stream, text) = rest.split_once(" | ")?;
        Some((time, stream, text))
    });
    let (time, stream, text) = parsed.unwrap_or(("", "out", &line));
    LogRecord {
        time: time.to_string(),
        component: component.to_string(),
        stream: stream.to_string(),
        text: text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn texts(records: &[LogRecord]) -> Vec<&str> {
        records.iter().map(|r| r.text.as_str()).collect()
    }

    fn append(path: &Path, text: &str) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn a_tail_reads_on_from_where_it_stopped_and_waits_for_a_line_to_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut tail = Tail::new(dir.path(), "c");
        assert!(tail.read().0.is_empty(), "no file yet");
        append(&path, "T1 out | one\nT2 err | tw");
        assert_eq!(texts(&tail.read().0), ["one"]);
        append(&path, "o\n");
        let (records, note) = tail.read();
        assert_eq!(texts(&records), ["two"]);
        assert_eq!(records[0].stream, "err");
        assert_eq!(note, None);
        assert!(tail.read().0.is_empty());
    }

    #[test]
    fn older_copies_come_first_and_rotated_away_lines_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        append(
            &rotated_copy(&path, 3),
            "-- 713737 earlier lines --\nT1 out | one\n",
        );
        append(
            &rotated_copy(&path, 2),
            "-- 713738 earlier lines --\nT2 out | two\n",
        );
        append(
            &rotated_copy(&path, 1),
            "-- 713739 earlier lines --\nT3 out | three\n",
        );
        append(&path, "-- 713740 earlier lines --\nT4 out | four\n");
        let mut tail = Tail::new(dir.path(), "c");
        let (records, note) = tail.read();
        assert_eq!(note, None);
        assert_eq!(
            texts(&records),
            [
                "-- 713,737 earlier lines rotated away --",
                "one",
                "two",
                "three",
                "four"
            ]
        );
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn a_symlink_is_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "T0 out | root:secret\n").unwrap();
        std::os::unix::fs::symlink(&secret, dir.path().join("c.log")).unwrap();
        let mut tail = Tail::new(dir.path(), "c");
        let (records, note) = tail.read();
        assert!(records.is_empty(), "{records:?}");
        let note = note.unwrap();
        assert!(note.contains("c.log") && note.contains("symlink"), "{note}");
        assert!(tail.refused().is_some());
    }

    #[test]
    fn a_rotation_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let old = dir.path().join("c.log.1");
        append(&old, "T0 out | zero\n");
        append(&path, "T1 out | one\n");
        let mut tail = Tail::new(dir.path(), "c");
        assert_eq!(texts(&tail.read().0), ["zero", "one"]);
        // Written, then rotated before this reader looked again.
        append(&path, "T2 out | two\n");
        std::fs::rename(&path, &old).unwrap();
        append(&path, "T3 out | three\n");
        let (records, note) = tail.read();
        assert_eq!(texts(&records), ["two", "three"]);
        assert_eq!(note, None);
        // Rotated twice: the copy in between is read too, and the reader says so.
        append(&path, "T4 out | four\n");
        std::fs::rename(&path, &old).unwrap();
        append(&path, "T5 out | five\n");
        std::fs::rename(&path, &old).unwrap();
        append(&path, "T6 out | six\n");
        let (records, note) = tail.read();
        assert_eq!(texts(&records), ["four", "five", "six"]);
        assert!(note.unwrap().contains("rotated more than once"));
    }
}
