//! Stack traces: raw addresses on the calling thread, everything else on the worker.
//!
//! The calling thread only walks the stack and keeps instruction pointers ([`RawStack`]).
//! The worker resolves them with the `backtrace` crate (loading debug info once, then from its
//! own per-address cache), demangles names without the `::h…` hash, expands inlined frames,
//! trims the SDK's and the panic machinery's frames, decides `in_app`, and reads source context.
//! Frames come out oldest caller first, as the protocol wants.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::protocol::{Frame, Stacktrace};

const MAX_FRAMES: usize = 128;
const CONTEXT_LINES: usize = 5;
const MAX_LINE_LEN: usize = 300;

/// Instruction pointers, newest first, as walked on the capturing thread.
#[derive(Clone, Debug, Default)]
pub struct RawStack {
    pub(crate) ips: Vec<usize>,
    /// Each frame's stack pointer, parallel to `ips` (auto-locals only).
    #[cfg(feature = "auto-locals")]
    pub(crate) sps: Vec<usize>,
    /// The stack above this function's frame, copied for the worker (auto-locals only).
    #[cfg(feature = "auto-locals")]
    pub(crate) copy: Option<Box<crate::autolocals::StackCopy>>,
}

impl RawStack {
    /// Walks the current thread's stack (no symbol resolution); with auto-locals enabled also
    /// copies the live part of the stack, from this frame up to the oldest frame.
    #[inline(never)]
    pub(crate) fn capture() -> RawStack {
        let mut ips = Vec::with_capacity(48);
        #[cfg(feature = "auto-locals")]
        {
            let budget = crate::autolocals::stack_budget();
            if budget > 0 {
                let mut sps = Vec::with_capacity(48);
                crate::locals::erased::trace_ips(&mut ips, Some(&mut sps), MAX_FRAMES);
                // Everything from this local up is alive until this function returns: the
                // callers' frames and the registers this frame saved for them.
                let marker = 0u8;
                let start = std::hint::black_box(std::ptr::addr_of!(marker)) as usize;
                let copy = crate::autolocals::StackCopy::take(start, &sps, budget);
                return RawStack {
                    ips,
                    sps,
                    copy: Some(Box::new(copy)),
                };
            }
        }
        crate::locals::erased::trace_ips(&mut ips, None, MAX_FRAMES);
        RawStack {
            ips,
            #[cfg(feature = "auto-locals")]
            sps: Vec::new(),
            #[cfg(feature = "auto-locals")]
            copy: None,
        }
    }
}

/// Where a resolved frame comes from in a [`RawStack`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameOrigin {
    /// Index into `RawStack::ips`.
    pub(crate) index: usize,
    /// Inlining depth at that address, 0 being the innermost (inlined) function.
    pub(crate) depth: usize,
}

/// What to cut from the newest end of a stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trim {
    /// Everything up to and including the panic machinery (`core::panicking`, the hook…).
    Panic,
    /// The SDK's own frames.
    Capture,
}

/// Function-path prefixes that are never the application's.
const NOT_IN_APP: &[&str] = &[
    "std",
    "core",
    "alloc",
    "backtrace",
    "errata",
    "tokio",
    "futures",
    "tracing",
    "log",
    "anyhow",
    "test",
    "__rust",
    "___rust",
    "rust_begin_unwind",
    "rust_panic",
];

/// Frames newest-first up to and including the last of these are the panic machinery.
const PANIC_MARKERS: &[&str] = &[
    "std::panicking::",
    "core::panicking::",
    "std::panic::panic_any",
    "rust_begin_unwind",
    "__rustc::rust_begin_unwind",
    "std::sys::backtrace::__rust_end_short_backtrace",
    "std::sys_common::backtrace::__rust_end_short_backtrace",
    "core::result::unwrap_failed",
    "core::option::unwrap_failed",
    "core::option::expect_failed",
    "core::cell::panic_already",
];

#[derive(Clone, Debug)]
struct Sym {
    function: Option<String>,
    path: Option<PathBuf>,
    line: Option<u32>,
    col: Option<u32>,
}

/// Worker-side resolver with caches for symbols and source files.
pub(crate) struct Resolver {
    symbols: HashMap<usize, Arc<Vec<Sym>>>,
    sources: HashMap<PathBuf, Option<Arc<Vec<String>>>>,
    cwd: Option<PathBuf>,
    include: Vec<String>,
    exclude: Vec<String>,
}

