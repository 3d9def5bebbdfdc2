//! User namespaces: the container's root is an unprivileged host user, and
//! the container still works.

use conformance::{host_ns, stderr, Fixture};
use serde_json::{json, Value};

const HOST_ID: u32 = 100000;

/// Puts the fixture's container in a new user namespace mapping container
/// ids 0..65536 to host ids 100000.., as container engines do.
fn with_userns(f: &mut Fixture) {
    f.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": HOST_ID, "size": 65536}]);
    f.config["linux"]["uidMappings"] = map.clone();
    f.config["linux"]["gidMappings"] = map;
}

fn has_mount(r: &Value, target: &str, fstype: &str) -> bool {
    conformance::mount_at(r, target).is_some_and(|m| m["fstype"] == fstype)
}

/// The maps are the configured ones, the process is root inside, and the
/// rootfs, /proc and /sys work.
#[test]
fn container_root_is_mapped_to_an_unprivileged_host_user() {
    let mut f = Fixture::new("userns");
    with_userns(&mut f);
    let r = f.probe_report();
    assert_ne!(r["namespaces"]["user"], host_ns("user"));
    assert_eq!(r["uid_map"], json!(["0 100000 65536"]));
    assert_eq!(r["gid_map"], json!(["0 100000 65536"]));
    assert_eq!(r["uid"], "0\t0\t0\t0");
    assert_eq!(r["setgroups"], "allow");
    assert!(has_mount(&r, "/proc", "proc"), "{}", r["mounts"]);
    assert!(has_mount(&r, "/sys", "sysfs"), "{}", r["mounts"]);
}

/// Files the container's root creates on a host directory belong to the
/// mapped host user, not to the host's root.
#[test]
fn files_created_by_container_root_belong_to_the_mapped_host_user() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut f = Fixture::new("usernsfile");
    with_userns(&mut f);
    let host = f.dir.join("shared");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o777)).unwrap();
    f.config["mounts"]
        .as_array_mut()
        .unwrap()
        // An existing directory: the rootfs belongs to the host's root,
        // so the container's root cannot make new mount points in it.
        .push(json!({"destination": "/tmp", "type": "bind", "source": host, "options": ["rbind"]}));
    let r = f.probe_mode(&["write", "/tmp/made-inside", "x"]);
    assert_eq!(r["ok"], true, "{r}");
    let meta = std::fs::metadata(host.join("made-inside")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (HOST_ID, HOST_ID));
}

/// A bind mount's source below a directory only the host's root may enter
/// (containerd's CRI keeps a pod's shm there, under its 0700 state dir) is
/// mounted all the same: the container's root could not reach it by path.
#[test]
fn a_bind_source_the_user_namespace_cannot_reach_is_mounted() {
    use std::os::unix::fs::PermissionsExt;
    let mut f = Fixture::new("usernsclosed");
    with_userns(&mut f);
    let closed = f.dir.join("closed");
    let shm = closed.join("shm");
    std::fs::create_dir_all(&shm).unwrap();
    std::fs::write(shm.join("marker"), "from the host").unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    f.config["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/tmp", "type": "bind", "source": shm, "options": ["rbind", "ro"]}),
    );
    let r = f.probe_mode(&["read", "/tmp/marker"]);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["content"], "from the host", "{r}");
}

/// Without a network namespace of its own, sysfs cannot be mounted from a
/// user namespace: /sys is still there (the host's, bound read-only).
#[test]
fn sys_works_in_a_user_namespace_without_a_network_namespace() {
    if conformance::is_runc() {
        // runc 1.1 fails the sysfs mount with EPERM here; crun binds the
        // host's /sys instead, as berth does.
        return;
    }
    let mut f = Fixture::new("usernsnet");
    with_userns(&mut f);
    f.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "network");
    let r = f.probe_report();
    let sys =
        conformance::mount_at(&r, "/sys").unwrap_or_else(|| panic!("no /sys: {}", r["mounts"]));
    assert_eq!(sys["fstype"], "sysfs");
    assert!(sys["options"].as_str().unwrap().starts_with("ro"), "{sys}");
}

/// mknod is not allowed in a user namespace: the default devices are the
/// host's nodes, bind-mounted.
#[test]
fn devices_work_in_a_user_namespace() {
    let mut f = Fixture::new("usernsdev");
    with_userns(&mut f);
    let r = f.probe_mode(&["stat", "/dev/null", "/dev/zero", "/dev/urandom"]);
    for (dev, minor) in [("/dev/null", 3), ("/dev/zero", 5), ("/dev/urandom", 9)] {
        assert_eq!(r[dev]["type"], "c", "{dev}: {r}");
        assert_eq!(
            (r[dev]["major"].clone(), r[dev]["minor"].clone()),
            (json!(1), json!(minor))
        );
    }
    let r = f.probe_mode(&["write", "/dev/null", "x"]);
    assert_eq!(r["ok"], true, "{r}");
}

