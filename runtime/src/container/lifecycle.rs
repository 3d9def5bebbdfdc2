//! start, kill and delete of an existing container.
//!
//! Processes are reached through pidfds opened after the pid's start time
//! has been checked, so a recycled pid is never signalled.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;

use crate::container::store::{process_alive, ContainerDir, Store, Unlocked};
use crate::error::{Context, Error, Result, SysResult};
use crate::init::hooks;
use crate::init::sync::{self, Msg};
use crate::linux::pidfd;
use crate::oci::config::Bundle;
use crate::oci::state::{State, Status};

/// Opens a pidfd for the container's init, or None when it has exited.
pub fn pidfd(state: &State) -> Result<Option<OwnedFd>> {
    let fd = match pidfd::open(state.pid) {
        Ok(fd) => fd,
        Err(Errno::ESRCH) => return Ok(None),
        Err(e) => return Err(Error::sys(format_args!("pidfd_open {}", state.pid), e)),
    };
    // Checked after opening: from here on the fd pins this very process.
    Ok(process_alive(state.pid, state.start_time).then_some(fd))
}

pub fn loaded(dir: &ContainerDir) -> Result<(Option<State>, Status)> {
    let state = dir.load()?;
    let status = dir.status(state.as_ref());
    Ok((state, status))
}

/// Lets a created container's init go on to execve.
pub fn start(dir: &ContainerDir) -> Result<()> {
    let (state, status) = loaded(dir)?;
    let id = &dir.id;
    let state = match (state, status) {
        (Some(s), Status::Created) => s,
        (_, Status::Creating) => {
            return Err(Error::wrong_state(format!(
                "container {id} is still being created"
            )))
        }
        (_, Status::Running | Status::Paused) => {
            return Err(Error::wrong_state(format!(
                "cannot start container {id}: it is already running"
            )))
        }
        _ => {
            return Err(Error::wrong_state(format!(
                "cannot start container {id}: it has stopped"
            )))
        }
    };
    let Some(pfd) = pidfd(&state)? else {
        return Err(Error::wrong_state(format!(
            "cannot start container {id}: it has stopped"
        )));
    };
    release(dir, &state, &pfd)
}

/// `run`'s start, by create once the state is saved ([`Release::Now`]):
/// the exec fifo goes first, so that `state` says running from here on, as
/// after `start`; then `S` with go (init/sync.rs): init, which waits for it
/// on `sync`, goes on to execve without the fifo's rendezvous.
///
/// [`Release::Now`]: crate::container::create::Release::Now
pub fn release_now(dir: &ContainerDir, sync: &OwnedFd) -> Result<()> {
    let fifo = dir.fifo_path();
    std::fs::remove_file(&fifo).sys_path("remove", &fifo)?;
    sync::send_msg(sync, Msg::Saved { go: true })
}

/// The rest of `run`'s start: with poststart hooks, or `wait` (`run
/// --detach`, which reports a program that could not be executed as
/// `start` does), waits for execve as `start` does, on the sync socket
/// instead of the fifo, then runs the hooks. Otherwise the caller asks
/// [`sync::exec_result`] once the container has exited.
pub fn started(state: &State, sync: &OwnedFd, wait: bool) -> Result<()> {
    let poststart = !hooks::Kind::Poststart.list(state.hooks.as_ref()).is_empty();
    if wait || poststart {
        sync::exec_result(sync, true).with_context(|| format!("container {}", state.id))?;
        run_hooks_after(state, hooks::Kind::Poststart, Status::Running);
    }
    Ok(())
}

/// Lets init go on: one byte read from the exec fifo, unless init (pinned
/// by `pfd`) exits first; then waits for execve.
fn release(dir: &ContainerDir, state: &State, pfd: &OwnedFd) -> Result<()> {
    let id = &dir.id;
    let fifo_path = dir.fifo_path();
    // Non-blocking: if init died, a blocking open would wait forever.
    let fifo = open(
        &fifo_path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .sys_path("open", &fifo_path)?;
    // SAFETY: fresh descriptor from open.
    let fifo = unsafe { OwnedFd::from_raw_fd(fifo) };
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll the exec fifo", e)),
            Ok(_) => {}
        }
        let fifo_ready = fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        let exited = fds[1].revents().is_some_and(|r| !r.is_empty());
        if fifo_ready {
            let mut b = [0u8; 1];
            let n = nix::unistd::read(fifo.as_raw_fd(), &mut b).sys("read the exec fifo")?;
            if n == 1 {
                crate::fault::point("start:released");
                break;
            }
        }
        if exited {
            let _ = std::fs::remove_file(&fifo_path);
            return Err(Error::wrong_state(format!(
                "cannot start container {id}: its init process exited before start"
            )));
        }
    }
    std::fs::remove_file(&fifo_path).sys_path("remove", &fifo_path)?;
    wait_for_exec(&fifo).with_context(|| format!("container {id}"))?;
    run_hooks_after(state, hooks::Kind::Poststart, Status::Running);
    Ok(())
}

