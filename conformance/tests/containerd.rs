//! The shim under containerd 1.6, driven through `ctr`: each test starts
//! its own containerd (conformance::containerd) with the busybox image
//! from `hack/image`. `BERTH_TEST_SHIM` picks the runtime under test
//! (default io.containerd.berth.v2; io.containerd.runc.v2 validates the
//! tests against containerd's own shim).
//!
//! ctr 1.6 has no `tasks update`, so resource updates are not covered.

use std::path::{Path, PathBuf};
use std::time::Duration;

use conformance::containerd::{
    cgroup_dirs, run_with_timeout, runc, shim, shim_binary_name, shim_is_runc, Containerd, IMAGE,
};
use conformance::{runtime, stderr, stdout};
use serde_json::Value;

fn containerd() -> Containerd {
    let cd = Containerd::start();
    cd.import_busybox();
    cd
}

/// A containerd where `io.containerd.runc.v2` names the shim under test,
/// for the tests of runc's options (see
/// `Containerd::start_with_shim_as_runc`: ctr 1.6 passes them to no
/// other runtime name).
fn containerd_with_shim_as_runc() -> Containerd {
    let cd = Containerd::start_with_shim_as_runc();
    cd.import_busybox();
    cd
}

/// Whether `exe` is the binary of `runtime`'s shim (a rebuilt binary shows
/// as "NAME (deleted)").
fn is_shim_binary(exe: &Path, runtime: &str) -> bool {
    exe.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(&shim_binary_name(runtime)))
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The directory under `root` (at most three levels down) that holds an
/// entry named `id`: a runtime's `--root` for that container.
fn state_root(root: &Path, id: &str) -> Option<PathBuf> {
    fn walk(dir: &Path, id: &str, depth: usize) -> Option<PathBuf> {
        let entries: Vec<_> = std::fs::read_dir(dir).ok()?.flatten().collect();
        if entries.iter().any(|e| e.file_name() == id) {
            return Some(dir.to_path_buf());
        }
        if depth == 0 {
            return None;
        }
        entries
            .iter()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .find_map(|e| walk(&e.path(), id, depth - 1))
    }
    walk(root, id, 3)
}

/// `BINARY --root ROOT state ID` as JSON, if the runtime knows the ID.
fn runtime_state(binary: &Path, root: &Path, id: &str) -> Option<Value> {
    let mut cmd = std::process::Command::new(binary);
    cmd.arg("--root").arg(root).args(["state", id]);
    let o = run_with_timeout(&mut cmd, None, &std::env::temp_dir(), secs(30))
        .unwrap_or_else(|_| panic!("{} state {id} hung", binary.display()));
    o.status
        .success()
        .then(|| serde_json::from_slice(&o.stdout).expect("state is JSON"))
}

/// Whether the freezer cgroup of `pid` is frozen (v1 freezer.state or
/// v2 cgroup.freeze); `None` if that cannot be read.
fn frozen(pid: u32) -> Option<bool> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in cgroups.lines() {
        let mut f = line.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        if controllers.split(',').any(|c| c == "freezer") {
            let state =
                std::fs::read_to_string(format!("/sys/fs/cgroup/freezer{path}/freezer.state"))
                    .ok()?;
            return Some(state.trim() == "FROZEN");
        }
    }
    let path = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
    let state = std::fs::read_to_string(format!("/sys/fs/cgroup{path}/cgroup.freeze")).ok()?;
    Some(state.trim() == "1")
}

/// Kills the task with SIGKILL, waits for STOPPED, deletes task and
/// container; returns what `ctr tasks delete` said on stderr.
/// `ctr events`, once its subscription provably sees events.
fn live_events(cd: &Containerd) -> conformance::containerd::Background {
    let events = cd.background(&["events"]);
    for n in 0.. {
        let tag = format!("docker.io/library/berth-probe:{n}");
        cd.ctr_ok(&["images", "tag", IMAGE, &tag]);
        if events.wait_for(&tag, secs(1)) {
            break;
        }
        assert!(n < 20, "ctr events shows nothing: {}", events.text());
    }
    events
}

/// The topics of the task events of container `id`, in the order
/// containerd received them.
fn task_topics(events: &str, id: &str) -> Vec<String> {
    let needle = format!("\"container_id\":\"{id}\"");
    events
        .lines()
        .filter(|l| l.contains(&needle))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("/tasks/")))
        .map(String::from)
        .collect()
}

