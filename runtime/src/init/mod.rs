//! The container's init process, from clone to execve.
//!
//! This is the child side of create. It runs in the process that becomes
//! the container (no re-exec, no intermediate process), already inside the
//! namespaces clone gave it. The one exception: with a user namespace
//! joined by path and a new pid namespace, an intermediate process joins
//! the v1 cgroups and the namespaces (1 and 3 below) and clones init into
//! the new pid namespace as the parent's child (container/create.rs);
//! init skips those. The steps, in order:
//!
//!  1. Become non-dumpable, and die with the parent while setup runs.
//!     Move into the container's v1 cgroups (clone3 has placed us in the
//!     v2 one).
//!  2. With a new user namespace, in-container hooks or a seccomp agent
//!     (or a kernel without CLONE_INTO_CGROUP): wait for the parent's go
//!     (maps written, our host pid, the v2 cgroup joined); become root in
//!     a new user namespace.
//!  3. Join the namespaces given by path; bring up a new network
//!     namespace's loopback; a new session keyring.
//!  4. Build the root filesystem: propagation, rootfs bind, mounts, /dev
//!     (without a mount namespace, in the caller's: no propagation).
//!  5. Hooks: the parent runs prestart and createRuntime, then init runs
//!     createContainer (container namespaces, host paths still visible).
//!  6. pivot_root into it (or move it onto / with --no-pivot; chroot
//!     without a mount namespace).
//!  7. The terminal: a pty from the container's devpts, master sent over
//!     the console socket, slave as stdio and /dev/console. Without one,
//!     stdio that is the host's /dev/null becomes the container's own.
//!  8. hostname, domainname, sysctl; then readonlyPaths, maskedPaths, the
//!     root's propagation and the read-only root.
//!  9. rlimits, ioPriority, scheduler; look up the program.
//! 10. Capabilities and user: bounding set, keep-caps,
//!     setgroups/setgid/setuid, then effective/permitted/inheritable and
//!     ambient; no_new_privs. Then umask, personality, every descriptor past
//!     the preserved ones close-on-exec, chdir(cwd) (refused outside the
//!     root).
//! 11. Stop dying with the parent; with a seccomp agent, the filter (below).
//!     Tell the parent "ready" (sync.rs) and wait until it has recorded the
//!     state; exit if it dies first.
//! 12. Block on the exec fifo until `start` opens it, unless the parent is
//!     `run` and said go on at once (sync.rs, `S` go 1); startContainer
//!     hooks, each under the container's seccomp filter.
//! 13. LSM labels, signals back to their defaults; the seccomp filter; execve.
//!
//! The seccomp filter is the container's, not berth's: nothing of berth's
//! own runs under it but dropping privileges and execve (init/seccomp.rs).
//! So it goes on at 13, right before execve; without no_new_privs that
//! takes CAP_SYS_ADMIN, which the process then keeps from 10 until the
//! filter is on. startContainer hooks run in the container as its
//! processes do, so each hook's process loads the filter itself before
//! its execve (runc and crun run them under init's filter).
//!
//! With SCMP_ACT_NOTIFY that cannot be: the listener exists only once the
//! filter is on, and the agent must have it during create (runc sends it
//! there, with the status "creating"; agents wait for it before they let
//! the container start). Then the filter goes on at 11, after everything
//! of berth's that can come before it (umask, personality, descriptors and
//! cwd are at 10 for this), and the handshake with create, the wait on the
//! exec fifo, the startContainer hooks (which inherit the filter), the LSM
//! labels and the signals run under it, as they do under runc's.
//!
//! Errors up to step 11 reach the parent over the sync socket; after it the
//! parent may be gone, so they go to the container's stderr (init then
//! exits 126, 127 for a missing file, 1 for an error without errno), and
//! also to whoever started the container: `start` through the exec fifo,
//! `run` through the sync socket.

use std::borrow::Cow;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::fcntl::{openat, OFlag};
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use oci_spec::runtime::LinuxNamespaceType;

use crate::error::{Context, Error, Result, SysResult};
use crate::init::seccomp::Seccomp;
use crate::linux::capabilities::Sets;
use crate::linux::namespaces::Namespaces;
use crate::linux::syscall::{Linux, Syscall};
use crate::linux::{keyring, lsm, process_attrs};
use crate::oci::config::Bundle;
use crate::oci::state::{State, Status};
use berth_proc::mountinfo::CgroupMount;
use rootfs::HostView;
use sync::Msg;

pub mod devices;
pub mod hooks;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod sync;
pub mod terminal;

/// The exec fifo's name in the state directory: init blocks on it until
/// `start` opens it for reading.
pub const EXEC_FIFO: &str = "exec.fifo";
/// The name init gives itself (PR_SET_NAME) until its execve replaces it.
/// With the exec fifo still there, it tells a container waiting for
/// `start` from one whose `start` was killed after letting init go.
pub const INIT_COMM: &[u8] = b"berth-init\0";

