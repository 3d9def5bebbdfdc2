//! /proc/self/mountinfo: one parser for the runtime and the shim. Both find
//! the cgroup hierarchies the host has mounted here, which is how the cgroup
//! layout is found at run time (v1, v2 or hybrid) instead of being assumed.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    pub mount_point: PathBuf,
    /// "cgroup" (v1) or "cgroup2".
    pub fstype: String,
    /// v1 controllers and `name=` options (e.g. ["cpu"], ["name=systemd"]);
    /// empty for cgroup2.
    pub controllers: Vec<String>,
    /// The cgroup the mount shows as its top (mountinfo's root field): "/"
    /// on a host, deeper inside a container.
    pub root: String,
}

/// One line of mountinfo (proc_pid_mountinfo(5)), its paths unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The directory of the file system mounted here (for a cgroup mount,
    /// the cgroup it shows as its top).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Propagation: a `shared:N` optional field.
    pub shared: bool,
    pub fstype: String,
    /// The super block's options, comma-separated (a v1 cgroup mount's
    /// controllers are among them).
    pub super_options: String,
}

/// Every mount in mountinfo text, in its order; malformed lines are skipped.
pub fn mounts(mountinfo: &str) -> impl Iterator<Item = Mount> + '_ {
    mountinfo.lines().filter_map(parse_line)
}

fn parse_line(line: &str) -> Option<Mount> {
    // id parent major:minor root mount_point options [optional…] - type source super_options
    let (left, right) = line.split_once(" - ")?;
    let f: Vec<&str> = left.split(' ').collect();
    let (root, mount_point) = (f.get(3)?, f.get(4)?);
    let mut r = right.split(' ');
    let (fstype, _source) = (r.next()?, r.next()?);
    Some(Mount {
        root: unescape(root),
        mount_point: unescape(mount_point),
        shared: f.iter().skip(6).any(|o| o.starts_with("shared:")),
        fstype: fstype.to_string(),
        super_options: r.next().unwrap_or("").to_string(),
    })
}

/// The mount `path` lives on (the last, longest mount point above it) and
/// whether that mount is shared.
pub fn parent_mount(mountinfo: &str, path: &Path) -> Option<(PathBuf, bool)> {
    let mut best: Option<(PathBuf, bool)> = None;
    for m in mounts(mountinfo) {
        let longer = best
            .as_ref()
            .is_none_or(|(b, _)| m.mount_point.as_os_str().len() >= b.as_os_str().len());
        if path.starts_with(&m.mount_point) && longer {
            best = Some((m.mount_point, m.shared));
        }
    }
    best
}

/// The cgroup (v1 and v2) mounts below /sys/fs/cgroup.
pub fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    // Only cgroup lines are parsed: a host with containers has hundreds
    // of other mounts, and create reads this on every run.
    let cgroup_lines = mountinfo.lines().filter(|line| {
        line.split_once(" - ")
            .is_some_and(|(_, r)| r.starts_with("cgroup ") || r.starts_with("cgroup2 "))
    });
    cgroup_lines
        .filter_map(parse_line)
        .filter(|m| {
            matches!(m.fstype.as_str(), "cgroup" | "cgroup2")
                && m.mount_point.starts_with("/sys/fs/cgroup")
        })
        .map(|m| CgroupMount {
            controllers: if m.fstype == "cgroup" {
                m.super_options
                    .split(',')
                    .filter(|o| CONTROLLERS.contains(o) || o.starts_with("name="))
                    .map(str::to_string)
                    .collect()
            } else {
                Vec::new()
            },
            root: m.root.to_string_lossy().into_owned(),
            mount_point: m.mount_point,
            fstype: m.fstype,
        })
        .collect()
}

const CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "blkio",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// mountinfo escapes space, tab, newline and backslash as `\\ooo`; a path
/// need not be UTF-8, so the bytes are kept as they are.
fn unescape(field: &str) -> PathBuf {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).filter(|d| {
            b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)) && d[0] <= b'3'
        });
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_mount_is_the_longest_mount_point_above_the_path() {
        let mi = "1 0 8:1 / / rw shared:1 - ext4 /dev/sda1 rw\n\
                  2 1 0:5 / /tmp rw - tmpfs tmpfs rw\n\
                  3 1 0:6 / /tmp/b rw shared:7 - tmpfs tmpfs rw\n";
        assert_eq!(
            parent_mount(mi, Path::new("/tmp/bundle/rootfs")),
            Some(("/tmp".into(), false))
        );
        assert_eq!(
            parent_mount(mi, Path::new("/tmp/b/rootfs")),
            Some(("/tmp/b".into(), true))
        );
        assert_eq!(
            parent_mount(mi, Path::new("/srv")),
            Some(("/".into(), true))
        );
    }

    #[test]
    fn finds_v1_and_v2_hierarchies() {
        let text = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
50 23 0:40 / /mnt/with\\040space rw - ext4 /dev/vda rw\n";
        let m = cgroup_mounts(text);
        assert_eq!(m.len(), 3);
        // The type decides, not a look-alike: a type that only starts
        // with "cgroup", a cgroup source of another type.
        let other = "60 31 0:41 / /sys/fs/cgroup/x rw - cgroupx cgroup rw\n\
61 31 0:42 / /sys/fs/cgroup/y rw - tmpfs cgroup2 rw\n";
        assert_eq!(cgroup_mounts(&format!("{text}{other}")), m);
        assert_eq!(m[0].controllers, vec!["cpu"]);
        assert_eq!(m[1].controllers, vec!["name=systemd"]);
        assert_eq!(m[2].fstype, "cgroup2");
        assert_eq!(
            unescape("/mnt/with\\040space"),
            Path::new("/mnt/with space")
        );
        assert_eq!(unescape("/a\\134b"), Path::new("/a\\b"));
        // Only a backslash and three octal digits (at most \377) is an escape.
        assert_eq!(
            unescape("a\\011c\\\\d\\9\\400"),
            Path::new("a\tc\\\\d\\9\\400")
        );
        let all: Vec<Mount> = mounts(text).collect();
        assert_eq!(all.len(), 5);
        assert_eq!(all[4].mount_point, Path::new("/mnt/with space"));
        assert_eq!(all[1].super_options, "rw,cpu");
    }
}
