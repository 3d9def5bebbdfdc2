use std::path::PathBuf;

use berth::container::criu::Criu;
use berth::container::restore::{restore, RestoreOptions};
use berth::container::store::Store;
use berth::container::{foreground, lifecycle};
use berth::Result;

use super::args::{self, Flag, Given};
use super::checkpoint::CriuArgs;
use super::line::{first, Line, Stop};
use super::Command;

#[rustfmt::skip]
pub const FLAGS: &[Flag] = &[
    Flag::value("bundle", Some('b'), "DIR", "The bundle directory (config.json and the rootfs; default .)."),
    Flag::switch("detach", Some('d'), "Return once the container is restored."),
    Flag::value("pid-file", None, "FILE", "File to write the restored process's pid to."),
    Flag::value("console-socket", None, "PATH", "Unix socket that receives the pty master when process.terminal is set."),
    Flag::switch("no-subreaper", None, "Accepted for runc's sake (berth uses no subreaper)."),
    Flag::switch("no-pivot", None, "Accepted for runc's sake (criu sets up the root)."),
    Flag::value("lsm-profile", None, "TYPE:NAME", "LSM profile for the restored processes."),
    Flag::value("lsm-mount-context", None, "CONTEXT", "LSM mount context for the restored mounts."),
];

#[derive(Debug)]
pub struct RestoreArgs {
    pub(super) criu: CriuArgs,
    pub(super) bundle: PathBuf,
    pub(super) console_socket: Option<PathBuf>,
    pub(super) pid_file: Option<PathBuf>,
    pub(super) detach: bool,
    pub(super) lsm_profile: Option<String>,
    pub(super) lsm_mount_context: Option<String>,
    pub(super) id: String,
}

impl Default for RestoreArgs {
    fn default() -> Self {
        RestoreArgs {
            criu: CriuArgs::default(),
            bundle: PathBuf::from("."),
            console_socket: None,
            pid_file: None,
            detach: false,
            lsm_profile: None,
            lsm_mount_context: None,
            id: String::new(),
        }
    }
}

impl RestoreArgs {
    pub fn set(&mut self, v: &Given) -> Result<(), args::Error> {
        if self.criu.set(v)? {
            return Ok(());
        }
        match v.flag.long {
            "bundle" => self.bundle = v.path(),
            "console-socket" => self.console_socket = Some(v.path()),
            "pid-file" => self.pid_file = Some(v.path()),
            "detach" => self.detach = v.on()?,
            "lsm-profile" => self.lsm_profile = Some(v.string()?),
            "lsm-mount-context" => self.lsm_mount_context = Some(v.string()?),
            // berth needs no subreaper (the restored init is its child)
            // and no pivot_root (criu sets up the root).
            "no-subreaper" | "no-pivot" => {
                v.on()?;
            }
            other => unreachable!("restore flag --{other} has no field"),
        }
        Ok(())
    }
}

pub fn parse(line: Line) -> Result<Command, Stop> {
    let mut a = RestoreArgs::default();
    a.id = first(line.words(|v| a.set(v))?);
    Ok(Command::Restore(a))
}

/// Restores, and unless detached waits for the restored container like a
/// foreground `run`, then deletes it and exits with its status.
pub fn run(store: &Store, criu: Option<&std::path::Path>, a: &RestoreArgs) -> Result<i32> {
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    let opts = RestoreOptions {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        detach: a.detach,
        criu: a.criu.flags()?,
        lsm_profile: nonempty(&a.lsm_profile),
        lsm_mount_context: nonempty(&a.lsm_mount_context),
    };
    let criu = Criu::find(criu)?;
    if a.detach {
        restore(store, &criu, &opts)?;
        return Ok(0);
    }
    // Before criu starts: no signal may reach berth unforwarded once the
    // restored process exists.
    foreground::block_signals()?;
    let restored = restore(store, &criu, &opts)?;
    drop(restored.dir);
    let result = foreground::wait(restored.pid, restored.master);
    if result.is_err() {
        let _ = nix::sys::signal::kill(restored.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(restored.pid, None);
    }
    lifecycle::delete(store, &opts.id, true)?;
    result
}
