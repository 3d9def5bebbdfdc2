//! Architectures a filter covers: their audit numbers (what the kernel puts
//! in `seccomp_data.arch`), their syscall tables, and how wide their
//! syscall arguments are.

use std::str::FromStr;

use oci_spec::runtime::Arch as SpecArch;

/// An ABI with a section of its own in the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Abi {
    X86_64,
    /// x86_64's audit number, syscall numbers with bit 30 set.
    X32,
    X86,
    Aarch64,
    Arm,
    Riscv64,
    S390x,
    Ppc64,
    Ppc64le,
    Ppc,
    Loongarch64,
    /// o32, big and little endian.
    Mips,
    Mipsel,
    /// n64, big and little endian.
    Mips64,
    Mipsel64,
}

/// Syscall numbers of the x32 ABI carry this bit.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

impl Abi {
    /// The ABI berth itself runs on, always in the filter.
    pub const NATIVE: Abi = if cfg!(target_arch = "x86_64") {
        Abi::X86_64
    } else if cfg!(target_arch = "aarch64") {
        Abi::Aarch64
    } else if cfg!(target_arch = "riscv64") {
        Abi::Riscv64
    } else if cfg!(target_arch = "s390x") {
        Abi::S390x
    } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
        Abi::Ppc64le
    } else if cfg!(target_arch = "powerpc64") {
        Abi::Ppc64
    } else if cfg!(target_arch = "loongarch64") {
        Abi::Loongarch64
    } else if cfg!(target_arch = "arm") {
        Abi::Arm
    } else {
        Abi::X86
    };

    /// The ABIs berth can filter, by their name in config.json; None for
    /// the ones it cannot (they are skipped with a warning).
    pub fn from_spec(a: SpecArch) -> Option<Abi> {
        Some(match a {
            SpecArch::ScmpArchNative => Abi::NATIVE,
            SpecArch::ScmpArchX86_64 => Abi::X86_64,
            SpecArch::ScmpArchX32 => Abi::X32,
            SpecArch::ScmpArchX86 => Abi::X86,
            SpecArch::ScmpArchAarch64 => Abi::Aarch64,
            SpecArch::ScmpArchArm => Abi::Arm,
            SpecArch::ScmpArchRiscv64 => Abi::Riscv64,
            SpecArch::ScmpArchS390x => Abi::S390x,
            SpecArch::ScmpArchPpc64 => Abi::Ppc64,
            SpecArch::ScmpArchPpc64le => Abi::Ppc64le,
            SpecArch::ScmpArchPpc => Abi::Ppc,
            SpecArch::ScmpArchLoongarch64 => Abi::Loongarch64,
            SpecArch::ScmpArchMips => Abi::Mips,
            SpecArch::ScmpArchMipsel => Abi::Mipsel,
            SpecArch::ScmpArchMips64 => Abi::Mips64,
            SpecArch::ScmpArchMipsel64 => Abi::Mipsel64,
            _ => return None,
        })
    }

    pub const ALL: [Abi; 15] = [
        Abi::X86_64,
        Abi::X32,
        Abi::X86,
        Abi::Aarch64,
        Abi::Arm,
        Abi::Riscv64,
        Abi::S390x,
        Abi::Ppc64,
        Abi::Ppc64le,
        Abi::Ppc,
        Abi::Loongarch64,
        Abi::Mips,
        Abi::Mipsel,
        Abi::Mips64,
        Abi::Mipsel64,
    ];

    /// The names `features` reports.
    pub const SUPPORTED: [&'static str; 16] = [
        "SCMP_ARCH_NATIVE",
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_ARM",
        "SCMP_ARCH_RISCV64",
        "SCMP_ARCH_S390X",
        "SCMP_ARCH_PPC64",
        "SCMP_ARCH_PPC64LE",
        "SCMP_ARCH_PPC",
        "SCMP_ARCH_LOONGARCH64",
        "SCMP_ARCH_MIPS",
        "SCMP_ARCH_MIPSEL",
        "SCMP_ARCH_MIPS64",
        "SCMP_ARCH_MIPSEL64",
    ];

    /// AUDIT_ARCH_* of linux/audit.h.
    pub fn audit(self) -> u32 {
        match self {
            Abi::X86_64 | Abi::X32 => 0xc000_003e,
            Abi::X86 => 0x4000_0003,
            Abi::Aarch64 => 0xc000_00b7,
            Abi::Arm => 0x4000_0028,
            Abi::Riscv64 => 0xc000_00f3,
            Abi::S390x => 0x8000_0016,
            Abi::Ppc64 => 0x8000_0015,
            Abi::Ppc64le => 0xc000_0015,
            Abi::Ppc => 0x0000_0014,
            Abi::Loongarch64 => 0xc000_0102,
            Abi::Mips => 0x0000_0008,
            Abi::Mipsel => 0x4000_0008,
            Abi::Mips64 => 0x8000_0008,
            Abi::Mipsel64 => 0xc000_0008,
        }
    }

    /// 32-bit ABIs pass 32-bit arguments; comparing the upper half would
    /// make a negative value never match (libseccomp compares 32 bits too).
    pub fn wide_args(self) -> bool {
        !matches!(
            self,
            Abi::X86 | Abi::X32 | Abi::Arm | Abi::Ppc | Abi::Mips | Abi::Mipsel
        )
    }

    /// The syscall's number in this ABI, None where it does not exist.
    pub fn syscall(self, name: &str) -> Option<u32> {
        fn id<T: FromStr>(name: &str, f: impl Fn(T) -> i32) -> Option<u32> {
            T::from_str(name).ok().map(|s| f(s) as u32)
        }
        use syscalls as s;
        match self {
            Abi::X86_64 => id(name, |x: s::x86_64::Sysno| x.id()),
            Abi::X32 => x32(name),
            Abi::X86 => id(name, |x: s::x86::Sysno| x.id()),
            Abi::Aarch64 => id(name, |x: s::aarch64::Sysno| x.id()),
            Abi::Arm => id(name, |x: s::arm::Sysno| x.id()),
            Abi::Riscv64 => id(name, |x: s::riscv64::Sysno| x.id()),
            Abi::S390x => id(name, |x: s::s390x::Sysno| x.id()),
            Abi::Ppc64 | Abi::Ppc64le => id(name, |x: s::powerpc64::Sysno| x.id()),
            Abi::Ppc => id(name, |x: s::powerpc::Sysno| x.id()),
            Abi::Loongarch64 => id(name, |x: s::loongarch64::Sysno| x.id()),
            Abi::Mips | Abi::Mipsel => id(name, |x: s::mips::Sysno| x.id()),
            Abi::Mips64 | Abi::Mipsel64 => id(name, |x: s::mips64::Sysno| x.id()),
        }
    }
}

