//! A container's new network namespace, made ahead of clone, while the
//! parent does its other work.
//!
//! Why: making a network namespace is the dearest part of clone (about
//! 0.5 ms on the development VM: loopback, sysctl tables, per-net state of
//! every protocol), and the parent's work before clone (the state
//! directory, ten or so cgroup directories on a v1 host) is about as long.
//! Both are kernel work under different locks, so on a second CPU they
//! overlap: a helper task sharing the parent's memory and descriptors
//! unshares a network namespace and opens it while the parent goes on;
//! init enters it with setns, first thing, where clone would have made it.
//! The namespace is the same as clone's: new, owned by the runtime's user
//! namespace. The helper also brings its loopback up, which init would
//! otherwise do on its way to execve (tens of microseconds: the device's
//! state change is announced to every listener in the namespace).
//!
//! Only without a user namespace of the container's own (a namespace is
//! owned by the user namespace of its creator, which must be the
//! container's then). The helper is not a thread (the runtime stays
//! single-threaded, namespaces and setns need it) and is gone before the
//! clone of init: it lives for the one unshare and open.

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

const STACK: usize = 16 * 1024;

/// A network namespace being made; [`Ahead::finish`] waits for it.
pub struct Ahead {
    pid: Pid,
    /// The helper's stack: freed only once it has exited.
    _stack: Vec<u128>,
    /// The namespace's descriptor, or minus the errno; shared with the
    /// helper, which writes it before it exits.
    out: Box<AtomicI32>,
    done: bool,
}

/// Starts one if the config asks for a new network namespace and no user
/// namespace; None otherwise (clone makes whatever is new).
pub fn ahead(spec: &Spec) -> Result<Option<Ahead>> {
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    let wanted = namespaces.is_some_and(|ns| {
        ns.iter()
            .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_none())
            && !ns.iter().any(|n| n.typ() == LinuxNamespaceType::User)
    });
    if !wanted {
        return Ok(None);
    }
    // Not zeroed: the helper uses the top few hundred bytes, and zeroing
    // would touch (and fault in) all four pages.
    let mut stack: Vec<u128> = Vec::with_capacity(STACK / 16);
    let out = Box::new(AtomicI32::new(0));
    // SAFETY: the stack is ours (its capacity, written only by the
    // helper), 16-byte aligned, and outlives the helper
    // (Ahead keeps it until waitpid). The helper runs `make` with the
    // parent's memory (CLONE_VM) and descriptor table (CLONE_FILES); it
    // touches only `out` and makes raw syscalls, never the C library's
    // per-thread state (errno, which the parent's thread owns). No exit
    // signal: nothing but waitpid(__WALL) notices its end.
    let pid = unsafe {
        let top = stack
            .as_mut_ptr()
            .add(stack.capacity())
            .cast::<libc::c_void>();
        libc::clone(
            make,
            top,
            libc::CLONE_VM | libc::CLONE_FILES,
            (&*out as *const AtomicI32).cast_mut().cast(),
        )
    };
    if pid < 0 {
        return Err(Error::sys(
            "clone a task for the network namespace",
            Errno::last(),
        ));
    }
    spread(pid);
    Ok(Some(Ahead {
        pid: Pid::from_raw(pid),
        _stack: stack,
        out,
        done: false,
    }))
}

/// A new task starts on its parent's CPU and waits there until the parent
/// blocks, which would undo the overlap: it is sent to the other CPUs the
/// parent may use, if there are any.
fn spread(pid: libc::pid_t) {
    // SAFETY: cpu_set_t is plain data; the calls only read and write it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return;
        }
        let here = libc::sched_getcpu();
        if here < 0 || libc::CPU_COUNT(&set) < 2 {
            return;
        }
        libc::CPU_CLR(here as usize, &mut set);
        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The helper: unshare, bring lo up, open the namespace in the shared
/// descriptor table, say which descriptor (or the errno), exit.
extern "C" fn make(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the AtomicI32 in Ahead's box, alive until waitpid.
    let out = unsafe { &*arg.cast::<AtomicI32>() };
    let path = c"/proc/self/ns/net";
    // SAFETY: raw syscalls with valid arguments; they set no errno.
    let r = unsafe {
        syscalls::syscall!(syscalls::Sysno::unshare, libc::CLONE_NEWNET)
            .and_then(|_| loopback_up())
            .and_then(|_| {
                syscalls::syscall!(
                    syscalls::Sysno::openat,
                    libc::AT_FDCWD,
                    path.as_ptr(),
                    libc::O_RDONLY | libc::O_CLOEXEC
                )
            })
    };
    match r {
        Ok(fd) => {
            out.store(fd as i32, Ordering::Release);
            0
        }
        Err(e) => {
            out.store(-e.into_raw(), Ordering::Release);
            1
        }
    }
}

