//! The system calls that build a root filesystem, behind a trait.
//!
//! init/rootfs.rs and init/devices.rs talk only to [`Syscall`], so the order and flags
//! of every mount are unit-tested with [`fake::Recorder`], without root.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};

use crate::error::{Error, Result, SysResult};
use crate::linux::mount_attr::MountAttr;

/// A place to mount on. For the real system it is `/proc/self/fd/N` of an
/// O_PATH descriptor that was resolved inside the rootfs, so a symlink in
/// the rootfs can never send a mount to the host; the fd lives as long as
/// the target.
pub struct Target {
    pub path: PathBuf,
    _fd: Option<OwnedFd>,
}

impl Target {
    /// A path below a resolved target, which holds that target's
    /// descriptor open itself (see [`Syscall::mkdir`]).
    pub fn named(path: &Path) -> Target {
        Target {
            path: path.to_path_buf(),
            _fd: None,
        }
    }
}

/// `path` made relative and clean, as a mount destination or cgroup path
/// is read: `..` never climbs above the root it is taken from.
pub fn lexical(path: &Path) -> PathBuf {
    let mut rel = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => rel.push(n),
            Component::ParentDir => {
                rel.pop();
            }
            _ => {}
        }
    }
    rel
}

pub trait Syscall {
    /// Resolves `path` inside `root` as if `root` were `/`, creating missing
    /// directories, and the last component as an empty file when `file`.
    fn target_in_root(&self, root: &Path, path: &Path, file: bool) -> Result<Target>;
    /// Resolves `path` inside `root` as [`Syscall::target_in_root`] does,
    /// but creates nothing: None when it does not exist.
    fn find_in_root(&self, root: &Path, path: &Path) -> Result<Option<Target>>;
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<()>;
    fn umount(&self, target: &Path, flags: MntFlags) -> Result<()>;
    fn mknod(&self, path: &Path, kind: SFlag, mode: u32, dev: u64) -> Result<()>;
    fn symlink(&self, target: &Path, link: &Path) -> Result<()>;
    /// A directory at `path`, which must not exist yet: a mount point in a
    /// tmpfs init has just mounted, which nothing else can see yet, so the
    /// path (below a resolved [`Target`]) needs no resolving in the root.
    fn mkdir(&self, path: &Path) -> Result<()>;
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<()>;
    /// mount_setattr(2) with AT_RECURSIVE (the `r*` mount options).
    fn set_recursive(&self, target: &Path, attr: &MountAttr) -> Result<()>;
    /// Attaches a detached mount tree (an idmapped bind mount prepared by
    /// the parent) at `target`.
    fn attach_tree(&self, tree: BorrowedFd, source: &Path, target: &Path) -> Result<()>;
    /// Opens a resolved target as a readable directory (what a mount is
    /// about to hide, for `tmpcopyup`).
    fn open_dir(&self, target: &Path) -> Result<OwnedFd>;
    /// Copies the tree below `from` into the directory `to` (`tmpcopyup`).
    fn copy_tree(&self, from: BorrowedFd, to: &Path) -> Result<()>;
    /// Whether `path` is on a proc filesystem.
    fn is_procfs(&self, path: &Path) -> bool;
}

/// The real system. It keeps the rootfs it resolves targets in open from
/// one call to the next: reopening it by path for every mount target cost
/// an openat2 of the whole bundle path and a close each time, about 30 per
/// container. The descriptor goes stale when something is mounted on the
/// rootfs directory itself (a destination of `/`, a link in the image that
/// resolves to it, or the rootfs's own bind): then it is dropped and the
/// next target reopens the root by path, which sees the new mount.
#[derive(Default)]
pub struct Linux {
    root: std::cell::RefCell<Option<OpenRoot>>,
}

struct OpenRoot {
    path: PathBuf,
    fd: OwnedFd,
    /// The directory's identity, to recognise a target that resolved to it.
    id: (u64, u64),
}

