//! The control socket `<state_dir>/control.sock`: how a running stack is found and driven.
//!
//! - [`claim`]: a supervisor takes the stack's [`identity`] (an abstract socket no `rm -rf`
//!   removes), then the state folder (an exclusive lock on `herald.lock`, which
//!   also records its pid), then the socket: a socket file nobody listens on (left by a
//!   killed herald) is removed and bound afresh, never trusted;
//! - [`client`]: the commands' side, blocking, one JSON line per request and reply;
//! - [`server`]: the supervisor's side, serving each connection on its own task.
//!
//! The state folder is prepared and checked by [`statedir`](super::statedir) (0711, every file
//! 0600, nothing another user owns or can write, no symlink followed) and the socket gets mode
//! 0600; the server also refuses peers of another user, and clients refuse a listener that runs
//! as another user than theirs or root.

pub mod admission;
pub mod client;
pub mod framing;
pub mod identity;
pub mod server;

use super::statedir::{Access, StateDir};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The control socket of a state folder.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("control.sock")
}

/// The longest socket path bound or connected to as it is (a socket address holds 108 bytes).
const MAX_SOCKET_PATH: usize = 100;

/// A path to reach the socket at `path` by, short enough for a socket address, and what must
/// stay open while it is used: a longer path is reached through its folder opened as
/// `/proc/self/fd/N`.
pub(crate) fn reachable(path: &Path) -> io::Result<(PathBuf, Option<File>)> {
    if path.as_os_str().len() <= MAX_SOCKET_PATH {
        return Ok((path.to_path_buf(), None));
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok((path.to_path_buf(), None));
    };
    let dir = File::open(dir)?;
    let short = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
    Ok((short, Some(dir)))
}

/// Removes the control and notify sockets of a supervisor that exits at once (a second
/// signal), so that none is left behind.
pub fn remove_sockets(state_dir: &Path) {
    let _ = std::fs::remove_file(socket_path(state_dir));
    let _ = std::fs::remove_file(state_dir.join("notify.sock"));
}

/// How many connections may wait to be accepted.
const BACKLOG: i32 = 128;

/// The lock file a live supervisor holds.
const LOCK: &str = "herald.lock";
/// The width of the pid in `herald.lock`: room for any pid (at most 2^22 on Linux).
const PID_WIDTH: usize = 10;

/// Creates the state folder, or checks the one there: see [`StateDir::prepare`].
pub fn create_state_dir(state_dir: &Path) -> io::Result<StateDir> {
    StateDir::prepare(state_dir)
}

/// The state folder, held by this supervisor for as long as it lives.
#[derive(Debug)]
pub struct Claimed {
    /// The bound control socket.
    pub listener: std::os::unix::net::UnixListener,
    /// The socket's path.
    pub path: PathBuf,
    /// The state folder, checked and opened once for the whole run.
    pub dir: StateDir,
    _lock: File,
    /// The stack's identity, when this claim took it ([`identity`]).
    _identity: Option<std::os::unix::net::UnixListener>,
    /// The bound socket file's device and inode.
    bound: Option<(u64, u64)>,
}

impl Claimed {
    /// Removes the socket file if it is still the one bound here (a supervisor that took the
    /// folder afresh may have bound its own since).
    pub fn remove_socket(&self) {
        let now = std::fs::symlink_metadata(&self.path).ok();
        if now.is_some() && now.as_ref().map(id) == self.bound {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn id(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

impl Drop for Claimed {
    /// The socket goes with its supervisor, however it ends (short of being killed).
    fn drop(&mut self) {
        self.remove_socket();
    }
}

/// What [`claim`] found.
#[derive(Debug)]
pub enum Claim {
    /// The folder and its socket are ours.
    Claimed(Claimed),
    /// Another supervisor holds them.
    Running {
        /// Its pid, if known.
        pid: Option<u32>,
    },
}

/// Takes the state folder for a new supervisor: creates it, locks `herald.lock` (writing our
/// pid into it), and binds the control socket, replacing a stale one. Another live
/// supervisor gives [`Claim::Running`].
pub fn claim(state_dir: &Path) -> io::Result<Claim> {
    let identity = match identity::take(state_dir)? {
        identity::Identity::Held(listener) => Some(listener),
        identity::Identity::Running(pid) => return Ok(Claim::Running { pid: Some(pid) }),
        identity::Identity::NotHeld => None,
    };
    let dir = create_state_dir(state_dir)?;
    let lock_path = state_dir.join(LOCK);
    let mut lock = dir.open(LOCK, Access::ReadWrite)?;
    match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            let mut text = String::new();
            let _ = lock.read_to_string(&mut text);
            return Ok(Claim::Running {
                pid: text.trim().parse().ok(),
            });
        }
        Err(e) => {
            return Err(io::Error::new(
                io::Error::from(e).kind(),
                format!("cannot lock {}: {e}", lock_path.display()),
            ));
        }
    }
    // The pid, right-aligned in a line of fixed width, written over the last one: truncating
    // a file frees its block, which on ext4 costs a journal write (about 0.9 ms) on the path
    // to the first spawn. Readers trim.
    let line = format!("{:>PID_WIDTH$}\n", std::process::id());
    if lock.metadata()?.len() != line.len() as u64 {
        lock.set_len(0)?;
    }
    rustix::io::pwrite(&lock, line.as_bytes(), 0)?;

    let path = socket_path(state_dir);
    let (short, _dir) = reachable(&path)?;
    if std::os::unix::net::UnixStream::connect(&short).is_ok() {
        // Someone listens although the lock was free: a supervisor that does not lock.
        return Ok(Claim::Running { pid: None });
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot remove the stale socket {}: {e}", path.display()),
            ));
        }
    }
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let bound = std::os::unix::net::UnixListener::bind(&short);
    rustix::process::umask(old);
    let listener = bound
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {}: {e}", path.display())))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    // A short queue of connections not yet accepted: a flood of connections waits in the
    // kernel's queue, and a `herald status` behind a long one waits as long as its draining.
    rustix::net::listen(&listener, BACKLOG)?;
    listener.set_nonblocking(true)?;
    let bound = std::fs::symlink_metadata(&path).ok().map(|m| id(&m));
    Ok(Claim::Claimed(Claimed {
        listener,
        path,
        dir,
        _lock: lock,
        _identity: identity,
        bound,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_folder_lets_others_pass_and_its_parents_are_plain_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("data/herald");
        create_state_dir(&state).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o711);
        let plain = tmp.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        assert_eq!(mode(&tmp.path().join("data")), mode(&plain));
        create_state_dir(&state).unwrap(); // already there: fine
    }

    #[test]
    fn the_lock_holds_our_pid_alone_whatever_it_held() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        let lock = state.join(LOCK);
        for before in ["", "4194303123456789\n", "1\n"] {
            create_state_dir(&state).unwrap();
            std::fs::write(&lock, before).unwrap();
            let Claim::Claimed(claimed) = claim(&state).unwrap() else {
                panic!("the folder is free");
            };
            let text = std::fs::read_to_string(&lock).unwrap();
            assert_eq!(text.trim(), std::process::id().to_string(), "{before:?}");
            assert_eq!(text.len(), PID_WIDTH + 1);
            drop(claimed);
        }
    }
}
