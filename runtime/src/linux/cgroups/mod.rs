//! The container's cgroups: one directory per mounted hierarchy (each v1
//! hierarchy, and the unified v2 one), placed as runc places them, with the
//! host's layout read from /proc/self/mountinfo at run time: v1, v2 or the
//! hybrid of both.
//!
//! | linux.cgroupsPath | directory in each hierarchy                     |
//! |-------------------|-------------------------------------------------|
//! | absolute `/a/b`   | `/a/b` from the hierarchy's root                |
//! | relative `a/b`    | `a/b` below the runtime's own cgroup (1)        |
//! | empty             | `ID` below the runtime's own cgroup (1)         |
//!
//! (1) On a host on cgroup v2 alone, below the parent of the runtime's own
//! cgroup, as runc places it there: the runtime's own cgroup has
//! processes (the caller's: a login session's scope, a service), and a v2
//! cgroup with processes cannot pass controllers on to its children (only
//! the root may), so a container below it could have no limits at all.
//!
//! berth records which directories it made and removes those, and only
//! those, at delete.
//!
//! Under the systemd driver (linux/systemd/) the one v2 directory is a
//! unit's, which systemd makes and removes; the rest is the same.

pub mod device_filter;
pub mod device_update;
pub mod resources;
pub mod stats;

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result, SysResult};
use berth_proc::mountinfo::CgroupMount;

/// The hierarchies mounted on this host.
#[derive(Debug, Clone)]
pub struct Layout {
    pub mounts: Vec<CgroupMount>,
}

impl Layout {
    pub fn from_mountinfo(mountinfo: &str) -> Layout {
        Layout {
            mounts: berth_proc::mountinfo::cgroup_mounts(mountinfo),
        }
    }

    pub fn read() -> Result<Layout> {
        let mi = berth_proc::read_text(Path::new("/proc/self/mountinfo"))
            .sys("read /proc/self/mountinfo")?;
        Ok(Layout::from_mountinfo(&mi))
    }

    /// Only cgroup2: every controller is there.
    pub fn is_unified(&self) -> bool {
        !self.mounts.is_empty() && self.mounts.iter().all(|m| m.fstype == "cgroup2")
    }
}

/// One of the container's cgroup directories.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Dir {
    pub path: PathBuf,
    /// On the unified (v2) hierarchy.
    pub v2: bool,
    /// The v1 controllers of its hierarchy (empty for v2).
    pub controllers: Vec<String>,
    /// Directories berth made for it, outermost first.
    pub created: Vec<PathBuf>,
}

impl Dir {
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// The container's cgroups, as recorded in its state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cgroups {
    pub dirs: Vec<Dir>,
    /// The systemd unit whose cgroup this is (`--systemd-cgroup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<crate::linux::systemd::Unit>,
    /// The device rules in effect, as resources::plan made them (berth's
    /// deny-all and default devices around the config's), for `update` to
    /// tell what changes: "allow c 1:3 rwm", "deny a *:* rwm". Empty where
    /// the container has no device policy (rootless); None in a state
    /// written before berth recorded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<String>>,
}

/// The runtime's own cgroups: /proc/self/cgroup's lines, split once
/// (`controllers`, `path`), for every hierarchy to look itself up in.
struct OwnCgroups<'a>(Vec<(&'a str, &'a str)>);

impl<'a> OwnCgroups<'a> {
    fn parse(proc_self_cgroup: &'a str) -> OwnCgroups<'a> {
        OwnCgroups(
            proc_self_cgroup
                .lines()
                .filter_map(|l| l.split_once(':')?.1.split_once(':'))
                .collect(),
        )
    }

    /// The runtime's own path in hierarchy `m`, relative to what the
    /// mount shows as its top.
    fn path(&self, m: &CgroupMount) -> PathBuf {
        let v2 = m.fstype == "cgroup2";
        let path = self
            .0
            .iter()
            .find(|(ctrls, _)| {
                if v2 {
                    ctrls.is_empty()
                } else {
                    !ctrls.is_empty() && joined_by_commas(ctrls, &m.controllers)
                }
            })
            .map_or("/", |(_, path)| path);
        let path = Path::new(path);
        let rel = strip_dir(path, Path::new(&m.root)).unwrap_or(path);
        strip_dir(rel, Path::new("/")).unwrap_or(rel).to_path_buf()
    }
}

/// `text.split(',')` equals `list` (whose items hold no comma: they were
/// split at commas), compared without the split iterator, which cost
/// ~200 instructions a line of /proc/self/cgroup for every hierarchy.
fn joined_by_commas(text: &str, list: &[String]) -> bool {
    let mut rest = text;
    for (i, item) in list.iter().enumerate() {
        if i > 0 {
            let Some(r) = rest.strip_prefix(',') else {
                return false;
            };
            rest = r;
        }
        let Some(r) = rest.strip_prefix(item.as_str()) else {
            return false;
        };
        rest = r;
    }
    rest.is_empty() && !list.is_empty()
}

/// `path.strip_prefix(base)`, compared as bytes where both paths are
/// clean (see [`is_clean`]): for those a prefix of components is a byte
/// prefix that ends at a separator, and the answer is the same. Path's
/// component walk cost create ~900 instructions a call, and planning the
/// cgroups and their /proc/self/cgroup text made ~70 of them.
fn strip_dir<'a>(path: &'a Path, base: &Path) -> Option<&'a Path> {
    strip_checked(checked(path), checked(base))
}

