//! A run's events as a timeline: per component, one [`Attempt`] per start, each with the
//! moments it waited, spawned, became ready and ended, measured from the start of the run.

use super::ms;
use crate::{Dependencies, EdgeKind, Event, ReadinessError, Record, Release, RunHeader, State};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

/// Why a timeline could not be made from an event log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimelineError {
    /// The log holds no run at all.
    #[error("the event log holds no run")]
    NoRun,
    /// The run asked for is not in the log.
    #[error("the event log holds no run {asked} (its runs: {known})")]
    UnknownRun {
        /// The run asked for.
        asked: u64,
        /// The runs it holds, as text (`1-4`, `7`).
        known: String,
    },
}

/// One start of one component: from the moment it began waiting for its dependencies to the
/// moment the run ended. Every moment is an offset from the start of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    /// When it began waiting: the start of the run for the first attempt, the `waiting`
    /// event for the next ones.
    #[serde(rename = "waiting_ms", serialize_with = "ms::one")]
    pub waiting: Duration,
    /// When its spawn began: the engine's own measure (the ready event's `time_to_ready`
    /// before it), else the `starting` event.
    #[serde(rename = "started_ms", serialize_with = "ms::opt")]
    pub started: Option<Duration>,
    /// When the `starting` event was published, once the spawn had returned: what a
    /// dependent released by this start (an `after` edge) saw.
    #[serde(rename = "spawned_ms", serialize_with = "ms::opt")]
    pub spawned: Option<Duration>,
    /// When it became ready or completed.
    #[serde(rename = "ready_ms", serialize_with = "ms::opt")]
    pub ready: Option<Duration>,
    /// When it began stopping.
    #[serde(rename = "stopping_ms", serialize_with = "ms::opt")]
    pub stopping: Option<Duration>,
    /// When it ended: completed, failed, blocked, stopped or restarting.
    #[serde(rename = "ended_ms", serialize_with = "ms::opt")]
    pub ended: Option<Duration>,
    /// The state it is in, or ended in.
    pub state: State,
    /// The dependency that released its start.
    pub released_by: Option<Release>,
    /// Its process id, where it had one.
    pub pid: Option<u32>,
    /// The error that ended it, if one did.
    pub error: Option<ReadinessError>,
}

impl Attempt {
    fn new(waiting: Duration) -> Attempt {
        Attempt {
            waiting,
            started: None,
            spawned: None,
            ready: None,
            stopping: None,
            ended: None,
            state: State::Waiting,
            released_by: None,
            pid: None,
            error: None,
        }
    }

    /// Time spent waiting for dependencies: from waiting to spawn (or to its end, if it never
    /// spawned).
    pub fn waited(&self) -> Option<Duration> {
        let until = self.started.or(self.ended)?;
        Some(until.saturating_sub(self.waiting))
    }

    /// Its own start: from spawn to ready or completed.
    pub fn own_start(&self) -> Option<Duration> {
        Some(self.ready?.saturating_sub(self.started?))
    }
}

/// One moment a component entered a state, in order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Change {
    /// When, from the start of the run.
    #[serde(rename = "at_ms", serialize_with = "ms::one")]
    pub at: Duration,
    /// The state entered.
    pub state: State,
    /// Which attempt it belongs to (an index into [`ComponentTimeline::attempts`]).
    pub attempt: usize,
}

/// Everything one component did during the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentTimeline {
    /// Its name.
    pub name: String,
    /// Its dependencies by kind, as the run's graph has them.
    pub dependencies: Dependencies,
    /// One per start, in order; the first begins with the run.
    pub attempts: Vec<Attempt>,
    /// Every state change, in order.
    pub changes: Vec<Change>,
    /// The restarts the restart policy made.
    pub restarts: u32,
}

impl ComponentTimeline {
    fn new(name: String, dependencies: Dependencies) -> ComponentTimeline {
        ComponentTimeline {
            name,
            dependencies,
            attempts: vec![Attempt::new(Duration::ZERO)],
            changes: Vec::new(),
            restarts: 0,
        }
    }

    /// The state it is in now.
    pub fn state(&self) -> State {
        self.changes.last().map_or(State::Waiting, |c| c.state)
    }

    /// Every dependency with its kind.
    pub fn edges(&self) -> impl Iterator<Item = (&str, EdgeKind)> {
        // `uses` releases no start: it is no edge of the timeline.
        EdgeKind::ALL
            .into_iter()
            .filter(|kind| kind.orders_start())
            .flat_map(|kind| {
                self.dependencies
                    .of(kind)
                    .iter()
                    .map(move |d| (d.as_str(), kind))
            })
    }