/// x32 shares x86_64's table, with the syscalls whose arguments differ in
/// layout moved to 512 and up (arch/x86/entry/syscalls/syscall_64.tbl);
/// their x86_64 numbers do not exist for x32.
const X32_OWN: [(&str, u32); 36] = [
    ("rt_sigaction", 512),
    ("rt_sigreturn", 513),
    ("ioctl", 514),
    ("readv", 515),
    ("writev", 516),
    ("recvfrom", 517),
    ("sendmsg", 518),
    ("recvmsg", 519),
    ("execve", 520),
    ("ptrace", 521),
    ("rt_sigpending", 522),
    ("rt_sigtimedwait", 523),
    ("rt_sigqueueinfo", 524),
    ("sigaltstack", 525),
    ("timer_create", 526),
    ("mq_notify", 527),
    ("kexec_load", 528),
    ("waitid", 529),
    ("set_robust_list", 530),
    ("get_robust_list", 531),
    ("vmsplice", 532),
    ("move_pages", 533),
    ("preadv", 534),
    ("pwritev", 535),
    ("rt_tgsigqueueinfo", 536),
    ("recvmmsg", 537),
    ("sendmmsg", 538),
    ("process_vm_readv", 539),
    ("process_vm_writev", 540),
    ("setsockopt", 541),
    ("getsockopt", 542),
    ("io_setup", 543),
    ("io_submit", 544),
    ("execveat", 545),
    ("preadv2", 546),
    ("pwritev2", 547),
];

/// x86_64-only syscalls that x32 does not have at all.
const X32_MISSING: [&str; 6] = [
    "uselib",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "nfsservctl",
    "_sysctl",
];

fn x32(name: &str) -> Option<u32> {
    if X32_MISSING.contains(&name) {
        return None;
    }
    let nr = match X32_OWN.iter().find(|(n, _)| *n == name) {
        Some((_, nr)) => *nr,
        None => syscalls::x86_64::Sysno::from_str(name).ok()?.id() as u32,
    };
    Some(nr | X32_SYSCALL_BIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscalls_have_each_abis_number() {
        assert_eq!(Abi::X86_64.syscall("openat"), Some(257));
        assert_eq!(Abi::X86.syscall("openat"), Some(295));
        assert_eq!(Abi::X32.syscall("openat"), Some(257 | X32_SYSCALL_BIT));
        assert_eq!(Abi::X32.syscall("ioctl"), Some(514 | X32_SYSCALL_BIT));
        assert_eq!(Abi::Aarch64.syscall("openat"), Some(56));
        assert_eq!(Abi::Aarch64.syscall("open"), None);
        assert_eq!(Abi::Mips.syscall("read"), Some(4003));
        assert_eq!(Abi::Mipsel64.syscall("read"), Some(5000));
        assert_eq!(Abi::X86_64.syscall("no_such_call"), None);
    }
}
