//! The state store: one directory per container under `--root`.
//!
//! `ROOT/ID/` is created with mkdir, which makes concurrent creates of one ID
//! safe (exactly one wins). Every command that changes a container holds an
//! exclusive flock on that directory; `state.json` is replaced atomically
//! (write, fsync-free rename) so readers never see half a file. A directory
//! without `state.json` is a container still being created.
//!
//! The status is not stored: it is read from the kernel on every query, the
//! way runc does, so it cannot go stale when a process dies on its own.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::error::{Error, Result, SysResult};
use crate::init::{EXEC_FIFO, INIT_COMM};
use crate::oci::state::{State, Status};

pub const STATE_FILE: &str = "state.json";
/// The cgroups a create has made, written before clone: a create killed
/// before it wrote state.json leaves them for `delete` to find.
pub const CREATING_FILE: &str = "creating.json";

pub struct Store {
    root: PathBuf,
}

/// A container's directory, locked for as long as this value lives.
#[derive(Debug)]
pub struct ContainerDir {
    pub id: String,
    pub path: PathBuf,
    lock: File,
    /// Opened by [`Store::read`] while another command held the lock.
    pub busy: bool,
    /// The directory's device and inode, as locked.
    dev_ino: (u64, u64),
}

/// A container's directory that this process made or locked before, open
/// but unlocked ([`ContainerDir::unlock`]).
#[derive(Debug)]
pub struct Unlocked {
    id: String,
    path: PathBuf,
    lock: File,
    dev_ino: (u64, u64),
}

impl Store {
    pub fn new(root: &Path) -> Store {
        Store {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Makes the directory of a new container and locks it. An existing
    /// directory means the ID is taken.
    pub fn create(&self, id: &str) -> Result<ContainerDir> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .sys_path("mkdir", &self.root)?;
        let path = self.root.join(id);
        // 0711: init opens the exec fifo relative to this directory after
        // it has switched to the container's user, who is "other" here.
        match std::fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {
                use std::os::unix::fs::PermissionsExt;
                let perm = std::fs::Permissions::from_mode(0o711);
                std::fs::set_permissions(&path, perm).sys_path("chmod", &path)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::invalid(format!("container {id} already exists")))
            }
            Err(e) => return Err(Error::io("mkdir", &path, e)),
        }
        let dir = lock_dir(id, path.clone(), Lock::Exclusive);
        if dir.is_err() {
            let _ = std::fs::remove_dir_all(&path);
        }
        dir
    }

    /// Locks an existing container's directory.
    pub fn open(&self, id: &str) -> Result<ContainerDir> {
        crate::oci::config::validate_id(id)?;
        lock_dir(id, self.root.join(id), Lock::Exclusive)
    }

    /// Opens an existing container's directory to read it (`state`,
    /// `list`, `ps`, `events`) without waiting for a command that is
    /// changing it: a hook that runs `berth state` while the create or
    /// start that runs the hook holds the lock gets its answer, as from
    /// runc, instead of waiting for its own caller until the hook's
    /// timeout. state.json is replaced atomically, so what is read is
    /// whole; [`ContainerDir::busy`] says whether another command held the
    /// lock (and a missing state.json then means a create under way).
    pub fn read(&self, id: &str) -> Result<ContainerDir> {
        crate::oci::config::validate_id(id)?;
        lock_dir(id, self.root.join(id), Lock::SharedIfFree)
    }

    /// IDs of every container under the root, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read directory", &self.root, e)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Lock {
    /// Wait for the lock, and hold it alone.
    Exclusive,
    /// Share it with other readers if no command holds it; else go on
    /// without it.
    SharedIfFree,
}

fn lock_dir(id: &str, path: PathBuf, mode: Lock) -> Result<ContainerDir> {
    let lock = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::not_found(format!("container {id} does not exist")))
        }
        Err(e) => return Err(Error::io("open", &path, e)),
    };
    lock_held(id, path, lock, mode, None)
}

