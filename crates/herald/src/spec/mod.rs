//! Component specifications, matching the stack file's component fields.
//!
//! A [`ComponentSpec`] says *what* a component is and what it needs; the engine decides *when*
//! it runs. Its values are typed: the readiness checks ([`ReadySpec`], a list of [`Check`]s) and
//! the stop signal ([`UnixSignal`]) were checked when they were made, so a spec is never found
//! wrong later. Specs deserialise from the stack file's form (unknown fields and bad values are
//! rejected) and can be built in code with the chained setters:
//!
//! ```
//! use herald::{ComponentSpec, Kind};
//! let spec = ComponentSpec::new("apiserver").requires(["etcd"]).wants(["cni"]);
//! assert_eq!(spec.kind, Kind::Service);
//! assert_eq!(spec.requires, vec!["etcd".to_string()]);
//! ```

mod form;
mod live;
mod ready;
mod signal;

pub use live::{LiveAction, LiveSpec};
pub use ready::{Check, LogPattern, ReadySpec};
pub use signal::{UnixSignal, UnknownSignal};

use crate::duration::serde_duration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Whether a component runs until stopped or runs to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Runs until stopped; `ready` once its readiness checks pass.
    #[default]
    Service,
    /// Runs to completion; `completed` when it exits successfully.
    Oneshot,
}

/// What to do when a component exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never restart: the first failure is final.
    No,
    /// Restart after a failed start or an unsuccessful exit.
    #[default]
    OnFailure,
    /// Restart after any exit, successful or not.
    Always,
}

/// The bounds of a growing delay, from `initial` to `max`, with jitter: doubling for restarts
/// ([`Backoff`](crate::Backoff)), growing with the time already waited for readiness probes
/// ([`ProbeSpacing`](crate::ProbeSpacing)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffSpec {
    /// The first delay.
    #[serde(with = "serde_duration")]
    pub initial: Duration,
    /// The largest delay.
    #[serde(with = "serde_duration")]
    pub max: Duration,
}

impl BackoffSpec {
    /// The default restart backoff: 100 ms growing to 30 s.
    pub const RESTART: BackoffSpec = BackoffSpec {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(30),
    };
    /// The default probe spacing: 5 ms growing to 500 ms (reached after about 15 s).
    pub const PROBE: BackoffSpec = BackoffSpec {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(500),
    };
}

impl Default for BackoffSpec {
    fn default() -> Self {
        Self::RESTART
    }
}

/// More failed starts than `burst` within `interval` make a component `failed` for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartLimit {
    /// How many failed starts are tolerated within `interval`.
    pub burst: u32,
    /// The sliding window over which failed starts are counted.
    #[serde(with = "serde_duration")]
    pub interval: Duration,
}

impl Default for StartLimit {
    fn default() -> Self {
        Self {
            burst: 5,
            interval: Duration::from_secs(60),
        }
    }
}

fn default_stop_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_watchdog_signal() -> UnixSignal {
    UnixSignal::ABRT
}

