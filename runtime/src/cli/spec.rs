use std::path::{Path, PathBuf};

use berth::error::SysResult;
use berth::{Error, Result};

use super::args::Flag;
use super::line::{Line, Stop};
use super::Command;

pub const FLAGS: &[Flag] = &[Flag::value(
    "bundle",
    Some('b'),
    "DIR",
    "Where to write config.json (default .).",
)];

pub fn parse(line: Line) -> Result<Command, Stop> {
    let mut bundle = PathBuf::from(".");
    line.words(|v| {
        bundle = v.path();
        Ok(())
    })?;
    Ok(Command::Spec { bundle })
}

/// runc's default config, with berth's hostname.
const DEFAULT: &str = r#"{
  "ociVersion": "1.2.0",
  "process": {
    "terminal": true,
    "user": { "uid": 0, "gid": 0 },
    "args": ["sh"],
    "env": [
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "TERM=xterm"
    ],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
    "noNewPrivileges": true
  },
  "root": { "path": "rootfs", "readonly": true },
  "hostname": "berth",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
      "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
      "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
    { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
      "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
      "options": ["nosuid", "noexec", "nodev"] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs",
      "options": ["nosuid", "noexec", "nodev", "ro"] },
    { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
      "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }
  ],
  "linux": {
    "resources": {
      "devices": [{ "allow": false, "access": "rwm" }]
    },
    "namespaces": [
      { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
      { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" }
    ],
    "maskedPaths": [
      "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
      "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
      "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
    ],
    "readonlyPaths": [
      "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
    ]
  }
}
"#;

pub fn run(bundle: &Path, rootless: bool) -> Result<()> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(Error::invalid(format!(
            "{} exists: remove it first",
            path.display()
        )));
    }
    let text = if rootless {
        let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
        rootless_config(uid.as_raw(), gid.as_raw())
    } else {
        DEFAULT.to_string()
    };
    std::fs::write(&path, text).sys_path("write", &path)
}

/// The default config for a user without privilege, as `runc spec
/// --rootless` makes it: a user namespace that maps the caller to root, no
/// network namespace (the caller could not set one up), /sys bound from
/// the host (sysfs can only be mounted by a network namespace's owner), no
/// uid=/gid= mount options (those ids are not mapped), no resources.
fn rootless_config(uid: u32, gid: u32) -> String {
    let mut c: serde_json::Value = serde_json::from_str(DEFAULT).expect("DEFAULT is JSON");
    let linux = &mut c["linux"];
    let mut namespaces: Vec<serde_json::Value> = linux["namespaces"]
        .as_array()
        .expect("DEFAULT has namespaces")
        .iter()
        .filter(|n| !matches!(n["type"].as_str(), Some("network" | "user")))
        .cloned()
        .collect();
    namespaces.push(serde_json::json!({ "type": "user" }));
    linux["namespaces"] = namespaces.into();
    linux["uidMappings"] = serde_json::json!([{ "containerID": 0, "hostID": uid, "size": 1 }]);
    linux["gidMappings"] = serde_json::json!([{ "containerID": 0, "hostID": gid, "size": 1 }]);
    linux
        .as_object_mut()
        .expect("an object")
        .remove("resources");
    for m in c["mounts"].as_array_mut().expect("DEFAULT has mounts") {
        if m["destination"] == "/sys" {
            *m = serde_json::json!({
                "destination": "/sys", "type": "none", "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]
            });
        } else if let Some(opts) = m["options"].as_array_mut() {
            opts.retain(|o| {
                !o.as_str()
                    .is_some_and(|o| o.starts_with("uid=") || o.starts_with("gid="))
            });
        }
    }
    serde_json::to_string_pretty(&c).expect("serialises") + "\n"
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_config_is_one_berth_accepts() {
        berth::oci::config::parse(super::DEFAULT.as_bytes()).unwrap();
    }

    #[test]
    fn the_rootless_config_maps_the_caller_and_drops_what_needs_privilege() {
        let text = super::rootless_config(1234, 5678);
        let spec = berth::oci::config::parse(text.as_bytes()).unwrap();
        let linux = spec.linux().as_ref().unwrap();
        let types: Vec<_> = linux
            .namespaces()
            .iter()
            .flatten()
            .map(|n| format!("{:?}", n.typ()))
            .collect();
        assert!(types.contains(&"User".to_string()), "{types:?}");
        assert!(!types.contains(&"Network".to_string()), "{types:?}");
        let uid = &linux.uid_mappings().as_ref().unwrap()[0];
        assert_eq!(
            (uid.container_id(), uid.host_id(), uid.size()),
            (0, 1234, 1)
        );
        let gid = &linux.gid_mappings().as_ref().unwrap()[0];
        assert_eq!(
            (gid.container_id(), gid.host_id(), gid.size()),
            (0, 5678, 1)
        );
        assert!(linux.resources().is_none());
        let mounts = spec.mounts().as_ref().unwrap();
        let sys = mounts
            .iter()
            .find(|m| m.destination().to_str() == Some("/sys"))
            .unwrap();
        assert_eq!(sys.typ().as_deref(), Some("none"));
        assert!(sys.options().as_ref().unwrap().iter().any(|o| o == "rbind"));
        assert!(!text.contains("gid=5"));
    }
}
