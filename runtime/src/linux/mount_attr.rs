//! Mount attributes set with mount_setattr(2), and idmapped bind mounts.
//!
//! mount(2) changes the flags of one mount at a time, so the recursive
//! options (`rro`, `rnosuid`, …) that must reach every mount below a
//! recursive bind take mount_setattr(2) with AT_RECURSIVE. An idmapped mount
//! exists only in the new mount API: the mapping is attached to a detached
//! copy of the source (open_tree) before it is moved onto the target
//! (move_mount), so the container never sees the unmapped tree.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, getpid, pipe2, ForkResult, Pid};
use oci_spec::runtime::LinuxIdMapping;

use crate::error::{Error, Result, SysResult};

/// MOUNT_ATTR_* bits to set and to clear on a mount and every mount below
/// it. The access-time mode is a field, not bits: changing it takes all of
/// MOUNT_ATTR__ATIME in `clr` and the new mode in `set`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MountAttr {
    pub set: u64,
    pub clr: u64,
}

/// `struct mount_attr` of linux/mount.h (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
struct RawMountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::invalid(format!("path {:?} contains a NUL byte", p)))
}

fn sys_mount_setattr(dirfd: i32, path: &CStr, flags: u32, attr: &RawMountAttr) -> nix::Result<()> {
    // SAFETY: `path` is NUL-terminated and `attr` a live mount_attr whose
    // size is passed alongside; the kernel only reads both.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            attr as *const RawMountAttr,
            std::mem::size_of::<RawMountAttr>(),
        )
    };
    Errno::result(r).map(drop)
}

fn sys_open_tree(path: &CStr, flags: u32) -> nix::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    let fd = Errno::result(fd)?;
    // SAFETY: open_tree returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Moves the detached tree `from` onto `to`. `to` is usually a
/// /proc/self/fd/N magic link, which move_mount only follows when asked.
fn sys_move_mount(from: BorrowedFd, to: &CStr) -> nix::Result<()> {
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_SYMLINKS;
    // SAFETY: `from` is an open descriptor, both paths are NUL-terminated
    // and outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            flags,
        )
    };
    Errno::result(r).map(drop)
}

/// Sets and clears `attr` on the mount at `path` and every mount below it.
/// `path` is usually the /proc/self/fd/N of a target resolved in the
/// rootfs: a magic link that must be followed, hence no
/// AT_SYMLINK_NOFOLLOW.
pub fn set_recursive(path: &Path, attr: &MountAttr) -> Result<()> {
    let c = cpath(path)?;
    let raw = RawMountAttr {
        attr_set: attr.set,
        attr_clr: attr.clr,
        propagation: 0,
        userns_fd: 0,
    };
    sys_mount_setattr(libc::AT_FDCWD, &c, libc::AT_RECURSIVE as u32, &raw)
        .sys_path("mount_setattr", path)
}

/// Bind-mounts `source` (with the mounts below it when `recursive`) on
/// `target`, shifting its file owners through the mappings of `userns`.
/// `target` must already exist; it is usually a /proc/self/fd/N from
/// `Syscall::target_in_root`.
pub fn bind_idmapped(
    source: &Path,
    target: &Path,
    userns: BorrowedFd,
    recursive: bool,
) -> Result<()> {
    let tree = idmapped_tree(source, userns, recursive)?;
    attach_tree(tree.as_fd(), source, target)
}

/// The first half of [`bind_idmapped`]: a detached, idmapped copy of
/// `source`. It is separate for a caller that must build the tree in the
/// host user namespace (the kernel idmaps only filesystems whose owner
/// namespace the caller controls) and attach it from another process.
pub fn idmapped_tree(source: &Path, userns: BorrowedFd, recursive: bool) -> Result<OwnedFd> {
    let src = cpath(source)?;
    let rec = if recursive {
        libc::AT_RECURSIVE as u32
    } else {
        0
    };
    let tree = sys_open_tree(&src, libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | rec)
        .sys_path("open_tree", source)?;
    let attr = RawMountAttr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    sys_mount_setattr(
        tree.as_raw_fd(),
        c"",
        libc::AT_EMPTY_PATH as u32 | rec,
        &attr,
    )
    .sys_path("mount_setattr idmap", source)?;
    Ok(tree)
}