impl Linux {
    /// `root` opened, or the copy kept from the last call for that path.
    fn root_fd(&self, root: &Path) -> Result<BorrowedFd<'_>> {
        let mut kept = self.root.borrow_mut();
        if kept.as_ref().is_none_or(|k| k.path != root) {
            let fd = openat2(libc::AT_FDCWD, root, OFlag::O_PATH | OFlag::O_DIRECTORY, 0)
                .sys_path("open", root)?;
            let id = file_id(fd.as_fd()).sys_path("fstat", root)?;
            *kept = Some(OpenRoot {
                path: root.to_path_buf(),
                fd,
                id,
            });
        }
        let raw = kept.as_ref().expect("set above").fd.as_raw_fd();
        // SAFETY: the kept descriptor is closed only by `forget_if_root`,
        // by `mount` on the root's path, or by this function for another
        // root. Its two callers, target_in_root and find_in_root, mount
        // nothing and call nothing else of `self` while they use the
        // borrow, and call `forget_if_root` only after their last use of it.
        Ok(unsafe { BorrowedFd::borrow_raw(raw) })
    }

    /// Drops the kept root if `fd` is that very directory: a mount on it
    /// is about to hide what the kept descriptor sees.
    fn forget_if_root(&self, fd: BorrowedFd) {
        let mut kept = self.root.borrow_mut();
        if let Some(k) = kept.as_ref() {
            if file_id(fd).is_ok_and(|id| id == k.id) {
                *kept = None;
            }
        }
    }
}

/// (st_dev, st_ino) of an open file.
fn file_id(fd: BorrowedFd) -> nix::Result<(u64, u64)> {
    let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
    Ok((st.st_dev as u64, st.st_ino as u64))
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

/// openat2(2), which nix 0.29 does not wrap.
pub(crate) fn openat2(dirfd: i32, path: &Path, flags: OFlag, resolve: u64) -> nix::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | OFlag::O_CLOEXEC).bits() as u64;
    how.resolve = resolve;
    // A `..` resolved while any mount or rename happens on the host makes
    // the kernel give up with EAGAIN rather than risk a wrong answer: a
    // busy host (other containers starting) needs a few tries.
    let mut tries = 0;
    loop {
        // SAFETY: `c` and `how` outlive the call and `how`'s size is passed;
        // the returned descriptor is fresh and owned by nobody else.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        match Errno::result(fd) {
            Err(Errno::EAGAIN) if tries < 1000 => tries += 1,
            r => return r.map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        }
    }
}

const IN_ROOT: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

impl Syscall for Linux {
    fn target_in_root(&self, root: &Path, path: &Path, file: bool) -> Result<Target> {
        let what = || format!("{} in {}", path.display(), root.display());
        let rootfd = self.root_fd(root)?;
        // Lexically, as a mount destination is read: `..` never climbs
        // above the root.
        let rel = lexical(path);
        let found = if rel.as_os_str().is_empty() {
            Ok(rootfd.try_clone_to_owned().sys("dup")?)
        } else {
            openat2(rootfd.as_raw_fd(), &rel, OFlag::O_PATH, IN_ROOT)
        };
        let fd = match found {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => create_in_root(rootfd, &rel, file, 0).with_ctx(what)?,
            Err(e) => return Err(Error::sys(format_args!("resolve {}", what()), e)),
        };
        self.forget_if_root(fd.as_fd());
        Ok(Target {
            path: PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
            _fd: Some(fd),
        })
    }