impl Resolver {
    pub(crate) fn new(include: Vec<String>, exclude: Vec<String>) -> Self {
        Resolver {
            symbols: HashMap::new(),
            sources: HashMap::new(),
            cwd: std::env::current_dir().ok(),
            include,
            exclude,
        }
    }

    fn resolve_ip(&mut self, ip: usize) -> Arc<Vec<Sym>> {
        if let Some(s) = self.symbols.get(&ip) {
            return s.clone();
        }
        let mut syms = Vec::new();
        backtrace::resolve(ip as *mut std::ffi::c_void, |s| {
            syms.push(Sym {
                function: s.name().map(|n| format!("{n:#}")),
                path: s.filename().map(Path::to_path_buf),
                line: s.lineno(),
                col: s.colno(),
            });
        });
        if syms.is_empty() {
            syms.push(Sym {
                function: None,
                path: None,
                line: None,
                col: None,
            });
        }
        if self.symbols.len() > 20_000 {
            self.symbols.clear();
        }
        let syms = Arc::new(syms);
        self.symbols.insert(ip, syms.clone());
        syms
    }

    /// Resolves a raw stack into protocol frames, oldest first, and says for each frame kept
    /// where it came from: the index of its address in `raw.ips` and its inlining depth there.
    pub(crate) fn resolve(&mut self, raw: &RawStack, trim: Trim) -> (Stacktrace, Vec<FrameOrigin>) {
        // Newest first while building, reversed at the end.
        let mut frames: Vec<Frame> = Vec::with_capacity(raw.ips.len());
        let mut origins: Vec<FrameOrigin> = Vec::with_capacity(raw.ips.len());
        for (index, &ip) in raw.ips.iter().enumerate() {
            let syms = self.resolve_ip(ip);
            for (depth, s) in syms.iter().enumerate() {
                origins.push(FrameOrigin { index, depth });
                frames.push(Frame {
                    function: s.function.clone(),
                    abs_path: s.path.as_ref().map(|p| p.to_string_lossy().into_owned()),
                    lineno: s.line,
                    colno: s.col,
                    instruction_addr: Some(format!("{ip:#x}")),
                    ..Frame::default()
                });
            }
        }
        let cut = match trim {
            Trim::Panic => {
                // The machinery sits between the first frame outside std/SDK and the hook;
                // older `std::panicking::*` frames (catch_unwind) must survive.
                let sdk = sdk_frames(&frames);
                let boundary = frames
                    .iter()
                    .zip(sdk)
                    .position(|(f, sdk)| {
                        !(sdk || is_runtime_frame(f.function.as_deref().unwrap_or("")))
                    })
                    .unwrap_or(frames.len());
                frames[..boundary]
                    .iter()
                    .rposition(|f| is_panic_marker(f.function.as_deref().unwrap_or("")))
                    .map(|i| i + 1)
                    .unwrap_or_else(|| sdk_prefix_len(&frames))
            }
            Trim::Capture => sdk_prefix_len(&frames),
        };
        let cut = cut.min(frames.len());
        frames.drain(..cut);
        origins.drain(..cut);
        let (frames, mut origins): (Vec<Frame>, Vec<FrameOrigin>) = frames
            .into_iter()
            .zip(origins)
            .filter(|(f, _)| !is_sdk_frame(f.function.as_deref().unwrap_or("")))
            .unzip();
        let mut frames = frames;
        frames.reverse();
        origins.reverse();
        for f in &mut frames {
            self.finish_frame(f);
        }
        (Stacktrace { frames }, origins)
    }

    fn finish_frame(&mut self, f: &mut Frame) {
        if let Some(func) = f.function.as_deref() {
            let clean = crate::locals::strip_generics(trim_qualifier(func));
            let path = crate::locals::strip_closures(&clean);
            let mut segs: Vec<&str> = path.split("::").collect();
            if segs.len() > 1 {
                f.package = segs.first().map(|s| (*s).to_owned());
                segs.pop();
                f.module = Some(segs.join("::"));
            }
        }
        f.filename = f.abs_path.as_deref().map(|p| self.short_path(p));
        f.in_app = Some(self.is_in_app(f));
        if let (Some(path), Some(line)) = (f.abs_path.clone(), f.lineno) {
            if let Some(lines) = self.source(Path::new(&path)) {
                add_context(f, &lines, line as usize);
            }
        }
    }

