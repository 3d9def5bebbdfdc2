//! berth under the engines of a modern systemd host, each with its default
//! cgroup driver there (systemd) and configured as the README tells users
//! to: Docker's docker.service with berth in /etc/docker/daemon.json,
//! podman with `--runtime PATH` (as root, and rootless as the lingering
//! user `berth` with its own systemd instance), and containerd's
//! containerd.service through `ctr` with berth's shim and
//! `SystemdCgroup = true` in its runtime config file.
//!
//! Each test runs its scenario twice in one run: with the engine's runc
//! (the reference: a check that fails there is a wrong check) and with the
//! runtime under test (`BERTH_RUNTIME`, which hack/vm sets to
//! /usr/local/bin/berth; /usr/sbin/runc there checks the tests). Every
//! container gets its limits through a systemd scope that the runtime
//! asks systemd for, and the checks read both the cgroup files and the
//! unit's properties (`systemctl show`), before and after `update`, then
//! that an exec joins the scope, that stop delivers SIGTERM, and that the
//! scope is gone once the container is removed.
//!
//! Only on a host booted with systemd and with cgroup v2 alone (the
//! systemd guest of `hack/vm --guest systemd`); elsewhere, or without an
//! engine, a test says why and passes. The engines' services are started
//! if they are not running and, at exit, put back as they were (and
//! daemon.json with them; a dockerd they start themselves is kept off the
//! network). The busybox image is `BERTH_IMAGE_TAR` (the guest has no
//! checkout to run `hack/image` in), else built by `hack/image`; the
//! images loaded stay.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use conformance::containerd::{busybox_image, run_with_timeout};
use conformance::{runtime, stderr, stdout};
use serde_json::{json, Value};

/// Under emulation a docker command can take tens of seconds.
const TIMEOUT: Duration = Duration::from_secs(180);
/// How long a scope may take to go once its container is removed.
const GONE_TIMEOUT: Duration = Duration::from_secs(60);

/// The rootless user of the systemd guest, lingering, with subordinate ids.
const USER: &str = "berth";
const USER_UID: u32 = 1000;

/// The container's init: SIGTERM makes it exit 3 (busybox sh runs the
/// trap once the `sleep 1` in the foreground ends), so an exit status of 3
/// proves that stop delivered SIGTERM and not a later SIGKILL.
const INIT_SCRIPT: &str = "trap 'exit 3' TERM; while :; do sleep 1; done";

/// What each container asks for: `--memory 96m --pids-limit 77 --cpus 0.5`.
const MEMORY: u64 = 96 << 20;
const PIDS: u64 = 77;
/// `docker/podman update --memory 128m --pids-limit 99`.
const MEMORY_UPDATED: u64 = 128 << 20;
const PIDS_UPDATED: u64 = 99;
/// `--cpus 0.5`: 50 ms in every 100 ms period.
const CPU_QUOTA: u64 = 50_000;
const CPU_PERIOD: u64 = 100_000;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name no other test of any process on this machine uses.
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Why this host cannot run these tests, if it cannot.
fn host_unfit() -> Option<String> {
    if !Path::new("/run/systemd/system").is_dir() {
        return Some("not booted with systemd (no /run/systemd/system)".into());
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let fstype = |l: &str| {
        l.split_once(" - ")
            .and_then(|(_, r)| r.split(' ').next())
            .map(str::to_string)
    };
    if mounts
        .lines()
        .any(|l| fstype(l).as_deref() == Some("cgroup"))
    {
        return Some("cgroup v1 hierarchies are mounted (not cgroup v2 alone)".into());
    }
    let v2_at_root = mounts.lines().any(|l| {
        l.split(' ').nth(4) == Some("/sys/fs/cgroup") && fstype(l).as_deref() == Some("cgroup2")
    });
    if !v2_at_root {
        return Some("/sys/fs/cgroup is not cgroup2".into());
    }
    None
}

/// Why `engine` cannot be tested here: the host, or a missing program or
/// unit.
fn unfit(programs: &[&str], units: &[&str]) -> Option<String> {
    if let Some(why) = host_unfit() {
        return Some(why);
    }
    if let Some(p) = programs.iter().find(|p| !Path::new(p).exists()) {
        return Some(format!("{p} is not installed"));
    }
    for unit in units {
        let state = unit_props(None, unit, &["LoadState"]);
        if state.get("LoadState").map(String::as_str) != Some("loaded") {
            return Some(format!("no unit {unit} ({state:?})"));
        }
    }
    None
}

macro_rules! skip_unless_fit {
    ($why:expr) => {
        if let Some(why) = $why {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// A directory of this process for command output, runtime configs and
/// the image tar, removed at exit; others may read it (the rootless
/// user's podman loads the image from it).
fn scratch() -> &'static Path {
    use std::os::unix::fs::PermissionsExt;
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    extern "C" fn remove_scratch() {
        if let Some(d) = DIR.get() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("berth-engines-systemd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        // SAFETY: registers a plain function to run at exit.
        unsafe { libc::atexit(remove_scratch) };
        d
    })
}

/// The busybox image (an OCI archive), readable by everyone.
fn image_tar() -> &'static Path {
    use std::os::unix::fs::PermissionsExt;
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let src = match std::env::var_os("BERTH_IMAGE_TAR") {
            Some(p) => PathBuf::from(p),
            None => busybox_image().to_path_buf(),
        };
        let tar = scratch().join("busybox.tar");
        std::fs::copy(&src, &tar).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        std::fs::set_permissions(&tar, std::fs::Permissions::from_mode(0o644)).unwrap();
        tar
    })
}

