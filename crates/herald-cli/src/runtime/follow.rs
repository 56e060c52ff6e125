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
use herald::{ComponentSpec, Event, ReadinessError, State};
use serde::Deserialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

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

/// An event-log line.
#[derive(Debug, Deserialize)]
struct Line {
    time: String,
    component: String,
    state: State,
    pid: Option<u32>,
    error: Option<ReadinessError>,
}

impl Line {
    /// The event, its monotonic moment placed as far back as its wall-clock time is.
    fn event(self) -> Event {
        let time = humantime::parse_rfc3339(&self.time).unwrap_or_else(|_| SystemTime::now());
        let ago = SystemTime::now().duration_since(time).unwrap_or_default();
        let now = Instant::now();
        Event {
            time,
            at: now.checked_sub(ago).unwrap_or(now),
            component: Arc::from(self.component.as_str()),
            state: self.state,
            pid: self.pid,
            error: self.error.map(Arc::new),
        }
    }
}

/// The event of an event-log line.
pub fn event(value: serde_json::Value) -> Option<Event> {
    serde_json::from_value::<Line>(value).ok().map(Line::event)
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
/// stream events already in the file are skipped. If the supervisor says the stream fell
/// behind and skipped some, they are read from the file, which has every event.
#[derive(Debug)]
pub struct EventStream {
    client: Client,
    path: PathBuf,
    seen: HashSet<String>,
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
            seen: HashSet::new(),
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
                Some(Reply::Event { event: value }) => {
                    if self.seen.insert(value.to_string())
                        && let Some(event) = event(value)
                    {
                        return Ok(Some(event));
                    }
                }
                Some(Reply::Skipped { .. }) => self.catch_up(),
                Some(_) => {}
                None => return Ok(None),
            }
        }
    }

    /// Queues the lines of `events.jsonl` not seen yet.
    fn catch_up(&mut self) {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        for raw in text.lines() {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(raw) else {
                continue;
            };
            if self.seen.insert(value.to_string())
                && let Some(event) = event(value)
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
