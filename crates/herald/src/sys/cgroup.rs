//! cgroup v2 containment: one cgroup per component run, so that nothing a component starts
//! can leave it (a process can leave its process group or session, never its cgroup).
//!
//! Where a writable cgroup v2 hierarchy exists, herald creates one folder for the stack
//! beside its own cgroup (`<herald's cgroup>/herald-<pid>-<n>`) and one leaf per run in it
//! (`<n>-<component>`). The hierarchy is found in `/proc/self/mountinfo` (mounted at
//! `/sys/fs/cgroup`, or at `/sys/fs/cgroup/unified` on a hybrid host) and herald's own
//! cgroup in `/proc/self/cgroup`; where there is none, where it is read-only, or where
//! herald may not create a cgroup there (no delegation), there is no containment by cgroup
//! and the run token of `token.rs` does the work instead. `HERALD_CGROUPS=off` turns it off.
//!
//! The "no internal processes" rule: processes only ever live in the leaves, never in the
//! stack's folder, so controllers can be enabled for the leaves. Herald enables `cpu` and
//! `memory` where the parent offers them; where its own cgroup holds processes (herald
//! itself) and is not the root, the kernel refuses, and the leaves still count CPU time
//! (`cpu.stat` exists in every cgroup) but not memory.
//!
//! The child enters its leaf before `execve` (it writes `0` to the leaf's `cgroup.procs`,
//! opened beforehand, see `spawn/`), so it cannot fork outside it. Stopping signals every
//! process of the leaf, then `cgroup.kill` kills them all at once (on kernels before 5.14:
//! the leaf is frozen, each process killed, then thawed). The end of the last process is
//! an event: `cgroup.events` changes to `populated 0`, seen through inotify.

use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The stack's cgroup, holding one leaf per run.
#[derive(Debug)]
pub(crate) struct Tree {
    dir: PathBuf,
    /// The folder as `/proc/PID/cgroup` names it (from the hierarchy's root).
    path: String,
    next: AtomicU64,
}

