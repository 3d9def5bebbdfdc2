//! The container's filesystem: masked and read-only paths, device nodes,
//! symlink-safe mount destinations, mount propagation, recursive mount
//! options, idmapped mounts, and bad mount input.

use std::path::{Path, PathBuf};
use std::process::Command;

use conformance::{is_runc, mount_at, probes, stderr, stdout, Fixture};
use serde_json::{json, Value};

/// EROFS: the errno of a write to a read-only mount.
const EROFS: i64 = 30;

fn add_mount(f: &mut Fixture, m: Value) {
    f.config["mounts"].as_array_mut().unwrap().push(m);
}

fn rootfs(f: &Fixture) -> PathBuf {
    f.bundle.join("rootfs")
}

/// The host's mount points (as the test process sees them).
fn host_mount_points() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

fn host_has_mount(path: &Path) -> bool {
    host_mount_points().iter().any(|m| Path::new(m) == path)
}

/// Host mounts made by a test; lazily unmounted, newest first, on drop
/// (so also when the test fails).
#[derive(Default)]
struct HostMounts(Vec<PathBuf>);

impl HostMounts {
    /// `mount ARGS… TARGET` on the host.
    fn mount_at(&mut self, args: &[&str], target: &Path) {
        let out = Command::new("mount")
            .args(args)
            .arg(target)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount {args:?} {}: {}",
            target.display(),
            stderr(&out)
        );
        self.0.push(target.to_path_buf());
    }

    /// A bind mount of `dir` onto itself with the given propagation.
    fn bind_self(&mut self, dir: &Path, propagation: &str) {
        self.mount_at(&["--bind", dir.to_str().unwrap()], dir);
        let out = Command::new("mount")
            .arg(format!("--make-{propagation}"))
            .arg(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }

    fn tmpfs(&mut self, target: &Path) {
        self.mount_at(&["-t", "tmpfs", "tmpfs"], target);
    }
}

impl Drop for HostMounts {
    fn drop(&mut self) {
        for m in self.0.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
    }
}

fn mkdir(p: &Path) -> &Path {
    std::fs::create_dir_all(p).unwrap();
    p
}

/// A masked file reads empty and writes to it do not reach the file.
#[test]
fn masked_files_read_empty() {
    let mut f = Fixture::new("maskfile");
    f.config["root"]["readonly"] = json!(false);
    std::fs::write(rootfs(&f).join("etc/secret"), "top secret").unwrap();
    let masked = f.config["linux"]["maskedPaths"].as_array_mut().unwrap();
    masked.push(json!("/etc/secret"));
    // A masked path that does not exist is skipped, as runc does.
    masked.push(json!("/does/not/exist"));
    let r = probes(
        &mut f,
        &[
            &["read", "/etc/secret"],
            &["read", "/proc/timer_list"],
            &["write", "/etc/secret", "overwritten"],
        ],
    );
    assert_eq!(r[0], json!({"ok": true, "content": ""}));
    assert_eq!(r[1], json!({"ok": true, "content": ""}));
    let secret = std::fs::read_to_string(rootfs(&f).join("etc/secret")).unwrap();
    assert_eq!(secret, "top secret", "write through the mask: {}", r[2]);
}

/// A masked directory looks empty and cannot be written.
#[test]
fn masked_directories_are_empty_and_read_only() {
    let mut f = Fixture::new("maskdir");
    f.config["root"]["readonly"] = json!(false);
    let dir = mkdir(&rootfs(&f).join("secretdir")).to_path_buf();
    std::fs::write(dir.join("file"), "hidden").unwrap();
    f.config["linux"]["maskedPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/secretdir"));
    let r = probes(
        &mut f,
        &[
            &["stat", "/secretdir", "/secretdir/file"],
            &["write", "/secretdir/new", "x"],
            &["write", "/unmasked", "x"],
        ],
    );
    assert_eq!(r[0]["/secretdir"]["type"], "d", "{}", r[0]);
    assert_eq!(r[0]["/secretdir/file"], Value::Null, "{}", r[0]);
    assert_eq!(r[1], json!({"ok": false, "errno": EROFS}));
    // The root itself is writable: the EROFS comes from the mask.
    assert_eq!(r[2], json!({"ok": true}));
    assert!(!dir.join("new").exists());
    assert_eq!(std::fs::read_to_string(dir.join("file")).unwrap(), "hidden");
}

