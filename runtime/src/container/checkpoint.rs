//! `checkpoint`: a running container's processes saved to a directory of
//! CRIU images (criu/), with runc's meaning.
//!
//! 1. The container must be running (or paused); criu must be there and
//!    recent enough.
//! 2. What criu cannot know is described to it: bind mounts and masked
//!    files are external mounts (they reappear at restore from the new
//!    bundle's sources), the container's freezer, a network or pid
//!    namespace it joined by path (external: restore joins it again).
//! 3. The stdio record (descriptors.json, written at create) goes into the
//!    image directory, so that a restore can hand its own pipes to the
//!    restored process.
//! 4. DUMP (criu stops the processes, unless --leave-running) or PRE_DUMP
//!    (memory only, the container keeps running).
//! 5. Without --leave-running, a container whose processes are gone is
//!    deleted, as runc does, so that its ID is free for the restore.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::container::criu::descriptors::DESCRIPTORS;
use crate::container::criu::rpc::{CgMode, Opts, Req, ReqType};
use crate::container::criu::Criu;
use crate::container::store::Store;
use crate::error::{Context, Error, Result, SysResult};
use crate::oci::state::{State, Status};

/// The flags checkpoint and restore share, passed on to criu.
#[derive(Debug, Default, Clone)]
pub struct CriuFlags {
    pub image_path: Option<PathBuf>,
    pub work_path: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub auto_dedup: bool,
    pub manage_cgroups_mode: Option<CgMode>,
    /// CLONE_NEW* bits of namespaces criu makes empty; the network one is
    /// always among them (berth does not manage network devices).
    pub empty_ns: u32,
}

#[derive(Debug, Default, Clone)]
pub struct CheckpointOptions {
    pub criu: CriuFlags,
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    pub pre_dump: bool,
}

/// runc's --manage-cgroups-mode values.
pub fn parse_cg_mode(s: &str) -> Result<CgMode> {
    match s {
        "soft" => Ok(CgMode::Soft),
        "full" => Ok(CgMode::Full),
        "strict" => Ok(CgMode::Strict),
        _ => Err(Error::invalid(format!(
            "--manage-cgroups-mode {s:?}: expected soft, full or strict"
        ))),
    }
}

/// runc's --empty-ns: only "network" is accepted.
pub fn parse_empty_ns(names: &[String]) -> Result<u32> {
    let mut mask = libc::CLONE_NEWNET as u32;
    for n in names {
        match n.as_str() {
            "network" => mask |= libc::CLONE_NEWNET as u32,
            _ => {
                return Err(Error::invalid(format!(
                    "--empty-ns {n:?}: only network is supported"
                )))
            }
        }
    }
    Ok(mask)
}

impl CriuFlags {
    /// The image directory: --image-path, or `checkpoint` in the working
    /// directory (runc's default); a checkpoint makes it if missing.
    pub fn image_dir(&self, make: bool) -> Result<PathBuf> {
        let p = match &self.image_path {
            Some(p) => p.clone(),
            None => std::env::current_dir().sys("getcwd")?.join("checkpoint"),
        };
        if make {
            private_dir(&p).sys_path("make the image directory", &p)?;
        }
        Ok(p)
    }

    /// --work-path, made if missing, opened for criu; None: criu works in
    /// the image directory.
    pub fn work_dir(&self) -> Result<Option<File>> {
        let Some(p) = &self.work_path else {
            return Ok(None);
        };
        private_dir(p).sys_path("make the work directory", p)?;
        File::open(p).map(Some).sys_path("open", p)
    }

    /// Where criu writes `log`: the work directory, else the image one.
    pub fn log_path(&self, images: &Path, log: &str) -> PathBuf {
        self.work_path.as_deref().unwrap_or(images).join(log)
    }

