//! The mounts of a container without a mount namespace of its own: they
//! are made in the caller's. Init binds the rootfs on itself first and
//! makes every other mount below that bind (init/rootfs.rs), so one lazy
//! unmount of it takes them all away.
//!
//! `create` records, before clone, which mount the rootfs was on, so that
//! whatever has been put on it since, by init or by the container, can be
//! told from what was there before: `delete` (and a failed `create`)
//! unmounts the former and leaves the latter (runtime.md: resources "not
//! created by this container, MUST NOT be deleted"). The record is in the
//! state directory from the start, so a create killed half-way leaves it
//! for `delete`.

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MntFlags;
use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result, SysResult};
use crate::linux::mount_id::{self, Placed};
use crate::linux::syscall::openat2;

const RECORD: &str = "host-mounts.json";

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    /// Canonical when recorded: any symlink in it now is someone's doing.
    rootfs: PathBuf,
    /// The mount namespace the mounts are in.
    namespace: u64,
    /// The rootfs as it was before create: its mount, and the directory
    /// any bind of it has as its root.
    before: Placed,
}

/// Before anything is mounted: what the rootfs is on now.
pub fn record(state_dir: &Path, rootfs: &Path) -> Result<()> {
    let before = mount_id::of(open_rootfs(rootfs)?.as_fd())
        .with_context(|| format!("rootfs {}", rootfs.display()))?;
    let rec = Record {
        rootfs: rootfs.to_path_buf(),
        namespace: mount_id::own_namespace()?,
        before,
    };
    let path = state_dir.join(RECORD);
    let bytes = serde_json::to_vec(&rec).expect("the record serialises");
    std::fs::write(&path, bytes).sys_path("write", &path)
}

/// Unmounts every mount put on the rootfs since [`record`], top first,
/// and nothing else; without a record (a container with its own mount
/// namespace), nothing.
pub fn undo(state_dir: &Path) -> Result<()> {
    let path = state_dir.join(RECORD);
    let rec: Record = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(format!("{}: corrupt record: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let root = &rec.rootfs;
    let ns = mount_id::own_namespace()?;
    if ns != rec.namespace {
        log::warn!(
            "the container's mounts below {} are in mount namespace mnt:[{}], not this \
             process's mnt:[{ns}]: left there",
            root.display(),
            rec.namespace
        );
        return Ok(());
    }
    // Each round unmounts the top mount; more than a few means something
    // keeps mounting there.
    for _ in 0..16 {
        let fd = match open_rootfs(root) {
            Err(e) if e.errno() == Some(Errno::ENOENT) => return Ok(()),
            r => r?,
        };
        let now = mount_id::of(fd.as_fd()).with_context(|| format!("rootfs {}", root.display()))?;
        // What was there before, or no mount on the rootfs at all (another
        // container's delete took the bind this one's was stacked on).
        let before = (now.mount, now.unique) == (rec.before.mount, rec.before.unique);
        if before || !now.root {
            return Ok(());
        }
        // A bind of the rootfs has the rootfs as its root; anything else on
        // top (another filesystem) is not the container's.
        if (now.dev, now.ino) != (rec.before.dev, rec.before.ino) {
            log::warn!(
                "{}: a mount on top that is not a bind of the rootfs: left there, \
                 with the container's below it",
                root.display()
            );
            return Ok(());
        }
        let target = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        nix::mount::umount2(&target, MntFlags::MNT_DETACH).sys_path("unmount", root)?;
    }
    Err(Error::sys(
        format_args!(
            "unmount {}: still mounted after 16 unmounts",
            root.display()
        ),
        Errno::EBUSY,
    ))
}

/// The rootfs, through no symlink: it was canonical when recorded.
fn open_rootfs(rootfs: &Path) -> Result<std::os::fd::OwnedFd> {
    openat2(
        libc::AT_FDCWD,
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY,
        libc::RESOLVE_NO_SYMLINKS,
    )
    .sys_path("open", rootfs)
}
