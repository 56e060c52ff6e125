//! The child side of a spawn: the [`Plan`] herald prepares, the clone that shares herald's
//! memory, and [`child_main`], which sets the child up and `execve`s (the steps are listed in
//! the parent module).

use std::ffi::{c_char, c_int, c_void};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

/// The child's stack, in bytes: ample for the setup function and `execve`.
const STACK: usize = 64 * 1024;

/// The setup steps that can fail, as the child reports them.
pub(super) const SETUP: i32 = 1;
pub(super) const CHDIR: i32 = 2;
pub(super) const EXEC: i32 = 3;
pub(super) const CGROUP: i32 = 4;
pub(super) const SWITCH: i32 = 5;

/// What the child needs, prepared by the parent; the child writes back only `step` and
/// `errno`.
pub(super) struct Plan {
    pub(super) path: *const c_char,
    pub(super) argv: *const *const c_char,
    pub(super) envp: *const *const c_char,
    pub(super) cwd: *const c_char,
    pub(super) stdio: [RawFd; 3],
    /// `cgroup.procs` of the child's cgroup, or -1.
    pub(super) cgroup: RawFd,
    /// The guardian's pipe, or -1.
    pub(super) guardian: RawFd,
    /// The uid and gid to drop to, with the supplementary groups (`ngroups` at `groups`).
    pub(super) run_as: Option<(u32, u32)>,
    pub(super) groups: *const libc::gid_t,
    pub(super) ngroups: usize,
    /// Where the child writes its pid, NUL-terminated (ten bytes of room), or null.
    pub(super) watchdog_digits: *mut u8,
    pub(super) nofile: Option<libc::rlimit>,
    /// Whether the child dies with herald (SIGKILL as its parent-death signal).
    pub(super) parent_death: bool,
    pub(super) parent: libc::pid_t,
    pub(super) step: AtomicI32,
    pub(super) errno: AtomicI32,
}

/// Clones a child sharing herald's memory, which runs [`child_main`] on a stack of its own;
/// returns once it has called `execve` or exited. With `into` (a cgroup's folder) the child
/// is created there if the kernel can (`plan.cgroup` is then not written to).
pub(super) fn clone_and_exec(plan: &mut Plan, into: Option<RawFd>) -> io::Result<libc::pid_t> {
    let mut stack = vec![0u8; STACK];
    // SAFETY: the offset stays within the allocation (its one-past-the-end pointer).
    let end = unsafe { stack.as_mut_ptr().add(STACK) };
    // The stack grows down from its end, which must be 16-byte aligned.
    let top = end.wrapping_sub(end as usize % 16) as *mut c_void;

    // SAFETY: all-zero sigset_t values are valid; sigfillset and pthread_sigmask only write
    // into them.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    let mut born = None;
    if let Some(dir) = into.filter(|_| crate::sys::clone3::supported()) {
        let procs = std::mem::replace(&mut plan.cgroup, -1);
        let base = stack.as_mut_ptr();
        // SAFETY: as for clone below; `top` is 16-byte aligned, within `stack`.
        let r = unsafe {
            crate::sys::clone3::spawn_into(
                dir,
                base,
                top as usize - base as usize,
                child_main,
                plan as *const Plan as *mut c_void,
            )
        };
        match r {
            Ok(pid) => born = Some(pid),
            Err(errno) => {
                tracing::debug!(
                    "clone3 into the cgroup refused (errno {errno}); entering it after clone"
                );
                plan.cgroup = procs;
            }
        }
    }
    // SAFETY: with CLONE_VFORK this thread is suspended until the child has called execve
    // or exited, so `plan` and `stack` outlive every use the child makes of them; the child
    // only makes async-signal-safe system calls and never returns into Rust code of ours.
    let pid = born.unwrap_or_else(|| unsafe {
        libc::clone(
            child_main,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            plan as *const Plan as *mut c_void,
        )
    });
    let error = io::Error::last_os_error();
    // SAFETY: restores this thread's own mask, saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    drop(stack);
    if pid < 0 {
        return Err(error);
    }
    Ok(pid)
}

