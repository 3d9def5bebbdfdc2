//! `create`, the parent side: from a bundle directory to a container whose
//! init process waits for `start`.
//!
//! Read top to bottom, this is the whole pipeline; the child side is
//! init.rs.
//!
//! 0. (The CLI, before it reads anything: run from a binary the container
//!    cannot write, CVE-2019-5736.) Be non-dumpable from here on, so that
//!    init is from birth.
//! 1. Load and validate config.json (spec.rs): bad input fails here, before
//!    anything exists.
//! 2. Make and lock the state directory (state.rs) and its exec fifo.
//! 3. Open what the child needs from the host: namespace paths, the console
//!    socket, the cgroup layout, descriptors passed by systemd.
//! 4. clone3 with the new namespaces (a joined pid namespace and a new time
//!    namespace are entered around the clone; a new network namespace has
//!    been made on the side since step 1, see netns.rs); the child runs
//!    init.rs.
//! 5. Talk to init (sync.rs): write a new user namespace's id maps and
//!    oomScoreAdj, run prestart and createRuntime hooks when its mounts are
//!    done, stage the state, wait for "ready", apply the device rules,
//!    commit the state and the pid file, and tell init it is saved.
//!
//! A failure at any step kills the child and removes the state directory:
//! nothing is left behind.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;

use crate::capabilities::Sets;
use crate::cgroups::{resources, Cgroups, Layout};
use crate::error::{Context, Error, Result, SysResult};
use crate::hooks;
use crate::init::{self, Init};
use crate::namespaces::{ForChildren, Namespaces};
use crate::spec::{self, Bundle};
use crate::state::{ContainerDir, State, Status, Store};
use crate::sync::{self, Msg};

#[derive(Debug, Default, Clone)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: i32,
    /// Rootless mode (`--rootless`, or auto when not root): cgroups the
    /// user cannot write are skipped with a warning.
    pub rootless: bool,
}

/// Where the pty master goes when the process has a terminal.
pub enum Console {
    /// `--console-socket PATH`, or none when the process has no terminal.
    Socket(Option<PathBuf>),
    /// `run` in the foreground: when the process has a terminal, the master
    /// comes back to this process over a socketpair ([`Created::console`]).
    Keep,
}

pub struct Created {
    pub pid: Pid,
    pub dir: ContainerDir,
    /// What state.json now says.
    pub state: State,
    /// With [`Console::Keep`] and a terminal: where the master arrives.
    pub console: Option<UnixStream>,
}

pub fn create(store: &Store, opts: &CreateOptions, console: Console) -> Result<Created> {
    let id = &opts.id;
    // 0. Against CVE-2019-5736: the CLI has re-executed from a binary the
    // container cannot write (process::run_from_sealed_copy) before it read
    // anything. Non-dumpable before clone, so that init is from birth: in a
    // joined pid namespace (a pod's) other containers see it at once.
    nix::sys::prctl::set_dumpable(false).sys("prctl(PR_SET_DUMPABLE)")?;
    // 1.
    spec::validate_id(id)?;
    let bundle = spec::load(&opts.bundle)?;
    let process = bundle.spec.process().as_ref().expect("validated");
    let terminal = process.terminal().unwrap_or(false);
    let (console_socket, kept) = match console {
        Console::Keep if terminal => {
            let (ours, theirs) = UnixStream::pair().sys("socketpair for the console")?;
            (Some(theirs.into()), Some(ours))
        }
        Console::Keep => (None, None),
        Console::Socket(path) => (connect_console(path.as_deref(), terminal)?, None),
    };

    // A new network namespace is made on the side meanwhile (netns.rs).
    let net = crate::netns::ahead(&bundle.spec)?;

    // 2.
    let dir = store.create(id)?;
    match build(&bundle, &dir, opts, console_socket, net) {
        Ok(state) => Ok(Created {
            pid: Pid::from_raw(state.pid),
            dir,
            state,
            console: kept,
        }),
        Err(e) => {
            let _ = dir.remove();
            Err(e).with_context(|| format!("container {id}"))
        }
    }
}