/// `tmpcopyup` (runc's and crun's extension, podman's `--read-only`): the
/// tmpfs starts with the image's files, owners and modes, and takes writes
/// that never reach the image.
#[test]
fn tmpcopyup_fills_a_tmpfs_with_what_it_hides() {
    let mut f = Fixture::new("copyup");
    let dir = mkdir(&rootfs(&f).join("seeded")).to_path_buf();
    mkdir(&dir.join("sub"));
    std::fs::write(dir.join("sub/file"), "from the image").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", dir.join("link")).unwrap();
    add_mount(
        &mut f,
        json!({"destination": "/seeded", "type": "tmpfs", "source": "tmpfs",
               "options": ["tmpcopyup", "nosuid", "mode=755"]}),
    );
    let r = probes(
        &mut f,
        &[
            &["read", "/seeded/sub/file"],
            &["stat", "/seeded/link"],
            &["write", "/seeded/sub/new", "x"],
        ],
    );
    assert_eq!(r[0], json!({"ok": true, "content": "from the image"}));
    assert_eq!(r[1]["/seeded/link"]["type"], "l", "{}", r[1]);
    assert_eq!(r[2], json!({"ok": true}), "the tmpfs is writable");
    assert!(!dir.join("sub/new").exists(), "a write reached the image");
}

/// readonlyPaths stay readable but writes to them fail with EROFS.
#[test]
fn readonly_paths_can_be_read_but_not_written() {
    let mut f = Fixture::new("ropaths");
    f.config["root"]["readonly"] = json!(false);
    let dir = mkdir(&rootfs(&f).join("rodir")).to_path_buf();
    std::fs::write(dir.join("file"), "hello").unwrap();
    let ro = f.config["linux"]["readonlyPaths"].as_array_mut().unwrap();
    ro.push(json!("/rodir"));
    // A read-only path that does not exist is skipped, as runc does.
    ro.push(json!("/does/not/exist"));
    let r = probes(
        &mut f,
        &[
            &["read", "/rodir/file"],
            &["write", "/rodir/file", "changed"],
            &["write", "/rodir/new", "x"],
            &["read", "/proc/sys/kernel/hostname"],
            &["write", "/proc/sys/kernel/hostname", "changed"],
            &["write", "/writable", "x"],
        ],
    );
    assert_eq!(r[0], json!({"ok": true, "content": "hello"}));
    assert_eq!(r[1], json!({"ok": false, "errno": EROFS}));
    assert_eq!(r[2], json!({"ok": false, "errno": EROFS}));
    assert_eq!(r[3], json!({"ok": true, "content": "conformance\n"}));
    assert_eq!(r[4], json!({"ok": false, "errno": EROFS}));
    assert_eq!(r[5], json!({"ok": true}));
    assert_eq!(std::fs::read_to_string(dir.join("file")).unwrap(), "hello");
}

/// linux.devices are created with their type, numbers, mode and owner.
#[test]
fn devices_are_created_with_mode_and_owner() {
    let mut f = Fixture::new("devices");
    f.config["linux"]["devices"] = json!([
        {"path": "/dev/mydev", "type": "c", "major": 1, "minor": 3},
        {"path": "/dev/myblk", "type": "b", "major": 7, "minor": 0, "fileMode": 0o640, "uid": 5, "gid": 6},
        {"path": "/dev/sub/fifo", "type": "p"}
    ]);
    let r = probes(
        &mut f,
        &[&[
            "stat",
            "/dev/mydev",
            "/dev/myblk",
            "/dev/sub",
            "/dev/sub/fifo",
        ]],
    );
    let st = &r[0];
    assert_eq!(
        st["/dev/mydev"],
        json!({"type": "c", "major": 1, "minor": 3, "mode": 0o666, "uid": 0, "gid": 0}),
        "{st}"
    );
    assert_eq!(
        st["/dev/myblk"],
        json!({"type": "b", "major": 7, "minor": 0, "mode": 0o640, "uid": 5, "gid": 6}),
        "{st}"
    );
    assert_eq!(st["/dev/sub"]["type"], "d", "{st}");
    assert_eq!(st["/dev/sub/fifo"]["type"], "p", "{st}");
    assert_eq!(st["/dev/sub/fifo"]["mode"], 0o666, "{st}");
    assert_eq!(st["/dev/sub/fifo"]["uid"], 0, "{st}");
}

