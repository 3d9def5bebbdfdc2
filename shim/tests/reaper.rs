//! The reaper takes every child of the process, so it is tested in a
//! process of its own.

use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

use containerd_shim_berth_v2::reaper::{spawn, start};

#[test]
fn commands_and_orphans_are_told_apart() {
    let (tx, rx) = channel();
    start(tx);
    let child = spawn(Command::new("sh").args(["-c", "exit 3"])).unwrap();
    assert_eq!(child.wait().status, 3);
    let killed = spawn(Command::new("sh").args(["-c", "kill -9 $$"])).unwrap();
    assert_eq!(killed.wait().status, 137);
    // A grandchild re-parented to this process (made a subreaper, as the
    // shim is) reaches the channel, not a command waiter.
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let parent = spawn(
        Command::new("sh")
            .args(["-c", "(sleep 0.2; exit 5) &"])
            .stdout(Stdio::null()),
    )
    .unwrap();
    assert_eq!(parent.wait().status, 0);
    let (_pid, orphan) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(orphan.status, 5);
}
