//! The container's init process, from clone to execve.
//!
//! This is the child side of create. It runs in the process that becomes
//! the container (no re-exec, no intermediate process), already inside the
//! namespaces clone gave it. The steps, in order:
//!
//!  1. Become non-dumpable, and die with the parent while setup runs.
//!  2. Join the namespaces given by path.
//!  3. Build the root filesystem: propagation, rootfs bind, mounts, /dev.
//!  4. pivot_root into it (or move it onto / with --no-pivot).
//!  5. The terminal: a pty from the container's devpts, master sent over
//!     the console socket, slave as stdio and /dev/console.
//!  6. readonlyPaths, maskedPaths, then the read-only root.
//!  7. hostname, domainname, rlimits; the program is looked up and cwd made.
//!  8. Tell the parent "ready" (sync.rs) and stop dying with it.
//!  9. Block on the exec fifo until `start` opens it.
//! 10. Capabilities and user: bounding set, keep-caps, setgroups/setgid/
//!     setuid, then effective/permitted/inheritable and ambient.
//! 11. no_new_privs, umask; close every descriptor past the preserved ones.
//! 12. chdir(cwd) and execve.
//!
//! Errors up to step 8 reach the parent over the sync socket; after it the
//! parent may be gone, so they go to the container's stderr.

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{openat, OFlag};
use nix::mount::MsFlags;
use nix::sys::signal::{signal, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::stat::Mode;
use oci_spec::runtime::LinuxNamespaceType;

use crate::capabilities::{self, Sets};
use crate::error::{Context, Error, Result, SysResult};
use crate::mountinfo::CgroupMount;
use crate::namespaces::Namespaces;
use crate::process;
use crate::rootfs::{self, HostView};
use crate::spec::Bundle;
use crate::syscall::{Linux, Syscall};
use crate::{rlimits, sync, terminal};

/// Everything init needs, prepared by the parent before clone.
pub struct Init<'a> {
    pub bundle: &'a Bundle,
    pub namespaces: &'a Namespaces,
    pub sync: OwnedFd,
    /// The parent's locked state directory: closed at once, or its flock
    /// would outlive the parent.
    pub lock_fd: RawFd,
    /// The state directory, to open the exec fifo relative to it.
    pub state_dir: File,
    pub console_socket: Option<OwnedFd>,
    pub caps: Sets,
    pub cgroup_mounts: Vec<CgroupMount>,
    pub own_cgroups: String,
    pub no_pivot: bool,
    pub preserve_fds: i32,
}

