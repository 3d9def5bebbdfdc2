//! The copier: one thread per process moving every stream of its stdio,
//! until each ends or the cancel pipe says stop.

use std::cell::Cell;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use nix::fcntl::SpliceFFlags;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::SharedWriter;

/// One direction of copying: from a process's pipe (or the pty master) to
/// containerd's fifo, or from containerd's stdin fifo to the process.
pub(super) struct Stream {
    pub(super) src: File,
    pub(super) dst: Sink,
}

pub(super) enum Sink {
    Output(File),
    /// stdin, which CloseIO may close under the copier.
    Input(SharedWriter),
}

/// Set once by the copier when every output stream has ended; `finish`
/// waits for it without polling.
#[derive(Default)]
pub(super) struct Done {
    set: Mutex<bool>,
    changed: Condvar,
}

impl Done {
    pub(super) fn set(&self) {
        *self.set.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.changed.notify_all();
    }

    /// Whether it was set by `deadline`.
    pub(super) fn wait(&self, deadline: Instant) -> bool {
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
pub(super) fn copy_all(mut streams: Vec<Stream>, cancel: &OwnedFd, outputs_done: &Done) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stdio::pipe;
    use nix::fcntl::OFlag;
    use std::sync::Arc;

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
}
