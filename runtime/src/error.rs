//! The one error type of the `berth` crate.
//!
//! Every error carries a message that already names what failed (the
//! container, the path, the syscall); callers add context with
//! [`Context::context`] as the error travels up, so the final line reads like
//! `container web: mount proc on /proc: EPERM: operation not permitted`.

use std::fmt;
use std::path::Path;

use nix::errno::Errno;

/// What kind of failure this is; the CLI maps it to runc's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad input: config.json, flags, container ID.
    Invalid,
    /// The container does not exist.
    NotFound,
    /// The container exists, but is in the wrong state for the operation.
    WrongState,
    /// A system call failed.
    Sys,
}

#[derive(Debug)]
pub struct Error {
    kind: Kind,
    msg: String,
    errno: Option<Errno>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error {
            kind: Kind::Invalid,
            msg: msg.into(),
            errno: None,
        }
    }

    pub fn not_found(msg: impl Into<String>) -> Self {
        Error {
            kind: Kind::NotFound,
            msg: msg.into(),
            errno: None,
        }
    }

    pub fn wrong_state(msg: impl Into<String>) -> Self {
        Error {
            kind: Kind::WrongState,
            msg: msg.into(),
            errno: None,
        }
    }

    /// A failed system call `op` (e.g. "mount proc on /proc").
    pub fn sys(op: impl fmt::Display, errno: Errno) -> Self {
        Error {
            kind: Kind::Sys,
            msg: format!("{op}: {}", errno_text(errno)),
            errno: Some(errno),
        }
    }

    /// A failed system call on `path`.
    pub fn path(op: &str, path: &Path, errno: Errno) -> Self {
        Self::sys(format_args!("{op} {}", path.display()), errno)
    }

    /// A failed std::io operation on `path`.
    pub fn io(op: &str, path: &Path, err: std::io::Error) -> Self {
        match err.raw_os_error() {
            Some(e) => Self::path(op, path, Errno::from_raw(e)),
            None => Error {
                kind: Kind::Sys,
                msg: format!("{op} {}: {err}", path.display()),
                errno: None,
            },
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn errno(&self) -> Option<Errno> {
        self.errno
    }

    pub fn message(&self) -> &str {
        &self.msg
    }

    /// Rebuilds an error received as text from the container's init process.
    pub fn from_init(msg: String, errno: Option<Errno>) -> Self {
        Error {
            kind: if errno.is_some() {
                Kind::Sys
            } else {
                Kind::Invalid
            },
            msg,
            errno,
        }
    }
}

/// `EPERM: operation not permitted`: the symbolic name is what people grep
/// for, the description is what they understand, in lower case as Go (and
/// so runc) prints it: engines look for "no such file or directory" in a
/// runtime's error to tell a missing command (Docker's client does so case
/// by case).
fn errno_text(errno: Errno) -> String {
    let desc = errno.desc();
    let mut chars = desc.chars();
    let lower: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    format!("{errno:?}: {lower}")
}

/// Messages quote what they refuse, and a config can hold megabytes in
/// one string: past this, the middle of a message gives way to a note, so
/// that the error stays readable and the log small.
const MESSAGE_MAX: usize = 4096;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.msg.len() <= MESSAGE_MAX {
            return f.write_str(&self.msg);
        }
        let keep = MESSAGE_MAX / 2;
        let head = floor_char_boundary(&self.msg, keep);
        let tail = ceil_char_boundary(&self.msg, self.msg.len() - keep);
        write!(
            f,
            "{} … [{} bytes elided] … {}",
            &self.msg[..head],
            tail - head,
            &self.msg[tail..]
        )
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

impl std::error::Error for Error {}

/// Adds context in front of an error's message, keeping its kind.
pub trait Context<T> {
    fn context(self, ctx: impl fmt::Display) -> Result<T>;
    fn with_context<D: fmt::Display, F: FnOnce() -> D>(self, f: F) -> Result<T>;
}

impl<T> Context<T> for Result<T> {
    fn context(self, ctx: impl fmt::Display) -> Result<T> {
        self.map_err(|mut e| {
            e.msg = format!("{ctx}: {}", e.msg);
            e
        })
    }

    fn with_context<D: fmt::Display, F: FnOnce() -> D>(self, f: F) -> Result<T> {
        self.map_err(|mut e| {
            e.msg = format!("{}: {}", f(), e.msg);
            e
        })
    }
}

/// Turns a nix result into ours, naming the operation.
pub trait SysResult<T> {
    fn sys(self, op: impl fmt::Display) -> Result<T>;
    fn sys_path(self, op: &str, path: &Path) -> Result<T>;
}

impl<T> SysResult<T> for nix::Result<T> {
    fn sys(self, op: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::sys(op, e))
    }

    fn sys_path(self, op: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::path(op, path, e))
    }
}

impl<T> SysResult<T> for std::io::Result<T> {
    fn sys(self, op: impl fmt::Display) -> Result<T> {
        self.map_err(|e| match e.raw_os_error() {
            Some(n) => Error::sys(op, Errno::from_raw(n)),
            None => Error {
                kind: Kind::Sys,
                msg: format!("{op}: {e}"),
                errno: None,
            },
        })
    }

    fn sys_path(self, op: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_message_is_cut_in_the_middle() {
        let value = "é".repeat(5 << 20);
        let e = Error::invalid(format!("hostname {value:?} is too long"));
        let text = e.to_string();
        assert!(text.len() < 2 * MESSAGE_MAX, "{}", text.len());
        assert!(text.starts_with("hostname \"é"), "{text:.40}");
        assert!(text.ends_with("é\" is too long"), "{text:.40}");
        assert!(text.contains("bytes elided"));
        assert_eq!(e.message().len(), e.msg.len(), "kept whole inside");
    }

    #[test]
    fn context_is_prepended_and_kind_kept() {
        let r: Result<()> = Err(Error::path(
            "mount proc on",
            Path::new("/proc"),
            Errno::EPERM,
        ));
        let e = r.context("container web").unwrap_err();
        assert_eq!(
            e.to_string(),
            "container web: mount proc on /proc: EPERM: operation not permitted"
        );
        assert_eq!(e.kind(), Kind::Sys);
        assert_eq!(e.errno(), Some(Errno::EPERM));
    }
}
