//! The console socket a runtime sends a terminal's pty master through.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::error::{Error, Result};

/// A listening console socket in a private directory.
pub struct ConsoleSocket {
    dir: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub(super) fn new() -> Result<ConsoleSocket> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "berth-shim-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(Error::io(format!("mkdir {}", dir.display())))?;
        let path = dir.join("pty.sock");
        match UnixListener::bind(&path) {
            Ok(listener) => Ok(ConsoleSocket { dir, listener }),
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                Err(Error::Io {
                    context: format!("bind console socket {}", path.display()),
                    err: e,
                })
            }
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("pty.sock")
    }

    /// Receives the pty master. The runtime sent it before its `create` or
    /// `exec` returned, so it is already queued on the socket.
    pub(super) fn receive(self) -> Result<File> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        let fail = |what: &str| {
            Error::FailedPrecondition(format!("console socket {}: {what}", self.path().display()))
        };
        self.listener
            .set_nonblocking(true)
            .map_err(Error::io("console socket"))?;
        // Should the connection still be on its way, it is waited for (at
        // most 10 s) on the listener, not by retrying.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut fds = [PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
            let left = deadline
                .saturating_duration_since(Instant::now())
                .as_millis();
            let left = PollTimeout::try_from(left as i32).unwrap_or(PollTimeout::ZERO);
            if poll(&mut fds, left) != Err(nix::errno::Errno::EINTR) {
                break;
            }
        }
        let conn = match self.listener.accept() {
            Ok((c, _)) => c,
            Err(_) => return Err(fail("the runtime sent no terminal")),
        };
        conn.set_nonblocking(false)
            .map_err(Error::io("console socket"))?;
        let mut buf = [0u8; 4096];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| Error::Io {
            context: "recvmsg on the console socket".into(),
            err: e.into(),
        })?;
        for cmsg in msg.cmsgs().map_err(|_| fail("bad control message"))? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                if let Some(&fd) = fds.first() {
                    for extra in &fds[1..] {
                        // SAFETY: the kernel just gave us these fds; nothing
                        // else owns them.
                        drop(unsafe { OwnedFd::from_raw_fd(*extra) });
                    }
                    // SAFETY: as above: a fresh fd owned by nobody else.
                    return Ok(unsafe { File::from_raw_fd(fd) });
                }
            }
        }
        Err(fail("no file descriptor in the message"))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path());
        let _ = std::fs::remove_dir(&self.dir);
    }
}
