//! The chain that released a component: from it, through the dependency whose change let each
//! start go (the `released_by` of every `starting` event, so nothing is guessed from times),
//! down to a component that waited for nothing.

use super::timeline::{ComponentTimeline, Timeline};
use super::{ms, span};
use crate::{EdgeKind, ReadinessError, State};
use serde::Serialize;
use std::fmt::Write;
use std::time::Duration;

/// One component on a chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    /// The component.
    pub component: String,
    /// How its start ended: `ready`, `completed`, `failed`, `blocked`, or `starting` (still
    /// going, or reached through an `after` edge, which waits for the spawn only).
    pub state: State,
    /// Which of its attempts.
    pub attempt: usize,
    /// When it reached that state, from the start of the run (systemd's `@`).
    #[serde(rename = "at_ms", serialize_with = "ms::one")]
    pub at: Duration,
    /// Its own start: spawn to `at` (systemd's `+`); `None` if it never spawned, or if the
    /// link is its spawn (an `after` edge).
    #[serde(rename = "own_start_ms", serialize_with = "ms::opt")]
    pub own_start: Option<Duration>,
    /// How long it waited for its dependencies before its spawn.
    #[serde(rename = "waited_ms", serialize_with = "ms::one")]
    pub waited: Duration,
    /// The dependency it waited on last (the next link), and the edge's kind.
    pub on: Option<(String, EdgeKind)>,
    /// Its error, for a failed or blocked component.
    pub error: Option<ReadinessError>,
}

/// The chain that bounded one component's start, the component first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chain {
    /// The links, from the component down to the first that waited on nothing.
    pub links: Vec<Link>,
}

impl Chain {
    /// The critical path's length: the sum of the own start times along the chain.
    pub fn critical_path(&self) -> Duration {
        self.links.iter().filter_map(|l| l.own_start).sum()
    }

    /// systemd's rendering: the two header lines, then one line per link, each indented under
    /// the one it released:
    ///
    /// ```text
    /// apiserver @3.102s +1.210s (waited 1.892s on etcd, requires)
    /// └─etcd @1.892s +0.312s (waited 1.580s on containerd, requires)
    /// ```
    pub fn render(&self) -> String {
        let mut out = String::from(
            "The time when the component became ready is printed after the \"@\" character.\n\
             The time the component took to start is printed after the \"+\" character.\n\n",
        );
        for (depth, link) in self.links.iter().enumerate() {
            let indent = if depth == 0 {
                String::new()
            } else {
                format!("{}└─", "  ".repeat(depth - 1))
            };
            let _ = write!(out, "{indent}{}", link.component);
            match link.state {
                State::Ready | State::Completed => {}
                State::Starting if link.own_start.is_none() => out.push_str(" started"),
                other => {
                    let _ = write!(out, " {other}");
                }
            }
            let _ = write!(out, " @{}", span(link.at));
            if let Some(own) = link.own_start {
                let _ = write!(out, " +{}", span(own));
            }
            if let Some((dep, kind)) = &link.on {
                let _ = write!(
                    out,
                    " (waited {} on {dep}, {})",
                    span(link.waited),
                    kind.as_str()
                );
            } else if link.waited >= Duration::from_millis(1) {
                let _ = write!(out, " (waited {})", span(link.waited));
            }
            out.push('\n');
            if let Some(error) = &link.error {
                let pad = " ".repeat(indent.chars().count() + 2);
                // A blocked link's cause is the next link: its own level is enough.
                let text = error.to_string();
                let levels = if link.state == State::Blocked {
                    1
                } else {
                    usize::MAX
                };
                for line in text.lines().take(levels) {
                    let _ = writeln!(out, "{pad}{line}");
                }
            }
        }
        out
    }
}

