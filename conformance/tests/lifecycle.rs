//! The runtime-spec lifecycle and runc's command-line contract.

use conformance::{is_runc, stderr, stdout, Fixture};
use serde_json::{json, Value};

#[test]
fn create_waits_for_start_then_the_program_runs_and_stops() {
    let mut f = Fixture::new("life");
    let host = f.dir.join("out");
    std::fs::create_dir_all(&host).unwrap();
    f.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/out", "type": "bind", "source": host, "options": ["bind"]}));
    f.args(&["sh", "-c", "touch /out/ran; exec sleep 1000"]);
    let pidfile = f.dir.join("pid");
    let out = f.create(&["--pid-file", pidfile.to_str().unwrap()]);
    assert!(out.status.success(), "create: {}", f.container_output());
    let st = f.state();
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], f.id.as_str());
    assert_eq!(st["bundle"], f.bundle.to_str().unwrap());
    assert!(st["ociVersion"].is_string() && st["created"].is_string() && st.get("owner").is_some());
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        pid.to_string()
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!host.join("ran").exists(), "the program ran before start");

    let start = f.rt(&["start", &f.id]);
    assert!(start.status.success(), "start: {}", stderr(&start));
    assert!(f.wait_status("running"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !host.join("ran").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        host.join("ran").exists(),
        "the program did not run after start"
    );

    assert!(
        !f.rt(&["start", &f.id]).status.success(),
        "start twice succeeded"
    );
    let del = f.rt(&["delete", &f.id]);
    assert!(
        !del.status.success(),
        "delete of a running container succeeded"
    );
    assert_eq!(f.status(), "running");

    assert!(f.rt(&["kill", &f.id, "KILL"]).status.success());
    assert!(f.wait_status("stopped"));
    assert!(
        !f.rt(&["kill", &f.id, "TERM"]).status.success(),
        "kill of a stopped container succeeded"
    );
    assert!(f.rt(&["delete", &f.id]).status.success());
    assert!(
        !f.root.join(&f.id).exists(),
        "delete left the state directory"
    );
    assert!(!f.rt(&["state", &f.id]).status.success());
}

