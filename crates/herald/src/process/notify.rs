//! The sd_notify readiness protocol: one datagram socket per stack, messages mapped to
//! components by the sender's credentials.
//!
//! The socket is `<state_dir>/notify.sock`, writable by every user (a component may run as
//! another user) as systemd's is. If that path is longer than a unix socket address
//! can hold (107 bytes), an abstract socket named `herald-notify-<pid>-<n>` is used instead
//! and children get `NOTIFY_SOCKET=@herald-notify-...`, as systemd does.
//!
//! `SO_PASSCRED` makes the kernel attach the sender's pid to each message, so a message
//! counts for the component whose process group the sender belongs to (or that declared the
//! sender with `MAINPID=`), never for a component it merely names: one component cannot mark
//! another ready. A message that arrives before its group is registered (a child may send
//! `READY=1` before herald has finished its own bookkeeping of the spawn) is held for
//! [`EARLY_WINDOW`] and delivered on registration; one that no component claims by then is
//! dropped with a warning.
//!
//! Understood: `READY=1`, `STATUS=...`, `STOPPING=1`, `MAINPID=n`; the rest is ignored.

use super::ready::Gate;
use crate::Context;
use std::collections::HashMap;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::UnixDatagram;
use tokio::time::Instant;

/// How long a message from a not-yet-registered group is kept.
pub(crate) const EARLY_WINDOW: Duration = Duration::from_secs(2);

/// The longest path a unix socket address holds.
const SUN_PATH_MAX: usize = 107;

/// One understood notify message field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    /// `READY=1`.
    Ready,
    /// `STATUS=text`.
    Status(String),
    /// `STOPPING=1`.
    Stopping,
    /// `MAINPID=n`.
    MainPid(u32),
}

/// Parses a datagram: newline-separated `KEY=value` assignments. Unknown keys are ignored.
pub(crate) fn parse(datagram: &[u8]) -> Vec<Message> {
    let text = String::from_utf8_lossy(datagram);
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            match key {
                "READY" if value == "1" => Some(Message::Ready),
                "STOPPING" if value == "1" => Some(Message::Stopping),
                "STATUS" => Some(Message::Status(value.to_string())),
                "MAINPID" => value.trim().parse().ok().map(Message::MainPid),
                _ => None,
            }
        })
        .collect()
}

/// Who receives a registered group's messages.
pub(crate) struct Listener {
    pub ctx: Context,
    pub gate: Arc<Gate>,
}

impl Listener {
    fn deliver(&self, messages: &[Message], mainpids: &mut HashMap<u32, u32>, pgid: u32) {
        for message in messages {
            match message {
                Message::Ready => self.gate.notified(),
                Message::Status(text) => self.ctx.set_detail(text.clone()),
                Message::Stopping => tracing::debug!(component = self.ctx.name(), "stopping"),
                Message::MainPid(pid) => {
                    mainpids.insert(*pid, pgid);
                    self.ctx.spawned(Some(*pid));
                }
            }
        }
    }
}

/// A message held until its group registers.
struct Early {
    at: Instant,
    pid: u32,
    pgid: u32,
    messages: Vec<Message>,
}

#[derive(Default)]
struct Registry {
    groups: HashMap<u32, Listener>,
    mainpids: HashMap<u32, u32>,
    early: Vec<Early>,
}

impl Registry {
    /// Routes group `pgid` to `listener`, delivering what it sent early.
    fn register(&mut self, pgid: u32, listener: Listener) {
        let (early, rest): (Vec<Early>, Vec<Early>) = std::mem::take(&mut self.early)
            .into_iter()
            .partition(|e| e.pgid == pgid);
        self.early = rest;
        for e in early {
            listener.deliver(&e.messages, &mut self.mainpids, pgid);
        }
        self.groups.insert(pgid, listener);
    }

    /// Drops held messages older than the window, with a warning each.
    fn expire(&mut self, now: Instant) {
        self.early.retain(|e| {
            let keep = now.duration_since(e.at) < EARLY_WINDOW;
            if !keep {
                tracing::warn!(
                    pid = e.pid,
                    pgid = e.pgid,
                    "dropped a notify message from a process no component owns"
                );
            }
            keep
        });
    }
}