    /// The options every dump and restore sets, with the flags and the
    /// container's criu configuration file: the `org.criu.config`
    /// annotation (empty: none), else runc's `/etc/criu/runc.conf`, so
    /// that a configuration written for runc applies alike.
    pub(crate) fn apply(&self, o: &mut Opts, spec: &Spec) {
        o.config_file = match spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get("org.criu.config"))
        {
            Some(f) if f.is_empty() => None,
            Some(f) => Some(f.clone()),
            None => Some("/etc/criu/runc.conf".into()),
        };
        o.tcp_established = self.tcp_established;
        o.ext_unix_sk = self.ext_unix_sk;
        o.shell_job = self.shell_job;
        o.file_locks = self.file_locks;
        o.auto_dedup = self.auto_dedup;
        o.manage_cgroups = true;
        o.manage_cgroups_mode = self.manage_cgroups_mode;
        o.empty_ns = Some(self.empty_ns | libc::CLONE_NEWNET as u32);
        o.notify_scripts = true;
        o.orphan_pts_master = true;
        o.log_level = Some(4);
    }
}

/// Why a container without a mount namespace of its own is neither
/// checkpointed nor restored.
pub(crate) const NO_MOUNT_NS: &str = "of a container without a mount namespace of its own \
     is not supported: its mounts are in the caller's namespace, which criu neither saves \
     nor restores";

/// Images hold the container's memory: only root reads them.
fn private_dir(p: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p)
}

pub fn checkpoint(store: &Store, criu: &Criu, id: &str, opts: &CheckpointOptions) -> Result<()> {
    let dir = store.open(id)?;
    let (state, status) = crate::container::lifecycle::loaded(&dir)?;
    let state = match (state, status) {
        (Some(s), Status::Running | Status::Paused) => s,
        (_, s) => {
            return Err(Error::wrong_state(format!(
                "container {id} cannot be checkpointed in {} state",
                s.as_str()
            )))
        }
    };
    let own_mount_ns = state
        .exec
        .as_ref()
        .is_some_and(|e| e.namespaces.contains(&LinuxNamespaceType::Mount));
    if !own_mount_ns {
        return Err(Error::invalid(format!(
            "container {id}: checkpoint {NO_MOUNT_NS}"
        )));
    }
    dump(&dir.path, criu, &state, opts).with_context(|| format!("container {id}: checkpoint"))?;
    if opts.leave_running || opts.pre_dump {
        return Ok(());
    }
    // criu has killed the processes; a dump that failed left them running,
    // and the container stays (runc's destroy refuses a running one too).
    if dir.status(Some(&state)) == Status::Stopped {
        crate::container::lifecycle::delete_locked(dir, true)
            .with_context(|| format!("container {id}: delete after checkpoint"))?;
    }
    Ok(())
}

fn dump(state_dir: &Path, criu: &Criu, state: &State, opts: &CheckpointOptions) -> Result<()> {
    // 1.
    criu.check_version()?;
    let images = opts.criu.image_dir(true)?;
    let parent = match &opts.parent_path {
        Some(p) if p.is_absolute() => {
            return Err(Error::invalid("--parent-path must be relative"));
        }
        Some(p) => {
            let real = images.join(p);
            if !real.is_dir() {
                return Err(Error::invalid(format!(
                    "invalid --parent-path: {} is not a directory",
                    real.display()
                )));
            }
            Some(p.to_string_lossy().into_owned())
        }
        None => None,
    };
    if (opts.pre_dump || parent.is_some()) && !criu.has_mem_track()? {
        return Err(Error::invalid(
            "a pre-dump, and a dump on a parent, need criu's memory tracking, \
             which this kernel does not offer (soft-dirty bits: see \
             `criu check --feature mem_dirty_track`)",
        ));
    }
    let images_fd = File::open(&images).sys_path("open", &images)?;
    let work_fd = opts.criu.work_dir()?;
    // The config is read again from the bundle: the state keeps only what
    // start, exec and delete need.
    let bundle = crate::oci::config::load(&state.bundle).context("the container's bundle")?;
    let spec = &bundle.spec;

    // 2.
    let mut o = Opts {
        images_dir_fd: images_fd.as_raw_fd(),
        work_dir_fd: work_fd.as_ref().map(|f| f.as_raw_fd()),
        log_file: Some("dump.log".into()),
        pid: Some(state.pid),
        root: Some(state.rootfs.to_string_lossy().into_owned()),
        leave_running: opts.leave_running || opts.pre_dump,
        track_mem: parent.is_some(),
        parent_img: parent,
        freeze_cgroup: state
            .cgroups
            .as_ref()
            .and_then(|c| c.freezer())
            .map(|(d, _)| d.path.to_string_lossy().into_owned()),
        external: external_namespaces(spec)?,
        ..Default::default()
    };
    opts.criu.apply(&mut o, spec);
    if !opts.pre_dump {
        o.ext_mnt = dump_mounts(spec, state.pid)?;
        // 3.
        let from = state_dir.join(DESCRIPTORS);
        let record = std::fs::read(&from).unwrap_or_else(|_| b"[]".to_vec());
        let to = images.join(DESCRIPTORS);
        std::fs::write(&to, record).sys_path("write", &to)?;
    }

    // 4.
    let typ = if opts.pre_dump {
        ReqType::PreDump
    } else {
        ReqType::Dump
    };
    let log = opts.criu.log_path(&images, "dump.log");
    let mut session = criu.start(Vec::new())?;
    // Every notification of a dump ("pre-dump", "network-lock", ...) is
    // only acknowledged: berth manages no network to lock.
    let resp = session.request(&Req::new(typ, Some(o)), |_, _| Ok(()));
    session.finish(resp).map_err(|e| with_log(e, &log))?;
    Ok(())
}

