//! The messages between `create` and the container's init process.
//!
//! A SOCK_SEQPACKET socketpair carries them, so each message is one
//! datagram and a closed socket is an unambiguous "the other side died".
//!
//! | step | direction      | message            | when / meaning                                        |
//! |------|----------------|--------------------|-------------------------------------------------------|
//! | 0    | init → parent  | `M`                | only with a new user namespace and a parent without   |
//! |      |                |                    | root: init is dumpable, so its id maps can be written |
//! | 1    | parent → init  | `G` pid:i32        | only with a new user namespace, in-container hooks,   |
//! |      |                |                    | a seccomp agent, or a v2 cgroup clone3 could not      |
//! |      |                |                    | place init in: id maps written, oomScoreAdj set, init |
//! |      |                |                    | in its v2 cgroup; init's pid as the host sees it      |
//! | 2    | init → parent  | `H`                | only with prestart/createRuntime hooks: mounts done,  |
//! |      |                |                    | run the hooks                                         |
//! | 2    | parent → init  | `h`                | the hooks succeeded (on failure the parent kills init)|
//! | 3    | init → parent  | `R`                | container built; init no longer dies with the parent  |
//! | 4    | parent → init  | `S` go:u8          | state recorded (the socket's end without `S`: the     |
//! |      |                |                    | parent died, init exits). go 0 (`create`): init waits |
//! |      |                |                    | on the exec fifo for `start`. go 1 (`run`, which has  |
//! |      |                |                    | removed the fifo): init goes on to execve at once and |
//! |      |                |                    | keeps this socket (close-on-exec) for step 5          |
//! | 5    | init → parent  | `E` errno:i32 text | after go 1 only: a step between `S` and execve failed |
//! |      |                |                    | (startContainer hook, LSM label, seccomp, execve)     |
//! | 5    | (socket EOF)   |                    | after go 1: execve closed it (or init died)           |
//! | any  | init → parent  | `E` errno:i32 text | a step failed; init exits                             |
//! | any  | (socket EOF)   |                    | the other side died without a word                    |
//!
//! With a user namespace joined by path and a new pid namespace, an
//! intermediate process comes first (container/create.rs). It reports on a
//! socketpair of its own, so that its message cannot cross init's on the
//! socket above, then exits:
//!
//! | direction              | message            | when / meaning                                  |
//! |------------------------|--------------------|-------------------------------------------------|
//! | intermediate → parent  | `I` pid:i32        | init cloned, the parent's child; its pid as the |
//! |                        |                    | parent sees it. Init then talks as above        |
//! | intermediate → parent  | `E` errno:i32 text | joining or cloning failed; there is no init     |
//! | (socket EOF)           |                    | it died without a word                          |
//!
//! After `S` go 0 the parent exits (`create`). The wait for `start` does
//! not use this socket: it is the exec fifo in the state directory (see
//! container/lifecycle.rs), because the process that starts the container
//! is not the one that created it. `run` is both: with go 1 it spares init
//! and itself the fifo's rendezvous (init blocked in its open until `start`
//! opens it, a byte, then the fifo's hang-up at execve), and step 5 tells it
//! what the fifo would have, for the poststart hooks and `run -d`; a
//! foreground `run` without poststart hooks reads step 5 only once the
//! container has exited ([`exec_result`] without waiting).
//!
//! Every send is MSG_NOSIGNAL: init's `E` of step 5 may come after it has
//! set its signals back to their defaults, when a parent gone would
//! otherwise kill it with SIGPIPE before it could say why on its stderr.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};

use crate::error::{Error, Result, SysResult};

/// The messages of the tables above (`go`: see step 4).
#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    MapsWanted,
    Go { pid: i32 },
    Cloned { pid: i32 },
    RunHooks,
    HooksDone,
    Ready,
    Saved { go: bool },
}

pub fn pair() -> Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .sys("socketpair")
}

