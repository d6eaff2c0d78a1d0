//! The running executable as the worker reads it: where it is loaded (from
//! `/proc/self/maps`), its DWARF sections (copied into memory once, within a size cap) and its
//! call frame information (`.eh_frame` with the `.eh_frame_hdr` search table).

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;

use gimli::{EndianArcSlice, RunTimeEndian, UnwindSection};
use object::{Object, ObjectSection, ObjectSegment};

/// The reader every DWARF structure here uses.
pub(crate) type R = EndianArcSlice<RunTimeEndian>;

/// Upper bound on the debug sections held in memory.
const MAX_SECTION_BYTES: u64 = 1 << 30;

/// Why an image gives no values (recorded once in the event's `errors`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImageError {
    #[error("cannot read the executable: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot parse the executable: {0}")]
    Object(#[from] object::Error),
    #[error("cannot parse the debug info: {0}")]
    Dwarf(#[from] gimli::Error),
    #[error("the executable has no DWARF debug info (stripped, or built without `debug`)")]
    NoDebugInfo,
    #[error("the executable is not mapped in /proc/self/maps")]
    NotMapped,
    #[error("the debug sections are {0} bytes, over the {MAX_SECTION_BYTES}-byte limit")]
    TooLarge(u64),
    #[error("unsupported architecture {0:?} (x86_64 and aarch64 are supported)")]
    Arch(object::Architecture),
}

/// Instruction set facts the unwinder and the evaluator need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// DWARF number of the stack pointer.
    pub(crate) fn sp(self) -> u16 {
        match self {
            Arch::X86_64 => 7,
            Arch::Aarch64 => 31,
        }
    }

    /// Registers a callee preserves (System V / AAPCS64), by DWARF number.
    pub(crate) fn callee_saved(self) -> &'static [u16] {
        match self {
            Arch::X86_64 => &[3, 6, 12, 13, 14, 15],
            Arch::Aarch64 => &[19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29],
        }
    }
}

/// The executable, loaded for reading variables.
pub(crate) struct Image {
    /// Runtime address = file address + `bias`.
    pub(crate) bias: u64,
    /// Runtime ranges of the executable's mappings.
    ranges: Vec<(u64, u64)>,
    pub(crate) arch: Arch,
    pub(crate) dwarf: Arc<gimli::Dwarf<R>>,
    pub(crate) lines: addr2line::Context<R>,
    /// Unit headers by `.debug_info` offset, and the units parsed so far.
    headers: Vec<(usize, gimli::UnitHeader<R>)>,
    units: HashMap<usize, Arc<gimli::Unit<R>>>,
    eh_frame: Option<gimli::EhFrame<R>>,
    eh_frame_hdr: Option<gimli::ParsedEhFrameHdr<R>>,
    bases: gimli::BaseAddresses,
    unwind: Box<gimli::UnwindContext<usize>>,
}

impl Image {
    /// Loads the running executable.
    pub(crate) fn load_current() -> Result<Image, ImageError> {
        let file = File::open("/proc/self/exe")?;
        let exe = std::fs::read_link("/proc/self/exe")?;
        let maps = std::fs::read_to_string("/proc/self/maps")?;
        let exe = exe.to_string_lossy();
        let exe = exe.strip_suffix(" (deleted)").unwrap_or(&exe);
        let cache = object::ReadCache::new(file);
        let obj = object::File::parse(&cache)?;
        let arch = match obj.architecture() {
            object::Architecture::X86_64 => Arch::X86_64,
            object::Architecture::Aarch64 => Arch::Aarch64,
            other => return Err(ImageError::Arch(other)),
        };
        let mappings = mappings_of(&maps, exe);
        let bias = mappings
            .iter()
            .find_map(|&(start, _, offset)| {
                obj.segments().find_map(|seg| {
                    let (seg_off, seg_len) = seg.file_range();
                    (seg_off <= offset && offset < seg_off + seg_len.max(1))
                        .then(|| start.wrapping_sub(seg.address() + (offset - seg_off)))
                })
            })
            .ok_or(ImageError::NotMapped)?;
        let ranges = mappings.iter().map(|&(s, e, _)| (s, e)).collect();

        if obj.section_by_name(".debug_info").is_none() {
            return Err(ImageError::NoDebugInfo);
        }
        let endian = if obj.is_little_endian() {
            RunTimeEndian::Little
        } else {
            RunTimeEndian::Big
        };
        let mut total = 0u64;
        let mut load = |name: &str| -> Result<R, ImageError> {
            let data: Arc<[u8]> = match obj.section_by_name(name) {
                Some(section) => {
                    total += section.size();
                    if total > MAX_SECTION_BYTES {
                        return Err(ImageError::TooLarge(total));
                    }
                    Arc::from(section.uncompressed_data()?.as_ref())
                }
                None => Arc::from(&[][..]),
            };
            Ok(EndianArcSlice::new(data, endian))
        };
        let dwarf = gimli::Dwarf::load(|id| load(id.name()))?;
        let dwarf = Arc::new(dwarf);
        let lines = addr2line::Context::from_arc_dwarf(dwarf.clone())?;
        let mut headers = Vec::new();
        let mut iter = dwarf.units();
        while let Some(h) = iter.next()? {
            headers.push((h.offset().0, h));
        }

        let section_addr = |name: &str| obj.section_by_name(name).map(|s| s.address());
        let mut bases = gimli::BaseAddresses::default();
        if let Some(a) = section_addr(".eh_frame") {
            bases = bases.set_eh_frame(a);
        }
        if let Some(a) = section_addr(".text") {
            bases = bases.set_text(a);
        }
        if let Some(a) = section_addr(".eh_frame_hdr") {
            bases = bases.set_eh_frame_hdr(a);
        }
        let eh_frame = obj
            .section_by_name(".eh_frame")
            .is_some()
            .then(|| load(".eh_frame").map(gimli::EhFrame::from))
            .transpose()?;
        let eh_frame_hdr = match obj.section_by_name(".eh_frame_hdr") {
            Some(_) => gimli::EhFrameHdr::from(load(".eh_frame_hdr")?)
                .parse(&bases, if obj.is_64() { 8 } else { 4 })
                .ok(),
            None => None,
        };
        Ok(Image {
            bias,
            ranges,
            arch,
            dwarf,
            lines,
            headers,
            units: HashMap::new(),
            eh_frame,
            eh_frame_hdr,
            bases,
            unwind: Box::new(gimli::UnwindContext::new()),
        })
    }