/// criu's errors name its log, and quote from it the errors that tell
/// why criu failed (criu/log.rs), those its message did not have.
pub(crate) fn with_log(e: Error, log: &Path) -> Error {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut msg = e.to_string();
    // After criu's own message, the log's errors follow it.
    let mut sep = if msg.contains(": Error (") {
        "; then "
    } else {
        ": "
    };
    for l in crate::container::criu::log::telling(&text) {
        if !msg.contains(l.as_str()) {
            msg.push_str(sep);
            msg.push_str(&l);
            sep = "; then ";
        }
    }
    Error::invalid(format!("{msg} (criu log: {})", log.display()))
}

/// A mount's destination as criu knows it, relative to the root: cleaned
/// of `.` and `..`.
fn dest_key(dest: &Path) -> String {
    Path::new("/")
        .join(crate::linux::syscall::lexical(dest))
        .to_string_lossy()
        .into_owned()
}

pub(crate) fn is_bind(m: &oci_spec::runtime::Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

/// Bind mounts, devices and masked files: mounts of host files that criu
/// cannot dump, named by their destination; restore maps the same keys to
/// the host paths of its own bundle.
fn dump_mounts(spec: &Spec, pid: i32) -> Result<Vec<(String, String)>> {
    let mut ext = Vec::new();
    for m in spec.mounts().iter().flatten().filter(|m| is_bind(m)) {
        let k = dest_key(m.destination());
        ext.push((k.clone(), k));
    }
    let linux = spec.linux().as_ref();
    for p in linux
        .and_then(|l| l.masked_paths().as_ref())
        .iter()
        .flat_map(|v| v.iter())
    {
        // A masked directory is a read-only tmpfs criu saves; a masked
        // file is /dev/null bound over it.
        let inside = format!("/proc/{pid}/root{}", dest_key(Path::new(p)));
        match std::fs::metadata(&inside) {
            Ok(m) if !m.is_dir() => ext.push((dest_key(Path::new(p)), "/dev/null".into())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("stat", Path::new(&inside), e)),
        }
    }
    for d in linux
        .and_then(|l| l.devices().as_ref())
        .iter()
        .flat_map(|v| v.iter())
    {
        let k = dest_key(d.path());
        ext.push((k.clone(), k));
    }
    for (dest, _) in cgroup_binds(spec, &crate::linux::cgroups::Layout::read()?) {
        ext.push((dest.clone(), dest));
    }
    Ok(ext)
}

/// Without a cgroup namespace on a v1 or hybrid host, the `cgroup` mount
/// is a tmpfs with the container's directory of each hierarchy bound in
/// it (init/rootfs.rs): bind mounts criu must be told about. Each as its
/// destination and the hierarchy's mount point.
pub(crate) fn cgroup_binds(
    spec: &Spec,
    layout: &crate::linux::cgroups::Layout,
) -> Vec<(String, PathBuf)> {
    let own_ns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|v| v.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup));
    let unified = layout
        .mounts
        .iter()
        .any(|m| m.mount_point == Path::new("/sys/fs/cgroup") && m.fstype == "cgroup2");
    if own_ns || unified {
        return Vec::new();
    }
    let mut binds = Vec::new();
    for m in spec.mounts().iter().flatten() {
        if m.typ().as_deref() != Some("cgroup") {
            continue;
        }
        for h in &layout.mounts {
            if let Some(name) = h.mount_point.file_name() {
                let dest = dest_key(&m.destination().join(name));
                binds.push((dest, h.mount_point.clone()));
            }
        }
    }
    binds
}

