//! Processes started through the runtime: a task's init (created, or
//! restored from a checkpoint at its Start) and its execs. The runtime
//! command runs without the tasks' lock, as a launch (`Tasks::launch`):
//! the exits reaped meanwhile that no recorded process claims are kept
//! for it, and once it records its process's pid it claims that one's, if
//! the process has already exited (see `task`).

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::MutexGuard;
use std::time::Duration;

use berth_proc::pidfd;

use crate::error::{Error, Result};
use crate::rootfs;
use crate::runtime::{ChildIo, CreateOpts, ExecOpts, RestoreOpts, Runtime};
use crate::stdio::{LogContext, Owner, ProcessIo, StdioSpec};

use super::table::{find, not_found, Container, Process, Status, Table, Unclaimed};
use super::{Event, Tasks};

/// What a container is created with, decoded from the request and the
/// runtime options.
pub struct CreateRequest {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: Vec<rootfs::Mount>,
    pub stdio: StdioSpec,
    pub runtime: Runtime,
    pub options: Options,
    /// The checkpoint image directory to restore from, if any.
    pub checkpoint: Option<PathBuf>,
}

/// What a process is started with, copied from the table so that the
/// runtime command runs without the lock.
struct Launch {
    bundle: PathBuf,
    runtime: Runtime,
    options: Options,
    stdio: StdioSpec,
    /// An exec's OCI process JSON.
    spec: Option<Vec<u8>>,
}

impl Launch {
    fn of(c: &Container, p: &Process) -> Launch {
        Launch {
            bundle: c.bundle.clone(),
            runtime: c.runtime.clone(),
            options: c.options.clone(),
            stdio: p.stdio.clone(),
            spec: p.spec.clone(),
        }
    }
}

/// A task's init as its create left it: for a checkpoint, no process yet
/// (pid 0, no stdio).
struct NewInit {
    pid: u32,
    pidfd: Option<OwnedFd>,
    io: Option<ProcessIo>,
    own_pid_ns: bool,
}

/// What [`Tasks::spawn_init`] needs of a task besides the runtime call.
struct Io<'a> {
    id: &'a str,
    bundle: &'a Path,
    stdio: &'a StdioSpec,
    options: &'a Options,
}

/// `containerd.runc.v1.Options`, the parts this shim uses.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub binary_name: String,
    pub root: String,
    pub systemd_cgroup: bool,
    pub no_pivot_root: bool,
    pub no_new_keyring: bool,
    pub io_uid: u32,
    pub io_gid: u32,
    pub shim_cgroup: String,
    /// CRIU's path, for checkpoint and restore.
    pub criu_path: String,
    /// CRIU's work directory (logs) when restoring.
    pub criu_work_path: String,
}

