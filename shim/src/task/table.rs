//! What the shim records of each container and its processes, and how a
//! request finds them.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::reaper::Exit;
use crate::runtime::Runtime;
use crate::stdio::{ProcessIo, StdioSpec};

use super::Options;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

/// A snapshot of a process for the State RPC.
pub struct ProcessState {
    pub id: String,
    pub exec_id: String,
    pub bundle: PathBuf,
    pub pid: u32,
    pub status: Status,
    pub stdio: StdioSpec,
    pub exit: Option<Exit>,
}

pub(super) struct Process {
    pub(super) pid: u32,
    /// Signals go through the pidfd, so a recycled pid is never hit.
    pub(super) pidfd: Option<OwnedFd>,
    pub(super) status: Status,
    pub(super) exit: Option<Exit>,
    pub(super) stdio: StdioSpec,
    pub(super) io: Option<ProcessIo>,
    /// An exec's OCI process JSON, until it starts.
    pub(super) spec: Option<Vec<u8>>,
}

pub(super) struct Container {
    pub(super) bundle: PathBuf,
    pub(super) runtime: Runtime,
    pub(super) options: Options,
    pub(super) init: Process,
    pub(super) execs: HashMap<String, Process>,
    pub(super) rootfs_mounted: bool,
    /// With its own pid namespace the kernel ends every process when init
    /// exits; without one, the shim must.
    pub(super) own_pid_ns: bool,
    /// The init exited while execs still run: published after the last.
    pub(super) pending_exit: Option<Exit>,
    /// Created from this checkpoint image: Start restores it.
    pub(super) restore_from: Option<PathBuf>,
}

pub(super) fn find<'a>(
    map: &'a mut HashMap<String, Container>,
    id: &str,
) -> Result<&'a mut Container> {
    map.get_mut(id)
        .ok_or_else(|| Error::NotFound(format!("container {id} not found")))
}

pub(super) fn process<'a>(c: &'a Container, id: &str, exec_id: &str) -> Result<&'a Process> {
    if exec_id.is_empty() {
        Ok(&c.init)
    } else {
        c.execs.get(exec_id).ok_or_else(|| not_found(id, exec_id))
    }
}

pub(super) fn not_found(id: &str, exec_id: &str) -> Error {
    Error::NotFound(format!("exec {exec_id} of container {id} not found"))
}

pub(super) fn now_exit() -> Exit {
    Exit {
        status: 0,
        at: SystemTime::now(),
    }
}