/// Locks the open directory `lock`; `dev_ino` when it was locked before.
fn lock_held(
    id: &str,
    path: PathBuf,
    lock: File,
    mode: Lock,
    dev_ino: Option<(u64, u64)>,
) -> Result<ContainerDir> {
    // flock on a directory fd: released by the kernel when the process
    // dies, so a killed berth never leaves a lock behind.
    let op = match mode {
        Lock::Exclusive => libc::LOCK_EX,
        Lock::SharedIfFree => libc::LOCK_SH | libc::LOCK_NB,
    };
    // SAFETY: flock on a descriptor we own.
    let busy = match Errno::result(unsafe { libc::flock(lock.as_raw_fd(), op) }) {
        Ok(_) => false,
        Err(Errno::EWOULDBLOCK) if mode == Lock::SharedIfFree => true,
        Err(e) => return Err(e).sys_path("flock", &path),
    };
    // The lock may have been waited for while a delete removed the
    // directory (or a create made a new one of the same name): only the
    // directory that is at the path now is the container.
    use std::os::unix::fs::MetadataExt;
    let dev_ino = match dev_ino {
        Some(d) => d,
        None => {
            let held = lock.metadata().sys_path("stat", &path)?;
            (held.dev(), held.ino())
        }
    };
    if !std::fs::metadata(&path).is_ok_and(|m| (m.dev(), m.ino()) == dev_ino) {
        return Err(Error::not_found(format!("container {id} does not exist")));
    }
    Ok(ContainerDir {
        id: id.to_string(),
        path,
        lock,
        busy,
        dev_ino,
    })
}

impl Unlocked {
    /// Waits for the lock again. Not found when the directory was removed
    /// meanwhile (`delete` by another command), or another container of
    /// the same ID has taken its place.
    pub fn relock(self) -> Result<ContainerDir> {
        lock_held(
            &self.id,
            self.path,
            self.lock,
            Lock::Exclusive,
            Some(self.dev_ino),
        )
    }
}

/// A state written under a temporary name ([`ContainerDir::stage`]).
pub struct Staged {
    tmp: PathBuf,
    dst: PathBuf,
}

impl Staged {
    pub fn commit(self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.dst).sys_path("rename to", &self.dst)
    }
}

impl ContainerDir {
    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    /// The open, flocked directory.
    pub fn lock_file(&self) -> &File {
        &self.lock
    }

    /// None while the container is still being created.
    pub fn load(&self) -> Result<Option<State>> {
        let path = self.path.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::invalid(format!("{}: corrupt state: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", &path, e)),
        }
    }

    pub fn save(&self, state: &State) -> Result<()> {
        self.stage(state)?.commit()
    }

    /// Writes the state under a temporary name; [`Staged::commit`] renames
    /// it into place. create stages it while init builds the container and
    /// commits once init is ready: the write is off the critical path, and
    /// state.json still only ever describes a finished container.
    pub fn stage(&self, state: &State) -> Result<Staged> {
        let tmp = self.path.join(".state.json.tmp");
        let bytes = serde_json::to_vec(state).expect("state serialises");
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&bytes))
            .sys_path("write", &tmp)?;
        Ok(Staged {
            tmp,
            dst: self.path.join(STATE_FILE),
        })
    }

    /// Records the cgroups made so far; read back by [`Self::load_pending`].
    /// One small write, no rename: a partial file only loses the record.
    pub fn save_pending(&self, cgroups: &crate::linux::cgroups::Cgroups) -> Result<()> {
        let path = self.path.join(CREATING_FILE);
        let bytes = cgroups.to_json().expect("cgroups serialise");
        std::fs::write(&path, bytes).sys_path("write", &path)
    }

    /// The cgroups a create that never finished had made.
    pub fn load_pending(&self) -> Option<crate::linux::cgroups::Cgroups> {
        let bytes = std::fs::read(self.path.join(CREATING_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The container's status, read from the kernel now.
    pub fn status(&self, state: Option<&State>) -> Status {
        let Some(state) = state else {
            return Status::Creating;
        };
        if !process_alive(state.pid, state.start_time) {
            return Status::Stopped;
        }
        // The fifo lives until `start` has let the process go on.
        if self.fifo_path().exists() && init_waits(state.pid) {
            Status::Created
        } else if state.cgroups.as_ref().is_some_and(|c| c.is_frozen()) {
            Status::Paused
        } else {
            Status::Running
        }
    }

    /// Lets other commands lock the container, keeping the directory open:
    /// `run` while its container runs, which deletes it afterwards.
    pub fn unlock(self) -> Unlocked {
        // SAFETY: flock on a descriptor we own. Releasing a lock on an open
        // descriptor has no way to fail (flock(2)'s errors are a bad
        // descriptor, a bad operation, and no memory for a new lock).
        unsafe { libc::flock(self.lock.as_raw_fd(), libc::LOCK_UN) };
        Unlocked {
            id: self.id,
            path: self.path,
            lock: self.lock,
            dev_ino: self.dev_ino,
        }
    }

    /// Removes the directory; the lock goes with it.
    pub fn remove(self) -> Result<()> {
        std::fs::remove_dir_all(&self.path).sys_path("remove", &self.path)
    }
}

/// Written to a temporary name and renamed, so a reader (containerd polls
/// it) never sees an empty file.
pub fn write_pid_file(path: &Path, pid: Pid) -> Result<()> {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().sys("getcwd")?.join(path)
    };
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, pid.as_raw().to_string()).sys_path("write", &tmp)?;
    std::fs::rename(&tmp, &path).sys_path("rename to", &path)
}

