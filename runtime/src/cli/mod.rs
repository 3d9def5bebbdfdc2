//! Command-line parsing (runc's flags) and dispatch: one file per command.
//!
//! The flags are tables read by a small tokenizer (args.rs) with Go's
//! `flag` rules, as runc has them. clap built every command's definition
//! at each start: about 450 KB of code and 0.3 ms, more than some
//! commands' whole work.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use args::{Arg, Flag, Given, Parser, Value};
use berth::container::store::Store;
use berth::logging::{self, Format};

mod args;
mod checkpoint;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod restore;
mod run;
mod spec;
mod start;
mod state;
mod update;

/// Flags accepted before the command and among its own flags.
#[rustfmt::skip]
const GLOBAL: &[Flag] = &[
    Flag::value("root", None, "DIR", "Directory for container state (a tmpfs is best; default /run/berth)."),
    Flag::value("log", None, "FILE", "Log file; errors are written here as well as to stderr."),
    Flag::value("log-format", None, "FORMAT", "Log format: text (default) or json."),
    Flag::switch("debug", None, "Log debug messages."),
    Flag::switch("systemd-cgroup", None, "Manage cgroups through systemd (not supported yet)."),
    Flag::value("criu", None, "PATH", "The criu binary for checkpoint and restore (default: criu on PATH)."),
    Flag {
        long: "rootless",
        short: None,
        aliases: &[],
        // Bare, it means true; `--rootless spec` must not take the command
        // for its value.
        value: Value::Optional { name: "WHEN", missing: "true", accepts: &["true", "false", "auto"] },
        help: "Rootless mode: true, false or auto (default auto; `spec --rootless` means true).",
    },
];

const HELP: &[Flag] = &[Flag::switch("help", Some('h'), "Print this help.")];

/// runc takes `-v`; clap took `-V`.
const VERSION: &[Flag] = &[Flag::switch("version", Some('v'), "Print the version.").alias(&["V"])];

#[derive(Debug)]
struct Cli {
    global: Global,
    command: Command,
}

#[derive(Debug)]
struct Global {
    /// None: the default, /run/berth, or $XDG_RUNTIME_DIR/berth for a user
    /// other than root (as runc does).
    root: Option<PathBuf>,
    log: Option<PathBuf>,
    log_format: LogFormat,
    debug: bool,
    systemd_cgroup: bool,
    rootless: String,
    /// None: `criu` on PATH.
    criu: Option<PathBuf>,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            root: None,
            log: None,
            log_format: LogFormat::Text,
            debug: false,
            systemd_cgroup: false,
            rootless: "auto".to_string(),
            criu: None,
        }
    }
}

impl Global {
    fn set(&mut self, v: &Given) -> Result<(), args::Error> {
        match v.flag.long {
            "root" => self.root = Some(v.path()),
            "log" => self.log = Some(v.path()),
            "log-format" => {
                self.log_format =
                    v.one_of(&[("text", LogFormat::Text), ("json", LogFormat::Json)])?
            }
            "debug" => self.debug = v.on()?,
            "systemd-cgroup" => self.systemd_cgroup = v.on()?,
            "criu" => self.criu = Some(v.path()).filter(|p| !p.as_os_str().is_empty()),
            // Checked in dispatch, where it was checked before.
            "rootless" => self.rootless = v.string()?,
            other => unreachable!("global flag --{other} has no field"),
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug)]
enum Command {
    Create(CreateArgs),
    Start {
        id: String,
    },
    State {
        id: String,
    },
    Kill {
        all: bool,
        id: String,
        signal: String,
    },
    Delete {
        force: bool,
        id: String,
    },
    Run {
        create: CreateArgs,
        detach: bool,
        keep: bool,
    },
    List {
        format: ListFormat,
        quiet: bool,
    },
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    Ps {
        format: PsFormat,
        id: String,
        ps_args: Vec<String>,
    },
    Exec(ExecArgs),
    Events {
        stats: bool,
        interval: String,
        id: String,
    },
    Update(UpdateArgs),
    Spec {
        bundle: PathBuf,
    },
    Features,
    Checkpoint(checkpoint::CheckpointArgs),
    Restore(restore::RestoreArgs),
}

/// A command's line: its own flag tables (the global flags and --help
/// come on top), and how many words it takes.
#[derive(Debug)]
struct Cmd {
    name: &'static str,
    /// The words, for the help.
    words: &'static str,
    about: &'static str,
    flags: &'static [&'static [Flag]],
    min: usize,
    /// `usize::MAX`: after the ID, the first word that is no flag of the
    /// command starts a command line taken whole (`exec ID ls -la`).
    max: usize,
}