fn connect_console(path: Option<&Path>, terminal: bool) -> Result<Option<OwnedFd>> {
    match (path, terminal) {
        (Some(p), true) => UnixStream::connect(p)
            .map(|s| Some(s.into()))
            .sys_path("connect to the console socket", p),
        (None, true) => Err(Error::invalid(
            "process.terminal is true: --console-socket is required",
        )),
        (Some(_), false) => Err(Error::invalid(
            "--console-socket given, but process.terminal is false",
        )),
        (None, false) => Ok(None),
    }
}

fn build(
    bundle: &Bundle,
    dir: &ContainerDir,
    opts: &CreateOptions,
    console_socket: Option<OwnedFd>,
    net: Option<crate::netns::Ahead>,
) -> Result<State> {
    make_fifo(dir)?;
    let state_dir = File::open(&dir.path).sys_path("open", &dir.path)?;
    crate::fault::point("create:dir");

    // 3.
    let linux = bundle.spec.linux().as_ref().expect("validated");
    // Every cgroup write is planned (and a resource the host cannot honour
    // refused) before any directory is made.
    let layout = Layout::read()?;
    let own = std::fs::read_to_string("/proc/self/cgroup").sys("read /proc/self/cgroup")?;
    let mut cgroups = Cgroups::plan(&layout, &own, linux.cgroups_path().as_deref(), &opts.id);
    let planned = if opts.rootless {
        rootless_cgroups(&mut cgroups, linux)?
    } else {
        let planned = resources::plan(&cgroups, linux.resources().as_ref())?;
        cgroups.create()?;
        planned
    };
    // Until state.json exists, this record is how a delete after a killed
    // create finds the cgroups (and through them any process left).
    if let Err(e) = dir.save_pending(&cgroups) {
        let _ = cgroups.remove();
        return Err(e);
    }
    crate::fault::point("create:cgroups");
    let place = Placement {
        layout: &layout,
        own: &own,
        cgroups: &cgroups,
        planned: &planned,
    };
    let result = resources::apply_limits(&planned)
        .and_then(|()| spawn(bundle, dir, opts, console_socket, state_dir, &place, net));
    if result.is_err() {
        let _ = cgroups.remove();
    }
    result
}

/// Rootless mode: the cgroups the user may make (a delegated subtree),
/// without the others, with a warning; linux.resources is planned for
/// those that are left, and refused where it needs one that is not.
fn rootless_cgroups(
    cgroups: &mut Cgroups,
    linux: &oci_spec::runtime::Linux,
) -> Result<resources::Planned> {
    let refused = cgroups.create_where_permitted()?;
    if !refused.is_empty() {
        let list: Vec<_> = refused.iter().map(|p| p.display().to_string()).collect();
        log::warn!(
            "rootless: no permission to create {}: the container runs without {}",
            list.join(", "),
            if list.len() == 1 { "it" } else { "them" }
        );
    }
    resources::plan(cgroups, linux.resources().as_ref())
        .inspect_err(|_| {
            let _ = cgroups.remove();
        })
        .with_context(|| {
            "rootless: linux.resources needs a cgroup delegated to this user \
             (cgroupsPath below one the user owns)"
                .to_string()
        })
}

/// The container's cgroups, made, and what linux.resources asks of them.
struct Placement<'a> {
    layout: &'a Layout,
    /// The runtime's /proc/self/cgroup.
    own: &'a str,
    cgroups: &'a Cgroups,
    planned: &'a resources::Planned,
}

