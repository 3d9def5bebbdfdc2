//! /proc/self/mountinfo, as far as berth needs it: the cgroup hierarchies
//! the host has mounted, which is how the cgroup layout is found at run
//! time (v1, v2 or hybrid) instead of being assumed.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    pub mount_point: PathBuf,
    /// "cgroup" (v1) or "cgroup2".
    pub fstype: String,
    /// v1 controllers and `name=` options (e.g. ["cpu"], ["name=systemd"]);
    /// empty for cgroup2.
    pub controllers: Vec<String>,
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
        let mount_point = match left.split(' ').nth(4) {
            Some(m) => unescape(m),
            None => continue,
        };
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
