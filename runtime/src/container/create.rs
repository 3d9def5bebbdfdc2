//! `create`, the parent side: from a bundle directory to a container whose
//! init process waits for `start`.
//!
//! Read top to bottom, this is the whole pipeline; the child side is
//! init/mod.rs.
//!
//! 0. (The CLI, before it reads anything: run from a binary the container
//!    cannot write, CVE-2019-5736.) Be non-dumpable from here on, so that
//!    init is from birth.
//! 1. Load and validate config.json (oci/config.rs): bad input fails here, before
//!    anything exists.
//! 2. Make and lock the state directory (store.rs) and its exec fifo;
//!    without a mount namespace, record what the rootfs is on
//!    (host_mounts.rs).
//! 3. Open what the child needs from the host: namespace paths, the console
//!    socket, the cgroup layout, descriptors passed by systemd. Make the
//!    container's cgroups and write its limits; under the systemd driver,
//!    plan its unit (container/cgroup_unit.rs).
//! 4. clone3 with the new namespaces (a joined pid namespace and a new time
//!    namespace are entered around the clone; a new network namespace has
//!    been made on the side since step 1, see linux/netns.rs); the child
//!    runs init/mod.rs. With a user namespace joined by path and a new pid
//!    namespace, an intermediate child clones init instead
//!    ([`clone_through_intermediate`]).
//! 5. Talk to init (init/sync.rs): write a new user namespace's id maps,
//!    start the systemd unit with init in it and write its limits, write
//!    oomScoreAdj, run prestart and createRuntime hooks when its mounts are
//!    done, stage the state, wait for "ready", apply the device rules,
//!    commit the state, the pid file and the pidfd, and tell init it is
//!    saved (and for `run`, which starts the container itself, to go on at
//!    once: [`Release::Now`]).
//!
//! A failure at any step kills the child, unmounts what it mounted in the
//! caller's mount namespace and removes the state directory: nothing is
//! left behind.

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

use crate::container::cgroup_unit;
use crate::container::lifecycle::run_parent_hooks;
use crate::container::store::write_pid_file;
use crate::container::store::{ContainerDir, Store};
use crate::error::{Context, Error, Result, SysResult};
use crate::init::hooks;
use crate::init::seccomp::Seccomp;
use crate::init::sync::{self, Msg};
use crate::init::{self, Init};
use crate::linux::capabilities::Sets;
use crate::linux::cgroups::{resources, Cgroups, Layout};
use crate::linux::clone::{clone_process, clone_sibling, parent_places};
use crate::linux::namespaces::{ForChildren, Namespaces};
use crate::oci::config::{self, Bundle};
use crate::oci::state::{State, Status};

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
    /// `--systemd-cgroup`: the cgroup is a systemd unit's.
    pub systemd: bool,
    /// `--pidfd-socket`: where a pidfd of init goes once the state is
    /// saved, before init is told so.
    pub pidfd_socket: Option<PathBuf>,
    pub release: Release,
}

/// Where the pty master goes when the process has a terminal.
pub enum Console {
    /// `--console-socket PATH`, or none when the process has no terminal.
    Socket(Option<PathBuf>),
    /// `run` in the foreground: when the process has a terminal, the master
    /// comes back to this process over a socketpair ([`Created::console`]).
    Keep,
}

/// Who lets init go on once the state is saved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// `create`: init is told it is saved and waits on the exec fifo for
    /// `start`.
    #[default]
    OnStart,
    /// `run`, which starts the container itself: once the state is saved
    /// the exec fifo goes and init is told to go on at once
    /// ([`crate::container::lifecycle::release_now`]); [`Created::sync`]
    /// then says when it has executed the program
    /// ([`crate::container::lifecycle::started`]).
    Now,
}

pub struct Created {
    pub pid: Pid,
    pub dir: ContainerDir,
    /// What state.json now says.
    pub state: State,
    /// With [`Console::Keep`] and a terminal: where the master arrives.
    pub console: Option<UnixStream>,
    /// With [`Release::Now`]: the sync socket (init/sync.rs), which init
    /// holds until its execve.
    pub sync: Option<OwnedFd>,
}