/// Everything init needs, prepared by the parent before clone.
pub struct Init<'a> {
    pub bundle: &'a Bundle,
    /// The state as hooks see it (pid filled in from the parent's go).
    pub state: &'a State,
    pub namespaces: &'a Namespaces,
    pub sync: OwnedFd,
    /// The parent's end of the sync socket, which clone copied: closed at
    /// once, so that the parent's death shows as the socket's hang-up.
    pub parent_end: RawFd,
    /// The parent sends `G` first (sync.rs).
    pub wait_for_go: bool,
    /// An intermediate process has joined the v1 cgroups and the
    /// namespaces, and cloned this one (container/create.rs).
    pub joined_by_intermediate: bool,
    /// A new user namespace whose maps an unprivileged parent writes.
    pub unprivileged_maps: bool,
    /// The container's v1 cgroups, joined first.
    pub v1_tasks: crate::linux::cgroups::V1Tasks,
    /// The parent runs prestart/createRuntime hooks when asked.
    pub parent_hooks: bool,
    /// The parent's locked state directory: closed at once, or its flock
    /// would outlive the parent.
    pub lock_fd: RawFd,
    /// The state directory, to open the exec fifo relative to it; none
    /// when the parent starts the container itself (sync.rs, `S` go 1).
    pub state_dir: Option<File>,
    pub console_socket: Option<OwnedFd>,
    pub caps: Sets,
    /// Borrowed, not copied: what the parent frees after clone is written
    /// to (a free-list link in each block), and every page written after
    /// clone is copied for the writer; the layout's strings and vectors
    /// were spread over several.
    pub cgroup_mounts: &'a [CgroupMount],
    /// linux.seccomp, compiled by the parent.
    pub seccomp: Option<Seccomp>,
    /// linux.mountLabel where SELinux is on (linux/lsm.rs), as the parent
    /// sees the host: a mount namespace init joins need not have
    /// selinuxfs mounted.
    pub mount_label: Option<&'a str>,
    /// Idmapped bind mounts made by the parent, per `mounts[]` entry.
    pub idmapped: Vec<Option<OwnedFd>>,
    /// The container's cgroups as /proc/self/cgroup shows them, for the
    /// cgroup directories init bind-mounts; empty where it mounts
    /// cgroupfs instead (a new cgroup namespace, no user namespace: see
    /// container/create.rs).
    pub own_cgroups: String,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// Descriptors passed by systemd socket activation, kept after 2.
    pub listen_fds: u32,
    /// `--preserve-fds`, kept after the LISTEN_FDS ones.
    pub preserve_fds: i32,
}

/// Never returns: the process execs the user program or exits.
pub fn run(init: Init) -> ! {
    let _ = nix::unistd::close(init.lock_fd);
    let _ = nix::unistd::close(init.parent_end);
    let prepared = match setup(&init) {
        Ok(p) => p,
        Err(e) => {
            sync::send_error(&init.sync, &e);
            // SAFETY: _exit skips the parent's atexit handlers and buffers,
            // which this forked copy must not run.
            unsafe { libc::_exit(1) }
        }
    };
    let err = finish(&init, prepared);
    let _ = writeln!(std::io::stderr(), "berth: container init: {err}");
    let code = match err.errno() {
        Some(nix::errno::Errno::ENOENT) => 127,
        Some(_) => 126,
        None => 1,
    };
    // SAFETY: as above.
    unsafe { libc::_exit(code) }
}

/// What steps 1–11 leave for the steps after start.
struct Prepared<'a> {
    program: process::Program,
    state: Cow<'a, State>,
    /// The capabilities until the filter is on (seccomp::holding).
    held: Sets,
    /// `S` go 1: the parent (`run`) has started the container; no exec
    /// fifo, errors back on the sync socket, which execve closes.
    go: bool,
}

