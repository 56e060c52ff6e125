//! Errors that carry data: why a component never became ready, and what is wrong with a stack.

use crate::EdgeKind;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// What kind of check failed: a readiness check of `ready`, one of the engine's own checks
/// (the run's exit, its spawn, a task's error, a state seen), or, for a blocked component, the
/// dependency kind that blocked it.
///
/// It is written as its name in errors and JSON (`"http"`, `"exit"`, `"requires"`), and read
/// back the same way; a name herald does not know (a probe of the program's own, say) is kept
/// as [`CheckKind::Other`].
///
/// ```
/// use herald::CheckKind;
/// assert_eq!(CheckKind::Http.as_str(), "http");
/// assert_eq!("binds_to".parse::<CheckKind>(), Ok(CheckKind::BindsTo));
/// assert_eq!("count".parse::<CheckKind>(), Ok(CheckKind::other("count")));
/// assert_eq!(serde_json::to_string(&CheckKind::NotifyAndLog).unwrap(), r#""notify+log""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CheckKind {
    /// `READY=1` on the notify socket.
    Notify,
    /// A TCP connect.
    Tcp,
    /// An HTTP GET.
    Http,
    /// A command that must exit 0.
    Exec,
    /// A path that must exist.
    File,
    /// A unix socket connect.
    Unix,
    /// A line of output matching a regular expression.
    Log,
    /// A grpc.health.v1 Check.
    Grpc,
    /// Both `notify` and `log`, as one signal: `notify+log`.
    NotifyAndLog,
    /// The run exited (before it was ready, or unsuccessfully).
    Exit,
    /// The process could not be started.
    Spawn,
    /// An in-process task's own signal or error.
    Task,
    /// A state seen where another was needed (`stopped before it was ready`).
    State,
    /// The watchdog period passed without a `WATCHDOG=1`.
    Watchdog,
    /// A check after ready (`live`) failed.
    Live,
    /// Blocked by a `requires` dependency.
    Requires,
    /// Through a `wants` dependency.
    Wants,
    /// Through an `after` dependency.
    After,
    /// Blocked by a `binds_to` dependency.
    BindsTo,
    /// Through a `uses` dependency (a component's own wait for it).
    Uses,
    /// A kind herald does not define, such as a probe of the program's own.
    Other(Cow<'static, str>),
}

/// Every kind herald names, in declaration order.
const NAMED_KINDS: [CheckKind; 20] = [
    CheckKind::Notify,
    CheckKind::Tcp,
    CheckKind::Http,
    CheckKind::Exec,
    CheckKind::File,
    CheckKind::Unix,
    CheckKind::Log,
    CheckKind::Grpc,
    CheckKind::NotifyAndLog,
    CheckKind::Exit,
    CheckKind::Spawn,
    CheckKind::Task,
    CheckKind::State,
    CheckKind::Watchdog,
    CheckKind::Live,
    CheckKind::Requires,
    CheckKind::Wants,
    CheckKind::After,
    CheckKind::BindsTo,
    CheckKind::Uses,
];

impl CheckKind {
    /// A kind of the program's own, named `name`.
    pub const fn other(name: &'static str) -> Self {
        CheckKind::Other(Cow::Borrowed(name))
    }

    /// The name, as errors and JSON write it.
    pub fn as_str(&self) -> &str {
        match self {
            CheckKind::Notify => "notify",
            CheckKind::Tcp => "tcp",
            CheckKind::Http => "http",
            CheckKind::Exec => "exec",
            CheckKind::File => "file",
            CheckKind::Unix => "unix",
            CheckKind::Log => "log",
            CheckKind::Grpc => "grpc",
            CheckKind::NotifyAndLog => "notify+log",
            CheckKind::Exit => "exit",
            CheckKind::Spawn => "spawn",
            CheckKind::Task => "task",
            CheckKind::State => "state",
            CheckKind::Watchdog => "watchdog",
            CheckKind::Live => "live",
            CheckKind::Requires => "requires",
            CheckKind::Wants => "wants",
            CheckKind::After => "after",
            CheckKind::BindsTo => "binds_to",
            CheckKind::Uses => "uses",
            CheckKind::Other(name) => name,
        }
    }
}

impl std::str::FromStr for CheckKind {
    type Err = std::convert::Infallible;

    /// The kind named `name`; [`CheckKind::Other`] for a name herald does not define.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(NAMED_KINDS
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .unwrap_or_else(|| CheckKind::Other(Cow::Owned(name.to_string()))))
    }
}

