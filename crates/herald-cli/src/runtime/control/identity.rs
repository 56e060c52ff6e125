//! A stack's identity beyond its state folder: an abstract unix socket named after the state
//! folder's path, bound by the supervisor for as long as it lives.
//!
//! The lock file and the control socket live in the state folder, so a `rm -rf` of the folder
//! takes them away while the supervisor runs; the abstract name is in no folder, and only the
//! kernel takes it away, when its holder exits. A second supervisor for the same folder finds
//! the name taken and the holder's pid (`SO_PEERCRED`), and says the stack is already running.
//! A holder of another user (a squatter: any user may bind any abstract name) is not
//! believed: the name is then not held, and the lock file alone decides, as before.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::Path;

/// What [`take`] found.
#[derive(Debug)]
pub enum Identity {
    /// Ours now, held while the listener lives.
    Held(UnixListener),
    /// Another supervisor of this user (or root) holds it.
    Running(u32),
    /// This very process holds it already, or another user squats it.
    NotHeld,
}

/// The abstract name for `state_dir`: its path, or a hash of it when too long.
fn name(state_dir: &Path) -> Vec<u8> {
    let path = state_dir.as_os_str().as_encoded_bytes();
    let mut name = b"herald-stack:".to_vec();
    if name.len() + path.len() <= 100 {
        name.extend_from_slice(path);
    } else {
        // FNV-1a: stable across builds and versions, unlike the standard hasher's keys.
        let hash = path.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        name.extend_from_slice(format!("{hash:016x}").as_bytes());
    }
    name
}

/// Takes the identity of the stack whose state folder is `state_dir` (absolute).
pub fn take(state_dir: &Path) -> io::Result<Identity> {
    let address = SocketAddr::from_abstract_name(name(state_dir))?;
    match UnixListener::bind_addr(&address) {
        Ok(listener) => Ok(Identity::Held(listener)),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            let Ok(stream) = UnixStream::connect_addr(&address) else {
                // Bound but not listening: not a supervisor.
                return Ok(Identity::NotHeld);
            };
            let peer = rustix::net::sockopt::socket_peercred(&stream)?;
            let pid = peer.pid.as_raw_nonzero().get() as u32;
            let mine = peer.uid == rustix::process::getuid() || peer.uid.is_root();
            if mine && pid != std::process::id() {
                Ok(Identity::Running(pid))
            } else {
                Ok(Identity::NotHeld)
            }
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_finds_the_first_and_long_paths_are_hashed() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        let Identity::Held(first) = take(&state).unwrap() else {
            panic!("the name is free");
        };
        // This process holds it: not "running" for itself.
        assert!(matches!(take(&state).unwrap(), Identity::NotHeld));
        drop(first);
        assert!(matches!(take(&state).unwrap(), Identity::Held(_)));
        let long = tmp.path().join("x".repeat(200));
        assert_eq!(name(&long).len(), "herald-stack:".len() + 16);
    }
}