/// A detached copy of `source` (with the mounts below it when
/// `recursive`), as [`idmapped_tree`] makes but without a mapping, for
/// [`attach_tree`] in a process that may not reach `source` itself.
pub fn clone_tree(source: &Path, recursive: bool) -> Result<OwnedFd> {
    let src = cpath(source)?;
    let rec = if recursive {
        libc::AT_RECURSIVE as u32
    } else {
        0
    };
    sys_open_tree(&src, libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | rec)
        .sys_path("open_tree", source)
}

/// The second half of [`bind_idmapped`]: moves the detached `tree` (made
/// from `source`, named in errors) onto `target`. Closing a tree that was
/// not attached unmounts it again.
pub fn attach_tree(tree: BorrowedFd, source: &Path, target: &Path) -> Result<()> {
    let dst = cpath(target)?;
    sys_move_mount(tree, &dst).map_err(|e| {
        Error::sys(
            format_args!("move_mount {} to {}", source.display(), target.display()),
            e,
        )
    })
}

/// A user namespace holding exactly these mappings, as an fd for
/// `bind_idmapped`. The caller's /proc must be that of its own pid
/// namespace, since the namespace is set up through /proc/CHILD.
pub fn userns_with_mappings(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<OwnedFd> {
    if uid.is_empty() || gid.is_empty() {
        return Err(Error::invalid(
            "an idmapped mount needs both uid and gid mappings",
        ));
    }
    check_proc_is_ours()?;
    let holder = NsHolder::spawn()?;
    write_map(&holder.proc("uid_map"), uid)?;
    write_map(&holder.proc("gid_map"), gid)?;
    let ns = holder.proc("ns/user");
    let file = File::open(&ns).sys_path("open", &ns)?;
    // The open fd keeps the namespace alive once the holder is gone.
    Ok(OwnedFd::from(file))
}

/// Inside a new pid namespace with the host's /proc still mounted,
/// /proc/PID would name some other process than the child forked here.
fn check_proc_is_ours() -> Result<()> {
    let link = Path::new("/proc/self");
    let seen = std::fs::read_link(link).sys_path("readlink", link)?;
    if seen != Path::new(&getpid().to_string()) {
        return Err(Error::invalid(format!(
            "/proc is not mounted for berth's pid namespace (/proc/self is {}, pid is {})",
            seen.display(),
            getpid()
        )));
    }
    Ok(())
}

fn map_lines(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// The kernel takes a whole map in one write(2), which fs::write does for
/// a map this small.
fn write_map(path: &Path, maps: &[LinuxIdMapping]) -> Result<()> {
    std::fs::write(path, map_lines(maps)).sys_path("write", path)
}

/// A child that sits in a new user namespace so that the parent can map
/// and open it. Dropping it kills and reaps the child, so no error path
/// leaves a process behind.
struct NsHolder {
    pid: Pid,
    /// If berth dies before the drop, closing this lets the child exit.
    _release: OwnedFd,
}

impl NsHolder {
    fn spawn() -> Result<Self> {
        let (ready_r, ready_w) = pipe2(OFlag::O_CLOEXEC).sys("pipe")?;
        let (release_r, release_w) = pipe2(OFlag::O_CLOEXEC).sys("pipe")?;
        // SAFETY: until it exits the child makes only raw system calls
        // (close, unshare, write, read, _exit), which are async-signal-safe,
        // so forking is sound even where other threads exist (tests).
        match unsafe { fork() }.sys("fork")? {
            ForkResult::Child => {
                drop(ready_r);
                drop(release_w);
                hold_userns(ready_w, release_r)
            }
            ForkResult::Parent { child } => {
                drop(ready_w);
                drop(release_r);
                let holder = NsHolder {
                    pid: child,
                    _release: release_w,
                };
                holder.wait_ready(ready_r)?;
                Ok(holder)
            }
        }
    }

    /// The child reports unshare's errno (0 for success) as 4 bytes.
    fn wait_ready(&self, ready: OwnedFd) -> Result<()> {
        let mut buf = [0u8; 4];
        let n = loop {
            match nix::unistd::read(ready.as_raw_fd(), &mut buf) {
                Err(Errno::EINTR) => continue,
                r => break r.sys("read from user namespace child")?,
            }
        };
        if n != buf.len() {
            return Err(Error::sys(
                "user namespace child exited early",
                Errno::ECHILD,
            ));
        }
        match i32::from_ne_bytes(buf) {
            0 => Ok(()),
            e => Err(Error::sys("unshare CLONE_NEWUSER", Errno::from_raw(e))),
        }
    }

    fn proc(&self, file: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/{file}", self.pid))
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        let _ = kill(self.pid, Signal::SIGKILL);
        while let Err(Errno::EINTR) = waitpid(self.pid, None) {}
    }
}

/// The child's side: unshare, report, then block until killed or until
/// the parent's end of `release` closes.
fn hold_userns(ready: OwnedFd, release: OwnedFd) -> ! {
    let errno = match unshare(CloneFlags::CLONE_NEWUSER) {
        Ok(()) => 0,
        Err(e) => e as i32,
    };
    let _ = nix::unistd::write(&ready, &errno.to_ne_bytes());
    let mut byte = [0u8; 1];
    while let Err(Errno::EINTR) = nix::unistd::read(release.as_raw_fd(), &mut byte) {}
    // SAFETY: _exit skips the atexit handlers and stdio buffers, which are
    // the parent's to run and flush.
    unsafe { libc::_exit(0) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::syscall::{Linux, Syscall};
    use nix::mount::{mount, MsFlags};
    use nix::sys::wait::{WaitPidFlag, WaitStatus};
    use oci_spec::runtime::LinuxIdMappingBuilder;
    use std::os::unix::fs::MetadataExt;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn mapping(container: u32, host: u32, size: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(container)
            .host_id(host)
            .size(size)
            .build()
            .unwrap()
    }

    #[test]
    fn maps_are_written_as_container_host_size_lines() {
        let m = [mapping(0, 1000, 1), mapping(1, 100000, 65536)];
        assert_eq!(map_lines(&m), "0 1000 1\n1 100000 65536\n");
    }

    #[test]
    fn userns_needs_both_maps() {
        let e = userns_with_mappings(&[mapping(0, 1000, 1)], &[]).unwrap_err();
        assert_eq!(e.kind(), crate::error::Kind::Invalid);
    }

    fn is_root() -> bool {
        if nix::unistd::geteuid().is_root() {
            return true;
        }
        eprintln!("skipped: needs root");
        false
    }

    /// A fresh directory under the temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("berth-mattr-{}-{tag}-{n}", getpid()));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Runs `f` in a forked child, in a private mount namespace of its own
    /// (unshare(CLONE_NEWNS) is refused to a multi-threaded process, and the
    /// test harness is one); the child's exit code carries the verdict, and
    /// its mounts vanish with it.
    fn in_private_mount_ns(f: impl FnOnce() -> std::result::Result<(), String>) {
        // SAFETY: the child runs only `f` and then _exits; glibc keeps
        // malloc usable after fork, which is all the tests rely on.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let r = unshare(CloneFlags::CLONE_NEWNS)
                    .map_err(|e| format!("unshare: {e}"))
                    .and_then(|()| {
                        mount(
                            None::<&str>,
                            "/",
                            None::<&str>,
                            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                            None::<&str>,
                        )
                        .map_err(|e| format!("make / private: {e}"))
                    })
                    .and_then(|()| f());
                let code = match r {
                    Ok(()) => 0,
                    Err(msg) => {
                        let msg = format!("child: {msg}\n");
                        // SAFETY: writes a live buffer to stderr.
                        unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
                        1
                    }
                };
                // SAFETY: leaves without running the harness's atexit state.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                let status = waitpid(child, None).unwrap();
                assert_eq!(status, WaitStatus::Exited(child, 0));
            }
        }
    }

    fn tmpfs(at: &Path) -> std::result::Result<(), String> {
        mount(
            Some("tmpfs"),
            at,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("mode=755"),
        )
        .map_err(|e| format!("mount tmpfs on {}: {e}", at.display()))
    }

    fn write_fails_with(path: &Path, want: Errno) -> std::result::Result<(), String> {
        match std::fs::write(path, "x") {
            Err(e) if e.raw_os_error() == Some(want as i32) => Ok(()),
            r => Err(format!("write {}: got {r:?}, want {want}", path.display())),
        }
    }

    #[test]
    fn mount_setattr_rdonly_reaches_submounts() {
        if !is_root() {
            return;
        }
        let (a, b) = (TempDir::new("src"), TempDir::new("dst"));
        in_private_mount_ns(|| {
            let sub = a.0.join("sub");
            let inner = sub.join("inner");
            tmpfs(&a.0)?;
            std::fs::create_dir_all(&inner).map_err(|e| e.to_string())?;
            tmpfs(&inner)?;
            std::fs::write(sub.join("file"), "x").map_err(|e| e.to_string())?;
            std::fs::write(inner.join("file"), "x").map_err(|e| e.to_string())?;
            let rbind = MsFlags::MS_BIND | MsFlags::MS_REC;
            mount(Some(&sub), &b.0, None::<&str>, rbind, None::<&str>)
                .map_err(|e| format!("rbind: {e}"))?;
            let t = Linux::default()
                .target_in_root(&b.0, Path::new("/"), false)
                .map_err(|e| e.to_string())?;
            let attr = MountAttr {
                set: libc::MOUNT_ATTR_RDONLY,
                clr: 0,
            };
            set_recursive(&t.path, &attr).map_err(|e| e.to_string())?;
            write_fails_with(&b.0.join("file"), Errno::EROFS)?;
            write_fails_with(&b.0.join("inner/file"), Errno::EROFS)?;
            // Only the bind mounts turned read-only, not their sources.
            std::fs::write(inner.join("file"), "y").map_err(|e| e.to_string())
        });
    }

    #[test]
    fn mount_idmapped_bind_shifts_owners() {
        if !is_root() {
            return;
        }
        let (a, b) = (TempDir::new("src"), TempDir::new("dst"));
        in_private_mount_ns(|| {
            tmpfs(&a.0)?;
            std::fs::write(a.0.join("file"), "x").map_err(|e| e.to_string())?;
            let ns = userns_with_mappings(&[mapping(0, 1000, 1)], &[mapping(0, 1000, 1)])
                .map_err(|e| e.to_string())?;
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Err(Errno::ECHILD) => {}
                r => return Err(format!("user namespace child left behind: {r:?}")),
            }
            let t = Linux::default()
                .target_in_root(&b.0, Path::new("/"), false)
                .map_err(|e| e.to_string())?;
            bind_idmapped(&a.0, &t.path, ns.as_fd(), false).map_err(|e| e.to_string())?;
            let md = std::fs::metadata(b.0.join("file")).map_err(|e| e.to_string())?;
            if (md.uid(), md.gid()) != (1000, 1000) {
                return Err(format!("owner {}:{}, want 1000:1000", md.uid(), md.gid()));
            }
            let md = std::fs::metadata(a.0.join("file")).map_err(|e| e.to_string())?;
            match (md.uid(), md.gid()) {
                (0, 0) => Ok(()),
                (u, g) => Err(format!("source owner {u}:{g} changed")),
            }
        });
    }
}
