use std::os::fd::AsRawFd;

use berth::container::exec::{self, ExecOptions, ProcessFlags};
use berth::container::foreground;
use berth::container::store::Store;
use berth::init::terminal;
use berth::{Error, Result};

use super::ExecArgs;

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
