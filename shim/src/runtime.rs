//! The runtime as a binary with runc's command line, the way containerd's
//! Go runc wrapper drives it, so the same shim drives berth, runc or crun.
//! Errors come from the runtime's `--log` file in JSON: its last `error`
//! line is what the user should see.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::error::{Error, Result};
use crate::reaper;

/// Which runtime, and its global flags, from `containerd.runc.v1.Options`.
#[derive(Clone, Debug)]
pub struct Runtime {
    pub binary: String,
    pub root: PathBuf,
    pub systemd_cgroup: bool,
    /// The bundle's `log.json`, as containerd's runc shim uses.
    pub log: PathBuf,
    /// CRIU for checkpoint and restore (`--criu`, given to those two
    /// commands only); empty: the runtime's own default.
    pub criu: String,
}

/// The container side of a process's stdio; `None` is /dev/null.
#[derive(Default)]
pub struct ChildIo {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

impl ChildIo {
    fn apply(self, cmd: &mut Command) {
        let pick = |fd: Option<OwnedFd>| fd.map(Stdio::from).unwrap_or_else(Stdio::null);
        cmd.stdin(pick(self.stdin))
            .stdout(pick(self.stdout))
            .stderr(pick(self.stderr));
    }
}

pub struct CreateOpts<'a> {
    pub bundle: &'a Path,
    pub pid_file: &'a Path,
    pub console_socket: Option<&'a Path>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
}

/// `checkpoint`'s flags, runc's spelling.
pub struct CheckpointOpts<'a> {
    pub image: &'a Path,
    pub work: &'a Path,
    pub leave_running: bool,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub empty_ns: &'a [String],
    /// soft, full or strict; empty: the runtime's default.
    pub cgroups_mode: &'a str,
}

/// `restore --detach`'s flags: a restored process is left running, like
/// one after `create` and `start`.
pub struct RestoreOpts<'a> {
    pub bundle: &'a Path,
    pub image: &'a Path,
    pub work: &'a Path,
    pub pid_file: &'a Path,
    pub console_socket: Option<&'a Path>,
    pub no_pivot: bool,
}

pub struct ExecOpts<'a> {
    pub process: &'a Path,
    pub pid_file: &'a Path,
    pub console_socket: Option<&'a Path>,
}

impl Runtime {
    fn command(&self, verb: &str) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .args(["--log-format", "json"]);
        if self.systemd_cgroup {
            cmd.arg("--systemd-cgroup");
        }
        // Only where CRIU runs: a runtime without checkpoints (crun, an
        // older berth) refuses the flag, and would refuse every command.
        if matches!(verb, "checkpoint" | "restore") && !self.criu.is_empty() {
            cmd.arg("--criu").arg(&self.criu);
        }
        cmd.arg(verb);
        // containerd run by systemd (Type=notify) has NOTIFY_SOCKET, and we
        // inherit it. runc takes it as a container's own sd_notify socket to
        // proxy, and its `start` then waits for the container's READY=1,
        // which a container that knows nothing of systemd never sends: the
        // start would hang. containerd's runc shim drops it too.
        cmd.env_remove("NOTIFY_SOCKET");
        cmd
    }

    /// Runs a command to completion and returns its stdout; on failure the
    /// error names the command and carries the runtime's own message.
    fn run(&self, mut cmd: Command, io: Option<ChildIo>, input: Option<&[u8]>) -> Result<Vec<u8>> {
        let what = describe(&cmd);
        // Only what this command logs counts: the log outlives commands.
        let log_start = std::fs::metadata(&self.log).map_or(0, |m| m.len());
        // A process's own stdio (create, exec) goes to the container and
        // anything missing is /dev/null: a captured pipe would be held open
        // by the container. Other commands are captured: stdout for ps,
        // state and events, stderr for errors the log may lack.
        match io {
            Some(io) => io.apply(&mut cmd),
            None => {
                cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            }
        }
        if input.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut spawned = reaper::spawn(&mut cmd).map_err(|e| Error::Runtime {
            command: what.clone(),
            message: format!("cannot run {}: {e}", self.binary),
        })?;
        if let (Some(data), Some(mut stdin)) = (input, spawned.child.stdin.take()) {
            // A runtime that dies early closes the pipe; its exit status
            // then says what went wrong.
            let _ = stdin.write_all(data);
        }
        let [out, err] = drain([
            spawned.child.stdout.take().map(OwnedFd::from),
            spawned.child.stderr.take().map(OwnedFd::from),
        ]);
        let exit = spawned.wait();
        if exit.status == 0 {
            return Ok(out);
        }
        let message = last_error(&self.log, log_start)
            .or_else(|| {
                let text = String::from_utf8_lossy(&err).trim().to_string();
                (!text.is_empty()).then_some(text)
            })
            .unwrap_or_else(|| format!("exit status {}", exit.status));
        Err(Error::Runtime {
            command: what,
            message,
        })
    }
}

