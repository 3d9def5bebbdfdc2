//! CRIU, driven through its RPC interface: `criu swrk 3` with one end of a
//! SOCK_SEQPACKET socketpair as its descriptor 3, one protobuf message
//! per packet (rpc.rs).
//!
//! A request is answered by one response, except that with notify_scripts
//! criu first sends a NOTIFY for each step it reaches ("setup-namespaces",
//! "post-restore", ...) and waits for our answer; a descriptor (the pty
//! master of "orphan-pts-master") comes with its notification as
//! SCM_RIGHTS.

pub mod descriptors;
pub mod log;
pub mod root;
pub mod rpc;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use nix::errno::Errno;
use nix::sys::socket::{
    recvmsg, send, socketpair, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};

use crate::error::{Error, Result, SysResult};
use rpc::{Req, ReqType, Resp};

/// berth asks criu for what 3.15 has: the RPC version request (3.0),
/// external network and pid namespaces (3.11, 3.15), the cgroup v2
/// freezer (3.14).
pub const MIN_VERSION: (i32, i32, i32) = (3, 15, 0);

/// The criu binary: `--criu PATH`, or `criu` looked up on PATH.
#[derive(Debug, Clone)]
pub struct Criu {
    pub path: PathBuf,
}

impl Criu {
    /// Resolves the binary now, so that a missing criu is an error that
    /// says where berth looked, before anything is done to the container.
    pub fn find(given: Option<&Path>) -> Result<Criu> {
        // A bare name (runc's default is `criu`) is looked up on PATH.
        let name = match given {
            Some(p) if p.components().count() == 1 && !p.is_absolute() => Some(p),
            _ => None,
        };
        if let Some(p) = given.filter(|_| name.is_none()) {
            if p.is_file() {
                return Ok(Criu {
                    path: p.to_path_buf(),
                });
            }
            return Err(Error::invalid(format!(
                "criu not found at {} (--criu): checkpoint and restore need CRIU {}.{} or later",
                p.display(),
                MIN_VERSION.0,
                MIN_VERSION.1
            )));
        }
        let name = name.unwrap_or(Path::new("criu"));
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .map(|path| Criu { path })
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{} not found on PATH ({}): install CRIU {}.{} or later, or name it with --criu PATH",
                    name.display(),
                    std::env::var("PATH").unwrap_or_default(),
                    MIN_VERSION.0,
                    MIN_VERSION.1
                ))
            })
    }

    /// Asks criu its version and refuses one older than [`MIN_VERSION`].
    pub fn check_version(&self) -> Result<(i32, i32, i32)> {
        let mut s = self.start(Vec::new())?;
        let resp = s.request(&Req::new(ReqType::Version, None), |_, _| Ok(()));
        let resp = s.finish(resp)?;
        let v = resp.version.ok_or_else(|| {
            Error::invalid(format!(
                "{}: criu gave no version (CRIU before 3.0 cannot say it): \
                 berth needs CRIU {}.{} or later",
                self.path.display(),
                MIN_VERSION.0,
                MIN_VERSION.1
            ))
        })?;
        self.new_enough(v)?;
        Ok(v)
    }

    fn new_enough(&self, v: (i32, i32, i32)) -> Result<()> {
        if v >= MIN_VERSION {
            return Ok(());
        }
        Err(Error::invalid(format!(
            "{} is CRIU {}.{}.{}: berth needs {}.{}.{} or later",
            self.path.display(),
            v.0,
            v.1,
            v.2,
            MIN_VERSION.0,
            MIN_VERSION.1,
            MIN_VERSION.2
        )))
    }

    /// Whether criu can track memory changes (the kernel's soft-dirty
    /// bits), which a pre-dump and a dump on a parent need.
    pub fn has_mem_track(&self) -> Result<bool> {
        let mut s = self.start(Vec::new())?;
        let mut req = Req::new(ReqType::FeatureCheck, None);
        req.ask_mem_track = true;
        let resp = s.request(&req, |_, _| Ok(()));
        // criu answers "not successful" when a feature asked for is
        // missing, with the features it has.
        let resp = s.finish(resp);
        Ok(matches!(resp, Ok(r) if r.mem_track == Some(true)))
    }

    /// Starts `criu swrk 3`. `extra` become its descriptors 4, 5, ... (for
    /// inherit_fd); its stdio is ours, so that a restore's inherit_fd of 0,
    /// 1 and 2 hands our stdio to the restored process.
    pub fn start(&self, extra: Vec<OwnedFd>) -> Result<Session> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .sys("socketpair for criu")?;
        // Above any target number, so that placing one cannot overwrite
        // another before it is placed.
        let high = |fd: &OwnedFd| -> Result<OwnedFd> {
            let n = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(100))
                .sys("dup a descriptor for criu")?;
            // SAFETY: fcntl just returned this new descriptor.
            Ok(unsafe { OwnedFd::from_raw_fd(n) })
        };
        let mut sources = vec![high(&theirs)?];
        for fd in &extra {
            sources.push(high(fd)?);
        }
        drop(theirs);
        drop(extra);
        let raw: Vec<RawFd> = sources.iter().map(|f| f.as_raw_fd()).collect();
        let mut cmd = Command::new(&self.path);
        cmd.arg("swrk").arg("3");
        // SAFETY: between fork and exec the closure only makes syscalls
        // (dup2, sigprocmask), which are async-signal-safe, and touches
        // memory it owns (a copied Vec it only reads).
        unsafe {
            cmd.pre_exec(move || {
                for (i, &fd) in raw.iter().enumerate() {
                    // dup2 leaves the new descriptor without CLOEXEC.
                    if libc::dup2(fd, 3 + i as i32) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                // `run`-like restores block every signal before this; criu
                // needs its SIGCHLD.
                let mut empty: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut empty);
                libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| {
            let what = format!("run {} swrk", self.path.display());
            match e.raw_os_error() {
                Some(n) => Error::sys(what, Errno::from_raw(n)),
                None => Error::invalid(format!("{what}: {e}")),
            }
        })?;
        drop(sources);
        Ok(Session {
            sock: Some(ours),
            child: Some(child),
            path: self.path.clone(),
        })
    }
}

