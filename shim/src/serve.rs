//! The long-lived shim process: what `containerd_shim::run` does for a
//! serving shim, done here so that the shim's threads are ours (see
//! `rpc`). The crate still handles the `start` and `delete` actions.
//!
//! In order: become the subreaper of everything the runtime starts; make
//! SIGTERM and SIGINT harmless (a handler, so the runtime's children get
//! the default back at exec) and SIGPIPE an error; log to containerd's
//! fifo; listen on the socket (or, if another shim of the group already
//! does, record its address and leave) and tell `start` so; start the
//! service; serve until Shutdown.

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use containerd_shim::protos::shim::shim_ttrpc::create_task;
use containerd_shim::{Flags, Task};

use crate::rpc;
use crate::service::Service;

extern "C" fn ignore(_: libc::c_int) {}

pub fn serve(flags: &Flags) -> Result<(), String> {
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| format!("prctl PR_SET_CHILD_SUBREAPER: {}", std::io::Error::from(e)))?;
    // SAFETY: sigaction with a valid handler and an empty mask; no other
    // thread exists yet.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = ignore as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESTART;
        for sig in [libc::SIGTERM, libc::SIGINT] {
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    if let Err(e) = containerd_shim::logger::init(flags.debug, "info", &flags.namespace, &flags.id)
    {
        eprintln!("{}: logger: {e}", crate::RUNTIME_ID);
    }
    let path = flags
        .socket
        .strip_prefix("unix://")
        .unwrap_or(&flags.socket);
    let listener = match listen(path) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            if UnixStream::connect(path).is_ok() {
                // Another shim of this group serves the socket already.
                containerd_shim::util::write_address(&flags.socket).map_err(|e| e.to_string())?;
                server_started();
                return Ok(());
            }
            let _ = std::fs::remove_file(path);
            listen(path).map_err(|e| format!("listen on {path}: {e}"))?
        }
        Err(e) => return Err(format!("listen on {path}: {e}")),
    };
    // The socket listens: containerd may connect, and its first request
    // waits in the socket until the service below is up and accepts it.
    // Saying so now takes the start of the service's threads off the path
    // of every shim's first container.
    server_started();
    let stop = Arc::new(rpc::Stop::default());
    let service = {
        let stop = stop.clone();
        Service::start(&flags.namespace, Box::new(move || stop.request()))
    };
    let task: Box<dyn Task + Send + Sync> = Box::new(service);
    // This thread accepts containerd's connections until Shutdown; the
    // requests still running then get two seconds to answer.
    rpc::serve(
        listener,
        create_task(Arc::from(task)),
        stop,
        Duration::from_secs(2),
    );
    let _ = std::fs::remove_file(path);
    Ok(())
}

fn listen(path: &str) -> std::io::Result<UnixListener> {
    if let Some(dir) = Path::new(path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    UnixListener::bind(path)
}

/// The `start` process reads our stdout until it closes: closing it says
/// the socket is ready.
fn server_started() {
    let _ = nix::unistd::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO);
}
