//! The socket under a connection: connecting, writing and reading with a
//! deadline on every wait, so that a wedged peer costs berth a timeout,
//! never a hang.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    connect, send, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockType,
    UnixAddr,
};
use nix::sys::time::{TimeVal, TimeValLike};

use super::address::Address;
use super::message::{frame_len, FIXED_HEADER};
use crate::error::{Error, Result, SysResult};

/// An authentication line longer than this is not from a D-Bus server.
const MAX_LINE: usize = 16 << 10;
/// The most read at once while a message is still coming.
const MAX_READ: usize = 1 << 20;

pub struct Transport {
    stream: UnixStream,
    /// What was read and not used yet.
    buf: Vec<u8>,
    /// The address, as errors name it.
    pub name: String,
}

fn timed_out(op: &str, name: &str) -> Error {
    Error::sys(format_args!("{op} D-Bus at {name}"), Errno::ETIMEDOUT)
}

impl Transport {
    pub fn connect(address: &Address, deadline: Instant) -> Result<Transport> {
        let name = address.to_string();
        let op = format!("connect to D-Bus at {name}");
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .sys(&op)?;
        let sa = match address {
            Address::Path(p) => UnixAddr::new(p.as_path()),
            Address::Abstract(a) => UnixAddr::new_abstract(a),
        }
        .sys(&op)?;
        // A server that does not accept, its backlog full, makes connect
        // wait: as long as the send timeout for a unix socket.
        let left = deadline.saturating_duration_since(Instant::now());
        let tv = TimeVal::microseconds(left.as_micros().clamp(1, i64::MAX as u128) as i64);
        setsockopt(&fd, sockopt::SendTimeout, &tv).sys(&op)?;
        loop {
            match connect(fd.as_raw_fd(), &sa) {
                Ok(()) => break,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Err(timed_out("connect to", &name)),
                Err(e) => return Err(Error::sys(op, e)),
            }
        }
        Ok(Transport {
            stream: UnixStream::from(fd),
            buf: Vec::new(),
            name,
        })
    }

    pub fn send(&mut self, mut bytes: &[u8], deadline: Instant) -> Result<()> {
        while !bytes.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out("write to", &self.name));
            }
            self.stream.set_write_timeout(Some(left)).sys(format_args!(
                "set a write timeout on D-Bus at {}",
                self.name
            ))?;
            // MSG_NOSIGNAL: a closed connection is an error, not SIGPIPE.
            match send(self.stream.as_raw_fd(), bytes, MsgFlags::MSG_NOSIGNAL) {
                Ok(n) => bytes = &bytes[n..],
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return Err(timed_out("write to", &self.name)),
                Err(e) => {
                    return Err(Error::sys(
                        format_args!("write to D-Bus at {}", self.name),
                        e,
                    ))
                }
            }
        }
        Ok(())
    }

    /// Reads what has come, at most `want` bytes, waiting for something
    /// until the deadline.
    fn fill(&mut self, want: usize, deadline: Instant) -> Result<()> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out("read from", &self.name));
            }
            // Rounded up: a deadline less than 1 ms away is not a busy loop.
            let ms = (left.as_micros().div_ceil(1000)).min(i32::MAX as u128) as i32;
            let mut fds = [PollFd::new(self.stream.as_fd(), PollFlags::POLLIN)];
            match poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(0) | Err(Errno::EINTR) => continue,
                Ok(_) => break,
                Err(e) => return Err(Error::sys(format_args!("poll D-Bus at {}", self.name), e)),
            }
        }
        let old = self.buf.len();
        self.buf.resize(old + want, 0);
        let got = (&self.stream).read(&mut self.buf[old..]);
        self.buf.truncate(old + got.as_ref().map_or(0, |n| *n));
        match got {
            Ok(0) => Err(Error::sys(
                format_args!(
                    "read from D-Bus at {}: the server closed the connection",
                    self.name
                ),
                Errno::ECONNRESET,
            )),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e).sys(format_args!("read from D-Bus at {}", self.name)),
        }
    }

    /// One line of the authentication protocol, without its "\r\n".
    pub fn read_line(&mut self, deadline: Instant) -> Result<String> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let rest = self.buf.split_off(end + 2);
                let mut line = std::mem::replace(&mut self.buf, rest);
                line.truncate(end);
                return match String::from_utf8(line) {
                    Ok(l) if l.is_ascii() => Ok(l),
                    _ => Err(Error::invalid(format!(
                        "D-Bus at {}: an authentication line that is not ASCII",
                        self.name
                    ))),
                };
            }
            if self.buf.len() > MAX_LINE {
                return Err(Error::invalid(format!(
                    "D-Bus at {}: an authentication line of more than {MAX_LINE} bytes",
                    self.name
                )));
            }
            self.fill(4096, deadline)?;
        }
    }

    /// The bytes of the next whole message.
    pub fn read_frame(&mut self, deadline: Instant) -> Result<Vec<u8>> {
        while self.buf.len() < FIXED_HEADER {
            self.fill(4096, deadline)?;
        }
        let head = self.buf[..FIXED_HEADER].try_into().expect("16 bytes");
        let len = frame_len(head)
            .map_err(|e| Error::invalid(format!("D-Bus at {}: {}", self.name, e.message())))?;
        while self.buf.len() < len {
            let want = (len - self.buf.len()).clamp(4096, MAX_READ);
            self.fill(want, deadline)?;
        }
        let rest = self.buf.split_off(len);
        Ok(std::mem::replace(&mut self.buf, rest))
    }
}