impl From<EdgeKind> for CheckKind {
    fn from(edge: EdgeKind) -> Self {
        match edge {
            EdgeKind::Requires => CheckKind::Requires,
            EdgeKind::Wants => CheckKind::Wants,
            EdgeKind::After => CheckKind::After,
            EdgeKind::BindsTo => CheckKind::BindsTo,
            EdgeKind::Uses => CheckKind::Uses,
        }
    }
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for CheckKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for CheckKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for CheckKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CheckKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = Cow::<'de, str>::deserialize(deserializer)?;
        let Ok(kind) = name.parse();
        Ok(kind)
    }
}

/// Why a component failed to become ready, or was blocked by a dependency.
///
/// Every field is data, so the command line can print it as a chain and write it as JSON with
/// the same fields. A `blocked` component's error has `check` set to the dependency kind
/// (`requires` or `binds_to`), `target` set to the dependency, and `cause` set to the
/// dependency's own error.
///
/// ```
/// use herald::{CheckKind, EdgeKind, ReadinessError};
/// let etcd = ReadinessError::new("etcd", CheckKind::Http, "http://127.0.0.1:2379/health", "connection refused")
///     .with_attempts(41)
///     .with_elapsed(std::time::Duration::from_secs(30));
/// let apiserver = ReadinessError::blocked("apiserver", EdgeKind::Requires, etcd);
/// assert_eq!(
///     apiserver.to_string(),
///     "apiserver blocked: requires etcd, which failed\n  \
///      etcd failed: http check http://127.0.0.1:2379/health: connection refused, 41 attempts in 30.0 s"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadinessError {
    /// The component that failed or was blocked.
    pub component: String,
    /// The kind of check that failed (`http`, `tcp`, `notify`, `exit`, `task`, ...) or, when
    /// blocked, the dependency kind (`requires`, `binds_to`).
    pub check: CheckKind,
    /// What was checked: a URL, an address, a path, or the dependency's name.
    pub target: String,
    /// The last reason seen.
    pub reason: String,
    /// How many attempts the check made.
    pub attempts: u32,
    /// Time from the start of the attempt to the failure.
    pub elapsed_ms: u64,
    /// The dependency's error, for a blocked component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Box<ReadinessError>>,
}

impl ReadinessError {
    /// A failure of `check` against `target` for `reason`, with no attempts counted yet.
    pub fn new(
        component: impl Into<String>,
        check: CheckKind,
        target: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            component: component.into(),
            check,
            target: target.into(),
            reason: reason.into(),
            attempts: 0,
            elapsed_ms: 0,
            cause: None,
        }
    }

    /// The error of `component`, blocked through its `kind` dependency that failed with `cause`.
    pub fn blocked(component: impl Into<String>, kind: EdgeKind, cause: ReadinessError) -> Self {
        let verb = if cause.is_blocked() {
            "is blocked"
        } else {
            "failed"
        };
        let reason = format!("{} {}, which {verb}", kind.as_str(), cause.component);
        Self {
            target: cause.component.clone(),
            cause: Some(Box::new(cause)),
            ..Self::new(component, kind.into(), "", reason)
        }
    }

    /// Sets the attempt count.
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// Sets the elapsed time.
    pub fn with_elapsed(mut self, elapsed: Duration) -> Self {
        self.elapsed_ms = elapsed.as_millis().try_into().unwrap_or(u64::MAX);
        self
    }

    /// Whether this error says the component was blocked by a dependency.
    pub fn is_blocked(&self) -> bool {
        self.cause.is_some()
    }

    /// The innermost error: the component whose own check failed.
    pub fn root(&self) -> &ReadinessError {
        let mut level = self;
        while let Some(cause) = &level.cause {
            level = cause;
        }
        level
    }

    /// The chain from this error down to the root, one level each.
    pub fn chain(&self) -> impl Iterator<Item = &ReadinessError> {
        std::iter::successors(Some(self), |level| level.cause.as_deref())
    }

    fn fmt_level(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_blocked() {
            return write!(f, "{} blocked: {}", self.component, self.reason);
        }
        write!(f, "{} failed: {} check", self.component, self.check)?;
        if !self.target.is_empty() {
            write!(f, " {}", self.target)?;
        }
        write!(f, ": {}", self.reason)?;
        if self.attempts > 0 {
            let plural = if self.attempts == 1 { "" } else { "s" };
            let secs = self.elapsed_ms as f64 / 1000.0;
            write!(f, ", {} attempt{plural} in {secs:.1} s", self.attempts)?;
        }
        Ok(())
    }
}

