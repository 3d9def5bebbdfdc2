//! linux.namespaces: which are new (clone flags) and which are joined
//! (setns on a descriptor opened from `path`).
//!
//! Paths are opened by the parent before clone, so a bad path is an error
//! before any process exists. The pid namespace is special: setns(CLONE_NEWPID)
//! only affects children, so the parent joins it before clone and the init
//! process is born inside it.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::sched::CloneFlags;
use oci_spec::runtime::{Linux, LinuxNamespaceType};

use crate::error::{Error, Result, SysResult};

pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    use LinuxNamespaceType::*;
    match t {
        Mount => CloneFlags::CLONE_NEWNS,
        Cgroup => CloneFlags::CLONE_NEWCGROUP,
        Uts => CloneFlags::CLONE_NEWUTS,
        Ipc => CloneFlags::CLONE_NEWIPC,
        User => CloneFlags::CLONE_NEWUSER,
        Pid => CloneFlags::CLONE_NEWPID,
        Network => CloneFlags::CLONE_NEWNET,
        Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

pub struct Namespaces {
    /// Namespaces to create, as clone flags.
    pub new: CloneFlags,
    /// Namespaces to join, in config order (the pid namespace excluded).
    pub join: Vec<(LinuxNamespaceType, PathBuf, File)>,
    pub join_pid: Option<(PathBuf, File)>,
}

impl Namespaces {
    pub fn from_spec(linux: &Linux) -> Result<Namespaces> {
        let mut ns = Namespaces {
            new: CloneFlags::empty(),
            join: Vec::new(),
            join_pid: None,
        };
        for n in linux.namespaces().iter().flatten() {
            match n.path() {
                None => ns.new |= flag(n.typ()),
                Some(p) => {
                    let f = File::open(p).map_err(|e| {
                        Error::io(
                            &format!("linux.namespaces: open {} namespace", n.typ()),
                            p,
                            e,
                        )
                    })?;
                    if n.typ() == LinuxNamespaceType::Pid {
                        ns.join_pid = Some((p.clone(), f));
                    } else {
                        ns.join.push((n.typ(), p.clone(), f));
                    }
                }
            }
        }
        Ok(ns)
    }

    pub fn has_new(&self, t: LinuxNamespaceType) -> bool {
        self.new.contains(flag(t))
    }

    /// In the parent, before clone.
    pub fn enter_pid_for_children(&self) -> Result<()> {
        if let Some((path, f)) = &self.join_pid {
            nix::sched::setns(f.as_fd(), CloneFlags::CLONE_NEWPID).sys_path("setns pid", path)?;
        }
        Ok(())
    }

    /// In the init process, first thing.
    pub fn join_all(&self) -> Result<()> {
        for (t, path, f) in &self.join {
            nix::sched::setns(f.as_fd(), flag(*t)).sys_path(&format!("setns {t}"), path)?;
        }
        Ok(())
    }
}
