//! Black-box conformance harness: builds bundles, drives a runtime binary
//! through runc's command line, and cleans up even when a test fails.
//!
//! `BERTH_RUNTIME` picks the runtime (default: the workspace's
//! target/debug/berth); `BERTH_PROBE` the probe (default: built here once).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub mod containerd;
pub mod cri;
pub mod docker;
pub mod podman;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn runtime() -> PathBuf {
    std::env::var_os("BERTH_RUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/debug/berth"))
}

/// Makes the daemon `cmd` starts (containerd, dockerd) get SIGTERM when
/// the thread that started it ends, so a test process that dies does not
/// leave it running (its shims and containers are found by the harness's
/// Drop).
pub fn dies_with_test(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only an async-signal-safe call between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

/// True when the runtime under test is runc (for documented deviations).
pub fn is_runc() -> bool {
    runtime().file_name().is_some_and(|n| n == "runc")
}

pub fn probe() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        if let Some(p) = std::env::var_os("BERTH_PROBE") {
            return PathBuf::from(p);
        }
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "-p",
                "probe",
                "--target",
                "x86_64-unknown-linux-gnu",
            ])
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .current_dir(workspace())
            .status()
            .expect("run cargo to build the probe");
        assert!(status.success(), "building the probe failed");
        workspace().join("target/x86_64-unknown-linux-gnu/release/probe")
    })
}

/// runc's default config, without linux.resources, running the probe.
pub fn default_config() -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/probe"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "conformance",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// `config` without a namespace of type `kind` (the runtime's own is then
/// inherited, config-linux.md).
pub fn without_namespace(config: &mut Value, kind: &str) {
    let ns = &mut config["linux"]["namespaces"];
    let kept: Vec<Value> = ns
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != kind)
        .cloned()
        .collect();
    *ns = kept.into();
}

