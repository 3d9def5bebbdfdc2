//! containerd-shim-berth-v2: containerd's task API v2 for berth, or for
//! any runtime with runc's command line (`binary_name`).
//!
//! - `service`: the ttrpc task service and the shim's start/delete actions;
//! - `task`: containers and processes, and the order of their events;
//! - `runtime`: the runtime binary, driven as containerd's runc wrapper does;
//! - `reaper`: the one place exits are collected;
//! - `checkpoint`: CRIU dumps through the runtime's `checkpoint`;
//! - `stdio`, `rootfs`, `options`, `events`, `metrics`, `oom`: one concern each.
//!
//! A shim lives as long as its containers, one per container or pod, so
//! its cost is the memory it keeps while they run. The installed build
//! (`hack/build shim`) is static (musl), size-optimised and not
//! position-independent, like berth's. Measured with hack/bench-shim (one
//! sleeping container per shim, containerd 1.6, one run each):
//!
//! |                     | glibc, dynamic | static | + own ttrpc | Go runc shim |
//! |---------------------|----------------|--------|-------------|--------------|
//! | Rss, KiB            | 3648           | 1294   | 1230        | 13300        |
//! | USS, KiB            | 407            | 198    | 134         | 2500         |
//! | threads             | 15.4           | 15.5   | 7           | 11.4         |
//!
//! The dynamic build's RSS is mostly ld.so's and libc's pages, and its
//! private pages include the relocations it writes at every start (its
//! GOT and vtables, since it is a PIE) and glibc's per-thread state. What
//! is left (/proc/PID/smaps of one): ~1.1 MiB of its own code, shared by
//! every shim, and ~130 KiB of private pages: the touched tops of its
//! threads' stacks (4 to 16 KiB each), musl's heap, the binary's .data
//! and .bss. Hence few threads: the main one accepts containerd's
//! connections; `reaper`, `exits`, `events` and `oom-watcher` each wait
//! for their own kind of event; one `ttrpc` reader per connection, one
//! `io` thread per process with stdio, and one thread per request while
//! it runs (see `rpc`).

pub mod checkpoint;
pub mod error;
pub mod events;
pub mod info;
pub mod metrics;
pub mod oom;
pub mod options;
pub mod reaper;
pub mod rootfs;
pub mod rpc;
pub mod runtime;
pub mod serve;
pub mod service;
pub mod stdio;
pub mod task;

/// containerd's name for this runtime.
pub const RUNTIME_ID: &str = "io.containerd.berth.v2";

/// The shim's entry point.
pub fn run() {
    // The crate parses -info but leaves answering it to the shim.
    if std::env::args()
        .skip(1)
        .any(|a| a == "-info" || a == "--info")
    {
        if let Err(e) = info::print() {
            eprintln!("{RUNTIME_ID}: -info: {e}");
            std::process::exit(1);
        }
        return;
    }
    // One malloc arena: glibc would give each of the shim's threads that
    // allocates an arena of its own, about 100 KiB resident per shim for
    // threads that mostly sleep (hack/bench-shim, USS per shim). musl's
    // allocator (the installed build, hack/build shim) has one heap anyway.
    // SAFETY: mallopt only tunes the allocator; no other thread exists yet.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    // containerd runs the shim with an action (start, delete) for short
    // jobs, and without one for the long-lived server, served here.
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    if let Ok(flags) = containerd_shim::parse(&args) {
        if flags.action.is_empty() && !flags.socket.is_empty() && !flags.version {
            if let Err(e) = serve::serve(&flags) {
                eprintln!("{RUNTIME_ID}: {e}");
                std::process::exit(1);
            }
            return;
        }
    }
    let config = containerd_shim::Config {
        // Exits are collected by `reaper`, which must see every child.
        no_reaper: true,
        ..Default::default()
    };
    containerd_shim::run::<service::Shim>(RUNTIME_ID, Some(config));
}
