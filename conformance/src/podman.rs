//! A private podman for running containers with the runtime under test.
//!
//! [`Podman::new`] makes a fresh temp dir and writes a `containers.conf`
//! and a `storage.conf` that keep every piece of podman's state in it:
//! graph root and run root (`root/`, `runroot/`), libpod's tmp dir with
//! its locks, events and exit files (`libpod/`; `lock_type = "file"`, so no
//! lock is taken from the machine-wide /dev/shm/libpod_lock), volumes,
//! network configs, hooks, `TMPDIR`, `HOME` and the XDG dirs, and
//! c/image's blob info cache while the image is loaded
//! ([`with_private_var_lib`]). The runtime under test
//! ([`crate::runtime`]) is the default runtime under its file name
//! (`berth`, or `runc` when checking the tests against runc), with
//! JSON errors, cgroupfs, file events, no network (`netns = "none"`) and
//! default ulimits below this machine's hard limits (podman's own default
//! of 1048576 open files and processes cannot be set here). The busybox
//! image from `hack/image` is loaded as [`IMAGE`].
//!
//! Only the runtime keeps its state elsewhere: podman passes it no
//! `--root`, so it uses its default (/run/berth, /run/runc) as it does
//! under any podman. (A `--runtime-flag root=…` would reach `create` but
//! not the `delete` of podman's exit command, which does not carry runtime
//! flags: the container's state and cgroups would be left behind.)
//!
//! Drop removes every container (`podman rm -af -t 0`), kills what still
//! names the dir on its command line (conmon, podman's cleanup commands,
//! a foreground `podman run`) with its descendants (the containers),
//! deletes what the runtime still knows of our containers and their
//! cgroups, unmounts what is mounted below the dir and removes it, also
//! when a test fails. `BERTH_KEEP_PODMAN` keeps the dir for a post-mortem.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::containerd::{
    busybox_image, processes_of, run_with_timeout, spawn_in_pty, unique, unmount_below,
};
pub use crate::containerd::{Background, Pty};
use crate::runtime;

/// The name `hack/image` gives the busybox image.
pub const IMAGE: &str = "docker.io/library/berth-busybox:latest";
/// How long a single podman command may take.
pub const PODMAN_TIMEOUT: Duration = Duration::from_secs(60);
/// The default ulimits of our containers.conf.
pub const DEFAULT_ULIMITS: [&str; 2] = ["nofile=10000:10000", "nproc=10000:10000"];

const PODMAN: &str = "/usr/bin/podman";

/// podman 4.3 wants netavark (or CNI) at hand even when no container has
/// a network; this one answers `--version` and refuses the rest.
const NETAVARK_STUB: &str = r#"#!/bin/sh
if [ "$1" = --version ]; then echo 'netavark 1.4.0 (berth conformance stub)'; exit 0; fi
echo "berth conformance: no container networks here (use --network none)" >&2
exit 1
"#;

/// The runtime under test, as an absolute path without symlinks (the path
/// podman reports for it).
pub fn runtime_path() -> PathBuf {
    let rt = runtime();
    std::fs::canonicalize(&rt).unwrap_or_else(|e| panic!("runtime {}: {e}", rt.display()))
}

/// The runtime's name in our containers.conf: its file name.
pub fn runtime_name() -> String {
    runtime()
        .file_name()
        .expect("runtime has a file name")
        .to_string_lossy()
        .into_owned()
}

/// The runtime's default `--root`, where its state is under podman.
pub fn runtime_state_root() -> PathBuf {
    Path::new("/run").join(runtime_name())
}

/// One private podman; see the module documentation.
/// Live instances: the last removes podman's cgroupfs parents
/// (`libpod_parent` and its `conmon`) and /run/containers/networks, which
/// podman never removes.
static LIVE: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

fn podman_parents() -> Vec<PathBuf> {
    let mut dirs = crate::in_every_hierarchy("libpod_parent/conmon");
    dirs.extend(crate::in_every_hierarchy("libpod_parent"));
    // podman 4.3 makes netavark's run directory there whatever its
    // configuration says; empty once our containers are gone.
    dirs.push("/run/containers/networks".into());
    dirs.push("/run/containers".into());
    dirs
}

