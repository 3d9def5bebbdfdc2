//! A small classic-BPF assembler: straight-line code with forward jumps to
//! labels, resolved once the program is complete. Conditional jumps only
//! reach 255 instructions, so every jump to a label is an unconditional
//! `ja` (32-bit offset) and conditions only ever skip the next instruction.

use seccompiler::sock_filter;

pub const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
pub const JA: u16 = 0x05; // BPF_JMP | BPF_JA
pub const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
pub const JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
pub const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
pub const RET_K: u16 = 0x06; // BPF_RET | BPF_K

/// Offsets into struct seccomp_data.
pub const NR: u32 = 0;
pub const ARCH: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(usize);

enum Insn {
    Op(sock_filter),
    JumpTo(Label),
}

#[derive(Default)]
pub struct Asm {
    code: Vec<Insn>,
    /// Where each label was placed, as an index into `code`.
    labels: Vec<Option<usize>>,
}

pub fn op(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

impl Asm {
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    pub fn place(&mut self, l: Label) {
        self.labels[l.0] = Some(self.code.len());
    }

    pub fn emit(&mut self, i: sock_filter) {
        self.code.push(Insn::Op(i));
    }

    pub fn extend(&mut self, ops: impl IntoIterator<Item = sock_filter>) {
        self.code.extend(ops.into_iter().map(Insn::Op));
    }

    pub fn load(&mut self, offset: u32) {
        self.emit(op(LD_W_ABS, 0, 0, offset));
    }

    pub fn ret(&mut self, action: u32) {
        self.emit(op(RET_K, 0, 0, action));
    }

    pub fn jump(&mut self, to: Label) {
        self.code.push(Insn::JumpTo(to));
    }

    /// `if A <cmp> k goto to`.
    pub fn jump_if(&mut self, cmp: u16, k: u32, to: Label) {
        self.emit(op(cmp, 0, 1, k));
        self.jump(to);
    }

    /// `if A <cmp> k` is false, goto to.
    pub fn jump_unless(&mut self, cmp: u16, k: u32, to: Label) {
        self.emit(op(cmp, 1, 0, k));
        self.jump(to);
    }

    pub fn len(&self) -> usize {
        self.code.len()
    }

    pub fn is_empty(&self) -> bool {
        self.code.is_empty()
    }

    /// Resolves the labels. Every label must be placed after its jumps.
    pub fn finish(self) -> Vec<sock_filter> {
        let labels = self.labels;
        self.code
            .into_iter()
            .enumerate()
            .map(|(i, insn)| match insn {
                Insn::Op(o) => o,
                Insn::JumpTo(l) => {
                    let target = labels[l.0].expect("label placed");
                    assert!(target > i, "backward jump in a seccomp filter");
                    op(JA, 0, 0, (target - i - 1) as u32)
                }
            })
            .collect()
    }
}

/// One instruction per line, as the golden listings in the tests read.
pub fn listing(prog: &[sock_filter]) -> String {
    prog.iter()
        .enumerate()
        .map(|(i, o)| {
            let what = match o.code {
                LD_W_ABS => format!("ld [{}]", o.k),
                JA => format!("ja +{}", o.k),
                JEQ_K => format!("jeq {:#x} jt {} jf {}", o.k, o.jt, o.jf),
                JGT_K => format!("jgt {:#x} jt {} jf {}", o.k, o.jt, o.jf),
                JGE_K => format!("jge {:#x} jt {} jf {}", o.k, o.jt, o.jf),
                RET_K => format!("ret {:#x}", o.k),
                c => format!("op {c:#x} jt {} jf {} k {:#x}", o.jt, o.jf, o.k),
            };
            format!("{i:3} {what}\n")
        })
        .collect()
}
