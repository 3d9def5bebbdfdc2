//! config.json mount option strings to mount(2) flags and data.
//!
//! The table follows mount(8) and runc: options that are flags become
//! MS_* bits (set or cleared), propagation options are applied by a second
//! mount(2) call after the mount exists, and anything else is passed to the
//! filesystem as data (`size=65536k`, `mode=755`, `newinstance`, …).
//! The recursive options (`rro`, `rnosuid`, …) become MOUNT_ATTR_* changes
//! that mount_setattr(2) applies to the mount and every mount below it,
//! and `idmap`/`ridmap` ask for an idmapped bind mount.

use nix::mount::MsFlags;

use crate::linux::mount_attr::MountAttr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    /// Propagation changes, applied in order after the mount.
    pub propagation: Vec<MsFlags>,
    /// Comma-separated filesystem data.
    pub data: String,
    /// MOUNT_ATTR_* changes for the mount and every mount below it, made
    /// once the mount and its flags are in place.
    pub recursive: Option<MountAttr>,
    /// Some(recursive?) when the bind mount is idmapped: through the mount's
    /// own uidMappings/gidMappings, or the container's user namespace
    /// mappings when the mount has none.
    pub idmap: Option<bool>,
    /// `tmpcopyup`: a tmpfs starts with a copy of the directory it hides.
    pub copy_up: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
            recursive: None,
            idmap: None,
            copy_up: false,
        }
    }
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
}

/// (name, clear?, flag). Clearing options undo a flag set earlier in the
/// same list, as mount(8) reads them left to right.
const FLAGS: &[(&str, bool, MsFlags)] = &[
    ("defaults", false, MsFlags::empty()),
    ("ro", false, MsFlags::MS_RDONLY),
    ("rw", true, MsFlags::MS_RDONLY),
    ("suid", true, MsFlags::MS_NOSUID),
    ("nosuid", false, MsFlags::MS_NOSUID),
    ("dev", true, MsFlags::MS_NODEV),
    ("nodev", false, MsFlags::MS_NODEV),
    ("exec", true, MsFlags::MS_NOEXEC),
    ("noexec", false, MsFlags::MS_NOEXEC),
    ("sync", false, MsFlags::MS_SYNCHRONOUS),
    ("async", true, MsFlags::MS_SYNCHRONOUS),
    ("dirsync", false, MsFlags::MS_DIRSYNC),
    ("remount", false, MsFlags::MS_REMOUNT),
    ("mand", false, MsFlags::MS_MANDLOCK),
    ("nomand", true, MsFlags::MS_MANDLOCK),
    ("atime", true, MsFlags::MS_NOATIME),
    ("noatime", false, MsFlags::MS_NOATIME),
    ("diratime", true, MsFlags::MS_NODIRATIME),
    ("nodiratime", false, MsFlags::MS_NODIRATIME),
    ("bind", false, MsFlags::MS_BIND),
    ("rbind", false, MsFlags::MS_BIND.union(MsFlags::MS_REC)),
    ("relatime", false, MsFlags::MS_RELATIME),
    ("norelatime", true, MsFlags::MS_RELATIME),
    ("strictatime", false, MsFlags::MS_STRICTATIME),
    ("nostrictatime", true, MsFlags::MS_STRICTATIME),
    ("lazytime", false, MsFlags::MS_LAZYTIME),
    ("nolazytime", true, MsFlags::MS_LAZYTIME),
    ("silent", false, MsFlags::MS_SILENT),
    ("loud", true, MsFlags::MS_SILENT),
    ("iversion", false, MsFlags::MS_I_VERSION),
    ("noiversion", true, MsFlags::MS_I_VERSION),
    ("nosymfollow", false, MS_NOSYMFOLLOW),
    ("symfollow", true, MS_NOSYMFOLLOW),
];

/// nix 0.29 has no name for it; the kernel has known it since 5.10.
const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);

