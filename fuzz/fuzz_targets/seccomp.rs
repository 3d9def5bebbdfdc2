//! linux.seccomp as JSON, compiled to a BPF program. A program that
//! compiles must also be one the kernel could load: within BPF_MAXINSNS,
//! and every jump forward and inside the program.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::LinuxSeccomp;

/// BPF_JMP, BPF_JA: the class and operation bits of a jump.
const BPF_JMP: u16 = 0x05;
const BPF_JA: u16 = 0x00;

fuzz_target!(|data: &[u8]| {
    let Ok(profile) = serde_json::from_slice::<LinuxSeccomp>(data) else {
        return;
    };
    let Ok(filter) = berth::linux::seccomp::compile(&profile) else {
        return;
    };
    let prog = &filter.program;
    assert!(
        !prog.is_empty() && prog.len() <= 4096,
        "{} instructions",
        prog.len()
    );
    for (i, insn) in prog.iter().enumerate() {
        if insn.code & 0x07 != BPF_JMP {
            continue;
        }
        let targets: Vec<usize> = if insn.code & 0xf0 == BPF_JA {
            vec![i + 1 + insn.k as usize]
        } else {
            vec![i + 1 + insn.jt as usize, i + 1 + insn.jf as usize]
        };
        for t in targets {
            assert!(t < prog.len(), "instruction {i} jumps to {t}, past the end");
        }
    }
    // The last instruction must return: falling off the end is refused.
    assert_eq!(
        prog[prog.len() - 1].code & 0x07,
        0x06,
        "ends in a non-return"
    );
});
