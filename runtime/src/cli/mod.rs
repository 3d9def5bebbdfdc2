//! Command-line parsing (runc's flags) and dispatch: one file per command,
//! with its flags, the arguments it makes of them, and what it does.
//!
//! The flags are tables read by a small tokenizer (args.rs) with Go's
//! `flag` rules, as runc has them. clap built every command's definition
//! at each start: about 450 KB of code and 0.3 ms, more than some
//! commands' whole work.

use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::path::PathBuf;

use args::{Arg, Flag, Parser, Value};
use berth::container::store::Store;
use berth::logging::{self, Format};
use create::CreateArgs;
use exec::ExecArgs;
use global::{Global, LogFormat};
use help::help;
use line::{cmd, Cmd, Stop, ID, ID_THEN_REST, NONE};
use list::ListFormat;
use ps::PsFormat;
use update::UpdateArgs;

mod args;
mod checkpoint;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod global;
mod help;
mod kill;
mod line;
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
    Flag::switch("systemd-cgroup", None, "Manage cgroups through systemd: a transient unit per container (cgroup v2 hosts)."),
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

#[rustfmt::skip]
const COMMANDS: &[Cmd] = &[
    cmd("create", "<ID>", "Create a container from a bundle; its process waits for `start`.", &[create::FLAGS], ID, create::parse),
    cmd("start", "<ID>", "Start a created container's process.", &[], ID, start::parse),
    cmd("state", "<ID>", "Print a container's state as JSON.", &[], ID, state::parse),
    cmd("kill", "<ID> [SIGNAL]", "Send a signal (KILL, SIGKILL or a number; default SIGTERM) to a container's init process.", &[kill::FLAGS], (1, 2), kill::parse),
    cmd("delete", "<ID>", "Delete a container and everything berth made for it.", &[delete::FLAGS], ID, delete::parse),
    cmd("run", "<ID>", "Create and start a container, and wait for it unless detached.", &[create::FLAGS, run::FLAGS], ID, run::parse),
    cmd("list", "", "List containers.", &[list::FLAGS], NONE, list::parse),
    cmd("pause", "<ID>", "Freeze every process of a running container.", &[], ID, pause::parse_pause),
    cmd("resume", "<ID>", "Thaw a paused container.", &[], ID, pause::parse_resume),
    cmd("ps", "<ID> [PS-ARGS]...", "List the processes of a container (PS-ARGS: options for ps(1), default -ef).", &[ps::FLAGS], ID_THEN_REST, ps::parse),
    cmd("exec", "<ID> [COMMAND]...", "Run a new process in a running container.", &[exec::FLAGS], ID_THEN_REST, exec::parse),
    cmd("events", "<ID>", "Stream a container's events (stats, OOM) as JSON lines.", &[events::FLAGS], ID, events::parse),
    cmd("update", "<ID>", "Change the resource limits of a running container.", &[update::FLAGS], ID, update::parse),
    cmd("spec", "", "Write a default config.json.", &[spec::FLAGS], NONE, spec::parse),
    cmd("features", "", "Print what this build of berth supports, as JSON.", &[], NONE, features::parse),
    cmd("checkpoint", "<ID>", "Save a running container's processes to CRIU images.", &[checkpoint::CRIU_FLAGS, checkpoint::FLAGS], ID, checkpoint::parse),
    cmd("restore", "<ID>", "Make a container from a bundle and CRIU images, and wait for it unless detached.", &[checkpoint::CRIU_FLAGS, restore::FLAGS], ID, restore::parse),
];

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
        let command = cmd.read(&mut p, &mut global)?;
        Ok(Cli { global, command })
    }
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
    g.check()?;
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
    let store = Store::new(&g.root());
    let store = &store;
    // Each command in a function of its own (see `apart`).
    match &cli.command {
        Command::Create(a) => apart(|| create::run(store, a, g).map(|()| 0)),
        Command::Start { id } => apart(|| start::run(store, id).map(|()| 0)),
        Command::State { id } => apart(|| state::run(store, id).map(|()| 0)),
        Command::Kill { all, id, signal } => {
            apart(|| kill::run(store, id, signal, *all).map(|()| 0))
        }
        Command::Delete { force, id } => apart(|| delete::run(store, id, *force).map(|()| 0)),
        Command::Run {
            create,
            detach,
            keep,
        } => apart(|| run::run(store, create, *detach, *keep, g)),
        Command::List { format, quiet } => apart(|| list::run(store, *format, *quiet).map(|()| 0)),
        Command::Spec { bundle } => apart(|| spec::run(bundle, g.rootless == "true").map(|()| 0)),
        Command::Features => apart(|| features::run().map(|()| 0)),
        Command::Pause { id } => apart(|| pause::run(store, id, true).map(|()| 0)),
        Command::Update(a) => apart(|| update::run(store, a).map(|()| 0)),
        Command::Exec(a) => apart(|| exec::run(store, a)),
        Command::Events {
            stats,
            interval,
            id,
        } => apart(|| events::run(store, id, *stats, interval).map(|()| 0)),
        Command::Resume { id } => apart(|| pause::run(store, id, false).map(|()| 0)),
        Command::Ps {
            format,
            id,
            ps_args,
        } => apart(|| ps::run(store, id, *format, ps_args).map(|()| 0)),
        Command::Checkpoint(a) => {
            apart(|| checkpoint::run(store, g.criu.as_deref(), a).map(|()| 0))
        }
        Command::Restore(_) if g.systemd_cgroup => Err(berth::Error::invalid(
            "restore: --systemd-cgroup is not supported yet (restore with cgroupfs)",
        )),
        Command::Restore(a) => apart(|| restore::run(store, g.criu.as_deref(), a)),
    }
}

/// Runs `f` in a function of its own. Inlined into `dispatch`, every
/// command made one function of 70 KiB of code with a 7.7 KiB stack
/// frame, all of which every command entered: its stack probe touched
/// two pages, and the function order (runtime/berth.order) had to put
/// all of that code on `run`'s path.
#[inline(never)]
fn apart<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests;