pub struct Podman {
    pub dir: PathBuf,
    /// [`Podman::rootless`]: podman (and so the runtime) runs as this user.
    user: Option<&'static crate::TestUser>,
    /// overlay for root; vfs without root (nothing to set up).
    driver: &'static str,
    env: Vec<(&'static str, OsString)>,
    /// Dropped after `drop` has removed this instance's containers.
    _parents: crate::SharedParents,
}

impl Podman {
    /// A private podman with the busybox image loaded.
    pub fn new() -> Podman {
        Self::with_image(Self::empty())
    }

    /// A private rootless podman, run by [`crate::rootless_user`] with its
    /// own XDG_RUNTIME_DIR and HOME in the dir (where the runtime keeps its
    /// state, since podman runs it as root in a user namespace that podman
    /// makes from /etc/subuid), with the busybox image loaded.
    pub fn rootless() -> Podman {
        Self::with_image(Self::empty_as(Some(crate::rootless_user())))
    }

    fn with_image(pm: Podman) -> Podman {
        let tar = busybox_image().to_string_lossy().into_owned();
        let args = ["load", "-q", "-i", &tar];
        let mut load = pm.cmd(&args);
        if pm.user.is_none() {
            with_private_var_lib(&mut load, &pm.dir.join("var-lib"));
        }
        let o = run_with_timeout(&mut load, None, &pm.dir.join("out"), PODMAN_TIMEOUT)
            .unwrap_or_else(|o| panic!("podman load timed out: {}", crate::stderr(&o)));
        assert_ok(&o, &args);
        let images = pm.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
        assert!(
            images.lines().any(|l| l == IMAGE),
            "{IMAGE} not loaded: {images}"
        );
        pm
    }

    /// A private podman with no image.
    pub fn empty() -> Podman {
        Self::empty_as(None)
    }

