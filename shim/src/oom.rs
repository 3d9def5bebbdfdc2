//! OOM notifications, for the shim's TaskOOM events.
//!
//! One [`OomWatcher`] runs one thread with one epoll set for every watched
//! container:
//!
//! - cgroup v1: an eventfd registered through `cgroup.event_control` on the
//!   container's `memory.oom_control`; each read of the eventfd is one OOM.
//!   The kernel also signals it when the cgroup is removed, which is told
//!   apart by the cgroup's files being gone, and drops the watch silently.
//! - cgroup v2: inotify on `memory.events` (IN_MODIFY) and on the cgroup
//!   directory (IN_DELETE_SELF); each change that raises the `oom_kill`
//!   counter is one OOM notification, however much it rose by. The
//!   directory's removal drops the watch silently.
//!
//! [`OomWatcher::watch`] opens the files and hands the watch to the thread
//! through a mutex'd list and an eventfd in the epoll set; the thread adds it
//! to the epoll set. All descriptors are non-blocking, so the thread only
//! ever sleeps in `epoll_wait`.
//!
//! Once a cgroup is removed, an OOM the thread has not read yet is no longer
//! told apart from the removal: [`OomWatcher::flush`] reads a container's
//! watches from the caller's thread, for the shim to call before it has the
//! cgroup removed.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use berth_proc::mountinfo::{mounts, Mount};

/// The epoll token of the wake-up eventfd; watches get tokens from 1 up.
const WAKE: u64 = 0;

/// Watches containers' memory cgroups for OOM kills and calls `notify` with
/// the container's id, from the watcher's own thread.
pub struct OomWatcher {
    shared: Arc<Shared>,
}

struct Shared {
    epoll: Epoll,
    /// In the epoll set: written to when `state` has news.
    wake: EventFd,
    state: Mutex<State>,
    notify: Box<dyn Fn(&str) + Send + Sync>,
}

struct State {
    next_token: u64,
    /// Watches made by `watch`, not yet in the epoll set.
    pending: Vec<(u64, Watch)>,
    /// Watches in the epoll set, by token.
    active: HashMap<u64, Watch>,
    stop: bool,
}

impl State {
    /// Takes out every watch of `id`, pending or active.
    fn take(&mut self, id: &str) -> Vec<(u64, Watch)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].1.id == id {
                out.push(self.pending.swap_remove(i));
            } else {
                i += 1;
            }
        }
        let tokens: Vec<u64> = self
            .active
            .iter()
            .filter(|(_, w)| w.id == id)
            .map(|(t, _)| *t)
            .collect();
        for t in tokens {
            if let Some(w) = self.active.remove(&t) {
                out.push((t, w));
            }
        }
        out
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the maps usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self) {
        if let Err(e) = self.wake.write(1) {
            log::warn!("oom watcher: waking the watcher thread: {e}");
        }
    }

    /// Calls `notify` for `id`; a panic in it is logged, not spread.
    fn report(&self, id: &str) {
        let call = std::panic::AssertUnwindSafe(|| (self.notify)(id));
        if std::panic::catch_unwind(call).is_err() {
            log::warn!("oom watcher: notify panicked for {id}");
        }
    }

    /// Takes `w` out of the epoll set (if it is there) and closes it.
    fn discard(&self, w: Watch) {
        // ENOENT for a watch still pending: nothing to undo.
        let _ = self.epoll.delete(w.fd());
    }
}

impl OomWatcher {
    /// Starts the watcher thread. `notify` gets the id of a container each
    /// time that container's memory cgroup has an OOM kill (from the
    /// watcher's thread, or from the one calling [`OomWatcher::flush`]).
    pub fn start(notify: impl Fn(&str) + Send + Sync + 'static) -> io::Result<OomWatcher> {
        let w = OomWatcher::idle(notify)?;
        let theirs = w.shared.clone();
        std::thread::Builder::new()
            .name("oom-watcher".into())
            .spawn(move || run(&theirs))?;
        Ok(w)
    }

