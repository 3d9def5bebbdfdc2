//! Containers without a mount namespace of their own (`linux.namespaces`
//! without `mount`): config-linux.md has them inherit the runtime's, so
//! their mounts are made in the caller's namespace, below the rootfs, and
//! the root is entered with chroot. `delete` (and a failed `create`) must
//! take away what the runtime mounted there, and nothing else; `exec` must
//! land in the container's root.
//!
//! runc 1.1 refuses maskedPaths and readonlyPaths without a mount
//! namespace (they are left out for it), and sets the propagation of the
//! caller's `/` (rslave, or linux.rootfsPropagation): on a host whose `/`
//! is shared, the tests skip it.

use std::path::{Path, PathBuf};
use std::process::Command;

use conformance::{host_ns, is_runc, mount_at, probes, running, stderr, stdout, Fixture};
use serde_json::{json, Value};

const EROFS: i64 = 30;

/// The fixture's config without the mount namespace (and, for runc, the
/// masked and read-only paths it refuses then).
fn without_mount_namespace(f: &mut Fixture) {
    conformance::without_namespace(&mut f.config, "mount");
    let linux = &mut f.config["linux"];
    if is_runc() {
        linux["maskedPaths"] = json!([]);
        linux["readonlyPaths"] = json!([]);
    }
}

/// runc would make the caller's `/` a slave: not on a host where it is
/// shared.
fn runc_would_change_the_hosts_root() -> bool {
    let shared = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(" - ").map(|(left, _)| left.to_string()))
        .any(|left| {
            let f: Vec<&str> = left.split(' ').collect();
            f.get(4) == Some(&"/") && f[6..].iter().any(|o| o.starts_with("shared:"))
        });
    if is_runc() && shared {
        eprintln!("skipped: runc would change the propagation of the host's /");
        return true;
    }
    false
}

fn rootfs(f: &Fixture) -> PathBuf {
    std::fs::canonicalize(f.bundle.join("rootfs")).unwrap()
}

/// The caller's (this test's) mounts at or below `dir`, as (mount point,
/// type).
fn mounts_below(dir: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            let fstype = right.split(' ').next()?;
            Path::new(point)
                .starts_with(dir)
                .then(|| (point.to_string(), fstype.to_string()))
        })
        .collect()
}

/// Host mounts made by a test, lazily unmounted, newest first, on drop.
#[derive(Default)]
struct HostMounts(Vec<PathBuf>);

impl HostMounts {
    fn mount(&mut self, args: &[&str], target: &Path) {
        let out = Command::new("mount")
            .args(args)
            .arg(target)
            .output()
            .unwrap();
        assert!(out.status.success(), "mount {args:?}: {}", stderr(&out));
        self.0.push(target.to_path_buf());
    }
}

