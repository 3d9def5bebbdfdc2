//! The systemd cgroup driver (`--systemd-cgroup`), on a host where systemd
//! is PID 1 and cgroup v2 the only hierarchy (`hack/vm --guest systemd`):
//! the container's cgroup is a transient unit named by cgroupsPath
//! (`slice:prefix:name`), with its limits as unit properties and in the
//! files, and every command works on it; delete removes the unit.
//! Skipped elsewhere.
//!
//! The units are checked with `systemctl show`, as an administrator
//! would see them.

use std::path::{Path, PathBuf};
use std::process::Command;

use conformance::{is_runc, stderr, Fixture, TestUser};
use serde_json::json;

fn systemd_host() -> bool {
    let unified = !std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(" - cgroup ");
    let ok = Path::new("/run/systemd/system").exists() && unified;
    if !ok {
        eprintln!("skipped: not a systemd host on cgroup v2 alone");
    }
    ok
}

/// A fixture driving the runtime with `--systemd-cgroup`, its container a
/// `berthtest-ID.scope` in `slice`.
fn fixture(name: &str, slice: &str) -> Fixture {
    let mut f = Fixture::new(name);
    f.global = vec!["--systemd-cgroup".into()];
    f.config["linux"]["cgroupsPath"] = json!(format!("{slice}:berthtest:{}", f.id));
    f
}

fn unit(f: &Fixture) -> String {
    format!("berthtest-{}.scope", f.id)
}

