//! `herald up --detach`: the supervisor in the background.
//!
//! The current executable is started again as `herald --file FILE up [NAME...]
//! --supervise-fd 3`, in its own session, stdin from `/dev/null`, stdout and stderr appended
//! to `<state_dir>/herald.log`. It inherits the writing end of a pipe as fd 3 and writes one
//! byte to it once its control socket listens; this process blocks reading the other end. End
//! of file without that byte means the supervisor exited first: its exit code and what it
//! wrote to `herald.log` are passed on.

use crate::cli::UpArgs;
use crate::stackfile::StackFile;
use anyhow::Context;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// The fd number the background supervisor gets its readiness pipe as.
const READY_FD: i32 = 3;

/// How starting the background supervisor went.
#[derive(Debug)]
pub enum Started {
    /// Its control socket listens.
    Listening,
    /// It exited before it listened.
    Exited {
        /// Its exit code (1 when killed by a signal).
        code: u8,
        /// What it wrote to `herald.log` meanwhile.
        output: String,
    },
}

/// The background supervisor's log file.
pub fn log_path(stack: &StackFile) -> std::path::PathBuf {
    stack.state_dir.join("herald.log")
}

/// Starts the background supervisor for `up`'s components and options, and waits until it
/// listens or exits.
pub fn start(stack: &StackFile, up: &UpArgs) -> anyhow::Result<Started> {
    let dir = super::control::create_state_dir(&stack.state_dir)?;
    let mut log = dir.open("herald.log", super::statedir::Access::Append)?;
    let offset = log.seek(SeekFrom::End(0))?;
    let (mut read, write) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).context("cannot make a pipe")?;
    let exe = std::env::current_exe().context("cannot find the herald executable")?;
    let mut command = Command::new(exe);
    command
        .arg("--file")
        .arg(&stack.path)
        .env("HERALD_PROFILES", stack.profiles.join(","))
        .arg("up")
        .args(&up.names)
        .args(
            up.listen
                .iter()
                .flat_map(|addr| ["--listen".to_string(), addr.to_string()]),
        )
        .args(up.read_only.then_some("--read-only"))
        .arg("--supervise-fd")
        .arg(READY_FD.to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?);
    let raw = write.as_raw_fd();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if raw == READY_FD {
                if libc::fcntl(raw, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(raw, READY_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .context("cannot start the background supervisor")?;
    drop(write);
    let mut byte = [0u8; 1];
    let got = loop {
        match rustix::io::read(&mut read, &mut byte) {
            Ok(n) => break n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                return Err(std::io::Error::from(e)).context("cannot read the readiness pipe");
            }
        }
    };
    if got == 1 {
        return Ok(Started::Listening);
    }
    let status = child.wait()?;
    let mut output = String::new();
    log.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    log.read_to_end(&mut bytes)?;
    output.push_str(&String::from_utf8_lossy(&bytes));
    let code = status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(1);
    Ok(Started::Exited {
        code: if code == 0 { 1 } else { code },
        output,
    })
}

/// In the background supervisor: takes the readiness pipe's fd, closed on exec so that no
/// component inherits it.
pub fn take_ready_fd(fd: i32) -> anyhow::Result<OwnedFd> {
    if fd < 3 {
        anyhow::bail!("--supervise-fd must be 3 or more");
    }
    // SAFETY: F_SETFD on a number only sets a flag; it fails if the number is not open.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        anyhow::bail!("--supervise-fd {fd} is not an open file descriptor");
    }
    // SAFETY: the fd is open, was handed to this process by `start`, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