/// Why cgroups are not used, in words, or the tree.
pub(crate) fn detect() -> Result<Tree, String> {
    if std::env::var_os("HERALD_CGROUPS").is_some_and(|v| v == "off" || v == "0") {
        return Err("turned off by HERALD_CGROUPS".into());
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let own = unified_path(&own).ok_or("herald is in no cgroup v2 hierarchy")?;
    let (mount, root) = mount_point(&mountinfo)?;
    let relative = own
        .strip_prefix(root.as_str())
        .unwrap_or(own)
        .trim_start_matches('/');
    let parent = Path::new(&mount).join(relative);
    Tree::create(&parent, own)
}

/// Herald's cgroup in the unified hierarchy: the `0::/path` line of `/proc/self/cgroup`.
fn unified_path(cgroup: &str) -> Option<&str> {
    cgroup.lines().find_map(|l| l.strip_prefix("0::"))
}

/// The writable cgroup2 mount (its mount point and the cgroup at its root), preferring
/// `/sys/fs/cgroup`, then `/sys/fs/cgroup/unified`, then any other.
fn mount_point(mountinfo: &str) -> Result<(String, String), String> {
    let mut found: Vec<(String, String, bool)> = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut right = right.split_whitespace();
        if right.next() != Some("cgroup2") {
            continue;
        }
        let fields: Vec<&str> = left.split_whitespace().collect();
        if fields.len() < 6 {
            continue;
        }
        let writable = fields[5].split(',').any(|o| o == "rw");
        found.push((unescape(fields[4]), unescape(fields[3]), writable));
    }
    let rank = |mount: &str| match mount {
        "/sys/fs/cgroup" => 0,
        "/sys/fs/cgroup/unified" => 1,
        _ => 2,
    };
    found.sort_by_key(|(mount, _, _)| rank(mount));
    match found.iter().find(|(_, _, writable)| *writable) {
        Some((mount, root, _)) => Ok((mount.clone(), root.clone())),
        None if found.is_empty() => Err("no cgroup v2 hierarchy is mounted".into()),
        None => Err(format!(
            "the cgroup v2 hierarchy at {} is read-only",
            found[0].0
        )),
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && let Ok(n) = u8::from_str_radix(&field[i + 1..i + 4], 8)
        {
            out.push(n);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Tree {
    /// Creates the stack's folder under `parent` (herald's own cgroup).
    fn create(parent: &Path, own: &str) -> Result<Tree, String> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        remove_stale(parent);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("herald-{}-{n}", std::process::id());
        let dir = parent.join(&name);
        let path = format!("{}/{name}", own.trim_end_matches('/'));
        std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        // Controllers for the leaves, where the parent offers them (best effort, see above).
        let wanted = ["cpu", "memory"];
        let offered = read(&parent.join("cgroup.controllers")).unwrap_or_default();
        let enable: Vec<String> = wanted
            .iter()
            .filter(|c| offered.split_whitespace().any(|o| o == **c))
            .map(|c| format!("+{c}"))
            .collect();
        if !enable.is_empty() {
            let _ = std::fs::write(parent.join("cgroup.subtree_control"), enable.join(" "));
            let ours = read(&dir.join("cgroup.controllers")).unwrap_or_default();
            let here: Vec<&String> = enable
                .iter()
                .filter(|c| ours.split_whitespace().any(|o| o == &c[1..]))
                .collect();
            for c in here {
                let _ = std::fs::write(dir.join("cgroup.subtree_control"), c);
            }
        }
        Ok(Tree {
            dir,
            path,
            next: AtomicU64::new(0),
        })
    }

    /// The stack's folder (the guardian kills it whole if herald dies).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new leaf for one run of `component`.
    pub(crate) fn leaf(&self, component: &str) -> io::Result<Leaf> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let name: String = component
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
                _ => '_',
            })
            .take(64)
            .collect();
        let leaf = format!("{n}-{name}");
        let dir = self.dir.join(&leaf);
        let path = format!("{}/{leaf}", self.path);
        std::fs::create_dir(&dir).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))
        })?;
        let opened = rustix::fs::open(
            &dir,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .and_then(|folder| {
            rustix::fs::openat(
                &folder,
                "cgroup.procs",
                rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map(|procs| (folder, procs))
        });
        let (folder, procs) = opened.map_err(io::Error::from).inspect_err(|_| {
            let _ = std::fs::remove_dir(&dir);
        })?;
        use std::os::unix::fs::MetadataExt;
        let id = std::fs::metadata(&dir)?.ino();
        Ok(Leaf {
            dir,
            path,
            id,
            procs: Arc::new(procs),
            folder: Arc::new(folder),
        })
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        // Every leaf is gone by now (each run removes its own); kill anything left.
        let _ = std::fs::write(self.dir.join("cgroup.kill"), "1");
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                if entry.path().is_dir() {
                    let _ = std::fs::remove_dir(entry.path());
                }
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Removes the empty folders of stacks whose herald is gone (killed, and its guardian
/// emptied them; a cgroup can only be removed by a process, not by the guardian's shell).
fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = stale_pid(&name) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let dir = entry.path();
        if let Ok(leaves) = std::fs::read_dir(&dir) {
            for leaf in leaves.flatten().filter(|l| l.path().is_dir()) {
                let _ = std::fs::write(leaf.path().join("cgroup.kill"), "1");
                let _ = std::fs::remove_dir(leaf.path());
            }
        }
        let _ = std::fs::remove_dir(&dir);
    }
}

fn stale_pid(name: &OsStr) -> Option<u32> {
    let rest = name.to_str()?.strip_prefix("herald-")?;
    rest.split('-').next()?.parse().ok()
}

fn read(path: &Path) -> io::Result<String> {
    std::fs::read_to_string(path)
}

/// One run's cgroup.
#[derive(Debug)]
pub(crate) struct Leaf {
    dir: PathBuf,
    /// The leaf as `/proc/PID/cgroup` names it.
    path: String,
    /// The cgroup's id (its folder's inode), as a pidfd tells it.
    id: u64,
    /// `cgroup.procs`, open for writing: the child writes `0` to it to enter.
    procs: Arc<OwnedFd>,
    /// The leaf's folder (`O_PATH`), for `clone3` with `CLONE_INTO_CGROUP`.
    folder: Arc<OwnedFd>,
}

/// What a run's processes used, from its cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// CPU time (user and system), in milliseconds.
    pub cpu_ms: Option<u64>,
    /// Memory in use, in bytes (where the memory controller is enabled).
    pub memory_bytes: Option<u64>,
}

impl Leaf {
    /// The descriptor the child writes `0` to, to enter the leaf.
    pub(crate) fn procs_fd(&self) -> Arc<OwnedFd> {
        self.procs.clone()
    }

    /// The leaf's folder, open (`O_PATH`): a child is created in it by `clone3`.
    pub(crate) fn dir_fd(&self) -> Arc<OwnedFd> {
        self.folder.clone()
    }