/// A running `criu swrk`.
pub struct Session {
    sock: Option<OwnedFd>,
    child: Option<Child>,
    path: PathBuf,
}

impl Session {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Sends `req` and reads until its response; each notification on the
    /// way goes to `notify` (script, pid and any descriptor sent with it)
    /// and is answered once `notify` returns Ok. A failed response is an
    /// error naming criu's errno and message.
    pub fn request(
        &mut self,
        req: &Req,
        mut notify: impl FnMut(&Resp, Option<OwnedFd>) -> Result<()>,
    ) -> Result<Resp> {
        let typ = req.typ.map_or(0, |t| t as u64);
        self.send(req)?;
        loop {
            let (resp, fd) = self.recv()?;
            if !resp.success {
                let mut msg = format!("criu {} failed", ReqType::name(typ));
                if let Some(e) = resp.cr_errno.filter(|e| *e != 0) {
                    msg.push_str(&format!(" ({:?})", Errno::from_raw(e)));
                }
                // criu's message is its log's first error, which may be
                // one it carried on from: then the log tells (with_log).
                let m = resp.cr_errmsg.as_deref().map(str::trim_end);
                if let Some(m) = m.filter(|m| !m.is_empty() && !log::carried_on(m)) {
                    msg.push_str(&format!(": {m}"));
                }
                return Err(Error::invalid(msg));
            }
            if resp.typ == ReqType::Notify as u64 {
                notify(&resp, fd)?;
                self.send(&Req::notify_done())?;
                continue;
            }
            if resp.typ != typ {
                return Err(Error::invalid(format!(
                    "criu answered {} to a {} request",
                    ReqType::name(resp.typ),
                    ReqType::name(typ)
                )));
            }
            return Ok(resp);
        }
    }