    /// The watcher without its thread.
    fn idle(notify: impl Fn(&str) + Send + Sync + 'static) -> io::Result<OomWatcher> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let wake = eventfd()?;
        epoll.add(&wake, readable(WAKE))?;
        let shared = Arc::new(Shared {
            epoll,
            wake,
            state: Mutex::new(State {
                next_token: WAKE + 1,
                pending: Vec::new(),
                active: HashMap::new(),
                stop: false,
            }),
            notify: Box::new(notify),
        });
        Ok(OomWatcher { shared })
    }

    /// Watches the memory cgroup `pid` is in for OOM kills, reporting them
    /// as `id`'s. A second watch of the same id replaces the first.
    pub fn watch(&self, id: &str, pid: i32) -> io::Result<()> {
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        for dir in memory_cgroup_dirs(&cgroup, &mountinfo) {
            let w = match &dir {
                CgroupDir::V1(d) if d.join("memory.oom_control").exists() => Watch::v1(id, d)?,
                CgroupDir::V2(d) if d.join("memory.events").exists() => Watch::v2(id, d)?,
                _ => continue,
            };
            self.add(w);
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no memory cgroup found for pid {pid}"),
        ))
    }

    /// Reports, from this thread, the OOM kills of `id` the watcher thread
    /// has not read yet (it may not have run since the kernel signalled
    /// one). To be called before the cgroup is removed: after that, an
    /// unread OOM reads as the removal and is dropped with the watch.
    pub fn flush(&self, id: &str) {
        let mut oom = false;
        {
            let mut st = self.shared.lock();
            let st = &mut *st;
            let active = st.active.values_mut();
            let pending = st.pending.iter_mut().map(|(_, w)| w);
            for w in active.chain(pending).filter(|w| w.id == id) {
                // A cgroup found gone is left to the thread (or `forget`).
                match w.check() {
                    Ok(check) => oom |= check.oom,
                    Err(e) => log::warn!("oom watcher: checking {id}: {e}"),
                }
            }
        }
        if oom {
            self.shared.report(id);
        }
    }

    /// Stops watching `id` (no-op when it is not watched).
    pub fn forget(&self, id: &str) {
        let gone = self.shared.lock().take(id);
        for (_, w) in gone {
            self.shared.discard(w);
        }
    }

    fn add(&self, w: Watch) {
        let old = {
            let mut st = self.shared.lock();
            let old = st.take(&w.id);
            let token = st.next_token;
            st.next_token += 1;
            st.pending.push((token, w));
            old
        };
        for (_, w) in old {
            self.shared.discard(w);
        }
        self.shared.wake();
    }
}

impl Drop for OomWatcher {
    /// Tells the thread to stop; it exits at its next wake-up, without being
    /// joined (a `notify` blocked on the dropping thread cannot deadlock).
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake();
    }
}

/// The watcher thread.
fn run(shared: &Shared) {
    let mut events = [EpollEvent::empty(); 32];
    loop {
        let n = match shared.epoll.wait(&mut events, EpollTimeout::NONE) {
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(e) => {
                // Should not happen; pause rather than spin.
                log::warn!("oom watcher: epoll_wait: {e}");
                std::thread::sleep(std::time::Duration::from_secs(1));
                continue;
            }
        };
        for ev in &events[..n] {
            let token = ev.data();
            if token == WAKE {
                let _ = shared.wake.read();
                let mut st = shared.lock();
                if st.stop {
                    return;
                }
                let pending = std::mem::take(&mut st.pending);
                for (t, w) in pending {
                    match shared.epoll.add(w.fd(), readable(t)) {
                        Ok(()) => {
                            st.active.insert(t, w);
                        }
                        Err(e) => log::warn!("oom watcher: cannot watch {}: {e}", w.id),
                    }
                }
                continue;
            }
            let mut fire = None;
            let mut dead = None;
            {
                let mut st = shared.lock();
                // Forgotten since epoll_wait returned: nothing to do.
                let Some(w) = st.active.get_mut(&token) else {
                    continue;
                };
                let check = w.check().unwrap_or_else(|e| {
                    log::warn!("oom watcher: dropping the watch of {}: {e}", w.id);
                    Check {
                        oom: false,
                        gone: true,
                    }
                });
                if check.oom {
                    fire = Some(w.id.clone());
                }
                if check.gone {
                    dead = st.active.remove(&token);
                }
            }
            if let Some(w) = dead {
                shared.discard(w);
            }
            if let Some(id) = fire {
                shared.report(&id);
            }
        }
    }
}

