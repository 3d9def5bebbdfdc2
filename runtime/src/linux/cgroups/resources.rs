//! linux.resources as cgroup file writes, for v1 and for v2.
//!
//! The writes are computed first ([`plan`]), which is where a field the
//! host cannot honour is refused by name, and only then made ([`apply`]):
//! `create` plans before it makes any directory. On v2, v1-style values are
//! converted as runc converts them (cpu shares to cpu.weight, blkio weight
//! to io.weight, memory+swap to memory.swap.max).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources, LinuxThrottleDevice};

use super::device_filter::Rule as DeviceRule;
use super::{Cgroups, Dir};
use crate::error::{Context, Error, Result, SysResult};

/// One write: file, value.
pub type Write = (PathBuf, String);

/// Everything linux.resources asks of the cgroups.
#[derive(Debug, Default)]
pub struct Planned {
    pub writes: Vec<Write>,
    /// The device policy, applied once init has made the container's
    /// device nodes (as runc does).
    pub devices: Option<DevicePolicy>,
}

/// The device rules in effect for a container, in order (the last that
/// matches a request decides), and where they go: v1's devices.allow and
/// devices.deny in `dir`, or on v2 a program attached to `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePolicy {
    pub dir: PathBuf,
    pub v2: bool,
    /// Each rule as v1 takes it: allow (devices.allow) or deny, and its
    /// text ("c 1:3 rwm"). Kept as text, not as device_filter's rules: on
    /// v1 create writes it as it is, and its code stays off create's path
    /// there (it is paid for in memory: the kernel faults in 64 KiB of code
    /// around each page touched).
    pub rules: Vec<(bool, String)>,
}

impl DevicePolicy {
    /// The v1 writes, each to the file its rule names.
    pub fn v1_writes(&self) -> Vec<Write> {
        v1_writes(&self.dir, self.rules.iter().map(|(a, t)| (*a, t.clone())))
    }

    /// The rules as the v2 program checks them (and `update` compares them).
    pub fn parsed(&self) -> Result<Vec<DeviceRule>> {
        self.rules
            .iter()
            .map(|(allow, text)| {
                DeviceRule::parse_v1(*allow, text)
                    .ok_or_else(|| refuse("devices", &format!("not a device rule: {text:?}")))
            })
            .collect()
    }

    /// What the state records (see `Cgroups::devices`): each rule as
    /// "allow c 1:3 rwm" or "deny a *:* rwm".
    pub fn record(&self) -> Vec<String> {
        // Joined by hand: format! cost ~700 instructions a rule, on
        // create's path before clone.
        self.rules
            .iter()
            .map(|(allow, text)| {
                let verb = if *allow { "allow " } else { "deny " };
                let mut line = String::with_capacity(verb.len() + text.len());
                line.push_str(verb);
                line.push_str(text);
                line
            })
            .collect()
    }
}

/// (allow, text) rules as writes to devices.allow or devices.deny in `dir`.
pub fn v1_writes(dir: &Path, rules: impl Iterator<Item = (bool, String)>) -> Vec<Write> {
    rules
        .map(|(allow, text)| {
            let file = if allow {
                "devices.allow"
            } else {
                "devices.deny"
            };
            (dir.join(file), text)
        })
        .collect()
}

impl Planned {
    /// Rootless: no device policy. An unprivileged user can neither load
    /// the v2 program (bpf(2) needs CAP_BPF or CAP_SYS_ADMIN) nor write v1's
    /// devices.allow, and needs neither: in its user namespace the
    /// container cannot mknod, and a device node bound in from the host
    /// is guarded by the host's permissions (runc and crun skip it too).
    pub fn without_device_policy(mut self) -> Planned {
        self.devices = None;
        self
    }

    /// What the container's state records of the device policy (see
    /// `Cgroups::devices`): its rules, or none at all.
    pub fn device_record(&self) -> Vec<String> {
        self.devices
            .as_ref()
            .map(DevicePolicy::record)
            .unwrap_or_default()
    }
}

fn refuse(field: &str, why: &str) -> Error {
    Error::invalid(format!("linux.resources.{field}: {why}"))
}

/// The directory holding `controller`'s files: its v1 hierarchy, or the v2
/// one when the host is v2 for it.
fn dir_for<'a>(c: &'a Cgroups, controller: &str) -> Option<&'a Dir> {
    c.dirs
        .iter()
        .find(|d| d.has(controller))
        .or_else(|| c.dirs.iter().find(|d| d.v2 && v2_has(d, controller)))
}

