//! A private containerd for testing the shim through `ctr`.
//!
//! [`Containerd::start`] runs `/usr/bin/containerd` with its own config,
//! root, state and sockets under a fresh temp dir, and with the directories
//! of `containerd-shim-berth-v2` (`BERTH_SHIM_DIR`, default the workspace's
//! target/debug) and of berth ([`crate::runtime`]) first in `PATH`. Its
//! Drop kills and deletes every task and container, stops containerd,
//! kills whatever process still names the temp dir on its command line
//! (shims get containerd's address as `-address`) and their descendants,
//! removes the sockets those shims leave in /run/containerd/s and the
//! cgroups of its containers, unmounts leftovers and removes the
//! directory, also when a test fails. `BERTH_KEEP_CONTAINERD` keeps the
//! directory (config and log) for a post-mortem.
//!
//! `BERTH_TEST_SHIM` names the runtime under test (default
//! `io.containerd.berth.v2`; `io.containerd.runc.v2` checks the tests
//! against containerd's own shim).

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{runtime, workspace};

/// The containerd namespace of every test.
pub const NAMESPACE: &str = "berth-test";
/// The name `hack/image` gives the busybox image.
pub const IMAGE: &str = "docker.io/library/berth-busybox:latest";
/// How long a single `ctr` command may take.
pub const CTR_TIMEOUT: Duration = Duration::from_secs(30);

const CONTAINERD: &str = "/usr/bin/containerd";
const CTR: &str = "/usr/bin/ctr";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn unique() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// The runtime (shim) under test, as `ctr run --runtime` takes it.
pub fn shim() -> String {
    std::env::var("BERTH_TEST_SHIM").unwrap_or_else(|_| "io.containerd.berth.v2".into())
}

/// True when the shim under test is containerd's runc shim.
pub fn shim_is_runc() -> bool {
    shim() == "io.containerd.runc.v2"
}

/// The directory holding `containerd-shim-berth-v2`.
pub fn shim_dir() -> PathBuf {
    std::env::var_os("BERTH_SHIM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/debug"))
}

/// The binary containerd looks for in PATH for a runtime name:
/// `io.containerd.NAME.v2` is `containerd-shim-NAME-v2`.
pub fn shim_binary_name(runtime: &str) -> String {
    let parts: Vec<&str> = runtime.split('.').collect();
    match parts[..] {
        [_, _, name, version] => format!("containerd-shim-{name}-{version}"),
        _ => panic!("not a runtime name: {runtime}"),
    }
}

/// runc's path (Debian puts it in /usr/sbin).
pub fn runc() -> PathBuf {
    ["/usr/sbin/runc", "/usr/bin/runc"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("runc installed")
}

/// Waits for `child` until `timeout`; on timeout kills it and returns
/// `None` (after reaping it).
pub fn wait_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Runs `cmd` with `input` on stdin (or /dev/null) and stdout and stderr
/// into files under `dir` (a pipe could be held open by a container and
/// hang the test). `Err` holds what came out before the timeout killed it.
pub fn run_with_timeout(
    cmd: &mut Command,
    input: Option<&[u8]>,
    dir: &Path,
    timeout: Duration,
) -> Result<Output, Output> {
    run_with_timeout_until(cmd, input, &|| true, dir, timeout)
}

/// [`run_with_timeout`] that closes stdin only after all of `input` is
/// written and `close_when` holds (polled every 50 ms).
pub fn run_with_timeout_until(
    cmd: &mut Command,
    input: Option<&[u8]>,
    close_when: &dyn Fn() -> bool,
    dir: &Path,
    timeout: Duration,
) -> Result<Output, Output> {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let (o, e) = (
        dir.join(format!("cmd{n}.out")),
        dir.join(format!("cmd{n}.err")),
    );
    cmd.stdout(File::create(&o).expect("create output file"))
        .stderr(File::create(&e).expect("create output file"))
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    // A writer of its own: a full pipe must not block the deadline. It
    // holds stdin open until told to close it (or the sender goes).
    let (close, closed) = std::sync::mpsc::channel::<()>();
    let writer = child.stdin.take().map(|mut stdin| {
        let data = input.unwrap_or_default().to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
            let _ = closed.recv();
        })
    });
    let mut close = Some(close);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => {
                if close.is_some() && close_when() {
                    close = None;
                }
                std::thread::sleep(Duration::from_millis(if close.is_some() { 50 } else { 10 }));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    drop(close);
    if let Some(w) = writer {
        let _ = w.join();
    }
    let stdout = std::fs::read(&o).unwrap_or_default();
    let stderr = std::fs::read(&e).unwrap_or_default();
    let _ = std::fs::remove_file(&o);
    let _ = std::fs::remove_file(&e);
    match status {
        Some(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
        None => Err(Output {
            status: ExitStatus::default(),
            stdout,
            stderr,
        }),
    }
}

/// The busybox image archive, built once per test process by `hack/image`
/// into a temp file that is removed when the process exits.
pub fn busybox_image() -> &'static Path {
    static IMAGE_TAR: OnceLock<PathBuf> = OnceLock::new();
    extern "C" fn remove_image() {
        if let Some(p) = IMAGE_TAR.get() {
            let _ = std::fs::remove_file(p);
        }
    }
    IMAGE_TAR.get_or_init(|| {
        let out = std::env::temp_dir().join(format!("berth-busybox-{}.tar", std::process::id()));
        let mut cmd = Command::new("bash");
        cmd.arg(workspace().join("hack/image")).arg(&out);
        let result = run_with_timeout(
            &mut cmd,
            None,
            &std::env::temp_dir(),
            Duration::from_secs(120),
        );
        let o = result.unwrap_or_else(|o| panic!("hack/image timed out: {}", crate::stderr(&o)));
        assert!(
            o.status.success(),
            "hack/image failed: {}",
            crate::stderr(&o)
        );
        // SAFETY: registers a plain function to run at exit.
        unsafe { libc::atexit(remove_image) };
        out
    })
}

