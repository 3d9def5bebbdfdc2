//! The loopback interface of a new network namespace, brought up as runc
//! and crun do: a new namespace starts with `lo` down, and programs that
//! talk to themselves over 127.0.0.1 expect it up.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use crate::error::{Result, SysResult};

pub fn up() -> Result<()> {
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = Errno::result(unsafe {
        libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
    })
    .sys("socket for the loopback interface")?;
    // SAFETY: a fresh descriptor, owned here only.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write only `req`,
    // which outlives both calls; ifru_flags is the union member they use.
    unsafe {
        Errno::result(libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFFLAGS as _,
            &mut req,
        ))
        .sys("ioctl(SIOCGIFFLAGS) of lo")?;
        if req.ifr_ifru.ifru_flags & libc::IFF_UP as libc::c_short != 0 {
            return Ok(());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        Errno::result(libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req))
            .sys("ioctl(SIOCSIFFLAGS) to bring lo up")?;
    }
    Ok(())
}
