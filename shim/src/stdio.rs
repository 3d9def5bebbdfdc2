//! A container process's stdio, kept by the shim so it outlives containerd.
//!
//! containerd names each stream by URI:
//! - a plain path (or `fifo://`): a fifo containerd reads or writes. The
//!   process gets a pipe and a shim thread copies between pipe and fifo,
//!   so the process never sees containerd come and go. Output fifos are
//!   opened read-write, so a missing reader blocks rather than breaks the
//!   process, as containerd's own shim does.
//! - `file:///path`: the process writes to the file directly, no copy.
//! - `binary:///path?k=v`: a logging program gets the read ends of the
//!   stdout and stderr pipes as fds 3 and 4 and closes fd 5 when ready.
//!
//! With a terminal, the runtime sends the pty master through a console
//! socket; stdin and stdout are copied to and from it.
//!
//! Copy loops poll a cancel pipe beside their source, so delete can stop a
//! copy that would otherwise wait for a writer that never comes.

use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::fcntl::{OFlag, SpliceFFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::error::{Error, Result};
use crate::reaper;
use crate::runtime::ChildIo;

/// The stdio a task or exec request asks for.
#[derive(Clone, Debug, Default)]
pub struct StdioSpec {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

/// Who owns the pipes (`io_uid`/`io_gid`), so a non-root process can
/// reopen its own /proc/self/fd/N.
#[derive(Clone, Copy, Debug, Default)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// What the logging binary is told about the container.
pub struct LogContext<'a> {
    pub namespace: &'a str,
    pub id: &'a str,
}

type SharedWriter = Arc<Mutex<Option<File>>>;

/// The shim's side of one process's stdio.
pub struct ProcessIo {
    spec: StdioSpec,
    owner: Owner,
    /// Where stdin data goes (a pipe, or the pty master); None once closed.
    stdin: SharedWriter,
    console: Option<File>,
    /// Streams gathered until the copier thread starts.
    streams: Vec<Stream>,
    copier: Option<JoinHandle<()>>,
    /// Set by the copier once every output stream has ended.
    outputs_done: Arc<Done>,
    /// The copier's control pipe: `x` stops it, `w` wakes it to look at
    /// its streams again (stdin closed).
    cancel: OwnedFd,
    cancel_reader: Option<OwnedFd>,
}

/// One direction of copying: from a process's pipe (or the pty master) to
/// containerd's fifo, or from containerd's stdin fifo to the process.
struct Stream {
    src: File,
    dst: Sink,
}

enum Sink {
    Output(File),
    /// stdin, which CloseIO may close under the copier.
    Input(SharedWriter),
}

/// A listening console socket in a private directory.
pub struct ConsoleSocket {
    dir: PathBuf,
    listener: UnixListener,
}

impl ProcessIo {
    /// Sets up the shim side and returns the process side of its stdio,
    /// plus the console socket the runtime must send a pty master to.
    pub fn prepare(
        spec: &StdioSpec,
        owner: Owner,
        log: LogContext,
    ) -> Result<(ProcessIo, ChildIo, Option<ConsoleSocket>)> {
        let (cancel_reader, cancel) = pipe()?;
        let mut pio = ProcessIo {
            spec: spec.clone(),
            owner,
            stdin: Arc::new(Mutex::new(None)),
            console: None,
            streams: Vec::new(),
            copier: None,
            outputs_done: Arc::new(Done::default()),
            cancel,
            cancel_reader: Some(cancel_reader),
        };
        let child = pio.prepare_streams(log)?;
        let console = if spec.terminal {
            Some(ConsoleSocket::new()?)
        } else {
            pio.start_copier();
            None
        };
        Ok((pio, child, console))
    }

    fn prepare_streams(&mut self, log: LogContext) -> Result<ChildIo> {
        let pio = self;
        let spec = pio.spec.clone();
        if spec.terminal {
            return Ok(ChildIo::default());
        }
        let mut child = ChildIo::default();
        if !spec.stdin.is_empty() {
            let (r, w) = pio.owned_pipe()?;
            child.stdin = Some(r);
            *pio.stdin.lock().unwrap() = Some(File::from(w));
            pio.copy_stdin(fifo_path(&spec.stdin)?)?;
        }
        match Uri::parse(&spec.stdout)? {
            Uri::None => {}
            Uri::Fifo(path) => {
                let (r, w) = pio.owned_pipe()?;
                child.stdout = Some(w);
                pio.copy_output(r, &path)?;
            }
            Uri::File(path) => {
                let f = open_log_file(&path)?;
                child.stderr = Some(
                    f.try_clone()
                        .map_err(Error::io(format!("dup {}", path.display())))?
                        .into(),
                );
                child.stdout = Some(f.into());
                return Ok(child);
            }
            Uri::Binary(path, args) => {
                let (out_r, out_w) = pio.owned_pipe()?;
                let (err_r, err_w) = pio.owned_pipe()?;
                start_logger(&path, &args, &log, out_r, err_r)?;
                child.stdout = Some(out_w);
                child.stderr = Some(err_w);
                return Ok(child);
            }
        }
        match Uri::parse(&spec.stderr)? {
            Uri::Fifo(path) => {
                let (r, w) = pio.owned_pipe()?;
                child.stderr = Some(w);
                pio.copy_output(r, &path)?;
            }
            Uri::None => {}
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "stderr {:?}: file and binary logging are set through stdout",
                    spec.stderr
                )))
            }
        }
        Ok(child)
    }

    /// Takes the pty master the runtime sent and starts copying.
    pub fn attach_console(&mut self, socket: ConsoleSocket) -> Result<()> {
        let master = socket.receive()?;
        let dup = master
            .try_clone()
            .map_err(Error::io("dup the console master"))?;
        if !self.spec.stdin.is_empty() {
            *self.stdin.lock().unwrap() = Some(
                master
                    .try_clone()
                    .map_err(Error::io("dup the console master"))?,
            );
            self.copy_stdin(fifo_path(&self.spec.stdin)?)?;
        }
        if let Uri::Fifo(path) = Uri::parse(&self.spec.stdout)? {
            self.copy_output(dup.into(), &path)?;
        }
        self.console = Some(master);
        self.start_copier();
        Ok(())
    }

    pub fn resize(&self, width: u32, height: u32) -> Result<()> {
        let Some(master) = &self.console else {
            return Err(Error::FailedPrecondition(
                "the process has no terminal".into(),
            ));
        };
        let ws = libc::winsize {
            ws_row: height as u16,
            ws_col: width as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which is
        // valid for the duration of the call; the fd is an open pty master.
        if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
            return Err(Error::Io {
                context: "ioctl TIOCSWINSZ on the console".into(),
                err: std::io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// CloseIO: the process sees end of file on stdin.
    pub fn close_stdin(&self) {
        self.stdin.lock().unwrap().take();
        // The copier holds a duplicate while it polls: wake it to drop it.
        let _ = nix::unistd::write(&self.cancel, b"w");
    }

    /// Waits for the output copies to drain (the process and everything
    /// holding its stdout gone), at most `limit`, then stops the copier.
    pub fn finish(mut self, limit: Duration) {
        if self.copier.is_some() {
            self.outputs_done.wait(Instant::now() + limit);
        }
        let _ = nix::unistd::write(&self.cancel, b"x");
        if let Some(c) = self.copier.take() {
            let _ = c.join();
        }
    }

    fn owned_pipe(&self) -> Result<(OwnedFd, OwnedFd)> {
        let (r, w) = pipe()?;
        for fd in [&r, &w] {
            nix::unistd::fchown(
                fd.as_raw_fd(),
                Some(self.owner.uid.into()),
                Some(self.owner.gid.into()),
            )
            .map_err(|e| Error::Io {
                context: "fchown a stdio pipe to io_uid/io_gid".into(),
                err: e.into(),
            })?;
        }
        Ok((r, w))
    }

    fn copy_stdin(&mut self, fifo: PathBuf) -> Result<()> {
        // A non-blocking open never waits for a writer; poll reports
        // POLLHUP only once a writer has come and gone.
        let src = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .map_err(Error::io(format!("open stdin fifo {}", fifo.display())))?;
        self.streams.push(Stream {
            src,
            dst: Sink::Input(self.stdin.clone()),
        });
        Ok(())
    }

    fn copy_output(&mut self, src: OwnedFd, fifo: &Path) -> Result<()> {
        // Read-write: the open never waits for containerd, and a reader
        // that goes away leaves a full pipe, not EPIPE.
        let dst = OpenOptions::new()
            .read(true)
            .write(true)
            .open(fifo)
            .map_err(Error::io(format!("open output fifo {}", fifo.display())))?;
        self.streams.push(Stream {
            src: File::from(src),
            dst: Sink::Output(dst),
        });
        Ok(())
    }

    /// One thread per process moves every stream of it.
    fn start_copier(&mut self) {
        let streams = std::mem::take(&mut self.streams);
        let done = self.outputs_done.clone();
        let Some(cancel) = self.cancel_reader.take() else {
            return;
        };
        if streams.is_empty() {
            done.set();
            return;
        }
        self.copier = Some(
            std::thread::Builder::new()
                .name("io".into())
                .stack_size(64 * 1024)
                .spawn(move || copy_all(streams, &cancel, &done))
                .expect("spawn the io thread"),
        );
    }
}

/// Set once by the copier when every output stream has ended; `finish`
/// waits for it without polling.
#[derive(Default)]
struct Done {
    set: Mutex<bool>,
    changed: Condvar,
}

impl Done {
    fn set(&self) {
        *self.set.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.changed.notify_all();
    }

    /// Whether it was set by `deadline`.
    fn wait(&self, deadline: Instant) -> bool {
        let guard = self.set.lock().unwrap_or_else(|e| e.into_inner());
        let left = deadline.saturating_duration_since(Instant::now());
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, left, |set| !*set)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }
}

/// Moves data for every stream until each ends (end of file, an error,
/// stdin closed by CloseIO) or the cancel pipe becomes readable.
///
/// Every stream has a pipe on at least one side (the process's pipe or
/// containerd's fifo), so data moves with splice(2) inside the kernel: no
/// buffer in the shim. Splices are non-blocking; a stream whose
/// destination is full waits for it to drain (POLLOUT) rather than block
/// the others: a process blocked writing stdout must still get its stdin.
fn copy_all(mut streams: Vec<Stream>, cancel: &OwnedFd, outputs_done: &Done) {
    // For each stream: waiting for its destination to drain?
    let mut blocked = vec![false; streams.len()];
    let mark_outputs = |streams: &[Stream]| {
        if !streams.iter().any(|s| matches!(s.dst, Sink::Output(_))) {
            outputs_done.set();
        }
    };
    mark_outputs(&streams);
    while !streams.is_empty() {
        // stdin's writer is duplicated for the round: CloseIO may close
        // the original under us.
        let inputs: Vec<Option<File>> = streams.iter().map(Stream::input).collect();
        let sinks: Vec<Option<&File>> = streams
            .iter()
            .zip(&inputs)
            .map(|(s, i)| match &s.dst {
                Sink::Output(f) => Some(f),
                Sink::Input(_) => i.as_ref(),
            })
            .collect();
        let mut fds = vec![PollFd::new(cancel.as_fd(), PollFlags::POLLIN)];
        for (n, s) in streams.iter().enumerate() {
            fds.push(match (sinks[n], blocked[n]) {
                (Some(dst), true) => PollFd::new(dst.as_fd(), PollFlags::POLLOUT),
                _ => PollFd::new(s.src.as_fd(), PollFlags::POLLIN),
            });
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
        if fds[0].any().unwrap_or(true) {
            let mut byte = [0u8; 1];
            match nix::unistd::read(cancel.as_raw_fd(), &mut byte) {
                Ok(1) if byte[0] == b'w' => continue,
                _ => return,
            }
        }
        let ready: Vec<PollFlags> = fds[1..]
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect();
        drop(fds);
        let mut ended = Vec::new();
        for (n, s) in streams.iter().enumerate() {
            if ready[n].is_empty() {
                continue;
            }
            let Some(dst) = sinks[n] else {
                ended.push(n);
                continue;
            };
            blocked[n] = false;
            match splice(&s.src, dst) {
                Ok(0) => ended.push(n),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if writable(dst) {
                        // Nothing to read after all; a hang-up with no
                        // data left ends the stream.
                        if ready[n].contains(PollFlags::POLLHUP) {
                            ended.push(n);
                        }
                    } else {
                        blocked[n] = true;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // EIO: every pty slave is closed.
                Err(_) => ended.push(n),
            }
        }
        for n in ended.into_iter().rev() {
            let s = streams.remove(n);
            blocked.remove(n);
            if let Sink::Input(w) = &s.dst {
                // End of input: the process sees EOF.
                w.lock().unwrap().take();
            }
        }
        mark_outputs(&streams);
    }
}

impl Stream {
    /// A duplicate of stdin's writer; None once closed (or for outputs).
    fn input(&self) -> Option<File> {
        match &self.dst {
            Sink::Output(_) => None,
            Sink::Input(w) => w.lock().unwrap().as_ref().and_then(|f| f.try_clone().ok()),
        }
    }
}

fn writable(f: &File) -> bool {
    let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLOUT)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(1))
}

thread_local! {
    /// Set once splice(2) refused this thread's stream (a tty on a kernel
    /// without tty splice): it then copies through a small buffer.
    static NO_SPLICE: Cell<bool> = const { Cell::new(false) };
}

/// Moves up to a pipe's worth of data from `src` to `dst`, called once
/// poll says `src` has data (or hung up: then it returns 0). EAGAIN means
/// one side is not ready.
fn splice(src: &File, dst: &File) -> std::io::Result<usize> {
    if !NO_SPLICE.get() {
        match splice_once(src, dst) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => NO_SPLICE.set(true),
            other => return other,
        }
    }
    let mut buf = [0u8; 4096];
    let n = (&mut &*src).read(&mut buf)?;
    (&mut &*dst).write_all(&buf[..n])?;
    Ok(n)
}

fn splice_once(src: &File, dst: &File) -> std::io::Result<usize> {
    // No offsets: pipes are read and written at their file position.
    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
    Ok(nix::fcntl::splice(src, None, dst, None, 64 * 1024, flags)?)
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::Io {
        context: "pipe2".into(),
        err: e.into(),
    })
}