/// `Option<Duration>` as an optional duration string (for `watchdog`).
mod serde_duration_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_str(&crate::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| crate::parse_duration(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// One component: what it runs, what it needs, how its readiness is judged.
///
/// Field names and defaults follow the stack file contract. `name` is not a field of the
/// stack file (the table key names the component), so it is skipped by serde.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentSpec {
    /// The component's unique name.
    #[serde(skip)]
    pub name: String,
    /// The argv of a process component (empty for in-process tasks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Extra environment variables for a process component.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Working folder of a process component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// The user a process component runs as (a name or a uid); herald must be root to
    /// switch. `None`: herald's own. See [`RunAs`](crate::RunAs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The group a process component runs as (a name or a gid); herald must be root to
    /// switch. `None`: the user's primary group, or herald's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Service or oneshot.
    #[serde(default)]
    pub kind: Kind,
    /// Hard dependencies: start once each is ready or completed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// Soft dependencies: start once each is ready, completed, failed, blocked or timed out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wants: Vec<String>,
    /// Ordering only: start once each has been started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// Like `requires`, and stopped and started again with the dependency.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binds_to: Vec<String>,
    /// Lazy dependencies: the start is not delayed; the component waits for one only where it
    /// needs it ([`Context::need`](crate::Context::need)), and stops before it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses: Vec<String>,
    /// The profiles the component belongs to: a front end that knows which profiles are
    /// active leaves it out unless one of these is (none: always in). The engine ignores it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// Readiness checks.
    #[serde(default)]
    pub ready: ReadySpec,
    /// What to do when the component exits.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// Delay between restarts.
    #[serde(default)]
    pub restart_backoff: BackoffSpec,
    /// When repeated failures become final.
    #[serde(default)]
    pub start_limit: StartLimit,
    /// The signal sent first on stop, to the whole process group.
    #[serde(default)]
    pub stop_signal: UnixSignal,
    /// Grace between the stop signal and SIGKILL (or, for a task, cancellation and abort).
    #[serde(default = "default_stop_timeout", with = "serde_duration")]
    pub stop_timeout: Duration,
    /// A check that keeps running after ready, and what its failures lead to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveSpec>,
    /// Retention of the component's log files.
    #[serde(default)]
    pub logs: crate::LogRetention,
    /// The watchdog period: once ready, the process must send `WATCHDOG=1` on the notify
    /// socket at least this often (it gets `WATCHDOG_USEC` and `WATCHDOG_PID`), or the run
    /// fails with check `watchdog`. `None`: no watchdog.
    #[serde(default, with = "serde_duration_opt")]
    pub watchdog: Option<Duration>,
    /// The signal sent when the watchdog fires, before SIGKILL after `stop_timeout`
    /// (default `SIGABRT`, as systemd's).
    #[serde(default = "default_watchdog_signal")]
    pub watchdog_signal: UnixSignal,
}

impl ComponentSpec {
    /// A service named `name` with every other field at its default.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            command: Vec::new(),
            env: BTreeMap::new(),
            cwd: None,
            user: None,
            group: None,
            kind: Kind::Service,
            requires: Vec::new(),
            wants: Vec::new(),
            after: Vec::new(),
            binds_to: Vec::new(),
            uses: Vec::new(),
            profiles: Vec::new(),
            ready: ReadySpec::default(),
            restart: RestartPolicy::default(),
            restart_backoff: BackoffSpec::default(),
            start_limit: StartLimit::default(),
            stop_signal: UnixSignal::TERM,
            stop_timeout: default_stop_timeout(),
            live: None,
            logs: crate::LogRetention::default(),
            watchdog: None,
            watchdog_signal: UnixSignal::ABRT,
        }
    }

    /// Sets the kind.
    pub fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the argv of a process component.
    pub fn command<I: IntoIterator<Item = S>, S: Into<String>>(mut self, argv: I) -> Self {
        self.command = argv.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the user (a name or a uid) the process runs as.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Sets the group (a name or a gid) the process runs as.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Adds hard dependencies.
    pub fn requires<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.requires.extend(names.into_iter().map(Into::into));
        self
    }

    /// Adds soft dependencies.
    pub fn wants<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.wants.extend(names.into_iter().map(Into::into));
        self
    }

    /// Adds ordering-only dependencies.
    pub fn after<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.after.extend(names.into_iter().map(Into::into));
        self
    }

    /// Adds bound dependencies.
    pub fn binds_to<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.binds_to.extend(names.into_iter().map(Into::into));
        self
    }

    /// Adds lazy dependencies.
    pub fn uses<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.uses.extend(names.into_iter().map(Into::into));
        self
    }

    /// Sets the readiness checks.
    pub fn ready(mut self, ready: ReadySpec) -> Self {
        self.ready = ready;
        self
    }

    /// Sets the readiness deadline, counted from spawn.
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready.timeout = timeout;
        self
    }

    /// Sets the restart policy.
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }

    /// Sets the restart backoff.
    pub fn restart_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.restart_backoff = BackoffSpec { initial, max };
        self
    }

    /// Sets the start limit.
    pub fn start_limit(mut self, burst: u32, interval: Duration) -> Self {
        self.start_limit = StartLimit { burst, interval };
        self
    }

    /// Sets the stop signal.
    pub fn stop_signal(mut self, signal: UnixSignal) -> Self {
        self.stop_signal = signal;
        self
    }

    /// Sets the stop timeout.
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Sets the check after ready.
    pub fn live(mut self, live: LiveSpec) -> Self {
        self.live = Some(live);
        self
    }

    /// Every dependency with its kind, in field order.
    pub fn dependencies(&self) -> impl Iterator<Item = (&str, crate::EdgeKind)> {
        use crate::EdgeKind::*;
        fn tag(
            names: &[String],
            kind: crate::EdgeKind,
        ) -> impl Iterator<Item = (&str, crate::EdgeKind)> {
            names.iter().map(move |n| (n.as_str(), kind))
        }
        tag(&self.requires, Requires)
            .chain(tag(&self.wants, Wants))
            .chain(tag(&self.after, After))
            .chain(tag(&self.binds_to, BindsTo))
            .chain(tag(&self.uses, Uses))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let spec = ComponentSpec::new("x");
        assert_eq!(spec.kind, Kind::Service);
        assert_eq!(spec.restart, RestartPolicy::OnFailure);
        assert_eq!(spec.restart_backoff.initial, Duration::from_millis(100));
        assert_eq!(spec.restart_backoff.max, Duration::from_secs(30));
        assert_eq!(spec.start_limit.burst, 5);
        assert_eq!(spec.start_limit.interval, Duration::from_secs(60));
        assert_eq!(spec.stop_signal, UnixSignal::TERM);
        assert_eq!(spec.stop_timeout, Duration::from_secs(10));
        assert_eq!(spec.ready.timeout, Duration::from_secs(60));
        assert_eq!(spec.ready.interval, BackoffSpec::PROBE);
        assert!(!spec.ready.has_checks());
    }

    #[test]
    fn deserialises_with_defaults_and_rejects_unknown_fields() {
        let json = r#"{"command": ["sleep", "1"], "requires": ["a"], "ready": {"tcp": "127.0.0.1:1", "timeout": "5s"}}"#;
        let spec: ComponentSpec = serde_json::from_str(json).unwrap();
        assert_eq!(spec.ready.timeout, Duration::from_secs(5));
        assert_eq!(spec.ready.interval, BackoffSpec::PROBE);
        assert_eq!(spec.stop_timeout, Duration::from_secs(10));
        assert_eq!(spec.ready.probes()[0].target(), "127.0.0.1:1");
        let bad = r#"{"command": ["x"], "requirez": ["a"]}"#;
        let err = serde_json::from_str::<ComponentSpec>(bad).unwrap_err();
        assert!(err.to_string().contains("requirez"), "{err}");
        let bad = r#"{"command": ["x"], "stop_signal": "SIGNOPE"}"#;
        let err = serde_json::from_str::<ComponentSpec>(bad).unwrap_err();
        assert!(err.to_string().contains("unknown signal"), "{err}");
        let written = serde_json::to_value(ComponentSpec::new("x").command(["x"])).unwrap();
        assert_eq!(written["stop_signal"], "SIGTERM");
    }
}