/// Whether a v2 directory has (or, once made, will have) `controller`:
/// create enables every controller of the hierarchy's top in each parent
/// on the way down (super::delegate_controllers), parents made or found,
/// so the top's cgroup.controllers says, however deep the directory is
/// and whatever its parents have enabled yet. Where a parent cannot pass
/// one on, the write into the directory says so (`write_one`).
fn v2_has(d: &Dir, controller: &str) -> bool {
    match super::v2_top(&d.path) {
        Some(top) => std::fs::read_to_string(top.join("cgroup.controllers"))
            .is_ok_and(|t| t.split_whitespace().any(|c| c == controller)),
        // berth's unit tests plan without a real hierarchy: every
        // controller is taken to be there.
        None => true,
    }
}

struct Plan<'a> {
    c: &'a Cgroups,
    out: Vec<Write>,
    devices: Option<DevicePolicy>,
}

impl Plan<'_> {
    /// The directory for a controller, or a refusal naming the field.
    fn dir(&self, controller: &str, field: &str) -> Result<&Dir> {
        dir_for(self.c, controller).ok_or_else(|| {
            refuse(
                field,
                &format!("the {controller} controller is not available on this host"),
            )
        })
    }

    fn push(&mut self, d: &Dir, file: &str, value: impl ToString) {
        self.out.push((d.file(file), value.to_string()));
    }
}

/// Whether the hierarchy has this file: in the directory, or before it is
/// made, in its nearest existing ancestor (v1 cgroups all have the same).
fn has_file(d: &Dir, name: &str) -> bool {
    d.path
        .ancestors()
        .find(|a| a.exists())
        .is_some_and(|a| a.join(name).exists())
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// cpu.shares (2..262144) to cpu.weight (1..10000), as runc converts.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.saturating_sub(2)) * 9999) / 262142
}

/// blkio.weight (10..1000) to io.weight (1..10000), as runc converts.
pub fn blkio_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w).saturating_sub(10)) * 9999 / 990
}

/// `r` None: no linux.resources, and still the default device policy.
pub fn plan(c: &Cgroups, r: Option<&LinuxResources>) -> Result<Planned> {
    let none = LinuxResources::default();
    let r = r.unwrap_or(&none);
    let mut p = Plan {
        c,
        out: Vec::new(),
        devices: None,
    };
    memory(&mut p, r)?;
    cpu(&mut p, r)?;
    if let Some(pids) = r.pids() {
        let d = p.dir("pids", "pids")?.clone();
        let limit = if pids.limit() <= 0 { -1 } else { pids.limit() };
        p.push(&d, "pids.max", max_or(limit));
    }
    block_io(&mut p, r)?;
    for h in r.hugepage_limits().iter().flatten() {
        let d = p.dir("hugetlb", "hugepageLimits")?.clone();
        let file = if d.v2 {
            format!("hugetlb.{}.max", h.page_size())
        } else {
            format!("hugetlb.{}.limit_in_bytes", h.page_size())
        };
        p.push(&d, &file, h.limit());
    }
    network(&mut p, r)?;
    for (dev, limits) in r.rdma().iter().flatten() {
        let d = p.dir("rdma", "rdma")?.clone();
        let mut v = dev.clone();
        if let Some(h) = limits.hca_handles() {
            v.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = limits.hca_objects() {
            v.push_str(&format!(" hca_object={o}"));
        }
        p.push(&d, "rdma.max", v);
    }
    devices(&mut p, r.devices().as_deref())?;
    if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
        let d = c
            .dirs
            .iter()
            .find(|d| d.v2 && c.dirs.len() == 1)
            .ok_or_else(|| refuse("unified", "needs a host on cgroup v2 alone"))?
            .clone();
        let mut keys: Vec<_> = u.iter().collect();
        keys.sort();
        for (k, v) in keys {
            if k.contains('/')
                || k.starts_with("cgroup.")
                    && k != "cgroup.max.depth"
                    && k != "cgroup.max.descendants"
            {
                return Err(refuse("unified", &format!("{k:?} is not a resource file")));
            }
            p.push(&d, k, v);
        }
    }
    Ok(Planned {
        writes: p.out,
        devices: p.devices,
    })
}

