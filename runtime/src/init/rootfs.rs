//! The container's filesystem: mounts, pivot_root, and the read-only and
//! masked paths.
//!
//! Runs in the container's init process, inside its mount namespace, in
//! three phases:
//! 1. [`prepare`] (host paths still visible): root propagation, the rootfs
//!    bind mount, every `mounts[]` entry resolved inside the rootfs, /dev.
//! 2. [`pivot`] into the rootfs (or move it onto / with `--no-pivot`).
//! 3. [`finish`] (container paths): readonlyPaths, maskedPaths, the
//!    root's propagation, and `root.readonly` last, since every step before
//!    needs to write.
//!
//! A container without a mount namespace of its own is built in the
//! caller's: the propagation of the caller's mounts is left alone, every
//! mount is made below the rootfs's bind (which `delete` unmounts, see
//! container/host_mounts.rs), and the root is entered with [`chroot`].

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::Mode;
use oci_spec::runtime::{Mount, Spec};

use crate::error::{Context, Error, Result, SysResult};
use crate::init::devices;
use crate::linux::syscall::{Syscall, Target};
use crate::linux::{lsm, mount_attr};
use crate::oci::mount_options::{self, MountOptions};
use berth_proc::mountinfo::CgroupMount;

/// What the host looks like, read by the parent before clone.
pub struct HostView<'a> {
    pub cgroup_mounts: &'a [CgroupMount],
    /// /proc/self/cgroup of the runtime, for bind-mounting our own cgroup
    /// when the container has no cgroup namespace.
    pub own_cgroups: &'a str,
    pub cgroup_ns: bool,
    /// Per `mounts[]` entry: the idmapped tree the parent made for it.
    pub idmapped: &'a [Option<OwnedFd>],
    /// linux.mountLabel, for the filesystems made for the container.
    pub mount_label: Option<&'a str>,
    /// The container has its own network namespace (needed to mount sysfs
    /// from a user namespace).
    pub net_ns: bool,
    /// The container is in a user namespace (new or joined).
    pub user_ns: bool,
    /// The container has a mount namespace of its own (new or joined);
    /// without one, init mounts in the caller's.
    pub mount_ns: bool,
}

pub fn prepare(
    sys: &dyn Syscall,
    spec: &Spec,
    bundle: &Path,
    rootfs: &Path,
    host: &HostView,
) -> Result<()> {
    let linux = spec.linux().as_ref();
    if host.mount_ns {
        isolate(sys, rootfs, root_propagation(spec))?;
    }
    // pivot_root needs the new root to be a mount point; without a mount
    // namespace, every mount below it goes with it when delete unmounts it.
    sys.mount(
        Some(rootfs),
        rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;

    let mounts = spec.mounts().as_deref().unwrap_or_default();
    for (i, m) in mounts.iter().enumerate() {
        let tree = host.idmapped.get(i).and_then(Option::as_ref);
        mount_one(sys, bundle, rootfs, m, tree, host)
            .with_context(|| format!("mounts[{i}] ({})", m.destination().display()))?;
    }
    // With /dev bind-mounted from the host, nodes made here would land on
    // the host: runc skips them too.
    if !dev_from_host(spec) {
        devices::create_default(sys, rootfs)?;
        let listed = linux
            .and_then(|l| l.devices().as_deref())
            .unwrap_or_default();
        devices::create_from_spec(sys, rootfs, listed)?;
    }
    Ok(())
}

/// linux.rootfsPropagation as mount flags; rslave by default, so that
/// nothing the container mounts propagates back to the host.
fn root_propagation(spec: &Spec) -> MsFlags {
    spec.linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(mount_options::propagation_flag)
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC)
}

/// Before the rootfs's bind, in the container's mount namespace: the
/// propagation its mounts are built with, and the rootfs's parent mount
/// kept from sharing.
fn isolate(sys: &dyn Syscall, rootfs: &Path, prop: MsFlags) -> Result<()> {
    // Unbindable is set on the finished root ([`finish`]): set on the tree
    // now, it would refuse the rootfs's bind and every bind from the host.
    // The tree is private meanwhile.
    let building = match prop.contains(MsFlags::MS_UNBINDABLE) {
        true => (prop - MsFlags::MS_UNBINDABLE) | MsFlags::MS_PRIVATE,
        false => prop,
    };
    sys.mount(None, Path::new("/"), None, building, None)?;
    if building.contains(MsFlags::MS_REC)
        && building.intersects(MsFlags::MS_SLAVE | MsFlags::MS_PRIVATE)
    {
        return Ok(());
    }
    // The rootfs's bind takes the propagation of the mount it is on: from a
    // shared one it (and every mount below it) would reach the host, and
    // pivot_root refuses it. That mount becomes a slave (the spec's slave:
    // what the host mounts there comes in, nothing goes out) or private.
    let mi = std::fs::read_to_string("/proc/self/mountinfo").sys("read mountinfo")?;
    if let Some((parent, _)) = berth_proc::mountinfo::parent_mount(&mi, rootfs) {
        let flag = match building.contains(MsFlags::MS_SLAVE) {
            true => MsFlags::MS_SLAVE,
            false => MsFlags::MS_PRIVATE,
        };
        sys.mount(None, &parent, None, flag, None)?;
    }
    Ok(())
}

