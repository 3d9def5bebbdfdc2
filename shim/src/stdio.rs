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
//!
//! Here is each process's side of it, [`ProcessIo`]; `uri` reads the URIs,
//! `copy` is the copier thread, `logging` the file and binary logs, and
//! `console` the socket a terminal arrives on.

mod console;
mod copy;
mod logging;
mod uri;

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;

use crate::error::{Error, Result};
use crate::runtime::ChildIo;

pub use console::ConsoleSocket;
use copy::{copy_all, Done, Sink, Stream};
use logging::{open_log_file, start_logger};
use uri::{fifo_path, Uri};

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

/// Whether a process's output has all been copied to containerd's fifos
/// (every output stream at its end of file): see [`ProcessIo::drained`].
#[derive(Clone)]
pub struct Drained(Arc<Done>);

impl Drained {
    /// Waits for it, at most `limit`; whether it came.
    pub fn wait(&self, limit: Duration) -> bool {
        self.0.wait(Instant::now() + limit)
    }
}

/// The shim's side of one process's stdio.
pub struct ProcessIo {
    spec: StdioSpec,
    owner: Owner,
    /// Raised by CloseIO; the copier ends stdin once containerd's fifo
    /// has nothing more for it.
    stdin_closing: Arc<AtomicBool>,
    console: Option<File>,
    /// Streams gathered until the copier thread starts.
    streams: Vec<Stream>,
    copier: Option<JoinHandle<()>>,
    /// Set by the copier once every output stream has ended.
    outputs_done: Arc<Done>,
    /// The copier's control pipe: `x` stops it, `w` wakes it to look at
    /// its streams again (stdin closing).
    cancel: OwnedFd,
    cancel_reader: Option<OwnedFd>,
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
            stdin_closing: Arc::new(AtomicBool::new(false)),
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
            pio.copy_stdin(fifo_path(&spec.stdin)?, File::from(w))?;
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
            let input = master
                .try_clone()
                .map_err(Error::io("dup the console master"))?;
            self.copy_stdin(fifo_path(&self.spec.stdin)?, input)?;
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

    /// CloseIO: the process sees end of file on stdin once it has what
    /// containerd wrote to the fifo before asking (a client writes its
    /// last data, then sends CloseIO: that data may not have been copied
    /// yet, say while the process's stdin pipe is full).
    pub fn close_stdin(&self) {
        self.stdin_closing.store(true, Ordering::SeqCst);
        // Wake the copier, which may be waiting for more input.
        let _ = nix::unistd::write(&self.cancel, b"w");
    }

    /// Set once the process's output is all in containerd's fifos (at
    /// once without a copier: file or binary logging, no output).
    pub fn drained(&self) -> Drained {
        Drained(self.outputs_done.clone())
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

    /// Copies containerd's stdin fifo to `input`, the process's stdin.
    fn copy_stdin(&mut self, fifo: PathBuf, input: File) -> Result<()> {
        // A non-blocking open never waits for a writer; poll reports
        // POLLHUP only once a writer has come and gone.
        let src = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .map_err(Error::io(format!("open stdin fifo {}", fifo.display())))?;
        self.streams.push(Stream {
            src,
            dst: Sink::Input {
                dst: input,
                closing: self.stdin_closing.clone(),
            },
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

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::Io {
        context: "pipe2".into(),
        err: e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Duration;

    /// Bytes waiting in a pipe or fifo.
    fn queued(fd: &impl AsRawFd) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the pointer, valid for
        // the call; the descriptor is open.
        assert_eq!(
            unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) },
            0
        );
        n as usize
    }

    /// A client writes its last data and then sends CloseIO (ctr does,
    /// before closing its end of the fifo). Data still in the fifo, not
    /// yet copied because the process's stdin pipe is full, reaches the
    /// process before its end of file.
    #[test]
    fn close_io_delivers_what_the_fifo_still_holds() {
        let dir = std::env::temp_dir().join(format!("berth-closeio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("stdin");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let spec = StdioSpec {
            stdin: fifo.to_string_lossy().into_owned(),
            ..Default::default()
        };
        let owner = Owner {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
        };
        let log = LogContext {
            namespace: "test",
            id: "closeio",
        };
        let (pio, child, console) = ProcessIo::prepare(&spec, owner, log).unwrap();
        assert!(console.is_none());
        let process_stdin = File::from(child.stdin.expect("a stdin pipe"));

        // The shim has the fifo open for reading: this open does not wait.
        let mut client = OpenOptions::new().write(true).open(&fifo).unwrap();
        // More than the process's pipe holds, less than pipe and fifo do.
        const LEN: usize = 100 * 1024;
        let input: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
        client.write_all(&input).unwrap();
        // The process reads nothing yet: its pipe fills, the rest stays in
        // the fifo.
        let deadline = Instant::now() + Duration::from_secs(10);
        while queued(&process_stdin) + queued(&client) < LEN || queued(&client) == 0 {
            assert!(Instant::now() < deadline, "the copier fills no pipe");
            std::thread::sleep(Duration::from_millis(10));
        }
        pio.close_stdin();
        drop(client);

        let mut got = Vec::new();
        (&process_stdin).read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), LEN, "stdin was cut short");
        assert!(got == input, "stdin came through changed");
        pio.finish(Duration::ZERO);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
