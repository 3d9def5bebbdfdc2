//! A private dockerd for end-to-end tests of berth as a Docker runtime.
//!
//! [`Docker::start`] runs Debian's dockerd 20.10 with everything it keeps
//! under a fresh temp dir D: `--data-root D/data`, `--exec-root D/exec`,
//! `--pidfile`, its socket, its config file (D/daemon.json, which also
//! moves the daemon's key from /etc/docker/key.json to D/key.json) and
//! `TMPDIR`. Without `--containerd`, dockerd starts a containerd of its
//! own with its config, state and sockets in D/exec/containerd and its
//! root in D/data/containerd; the shims' sockets alone go to
//! /run/containerd/s (containerd 1.6 fixes that path). Networking is off
//! (`--bridge=none`, no iptables, no IP forwarding or masquerading, no
//! userland proxy), so nothing touches the host's interfaces or
//! firewall. The containers' cgroups go under a parent of their own
//! (`--cgroup-parent /berth-docker-PID-N`, cgroupfs driver), and their
//! containerd namespace is named alike. berth ([`crate::runtime`]) is
//! registered as the runtime `berth` next to dockerd's default `runc`
//! (Debian's runc 1.1). The containers inherit dockerd's rlimits (no
//! `--default-ulimit`): this machine's hard limits (nofile 20000) fit.
//!
//! The client (`BERTH_DOCKER`, default Debian's /usr/bin/docker 20.10,
//! else `docker` in PATH) talks to it through `DOCKER_HOST` with a
//! private `DOCKER_CONFIG`. The busybox image of `hack/image` is
//! converted to a docker-archive with skopeo (dockerd 20.10 does not
//! load OCI archives) and loaded as [`IMAGE`].
//!
//! Drop removes every container, stops dockerd (SIGTERM, SIGKILL after
//! a deadline), kills whatever process still names D on its command line
//! (containerd, shims) with its descendants, removes the sockets those
//! shims leave in /run/containerd/s, removes the cgroup parent, unmounts
//! what is left below D and removes D, also when a test fails. dockerd
//! creates /run/docker/plugins whatever its flags say; that, and the other
//! directories in [`OUTSIDE`], are removed again if they did not exist
//! before the first dockerd of the process started and are empty.
//! `BERTH_KEEP_DOCKER` keeps D (logs, state) for a post-mortem, and
//! `BERTH_DOCKER_LOG_LEVEL=debug` makes dockerd's log (D/dockerd.log,
//! whose end failure messages show) say more.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::containerd::{
    busybox_image, kill_processes_of, run_with_timeout, spawn_in_pty, unique, unmount_below,
    wait_deadline, Pty,
};
use crate::runtime;

/// The image's name in the private dockerd.
pub const IMAGE: &str = "berth-busybox:latest";
/// How long a single docker command may take.
pub const DOCKER_TIMEOUT: Duration = Duration::from_secs(60);

const DOCKERD: &str = "/usr/sbin/dockerd";

/// Directories outside D that dockerd, its containerd or their shims may
/// create (the deepest first). Only those absent before are removed.
pub const OUTSIDE: &[&str] = &[
    "/run/docker/plugins",
    "/run/docker",
    "/var/lib/docker",
    "/etc/docker",
    "/run/containerd/s",
    "/run/containerd",
    // containerd's "opt" plugin, which dockerd's containerd config
    // leaves at its default.
    "/opt/containerd/bin",
    "/opt/containerd/lib",
    "/opt/containerd",
];

/// The docker client: `BERTH_DOCKER`, else Debian's /usr/bin/docker
/// (the daemon's own version), else `docker` in PATH.
pub fn client() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_DOCKER") {
        return PathBuf::from(p);
    }
    let debian = Path::new("/usr/bin/docker");
    if debian.exists() {
        debian.to_path_buf()
    } else {
        PathBuf::from("docker")
    }
}