/// Runs `cmd` (stdin from /dev/null, output through files); panics with
/// what it printed if it takes longer than [`TIMEOUT`].
fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    run_with_timeout(cmd, None, scratch(), TIMEOUT).unwrap_or_else(|o| {
        panic!(
            "{shown} timed out after {TIMEOUT:?}\nstdout: {}\nstderr: {}",
            stdout(&o),
            stderr(&o)
        )
    })
}

/// For clean-up after a failure: runs `cmd`, whatever comes of it, and
/// never panics (a panic while unwinding would abort the whole file).
fn quiet(cmd: &mut Command) {
    let _ = run_with_timeout(cmd, None, scratch(), TIMEOUT);
}

/// [`run`] that must succeed; returns stdout.
fn ok(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let o = run(cmd);
    assert!(
        o.status.success(),
        "{shown} failed ({})\nstdout: {}\nstderr: {}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args).current_dir("/");
    c
}

/// `PROGRAM ARGS…` as the rootless user, in its systemd session.
fn as_user(program: &str, args: &[&str]) -> Command {
    let runtime_dir = format!("/run/user/{USER_UID}");
    let mut c = Command::new("runuser");
    c.args(["-u", USER, "--", "env"])
        .arg(format!("XDG_RUNTIME_DIR={runtime_dir}"))
        .arg(format!(
            "DBUS_SESSION_BUS_ADDRESS=unix:path={runtime_dir}/bus"
        ))
        .arg(program)
        .args(args)
        .current_dir("/");
    c
}

/// `systemctl show UNIT -p P…` of the system's manager, or of the rootless
/// user's (`user`), as a map.
fn unit_props(user: Option<&str>, unit: &str, props: &[&str]) -> BTreeMap<String, String> {
    try_unit_props(user, unit, props).unwrap_or_else(|e| panic!("systemctl show {unit}: {e}"))
}

/// [`unit_props`] that never panics (for clean-up).
fn try_unit_props(
    user: Option<&str>,
    unit: &str,
    props: &[&str],
) -> Result<BTreeMap<String, String>, String> {
    let mut args = vec!["show", unit];
    for p in props {
        args.extend(["-p", p]);
    }
    let mut c = match user {
        Some(_) => {
            let mut all = vec!["--user"];
            all.extend(&args);
            as_user("systemctl", &all)
        }
        None => cmd("systemctl", &args),
    };
    let o = run_with_timeout(&mut c, None, scratch(), TIMEOUT)
        .map_err(|o| format!("timed out: {}", stderr(&o)))?;
    if !o.status.success() {
        return Err(format!("{}: {}", o.status, stderr(&o)));
    }
    Ok(stdout(&o)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// `ActiveState` of a system unit ("" if systemctl does not say).
fn active_state(unit: &str) -> String {
    unit_props(None, unit, &["ActiveState"])
        .remove("ActiveState")
        .unwrap_or_default()
}

/// The cgroup v2 path of `pid` ("/system.slice/…").
fn cgroup_of(pid: u32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/cgroup: {e}"));
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_else(|| panic!("no cgroup v2 line in {text:?}"))
        .to_string()
}

/// The limits a scope must have.
#[derive(Debug, Clone)]
struct Limits {
    memory: u64,
    /// memory.swap.max: what the engine asked for beyond `memory`, if it
    /// asked (and the kernel accounts swap).
    swap: Option<u64>,
    pids: Option<u64>,
    cpu_quota: Option<u64>,
}

/// systemd's spelling of a CPU quota per second (`CPUQuotaPerSecUSec`).
fn per_sec(quota: u64, period: u64) -> String {
    let usec = quota * 1_000_000 / period;
    if usec.is_multiple_of(1_000_000) {
        format!("{}s", usec / 1_000_000)
    } else if usec.is_multiple_of(1000) {
        format!("{}ms", usec / 1000)
    } else {
        format!("{usec}us")
    }
}

/// A container's transient scope: its unit and cgroup, in the system's
/// manager or the rootless user's.
struct Scope {
    unit: String,
    /// Relative to /sys/fs/cgroup, with a leading slash.
    cgroup: String,
    user: Option<&'static str>,
}

impl Scope {
    fn system(unit: String, slice: &str) -> Scope {
        Scope {
            cgroup: format!("/{slice}/{unit}"),
            unit,
            user: None,
        }
    }

    /// A scope in `user.slice` of the rootless user's manager.
    fn user(unit: String) -> Scope {
        Scope {
            cgroup: format!(
                "/user.slice/user-{USER_UID}.slice/user@{USER_UID}.service/user.slice/{unit}"
            ),
            unit,
            user: Some(USER),
        }
    }

    fn dir(&self) -> PathBuf {
        Path::new("/sys/fs/cgroup").join(self.cgroup.trim_start_matches('/'))
    }

    fn read(&self, file: &str) -> String {
        let p = self.dir().join(file);
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .trim()
            .to_string()
    }

    fn props(&self, props: &[&str]) -> BTreeMap<String, String> {
        unit_props(self.user, &self.unit, props)
    }

    /// The slice the unit must be in: the cgroup's parent directory.
    fn slice(&self) -> &str {
        let parent = self.cgroup.rsplit_once('/').unwrap().0;
        parent.rsplit('/').next().unwrap()
    }

    /// The scope is active, in its slice, delegated, and has `want` in its
    /// cgroup files and its unit properties.
    fn assert_limits(&self, what: &str, want: &Limits) {
        assert!(
            self.dir().is_dir(),
            "{what}: no cgroup {}",
            self.dir().display()
        );
        let p = self.props(&[
            "LoadState",
            "ActiveState",
            "Slice",
            "ControlGroup",
            "Delegate",
            "MemoryMax",
            "TasksMax",
            "CPUQuotaPerSecUSec",
        ]);
        let prop = |k: &str| p.get(k).map(String::as_str).unwrap_or_default();
        assert_eq!(prop("LoadState"), "loaded", "{what}: {}: {p:?}", self.unit);
        assert_eq!(
            prop("ActiveState"),
            "active",
            "{what}: {}: {p:?}",
            self.unit
        );
        assert_eq!(prop("Slice"), self.slice(), "{what}: {}: {p:?}", self.unit);
        assert_eq!(
            prop("ControlGroup"),
            self.cgroup,
            "{what}: {}: {p:?}",
            self.unit
        );
        assert_eq!(prop("Delegate"), "yes", "{what}: {}: {p:?}", self.unit);

        assert_eq!(self.read("memory.max"), want.memory.to_string(), "{what}");
        assert_eq!(prop("MemoryMax"), want.memory.to_string(), "{what}: {p:?}");
        if let Some(swap) = want.swap {
            if self.dir().join("memory.swap.max").exists() {
                assert_eq!(self.read("memory.swap.max"), swap.to_string(), "{what}");
            }
        }
        if let Some(pids) = want.pids {
            assert_eq!(self.read("pids.max"), pids.to_string(), "{what}");
            assert_eq!(prop("TasksMax"), pids.to_string(), "{what}: {p:?}");
        }
        if let Some(quota) = want.cpu_quota {
            assert_eq!(
                self.read("cpu.max"),
                format!("{quota} {CPU_PERIOD}"),
                "{what}"
            );
            assert_eq!(
                prop("CPUQuotaPerSecUSec"),
                per_sec(quota, CPU_PERIOD),
                "{what}: {p:?}"
            );
        }
    }

    /// The scope's processes.
    fn procs(&self) -> Vec<u32> {
        std::fs::read_to_string(self.dir().join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Waits until a process running `argv` is in the scope.
    fn assert_runs(&self, what: &str, argv: &[&str]) {
        let want: Vec<u8> = argv
            .iter()
            .flat_map(|a| [a.as_bytes(), b"\0"].concat())
            .collect();
        let found = conformance::poll_until(Duration::from_secs(30), || {
            self.procs()
                .iter()
                .any(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want))
        });
        assert!(
            found,
            "{what}: no {argv:?} in {} (processes {:?})",
            self.cgroup,
            self.procs()
        );
    }

    fn gone(&self) -> bool {
        let state = try_unit_props(self.user, &self.unit, &["LoadState"]).unwrap_or_default();
        state.get("LoadState").map(String::as_str) == Some("not-found") && !self.dir().exists()
    }

    /// Waits until neither the unit nor its cgroup is left.
    fn assert_gone(&self, what: &str) {
        if !conformance::poll_until(GONE_TIMEOUT, || self.gone()) {
            let p = self.props(&["LoadState", "ActiveState", "SubState"]);
            panic!(
                "{what}: {} is left: {p:?}, cgroup {} {}",
                self.unit,
                self.dir().display(),
                if self.dir().exists() {
                    "exists"
                } else {
                    "is gone"
                }
            );
        }
    }

    /// After a failure: stops the unit if it is left, so that one failed
    /// case does not leave it behind for good.
    fn stop_if_left(&self) {
        if !self.gone() {
            let mut args = vec!["stop", self.unit.as_str()];
            let mut c = match self.user {
                Some(_) => {
                    args.insert(0, "--user");
                    as_user("systemctl", &args)
                }
                None => cmd("systemctl", &args),
            };
            quiet(&mut c);
        }
    }
}

/// Runs `f` after a test whatever happened, as a guard's drop.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// Runs the scenario once per runtime, the reference first, each to its
/// end even if another failed, and fails with every failure.
fn each_runtime(engine: &str, runtimes: &[String], scenario: impl Fn(&str)) {
    let mut failures = Vec::new();
    for rt in runtimes {
        let start = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| scenario(rt)));
        let took = start.elapsed().as_secs_f64();
        match result {
            Ok(()) => eprintln!("{engine} with {rt}: ok in {took:.1} s"),
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "a panic without a message".into());
                eprintln!("{engine} with {rt}: FAILED in {took:.1} s");
                failures.push(format!("{engine} with {rt}: {msg}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The lines a container prints for `cat /proc/self/cgroup` and its own
/// memory.max, pids.max and cpu.max, as seen through its cgroup namespace.
const CAT_LIMITS: &[&str] = &[
    "cat",
    "/proc/self/cgroup",
    "/sys/fs/cgroup/memory.max",
    "/sys/fs/cgroup/pids.max",
    "/sys/fs/cgroup/cpu.max",
];

fn inside_lines(memory: u64, pids: u64) -> Vec<String> {
    vec![
        "0::/".to_string(),
        memory.to_string(),
        pids.to_string(),
        format!("{CPU_QUOTA} {CPU_PERIOD}"),
    ]
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

// ---------------------------------------------------------------------
// What the tests change on the host, put back at exit.
// ---------------------------------------------------------------------

/// The units this process found inactive and started (to stop at exit),
/// and daemon.json as it was (to restore at exit).
struct HostChanges {
    started: Vec<String>,
    /// `Some(None)`: there was no daemon.json.
    daemon_json: Option<Option<Vec<u8>>>,
    /// /etc/docker did not exist before.
    made_etc_docker: bool,
    /// docker.service ran before with the old daemon.json: restart it.
    restart_docker: bool,
}

static CHANGES: Mutex<HostChanges> = Mutex::new(HostChanges {
    started: Vec::new(),
    daemon_json: None,
    made_etc_docker: false,
    restart_docker: false,
});

fn changes() -> std::sync::MutexGuard<'static, HostChanges> {
    CHANGES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers [`restore_host`] to run at exit, once.
fn restore_at_exit() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // SAFETY: registers a plain function to run at exit.
        unsafe { libc::atexit(restore_host) };
    });
}

extern "C" fn restore_host() {
    let c = changes();
    let daemon_json = Path::new("/etc/docker/daemon.json");
    match &c.daemon_json {
        Some(Some(original)) => {
            let _ = std::fs::write(daemon_json, original);
        }
        Some(None) => {
            let _ = std::fs::remove_file(daemon_json);
            if c.made_etc_docker {
                let _ = std::fs::remove_dir("/etc/docker");
            }
        }
        None => {}
    }
    // Sockets first: a socket left listening would start its service again.
    let mut units = c.started.clone();
    units.sort_by_key(|u| !u.ends_with(".socket"));
    for u in units {
        let _ = run_with_timeout(
            &mut cmd("systemctl", &["stop", &u]),
            None,
            scratch(),
            TIMEOUT,
        );
    }
    if c.restart_docker {
        let _ = run_with_timeout(
            &mut cmd("systemctl", &["restart", "docker.service"]),
            None,
            scratch(),
            TIMEOUT,
        );
    }
}

/// Starts `unit` unless it is active, and notes it to stop at exit.
fn ensure_active(unit: &str) {
    restore_at_exit();
    let mut c = changes();
    if active_state(unit) == "active" {
        return;
    }
    ok(&mut cmd("systemctl", &["start", unit]));
    if !c.started.iter().any(|u| u == unit) {
        c.started.push(unit.to_string());
    }
}

// ---------------------------------------------------------------------
// Docker
// ---------------------------------------------------------------------

const DOCKER: &str = "/usr/bin/docker";
const DOCKER_IMAGE: &str = "berth-busybox:latest";

fn docker(args: &[&str]) -> Command {
    let mut c = cmd(DOCKER, args);
    c.env_remove("DOCKER_HOST").env_remove("DOCKER_CONTEXT");
    c
}

/// docker.service with berth in daemon.json, as the README tells users:
/// `"runtimes": {"berth": {"path": …}}` added to what is there, and the
/// service restarted (started if it was not running). Once per process.
fn docker_ready() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        restore_at_exit();
        configure_docker();
        // dockerd answers once its socket is there; under emulation that
        // is a while after the restart returns.
        let up =
            conformance::poll_until(TIMEOUT, || run(&mut docker(&["version"])).status.success());
        assert!(up, "docker.service did not come up");
        let driver = ok(&mut docker(&[
            "info",
            "--format",
            "{{.CgroupDriver}} {{.CgroupVersion}}",
        ]));
        assert_eq!(
            driver.trim(),
            "systemd 2",
            "dockerd's cgroup driver and version"
        );
        ok(&mut docker(&[
            "load",
            "-q",
            "-i",
            image_tar().to_str().unwrap(),
        ]));
        let images = ok(&mut docker(&[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ]));
        assert!(
            images.lines().any(|l| l == DOCKER_IMAGE),
            "{DOCKER_IMAGE} not loaded: {images}"
        );
    });
}

fn configure_docker() {
    let path = Path::new("/etc/docker/daemon.json");
    let original = std::fs::read(path).ok();
    let mut config: Value = match &original {
        Some(bytes) => serde_json::from_slice(bytes)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display())),
        None => json!({}),
    };
    let berth = runtime().to_string_lossy().into_owned();
    let was_active = active_state("docker.service") == "active";
    {
        let mut c = changes();
        if c.daemon_json.is_none() {
            c.made_etc_docker = !Path::new("/etc/docker").exists();
            c.daemon_json = Some(original.clone());
        }
        for unit in ["docker.socket", "docker.service", "containerd.service"] {
            if active_state(unit) != "active" && !c.started.iter().any(|u| u == unit) {
                c.started.push(unit.to_string());
            }
        }
        c.restart_docker = was_active;
    }
    config["runtimes"]["berth"] = json!({ "path": berth });
    if !was_active {
        // A dockerd these tests start for themselves stays off the host's
        // network (their containers have none): no docker0 bridge, no
        // firewall rules or forwarding left behind once it stops.
        for (key, value) in [
            ("bridge", json!("none")),
            ("iptables", json!(false)),
            ("ip6tables", json!(false)),
            ("ip-forward", json!(false)),
            ("ip-masq", json!(false)),
        ] {
            if config.get(key).is_none() {
                config[key] = value;
            }
        }
    }
    std::fs::create_dir_all("/etc/docker").unwrap();
    std::fs::write(path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    ok(&mut cmd("systemctl", &["restart", "docker.service"]));
}

