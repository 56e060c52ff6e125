//! The event log: `<state_dir>/events.jsonl`, one JSON object per line ([`herald::Record`]):
//! each run opens with a [`RunHeader`] (the stack and its graph), then one [`Event`] per state
//! change. `seq` counts across the file and `run` numbers the runs, so earlier runs stay
//! readable (`herald analyze --run N`).
//!
//! Every record is written with one unbuffered `write` as it happens, so a line that was
//! reported anywhere is already in the file, even if herald is killed right after. A file
//! grown past 16 MiB is moved to `events.jsonl.1` when a run begins (numbers go on).

use super::statedir::{Access, StateDir};
use herald::{Event, Graph, Record, RunHeader};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The event log's file name in the state folder.
pub const FILE: &str = "events.jsonl";

/// Past this size, the log is moved aside when the next run begins.
const KEEP: u64 = 16 * 1024 * 1024;

/// An open event log.
#[derive(Debug)]
pub struct EventLog {
    path: PathBuf,
    file: File,
    failed: bool,
    /// The run's header until it is written ([`EventLog::write_header`]), off the path to
    /// the first spawn.
    header: Option<Record>,
}

/// Where a run's records go: its number and the number of its first event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numbering {
    /// The run.
    pub run: u64,
    /// The `seq` of the run's first event (its header has the one before).
    pub first_seq: u64,
}

impl EventLog {
    /// Opens `<state_dir>/events.jsonl` for a new run of `stack` with `graph`: numbers it
    /// after the last record already there. Its header is written by
    /// [`write_header`](Self::write_header), else before the first event.
    pub fn begin(dir: &StateDir, stack: &str, graph: &Graph) -> io::Result<(EventLog, Numbering)> {
        let path = dir.path().join(FILE);
        // Opened once, without following a symlink, as every file of the state folder is.
        let existing = dir.open(FILE, Access::Read).ok();
        let large = existing
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .is_some_and(|m| m.len() > KEEP);
        let last = existing.and_then(last_record);
        if large {
            dir.rotate(FILE)?;
        }
        let file = dir.open(FILE, Access::Append)?;
        let (run, seq) = last.map_or((1, 1), |r| (r.run() + 1, r.seq() + 1));
        let log = EventLog {
            path,
            file,
            failed: false,
            header: Some(Record::Run(RunHeader::new(stack, graph, run, seq))),
        };
        let numbering = Numbering {
            run,
            first_seq: seq + 1,
        };
        Ok((log, numbering))
    }

    /// Appends one event as one line. A failure is reported once on stderr; later events are
    /// still tried.
    pub fn append(&mut self, event: &Event) {
        self.write_header();
        self.write(&Record::Event(event.clone()));
    }

    /// Writes the run's header, unless it is written already: once the stack has started
    /// (its first spawn is under way on other threads), before anyone is told the supervisor
    /// listens, so a reader of the file finds this run's header before its events.
    pub fn write_header(&mut self) {
        if let Some(header) = self.header.take() {
            self.write(&header);
        }
    }

    fn write(&mut self, record: &Record) {
        let mut line = serde_json::to_string(record).expect("records serialise");
        line.push('\n');
        if let Err(e) = self.file.write_all(line.as_bytes())
            && !self.failed
        {
            eprintln!("warning: cannot write {}: {e}", self.path.display());
            self.failed = true;
        }
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.write_header();
    }
}

/// The event-log line of an event, without its newline.
pub fn line(event: &Event) -> String {
    serde_json::to_string(event).expect("events serialise")
}

/// Every record of the log that reads back, in order (a line that does not is skipped).
pub fn records(path: &Path) -> Vec<Record> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// The last record of the log, read from its end.
fn last_record(mut file: File) -> Option<Record> {
    let len = file.metadata().ok()?.len();
    // A record is a few hundred bytes; an error chain a few KiB.
    let from = len.saturating_sub(64 * 1024);
    file.seek(SeekFrom::Start(from)).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    String::from_utf8_lossy(&tail)
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald::ComponentSpec;

    #[test]
    fn the_header_comes_before_the_run_s_first_event() {
        let dir = tempfile::tempdir().unwrap();
        let graph = Graph::new(&[ComponentSpec::new("db")]).unwrap();
        let state = StateDir::prepare(dir.path()).unwrap();
        let (mut log, numbering) = EventLog::begin(&state, "demo", &graph).unwrap();
        assert!(
            records(&dir.path().join(FILE)).is_empty(),
            "written once started"
        );
        let line = format!(
            r#"{{"time":"2026-12-02T10:00:00.000001Z","seq":{},"run":{},"component":"db","state":"waiting"}}"#,
            numbering.first_seq, numbering.run
        );
        log.append(&serde_json::from_str(&line).unwrap());
        log.write_header(); // already written: nothing more
        let records = records(&dir.path().join(FILE));
        assert_eq!(records.len(), 2);
        assert!(matches!(&records[0], Record::Run(h) if h.seq == numbering.first_seq - 1));
        assert!(matches!(&records[1], Record::Event(e) if e.seq == numbering.first_seq));
    }

    #[test]
    fn runs_are_numbered_on_from_what_the_log_holds() {
        let dir = tempfile::tempdir().unwrap();
        let graph = Graph::new(&[ComponentSpec::new("db")]).unwrap();
        let state = StateDir::prepare(dir.path()).unwrap();
        let (_, first) = EventLog::begin(&state, "demo", &graph).unwrap();
        assert_eq!(
            first,
            Numbering {
                run: 1,
                first_seq: 2
            }
        );
        let (_, second) = EventLog::begin(&state, "demo", &graph).unwrap();
        assert_eq!(
            second,
            Numbering {
                run: 2,
                first_seq: 3
            }
        );
        let records = records(&dir.path().join(FILE));
        assert_eq!(records.len(), 2);
        assert!(
            records
                .iter()
                .all(|r| matches!(r, Record::Run(h) if h.stack == "demo"))
        );
    }
}
