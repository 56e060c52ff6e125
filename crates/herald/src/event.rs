//! The event stream and the event log's records: one [`Event`] per state change, numbered in
//! the order they happened, and a [`RunHeader`] that opens each run of a stack.
//!
//! The same types serve the library ([`Running::subscribe`](crate::Running::subscribe)), the
//! event log the command writes (`events.jsonl`, one JSON object per line) and whoever reads
//! it back ([`Record`]): there is no second declaration of the format.
//!
//! ```
//! use herald::{Event, Record, State};
//! let line = r#"{"time":"2026-11-26T10:00:00.123456Z","seq":7,"run":2,"component":"etcd","state":"starting","pid":4242,"released_by":{"component":"containerd","state":"ready","edge":"requires"}}"#;
//! let Record::Event(event) = serde_json::from_str::<Record>(line).unwrap() else { panic!() };
//! assert_eq!((event.seq, event.run, event.state), (7, 2, State::Starting));
//! assert_eq!(event.released_by.unwrap().component, "containerd");
//! ```

use crate::{EdgeKind, Graph, ReadinessError, State};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// One state change of one component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "EventLine")]
pub struct Event {
    /// Wall-clock time of the change.
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    /// Monotonic time of the change, for measuring. For an event read back from a log, the
    /// moment as far back from now as its wall-clock time is.
    #[serde(skip)]
    pub at: Instant,
    /// Its number: 1, 2, ... in the order the changes happened (across the whole event log,
    /// for the command's runs; see [`Stack::numbering`](crate::Stack::numbering)).
    pub seq: u64,
    /// Which run of the stack it belongs to.
    pub run: u64,
    /// The component.
    pub component: Arc<str>,
    /// The state it entered.
    pub state: State,
    /// Its process id, where it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The error that caused this change: on `failed`, `blocked`, and `restarting` after a
    /// failure. Never an older error carried along.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Arc<ReadinessError>>,
    /// On `starting`: the dependency whose change released the start (absent when it had no
    /// dependency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_by: Option<Release>,
    /// On `starting`: how long this start waited for its dependencies (`waited_ms`).
    #[serde(
        default,
        rename = "waited_ms",
        skip_serializing_if = "Option::is_none",
        with = "millis"
    )]
    pub waited: Option<Duration>,
    /// On `ready` and `completed`: the time from spawn (`time_to_ready_ms`).
    #[serde(
        default,
        rename = "time_to_ready_ms",
        skip_serializing_if = "Option::is_none",
        with = "millis"
    )]
    pub time_to_ready: Option<Duration>,
    /// How many restarts the restart policy has made so far (a restart asked for is not
    /// counted); absent while none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarts: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The dependency that released a start: the last of its dependencies to reach the state the
/// edge waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The dependency.
    pub component: String,
    /// The state it was in when it released the dependent.
    pub state: State,
    /// The kind of the edge.
    pub edge: EdgeKind,
}

/// The event as it is read back: `at` is placed from `time`.
#[derive(Deserialize)]
struct EventLine {
    #[serde(with = "rfc3339")]
    time: SystemTime,
    seq: u64,
    run: u64,
    component: Arc<str>,
    state: State,
    #[serde(default)]
    pid: Option<u32>,
    #[serde(default)]
    error: Option<Arc<ReadinessError>>,
    #[serde(default)]
    released_by: Option<Release>,
    #[serde(default, rename = "waited_ms", with = "millis")]
    waited: Option<Duration>,
    #[serde(default, rename = "time_to_ready_ms", with = "millis")]
    time_to_ready: Option<Duration>,
    #[serde(default)]
    restarts: u32,
}

impl From<EventLine> for Event {
    fn from(line: EventLine) -> Event {
        let ago = SystemTime::now()
            .duration_since(line.time)
            .unwrap_or_default();
        let now = Instant::now();
        Event {
            time: line.time,
            at: now.checked_sub(ago).unwrap_or(now),
            seq: line.seq,
            run: line.run,
            component: line.component,
            state: line.state,
            pid: line.pid,
            error: line.error,
            released_by: line.released_by,
            waited: line.waited,
            time_to_ready: line.time_to_ready,
            restarts: line.restarts,
        }
    }
}

/// The first record of a run in the event log: which stack, and its graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    /// When the run began.
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    /// Its number in the log, as events are numbered.
    pub seq: u64,
    /// The run.
    pub run: u64,
    /// Always [`RunTag::Run`]: what tells a header from an event.
    pub event: RunTag,
    /// The stack's name.
    pub stack: String,
    /// Every component of the run (by name) with its dependencies by kind.
    pub graph: BTreeMap<String, Dependencies>,
}

/// The `event` field of a [`RunHeader`]: `"run"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunTag {
    /// A run begins.
    Run,
}

/// One component's dependencies by kind, as the run header lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependencies {
    /// `requires`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// `wants`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wants: Vec<String>,
    /// `after`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// `binds_to`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binds_to: Vec<String>,
    /// `uses`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses: Vec<String>,
}