fn docker_inspect(name: &str, format: &str) -> String {
    ok(&mut docker(&["inspect", "-f", format, name]))
        .trim()
        .to_string()
}

/// memory.swap.max for Docker's and podman's `Memory` and `MemorySwap`
/// (the total; -1 unlimited, 0 unset): what the runtime is asked to add.
fn swap_beyond(memory: &str, memory_swap: &str) -> Option<u64> {
    let memory: i64 = memory.parse().ok()?;
    let total: i64 = memory_swap.parse().ok()?;
    (total > 0 && total >= memory).then(|| (total - memory) as u64)
}

/// What Docker and podman are both put through once the container runs:
/// its limits in the scope and as it sees them (exec), `update` and the
/// limits again, `exec -d` joining the scope, `stop` by SIGTERM (the
/// init's trap exits 3), `rm`, and the scope gone.
fn run_update_exec_stop_rm(
    engine: &str,
    cli: &dyn Fn(&[&str]) -> Command,
    inspect: &dyn Fn(&str) -> String,
    name: &str,
    scope: &Scope,
    limits: &dyn Fn(u64) -> Limits,
) {
    scope.assert_limits(&format!("after {engine} run"), &limits(MEMORY));
    let mut exec = vec!["exec", name];
    exec.extend(CAT_LIMITS);
    assert_eq!(
        lines(&ok(&mut cli(&exec))),
        inside_lines(MEMORY, PIDS),
        "{engine} exec: the container's cgroup as it sees it"
    );
    ok(&mut cli(&[
        "update",
        "--memory",
        "128m",
        "--pids-limit",
        "99",
        name,
    ]));
    scope.assert_limits(&format!("after {engine} update"), &limits(MEMORY_UPDATED));
    assert_eq!(
        lines(&ok(&mut cli(&exec))),
        inside_lines(MEMORY_UPDATED, PIDS_UPDATED),
        "{engine} exec after {engine} update"
    );
    ok(&mut cli(&["exec", "-d", name, "sleep", "4242"]));
    scope.assert_runs(&format!("{engine} exec -d"), &["sleep", "4242"]);
    ok(&mut cli(&["stop", "-t", "60", name]));
    assert_eq!(inspect("{{.State.Status}}"), "exited");
    assert_eq!(
        inspect("{{.State.ExitCode}}"),
        "3",
        "{engine} stop: the init's SIGTERM trap"
    );
    ok(&mut cli(&["rm", name]));
    scope.assert_gone(&format!("after {engine} rm"));
}

