//! The default /dev of every container (runtime-spec config-linux.md,
//! "Default Devices"), and its symlinks.

use std::path::Path;

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::{makedev, SFlag};

use crate::error::{Context, Result};
use crate::syscall::Syscall;

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

pub fn create_default(sys: &dyn Syscall, rootfs: &Path) -> Result<()> {
    // Make sure /dev exists inside the rootfs, resolved safely.
    drop(sys.target_in_root(rootfs, Path::new("/dev"), false)?);
    let dev = rootfs.join("dev");
    for (name, major, minor) in DEFAULT {
        let path = dev.join(name);
        let _ = std::fs::remove_file(&path);
        match sys.mknod(&path, SFlag::S_IFCHR, 0o666, makedev(major, minor)) {
            Ok(()) => sys.chown(&path, 0, 0)?,
            // Where mknod is not allowed (a user namespace), the host's
            // node is bind-mounted instead.
            Err(e) if e.errno() == Some(Errno::EPERM) => {
                let t = sys.target_in_root(rootfs, &Path::new("/dev").join(name), true)?;
                let host = Path::new("/dev").join(name);
                sys.mount(Some(&host), &t.path, None, MsFlags::MS_BIND, None)?;
            }
            Err(e) => return Err(e).context("default devices"),
        }
    }
    for (name, target) in LINKS {
        let link = dev.join(name);
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