/// A process of ours running in the background (`ctr events`, a `ctr run`
/// in a terminal); killed and reaped on drop.
pub struct Background {
    pub child: Child,
    pub out: PathBuf,
}

impl Background {
    /// What it printed so far.
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Polls until its output contains `needle` or `timeout` passes.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.text().contains(needle) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `ctr` command with a pseudo-terminal as its controlling terminal
/// and stdio; killed and reaped on drop.
pub struct Pty {
    pub master: File,
    pub child: Child,
}

impl Pty {
    /// What the terminal shows until `marker` appears, the other side is
    /// gone, or `timeout` passes.
    pub fn read_until(&mut self, marker: &str, timeout: Duration) -> String {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let deadline = Instant::now() + timeout;
        let mut text = String::new();
        let mut buf = [0u8; 4096];
        while !text.contains(marker) && Instant::now() < deadline {
            let mut pfd = libc::pollfd {
                fd: self.master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd, valid for the call.
            let n = unsafe { libc::poll(&mut pfd, 1, 100) };
            if n <= 0 {
                continue;
            }
            match self.master.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        text
    }

    pub fn write(&mut self, data: &[u8]) {
        self.master.write_all(data).expect("write to the pty");
    }

    /// Waits for ctr to exit; `None` if it had to be killed.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_deadline(&mut self.child, timeout)
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One private containerd; see the module documentation.
/// Live instances: the last removes the namespace's parent cgroups, which
/// runtimes leave as runc does, and the runtimes' empty roots for it (see
/// `SharedParents`).
static LIVE: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

fn namespace_parents() -> Vec<PathBuf> {
    let mut dirs = crate::in_every_hierarchy(NAMESPACE);
    // The runtimes' roots for the namespace (the shims' default --root).
    for runtime in ["berth", "runc"] {
        dirs.push(Path::new("/run/containerd").join(runtime).join(NAMESPACE));
    }
    dirs
}

pub struct Containerd {
    pub dir: PathBuf,
    pub address: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
    ids: std::sync::Mutex<Vec<String>>,
    /// Dropped after `drop` has deleted this instance's containers.
    _parents: crate::SharedParents,
}

impl Containerd {
    pub fn start() -> Containerd {
        Self::start_aliased(false)
    }

    /// A containerd whose `io.containerd.runc.v2` is the shim under test:
    /// a `containerd-shim-runc-v2` symlink to it comes first in its PATH.
    /// ctr 1.6 sends runc's options (`--runc-binary`, `--runc-root`) only
    /// to a runtime of that name and refuses `--runc-binary` for others.
    pub fn start_with_shim_as_runc() -> Containerd {
        Self::start_aliased(true)
    }

    fn start_aliased(alias: bool) -> Containerd {
        let dir = std::env::temp_dir().join(format!("berth-containerd-{}", unique()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        std::fs::create_dir_all(dir.join("fifo")).unwrap();
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        if alias && !shim_is_runc() {
            std::os::unix::fs::symlink(
                shim_dir().join(shim_binary_name(&shim())),
                dir.join("bin")
                    .join(shim_binary_name("io.containerd.runc.v2")),
            )
            .unwrap();
        }
        let address = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        let d = dir.display();
        // Plugins that need what a test machine lacks (the CRI wants CNI,
        // the others their filesystems or a configured pool) stay off; the
        // opt plugin would otherwise create /opt/containerd.
        std::fs::write(
            &config,
            format!(
                r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  level = "debug"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#
            ),
        )
        .unwrap();
        let mut cd = Containerd {
            log: dir.join("containerd.log"),
            dir,
            address,
            config,
            child: None,
            ids: Default::default(),
            _parents: crate::SharedParents::lease(&LIVE, namespace_parents),
        };
        cd.spawn();
        cd
    }

    /// `PATH` for containerd and so for its shims.
    fn path_env(&self) -> std::ffi::OsString {
        let mut dirs = vec![self.dir.join("bin"), shim_dir()];
        if let Some(parent) = runtime().parent() {
            dirs.push(parent.to_path_buf());
        }
        if let Some(p) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&p));
        }
        std::env::join_paths(dirs).unwrap()
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(CONTAINERD);
        cmd.arg("--config")
            .arg(&self.config)
            .env("PATH", self.path_env())
            .env("TMPDIR", self.dir.join("tmp"))
            // containerd makes checkpoint directories there, rather than in
            // TMPDIR, and leaves a restore's behind.
            .env_remove("XDG_RUNTIME_DIR")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        crate::dies_with_test(&mut cmd);
        let mut child = cmd.spawn().expect("spawn containerd");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("containerd exited ({status}):\n{}", self.log_text());
            }
            if self.address.exists() {
                let mut v = Command::new(CTR);
                v.arg("-a").arg(&self.address).arg("version");
                if let Ok(o) = run_with_timeout(&mut v, None, &self.dir, Duration::from_secs(10)) {
                    if o.status.success() {
                        break;
                    }
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("containerd did not come up:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
    }

    /// Stops containerd (SIGTERM, SIGKILL after 10 s), leaving the shims.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling a child we have not reaped yet.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            if wait_deadline(&mut child, Duration::from_secs(10)).is_none() {
                eprintln!("containerd ignored SIGTERM; killed");
            }
        }
    }

    /// Stops containerd and starts it again with the same config.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// containerd's log (debug level; shims log into it too).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of the log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// A container ID unique in this machine: `NAME-PID-N`.
    pub fn id(&self, name: &str) -> String {
        let id = format!("{name}-{}", unique());
        self.ids.lock().unwrap().push(id.clone());
        id
    }

    /// The directory for ctr's FIFOs (`--fifo-dir`), so none are left in
    /// /run/containerd/fifo.
    pub fn fifo_dir(&self) -> String {
        self.dir.join("fifo").to_string_lossy().into_owned()
    }

    /// `ctr -a SOCK -n berth-test ARGS…`, not yet run.
    pub fn ctr_cmd<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new(CTR);
        c.arg("-a")
            .arg(&self.address)
            .arg("-n")
            .arg(NAMESPACE)
            .args(args)
            .env_remove("CONTAINERD_ADDRESS")
            .env_remove("CONTAINERD_NAMESPACE")
            .env_remove("CONTAINERD_SNAPSHOTTER")
            .current_dir(&self.dir);
        c
    }