fn docker_scenario(rt: &str) {
    let name = unique("berth-e2e-docker");
    let _cleanup = OnDrop(|| {
        quiet(&mut docker(&["rm", "-f", &name]));
    });
    ok(&mut docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "--runtime",
        rt,
        "--memory",
        "96m",
        "--pids-limit",
        "77",
        "--cpus",
        "0.5",
        DOCKER_IMAGE,
        "sh",
        "-c",
        INIT_SCRIPT,
    ]));
    let id = docker_inspect(&name, "{{.Id}}");
    let scope = Scope::system(format!("docker-{id}.scope"), "system.slice");
    let _unit_cleanup = OnDrop(|| {
        quiet(&mut docker(&["rm", "-f", &name]));
        scope.stop_if_left();
    });
    assert_eq!(docker_inspect(&name, "{{.HostConfig.Runtime}}"), rt);
    assert_eq!(docker_inspect(&name, "{{.State.Status}}"), "running");
    let pid: u32 = docker_inspect(&name, "{{.State.Pid}}").parse().unwrap();
    assert_eq!(cgroup_of(pid), scope.cgroup, "the container's init");

    // Docker asks for twice the memory as memory and swap together. Its
    // update below sends only what it names (the memory): the swap beyond
    // the memory stays what it was.
    let swap = swap_beyond(
        &docker_inspect(&name, "{{.HostConfig.Memory}}"),
        &docker_inspect(&name, "{{.HostConfig.MemorySwap}}"),
    );
    let limits = |memory| Limits {
        memory,
        swap,
        pids: Some(if memory == MEMORY { PIDS } else { PIDS_UPDATED }),
        cpu_quota: Some(CPU_QUOTA),
    };
    let inspect = |format: &str| docker_inspect(&name, format);
    run_update_exec_stop_rm("docker", &docker, &inspect, &name, &scope, &limits);
}

