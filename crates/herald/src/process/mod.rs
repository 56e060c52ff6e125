//! Child processes as components.
//!
//! A [`ProcessHost`] holds what the components of one stack share: the state folder with
//! `logs/`, the notify socket, the live [`LogHub`], the guardian that kills every component's
//! process group if herald dies, and the reaper of orphaned grandchildren. It builds
//! [`Process`] components from specs:
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use herald::{ComponentSpec, ProcessHost, ReadySpec, Stack};
//! let host = ProcessHost::new(".herald")?;
//! let spec = ComponentSpec::new("redis")
//!     .command(["redis-server", "--port", "6380"])
//!     .ready(ReadySpec { notify: true, ..ReadySpec::default() });
//! let mut stack = Stack::new();
//! stack.add(spec.clone(), host.process(&spec, vec![])?);
//! let running = stack.start()?;
//! running.wait_all().await?;
//! running.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! What each child gets: its argv run directly (no shell), herald's environment plus `env`,
//! `HERALD_COMPONENT=<name>`, `HERALD_RUN_TOKEN=<token of the run>`, `NOTIFY_SOCKET` when
//! `ready.notify` or `watchdog` is set (and never herald's own), `WATCHDOG_USEC` and
//! `WATCHDOG_PID` with `watchdog`, `cwd` as given, stdin from `/dev/null`, its own process
//! group, its own cgroup where there are cgroups, and SIGKILL as its parent-death signal.
//!
//! # No process escapes
//! - each run has a cgroup of its own where a writable cgroup v2 hierarchy exists (see
//!   `sys/cgroup.rs`); elsewhere its processes carry its run token (see `sys/token.rs`);
//! - a normal stop signals the group, the main pid and the cgroup (or every process with the
//!   token), then kills them all after `stop_timeout`;
//! - when a run ends, whatever is left of it is killed;
//! - if herald dies, even by SIGKILL, the kernel kills each direct child (parent-death
//!   signal) and the guardian kills the stack's cgroup, every group, and every process with
//!   the stack's token (see `sys/guardian.rs`). The guardian knows each group before its
//!   leader runs, and a guardian that dies is replaced.
//!
//! The parent-death signal fires when the *thread* that spawned the child ends, so every
//! child is spawned by one thread that lives as long as the process (see `sys/spawn.rs`).

mod capture;
mod child;
mod logs;
mod notify;
mod ready;

pub use child::Process;
pub use logs::{LogHub, LogLine, Stream};

use crate::sys::{Containment, RunBox, limits, signals};
use crate::{ComponentSpec, ConfigProblem, Probe};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The resources the process components of one stack share. Cheap to clone.
#[derive(Clone)]
pub struct ProcessHost {
    pub(crate) inner: Arc<HostInner>,
}

pub(crate) struct HostInner {
    logs_dir: PathBuf,
    hub: LogHub,
    notify: notify::Notify,
    containment: Arc<Containment>,
    /// The cgroup of each component's current run, for [`ProcessHost::usage`].
    cgroups: Mutex<HashMap<Arc<str>, PathBuf>>,
}

/// What a component's current run uses, and how it is contained: for `status --json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// `cgroup` (each run in a cgroup of its own) or `process-group` (process groups and run
    /// tokens, where there are no cgroups).
    pub containment: &'static str,
    /// CPU time of the run's processes so far, in milliseconds (with cgroups).
    pub cpu_ms: Option<u64>,
    /// Memory the run's processes use, in bytes (with cgroups and their memory controller).
    pub memory_bytes: Option<u64>,
}

/// Keeps a run's cgroup listed for [`ProcessHost::usage`] while it runs.
pub(crate) struct Shown<'a> {
    host: &'a ProcessHost,
    name: Arc<str>,
}

impl Drop for Shown<'_> {
    fn drop(&mut self) {
        let mut cgroups = self
            .host
            .inner
            .cgroups
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        cgroups.remove(&self.name);
    }
}

