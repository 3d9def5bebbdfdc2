//! linux.sysctl: only keys that live in one of the container's own
//! namespaces, so that a container can never change the host's kernel.
//! The rule is runc's: IPC keys need an IPC namespace, `net.*` a network
//! namespace, `kernel.domainname` a UTS namespace; anything else is
//! refused.

use std::path::PathBuf;

use oci_spec::runtime::LinuxNamespaceType;

use crate::error::{Error, Result, SysResult};

const IPC_KEYS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// `net/ipv4/ip_forward` and `net.ipv4.ip_forward` name the same key.
fn normalise(key: &str) -> String {
    key.replace('/', ".")
}

/// `has` says whether the container has its own namespace of a type (new
/// or joined).
pub fn validate(key: &str, has: impl Fn(LinuxNamespaceType) -> bool) -> Result<()> {
    let k = normalise(key);
    if k.split('.').any(|c| c.is_empty() || c == "..") {
        return Err(Error::invalid(format!("linux.sysctl: invalid key {key:?}")));
    }
    let needs = if IPC_KEYS.contains(&k.as_str()) || k.starts_with("fs.mqueue.") {
        LinuxNamespaceType::Ipc
    } else if k.starts_with("net.") {
        LinuxNamespaceType::Network
    } else if k == "kernel.domainname" {
        LinuxNamespaceType::Uts
    } else if k == "kernel.hostname" {
        return Err(Error::invalid(
            "linux.sysctl: kernel.hostname is not allowed: use the hostname field",
        ));
    } else {
        return Err(Error::invalid(format!(
            "linux.sysctl: {key:?} is not in a separate kernel namespace"
        )));
    };
    if has(needs) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "linux.sysctl: {key:?} needs the container to have its own {needs} namespace"
        )))
    }
}

/// In init, after pivot_root: the container's /proc/sys.
pub fn apply<'a>(entries: impl Iterator<Item = (&'a String, &'a String)>) -> Result<()> {
    for (key, value) in entries {
        let path = PathBuf::from("/proc/sys").join(normalise(key).replace('.', "/"));
        std::fs::write(&path, value).sys_path(&format!("linux.sysctl {key}: write"), &path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_namespaced_keys_pass() {
        let all = |_| true;
        let none = |_| false;
        for ok in [
            "kernel.shmmax",
            "fs.mqueue.msg_max",
            "net.ipv4.ip_forward",
            "net/ipv4/ip_forward",
        ] {
            validate(ok, all).unwrap();
            assert!(validate(ok, none).is_err(), "{ok} without its namespace");
        }
        for bad in [
            "fs.file-max",
            "kernel.pid_max",
            "vm.swappiness",
            "kernel.hostname",
            "net..x",
            "net/../../x",
        ] {
            assert!(validate(bad, all).is_err(), "{bad}");
        }
    }
}