    fn sock(&self) -> Result<RawFd> {
        self.sock
            .as_ref()
            .map(|s| s.as_raw_fd())
            .ok_or_else(|| Error::sys("talk to criu", Errno::EBADF))
    }

    fn send(&self, req: &Req) -> Result<()> {
        let buf = req.encode();
        match send(self.sock()?, &buf, MsgFlags::MSG_NOSIGNAL) {
            Ok(n) if n == buf.len() => Ok(()),
            Ok(_) => Err(Error::sys("send to criu", Errno::EMSGSIZE)),
            Err(e) => Err(Error::sys("send to criu (did it exit?)", e)),
        }
    }

    fn recv(&self) -> Result<(Resp, Option<OwnedFd>)> {
        // criu's largest answer is a few hundred bytes; a whole packet
        // that fills the buffer would mean one was cut.
        let mut buf = vec![0u8; 64 * 1024];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([RawFd; 4]);
        let msg = loop {
            match recvmsg::<()>(
                self.sock()?,
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(Errno::EINTR) => continue,
                r => break r.sys("receive from criu")?,
            }
        };
        let mut fd = None;
        for c in msg.cmsgs().sys("read criu's control messages")? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for f in fds {
                    // SAFETY: the kernel just installed these for us.
                    let owned = unsafe { OwnedFd::from_raw_fd(f) };
                    fd.get_or_insert(owned);
                }
            }
        }
        let n = msg.bytes;
        if n == 0 {
            return Err(Error::invalid(
                "criu closed the connection without an answer",
            ));
        }
        if n == buf.len() {
            return Err(Error::invalid("criu's answer is larger than berth reads"));
        }
        let resp = Resp::decode(&buf[..n])
            .map_err(|e| Error::invalid(format!("criu's answer is not a criu_resp: {}", e.0)))?;
        Ok((resp, fd))
    }

    /// Closes the connection and waits for criu, whatever `result` was; a
    /// criu that exited badly after answering is an error too. Pre-dump
    /// is the exception: criu waits for a next request there, and is ended
    /// by the closed connection with a status of its own choosing.
    pub fn finish(mut self, result: Result<Resp>) -> Result<Resp> {
        let Some(mut child) = self.child.take() else {
            return result;
        };
        // criu ends once its side of the connection reads end of file.
        drop(self.sock.take());
        let status = loop {
            match child.wait() {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        let resp = result?;
        let status = status.sys("wait for criu")?;
        if !status.success() && resp.typ != ReqType::PreDump as u64 {
            return Err(Error::invalid(format!(
                "{} exited with {status} after answering",
                self.path.display()
            )));
        }
        Ok(resp)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Sends a pty master to a console socket, named as create names it.
pub fn send_master(socket: &Path, master: &OwnedFd) -> Result<()> {
    let sock = std::os::unix::net::UnixStream::connect(socket)
        .sys_path("connect to the console socket", socket)?;
    crate::init::terminal::send_master(sock.as_raw_fd(), master)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_or_missing_criu_is_named_in_the_error() {
        let c = Criu {
            path: "/opt/criu".into(),
        };
        assert!(c.new_enough((3, 15, 0)).is_ok());
        assert!(c.new_enough((4, 1, 1)).is_ok());
        assert_eq!(
            c.new_enough((3, 14, 9)).unwrap_err().to_string(),
            "/opt/criu is CRIU 3.14.9: berth needs 3.15.0 or later"
        );
        let e = Criu::find(Some(Path::new("/no/such/criu"))).unwrap_err();
        assert!(
            e.to_string()
                .contains("criu not found at /no/such/criu (--criu)"),
            "{e}"
        );
        let e = Criu::find(Some(Path::new("no-such-criu-name"))).unwrap_err();
        assert!(
            e.to_string()
                .contains("no-such-criu-name not found on PATH"),
            "{e}"
        );
    }
}
