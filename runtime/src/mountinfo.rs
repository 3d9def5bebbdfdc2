//! /proc/self/mountinfo, as far as berth needs it: the cgroup hierarchies
//! the host has mounted, which is how the cgroup layout is found at run
//! time (v1, v2 or hybrid) instead of being assumed.

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

/// The mount `path` lives on (the last, longest mount point above it) and
/// whether that mount is shared.
pub fn parent_mount(mountinfo: &str, path: &Path) -> Option<(PathBuf, bool)> {
    let mut best: Option<(PathBuf, bool)> = None;
    for line in mountinfo.lines() {
        let Some((left, _)) = line.split_once(" - ") else {
            continue;
        };
        let f: Vec<&str> = left.split(' ').collect();
        let Some(mp) = f.get(4).map(|m| PathBuf::from(unescape(m))) else {
            continue;
        };
        let longer = best
            .as_ref()
            .is_none_or(|(b, _)| mp.as_os_str().len() >= b.as_os_str().len());
        if path.starts_with(&mp) && longer {
            let shared = f.iter().skip(6).any(|o| o.starts_with("shared:"));
            best = Some((mp, shared));
        }
    }
    best
}

/// Parses mountinfo text and returns the cgroup mounts below
/// /sys/fs/cgroup.
pub fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        // id parent major:minor root mount_point options [optional…] - type source super_options
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let f: Vec<&str> = left.split(' ').collect();
        let (Some(root), Some(mount_point)) = (f.get(3), f.get(4)) else {
            continue;
        };
        let (root, mount_point) = (unescape(root), unescape(mount_point));
        let mut r = right.split(' ');
        let (Some(fstype), Some(_src), Some(sopts)) = (r.next(), r.next(), r.next()) else {
            continue;
        };
        if !matches!(fstype, "cgroup" | "cgroup2") || !mount_point.starts_with("/sys/fs/cgroup") {
            continue;
        }
        let controllers = if fstype == "cgroup" {
            sopts
                .split(',')
                .filter(|o| CONTROLLERS.contains(o) || o.starts_with("name="))
                .map(str::to_string)
                .collect()
        } else {
            Vec::new()
        };
        out.push(CgroupMount {
            mount_point: PathBuf::from(mount_point),
            fstype: fstype.to_string(),
            controllers,
            root,
        });
    }
    out
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

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
        assert_eq!(m[0].controllers, vec!["cpu"]);
        assert_eq!(m[1].controllers, vec!["name=systemd"]);
        assert_eq!(m[2].fstype, "cgroup2");
        assert_eq!(unescape("/mnt/with\\040space"), "/mnt/with space");
    }
}
