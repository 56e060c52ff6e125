//! `ready`: a component's readiness checks, each a typed value that was checked when it was
//! made.
//!
//! A [`ReadySpec`] is a list of [`Check`]s plus the deadline and the probe spacing. A check
//! holds what it needs to run: the outside ones (`tcp`, `http`, `exec`, `file`, `unix`,
//! `grpc`) hold their [`probe`](crate::probe), which refused any bad value when it was made;
//! `log` holds its compiled expression; `notify` needs nothing. So a spec that exists is a
//! spec that can run: nothing is validated again when it starts.
//!
//! The stack file's form (`{ tcp = "host:port", http = "URL", status = 200, ... }`, one key
//! per kind) is kept by serde: reading it makes the checks (every bad value reported at once),
//! writing it gives the same keys back.
//!
//! ```
//! use herald::probe::TcpProbe;
//! use herald::{Check, CheckKind, ReadySpec};
//!
//! let ready = ReadySpec::default()
//!     .with(Check::Notify)
//!     .with(Check::Tcp(TcpProbe::new("127.0.0.1:2379")?));
//! let kinds: Vec<CheckKind> = ready.checks().iter().map(Check::kind).collect();
//! assert_eq!(kinds, [CheckKind::Notify, CheckKind::Tcp]);
//! assert_eq!(ready.probes().len(), 1);
//!
//! let read: ReadySpec = serde_json::from_str(r#"{"notify": true, "tcp": "127.0.0.1:2379"}"#)?;
//! assert_eq!(read, ready);
//! let bad = serde_json::from_str::<ReadySpec>(r#"{"tcp": "2379", "status": 200}"#);
//! assert!(bad.unwrap_err().to_string().contains("ready.tcp: \"2379\" is not host:port"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::BackoffSpec;
use super::form::ReadyForm;
use crate::probe::{ExecProbe, FileProbe, GrpcProbe, HttpProbe, InvalidProbe, TcpProbe, UnixProbe};
use crate::{CheckKind, Probe};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// One readiness check. The outside checks hold their probe; each value was checked when it
/// was made.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// The process sends `READY=1` on `$NOTIFY_SOCKET`.
    Notify,
    /// A TCP connect to `host:port` succeeds.
    Tcp(TcpProbe),
    /// A GET answers 2xx (or the one status required).
    Http(HttpProbe),
    /// A command exits 0.
    Exec(ExecProbe),
    /// A path exists.
    File(FileProbe),
    /// A connect to a unix socket succeeds.
    Unix(UnixProbe),
    /// A line of stdout or stderr matches.
    Log(LogPattern),
    /// grpc.health.v1 Check answers SERVING.
    Grpc(GrpcProbe),
}

impl Check {
    /// The kind, as errors name it.
    pub fn kind(&self) -> CheckKind {
        match self {
            Check::Notify => CheckKind::Notify,
            Check::Tcp(_) => CheckKind::Tcp,
            Check::Http(_) => CheckKind::Http,
            Check::Exec(_) => CheckKind::Exec,
            Check::File(_) => CheckKind::File,
            Check::Unix(_) => CheckKind::Unix,
            Check::Log(_) => CheckKind::Log,
            Check::Grpc(_) => CheckKind::Grpc,
        }
    }

    /// The probe the engine runs for an outside check; `None` for `notify` and `log`, which
    /// the process signals itself.
    pub fn probe(&self) -> Option<Arc<dyn Probe>> {
        match self {
            Check::Notify | Check::Log(_) => None,
            Check::Tcp(probe) => Some(Arc::new(probe.clone())),
            Check::Http(probe) => Some(Arc::new(probe.clone())),
            Check::Exec(probe) => Some(Arc::new(probe.clone())),
            Check::File(probe) => Some(Arc::new(probe.clone())),
            Check::Unix(probe) => Some(Arc::new(probe.clone())),
            Check::Grpc(probe) => Some(Arc::new(probe.clone())),
        }
    }

    /// The position of this kind in the stack file's order, which the list keeps.
    pub(super) fn rank(&self) -> u8 {
        match self {
            Check::Notify => 0,
            Check::Tcp(_) => 1,
            Check::Http(_) => 2,
            Check::Exec(_) => 3,
            Check::File(_) => 4,
            Check::Unix(_) => 5,
            Check::Log(_) => 6,
            Check::Grpc(_) => 7,
        }
    }
}

