//! The shim's task logic, free of protocol types: containers, their init
//! and exec processes, and the events containerd must see, in order.
//!
//! One mutex guards the table of every container, held only to read and
//! update it, never across a runtime command: the containers of a pod
//! share one shim, and one's slow create or hung exec must not hold up
//! the others (nor its own kill, state or exits). What the lock ensured
//! when it was held across commands is kept by what the table records:
//!
//! - an exit reaped before its process's pid is known (a create, restore
//!   or exec runs; the pid comes from the runtime's pid file once it has
//!   returned) is kept for every launch under way (`table::Table`), and
//!   the launch claims it when it records the pid;
//! - an init whose Start runs, or whose execs run or are being started,
//!   keeps its exit pending: TaskStart precedes its TaskExit, and the
//!   init's TaskExit comes after every exec's;
//! - a process being started, or a container being deleted, refuses the
//!   requests that would race that command (a second Start, a Delete).
//!
//! | request               | runtime command            | event             |
//! |-----------------------|----------------------------|-------------------|
//! | create                | `create --pid-file`        | TaskCreate        |
//! | start                 | `start`                    | TaskStart         |
//! | create (checkpoint)   | (none: pid 0)              | TaskCreate        |
//! | start (checkpoint)    | `restore --detach`         | TaskStart         |
//! | checkpoint            | `checkpoint`               | TaskExit if exit  |
//! | exec                  | (none: recorded)           | TaskExecAdded     |
//! | start exec            | `exec --detach --pid-file` | TaskExecStarted   |
//! | (exit)                | `kill --all` if no pid ns  | TaskExit          |
//! | delete                | `delete`                   | TaskDelete (init) |
//! | pause                 | `pause`                    | TaskPaused        |
//! | resume                | `resume`                   | TaskResumed       |
//!
//! A task created from a checkpoint is restored only by its Start, as
//! containerd's runc shim does: until then it has no process, and the
//! restored process's exit can never precede its TaskStart.
//!
//! By responsibility: `launch` starts processes (create, start, exec,
//! restore), `signal` signals them, `exit` matches the reaper's exits to
//! them and publishes those, `table` is what is recorded of each container
//! and process; the other requests (checkpoint, delete, state, pause…) are
//! here.

mod exit;
mod launch;
mod signal;
mod table;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::oom::OomWatcher;
use crate::reaper::Exit;
use crate::rootfs;
use crate::runtime::Runtime;

pub use launch::{CreateRequest, Options};
use table::{find, not_found, now_exit, process, Table};
pub use table::{ProcessState, Status};

/// Everything containerd hears about, in the order it must hear it.
#[derive(Debug, PartialEq)]
pub enum Event {
    Create {
        id: String,
        bundle: PathBuf,
        rootfs: Vec<rootfs::Mount>,
        stdio: (String, String, String, bool),
        pid: u32,
    },
    Start {
        id: String,
        pid: u32,
    },
    ExecAdded {
        id: String,
        exec_id: String,
    },
    ExecStarted {
        id: String,
        exec_id: String,
        pid: u32,
    },
    Exit {
        id: String,
        exec_id: String,
        pid: u32,
        exit: Exit,
    },
    Delete {
        id: String,
        pid: u32,
        exit: Exit,
    },
    Oom {
        id: String,
    },
    Paused {
        id: String,
    },
    Resumed {
        id: String,
    },
}

pub struct Tasks {
    namespace: String,
    table: Mutex<Table>,
    exited: Condvar,
    sink: Box<dyn Fn(Event) + Send + Sync>,
    oom: Option<OomWatcher>,
}

/// How long delete waits for a process's output to drain.
const IO_DRAIN: Duration = Duration::from_secs(5);

