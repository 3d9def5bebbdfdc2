//! Rootless containers: the runtime run by an unprivileged user (the
//! harness makes `berth-rootless`), as `runc --rootless` runs them. The
//! container's root is that user; what needs privilege (network setup,
//! cgroups not delegated, mknod) is left out or done another way.

use std::process::Stdio;
use std::time::Duration;

use conformance::{is_runc, poll_until, rootless_user, stderr, stdout, wait_output, Fixture};
use serde_json::{json, Value};

/// `spec --rootless` maps the caller to root and drops what needs
/// privilege; the config it writes runs.
#[test]
fn spec_rootless_writes_a_config_the_user_can_run() {
    let mut f = Fixture::rootless("rl-spec");
    let user = rootless_user();
    let dir = f.dir.join("spec");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(user.uid), Some(user.gid)).unwrap();
    let out = f
        .runtime_as_user()
        .args(["spec", "--rootless", "--bundle", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "spec --rootless: {}", stderr(&out));
    let c: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    let types: Vec<&str> = c["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"user") && !types.contains(&"network"),
        "{types:?}"
    );
    let own = json!([{"containerID": 0, "hostID": user.uid, "size": 1}]);
    assert_eq!(c["linux"]["uidMappings"], own);
    assert_eq!(c["linux"]["gidMappings"][0]["hostID"], user.gid);
    assert!(c["linux"].get("resources").is_none(), "{}", c["linux"]);
    assert!(!c.to_string().contains("gid=5"));

    // The config runs, with the fixture's rootfs and the probe.
    let mut c = c;
    c["root"]["path"] = json!(f.bundle.join("rootfs"));
    c["process"]["terminal"] = json!(false);
    c["process"]["args"] = json!(["/bin/probe"]);
    f.config = c;
    let r = f.probe_report();
    assert_eq!(r["uid_map"], json!([format!("0 {} 1", user.uid)]));
}

/// Root in the container is the user outside: one id mapped, written by the
/// runtime itself, setgroups denied as the kernel demands.
#[test]
fn the_containers_root_is_the_calling_user() {
    let mut f = Fixture::rootless("rl-id");
    let user = rootless_user();
    let r = f.probe_report();
    assert_eq!(r["uid"], "0\t0\t0\t0");
    assert_eq!(r["uid_map"], json!([format!("0 {} 1", user.uid)]));
    assert_eq!(r["gid_map"], json!([format!("0 {} 1", user.gid)]));
    assert_eq!(r["setgroups"], "deny");
    assert!(
        conformance::mount_at(&r, "/proc").is_some(),
        "{}",
        r["mounts"]
    );
}

/// A range of ids through newuidmap/newgidmap and /etc/subuid: the kernel
/// holds the configured maps, and the process runs as container user 1000
/// (a subordinate id on the host).
#[test]
fn more_ids_are_mapped_through_newuidmap() {
    let mut f = Fixture::rootless("rl-subid");
    let user = rootless_user();
    f.config["linux"]["uidMappings"] = json!([
        {"containerID": 0, "hostID": user.uid, "size": 1},
        {"containerID": 1, "hostID": user.subids, "size": 65536}
    ]);
    f.config["linux"]["gidMappings"] = json!([
        {"containerID": 0, "hostID": user.gid, "size": 1},
        {"containerID": 1, "hostID": user.subids, "size": 65536}
    ]);
    // runc 1.1 refuses additional groups in any rootless container; with a
    // gid map from newgidmap setgroups is allowed, and berth sets them (as
    // crun does).
    f.config["process"]["user"] = if is_runc() {
        json!({"uid": 1000, "gid": 1000})
    } else {
        json!({"uid": 1000, "gid": 1000, "additionalGids": [5]})
    };
    f.args(&["sh", "-c", "id; cat /proc/self/uid_map"]);
    let out = f.run();
    assert!(out.status.success(), "run: {}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("uid=1000") && text.contains("gid=1000"),
        "{text}"
    );
    if !is_runc() {
        assert!(text.contains("groups=5"), "{text}");
    }
    // The map the kernel holds is the configured one.
    let squeezed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        squeezed.contains(&format!("1 {} 65536", user.subids)),
        "{text}"
    );
}