pub fn create(store: &Store, opts: &CreateOptions, console: Console) -> Result<Created> {
    let id = &opts.id;
    // 0. Against CVE-2019-5736: the CLI has re-executed from a binary the
    // container cannot write (process::run_from_sealed_copy) before it read
    // anything. Non-dumpable before clone, so that init is from birth: in a
    // joined pid namespace (a pod's) other containers see it at once.
    nix::sys::prctl::set_dumpable(false).sys("prctl(PR_SET_DUMPABLE)")?;
    // 1.
    config::validate_id(id)?;
    let bundle = config::load(&opts.bundle)?;
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

    // A new network namespace is made on the side meanwhile (linux/netns.rs).
    let net = crate::linux::netns::ahead(&bundle.spec)?;

    // 2.
    let dir = store.create(id)?;
    match build(&bundle, &dir, opts, console_socket, net) {
        Ok((state, sync)) => Ok(Created {
            pid: Pid::from_raw(state.pid),
            dir,
            state,
            console: kept,
            sync,
        }),
        Err(e) => {
            // Kept when the mounts stay: delete tries again.
            if let Err(undo) = crate::container::host_mounts::undo(&dir.path) {
                return Err(e).with_context(|| {
                    format!("container {id} (its mounts stay, delete removes them: {undo})")
                });
            }
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
    net: Option<crate::linux::netns::Ahead>,
) -> Result<(State, Option<OwnedFd>)> {
    make_fifo(dir)?;
    let linux = bundle.spec.linux().as_ref().expect("validated");
    let own_mount_ns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::Mount);
    if !own_mount_ns {
        crate::container::host_mounts::record(&dir.path, &bundle.rootfs)?;
    }
    // Only for init's wait on the exec fifo, which `run` spares it.
    let state_dir = match opts.release {
        Release::OnStart => Some(File::open(&dir.path).sys_path("open", &dir.path)?),
        Release::Now => None,
    };
    crate::fault::point("create:dir");

    // 3.
    // Every cgroup write is planned (and a resource the host cannot honour
    // refused) before any directory is made.
    let layout = Layout::read()?;
    let own =
        berth_proc::read_text(Path::new("/proc/self/cgroup")).sys("read /proc/self/cgroup")?;
    let (mut cgroups, planned, unit) = if opts.systemd {
        let (unit, cgroups, planned) =
            cgroup_unit::plan(&layout, &bundle.spec, &opts.id, opts.rootless)?;
        (cgroups, planned, Some(unit))
    } else {
        let mut cgroups = Cgroups::plan(&layout, &own, linux.cgroups_path().as_deref(), &opts.id);
        let planned = if opts.rootless {
            rootless_cgroups(&mut cgroups, linux)?
        } else {
            let planned = resources::plan(&cgroups, linux.resources().as_ref())?;
            cgroups.create()?;
            planned
        };
        (cgroups, planned, None)
    };
    let planned = if opts.rootless {
        planned.without_device_policy()
    } else {
        planned
    };
    cgroups.devices = Some(planned.device_record());
    // Until state.json exists, this record is how a delete after a killed
    // create finds the cgroups (and through them any process left).
    if let Err(e) = dir.save_pending(&cgroups) {
        let _ = cgroups.remove();
        return Err(e);
    }
    crate::fault::point("create:cgroups");
    // A unit's limits are written once systemd has made its cgroup.
    let limits = match unit {
        None => resources::apply_limits(&planned),
        Some(_) => Ok(()),
    };
    let place = Placement {
        layout: &layout,
        own: &own,
        cgroups: &cgroups,
        planned: &planned,
        unit,
    };
    let result =
        limits.and_then(|()| spawn(bundle, dir, opts, console_socket, state_dir, place, net));
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
    /// Under the systemd driver: the unit to start once init exists.
    unit: Option<cgroup_unit::UnitPlan>,
}

/// Steps 3 (the rest) to 5, with the cgroups made. Returns the state and,
/// with [`Release::Now`], the sync socket.
fn spawn(
    bundle: &Bundle,
    dir: &ContainerDir,
    opts: &CreateOptions,
    console_socket: Option<OwnedFd>,
    state_dir: Option<File>,
    place: Placement,
    net: Option<crate::linux::netns::Ahead>,
) -> Result<(State, Option<OwnedFd>)> {
    let Placement {
        layout,
        own,
        cgroups,
        planned,
        unit,
    } = place;
    let linux = bundle.spec.linux().as_ref().expect("validated");
    let process = bundle.spec.process().as_ref().expect("validated");
    let mut namespaces = Namespaces::from_spec(linux)?;
    // A v1 hierarchy takes init only once it exists: init moves itself
    // there first (V1Tasks), and makes its cgroup namespace only then, so
    // that the namespace is rooted at its cgroup. So does a systemd unit,
    // which systemd makes with init in it.
    let v1 = cgroups.dirs.iter().any(|d| !d.v2);
    let in_unit = unit.is_some();
    namespaces.defer_cgroup = (v1 || in_unit) && namespaces.has_new(LinuxNamespaceType::Cgroup);
    let cgroup_fd = if in_unit { None } else { cgroups.unified_fd()? };
    let v1_tasks = cgroups.open_v1_tasks()?;
    let mut state = State::new(bundle, &opts.id, cgroups);
    let userns = namespaces.has_new(LinuxNamespaceType::User);
    // Bind sources are opened here for a joined user namespace too: its
    // root may not reach them by path (a pod's files under containerd's
    // 0700 state directory).
    let idmapped = crate::init::rootfs::idmapped_trees(
        &bundle.spec,
        &bundle.dir,
        namespaces.has(LinuxNamespaceType::User) && nix::unistd::geteuid().is_root(),
    )?;
    let seccomp = linux.seccomp().as_ref().map(Seccomp::prepare).transpose()?;
    let notify = seccomp.as_ref().is_some_and(|s| s.agent.is_some());
    let hooks = HookPlan::of(&bundle.spec);
    // Init makes itself dumpable for its maps and says so (init/sync.rs, `M`).
    let unprivileged_maps = userns && !nix::unistd::geteuid().is_root();
    let listen_fds = crate::init::process::listen_fds();
    let (parent_sock, child_sock) = crate::init::sync::pair()?;
    let caps = Sets::from_spec(process.capabilities().as_ref());
    let mount_label = crate::linux::lsm::mount_label(linux.mount_label().as_deref());
    // Read by init only to bind-mount cgroup directories: without a cgroup
    // namespace of the container's own, or in a user namespace that may
    // not mount cgroupfs (init/rootfs.rs, mount_hierarchy). Otherwise not
    // made: 35k instructions on the way to clone3.
    let own_cgroups = if !namespaces.has_new(LinuxNamespaceType::Cgroup)
        || namespaces.has(LinuxNamespaceType::User)
    {
        cgroups.proc_self_text(layout, own)
    } else {
        String::new()
    };
    // The network namespace made on the side (linux/netns.rs) is waited
    // for last, once everything that does not need it is ready, so that
    // all of the above overlaps with the helper's unshare: on a quiet
    // machine the two take about as long since `ahead`, and with the
    // other CPU busy the parent waited here 430 us (medians of 150 runs).
    if let Some(net) = net {
        namespaces.made_net = Some(net.finish()?);
    }

    // 4.
    let init = Init {
        bundle,
        state: &state,
        namespaces: &namespaces,
        sync: child_sock,
        parent_end: parent_sock.as_raw_fd(),
        wait_for_go: userns || hooks.in_container || notify || in_unit,
        joined_by_intermediate: false,
        unprivileged_maps,
        v1_tasks,
        parent_hooks: hooks.in_parent,
        lock_fd: dir.lock_fd(),
        state_dir,
        console_socket,
        caps,
        cgroup_mounts: &layout.mounts,
        mount_label,
        idmapped,
        seccomp,
        own_cgroups,
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
            crate::linux::namespaces::write_id_maps(pid, linux)?;
        }
        if let Some(unit) = unit {
            unit.start(pid, cgroups)?;
            resources::apply_limits(planned)?;
        }
        // From here: in a user namespace, init cannot open its own /proc
        // files once it is non-dumpable.
        if let Some(v) = process.oom_score_adj() {
            crate::linux::process_attrs::oom_score_adj(pid, v)?;
        }
        let place_v2 = parent_places(cgroup_fd.as_ref(), placed);
        if place_v2 {
            cgroups.enter_v2(pid.as_raw())?;
        }
        if userns || hooks.in_container || notify || place_v2 || in_unit {
            sync::send_msg(&parent_sock, Msg::Go { pid: pid.as_raw() })?;
        }
        if hooks.in_parent {
            sync::expect(&parent_sock, b"H")?;
            run_parent_hooks(bundle, &state)?;
            sync::send_msg(&parent_sock, Msg::HooksDone)?;
        }
        // While init builds the container: the state, under a temporary
        // name until init is ready.
        state.start_time = crate::container::store::proc_stat(pid.as_raw())
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
            crate::container::criu::descriptors::save(&dir.path)?;
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
        if let Some(p) = &opts.pidfd_socket {
            crate::linux::pidfd::send_to_socket(p, pid.as_raw())?;
        }
        match opts.release {
            Release::OnStart => sync::send_msg(&parent_sock, Msg::Saved { go: false })?,
            Release::Now => crate::container::lifecycle::release_now(dir, &parent_sock)?,
        }
        crate::fault::point("create:saved");
        Ok(())
    })();
    if let Err(e) = result {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        // The lifecycle goes on to delete, and so to the poststop hooks
        // (runtime.md, steps 3 to 5 and 13).
        crate::container::lifecycle::run_hooks_after(
            &state,
            hooks::Kind::Poststop,
            Status::Stopped,
        );
        return Err(e);
    }
    let sync = (opts.release == Release::Now).then_some(parent_sock);
    Ok((state, sync))
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

