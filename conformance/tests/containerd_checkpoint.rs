//! Checkpoint and restore with CRIU (issue 12) through containerd 1.6 and
//! `ctr`: the shim's Checkpoint RPC, and a task restored by `ctr
//! containers restore --live`.
//!
//! CRIU comes from `hack/criu` (Debian 12's criu 3.17 fails on this
//! kernel), run once per test binary; without it (no network) the tests
//! skip with the reason. The shim under test (`BERTH_TEST_SHIM`) drives
//! the runtime under test (`BERTH_RUNTIME`, default berth) and gets CRIU
//! the way its options allow:
//! - berth's shim (io.containerd.berth.v2): a runtime config file
//!   (`--runtime-config-path`) with `BinaryName` and `CriuPath`;
//! - under the name io.containerd.runc.v2 (ctr 1.6 sends runc's options
//!   and `tasks checkpoint --exit` only to that name), and for
//!   containerd's own runc shim: `--runc-binary`, and `criu` first in
//!   containerd's PATH, since ctr cannot send `CriuPath`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use conformance::containerd::{
    cgroup_dirs, run_with_timeout, shim, shim_binary_name, shim_is_runc, Containerd, NAMESPACE,
};
use conformance::{runtime, stderr, stdout, workspace};

/// A shell that keeps its count in memory only and writes it out ten
/// times a second, to /count and to stdout: after a restore it goes on
/// from where it was.
const COUNTER: &str =
    "i=0; while :; do i=$((i+1)); echo $i > /count; echo count=$i; sleep 0.1; done";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// hack/criu's wrapper, made once per test binary; `None` if it could
/// not be made (the reason is printed).
fn criu() -> Option<&'static Path> {
    static CRIU: OnceLock<Option<PathBuf>> = OnceLock::new();
    CRIU.get_or_init(|| {
        let mut cmd = std::process::Command::new("bash");
        cmd.arg(workspace().join("hack/criu"));
        match run_with_timeout(&mut cmd, None, &std::env::temp_dir(), secs(600)) {
            Ok(o) if o.status.success() => {
                let path = PathBuf::from(stdout(&o).trim());
                path.is_file().then_some(path)
            }
            Ok(o) => {
                eprintln!("hack/criu failed: {}", stderr(&o));
                None
            }
            Err(o) => {
                eprintln!("hack/criu timed out: {}", stderr(&o));
                None
            }
        }
    })
    .as_deref()
}

/// CRIU, or `None` after printing why the test is skipped.
fn need_criu() -> Option<&'static Path> {
    let c = criu();
    if c.is_none() {
        eprintln!("skipped: hack/criu could not provide a CRIU that works here (network?)");
    }
    c
}

/// A containerd with the busybox image, and the runtime, options and
/// `ctr run` flags that make the shim under test drive the runtime under
/// test with `criu` (see the module documentation).
struct Setup {
    cd: Containerd,
    runtime: String,
    run_opts: Vec<String>,
    /// `CriuWorkPath`, where a restore's CRIU log goes, if it is set.
    restore_work: Option<PathBuf>,
}

impl Setup {
    /// With berth's shim under its own name: options through a runtime
    /// config file. containerd's runc shim takes only runc's options, so
    /// it gets those instead.
    fn new(criu: &Path) -> Setup {
        if shim_is_runc() {
            return Self::as_runc(criu);
        }
        let cd = Containerd::start();
        cd.import_busybox();
        let config = cd.dir.join("runtime.toml");
        let restore_work = cd.dir.join("restore-work");
        std::fs::write(
            &config,
            format!(
                "BinaryName = \"{}\"\nCriuPath = \"{}\"\nCriuWorkPath = \"{}\"\n",
                runtime().display(),
                criu.display(),
                restore_work.display()
            ),
        )
        .unwrap();
        let run_opts = vec![
            "--runtime-config-path".into(),
            config.to_string_lossy().into_owned(),
        ];
        Setup {
            cd,
            runtime: shim(),
            run_opts,
            restore_work: Some(restore_work),
        }
    }

