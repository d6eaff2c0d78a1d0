//! Local variables from debug info, without macros (feature `auto-locals`, Linux x86_64 and
//! aarch64): what a debugger shows at a breakpoint, for every frame of a captured stack.
//!
//! * **Calling thread** (`StackCopy`): the stack walk that runs anyway also records each
//!   frame's stack pointer, and the live stack from the capturing function up to the oldest one
//!   (at most [`DEFAULT_STACK_BYTES`], configurable) is copied through `/proc/self/mem`. Nothing
//!   else: no debug info is touched there.
//! * **Worker** (`Evaluator`): uses the executable's DWARF, loaded once per process by the
//!   `errata-debuginfo` thread that `init` starts (`image`), recovers each
//!   frame's callee-saved registers from the copy with the CFI (`unwind`), finds the subprogram
//!   and inlined-subroutine DIEs covering each frame's address and the variables in scope there
//!   (`scope`), evaluates their locations (`location`) and formats them by type (`format`).
//!
//! Memory behind pointers (heap buffers of `String`/`Vec`, referenced structs outside the
//! copy) is read by the worker when it handles the event, through `/proc/self/mem` as well,
//! within [`MEMORY_BUDGET`] bytes per event: a read of an unmapped address fails instead of
//! faulting. Panics on the main thread wait in the hook for the event's delivery, so these
//! reads see the values at the panic point; after `capture_error` the application runs on,
//! and a buffer it changed or freed in the meantime shows its later state.
//!
//! Failures never stop an event: a frame without values keeps the others', and the reason
//! goes to the event's `errors` (`{"type": "auto_locals", "reason": …}`).

mod capture;
mod format;
mod image;
mod location;
mod scope;
mod types;
mod unwind;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

pub(crate) use capture::StackCopy;
pub(crate) use capture::{disable, enable, stack_budget};

use crate::backtrace::{FrameOrigin, RawStack};
use crate::locals::FILTERED;
use crate::options::is_secret_name;
use crate::protocol::Frame;
use capture::Memory;
use format::Formatter;
use image::Image;
use location::{FrameCtx, Place};
use types::{DieId, Types};

/// Default bytes of stack copied per capture.
pub const DEFAULT_STACK_BYTES: usize = 256 * 1024;
/// Bytes read outside the stack copy (heap, statics) per event.
pub const MEMORY_BUDGET: usize = 1 << 20;
/// Worker time spent on one event's variables before the rest of its frames are skipped
/// (the application's frames go first). Debug builds parse DWARF with unoptimized code.
pub const TIME_BUDGET: Duration = Duration::from_secs(2);

/// Shown for a variable the compiler kept no location for at this address.
pub const OPTIMIZED_OUT: &str = "<optimized out>";
/// Shown for a variable whose register or memory could not be recovered.
pub const UNAVAILABLE: &str = "<unavailable>";

/// What the evaluation gives an event: per frame (parallel to the frames passed in) the
/// variables, and the reasons values are missing.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) vars: Vec<Vec<(String, String)>>,
    pub(crate) errors: Vec<String>,
}

/// The worker's evaluator (one per client with auto-locals).
pub(crate) struct Evaluator {
    /// This client's `auto_locals_stack_size` (captures copy the largest of all clients').
    stack_limit: usize,
}

/// The executable's debug info and the type cache: loaded once per process, shared by the
/// clients' workers.
struct DebugInfo {
    image: Result<Image, String>,
    types: Types,
}

static DEBUG_INFO: Mutex<Option<DebugInfo>> = Mutex::new(None);
static LOADER: Once = Once::new();
/// Set once the debug info is loaded (or failed to load).
static LOADED: AtomicBool = AtomicBool::new(false);

/// How long a panic hook that waits for delivery waits at least while the debug info is
/// still loading: the event's heap values must be read before unwinding frees them.
pub const PANIC_WAIT_WHILE_LOADING: Duration = Duration::from_secs(10);

/// The wait of a panic hook that waits for delivery: `timeout`, or
/// [`PANIC_WAIT_WHILE_LOADING`] while the debug info is still being loaded.
pub(crate) fn panic_wait(timeout: Duration) -> Duration {
    if LOADER.is_completed() && !LOADED.load(Ordering::Acquire) {
        timeout.max(PANIC_WAIT_WHILE_LOADING)
    } else {
        timeout
    }
}

/// How long a worker waits for the loader thread before it sends an event without values:
/// the events queued behind it must not wait for a large executable's DWARF (a panic's own
/// wait is [`PANIC_WAIT_WHILE_LOADING`], and its event is sent as soon as values are read).
pub const LOAD_WAIT: Duration = Duration::from_secs(2);

