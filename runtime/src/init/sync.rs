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
//! | 4    | parent → init  | `S`                | state recorded; init waits for `start` (the socket's  |
//! |      |                |                    | end without `S`: create died, init exits)             |
//! | any  | init → parent  | `E` errno:i32 text | a step failed; init exits                             |
//! | any  | (socket EOF)   |                    | the other side died without a word                    |
//!
//! After `S` the parent exits (`create`) or starts the container itself
//! (`run`). The wait for `start` does not use this
//! socket: it is the exec fifo in the state directory (see container/lifecycle.rs),
//! because the process that starts the container is not the one that
//! created it.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};

use crate::error::{Error, Result, SysResult};

#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    MapsWanted,
    Go { pid: i32 },
    RunHooks,
    HooksDone,
    Ready,
    Saved,
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
        Msg::RunHooks => buf.push(b'H'),
        Msg::HooksDone => buf.push(b'h'),
        Msg::Ready => buf.push(b'R'),
        Msg::Saved => buf.push(b'S'),
    }
    send(fd.as_raw_fd(), &buf, MsgFlags::empty())
        .map(drop)
        .sys("send to the other side of create")
}

pub fn send_error(fd: &OwnedFd, err: &Error) {
    let mut msg = Vec::with_capacity(5 + err.message().len());
    msg.push(b'E');
    msg.extend_from_slice(&err.errno().map_or(0, |e| e as i32).to_ne_bytes());
    msg.extend_from_slice(err.message().as_bytes());
    let _ = send(fd.as_raw_fd(), &msg, MsgFlags::empty());
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
    let n = loop {
        match recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Err(Errno::EINTR) => continue,
            r => break r.sys("receive from the other side of create")?,
        }
    };
    match buf.get(..n) {
        Some([b'G', pid @ ..]) if pid.len() == 4 => Ok(Msg::Go {
            pid: i32::from_ne_bytes(pid.try_into().unwrap()),
        }),
        Some([b'M']) => Ok(Msg::MapsWanted),
        Some([b'H']) => Ok(Msg::RunHooks),
        Some([b'h']) => Ok(Msg::HooksDone),
        Some([b'R']) => Ok(Msg::Ready),
        Some([b'S']) => Ok(Msg::Saved),
        Some([b'E', rest @ ..]) if rest.len() >= 4 => {
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
        Msg::RunHooks => b'H',
        Msg::HooksDone => b'h',
        Msg::Ready => b'R',
        Msg::Saved => b'S',
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
