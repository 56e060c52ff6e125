//! Starting a child without copying herald.
//!
//! A plain `fork` copies the page tables of the whole multi-threaded supervisor, and every
//! page either side then touches is copied again: about 2 ms of CPU per child in a stack of a
//! thousand components. `posix_spawn` avoids that, but cannot give the child a parent-death
//! signal. So herald does what `posix_spawn` does inside: `clone(CLONE_VM | CLONE_VFORK)`
//! runs a small function on a stack of its own, in herald's memory, while the spawning
//! thread waits; the function sets the child up with plain system calls and `execve`s.
//!
//! In the child, before `execve`:
//! 1. every signal handler herald installed is reset to the default (a handler must never run
//!    in the child, which shares herald's memory), as is `SIGPIPE`; signals are blocked from
//!    before the clone until the handlers are reset;
//! 2. it is created in its run's cgroup, where there is one, by `clone3` with
//!    `CLONE_INTO_CGROUP` (see `clone3.rs`); where the kernel cannot, it enters the cgroup by
//!    writing `0` to the leaf's `cgroup.procs` (opened by herald beforehand; see `cgroup.rs`);
//! 3. it becomes the leader of a new process group;
//! 4. the open-file limit herald started with is restored (see `limits.rs`);
//! 5. with `user`/`group`, it drops to them (the raw `setgroups`, `setresgid`, `setresuid`
//!    system calls, which change this process alone: the C library's wrappers would signal
//!    herald's threads, whose memory the child shares, to change them all);
//! 6. SIGKILL becomes its parent-death signal (after the switch, which would clear it), and
//!    it exits at once if herald already died;
//! 7. it lists its group with the guardian itself (`+PGID` into the guardian's pipe), so the
//!    guardian knows the group before anything in it can fork; the spawner holds the
//!    guardian meanwhile, so the pipe is not replaced under it (see `guardian.rs`);
//! 8. stdin is `/dev/null`, stdout and stderr are pipes to herald;
//! 9. it enters its working folder (as the user it now is), unblocks signals, and runs the
//!    program.
//!
//! Either way the child is in its cgroup before it can do anything else.
//!
//! A step that fails leaves its number and `errno` in memory herald reads once the spawning
//! thread resumes, so the error names the step (`cannot enter the working folder ...`).
//!
//! The program is looked up in `PATH` (the child's, else herald's) before the clone, and
//! the environment is built there too: nothing in the child allocates.
//!
//! Every spawn runs on a `herald-spawner` thread, one per core (two to eight), which lives
//! as long as the process. The runtime's worker threads only hand one the command and await
//! the answer, so they go on reading readiness messages and probing while a batch of
//! children starts; a spawning thread is suspended until its child has called `execve`
//! (which on a busy machine waits for a free core), so a batch released at once starts on
//! every spawner side by side. They share the guardian's pipe (see `guardian.rs`). And since
//! the parent-death signal is tied to the thread that created the child, threads that never
//! end are the right parents: children are killed when herald dies, never because some
//! runtime thread was retired.

mod child;

use super::Containment;
use super::group::{Group, reap};
use crate::process::RunAs;
use child::{CGROUP, CHDIR, EXEC, Plan, SETUP, SWITCH, clone_and_exec};
use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString, c_char};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use tokio::net::unix::pipe;
use tokio::sync::oneshot;

/// A program to start, as with `std::process::Command`, always with the setup above.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    program: OsString,
    args: Vec<OsString>,
    /// Changes to herald's own environment: `None` removes the variable.
    env: BTreeMap<OsString, Option<OsString>>,
    cwd: Option<PathBuf>,
    /// The cgroup the child enters: its folder and its `cgroup.procs`.
    cgroup: Option<(Arc<OwnedFd>, Arc<OwnedFd>)>,
    /// Whether the child gets `WATCHDOG_PID=<its own pid>`.
    watchdog_pid: bool,
    /// The user and groups the child drops to; `None`: herald's own.
    run_as: Option<RunAs>,
}

/// A started child: its process group (led by the child) and the read ends of its output.
pub(crate) struct Spawned {
    pub group: Group,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
}

