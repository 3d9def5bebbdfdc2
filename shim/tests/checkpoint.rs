//! The runtime's `checkpoint` as the Checkpoint RPC runs it, against a
//! fake runtime that records its arguments (a process of its own: the
//! reaper takes every child).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Once;

use containerd_shim_berth_v2::checkpoint::{dump, Options, DUMP_LOG};
use containerd_shim_berth_v2::error::Error;
use containerd_shim_berth_v2::reaper;
use containerd_shim_berth_v2::runtime::Runtime;

/// Records its arguments in `args`; with a `fail` file in its directory,
/// writes a CRIU log into the work path and an error into the JSON log,
/// and fails, as runc does when CRIU fails.
const FAKE: &str = r#"#!/bin/sh
dir=$(dirname "$0")
echo "$@" > "$dir/args"
log= work=
while [ $# -gt 0 ]; do
  case "$1" in
    --log) log=$2; shift ;;
    --work-path) work=$2; shift ;;
  esac
  shift
done
[ -e "$dir/fail" ] || exit 0
echo "(00.1) Error (criu/sk-tcp.c:1): Connected TCP socket" > "$work/dump.log"
echo '{"level":"error","msg":"criu failed: type NOTIFY errno 0","time":"t"}' >> "$log"
exit 1
"#;

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn setup(name: &str) -> (Dir, Runtime) {
    static REAPER: Once = Once::new();
    REAPER.call_once(|| reaper::start(std::sync::mpsc::channel().0));
    let dir = std::env::temp_dir().join(format!("berth-shim-ckpt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bundle")).unwrap();
    let fake = dir.join("runtime");
    std::fs::write(&fake, FAKE).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let runtime = Runtime {
        binary: fake.to_string_lossy().into_owned(),
        root: dir.join("root"),
        systemd_cgroup: false,
        log: dir.join("bundle/log.json"),
        criu: "/opt/criu".into(),
    };
    (Dir(dir), runtime)
}

fn args(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("args")).unwrap()
}

#[test]
fn options_become_runc_flags_and_the_task_runs_on_by_default() {
    let (dir, runtime) = setup("flags");
    let bundle = dir.0.join("bundle");
    let o = Options {
        file_locks: true,
        open_tcp: true,
        external_unix_sockets: true,
        terminal: true,
        empty_namespaces: vec!["network".into()],
        cgroups_mode: "soft".into(),
        ..Options::default()
    };
    dump(&runtime, "c1", &bundle, Path::new("/img"), &o).unwrap();
    let a = args(&dir.0);
    let global = a.split(" checkpoint ").next().unwrap();
    assert!(global.contains("--criu /opt/criu"), "{a}");
    for flag in [
        "--image-path /img",
        "--leave-running",
        "--tcp-established",
        "--ext-unix-sk",
        "--shell-job",
        "--file-locks",
        "--empty-ns network",
        "--manage-cgroups-mode soft",
    ] {
        assert!(a.contains(flag), "no {flag} in {a}");
    }
    assert!(a.ends_with(" c1\n"), "{a}");
    // CRIU's own work directory is the bundle's, and gone afterwards.
    assert!(a.contains(&format!(
        "--work-path {}",
        bundle.join("criu-work").display()
    )));
    assert!(!bundle.join("criu-work").exists());
}

#[test]
fn exit_and_a_work_path_of_ones_own() {
    let (dir, runtime) = setup("exit");
    let work = dir.0.join("work");
    let o = Options {
        exit: true,
        work_path: work.to_string_lossy().into_owned(),
        ..Options::default()
    };
    dump(&runtime, "c2", &dir.0.join("bundle"), Path::new("/img"), &o).unwrap();
    let a = args(&dir.0);
    assert!(!a.contains("--leave-running"), "{a}");
    assert!(!a.contains("--file-locks"), "{a}");
    assert!(
        a.contains(&format!("--work-path {}", work.display())),
        "{a}"
    );
    assert!(work.is_dir(), "a work path that was asked for is kept");
}

#[test]
fn a_failure_keeps_criu_s_log_and_names_it() {
    let (dir, runtime) = setup("fail");
    std::fs::write(dir.0.join("fail"), "").unwrap();
    let bundle = dir.0.join("bundle");
    let err = dump(
        &runtime,
        "c3",
        &bundle,
        Path::new("/img"),
        &Options::default(),
    )
    .unwrap_err();
    let kept = bundle.join(DUMP_LOG);
    match &err {
        Error::Runtime { command, message } => {
            assert!(command.ends_with("runtime checkpoint"), "{command}");
            assert!(message.contains("criu failed"), "{message}");
            assert!(message.contains(&kept.display().to_string()), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let log = std::fs::read_to_string(&kept).unwrap();
    assert!(log.contains("Connected TCP socket"), "{log}");
    assert!(!bundle.join("criu-work").exists());
}