impl Dependencies {
    /// The names of one kind.
    pub fn of(&self, kind: EdgeKind) -> &[String] {
        match kind {
            EdgeKind::Requires => &self.requires,
            EdgeKind::Wants => &self.wants,
            EdgeKind::After => &self.after,
            EdgeKind::BindsTo => &self.binds_to,
            EdgeKind::Uses => &self.uses,
        }
    }

    fn push(&mut self, kind: EdgeKind, name: String) {
        match kind {
            EdgeKind::Requires => self.requires.push(name),
            EdgeKind::Wants => self.wants.push(name),
            EdgeKind::After => self.after.push(name),
            EdgeKind::BindsTo => self.binds_to.push(name),
            EdgeKind::Uses => self.uses.push(name),
        }
    }
}

impl RunHeader {
    /// The header of run `run` of the stack `stack`, numbered `seq`, with `graph`'s edges.
    pub fn new(stack: impl Into<String>, graph: &Graph, run: u64, seq: u64) -> RunHeader {
        let mut deps: BTreeMap<String, Dependencies> = graph
            .names()
            .iter()
            .map(|name| (name.clone(), Dependencies::default()))
            .collect();
        for (idx, name) in graph.names().iter().enumerate() {
            let entry = deps.get_mut(name).expect("every name has an entry");
            for &(dep, kind) in graph.dependencies(idx) {
                entry.push(kind, graph.names()[dep].clone());
            }
        }
        RunHeader {
            time: SystemTime::now(),
            seq,
            run,
            event: RunTag::Run,
            stack: stack.into(),
            graph: deps,
        }
    }
}

/// One line of the event log: a run's header or a state change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Record {
    /// A run begins.
    Run(RunHeader),
    /// A component changed state.
    Event(Event),
}

impl Record {
    /// The record's number in the log.
    pub fn seq(&self) -> u64 {
        match self {
            Record::Run(header) => header.seq,
            Record::Event(event) => event.seq,
        }
    }

    /// The run it belongs to.
    pub fn run(&self) -> u64 {
        match self {
            Record::Run(header) => header.run,
            Record::Event(event) => event.run,
        }
    }
}

/// A subscription to every state change, in the order they happened. Nothing is dropped:
/// the queue is unbounded, so a slow reader delays only itself.
#[derive(Debug)]
pub struct Events(mpsc::UnboundedReceiver<Event>);

impl Events {
    pub(crate) fn channel() -> (mpsc::UnboundedSender<Event>, Events) {
        let (tx, rx) = mpsc::unbounded_channel();
        (tx, Events(rx))
    }

    /// The next event, or `None` once the stack has finished and every event was read.
    ///
    /// # Cancel safety
    /// Cancel-safe: an event is never lost by dropping the future.
    pub async fn recv(&mut self) -> Option<Event> {
        self.0.recv().await
    }

    /// The next event if one is queued now.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.0.try_recv().ok()
    }
}

/// A duration as milliseconds with three decimals (microseconds), as the event log writes
/// durations.
mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_micros() as f64 / 1000.0),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let ms = Option::<f64>::deserialize(d)?;
        Ok(ms
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            .map(|ms| Duration::from_micros((ms * 1000.0).round() as u64)))
    }
}

/// RFC 3339 UTC with microseconds, as every time in the event log is written.
mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::SystemTime;

    pub fn serialize<S: Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_micros(*time))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        humantime::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_header_and_an_event_read_back_as_what_they_are() {
        let specs = [
            crate::ComponentSpec::new("db"),
            crate::ComponentSpec::new("api")
                .requires(["db"])
                .wants(["cache"]),
            crate::ComponentSpec::new("cache"),
        ];
        let graph = Graph::new(&specs).unwrap();
        let header = RunHeader::new("demo", &graph, 3, 10);
        let text = serde_json::to_string(&header).unwrap();
        assert!(text.contains(r#""event":"run""#), "{text}");
        assert!(
            text.contains(r#""api":{"requires":["db"],"wants":["cache"]}"#),
            "{text}"
        );
        let back: Record = serde_json::from_str(&text).unwrap();
        assert!(matches!(back, Record::Run(_)), "{back:?}");
        // Times are written to the microsecond.
        assert_eq!(serde_json::to_string(&back).unwrap(), text);
        assert_eq!((back.seq(), back.run()), (10, 3));

        let event = Event {
            time: SystemTime::now(),
            at: Instant::now(),
            seq: 11,
            run: 3,
            component: Arc::from("api"),
            state: State::Starting,
            pid: Some(42),
            error: None,
            released_by: Some(Release {
                component: "db".into(),
                state: State::Ready,
                edge: EdgeKind::Requires,
            }),
            waited: Some(Duration::from_micros(12_345)),
            time_to_ready: None,
            restarts: 0,
        };
        assert!(
            serde_json::to_string(&event)
                .unwrap()
                .contains(r#""waited_ms":12.345"#)
        );
        let text = serde_json::to_string(&event).unwrap();
        let Record::Event(back) = serde_json::from_str(&text).unwrap() else {
            panic!("{text} read back as a header");
        };
        // Microseconds survive; the monotonic moment is placed, not carried.
        assert_eq!(back.seq, 11);
        assert_eq!(back.released_by, event.released_by);
        assert_eq!(serde_json::to_string(&back).unwrap(), text);
    }
}
