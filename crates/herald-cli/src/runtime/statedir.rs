//! The state folder is private: it is checked before use and every file in it is opened
//! without following symlinks.
//!
//! - The folder is owned by the user who runs herald and nobody else can list or write it:
//!   mode 0711 (others may pass through it to the notify socket, as a component that runs as
//!   another user must), whatever the umask. `logs/` is 0700 and every file 0600; the notify
//!   socket may be writable by all (every message is judged by its sender).
//! - A folder or an entry that another user owns or can write, or a symlink where herald expects
//!   a file, is refused with an error naming the path: the stack does not start (exit 1).
//! - Files are opened relative to the folder's descriptor (`openat`) with `O_NOFOLLOW`, so a
//!   symlink planted between the check and the open is refused too, never followed.

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The state folder's mode.
pub const DIR_MODE: u32 = 0o711;
/// The mode of `logs/`.
pub const LOGS_MODE: u32 = 0o700;
/// The mode of every file herald writes in the state folder.
pub const FILE_MODE: u32 = 0o600;

/// The name of the logs folder inside the state folder.
pub const LOGS: &str = "logs";

/// A state folder, checked, held open.
#[derive(Debug)]
pub struct StateDir {
    path: PathBuf,
    fd: OwnedFd,
}

/// How [`StateDir::open`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only; the file must exist.
    Read,
    /// Read and write, created if missing (the lock file).
    ReadWrite,
    /// Read and append, created if missing (logs).
    Append,
}

fn refuse(path: &Path, why: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("refusing {}: {why}", path.display()),
    )
}

fn context(path: &Path, what: &str, e: impl Into<io::Error>) -> io::Error {
    let e = e.into();
    io::Error::new(e.kind(), format!("cannot {what} {}: {e}", path.display()))
}

/// Checks that what `stat` describes, at `path`, is ours and that nobody else can write it.
/// `kind` is what herald expects there (`None`: a file or a socket).
fn check(path: &Path, stat: &rustix::fs::Stat, kind: Option<FileType>) -> io::Result<()> {
    let me = rustix::process::geteuid().as_raw();
    let found = FileType::from_raw_mode(stat.st_mode);
    if found == FileType::Symlink {
        return Err(refuse(
            path,
            "it is a symlink where herald expects its own file; remove it",
        ));
    }
    match kind {
        Some(kind) if found != kind => {
            return Err(refuse(path, format!("it is a {found:?}, not a {kind:?}")));
        }
        None if !matches!(found, FileType::RegularFile | FileType::Socket) => {
            return Err(refuse(path, format!("it is a {found:?}, not a file")));
        }
        _ => {}
    }
    if stat.st_uid != me {
        return Err(refuse(
            path,
            format!(
                "it is owned by uid {}, not by the user running herald (uid {me})",
                stat.st_uid
            ),
        ));
    }
    if found != FileType::Socket && stat.st_mode & 0o022 != 0 {
        return Err(refuse(
            path,
            format!(
                "other users can write it (mode {:o}); make it private",
                stat.st_mode & 0o7777
            ),
        ));
    }
    Ok(())
}

/// Opens the folder at `path` (not following a symlink) and checks it.
fn open_dir(at: &OwnedFd, name: &Path, path: &Path) -> io::Result<OwnedFd> {
    let fd = rustix::fs::openat(
        at,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => refuse(
            path,
            "it is not a folder (a symlink is not followed); remove it",
        ),
        e => context(path, "open", e),
    })?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| context(path, "inspect", e))?;
    check(path, &stat, Some(FileType::Directory))?;
    Ok(fd)
}

/// Creates the folder `name` in `at` with exactly `mode` if it is missing.
fn make_dir(at: &OwnedFd, name: &Path, path: &Path, mode: u32) -> io::Result<()> {
    match rustix::fs::mkdirat(at, name, Mode::from_raw_mode(mode)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(context(path, "create", e)),
    }
}

