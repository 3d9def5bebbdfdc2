use std::path::PathBuf;

use berth::container::create::{create, Console};
use berth::container::store::Store;
use berth::Result;

use super::args::{self, Flag, Given};
use super::line::{first, Line, Stop};
use super::Command;

#[rustfmt::skip]
pub const FLAGS: &[Flag] = &[
    Flag::value("bundle", Some('b'), "DIR", "The bundle directory (config.json and the rootfs; default .)."),
    Flag::value("console-socket", None, "PATH", "Unix socket that receives the pty master when process.terminal is set."),
    Flag::value("pidfd-socket", None, "PATH", "Unix socket that receives a pidfd of the container's process."),
    Flag::value("pid-file", None, "FILE", "File to write the container's pid to."),
    Flag::switch("no-pivot", None, "Do not use pivot_root (for a ramfs root)."),
    Flag::switch("no-new-keyring", None, "Do not create a session keyring for the container."),
    Flag::value("preserve-fds", None, "N", "Pass N more descriptors (from 3) to the container's process."),
];

#[derive(Debug)]
pub struct CreateArgs {
    pub(super) bundle: PathBuf,
    pub(super) console_socket: Option<PathBuf>,
    pub(super) pidfd_socket: Option<PathBuf>,
    pub(super) pid_file: Option<PathBuf>,
    pub(super) no_pivot: bool,
    pub(super) no_new_keyring: bool,
    pub(super) preserve_fds: i32,
    pub(super) id: String,
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
    pub fn set(&mut self, v: &Given) -> Result<(), args::Error> {
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

    pub fn options(&self, g: &super::global::Global) -> berth::container::create::CreateOptions {
        berth::container::create::CreateOptions {
            rootless: g.is_rootless(),
            systemd: g.systemd_cgroup,
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            console_socket: self.console_socket.clone(),
            pid_file: self.pid_file.clone(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
            pidfd_socket: self.pidfd_socket.clone(),
            release: berth::container::create::Release::OnStart,
        }
    }
}

pub fn parse(line: Line) -> Result<Command, Stop> {
    let mut a = CreateArgs::default();
    a.id = first(line.words(|v| a.set(v))?);
    Ok(Command::Create(a))
}

pub fn run(store: &Store, a: &CreateArgs, g: &super::global::Global) -> Result<()> {
    create(
        store,
        &a.options(g),
        Console::Socket(a.console_socket.clone()),
    )
    .map(drop)
}
