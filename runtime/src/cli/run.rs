use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use berth::container::create::{create, Console};
use berth::container::store::Store;
use berth::container::{foreground, lifecycle};
use berth::error::SysResult;
use berth::init::terminal;
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
    let opts = a.options(g);
    if detach {
        let created = create(store, &opts, Console::Socket(a.console_socket.clone()))?;
        send_pidfd(a.pidfd_socket.as_deref(), created.pid)?;
        lifecycle::start_created(&created.dir, &created.state)?;
        return Ok(0);
    }
    foreground::block_signals()?;
    // With a terminal and nobody to hand it to, berth keeps the master and
    // copies it to its own stdio, as runc does.
    let console = match &a.console_socket {
        Some(p) => Console::Socket(Some(p.clone())),
        None => Console::Keep,
    };
    let created = create(store, &opts, console)?;
    let pid = created.pid;
    let ours = created.console;
    let result = (|| {
        let master = match &ours {
            Some(s) => Some(terminal::recv_master(s.as_raw_fd())?),
            None => None,
        };
        send_pidfd(a.pidfd_socket.as_deref(), pid)?;
        lifecycle::start_created(&created.dir, &created.state)?;
        // Let other commands (state, kill) lock the container while it runs.
        drop(created.dir);
        foreground::wait(pid, master)
    })();
    if !keep || result.is_err() {
        if result.is_err() {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        lifecycle::delete(store, &opts.id, true)?;
    }
    result
}

/// `--pidfd-socket`: a pidfd of the container's process, sent as runc 1.2
/// sends it (SCM_RIGHTS over a connected unix socket).
pub fn send_pidfd(socket: Option<&std::path::Path>, pid: Pid) -> Result<()> {
    let Some(path) = socket else {
        return Ok(());
    };
    let sock = UnixStream::connect(path).sys_path("connect to the pidfd socket", path)?;
    // Our unreaped child: the pid cannot have been reused.
    let fd = pidfd::open_or_err(pid.as_raw())?;
    let fds = [fd.as_raw_fd()];
    let iov = [std::io::IoSlice::new(b"pidfd")];
    nix::sys::socket::sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[nix::sys::socket::ControlMessage::ScmRights(&fds)],
        nix::sys::socket::MsgFlags::empty(),
        None,
    )
    .sys("send the pidfd")?;
    Ok(())
}
