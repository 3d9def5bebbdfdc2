//! Statistics of the container's cgroups, in runc's `events --stats` JSON
//! shape (cpu, memory, pids, blkio, hugetlb), from v1 or v2 files.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::{Cgroups, Dir};

fn read(d: &Dir, file: &str) -> Option<String> {
    std::fs::read_to_string(d.file(file)).ok()
}

fn num(text: Option<String>) -> u64 {
    text.and_then(|t| {
        let t = t.trim();
        if t == "max" {
            Some(u64::MAX)
        } else {
            t.parse().ok()
        }
    })
    .unwrap_or(0)
}

/// "key value" lines (memory.stat, cpu.stat, memory.events).
fn keyed(text: Option<String>) -> BTreeMap<String, u64> {
    text.unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn dir<'a>(c: &'a Cgroups, controller: &str) -> Option<&'a Dir> {
    c.dirs
        .iter()
        .find(|d| d.has(controller))
        .or_else(|| {
            c.dirs
                .iter()
                .find(|d| d.v2 && d.file(&format!("{controller}.stat")).exists())
        })
        .or_else(|| {
            c.dirs
                .iter()
                .find(|d| d.v2 && controller == "pids" && d.file("pids.current").exists())
        })
}

pub fn collect(c: &Cgroups) -> Value {
    let mut data = Map::new();
    data.insert("cpu".into(), cpu(c));
    data.insert("memory".into(), memory(c));
    if let Some(d) = dir(c, "pids") {
        data.insert(
            "pids".into(),
            json!({"current": num(read(d, "pids.current")), "limit": num(read(d, "pids.max"))}),
        );
    }
    data.insert("blkio".into(), blkio(c));
    data.insert("hugetlb".into(), hugetlb(c));
    Value::Object(data)
}

fn cpu(c: &Cgroups) -> Value {
    if let Some(d) = c.dirs.iter().find(|d| d.has("cpuacct")) {
        // cpuacct.stat counts clock ticks.
        let tick = 1_000_000_000 / ticks_per_second();
        let stat = keyed(read(d, "cpuacct.stat"));
        let percpu: Vec<u64> = read(d, "cpuacct.usage_percpu")
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let throttle = c
            .dirs
            .iter()
            .find(|d| d.has("cpu"))
            .map(|d| keyed(read(d, "cpu.stat")))
            .unwrap_or_default();
        return json!({
            "usage": {
                "total": num(read(d, "cpuacct.usage")),
                "percpu": percpu,
                "kernel": stat.get("system").copied().unwrap_or(0) * tick,
                "user": stat.get("user").copied().unwrap_or(0) * tick,
            },
            "throttling": {
                "periods": throttle.get("nr_periods").copied().unwrap_or(0),
                "throttledPeriods": throttle.get("nr_throttled").copied().unwrap_or(0),
                "throttledTime": throttle.get("throttled_time").copied().unwrap_or(0),
            }
        });
    }
    let Some(d) = c.dirs.iter().find(|d| d.v2) else {
        return json!({});
    };
    let s = keyed(read(d, "cpu.stat"));
    let us = |k: &str| s.get(k).copied().unwrap_or(0) * 1000;
    json!({
        "usage": {"total": us("usage_usec"), "kernel": us("system_usec"), "user": us("user_usec")},
        "throttling": {
            "periods": s.get("nr_periods").copied().unwrap_or(0),
            "throttledPeriods": s.get("nr_throttled").copied().unwrap_or(0),
            "throttledTime": us("throttled_usec"),
        }
    })
}

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf reads a constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

fn memory(c: &Cgroups) -> Value {
    if let Some(d) = c.dirs.iter().find(|d| d.has("memory")) {
        let entry = |prefix: &str| {
            json!({
                "usage": num(read(d, &format!("{prefix}.usage_in_bytes"))),
                "max": num(read(d, &format!("{prefix}.max_usage_in_bytes"))),
                "failcnt": num(read(d, &format!("{prefix}.failcnt"))),
                "limit": num(read(d, &format!("{prefix}.limit_in_bytes"))),
            })
        };
        return json!({
            "usage": entry("memory"),
            "swap": entry("memory.memsw"),
            "kernel": entry("memory.kmem"),
            "raw": keyed(read(d, "memory.stat")),
        });
    }
    let Some(d) = c
        .dirs
        .iter()
        .find(|d| d.v2 && d.file("memory.current").exists())
    else {
        return json!({});
    };
    let events = keyed(read(d, "memory.events"));
    json!({
        "usage": {
            "usage": num(read(d, "memory.current")),
            "max": num(read(d, "memory.peak")),
            "limit": num(read(d, "memory.max")),
            "failcnt": events.get("max").copied().unwrap_or(0),
        },
        "swap": {
            "usage": num(read(d, "memory.swap.current")),
            "limit": num(read(d, "memory.swap.max")),
        },
        "raw": keyed(read(d, "memory.stat")),
    })
}

