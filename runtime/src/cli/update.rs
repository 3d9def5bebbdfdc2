use std::io::Read;
use std::path::Path;

use berth::container::store::Store;
use berth::error::SysResult;
use berth::{Error, Result};
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Value};

use super::args::{self, Flag, Given};
use super::line::{first, Line, Stop};
use super::Command;

/// runc's `update` flags. Values are taken whatever they look like, so
/// `--pids-limit -1` and `--memory-swap -1` work.
#[rustfmt::skip]
pub const FLAGS: &[Flag] = &[
    Flag::value("resources", Some('r'), "FILE", "linux.resources JSON to apply, from a file or \"-\" for stdin."),
    Flag::value("memory", None, "BYTES", "Memory limit (bytes, or with k, m, g)."),
    Flag::value("memory-reservation", None, "BYTES", "Memory soft limit."),
    Flag::value("memory-swap", None, "BYTES", "Memory plus swap limit; -1 for unlimited swap."),
    Flag::value("cpu-share", None, "N", "CPU shares (relative weight).").alias(&["cpu-shares"]),
    Flag::value("cpu-quota", None, "USEC", "CPU CFS quota in microseconds per period."),
    Flag::value("cpu-period", None, "USEC", "CPU CFS period in microseconds."),
    Flag::value("cpu-burst", None, "USEC", "CPU CFS burst in microseconds."),
    Flag::value("cpu-rt-runtime", None, "USEC", "Realtime runtime in microseconds."),
    Flag::value("cpu-rt-period", None, "USEC", "Realtime period in microseconds."),
    Flag::value("cpuset-cpus", None, "CPUS", "CPUs to run on (0-3, 0,1)."),
    Flag::value("cpuset-mems", None, "NODES", "Memory nodes to use."),
    Flag::value("pids-limit", None, "N", "Maximum number of processes; 0 or less for no limit."),
    Flag::value("blkio-weight", None, "N", "Block IO weight (10..1000)."),
];

#[derive(Debug, Default)]
pub struct UpdateArgs {
    pub(super) resources: Option<String>,
    pub(super) memory: Option<String>,
    pub(super) memory_reservation: Option<String>,
    pub(super) memory_swap: Option<String>,
    pub(super) cpu_share: Option<u64>,
    pub(super) cpu_quota: Option<i64>,
    pub(super) cpu_period: Option<u64>,
    pub(super) cpu_burst: Option<u64>,
    pub(super) cpu_rt_runtime: Option<i64>,
    pub(super) cpu_rt_period: Option<u64>,
    pub(super) cpuset_cpus: Option<String>,
    pub(super) cpuset_mems: Option<String>,
    pub(super) pids_limit: Option<i64>,
    pub(super) blkio_weight: Option<u16>,
    pub(super) id: String,
}

impl UpdateArgs {
    pub fn set(&mut self, v: &Given) -> Result<(), args::Error> {
        match v.flag.long {
            "resources" => self.resources = Some(v.string()?),
            "memory" => self.memory = Some(v.string()?),
            "memory-reservation" => self.memory_reservation = Some(v.string()?),
            "memory-swap" => self.memory_swap = Some(v.string()?),
            "cpu-share" => self.cpu_share = Some(v.number()?),
            "cpu-quota" => self.cpu_quota = Some(v.number()?),
            "cpu-period" => self.cpu_period = Some(v.number()?),
            "cpu-burst" => self.cpu_burst = Some(v.number()?),
            "cpu-rt-runtime" => self.cpu_rt_runtime = Some(v.number()?),
            "cpu-rt-period" => self.cpu_rt_period = Some(v.number()?),
            "cpuset-cpus" => self.cpuset_cpus = Some(v.string()?),
            "cpuset-mems" => self.cpuset_mems = Some(v.string()?),
            "pids-limit" => self.pids_limit = Some(v.number()?),
            "blkio-weight" => self.blkio_weight = Some(v.number()?),
            other => unreachable!("update flag --{other} has no field"),
        }
        Ok(())
    }
}

pub fn parse(line: Line) -> Result<Command, Stop> {
    let mut a = UpdateArgs::default();
    a.id = first(line.words(|v| a.set(v))?);
    Ok(Command::Update(a))
}

/// runc's byte sizes: a number with an optional k, m, g or t (powers of
/// 1024, with or without a trailing b).
pub fn parse_bytes(s: &str) -> Result<i64> {
    let bad = || Error::invalid(format!("invalid size {s:?}"));
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    if n < 0.0 {
        return Err(bad());
    }
    Ok((n * mult as f64) as i64)
}

