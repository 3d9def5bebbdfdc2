use berth::container::checkpoint::{
    checkpoint, parse_cg_mode, parse_empty_ns, CheckpointOptions, CriuFlags,
};
use berth::container::criu::Criu;
use berth::container::store::Store;
use berth::{Error, Result};

use super::args::{self, Flag, Given};
use super::line::{first, Line, Stop};
use super::Command;

/// The flags checkpoint and restore share, passed on to criu.
#[rustfmt::skip]
pub const CRIU_FLAGS: &[Flag] = &[
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
pub const FLAGS: &[Flag] = &[
    Flag::value("parent-path", None, "DIR", "A previous pre-dump, relative to the image directory."),
    Flag::switch("leave-running", None, "Leave the container running after the checkpoint."),
    Flag::switch("pre-dump", None, "Save memory only; the container keeps running."),
    Flag::value("page-server", None, "ADDRESS:PORT", "Send images to a page server (not supported)."),
    Flag::value("status-fd", None, "FD", "Lazy-pages status descriptor (not supported)."),
];

/// The flags checkpoint and restore share (runc's), as given.
#[derive(Debug, Default)]
pub struct CriuArgs {
    pub(super) image_path: Option<std::path::PathBuf>,
    pub(super) work_path: Option<std::path::PathBuf>,
    pub(super) tcp_established: bool,
    pub(super) ext_unix_sk: bool,
    pub(super) shell_job: bool,
    pub(super) file_locks: bool,
    pub(super) auto_dedup: bool,
    pub(super) manage_cgroups_mode: Option<String>,
    pub(super) empty_ns: Vec<String>,
    /// runc's flags berth does not implement, refused by name rather than
    /// ignored: each changes what a checkpoint is.
    pub(super) unsupported: Option<&'static str>,
}

impl CriuArgs {
    /// Whether `v` was one of the shared flags.
    pub fn set(&mut self, v: &Given) -> Result<bool, args::Error> {
        match v.flag.long {
            "image-path" => self.image_path = Some(v.path()),
            "work-path" => self.work_path = Some(v.path()),
            "tcp-established" => self.tcp_established = v.on()?,
            "ext-unix-sk" => self.ext_unix_sk = v.on()?,
            "shell-job" => self.shell_job = v.on()?,
            "file-locks" => self.file_locks = v.on()?,
            "auto-dedup" => self.auto_dedup = v.on()?,
            "manage-cgroups-mode" => self.manage_cgroups_mode = Some(v.string()?),
            "empty-ns" => self.empty_ns.push(v.string()?),
            "lazy-pages" => {
                if v.on()? {
                    self.unsupported = Some(v.flag.long);
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    pub fn flags(&self) -> Result<CriuFlags> {
        if let Some(f) = self.unsupported {
            return Err(Error::invalid(format!("--{f} is not supported by berth")));
        }
        Ok(CriuFlags {
            image_path: self.image_path.clone(),
            work_path: self.work_path.clone(),
            tcp_established: self.tcp_established,
            ext_unix_sk: self.ext_unix_sk,
            shell_job: self.shell_job,
            file_locks: self.file_locks,
            auto_dedup: self.auto_dedup,
            manage_cgroups_mode: self
                .manage_cgroups_mode
                .as_deref()
                .filter(|m| !m.is_empty())
                .map(parse_cg_mode)
                .transpose()?,
            empty_ns: parse_empty_ns(&self.empty_ns)?,
        })
    }
}

#[derive(Debug, Default)]
pub struct CheckpointArgs {
    pub(super) criu: CriuArgs,
    pub(super) parent_path: Option<std::path::PathBuf>,
    pub(super) leave_running: bool,
    pub(super) pre_dump: bool,
    pub(super) unsupported: Option<&'static str>,
    pub(super) id: String,
}

impl CheckpointArgs {
    pub fn set(&mut self, v: &Given) -> Result<(), args::Error> {
        if self.criu.set(v)? {
            return Ok(());
        }
        match v.flag.long {
            "parent-path" => self.parent_path = Some(v.path()),
            "leave-running" => self.leave_running = v.on()?,
            "pre-dump" => self.pre_dump = v.on()?,
            // runc's defaults (none, -1) are accepted as given.
            "page-server" if v.str()?.is_empty() => {}
            "status-fd" if v.str()? == "-1" => {}
            "page-server" | "status-fd" => self.unsupported = Some(v.flag.long),
            other => unreachable!("checkpoint flag --{other} has no field"),
        }
        Ok(())
    }
}

pub fn parse(line: Line) -> Result<Command, Stop> {
    let mut a = CheckpointArgs::default();
    a.id = first(line.words(|v| a.set(v))?);
    Ok(Command::Checkpoint(a))
}

pub fn run(store: &Store, criu: Option<&std::path::Path>, a: &CheckpointArgs) -> Result<()> {
    if let Some(f) = a.unsupported {
        return Err(Error::invalid(format!("--{f} is not supported by berth")));
    }
    let opts = CheckpointOptions {
        criu: a.criu.flags()?,
        parent_path: a.parent_path.clone().filter(|p| !p.as_os_str().is_empty()),
        leave_running: a.leave_running,
        pre_dump: a.pre_dump,
    };
    let criu = Criu::find(criu)?;
    checkpoint(store, &criu, &a.id, &opts)
}