/// Mounts whose destination passes through the symlink at `link` (made by
/// `target` from the host directory it must not reach) land in the rootfs.
fn assert_symlinked_destination_stays_inside(name: &str, link: &str, target: fn(&Path) -> String) {
    let mut f = Fixture::new(name);
    let hostside = mkdir(&f.dir.join("hostside")).to_path_buf();
    let link_path = rootfs(&f).join(link.trim_start_matches('/'));
    std::os::unix::fs::symlink(target(&hostside), &link_path).unwrap();
    add_mount(
        &mut f,
        json!({"destination": format!("{link}/sub"), "type": "tmpfs", "source": "tmpfs"}),
    );
    f.args(&["/bin/probe"]);
    let out = f.run();
    // Whatever the outcome, nothing happened on the host.
    assert!(
        !hostside.join("sub").exists(),
        "the mount point was created on the host"
    );
    assert!(!host_has_mount(&hostside.join("sub")));
    assert!(!host_has_mount(&hostside));
    // Like runc, the runtime resolves the symlink inside the rootfs, makes
    // the missing directories there and mounts the tmpfs on them.
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let inside = format!("{}/sub", hostside.display());
    let m =
        mount_at(&r, &inside).unwrap_or_else(|| panic!("no mount at {inside}: {}", r["mounts"]));
    assert_eq!(m["fstype"], "tmpfs");
    let in_rootfs = rootfs(&f)
        .join(hostside.strip_prefix("/").unwrap())
        .join("sub");
    assert!(in_rootfs.is_dir(), "{} missing", in_rootfs.display());
}

/// An absolute symlink in a mount destination resolves inside the rootfs.
#[test]
fn absolute_symlinks_in_mount_destinations_do_not_escape() {
    assert_symlinked_destination_stays_inside("escabs", "/escape", |host| {
        host.display().to_string()
    });
}

/// A relative symlink climbing past / in a mount destination stays inside.
#[test]
fn relative_symlinks_in_mount_destinations_do_not_escape() {
    // From the bundle's rootfs/etc, ten ".." reach the host's / (the
    // fixture lives a few levels below it), and then the host directory.
    assert_symlinked_destination_stays_inside("escrel", "/etc/up", |host| {
        format!(
            "{}{}",
            "../".repeat(10),
            host.strip_prefix("/").unwrap().display()
        )
    });
}

/// A mount whose destination is the rootfs itself (here a link in the
/// image that resolves to `/`) covers the root: the mounts after it,
/// berth's default ones included, land on what it mounted, not on the
/// rootfs below it (berth keeps the rootfs open from one mount to the next
/// and must reopen it after such a mount).
#[test]
fn mounts_after_one_on_the_root_itself_land_on_it() {
    // runc 1.1 fails the mount itself: it reopens the destination by its
    // path after mounting ("open o_path procfd: .../rootfs/up: no such
    // file or directory"), which the mount has hidden.
    if is_runc() {
        return;
    }
    let mut f = Fixture::new("onroot");
    let newroot = f.dir.join("newroot");
    let cp = Command::new("cp")
        .arg("-a")
        .arg(rootfs(&f))
        .arg(&newroot)
        .output()
        .unwrap();
    assert!(cp.status.success(), "cp: {}", stderr(&cp));
    std::fs::write(newroot.join("marker"), "").unwrap();
    std::os::unix::fs::symlink("/", rootfs(&f).join("up")).unwrap();
    let mounts = f.config["mounts"].as_array_mut().unwrap();
    mounts.insert(
        0,
        json!({"destination": "/up", "type": "bind", "source": newroot, "options": ["rbind"]}),
    );
    mounts.insert(
        1,
        json!({"destination": "/after", "type": "tmpfs", "source": "tmpfs"}),
    );
    f.args(&["sh", "-c", "test -e /marker && exec /bin/probe"]);
    let out = f.run();
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (at, fstype) in [("/after", "tmpfs"), ("/proc", "proc"), ("/dev", "tmpfs")] {
        let m = mount_at(&r, at).unwrap_or_else(|| panic!("no mount at {at}: {}", r["mounts"]));
        assert_eq!(m["fstype"], fstype, "{at}");
    }
    assert!(
        !rootfs(&f).join("after").exists(),
        "/after was made in the rootfs under the mount"
    );
}