#[test]
fn docker_with_systemd_cgroups() {
    skip_unless_fit!(unfit(
        &[DOCKER, "/usr/sbin/dockerd"],
        &["docker.service", "containerd.service"]
    ));
    docker_ready();
    eprintln!(
        "docker: {}",
        ok(&mut docker(&[
            "version",
            "--format",
            "server {{.Server.Version}}"
        ]))
        .trim()
    );
    each_runtime("docker", &["runc".into(), "berth".into()], docker_scenario);
}

// ---------------------------------------------------------------------
// podman
// ---------------------------------------------------------------------

const PODMAN: &str = "/usr/bin/podman";
const PODMAN_IMAGE: &str = "docker.io/library/berth-busybox:latest";

/// `podman --runtime RT ARGS…`, as root or as the rootless user.
fn podman(rootless: bool, rt: &str, args: &[&str]) -> Command {
    let mut all = vec!["--runtime", rt];
    all.extend(args);
    if rootless {
        as_user(PODMAN, &all)
    } else {
        cmd(PODMAN, &all)
    }
}

/// The image loaded into root's or the rootless user's storage, and the
/// cgroup manager checked, once per process each.
fn podman_ready(rootless: bool) {
    static READY: [OnceLock<()>; 2] = [OnceLock::new(), OnceLock::new()];
    READY[rootless as usize].get_or_init(|| {
        let rt = runc_path();
        let manager = ok(&mut podman(
            rootless,
            &rt,
            &[
                "info",
                "--format",
                "{{.Host.CgroupManager}} {{.Host.CgroupsVersion}}",
            ],
        ));
        assert_eq!(manager.trim(), "systemd v2", "podman's cgroup manager");
        ok(&mut podman(
            rootless,
            &rt,
            &["load", "-q", "-i", image_tar().to_str().unwrap()],
        ));
        let images = ok(&mut podman(
            rootless,
            &rt,
            &["images", "--format", "{{.Repository}}:{{.Tag}}"],
        ));
        assert!(
            images.lines().any(|l| l == PODMAN_IMAGE),
            "{PODMAN_IMAGE} not loaded: {images}"
        );
    });
}

