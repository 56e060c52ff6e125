//! Following a background start (`up --detach`) through the supervisor's events: the
//! progress is shown as the foreground `up` shows it, and the outcome is decided from the
//! same ordered stream, so the last line shown is the one that decided it.
//!
//! The stream is subscribed first, then `events.jsonl` is read for what happened before;
//! events of the stream already in the file are skipped.

use super::control::client::Client;
use super::eventlog;
use super::progress::Progress;
use super::protocol::{Reply, Request};
use herald::{ComponentSpec, Event, ReadinessError, State};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;
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

/// Shows the start of `specs` and waits for its outcome.
pub fn start(
    client: &mut Client,
    state_dir: &Path,
    specs: &[ComponentSpec],
    mut progress: Progress,
) -> anyhow::Result<Outcome> {
    match client.ask(&Request::Events)? {
        Reply::Subscribed => {}
        other => anyhow::bail!("unexpected reply {other:?}"),
    }
    let mut follow = Follow {
        progress: &mut progress,
        states: HashMap::new(),
        names: specs.iter().map(|s| s.name.clone()).collect(),
    };
    let mut seen = HashSet::new();
    let text = std::fs::read_to_string(state_dir.join(eventlog::FILE)).unwrap_or_default();
    for raw in text.lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(raw) else {
            continue;
        };
        seen.insert(value.to_string());
        if let Some(outcome) = follow.take(value) {
            progress.finish();
            return Ok(outcome);
        }
    }
    let outcome = loop {
        match client.recv()? {
            Some(Reply::Event { event }) => {
                if seen.contains(&event.to_string()) {
                    continue;
                }
                if let Some(outcome) = follow.take(event) {
                    break outcome;
                }
            }
            Some(_) => continue,
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
    fn take(&mut self, value: serde_json::Value) -> Option<Outcome> {
        let event = event(value)?;
        self.progress.event(&event);
        self.states.insert(event.component.to_string(), event.state);
        if event.state.is_failed() {
            let error = event.error.as_deref().cloned().unwrap_or_else(|| {
                ReadinessError::new(event.component.as_ref(), "state", "", event.state.as_str())
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