/// Creates the container, runs `between` on the host, starts it and returns
/// the report `/bin/probe` wrote to the container's stdout.
fn report_after_start(f: &mut Fixture, between: impl FnOnce()) -> Value {
    f.args(&["/bin/probe"]);
    let out = f.create(&[]);
    assert!(out.status.success(), "create: {}", f.container_output());
    between();
    let out = f.rt(&["start", &f.id]);
    assert!(out.status.success(), "start: {}", stderr(&out));
    assert!(f.wait_status("stopped"), "status {}", f.status());
    let text = f.container_output();
    let line = text
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no report in {text:?}"));
    serde_json::from_str(line).unwrap()
}

/// Whether a tmpfs the host mounts below a shared bind source after create
/// shows up in the container, whose bind mount of it has `propagation`.
fn late_host_mount_is_seen(name: &str, propagation: &str) -> bool {
    let mut f = Fixture::new(name);
    let mut host = HostMounts::default();
    let src = mkdir(&f.dir.join("shared_src")).to_path_buf();
    host.bind_self(&src, "shared");
    let late = mkdir(&src.join("late")).to_path_buf();
    add_mount(
        &mut f,
        json!({"destination": "/mnt", "type": "bind", "source": src, "options": ["rbind", propagation]}),
    );
    let r = report_after_start(&mut f, || host.tmpfs(&late));
    assert!(mount_at(&r, "/mnt").is_some(), "no /mnt: {}", r["mounts"]);
    mount_at(&r, "/mnt/late").is_some_and(|m| m["fstype"] == "tmpfs")
}

/// An rslave bind receives mounts the host makes below its source later.
#[test]
fn rslave_binds_receive_later_host_mounts() {
    assert!(late_host_mount_is_seen("rslave", "rslave"));
}

/// An rprivate bind does not receive mounts the host makes later.
#[test]
fn rprivate_binds_do_not_receive_later_host_mounts() {
    assert!(!late_host_mount_is_seen("rprivate", "rprivate"));
}

/// Whether a tmpfs the container mounts on its bind of a host directory
/// appears on the host, given linux.rootfsPropagation and whether the host
/// directory is a shared mount.
fn container_mount_reaches_host(name: &str, propagation: &str, shared_source: bool) -> bool {
    let mut f = Fixture::new(name);
    let mut host = HostMounts::default();
    let src = mkdir(&f.dir.join("hostbind")).to_path_buf();
    if shared_source {
        host.bind_self(&src, "shared");
    }
    f.config["linux"]["rootfsPropagation"] = json!(propagation);
    add_mount(
        &mut f,
        json!({"destination": "/mnt", "type": "bind", "source": src, "options": ["rbind"]}),
    );
    add_mount(
        &mut f,
        json!({"destination": "/mnt/inner", "type": "tmpfs", "source": "tmpfs"}),
    );
    let r = f.probe_report();
    let inner =
        mount_at(&r, "/mnt/inner").unwrap_or_else(|| panic!("no /mnt/inner: {}", r["mounts"]));
    assert_eq!(inner["fstype"], "tmpfs");
    host_has_mount(&src.join("inner"))
}