#[test]
fn kill_takes_signal_names_with_and_without_sig_and_numbers() {
    for (i, sig) in ["TERM", "SIGUSR1", "10"].iter().enumerate() {
        let mut f = Fixture::new(&format!("sig{i}"));
        f.args(&["sh", "-c", "trap 'echo got-TERM; exit 0' TERM; trap 'echo got-USR1; exit 0' USR1; echo ready; while true; do sleep 0.05; done"]);
        assert!(f.create(&[]).status.success(), "{}", f.container_output());
        assert!(f.rt(&["start", &f.id]).status.success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !f.container_output().contains("ready") && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let k = f.rt(&["kill", &f.id, sig]);
        assert!(k.status.success(), "kill {sig}: {}", stderr(&k));
        assert!(f.wait_status("stopped"));
        let want = if *sig == "TERM" {
            "got-TERM"
        } else {
            "got-USR1"
        };
        assert!(
            f.container_output().contains(want),
            "{sig}: {}",
            f.container_output()
        );
    }
}

#[test]
fn kill_defaults_to_sigterm() {
    let mut f = Fixture::new("killdef");
    f.args(&[
        "sh",
        "-c",
        "trap 'echo got-TERM; exit 0' TERM; echo ready; while true; do sleep 0.05; done",
    ]);
    assert!(f.create(&[]).status.success());
    assert!(f.rt(&["start", &f.id]).status.success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(f.rt(&["kill", &f.id]).status.success());
    assert!(f.wait_status("stopped"));
    assert!(f.container_output().contains("got-TERM"));
}

/// `kill --all` still reaches what a stopped container left behind in its
/// cgroup (no pid namespace of its own), as runc's does: containerd's
/// shims rely on it when such a task's init exits.
#[test]
fn kill_all_reaches_leftovers_of_a_stopped_container() {
    let mut f = Fixture::new("killall");
    f.config["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "uts"}]);
    f.args(&["sh", "-c", "sleep 1000 & exit 0"]);
    assert!(f.create(&[]).status.success());
    assert!(f.rt(&["start", &f.id]).status.success());
    assert!(f.wait_status("stopped"));
    let procs = || -> Vec<String> {
        let out = f.rt(&["ps", "--format", "json", &f.id]);
        serde_json::from_slice::<Vec<i64>>(&out.stdout)
            .unwrap_or_default()
            .iter()
            .map(|p| p.to_string())
            .collect()
    };
    assert_eq!(
        procs().len(),
        1,
        "the background sleep is left: {:?}",
        procs()
    );
    let k = f.rt(&["kill", "--all", &f.id, "KILL"]);
    assert!(k.status.success(), "{}", stderr(&k));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !procs().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "still there: {:?}",
            procs()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        !f.rt(&["kill", &f.id, "KILL"]).status.success(),
        "kill without --all of a stopped container succeeds"
    );
}

#[test]
fn delete_force_of_a_missing_container_succeeds() {
    let f = Fixture::new("nothing");
    assert!(f.rt(&["delete", "--force", &f.id]).status.success());
    assert!(!f.rt(&["delete", &f.id]).status.success());
}

#[test]
fn delete_force_kills_a_running_container() {
    let mut f = Fixture::new("forcekill");
    f.args(&["sleep", "1000"]);
    assert!(f.create(&[]).status.success());
    let pid = f.state()["pid"].as_i64().unwrap();
    assert!(f.rt(&["start", &f.id]).status.success());
    assert!(f.rt(&["delete", "--force", &f.id]).status.success());
    assert!(!f.root.join(&f.id).exists());
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z"),
        "process still alive: {stat}"
    );
}

#[test]
fn delete_of_a_created_container_kills_it() {
    let mut f = Fixture::new("delcreated");
    f.args(&["sleep", "1000"]);
    assert!(f.create(&[]).status.success());
    assert!(f.rt(&["delete", &f.id]).status.success());
    assert!(!f.root.join(&f.id).exists());
}

#[test]
fn run_exits_with_the_containers_code_or_128_plus_signal() {
    let mut f = Fixture::new("exit");
    f.args(&["/bin/probe", "exit", "3"]);
    assert_eq!(f.run().status.code(), Some(3));
    // Init (pid 1) cannot be sent SIGKILL from inside its namespace, so the
    // signal comes through the runtime's kill.
    let mut f = Fixture::new("exitsig");
    f.args(&["sleep", "1000"]);
    f.write_config();
    let mut c = f.runtime_cmd(&["run", "--bundle", f.bundle.to_str().unwrap(), &f.id]);
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    let child = c.spawn().unwrap();
    assert!(f.wait_status("running"));
    assert!(f.rt(&["kill", &f.id, "KILL"]).status.success());
    let out = conformance::wait_output(child, std::time::Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(137));
    assert!(
        !f.root.join(&f.id).exists(),
        "run left the container behind"
    );
}

/// While a foreground `run` waits for its container, the container is
/// running for every other command: `state` says so the moment the
/// program runs, `start` refuses it, `kill` reaches it; `run` then
/// deletes it.
#[test]
fn a_foreground_run_is_running_for_other_commands() {
    let mut f = Fixture::new("runstate");
    f.args(&["sh", "-c", "echo ready; exec sleep 1000"]);
    f.write_config();
    let mut c = f.runtime_cmd(&["run", "--bundle", f.bundle.to_str().unwrap(), &f.id]);
    c.stdout(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut out, &mut first).unwrap();
    assert_eq!(first.trim(), "ready");
    let st = f.state();
    assert_eq!(st["status"], "running", "{st}");
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0, "{st}");
    assert!(!f.rt(&["start", &f.id]).status.success(), "start succeeded");
    assert!(f.rt(&["kill", &f.id, "KILL"]).status.success());
    let o = conformance::wait_output(child, std::time::Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    f.assert_clean(&f.id);
}

/// A program that execve refuses (found and executable at create, in no
/// format the kernel runs) fails a foreground `run` after the container
/// has started: status 1 as from runc 1.1, the reason on stderr, nothing
/// left behind.
#[test]
fn run_of_a_program_execve_refuses_fails_with_its_reason() {
    use std::os::unix::fs::PermissionsExt;
    let mut f = Fixture::new("runenoexec");
    // Written by the fixture long before: a file written just now could
    // still be open in a concurrent test's fork (ETXTBSY).
    let file = f.bundle.join("rootfs/etc/group");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
    f.args(&["/etc/group"]);
    let o = f.run();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("exec format error"), "{}", stderr(&o));
    f.assert_clean(&f.id);
}

