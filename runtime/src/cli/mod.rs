//! Command-line parsing (runc's flags) and dispatch: one file per command.

use std::path::PathBuf;

use berth::logging::{self, Format};
use berth::state::Store;
use clap::{Args, Parser, Subcommand, ValueEnum};

mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;
mod update;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "An OCI container runtime with runc's command line"
)]
struct Cli {
    /// Directory for container state (a tmpfs is best).
    #[arg(long, global = true, default_value = "/run/berth")]
    root: PathBuf,
    /// Log file; errors are written here as well as to stderr.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format.
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log debug messages.
    #[arg(long, global = true)]
    debug: bool,
    /// Manage cgroups through systemd (not supported yet).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Rootless mode: true, false or auto (`spec --rootless` means true).
    #[arg(long, global = true, default_value = "auto", num_args = 0..=1, default_missing_value = "true", require_equals = false)]
    rootless: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a container from a bundle; its process waits for `start`.
    Create(CreateArgs),
    /// Start a created container's process.
    Start { id: String },
    /// Print a container's state as JSON.
    State { id: String },
    /// Send a signal to a container's init process.
    Kill {
        /// Signal every process of the container.
        #[arg(short, long)]
        all: bool,
        id: String,
        /// Name (KILL, SIGKILL) or number; default SIGTERM.
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container and everything berth made for it.
    Delete {
        /// Kill the container if it is still running.
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create and start a container, and wait for it unless detached.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container has started.
        #[arg(short, long)]
        detach: bool,
        /// Keep the container's state after it exits (foreground only).
        #[arg(long)]
        keep: bool,
    },
    /// List containers.
    List {
        #[arg(short, long, value_enum, default_value = "table")]
        format: ListFormat,
        /// Print only the IDs.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Freeze every process of a running container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// List the processes of a container.
    Ps {
        #[arg(short, long, value_enum, default_value = "table")]
        format: PsFormat,
        id: String,
        /// Options for ps(1) (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Run a new process in a running container.
    Exec(ExecArgs),
    /// Stream a container's events (stats, OOM) as JSON lines.
    Events {
        /// Print the statistics once and exit.
        #[arg(long)]
        stats: bool,
        /// How often to print statistics.
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Change the resource limits of a running container.
    Update(UpdateArgs),
    /// Write a default config.json.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
    /// Print what this build of berth supports, as JSON.
    Features,
}

/// runc's `exec` flags.
#[derive(Args, Debug)]
struct ExecArgs {
    /// A runtime-spec process JSON to run (instead of the command and flags).
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Unix socket that receives the pty master with --tty.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the new process.
    #[arg(long = "pidfd-socket")]
    pidfd_socket: Option<PathBuf>,
    /// File to write the new process's pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Return once the process runs.
    #[arg(short, long)]
    detach: bool,
    /// Give the process a terminal.
    #[arg(short, long)]
    tty: bool,
    /// Working directory in the container.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Environment variable KEY=VALUE (repeatable).
    #[arg(short, long)]
    env: Vec<String>,
    /// UID[:GID] to run as.
    #[arg(short, long)]
    user: Option<String>,
    /// Additional group (repeatable).
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    /// Add a capability (repeatable).
    #[arg(short, long)]
    cap: Vec<String>,
    /// Set no_new_privs for the process.
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    /// AppArmor profile for the process.
    #[arg(long)]
    apparmor: Option<String>,
    /// SELinux label for the process.
    #[arg(long = "process-label")]
    process_label: Option<String>,
    /// Pass N more descriptors (from 3) to the process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: i32,
    /// Exec even into a paused container.
    #[arg(long = "ignore-paused")]
    ignore_paused: bool,
    /// Run in this sub-cgroup of the container's ([CONTROLLER:]PATH).
    #[arg(long)]
    cgroup: Option<String>,
    id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// runc's `update` flags.
#[derive(Args, Debug)]
struct UpdateArgs {
    /// linux.resources JSON to apply, from a file or "-" for stdin.
    #[arg(short, long)]
    resources: Option<String>,
    /// Memory limit (bytes, or with k, m, g).
    #[arg(long)]
    memory: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation")]
    memory_reservation: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap.
    #[arg(long = "memory-swap")]
    memory_swap: Option<String>,
    /// CPU shares (relative weight).
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    cpu_share: Option<u64>,
    /// CPU CFS quota in microseconds per period.
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds.
    #[arg(long = "cpu-period")]
    cpu_period: Option<u64>,
    /// CPU CFS burst in microseconds.
    #[arg(long = "cpu-burst")]
    cpu_burst: Option<u64>,
    /// Realtime runtime in microseconds.
    #[arg(long = "cpu-rt-runtime")]
    cpu_rt_runtime: Option<i64>,
    /// Realtime period in microseconds.
    #[arg(long = "cpu-rt-period")]
    cpu_rt_period: Option<u64>,
    /// CPUs to run on (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Memory nodes to use.
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Maximum number of processes; 0 or less for no limit.
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Block IO weight (10..1000).
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    id: String,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum PsFormat {
    Table,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ListFormat {
    Table,
    Json,
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// The bundle directory (config.json and the rootfs).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket that receives the pty master when process.terminal is set.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the container's process.
    #[arg(long = "pidfd-socket")]
    pidfd_socket: Option<PathBuf>,
    /// File to write the container's pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Do not use pivot_root (for a ramfs root).
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Do not create a session keyring for the container.
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Pass N more descriptors (from 3) to the container's process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: i32,
    id: String,
}

impl CreateArgs {
    fn options(&self) -> berth::create::CreateOptions {
        berth::create::CreateOptions {
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

pub fn main() -> i32 {
    let cli = Cli::parse();
    let format = match cli.log_format {
        LogFormat::Text => Format::Text,
        LogFormat::Json => Format::Json,
    };
    if let Err(e) = logging::init(cli.log.as_deref(), format, cli.debug) {
        eprintln!("berth: open log file: {e}");
        return 1;
    }
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            logging::fatal(&e.to_string(), cli.log.is_some());
            1
        }
    }
}

fn dispatch(cli: &Cli) -> berth::Result<i32> {
    if cli.systemd_cgroup {
        let why = if std::path::Path::new("/run/systemd/system").exists() {
            "berth manages cgroups through cgroupfs only"
        } else {
            "this machine does not run systemd, and berth manages cgroups through cgroupfs only"
        };
        return Err(berth::Error::invalid(format!(
            "--systemd-cgroup is not supported: {why}"
        )));
    }
    if !matches!(cli.rootless.as_str(), "true" | "false" | "auto") {
        return Err(berth::Error::invalid(format!(
            "--rootless {:?}: expected true, false or auto",
            cli.rootless
        )));
    }
    let store = Store::new(&cli.root);
    match &cli.command {
        Command::Create(a) => create::run(&store, a).map(|()| 0),
        Command::Start { id } => start::run(&store, id).map(|()| 0),
        Command::State { id } => state::run(&store, id).map(|()| 0),
        Command::Kill { all, id, signal } => kill::run(&store, id, signal, *all).map(|()| 0),
        Command::Delete { force, id } => delete::run(&store, id, *force).map(|()| 0),
        Command::Run {
            create,
            detach,
            keep,
        } => run::run(&store, create, *detach, *keep),
        Command::List { format, quiet } => list::run(&store, *format, *quiet).map(|()| 0),
        Command::Spec { bundle } => spec::run(bundle, cli.rootless == "true").map(|()| 0),
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
    }
}