/// With rootfsPropagation private the container runs and its mounts stay
/// its own.
#[test]
fn private_rootfs_propagation_keeps_container_mounts_off_the_host() {
    // The source is a plain directory: "private" (unlike "rprivate") only
    // changes the namespace's / mount, so runc leaves a shared host mount
    // below it shared, and a bind of that would propagate back.
    assert!(!container_mount_reaches_host(
        "rootprivate",
        "private",
        false
    ));
}

/// With rootfsPropagation rprivate even binds of shared host mounts keep
/// the container's mounts off the host.
#[test]
fn rprivate_rootfs_propagation_keeps_mounts_on_shared_binds_off_the_host() {
    assert!(!container_mount_reaches_host(
        "rootrprivate",
        "rprivate",
        true
    ));
}

/// With rootfsPropagation shared the container's mounts on a bind of a
/// shared host mount reach the host (the control for the cases above: the
/// host-side check does see a leak).
#[test]
fn shared_rootfs_propagation_lets_container_mounts_reach_the_host() {
    assert!(container_mount_reaches_host("rootshared", "shared", true));
}

/// Outcomes of writing /mnt/file and /mnt/sub/file, where /mnt is a bind
/// with `options` of a host directory whose sub is a tmpfs on the host.
fn writes_below_bind(name: &str, options: &[&str]) -> (Value, Value) {
    let mut f = Fixture::new(name);
    let mut host = HostMounts::default();
    let src = mkdir(&f.dir.join("rosrc")).to_path_buf();
    let sub = mkdir(&src.join("sub")).to_path_buf();
    host.tmpfs(&sub);
    add_mount(
        &mut f,
        json!({"destination": "/mnt", "type": "bind", "source": src, "options": options}),
    );
    let r = probes(
        &mut f,
        &[
            &["write", "/mnt/file", "x"],
            &["write", "/mnt/sub/file", "x"],
        ],
    );
    (r[0].clone(), r[1].clone())
}

/// rro makes a recursive bind read-only all the way down.
#[test]
fn rro_makes_submounts_read_only_too() {
    let (top, sub) = writes_below_bind("rro", &["rbind", "rro"]);
    assert_eq!(top, json!({"ok": false, "errno": EROFS}));
    assert_eq!(sub, json!({"ok": false, "errno": EROFS}));
}

/// Plain ro on an rbind leaves its submounts writable (unlike rro).
#[test]
fn ro_leaves_submounts_of_an_rbind_writable() {
    let (top, sub) = writes_below_bind("ro", &["rbind", "ro"]);
    assert_eq!(top, json!({"ok": false, "errno": EROFS}));
    assert_eq!(sub, json!({"ok": true}));
}

/// A bind mount's uidMappings/gidMappings idmap the files seen through it.
#[test]
fn idmapped_binds_show_mapped_owners() {
    // runc 1.1 has no idmapped mounts (they came with runc 1.2).
    if is_runc() {
        return;
    }
    let mut f = Fixture::new("idmap");
    let src = mkdir(&f.dir.join("idsrc")).to_path_buf();
    std::fs::write(src.join("file"), "x").unwrap();
    std::os::unix::fs::chown(src.join("file"), Some(0), Some(0)).unwrap();
    // As in runc 1.2: an id stored on disk is read as containerID and
    // shown as hostID.
    let map = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
    add_mount(
        &mut f,
        json!({"destination": "/mnt", "type": "bind", "source": src, "options": ["rbind"],
               "uidMappings": map, "gidMappings": map}),
    );
    let r = probes(&mut f, &[&["stat", "/mnt/file"]]);
    let st = &r[0]["/mnt/file"];
    assert_eq!(
        (&st["uid"], &st["gid"]),
        (&json!(1000), &json!(1000)),
        "{st}"
    );
}

/// A failed run leaves no state under --root and no mount on the host.
fn assert_run_fails_cleanly(f: &Fixture) {
    let out = f.run();
    assert!(!out.status.success(), "run succeeded: {}", stdout(&out));
    assert!(!stderr(&out).trim().is_empty(), "no error message");
    f.assert_clean(&f.id);
    assert_eq!(f.status(), "");
}

