//! `restore`: a container made from a bundle, as create makes one, whose
//! processes come from CRIU images instead of a new init.
//!
//! 1. criu must be there and recent enough; the bundle loads and
//!    validates as for create; the image directory has the stdio record
//!    a checkpoint writes.
//! 2. The state directory is claimed (the ID may be the checkpointed
//!    container's, which checkpoint deleted, or a new one).
//! 3. The container's cgroups are made and limited as create makes them.
//! 4. The rootfs is bound at `<state dir>/criu-root`: criu wants its root
//!    to be a mount point whose parent is not overmounted.
//! 5. `criu swrk` is started, moved into the container's cgroups (the
//!    restored processes are born there), and asked to RESTORE with:
//!    bind mounts and masked files mapped to this bundle's host paths,
//!    cg_root naming the new cgroups (so a new ID gets its own), our stdio
//!    for the pipes the checkpointed process had, joined namespaces given
//!    back, and rst_sibling: the restored init is our child, not criu's.
//!    On "setup-namespaces" the prestart and createRuntime hooks run; a
//!    pty master ("orphan-pts-master") goes to --console-socket.
//! 6. The device rules, the state (running) and the pid file.
//!
//! A failure kills what was restored and removes the cgroups, the mount
//! and the state directory: nothing is left behind.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::container::checkpoint::{external_ns_key, is_bind, CriuFlags};
use crate::container::criu::descriptors;
use crate::container::criu::root::{unmount_root, CriuRoot};
use crate::container::criu::rpc::{Opts, Req, ReqType};
use crate::container::criu::Criu;
use crate::container::store::{ContainerDir, Store};
use crate::error::{Context, Error, Result, SysResult};
use crate::linux::cgroups::{resources, Cgroups, Layout};
use crate::oci::config::{self, Bundle};
use crate::oci::state::State;

#[derive(Debug, Default, Clone)]
pub struct RestoreOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    /// Without --detach and a console socket, berth keeps the pty master
    /// for its own stdio, as `run` does.
    pub detach: bool,
    pub criu: CriuFlags,
    pub lsm_profile: Option<String>,
    pub lsm_mount_context: Option<String>,
}

pub struct Restored {
    pub pid: Pid,
    pub dir: ContainerDir,
    /// The pty master, kept when there was no console socket to send it to.
    pub master: Option<OwnedFd>,
}

pub fn restore(store: &Store, criu: &Criu, opts: &RestoreOptions) -> Result<Restored> {
    let id = &opts.id;
    // 1.
    config::validate_id(id)?;
    criu.check_version()?;
    let bundle = config::load(&opts.bundle)?;
    let own_mount_ns = bundle
        .spec
        .linux()
        .iter()
        .flat_map(|l| l.namespaces().iter().flatten())
        .any(|n| n.typ() == LinuxNamespaceType::Mount);
    if !own_mount_ns {
        return Err(Error::invalid(format!(
            "container {id}: restore {}",
            crate::container::checkpoint::NO_MOUNT_NS
        )));
    }
    let process = bundle.spec.process().as_ref().expect("validated");
    let terminal = process.terminal().unwrap_or(false);
    if opts.console_socket.is_some() && !terminal {
        return Err(Error::invalid(
            "--console-socket given, but process.terminal is false",
        ));
    }
    if opts.console_socket.is_none() && terminal && opts.detach {
        return Err(Error::invalid(
            "process.terminal is true: --console-socket is required",
        ));
    }
    let images = opts.criu.image_dir(false)?;
    let stdio = descriptors::read(&images).with_context(|| {
        format!(
            "container {id}: no checkpoint to restore in {}",
            images.display()
        )
    })?;

    // 2.
    let dir = store.create(id)?;
    match build(&bundle, &dir, criu, opts, &images, &stdio) {
        Ok((pid, master)) => Ok(Restored { pid, dir, master }),
        Err(e) => {
            // Never remove the directory through a rootfs still bound in it.
            if unmount_root(&dir.path).is_ok() {
                let _ = dir.remove();
            }
            Err(e).with_context(|| format!("container {id}: restore"))
        }
    }
}