/// The new namespace's lo up, as linux/loopback.rs brings it up, in raw
/// syscalls (see `make`). A new namespace's lo is down.
fn loopback_up() -> std::result::Result<usize, syscalls::Errno> {
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: socket(2) with constant arguments; SIOCGIFFLAGS and
    // SIOCSIFFLAGS write and read only `req`, which outlives both calls
    // (ifru_flags is the member they use); the socket is closed here, in
    // the descriptor table shared with the parent.
    unsafe {
        let sock = syscalls::syscall!(
            syscalls::Sysno::socket,
            libc::AF_INET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            0
        )?;
        let r = syscalls::syscall!(
            syscalls::Sysno::ioctl,
            sock,
            libc::SIOCGIFFLAGS,
            &mut req as *mut libc::ifreq
        )
        .and_then(|_| {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            syscalls::syscall!(
                syscalls::Sysno::ioctl,
                sock,
                libc::SIOCSIFFLAGS,
                &req as *const libc::ifreq
            )
        });
        let _ = syscalls::syscall!(syscalls::Sysno::close, sock);
        r
    }
}

impl Ahead {
    /// The namespace, once the helper has made it and exited.
    pub fn finish(mut self) -> Result<OwnedFd> {
        self.reap()?;
        let v = self.out.load(Ordering::Acquire);
        if v < 0 {
            return Err(Error::sys(
                "unshare a network namespace",
                Errno::from_raw(-v),
            ));
        }
        // SAFETY: the helper opened it in our descriptor table and
        // nobody else knows of it.
        Ok(unsafe { OwnedFd::from_raw_fd(v) })
    }

    fn reap(&mut self) -> Result<()> {
        if self.done {
            return Ok(());
        }
        loop {
            match waitpid(self.pid, Some(WaitPidFlag::__WALL)) {
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("wait for the network namespace task", e)),
                Ok(_) => break,
            }
        }
        self.done = true;
        Ok(())
    }
}

impl Drop for Ahead {
    /// An unfinished one (create failed first): wait for the helper before
    /// its stack goes, and close what it opened.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.reap().is_ok() {
            let v = self.out.load(Ordering::Acquire);
            if v > 0 {
                // SAFETY: the helper's descriptor, never handed out.
                drop(unsafe { OwnedFd::from_raw_fd(v) });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, LinuxNamespaceBuilder, SpecBuilder};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;

    fn spec(types: &[LinuxNamespaceType]) -> Spec {
        let ns: Vec<_> = types
            .iter()
            .map(|t| LinuxNamespaceBuilder::default().typ(*t).build().unwrap())
            .collect();
        let linux = LinuxBuilder::default().namespaces(ns).build().unwrap();
        SpecBuilder::default().linux(linux).build().unwrap()
    }

    /// Made on the side, the namespace is a new one and its descriptor is
    /// ours; with a user namespace in the config nothing is made ahead.
    #[test]
    fn a_new_network_namespace_is_made_ahead_only_without_a_user_namespace() {
        use LinuxNamespaceType::*;
        assert!(ahead(&spec(&[Pid, Mount])).unwrap().is_none());
        assert!(ahead(&spec(&[User, Network])).unwrap().is_none());
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: making a network namespace needs root");
            return;
        }
        let fd = ahead(&spec(&[Network, Mount]))
            .unwrap()
            .unwrap()
            .finish()
            .unwrap();
        let made = std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        let ours = std::fs::metadata("/proc/self/ns/net").unwrap();
        assert_ne!(made.ino(), ours.ino(), "not a new namespace");
        // Its lo is up: seen from a thread that enters it.
        let lo = std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                let sock = nix::sys::socket::socket(
                    nix::sys::socket::AddressFamily::Inet,
                    nix::sys::socket::SockType::Datagram,
                    nix::sys::socket::SockFlag::empty(),
                    None,
                )
                .unwrap();
                let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
                for (dst, src) in req.ifr_name.iter_mut().zip(b"lo") {
                    *dst = *src as libc::c_char;
                }
                // SAFETY: SIOCGIFFLAGS writes only `req`.
                let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) };
                assert_eq!(r, 0);
                // SAFETY: the member SIOCGIFFLAGS filled in.
                unsafe { req.ifr_ifru.ifru_flags }
            })
            .join()
            .unwrap()
        });
        assert_ne!(lo & libc::IFF_UP as libc::c_short, 0, "lo is down");
        // Dropped unfinished: the helper is waited for and its descriptor
        // closed.
        drop(ahead(&spec(&[Network])).unwrap());
    }
}