/// A path and whether it is clean, for [`strip_checked`].
fn checked(p: &Path) -> (&Path, bool) {
    (p, is_clean(p.as_os_str().as_bytes()))
}

/// [`strip_dir`] of paths whose cleanness is known.
fn strip_checked<'a>(
    (path, path_clean): (&'a Path, bool),
    (base, base_clean): (&Path, bool),
) -> Option<&'a Path> {
    if !(path_clean && base_clean) {
        return path.strip_prefix(base).ok();
    }
    let (p, b) = (path.as_os_str().as_bytes(), base.as_os_str().as_bytes());
    let rest = match p.strip_prefix(b)? {
        [] => &[][..],
        [b'/', rest @ ..] => rest,
        rest if b == b"/" => rest,
        _ => return None,
    };
    Some(Path::new(OsStr::from_bytes(rest)))
}

/// Absolute, without an empty or `.` component (`//`, `/./`, a trailing
/// `/`): how the kernel writes paths in /proc and how [`Cgroups::plan`]
/// joins them.
fn is_clean(p: &[u8]) -> bool {
    let [b'/', rest @ ..] = p else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    // One pass, no slices compared: split() and windows() cost several
    // times as much in berth's size-optimised build.
    let (mut len, mut dot) = (0usize, false);
    for &c in rest {
        if c == b'/' {
            if len == 0 || (len == 1 && dot) {
                return false;
            }
            len = 0;
        } else {
            dot = len == 0 && c == b'.';
            len += 1;
        }
    }
    !(len == 0 || (len == 1 && dot))
}

impl Cgroups {
    /// Where the container's cgroups go (nothing is made yet).
    pub fn plan(layout: &Layout, own: &str, cgroups_path: Option<&Path>, id: &str) -> Cgroups {
        let own = OwnCgroups::parse(own);
        let unified = layout.is_unified();
        // What an empty or relative cgroupsPath is below in hierarchy `m`
        // (see the table above).
        let relative_base = |m: &CgroupMount| {
            let own = own.path(m);
            match own.parent() {
                Some(parent) if unified => parent.to_path_buf(),
                _ => own,
            }
        };
        let dirs = layout
            .mounts
            .iter()
            .map(|m| {
                let rel = match cgroups_path.filter(|p| !p.as_os_str().is_empty()) {
                    Some(p) if p.is_absolute() => {
                        crate::linux::syscall::lexical(p.strip_prefix(&m.root).unwrap_or(p))
                    }
                    Some(p) => relative_base(m).join(crate::linux::syscall::lexical(p)),
                    None => relative_base(m).join(id),
                };
                Dir {
                    path: m.mount_point.join(rel),
                    v2: m.fstype == "cgroup2",
                    controllers: m.controllers.clone(),
                    created: Vec::new(),
                }
            })
            .collect();
        Cgroups {
            dirs,
            unit: None,
            devices: None,
        }
    }

    /// Under the systemd driver: the unit's cgroup, `rel` below the top of
    /// the hierarchy (where systemd will make it once the unit starts).
    /// Only on a host on cgroup v2 alone, the layout systemd hosts have.
    pub fn plan_unit(
        layout: &Layout,
        rel: &Path,
        unit: crate::linux::systemd::Unit,
    ) -> Result<Cgroups> {
        let m = match &layout.mounts[..] {
            [m] if layout.is_unified() => m,
            _ => {
                return Err(Error::invalid(
                    "--systemd-cgroup: berth's systemd driver needs a host on cgroup v2 alone \
                     (this one mounts cgroup v1 hierarchies)",
                ))
            }
        };
        let rel = crate::linux::syscall::lexical(rel);
        let rel = rel.strip_prefix(&m.root).unwrap_or(&rel);
        Ok(Cgroups {
            dirs: vec![Dir {
                path: m.mount_point.join(rel),
                v2: true,
                controllers: Vec::new(),
                created: Vec::new(),
            }],
            unit: Some(unit),
            devices: None,
        })
    }

    /// Once systemd has made the unit's cgroup: passes on to it what
    /// systemd leaves off (hugetlb, rdma, misc) from the top down, as
    /// for a cgroup berth makes.
    pub fn unit_started(&self) -> Result<()> {
        self.dirs.iter().try_for_each(delegate_controllers)
    }

