//! [`Process`]: a child process as a [`Component`].
//!
//! One run spawns the command in its own process group and, where there are cgroups, its own
//! cgroup (else it carries the run's token), reports its pid, captures its output, and waits
//! for it to exit or to be told to stop. Stopping sends `stop_signal` to the whole group, the
//! main pid (and its group) if `MAINPID=` named one, every process of the cgroup (or, without
//! one, every process carrying the token), waits up to `stop_timeout` for them to end
//! (`populated 0`), then kills them all (`cgroup.kill`, SIGKILL). Whenever the run ends (crash
//! or stop) everything left of it is killed too, so nothing is left. The run returns only
//! once both output pipes are drained and the log file flushed.
//!
//! **The forking pattern**: a launcher that sends `MAINPID=` (a process of its own run) and
//! exits 0 hands the run over to that process: herald follows it through a pidfd, and the
//! run ends when it does (see [`MainProcess`]).
//!
//! **The watchdog**: with `watchdog` set the child gets `WATCHDOG_USEC` and `WATCHDOG_PID`;
//! once ready, a period without `WATCHDOG=1` (or a `WATCHDOG=trigger`) fails the run with
//! check `watchdog`: `watchdog_signal`, then SIGKILL after `stop_timeout`. `WATCHDOG_USEC=`
//! from the process changes the period.
//!
//! The child is started by `sys/spawn/` and its group looked after by `sys/group.rs`.

use super::capture::{Sink, capture};
use super::logs::{LogFile, LogRetention, Stream};
use super::notify::{Claim, Listener, Notes, Registration};
use super::ready::Gate;
use super::{ProcessHost, RunAs};
use crate::sys::group::Group;
use crate::sys::signals::describe_exit;
use crate::sys::spawn::{Command, Spawned};
use crate::sys::{Containment, RunBox, token};
use crate::{BoxFuture, Check, CheckKind, Component, Context, Failure, Probe, Readiness};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// How long to keep reading output after the group was killed, in case a process that left
/// the group still holds a pipe.
const DRAIN_LIMIT: Duration = Duration::from_secs(1);

// A stopped run finishes its drain before the engine would abort it.
const _: () = assert!(DRAIN_LIMIT.as_millis() < crate::supervisor::STOP_SLACK.as_millis());

/// The output readers of one run, aborted when dropped: on every path out of a run (its end,
/// an abort of the run itself), nothing is left reading its pipes and writing its log.
struct Readers([tokio::task::JoinHandle<()>; 2]);

impl Drop for Readers {
    fn drop(&mut self) {
        self.0.iter().for_each(|r| r.abort());
    }
}

/// A child process component, built by [`ProcessHost::process`].
///
/// Its readiness signal is `notify` (`READY=1` on `$NOTIFY_SOCKET`), `log` (a line matching
/// `ready.log`), both (`notify+log`: ready once both happened), or none; the outside probes
/// given to [`ProcessHost::process`] must pass as well.
#[derive(Clone)]
pub struct Process {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub host: ProcessHost,
    pub name: Arc<str>,
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
    pub run_as: Option<RunAs>,
    pub notify: bool,
    pub log: Option<regex::bytes::Regex>,
    pub stop_signal: i32,
    pub watchdog: Option<Duration>,
    pub watchdog_signal: i32,
    pub probes: Vec<Arc<dyn Probe>>,
    pub file: OnceLock<Arc<Mutex<LogFile>>>,
    pub logs: LogRetention,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.inner.name)
            .field("argv", &self.inner.argv)
            .finish_non_exhaustive()
    }
}

impl Process {
    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The component's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }
}

/// The probe of `check` for a component that runs as `run_as`: an `exec` check runs as the
/// component does.
pub(super) fn probe_as(check: &Check, run_as: Option<&RunAs>) -> Option<Arc<dyn Probe>> {
    match (check, run_as) {
        (Check::Exec(probe), Some(run_as)) => Some(Arc::new(probe.clone().run_as(run_as.clone()))),
        _ => check.probe(),
    }
}

impl Component for Process {
    fn live_probe(&self, check: &Check) -> Option<Arc<dyn Probe>> {
        probe_as(check, self.inner.run_as.as_ref())
    }

