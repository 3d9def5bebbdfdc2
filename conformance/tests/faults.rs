//! Faults: berth killed with SIGKILL at each step of create, start, exec
//! and delete (its `BERTH_FAULT` crash points, runtime/src/fault.rs), a
//! container whose process dies by itself, and a recycled pid. Afterwards
//! `state` never reports a status the kernel contradicts, and
//! `delete --force` leaves no process, mount, cgroup or state directory.
//!
//! The crash points are berth's own: with another runtime the tests that
//! use them are skipped.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use conformance::{in_every_hierarchy, is_runc, poll_until, stderr, Fixture};

fn sigkill(pid: i32) {
    // SAFETY: kill(2) with a pid and a signal number.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

static SERIAL: AtomicU32 = AtomicU32::new(0);

/// A fixture whose container sleeps for a duration no other process on the
/// machine uses (so its processes can be found by command line), in a
/// cgroup of its own name (so its directories can be found).
struct Victim {
    f: Fixture,
    cgroup: String,
    marker: String,
}

impl Victim {
    fn new(name: &str) -> Victim {
        let mut f = Fixture::new(name);
        let n = SERIAL.fetch_add(1, Ordering::SeqCst);
        let marker = format!("{}", 700_000 + (std::process::id() % 1000) * 100 + n);
        f.args(&["sleep", &marker]);
        let cgroup = format!("berth-fault-{}", f.id);
        f.config["linux"]["cgroupsPath"] = format!("/{cgroup}").into();
        Victim { f, cgroup, marker }
    }

    /// Runs berth with the crash point `step` armed and checks it died there.
    fn crash(&self, step: &str, args: &[&str]) {
        self.f.write_config();
        let mut c = self.f.runtime_cmd(args);
        c.env("BERTH_FAULT", step)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let out = conformance::wait_output(c.spawn().unwrap(), Duration::from_secs(30));
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGKILL),
            "berth did not stop at {step}: {:?}",
            out.status
        );
    }

    fn create(&self) {
        let out = self.f.create(&[]);
        assert!(
            out.status.success(),
            "create: {}",
            self.f.container_output()
        );
    }

    fn start(&self) {
        let out = self.f.rt(&["start", &self.f.id]);
        assert!(out.status.success(), "start: {}", stderr(&out));
    }

    /// Processes running this victim's command line (its init after
    /// execve, or an exec of the same command).
    fn processes(&self) -> Vec<u32> {
        let want = format!("sleep\0{}\0", self.marker);
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want.as_bytes())
            })
            .collect()
    }

    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        in_every_hierarchy(&self.cgroup)
            .into_iter()
            .filter(|d| d.exists())
            .collect()
    }

    /// `state`'s status, or None when state fails (with a message).
    fn status(&self) -> Option<String> {
        let out = self.f.rt(&["state", &self.f.id]);
        if !out.status.success() {
            assert!(!stderr(&out).trim().is_empty(), "state failed silently");
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("state is JSON");
        Some(v["status"].as_str().unwrap().to_string())
    }

    /// delete --force works and leaves nothing: no state directory, no
    /// mount, no cgroup directory, no process.
    fn delete_leaves_nothing(&self) {
        let out = self.f.rt(&["delete", "--force", &self.f.id]);
        assert!(out.status.success(), "delete --force: {}", stderr(&out));
        self.f.assert_clean(&self.f.id);
        assert_eq!(self.cgroup_dirs(), Vec::<PathBuf>::new(), "cgroups left");
        assert!(
            poll_until(Duration::from_secs(5), || self.processes().is_empty()),
            "processes left: {:?}",
            self.processes()
        );
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        // If an assertion failed half-way: what the test left goes too.
        for pid in self.processes() {
            sigkill(pid as i32);
        }
        for d in self.cgroup_dirs() {
            for pid in std::fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
            {
                if let Ok(p) = pid.parse() {
                    sigkill(p);
                }
            }
        }
        let dirs = self.cgroup_dirs();
        poll_until(Duration::from_secs(5), || {
            dirs.iter()
                .all(|d| std::fs::remove_dir(d).is_ok() || !d.exists())
        });
    }
}

