//! linux.namespaces: which are new (clone flags) and which are joined
//! (setns on a descriptor opened from `path`), plus the parent-side setup
//! of a new user namespace (uid/gid maps) and time namespace (offsets).
//!
//! Paths are opened by the parent before clone, so a bad path is an error
//! before any process exists. Two namespaces only affect a process's
//! children, so the parent enters them before clone and leaves them after:
//! the pid namespace (setns) and the time namespace (unshare, because its
//! offsets can only be written before a process lives in it).

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType};

use crate::error::{Error, Result, SysResult};

pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    use LinuxNamespaceType::*;
    match t {
        Mount => CloneFlags::CLONE_NEWNS,
        Cgroup => CloneFlags::CLONE_NEWCGROUP,
        Uts => CloneFlags::CLONE_NEWUTS,
        Ipc => CloneFlags::CLONE_NEWIPC,
        User => CloneFlags::CLONE_NEWUSER,
        Pid => CloneFlags::CLONE_NEWPID,
        Network => CloneFlags::CLONE_NEWNET,
        Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

pub struct Namespaces {
    /// Namespaces to create, as clone flags.
    pub new: CloneFlags,
    /// Namespaces to join, the user namespace first (joining it is what
    /// grants the right to join the others), then in config order; the pid
    /// namespace is not here, the parent joins it.
    pub join: Vec<(LinuxNamespaceType, PathBuf, File)>,
    pub join_pid: Option<(PathBuf, File)>,
    /// A new cgroup namespace is made by init once its v1 cgroups are set
    /// (see container/create.rs), not by clone.
    pub defer_cgroup: bool,
    /// The new network namespace, made ahead of clone (netns.rs): init
    /// enters it rather than clone making one. Still new to everything
    /// else (`has_new`).
    pub made_net: Option<OwnedFd>,
}

impl Namespaces {
    pub fn from_spec(linux: &Linux) -> Result<Namespaces> {
        let mut ns = Namespaces {
            new: CloneFlags::empty(),
            join: Vec::new(),
            join_pid: None,
            defer_cgroup: false,
            made_net: None,
        };
        for n in linux.namespaces().iter().flatten() {
            match n.path() {
                None => ns.new |= flag(n.typ()),
                Some(p) => {
                    let f = File::open(p).map_err(|e| {
                        Error::io(
                            &format!("linux.namespaces: open {} namespace", n.typ()),
                            p,
                            e,
                        )
                    })?;
                    if n.typ() == LinuxNamespaceType::Pid {
                        ns.join_pid = Some((p.clone(), f));
                    } else {
                        ns.join.push((n.typ(), p.clone(), f));
                    }
                }
            }
        }
        ns.join
            .sort_by_key(|(t, _, _)| *t != LinuxNamespaceType::User);
        ns.check_user_combination()?;
        Ok(ns)
    }

    /// A namespace belongs to the user namespace of the process that
    /// creates it. With a user namespace joined by path, the new namespaces
    /// are unshared after joining it, so they belong to it (a new pid
    /// namespace takes one more process: [`Namespaces::needs_intermediate`]).
    /// A new user namespace has no privilege over namespaces joined from
    /// the host.
    fn check_user_combination(&self) -> Result<()> {
        let joins_user = self.joins(LinuxNamespaceType::User);
        let others_joined = self.join_pid.is_some() || self.join.len() > usize::from(joins_user);
        if self.has_new(LinuxNamespaceType::User) && others_joined {
            return Err(Error::invalid(
                "linux.namespaces: a new user namespace cannot be combined with namespaces \
                 joined by path (they belong to another user namespace)",
            ));
        }
        Ok(())
    }

    /// A user namespace joined by path with a new pid namespace (a
    /// Kubernetes pod's containers with `hostUsers: false`): the pid
    /// namespace must belong to the joined user namespace, so a process
    /// already in it unshares it, and unshare moves only its children
    /// there. So an intermediate process joins and unshares, and clones
    /// init (container/create.rs).
    pub fn needs_intermediate(&self) -> bool {
        self.joins(LinuxNamespaceType::User) && self.has_new(LinuxNamespaceType::Pid)
    }

    pub fn has_new(&self, t: LinuxNamespaceType) -> bool {
        self.new.contains(flag(t))
    }

    pub fn joins(&self, t: LinuxNamespaceType) -> bool {
        self.join.iter().any(|(j, _, _)| *j == t)
            || (t == LinuxNamespaceType::Pid && self.join_pid.is_some())
    }

    /// New or joined: the container has its own namespace of this type.
    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.has_new(t) || self.joins(t)
    }

    /// The flags clone3 creates. A new time namespace is not among them:
    /// the parent unshares it (see [`ForChildren`]); nor are any when a
    /// user namespace is joined (see [`Namespaces::join_all`]).
    pub fn clone_flags(&self) -> CloneFlags {
        if self.joins(LinuxNamespaceType::User) {
            return CloneFlags::empty();
        }
        self.new - flag(LinuxNamespaceType::Time) - self.deferred()
    }

    fn deferred(&self) -> CloneFlags {
        let mut f = CloneFlags::empty();
        if self.defer_cgroup {
            f |= flag(LinuxNamespaceType::Cgroup);
        }
        if self.made_net.is_some() {
            f |= flag(LinuxNamespaceType::Network);
        }
        f
    }

    /// In init, once its cgroups are set: the cgroup namespace clone did
    /// not make.
    pub fn unshare_deferred(&self) -> Result<()> {
        if self.defer_cgroup {
            nix::sched::unshare(flag(LinuxNamespaceType::Cgroup))
                .sys("unshare cgroup namespace")?;
        }
        Ok(())
    }

    /// In the init process, first thing (or in the intermediate process
    /// that clones it, see [`Namespaces::needs_intermediate`]): the user
    /// namespace (joining it is what grants the right to the others), the
    /// namespaces clone could not create for it, then the rest.
    pub fn join_all(&self) -> Result<()> {
        if let Some(net) = &self.made_net {
            nix::sched::setns(net.as_fd(), CloneFlags::CLONE_NEWNET)
                .sys("setns into the new network namespace")?;
        }
        for (i, (t, path, f)) in self.join.iter().enumerate() {
            nix::sched::setns(f.as_fd(), flag(*t)).sys_path(&format!("setns {t}"), path)?;
            if i == 0 && *t == LinuxNamespaceType::User {
                become_root()?;
                let rest = self.new - flag(LinuxNamespaceType::Time) - self.deferred();
                nix::sched::unshare(rest).sys("unshare the new namespaces")?;
            }
        }
        Ok(())
    }
}

