//! Container escapes that have hit runc, crun or youki, attempted for real
//! from inside a container (the probe is the attacker): each test is the
//! attack, and asserts that it fails and that the host is as it was.
//!
//! Covered elsewhere, not repeated here: symlinks in mount destinations
//! that exist before create (filesystem.rs, `*_symlinks_in_mount_
//! destinations_do_not_escape`) and mounts on or inside /proc
//! (filesystem.rs, `mounts_on_or_inside_proc_are_refused`, CVE-2019-16884
//! and CVE-2019-19921).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use conformance::{is_runc, poll_until, running, stderr, stdout, Fixture};
use serde_json::{json, Value};

/// errno values the tests expect.
const EPERM: i64 = 1;
const EROFS: i64 = 30;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique(name: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{name}-{}-{n}", std::process::id())
}

fn rootfs(f: &Fixture) -> PathBuf {
    f.bundle.join("rootfs")
}

/// Attack targets a test makes on the host outside its fixture; removed on
/// drop (a lazy unmount first, should an attack have mounted on one).
#[derive(Default)]
struct HostPaths(Vec<PathBuf>);

impl HostPaths {
    fn path(&mut self, name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("berth-sec-{}", unique(name)));
        self.0.push(p.clone());
        p
    }

    fn file(&mut self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for HostPaths {
    fn drop(&mut self) {
        for p in &self.0 {
            if host_mounts_at_or_below(p) {
                let _ = Command::new("umount").arg("-R").arg("-l").arg(p).status();
            }
            let _ = std::fs::remove_dir_all(p);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Whether the host (this test's mount namespace) has a mount on `p` or
/// below it.
fn host_mounts_at_or_below(p: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| Path::new(m).starts_with(p))
}

/// The names in a directory, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A copy of the runtime binary, for attacks that could damage the one
/// they target: the real build is never run by them. Removed on drop.
struct RuntimeCopy {
    dir: PathBuf,
    bin: PathBuf,
    original: Vec<u8>,
}

impl RuntimeCopy {
    fn new(name: &str) -> RuntimeCopy {
        let real = conformance::runtime();
        let dir = std::env::temp_dir().join(format!("berth-sec-rt-{}", unique(name)));
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join(real.file_name().unwrap());
        std::fs::copy(&real, &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let original = std::fs::read(&bin).unwrap();
        RuntimeCopy { dir, bin, original }
    }

    fn runtime(&self, no_sys_ptrace: bool) -> Runtime {
        Runtime {
            bin: self.bin.clone(),
            no_sys_ptrace,
        }
    }

    fn untouched(&self) -> bool {
        std::fs::read(&self.bin).is_ok_and(|b| b == self.original)
    }
}

impl Drop for RuntimeCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A runtime binary to run: the one under test or a copy, perhaps without
/// CAP_SYS_PTRACE (see [`attack_execs`]).
struct Runtime {
    bin: PathBuf,
    no_sys_ptrace: bool,
}

/// CAP_SYS_PTRACE of linux/capability.h.
const CAP_SYS_PTRACE: libc::c_ulong = 19;

impl Runtime {
    fn under_test() -> Runtime {
        Runtime {
            bin: conformance::runtime(),
            no_sys_ptrace: false,
        }
    }

    /// `bin --root ROOT`.
    fn command(&self, f: &Fixture) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&f.root);
        if self.no_sys_ptrace {
            // SAFETY: one prctl between fork and exec. Root's capabilities
            // after execve are its bounding set, so this drops the
            // capability from every set of the runtime.
            unsafe {
                c.pre_exec(|| {
                    if libc::prctl(libc::PR_CAPBSET_DROP, CAP_SYS_PTRACE, 0, 0, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        c
    }
}

/// `runtime ARGS…` as [`Fixture::rt`] runs it (output through files, a
/// timeout), with `fd3` as descriptor 3 when given.
fn rt_with(f: &Fixture, rt: &Runtime, args: &[&str], fd3: Option<&File>) -> Output {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let (o, e) = (
        f.dir.join(format!("sec{n}.out")),
        f.dir.join(format!("sec{n}.err")),
    );
    let mut c = rt.command(f);
    c.args(args);
    c.stdin(Stdio::null())
        .stdout(File::create(&o).unwrap())
        .stderr(File::create(&e).unwrap());
    if let Some(file) = fd3 {
        let fd = file.as_raw_fd();
        // SAFETY: between fork and exec only async-signal-safe calls; dup2
        // clears close-on-exec, and F_SETFD clears it when fd is 3 already.
        unsafe {
            c.pre_exec(move || {
                if libc::dup2(fd, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    // A runtime binary that an attack has opened for writing cannot be
    // executed (ETXTBSY): a failed command, for the test to report.
    let child = match c.spawn() {
        Ok(child) => child,
        Err(err) => {
            return Output {
                status: std::os::unix::process::ExitStatusExt::from_raw(127 << 8),
                stdout: vec![],
                stderr: format!("spawn {}: {err}", rt.bin.display()).into_bytes(),
            }
        }
    };
    let status = conformance::wait_output(child, Duration::from_secs(30)).status;
    Output {
        status,
        stdout: std::fs::read(&o).unwrap_or_default(),
        stderr: std::fs::read(&e).unwrap_or_default(),
    }
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(out), stderr(out)))
}

/// The ELF interpreter and libraries `bin` needs, copied into the rootfs
/// at their host paths, as a distribution image has them: a container
/// then can run the runtime binary itself, which the CVE-2019-5736 attack
/// needs (a static runtime needs nothing).
fn give_rootfs_the_libraries_of(f: &Fixture, bin: &Path) {
    let out = Command::new("ldd").arg(bin).output().unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let path = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        let Some(path) = path.filter(|p| p.starts_with('/')) else {
            continue;
        };
        let dest = rootfs(f).join(path.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(path, &dest).unwrap();
    }
}

/// A container whose init is `probe attack KIND` (see the probe), created
/// and started with `rt`; its report goes to attacker.out.
fn start_attacker(f: &mut Fixture, rt: &Runtime, kind: &str) {
    f.args(&["/bin/probe", "attack", kind, "/tmp/stop", "15000"]);
    f.write_config();
    let out = File::create(f.dir.join("attacker.out")).unwrap();
    let mut c = rt.command(f);
    c.args(["create", "--bundle", f.bundle.to_str().unwrap(), &f.id]);
    c.stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    let o = conformance::wait_output(c.spawn().unwrap(), Duration::from_secs(30));
    assert!(o.status.success(), "create: {}", attacker_output(f));
    let o = rt_with(f, rt, &["start", &f.id], None);
    assert!(o.status.success(), "start: {}", stderr(&o));
}

fn attacker_output(f: &Fixture) -> String {
    std::fs::read_to_string(f.dir.join("attacker.out")).unwrap_or_default()
}

/// Tells the attacker to stop (it tries once more while no runtime process
/// runs) and returns its report.
fn stop_attacker(f: &Fixture) -> Value {
    std::fs::write(rootfs(f).join("tmp/stop"), "").unwrap();
    assert!(
        poll_until(Duration::from_secs(20), || f.status() == "stopped"),
        "the attacker did not stop: {}",
        attacker_output(f)
    );
    let text = attacker_output(f);
    text.lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no report from the attacker: {text}"))
}

/// CVE-2019-5736: a container process that gets a descriptor of a runtime
/// binary through /proc/PID/exe (of a runtime process in its pid
/// namespace before that process's execve, or of the runtime binary the
/// container made a runtime process execute: `exec /proc/self/exe`, or a
/// script whose interpreter is `#!/proc/self/exe`) reopens it for writing
/// once nothing runs it any more, and overwrites the host's runtime. The
/// attacker here loops over /proc/*/exe while the test runs `exec` into
/// its container, all with a copy of the runtime; the copy must come out
/// unchanged and no write to a runtime binary may succeed.
#[test]
fn the_runtime_binary_cannot_be_overwritten_through_proc_pid_exe() {
    let copy = RuntimeCopy::new("cve5736");
    let mut f = Fixture::new("cve5736");
    give_rootfs_the_libraries_of(&f, &copy.bin);
    let evil = rootfs(&f).join("bin/evil");
    std::fs::write(&evil, "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    let rt = copy.runtime(false);
    start_attacker(&mut f, &rt, "exe");
    let mut ran_runtime = 0;
    for _ in 0..6 {
        for args in [
            &["/proc/self/exe", "--version"][..],
            &["/bin/evil", "--version"],
            &["/bin/probe", "exit", "0"],
        ] {
            let mut full = vec!["exec", &f.id];
            full.extend_from_slice(args);
            let o = rt_with(&f, &rt, &full, None);
            if args[0] != "/bin/probe" && stdout(&o).contains("version") {
                ran_runtime += 1;
            }
        }
        let o = rt_with(&f, &rt, &["exec", "-d", &f.id, "/bin/probe"], None);
        assert!(o.status.success(), "exec -d: {}", stderr(&o));
    }
    let report = stop_attacker(&f);
    eprintln!("attacker: {report}");
    assert!(
        ran_runtime > 0,
        "the container could not run the runtime binary: the attack was not tried"
    );
    assert!(
        copy.untouched(),
        "the container rewrote the runtime binary: {report}"
    );
    assert_eq!(report["writes"], 0, "{report}");
    assert!(
        report["hits_after_exec"].as_u64().unwrap() > 0,
        "the attacker never saw a process exec started: {report}"
    );
}

/// CVE-2024-21626: a descriptor of a host directory that leaks into the
/// container's process, named by process.cwd as /proc/self/fd/N, leaves
/// the process with a working directory outside the container (runc leaked
/// /sys/fs/cgroup). For every N that can be a runtime descriptor, the
/// container's init and an exec'd process either fail to start or start
/// in a directory inside the container; and a cwd that climbs from N
/// with `..` creates nothing on the host.
#[test]
fn a_cwd_through_a_leaked_descriptor_stays_inside_the_container() {
    // runc 1.1.5 passes: Debian's 1.1.5+ds1-1+deb12u1 carries the fix
    // (upstream 1.1.12).
    let mut host = HostPaths::default();
    let climbed = host.path("cve21626");
    let climb = format!(
        "{}{}",
        "../".repeat(20),
        climbed.strip_prefix("/").unwrap().display()
    );
    for n in 3..=12 {
        for cwd in [
            format!("/proc/self/fd/{n}"),
            format!("/proc/self/fd/{n}/{climb}"),
        ] {
            let mut f = Fixture::new("cve21626");
            f.config["process"]["cwd"] = json!(cwd);
            f.args(&["/bin/probe", "cwd"]);
            let out = f.run();
            if out.status.success() {
                let r = json_of(&out);
                assert_eq!(r["reachable"], true, "init's cwd {cwd}: {r}");
            } else {
                assert!(!stderr(&out).trim().is_empty(), "{cwd}: no error message");
                f.assert_clean(&f.id);
            }
            assert!(!climbed.exists(), "cwd {cwd} made {}", climbed.display());
        }
    }
    let f = running("cve21626x", |_| {}).0;
    for n in 3..=12 {
        for cwd in [
            format!("/proc/self/fd/{n}"),
            format!("/proc/self/fd/{n}/{climb}"),
        ] {
            let out = f.rt(&["exec", "--cwd", &cwd, &f.id, "/bin/probe", "cwd"]);
            if out.status.success() {
                let r = json_of(&out);
                assert_eq!(r["reachable"], true, "exec's cwd {cwd}: {r}");
            } else {
                assert!(!stderr(&out).trim().is_empty(), "{cwd}: no error message");
            }
            assert!(
                !climbed.exists(),
                "exec cwd {cwd} made {}",
                climbed.display()
            );
        }
    }
}

/// The descriptor numbers in a `probe fds` report.
fn fd_numbers(r: &Value) -> Vec<u32> {
    let mut fds: Vec<u32> = r
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.parse().unwrap())
        .collect();
    fds.sort();
    fds
}

/// No descriptor of the runtime's (a state directory, a cgroup, a socket:
/// the CVE-2024-21626 leak) survives into the container's processes: after
/// execve, init and an exec'd process hold stdio and, with
/// --preserve-fds 1, the one descriptor the caller passed on purpose.
#[test]
fn only_stdio_and_preserved_descriptors_reach_the_container_process() {
    let mut f = Fixture::new("fdleak");
    let marker_path = f.dir.join("passed-on-purpose");
    std::fs::create_dir_all(&f.dir).unwrap();
    std::fs::write(&marker_path, "x").unwrap();
    let marker = File::open(&marker_path).unwrap();
    let ino = marker.metadata().unwrap().ino();
    let rt = Runtime::under_test();
    let bundle = f.bundle.to_str().unwrap().to_string();

    f.args(&["/bin/probe", "fds"]);
    f.write_config();
    let id = format!("{}-plain", f.id);
    let r = json_of(&rt_with(&f, &rt, &["run", "--bundle", &bundle, &id], None));
    assert_eq!(fd_numbers(&r), [0, 1, 2], "init: {r}");
    let id = format!("{}-kept", f.id);
    let out = rt_with(
        &f,
        &rt,
        &["run", "--preserve-fds", "1", "--bundle", &bundle, &id],
        Some(&marker),
    );
    let r = json_of(&out);
    assert_eq!(
        fd_numbers(&r),
        [0, 1, 2, 3],
        "init with --preserve-fds 1: {r}"
    );
    assert_eq!(r["3"]["ino"], ino, "{r}");

    let f = running("fdleakx", |_| {}).0;
    let r = json_of(&rt_with(
        &f,
        &rt,
        &["exec", &f.id, "/bin/probe", "fds"],
        None,
    ));
    assert_eq!(fd_numbers(&r), [0, 1, 2], "exec: {r}");
    let out = rt_with(
        &f,
        &rt,
        &["exec", "--preserve-fds", "1", &f.id, "/bin/probe", "fds"],
        Some(&marker),
    );
    let r = json_of(&out);
    assert_eq!(
        fd_numbers(&r),
        [0, 1, 2, 3],
        "exec with --preserve-fds 1: {r}"
    );
    assert_eq!(r["3"]["ino"], ino, "{r}");
}

/// Deletes the containers of a test that makes many, also when it fails.
struct Containers<'a> {
    f: &'a Fixture,
    ids: Vec<String>,
}

impl Drop for Containers<'_> {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.f.rt(&["delete", "--force", id]);
        }
    }
}

/// Sets the flag on drop.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// CVE-2021-30465 and its kind: the mount destination /mnt/flip is swapped
/// (renameat2 RENAME_EXCHANGE, in a loop on the host while containers are
/// created) between a directory and a symlink to `host_dir` written as
/// `link`. The runtime resolves the destination while it changes; whatever
/// it sees, the tmpfs or bind mount must land inside the rootfs (it is
/// visible in the container's mount table) or create must fail cleanly,
/// and `host_dir` must get no mount and no new file.
fn flipped_destinations_stay_inside(
    name: &str,
    link: impl Fn(&Fixture) -> String,
    host_dir: impl Fn(&Fixture) -> PathBuf,
) {
    let f = Fixture::new(name);
    let host_dir = host_dir(&f);
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("marker"), "host").unwrap();
    let before = listing(&host_dir);
    let mnt = rootfs(&f).join("mnt");
    std::fs::create_dir_all(mnt.join("flip")).unwrap();
    std::os::unix::fs::symlink(link(&f), mnt.join(".flip")).unwrap();
    let bindsrc = f.bundle.join("bindsrc");
    std::fs::create_dir_all(&bindsrc).unwrap();
    std::fs::write(bindsrc.join("from-the-bundle"), "x").unwrap();
    let base = f.config["mounts"].clone();

    let stop = Arc::new(AtomicBool::new(false));
    // Also when an assertion fails: the fixture's directory goes next.
    let _stop = StopOnDrop(stop.clone());
    let flipper = {
        let stop = stop.clone();
        let (a, b) = (
            std::ffi::CString::new(mnt.join("flip").to_str().unwrap()).unwrap(),
            std::ffi::CString::new(mnt.join(".flip").to_str().unwrap()).unwrap(),
        );
        std::thread::spawn(move || {
            let mut flips = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: two NUL-terminated paths.
                let r = unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        a.as_ptr(),
                        libc::AT_FDCWD,
                        b.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
                if r == 0 {
                    flips += 1;
                }
            }
            flips
        })
    };
    let mut made = Containers { f: &f, ids: vec![] };
    let mut created = 0;
    for i in 0..30 {
        let tmpfs = i % 2 == 0;
        let m = if tmpfs {
            json!({"destination": "/mnt/flip", "type": "tmpfs", "source": "tmpfs", "options": ["mode=0713"]})
        } else {
            json!({"destination": "/mnt/flip", "type": "bind", "source": bindsrc, "options": ["bind"]})
        };
        let mut mounts = base.clone();
        mounts.as_array_mut().unwrap().push(m);
        let mut config = made.f.config.clone();
        config["mounts"] = mounts;
        std::fs::write(
            made.f.bundle.join("config.json"),
            serde_json::to_vec(&config).unwrap(),
        )
        .unwrap();
        let id = format!("{}-{i}", made.f.id);
        made.ids.push(id.clone());
        let out = made
            .f
            .rt(&["create", "--bundle", made.f.bundle.to_str().unwrap(), &id]);
        if out.status.success() {
            created += 1;
            let st: Value = json_of(&made.f.rt(&["state", &id]));
            let pid = st["pid"].as_i64().unwrap();
            // Only mounts under the container's root show in its table.
            let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
            let seen = mi.lines().any(|l| {
                let (left, right) = l.split_once(" - ").unwrap_or((l, ""));
                match tmpfs {
                    true => right.starts_with("tmpfs ") && right.contains("mode=713"),
                    false => left
                        .split(' ')
                        .nth(3)
                        .is_some_and(|r| r.ends_with("/bindsrc")),
                }
            });
            assert!(
                seen,
                "create {i}: the mount is not inside the container:\n{mi}"
            );
        } else {
            assert!(!stderr(&out).trim().is_empty(), "create {i}: no message");
            assert!(
                !made.f.root.join(&id).exists(),
                "create {i} failed and left its state"
            );
        }
        let out = made.f.rt(&["delete", "--force", &id]);
        assert!(
            out.status.success() || !made.f.root.join(&id).exists(),
            "delete {i}: {}",
            stderr(&out)
        );
        made.ids.pop();
        assert!(
            !host_mounts_at_or_below(&host_dir),
            "create {i} mounted on the host's {}",
            host_dir.display()
        );
        assert_eq!(listing(&host_dir), before, "create {i} wrote to the host");
    }
    stop.store(true, Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    drop(made);
    assert!(flips > 30, "the destination hardly changed ({flips} flips)");
    // Not a runtime that refuses everything: a flip that leaves the
    // directory in place while the runtime resolves it must work.
    assert!(created > 0, "no create succeeded");
}

/// An absolute symlink to a host directory, swapped in during create.
#[test]
fn a_mount_destination_flipped_to_an_absolute_host_symlink_stays_inside() {
    let mut host = HostPaths::default();
    let dir = host.path("flipabs");
    let d = dir.clone();
    flipped_destinations_stay_inside(
        "flipabs",
        move |_| d.display().to_string(),
        move |_| dir.clone(),
    );
}

/// A relative symlink climbing out of the rootfs (`../../..` from
/// rootfs/mnt is the fixture's directory on the host), swapped in during
/// create.
#[test]
fn a_mount_destination_flipped_to_a_relative_escaping_symlink_stays_inside() {
    flipped_destinations_stay_inside(
        "fliprel",
        |_| "../../../hostside".to_string(),
        |f| f.dir.join("hostside"),
    );
}

/// Replaces the /dev tmpfs with a bind mount of a bundle directory, so
/// that the runtime makes no /dev of its own (as with /dev from an image
/// or a volume): `fill` puts the attack in it; ptmx and the directories
/// of the other /dev mounts are there as a normal /dev has them.
fn dev_from_bundle(f: &mut Fixture, fill: impl FnOnce(&Path)) {
    let dev = f.bundle.join("devsrc");
    for d in ["pts", "shm", "mqueue"] {
        std::fs::create_dir_all(dev.join(d)).unwrap();
    }
    std::os::unix::fs::symlink("pts/ptmx", dev.join("ptmx")).unwrap();
    fill(&dev);
    let mounts = f.config["mounts"].as_array_mut().unwrap();
    let m = mounts
        .iter_mut()
        .find(|m| m["destination"] == "/dev")
        .unwrap();
    *m = json!({"destination": "/dev", "type": "bind", "source": dev, "options": ["rbind"]});
}

/// What a test puts in a bundle's /dev (see [`dev_from_bundle`]).
type Fill<'a> = Box<dyn Fn(&Path) + 'a>;

/// The default masked files this kernel has.
fn masked_files() -> Vec<String> {
    ["/proc/kcore", "/proc/keys", "/proc/timer_list"]
        .iter()
        .filter(|p| Path::new(p).exists())
        .map(|p| p.to_string())
        .collect()
}

/// CVE-2025-31133: maskedPaths hides files by binding /dev/null over them;
/// with /dev from the bundle, "null" may be a symlink into /proc or to a
/// host path, or a plain file. The runtime must refuse, or mask with a
/// real null device (char 1:3): never bind another file over a masked
/// path; and the host file the symlink names is untouched.
#[test]
fn masked_paths_are_masked_with_the_null_device_only() {
    if is_runc() {
        // Documented runc deviation: runc 1.1.5 (Debian's 1.1.5+ds1-1+deb12u1
        // too) binds whatever /dev/null is, here /proc/uptime over
        // /proc/keys; CVE-2025-31133 was fixed in runc 1.2.8, 1.3.3 and
        // 1.4.0-rc.3.
        eprintln!("skipped: runc 1.1.5 is vulnerable to CVE-2025-31133");
        return;
    }
    let mut host = HostPaths::default();
    let host_file = host.file("hostnull", "host file\n");
    let files = masked_files();
    assert!(!files.is_empty(), "no masked file on this kernel");
    let variants: [(&str, Fill); 3] = [
        (
            "symlink into /proc",
            Box::new(|d| std::os::unix::fs::symlink("../proc/uptime", d.join("null")).unwrap()),
        ),
        (
            "symlink to a host file",
            Box::new(|d| std::os::unix::fs::symlink(&host_file, d.join("null")).unwrap()),
        ),
        (
            "plain file",
            Box::new(|d| std::fs::write(d.join("null"), "not the null device\n").unwrap()),
        ),
    ];
    for (what, fill) in variants {
        let mut f = Fixture::new("cve31133");
        dev_from_bundle(&mut f, |d| fill(d));
        let mut script: Vec<String> = files
            .iter()
            .map(|p| format!("/bin/probe statf {p}"))
            .collect();
        script.push(format!("/bin/probe read {}", files[0]));
        f.args(&["sh", "-c", &script.join("; ")]);
        let out = f.run();
        if out.status.success() {
            let lines: Vec<Value> = stdout(&out)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            for (p, st) in files.iter().zip(&lines) {
                assert_eq!(
                    (&st[p]["type"], &st[p]["major"], &st[p]["minor"]),
                    (&json!("c"), &json!(1), &json!(3)),
                    "{what}: {p} is masked with something else: {st}"
                );
            }
            let n = files.len();
            assert_eq!(lines[n], json!({"ok": true, "content": ""}), "{what}");
        } else {
            assert!(!stderr(&out).trim().is_empty(), "{what}: no error message");
            f.assert_clean(&f.id);
        }
        assert_eq!(
            std::fs::read_to_string(&host_file).unwrap(),
            "host file\n",
            "{what}"
        );
        assert!(!host_mounts_at_or_below(&host_file), "{what}");
    }
}

/// CVE-2025-52565's idea: with process.terminal, the runtime binds the pty
/// on /dev/console; with /dev from the bundle, "console" may be a symlink
/// to a host file. The host file must stay as it was (no mount, no write)
/// and /dev/console, as the container opens it, is a pty slave (char,
/// major 136-143).
#[test]
fn the_console_is_the_pty_even_through_a_planted_symlink() {
    let mut host = HostPaths::default();
    let host_file = host.file("hostconsole", "host console file\n");
    let mtime = std::fs::metadata(&host_file).unwrap().mtime_nsec();
    let mut f = Fixture::new("console");
    dev_from_bundle(&mut f, |d| {
        std::os::unix::fs::symlink(&host_file, d.join("console")).unwrap()
    });
    // Masking needs a null device, which this /dev does not have; it is
    // not what this test is about.
    f.config["linux"]["maskedPaths"] = json!([]);
    f.config["process"]["terminal"] = json!(true);
    f.args(&["sh", "-c", "/bin/probe statf /dev/console; echo done"]);
    let sock = f.dir.join("console.sock");
    let receiver = conformance::console_socket(&sock);
    let out = f.create(&["--console-socket", sock.to_str().unwrap()]);
    if out.status.success() {
        let mut master = receiver.join().unwrap();
        assert!(f.rt(&["start", &f.id]).status.success());
        let text = conformance::read_until(&mut master, "done");
        let line = text
            .lines()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("{text:?}"));
        let st: Value = serde_json::from_str(line.trim()).unwrap();
        let c = &st["/dev/console"];
        assert_eq!(c["type"], "c", "{st}");
        let major = c["major"].as_u64().unwrap();
        assert!(
            (136..=143).contains(&major),
            "/dev/console is not a pty: {st}"
        );
    } else {
        // A runtime that refuses the planted symlink is as good.
        assert!(!f.container_output().trim().is_empty(), "no error message");
    }
    assert_eq!(
        std::fs::read_to_string(&host_file).unwrap(),
        "host console file\n"
    );
    assert_eq!(std::fs::metadata(&host_file).unwrap().mtime_nsec(), mtime);
    assert!(!host_mounts_at_or_below(&host_file));
}

/// With the default config, the host-global knobs a container could use to
/// take over the host are read-only: /proc/sys (core_pattern names a
/// program the host runs as root on a crash; drop_caches), /sys, and
/// /proc/sysrq-trigger. Each write is the value the knob already has (or a
/// harmless one), should it ever get through.
#[test]
fn host_global_proc_and_sys_knobs_cannot_be_written() {
    let core_pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let mut writes = vec![
        (
            "/proc/sys/kernel/core_pattern",
            core_pattern.trim_end().to_string(),
        ),
        ("/proc/sys/vm/drop_caches", "1".to_string()),
    ];
    // Kernels built without them have no sysrq-trigger or uevent_helper.
    let optional = [
        "/proc/sysrq-trigger",
        "/sys/kernel/uevent_helper",
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/sys/kernel/mm/ksm/run",
    ];
    for knob in optional.into_iter().filter(|k| Path::new(k).exists()) {
        let v = match knob {
            "/proc/sysrq-trigger" => "h".to_string(),
            _ => {
                let v = std::fs::read_to_string(knob).unwrap_or_default();
                // "always [madvise] never" is written back as "madvise".
                v.split_whitespace()
                    .find_map(|w| w.strip_prefix('[').and_then(|w| w.strip_suffix(']')))
                    .unwrap_or(v.trim())
                    .to_string()
            }
        };
        writes.push((knob, v));
    }
    assert!(
        writes.iter().any(|(k, _)| k.starts_with("/sys/")),
        "no /sys knob to try on this kernel"
    );
    let mut f = Fixture::new("knobs");
    let cmds: Vec<Vec<&str>> = writes
        .iter()
        .map(|(p, v)| vec!["write", *p, v.as_str()])
        .collect();
    let cmds: Vec<&[&str]> = cmds.iter().map(|c| c.as_slice()).collect();
    let r = conformance::probes(&mut f, &cmds);
    for ((p, _), r) in writes.iter().zip(&r) {
        assert_eq!(*r, json!({"ok": false, "errno": EROFS}), "{p}");
    }
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        core_pattern
    );
}

/// The host's first disk, as "MAJOR MINOR" (from /proc/partitions).
fn host_disk() -> Option<(String, String)> {
    let text = std::fs::read_to_string("/proc/partitions").ok()?;
    text.lines().skip(2).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() == 4).then(|| (f[0].to_string(), f[1].to_string()))
    })
}

/// Devices outside the allowed list stay out of reach even for a container
/// that may mknod (CAP_MKNOD, as Docker's default set has it): a node for
/// /dev/sda (block 8:0), for the host's own disk, for /dev/mem and
/// /dev/kmsg can be made or not, but never opened (EPERM from the device
/// cgroup), while /dev/null still opens.
#[test]
fn devices_outside_the_allowed_list_cannot_be_opened() {
    let mut f = Fixture::new("devices");
    for set in ["bounding", "effective", "permitted"] {
        f.config["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_MKNOD"));
    }
    let mut nodes = vec![
        ("/dev/xsda", "b", "8".to_string(), "0".to_string()),
        ("/dev/xmem", "c", "1".to_string(), "1".to_string()),
        ("/dev/xkmsg", "c", "1".to_string(), "11".to_string()),
    ];
    if let Some((major, minor)) = host_disk() {
        nodes.push(("/dev/xdisk", "b", major, minor));
    }
    let mut cmds: Vec<Vec<&str>> = nodes
        .iter()
        .map(|(p, t, ma, mi)| vec!["mknod", *p, *t, ma.as_str(), mi.as_str()])
        .collect();
    cmds.push(vec!["mknod", "/dev/xnull", "c", "1", "3"]);
    let cmds: Vec<&[&str]> = cmds.iter().map(|c| c.as_slice()).collect();
    let r = conformance::probes(&mut f, &cmds);
    for (n, r) in nodes.iter().zip(&r) {
        assert_eq!(r["open"]["ok"], false, "{n:?} opened: {r}");
        let denied = r["mknod"]["errno"] == EPERM || r["open"]["errno"] == EPERM;
        assert!(denied, "{n:?}: not refused with EPERM: {r}");
    }
    assert_eq!(
        r[nodes.len()]["open"]["ok"],
        true,
        "/dev/null: {}",
        r[nodes.len()]
    );
}

