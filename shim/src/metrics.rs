//! Container statistics for the shim's Stats RPC.
//!
//! The shim runs `<runtime> events --stats ID`, which prints runc's stats
//! JSON (`{"type":"stats","id":...,"data":{cpu, memory, pids, blkio,
//! hugetlb}}`). [`to_any`] turns it into the message containerd expects in
//! `StatsResponse.stats`: containerd's cgroups v1 `Metrics` on a v1 (or
//! hybrid) host, its cgroups v2 `Metrics` on a unified host, packed in an
//! `Any` whose type URL is the bare message name (`io.containerd.cgroups.v1.Metrics`),
//! as containerd's own shims produce and `typeurl` decodes.
//!
//! Missing or malformed JSON fields read as zero (or leave the message
//! field absent); nothing here panics on odd input.

use containerd_shim::protos::cgroups::metrics as v1;
use containerd_shim::protos::cgroups_v2::metrics as v2;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};
use serde_json::Value;

/// Type URL of containerd's cgroups v1 metrics (no `type.googleapis.com/`
/// prefix: containerd registers and emits the bare name).
pub const V1_TYPE_URL: &str = "io.containerd.cgroups.v1.Metrics";
/// Type URL of containerd's cgroups v2 metrics.
pub const V2_TYPE_URL: &str = "io.containerd.cgroups.v2.Metrics";

/// Which metrics message containerd expects from this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    V1,
    V2,
}

/// V2 when /sys/fs/cgroup is a cgroup2 file system (unified host), V1
/// otherwise, hybrid hosts included: the same test containerd makes.
pub fn host_mode() -> Mode {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
    match statfs("/sys/fs/cgroup") {
        Ok(fs) if fs.filesystem_type() == CGROUP2_SUPER_MAGIC => Mode::V2,
        _ => Mode::V1,
    }
}

/// Converts runc-style stats JSON (the whole `events --stats` object, or just
/// its `data`) into containerd's metrics message for `mode`, packed in an Any.
pub fn to_any(stats: &Value, mode: Mode) -> Result<Any, String> {
    if !stats.is_object() {
        return Err(format!("stats are not a JSON object: {stats}"));
    }
    let data = match stats.get("data") {
        Some(d) if d.is_object() => d,
        Some(Value::Null) | None => stats,
        Some(d) => return Err(format!("stats data is not a JSON object: {d}")),
    };
    let (type_url, value) = match mode {
        Mode::V1 => (V1_TYPE_URL, v1_metrics(data).write_to_bytes()),
        Mode::V2 => (V2_TYPE_URL, v2_metrics(data).write_to_bytes()),
    };
    Ok(Any {
        type_url: type_url.to_string(),
        value: value.map_err(|e| format!("encoding metrics: {e}"))?,
        ..Default::default()
    })
}

static NULL: Value = Value::Null;

/// `v[key]`, or null.
fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&NULL)
}

/// The first of `keys` present in `v` (runc spells some fields in camel
/// case, other producers in snake case).
fn get_any<'a>(v: &'a Value, keys: &[&str]) -> &'a Value {
    keys.iter()
        .map(|k| get(v, k))
        .find(|x| !x.is_null())
        .unwrap_or(&NULL)
}

/// A non-negative integer, or 0.
fn num(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| {
            v.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        })
        .unwrap_or(0)
}

fn n(v: &Value, key: &str) -> u64 {
    num(get(v, key))
}

/// A section worth reporting: an object with something in it.
fn present(v: &Value) -> bool {
    v.as_object().is_some_and(|m| !m.is_empty())
}

fn nums(v: &Value) -> Vec<u64> {
    v.as_array()
        .map(|a| a.iter().map(num).collect())
        .unwrap_or_default()
}

/// runc's blkio entries: `[{major, minor, op, value}]`.
fn blkio_entries(v: &Value) -> impl Iterator<Item = (u64, u64, &str, u64)> {
    v.as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                n(e, "major"),
                n(e, "minor"),
                get(e, "op").as_str().unwrap_or(""),
                n(e, "value"),
            )
        })
}