/// A create killed before it wrote state.json: `state` fails or says
/// stopped (never created or running), and delete removes the cgroups it
/// made; an init it left exits by itself (until create has recorded the
/// state, init waits on the sync socket and takes its end as create's
/// death).
#[test]
fn a_create_killed_at_any_step_is_deleted_without_a_trace() {
    if is_runc() {
        return;
    }
    for step in [
        "create:dir",
        "create:cgroups",
        "create:cloned",
        "create:ready",
    ] {
        killed_create_leaves_nothing(&Victim::new("fault-create"), step);
    }
}

/// The same where an intermediate process clones init (a user namespace
/// joined by path and a pid namespace of the container's own): init is
/// still create's child, and dies with it.
#[test]
fn a_create_through_an_intermediate_killed_at_any_step_is_deleted_without_a_trace() {
    if is_runc() {
        return;
    }
    let mut holder = Fixture::new("fault-holder");
    holder.args(&["sleep", "1000"]);
    let map = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    holder.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "user"}));
    holder.config["linux"]["uidMappings"] = map.clone();
    holder.config["linux"]["gidMappings"] = map;
    let o = holder.create(&[]);
    assert!(o.status.success(), "{}", holder.container_output());
    let pid = holder.state()["pid"].as_i64().unwrap();
    for step in ["create:cloned", "create:ready"] {
        let mut v = Victim::new("fault-intermediate");
        v.f.config["linux"]["namespaces"] = serde_json::json!([
            {"type": "user", "path": format!("/proc/{pid}/ns/user")},
            {"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}
        ]);
        killed_create_leaves_nothing(&v, step);
    }
}

fn killed_create_leaves_nothing(v: &Victim, step: &str) {
    let bundle = v.f.bundle.to_str().unwrap().to_string();
    v.crash(step, &["create", "--bundle", &bundle, &v.f.id]);
    let status = v.status();
    assert!(
        matches!(status.as_deref(), None | Some("stopped")),
        "{step}: state says {status:?}"
    );
    // Nothing of the container runs its program, and its init, whose
    // parent died, exits by itself: its cgroups empty before delete.
    assert!(v.processes().is_empty(), "{step}: the program ran");
    let procs = || -> usize {
        v.cgroup_dirs()
            .iter()
            .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
            .map(|t| t.lines().count())
            .sum()
    };
    assert!(
        poll_until(Duration::from_secs(5), || procs() == 0),
        "{step}: init outlived create"
    );
    v.delete_leaves_nothing();
}

/// A create killed after it wrote state.json has made a whole container.
#[test]
fn a_create_killed_after_saving_state_leaves_a_created_container() {
    if is_runc() {
        return;
    }
    let v = Victim::new("fault-saved");
    let bundle = v.f.bundle.to_str().unwrap().to_string();
    v.crash("create:saved", &["create", "--bundle", &bundle, &v.f.id]);
    assert_eq!(v.status().as_deref(), Some("created"));
    v.start();
    assert!(poll_until(Duration::from_secs(5), || !v
        .processes()
        .is_empty()));
    assert_eq!(v.status().as_deref(), Some("running"));
    v.delete_leaves_nothing();
}

/// A start killed after it let init go: the program runs, and `state` says
/// running although the exec fifo is still there.
#[test]
fn a_start_killed_after_releasing_init_reports_running() {
    if is_runc() {
        return;
    }
    let v = Victim::new("fault-start");
    v.create();
    v.crash("start:released", &["start", &v.f.id]);
    assert!(
        poll_until(Duration::from_secs(5), || !v.processes().is_empty()),
        "the program did not run"
    );
    assert_eq!(v.status().as_deref(), Some("running"));
    let again = v.f.rt(&["start", &v.f.id]);
    assert!(!again.status.success(), "a second start succeeded");
    v.delete_leaves_nothing();
}

/// An exec killed after cloning its child: the child dies with it, the
/// container runs on.
#[test]
fn an_exec_killed_after_clone_leaves_no_process() {
    if is_runc() {
        return;
    }
    let v = Victim::new("fault-exec");
    v.create();
    v.start();
    assert!(poll_until(Duration::from_secs(5), || v.processes().len() == 1));
    v.crash("exec:cloned", &["exec", &v.f.id, "sleep", &v.marker]);
    assert_eq!(v.status().as_deref(), Some("running"));
    let pids = v.f.state()["pid"].as_i64().unwrap();
    let procs_file = v
        .cgroup_dirs()
        .into_iter()
        .map(|d| d.join("cgroup.procs"))
        .find(|p| p.exists())
        .expect("a cgroup.procs");
    assert!(
        poll_until(Duration::from_secs(5), || {
            std::fs::read_to_string(&procs_file).unwrap().trim() == pids.to_string()
        }),
        "the exec's child outlived it: {}",
        std::fs::read_to_string(&procs_file).unwrap()
    );
    v.delete_leaves_nothing();
}

