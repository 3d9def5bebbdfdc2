//! `exec`: a second process in a running container.
//!
//! The parent (berth exec) reads the container's state and prepares what
//! the child needs from the host: the init's pidfd, the compiled seccomp
//! filter, the console socket, the cgroup. It enters the container's pid
//! and time namespaces for its children only and clones; the child is born
//! in them (and, on v2, in the container's cgroup). The child, steps in
//! order:
//!
//! 1. Non-dumpable (a container process cannot reach this process's
//!    memory or /proc/PID/exe, berth's binary; the parent already is, so
//!    the child is from birth), die with the parent; the process's initial
//!    CPU affinity.
//! 2. Move into the container's v1 cgroups (clone3 has placed it in the
//!    v2 one); wait for the parent's go. The parent sends it at once (on a
//!    kernel without CLONE_INTO_CGROUP, once it has moved the child into
//!    the v2 cgroup). The wait is what makes a child whose parent died
//!    exit: PR_SET_PDEATHSIG alone races with the parent's exit, and
//!    execve may clear it (a root process whose capabilities grow).
//! 3. setns(pidfd) into every other namespace of the container at once
//!    (user first, by the kernel): root and cwd become the container's.
//!    Without a mount namespace of its own, the container's root is only
//!    its init's: chroot there.
//! 4. The terminal: a pty from the container's devpts, master sent over
//!    the console socket.
//! 5. rlimits, ioPriority, scheduler; the program looked up in the
//!    container; capabilities, user, no_new_privs (CAP_SYS_ADMIN kept for
//!    the seccomp filter when it needs it, see init/seccomp.rs).
//! 6. umask, LSM labels, every non-stdio descriptor close-on-exec, cwd
//!    (refused outside the container), signals, the final CPU affinity,
//!    no parent-death signal; the seccomp filter (its listener to the
//!    agent, CAP_SYS_ADMIN dropped) and execve, with nothing of berth's in
//!    between.
//!
//! The CLI has first re-executed berth from a sealed copy of its binary
//! (CVE-2019-5736, see [`process::run_from_sealed_copy`]).
//!
//! Errors reach the parent over the sync socket (close-on-exec: end of file
//! means execve succeeded).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Process};

use crate::container::lifecycle;
use crate::container::store::{ContainerDir, Store};
use crate::error::{Context, Error, Result, SysResult};
use crate::init::seccomp::Seccomp;
use crate::init::sync::{self, Msg};
use crate::init::{process, terminal};
use crate::linux::capabilities::Sets;
use crate::linux::{namespaces, process_attrs};
use crate::oci::state::{State, Status};

pub struct ExecOptions {
    pub id: String,
    /// The process to run: the container's, changed by the flags, or the
    /// one given with --process.
    pub process: Process,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: i32,
    pub ignore_paused: bool,
    /// --cgroup: a sub-cgroup of the container's to run in.
    pub sub_cgroup: Option<String>,
}

/// The state of a container exec may enter.
pub fn load(store: &Store, id: &str, ignore_paused: bool) -> Result<(ContainerDir, State)> {
    let dir = store.open(id)?;
    let (state, status) = lifecycle::loaded(&dir)?;
    match (state, status) {
        (Some(s), Status::Created | Status::Running) => Ok((dir, s)),
        (Some(s), Status::Paused) if ignore_paused => Ok((dir, s)),
        (_, Status::Paused) => Err(Error::wrong_state(format!(
            "cannot exec in container {id}: it is paused (use --ignore-paused)"
        ))),
        _ => Err(Error::wrong_state(format!(
            "cannot exec in container {id}: it is not running"
        ))),
    }
}

