//! The sd_notify protocol: one datagram socket per stack, each message credited to the run
//! that contains its sender.
//!
//! The socket is `<state_dir>/notify.sock`, writable by every user (a component may run as
//! another user) as systemd's is. Where that path is too long for every client, the socket
//! lives in a short folder of its own and the state folder links to it (see
//! `sys/sockdir.rs`): `NOTIFY_SOCKET` is always a filesystem path, never an abstract name.
//!
//! # Who sent it
//! Each message carries its sender's credentials (`SO_PASSCRED`, and a pidfd where the
//! kernel attaches one), read at receive time, so a sender that exits right after sending is
//! still known. A message is credited to the run whose cgroup holds the sender (from the
//! pidfd, else `/proc/PID/cgroup` read at once), else whose process group it is in (or whose
//! main pid it is), else whose run token its environment carries (see `sys/token.rs`); never
//! to a run it merely names, so one component cannot mark another ready. A run is
//! registered before its child is spawned (by cgroup and token; its group once known), so no
//! message can arrive before its run is known. `MAINPID=` is accepted only for a process of
//! the sender's own run.
//!
//! # Bounded work
//! The socket is drained in batches of [`BATCH`] messages, yielding in between. Each message
//! costs O(1): one receive, one credentials look-up, hash look-ups. A sender no run claims is
//! remembered for [`STRANGER_TTL`], so the rest of its flood is dropped after a hash look-up
//! alone, and each sender has a budget of [`BUDGET`] messages a second. Everything dropped is
//! logged (the sender, the reason), once per sender and second.
//!
//! # The keys
//! Every key systemd defines is parsed into a [`Message`]. Acted on here: `READY=1`,
//! `STATUS=` (the run's detail), `MAINPID=` (the run follows it), `ERRNO=` (in the failure's
//! reason), `WATCHDOG=1`, `WATCHDOG=trigger`, `WATCHDOG_USEC=` (the run's watchdog, see
//! `child.rs`), `EXTEND_TIMEOUT_USEC=` (extends the ready deadline), `FDSTORE=1` (the
//! descriptors are closed, as are `BARRIER=1`'s, which is what a barrier waits for).
//! `RELOADING=1`, `STOPPING=1` and a `READY=1` after them are handed to
//! [`Listener::lifecycle`], the one hook for the engine's states. A message longer than
//! systemd's limit ([`LIMIT`]) is dropped whole.

use super::ready::Gate;
use crate::Context;
use crate::sys::{cgroup, peer, token};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::UnixDatagram;
use tokio::sync::watch;
use tokio::time::Instant;

/// The largest message systemd accepts (`PIPE_BUF`); a longer one is dropped whole.
pub(crate) const LIMIT: usize = 4096;
/// Messages handled per wake-up before yielding to other tasks.
pub(crate) const BATCH: usize = 64;
/// How long a sender no run claims is remembered.
pub(crate) const STRANGER_TTL: Duration = Duration::from_secs(1);
/// Messages a second one sender may have handled; the rest of that second's are dropped.
pub(crate) const BUDGET: u32 = 1000;

/// One assignment of a notify message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    /// `READY=1`.
    Ready,
    /// `RELOADING=1`.
    Reloading,
    /// `STOPPING=1`.
    Stopping,
    /// `STATUS=text`.
    Status(String),
    /// `ERRNO=n`.
    Errno(i32),
    /// `BUSERROR=name`.
    BusError(String),
    /// `EXIT_STATUS=value`.
    ExitStatus(String),
    /// `MAINPID=n`.
    MainPid(u32),
    /// `MONOTONIC_USEC=n` (sent with `RELOADING=1`).
    MonotonicUsec(u64),
    /// `WATCHDOG=1`.
    Watchdog,
    /// `WATCHDOG=trigger`.
    WatchdogTrigger,
    /// `WATCHDOG_USEC=n`.
    WatchdogUsec(u64),
    /// `EXTEND_TIMEOUT_USEC=n`.
    ExtendTimeoutUsec(u64),
    /// `FDSTORE=1`, `FDSTOREREMOVE=1`, `FDNAME=`, `FDPOLL=0`: the descriptor store, which
    /// herald does not keep.
    FdStore,
    /// `BARRIER=1`.
    Barrier,
    /// `NOTIFYACCESS=value`.
    NotifyAccess(String),
    /// A key herald does not know, or a value it cannot read.
    Other(String),
}