/// runc's hugetlb map, `{"2MB": {usage, max, failcnt}}`, sorted by size name.
fn hugetlb_entries(v: &Value) -> Vec<(&str, &Value)> {
    let mut out: Vec<(&str, &Value)> = v
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default();
    out.sort_by(|a, b| a.0.cmp(b.0));
    out
}

fn throttled_periods(t: &Value) -> u64 {
    num(get_any(t, &["throttledPeriods", "throttled_periods"]))
}

fn throttled_time(t: &Value) -> u64 {
    num(get_any(t, &["throttledTime", "throttled_time"]))
}

fn v1_metrics(data: &Value) -> v1::Metrics {
    let mut m = v1::Metrics::new();

    let cpu = get(data, "cpu");
    if present(cpu) {
        let usage = get(cpu, "usage");
        let thr = get(cpu, "throttling");
        m.cpu = MessageField::some(v1::CPUStat {
            usage: MessageField::some(v1::CPUUsage {
                total: n(usage, "total"),
                kernel: n(usage, "kernel"),
                user: n(usage, "user"),
                per_cpu: nums(get(usage, "percpu")),
                ..Default::default()
            }),
            throttling: MessageField::some(v1::Throttle {
                periods: n(thr, "periods"),
                throttled_periods: throttled_periods(thr),
                throttled_time: throttled_time(thr),
                ..Default::default()
            }),
            ..Default::default()
        });
    }

    let mem = get(data, "memory");
    if present(mem) {
        let raw = get(mem, "raw");
        let r = |k: &str| n(raw, k);
        let entry = |v: &Value| {
            if v.is_object() {
                MessageField::some(v1::MemoryEntry {
                    limit: n(v, "limit"),
                    usage: n(v, "usage"),
                    max: n(v, "max"),
                    failcnt: n(v, "failcnt"),
                    ..Default::default()
                })
            } else {
                MessageField::none()
            }
        };
        let cache = match get(mem, "cache") {
            Value::Null => r("cache"),
            c => num(c),
        };
        m.memory = MessageField::some(v1::MemoryStat {
            cache,
            rss: r("rss"),
            rss_huge: r("rss_huge"),
            mapped_file: r("mapped_file"),
            dirty: r("dirty"),
            writeback: r("writeback"),
            pg_pg_in: r("pgpgin"),
            pg_pg_out: r("pgpgout"),
            pg_fault: r("pgfault"),
            pg_maj_fault: r("pgmajfault"),
            inactive_anon: r("inactive_anon"),
            active_anon: r("active_anon"),
            inactive_file: r("inactive_file"),
            active_file: r("active_file"),
            unevictable: r("unevictable"),
            hierarchical_memory_limit: r("hierarchical_memory_limit"),
            hierarchical_swap_limit: r("hierarchical_memsw_limit"),
            total_cache: r("total_cache"),
            total_rss: r("total_rss"),
            total_rss_huge: r("total_rss_huge"),
            total_mapped_file: r("total_mapped_file"),
            total_dirty: r("total_dirty"),
            total_writeback: r("total_writeback"),
            total_pg_pg_in: r("total_pgpgin"),
            total_pg_pg_out: r("total_pgpgout"),
            total_pg_fault: r("total_pgfault"),
            total_pg_maj_fault: r("total_pgmajfault"),
            total_inactive_anon: r("total_inactive_anon"),
            total_active_anon: r("total_active_anon"),
            total_inactive_file: r("total_inactive_file"),
            total_active_file: r("total_active_file"),
            total_unevictable: r("total_unevictable"),
            usage: entry(get(mem, "usage")),
            swap: entry(get(mem, "swap")),
            kernel: entry(get(mem, "kernel")),
            kernel_tcp: entry(get_any(mem, &["kernelTCP", "kernel_tcp"])),
            ..Default::default()
        });
    }

    let pids = get(data, "pids");
    if present(pids) {
        // containerd's v1 library reports an unlimited pids.max as 0.
        let limit = match n(pids, "limit") {
            u64::MAX => 0,
            l => l,
        };
        m.pids = MessageField::some(v1::PidsStat {
            current: n(pids, "current"),
            limit,
            ..Default::default()
        });
    }

    let blkio = get(data, "blkio");
    if present(blkio) {
        let list = |keys: &[&str]| -> Vec<v1::BlkIOEntry> {
            blkio_entries(get_any(blkio, keys))
                .map(|(major, minor, op, value)| v1::BlkIOEntry {
                    op: op.to_string(),
                    major,
                    minor,
                    value,
                    ..Default::default()
                })
                .collect()
        };
        m.blkio = MessageField::some(v1::BlkIOStat {
            io_service_bytes_recursive: list(&["ioServiceBytesRecursive"]),
            io_serviced_recursive: list(&["ioServicedRecursive"]),
            io_queued_recursive: list(&["ioQueueRecursive", "ioQueuedRecursive"]),
            io_service_time_recursive: list(&["ioServiceTimeRecursive"]),
            io_wait_time_recursive: list(&["ioWaitTimeRecursive"]),
            io_merged_recursive: list(&["ioMergedRecursive"]),
            io_time_recursive: list(&["ioTimeRecursive"]),
            sectors_recursive: list(&["sectorsRecursive"]),
            ..Default::default()
        });
    }

    m.hugetlb = hugetlb_entries(get(data, "hugetlb"))
        .into_iter()
        .map(|(size, h)| v1::HugetlbStat {
            usage: n(h, "usage"),
            max: n(h, "max"),
            failcnt: n(h, "failcnt"),
            pagesize: size.to_string(),
            ..Default::default()
        })
        .collect();
    m
}