fn memory(p: &mut Plan, r: &LinuxResources) -> Result<()> {
    let Some(m) = r.memory() else {
        return Ok(());
    };
    let d = p.dir("memory", "memory")?.clone();
    // 0 leaves a value as it is, as runc reads it: Docker's update sends
    // every memory field, 0 for those it does not change.
    let nonzero = |v: Option<i64>| v.filter(|&v| v != 0);
    let (limit, reservation) = (nonzero(m.limit()), nonzero(m.reservation()));
    let mut swap = nonzero(m.swap());
    // On v1 an unlimited memory with no word on swap lifts memsw too, or
    // the old memory+swap limit would still cap the memory.
    let memsw = d.file("memory.memsw.limit_in_bytes");
    if !d.v2 && limit == Some(-1) && swap.is_none() && memsw.exists() {
        swap = Some(-1);
    }
    if m.kernel().is_some() || m.kernel_tcp().is_some() {
        log::warn!(
            "linux.resources.memory.kernel and kernelTCP are deprecated and ignored, as by runc"
        );
    }
    if d.v2 {
        if let Some(v) = reservation {
            p.push(&d, "memory.low", max_or(v));
        }
        if let Some(v) = limit {
            p.push(&d, "memory.max", max_or(v));
        }
        if let Some(swap) = swap {
            // v1's memsw is memory plus swap; v2 limits swap alone.
            let value = match (swap, limit) {
                (s, _) if s < 0 => "max".to_string(),
                (s, Some(l)) if l >= 0 => {
                    if s < l {
                        return Err(refuse(
                            "memory.swap",
                            "memory+swap is below the memory limit",
                        ));
                    }
                    (s - l).to_string()
                }
                _ => {
                    return Err(refuse(
                        "memory.swap",
                        "a swap limit on cgroup v2 needs a memory limit",
                    ))
                }
            };
            p.push(&d, "memory.swap.max", value);
        }
        if m.swappiness().is_some() {
            return Err(refuse("memory.swappiness", "not supported on cgroup v2"));
        }
        if m.disable_oom_killer() == Some(true) {
            return Err(refuse(
                "memory.disableOOMKiller",
                "not supported on cgroup v2",
            ));
        }
    } else {
        if let Some(v) = reservation {
            p.push(&d, "memory.soft_limit_in_bytes", v);
        }
        if let Some(v) = limit {
            p.push(&d, "memory.limit_in_bytes", v);
        }
        if let Some(v) = swap {
            p.push(&d, "memory.memsw.limit_in_bytes", v);
        }
        if let Some(v) = m.swappiness() {
            if v > 100 {
                return Err(refuse("memory.swappiness", "must be 0..100"));
            }
            p.push(&d, "memory.swappiness", v);
        }
        if let Some(v) = m.disable_oom_killer() {
            p.push(&d, "memory.oom_control", u8::from(v));
        }
        if let Some(v) = m.use_hierarchy() {
            p.push(&d, "memory.use_hierarchy", u8::from(v));
        }
    }
    Ok(())
}

fn cpu(p: &mut Plan, r: &LinuxResources) -> Result<()> {
    let Some(cpu) = r.cpu() else {
        return Ok(());
    };
    if cpu.cpus().is_some() || cpu.mems().is_some() {
        let d = p.dir("cpuset", "cpu.cpus")?.clone();
        if let Some(v) = cpu.cpus().as_deref().filter(|v| !v.is_empty()) {
            p.push(&d, "cpuset.cpus", v);
        }
        if let Some(v) = cpu.mems().as_deref().filter(|v| !v.is_empty()) {
            p.push(&d, "cpuset.mems", v);
        }
    }
    let wants_cpu = cpu.shares().is_some()
        || cpu.quota().is_some()
        || cpu.period().is_some()
        || cpu.burst().is_some()
        || cpu.realtime_runtime().is_some()
        || cpu.realtime_period().is_some()
        || cpu.idle().is_some();
    if !wants_cpu {
        return Ok(());
    }
    let d = p.dir("cpu", "cpu")?.clone();
    if d.v2 {
        if let Some(s) = cpu.shares().filter(|s| *s != 0) {
            p.push(&d, "cpu.weight", shares_to_weight(s));
        }
        if cpu.quota().is_some() || cpu.period().is_some() {
            let quota = cpu
                .quota()
                .filter(|q| *q > 0)
                .map_or("max".into(), |q| q.to_string());
            let period = cpu.period().filter(|p| *p > 0).unwrap_or(100_000);
            p.push(&d, "cpu.max", format!("{quota} {period}"));
        }
        if let Some(b) = cpu.burst() {
            p.push(&d, "cpu.max.burst", b);
        }
        if cpu.realtime_runtime().is_some() || cpu.realtime_period().is_some() {
            return Err(refuse("cpu.realtimeRuntime", "not supported on cgroup v2"));
        }
    } else {
        if let Some(s) = cpu.shares().filter(|s| *s != 0) {
            p.push(&d, "cpu.shares", s);
        }
        // The period first: a quota is checked against the period in place.
        if let Some(v) = cpu.period().filter(|v| *v != 0) {
            p.push(&d, "cpu.cfs_period_us", v);
        }
        if let Some(v) = cpu.quota().filter(|v| *v != 0) {
            p.push(&d, "cpu.cfs_quota_us", v);
        }
        if let Some(v) = cpu.burst() {
            p.push(&d, "cpu.cfs_burst_us", v);
        }
        if let Some(v) = cpu.realtime_period().filter(|v| *v != 0) {
            p.push(&d, "cpu.rt_period_us", v);
        }
        if let Some(v) = cpu.realtime_runtime().filter(|v| *v != 0) {
            p.push(&d, "cpu.rt_runtime_us", v);
        }
    }
    if let Some(v) = cpu.idle() {
        p.push(&d, "cpu.idle", v);
    }
    Ok(())
}

