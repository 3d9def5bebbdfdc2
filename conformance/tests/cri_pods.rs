//! Pods as kubelet makes them, through containerd's CRI plugin (see
//! tests/cri.rs): containers sharing a pod's namespaces, one shim per pod,
//! init and restarted containers, host namespaces, security contexts, a
//! privileged pod, a pod network, a user namespace, an idmapped rootfs.

use std::time::Duration;

use conformance::cri::{
    api, container_config, handler, handler_is_runc, in_pod, ns, security_of, Node, EXITED, RUNNING,
};

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
    let one = node.shims();
    assert_eq!(one.len(), 1, "shims for one pod: {one:?}");
    // A second pod gets a shim of its own.
    let config2 = node.pod_config("other");
    let pod2 = node.run_pod(&config2);
    let two = node.shims();
    assert_eq!(two.len(), 2, "shims for two pods: {two:?}");
    node.remove_pod(&pod2);
    node.remove_pod(&pod);
    let mut left = node.settled_leftovers(&config, &[&pod, &a, &b]);
    left.extend(node.settled_leftovers(&config2, &[&pod2]));
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
        let sc = security_of(&mut cc);
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
    let left = node.settled_leftovers(&config, &[&pod, &a, &b]);
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
    let left = node.settled_leftovers(&config, &[&pod, &init, &app0, &app1]);
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
    let sc = security_of(&mut cc);
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
    let left = node.settled_leftovers(&config, &[&pod, &c]);
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
    let sc = security_of(&mut cc);
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
    let sc = security_of(&mut cc);
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
    let left = node.settled_leftovers(&config, &[&pod, &user, &locked]);
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
    let sc = security_of(&mut cc);
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
    let left = node.settled_leftovers(&config, &[&pod, &c]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

#[test]
fn a_pod_network_of_its_own() {
    let node = Node::start();
    let config = node.pod_config_networked("net");
    let pod = node.run_pod(&config);
    let status = node.pod_status(&pod, false);
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
    let mut left = node.settled_leftovers(&config, &[&pod, &a, &b]);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    left.extend(netns.into_iter().filter(|m| mounts.contains(m.as_str())));
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

/// `hostUsers: false`: the pod's containers join its user namespace by
/// path with a PID namespace of their own (under 2.x the sandbox does
/// too), on a rootfs containerd 2.x idmaps with `uidmap`/`gidmap` overlay
/// options (see `a_rootfs_idmapped_for_a_new_user_namespace`). containerd
/// 1.6 ignores the options.
#[test]
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
    // containerd 2.x sets the I/O owner of a user namespace's task
    // through runc's options and fails a runtime type whose options are
    // generic ("can't unmarshal type runtimeoptions.v1.Options"): berth is
    // then declared as runc's type with its shim as runtime_path (the
    // README's Kubernetes section says so).
    let handler = if !handler_is_runc() && node.version.0 >= 2 {
        "berth-runc".to_string()
    } else {
        handler()
    };
    let req = api::RunPodSandboxRequest {
        config: Some(config.clone()),
        runtime_handler: handler,
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
    // The pod's user namespace, joined by path, with a pid namespace of the
    // container's own, whose /proc it mounted: its pid 1 is the process.
    assert_ne!(ns(pid, "pid"), ns(me, "pid"));
    let r = node.exec_sync(&c, &["cat", "/proc/1/comm"], 10);
    assert_eq!(String::from_utf8_lossy(&r.stdout), "sleep\n", "{r:?}");
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
    let left = node.settled_leftovers(&config, &[&pod, &c]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}

/// containerd 2.x's idmapped rootfs without a pod: `ctr run --uidmap
/// --gidmap --remap-labels` has the overlay snapshotter pass the maps as
/// `uidmap=`/`gidmap=` options of the rootfs mount, which the shim turns
/// into idmapped lower layers, and the container makes a user namespace
/// of its own (a `hostUsers: false` pod's join the pod's by path, see
/// above).
#[test]
fn a_rootfs_idmapped_for_a_new_user_namespace() {
    let node = Node::start();
    if node.version.0 < 2 {
        eprintln!("before 2.0 the overlay snapshotter passes no id maps");
        return;
    }
    let base = 65536 * (2000 + std::process::id() % 1000);
    let map = format!("0:{base}:65536");
    let id = format!("idmapped-{}", std::process::id());
    // The shim by path: ctr 2.x adds runc's options (the I/O owner) to a
    // task with --uidmap, which fails with berth's runtimeoptions config
    // path. berth's shim finds berth on containerd's PATH.
    let shim = conformance::containerd::shim_dir().join("containerd-shim-berth-v2");
    let mut args = vec!["run", "--rm"];
    if !handler_is_runc() {
        args.extend(["--runtime", shim.to_str().unwrap()]);
    }
    args.extend(["--uidmap", &map, "--gidmap", &map, "--remap-labels"]);
    let script = "id -u; stat -c %u:%g / /bin/busybox; touch /x && stat -c %u:%g /x; \
                  cat /proc/self/uid_map";
    args.extend([conformance::cri::BUSYBOX, &id, "sh", "-c", script]);
    let o = conformance::containerd::run_with_timeout(
        &mut node.ctr(&args),
        None,
        &node.dir,
        Duration::from_secs(60),
    )
    .unwrap_or_else(|o| panic!("ctr run timed out: {}", conformance::stderr(&o)));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "ctr run: {out}{}\n{}",
        conformance::stderr(&o),
        node.log_tail(20)
    );
    let lines: Vec<&str> = out.lines().collect();
    // Root inside owns the image's files and what it makes; outside it
    // is the mapped id.
    assert_eq!(lines[..4], ["0", "0:0", "0:0", "0:0"], "{out}");
    let uid_map: Vec<&str> = lines[4].split_whitespace().collect();
    assert_eq!(uid_map, ["0", &base.to_string(), "65536"], "{out}");
    let left: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&id) || l.contains("idmapped-layers"))
        .map(String::from)
        .collect();
    assert!(left.is_empty(), "mounts left: {left:#?}");
}