/// clone3(2) with the namespace flags: like fork, the child continues on a
/// copy of this (single-threaded) process's stack and memory, so it runs
/// init with the already parsed spec; no re-exec, no serialisation.
fn clone_init(flags: u64, cgroup: Option<&OwnedFd>, mut init: Init) -> Result<(Pid, bool)> {
    if init.namespaces.needs_intermediate() {
        return clone_through_intermediate(cgroup, init);
    }
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

/// A user namespace joined by path with a new pid namespace
/// ([`Namespaces::needs_intermediate`]): the pid namespace must be made by
/// a process in the joined user namespace, and holds only that process's
/// children. So a first child joins the v1 cgroups and the namespaces
/// (unsharing the new ones, pid among them), and clones init with
/// CLONE_PARENT: init is this process's child as on the ordinary path
/// (waited for and reaped here, its pid a pidfd can be opened on without
/// a race, its parent-death signal tied to this process) and the first
/// process of the new pid namespace. The intermediate says init's pid on a
/// socket of its own (init/sync.rs) and exits; it is reaped at once.
fn clone_through_intermediate(cgroup: Option<&OwnedFd>, mut init: Init) -> Result<(Pid, bool)> {
    let (ours, theirs) = sync::pair()?;
    // A v2 cgroup it is placed in is init's too: a child starts in its
    // creator's cgroups.
    match clone_process(0, cgroup)? {
        (None, placed) => {
            drop(ours);
            init.wait_for_go |= parent_places(cgroup, placed);
            intermediate(init, theirs)
        }
        (Some(child), placed) => {
            drop(theirs);
            drop(init);
            let said = sync::expect(&ours, b"I");
            let _ = waitpid(child, None);
            match said? {
                Msg::Cloned { pid } => Ok((Pid::from_raw(pid), placed)),
                _ => unreachable!("expect checked the tag"),
            }
        }
    }
}

/// The intermediate process. Never returns: it exits once init is cloned,
/// or becomes init (the clone's child).
fn intermediate(mut init: Init, report: OwnedFd) -> ! {
    let cloned = (|| {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).sys("prctl(PR_SET_PDEATHSIG)")?;
        // Before the user namespace: its root has no right to the host's
        // cgroup files.
        init.v1_tasks.join()?;
        init.namespaces.join_all()?;
        clone_sibling()
    })();
    let code = match cloned {
        Ok(None) => {
            drop(report);
            init.joined_by_intermediate = true;
            init::run(init)
        }
        Ok(Some(pid)) => {
            let said = sync::send_msg(&report, Msg::Cloned { pid: pid.as_raw() });
            // Unknown to the parent, init must not build a container.
            if said.is_err() {
                let _ = kill(pid, Signal::SIGKILL);
            }
            0
        }
        Err(e) => {
            sync::send_error(&report, &e);
            1
        }
    };
    // SAFETY: _exit skips the parent's atexit handlers and buffers, which
    // this forked copy must not run.
    unsafe { libc::_exit(code) }
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

impl ContainerDir {
    pub fn lock_fd(&self) -> std::os::fd::RawFd {
        self.lock_file().as_raw_fd()
    }
}