/// Nothing but a proc filesystem on /proc, and inside /proc only the
/// files lxcfs replaces, as runc (CVE-2019-16884: a mount over
/// /proc/self/attr defeats the LSM label), also through a symbolic link
/// in the image that leads into /proc.
#[test]
fn mounts_on_or_inside_proc_are_refused() {
    for (name, dest) in [
        ("procover", "/proc"),
        ("procattr", "/proc/self/attr/current"),
        ("procver", "/proc/version"),
        ("proclink", "/evil/current"),
    ] {
        let mut f = Fixture::new(name);
        f.config["root"]["readonly"] = json!(false);
        std::os::unix::fs::symlink("/proc/self/attr", rootfs(&f).join("evil")).unwrap();
        let src = f.bundle.join("src");
        std::fs::write(&src, "x").unwrap();
        add_mount(
            &mut f,
            json!({"destination": dest, "type": "bind", "source": src, "options": ["bind"]}),
        );
        let out = f.run();
        assert!(!out.status.success(), "{dest}: the mount was made");
        assert!(
            stderr(&out).contains("/proc") || stderr(&out).contains(dest),
            "{dest}: {}",
            stderr(&out)
        );
        f.assert_clean(&f.id);
    }
    // The files lxcfs replaces may be mounted over.
    let mut f = Fixture::new("proclxcfs");
    let src = f.bundle.join("uptime");
    std::fs::write(&src, "1.00 2.00\n").unwrap();
    add_mount(
        &mut f,
        json!({"destination": "/proc/uptime", "type": "bind", "source": src, "options": ["bind"]}),
    );
    let r = probes(&mut f, &[&["read", "/proc/uptime"]]);
    assert_eq!(r[0], json!({"ok": true, "content": "1.00 2.00\n"}));
}

/// A mount with an unknown option fails the run and leaves nothing behind.
#[test]
fn an_unknown_mount_option_fails_cleanly() {
    // Not "tmpcopyup": runc 1.1 implements it (copies the directory's
    // contents into the tmpfs).
    let mut f = Fixture::new("badopt");
    add_mount(
        &mut f,
        json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["nosuchoption"]}),
    );
    assert_run_fails_cleanly(&f);
}

/// A device of type "a" (a cgroup rule type, not a node) fails cleanly.
#[test]
fn a_device_of_type_a_fails_cleanly() {
    let mut f = Fixture::new("baddev");
    f.config["linux"]["devices"] =
        json!([{"path": "/dev/all", "type": "a", "major": 1, "minor": 3}]);
    assert_run_fails_cleanly(&f);
}

/// The propagation of the mount at `target` in a mountinfo text (the last
/// one there): its optional fields, "" for a private mount.
fn propagation_at(mountinfo: &str, target: &str) -> Option<String> {
    mountinfo.lines().rev().find_map(|l| {
        let (left, _) = l.split_once(" - ")?;
        let f: Vec<&str> = left.split(' ').collect();
        (f.get(4) == Some(&target)).then(|| f[6..].join(" "))
    })
}

/// The propagation of the container's `/`, for linux.rootfsPropagation
/// `mode`, with the bundle on a shared mount of the host (so that a slave
/// has a master); also that the rootfs's own bind never reached the host.
fn root_propagation(name: &str, mode: &str) -> String {
    let mut f = Fixture::new(name);
    let mut host = HostMounts::default();
    host.bind_self(&f.bundle, "shared");
    f.config["linux"]["rootfsPropagation"] = json!(mode);
    let r = probes(&mut f, &[&["read", "/proc/self/mountinfo"]]);
    let leaked: Vec<String> = host_mount_points()
        .into_iter()
        .filter(|m| Path::new(m).starts_with(rootfs(&f)))
        .collect();
    assert!(leaked.is_empty(), "{mode}: on the host: {leaked:?}");
    let text = r[0]["content"].as_str().unwrap_or_default();
    propagation_at(text, "/").unwrap_or_else(|| panic!("{mode}: no / in {text}"))
}

