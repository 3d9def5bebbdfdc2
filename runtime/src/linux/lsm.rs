//! AppArmor profiles and SELinux labels. Both are set for the next execve
//! through /proc/self/attr, so the runtime itself stays unconfined until
//! the user program starts. A process label for an LSM that is not enabled
//! is an error, as in runc and crun: silently running unconfined would be
//! worse. linux.mountLabel is not: it labels the container's mounts, and
//! where SELinux is off there is nothing a label could act on, nor any
//! confinement lost; engines set it where SELinux is on. berth warns and
//! goes on, as crun does (runc 1.1 passes `context=` to the kernel, which
//! refuses it).

use std::path::Path;

use crate::error::{Error, Result, SysResult};

pub fn apparmor_enabled() -> bool {
    std::fs::read("/sys/module/apparmor/parameters/enabled").is_ok_and(|v| v.starts_with(b"Y"))
}

pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// At validation time, before anything is created.
pub fn validate(
    apparmor: Option<&str>,
    label: Option<&str>,
    mount_label: Option<&str>,
) -> Result<()> {
    if apparmor.is_some() && !apparmor_enabled() {
        return Err(Error::invalid(
            "process.apparmorProfile is set, but AppArmor is not enabled on this host",
        ));
    }
    if label.is_some() && !selinux_enabled() {
        return Err(Error::invalid(
            "process.selinuxLabel is set, but SELinux is not enabled on this host",
        ));
    }
    if mount_label.is_some() && !selinux_enabled() {
        log::warn!("linux.mountLabel is set, but SELinux is not enabled on this host: ignored");
    }
    Ok(())
}

/// linux.mountLabel as the mounts get it: none where SELinux is off (see
/// the top of this file).
pub fn mount_label(label: Option<&str>) -> Option<&str> {
    label.filter(|l| !l.is_empty() && selinux_enabled())
}

/// In init, after pivot_root and just before execve.
pub fn set_exec_labels(apparmor: Option<&str>, label: Option<&str>) -> Result<()> {
    if let Some(profile) = apparmor {
        let modern = Path::new("/proc/self/attr/apparmor/exec");
        let path = if modern.exists() {
            modern
        } else {
            Path::new("/proc/self/attr/exec")
        };
        std::fs::write(path, format!("exec {profile}"))
            .sys_path(&format!("apply AppArmor profile {profile:?}: write"), path)?;
    }
    if let Some(label) = label {
        let path = Path::new("/proc/self/attr/exec");
        std::fs::write(path, label)
            .sys_path(&format!("set SELinux label {label:?}: write"), path)?;
    }
    Ok(())
}

/// The mount data for filesystems created for the container, with
/// linux.mountLabel as their SELinux context.
pub fn with_mount_label(data: &str, mount_label: Option<&str>) -> String {
    match mount_label {
        None => data.to_string(),
        Some(l) if data.is_empty() => format!("context=\"{l}\""),
        Some(l) => format!("{data},context=\"{l}\""),
    }
}
