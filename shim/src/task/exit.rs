//! Exits, as the reaper reports them: matched to their process and
//! published in the order containerd needs (an init's after its execs');
//! and Wait, which returns once one is recorded.

use crate::error::Result;
use crate::reaper::Exit;

use super::table::{find, process, Status};
use super::{Event, Tasks};

impl Tasks {
    pub fn wait(&self, id: &str, exec_id: &str) -> Result<Exit> {
        let mut map = self.lock();
        loop {
            let c = find(&mut map, id)?;
            let p = process(c, id, exec_id)?;
            if let Some(exit) = p.exit {
                return Ok(exit);
            }
            map = self.exited.wait(map).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Called for every reaped process that was not a runtime command.
    pub fn process_exited(&self, pid: u32, exit: Exit) {
        let mut map = self.lock();
        let found = map.iter_mut().find_map(|(id, c)| {
            if c.init.pid == pid && c.init.exit.is_none() && c.pending_exit.is_none() {
                return Some((id.clone(), String::new()));
            }
            c.execs
                .iter()
                .find(|(_, p)| p.pid == pid && p.exit.is_none())
                .map(|(e, _)| (id.clone(), e.clone()))
        });
        let Some((id, exec_id)) = found else {
            return;
        };
        let c = map.get_mut(&id).expect("found above");
        if exec_id.is_empty() {
            c.init.pidfd = None;
            if !c.own_pid_ns {
                // Without its own pid namespace nothing else ends the
                // container's other processes.
                if let Err(e) = c.runtime.kill(&id, 9, true) {
                    log::warn!("container {id}: kill --all after init exit: {e}");
                }
            }
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
        let running = c.execs.values().any(|p| p.status == Status::Running);
        if !running {
            if let Some(exit) = c.pending_exit.take() {
                // An OOM kill is signalled before its victim dies: one the
                // OOM watcher has not read yet comes before the exit.
                if let Some(oom) = &self.oom {
                    oom.flush(&id);
                }
                c.init.status = Status::Stopped;
                c.init.exit = Some(exit);
                self.send(Event::Exit {
                    id: id.clone(),
                    exec_id: String::new(),
                    pid: c.init.pid,
                    exit,
                });
            }
        }
        self.exited.notify_all();
    }
}
