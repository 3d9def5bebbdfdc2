//! linux.seccomp, compiled to a BPF program by berth itself (no
//! libseccomp) and loaded with seccomp(2).
//!
//! The program, for every ABI in the filter:
//!
//! ```text
//!       ld arch; one jeq per audit number ─▶ its section; else kill
//! sec:  ld nr
//!       [x86_64: nr ≥ 0x40000000 ─▶ the x32 section, or kill]
//!       [nr above every syscall the profile names ─▶ ENOSYS]
//!       per syscall with rules: jeq nr, else skip the block
//!           per rule (config order): its argument checks (seccompiler's
//!           SeccompRule), then ret its action; a rule without arguments
//!           is just the ret
//!           ret default
//!       ret default
//! ```
//!
//! seccompiler generates the argument comparisons; the rest (an action per
//! rule, several ABIs, flags, no forced no_new_privs) it cannot express.

pub mod arch;
pub mod bpf;

use std::collections::BTreeMap;
use std::os::fd::{FromRawFd, OwnedFd};

use nix::errno::Errno;
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction as Action, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator as Op,
};
use seccompiler::{
    sock_filter, BpfProgram, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompRule,
};

use crate::error::{Error, Result, SysResult};
use arch::{Abi, X32_SYSCALL_BIT};
use bpf::{Asm, Label, JEQ_K, JGE_K, JGT_K};

/// SECCOMP_RET_* of linux/seccomp.h.
mod ret {
    pub const KILL_PROCESS: u32 = 0x8000_0000;
    pub const KILL_THREAD: u32 = 0x0000_0000;
    pub const TRAP: u32 = 0x0003_0000;
    pub const ERRNO: u32 = 0x0005_0000;
    pub const USER_NOTIF: u32 = 0x7fc0_0000;
    pub const TRACE: u32 = 0x7ff0_0000;
    pub const LOG: u32 = 0x7ffc_0000;
    pub const ALLOW: u32 = 0x7fff_0000;
}

/// SECCOMP_FILTER_FLAG_* of linux/seccomp.h.
mod flag {
    pub const TSYNC: u32 = 1;
    pub const LOG: u32 = 2;
    pub const SPEC_ALLOW: u32 = 4;
    pub const NEW_LISTENER: u32 = 8;
    pub const TSYNC_ESRCH: u32 = 16;
    pub const WAIT_KILLABLE_RECV: u32 = 32;
}

/// The longest program the kernel loads (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;

/// A compiled filter, made by the parent before clone.
#[derive(Debug, Clone)]
pub struct Filter {
    pub program: Vec<sock_filter>,
    /// SECCOMP_FILTER_FLAG_* to load it with.
    pub flags: u32,
    /// Some rule notifies a listener: loading returns its descriptor.
    pub notify: bool,
}

