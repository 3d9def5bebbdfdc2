//! The container's session keyring (runc's behaviour): a fresh keyring
//! named `_ses.ID`, so the container cannot read keys of the runtime's
//! session, made searchable by its owner.

use nix::errno::Errno;

use crate::error::{Result, SysResult};

const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
const KEYCTL_SETPERM: libc::c_int = 5;
const KEYCTL_DESCRIBE: libc::c_int = 6;
const KEY_USR_SEARCH: u32 = 0x0008_0000;

pub fn join_new(id: &str) -> Result<()> {
    let name = std::ffi::CString::new(format!("_ses.{id}")).expect("IDs have no NUL");
    // SAFETY: name is a valid C string for the duration of the call.
    let key =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    match Errno::result(key) {
        // Kernels without keyrings, or a seccomp filter that refuses
        // keyctl: runc goes on without one too.
        Err(Errno::ENOSYS) => return Ok(()),
        r => r.sys("keyctl(KEYCTL_JOIN_SESSION_KEYRING)")?,
    };
    let key = key as i32;
    let perm = current_perm(key)? | KEY_USR_SEARCH;
    // SAFETY: integer arguments only.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, key, perm) };
    Errno::result(r)
        .map(drop)
        .sys("keyctl(KEYCTL_SETPERM) on the session keyring")
}

/// The description reads `type;uid;gid;perm;name`, perm in hex.
fn current_perm(key: i32) -> Result<u32> {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its whole length, which is passed.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            key,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    let n = Errno::result(n).sys("keyctl(KEYCTL_DESCRIBE) on the session keyring")? as usize;
    let text = String::from_utf8_lossy(&buf[..n.min(buf.len())]);
    Ok(text
        .split(';')
        .nth(3)
        .and_then(|p| u32::from_str_radix(p.trim_end_matches('\0'), 16).ok())
        .unwrap_or(0x3f13_0000))
}