fn throttles(
    list: &Option<Vec<LinuxThrottleDevice>>,
) -> impl Iterator<Item = &LinuxThrottleDevice> {
    list.iter().flatten()
}

fn block_io(p: &mut Plan, r: &LinuxResources) -> Result<()> {
    let Some(b) = r.block_io() else {
        return Ok(());
    };
    let d = p
        .dir(
            if dir_for(p.c, "blkio").is_some() {
                "blkio"
            } else {
                "io"
            },
            "blockIO",
        )?
        .clone();
    if d.v2 {
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            p.push(
                &d,
                "io.weight",
                format!("default {}", blkio_to_io_weight(w)),
            );
        }
        for wd in b.weight_device().iter().flatten() {
            if let Some(w) = wd.weight() {
                let w = blkio_to_io_weight(w);
                p.push(
                    &d,
                    "io.weight",
                    format!("{}:{} {w}", wd.major(), wd.minor()),
                );
            }
        }
        if b.leaf_weight().is_some() {
            return Err(refuse("blockIO.leafWeight", "not supported on cgroup v2"));
        }
        for (list, key) in [
            (b.throttle_read_bps_device(), "rbps"),
            (b.throttle_write_bps_device(), "wbps"),
            (b.throttle_read_iops_device(), "riops"),
            (b.throttle_write_iops_device(), "wiops"),
        ] {
            for t in throttles(list) {
                p.push(
                    &d,
                    "io.max",
                    format!("{}:{} {key}={}", t.major(), t.minor(), t.rate()),
                );
            }
        }
    } else {
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            // With the BFQ scheduler the weight has the BFQ file's name.
            let file = if has_file(&d, "blkio.weight") || !has_file(&d, "blkio.bfq.weight") {
                "blkio.weight"
            } else {
                "blkio.bfq.weight"
            };
            p.push(&d, file, w);
        }
        if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
            p.push(&d, "blkio.leaf_weight", w);
        }
        for wd in b.weight_device().iter().flatten() {
            if let Some(w) = wd.weight() {
                p.push(
                    &d,
                    "blkio.weight_device",
                    format!("{}:{} {w}", wd.major(), wd.minor()),
                );
            }
            if let Some(w) = wd.leaf_weight() {
                p.push(
                    &d,
                    "blkio.leaf_weight_device",
                    format!("{}:{} {w}", wd.major(), wd.minor()),
                );
            }
        }
        for (list, file) in [
            (
                b.throttle_read_bps_device(),
                "blkio.throttle.read_bps_device",
            ),
            (
                b.throttle_write_bps_device(),
                "blkio.throttle.write_bps_device",
            ),
            (
                b.throttle_read_iops_device(),
                "blkio.throttle.read_iops_device",
            ),
            (
                b.throttle_write_iops_device(),
                "blkio.throttle.write_iops_device",
            ),
        ] {
            for t in throttles(list) {
                p.push(
                    &d,
                    file,
                    format!("{}:{} {}", t.major(), t.minor(), t.rate()),
                );
            }
        }
    }
    Ok(())
}

