//! berth as a Docker runtime: each test starts its own dockerd 20.10
//! (conformance::docker, up in about 0.3 s) with berth registered as
//! `--runtime berth`, loads the busybox image of `hack/image`, and runs
//! its checks once per runtime in `BERTH_DOCKER_RUNTIMES` (default
//! `berth,runc`: dockerd's own runc 1.1 is the reference, so a check that
//! fails on runc is a wrong check).
//!
//! The first runs found four differences from runc, fixed in berth since
//! and checked here: the lower-case "no such file or directory" Docker's
//! client looks for to exit 127, memory values of 0 in `docker update`
//! meaning "unchanged", and a `--device` straight below /.
//!
//! ```sh
//! cargo test -p conformance --test docker                      # berth and runc
//! BERTH_DOCKER_RUNTIMES=runc cargo test -p conformance --test docker
//! BERTH_RUNTIME=/usr/sbin/runc cargo test -p conformance --test docker  # runc as "berth"
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use conformance::docker::{is_berth, runtimes, Docker, IMAGE};
use conformance::{stderr, stdout};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A failed `docker run`: its exit code and its message (stderr).
fn failure(o: &std::process::Output) -> (Option<i32>, String) {
    (o.status.code(), stderr(o))
}

/// The value of `Key:` in /proc/PID/status as printed by `grep`.
fn status_field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in {text:?}"))
        .trim()
        .to_string()
}