/// `systemctl show UNIT -p NAME --value` (as the user, with `user`).
fn show(user: Option<&TestUser>, unit: &str, prop: &str) -> String {
    let mut c = Command::new("systemctl");
    if let Some(u) = user {
        use std::os::unix::process::CommandExt;
        c.uid(u.uid)
            .gid(u.gid)
            .env("XDG_RUNTIME_DIR", format!("/run/user/{}", u.uid))
            .arg("--user");
    }
    let o = c
        .args(["show", unit, "-p", prop, "--value"])
        .output()
        .expect("systemctl");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn cgroup_of(pid: i64) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let rel = text.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/'))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

fn created(f: &mut Fixture, args: &[&str]) -> i64 {
    f.args(args);
    let out = f.create(&[]);
    assert!(out.status.success(), "create: {}", f.container_output());
    f.state()["pid"].as_i64().unwrap()
}

/// `system.slice:berthtest:ID` is the scope berthtest-ID.scope in
/// system.slice, delegated, with init in it; delete stops it and nothing
/// of it is left.
#[test]
fn the_container_is_a_delegated_scope_in_its_slice() {
    if !systemd_host() {
        return;
    }
    let mut f = fixture("sdscope", "system.slice");
    let pid = created(&mut f, &["sleep", "1000"]);
    let u = unit(&f);
    let cg = cgroup_of(pid);
    assert_eq!(cg, Path::new("/sys/fs/cgroup/system.slice").join(&u));
    assert_eq!(show(None, &u, "ActiveState"), "active");
    assert_eq!(show(None, &u, "Delegate"), "yes");
    assert_eq!(show(None, &u, "ControlGroup"), format!("/system.slice/{u}"));
    assert!(f.rt(&["start", &f.id]).status.success());
    assert!(f.rt(&["kill", &f.id, "KILL"]).status.success());
    assert!(f.wait_status("stopped"));
    let d = f.rt(&["delete", &f.id]);
    assert!(d.status.success(), "delete: {}", stderr(&d));
    assert_eq!(show(None, &u, "LoadState"), "not-found");
    assert!(!cg.exists(), "{} left", cg.display());
}

/// Without cgroupsPath the unit is the runtime's own scope in
/// system.slice (runc's is runc-ID.scope).
#[test]
fn the_default_is_a_scope_named_after_the_runtime() {
    if !systemd_host() {
        return;
    }
    let mut f = fixture("sddefault", "system.slice");
    f.config["linux"]
        .as_object_mut()
        .unwrap()
        .remove("cgroupsPath");
    let pid = created(&mut f, &["sleep", "1000"]);
    let name = if is_runc() { "runc" } else { "berth" };
    assert_eq!(
        cgroup_of(pid),
        Path::new("/sys/fs/cgroup/system.slice").join(format!("{name}-{}.scope", f.id))
    );
}

/// `a-b.slice` lives in `a.slice`: the slices are made on demand, as
/// systemd lays them out.
#[test]
fn nested_slices_are_made_on_demand() {
    if !systemd_host() {
        return;
    }
    let mut f = fixture("sdnested", "berthtest-a-b.slice");
    let pid = created(&mut f, &["sleep", "1000"]);
    assert_eq!(
        cgroup_of(pid),
        Path::new("/sys/fs/cgroup/berthtest.slice/berthtest-a.slice/berthtest-a-b.slice")
            .join(unit(&f))
    );
    assert_eq!(show(None, "berthtest-a-b.slice", "ActiveState"), "active");
    // The slices stay after delete, as with runc: other units may be in
    // them (an engine's pods). This test's go when it is done.
    drop(f);
    let stop = Command::new("systemctl")
        .args(["stop", "berthtest.slice"])
        .status();
    assert!(stop.unwrap().success());
}

/// The limits systemd can express are unit properties (so a
/// daemon-reload keeps them), and every limit is in the files.
#[test]
fn limits_are_unit_properties_and_files() {
    if !systemd_host() {
        return;
    }
    let mut f = fixture("sdlimits", "system.slice");
    f.config["linux"]["resources"] = json!({
        "memory": {"limit": 67108864, "reservation": 33554432},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
        "pids": {"limit": 42}
    });
    let pid = created(&mut f, &["sleep", "1000"]);
    let (u, cg) = (unit(&f), cgroup_of(pid));
    assert_eq!(show(None, &u, "MemoryMax"), "67108864");
    assert_eq!(show(None, &u, "MemoryLow"), "33554432");
    assert_eq!(show(None, &u, "TasksMax"), "42");
    assert_eq!(show(None, &u, "CPUQuotaPerSecUSec"), "500ms");
    assert_eq!(show(None, &u, "AllowedCPUs"), "0");
    assert_eq!(read(&cg.join("memory.max")), "67108864");
    assert_eq!(read(&cg.join("pids.max")), "42");
    assert_eq!(read(&cg.join("cpu.max")), "50000 100000");
    assert_eq!(read(&cg.join("cpuset.cpus")), "0");
    // shares 512 as runc converts them.
    assert_eq!(read(&cg.join("cpu.weight")), "20");
    // What systemd would write again on a reload is what the files say.
    assert!(Command::new("systemctl")
        .arg("daemon-reload")
        .status()
        .unwrap()
        .success());
    assert_eq!(read(&cg.join("memory.max")), "67108864");
    assert_eq!(read(&cg.join("pids.max")), "42");
}

/// update changes the unit's properties and the files.
#[test]
fn update_changes_the_unit_and_the_files() {
    if !systemd_host() {
        return;
    }
    let mut f = fixture("sdupdate", "system.slice");
    f.config["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "pids": {"limit": 42}});
    let pid = created(&mut f, &["sleep", "1000"]);
    let o = f.rt(&[
        "update",
        "--memory",
        "134217728",
        "--pids-limit",
        "7",
        &f.id,
    ]);
    assert!(o.status.success(), "update: {}", stderr(&o));
    let (u, cg) = (unit(&f), cgroup_of(pid));
    assert_eq!(show(None, &u, "MemoryMax"), "134217728");
    assert_eq!(show(None, &u, "TasksMax"), "7");
    assert_eq!(read(&cg.join("memory.max")), "134217728");
    assert_eq!(read(&cg.join("pids.max")), "7");
}

/// pause, resume, ps, exec, events and kill --all work on the unit's
/// cgroup as on one of cgroupfs.
#[test]
fn every_command_works_on_the_units_cgroup() {
    if !systemd_host() {
        return;
    }
    let mut f = fixture("sdcmds", "system.slice");
    let pid = created(&mut f, &["sleep", "1000"]);
    assert!(f.rt(&["start", &f.id]).status.success());
    let cg = cgroup_of(pid);
    let e = f.rt(&["exec", "-d", &f.id, "sleep", "999"]);
    assert!(e.status.success(), "exec: {}", stderr(&e));
    let procs = read(&cg.join("cgroup.procs"));
    assert_eq!(
        procs.lines().count(),
        2,
        "init and the exec'd process: {procs}"
    );
    let ps = f.rt(&["ps", "--format", "json", &f.id]);
    let pids: Vec<i64> = serde_json::from_slice(&ps.stdout).expect("ps --format json");
    assert_eq!(pids.len(), 2);
    assert!(f.rt(&["pause", &f.id]).status.success());
    assert_eq!(f.status(), "paused");
    assert!(read(&cg.join("cgroup.events")).contains("frozen 1"));
    assert!(f.rt(&["resume", &f.id]).status.success());
    assert_eq!(f.status(), "running");
    let ev = f.rt(&["events", "--stats", &f.id]);
    assert!(ev.status.success(), "events: {}", stderr(&ev));
    let stats: serde_json::Value = serde_json::from_slice(&ev.stdout).unwrap();
    assert_eq!(stats["data"]["pids"]["current"], 2);
    assert!(f.rt(&["kill", "--all", &f.id, "KILL"]).status.success());
    assert!(f.wait_status("stopped"));
    assert!(f.rt(&["delete", &f.id]).status.success());
    assert_eq!(show(None, &unit(&f), "LoadState"), "not-found");
}

/// org.systemd.property.* annotations become unit properties, as runc
/// documents them; a `Sec` property takes seconds.
#[test]
fn annotations_set_unit_properties() {
    if !systemd_host() {
        return;
    }
    let mut f = fixture("sdannot", "system.slice");
    f.config["annotations"] = json!({
        "org.systemd.property.TimeoutStopUSec": "uint64 123456789",
        "org.systemd.property.CollectMode": "'inactive-or-failed'",
        "org.systemd.property.RuntimeMaxSec": "600",
    });
    created(&mut f, &["sleep", "1000"]);
    let u = unit(&f);
    assert_eq!(show(None, &u, "TimeoutStopUSec"), "2min 3.456789s");
    assert_eq!(show(None, &u, "CollectMode"), "inactive-or-failed");
    assert_eq!(show(None, &u, "RuntimeMaxUSec"), "10min");
}

/// A unit that failed (RuntimeMaxSec ran out) is reset at delete: its
/// name is free again (runc's "delete removes failed systemd unit").
#[test]
fn delete_removes_a_failed_unit() {
    if !systemd_host() {
        return;
    }
    let mut f = fixture("sdfailed", "system.slice");
    f.config["annotations"] = json!({
        "org.systemd.property.RuntimeMaxSec": "2",
        "org.systemd.property.TimeoutStopSec": "1",
    });
    created(&mut f, &["sleep", "10"]);
    assert!(f.rt(&["start", &f.id]).status.success());
    assert!(
        f.wait_status("stopped") || {
            std::thread::sleep(std::time::Duration::from_secs(3));
            f.wait_status("stopped")
        }
    );
    let u = unit(&f);
    let d = f.rt(&["delete", &f.id]);
    assert!(d.status.success(), "delete: {}", stderr(&d));
    assert_eq!(show(None, &u, "LoadState"), "not-found");
}

/// Bad cgroupsPaths are refused by name and leave no unit and no state.
#[test]
fn bad_paths_are_refused_and_leave_nothing() {
    if !systemd_host() {
        return;
    }
    for (n, path) in ["a:b", "/abs/path", "a--b.slice:p:x", "system:p:x"]
        .iter()
        .enumerate()
    {
        let mut f = Fixture::new("sdbad");
        f.global = vec!["--systemd-cgroup".into()];
        f.config["linux"]["cgroupsPath"] = json!(path);
        f.write_config();
        let err = f.create_fails(&format!("sdbad{n}-{}", std::process::id()));
        assert!(
            err.contains("cgroupsPath") || err.contains("slice"),
            "{path}: {err}"
        );
    }
}

/// The user named by BERTH_SYSTEMD_USER, whose own systemd instance runs
/// (lingering), as the rootless tests' user.
fn systemd_user() -> Option<&'static TestUser> {
    let name = std::env::var("BERTH_SYSTEMD_USER").ok()?;
    let id = |flag: &str| -> Option<u32> {
        let o = Command::new("id").args([flag, &name]).output().ok()?;
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    };
    let (uid, gid) = (id("-u")?, id("-g")?);
    if !Path::new(&format!("/run/user/{uid}/systemd/private")).exists() {
        eprintln!("skipped: {name}'s systemd instance does not run");
        return None;
    }
    Some(Box::leak(Box::new(TestUser {
        name: Box::leak(name.into_boxed_str()),
        uid,
        gid,
        subids: 0,
    })))
}

/// A rootless fixture run by `user` in its systemd session (its
/// /run/user/UID), limited to 64 MiB and 42 pids.
fn user_fixture(name: &str, user: &'static TestUser) -> Fixture {
    let mut f = Fixture::new(name);
    f.user = Some(user);
    f.config = conformance::rootless_config(f.config.clone(), user.uid, user.gid);
    f.xdg = Some(PathBuf::from(format!("/run/user/{}", user.uid)));
    f.config["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "pids": {"limit": 42}});
    std::os::unix::fs::chown(&f.dir, Some(user.uid), Some(user.gid)).unwrap();
    f
}

/// Rootless: the unit is the user's own manager's, below its delegated
/// subtree, in user.slice by default, with the limits the user's
/// delegation allows (memory, pids, cpu).
#[test]
fn rootless_containers_are_units_of_the_users_own_manager() {
    if !systemd_host() {
        return;
    }
    let Some(user) = systemd_user() else {
        eprintln!("skipped: no BERTH_SYSTEMD_USER");
        return;
    };
    let mut f = user_fixture("sdrootless", user);
    f.global = vec!["--systemd-cgroup".into()];
    f.config["linux"]["cgroupsPath"] = json!(format!(":berthtest:{}", f.id));
    let pid = created(&mut f, &["sleep", "1000"]);
    let cg = cgroup_of(pid);
    let manager = format!(
        "/sys/fs/cgroup/user.slice/user-{0}.slice/user@{0}.service/user.slice",
        user.uid
    );
    assert_eq!(cg, Path::new(&manager).join(unit(&f)));
    assert_eq!(show(Some(user), &unit(&f), "MemoryMax"), "67108864");
    assert_eq!(read(&cg.join("memory.max")), "67108864");
    assert_eq!(read(&cg.join("pids.max")), "42");
    assert!(f.rt(&["start", &f.id]).status.success());
    assert!(f.rt(&["kill", &f.id, "KILL"]).status.success());
    assert!(f.wait_status("stopped"));
    let d = f.rt(&["delete", &f.id]);
    assert!(d.status.success(), "delete: {}", stderr(&d));
    assert_eq!(show(Some(user), &unit(&f), "LoadState"), "not-found");
    assert!(!cg.exists());
}

/// Rootless with cgroupfs, on cgroup v2 delegated by systemd: a
/// cgroupsPath in the user's own subtree (user@UID.service, which systemd
/// hands to the user with memory, pids and cpu) gets its limits, as the
/// cgroupfs driver writes them, and delete removes it.
#[test]
fn rootless_cgroupfs_limits_in_the_subtree_systemd_delegates() {
    if !systemd_host() {
        return;
    }
    let Some(user) = systemd_user() else {
        eprintln!("skipped: no BERTH_SYSTEMD_USER");
        return;
    };
    let mut f = user_fixture("sddelegated", user);
    let service = format!("/user.slice/user-{0}.slice/user@{0}.service", user.uid);
    f.config["linux"]["cgroupsPath"] = json!(format!("{service}/berthtest-{}", f.id));
    // The user runs the runtime from inside its subtree, as from a shell of
    // its session manager's (a process may only be moved by one who may
    // write the cgroup.procs of both cgroups' common ancestor).
    let runner = Path::new("/sys/fs/cgroup")
        .join(service.trim_start_matches('/'))
        .join(format!("berthtest-runner-{}", f.id));
    std::fs::create_dir(&runner).unwrap();
    let _runner = Removed(runner.clone());
    f.args(&["sleep", "1000"]);
    f.write_config();
    let bundle = f.bundle.to_str().unwrap().to_string();
    let out = run_in_cgroup(&f, user, &["create", "--bundle", &bundle, &f.id], &runner);
    assert!(out.status.success(), "create: {}", stderr(&out));
    let pid = f.state()["pid"].as_i64().unwrap();
    let cg = cgroup_of(pid);
    assert_eq!(
        cg,
        Path::new("/sys/fs/cgroup")
            .join(service.trim_start_matches('/'))
            .join(format!("berthtest-{}", f.id))
    );
    assert_eq!(read(&cg.join("memory.max")), "67108864");
    assert_eq!(read(&cg.join("pids.max")), "42");
    assert!(f.rt(&["start", &f.id]).status.success());
    assert!(f.rt(&["kill", &f.id, "KILL"]).status.success());
    assert!(f.wait_status("stopped"));
    let d = f.rt(&["delete", &f.id]);
    assert!(d.status.success(), "delete: {}", stderr(&d));
    assert!(!cg.exists(), "{} left", cg.display());
}

/// A cgroup directory removed when dropped (once empty).
struct Removed(PathBuf);
impl Drop for Removed {
    fn drop(&mut self) {
        conformance::poll_until(std::time::Duration::from_secs(10), || {
            std::fs::remove_dir(&self.0).is_ok() || !self.0.exists()
        });
    }
}

/// Runs the runtime as `user` with `args` from cgroup `dir`: a shell,
/// as the user, waits until this process has moved it there, then
/// becomes the runtime. Its output goes through a file (a container would
/// hold a pipe open).
fn run_in_cgroup(f: &Fixture, user: &TestUser, args: &[&str], dir: &Path) -> std::process::Output {
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let log = f.dir.join("in-cgroup.out");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("read _ && exec \"$0\" \"$@\"")
        .arg(conformance::runtime_for_user())
        .args(&f.global)
        .arg("--root")
        .arg(&f.root)
        .args(args)
        .uid(user.uid)
        .gid(user.gid)
        .env("XDG_RUNTIME_DIR", format!("/run/user/{}", user.uid))
        .stdin(Stdio::piped())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("spawn sh");
    std::fs::write(dir.join("cgroup.procs"), child.id().to_string()).unwrap();
    let mut go = child.stdin.take().unwrap();
    go.write_all(b"go\n").unwrap();
    drop(go);
    let mut out = conformance::wait_output(child, std::time::Duration::from_secs(30));
    out.stderr = std::fs::read(&log).unwrap_or_default();
    out
}