/// After the start byte, init keeps its end of the fifo open until execve
/// closes it: end of file means the program is running; an `E` message is
/// what failed in between (a startContainer hook, execve itself).
fn wait_for_exec(fifo: &OwnedFd) -> Result<()> {
    let mut msg = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll the exec fifo", e)),
            Ok(_) => {}
        }
        match nix::unistd::read(fifo.as_raw_fd(), &mut buf) {
            Ok(0) => break,
            Ok(n) => msg.extend_from_slice(&buf[..n]),
            Err(Errno::EAGAIN | Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("read the exec fifo", e)),
        }
    }
    match msg.split_first() {
        Some((b'E', text)) => Err(Error::from_init(
            String::from_utf8_lossy(text).into_owned(),
            None,
        )),
        _ => Ok(()),
    }
}

/// prestart and createRuntime, which run in the runtime's namespaces (the
/// parent runs them when init says its mounts are done).
pub fn run_parent_hooks(bundle: &Bundle, state: &State) -> Result<()> {
    let input = state.hook_input(Status::Creating);
    for kind in [hooks::Kind::Prestart, hooks::Kind::CreateRuntime] {
        let list = kind.list(bundle.spec.hooks().as_ref());
        hooks::run_all(kind, list, &input, &bundle.dir)?;
    }
    Ok(())
}

/// poststart and poststop: in the runtime's namespaces, from the bundle
/// directory, failures only warned about (runtime.md, "Lifecycle").
pub(crate) fn run_hooks_after(state: &State, kind: hooks::Kind, status: Status) {
    let list = kind.list(state.hooks.as_ref());
    if list.is_empty() {
        return;
    }
    let cwd = if state.bundle.is_dir() {
        state.bundle.as_path()
    } else {
        std::path::Path::new("/")
    };
    hooks::run_all_warn(kind, list, &state.hook_input(status), cwd);
}

