//! A short path for a socket whose natural place is too deep.
//!
//! A unix socket address holds at most 107 bytes of path, and some clients (a plain Python
//! socket, socat) only reach filesystem sockets, never abstract `@` names. So when
//! `<state_dir>/notify.sock` is too long, the socket lives in a folder of its own with a short
//! name, `/run/herald-XXXXXXXX` (or under `/tmp` where `/run` is not writable), created by
//! herald with a random name (`mkdir` fails on an existing name, so nobody else's folder is
//! ever used), mode 0711 (others may reach the socket inside, not list the folder). The state
//! folder holds no link to it: the state folder has no symlink of herald's (one there is
//! refused as a trap), and children find the socket through `NOTIFY_SOCKET`. It goes when
//! this is dropped.

use std::io;
use std::path::{Path, PathBuf};

/// The longest socket path that every client can use.
pub(crate) const SHORT_ENOUGH: usize = 100;

/// A short folder holding one socket, removed when dropped.
#[derive(Debug)]
pub(crate) struct ShortDir {
    dir: PathBuf,
}

impl ShortDir {
    /// Creates the folder for the socket `name` whose natural path, `natural`, is too long (a
    /// stale socket left there is removed). Returns the folder and the socket's short path.
    pub(crate) fn create(natural: &Path, name: &str) -> io::Result<(ShortDir, PathBuf)> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let mut last = None;
        for base in ["/run", "/tmp"] {
            for _ in 0..8 {
                let dir = Path::new(base).join(format!("herald-{:08x}", fastrand::u32(..)));
                match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                    Ok(()) => {
                        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711))?;
                        let socket = dir.join(name);
                        match std::fs::remove_file(natural) {
                            Ok(()) => {}
                            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                            Err(e) => {
                                let _ = std::fs::remove_dir(&dir);
                                return Err(e);
                            }
                        }
                        let short = ShortDir { dir };
                        return Ok((short, socket));
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(e) => {
                        last = Some(e);
                        break;
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free name for a socket folder")))
    }
}

impl Drop for ShortDir {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_short_private_folder_and_no_link_in_the_deep_one() {
        let deep = tempfile::tempdir().unwrap();
        let link = deep.path().join("notify.sock");
        let (short, socket) = ShortDir::create(&link, "notify.sock").unwrap();
        assert!(
            socket.as_os_str().len() < SHORT_ENOUGH,
            "{}",
            socket.display()
        );
        let folder = socket.parent().unwrap().to_path_buf();
        let mode = std::fs::metadata(&folder).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o711);
        assert!(
            std::fs::symlink_metadata(&link).is_err(),
            "a link in the state folder"
        );
        drop(short);
        assert!(!folder.exists());
    }
}
