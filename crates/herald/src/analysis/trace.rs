//! A run as a Chrome JSON trace, as Perfetto and `chrome://tracing` load it: one track per
//! component (named, in dependency order), `X` slices for each attempt's phases, a flow arrow
//! from each dependency's ready to the dependent's spawn, instants for restarts and failures.
//! `ts` is in microseconds since the epoch, so traces of several machines line up.

use super::timeline::{Attempt, ComponentTimeline, Timeline};
use crate::{EdgeKind, State};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

/// The process id every track shares.
const PID: u64 = 1;

/// One phase of an attempt, as a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase {
    /// `waiting`, `starting`, `ready`, `completed` or `stopping`.
    pub name: &'static str,
    /// From, from the start of the run.
    pub from: Duration,
    /// To.
    pub to: Duration,
}

impl Attempt {
    /// The attempt's phases, in order, each ending where the next begins; `until` ends a
    /// phase still going.
    pub fn phases(&self, until: Duration) -> Vec<Phase> {
        let mut marks: Vec<(&'static str, Duration)> = vec![("waiting", self.waiting)];
        if let Some(at) = self.started {
            marks.push(("starting", at));
        }
        if let Some(at) = self.ready {
            let done = self.state == State::Completed || self.ended == Some(at);
            marks.push((if done { "completed" } else { "ready" }, at));
        }
        if let Some(at) = self.stopping {
            marks.push(("stopping", at));
        }
        let end = match self.ended {
            // A completed oneshot stays completed until the run ends or it runs again.
            Some(_) if self.state == State::Completed => until,
            Some(at) => at,
            None => until,
        };
        let mut phases = Vec::with_capacity(marks.len());
        for (i, &(name, from)) in marks.iter().enumerate() {
            let to = marks.get(i + 1).map_or(end, |m| m.1).max(from);
            if to > from || i + 1 == marks.len() {
                phases.push(Phase { name, from, to });
            }
        }
        phases
    }
}

fn micros(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64
}

/// Where a dependency released a start it saw at `seen` (the `starting` event): the last
/// moment before that it entered a state the edge waits for.
pub(crate) fn release_moment(
    dep: &ComponentTimeline,
    kind: EdgeKind,
    seen: Duration,
) -> Option<Duration> {
    let states: &[State] = match kind {
        EdgeKind::Requires | EdgeKind::BindsTo => &[State::Ready, State::Completed],
        EdgeKind::Wants => &[State::Ready, State::Completed, State::Failed],
        EdgeKind::After => &[State::Starting],
        // A lazy dependency releases no start.
        EdgeKind::Uses => &[],
    };
    states
        .iter()
        .filter_map(|s| dep.entered(*s, seen))
        .map(|c| c.at)
        .max()
}

impl Timeline {
    /// The Chrome JSON trace of the run: `{"traceEvents": [...], "displayTimeUnit": "ms"}`.
    pub fn trace(&self) -> Value {
        let began = micros(self.began);
        let ts = |at: Duration| began + at.as_micros() as u64;
        let tid = |i: usize| i as u64 + 1;
        let mut events = vec![json!({
            "ph": "M", "name": "process_name", "pid": PID,
            "args": {"name": format!("herald {} (run {})", self.stack, self.run)},
        })];
        let mut flows = 0u64;
        for (i, component) in self.components.iter().enumerate() {
            events.push(json!({
                "ph": "M", "name": "thread_name", "pid": PID, "tid": tid(i),
                "args": {"name": component.name},
            }));
            events.push(json!({
                "ph": "M", "name": "thread_sort_index", "pid": PID, "tid": tid(i),
                "args": {"sort_index": i},
            }));
            for (n, attempt) in component.attempts.iter().enumerate() {
                for phase in attempt.phases(self.until) {
                    let mut args = json!({"attempt": n + 1});
                    if phase.name == "starting" {
                        args["pid"] = json!(attempt.pid);
                        if let Some(r) = &attempt.released_by {
                            args["released_by"] = json!(r);
                        }
                    }
                    events.push(json!({
                        "ph": "X", "name": phase.name, "cat": "herald", "pid": PID,
                        "tid": tid(i), "ts": ts(phase.from),
                        "dur": (phase.to - phase.from).as_micros() as u64, "args": args,
                    }));
                }
                if let (State::Restarting | State::Failed | State::Blocked, Some(at)) =
                    (attempt.state, attempt.ended)
                {
                    let name = match attempt.state {
                        State::Restarting => "restart",
                        State::Failed => "failed",
                        _ => "blocked",
                    };
                    events.push(json!({
                        "ph": "i", "s": "t", "name": name, "cat": "herald", "pid": PID,
                        "tid": tid(i), "ts": ts(at),
                        "args": {"attempt": n + 1, "error": attempt.error},
                    }));
                }
                let (Some(started), Some(spawned)) = (attempt.started, attempt.spawned) else {
                    continue;
                };
                for (dep, kind) in component.edges() {
                    let Some(d) = self.index_of(dep) else {
                        continue;
                    };
                    let Some(at) = release_moment(&self.components[d], kind, spawned) else {
                        continue;
                    };
                    flows += 1;
                    let name = kind.as_str();
                    events.push(json!({
                        "ph": "s", "id": flows, "name": name, "cat": "dependency",
                        "pid": PID, "tid": tid(d), "ts": ts(at),
                    }));
                    events.push(json!({
                        "ph": "f", "bp": "e", "id": flows, "name": name, "cat": "dependency",
                        "pid": PID, "tid": tid(i), "ts": ts(started),
                    }));
                }
            }
        }
        json!({"traceEvents": events, "displayTimeUnit": "ms"})
    }
}
