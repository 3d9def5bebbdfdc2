//! containerd 2.x's idmapped rootfs: for a pod in its own user namespace
//! its overlay snapshotter adds `uidmap=`/`gidmap=` options to the
//! rootfs mounts (`container-id:host-id:size` entries joined by commas,
//! the pod's mappings). mount(2) knows neither, so they are taken out and
//! carried out with the new mount API:
//!
//! - an overlay gets idmapped lower layers: each lowerdir is cloned
//!   (open_tree), given MOUNT_ATTR_IDMAP and MOUNT_ATTR_RDONLY, and named
//!   to overlayfs by its /proc/self/fd path while still detached, so no
//!   layer ever shows in the shim's mount table; overlayfs keeps private
//!   clones, and closing the descriptors afterwards drops ours. The upper
//!   and work directories stay as they are: the snapshotter has chowned
//!   them to the pod's root, and what the container writes there lands
//!   with its real (host) ids. Kernels before 6.15 refuse detached layers
//!   (EINVAL): they are then attached under a private directory beside
//!   the target for the one mount(2) call and taken off right after;
//! - any other mount (a single-layer snapshot's bind) is mounted as usual
//!   and then replaced by an idmapped clone of itself.
//!
//! The user namespace holding the maps is made by a short-lived child
//! (CLONE_NEWUSER) whose uid_map and gid_map the shim writes; only its ns
//! descriptor is kept, for mount_setattr(2), and each idmapped mount
//! holds its own reference to the namespace afterwards.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{umount2, MntFlags, MsFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::{pipe2, Pid};

use super::Mount;

/// One `container-id:host-id:size` entry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Maps {
    pub uid: Vec<IdRange>,
    pub gid: Vec<IdRange>,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn parse_range(s: &str) -> io::Result<IdRange> {
    let bad = || invalid(format!("id mapping {s:?} is not container-id:host-id:size"));
    let mut parts = s.split(':');
    let mut next =
        || -> io::Result<u32> { parts.next().ok_or_else(bad)?.parse().map_err(|_| bad()) };
    let r = IdRange {
        container: next()?,
        host: next()?,
        size: next()?,
    };
    if parts.next().is_some() {
        return Err(bad());
    }
    // The kernel refuses both, with a bare EINVAL.
    let last = |start: u32| start.checked_add(r.size - 1);
    if r.size == 0 || last(r.container).is_none() || last(r.host).is_none() {
        return Err(invalid(format!(
            "id mapping {s:?} is empty or runs past the last id"
        )));
    }
    Ok(r)
}

fn parse_list(s: &str) -> io::Result<Vec<IdRange>> {
    s.split(',').map(parse_range).collect()
}

/// Takes `uidmap=` and `gidmap=` out of `options`: the maps, if any, and
/// the options left for mount(2).
pub fn take_maps(options: &[String]) -> io::Result<(Option<Maps>, Vec<String>)> {
    let (mut uid, mut gid, mut rest) = (None, None, Vec::new());
    for o in options {
        if let Some(v) = o.strip_prefix("uidmap=") {
            uid = Some(parse_list(v)?);
        } else if let Some(v) = o.strip_prefix("gidmap=") {
            gid = Some(parse_list(v)?);
        } else {
            rest.push(o.clone());
        }
    }
    match (uid, gid) {
        (None, None) => Ok((None, rest)),
        (Some(uid), Some(gid)) => Ok((Some(Maps { uid, gid }), rest)),
        // containerd's own mount code skips the mapping then; mounting
        // the layers with their on-disk owners would hand the container
        // a root filesystem it does not own, so say so instead.
        _ => Err(invalid(
            "an idmapped mount needs both uidmap= and gidmap=".to_string(),
        )),
    }
}

fn map_lines(ranges: &[IdRange]) -> String {
    ranges
        .iter()
        .map(|r| format!("{} {} {}\n", r.container, r.host, r.size))
        .collect()
}

