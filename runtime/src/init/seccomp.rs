//! The container's seccomp filter: compiled by the parent before clone,
//! loaded by init as late as it can be. With SCMP_ACT_NOTIFY, the
//! listener's descriptor goes to the agent at `listenerPath` with the
//! container process state (runtime.md, "Container process state"), in one
//! message carrying the fd.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use serde::Serialize;

use crate::error::{Error, Result, SysResult};
use crate::linux::capabilities::Sets;
use crate::oci::state::{State, Status, OCI_VERSION};

/// linux.seccomp, compiled before clone; with SCMP_ACT_NOTIFY, the agent's
/// socket is connected here too, since init cannot reach host paths.
pub struct Seccomp {
    pub filter: crate::linux::seccomp::Filter,
    pub agent: Option<(UnixStream, String)>,
}

impl Seccomp {
    pub fn prepare(s: &oci_spec::runtime::LinuxSeccomp) -> Result<Seccomp> {
        let filter = crate::linux::seccomp::compile(s)?;
        let agent = if filter.notify {
            let path = s.listener_path().as_ref().ok_or_else(|| {
                Error::invalid("linux.seccomp: SCMP_ACT_NOTIFY needs listenerPath")
            })?;
            let sock = UnixStream::connect(path)
                .sys_path("connect to linux.seccomp.listenerPath", path)?;
            Some((sock, s.listener_metadata().clone().unwrap_or_default()))
        } else {
            None
        };
        Ok(Seccomp { filter, agent })
    }

    /// As late as possible is right before execve; that needs no_new_privs
    /// or CAP_SYS_ADMIN kept in the final effective set. Otherwise the
    /// filter goes on before the capabilities are dropped.
    pub fn load_late(process: &oci_spec::runtime::Process, caps: &Sets) -> bool {
        const CAP_SYS_ADMIN: u64 = 1 << 21;
        process.no_new_privileges().unwrap_or(false) || caps.effective & CAP_SYS_ADMIN != 0
    }

    /// Loads the filter; a listener goes to the agent at once, as only
    /// sendmsg stands between it and the filter's first notification.
    pub fn load(&self, state: &State, status: Status) -> Result<()> {
        let message = self
            .agent
            .as_ref()
            .map(|(_, metadata)| message(state, status, metadata));
        let listener = crate::linux::seccomp::load(&self.filter)?;
        if let (Some(fd), Some((agent, _)), Some(msg)) = (listener, &self.agent, message) {
            send(agent, &fd, &msg)?;
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct ProcessState<'a> {
    #[serde(rename = "ociVersion")]
    oci_version: &'a str,
    fds: [&'a str; 1],
    pid: i32,
    #[serde(skip_serializing_if = "str::is_empty")]
    metadata: &'a str,
    state: crate::oci::state::OciState<'a>,
}

/// The message, made before the filter is loaded so that loading it is
/// followed only by sendmsg.
pub fn message(state: &State, status: Status, metadata: &str) -> Vec<u8> {
    let mut oci = state.oci(status, "");
    oci.pid = state.pid;
    serde_json::to_vec(&ProcessState {
        oci_version: OCI_VERSION,
        fds: ["seccompFd"],
        pid: state.pid,
        metadata,
        state: oci,
    })
    .expect("state serialises")
}

pub fn send(agent: &UnixStream, listener: &OwnedFd, message: &[u8]) -> Result<()> {
    let fds = [listener.as_raw_fd()];
    sendmsg::<()>(
        agent.as_raw_fd(),
        &[IoSlice::new(message)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map(drop)
    .sys("send the seccomp listener to linux.seccomp.listenerPath")
}