/// Reads pipes to their ends, together: a runtime that fills one while we
/// wait on the other would never exit. One poll(2) loop on the caller's
/// thread rather than a thread per pipe: a thread's start and wake-up were
/// on the path of every create, start and delete, and cost the most when
/// the machine is busy.
fn drain<const N: usize>(pipes: [Option<OwnedFd>; N]) -> [Vec<u8>; N] {
    let mut files = pipes.map(|p| p.map(File::from));
    let mut bufs = [(); N].map(|_| Vec::new());
    let mut chunk = [0u8; 8192];
    loop {
        let open: Vec<usize> = (0..N).filter(|&i| files[i].is_some()).collect();
        if open.is_empty() {
            return bufs;
        }
        let ready: Vec<usize> = {
            let mut fds: Vec<PollFd> = open
                .iter()
                .filter_map(|&i| files[i].as_ref())
                .map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                // Not expected (ENOMEM): what was read is what there is.
                Err(_) => return bufs,
            }
            open.iter()
                .zip(&fds)
                .filter(|(_, f)| f.revents().is_some_and(|r| !r.is_empty()))
                .map(|(&i, _)| i)
                .collect()
        };
        for i in ready {
            let Some(f) = files[i].as_mut() else { continue };
            match f.read(&mut chunk) {
                Ok(0) => files[i] = None,
                Ok(n) => bufs[i].extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => files[i] = None,
            }
        }
    }
}

impl Runtime {
    pub fn create(&self, id: &str, opts: &CreateOpts, io: ChildIo) -> Result<()> {
        let mut cmd = self.command("create");
        cmd.arg("--bundle")
            .arg(opts.bundle)
            .arg("--pid-file")
            .arg(opts.pid_file);
        if let Some(sock) = opts.console_socket {
            cmd.arg("--console-socket").arg(sock);
        }
        if opts.no_pivot {
            cmd.arg("--no-pivot");
        }
        if opts.no_new_keyring {
            cmd.arg("--no-new-keyring");
        }
        cmd.arg(id).current_dir(opts.bundle);
        self.run(cmd, Some(io), None).map(drop)
    }

    /// Dumps the container into `opts.image` with CRIU.
    pub fn checkpoint(&self, id: &str, opts: &CheckpointOpts) -> Result<()> {
        let mut cmd = self.command("checkpoint");
        cmd.arg("--image-path")
            .arg(opts.image)
            .arg("--work-path")
            .arg(opts.work);
        for (set, flag) in [
            (opts.leave_running, "--leave-running"),
            (opts.tcp_established, "--tcp-established"),
            (opts.ext_unix_sk, "--ext-unix-sk"),
            (opts.shell_job, "--shell-job"),
            (opts.file_locks, "--file-locks"),
        ] {
            if set {
                cmd.arg(flag);
            }
        }
        for ns in opts.empty_ns {
            cmd.arg("--empty-ns").arg(ns);
        }
        if !opts.cgroups_mode.is_empty() {
            cmd.args(["--manage-cgroups-mode", opts.cgroups_mode]);
        }
        cmd.arg(id);
        self.run(cmd, None, None).map(drop)
    }