/// --pidfd-socket on create and run: a pidfd of the container's init
/// arrives (before `run -d` returns); a socket path nobody listens on
/// fails them and leaves nothing behind.
#[test]
fn create_and_run_send_a_pidfd_of_init() {
    use std::os::fd::AsRawFd;
    for cmd in ["create", "run"] {
        let mut f = Fixture::new(&format!("pidfd{cmd}"));
        f.args(&["sleep", "1000"]);
        f.write_config();
        let bundle = f.bundle.to_str().unwrap().to_string();
        let sock = f.dir.join("pidfd.sock");
        let receiver = conformance::console_socket(&sock);
        let mut args = vec![cmd, "--pidfd-socket", sock.to_str().unwrap()];
        if cmd == "run" {
            args.push("-d");
        }
        args.extend(["--bundle", &bundle, &f.id]);
        let o = f.rt(&args);
        if is_runc() && !o.status.success() {
            return; // --pidfd-socket came with runc 1.2
        }
        assert!(o.status.success(), "{cmd}: {}", stderr(&o));
        let pidfd = receiver.join().unwrap();
        let info =
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).unwrap();
        let st = f.state();
        assert!(info.contains(&format!("Pid:\t{}\n", st["pid"])), "{info}");
        let want = if cmd == "run" { "running" } else { "created" };
        assert_eq!(st["status"], want, "{cmd}");

        let nobody = f.dir.join("nobody.sock");
        let id = format!("{}-nobody", f.id);
        let mut args = vec![cmd, "--pidfd-socket", nobody.to_str().unwrap()];
        if cmd == "run" {
            args.push("-d");
        }
        args.extend(["--bundle", &bundle, &id]);
        let o = f.rt(&args);
        let left = f.root.join(&id).exists();
        let _ = f.rt(&["delete", "--force", &id]);
        assert!(!o.status.success(), "{cmd} without a listener succeeded");
        assert!(stderr(&o).contains("pidfd socket"), "{}", stderr(&o));
        assert!(!left, "{cmd} left {id} behind");
    }
}

#[test]
fn run_forwards_signals_to_the_container() {
    let mut f = Fixture::new("fwd");
    f.args(&[
        "sh",
        "-c",
        "trap 'echo got-USR1; exit 4' USR1; echo ready; while true; do sleep 0.05; done",
    ]);
    f.write_config();
    let mut c = f.runtime_cmd(&["run", "--bundle", f.bundle.to_str().unwrap(), &f.id]);
    c.stdout(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let pid = child.id() as i32;
    // Signal only once the container runs: before that the runtime may not
    // be forwarding yet (on a slow machine, 500 ms is not enough).
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut lines, &mut first).unwrap();
    assert_eq!(first.trim(), "ready");
    // SAFETY: signalling the runtime process this test started.
    unsafe { libc::kill(pid, libc::SIGUSR1) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut lines, &mut rest).unwrap();
    let out = conformance::wait_output(child, std::time::Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(4));
    assert!(rest.contains("got-USR1"), "{rest}");
}

#[test]
fn run_detach_returns_with_the_container_running() {
    let mut f = Fixture::new("detach");
    f.args(&["sleep", "1000"]);
    f.write_config();
    let out = std::fs::File::create(f.dir.join("container.out")).unwrap();
    let mut c = f.runtime_cmd(&["run", "-d", "--bundle", f.bundle.to_str().unwrap(), &f.id]);
    c.stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(std::process::Stdio::null());
    let o = conformance::wait_output(c.spawn().unwrap(), std::time::Duration::from_secs(10));
    assert!(o.status.success(), "{}", f.container_output());
    assert_eq!(f.status(), "running");
}

