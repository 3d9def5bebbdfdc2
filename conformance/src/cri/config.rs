//! The private containerd's configuration and process (see the parent
//! module).

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{driver::is_systemd, handler, PAUSE_IMAGE};
use crate::containerd::{runc, shim_dir};
use crate::runtime;

pub(super) fn spawn(bin: &Path, dir: &Path, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    // This containerd's runc shim first, then berth's shim and berth.
    let mut path = vec![bin.to_path_buf(), shim_dir()];
    if let Some(p) = runtime().parent() {
        path.push(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("PATH") {
        path.extend(std::env::split_paths(&p));
    }
    let mut cmd = Command::new(bin.join("containerd"));
    cmd.arg("--config")
        .arg(dir.join("config.toml"))
        .env("PATH", std::env::join_paths(path).unwrap())
        .env("TMPDIR", dir.join("tmp"))
        .env_remove("XDG_RUNTIME_DIR")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    crate::dies_with_test(&mut cmd);
    cmd.spawn().expect("spawn containerd")
}

fn has_cap_sys_resource() -> bool {
    const CAP_SYS_RESOURCE: u32 = 24;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_RESOURCE) != 0)
}

/// The pods' network: the loopback plugin containerd runs for every pod
/// (Debian's containernetworking-plugins) and conformance/cni/pod-net, an
/// interface and address inside the pod's namespace and nothing outside
/// (`BERTH_CNI_POD_NET` names it where there is no checkout, as in
/// hack/vm's guest).
pub(super) fn cni(dir: &Path) {
    let bin = dir.join("cni/bin");
    let plugin = std::env::var_os("BERTH_CNI_POD_NET")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| crate::workspace().join("conformance/cni/pod-net"));
    assert!(plugin.is_file(), "no CNI plugin {}", plugin.display());
    std::os::unix::fs::symlink(plugin, bin.join("pod-net")).unwrap();
    let loopback = ["/usr/lib/cni/loopback", "/opt/cni/bin/loopback"]
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("the CNI loopback plugin (containernetworking-plugins, hack/setup)");
    std::os::unix::fs::symlink(loopback, bin.join("loopback")).unwrap();
    std::fs::write(
        dir.join("cni/conf/10-pod-net.conflist"),
        r#"{"cniVersion": "1.0.0", "name": "berth-pods", "plugins": [{"type": "pod-net"}]}"#,
    )
    .unwrap();
}

/// containerd's configuration: version 2 with the CRI plugin
/// `io.containerd.grpc.v1.cri` for 1.x, version 3 with the split
/// `io.containerd.cri.v1.{images,runtime}` plugins for 2.x. Plugins that
/// need what a test machine lacks stay off, and NRI too, whose socket
/// would be the machine's one.
pub(super) fn config(dir: &Path, version: (u32, u32)) -> String {
    let d = dir.display();
    let runc = runc();
    let runc = runc.display();
    let handler = handler();
    let systemd_cgroup = is_systemd();
    // containerd gives sandboxes oom_score_adj -998, which needs
    // CAP_SYS_RESOURCE; where the tests lack it (a container of a test
    // machine), it keeps scores at or above its own, as for rootless.
    let restrict_oom = !has_cap_sys_resource();
    let common = format!(
        r#"root = "{d}/root"
state = "{d}/state"

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  level = "debug"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#
    );
    let berth = runtime();
    let berth = berth.display();
    let shim = shim_dir().join("containerd-shim-berth-v2");
    let shim = shim.display();
    // Two ways to declare berth: its own runtime type, whose options
    // containerd hands over as a file (ConfigPath); and runc's type with
    // berth's shim as `runtime_path`, whose options containerd reads as
    // runc's (containerd 2.x needs that for a pod in a user namespace).
    let runtimes = |p: &str| {
        format!(
            r#"
    [{p}.containerd.runtimes.berth]
      runtime_type = "io.containerd.berth.v2"
      [{p}.containerd.runtimes.berth.options]
        ConfigPath = "{d}/berth-runtime.toml"
    [{p}.containerd.runtimes.berth-runc]
      runtime_type = "io.containerd.runc.v2"
      runtime_path = "{shim}"
      [{p}.containerd.runtimes.berth-runc.options]
        BinaryName = "{berth}"
        SystemdCgroup = {systemd_cgroup}
    [{p}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{p}.containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        SystemdCgroup = {systemd_cgroup}
"#
        )
    };
    if version.0 < 2 {
        let p = r#"plugins."io.containerd.grpc.v1.cri""#;
        format!(
            r#"version = 2
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]
{common}
[{p}]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = {restrict_oom}
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  [{p}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "{handler}"
{runtimes}
  [{p}.cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/conf"

[plugins."io.containerd.nri.v1.nri"]
  disable = true
"#,
            runtimes = runtimes(p)
        )
    } else {
        let p = r#"plugins."io.containerd.cri.v1.runtime""#;
        format!(
            r#"version = 3
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.nri.v1.nri",
]
{common}
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{PAUSE_IMAGE}"

[{p}]
  disable_apparmor = true
  enable_cdi = false
  restrict_oom_score_adj = {restrict_oom}
  netns_mounts_under_state_dir = true
  [{p}.containerd]
    default_runtime_name = "{handler}"
{runtimes}
  [{p}.cni]
    bin_dirs = ["{d}/cni/bin"]
    conf_dir = "{d}/cni/conf"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"#,
            runtimes = runtimes(p)
        )
    }
}