impl Tasks {
    /// Runs `run`, a runtime command that makes a process, without the
    /// lock `t`; returns its result with the lock taken again and the
    /// exits that no recorded process claimed meanwhile.
    fn launch<'a, T>(
        &'a self,
        mut t: MutexGuard<'a, Table>,
        run: impl FnOnce() -> T,
    ) -> (T, MutexGuard<'a, Table>, Unclaimed) {
        let launch = t.begin_launch();
        drop(t);
        let made = run();
        let mut t = self.lock();
        let unclaimed = t.end_launch(launch);
        (made, t, unclaimed)
    }

    pub fn create(&self, req: CreateRequest) -> Result<u32> {
        let mut t = self.lock();
        if t.containers.contains_key(&req.id) || t.creating.contains(&req.id) {
            return Err(Error::AlreadyExists(format!(
                "container {} already exists",
                req.id
            )));
        }
        t.creating.insert(req.id.clone());
        let (made, mut t, mut unclaimed) = self.launch(t, || self.make_init(&req));
        t.creating.remove(&req.id);
        let NewInit {
            pid,
            pidfd,
            io,
            own_pid_ns,
        } = made?;
        if pid != 0 {
            self.watch_oom(&req.id, pid);
        }
        self.send(Event::Create {
            id: req.id.clone(),
            bundle: req.bundle.clone(),
            rootfs: req.rootfs.clone(),
            stdio: (
                req.stdio.stdin.clone(),
                req.stdio.stdout.clone(),
                req.stdio.stderr.clone(),
                req.stdio.terminal,
            ),
            pid,
        });
        t.containers.insert(
            req.id.clone(),
            Container {
                bundle: req.bundle,
                runtime: req.runtime,
                options: req.options,
                init: Process {
                    pid,
                    pidfd,
                    status: Status::Created,
                    exit: None,
                    stdio: req.stdio,
                    io,
                    spec: None,
                    starting: false,
                },
                execs: HashMap::new(),
                rootfs_mounted: !req.rootfs.is_empty(),
                own_pid_ns,
                pending_exit: None,
                restore_from: req.checkpoint,
                deleting: false,
            },
        );
        let early = unclaimed.take(pid);
        drop(t);
        if let Some(exit) = early {
            self.process_exited(pid, exit);
        }
        Ok(pid)
    }

    /// The rootfs mounted and the init created. On failure nothing is
    /// left mounted.
    fn make_init(&self, req: &CreateRequest) -> Result<NewInit> {
        let config = read_config(&req.bundle)?;
        let mounted = !req.rootfs.is_empty();
        if mounted {
            rootfs::mount_all(&req.rootfs, &req.bundle.join("rootfs"))?;
        }
        // A restore gets its process (and stdio) at Start.
        let made = match req.checkpoint {
            Some(_) => Ok((0, None, None)),
            None => self
                .create_process(req, &req.runtime)
                .map(|(pid, pidfd, io)| (pid, pidfd, Some(io))),
        };
        match made {
            Ok((pid, pidfd, io)) => Ok(NewInit {
                pid,
                pidfd,
                io,
                own_pid_ns: own_pid_namespace(&config),
            }),
            Err(e) => {
                if mounted {
                    rootfs::unmount(&req.bundle.join("rootfs"));
                }
                Err(e)
            }
        }
    }

    fn watch_oom(&self, id: &str, pid: u32) {
        if let Some(oom) = &self.oom {
            if let Err(e) = oom.watch(id, pid as i32) {
                log::warn!("container {id}: no OOM events: {e}");
            }
        }
    }

    fn create_process(
        &self,
        req: &CreateRequest,
        runtime: &Runtime,
    ) -> Result<(u32, Option<OwnedFd>, ProcessIo)> {
        let io = Io {
            id: &req.id,
            bundle: &req.bundle,
            stdio: &req.stdio,
            options: &req.options,
        };
        self.spawn_init(io, runtime, |pid_file, console_socket, child| {
            let opts = CreateOpts {
                bundle: &req.bundle,
                pid_file,
                console_socket,
                no_pivot: req.options.no_pivot_root,
                no_new_keyring: req.options.no_new_keyring,
            };
            runtime.create(&req.id, &opts, child)
        })
    }

    /// A task's init through the runtime (`create`, or `restore` of a
    /// checkpoint): its stdio prepared, `run` given the pid file, the
    /// console socket and the child's ends, then the console attached and
    /// the pid read. If `run` fails the runtime has cleaned up after
    /// itself; a failure after it deletes the container.
    fn spawn_init(
        &self,
        io: Io,
        runtime: &Runtime,
        run: impl FnOnce(&Path, Option<&Path>, ChildIo) -> Result<()>,
    ) -> Result<(u32, Option<OwnedFd>, ProcessIo)> {
        let owner = Owner {
            uid: io.options.io_uid,
            gid: io.options.io_gid,
        };
        let log = LogContext {
            namespace: &self.namespace,
            id: io.id,
        };
        let (mut pio, child, console) = ProcessIo::prepare(io.stdio, owner, log)?;
        let pid_file = io.bundle.join("init.pid");
        let console_path = console.as_ref().map(|c| c.path());
        if let Err(e) = run(&pid_file, console_path.as_deref(), child) {
            // The copier would otherwise wait on containerd's stdin fifo.
            pio.finish(Duration::ZERO);
            return Err(e);
        }
        let attached = match console {
            Some(c) => pio.attach_console(c),
            None => Ok(()),
        };
        match attached.and_then(|()| read_pid(&pid_file)) {
            Ok(pid) => Ok((pid, pidfd::open(pid as libc::pid_t).ok(), pio)),
            Err(e) => {
                let _ = runtime.delete(io.id, true);
                pio.finish(Duration::ZERO);
                Err(e)
            }
        }
    }

    pub fn start(&self, id: &str, exec_id: &str) -> Result<u32> {
        if exec_id.is_empty() {
            self.start_init(id)
        } else {
            self.start_exec(id, exec_id)
        }
    }

    fn start_init(&self, id: &str) -> Result<u32> {
        let mut t = self.lock();
        let c = find(&mut t.containers, id)?;
        if c.init.status != Status::Created || c.init.starting || c.deleting {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is {:?}, not created",
                c.init.status
            )));
        }
        // Until the outcome is recorded, an exit of the init is held
        // (TaskStart comes first) and Delete refused.
        c.init.starting = true;
        let launch = Launch::of(c, &c.init);
        let mut early = None;
        let mut t = match c.restore_from.clone() {
            Some(image) => {
                let (made, mut t, mut unclaimed) =
                    self.launch(t, || self.restore_process(&launch, id, &image));
                let c = t.containers.get_mut(id).expect("starting: kept");
                c.init.starting = false;
                let (pid, pidfd, io) = made?;
                c.init.pid = pid;
                c.init.pidfd = pidfd;
                c.init.io = Some(io);
                c.restore_from = None;
                self.watch_oom(id, pid);
                early = unclaimed.take(pid);
                t
            }
            None => {
                drop(t);
                let started = launch.runtime.start(id);
                let mut t = self.lock();
                let c = t.containers.get_mut(id).expect("starting: kept");
                c.init.starting = false;
                if let Err(e) = started {
                    // An exit that came meanwhile was held for the outcome.
                    self.publish_init_exit(id, c);
                    self.exited.notify_all();
                    return Err(e);
                }
                t
            }
        };
        let c = t.containers.get_mut(id).expect("starting: kept");
        c.init.status = Status::Running;
        let pid = c.init.pid;
        self.send(Event::Start {
            id: id.to_string(),
            pid,
        });
        // An exit reaped during the start follows its TaskStart.
        self.publish_init_exit(id, c);
        self.exited.notify_all();
        drop(t);
        if let Some(exit) = early {
            self.process_exited(pid, exit);
        }
        Ok(pid)
    }

    fn start_exec(&self, id: &str, exec_id: &str) -> Result<u32> {
        let mut t = self.lock();
        let c = find(&mut t.containers, id)?;
        if c.init.status != Status::Running || c.pending_exit.is_some() {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is not running"
            )));
        }
        let p = c.execs.get(exec_id).ok_or_else(|| not_found(id, exec_id))?;
        if p.status != Status::Created || p.starting {
            return Err(Error::FailedPrecondition(format!(
                "exec {exec_id} of container {id} has already started"
            )));
        }
        let launch = Launch::of(c, p);
        // Until the outcome is recorded, the init's exit is held (the
        // exec's comes first) and Delete refused.
        c.execs.get_mut(exec_id).expect("checked above").starting = true;
        let (made, mut t, mut unclaimed) =
            self.launch(t, || self.exec_process(&launch, id, exec_id));
        // A starting exec keeps its container: the init's exit is held,
        // so the container is not stopped, and Delete is refused.
        let c = t.containers.get_mut(id).expect("starting: kept");
        let p = c.execs.get_mut(exec_id).expect("starting: kept");
        p.starting = false;
        let (pid, pidfd, io) = match made {
            Ok(made) => made,
            Err(e) => {
                self.publish_init_exit(id, c);
                self.exited.notify_all();
                return Err(e);
            }
        };
        p.pid = pid;
        p.pidfd = pidfd;
        p.io = Some(io);
        p.status = Status::Running;
        p.spec = None;
        self.send(Event::ExecStarted {
            id: id.to_string(),
            exec_id: exec_id.to_string(),
            pid,
        });
        // The init exited while the exec started: without a pid namespace
        // its `kill --all` may have come before the exec's process was.
        let kill_rest = (c.pending_exit.is_some() && !c.own_pid_ns).then(|| c.runtime.clone());
        let early = unclaimed.take(pid);
        drop(t);
        if let Some(runtime) = kill_rest {
            if let Err(e) = runtime.kill(id, 9, true) {
                log::warn!("container {id}: kill --all after init exit: {e}");
            }
        }
        if let Some(exit) = early {
            self.process_exited(pid, exit);
        }
        Ok(pid)
    }

    /// `restore --detach` with fresh stdio: the task's own, as containerd
    /// gave it for this create.
    fn restore_process(
        &self,
        l: &Launch,
        id: &str,
        image: &Path,
    ) -> Result<(u32, Option<OwnedFd>, ProcessIo)> {
        // CRIU's restore log stays with the bundle unless asked elsewhere.
        let work = match l.options.criu_work_path.as_str() {
            "" => l.bundle.join("criu-work"),
            path => PathBuf::from(path),
        };
        std::fs::create_dir_all(&work).map_err(Error::io(format!(
            "restore of container {id}: mkdir {}",
            work.display()
        )))?;
        let io = Io {
            id,
            bundle: &l.bundle,
            stdio: &l.stdio,
            options: &l.options,
        };
        self.spawn_init(io, &l.runtime, |pid_file, console_socket, child| {
            let opts = RestoreOpts {
                bundle: &l.bundle,
                image,
                work: &work,
                pid_file,
                console_socket,
                no_pivot: l.options.no_pivot_root,
            };
            l.runtime.restore(id, &opts, child)
        })
    }

    /// `exec --detach` of the exec's process JSON, with its stdio.
    fn exec_process(
        &self,
        l: &Launch,
        id: &str,
        exec_id: &str,
    ) -> Result<(u32, Option<OwnedFd>, ProcessIo)> {
        let owner = Owner {
            uid: l.options.io_uid,
            gid: l.options.io_gid,
        };
        let log = LogContext {
            namespace: &self.namespace,
            id,
        };
        let (mut io, child, console) = ProcessIo::prepare(&l.stdio, owner, log)?;
        let spec_file = l.bundle.join(format!("exec-{exec_id}.json"));
        let pid_file = l.bundle.join(format!("exec-{exec_id}.pid"));
        crate::runtime::write_private(&spec_file, l.spec.as_deref().unwrap_or(b"{}"))
            .map_err(Error::io(format!("write {}", spec_file.display())))?;
        let console_path = console.as_ref().map(|c| c.path());
        let opts = ExecOpts {
            process: &spec_file,
            pid_file: &pid_file,
            console_socket: console_path.as_deref(),
        };
        let ran = l.runtime.exec(id, &opts, child);
        let _ = std::fs::remove_file(&spec_file);
        let pid = ran
            .and_then(|()| match console {
                Some(s) => io.attach_console(s),
                None => Ok(()),
            })
            .and_then(|()| read_pid(&pid_file));
        let _ = std::fs::remove_file(&pid_file);
        match pid {
            Ok(pid) => Ok((pid, pidfd::open(pid as libc::pid_t).ok(), io)),
            Err(e) => {
                io.finish(Duration::ZERO);
                Err(e)
            }
        }
    }

    pub fn exec(&self, id: &str, exec_id: &str, stdio: StdioSpec, spec: Vec<u8>) -> Result<()> {
        let mut t = self.lock();
        let c = find(&mut t.containers, id)?;
        if c.execs.contains_key(exec_id) {
            return Err(Error::AlreadyExists(format!(
                "exec {exec_id} of container {id} already exists"
            )));
        }
        if c.init.status == Status::Stopped || c.pending_exit.is_some() || c.deleting {
            return Err(Error::FailedPrecondition(format!(
                "container {id} has stopped"
            )));
        }
        c.execs.insert(
            exec_id.to_string(),
            Process {
                pid: 0,
                pidfd: None,
                status: Status::Created,
                exit: None,
                stdio,
                io: None,
                spec: Some(spec),
                starting: false,
            },
        );
        self.send(Event::ExecAdded {
            id: id.to_string(),
            exec_id: exec_id.to_string(),
        });
        Ok(())
    }
}