    /// Below every directory: `rel` (for exec --cgroup), made like the
    /// container's own.
    pub fn below(&self, rel: &Path) -> Result<Cgroups> {
        let mut out = self.clone();
        for d in &mut out.dirs {
            d.path = d.path.join(rel);
            d.created.clear();
        }
        // Not delegating: the container's v2 cgroup has processes, and
        // the kernel refuses controllers below a cgroup with processes.
        out.dirs.iter_mut().try_for_each(|d| create_dir(d, false))?;
        Ok(out)
    }

    /// Makes the directories (recording the ones berth made) and readies
    /// them for a process: cpuset v1 copies its parent's CPUs and memory
    /// nodes, v2 parents delegate their controllers.
    pub fn create(&mut self) -> Result<()> {
        let r = self.dirs.iter_mut().try_for_each(|d| create_dir(d, true));
        if r.is_err() {
            let _ = self.remove();
        }
        r
    }

    /// Rootless: makes the directories the user may make and drops the
    /// others (permission refused: a hierarchy not delegated to the user),
    /// which it returns. Any other failure removes what was made.
    pub fn create_where_permitted(&mut self) -> Result<Vec<PathBuf>> {
        let mut refused = Vec::new();
        let mut kept = Vec::new();
        for mut d in std::mem::take(&mut self.dirs) {
            match create_dir(&mut d, true) {
                Ok(()) => kept.push(d),
                Err(e)
                    if matches!(e.errno(), Some(Errno::EACCES | Errno::EPERM | Errno::EROFS)) =>
                {
                    let _ = Cgroups {
                        dirs: vec![d.clone()],
                        ..Cgroups::default()
                    }
                    .remove();
                    refused.push(d.path);
                }
                Err(e) => {
                    self.dirs = kept;
                    let _ = self.remove();
                    return Err(e);
                }
            }
        }
        self.dirs = kept;
        Ok(refused)
    }

    /// The v2 directory, opened for CLONE_INTO_CGROUP.
    pub fn unified_fd(&self) -> Result<Option<OwnedFd>> {
        self.dirs
            .iter()
            .find(|d| d.v2)
            .map(|d| {
                File::open(&d.path)
                    .map(OwnedFd::from)
                    .sys_path("open cgroup", &d.path)
            })
            .transpose()
    }

