//! [`RunAs`]: the user and group a component's process runs as (`user`, `group`).
//!
//! Names and numbers are looked up in the system's user and group databases (`getpwnam_r`,
//! `getgrnam_r`, `getgrouplist`, so NSS sources count as in `id`) once, when the component is
//! built, never in the child. The child then drops to them before `execve` with the raw
//! `setgroups`, `setresgid` and `setresuid` system calls (see `sys/spawn/`), which change
//! only the child: the C library's wrappers would change every thread of herald too.

use crate::{ComponentSpec, ConfigProblem};
use std::ffi::{CStr, CString};
use std::io;
use std::path::PathBuf;

/// Who a process runs as: user id, primary group, supplementary groups, and, for a user
/// found in the user database, the `HOME`, `USER` and `LOGNAME` it gets.
///
/// ```
/// use herald::RunAs;
/// let root = RunAs::resolve(Some("root"), None).unwrap();
/// assert_eq!((root.uid, root.gid), (0, 0));
/// assert_eq!(root.name.as_deref(), Some("root"));
/// let numeric = RunAs::resolve(Some("4321"), Some("4321")).unwrap();
/// assert_eq!((numeric.uid, numeric.gid, numeric.groups.as_slice()), (4321, 4321, &[4321][..]));
/// assert!(RunAs::resolve(Some("4321"), None).is_err()); // no entry: which group is unknown
/// assert!(RunAs::resolve(Some("no-such-user-here"), None).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// The supplementary groups (the primary group among them).
    pub groups: Vec<u32>,
    /// The user's name, when the user database has the user.
    pub name: Option<String>,
    /// The user's home folder, when the user database has the user.
    pub home: Option<PathBuf>,
}

impl RunAs {
    /// Who `spec`'s process runs as: `None` without `user` and `group` (herald's own user),
    /// else what [`RunAs::resolve`] finds. Switching needs root: for a herald that is not,
    /// the problem says so, naming the field.
    pub fn of(spec: &ComponentSpec) -> Result<Option<RunAs>, ConfigProblem> {
        let field = match (&spec.user, &spec.group) {
            (None, None) => return Ok(None),
            (Some(_), _) => "user",
            (None, Some(_)) => "group",
        };
        let invalid = |reason: String| ConfigProblem::Invalid {
            component: spec.name.clone(),
            field: field.to_string(),
            reason,
        };
        let me = rustix::process::geteuid();
        if !me.is_root() {
            let asked = match (&spec.user, &spec.group) {
                (Some(user), Some(group)) => format!("user {user:?} and group {group:?}"),
                (Some(user), None) => format!("user {user:?}"),
                (None, Some(group)) => format!("group {group:?}"),
                (None, None) => unreachable!("returned above"),
            };
            return Err(invalid(format!(
                "running as {asked} needs herald to run as root (it runs as uid {})",
                me.as_raw()
            )));
        }
        Self::resolve(spec.user.as_deref(), spec.group.as_deref())
            .map(Some)
            .map_err(invalid)
    }

    /// Resolves `user` (a name or a uid) and `group` (a name or a gid), as a component's
    /// `user` and `group` fields give them:
    ///
    /// - a user from the user database gets its primary group (unless `group` is given) and
    ///   its supplementary groups from the group database, as `initgroups` gives a login;
    /// - a uid the user database does not have needs `group` too, and gets only that group;
    /// - `group` alone keeps herald's user and makes that group the only one.
    ///
    /// The error says which name or number was not found.
    pub fn resolve(user: Option<&str>, group: Option<&str>) -> Result<RunAs, String> {
        let group = group.map(find_group).transpose()?;
        let Some(user) = user else {
            let uid = rustix::process::geteuid().as_raw();
            let gid = group.expect("a RunAs names a user, a group or both");
            return Ok(RunAs {
                uid,
                gid,
                groups: vec![gid],
                name: None,
                home: None,
            });
        };
        match find_user(user)? {
            Some(entry) => {
                let gid = group.unwrap_or(entry.gid);
                let groups = member_of(&entry.name, gid)?;
                Ok(RunAs {
                    uid: entry.uid,
                    gid,
                    groups,
                    name: Some(entry.name),
                    home: Some(entry.home),
                })
            }
            None => {
                let uid = user
                    .parse::<u32>()
                    .expect("find_user accepts only numbers it lacks");
                let gid = group.ok_or_else(|| {
                    format!(
                        "uid {uid} has no entry in the user database, so its group is unknown: \
                         set `group` too"
                    )
                })?;
                Ok(RunAs {
                    uid,
                    gid,
                    groups: vec![gid],
                    name: None,
                    home: None,
                })
            }
        }
    }
}

/// One entry of the user database.
struct UserEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: PathBuf,
}

