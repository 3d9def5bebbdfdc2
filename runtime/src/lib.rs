//! berth: an OCI container runtime with runc's command line.
//!
//! The crate is layered; a layer uses only those listed after it, never one
//! before it (the CLI, in the binary, sits on top of them all):
//!
//! - [`container`]: the operations on containers (create, start, kill,
//!   delete, pause, exec, checkpoint, restore) and the state store. The
//!   create pipeline reads top to bottom in [`container::create`] (the
//!   parent's side) and [`init`] (the container's side).
//! - [`init`]: the container's init process and what it builds: the rootfs
//!   and its mounts, devices, terminal, the process's user, limits and
//!   hooks, and the parent/child protocol.
//! - [`oci`]: the spec's documents: config.json loaded and validated, its
//!   mount options and hook kinds, and the container state.
//! - [`linux`]: the kernel mechanisms, which know nothing of containers:
//!   namespaces, cgroups, seccomp, capabilities, pidfds, mount attributes,
//!   and the [`linux::syscall::Syscall`] trait with its test fake.
//! - the base every layer may use: [`error`], [`logging`], [`timefmt`],
//!   [`fault`] and the allocator, [`alloc`].

pub mod container;
pub mod init;
pub mod linux;
pub mod oci;

pub mod alloc;
pub mod error;
pub mod fault;
pub mod logging;
pub mod timefmt;

pub use error::{Error, Result};