/// Signals the container's init (and with `all`, every process in its
/// cgroup, or without cgroups in its pid namespace).
pub fn kill(dir: &ContainerDir, sig: Signal, all: bool) -> Result<()> {
    let (state, status) = loaded(dir)?;
    let id = &dir.id;
    // `--all` reaches the processes an exited init left behind, as runc
    // does: containerd's shims send it when a task without its own pid
    // namespace exits.
    if let (true, Some(state), Status::Stopped) = (all, &state, status) {
        for pid in members(state).unwrap_or_default() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
        return Ok(());
    }
    let (Some(state), Status::Created | Status::Running | Status::Paused) = (state, status) else {
        return Err(Error::wrong_state(format!("container {id} is not running")));
    };
    let Some(fd) = pidfd(&state)? else {
        return Err(Error::wrong_state(format!("container {id} is not running")));
    };
    if all {
        for pid in members(&state)? {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
    }
    pidfd::send_signal(&fd, sig)
}

/// The container's processes other than init: its cgroup's, or where it
/// has none of its own (none at all, or one that was already there and may
/// hold others), its pid namespace's.
pub fn members(state: &State) -> Result<Vec<i32>> {
    Ok(match &state.cgroups {
        Some(c) if !c.dirs.is_empty() && c.all_made_here() => {
            c.procs()?.into_iter().filter(|p| *p != state.pid).collect()
        }
        _ => pid_namespace_members(state.pid),
    })
}

/// Processes sharing init's pid namespace, when that namespace is the
/// container's own (never the host's).
fn pid_namespace_members(init: i32) -> Vec<i32> {
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let Some(target) = ns(&init.to_string()) else {
        return Vec::new();
    };
    if ns("self").as_ref() == Some(&target) {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .filter(|n| ns(n).as_ref() == Some(&target))
        .filter_map(|n| n.parse().ok())
        .filter(|&p| p != init)
        .collect()
}

/// Removes a container. A running one needs `force`; a created one is
/// killed first, as runc does; a missing one is fine with `force`.
pub fn delete(store: &Store, id: &str, force: bool) -> Result<()> {
    let dir = match store.open(id) {
        Err(e) if force && e.kind() == crate::error::Kind::NotFound => return Ok(()),
        r => r?,
    };
    delete_locked(dir, force)
}

/// [`delete`] of a container whose directory the caller has locked (a
/// checkpoint that stopped it).
pub fn delete_locked(dir: ContainerDir, force: bool) -> Result<()> {
    let id = &dir.id.clone();
    let (state, status) = loaded(&dir)?;
    match status {
        Status::Stopped | Status::Creating => {}
        Status::Running | Status::Paused if !force => {
            return Err(Error::wrong_state(format!(
                "cannot delete container {id} that is not stopped: {} (use --force)",
                status.as_str()
            )))
        }
        Status::Created | Status::Running | Status::Paused => {
            let state = state.as_ref().expect("status derived from a state");
            if let Some(fd) = pidfd(state)? {
                for pid in members(state)? {
                    let _ =
                        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
                }
                pidfd::send_signal(&fd, Signal::SIGKILL)?;
                // Frozen processes die only once thawed.
                if status == Status::Paused {
                    if let Some(c) = &state.cgroups {
                        c.freeze(false)?;
                    }
                }
                if !pidfd::wait_exit(&fd, Duration::from_secs(10))? {
                    return Err(Error::sys(
                        format_args!(
                            "container {id}: init process {} did not exit after SIGKILL",
                            state.pid
                        ),
                        Errno::ETIMEDOUT,
                    ));
                }
            }
        }
    }
    remove(dir, state.as_ref(), status)
}

/// `run`'s delete of the container it created and waited for: stopped, its
/// init reaped, and `state` what create returned (nothing after create
/// changes what delete uses: `update` rewrites only device rules). Saves
/// reading back state.json and /proc. Gone meanwhile (a `delete` by another
/// command) is fine, as with `delete --force`.
pub fn delete_exited(dir: Unlocked, state: &State) -> Result<()> {
    let dir = match dir.relock() {
        Err(e) if e.kind() == crate::error::Kind::NotFound => return Ok(()),
        r => r?,
    };
    remove(dir, Some(state), Status::Stopped)
}

/// What every delete does once init is gone: the processes left in the
/// container's cgroups, its cgroups, its mounts in the caller's namespace,
/// the poststop hooks, the directory.
fn remove(dir: ContainerDir, state: Option<&State>, status: Status) -> Result<()> {
    let id = &dir.id.clone();
    // A create killed before it wrote state.json left only its record of
    // the cgroups (and maybe an init in them, waiting for `start`).
    let pending;
    let cgroups = match state {
        Some(s) => s.cgroups.as_ref(),
        None => {
            pending = dir.load_pending();
            pending.as_ref()
        }
    };
    if let Some(c) = cgroups {
        // Processes that outlived init (a forked daemon) die with it; only
        // from cgroups berth made for this container: in one that was
        // already there (cgroupsPath naming a shared slice), they are not
        // all the container's.
        if c.all_made_here() {
            for pid in c.procs()? {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        crate::fault::point("delete:killed");
        c.remove().with_context(|| format!("container {id}"))?;
        crate::fault::point("delete:cgroups");
    }
    // Without a mount namespace: what create mounted in the caller's, once
    // the cgroups are empty (no process of the container mounts any more).
    crate::container::host_mounts::undo(&dir.path).with_context(|| format!("container {id}"))?;
    if let Some(state) = state {
        run_hooks_after(state, hooks::Kind::Poststop, Status::Stopped);
    }
    // A restore killed while criu ran leaves the rootfs bound in the
    // directory: removing the directory would go through it.
    if status == Status::Creating {
        crate::container::criu::root::unmount_root(&dir.path)?;
    }
    dir.remove()
}

/// A container that has processes (created, running or paused) and the
/// cgroups they are in, for the commands that work on those (update,
/// events).
pub fn live_cgroups(
    state: Option<State>,
    status: Status,
    id: &str,
) -> Result<(State, crate::linux::cgroups::Cgroups)> {
    let state = match (state, status) {
        (Some(s), Status::Created | Status::Running | Status::Paused) => s,
        _ => return Err(Error::wrong_state(format!("container {id} is not running"))),
    };
    let cgroups = state
        .cgroups
        .clone()
        .filter(|c| !c.dirs.is_empty())
        .ok_or_else(|| Error::wrong_state(format!("container {id} has no cgroups")))?;
    Ok((state, cgroups))
}

/// `pause` and `resume`: the freezer of the container's cgroup.
pub fn set_paused(dir: &ContainerDir, paused: bool) -> Result<()> {
    let (state, status) = loaded(dir)?;
    let id = &dir.id;
    let cgroups = state
        .as_ref()
        .and_then(|s| s.cgroups.as_ref())
        .filter(|c| !c.dirs.is_empty());
    match (status, paused, cgroups) {
        (Status::Running, true, Some(c)) | (Status::Paused, false, Some(c)) => c.freeze(paused),
        (_, _, None) => Err(Error::wrong_state(format!(
            "container {id} has no cgroup to freeze"
        ))),
        (Status::Running, false, _) => {
            Err(Error::wrong_state(format!("container {id} is not paused")))
        }
        _ => Err(Error::wrong_state(format!("container {id} is not running"))),
    }
}

/// Parses a signal as runc does: a name with or without SIG, or a number.
pub fn parse_signal(s: &str) -> Result<Signal> {
    let bad = || Error::invalid(format!("unknown signal {s:?}"));
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_short_name_and_number() {
        assert_eq!(parse_signal("SIGKILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("term").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("10").unwrap(), Signal::SIGUSR1);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