fn read_trim(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
fn output_exit_codes_and_start_errors() {
    let dk = Docker::start();
    for rt in runtimes() {
        let rt = rt.as_str();
        assert_eq!(dk.run_ok(rt, &[], &["echo", "hi"]), "hi\n", "{rt}");

        let o = dk.run(rt, &[], &["sh", "-c", "echo out; echo err >&2"]);
        dk.assert_ok(&o, &["run", rt]);
        assert_eq!(stdout(&o), "out\n", "{rt}");
        assert!(stderr(&o).contains("err\n"), "{rt}: {}", stderr(&o));

        // The container's exit code is docker run's.
        let o = dk.run(rt, &[], &["sh", "-c", "exit 7"]);
        assert_eq!(o.status.code(), Some(7), "{rt}: {}", stderr(&o));

        // A command not in PATH: 127, and the message names it.
        let (code, msg) = failure(&dk.run(rt, &[], &["no-such-command"]));
        assert_eq!(code, Some(127), "{rt}: {msg}");
        assert!(
            msg.contains("\"no-such-command\": executable file not found in $PATH"),
            "{rt}: {msg}"
        );

        // A missing absolute path: 127 as well. The client (not the
        // daemon) picks that code by looking for "no such file or
        // directory" in the message, case-sensitively.
        let (code, msg) = failure(&dk.run(rt, &[], &["/no/such-binary"]));
        assert!(msg.contains("/no/such-binary"), "{rt}: {msg}");
        assert_eq!(code, Some(127), "{rt}: {msg}");
        assert!(msg.contains("no such file or directory"), "{rt}: {msg}");

        // The daemon matches without case: the container keeps 127.
        let name = dk.name("missing");
        let o = dk.docker(&[
            "run",
            "--name",
            &name,
            "--network",
            "none",
            "--runtime",
            rt,
            IMAGE,
            "/no/such-binary",
        ]);
        assert!(!o.status.success(), "{rt}");
        assert_eq!(dk.inspect(&name, "{{.State.ExitCode}}"), "127", "{rt}");
        assert!(
            dk.inspect(&name, "{{.State.Error}}")
                .contains("/no/such-binary"),
            "{rt}"
        );
        dk.ok(&["rm", &name]);

        // Not executable: 126.
        let (code, msg) = failure(&dk.run(rt, &[], &["/etc/passwd"]));
        assert_eq!(code, Some(126), "{rt}: {msg}");
        assert!(msg.contains("permission denied"), "{rt}: {msg}");

        // Refused by docker itself, before any runtime.
        let (code, msg) = failure(&dk.run(rt, &["--cap-add", "NO_SUCH_CAP"], &["true"]));
        assert_eq!(code, Some(125), "{rt}: {msg}");
        assert!(msg.contains("unknown capability"), "{rt}: {msg}");

        // A file bound over a directory: the runtime's ENOTDIR, to which
        // dockerd adds its hint (it looks for "not a directory").
        let (code, msg) = failure(&dk.run(
            rt,
            &["--mount", "type=bind,src=/etc/hostname,dst=/bin"],
            &["true"],
        ));
        assert_eq!(code, Some(125), "{rt}: {msg}");
        assert!(msg.contains("/bin"), "{rt}: {msg}");
        assert!(
            msg.to_lowercase().contains("not a directory")
                && msg.contains("Are you trying to mount a directory onto a file"),
            "{rt}: {msg}"
        );

        // A mount the kernel refuses names the mount point and the errno.
        let (code, msg) = failure(&dk.run(rt, &["--tmpfs", "/tmp:size=bogus"], &["true"]));
        assert_eq!(code, Some(125), "{rt}: {msg}");
        assert!(
            msg.contains("/tmp") && msg.to_lowercase().contains("invalid argument"),
            "{rt}: {msg}"
        );
    }
    assert_eq!(dk.ok(&["ps", "-aq"]), "", "containers left");
}

#[test]
fn interactive_terminal() {
    let dk = Docker::start();
    for rt in runtimes() {
        let rt = rt.as_str();
        // The client sizes the terminal once the container runs.
        let script = "tty; i=0; while [ $i -lt 100 ]; do s=$(stty size 2>/dev/null); \
                      [ -n \"$s\" ] && [ \"$s\" != '0 0' ] && break; i=$((i+1)); sleep 0.1; done; \
                      echo \"size:$s\"; echo ready; read x; echo \"got:$x\"; exit 3";
        let args = Docker::run_args(rt, &["-it"], &["sh", "-c", script]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut pty = dk.pty(&args, 33, 77);
        let text = pty.read_until("ready", secs(30));
        assert!(
            text.contains("ready"),
            "{rt}: no prompt: {text:?}\n{}",
            dk.log_tail(30)
        );
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        assert!(
            lines.iter().any(|l| l.starts_with("/dev/pts/")),
            "{rt}: tty is not a pty: {text:?}"
        );
        assert!(lines.contains(&"size:33 77"), "{rt}: size: {text:?}");
        pty.write(b"abc\r");
        let text = pty.read_until("got:abc", secs(20));
        assert!(text.contains("got:abc"), "{rt}: input not passed: {text:?}");
        let status = pty.wait(secs(20)).expect("docker run -it did not exit");
        assert_eq!(status.code(), Some(3), "{rt}");

        // docker exec -it into a detached container gets a terminal too.
        let name = dk.run_detached(rt, &[], &["sleep", "1000"]);
        let mut pty = dk.pty(
            &[
                "exec",
                "-it",
                &name,
                "sh",
                "-c",
                "tty; echo ready; read x; echo got:$x; exit 4",
            ],
            20,
            60,
        );
        let text = pty.read_until("ready", secs(30));
        assert!(
            text.lines().any(|l| l.trim().starts_with("/dev/pts/")),
            "{rt}: exec tty: {text:?}"
        );
        pty.write(b"xyz\r");
        let text = pty.read_until("got:xyz", secs(20));
        assert!(text.contains("got:xyz"), "{rt}: exec input: {text:?}");
        let status = pty.wait(secs(20)).expect("docker exec -it did not exit");
        assert_eq!(status.code(), Some(4), "{rt}");
        dk.ok(&["rm", "-f", &name]);
    }
}

#[test]
fn detached_exec_top_pause_stop_kill_wait() {
    let dk = Docker::start();
    for rt in runtimes() {
        let rt = rt.as_str();
        let name = dk.run_detached(rt, &[], &["sleep", "1000"]);
        assert_eq!(dk.inspect(&name, "{{.HostConfig.Runtime}}"), rt);
        let pid = dk.pid(&name);
        assert!(
            Path::new(&format!("/proc/{pid}")).exists(),
            "{rt}: State.Pid {pid} is no process"
        );

        // exec: output, exit code, user, working directory.
        let o = dk.docker(&["exec", &name, "sh", "-c", "echo in-exec; exit 3"]);
        assert_eq!(stdout(&o), "in-exec\n", "{rt}: {}", stderr(&o));
        assert_eq!(o.status.code(), Some(3), "{rt}");
        assert_eq!(
            dk.ok(&[
                "exec",
                "-u",
                "65534",
                "-w",
                "/tmp",
                &name,
                "sh",
                "-c",
                "id -u; pwd"
            ]),
            "65534\n/tmp\n",
            "{rt}"
        );
        // A failed exec: 126, and docker exec prints why on stdout.
        let o = dk.docker(&["exec", &name, "no-such-command"]);
        let msg = format!("{}{}", stdout(&o), stderr(&o));
        assert_eq!(o.status.code(), Some(126), "{rt}: {msg}");
        assert!(
            msg.contains("\"no-such-command\": executable file not found"),
            "{rt}: {msg}"
        );

        // top: the init and an exec'd process, by host PID.
        let bg = dk.docker(&["exec", "-d", &name, "sleep", "999"]);
        assert!(bg.status.success(), "{rt}: {}", stderr(&bg));
        let deadline = Instant::now() + secs(10);
        let top = loop {
            let top = dk.ok(&["top", &name]);
            if top.contains("sleep 999") || Instant::now() > deadline {
                break top;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(top.contains("sleep 1000"), "{rt}: {top}");
        assert!(top.contains("sleep 999"), "{rt}: {top}");
        assert!(
            top.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(&pid.to_string())),
            "{rt}: init {pid} not in {top}"
        );

        // pause/unpause: docker's status and the freezer.
        dk.ok(&["pause", &name]);
        assert_eq!(dk.status(&name), "paused", "{rt}");
        let freezer = Docker::cgroup_dir(pid, "freezer").join("freezer.state");
        assert_eq!(read_trim(&freezer), "FROZEN", "{rt}");
        let o = dk.docker(&["exec", &name, "true"]);
        assert!(
            !o.status.success() && stderr(&o).contains("is paused"),
            "{rt}: exec in a paused container: {}",
            stderr(&o)
        );
        dk.ok(&["unpause", &name]);
        assert_eq!(dk.status(&name), "running", "{rt}");
        assert_eq!(read_trim(&freezer), "THAWED", "{rt}");
        assert_eq!(dk.ok(&["exec", &name, "echo", "back"]), "back\n", "{rt}");

        // stop -t 1: sleep as PID 1 ignores SIGTERM, so SIGKILL follows.
        let t = Instant::now();
        dk.ok(&["stop", "-t", "1", &name]);
        assert!(t.elapsed() < secs(10), "{rt}: stop took {:?}", t.elapsed());
        assert_eq!(dk.status(&name), "exited", "{rt}");
        assert_eq!(dk.inspect(&name, "{{.State.ExitCode}}"), "137", "{rt}");

        // start again, kill -s KILL, wait: 137, also in State.ExitCode.
        dk.ok(&["start", &name]);
        assert!(dk.wait_status(&name, "running", secs(20)), "{rt}");
        assert_ne!(dk.pid(&name), pid, "{rt}: the same init after start");
        dk.ok(&["kill", "-s", "KILL", &name]);
        assert_eq!(dk.ok(&["wait", &name]).trim(), "137", "{rt}");
        assert_eq!(dk.inspect(&name, "{{.State.ExitCode}}"), "137", "{rt}");
        assert_eq!(dk.inspect(&name, "{{.State.OOMKilled}}"), "false", "{rt}");
        dk.ok(&["rm", &name]);

        // A SIGTERM handler gets the signal: stop ends it with its code.
        let name = dk.run_detached(
            rt,
            &[],
            &[
                "sh",
                "-c",
                "trap 'exit 42' TERM; echo armed; while :; do sleep 0.1; done",
            ],
        );
        let deadline = Instant::now() + secs(10);
        while !dk.ok(&["logs", &name]).contains("armed") {
            assert!(Instant::now() < deadline, "{rt}: the trap is not set");
            std::thread::sleep(Duration::from_millis(50));
        }
        dk.ok(&["stop", "-t", "20", &name]);
        assert_eq!(dk.inspect(&name, "{{.State.ExitCode}}"), "42", "{rt}");
        // kill -s sends the named signal.
        dk.ok(&["start", &name]);
        assert!(dk.wait_status(&name, "running", secs(20)), "{rt}");
        let deadline = Instant::now() + secs(10);
        while dk.ok(&["logs", &name]).matches("armed").count() < 2 {
            assert!(Instant::now() < deadline, "{rt}: the trap is not set");
            std::thread::sleep(Duration::from_millis(50));
        }
        dk.ok(&["kill", "-s", "TERM", &name]);
        assert_eq!(dk.ok(&["wait", &name]).trim(), "42", "{rt}");
        dk.ok(&["rm", &name]);
    }
}

#[test]
fn update_memory_and_pids() {
    let dk = Docker::start();
    for rt in runtimes() {
        let rt = rt.as_str();
        let name = dk.run_detached(rt, &[], &["sleep", "1000"]);
        let pid = dk.pid(&name);
        let mem = Docker::cgroup_dir(pid, "memory");
        let pids = Docker::cgroup_dir(pid, "pids");
        assert!(
            mem.starts_with(Path::new("/sys/fs/cgroup/memory").join(&dk.cgroup_parent[1..])),
            "{rt}: not below --cgroup-parent: {}",
            mem.display()
        );
        let limit = || read_trim(&mem.join("memory.limit_in_bytes"));
        let memsw = || read_trim(&mem.join("memory.memsw.limit_in_bytes"));
        let soft = || read_trim(&mem.join("memory.soft_limit_in_bytes"));
        let unlimited = soft();
        assert_eq!(limit(), unlimited, "{rt}: a limit before any update");

        dk.ok(&["update", "--memory", "128m", "--memory-swap", "256m", &name]);
        assert_eq!(limit(), (128u64 << 20).to_string(), "{rt}");
        assert_eq!(memsw(), (256u64 << 20).to_string(), "{rt}");
        // Docker sends reservation 0 for "unchanged", as runc reads it.
        assert_eq!(soft(), unlimited, "{rt}: soft limit changed");

        assert_eq!(
            dk.inspect(&name, "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}"),
            format!("{} {}", 128u64 << 20, 256u64 << 20)
        );
        // Inside, the container sees its own cgroup (cgroupns host on v1).
        let inside = dk.ok(&["exec", &name, "cat", "/proc/self/cgroup"]);
        assert!(inside.contains(&dk.cgroup_parent), "{rt}: {inside}");

        // Lower the memory alone: the swap limit stays.
        dk.ok(&["update", "--memory", "64m", &name]);
        assert_eq!(limit(), (64u64 << 20).to_string(), "{rt}");
        assert_eq!(memsw(), (256u64 << 20).to_string(), "{rt}");
        // Above the swap limit is refused by docker itself.
        let o = dk.docker(&["update", "--memory", "512m", &name]);
        assert!(!o.status.success(), "{rt}");
        assert_eq!(limit(), (64u64 << 20).to_string(), "{rt}");

        // Updates that do not touch memory: Docker still sends
        // memory.limit 0 (meaning unchanged) with them.
        assert_eq!(read_trim(&pids.join("pids.max")), "max", "{rt}");
        let o = dk.docker(&["update", "--pids-limit", "50", &name]);
        dk.assert_ok(&o, &["update", "--pids-limit", "50"]);
        assert_eq!(read_trim(&pids.join("pids.max")), "50", "{rt}");
        assert_eq!(limit(), (64u64 << 20).to_string(), "{rt}");
        assert_eq!(dk.inspect(&name, "{{.HostConfig.PidsLimit}}"), "50");
        // The limit holds inside: 50 tasks in the cgroup at most.
        let o = dk.docker(&[
            "exec",
            &name,
            "sh",
            "-c",
            "for i in $(seq 60); do sleep 5 >/dev/null 2>&1 & done",
        ]);
        assert!(stderr(&o).contains("fork"), "{rt}: {}", stderr(&o));
        let current: u32 = read_trim(&pids.join("pids.current")).parse().unwrap();
        assert!(current <= 50, "{rt}: {current} tasks");
        let o = dk.docker(&["update", "--cpu-shares", "512", &name]);
        dk.assert_ok(&o, &["update", "--cpu-shares", "512"]);
        let cpu = Docker::cgroup_dir(pid, "cpu");
        assert_eq!(read_trim(&cpu.join("cpu.shares")), "512", "{rt}");

        dk.ok(&["rm", "-f", &name]);
    }
}

#[test]
fn ulimits() {
    let dk = Docker::start();
    for rt in runtimes() {
        let rt = rt.as_str();
        let out = dk.run_ok(
            rt,
            &["--ulimit", "nofile=500:600", "--ulimit", "nproc=300:400"],
            &["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -u; ulimit -Hu"],
        );
        assert_eq!(out, "500\n600\n300\n400\n", "{rt}");

        // Without --ulimit the container has dockerd's (this machine's)
        // limits, which fit below the hard limit.
        let ours = rlimit(libc::RLIMIT_NOFILE);
        let out = dk.run_ok(rt, &[], &["sh", "-c", "ulimit -Hn"]);
        assert_eq!(out.trim(), ours.1.to_string(), "{rt}");

        // Above the runtime's hard limit: refused, with a clear message.
        let want = ours.1 + 30000;
        let ulimit = format!("nofile={want}:{want}");
        let (code, msg) = failure(&dk.run(rt, &["--ulimit", &ulimit], &["true"]));
        assert_eq!(code, Some(125), "{rt}: {msg}");
        if is_berth(rt) {
            assert!(
                msg.contains("RLIMIT_NOFILE") && msg.contains(&want.to_string()),
                "{rt}: {msg}"
            );
        } else {
            // runc 1.1: "error setting rlimit type 7: operation not permitted".
            assert!(msg.contains("rlimit"), "{rt}: {msg}");
        }
    }
}

/// This process's (soft, hard) limit of `resource`.
fn rlimit(resource: libc::__rlimit_resource_t) -> (u64, u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct.
    assert_eq!(unsafe { libc::getrlimit(resource, &mut r) }, 0);
    (r.rlim_cur, r.rlim_max)
}

#[test]
fn capabilities() {
    let dk = Docker::start();
    let script = "grep Cap /proc/self/status; ip link set lo down && echo net-admin; \
                  chown 1 /tmp && echo chown; true";
    for rt in runtimes() {
        let rt = rt.as_str();
        // Docker's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL
        // SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD
        // AUDIT_WRITE SETFCAP.
        let out = dk.run_ok(rt, &[], &["sh", "-c", script]);
        assert_eq!(status_field(&out, "CapEff"), "00000000a80425fb", "{rt}");
        assert_eq!(status_field(&out, "CapBnd"), "00000000a80425fb", "{rt}");
        assert_eq!(status_field(&out, "CapInh"), "0000000000000000", "{rt}");
        assert!(
            !out.contains("net-admin") && out.contains("chown"),
            "{rt}: {out}"
        );

        let o = dk.run(rt, &["--cap-drop", "all"], &["sh", "-c", script]);
        let out = stdout(&o);
        for key in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] {
            assert_eq!(status_field(&out, key), "0000000000000000", "{rt}: {key}");
        }
        assert!(!out.contains("chown"), "{rt}: chown without CAP_CHOWN");
        assert!(
            stderr(&o).contains("Operation not permitted"),
            "{rt}: {}",
            stderr(&o)
        );

        let out = dk.run_ok(
            rt,
            &["--cap-drop", "all", "--cap-add", "NET_ADMIN"],
            &["sh", "-c", script],
        );
        assert_eq!(status_field(&out, "CapEff"), "0000000000001000", "{rt}");
        assert!(
            out.contains("net-admin") && !out.contains("chown"),
            "{rt}: {out}"
        );

        // An unprivileged user keeps no effective capabilities.
        let out = dk.run_ok(
            rt,
            &["--user", "65534"],
            &["grep", "Cap", "/proc/self/status"],
        );
        assert_eq!(status_field(&out, "CapEff"), "0000000000000000", "{rt}");
        assert_eq!(status_field(&out, "CapBnd"), "00000000a80425fb", "{rt}");
    }
}

#[test]
fn read_only_root_tmpfs_and_user() {
    let dk = Docker::start();
    for rt in runtimes() {
        let rt = rt.as_str();
        let o = dk.run(
            rt,
            &["--read-only", "--tmpfs", "/tmp"],
            &[
                "sh",
                "-c",
                "touch /x || echo root-ro; touch /tmp/y && echo tmp-rw; \
                 grep -E ' / | /tmp ' /proc/mounts",
            ],
        );
        dk.assert_ok(&o, &["run", "--read-only"]);
        let out = stdout(&o);
        assert!(
            out.contains("root-ro") && out.contains("tmp-rw"),
            "{rt}: {out}"
        );
        assert!(
            stderr(&o).contains("Read-only file system"),
            "{rt}: {}",
            stderr(&o)
        );
        let root = out
            .lines()
            .find(|l| l.split(' ').nth(1) == Some("/"))
            .unwrap_or_else(|| panic!("{rt}: no / in {out}"));
        assert!(
            root.split(' ').nth(3).unwrap().starts_with("ro,"),
            "{rt}: {root}"
        );
        let tmp = out
            .lines()
            .find(|l| l.split(' ').nth(1) == Some("/tmp"))
            .unwrap_or_else(|| panic!("{rt}: no /tmp in {out}"));
        assert!(tmp.starts_with("tmpfs /tmp tmpfs rw,"), "{rt}: {tmp}");

        // Without --read-only the root is writable.
        dk.run_ok(rt, &[], &["touch", "/x"]);

        let out = dk.run_ok(
            rt,
            &["--user", "65534"],
            &["sh", "-c", "id; touch /root/x 2>/dev/null || echo denied"],
        );
        assert_eq!(
            out, "uid=65534(nobody) gid=65534(nobody) groups=65534(nobody)\ndenied\n",
            "{rt}"
        );
        let out = dk.run_ok(
            rt,
            &["--user", "1234:5678", "--group-add", "42"],
            &["sh", "-c", "id -u; id -g; id -G"],
        );
        assert_eq!(out, "1234\n5678\n5678 42\n", "{rt}");
    }
}

#[test]
fn seccomp_profiles() {
    let dk = Docker::start();
    // unshare(CLONE_NEWUSER) needs no capability: only seccomp stops it.
    let userns = [
        "sh",
        "-c",
        "grep Seccomp: /proc/self/status; unshare -U true && echo userns; true",
    ];
    let profile = dk.dir.join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#,
    )
    .unwrap();
    let no_mkdir = format!("seccomp={}", profile.display());
    let shared = Path::new("/work/shared/seccomp/docker-default.json");
    for rt in runtimes() {
        let rt = rt.as_str();
        // Docker's built-in default profile.
        let out = dk.run_ok(rt, &[], &userns);
        assert!(
            out.contains("Seccomp:\t2") && !out.contains("userns"),
            "{rt}: {out}"
        );
        // Unconfined, the same call works (so the check can fail).
        let out = dk.run_ok(rt, &["--security-opt", "seccomp=unconfined"], &userns);
        assert!(
            out.contains("Seccomp:\t0") && out.contains("userns"),
            "{rt}: {out}"
        );
        if shared.exists() {
            let opt = format!("seccomp={}", shared.display());
            let out = dk.run_ok(rt, &["--security-opt", &opt], &userns);
            assert!(
                out.contains("Seccomp:\t2") && !out.contains("userns"),
                "{rt}: {out}"
            );
            assert_eq!(
                dk.run_ok(
                    rt,
                    &["--security-opt", &opt],
                    &["sh", "-c", "mkdir /x && echo ok"]
                ),
                "ok\n",
                "{rt}"
            );
        } else {
            eprintln!("skipped: {} is missing", shared.display());
        }
        // A profile of our own: mkdir fails with EPERM, the rest works.
        let o = dk.run(
            rt,
            &["--security-opt", &no_mkdir],
            &[
                "sh",
                "-c",
                "mkdir /x || echo no-mkdir; touch /y && echo touch",
            ],
        );
        dk.assert_ok(&o, &["run", "--security-opt", &no_mkdir]);
        assert_eq!(stdout(&o), "no-mkdir\ntouch\n", "{rt}");
        assert!(
            stderr(&o).contains("Operation not permitted"),
            "{rt}: {}",
            stderr(&o)
        );
        // And without it mkdir works.
        assert_eq!(
            dk.run_ok(rt, &[], &["sh", "-c", "mkdir /x && echo ok"]),
            "ok\n",
            "{rt}"
        );
    }
}

#[test]
fn devices() {
    let dk = Docker::start();
    for rt in runtimes() {
        let rt = rt.as_str();
        let out = dk.run_ok(
            rt,
            &["--device", "/dev/zero:/dev/myzero"],
            &[
                "sh",
                "-c",
                "stat -c '%F %t:%T' /dev/myzero; head -c 3 /dev/myzero | wc -c",
            ],
        );
        assert_eq!(out, "character special file 1:5\n3\n", "{rt}");
        // docker allows a device straight below / as well.
        let o = dk.run(
            rt,
            &["--device", "/dev/zero:/zero"],
            &["stat", "-c", "%t:%T", "/zero"],
        );
        dk.assert_ok(&o, &["run", "--device", "/dev/zero:/zero"]);
        assert_eq!(stdout(&o), "1:5\n", "{rt}");
    }
}
