//! `berth features` (runtime-spec features.md): what this build supports,
//! kept true by deriving the lists from the code that implements them.

use std::io::Write;

use berth::Result;

use super::line::{Line, Stop};
use super::Command;

pub fn parse(line: Line) -> Result<Command, Stop> {
    line.plain()?;
    Ok(Command::Features)
}

pub fn run() -> Result<()> {
    let caps: Vec<String> = caps::all()
        .into_iter()
        .map(|c| c.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut options: Vec<&str> = berth::oci::mount_options::known_options().collect();
    options.sort_unstable();
    let features = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": berth::oci::state::OCI_VERSION,
        "hooks": berth::init::hooks::Kind::ALL.map(berth::init::hooks::Kind::name),
        "mountOptions": options,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": { "v1": true, "v2": true, "systemd": true, "systemdUser": true, "rdma": true },
            "seccomp": {
                "enabled": true,
                "actions": berth::linux::seccomp::ACTIONS,
                "operators": berth::linux::seccomp::OPERATORS,
                "archs": berth::linux::seccomp::arch::Abi::SUPPORTED,
                "knownFlags": berth::linux::seccomp::FLAGS,
                "supportedFlags": berth::linux::seccomp::FLAGS
            },
            // Support built in; whether the host has the LSM enabled is
            // checked when a config asks for it.
            "apparmor": { "enabled": true },
            "selinux": { "enabled": true },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": true } }
        },
        "annotations": {
            "io.github.berth.version": env!("CARGO_PKG_VERSION")
        }
    });
    let text = serde_json::to_string_pretty(&features).expect("serialises");
    let _ = writeln!(std::io::stdout(), "{text}");
    Ok(())
}