/// After the rest of the filesystem: linux.rootfsPropagation on the root
/// itself, where [`isolate`] could not leave it so. Shared is a new peer
/// group of the container's root (config-linux.md: "not shared with the
/// host"); unbindable could not be set before the binds.
fn set_root_propagation(sys: &dyn Syscall, spec: &Spec) -> Result<()> {
    let prop = root_propagation(spec);
    if prop.intersects(MsFlags::MS_SHARED | MsFlags::MS_UNBINDABLE) {
        sys.mount(None, Path::new("/"), None, prop, None)
            .context("linux.rootfsPropagation")?;
    }
    Ok(())
}

/// Whether the config binds /dev from the host, in which case berth makes
/// no device nodes in it.
pub fn dev_from_host(spec: &Spec) -> bool {
    spec.mounts().iter().flatten().any(|m| {
        m.destination() == Path::new("/dev")
            && m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind")
    })
}

fn mount_one(
    sys: &dyn Syscall,
    bundle: &Path,
    rootfs: &Path,
    m: &Mount,
    idmapped: Option<&OwnedFd>,
    host: &HostView,
) -> Result<()> {
    let opts =
        mount_options::parse(m.options().as_deref().unwrap_or_default()).map_err(Error::invalid)?;
    let typ = m.typ().as_deref().unwrap_or("none");
    let dest = m.destination();
    check_proc_mount(sys, rootfs, dest, typ, m.source().as_deref(), bundle)?;
    if opts.is_bind() || typ == "bind" {
        let src = m
            .source()
            .as_ref()
            .ok_or_else(|| Error::invalid("a bind mount needs a source"))?;
        let src = bundle.join(src);
        // A tree the parent opened is what will be mounted, and init may
        // not be able to reach its source by path (see idmapped_trees).
        let is_dir = match idmapped {
            Some(tree) => {
                let st =
                    nix::sys::stat::fstat(tree.as_raw_fd()).sys("fstat a bind mount's tree")?;
                st.st_mode & libc::S_IFMT == libc::S_IFDIR
            }
            None => std::fs::metadata(&src)
                .map_err(|e| Error::io("bind mount source", &src, e))?
                .is_dir(),
        };
        let t = sys.target_in_root(rootfs, dest, !is_dir)?;
        let rec = opts.flags & MsFlags::MS_REC;
        match idmapped {
            Some(tree) => sys.attach_tree(tree.as_fd(), &src, &t.path)?,
            None => sys.mount(Some(&src), &t.path, None, MsFlags::MS_BIND | rec, None)?,
        }
        drop(t);
        // Flags on a bind mount take a second, remount call; the target is
        // resolved again so that it names the new mount, not the one below.
        let extra = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
        if !extra.is_empty() {
            let t = sys.target_in_root(rootfs, dest, false)?;
            sys.mount(
                None,
                &t.path,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra,
                None,
            )?;
        }
    } else if typ == "cgroup" || typ == "cgroup2" {
        mount_cgroup(sys, rootfs, dest, &opts, host)?;
    } else {
        let t = sys.target_in_root(rootfs, dest, false)?;
        let src = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
        let data = match typ {
            "tmpfs" | "devpts" | "mqueue" => lsm::with_mount_label(&opts.data, host.mount_label),
            _ => opts.data.clone(),
        };
        let data = (!data.is_empty()).then_some(data.as_str());
        // tmpcopyup: open what the tmpfs will hide before it does.
        let hidden = match opts.copy_up && typ == "tmpfs" {
            true => Some(sys.open_dir(&t.path)?),
            false => None,
        };
        match sys.mount(Some(&src), &t.path, Some(typ), opts.flags, data) {
            // A user namespace may not mount sysfs for a network namespace
            // it does not own: the host's /sys is bound instead, as runc
            // does.
            Err(e) if typ == "sysfs" && !host.net_ns && e.errno() == Some(Errno::EPERM) => {
                let rec = MsFlags::MS_BIND | MsFlags::MS_REC;
                sys.mount(Some(Path::new("/sys")), &t.path, None, rec, None)?;
                drop(t);
                let t = sys.target_in_root(rootfs, dest, false)?;
                let keep = locked_flags(Path::new("/sys"));
                sys.mount(
                    None,
                    &t.path,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | opts.flags | keep,
                    None,
                )?;
            }
            r => r?,
        }
        if let Some(hidden) = hidden {
            // Resolved again: it now names the new tmpfs.
            let t = sys.target_in_root(rootfs, dest, false)?;
            sys.copy_tree(hidden.as_fd(), &t.path)?;
        }
    }
    // After the remount above, which would otherwise reset them on the
    // top mount.
    if let Some(attr) = &opts.recursive {
        let t = sys.target_in_root(rootfs, dest, false)?;
        sys.set_recursive(&t.path, attr)?;
    }
    apply_propagation(sys, rootfs, dest, &opts)
}

