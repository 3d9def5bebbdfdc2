//! OCI hooks (config.md, "POSIX-platform Hooks").
//!
//! A hook is a program run with the container's state JSON on its stdin. We
//! run it as runc does: argv and environment exactly as configured, the
//! bundle as working directory, stdout and stderr captured for the error
//! message. Everything happens in one poll(2) loop, because berth has no
//! threads: the state is written without blocking (a hook need not read it),
//! the output is drained so the hook never blocks on a full pipe, and a
//! pidfd tells when the hook has exited or the timeout has passed.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use oci_spec::runtime::Hook;

use crate::error::{Context, Error, Result, SysResult};
pub use crate::oci::hooks::Kind;

/// What a hook's process runs last before its execve, in the forked
/// child: raw system calls only (startContainer hooks: the container's
/// seccomp filter, see init/seccomp.rs).
pub type BeforeExec = std::sync::Arc<dyn Fn() -> io::Result<()> + Send + Sync>;

/// Runs each hook in order, stopping at the first failure.
/// `state` is the container's state JSON (written to each hook's stdin).
/// `cwd` is the directory the hook runs in (the bundle, as runc does).
pub fn run_all(kind: Kind, hooks: &[Hook], state: &[u8], cwd: &Path) -> Result<()> {
    run_all_then(kind, hooks, state, cwd, None)
}

/// [`run_all`], each hook's process running `before_exec` last.
pub fn run_all_then(
    kind: Kind,
    hooks: &[Hook],
    state: &[u8],
    cwd: &Path,
    before_exec: Option<&BeforeExec>,
) -> Result<()> {
    hooks
        .iter()
        .try_for_each(|h| run(kind, h, state, cwd, before_exec))
}

/// Like [`run_all`] but failures are logged with `log::warn!` and every hook
/// runs (poststart, poststop: the container's fate is already decided).
pub fn run_all_warn(kind: Kind, hooks: &[Hook], state: &[u8], cwd: &Path) {
    for h in hooks {
        if let Err(e) = run(kind, h, state, cwd, None) {
            log::warn!("{e}");
        }
    }
}

/// How much of each of stdout and stderr is kept for the error message.
const CAPTURE_LIMIT: usize = 4096;

fn run(
    kind: Kind,
    hook: &Hook,
    state: &[u8],
    cwd: &Path,
    before_exec: Option<&BeforeExec>,
) -> Result<()> {
    let path = hook.path();
    let what = format!("{} hook {}", kind.name(), path.display());
    // A relative path would be looked up in the hook's PATH by std.
    if !path.is_absolute() {
        return Err(Error::invalid(format!("{what}: path must be absolute")));
    }
    let timeout = match hook.timeout() {
        None => None,
        Some(t) if t > 0 => Some(t as u64),
        Some(t) => {
            return Err(Error::invalid(format!(
                "{what}: timeout must be greater than zero, not {t}"
            )))
        }
    };
    let mut cmd = Command::new(path);
    // Without args std passes the program as argv[0], which is what the
    // spec's execv semantics give for an empty argv too.
    if let Some([argv0, rest @ ..]) = hook.args().as_deref() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(Error::invalid(format!(
                "{what}: env entry {kv:?} is not KEY=VALUE"
            )));
        };
        cmd.env(k, v);
    }
    cmd.current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(f) = before_exec {
        let f = f.clone();
        // SAFETY: the closure runs in the forked child, after std has set
        // up its stdio and cwd and right before execve; berth has no
        // threads, and the closure makes raw system calls only.
        unsafe { cmd.pre_exec(move || f()) };
    }

    log::debug!("running {what}");
    let started = Instant::now();
    // Exec failures (ENOENT, EACCES, a bad cwd) come back from spawn: std
    // reports the child's errno through a pipe and reaps it.
    let child = cmd.spawn().sys("start").context(&what)?;
    let mut child = Reaper(Some(child));
    // After spawn, so the hook never inherits the ignored disposition.
    let _sigpipe = SigpipeIgnored::install().context(&what)?;
    let deadline = timeout.and_then(|t| started.checked_add(Duration::from_secs(t)));
    let outcome = supervise(&mut child, state, deadline).context(&what)?;

    let detail = match outcome.status {
        Some(s) if s.success() => return Ok(()),
        Some(s) => describe(s),
        None => format!("timed out after {} s", timeout.unwrap_or_default()),
    };
    Err(failed(
        &what,
        format!(
            "{detail}{}{}",
            outcome.stdout.show("stdout"),
            outcome.stderr.show("stderr")
        ),
    ))
}

