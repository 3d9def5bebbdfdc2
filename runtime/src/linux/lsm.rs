//! AppArmor profiles and SELinux labels. Both are set for the next execve
//! through /proc/self/attr, so the runtime itself stays unconfined until
//! the user program starts. A field set for an LSM that is not enabled is
//! an error, as in runc: silently running unconfined would be worse.

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
    for (field, set) in [
        ("process.selinuxLabel", label.is_some()),
        ("linux.mountLabel", mount_label.is_some()),
    ] {
        if set && !selinux_enabled() {
            return Err(Error::invalid(format!(
                "{field} is set, but SELinux is not enabled on this host"
            )));
        }
    }
    Ok(())
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