pub fn send_msg(fd: &OwnedFd, msg: Msg) -> Result<()> {
    let mut buf = Vec::with_capacity(5);
    match msg {
        Msg::MapsWanted => buf.push(b'M'),
        Msg::Go { pid } => {
            buf.push(b'G');
            buf.extend_from_slice(&pid.to_ne_bytes());
        }
        Msg::Cloned { pid } => {
            buf.push(b'I');
            buf.extend_from_slice(&pid.to_ne_bytes());
        }
        Msg::RunHooks => buf.push(b'H'),
        Msg::HooksDone => buf.push(b'h'),
        Msg::Ready => buf.push(b'R'),
        Msg::Saved { go } => buf.extend_from_slice(&[b'S', go as u8]),
    }
    send(fd.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL)
        .map(drop)
        .sys("send to the other side of create")
}

pub fn send_error(fd: &OwnedFd, err: &Error) {
    let mut msg = Vec::with_capacity(5 + err.message().len());
    msg.push(b'E');
    msg.extend_from_slice(&err.errno().map_or(0, |e| e as i32).to_ne_bytes());
    msg.extend_from_slice(err.message().as_bytes());
    let _ = send(fd.as_raw_fd(), &msg, MsgFlags::MSG_NOSIGNAL);
}

/// For a child that has just set its parent-death signal: that signal
/// never comes for a parent that died before it was set, but the parent's
/// end of the socket (the child closed its own copy first) has hung up.
pub fn check_parent(fd: &OwnedFd) -> Result<()> {
    // POLLHUP is reported whatever is asked for.
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::empty())];
    let gone = poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0)
        && fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLHUP));
    match gone {
        true => Err(Error::sys("the parent died", Errno::ESRCH)),
        false => Ok(()),
    }
}

/// The next message; an `E` from init becomes its error.
pub fn recv_msg(fd: &OwnedFd) -> Result<Msg> {
    // Error texts are short; a datagram longer than this is cut (MSG_TRUNC).
    let mut buf = [0u8; 8192];
    let n = recv_into(fd, &mut buf, MsgFlags::empty())?;
    parse(&buf[..n])
}

/// Step 5 (after `S` go 1): Ok once execve has closed init's end, init's
/// error if it sent one. Without `wait`, what is there now: for a parent
/// that has reaped init, the answer is there (init sends before it exits).
pub fn exec_result(fd: &OwnedFd, wait: bool) -> Result<()> {
    let mut buf = [0u8; 8192];
    let flags = match wait {
        true => MsgFlags::empty(),
        false => MsgFlags::MSG_DONTWAIT,
    };
    match recv_into(fd, &mut buf, flags) {
        Ok(0) => Ok(()),
        Err(e) if e.errno() == Some(Errno::EAGAIN) => Ok(()),
        Err(e) => Err(e),
        Ok(n) => {
            let msg = parse(&buf[..n])?;
            Err(Error::sys(
                format_args!("start: unexpected message {msg:?}"),
                Errno::EPROTO,
            ))
        }
    }
}

fn recv_into(fd: &OwnedFd, buf: &mut [u8], flags: MsgFlags) -> Result<usize> {
    loop {
        match recv(fd.as_raw_fd(), buf, flags) {
            Err(Errno::EINTR) => continue,
            r => break r.sys("receive from the other side of create"),
        }
    }
}

fn parse(msg: &[u8]) -> Result<Msg> {
    match msg {
        [b'G', pid @ ..] if pid.len() == 4 => Ok(Msg::Go {
            pid: i32::from_ne_bytes(pid.try_into().unwrap()),
        }),
        [b'I', pid @ ..] if pid.len() == 4 => Ok(Msg::Cloned {
            pid: i32::from_ne_bytes(pid.try_into().unwrap()),
        }),
        [b'M'] => Ok(Msg::MapsWanted),
        [b'H'] => Ok(Msg::RunHooks),
        [b'h'] => Ok(Msg::HooksDone),
        [b'R'] => Ok(Msg::Ready),
        [b'S', go @ (0 | 1)] => Ok(Msg::Saved { go: *go == 1 }),
        [b'E', rest @ ..] if rest.len() >= 4 => {
            let errno = i32::from_ne_bytes(rest[..4].try_into().unwrap());
            let text = String::from_utf8_lossy(&rest[4..]).into_owned();
            Err(Error::from_init(
                text,
                (errno != 0).then(|| Errno::from_raw(errno)),
            ))
        }
        _ => Err(Error::sys(
            "the container's init process exited during create",
            Errno::ECHILD,
        )),
    }
}

