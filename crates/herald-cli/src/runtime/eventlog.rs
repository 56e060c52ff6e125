//! The event log: `<state_dir>/events.jsonl`, one JSON object per state change.
//!
//! Each run starts a fresh file (the previous run's is kept as `events.jsonl.1`). Every event
//! is written with one unbuffered `write` as it happens, so a line that was reported anywhere
//! is already in the file, even if herald is killed right after.

use herald::Event;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The event log's file name in the state folder.
pub const FILE: &str = "events.jsonl";

/// An open event log.
#[derive(Debug)]
pub struct EventLog {
    path: PathBuf,
    file: File,
    failed: bool,
}

impl EventLog {
    /// Starts `<state_dir>/events.jsonl` afresh, keeping the previous one as `.1`.
    pub fn create(state_dir: &Path) -> io::Result<EventLog> {
        let path = state_dir.join(FILE);
        let dir = super::statedir::StateDir::prepare(state_dir)?;
        dir.rotate(FILE)?;
        let file = dir.open(FILE, super::statedir::Access::Append)?;
        Ok(EventLog {
            path,
            file,
            failed: false,
        })
    }

    /// Appends one event as one line. A failure is reported once on stderr; later events are
    /// still tried.
    pub fn append(&mut self, event: &Event) {
        let mut line = line(event);
        line.push('\n');
        if let Err(e) = self.file.write_all(line.as_bytes())
            && !self.failed
        {
            eprintln!("warning: cannot write {}: {e}", self.path.display());
            self.failed = true;
        }
    }
}

/// The event-log line of an event, without its newline.
pub fn line(event: &Event) -> String {
    serde_json::to_string(event).expect("events serialise")
}
