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
//! child is one of those, it hides the ones behind it from `waitid(P_ALL)`; the reaper then
//! goes through herald's children as `/proc/self/task/*/children` lists them, skipping the
//! component leaders it knows ([`own`]), and reaps each exited orphan by pid. Only where that
//! listing is missing (a kernel without `CONFIG_PROC_CHILDREN`) does it look again a little
//! later instead.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

/// Component leaders: direct children whose exit status a run collects itself.
static OWNED: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

/// Notes a component leader, so scans skip it without a system call.
pub(crate) fn own(pid: u32) {
    let mut owned = OWNED.lock().unwrap_or_else(|e| e.into_inner());
    owned.get_or_insert_with(HashSet::new).insert(pid as i32);
}

/// Forgets a component leader once it has been reaped.
pub(crate) fn disown(pid: u32) {
    let mut owned = OWNED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(owned) = owned.as_mut() {
        owned.remove(&(pid as i32));
    }
}

pub(crate) fn is_owned(pid: u32) -> bool {
    owned(pid as i32)
}

fn owned(pid: i32) -> bool {
    let owned = OWNED.lock().unwrap_or_else(|e| e.into_inner());
    owned.as_ref().is_some_and(|o| o.contains(&pid))
}

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
            while reap_orphans() == Peek::Blocked && !reap_listed() && tries < RETRIES {
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
        match reap_exited(libc::P_ALL, 0) {
            Exited::Reaped => continue,
            Exited::None => return Peek::Clear,
            Exited::NotOurs => return Peek::Blocked,
        }
    }
}

/// Reaps every exited orphan among the children `/proc` lists; false if it lists none.
fn reap_listed() -> bool {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return false;
    };
    let mut listed = false;
    for task in tasks.flatten() {
        let Ok(children) = std::fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        listed = true;
        for pid in children.split_whitespace().filter_map(|p| p.parse().ok()) {
            if !owned(pid) {
                reap_exited(libc::P_PID, pid as libc::id_t);
            }
        }
    }
    listed
}

/// What [`reap_exited`] found.
#[derive(Debug, PartialEq, Eq)]
enum Exited {
    /// No exited child (of those asked about).
    None,
    /// An exited adopted orphan, now reaped.
    Reaped,
    /// An exited child that is not ours to reap; left as it is.
    NotOurs,
}

/// Peeks at an exited child without reaping it (the next of any with `P_ALL`, or the one
/// `P_PID` names) and reaps it only if it is an adopted orphan.
fn reap_exited(idtype: libc::idtype_t, id: libc::id_t) -> Exited {
    // SAFETY: an all-zero siginfo_t is valid; waitid writes into it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: `info` is a valid, writable siginfo_t.
    if unsafe { libc::waitid(idtype, id, &mut info, flags) } != 0 {
        return Exited::None; // ECHILD: no such child
    }
    // SAFETY: waitid filled `info` for a child state change (or left it zeroed).
    let pid = unsafe { info.si_pid() };
    if pid == 0 {
        return Exited::None;
    }
    if !is_adopted(pid) {
        return Exited::NotOurs;
    }
    // SAFETY: as above; this reaps exactly the orphan peeked at.
    unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED) };
    Exited::Reaped
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    #[test]
    fn orphans_are_reaped_and_direct_children_left_alone() {
        become_subreaper().unwrap();
        // A direct child that exits and is not waited for yet: it hides what comes after.
        let mut blocker = Command::new("true").process_group(0).spawn().unwrap();
        // A child that leaves an orphan behind in its group, then exits.
        let out = Command::new("sh")
            .args(["-c", "sleep 0.2 >/dev/null 2>&1 & echo $!"])
            .process_group(0)
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        let orphan: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let gone = |pid: u32| !std::path::Path::new(&format!("/proc/{pid}")).exists();
        let start = Instant::now();
        while !gone(orphan) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "orphan {orphan} not reaped"
            );
            if reap_orphans() == Peek::Blocked {
                assert!(reap_listed(), "/proc lists no children");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The direct child's status is still there for its owner.
        assert!(blocker.wait().unwrap().success());
    }
}