fn setup<'a>(init: &Init<'a>) -> Result<Prepared<'a>> {
    let spec = &init.bundle.spec;
    let process = spec.process().as_ref().expect("validated");
    let linux = spec.linux().as_ref().expect("validated");
    let ns = init.namespaces;

    // 1.
    nix::sys::prctl::set_dumpable(false).sys("prctl(PR_SET_DUMPABLE)")?;
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).sys("prctl(PR_SET_PDEATHSIG)")?;
    sync::check_parent(&init.sync)?;
    // The name `state` looks for (see INIT_COMM); execve replaces it.
    let name = std::ffi::CStr::from_bytes_with_nul(INIT_COMM).expect("NUL-terminated");
    nix::sys::prctl::set_name(name).sys("prctl(PR_SET_NAME)")?;
    if !init.joined_by_intermediate {
        init.v1_tasks.join()?;
    }
    // 2.
    // Copied only to take the pid the parent sends: the copy (the process,
    // the hooks and the cgroups of the state, a hundred blocks) would be
    // written into pages shared with the parent, each copied for init.
    let mut state = Cow::Borrowed(init.state);
    if init.unprivileged_maps {
        // /proc/PID/uid_map of a non-dumpable process belongs to root: an
        // unprivileged parent (or newuidmap, which checks the owner) could
        // not write it. Dumpable only until the maps are written; nothing
        // else runs in the new namespaces yet.
        nix::sys::prctl::set_dumpable(true).sys("prctl(PR_SET_DUMPABLE)")?;
        sync::send_msg(&init.sync, Msg::MapsWanted)?;
    }
    if init.wait_for_go {
        match sync::expect(&init.sync, b"G")? {
            Msg::Go { pid } => state.to_mut().pid = pid,
            _ => unreachable!("expect checked the tag"),
        }
    }
    if init.unprivileged_maps {
        nix::sys::prctl::set_dumpable(false).sys("prctl(PR_SET_DUMPABLE)")?;
    }
    if ns.has_new(LinuxNamespaceType::User) {
        crate::linux::namespaces::become_root()?;
    }
    // 3.
    if !init.joined_by_intermediate {
        ns.join_all()?;
    }
    ns.unshare_deferred()?;
    // One made ahead has its lo up already (linux/netns.rs).
    if ns.has_new(LinuxNamespaceType::Network) && ns.made_net.is_none() {
        crate::linux::loopback::up()?;
    }
    if !init.no_new_keyring {
        keyring::join_new(&state.id)?;
    }
    // Device nodes and directories get exactly the modes asked for.
    nix::sys::stat::umask(Mode::empty());

    // 4.
    let sys = Linux::default();
    let host = HostView {
        cgroup_mounts: init.cgroup_mounts,
        own_cgroups: &init.own_cgroups,
        cgroup_ns: ns.has_new(LinuxNamespaceType::Cgroup),
        idmapped: &init.idmapped,
        mount_label: init.mount_label,
        net_ns: ns.has(LinuxNamespaceType::Network),
        user_ns: ns.has(LinuxNamespaceType::User),
        mount_ns: ns.has(LinuxNamespaceType::Mount),
    };
    let rootfs = &init.bundle.rootfs;
    rootfs::prepare(&sys, spec, &init.bundle.dir, rootfs, &host)?;
    // 5.
    if init.parent_hooks {
        sync::send_msg(&init.sync, Msg::RunHooks)?;
        sync::expect(&init.sync, b"h")?;
    }
    run_own_hooks(
        hooks::Kind::CreateContainer,
        init,
        &state,
        Status::Creating,
        None,
    )?;
    // 6.
    if !host.mount_ns {
        rootfs::chroot(rootfs)?;
    } else if init.no_pivot {
        rootfs::move_root(rootfs)?;
    } else {
        rootfs::pivot(rootfs)?;
    }

    // 7.
    if process.terminal().unwrap_or(false) {
        let socket = init
            .console_socket
            .as_ref()
            .ok_or_else(|| Error::invalid("process.terminal needs --console-socket"))?;
        terminal::setup_console(&sys, process, socket)?;
    } else {
        // A session of its own, as runc gives it: criu refuses to dump a
        // process whose session leader is outside its pid namespace.
        nix::unistd::setsid().sys("setsid")?;
        if !rootfs::dev_from_host(spec) {
            devices::reopen_null_stdio()?;
        }
    }

    // The working directory exists before the root may become read-only,
    // as runc makes it. Made inside the root, magic links refused: through
    // /proc/self/fd/N of one of berth's descriptors (CVE-2024-21626), a
    // plain create_dir_all would make directories on the host.
    let cwd = process.cwd().clone();
    let made = sys
        .target_in_root(Path::new("/"), &cwd, false)
        .context("create process.cwd")?;
    if !std::fs::metadata(&made.path).is_ok_and(|m| m.is_dir()) {
        return Err(Error::sys(
            format_args!("process.cwd {}", cwd.display()),
            nix::errno::Errno::ENOTDIR,
        ));
    }

    // 8. (oci/validate.rs made sure there is a UTS namespace for the names.)
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).sys(format_args!("sethostname {h:?}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        // SAFETY: a valid buffer and its length.
        let r = unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) };
        nix::errno::Errno::result(r).sys(format_args!("setdomainname {d:?}"))?;
    }
    crate::linux::sysctl::apply(linux.sysctl().iter().flatten())?;
    rootfs::finish(&sys, spec)?;

    // 9.
    process::set_limits(process)?;
    let args = process.args().as_deref().expect("validated");
    let env = process::environment(process, init.listen_fds);
    let program = process::lookup(&args[0], &env)?;
    let program = process::Program::new(&program, args, &env)?;

    // 10.
    let held = seccomp::holding(process, &init.caps, init.seccomp.is_some());
    process::become_user(process, &held)?;
    let umask = process.user().umask().unwrap_or(0o022);
    nix::sys::stat::umask(Mode::from_bits_truncate(umask));
    if let Some(per) = linux.personality() {
        process_attrs::personality(per)?;
    }
    process::close_from(3 + init.listen_fds + init.preserve_fds.max(0) as u32);
    // The descriptors are only close-on-exec yet (the exec fifo must stay
    // open), so a cwd such as /proc/self/fd/N could still lead out of the
    // container: chdir_inside refuses that (CVE-2024-21626).
    process::chdir_inside(&cwd)?;

    // 11.
    // pdeathsig off first: `create` exits as soon as it has recorded the
    // state. Until it says so, its death (the socket's end without `S`)
    // is ours too: PR_SET_PDEATHSIG alone races with a parent killed now.
    nix::sys::prctl::set_pdeathsig(None).sys("prctl(PR_SET_PDEATHSIG)")?;
    if let Some(s) = init.seccomp.as_ref().filter(|s| s.has_agent()) {
        s.load(&state, Status::Creating, &held, &init.caps)?;
    }
    sync::send_msg(&init.sync, Msg::Ready)?;
    let go = match sync::expect(&init.sync, b"S")? {
        Msg::Saved { go } => go,
        _ => unreachable!("expect checked the tag"),
    };
    if !go {
        let _ = nix::unistd::close(init.sync.as_raw_fd());
    }
    Ok(Prepared {
        program,
        state,
        held,
        go,
    })
}

