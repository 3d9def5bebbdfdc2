//! exec: a second process in a running container, seen from inside.

use conformance::{is_runc, running, stderr, stdout, Fixture};
use serde_json::{json, Value};

fn exec_json(f: &Fixture, args: &[&str]) -> Value {
    let mut full = vec!["exec"];
    full.extend_from_slice(args);
    let out = f.rt(&full);
    assert!(out.status.success(), "exec: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

fn ns(pid: i64, name: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{name}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The process joins every namespace and the cgroup of the container, and
/// gets the container's process settings; its exit status is exec's.
#[test]
fn exec_joins_the_container_and_inherits_its_process() {
    let (f, pid) = running("exec", |f| {
        f.config["process"]["env"] = json!(["PATH=/bin", "FROM_CONFIG=1"]);
    });
    let r = exec_json(&f, &["--env", "EXTRA=2", &f.id, "/bin/probe"]);
    for name in ["mnt", "pid", "net", "ipc", "uts", "cgroup"] {
        assert_eq!(r["namespaces"][name], ns(pid, name), "{name}");
    }
    // Its cgroup namespace is the container's, rooted at the container's
    // cgroup (exec_detach_writes_the_pid_file compares the host's view).
    let cgroups = r["cgroups"].as_array().unwrap();
    assert!(
        cgroups.iter().all(|c| c.as_str().unwrap().ends_with(":/")),
        "{cgroups:?}"
    );
    // The config's capabilities (AUDIT_WRITE, KILL, NET_BIND_SERVICE).
    assert_eq!(r["cap_effective"], "0000000020000420");
    assert_eq!(r["no_new_privs"], "1");
    let env = conformance::env_of(&r);
    assert!(
        env.contains(&"FROM_CONFIG=1") && env.contains(&"EXTRA=2"),
        "{env:?}"
    );
    // Only stdio reaches the process (and the probe's own listing fd).
    let fds: Vec<&String> = r["fds"].as_object().unwrap().keys().collect();
    assert!(fds.len() <= 4, "{fds:?}");
    let o = f.rt(&["exec", &f.id, "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7));
}

/// The flags build the process: user, groups, cwd, capabilities,
/// no_new_privs.
#[test]
fn exec_flags_set_user_cwd_caps() {
    let (f, _pid) = running("execflags", |f| {
        f.config["process"]["noNewPrivileges"] = json!(false);
        f.config["root"]["readonly"] = json!(false);
    });
    let r = exec_json(
        &f,
        &[
            "--user",
            "1000:1001",
            "--additional-gids",
            "5",
            "--cwd",
            "/tmp",
            "--cap",
            "CAP_SYS_ADMIN",
            "--no-new-privs",
            &f.id,
            "/bin/probe",
        ],
    );
    assert_eq!(r["uid"], "1000\t1000\t1000\t1000");
    assert_eq!(r["gid"], "1001\t1001\t1001\t1001");
    assert_eq!(r["groups"], "5");
    assert_eq!(r["cwd"], "/tmp");
    assert_eq!(r["no_new_privs"], "1");
    let sys_admin = |r: &Value| {
        u64::from_str_radix(r["cap_effective"].as_str().unwrap(), 16).unwrap() & (1 << 21) != 0
    };
    // berth adds --cap to every set, so a non-root user keeps it across
    // execve; runc 1.1 leaves it out of the inheritable set, and the
    // ambient one with it.
    if !is_runc() {
        assert!(sys_admin(&r), "{}", r["cap_effective"]);
    }
    let r = exec_json(&f, &["--cap", "CAP_SYS_ADMIN", &f.id, "/bin/probe"]);
    assert!(sys_admin(&r), "{}", r["cap_effective"]);
}

/// --process takes a runtime-spec process, as containerd and podman pass it.
#[test]
fn exec_process_json() {
    let (f, _pid) = running("execproc", |_| {});
    let process = json!({
        "terminal": false,
        "user": {"uid": 2000, "gid": 2000},
        "args": ["/bin/probe"],
        "env": ["PATH=/bin", "ONLY=this"],
        "cwd": "/",
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
                         "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]},
        "noNewPrivileges": true
    });
    let path = f.dir.join("process.json");
    std::fs::write(&path, process.to_string()).unwrap();
    let r = exec_json(&f, &["--process", path.to_str().unwrap(), &f.id]);
    assert_eq!(r["uid"], "2000\t2000\t2000\t2000");
    assert_eq!(r["cap_effective"], "0000000000000020");
    let env = conformance::env_of(&r);
    assert!(
        env.contains(&"ONLY=this") && !env.iter().any(|e| e.starts_with("TERM=")),
        "{env:?}"
    );
}

/// --process read from a pipe: read once, whatever the runtime does before
/// it starts the process (berth re-executes itself from a sealed copy).
#[test]
fn exec_process_json_from_a_pipe() {
    let (f, _pid) = running("execpipe", |_| {});
    let process = json!({
        "terminal": false,
        "user": {"uid": 0, "gid": 0},
        "args": ["/bin/sh", "-c", "echo from-the-pipe"],
        "env": ["PATH=/bin"],
        "cwd": "/"
    });
    // /proc/self/fd/0, not /dev/stdin: a bare devtmpfs (hack/vm) has no
    // /dev/stdin.
    let mut c = f.runtime_cmd(&["exec", "--process", "/proc/self/fd/0", &f.id]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(process.to_string().as_bytes()).unwrap();
    }
    let out = conformance::wait_output(child, std::time::Duration::from_secs(30));
    assert!(out.status.success(), "exec: {}", conformance::stderr(&out));
    assert_eq!(conformance::stdout(&out).trim(), "from-the-pipe");
}

/// --detach returns once the process runs; --pid-file names it.
#[test]
fn exec_detach_writes_the_pid_file() {
    let (f, init) = running("execdetach", |_| {});
    let pidfile = f.dir.join("exec.pid");
    let o = f.rt(&[
        "exec",
        "--detach",
        "--pid-file",
        pidfile.to_str().unwrap(),
        &f.id,
        "sleep",
        "999",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let cmdline = || std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    if is_runc() {
        // runc returns once its `runc init` for the process has started,
        // before that execs the process: seen under emulation.
        conformance::poll_until(std::time::Duration::from_secs(10), || {
            cmdline().starts_with("sleep\u{0}")
        });
    }
    let cmdline = cmdline();
    assert!(cmdline.starts_with("sleep\u{0}999"), "{cmdline:?}");
    // In the container's cgroups, as the host sees them.
    let cg = |p: i64| std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
    assert_eq!(cg(pid as i64), cg(init));
}

/// --tty: the pty master goes over --console-socket, and the process's
/// stdio is the terminal.
#[test]
fn exec_tty_over_the_console_socket() {
    let (f, _pid) = running("exectty", |_| {});
    let sock = f.dir.join("console.sock");
    let receiver = conformance::console_socket(&sock);
    let o = f.rt(&[
        "exec",
        "--detach",
        "--tty",
        "--console-socket",
        sock.to_str().unwrap(),
        &f.id,
        "sh",
        "-c",
        "tty; echo done",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut master = receiver.join().unwrap();
    let text = conformance::read_until(&mut master, "done");
    assert!(text.contains("/dev/pts/"), "{text:?}");
}

/// The container's seccomp filter applies to exec'd processes too.
#[test]
fn exec_gets_the_containers_seccomp_filter() {
    let (f, _pid) = running("execseccomp", |f| {
        f.config["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
        });
    });
    let r = exec_json(&f, &[&f.id, "/bin/probe", "syscall", "121", "0"]);
    assert_eq!(r["errno"], 13, "{r}");
}

/// exec's process follows the rule init does: nothing of the runtime's
/// own runs under the filter but dropping privileges and execve, also
/// without noNewPrivileges (the filter then goes on with CAP_SYS_ADMIN,
/// kept until then). Each call exec's process used to make after the
/// filter kills whoever makes it; `true` (busybox) makes none of them.
#[test]
fn exec_makes_no_call_of_its_own_under_the_filter() {
    if is_runc() {
        // runc 1.1 loads the filter before its own setup without
        // no_new_privs (getcwd when checking the cwd, among others).
        return;
    }
    for call in [
        "getcwd",
        "chdir",
        "umask",
        "close_range",
        "rt_sigaction",
        "rt_sigprocmask",
        "sched_setaffinity",
        "openat",
        "mmap",
    ] {
        let (f, _pid) = running("execown", |f| {
            f.config["process"]["noNewPrivileges"] = json!(false);
            f.config["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "0"});
            f.config["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": [call], "action": "SCMP_ACT_KILL_PROCESS"}]
            });
        });
        for user in ["0:0", "1000:1000"] {
            let o = f.rt(&["exec", "--user", user, &f.id, "/bin/true"]);
            assert!(
                o.status.success(),
                "{call} killed, user {user}: {:?} {}",
                o.status,
                stderr(&o)
            );
        }
    }
}

/// --additional-gids given twice are set once, as runc sets them.
#[test]
fn exec_additional_gids_are_set_once() {
    let (f, _pid) = running("execgids", |_| {});
    let r = exec_json(
        &f,
        &[
            "--user",
            "1000:1000",
            "-g",
            "101",
            "-g",
            "102",
            "-g",
            "101",
            &f.id,
            "/bin/probe",
        ],
    );
    assert_eq!(r["groups"], "101 102");
}

/// exec into a stopped container fails; into a paused one only with
/// --ignore-paused.
#[test]
fn exec_needs_a_running_container() {
    let (f, _pid) = running("execstate", |_| {});
    assert!(f.rt(&["pause", &f.id]).status.success());
    let o = f.rt(&["exec", &f.id, "true"]);
    assert!(!o.status.success());
    if !is_runc() {
        assert!(stderr(&o).contains("paused"), "{}", stderr(&o));
    }
    assert!(f.rt(&["resume", &f.id]).status.success());
    assert!(f.rt(&["kill", &f.id, "KILL"]).status.success());
    assert!(f.wait_status("stopped"));
    let o = f.rt(&["exec", &f.id, "true"]);
    assert!(!o.status.success());
}

/// --preserve-fds passes descriptors on; others stay behind.
#[test]
fn exec_preserve_fds() {
    use std::os::unix::process::CommandExt;
    let (f, _pid) = running("execfds", |_| {});
    let mut c = f.runtime_cmd(&["exec", "--preserve-fds", "1", &f.id, "/bin/probe"]);
    c.stdin(std::process::Stdio::null());
    // SAFETY: only dup2 and open between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
            libc::dup2(null, 3);
            libc::dup2(null, 4);
            Ok(())
        });
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let fds = r["fds"].as_object().unwrap();
    assert!(fds.contains_key("3"), "{fds:?}");
    assert!(
        !fds.contains_key("4") || fds["4"].as_str().unwrap_or_default().starts_with("/proc"),
        "{fds:?}"
    );
}

/// In a container with its own user namespace, exec joins it too.
#[test]
fn exec_joins_a_user_namespace() {
    let (f, pid) = running("execuserns", |f| {
        f.config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        f.config["linux"]["uidMappings"] = map.clone();
        f.config["linux"]["gidMappings"] = map;
    });
    let r = exec_json(&f, &[&f.id, "/bin/probe"]);
    assert_eq!(r["namespaces"]["user"], ns(pid, "user"));
    assert_eq!(r["uid_map"], json!(["0 100000 65536"]));
    assert_eq!(r["uid"], "0\t0\t0\t0");
}

/// --ignore-paused: the process starts in the frozen container and runs
/// once it is resumed.
#[test]
fn exec_ignore_paused() {
    let (f, _pid) = running("execpaused", |_| {});
    assert!(f.rt(&["pause", &f.id]).status.success());
    let mut c = f.runtime_cmd(&["exec", "--ignore-paused", &f.id, "sh", "-c", "echo thawed"]);
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(f.rt(&["resume", &f.id]).status.success());
    let out = conformance::wait_output(child, std::time::Duration::from_secs(20));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "thawed");
}

/// --cgroup runs the process in a sub-cgroup of the container's.
#[test]
fn exec_into_a_sub_cgroup() {
    if is_runc() {
        return; // runc 1.1 wants the sub-cgroup made beforehand
    }
    let (f, _pid) = running("execsubcg", |f| {
        f.config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "cgroup");
    });
    let r = exec_json(&f, &["--cgroup", "sub", &f.id, "/bin/probe"]);
    let cgroups = r["cgroups"].as_array().unwrap();
    assert!(
        cgroups
            .iter()
            .all(|c| c.as_str().unwrap().ends_with(&format!("/{}/sub", f.id))),
        "{cgroups:?}"
    );
}

/// --tty in the foreground without a console socket: the runtime copies
/// the terminal (run under script(1), which gives it one).
#[test]
fn exec_tty_in_the_foreground() {
    let util_linux = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("util-linux"));
    if !util_linux {
        eprintln!("skipped: needs script(1) from util-linux");
        return;
    }
    let (f, _pid) = running("exectty2", |_| {});
    let cmd = format!(
        "{} --root {} exec -t {} sh -c 'tty; echo done'",
        conformance::runtime().display(),
        f.root.display(),
        f.id
    );
    let child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    let out = conformance::wait_output(child, std::time::Duration::from_secs(20));
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("/dev/pts/") && text.contains("done"),
        "{text:?}"
    );
}