enum Uri {
    None,
    Fifo(PathBuf),
    File(PathBuf),
    Binary(PathBuf, Vec<(String, String)>),
}

impl Uri {
    fn parse(s: &str) -> Result<Uri> {
        if s.is_empty() {
            return Ok(Uri::None);
        }
        let Some((scheme, rest)) = s.split_once("://") else {
            return Ok(Uri::Fifo(PathBuf::from(s)));
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let path = PathBuf::from(percent_decode(path));
        if !path.is_absolute() {
            return Err(Error::InvalidArgument(format!(
                "stdio URI {s:?}: the path must be absolute"
            )));
        }
        match scheme {
            "fifo" => Ok(Uri::Fifo(path)),
            "file" => Ok(Uri::File(path)),
            "binary" => {
                let args = query
                    .split('&')
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                        (percent_decode(k), percent_decode(v))
                    })
                    .collect();
                Ok(Uri::Binary(path, args))
            }
            other => Err(Error::InvalidArgument(format!(
                "stdio URI {s:?}: unknown scheme {other:?} (fifo, file and binary are supported)"
            ))),
        }
    }
}

fn fifo_path(s: &str) -> Result<PathBuf> {
    match Uri::parse(s)? {
        Uri::Fifo(p) => Ok(p),
        _ => Err(Error::InvalidArgument(format!(
            "stdin {s:?} must be a fifo"
        ))),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn open_log_file(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(format!("mkdir {}", dir.display())))?;
    }
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(Error::io(format!("open log file {}", path.display())))
}