fn blkio(c: &Cgroups) -> Value {
    let entries = |text: Option<String>| -> Vec<Value> {
        text.unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let (dev, op, value) = (f.next()?, f.next()?, f.next()?);
                let (maj, min) = dev.split_once(':')?;
                Some(
                    json!({"major": maj.parse::<u64>().ok()?, "minor": min.parse::<u64>().ok()?,
                            "op": op, "value": value.parse::<u64>().ok()?}),
                )
            })
            .collect()
    };
    if let Some(d) = c.dirs.iter().find(|d| d.has("blkio")) {
        return json!({
            "ioServiceBytesRecursive": entries(read(d, "blkio.throttle.io_service_bytes_recursive")),
            "ioServicedRecursive": entries(read(d, "blkio.throttle.io_serviced_recursive")),
        });
    }
    let Some(d) = c.dirs.iter().find(|d| d.v2 && d.file("io.stat").exists()) else {
        return json!({});
    };
    // io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...", as runc maps it.
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for l in read(d, "io.stat").unwrap_or_default().lines() {
        let mut f = l.split_whitespace();
        let Some((maj, min)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (maj, min) = (
            maj.parse::<u64>().unwrap_or(0),
            min.parse::<u64>().unwrap_or(0),
        );
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let v: u64 = v.parse().unwrap_or(0);
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                _ => continue,
            };
            list.push(json!({"major": maj, "minor": min, "op": op, "value": v}));
        }
    }
    json!({"ioServiceBytesRecursive": bytes, "ioServicedRecursive": ios})
}

fn hugetlb(c: &Cgroups) -> Value {
    let mut out = Map::new();
    let Some(d) = c
        .dirs
        .iter()
        .find(|d| d.has("hugetlb"))
        .or_else(|| c.dirs.iter().find(|d| d.v2))
    else {
        return Value::Object(out);
    };
    let v2 = d.v2;
    let Ok(entries) = std::fs::read_dir(&d.path) else {
        return Value::Object(out);
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let size = match (v2, name.strip_prefix("hugetlb.")) {
            (false, Some(rest)) => rest.strip_suffix(".usage_in_bytes"),
            (true, Some(rest)) => rest.strip_suffix(".current"),
            _ => None,
        };
        let Some(size) = size.filter(|s| !s.contains('.') || s.ends_with("B")) else {
            continue;
        };
        let file = |suffix: &str| read(d, &format!("hugetlb.{size}.{suffix}"));
        let stats = if v2 {
            json!({"usage": num(file("current")), "max": num(file("max")),
                   "failcnt": keyed(file("events")).get("max").copied().unwrap_or(0)})
        } else {
            json!({"usage": num(file("usage_in_bytes")), "max": num(file("max_usage_in_bytes")),
                   "failcnt": num(file("failcnt"))})
        };
        out.insert(size.to_string(), stats);
    }
    Value::Object(out)
}

/// How many times the container's memory cgroup has run out of memory: v1
/// memory.oom_control's oom_kill, v2 memory.events's oom_kill.
pub fn oom_kills(c: &Cgroups) -> u64 {
    if let Some(d) = c.dirs.iter().find(|d| d.has("memory")) {
        return keyed(read(d, "memory.oom_control"))
            .get("oom_kill")
            .copied()
            .unwrap_or(0);
    }
    c.dirs
        .iter()
        .find(|d| d.v2)
        .map(|d| {
            keyed(read(d, "memory.events"))
                .get("oom_kill")
                .copied()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// The file whose changes announce an OOM (for inotify on v2).
pub fn oom_file(c: &Cgroups) -> Option<std::path::PathBuf> {
    c.dirs
        .iter()
        .find(|d| d.has("memory"))
        .map(|d| d.file("memory.oom_control"))
        .or_else(|| {
            c.dirs
                .iter()
                .find(|d| d.v2)
                .map(|d| d.file("memory.events"))
        })
        .filter(|p| Path::new(p).exists())
}