/// One watched container.
struct Watch {
    id: String,
    kind: Kind,
}

enum Kind {
    V1 {
        /// Signalled by the kernel on OOM and on the cgroup's removal.
        event: EventFd,
        /// Kept open: reading it fails once the cgroup is removed.
        oom_control: File,
        dir: PathBuf,
    },
    V2 {
        inotify: Inotify,
        file_wd: WatchDescriptor,
        dir_wd: WatchDescriptor,
        events: PathBuf,
        last_oom_kill: u64,
    },
}

/// What one readiness of a watch's descriptor meant.
struct Check {
    oom: bool,
    gone: bool,
}

impl Watch {
    fn v1(id: &str, dir: &Path) -> io::Result<Watch> {
        let event = eventfd()?;
        let oom_control = File::open(dir.join("memory.oom_control"))?;
        let line = format!("{} {}", event.as_raw_fd(), oom_control.as_raw_fd());
        OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.event_control"))?
            .write_all(line.as_bytes())?;
        Ok(Watch {
            id: id.to_string(),
            kind: Kind::V1 {
                event,
                oom_control,
                dir: dir.to_path_buf(),
            },
        })
    }

    fn v2(id: &str, dir: &Path) -> io::Result<Watch> {
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)?;
        let events = dir.join("memory.events");
        // Watch first, then read: an OOM in between is not missed.
        let file_wd = inotify.add_watch(&events, AddWatchFlags::IN_MODIFY)?;
        let dir_wd = inotify.add_watch(dir, AddWatchFlags::IN_DELETE_SELF)?;
        let last_oom_kill = oom_kill_count(&std::fs::read_to_string(&events)?).unwrap_or(0);
        Ok(Watch {
            id: id.to_string(),
            kind: Kind::V2 {
                inotify,
                file_wd,
                dir_wd,
                events,
                last_oom_kill,
            },
        })
    }

    /// The descriptor in the epoll set.
    fn fd(&self) -> BorrowedFd<'_> {
        match &self.kind {
            Kind::V1 { event, .. } => event.as_fd(),
            Kind::V2 { inotify, .. } => inotify.as_fd(),
        }
    }

    /// Consumes what made the descriptor readable.
    fn check(&mut self) -> io::Result<Check> {
        match &mut self.kind {
            Kind::V1 {
                event,
                oom_control,
                dir,
            } => {
                match event.read() {
                    Ok(_) => {}
                    Err(Errno::EAGAIN) => {
                        return Ok(Check {
                            oom: false,
                            gone: false,
                        })
                    }
                    Err(e) => return Err(e.into()),
                }
                // The kernel signals removal like an OOM: a removed cgroup's
                // open files fail to read (ENODEV) and its path is gone.
                let mut probe = [0u8; 128];
                let alive = oom_control.read_at(&mut probe, 0).is_ok()
                    && dir.join("memory.oom_control").exists();
                Ok(Check {
                    oom: alive,
                    gone: !alive,
                })
            }
            Kind::V2 {
                inotify,
                file_wd,
                dir_wd,
                events,
                last_oom_kill,
            } => {
                let (mut modified, mut gone) = (false, false);
                loop {
                    let batch = match inotify.read_events() {
                        Ok(batch) if batch.is_empty() => break,
                        Ok(batch) => batch,
                        Err(Errno::EAGAIN) => break,
                        Err(e) => return Err(e.into()),
                    };
                    for ev in batch {
                        let (wd, mask) = (ev.wd, ev.mask);
                        if mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                            modified = true;
                        }
                        if wd == *dir_wd
                            && mask.intersects(
                                AddWatchFlags::IN_DELETE_SELF | AddWatchFlags::IN_IGNORED,
                            )
                        {
                            gone = true;
                        }
                        if wd == *file_wd {
                            modified |= mask.contains(AddWatchFlags::IN_MODIFY);
                            gone |= mask.contains(AddWatchFlags::IN_IGNORED);
                        }
                    }
                }
                let mut oom = false;
                if modified {
                    match std::fs::read_to_string(&*events) {
                        Ok(text) => {
                            // No counter (say, a torn read): keep the last one.
                            if let Some(now) = oom_kill_count(&text) {
                                oom = now > *last_oom_kill;
                                *last_oom_kill = now;
                            }
                        }
                        Err(_) => gone = true,
                    }
                }
                Ok(Check { oom, gone })
            }
        }
    }
}