/// Starts a logging binary the way containerd's shims do: stdout and
/// stderr pipes on fds 3 and 4, and fd 5 closed once it is ready.
fn start_logger(
    path: &Path,
    args: &[(String, String)],
    log: &LogContext,
    stdout: OwnedFd,
    stderr: OwnedFd,
) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let (ready_r, ready_w) = pipe()?;
    let mut cmd = Command::new(path);
    for (k, v) in args {
        if v.is_empty() {
            cmd.arg(k);
        } else {
            cmd.arg(k).arg(v);
        }
    }
    cmd.env("CONTAINER_ID", log.id)
        .env("CONTAINER_NAMESPACE", log.namespace)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let fds = [stdout.as_raw_fd(), stderr.as_raw_fd(), ready_w.as_raw_fd()];
    // SAFETY: between fork and exec the closure only calls dup2, which is
    // async-signal-safe; the source fds stay open in the parent until
    // spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            for (i, fd) in fds.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    reaper::spawn_unwatched(&mut cmd).map_err(Error::io(format!(
        "start logging binary {}",
        path.display()
    )))?;
    drop((stdout, stderr, ready_w));
    // The logger closes (or writes to) fd 5 once it reads its pipes.
    let mut ready = File::from(ready_r);
    let mut fds = [PollFd::new(ready.as_fd(), PollFlags::POLLIN)];
    let _ = poll(&mut fds, PollTimeout::from(10_000u16));
    let mut b = [0u8; 1];
    let _ = ready.read(&mut b);
    Ok(())
}