impl Timeline {
    /// The component whose start ended last: the last to be ready or completed, else the last
    /// to fail or be blocked, else the last to spawn.
    pub fn last_settled(&self) -> Option<&ComponentTimeline> {
        let ready = |c: &&ComponentTimeline| {
            c.settled()
                .and_then(|i| c.attempts[i].ready)
                .map(|at| (at, c.name.clone()))
        };
        let settled = |c: &&ComponentTimeline| c.settled_at().map(|at| (at, c.name.clone()));
        let started = |c: &&ComponentTimeline| {
            c.attempts
                .iter()
                .filter_map(|a| a.started)
                .max()
                .map(|at| (at, c.name.clone()))
        };
        self.components
            .iter()
            .max_by_key(|c| ready(c))
            .filter(|c| ready(c).is_some())
            .or_else(|| {
                self.components
                    .iter()
                    .max_by_key(|c| settled(c))
                    .filter(|c| settled(c).is_some())
            })
            .or_else(|| self.components.iter().max_by_key(|c| started(c)))
    }

    /// The chain that bounded the start of `name` (`None`: the component is not in the run).
    pub fn chain(&self, name: &str) -> Option<Chain> {
        let first = self.component(name)?;
        let attempt = first
            .settled()
            .unwrap_or(first.attempts.len().saturating_sub(1));
        let mut links = Vec::new();
        let mut next = Some((first, attempt, None::<Duration>));
        // A chain is at most as long as the run has attempts; the bound only guards a log
        // that was tampered with.
        let bound: usize = self.components.iter().map(|c| c.attempts.len()).sum();
        while let Some((component, attempt, reached)) = next.take() {
            if links.len() > bound {
                break;
            }
            let link = link(component, attempt, reached, self.until);
            next = link.on.as_ref().and_then(|(dep, _)| {
                let dep_component = self.component(dep)?;
                let a = &component.attempts[attempt];
                let (state, before) = match (&a.released_by, a.spawned) {
                    (Some(release), Some(spawned)) => (release.state, spawned),
                    // Blocked: the failure that blocked it.
                    _ => (dep_state(dep_component), a.ended.unwrap_or(self.until)),
                };
                let change = dep_component
                    .entered(state, before)
                    .or_else(|| dep_component.changes.last().copied())?;
                Some((dep_component, change.attempt, Some(change.at)))
            });
            links.push(link);
        }
        Some(Chain { links })
    }
}

/// How a blocked component's failed dependency ended.
fn dep_state(dep: &ComponentTimeline) -> State {
    match dep.state() {
        State::Blocked => State::Blocked,
        _ => State::Failed,
    }
}

/// One link: `attempt` of `component`, reached at `reached` if a dependent was released by it
/// then (for an `after` edge, its spawn).
fn link(
    component: &ComponentTimeline,
    attempt: usize,
    reached: Option<Duration>,
    until: Duration,
) -> Link {
    let a = &component.attempts[attempt];
    let (state, at) = match (reached, a.ready) {
        (Some(at), _) if Some(at) == a.spawned => (State::Starting, at),
        (_, Some(ready)) => {
            let state = if a.state == State::Completed || a.ended == Some(ready) {
                State::Completed
            } else {
                State::Ready
            };
            (state, ready)
        }
        _ => match a.state {
            State::Failed | State::Blocked => (a.state, a.ended.unwrap_or(until)),
            _ => (State::Starting, until),
        },
    };
    // Reached through an `after` edge: only its spawn counted, not its start.
    let own_start = match reached {
        Some(r) if state == State::Starting && Some(r) == a.spawned => None,
        _ => a.started.map(|s| at.saturating_sub(s)),
    };
    let on = match (&a.released_by, &a.error) {
        (Some(release), _) => Some((release.component.clone(), release.edge)),
        (None, Some(error)) if a.state == State::Blocked => {
            let kind = match error.check.as_str() {
                "binds_to" => EdgeKind::BindsTo,
                _ => EdgeKind::Requires,
            };
            Some((error.target.clone(), kind))
        }
        _ => None,
    };
    let error = match a.state {
        State::Failed | State::Blocked if a.ready.is_none() => a.error.clone(),
        _ => None,
    };
    Link {
        component: component.name.clone(),
        state,
        attempt,
        at,
        own_start,
        waited: a.waited().unwrap_or_default(),
        on,
        error,
    }
}