const fn cmd(
    name: &'static str,
    words: &'static str,
    about: &'static str,
    flags: &'static [&'static [Flag]],
    (min, max): (usize, usize),
) -> Cmd {
    Cmd {
        name,
        words,
        about,
        flags,
        min,
        max,
    }
}

const ID: (usize, usize) = (1, 1);
const NONE: (usize, usize) = (0, 0);
const ID_THEN_REST: (usize, usize) = (1, usize::MAX);

#[rustfmt::skip]
const COMMANDS: &[Cmd] = &[
    cmd("create", "<ID>", "Create a container from a bundle; its process waits for `start`.", &[CREATE], ID),
    cmd("start", "<ID>", "Start a created container's process.", &[], ID),
    cmd("state", "<ID>", "Print a container's state as JSON.", &[], ID),
    cmd("kill", "<ID> [SIGNAL]", "Send a signal (KILL, SIGKILL or a number; default SIGTERM) to a container's init process.", &[KILL], (1, 2)),
    cmd("delete", "<ID>", "Delete a container and everything berth made for it.", &[DELETE], ID),
    cmd("run", "<ID>", "Create and start a container, and wait for it unless detached.", &[CREATE, RUN], ID),
    cmd("list", "", "List containers.", &[LIST], NONE),
    cmd("pause", "<ID>", "Freeze every process of a running container.", &[], ID),
    cmd("resume", "<ID>", "Thaw a paused container.", &[], ID),
    cmd("ps", "<ID> [PS-ARGS]...", "List the processes of a container (PS-ARGS: options for ps(1), default -ef).", &[PS], ID_THEN_REST),
    cmd("exec", "<ID> [COMMAND]...", "Run a new process in a running container.", &[EXEC], ID_THEN_REST),
    cmd("events", "<ID>", "Stream a container's events (stats, OOM) as JSON lines.", &[EVENTS], ID),
    cmd("update", "<ID>", "Change the resource limits of a running container.", &[UPDATE], ID),
    cmd("spec", "", "Write a default config.json.", &[SPEC], NONE),
    cmd("features", "", "Print what this build of berth supports, as JSON.", &[], NONE),
    cmd("checkpoint", "<ID>", "Save a running container's processes to CRIU images.", &[CRIU, CHECKPOINT], ID),
    cmd("restore", "<ID>", "Make a container from a bundle and CRIU images, and wait for it unless detached.", &[CRIU, RESTORE], ID),
];

/// The flags checkpoint and restore share, passed on to criu.
#[rustfmt::skip]
const CRIU: &[Flag] = &[
    Flag::value("image-path", None, "DIR", "CRIU image directory (default ./checkpoint)."),
    Flag::value("work-path", None, "DIR", "Directory for criu's work files and log (default: the image directory)."),
    Flag::switch("tcp-established", None, "Allow open TCP connections."),
    Flag::switch("ext-unix-sk", None, "Allow external unix sockets."),
    Flag::switch("shell-job", None, "Allow a shell job (a process with a terminal from outside)."),
    Flag::switch("file-locks", None, "Save and restore file locks."),
    Flag::value("manage-cgroups-mode", None, "MODE", "criu's cgroup mode: soft (default), full or strict."),
    Flag::value("empty-ns", None, "NS", "A namespace made empty rather than restored (only network; repeatable)."),
    Flag::switch("auto-dedup", None, "Deduplicate memory images."),
    Flag::switch("lazy-pages", None, "Lazy memory restore (not supported)."),
];

#[rustfmt::skip]
const CHECKPOINT: &[Flag] = &[
    Flag::value("parent-path", None, "DIR", "A previous pre-dump, relative to the image directory."),
    Flag::switch("leave-running", None, "Leave the container running after the checkpoint."),
    Flag::switch("pre-dump", None, "Save memory only; the container keeps running."),
    Flag::value("page-server", None, "ADDRESS:PORT", "Send images to a page server (not supported)."),
    Flag::value("status-fd", None, "FD", "Lazy-pages status descriptor (not supported)."),
];