/// Parses a datagram: newline-separated `KEY=value` assignments.
pub(crate) fn parse(datagram: &[u8]) -> Vec<Message> {
    let text = String::from_utf8_lossy(datagram);
    text.split('\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            let Some((key, value)) = line.split_once('=') else {
                return Message::Other(line.to_string());
            };
            let num = || value.trim().parse::<u64>().ok();
            let parsed = match key {
                "READY" if value == "1" => Some(Message::Ready),
                "RELOADING" if value == "1" => Some(Message::Reloading),
                "STOPPING" if value == "1" => Some(Message::Stopping),
                "STATUS" => Some(Message::Status(value.to_string())),
                "ERRNO" => value.trim().parse().ok().map(Message::Errno),
                "BUSERROR" => Some(Message::BusError(value.to_string())),
                "EXIT_STATUS" => Some(Message::ExitStatus(value.to_string())),
                "MAINPID" => value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|&p| p > 0)
                    .map(Message::MainPid),
                "MONOTONIC_USEC" => num().map(Message::MonotonicUsec),
                "WATCHDOG" if value == "1" => Some(Message::Watchdog),
                "WATCHDOG" if value == "trigger" => Some(Message::WatchdogTrigger),
                "WATCHDOG_USEC" => num().filter(|&n| n > 0).map(Message::WatchdogUsec),
                "EXTEND_TIMEOUT_USEC" => num().map(Message::ExtendTimeoutUsec),
                "FDSTORE" | "FDSTOREREMOVE" | "FDNAME" | "FDPOLL" => Some(Message::FdStore),
                "BARRIER" if value == "1" => Some(Message::Barrier),
                "NOTIFYACCESS" => Some(Message::NotifyAccess(value.to_string())),
                _ => None,
            };
            parsed.unwrap_or_else(|| Message::Other(line.to_string()))
        })
        .collect()
}

/// The watchdog as the run's messages set it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Watchdog {
    /// `WATCHDOG=1` messages so far.
    pub pings: u64,
    /// The period a `WATCHDOG_USEC=` set, if any.
    pub usec: Option<u64>,
    /// `WATCHDOG=trigger` arrived.
    pub triggered: bool,
}

/// A main pid a `MAINPID=` named, with a pidfd opened on acceptance: the very process named.
#[derive(Debug, Clone)]
pub(crate) struct MainPid {
    pub pid: u32,
    pub pidfd: Arc<OwnedFd>,
}

impl MainPid {
    fn open(pid: u32) -> Option<MainPid> {
        let raw = rustix::process::Pid::from_raw(pid as i32)?;
        let fd = rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()).ok()?;
        Some(MainPid {
            pid,
            pidfd: Arc::new(fd),
        })
    }

    /// Whether the process still runs.
    pub(crate) fn alive(&self) -> bool {
        self.send(0)
    }

    /// Sends `signal` to the process and, if it leads or belongs to a group other than
    /// herald's, to that group.
    pub(crate) fn signal(&self, signal: i32) {
        if !self.alive() {
            return;
        }
        // SAFETY: getpgid has no memory-safety preconditions.
        let (pgid, ours) = unsafe { (libc::getpgid(self.pid as libc::pid_t), libc::getpgid(0)) };
        if pgid > 1 && pgid != ours {
            crate::sys::signals::kill_group(pgid as u32, signal);
        }
        self.send(signal);
    }

    fn send(&self, signal: i32) -> bool {
        // SAFETY: pidfd_send_signal takes a valid descriptor and no pointers but a null one.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        r == 0
    }
}

