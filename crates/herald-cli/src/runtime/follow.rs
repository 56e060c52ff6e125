//! Following a background start (`up --detach`) through the supervisor's events: the
//! progress is shown as the foreground `up` shows it, and the outcome is decided from the
//! same ordered stream, so the last line shown is the one that decided it.
//!
//! [`EventStream`] is the one reader of the supervisor's event stream: this start and `down`
//! both read it.

use super::control::client::Client;
use super::eventlog;
use super::progress::Progress;
use super::protocol::{Reply, Request};
use herald::{ComponentSpec, Event, ReadinessError, Record, State};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

/// How a start ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every component is ready or completed.
    Up,
    /// One failed for good or was blocked.
    Failed(ReadinessError),
    /// The supervisor stopped before that.
    Ended,
}

/// Where an [`EventStream`] begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// With every event of this run, those already in `events.jsonl` first.
    Start,
    /// With the events that happen from now on.
    Now,
}

/// The supervisor's events, on a connection of their own, each once and in order.
///
/// The stream is subscribed before `events.jsonl` is read, so nothing falls between the two;
/// events are numbered (`seq`), so one already taken from the file is skipped when the stream
/// brings it too. If the supervisor says the stream fell behind and skipped some, they are
/// read from the file, which has every event.
#[derive(Debug)]
pub struct EventStream {
    client: Client,
    path: PathBuf,
    /// The run being followed (the file's last), once known.
    run: Option<u64>,
    /// The number of the last event handed out or queued.
    last: u64,
    queue: VecDeque<Event>,
}

impl EventStream {
    /// Subscribes `client` to the events of the stack whose state folder is `state_dir`.
    pub fn subscribe(
        mut client: Client,
        state_dir: &Path,
        since: Since,
    ) -> anyhow::Result<EventStream> {
        match client.ask(&Request::Events)? {
            Reply::Subscribed => {}
            other => anyhow::bail!("unexpected reply {other:?}"),
        }
        let mut stream = EventStream {
            client,
            path: state_dir.join(eventlog::FILE),
            run: None,
            last: 0,
            queue: VecDeque::new(),
        };
        stream.catch_up();
        if since == Since::Now {
            stream.queue.clear();
        }
        Ok(stream)
    }

    /// The next event; `None` once the supervisor has closed the stream (the stack stopped).
    pub fn recv(&mut self) -> anyhow::Result<Option<Event>> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Ok(Some(event));
            }
            match self.client.recv()? {
                Some(Reply::Event { event }) => {
                    if self.take(&event) {
                        return Ok(Some(event));
                    }
                }
                Some(Reply::Skipped { .. }) => self.catch_up(),
                Some(_) => {}
                None => return Ok(None),
            }
        }
    }

    /// Whether `event` is new: of the run followed, after the last one taken.
    fn take(&mut self, event: &Event) -> bool {
        let run = *self.run.get_or_insert(event.run);
        if event.run != run || event.seq <= self.last {
            return false;
        }
        self.last = event.seq;
        true
    }

    /// Queues the events of the file's last run not taken yet.
    fn catch_up(&mut self) {
        let records = eventlog::records(&self.path);
        let Some(run) = records.iter().rev().find_map(|r| match r {
            Record::Run(header) => Some(header.run),
            Record::Event(_) => None,
        }) else {
            return;
        };
        self.run.get_or_insert(run);
        for record in records {
            if let Record::Event(event) = record
                && self.take(&event)
            {
                self.queue.push_back(event);
            }
        }
    }
}

/// Shows the start of `specs` through `client` and waits for its outcome.
pub fn start(
    client: Client,
    state_dir: &Path,
    specs: &[ComponentSpec],
    mut progress: Progress,
) -> anyhow::Result<Outcome> {
    let mut events = EventStream::subscribe(client, state_dir, Since::Start)?;
    let mut follow = Follow {
        progress: &mut progress,
        states: HashMap::new(),
        names: specs.iter().map(|s| s.name.clone()).collect(),
    };
    let outcome = loop {
        match events.recv()? {
            Some(event) => {
                if let Some(outcome) = follow.take(event) {
                    break outcome;
                }
            }
            None => break Outcome::Ended,
        }
    };
    progress.finish();
    Ok(outcome)
}

struct Follow<'a> {
    progress: &'a mut Progress,
    states: HashMap<String, State>,
    names: Vec<String>,
}

impl Follow<'_> {
    /// Shows one event; the outcome once it is decided.
    fn take(&mut self, event: Event) -> Option<Outcome> {
        self.progress.event(&event);
        self.states.insert(event.component.to_string(), event.state);
        if event.state.is_failed() {
            let error = event.error.as_deref().cloned().unwrap_or_else(|| {
                ReadinessError::new(
                    event.component.as_ref(),
                    herald::CheckKind::State,
                    "",
                    event.state.as_str(),
                )
            });
            return Some(Outcome::Failed(error));
        }
        let all_up = self
            .names
            .iter()
            .all(|n| self.states.get(n).is_some_and(|s| s.is_up()));
        all_up.then_some(Outcome::Up)
    }
}
