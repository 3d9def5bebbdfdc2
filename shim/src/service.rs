//! The task API v2 over ttrpc: requests decoded into the task logic's own
//! types and answers encoded back. Nothing here decides anything; a task
//! API v3 would be another file like this one.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use containerd_shim as shim;
use containerd_shim::api::{self, Empty};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::shim::oci::ProcessDetails;
use containerd_shim::protos::types::task::ProcessInfo;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{DeleteResponse, ExitSignal, Flags, TtrpcContext, TtrpcResult};

use crate::error::Error;
use crate::events::{timestamp, Outbox};
use crate::oom::OomWatcher;
use crate::reaper;
use crate::rootfs;
use crate::runtime::Runtime;
use crate::stdio::StdioSpec;
use crate::task::{self, CreateRequest, Status, Tasks};
use crate::{checkpoint, metrics, options};

/// The annotations that put containers in one shim: a Kubernetes pod
/// (CRI's sandbox id) or an explicit group, as containerd's runc shim.
const GROUP_ANNOTATIONS: [&str; 2] = [
    "io.kubernetes.cri.sandbox-id",
    "io.containerd.runc.v2.group",
];

pub struct Shim {
    namespace: String,
    id: String,
    exit: Arc<ExitSignal>,
}

impl shim::Shim for Shim {
    type T = Service;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut shim::Config) -> Self {
        Shim {
            namespace: args.namespace.clone(),
            id: args.id.clone(),
            exit: Arc::new(ExitSignal::default()),
        }
    }

    /// `start`: containerd runs this in the bundle; it starts (or finds)
    /// the long-lived shim serving this container's group and prints only
    /// its address.
    fn start_shim(&mut self, opts: shim::StartOpts) -> shim::Result<String> {
        let config = std::fs::read("config.json")
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .unwrap_or_default();
        let grouping = GROUP_ANNOTATIONS
            .iter()
            .find_map(|k| config["annotations"][k].as_str())
            .unwrap_or(&opts.id)
            .to_string();
        // containerd writes the runtime options on stdin: only shim_cgroup
        // matters here.
        let mut input = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut input);
        let shim_cgroup = Any::parse_from_bytes(&input)
            .ok()
            .and_then(|a| options::decode(Some(&a)).ok())
            .map(|o| o.shim_cgroup)
            .unwrap_or_default();
        let (pid, address) = shim::spawn(opts, &grouping, Vec::new())?;
        if !shim_cgroup.is_empty() {
            if let Err(e) = shim::cgroup::add_task_to_cgroup(&shim_cgroup, pid) {
                log::warn!("shim cgroup {shim_cgroup}: {e}");
            }
        }
        shim::util::write_address(&address)?;
        Ok(address)
    }

    /// `delete`: the clean-up containerd runs when the shim is gone. It
    /// gets only the id, so the runtime and root come from the bundle.
    fn delete_shim(&mut self) -> shim::Result<DeleteResponse> {
        reaper::start(std::sync::mpsc::channel().0);
        let bundle = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let runtime = runtime_for(&bundle, &options::load(&bundle), &self.namespace);
        if let Err(e) = runtime.delete(&self.id, true) {
            log::warn!("clean-up of {}: {e}", self.id);
        }
        rootfs::unmount(&bundle.join("rootfs"));
        let pid = std::fs::read_to_string(bundle.join("init.pid"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        Ok(DeleteResponse {
            pid,
            exit_status: 128 + libc::SIGKILL as u32,
            exited_at: timestamp(SystemTime::now()),
            ..Default::default()
        })
    }

    fn wait(&mut self) {
        self.exit.wait();
    }

    fn create_task_service(&self, publisher: RemotePublisher) -> Service {
        // Events go through a connection of our own (see events::publish).
        drop(publisher);
        let exit = self.exit.clone();
        Service::start(&self.namespace, Box::new(move || exit.signal()))
    }
}

/// The runtime a container is driven with: binary and root from the
/// options, the log in the bundle.
pub fn runtime_for(bundle: &Path, o: &task::Options, namespace: &str) -> Runtime {
    let or = |s: &str, d: String| if s.is_empty() { d } else { s.to_string() };
    Runtime {
        binary: or(&o.binary_name, "berth".into()),
        root: PathBuf::from(or(&o.root, format!("/run/containerd/berth/{namespace}"))),
        systemd_cgroup: o.systemd_cgroup,
        log: bundle.join("log.json"),
        criu: o.criu_path.clone(),
    }
}

pub struct Service {
    tasks: Arc<Tasks>,
    outbox: &'static Outbox,
    shutdown: Box<dyn Fn() + Send + Sync>,
    namespace: String,
}

impl Service {
    /// Starts the threads a serving shim needs (reaper, exits, events, OOM)
    /// and returns the task service; Shutdown calls `shutdown` when the
    /// shim is to exit.
    pub fn start(namespace: &str, shutdown: Box<dyn Fn() + Send + Sync>) -> Service {
        let (exits_tx, exits_rx) = std::sync::mpsc::channel();
        reaper::start(exits_tx);
        let address = std::env::var("TTRPC_ADDRESS").unwrap_or_default();
        let outbox = Outbox::start(address, namespace.to_string());
        let oom = OomWatcher::start(move |id| outbox.send(task::Event::Oom { id: id.into() }))
            .map_err(|e| log::warn!("no OOM events: {e}"))
            .ok();
        let tasks = Arc::new(Tasks::new(
            namespace,
            Box::new(move |e| outbox.send(e)),
            oom,
        ));
        let handler = tasks.clone();
        std::thread::Builder::new()
            .name("exits".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                for (pid, exit) in exits_rx {
                    handler.process_exited(pid as u32, exit);
                }
            })
            .expect("start the exits thread");
        Service {
            tasks,
            outbox,
            shutdown,
            namespace: namespace.to_string(),
        }
    }
}