/// A regular expression over output lines (`ready.log`), compiled when it is made.
#[derive(Clone)]
pub struct LogPattern(regex::bytes::Regex);

impl LogPattern {
    /// Compiles `pattern`; a bad expression is refused with the reason, on one line
    /// (`bad regular expression: unclosed group`).
    pub fn new(pattern: &str) -> Result<Self, InvalidProbe> {
        regex::bytes::Regex::new(pattern)
            .map(LogPattern)
            .map_err(|e| {
                // A syntax error is several lines: the pattern, a caret, then `error: <why>`.
                let text = e.to_string();
                let why = text
                    .lines()
                    .rev()
                    .find_map(|line| line.strip_prefix("error: "))
                    .unwrap_or(&text);
                InvalidProbe::new(format!("bad regular expression: {why}"))
            })
    }

    /// The expression, as written.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The compiled expression.
    pub fn regex(&self) -> &regex::bytes::Regex {
        &self.0
    }
}

impl PartialEq for LogPattern {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for LogPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/{}/", self.as_str())
    }
}

pub(super) fn default_probe_interval() -> BackoffSpec {
    BackoffSpec::PROBE
}

pub(super) fn default_ready_timeout() -> Duration {
    Duration::from_secs(60)
}

/// Readiness checks: all must pass; none means ready once spawned. At most one check of each
/// kind, kept in the stack file's order (notify, tcp, http, exec, file, unix, log, grpc).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ReadyForm", into = "ReadyForm")]
pub struct ReadySpec {
    pub(super) checks: Vec<Check>,
    /// Deadline from spawn; past it the start has failed.
    pub timeout: Duration,
    /// Probe spacing, growing from `initial` to `max`: each delay is `initial` plus a thirtieth
    /// of the time already spent probing ([`ProbeSpacing`](crate::ProbeSpacing)).
    pub interval: BackoffSpec,
}

impl Default for ReadySpec {
    fn default() -> Self {
        Self {
            checks: Vec::new(),
            timeout: default_ready_timeout(),
            interval: default_probe_interval(),
        }
    }
}

impl ReadySpec {
    /// These checks with `check` added, replacing a check of the same kind.
    pub fn with(mut self, check: Check) -> Self {
        self.add(check);
        self
    }

    /// Adds `check`, replacing a check of the same kind.
    pub fn add(&mut self, check: Check) {
        self.checks.retain(|c| c.rank() != check.rank());
        let at = self.checks.partition_point(|c| c.rank() < check.rank());
        self.checks.insert(at, check);
    }

    /// Removes the check of `kind`, if there is one.
    pub fn remove(&mut self, kind: &CheckKind) {
        self.checks.retain(|c| c.kind() != *kind);
    }

    /// The checks, in the stack file's order.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// Whether any readiness check is given.
    pub fn has_checks(&self) -> bool {
        !self.checks.is_empty()
    }

    /// Whether `notify` is one of the checks.
    pub fn notify(&self) -> bool {
        self.checks.contains(&Check::Notify)
    }

    /// The `log` expression, if it is one of the checks.
    pub fn log(&self) -> Option<&LogPattern> {
        self.checks.iter().find_map(|c| match c {
            Check::Log(pattern) => Some(pattern),
            _ => None,
        })
    }

    /// The probes of the outside checks, in order.
    pub fn probes(&self) -> Vec<Arc<dyn Probe>> {
        self.checks.iter().filter_map(Check::probe).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::TcpProbe;

    #[test]
    fn one_check_per_kind() {
        let first = TcpProbe::new("127.0.0.1:1").unwrap();
        let second = TcpProbe::new("127.0.0.1:2").unwrap();
        let ready = ReadySpec::default()
            .with(Check::Tcp(first))
            .with(Check::Notify)
            .with(Check::Tcp(second.clone()));
        assert_eq!(ready.checks(), [Check::Notify, Check::Tcp(second)]);
        let mut ready = ready;
        ready.remove(&CheckKind::Notify);
        assert!(!ready.notify());
        assert!(ReadySpec::default().probes().is_empty());
    }
}
