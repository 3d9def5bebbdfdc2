//! The runtime spec's documents: config.json, read leniently where the
//! spec says to warn and validated before anything is made, and the state
//! a container reports.

pub mod config;
pub mod hooks;
mod json;
pub mod mount_options;
pub mod state;
mod validate;