/// What a run learns from its messages besides readiness, for `child.rs`.
#[derive(Debug)]
pub(crate) struct Notes {
    /// The main pid a `MAINPID=` named (accepted ones only).
    pub mainpid: watch::Sender<Option<MainPid>>,
    /// The watchdog's pings and period.
    pub watchdog: watch::Sender<Watchdog>,
    /// The last `ERRNO=`.
    pub errno: Mutex<Option<i32>>,
    /// The last message refused for this run, and why.
    pub refused: Mutex<Option<String>>,
}

impl Default for Notes {
    fn default() -> Self {
        Notes {
            mainpid: watch::Sender::new(None),
            watchdog: watch::Sender::new(Watchdog::default()),
            errno: Mutex::new(None),
            refused: Mutex::new(None),
        }
    }
}

/// A state change the protocol announces, for the engine: see [`Listener::lifecycle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// `RELOADING=1` (with `MONOTONIC_USEC=` if it came along).
    Reloading { monotonic_usec: Option<u64> },
    /// `READY=1` after the run was ready already (the end of a reload).
    ReadyAgain,
    /// `STOPPING=1`.
    Stopping,
}

/// Who receives a run's messages.
pub(crate) struct Listener {
    pub ctx: Context,
    pub gate: Arc<Gate>,
    pub notes: Arc<Notes>,
}

impl Listener {
    /// The protocol's state changes, for the engine: `RELOADING=1` makes a ready component
    /// `reloading` until its next `READY=1`. `STOPPING=1` is only logged: a stop the process
    /// begins by itself ends in its exit, which the engine judges.
    pub(crate) fn lifecycle(&self, change: Lifecycle) {
        tracing::debug!(component = self.ctx.name(), ?change, "notify: state change");
        match change {
            Lifecycle::Reloading { .. } => self.ctx.set_reloading(true),
            Lifecycle::ReadyAgain => self.ctx.set_reloading(false),
            Lifecycle::Stopping => {}
        }
    }

    fn deliver(&self, messages: &[Message]) {
        let mut monotonic = None;
        let reloading = messages.contains(&Message::Reloading);
        for message in messages {
            match message {
                Message::Ready if self.gate.is_open() => self.lifecycle(Lifecycle::ReadyAgain),
                Message::Ready => self.gate.notified(),
                Message::Status(text) => self.ctx.set_detail(text.clone()),
                Message::Errno(n) => {
                    *lock(&self.notes.errno) = Some(*n);
                    let text = io::Error::from_raw_os_error(*n);
                    self.ctx
                        .note_signal(format!("the process sent ERRNO={n}: {text}"));
                }
                Message::Watchdog => self.notes.watchdog.send_modify(|w| w.pings += 1),
                Message::WatchdogTrigger => self.notes.watchdog.send_modify(|w| w.triggered = true),
                Message::WatchdogUsec(usec) => {
                    self.notes.watchdog.send_modify(|w| w.usec = Some(*usec))
                }
                Message::ExtendTimeoutUsec(usec) => {
                    self.ctx.extend_timeout(Duration::from_micros(*usec))
                }
                Message::MonotonicUsec(usec) => monotonic = Some(*usec),
                Message::Stopping => self.lifecycle(Lifecycle::Stopping),
                Message::MainPid(_) | Message::Reloading => {} // handled by the caller / below
                other => tracing::trace!(component = self.ctx.name(), ?other, "notify: ignored"),
            }
        }
        if reloading {
            self.lifecycle(Lifecycle::Reloading {
                monotonic_usec: monotonic,
            });
        }
    }

    fn refuse(&self, reason: String) {
        tracing::warn!(
            component = self.ctx.name(),
            "dropped a notify message: {reason}"
        );
        self.ctx.note_signal(reason.clone());
        *lock(&self.notes.refused) = Some(reason);
    }
}

/// How a run is recognised: its cgroup (id and path, where there are cgroups), its token,
/// and its process group once spawned.
#[derive(Debug, Clone, Default)]
pub(crate) struct Claim {
    pub cgroup: Option<(u64, String)>,
    pub token: String,
}

struct Run {
    listener: Listener,
    claim: Claim,
    pgid: Option<u32>,
    mainpid: Option<u32>,
}

/// A sender's spending in the current second.
struct Spending {
    second: Instant,
    spent: u32,
}