/// What `features` reports.
pub const ACTIONS: [&str; 9] = [
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_LOG",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_NOTIFY",
];
pub const OPERATORS: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];
pub const FLAGS: [&str; 4] = [
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// The return value of an action; `errno` is the rule's errnoRet (or the
/// default's), EPERM when unset, as in runc.
fn action_value(a: Action, errno: Option<u32>) -> u32 {
    let data = errno.unwrap_or(libc::EPERM as u32) & 0xffff;
    match a {
        Action::ScmpActKill | Action::ScmpActKillThread => ret::KILL_THREAD,
        Action::ScmpActKillProcess => ret::KILL_PROCESS,
        Action::ScmpActTrap => ret::TRAP,
        Action::ScmpActErrno => ret::ERRNO | data,
        Action::ScmpActTrace => ret::TRACE | data,
        Action::ScmpActLog => ret::LOG,
        Action::ScmpActAllow => ret::ALLOW,
        Action::ScmpActNotify => ret::USER_NOTIF,
    }
}

/// One rule of one syscall in one ABI: argument conditions (none: always)
/// and the value to return.
struct Rule {
    conditions: Option<SeccompRule>,
    action: u32,
}

/// Per ABI, syscall number → its rules, syscalls in the order the profile
/// first names them.
type Table = Vec<(u32, Vec<Rule>)>;

pub fn compile(s: &LinuxSeccomp) -> Result<Filter> {
    if s.default_action() == Action::ScmpActNotify {
        return Err(Error::invalid(
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    let errno = |field: String, e: Option<u32>| match e {
        Some(v) if v > 0xffff => Err(Error::invalid(format!(
            "linux.seccomp.{field} {v} does not fit the 16 bits a filter returns"
        ))),
        _ => Ok(()),
    };
    errno("defaultErrnoRet".into(), s.default_errno_ret())?;
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        errno(format!("syscalls[{i}].errnoRet"), sc.errno_ret())?;
        // Checked whether or not the rule ends up in the filter (it is
        // left out when it returns the default, or names no syscall of the
        // filtered ABIs), so that a bad profile is bad on every machine.
        for (j, a) in sc.args().iter().flatten().enumerate() {
            if a.index() >= 6 {
                return Err(Error::invalid(format!(
                    "linux.seccomp.syscalls[{i}].args[{j}]: argument index {} is not 0..5",
                    a.index()
                )));
            }
        }
    }
    let default = action_value(s.default_action(), s.default_errno_ret());
    let abis = abis(s);
    let mut tables: BTreeMap<Abi, Table> = abis.iter().map(|a| (*a, Vec::new())).collect();
    let mut highest: BTreeMap<Abi, u32> = BTreeMap::new();
    let mut notify = false;
    let (mut unknown, mut elsewhere) = (Vec::new(), 0);

    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let action = action_value(sc.action(), sc.errno_ret());
        let at = |what: String| Error::invalid(format!("linux.seccomp.syscalls[{i}]: {what}"));
        if sc.action() == Action::ScmpActNotify {
            notify = true;
            if sc.names().iter().any(|n| n == "sendmsg") {
                // init sends the listener's descriptor with sendmsg once
                // the filter is loaded: it would wait for itself.
                return Err(at("SCMP_ACT_NOTIFY on sendmsg is not supported".into()));
            }
        }
        for name in sc.names() {
            let mut known = false;
            for abi in &abis {
                let Some(nr) = abi.syscall(name) else {
                    continue;
                };
                known = true;
                let top = highest.entry(*abi).or_insert(0);
                *top = (*top).max(nr);
                // As runc does: a rule that returns the default is no rule.
                if action == default {
                    continue;
                }
                let Some(conditions) = conditions(sc.args().as_deref(), *abi).map_err(at)? else {
                    continue; // can never match
                };
                let table = tables.get_mut(abi).expect("every ABI has a table");
                let pos = match table.iter().position(|(n, _)| *n == nr) {
                    Some(p) => p,
                    None => {
                        table.push((nr, Vec::new()));
                        table.len() - 1
                    }
                };
                // The first rule that matches decides: one after an
                // unconditional rule, or after one with the same checks,
                // can never be reached (duplicates are common in
                // generated profiles).
                let rules = &mut table[pos].1;
                if !rules
                    .iter()
                    .any(|r| r.conditions.is_none() || r.conditions == conditions)
                {
                    rules.push(Rule { conditions, action });
                }
            }
            if !known {
                // Docker's profile names syscalls of other architectures
                // (send, recv): only a name no table knows is worth a
                // warning.
                if Abi::ALL.iter().any(|a| a.syscall(name).is_some()) {
                    elsewhere += 1;
                } else {
                    unknown.push((i, name.as_str()));
                }
            }
        }
    }
    if elsewhere > 0 {
        log::debug!("linux.seccomp: {elsewhere} syscalls do not exist on the filtered ABIs");
    }
    warn_unknown(&unknown);

    // Syscalls newer than the profile fail with ENOSYS, not the default,
    // so that libc falls back to an older call (clone3 to clone), as runc
    // arranges it.
    let stub = !matches!(
        s.default_action(),
        Action::ScmpActAllow | Action::ScmpActLog
    );
    let program = emit(&tables, &highest, default, stub);
    if program.len() > MAX_INSNS {
        return Err(Error::invalid(format!(
            "linux.seccomp: the filter compiles to {} instructions, more than the kernel's {MAX_INSNS}",
            program.len()
        )));
    }
    let mut flags = 0;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => flag::TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => flag::LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => flag::SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => flag::WAIT_KILLABLE_RECV,
        };
    }
    if !notify && flags & flag::WAIT_KILLABLE_RECV != 0 {
        // It only changes how a listener's wait is interrupted; the kernel
        // refuses it on a filter without one.
        flags &= !flag::WAIT_KILLABLE_RECV;
    }
    if notify {
        flags |= flag::NEW_LISTENER;
        if flags & flag::TSYNC != 0 {
            // The kernel refuses TSYNC with a listener unless a thread that
            // cannot sync is reported as ESRCH.
            flags |= flag::TSYNC_ESRCH;
        }
    }
    Ok(Filter {
        program,
        flags,
        notify,
    })
}

