//! Registers of each frame, recovered from the stack copy with the binary's CFI.
//!
//! The walk on the calling thread recorded every frame's stack pointer, which is also the CFA
//! of the frame it called, so only the callee-saved registers need the CFI: a frame that saved one
//! (rule `offset(n)`) left the caller's value at `CFA + n` in the copy. A register nobody saved
//! between a frame and the copy is unknown (it still held the caller's value in the CPU when
//! the copy was taken); caller-saved registers are unknown in every caller frame.

use super::capture::Memory;
use super::image::Image;

/// Highest DWARF register number tracked, plus one (aarch64 `sp` is 31).
const NREGS: usize = 33;

/// A frame's registers by DWARF number; `None` when not recoverable.
#[derive(Clone, Debug)]
pub(crate) struct Regs(pub(crate) [Option<u64>; NREGS]);

impl Default for Regs {
    fn default() -> Self {
        Regs([None; NREGS])
    }
}

impl Regs {
    pub(crate) fn get(&self, reg: u16) -> Option<u64> {
        self.0.get(usize::from(reg)).copied().flatten()
    }

    fn set(&mut self, reg: u16, v: Option<u64>) {
        if let Some(slot) = self.0.get_mut(usize::from(reg)) {
            *slot = v;
        }
    }
}

/// Registers of every walked frame whose stack pointer is in the copy `(start, end)` (`None`
/// for the others).
/// `ips`/`sps` are the walk's, newest first: each frame's address and stack pointer (the
/// unwinder's CFA of the frame it called); a frame's own CFA is its caller's stack pointer.
pub(crate) fn frame_registers(
    image: &mut Image,
    mem: &Memory<'_>,
    copy: (u64, u64),
    ips: &[usize],
    sps: &[usize],
) -> Vec<Option<Regs>> {
    let arch = image.arch;
    let mut out = Vec::with_capacity(ips.len());
    let mut regs = Regs::default();
    for (i, (&ip, &sp)) in ips.iter().zip(sps).enumerate() {
        let (ip, sp) = (ip as u64, sp as u64);
        regs.set(arch.sp(), Some(sp));
        out.push((copy.0 <= sp && sp < copy.1).then(|| regs.clone()));
        let Some(cfa) = sps.get(i + 1).map(|&c| c as u64) else {
            break;
        };
        // The caller's registers: what this frame saved, or kept.
        let pc = if i == 0 { ip } else { ip.saturating_sub(1) };
        let rules = image
            .contains(pc)
            .then(|| image.saved_registers(pc.wrapping_sub(image.bias)))
            .flatten();
        let mut caller = Regs::default();
        if let Some(rules) = rules {
            for &r in arch.callee_saved() {
                let rule = rules.iter().find(|(n, _)| *n == r).map(|(_, rule)| rule);
                let v = match rule {
                    None | Some(gimli::RegisterRule::SameValue) => regs.get(r),
                    Some(gimli::RegisterRule::Offset(o)) => {
                        mem.stack_word(cfa.wrapping_add_signed(*o))
                    }
                    Some(gimli::RegisterRule::ValOffset(o)) => Some(cfa.wrapping_add_signed(*o)),
                    Some(gimli::RegisterRule::Register(other)) => regs.get(other.0),
                    Some(_) => None,
                };
                caller.set(r, v);
            }
        }
        regs = caller;
    }
    out
}