/// Receives the message the protocol says comes next.
pub fn expect(fd: &OwnedFd, want: &[u8]) -> Result<Msg> {
    let msg = recv_msg(fd)?;
    let tag = match msg {
        Msg::MapsWanted => b'M',
        Msg::Go { .. } => b'G',
        Msg::Cloned { .. } => b'I',
        Msg::RunHooks => b'H',
        Msg::HooksDone => b'h',
        Msg::Ready => b'R',
        Msg::Saved { .. } => b'S',
    };
    if want.contains(&tag) {
        Ok(msg)
    } else {
        Err(Error::sys(
            format_args!("create: unexpected message {msg:?}"),
            Errno::EPROTO,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_errors_carry_errno() {
        let (a, b) = pair().unwrap();
        send_msg(&a, Msg::Go { pid: 4242 }).unwrap();
        assert_eq!(recv_msg(&b).unwrap(), Msg::Go { pid: 4242 });
        send_msg(&b, Msg::Cloned { pid: 77 }).unwrap();
        assert_eq!(expect(&a, b"I").unwrap(), Msg::Cloned { pid: 77 });
        send_msg(&b, Msg::RunHooks).unwrap();
        assert_eq!(expect(&a, b"HR").unwrap(), Msg::RunHooks);
        send_msg(&b, Msg::Ready).unwrap();
        assert!(expect(&a, b"h").is_err());
        send_error(&b, &Error::sys("mount /proc", Errno::EPERM));
        let e = recv_msg(&a).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::EPERM));
        assert!(e.to_string().contains("mount /proc"));
        drop(b);
        assert!(recv_msg(&a).is_err());
    }

    #[test]
    fn saved_says_whether_init_goes_on_and_step_5_tells_exec_from_error() {
        let (parent, init) = pair().unwrap();
        for go in [false, true] {
            send_msg(&parent, Msg::Saved { go }).unwrap();
            assert_eq!(expect(&init, b"S").unwrap(), Msg::Saved { go });
        }
        // Nothing yet: without waiting, no error.
        assert!(exec_result(&parent, false).is_ok());
        send_error(&init, &Error::sys("exec \"/bad\"", Errno::ENOEXEC));
        let e = exec_result(&parent, true).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENOEXEC));
        assert!(e.to_string().contains("/bad"), "{e}");
        send_msg(&init, Msg::Ready).unwrap();
        assert_eq!(
            exec_result(&parent, false).unwrap_err().errno(),
            Some(Errno::EPROTO)
        );
        // The end that execve closes.
        drop(init);
        assert!(exec_result(&parent, true).is_ok());
        assert!(exec_result(&parent, false).is_ok());
    }

    #[test]
    fn sending_to_a_closed_end_is_an_error_even_with_sigpipe_at_default() {
        let (parent, init) = pair().unwrap();
        drop(parent);
        // In a child, as init after it has reset its signals (this test
        // process ignores SIGPIPE, as every Rust program starts).
        // SAFETY: the child only makes system calls and exits; glibc's
        // fork leaves malloc usable in it.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                // SAFETY: setting a default disposition.
                unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
                let ok = send_msg(&init, Msg::Ready).is_err();
                send_error(&init, &Error::sys("x", Errno::EPERM));
                // SAFETY: no atexit handlers of the test harness.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                assert_eq!(
                    nix::sys::wait::waitpid(child, None).unwrap(),
                    nix::sys::wait::WaitStatus::Exited(child, 0)
                );
            }
        }
    }

    #[test]
    fn a_closed_parent_end_is_seen_without_waiting() {
        let (parent, child) = pair().unwrap();
        send_msg(&parent, Msg::Go { pid: 1 }).unwrap();
        // A message waiting is not a hang-up.
        assert!(check_parent(&child).is_ok());
        drop(parent);
        assert_eq!(
            check_parent(&child).unwrap_err().errno(),
            Some(Errno::ESRCH)
        );
    }
}