pub fn exec(
    state: &State,
    opts: &ExecOptions,
    keep_console: bool,
) -> Result<(Pid, Option<UnixStream>)> {
    let id = &opts.id;
    let template = state
        .exec
        .as_ref()
        .ok_or_else(|| Error::invalid(format!("container {id} was created without exec data")))?;
    let p = &opts.process;
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::invalid("exec: no command given"));
    }
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    crate::linux::lsm::validate(
        nonempty(p.apparmor_profile()).as_deref(),
        nonempty(p.selinux_label()).as_deref(),
        None,
    )?;
    let terminal = p.terminal().unwrap_or(false);
    let (console_socket, kept) = match (&opts.console_socket, terminal, keep_console) {
        (Some(path), true, _) => (
            Some(OwnedFd::from(
                UnixStream::connect(path).sys_path("connect to the console socket", path)?,
            )),
            None,
        ),
        (None, true, true) => {
            let (ours, theirs) = UnixStream::pair().sys("socketpair for the console")?;
            (Some(theirs.into()), Some(ours))
        }
        (None, true, false) => {
            return Err(Error::invalid("--tty needs --console-socket with --detach"))
        }
        (Some(_), false, _) => return Err(Error::invalid("--console-socket given, but no --tty")),
        (None, false, _) => (None, None),
    };
    let pidfd = lifecycle::pidfd(state)?
        .ok_or_else(|| Error::wrong_state(format!("container {id} is not running")))?;
    let seccomp = template
        .seccomp
        .as_ref()
        .map(Seccomp::prepare)
        .transpose()?;
    let has = |t| template.namespaces.contains(&t);
    let mut join = CloneFlags::empty();
    for t in &template.namespaces {
        if !matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
            join |= namespaces::flag(*t);
        }
    }
    // The child is in the container's pid namespace from the moment it
    // exists, where every process of the container can see it: it must be
    // non-dumpable from birth, so this process is (a clone inherits it), not
    // only from its own first step. Against CVE-2019-5736 (its
    // /proc/PID/exe) and ptrace by a container process that holds all of
    // berth's capabilities.
    nix::sys::prctl::set_dumpable(false).sys("prctl(PR_SET_DUMPABLE)")?;
    // Without root, entering the container's pid namespace takes privilege
    // over its user namespace: this process, which owns that namespace
    // (rootless), joins it first, for good. It stays non-dumpable, and its
    // memory's owner stays the host's namespace, so the container cannot
    // ptrace it.
    if join.contains(CloneFlags::CLONE_NEWUSER) && !nix::unistd::geteuid().is_root() {
        nix::sched::setns(pidfd.as_fd(), CloneFlags::CLONE_NEWUSER)
            .sys("setns user namespace of the container")?;
        join.remove(CloneFlags::CLONE_NEWUSER);
    }
    let cgroups = state.cgroups.clone().unwrap_or_default();
    let cgroups = match &opts.sub_cgroup {
        Some(sub) => sub_cgroup(&cgroups, sub)?,
        None => cgroups,
    };
    let cgroup_fd = cgroups.unified_fd()?;
    let v1_tasks = cgroups.open_v1_tasks()?;
    let (parent_sock, child_sock) = sync::pair()?;
    let child = Child {
        process: p,
        caps: Sets::from_spec(p.capabilities().as_ref()),
        pidfd: &pidfd,
        join,
        console_socket,
        seccomp,
        sync: child_sock,
        parent_end: parent_sock.as_raw_fd(),
        v1_tasks,
        preserve_fds: opts.preserve_fds,
        state,
        chroot: !has(LinuxNamespaceType::Mount),
    };

    // The pid and time namespaces only take children: entered around clone.
    let saved = enter_for_children(
        &pidfd,
        has(LinuxNamespaceType::Pid),
        has(LinuxNamespaceType::Time),
    )?;
    let (pid, placed) = match crate::linux::clone::clone_process(0, cgroup_fd.as_ref()) {
        Ok((None, _)) => child.run(),
        cloned => {
            saved.leave();
            match cloned? {
                (Some(pid), placed) => (pid, placed),
                (None, _) => unreachable!("the child ran above"),
            }
        }
    };
    crate::fault::point("exec:cloned");
    drop(child);
    let result = (|| {
        if crate::linux::clone::parent_places(cgroup_fd.as_ref(), placed) {
            cgroups.enter_v2(pid.as_raw())?;
        }
        sync::send_msg(&parent_sock, Msg::Go { pid: pid.as_raw() })?;
        // End of file: execve succeeded; an error message: it did not.
        match sync::recv_msg(&parent_sock) {
            Err(e) if e.errno() == Some(Errno::ECHILD) => Ok(()),
            Err(e) => Err(e),
            Ok(m) => Err(Error::sys(
                format_args!("exec: unexpected {m:?}"),
                Errno::EPROTO,
            )),
        }
    })();
    if let Err(e) = result {
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        return Err(e).context(format_args!("exec in container {id}"));
    }
    Ok((pid, kept))
}