    /// Restores a checkpointed container from `opts.image`; `io` becomes
    /// the restored process's stdio (the runtime maps the pipes it was
    /// dumped with to its own stdin, stdout and stderr).
    pub fn restore(&self, id: &str, opts: &RestoreOpts, io: ChildIo) -> Result<()> {
        let mut cmd = self.command("restore");
        cmd.arg("--image-path")
            .arg(opts.image)
            .arg("--work-path")
            .arg(opts.work)
            .arg("--bundle")
            .arg(opts.bundle)
            .arg("--detach")
            .arg("--pid-file")
            .arg(opts.pid_file);
        if let Some(sock) = opts.console_socket {
            cmd.arg("--console-socket").arg(sock);
        }
        if opts.no_pivot {
            cmd.arg("--no-pivot");
        }
        cmd.arg(id).current_dir(opts.bundle);
        self.run(cmd, Some(io), None).map(drop)
    }

    pub fn exec(&self, id: &str, opts: &ExecOpts, io: ChildIo) -> Result<()> {
        let mut cmd = self.command("exec");
        cmd.arg("--process")
            .arg(opts.process)
            .arg("--pid-file")
            .arg(opts.pid_file)
            .arg("--detach");
        if let Some(sock) = opts.console_socket {
            cmd.arg("--console-socket").arg(sock);
        }
        cmd.arg(id);
        self.run(cmd, Some(io), None).map(drop)
    }

    fn simple(&self, verb: &str, args: &[&str]) -> Result<Vec<u8>> {
        let mut cmd = self.command(verb);
        cmd.args(args);
        self.run(cmd, None, None)
    }

    pub fn start(&self, id: &str) -> Result<()> {
        self.simple("start", &[id]).map(drop)
    }

    pub fn kill(&self, id: &str, signal: u32, all: bool) -> Result<()> {
        let sig = signal.to_string();
        let args: Vec<&str> = if all {
            vec!["--all", id, &sig]
        } else {
            vec![id, &sig]
        };
        self.simple("kill", &args).map(drop)
    }

    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let args: &[&str] = if force { &["--force", id] } else { &[id] };
        self.simple("delete", args).map(drop)
    }

    pub fn pause(&self, id: &str) -> Result<()> {
        self.simple("pause", &[id]).map(drop)
    }

    pub fn resume(&self, id: &str) -> Result<()> {
        self.simple("resume", &[id]).map(drop)
    }

    /// `update --resources -` with the OCI LinuxResources JSON on stdin.
    pub fn update(&self, id: &str, resources_json: &[u8]) -> Result<()> {
        let mut cmd = self.command("update");
        cmd.args(["--resources", "-", id]);
        self.run(cmd, None, Some(resources_json)).map(drop)
    }

    /// The pids of every process in the container.
    pub fn ps(&self, id: &str) -> Result<Vec<u32>> {
        let out = self.simple("ps", &["--format", "json", id])?;
        serde_json::from_slice::<Option<Vec<u32>>>(&out)
            .map(Option::unwrap_or_default)
            .map_err(|e| Error::Runtime {
                command: format!("{} ps", self.binary),
                message: format!("unexpected output: {e}"),
            })
    }

    /// One `events --stats` record: runc's stats JSON.
    pub fn stats(&self, id: &str) -> Result<serde_json::Value> {
        let out = self.simple("events", &["--stats", id])?;
        let v: serde_json::Value = serde_json::from_slice(&out).map_err(|e| Error::Runtime {
            command: format!("{} events --stats", self.binary),
            message: format!("unexpected output: {e}"),
        })?;
        Ok(v.get("data").cloned().unwrap_or(v))
    }

    /// The runtime's view of the container (`state`), used to find its
    /// pid namespace and cgroup.
    pub fn state(&self, id: &str) -> Result<serde_json::Value> {
        let out = self.simple("state", &[id])?;
        serde_json::from_slice(&out).map_err(|e| Error::Runtime {
            command: format!("{} state", self.binary),
            message: format!("unexpected output: {e}"),
        })
    }
}

fn describe(cmd: &Command) -> String {
    // The first word that is neither a global flag nor its value.
    let mut args = cmd.get_args().map(|a| a.to_string_lossy());
    let mut verb = None;
    while let Some(a) = args.next() {
        if matches!(&*a, "--root" | "--log" | "--log-format" | "--criu") {
            args.next();
        } else if !a.starts_with('-') {
            verb = Some(a);
            break;
        }
    }
    format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        verb.unwrap_or_default()
    )
}