/// The key criu gives a namespace the container joined by path, as runc
/// names it, so that a runc-made image and a berth-made one restore alike.
pub(crate) fn external_ns_key(t: LinuxNamespaceType) -> Option<&'static str> {
    match t {
        LinuxNamespaceType::Network => Some("extRootNetNS"),
        LinuxNamespaceType::Pid => Some("extRootPidNS"),
        _ => None,
    }
}

/// `net[INODE]:extRootNetNS` for a joined network namespace, the same for
/// pid: criu leaves them out of the image, and restore joins them again.
fn external_namespaces(spec: &Spec) -> Result<Vec<String>> {
    use std::os::unix::fs::MetadataExt;
    let mut ext = Vec::new();
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    for ns in namespaces.iter().flat_map(|v| v.iter()) {
        let (Some(key), Some(path)) = (external_ns_key(ns.typ()), ns.path()) else {
            continue;
        };
        let name = if ns.typ() == LinuxNamespaceType::Network {
            "net"
        } else {
            "pid"
        };
        let ino = std::fs::metadata(path).sys_path("stat", path)?.ino();
        ext.push(format!("{name}[{ino}]:{key}"));
    }
    Ok(ext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_keys_are_clean_absolute_paths() {
        assert_eq!(dest_key(Path::new("/data/../etc/./x")), "/etc/x");
        assert_eq!(dest_key(Path::new("data")), "/data");
    }

    #[test]
    fn a_criu_error_quotes_the_errors_of_its_log_that_tell() {
        let log = std::env::temp_dir().join(format!("berth-criu-log-{}", std::process::id()));
        std::fs::write(
            &log,
            "(0.1) Error (u.c:1): rlimit: Can't setup RLIMIT_NOFILE for self\n(0.2) fine\n\
             (0.3) Error (b.c:2): cause\n(0.4) Error (c.c:3): step failed\n\
             (0.5) Error (d.c:4): Dumping FAILED.\n",
        )
        .unwrap();
        // criu's message was the error it carried on from: left out.
        let e = with_log(Error::invalid("criu DUMP failed"), &log);
        // criu's message was the cause: not repeated.
        let e2 = with_log(
            Error::invalid("criu DUMP failed: Error (b.c:2): cause"),
            &log,
        );
        std::fs::remove_file(&log).unwrap();
        let want = format!(
            "criu DUMP failed: Error (b.c:2): cause; then Error (c.c:3): step failed \
             (criu log: {})",
            log.display()
        );
        assert_eq!(e.to_string(), want);
        assert_eq!(e2.to_string(), want);
    }

    #[test]
    fn flags_parse_as_runc_names_them() {
        assert_eq!(parse_cg_mode("full").unwrap(), CgMode::Full);
        assert!(parse_cg_mode("ignore").is_err());
        assert_eq!(
            parse_empty_ns(&["network".into()]).unwrap(),
            libc::CLONE_NEWNET as u32
        );
        assert!(parse_empty_ns(&["pid".into()]).is_err());
    }
}
