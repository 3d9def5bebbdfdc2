//! The container's resources as systemd unit properties.
//!
//! Translated from the cgroup v2 file writes that resources::plan made of
//! linux.resources (one translation of the config, not two): what systemd
//! can express is set on the unit as well, so that systemd, when it
//! applies a unit's settings again (a daemon-reload, a sibling's change),
//! writes the container's limits and not its defaults over them. The
//! files are written after the unit starts, as with cgroupfs, for the
//! exact values and for everything systemd has no property for (hugetlb,
//! rdma, io.max, per-device weights, the unified keys it does not know).
//!
//! | file            | property                                  |
//! |-----------------|-------------------------------------------|
//! | memory.max      | MemoryMax                                 |
//! | memory.low      | MemoryLow                                 |
//! | memory.min      | MemoryMin                                 |
//! | memory.high     | MemoryHigh                                |
//! | memory.swap.max | MemorySwapMax                             |
//! | cpu.weight      | CPUWeight                                 |
//! | cpu.max         | CPUQuotaPerSecUSec, CPUQuotaPeriodUSec    |
//! | cpuset.cpus     | AllowedCPUs                               |
//! | cpuset.mems     | AllowedMemoryNodes                        |
//! | pids.max        | TasksMax                                  |
//! | io.weight       | IOWeight (its `default` line)             |

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::linux::dbus::Value;

/// A unit property: name and value.
pub type Property = (String, Value);

fn prop(name: &str, v: Value) -> Property {
    (name.to_string(), v)
}

/// systemd's "infinity" for limits.
const INFINITY: u64 = u64::MAX;

fn limit(v: &str) -> Option<u64> {
    match v.trim() {
        "max" => Some(INFINITY),
        n => n.parse().ok(),
    }
}

/// The properties for the writes that systemd can express; the others
/// are left to the files.
pub fn from_writes(writes: &[(PathBuf, String)]) -> Result<Vec<Property>> {
    let mut out = Vec::new();
    for (file, value) in writes {
        let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let bad = || Error::invalid(format!("{}: cannot read {value:?}", file.display()));
        let u64_prop = |p: &str| -> Result<Property> {
            Ok(prop(p, Value::U64(limit(value).ok_or_else(bad)?)))
        };
        match name {
            "memory.max" => out.push(u64_prop("MemoryMax")?),
            "memory.low" => out.push(u64_prop("MemoryLow")?),
            "memory.min" => out.push(u64_prop("MemoryMin")?),
            "memory.high" => out.push(u64_prop("MemoryHigh")?),
            "memory.swap.max" => out.push(u64_prop("MemorySwapMax")?),
            "pids.max" => out.push(u64_prop("TasksMax")?),
            "cpu.weight" => out.push(u64_prop("CPUWeight")?),
            "cpu.max" => out.extend(cpu_max(value).ok_or_else(bad)?),
            "cpuset.cpus" => out.push(prop("AllowedCPUs", bitmask(value).ok_or_else(bad)?)),
            "cpuset.mems" => out.push(prop("AllowedMemoryNodes", bitmask(value).ok_or_else(bad)?)),
            "io.weight" => {
                if let Some(w) = value.trim().strip_prefix("default ") {
                    out.push(prop(
                        "IOWeight",
                        Value::U64(w.trim().parse().map_err(|_| bad())?),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// cpu.max `QUOTA PERIOD` (QUOTA may be `max`) as systemd's quota per
/// second and period. systemd keeps the quota in 10 ms steps and writes
/// cpu.max from it: rounded up, as runc does, so the unit never allows
/// less than asked (the exact value goes into the file afterwards).
fn cpu_max(v: &str) -> Option<Vec<Property>> {
    let mut f = v.split_whitespace();
    let (quota, period) = (f.next()?, f.next().unwrap_or("100000"));
    let period: u64 = period.parse().ok().filter(|p| *p > 0)?;
    let per_sec = match quota {
        "max" => INFINITY,
        q => {
            let q: u64 = q.parse().ok()?;
            let us = q.checked_mul(1_000_000)? / period;
            us.div_ceil(10_000) * 10_000
        }
    };
    Some(vec![
        prop("CPUQuotaPerSecUSec", Value::U64(per_sec)),
        prop("CPUQuotaPeriodUSec", Value::U64(period)),
    ])
}

/// A cpuset list (`0-3,8`) as systemd's byte mask: bit `n % 8` of byte
/// `n / 8` for CPU (or node) n.
fn bitmask(list: &str) -> Option<Value> {
    let mut bytes: Vec<u8> = Vec::new();
    for n in crate::linux::process_attrs::parse_cpu_list(list).ok()? {
        if bytes.len() <= n / 8 {
            bytes.resize(n / 8 + 1, 0);
        }
        bytes[n / 8] |= 1 << (n % 8);
    }
    Some(Value::Array(
        "y".into(),
        bytes.into_iter().map(Value::Byte).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(writes: &[(&str, &str)]) -> Vec<Property> {
        let w: Vec<(PathBuf, String)> = writes
            .iter()
            .map(|(f, v)| {
                (
                    PathBuf::from("/sys/fs/cgroup/x.scope").join(f),
                    v.to_string(),
                )
            })
            .collect();
        from_writes(&w).unwrap()
    }

    #[test]
    fn limits_become_properties_and_max_is_infinity() {
        let p = props(&[
            ("memory.max", "1048576"),
            ("memory.swap.max", "max"),
            ("pids.max", "20"),
            ("cpu.weight", "79"),
            ("hugetlb.2MB.max", "0"),
        ]);
        assert_eq!(
            p,
            vec![
                prop("MemoryMax", Value::U64(1 << 20)),
                prop("MemorySwapMax", Value::U64(u64::MAX)),
                prop("TasksMax", Value::U64(20)),
                prop("CPUWeight", Value::U64(79)),
            ]
        );
    }

    #[test]
    fn cpu_quota_is_per_second_rounded_up_to_10ms() {
        // 50000/100000 is half a CPU: 500 ms per second.
        assert_eq!(
            props(&[("cpu.max", "50000 100000")]),
            vec![
                prop("CPUQuotaPerSecUSec", Value::U64(500_000)),
                prop("CPUQuotaPeriodUSec", Value::U64(100_000)),
            ]
        );
        // 1234/100000 is 12.34 ms per second: 20 ms.
        assert_eq!(
            props(&[("cpu.max", "1234 100000")])[0].1,
            Value::U64(20_000)
        );
        assert_eq!(
            props(&[("cpu.max", "max 50000")])[0].1,
            Value::U64(u64::MAX)
        );
    }

    #[test]
    fn cpusets_are_byte_masks() {
        let p = props(&[("cpuset.cpus", "0-1,9"), ("cpuset.mems", "0")]);
        assert_eq!(
            p[0].1,
            Value::Array("y".into(), vec![Value::Byte(0b11), Value::Byte(0b10)])
        );
        assert_eq!(p[1].1, Value::Array("y".into(), vec![Value::Byte(1)]));
    }

    #[test]
    fn io_weight_takes_the_default_line_only() {
        assert_eq!(
            props(&[("io.weight", "default 500"), ("io.weight", "8:0 100")]),
            vec![prop("IOWeight", Value::U64(500))]
        );
    }

    #[test]
    fn unreadable_values_are_refused() {
        let w = vec![(PathBuf::from("/x/cpuset.cpus"), "3-1".to_string())];
        assert!(from_writes(&w).is_err());
        let w = vec![(PathBuf::from("/x/memory.max"), "lots".to_string())];
        assert!(from_writes(&w).is_err());
    }
}