/// Runs `exec` into the attacker's container, with `rt`, the ways a
/// container's processes are usually started: foreground and detached,
/// short and a little longer.
fn exec_a_while(f: &Fixture, rt: &Runtime, rounds: usize) -> (usize, Vec<String>) {
    let (mut ok, mut failed) = (0, vec![]);
    for _ in 0..rounds {
        for args in [
            &["exec", &f.id, "/bin/probe", "exit", "0"][..],
            &["exec", &f.id, "sleep", "0.05"],
            &["exec", "-d", &f.id, "sleep", "0.05"],
            &[
                "exec",
                "--user",
                "1000:1000",
                &f.id,
                "/bin/probe",
                "exit",
                "0",
            ],
        ] {
            let o = rt_with(f, rt, args, None);
            if o.status.success() {
                ok += 1;
            } else {
                failed.push(format!("{args:?}: {}", stderr(&o)));
            }
        }
    }
    (ok, failed)
}

/// Every capability the runtime has but CAP_SYS_PTRACE (this machine's
/// bounding set may lack some), in every set of the container's process.
fn all_caps_but_sys_ptrace(f: &mut Fixture) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let bounding = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    let caps: Vec<Value> = ALL_CAPS
        .iter()
        .enumerate()
        .filter(|&(bit, c)| bounding & (1 << bit) != 0 && *c != "CAP_SYS_PTRACE")
        .map(|(_, c)| json!(c))
        .collect();
    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        f.config["process"]["capabilities"][set] = json!(caps);
    }
}

