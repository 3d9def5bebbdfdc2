//! config.json's `process` fields and the process-wide `linux` ones
//! (sysctl, personality), checked from inside the container.

use std::os::unix::process::CommandExt;
use std::process::Stdio;

use conformance::{host_ns, is_runc, stderr, stdout, Fixture};
use serde_json::{json, Value};

/// Every RLIMIT_* name is applied with its soft and hard value.
#[test]
fn every_rlimit_is_applied() {
    let mut f = Fixture::new("rlim");
    // Below the VM's hard limits: raising a hard limit needs
    // CAP_SYS_RESOURCE, which the test machine's bounding set lacks.
    let limits = [
        ("RLIMIT_CPU", 1000, 2000),
        ("RLIMIT_FSIZE", 1u64 << 30, 1u64 << 31),
        ("RLIMIT_DATA", 1 << 32, 1 << 33),
        ("RLIMIT_STACK", 1 << 23, 1 << 24),
        ("RLIMIT_CORE", 0, 1 << 20),
        ("RLIMIT_RSS", 1 << 30, 1 << 31),
        ("RLIMIT_NPROC", 1000, 2000),
        ("RLIMIT_NOFILE", 512, 1024),
        ("RLIMIT_MEMLOCK", 1 << 16, 1 << 17),
        ("RLIMIT_AS", 1 << 34, 1 << 35),
        ("RLIMIT_LOCKS", 100, 200),
        ("RLIMIT_SIGPENDING", 100, 200),
        ("RLIMIT_MSGQUEUE", 8192, 16384),
        ("RLIMIT_NICE", 0, 0),
        ("RLIMIT_RTPRIO", 0, 0),
        ("RLIMIT_RTTIME", 1000, 2000),
    ];
    f.config["process"]["rlimits"] = limits
        .iter()
        .map(|(t, s, h)| json!({"type": t, "soft": s, "hard": h}))
        .collect();
    let r = f.probe_report();
    for (t, s, h) in limits {
        assert_eq!(r["rlimits"][t], json!([s, h]), "{t}");
    }
}