/// One warning, however many names a profile gets wrong: a generated
/// profile can hold thousands, and a log line each would bury the rest.
fn warn_unknown(unknown: &[(usize, &str)]) {
    const SHOWN: usize = 5;
    let show = |(i, name): &(usize, &str)| {
        let short: String = name.chars().take(64).collect();
        let cut = if short.len() < name.len() { "…" } else { "" };
        format!("syscalls[{i}] {short:?}{cut}")
    };
    match unknown {
        [] => {}
        [one] => log::warn!("linux.seccomp: unknown syscall {}, skipped", show(one)),
        many => {
            let list: Vec<String> = many.iter().take(SHOWN).map(show).collect();
            let more = if many.len() > SHOWN { ", …" } else { "" };
            log::warn!(
                "linux.seccomp: {} unknown syscalls skipped: {}{more}",
                many.len(),
                list.join(", ")
            );
        }
    }
}

/// The native ABI and the listed ones, once each; x86_64 with x32 when the
/// profile lists x32.
fn abis(s: &LinuxSeccomp) -> Vec<Abi> {
    let mut out = vec![Abi::NATIVE];
    for a in s.architectures().iter().flatten() {
        match Abi::from_spec(*a) {
            Some(abi) if !out.contains(&abi) => out.push(abi),
            Some(_) => {}
            None => log::warn!("linux.seccomp.architectures: {a:?} is not supported, skipped"),
        }
    }
    out.sort();
    out
}

/// A rule's argument checks; None when the rule can never match.
fn conditions(
    args: Option<&[LinuxSeccompArg]>,
    abi: Abi,
) -> std::result::Result<Option<Option<SeccompRule>>, String> {
    let args = args.unwrap_or_default();
    if args.is_empty() {
        return Ok(Some(None));
    }
    let len = if abi.wide_args() {
        SeccompCmpArgLen::Qword
    } else {
        SeccompCmpArgLen::Dword
    };
    let narrow = |v: u64| if abi.wide_args() { v } else { v & 0xffff_ffff };
    let mut conds = Vec::with_capacity(args.len());
    for a in args {
        let (op, value) = match a.op() {
            Op::ScmpCmpNe => (SeccompCmpOp::Ne, a.value()),
            Op::ScmpCmpLt => (SeccompCmpOp::Lt, a.value()),
            Op::ScmpCmpLe => (SeccompCmpOp::Le, a.value()),
            Op::ScmpCmpEq => (SeccompCmpOp::Eq, a.value()),
            Op::ScmpCmpGe => (SeccompCmpOp::Ge, a.value()),
            Op::ScmpCmpGt => (SeccompCmpOp::Gt, a.value()),
            // value is the mask, valueTwo the datum (runc, crun).
            Op::ScmpCmpMaskedEq => {
                let (mask, datum) = (narrow(a.value()), narrow(a.value_two().unwrap_or(0)));
                if datum & !mask != 0 {
                    return Ok(None);
                }
                (SeccompCmpOp::MaskedEq(mask), datum)
            }
        };
        let index = u8::try_from(a.index())
            .ok()
            .filter(|i| *i < 6)
            .ok_or_else(|| format!("argument index {} is not 0..5", a.index()))?;
        let c = SeccompCondition::new(index, len.clone(), op, narrow(value))
            .map_err(|e| e.to_string())?;
        conds.push(c);
    }
    SeccompRule::new(conds)
        .map(|r| Some(Some(r)))
        .map_err(|e| e.to_string())
}

fn emit(
    tables: &BTreeMap<Abi, Table>,
    highest: &BTreeMap<Abi, u32>,
    default: u32,
    stub: bool,
) -> Vec<sock_filter> {
    let mut a = Asm::default();
    let bad_arch = a.label();
    let enosys = a.label();
    let x32 = tables.contains_key(&Abi::X32).then(|| a.label());

    // ABIs sharing an audit number (x86_64 and x32) share a section.
    let sections: Vec<(Abi, Label)> = tables
        .keys()
        .filter(|abi| **abi != Abi::X32)
        .map(|abi| (*abi, a.label()))
        .collect();
    a.load(bpf::ARCH);
    for (abi, l) in &sections {
        a.jump_if(JEQ_K, abi.audit(), *l);
    }
    a.ret(ret::KILL_PROCESS);

    let body = |a: &mut Asm, abi: Abi| {
        if stub {
            if let Some(top) = highest.get(&abi) {
                a.jump_if(JGT_K, *top, enosys);
            }
        }
        let table = &tables[&abi];
        let mut i = 0;
        while i < table.len() {
            let run = simple_run(&table[i..]);
            if run > 0 {
                emit_simple_run(a, &table[i..i + run]);
                i += run;
            } else {
                emit_syscall(a, table[i].0, &table[i].1, default);
                i += 1;
            }
        }
        a.ret(default);
    };
    for (abi, l) in &sections {
        a.place(*l);
        a.load(bpf::NR);
        if *abi == Abi::X86_64 {
            a.jump_if(JGE_K, X32_SYSCALL_BIT, x32.unwrap_or(bad_arch));
        }
        body(&mut a, *abi);
    }
    if let Some(l) = x32 {
        a.place(l);
        body(&mut a, Abi::X32);
    }
    a.place(bad_arch);
    a.ret(ret::KILL_PROCESS);
    a.place(enosys);
    a.ret(ret::ERRNO | libc::ENOSYS as u32);
    a.finish()
}