/// What `runc spec --rootless` makes of a config: a user namespace mapping
/// `uid`/`gid` to root, no network namespace, /sys bound from the host, no
/// uid=/gid= mount options, no resources.
pub fn rootless_config(mut c: Value, uid: u32, gid: u32) -> Value {
    let linux = &mut c["linux"];
    let mut ns: Vec<Value> = linux["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != "network" && n["type"] != "user")
        .cloned()
        .collect();
    ns.push(json!({"type": "user"}));
    linux["namespaces"] = json!(ns);
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(l) = linux.as_object_mut() {
        l.remove("resources");
    }
    for m in c["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/sys" {
            *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
        } else if let Some(o) = m["options"].as_array_mut() {
            o.retain(|o| {
                let o = o.as_str().unwrap_or_default();
                !o.starts_with("uid=") && !o.starts_with("gid=")
            });
        }
    }
    c
}

/// The runtime as the rootless user can run it: [`runtime`] itself when
/// every directory above it lets others through, else a copy made once per
/// test process in a temp directory (removed at exit), under the same file
/// name (podman names the runtime by it).
pub fn runtime_for_user() -> &'static Path {
    use std::os::unix::fs::PermissionsExt;
    static COPY: OnceLock<PathBuf> = OnceLock::new();
    extern "C" fn remove_copy() {
        if let Some(p) = COPY.get().and_then(|p| p.parent()) {
            let _ = std::fs::remove_dir_all(p);
        }
    }
    COPY.get_or_init(|| {
        let rt = std::fs::canonicalize(runtime()).expect("the runtime exists");
        let reachable = rt
            .ancestors()
            .skip(1)
            .all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
        if reachable {
            return rt;
        }
        let dir = std::env::temp_dir().join(format!("berth-rootless-bin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let copy = dir.join(rt.file_name().expect("a file name"));
        std::fs::copy(&rt, &copy).unwrap();
        // SAFETY: registers a plain function to run at exit.
        unsafe { libc::atexit(remove_copy) };
        copy
    })
}

/// The unprivileged user the rootless tests run the runtime as.
pub struct TestUser {
    pub name: &'static str,
    pub uid: u32,
    pub gid: u32,
    /// Its subordinate ids (the same range in /etc/subuid and /etc/subgid),
    /// 65536 of them, for newuidmap and newgidmap.
    pub subids: u32,
}

/// Made once per machine: `useradd --system berth-rootless` and a range of
/// subordinate ids past every range already given out.
pub fn rootless_user() -> &'static TestUser {
    static USER: OnceLock<TestUser> = OnceLock::new();
    USER.get_or_init(|| {
        const NAME: &str = "berth-rootless";
        let id = |flag: &str| -> Option<u32> {
            let o = Command::new("id").args([flag, NAME]).output().ok()?;
            String::from_utf8_lossy(&o.stdout).trim().parse().ok()
        };
        if id("-u").is_none() {
            let useradd = Command::new("useradd")
                .args([
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    NAME,
                ])
                .status();
            match useradd {
                Ok(status) => assert!(status.success(), "useradd {NAME} failed"),
                // No useradd (hack/vm's busybox guest): the entries by hand,
                // with an id no one has.
                Err(_) => add_user_by_hand(NAME),
            }
        }
        let files = ["/etc/subuid", "/etc/subgid"];
        let texts: Vec<String> = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .collect();
        let ours = texts[0].lines().chain(texts[1].lines()).find_map(|l| {
            l.strip_prefix(&format!("{NAME}:"))?
                .split(':')
                .next()?
                .parse()
                .ok()
        });
        let subids = ours.unwrap_or_else(|| {
            let end = texts
                .iter()
                .flat_map(|t| t.lines())
                .filter_map(|l| {
                    let mut f = l.split(':').skip(1).map(|x| x.parse::<u32>().ok());
                    Some(f.next()?? + f.next()??)
                })
                .max()
                .unwrap_or(0);
            let start = end.max(3_000_000);
            for f in files {
                append_line(f, &format!("{NAME}:{start}:65536"));
            }
            start
        });
        TestUser {
            name: NAME,
            uid: id("-u").expect("the user exists"),
            gid: id("-g").expect("the user exists"),
            subids,
        }
    })
}

/// /etc/passwd and /etc/group lines for `name`, with the first id from 990
/// down that neither file uses.
fn add_user_by_hand(name: &str) {
    let read = |f: &str| std::fs::read_to_string(f).unwrap_or_default();
    let (passwd, group) = (read("/etc/passwd"), read("/etc/group"));
    let used = |text: &str, id: u32| {
        text.lines()
            .any(|l| l.split(':').nth(2) == Some(id.to_string().as_str()))
    };
    let id = (100..=990)
        .rev()
        .find(|&i| !used(&passwd, i) && !used(&group, i))
        .expect("a free id");
    for (file, line) in [
        (
            "/etc/passwd",
            format!("{name}:x:{id}:{id}::/nonexistent:/bin/false"),
        ),
        ("/etc/group", format!("{name}:x:{id}:")),
    ] {
        append_line(file, &line);
    }
}

fn append_line(file: &str, line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)
        .unwrap_or_else(|e| panic!("open {file}: {e}"));
    writeln!(f, "{line}").unwrap_or_else(|e| panic!("write {file}: {e}"));
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One test's world: a temp dir with a bundle, a private --root and a
/// unique container ID. Drop deletes the container, kills helpers,
/// unmounts leftovers and removes the directory.
pub struct Fixture {
    /// Set by [`Fixture::rootless`]: the runtime runs as this user.
    pub user: Option<&'static TestUser>,
    pub dir: PathBuf,
    pub root: PathBuf,
    pub bundle: PathBuf,
    pub id: String,
    pub config: Value,
    pub helpers: Vec<Child>,
    /// Global flags for every runtime command (`--systemd-cgroup`).
    pub global: Vec<String>,
    /// The user's XDG_RUNTIME_DIR when it is not the fixture's own (a user
    /// with a systemd instance of its own has /run/user/UID).
    pub xdg: Option<PathBuf>,
}

impl Fixture {
    pub fn new(name: &str) -> Fixture {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("{name}-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("berth-conformance-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        let bundle = dir.join("bundle");
        let rootfs = bundle.join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/usr/bin/busybox", rootfs.join("bin/busybox"))
            .expect("busybox-static installed");
        for applet in [
            "sh", "ls", "cat", "echo", "sleep", "true", "false", "id", "hostname", "mount", "ps",
            "grep", "test", "touch", "mkdir", "env", "pwd", "stat", "readlink", "kill", "wc",
            "head", "tr", "printf", "tty", "trap",
        ] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        std::fs::copy(probe(), rootfs.join("bin/probe")).unwrap();
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        )
        .unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\ntty:x:5:\n").unwrap();
        Fixture {
            user: None,
            root: dir.join("state"),
            bundle,
            id,
            dir,
            config: default_config(),
            helpers: Vec::new(),
            global: Vec::new(),
            xdg: None,
        }
    }

    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self
    }

    pub fn write_config(&self) {
        std::fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// `runtime --root ROOT ARGS…` with stdio captured; a hung runtime fails
    /// the test after `timeout`.
    pub fn runtime_cmd(&self, args: &[&str]) -> Command {
        let mut c = self.runtime_as_user();
        c.arg("--root").arg(&self.root).args(args);
        c
    }

    /// The runtime, as the fixture's user when it has one (with that user's
    /// XDG_RUNTIME_DIR), with no arguments yet.
    pub fn runtime_as_user(&self) -> Command {
        use std::os::unix::process::CommandExt;
        let mut c = match self.user {
            Some(_) => Command::new(runtime_for_user()),
            None => Command::new(runtime()),
        };
        if let Some(u) = self.user {
            let xdg = self.xdg.clone().unwrap_or_else(|| self.dir.join("xdg"));
            c.uid(u.uid).gid(u.gid).env("XDG_RUNTIME_DIR", xdg);
        }
        c.args(&self.global);
        c
    }

    /// A fixture whose runtime runs as the unprivileged [`rootless_user`],
    /// with the config `runc spec --rootless` would give it. The fixture's
    /// directory (where --root goes) and its XDG_RUNTIME_DIR are the user's.
    pub fn rootless(name: &str) -> Fixture {
        let user = rootless_user();
        let mut f = Fixture::new(name);
        f.user = Some(user);
        f.config = rootless_config(default_config(), user.uid, user.gid);
        let xdg = f.dir.join("xdg");
        std::fs::create_dir_all(&xdg).unwrap();
        for d in [&f.dir, &xdg] {
            std::os::unix::fs::chown(d, Some(user.uid), Some(user.gid)).unwrap();
        }
        f
    }

    /// Output goes through files, not pipes: a container that a command
    /// unexpectedly creates would hold a pipe open and hang the test.
    pub fn rt(&self, args: &[&str]) -> Output {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        std::fs::create_dir_all(&self.dir).unwrap();
        let (o, e) = (
            self.dir.join(format!("rt{n}.out")),
            self.dir.join(format!("rt{n}.err")),
        );
        let mut c = self.runtime_cmd(args);
        c.stdin(Stdio::null())
            .stdout(File::create(&o).unwrap())
            .stderr(File::create(&e).unwrap());
        let status = wait_output(c.spawn().expect("spawn runtime"), Duration::from_secs(30)).status;
        Output {
            status,
            stdout: std::fs::read(&o).unwrap_or_default(),
            stderr: std::fs::read(&e).unwrap_or_default(),
        }
    }

    /// `create` with the container's stdout/stderr going to a file (a pipe
    /// would be held open by the container).
    pub fn create(&self, extra: &[&str]) -> Output {
        self.write_config();
        let out = File::create(self.dir.join("container.out")).unwrap();
        let mut c = self.runtime_cmd(&["create", "--bundle", self.bundle.to_str().unwrap()]);
        c.args(extra).arg(&self.id);
        c.stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        let child = c.spawn().expect("spawn runtime");
        wait_output(child, Duration::from_secs(30))
    }

    pub fn container_output(&self) -> String {
        std::fs::read_to_string(self.dir.join("container.out")).unwrap_or_default()
    }

    /// Foreground `run` of the config; returns its output.
    pub fn run(&self) -> Output {
        self.write_config();
        self.rt(&["run", "--bundle", self.bundle.to_str().unwrap(), &self.id])
    }

    /// Runs the probe in the foreground and parses its report.
    pub fn probe_report(&mut self) -> Value {
        self.args(&["/bin/probe"]);
        let out = self.run();
        assert!(
            out.status.success(),
            "run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "probe output is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Runs the probe with `args` (a mode such as `stat PATH…`) and parses
    /// its JSON.
    pub fn probe_mode(&mut self, args: &[&str]) -> Value {
        let mut full = vec!["/bin/probe"];
        full.extend_from_slice(args);
        self.args(&full);
        let out = self.run();
        assert!(out.status.success(), "run failed: {}", stderr(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("probe output is not JSON ({e}): {}", stdout(&out)))
    }

    /// Nothing of a failed container remains: no state, no mount.
    pub fn assert_clean(&self, id: &str) {
        // The root holds no container of this fixture's (IDs such as ".."
        // do not name a directory of their own, so the root is listed).
        let left: Vec<_> = std::fs::read_dir(&self.root)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            left.is_empty(),
            "state left under --root for {id:?}: {left:?}"
        );
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains(self.dir.to_str().unwrap()),
            "mount left behind"
        );
    }

    /// `create` of the bundle as it is on disk (see [`Fixture::write_config`])
    /// as `id` fails with a message and leaves nothing behind; returns the
    /// message.
    pub fn create_fails(&self, id: &str) -> String {
        let o = self.rt(&["create", "--bundle", self.bundle.to_str().unwrap(), id]);
        assert!(!o.status.success(), "create {id:?} succeeded");
        let err = stderr(&o);
        assert!(!err.trim().is_empty(), "no error message");
        self.assert_clean(id);
        err
    }

    pub fn state(&self) -> Value {
        let out = self.rt(&["state", &self.id]);
        assert!(
            out.status.success(),
            "state failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("state is JSON")
    }

    /// The status, or "" while the runtime does not know the container.
    pub fn status(&self) -> String {
        let out = self.rt(&["state", &self.id]);
        serde_json::from_slice::<Value>(&out.stdout)
            .ok()
            .and_then(|v| v["status"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Polls until the container reaches `status` or 10 s pass.
    pub fn wait_status(&self, status: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.status() == status {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// Runs the probe once per command (its arguments; `/bin/probe` is
/// prepended) in a single container and returns each one's JSON.
pub fn probes(f: &mut Fixture, cmds: &[&[&str]]) -> Vec<Value> {
    let script: Vec<String> = cmds
        .iter()
        .map(|c| {
            let args: Vec<String> = c.iter().map(|a| format!("'{a}'")).collect();
            format!("/bin/probe {}", args.join(" "))
        })
        .collect();
    let script = script.join("; ");
    f.args(&["sh", "-c", &script]);
    let out = f.run();
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let text = stdout(&out);
    let values: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("probe output {l:?}: {e}")))
        .collect();
    assert_eq!(values.len(), cmds.len(), "{text}{}", stderr(&out));
    values
}

/// One descriptor sent over a unix socket (SCM_RIGHTS): a pty master from
/// a console socket, a pidfd.
pub fn recv_fd(conn: &std::os::unix::net::UnixStream) -> std::fs::File {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut buf = [0u8; 4096];
    let mut cmsg = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: a msghdr pointing at live buffers; recvmsg fills them.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr().cast();
        msg.msg_controllen = cmsg.len();
        assert!(libc::recvmsg(conn.as_raw_fd(), &mut msg, 0) >= 0);
        let c = libc::CMSG_FIRSTHDR(&msg);
        assert!(!c.is_null() && (*c).cmsg_type == libc::SCM_RIGHTS);
        let fd = *(libc::CMSG_DATA(c) as *const i32);
        std::fs::File::from_raw_fd(fd)
    }
}

/// A console socket at `path` that anyone may connect to (a rootless
/// runtime too), and the thread that receives the pty master sent over it.
pub fn console_socket(path: &Path) -> std::thread::JoinHandle<File> {
    use std::os::unix::fs::PermissionsExt;
    let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        recv_fd(&conn)
    })
}

/// Creates the fixture's container with a terminal running `tty`, its
/// master over a console socket, starts it, and returns what the terminal
/// showed.
pub fn tty_of_created_container(f: &mut Fixture) -> String {
    f.config["process"]["terminal"] = json!(true);
    f.args(&["sh", "-c", "tty; echo done"]);
    let sock = f.dir.join("console.sock");
    let receiver = console_socket(&sock);
    let out = f.create(&["--console-socket", sock.to_str().unwrap()]);
    assert!(out.status.success(), "create: {}", f.container_output());
    let mut master = receiver.join().unwrap();
    assert!(f.rt(&["start", &f.id]).status.success());
    read_until(&mut master, "done")
}

/// What a pty master gives until `marker` appears or the other side closes.
pub fn read_until(master: &mut File, marker: &str) -> String {
    use std::io::Read;
    let mut text = String::new();
    let mut buf = [0u8; 1024];
    while !text.contains(marker) {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    text
}

/// The environment of a probe report, as "K=V" strings.
pub fn env_of(report: &Value) -> Vec<&str> {
    report["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect()
}

/// The mount on `target` in a probe report (the last, topmost one).
pub fn mount_at<'a>(report: &'a Value, target: &str) -> Option<&'a Value> {
    report["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["target"] == target)
}

pub fn wait_output(mut child: Child, timeout: Duration) -> Output {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait().expect("wait") {
            Some(_) => return child.wait_with_output().expect("output"),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "runtime timed out; stderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self
            .runtime_cmd(&["delete", "--force", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // A rootless test may have used the default root, in the user's
        // XDG_RUNTIME_DIR.
        if self.user.is_some() {
            let _ = self
                .runtime_as_user()
                .args(["delete", "--force", &self.id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        for h in &mut self.helpers {
            let _ = h.kill();
            let _ = h.wait();
        }
        // Anything still mounted below our directory goes, deepest first.
        let dir = self.dir.to_string_lossy().to_string();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&dir))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The host's namespace link for `name` (e.g. "net:[4026531840]").
pub fn host_ns(name: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{name}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Parent cgroups that engines make and never remove (containerd's
/// `/NAMESPACE`, podman's `libpod_parent`), shared by the tests of one
/// process: each engine instance holds a [`SharedParents`] lease, and the
/// last one to go removes the parents. The count and the removal are under
/// one lock, so no engine can be starting a container under a parent
/// while it is removed.
pub struct SharedParents {
    count: &'static std::sync::Mutex<usize>,
    dirs: fn() -> Vec<PathBuf>,
}

impl SharedParents {
    pub fn lease(count: &'static std::sync::Mutex<usize>, dirs: fn() -> Vec<PathBuf>) -> Self {
        *count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        SharedParents { count, dirs }
    }
}

impl Drop for SharedParents {
    fn drop(&mut self) {
        let mut n = self.count.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        if *n == 0 {
            // Children first: remove_dir only takes empty directories.
            for d in (self.dirs)() {
                let _ = std::fs::remove_dir(d);
            }
        }
    }
}

/// `name` (a relative cgroup path) in every hierarchy under /sys/fs/cgroup
/// and at its root (a cgroup2-only host).
pub fn in_every_hierarchy(name: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|h| h.path().join(name))
        .collect();
    dirs.push(root.join(name));
    dirs
}

/// A container running `sleep 1000`, created and started with the fixture's
/// config after `edit`, and its init's host pid.
pub fn running(name: &str, edit: impl FnOnce(&mut Fixture)) -> (Fixture, i64) {
    let mut f = Fixture::new(name);
    f.args(&["sleep", "1000"]);
    edit(&mut f);
    let out = f.create(&[]);
    assert!(out.status.success(), "create: {}", f.container_output());
    let start = f.rt(&["start", &f.id]);
    assert!(start.status.success(), "start: {}", stderr(&start));
    let pid = f.state()["pid"].as_i64().unwrap();
    (f, pid)
}

/// Polls `ready` every 50 ms until it holds (true) or `timeout` passes.
pub fn poll_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