/// The engines' runc (trixie has it in /usr/sbin and /usr/bin).
fn runc_path() -> String {
    conformance::containerd::runc()
        .to_string_lossy()
        .into_owned()
}

fn podman_scenario(rootless: bool, rt: &str) {
    let pm = |args: &[&str]| podman(rootless, rt, args);
    let name = unique("berth-e2e-podman");
    let _cleanup = OnDrop(|| {
        quiet(&mut pm(&["rm", "-f", "-t", "0", &name]));
    });
    ok(&mut pm(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "--memory",
        "96m",
        "--pids-limit",
        "77",
        "--cpus",
        "0.5",
        PODMAN_IMAGE,
        "sh",
        "-c",
        INIT_SCRIPT,
    ]));
    let inspect = |format: &str| {
        ok(&mut pm(&["inspect", "-f", format, &name]))
            .trim()
            .to_string()
    };
    let id = inspect("{{.Id}}");
    let unit = format!("libpod-{id}.scope");
    let conmon_unit = format!("libpod-conmon-{id}.scope");
    let (scope, conmon) = if rootless {
        (Scope::user(unit), Scope::user(conmon_unit))
    } else {
        (
            Scope::system(unit, "machine.slice"),
            Scope::system(conmon_unit, "machine.slice"),
        )
    };
    let _unit_cleanup = OnDrop(|| {
        quiet(&mut pm(&["rm", "-f", "-t", "0", &name]));
        scope.stop_if_left();
        conmon.stop_if_left();
    });
    assert_eq!(inspect("{{.State.Status}}"), "running");
    let pid: u32 = inspect("{{.State.Pid}}").parse().unwrap();
    assert_eq!(cgroup_of(pid), scope.cgroup, "the container's init");

    let limits = |memory| Limits {
        memory,
        swap: swap_beyond(
            &inspect("{{.HostConfig.Memory}}"),
            &inspect("{{.HostConfig.MemorySwap}}"),
        ),
        pids: Some(if memory == MEMORY { PIDS } else { PIDS_UPDATED }),
        cpu_quota: Some(CPU_QUOTA),
    };
    run_update_exec_stop_rm("podman", &pm, &inspect, &name, &scope, &limits);
    conmon.assert_gone("conmon's scope after podman rm");
}