/// create, state, start, kill and delete as the user, with the state under
/// $XDG_RUNTIME_DIR when no --root is given.
#[test]
fn lifecycle_with_the_default_root_in_xdg_runtime_dir() {
    let mut f = Fixture::rootless("rl-life");
    f.args(&["sleep", "100"]);
    f.write_config();
    let rt = |args: &[&str]| {
        let child = f
            .runtime_as_user()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_output(child, Duration::from_secs(30))
    };
    let out_file = std::fs::File::create(f.dir.join("container.out")).unwrap();
    let created = f
        .runtime_as_user()
        .args(["create", "--bundle", f.bundle.to_str().unwrap(), &f.id])
        .stdin(Stdio::null())
        .stdout(out_file.try_clone().unwrap())
        .stderr(out_file)
        .status()
        .unwrap();
    assert!(created.success(), "create: {}", f.container_output());
    // The state directory is the user's, under its XDG_RUNTIME_DIR.
    let xdg = f.dir.join("xdg");
    let state_dir = std::fs::read_dir(&xdg)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join(&f.id))
        .find(|p| p.is_dir())
        .expect("a state directory under XDG_RUNTIME_DIR");
    let status = |o: std::process::Output| -> String {
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        v["status"].as_str().unwrap_or_default().to_string()
    };
    assert_eq!(status(rt(&["state", &f.id])), "created");
    assert!(rt(&["start", &f.id]).status.success());
    assert_eq!(status(rt(&["state", &f.id])), "running");
    assert!(rt(&["kill", &f.id, "KILL"]).status.success());
    assert!(poll_until(Duration::from_secs(10), || status(rt(&[
        "state", &f.id
    ])) == "stopped"));
    let deleted = rt(&["delete", &f.id]);
    assert!(deleted.status.success(), "delete: {}", stderr(&deleted));
    assert!(!state_dir.exists(), "{} left", state_dir.display());
}

/// Additional groups with a single-id gid map (setgroups denied) are
/// refused with a reason, as runc refuses them.
#[test]
fn additional_groups_need_a_wider_gid_map() {
    let mut f = Fixture::rootless("rl-groups");
    f.config["process"]["user"] = json!({"uid": 0, "gid": 0, "additionalGids": [0]});
    f.args(&["true"]);
    let out = f.run();
    assert!(!out.status.success(), "run succeeded");
    assert!(stderr(&out).contains("groups"), "{}", stderr(&out));
}

