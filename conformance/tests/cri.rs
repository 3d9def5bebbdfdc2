//! berth as a Kubernetes node's runtime: containerd's CRI plugin driven as
//! kubelet drives it, each test with its own containerd (conformance::cri).
//! BERTH_CRI_HANDLER picks the runtime handler (berth, or runc as the
//! reference); BERTH_CONTAINERD_BIN the containerd (`hack/containerd`).

use std::time::{Duration, Instant};

use conformance::cri::{api, container_config, handler, Node};

#[test]
fn version_status_and_a_pod_that_leaves_nothing() {
    let node = Node::start();
    let v = node.ok(
        node.cri
            .rt(|mut s| async move { s.version(api::VersionRequest::default()).await }),
        "Version",
    );
    assert_eq!(v.runtime_name, "containerd");
    assert_eq!(v.runtime_api_version, "v1");
    let st = node.ok(
        node.cri
            .rt(|mut s| async move { s.status(api::StatusRequest { verbose: false }).await }),
        "Status",
    );
    let conditions = st.status.expect("Status without conditions").conditions;
    let runtime_ready = conditions.iter().find(|c| c.r#type == "RuntimeReady");
    assert!(
        runtime_ready.is_some_and(|c| c.status),
        "RuntimeReady: {conditions:?}"
    );

    let config = node.pod_config("lifecycle");
    let pod = node.run_pod(&config);
    let id = pod.clone();
    let status = node.ok(
        node.cri.rt(|mut s| async move {
            s.pod_sandbox_status(api::PodSandboxStatusRequest {
                pod_sandbox_id: id,
                verbose: false,
            })
            .await
        }),
        "PodSandboxStatus",
    );
    let status = status.status.expect("no pod status");
    assert_eq!(status.state, api::PodSandboxState::SandboxReady as i32);
    assert_eq!(status.runtime_handler, handler());
    assert_eq!(status.metadata, config.metadata);
    let list = node.ok(
        node.cri.rt(|mut s| async move {
            s.list_pod_sandbox(api::ListPodSandboxRequest::default())
                .await
        }),
        "ListPodSandbox",
    );
    assert_eq!(list.items.iter().map(|p| &p.id).collect::<Vec<_>>(), [&pod]);
    // The sandbox's pause process runs in the pod's cgroup.
    let pod_procs = node
        .cgroup_dir(&config, "memory", &pod)
        .join("cgroup.procs");
    assert!(
        !std::fs::read_to_string(&pod_procs)
            .unwrap_or_default()
            .trim()
            .is_empty(),
        "no process in {}",
        pod_procs.display()
    );

    node.remove_pod(&pod);
    let list = node.ok(
        node.cri.rt(|mut s| async move {
            s.list_pod_sandbox(api::ListPodSandboxRequest::default())
                .await
        }),
        "ListPodSandbox",
    );
    assert!(list.items.is_empty(), "pods left: {:?}", list.items);
    let left = poll_leftovers(&node, &config, &[&pod]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

/// Leftovers of a removed pod once they had a moment to go (a shim exits
/// after answering its last request).
fn poll_leftovers(node: &Node, config: &api::PodSandboxConfig, ids: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = node.leftovers(config, ids);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[allow(dead_code)]
fn unused() -> api::ContainerConfig {
    container_config("x", &["true"])
}
