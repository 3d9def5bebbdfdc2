//! Pods and containers as kubelet describes them to the CRI.

use std::path::{Path, PathBuf};

use super::driver::{self, is_systemd, pod_slice, slice_dir};
use super::{api, Node, BUSYBOX};

impl Node {
    /// A pod as kubelet asks for one: a unique UID, its cgroup parent
    /// made here before RunPodSandbox as kubelet's driver makes it (the
    /// directory `/kubepods/burstable/pod<UID>` in every hierarchy, or the
    /// slice `kubepods-burstable-pod<UID>.slice`, passed as its path: see
    /// driver.rs), logs
    /// under the node's dir, the node's network and a pod IPC namespace.
    pub fn pod_config(&self, name: &str) -> api::PodSandboxConfig {
        let uid = format!("{:08x}-{}", std::process::id(), crate::containerd::unique());
        // Recorded first: Drop removes what a failed start left.
        self.pods.lock().unwrap().push(uid.clone());
        let cgroup_parent = if is_systemd() {
            driver::start_slice(&pod_slice(&uid), "kubepods-burstable.slice");
            driver::slice_path(&pod_slice(&uid))
        } else {
            for d in pod_cgroups(&uid) {
                std::fs::create_dir_all(&d)
                    .unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
            }
            format!("/kubepods/burstable/pod{uid}")
        };
        let log_dir = self.dir.join("logs").join(&uid);
        std::fs::create_dir_all(&log_dir).unwrap();
        api::PodSandboxConfig {
            metadata: Some(api::PodSandboxMetadata {
                name: name.into(),
                uid: uid.clone(),
                namespace: "berth-cri".into(),
                attempt: 0,
            }),
            // kubelet names only pods of their own network: the node's
            // hostname is the node's (runc refuses a hostname without a
            // UTS namespace of the container's own).
            hostname: String::new(),
            log_directory: log_dir.to_string_lossy().into_owned(),
            linux: Some(api::LinuxPodSandboxConfig {
                cgroup_parent,
                security_context: Some(api::LinuxSandboxSecurityContext {
                    namespace_options: Some(pod_namespaces()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// [`Node::pod_config`] on a network of its own (the pod-net CNI
    /// plugin), with a hostname and a DNS configuration, as kubelet asks
    /// for a pod without hostNetwork.
    pub fn pod_config_networked(&self, name: &str) -> api::PodSandboxConfig {
        let mut config = self.pod_config(name);
        config.hostname = name.into();
        config.dns_config = Some(api::DnsConfig {
            servers: vec!["10.96.0.10".into()],
            searches: vec!["berth-cri.svc.cluster.local".into()],
            options: vec!["ndots:5".into()],
        });
        let linux = config.linux.as_mut().unwrap();
        let sc = linux.security_context.as_mut().unwrap();
        sc.namespace_options.as_mut().unwrap().network = api::NamespaceMode::Pod as i32;
        config
    }
}

/// A pod's cgroup in every mounted hierarchy (v1 controllers, and the
/// unified one), as kubelet's cgroupfs driver makes it; its slice's with
/// the systemd driver (cgroup v2 alone).
pub(super) fn pod_cgroups(uid: &str) -> Vec<PathBuf> {
    if is_systemd() {
        return vec![slice_dir(&pod_slice(uid))];
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    let root = Path::new("/sys/fs/cgroup");
    let hierarchies = std::iter::once(root.to_path_buf()).chain(
        std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path()),
    );
    for h in hierarchies {
        // Symlinks such as cpu -> cpu,cpuacct name one hierarchy twice.
        let Ok(h) = h.canonicalize() else { continue };
        if h.join("cgroup.procs").exists() {
            let d = h.join(format!("kubepods/burstable/pod{uid}"));
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    dirs
}

/// kubelet's namespaces for a pod on the node's network: IPC per pod,
/// PID per container (no shareProcessNamespace).
pub fn pod_namespaces() -> api::NamespaceOption {
    api::NamespaceOption {
        network: api::NamespaceMode::Node as i32,
        pid: api::NamespaceMode::Container as i32,
        ipc: api::NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

/// `config` with the namespaces of `pod` (kubelet passes a pod's to each
/// of its containers).
pub fn in_pod(
    mut config: api::ContainerConfig,
    pod: &api::PodSandboxConfig,
) -> api::ContainerConfig {
    let ns = pod
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .and_then(|s| s.namespace_options.clone());
    let linux = config.linux.get_or_insert_with(Default::default);
    linux
        .security_context
        .get_or_insert_with(Default::default)
        .namespace_options = ns;
    config
}

/// The security context of a container (made, if need be) of [`container_config`].
pub fn security_of(config: &mut api::ContainerConfig) -> &mut api::LinuxContainerSecurityContext {
    config
        .linux
        .get_or_insert_with(Default::default)
        .security_context
        .get_or_insert_with(Default::default)
}

/// A busybox container running `cmd`, logging to NAME/0.log in the pod's
/// log directory, with the pod's namespaces as kubelet passes them.
pub fn container_config(name: &str, cmd: &[&str]) -> api::ContainerConfig {
    api::ContainerConfig {
        metadata: Some(api::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(api::ImageSpec {
            image: BUSYBOX.into(),
            ..Default::default()
        }),
        command: cmd.iter().map(|s| s.to_string()).collect(),
        log_path: format!("{name}/0.log"),
        linux: Some(api::LinuxContainerConfig {
            resources: Some(api::LinuxContainerResources {
                cpu_shares: 2,
                ..Default::default()
            }),
            security_context: Some(api::LinuxContainerSecurityContext {
                namespace_options: Some(pod_namespaces()),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}