impl Command {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: BTreeMap::new(),
            cwd: None,
            cgroup: None,
            watchdog_pid: false,
            run_as: None,
        }
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        let value = Some(value.as_ref().to_owned());
        self.env.insert(key.as_ref().to_owned(), value);
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.env.insert(key.as_ref().to_owned(), None);
        self
    }

    pub fn current_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Puts the child in the cgroup whose folder is `dir` (open), and whose `cgroup.procs`
    /// is `procs` (open for writing: where `clone3` cannot place the child, it enters there).
    pub fn cgroup(&mut self, dir: Arc<OwnedFd>, procs: Arc<OwnedFd>) -> &mut Self {
        self.cgroup = Some((dir, procs));
        self
    }

    /// Runs the child as `run_as` (herald must be root).
    pub fn run_as(&mut self, run_as: RunAs) -> &mut Self {
        self.run_as = Some(run_as);
        self
    }

    /// Gives the child `WATCHDOG_PID=<its pid>`: the pid is only known in the child, which
    /// writes it into a slot of its environment prepared for it, before `execve`.
    pub fn watchdog_pid(&mut self) -> &mut Self {
        self.watchdog_pid = true;
        self
    }

    /// Starts the child on a spawner thread and takes charge of its process group (watched
    /// by the stack's [`Containment`] for a component, else by the latest one started, so
    /// that the groups of `exec` probes are guarded too). Needs a Tokio runtime (the output pipes are
    /// registered with it). If this future is dropped before the answer, a child started
    /// meanwhile is killed and reaped by the spawner; once the group exists, dropping it does
    /// the same.
    pub async fn spawn(&self, containment: Option<Arc<Containment>>) -> io::Result<Spawned> {
        let containment = containment.or_else(Containment::current);
        let (reply, answer) = oneshot::channel();
        spawner()?
            .send(Job {
                command: self.clone(),
                containment: containment.clone(),
                reply,
            })
            .map_err(|_| io::Error::other("the spawner thread is gone"))?;
        let child = answer
            .await
            .map_err(|_| io::Error::other("the spawner thread is gone"))??;
        let group = Group::new(child.pid, containment);
        Ok(Spawned {
            group,
            stdout: pipe::Receiver::from_owned_fd(child.stdout)?,
            stderr: pipe::Receiver::from_owned_fd(child.stderr)?,
        })
    }

    /// Starts the child from the calling thread, which must outlive it (see above).
    fn spawn_here(&self, containment: Option<&Containment>) -> io::Result<Started> {
        let (stdout, out_write) = pipe_pair()?;
        let (stderr, err_write) = pipe_pair()?;
        let null = rustix::fs::open(
            "/dev/null",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?;
        let guardian = containment.map(Containment::spawning);
        let listing = guardian.as_ref().and_then(|g| g.fd()).unwrap_or(-1);
        let pid = self.start([null, out_write, err_write], listing, true)?;
        if let Some(guardian) = guardian {
            guardian.spawned(pid);
        }
        Ok(Started {
            pid,
            stdout,
            stderr,
        })
    }

    /// Starts the program as a process that outlives herald: the leader of a new process
    /// group, `stdio` as its standard descriptors, no parent-death signal, listed with no
    /// guardian (the guardian itself, see `guardian.rs`). Returns once it has called
    /// `execve`.
    pub(crate) fn spawn_detached(&self, stdio: [OwnedFd; 3]) -> io::Result<u32> {
        self.start(stdio, -1, false)
    }

    /// Clones the child with `stdio`, listing its group on the guardian's pipe `listing` (or
    /// -1), with SIGKILL as its parent-death signal if `parent_death`; returns once it has
    /// called `execve`, or the failing step's error.
    fn start(&self, stdio: [OwnedFd; 3], listing: RawFd, parent_death: bool) -> io::Result<u32> {
        let environ = self.environment()?;
        let path = cstring(self.resolve()?.into_os_string())?;
        let argv = std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| cstring(a.clone()))
            .collect::<io::Result<Vec<_>>>()?;
        let cwd = self
            .cwd
            .as_ref()
            .map(|d| cstring(d.clone().into_os_string()))
            .transpose()?;
        let [input, output, errors] = stdio;
        let stdio = [
            above_stdio(input)?,
            above_stdio(output)?,
            above_stdio(errors)?,
        ];

        let (argv_ptrs, mut envp_ptrs) = (pointers(&argv), pointers(&environ));
        // The slot the child fills with its pid: `WATCHDOG_PID=` and room for ten digits.
        let mut watchdog_slot = *b"WATCHDOG_PID=0000000000\0";
        let watchdog_digits = if self.watchdog_pid {
            envp_ptrs.pop();
            envp_ptrs.push(watchdog_slot.as_ptr().cast());
            envp_ptrs.push(std::ptr::null());
            // SAFETY: the offset is within the slot.
            unsafe { watchdog_slot.as_mut_ptr().add(13) }
        } else {
            std::ptr::null_mut()
        };
        let groups: Vec<libc::gid_t> = self.run_as.iter().flat_map(|r| r.groups.clone()).collect();
        let mut plan = Plan {
            run_as: self.run_as.as_ref().map(|r| (r.uid, r.gid)),
            groups: groups.as_ptr(),
            ngroups: groups.len(),
            cgroup: self.cgroup.as_ref().map_or(-1, |(_, fd)| fd.as_raw_fd()),
            watchdog_digits,
            guardian: listing,
            path: path.as_ptr(),
            argv: argv_ptrs.as_ptr(),
            envp: envp_ptrs.as_ptr(),
            cwd: cwd.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            stdio: stdio.each_ref().map(|fd| fd.as_raw_fd()),
            nofile: super::limits::child_nofile(),
            parent_death,
            parent: std::process::id() as libc::pid_t,
            step: AtomicI32::new(0),
            errno: AtomicI32::new(0),
        };
        let into = self.cgroup.as_ref().map(|(dir, _)| dir.as_raw_fd());
        let pid = clone_and_exec(&mut plan, into)?;
        drop(stdio); // the child has its own copies now, or has exited

        match plan.step.load(Ordering::Acquire) {
            0 => Ok(pid as u32),
            step => {
                let _ = reap(pid as u32);
                let os = io::Error::from_raw_os_error(plan.errno.load(Ordering::Acquire));
                Err(self.step_error(step, os))
            }
        }
    }

    /// The child's whole environment as `KEY=VALUE` strings.
    fn environment(&self) -> io::Result<Vec<CString>> {
        let mut vars: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
        for (key, value) in &self.env {
            match value {
                Some(value) => vars.insert(key.clone(), value.clone()),
                None => vars.remove(key),
            };
        }
        vars.into_iter()
            .map(|(key, value)| {
                let mut pair = key.into_vec();
                pair.push(b'=');
                pair.extend_from_slice(value.as_bytes());
                cstring(OsString::from_vec(pair))
            })
            .collect()
    }

    /// The file to execute: the program itself when it has a `/` (relative ones are taken
    /// from the working folder, by `execve` after `chdir`), else the first executable file
    /// of that name in the child's `PATH` (an empty or relative entry there is taken from
    /// herald's own folder, as the lookup happens before the child enters its own).
    fn resolve(&self) -> io::Result<PathBuf> {
        if self.program.as_bytes().contains(&b'/') {
            return Ok(PathBuf::from(&self.program));
        }
        let search = match self.env.get(OsStr::new("PATH")) {
            Some(set) => set.clone(),
            None => std::env::var_os("PATH"),
        }
        .unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
        let mut denied = false;
        for dir in search.as_bytes().split(|b| *b == b':') {
            let dir = if dir.is_empty() {
                Path::new(".")
            } else {
                Path::new(OsStr::from_bytes(dir))
            };
            let candidate = dir.join(&self.program);
            if !candidate.is_file() {
                continue;
            }
            if rustix::fs::access(&candidate, rustix::fs::Access::EXEC_OK).is_ok() {
                return Ok(candidate);
            }
            denied = true;
        }
        let errno = if denied { libc::EACCES } else { libc::ENOENT };
        Err(io::Error::from_raw_os_error(errno))
    }

    fn step_error(&self, step: i32, os: io::Error) -> io::Error {
        match (step, &self.cwd) {
            (CHDIR, Some(cwd)) => io::Error::new(
                os.kind(),
                format!("cannot enter the working folder {}: {os}", cwd.display()),
            ),
            (EXEC, _) => os,
            (CGROUP, _) => io::Error::new(os.kind(), format!("cannot enter the cgroup: {os}")),
            (SETUP, _) => io::Error::new(os.kind(), format!("cannot set the child up: {os}")),
            (SWITCH, _) => {
                let (uid, gid) = self.run_as.as_ref().map_or((0, 0), |r| (r.uid, r.gid));
                let message = format!("cannot switch to uid {uid} and gid {gid}: {os}");
                io::Error::new(os.kind(), message)
            }
            _ => os,
        }
    }
}

