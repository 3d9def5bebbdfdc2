//! The container state (runtime.md, "State"): what berth remembers about a
//! container between commands, and the JSON that `state`, hooks and a
//! seccomp agent read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::linux::cgroups::Cgroups;
use crate::oci::config::Bundle;

/// The runtime-spec version berth implements, as `state` reports it.
pub const OCI_VERSION: &str = "1.2.0";

/// What berth remembers about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    /// Host pid of the container's init process; 0 while creating.
    pub pid: i32,
    /// The process's start time in clock ticks since boot (field 22 of
    /// /proc/PID/stat): with the pid it identifies the process, so a
    /// recycled pid is never taken for the container.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The hooks that run after create (poststart, poststop), kept so
    /// that `start` and `delete` do not depend on the bundle still being
    /// there unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// The container's cgroups and which of their directories berth made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroups: Option<crate::linux::cgroups::Cgroups>,
    /// What `exec` needs of the config, kept so that exec does not depend
    /// on the bundle still being there unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecTemplate>,
}

/// The parts of config.json a process started by `exec` inherits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecTemplate {
    pub process: oci_spec::runtime::Process,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// The namespace types the container has of its own (new or joined).
    pub namespaces: Vec<oci_spec::runtime::LinuxNamespaceType>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// The runtime-spec state object, plus runc's `rootfs`, `created` and
/// `owner`, in runc's field order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState<'a> {
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: &'a str,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: &'a BTreeMap<String, String>,
}

impl State {
    /// The state of a container made from `bundle`, before it has a process.
    pub fn new(bundle: &Bundle, id: &str, cgroups: &Cgroups) -> State {
        let linux = bundle.spec.linux().as_ref().expect("validated");
        let process = bundle.spec.process().as_ref().expect("validated");
        State {
            id: id.to_string(),
            pid: 0,
            start_time: 0,
            bundle: bundle.dir.clone(),
            rootfs: bundle.rootfs.clone(),
            created: crate::timefmt::now_rfc3339_nano(),
            annotations: bundle
                .spec
                .annotations()
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            hooks: bundle.spec.hooks().clone(),
            cgroups: Some(cgroups.clone()),
            exec: Some(ExecTemplate {
                process: process.clone(),
                seccomp: linux.seccomp().clone(),
                namespaces: linux
                    .namespaces()
                    .iter()
                    .flatten()
                    .map(|n| n.typ())
                    .collect(),
            }),
        }
    }

    /// The state as `state` prints it and hooks read it. runc reports pid 0
    /// once the process is gone.
    pub fn oci(&self, status: Status, owner: &'static str) -> OciState<'_> {
        OciState {
            oci_version: OCI_VERSION,
            id: &self.id,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status: status.as_str(),
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner,
            annotations: &self.annotations,
        }
    }

    /// The JSON a hook reads on its stdin.
    pub fn hook_input(&self, status: Status) -> Vec<u8> {
        let mut oci = self.oci(status, "");
        // Hooks see the process's pid even in the states where `state`
        // would not report it (poststop runs after it is gone).
        oci.pid = self.pid;
        serde_json::to_vec(&oci).expect("state serialises")
    }
}