/// A delete killed half-way: the container is stopped, and a second delete
/// finishes the job.
#[test]
fn a_delete_killed_half_way_can_be_finished() {
    if is_runc() {
        return;
    }
    for step in ["delete:killed", "delete:cgroups"] {
        let v = Victim::new("fault-delete");
        v.create();
        v.start();
        v.crash(step, &["delete", "--force", &v.f.id]);
        assert_eq!(v.status().as_deref(), Some("stopped"), "{step}");
        assert!(v.processes().is_empty(), "{step}: the program survived");
        v.delete_leaves_nothing();
    }
}

/// Without a mount namespace the container's mounts are in the caller's
/// (berth's, this test's): a create killed once init has made them, or a
/// delete killed before it unmounted them, leaves them for
/// `delete --force`, which takes every one away.
#[test]
fn without_a_mount_namespace_nothing_stays_mounted_after_a_crash() {
    if is_runc() {
        return;
    }
    let mounted = |v: &Victim| -> usize {
        let dir = v.f.dir.to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&dir)))
            .count()
    };
    for step in [
        "create:cloned",
        "create:ready",
        "create:saved",
        "delete:killed",
    ] {
        let mut v = Victim::new("fault-nomntns");
        conformance::without_namespace(&mut v.f.config, "mount");
        let bundle = v.f.bundle.to_str().unwrap().to_string();
        if step.starts_with("create") {
            v.crash(step, &["create", "--bundle", &bundle, &v.f.id]);
        } else {
            v.create();
            v.start();
            v.crash(step, &["delete", "--force", &v.f.id]);
        }
        // From the point init said ready, all its mounts are there.
        if step != "create:cloned" {
            assert!(mounted(&v) > 5, "{step}: {} mounts", mounted(&v));
        }
        v.delete_leaves_nothing();
    }
}

/// A container whose init is killed from outside (not through berth) is
/// stopped, and a plain delete removes it.
#[test]
fn a_container_whose_process_dies_by_itself_is_stopped() {
    let v = Victim::new("fault-self");
    v.create();
    v.start();
    let pid = v.f.state()["pid"].as_i64().unwrap() as i32;
    sigkill(pid);
    assert!(v.f.wait_status("stopped"), "status {}", v.f.status());
    assert_eq!(v.f.state()["pid"].as_i64(), Some(0));
    let out = v.f.rt(&["delete", &v.f.id]);
    assert!(out.status.success(), "delete: {}", stderr(&out));
    v.delete_leaves_nothing();
}

/// A stranger that got the pid of the container's dead init is never
/// signalled by kill or delete: the pid is made to come back with
/// /proc/sys/kernel/ns_last_pid.
#[test]
fn a_recycled_pid_is_never_signalled() {
    let v = Victim::new("fault-pid");
    v.create();
    let pid = v.f.state()["pid"].as_i64().unwrap() as i32;
    sigkill(pid);
    assert!(v.f.wait_status("stopped"));
    assert!(poll_until(Duration::from_secs(5), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    }));
    let Some(mut stranger) = spawn_with_pid(pid) else {
        eprintln!("skipped: pid {pid} could not be made to come back");
        return;
    };
    for args in [
        vec!["kill", &v.f.id, "KILL"],
        vec!["kill", "--all", &v.f.id, "KILL"],
        vec!["delete", "--force", &v.f.id],
    ] {
        let _ = v.f.rt(&args);
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            stranger.try_wait().unwrap().is_none(),
            "`{}` signalled the stranger with the recycled pid {pid}",
            args.join(" ")
        );
    }
    let _ = stranger.kill();
    let _ = stranger.wait();
    v.delete_leaves_nothing();
}

/// A `sleep` whose pid is `pid`, by setting the last pid handed out just
/// below it; other processes forking at the same moment can take it first,
/// so a few tries.
fn spawn_with_pid(pid: i32) -> Option<std::process::Child> {
    for _ in 0..20 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).ok()?;
        let mut c = Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .spawn()
            .ok()?;
        if c.id() as i32 == pid {
            return Some(c);
        }
        let _ = c.kill();
        let _ = c.wait();
    }
    None
}