/// A hook that ran and failed: a failed operation, though without an errno.
fn failed(what: &str, detail: String) -> Error {
    Err::<(), _>(io::Error::other(detail))
        .sys(what)
        .unwrap_err()
}

fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(n) => {
            let name = Signal::try_from(n).map_or_else(|_| n.to_string(), |s| s.to_string());
            let core = if status.core_dumped() {
                " (core dumped)"
            } else {
                ""
            };
            format!("killed by signal {name}{core}")
        }
        None => status.to_string(),
    }
}

/// Owns the hook's process until it is reaped: every early return kills
/// and reaps it, so no hook outlives a failed run, nor stays a zombie.
struct Reaper(Option<Child>);

impl Reaper {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("the hook has not been reaped")
    }

    fn wait(&mut self) -> Result<ExitStatus> {
        let status = self.child().wait().sys("wait")?;
        self.0 = None;
        Ok(status)
    }

    fn kill(&mut self) -> Result<ExitStatus> {
        // The kill can only fail when the hook has already exited, and then
        // the wait reaps it just the same.
        let _ = self.child().kill();
        self.wait()
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Writing the state to a hook that exited without reading it must fail
/// with EPIPE instead of killing us. Rust's runtime ignores SIGPIPE, but our
/// caller may have restored the default (init does, before its execve).
struct SigpipeIgnored(SigAction);

impl SigpipeIgnored {
    fn install() -> Result<Self> {
        let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
        // SAFETY: SIG_IGN runs no code; the previous action is put back on
        // drop, in this single-threaded process.
        let old = unsafe { sigaction(Signal::SIGPIPE, &ignore) }.sys("ignore SIGPIPE")?;
        Ok(SigpipeIgnored(old))
    }
}

impl Drop for SigpipeIgnored {
    fn drop(&mut self) {
        // SAFETY: reinstalls the action that was in place before install().
        let _ = unsafe { sigaction(Signal::SIGPIPE, &self.0) };
    }
}

/// The first CAPTURE_LIMIT bytes of a stream.
#[derive(Default)]
struct Capture {
    buf: Vec<u8>,
    truncated: bool,
}

impl Capture {
    fn push(&mut self, data: &[u8]) {
        let n = data.len().min(CAPTURE_LIMIT - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.truncated |= n < data.len();
    }

    /// `; stderr: "..."` for the error message, or nothing.
    fn show(&self, name: &str) -> String {
        let text = String::from_utf8_lossy(&self.buf);
        let text = text.trim_end();
        if text.is_empty() {
            return String::new();
        }
        let more = if self.truncated { " (truncated)" } else { "" };
        format!("; {name}: {text:?}{more}")
    }
}

struct Outcome {
    /// None when the hook was killed for running past its timeout.
    status: Option<ExitStatus>,
    stdout: Capture,
    stderr: Capture,
}

fn supervise(child: &mut Reaper, state: &[u8], deadline: Option<Instant>) -> Result<Outcome> {
    // The hook is our unreaped child, so its pid cannot have been reused.
    let pidfd = crate::linux::pidfd::open_or_err(child.child().id() as libc::pid_t)?;
    let c = child.child();
    let mut input = c.stdin.take().map(OwnedFd::from).map(File::from);
    let mut outputs = [
        c.stdout.take().map(OwnedFd::from).map(File::from),
        c.stderr.take().map(OwnedFd::from).map(File::from),
    ];
    let mut captures = [Capture::default(), Capture::default()];
    for f in input.iter().chain(outputs.iter().flatten()) {
        set_nonblocking(f)?;
    }
    let mut written = 0;
    if state.is_empty() {
        input = None;
    }

    let status = loop {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break None;
                }
                // Rounded up: a poll that wakes just before the deadline
                // would otherwise spin with a zero timeout.
                let ms = left.as_nanos().div_ceil(1_000_000);
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let [exited, writable, out_ready, err_ready] = {
            let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
            let mut index = [None; 3];
            let wanted = [
                (input.as_ref(), PollFlags::POLLOUT),
                (outputs[0].as_ref(), PollFlags::POLLIN),
                (outputs[1].as_ref(), PollFlags::POLLIN),
            ];
            for (slot, (f, events)) in index.iter_mut().zip(wanted) {
                if let Some(f) = f {
                    *slot = Some(fds.len());
                    fds.push(PollFd::new(f.as_fd(), events));
                }
            }
            match poll(&mut fds, timeout) {
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("poll", e)),
                Ok(_) => {}
            }
            // Any event counts: POLLHUP and POLLERR are found out by the
            // read or write that follows.
            let ready = |i: Option<usize>| {
                i.and_then(|i| fds[i].revents())
                    .is_some_and(|r| !r.is_empty())
            };
            [
                ready(Some(0)),
                ready(index[0]),
                ready(index[1]),
                ready(index[2]),
            ]
        };

        if writable {
            if let Some(f) = &mut input {
                match f.write(&state[written..]) {
                    Ok(n) => written += n,
                    Err(e) if retry(&e) => {}
                    // The hook closed stdin or exited without reading it all;
                    // that is its business.
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => written = state.len(),
                    Err(e) => return Err(e).sys("write the state to stdin"),
                }
                if written == state.len() {
                    // EOF tells the hook the state is complete.
                    input = None;
                }
            }
        }
        for (i, ready) in [out_ready, err_ready].into_iter().enumerate() {
            if ready {
                read_some(&mut outputs[i], &mut captures[i])?;
            }
        }
        if exited {
            break Some(child.wait()?);
        }
    };
    let status = match status {
        Some(s) => Some(s),
        None => {
            child.kill()?;
            None
        }
    };
    // What the hook wrote before it exited is in the pipes already. We do
    // not wait for EOF: a process the hook left behind may hold them open.
    for (out, cap) in outputs.iter_mut().zip(captures.iter_mut()) {
        // Bounded, in case such a process keeps writing.
        for _ in 0..64 {
            if out.is_none() || cap.truncated || !read_some(out, cap)? {
                break;
            }
        }
    }
    let [stdout, stderr] = captures;
    Ok(Outcome {
        status,
        stdout,
        stderr,
    })
}