/// A new user namespace without maps, or maps without a new user
/// namespace, is refused before anything is created.
#[test]
fn maps_and_user_namespace_go_together() {
    let mut f = Fixture::new("usernsbad");
    with_userns(&mut f);
    f.config["linux"]["uidMappings"] = json!(null);
    f.config["linux"]["gidMappings"] = json!(null);
    f.write_config();
    let err = f.create_fails(&f.id);
    assert!(!err.is_empty());

    let mut f = Fixture::new("usernsbad2");
    f.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": HOST_ID, "size": 1}]);
    f.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": HOST_ID, "size": 1}]);
    f.write_config();
    let o = f.rt(&["run", "--bundle", f.bundle.to_str().unwrap(), &f.id]);
    // runc 1.1 ignores maps without a user namespace; the spec makes them
    // meaningless there, and berth refuses them rather than run unmapped.
    if !conformance::is_runc() {
        assert!(!o.status.success(), "{}", stderr(&o));
        f.assert_clean(&f.id);
    }
}

/// A user namespace given by path is joined first, and the container's
/// new namespaces belong to it (so it can mount /proc and /sys in them).
#[test]
fn a_user_namespace_given_by_path_is_joined() {
    let mut holder = Fixture::new("usernsholder");
    with_userns(&mut holder);
    holder.args(&["sleep", "1000"]);
    assert!(
        holder.create(&[]).status.success(),
        "{}",
        holder.container_output()
    );
    let pid = holder.state()["pid"].as_i64().unwrap();

    let mut f = Fixture::new("usernsjoin");
    f.config["linux"]["namespaces"] = json!([
        {"type": "user", "path": format!("/proc/{pid}/ns/user")},
        {"type": "pid", "path": format!("/proc/{pid}/ns/pid")},
        {"type": "mount"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}
    ]);
    // runc 1.1 wants the joined namespace's maps repeated.
    f.config["linux"]["uidMappings"] = holder.config["linux"]["uidMappings"].clone();
    f.config["linux"]["gidMappings"] = holder.config["linux"]["gidMappings"].clone();
    let r = f.probe_report();
    let holder_user = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    assert_eq!(r["namespaces"]["user"], holder_user.to_str().unwrap());
    assert_eq!(r["uid_map"], json!(["0 100000 65536"]));
    assert_eq!(r["uid"], "0\t0\t0\t0");
    assert!(has_mount(&r, "/proc", "proc"), "{}", r["mounts"]);
}

/// The inode of the user namespace that owns the namespace at `path`
/// (ioctl NS_GET_USERNS).
fn owning_userns(path: &str) -> u64 {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::fs::MetadataExt;
    const NS_GET_USERNS: libc::c_ulong = 0xb701;
    let ns = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    // SAFETY: an ioctl without an argument on a descriptor we own.
    let fd = unsafe { libc::ioctl(ns.as_raw_fd(), NS_GET_USERNS) };
    assert!(
        fd >= 0,
        "NS_GET_USERNS on {path}: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: a fresh descriptor from the ioctl, owned by nothing else.
    let owner = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    owner.metadata().unwrap().ino()
}

/// A holder container with a user namespace of its own (a Kubernetes
/// pod's sandbox with `hostUsers: false`), and a fixture whose config joins
/// that user namespace by path and asks for a pid namespace (and the
/// others) of its own, as containerd's CRI asks for the pod's containers.
fn joining_with_own_pid(name: &str) -> (Fixture, Fixture, i64) {
    let mut holder = Fixture::new(&format!("{name}holder"));
    with_userns(&mut holder);
    holder.args(&["sleep", "1000"]);
    assert!(
        holder.create(&[]).status.success(),
        "{}",
        holder.container_output()
    );
    let pid = holder.state()["pid"].as_i64().unwrap();
    let mut f = Fixture::new(name);
    f.config["linux"]["namespaces"] = json!([
        {"type": "user", "path": format!("/proc/{pid}/ns/user")},
        {"type": "pid"}, {"type": "mount"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}
    ]);
    // runc 1.1 wants the joined namespace's maps repeated.
    f.config["linux"]["uidMappings"] = holder.config["linux"]["uidMappings"].clone();
    f.config["linux"]["gidMappings"] = holder.config["linux"]["gidMappings"].clone();
    (holder, f, pid)
}

/// A new pid namespace with a user namespace joined by path: the process
/// is pid 1 of a pid namespace the joined user namespace owns (so it could
/// mount /proc), with the holder's maps; `run` returns its exit code.
#[test]
fn a_user_namespace_joined_by_path_with_a_pid_namespace_of_its_own() {
    let (_holder, mut f, holder_pid) = joining_with_own_pid("usernspid");
    let r = f.probe_report();
    let holder_user = std::fs::read_link(format!("/proc/{holder_pid}/ns/user")).unwrap();
    assert_eq!(r["namespaces"]["user"], holder_user.to_str().unwrap());
    assert_eq!(r["pid"], 1, "{r}");
    assert_ne!(r["namespaces"]["pid"], host_ns("pid"));
    let holder_pidns = std::fs::read_link(format!("/proc/{holder_pid}/ns/pid")).unwrap();
    assert_ne!(r["namespaces"]["pid"], holder_pidns.to_str().unwrap());
    assert_eq!(r["uid_map"], json!(["0 100000 65536"]));
    assert_eq!(r["gid_map"], json!(["0 100000 65536"]));
    assert_eq!(r["uid"], "0\t0\t0\t0");
    assert!(has_mount(&r, "/proc", "proc"), "{}", r["mounts"]);

    // /proc is the new pid namespace's: pid 1 is the shell, and /proc/self
    // of a child is a small number, not a host pid.
    f.args(&["sh", "-c", "cat /proc/1/comm; readlink /proc/self; exit 7"]);
    let o = f.run();
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    let out = conformance::stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"sh"), "{out}{}", stderr(&o));
    let child: u32 = lines.get(1).and_then(|l| l.parse().ok()).unwrap_or(0);
    assert!((2..10).contains(&child), "{out}");
}