impl ConsoleSocket {
    fn new() -> Result<ConsoleSocket> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "berth-shim-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(Error::io(format!("mkdir {}", dir.display())))?;
        let path = dir.join("pty.sock");
        match UnixListener::bind(&path) {
            Ok(listener) => Ok(ConsoleSocket { dir, listener }),
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                Err(Error::Io {
                    context: format!("bind console socket {}", path.display()),
                    err: e,
                })
            }
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("pty.sock")
    }

    /// Receives the pty master. The runtime sent it before its `create` or
    /// `exec` returned, so it is already queued on the socket.
    fn receive(self) -> Result<File> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        let fail = |what: &str| {
            Error::FailedPrecondition(format!("console socket {}: {what}", self.path().display()))
        };
        self.listener
            .set_nonblocking(true)
            .map_err(Error::io("console socket"))?;
        // Should the connection still be on its way, it is waited for (at
        // most 10 s) on the listener, not by retrying.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut fds = [PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
            let left = deadline
                .saturating_duration_since(Instant::now())
                .as_millis();
            let left = PollTimeout::try_from(left as i32).unwrap_or(PollTimeout::ZERO);
            if poll(&mut fds, left) != Err(nix::errno::Errno::EINTR) {
                break;
            }
        }
        let conn = match self.listener.accept() {
            Ok((c, _)) => c,
            Err(_) => return Err(fail("the runtime sent no terminal")),
        };
        conn.set_nonblocking(false)
            .map_err(Error::io("console socket"))?;
        let mut buf = [0u8; 4096];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| Error::Io {
            context: "recvmsg on the console socket".into(),
            err: e.into(),
        })?;
        for cmsg in msg.cmsgs().map_err(|_| fail("bad control message"))? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                if let Some(&fd) = fds.first() {
                    for extra in &fds[1..] {
                        // SAFETY: the kernel just gave us these fds; nothing
                        // else owns them.
                        drop(unsafe { OwnedFd::from_raw_fd(*extra) });
                    }
                    // SAFETY: as above: a fresh fd owned by nobody else.
                    return Ok(unsafe { File::from_raw_fd(fd) });
                }
            }
        }
        Err(fail("no file descriptor in the message"))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path());
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert!(matches!(Uri::parse("").unwrap(), Uri::None));
        assert!(
            matches!(Uri::parse("/run/x/stdout").unwrap(), Uri::Fifo(p) if p == Path::new("/run/x/stdout"))
        );
        assert!(
            matches!(Uri::parse("file:///var/log/a%20b.log").unwrap(), Uri::File(p) if p == Path::new("/var/log/a b.log"))
        );
        match Uri::parse("binary:///usr/bin/logger?id=abc&flag").unwrap() {
            Uri::Binary(p, args) => {
                assert_eq!(p, Path::new("/usr/bin/logger"));
                assert_eq!(
                    args,
                    vec![("id".into(), "abc".into()), ("flag".into(), String::new())]
                );
            }
            _ => panic!("binary URI"),
        }
        assert!(Uri::parse("http://x/y").is_err());
        assert!(Uri::parse("file://relative").is_err());
    }

    /// A stream whose destination is full must not hold up the others: a
    /// process blocked on stdout still gets its stdin.
    #[test]
    fn a_full_destination_blocks_only_its_own_stream() {
        let (a_src_r, a_src_w) = pipe().unwrap();
        let (a_dst_r, a_dst_w) = pipe().unwrap();
        let (b_src_r, b_src_w) = pipe().unwrap();
        let (b_dst_r, b_dst_w) = pipe().unwrap();
        let (cancel_r, cancel_w) = pipe().unwrap();
        let fill = File::from(a_dst_w);
        nix::fcntl::fcntl(
            fill.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK),
        )
        .unwrap();
        let mut filled = 0;
        while (&fill).write(&[0u8; 4096]).is_ok() {
            filled += 4096;
        }
        let streams = vec![
            Stream {
                src: File::from(a_src_r),
                dst: Sink::Output(fill),
            },
            Stream {
                src: File::from(b_src_r),
                dst: Sink::Output(File::from(b_dst_w)),
            },
        ];
        let done = Arc::new(Done::default());
        let d = done.clone();
        let copier = std::thread::spawn(move || copy_all(streams, &cancel_r, &d));
        let (mut a_in, mut b_in) = (File::from(a_src_w), File::from(b_src_w));
        a_in.write_all(b"stuck").unwrap();
        b_in.write_all(b"hello").unwrap();
        let mut got = [0u8; 5];
        File::from(b_dst_r).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
        // Drain A's destination: its data follows.
        let mut a_out = File::from(a_dst_r);
        let mut all = vec![0u8; filled + 5];
        a_out.read_exact(&mut all).unwrap();
        assert_eq!(&all[filled..], b"stuck");
        drop((a_in, b_in));
        copier.join().unwrap();
        assert!(done.wait(Instant::now()), "every output ended");
        drop(cancel_w);
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
    }
}