/// Reads once from a non-blocking pipe; closes it at EOF. Returns whether
/// there was data.
fn read_some(f: &mut Option<File>, cap: &mut Capture) -> Result<bool> {
    let Some(file) = f else {
        return Ok(false);
    };
    let mut buf = [0u8; 16384];
    match file.read(&mut buf) {
        Ok(0) => {
            *f = None;
            Ok(false)
        }
        Ok(n) => {
            cap.push(&buf[..n]);
            Ok(true)
        }
        Err(e) if retry(&e) => Ok(false),
        Err(e) => Err(e).sys("read the hook's output"),
    }
}

fn retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

fn set_nonblocking(f: &File) -> Result<()> {
    let fd = f.as_raw_fd();
    let flags = fcntl(fd, FcntlArg::F_GETFL).sys("fcntl F_GETFL")?;
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).sys("fcntl F_SETFL")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::HookBuilder;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("berth-hooks-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }

        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }

        /// A hook running `body` with /bin/sh; its $1 is `arg`. The script is
        /// given to sh rather than executed: a test thread that forks while
        /// another writes a script would make exec fail with ETXTBSY.
        fn sh(&self, name: &str, body: &str, arg: &Path) -> Hook {
            let script = self.path(name);
            std::fs::write(&script, body).unwrap();
            hook(
                "/bin/sh",
                &["sh", script.to_str().unwrap(), arg.to_str().unwrap()],
            )
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn hook(path: &str, args: &[&str]) -> Hook {
        let mut b = HookBuilder::default().path(path);
        if !args.is_empty() {
            b = b.args(args.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        }
        b.build().unwrap()
    }

    const STATE: &[u8] =
        br#"{"ociVersion":"1.2.0","id":"c","status":"creating","pid":1,"bundle":"/b"}"#;

    fn run1(h: &Hook) -> Result<()> {
        run_all(
            Kind::CreateRuntime,
            std::slice::from_ref(h),
            STATE,
            Path::new("/"),
        )
    }

    #[test]
    fn success() {
        run1(&hook("/bin/true", &[])).unwrap();
    }

    #[test]
    fn exit_status_and_output_in_the_message() {
        let e = run1(&hook("/bin/false", &[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "createRuntime hook /bin/false: exit status 1"
        );
        assert_eq!(e.kind(), crate::error::Kind::Sys);

        let d = TempDir::new();
        let h = d.sh(
            "fail.sh",
            "echo progress\necho 'bad \"thing\"' >&2\nexit 3\n",
            &d.0,
        );
        let e = run_all(Kind::Prestart, &[h], STATE, &d.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"prestart hook /bin/sh: exit status 3; stdout: "progress"; stderr: "bad \"thing\"""#
        );
    }

    #[test]
    fn killed_by_a_signal() {
        let d = TempDir::new();
        let h = d.sh("kill.sh", "kill -9 $$\n", &d.0);
        let e = run1(&h).unwrap_err();
        assert!(e.to_string().ends_with("killed by signal SIGKILL"), "{e}");
    }

    #[test]
    fn output_is_bounded() {
        let d = TempDir::new();
        let h = d.sh(
            "loud.sh",
            "head -c 1000000 /dev/zero | tr '\\0' a\necho oops >&2\nexit 1\n",
            &d.0,
        );
        let e = run1(&h).unwrap_err().to_string();
        assert!(e.len() < 2 * CAPTURE_LIMIT, "{} bytes", e.len());
        assert!(e.contains(r#"aaa" (truncated); stderr: "oops""#), "{e}");
    }

    #[test]
    fn state_on_stdin_and_cwd() {
        let d = TempDir::new();
        // Larger than a pipe buffer, so it takes several writes.
        let mut state = br#"{"id":"c","annotations":{"big":""#.to_vec();
        state.extend(vec![b'x'; 300_000]);
        state.extend_from_slice(br#""}}"#);
        let out = d.path("stdin");
        let h = d.sh("cat.sh", "cat > \"$1\"\npwd > \"$1.cwd\"\n", &out);
        run_all(Kind::CreateContainer, &[h], &state, &d.0).unwrap();
        assert!(std::fs::read(&out).unwrap() == state);
        let cwd = std::fs::read_to_string(d.path("stdin.cwd")).unwrap();
        assert_eq!(cwd.trim_end(), d.0.to_str().unwrap());
    }

    #[test]
    fn environment_is_exactly_the_hooks() {
        let d = TempDir::new();
        let out = d.path("env");
        let mut h = d.sh("env.sh", "env > \"$1\"\n", &out);
        h.set_env(Some(vec![
            "PATH=/hook-path:/usr/bin:/bin".into(),
            "FOO=bar baz=1".into(),
            "EMPTY=".into(),
        ]));
        run1(&h).unwrap();
        let env = std::fs::read_to_string(&out).unwrap();
        let mut keys = Vec::new();
        for line in env.lines() {
            let (k, v) = line.split_once('=').unwrap();
            match k {
                "PATH" => assert_eq!(v, "/hook-path:/usr/bin:/bin"),
                "FOO" => assert_eq!(v, "bar baz=1"),
                "EMPTY" => assert_eq!(v, ""),
                // Set by the shell itself.
                "PWD" | "OLDPWD" | "SHLVL" | "_" => {}
                _ => panic!("unexpected variable in the hook's environment: {line}"),
            }
            keys.push(k);
        }
        assert!(keys.contains(&"FOO") && keys.contains(&"EMPTY"), "{env}");
    }

    #[test]
    fn no_env_means_an_empty_environment() {
        let d = TempDir::new();
        let out = d.path("env");
        // `export -p` is a builtin: no PATH needed.
        let h = d.sh("env.sh", "export -p > \"$1\"\n", &out);
        run1(&h).unwrap();
        let env = std::fs::read_to_string(&out).unwrap();
        assert!(!env.contains("HOME=") && !env.contains("CARGO"), "{env}");
    }

    #[test]
    fn env_entry_without_equals_is_invalid() {
        let mut h = hook("/bin/true", &[]);
        h.set_env(Some(vec!["JUSTKEY".into()]));
        assert_eq!(run1(&h).unwrap_err().kind(), crate::error::Kind::Invalid);
    }

    /// argv of the shell that ran the test, read from /proc.
    fn argv_of(file: &Path) -> Vec<String> {
        let raw = std::fs::read(file).unwrap();
        raw.split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    #[test]
    fn args_zero_is_argv_zero() {
        let d = TempDir::new();
        let out = d.path("argv");
        // The trailing `true` keeps sh from exec'ing cat in its own place.
        let script = format!("cat /proc/$$/cmdline > {}; true", out.display());
        let h = hook("/bin/sh", &["not-sh", "-c", &script, "a0", "b"]);
        run1(&h).unwrap();
        assert_eq!(argv_of(&out), ["not-sh", "-c", &script, "a0", "b"]);
    }

    #[test]
    fn no_args_means_argv_is_the_path() {
        let d = TempDir::new();
        let out = d.path("argv");
        // Without arguments sh reads its script from stdin: the state.
        let script = format!("cat /proc/$$/cmdline > {}; true\n", out.display());
        for h in [hook("/bin/sh", &[]), {
            let mut h = hook("/bin/sh", &[]);
            h.set_args(Some(Vec::new()));
            h
        }] {
            run_all(Kind::Poststart, &[h], script.as_bytes(), &d.0).unwrap();
            assert_eq!(argv_of(&out), ["/bin/sh"]);
            std::fs::remove_file(&out).unwrap();
        }
    }

    #[test]
    fn hook_starts_with_sigpipe_at_default() {
        let d = TempDir::new();
        let out = d.path("status");
        let h = d.sh("sig.sh", "cat /proc/$$/status > \"$1\"\n", &out);
        run1(&h).unwrap();
        let status = std::fs::read_to_string(&out).unwrap();
        let ign = status
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .unwrap();
        let ign = u64::from_str_radix(ign.trim(), 16).unwrap();
        assert_eq!(ign & (1 << (libc::SIGPIPE - 1)), 0, "{status}");
    }

    #[test]
    fn timeout_kills_and_reaps() {
        let d = TempDir::new();
        let pid_file = d.path("pid");
        let mut h = d.sh("sleep.sh", "echo $$ > \"$1\"\nexec sleep 30\n", &pid_file);
        h.set_timeout(Some(1));
        let t = Instant::now();
        let e = run1(&h).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        assert!(e.to_string().ends_with("timed out after 1 s"), "{e}");
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        assert!(!Path::new(&format!("/proc/{}", pid.trim())).exists());
    }

    #[test]
    fn timeout_must_be_positive() {
        let d = TempDir::new();
        let marker = d.path("ran");
        for t in [0, -1] {
            let mut h = d.sh("touch.sh", ": > \"$1\"\n", &marker);
            h.set_timeout(Some(t));
            assert_eq!(run1(&h).unwrap_err().kind(), crate::error::Kind::Invalid);
            assert!(!marker.exists());
        }
    }

    #[test]
    fn hook_that_ignores_a_large_state() {
        let state = vec![b' '; 1 << 20];
        let t = Instant::now();
        for path in ["/bin/true", "/bin/false"] {
            let r = run_all(
                Kind::StartContainer,
                &[hook(path, &[])],
                &state,
                Path::new("/"),
            );
            assert_eq!(r.is_ok(), path == "/bin/true");
        }
        // A hook that keeps running without reading: we must not block in
        // the write, so the timeout still fires.
        let mut h = hook("/bin/sleep", &["sleep", "30"]);
        h.set_timeout(Some(1));
        let e = run_all(Kind::StartContainer, &[h], &state, Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("timed out"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    #[test]
    fn leftover_processes_do_not_hold_us() {
        let d = TempDir::new();
        let pid_file = d.path("pid");
        // The background sleep keeps stdout and stderr open after sh exits.
        let h = d.sh("bg.sh", "sleep 30 &\necho $! > \"$1\"\n", &pid_file);
        let t = Instant::now();
        run1(&h).unwrap();
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
    }

    #[test]
    fn missing_or_relative_program() {
        let e = run1(&hook("/nonexistent/berth-hook", &[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "createRuntime hook /nonexistent/berth-hook: start: ENOENT: no such file or directory"
        );
        assert_eq!(e.errno(), Some(Errno::ENOENT));
        let e = run1(&hook("true", &[])).unwrap_err();
        assert_eq!(e.kind(), crate::error::Kind::Invalid);
    }

    #[test]
    fn run_all_stops_at_the_first_failure() {
        let d = TempDir::new();
        let marker = d.path("ran");
        let hooks = [
            hook("/bin/true", &[]),
            hook("/bin/false", &[]),
            d.sh("touch.sh", ": > \"$1\"\n", &marker),
        ];
        let e = run_all(Kind::Prestart, &hooks, STATE, &d.0).unwrap_err();
        assert_eq!(e.to_string(), "prestart hook /bin/false: exit status 1");
        assert!(!marker.exists());
    }

    #[test]
    fn run_all_warn_runs_every_hook() {
        let d = TempDir::new();
        let (m1, m2) = (d.path("ran1"), d.path("ran2"));
        let hooks = [
            hook("/bin/false", &[]),
            d.sh("touch1.sh", ": > \"$1\"\n", &m1),
            hook("/nonexistent/berth-hook", &[]),
            d.sh("touch2.sh", ": > \"$1\"\n", &m2),
        ];
        run_all_warn(Kind::Poststop, &hooks, STATE, &d.0);
        assert!(m1.exists() && m2.exists());
    }

    #[test]
    fn kind_names_match_config_json() {
        let all = [
            (Kind::Prestart, "prestart"),
            (Kind::CreateRuntime, "createRuntime"),
            (Kind::CreateContainer, "createContainer"),
            (Kind::StartContainer, "startContainer"),
            (Kind::Poststart, "poststart"),
            (Kind::Poststop, "poststop"),
        ];
        for (k, name) in all {
            assert_eq!(k.name(), name);
        }
    }
}
