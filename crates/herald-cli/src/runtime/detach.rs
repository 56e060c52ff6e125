//! `herald up --detach`: the supervisor in the background.
//!
//! This process forks: the child, a copy made while this process has a single thread (no
//! async runtime exists yet), becomes the supervisor at once with the stack file already
//! read and the components already selected: in its own session, stdin from `/dev/null`,
//! stdout and stderr appended to `<state_dir>/herald.log`. It keeps the writing end of a pipe
//! and writes one byte to it once its control socket listens; this process blocks reading the
//! other end. End of file without that byte means the supervisor exited first: its exit code
//! and what it wrote to `herald.log` are passed on.
//!
//! Where this process already has other threads, forking it would not be safe: the current
//! executable is then started again instead, as `herald --file FILE up [NAME...]
//! --supervise-fd 3` (the same, with the pipe as fd 3, the stack file read again).

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

/// Starts the background supervisor for `up`'s components and options (`options`, whose
/// `ready_fd` the supervisor gets), and waits until it listens or exits.
pub fn start(
    stack: &StackFile,
    up: &UpArgs,
    options: super::serve::Options,
) -> anyhow::Result<Started> {
    let dir = super::control::create_state_dir(&stack.state_dir)?;
    let mut log = dir.open("herald.log", super::statedir::Access::Append)?;
    let offset = log.seek(SeekFrom::End(0))?;
    let (mut read, write) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).context("cannot make a pipe")?;
    if single_threaded() {
        let pid = fork_supervisor(stack, options, &log, write)?;
        return wait_listening(&mut read, &mut log, offset, || {
            let mut status = 0;
            // SAFETY: waitpid writes the status of our own child into `status`.
            while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EINTR) {
                    return Err(e);
                }
            }
            use std::os::unix::process::ExitStatusExt;
            Ok(std::process::ExitStatus::from_raw(status))
        });
    }
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
    wait_listening(&mut read, &mut log, offset, || child.wait())
}

/// Whether this process runs a single thread (so a forked copy of it may do anything).
fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task").is_ok_and(|tasks| tasks.count() == 1)
}

/// Forks the background supervisor: the child sets itself up (session, stdio), serves the
/// stack and exits; gives its pid.
fn fork_supervisor(
    stack: &StackFile,
    mut options: super::serve::Options,
    log: &std::fs::File,
    write: OwnedFd,
) -> anyhow::Result<libc::pid_t> {
    let null = std::fs::File::open("/dev/null").context("cannot open /dev/null")?;
    // SAFETY: this process has one thread (checked by the caller), so the child is a whole
    // copy of it and may run any code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error())
            .context("cannot start the background supervisor");
    }
    if pid > 0 {
        return Ok(pid);
    }
    // The child, the supervisor from here on.
    // SAFETY: plain system calls on descriptors this process owns.
    let set_up = unsafe {
        libc::setsid() >= 0
            && libc::dup2(null.as_raw_fd(), 0) >= 0
            && libc::dup2(log.as_raw_fd(), 1) >= 0
            && libc::dup2(log.as_raw_fd(), 2) >= 0
    };
    if !set_up {
        std::process::exit(1);
    }
    drop(null);
    // As a supervisor started again would see it (`reload` reads the same profiles).
    // SAFETY: the process has one thread.
    unsafe { std::env::set_var("HERALD_PROFILES", stack.profiles.join(",")) };
    options.ready_fd = Some(write);
    options.style = super::progress::Style::Plain;
    let code = match super::serve::run(stack.clone(), options) {
        Ok(code) if code == std::process::ExitCode::SUCCESS => 0,
        Ok(_) => 1,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code)
}

/// Reads the readiness pipe until the supervisor listens (one byte) or exits (end of file:
/// `wait` gives its status, and what it wrote to `log` past `offset` is passed on).
fn wait_listening(
    read: &mut OwnedFd,
    log: &mut std::fs::File,
    offset: u64,
    wait: impl FnOnce() -> std::io::Result<std::process::ExitStatus>,
) -> anyhow::Result<Started> {
    let mut byte = [0u8; 1];
    let got = loop {
        match rustix::io::read(&mut *read, &mut byte) {
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
    let status = wait()?;
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