/// Steps 3 (the rest) to 5, with the cgroups made.
fn spawn(
    bundle: &Bundle,
    dir: &ContainerDir,
    opts: &CreateOptions,
    console_socket: Option<OwnedFd>,
    state_dir: File,
    place: &Placement,
    net: Option<crate::netns::Ahead>,
) -> Result<State> {
    let Placement {
        layout,
        own,
        cgroups,
        planned,
    } = place;
    let linux = bundle.spec.linux().as_ref().expect("validated");
    let process = bundle.spec.process().as_ref().expect("validated");
    let mut namespaces = Namespaces::from_spec(linux)?;
    if let Some(net) = net {
        namespaces.made_net = Some(net.finish()?);
    }
    // A v1 hierarchy takes init only once it exists: init moves itself
    // there first (V1Tasks), and makes its cgroup namespace only then, so
    // that the namespace is rooted at its cgroup.
    let v1 = cgroups.dirs.iter().any(|d| !d.v2);
    namespaces.defer_cgroup = v1 && namespaces.has_new(LinuxNamespaceType::Cgroup);
    let cgroup_fd = cgroups.unified_fd()?;
    let v1_tasks = cgroups.open_v1_tasks()?;
    let mut state = new_state(bundle, &opts.id, cgroups);
    let idmapped = crate::rootfs::idmapped_trees(&bundle.spec, &bundle.dir)?;
    let seccomp = linux.seccomp().as_ref().map(Seccomp::prepare).transpose()?;
    let notify = seccomp.as_ref().is_some_and(|s| s.agent.is_some());
    let hooks = HookPlan::of(&bundle.spec);
    let userns = namespaces.has_new(LinuxNamespaceType::User);
    // Init makes itself dumpable for its maps and says so (sync.rs, `M`).
    let unprivileged_maps = userns && !nix::unistd::geteuid().is_root();
    let listen_fds = crate::process::listen_fds();
    let (parent_sock, child_sock) = crate::sync::pair()?;

    // 4.
    let init = Init {
        bundle,
        state: &state,
        namespaces: &namespaces,
        sync: child_sock,
        parent_end: parent_sock.as_raw_fd(),
        wait_for_go: userns || hooks.in_container || notify,
        unprivileged_maps,
        v1_tasks,
        parent_hooks: hooks.in_parent,
        lock_fd: dir.lock_fd(),
        state_dir,
        console_socket,
        caps: Sets::from_spec(process.capabilities().as_ref()),
        cgroup_mounts: layout.mounts.clone(),
        idmapped,
        seccomp,
        own_cgroups: cgroups.proc_self_text(layout, own),
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        listen_fds,
        preserve_fds: opts.preserve_fds,
    };
    let for_children = ForChildren::enter(&namespaces, linux)?;
    let cloned = clone_init(
        namespaces.clone_flags().bits() as u64,
        cgroup_fd.as_ref(),
        init,
    );
    for_children.leave();
    let (pid, placed) = cloned?;
    crate::fault::point("create:cloned");

    // 5.
    state.pid = pid.as_raw();
    let result = (|| {
        if userns {
            if unprivileged_maps {
                sync::expect(&parent_sock, b"M")?;
            }
            crate::namespaces::write_id_maps(pid, linux)?;
        }
        // From here: in a user namespace, init cannot open its own /proc
        // files once it is non-dumpable.
        if let Some(v) = process.oom_score_adj() {
            crate::process_attrs::oom_score_adj(pid, v)?;
        }
        let place_v2 = parent_places(cgroup_fd.as_ref(), placed);
        if place_v2 {
            cgroups.enter_v2(pid.as_raw())?;
        }
        if userns || hooks.in_container || notify || place_v2 {
            sync::send_msg(&parent_sock, Msg::Go { pid: pid.as_raw() })?;
        }
        if hooks.in_parent {
            sync::expect(&parent_sock, b"H")?;
            run_parent_hooks(bundle, &state)?;
            sync::send_msg(&parent_sock, Msg::HooksDone)?;
        }
        // While init builds the container: the state, under a temporary
        // name until init is ready.
        state.start_time = crate::state::proc_stat(pid.as_raw())
            .ok_or_else(|| {
                Error::sys(
                    "the container's init process exited during create",
                    Errno::ESRCH,
                )
            })?
            .0;
        let staged = dir.stage(&state)?;
        // For a later checkpoint: init's stdio, which is ours (with a
        // terminal it is the pty, of which criu makes its own).
        if !process.terminal().unwrap_or(false) {
            crate::checkpoint::save_descriptors(&dir.path)?;
        }
        sync::expect(&parent_sock, b"R")?;
        // After init made the device nodes, before anything runs in the
        // container.
        resources::apply_devices(planned)?;
        crate::fault::point("create:ready");
        staged.commit()?;
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, pid).context("--pid-file")?;
        }
        sync::send_msg(&parent_sock, Msg::Saved)?;
        crate::fault::point("create:saved");
        Ok(())
    })();
    if let Err(e) = result {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        // The lifecycle goes on to delete, and so to the poststop hooks
        // (runtime.md, steps 3 to 5 and 13).
        crate::lifecycle::run_hooks_after(&state, hooks::Kind::Poststop, Status::Stopped);
        return Err(e);
    }
    Ok(state)
}

