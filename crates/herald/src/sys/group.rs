//! A spawned child's process group, from spawn to reaping.
//!
//! The leader's exit is awaited through a pidfd without reaping it, so the group is
//! signalled only while its leader is alive or an unreaped zombie: a group id is never
//! signalled after the kernel could have reused it. On kernels without pidfds (before Linux
//! 5.3) a blocking thread waits for the leader, which is then reaped first and the rest of
//! the group killed right after.

use super::Containment;
use super::signals::kill_group;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;

/// A process group led by a child of ours; killed and reaped if dropped before
/// [`Group::finish`].
pub(crate) struct Group {
    pgid: u32,
    /// The stack's containment watches the group while it may have members (components only).
    containment: Option<Arc<Containment>>,
    exit: Option<AsyncFd<OwnedFd>>,
    /// Without a pidfd: the thread waiting for the leader.
    waiter: Option<JoinHandle<io::Result<ExitStatus>>>,
    /// The leader's status, once reaped.
    status: Option<io::Result<ExitStatus>>,
    /// The leader was reaped.
    reaped: bool,
    finished: bool,
}

impl Group {
    /// Takes charge of the group that the child `pid` leads. Needs a Tokio runtime.
    pub fn new(pid: u32, containment: Option<Arc<Containment>>) -> Self {
        if let Some(containment) = &containment {
            containment.watch(pid);
        }
        let exit = rustix::process::Pid::from_raw(pid as i32)
            .and_then(|pid| {
                rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
            })
            .and_then(|fd| {
                // SAFETY: an OwnedFd stays open, and the same descriptor, for as long as
                // the AsyncFd owns it.
                unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.ok()
            });
        Self {
            pgid: pid,
            containment,
            exit,
            waiter: None,
            status: None,
            reaped: false,
            finished: false,
        }
    }

    /// The group's id, which is also its leader's pid.
    pub fn pgid(&self) -> u32 {
        self.pgid
    }

    /// Resolves once the leader has exited; with a pidfd it is not reaped yet.
    pub async fn exited(&mut self) {
        if self.status.is_some() {
            return;
        }
        if let Some(fd) = &self.exit {
            let _ = fd.readable().await;
            return;
        }
        let pid = self.pgid;
        let waiter = self
            .waiter
            .get_or_insert_with(|| tokio::task::spawn_blocking(move || reap(pid)));
        let status = waiter
            .await
            .unwrap_or_else(|e| Err(io::Error::other(format!("the wait failed: {e}"))));
        self.waiter = None;
        self.status = Some(status);
    }

    /// Sends `signal` to every process of the group.
    pub fn signal(&self, signal: i32) {
        kill_group(self.pgid, signal);
    }

    /// Sends `signal` to the group while its leader is alive or an unreaped zombie (after
    /// [`Group::reap_leader`], the group id may name someone else's group).
    pub fn signal_if_unreaped(&self, signal: i32) {
        if !self.reaped && !self.finished {
            self.signal(signal);
        }
    }

    /// Reaps the leader once it has exited, leaving the rest of the group alone (a launcher
    /// that handed over to a main pid). Call after [`Group::exited`].
    pub fn reap_leader(&mut self) -> io::Result<ExitStatus> {
        if self.status.is_none() {
            self.status = Some(reap(self.pgid));
        }
        self.reaped = true;
        copy(self.status.as_ref().expect("set above"))
    }

    /// Waits for the leader, kills whatever is left of the group (unless the leader was
    /// reaped already, see [`Group::reap_leader`]), and reaps the leader. Calling it again
    /// gives the same status.
    pub async fn finish(&mut self) -> io::Result<ExitStatus> {
        self.exited().await;
        if !self.reaped && !self.finished {
            self.signal(libc::SIGKILL);
        }
        if !self.finished {
            self.release();
        }
        if self.status.is_none() {
            // The leader has exited, so this does not block.
            self.status = Some(reap(self.pgid));
        }
        self.reaped = true;
        copy(self.status.as_ref().expect("set above"))
    }

    fn release(&mut self) {
        if let Some(containment) = &self.containment {
            containment.release(self.pgid);
        }
        self.finished = true;
    }
}

fn copy(status: &io::Result<ExitStatus>) -> io::Result<ExitStatus> {
    match status {
        Ok(status) => Ok(*status),
        Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if !self.reaped {
            self.signal(libc::SIGKILL);
        }
        self.release();
        if self.status.is_some() || self.waiter.is_some() {
            return; // reaped, or being reaped
        }
        // Killed above, so the wait is short; it must not hold up the caller.
        let pid = self.pgid;
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn_blocking(move || reap(pid))),
            Err(_) => drop(std::thread::spawn(move || reap(pid))),
        }
    }
}

/// Waits for the child `pid` to exit and reaps it.
pub(crate) fn reap(pid: u32) -> io::Result<ExitStatus> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid, writable int; `pid` is a child of ours not yet reaped.
        if unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) } >= 0 {
            return Ok(ExitStatus::from_raw(status));
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}