/// The `oom_kill` line of memory.events.
fn oom_kill_count(memory_events: &str) -> Option<u64> {
    memory_events.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == "oom_kill").then(|| v.trim().parse().ok())?
    })
}

/// A memory cgroup directory a process may be in.
#[derive(Debug, PartialEq, Eq)]
enum CgroupDir {
    V1(PathBuf),
    V2(PathBuf),
}

/// Where the memory cgroup of a process may be, most likely first: its v1
/// memory cgroup under each mount of the v1 memory hierarchy, then its v2
/// cgroup under each cgroup2 mount (on a hybrid host the unified hierarchy
/// has no memory controller; the caller checks which files exist).
/// `proc_cgroup` is /proc/PID/cgroup, `mountinfo` /proc/self/mountinfo.
fn memory_cgroup_dirs(proc_cgroup: &str, mountinfo: &str) -> Vec<CgroupDir> {
    let (v1, v2) = parse_proc_cgroup(proc_cgroup);
    let mounts: Vec<Mount> = mounts(mountinfo).collect();
    let mut out = Vec::new();
    for (path, want_v2) in [(v1, false), (v2, true)] {
        let Some(path) = path else { continue };
        for m in &mounts {
            let wanted = if want_v2 {
                m.fstype == "cgroup2"
            } else {
                v1_memory(m)
            };
            if !wanted {
                continue;
            }
            let Ok(rel) = Path::new(&path).strip_prefix(&m.root) else {
                continue;
            };
            let dir = m.mount_point.join(rel);
            let dir = if want_v2 {
                CgroupDir::V2(dir)
            } else {
                CgroupDir::V1(dir)
            };
            if !out.contains(&dir) {
                out.push(dir);
            }
        }
    }
    out
}

/// From /proc/PID/cgroup: the v1 memory cgroup's path and the v2 path.
fn parse_proc_cgroup(text: &str) -> (Option<String>, Option<String>) {
    let (mut v1, mut v2) = (None, None);
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            v2 = Some(path.to_string());
        } else if controllers.split(',').any(|c| c == "memory") {
            v1 = Some(path.to_string());
        }
    }
    (v1, v2)
}

/// A mount of the v1 hierarchy that has the memory controller.
fn v1_memory(m: &Mount) -> bool {
    m.fstype == "cgroup" && m.super_options.split(',').any(|o| o == "memory")
}

fn eventfd() -> io::Result<EventFd> {
    Ok(EventFd::from_flags(
        EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK,
    )?)
}

