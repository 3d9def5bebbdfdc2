//! The runtime under podman 4.3 (with conmon): each test starts its own
//! private podman (conformance::podman) with the busybox image from
//! `hack/image` and the runtime under test (`BERTH_RUNTIME`, default the
//! workspace's berth; `/usr/bin/runc` checks the tests against runc) as
//! its default runtime. No network: every container runs with
//! `--network none`.
//!
//! Where runc's messages differ from berth's, the tests accept runc's
//! (runc 1.1 names an rlimit by its number).

use std::time::{Duration, Instant};

use conformance::podman::{
    cgroup_dirs, cgroup_file, runtime_name, runtime_path, runtime_state_root, Podman,
};
use conformance::{is_runc, stderr, stdout};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A capability set from /proc/PID/status text (`CapEff` and so on).
fn cap_set(status: &str, set: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{set}:")))
        .unwrap_or_else(|| panic!("no {set} in {status}"));
    u64::from_str_radix(line.trim(), 16).unwrap()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `--runtime PATH` and then `args`.
fn by_path(path: &str, args: Vec<String>) -> Vec<String> {
    let mut all = vec!["--runtime".to_string(), path.to_string()];
    all.extend(args);
    all
}

const CAP_CHOWN: u32 = 0;
const CAP_NET_ADMIN: u32 = 12;

#[test]
fn output_stdin_and_exit_codes_come_through() {
    let pm = Podman::new();
    let o = pm.run(&[], &["sh", "-c", "echo to-stdout; echo to-stderr >&2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "to-stdout\n");
    assert!(stderr(&o).contains("to-stderr"), "stderr: {}", stderr(&o));

    let o = pm.run(&[], &["sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    let o = pm.run(&[], &["false"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    // -i forwards stdin, and its end.
    let input: Vec<u8> = (0..5000)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    let o = pm.run_stdin(&["-i"], &["sh", "-c", "cat; echo done"], Some(&input));
    assert!(o.status.success(), "{}", stderr(&o));
    let mut expected = input.clone();
    expected.extend_from_slice(b"done\n");
    assert!(o.stdout == expected, "stdin came back changed");

    // The image's environment and working directory, with podman's own.
    let out = pm.run_ok(
        &[
            "--env",
            "GREETING=hi",
            "--workdir",
            "/tmp",
            "--hostname",
            "boat",
        ],
        &["sh", "-c", "echo $GREETING; pwd; hostname; id -u"],
    );
    assert_eq!(out, "hi\n/tmp\nboat\n0\n");

    // --rm removed every container.
    assert_eq!(pm.ok(&["ps", "-aq"]), "");
}

#[test]
fn a_missing_binary_is_127_and_named() {
    let pm = Podman::new();
    // Looked up in PATH: runc says `exec: "NAME": executable file not
    // found in $PATH`, and so does berth.
    let o = pm.run(&[], &["no-such-binary"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("no-such-binary"), "binary not named: {err}");
    assert!(
        err.contains("executable file not found in $PATH"),
        "no reason: {err}"
    );
    // podman sorts runtime errors by their text: this one is "not found".
    assert!(
        err.contains("OCI runtime attempted to invoke a command that was not found"),
        "{err}"
    );

    // An absolute path: runc says `stat PATH: no such file or directory`,
    // berth `exec PATH: ENOENT: No such file or directory`.
    let o = pm.run(&[], &["/no/such/binary", "arg"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("/no/such/binary"), "binary not named: {err}");
    assert!(
        err.to_lowercase().contains("no such file or directory"),
        "no reason: {err}"
    );

    // Not executable: 126, permission denied.
    let o = pm.run(&[], &["/etc/passwd"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("/etc/passwd") && err.to_lowercase().contains("permission denied"),
        "{err}"
    );
    assert_eq!(
        pm.ok(&["ps", "-aq"]),
        "",
        "a failed run --rm left a container"
    );
}

#[test]
fn a_bad_mount_or_a_dropped_capability_fails_clearly() {
    let pm = Podman::new();
    // A file over a directory: the runtime's mount fails with ENOTDIR.
    let o = pm.run(&["-v", "/etc/hostname:/bin"], &["true"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("/bin") && err.to_lowercase().contains("not a directory"),
        "unclear: {err}"
    );
    assert_eq!(pm.ok(&["ps", "-aq"]), "");

    // Without CAP_CHOWN, chown is refused inside; the exit code is the
    // program's.
    let o = pm.run(&["--cap-drop", "CHOWN"], &["chown", "1", "/tmp"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
    // With it, the same works.
    pm.run_ok(&[], &["chown", "1", "/tmp"]);
}

/// A shell script for a terminal: prints the tty and its size (once
/// the engine has set it), then "ready", reads a line, echoes it as
/// "got:LINE" and exits 3.
const TTY_SCRIPT: &str = "tty; i=0; while [ $i -lt 100 ]; do s=$(stty size 2>/dev/null); \
     [ -n \"$s\" ] && [ \"$s\" != '0 0' ] && break; i=$((i+1)); sleep 0.1; done; \
     echo \"size:$s\"; echo ready; read x; echo \"got:$x\"; exit 3";

/// Drives `podman ARGS…` running [`TTY_SCRIPT`] in a 33×77 terminal.
fn drive_terminal(pm: &Podman, args: &[&str]) {
    let mut pty = pm.pty(args, 33, 77);
    let text = pty.read_until("ready", secs(30));
    assert!(text.contains("ready"), "no prompt: {text:?}");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(
        lines.iter().any(|l| l.starts_with("/dev/pts/")),
        "tty is not a pty: {text:?}"
    );
    assert!(lines.contains(&"size:33 77"), "size not passed: {text:?}");
    pty.write(b"abc\r");
    let text = pty.read_until("got:abc", secs(20));
    assert!(text.contains("got:abc"), "input not passed: {text:?}");
    let status = pty.wait(secs(20)).expect("podman did not exit");
    assert_eq!(status.code(), Some(3));
}

#[test]
fn run_it_and_exec_it_get_a_terminal_that_passes_input() {
    let pm = Podman::new();
    let args = Podman::run_args(&["--rm", "-it"], &["sh", "-c", TTY_SCRIPT]);
    drive_terminal(&pm, &strs(&args));
    assert_eq!(pm.ok(&["ps", "-aq"]), "");

    // An exec with a terminal of its own in a container without one.
    let name = pm.name("exec-tty");
    pm.run_detached(&name, &[], &["sleep", "1000"]);
    drive_terminal(&pm, &["exec", "-it", &name, "sh", "-c", TTY_SCRIPT]);
    assert_eq!(pm.status(&name), "running");
}

#[test]
fn detached_container_exec_top_and_ps() {
    let pm = Podman::new();
    let name = pm.name("detached");
    let id = pm.run_detached(&name, &[], &["sleep", "1000"]);
    let pid = pm.pid(&name);
    assert!(
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .unwrap_or_default()
            .starts_with("sleep\0"),
        "PID {pid} is not the container's sleep"
    );
    assert!(
        runtime_state_root().join(&id).exists(),
        "the runtime keeps no state for {id} in {}",
        runtime_state_root().display()
    );

    // exec: output, the exec's exit code, in the container's namespaces.
    let o = pm.podman(&[
        "exec",
        &name,
        "sh",
        "-c",
        "echo in-exec; cat /proc/1/cmdline; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "in-exec\nsleep\u{0}1000\u{0}");
    let out = pm.ok(&[
        "exec",
        "--workdir",
        "/etc",
        "--user",
        "nobody",
        &name,
        "sh",
        "-c",
        "pwd; id",
    ]);
    assert!(
        out.starts_with("/etc\nuid=65534(nobody) gid=65534(nobody)"),
        "{out}"
    );
    let o = pm.podman_stdin(&["exec", "-i", &name, "wc", "-c"], Some(b"12345"));
    assert_eq!(stdout(&o).trim(), "5", "{}", stderr(&o));
    let o = pm.podman(&["exec", &name, "no-such-binary"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(stderr(&o).contains("no-such-binary"), "{}", stderr(&o));

    // top and ps.
    let top = pm.ok(&["top", &name, "pid", "args"]);
    assert!(
        top.lines()
            .skip(1)
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "sleep", "1000"]),
        "{top}"
    );
    let ps = pm.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.trim().starts_with(&format!("{name} Up ")), "{ps}");
    let ps = pm.ok(&["ps", "-q", "--no-trunc"]);
    assert_eq!(ps.trim(), id);
}

#[test]
fn pause_and_unpause_freeze_and_thaw() {
    let pm = Podman::new();
    let name = pm.name("pause");
    pm.run_detached(&name, &[], &["sleep", "1000"]);
    let pid = pm.pid(&name);
    let freezer = cgroup_file(pid, "freezer", "freezer.state", "cgroup.freeze")
        .expect("no freezer for the container");
    let frozen = || {
        let s = std::fs::read_to_string(&freezer).unwrap_or_default();
        matches!(s.trim(), "FROZEN" | "1")
    };
    pm.ok(&["pause", &name]);
    assert_eq!(pm.status(&name), "paused");
    assert_eq!(pm.inspect(&name, "{{.State.Paused}}"), "true");
    assert!(frozen(), "paused but {} is not frozen", freezer.display());
    let ps = pm.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert_eq!(ps.trim(), format!("{name} Paused"));
    // podman refuses an exec while paused.
    let o = pm.podman(&["exec", &name, "true"]);
    assert!(!o.status.success(), "exec in a paused container");

    pm.ok(&["unpause", &name]);
    assert_eq!(pm.status(&name), "running");
    assert!(!frozen(), "unpaused but still frozen");
    assert_eq!(pm.ok(&["exec", &name, "echo", "thawed"]), "thawed\n");
}

#[test]
fn stop_kill_and_wait_report_exit_codes() {
    let pm = Podman::new();
    // sleep as PID 1 ignores SIGTERM: stop -t 1 kills it after a second.
    let name = pm.name("stop");
    let id = pm.run_detached(&name, &[], &["sleep", "1000"]);
    let start = Instant::now();
    pm.ok(&["stop", "-t", "1", &name]);
    let took = start.elapsed();
    assert!(took >= secs(1), "stop -t 1 took only {took:?}");
    assert!(took < secs(15), "stop -t 1 took {took:?}");
    assert_eq!(pm.status(&name), "exited");
    assert_eq!(pm.inspect(&name, "{{.State.ExitCode}}"), "137");
    assert_eq!(pm.ok(&["wait", &name]).trim(), "137");
    assert!(
        !runtime_state_root().join(&id).exists(),
        "the runtime still has state for the stopped {id}"
    );

    // A shell that handles SIGTERM ends at once with its own code.
    let name = pm.name("term");
    pm.run_detached(
        &name,
        &[],
        &[
            "sh",
            "-c",
            "trap 'exit 143' TERM; echo ready; while :; do sleep 0.1; done",
        ],
    );
    let deadline = Instant::now() + secs(10);
    while !pm.ok(&["logs", &name]).contains("ready") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let start = Instant::now();
    pm.ok(&["stop", "-t", "10", &name]);
    assert!(start.elapsed() < secs(5), "SIGTERM was not delivered");
    assert_eq!(pm.inspect(&name, "{{.State.ExitCode}}"), "143");

    // kill -s KILL, then wait.
    let name = pm.name("kill");
    pm.run_detached(&name, &[], &["sleep", "1000"]);
    pm.ok(&["kill", "-s", "KILL", &name]);
    assert_eq!(pm.ok(&["wait", &name]).trim(), "137");
    assert_eq!(pm.status(&name), "exited");

    // A stopped container starts again.
    pm.ok(&["start", &name]);
    assert!(pm.wait_status(&name, "running", secs(20)));
    pm.ok(&["kill", &name]);
    assert_eq!(pm.ok(&["wait", &name]).trim(), "137");

    pm.ok(&["rm", "-a"]);
    assert_eq!(pm.ok(&["ps", "-aq"]), "");
    assert!(cgroup_dirs(&id).is_empty(), "cgroups of {id} left");
}

#[test]
fn sigkill_of_a_foreground_run_is_137() {
    let pm = Podman::new();
    let name = pm.name("sigkill");
    let args = Podman::run_args(&["--name", &name], &["sleep", "1000"]);
    let mut run = pm.background(&strs(&args));
    assert!(
        pm.wait_status(&name, "running", secs(20)),
        "not running: {}",
        run.text()
    );
    pm.ok(&["kill", "-s", "KILL", &name]);
    let status = conformance::containerd::wait_deadline(&mut run.child, secs(20))
        .expect("podman run did not end after SIGKILL");
    assert_eq!(status.code(), Some(137), "{}", run.text());
    assert_eq!(pm.inspect(&name, "{{.State.ExitCode}}"), "137");
    assert_eq!(pm.status(&name), "exited");

    // A program that ends by a signal of its own gives 128+N too.
    let o = pm.run(&[], &["sh", "-c", "sleep 100 & p=$!; kill -9 $p; wait $p"]);
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
}

#[test]
fn memory_and_pids_limits_reach_the_cgroup_and_update() {
    let pm = Podman::new();
    let name = pm.name("limits");
    let id = pm.run_detached(
        &name,
        &["--memory", "64m", "--pids-limit", "50"],
        &["sleep", "1000"],
    );
    let pid = pm.pid(&name);
    let memory = cgroup_file(pid, "memory", "memory.limit_in_bytes", "memory.max")
        .expect("no memory cgroup");
    let pids = cgroup_file(pid, "pids", "pids.max", "pids.max").expect("no pids cgroup");
    assert!(
        memory.to_string_lossy().contains(&format!("libpod-{id}")),
        "not podman's cgroup: {}",
        memory.display()
    );
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap().trim().to_string();
    assert_eq!(read(&memory), "67108864");
    assert_eq!(read(&pids), "50");
    // The container sees its own.
    let inside = pm.ok(&[
        "exec",
        &name,
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
    ]);
    assert_eq!(inside.trim(), "67108864");

    // podman 4.3 has `update` (no --pids-limit yet): the runtime's update.
    pm.ok(&["update", "--memory", "128m", &name]);
    assert_eq!(read(&memory), "134217728");
    assert_eq!(read(&pids), "50", "update changed what it was not asked to");

    // The limit holds: 60 more processes do not fit under 50.
    let o = pm.podman(&[
        "exec",
        &name,
        "sh",
        "-c",
        "for i in $(seq 60); do sleep 30 </dev/null >/dev/null 2>&1 & done 2>/dev/null; echo started",
    ]);
    let procs = std::fs::read_to_string(memory.with_file_name("cgroup.procs")).unwrap_or_default();
    assert!(
        procs.lines().count() <= 50,
        "{} processes under pids.max 50; exec said {}{}",
        procs.lines().count(),
        stdout(&o),
        stderr(&o)
    );

    pm.ok(&["rm", "-f", "-t", "0", &name]);
    assert!(cgroup_dirs(&id).is_empty(), "cgroups of {id} left after rm");
}

#[test]
fn ulimits_are_set_or_refused_by_name() {
    let pm = Podman::new();
    let out = pm.run_ok(
        &["--ulimit", "nofile=500:600", "--ulimit", "nproc=300:400"],
        &["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -u; ulimit -Hu"],
    );
    assert_eq!(out, "500\n600\n300\n400\n");
    // containers.conf's defaults when none is given.
    let out = pm.run_ok(&[], &["sh", "-c", "ulimit -n; ulimit -Hu"]);
    assert_eq!(out, "10000\n10000\n");

    // Above this machine's hard limit (20000): no runtime can raise it.
    let o = pm.run(
        &[
            "--ulimit",
            "nofile=50000:50000",
            "--ulimit",
            "nproc=300:400",
        ],
        &["true"],
    );
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    let err = stderr(&o);
    if is_runc() {
        // runc 1.1: "error setting rlimit type 7: operation not permitted".
        assert!(err.contains("rlimit type 7"), "{err}");
    } else {
        assert!(err.contains("RLIMIT_NOFILE"), "limit not named: {err}");
        assert!(err.contains("50000"), "value not named: {err}");
    }
    assert!(
        err.to_lowercase().contains("operation not permitted"),
        "{err}"
    );
    assert_eq!(pm.ok(&["ps", "-aq"]), "");
}

#[test]
fn capabilities_are_added_and_dropped() {
    let pm = Podman::new();
    let status = pm.run_ok(&["--cap-drop", "all"], &["cat", "/proc/self/status"]);
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(
            cap_set(&status, set),
            0,
            "{set} with --cap-drop all: {status}"
        );
    }

    let default = pm.run_ok(&[], &["cat", "/proc/self/status"]);
    let eff = cap_set(&default, "CapEff");
    assert_ne!(eff & (1 << CAP_CHOWN), 0, "no CAP_CHOWN by default");
    assert_eq!(eff & (1 << CAP_NET_ADMIN), 0, "CAP_NET_ADMIN by default");

    let status = pm.run_ok(
        &["--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN"],
        &["cat", "/proc/self/status"],
    );
    let want = (eff | (1 << CAP_NET_ADMIN)) & !(1 << CAP_CHOWN);
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(cap_set(&status, set), want, "{set}: {status}");
    }
    assert_eq!(cap_set(&status, "CapAmb"), 0);

    // A non-root user keeps none in effect.
    let status = pm.run_ok(&["--user", "1000"], &["cat", "/proc/self/status"]);
    assert_eq!(cap_set(&status, "CapEff"), 0, "{status}");
    assert_eq!(cap_set(&status, "CapBnd"), eff);
}

#[test]
fn read_only_root_with_writable_tmpfs() {
    let pm = Podman::new();
    let o = pm.run(
        &["--read-only"],
        &[
            "sh",
            "-c",
            "touch /x 2>&1; echo root=$?; \
             for d in /tmp /run /var/tmp; do touch $d/f && echo $d=ok; done; \
             grep ' / ' /proc/self/mountinfo",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("root=1"), "{out}");
    for d in ["/tmp", "/run", "/var/tmp"] {
        assert!(out.contains(&format!("{d}=ok")), "{d} not writable: {out}");
    }
    let root = out.lines().last().unwrap_or_default();
    let opts: Vec<&str> = root.split(' ').nth(5).unwrap_or("").split(',').collect();
    assert!(opts.contains(&"ro"), "/ is not mounted ro: {root}");

    // podman's tmpfs mounts start with a copy of what they hide
    // (tmpcopyup) unless told not to.
    let out = pm.run_ok(
        &["--read-only", "--tmpfs", "/etc"],
        &[
            "sh",
            "-c",
            "head -1 /etc/passwd; touch /etc/new && echo etc=ok",
        ],
    );
    assert_eq!(out, "root:x:0:0:root:/root:/bin/sh\netc=ok\n");
    let out = pm.run_ok(
        &["--tmpfs", "/etc:notmpcopyup"],
        &[
            "sh",
            "-c",
            "test -e /etc/passwd && echo copied || echo empty",
        ],
    );
    assert_eq!(out, "empty\n");
}

#[test]
fn users_by_number_and_group() {
    let pm = Podman::new();
    let out = pm.run_ok(&["--user", "65534"], &["id"]);
    assert!(
        out.starts_with("uid=65534(nobody) gid=65534(nobody)"),
        "{out}"
    );
    // podman adds a passwd entry for a uid the image lacks, named by it.
    let out = pm.run_ok(&["--user", "1000:1000"], &["id"]);
    assert!(out.starts_with("uid=1000(1000) gid=1000"), "{out}");
    let out = pm.run_ok(&["--user", "1000:1000"], &["sh", "-c", "id -u; id -g"]);
    assert_eq!(out, "1000\n1000\n");
    let out = pm.run_ok(&["--user", "nobody"], &["sh", "-c", "id -u; id -g"]);
    assert_eq!(out, "65534\n65534\n");
    let out = pm.run_ok(&["--user", "1000:1000", "--group-add", "5"], &["id", "-G"]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["1000", "5"]);
}

#[test]
fn seccomp_profiles_are_applied() {
    let pm = Podman::new();
    let docker_default = "/work/shared/seccomp/docker-default.json";
    if std::path::Path::new(docker_default).exists() {
        let opt = format!("seccomp={docker_default}");
        let out = pm.run_ok(
            &["--security-opt", &opt],
            &[
                "sh",
                "-c",
                "grep '^Seccomp:' /proc/self/status; mkdir /tmp/d && echo made",
            ],
        );
        assert_eq!(out, "Seccomp:\t2\nmade\n");
    } else {
        eprintln!("{docker_default} missing: Docker's default profile not tried");
    }

    let profile = pm.dir.join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let o = pm.run(
        &["--security-opt", &opt],
        &["sh", "-c", "touch /tmp/f && echo touched; mkdir /tmp/d"],
    );
    assert_eq!(o.status.code(), Some(1), "mkdir not denied: {}", stdout(&o));
    assert_eq!(stdout(&o), "touched\n");
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );

    // Without a profile, podman's own default allows mkdir.
    let out = pm.run_ok(&[], &["sh", "-c", "mkdir /tmp/d && echo made"]);
    assert_eq!(out, "made\n");
    let out = pm.run_ok(
        &["--security-opt", "seccomp=unconfined"],
        &["grep", "^Seccomp:", "/proc/self/status"],
    );
    assert_eq!(out, "Seccomp:\t0\n");
}

#[test]
fn the_runtime_by_path_and_by_name() {
    let pm = Podman::new();
    let path = runtime_path();
    let path = path.to_str().unwrap();
    let info = |global: &[&str], field: &str| {
        let format = format!("{{{{.Host.OCIRuntime.{field}}}}}");
        let args = [global, &["info", "--format", &format]].concat();
        pm.ok(&args).trim().to_string()
    };

    // By name, from containers.conf.
    assert_eq!(info(&[], "Name"), runtime_name());
    assert_eq!(info(&[], "Path"), path);
    let version = info(&[], "Version");
    assert!(version.contains(&runtime_name()), "{version}");
    let name = pm.name("byname");
    pm.ok(&strs(&Podman::run_args(&["--name", &name], &["true"])));
    assert_eq!(pm.inspect(&name, "{{.OCIRuntime}}"), runtime_name());

    // By path: podman --runtime PATH.
    assert_eq!(info(&["--runtime", path], "Path"), path);
    let name = pm.name("bypath");
    let args = by_path(
        path,
        Podman::run_args(&["--name", &name], &["echo", "by path"]),
    );
    assert_eq!(pm.ok(&strs(&args)), "by path\n");
    assert_eq!(pm.inspect(&name, "{{.OCIRuntime}}"), path);
    pm.ok(&["--runtime", path, "rm", &name]);

    // A detached container by path is stopped and removed through it.
    let name = pm.name("bypath-d");
    let args = by_path(
        path,
        Podman::run_args(&["-d", "--name", &name], &["sleep", "1000"]),
    );
    let id = pm.ok(&strs(&args)).trim().to_string();
    assert!(pm.wait_status(&name, "running", secs(20)));
    assert!(runtime_state_root().join(&id).exists(), "no state of {id}");
    pm.ok(&["--runtime", path, "rm", "-f", "-t", "0", &name]);
    assert!(
        !runtime_state_root().join(&id).exists(),
        "state of {id} left"
    );
    assert!(cgroup_dirs(&id).is_empty(), "cgroups of {id} left");
}

/// The paths (three levels deep) under the directories where a podman
/// that is not kept private leaves its state.
fn shared_state() -> Vec<String> {
    fn walk(dir: &std::path::Path, depth: usize, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            out.push(e.path().to_string_lossy().into_owned());
            if depth > 0 && e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&e.path(), depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    for d in [
        "/run/containers",
        "/var/lib/containers",
        "/run/libpod",
        "/var/run/libpod",
    ] {
        out.push(format!("{d} exists={}", std::path::Path::new(d).exists()));
        walk(std::path::Path::new(d), 2, &mut out);
    }
    out.sort();
    out
}

#[test]
fn state_stays_in_the_private_dir_and_goes_with_it() {
    let before = shared_state();
    let pm = Podman::new();
    let dir = pm.dir.clone();
    let name = pm.name("private");
    let id = pm.run_detached(&name, &["--read-only"], &["sleep", "1000"]);
    pm.ok(&["exec", &name, "true"]);
    pm.run_ok(&[], &["true"]);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        mounts.contains(&format!("{}/root/overlay/", dir.display())),
        "the container's rootfs is not mounted from our dir"
    );
    assert!(!pm.processes().is_empty(), "no conmon of ours");
    let after = shared_state();
    let new: Vec<&String> = after.iter().filter(|p| !before.contains(p)).collect();
    assert!(new.is_empty(), "podman wrote outside its dir: {new:?}");
    // Locks are files of ours, not slots in the shared /dev/shm/libpod_lock;
    // the image's blob info cache is ours, not /var/lib/containers/cache.
    assert!(dir.join("libpod/locks").is_dir(), "no file locks");
    assert!(
        dir.join("var-lib/containers/cache").is_dir(),
        "podman load kept no blob info cache in our dir"
    );

    // Drop leaves nothing: no process, no mount, no state, no cgroup,
    // though the container still runs.
    let pid = pm.pid(&name);
    drop(pm);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        !cmdline.starts_with(b"sleep\0"),
        "the container's sleep is left"
    );
    let needle = format!("{}/", dir.display());
    let left: Vec<i32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|pid: &i32| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                .unwrap_or(false)
        })
        .collect();
    assert!(left.is_empty(), "processes left: {left:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(dir.to_str().unwrap()), "mounts left");
    assert!(!dir.exists(), "{} left", dir.display());
    assert!(
        !runtime_state_root().join(&id).exists(),
        "runtime state of {id} left"
    );
    assert!(cgroup_dirs(&id).is_empty(), "cgroups of {id} left");
}

/// runc 1.1 refuses a mount over /proc that is not a proc, and every mount
/// inside /proc but the few files lxcfs emulates (/proc/cpuinfo, meminfo,
/// stat, uptime, …): a volume over /proc/self/attr/* could otherwise
/// defeat the LSM label written there (CVE-2019-16884).
#[test]
fn mounts_inside_proc_are_refused() {
    let pm = Podman::new();
    let src = pm.dir.join("src");
    std::fs::create_dir_all(src.join("d")).unwrap();
    std::fs::write(src.join("f"), "mounted\n").unwrap();
    let (d, f) = (src.join("d"), src.join("f"));
    let (d, f) = (d.to_str().unwrap(), f.to_str().unwrap());
    for (source, dest) in [
        (d, "/proc"),
        (f, "/proc/version"),
        (f, "/proc/self/attr/current"),
    ] {
        let mount = format!("type=bind,src={source},dst={dest}");
        let o = pm.run(&["--mount", &mount], &["cat", "/proc/version"]);
        assert!(
            !o.status.success(),
            "a bind mount on {dest} was made: {}",
            stdout(&o)
        );
        assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
        assert!(stderr(&o).contains("/proc"), "{}", stderr(&o));
    }
    // What lxcfs mounts is allowed.
    let mount = format!("type=bind,src={f},dst=/proc/cpuinfo");
    assert_eq!(
        pm.run_ok(&["--mount", &mount], &["cat", "/proc/cpuinfo"]),
        "mounted\n"
    );
}

/// Rootless podman (run by an unprivileged user, storage in its dir, the
/// runtime run as root in the user namespace podman makes from
/// /etc/subuid): output, exit codes, the id mapping and the runtime's state
/// under the user's XDG_RUNTIME_DIR.
#[test]
fn rootless_podman_runs_containers() {
    let pm = Podman::rootless();
    let user = conformance::rootless_user();
    let out = pm.run_ok(&[], &["sh", "-c", "id -u; cat /proc/self/uid_map"]);
    let squeezed: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(squeezed.first().map(String::as_str), Some("0"), "{out}");
    assert!(
        squeezed.contains(&format!("0 {} 1", user.uid)),
        "container root is not the user: {out}"
    );
    assert!(
        squeezed.contains(&format!("1 {} 65536", user.subids)),
        "the subordinate ids are not mapped: {out}"
    );
    let o = pm.run(&[], &["sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    // Named on the command line, by path, as well as by the config.
    let path = conformance::runtime_for_user()
        .to_str()
        .unwrap()
        .to_string();
    let out = pm.run_ok(&["--runtime", &path], &["id", "-u"]);
    assert_eq!(out, "0\n");

    // Detached: the runtime's state is the user's while the container runs.
    let name = pm.name("rootless");
    let id = pm.run_detached(&name, &[], &["sleep", "100"]);
    assert!(
        pm.runtime_root().join(&id).is_dir(),
        "no state under {}",
        pm.runtime_root().display()
    );
    pm.ok(&["rm", "-f", "-t", "0", &name]);
    assert!(!pm.runtime_root().join(&id).exists(), "state left behind");
}