fn network(p: &mut Plan, r: &LinuxResources) -> Result<()> {
    let Some(n) = r.network() else {
        return Ok(());
    };
    if let Some(id) = n.class_id() {
        let d = p.dir("net_cls", "network.classID")?.clone();
        p.push(&d, "net_cls.classid", id);
    }
    for prio in n.priorities().iter().flatten() {
        let d = p.dir("net_prio", "network.priorities")?.clone();
        p.push(
            &d,
            "net_prio.ifpriomap",
            format!("{} {}", prio.name(), prio.priority()),
        );
    }
    Ok(())
}

/// The device nodes berth makes in every container, allowed after the
/// config's rules as runc allows them: null, zero, full, tty, random,
/// urandom, console, ptmx and the devpts ptys.
const DEFAULT_ALLOWED: [&str; 9] = [
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

fn device_rule(d: &LinuxDeviceCgroup) -> String {
    let typ = match d.typ() {
        None | Some(LinuxDeviceType::A) => "a",
        Some(LinuxDeviceType::B) => "b",
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => "c",
        Some(LinuxDeviceType::P) => "p",
    };
    let num = |n: Option<i64>| {
        n.filter(|n| *n >= 0)
            .map_or("*".to_string(), |n| n.to_string())
    };
    let access = d
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    if typ == "a" && d.major().is_none() && d.minor().is_none() {
        return format!("a *:* {access}");
    }
    format!("{typ} {}:{} {access}", num(d.major()), num(d.minor()))
}

/// Every container gets a device policy, as from runc: everything denied,
/// then the config's rules, then the devices every container has. A host
/// with neither a v1 devices hierarchy nor v2 gets no policy unless the
/// config asks for rules, which are then refused.
fn devices(p: &mut Plan, rules: Option<&[LinuxDeviceCgroup]>) -> Result<()> {
    let asked = rules.is_some_and(|r| !r.is_empty());
    if !asked && !p.c.dirs.iter().any(|d| d.v2 || d.has("devices")) {
        return Ok(());
    }
    // Only v1 has a devices controller; v2 takes a program.
    let d = match p.c.dirs.iter().find(|d| d.has("devices")) {
        Some(d) => d,
        None if p.c.dirs.is_empty() => return Ok(()), // no cgroups at all
        None => p.c.dirs.iter().find(|d| d.v2).ok_or_else(|| {
            refuse(
                "devices",
                "the devices controller is not available on this host",
            )
        })?,
    };
    let mut list = vec![(false, "a *:* rwm".to_string())];
    for (i, r) in rules.unwrap_or_default().iter().enumerate() {
        if r.typ() == Some(LinuxDeviceType::P) {
            continue; // fifos are not device-controlled
        }
        // v1's files refuse other letters, runc too; v2's program would
        // ignore them.
        if let Some(a) = r
            .access()
            .as_deref()
            .filter(|a| a.contains(|c| !"rwm".contains(c)))
        {
            return Err(refuse(
                &format!("devices[{i}].access"),
                &format!("{a:?}: only r, w and m are device accesses"),
            ));
        }
        for (n, name) in [(r.major(), "major"), (r.minor(), "minor")] {
            if n.is_some_and(|n| n > i64::from(u32::MAX)) {
                return Err(refuse(
                    &format!("devices[{i}].{name}"),
                    "out of range for a device number",
                ));
            }
        }
        let rule = (r.allow(), device_rule(r));
        // A rule the same as the one before it changes nothing, and would
        // cost create a write after init is ready: configs start with the
        // deny-all that berth puts first anyway.
        if list.last() != Some(&rule) {
            list.push(rule);
        }
    }
    list.extend(DEFAULT_ALLOWED.iter().map(|r| (true, r.to_string())));
    p.devices = Some(DevicePolicy {
        dir: d.path.clone(),
        v2: d.v2,
        rules: list,
    });
    Ok(())
}

fn write_one((file, value): &Write) -> Result<()> {
    let r = std::fs::write(file, value).sys_path(&format!("write {value:?} to"), file);
    match r.as_ref().err().and_then(|_| not_passed_on(file)) {
        Some(why) => r.context(why),
        None => r,
    }
}

/// Why a cgroup v2 file is missing, when it is: its parent does not pass
/// the controller on (a parent that has processes, or is not the user's
/// to write, refuses to enable it). None on v1, and where the controller
/// is there.
fn not_passed_on(file: &Path) -> Option<String> {
    let dir = file.parent()?;
    let parent = dir.parent()?;
    let name = file.file_name()?.to_str()?;
    let controller = name.split('.').next()?;
    let available = std::fs::read_to_string(parent.join("cgroup.controllers")).ok()?;
    if file.exists() || available.split_whitespace().any(|c| c == controller) {
        return None;
    }
    Some(format!(
        "the {controller} controller is not enabled for {} ({} does not pass it on)",
        dir.display(),
        parent.join("cgroup.subtree_control").display()
    ))
}

fn write_all(writes: &[Write]) -> Result<()> {
    let mut done = vec![false; writes.len()];
    for (i, w) in writes.iter().enumerate() {
        if done[i] {
            continue;
        }
        match write_one(w) {
            // v1 keeps memory.limit_in_bytes at or below memsw: raising both
            // (update) takes memsw first.
            Err(e) if w.0.ends_with("memory.limit_in_bytes") => {
                let memsw = writes
                    .iter()
                    .position(|x| x.0.ends_with("memory.memsw.limit_in_bytes"))
                    .filter(|j| !done[*j])
                    .ok_or(e)?;
                write_one(&writes[memsw])?;
                done[memsw] = true;
                write_one(w)?;
            }
            r => r?,
        }
        done[i] = true;
    }
    Ok(())
}

/// v1 device rules in order; a run of rules for one file goes through one
/// descriptor (v1 takes each write(2) as one rule), which spares the
/// default config a dozen opens of devices.allow.
fn write_rules(writes: &[Write]) -> Result<()> {
    use std::io::Write as _;
    let mut open: Option<(&Path, std::fs::File)> = None;
    for (file, value) in writes {
        let f = match &mut open {
            Some((p, f)) if *p == file.as_path() => f,
            slot => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(file)
                    .sys_path("open", file)?;
                &mut slot.insert((file, f)).1
            }
        };
        f.write_all(value.as_bytes())
            .sys_path(&format!("write {value:?} to"), file)?;
    }
    Ok(())
}