    /// How its start ended: the index of the first attempt that became ready or completed,
    /// else of the attempt that failed or was blocked for good, else `None` (still starting).
    pub fn settled(&self) -> Option<usize> {
        if let Some(i) = self.attempts.iter().position(|a| a.ready.is_some()) {
            return Some(i);
        }
        self.attempts
            .iter()
            .position(|a| matches!(a.state, State::Failed | State::Blocked))
    }

    /// When its start ended (ready, completed, failed or blocked), from the start of the run.
    pub fn settled_at(&self) -> Option<Duration> {
        let attempt = &self.attempts[self.settled()?];
        attempt.ready.or(attempt.ended)
    }

    /// The last moment at or before `at` that it entered `state`.
    pub fn entered(&self, state: State, at: Duration) -> Option<Change> {
        self.changes
            .iter()
            .rev()
            .find(|c| c.state == state && c.at <= at)
            .copied()
    }

    fn push(&mut self, at: Duration, event: &Event) {
        let state = event.state;
        let current = self.attempts.last().expect("one attempt at least");
        if state == State::Waiting && (current.started.is_some() || current.ended.is_some()) {
            self.attempts.push(Attempt::new(at));
        }
        self.restarts = self.restarts.max(event.restarts);
        let attempt = self.attempts.last_mut().expect("one attempt at least");
        attempt.state = state;
        if event.pid.is_some() {
            attempt.pid = event.pid;
        }
        match state {
            State::Waiting => {}
            State::Starting => {
                attempt.started = Some(at);
                attempt.spawned = Some(at);
                attempt.released_by = event.released_by.clone();
            }
            State::Ready | State::Completed => {
                if attempt.ready.is_none() {
                    attempt.ready = Some(at);
                    // The spawn began `time_to_ready` before: the spawn itself is part of
                    // the component's own start, as `status` counts it.
                    if let (Some(took), Some(spawned)) = (event.time_to_ready, attempt.spawned) {
                        let began = at.saturating_sub(took).max(attempt.waiting);
                        attempt.started = Some(began.min(spawned));
                    }
                }
                if state == State::Completed {
                    attempt.ended = Some(at);
                }
            }
            State::Stopping => {
                attempt.stopping.get_or_insert(at);
            }
            State::Failed | State::Blocked | State::Stopped | State::Restarting => {
                attempt.ended.get_or_insert(at);
            }
            // Still up: the attempt's ready phase goes on.
            State::Reloading | State::Degraded => {}
        }
        if let Some(error) = &event.error {
            attempt.error = Some((**error).clone());
        }
        let index = self.attempts.len() - 1;
        self.changes.push(Change {
            at,
            state,
            attempt: index,
        });
    }
}

/// A run of a stack as a timeline: what each component did and when.
///
/// Build one from a run's header and its events ([`Timeline::new`] then [`Timeline::push`],
/// as they come from [`Running::subscribe`](crate::Running::subscribe)), or from an event log
/// read back ([`Timeline::from_records`]). Times are kept to the microsecond, as the event log
/// writes them, so a timeline made live and one made from the log agree exactly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// The stack's name.
    pub stack: String,
    /// The run.
    pub run: u64,
    /// When the run began.
    #[serde(serialize_with = "ms::time")]
    pub began: SystemTime,
    /// The last moment the timeline knows of, from the start of the run: the last event, or
    /// later if [`Timeline::extend_to`] said so (a run still going).
    #[serde(rename = "until_ms", serialize_with = "ms::one")]
    pub until: Duration,
    /// Every component, in dependency order (dependencies first; among equals, by name).
    pub components: Vec<ComponentTimeline>,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl Timeline {
    /// An empty timeline for the run `header` opens.
    pub fn new(header: &RunHeader) -> Timeline {
        let mut timeline = Timeline {
            stack: header.stack.clone(),
            run: header.run,
            began: micros(header.time),
            until: Duration::ZERO,
            components: Vec::new(),
            index: HashMap::new(),
        };
        for name in dependency_order(&header.graph) {
            let deps = header.graph[&name].clone();
            timeline.add(name, deps);
        }
        timeline
    }

    /// The timeline of run `run` (the last one if `None`) of an event log's records.
    pub fn from_records(records: &[Record], run: Option<u64>) -> Result<Timeline, TimelineError> {
        let headers: Vec<&RunHeader> = records
            .iter()
            .filter_map(|r| match r {
                Record::Run(h) => Some(h),
                Record::Event(_) => None,
            })
            .collect();
        let header = match run {
            None => *headers.last().ok_or(TimelineError::NoRun)?,
            Some(asked) => match headers.iter().find(|h| h.run == asked) {
                Some(h) => h,
                None if headers.is_empty() => return Err(TimelineError::NoRun),
                None => {
                    return Err(TimelineError::UnknownRun {
                        asked,
                        known: ranges(headers.iter().map(|h| h.run)),
                    });
                }
            },
        };
        let mut timeline = Timeline::new(header);
        for record in records {
            if let Record::Event(event) = record
                && event.run == header.run
                && event.seq > header.seq
            {
                timeline.push(event);
            }
        }
        Ok(timeline)
    }

    /// Adds one event (of this run; others are ignored).
    pub fn push(&mut self, event: &Event) {
        if event.run != self.run {
            return;
        }
        let at = micros(event.time)
            .duration_since(self.began)
            .unwrap_or_default();
        self.until = self.until.max(at);
        let idx = match self.index.get(&*event.component) {
            Some(&idx) => idx,
            None => self.add(event.component.to_string(), Dependencies::default()),
        };
        self.components[idx].push(at, event);
    }

    /// Says the run was observed until `until` (a run still going: its open slices last to
    /// now).
    pub fn extend_to(&mut self, until: SystemTime) {
        let at = micros(until).duration_since(self.began).unwrap_or_default();
        self.until = self.until.max(at);
    }

    /// The component named `name`.
    pub fn component(&self, name: &str) -> Option<&ComponentTimeline> {
        self.index.get(name).map(|&i| &self.components[i])
    }

    /// The position of the component named `name` in [`Timeline::components`].
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Whether every component's start has ended (ready, completed, failed or blocked).
    pub fn is_settled(&self) -> bool {
        self.components.iter().all(|c| c.settled().is_some())
    }

    /// The absolute time of an offset from the start of the run.
    pub fn time_of(&self, at: Duration) -> SystemTime {
        self.began + at
    }

    fn add(&mut self, name: String, deps: Dependencies) -> usize {
        let idx = self.components.len();
        self.index.insert(name.clone(), idx);
        self.components.push(ComponentTimeline::new(name, deps));
        idx
    }
}

