//! The rootfs bound at `<state dir>/criu-root` while criu restores into it
//! (as runc has it). A restore killed meanwhile leaves the bind behind:
//! `delete` unmounts it before it removes the state directory.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, Result, SysResult};

/// Where the rootfs is bound for criu, in the state directory (as runc has
/// it).
const CRIU_ROOT: &str = "criu-root";

/// The rootfs bound at `<state dir>/criu-root` for the time of the restore.
pub struct CriuRoot {
    pub path: PathBuf,
    mounted: bool,
}

impl CriuRoot {
    pub fn bind(rootfs: &Path, state_dir: &Path) -> Result<CriuRoot> {
        let path = state_dir.join(CRIU_ROOT);
        std::fs::create_dir(&path).sys_path("mkdir", &path)?;
        let mut root = CriuRoot {
            path,
            mounted: false,
        };
        mount(
            Some(rootfs),
            &root.path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .sys_path("bind the rootfs on", &root.path)?;
        root.mounted = true;
        Ok(root)
    }

    /// Unmounts and removes it; Drop does the same without an error.
    pub fn release(mut self) -> Result<()> {
        self.undo()
    }

    fn undo(&mut self) -> Result<()> {
        if self.mounted {
            umount2(&self.path, MntFlags::MNT_DETACH).sys_path("unmount", &self.path)?;
            self.mounted = false;
        }
        match std::fs::remove_dir(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io("remove", &self.path, e))
            }
            _ => Ok(()),
        }
    }
}

impl Drop for CriuRoot {
    fn drop(&mut self) {
        let _ = self.undo();
    }
}

/// Unmounts `<state dir>/criu-root` if a restore left it mounted (one
/// killed while criu ran); an error means the directory must stay.
pub fn unmount_root(state_dir: &Path) -> Result<()> {
    let root = state_dir.join(CRIU_ROOT);
    match umount2(&root, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => Ok(()),
        Err(e) => Err(Error::path("unmount", &root, e)),
    }
}