/// The child, between clone and `execve`. It shares herald's memory and runs while the
/// spawning thread waits, so it allocates nothing, takes no lock, and never returns.
extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `Plan` the suspended parent passed to clone.
    let plan = unsafe { &*(arg as *const Plan) };
    let fail = |step: i32| -> ! {
        let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        plan.errno.store(errno, Ordering::Release);
        plan.step.store(step, Ordering::Release);
        // SAFETY: ends the child without running anything of herald's.
        unsafe { libc::_exit(127) }
    };
    // SAFETY: each call below is a plain system call on memory the plan keeps alive.
    unsafe {
        reset_signal_handlers();
        if plan.cgroup >= 0 && libc::write(plan.cgroup, b"0".as_ptr().cast(), 1) != 1 {
            fail(CGROUP);
        }
        if libc::setpgid(0, 0) != 0 {
            fail(SETUP);
        }
        if let Some(limit) = &plan.nofile {
            libc::setrlimit(libc::RLIMIT_NOFILE, limit);
        }
        if let Some((uid, gid)) = plan.run_as {
            // Raw system calls: they change this process only (see the module's notes).
            if libc::syscall(libc::SYS_setgroups, plan.ngroups, plan.groups) != 0
                || libc::syscall(libc::SYS_setresgid, gid, gid, gid) != 0
                || libc::syscall(libc::SYS_setresuid, uid, uid, uid) != 0
            {
                fail(SWITCH);
            }
        }
        if plan.parent_death {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                fail(SETUP);
            }
            // Herald died before the death signal was armed: do not run orphaned.
            if libc::getppid() != plan.parent {
                libc::_exit(127);
            }
        }
        if plan.guardian >= 0 {
            list_with_guardian(plan.guardian);
        }
        if !plan.watchdog_digits.is_null() {
            let (digits, n) = pid_digits();
            for (i, d) in digits[..n].iter().enumerate() {
                *plan.watchdog_digits.add(i) = *d;
            }
            *plan.watchdog_digits.add(n) = 0;
        }
        for (target, &fd) in plan.stdio.iter().enumerate() {
            if libc::dup2(fd, target as c_int) < 0 {
                fail(SETUP);
            }
        }
        if !plan.cwd.is_null() && libc::chdir(plan.cwd) != 0 {
            fail(CHDIR);
        }
        // SAFETY: an all-zero sigset_t is valid; sigemptyset makes it the empty set.
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::execve(plan.path, plan.argv, plan.envp);
        fail(EXEC)
    }
}

/// Writes `+PGID\n` (the child's own pid) to the guardian's pipe, without allocating. A
/// guardian that died (it is being replaced) leaves a pending SIGPIPE, taken back here so it
/// does not kill the child once signals are unblocked.
///
/// # Safety
/// Only in the cloned child, with every signal blocked.
unsafe fn list_with_guardian(fd: RawFd) {
    let mut line = [0u8; 16];
    let (digits, n) = pid_digits();
    line[0] = b'+';
    line[1..=n].copy_from_slice(&digits[..n]);
    line[1 + n] = b'\n';
    // SAFETY: writes bytes of `line` to a descriptor; a pipe write this short is atomic.
    if unsafe { libc::write(fd, line.as_ptr().cast(), n + 2) } < 0 {
        // SAFETY: all-zero sigset_t and timespec values are valid; this only takes back a
        // pending SIGPIPE, without waiting.
        unsafe {
            let mut pipe: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut pipe);
            libc::sigaddset(&mut pipe, libc::SIGPIPE);
            let zero: libc::timespec = std::mem::zeroed();
            libc::sigtimedwait(&pipe, std::ptr::null_mut(), &zero);
        }
    }
}

/// The calling process's pid in decimal, and how many digits it has; allocates nothing.
fn pid_digits() -> ([u8; 10], usize) {
    // SAFETY: getpid has no preconditions.
    let mut pid = unsafe { libc::getpid() } as u32;
    let mut reversed = [0u8; 10];
    let mut n = 0;
    loop {
        reversed[n] = b'0' + (pid % 10) as u8;
        n += 1;
        pid /= 10;
        if pid == 0 {
            break;
        }
    }
    let mut digits = [0u8; 10];
    for i in 0..n {
        digits[i] = reversed[n - 1 - i];
    }
    (digits, n)
}

/// Resets to the default every signal with a handler, and `SIGPIPE` (which the Rust runtime
/// ignores, but programs expect to kill them). Signals herald's own parent set to be ignored
/// stay ignored, as across `execve`.
///
/// # Safety
/// Only in the cloned child, with every signal blocked.
unsafe fn reset_signal_handlers() {
    for signal in 1..=libc::SIGRTMAX() {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: an all-zero sigaction is valid; sigaction writes into it.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: queries the disposition into `current`. The C library refuses the signals
        // it keeps for itself, which are left alone.
        if unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) } != 0 {
            continue;
        }
        let ignored = current.sa_sigaction == libc::SIG_IGN;
        if current.sa_sigaction == libc::SIG_DFL || (ignored && signal != libc::SIGPIPE) {
            continue;
        }
        // SAFETY: as above.
        let mut default: libc::sigaction = unsafe { std::mem::zeroed() };
        default.sa_sigaction = libc::SIG_DFL;
        // SAFETY: sets the default disposition; the child has its own signal handler table
        // (no CLONE_SIGHAND), so herald's are untouched.
        unsafe { libc::sigaction(signal, &default, std::ptr::null_mut()) };
    }
}