    fn empty_as(user: Option<&'static crate::TestUser>) -> Podman {
        let driver = if user.is_some() { "vfs" } else { "overlay" };
        let dir = std::env::temp_dir().join(format!("berth-podman-{}", unique()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["tmp", "xdg", "home", "net", "hooks", "helpers", "out"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let d = dir.display();
        let name = runtime_name();
        let path = match user {
            Some(_) => crate::runtime_for_user().to_path_buf(),
            None => runtime_path(),
        };
        let ulimits: Vec<String> = DEFAULT_ULIMITS.iter().map(|u| format!("{u:?}")).collect();
        std::fs::write(
            dir.join("containers.conf"),
            format!(
                r#"[containers]
default_ulimits = [{ulimits}]
netns = "none"

[engine]
runtime = "{name}"
runtime_supports_json = ["crun", "runc", "{name}"]
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
tmp_dir = "{d}/libpod"
static_dir = "{d}/root/libpod"
volume_path = "{d}/volumes"
hooks_dir = ["{d}/hooks"]
# A netavark that only says its version (see NETAVARK_STUB) and no other
# network helper: a container with a network fails rather than set up a
# bridge, firewall rules and ip_forward on the host.
helper_binaries_dir = ["{d}/helpers"]

[engine.runtimes]
{name} = ["{path}"]

[network]
network_backend = "netavark"
network_config_dir = "{d}/net"
cni_plugin_dirs = ["{d}/helpers"]
"#,
                ulimits = ulimits.join(", "),
                path = path.display(),
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("storage.conf"),
            format!(
                r#"[storage]
driver = "{driver}"
graphroot = "{d}/root"
runroot = "{d}/runroot"
"#
            ),
        )
        .unwrap();
        let stub = dir.join("helpers/netavark");
        std::fs::write(&stub, NETAVARK_STUB).unwrap();
        std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        // No registry to search: a missing image fails at once.
        std::fs::write(dir.join("registries.conf"), "").unwrap();
        let env = vec![
            ("CONTAINERS_CONF", dir.join("containers.conf").into()),
            ("CONTAINERS_STORAGE_CONF", dir.join("storage.conf").into()),
            (
                "CONTAINERS_REGISTRIES_CONF",
                dir.join("registries.conf").into(),
            ),
            ("TMPDIR", dir.join("tmp").into()),
            ("HOME", dir.join("home").into()),
            ("XDG_RUNTIME_DIR", dir.join("xdg").into()),
            ("XDG_CONFIG_HOME", dir.join("xdg").into()),
            ("XDG_DATA_HOME", dir.join("xdg").into()),
        ];
        if let Some(u) = user {
            std::fs::set_permissions(
                dir.join("xdg"),
                std::os::unix::fs::PermissionsExt::from_mode(0o700),
            )
            .unwrap();
            let owner = format!("{}:{}", u.uid, u.gid);
            let chown = Command::new("chown")
                .args(["-R", &owner])
                .arg(&dir)
                .status()
                .unwrap();
            assert!(chown.success(), "chown -R {owner} {}", dir.display());
        }
        Podman {
            dir,
            user,
            driver,
            env,
            _parents: crate::SharedParents::lease(&LIVE, podman_parents),
        }
    }

    /// `podman GLOBAL… ARGS…`, not yet run: the global flags repeat what
    /// the config files say (graph and run root, tmp dir, driver, cgroup
    /// manager, events backend).
    pub fn cmd<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new(PODMAN);
        c.arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("runroot"))
            .arg("--tmpdir")
            .arg(self.dir.join("libpod"))
            .args(["--storage-driver", self.driver])
            .args(["--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "file"])
            .args(args)
            .env_remove("CONTAINER_HOST")
            .env_remove("CONTAINER_CONNECTION")
            .env_remove("CONTAINERS_HOOKS_DIR")
            .current_dir(&self.dir);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Some(u) = self.user {
            c.uid(u.uid).gid(u.gid).env("USER", u.name);
        }
        c
    }

    /// Where the runtime keeps the state of our containers: its default
    /// root, or the rootless user's XDG_RUNTIME_DIR.
    pub fn runtime_root(&self) -> PathBuf {
        match self.user {
            Some(_) => self.dir.join("xdg").join(runtime_name()),
            None => runtime_state_root(),
        }
    }

    /// Runs `podman ARGS…` with `input` on stdin; panics after
    /// [`PODMAN_TIMEOUT`] with what it printed.
    pub fn podman_stdin(&self, args: &[&str], input: Option<&[u8]>) -> Output {
        let mut cmd = self.cmd(args);
        run_with_timeout(&mut cmd, input, &self.dir.join("out"), PODMAN_TIMEOUT).unwrap_or_else(
            |o| {
                panic!(
                    "podman {args:?} timed out after {PODMAN_TIMEOUT:?}\nstdout: {}\nstderr: {}",
                    crate::stdout(&o),
                    crate::stderr(&o)
                )
            },
        )
    }

    /// Runs `podman ARGS…` (see [`Podman::cmd`]).
    pub fn podman(&self, args: &[&str]) -> Output {
        self.podman_stdin(args, None)
    }

    /// [`Podman::podman`] that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.podman(args);
        assert_ok(&o, args);
        crate::stdout(&o)
    }

    /// A container name unique in this machine: `NAME-PID-N`.
    pub fn name(&self, name: &str) -> String {
        format!("{name}-{}", unique())
    }

    /// The arguments of `podman run --pull never --network none OPTS…
    /// IMAGE CMD…`.
    pub fn run_args(opts: &[&str], cmd: &[&str]) -> Vec<String> {
        let mut args = vec!["run", "--pull", "never", "--network", "none"];
        args.extend_from_slice(opts);
        args.push(IMAGE);
        args.extend_from_slice(cmd);
        args.into_iter().map(String::from).collect()
    }

    /// `podman run --rm OPTS… IMAGE CMD…` in the foreground.
    pub fn run(&self, opts: &[&str], cmd: &[&str]) -> Output {
        self.run_stdin(opts, cmd, None)
    }

    /// [`Podman::run`] with `input` on stdin (pass `-i` to forward it).
    pub fn run_stdin(&self, opts: &[&str], cmd: &[&str], input: Option<&[u8]>) -> Output {
        let mut all = vec!["--rm"];
        all.extend_from_slice(opts);
        let args = Self::run_args(&all, cmd);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.podman_stdin(&args, input)
    }

    /// [`Podman::run`] that must succeed; returns its stdout.
    pub fn run_ok(&self, opts: &[&str], cmd: &[&str]) -> String {
        let o = self.run(opts, cmd);
        assert_ok(&o, &[&["run"], opts, cmd].concat());
        crate::stdout(&o)
    }

    /// Starts `cmd` detached as container `name` and waits until it runs;
    /// returns its ID.
    pub fn run_detached(&self, name: &str, opts: &[&str], cmd: &[&str]) -> String {
        let mut all = vec!["-d", "--name", name];
        all.extend_from_slice(opts);
        let args = Self::run_args(&all, cmd);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let id = self.ok(&args).trim().to_string();
        assert!(
            self.wait_status(name, "running", Duration::from_secs(20)),
            "{name} is not running but {:?}",
            self.status(name)
        );
        id
    }

    /// `podman inspect --format FORMAT NAME`, trimmed; "" if that fails.
    pub fn inspect(&self, name: &str, format: &str) -> String {
        let o = self.podman(&["inspect", "--type", "container", "--format", format, name]);
        if o.status.success() {
            crate::stdout(&o).trim().to_string()
        } else {
            String::new()
        }
    }

    /// The container's `.State.Status` (running, paused, exited…).
    pub fn status(&self, name: &str) -> String {
        self.inspect(name, "{{.State.Status}}")
    }

    /// The host PID of the container's first process.
    pub fn pid(&self, name: &str) -> u32 {
        let pid = self.inspect(name, "{{.State.Pid}}");
        pid.parse()
            .unwrap_or_else(|_| panic!("no PID for {name}: {pid:?}"))
    }

    /// Polls until the container has `status` or `timeout` passes.
    pub fn wait_status(&self, name: &str, status: &str, timeout: Duration) -> bool {
        crate::poll_until(timeout, || self.status(name) == status)
    }

    /// Runs `podman ARGS…` in the background with its output in a file.
    pub fn background(&self, args: &[&str]) -> Background {
        let out = self.dir.join("out").join(format!("bg-{}.out", unique()));
        let f = File::create(&out).unwrap();
        let child = self
            .cmd(args)
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .expect("spawn podman");
        Background { child, out }
    }

    /// Runs `podman ARGS…` in a new session whose controlling terminal is
    /// a fresh pseudo-terminal of `rows` × `cols` (for `run -it`).
    pub fn pty(&self, args: &[&str], rows: u16, cols: u16) -> Pty {
        spawn_in_pty(self.cmd(args), rows, cols)
    }

    /// The IDs of the containers in our storage (each has a directory
    /// named by its ID), whether podman still knows them or not.
    pub fn container_ids(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.join(format!("root/{}-containers", self.driver)))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect()
    }

    /// Processes of this podman: whatever names our dir on its command
    /// line (podman, conmon, podman's cleanup commands) and all their
    /// descendants (the containers).
    pub fn processes(&self) -> Vec<i32> {
        processes_of(&self.dir)
    }
}

impl Default for Podman {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `cmd` in a mount namespace of its own where `dir` (created here)
/// is mounted over /var/lib. podman 4.3 copies an image (`load`, `pull`)
/// with c/image's blob info cache in /var/lib/containers/cache for root,
/// whatever its graph root; this keeps that cache in our dir. Nothing
/// else under /var/lib is read by `podman load` (strace), and what it
/// mounts there goes with its namespace.
pub fn with_private_var_lib(cmd: &mut Command, dir: &Path) {
    use std::ffi::CString;
    std::fs::create_dir_all(dir).unwrap();
    let source = CString::new(dir.as_os_str().as_bytes()).unwrap();
    // SAFETY: only async-signal-safe calls between fork and exec, on
    // strings made before the fork; the child is single-threaded, so it
    // may unshare its mount namespace.
    unsafe {
        cmd.pre_exec(move || {
            let root = c"/";
            let var_lib = c"/var/lib";
            if libc::unshare(libc::CLONE_NEWNS) < 0
                || libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) < 0
                || libc::mount(
                    source.as_ptr(),
                    var_lib.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Panics with podman's output unless `o` is a success.
pub fn assert_ok(o: &Output, args: &[&str]) {
    assert!(
        o.status.success(),
        "podman {args:?} failed ({})\nstdout: {}\nstderr: {}",
        o.status,
        crate::stdout(o),
        crate::stderr(o)
    );
}

/// The cgroup directories of container `id` that exist: podman's
/// cgroupfs manager puts it in /libpod_parent/libpod-ID, on each v1
/// hierarchy or on v2.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let leaf = Path::new("libpod_parent").join(format!("libpod-{id}"));
    let mut dirs = vec![Path::new("/sys/fs/cgroup").join(&leaf)];
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        dirs.push(h.path().join(&leaf));
    }
    dirs.into_iter().filter(|d| d.is_dir()).collect()
}

/// The host path of file `v1` of `controller` for process `pid` (cgroup
/// v1), or of file `v2` of its v2 cgroup when that controller is not on
/// v1; `None` if neither is there.
pub fn cgroup_file(pid: u32, controller: &str, v1: &str, v2: &str) -> Option<PathBuf> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in cgroups.lines() {
        let mut f = line.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        if controllers.split(',').any(|c| c == controller) {
            let p = PathBuf::from(format!("/sys/fs/cgroup/{controller}{path}/{v1}"));
            return p.exists().then_some(p);
        }
    }
    let path = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
    let p = PathBuf::from(format!("/sys/fs/cgroup{path}/{v2}"));
    p.exists().then_some(p)
}

impl Drop for Podman {
    fn drop(&mut self) {
        let ids = self.container_ids();
        if !ids.is_empty() {
            let mut rm = self.cmd(&["rm", "-af", "-t", "0"]);
            let _ = run_with_timeout(
                &mut rm,
                None,
                &self.dir.join("out"),
                Duration::from_secs(30),
            );
        }
        // conmon outlives podman, and so may a cleanup command or a
        // `podman run` of a test; containers are their descendants.
        for _ in 0..5 {
            let pids = self.processes();
            if pids.is_empty() {
                break;
            }
            for pid in &pids {
                // SAFETY: signalling processes found above.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // What podman could not delete: the runtime's state (in its
        // default root) and the cgroups that its `delete` removes.
        // Rootless podman's pause process, which holds its user namespace:
        // by the pid podman recorded, if that is still catatonit.
        if let Some(pid) = std::fs::read_to_string(self.dir.join("libpod/pause.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "catatonit")
            })
        {
            // SAFETY: signalling the pause process this podman started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        for id in &ids {
            if self.runtime_root().join(id).exists() {
                let mut del = Command::new(runtime());
                del.arg("--root").arg(self.runtime_root());
                del.args(["delete", "--force", id]);
                let _ = run_with_timeout(
                    &mut del,
                    None,
                    &std::env::temp_dir(),
                    Duration::from_secs(15),
                );
            }
            for d in cgroup_dirs(id) {
                let _ = std::fs::remove_dir(d);
            }
        }
        // podman's cgroupfs parents (conmon's and the containers'), which
        // podman never removes: the last test to finish finds them empty.
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let parent = h.path().join("libpod_parent");
            let _ = std::fs::remove_dir(parent.join("conmon"));
            let _ = std::fs::remove_dir(&parent);
        }
        unmount_below(&self.dir);
        if std::env::var_os("BERTH_KEEP_PODMAN").is_some() {
            eprintln!("kept {}", self.dir.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