/// setresuid/gid 0 in a user namespace just entered (for a new one, once
/// the parent has written the maps): until then the process may be the
/// overflow user, and the rest of setup runs as the container's root.
pub fn become_root() -> Result<()> {
    let root_g = nix::unistd::Gid::from_raw(0);
    let root_u = nix::unistd::Uid::from_raw(0);
    nix::unistd::setresgid(root_g, root_g, root_g)
        .sys("setresgid 0 in the user namespace (is gid 0 mapped?)")?;
    nix::unistd::setresuid(root_u, root_u, root_u)
        .sys("setresuid 0 in the user namespace (is uid 0 mapped?)")
}

/// The parent's namespaces-for-children, changed for the clone of init and
/// put back afterwards, so that hooks the parent runs later (createRuntime,
/// poststart) are in the runtime's namespaces, as the spec wants.
pub struct ForChildren {
    pid: Option<File>,
    time: Option<File>,
}

impl ForChildren {
    pub fn enter(ns: &Namespaces, linux: &Linux) -> Result<ForChildren> {
        let mut saved = ForChildren {
            pid: None,
            time: None,
        };
        if let Some((path, f)) = &ns.join_pid {
            saved.pid = Some(File::open("/proc/self/ns/pid").sys("open /proc/self/ns/pid")?);
            nix::sched::setns(f.as_fd(), CloneFlags::CLONE_NEWPID).sys_path("setns pid", path)?;
        }
        if ns.has_new(LinuxNamespaceType::Time) {
            saved.time = Some(File::open("/proc/self/ns/time").sys("open /proc/self/ns/time")?);
            nix::sched::unshare(flag(LinuxNamespaceType::Time)).sys("unshare time namespace")?;
            if let Err(e) = write_time_offsets(linux) {
                saved.leave();
                return Err(e);
            }
        }
        Ok(saved)
    }

    /// Best effort: setns into namespaces we were in cannot fail for
    /// permission reasons.
    pub fn leave(self) {
        if let Some(f) = &self.pid {
            let _ = nix::sched::setns(f.as_fd(), CloneFlags::CLONE_NEWPID);
        }
        if let Some(f) = &self.time {
            let _ = nix::sched::setns(f.as_fd(), flag(LinuxNamespaceType::Time));
        }
    }
}