fn build(
    bundle: &Bundle,
    dir: &ContainerDir,
    criu: &Criu,
    opts: &RestoreOptions,
    images: &Path,
    stdio: &[String],
) -> Result<(Pid, Option<OwnedFd>)> {
    // 3.
    let linux = bundle.spec.linux().as_ref().expect("validated");
    let layout = Layout::read()?;
    let own = std::fs::read_to_string("/proc/self/cgroup").sys("read /proc/self/cgroup")?;
    let mut cgroups = Cgroups::plan(&layout, &own, linux.cgroups_path().as_deref(), &opts.id);
    let planned = resources::plan(&cgroups, linux.resources().as_ref())?;
    cgroups.devices = Some(planned.device_record());
    cgroups.create()?;
    if let Err(e) = dir.save_pending(&cgroups) {
        let _ = cgroups.remove();
        return Err(e);
    }
    let result = resources::apply_limits(&planned).and_then(|()| {
        // 4.
        make_mountpoints(bundle)?;
        let root = CriuRoot::bind(&bundle.rootfs, &dir.path)?;
        let r = run_criu(bundle, criu, opts, images, stdio, &cgroups, &root);
        root.release()?;
        let (pid, master) = r?;
        // 6.
        let saved = (|| {
            resources::apply_devices(&planned)?;
            let mut state = State::new(bundle, &opts.id, &cgroups);
            state.pid = pid.as_raw();
            state.start_time = crate::container::store::proc_stat(pid.as_raw())
                .ok_or_else(|| {
                    Error::sys("the restored process exited during restore", Errno::ESRCH)
                })?
                .0;
            dir.save(&state)?;
            // The restored process's stdio is now ours: recorded for its
            // next checkpoint.
            if !bundle_terminal(&bundle.spec) {
                crate::container::criu::descriptors::save(&dir.path)?;
            }
            if let Some(p) = &opts.pid_file {
                crate::container::store::write_pid_file(p, pid).context("--pid-file")?;
            }
            Ok(())
        })();
        match saved {
            Ok(()) => Ok((pid, master)),
            Err(e) => {
                let _ = kill(pid, Signal::SIGKILL);
                let _ = waitpid(pid, None);
                Err(e)
            }
        }
    });
    if result.is_err() {
        // Restored tasks that outlived a failure (criu killed the root
        // only) die with the cgroups.
        for p in cgroups.procs().unwrap_or_default() {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        let _ = cgroups.remove();
    }
    result
}

fn bundle_terminal(spec: &Spec) -> bool {
    spec.process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false)
}

/// The mount points, made in the rootfs as create makes them (a fresh
/// bundle lacks them, say `/run` of an image without one, and criu does not
/// make them), except below a tmpfs, whose content criu restores, and for
/// cgroup mounts, which live in /sys or a tmpfs. A bind's mount point is a
/// file where its source is one; others are directories. Resolved inside
/// the rootfs: a symlink in it cannot point them at the host.
fn make_mountpoints(bundle: &Bundle) -> Result<()> {
    use crate::linux::syscall::Syscall;
    let mounts = bundle.spec.mounts().as_deref().unwrap_or_default();
    let tmpfs: Vec<&Path> = mounts
        .iter()
        .filter(|m| m.typ().as_deref() == Some("tmpfs"))
        .map(|m| m.destination().as_path())
        .collect();
    for m in mounts {
        let dest = m.destination();
        if m.typ().as_deref() == Some("cgroup")
            || tmpfs.iter().any(|t| dest != *t && dest.starts_with(t))
        {
            continue;
        }
        let file = is_bind(m)
            && m.source().as_ref().is_some_and(|src| {
                std::fs::metadata(bundle.dir.join(src)).is_ok_and(|m| !m.is_dir())
            });
        crate::linux::syscall::Linux::default()
            .target_in_root(&bundle.rootfs, dest, file)
            .with_context(|| format!("mount point {}", dest.display()))?;
    }
    Ok(())
}

/// criu's name for a namespace type.
fn criu_ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Time => "time",
    }
}