/// Start time (field 22 of /proc/PID/stat) and whether the process is a
/// zombie. None when there is no such process.
pub fn proc_stat(pid: i32) -> Option<(u64, bool)> {
    let stat = berth_proc::read_text(Path::new(&format!("/proc/{pid}/stat"))).ok()?;
    // The command name (field 2) may contain spaces and parentheses; the
    // fields after it start after its last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    // rest starts at field 3; field 22 is the 20th from here.
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state == "Z" || state == "X"))
}

/// Whether `pid` still carries init's name, so has not reached execve.
fn init_waits(pid: i32) -> bool {
    let want = &INIT_COMM[..INIT_COMM.len() - 1];
    std::fs::read(format!("/proc/{pid}/comm")).is_ok_and(|c| c.strip_suffix(b"\n") == Some(want))
}

/// True when `pid` is still the process berth started and has not exited.
pub fn process_alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    matches!(proc_stat(pid), Some((start, zombie)) if start == start_time && !zombie)
}

pub fn is_enoent(e: &Error) -> bool {
    e.errno() == Some(Errno::ENOENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_wrong_start_time_is_not() {
        let pid = std::process::id() as i32;
        let (start, zombie) = proc_stat(pid).unwrap();
        assert!(!zombie);
        assert!(process_alive(pid, start));
        assert!(!process_alive(pid, start + 1));
        assert!(!process_alive(0, 0));
    }

    #[test]
    fn an_unlocked_directory_is_relocked_only_while_it_is_the_container() {
        let tmp = std::env::temp_dir().join(format!("berth-relock-test-{}", std::process::id()));
        let store = Store::new(&tmp);
        let dir = store.create("c1").unwrap();
        // A second descriptor's flock conflicts with this process's own.
        assert!(store.read("c1").unwrap().busy);
        let unlocked = dir.unlock();
        assert!(!store.read("c1").unwrap().busy);
        let dir = unlocked.relock().unwrap();
        assert!(store.read("c1").unwrap().busy);
        // Removed meanwhile, and removed then made again under its ID.
        let unlocked = dir.unlock();
        store.open("c1").unwrap().remove().unwrap();
        assert_eq!(
            unlocked.relock().unwrap_err().kind(),
            crate::error::Kind::NotFound
        );
        let unlocked = store.create("c1").unwrap().unlock();
        store.open("c1").unwrap().remove().unwrap();
        let again = store.create("c1").unwrap().unlock();
        assert_eq!(
            unlocked.relock().unwrap_err().kind(),
            crate::error::Kind::NotFound
        );
        again.relock().unwrap().remove().unwrap();
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn create_refuses_a_taken_id_and_status_follows_the_kernel() {
        let tmp = std::env::temp_dir().join(format!("berth-state-test-{}", std::process::id()));
        let store = Store::new(&tmp);
        let dir = store.create("c1").unwrap();
        assert!(store
            .create("c1")
            .unwrap_err()
            .to_string()
            .contains("already exists"));
        assert_eq!(dir.status(None), Status::Creating);
        let pid = std::process::id() as i32;
        let state = State {
            id: "c1".into(),
            pid,
            start_time: proc_stat(pid).unwrap().0,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: crate::timefmt::now_rfc3339_nano(),
            annotations: Default::default(),
            hooks: None,
            cgroups: None,
            exec: None,
        };
        dir.save(&state).unwrap();
        let loaded = dir.load().unwrap().unwrap();
        assert_eq!(dir.status(Some(&loaded)), Status::Running);
        // The fifo is still there but the process has left init's name
        // behind (a `start` killed after letting init go): running.
        File::create(dir.fifo_path()).unwrap();
        assert_eq!(dir.status(Some(&loaded)), Status::Running);
        // A process that still has init's name waits for start. execve
        // names a process after the file it was given, here a symlink.
        let link = tmp.join("berth-init");
        std::os::unix::fs::symlink("/bin/sleep", &link).unwrap();
        let mut waiting = std::process::Command::new(&link).arg("60").spawn().unwrap();
        let wpid = waiting.id() as i32;
        let init = State {
            pid: wpid,
            start_time: proc_stat(wpid).unwrap().0,
            ..loaded.clone()
        };
        assert_eq!(dir.status(Some(&init)), Status::Created);
        waiting.kill().unwrap();
        waiting.wait().unwrap();
        assert_eq!(dir.status(Some(&init)), Status::Stopped);
        assert_eq!(store.list().unwrap(), vec!["c1".to_string()]);
        std::fs::remove_file(&link).unwrap();
        dir.remove().unwrap();
        assert!(store.open("c1").is_err());
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