/// Runs a `get*_r` lookup with a buffer grown until the entry fits. `call` makes the lookup
/// into the buffer it is given and copies out what it needs while the buffer lives:
/// `(0, Some(..))` found, `(0, None)` not found, `(errno, _)` failed.
fn lookup<T>(
    mut call: impl FnMut(&mut [libc::c_char]) -> (libc::c_int, Option<T>),
) -> io::Result<Option<T>> {
    let mut buffer = vec![0 as libc::c_char; 1024];
    loop {
        match call(&mut buffer) {
            (0, found) => return Ok(found),
            (libc::ERANGE, _) if buffer.len() < 1 << 20 => {
                let doubled = buffer.len() * 2;
                buffer.resize(doubled, 0);
            }
            // What the C libraries may also return for a name that is simply absent.
            (libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM, _) => return Ok(None),
            (errno, _) => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

/// One user database entry through `call`, its fields copied out.
fn passwd(
    call: impl Fn(
        *mut libc::passwd,
        *mut libc::c_char,
        libc::size_t,
        *mut *mut libc::passwd,
    ) -> libc::c_int,
) -> io::Result<Option<UserEntry>> {
    lookup(|buffer| {
        // SAFETY: all-zero passwd is valid; the lookup fills it with pointers into `buffer`,
        // which `user_entry` copies out before `buffer` is reused.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = call(&mut entry, buffer.as_mut_ptr(), buffer.len(), &mut found);
        (rc, (!found.is_null()).then(|| user_entry(&entry)))
    })
}

/// The user `user` names: by name first, then, for a number, by uid. `Ok(None)` for a
/// number the database lacks; an error for a name it lacks.
fn find_user(user: &str) -> Result<Option<UserEntry>, String> {
    let fail = |e: io::Error| format!("cannot look up user {user:?}: {e}");
    let c_name = CString::new(user).map_err(|_| format!("user {user:?} contains a NUL byte"))?;
    // SAFETY (both calls): every pointer is valid for the call, the size is the buffer's.
    let by_name = passwd(|entry, buffer, size, found| unsafe {
        libc::getpwnam_r(c_name.as_ptr(), entry, buffer, size, found)
    })
    .map_err(fail)?;
    if by_name.is_some() {
        return Ok(by_name);
    }
    let Ok(uid) = user.parse::<u32>() else {
        return Err(format!("no user named {user:?} on this machine"));
    };
    passwd(|entry, buffer, size, found| unsafe {
        libc::getpwuid_r(uid, entry, buffer, size, found)
    })
    .map_err(fail)
}

/// Copies the fields herald uses out of a filled `passwd`.
fn user_entry(entry: &libc::passwd) -> UserEntry {
    let text = |p: *const libc::c_char| {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: a filled entry's strings are NUL-terminated, in the lookup's buffer,
            // which is alive during this call.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    UserEntry {
        name: text(entry.pw_name),
        uid: entry.pw_uid,
        gid: entry.pw_gid,
        home: PathBuf::from(text(entry.pw_dir)),
    }
}

/// The gid `group` names: by name first, then a number as it is (a gid needs no entry).
fn find_group(group: &str) -> Result<u32, String> {
    let c_name = CString::new(group).map_err(|_| format!("group {group:?} contains a NUL byte"))?;
    let found = lookup(|buffer| {
        // SAFETY: all-zero group is valid; getgrnam_r fills it; only the gid is kept.
        let mut entry: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        let rc = unsafe {
            libc::getgrnam_r(
                c_name.as_ptr(),
                &mut entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut found,
            )
        };
        (rc, (!found.is_null()).then_some(entry.gr_gid))
    })
    .map_err(|e| format!("cannot look up group {group:?}: {e}"))?;
    match found {
        Some(gid) => Ok(gid),
        None => group
            .parse::<u32>()
            .map_err(|_| format!("no group named {group:?} on this machine")),
    }
}

/// The groups `user` is a member of, with `gid` first, as `getgrouplist` gives them.
fn member_of(user: &str, gid: u32) -> Result<Vec<u32>, String> {
    let c_name = CString::new(user).map_err(|_| format!("user {user:?} contains a NUL byte"))?;
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut count = groups.len() as libc::c_int;
        // SAFETY: `groups` has room for `count` entries; getgrouplist writes at most that
        // many and sets `count` to how many there are.
        let rc =
            unsafe { libc::getgrouplist(c_name.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            groups.truncate(count.max(0) as usize);
            return Ok(groups);
        }
        if groups.len() >= 1 << 16 {
            return Err(format!("user {user:?} is in too many groups"));
        }
        let wanted = (count.max(0) as usize).max(groups.len() * 2);
        groups.resize(wanted, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_user_gets_its_groups_and_home() {
        let root = RunAs::resolve(Some("root"), None).unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.groups.contains(&0));
        assert_eq!(root.home.as_deref(), Some(std::path::Path::new("/root")));
        let by_number = RunAs::resolve(Some("0"), None).unwrap();
        assert_eq!(by_number.name.as_deref(), Some("root"));
    }

    #[test]
    fn a_given_group_replaces_the_primary_one() {
        let root = RunAs::resolve(Some("root"), Some("4242")).unwrap();
        assert_eq!(root.gid, 4242);
        assert_eq!(root.groups.first(), Some(&4242));
    }

    #[test]
    fn what_is_not_found_is_named() {
        let e = RunAs::resolve(Some("herald-nobody-such"), None).unwrap_err();
        assert_eq!(e, r#"no user named "herald-nobody-such" on this machine"#);
        let e = RunAs::resolve(Some("root"), Some("herald-no-group")).unwrap_err();
        assert_eq!(e, r#"no group named "herald-no-group" on this machine"#);
        let e = RunAs::resolve(Some("54321"), None).unwrap_err();
        assert!(e.contains("set `group` too"), "{e}");
        let e = RunAs::resolve(Some("a\0b"), None).unwrap_err();
        assert!(e.contains("NUL"), "{e}");
    }

    #[test]
    fn a_group_alone_keeps_the_user() {
        let only = RunAs::resolve(None, Some("0")).unwrap();
        assert_eq!(only.uid, rustix::process::geteuid().as_raw());
        assert_eq!(only.groups, [0]);
    }
}