    fn try_ctr(
        &self,
        args: &[&str],
        input: Option<&[u8]>,
        close_when: &dyn Fn() -> bool,
        timeout: Duration,
    ) -> Output {
        let mut cmd = self.ctr_cmd(args);
        run_with_timeout_until(&mut cmd, input, close_when, &self.dir, timeout).unwrap_or_else(|o| {
            panic!(
                "ctr {args:?} timed out after {timeout:?}\nstdout: {}\nstderr: {}\ncontainerd log:\n{}",
                crate::stdout(&o),
                crate::stderr(&o),
                self.log_tail(40)
            )
        })
    }

    /// Runs `ctr ARGS…` (see [`Containerd::ctr_cmd`]); panics after
    /// [`CTR_TIMEOUT`].
    pub fn ctr(&self, args: &[&str]) -> Output {
        self.try_ctr(args, None, &|| true, CTR_TIMEOUT)
    }

    /// [`Containerd::ctr`] with `input` on its stdin, closed once the task
    /// `id` is RUNNING: ctr 1.6 forwards the end of its stdin to the task
    /// (CloseIO) only when that comes after the task was created, so an
    /// early EOF would leave the task waiting for input forever.
    pub fn ctr_stdin(&self, args: &[&str], input: &[u8], id: &str) -> Output {
        let running = || self.task_status(id) == "RUNNING";
        self.try_ctr(args, Some(input), &running, CTR_TIMEOUT)
    }