impl Drop for HostMounts {
    fn drop(&mut self) {
        for m in self.0.iter().rev() {
            // The fixture may have unmounted it first.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(m)
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Inside, the container sees its rootfs as `/`, in the caller's mount
/// namespace, with the config's mounts, masked and read-only paths, and a
/// read-only root.
#[test]
fn the_container_is_chrooted_into_its_rootfs_with_its_mounts() {
    if runc_would_change_the_hosts_root() {
        return;
    }
    let mut f = Fixture::new("nomntns-inside");
    without_mount_namespace(&mut f);
    // Outside the rootfs, beside it: the container must not see it.
    std::fs::write(f.bundle.join("outside"), "host").unwrap();
    let r = probes(
        &mut f,
        &[
            &[],
            &["stat", "/outside", "/bin/probe", "/dev/null"],
            &["write", "/newfile", "x"],
            &["read", "/proc/timer_list"],
            &["write", "/proc/sys/kernel/domainname", "x"],
        ],
    );
    let report = &r[0];
    assert_eq!(report["namespaces"]["mnt"], host_ns("mnt"));
    assert_eq!(report["cwd"], "/");
    for (target, fstype) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
    ] {
        let m =
            mount_at(report, target).unwrap_or_else(|| panic!("no {target}: {}", report["mounts"]));
        assert_eq!(m["fstype"], fstype, "{target}");
    }
    // Only what is below the root shows in its mountinfo.
    assert!(
        mount_at(report, "/tmp").is_none() && mount_at(report, "/run").is_none(),
        "{}",
        report["mounts"]
    );
    assert_eq!(r[1]["/outside"], Value::Null, "{}", r[1]);
    assert_eq!(r[1]["/bin/probe"]["type"], "f", "{}", r[1]);
    let null = &r[1]["/dev/null"];
    assert_eq!(
        (&null["type"], &null["major"], &null["minor"]),
        (&json!("c"), &json!(1), &json!(3))
    );
    // runc 1.1 (and crun 1.8) leave the root writable without a mount
    // namespace, and runc refuses masked and read-only paths.
    if is_runc() {
        return;
    }
    assert_eq!(r[2], json!({"ok": false, "errno": EROFS}), "root.readonly");
    assert!(!rootfs(&f).join("newfile").exists());
    assert_eq!(r[3], json!({"ok": true, "content": ""}), "maskedPaths");
    assert_eq!(r[4], json!({"ok": false, "errno": EROFS}), "readonlyPaths");
}

/// The mounts are in the caller's namespace, below the rootfs, while the
/// container lives; delete unmounts every one, and leaves what was mounted
/// there before create (the rootfs's own mount, a mount inside it).
#[test]
fn delete_unmounts_what_create_mounted_in_the_callers_namespace_and_nothing_else() {
    if runc_would_change_the_hosts_root() {
        return;
    }
    let mut host = HostMounts::default();
    let mut before = Vec::new();
    let (f, pid) = running("nomntns-delete", |f| {
        without_mount_namespace(f);
        let root = rootfs(f);
        // As an engine leaves it: the rootfs a mount of its own (an
        // overlay), with a volume already mounted inside.
        let r = root.to_str().unwrap();
        host.mount(&["--bind", r], &root);
        std::fs::create_dir_all(root.join("vol")).unwrap();
        host.mount(&["-t", "tmpfs", "volume"], &root.join("vol"));
        before = mounts_below(&root);
    });
    let root = rootfs(&f);
    assert_eq!(before.len(), 2, "{before:?}");
    let during = mounts_below(&root);
    for (point, fstype) in [("proc", "proc"), ("dev", "tmpfs"), ("sys", "sysfs")] {
        let p = root.join(point).display().to_string();
        assert!(
            during.iter().any(|(m, t)| *m == p && t == fstype),
            "no {fstype} at {p} in the caller's namespace: {during:?}"
        );
    }
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
            .unwrap()
            .to_string_lossy(),
        host_ns("mnt")
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/root")).unwrap(),
        root,
        "init's root"
    );
    let out = f.rt(&["delete", "--force", &f.id]);
    assert!(out.status.success(), "delete: {}", stderr(&out));
    let after = mounts_below(&root);
    // runc 1.1 (and crun 1.8) leave every mount of the container there.
    if !is_runc() {
        assert_eq!(after, before, "what is left below the rootfs");
    }
    for b in &before {
        assert!(after.contains(b), "{b:?} was unmounted: {after:?}");
    }
}

/// exec lands in the container's root, not the caller's: the probe is only
/// in the rootfs.
#[test]
fn exec_enters_the_containers_root() {
    if runc_would_change_the_hosts_root() {
        return;
    }
    let (f, _pid) = running("nomntns-exec", without_mount_namespace);
    let out = f.rt(&["exec", "--cwd", "/etc", &f.id, "/bin/probe"]);
    // runc 1.1 (and crun 1.8) run the exec in the caller's root, where
    // there is no /bin/probe.
    if is_runc() {
        return;
    }
    assert!(out.status.success(), "exec: {}", stderr(&out));
    let r: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    assert_eq!(r["cwd"], "/etc");
    assert_eq!(r["namespaces"]["mnt"], host_ns("mnt"));
    assert!(mount_at(&r, "/proc").is_some(), "{}", r["mounts"]);
    let passwd = f.rt(&["exec", &f.id, "cat", "/etc/passwd"]);
    assert_eq!(
        stdout(&passwd),
        std::fs::read_to_string(rootfs(&f).join("etc/passwd")).unwrap()
    );
}

/// A create that fails after some of its mounts were made leaves none of
/// them (nor any state).
#[test]
fn a_failed_create_leaves_no_mount_in_the_callers_namespace() {
    if runc_would_change_the_hosts_root() {
        return;
    }
    let mut f = Fixture::new("nomntns-fail");
    without_mount_namespace(&mut f);
    let missing = f.dir.join("missing");
    f.config["mounts"].as_array_mut().unwrap().push(json!(
        {"destination": "/mnt", "type": "bind", "source": missing, "options": ["rbind"]}
    ));
    f.write_config();
    let o = f.rt(&["create", "--bundle", f.bundle.to_str().unwrap(), &f.id]);
    assert!(!o.status.success(), "create succeeded");
    // runc 1.1 (and crun 1.8) leave the mounts made before the failure.
    if is_runc() {
        return;
    }
    assert!(stderr(&o).contains("missing"), "{}", stderr(&o));
    f.assert_clean(&f.id);
}

/// `--no-pivot` cannot move the rootfs onto a `/` that is the caller's:
/// the container is chrooted as without it, and the caller's `/` stays.
#[test]
fn no_pivot_without_a_mount_namespace_is_a_chroot_too() {
    // runc 1.1 moves the rootfs onto the caller's `/` (and unmounts what
    // lies outside the rootfs): not run.
    if is_runc() {
        return;
    }
    let mut f = Fixture::new("nomntns-nopivot");
    without_mount_namespace(&mut f);
    f.write_config();
    let root_line = || -> String {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.split(' ').nth(4) == Some("/"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let before = root_line();
    let out = f.rt(&[
        "run",
        "--no-pivot",
        "--bundle",
        f.bundle.to_str().unwrap(),
        &f.id,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["namespaces"]["mnt"], host_ns("mnt"));
    assert!(mount_at(&r, "/proc").is_some(), "{}", r["mounts"]);
    assert_eq!(root_line(), before, "the caller's / changed");
    f.assert_clean(&f.id);
}

/// What would change the caller's mounts, or cannot be done in its
/// namespace, is refused and leaves nothing: rootfsPropagation, a user
/// namespace.
#[test]
fn what_needs_a_mount_namespace_is_refused_without_one() {
    if runc_would_change_the_hosts_root() {
        return;
    }
    // runc 1.1 applies rootfsPropagation to the caller's `/`: not run.
    if !is_runc() {
        let mut f = Fixture::new("nomntns-prop");
        without_mount_namespace(&mut f);
        f.config["linux"]["rootfsPropagation"] = json!("private");
        f.write_config();
        let err = f.create_fails(&f.id);
        assert!(err.contains("linux.rootfsPropagation"), "{err}");
    }
    let mut f = Fixture::new("nomntns-user");
    without_mount_namespace(&mut f);
    let linux = &mut f.config["linux"];
    linux["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    f.write_config();
    // runc 1.1 and crun 1.8 fail on their first mount (EPERM); berth says why.
    let err = f.create_fails(&f.id);
    if !is_runc() {
        assert!(
            err.contains("user namespace needs a mount namespace"),
            "{err}"
        );
    }
}

/// A masked or read-only path that leads through a magic link in the image
/// (/proc/PID/root of a host process, seen without a pid namespace) would
/// put the mount on a host file, in the host's namespace: it is refused,
/// and the host file stays as it is.
#[test]
fn masked_paths_through_a_magic_link_never_reach_a_host_file() {
    if runc_would_change_the_hosts_root() {
        return;
    }
    let mut f = Fixture::new("nomntns-magic");
    without_mount_namespace(&mut f);
    let linux = &mut f.config["linux"];
    let ns: Vec<Value> = linux["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != "pid")
        .cloned()
        .collect();
    linux["namespaces"] = json!(ns);
    let secret = f.dir.join("secret");
    std::fs::write(&secret, "host").unwrap();
    let host_dir = f.dir.strip_prefix("/").unwrap().display().to_string();
    // This test's own root: a process the runtime may look into.
    std::os::unix::fs::symlink(
        format!("/proc/{}/root/{host_dir}", std::process::id()),
        f.bundle.join("rootfs/evil"),
    )
    .unwrap();
    for field in ["maskedPaths", "readonlyPaths"] {
        f.config["linux"][field] = json!(["/evil/secret"]);
    }
    f.args(&["sleep", "1000"]);
    let out = f.create(&[]);
    let masked = mounts_below(&f.dir)
        .iter()
        .any(|(m, _)| Path::new(m) == secret);
    assert!(!masked, "the host's file was mounted over");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "host");
    // runc 1.1 refuses masked paths without a mount namespace anyway.
    if !is_runc() {
        assert!(!out.status.success(), "create succeeded");
        assert!(
            f.container_output().contains("evil/secret"),
            "{}",
            f.container_output()
        );
        f.assert_clean(&f.id);
    }
}

/// A mount destination through a symlink of the image that points at a
/// host path lands inside the rootfs: in the caller's namespace, a mount
/// there would be on the host's directory.
#[test]
fn a_symlinked_destination_stays_inside_the_rootfs() {
    if runc_would_change_the_hosts_root() {
        return;
    }
    let mut f = Fixture::new("nomntns-link");
    without_mount_namespace(&mut f);
    let hostside = f.dir.join("hostside");
    std::fs::create_dir_all(&hostside).unwrap();
    std::os::unix::fs::symlink(&hostside, f.bundle.join("rootfs/escape")).unwrap();
    f.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/escape/sub", "type": "tmpfs", "source": "tmpfs"}));
    f.args(&["sleep", "1000"]);
    let out = f.create(&[]);
    assert!(out.status.success(), "create: {}", f.container_output());
    assert!(!hostside.join("sub").exists(), "made on the host");
    let mounted = mounts_below(&f.dir);
    assert!(
        !mounted
            .iter()
            .any(|(m, _)| Path::new(m).starts_with(&hostside)),
        "mounted on the host: {mounted:?}"
    );
    let inside = rootfs(&f)
        .join(hostside.strip_prefix("/").unwrap())
        .join("sub");
    let at = inside.display().to_string();
    assert!(
        mounted.iter().any(|(m, t)| *m == at && t == "tmpfs"),
        "no tmpfs at {at}: {mounted:?}"
    );
}

/// A second container of the same bundle, deleted (forced) on drop.
struct Second<'a> {
    f: &'a Fixture,
    id: String,
}

impl Drop for Second<'_> {
    fn drop(&mut self) {
        let _ = self.f.rt(&["delete", "--force", &self.id]);
    }
}

/// Two containers on one rootfs: the second's bind sits on the first's, so
/// deleting the first takes the second's mounts too, and the second's
/// delete has nothing left to unmount. In either order both deletes
/// succeed, and nothing stays.
#[test]
fn two_containers_on_one_rootfs_are_both_deleted() {
    if runc_would_change_the_hosts_root() {
        return;
    }
    for first_goes_first in [true, false] {
        let (f, _pid) = running("nomntns-two", without_mount_namespace);
        let second = Second {
            f: &f,
            id: format!("{}-2", f.id),
        };
        let bundle = f.bundle.to_str().unwrap();
        let o = f.rt(&["create", "--bundle", bundle, &second.id]);
        assert!(o.status.success(), "create: {}", stderr(&o));
        let o = f.rt(&["start", &second.id]);
        assert!(o.status.success(), "start: {}", stderr(&o));
        let mut order = [f.id.as_str(), second.id.as_str()];
        if !first_goes_first {
            order.reverse();
        }
        for id in order {
            let o = f.rt(&["delete", "--force", id]);
            assert!(o.status.success(), "delete {id}: {}", stderr(&o));
        }
        // runc 1.1 leaves every mount.
        if !is_runc() {
            assert_eq!(mounts_below(&f.dir), vec![], "left mounted");
        }
    }
}