/// An unknown rlimit name, or a soft limit above the hard one, is refused.
#[test]
fn bad_rlimits_are_refused() {
    let mut f = Fixture::new("badrlim");
    for bad in [
        json!([{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]),
        json!([{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}]),
    ] {
        f.config["process"]["rlimits"] = bad;
        f.write_config();
        f.create_fails(&f.id);
    }
}

/// A non-root user keeps the capabilities asked for: the bounding set is
/// dropped first, keep-caps carries them across setuid, ambient last.
#[test]
fn capabilities_survive_the_switch_to_a_non_root_user() {
    let mut f = Fixture::new("capuser");
    let caps = json!(["CAP_NET_BIND_SERVICE", "CAP_CHOWN"]);
    f.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    f.config["process"]["capabilities"] = json!({
        "bounding": caps, "effective": caps, "permitted": caps,
        "inheritable": caps, "ambient": caps
    });
    let r = f.probe_report();
    // CAP_CHOWN (0) and CAP_NET_BIND_SERVICE (10).
    for set in [
        "cap_bounding",
        "cap_effective",
        "cap_permitted",
        "cap_inheritable",
        "cap_ambient",
    ] {
        assert_eq!(r[set], "0000000000000401", "{set}");
    }
    assert_eq!(r["uid"], "1000\t1000\t1000\t1000");
}

/// An unknown capability name is a warning, not an error; the known ones
/// are still applied.
#[test]
fn unknown_capabilities_are_skipped() {
    let mut f = Fixture::new("capunknown");
    let caps = json!(["CAP_KILL", "CAP_FROM_THE_FUTURE"]);
    f.config["process"]["capabilities"] =
        json!({"bounding": caps, "effective": caps, "permitted": caps});
    let r = f.probe_report();
    assert_eq!(r["cap_effective"], "0000000000000020");
}

/// noNewPrivileges false leaves the flag clear.
#[test]
fn no_new_privileges_can_be_left_off() {
    let mut f = Fixture::new("nnp");
    f.config["process"]["noNewPrivileges"] = json!(false);
    assert_eq!(f.probe_report()["no_new_privs"], "0");
}

/// oomScoreAdj is the init process's oom_score_adj.
#[test]
fn oom_score_adj_is_set() {
    let mut f = Fixture::new("oom");
    f.config["process"]["oomScoreAdj"] = json!(432);
    assert_eq!(f.probe_report()["oom_score_adj"], 432);
}

/// ioPriority, scheduler and personality reach the process.
#[test]
fn io_priority_scheduler_and_personality_are_applied() {
    if is_runc() {
        // runc 1.1 predates these fields and ignores them.
        return;
    }
    let mut f = Fixture::new("sched");
    f.config["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
    f.config["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7});
    f.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    let r = f.probe_report();
    assert_eq!(r["ioprio"], json!([2, 6]));
    assert_eq!(r["sched"]["policy"], 3);
    assert_eq!(r["sched"]["nice"], 7);
    assert_eq!(r["personality"].as_i64().unwrap() & 0xff, 8);
}

/// Out-of-range ioPriority or scheduler values are refused before anything
/// is created.
#[test]
fn bad_priorities_are_refused() {
    if is_runc() {
        return; // runc 1.1 ignores these fields.
    }
    let mut f = Fixture::new("badsched");
    for (field, bad) in [
        (
            "ioPriority",
            json!({"class": "IOPRIO_CLASS_BE", "priority": 9}),
        ),
        ("scheduler", json!({"policy": "SCHED_OTHER", "nice": 40})),
        ("scheduler", json!({"policy": "SCHED_FIFO", "priority": 0})),
    ] {
        let mut config = f.config.clone();
        config["process"][field] = bad;
        std::mem::swap(&mut f.config, &mut config);
        f.write_config();
        f.create_fails(&f.id);
        std::mem::swap(&mut f.config, &mut config);
    }
}

/// The container gets a session keyring of its own, named after it, unless
/// --no-new-keyring.
#[test]
fn a_new_session_keyring_unless_no_new_keyring() {
    let mut f = Fixture::new("keyring");
    let r = f.probe_report();
    let desc = r["keyring"].as_str().unwrap_or_default().to_string();
    assert!(desc.ends_with(&format!("_ses.{}", f.id)), "{desc}");

    f.write_config();
    let out = f.rt(&[
        "run",
        "--no-new-keyring",
        "--bundle",
        f.bundle.to_str().unwrap(),
        &f.id,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Without a session keyring of its own, the process sees its user's
    // default session keyring (_uid_ses.UID).
    let desc = r["keyring"].as_str().unwrap_or_default();
    assert!(!desc.ends_with(&format!("_ses.{}", f.id)), "{desc}");
}

/// Runs `runtime run` with descriptors 3..3+fds open (each a /dev/null)
/// and returns the probe's report.
fn run_with_fds(f: &Fixture, fds: i32, extra: &[&str]) -> Value {
    f.write_config();
    let bundle = f.bundle.to_str().unwrap().to_string();
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--bundle", &bundle, &f.id]);
    let mut c = f.runtime_cmd(&args);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls (open, dup2, close) between fork
    // and exec.
    unsafe {
        c.pre_exec(move || {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
            for fd in 3..3 + fds {
                libc::dup2(null, fd);
            }
            if null >= 3 + fds {
                libc::close(null);
            }
            Ok(())
        });
    }
    let out = conformance::wait_output(c.spawn().unwrap(), std::time::Duration::from_secs(30));
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

/// Descriptor numbers the probe saw, without the one it listed them with.
fn fd_numbers(r: &Value) -> Vec<i64> {
    let mut v: Vec<i64> = r["fds"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, t)| !t.as_str().unwrap_or_default().starts_with("/proc/"))
        .map(|(n, _)| n.parse().unwrap())
        .collect();
    v.sort_unstable();
    v
}

/// --preserve-fds N passes descriptors 3..3+N on; every other descriptor of
/// the runtime is closed.
#[test]
fn preserve_fds_passes_exactly_those_descriptors() {
    let f = Fixture::new("preserve");
    let r = run_with_fds(&f, 3, &["--preserve-fds", "2"]);
    assert_eq!(fd_numbers(&r), vec![0, 1, 2, 3, 4]);
    let r = run_with_fds(&f, 3, &[]);
    assert_eq!(fd_numbers(&r), vec![0, 1, 2]);
}

/// Stdio that is the host's /dev/null (`run -d ID </dev/null`) is the
/// container's own /dev/null when the program runs, as runc makes it: the
/// host's node is on a mount the container does not have, which CRIU
/// cannot dump (tests/checkpoint.rs). Stdio that is something else (stdout
/// here, a file) and descriptors past 2 are left as they are. Through
/// `create`, which hands its stdio to the container (a foreground `run` of
/// runc's gives the container pipes of its own).
#[test]
fn stdio_on_the_hosts_dev_null_becomes_the_containers_own() {
    use std::os::unix::fs::MetadataExt;
    let mut f = Fixture::new("devnull");
    // 5: the container's /dev/null as the container itself opens it.
    f.args(&["sh", "-c", "exec 5</dev/null; exec /bin/probe fds"]);
    f.write_config();
    let bundle = f.bundle.to_str().unwrap().to_string();
    let out_path = f.dir.join("probe.out");
    let mut c = f.runtime_cmd(&["create", "--preserve-fds", "1", "--bundle", &bundle, &f.id]);
    c.stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls (open, dup2, close) between fork
    // and exec.
    unsafe {
        c.pre_exec(|| {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
            if null < 0 || libc::dup2(null, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if null != 3 {
                libc::close(null);
            }
            Ok(())
        });
    }
    let o = conformance::wait_output(c.spawn().unwrap(), std::time::Duration::from_secs(30));
    let text = || std::fs::read_to_string(&out_path).unwrap_or_default();
    assert!(o.status.success(), "create failed: {}", text());
    let start = f.rt(&["start", &f.id]);
    assert!(start.status.success(), "start: {}", stderr(&start));
    assert!(f.wait_status("stopped"), "{}", text());
    let text = text();
    let fds: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let file = |n: &str| (fds[n]["dev"].as_u64(), fds[n]["ino"].as_u64());
    let host = std::fs::metadata("/dev/null").unwrap();
    let host = (Some(host.dev()), Some(host.ino()));
    assert_ne!(
        file("5"),
        host,
        "the container's /dev/null is the host's: {fds}"
    );
    assert_eq!(file("0"), file("5"), "stdin: {fds}");
    assert_eq!(file("2"), file("5"), "stderr: {fds}");
    assert_eq!(
        fds["1"]["link"],
        out_path.to_str().unwrap(),
        "stdout: {fds}"
    );
    assert_eq!(file("3"), host, "a preserved descriptor: {fds}");
}

/// systemd socket activation: LISTEN_FDS descriptors addressed to the
/// runtime are passed on, and the container is told with LISTEN_FDS and
/// LISTEN_PID=1.
#[test]
fn socket_activation_descriptors_are_passed_on() {
    let f = Fixture::new("listen");
    f.write_config();
    // LISTEN_PID must be the runtime's own pid: a shell that execs it.
    let script = format!(
        "LISTEN_PID=$$ LISTEN_FDS=2 exec {} --root {} run --bundle {} {} 3</dev/null 4</dev/null",
        conformance::runtime().display(),
        f.root.display(),
        f.bundle.display(),
        f.id
    );
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(fd_numbers(&r), vec![0, 1, 2, 3, 4]);
    let env = conformance::env_of(&r);
    assert!(env.contains(&"LISTEN_FDS=2"), "{env:?}");
    assert!(env.contains(&"LISTEN_PID=1"), "{env:?}");
}

/// sysctl keys of the container's own namespaces are written.
#[test]
fn namespaced_sysctls_are_applied() {
    let mut f = Fixture::new("sysctl");
    f.config["linux"]["sysctl"] = json!({
        "kernel.shmmax": "12345678",
        "net.ipv4.ip_unprivileged_port_start": "80",
        "fs.mqueue.msg_max": "20"
    });
    let r = f.probe_report();
    assert_eq!(r["sysctl"]["kernel.shmmax"], "12345678");
    assert_eq!(r["sysctl"]["net.ipv4.ip_unprivileged_port_start"], "80");
    assert_eq!(r["sysctl"]["fs.mqueue.msg_max"], "20");
    // The host's values are untouched.
    let host = std::fs::read_to_string("/proc/sys/kernel/shmmax").unwrap();
    assert_ne!(host.trim(), "12345678");
}

/// A sysctl that would change the host is refused, and so is a namespaced
/// one when the container shares that namespace with the host.
#[test]
fn host_sysctls_are_refused() {
    let mut f = Fixture::new("badsysctl");
    f.config["linux"]["sysctl"] = json!({"fs.file-max": "100000"});
    f.write_config();
    f.create_fails(&f.id);
    f.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    f.config["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}]);
    f.write_config();
    f.create_fails(&f.id);
}

/// domainname is set in the container's UTS namespace.
#[test]
fn domainname_is_set() {
    if is_runc() {
        return; // runc 1.1 ignores domainname (runc 1.2 sets it).
    }
    let mut f = Fixture::new("domain");
    f.config["domainname"] = json!("example.test");
    let r = f.probe_report();
    assert_eq!(r["domainname"], "example.test");
    assert_ne!(r["namespaces"]["uts"], host_ns("uts"));
}

/// additionalGids listed twice are set once, as runc sets them (the
/// kernel keeps whatever setgroups is given, duplicates too).
#[test]
fn duplicate_additional_gids_are_set_once() {
    let mut f = Fixture::new("dupgids");
    f.config["process"]["user"] =
        json!({"uid": 1000, "gid": 1000, "additionalGids": [101, 102, 101]});
    assert_eq!(f.probe_report()["groups"], "101 102");
}

/// linux.mountLabel on a host without SELinux: the label has nothing to
/// act on, so the container runs (crun's behaviour) with a warning, and no
/// mount gets a `context=` option the kernel would refuse.
#[test]
fn a_mount_label_without_selinux_is_a_warning() {
    if std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        return; // SELinux is on: the label goes on the mounts.
    }
    if is_runc() {
        // runc 1.1 adds `context=` to the data of every mount it makes and
        // the kernel refuses it (the tmpfs on /dev: EINVAL).
        return;
    }
    let mut f = Fixture::new("mountlabel");
    f.config["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0:c1,c2");
    f.args(&["/bin/probe"]);
    let out = f.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("linux.mountLabel"),
        "no warning: {}",
        stderr(&out)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let dev = conformance::mount_at(&r, "/dev").expect("/dev is mounted");
    assert!(!dev.to_string().contains("context"), "{dev}");
}

/// An AppArmor profile or SELinux label for an LSM the host does not run is
/// an error, not a silently unconfined container.
#[test]
fn lsm_fields_need_their_lsm() {
    let mut f = Fixture::new("lsm");
    let apparmor_on = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'));
    let selinux_on = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    if !apparmor_on {
        f.config["process"]["apparmorProfile"] = json!("berth-test");
        f.write_config();
        let o = f.rt(&["run", "--bundle", f.bundle.to_str().unwrap(), &f.id]);
        assert!(!o.status.success());
        f.assert_clean(&f.id);
        f.config["process"]["apparmorProfile"] = json!(null);
    }
    if !selinux_on {
        f.config["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
        f.write_config();
        f.create_fails(&f.id);
    }
}

/// A time namespace shifts the monotonic and boottime clocks by the
/// configured offsets.
#[test]
fn time_namespace_offsets_shift_the_clocks() {
    if is_runc() {
        return; // runc 1.1 has no time namespace support.
    }
    let mut f = Fixture::new("timens");
    f.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    let day = 86400 * 1000;
    f.config["linux"]["timeOffsets"] = json!({
        "monotonic": {"secs": day, "nanosecs": 0},
        "boottime": {"secs": 2 * day, "nanosecs": 0}
    });
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let r = f.probe_report();
    let mono = r["clocks"]["monotonic"].as_i64().unwrap();
    let boot = r["clocks"]["boottime"].as_i64().unwrap();
    assert!(
        mono >= now.tv_sec + day && mono < now.tv_sec + day + 60,
        "{mono}"
    );
    assert!(boot >= now.tv_sec + 2 * day, "{boot}");
    assert_ne!(r["namespaces"]["time"], host_ns("time"));
}