/// The files of /proc that lxcfs replaces, the only mount destinations
/// inside /proc that runc allows.
const PROC_MOUNTS_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// runc's rule against CVE-2019-16884 (a mount over /proc/self/attr/*
/// defeats the LSM label init writes there): on /proc itself only a proc
/// filesystem, and inside /proc only the files lxcfs replaces. The
/// destination is checked as written and where it resolves: a symbolic
/// link in the image that leads into the mounted /proc counts as inside.
fn check_proc_mount(
    sys: &dyn Syscall,
    rootfs: &Path,
    dest: &Path,
    typ: &str,
    source: Option<&Path>,
    bundle: &Path,
) -> Result<()> {
    let lexical = lexical_in_root(dest);
    let on_proc = lexical == Path::new("/proc");
    let inside = !on_proc && lexical.starts_with("/proc");
    let resolves_into_proc = || -> bool {
        sys.target_in_root(rootfs, dest, false)
            .is_ok_and(|t| sys.is_procfs(&t.path))
    };
    if on_proc {
        let source_is_proc = source.is_some_and(|s| sys.is_procfs(&bundle.join(s)));
        if typ == "proc" || source_is_proc {
            return Ok(());
        }
        return Err(Error::invalid(format!(
            "{:?} cannot be mounted because it is not of type proc",
            dest
        )));
    }
    if typ == "proc" && !inside {
        return Ok(());
    }
    if PROC_MOUNTS_ALLOWED.iter().any(|a| lexical == Path::new(a)) {
        return Ok(());
    }
    if inside || (lexical_may_resolve(rootfs, dest) && resolves_into_proc()) {
        return Err(Error::invalid(format!(
            "{:?} cannot be mounted because it is inside /proc",
            dest
        )));
    }
    Ok(())
}

/// The destination as the container sees it: `..` never climbs above /.
fn lexical_in_root(dest: &Path) -> PathBuf {
    Path::new("/").join(crate::linux::syscall::lexical(dest))
}

/// Whether the destination could resolve anywhere but where it reads: only
/// through a symbolic link on the way (lstat of each component, cheaper
/// than resolving every mount's target a second time).
fn lexical_may_resolve(rootfs: &Path, dest: &Path) -> bool {
    let rel = lexical_in_root(dest);
    let rel = rel.strip_prefix("/").unwrap_or(&rel);
    rel.ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .any(|a| {
            std::fs::symlink_metadata(rootfs.join(a)).is_ok_and(|m| m.file_type().is_symlink())
        })
}

/// Idmapped bind mounts (`mounts[].uidMappings`, or the `idmap` option with
/// the container's own maps) are made by the parent, before clone: setting
/// MOUNT_ATTR_IDMAP on a host filesystem needs privilege over the host's
/// user namespace, which init in a user namespace no longer has. Each
/// becomes a detached tree that init attaches at its destination.
///
/// With `userns` (root making a container with a user namespace of its
/// own, new or joined by path), the parent also opens every other bind mount's source as such a
/// tree (not idmapped): init, once root of that namespace only, may not
/// reach a source below a directory closed to others, such as the shm
/// directory containerd's CRI keeps for a pod under its 0700 state dir. A
/// source the parent cannot open that way is left to init, as without
/// `userns`.
pub fn idmapped_trees(spec: &Spec, bundle: &Path, userns: bool) -> Result<Vec<Option<OwnedFd>>> {
    let linux = spec.linux().as_ref();
    let mut trees = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let own = m.uid_mappings().is_some() || m.gid_mappings().is_some();
        let asked = m
            .options()
            .iter()
            .flatten()
            .any(|o| o == "idmap" || o == "ridmap");
        if !own && !asked {
            trees.push(userns.then(|| bind_tree(m, bundle)).flatten());
            continue;
        }
        let opts = mount_options::parse(m.options().as_deref().unwrap_or_default())
            .map_err(Error::invalid)?;
        let ctx = || {
            format!(
                "mounts[{i}] ({}): idmapped mount",
                m.destination().display()
            )
        };
        if !(opts.is_bind() || m.typ().as_deref() == Some("bind")) {
            return Err(Error::invalid("only bind mounts can be idmapped")).with_context(ctx);
        }
        let (uid, gid) = if own {
            (m.uid_mappings().as_deref(), m.gid_mappings().as_deref())
        } else {
            (
                linux.and_then(|l| l.uid_mappings().as_deref()),
                linux.and_then(|l| l.gid_mappings().as_deref()),
            )
        };
        let (Some(uid), Some(gid)) = (uid, gid) else {
            return Err(Error::invalid(
                "needs both uidMappings and gidMappings (on the mount or in linux)",
            ))
            .with_context(ctx);
        };
        let src = bundle.join(m.source().as_deref().unwrap_or(Path::new("")));
        let recursive = opts.idmap.unwrap_or(false) || opts.flags.contains(MsFlags::MS_REC);
        let userns = mount_attr::userns_with_mappings(uid, gid).with_context(ctx)?;
        let tree = mount_attr::idmapped_tree(&src, userns.as_fd(), recursive).with_context(ctx)?;
        trees.push(Some(tree));
    }
    Ok(trees)
}

