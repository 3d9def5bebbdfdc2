//! Signals from containerd: the init's through the runtime (which knows
//! the container's other processes too), an exec's through its pidfd.

use berth_proc::pidfd;

use crate::error::{Error, Result};

use super::table::{find, not_found, Status};
use super::Tasks;

impl Tasks {
    pub fn kill(&self, id: &str, exec_id: &str, signal: u32, all: bool) -> Result<()> {
        let mut t = self.lock();
        let c = find(&mut t.containers, id)?;
        if exec_id.is_empty() {
            if c.init.status == Status::Stopped && !all {
                return Err(Error::NotFound(format!(
                    "container {id}: process already finished"
                )));
            }
            let runtime = c.runtime.clone();
            drop(t);
            return runtime.kill(id, signal, all);
        }
        let p = c.execs.get(exec_id).ok_or_else(|| not_found(id, exec_id))?;
        match (&p.pidfd, p.status) {
            (_, Status::Stopped) | (_, Status::Created) => Err(Error::NotFound(format!(
                "exec {exec_id} of container {id}: process not running"
            ))),
            // By number: containerd may send a real-time signal, which nix
            // cannot name. ESRCH (reaped, its exit not yet recorded) stays an
            // error.
            (Some(fd), _) => {
                pidfd::send_signal_number(fd, signal as libc::c_int).map_err(|e| Error::Io {
                    context: format!("pidfd_send_signal to exec {exec_id} of container {id}"),
                    err: e.into(),
                })
            }
            (None, _) => nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p.pid as i32),
                nix::sys::signal::Signal::try_from(signal as i32).ok(),
            )
            .map_err(|e| Error::Io {
                context: format!("kill exec {exec_id} of container {id}"),
                err: e.into(),
            }),
        }
    }

    /// Ends every container (the shim is being torn down).
    pub fn kill_all(&self) {
        let all: Vec<_> = {
            let t = self.lock();
            t.containers
                .iter()
                .map(|(id, c)| (id.clone(), c.runtime.clone()))
                .collect()
        };
        for (id, runtime) in all {
            let _ = runtime.kill(&id, 9, true);
        }
    }
}
