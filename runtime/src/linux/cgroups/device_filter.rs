//! linux.resources.devices on cgroup v2: an eBPF program of type
//! BPF_PROG_TYPE_CGROUP_DEVICE, made from the rules and attached to the
//! container's cgroup (v2 has no devices.allow file).
//!
//! The rules keep their v1 meaning: the last rule that matches a request
//! decides, a request no rule matches is allowed (v1 starts from "a *:*
//! rwm"); an allow rule matches when it grants every access asked for, a
//! deny rule when it forbids any of them. The program checks the rules
//! from the last to the first:
//!
//! ```text
//! r2 = ctx->access_type; r3 = r2 & 0xffff (type); r4 = r2 >> 16 (access)
//! r5 = ctx->major; r6 = ctx->minor
//! per rule: type, major, minor and access checks, each jumping to the
//!           next rule on a mismatch; then r0 = allow; exit
//! r0 = 1; exit
//! ```

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;

use crate::error::{Error, Result, SysResult};

/// struct bpf_insn.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

// Opcodes (linux/bpf.h, linux/bpf_common.h).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const MOV32_REG: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const MOV32_IMM: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const AND32_IMM: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH32_IMM: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const JNE_IMM: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JEQ_IMM: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// struct bpf_cgroup_dev_ctx and its values.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

/// One v1 rule, as the program checks it (and `update` compares it: two
/// spellings of a rule, "c 1:3 wr" and "c 1:3 rw", are one rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// None: any type ("a").
    pub typ: Option<i32>,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: i32,
}

impl Rule {
    /// The rule in v1's syntax ("c 1:3 rwm", "a *:* rwm"), for devices.allow
    /// or devices.deny as `allow` says.
    pub fn v1_text(&self) -> String {
        let typ = match self.typ {
            None => 'a',
            Some(DEV_BLOCK) => 'b',
            Some(_) => 'c',
        };
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        let access: String = [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')]
            .iter()
            .filter(|(bit, _)| self.access & bit != 0)
            .map(|(_, c)| c)
            .collect();
        format!("{typ} {}:{} {access}", num(self.major), num(self.minor))
    }

    /// A rule in v1's syntax ("c 1:3 rwm"; devices.list's lines), None if
    /// it is not one.
    pub fn parse_v1(allow: bool, text: &str) -> Option<Rule> {
        let mut f = text.split_whitespace();
        let typ = match f.next()? {
            "a" => None,
            "b" => Some(DEV_BLOCK),
            "c" => Some(DEV_CHAR),
            _ => return None,
        };
        let (major, minor) = f.next().unwrap_or("*:*").split_once(':')?;
        let num = |n: &str| match n {
            "*" => Some(None),
            n => n.parse().ok().map(Some),
        };
        let access = access_bits(f.next().unwrap_or("rwm"))?;
        f.next().is_none().then_some(Rule {
            allow,
            typ,
            major: num(major)?,
            minor: num(minor)?,
            access,
        })
    }
}

/// "rwm" and any part of it as the program's access bits; None for any
/// other letter.
fn access_bits(text: &str) -> Option<i32> {
    text.chars().try_fold(0, |acc, c| {
        Some(
            acc | match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => return None,
            },
        )
    })
}

/// The state's form of a rule (see `Cgroups::devices`): "allow c 1:3 rwm".
impl From<Rule> for String {
    fn from(r: Rule) -> String {
        let verb = if r.allow { "allow" } else { "deny" };
        format!("{verb} {}", r.v1_text())
    }
}

impl TryFrom<String> for Rule {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Rule, String> {
        let parsed = match s.split_once(' ') {
            Some(("allow", rest)) => Rule::parse_v1(true, rest),
            Some(("deny", rest)) => Rule::parse_v1(false, rest),
            _ => None,
        };
        parsed.ok_or_else(|| format!("not a device rule: {s:?}"))
    }
}

pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(MOV32_REG, 3, 2, 0, 0),
        insn(AND32_IMM, 3, 0, 0, 0xffff),
        insn(MOV32_REG, 4, 2, 0, 0),
        insn(RSH32_IMM, 4, 0, 0, 16),
        insn(LDX_MEM_W, 5, 1, 4, 0),
        insn(LDX_MEM_W, 6, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        // Checks are emitted with a placeholder offset to the block's end.
        let mut block: Vec<Insn> = Vec::new();
        if let Some(t) = r.typ {
            block.push(insn(JNE_IMM, 3, 0, 0, t));
        }
        if let Some(m) = r.major {
            block.push(insn(JNE_IMM, 5, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            block.push(insn(JNE_IMM, 6, 0, 0, m as i32));
        }
        block.push(insn(MOV32_REG, 7, 4, 0, 0));
        if r.allow {
            // Asked-for access outside the rule's: not this rule.
            block.push(insn(AND32_IMM, 7, 0, 0, !r.access & 7));
            block.push(insn(JNE_IMM, 7, 0, 0, 0));
        } else {
            // No asked-for access the rule forbids: not this rule.
            block.push(insn(AND32_IMM, 7, 0, 0, r.access));
            block.push(insn(JEQ_IMM, 7, 0, 0, 0));
        }
        block.push(insn(MOV32_IMM, 0, 0, 0, i32::from(r.allow)));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if matches!(ins.code, JNE_IMM | JEQ_IMM) {
                ins.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(insn(MOV32_IMM, 0, 0, 0, 1));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

fn bpf(cmd: i32, attr: &mut [u8; 128]) -> std::result::Result<i64, Errno> {
    // SAFETY: attr is a zero-padded union bpf_attr of the size passed; the
    // kernel reads it (and the buffers it points to, alive here).
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    Errno::result(r)
}

// bpf(2) commands, and what the device filter is to them.
const PROG_LOAD: i32 = 5;
const PROG_ATTACH: i32 = 8;
const PROG_DETACH: i32 = 9;
const PROG_GET_FD_BY_ID: i32 = 13;
const PROG_QUERY: i32 = 16;
const PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const ATTACH_CGROUP_DEVICE: u32 = 6;
const F_ALLOW_MULTI: u32 = 2;

/// Loads the program made of `rules`.
fn load(rules: &[Rule]) -> Result<OwnedFd> {
    let prog = program(rules);
    let license = c"Apache-2.0";
    // Without a log first: a verbose log that does not fit its buffer fails
    // the load. The log is asked for only to explain a failure.
    let load = |log: &mut [u8]| {
        let mut attr = [0u8; 128];
        attr[0..4].copy_from_slice(&PROG_TYPE_CGROUP_DEVICE.to_ne_bytes());
        attr[4..8].copy_from_slice(&(prog.len() as u32).to_ne_bytes());
        attr[8..16].copy_from_slice(&(prog.as_ptr() as u64).to_ne_bytes());
        attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
        if !log.is_empty() {
            attr[24..28].copy_from_slice(&1u32.to_ne_bytes()); // log_level
            attr[28..32].copy_from_slice(&(log.len() as u32).to_ne_bytes());
            attr[32..40].copy_from_slice(&(log.as_mut_ptr() as u64).to_ne_bytes());
        }
        bpf(PROG_LOAD, &mut attr)
    };
    let fd = load(&mut []).map_err(|e| {
        let mut log = vec![0u8; 1 << 20];
        let _ = load(&mut log);
        let text = String::from_utf8_lossy(&log);
        let last = text
            .trim_end_matches('\0')
            .trim()
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        Error::sys(
            format_args!(
                "bpf(BPF_PROG_LOAD) of the device filter for linux.resources.devices ({last})"
            ),
            e,
        )
    })?;
    // SAFETY: a fresh descriptor from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// BPF_PROG_ATTACH or BPF_PROG_DETACH of `prog` on the cgroup `cgroup`.
fn attach_cmd(
    cmd: i32,
    cgroup: &std::fs::File,
    prog: &OwnedFd,
    flags: u32,
) -> std::result::Result<(), Errno> {
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&(cgroup.as_raw_fd() as u32).to_ne_bytes());
    attr[4..8].copy_from_slice(&(prog.as_raw_fd() as u32).to_ne_bytes());
    attr[8..12].copy_from_slice(&ATTACH_CGROUP_DEVICE.to_ne_bytes());
    attr[12..16].copy_from_slice(&flags.to_ne_bytes());
    bpf(cmd, &mut attr).map(drop)
}

/// Loads the program and attaches it to the cgroup directory `dir`: create's
/// case, a cgroup with no filter of the container's yet.
pub fn attach(dir: &Path, rules: &[Rule]) -> Result<()> {
    let prog = load(rules)?;
    let cgroup = std::fs::File::open(dir).sys_path("open cgroup", dir)?;
    attach_cmd(PROG_ATTACH, &cgroup, &prog, F_ALLOW_MULTI)
        .sys_path("bpf(BPF_PROG_ATTACH) of the device filter to", dir)
}

/// The ids of the device programs attached to the cgroup itself (not
/// those it inherits).
fn attached(cgroup: &std::fs::File) -> std::result::Result<Vec<u32>, Errno> {
    // 64 is the kernel's limit per cgroup and attach type; ENOSPC (with
    // the count) if that ever grows.
    let mut ids = vec![0u32; 64];
    loop {
        let mut attr = [0u8; 128];
        attr[0..4].copy_from_slice(&(cgroup.as_raw_fd() as u32).to_ne_bytes());
        attr[4..8].copy_from_slice(&ATTACH_CGROUP_DEVICE.to_ne_bytes());
        attr[16..24].copy_from_slice(&(ids.as_mut_ptr() as u64).to_ne_bytes());
        attr[24..28].copy_from_slice(&(ids.len() as u32).to_ne_bytes());
        let r = bpf(PROG_QUERY, &mut attr);
        let count = u32::from_ne_bytes(attr[24..28].try_into().expect("4 bytes")) as usize;
        match r {
            Ok(_) => {
                ids.truncate(count);
                return Ok(ids);
            }
            Err(Errno::ENOSPC) if count > ids.len() => ids.resize(count, 0),
            Err(e) => return Err(e),
        }
    }
}

/// A program by id, None once it is gone.
fn by_id(id: u32) -> std::result::Result<Option<OwnedFd>, Errno> {
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&id.to_ne_bytes());
    match bpf(PROG_GET_FD_BY_ID, &mut attr) {
        // SAFETY: a fresh descriptor from the kernel.
        Ok(fd) => Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `update`'s case: the cgroup's filter replaced by one made of `rules`.
/// The new program is attached before the old ones are detached: in
/// between both filter (a device must pass both), so there is never a
/// moment without one, and a device both allow stays allowed throughout.
/// Every device program attached to the cgroup itself goes, as with runc:
/// the container's (one, from create or the last update) and any left
/// by an update that failed half-way.
pub fn replace(dir: &Path, rules: &[Rule]) -> Result<()> {
    let cgroup = std::fs::File::open(dir).sys_path("open cgroup", dir)?;
    let old = attached(&cgroup).sys_path("bpf(BPF_PROG_QUERY) of the device filters of", dir)?;
    let prog = load(rules)?;
    attach_cmd(PROG_ATTACH, &cgroup, &prog, F_ALLOW_MULTI)
        .sys_path("bpf(BPF_PROG_ATTACH) of the device filter to", dir)?;
    for id in old {
        let fd = match by_id(id) {
            Ok(Some(fd)) => fd,
            // Detached (and freed) meanwhile.
            Ok(None) => continue,
            // A program an LSM keeps from us (another manager's, as runc
            // notes for systemd's under SELinux): left attached, which only
            // ever denies more.
            Err(Errno::EPERM | Errno::EACCES) => {
                log::debug!(
                    "device filter {id} on {}: not ours to detach",
                    dir.display()
                );
                continue;
            }
            Err(e) => {
                return Err(Error::sys(
                    format_args!("bpf(BPF_PROG_GET_FD_BY_ID) of device filter {id}"),
                    e,
                ))
            }
        };
        match attach_cmd(PROG_DETACH, &cgroup, &fd, 0) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => {
                return Err(Error::sys(
                    format_args!(
                        "bpf(BPF_PROG_DETACH) of the old device filter {id} from {}",
                        dir.display()
                    ),
                    e,
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program on one request, as the kernel would.
    fn run(p: &[Insn], typ: i32, major: u32, minor: u32, access: i32) -> u32 {
        let ctx = [((access << 16) | typ) as u32, major, minor];
        let mut r = [0u64; 11];
        r[1] = 0;
        let mut pc = 0;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let mut next = pc + 1;
            match i.code {
                LDX_MEM_W => r[dst] = u64::from(ctx[i.off as usize / 4]),
                MOV32_REG => r[dst] = r[src] & 0xffff_ffff,
                MOV32_IMM => r[dst] = i.imm as u32 as u64,
                AND32_IMM => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                RSH32_IMM => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
                JNE_IMM if r[dst] != i.imm as u32 as u64 => next = pc + 1 + i.off as usize,
                JEQ_IMM if r[dst] == i.imm as u32 as u64 => next = pc + 1 + i.off as usize,
                JNE_IMM | JEQ_IMM => {}
                EXIT => return r[0] as u32,
                c => panic!("opcode {c:#x}"),
            }
            pc = next;
        }
    }

    #[test]
    fn the_last_matching_rule_decides_as_in_v1() {
        let rules: Vec<Rule> = [
            "deny a *:* rwm",
            "allow c 1:3 rw",
            "allow c 136:* rwm",
            "deny c 136:5 w",
        ]
        .iter()
        .map(|t| Rule::try_from(t.to_string()).unwrap())
        .collect();
        let p = program(&rules);
        let (c, b) = (DEV_CHAR, DEV_BLOCK);
        assert_eq!(run(&p, c, 1, 3, ACC_READ | ACC_WRITE), 1);
        assert_eq!(run(&p, c, 1, 3, ACC_MKNOD), 0, "m is not granted for 1:3");
        assert_eq!(run(&p, c, 1, 5, ACC_READ), 0, "denied by the first rule");
        assert_eq!(run(&p, b, 1, 3, ACC_READ), 0, "type matters");
        assert_eq!(run(&p, c, 136, 9, ACC_WRITE), 1, "minor wildcard");
        assert_eq!(run(&p, c, 136, 5, ACC_READ), 1);
        assert_eq!(
            run(&p, c, 136, 5, ACC_READ | ACC_WRITE),
            0,
            "the later deny on w"
        );
        // Without a deny-all rule, unmatched requests are allowed.
        let p = program(&[Rule::parse_v1(true, "c 1:3 rwm").unwrap()]);
        assert_eq!(run(&p, b, 8, 0, ACC_READ), 1);
    }

    #[test]
    fn rules_read_and_written_as_the_state_records_them() {
        let list = [
            "deny a *:* rwm",
            "allow c 1:11 rw",
            "deny b 8:* m",
            "allow c 136:* rwm",
        ];
        for text in list {
            let r = Rule::try_from(text.to_string()).unwrap();
            assert_eq!(String::from(r), text);
        }
        let wr = Rule::try_from("allow c 1:11 wr".to_string()).unwrap();
        assert_eq!(wr, Rule::try_from("allow c 1:11 rw".to_string()).unwrap());
        for bad in [
            "allow x 1:3 rwm",
            "c 1:3 rwm",
            "allow c 1 rwm",
            "allow c 1:3 rwx",
            "allow c 1:3 rwm extra",
            "allow c -1:3 rwm",
        ] {
            assert!(Rule::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }
}
