//! Processes held by pidfds: opened once, signalled and waited for without
//! a pid that could be recycled meanwhile, and without polling loops (a
//! pidfd becomes readable when its process has exited, whoever its parent).

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

/// pidfd_open(2) of a thread-group leader. The caller decides whether the
/// pid can have been reused before this (its own unreaped child cannot).
pub fn open(pid: libc::pid_t) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // or -1; nothing is read from or written to our memory.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = Errno::result(r)?;
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Sends `sig` to the process behind `fd`; one that has already exited is
/// not an error.
pub fn send_signal(fd: &OwnedFd, sig: Signal) -> nix::Result<()> {
    match send_signal_number(fd, sig as libc::c_int) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sends signal number `signo`, which may be one nix's `Signal` has no
/// name for (SIGRTMIN to SIGRTMAX), to the process behind `fd`. Unlike
/// [`send_signal`] it reports ESRCH, a process already reaped: the
/// kernel's answers are the caller's to judge.
pub fn send_signal_number(fd: &OwnedFd, signo: libc::c_int) -> nix::Result<()> {
    // SAFETY: pidfd_send_signal with a null siginfo behaves like kill(2).
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signo,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(r).map(drop)
}

/// Waits until the process behind `fd` has exited; false on timeout.
pub fn wait_exit(fd: &OwnedFd, timeout: Duration) -> nix::Result<bool> {
    wait_all(std::slice::from_ref(fd), Instant::now() + timeout)
}

/// Waits until every process behind `fds` has exited; false if the deadline
/// passes first. Those that have exited are dropped from the poll set, so a
/// readable pidfd is never polled again.
pub fn wait_all(fds: &[OwnedFd], deadline: Instant) -> nix::Result<bool> {
    let mut set: Vec<PollFd> = fds
        .iter()
        .map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN))
        .collect();
    while !set.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        // Rounded up, so that a timeout means the deadline has passed.
        let ms = left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
        let ms = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        match poll(&mut set, ms) {
            Ok(0) => return Ok(false),
            Ok(_) => set.retain(|p| p.revents().is_none_or(|r| r.is_empty())),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    #[test]
    fn waits_for_every_process_and_times_out_on_a_live_one() {
        let mut quick = Command::new("/bin/sh")
            .args(["-c", "exit 0"])
            .spawn()
            .unwrap();
        let mut slow = Command::new("/bin/sleep").arg("30").spawn().unwrap();
        let q = open(quick.id() as i32).unwrap();
        let s = open(slow.id() as i32).unwrap();
        // The quick one exits; the pair is still not done while the other
        // lives.
        assert!(wait_exit(&q, Duration::from_secs(10)).unwrap());
        let t = Instant::now();
        let fds = [q, s];
        assert!(!wait_all(&fds, t + Duration::from_millis(100)).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(100));
        send_signal(&fds[1], Signal::SIGKILL).unwrap();
        assert!(wait_all(&fds, Instant::now() + Duration::from_secs(10)).unwrap());
        quick.wait().unwrap();
        slow.wait().unwrap();
        // Signalling an exited (and reaped) process is not an error, unless
        // asked by number.
        send_signal(&fds[1], Signal::SIGKILL).unwrap();
        assert_eq!(send_signal_number(&fds[1], 9), Err(Errno::ESRCH));
    }

    #[test]
    fn real_time_signals_are_sent_by_number() {
        let mut child = Command::new("/bin/sleep").arg("30").spawn().unwrap();
        let fd = open(child.id() as i32).unwrap();
        assert_eq!(send_signal_number(&fd, 1000), Err(Errno::EINVAL));
        // A real-time signal's default action ends the process.
        send_signal_number(&fd, libc::SIGRTMIN() + 3).unwrap();
        assert!(wait_exit(&fd, Duration::from_secs(10)).unwrap());
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGRTMIN() + 3));
        assert_eq!(send_signal_number(&fd, 0), Err(Errno::ESRCH));
    }
}