#[rustfmt::skip]
const RESTORE: &[Flag] = &[
    Flag::value("bundle", Some('b'), "DIR", "The bundle directory (config.json and the rootfs; default .)."),
    Flag::switch("detach", Some('d'), "Return once the container is restored."),
    Flag::value("pid-file", None, "FILE", "File to write the restored process's pid to."),
    Flag::value("console-socket", None, "PATH", "Unix socket that receives the pty master when process.terminal is set."),
    Flag::switch("no-subreaper", None, "Accepted for runc's sake (berth uses no subreaper)."),
    Flag::switch("no-pivot", None, "Accepted for runc's sake (criu sets up the root)."),
    Flag::value("lsm-profile", None, "TYPE:NAME", "LSM profile for the restored processes."),
    Flag::value("lsm-mount-context", None, "CONTEXT", "LSM mount context for the restored mounts."),
];

const KILL: &[Flag] = &[Flag::switch(
    "all",
    Some('a'),
    "Signal every process of the container.",
)];

const DELETE: &[Flag] = &[Flag::switch(
    "force",
    Some('f'),
    "Kill the container if it is still running.",
)];

#[rustfmt::skip]
const RUN: &[Flag] = &[
    Flag::switch("detach", Some('d'), "Return once the container has started."),
    Flag::switch("keep", None, "Keep the container's state after it exits (foreground only)."),
];

#[rustfmt::skip]
const LIST: &[Flag] = &[
    Flag::value("format", Some('f'), "FORMAT", "table (default) or json."),
    Flag::switch("quiet", Some('q'), "Print only the IDs."),
];

const PS: &[Flag] = &[Flag::value(
    "format",
    Some('f'),
    "FORMAT",
    "table (default) or json.",
)];

#[rustfmt::skip]
const EVENTS: &[Flag] = &[
    Flag::switch("stats", None, "Print the statistics once and exit."),
    Flag::value("interval", None, "DURATION", "How often to print statistics (default 5s)."),
];

const SPEC: &[Flag] = &[Flag::value(
    "bundle",
    Some('b'),
    "DIR",
    "Where to write config.json (default .).",
)];

#[rustfmt::skip]
const CREATE: &[Flag] = &[
    Flag::value("bundle", Some('b'), "DIR", "The bundle directory (config.json and the rootfs; default .)."),
    Flag::value("console-socket", None, "PATH", "Unix socket that receives the pty master when process.terminal is set."),
    Flag::value("pidfd-socket", None, "PATH", "Unix socket that receives a pidfd of the container's process."),
    Flag::value("pid-file", None, "FILE", "File to write the container's pid to."),
    Flag::switch("no-pivot", None, "Do not use pivot_root (for a ramfs root)."),
    Flag::switch("no-new-keyring", None, "Do not create a session keyring for the container."),
    Flag::value("preserve-fds", None, "N", "Pass N more descriptors (from 3) to the container's process."),
];

#[derive(Debug)]
struct CreateArgs {
    bundle: PathBuf,
    console_socket: Option<PathBuf>,
    pidfd_socket: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    no_pivot: bool,
    no_new_keyring: bool,
    preserve_fds: i32,
    id: String,
}

impl Default for CreateArgs {
    fn default() -> Self {
        CreateArgs {
            bundle: PathBuf::from("."),
            console_socket: None,
            pidfd_socket: None,
            pid_file: None,
            no_pivot: false,
            no_new_keyring: false,
            preserve_fds: 0,
            id: String::new(),
        }
    }
}

impl CreateArgs {
    fn set(&mut self, v: &Given) -> Result<(), args::Error> {
        match v.flag.long {
            "bundle" => self.bundle = v.path(),
            "console-socket" => self.console_socket = Some(v.path()),
            "pidfd-socket" => self.pidfd_socket = Some(v.path()),
            "pid-file" => self.pid_file = Some(v.path()),
            "no-pivot" => self.no_pivot = v.on()?,
            "no-new-keyring" => self.no_new_keyring = v.on()?,
            "preserve-fds" => self.preserve_fds = v.number()?,
            other => unreachable!("create flag --{other} has no field"),
        }
        Ok(())
    }

