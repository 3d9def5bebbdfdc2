//! containerd's CRI plugin, driven as kubelet drives it (tests/cri.rs).
//!
//! [`Node`] starts a private containerd from `BERTH_CONTAINERD_BIN` (default
//! /usr/bin; `hack/containerd 1.6|1.7|2.1` prints the others) with the CRI
//! plugin configured as a node's: runtime handler `berth`
//! (`io.containerd.berth.v2`, its options file naming the berth under test)
//! and `runc` (`io.containerd.runc.v2`, the system's runc) beside it,
//! kubelet's cgroupfs or systemd cgroup driver (driver.rs), a sandbox image
//! of our own (`hack/image OUT pause`) and busybox imported into `k8s.io`, and everything (root, state, sockets,
//! CNI directories, pod logs) under a fresh temp dir. Its PATH starts with
//! that bin dir, so containerd's own runc shim is the one of its version,
//! then the berth shim's dir. No registry is reachable and no network may
//! be touched: pods use the node's network (`hostNetwork`), or one of
//! their own from conformance/cni/pod-net, which makes nothing outside the
//! pod's namespace ([`Node::pod_config_networked`]).
//!
//! [`Client`] is a CRI v1 client (tonic, over the unix socket) behind a
//! current-thread tokio runtime, so tests read as sequential calls.
//!
//! Drop removes every pod through the CRI, stops containerd, kills what is
//! left of its shims and containers, and removes the pods' cgroups (the
//! harness makes them as kubelet's driver does: `kubepods/burstable/pod<UID>`
//! in every hierarchy, or a slice it stops), the runtimes' state of its containers,
//! mounts below the temp dir and the dir, also when a test failed.
//!
//! `BERTH_CRI_HANDLER` picks the handler under test (default `berth`, or
//! `runc` when `BERTH_TEST_SHIM` is containerd's runc shim; `berth-runc`
//! is berth declared as runc's runtime type with its shim as
//! `runtime_path`, see config.rs).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub use k8s_cri::v1 as api;

use crate::containerd::{
    busybox_image, kill_processes_of, run_with_timeout, shim_is_runc, unmount_below, wait_deadline,
    IMAGE,
};
use crate::{runtime, workspace};

mod client;
mod config;
pub mod driver;
mod pod;
pub mod stream;

pub use client::{Client, CALL_TIMEOUT};
use pod::pod_cgroups;
pub use pod::{container_config, in_pod, pod_namespaces, security_of};

pub const EXITED: i32 = api::ContainerState::ContainerExited as i32;
pub const RUNNING: i32 = api::ContainerState::ContainerRunning as i32;

/// The containerd namespace of the CRI plugin.
pub const NAMESPACE: &str = "k8s.io";
/// The sandbox image `hack/image OUT pause` makes.
pub const PAUSE_IMAGE: &str = "docker.io/library/berth-pause:latest";
/// The busybox image of tests/containerd.rs, for the containers.
pub const BUSYBOX: &str = IMAGE;

/// The directory of the containerd, ctr and containerd-shim-runc-v2 to use.
pub fn containerd_bin() -> PathBuf {
    let bin = std::env::var_os("BERTH_CONTAINERD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin"));
    // An empty or wrong value must not quietly test another containerd.
    assert!(
        bin.join("containerd").is_file(),
        "BERTH_CONTAINERD_BIN={}: no containerd there",
        bin.display()
    );
    bin
}

/// The runtime handler under test.
pub fn handler() -> String {
    std::env::var("BERTH_CRI_HANDLER")
        .unwrap_or_else(|_| if shim_is_runc() { "runc" } else { "berth" }.into())
}

pub fn handler_is_runc() -> bool {
    handler() == "runc"
}