/// A run of syscalls decided by their number alone is at most this long,
/// so that its jumps to the shared returns after it fit in 8 bits.
const RUN_MAX: usize = 200;
const RUN_ACTIONS_MAX: usize = 16;

/// How many syscalls from the start of `table` have one unconditional rule
/// (most of a profile), with few enough distinct actions.
fn simple_run(table: &[(u32, Vec<Rule>)]) -> usize {
    let mut actions = Vec::new();
    let mut n = 0;
    for (_, rules) in table.iter().take(RUN_MAX) {
        let Some(Rule {
            conditions: None,
            action,
        }) = rules.first()
        else {
            break;
        };
        if !actions.contains(action) {
            if actions.len() == RUN_ACTIONS_MAX {
                break;
            }
            actions.push(*action);
        }
        n += 1;
    }
    n
}

/// One instruction per syscall: `jeq nr` straight to a return shared by
/// the run, where the per-syscall block would take three.
fn emit_simple_run(a: &mut Asm, run: &[(u32, Vec<Rule>)]) {
    let action = |rules: &[Rule]| rules[0].action;
    let mut actions: Vec<u32> = Vec::new();
    for (_, rules) in run {
        if !actions.contains(&action(rules)) {
            actions.push(action(rules));
        }
    }
    let n = run.len();
    for (i, (nr, rules)) in run.iter().enumerate() {
        let k = actions.iter().position(|x| *x == action(rules)).unwrap();
        // From instruction i to the k-th ret, past the remaining jeqs and
        // the ja that skips the rets.
        let jt = (n - i) + k;
        a.emit(bpf::op(JEQ_K, jt as u8, 0, *nr));
    }
    let next = a.label();
    a.jump(next);
    for act in actions {
        a.ret(act);
    }
    a.place(next);
}

fn emit_syscall(a: &mut Asm, nr: u32, rules: &[Rule], default: u32) {
    let next = a.label();
    a.jump_unless(JEQ_K, nr, next);
    for rule in rules {
        match &rule.conditions {
            None => {
                a.ret(rule.action);
                a.place(next);
                return;
            }
            Some(r) => {
                // Its checks fall through on a match, and jump past the
                // ret that follows on a mismatch.
                a.extend(BpfProgram::from(r.clone()));
                a.ret(rule.action);
            }
        }
    }
    a.ret(default);
    a.place(next);
}

/// Loads the filter on the calling process; with a notifying rule, returns
/// the listener's descriptor.
pub fn load(f: &Filter) -> Result<Option<OwnedFd>> {
    let r = install(f).sys(format_args!(
        "seccomp(SECCOMP_SET_MODE_FILTER, flags {:#x}) loading linux.seccomp ({} instructions)",
        f.flags,
        f.program.len()
    ))?;
    // SAFETY: with NEW_LISTENER the result is a fresh descriptor we own.
    Ok(f.notify.then(|| unsafe { OwnedFd::from_raw_fd(r) }))
}

/// seccomp(2) alone, which a forked child may call before its execve: no
/// allocation, no error text. Returns the listener with NEW_LISTENER.
pub fn install(f: &Filter) -> nix::Result<i32> {
    let prog = libc::sock_fprog {
        len: f.program.len() as u16,
        // seccompiler's sock_filter is repr(C) with libc's layout.
        filter: f.program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prog points at f.program, alive for the call; the kernel
    // copies the program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            f.flags,
            &prog as *const libc::sock_fprog,
        )
    };
    Errno::result(r).map(|fd| fd as i32)
}

#[cfg(test)]
mod tests;