#[derive(Default)]
struct Registry {
    next: u64,
    runs: HashMap<u64, Run>,
    by_cgroup_id: HashMap<u64, u64>,
    by_cgroup_path: HashMap<String, u64>,
    by_pgid: HashMap<u32, u64>,
    by_token: HashMap<String, u64>,
    by_mainpid: HashMap<u32, u64>,
    /// Senders no run claims, and since when.
    strangers: HashMap<u32, Instant>,
    spending: HashMap<u32, Spending>,
    /// When the runs waiting for their signal were last told of a dropped message.
    told: Option<Instant>,
}

impl Registry {
    fn register(&mut self, claim: Claim, listener: Listener) -> u64 {
        let key = self.next;
        self.next += 1;
        if let Some((id, path)) = &claim.cgroup {
            self.by_cgroup_id.insert(*id, key);
            self.by_cgroup_path.insert(path.clone(), key);
        }
        self.by_token.insert(claim.token.clone(), key);
        self.runs.insert(
            key,
            Run {
                listener,
                claim,
                pgid: None,
                mainpid: None,
            },
        );
        key
    }

    fn unregister(&mut self, key: u64) {
        let Some(run) = self.runs.remove(&key) else {
            return;
        };
        if let Some((id, path)) = &run.claim.cgroup {
            self.by_cgroup_id.remove(id);
            self.by_cgroup_path.remove(path);
        }
        self.by_token.remove(&run.claim.token);
        if let Some(pgid) = run.pgid {
            self.by_pgid.remove(&pgid);
        }
        if let Some(pid) = run.mainpid {
            self.by_mainpid.remove(&pid);
        }
    }

    /// The run containing the process `pid` (`pidfd`, if given, refers to it).
    fn owner(&self, pid: u32, pidfd: Option<&std::os::fd::OwnedFd>) -> Option<u64> {
        if !self.by_cgroup_id.is_empty() {
            if let Some(id) = pidfd.and_then(peer::cgroup_id) {
                return self.by_cgroup_id.get(&id).copied();
            }
            if let Some(key) = cgroup::cgroup_of(pid).and_then(|p| self.by_cgroup_path.get(&p)) {
                return Some(*key);
            }
        }
        self.lineage_owner(pid)
            .or_else(|| token::token_of(pid).and_then(|t| self.by_token.get(&t).copied()))
    }

    /// The run whose group (or main pid) holds `pid` or one of its ancestors up to herald:
    /// a process that left its run's group is still its leader's descendant, or herald's
    /// adopted child. Reads `/proc/PID/stat` only, which never fails while the process
    /// exists (its environment can be unreadable during `execve`).
    fn lineage_owner(&self, pid: u32) -> Option<u64> {
        let herald = std::process::id();
        let mut current = pid;
        for _ in 0..64 {
            if let Some(&key) = self.by_mainpid.get(&current) {
                return Some(key);
            }
            let (parent, pgid) = token::parent_and_group(current)?;
            if let Some(&key) = self.by_pgid.get(&pgid) {
                return Some(key);
            }
            if parent == herald {
                // An adopted orphan: its token tells whose it is.
                return token::token_of(current).and_then(|t| self.by_token.get(&t).copied());
            }
            if parent <= 1 {
                return None;
            }
            current = parent;
        }
        None
    }

    /// Whether one more message from `pid` is within its budget for this second.
    fn within_budget(&mut self, pid: u32, now: Instant) -> bool {
        if self.spending.len() > 4096 {
            self.spending
                .retain(|_, s| now.duration_since(s.second) < Duration::from_secs(1));
        }
        let spending = self.spending.entry(pid).or_insert(Spending {
            second: now,
            spent: 0,
        });
        if now.duration_since(spending.second) >= Duration::from_secs(1) {
            *spending = Spending {
                second: now,
                spent: 0,
            };
        }
        spending.spent += 1;
        if spending.spent == BUDGET + 1 {
            tracing::warn!(
                pid,
                "notify: over {BUDGET} messages this second; dropping the rest"
            );
        }
        spending.spent <= BUDGET
    }