    /// [`Containerd::ctr`] that must succeed; returns its stdout.
    pub fn ctr_ok(&self, args: &[&str]) -> String {
        let o = self.ctr(args);
        self.assert_ok(&o, args);
        crate::stdout(&o)
    }

    /// Panics with ctr's output and the end of containerd's log unless
    /// `o` is a success.
    pub fn assert_ok(&self, o: &Output, args: &[&str]) {
        assert!(
            o.status.success(),
            "ctr {args:?} failed ({})\nstdout: {}\nstderr: {}\ncontainerd log:\n{}",
            o.status,
            crate::stdout(o),
            crate::stderr(o),
            self.log_tail(40)
        );
    }

    /// `ctr run --runtime SHIM --fifo-dir … OPTS… IMAGE ID CMD…`.
    pub fn run_args(&self, opts: &[&str], id: &str, cmd: &[&str]) -> Vec<String> {
        self.run_args_with(&shim(), opts, id, cmd)
    }

    /// [`Containerd::run_args`] with another runtime than the one under test.
    pub fn run_args_with(
        &self,
        runtime: &str,
        opts: &[&str],
        id: &str,
        cmd: &[&str],
    ) -> Vec<String> {
        let mut args: Vec<String> = vec!["run".into(), "--runtime".into(), runtime.into()];
        args.push("--fifo-dir".into());
        args.push(self.fifo_dir());
        args.extend(opts.iter().map(|s| s.to_string()));
        args.push(IMAGE.into());
        args.push(id.into());
        args.extend(cmd.iter().map(|s| s.to_string()));
        args
    }

    /// `ctr run` (see [`Containerd::run_args`]).
    pub fn run(&self, opts: &[&str], id: &str, cmd: &[&str]) -> Output {
        self.run_with(&shim(), opts, id, cmd)
    }

    /// `ctr run` with another runtime than the one under test.
    pub fn run_with(&self, runtime: &str, opts: &[&str], id: &str, cmd: &[&str]) -> Output {
        let args = self.run_args_with(runtime, opts, id, cmd);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ctr(&args)
    }

    /// Starts `cmd` detached (`ctr run -d`) and waits until the task runs.
    pub fn run_detached(&self, opts: &[&str], id: &str, cmd: &[&str]) {
        self.run_detached_with(&shim(), opts, id, cmd)
    }

    /// [`Containerd::run_detached`] with another runtime.
    pub fn run_detached_with(&self, runtime: &str, opts: &[&str], id: &str, cmd: &[&str]) {
        let mut all = vec!["-d"];
        all.extend_from_slice(opts);
        let args = self.run_args_with(runtime, &all, id, cmd);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = self.ctr(&args);
        self.assert_ok(&o, &args);
        assert!(
            self.wait_status(id, "RUNNING", Duration::from_secs(20)),
            "{id} is not RUNNING but {:?}\n{}",
            self.task_status(id),
            self.log_tail(40)
        );
    }