fn podman_runtimes() -> Vec<String> {
    vec![runc_path(), runtime().to_string_lossy().into_owned()]
}

#[test]
fn podman_with_systemd_cgroups() {
    skip_unless_fit!(unfit(&[PODMAN], &[]));
    podman_ready(false);
    eprintln!("podman: {}", ok(&mut cmd(PODMAN, &["--version"])).trim());
    each_runtime("podman", &podman_runtimes(), |rt| {
        podman_scenario(false, rt)
    });
}

/// Why the rootless user cannot run podman here, if it cannot.
fn rootless_unfit() -> Option<String> {
    if let Some(why) = unfit(&[PODMAN, "/usr/sbin/runuser"], &[]) {
        return Some(why);
    }
    let o = run(&mut cmd("id", &["-u", USER]));
    if stdout(&o).trim() != USER_UID.to_string() {
        return Some(format!("no user {USER} with uid {USER_UID}"));
    }
    let bus = format!("/run/user/{USER_UID}/bus");
    if !Path::new(&bus).exists() {
        return Some(format!("{USER} has no systemd user session ({bus})"));
    }
    None
}

#[test]
fn rootless_podman_with_systemd_cgroups() {
    skip_unless_fit!(rootless_unfit());
    podman_ready(true);
    each_runtime("rootless podman", &podman_runtimes(), |rt| {
        podman_scenario(true, rt)
    });
}

// ---------------------------------------------------------------------
// containerd
// ---------------------------------------------------------------------

const CTR: &str = "/usr/bin/ctr";
/// The namespace of these tests in the host's containerd (its images stay).
const CTR_NAMESPACE: &str = "berth-e2e";
const CTR_IMAGE: &str = "docker.io/library/berth-busybox:latest";
const BERTH_SHIM: &str = "io.containerd.berth.v2";
const RUNC_SHIM: &str = "io.containerd.runc.v2";

fn ctr(args: &[&str]) -> Command {
    let mut all = vec!["-n", CTR_NAMESPACE];
    all.extend(args);
    cmd(CTR, &all)
}

fn ctr_fifo_dir() -> String {
    let d = scratch().join("fifo");
    std::fs::create_dir_all(&d).unwrap();
    d.to_string_lossy().into_owned()
}

/// containerd.service running and the image imported, once per process.
fn containerd_ready() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        ensure_active("containerd.service");
        let up = conformance::poll_until(TIMEOUT, || {
            run(&mut cmd(CTR, &["version"])).status.success()
        });
        assert!(up, "containerd.service did not answer");
        ok(&mut ctr(&[
            "images",
            "import",
            "--all-platforms",
            image_tar().to_str().unwrap(),
        ]));
        let images = ok(&mut ctr(&["images", "ls", "-q"]));
        assert!(
            images.lines().any(|l| l == CTR_IMAGE),
            "{CTR_IMAGE} not imported: {images}"
        );
    });
}

