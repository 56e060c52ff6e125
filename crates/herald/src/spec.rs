//! Plain-data component specifications, matching the stack file's component fields.
//!
//! A [`ComponentSpec`] says *what* a component is and what it needs; the engine decides *when*
//! it runs. Specs deserialise from the stack file (unknown fields are rejected) and can be built
//! in code with the chained setters:
//!
//! ```
//! use herald::{ComponentSpec, Kind};
//! let spec = ComponentSpec::new("apiserver").requires(["etcd"]).wants(["cni"]);
//! assert_eq!(spec.kind, Kind::Service);
//! assert_eq!(spec.requires, vec!["etcd".to_string()]);
//! ```

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

fn default_probe_interval() -> BackoffSpec {
    BackoffSpec::PROBE
}

fn default_ready_timeout() -> Duration {
    Duration::from_secs(60)
}

/// Readiness checks. All that are given must pass; none given means ready once spawned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadySpec {
    /// Ready when the process sends `READY=1` on `$NOTIFY_SOCKET`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notify: bool,
    /// Ready when a TCP connect to `host:port` succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
    /// Ready when a GET on this URL answers 2xx (or `status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// The one HTTP status code to require instead of any 2xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Skip TLS certificate checks for `http`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_tls: bool,
    /// Ready when this command exits 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<Vec<String>>,
    /// Ready when this path exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Ready when a connect to this unix socket succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unix: Option<PathBuf>,
    /// Ready when a line of stdout or stderr matches this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// Ready when grpc.health.v1 Check answers SERVING at `host:port` or `unix:///path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<String>,
    /// The gRPC service name to check (default `""`, the whole server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Deadline from spawn; past it the start has failed.
    #[serde(default = "default_ready_timeout", with = "serde_duration")]
    pub timeout: Duration,
    /// Probe spacing, growing from `initial` to `max`: each delay is `initial` plus a thirtieth
    /// of the time already spent probing ([`ProbeSpacing`](crate::ProbeSpacing)).
    #[serde(default = "default_probe_interval")]
    pub interval: BackoffSpec,
}

impl Default for ReadySpec {
    fn default() -> Self {
        Self {
            notify: false,
            tcp: None,
            http: None,
            status: None,
            insecure_tls: false,
            exec: None,
            file: None,
            unix: None,
            log: None,
            grpc: None,
            service: None,
            timeout: default_ready_timeout(),
            interval: default_probe_interval(),
        }
    }
}

impl ReadySpec {
    /// Whether any readiness check is given.
    pub fn has_checks(&self) -> bool {
        self.notify
            || self.tcp.is_some()
            || self.http.is_some()
            || self.exec.is_some()
            || self.file.is_some()
            || self.unix.is_some()
            || self.log.is_some()
            || self.grpc.is_some()
    }
}

fn default_stop_signal() -> String {
    "SIGTERM".into()
}

fn default_stop_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_watchdog_signal() -> String {
    "SIGABRT".into()
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
    #[serde(default = "default_stop_signal")]
    pub stop_signal: String,
    /// Grace between the stop signal and SIGKILL (or, for a task, cancellation and abort).
    #[serde(default = "default_stop_timeout", with = "serde_duration")]
    pub stop_timeout: Duration,
    /// The watchdog period: once ready, the process must send `WATCHDOG=1` on the notify
    /// socket at least this often (it gets `WATCHDOG_USEC` and `WATCHDOG_PID`), or the run
    /// fails with check `watchdog`. `None`: no watchdog.
    #[serde(default, with = "serde_duration_opt")]
    pub watchdog: Option<Duration>,
    /// The signal sent when the watchdog fires, before SIGKILL after `stop_timeout`
    /// (default `SIGABRT`, as systemd's).
    #[serde(default = "default_watchdog_signal")]
    pub watchdog_signal: String,
}

impl ComponentSpec {
    /// A service named `name` with every other field at its default.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            command: Vec::new(),
            env: BTreeMap::new(),
            cwd: None,
            kind: Kind::Service,
            requires: Vec::new(),
            wants: Vec::new(),
            after: Vec::new(),
            binds_to: Vec::new(),
            ready: ReadySpec::default(),
            restart: RestartPolicy::default(),
            restart_backoff: BackoffSpec::default(),
            start_limit: StartLimit::default(),
            stop_signal: default_stop_signal(),
            stop_timeout: default_stop_timeout(),
            watchdog: None,
            watchdog_signal: default_watchdog_signal(),
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

    /// Sets the stop timeout.
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
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
        assert_eq!(spec.stop_signal, "SIGTERM");
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
        let bad = r#"{"command": ["x"], "requirez": ["a"]}"#;
        let err = serde_json::from_str::<ComponentSpec>(bad).unwrap_err();
        assert!(err.to_string().contains("requirez"), "{err}");
    }
}