/// Capability names by number (linux/capability.h).
const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// An attacker of `kind` in a container while `exec` runs processes in it:
/// with the default capabilities, which are a subset of the runtime
/// process's until it drops its own (the kernel's ptrace check then
/// refuses on capabilities alone), and with every capability the runtime
/// has: the runtime runs without CAP_SYS_PTRACE and the container gets
/// all the others, so that only non-dumpability keeps the attacker out.
/// Returns the two reports.
fn attack_execs(name: &str, kind: &str) -> Vec<Value> {
    let mut reports = vec![];
    for equal in [false, true] {
        let copy = RuntimeCopy::new(name);
        let rt = copy.runtime(equal);
        let mut f = Fixture::new(name);
        if equal {
            all_caps_but_sys_ptrace(&mut f);
        }
        start_attacker(&mut f, &rt, kind);
        let (ok, failed) = exec_a_while(&f, &rt, 6);
        let report = stop_attacker(&f);
        eprintln!("{kind} attacker (capabilities equal: {equal}): {report}");
        assert!(ok > 0, "no exec worked: {failed:?}");
        assert!(
            report["hits_after_exec"].as_u64().unwrap() > 0,
            "the attacker never reached a process exec started: {report}"
        );
        reports.push(report);
    }
    reports
}

/// PTRACE_ATTACH and PTRACE_SEIZE of every process the attacker sees while
/// `exec` runs processes in its container: the runtime's process (a clone
/// of the runtime, in the container's pid namespace before its execve)
/// must never be traced, which would hand the attacker a process that is
/// still outside the container's mount namespace or holds host
/// descriptors. The processes after their execve are traced, which shows
/// the attack reached them.
#[test]
fn runtime_processes_cannot_be_ptraced_before_execve() {
    for r in attack_execs("ptrace", "ptrace") {
        assert_eq!(r["findings"], json!([]), "{r}");
    }
}

