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
    crate::linux::rlimits::apply(process.rlimits().as_deref().unwrap_or_default())?;
    if let Some(p) = process.io_priority() {
        crate::linux::process_attrs::io_priority(p)?;
    }
    if let Some(s) = process.scheduler() {
        crate::linux::process_attrs::scheduler(s)?;
    }
    Ok(())
}

/// The capabilities and user, in the order that keeps each step possible:
/// the bounding set, keep-caps across the uid switch, the user, then the
/// effective/permitted/inheritable and ambient sets; then no_new_privs.
/// `caps` may hold CAP_SYS_ADMIN beyond the process's own until the seccomp
/// filter is on (init/seccomp.rs, `holding`).
pub fn become_user(process: &Process, caps: &crate::linux::capabilities::Sets) -> Result<()> {
    use crate::linux::capabilities as c;
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
    // Each group once, as runc passes them: the kernel would keep the
    // duplicates. It sorts the list itself, so the order is of no account.
    let mut gids = user.additional_gids().clone().unwrap_or_default();
    gids.sort_unstable();
    gids.dedup();
    match single_thread::setgroups(&gids) {
        // A user namespace whose gid map an unprivileged user wrote has
        // setgroups denied: with no additional groups asked for, the
        // process keeps the ones it has (none that the namespace maps).
        Err(nix::errno::Errno::EPERM) if gids.is_empty() && setgroups_denied() => {}
        Err(nix::errno::Errno::EPERM) if setgroups_denied() => {
            return Err(Error::invalid(
                "process.user.additionalGids: setgroups is denied in this user namespace \
                 (rootless with a single-id gid map; map more ids through newgidmap)",
            ))
        }
        r => r.sys("setgroups (process.user.additionalGids)")?,
    }
    let gid = Gid::from_raw(user.gid());
    single_thread::setresgid(gid).sys(format_args!("setresgid {gid}"))?;
    let uid = Uid::from_raw(user.uid());
    single_thread::setresuid(uid).sys(format_args!("setresuid {uid}"))
}

/// The credential calls as plain system calls. musl's setgroups, setresgid
/// and setresuid apply the change to every thread of the process
/// (`__synccall`), which costs three signal-mask changes around each call
/// even with one thread. Init has one thread (clone3 copies only the
/// caller), and the kernel sets credentials per thread, so the plain call
/// does the whole process's.
mod single_thread {
    use nix::errno::Errno;
    use nix::unistd::{Gid, Uid};

    pub fn setgroups(groups: &[libc::gid_t]) -> nix::Result<()> {
        // SAFETY: the kernel reads groups.len() gid_t values from the pointer.
        let r = unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
        Errno::result(r).map(drop)
    }

    pub fn setresgid(gid: Gid) -> nix::Result<()> {
        let g = gid.as_raw();
        // SAFETY: plain integer arguments.
        Errno::result(unsafe { libc::syscall(libc::SYS_setresgid, g, g, g) }).map(drop)
    }

    pub fn setresuid(uid: Uid) -> nix::Result<()> {
        let u = uid.as_raw();
        // SAFETY: plain integer arguments.
        Errno::result(unsafe { libc::syscall(libc::SYS_setresuid, u, u, u) }).map(drop)
    }
}

fn setgroups_denied() -> bool {
    std::fs::read("/proc/self/setgroups").is_ok_and(|t| t.trim_ascii() == b"deny")
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

/// chdir to process.cwd, refusing a directory outside the container's
/// root. CVE-2024-21626: a cwd of /proc/self/fd/N (or through it, with
/// `..`) names whatever descriptor N is, and every descriptor of the
/// runtime's (a state directory, a cgroup) is still open here, close-on-exec
/// only; runc started processes in a leaked host directory that way. The
/// kernel's getcwd tells: a directory that cannot be reached from the root
/// comes back as "(unreachable)/…", not as a path (libc's getcwd hides
/// that, hence the raw call).
pub fn chdir_inside(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd).sys_path("chdir to process.cwd", cwd)?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    let n = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    let n = nix::errno::Errno::result(n).sys_path("getcwd after chdir to", cwd)?;
    if buf[..n as usize].first() != Some(&b'/') {
        return Err(Error::invalid(format!(
            "process.cwd {cwd:?} is outside the container's root"
        )));
    }
    Ok(())
}