impl std::fmt::Debug for ProcessHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessHost")
            .field("logs", &self.inner.logs_dir)
            .field("notify_socket", &self.notify_socket())
            .field("guardian", &self.inner.containment.guardian_pid())
            .finish()
    }
}

impl ProcessHost {
    /// Creates `<state_dir>/logs`, binds the stack's notify socket
    /// (`<state_dir>/notify.sock`, or a link from there to a short folder of herald's own if
    /// that path is too long for a socket address), creates the stack's cgroup where a
    /// writable cgroup v2 hierarchy allows it (not with `HERALD_CGROUPS=off`), starts the
    /// guardian, and makes herald the child subreaper of its descendants. Needs a Tokio
    /// runtime.
    ///
    /// Two process-wide effects: herald becomes the child subreaper (orphaned descendants are
    /// re-parented to it and reaped by it), and its soft open-file limit is raised to the hard
    /// limit (children get the original back).
    pub fn new(state_dir: impl Into<PathBuf>) -> io::Result<ProcessHost> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other("ProcessHost::new needs a Tokio runtime"));
        }
        let state_dir = state_dir.into();
        let logs_dir = state_dir.join("logs");
        std::fs::create_dir_all(&logs_dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create {}: {e}", logs_dir.display()),
            )
        })?;
        let containment = Containment::start()?;
        limits::raise_nofile();
        let socket = state_dir.join("notify.sock");
        let notify = notify::Notify::bind(&socket).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot bind {}: {e}", socket.display()))
        })?;
        Ok(ProcessHost {
            inner: Arc::new(HostInner {
                logs_dir,
                hub: LogHub::new(),
                notify,
                containment,
                cgroups: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Every problem [`ProcessHost::process`] would find in `spec` (an empty or missing
    /// command, an unknown `stop_signal`, a bad `ready.log` regular expression), all at once.
    /// Needs no host and no runtime, so a front end can check a stack file without starting
    /// anything.
    pub fn validate(spec: &ComponentSpec) -> Vec<ConfigProblem> {
        [
            check_command(spec).err(),
            stop_signal(spec).err(),
            watchdog_signal(spec).err(),
            log_pattern(spec).err(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// Validates the spec (a non-empty command, a known `stop_signal`, a valid `ready.log`
    /// regular expression) and builds its component. `probes` are the outside checks
    /// (`tcp`, `http`, ...) that must pass besides the process's own signal.
    pub fn process(
        &self,
        spec: &ComponentSpec,
        probes: Vec<Arc<dyn Probe>>,
    ) -> Result<Process, ConfigProblem> {
        check_command(spec)?;
        let stop_signal = stop_signal(spec)?;
        let watchdog_signal = watchdog_signal(spec)?;
        let log = log_pattern(spec)?;
        Ok(Process::from_inner(child::Inner {
            host: self.clone(),
            name: Arc::from(spec.name.as_str()),
            argv: spec.command.clone(),
            env: spec.env.clone(),
            cwd: spec.cwd.clone(),
            notify: spec.ready.notify,
            log,
            stop_signal,
            watchdog: spec.watchdog,
            watchdog_signal,
            probes,
            file: OnceLock::new(),
        }))
    }

    /// How the component's current run is contained and, with cgroups, what it uses (CPU
    /// time from `cpu.stat`, memory from `memory.current`); `None` when it does not run.
    pub fn usage(&self, component: &str) -> Option<Usage> {
        let containment = self.inner.containment.kind();
        let cgroups = self.inner.cgroups.lock().unwrap_or_else(|e| e.into_inner());
        let dir = cgroups.get(component)?;
        let usage = if dir.as_os_str().is_empty() {
            crate::sys::cgroup::Usage::default()
        } else {
            crate::sys::cgroup::usage_of(dir)
        };
        Some(Usage {
            containment,
            cpu_ms: usage.cpu_ms,
            memory_bytes: usage.memory_bytes,
        })
    }

    /// `cgroup` or `process-group`: how this host contains its runs.
    pub fn containment(&self) -> &'static str {
        self.inner.containment.kind()
    }

    /// Lists the run's cgroup (if any) for [`ProcessHost::usage`] until the guard drops.
    pub(crate) fn running(&self, name: &Arc<str>, contained: &RunBox) -> Shown<'_> {
        let dir = contained
            .leaf
            .as_ref()
            .map_or_else(PathBuf::new, |l| l.dir().to_path_buf());
        let mut cgroups = self.inner.cgroups.lock().unwrap_or_else(|e| e.into_inner());
        cgroups.insert(name.clone(), dir);
        Shown {
            host: self,
            name: name.clone(),
        }
    }

    /// The live lines of every component.
    pub fn logs(&self) -> &LogHub {
        &self.inner.hub
    }

    /// Where a component's output is written: `<state_dir>/logs/<component>.log` (a `/` in
    /// the name becomes `_`). The previous file, once rotated, is `<component>.log.1`.
    pub fn log_path(&self, component: &str) -> PathBuf {
        let safe: String = component
            .chars()
            .map(|c| if c == '/' || c == '\0' { '_' } else { c })
            .collect();
        self.inner.logs_dir.join(format!("{safe}.log"))
    }

    /// The notify socket children get as `NOTIFY_SOCKET`: always a filesystem path short
    /// enough for every client.
    pub fn notify_socket(&self) -> &Path {
        Path::new(self.inner.notify.address())
    }
}

fn invalid(spec: &ComponentSpec, field: &str, reason: String) -> ConfigProblem {
    ConfigProblem::Invalid {
        component: spec.name.clone(),
        field: field.to_string(),
        reason,
    }
}

/// The command names a program.
fn check_command(spec: &ComponentSpec) -> Result<(), ConfigProblem> {
    match spec.command.first() {
        None => Err(invalid(
            spec,
            "command",
            "must name a program to run".into(),
        )),
        Some(program) if program.is_empty() => {
            Err(invalid(spec, "command", "the program name is empty".into()))
        }
        Some(_) => Ok(()),
    }
}

/// The number of the stop signal.
fn stop_signal(spec: &ComponentSpec) -> Result<i32, ConfigProblem> {
    signals::parse_signal(&spec.stop_signal).ok_or_else(|| {
        invalid(
            spec,
            "stop_signal",
            format!("unknown signal {:?} (try \"SIGTERM\")", spec.stop_signal),
        )
    })
}

/// The number of the watchdog's signal.
fn watchdog_signal(spec: &ComponentSpec) -> Result<i32, ConfigProblem> {
    signals::parse_signal(&spec.watchdog_signal).ok_or_else(|| {
        invalid(
            spec,
            "watchdog_signal",
            format!(
                "unknown signal {:?} (try \"SIGABRT\")",
                spec.watchdog_signal
            ),
        )
    })
}

/// The compiled `ready.log` expression, if any.
fn log_pattern(spec: &ComponentSpec) -> Result<Option<regex::bytes::Regex>, ConfigProblem> {
    spec.ready
        .log
        .as_deref()
        .map(|pattern| {
            regex::bytes::Regex::new(pattern)
                .map_err(|e| invalid(spec, "ready.log", format!("bad regular expression: {e}")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_reports_every_problem_without_a_host() {
        let mut spec = ComponentSpec::new("web");
        spec.stop_signal = "SIGNOPE".into();
        spec.ready.log = Some("(unclosed".into());
        let fields: Vec<String> = ProcessHost::validate(&spec)
            .into_iter()
            .map(|p| match p {
                ConfigProblem::Invalid { field, .. } => field,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(fields, ["command", "stop_signal", "ready.log"]);
        let fine = ComponentSpec::new("web").command(["true"]);
        assert!(ProcessHost::validate(&fine).is_empty());
    }
}