/// The message of the last `"level":"error"` line of a JSON log, from
/// byte `start` on.
pub fn last_error(log: &Path, start: u64) -> Option<String> {
    let text = std::fs::read(log).ok()?;
    let text = String::from_utf8_lossy(text.get(start as usize..)?);
    text.lines().rev().find_map(|line| {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        (v.get("level")?.as_str()? == "error").then(|| v.get("msg")?.as_str().map(String::from))?
    })
}

/// Writes `data` to a new file readable only by root (process specs hold
/// environment variables, which may be secrets).
pub fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_reads_both_pipes_whichever_fills_first() {
        // 256 KiB on stderr, more than a pipe holds, before a line on
        // stdout: read one pipe at a time, stdout first, this would hang.
        let mut child = Command::new("sh")
            .args(["-c", "head -c 262144 /dev/zero >&2; echo out"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let [out, err] = drain([
            child.stdout.take().map(OwnedFd::from),
            child.stderr.take().map(OwnedFd::from),
        ]);
        assert!(child.wait().unwrap().success());
        assert_eq!(out, b"out\n");
        assert_eq!(err.len(), 262144);
        assert_eq!(drain::<1>([None]), [Vec::<u8>::new()]);
    }

    #[test]
    fn last_error_takes_the_last_error_line() {
        let dir = std::env::temp_dir().join(format!("berth-shim-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log.json");
        std::fs::write(
            &log,
            concat!(
                "{\"level\":\"error\",\"msg\":\"old failure\",\"time\":\"t\"}\n",
                "{\"level\":\"warning\",\"msg\":\"noise\",\"time\":\"t\"}\n",
                "not json\n",
                "{\"level\":\"error\",\"msg\":\"exec: \\\"nope\\\": not found\",\"time\":\"t\"}\n",
                "{\"level\":\"info\",\"msg\":\"after\",\"time\":\"t\"}\n",
            ),
        )
        .unwrap();
        assert_eq!(
            last_error(&log, 0).as_deref(),
            Some("exec: \"nope\": not found")
        );
        let len = std::fs::metadata(&log).unwrap().len();
        assert_eq!(
            last_error(&log, len),
            None,
            "older errors are not this command's"
        );
        assert_eq!(last_error(&dir.join("missing"), 0), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn describe_names_the_verb() {
        let rt = Runtime {
            binary: "runc".into(),
            root: "/run/x".into(),
            systemd_cgroup: false,
            log: "/b/log.json".into(),
            criu: String::new(),
        };
        let mut cmd = rt.command("create");
        cmd.args(["--bundle", "/b", "id"]);
        assert_eq!(describe(&cmd), "runc create");
    }

    /// containerd's NOTIFY_SOCKET (it runs as a systemd Type=notify
    /// service) reaches no runtime command.
    #[test]
    fn the_notify_socket_is_not_passed_on() {
        let rt = Runtime {
            binary: "runc".into(),
            root: "/run/x".into(),
            systemd_cgroup: true,
            log: "/b/log.json".into(),
            criu: String::new(),
        };
        for verb in ["create", "start", "exec", "kill", "delete", "update"] {
            let cmd = rt.command(verb);
            let removed = cmd
                .get_envs()
                .any(|(k, v)| k == "NOTIFY_SOCKET" && v.is_none());
            assert!(removed, "{verb}: {:?}", cmd.get_envs().collect::<Vec<_>>());
        }
    }

    /// `--criu` goes to checkpoint and restore only, before the verb.
    #[test]
    fn criu_is_passed_where_criu_runs() {
        let rt = Runtime {
            binary: "runc".into(),
            root: "/run/x".into(),
            systemd_cgroup: false,
            log: "/b/log.json".into(),
            criu: "criu-4".into(),
        };
        let args = |cmd: &Command| -> Vec<String> {
            cmd.get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        let create = rt.command("create");
        assert!(!args(&create).contains(&"--criu".to_string()));
        for verb in ["checkpoint", "restore"] {
            let cmd = rt.command(verb);
            let a = args(&cmd);
            let at = a.iter().position(|x| x == "--criu").expect("--criu");
            assert_eq!(a[at + 1], "criu-4");
            assert_eq!(a.last().unwrap(), verb);
            assert_eq!(describe(&cmd), format!("runc {verb}"));
        }
    }
}
