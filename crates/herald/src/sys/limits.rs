//! The open-file limit: herald holds a few descriptors per component (two pipes, a pidfd, a
//! log file), so a large stack needs more than the usual soft limit of 1024. Herald raises
//! its own soft limit to the hard limit once, and children get the original soft limit back
//! (some programs still use `select`, which cannot see descriptors past 1024).

use std::sync::OnceLock;

/// The soft limit herald started with, if it was raised.
static ORIGINAL: OnceLock<Option<libc::rlimit>> = OnceLock::new();

/// Raises the soft open-file limit to the hard limit (once per process).
pub(crate) fn raise_nofile() {
    ORIGINAL.get_or_init(|| {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid, writable rlimit.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        if limit.rlim_cur >= limit.rlim_max {
            return None;
        }
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return None;
        }
        Some(limit)
    });
}

/// The limit a child should get back, if herald raised its own.
pub(crate) fn child_nofile() -> Option<libc::rlimit> {
    ORIGINAL.get().copied().flatten()
}
