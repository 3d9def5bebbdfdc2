//! The task logic against a fake runtime whose containers are plain
//! processes: exits that come before the shim has read their process's
//! pid, or while a start runs, are matched and published in order, and a
//! container's slow runtime command holds up no other container. A
//! process of its own: the reaper takes every child, and the process is
//! made a subreaper, as the shim is.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use containerd_shim_berth_v2::reaper;
use containerd_shim_berth_v2::runtime::Runtime;
use containerd_shim_berth_v2::stdio::StdioSpec;
use containerd_shim_berth_v2::task::{CreateRequest, Event, Options, Status, Tasks};

/// runc's command line; a container is a process (its pid also in
/// ROOT/ID.pid). Files in ROOT say how it behaves:
/// - `hold-ID`: create waits while it exists, after making `held-ID`;
/// - `exit-at-once-ID`: the init exits with 7 at once, reaped before
///   create returns (a double fork re-parents it to the subreaper; it
///   exits only once re-parented, or the subshell could reap it);
/// - `exit-at-start-ID`: start lets the init go, which exits with 9 at
///   once, and returns only after that exit is reaped;
/// - `hold-exec-ID`: exec waits while it exists, after making
///   `held-exec-ID`;
/// - `exec-exits-ID`: an exec exits with 4 at once, likewise reaped
///   before exec returns.
///
/// Otherwise the init waits for start, then sleeps; an exec sleeps (its
/// pid also in ROOT/ID.execs, for `kill --all`).
const FAKE: &str = r#"#!/bin/sh
root=
while [ $# -gt 0 ]; do
  case "$1" in
    --root|--log|--log-format) [ "$1" = --root ] && root=$2; shift 2 ;;
    --*) shift ;;
    *) break ;;
  esac
done
verb=$1; shift
if [ "$verb" = kill ]; then
  pids=
  if [ "$1" = --all ]; then shift; pids=$(cat "$root/$1.execs" 2>/dev/null); fi
  kill -"$2" $(cat "$root/$1.pid") $pids 2>/dev/null
  exit 0
fi
pidfile=
while [ $# -gt 1 ]; do
  case "$1" in
    --pid-file) pidfile=$2; shift 2 ;;
    --bundle|--process|--console-socket) shift 2 ;;
    *) shift ;;
  esac
done
id=$1
case "$verb" in
create)
  if [ -e "$root/hold-$id" ]; then
    touch "$root/held-$id"
    while [ -e "$root/hold-$id" ]; do sleep 0.05; done
  fi
  if [ -e "$root/exit-at-once-$id" ]; then
    (sh -c 'sleep 0.1; exit 7' & echo $! > "$pidfile")
    sleep 1
  else
    (sh -c 'while [ ! -e "$0" ]; do sleep 0.02; done; [ -e "$1" ] && exit 9; exec sleep 1000' \
      "$root/started-$id" "$root/exit-at-start-$id" </dev/null >/dev/null 2>&1 &
     echo $! > "$pidfile")
  fi
  cp "$pidfile" "$root/$id.pid" ;;
start)
  touch "$root/started-$id"
  if [ -e "$root/exit-at-start-$id" ]; then sleep 0.5; fi ;;
exec)
  if [ -e "$root/hold-exec-$id" ]; then
    touch "$root/held-exec-$id"
    while [ -e "$root/hold-exec-$id" ]; do sleep 0.05; done
  fi
  if [ -e "$root/exec-exits-$id" ]; then
    (sh -c 'sleep 0.1; exit 4' & echo $! > "$pidfile")
    sleep 1
  else
    (exec sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > "$pidfile")
    cat "$pidfile" >> "$root/$id.execs"
  fi ;;
delete)
  if [ -e "$root/$id.pid" ]; then kill -9 "$(cat "$root/$id.pid")" 2>/dev/null; fi
  rm -f "$root/$id.pid" ;;
state)
  [ -e "$root/$id.pid" ] ;;
esac
"#;

/// Every Tasks of this process: each exit goes to all (one that does
/// not know the pid keeps it only for its launches under way).
static ALL: Mutex<Vec<Arc<Tasks>>> = Mutex::new(Vec::new());

fn start_reaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        nix::sys::prctl::set_child_subreaper(true).unwrap();
        let (tx, rx) = channel();
        reaper::start(tx);
        std::thread::spawn(move || {
            for (pid, exit) in rx {
                let all = ALL.lock().unwrap().clone();
                for t in all {
                    t.process_exited(pid as u32, exit);
                }
            }
        });
    });
}