/// The same container through create, start, exec, kill and delete: its
/// init is the runtime's view of pid 1 in a pid namespace owned by the
/// joined user namespace, exec enters it, and nothing is left.
#[test]
fn a_container_with_its_own_pid_namespace_in_a_joined_user_namespace_has_a_lifecycle() {
    let (_holder, mut f, holder_pid) = joining_with_own_pid("usernspidlife");
    f.args(&["sleep", "1000"]);
    let o = f.create(&[]);
    assert!(o.status.success(), "create: {}", f.container_output());
    let start = f.rt(&["start", &f.id]);
    assert!(start.status.success(), "start: {}", stderr(&start));
    let pid = f.state()["pid"].as_i64().unwrap();
    assert_eq!(f.status(), "running");
    // Pid 1 in its namespace, seen from the host.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert_eq!(
        nspid.split_whitespace().collect::<Vec<_>>(),
        ["NSpid:", &pid.to_string(), "1"],
        "{status}"
    );
    // The pid namespace belongs to the joined user namespace.
    let holder_user = std::fs::metadata(format!("/proc/{holder_pid}/ns/user")).unwrap();
    assert_eq!(
        owning_userns(&format!("/proc/{pid}/ns/pid")),
        std::os::unix::fs::MetadataExt::ino(&holder_user)
    );

    let e = f.rt(&["exec", &f.id, "sh", "-c", "cat /proc/1/comm; id -u"]);
    assert!(e.status.success(), "exec: {}", stderr(&e));
    assert_eq!(conformance::stdout(&e), "sleep\n0\n");

    let k = f.rt(&["kill", &f.id, "KILL"]);
    assert!(k.status.success(), "kill: {}", stderr(&k));
    assert!(f.wait_status("stopped"), "status {}", f.status());
    let d = f.rt(&["delete", &f.id]);
    assert!(d.status.success(), "delete: {}", stderr(&d));
    f.assert_clean(&f.id);
    // The holder and its namespace are untouched.
    assert!(std::path::Path::new(&format!("/proc/{holder_pid}/ns/user")).exists());
}

/// A joined user namespace in which the container's root cannot be made
/// (one without maps, from unshare(1)): create fails with a message and
/// leaves nothing, whichever process found it out.
#[test]
fn a_joined_user_namespace_without_root_fails_the_pid_namespace_container_cleanly() {
    let mut f = Fixture::new("usernspidbad");
    let holder = std::process::Command::new("unshare")
        .args(["--user", "sleep", "1000"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("unshare (util-linux)");
    let pid = holder.id();
    f.helpers.push(holder);
    // The helper is in its user namespace once unshare has exec'd sleep.
    let me = std::fs::read_link("/proc/self/ns/user").unwrap();
    let joined = conformance::poll_until(std::time::Duration::from_secs(5), || {
        std::fs::read_link(format!("/proc/{pid}/ns/user")).is_ok_and(|l| l != me)
            && std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c == "sleep\n")
    });
    assert!(joined, "unshare --user did not start");
    f.config["linux"]["namespaces"] = json!([
        {"type": "user", "path": format!("/proc/{pid}/ns/user")},
        {"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}
    ]);
    f.write_config();
    f.create_fails(&f.id);
}
