//! What the shim records of each container and its processes, and how a
//! request finds them.

use std::collections::{HashMap, HashSet};
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
    /// Its Start runs the runtime (the lock not held): a second Start, or
    /// a Delete, must wait for the outcome.
    pub(super) starting: bool,
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
    /// Its Delete runs the runtime (the lock not held).
    pub(super) deleting: bool,
}

/// Everything the tasks' lock guards. It is held only to read and update
/// this, never across a runtime command, so one container's slow create
/// or hung exec holds up no other request.
#[derive(Default)]
pub(super) struct Table {
    pub(super) containers: HashMap<String, Container>,
    /// Ids whose Create runs: taken, but not served yet.
    pub(super) creating: HashSet<String>,
    /// For each launch under way (a runtime command making a process whose
    /// pid is read only once it returns), the exits that no recorded
    /// process claimed since it began: its process's may be one.
    launches: HashMap<u64, Vec<(u32, Exit)>>,
    next_launch: u64,
}

impl Table {
    pub(super) fn begin_launch(&mut self) -> u64 {
        self.next_launch += 1;
        self.launches.insert(self.next_launch, Vec::new());
        self.next_launch
    }

    pub(super) fn end_launch(&mut self, launch: u64) -> Unclaimed {
        Unclaimed(self.launches.remove(&launch).unwrap_or_default())
    }

    /// An exit no recorded process claims: kept for the launches under
    /// way, dropped if there are none (an orphan the runtime left).
    pub(super) fn unclaimed(&mut self, pid: u32, exit: Exit) {
        for exits in self.launches.values_mut() {
            exits.push((pid, exit));
        }
    }
}

/// The exits reaped during one launch and claimed by no recorded process.
pub(super) struct Unclaimed(Vec<(u32, Exit)>);

impl Unclaimed {
    /// The exit of `pid`, if it came during the launch.
    pub(super) fn take(&mut self, pid: u32) -> Option<Exit> {
        let at = self.0.iter().rposition(|(p, _)| *p == pid)?;
        Some(self.0.remove(at).1)
    }
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