fn status(s: Status) -> api::Status {
    match s {
        Status::Created => api::Status::CREATED,
        Status::Running => api::Status::RUNNING,
        Status::Paused => api::Status::PAUSED,
        Status::Stopped => api::Status::STOPPED,
    }
}

fn stdio(stdin: &str, stdout: &str, stderr: &str, terminal: bool) -> StdioSpec {
    StdioSpec {
        stdin: stdin.into(),
        stdout: stdout.into(),
        stderr: stderr.into(),
        terminal,
    }
}

impl shim::Task for Service {
    fn create(
        &self,
        _ctx: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> TtrpcResult<api::CreateTaskResponse> {
        let bundle = PathBuf::from(&req.bundle);
        let options = options::decode(req.options.as_ref())?;
        options::save(&bundle, &options)?;
        let pid = self.tasks.create(CreateRequest {
            id: req.id.clone(),
            rootfs: req
                .rootfs
                .iter()
                .map(|m| rootfs::Mount {
                    kind: m.type_.clone(),
                    source: m.source.clone(),
                    options: m.options.clone(),
                })
                .collect(),
            stdio: stdio(&req.stdin, &req.stdout, &req.stderr, req.terminal),
            runtime: runtime_for(&bundle, &options, &self.namespace),
            bundle,
            options,
            // parent_checkpoint needs no flag: an image made on top of a
            // pre-dump links to its parent itself.
            checkpoint: (!req.checkpoint.is_empty()).then(|| PathBuf::from(&req.checkpoint)),
        })?;
        Ok(api::CreateTaskResponse {
            pid,
            ..Default::default()
        })
    }

    fn start(
        &self,
        _ctx: &TtrpcContext,
        req: api::StartRequest,
    ) -> TtrpcResult<api::StartResponse> {
        let pid = self.tasks.start(&req.id, &req.exec_id)?;
        // The shim now idles for the container's lifetime: hand the heap
        // that create and start used (config, command output) back to the
        // kernel rather than keep it resident in every shim. (musl's
        // allocator, in the installed build, gives back freed groups of
        // pages by itself and has no malloc_trim.)
        // SAFETY: malloc_trim only releases free memory of the allocator.
        #[cfg(target_env = "gnu")]
        unsafe {
            libc::malloc_trim(0);
        }
        Ok(api::StartResponse {
            pid,
            ..Default::default()
        })
    }

    fn delete(&self, _ctx: &TtrpcContext, req: api::DeleteRequest) -> TtrpcResult<DeleteResponse> {
        let (pid, exit) = self.tasks.delete(&req.id, &req.exec_id)?;
        Ok(DeleteResponse {
            pid,
            exit_status: exit.status,
            exited_at: timestamp(exit.at),
            ..Default::default()
        })
    }

    fn pids(&self, _ctx: &TtrpcContext, req: api::PidsRequest) -> TtrpcResult<api::PidsResponse> {
        let processes = self
            .tasks
            .pids(&req.id)?
            .into_iter()
            .map(|(pid, exec_id)| {
                let info = exec_id.and_then(|exec_id| {
                    let details = ProcessDetails {
                        exec_id,
                        ..Default::default()
                    };
                    let mut any = Any::new();
                    any.type_url = "containerd.runc.v1.ProcessDetails".into();
                    any.value = details.write_to_bytes().ok()?;
                    Some(any)
                });
                ProcessInfo {
                    pid,
                    info: info.into(),
                    ..Default::default()
                }
            })
            .collect();
        Ok(api::PidsResponse {
            processes,
            ..Default::default()
        })
    }

    fn pause(&self, _ctx: &TtrpcContext, req: api::PauseRequest) -> TtrpcResult<Empty> {
        self.tasks.pause(&req.id)?;
        Ok(Empty::new())
    }

    fn resume(&self, _ctx: &TtrpcContext, req: api::ResumeRequest) -> TtrpcResult<Empty> {
        self.tasks.resume(&req.id)?;
        Ok(Empty::new())
    }

    fn checkpoint(
        &self,
        _ctx: &TtrpcContext,
        req: api::CheckpointTaskRequest,
    ) -> TtrpcResult<Empty> {
        let opts = checkpoint::decode(req.options.as_ref())?;
        // containerd puts the options' image_path in `path` itself.
        let image = if req.path.is_empty() {
            &opts.image_path
        } else {
            &req.path
        };
        if image.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "checkpoint of container {}: no image path",
                req.id
            ))
            .into());
        }
        self.tasks.checkpoint(&req.id, Path::new(image), &opts)?;
        Ok(Empty::new())
    }

    fn kill(&self, _ctx: &TtrpcContext, req: api::KillRequest) -> TtrpcResult<Empty> {
        self.tasks
            .kill(&req.id, &req.exec_id, req.signal, req.all)?;
        Ok(Empty::new())
    }

    fn exec(&self, _ctx: &TtrpcContext, req: api::ExecProcessRequest) -> TtrpcResult<Empty> {
        let spec = req.spec.as_ref().map(|a| a.value.clone()).ok_or_else(|| {
            Error::InvalidArgument(format!("exec {}: no process spec", req.exec_id))
        })?;
        self.tasks.exec(
            &req.id,
            &req.exec_id,
            stdio(&req.stdin, &req.stdout, &req.stderr, req.terminal),
            spec,
        )?;
        Ok(Empty::new())
    }

    fn resize_pty(&self, _ctx: &TtrpcContext, req: api::ResizePtyRequest) -> TtrpcResult<Empty> {
        self.tasks
            .resize(&req.id, &req.exec_id, req.width, req.height)?;
        Ok(Empty::new())
    }

    fn close_io(&self, _ctx: &TtrpcContext, req: api::CloseIORequest) -> TtrpcResult<Empty> {
        if req.stdin {
            self.tasks.close_stdin(&req.id, &req.exec_id)?;
        }
        Ok(Empty::new())
    }

    fn update(&self, _ctx: &TtrpcContext, req: api::UpdateTaskRequest) -> TtrpcResult<Empty> {
        let resources = req
            .resources
            .as_ref()
            .map(|a| a.value.as_slice())
            .unwrap_or(b"{}");
        self.tasks.update(&req.id, resources)?;
        Ok(Empty::new())
    }

    fn wait(&self, _ctx: &TtrpcContext, req: api::WaitRequest) -> TtrpcResult<api::WaitResponse> {
        let exit = self.tasks.wait(&req.id, &req.exec_id)?;
        Ok(api::WaitResponse {
            exit_status: exit.status,
            exited_at: timestamp(exit.at),
            ..Default::default()
        })
    }

    fn stats(
        &self,
        _ctx: &TtrpcContext,
        req: api::StatsRequest,
    ) -> TtrpcResult<api::StatsResponse> {
        let stats = self.tasks.stats(&req.id)?;
        let any = metrics::to_any(&stats, metrics::host_mode()).map_err(|e| Error::Runtime {
            command: "stats".into(),
            message: e,
        })?;
        Ok(api::StatsResponse {
            stats: MessageField::some(any),
            ..Default::default()
        })
    }

    fn connect(
        &self,
        _ctx: &TtrpcContext,
        req: api::ConnectRequest,
    ) -> TtrpcResult<api::ConnectResponse> {
        Ok(api::ConnectResponse {
            shim_pid: std::process::id(),
            task_pid: self.tasks.init_pid(&req.id).unwrap_or(0),
            version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        })
    }

    /// The shim exits once it serves no container (a grouped shim stays
    /// for the others).
    fn shutdown(&self, _ctx: &TtrpcContext, req: api::ShutdownRequest) -> TtrpcResult<Empty> {
        if self.tasks.count() > 0 && !req.now {
            return Ok(Empty::new());
        }
        if req.now {
            self.tasks.kill_all();
        }
        self.outbox.flush(Duration::from_secs(2));
        (self.shutdown)();
        Ok(Empty::new())
    }

    fn state(
        &self,
        _ctx: &TtrpcContext,
        req: api::StateRequest,
    ) -> TtrpcResult<api::StateResponse> {
        let s = self.tasks.state(&req.id, &req.exec_id)?;
        Ok(api::StateResponse {
            id: s.id,
            exec_id: s.exec_id,
            bundle: s.bundle.to_string_lossy().into_owned(),
            pid: s.pid,
            status: status(s.status).into(),
            stdin: s.stdio.stdin,
            stdout: s.stdio.stdout,
            stderr: s.stdio.stderr,
            terminal: s.stdio.terminal,
            exit_status: s.exit.map_or(0, |e| e.status),
            exited_at: s.exit.map_or(MessageField::none(), |e| timestamp(e.at)),
            ..Default::default()
        })
    }
}
