//! Load: many containers under one --root, made, started, killed and
//! deleted by concurrent runtime calls; and commands racing on one
//! container. Every call finishes (no lock is held forever), every
//! container reaches the status it should, and nothing is left.

use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use conformance::{in_every_hierarchy, poll_until, stderr, Fixture};

/// `runtime --root ROOT ARGS` of the fixture (output through files: a
/// container would hold a pipe open), under the fixture's watchdog.
fn call(f: &Fixture, args: &[&str]) -> Output {
    let out = f.rt(args);
    assert!(
        out.status.code().is_some(),
        "`{}` did not finish: {:?}",
        args.join(" "),
        out.status
    );
    out
}

fn status_of(f: &Fixture, id: &str) -> Option<String> {
    let out = call(f, &["state", id]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["status"].as_str().map(str::to_string)
}

/// Runs `job(i)` for i in 0..n on `threads` threads.
fn parallel(n: usize, threads: usize, job: impl Fn(usize) + Sync) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                job(i);
            });
        }
    });
}

/// Removes whatever a failed test left in the fixture's root and below
/// its cgroup parent.
struct Cleanup<'a> {
    f: &'a Fixture,
    parent: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let list = call(self.f, &["list", "-q"]);
        for id in String::from_utf8_lossy(&list.stdout).lines() {
            let _ = call(self.f, &["delete", "--force", id]);
        }
        for d in in_every_hierarchy(&self.parent) {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn leftover_cgroups(parent: &str) -> Vec<std::path::PathBuf> {
    in_every_hierarchy(parent)
        .into_iter()
        .filter(|d| d.exists())
        .collect()
}

/// 200 containers created and started 4 at a time under one root, all
/// running at once, then killed and deleted 4 at a time.
#[test]
fn two_hundred_containers_four_at_a_time() {
    const N: usize = 200;
    let mut f = Fixture::new("load");
    let parent = format!("berth-load-{}", f.id);
    f.args(&["sleep", "1000"]);
    let _cleanup = Cleanup {
        f: &f,
        parent: parent.clone(),
    };
    let id = |i: usize| format!("{}-{i}", f.id);

    parallel(N, 4, |i| {
        let mut cfg = f.config.clone();
        cfg["linux"]["cgroupsPath"] = format!("/{parent}/{i}").into();
        let dir = f.dir.join(format!("b{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::os::unix::fs::symlink(f.bundle.join("rootfs"), dir.join("rootfs"));
        std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
        let out = call(&f, &["create", "--bundle", dir.to_str().unwrap(), &id(i)]);
        assert!(out.status.success(), "create {i}: {}", stderr(&out));
        let out = call(&f, &["start", &id(i)]);
        assert!(out.status.success(), "start {i}: {}", stderr(&out));
    });
    let list = call(&f, &["list", "--format", "json"]);
    let list: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list.len(), N);
    assert!(
        list.iter().all(|c| c["status"] == "running"),
        "not all running: {:?}",
        list.iter()
            .filter(|c| c["status"] != "running")
            .map(|c| (&c["id"], &c["status"]))
            .collect::<Vec<_>>()
    );

    parallel(N, 4, |i| {
        let out = call(&f, &["kill", &id(i), "KILL"]);
        assert!(out.status.success(), "kill {i}: {}", stderr(&out));
        assert!(
            poll_until(Duration::from_secs(10), || status_of(&f, &id(i)).as_deref()
                == Some("stopped")),
            "{i} did not stop"
        );
        let out = call(&f, &["delete", &id(i)]);
        assert!(out.status.success(), "delete {i}: {}", stderr(&out));
    });
    let list = call(&f, &["list", "-q"]);
    assert_eq!(String::from_utf8_lossy(&list.stdout).trim(), "");
    f.assert_clean(&f.id);
    // The shared parent goes with the delete of the container that made it
    // only if that one was the last (runc too leaves a shared parent); every
    // container's own cgroup is gone.
    for d in leftover_cgroups(&parent) {
        let children: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        assert!(children.is_empty(), "cgroups left: {children:?}");
    }
}

/// kill, state and delete racing on one container, over and over: each
/// call returns, state only ever reports a real status, and once the
/// dust settles the container is gone with its cgroups.
#[test]
fn kill_state_and_delete_race_on_one_container() {
    let mut f = Fixture::new("race");
    let parent = format!("berth-race-{}", f.id);
    f.args(&["sleep", "1000"]);
    let _cleanup = Cleanup {
        f: &f,
        parent: parent.clone(),
    };
    for round in 0..10 {
        let id = format!("{}-{round}", f.id);
        let mut cfg = f.config.clone();
        cfg["linux"]["cgroupsPath"] = format!("/{parent}/{round}").into();
        std::fs::write(f.bundle.join("config.json"), cfg.to_string()).unwrap();
        let out = call(
            &f,
            &["run", "-d", "--bundle", f.bundle.to_str().unwrap(), &id],
        );
        assert!(out.status.success(), "run -d: {}", stderr(&out));
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..20 {
                    let out = call(&f, &["state", &id]);
                    if out.status.success() {
                        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                        let st = v["status"].as_str().unwrap();
                        assert!(
                            matches!(st, "running" | "stopped"),
                            "round {round}: state says {st}"
                        );
                    } else {
                        assert!(
                            stderr(&out).contains("does not exist"),
                            "round {round}: state failed: {}",
                            stderr(&out)
                        );
                    }
                }
            });
            s.spawn(|| {
                for _ in 0..20 {
                    let _ = call(&f, &["kill", &id, "KILL"]);
                }
            });
            s.spawn(|| {
                for _ in 0..5 {
                    let _ = call(&f, &["delete", "--force", &id]);
                }
            });
        });
        let out = call(&f, &["delete", "--force", &id]);
        assert!(out.status.success(), "final delete: {}", stderr(&out));
        assert_eq!(status_of(&f, &id), None, "round {round}: still there");
    }
    f.assert_clean(&f.id);
    assert_eq!(leftover_cgroups(&parent), Vec::<std::path::PathBuf>::new());
}