    /// The executable of the shim serving container `id` (the process
    /// started with `-id ID` and our address), if any.
    pub fn shim_exe(&self, id: &str) -> Option<PathBuf> {
        let needle = format!("-id\0{id}\0");
        self.processes().into_iter().find_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let is_shim = cmdline
                .windows(needle.len())
                .any(|w| w == needle.as_bytes());
            is_shim.then(|| std::fs::read_link(format!("/proc/{pid}/exe")).ok())?
        })
    }

    /// Processes of this containerd: itself, shims (their `-address`
    /// names our socket), ctr commands, and all their descendants.
    pub fn processes(&self) -> Vec<i32> {
        processes_of(&self.dir)
    }

    /// `ctr tasks exec --fifo-dir … --exec-id EXEC OPTS… ID CMD…`.
    pub fn exec(&self, id: &str, exec_id: &str, opts: &[&str], cmd: &[&str]) -> Output {
        let fifo = self.fifo_dir();
        let mut args = vec!["tasks", "exec", "--fifo-dir", &fifo, "--exec-id", exec_id];
        args.extend_from_slice(opts);
        args.push(id);
        args.extend_from_slice(cmd);
        self.ctr(&args)
    }

    /// `ctr tasks ls` as (ID, PID, STATUS) rows.
    pub fn tasks(&self) -> Vec<(String, u32, String)> {
        self.ctr_ok(&["tasks", "ls"])
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 3).then(|| {
                    (
                        f[0].to_string(),
                        f[1].parse().unwrap_or(0),
                        f[2].to_string(),
                    )
                })
            })
            .collect()
    }

    /// The task's status in `ctr tasks ls`, or "" when it is not listed.
    pub fn task_status(&self, id: &str) -> String {
        self.tasks()
            .into_iter()
            .find(|t| t.0 == id)
            .map(|t| t.2)
            .unwrap_or_default()
    }

    /// The task's host PID in `ctr tasks ls`.
    pub fn task_pid(&self, id: &str) -> u32 {
        self.tasks()
            .into_iter()
            .find(|t| t.0 == id)
            .map(|t| t.1)
            .unwrap_or_else(|| panic!("no task {id}"))
    }

    /// Polls `ctr tasks ls` until the task has `status` or `timeout` passes.
    pub fn wait_status(&self, id: &str, status: &str, timeout: Duration) -> bool {
        crate::poll_until(timeout, || self.task_status(id) == status)
    }

    /// The PIDs `ctr tasks ps` lists.
    pub fn ps(&self, id: &str) -> Vec<u32> {
        self.ctr_ok(&["tasks", "ps", id])
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect()
    }

    /// Imports the busybox image ([`busybox_image`]) as [`IMAGE`].
    pub fn import_busybox(&self) {
        let tar = busybox_image().to_string_lossy().into_owned();
        self.ctr_ok(&["images", "import", "--all-platforms", &tar]);
        let images = self.ctr_ok(&["images", "ls", "-q"]);
        assert!(
            images.lines().any(|l| l == IMAGE),
            "{IMAGE} not imported: {images}"
        );
    }

    /// Runs `ctr ARGS…` in the background with its output in a file.
    pub fn background(&self, args: &[&str]) -> Background {
        let out = self.dir.join(format!("bg-{}.out", unique()));
        let f = File::create(&out).unwrap();
        let child = self
            .ctr_cmd(args)
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .expect("spawn ctr");
        Background { child, out }
    }

    /// Runs `ctr ARGS…` in a new session whose controlling terminal is a
    /// fresh pseudo-terminal of `rows` × `cols` (for `ctr run -t`).
    pub fn ctr_pty(&self, args: &[&str], rows: u16, cols: u16) -> Pty {
        spawn_in_pty(self.ctr_cmd(args), rows, cols)
    }

    /// Kills and deletes what is left, with short timeouts and no panics.
    fn delete_everything(&self) {
        let quiet = |args: &[&str]| -> Option<Output> {
            run_with_timeout(
                &mut self.ctr_cmd(args),
                None,
                &self.dir,
                Duration::from_secs(15),
            )
            .ok()
        };
        let ids = |args: &[&str]| -> Vec<String> {
            quiet(args)
                .map(|o| crate::stdout(&o).lines().map(str::to_string).collect())
                .unwrap_or_default()
        };
        for id in ids(&["tasks", "ls", "-q"]) {
            quiet(&["tasks", "kill", "-a", "-s", "SIGKILL", &id]);
        }
        for id in ids(&["tasks", "ls", "-q"]) {
            quiet(&["tasks", "delete", "-f", &id]);
        }
        for id in ids(&["containers", "ls", "-q"]) {
            quiet(&["containers", "delete", &id]);
        }
    }
}

/// Processes whose command line names `dir` (containerd, ctr, shims with
/// `-address DIR/containerd.sock`) and all their descendants.
pub(crate) fn processes_of(dir: &Path) -> Vec<i32> {
    let me = std::process::id() as i32;
    // DIR/ and not DIR: berth-containerd-1-1 is a prefix of …-1-10.
    let mut needle = dir.as_os_str().as_bytes().to_vec();
    needle.push(b'/');
    let mut parent: HashMap<i32, i32> = HashMap::new();
    let mut ours = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // pid (comm) state ppid …: comm may hold spaces and parens.
            if let Some(ppid) = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse().ok())
            {
                parent.insert(pid, ppid);
            }
        }
        if let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if cmdline
                .windows(needle.len())
                .any(|w| w == needle.as_slice())
            {
                ours.push(pid);
            }
        }
    }
    let mut all = ours.clone();
    loop {
        let more: Vec<i32> = parent
            .iter()
            .filter(|(pid, ppid)| all.contains(ppid) && !all.contains(pid) && **pid != me)
            .map(|(pid, _)| *pid)
            .collect();
        if more.is_empty() {
            break;
        }
        all.extend(more);
    }
    all
}

