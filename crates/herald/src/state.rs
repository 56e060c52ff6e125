//! Component states and the status a signal carries.

use crate::ReadinessError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a component is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for its dependencies.
    Waiting,
    /// Spawned; readiness checks running.
    Starting,
    /// A service whose readiness checks passed.
    Ready,
    /// A oneshot that finished successfully.
    Completed,
    /// Failed for good (start limit reached, or `restart = "no"`).
    Failed,
    /// A hard dependency failed for good; never started.
    Blocked,
    /// Exited or failed a start; waiting out the restart backoff.
    Restarting,
    /// Being stopped.
    Stopping,
    /// Stopped.
    Stopped,
    /// A ready notify service reloading its configuration (`RELOADING=1`), until its next
    /// `READY=1`. Still up: dependents are not restarted.
    Reloading,
    /// A ready service whose `live` check fails with `action = "degrade"`: still up, its
    /// dependents keep running, until the check passes again.
    Degraded,
}

impl State {
    /// Every state, in life order.
    pub const ALL: [State; 11] = [
        State::Waiting,
        State::Starting,
        State::Ready,
        State::Completed,
        State::Failed,
        State::Blocked,
        State::Restarting,
        State::Stopping,
        State::Stopped,
        State::Reloading,
        State::Degraded,
    ];

    /// The lowercase name used in the event log and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Starting => "starting",
            State::Ready => "ready",
            State::Completed => "completed",
            State::Failed => "failed",
            State::Blocked => "blocked",
            State::Restarting => "restarting",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
            State::Reloading => "reloading",
            State::Degraded => "degraded",
        }
    }

    /// Ready or completed, or a ready service reloading or degraded: what a hard dependency
    /// must be, and what keeps a `binds_to` dependent running.
    pub fn is_up(self) -> bool {
        matches!(
            self,
            State::Ready | State::Completed | State::Reloading | State::Degraded
        )
    }

    /// Ready or completed, and nothing short of it: what a health endpoint reports as ready.
    pub fn is_ready(self) -> bool {
        matches!(self, State::Ready | State::Completed)
    }

    /// Failed or blocked: a final failure that blocks hard dependents.
    pub fn is_failed(self) -> bool {
        matches!(self, State::Failed | State::Blocked)
    }

    /// Nothing of the component is running, and nothing will be unless it is started again.
    pub fn is_down(self) -> bool {
        matches!(
            self,
            State::Stopped | State::Failed | State::Blocked | State::Completed
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The current status of one component, as its signal carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The state.
    pub state: State,
    /// The process id, for a process component that is running.
    pub pid: Option<u32>,
    /// The error of the last failed start, or of the final failure or block.
    pub error: Option<Arc<ReadinessError>>,
    /// How many times its restart policy started the component again after an exit or a
    /// failed start. A restart asked for (`restart`, a `binds_to` dependency's restart) is not
    /// counted, as docker's `RestartCount` and systemd's `NRestarts` do not count one.
    pub restarts: u32,
    /// When the current state began.
    pub since: Instant,
    /// When the current run was spawned.
    pub started_at: Option<Instant>,
    /// Time the last start spent waiting for dependencies.
    pub waited: Option<Duration>,
    /// Time from spawn to ready (or completed) in the last start.
    pub time_to_ready: Option<Duration>,
    /// The free-form status text the component reported last (`STATUS=` for notify).
    pub detail: Option<String>,
}

impl Status {
    pub(crate) fn new() -> Self {
        Self {
            state: State::Waiting,
            pid: None,
            error: None,
            restarts: 0,
            since: tokio::time::Instant::now().into_std(),
            started_at: None,
            waited: None,
            time_to_ready: None,
            detail: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde() {
        for state in State::ALL {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
            assert_eq!(serde_json::from_str::<State>(&json).unwrap(), state);
        }
    }

    #[test]
    fn classes_do_not_overlap_wrongly() {
        for state in State::ALL {
            assert!(!(state.is_up() && state.is_failed()), "{state}");
        }
        assert!(State::Completed.is_up() && State::Completed.is_down());
    }
}