/// linux.rootfsPropagation is the propagation of the container's `/`
/// (config-linux.md): shared, a peer group of its own; slave, the host's
/// mounts below the rootfs come in; private; unbindable, private and
/// never bound. The `r` forms the same.
#[test]
fn rootfs_propagation_is_the_propagation_of_the_containers_root() {
    for (mode, want) in [
        ("shared", "shared:"),
        ("rshared", "shared:"),
        ("slave", "master:"),
        ("rslave", "master:"),
        ("private", ""),
        ("rprivate", ""),
        ("unbindable", "unbindable"),
        ("runbindable", "unbindable"),
    ] {
        // runc 1.1 leaves / private for shared, slave and unbindable (it
        // binds the rootfs from a parent made private and never sets them
        // on the new root), and fails runbindable (the rootfs cannot be
        // bound once everything is unbindable).
        if is_runc() && !matches!(mode, "rslave" | "private" | "rprivate") {
            continue;
        }
        let got = root_propagation(&format!("rootprop-{mode}"), mode);
        let ok = match want {
            "" => got.is_empty(),
            "master:" => got.starts_with(want) && !got.contains("shared:"),
            _ => got.starts_with(want),
        };
        assert!(ok, "{mode}: / has {got:?}, wanted {want:?}");
    }
}

/// A slave root receives what the host mounts below the rootfs after
/// create; a private one does not.
#[test]
fn a_slave_root_receives_later_host_mounts_below_the_rootfs() {
    for (mode, seen) in [("slave", true), ("rslave", true), ("private", false)] {
        // runc 1.1: a slave root is private (see above).
        if is_runc() && mode == "slave" {
            continue;
        }
        let mut f = Fixture::new(&format!("rootslave-{mode}"));
        let mut host = HostMounts::default();
        host.bind_self(&f.bundle, "shared");
        let late = mkdir(&rootfs(&f).join("late")).to_path_buf();
        f.config["linux"]["rootfsPropagation"] = json!(mode);
        let r = report_after_start(&mut f, || host.tmpfs(&late));
        let got = mount_at(&r, "/late").is_some_and(|m| m["fstype"] == "tmpfs");
        assert_eq!(got, seen, "{mode}: {}", r["mounts"]);
    }
}

/// `--no-pivot` moves the rootfs onto the namespace's `/`: with a shared
/// rootfsPropagation that `/` may be the peer of the caller's, and the move
/// must not reach it. The runtime runs in a mount namespace of the test's
/// own whose `/` is shared, with the bundle on a shared mount of its own.
#[test]
fn no_pivot_with_a_shared_root_moves_nothing_onto_the_callers_root() {
    // runc 1.1 does move the rootfs onto the caller's `/`, and unmounts
    // the caller's /proc and /sys as it goes.
    if is_runc() {
        return;
    }
    let mut f = Fixture::new("nopivotshared");
    f.config["linux"]["rootfsPropagation"] = json!("shared");
    f.args(&["true"]);
    f.write_config();
    let script = format!(
        "mount --make-rshared / && mount --bind {b} {b} && mount --make-shared {b} && \
         cut -d' ' -f1 /proc/self/mountinfo | sort > {before} && \
         {rt} --root {root} run --no-pivot --bundle {b} {id} > {out} 2>&1; echo $?; \
         cut -d' ' -f1 /proc/self/mountinfo | sort | comm -13 {before} - | wc -l",
        b = f.bundle.display(),
        rt = conformance::runtime().display(),
        root = f.root.display(),
        id = f.id,
        out = f.dir.join("run.out").display(),
        before = f.dir.join("mounts.before").display(),
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let text = stdout(&out);
    let run = std::fs::read_to_string(f.dir.join("run.out")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.first(), Some(&"0"), "run: {run}{}", stderr(&out));
    assert_eq!(
        lines.get(1),
        Some(&"0"),
        "mounts added to the caller's namespace (counted by mount id, so that \
         a mount another test removes meanwhile does not count)"
    );
}