/// containerd's version under `bin` as (major, minor).
pub fn containerd_version(bin: &Path) -> (u32, u32) {
    let out = Command::new(bin.join("containerd"))
        .arg("--version")
        .output()
        .expect("run containerd --version");
    let text = crate::stdout(&out);
    // containerd github.com/containerd/containerd 1.6.20~ds1 …
    let v = text.split_whitespace().nth(2).unwrap_or_default();
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    let mut next = || parts.next().and_then(|p| p.parse().ok());
    match (next(), next()) {
        (Some(a), Some(b)) => (a, b),
        _ => panic!("no version in {text:?}"),
    }
}

/// The busybox image archive: `BERTH_IMAGE_TAR` where there is no
/// checkout to build it in (hack/vm's guest), else built by hack/image.
fn busybox_tar() -> PathBuf {
    std::env::var_os("BERTH_IMAGE_TAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| busybox_image().to_path_buf())
}

/// The sandbox image archive: `BERTH_PAUSE_IMAGE_TAR` (as
/// `BERTH_IMAGE_TAR`), else built once per test process into a temp file
/// that is removed when the process exits.
pub fn pause_image() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_PAUSE_IMAGE_TAR") {
        return PathBuf::from(p);
    }
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    extern "C" fn remove() {
        if let Some(p) = TAR.get() {
            let _ = std::fs::remove_file(p);
        }
    }
    TAR.get_or_init(|| {
        let out = std::env::temp_dir().join(format!("berth-pause-{}.tar", std::process::id()));
        let mut cmd = Command::new("bash");
        cmd.arg(workspace().join("hack/image"))
            .arg(&out)
            .arg("pause");
        let o = run_with_timeout(
            &mut cmd,
            None,
            &std::env::temp_dir(),
            Duration::from_secs(120),
        )
        .unwrap_or_else(|o| panic!("hack/image timed out: {}", crate::stderr(&o)));
        assert!(o.status.success(), "hack/image: {}", crate::stderr(&o));
        // SAFETY: registers a plain function to run at exit.
        unsafe { libc::atexit(remove) };
        out
    })
    .clone()
}

/// Live nodes: the last removes the parents that runtimes and the harness
/// leave (kubepods/burstable, the runtimes' k8s.io roots).
static LIVE: Mutex<usize> = Mutex::new(0);

fn shared_parents() -> Vec<PathBuf> {
    let mut dirs = crate::in_every_hierarchy("kubepods/burstable");
    dirs.extend(crate::in_every_hierarchy("kubepods"));
    for rt in ["berth", "runc"] {
        dirs.push(Path::new("/run/containerd").join(rt).join(NAMESPACE));
    }
    dirs
}

/// One private containerd with the CRI plugin; see the module documentation.
pub struct Node {
    pub dir: PathBuf,
    pub bin: PathBuf,
    pub version: (u32, u32),
    pub log: PathBuf,
    pub cri: Client,
    child: Option<Child>,
    /// Pod UIDs whose cgroups the harness made.
    pods: Mutex<Vec<String>>,
    _parents: crate::SharedParents,
    /// The QoS slices, with the systemd driver (dropped after the pods').
    _qos: Option<driver::QosSlices>,
}

