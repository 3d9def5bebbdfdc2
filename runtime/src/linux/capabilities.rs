//! process.capabilities: the five sets, applied in the order the kernel
//! requires around the switch to the container user:
//! 1. [`drop_bounding`] while still root with CAP_SETPCAP;
//! 2. keep capabilities across setuid ([`keep_across_setuid`]);
//! 3. [`apply`]: effective, permitted and inheritable in one capset(2),
//!    then each ambient capability raised.
//!
//! [`set`] is the capset(2) alone: it lowers the sets afterwards without
//! touching the ambient set.

use std::str::FromStr;

use caps::Capability;
use nix::errno::Errno;
use oci_spec::runtime::LinuxCapabilities;

use crate::error::{Error, Result};

/// A capability by its config.json name (`CAP_KILL`), None when this build
/// does not know it.
pub fn from_name(name: &str) -> Option<Capability> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    Capability::from_str(&full).ok()
}

/// A capability by name as config.json holds it, for building a process
/// (`exec --cap`).
pub fn spec_capability(name: &str) -> Option<oci_spec::runtime::Capability> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    serde_json::from_value(serde_json::Value::String(full)).ok()
}

/// A set from config.json as a 64-bit mask.
fn mask(set: Option<&oci_spec::runtime::Capabilities>) -> u64 {
    use std::fmt::Write;
    // oci-spec displays a capability as its name without `CAP_`, in
    // capitals (`AUDIT_CONTROL`): what from_name makes of it, written into
    // one buffer rather than through three new strings per capability.
    let mut name = String::with_capacity(32);
    set.into_iter()
        .flatten()
        .filter_map(|c| {
            name.clear();
            let _ = write!(name, "CAP_{c}");
            Capability::from_str(&name).ok()
        })
        .fold(0, |m, c| m | (1u64 << c.index()))
}

/// The masks of one process's sets, computed before clone so the init
/// process only makes system calls.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

/// CAP_SYS_ADMIN as a mask bit.
pub const SYS_ADMIN: u64 = 1 << 21;

impl Sets {
    pub fn from_spec(c: Option<&LinuxCapabilities>) -> Sets {
        let Some(c) = c else {
            return Sets::default();
        };
        Sets {
            bounding: mask(c.bounding().as_ref()),
            effective: mask(c.effective().as_ref()),
            permitted: mask(c.permitted().as_ref()),
            inheritable: mask(c.inheritable().as_ref()),
            ambient: mask(c.ambient().as_ref()),
        }
    }
}

fn last_cap() -> u8 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

pub fn drop_bounding(sets: &Sets) -> Result<()> {
    for cap in 0..=last_cap() {
        if sets.bounding & (1u64 << cap) == 0 {
            // SAFETY: prctl with integer arguments only.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            match Errno::result(r) {
                Ok(_) | Err(Errno::EINVAL) => {}
                Err(e) => {
                    return Err(Error::sys(
                        format_args!("drop capability {cap} from the bounding set"),
                        e,
                    ))
                }
            }
        }
    }
    Ok(())
}

pub fn keep_across_setuid(keep: bool) -> Result<()> {
    nix::sys::prctl::set_keepcaps(keep).map_err(|e| Error::sys("prctl(PR_SET_KEEPCAPS)", e))
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// capset(2) of the effective, permitted and inheritable sets: only raw
/// system calls, so that a forked child may call it before its execve.
pub fn capset(sets: &Sets) -> nix::Result<()> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let split = |m: u64| [m as u32, (m >> 32) as u32];
    let (e, p, i) = (
        split(sets.effective),
        split(sets.permitted),
        split(sets.inheritable),
    );
    let data = [
        CapData {
            effective: e[0],
            permitted: p[0],
            inheritable: i[0],
        },
        CapData {
            effective: e[1],
            permitted: p[1],
            inheritable: i[1],
        },
    ];
    // SAFETY: version-3 header with the two data words the kernel expects.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    Errno::result(r).map(drop)
}

/// The effective, permitted and inheritable sets; the ambient set keeps
/// what is still permitted and inheritable.
pub fn set(sets: &Sets) -> Result<()> {
    capset(sets).map_err(|e| Error::sys("capset (effective, permitted, inheritable)", e))
}

pub fn apply(sets: &Sets) -> Result<()> {
    set(sets)?;
    // The kernel only lets a capability be ambient when it is permitted
    // and inheritable. runc's default config lists ambient capabilities
    // without an inheritable set; like runc, berth skips those quietly.
    let raisable = sets.ambient & sets.permitted & sets.inheritable;
    for cap in 0..64u64 {
        if raisable & (1 << cap) != 0 {
            // SAFETY: prctl with integer arguments only.
            let r = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    cap,
                    0,
                    0,
                )
            };
            Errno::result(r)
                .map_err(|e| Error::sys(format_args!("raise ambient capability {cap}"), e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_and_without_prefix() {
        assert_eq!(from_name("CAP_KILL"), Some(Capability::CAP_KILL));
        assert_eq!(
            from_name("net_bind_service"),
            Some(Capability::CAP_NET_BIND_SERVICE)
        );
        assert_eq!(from_name("CAP_FROM_THE_FUTURE"), None);
    }

    #[test]
    fn spec_sets_become_masks() {
        let c: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_KILL","CAP_CHOWN"],"effective":["CAP_KILL"]}"#,
        )
        .unwrap();
        let s = Sets::from_spec(Some(&c));
        assert_eq!(s.bounding, (1 << 5) | 1);
        assert_eq!(s.effective, 1 << 5);
        assert_eq!(s.ambient, 0);
    }

    /// Every capability both crates know is found from oci-spec's name,
    /// as from_name finds it.
    #[test]
    fn every_known_capability_has_its_bit() {
        let mut known = 0;
        for cap in caps::all() {
            let json = format!("\"{cap}\"");
            let Ok(c) = serde_json::from_str::<oci_spec::runtime::Capability>(&json) else {
                continue;
            };
            known += 1;
            let set = std::iter::once(c).collect();
            assert_eq!(mask(Some(&set)), 1u64 << cap.index(), "{cap}");
            assert_eq!(from_name(&c.to_string()), Some(cap));
        }
        assert!(known >= 40, "{known}");
    }
}
