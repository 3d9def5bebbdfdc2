//! process.rlimits.

use nix::errno::Errno;
use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use crate::error::{Error, Result};

// glibc gives setrlimit's resource its own type; musl takes an int.
#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

fn resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

fn name(t: PosixRlimitType) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{t:?}"))
}

pub fn validate(limits: &[PosixRlimit]) -> Result<()> {
    let mut seen = Vec::new();
    for l in limits {
        if l.soft() > l.hard() {
            return Err(Error::invalid(format!(
                "config.json: process.rlimits: {}: soft limit {} is above hard limit {}",
                name(l.typ()),
                l.soft(),
                l.hard()
            )));
        }
        if seen.contains(&l.typ()) {
            return Err(Error::invalid(format!(
                "config.json: process.rlimits: {} is set twice",
                name(l.typ())
            )));
        }
        seen.push(l.typ());
    }
    Ok(())
}

/// Sets each limit. Raising a hard limit needs CAP_SYS_RESOURCE; without
/// it the kernel's EPERM becomes an error that names the limit.
pub fn apply(limits: &[PosixRlimit]) -> Result<()> {
    for l in limits {
        let r = libc::rlimit {
            rlim_cur: l.soft(),
            rlim_max: l.hard(),
        };
        // SAFETY: a valid rlimit struct for a known resource.
        let rc = unsafe { libc::setrlimit(resource(l.typ()), &r) };
        Errno::result(rc).map_err(|e| {
            Error::sys(
                format_args!(
                    "setrlimit {} (soft {}, hard {}; a hard limit above the runtime's own cannot be raised without CAP_SYS_RESOURCE)",
                    name(l.typ()),
                    l.soft(),
                    l.hard()
                ),
                e,
            )
        })?;
    }
    Ok(())
}
