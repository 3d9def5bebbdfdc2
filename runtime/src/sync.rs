//! The one message the init process sends its parent during create.
//!
//! A SOCK_SEQPACKET socketpair carries it, so each message is one datagram
//! and a closed socket is an unambiguous "init died".
//!
//! | step | direction      | message                  | meaning                                   |
//! |------|----------------|--------------------------|-------------------------------------------|
//! | 1    | init → parent  | `R`                      | container built; init waits for `start`   |
//! | 1    | init → parent  | `E` errno:i32 text       | a step failed; init exits                 |
//! | -    | (socket EOF)   |                          | init died without a word                  |
//!
//! After step 1 the parent records the state and exits (`create`) or starts
//! the container itself (`run`). The wait for `start` does not use this
//! socket: it is the exec fifo in the state directory (see start.rs),
//! because the process that starts the container is not the one that
//! created it.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};

use crate::error::{Error, Result, SysResult};

pub fn pair() -> Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .sys("socketpair")
}

pub fn send_ready(fd: &OwnedFd) {
    let _ = send(fd.as_raw_fd(), b"R", MsgFlags::empty());
}

pub fn send_error(fd: &OwnedFd, err: &Error) {
    let mut msg = Vec::with_capacity(5 + err.message().len());
    msg.push(b'E');
    msg.extend_from_slice(&err.errno().map_or(0, |e| e as i32).to_ne_bytes());
    msg.extend_from_slice(err.message().as_bytes());
    let _ = send(fd.as_raw_fd(), &msg, MsgFlags::empty());
}

/// Waits for init's word. Ok when it is ready.
pub fn wait_ready(fd: &OwnedFd) -> Result<()> {
    let mut buf = vec![0u8; 65536];
    let n = loop {
        match recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Err(Errno::EINTR) => continue,
            r => break r.sys("receive from the container's init process")?,
        }
    };
    match buf.get(..n) {
        Some([b'R']) => Ok(()),
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
