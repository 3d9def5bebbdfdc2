//! The CRI pod start and the shims' memory, handler `berth` beside handler
//! `runc`, on one private containerd (conformance::cri::Node): what
//! `hack/bench-cri` runs and prints (issue 24).
//!
//!   bench_cri [--runs N] [--pods K]
//!
//! 1. A pod start as kubelet makes it: RunPodSandbox, CreateContainer and
//!    StartContainer of one container (busybox `sleep`), timed from the
//!    first request to the last answer, handlers taken in turn (runc,
//!    berth, runc, …) after one uncounted round; each pod is stopped and
//!    removed untimed before the next.
//! 2. K pods at once per handler (one after the other, each with one
//!    sleeping container), then the sum over that handler's shims of Rss,
//!    Pss and USS (Private_Clean + Private_Dirty) from smaps_rollup, and
//!    their threads; then the pods are removed.
//!
//! The handlers' runtimes are the Node's: `runc` the system's runc with
//! containerd's Go shim, `berth` BERTH_RUNTIME with the shim in
//! BERTH_SHIM_DIR. Plain text on stdout.

use std::time::{Duration, Instant};

use conformance::cri::{api, container_config, in_pod, Node};

const HANDLERS: [&str; 2] = ["runc", "berth"];

fn main() {
    let mut runs = 20usize;
    let mut pods = 100usize;
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let n = pair
            .get(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| usage());
        match pair[0].as_str() {
            "--runs" => runs = n,
            "--pods" => pods = n,
            _ => usage(),
        }
    }
    if runs == 0 || pods == 0 {
        usage();
    }
    let node = Node::start();
    println!(
        "# containerd {}.{} ({}), berth {}, shim dir {}",
        node.version.0,
        node.version.1,
        node.bin.display(),
        conformance::runtime().display(),
        conformance::containerd::shim_dir().display()
    );

    // 1. The pod start, interleaved.
    let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for round in 0..=runs {
        for (h, handler) in HANDLERS.iter().enumerate() {
            let (pod, took) = start_pod(&node, handler, &format!("start-{round}-{h}"));
            node.remove_pod(&pod);
            if round > 0 {
                times[h].push(took);
            }
        }
    }
    println!();
    println!(
        "(1) pod start: RunPodSandbox + CreateContainer + StartContainer, {runs} runs each, ms"
    );
    println!(
        "{:<12} {:>8} {:>8} {:>8}",
        "handler", "median", "min", "max"
    );
    let mut medians = [0f64; 2];
    for (h, handler) in HANDLERS.iter().enumerate() {
        let mut v: Vec<f64> = times[h].iter().map(|d| d.as_secs_f64() * 1e3).collect();
        v.sort_by(f64::total_cmp);
        medians[h] = v[v.len() / 2];
        println!(
            "{:<12} {:>8.1} {:>8.1} {:>8.1}",
            handler,
            medians[h],
            v[0],
            v[v.len() - 1]
        );
    }
    println!("berth/runc   {:>8.2}", medians[1] / medians[0]);

    // 2. K pods at once, per handler.
    println!();
    println!("(2) {pods} pods at once, one sleeping container each: the shims, summed");
    println!(
        "{:<12} {:>6} {:>10} {:>10} {:>10} {:>8} {:>10}",
        "handler", "shims", "Rss MiB", "Pss MiB", "USS MiB", "threads", "start s"
    );
    let mut uss = [0f64; 2];
    let mut rss = [0f64; 2];
    for (h, handler) in HANDLERS.iter().enumerate() {
        let before = node.shims();
        let t = Instant::now();
        let ids: Vec<String> = (0..pods)
            .map(|i| start_pod(&node, handler, &format!("many-{h}-{i}")).0)
            .collect();
        let took = t.elapsed();
        let shims: Vec<i32> = node
            .shims()
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        let (mut r, mut p, mut u, mut th) = (0u64, 0u64, 0u64, 0u64);
        for pid in &shims {
            let m = memory(*pid);
            r += m.0;
            p += m.1;
            u += m.2;
            th += threads(*pid);
        }
        let mib = |k: u64| k as f64 / 1024.0;
        rss[h] = mib(r);
        uss[h] = mib(u);
        println!(
            "{:<12} {:>6} {:>10.1} {:>10.1} {:>10.1} {:>8} {:>10.1}",
            handler,
            shims.len(),
            mib(r),
            mib(p),
            mib(u),
            th,
            took.as_secs_f64()
        );
        for pod in ids {
            node.remove_pod(&pod);
        }
    }
    println!(
        "berth/runc   Rss {:.2}, USS {:.2}",
        rss[1] / rss[0],
        uss[1] / uss[0]
    );
}

fn usage() -> ! {
    eprintln!("usage: bench_cri [--runs N] [--pods K]");
    std::process::exit(2)
}

/// Starts a pod of `handler` with one sleeping container, as kubelet does;
/// returns the pod's id and the time from RunPodSandbox's request to
/// StartContainer's answer.
fn start_pod(node: &Node, handler: &str, name: &str) -> (String, Duration) {
    let pod_config = node.pod_config(name);
    let container = in_pod(container_config("c", &["sleep", "1000"]), &pod_config);
    let t = Instant::now();
    let req = api::RunPodSandboxRequest {
        config: Some(pod_config.clone()),
        runtime_handler: handler.into(),
    };
    let r = node
        .cri
        .rt(|mut s| async move { s.run_pod_sandbox(req).await });
    let pod = node.ok(r, "RunPodSandbox").pod_sandbox_id;
    let id = node.create_container(&pod, &pod_config, container);
    let r = node.cri.rt(|mut s| async move {
        s.start_container(api::StartContainerRequest { container_id: id })
            .await
    });
    node.ok(r, "StartContainer");
    (pod, t.elapsed())
}

/// Rss, Pss and USS of `pid` in KiB (smaps_rollup).
fn memory(pid: i32) -> (u64, u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (
        field("Rss:"),
        field("Pss:"),
        field("Private_Clean:") + field("Private_Dirty:"),
    )
}

fn threads(pid: i32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count() as u64)
}