    /// Opens the `tasks` file of every v1 directory, before clone, for the
    /// child to move itself ([`V1Tasks::join`]).
    pub fn open_v1_tasks(&self) -> Result<V1Tasks> {
        let files = self
            .dirs
            .iter()
            .filter(|d| !d.v2)
            .map(|d| {
                let f = d.file("tasks");
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&f)
                    .sys_path("open", &f)?;
                Ok((file, f))
            })
            .collect::<Result<_>>()?;
        Ok(V1Tasks(files))
    }

    /// Moves `pid` into the v2 directory, where clone could not place it.
    pub fn enter_v2(&self, pid: i32) -> Result<()> {
        for d in self.dirs.iter().filter(|d| d.v2) {
            let f = d.file("cgroup.procs");
            std::fs::write(&f, pid.to_string()).sys_path("write", &f)?;
        }
        Ok(())
    }

    /// Every process in the container's cgroup: from the v2 directory, the
    /// freezer or pids hierarchy, or any.
    /// Whether every directory of the container's was made by berth for
    /// it, rather than named by cgroupsPath where it already was (a shared
    /// slice, whose other processes are not the container's).
    pub fn all_made_here(&self) -> bool {
        // A scope systemd made for the container is the container's alone.
        if let Some(u) = &self.unit {
            return !u.name.ends_with(".slice");
        }
        self.dirs.iter().all(|d| d.created.contains(&d.path))
    }

    pub fn procs(&self) -> Result<Vec<i32>> {
        let pick = self
            .dirs
            .iter()
            .find(|d| d.v2 && self.dirs.len() == 1)
            .or_else(|| self.dirs.iter().find(|d| d.has("freezer") || d.has("pids")))
            .or_else(|| self.dirs.first());
        let Some(d) = pick else {
            return Ok(Vec::new());
        };
        let f = d.file("cgroup.procs");
        match std::fs::read_to_string(&f) {
            Ok(t) => Ok(t.lines().filter_map(|l| l.trim().parse().ok()).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(Error::io("read", &f, e)),
        }
    }

    /// The freezer: v1's freezer.state, or v2's cgroup.freeze when there is
    /// no v1 freezer.
    pub(crate) fn freezer(&self) -> Option<(&Dir, bool)> {
        self.dirs
            .iter()
            .find(|d| d.has("freezer"))
            .map(|d| (d, false))
            .or_else(|| self.dirs.iter().find(|d| d.v2).map(|d| (d, true)))
    }

    pub fn freeze(&self, frozen: bool) -> Result<()> {
        let (d, v2) = self
            .freezer()
            .ok_or_else(|| Error::invalid("no freezer cgroup for this container"))?;
        let (file, value) = match (v2, frozen) {
            (true, f) => ("cgroup.freeze", if f { "1" } else { "0" }),
            (false, true) => ("freezer.state", "FROZEN"),
            (false, false) => ("freezer.state", "THAWED"),
        };
        let f = d.file(file);
        std::fs::write(&f, value).sys_path("write", &f)?;
        // Freezing takes effect asynchronously: wait until it has.
        for _ in 0..1000 {
            if self.is_frozen() == frozen {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(Error::sys(
            format_args!("{}: the cgroup did not reach the asked state", f.display()),
            Errno::ETIMEDOUT,
        ))
    }

    pub fn is_frozen(&self) -> bool {
        let Some((d, v2)) = self.freezer() else {
            return false;
        };
        if v2 {
            std::fs::read_to_string(d.file("cgroup.events"))
                .is_ok_and(|t| t.lines().any(|l| l.trim() == "frozen 1"))
        } else {
            std::fs::read_to_string(d.file("freezer.state")).is_ok_and(|t| t.trim() == "FROZEN")
        }
    }

    /// Removes the directories berth made, innermost first. A cgroup is
    /// busy while a process in it is still exiting (a SIGKILLed daemon
    /// unmapping its memory): its exit is waited for on pidfds, not by
    /// sleeping and retrying.
    pub fn remove(&self) -> Result<()> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut first_err = None;
        if let Some(unit) = &self.unit {
            // systemd removes its unit's cgroup, below-cgroups included.
            if let Err(e) =
                crate::linux::systemd::Manager::for_unit(unit).and_then(|mut m| m.stop(&unit.name))
            {
                first_err = Some(e);
            }
        }
        for d in &self.dirs {
            for p in d.created.iter().rev() {
                if *p != d.path {
                    // A parent berth made: other containers may live there
                    // now (containerd's /NAMESPACE), so it goes only if empty.
                    let _ = std::fs::remove_dir(p);
                    continue;
                }
                if let Err(e) = remove_busy(p, deadline) {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// What `serde_json::to_vec` makes of these cgroups, byte for byte
    /// (a test holds it to that), written directly. create records them
    /// before clone (creating.json), and serde_json's string escaping
    /// cost ~40 instructions a byte there in berth's size-optimised build:
    /// 58k for the 1.4 KB of a hybrid host's ten hierarchies. A unit
    /// (systemd's driver) or a path that is not UTF-8 (which serde_json
    /// refuses) go through serde_json.
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        let utf8 = self
            .dirs
            .iter()
            .all(|d| d.path.to_str().is_some() && d.created.iter().all(|p| p.to_str().is_some()));
        if self.unit.is_some() || !utf8 {
            return serde_json::to_vec(self);
        }
        let mut out = Vec::with_capacity(256 + 160 * self.dirs.len());
        out.extend_from_slice(b"{\"dirs\":[");
        for (i, d) in self.dirs.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"path\":");
            json_str(&mut out, d.path.to_str().unwrap_or_default());
            out.extend_from_slice(if d.v2 {
                b",\"v2\":true,\"controllers\":"
            } else {
                b",\"v2\":false,\"controllers\":"
            });
            json_strs(&mut out, d.controllers.iter().map(String::as_str));
            out.extend_from_slice(b",\"created\":");
            json_strs(
                &mut out,
                d.created.iter().map(|p| p.to_str().unwrap_or_default()),
            );
            out.push(b'}');
        }
        out.push(b']');
        if let Some(devices) = &self.devices {
            out.extend_from_slice(b",\"devices\":");
            json_strs(&mut out, devices.iter().map(String::as_str));
        }
        out.push(b'}');
        Ok(out)
    }

    /// The container's cgroups as /proc/self/cgroup would show them, for
    /// bind-mounting them into a container without a cgroup namespace.
    pub fn proc_self_text(&self, layout: &Layout, own: &str) -> String {
        use std::fmt::Write;
        let own = OwnCgroups::parse(own);
        let dirs: Vec<_> = self.dirs.iter().map(|d| checked(&d.path)).collect();
        let mut text = String::new();
        for m in &layout.mounts {
            let mount_point = checked(&m.mount_point);
            // A hierarchy rootless mode skipped keeps the runtime's own.
            let rel = dirs
                .iter()
                .find_map(|&d| strip_checked(d, mount_point))
                .map_or_else(|| own.path(m), Path::to_path_buf);
            let _ = writeln!(text, "0:{}:/{}", m.controllers.join(","), rel.display());
        }
        text
    }
}

/// A JSON array of strings, as serde_json writes it.
fn json_strs<'a>(out: &mut Vec<u8>, items: impl Iterator<Item = &'a str>) {
    out.push(b'[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str(out, s);
    }
    out.push(b']');
}

/// A JSON string, escaped as serde_json escapes it: `"` and `\`, the
/// control characters by their short escape where JSON has one and as
/// `\u00xx` otherwise; everything else as it is.
fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        // Most bytes: one test before the match.
        if c > b'\\' || (c >= 0x20 && c != b'"' && c != b'\\') {
            continue;
        }
        let short = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x0c => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0..=0x1f => 0,
            _ => continue,
        };
        out.extend_from_slice(&b[start..i]);
        if short != 0 {
            out.extend_from_slice(&[b'\\', short]);
        } else {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.extend_from_slice(&[HEX[(c >> 4) as usize], HEX[(c & 0xf) as usize]]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// The `tasks` files of the container's v1 directories, opened by the
/// parent before clone; the child writes "0" (itself) into each as its
/// first step.
///
/// Why the child and `tasks`, not the parent and `cgroup.procs`: moving a
/// whole thread group, or another task by pid, takes the kernel's
/// threadgroup lock for writing, and its first writer waits out an RCU
/// grace period: 5 to 12 ms on the benchmark VM, more than the rest of
/// `run` together. A task that moves only itself (pid 0 in `tasks`) is
/// moved without that lock (cgroup_procs_write_start); the child is
/// single-threaded, so its one thread is the whole process, and what it
/// forks follows it. v1 checks the opener's credentials (the file's
/// f_cred), so the descriptors work from a new user namespace too. They
/// are close-on-exec.
pub struct V1Tasks(Vec<(File, PathBuf)>);

impl V1Tasks {
    pub fn join(&self) -> Result<()> {
        use std::io::Write;
        for (file, path) in &self.0 {
            (&*file).write_all(b"0").sys_path("write", path)?;
        }
        Ok(())
    }
}

/// Removes a container's cgroup directory once what kept it busy is gone:
/// sub-cgroups (exec --cgroup) and processes still exiting.
fn remove_busy(p: &Path, deadline: std::time::Instant) -> Result<()> {
    // Ok(false): busy.
    let rmdir = || match std::fs::remove_dir(p) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(false),
        Err(e) => Err(Error::io("remove cgroup", p, e)),
    };
    while !rmdir()? {
        // Listing the directory only now saves the common case a read of
        // every hierarchy.
        remove_children(p);
        if rmdir()? {
            break;
        }
        // With none left to wait for, the rmdir above saw the last exit
        // still under way, or the cgroup is held by something else: one
        // more try tells which.
        let members = exiting_members(p);
        let waited = !members.is_empty()
            && std::time::Instant::now() < deadline
            && crate::linux::pidfd::wait_all(&members, deadline)
                .with_context(|| format!("remove cgroup {}", p.display()))?;
        if !waited && !rmdir()? {
            return Err(Error::io(
                "remove cgroup",
                p,
                std::io::Error::from_raw_os_error(libc::EBUSY),
            ));
        }
    }
    Ok(())
}

/// pidfds of the processes left in a cgroup and its sub-cgroups. The
/// kernel takes a process out of its cgroups before its pidfd becomes
/// readable, so once all are readable the cgroup is empty.
fn exiting_members(p: &Path) -> Vec<OwnedFd> {
    let procs = |d: &Path| -> Vec<libc::pid_t> {
        std::fs::read_to_string(d.join("cgroup.procs"))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    };
    let mut fds = Vec::new();
    let mut dirs = vec![p.to_path_buf()];
    while let Some(d) = dirs.pop() {
        // A pid not visible in our pid namespace reads as 0.
        let opened: Vec<_> = procs(&d)
            .into_iter()
            .filter(|&pid| pid > 0)
            .filter_map(|pid| Some((pid, crate::linux::pidfd::open(pid).ok()?)))
            .collect();
        if !opened.is_empty() {
            // Listed again once pinned: a pid that exited and was reused
            // in between is no longer in this cgroup.
            let still = procs(&d);
            fds.extend(
                opened
                    .into_iter()
                    .filter(|(pid, _)| still.contains(pid))
                    .map(|(_, fd)| fd),
            );
        }
        if let Ok(entries) = std::fs::read_dir(&d) {
            let subdirs = entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()));
            dirs.extend(subdirs.map(|e| e.path()));
        }
    }
    fds
}