/// A child just started, before its pipes are handed to the runtime.
struct Started {
    pid: u32,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

/// One spawn for a spawner thread, and where its answer goes.
struct Job {
    command: Command,
    containment: Option<Arc<Containment>>,
    reply: oneshot::Sender<io::Result<Started>>,
}

/// Starts the spawner threads now if they do not run yet, so that the first spawn does not
/// wait for it.
pub(crate) fn start_spawner() -> io::Result<()> {
    spawner().map(|_| ())
}

/// How many spawner threads take jobs from the queue: each is suspended while its child
/// gets to `execve`, so a batch released at once (a fan-out) starts as many children at a
/// time as there are cores (two to eight).
fn spawners() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

/// The spawner threads' queue, started on first use.
fn spawner() -> io::Result<&'static mpsc::Sender<Job>> {
    static QUEUE: OnceLock<Result<mpsc::Sender<Job>, String>> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(std::sync::Mutex::new(jobs));
        for _ in 0..spawners() {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name("herald-spawner".into())
                .spawn(move || {
                    loop {
                        let next = jobs.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok(job) = next else { return };
                        run(job);
                    }
                })
                .map_err(|e| format!("cannot start a spawner thread: {e}"))?;
        }
        Ok(queue)
    });
    queue.as_ref().map_err(|e| io::Error::other(e.clone()))
}