    /// Whether `pid` is a known stranger (and so dropped at once).
    fn is_stranger(&mut self, pid: u32, now: Instant) -> bool {
        match self.strangers.get(&pid) {
            Some(&since) if now.duration_since(since) < STRANGER_TTL => true,
            Some(_) => {
                self.strangers.remove(&pid);
                false
            }
            None => false,
        }
    }

    fn note_stranger(&mut self, pid: u32, uid: Option<u32>, now: Instant) {
        if self.strangers.len() > 4096 {
            self.strangers
                .retain(|_, since| now.duration_since(*since) < STRANGER_TTL);
        }
        self.strangers.insert(pid, now);
        let reason = format!(
            "a notify message from pid {pid} (uid {}) was dropped: no component contains it \
             (it may have exited before herald could tell)",
            uid.map_or("?".into(), |u| u.to_string())
        );
        tracing::warn!(
            pid,
            uid,
            "dropped a notify message from a process no component contains"
        );
        // The runs still waiting for their signal note it: for a start that fails for want of
        // one, it may be the message that was meant (at most ten times a second).
        if self
            .told
            .is_none_or(|t| now.duration_since(t) >= Duration::from_millis(100))
        {
            self.told = Some(now);
            for run in self.runs.values().filter(|r| !r.listener.gate.is_open()) {
                run.listener.ctx.note_signal(reason.clone());
            }
        }
    }

    /// Whether the process `main` belongs to the run `key`.
    fn belongs(&self, key: u64, main: &MainPid) -> bool {
        let Some(run) = self.runs.get(&key) else {
            return false;
        };
        let pid = main.pid;
        if let Some((id, path)) = &run.claim.cgroup {
            if let Some(found) = peer::cgroup_id(&main.pidfd) {
                return found == *id;
            }
            return cgroup::cgroup_of(pid).as_deref() == Some(path.as_str());
        }
        self.lineage_owner(pid) == Some(key)
            || token::token_of(pid).as_deref() == Some(run.claim.token.as_str())
    }
}

/// The stack's notify socket and the runs that listen on it.
pub(crate) struct Notify {
    address: String,
    socket: Arc<UnixDatagram>,
    registry: Arc<Mutex<Registry>>,
    task: tokio::task::JoinHandle<()>,
    path: PathBuf,
    _short: Option<crate::sys::sockdir::ShortDir>,
}

impl Drop for Notify {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Notify {
    /// Binds the socket at `path` (or in a short folder linked from there, if the path is too
    /// long) and starts receiving.
    pub(crate) fn bind(path: &Path) -> io::Result<Notify> {
        use crate::sys::sockdir::{SHORT_ENOUGH, ShortDir};
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::net::UnixDatagram as StdDatagram;
        let (short, bound) = if path.as_os_str().len() <= SHORT_ENOUGH {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            (None, path.to_path_buf())
        } else {
            let (short, socket) = ShortDir::create(path, "notify.sock")?;
            (Some(short), socket)
        };
        let socket = StdDatagram::bind(&bound)?;
        // Sending needs write permission on the socket file. A component that drops to
        // another user (postgres refuses to run as root) must still reach it, as every
        // process can reach systemd's own notify socket; credentials, not permissions,
        // decide which component a message counts for.
        std::fs::set_permissions(&bound, std::fs::Permissions::from_mode(0o666))?;
        peer::pass_credentials(socket.as_fd())?;
        socket.set_nonblocking(true)?;
        let socket = Arc::new(UnixDatagram::from_std(socket)?);
        let registry = Arc::new(Mutex::new(Registry::default()));
        let task = tokio::spawn(receive(socket.clone(), registry.clone()));
        Ok(Notify {
            address: bound.display().to_string(),
            socket,
            registry,
            task,
            path: bound,
            _short: short,
        })
    }