/// The runtimes each test checks: `BERTH_DOCKER_RUNTIMES` (comma
/// separated), by default `berth` and dockerd's `runc` as the reference.
pub fn runtimes() -> Vec<String> {
    std::env::var("BERTH_DOCKER_RUNTIMES")
        .unwrap_or_else(|_| "berth,runc".into())
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// True when `rt` is berth itself (not runc, and not runc standing in for
/// berth through `BERTH_RUNTIME`).
pub fn is_berth(rt: &str) -> bool {
    rt == "berth" && !crate::is_runc()
}

/// Which of [`OUTSIDE`] were absent when the first dockerd of this
/// process started.
fn absent_outside() -> &'static Vec<PathBuf> {
    static ABSENT: OnceLock<Vec<PathBuf>> = OnceLock::new();
    ABSENT.get_or_init(|| {
        OUTSIDE
            .iter()
            .map(PathBuf::from)
            .filter(|p| !p.exists())
            .collect()
    })
}

/// One private dockerd; see the module documentation.
pub struct Docker {
    pub dir: PathBuf,
    /// `unix://D/docker.sock`, for `DOCKER_HOST`.
    pub host: String,
    /// The containers' cgroup parent, `/berth-docker-PID-N`.
    pub cgroup_parent: String,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Docker {
    /// Starts dockerd, waits until `docker version` answers and loads
    /// [`IMAGE`].
    pub fn start() -> Docker {
        absent_outside();
        let name = format!("berth-docker-{}", unique());
        let dir = std::env::temp_dir().join(&name);
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["tmp", "config"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let d = dir.display();
        // Not a command line flag in 20.10, but a config key: the daemon's
        // key would otherwise be /etc/docker/key.json.
        std::fs::write(
            dir.join("daemon.json"),
            format!("{{\"deprecated-key-path\": \"{d}/key.json\"}}\n"),
        )
        .unwrap();
        let mut docker = Docker {
            host: format!("unix://{d}/docker.sock"),
            cgroup_parent: format!("/{name}"),
            log: dir.join("dockerd.log"),
            dir,
            child: None,
        };
        docker.spawn(&name);
        docker.load_image();
        docker
    }

    fn spawn(&mut self, name: &str) {
        let log = File::create(&self.log).unwrap();
        let d = self.dir.display().to_string();
        let mut cmd = Command::new(DOCKERD);
        cmd.arg("--config-file")
            .arg(format!("{d}/daemon.json"))
            .arg(format!("--data-root={d}/data"))
            .arg(format!("--exec-root={d}/exec"))
            .arg(format!("--pidfile={d}/docker.pid"))
            .arg(format!("--host={}", self.host))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--bridge=none",
                "--userland-proxy=false",
                "--storage-driver=overlay2",
                "--exec-opt=native.cgroupdriver=cgroupfs",
                "--shutdown-timeout=2",
            ])
            .arg(format!(
                "--log-level={}",
                std::env::var("BERTH_DOCKER_LOG_LEVEL").unwrap_or_else(|_| "info".into())
            ))
            .arg(format!("--cgroup-parent={}", self.cgroup_parent))
            .arg(format!("--containerd-namespace={name}"))
            .arg(format!("--containerd-plugins-namespace={name}-plugins"))
            .arg(format!("--add-runtime=berth={}", runtime().display()))
            .env("TMPDIR", self.dir.join("tmp"))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        crate::dies_with_test(&mut cmd);
        let mut child = cmd.spawn().expect("spawn dockerd");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("dockerd exited ({status}):\n{}", self.log_tail(40));
            }
            let o = run_with_timeout(
                &mut self.cmd(&["version"]),
                None,
                &self.tmp(),
                Duration::from_secs(10),
            );
            if o.is_ok_and(|o| o.status.success()) {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("dockerd did not come up:\n{}", self.log_tail(40));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
    }

