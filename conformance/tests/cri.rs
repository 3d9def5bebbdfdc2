//! berth as a Kubernetes node's runtime: containerd's CRI plugin driven as
//! kubelet drives it, each test with its own containerd (conformance::cri).
//! BERTH_CRI_HANDLER picks the runtime handler (berth, or runc as the
//! reference); BERTH_CONTAINERD_BIN the containerd (`hack/containerd`).

use std::time::{Duration, Instant};

use conformance::cri::{api, container_config, handler, handler_is_runc, in_pod, Node};

const EXITED: i32 = api::ContainerState::ContainerExited as i32;
const RUNNING: i32 = api::ContainerState::ContainerRunning as i32;

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
    // The pod-net CNI configuration was found.
    let network_ready = conditions.iter().find(|c| c.r#type == "NetworkReady");
    assert!(
        network_ready.is_some_and(|c| c.status),
        "NetworkReady: {conditions:?}"
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

#[test]
fn containers_exit_codes_reasons_stop_timeout_and_removal() {
    let node = Node::start();
    let config = node.pod_config("containers");
    let pod = node.run_pod(&config);
    let ok = node.start_container(
        &pod,
        &config,
        container_config("ok", &["sh", "-c", "echo out; echo err >&2"]),
    );
    let fail = node.start_container(
        &pod,
        &config,
        container_config("fail", &["sh", "-c", "exit 3"]),
    );
    // PID 1 of its PID namespace with SIGTERM ignored: only SIGKILL ends it.
    let stubborn = node.start_container(
        &pod,
        &config,
        container_config(
            "stubborn",
            &["sh", "-c", "trap '' TERM; while :; do sleep 1; done"],
        ),
    );

    let st = node.wait_exited(&ok, Duration::from_secs(20));
    assert_eq!(
        (st.exit_code, st.reason.as_str()),
        (0, "Completed"),
        "{st:?}"
    );
    // Not finished_at >= started_at: containerd stamps the start when
    // the runtime's start returns, and a container this short (runc's
    // under containerd 2.1) can have exited before that.
    assert!(
        st.started_at > 0 && st.finished_at >= st.created_at,
        "{st:?}"
    );
    let st = node.wait_exited(&fail, Duration::from_secs(20));
    assert_eq!((st.exit_code, st.reason.as_str()), (3, "Error"), "{st:?}");
    assert_eq!(node.container_status(&stubborn).state, RUNNING);

    let mut listed: Vec<(String, i32)> = node
        .list_containers(&pod)
        .into_iter()
        .map(|c| (c.metadata.unwrap().name, c.state))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("fail".to_string(), EXITED),
            ("ok".to_string(), EXITED),
            ("stubborn".to_string(), RUNNING)
        ]
    );

    let t0 = Instant::now();
    node.stop_container(&stubborn, 2);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "StopContainer with timeout 2 took {took:?}"
    );
    let st = node.container_status(&stubborn);
    assert_eq!((st.state, st.exit_code), (EXITED, 137), "{st:?}");

    for id in [&ok, &fail, &stubborn] {
        node.remove_container(id);
    }
    assert!(node.list_containers(&pod).is_empty());
    node.remove_pod(&pod);
    let left = poll_leftovers(&node, &config, &[&pod, &ok, &fail, &stubborn]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

#[test]
fn exec_sync_output_exit_code_and_timeout() {
    let node = Node::start();
    let config = node.pod_config("exec");
    let pod = node.run_pod(&config);
    let c = node.start_container(&pod, &config, container_config("c", &["sleep", "1000"]));
    let r = node.exec_sync(&c, &["sh", "-c", "echo hello; echo oops >&2; exit 7"], 10);
    assert_eq!(String::from_utf8_lossy(&r.stdout), "hello\n");
    assert_eq!(String::from_utf8_lossy(&r.stderr), "oops\n");
    assert_eq!(r.exit_code, 7);
    // Runs in the container: its root, its PID namespace.
    let r = node.exec_sync(&c, &["cat", "/proc/1/cmdline"], 10);
    assert_eq!(String::from_utf8_lossy(&r.stdout), "sleep\x001000\x00");

    let t0 = Instant::now();
    let r = node.try_exec_sync(&c, &["sleep", "377"], 1);
    let took = t0.elapsed();
    let err = r.expect_err("ExecSync past its timeout succeeded");
    assert!(err.message().contains("timeout"), "{err:?}");
    assert!(
        took < Duration::from_secs(10),
        "the timeout of 1 s took {took:?}"
    );
    // The timed-out process is gone, not left running in the container.
    let gone = conformance::poll_until(Duration::from_secs(5), || {
        let r = node.exec_sync(&c, &["ps", "-o", "args"], 10);
        !String::from_utf8_lossy(&r.stdout).contains("sleep 377")
    });
    assert!(gone, "the timed-out exec still runs");
    // The container is still serving.
    assert_eq!(node.exec_sync(&c, &["true"], 10).exit_code, 0);
    node.remove_pod(&pod);
    let left = poll_leftovers(&node, &config, &[&pod, &c]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

#[test]
fn logs_in_the_cri_format_and_reopen_container_log() {
    let node = Node::start();
    let config = node.pod_config("logs");
    let pod = node.run_pod(&config);
    let script =
        "echo one; echo two >&2; while [ ! -e /tmp/go ]; do sleep 1; done; echo three; sleep 1000";
    let c = node.start_container(
        &pod,
        &config,
        container_config("talker", &["sh", "-c", script]),
    );
    let log_path = std::path::PathBuf::from(node.container_status(&c).log_path);
    assert!(
        log_path.starts_with(&config.log_directory),
        "{} not in the pod's log directory",
        log_path.display()
    );
    let lines = |p: &std::path::Path, n: usize| -> Vec<String> {
        let mut text = String::new();
        conformance::poll_until(Duration::from_secs(10), || {
            text = std::fs::read_to_string(p).unwrap_or_default();
            text.lines().count() >= n
        });
        text.lines().map(str::to_string).collect()
    };
    let first = lines(&log_path, 2);
    assert_eq!(first.len(), 2, "{first:?}");
    // TIMESTAMP STREAM TAG MESSAGE, TIMESTAMP in RFC 3339 with nanoseconds,
    // TAG F for a full line.
    let mut seen = Vec::new();
    for l in &first {
        let f: Vec<&str> = l.splitn(4, ' ').collect();
        assert_eq!(f.len(), 4, "{l:?}");
        assert!(
            f[0].len() >= 20 && f[0].as_bytes()[10] == b'T' && f[0].contains(':'),
            "timestamp {l:?}"
        );
        assert_eq!(f[2], "F", "{l:?}");
        seen.push((f[1].to_string(), f[3].to_string()));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            ("stderr".to_string(), "two".to_string()),
            ("stdout".to_string(), "one".to_string())
        ]
    );

    // kubelet's rotation: rename, then ReopenContainerLog.
    let rotated = log_path.with_extension("log.1");
    std::fs::rename(&log_path, &rotated).unwrap();
    let id = c.clone();
    let r = node.cri.rt(|mut s| async move {
        s.reopen_container_log(api::ReopenContainerLogRequest { container_id: id })
            .await
    });
    node.ok(r, "ReopenContainerLog");
    node.exec_sync(&c, &["touch", "/tmp/go"], 10);
    let after = lines(&log_path, 1);
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].ends_with(" stdout F three"), "{after:?}");
    assert_eq!(lines(&rotated, 2).len(), 2, "the rotated file changed");
    node.remove_pod(&pod);
    let left = poll_leftovers(&node, &config, &[&pod, &c]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

fn cgroup_value(
    node: &Node,
    config: &api::PodSandboxConfig,
    ctl: &str,
    id: &str,
    file: &str,
) -> String {
    let p = node.cgroup_dir(config, ctl, id).join(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
fn update_container_resources_changes_the_cgroup() {
    let node = Node::start();
    let config = node.pod_config("update");
    let pod = node.run_pod(&config);
    let mut cc = container_config("c", &["sleep", "1000"]);
    let res = cc.linux.as_mut().unwrap().resources.as_mut().unwrap();
    res.memory_limit_in_bytes = 64 << 20;
    res.cpu_period = 100_000;
    res.cpu_quota = 20_000;
    let c = node.start_container(&pod, &config, cc);
    assert_eq!(cgroup_value(&node, &config, "cpu", &c, "cpu.shares"), "2");
    assert_eq!(
        cgroup_value(&node, &config, "cpu", &c, "cpu.cfs_quota_us"),
        "20000"
    );
    assert_eq!(
        cgroup_value(&node, &config, "memory", &c, "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );

    // What kubelet sends for an in-place resize: the whole block.
    let linux = api::LinuxContainerResources {
        cpu_period: 100_000,
        cpu_quota: 50_000,
        cpu_shares: 512,
        memory_limit_in_bytes: 128 << 20,
        ..Default::default()
    };
    let id = c.clone();
    let r = node.cri.rt(|mut s| async move {
        s.update_container_resources(api::UpdateContainerResourcesRequest {
            container_id: id,
            linux: Some(linux),
            ..Default::default()
        })
        .await
    });
    node.ok(r, "UpdateContainerResources");
    assert_eq!(cgroup_value(&node, &config, "cpu", &c, "cpu.shares"), "512");
    assert_eq!(
        cgroup_value(&node, &config, "cpu", &c, "cpu.cfs_quota_us"),
        "50000"
    );
    assert_eq!(
        cgroup_value(&node, &config, "memory", &c, "memory.limit_in_bytes"),
        (128u64 << 20).to_string()
    );
    // The device rules containerd sends along are still in force: no
    // container may read the host's disks.
    let list = cgroup_value(&node, &config, "devices", &c, "devices.list");
    assert!(!list.contains("a *:* rwm"), "devices opened up: {list}");
    // The container went on running.
    assert_eq!(node.container_status(&c).state, RUNNING);
    node.remove_pod(&pod);
    let left = poll_leftovers(&node, &config, &[&pod, &c]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

#[test]
fn container_and_pod_stats() {
    let node = Node::start();
    let config = node.pod_config("stats");
    let pod = node.run_pod(&config);
    // Some CPU time and some memory of its own to report.
    let c = node.start_container(
        &pod,
        &config,
        container_config(
            "busy",
            &["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; x=$(head -c 4000000 /dev/zero | tr '\\0' a); sleep 1000"],
        ),
    );
    let id = c.clone();
    let stats = |id: String| {
        node.ok(
            node.cri.rt(|mut s| async move {
                s.container_stats(api::ContainerStatsRequest { container_id: id })
                    .await
            }),
            "ContainerStats",
        )
        .stats
        .expect("ContainerStats without stats")
    };
    let mut st = stats(id.clone());
    conformance::poll_until(Duration::from_secs(10), || {
        st = stats(id.clone());
        st.cpu
            .as_ref()
            .and_then(|c| c.usage_core_nano_seconds)
            .map(|v| v.value)
            > Some(0)
    });
    assert_eq!(st.attributes.as_ref().unwrap().id, c);
    let cpu = st.cpu.as_ref().and_then(|c| c.usage_core_nano_seconds);
    assert!(cpu.is_some_and(|v| v.value > 0), "{st:?}");
    let ws = st.memory.as_ref().and_then(|m| m.working_set_bytes);
    assert!(ws.is_some_and(|v| v.value > 0), "{st:?}");

    let list = node.ok(
        node.cri.rt(|mut s| async move {
            s.list_container_stats(api::ListContainerStatsRequest::default())
                .await
        }),
        "ListContainerStats",
    );
    let ids: Vec<&str> = list
        .stats
        .iter()
        .filter_map(|s| s.attributes.as_ref().map(|a| a.id.as_str()))
        .collect();
    assert_eq!(ids, [c.as_str()]);

    let id = pod.clone();
    let ps = node.ok(
        node.cri.rt(|mut s| async move {
            s.pod_sandbox_stats(api::PodSandboxStatsRequest { pod_sandbox_id: id })
                .await
        }),
        "PodSandboxStats",
    );
    let ps = ps.stats.expect("PodSandboxStats without stats");
    assert_eq!(ps.attributes.as_ref().unwrap().id, pod);
    let linux = ps.linux.expect("no linux pod stats");
    assert!(
        linux
            .cpu
            .and_then(|c| c.usage_core_nano_seconds)
            .is_some_and(|v| v.value > 0),
        "no pod CPU"
    );
    let in_pod: Vec<&str> = linux
        .containers
        .iter()
        .filter_map(|s| s.attributes.as_ref().map(|a| a.id.as_str()))
        .collect();
    assert_eq!(in_pod, [c.as_str()]);
    node.remove_pod(&pod);
    let left = poll_leftovers(&node, &config, &[&pod, &c]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

#[test]
fn oom_killed_container_and_clean_removal() {
    let node = Node::start();
    let config = node.pod_config("oom");
    let pod = node.run_pod(&config);
    let mut cc = container_config("hog", &["tail", "/dev/zero"]);
    let res = cc.linux.as_mut().unwrap().resources.as_mut().unwrap();
    res.memory_limit_in_bytes = 16 << 20;
    res.memory_swap_limit_in_bytes = 16 << 20;
    let c = node.start_container(&pod, &config, cc);
    let st = node.wait_exited(&c, Duration::from_secs(30));
    assert_eq!(
        (st.exit_code, st.reason.as_str()),
        (137, "OOMKilled"),
        "{st:?}"
    );
    node.remove_pod(&pod);
    let left = poll_leftovers(&node, &config, &[&pod, &c]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

fn ns(pid: i32, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap_or_else(|e| panic!("ns of {pid}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// The shim processes of this node: containerd-shim-* children of
/// containerd's tree (a shim's own helpers are not shims).
fn shims(node: &Node) -> Vec<i32> {
    node.processes()
        .into_iter()
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| {
                e.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("containerd-shim"))
            })
        })
        .collect()
}

#[test]
fn a_pods_containers_share_its_namespaces_under_one_shim() {
    let node = Node::start();
    let config = node.pod_config("shared");
    let pod = node.run_pod(&config);
    let a = node.start_container(&pod, &config, container_config("a", &["sleep", "1000"]));
    let b = node.start_container(&pod, &config, container_config("b", &["sleep", "1001"]));
    let (sp, ap, bp) = (
        node.pid(&pod, true),
        node.pid(&a, false),
        node.pid(&b, false),
    );
    let me = std::process::id() as i32;
    for kind in ["ipc", "uts", "net"] {
        assert_eq!(ns(ap, kind), ns(sp, kind), "{kind} of a and the sandbox");
        assert_eq!(ns(bp, kind), ns(sp, kind), "{kind} of b and the sandbox");
    }
    // IPC is the pod's own; network and UTS the node's (hostNetwork).
    assert_ne!(ns(sp, "ipc"), ns(me, "ipc"));
    assert_eq!(ns(sp, "net"), ns(me, "net"));
    assert_eq!(ns(sp, "uts"), ns(me, "uts"));
    // Each container has its own PID namespace and root.
    assert_ne!(ns(ap, "pid"), ns(bp, "pid"));
    assert_ne!(ns(ap, "mnt"), ns(bp, "mnt"));
    let one = shims(&node);
    assert_eq!(one.len(), 1, "shims for one pod: {one:?}");
    // A second pod gets a shim of its own.
    let config2 = node.pod_config("other");
    let pod2 = node.run_pod(&config2);
    let two = shims(&node);
    assert_eq!(two.len(), 2, "shims for two pods: {two:?}");
    node.remove_pod(&pod2);
    node.remove_pod(&pod);
    let mut left = poll_leftovers(&node, &config, &[&pod, &a, &b]);
    left.extend(poll_leftovers(&node, &config2, &[&pod2]));
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

#[test]
fn share_process_namespace() {
    let node = Node::start();
    let mut config = node.pod_config("sharepid");
    let pod_pid = api::NamespaceOption {
        pid: api::NamespaceMode::Pod as i32,
        ..conformance::cri::pod_namespaces()
    };
    let linux = config.linux.as_mut().unwrap();
    linux.security_context.as_mut().unwrap().namespace_options = Some(pod_pid.clone());
    let pod = node.run_pod(&config);
    let with_pod_pid = |name: &str, cmd: &[&str]| {
        let mut cc = container_config(name, cmd);
        let sc = cc
            .linux
            .as_mut()
            .unwrap()
            .security_context
            .as_mut()
            .unwrap();
        sc.namespace_options = Some(pod_pid.clone());
        cc
    };
    let a = node.start_container(&pod, &config, with_pod_pid("a", &["sleep", "1002"]));
    let b = node.start_container(&pod, &config, with_pod_pid("b", &["sleep", "1003"]));
    let (sp, ap, bp) = (
        node.pid(&pod, true),
        node.pid(&a, false),
        node.pid(&b, false),
    );
    assert_eq!(ns(ap, "pid"), ns(sp, "pid"));
    assert_eq!(ns(bp, "pid"), ns(sp, "pid"));
    // From b: the pause program as PID 1 and a's process.
    let ps = node.exec_sync(&b, &["ps", "-o", "pid,args"], 10);
    let ps = String::from_utf8_lossy(&ps.stdout).into_owned();
    let rows: Vec<(String, String)> = ps
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (pid, args) = l.trim().split_once(' ')?;
            Some((pid.to_string(), args.trim().to_string()))
        })
        .collect();
    assert!(rows.contains(&("1".into(), "/pause".into())), "{ps}");
    assert!(rows.iter().any(|r| r.1 == "sleep 1002"), "{ps}");
    // A container's process ending leaves the pod's init in charge.
    node.stop_container(&a, 0);
    assert_eq!(node.container_status(&a).state, EXITED);
    assert_eq!(node.container_status(&b).state, RUNNING);
    node.remove_pod(&pod);
    let left = poll_leftovers(&node, &config, &[&pod, &a, &b]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

#[test]
fn init_container_first_then_a_restarted_container() {
    let node = Node::start();
    let config = node.pod_config("restart");
    let pod = node.run_pod(&config);
    // kubelet runs init containers to completion before the others.
    let init = node.start_container(
        &pod,
        &config,
        container_config("init", &["sh", "-c", "echo ready"]),
    );
    let st = node.wait_exited(&init, Duration::from_secs(20));
    assert_eq!((st.exit_code, st.reason.as_str()), (0, "Completed"));
    let app0 = node.start_container(
        &pod,
        &config,
        container_config("app", &["sh", "-c", "exit 1"]),
    );
    let st = node.wait_exited(&app0, Duration::from_secs(20));
    assert_eq!((st.exit_code, st.reason.as_str()), (1, "Error"));
    // The restart: the same name, the next attempt, its own log file.
    let mut cc = container_config("app", &["sleep", "1000"]);
    cc.metadata.as_mut().unwrap().attempt = 1;
    cc.log_path = "app/1.log".into();
    let app1 = node.start_container(&pod, &config, cc);
    let st = node.container_status(&app1);
    assert_eq!(st.state, RUNNING);
    assert_eq!(st.metadata.unwrap().attempt, 1);
    assert!(st.log_path.ends_with("app/1.log"), "{}", st.log_path);
    assert_eq!(node.list_containers(&pod).len(), 3);
    // The old attempt goes; the new one runs on.
    node.remove_container(&app0);
    assert_eq!(node.container_status(&app1).state, RUNNING);
    node.remove_pod(&pod);
    let left = poll_leftovers(&node, &config, &[&pod, &init, &app0, &app1]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

#[test]
fn host_pid_and_host_ipc_pod() {
    let node = Node::start();
    let mut config = node.pod_config("hostns");
    let host = api::NamespaceOption {
        pid: api::NamespaceMode::Node as i32,
        ipc: api::NamespaceMode::Node as i32,
        ..conformance::cri::pod_namespaces()
    };
    let linux = config.linux.as_mut().unwrap();
    linux.security_context.as_mut().unwrap().namespace_options = Some(host.clone());
    let pod = node.run_pod(&config);
    let mut cc = container_config("c", &["sleep", "1004"]);
    let sc = cc
        .linux
        .as_mut()
        .unwrap()
        .security_context
        .as_mut()
        .unwrap();
    sc.namespace_options = Some(host);
    let c = node.start_container(&pod, &config, cc);
    let me = std::process::id() as i32;
    let pid = node.pid(&c, false);
    for kind in ["pid", "ipc", "net"] {
        assert_eq!(ns(pid, kind), ns(me, kind), "{kind}");
    }
    assert_ne!(ns(pid, "mnt"), ns(me, "mnt"));
    // The container sees the node's processes: this test among them.
    let r = node.exec_sync(&c, &["cat", &format!("/proc/{me}/comm")], 10);
    assert_eq!(r.exit_code, 0, "{}", String::from_utf8_lossy(&r.stderr));
    node.remove_pod(&pod);
    let left = poll_leftovers(&node, &config, &[&pod, &c]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

/// The capability sets of /proc/PID/status in a container, by name.
fn status_field(node: &Node, id: &str, field: &str) -> String {
    let r = node.exec_sync(
        id,
        &["grep", &format!("^{field}:"), "/proc/self/status"],
        10,
    );
    String::from_utf8_lossy(&r.stdout)
        .split_once(':')
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn security_context() {
    let node = Node::start();
    let mut config = node.pod_config("security");
    // A namespaced sysctl of the pod's IPC namespace.
    let linux = config.linux.as_mut().unwrap();
    linux
        .sysctls
        .insert("kernel.shm_rmid_forced".into(), "1".into());
    let pod = node.run_pod(&config);

    let mut cc = container_config("user", &["sleep", "1005"]);
    let sc = cc
        .linux
        .as_mut()
        .unwrap()
        .security_context
        .as_mut()
        .unwrap();
    sc.run_as_user = Some(api::Int64Value { value: 1000 });
    sc.run_as_group = Some(api::Int64Value { value: 3000 });
    sc.supplemental_groups = vec![4000];
    let user = node.start_container(&pod, &config, cc);
    let id = node.exec_sync(&user, &["id", "-u"], 10);
    assert_eq!(String::from_utf8_lossy(&id.stdout).trim(), "1000");
    let id = node.exec_sync(&user, &["id", "-g"], 10);
    assert_eq!(String::from_utf8_lossy(&id.stdout).trim(), "3000");
    let groups = status_field(&node, &user, "Groups");
    assert!(groups.split_whitespace().any(|g| g == "4000"), "{groups}");
    // The container's init too, not only an exec.
    let pid = node.pid(&user, false);
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        st.lines()
            .any(|l| l.starts_with("Uid:") && l.contains("\t1000\t")),
        "{st}"
    );

    let mut cc = container_config("locked", &["sleep", "1006"]);
    let sc = cc
        .linux
        .as_mut()
        .unwrap()
        .security_context
        .as_mut()
        .unwrap();
    sc.readonly_rootfs = true;
    sc.capabilities = Some(api::Capability {
        add_capabilities: vec!["NET_ADMIN".into()],
        drop_capabilities: vec!["CHOWN".into()],
        ..Default::default()
    });
    sc.seccomp = Some(api::SecurityProfile {
        profile_type: api::security_profile::ProfileType::RuntimeDefault as i32,
        ..Default::default()
    });
    let locked = node.start_container(&pod, &config, cc);
    let bnd = u64::from_str_radix(&status_field(&node, &locked, "CapBnd"), 16).unwrap();
    let (chown, net_admin) = (1u64 << 0, 1u64 << 12);
    assert_eq!(bnd & chown, 0, "CHOWN not dropped: {bnd:x}");
    assert_ne!(bnd & net_admin, 0, "NET_ADMIN not added: {bnd:x}");
    assert_eq!(status_field(&node, &locked, "Seccomp"), "2");
    let w = node.exec_sync(&locked, &["touch", "/x"], 10);
    assert_ne!(w.exit_code, 0, "wrote to a read-only root");
    let sysctl = node.exec_sync(&locked, &["cat", "/proc/sys/kernel/shm_rmid_forced"], 10);
    assert_eq!(String::from_utf8_lossy(&sysctl.stdout).trim(), "1");
    node.remove_pod(&pod);
    let left = poll_leftovers(&node, &config, &[&pod, &user, &locked]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

#[test]
fn privileged_pod() {
    let node = Node::start();
    let mut config = node.pod_config("privileged");
    let linux = config.linux.as_mut().unwrap();
    linux.security_context.as_mut().unwrap().privileged = true;
    let pod = node.run_pod(&config);
    let mut cc = container_config("c", &["sleep", "1007"]);
    let sc = cc
        .linux
        .as_mut()
        .unwrap()
        .security_context
        .as_mut()
        .unwrap();
    sc.privileged = true;
    let c = node.start_container(&pod, &config, cc);
    let mine = std::fs::read_to_string("/proc/self/status").unwrap();
    let my_bnd = mine
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(status_field(&node, &c, "CapBnd"), my_bnd);
    assert_eq!(status_field(&node, &c, "Seccomp"), "0");
    // The host's devices, and /sys writable.
    let r = node.exec_sync(&c, &["sh", "-c", "ls /dev | wc -l"], 10);
    let host_devs = std::fs::read_dir("/dev").unwrap().count();
    let devs: usize = String::from_utf8_lossy(&r.stdout).trim().parse().unwrap();
    assert!(
        devs + 10 >= host_devs,
        "{devs} devices of the host's {host_devs}"
    );
    let r = node.exec_sync(&c, &["sh", "-c", "grep ' /sys ' /proc/mounts"], 10);
    assert!(String::from_utf8_lossy(&r.stdout).contains(" rw,"), "{r:?}");
    node.remove_pod(&pod);
    let left = poll_leftovers(&node, &config, &[&pod, &c]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

#[test]
fn a_killed_shim_leaves_nothing_after_remove_pod_sandbox() {
    let node = Node::start();
    let config = node.pod_config("killed");
    let pod = node.run_pod(&config);
    let c = node.start_container(&pod, &config, container_config("c", &["sleep", "1008"]));
    let pids = [node.pid(&pod, true), node.pid(&c, false)];
    let shim = shims(&node);
    assert_eq!(shim.len(), 1, "{shim:?}");
    // SAFETY: signalling the shim process this node started.
    unsafe { libc::kill(shim[0], libc::SIGKILL) };
    // containerd sees the task die with its shim.
    let st = node.wait_exited(&c, Duration::from_secs(30));
    assert_eq!(st.state, EXITED);
    node.remove_pod(&pod);
    let mut left = poll_leftovers(&node, &config, &[&pod, &c]);
    // The containers' processes, which were no shim's children any more.
    let alive = |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
    conformance::poll_until(Duration::from_secs(10), || {
        pids.iter().all(|p| alive(*p).is_none())
    });
    for pid in pids {
        if let Some(stat) = alive(pid) {
            left.push(format!("process {pid} of the pod: {stat}"));
        }
    }
    if handler_is_runc() && node.version.0 >= 2 {
        // The reference's own gap: containerd 2.1 cleans up after the dead
        // shim for the sandbox only, and its runc shim leaves the pod's
        // other containers running (the harness removes them).
        eprintln!("runc under containerd 2.x, as known: left {left:#?}");
        return;
    }
    assert!(left.is_empty(), "left after a killed shim: {left:#?}");
}

#[test]
fn exec_and_attach_through_the_streaming_server() {
    use conformance::cri::stream::Session;
    let node = Node::start();
    let config = node.pod_config("stream");
    let pod = node.run_pod(&config);
    // Attach needs the container's stdin open (kubectl run -i).
    let mut cc = container_config(
        "talk",
        &["sh", "-c", "while read line; do echo got:$line; done"],
    );
    cc.stdin = true;
    let c = node.start_container(&pod, &config, cc);

    let req = api::ExecRequest {
        container_id: c.clone(),
        cmd: ["sh", "-c", "read x; echo out:$x; echo err >&2; exit 3"]
            .map(String::from)
            .to_vec(),
        stdin: true,
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let url = node
        .ok(
            node.cri.rt(|mut s| async move { s.exec(req).await }),
            "Exec",
        )
        .url;
    let mut exec = Session::open(&url).unwrap_or_else(|e| panic!("{e}\n{}", node.log_tail(30)));
    exec.stdin(b"abc\n");
    let ended = exec.read_until(Duration::from_secs(20), |s| s.status.is_some());
    assert!(
        ended,
        "no status; stdout {:?}",
        String::from_utf8_lossy(&exec.stdout)
    );
    assert_eq!(String::from_utf8_lossy(&exec.stdout), "out:abc\n");
    assert_eq!(String::from_utf8_lossy(&exec.stderr), "err\n");
    assert_eq!(exec.exit_code(), Some(3), "{:?}", exec.status);
    exec.close();

    // A terminal: one stream for both outputs, its size from the client.
    let req = api::ExecRequest {
        container_id: c.clone(),
        cmd: [
            "sh",
            "-c",
            "while read x && [ \"$x\" != end ]; do stty size; done; tty; echo err >&2",
        ]
        .map(String::from)
        .to_vec(),
        tty: true,
        stdin: true,
        stdout: true,
        ..Default::default()
    };
    let url = node
        .ok(
            node.cri.rt(|mut s| async move { s.exec(req).await }),
            "Exec",
        )
        .url;
    let mut term = Session::open(&url).unwrap_or_else(|e| panic!("{e}\n{}", node.log_tail(30)));
    term.resize(91, 27);
    // The resize travels apart from stdin: ask for the size until it shows.
    let sized = (0..40).any(|_| {
        term.stdin(b"\r");
        term.read_until(Duration::from_millis(250), |s| {
            String::from_utf8_lossy(&s.stdout).contains("27 91")
        })
    });
    assert!(
        sized,
        "stty size: {:?}",
        String::from_utf8_lossy(&term.stdout)
    );
    term.stdin(b"end\r");
    let ended = term.read_until(Duration::from_secs(20), |s| s.status.is_some());
    let out = String::from_utf8_lossy(&term.stdout).into_owned();
    assert!(ended, "no status; output {out:?}");
    assert!(out.contains("27 91"), "stty size: {out:?}");
    assert!(out.contains("/dev/pts/"), "tty: {out:?}");
    assert!(out.contains("err\r\n"), "stderr on the terminal: {out:?}");
    assert!(term.stderr.is_empty());
    assert_eq!(term.exit_code(), Some(0), "{:?}", term.status);
    term.close();

    let req = api::AttachRequest {
        container_id: c.clone(),
        stdin: true,
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let url = node
        .ok(
            node.cri.rt(|mut s| async move { s.attach(req).await }),
            "Attach",
        )
        .url;
    let mut attach = Session::open(&url).unwrap_or_else(|e| panic!("{e}\n{}", node.log_tail(30)));
    attach.stdin(b"hello\n");
    let got = attach.read_until(Duration::from_secs(20), |s| {
        String::from_utf8_lossy(&s.stdout).contains("got:hello")
    });
    assert!(got, "attach: {:?}", String::from_utf8_lossy(&attach.stdout));
    attach.close();
    // The container read its stdin through the attach and runs on.
    assert_eq!(node.container_status(&c).state, RUNNING);
    node.remove_pod(&pod);
    let left = poll_leftovers(&node, &config, &[&pod, &c]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

#[test]
fn a_pod_network_of_its_own() {
    let node = Node::start();
    let config = node.pod_config_networked("net");
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
    let ip = status
        .status
        .and_then(|s| s.network)
        .map(|n| n.ip)
        .unwrap_or_default();
    assert!(ip.starts_with("10.88."), "pod IP {ip:?}");
    let server = in_pod(
        container_config(
            "server",
            &[
                "sh",
                "-c",
                "while :; do echo hi-from-server | nc -l -p 8080; done",
            ],
        ),
        &config,
    );
    let a = node.start_container(&pod, &config, server);
    let b = node.start_container(
        &pod,
        &config,
        in_pod(container_config("b", &["sleep", "1009"]), &config),
    );
    let (sp, ap, bp) = (
        node.pid(&pod, true),
        node.pid(&a, false),
        node.pid(&b, false),
    );
    let me = std::process::id() as i32;
    for kind in ["net", "uts", "ipc"] {
        assert_eq!(ns(ap, kind), ns(sp, kind), "{kind} of a and the sandbox");
        assert_eq!(ns(bp, kind), ns(sp, kind), "{kind} of b and the sandbox");
        assert_ne!(ns(sp, kind), ns(me, kind), "{kind} of the pod and the node");
    }
    let out =
        |cmd: &[&str]| String::from_utf8_lossy(&node.exec_sync(&b, cmd, 10).stdout).into_owned();
    assert_eq!(out(&["hostname"]).trim(), "net");
    assert!(out(&["ip", "-4", "addr", "show", "eth0"]).contains(&format!("inet {ip}/")));
    let resolv = out(&["cat", "/etc/resolv.conf"]);
    for line in [
        "nameserver 10.96.0.10",
        "search berth-cri.svc.cluster.local",
        "options ndots:5",
    ] {
        assert!(
            resolv.lines().any(|l| l == line),
            "{line:?} not in {resolv:?}"
        );
    }
    // One container reaches the other on the pod's address.
    let reached = conformance::poll_until(Duration::from_secs(10), || {
        out(&["nc", "-w", "2", &ip, "8080"]).contains("hi-from-server")
    });
    assert!(reached, "no answer from the other container at {ip}:8080");
    let netns: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&node.dir.to_string_lossy().into_owned()) && l.contains("netns"))
        .map(str::to_string)
        .collect();
    assert!(
        !netns.is_empty(),
        "the pod's network namespace is not under the node's state"
    );
    node.remove_pod(&pod);
    let mut left = poll_leftovers(&node, &config, &[&pod, &a, &b]);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    left.extend(netns.into_iter().filter(|m| mounts.contains(m.as_str())));
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

/// `hostUsers: false`. Ignored until berth passes it (conformance/README.md):
/// under containerd 1.7 the pod's containers join its user namespace by
/// path with a PID namespace of their own, which berth refuses; under 2.1
/// the berth shim cannot mount the rootfs with containerd's `uidmap`
/// overlay options. `cargo test -- --ignored` runs it.
#[test]
#[ignore = "berth cannot run a pod in a user namespace yet"]
fn a_pod_in_its_own_user_namespace() {
    let node = Node::start();
    if node.version < (1, 7) {
        eprintln!("containerd 1.6 ignores the CRI's user namespace options");
        return;
    }
    if handler_is_runc() && node.version.0 >= 2 {
        eprintln!("containerd 2.x needs idmapped mounts, which runc 1.1 lacks");
        return;
    }
    let mut config = node.pod_config_networked("userns");
    // kubelet's mapping for hostUsers: false: 65536 ids from a multiple of
    // 65536 (here one no other test uses).
    let base = 65536 * (1000 + std::process::id() % 1000);
    let map = vec![api::IdMapping {
        host_id: base,
        container_id: 0,
        length: 65536,
    }];
    let userns = api::UserNamespace {
        mode: api::NamespaceMode::Pod as i32,
        uids: map.clone(),
        gids: map,
    };
    let linux = config.linux.as_mut().unwrap();
    let sc = linux.security_context.as_mut().unwrap();
    sc.namespace_options.as_mut().unwrap().userns_options = Some(userns);
    let req = api::RunPodSandboxRequest {
        config: Some(config.clone()),
        runtime_handler: handler(),
    };
    let r = node
        .cri
        .rt(|mut s| async move { s.run_pod_sandbox(req).await });
    let pod = match r {
        Ok(r) => r.pod_sandbox_id,
        Err(e) => panic!(
            "RunPodSandbox with a user namespace: {}\n{}",
            e.message(),
            node.log_tail(20)
        ),
    };
    let c = node.start_container(
        &pod,
        &config,
        in_pod(container_config("c", &["sleep", "1010"]), &config),
    );
    let pid = node.pid(&c, false);
    let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    let fields: Vec<&str> = uid_map.split_whitespace().collect();
    assert_eq!(fields, ["0", &base.to_string(), "65536"], "{uid_map}");
    let me = std::process::id() as i32;
    assert_ne!(ns(pid, "user"), ns(me, "user"));
    // Root inside, an unprivileged id outside; the image's files are
    // root's inside (idmapped).
    let r = node.exec_sync(
        &c,
        &[
            "sh",
            "-c",
            "id -u; stat -c %u /bin/busybox; touch /x && stat -c %u /x",
        ],
        10,
    );
    assert_eq!(String::from_utf8_lossy(&r.stdout), "0\n0\n0\n", "{r:?}");
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        st.lines()
            .any(|l| l.starts_with("Uid:") && l.contains(&format!("\t{base}\t"))),
        "{st}"
    );
    node.remove_pod(&pod);
    let left = poll_leftovers(&node, &config, &[&pod, &c]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}
