use std::os::fd::AsRawFd;

use berth::container::create::{create, Console, Created, Release};
use berth::container::store::Store;
use berth::container::{foreground, lifecycle};
use berth::error::Context;
use berth::init::{sync, terminal};
use berth::linux::pidfd;
use berth::Result;
use nix::unistd::Pid;

use super::args::Flag;
use super::create::CreateArgs;
use super::line::{first, Line, Stop};
use super::Command;

/// On top of create's flags.
#[rustfmt::skip]
pub const FLAGS: &[Flag] = &[
    Flag::switch("detach", Some('d'), "Return once the container has started."),
    Flag::switch("keep", None, "Keep the container's state after it exits (foreground only)."),
];

pub fn parse(line: Line) -> Result<Command, Stop> {
    let (mut create, mut detach, mut keep) = (CreateArgs::default(), false, false);
    let words = line.words(|v| {
        match v.flag.long {
            "detach" => detach = v.on()?,
            "keep" => keep = v.on()?,
            _ => create.set(v)?,
        }
        Ok(())
    })?;
    create.id = first(words);
    Ok(Command::Run {
        create,
        detach,
        keep,
    })
}

pub fn run(
    store: &Store,
    a: &CreateArgs,
    detach: bool,
    keep: bool,
    g: &super::global::Global,
) -> Result<i32> {
    let mut opts = a.options(g);
    // This process starts the container itself: init goes on as soon as
    // it is saved, without the exec fifo (container/lifecycle.rs).
    opts.release = Release::Now;
    if detach {
        let created = create(store, &opts, Console::Socket(a.console_socket.clone()))?;
        let sync = created.sync.expect("released at once");
        // Waits for execve: a program that could not be executed fails
        // `run -d` as it fails `start`.
        lifecycle::started(&created.state, &sync, true)?;
        return Ok(0);
    }
    foreground::block_signals()?;
    // With a terminal and nobody to hand it to, berth keeps the master and
    // copies it to its own stdio, as runc does.
    let console = match &a.console_socket {
        Some(p) => Console::Socket(Some(p.clone())),
        None => Console::Keep,
    };
    let Created {
        pid,
        dir,
        state,
        console: ours,
        sync,
    } = create(store, &opts, console)?;
    let sync = sync.expect("released at once");
    let started = (|| {
        // Init sent it before it said it was ready.
        let master = match &ours {
            Some(s) => Some(terminal::recv_master(s.as_raw_fd())?),
            None => None,
        };
        lifecycle::started(&state, &sync, false)?;
        Ok(master)
    })();
    // Other commands (state, kill) may lock the container while it runs;
    // the directory stays open for the delete below.
    let dir = dir.unlock();
    let mut reaped = false;
    let result = started.and_then(|master| {
        let code = foreground::wait(pid, master)?;
        reaped = true;
        // What failed between `S` and execve, if anything did: init said
        // so before it exited (and on the container's stderr). An error,
        // as from `start`, rather than init's exit status: runc 1.1's
        // `run` exits 1 then too.
        sync::exec_result(&sync, false).with_context(|| format!("container {}", state.id))?;
        Ok(code)
    });
    if !keep || result.is_err() {
        if result.is_err() && !reaped {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        lifecycle::delete_exited(dir, &state)?;
    }
    result
}

/// `--pidfd-socket`: a pidfd of the container's process (see
/// [`pidfd::send_to_socket`]).
pub fn send_pidfd(socket: Option<&std::path::Path>, pid: Pid) -> Result<()> {
    match socket {
        Some(path) => pidfd::send_to_socket(path, pid.as_raw()),
        None => Ok(()),
    }
}
