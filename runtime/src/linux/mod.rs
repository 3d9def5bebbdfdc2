//! The kernel mechanisms berth builds containers from. Nothing here knows
//! what a container is: these take paths, descriptors and the spec's
//! values, and name the syscall in their errors.

pub mod capabilities;
pub mod cgroups;
pub mod clone;
pub mod copy_up;
pub mod dbus;
pub mod keyring;
pub mod loopback;
pub mod lsm;
pub mod mount_attr;
pub mod mount_id;
pub mod namespaces;
pub mod netns;
pub mod pidfd;
pub mod process_attrs;
pub mod rlimits;
pub mod seccomp;
pub mod syscall;
pub mod sysctl;
pub mod systemd;