    fn find_in_root(&self, root: &Path, path: &Path) -> Result<Option<Target>> {
        let rel = lexical(path);
        let found = if root == Path::new("/") {
            // From the process's own root nothing climbs above it: only
            // magic links need refusing, and the root need not be opened.
            let abs = root.join(&rel);
            openat2(
                libc::AT_FDCWD,
                &abs,
                OFlag::O_PATH,
                libc::RESOLVE_NO_MAGICLINKS,
            )
        } else {
            let rootfd = self.root_fd(root)?;
            match rel.as_os_str().is_empty() {
                true => rootfd
                    .try_clone_to_owned()
                    .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EBADF))),
                false => openat2(rootfd.as_raw_fd(), &rel, OFlag::O_PATH, IN_ROOT),
            }
        };
        if let Ok(fd) = &found {
            self.forget_if_root(fd.as_fd());
        }
        match found {
            Ok(fd) => Ok(Some(Target {
                path: PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
                _fd: Some(fd),
            })),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(Error::sys(
                format_args!("resolve {} in {}", path.display(), root.display()),
                e,
            )),
        }
    }

    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<()> {
        if self
            .root
            .borrow()
            .as_ref()
            .is_some_and(|k| k.path == target)
        {
            *self.root.borrow_mut() = None;
        }
        nix::mount::mount(source, target, fstype, flags, data).map_err(|e| {
            Error::sys(
                format_args!(
                    "mount {} on {} (type {}, flags {:#x}, data {:?})",
                    source.map_or("none".into(), |s| s.display().to_string()),
                    target.display(),
                    fstype.unwrap_or("none"),
                    flags.bits(),
                    data.unwrap_or("")
                ),
                e,
            )
        })
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> Result<()> {
        nix::mount::umount2(target, flags).sys_path("umount", target)
    }

    fn set_recursive(&self, target: &Path, attr: &MountAttr) -> Result<()> {
        crate::linux::mount_attr::set_recursive(target, attr)
    }

    fn attach_tree(&self, tree: BorrowedFd, source: &Path, target: &Path) -> Result<()> {
        crate::linux::mount_attr::attach_tree(tree, source, target)
    }

    fn open_dir(&self, target: &Path) -> Result<OwnedFd> {
        nix::fcntl::open(
            target,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map(|fd| {
            // SAFETY: a fresh fd from open(2).
            unsafe { OwnedFd::from_raw_fd(fd) }
        })
        .sys_path("open", target)
    }

    fn copy_tree(&self, from: BorrowedFd, to: &Path) -> Result<()> {
        let to = self.open_dir(to)?;
        crate::linux::copy_up::copy_tree(from, to.as_fd())
    }

    fn is_procfs(&self, path: &Path) -> bool {
        nix::sys::statfs::statfs(path)
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
    }

    fn mknod(&self, path: &Path, kind: SFlag, mode: u32, dev: u64) -> Result<()> {
        nix::sys::stat::mknod(path, kind, Mode::from_bits_truncate(mode), dev)
            .sys_path("mknod", path)
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<()> {
        std::os::unix::fs::symlink(target, link).sys_path("symlink", link)
    }

    fn mkdir(&self, path: &Path) -> Result<()> {
        nix::unistd::mkdir(path, Mode::from_bits_truncate(0o755)).sys_path("mkdir", path)
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<()> {
        let c = cpath(path);
        // SAFETY: a valid NUL-terminated path; lchown does not follow links.
        Errno::result(unsafe { libc::lchown(c.as_ptr(), uid, gid) })
            .map(drop)
            .sys_path("chown", path)
    }
}

trait WithCtx<T> {
    fn with_ctx<F: FnOnce() -> String>(self, f: F) -> Result<T>;
}
impl<T> WithCtx<T> for Result<T> {
    fn with_ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        crate::error::Context::with_context(self, f)
    }
}

/// Creates the missing components of `rel` one at a time, each resolved
/// inside the root, so that a symlink met on the way stays inside it. A
/// symlink whose target does not exist yet is followed by hand (its target
/// read as if the root were `/`) and the target is created, as runc does.
///
/// Mostly only the last component is missing (a mount point such as
/// `dev/pts`, `sys/fs/cgroup/cpu`), so the parent is tried first, and the
/// walk from the top only when it is missing too.
fn create_in_root(rootfd: BorrowedFd, rel: &Path, file: bool, links: u32) -> Result<OwnedFd> {
    let comps: Vec<_> = rel.components().collect();
    let Some(last_comp) = comps.len().checked_sub(1) else {
        return rootfd.try_clone_to_owned().sys("dup");
    };
    let above = rel.parent().filter(|p| !p.as_os_str().is_empty());
    let (mut parent, first) = match above {
        None => (rootfd.try_clone_to_owned().sys("dup")?, 0),
        Some(dir) => match openat2(rootfd.as_raw_fd(), dir, OFlag::O_PATH, IN_ROOT) {
            Ok(fd) => (fd, last_comp),
            Err(Errno::ENOENT) => (rootfd.try_clone_to_owned().sys("dup")?, 0),
            Err(e) => return Err(Error::path("resolve", dir, e)),
        },
    };
    let mut prefix: PathBuf = comps[..first].iter().collect();
    for (i, comp) in comps.iter().enumerate().skip(first) {
        prefix.push(comp);
        let last = i == last_comp;
        // The last one was just found missing (by the caller, or because
        // its parent was).
        if !last {
            match openat2(rootfd.as_raw_fd(), &prefix, OFlag::O_PATH, IN_ROOT) {
                Ok(fd) => {
                    parent = fd;
                    continue;
                }
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(Error::path("resolve", &prefix, e)),
            }
        }
        let name = cpath(Path::new(comp.as_os_str()));
        // SAFETY: `parent` is an open directory fd and `name` one component.
        let r = if last && file {
            unsafe { libc::mknodat(parent.as_raw_fd(), name.as_ptr(), libc::S_IFREG | 0o644, 0) }
        } else {
            unsafe { libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o755) }
        };
        match Errno::result(r) {
            Ok(_) => {}
            Err(Errno::EEXIST) => {
                if let Some(target) = readlink_at(&parent, &name) {
                    if links >= 40 {
                        return Err(Error::path("resolve", &prefix, Errno::ELOOP));
                    }
                    let base = match target.strip_prefix("/") {
                        Ok(abs) => abs.to_path_buf(),
                        Err(_) => prefix.parent().unwrap_or(Path::new("")).join(&target),
                    };
                    let rest: PathBuf = comps[i + 1..].iter().collect();
                    return create_in_root(rootfd, &base.join(rest), file, links + 1);
                }
            }
            Err(e) => return Err(Error::path("create", &prefix, e)),
        }
        parent = openat2(rootfd.as_raw_fd(), &prefix, OFlag::O_PATH, IN_ROOT)
            .sys_path("open", &prefix)?;
    }
    Ok(parent)
}

/// The target of a symlink `name` in `dir`, or None if it is not one.
fn readlink_at(dir: &OwnedFd, name: &CString) -> Option<PathBuf> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: buf is writable for its length, name is NUL-terminated.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n).ok()?;
    buf.truncate(n);
    Some(PathBuf::from(std::ffi::OsString::from_vec(buf)))
}