fn read_pid(path: &Path) -> Result<u32> {
    let text =
        std::fs::read_to_string(path).map_err(Error::io(format!("read {}", path.display())))?;
    text.trim().parse().map_err(|_| Error::Runtime {
        command: "pid file".into(),
        message: format!("{}: not a pid: {text:?}", path.display()),
    })
}

fn read_config(bundle: &Path) -> Result<serde_json::Value> {
    let path = bundle.join("config.json");
    let text = std::fs::read(&path).map_err(Error::io(format!("read {}", path.display())))?;
    serde_json::from_slice(&text)
        .map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))
}

/// True when config.json asks for a new pid namespace (not one joined by
/// path).
fn own_pid_namespace(config: &serde_json::Value) -> bool {
    config["linux"]["namespaces"].as_array().is_some_and(|ns| {
        ns.iter().any(|n| {
            n["type"] == "pid"
                && n.get("path")
                    .and_then(|p| p.as_str())
                    .unwrap_or("")
                    .is_empty()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pid_namespace_of_the_config() {
        assert!(own_pid_namespace(
            &json!({"linux": {"namespaces": [{"type": "pid"}]}})
        ));
        assert!(!own_pid_namespace(
            &json!({"linux": {"namespaces": [{"type": "pid", "path": "/proc/1/ns/pid"}]}})
        ));
        assert!(!own_pid_namespace(
            &json!({"linux": {"namespaces": [{"type": "mount"}]}})
        ));
        assert!(!own_pid_namespace(&json!({})));
    }
}