    /// True when the runtime address `pc` is in this executable.
    pub(crate) fn contains(&self, pc: u64) -> bool {
        self.ranges.iter().any(|&(s, e)| s <= pc && pc < e)
    }

    /// The unit holding `.debug_info` offset `off`, parsed once.
    pub(crate) fn unit_at(&mut self, off: usize) -> Option<Arc<gimli::Unit<R>>> {
        let i = self.headers.partition_point(|(start, _)| *start <= off);
        let (start, header) = self.headers.get(i.checked_sub(1)?)?;
        if let Some(u) = self.units.get(start) {
            return Some(u.clone());
        }
        let unit = Arc::new(self.dwarf.unit(header.clone()).ok()?);
        if self.units.len() > 4096 {
            self.units.clear();
        }
        self.units.insert(*start, unit.clone());
        Some(unit)
    }

    /// The CFI rule row for file address `pc`: the CFA rule is not needed (the walk on the
    /// calling thread recorded every CFA), only where registers were saved.
    pub(crate) fn saved_registers(
        &mut self,
        pc: u64,
    ) -> Option<Vec<(u16, gimli::RegisterRule<usize>)>> {
        let eh_frame = self.eh_frame.as_ref()?;
        let row = match &self.eh_frame_hdr {
            Some(hdr) => hdr.table()?.unwind_info_for_address(
                eh_frame,
                &self.bases,
                &mut self.unwind,
                pc,
                gimli::EhFrame::cie_from_offset,
            ),
            None => eh_frame.unwind_info_for_address(
                &self.bases,
                &mut self.unwind,
                pc,
                gimli::EhFrame::cie_from_offset,
            ),
        }
        .ok()?;
        Some(
            row.registers()
                .map(|(r, rule)| (r.0, rule.clone()))
                .collect(),
        )
    }
}

/// `(start, end, file offset)` of the mappings of `path` in a `/proc/self/maps` text.
fn mappings_of(maps: &str, path: &str) -> Vec<(u64, u64, u64)> {
    maps.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let range = parts.next()?;
            let _perms = parts.next()?;
            let offset = u64::from_str_radix(parts.next()?, 16).ok()?;
            let _dev = parts.next()?;
            let _inode = parts.next()?;
            let file: Vec<&str> = parts.collect();
            let file = file.join(" ");
            let file = file.strip_suffix(" (deleted)").unwrap_or(&file);
            if file != path {
                return None;
            }
            let (s, e) = range.split_once('-')?;
            Some((
                u64::from_str_radix(s, 16).ok()?,
                u64::from_str_radix(e, 16).ok()?,
                offset,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_of_the_executable() {
        let maps = "5555d000-5555e000 r--p 00000000 08:01 42 /srv/app\n\
                    5555e000-55560000 r-xp 00001000 08:01 42 /srv/app\n\
                    7f00-7f10 r-xp 00000000 08:01 43 /usr/lib/libc.so.6\n\
                    7ff0-7ff8 rw-p 00000000 00:00 0 [stack]\n";
        assert_eq!(
            mappings_of(maps, "/srv/app"),
            vec![
                (0x5555d000, 0x5555e000, 0),
                (0x5555e000, 0x55560000, 0x1000)
            ]
        );
    }
}
