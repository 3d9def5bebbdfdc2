//! The shim's task logic, free of protocol types: containers, their init
//! and exec processes, and the events containerd must see, in order.
//!
//! One mutex guards every container. A request that runs the runtime holds
//! it from before the command until the resulting pid is recorded, and the
//! exit handler takes it too, so an exit is never matched before its pid
//! is known, and a start event always precedes its exit:
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
//! The init's TaskExit waits until every exec of the container has exited,
//! so containerd sees the init exit last.
//!
//! A task created from a checkpoint is restored only by its Start, as
//! containerd's runc shim does: until then it has no process, and the
//! restored process's exit can never precede its TaskStart.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use berth_proc::pidfd;

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::oom::OomWatcher;
use crate::reaper::Exit;
use crate::rootfs;
use crate::runtime::{ChildIo, CreateOpts, ExecOpts, RestoreOpts, Runtime};
use crate::stdio::{LogContext, Owner, ProcessIo, StdioSpec};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

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

struct Process {
    pid: u32,
    /// Signals go through the pidfd, so a recycled pid is never hit.
    pidfd: Option<OwnedFd>,
    status: Status,
    exit: Option<Exit>,
    stdio: StdioSpec,
    io: Option<ProcessIo>,
    /// An exec's OCI process JSON, until it starts.
    spec: Option<Vec<u8>>,
}

struct Container {
    bundle: PathBuf,
    runtime: Runtime,
    options: Options,
    init: Process,
    execs: HashMap<String, Process>,
    rootfs_mounted: bool,
    /// With its own pid namespace the kernel ends every process when init
    /// exits; without one, the shim must.
    own_pid_ns: bool,
    /// The init exited while execs still run: published after the last.
    pending_exit: Option<Exit>,
    /// Created from this checkpoint image: Start restores it.
    restore_from: Option<PathBuf>,
}

pub struct Tasks {
    namespace: String,
    containers: Mutex<HashMap<String, Container>>,
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
            containers: Mutex::default(),
            exited: Condvar::new(),
            sink,
            oom,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Container>> {
        self.containers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, e: Event) {
        (self.sink)(e);
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }

    pub fn create(&self, req: CreateRequest) -> Result<u32> {
        let mut all = self.lock();
        if all.contains_key(&req.id) {
            return Err(Error::AlreadyExists(format!(
                "container {} already exists",
                req.id
            )));
        }
        let config = read_config(&req.bundle)?;
        let runtime = req.runtime.clone();
        let mounted = !req.rootfs.is_empty();
        if mounted {
            rootfs::mount_all(&req.rootfs, &req.bundle.join("rootfs"))?;
        }
        // A restore gets its process (and stdio) at Start.
        let made = match req.checkpoint {
            Some(_) => Ok((0, None, None)),
            None => self
                .create_process(&req, &runtime)
                .map(|(pid, pidfd, io)| (pid, pidfd, Some(io))),
        };
        let (pid, pidfd, io) = match made {
            Ok(p) => p,
            Err(e) => {
                if mounted {
                    rootfs::unmount(&req.bundle.join("rootfs"));
                }
                return Err(e);
            }
        };
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
        all.insert(
            req.id.clone(),
            Container {
                bundle: req.bundle,
                runtime,
                options: req.options,
                init: Process {
                    pid,
                    pidfd,
                    status: Status::Created,
                    exit: None,
                    stdio: req.stdio,
                    io,
                    spec: None,
                },
                execs: HashMap::new(),
                rootfs_mounted: mounted,
                own_pid_ns: own_pid_namespace(&config),
                pending_exit: None,
                restore_from: req.checkpoint,
            },
        );
        Ok(pid)
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
        let mut all = self.lock();
        let c = find(&mut all, id)?;
        if exec_id.is_empty() {
            if c.init.status != Status::Created {
                return Err(Error::FailedPrecondition(format!(
                    "container {id} is {:?}, not created",
                    c.init.status
                )));
            }
            match c.restore_from.clone() {
                Some(image) => {
                    let (pid, pidfd, io) = self.restore_process(c, id, &image)?;
                    c.init.pid = pid;
                    c.init.pidfd = pidfd;
                    c.init.io = Some(io);
                    c.restore_from = None;
                    self.watch_oom(id, pid);
                }
                None => c.runtime.start(id)?,
            }
            c.init.status = Status::Running;
            let pid = c.init.pid;
            self.send(Event::Start {
                id: id.to_string(),
                pid,
            });
            return Ok(pid);
        }
        if c.init.status != Status::Running || c.pending_exit.is_some() {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is not running"
            )));
        }
        let p = c.execs.get(exec_id).ok_or_else(|| not_found(id, exec_id))?;
        if p.status != Status::Created {
            return Err(Error::FailedPrecondition(format!(
                "exec {exec_id} of container {id} has already started"
            )));
        }
        let (pid, pidfd, io) = self.start_exec(c, id, exec_id)?;
        let p = c.execs.get_mut(exec_id).expect("checked above");
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
        Ok(pid)
    }

    /// `restore --detach` with fresh stdio: the task's own, as containerd
    /// gave it for this create.
    fn restore_process(
        &self,
        c: &Container,
        id: &str,
        image: &Path,
    ) -> Result<(u32, Option<OwnedFd>, ProcessIo)> {
        // CRIU's restore log stays with the bundle unless asked elsewhere.
        let work = match c.options.criu_work_path.as_str() {
            "" => c.bundle.join("criu-work"),
            path => PathBuf::from(path),
        };
        std::fs::create_dir_all(&work).map_err(Error::io(format!(
            "restore of container {id}: mkdir {}",
            work.display()
        )))?;
        let io = Io {
            id,
            bundle: &c.bundle,
            stdio: &c.init.stdio,
            options: &c.options,
        };
        self.spawn_init(io, &c.runtime, |pid_file, console_socket, child| {
            let opts = RestoreOpts {
                bundle: &c.bundle,
                image,
                work: &work,
                pid_file,
                console_socket,
                no_pivot: c.options.no_pivot_root,
            };
            c.runtime.restore(id, &opts, child)
        })
    }

    /// Dumps the container with CRIU (see the checkpoint module). The
    /// lock is not held: a dump takes seconds, and the init's exit (the
    /// dump without `--leave-running` ends it) is handled as any other.
    pub fn checkpoint(&self, id: &str, image: &Path, o: &checkpoint::Options) -> Result<()> {
        let (runtime, bundle) = {
            let mut map = self.lock();
            let c = find(&mut map, id)?;
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

    fn start_exec(
        &self,
        c: &Container,
        id: &str,
        exec_id: &str,
    ) -> Result<(u32, Option<OwnedFd>, ProcessIo)> {
        let p = &c.execs[exec_id];
        let owner = Owner {
            uid: c.options.io_uid,
            gid: c.options.io_gid,
        };
        let log = LogContext {
            namespace: &self.namespace,
            id,
        };
        let (mut io, child, console) = ProcessIo::prepare(&p.stdio, owner, log)?;
        let spec_file = c.bundle.join(format!("exec-{exec_id}.json"));
        let pid_file = c.bundle.join(format!("exec-{exec_id}.pid"));
        crate::runtime::write_private(&spec_file, p.spec.as_deref().unwrap_or(b"{}"))
            .map_err(Error::io(format!("write {}", spec_file.display())))?;
        let console_path = console.as_ref().map(|c| c.path());
        let opts = ExecOpts {
            process: &spec_file,
            pid_file: &pid_file,
            console_socket: console_path.as_deref(),
        };
        let ran = c.runtime.exec(id, &opts, child);
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
        let mut all = self.lock();
        let c = find(&mut all, id)?;
        if c.execs.contains_key(exec_id) {
            return Err(Error::AlreadyExists(format!(
                "exec {exec_id} of container {id} already exists"
            )));
        }
        if c.init.status == Status::Stopped || c.pending_exit.is_some() {
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
            },
        );
        self.send(Event::ExecAdded {
            id: id.to_string(),
            exec_id: exec_id.to_string(),
        });
        Ok(())
    }

    pub fn kill(&self, id: &str, exec_id: &str, signal: u32, all: bool) -> Result<()> {
        let mut map = self.lock();
        let c = find(&mut map, id)?;
        if exec_id.is_empty() {
            if c.init.status == Status::Stopped && !all {
                return Err(Error::NotFound(format!(
                    "container {id}: process already finished"
                )));
            }
            return c.runtime.kill(id, signal, all);
        }
        let p = c.execs.get(exec_id).ok_or_else(|| not_found(id, exec_id))?;
        match (&p.pidfd, p.status) {
            (_, Status::Stopped) | (_, Status::Created) => Err(Error::NotFound(format!(
                "exec {exec_id} of container {id}: process not running"
            ))),
            // By number: containerd may send a real-time signal, which nix
            // cannot name. ESRCH (reaped, its exit not yet recorded) stays an
            // error.
            (Some(fd), _) => {
                pidfd::send_signal_number(fd, signal as libc::c_int).map_err(|e| Error::Io {
                    context: format!("pidfd_send_signal to exec {exec_id} of container {id}"),
                    err: e.into(),
                })
            }
            (None, _) => nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p.pid as i32),
                nix::sys::signal::Signal::try_from(signal as i32).ok(),
            )
            .map_err(|e| Error::Io {
                context: format!("kill exec {exec_id} of container {id}"),
                err: e.into(),
            }),
        }
    }

    /// Removes a stopped (or never started) process; for the init, the
    /// container: runtime state, rootfs mounts and all.
    pub fn delete(&self, id: &str, exec_id: &str) -> Result<(u32, Exit)> {
        let mut map = self.lock();
        let c = find(&mut map, id)?;
        if !exec_id.is_empty() {
            let p = c.execs.get(exec_id).ok_or_else(|| not_found(id, exec_id))?;
            if p.status == Status::Running {
                return Err(Error::FailedPrecondition(format!(
                    "exec {exec_id} of container {id} is still running"
                )));
            }
            let mut p = c.execs.remove(exec_id).expect("checked above");
            drop(map);
            if let Some(io) = p.io.take() {
                io.finish(IO_DRAIN);
            }
            return Ok((p.pid, p.exit.unwrap_or_else(now_exit)));
        }
        match c.init.status {
            Status::Running | Status::Paused => {
                return Err(Error::FailedPrecondition(format!(
                    "container {id} is still running"
                )))
            }
            // Never restored: the runtime knows nothing of it.
            Status::Created if c.restore_from.is_some() => {}
            Status::Created => c.runtime.delete(id, true)?,
            Status::Stopped => {
                if let Err(e) = c.runtime.delete(id, false) {
                    // Already gone (say, deleted by hand): nothing to do.
                    if c.runtime.state(id).is_ok() {
                        return Err(e);
                    }
                }
            }
        }
        let mut c = map.remove(id).expect("found above");
        if let Some(oom) = &self.oom {
            oom.forget(id);
        }
        drop(map);
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

    pub fn wait(&self, id: &str, exec_id: &str) -> Result<Exit> {
        let mut map = self.lock();
        loop {
            let c = find(&mut map, id)?;
            let p = process(c, id, exec_id)?;
            if let Some(exit) = p.exit {
                return Ok(exit);
            }
            map = self.exited.wait(map).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub fn state(&self, id: &str, exec_id: &str) -> Result<ProcessState> {
        let mut map = self.lock();
        let c = find(&mut map, id)?;
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
        let mut map = self.lock();
        let c = find(&mut map, id)?;
        let (from, to) = if pause {
            (Status::Running, Status::Paused)
        } else {
            (Status::Paused, Status::Running)
        };
        if c.init.status != from {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is {:?}, not {from:?}",
                c.init.status
            )));
        }
        if pause {
            c.runtime.pause(id)?;
        } else {
            c.runtime.resume(id)?;
        }
        c.init.status = to;
        let id = id.to_string();
        self.send(if pause {
            Event::Paused { id }
        } else {
            Event::Resumed { id }
        });
        Ok(())
    }

    /// Every process of the container, with the exec id of those the shim
    /// started.
    pub fn pids(&self, id: &str) -> Result<Vec<(u32, Option<String>)>> {
        let (runtime, execs) = {
            let mut map = self.lock();
            let c = find(&mut map, id)?;
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
        let mut map = self.lock();
        Ok(find(&mut map, id)?.runtime.clone())
    }

    pub fn resize(&self, id: &str, exec_id: &str, width: u32, height: u32) -> Result<()> {
        let mut map = self.lock();
        let p = process(find(&mut map, id)?, id, exec_id)?;
        match &p.io {
            Some(io) => io.resize(width, height),
            None => Err(Error::FailedPrecondition(format!(
                "process {exec_id:?} of container {id} has not started"
            ))),
        }
    }

    pub fn close_stdin(&self, id: &str, exec_id: &str) -> Result<()> {
        let mut map = self.lock();
        let p = process(find(&mut map, id)?, id, exec_id)?;
        if let Some(io) = &p.io {
            io.close_stdin();
        }
        Ok(())
    }

    pub fn init_pid(&self, id: &str) -> Option<u32> {
        self.lock().get(id).map(|c| c.init.pid)
    }

    /// Called for every reaped process that was not a runtime command.
    pub fn process_exited(&self, pid: u32, exit: Exit) {
        let mut map = self.lock();
        let found = map.iter_mut().find_map(|(id, c)| {
            if c.init.pid == pid && c.init.exit.is_none() && c.pending_exit.is_none() {
                return Some((id.clone(), String::new()));
            }
            c.execs
                .iter()
                .find(|(_, p)| p.pid == pid && p.exit.is_none())
                .map(|(e, _)| (id.clone(), e.clone()))
        });
        let Some((id, exec_id)) = found else {
            return;
        };
        let c = map.get_mut(&id).expect("found above");
        if exec_id.is_empty() {
            c.init.pidfd = None;
            if !c.own_pid_ns {
                // Without its own pid namespace nothing else ends the
                // container's other processes.
                if let Err(e) = c.runtime.kill(&id, 9, true) {
                    log::warn!("container {id}: kill --all after init exit: {e}");
                }
            }
            c.pending_exit = Some(exit);
        } else {
            let p = c.execs.get_mut(&exec_id).expect("found above");
            p.status = Status::Stopped;
            p.exit = Some(exit);
            p.pidfd = None;
            self.send(Event::Exit {
                id: id.clone(),
                exec_id,
                pid,
                exit,
            });
        }
        let running = c.execs.values().any(|p| p.status == Status::Running);
        if !running {
            if let Some(exit) = c.pending_exit.take() {
                c.init.status = Status::Stopped;
                c.init.exit = Some(exit);
                self.send(Event::Exit {
                    id: id.clone(),
                    exec_id: String::new(),
                    pid: c.init.pid,
                    exit,
                });
            }
        }
        self.exited.notify_all();
    }

    /// Ends every container (the shim is being torn down).
    pub fn kill_all(&self) {
        let map = self.lock();
        for (id, c) in map.iter() {
            let _ = c.runtime.kill(id, 9, true);
        }
    }
}

fn find<'a>(map: &'a mut HashMap<String, Container>, id: &str) -> Result<&'a mut Container> {
    map.get_mut(id)
        .ok_or_else(|| Error::NotFound(format!("container {id} not found")))
}

fn process<'a>(c: &'a Container, id: &str, exec_id: &str) -> Result<&'a Process> {
    if exec_id.is_empty() {
        Ok(&c.init)
    } else {
        c.execs.get(exec_id).ok_or_else(|| not_found(id, exec_id))
    }
}

fn not_found(id: &str, exec_id: &str) -> Error {
    Error::NotFound(format!("exec {exec_id} of container {id} not found"))
}

fn now_exit() -> Exit {
    Exit {
        status: 0,
        at: SystemTime::now(),
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
pub fn own_pid_namespace(config: &serde_json::Value) -> bool {
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