/// The parent of a process: the shim, for a task's init.
fn parent_pid(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    after
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

fn kill_and_delete(cd: &Containerd, id: &str) -> String {
    cd.ctr_ok(&["tasks", "kill", "-s", "SIGKILL", id]);
    assert!(
        cd.wait_status(id, "STOPPED", secs(20)),
        "{id} is {:?} after SIGKILL",
        cd.task_status(id)
    );
    let o = cd.ctr(&["tasks", "delete", id]);
    cd.assert_ok(&o, &["tasks", "delete", id]);
    cd.ctr_ok(&["containers", "delete", id]);
    let left = cgroup_dirs(id);
    assert!(left.is_empty(), "cgroups left after delete: {left:?}");
    stderr(&o)
}

#[test]
fn output_and_exit_codes_come_through() {
    let cd = containerd();
    let id = cd.id("echo");
    let o = cd.run(&["--rm"], &id, &["echo", "hello", "from", "busybox"]);
    cd.assert_ok(&o, &["run", &id]);
    assert_eq!(stdout(&o), "hello from busybox\n");

    let id = cd.id("stderr");
    let o = cd.run(&["--rm"], &id, &["sh", "-c", "echo to-stderr >&2"]);
    cd.assert_ok(&o, &["run", &id]);
    assert!(stderr(&o).contains("to-stderr"), "stderr: {}", stderr(&o));
    assert!(!stdout(&o).contains("to-stderr"));

    let id = cd.id("exit7");
    let o = cd.run(&["--rm"], &id, &["sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));

    let id = cd.id("env");
    let o = cd.run(
        &["--rm", "--env", "GREETING=hi", "--cwd", "/tmp"],
        &id,
        &["sh", "-c", "echo $GREETING $PATH; pwd; id -u"],
    );
    cd.assert_ok(&o, &["run", &id]);
    assert_eq!(
        stdout(&o),
        "hi /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/tmp\n0\n"
    );

    // Nothing is left: --rm removed the containers.
    assert!(cd.tasks().is_empty(), "{:?}", cd.tasks());
    assert_eq!(cd.ctr_ok(&["containers", "ls", "-q"]), "");
}

#[test]
fn stdin_is_piped_through() {
    let cd = containerd();
    let id = cd.id("cat");
    let input: Vec<u8> = (0..20000)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    let args = cd.run_args(&["--rm"], &id, &["sh", "-c", "cat; echo done"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = cd.ctr_stdin(&args, &input, &id);
    cd.assert_ok(&o, &args);
    let mut expected = input.clone();
    expected.extend_from_slice(b"done\n");
    assert_eq!(o.stdout.len(), expected.len(), "{}", stderr(&o));
    assert!(o.stdout == expected, "stdin came back changed");

    // EOF on stdin reaches the container: wc ends and counts.
    let id = cd.id("wc");
    let args = cd.run_args(&["--rm"], &id, &["wc", "-l"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = cd.ctr_stdin(&args, b"a\nb\nc\n", &id);
    cd.assert_ok(&o, &args);
    assert_eq!(stdout(&o).trim(), "3");
}

#[test]
fn a_terminal_has_the_size_and_passes_input() {
    let cd = containerd();
    let id = cd.id("tty");
    // ctr resizes the console only after the start: wait for the size.
    let script = "tty; i=0; while [ $i -lt 100 ]; do s=$(stty size 2>/dev/null); \
                  [ -n \"$s\" ] && [ \"$s\" != '0 0' ] && break; i=$((i+1)); sleep 0.1; done; \
                  echo \"size:$s\"; echo ready; read x; echo \"got:$x\"; exit 3";
    let args = cd.run_args(&["--rm", "-t"], &id, &["sh", "-c", script]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut pty = cd.ctr_pty(&args, 33, 77);
    let text = pty.read_until("ready", secs(30));
    assert!(
        text.contains("ready"),
        "no prompt: {text:?}\n{}",
        cd.log_tail(30)
    );
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(
        lines.iter().any(|l| l.starts_with("/dev/pts/")),
        "tty is not a pty: {text:?}"
    );
    assert!(lines.contains(&"size:33 77"), "size not passed: {text:?}");
    pty.write(b"abc\r");
    let text = pty.read_until("got:abc", secs(20));
    assert!(text.contains("got:abc"), "input not passed: {text:?}");
    let status = pty.wait(secs(20)).expect("ctr run -t did not exit");
    assert_eq!(status.code(), Some(3));
}

#[test]
fn detached_task_exec_ps_pause_and_resume() {
    let cd = containerd();
    let id = cd.id("detached");
    cd.run_detached(&[], &id, &["sleep", "1000"]);
    let exe = cd.shim_exe(&id).expect("no shim process for the task");
    assert!(is_shim_binary(&exe, &shim()), "served by {}", exe.display());
    let pid = cd.task_pid(&id);
    assert!(pid > 0);
    // ctr's default cgroupsPath, /NAMESPACE/ID.
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("/berth-test/{id}");
    assert!(
        cgroup
            .lines()
            .all(|l| l.ends_with(&want) || l.contains(":name=")),
        "not in {want}: {cgroup}"
    );
    assert!(!cgroup_dirs(&id).is_empty());
    assert!(
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .unwrap_or_default()
            .starts_with("sleep\0"),
        "PID {pid} of `ctr tasks ls` is not the container's sleep"
    );
    assert_eq!(cd.ps(&id), vec![pid]);

    // An exec with output and its own exit code.
    let o = cd.exec(
        &id,
        "e1",
        &[],
        &["sh", "-c", "echo in-exec $$; cat /proc/1/cmdline; exit 3"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("in-exec "), "{out:?}");
    assert!(
        out.contains("sleep\u{0}1000"),
        "exec is not in the container: {out:?}"
    );
    // The exec ID can be used again once the first one is gone.
    let o = cd.exec(&id, "e1", &["--cwd", "/etc"], &["pwd"]);
    cd.assert_ok(&o, &["tasks", "exec", "e1"]);
    assert_eq!(stdout(&o), "/etc\n");
    // --user resolves the name in the image's /etc/passwd.
    let o = cd.exec(&id, "user", &["--user", "nobody"], &["id"]);
    cd.assert_ok(&o, &["tasks", "exec", "--user", "nobody"]);
    assert!(
        stdout(&o).starts_with("uid=65534(nobody) gid=65534(nobody)"),
        "{}",
        stdout(&o)
    );

    // A detached exec shows in ps and can be killed by its exec ID.
    let o = cd.exec(&id, "bg", &["-d"], &["sleep", "999"]);
    cd.assert_ok(&o, &["tasks", "exec", "-d", "bg"]);
    let deadline = std::time::Instant::now() + secs(10);
    while cd.ps(&id).len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let pids = cd.ps(&id);
    assert_eq!(pids.len(), 2, "ps: {pids:?}");
    let bg = *pids.iter().find(|p| **p != pid).unwrap();
    cd.ctr_ok(&["tasks", "kill", "--exec-id", "bg", "-s", "SIGKILL", &id]);
    let deadline = std::time::Instant::now() + secs(10);
    while cd.ps(&id).contains(&bg) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(cd.ps(&id), vec![pid], "the exec survived its SIGKILL");
    assert_eq!(cd.task_status(&id), "RUNNING");

    // Pause freezes, resume thaws.
    cd.ctr_ok(&["tasks", "pause", &id]);
    assert!(
        cd.wait_status(&id, "PAUSED", secs(10)),
        "{}",
        cd.task_status(&id)
    );
    assert_eq!(frozen(pid), Some(true), "paused but not frozen");
    cd.ctr_ok(&["tasks", "resume", &id]);
    assert!(
        cd.wait_status(&id, "RUNNING", secs(10)),
        "{}",
        cd.task_status(&id)
    );
    assert_eq!(frozen(pid), Some(false), "resumed but still frozen");
    let o = cd.exec(&id, "after-resume", &[], &["echo", "thawed"]);
    cd.assert_ok(&o, &["tasks", "exec", "after-resume"]);
    assert_eq!(stdout(&o), "thawed\n");

    // A running task cannot be deleted without -f.
    let o = cd.ctr(&["tasks", "delete", &id]);
    assert!(!o.status.success(), "deleted a running task");
    let said = kill_and_delete(&cd, &id);
    assert!(said.contains("exit code 137"), "{said}");
    assert!(cd.tasks().is_empty());
}

#[test]
fn kill_delivers_sigterm_and_sigkill() {
    let cd = containerd();
    // SIGTERM: the shell traps it and exits 5.
    let term = cd.id("term");
    cd.run_detached(
        &[],
        &term,
        &["sh", "-c", "trap 'exit 5' TERM; sleep 1000 & wait"],
    );
    // Two processes: the trap is set and sleep runs.
    let deadline = std::time::Instant::now() + secs(10);
    while cd.ps(&term).len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(cd.ps(&term).len(), 2);
    cd.ctr_ok(&["tasks", "kill", &term]);
    assert!(
        cd.wait_status(&term, "STOPPED", secs(20)),
        "{term} is {:?} after SIGTERM",
        cd.task_status(&term)
    );
    let o = cd.ctr(&["tasks", "delete", &term]);
    cd.assert_ok(&o, &["tasks", "delete"]);
    assert!(stderr(&o).contains("exit code 5"), "{}", stderr(&o));
    cd.ctr_ok(&["containers", "delete", &term]);

    // SIGKILL: PID 1 without a handler still dies.
    let kill = cd.id("kill");
    cd.run_detached(&[], &kill, &["sleep", "1000"]);
    let pid = cd.task_pid(&kill);
    // SIGTERM is ignored by a PID 1 without a handler.
    cd.ctr_ok(&["tasks", "kill", "-s", "SIGTERM", &kill]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cd.task_status(&kill), "RUNNING");
    let said = kill_and_delete(&cd, &kill);
    assert!(said.contains("exit code 137"), "{said}");
    let alive = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.starts_with("sleep"));
    assert!(!alive, "the container's sleep survived");

    // kill --all reaches every process, not only PID 1.
    let all = cd.id("all");
    cd.run_detached(&[], &all, &["sh", "-c", "trap '' TERM; sleep 1000 & wait"]);
    let deadline = std::time::Instant::now() + secs(10);
    while cd.ps(&all).len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let pids = cd.ps(&all);
    assert_eq!(pids.len(), 2);
    cd.ctr_ok(&["tasks", "kill", "-a", "-s", "SIGKILL", &all]);
    assert!(cd.wait_status(&all, "STOPPED", secs(20)));
    cd.ctr_ok(&["tasks", "delete", &all]);
    cd.ctr_ok(&["containers", "delete", &all]);
}

#[test]
fn metrics_report_memory_and_pids() {
    let cd = containerd();
    let id = cd.id("metrics");
    let limit = 64 << 20;
    cd.run_detached(
        &["--memory-limit", &limit.to_string()],
        &id,
        &["sh", "-c", "sleep 1000 & sleep 1000 & wait"],
    );
    let deadline = std::time::Instant::now() + secs(10);
    while cd.ps(&id).len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let table = cd.ctr_ok(&["tasks", "metrics", &id]);
    assert!(table.contains("memory"), "{table}");
    assert!(table.contains("pids"), "{table}");
    let json = cd.ctr_ok(&["tasks", "metrics", "--format", "json", &id]);
    let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(v["pids"]["current"], 3, "{json}");
    // cgroup v1 (io.containerd.cgroups.v1.Metrics) or v2 (…v2.Metrics).
    let (usage, reported_limit) = if v["memory"]["usage"].is_object() {
        (
            &v["memory"]["usage"]["usage"],
            &v["memory"]["usage"]["limit"],
        )
    } else {
        (&v["memory"]["usage"], &v["memory"]["usage_limit"])
    };
    assert!(usage.as_u64().is_some_and(|u| u > 0), "{json}");
    assert_eq!(reported_limit.as_u64(), Some(limit), "{json}");
    kill_and_delete(&cd, &id);
}

#[test]
fn a_memory_hog_is_oom_killed_with_an_event() {
    let cd = containerd();
    let events = live_events(&cd);
    let id = cd.id("oom");
    let o = cd.run(
        &["--rm", "--memory-limit", &(32 << 20).to_string()],
        &id,
        &[
            "sh",
            "-c",
            "x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo survived",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(137),
        "stdout: {} stderr: {}",
        stdout(&o),
        stderr(&o)
    );
    assert!(!stdout(&o).contains("survived"));
    let needle = format!("\"container_id\":\"{id}\"");
    assert!(
        events.wait_for("/tasks/oom", secs(10)),
        "no /tasks/oom event:\n{}",
        events
            .text()
            .lines()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        events
            .text()
            .lines()
            .any(|l| l.contains("/tasks/oom") && l.contains(&needle)),
        "the OOM event names another container"
    );
    assert!(events
        .text()
        .lines()
        .any(|l| l.contains("/tasks/exit") && l.contains(&needle) && l.contains("137")));
}

#[test]
fn a_task_survives_a_containerd_restart() {
    let mut cd = containerd();
    let id = cd.id("restart");
    cd.run_detached(&[], &id, &["sleep", "1000"]);
    let pid = cd.task_pid(&id);
    cd.stop();
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the container died with containerd"
    );
    assert!(
        !cd.processes().is_empty(),
        "no shim left after containerd stopped"
    );
    cd.restart();
    assert!(
        cd.wait_status(&id, "RUNNING", secs(20)),
        "after the restart {id} is {:?}\n{}",
        cd.task_status(&id),
        cd.log_tail(40)
    );
    assert_eq!(cd.task_pid(&id), pid);
    let o = cd.exec(&id, "after", &[], &["echo", "still", "here"]);
    cd.assert_ok(&o, &["tasks", "exec", "after"]);
    assert_eq!(stdout(&o), "still here\n");
    let said = kill_and_delete(&cd, &id);
    assert!(said.contains("exit code 137"), "{said}");
    assert!(cd.tasks().is_empty());
    assert_eq!(cd.ctr_ok(&["containers", "ls", "-q"]), "");
}

#[test]
fn ten_containers_at_once() {
    let cd = containerd();
    let ids: Vec<String> = (0..10).map(|i| cd.id(&format!("many{i}"))).collect();
    std::thread::scope(|s| {
        for id in &ids {
            let cd = &cd;
            s.spawn(move || cd.run_detached(&[], id, &["sleep", "1000"]));
        }
    });
    let tasks = cd.tasks();
    for id in &ids {
        assert!(
            tasks.iter().any(|t| &t.0 == id && t.2 == "RUNNING"),
            "{id} not running: {tasks:?}"
        );
    }
    let mut pids: Vec<u32> = tasks.iter().map(|t| t.1).collect();
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 10, "PIDs not distinct: {tasks:?}");
    for id in &ids {
        cd.ctr_ok(&["tasks", "kill", "-s", "SIGKILL", id]);
    }
    for id in &ids {
        assert!(cd.wait_status(id, "STOPPED", secs(20)), "{id} not stopped");
    }
    let mut del = vec!["tasks", "delete"];
    del.extend(ids.iter().map(String::as_str));
    cd.ctr_ok(&del);
    let mut del = vec!["containers", "delete"];
    del.extend(ids.iter().map(String::as_str));
    cd.ctr_ok(&del);
    assert!(cd.tasks().is_empty(), "{:?}", cd.tasks());
    assert_eq!(cd.ctr_ok(&["containers", "ls", "-q"]), "");
    for pid in pids {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.starts_with("sleep"));
        assert!(!alive, "container process {pid} survived");
    }
}

/// Runs a detached container with `runtime` and `--runc-binary BINARY
/// --runc-root ROOT`, checks that BINARY keeps its state under ROOT and
/// that exec, pause and kill work, and that delete removes the state.
fn drive(cd: &Containerd, runtime: &str, shim: &str, binary: &Path, name: &str) {
    let root = cd.dir.join(format!("{name}-root"));
    let id = cd.id(name);
    let bin = binary.to_string_lossy();
    let rt = root.to_string_lossy();
    let opts = ["--runc-binary", &bin, "--runc-root", &rt];

    let o = cd.run_with(
        runtime,
        &[&["--rm"], &opts[..]].concat(),
        &id,
        &["echo", "hi"],
    );
    cd.assert_ok(&o, &["run", &id]);
    assert_eq!(stdout(&o), "hi\n");
    let o = cd.run_with(
        runtime,
        &[&["--rm"], &opts[..]].concat(),
        &cd.id(name),
        &["sh", "-c", "exit 9"],
    );
    assert_eq!(o.status.code(), Some(9), "{}", stderr(&o));

    cd.run_detached_with(runtime, &opts, &id, &["sleep", "1000"]);
    let exe = cd.shim_exe(&id).expect("no shim process for the task");
    assert!(
        is_shim_binary(&exe, shim),
        "{id} is served by {}",
        exe.display()
    );
    let state_dir = state_root(&root, &id)
        .unwrap_or_else(|| panic!("no state for {id} under --runc-root {}", root.display()));
    let state = runtime_state(binary, &state_dir, &id)
        .unwrap_or_else(|| panic!("{} does not know {id}", binary.display()));
    assert_eq!(state["status"], "running", "{state}");
    assert_eq!(state["pid"], cd.task_pid(&id), "{state}");

    let o = cd.exec(&id, "x", &[], &["sh", "-c", "echo exec-ok; exit 4"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(stdout(&o), "exec-ok\n");

    cd.ctr_ok(&["tasks", "pause", &id]);
    assert!(cd.wait_status(&id, "PAUSED", secs(10)));
    let state = runtime_state(binary, &state_dir, &id).expect("state while paused");
    assert_eq!(state["status"], "paused", "{state}");
    cd.ctr_ok(&["tasks", "resume", &id]);
    assert!(cd.wait_status(&id, "RUNNING", secs(10)));

    let said = kill_and_delete(cd, &id);
    assert!(said.contains("exit code 137"), "{said}");
    assert!(
        runtime_state(binary, &state_dir, &id).is_none(),
        "{} still knows {id} after delete",
        binary.display()
    );
}

/// The shim under test runs runc when runc's options name it
/// (BinaryName, Root); under the name io.containerd.runc.v2, as ctr 1.6
/// passes those options to no other.
#[test]
fn the_shim_drives_runc_through_binary_name() {
    let cd = containerd_with_shim_as_runc();
    drive(&cd, "io.containerd.runc.v2", &shim(), &runc(), "shimrunc");
}

/// containerd's own runc shim drives berth as its runc binary.
#[test]
fn the_runc_shim_drives_berth() {
    let cd = containerd();
    let runc_shim = "io.containerd.runc.v2";
    drive(&cd, runc_shim, runc_shim, &runtime(), "runcberth");
}

/// The shim passes `--runc-root` (runc options' Root) to its runtime.
#[test]
fn runc_root_is_where_the_runtime_keeps_state() {
    let cd = containerd_with_shim_as_runc();
    let root = cd.dir.join("root-option");
    let rt = root.to_string_lossy();
    let id = cd.id("rootopt");
    cd.run_detached_with(
        "io.containerd.runc.v2",
        &["--runc-root", &rt],
        &id,
        &["sleep", "1000"],
    );
    let exe = cd.shim_exe(&id).expect("no shim process for the task");
    assert!(is_shim_binary(&exe, &shim()), "served by {}", exe.display());
    let binary = if shim_is_runc() { runc() } else { runtime() };
    let state_dir = state_root(&root, &id)
        .unwrap_or_else(|| panic!("no state for {id} under --runc-root {}", root.display()));
    let state = runtime_state(&binary, &state_dir, &id).expect("the runtime knows the task");
    assert_eq!(state["status"], "running", "{state}");
    assert_eq!(state["id"], id.as_str());
    assert!(state_dir.starts_with(&root));
    kill_and_delete(&cd, &id);
    assert!(
        state_root(&root, &id).is_none(),
        "state left under --runc-root"
    );
    // The image is still there for the next container.
    let images = cd.ctr_ok(&["images", "ls", "-q"]);
    assert!(images.contains(IMAGE));
}

/// containerd needs a task's events in lifecycle order: an exec's exit
/// before the init's, and the delete last.
#[test]
fn events_come_in_lifecycle_order() {
    let cd = containerd();
    let events = live_events(&cd);
    let id = cd.id("order");
    cd.run_detached(&[], &id, &["sleep", "1000"]);
    let o = cd.exec(&id, "e1", &[], &["sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    kill_and_delete(&cd, &id);
    assert!(
        events.wait_for("/tasks/delete", secs(10)),
        "{}",
        events.text()
    );
    assert_eq!(
        task_topics(&events.text(), &id),
        [
            "/tasks/create",
            "/tasks/start",
            "/tasks/exec-added",
            "/tasks/exec-started",
            "/tasks/exit",
            "/tasks/exit",
            "/tasks/delete"
        ],
        "{}",
        events.text()
    );
}

/// Containers that share a group annotation (a Kubernetes pod) share one
/// shim, which leaves when the last of them is deleted.
#[test]
fn a_group_shares_one_shim() {
    let cd = containerd();
    let group = format!("io.containerd.runc.v2.group={}", cd.id("pod"));
    let (a, b) = (cd.id("member-a"), cd.id("member-b"));
    cd.run_detached(&["--annotation", &group], &a, &["sleep", "1000"]);
    cd.run_detached(&["--annotation", &group], &b, &["sleep", "1000"]);
    let shim_a = parent_pid(cd.task_pid(&a));
    assert_ne!(shim_a, 0);
    assert_eq!(
        shim_a,
        parent_pid(cd.task_pid(&b)),
        "one shim serves the group"
    );
    let alone = cd.id("alone");
    cd.run_detached(&[], &alone, &["sleep", "1000"]);
    assert_ne!(parent_pid(cd.task_pid(&alone)), shim_a);
    kill_and_delete(&cd, &a);
    assert!(
        std::path::Path::new(&format!("/proc/{shim_a}")).exists(),
        "the shim stays while a member lives"
    );
    let o = cd.exec(&b, "e1", &[], &["echo", "still-served"]);
    assert_eq!(stdout(&o), "still-served\n", "{}", stderr(&o));
    kill_and_delete(&cd, &b);
    kill_and_delete(&cd, &alone);
    let deadline = std::time::Instant::now() + secs(10);
    while std::path::Path::new(&format!("/proc/{shim_a}/exe")).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the shim outlived its group"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `ctr ARGS…` that must succeed within `limit`, while `held` (the ctr
/// whose runtime command the wrapper holds) has not finished: what it
/// answered proves it was served during the hold.
fn served_while_held(
    cd: &Containerd,
    held: &mut conformance::containerd::Background,
    args: &[&str],
    limit: Duration,
) -> std::process::Output {
    let start = std::time::Instant::now();
    let o = run_with_timeout(&mut cd.ctr_cmd(args), None, &cd.dir, limit).unwrap_or_else(|o| {
        panic!(
            "ctr {args:?} got no answer within {limit:?} while another member of its group \
             waited on the runtime\nstderr: {}\ncontainerd log:\n{}",
            stderr(&o),
            cd.log_tail(40)
        )
    });
    eprintln!("ctr {args:?}: answered in {:?}", start.elapsed());
    assert!(
        matches!(held.child.try_wait(), Ok(None)),
        "the held ctr ended before ctr {args:?} was answered: {}",
        held.text()
    );
    o
}

/// Waits until the held-runtime wrapper says it holds a command.
fn wait_for(cd: &Containerd, path: &Path) {
    assert!(
        conformance::poll_until(secs(30), || path.exists()),
        "the wrapper never held {}\n{}",
        path.display(),
        cd.log_tail(40)
    )
}

/// A pod's containers share one shim (see `a_group_shares_one_shim`); a
/// runtime command of one that takes long (a slow create, a hung exec)
/// must not hold up the others. The members' runtime is a wrapper that
/// holds the `create`, then an `exec`, of one member for as long as the
/// test says; meanwhile the other members must answer ps, exec, kill,
/// their exits and delete, and a new member must be created and started.
#[test]
fn a_held_member_of_a_group_holds_up_no_other() {
    const RUNC: &str = "io.containerd.runc.v2";
    // Answered in well under a second when nothing holds them up.
    let limit = secs(15);
    // ctr passes --runc-binary only to a runtime of runc's name.
    let cd = containerd_with_shim_as_runc();
    let group = format!("io.containerd.runc.v2.group={}", cd.id("pod"));
    let sandbox = cd.id("sandbox");
    let (slow, fast, third) = (cd.id("slow"), cd.id("fast"), cd.id("third"));
    let hold = cd.dir.join("hold");
    let wrapper = cd.dir.join("held-runtime");
    std::fs::write(
        &wrapper,
        format!(
            r#"#!/bin/sh
# The runtime under test, but create and exec of {slow} wait while
# {hold} exists (at most two minutes), after saying so in {hold}.VERB.
case " $* " in
*" {slow} "*)
  for verb in create exec; do
    case " $* " in *" $verb "*)
      touch '{hold}'.$verb
      n=0
      while [ -e '{hold}' ] && [ $n -lt 1200 ]; do sleep 0.1; n=$((n+1)); done
    esac
  done
esac
exec '{runtime}' "$@"
"#,
            hold = hold.display(),
            runtime = runtime().display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let binary = wrapper.to_string_lossy().into_owned();
    let opts = ["--annotation", &group, "--runc-binary", &binary];
    let fifo = cd.fifo_dir();

    // The first member, as a pod's sandbox, starts the shim (in its
    // bundle, which the wrapper's shell needs as its working directory)
    // and goes last.
    cd.run_detached_with(RUNC, &opts, &sandbox, &["sleep", "1000"]);
    let shim = parent_pid(cd.task_pid(&sandbox));
    cd.run_detached_with(RUNC, &opts, &fast, &["sleep", "1000"]);

    if shim_is_runc() {
        // containerd's runc shim holds its service lock (which every
        // request takes) across a whole Create: only the hung exec below
        // applies to it.
        eprintln!("the held create: skipped for containerd's runc shim");
        cd.run_detached_with(RUNC, &opts, &slow, &["sleep", "1000"]);
        cd.run_detached_with(RUNC, &opts, &third, &["sleep", "1000"]);
        kill_and_delete(&cd, &fast);
    } else {
        held_create(&cd, &hold, &opts, [&slow, &fast, &third], shim, limit);
    }

    // An exec of `slow` that hangs in the runtime.
    std::fs::write(&hold, "").unwrap();
    let late = [
        "tasks",
        "exec",
        "--fifo-dir",
        &fifo,
        "--exec-id",
        "late",
        &slow,
        "echo",
        "late",
    ];
    let mut held = cd.background(&late);
    wait_for(&cd, &hold.with_extension("exec"));
    let ps = served_while_held(&cd, &mut held, &["tasks", "ps", &third], limit);
    cd.assert_ok(&ps, &["tasks", "ps", &third]);
    if shim_is_runc() {
        // containerd 1.6's runc shim holds its event lock across every
        // Start, and publishing an exit takes it too: another exec's start
        // or a task's exit waits for the hung one (later ones do not).
        eprintln!("the rest of the hung exec: skipped for containerd's runc shim");
    } else {
        served_while_exec_held(&cd, &mut held, &slow, &third, limit);
    }

    // Let go, the exec completes.
    std::fs::remove_file(&hold).unwrap();
    let done = conformance::containerd::wait_deadline(&mut held.child, secs(30));
    assert!(
        done.is_some_and(|s| s.success()) && held.text() == "late\n",
        "the held exec, let go: {done:?} {}",
        held.text()
    );
    drop(held);
    if shim_is_runc() {
        kill_and_delete(&cd, &third);
    }
    kill_and_delete(&cd, &slow);
    kill_and_delete(&cd, &sandbox);
}

/// What must be served while an exec of `slow` hangs in the runtime: an
/// exec, a kill and the exit, and the delete of `third`.
fn served_while_exec_held(
    cd: &Containerd,
    held: &mut conformance::containerd::Background,
    slow: &str,
    third: &str,
    limit: Duration,
) {
    let fifo = cd.fifo_dir();
    let exec = [
        "tasks",
        "exec",
        "--fifo-dir",
        &fifo,
        "--exec-id",
        "e2",
        third,
        "echo",
        "served",
    ];
    let o = served_while_held(cd, held, &exec, limit);
    cd.assert_ok(&o, &exec);
    assert_eq!(stdout(&o), "served\n");
    let o = served_while_held(cd, held, &["tasks", "kill", "-s", "SIGKILL", third], limit);
    cd.assert_ok(&o, &["tasks", "kill", third]);
    assert!(
        conformance::poll_until(limit, || cd.task_status(third) == "STOPPED"),
        "the exit of {third} was not reported while an exec of {slow} was held: {:?}",
        cd.tasks()
    );
    let o = served_while_held(cd, held, &["tasks", "delete", third], limit);
    cd.assert_ok(&o, &["tasks", "delete", third]);

    cd.ctr_ok(&["containers", "delete", third]);
}

/// The create of `slow` held by the wrapper while `fast` (running) and
/// `third` (created then) are served.
fn held_create(
    cd: &Containerd,
    hold: &Path,
    opts: &[&str],
    [slow, fast, third]: [&str; 3],
    shim: u32,
    limit: Duration,
) {
    let fifo = cd.fifo_dir();
    let ctr_run = |id: &str| -> Vec<String> {
        let mut all = vec!["-d"];
        all.extend_from_slice(opts);
        cd.run_args_with("io.containerd.runc.v2", &all, id, &["sleep", "1000"])
    };
    // The create of `slow` waits on the wrapper.
    std::fs::write(hold, "").unwrap();
    let args = ctr_run(slow);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut held = cd.background(&args);
    wait_for(cd, &hold.with_extension("create"));

    let ps = served_while_held(cd, &mut held, &["tasks", "ps", fast], limit);
    cd.assert_ok(&ps, &["tasks", "ps", fast]);
    let exec = [
        "tasks",
        "exec",
        "--fifo-dir",
        &fifo,
        "--exec-id",
        "e1",
        fast,
        "sh",
        "-c",
        "echo served; exit 5",
    ];
    let o = served_while_held(cd, &mut held, &exec, limit);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert_eq!(stdout(&o), "served\n");
    let args = ctr_run(third);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = served_while_held(cd, &mut held, &args, limit);
    cd.assert_ok(&o, &args);
    assert_eq!(
        parent_pid(cd.task_pid(third)),
        shim,
        "one shim serves the group"
    );
    let o = served_while_held(
        cd,
        &mut held,
        &["tasks", "kill", "-s", "SIGKILL", fast],
        limit,
    );
    cd.assert_ok(&o, &["tasks", "kill", fast]);
    assert!(
        conformance::poll_until(limit, || cd.task_status(fast) == "STOPPED"),
        "the exit of {fast} was not reported while {slow} was held: {:?}",
        cd.tasks()
    );
    let o = served_while_held(cd, &mut held, &["tasks", "delete", fast], limit);
    cd.assert_ok(&o, &["tasks", "delete", fast]);
    assert!(
        matches!(held.child.try_wait(), Ok(None)),
        "the create of {slow} ended while held: {}",
        held.text()
    );

    // Let go, the create of `slow` completes and its task runs.
    std::fs::remove_file(hold).unwrap();
    assert!(
        cd.wait_status(slow, "RUNNING", secs(30)),
        "{slow} is {:?} once let go\n{}",
        cd.task_status(slow),
        held.text()
    );
    assert_eq!(parent_pid(cd.task_pid(slow)), shim);
    drop(held);

    cd.ctr_ok(&["containers", "delete", fast]);
}

/// Runtime options for runtime types other than runc come as a TOML
/// file (`runtimeoptions.v1.Options`, ctr's --runtime-config-path, CRI).
#[test]
fn runtime_options_from_a_config_file() {
    if shim_is_runc() {
        eprintln!("skipped: containerd's runc shim takes only runc's options");
        return;
    }
    let cd = containerd();
    let root = cd.dir.join("runc-state");
    let config = cd.dir.join("runtime.toml");
    std::fs::write(
        &config,
        format!(
            "# runc, in berth's shim\nBinaryName = \"{}\"\nRoot = \"{}\"\n",
            runc().display(),
            root.display()
        ),
    )
    .unwrap();
    let id = cd.id("toml");
    let config = config.to_string_lossy().into_owned();
    cd.run_detached(&["--runtime-config-path", &config], &id, &["sleep", "1000"]);
    assert!(
        root.join(&id).join("state.json").exists(),
        "runc's state is not under the configured root {}",
        root.display()
    );
    kill_and_delete(&cd, &id);
}

/// `file://` and `binary://` log URIs: output goes to a file, or to a
/// logging program that gets stdout and stderr as fds 3 and 4.
#[test]
fn log_uris_send_output_to_a_file_or_a_program() {
    let cd = containerd();
    let file = cd.dir.join("logs/out.log");
    let id = cd.id("logfile");
    let uri = format!("file://{}", file.display());
    let o = cd.run(
        &["--log-uri", &uri],
        &id,
        &["sh", "-c", "echo to-out; echo to-err >&2"],
    );
    cd.assert_ok(&o, &["run", &id]);
    cd.ctr_ok(&["containers", "delete", &id]);
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        text.contains("to-out") && text.contains("to-err"),
        "{text:?}"
    );

    let logger = cd.dir.join("logger.sh");
    let captured = cd.dir.join("captured");
    std::fs::write(
        &logger,
        "#!/bin/sh\n# ready: close fd 5, then drain the container's stdout (3) and stderr (4)\nexec 5>&-\ncat <&4 > \"$2.err\" &\ncat <&3 > \"$2.out\"\nwait\n",
    )
    .unwrap();
    std::fs::set_permissions(&logger, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let id = cd.id("logbin");
    let uri = format!("binary://{}?out={}", logger.display(), captured.display());
    let o = cd.run(
        &["--log-uri", &uri],
        &id,
        &["sh", "-c", "echo via-logger; echo err-logger >&2"],
    );
    cd.assert_ok(&o, &["run", &id]);
    cd.ctr_ok(&["containers", "delete", &id]);
    let out = captured.with_extension("out");
    let err = captured.with_extension("err");
    let deadline = std::time::Instant::now() + secs(10);
    while std::fs::read_to_string(&err).unwrap_or_default().is_empty()
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        std::fs::read_to_string(&out).unwrap_or_default(),
        "via-logger\n"
    );
    assert_eq!(
        std::fs::read_to_string(&err).unwrap_or_default(),
        "err-logger\n"
    );
}

/// What ctr 1.6 cannot ask, asked over the shim's own ttrpc socket:
/// Update (OCI resources JSON, applied by the runtime's `update`),
/// Connect, and a Checkpoint without an image path (refused by berth's
/// shim).
#[test]
fn update_connect_and_checkpoint_over_ttrpc() {
    use containerd_shim_protos::api::{CheckpointTaskRequest, ConnectRequest, UpdateTaskRequest};
    use containerd_shim_protos::protobuf::well_known_types::any::Any;
    use containerd_shim_protos::protobuf::MessageField;
    use containerd_shim_protos::ttrpc;
    use containerd_shim_protos::TaskClient;

    let cd = containerd();
    let id = cd.id("update");
    cd.run_detached(
        &["--memory-limit", &(64 << 20).to_string()],
        &id,
        &["sleep", "1000"],
    );
    let bundle = cd
        .dir
        .join("state/io.containerd.runtime.v2.task")
        .join(conformance::containerd::NAMESPACE)
        .join(&id);
    let address = std::fs::read_to_string(bundle.join("address")).unwrap();
    let client = TaskClient::new(ttrpc::Client::connect(address.trim()).unwrap());
    let ctx = || {
        let mut c = ttrpc::context::with_timeout(10_000_000_000);
        c.add(
            "containerd-namespace-ttrpc".into(),
            conformance::containerd::NAMESPACE.into(),
        );
        c
    };

    let mut resources = Any::new();
    resources.type_url = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources".into();
    resources.value = br#"{"memory":{"limit":134217728},"pids":{"limit":50}}"#.to_vec();
    let req = UpdateTaskRequest {
        id: id.clone(),
        resources: MessageField::some(resources),
        ..Default::default()
    };
    client.update(ctx(), &req).expect("Update");
    let read = |file: &str| {
        cgroup_dirs(&id)
            .iter()
            .find_map(|d| std::fs::read_to_string(d.join(file)).ok())
            .map(|t| t.trim().to_string())
    };
    let memory = read("memory.limit_in_bytes").or_else(|| read("memory.max"));
    assert_eq!(memory.as_deref(), Some("134217728"));
    assert_eq!(read("pids.max").as_deref(), Some("50"));

    let req = ConnectRequest {
        id: id.clone(),
        ..Default::default()
    };
    let c = client.connect(ctx(), &req).expect("Connect");
    let task = cd.task_pid(&id);
    assert_eq!(c.task_pid, task);
    assert_eq!(c.shim_pid, parent_pid(task));

    // (Checkpoints themselves: tests/containerd_checkpoint.rs.)
    if !shim_is_runc() {
        let req = CheckpointTaskRequest {
            id: id.clone(),
            ..Default::default()
        };
        match client.checkpoint(ctx(), &req) {
            Err(ttrpc::Error::RpcStatus(s)) => {
                assert_eq!(s.code(), ttrpc::Code::INVALID_ARGUMENT, "{s:?}");
                assert!(s.message().contains("no image path"), "{s:?}");
            }
            other => panic!("Checkpoint without a path: {other:?}"),
        }
    }
    kill_and_delete(&cd, &id);
}

/// A task without a pid namespace of its own: when its init exits, the
/// shim ends the rest of its processes before reporting the exit, since
/// no kernel namespace teardown will.
#[test]
fn init_exit_ends_the_rest_without_a_pid_namespace() {
    let cd = containerd();
    let host = cd.id("pidns-host");
    cd.run_detached(&[], &host, &["sleep", "1000"]);
    let ns = format!("pid:/proc/{}/ns/pid", cd.task_pid(&host));
    let guest = cd.id("pidns-guest");
    cd.run_detached(
        &["--with-ns", &ns],
        &guest,
        &["sh", "-c", "sleep 1000 & sleep 1"],
    );
    assert!(
        cd.wait_status(&guest, "STOPPED", secs(20)),
        "{guest} is {:?}",
        cd.task_status(&guest)
    );
    let procs = || -> Vec<String> {
        cgroup_dirs(&guest)
            .iter()
            .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|t| t.lines().map(String::from).collect::<Vec<_>>())
            .collect()
    };
    let deadline = std::time::Instant::now() + secs(5);
    while !procs().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the background sleep outlived its init: {:?}",
            procs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_and_delete(&cd, &host);
    cd.ctr_ok(&["tasks", "delete", &guest]);
    cd.ctr_ok(&["containers", "delete", &guest]);
}

/// An exec with a terminal: its own pty, sized, with input and its exit
/// code; the container goes on.
#[test]
fn an_exec_gets_a_terminal_of_its_own() {
    let cd = containerd();
    let id = cd.id("exectty");
    cd.run_detached(&[], &id, &["sleep", "1000"]);
    let script = "tty; i=0; while [ $i -lt 100 ]; do s=$(stty size 2>/dev/null); \
                  [ -n \"$s\" ] && [ \"$s\" != '0 0' ] && break; i=$((i+1)); sleep 0.1; done; \
                  echo \"size:$s\"; echo ready; read x; echo \"got:$x\"; exit 4";
    let fifo_dir = cd.fifo_dir();
    let mut pty = cd.ctr_pty(
        &[
            "tasks",
            "exec",
            "-t",
            "--fifo-dir",
            &fifo_dir,
            "--exec-id",
            "t1",
            &id,
            "sh",
            "-c",
            script,
        ],
        21,
        66,
    );
    let text = pty.read_until("ready", secs(30));
    assert!(
        text.contains("ready"),
        "no prompt: {text:?}\n{}",
        cd.log_tail(30)
    );
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(lines.iter().any(|l| l.starts_with("/dev/pts/")), "{text:?}");
    assert!(lines.contains(&"size:21 66"), "size not passed: {text:?}");
    pty.write(b"xyz\r");
    let text = pty.read_until("got:xyz", secs(20));
    assert!(text.contains("got:xyz"), "input not passed: {text:?}");
    let status = pty.wait(secs(20)).expect("ctr tasks exec -t did not exit");
    assert_eq!(status.code(), Some(4));
    assert_eq!(cd.task_status(&id), "RUNNING");
    kill_and_delete(&cd, &id);
}