fn cwd() -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// The folder holding `path`, opened as it is (the user chose it), and `path`'s last name.
fn parent_of(path: &Path) -> io::Result<(OwnedFd, PathBuf)> {
    let name = path
        .file_name()
        .map(PathBuf::from)
        .ok_or_else(|| refuse(path, "it names no folder"))?;
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => {
            let fd = rustix::fs::open(
                parent,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| context(parent, "open", e))?;
            Ok((fd, name))
        }
        None => Ok((cwd()?, name)),
    }
}

impl StateDir {
    /// Creates the state folder if it is missing (its parents as any folder, the umask
    /// decides; the folder itself 0711), checks it and everything in it, and makes `logs/`
    /// (0700). Modes wider than the contract's on our own entries (left by an older herald,
    /// say) are narrowed; anything another user owns or can write is refused.
    pub fn prepare(path: &Path) -> io::Result<StateDir> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| context(path, "create", e))?;
        }
        let (parent, name) = parent_of(path)?;
        make_dir(&parent, &name, path, DIR_MODE)?;
        let dir = StateDir {
            path: path.to_path_buf(),
            fd: open_dir(&parent, &name, path)?,
        };
        rustix::fs::fchmod(&dir.fd, Mode::from_raw_mode(DIR_MODE))
            .map_err(|e| context(path, "set the mode of", e))?;
        let logs = dir.path.join(LOGS);
        make_dir(&dir.fd, Path::new(LOGS), &logs, LOGS_MODE)?;
        let logs_fd = open_dir(&dir.fd, Path::new(LOGS), &logs)?;
        rustix::fs::fchmod(&logs_fd, Mode::from_raw_mode(LOGS_MODE))
            .map_err(|e| context(&logs, "set the mode of", e))?;
        check_entries(&dir.fd, &dir.path)?;
        check_entries(&logs_fd, &logs)?;
        Ok(dir)
    }

    /// Opens an existing state folder for a client (`herald logs`) and checks it and its
    /// `logs/`, changing nothing. `None` when there is no folder.
    pub fn existing(path: &Path) -> io::Result<Option<StateDir>> {
        let (parent, name) = parent_of(path)?;
        match rustix::fs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(context(path, "inspect", e)),
            Ok(_) => {}
        }
        let dir = StateDir {
            path: path.to_path_buf(),
            fd: open_dir(&parent, &name, path)?,
        };
        match open_dir(&dir.fd, Path::new(LOGS), &dir.path.join(LOGS)) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Some(dir))
    }

    /// The folder's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `name` (a file name, or `logs/<file>`) in the folder without following a
    /// symlink, checks that it is our own regular file that nobody else can write, and (when
    /// writing) makes its mode 0600.
    pub fn open(&self, name: &str, access: Access) -> io::Result<File> {
        let path = self.path.join(name);
        let (dir, file) = match name.split_once('/') {
            Some((sub, file)) => (
                Some(open_dir(&self.fd, Path::new(sub), &self.path.join(sub))?),
                file,
            ),
            None => (None, name),
        };
        let at = dir.as_ref().unwrap_or(&self.fd);
        let flags = OFlags::NOFOLLOW
            | OFlags::CLOEXEC
            | match access {
                Access::Read => OFlags::RDONLY,
                Access::ReadWrite => OFlags::RDWR | OFlags::CREATE,
                Access::Append => OFlags::RDWR | OFlags::APPEND | OFlags::CREATE,
            };
        // A FIFO or a device must not block the open; the check below refuses them.
        let flags = flags | OFlags::NONBLOCK;
        let fd = rustix::fs::openat(at, file, flags, Mode::from_raw_mode(FILE_MODE)).map_err(
            |e| match e {
                rustix::io::Errno::LOOP => refuse(
                    &path,
                    "it is a symlink where herald expects its own file; remove it",
                ),
                e => context(&path, "open", e),
            },
        )?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| context(&path, "inspect", e))?;
        check(&path, &stat, Some(FileType::RegularFile))?;
        if access != Access::Read && stat.st_mode & 0o7777 != FILE_MODE {
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(FILE_MODE))
                .map_err(|e| context(&path, "set the mode of", e))?;
        }
        // Back to blocking reads and writes.
        let flags = rustix::fs::fcntl_getfl(&fd)?;
        rustix::fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK)?;
        Ok(File::from(fd))
    }

    /// Renames `name` to `name.1` inside the folder, if it is there (a symlink is renamed, not
    /// followed).
    pub fn rotate(&self, name: &str) -> io::Result<()> {
        match rustix::fs::renameat(&self.fd, name, &self.fd, format!("{name}.1")) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(context(&self.path.join(name), "rename", e)),
        }
    }
}