/// The debug info, once the loader thread has it, waiting at most `wait` for it; the error
/// says why values are missing.
fn loaded_debug_info(
    wait: Duration,
) -> Result<std::sync::MutexGuard<'static, Option<DebugInfo>>, String> {
    let started = Instant::now();
    loop {
        match DEBUG_INFO.try_lock() {
            Ok(slot) => return Ok(slot),
            Err(std::sync::TryLockError::Poisoned(_)) => {
                return Err("the debug info is unusable after a panic while reading it".to_owned())
            }
            Err(std::sync::TryLockError::WouldBlock) if started.elapsed() >= wait => {
                return Err(format!(
                    "the debug info was still loading after {} ms: this event was sent without \
                     variables",
                    wait.as_millis()
                ))
            }
            Err(std::sync::TryLockError::WouldBlock) => {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn debug_info(slot: &mut Option<DebugInfo>) -> &mut DebugInfo {
    slot.get_or_insert_with(|| {
        let image = Image::load_current().map_err(|e| e.to_string());
        LOADED.store(true, Ordering::Release);
        DebugInfo {
            image,
            types: Types::default(),
        }
    })
}

/// A physical frame's DIEs: innermost inlined subroutine first, the subprogram last.
struct Physical {
    dies: Vec<DieId>,
}

impl Evaluator {
    /// Starts loading the executable's debug info on a background thread (`errata-debuginfo`,
    /// once per process), together with the symbol cache of the `backtrace` crate, so that the
    /// first event's values are read promptly — while the buffers they point to are alive.
    pub(crate) fn start(stack_limit: usize) -> Self {
        LOADER.call_once(|| {
            let _ = std::thread::Builder::new()
                .name("errata-debuginfo".into())
                .spawn(|| {
                    crate::hub::mark_worker_thread();
                    if let Ok(mut slot) = DEBUG_INFO.lock() {
                        debug_info(&mut slot);
                    }
                    let anchor = Evaluator::start as fn(usize) -> Evaluator as usize;
                    backtrace::resolve(anchor as *mut std::ffi::c_void, |_| {});
                });
        });
        Evaluator { stack_limit }
    }

    /// Reads the variables of `frames` (resolved from `raw`, `origins` saying where each came
    /// from); secret names give [`FILTERED`], values are cut at `max_len` bytes. Waits at most
    /// `load_wait` for the debug info to finish loading, then returns without values.
    pub(crate) fn evaluate(
        &mut self,
        raw: &RawStack,
        origins: &[FrameOrigin],
        frames: &[Frame],
        secret_names: &[String],
        max_len: usize,
        load_wait: Duration,
    ) -> Outcome {
        let mut outcome = Outcome {
            vars: vec![Vec::new(); frames.len()],
            errors: Vec::new(),
        };
        let Some(copy) = raw.copy.as_deref() else {
            return outcome;
        };
        if let Some(e) = &copy.error {
            outcome.errors.push(e.clone());
            return outcome;
        }
        let limited;
        let copy = if copy.bytes.len() > self.stack_limit {
            limited = StackCopy {
                bytes: copy.bytes[..self.stack_limit].to_vec(),
                ..copy.clone_empty()
            };
            &limited
        } else {
            copy
        };
        let mut slot = match loaded_debug_info(load_wait) {
            Ok(slot) => slot,
            Err(reason) => {
                outcome.errors.push(reason);
                return outcome;
            }
        };
        let DebugInfo { image, types } = debug_info(&mut slot);
        let image = match image {
            Ok(image) => image,
            Err(e) => {
                outcome.errors.push(e.clone());
                return outcome;
            }
        };
        let mut mem = Memory::new(copy, MEMORY_BUDGET);
        let regs =
            unwind::frame_registers(image, &mem, (copy.start, copy.end()), &raw.ips, &raw.sps);
        let deadline = Instant::now() + TIME_BUDGET;
        let mut physical: HashMap<usize, Option<Physical>> = HashMap::new();
        let (mut beyond_copy, mut app_frames, mut app_frames_with_vars) = (0, 0, 0);
        // The application's frames first, newest (the crash site) first: if the time budget
        // runs out, what is skipped is the runtime's frames.
        let mut order: Vec<usize> = (0..frames.len().min(origins.len())).rev().collect();
        order.sort_by_key(|&j| frames[j].in_app != Some(true));
        for (done, &j) in order.iter().enumerate() {
            let (origin, frame) = (&origins[j], &frames[j]);
            if Instant::now() > deadline {
                outcome.errors.push(format!(
                    "variables of {} frames skipped: the {} ms budget per event ran out",
                    order.len() - done,
                    TIME_BUDGET.as_millis()
                ));
                break;
            }
            let in_app = frame.in_app == Some(true);
            let ip = raw.ips[origin.index] as u64;
            if !image.contains(ip) {
                continue;
            }
            let Some(Some(frame_regs)) = regs.get(origin.index) else {
                beyond_copy += usize::from(in_app && raw.sps[origin.index] as u64 >= copy.end());
                continue;
            };
            app_frames += usize::from(in_app);
            let probe = ip.wrapping_sub(1).wrapping_sub(image.bias);
            let phys = physical
                .entry(origin.index)
                .or_insert_with(|| find_dies(image, probe));
            let Some(phys) = phys else {
                continue;
            };
            let (Some(&die), Some(&subprogram)) = (phys.dies.get(origin.depth), phys.dies.last())
            else {
                continue;
            };
            let mut ctx = FrameCtx {
                regs: frame_regs,
                frame_base: None,
                cfa: raw.sps.get(origin.index + 1).map_or(0, |&c| c as u64),
                bias: image.bias,
                probe,
            };
            let dwarf = image.dwarf.clone();
            if let Some(unit) = image.unit_at(subprogram) {
                let attr = gimli::DebugInfoOffset(subprogram)
                    .to_unit_offset(&unit.header)
                    .and_then(|o| unit.entry(o).ok())
                    .and_then(|e| e.attr_value(gimli::DW_AT_frame_base));
                ctx.frame_base =
                    location::frame_base(gimli::UnitRef::new(&dwarf, &unit), attr, &ctx, &mut mem);
            }
            let scope = scope::scope_vars(image, die, probe);
            app_frames_with_vars += usize::from(in_app && scope.declares_variables);
            let Some(unit) = image.unit_at(die) else {
                continue;
            };
            for v in scope.vars {
                let value = if is_secret_name(secret_names, &v.name) {
                    FILTERED.to_owned()
                } else {
                    let mut f = Formatter::new(image, types, &mut mem, max_len, secret_names);
                    let size = f.size_of(v.ty).unwrap_or(8) as usize;
                    let place = location::variable(
                        gimli::UnitRef::new(&dwarf, &unit),
                        v.location,
                        v.const_value,
                        size,
                        &ctx,
                        f.mem,
                    );
                    match place {
                        Place::Bytes(b) => f.format(v.ty, &b),
                        Place::OptimizedOut => OPTIMIZED_OUT.to_owned(),
                        Place::Unavailable => UNAVAILABLE.to_owned(),
                    }
                };
                outcome.vars[j].push((v.name, value));
            }
        }
        if app_frames > 0 && app_frames_with_vars == 0 {
            outcome.errors.push(
                "the debug info has no variables for the application's frames (built with \
                 line tables only? set `debug = true` in the profile)"
                    .to_owned(),
            );
        }
        if beyond_copy > 0 {
            outcome.errors.push(format!(
                "{beyond_copy} frames lie beyond the {}-byte stack copy",
                copy.bytes.len()
            ));
        }
        outcome
    }
}

/// The DIEs covering file address `probe`, innermost first.
fn find_dies(image: &Image, probe: u64) -> Option<Physical> {
    let unit = image.lines.find_dwarf_and_unit(probe).skip_all_loads()?;
    let header = &unit.unit.header;
    let mut iter = image.lines.find_frames(probe).skip_all_loads().ok()?;
    let mut dies = Vec::new();
    while let Ok(Some(f)) = iter.next() {
        dies.push(f.dw_die_offset?.to_debug_info_offset(header)?.0);
    }
    (!dies.is_empty()).then_some(Physical { dies })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_does_not_wait_for_the_loader_longer_than_it_may() {
        let (held, release) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let loader = std::thread::spawn(move || {
            let _slot = DEBUG_INFO.lock();
            held.0.send(()).expect("test alive");
            let _ = release.1.recv();
        });
        held.1.recv().expect("loader holds the lock");
        let started = Instant::now();
        let Err(err) = loaded_debug_info(Duration::from_millis(50)) else {
            panic!("the lock is held: the debug info is still loading");
        };
        assert!(err.contains("still loading after 50 ms"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(1));
        release.0.send(()).expect("loader alive");
        loader.join().expect("loader");
        assert!(loaded_debug_info(Duration::from_secs(5)).is_ok());
    }
}