    /// The `hack/image` archive as a docker-archive, loaded as [`IMAGE`].
    fn load_image(&self) {
        let archive = self.dir.join("busybox-docker.tar");
        let mut skopeo = Command::new("skopeo");
        skopeo
            .arg("copy")
            .arg("-q")
            .arg(format!("oci-archive:{}", busybox_image().display()))
            .arg(format!("docker-archive:{}:{IMAGE}", archive.display()))
            .env("TMPDIR", self.tmp());
        let o = run_with_timeout(&mut skopeo, None, &self.tmp(), Duration::from_secs(60))
            .unwrap_or_else(|o| panic!("skopeo copy timed out: {}", crate::stderr(&o)));
        assert!(
            o.status.success(),
            "skopeo copy failed: {}",
            crate::stderr(&o)
        );
        self.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
        let _ = std::fs::remove_file(archive);
        let images = self.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
        assert!(
            images.lines().any(|l| l == IMAGE),
            "{IMAGE} not loaded: {images}"
        );
    }

    fn tmp(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// A name unique on this machine: `PREFIX-PID-N`.
    pub fn name(&self, prefix: &str) -> String {
        format!("{prefix}-{}", unique())
    }

    /// `docker ARGS…` against this dockerd, not yet run.
    pub fn cmd<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new(client());
        c.args(args)
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", self.dir.join("config"))
            .env("TMPDIR", self.tmp())
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("DOCKER_API_VERSION")
            .current_dir(&self.dir);
        c
    }

    /// Runs `docker ARGS…` with `input` (or nothing) on stdin; panics
    /// after `timeout`.
    pub fn docker_with(&self, args: &[&str], input: Option<&[u8]>, timeout: Duration) -> Output {
        run_with_timeout(&mut self.cmd(args), input, &self.tmp(), timeout).unwrap_or_else(|o| {
            panic!(
                "docker {args:?} timed out after {timeout:?}\nstdout: {}\nstderr: {}\ndockerd log:\n{}",
                crate::stdout(&o),
                crate::stderr(&o),
                self.log_tail(40)
            )
        })
    }