impl Tasks {
    /// `sink` receives the events, in order.
    pub fn new(
        namespace: &str,
        sink: Box<dyn Fn(Event) + Send + Sync>,
        oom: Option<OomWatcher>,
    ) -> Tasks {
        Tasks {
            namespace: namespace.to_string(),
            table: Mutex::default(),
            exited: Condvar::new(),
            sink,
            oom,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, e: Event) {
        (self.sink)(e);
    }

    /// The containers served, and those being created: a shim told to
    /// shut down mid-create must stay for it.
    pub fn count(&self) -> usize {
        let t = self.lock();
        t.containers.len() + t.creating.len()
    }

    /// Dumps the container with CRIU (see the checkpoint module). The
    /// lock is not held: a dump takes seconds, and the init's exit (the
    /// dump without `--leave-running` ends it) is handled as any other.
    pub fn checkpoint(&self, id: &str, image: &Path, o: &checkpoint::Options) -> Result<()> {
        let (runtime, bundle) = {
            let mut t = self.lock();
            let c = find(&mut t.containers, id)?;
            if !matches!(c.init.status, Status::Running | Status::Paused)
                || c.pending_exit.is_some()
            {
                return Err(Error::FailedPrecondition(format!(
                    "checkpoint of container {id}: it is {:?}, not running",
                    c.init.status
                )));
            }
            (c.runtime.clone(), c.bundle.clone())
        };
        checkpoint::dump(&runtime, id, &bundle, image, o)
    }

    /// Removes a stopped (or never started) process; for the init, the
    /// container: runtime state, rootfs mounts and all.
    pub fn delete(&self, id: &str, exec_id: &str) -> Result<(u32, Exit)> {
        let mut t = self.lock();
        let c = find(&mut t.containers, id)?;
        if !exec_id.is_empty() {
            let p = c.execs.get(exec_id).ok_or_else(|| not_found(id, exec_id))?;
            if p.status == Status::Running || p.starting {
                return Err(Error::FailedPrecondition(format!(
                    "exec {exec_id} of container {id} is still running"
                )));
            }
            let mut p = c.execs.remove(exec_id).expect("checked above");
            drop(t);
            if let Some(io) = p.io.take() {
                io.finish(IO_DRAIN);
            }
            return Ok((p.pid, p.exit.unwrap_or_else(now_exit)));
        }
        if c.deleting || c.init.starting {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is being deleted or started"
            )));
        }
        // None: never restored, the runtime knows nothing of it.
        let force = match c.init.status {
            Status::Running | Status::Paused => {
                return Err(Error::FailedPrecondition(format!(
                    "container {id} is still running"
                )))
            }
            Status::Created if c.restore_from.is_some() => None,
            Status::Created => Some(true),
            Status::Stopped => Some(false),
        };
        c.deleting = true;
        let runtime = c.runtime.clone();
        drop(t);
        // The runtime's delete removes the cgroup: an OOM kill not yet
        // reported would then read as that removal.
        if let Some(oom) = &self.oom {
            oom.flush(id);
        }
        let deleted = match force {
            None => Ok(()),
            Some(force) => runtime.delete(id, force).or_else(|e| {
                // Already gone (say, deleted by hand): nothing to do.
                if !force && runtime.state(id).is_err() {
                    Ok(())
                } else {
                    Err(e)
                }
            }),
        };
        let mut t = self.lock();
        if let Err(e) = deleted {
            let c = t.containers.get_mut(id).expect("deleting: kept");
            c.deleting = false;
            // An exit that came meanwhile was held for the outcome.
            self.publish_init_exit(id, c);
            self.exited.notify_all();
            return Err(e);
        }
        let mut c = t.containers.remove(id).expect("deleting: kept");
        if let Some(oom) = &self.oom {
            oom.forget(id);
        }
        // A Wait on it now learns that it is gone.
        self.exited.notify_all();
        drop(t);
        let exit = c.init.exit.unwrap_or_else(now_exit);
        let pid = c.init.pid;
        for (_, mut p) in c.execs.drain() {
            if let Some(io) = p.io.take() {
                io.finish(Duration::ZERO);
            }
        }
        if let Some(io) = c.init.io.take() {
            io.finish(IO_DRAIN);
        }
        if c.rootfs_mounted {
            rootfs::unmount(&c.bundle.join("rootfs"));
        }
        self.send(Event::Delete {
            id: id.to_string(),
            pid,
            exit,
        });
        Ok((pid, exit))
    }

    pub fn state(&self, id: &str, exec_id: &str) -> Result<ProcessState> {
        let mut t = self.lock();
        let c = find(&mut t.containers, id)?;
        let bundle = c.bundle.clone();
        let p = process(c, id, exec_id)?;
        Ok(ProcessState {
            id: id.to_string(),
            exec_id: exec_id.to_string(),
            bundle,
            pid: p.pid,
            status: p.status,
            stdio: p.stdio.clone(),
            exit: p.exit,
        })
    }

    pub fn pause(&self, id: &str) -> Result<()> {
        self.freeze(id, true)
    }

    pub fn resume(&self, id: &str) -> Result<()> {
        self.freeze(id, false)
    }

    fn freeze(&self, id: &str, pause: bool) -> Result<()> {
        let (from, to) = if pause {
            (Status::Running, Status::Paused)
        } else {
            (Status::Paused, Status::Running)
        };
        let runtime = {
            let mut t = self.lock();
            let c = find(&mut t.containers, id)?;
            if c.init.status != from {
                return Err(Error::FailedPrecondition(format!(
                    "container {id} is {:?}, not {from:?}",
                    c.init.status
                )));
            }
            c.runtime.clone()
        };
        if pause {
            runtime.pause(id)?;
        } else {
            runtime.resume(id)?;
        }
        let mut t = self.lock();
        // Unless it exited (or went) meanwhile: that is what it is now.
        if let Some(c) = t.containers.get_mut(id).filter(|c| c.init.status == from) {
            c.init.status = to;
            let id = id.to_string();
            self.send(if pause {
                Event::Paused { id }
            } else {
                Event::Resumed { id }
            });
        }
        Ok(())
    }

    /// Every process of the container, with the exec id of those the shim
    /// started.
    pub fn pids(&self, id: &str) -> Result<Vec<(u32, Option<String>)>> {
        let (runtime, execs) = {
            let mut t = self.lock();
            let c = find(&mut t.containers, id)?;
            let execs: HashMap<u32, String> = c
                .execs
                .iter()
                .filter(|(_, p)| p.pid != 0)
                .map(|(k, p)| (p.pid, k.clone()))
                .collect();
            (c.runtime.clone(), execs)
        };
        let pids = runtime.ps(id)?;
        Ok(pids
            .into_iter()
            .map(|pid| (pid, execs.get(&pid).cloned()))
            .collect())
    }

    pub fn update(&self, id: &str, resources_json: &[u8]) -> Result<()> {
        let runtime = self.runtime_of(id)?;
        runtime.update(id, resources_json)
    }

    pub fn stats(&self, id: &str) -> Result<serde_json::Value> {
        let runtime = self.runtime_of(id)?;
        runtime.stats(id)
    }

    fn runtime_of(&self, id: &str) -> Result<Runtime> {
        let mut t = self.lock();
        Ok(find(&mut t.containers, id)?.runtime.clone())
    }

    pub fn resize(&self, id: &str, exec_id: &str, width: u32, height: u32) -> Result<()> {
        let mut t = self.lock();
        let p = process(find(&mut t.containers, id)?, id, exec_id)?;
        match &p.io {
            Some(io) => io.resize(width, height),
            None => Err(Error::FailedPrecondition(format!(
                "process {exec_id:?} of container {id} has not started"
            ))),
        }
    }

    pub fn close_stdin(&self, id: &str, exec_id: &str) -> Result<()> {
        let mut t = self.lock();
        let p = process(find(&mut t.containers, id)?, id, exec_id)?;
        if let Some(io) = &p.io {
            io.close_stdin();
        }
        Ok(())
    }

    pub fn init_pid(&self, id: &str) -> Option<u32> {
        self.lock().containers.get(id).map(|c| c.init.pid)
    }
}
