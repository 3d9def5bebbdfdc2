//! The container's root filesystem as containerd hands it over: a list of
//! mounts (an overlay of snapshot layers, or a bind of one directory) to
//! stack on `<bundle>/rootfs` before `create`, and to take off at delete.
//! Mounts with containerd 2.x's `uidmap=`/`gidmap=` options go through
//! [`idmap`].

mod idmap;

use std::path::Path;

use nix::errno::Errno;
use nix::mount::{umount2, MntFlags, MsFlags};

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct Mount {
    pub kind: String,
    pub source: String,
    pub options: Vec<String>,
}

/// Mounts each in turn on `target`; on failure takes off what it made.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<()> {
    std::fs::create_dir_all(target).map_err(Error::io(format!("mkdir {}", target.display())))?;
    for (n, m) in mounts.iter().enumerate() {
        if let Err(err) = mount_one(m, target) {
            for _ in 0..n {
                unmount_one(target);
            }
            return Err(Error::Io {
                context: format!(
                    "mount {} {} on {} ({})",
                    m.kind,
                    m.source,
                    target.display(),
                    m.options.join(",")
                ),
                err,
            });
        }
    }
    Ok(())
}

/// Splits mount(8)-style options into flags and the filesystem's data.
fn parse_options(options: &[String]) -> (MsFlags, Vec<String>) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in options {
        let (set, clear) = match o.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            _ => {
                data.push(o.clone());
                continue;
            }
        };
        flags = (flags | set) & !clear;
    }
    (flags, data)
}

/// The longest directory all of overlay's lower layers live in, and the
/// data with those paths made relative to it: containerd's snapshots share
/// one parent, and the kernel takes at most a page of mount data.
fn shorten_lowerdirs(data: &str) -> Option<(String, String)> {
    let lower = data.split(',').find_map(|o| o.strip_prefix("lowerdir="))?;
    let dirs: Vec<&str> = lower.split(':').collect();
    let mut common = Path::new(dirs[0]).parent()?.to_path_buf();
    while !dirs.iter().all(|d| Path::new(d).starts_with(&common)) {
        common = common.parent()?.to_path_buf();
    }
    let prefix = common.to_str()?.trim_end_matches('/').to_string() + "/";
    let relative: Vec<&str> = dirs
        .iter()
        .map(|d| d.strip_prefix(&prefix).unwrap_or(d))
        .collect();
    let data = data
        .split(',')
        .map(|o| {
            if o.starts_with("lowerdir=") {
                format!("lowerdir={}", relative.join(":"))
            } else {
                o.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    Some((prefix, data))
}

fn mount_one(m: &Mount, target: &Path) -> std::io::Result<()> {
    match idmap::take_maps(&m.options)? {
        (None, _) => mount_plain(m, target),
        (Some(maps), options) => {
            let m = Mount {
                kind: m.kind.clone(),
                source: m.source.clone(),
                options,
            };
            idmap::mount(&m, &maps, target, mount_plain)
        }
    }
}

fn mount_plain(m: &Mount, target: &Path) -> std::io::Result<()> {
    let (flags, data) = parse_options(&m.options);
    let data = data.join(",");
    let kind = if m.kind.is_empty() || flags.contains(MsFlags::MS_BIND) {
        None
    } else {
        Some(m.kind.as_str())
    };
    let mount = |data: &str| {
        nix::mount::mount(
            Some(m.source.as_str()),
            target,
            kind,
            flags,
            (!data.is_empty()).then_some(data),
        )
    };
    if flags.contains(MsFlags::MS_BIND) {
        mount("")?;
        // A bind ignores MS_RDONLY until it is remounted.
        if flags.contains(MsFlags::MS_RDONLY) {
            nix::mount::mount(
                None::<&str>,
                target,
                None::<&str>,
                flags | MsFlags::MS_REMOUNT,
                None::<&str>,
            )?;
        }
        return Ok(());
    }
    let page = 4096;
    if data.len() < page {
        return Ok(mount(&data)?);
    }
    // Too long for one page: name the layers relative to their common
    // parent, as the working directory. The create path holds the task
    // lock and no other shim code uses relative paths, so borrowing the
    // process's working directory for one call is safe.
    let Some((dir, short)) = shorten_lowerdirs(&data).filter(|(_, s)| s.len() < page) else {
        return Err(std::io::Error::other(format!(
            "mount options are {} bytes, more than a page even with relative layer paths",
            data.len()
        )));
    };
    let back = std::env::current_dir()?;
    std::env::set_current_dir(&dir)?;
    let made = mount(&short);
    std::env::set_current_dir(back)?;
    Ok(made?)
}

fn unmount_one(target: &Path) -> bool {
    match umount2(target, MntFlags::empty()) {
        Ok(()) => true,
        // Still in use (a process of the container lingering in another
        // mount namespace): detach, the kernel finishes when it can.
        Err(Errno::EBUSY) => umount2(target, MntFlags::MNT_DETACH).is_ok(),
        Err(_) => false,
    }
}

/// Takes every mount off `target`, top first, until nothing is mounted
/// there.
///
/// This is often the slowest step of a Delete on a busy machine, and not
/// for the syscall: when the last mount of an overlay goes, the kernel
/// tears its superblock down on the way back to user space, and that
/// syncs the whole upper filesystem (the host's, where the snapshots
/// live). `perf` of `ctr run --rm` under other builds' writes: 1 to 30 ms
/// between this umount2's return and the next syscall, once 275 ms. The
/// Go runc shim pays the same (it unmounts the same way), or the
/// container's last process does if its mount namespace goes last.
pub fn unmount(target: &Path) {
    for _ in 0..64 {
        if !unmount_one(target) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let opts: Vec<String> = ["rbind", "ro", "nosuid", "index=off", "rw", "userxattr"]
            .map(String::from)
            .to_vec();
        let (flags, data) = parse_options(&opts);
        assert_eq!(
            flags,
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_NOSUID
        );
        assert_eq!(data, ["index=off", "userxattr"]);
    }

    #[test]
    fn long_lowerdirs_become_relative() {
        let data = "workdir=/s/snapshots/9/work,upperdir=/s/snapshots/9/fs,lowerdir=/s/snapshots/3/fs:/s/snapshots/12/fs";
        let (dir, short) = shorten_lowerdirs(data).unwrap();
        assert_eq!(dir, "/s/snapshots/");
        assert_eq!(
            short,
            "workdir=/s/snapshots/9/work,upperdir=/s/snapshots/9/fs,lowerdir=3/fs:12/fs"
        );
    }
}