    /// Runs `docker ARGS…`; panics after [`DOCKER_TIMEOUT`].
    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_with(args, None, DOCKER_TIMEOUT)
    }

    /// [`Docker::docker`] that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        self.assert_ok(&o, args);
        crate::stdout(&o)
    }

    /// Panics with docker's output and the end of dockerd's log unless
    /// `o` is a success.
    pub fn assert_ok(&self, o: &Output, args: &[&str]) {
        assert!(
            o.status.success(),
            "docker {args:?} failed ({})\nstdout: {}\nstderr: {}\ndockerd log:\n{}",
            o.status,
            crate::stdout(o),
            crate::stderr(o),
            self.log_tail(30)
        );
    }

    /// The arguments of `docker run --rm --network none --runtime RT
    /// OPTS… IMAGE CMD…`.
    pub fn run_args(rt: &str, opts: &[&str], cmd: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = ["run", "--rm", "--network", "none", "--runtime", rt]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(opts.iter().map(|s| s.to_string()));
        args.push(IMAGE.into());
        args.extend(cmd.iter().map(|s| s.to_string()));
        args
    }

    /// `docker run --rm` of `cmd` on runtime `rt` (see [`Docker::run_args`]).
    pub fn run(&self, rt: &str, opts: &[&str], cmd: &[&str]) -> Output {
        let args = Self::run_args(rt, opts, cmd);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.docker(&args)
    }

    /// [`Docker::run`] that must succeed; returns its stdout.
    pub fn run_ok(&self, rt: &str, opts: &[&str], cmd: &[&str]) -> String {
        let args = Self::run_args(rt, opts, cmd);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ok(&args)
    }

    /// Starts `cmd` detached on runtime `rt` as a new container (no
    /// `--rm`), waits until it runs and returns its name.
    pub fn run_detached(&self, rt: &str, opts: &[&str], cmd: &[&str]) -> String {
        let name = self.name("d");
        let mut args: Vec<&str> = vec![
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "--runtime",
            rt,
        ];
        args.extend_from_slice(opts);
        args.push(IMAGE);
        args.extend_from_slice(cmd);
        self.ok(&args);
        assert!(
            self.wait_status(&name, "running", Duration::from_secs(20)),
            "{name} is {:?}, not running\n{}",
            self.status(&name),
            self.log_tail(30)
        );
        name
    }

    /// `docker inspect -f FORMAT NAME`, trimmed.
    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "-f", format, name]).trim().to_string()
    }

    /// `State.Status` of the container ("" if docker does not know it).
    pub fn status(&self, name: &str) -> String {
        let o = self.docker(&["inspect", "-f", "{{.State.Status}}", name]);
        crate::stdout(&o).trim().to_string()
    }

    /// Polls until the container has `State.Status` `status` or `timeout`
    /// passes.
    pub fn wait_status(&self, name: &str, status: &str, timeout: Duration) -> bool {
        crate::poll_until(timeout, || self.status(name) == status)
    }

    /// The host PID of the container's init (`State.Pid`).
    pub fn pid(&self, name: &str) -> u32 {
        let pid = self.inspect(name, "{{.State.Pid}}");
        pid.parse()
            .unwrap_or_else(|_| panic!("State.Pid of {name}: {pid:?}"))
    }

    /// Runs `docker ARGS…` in a new session whose controlling terminal is
    /// a fresh pseudo-terminal of `rows` × `cols` (for `docker run -it`).
    pub fn pty(&self, args: &[&str], rows: u16, cols: u16) -> Pty {
        spawn_in_pty(self.cmd(args), rows, cols)
    }

    /// The cgroup directory of `pid` in the v1 hierarchy of `controller`
    /// (e.g. /sys/fs/cgroup/memory/berth-docker-…/ID).
    pub fn cgroup_dir(pid: u32, controller: &str) -> PathBuf {
        let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .unwrap_or_else(|e| panic!("/proc/{pid}/cgroup: {e}"));
        let path = cgroups
            .lines()
            .find_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
                controllers
                    .split(',')
                    .any(|c| c == controller)
                    .then(|| path.to_string())
            })
            .unwrap_or_else(|| panic!("no {controller} cgroup in {cgroups}"));
        Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(path.trim_start_matches('/'))
    }

    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// dockerd's log (its containerd logs into it too); the level is
    /// `BERTH_DOCKER_LOG_LEVEL` (default info).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of the log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Removes every container, with a short timeout and no panics.
    fn remove_containers(&self) {
        let quiet = |args: &[&str]| {
            run_with_timeout(
                &mut self.cmd(args),
                None,
                &self.tmp(),
                Duration::from_secs(30),
            )
            .ok()
        };
        let Some(o) = quiet(&["ps", "-aq"]) else {
            return;
        };
        let ids: Vec<String> = crate::stdout(&o)
            .split_whitespace()
            .map(String::from)
            .collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            quiet(&args);
        }
    }

    /// Stops dockerd (SIGTERM, SIGKILL after 20 s); its containerd goes
    /// with it, the shims may not.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling a child we have not reaped yet.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            if wait_deadline(&mut child, Duration::from_secs(20)).is_none() {
                eprintln!("dockerd ignored SIGTERM; killed");
            }
        }
    }
}

/// Removes a cgroup directory and the ones below it, deepest first (a
/// cgroup directory goes with rmdir once it has no children and tasks).
fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

impl Drop for Docker {
    fn drop(&mut self) {
        if self.running() {
            self.remove_containers();
        }
        self.stop();
        // Shims (and their containers) may outlive dockerd and its
        // containerd; a killed shim leaves its socket in /run/containerd/s.
        kill_processes_of(&self.dir);
        // The cgroup parent on every hierarchy (v1 controllers, the named
        // systemd one, the v2 tree at /sys/fs/cgroup/unified or the root).
        let parent = self.cgroup_parent.trim_start_matches('/');
        let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
        roots.extend(
            std::fs::read_dir("/sys/fs/cgroup")
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path()),
        );
        for root in roots {
            let dir = root.join(parent);
            if dir.is_dir() {
                remove_cgroup_tree(&dir);
            }
        }
        unmount_below(&self.dir);
        if std::env::var_os("BERTH_KEEP_DOCKER").is_some() {
            eprintln!("kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        // Empty directories of dockerd's outside D, if they are new.
        for p in absent_outside() {
            let _ = std::fs::remove_dir(p);
        }
    }
}