/// --cgroup: a directory below the container's in each hierarchy (made if
/// missing, as runc makes it; left for delete to remove with the rest).
fn sub_cgroup(
    c: &crate::linux::cgroups::Cgroups,
    sub: &str,
) -> Result<crate::linux::cgroups::Cgroups> {
    let rel = Path::new(sub.split_once(':').map_or(sub, |(_, p)| p));
    if rel
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(Error::invalid(format!(
            "--cgroup {sub:?}: a relative path without .."
        )));
    }
    c.below(rel)
}

struct Saved {
    pid: Option<std::fs::File>,
    time: Option<std::fs::File>,
}

impl Saved {
    fn leave(self) {
        if let Some(f) = &self.pid {
            let _ = nix::sched::setns(f.as_fd(), CloneFlags::CLONE_NEWPID);
        }
        if let Some(f) = &self.time {
            let _ = nix::sched::setns(f.as_fd(), namespaces::flag(LinuxNamespaceType::Time));
        }
    }
}

fn enter_for_children(pidfd: &OwnedFd, pid: bool, time: bool) -> Result<Saved> {
    let mut saved = Saved {
        pid: None,
        time: None,
    };
    for (yes, name, flag, slot) in [
        (pid, "pid", CloneFlags::CLONE_NEWPID, &mut saved.pid),
        (
            time,
            "time",
            namespaces::flag(LinuxNamespaceType::Time),
            &mut saved.time,
        ),
    ] {
        if !yes {
            continue;
        }
        let own = format!("/proc/self/ns/{name}");
        *slot = Some(std::fs::File::open(&own).sys_path("open", Path::new(&own))?);
        nix::sched::setns(pidfd.as_fd(), flag)
            .sys(format_args!("setns {name} namespace of the container"))?;
    }
    Ok(saved)
}

struct Child<'a> {
    process: &'a Process,
    caps: Sets,
    pidfd: &'a OwnedFd,
    join: CloneFlags,
    console_socket: Option<OwnedFd>,
    seccomp: Option<Seccomp>,
    sync: OwnedFd,
    /// The parent's end of the sync socket, closed first (sync::check_parent).
    parent_end: std::os::fd::RawFd,
    v1_tasks: crate::linux::cgroups::V1Tasks,
    preserve_fds: i32,
    state: &'a State,
    /// The container shares the caller's mount namespace: setns gives no
    /// root, init's is taken.
    chroot: bool,
}