/// Errors after `start` opened the fifo also go back to `start` through it
/// (see [`wait_for_start`]); after `S` go 1, to `run` on the sync socket.
fn finish(init: &Init, p: Prepared) -> Error {
    let mut fifo = None;
    let go = p.go;
    let err = match exec(init, p, &mut fifo) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if let Some(fd) = fifo {
        let msg = format!("E{}", err.message());
        let _ = nix::unistd::write(&fd, &msg.as_bytes()[..msg.len().min(libc::PIPE_BUF)]);
    } else if go {
        sync::send_error(&init.sync, &err);
    }
    err
}

fn exec(init: &Init, p: Prepared, fifo: &mut Option<OwnedFd>) -> Result<std::convert::Infallible> {
    let process = init.bundle.spec.process().as_ref().expect("validated");
    // Not loaded yet: none, or no agent (see the top of this file).
    let filter = init.seccomp.as_ref().filter(|s| !s.has_agent());
    // 12.
    if !p.go {
        let dir = init
            .state_dir
            .as_ref()
            .ok_or_else(|| Error::invalid("told to wait for start without an exec fifo"))?;
        *fifo = Some(wait_for_start(dir)?);
    }
    let confine = filter.map(|s| s.for_hooks(&p.held, &init.caps));
    run_own_hooks(
        hooks::Kind::StartContainer,
        init,
        &p.state,
        Status::Created,
        confine.as_ref(),
    )?;

    // 13.
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    lsm::set_exec_labels(
        nonempty(process.apparmor_profile()).as_deref(),
        nonempty(process.selinux_label()).as_deref(),
    )?;
    process::reset_signals();
    if let Some(s) = filter {
        s.load(&p.state, Status::Created, &p.held, &init.caps)?;
    }
    Err(p.program.exec())
}

/// createContainer and startContainer: run by init itself, so in the
/// container's namespaces (and, for startContainer, its root and user).
fn run_own_hooks(
    kind: hooks::Kind,
    init: &Init,
    state: &State,
    status: Status,
    before_exec: Option<&hooks::BeforeExec>,
) -> Result<()> {
    let list = kind.list(init.bundle.spec.hooks().as_ref());
    if list.is_empty() {
        return Ok(());
    }
    let cwd = match kind {
        hooks::Kind::CreateContainer => init.bundle.dir.as_path(),
        _ => Path::new("/"),
    };
    hooks::run_all_then(kind, list, &state.hook_input(status), cwd, before_exec)
}

/// Opening the fifo for writing blocks until `start` opens it for reading;
/// the byte tells start that the wait is over. The descriptor stays open,
/// close-on-exec: `start` reads until end of file, which comes when execve
/// has succeeded (or with an `E` message when a step after it failed), so
/// that poststart hooks run after the program is executed.
fn wait_for_start(dir: &File) -> Result<OwnedFd> {
    let fd = openat(
        Some(dir.as_raw_fd()),
        EXEC_FIFO,
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .sys("open the exec fifo")?;
    // SAFETY: a fresh descriptor from openat, owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::unistd::write(&fd, b"0").sys("write the exec fifo")?;
    Ok(fd)
}