/// rmdir of every cgroup below `p`, innermost first (a cgroup directory
/// holds no files that rmdir would refuse).
fn remove_children(p: &Path) {
    let Ok(entries) = std::fs::read_dir(p) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_children(&e.path());
            let _ = std::fs::remove_dir(e.path());
        }
    }
}

fn create_dir(d: &mut Dir, delegate: bool) -> Result<()> {
    let start = d.created.len();
    make_missing(&d.path, &mut d.created)?;
    if d.has("cpuset") {
        // The ones made here, outermost first, and the container's own in
        // any case: a concurrent create may have made it and not filled it
        // yet.
        let made = &d.created[start..];
        for dir in made {
            inherit_cpuset(dir, true)?;
        }
        if !made.contains(&d.path) {
            inherit_cpuset(&d.path, false)?;
        }
    }
    if d.v2 && delegate {
        delegate_controllers(d)?;
    }
    Ok(())
}

/// mkdir of `dir` and of whatever parents are missing, recorded in `made`
/// outermost first; an existing directory is left as it is. The common
/// case, where only the container's own directory is new, is one mkdir.
fn make_missing(dir: &Path, made: &mut Vec<PathBuf>) -> Result<()> {
    let mkdir = |made: &mut Vec<PathBuf>| match std::fs::create_dir(dir) {
        Ok(()) => {
            made.push(dir.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    };
    match mkdir(made) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                make_missing(parent, made)?;
            }
            mkdir(made)
        }
        r => r,
    }
    .map_err(|e| Error::io("create cgroup", dir, e))
}

