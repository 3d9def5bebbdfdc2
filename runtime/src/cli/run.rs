use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use berth::create::{create, Console};
use berth::error::SysResult;
use berth::state::Store;
use berth::{foreground, lifecycle, terminal, Result};
use nix::errno::Errno;
use nix::unistd::Pid;

use super::CreateArgs;

pub fn run(store: &Store, a: &CreateArgs, detach: bool, keep: bool, rootless: bool) -> Result<i32> {
    let opts = a.options(rootless);
    if detach {
        let created = create(store, &opts, Console::Socket(a.console_socket.clone()))?;
        send_pidfd(a.pidfd_socket.as_deref(), created.pid)?;
        lifecycle::start_created(&created.dir, &created.state)?;
        return Ok(0);
    }
    foreground::block_signals()?;
    // With a terminal and nobody to hand it to, berth keeps the master and
    // copies it to its own stdio, as runc does.
    let console = match &a.console_socket {
        Some(p) => Console::Socket(Some(p.clone())),
        None => Console::Keep,
    };
    let created = create(store, &opts, console)?;
    let pid = created.pid;
    let ours = created.console;
    let result = (|| {
        let master = match &ours {
            Some(s) => Some(terminal::recv_master(s.as_raw_fd())?),
            None => None,
        };
        send_pidfd(a.pidfd_socket.as_deref(), pid)?;
        lifecycle::start_created(&created.dir, &created.state)?;
        // Let other commands (state, kill) lock the container while it runs.
        drop(created.dir);
        foreground::wait(pid, master)
    })();
    if !keep || result.is_err() {
        if result.is_err() {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        lifecycle::delete(store, &opts.id, true)?;
    }
    result
}

/// `--pidfd-socket`: a pidfd of the container's process, sent as runc 1.2
/// sends it (SCM_RIGHTS over a connected unix socket).
pub fn send_pidfd(socket: Option<&std::path::Path>, pid: Pid) -> Result<()> {
    let Some(path) = socket else {
        return Ok(());
    };
    let sock = UnixStream::connect(path).sys_path("connect to the pidfd socket", path)?;
    // SAFETY: pidfd_open returns a new descriptor or fails.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = Errno::result(r).sys("pidfd_open")?;
    // SAFETY: fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
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
