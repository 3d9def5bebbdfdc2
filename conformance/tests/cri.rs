//! berth as a Kubernetes node's runtime: containerd's CRI plugin driven as
//! kubelet drives it, each test with its own containerd (conformance::cri):
//! the RuntimeService's calls. tests/cri_pods.rs has pods as kubelet makes
//! them. BERTH_CRI_HANDLER picks the runtime handler (berth, or runc as the
//! reference); BERTH_CONTAINERD_BIN the containerd (`hack/containerd`).

use std::time::{Duration, Instant};

use conformance::cri::{
    api, container_config, driver, handler, handler_is_runc, Node, EXITED, RUNNING,
};

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
    let status = node.pod_status(&pod, false);
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
    node.assert_placed(&config, &pod, node.pid(&pod, true));

    node.remove_pod(&pod);
    let list = node.ok(
        node.cri.rt(|mut s| async move {
            s.list_pod_sandbox(api::ListPodSandboxRequest::default())
                .await
        }),
        "ListPodSandbox",
    );
    assert!(list.items.is_empty(), "pods left: {:?}", list.items);
    let left = node.settled_leftovers(&config, &[&pod]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
    // kubelet's part once the pod is gone: its cgroup (or slice) goes.
    node.remove_pod_cgroup(&config);
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
    node.assert_placed(&config, &stubborn, node.pid(&stubborn, false));

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
    let left = node.settled_leftovers(&config, &[&pod, &ok, &fail, &stubborn]);
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
    let left = node.settled_leftovers(&config, &[&pod, &c]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

#[test]
fn exec_and_attach_through_the_streaming_server() {
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
    let mut exec = node.exec_session(req);
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
    let mut term = node.exec_session(req);
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
    let mut attach = node.attach_session(req);
    attach.stdin(b"hello\n");
    let got = attach.read_until(Duration::from_secs(20), |s| {
        String::from_utf8_lossy(&s.stdout).contains("got:hello")
    });
    assert!(got, "attach: {:?}", String::from_utf8_lossy(&attach.stdout));
    attach.close();
    // The container read its stdin through the attach and runs on.
    assert_eq!(node.container_status(&c).state, RUNNING);
    node.remove_pod(&pod);
    let left = node.settled_leftovers(&config, &[&pod, &c]);
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
    let left = node.settled_leftovers(&config, &[&pod, &c]);
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

/// The limits of a container's cgroup as (cpu weight or shares, CFS quota
/// in µs, memory limit in bytes): cgroup v1's files, or v2's with the
/// runtimes' conversion of shares to a weight (1 + (shares - 2) * 9999 /
/// 262142); with the systemd driver also the scope's properties, which
/// must agree (systemd would otherwise put its own back).
fn limits(node: &Node, config: &api::PodSandboxConfig, id: &str) -> (u64, u64, u64) {
    let num = |v: String| -> u64 { v.parse().unwrap_or_else(|_| panic!("not a number: {v:?}")) };
    if !v2() {
        return (
            num(cgroup_value(node, config, "cpu", id, "cpu.shares")),
            num(cgroup_value(node, config, "cpu", id, "cpu.cfs_quota_us")),
            num(cgroup_value(
                node,
                config,
                "memory",
                id,
                "memory.limit_in_bytes",
            )),
        );
    }
    let max = cgroup_value(node, config, "cpu", id, "cpu.max");
    let (quota, period) = max.split_once(' ').expect("cpu.max: QUOTA PERIOD");
    assert_eq!(period, "100000", "cpu.max {max}");
    let got = (
        num(cgroup_value(node, config, "cpu", id, "cpu.weight")),
        num(quota.to_string()),
        num(cgroup_value(node, config, "memory", id, "memory.max")),
    );
    if driver::is_systemd() {
        let unit = driver::scope(id);
        let p = driver::unit_props(&unit, &["CPUWeight", "CPUQuotaPerSecUSec", "MemoryMax"]);
        // CPUQuotaPerSecUSec: the quota per second of time, e.g. "200ms".
        let per_sec = format!("{}ms", got.1 * 1_000_000 / 100_000 / 1000);
        assert_eq!(
            (
                p["CPUWeight"].as_str(),
                p["CPUQuotaPerSecUSec"].as_str(),
                p["MemoryMax"].as_str()
            ),
            (
                got.0.to_string().as_str(),
                per_sec.as_str(),
                got.2.to_string().as_str()
            ),
            "{unit}'s properties against its cgroup {got:?}"
        );
    }
    got
}

/// Pure cgroup v2 (the container's limits are v2's files).
fn v2() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// cpu shares as the cgroup has them: v1 as they are, v2 as a weight.
fn shares(s: u64) -> u64 {
    if v2() {
        1 + (s - 2) * 9999 / 262142
    } else {
        s
    }
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
    node.assert_placed(&config, &c, node.pid(&c, false));
    assert_eq!(limits(&node, &config, &c), (shares(2), 20_000, 64 << 20));

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
    assert_eq!(limits(&node, &config, &c), (shares(512), 50_000, 128 << 20));
    // The device rules containerd sends along are still in force: no
    // container may read the host's disks, even through a node it makes
    // itself (it has CAP_MKNOD). On cgroup v2 the rules are an eBPF
    // program with nothing to read back, so only the open tells.
    if !v2() {
        let list = cgroup_value(&node, &config, "devices", &c, "devices.list");
        assert!(!list.contains("a *:* rwm"), "devices opened up: {list}");
    }
    let disk = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .find_map(|e| std::fs::read_to_string(e.path().join("dev")).ok())
        .expect("a block device");
    let (major, minor) = disk.trim().split_once(':').unwrap();
    let script = format!("mknod /tmp/disk b {major} {minor} && head -c 1 /tmp/disk >/dev/null");
    let r = node.exec_sync(&c, &["sh", "-c", &script], 10);
    assert_ne!(r.exit_code, 0, "block device {disk} could be read: {r:?}");
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("not permitted"),
        "mknod and open of {disk}: {r:?}"
    );
    // The container went on running, still in its cgroup.
    assert_eq!(node.container_status(&c).state, RUNNING);
    node.assert_placed(&config, &c, node.pid(&c, false));
    node.remove_pod(&pod);
    let left = node.settled_leftovers(&config, &[&pod, &c]);
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
    node.assert_placed(&config, &c, node.pid(&c, false));

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
    let left = node.settled_leftovers(&config, &[&pod, &c]);
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
    if driver::is_systemd() {
        // With the systemd driver the reason is a race, for runc's shim
        // as for berth's (runc#5071, cri-o#7035; containerd's own CI skips
        // critest's OOMKilled test there): systemd removes the scope's
        // cgroup once it is empty, which can be before the shim has read
        // the oom_kill count in its memory.events. The kill itself must
        // show: SIGKILL, and the count in the pod's slice, which counts
        // its scopes' kills and stays.
        assert_eq!(st.exit_code, 137, "{st:?}");
        assert!(
            ["OOMKilled", "Error"].contains(&st.reason.as_str()),
            "{st:?}"
        );
        let events = node.cgroup_dir(&config, "memory", "").join("memory.events");
        let text = std::fs::read_to_string(&events).unwrap_or_default();
        let kills = text
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|n| n.trim().parse::<u64>().ok());
        assert!(kills >= Some(1), "{}: {text:?}", events.display());
        if st.reason != "OOMKilled" {
            eprintln!("OOM kill seen in the pod's slice, reason {:?}", st.reason);
        }
    } else {
        assert_eq!(
            (st.exit_code, st.reason.as_str()),
            (137, "OOMKilled"),
            "{st:?}"
        );
    }
    node.remove_pod(&pod);
    let left = node.settled_leftovers(&config, &[&pod, &c]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

#[test]
fn a_killed_shim_leaves_nothing_after_remove_pod_sandbox() {
    let node = Node::start();
    let config = node.pod_config("killed");
    let pod = node.run_pod(&config);
    let c = node.start_container(&pod, &config, container_config("c", &["sleep", "1008"]));
    let pids = [node.pid(&pod, true), node.pid(&c, false)];
    let shim = node.shims();
    assert_eq!(shim.len(), 1, "{shim:?}");
    // SAFETY: signalling the shim process this node started.
    unsafe { libc::kill(shim[0], libc::SIGKILL) };
    // containerd sees the task die with its shim.
    let st = node.wait_exited(&c, Duration::from_secs(30));
    assert_eq!(st.state, EXITED);
    node.remove_pod(&pod);
    let mut left = node.settled_leftovers(&config, &[&pod, &c]);
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
