//! `run` without `--detach`: berth stays as the container's parent, forwards
//! the signals it receives, copies a terminal if it made one, and exits with
//! the container's status (128+N when a signal N killed it).
//!
//! Signals are blocked before clone and read from a signalfd, so none can
//! arrive between clone and the loop and kill berth instead of reaching the
//! container.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Error, Result, SysResult};

/// Signals that are about berth's own faults, never forwarded.
const OWN: [Signal; 7] = [
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGILL,
    Signal::SIGFPE,
    Signal::SIGABRT,
    Signal::SIGTRAP,
    Signal::SIGSYS,
];

fn forwarded() -> SigSet {
    let mut set = SigSet::all();
    for s in OWN {
        set.remove(s);
    }
    set
}

/// Call before create.
pub fn block_signals() -> Result<()> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded()), None)
        .sys("sigprocmask")
}

/// Restores the terminal mode on drop.
struct RawMode(Option<termios::Termios>);

impl RawMode {
    fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let Ok(old) = termios::tcgetattr(stdin.as_fd()) else {
            return RawMode(None);
        };
        let mut raw = old.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, &raw);
        RawMode(Some(old))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), termios::SetArg::TCSANOW, old);
        }
    }
}

fn copy(from: BorrowedFd, to: BorrowedFd) -> Result<bool> {
    let mut buf = [0u8; 8192];
    let n = match nix::unistd::read(from.as_raw_fd(), &mut buf) {
        Ok(0) | Err(Errno::EIO) => return Ok(false),
        Ok(n) => n,
        Err(Errno::EINTR | Errno::EAGAIN) => return Ok(true),
        Err(e) => return Err(Error::sys("read", e)),
    };
    let mut off = 0;
    while off < n {
        match nix::unistd::write(to, &buf[off..n]) {
            Ok(w) => off += w,
            Err(Errno::EINTR) => {}
            Err(_) => return Ok(false),
        }
    }
    Ok(true)
}

fn resize_from_stdin(master: &OwnedFd) {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize; failure leaves it zeroed.
    if unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0 {
        crate::init::terminal::set_size(master.as_raw_fd(), ws.ws_row, ws.ws_col);
    }
}

/// Runs until the container's init exits; returns its exit code.
pub fn wait(pid: Pid, master: Option<OwnedFd>) -> Result<i32> {
    let sfd = SignalFd::with_flags(&forwarded(), SfdFlags::SFD_CLOEXEC).sys("signalfd")?;
    let _raw = master.as_ref().map(|m| {
        resize_from_stdin(m);
        RawMode::enter()
    });
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    loop {
        if let Some(code) = reap(pid)? {
            // Drain what the container wrote before it exited.
            if let (Some(m), true) = (&master, master_open) {
                while poll(
                    &mut [PollFd::new(m.as_fd(), PollFlags::POLLIN)],
                    PollTimeout::ZERO,
                )
                .unwrap_or(0)
                    > 0
                    && copy(m.as_fd(), stdout.as_fd())?
                {}
            }
            return Ok(code);
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = &master {
            if master_open {
                fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            }
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            r => {
                r.sys("poll")?;
            }
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        if ready[0] {
            if let Ok(Some(info)) = sfd.read_signal() {
                let sig = info.ssi_signo as i32;
                match Signal::try_from(sig) {
                    Ok(Signal::SIGCHLD) => {}
                    Ok(Signal::SIGWINCH) => {
                        if let Some(m) = &master {
                            resize_from_stdin(m);
                        }
                    }
                    Ok(s) => {
                        let _ = kill(pid, s);
                    }
                    Err(_) => {}
                }
            }
        }
        if let Some(m) = &master {
            let mut i = 1;
            if master_open {
                if ready[i] {
                    master_open = copy(m.as_fd(), stdout.as_fd())?;
                }
                i += 1;
            }
            if stdin_open && ready[i] {
                stdin_open = copy(stdin.as_fd(), m.as_fd())?;
            }
        }
    }
}

fn reap(pid: Pid) -> Result<Option<i32>> {
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(Some(128 + sig as i32)),
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) => return Ok(None),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("waitpid", e)),
        }
    }
}
