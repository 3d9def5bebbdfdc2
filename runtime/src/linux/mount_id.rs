//! Which mount a file is on, and which mount namespace this process is in:
//! enough to tell, later and from another process, the mounts made on a
//! path since from the one that was there before.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SysResult};

/// A file and the mount it is seen through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    /// statx's mount id: the 64-bit one no later mount takes (Linux 6.8),
    /// else the older one, which a mount may take once this one is gone.
    pub mount: u64,
    pub unique: bool,
    /// The file is the root of that mount.
    pub root: bool,
    pub dev: u64,
    pub ino: u64,
}

/// Where `fd` is: for a mount point, the mount on top of it.
pub fn of(fd: BorrowedFd) -> Result<Placed> {
    let mut st = std::mem::MaybeUninit::<libc::statx>::zeroed();
    let mask = libc::STATX_INO | libc::STATX_MNT_ID | libc::STATX_MNT_ID_UNIQUE;
    // SAFETY: an open descriptor, an empty NUL-terminated path with
    // AT_EMPTY_PATH, and a statx buffer the call fills.
    let r = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            mask,
            st.as_mut_ptr(),
        )
    };
    nix::errno::Errno::result(r).sys("statx the mount of the rootfs")?;
    // SAFETY: statx succeeded, so it wrote the whole struct.
    let st = unsafe { st.assume_init() };
    Ok(Placed {
        mount: st.stx_mnt_id,
        unique: st.stx_mask & libc::STATX_MNT_ID_UNIQUE != 0,
        root: st.stx_attributes & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0,
        dev: libc::makedev(st.stx_dev_major, st.stx_dev_minor),
        ino: st.stx_ino,
    })
}

/// This process's mount namespace (the inode of /proc/self/ns/mnt).
pub fn own_namespace() -> Result<u64> {
    let p = Path::new("/proc/self/ns/mnt");
    std::fs::metadata(p).map(|m| m.ino()).sys_path("stat", p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_file_is_placed_on_its_own_mount_with_its_own_inode() {
        let root = std::fs::File::open("/").unwrap();
        let proc = std::fs::File::open("/proc").unwrap();
        let (r, p) = (of(root.as_fd()).unwrap(), of(proc.as_fd()).unwrap());
        assert_ne!(r.mount, p.mount, "/proc is a mount of its own");
        assert!(r.root && p.root);
        let below = std::fs::File::open("/proc/self").unwrap();
        assert!(
            !of(below.as_fd()).unwrap().root,
            "/proc/self is below /proc's root"
        );
        let meta = std::fs::metadata("/").unwrap();
        assert_eq!((r.dev, r.ino), (meta.dev(), meta.ino()));
        assert!(own_namespace().unwrap() > 0);
    }
}