    fn short_path(&self, p: &str) -> String {
        if let Some(cwd) = &self.cwd {
            if let Ok(rel) = Path::new(p).strip_prefix(cwd) {
                return rel.to_string_lossy().into_owned();
            }
        }
        if let Some(i) = p.find("/registry/src/") {
            // `index.crates.io-…/crate-1.0/src/lib.rs` → `crate-1.0/src/lib.rs`
            let rest = &p[i + "/registry/src/".len()..];
            return rest.split_once('/').map_or(rest, |(_, r)| r).to_owned();
        }
        if let Some(i) = p.find("/library/") {
            return p[i + 1..].to_owned();
        }
        p.to_owned()
    }

    fn is_in_app(&self, f: &Frame) -> bool {
        let func = f.function.as_deref().unwrap_or("");
        let func = trim_qualifier(func);
        if self.include.iter().any(|p| func.starts_with(p.as_str())) {
            return true;
        }
        if self.exclude.iter().any(|p| func.starts_with(p.as_str())) {
            return false;
        }
        if func.is_empty() || NOT_IN_APP.iter().any(|p| starts_with_segment(func, p)) {
            return false;
        }
        // Rust functions always have a path; a bare symbol is C (libc start-up, libgcc…).
        if !func.contains("::") {
            return false;
        }
        match f.abs_path.as_deref() {
            // Without debug info there is no way to tell registry crates from the app.
            None => false,
            Some(p) => {
                !(p.starts_with("/rustc/")
                    || p.contains("/.cargo/registry/")
                    || p.contains("/.cargo/git/")
                    || p.contains("/rustlib/src/rust/")
                    || p.contains("/library/std/src/")
                    || p.contains("/library/core/src/")
                    || p.contains("/library/alloc/src/"))
            }
        }
    }

    fn source(&mut self, path: &Path) -> Option<Arc<Vec<String>>> {
        if let Some(s) = self.sources.get(path) {
            return s.clone();
        }
        let lines = std::fs::read(path).ok().and_then(|bytes| {
            // Skip huge files and binaries: the cost would land on every event.
            if bytes.len() > 4 * 1024 * 1024 {
                return None;
            }
            let text = String::from_utf8_lossy(&bytes);
            Some(Arc::new(
                text.lines()
                    .map(|l| truncate_line(l.trim_end_matches('\r')))
                    .collect::<Vec<_>>(),
            ))
        });
        if self.sources.len() > 512 {
            self.sources.clear();
        }
        self.sources.insert(path.to_path_buf(), lines.clone());
        lines
    }
}

fn truncate_line(l: &str) -> String {
    if l.len() <= MAX_LINE_LEN {
        return l.to_owned();
    }
    let mut cut = MAX_LINE_LEN;
    while !l.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &l[..cut])
}

fn add_context(f: &mut Frame, lines: &[String], line: usize) {
    if line == 0 || line > lines.len() {
        return;
    }
    let idx = line - 1;
    f.pre_context = lines[idx.saturating_sub(CONTEXT_LINES)..idx].to_vec();
    f.context_line = Some(lines[idx].clone());
    f.post_context = lines[idx + 1..(idx + 1 + CONTEXT_LINES).min(lines.len())].to_vec();
}

/// `<a::B as c::D>::f` → `a::B as c::D>::f`; `<&mut T>::f` → `T>::f`. Enough for prefix checks.
fn trim_qualifier(f: &str) -> &str {
    let f = f.trim_start_matches('_').trim_start_matches('<');
    let f = f.strip_prefix("&mut ").unwrap_or(f);
    let f = f.strip_prefix('&').unwrap_or(f);
    f.strip_prefix("dyn ").unwrap_or(f)
}

/// `prefix` is a crate name (`tokio` matches `tokio::…`, not `tokio_util::…` or an app crate
/// named `tokio_app`) or, for `_`-led symbols, a plain prefix.
fn starts_with_segment(func: &str, prefix: &str) -> bool {
    if prefix.starts_with('_') || prefix.starts_with("rust_") {
        func.starts_with(prefix)
    } else {
        func == prefix
            || func
                .strip_prefix(prefix)
                .is_some_and(|r| r.starts_with("::"))
    }
}

fn is_sdk_frame(func: &str) -> bool {
    let f = trim_qualifier(func);
    f.starts_with("errata::") || f.starts_with("backtrace::")
}

