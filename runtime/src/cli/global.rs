//! The global flags' values (their table is in mod.rs), and what they
//! mean for every command.

use std::path::PathBuf;

use super::args::{self, Given};

#[derive(Debug)]
pub struct Global {
    /// None: the default, /run/berth, or $XDG_RUNTIME_DIR/berth for a user
    /// other than root (as runc does).
    pub(super) root: Option<PathBuf>,
    pub(super) log: Option<PathBuf>,
    pub(super) log_format: LogFormat,
    pub(super) debug: bool,
    pub(super) systemd_cgroup: bool,
    pub(super) rootless: String,
    /// None: `criu` on PATH.
    pub(super) criu: Option<PathBuf>,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            root: None,
            log: None,
            log_format: LogFormat::Text,
            debug: false,
            systemd_cgroup: false,
            rootless: "auto".to_string(),
            criu: None,
        }
    }
}

impl Global {
    pub fn set(&mut self, v: &Given) -> Result<(), args::Error> {
        match v.flag.long {
            "root" => self.root = Some(v.path()),
            "log" => self.log = Some(v.path()),
            "log-format" => {
                self.log_format =
                    v.one_of(&[("text", LogFormat::Text), ("json", LogFormat::Json)])?
            }
            "debug" => self.debug = v.on()?,
            "systemd-cgroup" => self.systemd_cgroup = v.on()?,
            "criu" => self.criu = Some(v.path()).filter(|p| !p.as_os_str().is_empty()),
            // Checked in dispatch (check below), where it was checked before.
            "rootless" => self.rootless = v.string()?,
            other => unreachable!("global flag --{other} has no field"),
        }
        Ok(())
    }

    /// Refuses what the flags ask for and berth cannot do, before any
    /// command runs.
    pub fn check(&self) -> berth::Result<()> {
        if !matches!(self.rootless.as_str(), "true" | "false" | "auto") {
            return Err(berth::Error::invalid(format!(
                "--rootless {:?}: expected true, false or auto",
                self.rootless
            )));
        }
        Ok(())
    }

    pub fn root(&self) -> PathBuf {
        self.root.clone().unwrap_or_else(default_root)
    }

    /// --rootless auto: rootless when not root, or root only inside a user
    /// namespace (rootless podman runs the runtime that way), as runc
    /// decides it.
    /// Only create and run ask (it costs a read of /proc/self/uid_map).
    pub fn is_rootless(&self) -> bool {
        match self.rootless.as_str() {
            "true" => true,
            "false" => false,
            _ => !nix::unistd::geteuid().is_root() || berth::linux::namespaces::in_user_namespace(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LogFormat {
    Text,
    Json,
}

/// /run/berth, or $XDG_RUNTIME_DIR/berth for a user other than root, or
/// for root inside a user namespace unless $USER says it is the real root
/// (runc's rule).
fn default_root() -> PathBuf {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
    let honour = || {
        !nix::unistd::geteuid().is_root()
            || (berth::linux::namespaces::in_user_namespace()
                && std::env::var_os("USER").is_none_or(|u| u != "root"))
    };
    match xdg {
        Some(dir) if honour() => PathBuf::from(dir).join("berth"),
        _ => PathBuf::from("/run/berth"),
    }
}