/// Never returns: the process execs the user program or exits.
pub fn run(init: Init) -> ! {
    let _ = nix::unistd::close(init.lock_fd);
    let prepared = match setup(&init) {
        Ok(p) => p,
        Err(e) => {
            sync::send_error(&init.sync, &e);
            // SAFETY: _exit skips the parent's atexit handlers and buffers,
            // which this forked copy must not run.
            unsafe { libc::_exit(1) }
        }
    };
    sync::send_ready(&init.sync);
    let _ = nix::unistd::close(init.sync.as_raw_fd());
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

/// What steps 1–7 leave for the steps after start.
struct Prepared {
    program: CString,
    args: Vec<CString>,
    env: Vec<CString>,
    cwd: PathBuf,
}

fn setup(init: &Init) -> Result<Prepared> {
    let spec = &init.bundle.spec;
    let process = spec.process().as_ref().expect("validated");
    let linux = spec.linux().as_ref().expect("validated");

    // 1.
    nix::sys::prctl::set_dumpable(false).sys("prctl(PR_SET_DUMPABLE)")?;
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).sys("prctl(PR_SET_PDEATHSIG)")?;
    // 2.
    init.namespaces.join_all()?;
    // Device nodes and directories get exactly the modes asked for.
    nix::sys::stat::umask(Mode::empty());

    // 3.
    let sys = Linux;
    let host = HostView {
        cgroup_mounts: &init.cgroup_mounts,
        own_cgroups: &init.own_cgroups,
        cgroup_ns: init.namespaces.has_new(LinuxNamespaceType::Cgroup),
    };
    let rootfs = &init.bundle.rootfs;
    rootfs::prepare(&sys, spec, &init.bundle.dir, rootfs, &host)?;
    // 4.
    if init.no_pivot {
        rootfs::move_root(rootfs)?;
    } else {
        rootfs::pivot(rootfs)?;
    }

    // 5.
    if process.terminal().unwrap_or(false) {
        let socket = init
            .console_socket
            .as_ref()
            .ok_or_else(|| Error::invalid("process.terminal needs --console-socket"))?;
        let (master, slave) = terminal::open_pty()?;
        if let Some(size) = process.console_size() {
            terminal::set_size(
                master.as_raw_fd(),
                size.height() as u16,
                size.width() as u16,
            );
        }
        terminal::send_master(socket.as_raw_fd(), &master)?;
        drop(master);
        terminal::attach_slave(&slave)?;
        let console = sys.target_in_root(Path::new("/"), Path::new("/dev/console"), true)?;
        sys.mount(Some(&slave), &console.path, None, MsFlags::MS_BIND, None)
            .context("bind the pty to /dev/console")?;
    }

    // The working directory exists before the root may become read-only,
    // as runc makes it.
    let cwd = process.cwd().clone();
    std::fs::create_dir_all(&cwd).sys_path("create process.cwd", &cwd)?;

    // 6.
    rootfs::finish(&sys, spec)?;

    // 7.
    let uts = init.namespaces.has_new(LinuxNamespaceType::Uts)
        || init
            .namespaces
            .join
            .iter()
            .any(|(t, _, _)| *t == LinuxNamespaceType::Uts);
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        if !uts {
            return Err(Error::invalid(
                "config.json: hostname needs a UTS namespace",
            ));
        }
        nix::unistd::sethostname(h).sys(format_args!("sethostname {h:?}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        if !uts {
            return Err(Error::invalid(
                "config.json: domainname needs a UTS namespace",
            ));
        }
        // SAFETY: a valid buffer and its length.
        let r = unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) };
        nix::errno::Errno::result(r).sys(format_args!("setdomainname {d:?}"))?;
    }
    rlimits::apply(process.rlimits().as_deref().unwrap_or_default())?;
    let _ = linux;

    let args = process.args().as_deref().expect("validated");
    let env = process::environment(process);
    let program = process::lookup(&args[0], &env)?;
    nix::sys::prctl::set_pdeathsig(None).sys("prctl(PR_SET_PDEATHSIG)")?;
    Ok(Prepared {
        program: process::path_cstring(&program)?,
        args: process::cstrings(args)?,
        env: process::cstrings(&env)?,
        cwd,
    })
}

fn finish(init: &Init, p: Prepared) -> Error {
    match exec(init, p) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn exec(init: &Init, p: Prepared) -> Result<std::convert::Infallible> {
    let process = init.bundle.spec.process().as_ref().expect("validated");
    // 9.
    wait_for_start(&init.state_dir)?;

    // 10.
    capabilities::drop_bounding(&init.caps)?;
    capabilities::keep_across_setuid(true)?;
    process::switch_user(process.user())?;
    capabilities::keep_across_setuid(false)?;
    capabilities::apply(&init.caps)?;

    // 11.
    if process.no_new_privileges().unwrap_or(false) {
        nix::sys::prctl::set_no_new_privs().sys("prctl(PR_SET_NO_NEW_PRIVS)")?;
    }
    let umask = process.user().umask().unwrap_or(0o022);
    nix::sys::stat::umask(Mode::from_bits_truncate(umask));
    close_from(3 + init.preserve_fds.max(0) as u32);

    // 12. chdir only now: with every host descriptor closed, a cwd such as
    // /proc/self/fd/N cannot lead out of the container.
    nix::unistd::chdir(&p.cwd).sys_path("chdir to process.cwd", &p.cwd)?;
    reset_signals();
    nix::unistd::execve(&p.program, &p.args, &p.env).sys(format_args!("exec {:?}", p.program))
}

/// Opening the fifo for writing blocks until `start` opens it for reading;
/// the byte tells start that the wait is over.
fn wait_for_start(dir: &File) -> Result<()> {
    let fd = openat(
        Some(dir.as_raw_fd()),
        crate::state::EXEC_FIFO,
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .sys("open the exec fifo")?;
    nix::unistd::write(
        // SAFETY: fd is open for the duration of this call.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
        b"0",
    )
    .sys("write the exec fifo")?;
    let _ = nix::unistd::close(fd);
    Ok(())
}

fn close_from(first: u32) {
    // SAFETY: close_range only closes descriptors; none is used after this
    // by Rust code holding it (state_dir's fd is forgotten by the caller's
    // exec or exit).
    unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
}

/// The user program starts with every signal unblocked and at its default
/// action: Rust ignores SIGPIPE, and `run` blocks signals before clone.
fn reset_signals() {
    // SAFETY: restoring default dispositions in a single-threaded process.
    unsafe {
        let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}