    fn run(&self, ctx: Context) -> BoxFuture<'static, Result<(), Failure>> {
        Box::pin(self.inner.clone().run(ctx))
    }

    fn readiness(&self) -> Readiness {
        let inner = &self.inner;
        let address = || inner.host.notify_socket().display().to_string();
        let signal = match (inner.notify, &inner.log) {
            (true, None) => Some((CheckKind::Notify, address())),
            (false, Some(re)) => Some((CheckKind::Log, re.as_str().to_string())),
            (true, Some(re)) => Some((
                CheckKind::NotifyAndLog,
                format!("{} and /{}/", address(), re.as_str()),
            )),
            (false, None) => None,
        };
        Readiness {
            signal,
            probes: inner.probes.clone(),
        }
    }
}

impl Inner {
    fn command(&self, contained: &RunBox) -> Command {
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..])
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID");
        if let Some(run_as) = &self.run_as {
            // What a login as that user would have, unless the component sets it.
            let home = run_as.home.as_ref().map(|h| h.as_os_str().to_owned());
            let name = run_as.name.as_ref().map(OsString::from);
            for (key, value) in [("HOME", home), ("USER", name.clone()), ("LOGNAME", name)] {
                if let Some(value) = value {
                    cmd.env(key, value);
                }
            }
            cmd.run_as(run_as.clone());
        }
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        cmd.env("HERALD_COMPONENT", &*self.name);
        cmd.env(token::VAR, &contained.token);
        if self.listens() {
            cmd.env("NOTIFY_SOCKET", self.host.inner.notify.address());
        }
        if let Some(period) = self.watchdog {
            cmd.env("WATCHDOG_USEC", period.as_micros().to_string());
            cmd.watchdog_pid();
        }
        if let Some(cwd) = &self.cwd {
            cmd.current_dir(cwd);
        }
        if let Some(leaf) = &contained.leaf {
            cmd.cgroup(leaf.dir_fd(), leaf.procs_fd());
        }
        cmd
    }

    /// Whether the run listens on the notify socket (for readiness or the watchdog).
    fn listens(&self) -> bool {
        self.notify || self.watchdog.is_some()
    }

    fn log_file(&self) -> Arc<Mutex<LogFile>> {
        self.file
            .get_or_init(|| {
                let path = self.host.log_path(&self.name);
                Arc::new(Mutex::new(LogFile::open(path, self.logs)))
            })
            .clone()
    }

    async fn run(self: Arc<Self>, ctx: Context) -> Result<(), Failure> {
        let program = self.argv[0].clone();
        let containment = self.host.inner.containment.clone();
        let contained = containment.run(&self.name);
        let gate = Arc::new(Gate::new(ctx.clone(), self.notify, self.log.is_some()));
        let notes = Arc::new(Notes::default());
        // Registered before the spawn, by cgroup and token: no message can come first.
        let registration: Option<Registration> = self.listens().then(|| {
            let claim = Claim {
                cgroup: contained
                    .leaf
                    .as_ref()
                    .map(|l| (l.id(), l.path().to_string())),
                token: contained.token.clone(),
            };
            let listener = Listener {
                ctx: ctx.clone(),
                gate: gate.clone(),
                notes: notes.clone(),
            };
            self.host.inner.notify.register(claim, listener)
        });
        let spawned = self
            .command(&contained)
            .spawn(Some(containment.clone()))
            .await;
        let Spawned {
            mut group,
            stdout,
            stderr,
        } = match spawned {
            Ok(spawned) => spawned,
            Err(e) => {
                if let Some(leaf) = &contained.leaf {
                    leaf.remove();
                }
                return Err(Failure::new(CheckKind::Spawn, &program, e.to_string()));
            }
        };
        let pid = group.pgid();
        if let Some(registration) = &registration {
            registration.set_pgid(pid);
        }
        let _shown = self.host.running(&self.name, &contained);
        ctx.spawned(Some(pid));

        let sink = Arc::new(Sink {
            name: self.name.clone(),
            file: self.log_file(),
            hub: self.host.inner.hub.clone(),
            matcher: self.log.clone().map(|re| (re, gate.clone())),
            ctx: ctx.clone(),
        });
        let mut readers = Readers([
            tokio::spawn(capture(stdout, Stream::Out, sink.clone())),
            tokio::spawn(capture(stderr, Stream::Err, sink)),
        ]);

        let mut main = MainProcess::default();
        let ending = tokio::select! {
            status = main.follow(&mut group, &notes, registration.as_ref()) => Ending::Exited(status),
            _ = ctx.stopped() => Ending::Stopped,
            reason = watchdog(self.watchdog, &gate, &notes) => Ending::Watchdog(reason),
        };
        let (status, fired) = match ending {
            Ending::Exited(status) => (status, None),
            ending @ (Ending::Stopped | Ending::Watchdog(_)) => {
                let signal = match &ending {
                    Ending::Watchdog(_) => self.watchdog_signal,
                    _ => self.stop_signal,
                };
                stop_all(&group, &main, &notes, &contained, &containment, signal);
                let grace = ctx.stop_timeout();
                let gone = async {
                    let status = main.follow(&mut group, &notes, registration.as_ref()).await;
                    if let Some(leaf) = &contained.leaf {
                        leaf.emptied().await;
                    }
                    status
                };
                let status = match tokio::time::timeout(grace, gone).await {
                    Ok(status) => status,
                    Err(_) => {
                        stop_all(
                            &group,
                            &main,
                            &notes,
                            &contained,
                            &containment,
                            libc::SIGKILL,
                        );
                        main.follow(&mut group, &notes, registration.as_ref()).await
                    }
                };
                let fired = match ending {
                    Ending::Watchdog(reason) => Some(reason),
                    _ => None,
                };
                (status, fired)
            }
        };
        // Whatever is left of the run dies now: its cgroup, its group, what carries its token.
        if let Some(leaf) = &contained.leaf {
            leaf.kill();
        }
        let leader = group.finish().await;
        main.finish(&notes);
        if let Some(leaf) = &contained.leaf {
            if tokio::time::timeout(DRAIN_LIMIT, leaf.emptied())
                .await
                .is_err()
            {
                tracing::warn!(component = %self.name, "processes of the run's cgroup outlive SIGKILL");
            }
            leaf.remove();
        } else {
            sweep(&containment, &contained.token);
        }
        drop(registration);

        let drained = futures_util::future::join_all(readers.0.iter_mut());
        if tokio::time::timeout(DRAIN_LIMIT, drained).await.is_err() {
            tracing::warn!(
                component = %self.name,
                "a process outside the component's group still holds its output; no longer reading it"
            );
        }
        drop(readers);

        if let Some(reason) = fired {
            return Err(Failure::new(CheckKind::Watchdog, program, reason));
        }
        let errno = lock(&notes.errno)
            .map(|n| format!(" (ERRNO={n}: {})", io::Error::from_raw_os_error(n)));
        let status = status.or(leader.map(Some)).map_err(|e| e.to_string());
        match status {
            Ok(Some(status)) if status.success() => Ok(()),
            Ok(Some(status)) => Err(Failure::new(
                CheckKind::Exit,
                program,
                format!("{}{}", describe_exit(status), errno.unwrap_or_default()),
            )),
            Ok(None) => Err(Failure::new(
                CheckKind::Exit,
                program,
                "the main process ended; its status is not known".to_string(),
            )),
            Err(e) => Err(Failure::new(
                CheckKind::Exit,
                program,
                format!("cannot wait: {e}"),
            )),
        }
    }
}

