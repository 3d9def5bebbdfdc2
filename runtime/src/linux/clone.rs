//! clone3(2) for the container's processes (init, and exec's), with
//! CLONE_INTO_CGROUP where the kernel has it.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::error::{Result, SysResult};

/// clone3(2) with namespace flags and, given a v2 cgroup, CLONE_INTO_CGROUP
/// (Linux 5.7). Like fork, the child continues on a copy of this
/// (single-threaded) process: no re-exec, no serialisation. Returns the pid
/// (None in the child) and, on both sides, whether the kernel placed the
/// child in the cgroup ([`parent_places`]).
pub fn clone_process(flags: u64, cgroup: Option<&OwnedFd>) -> Result<(Option<Pid>, bool)> {
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let clone3 = |flags: u64, cgroup: u64| {
        let args = CloneArgs {
            flags,
            exit_signal: libc::SIGCHLD as u64,
            cgroup,
            ..Default::default()
        };
        // SAFETY: clone3 without CLONE_VM or a new stack behaves like fork;
        // the process is single-threaded (berth starts no threads), so the
        // child's copy of memory holds no lock owned by another thread.
        let r = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        Errno::result(r)
    };
    let (r, placed) = match cgroup {
        Some(fd) => match clone3(flags | CLONE_INTO_CGROUP, fd.as_raw_fd() as u64) {
            Ok(r) => (Ok(r), true),
            Err(_) => (clone3(flags, 0), false),
        },
        None => (clone3(flags, 0), false),
    };
    match r.sys("clone3")? {
        0 => Ok((None, placed)),
        pid => Ok((Some(Pid::from_raw(pid as i32)), placed)),
    }
}

/// Whether the parent moves the child into the v2 cgroup, which clone3 could
/// not do (a kernel before 5.7), and so the child waits for its go before
/// anything else. Both sides know: the child is a copy of the parent taken
/// after the first attempt failed.
pub fn parent_places(v2: Option<&OwnedFd>, placed: bool) -> bool {
    v2.is_some() && !placed
}

/// clone3(2) with CLONE_PARENT: the child is the caller's sibling, a child
/// of the caller's parent, which waits for it and reaps it; it is born in
/// the caller's namespaces-for-children (a pid namespace the caller has
/// unshared: the child is its first process). The kernel refuses an exit
/// signal with CLONE_PARENT: the child's is the caller's (SIGCHLD). Returns
/// the child's pid as the caller sees it (None in the child).
pub fn clone_sibling() -> Result<Option<Pid>> {
    // struct clone_args: the flags first, the rest (exit_signal, pidfd,
    // cgroup…) zero.
    let mut args = [0u64; 11];
    args[0] = libc::CLONE_PARENT as u64;
    // SAFETY: as in clone_process: fork-like, single-threaded caller.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            args.as_ptr(),
            std::mem::size_of_val(&args),
        )
    };
    match Errno::result(r).sys("clone3(CLONE_PARENT)")? {
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as i32))),
    }
}
