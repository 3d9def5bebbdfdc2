//! Crash points for the fault tests: with `BERTH_FAULT=STEP` in its
//! environment, berth kills itself with SIGKILL when it reaches STEP, so a
//! test can check that whatever a berth killed there leaves behind, `state`
//! reads correctly and `delete --force` removes.
//!
//! | step             | where                                                  |
//! |------------------|--------------------------------------------------------|
//! | `create:dir`     | state directory and exec fifo made, nothing else       |
//! | `create:cgroups` | cgroups made and recorded, before clone                |
//! | `create:cloned`  | init cloned, before it is placed and let go            |
//! | `create:ready`   | init waits for `start`, before state.json is written   |
//! | `create:saved`   | state.json written, before create returns              |
//! | `start:released` | init let go to execve, before the fifo is removed      |
//! | `exec:cloned`    | the exec child cloned, before it is placed and let go  |
//! | `restore:criu`   | criu started in the cgroups, the rootfs bound for it   |
//! | `delete:killed`  | processes killed, before the cgroups are removed       |
//! | `delete:cgroups` | cgroups removed, before the state directory is         |
//!
//! Kept in release builds: anyone who can set berth's environment can kill
//! it anyway. The environment is read once (std's lookup takes a lock and
//! copies the value, 1.5k instructions, and `run` passes seven steps);
//! berth never changes BERTH_FAULT itself.

use std::ffi::OsString;
use std::sync::OnceLock;

use nix::sys::signal::{raise, Signal};

pub fn point(step: &str) {
    static FAULT: OnceLock<Option<OsString>> = OnceLock::new();
    let fault = FAULT.get_or_init(|| std::env::var_os("BERTH_FAULT"));
    if fault.as_deref().is_some_and(|v| v == step) {
        let _ = raise(Signal::SIGKILL);
    }
}
