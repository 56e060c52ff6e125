//! Where each component's start time went ([`Blame`]), and the one-line summary of a run's
//! start ([`Summary`]).

use super::timeline::{ComponentTimeline, Timeline};
use super::{ms, span};
use crate::{ReadinessError, State};
use serde::Serialize;
use std::fmt::Write;
use std::str::FromStr;
use std::time::Duration;

/// One component's start, split so that the parts add up:
/// `total = waiting + retrying + own_start` for a component that became ready.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blame {
    /// The component.
    pub component: String,
    /// How its start ended: `ready`, `completed`, `failed`, `blocked`, or its state while it
    /// is still starting.
    pub state: State,
    /// From the start of the run to ready (or to the failure).
    #[serde(rename = "total_ms", serialize_with = "ms::one")]
    pub total: Duration,
    /// Waiting for its dependencies, from the start of the run to its first spawn.
    #[serde(rename = "waiting_ms", serialize_with = "ms::one")]
    pub waiting: Duration,
    /// From its first spawn to the spawn of the attempt that became ready: failed attempts,
    /// backoff and waiting again.
    #[serde(rename = "retrying_ms", serialize_with = "ms::one")]
    pub retrying: Duration,
    /// Its own start: spawn to ready of the attempt that became ready (or to the failure).
    #[serde(rename = "own_start_ms", serialize_with = "ms::one")]
    pub own_start: Duration,
    /// Attempts before the one that settled.
    pub retries: usize,
    /// Its error, when its start failed or was blocked.
    pub error: Option<ReadinessError>,
}

impl Blame {
    fn of(component: &ComponentTimeline, until: Duration) -> Blame {
        let settled = component.settled();
        let last = settled.unwrap_or(component.attempts.len() - 1);
        let attempt = &component.attempts[last];
        let end = attempt.ready.or(attempt.ended).unwrap_or(until);
        let first_spawn = component.attempts[..=last].iter().find_map(|a| a.started);
        let waiting = first_spawn.unwrap_or(end);
        let own_start = attempt
            .started
            .map_or(Duration::ZERO, |s| end.saturating_sub(s));
        let state = match (settled, attempt.state) {
            (Some(_), State::Ready | State::Completed) => attempt.state,
            (Some(_), _) if attempt.ready.is_some() => State::Ready,
            (_, state) => state,
        };
        Blame {
            component: component.name.clone(),
            state,
            total: end,
            waiting,
            retrying: end.saturating_sub(waiting).saturating_sub(own_start),
            own_start,
            retries: last,
            error: (attempt.ready.is_none())
                .then(|| attempt.error.clone())
                .flatten(),
        }
    }
}

/// How `blame` orders its rows (each slowest first, ties by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlameOrder {
    /// By total time.
    #[default]
    Total,
    /// By time waiting for dependencies.
    Waiting,
    /// By own start time.
    Start,
    /// By retries.
    Retries,
    /// By name, A to Z.
    Name,
}

impl FromStr for BlameOrder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "total" => BlameOrder::Total,
            "waiting" => BlameOrder::Waiting,
            "start" => BlameOrder::Start,
            "retries" => BlameOrder::Retries,
            "name" => BlameOrder::Name,
            other => {
                return Err(format!(
                    "unknown order `{other}` (total, waiting, start, retries, name)"
                ));
            }
        })
    }
}

impl Timeline {
    /// One row per component, in `order`.
    pub fn blame(&self, order: BlameOrder) -> Vec<Blame> {
        let mut rows: Vec<Blame> = self
            .components
            .iter()
            .map(|c| Blame::of(c, self.until))
            .collect();
        rows.sort_by(|a, b| {
            let key = |r: &Blame| match order {
                BlameOrder::Total => r.total,
                BlameOrder::Waiting => r.waiting,
                BlameOrder::Start => r.own_start,
                BlameOrder::Retries => Duration::from_secs(r.retries as u64),
                BlameOrder::Name => Duration::ZERO,
            };
            key(b)
                .cmp(&key(a))
                .then_with(|| a.component.cmp(&b.component))
        });
        rows
    }

