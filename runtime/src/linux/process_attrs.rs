//! Per-process settings from `process`: oomScoreAdj, ioPriority,
//! scheduler, personality and CPU affinity. Each is one system call (or
//! one /proc write) made on the init process before execve (by the parent
//! for oomScoreAdj), so the user program inherits it.

use nix::errno::Errno;
use oci_spec::runtime::{
    IOPriorityClass, Linux, LinuxIOPriority, LinuxPersonality, LinuxPersonalityDomain,
    LinuxSchedulerFlag, LinuxSchedulerPolicy, Process, Scheduler,
};

use crate::error::{Error, Result, SysResult};

/// Every check the setters below make, run before anything is created.
pub fn validate(process: &Process, linux: &Linux) -> Result<()> {
    if let Some(v) = process.oom_score_adj() {
        if !(-1000..=1000).contains(&v) {
            return Err(Error::invalid(format!(
                "process.oomScoreAdj {v} is outside -1000..1000"
            )));
        }
    }
    if let Some(p) = process.io_priority() {
        ioprio_value(p)?;
    }
    if let Some(s) = process.scheduler() {
        sched_attr(s)?;
    }
    if let Some(p) = linux.personality() {
        personality_value(p)?;
    }
    if let Some(a) = process.exec_cpu_affinity() {
        for list in [a.initial(), a.cpu_affinity_final()].into_iter().flatten() {
            parse_cpu_list(list)?;
        }
    }
    Ok(())
}

/// Written by the parent to /proc/PID: lowering it needs CAP_SYS_RESOURCE
/// in the host's user namespace, which init in a user namespace lacks.
pub fn oom_score_adj(pid: nix::unistd::Pid, value: i32) -> Result<()> {
    let path = std::path::PathBuf::from(format!("/proc/{pid}/oom_score_adj"));
    std::fs::write(&path, value.to_string())
        .sys_path(&format!("process.oomScoreAdj {value}: write"), &path)
}

const IOPRIO_WHO_PROCESS: libc::c_int = 1;
const IOPRIO_CLASS_SHIFT: u32 = 13;

fn ioprio_value(p: &LinuxIOPriority) -> Result<u32> {
    let class: u32 = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let level = p.priority();
    if !(0..=7).contains(&level) {
        return Err(Error::invalid(format!(
            "process.ioPriority.priority {level} is outside 0..7"
        )));
    }
    Ok((class << IOPRIO_CLASS_SHIFT) | level as u32)
}

pub fn io_priority(p: &LinuxIOPriority) -> Result<()> {
    let value = ioprio_value(p)?;
    // SAFETY: ioprio_set takes three integers and touches no memory.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    Errno::result(r)
        .map(drop)
        .sys("ioprio_set (process.ioPriority)")
}

/// The kernel's struct sched_attr (sched_setattr(2)), version 1.
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

fn sched_attr(s: &Scheduler) -> Result<SchedAttr> {
    use LinuxSchedulerPolicy::*;
    let policy = match s.policy() {
        SchedOther => 0,
        SchedFifo => 1,
        SchedRr => 2,
        SchedBatch => 3,
        SchedIso => 4,
        SchedIdle => 5,
        SchedDeadline => 6,
    };
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(Error::invalid(format!(
            "process.scheduler.nice {nice} is outside -20..19"
        )));
    }
    let priority = s.priority().unwrap_or(0);
    let realtime = matches!(s.policy(), SchedFifo | SchedRr);
    if realtime != (priority != 0) {
        return Err(Error::invalid(format!(
            "process.scheduler.priority {priority}: SCHED_FIFO and SCHED_RR need 1..99, \
             other policies 0"
        )));
    }
    let flags = s.flags().iter().flatten().fold(0u64, |acc, f| {
        acc | match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        }
    });
    Ok(SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice,
        priority: priority as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        ..Default::default()
    })
}

pub fn scheduler(s: &Scheduler) -> Result<()> {
    let attr = sched_attr(s)?;
    // SAFETY: attr is a valid sched_attr whose size field matches its
    // layout; the kernel only reads it.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    Errno::result(r)
        .map(drop)
        .sys("sched_setattr (process.scheduler)")
}

const PER_LINUX: libc::c_ulong = 0x0000;
const PER_LINUX32: libc::c_ulong = 0x0008;

fn personality_value(p: &LinuxPersonality) -> Result<libc::c_ulong> {
    if let Some(f) = p.flags().iter().flatten().next() {
        // The spec defines no flags yet; guessing at one would run the
        // program differently than asked.
        return Err(Error::invalid(format!(
            "linux.personality.flags: unknown flag {f:?}"
        )));
    }
    Ok(match p.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    })
}

pub fn personality(p: &LinuxPersonality) -> Result<()> {
    let domain = personality_value(p)?;
    // SAFETY: personality takes an integer and touches no memory.
    let r = unsafe { libc::personality(domain) };
    Errno::result(r)
        .map(drop)
        .sys("personality (linux.personality)")
}

/// A CPU list as in execCPUAffinity and cpusets: `0-3,7`.
pub fn parse_cpu_list(text: &str) -> Result<Vec<usize>> {
    let bad = || Error::invalid(format!("CPU list {text:?} is not like 0-3,7"));
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if a > b || b >= libc::CPU_SETSIZE as usize {
            return Err(bad());
        }
        cpus.extend(a..=b);
    }
    Ok(cpus)
}

pub fn cpu_affinity(text: &str) -> Result<()> {
    let mut set = nix::sched::CpuSet::new();
    for cpu in parse_cpu_list(text)? {
        set.set(cpu).sys("CPU set")?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .sys(format_args!("sched_setaffinity {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_expand_ranges() {
        assert_eq!(parse_cpu_list("0-3,7").unwrap(), vec![0, 1, 2, 3, 7]);
        assert_eq!(parse_cpu_list("1").unwrap(), vec![1]);
        for bad in ["3-1", "x", "1-", "99999"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sched_attr_has_the_kernels_size() {
        // SCHED_ATTR_SIZE_VER1
        assert_eq!(std::mem::size_of::<SchedAttr>(), 56);
    }
}