/// A Tasks with its events, the fake runtime in a directory of its own;
/// on drop, every process the fake started is killed and the directory
/// removed.
struct Fixture {
    dir: PathBuf,
    tasks: Arc<Tasks>,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Fixture {
    fn new() -> Fixture {
        static N: AtomicUsize = AtomicUsize::new(0);
        start_reaper();
        let dir = std::env::temp_dir().join(format!(
            "berth-shim-tasks-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(dir.join("root")).unwrap();
        let fake = dir.join("runtime");
        std::fs::write(&fake, FAKE).unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let tasks = Arc::new(Tasks::new(
            "test",
            Box::new(move |e| sink.lock().unwrap().push(e)),
            None,
        ));
        ALL.lock().unwrap().push(tasks.clone());
        Fixture { dir, tasks, events }
    }

    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// Makes ROOT/NAME, which tells the fake what to do.
    fn mark(&self, name: &str) {
        std::fs::write(self.root().join(name), "").unwrap();
    }

    fn request(&self, id: &str) -> CreateRequest {
        let bundle = self.dir.join(id);
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::write(bundle.join("config.json"), "{}").unwrap();
        CreateRequest {
            id: id.into(),
            rootfs: Vec::new(),
            stdio: StdioSpec::default(),
            runtime: Runtime {
                binary: self.dir.join("runtime").to_string_lossy().into_owned(),
                root: self.root(),
                systemd_cgroup: false,
                log: bundle.join("log.json"),
                criu: String::new(),
            },
            bundle,
            options: Options::default(),
            checkpoint: None,
        }
    }

    /// Wait's answer, or None after `limit`.
    fn wait(&self, id: &str, exec_id: &str, limit: Duration) -> Option<u32> {
        let (tx, rx) = channel();
        let (tasks, id, exec_id) = (self.tasks.clone(), id.to_string(), exec_id.to_string());
        std::thread::spawn(move || {
            let _ = tx.send(tasks.wait(&id, &exec_id).map(|e| e.status));
        });
        rx.recv_timeout(limit).ok().map(|r| r.expect("wait"))
    }

    /// The topics of `id`'s events so far, with the pid and exit status
    /// of exits.
    fn topics(&self, id: &str) -> Vec<String> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter_map(|e| match e {
                Event::Create { id: i, pid, .. } if i == id => Some(format!("create {pid}")),
                Event::Start { id: i, pid } if i == id => Some(format!("start {pid}")),
                Event::ExecAdded { id: i, exec_id } if i == id => {
                    Some(format!("exec-added {exec_id}"))
                }
                Event::ExecStarted {
                    id: i,
                    exec_id,
                    pid,
                } if i == id => Some(format!("exec-started {exec_id} {pid}")),
                Event::Exit {
                    id: i,
                    exec_id,
                    pid,
                    exit,
                } if i == id => Some(format!("exit {exec_id:?} {pid} {}", exit.status)),
                Event::Delete { id: i, .. } if i == id => Some("delete".into()),
                _ => None,
            })
            .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        ALL.lock().unwrap().retain(|t| !Arc::ptr_eq(t, &self.tasks));
        for e in std::fs::read_dir(self.root())
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.path().extension().is_some_and(|x| x == "pid") {
                if let Some(pid) = std::fs::read_to_string(e.path())
                    .ok()
                    .and_then(|t| t.trim().parse::<i32>().ok())
                {
                    // SAFETY: a process the fake runtime started for us.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn an_init_that_exits_before_its_pid_is_read_is_matched() {
    let f = Fixture::new();
    f.mark("exit-at-once-early");
    let pid = f.tasks.create(f.request("early")).unwrap();
    assert_eq!(
        f.wait("early", "", LIMIT),
        Some(7),
        "the exit was lost: {:?}",
        f.topics("early")
    );
    assert_eq!(
        f.topics("early"),
        [format!("create {pid}"), format!("exit \"\" {pid} 7")]
    );
    assert_eq!(f.tasks.state("early", "").unwrap().status, Status::Stopped);
    f.tasks.delete("early", "").unwrap();
}

#[test]
fn an_exec_that_exits_before_its_pid_is_read_is_matched() {
    let f = Fixture::new();
    let init = f.tasks.create(f.request("host")).unwrap();
    f.tasks.start("host", "").unwrap();
    f.mark("exec-exits-host");
    f.tasks
        .exec("host", "e1", StdioSpec::default(), b"{}".to_vec())
        .unwrap();
    let pid = f.tasks.start("host", "e1").unwrap();
    assert_eq!(
        f.wait("host", "e1", LIMIT),
        Some(4),
        "the exit was lost: {:?}",
        f.topics("host")
    );
    f.tasks.kill("host", "", 9, false).unwrap();
    assert_eq!(f.wait("host", "", LIMIT), Some(137));
    assert_eq!(
        f.topics("host"),
        [
            format!("create {init}"),
            format!("start {init}"),
            "exec-added e1".into(),
            format!("exec-started e1 {pid}"),
            format!("exit \"e1\" {pid} 4"),
            format!("exit \"\" {init} 137"),
        ]
    );
    f.tasks.delete("host", "e1").unwrap();
    f.tasks.delete("host", "").unwrap();
}

#[test]
fn an_exit_during_start_follows_the_task_start() {
    let f = Fixture::new();
    f.mark("exit-at-start-brief");
    let pid = f.tasks.create(f.request("brief")).unwrap();
    f.tasks.start("brief", "").unwrap();
    assert_eq!(f.wait("brief", "", LIMIT), Some(9));
    assert_eq!(
        f.topics("brief"),
        [
            format!("create {pid}"),
            format!("start {pid}"),
            format!("exit \"\" {pid} 9")
        ]
    );
    f.tasks.delete("brief", "").unwrap();
}

/// An init that exits while an exec of its container is being started:
/// its exit waits for the exec's (containerd must see the init's last),
/// and the container's other requests are served meanwhile.
#[test]
fn an_init_exit_waits_for_an_exec_being_started() {
    let f = Fixture::new();
    let init = f.tasks.create(f.request("pair")).unwrap();
    f.tasks.start("pair", "").unwrap();
    f.tasks
        .exec("pair", "e1", StdioSpec::default(), b"{}".to_vec())
        .unwrap();
    f.mark("hold-exec-pair");
    let starting = {
        let tasks = f.tasks.clone();
        std::thread::spawn(move || tasks.start("pair", "e1"))
    };
    let deadline = Instant::now() + LIMIT;
    while !f.root().join("held-exec-pair").exists() {
        assert!(Instant::now() < deadline, "the fake never held the exec");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (tx, rx) = channel();
    {
        let tasks = f.tasks.clone();
        std::thread::spawn(move || {
            let killed = tasks.kill("pair", "", 9, false).map_err(|e| e.to_string());
            let _ = tx.send(killed);
        });
    }
    let killed = rx.recv_timeout(LIMIT);
    // The init's exit, reaped by now, stays pending.
    let exited = f.wait("pair", "", Duration::from_millis(500));
    let topics = f.topics("pair");
    std::fs::remove_file(f.root().join("hold-exec-pair")).unwrap();
    let started = starting.join().unwrap();
    assert_eq!(killed, Ok(Ok(())), "the kill waited for the exec");
    assert_eq!(exited, None, "the init's exit came before the exec's");
    assert_eq!(topics.len(), 3, "{topics:?}");
    let pid = started.unwrap();
    // Its process is ended by the kill --all that follows the init's exit.
    assert_eq!(f.wait("pair", "e1", LIMIT), Some(137));
    assert_eq!(f.wait("pair", "", LIMIT), Some(137));
    assert_eq!(
        f.topics("pair"),
        [
            format!("create {init}"),
            format!("start {init}"),
            "exec-added e1".into(),
            format!("exec-started e1 {pid}"),
            format!("exit \"e1\" {pid} 137"),
            format!("exit \"\" {init} 137"),
        ]
    );
    f.tasks.delete("pair", "e1").unwrap();
    f.tasks.delete("pair", "").unwrap();
}

#[test]
fn a_held_create_holds_up_no_other_container() {
    let f = Fixture::new();
    f.mark("hold-slow");
    let held = {
        let (tasks, req) = (f.tasks.clone(), f.request("slow"));
        std::thread::spawn(move || tasks.create(req))
    };
    let deadline = Instant::now() + LIMIT;
    while !f.root().join("held-slow").exists() {
        assert!(Instant::now() < deadline, "the fake never held the create");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Another container's whole life, and requests about the held one,
    // in a thread: on a shim that waits for the held create they would
    // never return.
    let (tx, rx) = channel();
    {
        let (tasks, again, fast) = (f.tasks.clone(), f.request("slow"), f.request("fast"));
        std::thread::spawn(move || {
            let taken = tasks.create(again).map(drop).map_err(|e| e.to_string());
            let unknown = tasks.state("slow", "").is_err();
            let pid = tasks.create(fast).unwrap();
            tasks.start("fast", "").unwrap();
            let running = tasks.state("fast", "").unwrap().status;
            tasks.kill("fast", "", 9, false).unwrap();
            let exit = tasks.wait("fast", "").unwrap().status;
            let deleted = tasks.delete("fast", "").unwrap().0;
            let count = tasks.count();
            let _ = tx.send((taken, unknown, pid, running, exit, deleted, count));
        });
    }
    let served = rx.recv_timeout(LIMIT);
    let still_held = !held.is_finished();
    std::fs::remove_file(f.root().join("hold-slow")).unwrap();
    let created = held.join().unwrap();
    if served.is_err() {
        // Let go, they finish: nothing of theirs outlives the test.
        let _ = rx.recv_timeout(LIMIT);
    }
    let _ = f.tasks.delete("slow", "");
    let (taken, unknown, pid, running, exit, deleted, count) =
        served.expect("the other container's requests waited for the held create");
    assert!(still_held, "the create was not held throughout");
    assert!(
        taken.as_ref().is_err_and(|e| e.contains("already exists")),
        "an id being created is taken: {taken:?}"
    );
    assert!(unknown, "a container is not served before it is created");
    assert_eq!(running, Status::Running);
    assert_eq!(exit, 137);
    assert_eq!(deleted, pid);
    assert_eq!(count, 1, "the held create counts for Shutdown");
    created.unwrap();
    assert_eq!(f.tasks.count(), 0);
}