/// A new v1 cpuset cgroup starts with no CPUs and no memory nodes, and
/// refuses processes until it has some: take the parent's. `fresh`: this
/// process has just made `dir`, so its own are known to be empty.
fn inherit_cpuset(dir: &Path, fresh: bool) -> Result<()> {
    let parent = dir.parent().expect("below a mount point");
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let mine = dir.join(f);
        if fresh || berth_proc::read_text(&mine).is_ok_and(|v| v.trim().is_empty()) {
            let read = || berth_proc::read_text(&parent.join(f)).sys_path("read", &parent.join(f));
            let mut value = read()?;
            if value.trim().is_empty() {
                // A parent that a concurrent create has just made may not
                // have its own yet: fill it first (both write the same).
                inherit_cpuset(parent, false)?;
                value = read()?;
            }
            std::fs::write(&mine, value.trim()).sys_path("write", &mine)?;
        }
    }
    Ok(())
}

/// The top of the v2 hierarchy holding `dir`: its highest existing
/// ancestor with a cgroup.controllers (the mount point), None outside one.
pub(crate) fn v2_top(dir: &Path) -> Option<&Path> {
    dir.ancestors()
        .skip(1)
        .skip_while(|a| !a.exists())
        .take_while(|a| a.join("cgroup.controllers").exists())
        .last()
}