/// linux.seccomp, compiled before clone; with SCMP_ACT_NOTIFY, the agent's
/// socket is connected here too, since init cannot reach host paths.
pub struct Seccomp {
    pub filter: crate::seccomp::Filter,
    pub agent: Option<(UnixStream, String)>,
}

impl Seccomp {
    pub fn prepare(s: &oci_spec::runtime::LinuxSeccomp) -> Result<Seccomp> {
        let filter = crate::seccomp::compile(s)?;
        let agent = if filter.notify {
            let path = s.listener_path().as_ref().ok_or_else(|| {
                Error::invalid("linux.seccomp: SCMP_ACT_NOTIFY needs listenerPath")
            })?;
            let sock = UnixStream::connect(path)
                .sys_path("connect to linux.seccomp.listenerPath", path)?;
            Some((sock, s.listener_metadata().clone().unwrap_or_default()))
        } else {
            None
        };
        Ok(Seccomp { filter, agent })
    }

    /// As late as possible is right before execve; that needs no_new_privs
    /// or CAP_SYS_ADMIN kept in the final effective set. Otherwise the
    /// filter goes on before the capabilities are dropped.
    pub fn load_late(process: &oci_spec::runtime::Process, caps: &Sets) -> bool {
        const CAP_SYS_ADMIN: u64 = 1 << 21;
        process.no_new_privileges().unwrap_or(false) || caps.effective & CAP_SYS_ADMIN != 0
    }

    /// Loads the filter; a listener goes to the agent at once, as only
    /// sendmsg stands between it and the filter's first notification.
    pub fn load(&self, state: &State, status: Status) -> Result<()> {
        let message = self
            .agent
            .as_ref()
            .map(|(_, metadata)| crate::seccomp::listener::message(state, status, metadata));
        let listener = crate::seccomp::load(&self.filter)?;
        if let (Some(fd), Some((agent, _)), Some(msg)) = (listener, &self.agent, message) {
            crate::seccomp::listener::send(agent, &fd, &msg)?;
        }
        Ok(())
    }
}

/// The state of a container made from `bundle`, before it has a process.
pub(crate) fn new_state(bundle: &Bundle, id: &str, cgroups: &Cgroups) -> State {
    let linux = bundle.spec.linux().as_ref().expect("validated");
    let process = bundle.spec.process().as_ref().expect("validated");
    State {
        id: id.to_string(),
        pid: 0,
        start_time: 0,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::timefmt::now_rfc3339_nano(),
        annotations: bundle
            .spec
            .annotations()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        hooks: bundle.spec.hooks().clone(),
        cgroups: Some(cgroups.clone()),
        exec: Some(crate::state::ExecTemplate {
            process: process.clone(),
            seccomp: linux.seccomp().clone(),
            namespaces: linux
                .namespaces()
                .iter()
                .flatten()
                .map(|n| n.typ())
                .collect(),
        }),
    }
}

/// Which hook lists make init stop and talk to the parent.
struct HookPlan {
    /// prestart and createRuntime run in the runtime's namespaces, so the
    /// parent runs them when init says its mounts are done.
    in_parent: bool,
    /// createContainer and startContainer run in init, which needs its pid
    /// as the host sees it for their state.
    in_container: bool,
}

impl HookPlan {
    fn of(spec: &oci_spec::runtime::Spec) -> HookPlan {
        let some = |k: hooks::Kind| !k.list(spec.hooks().as_ref()).is_empty();
        use hooks::Kind::*;
        HookPlan {
            in_parent: some(Prestart) || some(CreateRuntime),
            in_container: some(CreateContainer) || some(StartContainer),
        }
    }
}

