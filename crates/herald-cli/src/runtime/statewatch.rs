//! The state folder is the identity of a stack: a supervisor notices when it goes.
//!
//! A running supervisor watches its state folder with inotify. When the folder is deleted or
//! moved away (`rm -rf .herald`), or its lock or control socket is removed, the next
//! `herald up` would find no stack running and start a second copy of every component. So the
//! supervisor makes the folder, lock and control socket afresh at once (the next `herald up`
//! finds the stack running; `status` and `down` work), says so on stderr (`herald.log` when
//! detached), and stops the stack in order: its logs and notify socket went with the folder,
//! so running on would lose output silently.

use super::control::{self, Claim, Claimed};
use super::serve::StackHandle;
use super::statedir::{Access, StateDir};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::unix::AsyncFd;

/// What the supervisor says as it stops for this reason.
pub const REMOVED: &str =
    "the state folder was removed (its lock and control socket are made afresh)";

/// How long the removal of an entry waits for the folder's.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(50);

/// What a batch of inotify events says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removal {
    Folder,
    Entry,
    Other,
}

/// The entries whose removal means the folder is no longer this stack's.
const VITAL: [&str; 2] = ["herald.lock", "control.sock"];

/// An inotify watch on a state folder.
#[derive(Debug)]
pub struct Watch {
    fd: AsyncFd<OwnedFd>,
    dir: PathBuf,
    fired: bool,
}

impl Watch {
    /// Watches `state_dir` (needs a Tokio runtime).
    pub fn new(state_dir: &Path) -> io::Result<Watch> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
        let flags = WatchFlags::DELETE_SELF
            | WatchFlags::MOVE_SELF
            | WatchFlags::DELETE
            | WatchFlags::MOVED_FROM
            | WatchFlags::ONLYDIR;
        inotify::add_watch(&fd, state_dir, flags).map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("cannot watch {}: {e}", state_dir.display()),
            )
        })?;
        Ok(Watch {
            // SAFETY: the descriptor is owned here and closed only when the AsyncFd drops it.
            fd: unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
                .map_err(io::Error::from)?,
            dir: state_dir.to_path_buf(),
            fired: false,
        })
    }

    /// Resolves once the folder, its lock or its control socket is gone; gives [`REMOVED`].
    /// The removal of an entry waits for the folder's own removal, or for 50 ms of quiet, so
    /// that a `rm -rf` in progress is not raced.
    pub async fn removed(&mut self) -> &'static str {
        let mut entry_gone = false;
        loop {
            let next = if entry_gone {
                match tokio::time::timeout(SETTLE, self.next()).await {
                    Ok(next) => next,
                    Err(_) => break,
                }
            } else {
                self.next().await
            };
            match next {
                Removal::Folder => break,
                Removal::Entry => entry_gone = true,
                Removal::Other => {}
            }
        }
        self.fired = true;
        REMOVED
    }

    /// What the next batch of events says.
    async fn next(&mut self) -> Removal {
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                return std::future::pending().await;
            };
            let mut found = Removal::Other;
            let mut reader = inotify::Reader::new(guard.get_inner(), &mut buf);
            loop {
                match reader.next() {
                    Ok(event) => {
                        let flags = event.events();
                        let vital = event.file_name().is_some_and(|name| {
                            VITAL.iter().any(|v| v.as_bytes() == name.to_bytes())
                        });
                        if flags.intersects(ReadFlags::DELETE_SELF | ReadFlags::MOVE_SELF) {
                            found = Removal::Folder;
                        } else if vital
                            && flags.intersects(ReadFlags::DELETE | ReadFlags::MOVED_FROM)
                            && found == Removal::Other
                        {
                            found = Removal::Entry;
                        }
                    }
                    Err(rustix::io::Errno::WOULDBLOCK) => {
                        guard.clear_ready();
                        break;
                    }
                    Err(rustix::io::Errno::INTR) => {}
                    Err(_) => return std::future::pending().await,
                }
            }
            if found != Removal::Other {
                return found;
            }
        }
    }

    /// Once [`Watch::removed`] fired: makes the folder, lock and control socket afresh, serves
    /// the socket, and says so. Holds them while it is kept.
    pub fn reclaim(&self, shared: &Arc<StackHandle>) -> Option<Reclaimed> {
        if !self.fired {
            return None;
        }
        let dir = self.dir.display();
        match control::claim(&self.dir) {
            Ok(Claim::Claimed(claimed)) => {
                let message = format!(
                    "herald: the state folder {dir} was removed while the stack ran: its lock and \
                     control socket are made afresh, and the stack stops (its logs and notify \
                     socket went with the folder)"
                );
                eprintln!("{message}");
                // The log the folder held went with it: the new one says it too.
                if let Ok(mut log) = StateDir::prepare(&self.dir)
                    .and_then(|state| state.open("herald.log", Access::Append))
                {
                    let _ = writeln!(log, "{message}");
                }
                let listener = claimed
                    .listener
                    .try_clone()
                    .and_then(tokio::net::UnixListener::from_std);
                let server = listener
                    .ok()
                    .map(|l| tokio::spawn(control::server::serve(l, shared.clone())));
                Some(Reclaimed {
                    _claimed: claimed,
                    server,
                })
            }
            Ok(Claim::Running { pid }) => {
                let pid = pid.map_or_else(|| "unknown".into(), |p| p.to_string());
                eprintln!(
                    "herald: the state folder {dir} was removed while the stack ran and another \
                     supervisor (pid {pid}) took it: this one stops its stack"
                );
                None
            }
            Err(e) => {
                eprintln!(
                    "herald: the state folder {dir} was removed while the stack ran and cannot be \
                     made afresh ({e}): the stack stops"
                );
                None
            }
        }
    }
}

/// The state folder made afresh by [`Watch::reclaim`], and the server on its new socket.
#[derive(Debug)]
pub struct Reclaimed {
    _claimed: Claimed,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Reclaimed {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}
