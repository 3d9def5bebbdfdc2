//! kubelet's two cgroup drivers, as the harness plays kubelet's part.
//!
//! cgroupfs: the pod's parent is `/kubepods/burstable/pod<UID>`, a
//! directory made in every hierarchy; containerd passes the runtimes
//! `cgroupsPath` `/kubepods/burstable/pod<UID>/<ID>`.
//!
//! systemd (kubeadm's default on a systemd host): the parent is the slice
//! `kubepods-burstable-pod<UID>.slice` (the UID's dashes made underscores,
//! as a dash is the slice hierarchy's separator), under
//! `kubepods-burstable.slice` under `kubepods.slice`, which kubelet starts
//! as transient units with StartTransientUnit (runc's libcontainer
//! manager, whose properties are copied here: the parent in `Wants=`,
//! accounting on, no default dependencies) and stops when the pod goes.
//! kubelet passes the slice's cgroup path as the pod's cgroup parent,
//! `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<UID>.slice`;
//! containerd sees its last part's `.slice` and passes
//! `kubepods-burstable-pod<UID>.slice:cri-containerd:<ID>`; the runtime,
//! told `SystemdCgroup = true`, puts the container in a transient scope
//! `cri-containerd-<ID>.scope` in that slice.
//!
//! `BERTH_CRI_CGROUP_DRIVER` (`systemd` or `cgroupfs`) picks the driver;
//! by default it is systemd where systemd is PID 1 on cgroup v2 alone (as
//! kubeadm would configure kubelet there), else cgroupfs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use crate::containerd::run_with_timeout;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    Cgroupfs,
    Systemd,
}

/// The cgroup driver of the node under test (see the module doc).
pub fn driver() -> Driver {
    match std::env::var("BERTH_CRI_CGROUP_DRIVER").as_deref() {
        Ok("systemd") => Driver::Systemd,
        Ok("cgroupfs") => Driver::Cgroupfs,
        Ok(other) => panic!("BERTH_CRI_CGROUP_DRIVER={other}: systemd or cgroupfs"),
        Err(_) => {
            let booted = Path::new("/run/systemd/system").is_dir();
            let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
            if booted && unified {
                Driver::Systemd
            } else {
                Driver::Cgroupfs
            }
        }
    }
}

pub fn is_systemd() -> bool {
    driver() == Driver::Systemd
}

/// The QoS class slices kubelet makes at its start, parents first, each
/// with its parent.
const QOS_SLICES: [(&str, &str); 2] = [
    ("kubepods.slice", "-.slice"),
    ("kubepods-burstable.slice", "kubepods.slice"),
];

/// The slice of the pod with `uid`, kubelet's name for it.
pub fn pod_slice(uid: &str) -> String {
    format!("kubepods-burstable-pod{}.slice", uid.replace('-', "_"))
}

/// A slice's cgroup path, as kubelet passes a pod's to the CRI as its
/// cgroup parent: `a-b-c.slice` is `/a.slice/a-b.slice/a-b-c.slice`.
/// (containerd takes the last part for the runtime's cgroupsPath, and the
/// whole for the pod's statistics.)
pub fn slice_path(slice: &str) -> String {
    let stem = slice.strip_suffix(".slice").expect("a slice name");
    let mut path = String::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push_str(&format!("/{prefix}.slice"));
    }
    path
}

/// The scope the runtime makes for the container (or sandbox) `id`
/// (containerd's prefix `cri-containerd`).
pub fn scope(id: &str) -> String {
    format!("cri-containerd-{id}.scope")
}

/// A slice's cgroup directory (see [`slice_path`]).
pub fn slice_dir(slice: &str) -> PathBuf {
    PathBuf::from(format!("/sys/fs/cgroup{}", slice_path(slice)))
}

fn systemctl(args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("systemctl");
    cmd.args(args)
        .env("SYSTEMD_PAGER", "")
        .env("SYSTEMD_COLORS", "0");
    run_with_timeout(&mut cmd, None, Path::new("/"), Duration::from_secs(60))
        .unwrap_or_else(|o| panic!("systemctl {args:?} timed out: {}", crate::stderr(&o)))
}