/// CVE-2019-5736: every process berth starts in a container is a clone of
/// berth until its execve, so its /proc/PID/exe is berth's binary, and so
/// is the program the container's image can make it execute
/// (`/proc/self/exe`, or a script whose interpreter is `#!/proc/self/exe`:
/// the kernel resolves it while the process still runs berth). That new
/// process belongs to the container, which opens its /proc/PID/exe and,
/// once no process runs the file any more, reopens it for writing and
/// replaces berth on the host. Non-dumpability cannot stop this: execve
/// resets it. So a command that enters a container first re-executes
/// itself from a sealed in-memory copy of its binary: whatever the
/// container gets hold of is that copy, which no one can write. A process
/// already running from such a copy goes on.
pub fn run_from_sealed_copy() -> Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    const SEALS: libc::c_int =
        libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    let exe = std::fs::File::open("/proc/self/exe").sys("open /proc/self/exe")?;
    // SAFETY: F_GET_SEALS only reads the descriptor's seals.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    if seals >= 0 && seals & SEALS == SEALS {
        return Ok(());
    }
    // Every handle on the binary the container could get goes through the
    // mount berth was executed from: if that mount is read-only (an
    // image-based /usr, or a read-only bind of the binary onto itself, see
    // the README), no one can write through it, and the copy and second
    // start (about 2.5 ms for the static build) are not needed.
    if nix::sys::statvfs::fstatvfs(&exe)
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
    {
        return Ok(());
    }
    // MFD_EXEC (Linux 6.3) says the copy is meant to be executed; older
    // kernels refuse the flag and make every memfd executable.
    const MFD_EXEC: libc::c_uint = 0x10;
    let name = c"berth";
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: a NUL-terminated name; the descriptor is fresh and ours.
    let copy = unsafe {
        let mut fd = libc::memfd_create(name.as_ptr(), flags | MFD_EXEC);
        if fd < 0 && nix::errno::Errno::last() == nix::errno::Errno::EINVAL {
            fd = libc::memfd_create(name.as_ptr(), flags);
        }
        OwnedFd::from_raw_fd(nix::errno::Errno::result(fd).sys("memfd_create")?)
    };
    let size = exe.metadata().sys("stat /proc/self/exe")?.len() as usize;
    let mut done = 0;
    while done < size {
        // SAFETY: two open descriptors; the kernel copies between them.
        let n = unsafe {
            libc::sendfile(
                copy.as_raw_fd(),
                exe.as_raw_fd(),
                std::ptr::null_mut(),
                size - done,
            )
        };
        match nix::errno::Errno::result(n).sys("copy berth's binary to memory")? {
            0 => break,
            n => done += n as usize,
        }
    }
    // SAFETY: F_ADD_SEALS on our own memfd.
    let r = unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, SEALS) };
    nix::errno::Errno::result(r).sys("seal berth's copy")?;
    let args = cstrings(
        &std::env::args_os()
            .map(|a| a.as_bytes().to_vec())
            .collect::<Vec<_>>(),
    )?;
    let env = cstrings(
        &std::env::vars_os()
            .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
            .collect::<Vec<_>>(),
    )?;
    match nix::unistd::fexecve(copy.as_raw_fd(), &args, &env)
        .sys("re-execute berth's sealed copy")? {}
}

/// The program with its arguments and environment, and the NULL-terminated
/// pointer arrays execve(2) takes, made beforehand: once the seccomp
/// filter is on, execve is the one call left, and building the arrays
/// then would allocate (and might map memory).
pub struct Program {
    path: CString,
    /// Owners of what `argv` and `envp` point at (a CString's bytes stay
    /// put when the vector or the struct moves).
    _strings: [Vec<CString>; 2],
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

impl Program {
    pub fn new<A: AsRef<[u8]>, E: AsRef<[u8]>>(
        path: &Path,
        args: &[A],
        env: &[E],
    ) -> Result<Program> {
        let (args, env) = (cstrings(args)?, cstrings(env)?);
        let pointers = |v: &[CString]| {
            v.iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        Ok(Program {
            path: path_cstring(path)?,
            argv: pointers(&args),
            envp: pointers(&env),
            _strings: [args, env],
        })
    }

    /// execve(2); returns only its error.
    pub fn exec(&self) -> Error {
        // SAFETY: a NUL-terminated path and NULL-terminated arrays of
        // pointers into strings self owns, alive for the call.
        unsafe { libc::execve(self.path.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr()) };
        Error::sys(
            format_args!("exec {:?}", self.path),
            nix::errno::Errno::last(),
        )
    }
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
    fn a_program_has_null_terminated_argv_and_envp() {
        let p = Program::new(Path::new("/bin/sh"), &["sh", "-c", "true"], &["A=1"]).unwrap();
        assert_eq!(p.argv.len(), 4);
        assert!(p.argv[3].is_null() && p.envp[1].is_null());
        // SAFETY: the pointers point into strings p owns.
        let arg = unsafe { std::ffi::CStr::from_ptr(p.argv[1]) };
        assert_eq!(arg.to_bytes(), b"-c");
        assert!(Program::new(Path::new("/bin/sh"), &["a\0b"], &[""; 0]).is_err());
    }

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