/// (name, clear?, MOUNT_ATTR_* bit) of the recursive options that are plain
/// bits, as runc names them.
const REC_FLAGS: &[(&str, bool, u64)] = &[
    ("rro", false, libc::MOUNT_ATTR_RDONLY),
    ("rrw", true, libc::MOUNT_ATTR_RDONLY),
    ("rnosuid", false, libc::MOUNT_ATTR_NOSUID),
    ("rsuid", true, libc::MOUNT_ATTR_NOSUID),
    ("rnodev", false, libc::MOUNT_ATTR_NODEV),
    ("rdev", true, libc::MOUNT_ATTR_NODEV),
    ("rnoexec", false, libc::MOUNT_ATTR_NOEXEC),
    ("rexec", true, libc::MOUNT_ATTR_NOEXEC),
    ("rnodiratime", false, libc::MOUNT_ATTR_NODIRATIME),
    ("rdiratime", true, libc::MOUNT_ATTR_NODIRATIME),
    ("rnosymfollow", false, libc::MOUNT_ATTR_NOSYMFOLLOW),
    ("rsymfollow", true, libc::MOUNT_ATTR_NOSYMFOLLOW),
];

/// The recursive access-time options, whose effect depends on the mode an
/// earlier option chose, so they are not in [`REC_FLAGS`].
const REC_ATIME: &[&str] = &[
    "rrelatime",
    "rnorelatime",
    "rnoatime",
    "ratime",
    "rstrictatime",
    "rnostrictatime",
];

/// The recursive options of one mount, gathered left to right.
#[derive(Default)]
struct Recursive {
    set: u64,
    clr: u64,
    /// The access-time mode to switch to; the kernel holds one mode, not
    /// bits, so the last option that picks one wins.
    atime: Option<u64>,
}

impl Recursive {
    /// False when `opt` is not a recursive option.
    fn apply(&mut self, opt: &str) -> bool {
        if let Some(&(_, clear, bit)) = REC_FLAGS.iter().find(|(n, _, _)| *n == opt) {
            if clear {
                self.set &= !bit;
                self.clr |= bit;
            } else {
                self.set |= bit;
                self.clr &= !bit;
            }
            return true;
        }
        if !REC_ATIME.contains(&opt) {
            return false;
        }
        self.atime = atime_mode(opt, self.atime);
        true
    }

    fn finish(self) -> Option<MountAttr> {
        let mut attr = MountAttr {
            set: self.set,
            clr: self.clr,
        };
        if let Some(mode) = self.atime {
            // mount_setattr(2) refuses a mode in attr_set unless the whole
            // access-time field is in attr_clr.
            attr.clr |= libc::MOUNT_ATTR__ATIME;
            attr.set = (attr.set & !libc::MOUNT_ATTR__ATIME) | mode;
        }
        (attr != MountAttr::default()).then_some(attr)
    }
}

/// The access-time mode after `opt`, given the one chosen so far.
fn atime_mode(opt: &str, chosen: Option<u64>) -> Option<u64> {
    match opt {
        "rrelatime" => Some(libc::MOUNT_ATTR_RELATIME),
        "rnoatime" => Some(libc::MOUNT_ATTR_NOATIME),
        "rstrictatime" => Some(libc::MOUNT_ATTR_STRICTATIME),
        "ratime" => unless_mode(chosen, libc::MOUNT_ATTR_NOATIME),
        "rnostrictatime" => unless_mode(chosen, libc::MOUNT_ATTR_STRICTATIME),
        // Relatime is the kernel's default, so all there is to undo is an
        // earlier rrelatime.
        _ => chosen.filter(|&m| m != libc::MOUNT_ATTR_RELATIME),
    }
}

/// "Not `mode`": as with the non-recursive atime and nostrictatime, that
/// leaves relatime, the kernel's default, unless an earlier option chose
/// some other mode. runc clears only `mode`'s bit here, which the kernel
/// refuses (EINVAL) unless all of MOUNT_ATTR__ATIME is cleared.
fn unless_mode(chosen: Option<u64>, mode: u64) -> Option<u64> {
    match chosen {
        Some(m) if m != mode => Some(m),
        _ => Some(libc::MOUNT_ATTR_RELATIME),
    }
}

