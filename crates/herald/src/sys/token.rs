//! Run tokens: containment where there are no cgroups.
//!
//! Every child gets `HERALD_RUN_TOKEN=<stack>.<run>` in its environment, and its own
//! children inherit it. A process that left its component's process group (`setsid`,
//! `setpgid`) still carries it, and as herald is the child subreaper, it is re-parented to
//! herald when its parent dies, never to init. So the processes of a run are found by walking
//! herald's adopted children (the direct children that are not component leaders) and their
//! descendants, and reading `/proc/PID/environ`: only processes outside every component's
//! group are read, so the walk costs next to nothing when nothing escaped.
//!
//! If herald dies, the guardian kills every process whose environment carries the stack's
//! token (see `guardian.rs`). A process that empties its own environment and leaves its
//! group escapes this; cgroups have no such hole.

use std::collections::HashSet;

/// The variable children get.
pub(crate) const VAR: &str = "HERALD_RUN_TOKEN";

/// A stack's token: herald's pid and 64 random bits, so that no two stacks share one.
pub(crate) fn stack_token() -> String {
    format!("{}-{:016x}", std::process::id(), fastrand::u64(..))
}

/// The token of run `n` of the stack `stack`.
pub(crate) fn run_token(stack: &str, n: u64) -> String {
    format!("{stack}.{n}")
}

/// The run token in `/proc/<pid>/environ`, if any.
pub(crate) fn token_of(pid: u32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{VAR}=");
    environ
        .split(|b| *b == 0)
        .find_map(|var| var.strip_prefix(prefix.as_bytes()))
        .map(|t| String::from_utf8_lossy(t).into_owned())
}

/// The parent and the process group of `pid`, from `/proc/PID/stat` (readable at every
/// instant of a process's life, `execve` included, unlike its environment).
pub(crate) fn parent_and_group(pid: u32) -> Option<(u32, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let _state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgid = fields.next()?.parse().ok()?;
    Some((ppid, pgid))
}

/// The children of `pid`, from every thread's `children` list.
pub(crate) fn children_of(pid: &str) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut children = Vec::new();
    for task in tasks.flatten() {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            children.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    children
}

/// Every live process among herald's adopted descendants that carries `token`, with all its
/// descendants. `skip` are herald's children not to descend into (component leaders, the
/// guardian).
pub(crate) fn carrying(token: &str, skip: &dyn Fn(u32) -> bool) -> Vec<u32> {
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<(u32, bool)> = children_of("self")
        .into_iter()
        .filter(|&p| !skip(p))
        .map(|p| (p, false))
        .collect();
    while let Some((pid, inherited)) = stack.pop() {
        if !seen.insert(pid) {
            continue;
        }
        let ours = inherited || token_of(pid).as_deref() == Some(token);
        if ours {
            found.push(pid);
        }
        stack.extend(children_of(&pid.to_string()).into_iter().map(|c| (c, ours)));
    }
    found
}

/// Sends `signal` to each of `pids`.
pub(crate) fn signal_each(pids: &[u32], signal: i32) {
    for &pid in pids {
        if pid > 1 {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(pid as libc::pid_t, signal) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_per_stack_and_run() {
        let (a, b) = (stack_token(), stack_token());
        assert_ne!(a, b);
        assert_eq!(run_token(&a, 3), format!("{a}.3"));
        assert!(a.starts_with(&format!("{}-", std::process::id())));
    }

    #[test]
    fn a_child_s_token_is_read_from_its_environment() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .env(VAR, "t-1.7")
            .spawn()
            .unwrap();
        let read = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(5));
            token_of(child.id()).as_deref() == Some("t-1.7")
        });
        assert!(read, "the token was never read");
        let (ppid, _) = parent_and_group(child.id()).unwrap();
        assert_eq!(ppid, std::process::id());
        assert!(children_of("self").contains(&child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