/// A child sitting in a new user namespace until it is dropped: killed
/// and reaped then, so no path leaves it behind. Its exit signal is none
/// rather than SIGCHLD, which keeps it out of the reaper's waitpid(-1)
/// (that only sees SIGCHLD children without __WCLONE), so only this
/// struct collects it.
struct Holder {
    pid: Pid,
    /// Closed when the shim dies before the drop, which ends the child.
    _release: OwnedFd,
}

impl Holder {
    fn spawn() -> io::Result<Self> {
        let (release_r, release_w) = pipe2(OFlag::O_CLOEXEC)?;
        let (r, w) = (release_r.as_raw_fd(), release_w.as_raw_fd());
        // SAFETY: a fork-like clone (no CLONE_VM, no new stack). The shim
        // has other threads, so the child makes only raw system calls
        // (close, read, _exit), which are async-signal-safe, and never
        // returns into Rust code.
        let pid = unsafe {
            libc::syscall(
                libc::SYS_clone,
                libc::CLONE_NEWUSER as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
        if pid == 0 {
            // SAFETY: see above; the fds are this process's copies.
            unsafe {
                libc::close(w);
                let mut byte = 0u8;
                while libc::read(r, (&mut byte as *mut u8).cast(), 1) < 0
                    && *libc::__errno_location() == libc::EINTR
                {}
                libc::_exit(0)
            }
        }
        let pid = Errno::result(pid)?;
        Ok(Holder {
            pid: Pid::from_raw(pid as i32),
            _release: release_w,
        })
    }

    fn proc(&self, file: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/{file}", self.pid))
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = kill(self.pid, Signal::SIGKILL);
        while let Err(Errno::EINTR) = waitpid(self.pid, Some(WaitPidFlag::__WCLONE)) {}
    }
}

/// A user namespace with exactly these maps, as a descriptor: the one
/// reference that outlives its holder.
fn userns(maps: &Maps) -> io::Result<OwnedFd> {
    let holder = Holder::spawn()?;
    let context = |what: &str, e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    // A privileged writer may write any map, gid_map included, with one
    // write(2) each.
    let uid_map = holder.proc("uid_map");
    std::fs::write(&uid_map, map_lines(&maps.uid))
        .map_err(|e| context(&format!("write {}", uid_map.display()), e))?;
    let gid_map = holder.proc("gid_map");
    std::fs::write(&gid_map, map_lines(&maps.gid))
        .map_err(|e| context(&format!("write {}", gid_map.display()), e))?;
    let ns = holder.proc("ns/user");
    let file = File::open(&ns).map_err(|e| context(&format!("open {}", ns.display()), e))?;
    Ok(OwnedFd::from(file))
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| invalid(format!("{p:?} holds a NUL")))
}

/// `struct mount_attr` of linux/mount.h (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A detached copy of the mount at `source` (and those below it when
/// `recursive`), its owners shifted through `userns`, with `set` besides.
fn idmapped_tree(
    source: &Path,
    userns: BorrowedFd,
    set: u64,
    recursive: bool,
) -> io::Result<OwnedFd> {
    let context = |what: &str, e: Errno| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("{what} {}: {e}", source.display()),
        )
    };
    let src = cpath(source)?;
    let rec = if recursive {
        libc::AT_RECURSIVE as libc::c_uint
    } else {
        0
    };
    // SAFETY: `src` is NUL-terminated and outlives the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            src.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | rec,
        )
    };
    let fd = Errno::result(fd).map_err(|e| context("open_tree", e))?;
    // SAFETY: a fresh descriptor nothing else owns; closing it before it
    // is attached unmounts the copy.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attr = MountAttr {
        attr_set: libc::MOUNT_ATTR_IDMAP | set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: the path is an empty C string and `attr` a live mount_attr
    // whose size goes alongside; the kernel only reads them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint | rec,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(r).map_err(|e| context("mount_setattr idmap", e))?;
    Ok(tree)
}