/// Checks every entry of a folder; narrows wider modes of our own regular files to 0600.
fn check_entries(fd: &OwnedFd, path: &Path) -> io::Result<()> {
    let dup = rustix::fs::openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let entries = rustix::fs::Dir::read_from(&dup).map_err(|e| context(path, "list", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| context(path, "list", e))?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let name: &std::ffi::OsStr = std::os::unix::ffi::OsStrExt::from_bytes(name);
        let at = path.join(name);
        let stat = rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| context(&at, "inspect", e))?;
        let kind = (FileType::from_raw_mode(stat.st_mode) == FileType::Directory)
            .then_some(FileType::Directory);
        check(&at, &stat, kind)?;
        if FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile
            && stat.st_mode & 0o077 != 0
        {
            let file = rustix::fs::openat(
                fd,
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| context(&at, "open", e))?;
            rustix::fs::fchmod(&file, Mode::from_raw_mode(FILE_MODE))
                .map_err(|e| context(&at, "set the mode of", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn modes_are_the_contracts_whatever_the_umask() {
        let tmp = tempfile::tempdir().unwrap();
        for umask in [0o000, 0o022, 0o077] {
            let state = tmp.path().join(format!("u{umask:o}/state"));
            let old = rustix::process::umask(Mode::from_raw_mode(umask));
            let made = StateDir::prepare(&state).and_then(|dir| {
                let mut log = dir.open("logs/a.log", Access::Append)?;
                log.write_all(b"x\n")?;
                dir.open("herald.lock", Access::ReadWrite)?;
                Ok(dir)
            });
            rustix::process::umask(old);
            made.unwrap();
            assert_eq!(mode(&state), DIR_MODE, "umask {umask:o}");
            assert_eq!(mode(&state.join("logs")), LOGS_MODE, "umask {umask:o}");
            assert_eq!(
                mode(&state.join("logs/a.log")),
                FILE_MODE,
                "umask {umask:o}"
            );
            assert_eq!(
                mode(&state.join("herald.lock")),
                FILE_MODE,
                "umask {umask:o}"
            );
        }
    }

    #[test]
    fn symlinks_are_refused_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "secret").unwrap();
        let state = tmp.path().join("state");
        let dir = StateDir::prepare(&state).unwrap();
        std::os::unix::fs::symlink(&victim, state.join("logs/web.log")).unwrap();
        let error = dir.open("logs/web.log", Access::Append).unwrap_err();
        assert!(error.to_string().contains("logs/web.log"), "{error}");
        assert!(error.to_string().contains("symlink"), "{error}");
        assert!(dir.open("logs/web.log", Access::Read).is_err());
        let error = StateDir::prepare(&state).unwrap_err();
        assert!(error.to_string().contains("symlink"), "{error}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret");
        // The folder itself as a symlink.
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(tmp.path().join("elsewhere"), &link).unwrap();
        std::fs::create_dir(tmp.path().join("elsewhere")).unwrap();
        let error = StateDir::prepare(&link).unwrap_err();
        assert!(error.to_string().contains("not a folder"), "{error}");
    }

    #[test]
    fn a_folder_others_can_write_is_refused_and_wide_files_narrowed() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        StateDir::prepare(&state).unwrap();
        std::fs::write(state.join("herald.log"), "").unwrap();
        std::fs::set_permissions(
            state.join("herald.log"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        StateDir::prepare(&state).unwrap();
        assert_eq!(mode(&state.join("herald.log")), FILE_MODE);
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = StateDir::prepare(&state).unwrap_err();
        assert!(
            error.to_string().contains("other users can write it"),
            "{error}"
        );
    }
}
