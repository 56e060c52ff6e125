//! The commands' side of the control socket: blocking, one JSON line each way.

use super::super::protocol::{Reply, Request};
use anyhow::{Context, bail};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// A connection to a live supervisor.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    path: PathBuf,
}

/// Refuses a socket whose listener runs as another user than ours or root (`SO_PEERCRED`
/// gives the credentials of the process that listens): replies from it could be forged.
/// Whether the listener is alive: a supervisor being killed still holds its socket for a
/// moment, and does not answer.
fn check_listener(stream: &UnixStream, path: &Path) -> anyhow::Result<bool> {
    let peer = rustix::net::sockopt::socket_peercred(stream)
        .with_context(|| format!("cannot tell who listens on {}", path.display()))?;
    let me = rustix::process::getuid();
    if peer.uid != me && !peer.uid.is_root() {
        bail!(
            "refusing {}: it is served by uid {} (pid {}), not by you (uid {}) or root",
            path.display(),
            peer.uid.as_raw(),
            peer.pid.as_raw_nonzero(),
            me.as_raw()
        );
    }
    Ok(!dying(peer.pid.as_raw_nonzero().get()))
}

/// Whether process `pid` is gone or on its way out: a zombie, or killed (SIGKILL pending for
/// the whole process).
fn dying(pid: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or("")
            .to_string()
    };
    let state = field("State:");
    let shared_pending = u64::from_str_radix(&field("ShdPnd:"), 16).unwrap_or(0);
    let pending = u64::from_str_radix(&field("SigPnd:"), 16).unwrap_or(0);
    let sigkill = 1 << (libc::SIGKILL - 1);
    state.starts_with('Z') || state.starts_with('X') || (shared_pending | pending) & sigkill != 0
}

impl Client {
    /// Connects to the supervisor listening on `path`; `None` when nobody listens (no socket
    /// file, or a stale one).
    pub fn connect(path: &Path) -> anyhow::Result<Option<Client>> {
        let (short, _dir) = match super::reachable(path) {
            Ok(reachable) => reachable,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot reach {}", path.display()));
            }
        };
        match UnixStream::connect(&short) {
            Ok(stream) => {
                if !check_listener(&stream, path)? {
                    return Ok(None);
                }
                let writer = stream.try_clone()?;
                Ok(Some(Client {
                    reader: BufReader::new(stream),
                    writer,
                    path: path.to_path_buf(),
                }))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e).with_context(|| format!("cannot connect to {}", path.display())),
        }
    }

    /// Sends one request.
    pub fn send(&mut self, request: &Request) -> anyhow::Result<()> {
        let mut line = serde_json::to_string(request)?;
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .with_context(|| format!("cannot write to {}", self.path.display()))
    }

    /// The next reply; `None` once the supervisor closed the connection.
    pub fn recv(&mut self) -> anyhow::Result<Option<Reply>> {
        let mut line = String::new();
        let read = self
            .reader
            .read_line(&mut line)
            .with_context(|| format!("cannot read from {}", self.path.display()))?;
        if read == 0 {
            return Ok(None);
        }
        let reply = serde_json::from_str(&line).with_context(|| {
            format!("a bad reply from {}: {}", self.path.display(), line.trim())
        })?;
        Ok(Some(reply))
    }

    /// Sends a request and reads its reply.
    pub fn ask(&mut self, request: &Request) -> anyhow::Result<Reply> {
        self.send(request)?;
        match self.recv()? {
            Some(Reply::Error { message }) => bail!("{message}"),
            Some(reply) => Ok(reply),
            None => bail!(
                "the supervisor closed {} without answering",
                self.path.display()
            ),
        }
    }

    /// Waits until the supervisor closes the connection (it exits).
    pub fn wait_closed(&mut self) {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut self.reader, &mut sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_process_is_not_dying_and_a_reaped_one_is() {
        assert!(!dying(std::process::id() as i32));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert!(dying(pid));
    }
}
