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

/// How long a new supervisor waits for a holder that is already dying to let the name go.
const DYING_HOLDER: std::time::Duration = std::time::Duration::from_secs(5);

/// Takes the identity of the stack whose state folder is `state_dir` (absolute).
///
/// A holder whose main thread has exited (a supervisor killed a moment ago, whose other
/// threads are still being torn down) still holds the name; it is waited for (its pidfd
/// says when the whole process is gone), so that `up` right after a SIGKILL starts the stack
/// instead of calling a dead supervisor running.
pub fn take(state_dir: &Path) -> io::Result<Identity> {
    match take_once(state_dir)? {
        Identity::Running(pid) if dying(pid) => {
            await_exit(pid, DYING_HOLDER);
            take_once(state_dir)
        }
        identity => Ok(identity),
    }
}

/// Whether `pid`'s main thread has exited (a zombie or gone) although the pid held the name.
fn dying(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            state.starts_with('Z') || state.starts_with('X')
        }
        Err(_) => true,
    }
}

/// Waits up to `limit` for the process `pid` to be gone entirely (its pidfd turns readable
/// once every thread has exited).
fn await_exit(pid: u32, limit: std::time::Duration) {
    let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else {
        return;
    };
    let Ok(fd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) else {
        return; // already gone
    };
    let mut poll = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&fd),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut poll, 1, limit.as_millis() as libc::c_int) };
}

fn take_once(state_dir: &Path) -> io::Result<Identity> {
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

    /// A holder whose main thread has exited while another thread keeps the process (and the
    /// name) for a moment, as a supervisor torn down by SIGKILL: C, since only a thread of
    /// the C library can end the main thread and leave the process running.
    const DYING: &str = r#"
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
static void *later(void *arg) { (void)arg; usleep(800000); _exit(0); }
int main(int argc, char **argv) {
    struct sockaddr_un a; memset(&a, 0, sizeof a); a.sun_family = AF_UNIX;
    size_t n = strlen(argv[1]); memcpy(a.sun_path + 1, argv[1], n);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(s, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 1 + n) || listen(s, 8)) return 1;
    write(1, "bound\n", 6);
    pthread_t t; pthread_create(&t, NULL, later, NULL);
    pthread_exit(NULL);
}
"#;

    #[test]
    fn a_holder_whose_main_thread_is_gone_is_waited_for_not_called_running() {
        use std::io::BufRead;
        let tmp = tempfile::tempdir().unwrap();
        let (source, program) = (tmp.path().join("dying.c"), tmp.path().join("dying"));
        std::fs::write(&source, DYING).unwrap();
        let built = std::process::Command::new("cc")
            .arg(&source)
            .arg("-o")
            .arg(&program)
            .arg("-pthread")
            .status();
        if !built.is_ok_and(|s| s.success()) {
            eprintln!("skipped: no C compiler (cc) to build the dying holder");
            return;
        }
        let state = tmp.path().join("state");
        let name = String::from_utf8(name(&state)).unwrap();
        let mut holder = std::process::Command::new(&program)
            .arg(&name)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "bound\n");
        // Once the main thread has ended, the name is still held.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !dying(holder.id()) {
            assert!(
                std::time::Instant::now() < deadline,
                "the main thread never ended"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        assert!(UnixStream::connect_addr(&address).is_ok(), "still held");
        let taken = take(&state).unwrap();
        let _ = holder.wait();
        assert!(
            matches!(taken, Identity::Held(_)),
            "the dying holder was waited for: {taken:?}"
        );
    }

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
