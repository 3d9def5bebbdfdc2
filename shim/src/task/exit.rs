//! Exits, as the reaper reports them: matched to their process and
//! published in the order containerd needs (an init's after its execs');
//! and Wait, which returns once one is recorded.
//!
//! An exit is recorded once the process's output is in containerd's fifos
//! (at most [`OUTPUT_DRAIN`] later): a client learning of the exit may stop
//! reading at once (ctr 1.6's Delete closes its end of the fifos), and
//! output the copier had yet to move would be lost.
//!
//! An exit no recorded process claims may be that of a process whose
//! launch is under way, its pid not read yet: it is kept for the launches
//! (`table::Table::unclaimed`), which claim it once they record the pid.

use std::collections::HashMap;
use std::time::Duration;

use crate::error::Result;
use crate::reaper::Exit;

use super::table::{find, process, Container, Status};
use super::{Event, Tasks};

/// How long an exit waits for the process's output to reach containerd:
/// enough for a copier thread slow to be scheduled, not for a process
/// that still holds the output pipe (a background child of an exec).
const OUTPUT_DRAIN: Duration = Duration::from_millis(500);

impl Tasks {
    pub fn wait(&self, id: &str, exec_id: &str) -> Result<Exit> {
        let mut t = self.lock();
        loop {
            let c = find(&mut t.containers, id)?;
            let p = process(c, id, exec_id)?;
            if let Some(exit) = p.exit {
                return Ok(exit);
            }
            t = self.exited.wait(t).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Called for every reaped process that was not a runtime command,
    /// and by a launch for its process's exit reaped before the pid was
    /// recorded.
    pub fn process_exited(&self, pid: u32, exit: Exit) {
        let (kill_rest, drained) = {
            let mut t = self.lock();
            let Some((id, exec_id)) = exited(&t.containers, pid) else {
                t.unclaimed(pid, exit);
                return;
            };
            let c = t.containers.get_mut(&id).expect("found above");
            // Without its own pid namespace nothing else ends the
            // container's other processes (which may hold its output).
            let kill_rest = (exec_id.is_empty() && !c.own_pid_ns).then(|| c.runtime.clone());
            let p = process(c, &id, &exec_id).expect("found above");
            (
                kill_rest.map(|r| (r, id)),
                p.io.as_ref().map(|io| io.drained()),
            )
        };
        // Not under the lock: requests go on meanwhile.
        if let Some((runtime, id)) = kill_rest {
            if let Err(e) = runtime.kill(&id, 9, true) {
                log::warn!("container {id}: kill --all after init exit: {e}");
            }
        }
        if let Some(d) = drained {
            if !d.wait(OUTPUT_DRAIN) {
                log::debug!("pid {pid} exited; its output is not drained yet");
            }
        }
        let mut t = self.lock();
        let Some((id, exec_id)) = exited(&t.containers, pid) else {
            return;
        };
        let c = t.containers.get_mut(&id).expect("found above");
        if exec_id.is_empty() {
            c.init.pidfd = None;
            c.pending_exit = Some(exit);
        } else {
            let p = c.execs.get_mut(&exec_id).expect("found above");
            p.status = Status::Stopped;
            p.exit = Some(exit);
            p.pidfd = None;
            self.send(Event::Exit {
                id: id.clone(),
                exec_id,
                pid,
                exit,
            });
        }
        self.publish_init_exit(&id, c);
        self.exited.notify_all();
    }

    /// Publishes the init's pending exit once nothing holds it back: its
    /// Start still running (TaskStart comes first), an exec running or
    /// being started (containerd must see the init's exit last), its
    /// Delete running (the container goes with it). The caller notifies
    /// `exited`.
    pub(super) fn publish_init_exit(&self, id: &str, c: &mut Container) {
        let held = c.init.starting
            || c.deleting
            || c.execs
                .values()
                .any(|p| p.status == Status::Running || p.starting);
        if held {
            return;
        }
        if let Some(exit) = c.pending_exit.take() {
            // An OOM kill is signalled before its victim dies: one the
            // OOM watcher has not read yet comes before the exit.
            if let Some(oom) = &self.oom {
                oom.flush(id);
            }
            c.init.status = Status::Stopped;
            c.init.exit = Some(exit);
            self.send(Event::Exit {
                id: id.to_string(),
                exec_id: String::new(),
                pid: c.init.pid,
                exit,
            });
        }
    }
}

/// The container id and exec id (empty for the init) of `pid`, a process
/// whose exit is not recorded yet.
fn exited(map: &HashMap<String, Container>, pid: u32) -> Option<(String, String)> {
    map.iter().find_map(|(id, c)| {
        if c.init.pid == pid && c.init.exit.is_none() && c.pending_exit.is_none() {
            return Some((id.clone(), String::new()));
        }
        c.execs
            .iter()
            .find(|(_, p)| p.pid == pid && p.exit.is_none())
            .map(|(e, _)| (id.clone(), e.clone()))
    })
}