/// Runs one job on a spawner thread.
fn run(job: Job) {
    let started = job.command.spawn_here(job.containment.as_deref());
    if let Err(Ok(orphan)) = job.reply.send(started) {
        // Nobody waits for it any more: it must not run unwatched.
        super::signals::kill_group(orphan.pid, libc::SIGKILL);
        let _ = reap(orphan.pid);
        if let Some(containment) = &job.containment {
            containment.release(orphan.pid);
        }
    }
}

fn cstring(s: OsString) -> io::Result<CString> {
    CString::new(s.into_vec()).map_err(|e| {
        let text = String::from_utf8_lossy(&e.into_vec()).into_owned();
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{text:?} contains a NUL byte"),
        )
    })
}

/// A null-terminated array of pointers into `strings`, for `execve`.
fn pointers(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

fn pipe_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
}

/// `fd`, moved above 2 if it is one of the standard descriptors (herald was started with
/// one of them closed), so that putting the child's stdio in place never overwrites it.
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    Ok(rustix::io::fcntl_dupfd_cloexec(&fd, 3)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use tokio::io::AsyncReadExt;

    /// Runs `command` to its end; its stdout, stderr and exit status.
    async fn output(command: &Command) -> io::Result<(String, String, ExitStatus)> {
        let Spawned {
            mut group,
            mut stdout,
            mut stderr,
        } = command.spawn(None).await?;
        let (mut out, mut err) = (String::new(), String::new());
        let (a, b) = tokio::join!(
            stdout.read_to_string(&mut out),
            stderr.read_to_string(&mut err)
        );
        a?;
        b?;
        Ok((out, err, group.finish().await?))
    }

    use std::process::ExitStatus;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[tokio::test]
    async fn the_child_leads_its_group_with_signals_unblocked_and_sigpipe_default() {
        let script =
            "cut -d' ' -f5 /proc/$$/stat; echo $$; exec grep -E '^Sig(Blk|Ign)' /proc/self/status";
        let (out, _, status) = output(&sh(script)).await.unwrap();
        assert!(status.success());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], lines[1], "the pgid is the pid: {out}");
        let mask = |name: &str| {
            let line = lines.iter().find(|l| l.starts_with(name)).unwrap();
            u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
        };
        assert_eq!(mask("SigBlk:"), 0, "{out}");
        assert_eq!(mask("SigIgn:") & (1 << (libc::SIGPIPE - 1)), 0, "{out}");
    }

    #[tokio::test]
    async fn output_goes_to_the_pipes_and_stdin_is_empty() {
        let (out, err, status) = output(&sh("cat; echo out; echo err >&2; exit 3"))
            .await
            .unwrap();
        assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
        assert_eq!(status.code(), Some(3));
    }

    #[tokio::test]
    async fn the_environment_is_herald_s_with_the_changes() {
        let mut command = sh("echo \"$HERALD_SPAWN_SET|${HOME+home}|${HERALD_SPAWN_GONE-unset}\"");
        command
            .env("HERALD_SPAWN_SET", "a b=c")
            .env("HERALD_SPAWN_GONE", "x")
            .env_remove("HERALD_SPAWN_GONE");
        let home = std::env::var_os("HOME").map_or("", |_| "home");
        let (out, _, _) = output(&command).await.unwrap();
        assert_eq!(out, format!("a b=c|{home}|unset\n"));
    }

    #[tokio::test]
    async fn programs_are_found_in_the_child_s_path_and_run_in_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("herald-spawn-hello");
        std::fs::write(&script, "#!/bin/sh\npwd\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut command = Command::new("herald-spawn-hello");
        command
            .env("PATH", format!("/nonexistent:{}", dir.path().display()))
            .current_dir(dir.path());
        let (out, _, status) = output(&command).await.unwrap();
        assert!(status.success());
        assert_eq!(Path::new(out.trim()), dir.path().canonicalize().unwrap());

        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = output(&command).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}");
    }

    #[tokio::test]
    async fn each_failing_step_says_what_failed() {
        let e = output(&Command::new("herald-no-such-program"))
            .await
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");

        let e = output(&Command::new("/nonexistent/program"))
            .await
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");

        let mut command = sh("exit 0");
        command.current_dir("/nonexistent/folder");
        let e = output(&command).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "cannot enter the working folder /nonexistent/folder: No such file or directory (os error 2)"
        );

        let e = output(&sh("nul\0byte")).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    }

    #[tokio::test]
    async fn many_children_at_once_from_many_threads() {
        let spawns = (0..64).map(|i| {
            tokio::spawn(async move {
                let (out, _, status) = output(&sh(&format!("echo {i}"))).await.unwrap();
                assert!(status.success());
                assert_eq!(out, format!("{i}\n"));
            })
        });
        for spawn in spawns {
            spawn.await.unwrap();
        }
    }
}