/// A time cut to whole microseconds, as the event log keeps it.
fn micros(time: SystemTime) -> SystemTime {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    SystemTime::UNIX_EPOCH + Duration::from_micros(since.as_micros() as u64)
}

/// The names in dependency order: each after everything it depends on, ties by name.
fn dependency_order(graph: &BTreeMap<String, Dependencies>) -> Vec<String> {
    let all_deps = |d: &Dependencies| {
        // Only the edges that order a start: a cycle through `uses` is allowed.
        let mut v: Vec<String> = EdgeKind::ALL
            .iter()
            .filter(|k| k.orders_start())
            .flat_map(|k| d.of(*k).iter().cloned())
            .filter(|n| graph.contains_key(n))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let mut left: BTreeMap<&str, usize> = BTreeMap::new();
    let mut dependents: HashMap<String, Vec<&str>> = HashMap::new();
    for (name, deps) in graph {
        let deps = all_deps(deps);
        left.insert(name, deps.len());
        for dep in deps {
            dependents.entry(dep).or_default().push(name);
        }
    }
    let mut ready: std::collections::BTreeSet<&str> = left
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(name, _)| *name)
        .collect();
    let mut order = Vec::with_capacity(graph.len());
    while let Some(name) = ready.pop_first() {
        order.push(name.to_string());
        for dependent in dependents.get(name).into_iter().flatten() {
            let n = left.get_mut(dependent).expect("known");
            *n -= 1;
            if *n == 0 {
                ready.insert(dependent);
            }
        }
    }
    // A cycle cannot pass validation; should one be here anyway, its members come last.
    for name in graph.keys() {
        if !order.contains(name) {
            order.push(name.clone());
        }
    }
    order
}

/// Run numbers as ranges: `1-4, 7`.
fn ranges(runs: impl Iterator<Item = u64>) -> String {
    let mut runs: Vec<u64> = runs.collect();
    runs.sort_unstable();
    runs.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < runs.len() {
        let mut j = i;
        while j + 1 < runs.len() && runs[j + 1] == runs[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            runs[i].to_string()
        } else {
            format!("{}-{}", runs[i], runs[j])
        });
        i = j + 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_come_first_and_runs_read_as_ranges() {
        let mut graph = BTreeMap::new();
        let deps = |r: &[&str]| Dependencies {
            requires: r.iter().map(|s| s.to_string()).collect(),
            ..Dependencies::default()
        };
        graph.insert("web".to_string(), deps(&["api"]));
        graph.insert("api".to_string(), deps(&["db"]));
        graph.insert("db".to_string(), deps(&[]));
        graph.insert("cache".to_string(), deps(&[]));
        assert_eq!(dependency_order(&graph), ["cache", "db", "api", "web"]);
        assert_eq!(ranges([7, 1, 2, 3, 4].into_iter()), "1-4, 7");
    }
}