/// Every process the runtime starts in a container (init and exec) is
/// non-dumpable until its execve: from inside the container its
/// /proc/PID/exe, environ and mem are unreadable (the ptrace access check)
/// for as long as it runs the runtime's code.
#[test]
fn runtime_processes_are_not_dumpable_before_execve() {
    for r in attack_execs("snoop", "snoop") {
        assert_eq!(r["findings"], json!([]), "{r}");
    }
}

/// A container whose config joins the pid namespace of `attacker` (as
/// the containers of a pod share one), running `args`. It shares the
/// attacker's (read-only) rootfs, so that the attacker knows its programs.
fn joining_pid_namespace_of(attacker: &Fixture, name: &str, args: &[&str]) -> Fixture {
    let pid = attacker.state()["pid"].as_i64().unwrap();
    let mut f = Fixture::new(name);
    f.args(args);
    f.config["root"]["path"] = json!(rootfs(attacker));
    for ns in f.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "pid" {
            ns["path"] = json!(format!("/proc/{pid}/ns/pid"));
        }
    }
    f.write_config();
    f
}

/// Runs `joiner` (see [`joining_pid_namespace_of`]) to its end `times`
/// times, with `rt`; returns the outputs.
fn run_joiner(joiner: &Fixture, rt: &Runtime, times: usize) -> Vec<Output> {
    let mut made = Containers {
        f: joiner,
        ids: vec![],
    };
    let bundle = joiner.bundle.to_str().unwrap().to_string();
    let mut outs = vec![];
    for i in 0..times {
        let id = format!("{}-{i}", joiner.id);
        made.ids.push(id.clone());
        outs.push(rt_with(
            joiner,
            rt,
            &["run", "--bundle", &bundle, &id],
            None,
        ));
        made.ids.pop();
    }
    outs
}