/// How the run's wait ended.
enum Ending {
    /// The process exited (the leader, or the main pid it handed over to).
    Exited(io::Result<Option<ExitStatus>>),
    /// Herald told it to stop.
    Stopped,
    /// The watchdog fired, for this reason.
    Watchdog(String),
}

/// Sends `signal` to everything of the run: its group, its main pid and that one's group, and
/// its cgroup's processes (without one: the processes that carry its token).
fn stop_all(
    group: &Group,
    main: &MainProcess,
    notes: &Notes,
    contained: &RunBox,
    containment: &Containment,
    signal: i32,
) {
    group.signal_if_unreaped(signal);
    main.signal(notes, signal);
    match &contained.leaf {
        Some(leaf) => leaf.signal(signal),
        None => token::signal_each(&containment.escaped(&contained.token), signal),
    }
}

/// Kills, until none is left, every process outside the groups that carries the run's
/// token. A few rounds at most: a killed process cannot fork again.
fn sweep(containment: &Containment, token: &str) {
    for _ in 0..10 {
        let left = containment.escaped(token);
        if left.is_empty() {
            return;
        }
        token::signal_each(&left, libc::SIGKILL);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Resolves with the reason once the watchdog fires: after the run is ready, a period
/// without `WATCHDOG=1`, or a `WATCHDOG=trigger`. Never, without a watchdog.
async fn watchdog(period: Option<Duration>, gate: &Gate, notes: &Notes) -> String {
    let Some(configured) = period else {
        return std::future::pending().await;
    };
    gate.opened().await;
    let mut pings = notes.watchdog.subscribe();
    let mut last = Instant::now();
    let mut seen = pings.borrow_and_update().pings;
    loop {
        let state = *pings.borrow_and_update();
        if state.triggered {
            return "WATCHDOG=trigger".to_string();
        }
        if state.pings != seen {
            seen = state.pings;
            last = Instant::now();
        }
        let period = state.usec.map_or(configured, Duration::from_micros);
        tokio::select! {
            changed = pings.changed() => {
                if changed.is_err() {
                    return std::future::pending().await;
                }
            }
            _ = tokio::time::sleep_until(last + period) => {
                return format!("no WATCHDOG=1 within {}", crate::format_duration(period));
            }
        }
    }
}

/// The process a `MAINPID=` handed the run over to, once the launcher has exited.
///
/// The main pid is followed through a pidfd opened when the message was accepted, so it is
/// the very process named, even if its pid is reused later. As herald is the subreaper, a
/// daemon whose launcher exited is herald's own child, and its exit status is collected here
/// (the reaper leaves it alone, see `notify.rs`); otherwise its status is not known.
#[derive(Default)]
pub(crate) struct MainProcess {
    handed: Option<Handed>,
}

struct Handed {
    pid: u32,
    exit: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    status: Option<Option<ExitStatus>>,
}

impl MainProcess {
    /// Resolves when the run's process has ended: the leader, unless it exited 0 having named
    /// another live process of the run with `MAINPID=`, then that one. `Ok(None)` when the
    /// status of a main pid that is not herald's child cannot be known. Cancel-safe.
    pub(crate) async fn follow(
        &mut self,
        group: &mut Group,
        notes: &Notes,
        registration: Option<&Registration>,
    ) -> io::Result<Option<ExitStatus>> {
        if self.handed.is_none() {
            group.exited().await;
            if let Some(registration) = registration {
                registration.drain();
            }
            let main = notes.mainpid.borrow().clone();
            let main = main.filter(|m| m.pid != group.pgid() && m.alive());
            let Some(main) = main else {
                return group.finish().await.map(Some);
            };
            let status = group.reap_leader()?;
            if !status.success() {
                return Ok(Some(status));
            }
            // SAFETY: the duplicate stays open, and the same descriptor, while AsyncFd owns it.
            let exit = main.pidfd.try_clone().and_then(|fd| unsafe {
                tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
                    .map_err(|e| e.into_parts().1)
            })?;
            tracing::debug!(
                pid = main.pid,
                "the launcher exited; following the main pid"
            );
            self.handed = Some(Handed {
                pid: main.pid,
                exit,
                status: None,
            });
        }
        let handed = self.handed.as_mut().expect("handed over above");
        if let Some(status) = handed.status {
            return Ok(status);
        }
        let _ = handed.exit.readable().await;
        let status = reap_pidfd(handed.exit.get_ref());
        handed.status = Some(status);
        Ok(status)
    }

    /// Sends `signal` to the main pid a `MAINPID=` named, and to its group.
    pub(crate) fn signal(&self, notes: &Notes, signal: i32) {
        if let Some(main) = notes.mainpid.borrow().as_ref() {
            main.signal(signal);
        }
    }

    /// The run is over: the main pid is killed if it still runs, and reaped.
    pub(crate) fn finish(&mut self, notes: &Notes) {
        if let Some(main) = notes.mainpid.borrow().as_ref() {
            main.signal(libc::SIGKILL);
            crate::sys::reaper::disown(main.pid);
        }
        if let Some(handed) = &mut self.handed {
            if handed.status.is_none() {
                handed.status = Some(reap_pidfd(handed.exit.get_ref()));
            }
            crate::sys::reaper::disown(handed.pid);
        }
    }
}

/// Reaps the exited process `pidfd` refers to, if it is herald's child: its status.
fn reap_pidfd(pidfd: &std::os::fd::OwnedFd) -> Option<ExitStatus> {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::ExitStatusExt;
    // SAFETY: an all-zero siginfo_t is valid; waitid writes into it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is valid and writable; P_PIDFD names the process by descriptor.
    let r = unsafe {
        libc::waitid(
            libc::P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG,
        )
    };
    // SAFETY: waitid filled `info` for an exited child (or left it zeroed).
    let (pid, code, status) = unsafe { (info.si_pid(), info.si_code, info.si_status()) };
    if r != 0 || pid == 0 {
        return None;
    }
    Some(match code {
        libc::CLD_EXITED => ExitStatus::from_raw((status & 0xff) << 8),
        _ => ExitStatus::from_raw(status & 0x7f),
    })
}
