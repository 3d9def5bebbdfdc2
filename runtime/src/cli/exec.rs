use std::os::fd::AsRawFd;
use std::path::PathBuf;

use berth::container::exec::{self, ExecOptions, ProcessFlags};
use berth::container::foreground;
use berth::container::store::Store;
use berth::init::terminal;
use berth::{Error, Result};

use super::args::{self, Flag, Given};
use super::line::{first, Line, Stop};
use super::Command;

/// runc's `exec` flags.
#[rustfmt::skip]
pub const FLAGS: &[Flag] = &[
    Flag::value("process", Some('p'), "FILE", "A runtime-spec process JSON to run (instead of the command and flags)."),
    Flag::value("console-socket", None, "PATH", "Unix socket that receives the pty master with --tty."),
    Flag::value("pidfd-socket", None, "PATH", "Unix socket that receives a pidfd of the new process."),
    Flag::value("pid-file", None, "FILE", "File to write the new process's pid to."),
    Flag::switch("detach", Some('d'), "Return once the process runs."),
    Flag::switch("tty", Some('t'), "Give the process a terminal."),
    Flag::value("cwd", None, "DIR", "Working directory in the container."),
    Flag::value("env", Some('e'), "KEY=VALUE", "Environment variable (repeatable)."),
    Flag::value("user", Some('u'), "UID[:GID]", "The user to run as."),
    Flag::value("additional-gids", Some('g'), "GID", "Additional group (repeatable)."),
    Flag::value("cap", Some('c'), "CAP", "Add a capability (repeatable)."),
    Flag::switch("no-new-privs", None, "Set no_new_privs for the process."),
    Flag::value("apparmor", None, "PROFILE", "AppArmor profile for the process."),
    Flag::value("process-label", None, "LABEL", "SELinux label for the process."),
    Flag::value("preserve-fds", None, "N", "Pass N more descriptors (from 3) to the process."),
    Flag::switch("ignore-paused", None, "Exec even into a paused container."),
    Flag::value("cgroup", None, "[CONTROLLER:]PATH", "Run in this sub-cgroup of the container's."),
];

#[derive(Debug, Default)]
pub struct ExecArgs {
    pub(super) process: Option<PathBuf>,
    pub(super) console_socket: Option<PathBuf>,
    pub(super) pidfd_socket: Option<PathBuf>,
    pub(super) pid_file: Option<PathBuf>,
    pub(super) detach: bool,
    pub(super) tty: bool,
    pub(super) cwd: Option<PathBuf>,
    pub(super) env: Vec<String>,
    pub(super) user: Option<String>,
    pub(super) additional_gids: Vec<u32>,
    pub(super) cap: Vec<String>,
    pub(super) no_new_privs: bool,
    pub(super) apparmor: Option<String>,
    pub(super) process_label: Option<String>,
    pub(super) preserve_fds: i32,
    pub(super) ignore_paused: bool,
    pub(super) cgroup: Option<String>,
    pub(super) id: String,
    /// The command and its arguments.
    pub(super) command: Vec<String>,
}

impl ExecArgs {
    pub fn set(&mut self, v: &Given) -> Result<(), args::Error> {
        match v.flag.long {
            "process" => self.process = Some(v.path()),
            "console-socket" => self.console_socket = Some(v.path()),
            "pidfd-socket" => self.pidfd_socket = Some(v.path()),
            "pid-file" => self.pid_file = Some(v.path()),
            "detach" => self.detach = v.on()?,
            "tty" => self.tty = v.on()?,
            "cwd" => self.cwd = Some(v.path()),
            "env" => self.env.push(v.string()?),
            "user" => self.user = Some(v.string()?),
            "additional-gids" => self.additional_gids.push(v.number()?),
            "cap" => self.cap.push(v.string()?),
            "no-new-privs" => self.no_new_privs = v.on()?,
            "apparmor" => self.apparmor = Some(v.string()?),
            "process-label" => self.process_label = Some(v.string()?),
            "preserve-fds" => self.preserve_fds = v.number()?,
            "ignore-paused" => self.ignore_paused = v.on()?,
            "cgroup" => self.cgroup = Some(v.string()?),
            other => unreachable!("exec flag --{other} has no field"),
        }
        Ok(())
    }
}

pub fn parse(line: Line) -> Result<Command, Stop> {
    let mut a = ExecArgs::default();
    let mut words = line.words(|v| a.set(v))?;
    a.command = words.split_off(1);
    a.id = first(words);
    Ok(Command::Exec(a))
}

/// runc's `exec`: with --process the process JSON, otherwise the
/// container's process with the command and the flags over it.
pub fn run(store: &Store, a: &ExecArgs) -> Result<i32> {
    let (dir, state) = exec::load(store, &a.id, a.ignore_paused)?;
    // Other commands may use the container while the process runs.
    drop(dir);
    let process = match &a.process {
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| Error::io("read --process", path, e))?;
            serde_json::from_slice(&text)
                .map_err(|e| Error::invalid(format!("--process {}: {e}", path.display())))?
        }
        None => {
            let base = &state
                .exec
                .as_ref()
                .ok_or_else(|| Error::invalid("the container has no process to start from"))?
                .process;
            let flags = ProcessFlags {
                args: a.command.clone(),
                tty: a.tty,
                cwd: a.cwd.clone(),
                env: a.env.clone(),
                user: a.user.clone(),
                additional_gids: a.additional_gids.clone(),
                caps: a.cap.clone(),
                no_new_privs: a.no_new_privs,
                apparmor: a.apparmor.clone(),
                process_label: a.process_label.clone(),
            };
            exec::process_from_flags(base, &flags)?
        }
    };
    let opts = ExecOptions {
        id: a.id.clone(),
        process,
        console_socket: a.console_socket.clone(),
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
        sub_cgroup: a.cgroup.clone(),
    };
    if a.detach {
        let (pid, _) = exec::exec(&state, &opts, false)?;
        if let Some(p) = &a.pid_file {
            berth::container::store::write_pid_file(p, pid)?;
        }
        super::run::send_pidfd(a.pidfd_socket.as_deref(), pid)?;
        return Ok(0);
    }
    foreground::block_signals()?;
    let (pid, console) = exec::exec(&state, &opts, true)?;
    if let Some(p) = &a.pid_file {
        berth::container::store::write_pid_file(p, pid)?;
    }
    super::run::send_pidfd(a.pidfd_socket.as_deref(), pid)?;
    let master = match &console {
        Some(s) => Some(terminal::recv_master(s.as_raw_fd())?),
        None => None,
    };
    foreground::wait(pid, master)
}
