//! What create builds, seen from inside the container by the probe.

use conformance::{host_ns, mount_at, stderr, stdout, Fixture};
use serde_json::{json, Value};

#[test]
fn new_namespaces_differ_from_the_hosts_and_init_is_pid_1() {
    let mut f = Fixture::new("ns");
    let r = f.probe_report();
    assert_eq!(r["pid"], 1);
    for ns in ["pid", "mnt", "ipc", "uts", "net", "cgroup"] {
        assert_ne!(
            r["namespaces"][ns],
            host_ns(ns),
            "{ns} namespace is the host's"
        );
    }
}

#[test]
fn a_namespace_given_by_path_is_joined() {
    let mut f = Fixture::new("nsjoin");
    let holder = std::process::Command::new("unshare")
        .args(["--uts", "--ipc", "sleep", "1000"])
        .spawn()
        .unwrap();
    let pid = holder.id();
    f.helpers.push(holder);
    // unshare execs sleep once its namespaces exist.
    let ns_of = |n: &str| std::fs::read_link(format!("/proc/{pid}/ns/{n}")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while ns_of("uts").to_string_lossy() == host_ns("uts") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    f.config["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "mount"}, {"type": "network"}, {"type": "cgroup"},
        {"type": "uts", "path": format!("/proc/{pid}/ns/uts")},
        {"type": "ipc", "path": format!("/proc/{pid}/ns/ipc")}
    ]);
    f.config["hostname"] = json!(null);
    let r = f.probe_report();
    assert_eq!(
        r["namespaces"]["uts"],
        ns_of("uts").to_string_lossy().as_ref()
    );
    assert_eq!(
        r["namespaces"]["ipc"],
        ns_of("ipc").to_string_lossy().as_ref()
    );
    assert_ne!(r["namespaces"]["net"], host_ns("net"));
}

