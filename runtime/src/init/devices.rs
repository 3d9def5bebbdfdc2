//! The container's /dev: the default devices every container gets
//! (runtime-spec config-linux.md, "Default Devices"), their symlinks, and
//! the devices listed in `linux.devices`.
//!
//! Every node is made in a directory resolved inside the rootfs (see
//! [`Syscall::target_in_root`]), so a symlink in the image cannot place a
//! device node on the host.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::{makedev, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use crate::error::{Context, Error, Result, SysResult};
use crate::linux::syscall::{Syscall, Target};

/// name, major, minor: all character devices, mode 0666, owned by root.
pub const DEFAULT: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// One node to create.
struct Node<'a> {
    path: &'a Path,
    kind: SFlag,
    dev: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

pub fn create_default(sys: &dyn Syscall, rootfs: &Path) -> Result<()> {
    // /dev is resolved once for all of them.
    let dev = sys.target_in_root(rootfs, Path::new("/dev"), false)?;
    for (name, major, minor) in DEFAULT {
        let path = Path::new("/dev").join(name);
        let node = Node {
            path: &path,
            kind: SFlag::S_IFCHR,
            dev: makedev(major, minor),
            mode: 0o666,
            uid: 0,
            gid: 0,
        };
        make_node_in(sys, rootfs, &dev, &node).context("default devices")?;
    }
    for (name, target) in LINKS {
        let link = dev.path.join(name);
        if name == "ptmx" {
            let _ = std::fs::remove_file(&link);
        }
        match sys.symlink(Path::new(target), &link) {
            Err(e) if e.errno() == Some(Errno::EEXIST) => {}
            r => r?,
        }
    }
    Ok(())
}

/// `linux.devices`, after the default ones (an entry may replace one).
pub fn create_from_spec(sys: &dyn Syscall, rootfs: &Path, devices: &[LinuxDevice]) -> Result<()> {
    for (i, d) in devices.iter().enumerate() {
        let ctx = || format!("linux.devices[{i}] ({})", d.path().display());
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::invalid("type \"a\" is only for cgroup rules")).with_context(ctx)
            }
        };
        if !d.path().is_absolute() || d.path().parent().is_none() {
            return Err(Error::invalid("path must be absolute and not /")).with_context(ctx);
        }
        let (major, minor) = (d.major(), d.minor());
        if kind != SFlag::S_IFIFO && (major < 0 || minor < 0) {
            return Err(Error::invalid("major and minor are required")).with_context(ctx);
        }
        let node = Node {
            path: d.path(),
            kind,
            dev: makedev(major.max(0) as u64, minor.max(0) as u64),
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        make_node(sys, rootfs, &node).with_context(ctx)?;
    }
    Ok(())
}

/// Whether `st` is the null device (char 1:3), wherever its node is.
pub fn is_null_device(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == makedev(1, 3)
}

/// Stdio that is a null device (`run -d ID </dev/null` hands over the
/// host's /dev/null) becomes the container's own /dev/null, as runc makes
/// it: the host's node is on a mount the container does not have, and
/// CRIU cannot dump a descriptor of it. Called after pivot_root, when
/// berth has made the container's /dev nodes (not with /dev bound from
/// the host, where runc leaves stdio alone too); descriptors past 2 are
/// the caller's to pass as they are.
pub fn reopen_null_stdio() -> Result<()> {
    let mut null: Option<OwnedFd> = None;
    for fd in 0..3 {
        // A closed stdio descriptor stays closed.
        let Ok(st) = nix::sys::stat::fstat(fd) else {
            continue;
        };
        if !is_null_device(&st) {
            continue;
        }
        let own = match &null {
            Some(n) => n,
            None => null.insert(open_own_null()?),
        };
        // dup3 closes the host's descriptor that was there: the point.
        nix::unistd::dup3(own.as_raw_fd(), fd, OFlag::empty()).sys(format_args!(
            "dup3 the container's /dev/null onto descriptor {fd}"
        ))?;
    }
    Ok(())
}

/// The container's /dev/null for reading and writing, checked to be the
/// null device: a symlink is refused outright (O_NOFOLLOW), anything else
/// after the open (CVE-2025-31133: never hand the process another file).
fn open_own_null() -> Result<OwnedFd> {
    let flags = OFlag::O_RDWR | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open("/dev/null", flags, Mode::empty())
        .sys("open the container's /dev/null for stdio")?;
    // SAFETY: a fresh descriptor from open, owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let st = nix::sys::stat::fstat(fd.as_raw_fd()).sys("fstat the container's /dev/null")?;
    if !is_null_device(&st) {
        return Err(Error::invalid(
            "the container's /dev/null is not the null device (char 1:3): \
             refusing to give it to the process as stdio",
        ));
    }
    Ok(fd)
}

fn make_node(sys: &dyn Syscall, rootfs: &Path, n: &Node) -> Result<()> {
    let parent = n.path.parent().expect("checked by the caller");
    let dir = sys.target_in_root(rootfs, parent, false)?;
    make_node_in(sys, rootfs, &dir, n)
}

/// The node in `dir`, its parent resolved in the rootfs. What is there
/// already (an image's /dev, or a default node an entry replaces) is
/// removed first; on the fresh tmpfs of a usual /dev there is nothing, so
/// the removal is tried only when mknod finds the name taken.
fn make_node_in(sys: &dyn Syscall, rootfs: &Path, dir: &Target, n: &Node) -> Result<()> {
    let name = n.path.file_name().expect("checked by the caller");
    let path = dir.path.join(name);
    let made = match sys.mknod(&path, n.kind, n.mode, n.dev) {
        Err(e) if e.errno() == Some(Errno::EEXIST) => {
            let _ = std::fs::remove_file(&path);
            sys.mknod(&path, n.kind, n.mode, n.dev)
        }
        r => r,
    };
    match made {
        Ok(()) => sys.chown(&path, n.uid, n.gid),
        // Where mknod is not allowed (a user namespace), the host's node
        // at the same path is bind-mounted instead, as runc does.
        Err(e) if e.errno() == Some(Errno::EPERM) => {
            let t = sys.target_in_root(rootfs, n.path, true)?;
            sys.mount(Some(n.path), &t.path, None, MsFlags::MS_BIND, None)
        }
        Err(e) => Err(e),
    }
}