/// The stack's notify socket and the groups that listen on it.
pub(crate) struct Notify {
    address: String,
    registry: Arc<Mutex<Registry>>,
    task: tokio::task::JoinHandle<()>,
    path: Option<PathBuf>,
}

impl Drop for Notify {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Notify {
    /// Binds the socket at `path` (or an abstract one if the path is too long) and starts
    /// receiving.
    pub(crate) fn bind(path: &Path) -> io::Result<Notify> {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram as StdDatagram};
        let (socket, address, bound) = if path.as_os_str().len() <= SUN_PATH_MAX {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            let socket = StdDatagram::bind(path)?;
            // Sending needs write permission on the socket file. A component that drops to
            // another user (postgres refuses to run as root) must still reach it, as every
            // process can reach systemd's own notify socket; credentials, not permissions,
            // decide which component a message counts for.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
            (socket, path.display().to_string(), Some(path.to_path_buf()))
        } else {
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let name = format!("herald-notify-{}-{n}", std::process::id());
            let socket = StdDatagram::bind_addr(&SocketAddr::from_abstract_name(&name)?)?;
            tracing::info!(
                path = %path.display(),
                "the notify socket path is too long; using the abstract socket @{name}"
            );
            (socket, format!("@{name}"), None)
        };
        rustix::net::sockopt::set_socket_passcred(&socket, true)?;
        socket.set_nonblocking(true)?;
        let socket = UnixDatagram::from_std(socket)?;
        let registry = Arc::new(Mutex::new(Registry::default()));
        let task = tokio::spawn(receive(socket, registry.clone()));
        Ok(Notify {
            address,
            registry,
            task,
            path: bound,
        })
    }

    /// The value children get as `NOTIFY_SOCKET`.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// Routes the messages of group `pgid` to `listener` until the returned guard is dropped,
    /// delivering any that arrived early.
    pub(crate) fn register(&self, pgid: u32, listener: Listener) -> Registration {
        lock(&self.registry).register(pgid, listener);
        Registration {
            registry: self.registry.clone(),
            pgid,
        }
    }
}

/// Keeps a group registered; unregisters it when dropped.
pub(crate) struct Registration {
    registry: Arc<Mutex<Registry>>,
    pgid: u32,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut registry = lock(&self.registry);
        registry.groups.remove(&self.pgid);
        let pgid = self.pgid;
        registry.mainpids.retain(|_, g| *g != pgid);
    }
}

fn lock(registry: &Mutex<Registry>) -> std::sync::MutexGuard<'_, Registry> {
    registry.lock().unwrap_or_else(|e| e.into_inner())
}

/// Receives one datagram with its sender's pid.
fn recv_one(socket: &UnixDatagram, buf: &mut [u8]) -> io::Result<(usize, Option<u32>)> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
    use std::mem::MaybeUninit;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut iov = [io::IoSliceMut::new(buf)];
    let msg = recvmsg(
        socket.as_fd(),
        &mut iov,
        &mut control,
        RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut pid = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmCredentials(cred) = message {
            pid = Some(cred.pid.as_raw_pid() as u32);
        }
    }
    Ok((msg.bytes, pid))
}

