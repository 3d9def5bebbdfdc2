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
//! it anyway, and one environment lookup per step costs nothing measurable.

use nix::sys::signal::{raise, Signal};

pub fn point(step: &str) {
    if std::env::var_os("BERTH_FAULT").is_some_and(|v| v == step) {
        let _ = raise(Signal::SIGKILL);
    }
}