/// Attaches the detached `tree` on `target`.
fn attach(tree: BorrowedFd, target: &Path) -> io::Result<()> {
    let dst = cpath(target)?;
    // SAFETY: `tree` is open, both paths are NUL-terminated and outlive
    // the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            dst.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    Errno::result(r).map(drop).map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("move_mount to {}: {e}", target.display()),
        )
    })
}

/// The index of the `lowerdir=` option and its layers.
fn lowerdirs(options: &[String]) -> io::Result<(usize, Vec<PathBuf>)> {
    options
        .iter()
        .enumerate()
        .find_map(|(i, o)| {
            let dirs = o.strip_prefix("lowerdir=")?;
            Some((i, dirs.split(':').map(PathBuf::from).collect()))
        })
        .ok_or_else(|| invalid("an idmapped overlay without lowerdir=".to_string()))
}

/// Mounts `m` on `target` with the owners of its files shifted through
/// `maps`; `plain` is the ordinary mount(2) path, which this calls with
/// the options rewritten.
pub fn mount(
    m: &Mount,
    maps: &Maps,
    target: &Path,
    plain: impl Fn(&Mount, &Path) -> io::Result<()>,
) -> io::Result<()> {
    let ns = userns(maps)?;
    if m.kind == "overlay" {
        return mount_overlay(m, &ns, target, plain, Lowers::Detached).map(drop);
    }
    plain(m, target)?;
    // Replaced rather than covered, so the target holds one mount per
    // entry of the rootfs list, as mount_all's rollback counts them.
    let rec = super::parse_options(&m.options).0.contains(MsFlags::MS_REC);
    let tree = match idmapped_tree(target, ns.as_fd(), 0, rec) {
        Ok(tree) => tree,
        Err(e) => {
            super::unmount_one(target);
            return Err(e);
        }
    };
    super::unmount_one(target);
    attach(tree.as_fd(), target)
}

/// Where the idmapped lower layers sit during the overlay's mount(2).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Lowers {
    /// Detached, named by /proc/self/fd/N (Linux 6.15 and later).
    Detached,
    /// Attached below a private directory next to the target.
    Attached,
}

/// Mounts the overlay with its layers held `how`, or attached where the
/// kernel refuses them detached; says which it took.
fn mount_overlay(
    m: &Mount,
    ns: &OwnedFd,
    target: &Path,
    plain: impl Fn(&Mount, &Path) -> io::Result<()>,
    how: Lowers,
) -> io::Result<Lowers> {
    let (index, dirs) = lowerdirs(&m.options)?;
    let trees = dirs
        .iter()
        .map(|d| idmapped_tree(d, ns.as_fd(), libc::MOUNT_ATTR_RDONLY, false))
        .collect::<io::Result<Vec<_>>>()?;
    let with_lowers = |names: Vec<String>| {
        let mut options = m.options.clone();
        options[index] = format!("lowerdir={}", names.join(":"));
        Mount {
            kind: m.kind.clone(),
            source: m.source.clone(),
            options,
        }
    };
    match how {
        Lowers::Detached => {
            let names = trees
                .iter()
                .map(|t| format!("/proc/self/fd/{}", t.as_raw_fd()))
                .collect();
            match plain(&with_lowers(names), target) {
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    drop(trees);
                    mount_overlay(m, ns, target, plain, Lowers::Attached)
                }
                r => r.map(|()| how),
            }
        }
        Lowers::Attached => {
            let dir = Scratch::new(target)?;
            let mut names = Vec::new();
            for (i, t) in trees.iter().enumerate() {
                names.push(dir.attach(i, t.as_fd())?);
            }
            plain(&with_lowers(names), target).map(|()| how)
        }
    }
}

