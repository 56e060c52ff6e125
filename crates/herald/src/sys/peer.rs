//! Who sent a datagram: its credentials, taken from the message itself at receive time.
//!
//! `SO_PASSCRED` makes the kernel attach the sender's pid and uid (`SCM_CREDENTIALS`);
//! `SO_PASSPIDFD` (Linux 6.5) attaches a pidfd too (`SCM_PIDFD`), which refers to the very
//! process that sent the message even if it has exited since, and, on Linux 6.15 and later,
//! tells its cgroup even once it has been reaped (`PIDFD_GET_INFO`). So a sender that exits
//! right after sending (`systemd-notify --no-block`) is still known by its cgroup. Where the
//! kernel has neither, the caller reads `/proc/PID/cgroup` at once.
//!
//! File descriptors passed along (`SCM_RIGHTS`, as `FDSTORE=1` and `BARRIER=1` do) are
//! handed back, to be closed once the message has been handled.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `SO_PASSPIDFD` and `SCM_PIDFD` (Linux 6.5), which the libc crate does not name yet.
const SO_PASSPIDFD: libc::c_int = 76;
const SCM_PIDFD: libc::c_int = 0x04;
/// `PIDFD_GET_INFO` (Linux 6.13): `_IOWR(0xFF, 11, struct pidfd_info)` for the 64-byte
/// first version of the structure.
const PIDFD_GET_INFO: libc::c_ulong = 0xC040_FF0B;
const PIDFD_INFO_CGROUPID: u64 = 1 << 2;
const PIDFD_INFO_EXIT: u64 = 1 << 3;

/// The first version of `struct pidfd_info`.
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    ids: [u32; 11],
    exit_code: i32,
}

/// Asks the kernel to attach the sender's credentials (and pidfd, where it can) to every
/// message received on `socket`.
pub(crate) fn pass_credentials(socket: BorrowedFd<'_>) -> io::Result<()> {
    rustix::net::sockopt::set_socket_passcred(socket, true)?;
    let on: libc::c_int = 1;
    // SAFETY: sets an int option from a valid int; a kernel without it answers ENOPROTOOPT.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PASSPIDFD,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    Ok(())
}

/// One datagram received.
#[derive(Debug, Default)]
pub(crate) struct Received {
    /// Its length, in bytes.
    pub len: usize,
    /// It was larger than the buffer (the rest was discarded by the kernel).
    pub truncated: bool,
    /// The sender's pid and uid.
    pub pid: Option<u32>,
    /// The sender's uid.
    pub uid: Option<u32>,
    /// A pidfd of the sender.
    pub pidfd: Option<OwnedFd>,
    /// Descriptors passed with the message, closed when this is dropped.
    pub fds: Vec<OwnedFd>,
}

/// Receives one datagram into `buf` without blocking.
pub(crate) fn recv(socket: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Received> {
    // Room for credentials, a pidfd and a few passed descriptors.
    let mut control = [MaybeUninit::<u64>::uninit(); 64];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the fields set point to live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control) as _;
    let flags = libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC | libc::MSG_TRUNC;
    // SAFETY: `msg` describes valid, writable buffers for the duration of the call.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, flags) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut received = Received {
        len: (n as usize).min(buf.len()),
        truncated: n as usize > buf.len() || msg.msg_flags & libc::MSG_TRUNC != 0,
        ..Received::default()
    };
    // SAFETY: the CMSG macros walk the control buffer the kernel filled, within
    // msg_controllen; each payload is read unaligned from within its message.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let header = &*cmsg;
            let data = libc::CMSG_DATA(cmsg);
            let payload = header.cmsg_len as usize - (data as usize - cmsg as usize);
            if header.cmsg_level == libc::SOL_SOCKET {
                match header.cmsg_type {
                    libc::SCM_CREDENTIALS if payload >= size_of::<libc::ucred>() => {
                        let cred = std::ptr::read_unaligned(data as *const libc::ucred);
                        received.pid = Some(cred.pid as u32);
                        received.uid = Some(cred.uid);
                    }
                    SCM_PIDFD if payload >= size_of::<libc::c_int>() => {
                        let fd = std::ptr::read_unaligned(data as *const libc::c_int);
                        received.pidfd = Some(OwnedFd::from_raw_fd(fd));
                    }
                    libc::SCM_RIGHTS => {
                        let count = payload / size_of::<libc::c_int>();
                        for i in 0..count {
                            let fd = std::ptr::read_unaligned((data as *const libc::c_int).add(i));
                            received.fds.push(OwnedFd::from_raw_fd(fd));
                        }
                    }
                    _ => {}
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(received)
}

/// The id of the cgroup (the inode of its folder) of the process `pidfd` refers to, alive
/// or, on Linux 6.15 and later, exited; `None` where the kernel cannot tell.
pub(crate) fn cgroup_id(pidfd: &OwnedFd) -> Option<u64> {
    let mut info = PidfdInfo {
        mask: PIDFD_INFO_CGROUPID | PIDFD_INFO_EXIT,
        ..PidfdInfo::default()
    };
    // SAFETY: PIDFD_GET_INFO writes at most the 64 bytes of `info`.
    let r = unsafe { libc::ioctl(pidfd.as_raw_fd(), PIDFD_GET_INFO as _, &mut info) };
    (r == 0 && info.mask & PIDFD_INFO_CGROUPID != 0 && info.cgroupid != 0).then_some(info.cgroupid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn credentials_and_descriptors_come_with_the_message() {
        let (a, b) = UnixDatagram::pair().unwrap();
        pass_credentials(b.as_fd()).unwrap();
        a.send(b"READY=1").unwrap();
        let mut buf = [0u8; 16];
        let got = recv(b.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..got.len], b"READY=1");
        assert_eq!(got.pid, Some(std::process::id()));
        assert!(!got.truncated);
        if let Some(pidfd) = &got.pidfd {
            let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
            let own = own.lines().find_map(|l| l.strip_prefix("0::"));
            if own.is_some() {
                // Either the kernel tells the cgroup or it does not; it never errs.
                let _ = cgroup_id(pidfd);
            }
        }

        a.send(&[b'x'; 40]).unwrap();
        let got = recv(b.as_fd(), &mut buf).unwrap();
        assert!(got.truncated, "a message larger than the buffer is marked");
    }
}
