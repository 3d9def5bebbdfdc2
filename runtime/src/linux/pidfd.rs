//! berth-proc's pidfds with this crate's errors, which name the pid or the
//! signal.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

pub use berth_proc::pidfd::open;

use crate::error::{Error, Result, SysResult};

/// [`open`] with the pid named in the error.
pub fn open_or_err(pid: libc::pid_t) -> Result<OwnedFd> {
    open(pid).map_err(|e| Error::sys(format_args!("pidfd_open {pid}"), e))
}

/// `--pidfd-socket`: a pidfd of `pid`, which must be the caller's
/// unreaped child (so not a recycled pid), sent as runc 1.2 sends it:
/// SCM_RIGHTS over a connection to the unix socket at `path`.
pub fn send_to_socket(path: &Path, pid: libc::pid_t) -> Result<()> {
    let sock = UnixStream::connect(path).sys_path("connect to the pidfd socket", path)?;
    let fd = open_or_err(pid)?;
    let fds = [fd.as_raw_fd()];
    let iov = [std::io::IoSlice::new(b"pidfd")];
    nix::sys::socket::sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[nix::sys::socket::ControlMessage::ScmRights(&fds)],
        nix::sys::socket::MsgFlags::empty(),
        None,
    )
    .sys("send the pidfd")?;
    Ok(())
}

/// Signals the process behind `fd`; one that has exited is not an error.
pub fn send_signal(fd: &OwnedFd, sig: Signal) -> Result<()> {
    berth_proc::pidfd::send_signal(fd, sig).map_err(|e| Error::sys(format_args!("send {sig}"), e))
}

/// Waits until the process behind `fd` has exited; false on timeout.
pub fn wait_exit(fd: &OwnedFd, timeout: Duration) -> Result<bool> {
    wait_all(std::slice::from_ref(fd), Instant::now() + timeout)
}

/// Waits until every process behind `fds` has exited; false if the deadline
/// passes first.
pub fn wait_all(fds: &[OwnedFd], deadline: Instant) -> Result<bool> {
    berth_proc::pidfd::wait_all(fds, deadline).map_err(|e| Error::sys("poll pidfds", e))
}