/// CVE-2019-5736 through a container's init: in a pid namespace shared
/// with another container (a pod), an image whose process is the runtime
/// binary (`/proc/self/exe`, resolved while init still runs the runtime)
/// hands the other container a runtime process to take /proc/PID/exe
/// from, and to rewrite once it exits. As
/// [`the_runtime_binary_cannot_be_overwritten_through_proc_pid_exe`] for
/// exec.
#[test]
fn the_runtime_binary_cannot_be_overwritten_through_an_init_in_a_shared_pid_namespace() {
    let copy = RuntimeCopy::new("cve5736init");
    let rt = copy.runtime(false);
    let mut f = Fixture::new("cve5736init");
    give_rootfs_the_libraries_of(&f, &copy.bin);
    start_attacker(&mut f, &rt, "exe");
    let joiner = joining_pid_namespace_of(&f, "cve5736initb", &["/proc/self/exe", "--version"]);
    let outs = run_joiner(&joiner, &rt, 10);
    let report = stop_attacker(&f);
    eprintln!("attacker: {report}");
    assert!(
        outs.iter().any(|o| stdout(o).contains("version")),
        "the container could not run the runtime binary: the attack was not tried"
    );
    assert!(
        copy.untouched(),
        "the container rewrote the runtime binary: {report}"
    );
    assert_eq!(report["writes"], 0, "{report}");
}

/// The container's init is born in the pid namespace it joins when the
/// config names one (a pod's shared pid namespace): visible there to every
/// process of the other container at once. It must be non-dumpable from
/// birth, as exec's process: here the attacker's container holds every
/// capability the runtime has (see [`attack_execs`]) while containers
/// that join its pid namespace run.
#[test]
fn an_init_joining_a_pid_namespace_is_not_dumpable_before_execve() {
    let copy = RuntimeCopy::new("pidjoin");
    let rt = copy.runtime(true);
    let mut f = Fixture::new("pidjoin");
    all_caps_but_sys_ptrace(&mut f);
    start_attacker(&mut f, &rt, "snoop");
    let joiner = joining_pid_namespace_of(&f, "pidjoinb", &["/bin/probe", "exit", "0"]);
    for (i, o) in run_joiner(&joiner, &rt, 15).iter().enumerate() {
        assert!(o.status.success(), "run {i}: {}", stderr(o));
    }
    let report = stop_attacker(&f);
    eprintln!("snoop attacker: {report}");
    assert_eq!(report["findings"], json!([]), "{report}");
}