/// `systemctl show UNIT -p P…` as a map (a unit systemd does not know has
/// `LoadState=not-found`).
pub fn unit_props(unit: &str, props: &[&str]) -> BTreeMap<String, String> {
    let mut args = vec!["show", unit];
    for p in props {
        args.extend(["-p", p]);
    }
    let o = systemctl(&args);
    assert!(
        o.status.success(),
        "systemctl show {unit}: {}",
        crate::stderr(&o)
    );
    crate::stdout(&o)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Whether systemd still has the scope `unit`, in any state (a scope is
/// only ever transient: one it does not know is not found).
pub fn unit_known(unit: &str) -> bool {
    let p = unit_props(unit, &["LoadState", "ActiveState"]);
    p.get("LoadState").map(String::as_str) != Some("not-found")
        || p.get("ActiveState").map(String::as_str) != Some("inactive")
}

/// Whether the slice is gone: inactive, and its cgroup with it. (Asking
/// systemd about a slice loads one, as slices need no unit file, so its
/// load state says nothing.)
pub fn slice_gone(slice: &str) -> bool {
    let p = unit_props(slice, &["ActiveState"]);
    p.get("ActiveState").map(String::as_str) == Some("inactive") && !slice_dir(slice).exists()
}

/// StartTransientUnit of a slice in `parent`, as kubelet's manager asks for
/// one (through busctl: the call itself, not systemctl's own idea of it),
/// then waits for it to be active.
pub fn start_slice(slice: &str, parent: &str) {
    // "--": the root slice's name "-.slice" is no option.
    let args = [
        "--",
        "call",
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager",
        "StartTransientUnit",
        "ssa(sv)a(sa(sv))",
        slice,
        "replace",
        "7",
        "Description",
        "s",
        "berth-cri: kubelet's pod cgroup",
        "Wants",
        "as",
        "1",
        parent,
        "MemoryAccounting",
        "b",
        "true",
        "CPUAccounting",
        "b",
        "true",
        "IOAccounting",
        "b",
        "true",
        "TasksAccounting",
        "b",
        "true",
        "DefaultDependencies",
        "b",
        "false",
        "0",
    ];
    let mut cmd = Command::new("busctl");
    cmd.args(args);
    let o = run_with_timeout(&mut cmd, None, Path::new("/"), Duration::from_secs(60))
        .unwrap_or_else(|o| panic!("busctl StartTransientUnit timed out: {}", crate::stderr(&o)));
    assert!(
        o.status.success(),
        "StartTransientUnit {slice}: {}",
        crate::stderr(&o)
    );
    let active = crate::poll_until(Duration::from_secs(30), || {
        unit_props(slice, &["ActiveState"])
            .get("ActiveState")
            .is_some_and(|s| s == "active")
            && slice_dir(slice).is_dir()
    });
    assert!(
        active,
        "{slice} not active: {:?}",
        unit_props(slice, &["ActiveState", "LoadState"])
    );
}

/// Stops a slice (and so whatever is left in it), as kubelet does when the
/// pod goes, and waits for it to be gone; nothing to do if it is. False
/// if it is still there.
pub fn stop_slice(slice: &str) -> bool {
    if slice_gone(slice) {
        return true;
    }
    let o = systemctl(&["stop", slice]);
    if !o.status.success() {
        eprintln!("systemctl stop {slice}: {}", crate::stderr(&o));
    }
    crate::poll_until(Duration::from_secs(10), || slice_gone(slice))
}

/// Live nodes with the systemd driver: the first starts the QoS slices,
/// the last stops them (a node's pods are gone before its lease is).
static QOS_USERS: Mutex<usize> = Mutex::new(0);

/// A node's hold on the QoS slices (systemd driver only).
pub struct QosSlices(());

impl QosSlices {
    pub fn lease() -> QosSlices {
        let mut n = QOS_USERS.lock().unwrap_or_else(|e| e.into_inner());
        if *n == 0 {
            for (slice, parent) in QOS_SLICES {
                start_slice(slice, parent);
            }
        }
        *n += 1;
        QosSlices(())
    }
}

impl Drop for QosSlices {
    fn drop(&mut self) {
        let mut n = QOS_USERS.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        if *n == 0 {
            for (slice, _) in QOS_SLICES.iter().rev() {
                if !stop_slice(slice) {
                    eprintln!("{slice} is still there");
                }
            }
        }
    }
}
