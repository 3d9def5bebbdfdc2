//! /proc/self/mountinfo: one parser for the runtime and the shim. Both find
//! the cgroup hierarchies the host has mounted here, which is how the cgroup
//! layout is found at run time (v1, v2 or hybrid) instead of being assumed.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
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
    let (left, right) = split_at_separator(line)?;
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

/// The line split around its first " - " (what `split_once(" - ")` gives),
/// found from its dashes: `split_once` sets up a two-way substring
/// matcher for every line, twice the instructions of this (callgrind,
/// about 800 against 400 a line).
fn split_at_separator(line: &str) -> Option<(&str, &str)> {
    let b = line.as_bytes();
    let mut from = 0;
    loop {
        let dash = from + line[from..].find('-')?;
        if dash > 0 && b[dash - 1] == b' ' && b.get(dash + 1) == Some(&b' ') {
            return Some((&line[..dash - 1], &line[dash + 2..]));
        }
        from = dash + 1;
    }
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

/// A cgroup mount's controllers, as its super options name them (a v1
/// hierarchy's; cgroup2 has none there).
fn controllers(fstype: &str, super_options: &str) -> Vec<String> {
    if fstype != "cgroup" {
        return Vec::new();
    }
    super_options
        .split(',')
        .filter(|o| CONTROLLERS.contains(o) || o.starts_with("name="))
        .map(str::to_string)
        .collect()
}

/// The cgroup (v1 and v2) mounts below /sys/fs/cgroup.
pub fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    // Only cgroup lines are parsed, and only the fields a cgroup mount
    // needs: a host with containers has hundreds of other mounts, and
    // create reads this on every run. A cgroup line's first " - " is
    // followed by its type, so it holds " - cgroup": one memmem search of
    // the whole text (SIMD) finds the lines to look at, and the others are
    // never split. callgrind, a mountinfo of 300 lines: 390k instructions
    // line by line, 77k so, read included.
    let mut out = Vec::new();
    let finder = memchr::memmem::Finder::new(" - cgroup");
    let mut from = 0;
    while let Some(at) = finder.find(&mountinfo.as_bytes()[from..]).map(|i| from + i) {
        let start = mountinfo[..at].rfind('\n').map_or(0, |i| i + 1);
        let (end, next) = match mountinfo[at..].find('\n') {
            Some(i) => (at + i, at + i + 1),
            None => (mountinfo.len(), mountinfo.len()),
        };
        from = next;
        // As `lines()` cuts it: a '\r' goes with the '\n' after it.
        let line = &mountinfo[start..end];
        let line = if next > end {
            line.strip_suffix('\r').unwrap_or(line)
        } else {
            line
        };
        let Some((left, right)) = split_at_separator(line) else {
            continue;
        };
        let mut r = right.split(' ');
        let fstype = match r.next() {
            Some(t @ ("cgroup" | "cgroup2")) => t,
            _ => continue,
        };
        if r.next().is_none() {
            continue;
        }
        let super_options = r.next().unwrap_or("");
        let mut f = left.split(' ');
        let (Some(root), Some(mount_point)) = (f.nth(3), f.next()) else {
            continue;
        };
        let mount_point = unescape(mount_point);
        if !below_sys_fs_cgroup(&mount_point) {
            continue;
        }
        out.push(CgroupMount {
            controllers: controllers(fstype, super_options),
            root: unescape(root).to_string_lossy().into_owned(),
            mount_point,
            fstype: fstype.to_string(),
        });
    }
    out
}

/// `Path::starts_with("/sys/fs/cgroup")`, compared as bytes first: the
/// kernel writes mount points clean, and a byte prefix that ends at a
/// separator is a prefix of components too. Anything else takes the
/// component walk, which costs as much as the rest of the line's parse.
fn below_sys_fs_cgroup(p: &Path) -> bool {
    const TOP: &[u8] = b"/sys/fs/cgroup";
    let b = p.as_os_str().as_bytes();
    (b.starts_with(TOP) && matches!(b.get(TOP.len()), None | Some(b'/')))
        || p.starts_with(std::str::from_utf8(TOP).expect("ASCII"))
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
    if !field.contains('\\') {
        return PathBuf::from(field);
    }
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
        // Dashes before the separator (a path, an optional field) are not it.
        let dashed =
            "70 31 0:43 /a-b /sys/fs/cgroup/net_cls-x rw -x shared:9 - cgroup cgroup rw,net_cls\n";
        assert_eq!(
            cgroup_mounts(dashed),
            [CgroupMount {
                mount_point: "/sys/fs/cgroup/net_cls-x".into(),
                fstype: "cgroup".into(),
                controllers: vec!["net_cls".into()],
                root: "/a-b".into(),
            }]
        );
        assert_eq!(
            split_at_separator("1 2 - a-b - c"),
            Some(("1 2", "a-b - c"))
        );
        assert_eq!(split_at_separator("1 2 -x"), None);
        // The same mounts as a parse of every line finds.
        let every_line = |text: &str| -> Vec<CgroupMount> {
            mounts(text)
                .filter(|m| {
                    matches!(m.fstype.as_str(), "cgroup" | "cgroup2")
                        && m.mount_point.starts_with("/sys/fs/cgroup")
                })
                .map(|m| CgroupMount {
                    controllers: controllers(&m.fstype, &m.super_options),
                    root: m.root.to_string_lossy().into_owned(),
                    mount_point: m.mount_point,
                    fstype: m.fstype,
                })
                .collect()
        };
        let lines = [
            "1 2 0:1 / /sys/fs/cgroup/a rw - cgroup cgroup rw,cpu",
            "1 2 0:1 / /sys/fs/cgroup/b rw - tmpfs x - cgroup rw,cpu",
            "1 2 0:1 / /sys/fs/cgroup/c rw - tmpfs - cgroup2 rw",
            "1 2 0:1 / /sys/fs/cgroup/d rw - cgroup2 cgroup2 rw\r",
            "1 2 0:1 / /sys/fs/cgroup/e rw - cgroup cgroup rw,pids,memory\r",
            "1 2 0:1 / /sys/fs/cgroup/f rw - cgroup",
            "1 2 0:1 / /srv/cgroup rw - cgroup cgroup rw,cpu",
            "1 2 0:1 /a\\040b /sys/fs/cgroup/g\\040h rw - cgroup cgroup rw,name=x",
            "",
            " - cgroup cgroup rw",
        ];
        for a in lines {
            for b in lines {
                for sep in ["\n", "\r\n"] {
                    let text = format!("{a}{sep}{b}");
                    assert_eq!(cgroup_mounts(&text), every_line(&text), "{text:?}");
                    let text = format!("{text}\n");
                    assert_eq!(cgroup_mounts(&text), every_line(&text), "{text:?}");
                }
            }
        }
        assert!(!below_sys_fs_cgroup(Path::new("/sys/fs/cgroupx")));
        assert!(below_sys_fs_cgroup(Path::new("/sys//fs/cgroup/cpu")));
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