impl Child<'_> {
    fn run(&self) -> ! {
        let err = match self.steps() {
            Ok(never) => match never {},
            Err(e) => e,
        };
        sync::send_error(&self.sync, &err);
        // SAFETY: _exit skips the parent's atexit handlers and buffers,
        // which this forked copy must not run.
        unsafe {
            libc::_exit(if err.errno() == Some(Errno::ENOENT) {
                127
            } else {
                126
            })
        }
    }

    fn steps(&self) -> Result<std::convert::Infallible> {
        let p = self.process;
        // 1.
        let _ = nix::unistd::close(self.parent_end);
        nix::sys::prctl::set_dumpable(false).sys("prctl(PR_SET_DUMPABLE)")?;
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).sys("prctl(PR_SET_PDEATHSIG)")?;
        sync::check_parent(&self.sync)?;
        let affinity = p.exec_cpu_affinity().as_ref();
        if let Some(cpus) = affinity.and_then(|a| a.initial().as_deref()) {
            process_attrs::cpu_affinity(cpus)?;
        }
        // 2.
        self.v1_tasks.join()?;
        sync::expect(&self.sync, b"G")?;
        // 3.
        if !self.join.is_empty() {
            nix::sched::setns(self.pidfd.as_fd(), self.join)
                .sys("setns into the container's namespaces")?;
        }
        if self.chroot {
            self.enter_inits_root()?;
        }
        // 4.
        if p.terminal().unwrap_or(false) {
            let socket = self.console_socket.as_ref().expect("checked by the parent");
            let (master, slave) = terminal::open_pty()?;
            if let Some(size) = p.console_size() {
                terminal::set_size(
                    master.as_raw_fd(),
                    size.height() as u16,
                    size.width() as u16,
                );
            }
            terminal::send_master(socket.as_raw_fd(), &master)?;
            drop(master);
            terminal::attach_slave(&slave)?;
        }
        // 5.
        process::set_limits(p)?;
        let args = p.args().as_deref().expect("checked by the parent");
        let env = process::environment(p, 0);
        let program = process::lookup(&args[0], &env)?;
        let program = process::Program::new(&program, args, &env)?;
        let held = crate::init::seccomp::holding(p, &self.caps, self.seccomp.is_some());
        process::become_user(p, &held)?;
        // 6.
        nix::sys::stat::umask(Mode::from_bits_truncate(p.user().umask().unwrap_or(0o022)));
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        crate::linux::lsm::set_exec_labels(
            nonempty(p.apparmor_profile()).as_deref(),
            nonempty(p.selinux_label()).as_deref(),
        )?;
        process::close_from(3 + self.preserve_fds.max(0) as u32);
        process::chdir_inside(p.cwd())?;
        process::reset_signals();
        if let Some(cpus) = affinity.and_then(|a| a.cpu_affinity_final().as_deref()) {
            process_attrs::cpu_affinity(cpus)?;
        }
        // The parent-death signal survives execve: a detached process must
        // outlive `exec`.
        nix::sys::prctl::set_pdeathsig(None).sys("prctl(PR_SET_PDEATHSIG)")?;
        if let Some(s) = &self.seccomp {
            s.load(self.state, Status::Running, &held, &self.caps)?;
        }
        Err(program.exec())
    }

    /// init's root, opened through /proc and taken only if init is still
    /// alive afterwards (the pidfd pins it: the pid was not reused).
    fn enter_inits_root(&self) -> Result<()> {
        let path = PathBuf::from(format!("/proc/{}/root", self.state.pid));
        let flags = nix::fcntl::OFlag::O_PATH
            | nix::fcntl::OFlag::O_DIRECTORY
            | nix::fcntl::OFlag::O_CLOEXEC;
        let root = nix::fcntl::open(&path, flags, Mode::empty()).sys_path("open", &path)?;
        // SAFETY: a fresh descriptor from open, owned by nothing else.
        let root = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(root) };
        if crate::linux::pidfd::wait_exit(self.pidfd, std::time::Duration::ZERO)? {
            return Err(Error::wrong_state(format!(
                "container {} is not running",
                self.state.id
            )));
        }
        nix::unistd::fchdir(root.as_raw_fd()).sys_path("chdir", &path)?;
        nix::unistd::chroot(".").sys_path("chroot", &path)
    }
}

/// The process for `exec` without --process: the container's, with the
/// command, and each flag over it, as runc builds it.
#[derive(Debug, Default)]
pub struct ProcessFlags {
    pub args: Vec<String>,
    pub tty: bool,
    pub cwd: Option<PathBuf>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
}

pub fn process_from_flags(base: &Process, f: &ProcessFlags) -> Result<Process> {
    let mut p = base.clone();
    p.set_args(Some(f.args.clone()));
    p.set_terminal(Some(f.tty));
    if let Some(cwd) = &f.cwd {
        p.set_cwd(cwd.clone());
    }
    if !f.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        for e in &f.env {
            let key = e.split('=').next().unwrap_or_default();
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.clone());
        }
        p.set_env(Some(env));
    }
    if let Some(u) = &f.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let bad = || Error::invalid(format!("--user {u:?}: expected UID[:GID]"));
        let mut user = p.user().clone();
        user.set_uid(uid.parse().map_err(|_| bad())?);
        user.set_gid(
            gid.map(|g| g.parse())
                .transpose()
                .map_err(|_| bad())?
                .unwrap_or(0),
        );
        p.set_user(user);
    }
    if !f.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(f.additional_gids.clone()));
        p.set_user(user);
    }
    if !f.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let add = |set: Option<std::collections::HashSet<oci_spec::runtime::Capability>>| {
            let mut set = set.unwrap_or_default();
            for c in &f.caps {
                if let Some(cap) = crate::linux::capabilities::spec_capability(c) {
                    set.insert(cap);
                }
            }
            Some(set)
        };
        // In every set, so that a non-root user keeps them across execve
        // (ambient needs them inheritable too).
        caps.set_bounding(add(caps.bounding().clone()));
        caps.set_effective(add(caps.effective().clone()));
        caps.set_permitted(add(caps.permitted().clone()));
        caps.set_inheritable(add(caps.inheritable().clone()));
        caps.set_ambient(add(caps.ambient().clone()));
        p.set_capabilities(Some(caps));
    }
    if f.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(a) = &f.apparmor {
        p.set_apparmor_profile(Some(a.clone()));
    }
    if let Some(l) = &f.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    Ok(p)
}