/// exec into a running rootless container joins its user namespace, with
/// a terminal and without.
#[test]
fn exec_as_the_user() {
    let mut f = Fixture::rootless("rl-exec");
    f.args(&["sleep", "100"]);
    let out = f.create(&[]);
    assert!(out.status.success(), "create: {}", f.container_output());
    assert!(f.rt(&["start", &f.id]).status.success());
    let out = f.rt(&["exec", &f.id, "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    assert!(out.status.success(), "exec: {}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().next(), Some("0"), "{text}");
    assert!(text.contains(&rootless_user().uid.to_string()), "{text}");

    let sock = f.dir.join("exec.sock");
    let receiver = conformance::console_socket(&sock);
    let s = sock.to_str().unwrap();
    let o = f.rt(&[
        "exec",
        "--detach",
        "--tty",
        "--console-socket",
        s,
        &f.id,
        "sh",
        "-c",
        "tty; echo done",
    ]);
    assert!(o.status.success(), "exec --tty: {}", stderr(&o));
    let mut master = receiver.join().unwrap();
    let text = conformance::read_until(&mut master, "done");
    assert!(text.contains("/dev/pts/"), "{text:?}");
}

/// What needs privilege: device nodes are bound from the host (mknod is
/// not allowed in the user namespace) and work; a network sysctl without a
/// network namespace of the container's own is refused, naming the key.
#[test]
fn what_needs_privilege_falls_back_or_is_refused() {
    let mut f = Fixture::rootless("rl-dev");
    let r = f.probe_mode(&["stat", "/dev/null", "/dev/zero"]);
    for (dev, minor) in [("/dev/null", 3), ("/dev/zero", 5)] {
        assert_eq!(r[dev]["type"], "c", "{dev}: {r}");
        assert_eq!(r[dev]["minor"], minor, "{dev}: {r}");
    }
    let r = f.probe_mode(&["write", "/dev/null", "x"]);
    assert_eq!(r["ok"], true, "{r}");

    let mut f = Fixture::rootless("rl-sysctl");
    f.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    f.write_config();
    let err = f.create_fails(&f.id.clone());
    assert!(err.contains("net.ipv4.ip_forward"), "{err}");
}

/// A terminal: the pty comes from the container's devpts and its master
/// reaches the user's console socket.
#[test]
fn a_terminal_as_the_user() {
    let mut f = Fixture::rootless("rl-tty");
    let text = conformance::tty_of_created_container(&mut f);
    assert!(text.contains("/dev/pts/"), "{text:?}");
}

/// Cgroups the user cannot write are skipped with a warning; a resource
/// limit that needs one is refused with an error that says why.
#[test]
fn cgroups_the_user_cannot_write_are_skipped_and_limits_refused() {
    let mut f = Fixture::rootless("rl-cg");
    f.args(&["true"]);
    let out = f.run();
    assert!(out.status.success(), "run: {}", stderr(&out));
    if !is_runc() {
        assert!(
            stderr(&out).contains("rootless"),
            "no warning: {}",
            stderr(&out)
        );
    }
    let mut f = Fixture::rootless("rl-cg-limit");
    f.config["linux"]["resources"] = json!({"pids": {"limit": 10}});
    f.write_config();
    let err = f.create_fails(&f.id.clone());
    if !is_runc() {
        assert!(err.contains("rootless") && err.contains("pids"), "{err}");
    }
}

/// A cgroup delegated to the user (the v1 pids hierarchy here, or the v2
/// tree where it holds pids) takes the container and its limit; the
/// hierarchies not delegated are skipped.
#[test]
fn a_delegated_cgroup_takes_the_container_and_its_limit() {
    if is_runc() {
        // runc 1.1 on cgroup v1 needs every hierarchy writable once
        // linux.resources is set.
        return;
    }
    let user = rootless_user();
    let name = format!("berth-rl-{}", std::process::id());
    let hierarchies = conformance::in_every_hierarchy(&name);
    let pids_parent = hierarchies
        .iter()
        .find(|d| {
            d.parent()
                .is_some_and(|p| p.join("pids.max").exists() || p.ends_with("pids"))
        })
        .cloned();
    let Some(parent) = pids_parent else {
        eprintln!("skipped: no pids hierarchy");
        return;
    };
    std::fs::create_dir(&parent).unwrap();
    struct Remove(std::path::PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            if let Ok(entries) = std::fs::read_dir(&self.0) {
                for e in entries.flatten() {
                    if e.path().is_dir() {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _cleanup = Remove(parent.clone());
    // Delegation: the directory and the files that move processes.
    for p in [
        parent.clone(),
        parent.join("cgroup.procs"),
        parent.join("tasks"),
    ] {
        if p.exists() {
            std::os::unix::fs::chown(&p, Some(user.uid), Some(user.gid)).unwrap();
        }
    }
    let mut f = Fixture::rootless("rl-deleg");
    f.config["linux"]["cgroupsPath"] = json!(format!("/{name}/ctr"));
    f.config["linux"]["resources"] = json!({"pids": {"limit": 10}});
    f.args(&["sleep", "100"]);
    let out = f.create(&[]);
    assert!(out.status.success(), "create: {}", f.container_output());
    let pid = f.state()["pid"].as_i64().unwrap();
    let max = std::fs::read_to_string(parent.join("ctr/pids.max")).unwrap();
    assert_eq!(max.trim(), "10");
    let procs = std::fs::read_to_string(parent.join("ctr/cgroup.procs")).unwrap();
    assert!(
        procs.lines().any(|l| l.trim() == pid.to_string()),
        "{procs}"
    );
    assert!(f.rt(&["delete", "--force", &f.id]).status.success());
    assert!(
        !parent.join("ctr").exists(),
        "the container's cgroup is left"
    );
}

/// `--rootless false` as the user: cgroups are not skipped, so creating
/// them fails with the kernel's refusal and nothing is left.
#[test]
fn rootless_false_does_not_skip_cgroups() {
    if is_runc() {
        return; // runc 1.1 takes --rootless false as "auto" for a non-root user
    }
    let mut f = Fixture::rootless("rl-false");
    f.args(&["true"]);
    f.write_config();
    let out = f
        .runtime_as_user()
        .args(["--rootless", "false", "--root", f.root.to_str().unwrap()])
        .args(["run", "--bundle", f.bundle.to_str().unwrap(), &f.id])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "run succeeded");
    assert!(stderr(&out).contains("cgroup"), "{}", stderr(&out));
    f.assert_clean(&f.id.clone());
}