/// Mounts a tmpfs at `target` (made shared with `shared`), for the volume
/// test; the node's Drop unmounts everything below its directory.
fn mount_tmpfs(target: &std::path::Path, shared: bool) {
    std::fs::create_dir_all(target).unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(target)
        .status()
        .unwrap();
    assert!(status.success(), "mount tmpfs on {}", target.display());
    if shared {
        let status = std::process::Command::new("mount")
            .arg("--make-shared")
            .arg(target)
            .status()
            .unwrap();
        assert!(status.success(), "mount --make-shared {}", target.display());
    }
}

#[test]
fn volumes_devices_and_a_localhost_seccomp_profile() {
    let node = Node::start();
    let config = node.pod_config("volumes");
    let pod = node.run_pod(&config);
    let data = node.dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("from-host"), "hello").unwrap();
    // HostToContainer needs a shared (or slave) mount at the source.
    let live = node.dir.join("live");
    mount_tmpfs(&live, true);
    let profile = node.dir.join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();

    let mut cc = container_config("c", &["sleep", "1011"]);
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
    cc.mounts = vec![
        api::Mount {
            container_path: "/data".into(),
            host_path: path(&data),
            ..Default::default()
        },
        api::Mount {
            container_path: "/data-ro".into(),
            host_path: path(&data),
            readonly: true,
            ..Default::default()
        },
        api::Mount {
            container_path: "/live".into(),
            host_path: path(&live),
            propagation: api::MountPropagation::PropagationHostToContainer as i32,
            ..Default::default()
        },
    ];
    cc.devices = vec![api::Device {
        container_path: "/dev/berth-null".into(),
        host_path: "/dev/null".into(),
        permissions: "rw".into(),
    }];
    let sc = security_of(&mut cc);
    sc.seccomp = Some(api::SecurityProfile {
        profile_type: api::security_profile::ProfileType::Localhost as i32,
        localhost_ref: path(&profile),
    });
    let c = node.start_container(&pod, &config, cc);
    let run = |cmd: &str| node.exec_sync(&c, &["sh", "-c", cmd], 10);
    let text = |r: &api::ExecSyncResponse| String::from_utf8_lossy(&r.stdout).trim().to_string();

    assert_eq!(text(&run("cat /data/from-host")), "hello");
    assert_eq!(run("echo inside > /data/from-container").exit_code, 0);
    assert_eq!(
        std::fs::read_to_string(data.join("from-container")).unwrap(),
        "inside\n"
    );
    assert_ne!(
        run("touch /data-ro/nope").exit_code,
        0,
        "wrote to a read-only volume"
    );
    // A mount made on the host after the start reaches the container.
    mount_tmpfs(&live.join("later"), false);
    std::fs::write(live.join("later/new"), "propagated").unwrap();
    assert_eq!(text(&run("cat /live/later/new")), "propagated");
    // The device: a character device 1,3 the container may write.
    let r = run("echo x > /dev/berth-null && stat -c '%F %t,%T' /dev/berth-null");
    assert_eq!(text(&r), "character special file 1,3", "{r:?}");
    // The profile: mkdir refused, the rest allowed.
    let r = run("mkdir /tmp/d");
    assert_ne!(r.exit_code, 0, "mkdir under a profile that forbids it");
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("not permitted"),
        "{r:?}"
    );
    assert_eq!(run("touch /tmp/f").exit_code, 0);
    node.remove_pod(&pod);
    let left = node.settled_leftovers(&config, &[&pod, &c]);
    assert!(left.is_empty(), "left after RemovePodSandbox: {left:#?}");
}