    /// The leaf as `/proc/PID/cgroup` names it.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The cgroup's id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The leaf's folder.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The processes in the leaf now.
    pub(crate) fn pids(&self) -> Vec<u32> {
        read(&self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Sends `signal` to every process in the leaf.
    pub(crate) fn signal(&self, signal: i32) {
        for pid in self.pids() {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(pid as libc::pid_t, signal) };
        }
    }

    /// Kills every process in the leaf at once.
    pub(crate) fn kill(&self) {
        if std::fs::write(self.dir.join("cgroup.kill"), "1").is_ok() {
            return;
        }
        // Before Linux 5.14: freeze, so that nothing forks while it is killed, then thaw
        // (the killed processes end once they run).
        let frozen = std::fs::write(self.dir.join("cgroup.freeze"), "1").is_ok();
        self.signal(libc::SIGKILL);
        if frozen {
            let _ = std::fs::write(self.dir.join("cgroup.freeze"), "0");
        }
    }

    /// Whether any process is left (`populated 1` in `cgroup.events`).
    pub(crate) fn populated(&self) -> bool {
        read(&self.dir.join("cgroup.events"))
            .map(|events| events.lines().any(|l| l == "populated 1"))
            .unwrap_or(false)
    }

    /// Resolves once the leaf is empty: `cgroup.events` is watched through inotify, so this
    /// wakes only when the file changes.
    pub(crate) async fn emptied(&self) {
        use rustix::fs::inotify;
        let watch = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC)
            .and_then(|fd| {
                inotify::add_watch(
                    &fd,
                    self.dir.join("cgroup.events"),
                    inotify::WatchFlags::MODIFY,
                )
                .map(|_| fd)
            });
        let fd = match watch.map_err(io::Error::from).and_then(|fd| {
            // SAFETY: the OwnedFd stays open, and the same descriptor, while AsyncFd owns it.
            unsafe {
                tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
            }
            .map_err(|e| e.into_parts().1)
        }) {
            Ok(fd) => fd,
            Err(e) => {
                tracing::warn!(cgroup = %self.dir.display(), "cannot watch cgroup.events: {e}");
                return;
            }
        };
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1024];
        while self.populated() {
            let Ok(mut ready) = fd.readable().await else {
                return;
            };
            let mut reader = inotify::Reader::new(fd.get_ref(), &mut buf);
            while reader.next().is_ok() {}
            ready.clear_ready();
        }
    }

    /// Removes the leaf (once empty).
    pub(crate) fn remove(&self) {
        if let Err(e) = std::fs::remove_dir(&self.dir) {
            tracing::debug!(cgroup = %self.dir.display(), "cannot remove the cgroup: {e}");
        }
    }
}

/// CPU time and memory of the cgroup at `dir`.
pub(crate) fn usage_of(dir: &Path) -> Usage {
    let cpu_ms = read(&dir.join("cpu.stat")).ok().and_then(|stat| {
        stat.lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|us| us / 1000)
    });
    let memory_bytes = read(&dir.join("memory.current"))
        .ok()
        .and_then(|v| v.trim().parse().ok());
    Usage {
        cpu_ms,
        memory_bytes,
    }
}

/// The cgroup v2 path of `pid` (`/proc/PID/cgroup`), read at once.
pub(crate) fn cgroup_of(pid: u32) -> Option<String> {
    let text = read(Path::new(&format!("/proc/{pid}/cgroup"))).ok()?;
    unified_path(&text).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unified_mount_is_found_on_hybrid_and_pure_hosts() {
        let hybrid = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(
            mount_point(hybrid).unwrap(),
            ("/sys/fs/cgroup/unified".into(), "/".into())
        );
        let pure = "30 23 0:26 /ns /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            mount_point(pure).unwrap(),
            ("/sys/fs/cgroup".into(), "/ns".into())
        );
        let ro = "30 23 0:26 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 ro\n";
        assert!(mount_point(ro).unwrap_err().contains("read-only"));
        let none = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n";
        assert!(mount_point(none).unwrap_err().contains("no cgroup v2"));
        assert_eq!(unescape("/a\\040b"), "/a b");
    }

    #[test]
    fn herald_s_own_cgroup_is_the_unified_line() {
        let text = "4:memory:/x\n0::/user.slice/session-1.scope\n";
        assert_eq!(unified_path(text), Some("/user.slice/session-1.scope"));
        assert_eq!(unified_path("4:memory:/x\n"), None);
    }
}