#[test]
fn process_identity_env_cwd_and_hostname_follow_the_config() {
    let mut f = Fixture::new("ident");
    let p = &mut f.config["process"];
    p["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 2000], "umask": 23});
    p["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
    p["cwd"] = json!("/tmp/work");
    f.config["root"]["readonly"] = json!(false);
    f.config["hostname"] = json!("probe-host");
    let r = f.probe_report();
    assert_eq!(r["uid"], "1000\t1000\t1000\t1000");
    assert_eq!(r["gid"], "1001\t1001\t1001\t1001");
    assert_eq!(r["groups"], "5 2000");
    assert_eq!(r["umask"], "0027");
    assert_eq!(r["cwd"], "/tmp/work");
    assert_eq!(r["hostname"], "probe-host");
    let env = conformance::env_of(&r);
    assert!(env.contains(&"FOO=bar baz"), "{env:?}");
    assert!(env.contains(&"PATH=/bin"), "{env:?}");
}

#[test]
fn capabilities_rlimits_and_no_new_privs_are_applied() {
    let mut f = Fixture::new("caps");
    let r = f.probe_report();
    // CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10).
    assert_eq!(r["cap_bounding"], "0000000020000420");
    assert_eq!(r["cap_effective"], "0000000020000420");
    assert_eq!(r["no_new_privs"], "1");
    assert_eq!(r["nofile"], json!([1024, 1024]));
}

#[test]
fn rootfs_is_pivoted_read_only_with_the_default_mounts() {
    let mut f = Fixture::new("rootfs");
    let r = f.probe_report();
    let root = mount_at(&r, "/").expect("a / mount");
    assert!(
        root["options"].as_str().unwrap().starts_with("ro"),
        "{root}"
    );
    let types = [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
    ];
    for (target, fstype) in types {
        let m = mount_at(&r, target).unwrap_or_else(|| panic!("no {target} mount"));
        assert_eq!(m["fstype"], fstype);
    }
    let shm = mount_at(&r, "/dev/shm").unwrap();
    assert!(shm["options"].as_str().unwrap().contains("nodev"));
    assert!(shm["options"].as_str().unwrap().contains("noexec"));
    assert!(
        shm["super"].as_str().unwrap().contains("size=65536k"),
        "{shm}"
    );
    let sys = mount_at(&r, "/sys").unwrap();
    assert!(sys["options"].as_str().unwrap().starts_with("ro"));
    assert!(mount_at(&r, "/sys/fs/cgroup").is_some());
    // The host's filesystem is not visible: nothing outside the bundle.
    assert!(!r["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["target"] == "/work"));
    // maskedPaths and readonlyPaths.
    assert!(mount_at(&r, "/proc/keys").is_some());
    assert!(mount_at(&r, "/proc/sys").unwrap()["options"]
        .as_str()
        .unwrap()
        .starts_with("ro"));
}

#[test]
fn writes_fail_on_a_read_only_root_but_work_on_a_tmpfs() {
    let mut f = Fixture::new("rofs");
    f.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
    f.args(&[
        "sh",
        "-c",
        "touch /x 2>/dev/null && echo root-writable; touch /tmp/y && echo tmp-writable",
    ]);
    let out = f.run();
    assert_eq!(stdout(&out), "tmp-writable\n", "{}", stderr(&out));
}

#[test]
fn default_devices_and_links_exist() {
    let mut f = Fixture::new("dev");
    f.args(&["sh", "-c", "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; done; for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done"]);
    let out = f.run();
    let text = stdout(&out);
    for line in [
        "/dev/null character special file 1:3 666",
        "/dev/zero character special file 1:5 666",
        "/dev/full character special file 1:7 666",
        "/dev/random character special file 1:8 666",
        "/dev/urandom character special file 1:9 666",
        "/dev/tty character special file 5:0 666",
        "/proc/self/fd",
        "/proc/self/fd/0",
        "/proc/self/fd/1",
        "/proc/self/fd/2",
        "pts/ptmx",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}{}",
            stderr(&out)
        );
    }
}

#[test]
fn bind_mounts_show_host_files_and_honour_ro() {
    let mut f = Fixture::new("bind");
    let host = f.dir.join("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("file"), "from the host").unwrap();
    let mounts = f.config["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/data", "type": "bind", "source": host, "options": ["rbind", "ro", "nosuid"]}));
    mounts.push(json!({"destination": "/rw", "source": host, "options": ["bind"]}));
    f.args(&["sh", "-c", "cat /data/file; echo; touch /data/new 2>/dev/null || echo ro-denied; touch /rw/new && echo rw-ok"]);
    let out = f.run();
    assert_eq!(
        stdout(&out),
        "from the host\nro-denied\nrw-ok\n",
        "{}",
        stderr(&out)
    );
    assert!(host.join("new").exists());
}

#[test]
fn no_pivot_still_runs_in_the_rootfs() {
    let f = Fixture::new("nopivot");
    f.write_config();
    let out = f.rt(&[
        "run",
        "--no-pivot",
        "--bundle",
        f.bundle.to_str().unwrap(),
        &f.id,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["pid"], 1);
}

#[test]
fn terminal_master_is_sent_over_the_console_socket() {
    let mut f = Fixture::new("tty");
    let text = conformance::tty_of_created_container(&mut f);
    assert!(text.contains("/dev/pts/"), "{text:?}");
}

#[test]
fn stdio_is_not_a_tty_without_terminal() {
    let mut f = Fixture::new("notty");
    let r = f.probe_report();
    assert_eq!(r["tty"], json!([false, false, false]));
}

/// A new network namespace has its loopback up, as runc and crun leave it,
/// so that programs talking to 127.0.0.1 work.
#[test]
fn a_new_network_namespace_has_loopback_up() {
    let mut f = Fixture::new("lo");
    f.args(&["cat", "/sys/class/net/lo/flags"]);
    let out = f.run();
    let text = stdout(&out);
    let flags = u32::from_str_radix(text.trim().trim_start_matches("0x"), 16)
        .unwrap_or_else(|_| panic!("flags {text:?}: {}", stderr(&out)));
    assert_eq!(flags & 1, 1, "IFF_UP not in lo's flags {flags:#x}");
}
