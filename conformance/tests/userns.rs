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