    /// The start of the run in a few numbers.
    pub fn summary(&self) -> Summary {
        let last = self.last_settled();
        let chain = last.and_then(|c| self.chain(&c.name));
        let count = |state: State| {
            self.components
                .iter()
                .filter(|c| {
                    c.settled().is_some_and(|i| {
                        let a = &c.attempts[i];
                        a.ready.is_none() && a.state == state
                    })
                })
                .count()
        };
        let mut pending: Vec<String> = self
            .components
            .iter()
            .filter(|c| c.settled().is_none())
            .map(|c| c.name.clone())
            .collect();
        pending.sort();
        let finished = self.is_settled().then(|| {
            self.components
                .iter()
                .filter_map(|c| c.settled_at())
                .max()
                .unwrap_or_default()
        });
        let failures: Vec<ReadinessError> = self
            .components
            .iter()
            .filter_map(|c| {
                let a = &c.attempts[c.settled()?];
                a.ready.is_none().then(|| a.error.clone()).flatten()
            })
            .filter(|e| !e.is_blocked())
            .collect();
        Summary {
            finished,
            critical_path: chain.as_ref().map_or(Duration::ZERO, |c| c.critical_path()),
            components: self.components.len(),
            ready: self
                .components
                .iter()
                .filter(|c| c.settled().is_some_and(|i| c.attempts[i].ready.is_some()))
                .count(),
            failed: count(State::Failed),
            blocked: count(State::Blocked),
            restarts: self.components.iter().map(|c| c.restarts).sum(),
            last: last.map(|c| c.name.clone()),
            pending,
            elapsed: self.until,
            failures,
        }
    }
}

/// The rows as an aligned table, with a header.
pub fn render_blame(rows: &[Blame]) -> String {
    let mut cells = vec![[
        "TOTAL".to_string(),
        "WAITING".into(),
        "RETRYING".into(),
        "OWN START".into(),
        "RETRIES".into(),
        "COMPONENT".into(),
    ]];
    for row in rows {
        let mut name = row.component.clone();
        if !matches!(row.state, State::Ready | State::Completed) {
            let _ = write!(name, " ({})", row.state);
        }
        cells.push([
            span(row.total),
            span(row.waiting),
            span(row.retrying),
            span(row.own_start),
            row.retries.to_string(),
            name,
        ]);
    }
    let mut widths = [0usize; 6];
    for line in &cells {
        for (i, cell) in line.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in &cells {
        for (i, cell) in line.iter().enumerate().take(5) {
            let _ = write!(out, "{cell:>width$}  ", width = widths[i]);
        }
        out.push_str(&line[5]);
        out.push('\n');
    }
    out
}

/// The start of a run in a few numbers: [`Summary::line`] is `herald analyze time`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// When the last component's start ended, if every one has.
    #[serde(rename = "finished_ms", serialize_with = "ms::opt")]
    pub finished: Option<Duration>,
    /// The sum of the own start times on the chain of [`Summary::last`].
    #[serde(rename = "critical_path_ms", serialize_with = "ms::one")]
    pub critical_path: Duration,
    /// Components in the run.
    pub components: usize,
    /// How many became ready or completed.
    pub ready: usize,
    /// How many failed.
    pub failed: usize,
    /// How many were blocked.
    pub blocked: usize,
    /// Restarts the restart policy made.
    pub restarts: u32,
    /// The component whose start ended last.
    pub last: Option<String>,
    /// Those still starting.
    pub pending: Vec<String>,
    /// How far the timeline goes.
    #[serde(rename = "elapsed_ms", serialize_with = "ms::one")]
    pub elapsed: Duration,
    /// The errors of the components that failed (those blocked name them in their chain).
    pub failures: Vec<ReadinessError>,
}

impl Summary {
    /// `Startup finished in 4.812s (critical path 4.790s, 9 components, 1 restart)`, or
    /// `Startup failed in ...`, or `Startup not finished after ...`.
    pub fn line(&self) -> String {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let counts = format!(
            "critical path {}, {}, {}",
            span(self.critical_path),
            plural(self.components, "component"),
            plural(self.restarts as usize, "restart")
        );
        match self.finished {
            Some(at) if self.failed + self.blocked == 0 => {
                format!("Startup finished in {} ({counts})", span(at))
            }
            Some(at) => {
                let mut what = vec![format!("{} failed", self.failed)];
                if self.blocked > 0 {
                    what.push(format!("{} blocked", self.blocked));
                }
                format!(
                    "Startup failed in {} ({counts}, {})",
                    span(at),
                    what.join(", ")
                )
            }
            None => format!(
                "Startup not finished after {} ({} of {} ready; still starting: {})",
                span(self.elapsed),
                self.ready,
                self.components,
                self.pending.join(", ")
            ),
        }
    }

    /// The line, then what was reached last or what failed.
    pub fn render(&self) -> String {
        let mut out = self.line();
        out.push('\n');
        if let (true, Some(last), Some(_)) = (self.failures.is_empty(), &self.last, self.finished) {
            let _ = writeln!(out, "reached last: {last}");
        }
        for error in &self.failures {
            let _ = writeln!(out, "{error}");
        }
        out
    }
}