/// `idmap` and `ridmap`: Some(recursive?).
fn idmap_option(opt: &str) -> Option<bool> {
    match opt {
        "idmap" => Some(false),
        "ridmap" => Some(true),
        _ => None,
    }
}

/// Propagation modes, for mount options and `linux.rootfsPropagation`.
pub fn propagation_flag(name: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

pub fn parse(options: &[String]) -> Result<MountOptions, String> {
    let mut out = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    let mut recursive = Recursive::default();
    for opt in options {
        if opt.contains('\0') {
            return Err(format!(
                "mount option {:?} contains a NUL byte",
                opt.escape_debug().take(64).collect::<String>()
            ));
        }
        if let Some(&(_, clear, flag)) = FLAGS.iter().find(|(n, _, _)| *n == opt) {
            if clear {
                out.flags.remove(flag);
            } else {
                out.flags.insert(flag);
            }
        } else if let Some(p) = propagation_flag(opt) {
            out.propagation.push(p);
        } else if let Some(rec) = idmap_option(opt) {
            out.idmap = Some(rec);
        } else if opt == "tmpcopyup" {
            out.copy_up = true;
        } else if !recursive.apply(opt) {
            data.push(opt);
        }
    }
    out.data = data.join(",");
    // mount(2) copies one page of data and cuts the rest off silently: a
    // longer string would reach the filesystem truncated.
    let max = data_max();
    if out.data.len() >= max {
        return Err(format!(
            "mount options: {} bytes of filesystem data, more than mount(2) takes ({})",
            out.data.len(),
            max - 1
        ));
    }
    out.recursive = recursive.finish();
    Ok(out)
}

fn data_max() -> usize {
    // SAFETY: sysconf only reads a constant of the running system.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page).unwrap_or(4096).max(4096)
}

/// Every option name berth understands, for `berth features`.
pub fn known_options() -> impl Iterator<Item = &'static str> {
    FLAGS
        .iter()
        .map(|(n, _, _)| *n)
        .chain([
            "private",
            "rprivate",
            "shared",
            "rshared",
            "slave",
            "rslave",
            "unbindable",
            "runbindable",
        ])
        .chain(REC_FLAGS.iter().map(|(n, _, _)| *n))
        .chain(REC_ATIME.iter().copied())
        .chain(["idmap", "ridmap", "tmpcopyup"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> MountOptions {
        parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn flags_data_and_propagation_are_separated() {
        let o = p(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        let o = p(&["rbind", "ro", "rprivate"]);
        assert!(o.is_bind());
        assert!(o.flags.contains(MsFlags::MS_REC | MsFlags::MS_RDONLY));
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
    }

    #[test]
    fn later_options_override_earlier_ones() {
        assert_eq!(p(&["ro", "rw"]).flags, MsFlags::empty());
        assert_eq!(p(&["noexec", "exec", "nodev"]).flags, MsFlags::MS_NODEV);
    }

    #[test]
    fn tmpcopyup_is_an_option_not_data() {
        let o = parse(&["tmpcopyup".to_string(), "mode=755".to_string()]).unwrap();
        assert!(o.copy_up);
        assert_eq!(o.data, "mode=755");
    }

    fn attr(set: u64, clr: u64) -> Option<MountAttr> {
        Some(MountAttr { set, clr })
    }

    #[test]
    fn recursive_bits_are_set_and_cleared_in_order() {
        use libc::{
            MOUNT_ATTR_NODEV as NODEV, MOUNT_ATTR_NOSUID as NOSUID, MOUNT_ATTR_RDONLY as RO,
        };
        let o = p(&["rbind", "rro", "rnosuid", "mode=755"]);
        assert_eq!(o.recursive, attr(RO | NOSUID, 0));
        assert_eq!(o.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert_eq!(o.data, "mode=755");
        assert_eq!(p(&["rro", "rrw"]).recursive, attr(0, RO));
        assert_eq!(p(&["rdev", "rnodev"]).recursive, attr(NODEV, 0));
        assert_eq!(
            p(&["rnoexec", "rnodiratime", "rnosymfollow"]).recursive,
            attr(
                libc::MOUNT_ATTR_NOEXEC
                    | libc::MOUNT_ATTR_NODIRATIME
                    | libc::MOUNT_ATTR_NOSYMFOLLOW,
                0
            )
        );
        assert_eq!(
            p(&["rexec", "rsuid", "rsymfollow"]).recursive.unwrap().set,
            0
        );
        assert_eq!(p(&["ro", "nosuid"]).recursive, None);
    }

    #[test]
    fn recursive_atime_picks_one_mode() {
        use libc::{
            MOUNT_ATTR_NOATIME as NOATIME, MOUNT_ATTR_NODIRATIME as NODIRATIME,
            MOUNT_ATTR_STRICTATIME as STRICT, MOUNT_ATTR__ATIME as ATIME,
        };
        assert_eq!(p(&["rnoatime"]).recursive, attr(NOATIME, ATIME));
        assert_eq!(
            p(&["rnoatime", "rstrictatime"]).recursive,
            attr(STRICT, ATIME)
        );
        assert_eq!(p(&["rstrictatime", "rrelatime"]).recursive, attr(0, ATIME));
        // Undoing the chosen mode leaves relatime; undoing another keeps it.
        assert_eq!(p(&["rnoatime", "ratime"]).recursive, attr(0, ATIME));
        assert_eq!(
            p(&["rstrictatime", "ratime"]).recursive,
            attr(STRICT, ATIME)
        );
        assert_eq!(p(&["ratime"]).recursive, attr(0, ATIME));
        assert_eq!(
            p(&["rstrictatime", "rnostrictatime"]).recursive,
            attr(0, ATIME)
        );
        assert_eq!(
            p(&["rnoatime", "rnostrictatime"]).recursive,
            attr(NOATIME, ATIME)
        );
        assert_eq!(p(&["rrelatime", "rnorelatime"]).recursive, None);
        assert_eq!(
            p(&["rnoatime", "rnorelatime"]).recursive,
            attr(NOATIME, ATIME)
        );
        // The diratime bit is separate from the mode.
        assert_eq!(
            p(&["rnodiratime", "rnoatime"]).recursive,
            attr(NODIRATIME | NOATIME, ATIME)
        );
    }

    #[test]
    fn what_mount_2_cannot_take_is_refused() {
        let err = parse(&["mode=7\0".to_string()]).unwrap_err();
        assert!(err.contains("NUL"), "{err}");
        let huge = format!("size={}", "9".repeat(10 << 20));
        let err = parse(&[huge]).unwrap_err();
        assert!(err.contains("bytes of filesystem data"), "{err}");
        assert!(err.len() < 200, "the value is not repeated");
        let many: Vec<String> = (0..2000).map(|i| format!("o{i}")).collect();
        assert!(parse(&many).is_err());
        // Flags cost no data, however many there are.
        assert!(parse(&vec!["nosuid".to_string(); 100_000]).is_ok());
    }

    #[test]
    fn nosymfollow_is_a_flag() {
        assert_eq!(p(&["nosymfollow"]).flags.bits(), 256);
        assert_eq!(p(&["nosymfollow", "symfollow"]).flags, MsFlags::empty());
    }

    #[test]
    fn idmap_options_say_whether_recursive() {
        assert_eq!(p(&["rbind"]).idmap, None);
        assert_eq!(p(&["bind", "idmap"]).idmap, Some(false));
        assert_eq!(p(&["rbind", "ridmap"]).idmap, Some(true));
        assert_eq!(p(&["ridmap", "idmap"]).idmap, Some(false));
        assert_eq!(p(&["idmap"]).data, "");
    }

    #[test]
    fn every_known_option_parses_and_none_is_data() {
        let known: Vec<&str> = known_options().collect();
        for name in &known {
            assert_eq!(p(&[name]).data, "", "{name} passed on as data");
        }
        for name in [
            "rro",
            "ratime",
            "rnosymfollow",
            "nosymfollow",
            "idmap",
            "ridmap",
            "tmpcopyup",
        ] {
            assert!(known.contains(&name), "{name} missing");
        }
    }
}