/// A detached copy of a bind mount's source (with the mounts below it
/// for `rbind`), or `None` if `m` is no bind mount or it cannot be made.
fn bind_tree(m: &Mount, bundle: &Path) -> Option<OwnedFd> {
    let opts = mount_options::parse(m.options().as_deref().unwrap_or_default()).ok()?;
    if !(opts.is_bind() || m.typ().as_deref() == Some("bind")) {
        return None;
    }
    let src = bundle.join(m.source().as_deref()?);
    mount_attr::clone_tree(&src, opts.flags.contains(MsFlags::MS_REC)).ok()
}

fn apply_propagation(
    sys: &dyn Syscall,
    rootfs: &Path,
    dest: &Path,
    opts: &MountOptions,
) -> Result<()> {
    for p in &opts.propagation {
        let t = sys.target_in_root(rootfs, dest, false)?;
        sys.mount(None, &t.path, None, *p, None)?;
    }
    Ok(())
}

/// The `cgroup` mount. With the host on cgroup v2 alone it is one cgroup2
/// mount; on v1 or hybrid hosts it is a tmpfs holding one mount per
/// hierarchy, named like the host's. Inside a cgroup namespace each is a
/// fresh cgroup mount rooted at the container's cgroup; without one, the
/// runtime's own cgroup directories are bind-mounted, as runc does.
fn mount_cgroup(
    sys: &dyn Syscall,
    rootfs: &Path,
    dest: &Path,
    opts: &MountOptions,
    host: &HostView,
) -> Result<()> {
    let flags = opts.flags & !MsFlags::MS_BIND;
    let unified = host
        .cgroup_mounts
        .iter()
        .find(|c| c.mount_point == Path::new("/sys/fs/cgroup") && c.fstype == "cgroup2");
    if let Some(c) = unified {
        return mount_hierarchy(sys, At::Dest(rootfs, dest), c, flags, host);
    }
    let t = sys.target_in_root(rootfs, dest, false)?;
    sys.mount(
        Some(Path::new("tmpfs")),
        &t.path,
        Some("tmpfs"),
        flags - MsFlags::MS_RDONLY,
        Some("mode=755"),
    )?;
    drop(t);
    // The new tmpfs, resolved once: its mount points are made and mounted
    // through it by name (nothing else can have put a link there).
    let tmpfs = sys.target_in_root(rootfs, dest, false)?;
    for c in host.cgroup_mounts {
        let Some(name) = c.mount_point.file_name() else {
            continue;
        };
        let at = tmpfs.path.join(name);
        // The error names the destination: `at` is a /proc/self/fd path.
        sys.mkdir(&at)
            .and_then(|()| mount_hierarchy(sys, At::Made(&at), c, flags, host))
            .with_context(|| {
                format!(
                    "{} ({})",
                    dest.join(name).display(),
                    c.mount_point.display()
                )
            })?;
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        sys.mount(
            None,
            &tmpfs.path,
            None,
            MsFlags::MS_REMOUNT | flags,
            Some("mode=755"),
        )?;
    }
    Ok(())
}

/// Where a hierarchy goes.
#[derive(Clone, Copy)]
enum At<'a> {
    /// A destination in the rootfs, resolved for each mount on it.
    Dest(&'a Path, &'a Path),
    /// A path through a resolved directory: it names whatever is mounted
    /// on it last, so it serves for a bind and its remount alike.
    Made(&'a Path),
}

impl At<'_> {
    fn resolve(self, sys: &dyn Syscall) -> Result<Target> {
        match self {
            At::Dest(rootfs, dest) => sys.target_in_root(rootfs, dest, false),
            At::Made(p) => Ok(Target::named(p)),
        }
    }
}

fn mount_hierarchy(
    sys: &dyn Syscall,
    at: At,
    c: &CgroupMount,
    flags: MsFlags,
    host: &HostView,
) -> Result<()> {
    let t = at.resolve(sys)?;
    if host.cgroup_ns {
        let data = c.controllers.join(",");
        let data = (!data.is_empty()).then_some(data.as_str());
        match sys.mount(
            Some(Path::new(&c.fstype)),
            &t.path,
            Some(&c.fstype),
            flags,
            data,
        ) {
            // A user namespace without privilege over the host (rootless)
            // may not mount a v1 hierarchy (EPERM), nor, on Debian 12's
            // Linux 6.1, cgroup2 (EBUSY: its superblock is the host's;
            // 6.18 allows it): bind the container's directory instead,
            // which the namespace shows as its root.
            Err(e) if host.user_ns && matches!(e.errno(), Some(Errno::EPERM | Errno::EBUSY)) => {}
            r => return r,
        }
    }
    let own = own_cgroup_path(host.own_cgroups, c).unwrap_or_default();
    let src = c.mount_point.join(own.trim_start_matches('/'));
    sys.mount(
        Some(&src),
        &t.path,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    drop(t);
    let t = at.resolve(sys)?;
    sys.mount(
        None,
        &t.path,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags,
        None,
    )
}

/// Our path in hierarchy `c`, from /proc/self/cgroup text.
fn own_cgroup_path<'a>(text: &'a str, c: &CgroupMount) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        let matches = if c.fstype == "cgroup2" {
            ctrls.is_empty()
        } else {
            !ctrls.is_empty() && ctrls.split(',').collect::<Vec<_>>() == c.controllers
        };
        matches.then_some(path)
    })
}