    fn options(&self, rootless: bool) -> berth::container::create::CreateOptions {
        berth::container::create::CreateOptions {
            rootless,
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            console_socket: self.console_socket.clone(),
            pid_file: self.pid_file.clone(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
        }
    }
}

/// runc's `exec` flags.
#[rustfmt::skip]
const EXEC: &[Flag] = &[
    Flag::value("process", Some('p'), "FILE", "A runtime-spec process JSON to run (instead of the command and flags)."),
    Flag::value("console-socket", None, "PATH", "Unix socket that receives the pty master with --tty."),
    Flag::value("pidfd-socket", None, "PATH", "Unix socket that receives a pidfd of the new process."),
    Flag::value("pid-file", None, "FILE", "File to write the new process's pid to."),
    Flag::switch("detach", Some('d'), "Return once the process runs."),
    Flag::switch("tty", Some('t'), "Give the process a terminal."),
    Flag::value("cwd", None, "DIR", "Working directory in the container."),
    Flag::value("env", Some('e'), "KEY=VALUE", "Environment variable (repeatable)."),
    Flag::value("user", Some('u'), "UID[:GID]", "The user to run as."),
    Flag::value("additional-gids", Some('g'), "GID", "Additional group (repeatable)."),
    Flag::value("cap", Some('c'), "CAP", "Add a capability (repeatable)."),
    Flag::switch("no-new-privs", None, "Set no_new_privs for the process."),
    Flag::value("apparmor", None, "PROFILE", "AppArmor profile for the process."),
    Flag::value("process-label", None, "LABEL", "SELinux label for the process."),
    Flag::value("preserve-fds", None, "N", "Pass N more descriptors (from 3) to the process."),
    Flag::switch("ignore-paused", None, "Exec even into a paused container."),
    Flag::value("cgroup", None, "[CONTROLLER:]PATH", "Run in this sub-cgroup of the container's."),
];

#[derive(Debug, Default)]
struct ExecArgs {
    process: Option<PathBuf>,
    console_socket: Option<PathBuf>,
    pidfd_socket: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    detach: bool,
    tty: bool,
    cwd: Option<PathBuf>,
    env: Vec<String>,
    user: Option<String>,
    additional_gids: Vec<u32>,
    cap: Vec<String>,
    no_new_privs: bool,
    apparmor: Option<String>,
    process_label: Option<String>,
    preserve_fds: i32,
    ignore_paused: bool,
    cgroup: Option<String>,
    id: String,
    /// The command and its arguments.
    command: Vec<String>,
}

impl ExecArgs {
    fn set(&mut self, v: &Given) -> Result<(), args::Error> {
        match v.flag.long {
            "process" => self.process = Some(v.path()),
            "console-socket" => self.console_socket = Some(v.path()),
            "pidfd-socket" => self.pidfd_socket = Some(v.path()),
            "pid-file" => self.pid_file = Some(v.path()),
            "detach" => self.detach = v.on()?,
            "tty" => self.tty = v.on()?,
            "cwd" => self.cwd = Some(v.path()),
            "env" => self.env.push(v.string()?),
            "user" => self.user = Some(v.string()?),
            "additional-gids" => self.additional_gids.push(v.number()?),
            "cap" => self.cap.push(v.string()?),
            "no-new-privs" => self.no_new_privs = v.on()?,
            "apparmor" => self.apparmor = Some(v.string()?),
            "process-label" => self.process_label = Some(v.string()?),
            "preserve-fds" => self.preserve_fds = v.number()?,
            "ignore-paused" => self.ignore_paused = v.on()?,
            "cgroup" => self.cgroup = Some(v.string()?),
            other => unreachable!("exec flag --{other} has no field"),
        }
        Ok(())
    }
}

/// runc's `update` flags. Values are taken whatever they look like, so
/// `--pids-limit -1` and `--memory-swap -1` work.
#[rustfmt::skip]
const UPDATE: &[Flag] = &[
    Flag::value("resources", Some('r'), "FILE", "linux.resources JSON to apply, from a file or \"-\" for stdin."),
    Flag::value("memory", None, "BYTES", "Memory limit (bytes, or with k, m, g)."),
    Flag::value("memory-reservation", None, "BYTES", "Memory soft limit."),
    Flag::value("memory-swap", None, "BYTES", "Memory plus swap limit; -1 for unlimited swap."),
    Flag::value("cpu-share", None, "N", "CPU shares (relative weight).").alias(&["cpu-shares"]),
    Flag::value("cpu-quota", None, "USEC", "CPU CFS quota in microseconds per period."),
    Flag::value("cpu-period", None, "USEC", "CPU CFS period in microseconds."),
    Flag::value("cpu-burst", None, "USEC", "CPU CFS burst in microseconds."),
    Flag::value("cpu-rt-runtime", None, "USEC", "Realtime runtime in microseconds."),
    Flag::value("cpu-rt-period", None, "USEC", "Realtime period in microseconds."),
    Flag::value("cpuset-cpus", None, "CPUS", "CPUs to run on (0-3, 0,1)."),
    Flag::value("cpuset-mems", None, "NODES", "Memory nodes to use."),
    Flag::value("pids-limit", None, "N", "Maximum number of processes; 0 or less for no limit."),
    Flag::value("blkio-weight", None, "N", "Block IO weight (10..1000)."),
];

#[derive(Debug, Default)]
struct UpdateArgs {
    resources: Option<String>,
    memory: Option<String>,
    memory_reservation: Option<String>,
    memory_swap: Option<String>,
    cpu_share: Option<u64>,
    cpu_quota: Option<i64>,
    cpu_period: Option<u64>,
    cpu_burst: Option<u64>,
    cpu_rt_runtime: Option<i64>,
    cpu_rt_period: Option<u64>,
    cpuset_cpus: Option<String>,
    cpuset_mems: Option<String>,
    pids_limit: Option<i64>,
    blkio_weight: Option<u16>,
    id: String,
}

impl UpdateArgs {
    fn set(&mut self, v: &Given) -> Result<(), args::Error> {
        match v.flag.long {
            "resources" => self.resources = Some(v.string()?),
            "memory" => self.memory = Some(v.string()?),
            "memory-reservation" => self.memory_reservation = Some(v.string()?),
            "memory-swap" => self.memory_swap = Some(v.string()?),
            "cpu-share" => self.cpu_share = Some(v.number()?),
            "cpu-quota" => self.cpu_quota = Some(v.number()?),
            "cpu-period" => self.cpu_period = Some(v.number()?),
            "cpu-burst" => self.cpu_burst = Some(v.number()?),
            "cpu-rt-runtime" => self.cpu_rt_runtime = Some(v.number()?),
            "cpu-rt-period" => self.cpu_rt_period = Some(v.number()?),
            "cpuset-cpus" => self.cpuset_cpus = Some(v.string()?),
            "cpuset-mems" => self.cpuset_mems = Some(v.string()?),
            "pids-limit" => self.pids_limit = Some(v.number()?),
            "blkio-weight" => self.blkio_weight = Some(v.number()?),
            other => unreachable!("update flag --{other} has no field"),
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum PsFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ListFormat {
    Table,
    Json,
}

/// Why parsing ended without a command to run.
#[derive(Debug)]
enum Stop {
    /// `--help` or `help [COMMAND]`: the help of the command, or berth's.
    Help(Option<&'static Cmd>),
    Version,
    /// `berth` alone, or with global flags only.
    NoCommand,
    Usage(String),
}

impl From<args::Error> for Stop {
    fn from(e: args::Error) -> Self {
        Stop::Usage(e.0)
    }
}

fn find(name: &OsStr) -> Result<&'static Cmd, Stop> {
    COMMANDS
        .iter()
        .find(|c| name == c.name)
        .ok_or_else(|| Stop::Usage(format!("unknown command: {}", name.to_string_lossy())))
}

impl Cli {
    fn parse(args: &[OsString]) -> Result<Cli, Stop> {
        let mut p = Parser::new(args);
        let mut global = Global::default();
        let name = loop {
            match p.next(&[GLOBAL, HELP, VERSION])? {
                None => return Err(Stop::NoCommand),
                Some(Arg::Word(w)) => break w,
                Some(Arg::Flag(v)) if v.flag.long == "help" => return Err(Stop::Help(None)),
                Some(Arg::Flag(v)) if v.flag.long == "version" => return Err(Stop::Version),
                Some(Arg::Flag(v)) => global.set(&v)?,
                Some(Arg::Unknown(w)) => return Err(args::unknown(w).into()),
            }
        };
        // runc (urfave/cli) calls it `help` or `h`.
        if name == "help" || name == "h" {
            return Err(match p.next(&[])? {
                Some(Arg::Word(topic)) => Stop::Help(Some(find(topic)?)),
                Some(Arg::Unknown(w)) => args::unknown(w).into(),
                _ => Stop::Help(None),
            });
        }
        let cmd = find(name)?;
        let command = cmd.parse(&mut p, &mut global)?;
        Ok(Cli { global, command })
    }
}

impl Cmd {
    /// Reads the rest of the line: this command's flags go to `set`, the
    /// global ones to `global`; returns the words, checked against
    /// min and max.
    fn words<'a>(
        &'static self,
        p: &mut Parser<'a>,
        global: &mut Global,
        mut set: impl FnMut(&Given<'a>) -> Result<(), args::Error>,
    ) -> Result<Vec<String>, Stop> {
        // Up to two tables of its own (run: create's and its own).
        let mut tables: [&'static [Flag]; 4] = [&[], &[], GLOBAL, HELP];
        tables[..self.flags.len()].copy_from_slice(self.flags);
        let mut words = Vec::new();
        while let Some(arg) = p.next(&tables)? {
            let starts_rest = self.max == usize::MAX && words.len() == 1;
            match arg {
                Arg::Flag(v) if v.flag.long == "help" => return Err(Stop::Help(Some(self))),
                Arg::Flag(v) if GLOBAL.iter().any(|f| f.long == v.flag.long) => global.set(&v)?,
                Arg::Flag(v) => set(&v)?,
                Arg::Word(w) | Arg::Unknown(w) if starts_rest => {
                    words.push(args::utf8(w)?);
                    for w in p.rest() {
                        words.push(args::utf8(w)?);
                    }
                }
                Arg::Word(w) => words.push(args::utf8(w)?),
                Arg::Unknown(w) => return Err(args::unknown(w).into()),
            }
        }
        let n = words.len();
        if n < self.min || n > self.max {
            // runc's checkArgs wording.
            let count = if self.min == self.max {
                format!("exactly {}", self.min)
            } else if n < self.min {
                format!("a minimum of {}", self.min)
            } else {
                format!("a maximum of {}", self.max)
            };
            return Err(Stop::Usage(format!(
                "{:?} requires {count} argument(s)",
                self.name
            )));
        }
        Ok(words)
    }

    /// The words of a command without flags of its own.
    fn plain(&'static self, p: &mut Parser, global: &mut Global) -> Result<Vec<String>, Stop> {
        self.words(p, global, |v| {
            unreachable!("{} has no flag --{}", self.name, v.flag.long)
        })
    }

    fn parse(&'static self, p: &mut Parser, g: &mut Global) -> Result<Command, Stop> {
        let first = |words: Vec<String>| words.into_iter().next().unwrap_or_default();
        Ok(match self.name {
            "create" => {
                let mut a = CreateArgs::default();
                a.id = first(self.words(p, g, |v| a.set(v))?);
                Command::Create(a)
            }
            "start" => Command::Start {
                id: first(self.plain(p, g)?),
            },
            "state" => Command::State {
                id: first(self.plain(p, g)?),
            },
            "kill" => {
                let mut all = false;
                let mut words = self
                    .words(p, g, |v| {
                        all = v.on()?;
                        Ok(())
                    })?
                    .into_iter();
                Command::Kill {
                    all,
                    id: words.next().unwrap_or_default(),
                    signal: words.next().unwrap_or_else(|| "SIGTERM".to_string()),
                }
            }
            "delete" => {
                let mut force = false;
                let words = self.words(p, g, |v| {
                    force = v.on()?;
                    Ok(())
                })?;
                Command::Delete {
                    force,
                    id: first(words),
                }
            }
            "run" => {
                let (mut create, mut detach, mut keep) = (CreateArgs::default(), false, false);
                let words = self.words(p, g, |v| {
                    match v.flag.long {
                        "detach" => detach = v.on()?,
                        "keep" => keep = v.on()?,
                        _ => create.set(v)?,
                    }
                    Ok(())
                })?;
                create.id = first(words);
                Command::Run {
                    create,
                    detach,
                    keep,
                }
            }
            "list" => {
                let (mut format, mut quiet) = (ListFormat::Table, false);
                self.words(p, g, |v| {
                    match v.flag.long {
                        "format" => {
                            format = v.one_of(&[
                                ("table", ListFormat::Table),
                                ("json", ListFormat::Json),
                            ])?
                        }
                        "quiet" => quiet = v.on()?,
                        other => unreachable!("list flag --{other} has no field"),
                    }
                    Ok(())
                })?;
                Command::List { format, quiet }
            }
            "pause" => Command::Pause {
                id: first(self.plain(p, g)?),
            },
            "resume" => Command::Resume {
                id: first(self.plain(p, g)?),
            },
            "ps" => {
                let mut format = PsFormat::Table;
                let mut words = self.words(p, g, |v| {
                    format = v.one_of(&[("table", PsFormat::Table), ("json", PsFormat::Json)])?;
                    Ok(())
                })?;
                let ps_args = words.split_off(1);
                Command::Ps {
                    format,
                    id: first(words),
                    ps_args,
                }
            }
            "exec" => {
                let mut a = ExecArgs::default();
                let mut words = self.words(p, g, |v| a.set(v))?;
                a.command = words.split_off(1);
                a.id = first(words);
                Command::Exec(a)
            }
            "events" => {
                let (mut stats, mut interval) = (false, "5s".to_string());
                let words = self.words(p, g, |v| {
                    match v.flag.long {
                        "stats" => stats = v.on()?,
                        "interval" => interval = v.string()?,
                        other => unreachable!("events flag --{other} has no field"),
                    }
                    Ok(())
                })?;
                Command::Events {
                    stats,
                    interval,
                    id: first(words),
                }
            }
            "update" => {
                let mut a = UpdateArgs::default();
                a.id = first(self.words(p, g, |v| a.set(v))?);
                Command::Update(a)
            }
            "spec" => {
                let mut bundle = PathBuf::from(".");
                self.words(p, g, |v| {
                    bundle = v.path();
                    Ok(())
                })?;
                Command::Spec { bundle }
            }
            "features" => {
                self.plain(p, g)?;
                Command::Features
            }
            "checkpoint" => {
                let mut a = checkpoint::CheckpointArgs::default();
                a.id = first(self.words(p, g, |v| a.set(v))?);
                Command::Checkpoint(a)
            }
            "restore" => {
                let mut a = restore::RestoreArgs::default();
                a.id = first(self.words(p, g, |v| a.set(v))?);
                Command::Restore(a)
            }
            other => unreachable!("command {other} has no parser"),
        })
    }
}

fn help(cmd: Option<&Cmd>) -> String {
    let mut out = String::new();
    match cmd {
        None => {
            out.push_str(
                "berth: an OCI container runtime with runc's command line\n\n\
                 Usage: berth [OPTIONS] COMMAND [ARGUMENTS]\n\nCommands:\n",
            );
            for c in COMMANDS {
                let _ = writeln!(out, "  {:10}{}", c.name, c.about);
            }
            out.push_str(
                "  help      Print this help, or a command's (help COMMAND).\n\nOptions:\n",
            );
            args::describe(&mut out, &[GLOBAL, HELP, VERSION]);
            out.push_str("\nAll but --version are also accepted among a command's flags.\n");
        }
        Some(c) => {
            let _ = write!(
                out,
                "Usage: berth {} [OPTIONS] {}\n\n{}\n\nOptions:\n",
                c.name, c.words, c.about
            );
            let mut tables = c.flags.to_vec();
            tables.push(HELP);
            args::describe(&mut out, &tables);
            out.push_str("\nThe global options (berth --help) are accepted here too.\n");
        }
    }
    out
}

pub fn main() -> i32 {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let cli = match Cli::parse(&args) {
        Ok(cli) => cli,
        Err(Stop::Help(cmd)) => {
            let _ = std::io::stdout().write_all(help(cmd).as_bytes());
            return 0;
        }
        Err(Stop::Version) => {
            let _ = writeln!(
                std::io::stdout(),
                "berth version {}\nspec: {}",
                env!("CARGO_PKG_VERSION"),
                berth::oci::state::OCI_VERSION
            );
            return 0;
        }
        Err(Stop::NoCommand) => {
            let _ = std::io::stderr().write_all(help(None).as_bytes());
            return 1;
        }
        // runc exits 1 on usage errors too; logging is not set up yet.
        Err(Stop::Usage(msg)) => {
            let _ = writeln!(std::io::stderr(), "berth: {msg}");
            return 1;
        }
    };
    let g = &cli.global;
    let format = match g.log_format {
        LogFormat::Text => Format::Text,
        LogFormat::Json => Format::Json,
    };
    if let Err(e) = logging::init(g.log.as_deref(), format, g.debug) {
        eprintln!("berth: open log file: {e}");
        return 1;
    }
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            logging::fatal(&e.to_string(), g.log.is_some());
            1
        }
    }
}

fn dispatch(cli: &Cli) -> berth::Result<i32> {
    let g = &cli.global;
    if g.systemd_cgroup {
        let why = if std::path::Path::new("/run/systemd/system").exists() {
            "berth manages cgroups through cgroupfs only"
        } else {
            "this machine does not run systemd, and berth manages cgroups through cgroupfs only"
        };
        return Err(berth::Error::invalid(format!(
            "--systemd-cgroup is not supported: {why}"
        )));
    }
    if !matches!(g.rootless.as_str(), "true" | "false" | "auto") {
        return Err(berth::Error::invalid(format!(
            "--rootless {:?}: expected true, false or auto",
            g.rootless
        )));
    }
    // A command that puts a process into a container runs from a binary
    // the container cannot write (CVE-2019-5736): re-executed here, before
    // it reads anything, so that what it reads once (a --process JSON on
    // stdin) is still there for the copy.
    if matches!(
        cli.command,
        Command::Create(_) | Command::Run { .. } | Command::Exec(_)
    ) {
        berth::init::process::run_from_sealed_copy()?;
    }
    let root = g.root.clone().unwrap_or_else(default_root);
    let store = Store::new(&root);
    // --rootless auto: rootless when not root, or root only inside a user
    // namespace (rootless podman runs the runtime that way), as runc
    // decides it.
    // Only create and run ask (it costs a read of /proc/self/uid_map).
    let rootless = || match g.rootless.as_str() {
        "true" => true,
        "false" => false,
        _ => !nix::unistd::geteuid().is_root() || berth::linux::namespaces::in_user_namespace(),
    };
    match &cli.command {
        Command::Create(a) => create::run(&store, a, rootless()).map(|()| 0),
        Command::Start { id } => start::run(&store, id).map(|()| 0),
        Command::State { id } => state::run(&store, id).map(|()| 0),
        Command::Kill { all, id, signal } => kill::run(&store, id, signal, *all).map(|()| 0),
        Command::Delete { force, id } => delete::run(&store, id, *force).map(|()| 0),
        Command::Run {
            create,
            detach,
            keep,
        } => run::run(&store, create, *detach, *keep, rootless()),
        Command::List { format, quiet } => list::run(&store, *format, *quiet).map(|()| 0),
        Command::Spec { bundle } => spec::run(bundle, g.rootless == "true").map(|()| 0),
        Command::Features => features::run().map(|()| 0),
        Command::Pause { id } => pause::run(&store, id, true).map(|()| 0),
        Command::Update(a) => update::run(&store, a).map(|()| 0),
        Command::Exec(a) => exec::run(&store, a),
        Command::Events {
            stats,
            interval,
            id,
        } => events::run(&store, id, *stats, interval).map(|()| 0),
        Command::Resume { id } => pause::run(&store, id, false).map(|()| 0),
        Command::Ps {
            format,
            id,
            ps_args,
        } => ps::run(&store, id, *format, ps_args).map(|()| 0),
        Command::Checkpoint(a) => checkpoint::run(&store, g.criu.as_deref(), a).map(|()| 0),
        Command::Restore(a) => restore::run(&store, g.criu.as_deref(), a),
    }
}

#[cfg(test)]
mod tests;

/// /run/berth, or $XDG_RUNTIME_DIR/berth for a user other than root, or
/// for root inside a user namespace unless $USER says it is the real root
/// (runc's rule).
fn default_root() -> PathBuf {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
    let honour = || {
        !nix::unistd::geteuid().is_root()
            || (berth::linux::namespaces::in_user_namespace()
                && std::env::var_os("USER").is_none_or(|u| u != "root"))
    };
    match xdg {
        Some(dir) if honour() => PathBuf::from(dir).join("berth"),
        _ => PathBuf::from("/run/berth"),
    }
}