/// On v2 a controller's files exist in a cgroup only when its parent lists
/// the controller in cgroup.subtree_control, which it can only when its
/// own parent does: every ancestor below the top passes on all it has, as
/// runc's do, top-down. Each level's cgroup.controllers is read after its
/// parent's write: one that berth has just made, or found with nothing
/// enabled, has what its parent passes on only then. A controller the
/// kernel will not enable here (a parent with processes of its own, one
/// the user may not write) is left out, as by runc: a limit that needs it
/// says so when it is written (resources.rs). What berth enables in a
/// parent it did not make stays enabled after delete, as with runc: other
/// cgroups below that parent may be using it.
fn delegate_controllers(d: &Dir) -> Result<()> {
    let Some(top) = v2_top(&d.path) else {
        return Ok(());
    };
    let mut parents: Vec<&Path> = d
        .path
        .ancestors()
        .skip(1)
        .take_while(|a| a.starts_with(top))
        .collect();
    parents.reverse();
    for a in parents {
        let read = |name: &str| {
            let f = a.join(name);
            berth_proc::read_text(&f).sys_path("read", &f)
        };
        let (available, enabled) = (read("cgroup.controllers")?, read("cgroup.subtree_control")?);
        // Only what is not passed on yet: the write is skipped entirely
        // in the common case, where an earlier container enabled them.
        let missing: Vec<&str> = available
            .split_whitespace()
            .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
            .collect();
        if missing.is_empty() {
            continue;
        }
        // A cgroup with processes of its own (not the root) cannot pass
        // domain controllers on, and would take the threaded ones alone
        // (cpu, cpuset, pids): that makes it a threaded domain, below
        // which no ordinary cgroup takes a process (EOPNOTSUPP), for every
        // later container too. Left as it is.
        if a != top && std::fs::read(a.join("cgroup.procs")).is_ok_and(|p| !p.is_empty()) {
            continue;
        }
        let f = a.join("cgroup.subtree_control");
        let all: Vec<String> = missing.iter().map(|c| format!("+{c}")).collect();
        if std::fs::write(&f, all.join(" ")).is_err() {
            // The kernel takes all or none: then each on its own.
            for c in all {
                let _ = std::fs::write(&f, c);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
31 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
32 25 0:28 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset
";
    const OWN: &str = "4:memory:/user/session\n3:cpuset:/\n0::/user/session\n";

    fn paths(c: &Cgroups) -> Vec<String> {
        c.dirs
            .iter()
            .map(|d| d.path.display().to_string())
            .collect()
    }

    #[test]
    fn paths_follow_runcs_rules_in_every_hierarchy() {
        let l = Layout::from_mountinfo(HYBRID);
        assert!(!l.is_unified());
        let c = Cgroups::plan(&l, OWN, None, "ctr");
        assert_eq!(
            paths(&c),
            [
                "/sys/fs/cgroup/unified/user/session/ctr",
                "/sys/fs/cgroup/memory/user/session/ctr",
                "/sys/fs/cgroup/cpuset/ctr"
            ]
        );
        let c = Cgroups::plan(&l, OWN, Some(Path::new("/pods/p1/../p2/ctr")), "x");
        assert_eq!(
            paths(&c),
            [
                "/sys/fs/cgroup/unified/pods/p2/ctr",
                "/sys/fs/cgroup/memory/pods/p2/ctr",
                "/sys/fs/cgroup/cpuset/pods/p2/ctr"
            ]
        );
        let c = Cgroups::plan(&l, OWN, Some(Path::new("sub/ctr")), "x");
        assert_eq!(
            c.dirs[1].path,
            Path::new("/sys/fs/cgroup/memory/user/session/sub/ctr")
        );
        assert!(c.dirs[0].v2 && c.dirs[1].has("memory"));
    }

    /// On cgroup v2 alone, as runc: below the parent of the runtime's own
    /// cgroup, which has the caller's processes; at the root, the root.
    #[test]
    fn on_v2_alone_relative_paths_are_below_the_parent_of_the_runtimes_own() {
        let l = Layout::from_mountinfo("30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        assert!(l.is_unified());
        let own = "0::/user.slice/user-1000.slice/session-3.scope\n";
        let c = Cgroups::plan(&l, own, None, "ctr");
        assert_eq!(paths(&c), ["/sys/fs/cgroup/user.slice/user-1000.slice/ctr"]);
        let c = Cgroups::plan(&l, own, Some(Path::new("a/b")), "x");
        assert_eq!(paths(&c), ["/sys/fs/cgroup/user.slice/user-1000.slice/a/b"]);
        let c = Cgroups::plan(&l, own, Some(Path::new("/abs")), "x");
        assert_eq!(paths(&c), ["/sys/fs/cgroup/abs"]);
        let c = Cgroups::plan(&l, "0::/\n", None, "ctr");
        assert_eq!(paths(&c), ["/sys/fs/cgroup/ctr"]);
    }

    /// A parent with processes of its own is left alone: it cannot pass
    /// domain controllers on, and taking the threaded ones alone would
    /// make it a threaded domain (EOPNOTSUPP for every child after).
    #[test]
    fn parents_with_processes_are_not_asked_to_pass_controllers_on() {
        let base = std::env::temp_dir().join(format!("berth-cgdeleg-{}", std::process::id()));
        let (top, busy, empty) = (
            base.join("top"),
            base.join("top/busy"),
            base.join("top/empty"),
        );
        for (d, procs) in [(&top, "1\n"), (&busy, "4242\n"), (&empty, "")] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("cgroup.controllers"), "cpu memory pids").unwrap();
            std::fs::write(d.join("cgroup.subtree_control"), "").unwrap();
            std::fs::write(d.join("cgroup.procs"), procs).unwrap();
        }
        let dir = |p: PathBuf| Dir {
            path: p,
            v2: true,
            controllers: Vec::new(),
            created: Vec::new(),
        };
        delegate_controllers(&dir(busy.join("ctr"))).unwrap();
        delegate_controllers(&dir(empty.join("ctr"))).unwrap();
        let enabled = |d: &Path| std::fs::read_to_string(d.join("cgroup.subtree_control")).unwrap();
        // The top (the root, exempt from the rule) and the empty parent pass
        // them on; the busy one is untouched.
        assert_eq!(enabled(&top), "+cpu +memory +pids");
        assert_eq!(enabled(&empty), "+cpu +memory +pids");
        assert_eq!(enabled(&busy), "");
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// A state written before the device rules were recorded reads as
    /// "not recorded", not as "no device policy".
    #[test]
    fn the_device_record_is_optional_in_a_state() {
        let old: Cgroups = serde_json::from_str(r#"{"dirs":[]}"#).unwrap();
        assert_eq!(old.devices, None);
        let none = Cgroups {
            devices: Some(Vec::new()),
            ..Cgroups::default()
        };
        let text = serde_json::to_string(&none).unwrap();
        assert_eq!(serde_json::from_str::<Cgroups>(&text).unwrap(), none);
    }

    #[test]
    fn controllers_compare_as_a_split_would() {
        let lists: [&[&str]; 4] = [&["cpu"], &["cpu", "cpuacct"], &["cpuacct", "cpu"], &[]];
        for text in [
            "cpu",
            "cpu,cpuacct",
            "cpuacct,cpu",
            "cpu,",
            ",cpu",
            "cpuacct",
            "",
            "cpu,cpuacct,x",
        ] {
            for list in lists {
                let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
                let split = !list.is_empty() && text.split(',').eq(list.iter().map(String::as_str));
                assert_eq!(joined_by_commas(text, &list), split, "{text:?} {list:?}");
            }
        }
    }

    #[test]
    fn strip_dir_answers_as_path_strip_prefix() {
        let paths = [
            "/",
            "/a",
            "/a/b",
            "/ab",
            "/a/b/c",
            "/a/",
            "/a//b",
            "/a/./b",
            "/a/.",
            "/a/../b",
            "a/b",
            "a",
            "",
            ".",
            "./a",
            "/sys/fs/cgroup/cpu/x",
            "/sys/fs/cgroup/cpuacct",
        ];
        for p in paths {
            for b in paths {
                let (p, b) = (Path::new(p), Path::new(b));
                assert_eq!(strip_dir(p, b), p.strip_prefix(b).ok(), "{p:?} {b:?}");
            }
        }
    }

    /// The /proc/self/cgroup text bound into a container without a cgroup
    /// namespace: the container's directories, and the runtime's own
    /// where rootless mode skipped a hierarchy.
    #[test]
    fn proc_self_text_names_the_containers_cgroups() {
        let l = Layout::from_mountinfo(HYBRID);
        let mut c = Cgroups::plan(&l, OWN, None, "ctr");
        assert_eq!(
            c.proc_self_text(&l, OWN),
            "0::/user/session/ctr\n0:memory:/user/session/ctr\n0:cpuset:/ctr\n"
        );
        c.dirs.remove(1);
        assert_eq!(
            c.proc_self_text(&l, OWN),
            "0::/user/session/ctr\n0:memory:/user/session\n0:cpuset:/ctr\n"
        );
        let l = Layout::from_mountinfo(
            "1 0 0:1 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        );
        let own = "0::/kubepods/pod1/x\n";
        let c = Cgroups::plan(&l, own, Some(Path::new("a/b")), "ctr");
        assert_eq!(c.proc_self_text(&l, own), "0::/a/b\n");
        assert_eq!(Cgroups::default().proc_self_text(&l, own), "0::/x\n");
    }

    /// to_json writes what serde_json writes, escapes included, so that
    /// a state or record read back with serde gives the same cgroups.
    #[test]
    fn cgroups_json_is_serde_jsons() {
        let l = Layout::from_mountinfo(HYBRID);
        let mut c = Cgroups::plan(&l, OWN, None, "ctr");
        let check = |c: &Cgroups| {
            let ours = c.to_json().unwrap();
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&serde_json::to_vec(c).unwrap())
            );
            assert_eq!(&serde_json::from_slice::<Cgroups>(&ours).unwrap(), c);
        };
        check(&c);
        check(&Cgroups::default());
        c.dirs[0].created = vec![c.dirs[0].path.clone(), "/sys/a".into()];
        c.devices = Some(vec![]);
        check(&c);
        let odd: String = (0u8..0x80)
            .map(char::from)
            .chain("é\u{2028}€".chars())
            .collect();
        c.dirs[1].path = PathBuf::from(format!("/sys/fs/cgroup/{odd}\"q\\"));
        c.dirs[1].controllers = vec![odd.clone(), String::new()];
        c.devices = Some(vec!["allow c 1:3 rwm".into(), odd]);
        check(&c);
    }

    #[test]
    fn a_mount_rooted_deeper_strips_its_root() {
        let l = Layout::from_mountinfo(
            "1 0 0:1 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        );
        assert!(l.is_unified());
        let c = Cgroups::plan(&l, "0::/kubepods/pod1\n", None, "ctr");
        assert_eq!(paths(&c), ["/sys/fs/cgroup/ctr"]);
    }

    #[test]
    fn the_v2_top_is_the_highest_existing_cgroup_above_a_path() {
        let base = std::env::temp_dir().join(format!("berth-cgtop-{}", std::process::id()));
        let top = base.join("unified");
        std::fs::create_dir_all(top.join("a")).unwrap();
        for d in [&top, &top.join("a")] {
            std::fs::write(d.join("cgroup.controllers"), "memory hugetlb").unwrap();
        }
        // b and c do not exist yet; base has no cgroup.controllers.
        assert_eq!(v2_top(&top.join("a/b/c")), Some(top.as_path()));
        assert_eq!(v2_top(&top.join("x")), Some(top.as_path()));
        assert_eq!(v2_top(&base.join("elsewhere/c")), None);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn directories_made_are_recorded_and_removed_innermost_first() {
        let base = std::env::temp_dir().join(format!("berth-cgtest-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        let mut c = Cgroups {
            dirs: vec![Dir {
                path: base.join("a/b"),
                v2: false,
                controllers: vec!["pids".into()],
                created: Vec::new(),
            }],
            ..Cgroups::default()
        };
        c.create().unwrap();
        assert_eq!(c.dirs[0].created, [base.join("a"), base.join("a/b")]);
        // A sibling that came later (another container under the same
        // parent) keeps the parent, and is not touched.
        std::fs::create_dir(base.join("a/sibling")).unwrap();
        c.remove().unwrap();
        assert!(!base.join("a/b").exists());
        assert!(base.join("a/sibling").exists());
        std::fs::remove_dir(base.join("a/sibling")).unwrap();
        c.remove().unwrap();
        assert!(!base.join("a").exists());
        std::fs::remove_dir(&base).unwrap();
    }
}