/// The limits, each error naming the file and the value.
pub fn apply_limits(planned: &Planned) -> Result<()> {
    write_all(&planned.writes)
}

/// The device policy, in a cgroup that has none of the container's yet.
pub fn apply_devices(planned: &Planned) -> Result<()> {
    match &planned.devices {
        None => Ok(()),
        Some(d) if d.v2 => super::device_filter::attach(&d.dir, &d.parsed()?),
        Some(d) => write_rules(&d.v1_writes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cgroups(v2: bool) -> Cgroups {
        let dir = |name: &str, ctrls: &[&str]| Dir {
            path: PathBuf::from(format!("/nonexistent/{name}/ctr")),
            v2,
            controllers: ctrls.iter().map(|c| c.to_string()).collect(),
            created: Vec::new(),
        };
        if v2 {
            Cgroups {
                dirs: vec![dir("unified", &[])],
                ..Cgroups::default()
            }
        } else {
            let names = [
                "memory", "cpu", "cpuset", "pids", "blkio", "devices", "hugetlb", "net_cls",
                "net_prio",
            ];
            Cgroups {
                dirs: names.iter().map(|n| dir(n, &[n])).collect(),
                ..Cgroups::default()
            }
        }
    }

    fn writes(v2: bool, json: &str) -> Vec<String> {
        let r: LinuxResources = serde_json::from_str(json).unwrap();
        let p = plan(&cgroups(v2), Some(&r)).unwrap();
        let devices = p
            .devices
            .filter(|d| !d.v2)
            .map(|d| d.v1_writes())
            .unwrap_or_default();
        p.writes
            .into_iter()
            .chain(devices)
            .map(|(f, v)| format!("{} = {v}", f.display()))
            .collect()
    }

    #[test]
    fn conversions_follow_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10000);
    }

    /// Docker's update sends every memory field, 0 for "unchanged".
    #[test]
    fn zero_memory_values_leave_the_files_alone() {
        for v2 in [false, true] {
            let w = writes(
                v2,
                r#"{"memory":{"limit":0,"reservation":0,"swap":0},"pids":{"limit":50}}"#,
            );
            assert!(w.iter().all(|l| !l.contains("memory.")), "{w:?}");
            assert!(w.iter().any(|l| l.contains("pids.max = 50")), "{w:?}");
        }
    }

    #[test]
    fn v1_writes_each_controllers_files() {
        let w = writes(
            false,
            r#"{"memory":{"limit":1048576,"reservation":524288,"swap":2097152,"swappiness":10},
                "cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0"},
                "pids":{"limit":20},
                "blockIO":{"weight":300,"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1000}]},
                "devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}]}"#,
        );
        let want = [
            "/nonexistent/memory/ctr/memory.soft_limit_in_bytes = 524288",
            "/nonexistent/memory/ctr/memory.limit_in_bytes = 1048576",
            "/nonexistent/memory/ctr/memory.memsw.limit_in_bytes = 2097152",
            "/nonexistent/memory/ctr/memory.swappiness = 10",
            "/nonexistent/cpuset/ctr/cpuset.cpus = 0",
            "/nonexistent/cpu/ctr/cpu.shares = 512",
            "/nonexistent/cpu/ctr/cpu.cfs_period_us = 100000",
            "/nonexistent/cpu/ctr/cpu.cfs_quota_us = 50000",
            "/nonexistent/pids/ctr/pids.max = 20",
            "/nonexistent/blkio/ctr/blkio.weight = 300",
            "/nonexistent/blkio/ctr/blkio.throttle.read_bps_device = 8:0 1000",
            "/nonexistent/devices/ctr/devices.deny = a *:* rwm",
            "/nonexistent/devices/ctr/devices.allow = c 1:3 rw",
        ];
        assert_eq!(w[..want.len()], want);
        assert_eq!(w.len(), want.len() + DEFAULT_ALLOWED.len());
    }

    #[test]
    fn v2_converts_v1_values() {
        let w = writes(
            true,
            r#"{"memory":{"limit":1048576,"swap":3145728},
                "cpu":{"shares":1024,"quota":50000},
                "pids":{"limit":0},
                "blockIO":{"weight":500}}"#,
        );
        assert_eq!(
            w,
            [
                "/nonexistent/unified/ctr/memory.max = 1048576",
                "/nonexistent/unified/ctr/memory.swap.max = 2097152",
                "/nonexistent/unified/ctr/cpu.weight = 39",
                "/nonexistent/unified/ctr/cpu.max = 50000 100000",
                "/nonexistent/unified/ctr/pids.max = max",
                "/nonexistent/unified/ctr/io.weight = default 4950",
            ]
        );
    }

    #[test]
    fn v2_device_rules_become_a_program_with_deny_all_first() {
        let r: LinuxResources = serde_json::from_str(
            r#"{"devices":[{"allow":true,"type":"c","major":1,"minor":11,"access":"r"}]}"#,
        )
        .unwrap();
        let planned = plan(&cgroups(true), Some(&r)).unwrap();
        let policy = planned.devices.unwrap();
        let (dir, rules) = (policy.dir.clone(), policy.parsed().unwrap());
        assert!(policy.v2);
        assert_eq!(dir, PathBuf::from("/nonexistent/unified/ctr"));
        assert!(!rules[0].allow && rules[0].typ.is_none());
        assert_eq!(rules[1].major, Some(1));
        assert_eq!(rules.len(), 2 + DEFAULT_ALLOWED.len());
    }

    /// What the state records is what was applied, on v1 and v2 alike:
    /// deny all, the config's rules, the defaults; nothing without a
    /// device policy (rootless).
    #[test]
    fn the_device_record_is_the_rules_applied() {
        let r: LinuxResources = serde_json::from_str(
            r#"{"devices":[{"allow":true,"type":"c","major":1,"minor":11,"access":"wr"},
                           {"allow":true,"type":"p"}]}"#,
        )
        .unwrap();
        for v2 in [false, true] {
            let planned = plan(&cgroups(v2), Some(&r)).unwrap();
            let record = planned.device_record();
            assert_eq!(record[..2], ["deny a *:* rwm", "allow c 1:11 wr"]);
            assert_eq!(record.len(), 2 + DEFAULT_ALLOWED.len());
            assert!(planned.without_device_policy().device_record().is_empty());
        }
        // Spellings of one rule are one rule to `update`, which compares
        // them parsed; a fifo is no device rule.
        let rules = |json: &str| {
            let r: LinuxResources = serde_json::from_str(json).unwrap();
            let p = plan(&cgroups(true), Some(&r)).unwrap();
            p.devices.unwrap().parsed().unwrap()
        };
        assert_eq!(
            rules(r#"{"devices":[{"allow":true,"type":"u","major":1,"minor":11,"access":"wr"}]}"#),
            rules(
                r#"{"devices":[{"allow":true,"type":"c","major":1,"minor":11,"access":"rw"},
                                 {"allow":true,"type":"p","major":1,"minor":2}]}"#
            )
        );
        assert_eq!(
            rules(r#"{"devices":[{"allow":false}]}"#),
            rules(r#"{"devices":[{"allow":false,"type":"a","access":"rwm"}]}"#)
        );
        assert_ne!(
            rules(r#"{"devices":[{"allow":true,"type":"c","major":1,"access":"rw"}]}"#),
            rules(r#"{"devices":[{"allow":true,"type":"c","major":1,"minor":11,"access":"rw"}]}"#)
        );
        let bad: LinuxResources =
            serde_json::from_str(r#"{"devices":[{"allow":true,"access":"rwx"}]}"#).unwrap();
        let huge: LinuxResources =
            serde_json::from_str(r#"{"devices":[{"allow":true,"type":"c","major":4294967296}]}"#)
                .unwrap();
        for v2 in [false, true] {
            let e = plan(&cgroups(v2), Some(&bad)).unwrap_err().to_string();
            assert!(e.contains("linux.resources.devices[0].access"), "{e}");
            let e = plan(&cgroups(v2), Some(&huge)).unwrap_err().to_string();
            assert!(e.contains("linux.resources.devices[0].major"), "{e}");
        }
    }

    /// A fake cgroupfs: a directory with the v1 memory files.
    #[test]
    fn writes_land_in_the_files_and_memsw_goes_first_when_it_must() {
        let base = std::env::temp_dir().join(format!("berth-fakecg-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        let c = Cgroups {
            dirs: vec![Dir {
                path: base.clone(),
                v2: false,
                controllers: vec!["memory".into()],
                created: Vec::new(),
            }],
            ..Cgroups::default()
        };
        // The "kernel" refuses a limit above memsw: a directory named like
        // the file makes the first write fail.
        std::fs::create_dir(base.join("memory.limit_in_bytes")).unwrap();
        let r: LinuxResources =
            serde_json::from_str(r#"{"memory":{"limit":100,"swap":200}}"#).unwrap();
        let planned = plan(&c, Some(&r)).unwrap();
        let err = apply_limits(&planned).unwrap_err().to_string();
        // memsw was written before the limit was tried again.
        assert_eq!(
            std::fs::read_to_string(base.join("memory.memsw.limit_in_bytes")).unwrap(),
            "200"
        );
        assert!(err.contains("memory.limit_in_bytes"), "{err}");
        std::fs::remove_dir(base.join("memory.limit_in_bytes")).unwrap();
        apply_limits(&planned).unwrap();
        assert_eq!(
            std::fs::read_to_string(base.join("memory.limit_in_bytes")).unwrap(),
            "100"
        );
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// A v2 file missing because the parent does not pass its controller
    /// on is explained; one whose controller is passed on, and a v1 file
    /// (no cgroup.controllers), are not.
    #[test]
    fn a_file_a_parent_does_not_allow_names_the_parent() {
        let base = std::env::temp_dir().join(format!("berth-fakev2-{}", std::process::id()));
        let dir = base.join("c");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(base.join("cgroup.controllers"), "memory").unwrap();
        let huge = dir.join("hugetlb.2MB.max");
        assert_eq!(
            not_passed_on(&huge).unwrap(),
            format!(
                "the hugetlb controller is not enabled for {} ({} does not pass it on)",
                dir.display(),
                base.join("cgroup.subtree_control").display()
            )
        );
        assert!(not_passed_on(&dir.join("memory.max")).is_none());
        std::fs::remove_file(base.join("cgroup.controllers")).unwrap();
        assert!(not_passed_on(&huge).is_none());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn what_a_version_cannot_do_is_refused_by_name() {
        let refused = |v2: bool, json: &str| {
            let r: LinuxResources = serde_json::from_str(json).unwrap();
            plan(&cgroups(v2), Some(&r)).unwrap_err().to_string()
        };
        assert!(refused(true, r#"{"memory":{"swappiness":10}}"#).contains("memory.swappiness"));
        assert!(refused(false, r#"{"unified":{"memory.high":"1"}}"#).contains("unified"));
        assert!(refused(true, r#"{"unified":{"cgroup.procs":"1"}}"#).contains("cgroup.procs"));
    }
}
