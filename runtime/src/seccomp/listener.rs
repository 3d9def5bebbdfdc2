//! SCMP_ACT_NOTIFY: the listener's descriptor goes to the agent at
//! `listenerPath` with the container process state (runtime.md,
//! "Container process state"), in one message carrying the fd.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use serde::Serialize;

use crate::error::{Result, SysResult};
use crate::state::{State, Status, OCI_VERSION};

#[derive(Serialize)]
struct ProcessState<'a> {
    #[serde(rename = "ociVersion")]
    oci_version: &'a str,
    fds: [&'a str; 1],
    pid: i32,
    #[serde(skip_serializing_if = "str::is_empty")]
    metadata: &'a str,
    state: crate::state::OciState<'a>,
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
