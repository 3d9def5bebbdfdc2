//! berth: an OCI container runtime with runc's command line.
//!
//! The create pipeline reads top to bottom in [`create`] (parent side) and
//! [`init`] (the container's init process); each step lives in a module of
//! its own.

pub mod alloc;
pub mod capabilities;
pub mod cgroups;
pub mod checkpoint;
pub mod copy_up;
pub mod create;
pub mod criu;
pub mod devices;
pub mod error;
pub mod exec;
pub mod fault;
pub mod foreground;
pub mod hooks;
pub mod init;
pub mod keyring;
pub mod lifecycle;
pub mod logging;
pub mod loopback;
pub mod lsm;
pub mod mount_attr;
pub mod mount_options;
pub mod namespaces;
pub mod netns;
pub mod pidfd;
pub mod process;
pub mod process_attrs;
pub mod restore;
pub mod rlimits;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod sync;
pub mod syscall;
pub mod sysctl;
pub mod terminal;
pub mod timefmt;

pub use error::{Error, Result};