/// The private directory of [`Lowers::Attached`]: taken off and removed
/// when dropped, whether the overlay mounted or not.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(target: &Path) -> io::Result<Self> {
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        let dir = target.with_file_name(format!(".{name}-idmapped-layers"));
        // A shim killed between attach and cleanup left this behind.
        if dir.exists() {
            Scratch { dir: dir.clone() }.clear();
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| io::Error::new(e.kind(), format!("mkdir {}: {e}", dir.display())))?;
        Ok(Scratch { dir })
    }

    fn attach(&self, i: usize, tree: BorrowedFd) -> io::Result<String> {
        let at = self.dir.join(i.to_string());
        std::fs::create_dir(&at)?;
        let name = at.to_string_lossy().into_owned();
        attach(tree, &at)?;
        Ok(name)
    }

    /// Takes off and removes what is below the directory, then the
    /// directory. Detaching is enough: overlayfs holds clones of its own.
    fn clear(&mut self) {
        let below: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        for at in below {
            let _ = umount2(&at, MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir(&at);
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::super::{mount_all, unmount};
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::sync::Mutex;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn range(container: u32, host: u32, size: u32) -> IdRange {
        IdRange {
            container,
            host,
            size,
        }
    }

    #[test]
    fn maps_are_taken_out_of_the_options() {
        let opts = strings(&[
            "uidmap=0:100000:1,1:200001:65535",
            "workdir=/w",
            "gidmap=0:300000:65536",
            "lowerdir=/a:/b",
        ]);
        let (maps, rest) = take_maps(&opts).unwrap();
        assert_eq!(
            maps,
            Some(Maps {
                uid: vec![range(0, 100000, 1), range(1, 200001, 65535)],
                gid: vec![range(0, 300000, 65536)],
            })
        );
        assert_eq!(rest, strings(&["workdir=/w", "lowerdir=/a:/b"]));
        assert_eq!(
            map_lines(&maps.unwrap().uid),
            "0 100000 1\n1 200001 65535\n"
        );
        let plain = strings(&["rbind", "ro"]);
        assert_eq!(take_maps(&plain).unwrap(), (None, plain));
    }

    #[test]
    fn bad_maps_are_refused() {
        for bad in [
            "uidmap=0:1000",
            "uidmap=0:1000:1:2",
            "uidmap=0:x:1",
            "uidmap=-1:1000:1",
            "uidmap=0:1000:0",
            "uidmap=0:4294967295:2",
            "uidmap=0:1000:1,",
            "uidmap=",
        ] {
            let opts = strings(&[bad, "gidmap=0:1000:1"]);
            let err = take_maps(&opts).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}: {err}");
        }
        // One without the other would mount the layers unmapped.
        let err = take_maps(&strings(&["uidmap=0:1000:1"])).unwrap_err();
        assert!(err.to_string().contains("both"), "{err}");
    }

    /// The kernel's mount table is shared by the tests of this binary, and
    /// the holder check counts this process's clone children.
    static SERIAL: Mutex<()> = Mutex::new(());

    const BASE: u32 = 3_000_000;

    /// A private tmpfs holding the layers, detached with everything on it
    /// when dropped.
    struct Scene {
        dir: PathBuf,
    }

    impl Scene {
        fn new(name: &str) -> Option<Self> {
            if !nix::unistd::geteuid().is_root() {
                eprintln!("skipping {name}: not root");
                return None;
            }
            let dir =
                std::env::temp_dir().join(format!("berth-idmap-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            nix::mount::mount(
                Some("tmpfs"),
                &dir,
                Some("tmpfs"),
                MsFlags::empty(),
                Some("mode=0755"),
            )
            .unwrap();
            Some(Scene { dir })
        }

        fn path(&self, p: &str) -> PathBuf {
            self.dir.join(p)
        }

        /// A one-byte file owned by `uid:gid` on disk.
        fn file(&self, p: &str, uid: u32, gid: u32) {
            let p = self.path(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "x").unwrap();
            std::os::unix::fs::lchown(&p, Some(uid), Some(gid)).unwrap();
        }

        fn dir(&self, p: &str, uid: u32) -> String {
            let p = self.path(p);
            std::fs::create_dir_all(&p).unwrap();
            std::os::unix::fs::lchown(&p, Some(uid), Some(uid)).unwrap();
            p.to_str().unwrap().to_string()
        }

        /// Mount points at or below the scene's directory, its own tmpfs
        /// left out.
        fn mounts(&self) -> Vec<String> {
            let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
            let me = self.dir.to_str().unwrap();
            table
                .lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|m| m.starts_with(me) && *m != me)
                .map(String::from)
                .collect()
        }
    }

    impl Drop for Scene {
        fn drop(&mut self) {
            let _ = umount2(&self.dir, MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir(&self.dir);
        }
    }

    fn owner(p: &Path) -> (u32, u32) {
        let md = std::fs::symlink_metadata(p).unwrap();
        (md.uid(), md.gid())
    }

    /// No user namespace holder is left: none of this process's clone
    /// children, alive or unreaped.
    fn no_holder_left() {
        let r = waitpid(
            Pid::from_raw(-1),
            Some(WaitPidFlag::__WCLONE | WaitPidFlag::WNOHANG),
        );
        assert_eq!(r, Err(Errno::ECHILD));
    }

    fn maps_opts() -> Vec<String> {
        let m = format!("0:{BASE}:65536");
        vec![format!("uidmap={m}"), format!("gidmap={m}")]
    }

    /// Two lower layers (root's files and a user's), an upper directory
    /// owned by the pod's root as the snapshotter leaves it, and the
    /// overlay's options.
    fn overlay_scene(s: &Scene) -> Mount {
        s.file("l1/bin/sh", 0, 0);
        s.file("l1/home/user/f", 1000, 1000);
        s.file("l2/etc/passwd", 0, 0);
        let upper = s.dir("upper", BASE);
        s.file("upper/written", BASE + 5, BASE + 5);
        let work = s.dir("work", 0);
        let lowers = [s.path("l2"), s.path("l1")].map(|p| p.to_str().unwrap().to_string());
        let mut options = maps_opts();
        options.extend([
            format!("workdir={work}"),
            format!("upperdir={upper}"),
            format!("lowerdir={}", lowers.join(":")),
            "index=off".to_string(),
        ]);
        Mount {
            kind: "overlay".into(),
            source: "overlay".into(),
            options,
        }
    }

    fn check_overlay(s: &Scene, target: &Path) {
        assert_eq!(owner(&target.join("bin/sh")), (BASE, BASE));
        assert_eq!(owner(&target.join("etc/passwd")), (BASE, BASE));
        assert_eq!(
            owner(&target.join("home/user/f")),
            (BASE + 1000, BASE + 1000)
        );
        // The upper layer is not shifted: its ids are the host's already.
        assert_eq!(owner(target), (BASE, BASE));
        assert_eq!(owner(&target.join("written")), (BASE + 5, BASE + 5));
        // The lower layers themselves keep their on-disk owners.
        assert_eq!(owner(&s.path("l1/bin/sh")), (0, 0));
        // A copy-up lands in the upper layer with the mapped owner.
        std::fs::write(target.join("etc/passwd"), "changed").unwrap();
        assert_eq!(owner(&s.path("upper/etc/passwd")), (BASE, BASE));
        assert_eq!(
            std::fs::read_to_string(s.path("l2/etc/passwd")).unwrap(),
            "x"
        );
        check_overlay_mounts(s, target);
    }

    /// Only the overlay is mounted: the idmapped layers are no mounts of
    /// the shim's, the scratch directory is gone, and so is the holder.
    fn check_overlay_mounts(s: &Scene, target: &Path) {
        assert_eq!(s.mounts(), [target.to_str().unwrap()]);
        let names: Vec<_> = std::fs::read_dir(&s.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!names.iter().any(|n| n.contains("idmapped")), "{names:?}");
        no_holder_left();
    }

    #[test]
    fn an_overlay_gets_idmapped_lower_layers() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let Some(s) = Scene::new("overlay") else {
            return;
        };
        let m = overlay_scene(&s);
        let target = s.path("rootfs");
        mount_all(std::slice::from_ref(&m), &target).unwrap();
        check_overlay(&s, &target);
        unmount(&target);
        // Where overlayfs takes detached layers, that is the path taken.
        let (maps, options) = take_maps(&m.options).unwrap();
        let m = Mount { options, ..m };
        let ns = userns(&maps.unwrap()).unwrap();
        let how = mount_overlay(
            &m,
            &ns,
            &target,
            super::super::mount_plain,
            Lowers::Detached,
        )
        .unwrap();
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut version = release.split(['.', '-']).map(|n| n.parse().unwrap_or(0));
        if (version.next().unwrap(), version.next().unwrap()) >= (6u32, 15u32) {
            assert_eq!(how, Lowers::Detached);
        }
        check_overlay_mounts(&s, &target);
        unmount(&target);
        assert!(s.mounts().is_empty());
    }

    /// The path taken where the kernel refuses detached layers (before
    /// 6.15), forced here.
    #[test]
    fn layers_attached_beside_the_target_are_taken_off_after_the_mount() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let Some(s) = Scene::new("attached") else {
            return;
        };
        let m = overlay_scene(&s);
        let (maps, options) = take_maps(&m.options).unwrap();
        let m = Mount { options, ..m };
        let target = s.path("rootfs");
        std::fs::create_dir(&target).unwrap();
        // A scratch directory a killed shim left, with a layer still on it.
        let stale = s.path(".rootfs-idmapped-layers/0");
        std::fs::create_dir_all(&stale).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            &stale,
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .unwrap();
        let ns = userns(&maps.unwrap()).unwrap();
        let how = mount_overlay(
            &m,
            &ns,
            &target,
            super::super::mount_plain,
            Lowers::Attached,
        );
        assert_eq!(how.unwrap(), Lowers::Attached);
        check_overlay(&s, &target);
        unmount(&target);
        assert!(s.mounts().is_empty());
    }

    #[test]
    fn a_bind_is_replaced_by_its_idmapped_copy() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let Some(s) = Scene::new("bind") else {
            return;
        };
        s.file("snap/bin/sh", 0, 0);
        s.file("snap/home/f", 7, 8);
        let mut options = maps_opts();
        options.extend(strings(&["ro", "rbind"]));
        let m = Mount {
            kind: "bind".into(),
            source: s.path("snap").to_str().unwrap().into(),
            options,
        };
        let target = s.path("rootfs");
        mount_all(&[m], &target).unwrap();
        assert_eq!(owner(&target.join("bin/sh")), (BASE, BASE));
        assert_eq!(owner(&target.join("home/f")), (BASE + 7, BASE + 8));
        let err = std::fs::write(target.join("new"), "x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
        // One mount, so unmount_one and mount_all's rollback count right.
        assert_eq!(s.mounts(), [target.to_str().unwrap()]);
        no_holder_left();
        unmount(&target);
        assert!(s.mounts().is_empty());
        assert_eq!(owner(&s.path("snap/bin/sh")), (0, 0));
    }

    #[test]
    fn a_failed_mount_leaves_nothing() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let Some(s) = Scene::new("failed") else {
            return;
        };
        let mut m = overlay_scene(&s);
        // A missing layer fails the open_tree; an upper directory that is
        // a file fails overlayfs, after the layers were made, on both the
        // detached and the attached path.
        let missing = s.path("missing").to_str().unwrap().to_string();
        let lower = m
            .options
            .iter()
            .position(|o| o.starts_with("lowerdir="))
            .unwrap();
        let good = m.options[lower].clone();
        m.options[lower] = format!("{good}:{missing}");
        let target = s.path("rootfs");
        let err = mount_all(&[m.clone()], &target).unwrap_err();
        assert!(err.to_string().contains("open_tree"), "{err}");
        assert!(s.mounts().is_empty());
        m.options[lower] = good;
        s.file("upper-file", 0, 0);
        let upper = m
            .options
            .iter()
            .position(|o| o.starts_with("upperdir="))
            .unwrap();
        m.options[upper] = format!("upperdir={}", s.path("upper-file").display());
        mount_all(&[m], &target).unwrap_err();
        assert!(s.mounts().is_empty());
        assert!(!s.path(".rootfs-idmapped-layers").exists());
        no_holder_left();
    }
}