/// Step 5: returns the restored init and a pty master kept for `run`-like
/// restores.
fn run_criu(
    bundle: &Bundle,
    criu: &Criu,
    opts: &RestoreOptions,
    images: &Path,
    stdio: &[String],
    cgroups: &Cgroups,
    root: &CriuRoot,
) -> Result<(Pid, Option<OwnedFd>)> {
    let spec = &bundle.spec;
    let images_fd = File::open(images).sys_path("open", images)?;
    let work_fd = opts.criu.work_dir()?;
    let mut o = Opts {
        images_dir_fd: images_fd.as_raw_fd(),
        work_dir_fd: work_fd.as_ref().map(|f| f.as_raw_fd()),
        log_file: Some("restore.log".into()),
        root: Some(root.path.to_string_lossy().into_owned()),
        rst_sibling: true,
        evasive_devices: true,
        lsm_profile: opts.lsm_profile.clone(),
        lsm_mount_context: opts.lsm_mount_context.clone(),
        ext_mnt: restore_mounts(spec, &bundle.dir, cgroups)?,
        ..Default::default()
    };
    opts.criu.apply(&mut o, spec);
    // The checkpointed init's pipes become ours: criu's stdio is ours.
    for (i, target) in stdio.iter().enumerate().take(3) {
        if target.contains("pipe:") {
            o.inherit_fd.push((target.clone(), i as i32));
        }
    }
    // Namespaces joined by path: network and pid were left out of the
    // image (external) and are handed over open; others are joined.
    let mut extra = Vec::new();
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    for ns in namespaces.iter().flat_map(|v| v.iter()) {
        let Some(path) = ns.path() else { continue };
        if let Some(key) = external_ns_key(ns.typ()) {
            let f = File::open(path).sys_path("open namespace", path)?;
            // criu's descriptors: 0-2 stdio, 3 the socket, then ours.
            o.inherit_fd.push((key.to_string(), 4 + extra.len() as i32));
            extra.push(OwnedFd::from(f));
        } else if ns.typ() == LinuxNamespaceType::Cgroup {
            return Err(Error::invalid(
                "criu cannot restore into a cgroup namespace joined by path",
            ));
        } else {
            o.join_ns.push((
                criu_ns_name(ns.typ()).to_string(),
                path.to_string_lossy().into_owned(),
            ));
        }
    }

    let mut session = criu.start(extra)?;
    // In the container's cgroups before it forks anything.
    let criu_pid = session.pid();
    for d in &cgroups.dirs {
        let f = d.file("cgroup.procs");
        std::fs::write(&f, criu_pid.to_string()).sys_path("write", &f)?;
    }
    o.cg_root = cg_roots(criu_pid)?;
    crate::fault::point("restore:criu");

    let mut state = State::new(bundle, &opts.id, cgroups);
    let mut master = None;
    let mut restored = None;
    let log = opts.criu.log_path(images, "restore.log");
    let resp = session.request(&Req::new(ReqType::Restore, Some(o)), |resp, fd| {
        let Some((script, pid)) = &resp.notify else {
            return Ok(());
        };
        match script.as_str() {
            "setup-namespaces" => {
                state.pid = *pid;
                crate::container::lifecycle::run_parent_hooks(bundle, &state)?;
            }
            "post-restore" => restored = Some(*pid),
            "orphan-pts-master" => {
                let fd = fd.ok_or_else(|| {
                    Error::sys(
                        "criu sent no pty master with orphan-pts-master",
                        Errno::EBADMSG,
                    )
                })?;
                match &opts.console_socket {
                    Some(p) => crate::container::criu::send_master(p, &fd)?,
                    None => master = Some(fd),
                }
            }
            _ => {}
        }
        Ok(())
    });
    let resp = session.finish(resp);
    let pid = resp.as_ref().ok().and_then(|r| r.restore_pid).or(restored);
    let result = resp
        .map_err(|e| crate::container::checkpoint::with_log(e, &log))
        .and_then(|_| {
            pid.ok_or_else(|| Error::invalid("criu restored nothing (no pid in its answer)"))
        });
    match result {
        Ok(pid) => Ok((Pid::from_raw(pid), master)),
        Err(e) => {
            if let Some(p) = pid {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
                let _ = waitpid(Pid::from_raw(p), None);
            }
            Err(e)
        }
    }
}

/// Bind mounts from this bundle's sources, and /dev/null for masked files,
/// under the keys checkpoint gave them.
fn restore_mounts(
    spec: &Spec,
    bundle_dir: &Path,
    cgroups: &Cgroups,
) -> Result<Vec<(String, String)>> {
    let key = |p: &Path| {
        Path::new("/")
            .join(crate::linux::syscall::lexical(p))
            .to_string_lossy()
            .into_owned()
    };
    let mut ext = Vec::new();
    for m in spec.mounts().iter().flatten().filter(|m| is_bind(m)) {
        if let Some(src) = m.source() {
            ext.push((
                key(m.destination()),
                bundle_dir.join(src).to_string_lossy().into_owned(),
            ));
        }
    }
    let linux = spec.linux().as_ref();
    if linux
        .and_then(|l| l.masked_paths().as_ref())
        .is_some_and(|m| !m.is_empty())
    {
        ext.push(("/dev/null".into(), "/dev/null".into()));
    }
    for d in linux
        .and_then(|l| l.devices().as_ref())
        .iter()
        .flat_map(|v| v.iter())
    {
        let k = key(d.path());
        ext.push((k.clone(), k));
    }
    // The new container's own cgroup directories, where the checkpointed
    // one's were bound.
    for (dest, mount_point) in crate::container::checkpoint::cgroup_binds(spec, &Layout::read()?) {
        if let Some(d) = cgroups
            .dirs
            .iter()
            .find(|d| d.path.starts_with(&mount_point))
        {
            ext.push((dest, d.path.to_string_lossy().into_owned()));
        }
    }
    Ok(ext)
}

/// criu's own cgroups, now the container's, as cg_root entries: the
/// dumped cgroup paths are rewritten under them, which is what lets a
/// restore under a new ID land in that ID's cgroups. The unified line
/// (no controllers) is the root for every controller not named.
fn cg_roots(pid: i32) -> Result<Vec<(Option<String>, String)>> {
    let path = format!("/proc/{pid}/cgroup");
    let text = std::fs::read_to_string(&path).sys_path("read", Path::new(&path))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, p) = (f.next()?, f.next()?, f.next()?);
            let ctrl = (!ctrls.is_empty()).then(|| ctrls.to_string());
            Some((ctrl, p.to_string()))
        })
        .collect())
}