/// berth's shim as the README tells users to: its runtime config file
/// with the runtime and the systemd driver.
fn berth_shim_config() -> String {
    let path = scratch().join("berth-shim.toml");
    std::fs::write(
        &path,
        format!(
            "BinaryName = \"{}\"\nSystemdCgroup = true\n",
            runtime().display()
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

/// `ctr tasks ls`: the task's PID and status, if listed.
fn ctr_task(id: &str) -> Option<(u32, String)> {
    ok(&mut ctr(&["tasks", "ls"]))
        .lines()
        .skip(1)
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && f[0] == id).then(|| (f[1].parse().unwrap_or(0), f[2].to_string()))
        })
}

/// After a failure: the task killed and deleted, and the container.
fn remove_ctr_container(id: &str) {
    quiet(&mut ctr(&["tasks", "kill", "-a", "-s", "SIGKILL", id]));
    quiet(&mut ctr(&["tasks", "delete", "-f", id]));
    quiet(&mut ctr(&["containers", "delete", id]));
}

fn containerd_scenario(shim: &str) {
    let id = unique("berth-e2e-ctr");
    let fifo = ctr_fifo_dir();
    let _cleanup = OnDrop(|| remove_ctr_container(&id));
    let cgroup = format!("system.slice:berth:{id}");
    let memory = MEMORY.to_string();
    let mut args = vec![
        "run",
        "-d",
        "--fifo-dir",
        &fifo,
        "--runtime",
        shim,
        "--cgroup",
        &cgroup,
        "--memory-limit",
        &memory,
        "--cpus",
        "0.5",
    ];
    let config;
    if shim == BERTH_SHIM {
        config = berth_shim_config();
        args.extend(["--runtime-config-path", &config]);
    } else {
        args.push("--runc-systemd-cgroup");
    }
    args.extend([CTR_IMAGE, &id, "sh", "-c", INIT_SCRIPT]);
    ok(&mut ctr(&args));
    let scope = Scope::system(format!("berth-{id}.scope"), "system.slice");
    let _unit_cleanup = OnDrop(|| {
        remove_ctr_container(&id);
        scope.stop_if_left();
    });
    assert!(
        conformance::poll_until(Duration::from_secs(60), || ctr_task(&id)
            .is_some_and(|t| t.1 == "RUNNING")),
        "{id}: {:?}",
        ctr_task(&id)
    );
    let (pid, _) = ctr_task(&id).unwrap();
    assert_eq!(cgroup_of(pid), scope.cgroup, "the container's init");
    let limits = Limits {
        memory: MEMORY,
        swap: None,
        pids: None,
        cpu_quota: Some(CPU_QUOTA),
    };
    scope.assert_limits("after ctr run", &limits);

    // containerd's default spec has no cgroup namespace (the exec sees the
    // host's path of its cgroup) and no cgroup mount.
    let exec = [
        "tasks",
        "exec",
        "--fifo-dir",
        &fifo,
        "--exec-id",
        "cgroup",
        &id,
        "cat",
        "/proc/self/cgroup",
    ];
    assert_eq!(
        lines(&ok(&mut ctr(&exec))),
        vec![format!("0::{}", scope.cgroup)],
        "ctr tasks exec"
    );
    ok(&mut ctr(&[
        "tasks",
        "exec",
        "-d",
        "--fifo-dir",
        &fifo,
        "--exec-id",
        "sleeper",
        &id,
        "sleep",
        "4242",
    ]));
    scope.assert_runs("ctr tasks exec -d", &["sleep", "4242"]);

    ok(&mut ctr(&["tasks", "kill", "-s", "SIGTERM", &id]));
    assert!(
        conformance::poll_until(Duration::from_secs(60), || ctr_task(&id)
            .is_some_and(|t| t.1 == "STOPPED")),
        "{id} after SIGTERM: {:?}",
        ctr_task(&id)
    );
    // ctr 1.7 says the task's status in a warning (and exits 0).
    let o = run(&mut ctr(&["tasks", "delete", &id]));
    assert!(
        o.status.success() && stderr(&o).contains("exit with non-zero exit code 3"),
        "ctr tasks delete: the init's SIGTERM trap ({})\n{}",
        o.status,
        stderr(&o)
    );
    ok(&mut ctr(&["containers", "delete", &id]));
    scope.assert_gone("after ctr tasks delete");
}

#[test]
fn containerd_with_systemd_cgroups() {
    skip_unless_fit!(unfit(
        &[
            CTR,
            "/usr/bin/containerd",
            "/usr/local/bin/containerd-shim-berth-v2"
        ],
        &["containerd.service"]
    ));
    containerd_ready();
    eprintln!(
        "containerd: {}",
        ok(&mut cmd("/usr/bin/containerd", &["--version"])).trim()
    );
    each_runtime(
        "containerd",
        &[RUNC_SHIM.into(), BERTH_SHIM.into()],
        containerd_scenario,
    );
}
