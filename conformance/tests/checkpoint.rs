//! `checkpoint` and `restore` through CRIU (runc's commands and flags).
//!
//! The container is a busybox shell counting in memory and writing each
//! value to /out/count, a bind mount of a host directory: a restored
//! counter that goes on from the checkpointed value proves the memory came
//! back, and the bind mount is one of the external mounts the runtime has
//! to describe to criu. Its stdio are pipes, as in runc's own tests: criu
//! cannot dump a host file the container cannot see, and the runtime hands
//! the restore's stdio to the restored process in their place.
//!
//! criu comes from `BERTH_CRIU`, else from hack/criu (Debian 13's criu,
//! which works on this kernel where Debian 12's does not), fetched once per
//! test binary; without either (no network) each test says so and passes.

use std::fs::File;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use conformance::{
    in_every_hierarchy, is_runc, poll_until, stderr, wait_output, workspace, Fixture,
};
use serde_json::json;

fn criu() -> Option<&'static str> {
    static CRIU: OnceLock<Result<String, String>> = OnceLock::new();
    let found = CRIU.get_or_init(|| {
        if let Some(p) = std::env::var_os("BERTH_CRIU") {
            return Ok(p.to_string_lossy().into_owned());
        }
        let out = Command::new(workspace().join("hack/criu"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("hack/criu: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        match (out.status.success(), text.lines().last()) {
            (true, Some(p)) if Path::new(p.trim()).is_file() => Ok(p.trim().to_string()),
            _ => Err(format!(
                "hack/criu could not provide criu: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        }
    });
    match found {
        Ok(p) => Some(p),
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// A pipe; the test keeps one end, the runtime's child gets the other.
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors or fails.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh descriptors from pipe2.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// The test's ends of a container's stdio pipes: held open for as long as
/// the container runs, so that it never writes to a closed pipe.
struct Stdio3 {
    _stdin: OwnedFd,
    _out: OwnedFd,
}

/// `args` (a create or a detached restore) with pipes for stdin and
/// stdout, and stderr to `err` when given, else to the stdout pipe. The
/// container's stderr must be a pipe at create: criu cannot dump a host
/// file the container cannot see.
fn with_pipes(f: &Fixture, args: &[&str], err: Option<&Path>) -> (std::process::Output, Stdio3) {
    let (in_r, in_w) = pipe();
    let (out_r, out_w) = pipe();
    let stderr_to = match err {
        Some(p) => Stdio::from(File::create(p).unwrap()),
        None => Stdio::from(out_w.try_clone().unwrap()),
    };
    let mut c = f.runtime_cmd(args);
    c.stdin(Stdio::from(in_r))
        .stdout(Stdio::from(out_w))
        .stderr(stderr_to);
    let child = c.spawn().expect("spawn runtime");
    let status = wait_output(child, Duration::from_secs(60)).status;
    let text = err.map(|p| std::fs::read(p).unwrap()).unwrap_or_default();
    (
        std::process::Output {
            status,
            stdout: Vec::new(),
            stderr: text,
        },
        Stdio3 {
            _stdin: in_w,
            _out: out_r,
        },
    )
}

/// A fixture whose container counts into `<dir>/out/count`, created and
/// started with pipes for stdio.
fn counting(name: &str) -> (Fixture, Stdio3) {
    counting_with(name, |_| {})
}

/// [`counting`] with the config changed by `edit` first.
fn counting_with(name: &str, edit: impl FnOnce(&mut Fixture)) -> (Fixture, Stdio3) {
    let f = counter(name, edit);
    let (o, pipes) = with_pipes(
        &f,
        &["create", "--bundle", f.bundle.to_str().unwrap(), &f.id],
        None,
    );
    // create's error, if any, went to the pipe with the container's output.
    assert!(o.status.success(), "create failed");
    start_counting(&f);
    (f, pipes)
}

/// A fixture whose config counts into `<dir>/out/count`, changed by `edit`
/// and written, not created yet.
fn counter(name: &str, edit: impl FnOnce(&mut Fixture)) -> Fixture {
    let mut f = Fixture::new(name);
    let out = f.dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(f.bundle.join("rootfs/out")).unwrap();
    f.config["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/out", "type": "bind", "source": out, "options": ["rbind", "rw"]}),
    );
    f.args(&[
        "sh",
        "-c",
        "i=0; while :; do i=$((i+1)); echo $i > /out/count; sleep 0.1; done",
    ]);
    edit(&mut f);
    f.write_config();
    f
}

/// Starts a created counter and waits until it counts.
fn start_counting(f: &Fixture) {
    let start = f.rt(&["start", &f.id]);
    assert!(start.status.success(), "start: {}", stderr(&start));
    assert!(
        poll_until(Duration::from_secs(10), || count(&f.dir.join("out")) >= 5),
        "the counter did not start"
    );
}

/// The last value written to `dir/count` (0 before the first).
fn count(dir: &Path) -> u64 {
    // The shell truncates before it writes: an empty read is a moment
    // between the two.
    for _ in 0..100 {
        if let Ok(t) = std::fs::read_to_string(dir.join("count")) {
            if let Ok(n) = t.trim().parse() {
                return n;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    0
}

fn checkpoint(f: &Fixture, criu: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--criu", criu, "checkpoint"];
    args.extend_from_slice(extra);
    args.push(&f.id);
    f.rt(&args)
}

/// A checkpoint into `images`, with `extra` flags, that must succeed.
fn checkpoint_ok(f: &Fixture, criu: &str, images: &Path, extra: &[&str]) {
    let mut args = vec!["--image-path", images.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = checkpoint(f, criu, &args);
    assert!(o.status.success(), "checkpoint: {}", stderr(&o));
}

/// A detached restore of `images` from `bundle` as `<id>-copy`, which must
/// succeed; the copy is deleted when the first value is dropped.
fn restored_copy<'a>(
    f: &'a Fixture,
    criu: &str,
    images: &Path,
    bundle: &Path,
) -> (Other<'a>, Stdio3) {
    let other = Other {
        f,
        id: format!("{}-copy", f.id),
    };
    let (o, pipes) = restore(f, criu, images, bundle, &other.id);
    assert!(o.status.success(), "restore: {}", stderr(&o));
    (other, pipes)
}

/// A detached restore of `images` as `id` from `bundle`.
fn restore(
    f: &Fixture,
    criu: &str,
    images: &Path,
    bundle: &Path,
    id: &str,
) -> (std::process::Output, Stdio3) {
    let err = f.dir.join(format!("restore-{id}.err"));
    with_pipes(
        f,
        &[
            "--criu",
            criu,
            "restore",
            "--detach",
            "--image-path",
            images.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
            id,
        ],
        Some(&err),
    )
}

/// Another container of a fixture's, deleted on drop.
struct Other<'a> {
    f: &'a Fixture,
    id: String,
}

impl Drop for Other<'_> {
    fn drop(&mut self) {
        let _ = self
            .f
            .runtime_cmd(&["delete", "--force", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn status_of(f: &Fixture, id: &str) -> String {
    let o = f.rt(&["state", id]);
    serde_json::from_slice::<serde_json::Value>(&o.stdout)
        .ok()
        .and_then(|v| v["status"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn pid_of(f: &Fixture, id: &str) -> i64 {
    let o = f.rt(&["state", id]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("state is JSON");
    v["pid"].as_i64().unwrap()
}

/// Neither a state, nor a cgroup, nor a criu-root mount is left of `id`.
fn assert_gone(f: &Fixture, id: &str) {
    assert!(
        !f.root.join(id).exists(),
        "state directory of {id} left behind"
    );
    for d in in_every_hierarchy(id) {
        assert!(!d.exists(), "cgroup {} left behind", d.display());
    }
    assert!(!criu_root_mounted(f, id), "criu-root mount left behind");
}

/// Whether the rootfs bind a restore of `id` makes (runc's and berth's
/// `<state dir>/criu-root`) is still there; tests run in parallel, so only
/// this container's counts.
fn criu_root_mounted(f: &Fixture, id: &str) -> bool {
    let path = f.root.join(id).join("criu-root");
    let path = path.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(path))
}

/// Waits for the counter in `dir` to pass `past` and then to go on.
fn assert_counts_past(dir: &Path, past: u64) {
    assert!(
        poll_until(Duration::from_secs(10), || count(dir) > past),
        "the counter stayed at {} (checkpointed at {past})",
        count(dir)
    );
    let now = count(dir);
    assert!(
        poll_until(Duration::from_secs(5), || count(dir) > now),
        "the counter stopped at {now}"
    );
}

#[test]
fn checkpoint_stops_and_removes_the_container_and_restore_continues_its_counter() {
    let Some(criu) = criu() else { return };
    let (f, _pipes) = counting("cr-same");
    let out = f.dir.join("out");
    let images = f.dir.join("images");
    let work = f.dir.join("work");
    checkpoint_ok(&f, criu, &images, &["--work-path", work.to_str().unwrap()]);
    assert!(
        work.join("dump.log").is_file(),
        "criu's log is not in --work-path"
    );
    // Gone, as runc leaves it: the ID is free for the restore.
    assert!(!f.rt(&["state", &f.id]).status.success());
    assert_gone(&f, &f.id);
    let at = count(&out);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&out), at, "the counter went on after the checkpoint");
    assert!(images.join("descriptors.json").is_file());

    let (o, _restored) = restore(&f, criu, &images, &f.bundle, &f.id);
    assert!(o.status.success(), "restore: {}", stderr(&o));
    assert_eq!(status_of(&f, &f.id), "running");
    let pid = pid_of(&f, &f.id);
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert_counts_past(&out, at);
    assert!(!criu_root_mounted(&f, &f.id), "criu-root still mounted");

    // A restored container is an ordinary one: it can be killed and
    // deleted.
    assert!(f.rt(&["kill", &f.id, "KILL"]).status.success());
    assert!(f.wait_status("stopped"));
    assert!(f.rt(&["delete", &f.id]).status.success());
    assert_gone(&f, &f.id);
}

/// `runtime --log LOG ARGS…` with the given stdio for the container (a
/// create or a detached restore passes its own on); errors are in LOG.
fn with_stdio(
    f: &Fixture,
    args: &[&str],
    stdio: impl Fn() -> Stdio,
) -> (std::process::ExitStatus, String) {
    let log = f.dir.join("runtime.log");
    let mut full = vec!["--log", log.to_str().unwrap()];
    full.extend_from_slice(args);
    let mut c = f.runtime_cmd(&full);
    c.stdin(stdio()).stdout(stdio()).stderr(stdio());
    let status = wait_output(c.spawn().expect("spawn runtime"), Duration::from_secs(60)).status;
    (status, std::fs::read_to_string(&log).unwrap_or_default())
}

/// A container whose stdin, stdout and stderr are the host's /dev/null
/// (`run -d ID </dev/null >/dev/null 2>&1`) is checkpointed and restored:
/// the runtime gives it the container's own /dev/null (tests/process.rs),
/// which CRIU dumps; the host's is on a mount the container does not
/// have, which it cannot.
#[test]
fn a_container_on_the_hosts_dev_null_is_checkpointed_and_restored() {
    let Some(criu) = criu() else { return };
    let f = counter("cr-null", |_| {});
    let bundle = f.bundle.to_str().unwrap();
    let (st, log) = with_stdio(&f, &["create", "--bundle", bundle, &f.id], Stdio::null);
    assert!(st.success(), "create: {log}");
    start_counting(&f);
    let out = f.dir.join("out");
    let images = f.dir.join("images");
    checkpoint_ok(&f, criu, &images, &[]);
    assert_gone(&f, &f.id);
    let at = count(&out);
    let images = images.to_str().unwrap();
    let restore = [
        "--criu",
        criu,
        "restore",
        "--detach",
        "--image-path",
        images,
        "--bundle",
        bundle,
        &f.id,
    ];
    let (st, log) = with_stdio(&f, &restore, Stdio::null);
    assert!(st.success(), "restore: {log}");
    assert_counts_past(&out, at);
}

/// A dump CRIU refuses (the container's stdout is a host file, which is
/// on no mount of the container's) fails with CRIU's decisive error, the
/// one naming that file, rather than the first error in its log (it logs
/// errors it carries on from, such as its own RLIMIT_NOFILE, in dumps that
/// succeed too); the container keeps running. runc quotes no CRIU error,
/// only its log's path.
#[test]
fn a_refused_dump_names_criu_s_decisive_error() {
    let Some(criu) = criu() else { return };
    let f = counter("cr-hostfile", |_| {});
    let host_file = f.dir.join("stdout.log");
    let file = || Stdio::from(File::create(&host_file).unwrap());
    let bundle = f.bundle.to_str().unwrap();
    let (st, log) = with_stdio(&f, &["create", "--bundle", bundle, &f.id], file);
    assert!(st.success(), "create: {log}");
    start_counting(&f);
    let images = f.dir.join("images");
    let o = checkpoint(&f, criu, &["--image-path", images.to_str().unwrap()]);
    assert!(!o.status.success(), "the dump of a host file succeeded");
    assert_eq!(status_of(&f, &f.id), "running");
    if is_runc() {
        return;
    }
    let err = stderr(&o);
    assert!(err.contains("stdout.log"), "{err}");
    assert!(!err.contains("RLIMIT_NOFILE"), "{err}");
    assert!(err.contains("dump.log"), "no log path: {err}");
}

#[test]
fn restore_into_a_new_id_gets_that_ids_cgroups() {
    let Some(criu) = criu() else { return };
    let (f, _pipes) = counting("cr-new");
    let out = f.dir.join("out");
    let images = f.dir.join("images");
    // With flags containerd's runc shim passes.
    checkpoint_ok(
        &f,
        criu,
        &images,
        &[
            "--manage-cgroups-mode",
            "soft",
            "--empty-ns",
            "network",
            "--file-locks",
        ],
    );
    let at = count(&out);

    let (other, _restored) = restored_copy(&f, criu, &images, &f.bundle);
    assert_eq!(status_of(&f, &other.id), "running");
    assert_counts_past(&out, at);
    let pid = pid_of(&f, &other.id);
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cgroup
            .lines()
            .all(|l| l.ends_with(&format!("/{}", other.id))),
        "the restored process is not in the new ID's cgroups:\n{cgroup}"
    );
    assert!(!f.rt(&["state", &f.id]).status.success());
}

#[test]
fn without_a_cgroup_namespace_the_restored_container_sees_its_new_cgroups() {
    let Some(criu) = criu() else { return };
    // /sys/fs/cgroup is then the container's cgroup directories bound from
    // the host (on a v1 or hybrid host): external mounts to criu.
    let (f, _pipes) = counting_with("cr-nocgns", |f| {
        let ns = f.config["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "cgroup");
    });
    let out = f.dir.join("out");
    let images = f.dir.join("images");
    checkpoint_ok(&f, criu, &images, &[]);
    let at = count(&out);
    let (other, _restored) = restored_copy(&f, criu, &images, &f.bundle);
    assert_counts_past(&out, at);
    let pid = pid_of(&f, &other.id);
    // Each hierarchy the container sees is its own cgroup: the restored
    // process is in it.
    let inside = std::fs::read_dir(format!("/proc/{pid}/root/sys/fs/cgroup")).unwrap();
    let mut seen = 0;
    let mut wrong = Vec::new();
    // (runc adds symlinks such as cpu -> cpu,cpuacct: the directories are
    // what counts.)
    for h in inside
        .flatten()
        .filter(|h| h.file_type().is_ok_and(|t| t.is_dir()))
    {
        let Ok(procs) = std::fs::read_to_string(h.path().join("cgroup.procs")) else {
            continue;
        };
        if !procs.lines().any(|l| l.trim() == pid.to_string()) {
            wrong.push(h.file_name().to_string_lossy().into_owned());
        }
        seen += 1;
    }
    // runc 1.1 binds some hierarchies' root cgroup instead (a deviation
    // of runc's, conformance/README.md).
    if !is_runc() {
        assert!(
            wrong.is_empty(),
            "in the restored container, {wrong:?} are not its cgroups"
        );
    } else if !wrong.is_empty() {
        eprintln!("runc: {wrong:?} in the restored container are not its cgroups");
    }
    assert!(seen > 0, "no cgroup hierarchy in the restored container");
}

#[test]
fn leave_running_keeps_the_original_and_a_copy_runs_beside_it() {
    let Some(criu) = criu() else { return };
    let (f, _pipes) = counting("cr-leave");
    let out = f.dir.join("out");
    let images = f.dir.join("images");
    let pid = pid_of(&f, &f.id);
    checkpoint_ok(&f, criu, &images, &["--leave-running"]);
    let at = count(&out);
    assert_eq!(f.status(), "running");
    assert_eq!(pid_of(&f, &f.id), pid);
    assert_counts_past(&out, at);

    // The copy from a second bundle: a copy of the rootfs without the
    // mount point (the runtime makes it, as create does), /out bound from
    // another directory, which the restore maps the external mount to.
    let out2 = f.dir.join("out2");
    std::fs::create_dir_all(&out2).unwrap();
    let bundle2 = f.dir.join("bundle2");
    std::fs::create_dir_all(&bundle2).unwrap();
    let cp = Command::new("cp")
        .arg("-a")
        .arg(f.bundle.join("rootfs"))
        .arg(bundle2.join("rootfs"))
        .status()
        .unwrap();
    assert!(cp.success());
    std::fs::remove_dir(bundle2.join("rootfs/out")).unwrap();
    let mut config = f.config.clone();
    for m in config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/out" {
            m["source"] = json!(out2);
        }
    }
    std::fs::write(
        bundle2.join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    let (other, _restored) = restored_copy(&f, criu, &images, &bundle2);
    assert_eq!(status_of(&f, &other.id), "running");
    assert_ne!(pid_of(&f, &other.id), pid);
    assert_counts_past(&out2, at);
    assert_counts_past(&out, count(&out));
    assert_eq!(f.status(), "running");
}

/// Whether the kernel has the soft-dirty bits a pre-dump needs (Debian's
/// kernels have had them off at times).
fn dirty_tracking(criu: &str) -> bool {
    Command::new(criu)
        .args(["check", "--feature", "mem_dirty_track"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn pre_dump_then_a_dump_on_its_parent_restores() {
    let Some(criu) = criu() else { return };
    let (f, _pipes) = counting("cr-pre");
    let out = f.dir.join("out");
    let pre = f.dir.join("pre");
    let o = checkpoint(
        &f,
        criu,
        &["--pre-dump", "--image-path", pre.to_str().unwrap()],
    );
    if !dirty_tracking(criu) {
        eprintln!("pre-dump skipped: this kernel has no soft-dirty tracking");
        assert!(
            !o.status.success(),
            "pre-dump without dirty tracking succeeded"
        );
        assert!(!stderr(&o).trim().is_empty(), "no error message");
        assert_eq!(f.status(), "running", "a failed pre-dump stopped it");
        return;
    }
    assert!(o.status.success(), "pre-dump: {}", stderr(&o));
    assert_eq!(f.status(), "running", "a pre-dump stopped the container");
    assert_counts_past(&out, count(&out));

    let images = f.dir.join("images");
    let o = checkpoint(
        &f,
        criu,
        &[
            "--image-path",
            images.to_str().unwrap(),
            "--parent-path",
            "../pre",
        ],
    );
    assert!(o.status.success(), "dump on the pre-dump: {}", stderr(&o));
    assert!(
        std::fs::symlink_metadata(images.join("parent")).is_ok(),
        "criu linked no parent"
    );
    let at = count(&out);
    let (o, _restored) = restore(&f, criu, &images, &f.bundle, &f.id);
    assert!(o.status.success(), "restore: {}", stderr(&o));
    assert_counts_past(&out, at);
}

#[test]
fn a_missing_criu_is_a_clear_error_and_leaves_nothing() {
    // No criu needed: that is the point.
    let (f, _pipes) = counting("cr-nocriu");
    let missing = f.dir.join("no/such/criu");
    let o = checkpoint(&f, missing.to_str().unwrap(), &[]);
    assert!(!o.status.success(), "checkpoint without criu succeeded");
    let err = stderr(&o);
    assert!(
        err.contains(missing.to_str().unwrap()),
        "the error does not name the path: {err}"
    );
    assert_eq!(f.status(), "running", "a failed checkpoint stopped it");

    let images = f.dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::write(images.join("descriptors.json"), "[]").unwrap();
    let id = format!("{}-copy", f.id);
    let (o, _p) = restore(&f, missing.to_str().unwrap(), &images, &f.bundle, &id);
    assert!(!o.status.success(), "restore without criu succeeded");
    assert!(
        stderr(&o).contains(missing.to_str().unwrap()),
        "the error does not name the path: {}",
        stderr(&o)
    );
    assert_gone(&f, &id);
}

#[test]
fn bad_image_paths_and_states_are_errors_that_leave_nothing() {
    let Some(criu) = criu() else { return };
    let (f, _pipes) = counting("cr-bad");
    // An image directory without a checkpoint.
    let empty = f.dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let id = format!("{}-copy", f.id);
    let (o, _p) = restore(&f, criu, &empty, &f.bundle, &id);
    assert!(!o.status.success(), "restore of nothing succeeded");
    assert!(!stderr(&o).trim().is_empty(), "no error message");
    assert_gone(&f, &id);
    // A directory that is not there is not made (runc 1.1 makes it).
    let missing = f.dir.join("missing");
    let (o, _p) = restore(&f, criu, &missing, &f.bundle, &id);
    assert!(!o.status.success(), "restore from nowhere succeeded");
    assert!(!stderr(&o).trim().is_empty(), "no error message");
    assert!(
        is_runc() || !missing.exists(),
        "restore made its image path"
    );
    assert_gone(&f, &id);
    // One criu itself refuses, after the runtime made the container's
    // state, cgroups and root mount: all of them go.
    std::fs::write(empty.join("descriptors.json"), "[]").unwrap();
    let (o, _p) = restore(&f, criu, &empty, &f.bundle, &id);
    assert!(!o.status.success(), "restore of no images succeeded");
    assert!(!stderr(&o).trim().is_empty(), "no error message");
    assert_gone(&f, &id);
    // Images of a running container's: its ID is taken.
    let images = f.dir.join("images");
    checkpoint_ok(&f, criu, &images, &["--leave-running"]);
    let (o, _p) = restore(&f, criu, &images, &f.bundle, &f.id);
    assert!(!o.status.success(), "restore over a running container");
    assert_eq!(f.status(), "running");
    // --parent-path must be relative.
    let o = checkpoint(
        &f,
        criu,
        &[
            "--image-path",
            images.to_str().unwrap(),
            "--parent-path",
            "/abs",
        ],
    );
    assert!(!o.status.success(), "an absolute --parent-path was taken");
    assert_eq!(f.status(), "running");
    // Only a running container is checkpointed.
    assert!(f.rt(&["kill", &f.id, "KILL"]).status.success());
    assert!(f.wait_status("stopped"));
    let o = checkpoint(&f, criu, &["--image-path", images.to_str().unwrap()]);
    assert!(!o.status.success(), "checkpoint of a stopped container");
}

#[test]
fn a_foreground_restore_waits_for_the_container_and_exits_with_its_status() {
    let Some(criu) = criu() else { return };
    let (f, _pipes) = counting("cr-fg");
    let out = f.dir.join("out");
    let images = f.dir.join("images");
    checkpoint_ok(&f, criu, &images, &[]);
    let at = count(&out);

    let (in_r, _in_w) = pipe();
    let (_out_r, out_w) = pipe();
    let err = f.dir.join("restore.err");
    let mut c = f.runtime_cmd(&[
        "--criu",
        criu,
        "restore",
        "--image-path",
        images.to_str().unwrap(),
        "--bundle",
        f.bundle.to_str().unwrap(),
        &f.id,
    ]);
    c.stdin(Stdio::from(in_r))
        .stdout(Stdio::from(out_w))
        .stderr(File::create(&err).unwrap());
    let child = c.spawn().expect("spawn runtime");
    assert!(
        poll_until(Duration::from_secs(10), || status_of(&f, &f.id)
            == "running"),
        "not restored: {}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    assert_counts_past(&out, at);
    assert!(f.rt(&["kill", &f.id, "KILL"]).status.success());
    let o = wait_output(child, Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(137), "restore's exit status");
    // As after a foreground run: the container is gone.
    assert!(!f.rt(&["state", &f.id]).status.success());
    assert_gone(&f, &f.id);
}

#[test]
fn a_terminal_comes_back_through_the_console_socket() {
    let Some(criu) = criu() else { return };
    let mut f = Fixture::new("cr-tty");
    let out = f.dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(f.bundle.join("rootfs/out")).unwrap();
    f.config["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/out", "type": "bind", "source": out, "options": ["rbind", "rw"]}),
    );
    f.config["process"]["terminal"] = json!(true);
    f.args(&[
        "sh",
        "-c",
        "i=0; while :; do i=$((i+1)); echo $i > /out/count; echo n=$i; sleep 0.1; done",
    ]);
    let sock = f.dir.join("console.sock");
    let receiver = conformance::console_socket(&sock);
    let o = f.create(&["--console-socket", sock.to_str().unwrap()]);
    assert!(o.status.success(), "create: {}", f.container_output());
    let _master = receiver.join().unwrap();
    assert!(f.rt(&["start", &f.id]).status.success());
    assert!(poll_until(Duration::from_secs(10), || count(&out) >= 5));

    let images = f.dir.join("images");
    checkpoint_ok(&f, criu, &images, &[]);
    let at = count(&out);
    let sock2 = f.dir.join("console2.sock");
    let receiver = conformance::console_socket(&sock2);
    let o = f.rt(&[
        "--criu",
        criu,
        "restore",
        "--detach",
        "--console-socket",
        sock2.to_str().unwrap(),
        "--image-path",
        images.to_str().unwrap(),
        "--bundle",
        f.bundle.to_str().unwrap(),
        &f.id,
    ]);
    assert!(o.status.success(), "restore: {}", stderr(&o));
    let mut master = receiver.join().unwrap();
    // The restored shell writes on, to the terminal it got back.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut text = String::new();
        let mut buf = [0u8; 256];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            let past = text
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '=')
                .filter_map(|w| w.strip_prefix("n=")?.parse::<u64>().ok())
                .any(|n| n > at);
            if past {
                let _ = tx.send(text.clone());
                break;
            }
        }
    });
    let seen = rx.recv_timeout(Duration::from_secs(10));
    assert!(
        seen.is_ok(),
        "the restored terminal showed no count past {at}"
    );
    assert_counts_past(&out, at);
}

#[test]
fn a_joined_network_namespace_is_joined_again_on_restore() {
    let Some(criu) = criu() else { return };
    let helper = Command::new("unshare")
        .args(["--net", "sleep", "1000"])
        .stdin(Stdio::null())
        .spawn()
        .expect("unshare");
    let netns = format!("/proc/{}/ns/net", helper.id());
    assert!(poll_until(Duration::from_secs(5), || {
        std::fs::read_link(&netns).ok() != std::fs::read_link("/proc/self/ns/net").ok()
    }));
    let link = std::fs::read_link(&netns).unwrap();
    let path = netns.clone();
    let (mut f, _pipes) = counting_with("cr-netns", move |f| {
        for n in f.config["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" {
                n["path"] = json!(path);
            }
        }
    });
    f.helpers.push(helper);
    let out = f.dir.join("out");
    let images = f.dir.join("images");
    checkpoint_ok(&f, criu, &images, &[]);
    let at = count(&out);
    let (o, _restored) = restore(&f, criu, &images, &f.bundle, &f.id);
    assert!(o.status.success(), "restore: {}", stderr(&o));
    assert_counts_past(&out, at);
    let pid = pid_of(&f, &f.id);
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap(),
        link,
        "the restored container is not in the namespace it joined"
    );
}

#[test]
fn a_restore_killed_while_criu_runs_is_deleted_without_harm_to_the_rootfs() {
    let Some(criu) = criu() else { return };
    if is_runc() {
        // berth's crash points (runtime/src/fault.rs).
        return;
    }
    let (f, _pipes) = counting("cr-killed");
    let images = f.dir.join("images");
    checkpoint_ok(&f, criu, &images, &[]);
    let mut c = f.runtime_cmd(&[
        "--criu",
        criu,
        "restore",
        "--detach",
        "--image-path",
        images.to_str().unwrap(),
        "--bundle",
        f.bundle.to_str().unwrap(),
        &f.id,
    ]);
    c.env("BERTH_FAULT", "restore:criu")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let o = wait_output(c.spawn().unwrap(), Duration::from_secs(30));
    assert!(!o.status.success(), "the killed restore succeeded");
    assert!(
        criu_root_mounted(&f, &f.id),
        "the crash point was not reached"
    );
    let d = f.rt(&["delete", "--force", &f.id]);
    assert!(d.status.success(), "delete: {}", stderr(&d));
    assert_gone(&f, &f.id);
    assert!(
        f.bundle.join("rootfs/bin/busybox").is_file(),
        "delete went through the rootfs bound for criu"
    );
}

/// A container without a mount namespace of its own has its mounts in the
/// caller's namespace, which criu neither saves nor restores: checkpoint
/// refuses it (the container runs on) and restore refuses such a bundle,
/// leaving nothing.
#[test]
fn a_container_without_a_mount_namespace_is_neither_checkpointed_nor_restored() {
    let Some(criu) = criu() else { return };
    // runc 1.1 checkpoints it and leaves its mounts on the host; a restore
    // into a rootfs without them fails.
    if is_runc() {
        return;
    }
    let (f, _pipes) = counting_with("cr-nomntns", |f| {
        conformance::without_namespace(&mut f.config, "mount");
    });
    let images = f.dir.join("images");
    let o = checkpoint(&f, criu, &["--image-path", images.to_str().unwrap()]);
    assert!(!o.status.success(), "checkpoint succeeded");
    assert!(stderr(&o).contains("mount namespace"), "{}", stderr(&o));
    assert_eq!(status_of(&f, &f.id), "running");
    std::fs::create_dir_all(&images).unwrap();
    let id = format!("{}-copy", f.id);
    let (o, _pipes) = restore(&f, criu, &images, &f.bundle, &id);
    assert!(!o.status.success(), "restore succeeded");
    let err = std::fs::read_to_string(f.dir.join(format!("restore-{id}.err"))).unwrap();
    assert!(err.contains("mount namespace"), "{err}");
    assert_gone(&f, &id);
}