    /// The shim under test as io.containerd.runc.v2, `criu` in PATH.
    fn as_runc(criu: &Path) -> Setup {
        let cd = Containerd::start_with_shim_as_runc();
        cd.import_busybox();
        // containerd's PATH starts with DIR/bin; runtimes look `criu` up
        // when they run it.
        std::os::unix::fs::symlink(criu, cd.dir.join("bin/criu")).unwrap();
        let run_opts = vec![
            "--runc-binary".into(),
            runtime().to_string_lossy().into_owned(),
        ];
        Setup {
            cd,
            runtime: "io.containerd.runc.v2".into(),
            run_opts,
            restore_work: None,
        }
    }

    fn run_detached(&self, id: &str, cmd: &[&str]) {
        self.run_detached_with(&[], id, cmd)
    }

    /// [`Setup::run_detached`] with more `ctr run` flags.
    fn run_detached_with(&self, extra: &[&str], id: &str, cmd: &[&str]) {
        let mut opts: Vec<&str> = self.run_opts.iter().map(String::as_str).collect();
        opts.extend_from_slice(extra);
        self.cd.run_detached_with(&self.runtime, &opts, id, cmd);
        // The task is served by the shim under test.
        let exe = self.cd.shim_exe(id).expect("no shim process for the task");
        let name = exe.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(&shim_binary_name(&shim())),
            "{id} is served by {}",
            exe.display()
        );
    }

    /// The task's bundle (its rootfs is mounted there).
    fn bundle(&self, id: &str) -> PathBuf {
        self.cd
            .dir
            .join("state/io.containerd.runtime.v2.task")
            .join(NAMESPACE)
            .join(id)
    }

    /// The counter the task last wrote, read through its rootfs.
    fn count(&self, id: &str) -> Option<u64> {
        let text = std::fs::read_to_string(self.bundle(id).join("rootfs/count")).ok()?;
        text.trim().parse().ok()
    }

    /// Waits until the counter reaches `at_least`; returns it.
    fn wait_count(&self, id: &str, at_least: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let n = self.count(id);
            if n.is_some_and(|n| n >= at_least) {
                return n.unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "{id} counted to {n:?}, not {at_least}, in {timeout:?}\n{}",
                self.cd.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the task, deletes task and container.
    fn remove(&self, id: &str) {
        let cd = &self.cd;
        cd.ctr_ok(&["tasks", "kill", "-s", "SIGKILL", id]);
        assert!(
            cd.wait_status(id, "STOPPED", secs(20)),
            "{id} is {:?} after SIGKILL",
            cd.task_status(id)
        );
        cd.ctr_ok(&["tasks", "delete", id]);
        cd.ctr_ok(&["containers", "delete", id]);
        let left = cgroup_dirs(id);
        assert!(left.is_empty(), "cgroups left after delete: {left:?}");
    }
}

/// `ctr containers restore` has no `--fifo-dir`: it leaves its task's
/// FIFOs in a directory of /run/containerd/fifo. Removes the ones of
/// container `id` (IDs are unique to the test), also when the test fails.
struct RestoreFifos(String);

impl Drop for RestoreFifos {
    fn drop(&mut self) {
        let prefix = format!("{}-", self.0);
        for dir in std::fs::read_dir("/run/containerd/fifo")
            .into_iter()
            .flatten()
            .flatten()
        {
            let ours = std::fs::read_dir(dir.path())
                .into_iter()
                .flatten()
                .flatten()
                .any(|f| f.file_name().to_string_lossy().starts_with(&prefix));
            if ours {
                let _ = std::fs::remove_dir_all(dir.path());
            }
        }
    }
}

/// A checkpoint (`ctr containers checkpoint --task`) leaves the task
/// running; the task restored from it (`ctr containers restore --live`)
/// in a fresh rootfs from the image counts on from its memory, prints to
/// its new stdout, runs execs, and is killed and deleted as any other.
/// (The runtime makes the mount points the image lacks, such as /run of
/// containerd's default spec, again.)
#[test]
fn a_restored_task_counts_on_from_its_checkpoint() {
    checkpoint_and_restore(false, 1);
}

/// The same with the container's rw layer in the checkpoint (`--rw`).
#[test]
fn a_task_restored_with_its_rw_layer_counts_on() {
    checkpoint_and_restore(true, 1);
}

/// A dump that catches the counter inside `echo $i > /count` (between
/// the redirection's open and close, likelier on a loaded machine) records
/// /count as an open file, which a fresh rootfs lacks and the rw layer may
/// hold at another size: CRIU then refuses the restore, as it should. That
/// is the counter's timing, not the runtime's: such a restore is tried
/// again with a new checkpoint, up to three times.
fn counter_caught_writing(restore_error: &str) -> bool {
    restore_error.contains("files-reg.c") && restore_error.contains("count")
}

fn checkpoint_and_restore(rw: bool, attempt: u32) {
    let Some(criu) = need_criu() else { return };
    let s = Setup::new(criu);
    let cd = &s.cd;
    let id = cd.id("counter");
    let _fifos = RestoreFifos(id.clone());
    s.run_detached(&id, &["sh", "-c", COUNTER]);
    let before = s.wait_count(&id, 50, secs(20));

    let image = format!("docker.io/library/berth-checkpoint-{id}:latest");
    let rw_flag: &[&str] = if rw { &["--rw"] } else { &[] };
    let args = [
        &["containers", "checkpoint", "--task"],
        rw_flag,
        &[&id, &image],
    ]
    .concat();
    let o = cd.ctr(&args);
    cd.assert_ok(&o, &args);
    assert_eq!(
        cd.task_status(&id),
        "RUNNING",
        "the checkpoint stopped the task"
    );
    // A read between the shell's truncate and its write sees nothing: poll.
    let at_checkpoint = s.wait_count(&id, 1, secs(10));
    s.wait_count(&id, at_checkpoint + 5, secs(10));
    s.remove(&id);

    let args = [
        &["containers", "restore", "--live"],
        rw_flag,
        &[&id, &image],
    ]
    .concat();
    let o = cd.ctr(&args);
    let restore_log = s.restore_work.as_ref().map(|w| w.join("restore.log"));
    if !o.status.success() && attempt < 3 && counter_caught_writing(&stderr(&o)) {
        eprintln!(
            "the dump caught the counter writing /count; again: {}",
            stderr(&o)
        );
        let _ = cd.ctr(&["containers", "delete", &id]);
        let _ = cd.ctr(&["images", "rm", &image]);
        drop(s);
        return checkpoint_and_restore(rw, attempt + 1);
    }
    assert!(
        o.status.success(),
        "restore failed: {}\n{}",
        stderr(&o),
        restore_log
            .and_then(|l| std::fs::read_to_string(l).ok())
            .map(|t| t
                .lines()
                .filter(|l| l.contains("Error"))
                .collect::<Vec<_>>()
                .join("\n"))
            .unwrap_or_default()
    );
    if let Some(work) = &s.restore_work {
        // The options' CriuWorkPath, kept across the checkpoint.
        assert!(
            work.join("restore.log").is_file(),
            "no restore.log in {}",
            work.display()
        );
    }
    assert!(
        cd.wait_status(&id, "RUNNING", secs(20)),
        "restored {id} is {:?}",
        cd.task_status(&id)
    );
    // Without --rw the rootfs is the image's again and the first count
    // there comes from the restored memory; with it, /count starts as it
    // was at the checkpoint. Either way it goes on from there at once: a
    // fresh start would count from 1, and take seconds to get back.
    let restored = s.wait_count(&id, 1, secs(10));
    assert!(
        restored >= before && restored <= at_checkpoint + 100,
        "restored at {restored}; checkpointed between {before} and {at_checkpoint}"
    );
    let later = s.wait_count(&id, restored + 5, secs(3));
    // Its stdout is the restore's: the pipe it was dumped with is now
    // the one to the FIFOs containerd gave the restored task.
    let attached = cd.background(&["tasks", "attach", &id]);
    let deadline = Instant::now() + secs(10);
    let printed = loop {
        let text = attached.text();
        let last = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("count=")?.parse::<u64>().ok())
            .max();
        if let Some(n) = last.filter(|n| *n > later) {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "nothing counted past {later} on the restored task's stdout: {text:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(attached);
    assert!(printed > before);
    let o = cd.exec(&id, "read", &[], &["cat", "/count"]);
    cd.assert_ok(&o, &["tasks", "exec", &id, "cat", "/count"]);
    let seen: u64 = stdout(&o).trim().parse().expect("a count");
    assert!(seen >= later, "exec read {seen} after {later}");

    s.remove(&id);
    cd.ctr_ok(&["images", "rm", &image]);
}

/// `ctr tasks checkpoint --exit` (CheckpointOptions.exit) ends the task
/// once dumped; the image and CRIU's work files are where asked.
#[test]
fn a_checkpoint_with_exit_stops_the_task() {
    let Some(criu) = need_criu() else { return };
    // ctr sends checkpoint options to no other runtime name.
    let s = Setup::as_runc(criu);
    let cd = &s.cd;
    let id = cd.id("exit");
    s.run_detached(&id, &["sh", "-c", COUNTER]);
    s.wait_count(&id, 10, secs(20));
    let images = cd.dir.join("images");
    let work = cd.dir.join("criu-work");
    let (img, wrk) = (
        images.to_string_lossy().into_owned(),
        work.to_string_lossy().into_owned(),
    );
    let args = [
        "tasks",
        "checkpoint",
        "--exit",
        "--image-path",
        &img,
        "--work-path",
        &wrk,
        &id,
    ];
    let o = cd.ctr(&args);
    cd.assert_ok(&o, &args);
    assert!(
        cd.wait_status(&id, "STOPPED", secs(20)),
        "{id} is {:?} after checkpoint --exit",
        cd.task_status(&id)
    );
    let last = s.count(&id);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(s.count(&id), last, "the task still counts");
    assert!(
        images.join("inventory.img").is_file(),
        "no CRIU image in {}",
        images.display()
    );
    assert!(
        work.join("dump.log").is_file(),
        "no dump.log in the work path {}",
        work.display()
    );
    // The runtime forgot the container; delete still cleans up.
    cd.ctr_ok(&["tasks", "delete", &id]);
    cd.ctr_ok(&["containers", "delete", &id]);
    assert!(cgroup_dirs(&id).is_empty(), "cgroups left after delete");
}

/// A dump CRIU refuses (an established TCP connection without
/// `open_tcp`) fails the RPC with the runtime's error, which names the
/// CRIU log kept in the bundle; the task keeps running. (CRIU 4.1.1 on
/// this kernel fails even on a listening TCP socket, whose SO_PASSCRED
/// the kernel no longer reports; the connection makes it fail anywhere.)
#[test]
fn a_failing_checkpoint_reports_the_runtimes_error() {
    let Some(criu) = need_criu() else { return };
    let s = Setup::new(criu);
    let cd = &s.cd;
    let id = cd.id("tcp");
    // A connection over the host's loopback (--net-host: a new network
    // namespace's loopback is up under runc but not under every runtime),
    // on a port of this test process. busybox's nc ends the connection
    // at the end of its stdin.
    let port = (20000 + std::process::id() % 40000).to_string();
    let script = format!(
        "sleep 1000 | nc -l -p {port} > /dev/null & sleep 0.5; \
         sleep 1000 | nc 127.0.0.1 {port} > /dev/null & {COUNTER}"
    );
    s.run_detached_with(&["--net-host"], &id, &["sh", "-c", &script]);
    s.wait_count(&id, 10, secs(20));
    let established = format!(":{:04X} ", port.parse::<u16>().unwrap());
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default()
        + &std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    assert!(
        tcp.lines()
            .any(|l| l.contains(&established) && l.split_whitespace().nth(3) == Some("01")),
        "no established connection on port {port}"
    );
    let image = format!("docker.io/library/berth-checkpoint-{id}:latest");
    let o = cd.ctr(&["containers", "checkpoint", "--task", &id, &image]);
    assert!(
        !o.status.success(),
        "checkpoint with an open TCP connection succeeded"
    );
    let said = stderr(&o);
    let log = said
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !(c.is_alphanumeric() || "/-._".contains(c))))
        .find(|w| w.ends_with("criu-dump.log"))
        .unwrap_or_else(|| panic!("the error names no CRIU log: {said}"));
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        text.contains("Dumping FAILED"),
        "{log} is not CRIU's log of the failed dump:\n{text}"
    );
    assert!(said.to_lowercase().contains("criu"), "{said}");
    assert!(
        cd.wait_status(&id, "RUNNING", secs(10)),
        "{id} is {:?} after a failed checkpoint",
        cd.task_status(&id)
    );
    // A read between the shell's truncate and its write sees nothing: poll.
    let now = s.wait_count(&id, 1, secs(10));
    s.wait_count(&id, now + 5, secs(10));
    s.remove(&id);
}