#[test]
fn flags_take_either_form_and_may_follow_the_id() {
    let mut f = Fixture::new("flags");
    f.args(&["sleep", "1000"]);
    f.write_config();
    let bundle = format!("--bundle={}", f.bundle.display());
    let root = format!("--root={}", f.root.display());
    let out = std::fs::File::create(f.dir.join("container.out")).unwrap();
    let mut c = std::process::Command::new(conformance::runtime());
    c.args([root.as_str(), "create", &f.id, &bundle]);
    c.stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(std::process::Stdio::null());
    let o = conformance::wait_output(c.spawn().unwrap(), std::time::Duration::from_secs(10));
    assert!(o.status.success(), "{}", f.container_output());
    assert_eq!(f.status(), "created");
    let d = f.rt(&["delete", &f.id, "--force"]);
    assert!(d.status.success(), "{}", stderr(&d));
}

#[test]
fn list_shows_containers_as_table_json_and_ids() {
    let mut f = Fixture::new("list");
    f.args(&["sleep", "1000"]);
    assert!(f.create(&[]).status.success());
    let q = f.rt(&["list", "-q"]);
    assert_eq!(stdout(&q).trim(), f.id);
    let j = f.rt(&["list", "--format", "json"]);
    let v: Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(v[0]["id"], f.id.as_str());
    assert_eq!(v[0]["status"], "created");
    let t = f.rt(&["list"]);
    let text = stdout(&t);
    assert!(text.starts_with("ID"), "{text}");
    assert!(text.contains(&f.id) && text.contains("created"));
}

#[test]
fn annotations_appear_in_state() {
    let mut f = Fixture::new("annot");
    f.args(&["sleep", "1000"]);
    f.config["annotations"] = json!({"org.example.key": "value"});
    assert!(f.create(&[]).status.success());
    assert_eq!(f.state()["annotations"]["org.example.key"], "value");
}

#[test]
fn spec_writes_a_config_that_runs() {
    let f = Fixture::new("spec");
    std::fs::remove_file(f.bundle.join("config.json")).ok();
    let o = f.rt(&["spec", "--bundle", f.bundle.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut c: Value =
        serde_json::from_slice(&std::fs::read(f.bundle.join("config.json")).unwrap()).unwrap();
    c["process"]["terminal"] = json!(false);
    c["process"]["args"] = json!(["/bin/probe", "exit", "0"]);
    if let Some(l) = c["linux"].as_object_mut() {
        l.remove("resources"); // runc's default has cgroup device rules
    }
    std::fs::write(
        f.bundle.join("config.json"),
        serde_json::to_vec(&c).unwrap(),
    )
    .unwrap();
    let r = f.rt(&["run", "--bundle", f.bundle.to_str().unwrap(), &f.id]);
    assert!(r.status.success(), "{}", stderr(&r));
}

#[test]
fn features_is_json_with_the_version_range() {
    let f = Fixture::new("features");
    let o = f.rt(&["features"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["ociVersionMin"].is_string() && v["ociVersionMax"].is_string());
    let has = |list: &Value, item: &str| list.as_array().unwrap().iter().any(|n| n == item);
    for ns in ["pid", "user", "mount", "network"] {
        assert!(has(&v["linux"]["namespaces"], ns), "{ns}");
    }
    for hook in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        assert!(has(&v["hooks"], hook), "{hook}");
    }
    for opt in ["rbind", "rro", "rprivate", "nosuid"] {
        assert!(has(&v["mountOptions"], opt), "{opt}");
    }
}

#[test]
fn errors_land_in_the_json_log() {
    let f = Fixture::new("log");
    let log = f.dir.join("log.json");
    let o = f.rt(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "start",
        "no-such-container",
    ]);
    assert!(!o.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let line: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(line["level"], "error");
    let msg = line["msg"].as_str().unwrap();
    // runc 1.1 says only "container does not exist".
    assert!(is_runc() || msg.contains("no-such-container"), "{line}");
    assert!(msg.contains("does not exist"), "{line}");
    assert!(line["time"].is_string());
}
