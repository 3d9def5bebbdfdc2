//! The user process: who it runs as, what it runs, what it sees.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{signal, SigHandler, SigSet, SigmaskHow, Signal};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{Process, User};

use crate::error::{Error, Result, SysResult};

/// Finds args[0] the way execvp would, with the container's PATH, inside
/// the container (after pivot_root). A name with a slash is taken as is.
pub fn lookup(program: &str, env: &[String]) -> Result<PathBuf> {
    let not_found = || {
        Error::invalid(format!(
            "exec: {program:?}: executable file not found in $PATH"
        ))
    };
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return match std::fs::metadata(&p) {
            Ok(m) if m.is_dir() => {
                Err(Error::invalid(format!("exec: {program:?}: is a directory")))
            }
            Ok(_) if executable(&p) => Ok(p),
            Ok(_) => Err(Error::invalid(format!(
                "exec: {program:?}: permission denied"
            ))),
            Err(e) => Err(Error::io("exec", &p, e)),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(program))
        .find(|p| executable(p))
        .ok_or_else(not_found)
}

/// The environment as runc builds it: config.json's env, plus HOME from the
/// container's /etc/passwd when the config does not set it, plus the
/// socket-activation variables when systemd passed descriptors on.
pub fn environment(process: &Process, listen_fds: u32) -> Vec<String> {
    let mut env = process.env().clone().unwrap_or_default();
    if listen_fds > 0 {
        env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        env.push(format!("LISTEN_FDS={listen_fds}"));
        // The descriptors belong to the container's first process.
        env.push("LISTEN_PID=1".to_string());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let home = home_of(process.user().uid()).unwrap_or_else(|| "/".into());
        env.push(format!("HOME={home}"));
    }
    env
}

fn home_of(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
    })
}

/// rlimits, ioPriority and scheduler, while the process may still raise
/// them.
pub fn set_limits(process: &Process) -> Result<()> {
    crate::rlimits::apply(process.rlimits().as_deref().unwrap_or_default())?;
    if let Some(p) = process.io_priority() {
        crate::process_attrs::io_priority(p)?;
    }
    if let Some(s) = process.scheduler() {
        crate::process_attrs::scheduler(s)?;
    }
    Ok(())
}

/// The capabilities and user, in the order that keeps each step possible:
/// the bounding set, keep-caps across the uid switch, the user, then the
/// effective/permitted/inheritable and ambient sets; then no_new_privs.
pub fn become_user(process: &Process, caps: &crate::capabilities::Sets) -> Result<()> {
    use crate::capabilities as c;
    c::drop_bounding(caps)?;
    c::keep_across_setuid(true)?;
    switch_user(process.user())?;
    c::keep_across_setuid(false)?;
    c::apply(caps)?;
    if process.no_new_privileges().unwrap_or(false) {
        nix::sys::prctl::set_no_new_privs().sys("prctl(PR_SET_NO_NEW_PRIVS)")?;
    }
    Ok(())
}

/// Supplementary groups, then gid, then uid: each step needs the
/// privilege the next one drops.
pub fn switch_user(user: &User) -> Result<()> {
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&groups).sys("setgroups (process.user.additionalGids)")?;
    let gid = Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).sys(format_args!("setresgid {gid}"))?;
    let uid = Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).sys(format_args!("setresuid {uid}"))
}

/// systemd socket activation (sd_listen_fds(3)): descriptors 3.. passed to
/// this very process, which hands them on to the container's process.
pub fn listen_fds() -> u32 {
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    if !for_us {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Marks every descriptor from `first` on close-on-exec rather than
/// closing it: the exec fifo must stay open up to execve itself.
pub fn close_from(first: u32) {
    // SAFETY: CLOSE_RANGE_CLOEXEC only sets a flag on descriptors; nothing
    // is closed under Rust code that owns one.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
}

/// The user program starts with every signal unblocked and at its default
/// action: Rust ignores SIGPIPE, and `run` blocks signals before clone.
pub fn reset_signals() {
    // SAFETY: restoring default dispositions in a single-threaded process.
    unsafe {
        let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

pub fn cstrings<S: AsRef<[u8]>>(items: &[S]) -> Result<Vec<CString>> {
    items
        .iter()
        .map(|s| {
            CString::new(s.as_ref()).map_err(|_| {
                Error::invalid("process.args and process.env must not contain NUL bytes")
            })
        })
        .collect()
}

pub fn path_cstring(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::invalid(format!("path {p:?} contains a NUL byte")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_follows_path_and_reports_missing_programs() {
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_string()];
        let sh = lookup("sh", &env).unwrap();
        assert!(sh.ends_with("sh"));
        let err = lookup("no-such-program-here", &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("executable file not found"), "{err}");
        assert!(lookup("/nonexistent/x", &env).is_err());
    }
}