async fn receive(socket: UnixDatagram, registry: Arc<Mutex<Registry>>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let next_expiry = lock(&registry).early.first().map(|e| e.at + EARLY_WINDOW);
        tokio::select! {
            ready = socket.readable() => {
                if let Err(e) = ready {
                    tracing::warn!("the notify socket failed: {e}");
                    return;
                }
            }
            _ = tokio::time::sleep_until(next_expiry.unwrap_or_else(Instant::now)), if next_expiry.is_some() => {
                lock(&registry).expire(Instant::now());
                continue;
            }
        }
        loop {
            match socket.try_io(Interest::READABLE, || recv_one(&socket, &mut buf)) {
                Ok((len, Some(pid))) => handle(&registry, pid, &buf[..len]),
                Ok((_, None)) => tracing::warn!("dropped a notify message without credentials"),
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

/// Routes one datagram from `pid` to the component that owns it.
fn handle(registry: &Mutex<Registry>, pid: u32, datagram: &[u8]) {
    let messages = parse(datagram);
    if messages.is_empty() {
        return;
    }
    let mut registry = lock(registry);
    let registry = &mut *registry;
    let now = Instant::now();
    registry.expire(now);
    let pgid = match registry.mainpids.get(&pid) {
        Some(&pgid) => pgid,
        None => {
            // SAFETY: getpgid has no memory-safety preconditions.
            let pgid = unsafe { libc::getpgid(pid as libc::pid_t) };
            if pgid <= 0 {
                tracing::warn!(pid, "dropped a notify message from a process that is gone");
                return;
            }
            pgid as u32
        }
    };
    match registry.groups.get(&pgid) {
        Some(listener) => listener.deliver(&messages, &mut registry.mainpids, pgid),
        None => registry.early.push(Early {
            at: now,
            pid,
            pgid,
            messages,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ComponentSpec;
    use crate::bus::Bus;
    use crate::component::RunReport;
    use tokio::sync::watch;
    use tokio_util::sync::CancellationToken;

    fn listener() -> (Listener, watch::Receiver<RunReport>) {
        let (tx, rx) = watch::channel(RunReport::default());
        let ctx = Context {
            spec: Arc::new(ComponentSpec::new("c")),
            stop: CancellationToken::new(),
            report: Arc::new(tx),
            bus: Arc::new(Bus::new(vec!["c".into()], 1, 1)),
            activity: Arc::new(tokio::sync::Notify::new()),
        };
        let gate = Arc::new(Gate::new(ctx.clone(), true, false));
        (Listener { ctx, gate }, rx)
    }

    #[test]
    fn a_message_sent_before_registration_is_delivered_on_it() {
        // SAFETY: getpgid(0) has no preconditions.
        let pgid = unsafe { libc::getpgid(0) } as u32;
        let registry = Mutex::new(Registry::default());
        handle(&registry, std::process::id(), b"READY=1\nSTATUS=up");
        assert_eq!(lock(&registry).early.len(), 1);
        let (listener, report) = listener();
        lock(&registry).register(pgid, listener);
        assert!(report.borrow().ready);
        assert_eq!(report.borrow().detail.as_deref(), Some("up"));
        assert!(lock(&registry).early.is_empty());
    }

    #[test]
    fn a_status_lets_pending_probes_run_early() {
        use futures_util::FutureExt;
        // SAFETY: getpgid(0) has no preconditions.
        let pgid = unsafe { libc::getpgid(0) } as u32;
        let registry = Mutex::new(Registry::default());
        let (listener, report) = listener();
        let activity = listener.ctx.activity.clone();
        lock(&registry).register(pgid, listener);
        let quiet = activity.notified();
        handle(&registry, std::process::id(), b"MAINPID=1");
        assert!(quiet.now_or_never().is_none(), "stirred by MAINPID=");
        let stirred = activity.notified();
        handle(&registry, std::process::id(), b"STATUS=loading");
        assert!(stirred.now_or_never().is_some(), "not stirred by STATUS=");
        assert_eq!(report.borrow().detail.as_deref(), Some("loading"));
    }

    #[test]
    fn unclaimed_messages_expire_and_others_groups_are_not_marked() {
        // SAFETY: getpgid(0) has no preconditions.
        let pgid = unsafe { libc::getpgid(0) } as u32;
        let registry = Mutex::new(Registry::default());
        let (other, report) = listener();
        lock(&registry).register(pgid + 1, other);
        handle(&registry, std::process::id(), b"READY=1");
        assert!(
            !report.borrow().ready,
            "a message counted for another group"
        );
        lock(&registry).expire(Instant::now() + EARLY_WINDOW);
        assert!(lock(&registry).early.is_empty());
    }

    #[tokio::test]
    async fn every_user_may_send_to_the_socket() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let _notify = Notify::bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o666, "mode {mode:o}");
    }

    #[test]
    fn understands_ready_status_stopping_and_mainpid() {
        let messages = parse(b"READY=1\nSTATUS=Serving on :80\nMAINPID=4242\nWATCHDOG=1\n");
        assert_eq!(
            messages,
            [
                Message::Ready,
                Message::Status("Serving on :80".into()),
                Message::MainPid(4242),
            ]
        );
        assert_eq!(parse(b"STOPPING=1"), [Message::Stopping]);
        assert!(parse(b"READY=0\nMAINPID=x\ngarbage\n").is_empty());
    }
}
