//! An idmapped rootfs's user namespace comes from a child of the shim,
//! which the rootfs code must reap itself while the reaper thread waits
//! for every other child; the reaper takes every child of the process,
//! so this runs in a process of its own.

use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::mpsc::channel;
use std::time::Duration;

use containerd_shim_berth_v2::reaper::{spawn, start};
use containerd_shim_berth_v2::rootfs::{mount_all, unmount, Mount};
use nix::mount::{umount2, MntFlags, MsFlags};

/// The test's tmpfs, detached with all on it even when the test fails.
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = umount2(&self.0, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Kills the sleeper on the way out, the failing one too.
struct Kill(nix::unistd::Pid);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGKILL);
    }
}

#[test]
fn the_reaper_never_sees_the_user_namespace_holder() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: not root");
        return;
    }
    let (tx, rx) = channel();
    start(tx);
    // A command keeps the reaper blocked in waitpid(-1) meanwhile.
    let sleeper = spawn(Command::new("sleep").arg("30")).unwrap();
    let kill = Kill(nix::unistd::Pid::from_raw(sleeper.child.id() as i32));
    let dir = std::env::temp_dir().join(format!("berth-idmap-reaper-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &dir,
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    let _tmpfs = Tmpfs(dir.clone());
    std::fs::create_dir(dir.join("snap")).unwrap();
    std::fs::write(dir.join("snap/f"), "x").unwrap();
    let m = Mount {
        kind: "bind".into(),
        source: dir.join("snap").to_str().unwrap().into(),
        options: ["uidmap=0:4000000:65536", "gidmap=0:4000000:65536", "rbind"]
            .map(String::from)
            .to_vec(),
    };
    let target = dir.join("rootfs");
    let mut owners = Vec::new();
    for _ in 0..10 {
        let r = mount_all(std::slice::from_ref(&m), &target);
        let owner = r
            .map_err(|e| e.to_string())
            .and_then(|()| std::fs::metadata(target.join("f")).map_err(|e| e.to_string()));
        owners.push(owner.map(|m| m.uid()));
        unmount(&target);
    }
    drop(kill);
    assert_eq!(sleeper.wait().status, 137);
    for o in owners {
        assert_eq!(o.unwrap(), 4_000_000);
    }
    // Nothing but the sleeper exited as far as the reaper knows.
    let stray = rx.recv_timeout(Duration::from_millis(200));
    assert!(stray.is_err(), "the reaper took {stray:?}");
}