    /// The value children get as `NOTIFY_SOCKET`.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// Routes the messages of the run `claim` describes to `listener` until the returned
    /// guard is dropped. Call before spawning.
    pub(crate) fn register(&self, claim: Claim, listener: Listener) -> Registration {
        let key = lock(&self.registry).register(claim, listener);
        Registration {
            registry: self.registry.clone(),
            socket: self.socket.clone(),
            key,
        }
    }
}

/// Keeps a run registered; unregisters it when dropped.
pub(crate) struct Registration {
    registry: Arc<Mutex<Registry>>,
    socket: Arc<UnixDatagram>,
    key: u64,
}

impl Registration {
    /// Handles every message waiting on the socket now, from the calling task: when a
    /// launcher exits, the `MAINPID=` it sent just before is taken into account first.
    pub(crate) fn drain(&self) {
        let mut buf = vec![0u8; LIMIT];
        for _ in 0..BATCH {
            let socket = &self.socket;
            match socket.try_io(Interest::READABLE, || peer::recv(socket.as_fd(), &mut buf)) {
                Ok(received) => handle(&self.registry, &received, &buf[..received.len]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// The run's process group, once spawned.
    pub(crate) fn set_pgid(&self, pgid: u32) {
        let mut registry = lock(&self.registry);
        if let Some(run) = registry.runs.get_mut(&self.key) {
            run.pgid = Some(pgid);
            registry.by_pgid.insert(pgid, self.key);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.registry).unregister(self.key);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

async fn receive(socket: Arc<UnixDatagram>, registry: Arc<Mutex<Registry>>) {
    // A longer message is marked truncated by the kernel, and dropped whole.
    let mut buf = vec![0u8; LIMIT];
    loop {
        if let Err(e) = socket.readable().await {
            tracing::warn!("the notify socket failed: {e}");
            return;
        }
        let mut handled = 0;
        loop {
            match socket.try_io(Interest::READABLE, || peer::recv(socket.as_fd(), &mut buf)) {
                Ok(received) => {
                    handle(&registry, &received, &buf[..received.len]);
                    drop(received); // closes passed descriptors: FDSTORE=1, BARRIER=1
                    handled += 1;
                    if handled == BATCH {
                        handled = 0;
                        tokio::task::yield_now().await;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!("cannot receive on the notify socket: {e}");
                    break;
                }
            }
        }
    }
}

/// Routes one datagram to the run that contains its sender.
fn handle(registry: &Mutex<Registry>, received: &peer::Received, datagram: &[u8]) {
    let Some(pid) = received.pid else {
        tracing::warn!("dropped a notify message without credentials");
        return;
    };
    let mut registry = lock(registry);
    let now = Instant::now();
    if registry.is_stranger(pid, now) || !registry.within_budget(pid, now) {
        return;
    }
    if received.truncated {
        tracing::warn!(
            pid,
            "dropped a notify message longer than {LIMIT} bytes, whole"
        );
        return;
    }
    let Some(key) = registry.owner(pid, received.pidfd.as_ref()) else {
        registry.note_stranger(pid, received.uid, now);
        return;
    };
    let messages = parse(datagram);
    let mut accepted = None;
    for message in &messages {
        let Message::MainPid(main) = message else {
            continue;
        };
        let opened = MainPid::open(*main).filter(|m| registry.belongs(key, m));
        match opened {
            Some(main) => accepted = Some(main),
            None => {
                if let Some(run) = registry.runs.get(&key) {
                    run.listener.refuse(format!(
                        "MAINPID={main} from pid {pid} refused: not a process of this component"
                    ));
                }
            }
        }
    }
    if let Some(main) = &accepted {
        let old = registry
            .runs
            .get_mut(&key)
            .and_then(|r| r.mainpid.replace(main.pid));
        if let Some(old) = old {
            registry.by_mainpid.remove(&old);
            crate::sys::reaper::disown(old);
        }
        registry.by_mainpid.insert(main.pid, key);
        // Herald collects its status once its launcher is gone (see `child.rs`).
        crate::sys::reaper::own(main.pid);
    }
    let Some(run) = registry.runs.get(&key) else {
        return;
    };
    if let Some(main) = accepted {
        run.listener.ctx.spawned(Some(main.pid));
        run.listener.notes.mainpid.send_replace(Some(main));
    }
    run.listener.deliver(&messages);
}

#[cfg(test)]
mod tests;
