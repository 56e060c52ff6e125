//! Child processes as components.
//!
//! A [`ProcessHost`] holds what the components of one stack share: the state folder with
//! `logs/`, the notify socket, the live [`LogHub`], the guardian that kills every component's
//! process group if herald dies, and the reaper of orphaned grandchildren. It builds
//! [`Process`] components from specs, probes and all: the spec's checks were checked when it
//! was made, so the only thing [`ProcessHost::process`] can refuse is a spec with no command.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use herald::probe::TcpProbe;
//! use herald::{Check, ComponentSpec, ProcessHost, ReadySpec, Stack};
//! let host = ProcessHost::new(".herald")?;
//! let spec = ComponentSpec::new("redis")
//!     .command(["redis-server", "--port", "6380"])
//!     .ready(ReadySpec::default().with(Check::Notify).with(Check::Tcp(TcpProbe::new("127.0.0.1:6380")?)));
//! let mut stack = Stack::new();
//! stack.add(spec.clone(), host.process(&spec)?);
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
//! child is spawned by a thread that lives as long as the process (see `sys/spawn/`).

mod account;
mod capture;
mod child;
mod logs;
mod notify;
mod ready;

pub use account::RunAs;
pub use child::Process;
pub use logs::{
    LogHub, LogLine, LogRetention, MAX_KEEP, Stream, open_private, parse_rotation_header,
    rotated_copy, rotation_header,
};

use crate::sys::{Containment, RunBox, limits};
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

    /// The component that runs `spec`: its command, its own readiness signal (`notify`,
    /// `log`) and the probes of its outside checks, which the engine runs. Relative paths in
    /// the checks are taken from herald's current folder (the stack file's reader has made
    /// them absolute). Refuses only a spec without a command (an in-process task's spec).
    pub fn process(&self, spec: &ComponentSpec) -> Result<Process, ConfigProblem> {
        self.process_with(spec, [])
    }

    /// As [`process`](Self::process), with probes of the program's own (checks a stack file
    /// cannot write) that must pass as well, after the spec's.
    pub fn process_with(
        &self,
        spec: &ComponentSpec,
        extra: impl IntoIterator<Item = Arc<dyn Probe>>,
    ) -> Result<Process, ConfigProblem> {
        check_command(spec)?;
        let run_as = RunAs::of(spec)?;
        let mut probes: Vec<Arc<dyn Probe>> = spec
            .ready
            .checks()
            .iter()
            .filter_map(|check| child::probe_as(check, run_as.as_ref()))
            .collect();
        probes.extend(extra);
        Ok(Process::from_inner(child::Inner {
            host: self.clone(),
            name: Arc::from(spec.name.as_str()),
            argv: spec.command.clone(),
            env: spec.env.clone(),
            cwd: spec.cwd.clone(),
            run_as,
            notify: spec.ready.notify(),
            log: spec.ready.log().map(|pattern| pattern.regex().clone()),
            stop_signal: spec.stop_signal.number(),
            watchdog: spec.watchdog,
            watchdog_signal: spec.watchdog_signal.number(),
            probes,
            file: OnceLock::new(),
            logs: spec.logs,
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

    /// Ends the host's guard over its processes once the stack has stopped cleanly (every
    /// component down): the guardian leaves at once instead of searching for survivors when
    /// herald exits, and is gone when this returns. Processes started afterwards are not
    /// guarded if herald is killed.
    pub fn close(&self) {
        self.inner.containment.dismiss_guardian();
    }

    /// The notify socket children get as `NOTIFY_SOCKET`: always a filesystem path short
    /// enough for every client.
    pub fn notify_socket(&self) -> &Path {
        Path::new(self.inner.notify.address())
    }
}

/// Parses one notify datagram as the notify socket does; gives what it understood, one
/// `Debug` text per message. For the fuzz targets and their regression inputs only.
#[doc(hidden)]
pub fn parse_notify_datagram(datagram: &[u8]) -> Vec<String> {
    notify::parse(datagram)
        .iter()
        .map(|message| format!("{message:?}"))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_without_a_program_is_refused_naming_the_field() {
        for spec in [
            ComponentSpec::new("web"),
            ComponentSpec::new("web").command([""]),
        ] {
            match check_command(&spec) {
                Err(ConfigProblem::Invalid { field, .. }) => assert_eq!(field, "command"),
                other => panic!("{other:?}"),
            }
        }
        check_command(&ComponentSpec::new("web").command(["true"])).unwrap();
    }
}
