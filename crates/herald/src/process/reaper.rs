//! Herald as child subreaper: orphaned grandchildren are re-parented to herald, not to init,
//! and reaped here so they never linger as zombies.
//!
//! Tokio reaps the children it spawned and needs their exit statuses, so this reaper must not
//! take them. On each SIGCHLD it peeks at the next exited child without reaping it
//! (`waitid(P_ALL, WEXITED | WNOHANG | WNOWAIT)`) and reaps it only if it is an adopted
//! orphan:
//! - a process of another session (a daemon that called `setsid`), or
//! - a process in a group that is neither its own nor herald's (a component's grandchild).
//!
//! Herald's direct children are group leaders in herald's session (components) or members
//! of herald's own group (other commands), so they are left to Tokio. When the next exited
//! child is one of those, Tokio reaps it in a moment, and the reaper looks again shortly after.

use std::time::Duration;

/// How long to wait before looking again when a direct child's exit hides the orphans.
const RETRY: Duration = Duration::from_millis(20);
/// How many times to look again for one SIGCHLD.
const RETRIES: u32 = 50;

/// Makes this process the subreaper of its descendants.
pub(crate) fn become_subreaper() -> std::io::Result<()> {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) takes plain integers.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Starts the reaper task on the current Tokio runtime. Dropping the handle stops it.
pub(crate) fn start() -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigchld = signal(SignalKind::child())?;
    Ok(tokio::spawn(async move {
        loop {
            let mut tries = 0;
            while reap_orphans() == Peek::Blocked && tries < RETRIES {
                tries += 1;
                tokio::time::sleep(RETRY).await;
            }
            if sigchld.recv().await.is_none() {
                return;
            }
        }
    }))
}

#[derive(Debug, PartialEq, Eq)]
enum Peek {
    /// No exited child is left.
    Clear,
    /// The next exited child is not ours to reap.
    Blocked,
}

/// Reaps every exited adopted orphan it can see.
fn reap_orphans() -> Peek {
    loop {
        // SAFETY: an all-zero siginfo_t is valid; waitid writes into it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: `info` is a valid, writable siginfo_t.
        if unsafe { libc::waitid(libc::P_ALL, 0, &mut info, flags) } != 0 {
            return Peek::Clear; // ECHILD: no children at all
        }
        // SAFETY: waitid filled `info` for a child state change (or left it zeroed).
        let pid = unsafe { info.si_pid() };
        if pid == 0 {
            return Peek::Clear;
        }
        if !is_adopted(pid) {
            return Peek::Blocked;
        }
        // SAFETY: as above; this reaps exactly the orphan we peeked at.
        unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED) };
    }
}

/// Whether `pid` (a child of ours that has exited) is an adopted orphan, not a direct child.
fn is_adopted(pid: libc::pid_t) -> bool {
    // SAFETY: getsid/getpgid have no memory-safety preconditions.
    let (sid, pgid, our_sid, our_pgid) = unsafe {
        (
            libc::getsid(pid),
            libc::getpgid(pid),
            libc::getsid(0),
            libc::getpgid(0),
        )
    };
    if sid < 0 || pgid < 0 {
        return false;
    }
    sid != our_sid || (pgid != pid && pgid != our_pgid)
}
