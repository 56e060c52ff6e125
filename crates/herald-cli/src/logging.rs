//! The supervisor's own log: `<state_dir>/herald.log`.
//!
//! The library reports what it drops or cannot do through `tracing` (a notify message from a
//! process no component contains, a refused `MAINPID=`, a guardian that died and was
//! replaced, a process outside a component's group holding its output). [`install`] sends
//! those lines to `herald.log` in the state folder, one line each with its time and level.
//! `HERALD_LOG` chooses what is written, in `tracing`'s filter syntax (`debug`,
//! `herald=trace`); by default warnings and errors.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The log's path in `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("herald.log")
}

/// Installs the subscriber writing to `<state_dir>/herald.log` (created 0600, appended to),
/// for the rest of the process. A second call, or a log that cannot be opened, changes
/// nothing (the reason goes to stderr).
pub fn install(state_dir: &Path) {
    let path = path(state_dir);
    let file = match OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) => {
            eprintln!("herald: cannot open {}: {e}", path.display());
            return;
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HERALD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .finish();
    let _ = tracing::subscriber::set_global_default(subscriber);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_s_warnings_reach_herald_log() {
        let dir = tempfile::tempdir().unwrap();
        install(dir.path());
        tracing::warn!(
            pid = 4242,
            "dropped a notify message from a process no component contains"
        );
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        assert!(text.contains("WARN") && text.contains("pid=4242"), "{text}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