fn is_panic_marker(func: &str) -> bool {
    PANIC_MARKERS.iter().any(|m| func.starts_with(m))
        || is_sdk_frame(func)
        || func.contains("as core::ops::function::Fn<Args>>::call")
}

fn is_runtime_frame(func: &str) -> bool {
    let f = trim_qualifier(func);
    func.is_empty()
        || is_panic_marker(func)
        || ["std::", "core::", "alloc::", "rust_", "__rust"]
            .iter()
            .any(|p| f.starts_with(p))
}

/// Which frames are the SDK's. Debug info with line tables only names inlined functions
/// without their path (`trace`, not `backtrace::backtrace::libunwind::trace`): an unqualified
/// frame at the address of an SDK frame (the function it was inlined into) is the SDK's too.
fn sdk_frames(frames: &[Frame]) -> Vec<bool> {
    let named: Vec<bool> = frames
        .iter()
        .map(|f| is_sdk_frame(f.function.as_deref().unwrap_or("")))
        .collect();
    let sdk_addrs: Vec<&str> = frames
        .iter()
        .zip(&named)
        .filter(|(_, sdk)| **sdk)
        .filter_map(|(f, _)| f.instruction_addr.as_deref())
        .collect();
    frames
        .iter()
        .zip(&named)
        .map(|(f, &sdk)| {
            sdk || !f.function.as_deref().unwrap_or("").contains("::")
                && f.instruction_addr
                    .as_deref()
                    .is_some_and(|a| sdk_addrs.contains(&a))
        })
        .collect()
}

/// Leading frames (newest end) that are the SDK or unresolvable stack-walk internals.
fn sdk_prefix_len(frames: &[Frame]) -> usize {
    let sdk = sdk_frames(frames);
    frames
        .iter()
        .zip(sdk)
        .position(|(f, sdk)| !(f.function.as_deref().unwrap_or("").is_empty() || sdk))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_app_rules() {
        let r = Resolver::new(vec![], vec!["myapp::vendored".into()]);
        let mk = |func: &str, path: &str| Frame {
            function: Some(func.into()),
            abs_path: Some(path.into()),
            ..Frame::default()
        };
        assert!(r.is_in_app(&mk("myapp::run", "/src/myapp/src/main.rs")));
        assert!(!r.is_in_app(&mk(
            "std::rt::lang_start",
            "/rustc/abc/library/std/src/rt.rs"
        )));
        assert!(!r.is_in_app(&mk(
            "serde_json::de::from_str",
            "/home/u/.cargo/registry/src/index.crates.io-1/serde_json-1.0/src/de.rs"
        )));
        assert!(!r.is_in_app(&mk("myapp::vendored::x", "/src/myapp/src/v.rs")));
        assert!(!r.is_in_app(&mk(
            "<errata::hub::BoundFuture<F> as core::future::Future>::poll",
            "/x/client/src/hub.rs"
        )));
        assert!(!r.is_in_app(&mk("main", "/x/main.c")));
        assert!(r.is_in_app(&mk("tokio_app::main::{{closure}}", "/src/app/main.rs")));
        assert!(!r.is_in_app(&mk("tokio::runtime::park", "/src/tokio/park.rs")));
        assert!(!r.is_in_app(&mk("__libc_start_call_main", "./csu/libc-start.c")));
    }

    #[test]
    fn unqualified_frames_inlined_into_the_sdk_are_trimmed() {
        let mk = |func: &str, addr: &str| Frame {
            function: Some(func.into()),
            instruction_addr: Some(addr.into()),
            ..Frame::default()
        };
        // Newest first, as `resolve` builds them; line-tables-only names for inlined frames.
        let frames = [
            mk("trace", "0x10"),
            mk("backtrace::backtrace::trace_unsynchronized", "0x10"),
            mk("errata::backtrace::RawStack::capture", "0x20"),
            mk("helper", "0x30"),
            mk("app::run", "0x30"),
            mk("main", "0x40"),
        ];
        assert_eq!(sdk_prefix_len(&frames), 3, "app's inlined `helper` stays");
    }

    #[test]
    fn context_lines_are_bounded() {
        let lines: Vec<String> = (1..=8).map(|i| format!("l{i}")).collect();
        let mut f = Frame::default();
        add_context(&mut f, &lines, 2);
        assert_eq!(f.pre_context, vec!["l1"]);
        assert_eq!(f.context_line.as_deref(), Some("l2"));
        assert_eq!(f.post_context.len(), 5);
    }
}
