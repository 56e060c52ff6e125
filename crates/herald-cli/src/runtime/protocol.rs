//! The control socket's protocol: JSON lines over `<state_dir>/control.sock`.
//!
//! A client writes one [`Request`] per line and reads [`Reply`] lines. Most requests get one
//! reply; `wait`, `control` (an [`Action`]: start, stop, restart) and `down` answer once done. `logs` answers
//! `subscribed`, then streams `log` lines; `events` answers `subscribed`, then streams `event`
//! lines; both streams end when the stack stops. A stream that falls behind says `skipped`
//! with how many lines it left out, for the client to read them from the files.

use herald::{Action, Event, ReadinessError, State};
use serde::{Deserialize, Serialize};

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// Every component's row.
    Status,
    /// Resolve once every named component (all when empty) is ready or completed, one failed
    /// or was blocked, or `timeout_ms` passed.
    Wait {
        /// The components; empty for all.
        #[serde(default)]
        names: Vec<String>,
        /// Give up after this many milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Act on one component: `start` and `restart` answer once it is ready (or failed),
    /// `stop` once it is stopped (its `binds_to` dependents follow).
    Control {
        /// What to do.
        action: Action,
        /// The component.
        name: String,
    },
    /// Stop the whole stack in reverse dependency order; answer once all is stopped and the
    /// socket is gone.
    Down,
    /// Stream the live output lines of the named components (all when empty).
    Logs {
        /// The components; empty for all.
        #[serde(default)]
        names: Vec<String>,
    },
    /// Stream every state change.
    Events,
}

/// One row of `herald status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The component.
    pub name: String,
    /// Its state.
    pub state: State,
    /// Its process id while it runs.
    pub pid: Option<u32>,
    /// Time since the current run was spawned, while it runs.
    pub uptime_ms: Option<u64>,
    /// Time the last start waited for dependencies.
    pub waited_ms: Option<u64>,
    /// Time from spawn to ready (or completed) in the last start.
    pub time_to_ready_ms: Option<u64>,
    /// How many times its restart policy started it again after an exit or a failed start;
    /// a `herald restart` (or a `binds_to` dependency's restart) is not counted.
    pub restarts: u32,
    /// Readiness probe attempts (tcp, http, grpc, ...) spent on it since the stack started;
    /// none for a component that signals readiness itself (`notify`, `log`).
    #[serde(default)]
    pub probes: u32,
    /// The first line of the last error.
    pub last_error: Option<String>,
    /// The last error, structured.
    pub error: Option<ReadinessError>,
    /// How its run is contained, while it runs: `cgroup` or `process-group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containment: Option<String>,
    /// CPU time of its run's processes, in milliseconds (with cgroups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
    /// Memory its run's processes use, in bytes (with cgroups and their memory controller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// For a component of another node (`@node/component`): that node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Its status text (`STATUS=`; for a remote component, what its node published).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_text: Option<String>,
}

impl Row {
    /// The row with its run's containment and usage, as `host` tells them.
    pub fn with_usage(mut self, host: &herald::ProcessHost) -> Self {
        if let Some(usage) = host.usage(&self.name) {
            self.containment = Some(usage.containment.to_string());
            self.cpu_ms = usage.cpu_ms;
            self.memory_bytes = usage.memory_bytes;
        }
        self
    }
}

/// One captured output line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// RFC 3339 UTC with microseconds, as in the log files.
    pub time: String,
    /// The component.
    pub component: String,
    /// `out` or `err`.
    pub stream: String,
    /// The line, without its newline.
    pub text: String,
}

/// What the supervisor answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// The answer to `status`.
    Status {
        /// The stack's name.
        stack: String,
        /// The supervisor's process id.
        pid: u32,
        /// Every component of the running stack, in file order.
        components: Vec<Row>,
    },
    /// The request is done.
    Done,
    /// A component failed or was blocked (`wait`, `start`, `restart`).
    Failed {
        /// Why.
        error: ReadinessError,
    },
    /// The wait timed out; these were not ready yet.
    TimedOut {
        /// Each pending component and its state.
        pending: Vec<(String, State)>,
    },
    /// A name the running stack does not have.
    Unknown {
        /// The name asked for.
        name: String,
        /// The components of the running stack.
        names: Vec<String>,
    },
    /// A stream (`logs`, `events`) is set up; its lines follow.
    Subscribed,
    /// A live output line.
    Log(LogRecord),
    /// A state change, as the event log writes it.
    Event {
        /// The event.
        event: Event,
    },
    /// A stream (`logs`, `events`) fell behind and skipped this many lines; the files
    /// (`logs/<name>.log`, `events.jsonl`) have them.
    Skipped {
        /// How many lines were skipped.
        count: u64,
    },
    /// The request could not be served.
    Error {
        /// Why.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_are_tagged_json() {
        let wait = Request::Wait {
            names: vec!["etcd".into()],
            timeout_ms: Some(5000),
        };
        let text = serde_json::to_string(&wait).unwrap();
        assert_eq!(text, r#"{"op":"wait","names":["etcd"],"timeout_ms":5000}"#);
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), wait);
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"op":"wait"}"#).unwrap(),
            Request::Wait {
                names: vec![],
                timeout_ms: None
            }
        );
        let reply = Reply::TimedOut {
            pending: vec![("etcd".into(), State::Starting)],
        };
        let text = serde_json::to_string(&reply).unwrap();
        assert_eq!(
            text,
            r#"{"reply":"timed_out","pending":[["etcd","starting"]]}"#
        );
        assert_eq!(serde_json::from_str::<Reply>(&text).unwrap(), reply);
        let restart = Request::Control {
            action: Action::Restart,
            name: "web".into(),
        };
        let text = serde_json::to_string(&restart).unwrap();
        assert_eq!(text, r#"{"op":"control","action":"restart","name":"web"}"#);
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), restart);
    }
}