/// Makes the rootfs the process's `/`. pivot_root(".", ".") stacks the old
/// root under the new one, so it is unmounted from `.` afterwards without
/// ever needing a directory for it in the rootfs.
pub fn pivot(rootfs: &Path) -> Result<()> {
    let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let old = open("/", flags, Mode::empty()).sys("open /")?;
    let new = open(rootfs, flags, Mode::empty()).sys_path("open", rootfs)?;
    nix::unistd::fchdir(new).sys_path("chdir", rootfs)?;
    nix::unistd::pivot_root(".", ".").sys_path("pivot_root", rootfs)?;
    nix::unistd::fchdir(old).sys("chdir to the old root")?;
    // The old root must not pass our unmount on to the host.
    nix::mount::mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .sys("make the old root rslave")?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH).sys("unmount the old root")?;
    let _ = nix::unistd::close(old.as_raw_fd());
    let _ = nix::unistd::close(new.as_raw_fd());
    nix::unistd::chdir("/").sys("chdir /")
}

/// `--no-pivot`: move the rootfs mount onto / and chroot into it, for
/// filesystems where pivot_root cannot work (a ramfs root).
pub fn move_root(rootfs: &Path) -> Result<()> {
    // A mount moved onto a shared mount propagates to its peers: with a
    // shared rootfsPropagation, / may still share the host's peer group.
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .sys("make / private")?;
    nix::unistd::chdir(rootfs).sys_path("chdir", rootfs)?;
    nix::mount::mount(
        Some(rootfs),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .sys_path("move mount to /", rootfs)?;
    nix::unistd::chroot(".").sys_path("chroot", rootfs)?;
    nix::unistd::chdir("/").sys("chdir /")
}

/// Without a mount namespace: the rootfs's bind becomes the process's root
/// only (the caller's mounts stay as they are). `--no-pivot` too: moving
/// the rootfs onto / would move it over the caller's root.
pub fn chroot(rootfs: &Path) -> Result<()> {
    nix::unistd::chdir(rootfs).sys_path("chdir", rootfs)?;
    nix::unistd::chroot(".").sys_path("chroot", rootfs)?;
    nix::unistd::chdir("/").sys("chdir /")
}

/// After pivot: readonlyPaths, maskedPaths, the root's propagation, then
/// the read-only root.
pub fn finish(sys: &dyn Syscall, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    for p in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        readonly_path(sys, Path::new(p)).with_context(|| format!("linux.readonlyPaths: {p}"))?;
    }
    let mut null = None;
    for p in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        mask_path(sys, Path::new(p), &mut null)
            .with_context(|| format!("linux.maskedPaths: {p}"))?;
    }
    set_root_propagation(sys, spec)?;
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        let keep = locked_flags(Path::new("/"));
        sys.mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep,
            None,
        )
        .context("root.readonly")?;
    }
    Ok(())
}

/// Like mount destinations, these are resolved inside the root, through no
/// magic link (/proc/PID/root leads out of it, and without a mount
/// namespace a mount there would be on the host's file).
fn readonly_path(sys: &dyn Syscall, p: &Path) -> Result<()> {
    let root = Path::new("/");
    let Some(t) = sys.find_in_root(root, p)? else {
        return Ok(());
    };
    sys.mount(
        Some(&t.path),
        &t.path,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    drop(t);
    // Resolved again: it now names the new bind.
    let Some(t) = sys.find_in_root(root, p)? else {
        return Ok(());
    };
    let keep = locked_flags(&t.path);
    sys.mount(
        None,
        &t.path,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC | keep,
        None,
    )
}

/// Directories are covered by an empty read-only tmpfs, anything else by
/// /dev/null (opened once, on the first file, into `null`); resolved as in
/// [`readonly_path`].
fn mask_path(sys: &dyn Syscall, p: &Path, null: &mut Option<OwnedFd>) -> Result<()> {
    let Some(t) = sys.find_in_root(Path::new("/"), p)? else {
        return Ok(());
    };
    let p = t.path.as_path();
    match std::fs::metadata(p) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => sys.mount(
            Some(Path::new("tmpfs")),
            p,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
        ),
        Ok(_) => {
            let fd = match null {
                Some(fd) => fd,
                None => null.insert(open_null_device()?),
            };
            let source = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
            sys.mount(Some(&source), p, None, MsFlags::MS_BIND, None)
        }
    }
}

