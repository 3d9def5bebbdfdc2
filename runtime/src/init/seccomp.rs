//! The container's seccomp filter: compiled by the parent before clone,
//! loaded into the container's processes right before their execve (where
//! init and exec load it, and why the listener of SCMP_ACT_NOTIFY makes
//! init load it during create: init/mod.rs). The listener's descriptor goes
//! to the agent at `listenerPath` with the container process state
//! (runtime.md, "Container process state"), in one message carrying the
//! fd.
//!
//! The filter is for the container's processes, not for berth: after it
//! is on, a process makes no call of berth's but what drops privileges and
//! execve (and, with an agent, the sendmsg of the listener). Without
//! no_new_privs, seccomp(2) takes CAP_SYS_ADMIN: a process whose own
//! capabilities lack it holds it ([`holding`]) from the switch to its user
//! until the filter is on, and then drops it ([`Seccomp::load`]).

use std::io::IoSlice;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use serde::Serialize;

use crate::error::{Error, Result, SysResult};
use crate::linux::capabilities::{Sets, SYS_ADMIN};
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

    /// With an agent, the listener must reach it during create, so init
    /// loads the filter then (init/mod.rs).
    pub fn has_agent(&self) -> bool {
        self.agent.is_some()
    }

    /// Loads the filter; a listener goes to the agent at once. Then only
    /// capset(2), if `held` (see [`holding`]) added to `caps`.
    pub fn load(&self, state: &State, status: Status, held: &Sets, caps: &Sets) -> Result<()> {
        let message = self
            .agent
            .as_ref()
            .map(|(_, metadata)| message(state, status, metadata));
        let listener = crate::linux::seccomp::load(&self.filter)?;
        if let (Some(fd), Some((agent, _)), Some(msg)) = (listener, &self.agent, message) {
            send(agent, &fd, &msg)?;
            // The kernel made it close-on-exec: execve closes it, no close
            // of berth's under the filter.
            let _ = fd.into_raw_fd();
        }
        if held != caps {
            crate::linux::capabilities::set(caps)?;
        }
        Ok(())
    }

    /// What a startContainer hook's process runs last before its execve,
    /// while init itself is not under the filter yet: the filter, and the
    /// capabilities `held` added to `caps` dropped. Hooks run in the
    /// container as its processes do, and runc and crun run them under
    /// the filter too.
    pub fn for_hooks(&self, held: &Sets, caps: &Sets) -> crate::init::hooks::BeforeExec {
        let filter = self.filter.clone();
        let drop = (held != caps).then_some(*caps);
        std::sync::Arc::new(move || {
            crate::linux::seccomp::install(&filter)?;
            if let Some(caps) = &drop {
                crate::linux::capabilities::capset(caps)?;
            }
            Ok(())
        })
    }
}

/// The capabilities a process holds from the switch to its user until the
/// filter is on: its own, and CAP_SYS_ADMIN in the effective and permitted
/// sets when it has neither that nor no_new_privs, without which
/// seccomp(2) refuses a filter. execve would not pass it on anyway (the
/// kernel computes the program's sets from the bounding, inheritable and
/// ambient ones, which stay the container's), but [`Seccomp::load`] drops
/// it first. Init holds it while it waits for `start`: non-dumpable, with
/// more than the container's capabilities, it is out of ptrace's reach for
/// the container's processes but those with CAP_SYS_PTRACE, which could
/// take its host descriptors (the state directory) anyway.
pub fn holding(process: &oci_spec::runtime::Process, caps: &Sets, filter: bool) -> Sets {
    let nnp = process.no_new_privileges().unwrap_or(false);
    if !filter || nnp || caps.effective & SYS_ADMIN != 0 {
        return *caps;
    }
    Sets {
        effective: caps.effective | SYS_ADMIN,
        permitted: caps.permitted | SYS_ADMIN,
        ..*caps
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_sys_admin_is_held_only_for_a_filter_that_needs_it() {
        let process = |nnp: bool| -> oci_spec::runtime::Process {
            serde_json::from_value(serde_json::json!({
                "cwd": "/", "user": {"uid": 0, "gid": 0}, "noNewPrivileges": nnp
            }))
            .unwrap()
        };
        let kill = Sets {
            bounding: 1 << 5,
            effective: 1 << 5,
            permitted: 1 << 5,
            inheritable: 0,
            ambient: 0,
        };
        let held = holding(&process(false), &kill, true);
        assert_eq!(held.effective, kill.effective | SYS_ADMIN);
        assert_eq!(held.permitted, kill.permitted | SYS_ADMIN);
        assert_eq!((held.bounding, held.inheritable), (kill.bounding, 0));
        // no_new_privs, no filter, or CAP_SYS_ADMIN of its own: nothing more.
        assert_eq!(holding(&process(true), &kill, true), kill);
        assert_eq!(holding(&process(false), &kill, false), kill);
        let admin = Sets {
            effective: kill.effective | SYS_ADMIN,
            ..kill
        };
        assert_eq!(holding(&process(false), &admin, true), admin);
    }
}