/// The resources asked for: --resources first, then each flag over it.
fn resources(a: &UpdateArgs) -> Result<LinuxResources> {
    let mut v: Value = match a.resources.as_deref() {
        None => json!({}),
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .sys("read --resources from stdin")?;
            serde_json::from_str(&text).map_err(|e| Error::invalid(format!("--resources: {e}")))?
        }
        Some(p) => {
            let text = std::fs::read(p).sys_path("read --resources", Path::new(p))?;
            serde_json::from_slice(&text)
                .map_err(|e| Error::invalid(format!("--resources: {e}")))?
        }
    };
    let mut set = |path: &str, value: Value| {
        let (section, key) = path.split_once('.').expect("section.key");
        if !v[section].is_object() {
            v[section] = json!({});
        }
        v[section][key] = value;
    };
    let bytes = |s: &Option<String>| s.as_deref().map(parse_bytes).transpose();
    if let Some(m) = bytes(&a.memory)? {
        set("memory.limit", json!(m));
    }
    if let Some(m) = bytes(&a.memory_reservation)? {
        set("memory.reservation", json!(m));
    }
    if let Some(m) = bytes(&a.memory_swap)? {
        set("memory.swap", json!(m));
    }
    for (path, value) in [
        ("cpu.shares", a.cpu_share.map(|v| json!(v))),
        ("cpu.quota", a.cpu_quota.map(|v| json!(v))),
        ("cpu.period", a.cpu_period.map(|v| json!(v))),
        ("cpu.burst", a.cpu_burst.map(|v| json!(v))),
        ("cpu.realtimeRuntime", a.cpu_rt_runtime.map(|v| json!(v))),
        ("cpu.realtimePeriod", a.cpu_rt_period.map(|v| json!(v))),
        ("cpu.cpus", a.cpuset_cpus.as_ref().map(|v| json!(v))),
        ("cpu.mems", a.cpuset_mems.as_ref().map(|v| json!(v))),
        ("pids.limit", a.pids_limit.map(|v| json!(v))),
        ("blockIO.weight", a.blkio_weight.map(|v| json!(v))),
    ] {
        if let Some(value) = value {
            set(path, value);
        }
    }
    serde_json::from_value(v).map_err(|e| Error::invalid(format!("--resources: {e}")))
}

pub fn run(store: &Store, a: &UpdateArgs) -> Result<()> {
    let r = resources(a)?;
    let dir = store.open(&a.id)?;
    let (state, status) = berth::container::lifecycle::loaded(&dir)?;
    let id = &a.id;
    let (mut state, cgroups) = berth::container::lifecycle::live_cgroups(state, status, id)?;
    check_before_update(&cgroups, &r)?;
    let planned = berth::linux::cgroups::resources::plan(&cgroups, Some(&r))?;
    if let Some(unit) = &cgroups.unit {
        // systemd first, so that the files keep the exact values.
        use berth::linux::systemd::{properties, Manager};
        let props = properties::from_writes(&planned.writes)?;
        Manager::for_unit(unit)?.set(&unit.name, props)?;
    }
    berth::linux::cgroups::resources::apply_limits(&planned)?;
    // Device rules only when asked for: without any (runc's flags, Docker's
    // update) plan still makes the default policy, which is not a request.
    let asked = r.devices().as_ref().is_some_and(|d| !d.is_empty());
    let Some(policy) = planned.devices.as_ref().filter(|_| asked) else {
        return Ok(());
    };
    let recorded = cgroups.devices.as_deref();
    if let Some(rules) = berth::linux::cgroups::device_update::update(policy, recorded)? {
        if let Some(c) = state.cgroups.as_mut() {
            c.devices = Some(rules);
        }
        dir.save(&state)?;
    }
    Ok(())
}

/// memory.checkBeforeUpdate: a limit below what the container uses now
/// is refused instead of making the kernel reclaim or kill.
fn check_before_update(c: &berth::linux::cgroups::Cgroups, r: &LinuxResources) -> Result<()> {
    let Some(m) = r
        .memory()
        .as_ref()
        .filter(|m| m.check_before_update() == Some(true))
    else {
        return Ok(());
    };
    let Some(limit) = m.limit().filter(|l| *l > 0) else {
        return Ok(());
    };
    let usage = c.dirs.iter().find_map(|d| {
        let file = if d.v2 {
            "memory.current"
        } else if d.has("memory") {
            "memory.usage_in_bytes"
        } else {
            return None;
        };
        std::fs::read_to_string(d.file(file))
            .ok()?
            .trim()
            .parse::<i64>()
            .ok()
    });
    match usage {
        Some(u) if u > limit => Err(Error::invalid(format!(
            "update: memory limit {limit} is below the current usage {u} (checkBeforeUpdate)"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_runc_reads_them() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        assert_eq!(parse_bytes("64mb").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
    }
}