/// The cgroup directories of container `id` that exist: ctr's default
/// cgroupsPath is /NAMESPACE/ID, on each v1 hierarchy or on v2.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut dirs = vec![Path::new("/sys/fs/cgroup").join(NAMESPACE).join(id)];
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        dirs.push(h.path().join(NAMESPACE).join(id));
    }
    dirs.into_iter().filter(|d| d.is_dir()).collect()
}

/// The paths of the unix sockets under /run/containerd that `pids` hold
/// (a shim's ttrpc socket).
pub(crate) fn listening_sockets(pids: &[i32]) -> Vec<PathBuf> {
    let mut inodes = Vec::new();
    for pid in pids {
        for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(link) = std::fs::read_link(fd.path()) {
                let link = link.to_string_lossy().into_owned();
                if let Some(inode) = link
                    .strip_prefix("socket:[")
                    .and_then(|l| l.strip_suffix(']'))
                {
                    inodes.push(inode.to_string());
                }
            }
        }
    }
    // Num RefCount Protocol Flags Type St Inode Path
    std::fs::read_to_string("/proc/net/unix")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (inode, path) = (f.get(6)?, f.get(7)?);
            (inodes.iter().any(|i| i == inode) && path.starts_with("/run/containerd/"))
                .then(|| PathBuf::from(path))
        })
        .collect()
}

/// Detaches every mount at or below `dir`, deepest first.
pub fn unmount_below(dir: &Path) {
    let dir = dir.to_string_lossy().into_owned();
    let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(unescape_mountinfo))
        .filter(|m| m == &dir || m.starts_with(&format!("{dir}/")))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    mounts.dedup();
    for m in mounts {
        let c = std::ffi::CString::new(m).unwrap();
        // SAFETY: a NUL-terminated path.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.running() {
            self.delete_everything();
        }
        self.stop();
        // Shims (and their containers) outlive containerd; so may a ctr.
        // A killed shim leaves its socket in /run/containerd/s behind.
        kill_processes_of(&self.dir);
        // Cgroups of containers that were killed rather than deleted.
        for id in self.ids.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            for dir in cgroup_dirs(id) {
                let _ = std::fs::remove_dir(dir);
            }
        }
        // The namespace's parent cgroups go with the last instance (the
        // `_parents` lease, dropped after this): removed here, by any
        // instance, one could vanish between another test's runtime making
        // it and making its container's cgroup inside (ENOENT at create).
        unmount_below(&self.dir);
        if std::env::var_os("BERTH_KEEP_CONTAINERD").is_some() {
            eprintln!("kept {}", self.dir.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `cmd` in a new session whose controlling terminal is a fresh
/// pseudo-terminal of `rows` × `cols` (an engine's `run -t`), for every
/// engine harness.
pub fn spawn_in_pty(mut cmd: Command, rows: u16, cols: u16) -> Pty {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: out-pointers to two ints; no name, default termios.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned here;
    // close-on-exec keeps them out of other tests' children.
    let (master, slave) = unsafe {
        libc::fcntl(master, libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(slave, libc::F_SETFD, libc::FD_CLOEXEC);
        (File::from_raw_fd(master), File::from_raw_fd(slave))
    };
    cmd.stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("spawn a command in a pty");
    // The parent's copies of the slave go with `cmd`.
    drop(cmd);
    Pty { master, child }
}

/// Kills every process of an engine instance (`processes_of`), again
/// until none is left, and removes the shim sockets they held: a killed
/// shim leaves its socket in /run/containerd/s behind.
pub(crate) fn kill_processes_of(dir: &Path) {
    let mut sockets = Vec::new();
    for _ in 0..3 {
        let pids = processes_of(dir);
        if pids.is_empty() {
            break;
        }
        sockets.extend(listening_sockets(&pids));
        for pid in &pids {
            // SAFETY: signalling processes found above.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for s in sockets {
        let _ = std::fs::remove_file(s);
    }
}