impl Node {
    pub fn start() -> Node {
        let bin = containerd_bin();
        let version = containerd_version(&bin);
        let dir = std::env::temp_dir().join(format!("berth-cri-{}", crate::containerd::unique()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["tmp", "cni/bin", "cni/conf", "logs"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        // The berth handler's options: runtimeoptions' ConfigPath names a
        // file in runc's option spelling (the shim's options.rs).
        let berth_options = dir.join("berth-runtime.toml");
        std::fs::write(
            &berth_options,
            format!(
                "BinaryName = \"{}\"\nSystemdCgroup = {}\n",
                runtime().display(),
                driver::is_systemd()
            ),
        )
        .unwrap();
        std::fs::write(dir.join("config.toml"), config::config(&dir, version)).unwrap();
        config::cni(&dir);
        let parents = crate::SharedParents::lease(&LIVE, shared_parents);
        let qos = driver::is_systemd().then(driver::QosSlices::lease);
        let log = dir.join("containerd.log");
        let child = config::spawn(&bin, &dir, &log);
        let mut child = Some(child);
        let socket = dir.join("containerd.sock");
        // The socket exists from bind(2) on, but takes connections only
        // after listen(2): a connection is the sign.
        let mut connected = None;
        let ready = crate::poll_until(Duration::from_secs(30), || {
            if let Some(Ok(Some(_))) = child.as_mut().map(Child::try_wait) {
                return true;
            }
            connected = socket.exists().then(|| Client::connect(&socket));
            matches!(connected, Some(Ok(_)))
        });
        let cri = match (ready, connected) {
            (true, Some(Ok(c))) => c,
            (_, e) => {
                if let Some(mut c) = child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                kill_processes_of(&dir);
                let _ = std::fs::remove_dir_all(&dir);
                panic!(
                    "containerd did not come up ({:?}):\n{text}",
                    e.map(|r| r.err())
                );
            }
        };
        let node = Node {
            dir,
            bin,
            version,
            log,
            cri,
            child,
            pods: Mutex::new(Vec::new()),
            _parents: parents,
            _qos: qos,
        };
        // The CRI answers once its plugin is loaded.
        let up = crate::poll_until(Duration::from_secs(30), || {
            node.cri
                .rt(|mut s| async move { s.version(api::VersionRequest::default()).await })
                .is_ok()
        });
        assert!(up, "the CRI never answered:\n{}", node.log_tail(60));
        node.import(&pause_image(), PAUSE_IMAGE);
        node.import(&busybox_tar(), BUSYBOX);
        node
    }

    /// `ctr images import` into k8s.io, then waits until the CRI lists it.
    fn import(&self, tar: &Path, name: &str) {
        let mut cmd = self.ctr(&["images", "import", "--all-platforms"]);
        cmd.arg(tar);
        let o = run_with_timeout(&mut cmd, None, &self.dir, Duration::from_secs(60))
            .unwrap_or_else(|o| panic!("ctr import timed out: {}", crate::stderr(&o)));
        assert!(o.status.success(), "ctr import: {}", crate::stderr(&o));
        let seen = crate::poll_until(Duration::from_secs(20), || {
            let spec = api::ImageSpec {
                image: name.into(),
                ..Default::default()
            };
            let r = self.cri.img(|mut s| async move {
                s.image_status(api::ImageStatusRequest {
                    image: Some(spec),
                    verbose: false,
                })
                .await
            });
            r.is_ok_and(|r| r.image.is_some())
        });
        assert!(seen, "the CRI does not see {name}:\n{}", self.log_tail(40));
    }

    /// `ctr -a SOCK -n k8s.io ARGS…` of this containerd's version.
    pub fn ctr(&self, args: &[&str]) -> Command {
        let mut c = Command::new(self.bin.join("ctr"));
        c.arg("-a")
            .arg(self.dir.join("containerd.sock"))
            .arg("-n")
            .arg(NAMESPACE)
            .args(args)
            .env_remove("CONTAINERD_ADDRESS")
            .env_remove("CONTAINERD_NAMESPACE")
            .current_dir(&self.dir);
        c
    }

    /// containerd, its shims, their containers and all their descendants.
    pub fn processes(&self) -> Vec<i32> {
        crate::containerd::processes_of(&self.dir)
    }

    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// RunPodSandbox with the handler under test; returns the pod's id.
    pub fn run_pod(&self, config: &api::PodSandboxConfig) -> String {
        let req = api::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: handler(),
        };
        let r = self
            .cri
            .rt(|mut s| async move { s.run_pod_sandbox(req).await });
        self.ok(r, "RunPodSandbox").pod_sandbox_id
    }

    /// CreateContainer then StartContainer; returns the container's id.
    pub fn start_container(
        &self,
        pod: &str,
        pod_config: &api::PodSandboxConfig,
        config: api::ContainerConfig,
    ) -> String {
        let id = self.create_container(pod, pod_config, config);
        let c = id.clone();
        let r = self.cri.rt(|mut s| async move {
            s.start_container(api::StartContainerRequest { container_id: c })
                .await
        });
        self.ok(r, "StartContainer");
        id
    }

    pub fn create_container(
        &self,
        pod: &str,
        pod_config: &api::PodSandboxConfig,
        config: api::ContainerConfig,
    ) -> String {
        let req = api::CreateContainerRequest {
            pod_sandbox_id: pod.into(),
            config: Some(config),
            sandbox_config: Some(pod_config.clone()),
        };
        let r = self
            .cri
            .rt(|mut s| async move { s.create_container(req).await });
        self.ok(r, "CreateContainer").container_id
    }

    pub fn container_status(&self, id: &str) -> api::ContainerStatus {
        let container_id = id.to_string();
        let r = self.cri.rt(|mut s| async move {
            s.container_status(api::ContainerStatusRequest {
                container_id,
                verbose: false,
            })
            .await
        });
        self.ok(r, "ContainerStatus")
            .status
            .expect("ContainerStatus without a status")
    }

    /// Polls ContainerStatus until the container has exited.
    pub fn wait_exited(&self, id: &str, timeout: Duration) -> api::ContainerStatus {
        let exited = crate::poll_until(timeout, || {
            self.container_status(id).state == api::ContainerState::ContainerExited as i32
        });
        let st = self.container_status(id);
        assert!(exited, "{id} did not exit: {st:?}\n{}", self.log_tail(40));
        st
    }

    pub fn exec_sync(&self, id: &str, cmd: &[&str], timeout: i64) -> api::ExecSyncResponse {
        let r = self.try_exec_sync(id, cmd, timeout);
        self.ok(r, "ExecSync")
    }

    pub fn try_exec_sync(
        &self,
        id: &str,
        cmd: &[&str],
        timeout: i64,
    ) -> Result<api::ExecSyncResponse, tonic::Status> {
        let req = api::ExecSyncRequest {
            container_id: id.into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            timeout,
        };
        self.cri.rt(|mut s| async move { s.exec_sync(req).await })
    }

    /// StopContainer with `timeout` seconds between SIGTERM and SIGKILL.
    pub fn stop_container(&self, id: &str, timeout: i64) {
        let container_id = id.to_string();
        let r = self.cri.rt(|mut s| async move {
            s.stop_container(api::StopContainerRequest {
                container_id,
                timeout,
            })
            .await
        });
        self.ok(r, "StopContainer");
    }

    pub fn remove_container(&self, id: &str) {
        let container_id = id.to_string();
        let r = self.cri.rt(|mut s| async move {
            s.remove_container(api::RemoveContainerRequest { container_id })
                .await
        });
        self.ok(r, "RemoveContainer");
    }

    /// ListContainers of one pod.
    pub fn list_containers(&self, pod: &str) -> Vec<api::Container> {
        let filter = api::ContainerFilter {
            pod_sandbox_id: pod.into(),
            ..Default::default()
        };
        let r = self.cri.rt(|mut s| async move {
            s.list_containers(api::ListContainersRequest {
                filter: Some(filter),
            })
            .await
        });
        self.ok(r, "ListContainers").containers
    }

    /// PodSandboxStatus of `pod`.
    pub fn pod_status(&self, pod: &str, verbose: bool) -> api::PodSandboxStatusResponse {
        let pod_sandbox_id = pod.to_string();
        let r = self.cri.rt(|mut s| async move {
            s.pod_sandbox_status(api::PodSandboxStatusRequest {
                pod_sandbox_id,
                verbose,
            })
            .await
        });
        self.ok(r, "PodSandboxStatus")
    }

    /// A streamed Exec session: the URL the CRI returns for `req`, opened
    /// on containerd's streaming server.
    pub fn exec_session(&self, req: api::ExecRequest) -> stream::Session {
        let r = self.cri.rt(|mut s| async move { s.exec(req).await });
        self.session(&self.ok(r, "Exec").url)
    }

    /// A streamed Attach session, as [`Node::exec_session`].
    pub fn attach_session(&self, req: api::AttachRequest) -> stream::Session {
        let r = self.cri.rt(|mut s| async move { s.attach(req).await });
        self.session(&self.ok(r, "Attach").url)
    }

    fn session(&self, url: &str) -> stream::Session {
        stream::Session::open(url).unwrap_or_else(|e| panic!("{e}\n{}", self.log_tail(30)))
    }

    /// The host PID of a container's init, or of a pod's sandbox with
    /// `pod` (the `pid` of the verbose status' `info`).
    pub fn pid(&self, id: &str, pod: bool) -> i32 {
        let id = id.to_string();
        let info = if pod {
            self.pod_status(&id, true).info
        } else {
            let r = self.cri.rt(|mut s| async move {
                s.container_status(api::ContainerStatusRequest {
                    container_id: id,
                    verbose: true,
                })
                .await
            });
            self.ok(r, "ContainerStatus").info
        };
        let info: serde_json::Value =
            serde_json::from_str(info.get("info").map(String::as_str).unwrap_or("{}"))
                .unwrap_or_default();
        info["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("no pid in the verbose status: {info}")) as i32
    }

    /// StopPodSandbox then RemovePodSandbox.
    pub fn remove_pod(&self, pod: &str) {
        let id = pod.to_string();
        let r = self.cri.rt(|mut s| async move {
            s.stop_pod_sandbox(api::StopPodSandboxRequest { pod_sandbox_id: id })
                .await
        });
        self.ok(r, "StopPodSandbox");
        let id = pod.to_string();
        let r = self.cri.rt(|mut s| async move {
            s.remove_pod_sandbox(api::RemovePodSandboxRequest { pod_sandbox_id: id })
                .await
        });
        self.ok(r, "RemovePodSandbox");
    }

    /// The response, or a panic naming the call with containerd's log.
    pub fn ok<T>(&self, r: Result<T, tonic::Status>, call: &str) -> T {
        r.unwrap_or_else(|e| {
            panic!(
                "{call} ({}): {:?}: {}\ncontainerd log:\n{}",
                handler(),
                e.code(),
                e.message(),
                self.log_tail(40)
            )
        })
    }

    /// The cgroup directory of a pod's container or sandbox (or the
    /// pod's, `id` "") in the v1 hierarchy `controller`, or unified on
    /// cgroup v2; with the systemd driver, the unit's (the pod's slice, the
    /// container's scope in it).
    pub fn cgroup_dir(
        &self,
        config: &api::PodSandboxConfig,
        controller: &str,
        id: &str,
    ) -> PathBuf {
        let parent = &config.linux.as_ref().unwrap().cgroup_parent;
        if driver::is_systemd() {
            let slice = Path::new("/sys/fs/cgroup").join(parent.trim_start_matches('/'));
            return if id.is_empty() {
                slice
            } else {
                slice.join(driver::scope(id))
            };
        }
        let base = Path::new("/sys/fs/cgroup").join(controller);
        let base = if base.is_dir() {
            base
        } else {
            PathBuf::from("/sys/fs/cgroup")
        };
        base.join(parent.trim_start_matches('/')).join(id)
    }

    /// Asserts that `pid` is in the cgroup of container (or sandbox) `id`
    /// of the pod; with the systemd driver, also that the cgroup is the
    /// scope's, an active unit in the pod's slice (what kubelet and
    /// systemd rely on: systemd knows the container's cgroup).
    pub fn assert_placed(&self, config: &api::PodSandboxConfig, id: &str, pid: i32) {
        let dir = self.cgroup_dir(config, "memory", id);
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        assert!(
            procs.lines().any(|l| l.trim() == pid.to_string()),
            "{pid} is not in {}: {procs:?}; its cgroups:\n{}",
            dir.display(),
            std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
        );
        if driver::is_systemd() {
            let uid = &config.metadata.as_ref().unwrap().uid;
            let unit = driver::scope(id);
            let p = driver::unit_props(&unit, &["ActiveState", "Slice", "ControlGroup"]);
            let cgroup = dir.strip_prefix("/sys/fs/cgroup").unwrap();
            assert_eq!(p["ActiveState"], "active", "{unit}: {p:?}");
            assert_eq!(p["Slice"], driver::pod_slice(uid), "{unit}: {p:?}");
            assert_eq!(
                Path::new(&p["ControlGroup"]),
                Path::new("/").join(cgroup),
                "{unit}: {p:?}"
            );
        }
    }

    /// What a removed pod may have left: processes of this containerd
    /// besides itself (shims, containers), runtime state of `ids`, cgroups
    /// below the pod's, mounts naming `ids`, and with the systemd driver
    /// the scope units of `ids`. Empty when all is clean.
    pub fn leftovers(&self, config: &api::PodSandboxConfig, ids: &[&str]) -> Vec<String> {
        let mut left = Vec::new();
        let me = self.child.as_ref().map(|c| c.id() as i32);
        for pid in self.processes() {
            if Some(pid) != me {
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                left.push(format!(
                    "process {pid}: {}",
                    String::from_utf8_lossy(&cmd).replace('\0', " ")
                ));
            }
        }
        for id in ids {
            for rt in ["berth", "runc"] {
                let d = Path::new("/run/containerd")
                    .join(rt)
                    .join(NAMESPACE)
                    .join(id);
                if d.exists() {
                    left.push(format!("state {}", d.display()));
                }
            }
        }
        let uid = &config.metadata.as_ref().unwrap().uid;
        for d in pod_cgroups(uid) {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    left.push(format!("cgroup {}", e.path().display()));
                }
            }
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for l in mounts.lines() {
            if ids.iter().any(|id| l.contains(id)) {
                left.push(format!("mount {l}"));
            }
        }
        // Last, and only once all else is clean: under emulation each
        // systemctl costs, and a caller polls until this is empty.
        if driver::is_systemd() && left.is_empty() {
            for id in ids {
                let unit = driver::scope(id);
                if driver::unit_known(&unit) {
                    left.push(format!(
                        "unit {unit}: {:?}",
                        driver::unit_props(&unit, &["LoadState", "ActiveState", "SubState"])
                    ));
                }
            }
        }
        left
    }

    /// Removes the pod's cgroup as kubelet does once the pod is gone
    /// (rmdir, or stopping its slice), and checks that it went.
    pub fn remove_pod_cgroup(&self, config: &api::PodSandboxConfig) {
        let uid = &config.metadata.as_ref().unwrap().uid;
        if driver::is_systemd() {
            let slice = driver::pod_slice(uid);
            assert!(driver::stop_slice(&slice), "{slice} is still there");
        }
        for d in pod_cgroups(uid) {
            let _ = std::fs::remove_dir(&d);
            assert!(!d.exists(), "{} is left", d.display());
        }
    }

    /// [`Node::leftovers`] once they had a moment to go: a shim exits
    /// after answering its last request.
    pub fn settled_leftovers(&self, config: &api::PodSandboxConfig, ids: &[&str]) -> Vec<String> {
        let mut left = Vec::new();
        crate::poll_until(Duration::from_secs(10), || {
            left = self.leftovers(config, ids);
            left.is_empty()
        });
        left
    }

    /// The shim processes of this node: containerd-shim-* in containerd's
    /// tree (a shim's own helpers are not shims).
    pub fn shims(&self) -> Vec<i32> {
        self.processes()
            .into_iter()
            .filter(|pid| {
                std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| {
                    e.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("containerd-shim"))
                })
            })
            .collect()
    }