/// What the epoll set waits for on each descriptor: input, told apart by
/// `token`.
fn readable(token: u64) -> EpollEvent {
    EpollEvent::new(EpollFlags::EPOLLIN, token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::{kill, Signal};
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::Pid;
    use std::io::Read;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    const HYBRID_MOUNTINFO: &str = "\
24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
";

    const HYBRID_CGROUP: &str = "\
9:name=systemd:/default/c1
8:pids:/default/c1
4:memory:/default/c1
1:cpu,cpuacct:/default/c1
0::/default/c1
";

    #[test]
    fn hybrid_prefers_v1_memory() {
        assert_eq!(
            memory_cgroup_dirs(HYBRID_CGROUP, HYBRID_MOUNTINFO),
            vec![
                CgroupDir::V1("/sys/fs/cgroup/memory/default/c1".into()),
                CgroupDir::V2("/sys/fs/cgroup/unified/default/c1".into()),
            ]
        );
        // Not in a v1 memory cgroup: only the v2 one.
        let only_v2 = "1:cpu:/x\n0::/default/c1\n";
        assert_eq!(
            memory_cgroup_dirs(only_v2, HYBRID_MOUNTINFO),
            vec![CgroupDir::V2("/sys/fs/cgroup/unified/default/c1".into())]
        );
    }

    #[test]
    fn unified_host() {
        let mountinfo = "\
25 30 0:23 / /proc rw,nosuid - proc proc rw
26 24 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
        let cgroup = "0::/system.slice/containerd.service/k8s.io/abc\n";
        assert_eq!(
            memory_cgroup_dirs(cgroup, mountinfo),
            vec![CgroupDir::V2(
                "/sys/fs/cgroup/system.slice/containerd.service/k8s.io/abc".into()
            )]
        );
    }

    #[test]
    fn mount_roots_and_escapes() {
        // The hierarchy mounted from a sub-directory (say, in a container),
        // twice, once at a path with a space; and a memory mount elsewhere.
        let mountinfo = "\
50 40 0:32 /kubepods /host\\040cg/memory ro master:1 - cgroup cgroup rw,memory
51 40 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
52 40 0:32 /other /mnt rw - cgroup cgroup rw,memory
";
        let cgroup = "4:memory:/kubepods/pod1/c1\n";
        assert_eq!(
            memory_cgroup_dirs(cgroup, mountinfo),
            vec![
                CgroupDir::V1("/host cg/memory/pod1/c1".into()),
                CgroupDir::V1("/sys/fs/cgroup/memory/kubepods/pod1/c1".into()),
            ]
        );
        // A prefix that is not a whole path component does not count.
        assert_eq!(
            memory_cgroup_dirs("4:memory:/kubepodsX/c1\n", mountinfo),
            vec![CgroupDir::V1("/sys/fs/cgroup/memory/kubepodsX/c1".into())]
        );
    }

    #[test]
    fn nothing_found() {
        assert!(memory_cgroup_dirs("", HYBRID_MOUNTINFO).is_empty());
        assert!(memory_cgroup_dirs(HYBRID_CGROUP, "").is_empty());
        assert!(memory_cgroup_dirs("garbage\n::\n", "garbage - x\n - \n").is_empty());
    }

    #[test]
    fn memory_events_counter() {
        let text = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 1\n";
        assert_eq!(oom_kill_count(text), Some(2));
        assert_eq!(oom_kill_count("oom 3\n"), None);
        assert_eq!(oom_kill_count(""), None);
    }

    fn collector() -> (OomWatcher, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel();
        let w = OomWatcher::start(move |id| {
            let _ = tx.send(id.to_string());
        })
        .unwrap();
        (w, rx)
    }

    /// Waits until the watcher thread has no watches left.
    fn wait_empty(w: &OomWatcher) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let st = w.shared.lock();
            if st.active.is_empty() && st.pending.is_empty() {
                return true;
            }
            drop(st);
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Removes a directory tree on drop, even if the test failed.
    struct TempDir(PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The v2 logic on plain files: inotify behaves the same on them.
    #[test]
    fn v2_counts_oom_kills_and_drops_removed_cgroups() {
        let dir = std::env::temp_dir().join(format!("berth-oom-v2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let guard = TempDir(dir.clone());
        let events = dir.join("memory.events");
        let write = |oom_kill: u64, max: u64| {
            let text = format!("low 0\nhigh 0\nmax {max}\noom {oom_kill}\noom_kill {oom_kill}\n");
            std::fs::write(&events, text).unwrap();
        };
        write(4, 0);

        let (w, rx) = collector();
        w.add(Watch::v2("c2", &dir).unwrap());
        // Changes without a new OOM kill: nothing.
        write(4, 1);
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        write(5, 2);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "c2");
        write(5, 3);
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        write(7, 3);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "c2");
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());

        // Removal: dropped silently.
        drop(guard);
        assert!(wait_empty(&w), "watch not dropped after removal");
        assert!(rx.try_recv().is_err());
    }

    /// An OOM the thread has not read when the cgroup goes reads as the
    /// removal and is lost (the thread may not have run since the kernel
    /// signalled it); `flush` before the removal reports it.
    #[test]
    fn flush_reports_what_the_thread_has_not_read() {
        let base = std::env::temp_dir().join(format!("berth-oom-flush-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let _guard = TempDir(base.clone());
        let (late, flushed) = (base.join("late"), base.join("flushed"));
        for dir in [&late, &flushed] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("memory.events"), "oom_kill 0\n").unwrap();
        }
        let (tx, rx) = mpsc::channel();
        // No thread: one that has not run yet.
        let w = OomWatcher::idle(move |id| {
            let _ = tx.send(id.to_string());
        })
        .unwrap();
        w.add(Watch::v2("late", &late).unwrap());
        w.add(Watch::v2("flushed", &flushed).unwrap());

        std::fs::write(late.join("memory.events"), "oom_kill 1\n").unwrap();
        std::fs::remove_dir_all(&late).unwrap();
        let check = {
            let mut st = w.shared.lock();
            let (_, watch) = st.pending.iter_mut().find(|(_, w)| w.id == "late").unwrap();
            watch.check().unwrap()
        };
        assert!(!check.oom && check.gone, "the removal hides the OOM kill");

        std::fs::write(flushed.join("memory.events"), "oom_kill 1\n").unwrap();
        w.flush("flushed");
        assert_eq!(rx.try_recv().as_deref(), Ok("flushed"));
        // Read once: neither a second flush nor the removal reports it again.
        w.flush("flushed");
        std::fs::remove_dir_all(&flushed).unwrap();
        w.flush("flushed");
        w.flush("nobody");
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn forget_and_replace() {
        let dir = std::env::temp_dir().join(format!("berth-oom-forget-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let _guard = TempDir(dir.clone());
        let events = dir.join("memory.events");
        std::fs::write(&events, "oom_kill 0\n").unwrap();

        let (w, rx) = collector();
        w.add(Watch::v2("a", &dir).unwrap());
        w.add(Watch::v2("a", &dir).unwrap());
        w.add(Watch::v2("b", &dir).unwrap());
        w.forget("b");
        w.forget("nobody");
        std::fs::write(&events, "oom_kill 1\n").unwrap();
        // One watch of "a" (the second replaced the first), none of "b".
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "a");
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        w.forget("a");
        assert!(wait_empty(&w));
        std::fs::write(&events, "oom_kill 2\n").unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    }

    #[test]
    fn watch_fails_cleanly() {
        let (w, _rx) = collector();
        assert!(w.watch("x", i32::MAX).is_err());
        assert!(w.watch("x", -5).is_err());
    }

    /// The cgroup and the child in it, cleaned up on drop.
    struct V1Cgroup {
        dir: PathBuf,
        child: Option<Pid>,
    }

    impl V1Cgroup {
        fn cleanup(&mut self) {
            if let Some(pid) = self.child.take() {
                let _ = kill(pid, Signal::SIGKILL);
                let _ = waitpid(pid, None);
            }
            // The cgroup is empty once the child is reaped; retry in case
            // the kernel is still tearing it down.
            for _ in 0..50 {
                match std::fs::remove_dir(&self.dir) {
                    Ok(()) => return,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return,
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
            eprintln!("could not remove {}", self.dir.display());
        }
    }

    impl Drop for V1Cgroup {
        fn drop(&mut self) {
            self.cleanup();
        }
    }

    #[test]
    fn v1_oom_kill_is_reported() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipping v1_oom_kill_is_reported: not root");
            return;
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let Some(mount) = mounts(&mountinfo).find(|m| v1_memory(m) && m.root == Path::new("/"))
        else {
            eprintln!("skipping v1_oom_kill_is_reported: no cgroup v1 memory controller");
            return;
        };
        let dir = mount
            .mount_point
            .join(format!("berth-oom-test-{}", std::process::id()));
        let mut cg = V1Cgroup {
            dir: dir.clone(),
            child: None,
        };
        std::fs::create_dir(&dir).unwrap();
        let limit = (8u64 << 20).to_string();
        std::fs::write(dir.join("memory.limit_in_bytes"), &limit).unwrap();
        if dir.join("memory.memsw.limit_in_bytes").exists() {
            std::fs::write(dir.join("memory.memsw.limit_in_bytes"), &limit).unwrap();
        }
        let _ = std::fs::write(dir.join("memory.swappiness"), "0");

        let procs = OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
            .unwrap();
        let (mut ready_r, ready_w) = std::io::pipe().unwrap();
        let (go_r, mut go_w) = std::io::pipe().unwrap();
        let (procs_fd, ready_fd, go_fd) =
            (procs.as_raw_fd(), ready_w.as_raw_fd(), go_r.as_raw_fd());

        // SAFETY: the child only makes async-signal-safe calls (write, read,
        // mmap, _exit) on descriptors and memory prepared before the fork,
        // and never returns into Rust code, so the other test threads' state
        // (locks, allocator) copied into it does not matter.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: see above; all pointers are to live local buffers.
            unsafe {
                if libc::write(procs_fd, b"0".as_ptr().cast(), 1) != 1 {
                    libc::_exit(2);
                }
                libc::write(ready_fd, b"r".as_ptr().cast(), 1);
                let mut b = 0u8;
                if libc::read(go_fd, (&mut b as *mut u8).cast(), 1) != 1 {
                    libc::_exit(3);
                }
                let size = 64usize << 20;
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    size,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                if p == libc::MAP_FAILED {
                    libc::_exit(4);
                }
                let p = p.cast::<u8>();
                let mut off = 0;
                while off < size {
                    std::ptr::write_volatile(p.add(off), 1);
                    off += 4096;
                }
                libc::_exit(0);
            }
        }
        assert!(pid > 0, "fork: {}", io::Error::last_os_error());
        let pid = Pid::from_raw(pid);
        cg.child = Some(pid);
        drop((ready_w, go_r, procs));

        let mut b = [0u8; 1];
        assert_eq!(
            ready_r.read(&mut b).unwrap(),
            1,
            "child did not join the cgroup"
        );

        let (w, rx) = collector();
        w.watch("oom-test", pid.as_raw()).unwrap();
        {
            let st = w.shared.lock();
            let kind = st
                .pending
                .iter()
                .map(|(_, w)| &w.kind)
                .chain(st.active.values().map(|w| &w.kind))
                .next();
            assert!(matches!(kind, Some(Kind::V1 { dir: d, .. }) if *d == dir));
        }
        go_w.write_all(b"g").unwrap();

        let got = rx.recv_timeout(Duration::from_secs(10));
        assert_eq!(got.as_deref(), Ok("oom-test"), "no OOM notification");

        // The child was the OOM killer's victim.
        let status = waitpid(pid, None).unwrap();
        cg.child = None;
        assert!(
            matches!(status, WaitStatus::Signaled(p, Signal::SIGKILL, _) if p == pid),
            "{status:?}"
        );
        let oom_control = std::fs::read_to_string(dir.join("memory.oom_control")).unwrap();
        assert!(
            oom_kill_count(&oom_control).unwrap_or(0) >= 1,
            "{oom_control}"
        );

        // Removing the cgroup signals the eventfd too: dropped, not reported.
        cg.cleanup();
        assert!(!dir.exists());
        assert!(
            wait_empty(&w),
            "watch not dropped after the cgroup's removal"
        );
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    }
}