impl fmt::Display for ReadinessError {
    /// One level per line, each cause indented one step further.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (depth, level) in self.chain().enumerate() {
            if depth > 0 {
                writeln!(f)?;
                write!(f, "{:width$}", "", width = depth * 2)?;
            }
            level.fmt_level(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for ReadinessError {}

/// One thing wrong with a set of component specs, found before anything starts.
///
/// Problems name the component and field they concern, so a front end that knows where each
/// field was written (the command's stack-file reader) can point at the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigProblem {
    /// Two components share a name.
    #[error("duplicate component name {name:?}")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// A dependency names no component.
    #[error("component {component:?}: {field} names unknown component {dependency:?}")]
    UnknownDependency {
        /// The component whose field is wrong.
        component: String,
        /// `requires`, `wants`, `after` or `binds_to`.
        field: &'static str,
        /// The unknown name.
        dependency: String,
    },
    /// A component depends on itself.
    #[error("component {component:?}: {field} names the component itself")]
    SelfDependency {
        /// The component.
        component: String,
        /// The field that names it.
        field: &'static str,
    },
    /// A dependency cycle, as a path that starts and ends at the same component.
    #[error("dependency cycle: {}", path.join(" -> "))]
    Cycle {
        /// `a, b, c, a` for `a -> b -> c -> a`.
        path: Vec<String>,
    },
    /// A field's value is unusable.
    #[error("component {component:?}: {field}: {reason}")]
    Invalid {
        /// The component.
        component: String,
        /// The field, dotted for nested ones (`ready.http`).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// Every problem found in a set of specs, all at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The problems, in a stable order.
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        let plural = if count == 1 { "" } else { "s" };
        write!(f, "{count} problem{plural} in the stack")?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn etcd() -> ReadinessError {
        ReadinessError::new(
            "etcd",
            CheckKind::Tcp,
            "127.0.0.1:2379",
            "connection refused",
        )
        .with_attempts(3)
        .with_elapsed(Duration::from_millis(1500))
    }

    #[test]
    fn chain_prints_one_level_per_line() {
        let api = ReadinessError::blocked("apiserver", EdgeKind::Requires, etcd());
        let sched = ReadinessError::blocked("scheduler", EdgeKind::BindsTo, api);
        let text = sched.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "scheduler blocked: binds_to apiserver, which is blocked",
                "  apiserver blocked: requires etcd, which failed",
                "    etcd failed: tcp check 127.0.0.1:2379: connection refused, 3 attempts in 1.5 s",
            ]
        );
        assert_eq!(sched.root().component, "etcd");
        assert_eq!(sched.chain().count(), 3);
    }

    #[test]
    fn serialises_with_the_contract_fields() {
        let api = ReadinessError::blocked("apiserver", EdgeKind::Requires, etcd());
        let json = serde_json::to_value(&api).unwrap();
        for key in [
            "component",
            "check",
            "target",
            "reason",
            "attempts",
            "elapsed_ms",
            "cause",
        ] {
            assert!(json.get(key).is_some(), "missing {key} in {json}");
        }
        assert_eq!(json["cause"]["elapsed_ms"], 1500);
        assert_eq!(json["check"], "requires");
        assert_eq!(json["cause"]["check"], "tcp");
        let back: ReadinessError = serde_json::from_value(json).unwrap();
        assert_eq!(back, api);
    }

    #[test]
    fn every_kind_reads_back_from_its_name() {
        for kind in NAMED_KINDS {
            let name = kind.as_str();
            assert_eq!(name.parse::<CheckKind>(), Ok(kind.clone()));
            assert!(!matches!(name.parse(), Ok(CheckKind::Other(_))), "{name}");
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(serde_json::from_str::<CheckKind>(&json).unwrap(), kind);
        }
        let custom: CheckKind = serde_json::from_str(r#""count""#).unwrap();
        assert_eq!(custom, CheckKind::other("count"));
        assert_eq!(custom, "count");
    }

    #[test]
    fn config_error_lists_every_problem() {
        let err = ConfigError {
            problems: vec![
                ConfigProblem::Cycle {
                    path: vec!["a".into(), "b".into(), "a".into()],
                },
                ConfigProblem::DuplicateName { name: "x".into() },
            ],
        };
        let text = err.to_string();
        assert!(text.contains("2 problems"));
        assert!(text.contains("dependency cycle: a -> b -> a"));
        assert!(text.contains("duplicate component name \"x\""));
    }
}
