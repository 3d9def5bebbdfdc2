//! Output that bypasses the shim: a `file://` log the process writes
//! itself, or a `binary://` logging program reading the process's pipes.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Command;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::{pipe, LogContext};
use crate::error::{Error, Result};
use crate::reaper;

pub(super) fn open_log_file(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(format!("mkdir {}", dir.display())))?;
    }
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(Error::io(format!("open log file {}", path.display())))
}

/// Starts a logging binary the way containerd's shims do: stdout and
/// stderr pipes on fds 3 and 4, and fd 5 closed once it is ready.
pub(super) fn start_logger(
    path: &Path,
    args: &[(String, String)],
    log: &LogContext,
    stdout: OwnedFd,
    stderr: OwnedFd,
) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let (ready_r, ready_w) = pipe()?;
    let mut cmd = Command::new(path);
    for (k, v) in args {
        if v.is_empty() {
            cmd.arg(k);
        } else {
            cmd.arg(k).arg(v);
        }
    }
    cmd.env("CONTAINER_ID", log.id)
        .env("CONTAINER_NAMESPACE", log.namespace)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let fds = [stdout.as_raw_fd(), stderr.as_raw_fd(), ready_w.as_raw_fd()];
    // SAFETY: between fork and exec the closure only calls dup2, which is
    // async-signal-safe; the source fds stay open in the parent until
    // spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            for (i, fd) in fds.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    reaper::spawn_unwatched(&mut cmd).map_err(Error::io(format!(
        "start logging binary {}",
        path.display()
    )))?;
    drop((stdout, stderr, ready_w));
    // The logger closes (or writes to) fd 5 once it reads its pipes.
    let mut ready = File::from(ready_r);
    let mut fds = [PollFd::new(ready.as_fd(), PollFlags::POLLIN)];
    let _ = poll(&mut fds, PollTimeout::from(10_000u16));
    let mut b = [0u8; 1];
    let _ = ready.read(&mut b);
    Ok(())
}
