//! `live`: a check that keeps running after a service is ready, and what a run of failures
//! leads to: a restart (under the restart policy and the start limit), or the `degraded`
//! state until the check passes again.
//!
//! ```
//! use herald::probe::TcpProbe;
//! use herald::{Check, LiveAction, LiveSpec};
//! use std::time::Duration;
//!
//! let live = LiveSpec::new(Check::Tcp(TcpProbe::new("127.0.0.1:6379")?))?
//!     .period(Duration::from_secs(5))
//!     .action(LiveAction::Degrade);
//! assert_eq!(live.failures, 3);
//! let read: LiveSpec = serde_json::from_str(r#"{"tcp": "127.0.0.1:6379", "period": "5s", "action": "degrade"}"#)?;
//! assert_eq!(read, live);
//! assert!(serde_json::from_str::<LiveSpec>(r#"{"notify": true}"#).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::ready::Check;
use crate::probe::InvalidProbe;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What a run of failed `live` checks leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LiveAction {
    /// The run has failed (check `live`): it is stopped, and the restart policy decides.
    #[default]
    Restart,
    /// The component is `degraded` (still up) until the check passes again.
    Degrade,
}

/// A check after ready: probed every `period`, each attempt bounded by `timeout`; `failures`
/// consecutive failures lead to `action`. Nothing is probed while no `live` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "super::form::LiveForm", into = "super::form::LiveForm")]
pub struct LiveSpec {
    /// The check: `http`, `tcp`, `exec`, `grpc` or `unix`.
    pub check: Check,
    /// Time between attempts (default 10 s).
    pub period: Duration,
    /// The limit of one attempt (default 2 s).
    pub timeout: Duration,
    /// How many consecutive failures count (default 3).
    pub failures: u32,
    /// What they lead to (default a restart).
    pub action: LiveAction,
}

impl LiveSpec {
    /// The default period.
    pub const PERIOD: Duration = Duration::from_secs(10);
    /// The default attempt timeout.
    pub const TIMEOUT: Duration = Duration::from_secs(2);
    /// The default number of consecutive failures.
    pub const FAILURES: u32 = 3;

    /// `check` with the defaults.
    ///
    /// # Errors
    /// A check the process signals itself (`notify`, `log`) or that cannot fail once it
    /// passed (`file`): only `http`, `tcp`, `exec`, `grpc` and `unix` can be probed after ready.
    pub fn new(check: Check) -> Result<LiveSpec, InvalidProbe> {
        match check {
            Check::Http(_) | Check::Tcp(_) | Check::Exec(_) | Check::Grpc(_) | Check::Unix(_) => {
                Ok(LiveSpec {
                    check,
                    period: Self::PERIOD,
                    timeout: Self::TIMEOUT,
                    failures: Self::FAILURES,
                    action: LiveAction::Restart,
                })
            }
            other => Err(InvalidProbe::new(format!(
                "a `{}` check cannot be used after ready (use http, tcp, exec, grpc or unix)",
                other.kind()
            ))),
        }
    }

    /// Sets the period.
    pub fn period(mut self, period: Duration) -> Self {
        self.period = period;
        self
    }

    /// Sets the attempt timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how many consecutive failures count (at least 1).
    pub fn failures(mut self, failures: u32) -> Self {
        self.failures = failures.max(1);
        self
    }

    /// Sets the action.
    pub fn action(mut self, action: LiveAction) -> Self {
        self.action = action;
        self
    }
}
