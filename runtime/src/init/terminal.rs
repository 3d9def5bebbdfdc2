//! process.terminal: a pty whose master goes to whoever listens on
//! `--console-socket`, the way runc sends it (one SCM_RIGHTS message whose
//! payload is the master's name), and whose slave becomes the container's
//! stdio and controlling terminal.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::stat::Mode;

use crate::error::{Context, Error, Result, SysResult};
use crate::linux::syscall::Syscall;

nix::ioctl_read!(tiocgptn, b'T', 0x30, libc::c_uint);
nix::ioctl_write_ptr!(tiocsptlck, b'T', 0x31, libc::c_int);

/// Opens a new pty in the container's devpts (its /dev/ptmx), so the slave
/// belongs to the container and not to the host.
pub fn open_pty() -> Result<(OwnedFd, PathBuf)> {
    let fd = open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .sys("open /dev/ptmx")?;
    // SAFETY: `fd` was just returned by open and is owned here only.
    let master = unsafe { OwnedFd::from_raw_fd(fd) };
    let unlock: libc::c_int = 0;
    let mut n: libc::c_uint = 0;
    // SAFETY: both ioctls take a pointer to an int on a ptmx fd.
    unsafe {
        tiocsptlck(master.as_raw_fd(), &unlock).sys("unlock pty")?;
        tiocgptn(master.as_raw_fd(), &mut n).sys("get pty number")?;
    }
    Ok((master, PathBuf::from(format!("/dev/pts/{n}"))))
}

pub fn set_size(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize struct.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

pub fn send_master(socket: RawFd, master: &OwnedFd) -> Result<()> {
    let fds = [master.as_raw_fd()];
    let name = b"/dev/ptmx";
    let iov = [IoSlice::new(name)];
    sendmsg::<()>(
        socket,
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .sys("send the pty master over the console socket")?;
    Ok(())
}

pub fn recv_master(socket: RawFd) -> Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        socket,
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .sys("receive the pty master")?;
    for c in msg.cmsgs().sys("read control messages")? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(Error::sys(
        "no pty master received on the console socket",
        Errno::EBADMSG,
    ))
}

/// In init: a new session whose controlling terminal is the slave, which
/// also becomes stdin, stdout and stderr.
pub fn attach_slave(slave: &std::path::Path) -> Result<()> {
    nix::unistd::setsid().sys("setsid")?;
    let fd =
        open(slave, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()).sys_path("open", slave)?;
    // SAFETY: TIOCSCTTY takes an integer argument.
    Errno::result(unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) })
        .sys("set controlling terminal")?;
    for target in 0..3 {
        nix::unistd::dup2(fd, target).sys("dup2 the pty slave onto stdio")?;
    }
    let _ = nix::unistd::close(fd);
    Ok(())
}

/// Step 7 of init: a pty from the container's devpts, its master sent over
/// the console socket, its slave as stdio and bound on /dev/console.
pub fn setup_console(
    sys: &dyn Syscall,
    process: &oci_spec::runtime::Process,
    socket: &OwnedFd,
) -> Result<()> {
    let (master, slave) = open_pty()?;
    if let Some(size) = process.console_size() {
        set_size(
            master.as_raw_fd(),
            size.height() as u16,
            size.width() as u16,
        );
    }
    send_master(socket.as_raw_fd(), &master)?;
    drop(master);
    attach_slave(&slave)?;
    let console = sys.target_in_root(Path::new("/"), Path::new("/dev/console"), true)?;
    sys.mount(
        Some(&slave),
        &console.path,
        None,
        nix::mount::MsFlags::MS_BIND,
        None,
    )
    .context("bind the pty to /dev/console")
}
