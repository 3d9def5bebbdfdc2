//! descriptors.json: where the container's init had its stdio, recorded at
//! create and at restore, so that a restore can hand criu its own stdio in
//! their place (criu needs to know what each inherited descriptor was).

use std::path::Path;

use crate::error::{Error, Result, SysResult};

/// The stdio of a container's init (the targets of /proc/PID/fd/0..2), as
/// runc names the file in the state and image directories.
pub const DESCRIPTORS: &str = "descriptors.json";

/// Records this process's stdio, which a container's init inherits, as
/// descriptors.json in `dir` (a state directory). Three readlinks and a
/// small write: cheap enough for create.
pub fn save(dir: &Path) -> Result<()> {
    let links: Vec<String> = (0..3)
        .map(|n| {
            std::fs::read_link(format!("/proc/self/fd/{n}"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let path = dir.join(DESCRIPTORS);
    let bytes = serde_json::to_vec(&links).expect("strings serialise");
    std::fs::write(&path, bytes).sys_path("write", &path)
}

/// The checkpointed init's stdio targets (descriptors.json).
pub fn read(images: &Path) -> Result<Vec<String>> {
    let path = images.join(DESCRIPTORS);
    let bytes = std::fs::read(&path).sys_path("read", &path)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::invalid(format!("{}: {e}", path.display())))
}