    /// Stops and removes every pod (the containers go with them).
    fn remove_everything(&self) {
        let Ok(pods) = self.cri.rt(|mut s| async move {
            s.list_pod_sandbox(api::ListPodSandboxRequest::default())
                .await
        }) else {
            return;
        };
        for p in pods.items {
            let id = p.id.clone();
            let _ = self.cri.rt(|mut s| async move {
                s.stop_pod_sandbox(api::StopPodSandboxRequest { pod_sandbox_id: id })
                    .await
            });
            let id = p.id;
            let _ = self.cri.rt(|mut s| async move {
                s.remove_pod_sandbox(api::RemovePodSandboxRequest { pod_sandbox_id: id })
                    .await
            });
        }
    }

    /// The ids the runtimes know in k8s.io (`ctr containers ls -q`).
    fn container_ids(&self) -> Vec<String> {
        run_with_timeout(
            &mut self.ctr(&["containers", "ls", "-q"]),
            None,
            &self.dir,
            Duration::from_secs(15),
        )
        .map(|o| crate::stdout(&o).lines().map(str::to_string).collect())
        .unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let ids = self.container_ids();
        self.remove_everything();
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling a child we have not reaped yet.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            if wait_deadline(&mut child, Duration::from_secs(10)).is_none() {
                eprintln!("containerd ignored SIGTERM; killed");
            }
        }
        kill_processes_of(&self.dir);
        // A container whose shim was killed is no child of this node's
        // processes any more, and containerd may not have deleted it: its
        // cgroup (named by its id, under the pod's) still finds it.
        let pods: Vec<PathBuf> = self
            .pods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .flat_map(|uid| pod_cgroups(uid))
            .collect();
        let mut ids = ids;
        let mut containers = Vec::new();
        for d in &pods {
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    // A scope's name is cri-containerd-<ID>.scope.
                    let id = name
                        .strip_prefix("cri-containerd-")
                        .and_then(|n| n.strip_suffix(".scope"))
                        .unwrap_or(&name);
                    ids.push(id.to_string());
                    containers.push(e.path());
                }
            }
        }
        let procs = |c: &PathBuf| -> Vec<i32> {
            std::fs::read_to_string(c.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.parse().ok())
                .collect()
        };
        crate::poll_until(Duration::from_secs(5), || {
            let left: Vec<i32> = containers.iter().flat_map(procs).collect();
            for pid in &left {
                // SAFETY: signalling processes in this node's pod cgroups.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
            left.is_empty()
        });
        // systemd removes a slice's cgroups (its scopes' too) as it
        // stops it; what a killed shim left would stay a unit otherwise.
        if driver::is_systemd() {
            for uid in self.pods.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                let slice = driver::pod_slice(uid);
                if !driver::stop_slice(&slice) {
                    eprintln!("{slice} is still there");
                }
            }
        }
        for c in containers {
            let _ = std::fs::remove_dir(c);
        }
        for d in pods {
            let _ = std::fs::remove_dir(d);
        }
        // What killed shims could not delete.
        for id in &ids {
            for rt in ["berth", "runc"] {
                let _ = std::fs::remove_dir_all(
                    Path::new("/run/containerd")
                        .join(rt)
                        .join(NAMESPACE)
                        .join(id),
                );
            }
        }
        unmount_below(&self.dir);
        if std::env::var_os("BERTH_KEEP_CONTAINERD").is_some() {
            eprintln!("kept {}", self.dir.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The namespace link of `kind` of process `pid` ("net:[4026531840]").
pub fn ns(pid: i32, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap_or_else(|e| panic!("ns of {pid}: {e}"))
        .to_string_lossy()
        .into_owned()
}
