//! The operations on containers, one module each, over the state store.
//! [`create`] is the parent's side of the create pipeline; [`restore`]
//! builds a container as create does, from CRIU images.

pub mod cgroup_unit;
pub mod checkpoint;
pub mod create;
pub mod criu;
pub mod exec;
pub mod foreground;
pub mod host_mounts;
pub mod lifecycle;
pub mod restore;
pub mod store;