fn v2_metrics(data: &Value) -> v2::Metrics {
    let mut m = v2::Metrics::new();

    let pids = get(data, "pids");
    if present(pids) {
        m.pids = MessageField::some(v2::PidsStat {
            current: n(pids, "current"),
            limit: n(pids, "limit"),
            ..Default::default()
        });
    }

    let cpu = get(data, "cpu");
    if present(cpu) {
        // runc reports nanoseconds; cpu.stat (and containerd) microseconds.
        let usage = get(cpu, "usage");
        let thr = get(cpu, "throttling");
        m.cpu = MessageField::some(v2::CPUStat {
            usage_usec: n(usage, "total") / 1000,
            user_usec: n(usage, "user") / 1000,
            system_usec: n(usage, "kernel") / 1000,
            nr_periods: n(thr, "periods"),
            nr_throttled: throttled_periods(thr),
            throttled_usec: throttled_time(thr) / 1000,
            ..Default::default()
        });
    }

    let mem = get(data, "memory");
    if present(mem) {
        let raw = get(mem, "raw");
        let r = |k: &str| n(raw, k);
        let usage = get(mem, "usage");
        let swap = get(mem, "swap");
        m.memory = MessageField::some(v2::MemoryStat {
            anon: r("anon"),
            file: r("file"),
            kernel_stack: r("kernel_stack"),
            slab: r("slab"),
            sock: r("sock"),
            shmem: r("shmem"),
            file_mapped: r("file_mapped"),
            file_dirty: r("file_dirty"),
            file_writeback: r("file_writeback"),
            anon_thp: r("anon_thp"),
            inactive_anon: r("inactive_anon"),
            active_anon: r("active_anon"),
            inactive_file: r("inactive_file"),
            active_file: r("active_file"),
            unevictable: r("unevictable"),
            slab_reclaimable: r("slab_reclaimable"),
            slab_unreclaimable: r("slab_unreclaimable"),
            pgfault: r("pgfault"),
            pgmajfault: r("pgmajfault"),
            workingset_refault: r("workingset_refault"),
            workingset_activate: r("workingset_activate"),
            workingset_nodereclaim: r("workingset_nodereclaim"),
            pgrefill: r("pgrefill"),
            pgscan: r("pgscan"),
            pgsteal: r("pgsteal"),
            pgactivate: r("pgactivate"),
            pgdeactivate: r("pgdeactivate"),
            pglazyfree: r("pglazyfree"),
            pglazyfreed: r("pglazyfreed"),
            thp_fault_alloc: r("thp_fault_alloc"),
            thp_collapse_alloc: r("thp_collapse_alloc"),
            usage: n(usage, "usage"),
            usage_limit: n(usage, "limit"),
            max_usage: n(usage, "max"),
            swap_usage: n(swap, "usage"),
            swap_limit: n(swap, "limit"),
            swap_max_usage: n(swap, "max"),
            ..Default::default()
        });
    }

    // Not in runc's JSON (nor berth's today); taken when a producer adds it.
    let events = get(data, "memory_events");
    if present(events) {
        m.memory_events = MessageField::some(v2::MemoryEvents {
            low: n(events, "low"),
            high: n(events, "high"),
            max: n(events, "max"),
            oom: n(events, "oom"),
            oom_kill: n(events, "oom_kill"),
            oom_group_kill: n(events, "oom_group_kill"),
            ..Default::default()
        });
    }

    // runc maps io.stat's rbytes/wbytes and rios/wios to Read/Write entries
    // of ioServiceBytesRecursive and ioServicedRecursive: fold them back into
    // one entry per device, in the order devices first appear.
    let blkio = get(data, "blkio");
    if present(blkio) {
        let mut usage: Vec<v2::IOEntry> = Vec::new();
        let mut add = |key: &str, bytes: bool| {
            for (major, minor, op, value) in blkio_entries(get(blkio, key)) {
                let idx = match usage
                    .iter()
                    .position(|e| e.major == major && e.minor == minor)
                {
                    Some(i) => i,
                    None => {
                        usage.push(v2::IOEntry {
                            major,
                            minor,
                            ..Default::default()
                        });
                        usage.len() - 1
                    }
                };
                let e = &mut usage[idx];
                match (bytes, op.to_ascii_lowercase().as_str()) {
                    (true, "read") => e.rbytes = value,
                    (true, "write") => e.wbytes = value,
                    (false, "read") => e.rios = value,
                    (false, "write") => e.wios = value,
                    _ => {}
                }
            }
        };
        add("ioServiceBytesRecursive", true);
        add("ioServicedRecursive", false);
        m.io = MessageField::some(v2::IOStat {
            usage,
            ..Default::default()
        });
    }

    m.hugetlb = hugetlb_entries(get(data, "hugetlb"))
        .into_iter()
        .map(|(size, h)| v2::HugeTlbStat {
            current: n(h, "usage"),
            max: n(h, "max"),
            pagesize: size.to_string(),
            failcnt: n(h, "failcnt"),
            ..Default::default()
        })
        .collect();
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim::protos::protobuf::MessageFull;
    use serde_json::json;

    /// What berth prints on a cgroup v1 host (memory.stat keys under raw).
    fn v1_fixture() -> Value {
        serde_json::from_str(
            r#"{"type":"stats","id":"c1","data":{
            "cpu":{"usage":{"total":123456789,"percpu":[100000000,23456789],
                            "kernel":20000000,"user":90000000},
                   "throttling":{"periods":10,"throttledPeriods":3,"throttledTime":4567}},
            "memory":{
                "usage":{"usage":8388608,"max":9000000,"failcnt":7,"limit":16777216},
                "swap":{"usage":8400000,"max":9100000,"failcnt":1,"limit":33554432},
                "kernel":{"usage":4096,"max":8192,"failcnt":0,"limit":18446744073709551615},
                "raw":{"cache":1000,"rss":2000,"rss_huge":3000,"shmem":1,"mapped_file":4000,
                    "dirty":5,"writeback":6,"pgpgin":7,"pgpgout":8,"pgfault":9,"pgmajfault":10,
                    "inactive_anon":11,"active_anon":12,"inactive_file":13,"active_file":14,
                    "unevictable":15,"hierarchical_memory_limit":16777216,
                    "hierarchical_memsw_limit":33554432,
                    "total_cache":101,"total_rss":102,"total_rss_huge":103,"total_shmem":1,
                    "total_mapped_file":104,"total_dirty":105,"total_writeback":106,
                    "total_pgpgin":107,"total_pgpgout":108,"total_pgfault":109,
                    "total_pgmajfault":110,"total_inactive_anon":111,"total_active_anon":112,
                    "total_inactive_file":113,"total_active_file":114,"total_unevictable":115}},
            "pids":{"current":3,"limit":18446744073709551615},
            "blkio":{
                "ioServiceBytesRecursive":[
                    {"major":8,"minor":0,"op":"Read","value":4096},
                    {"major":8,"minor":0,"op":"Write","value":8192},
                    {"major":8,"minor":0,"op":"Total","value":12288}],
                "ioServicedRecursive":[
                    {"major":8,"minor":0,"op":"Read","value":1},
                    {"major":8,"minor":0,"op":"Write","value":2}]},
            "hugetlb":{"2MB":{"usage":2097152,"max":4194304,"failcnt":1},
                       "1GB":{"usage":0,"max":0,"failcnt":0}}}}"#,
        )
        .unwrap()
    }

    /// What berth prints on a cgroup v2 host.
    fn v2_fixture() -> Value {
        serde_json::from_str(
            r#"{"type":"stats","id":"c2","data":{
            "cpu":{"usage":{"total":5000000,"kernel":1000000,"user":4000000},
                   "throttling":{"periods":20,"throttledPeriods":2,"throttledTime":300000}},
            "memory":{
                "usage":{"usage":1048576,"max":2097152,"limit":18446744073709551615,"failcnt":0},
                "swap":{"usage":0,"limit":18446744073709551615},
                "raw":{"anon":1,"file":2,"kernel":99,"kernel_stack":3,"pagetables":98,"slab":4,
                    "sock":5,"shmem":6,"file_mapped":7,"file_dirty":8,"file_writeback":9,
                    "anon_thp":10,"inactive_anon":11,"active_anon":12,"inactive_file":13,
                    "active_file":14,"unevictable":15,"slab_reclaimable":16,
                    "slab_unreclaimable":17,"pgfault":18,"pgmajfault":19,
                    "workingset_refault":20,"workingset_activate":21,
                    "workingset_nodereclaim":22,"pgrefill":23,"pgscan":24,"pgsteal":25,
                    "pgactivate":26,"pgdeactivate":27,"pglazyfree":28,"pglazyfreed":29,
                    "thp_fault_alloc":30,"thp_collapse_alloc":31}},
            "pids":{"current":2,"limit":100},
            "blkio":{
                "ioServiceBytesRecursive":[
                    {"major":8,"minor":0,"op":"Read","value":4096},
                    {"major":8,"minor":0,"op":"Write","value":8192},
                    {"major":253,"minor":1,"op":"Read","value":512},
                    {"major":253,"minor":1,"op":"Write","value":0}],
                "ioServicedRecursive":[
                    {"major":8,"minor":0,"op":"Read","value":1},
                    {"major":8,"minor":0,"op":"Write","value":2},
                    {"major":253,"minor":1,"op":"Read","value":3},
                    {"major":253,"minor":1,"op":"Write","value":0}]},
            "hugetlb":{"2MB":{"usage":0,"max":0,"failcnt":4}}}}"#,
        )
        .unwrap()
    }

    #[test]
    fn type_urls_are_the_message_names() {
        assert_eq!(v1::Metrics::descriptor().full_name(), V1_TYPE_URL);
        assert_eq!(v2::Metrics::descriptor().full_name(), V2_TYPE_URL);
    }

    #[test]
    fn v1_fields() {
        let any = to_any(&v1_fixture(), Mode::V1).unwrap();
        assert_eq!(any.type_url, "io.containerd.cgroups.v1.Metrics");
        let m = v1::Metrics::parse_from_bytes(&any.value).unwrap();
        assert_eq!(m, v1_metrics(get(&v1_fixture(), "data")));

        let cpu = m.cpu.as_ref().unwrap();
        let u = cpu.usage.as_ref().unwrap();
        assert_eq!(
            (u.total, u.kernel, u.user),
            (123_456_789, 20_000_000, 90_000_000)
        );
        assert_eq!(u.per_cpu, vec![100_000_000, 23_456_789]);
        let t = cpu.throttling.as_ref().unwrap();
        assert_eq!(
            (t.periods, t.throttled_periods, t.throttled_time),
            (10, 3, 4567)
        );

        let mem = m.memory.as_ref().unwrap();
        assert_eq!(
            (mem.cache, mem.rss, mem.rss_huge, mem.mapped_file),
            (1000, 2000, 3000, 4000)
        );
        assert_eq!((mem.dirty, mem.writeback), (5, 6));
        assert_eq!(
            (mem.pg_pg_in, mem.pg_pg_out, mem.pg_fault, mem.pg_maj_fault),
            (7, 8, 9, 10)
        );
        assert_eq!(
            (
                mem.inactive_anon,
                mem.active_anon,
                mem.inactive_file,
                mem.active_file,
                mem.unevictable
            ),
            (11, 12, 13, 14, 15)
        );
        assert_eq!(mem.hierarchical_memory_limit, 16_777_216);
        assert_eq!(mem.hierarchical_swap_limit, 33_554_432);
        assert_eq!(
            (
                mem.total_cache,
                mem.total_rss,
                mem.total_rss_huge,
                mem.total_mapped_file,
                mem.total_dirty,
                mem.total_writeback
            ),
            (101, 102, 103, 104, 105, 106)
        );
        assert_eq!(
            (
                mem.total_pg_pg_in,
                mem.total_pg_pg_out,
                mem.total_pg_fault,
                mem.total_pg_maj_fault
            ),
            (107, 108, 109, 110)
        );
        assert_eq!(
            (
                mem.total_inactive_anon,
                mem.total_active_anon,
                mem.total_inactive_file,
                mem.total_active_file,
                mem.total_unevictable
            ),
            (111, 112, 113, 114, 115)
        );
        let usage = mem.usage.as_ref().unwrap();
        assert_eq!(
            (usage.usage, usage.max, usage.failcnt, usage.limit),
            (8_388_608, 9_000_000, 7, 16_777_216)
        );
        let swap = mem.swap.as_ref().unwrap();
        assert_eq!(
            (swap.usage, swap.limit, swap.failcnt),
            (8_400_000, 33_554_432, 1)
        );
        assert_eq!(mem.kernel.as_ref().unwrap().limit, u64::MAX);
        assert!(mem.kernel_tcp.is_none());

        let pids = m.pids.as_ref().unwrap();
        assert_eq!((pids.current, pids.limit), (3, 0));

        let blkio = m.blkio.as_ref().unwrap();
        let bytes: Vec<_> = blkio
            .io_service_bytes_recursive
            .iter()
            .map(|e| (e.major, e.minor, e.op.as_str(), e.value))
            .collect();
        assert_eq!(
            bytes,
            vec![
                (8, 0, "Read", 4096),
                (8, 0, "Write", 8192),
                (8, 0, "Total", 12288)
            ]
        );
        assert_eq!(blkio.io_serviced_recursive.len(), 2);
        assert!(blkio.io_queued_recursive.is_empty());

        let huge: Vec<_> = m
            .hugetlb
            .iter()
            .map(|h| (h.pagesize.as_str(), h.usage, h.max, h.failcnt))
            .collect();
        assert_eq!(
            huge,
            vec![("1GB", 0, 0, 0), ("2MB", 2_097_152, 4_194_304, 1)]
        );
    }

    #[test]
    fn v2_fields() {
        let any = to_any(&v2_fixture(), Mode::V2).unwrap();
        assert_eq!(any.type_url, "io.containerd.cgroups.v2.Metrics");
        let m = v2::Metrics::parse_from_bytes(&any.value).unwrap();
        assert_eq!(m, v2_metrics(get(&v2_fixture(), "data")));

        let cpu = m.cpu.as_ref().unwrap();
        assert_eq!(
            (cpu.usage_usec, cpu.user_usec, cpu.system_usec),
            (5000, 4000, 1000)
        );
        assert_eq!(
            (cpu.nr_periods, cpu.nr_throttled, cpu.throttled_usec),
            (20, 2, 300)
        );

        let mem = m.memory.as_ref().unwrap();
        let got = [
            mem.anon,
            mem.file,
            mem.kernel_stack,
            mem.slab,
            mem.sock,
            mem.shmem,
            mem.file_mapped,
            mem.file_dirty,
            mem.file_writeback,
            mem.anon_thp,
            mem.inactive_anon,
            mem.active_anon,
            mem.inactive_file,
            mem.active_file,
            mem.unevictable,
            mem.slab_reclaimable,
            mem.slab_unreclaimable,
            mem.pgfault,
            mem.pgmajfault,
            mem.workingset_refault,
            mem.workingset_activate,
            mem.workingset_nodereclaim,
            mem.pgrefill,
            mem.pgscan,
            mem.pgsteal,
            mem.pgactivate,
            mem.pgdeactivate,
            mem.pglazyfree,
            mem.pglazyfreed,
            mem.thp_fault_alloc,
            mem.thp_collapse_alloc,
        ];
        assert_eq!(got.to_vec(), (1..=31).collect::<Vec<u64>>());
        assert_eq!(
            (mem.usage, mem.usage_limit, mem.max_usage),
            (1_048_576, u64::MAX, 2_097_152)
        );
        assert_eq!((mem.swap_usage, mem.swap_limit), (0, u64::MAX));
        assert!(m.memory_events.is_none());

        let pids = m.pids.as_ref().unwrap();
        assert_eq!((pids.current, pids.limit), (2, 100));

        let io: Vec<_> =
            m.io.as_ref()
                .unwrap()
                .usage
                .iter()
                .map(|e| (e.major, e.minor, e.rbytes, e.wbytes, e.rios, e.wios))
                .collect();
        assert_eq!(io, vec![(8, 0, 4096, 8192, 1, 2), (253, 1, 512, 0, 3, 0)]);

        assert_eq!(m.hugetlb.len(), 1);
        assert_eq!(m.hugetlb[0].pagesize, "2MB");
        assert_eq!(m.hugetlb[0].failcnt, 4);
    }

    #[test]
    fn v2_memory_events_when_given() {
        let stats = json!({"data": {"memory_events": {"max": 5, "oom": 2, "oom_kill": 1}}});
        let any = to_any(&stats, Mode::V2).unwrap();
        let m = v2::Metrics::parse_from_bytes(&any.value).unwrap();
        let e = m.memory_events.as_ref().unwrap();
        assert_eq!((e.low, e.high, e.max, e.oom, e.oom_kill), (0, 0, 5, 2, 1));
    }

    #[test]
    fn missing_and_odd_fields_read_as_zero() {
        for mode in [Mode::V1, Mode::V2] {
            // Bare data object, empty sections, wrong types, nulls.
            let stats = json!({
                "cpu": {"usage": {"total": "lots", "percpu": null}, "throttling": 7},
                "memory": {"usage": [], "raw": {"rss": -1, "anon": 1.5}},
                "pids": null,
                "blkio": {"ioServiceBytesRecursive": [{"op": 3}, 5, null]},
                "hugetlb": {"2MB": null}
            });
            let any = to_any(&stats, mode).unwrap();
            assert!(!any.value.is_empty());
            assert!(to_any(&json!({}), mode).unwrap().value.is_empty());
            assert!(to_any(&json!({"type": "stats", "data": null}), mode).is_ok());
            assert!(to_any(&json!([1, 2]), mode).is_err());
            assert!(to_any(&json!({"data": 3}), mode).is_err());
        }
        let m = v1_metrics(&json!({"cpu": {"usage": {"total": "lots"}}, "pids": {}}));
        assert_eq!(m.cpu.as_ref().unwrap().usage.as_ref().unwrap().total, 0);
        assert!(m.pids.is_none() && m.memory.is_none());
        let m = v2_metrics(&json!({"memory": {"raw": {"anon": 1.5}}}));
        assert_eq!(m.memory.as_ref().unwrap().anon, 1);
    }

    #[test]
    fn host_mode_matches_the_file_system() {
        let v2 = std::fs::metadata("/sys/fs/cgroup/cgroup.controllers").is_ok();
        // A hybrid or v1 host has no cgroup.controllers at the top.
        assert_eq!(host_mode() == Mode::V2, v2);
    }
}