pub(crate) fn run_parent_hooks(bundle: &Bundle, state: &State) -> Result<()> {
    let input = state.hook_input(Status::Creating);
    for kind in [hooks::Kind::Prestart, hooks::Kind::CreateRuntime] {
        let list = kind.list(bundle.spec.hooks().as_ref());
        hooks::run_all(kind, list, &input, &bundle.dir)?;
    }
    Ok(())
}

/// clone3(2) with the namespace flags: like fork, the child continues on a
/// copy of this (single-threaded) process's stack and memory, so it runs
/// init with the already parsed spec; no re-exec, no serialisation.
fn clone_init(flags: u64, cgroup: Option<&OwnedFd>, mut init: Init) -> Result<(Pid, bool)> {
    match clone_process(flags, cgroup)? {
        (None, placed) => {
            init.wait_for_go |= parent_places(cgroup, placed);
            init::run(init)
        }
        (Some(pid), placed) => {
            drop(init);
            Ok((pid, placed))
        }
    }
}

/// clone3(2) with namespace flags and, given a v2 cgroup, CLONE_INTO_CGROUP
/// (Linux 5.7). Like fork, the child continues on a copy of this
/// (single-threaded) process: no re-exec, no serialisation. Returns the pid
/// (None in the child) and, on both sides, whether the kernel placed the
/// child in the cgroup ([`parent_places`]).
pub(crate) fn clone_process(flags: u64, cgroup: Option<&OwnedFd>) -> Result<(Option<Pid>, bool)> {
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let clone3 = |flags: u64, cgroup: u64| {
        let args = CloneArgs {
            flags,
            exit_signal: libc::SIGCHLD as u64,
            cgroup,
            ..Default::default()
        };
        // SAFETY: clone3 without CLONE_VM or a new stack behaves like fork;
        // the process is single-threaded (berth starts no threads), so the
        // child's copy of memory holds no lock owned by another thread.
        let r = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        Errno::result(r)
    };
    let (r, placed) = match cgroup {
        Some(fd) => match clone3(flags | CLONE_INTO_CGROUP, fd.as_raw_fd() as u64) {
            Ok(r) => (Ok(r), true),
            Err(_) => (clone3(flags, 0), false),
        },
        None => (clone3(flags, 0), false),
    };
    match r.sys("clone3")? {
        0 => Ok((None, placed)),
        pid => Ok((Some(Pid::from_raw(pid as i32)), placed)),
    }
}

/// Whether the parent moves the child into the v2 cgroup, which clone3 could
/// not do (a kernel before 5.7), and so the child waits for its go before
/// anything else. Both sides know: the child is a copy of the parent taken
/// after the first attempt failed.
pub(crate) fn parent_places(v2: Option<&OwnedFd>, placed: bool) -> bool {
    v2.is_some() && !placed
}

/// The exec fifo: init blocks on it until `start` opens it for reading.
/// Made before clone: init opens it as soon as it is ready.
fn make_fifo(dir: &ContainerDir) -> Result<()> {
    let fifo = dir.fifo_path();
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o622)).sys_path("mkfifo", &fifo)?;
    // Writable by "other" whatever the umask: init opens it after becoming
    // the container's user (opening it for reading is what starts the
    // container, and stays root's).
    nix::sys::stat::fchmodat(
        None,
        &fifo,
        Mode::from_bits_truncate(0o622),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .sys_path("chmod", &fifo)
}

/// Written to a temporary name and renamed, so a reader (containerd polls
/// it) never sees an empty file.
pub fn write_pid_file(path: &Path, pid: Pid) -> Result<()> {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().sys("getcwd")?.join(path)
    };
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, pid.as_raw().to_string()).sys_path("write", &tmp)?;
    std::fs::rename(&tmp, &path).sys_path("rename to", &path)
}

impl ContainerDir {
    pub fn lock_fd(&self) -> std::os::fd::RawFd {
        self.lock_file().as_raw_fd()
    }
}