/// linux.timeOffsets, written for the time namespace our children will be
/// born in. Only monotonic and boottime clocks have offsets.
fn write_time_offsets(linux: &Linux) -> Result<()> {
    let mut text = String::new();
    for (clock, off) in linux.time_offsets().iter().flatten() {
        let id = match clock.as_str() {
            "monotonic" => libc::CLOCK_MONOTONIC,
            "boottime" => libc::CLOCK_BOOTTIME,
            other => {
                return Err(Error::invalid(format!(
                    "linux.timeOffsets: unknown clock {other:?} (monotonic or boottime)"
                )))
            }
        };
        text.push_str(&format!(
            "{id} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    if text.is_empty() {
        return Ok(());
    }
    let path = Path::new("/proc/self/timens_offsets");
    std::fs::write(path, text).sys_path("write linux.timeOffsets to", path)
}

/// Writes a new user namespace's maps, from the parent, once init exists.
/// Root in the parent namespace may write any map; setgroups is denied
/// only where the kernel requires it before gid_map (an unprivileged
/// writer), which keeps setgroups(2) usable in the container otherwise.
pub fn write_id_maps(pid: Pid, linux: &Linux) -> Result<()> {
    let uids = linux.uid_mappings().as_deref().unwrap_or_default();
    let gids = linux.gid_mappings().as_deref().unwrap_or_default();
    // Without privilege, the kernel takes only a map of the caller's own
    // id (and, for groups, only once setgroups is denied); anything wider
    // goes through the setuid helpers, which check /etc/subuid and
    // /etc/subgid.
    let root = nix::unistd::geteuid().is_root();
    if !root && !only_own(uids, nix::unistd::geteuid().as_raw()) {
        map_with_helper("newuidmap", pid, uids, "linux.uidMappings")?;
    } else {
        write_map(pid, "uid_map", uids, "linux.uidMappings")?;
    }
    if !root && !only_own(gids, nix::unistd::getegid().as_raw()) {
        return map_with_helper("newgidmap", pid, gids, "linux.gidMappings");
    }
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let gid_path = proc.join("gid_map");
    match std::fs::write(&gid_path, map_text(gids)) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            let sg = proc.join("setgroups");
            std::fs::write(&sg, "deny").sys_path("write", &sg)?;
            std::fs::write(&gid_path, map_text(gids))
        }
        r => r,
    }
    .sys_path("write linux.gidMappings to", &gid_path)
}

/// Whether `maps` is the one map an unprivileged process may write itself:
/// its own id, once.
fn only_own(maps: &[LinuxIdMapping], id: u32) -> bool {
    matches!(maps, [m] if m.host_id() == id && m.size() == 1)
}

fn write_map(pid: Pid, file: &str, maps: &[LinuxIdMapping], field: &str) -> Result<()> {
    let path = PathBuf::from(format!("/proc/{pid}/{file}"));
    std::fs::write(&path, map_text(maps)).sys_path(&format!("write {field} to"), &path)
}

/// newuidmap/newgidmap (Debian's `uidmap`): PID then container-id host-id
/// size triples.
fn map_with_helper(helper: &str, pid: Pid, maps: &[LinuxIdMapping], field: &str) -> Result<()> {
    let mut cmd = std::process::Command::new(helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            Error::sys(
                format_args!(
                    "{field}: mapping more than the caller's own id without root needs {helper} \
                 (Debian package uidmap): {e}"
                ),
                Errno::from_raw(e.raw_os_error().unwrap_or(libc::ENOENT)),
            )
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::sys(
        format_args!(
            "{field}: {helper} {} failed ({}): {} (are the ids in /etc/subuid and /etc/subgid?)",
            map_text(maps).trim().replace('\n', ", "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Errno::EPERM,
    ))
}

/// Whether this process runs in a user namespace other than the initial
/// one, whose uid map is the identity of every id.
pub fn in_user_namespace() -> bool {
    berth_proc::read_text(std::path::Path::new("/proc/self/uid_map")).is_ok_and(|m| {
        let fields: Vec<&str> = m.split_whitespace().collect();
        fields != ["0", "0", "4294967295"]
    })
}

pub fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// The host id that `id` in the container maps to, for chown of things
/// the runtime creates for the container (the pty, /dev).
pub fn host_id(maps: Option<&[LinuxIdMapping]>, id: u32) -> Option<u32> {
    match maps {
        None | Some([]) => Some(id),
        Some(maps) => maps.iter().find_map(|m| {
            let off = id.checked_sub(m.container_id())?;
            (off < m.size()).then(|| m.host_id() + off)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIdMappingBuilder;

    fn m(c: u32, h: u32, n: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(c)
            .host_id(h)
            .size(n)
            .build()
            .unwrap()
    }

    #[test]
    fn maps_are_written_one_range_per_line() {
        assert_eq!(
            map_text(&[m(0, 100000, 1000), m(1000, 1000, 1)]),
            "0 100000 1000\n1000 1000 1\n"
        );
    }

    #[test]
    fn container_ids_translate_through_the_ranges() {
        let maps = [m(0, 100000, 1000), m(1000, 5000, 10)];
        assert_eq!(host_id(Some(&maps), 0), Some(100000));
        assert_eq!(host_id(Some(&maps), 1005), Some(5005));
        assert_eq!(host_id(Some(&maps), 2000), None);
        assert_eq!(host_id(None, 7), Some(7));
    }
}
