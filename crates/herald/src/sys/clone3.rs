//! `clone3` with `CLONE_INTO_CGROUP`: a child born in its run's cgroup.
//!
//! Moving a live process into a cgroup (writing to `cgroup.procs`) takes the kernel's
//! cgroup thread-group lock for writing, which waits for an RCU grace period: 10 to 17 ms on
//! a busy host, on the path of every spawn. A child created in its cgroup by `clone3` with
//! `CLONE_INTO_CGROUP` (Linux 5.7) takes only the read side of that lock, as every fork does.
//!
//! The child shares herald's memory and runs on a stack of its own while the spawning thread
//! waits (`CLONE_VM | CLONE_VFORK`), as with `clone` in `spawn/child.rs`. The C library has no
//! wrapper for `clone3`, and a raw system call that returns twice cannot come back into Rust
//! code on a new stack, so the call is a few instructions of assembly: in the child, on its
//! new stack, they call the setup function, which never returns. Only on x86-64; elsewhere
//! (and where the kernel refuses) the caller falls back to `clone` and the child's write to
//! `cgroup.procs`.

use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the kernel took `clone3` with `CLONE_INTO_CGROUP` so far (cleared for good by an
/// answer that says it never will: `ENOSYS`, `E2BIG`, `EINVAL`).
static SUPPORTED: AtomicBool = AtomicBool::new(cfg!(target_arch = "x86_64"));

/// `struct clone_args` up to `cgroup` (`CLONE_ARGS_SIZE_VER2`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Whether trying [`spawn_into`] is worth it.
pub(crate) fn supported() -> bool {
    SUPPORTED.load(Ordering::Relaxed)
}

/// Creates a child in the cgroup `cgroup` (a descriptor of its folder) that shares this
/// process's memory and runs `child(arg)` on the stack `[stack, stack + size)`; returns its
/// pid once it has called `execve` or exited, or the errno of a refusal (no child exists
/// then).
///
/// # Safety
/// As for `clone(CLONE_VM | CLONE_VFORK)`: `child` must only make async-signal-safe system
/// calls on memory that outlives the call, and never return; signals must be blocked; `stack
/// + size` must be 16-byte aligned.
pub(crate) unsafe fn spawn_into(
    cgroup: RawFd,
    stack: *mut u8,
    size: usize,
    child: extern "C" fn(*mut c_void) -> c_int,
    arg: *mut c_void,
) -> Result<libc::pid_t, i32> {
    let args = CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_VFORK) as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        stack: stack as u64,
        stack_size: size as u64,
        cgroup: cgroup as u64,
        ..CloneArgs::default()
    };
    // SAFETY: the caller's contract.
    let ret = unsafe { raw(&args, child, arg) };
    if ret >= 0 {
        return Ok(ret as libc::pid_t);
    }
    let errno = -ret as i32;
    if matches!(errno, libc::ENOSYS | libc::E2BIG | libc::EINVAL) {
        SUPPORTED.store(false, Ordering::Relaxed);
    }
    Err(errno)
}

#[cfg(target_arch = "x86_64")]
unsafe fn raw(
    args: &CloneArgs,
    child: extern "C" fn(*mut c_void) -> c_int,
    arg: *mut c_void,
) -> isize {
    let ret: isize;
    // SAFETY: the caller's contract. The parent comes back after `syscall` with only rax,
    // rcx and r11 changed. The child comes back with rax = 0 on its new stack (rsp = stack
    // + size, 16-byte aligned, as `call` wants it) and never reaches the parent's code: it
    // calls `child`, and exits if that ever returned.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rdi, r13",
            "call r12",
            "mov edi, eax",
            "mov eax, 60",
            "syscall",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 as isize => ret,
            in("rdi") args as *const CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") child as usize,
            in("r13") arg,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn raw(_: &CloneArgs, _: extern "C" fn(*mut c_void) -> c_int, _: *mut c_void) -> isize {
    -(libc::ENOSYS as isize)
}

#[cfg(test)]
mod tests {
    use crate::sys::cgroup;
    use crate::sys::spawn::{Command, Spawned};
    use std::os::fd::OwnedFd;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;

    /// The cgroup the child `command` runs in says it is in (`/proc/self/cgroup`).
    async fn cgroup_of_child(dir: Arc<OwnedFd>, procs: Arc<OwnedFd>) -> std::io::Result<String> {
        let mut command = Command::new("cat");
        command.args(["/proc/self/cgroup"]).cgroup(dir, procs);
        let Spawned {
            mut group,
            mut stdout,
            ..
        } = command.spawn(None).await?;
        let mut out = String::new();
        stdout.read_to_string(&mut out).await?;
        group.finish().await?;
        Ok(out
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap_or("")
            .to_string())
    }

    fn open(path: &std::path::Path, flags: rustix::fs::OFlags) -> Arc<OwnedFd> {
        let flags = flags | rustix::fs::OFlags::CLOEXEC;
        Arc::new(rustix::fs::open(path, flags, rustix::fs::Mode::empty()).unwrap())
    }

    #[tokio::test]
    async fn the_child_is_born_in_its_cgroup_without_writing_to_cgroup_procs() {
        let Ok(tree) = cgroup::detect() else {
            eprintln!("no writable cgroup v2 hierarchy: nothing to test");
            return;
        };
        if !cfg!(target_arch = "x86_64") {
            return;
        }
        let leaf = tree.leaf("born").unwrap();
        // A `cgroup.procs` open for reading only: writing `0` to it would fail the spawn.
        let procs = open(&leaf.dir().join("cgroup.procs"), rustix::fs::OFlags::RDONLY);
        let inside = cgroup_of_child(leaf.dir_fd(), procs).await.unwrap();
        assert_eq!(inside, leaf.path());
        assert!(super::supported());
        leaf.remove();
    }

    #[tokio::test]
    async fn where_clone3_is_refused_the_child_enters_through_cgroup_procs() {
        let Ok(tree) = cgroup::detect() else {
            eprintln!("no writable cgroup v2 hierarchy: nothing to test");
            return;
        };
        let leaf = tree.leaf("entered").unwrap();
        // Not a cgroup: clone3 refuses it (EBADF), and creates no child.
        let folder = tempfile::tempdir().unwrap();
        let not_a_cgroup = open(
            folder.path(),
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY,
        );
        let inside = cgroup_of_child(not_a_cgroup, leaf.procs_fd())
            .await
            .unwrap();
        assert_eq!(inside, leaf.path());
        leaf.remove();
    }
}
