//! The calling thread's part: a bounded copy of the live stack, read through `/proc/self/mem`
//! so that no byte is read with a raw pointer (the kernel copies, and an unmapped page ends
//! the read instead of faulting). The worker reads memory outside the copy (heap buffers,
//! statics) the same way, within a byte budget.

use std::fs::File;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Bytes of stack copied per capture: the largest any client asked for.
static STACK_BYTES: AtomicUsize = AtomicUsize::new(0);
/// Clients with auto-locals on; captures copy nothing while there are none.
static CLIENTS: AtomicUsize = AtomicUsize::new(0);
static PROC_MEM: OnceLock<Option<File>> = OnceLock::new();

/// A client with auto-locals on (`bytes > 0`) starts: later captures copy the stack, and
/// `/proc/self/mem` is opened now so that a capture never opens a file. Returns whether it
/// counted (then [`disable`] must follow when the client closes).
pub(crate) fn enable(bytes: usize) -> bool {
    if bytes == 0 {
        return false;
    }
    let _ = proc_mem();
    STACK_BYTES.fetch_max(bytes, Ordering::Relaxed);
    CLIENTS.fetch_add(1, Ordering::SeqCst);
    true
}

/// A client that [`enable`]d auto-locals closed.
pub(crate) fn disable() {
    let _ = CLIENTS.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
}

/// Bytes to copy per capture (0 = auto-locals off).
#[inline]
pub(crate) fn stack_budget() -> usize {
    if CLIENTS.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    STACK_BYTES.load(Ordering::Relaxed)
}

fn proc_mem() -> Option<&'static File> {
    PROC_MEM
        .get_or_init(|| File::open("/proc/self/mem").ok())
        .as_ref()
}

/// Reads `buf.len()` bytes at address `addr` of this process; returns how many were readable
/// (a read stops at the first unmapped page).
fn read_process(addr: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    let Some(file) = proc_mem() else {
        return Err(std::io::Error::other("/proc/self/mem cannot be opened"));
    };
    #[cfg(not(unix))]
    return Err(std::io::Error::other(format!(
        "not supported on this system ({} bytes of {file:?} at {addr:#x})",
        buf.len()
    )));
    #[cfg(unix)]
    use std::os::unix::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], addr + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// The live part of the capturing thread's stack: `bytes` were at `start..start + len`.
#[derive(Clone, Debug, Default)]
pub(crate) struct StackCopy {
    pub(crate) start: u64,
    pub(crate) bytes: Vec<u8>,
    /// The highest stack pointer walked: the stack in use ends there.
    pub(crate) top: u64,
    /// Why there is no copy.
    pub(crate) error: Option<String>,
}

impl StackCopy {
    /// Copies `start` up to the highest stack pointer of the walked frames, at most `budget`
    /// bytes.
    pub(crate) fn take(start: usize, sps: &[usize], budget: usize) -> StackCopy {
        let top = sps.iter().copied().max().unwrap_or(start);
        let wanted = top.saturating_sub(start);
        let len = wanted.min(budget);
        let mut bytes = vec![0u8; len];
        match read_process(start as u64, &mut bytes) {
            Ok(n) => {
                bytes.truncate(n);
                StackCopy {
                    start: start as u64,
                    top: top as u64,
                    bytes,
                    error: None,
                }
            }
            Err(e) => StackCopy {
                start: start as u64,
                top: top as u64,
                bytes: Vec::new(),
                error: Some(format!("the stack could not be copied: {e}")),
            },
        }
    }

    /// The same addresses without the bytes.
    pub(crate) fn clone_empty(&self) -> StackCopy {
        StackCopy {
            start: self.start,
            top: self.top,
            bytes: Vec::new(),
            error: self.error.clone(),
        }
    }

    pub(crate) fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

/// Memory as the worker sees it: the stack copy, then the live process within a budget.
pub(crate) struct Memory<'a> {
    copy: &'a StackCopy,
    budget: usize,
}

/// Stack below the copy belonged to frames that had returned by the time of the copy; this
/// much of it is refused.
const DEAD_STACK: u64 = 1 << 20;

impl<'a> Memory<'a> {
    /// `budget`: bytes that may be read outside the stack copy.
    pub(crate) fn new(copy: &'a StackCopy, budget: usize) -> Self {
        Memory { copy, budget }
    }

    /// A word saved on the stack (register rules): only from the copy.
    pub(crate) fn stack_word(&self, addr: u64) -> Option<u64> {
        let off = addr.checked_sub(self.copy.start)? as usize;
        let b = self.copy.bytes.get(off..off.checked_add(8)?)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }

    /// `len` bytes at `addr`, or `None` when unreadable, dead or over budget.
    pub(crate) fn read(&mut self, addr: u64, len: usize) -> Option<Vec<u8>> {
        if len == 0 {
            return Some(Vec::new());
        }
        let end = addr.checked_add(len as u64)?;
        if addr >= self.copy.start && end <= self.copy.end() {
            let off = (addr - self.copy.start) as usize;
            return Some(self.copy.bytes[off..off + len].to_vec());
        }
        // The stack outside the copy: dead below it, changed since above it.
        let dead_from = self.copy.start.saturating_sub(DEAD_STACK);
        let stack_end = self.copy.top.max(self.copy.end());
        if addr == 0 || (end > dead_from && addr < stack_end) || len > self.budget {
            return None;
        }
        self.budget -= len;
        let mut buf = vec![0u8; len];
        match read_process(addr, &mut buf) {
            Ok(n) if n == len => Some(buf),
            _ => None,
        }
    }

    /// A little-endian word of `size` bytes (≤ 8).
    pub(crate) fn read_uint(&mut self, addr: u64, size: usize) -> Option<u64> {
        let b = self.read(addr, size.min(8))?;
        Some(le_uint(&b))
    }
}

/// Little-endian unsigned value of up to 8 bytes.
pub(crate) fn le_uint(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    let n = b.len().min(8);
    w[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_the_live_stack_and_reads_the_process_without_faulting() {
        let here = 0x5eed_u64;
        let addr = std::ptr::addr_of!(here) as usize;
        let copy = StackCopy::take(addr, &[addr + 4096], 1 << 16);
        assert!(copy.error.is_none(), "{:?}", copy.error);
        assert_eq!(copy.bytes.len(), 4096);
        let mut mem = Memory::new(&copy, 1024);
        assert_eq!(mem.stack_word(addr as u64), Some(0x5eed));
        let heap = vec![7u8; 64];
        assert_eq!(mem.read(heap.as_ptr() as u64, 64), Some(heap.clone()));
        // Unmapped, null and over-budget reads are refused, never a fault.
        assert_eq!(mem.read(8, 8), None);
        assert_eq!(mem.read(0, 8), None);
        assert_eq!(mem.read(heap.as_ptr() as u64, 4096), None);
        // Budget larger than the stack: the copy stops at the highest frame.
        let copy = StackCopy::take(addr, &[addr + 100], 1 << 16);
        assert_eq!(copy.bytes.len(), 100);
        let copy = StackCopy::take(addr, &[addr + 4096], 1000);
        assert_eq!((copy.bytes.len(), copy.top), (1000, addr as u64 + 4096));
    }
}
