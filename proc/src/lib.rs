//! What both of berth's programs read from the kernel about processes and
//! mounts: /proc/self/mountinfo and pidfds. The runtime and the shim are
//! separate binaries that share no other code, so these live in a crate of
//! their own rather than twice.
//!
//! Errors are nix's: each caller names what it was doing in its own error
//! type.

pub mod mountinfo;
pub mod pidfd;