/// The container's /dev/null, checked to be the null device (char 1:3)
/// and bound from this very descriptor. CVE-2025-31133: when /dev comes
/// from the image or a volume, "null" can be a symlink (into /proc, where
/// the bind would hand the container a procfs file in place of the mask)
/// or a plain file; and a path would be looked up again, after the check,
/// by mount(2), hence the descriptor.
fn open_null_device() -> Result<OwnedFd> {
    let fd = open("/dev/null", OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .sys("open /dev/null to mask paths with")?;
    // SAFETY: a fresh descriptor from open, owned by nothing else.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let st = nix::sys::stat::fstat(fd.as_raw_fd()).sys("fstat /dev/null")?;
    if !devices::is_null_device(&st) {
        return Err(Error::invalid(
            "/dev/null is not the null device (char 1:3): refusing to mask paths with it",
        ));
    }
    Ok(fd)
}

/// The flags a bind remount must repeat: leaving out nosuid, nodev or
/// noexec that the mount already has would clear them (or fail where the
/// kernel has locked them).
fn locked_flags(p: &Path) -> MsFlags {
    // statvfs's f_flag bits are the MS_ bits on Linux (linux/statfs.h).
    // Raw, because nix keeps only the flags the libc crate names, and for
    // musl that leaves out ST_RELATIME.
    let Ok(c) = CString::new(p.as_os_str().as_bytes()) else {
        return MsFlags::empty();
    };
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is NUL-terminated and `st` is a statvfs the call fills.
    if unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return MsFlags::empty();
    }
    // SAFETY: statvfs succeeded, so it wrote the whole struct.
    let f = unsafe { st.assume_init() }.f_flag;
    let map: [(libc::c_ulong, MsFlags); 6] = [
        (2, MsFlags::MS_NOSUID),        // ST_NOSUID
        (4, MsFlags::MS_NODEV),         // ST_NODEV
        (8, MsFlags::MS_NOEXEC),        // ST_NOEXEC
        (1024, MsFlags::MS_NOATIME),    // ST_NOATIME
        (2048, MsFlags::MS_NODIRATIME), // ST_NODIRATIME
        (4096, MsFlags::MS_RELATIME),   // ST_RELATIME
    ];
    map.iter()
        .filter(|(s, _)| f & s != 0)
        .fold(MsFlags::empty(), |acc, (_, m)| acc | *m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::syscall::fake::Recorder;

    fn spec(mounts: &str) -> Spec {
        let json = format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":"rootfs"}},"mounts":{mounts},"linux":{{}}}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    fn hybrid() -> Vec<CgroupMount> {
        berth_proc::mountinfo::cgroup_mounts(
            "1 0 0:1 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n\
             2 0 0:2 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
        )
    }

    #[test]
    fn mounts_are_made_in_order_inside_the_rootfs_then_dev_is_populated() {
        let sys = Recorder::default();
        let s = spec(
            r#"[{"destination":"/proc","type":"proc","source":"proc"},
                {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","mode=755"]}]"#,
        );
        let cg = hybrid();
        let host = HostView {
            cgroup_mounts: &cg,
            ..plain_host(true)
        };
        prepare(&sys, &s, Path::new("/b"), Path::new("/b/rootfs"), &host).unwrap();
        let l = sys.lines();
        assert_eq!(l[0], "mount - / - MS_REC | MS_SLAVE -");
        assert_eq!(l[1], "mount /b/rootfs /b/rootfs - MS_BIND | MS_REC -");
        assert_eq!(l[3], "mount proc /b/rootfs/proc proc 0x0 -");
        assert_eq!(l[5], "mount tmpfs /b/rootfs/dev tmpfs MS_NOSUID mode=755");
        assert!(
            l.iter().any(|x| x == "mknod /b/rootfs/dev/null 666 0x103"),
            "{l:#?}"
        );
        assert!(
            l.iter()
                .any(|x| x == "symlink /b/rootfs/dev/ptmx -> pts/ptmx"),
            "{l:#?}"
        );
    }

    #[test]
    fn a_cgroup_mount_refused_in_a_user_namespace_is_bound_from_the_host() {
        let cg = berth_proc::mountinfo::cgroup_mounts(
            "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        );
        let s = spec(
            r#"[{"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["ro"]}]"#,
        );
        let view = |user_ns| HostView {
            cgroup_mounts: &cg,
            own_cgroups: "0::/user.slice/ctr\n",
            cgroup_ns: true,
            idmapped: &[],
            mount_label: None,
            net_ns: true,
            user_ns,
            mount_ns: true,
        };
        // Linux 6.1 refuses cgroup2 from a user namespace with EBUSY.
        let sys = Recorder {
            mount_fails: Some(("cgroup2", Errno::EBUSY)),
            ..Recorder::default()
        };
        prepare(&sys, &s, Path::new("/b"), Path::new("/b/r"), &view(true)).unwrap();
        let l = sys.lines();
        assert!(
            l.iter().any(|x| x
                == "mount /sys/fs/cgroup/user.slice/ctr /b/r/sys/fs/cgroup - MS_BIND | MS_REC -"),
            "{l:#?}"
        );
        assert!(
            l.iter()
                .any(|x| x
                    .starts_with("mount - /b/r/sys/fs/cgroup - MS_RDONLY | MS_REMOUNT | MS_BIND")),
            "{l:#?}"
        );
        // Outside a user namespace the refusal is an error, not a bind.
        let sys = Recorder {
            mount_fails: Some(("cgroup2", Errno::EBUSY)),
            ..Recorder::default()
        };
        let err = prepare(&sys, &s, Path::new("/b"), Path::new("/b/r"), &view(false)).unwrap_err();
        assert_eq!(err.errno(), Some(Errno::EBUSY), "{err}");
    }

    #[test]
    fn cgroup_mount_on_a_hybrid_host_is_a_tmpfs_of_hierarchies_made_read_only_last() {
        let sys = Recorder::default();
        let s = spec(
            r#"[{"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["nosuid","ro"]},
                {"destination":"/dev","type":"bind","source":"/dev","options":["rbind"]}]"#,
        );
        let cg = hybrid();
        let host = HostView {
            cgroup_mounts: &cg,
            ..plain_host(true)
        };
        prepare(&sys, &s, Path::new("/b"), Path::new("/b/r"), &host).unwrap();
        let mounts: Vec<_> = sys
            .lines()
            .into_iter()
            .filter(|l| l.starts_with("mount"))
            .collect();
        assert_eq!(
            mounts[2],
            "mount tmpfs /b/r/sys/fs/cgroup tmpfs MS_NOSUID mode=755"
        );
        assert_eq!(
            mounts[3],
            "mount cgroup /b/r/sys/fs/cgroup/cpu cgroup MS_RDONLY | MS_NOSUID cpu"
        );
        assert_eq!(
            mounts[4],
            "mount cgroup2 /b/r/sys/fs/cgroup/unified cgroup2 MS_RDONLY | MS_NOSUID -"
        );
        assert_eq!(
            mounts[5],
            "mount - /b/r/sys/fs/cgroup - MS_RDONLY | MS_NOSUID | MS_REMOUNT mode=755"
        );
        // The hierarchies' mount points are made in the new tmpfs, through
        // it, each before its mount.
        let lines = sys.lines();
        let at = |l: &str| lines.iter().position(|x| x == l).unwrap();
        for h in ["cpu", "unified"] {
            assert!(
                at(&format!("mkdir /b/r/sys/fs/cgroup/{h}"))
                    < lines
                        .iter()
                        .position(|x| x.starts_with("mount cgroup")
                            && x.contains(&format!("/sys/fs/cgroup/{h} ")))
                        .unwrap()
            );
        }
        // /dev bind-mounted from the host: no device nodes are made.
        assert!(!sys.lines().iter().any(|l| l.starts_with("mknod")));
    }

    /// runc's rule (CVE-2019-16884): /proc takes only a proc filesystem,
    /// and inside /proc only the files lxcfs replaces.
    #[test]
    fn mounts_on_or_inside_proc_are_refused_but_for_lxcfs_files() {
        let sys = Recorder::default();
        let (root, b) = (Path::new("/nonexistent/r"), Path::new("/nonexistent"));
        let check = |dest: &str, typ: &str, src: Option<&str>| {
            check_proc_mount(&sys, root, Path::new(dest), typ, src.map(Path::new), b)
        };
        assert!(check("/proc", "proc", Some("proc")).is_ok());
        assert!(
            check("/proc", "bind", Some("/proc")).is_ok(),
            "a bind of a procfs"
        );
        let e = check("/proc", "bind", Some("/srv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not of type proc"), "{e}");
        assert!(check("/proc/cpuinfo", "bind", Some("/srv/cpuinfo")).is_ok());
        assert!(check("/proc/sys/kernel/ns_last_pid", "bind", Some("/x")).is_ok());
        for dest in [
            "/proc/self/attr/current",
            "/proc/version",
            "/proc/../proc/sys",
            "/proc/proc",
        ] {
            let e = check(dest, "bind", Some("/x")).unwrap_err().to_string();
            assert!(e.contains("inside /proc"), "{dest}: {e}");
        }
        assert!(check("/procfoo", "tmpfs", None).is_ok());
        assert!(check("/mnt/proc", "tmpfs", None).is_ok());
        assert!(
            check("/proc/sub", "proc", Some("proc")).is_err(),
            "proc on a subdirectory"
        );
    }

    #[test]
    fn tmpcopyup_opens_the_hidden_directory_before_the_mount_and_copies_after() {
        let sys = Recorder::default();
        let s = spec(
            r#"[{"destination":"/run","type":"tmpfs","source":"tmpfs","options":["tmpcopyup","nosuid"]}]"#,
        );
        let host = plain_host(true);
        prepare(&sys, &s, Path::new("/b"), Path::new("/b/r"), &host).unwrap();
        let l: Vec<_> = sys
            .lines()
            .into_iter()
            .skip_while(|l| !l.starts_with("open /b/r/run"))
            .take(4)
            .collect();
        assert_eq!(
            l,
            [
                "open /b/r/run",
                "mount tmpfs /b/r/run tmpfs MS_NOSUID -",
                "target /b/r/run file=false",
                "copyup to /b/r/run"
            ]
        );
    }

    #[test]
    fn recursive_options_are_set_after_the_bind_and_its_remount() {
        let sys = Recorder::default();
        let s = spec(
            r#"[{"destination":"/data","type":"bind","source":"/host","options":["rbind","nosuid","rro"]}]"#,
        );
        let host = plain_host(true);
        // The source must exist: use a directory every machine has.
        let s = {
            let mut s = s;
            let mut m = s.mounts().clone().unwrap();
            m[0].set_source(Some("/".into()));
            s.set_mounts(Some(m));
            s
        };
        prepare(&sys, &s, Path::new("/b"), Path::new("/b/r"), &host).unwrap();
        let l: Vec<_> = sys
            .lines()
            .into_iter()
            .filter(|l| !l.starts_with("target"))
            .collect();
        assert_eq!(l[2], "mount / /b/r/data - MS_BIND | MS_REC -");
        assert_eq!(
            l[3],
            "mount - /b/r/data - MS_NOSUID | MS_REMOUNT | MS_BIND -"
        );
        assert_eq!(l[4], "setattr /b/r/data set=0x1 clr=0x0");
    }

    fn plain_host(mount_ns: bool) -> HostView<'static> {
        HostView {
            cgroup_mounts: &[],
            own_cgroups: "",
            cgroup_ns: true,
            idmapped: &[],
            mount_label: None,
            net_ns: true,
            user_ns: false,
            mount_ns,
        }
    }

    /// The mounts before the rootfs's bind (the parent mount of a path
    /// below a directory no machine mounts is /), the bind, and what
    /// finish sets on the root.
    fn root_calls(propagation: &str) -> (Vec<String>, Vec<String>) {
        let json = format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":"rootfs"}},"mounts":[],
                "linux":{{"rootfsPropagation":"{propagation}"}}}}"#
        );
        let s: Spec = serde_json::from_str(&json).unwrap();
        let root = Path::new("/nonexistent-berth/rootfs");
        let sys = Recorder::default();
        prepare(&sys, &s, Path::new("/b"), root, &plain_host(true)).unwrap();
        let before: Vec<_> = sys.lines().into_iter().take(3).collect();
        let sys = Recorder::default();
        finish(&sys, &s).unwrap();
        (before, sys.lines())
    }

    #[test]
    fn root_propagation_keeps_the_rootfs_bind_off_the_host_and_is_set_on_the_root_last() {
        let bind = "mount /nonexistent-berth/rootfs /nonexistent-berth/rootfs - MS_BIND | MS_REC -";
        let cases: [(&str, &[&str], &[&str]); 6] = [
            // The whole tree already keeps it off the host.
            ("rslave", &["mount - / - MS_REC | MS_SLAVE -", bind], &[]),
            (
                "rprivate",
                &["mount - / - MS_REC | MS_PRIVATE -", bind],
                &[],
            ),
            // Only / changed: the rootfs's parent mount too.
            (
                "slave",
                &["mount - / - MS_SLAVE -", "mount - / - MS_SLAVE -", bind],
                &[],
            ),
            (
                "shared",
                &["mount - / - MS_SHARED -", "mount - / - MS_PRIVATE -", bind],
                &["mount - / - MS_SHARED -"],
            ),
            // Unbindable last: the binds need the tree bindable.
            (
                "unbindable",
                &["mount - / - MS_PRIVATE -", "mount - / - MS_PRIVATE -", bind],
                &["mount - / - MS_UNBINDABLE -"],
            ),
            (
                "runbindable",
                &["mount - / - MS_REC | MS_PRIVATE -", bind],
                &["mount - / - MS_REC | MS_UNBINDABLE -"],
            ),
        ];
        for (mode, before, after) in cases {
            let (b, a) = root_calls(mode);
            assert_eq!(&b[..before.len()], before, "{mode}");
            assert_eq!(a, after, "{mode}");
        }
    }

    /// Without a mount namespace the caller's propagation is left alone:
    /// the rootfs's bind comes first.
    #[test]
    fn without_a_mount_namespace_the_rootfs_bind_is_the_first_mount() {
        let sys = Recorder::default();
        let s = spec(r#"[{"destination":"/proc","type":"proc","source":"proc"}]"#);
        prepare(
            &sys,
            &s,
            Path::new("/b"),
            Path::new("/b/r"),
            &plain_host(false),
        )
        .unwrap();
        let l = sys.lines();
        assert_eq!(l[0], "mount /b/r /b/r - MS_BIND | MS_REC -");
        assert!(!l.iter().any(|x| x.starts_with("mount - / ")), "{l:#?}");
    }

    #[test]
    fn own_cgroup_is_found_per_hierarchy() {
        let cg = hybrid();
        let text = "3:cpu:/user/a\n0::/user/b\n";
        assert_eq!(own_cgroup_path(text, &cg[0]), Some("/user/a"));
        assert_eq!(own_cgroup_path(text, &cg[1]), Some("/user/b"));
    }
}