/// --pidfd-socket: a pidfd of the new process arrives on the socket.
#[test]
fn exec_sends_a_pidfd() {
    let (f, _pid) = running("execpidfd", |_| {});
    let sock = f.dir.join("pidfd.sock");
    let receiver = conformance::console_socket(&sock);
    let pidfile = f.dir.join("exec.pid");
    let o = f.rt(&[
        "exec",
        "--detach",
        "--pidfd-socket",
        sock.to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &f.id,
        "sleep",
        "999",
    ]);
    if is_runc() && !o.status.success() {
        return; // --pidfd-socket came with runc 1.2
    }
    assert!(o.status.success(), "{}", stderr(&o));
    let pidfd = receiver.join().unwrap();
    use std::os::fd::AsRawFd;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).unwrap();
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert!(info.contains(&format!("Pid:\t{}", pid.trim())), "{info}");
}

/// An AppArmor profile or SELinux label for an LSM the host does not run
/// is an error, as for create.
#[test]
fn exec_lsm_flags_need_their_lsm() {
    let (f, _pid) = running("execlsm", |_| {});
    let apparmor_on = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'));
    if !apparmor_on {
        let o = f.rt(&["exec", "--apparmor", "berth-test", &f.id, "true"]);
        assert!(!o.status.success());
    }
    if !std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        let o = f.rt(&[
            "exec",
            "--process-label",
            "system_u:system_r:container_t:s0",
            &f.id,
            "true",
        ]);
        assert!(!o.status.success());
    }
}