#[cfg(test)]
pub mod fake {
    //! Records every call as one line of text, for tests to compare.
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    pub struct Recorder {
        pub calls: RefCell<Vec<String>>,
        /// Paths whose mknod fails with EPERM (as in a user namespace).
        pub mknod_eperm: bool,
        /// Mounts of this filesystem type fail with this errno.
        pub mount_fails: Option<(&'static str, Errno)>,
    }

    impl Recorder {
        fn push(&self, s: String) {
            self.calls.borrow_mut().push(s);
        }
        pub fn lines(&self) -> Vec<String> {
            self.calls.borrow().clone()
        }
    }

    impl Syscall for Recorder {
        fn target_in_root(&self, root: &Path, path: &Path, file: bool) -> Result<Target> {
            let rel = path.strip_prefix("/").unwrap_or(path);
            let p = if rel.as_os_str().is_empty() {
                root.to_path_buf()
            } else {
                root.join(rel)
            };
            self.push(format!("target {} file={file}", p.display()));
            Ok(Target { path: p, _fd: None })
        }
        fn find_in_root(&self, root: &Path, path: &Path) -> Result<Option<Target>> {
            let p = root.join(lexical(path));
            self.push(format!("find {}", p.display()));
            Ok(Some(Target { path: p, _fd: None }))
        }
        fn mount(
            &self,
            source: Option<&Path>,
            target: &Path,
            fstype: Option<&str>,
            flags: MsFlags,
            data: Option<&str>,
        ) -> Result<()> {
            if let Some((t, errno)) = self.mount_fails {
                if fstype == Some(t) {
                    return Err(Error::path("mount", target, errno));
                }
            }
            self.push(format!(
                "mount {} {} {} {} {}",
                source.map_or("-".into(), |s| s.display().to_string()),
                target.display(),
                fstype.unwrap_or("-"),
                format!("{flags:?}")
                    .trim_start_matches("MsFlags(")
                    .trim_end_matches(')'),
                data.unwrap_or("-")
            ));
            Ok(())
        }
        fn umount(&self, target: &Path, _flags: MntFlags) -> Result<()> {
            self.push(format!("umount {}", target.display()));
            Ok(())
        }
        fn mknod(&self, path: &Path, _kind: SFlag, mode: u32, dev: u64) -> Result<()> {
            if self.mknod_eperm {
                return Err(Error::path("mknod", path, Errno::EPERM));
            }
            self.push(format!("mknod {} {mode:o} {dev:#x}", path.display()));
            Ok(())
        }
        fn symlink(&self, target: &Path, link: &Path) -> Result<()> {
            self.push(format!(
                "symlink {} -> {}",
                link.display(),
                target.display()
            ));
            Ok(())
        }
        fn mkdir(&self, path: &Path) -> Result<()> {
            self.push(format!("mkdir {}", path.display()));
            Ok(())
        }
        fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<()> {
            self.push(format!("chown {} {uid}:{gid}", path.display()));
            Ok(())
        }
        fn set_recursive(&self, target: &Path, attr: &MountAttr) -> Result<()> {
            self.push(format!(
                "setattr {} set={:#x} clr={:#x}",
                target.display(),
                attr.set,
                attr.clr
            ));
            Ok(())
        }
        fn attach_tree(&self, _tree: BorrowedFd, source: &Path, target: &Path) -> Result<()> {
            self.push(format!(
                "attach {} on {}",
                source.display(),
                target.display()
            ));
            Ok(())
        }
        fn open_dir(&self, target: &Path) -> Result<OwnedFd> {
            self.push(format!("open {}", target.display()));
            std::fs::File::open("/")
                .map(OwnedFd::from)
                .map_err(|_| Error::path("open", target, Errno::EIO))
        }
        fn copy_tree(&self, _from: BorrowedFd, to: &Path) -> Result<()> {
            self.push(format!("copyup to {}", to.display()));
            Ok(())
        }
        /// Paths named …/proc… are "on procfs" (no call recorded).
        fn is_procfs(&self, path: &Path) -> bool {
            path.components().any(|c| c.as_os_str() == "proc")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rootfs stays open from one target to the next, and is dropped
    /// when a target is the rootfs directory itself (a destination of `/`,
    /// or a link in the image that leads there): a mount on it would hide
    /// what the kept descriptor sees.
    #[test]
    fn the_kept_root_is_dropped_for_a_target_that_is_the_root() {
        let root = std::env::temp_dir().join(format!("berth-keptroot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::os::unix::fs::symlink("/", root.join("up")).unwrap();
        std::os::unix::fs::symlink("a/..", root.join("back")).unwrap();
        let sys = Linux::default();
        let kept = |sys: &Linux| sys.root.borrow().as_ref().map(|k| k.fd.as_raw_fd());
        drop(sys.target_in_root(&root, Path::new("/a"), false).unwrap());
        let first = kept(&sys).expect("kept after a target");
        drop(sys.target_in_root(&root, Path::new("/b/c"), false).unwrap());
        assert_eq!(kept(&sys), Some(first), "reused for the next target");
        for to_root in ["/", "/up", "/back", "/a/.."] {
            drop(sys.target_in_root(&root, Path::new("/a"), false).unwrap());
            assert!(kept(&sys).is_some());
            drop(
                sys.target_in_root(&root, Path::new(to_root), false)
                    .unwrap(),
            );
            assert_eq!(kept(&sys), None, "{to_root} is the root");
        }
        // A mount on the root's own path (the rootfs's bind) drops it too;
        // the mount itself fails here, without privilege or not.
        drop(sys.target_in_root(&root, Path::new("/a"), false).unwrap());
        let _ = sys.mount(None, &root, None, MsFlags::MS_REMOUNT, None);
        assert_eq!(kept(&sys), None);
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// Missing mount targets are made inside the root: only the last
    /// component, a whole missing path, and through symlinks (absolute,
    /// relative, dangling), which never lead out of it.
    #[test]
    fn targets_are_created_inside_the_root() {
        let root = std::env::temp_dir().join(format!("berth-target-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("dev")).unwrap();
        std::os::unix::fs::symlink("/etc/elsewhere", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../up", root.join("dev/rel")).unwrap();
        let made = |path: &str, file: bool| {
            let t = Linux::default()
                .target_in_root(&root, Path::new(path), file)
                .unwrap();
            std::fs::canonicalize(&t.path).unwrap()
        };
        let root_real = std::fs::canonicalize(&root).unwrap();
        assert_eq!(made("dev/pts", false), root_real.join("dev/pts"));
        assert_eq!(
            made("sys/fs/cgroup/cpu", false),
            root_real.join("sys/fs/cgroup/cpu")
        );
        assert_eq!(made("abs/x", false), root_real.join("etc/elsewhere/x"));
        assert_eq!(made("dev/rel/y", true), root_real.join("up/y"));
        assert!(root.join("up/y").is_file());
        assert_eq!(
            made("dev/pts", false),
            root_real.join("dev/pts"),
            "existing"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// What is found is inside the root, nothing is made, and no magic
    /// link is passed (from the process's own root neither).
    #[test]
    fn paths_are_found_inside_the_root_and_never_through_a_magic_link() {
        let root = std::env::temp_dir().join(format!("berth-find-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/file"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap();
        let t = Linux::default()
            .find_in_root(&root, Path::new("/abs/file"))
            .unwrap();
        let found = std::fs::canonicalize(t.unwrap().path).unwrap();
        assert_eq!(found, std::fs::canonicalize(root.join("etc/file")).unwrap());
        assert!(Linux::default()
            .find_in_root(&root, Path::new("/missing/x"))
            .unwrap()
            .is_none());
        assert!(!root.join("missing").exists());
        let magic = Linux::default().find_in_root(Path::new("/"), Path::new("/proc/self/root/etc"));
        assert_eq!(magic.err().and_then(|e| e.errno()), Some(Errno::ELOOP));
        assert!(Linux::default()
            .find_in_root(Path::new("/"), Path::new("/proc/self/status"))
            .unwrap()
            .is_some());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
