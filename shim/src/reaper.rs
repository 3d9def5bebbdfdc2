//! The shim is a child subreaper: container processes are re-parented to
//! it when the runtime command that made them exits, and it must reap them
//! to learn their exit status. One thread blocks in `waitpid(-1)` and hands
//! out every exit, so no status is ever lost to a race between two waiters:
//!
//! - runtime commands (`berth create`, `berth start`, ...) are spawned
//!   through [`spawn`], which records their pid before the reaper can see
//!   them exit; [`wait`] then blocks on that record;
//! - every other exit (container inits, exec processes, orphans) goes to
//!   the channel given to [`start`], whose receiver matches pids with
//!   container processes.
//!
//! No signal handler is involved: when the shim has no children the thread
//! sleeps on a condition variable until [`spawn`] makes one.

use std::collections::HashMap;
use std::io;
use std::process::{Child, Command};
use std::sync::mpsc::Sender;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::SystemTime;

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

/// How a process ended: its exit code, or 128 + the signal that killed it
/// (the convention containerd and shells use), and when it was reaped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exit {
    pub status: u32,
    pub at: SystemTime,
}

#[derive(Default)]
struct Table {
    /// Bumped by every spawn, so a reaper that saw ECHILD knows whether a
    /// child appeared since.
    generation: u64,
    /// Runtime commands being waited for: None until the reaper sees them.
    commands: HashMap<i32, Option<Exit>>,
}

struct Reaper {
    table: Mutex<Table>,
    changed: Condvar,
    others: Sender<(i32, Exit)>,
}

static REAPER: OnceLock<Reaper> = OnceLock::new();

/// Starts the reaper thread; exits of processes not spawned through
/// [`spawn`] are sent to `others`. Called once, before any child exists.
pub fn start(others: Sender<(i32, Exit)>) {
    let reaper = Reaper {
        table: Mutex::default(),
        changed: Condvar::new(),
        others,
    };
    if REAPER.set(reaper).is_err() {
        return;
    }
    std::thread::Builder::new()
        .name("reaper".into())
        .stack_size(64 * 1024)
        .spawn(reap_forever)
        .expect("start the reaper thread");
}

fn reaper() -> &'static Reaper {
    REAPER.get().expect("reaper::start runs before any spawn")
}

fn reap_forever() {
    let r = reaper();
    loop {
        let seen = r.table.lock().unwrap().generation;
        match waitpid(Pid::from_raw(-1), None) {
            Ok(WaitStatus::Exited(pid, code)) => deliver(pid.as_raw(), code as u32),
            Ok(WaitStatus::Signaled(pid, sig, _)) => deliver(pid.as_raw(), 128 + sig as u32),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => {
                // No children: sleep until spawn makes one. Children the
                // kernel re-parents to us always come from one of ours, so
                // they cannot appear while we have none.
                let mut t = r.table.lock().unwrap();
                while t.generation == seen {
                    t = r.changed.wait(t).unwrap();
                }
            }
        }
    }
}

fn deliver(pid: i32, status: u32) {
    let exit = Exit {
        status,
        at: SystemTime::now(),
    };
    let r = reaper();
    let mut t = r.table.lock().unwrap();
    if let Some(slot) = t.commands.get_mut(&pid) {
        *slot = Some(exit);
        r.changed.notify_all();
    } else {
        drop(t);
        let _ = r.others.send((pid, exit));
    }
}

/// A runtime command: its pipes are in `child`, its exit comes from
/// [`Command::wait`] (never `Child::wait`, which would race the reaper).
pub struct Spawned {
    pub child: Child,
}

/// Spawns a command whose exit the caller collects with [`Spawned::wait`].
pub fn spawn(cmd: &mut Command) -> io::Result<Spawned> {
    let r = reaper();
    let mut t = r.table.lock().unwrap();
    let child = cmd.spawn()?;
    t.commands.insert(child.id() as i32, None);
    t.generation += 1;
    r.changed.notify_all();
    Ok(Spawned { child })
}

/// Spawns a process whose exit goes to the `others` channel (a logging
/// binary, say): it only wakes the reaper. Returns its pid.
pub fn spawn_unwatched(cmd: &mut Command) -> io::Result<u32> {
    let r = reaper();
    let mut t = r.table.lock().unwrap();
    let pid = cmd.spawn()?.id();
    t.generation += 1;
    r.changed.notify_all();
    Ok(pid)
}

impl Spawned {
    /// Waits for the command to exit.
    pub fn wait(self) -> Exit {
        wait_pid(self.child.id() as i32)
    }
}

fn wait_pid(pid: i32) -> Exit {
    let r = reaper();
    let mut t = r.table.lock().unwrap();
    loop {
        if let Some(Some(exit)) = t.commands.get(&pid) {
            let exit = *exit;
            t.commands.remove(&pid);
            return exit;
        }
        t = r.changed.wait(t).unwrap();
    }
}
