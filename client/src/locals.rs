//! Local variables attached to stack frames.
//!
//! [`locals!`](crate::locals!) registers borrowed variables in a thread-local stack for the rest
//! of the enclosing scope. Registration copies a few words (name, a lifetime-erased `&dyn Debug`,
//! the call site) into a pre-allocated `Vec`: no formatting, no allocation once the stack has
//! grown. Values are formatted only when an event is captured, on the capturing thread (the
//! references are only valid there) — for panics inside the panic hook, i.e. before unwinding,
//! so the values are those at the panic point.
//!
//! Each registration remembers its function (via `type_name` of a marker item), `file!()` and
//! `line!()`; the worker attaches the values to the frame with the same function name in the same
//! file. Registrations that match no frame (e.g. inlined without debug info) go to
//! `extra.locals`.
//!
//! Names matching the secret list are sent as `[Filtered]` without calling their `Debug`; other
//! values are cut at `max_value_length` bytes by a writer that stops formatting there.

use std::cell::RefCell;
use std::fmt::{self, Debug, Write as _};
use std::marker::PhantomData;

use serde_json::Value;

use crate::options::is_secret_name;

/// Where a [`locals!`](crate::locals!) call is; one `static` per call site.
#[doc(hidden)]
#[derive(Debug)]
pub struct LocalsSite {
    /// `module_path!()`.
    pub module: &'static str,
    /// `file!()`.
    pub file: &'static str,
    /// `line!()`.
    pub line: u32,
}

#[derive(Clone, Copy)]
struct Entry {
    name: &'static str,
    value: erased::ErasedRef,
    site: &'static LocalsSite,
    function: &'static str,
    token: u32,
}

/// The registrations of one thread plus the next guard token (one thread-local, one lookup).
struct Stack {
    entries: Vec<Entry>,
    next_token: u32,
}

thread_local! {
    static STACK: RefCell<Stack> = const {
        RefCell::new(Stack {
            entries: Vec::new(),
            next_token: 1,
        })
    };
}

/// Keeps variables registered until the end of the scope; created by
/// [`locals!`](crate::locals!). Not `Send`: the registration belongs to its thread.
#[must_use = "the variables are registered only while the guard lives"]
pub struct LocalsGuard<'a> {
    token: u32,
    count: u32,
    _borrow: PhantomData<&'a ()>,
    _not_send: PhantomData<*const ()>,
}

impl LocalsGuard<'_> {
    fn inactive() -> Self {
        LocalsGuard {
            token: 0,
            count: 0,
            _borrow: PhantomData,
            _not_send: PhantomData,
        }
    }
}

impl Drop for LocalsGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.count == 0 {
            return;
        }
        let (token, count) = (self.token, self.count as usize);
        let _ = STACK.try_with(|s| {
            // Nothing borrows the stack across user code, so this cannot fail; if it ever did,
            // leaving entries behind would leave dangling references, so the fallback clears all.
            match s.try_borrow_mut() {
                Ok(mut s) => {
                    let e = &mut s.entries;
                    let len = e.len();
                    if len >= count && e[len - 1].token == token && e[len - count].token == token {
                        e.truncate(len - count);
                    } else {
                        // Guards of interleaved async tasks on one thread can drop out of order.
                        e.retain(|x| x.token != token);
                    }
                }
                Err(_) => {
                    s.replace(Stack {
                        entries: Vec::new(),
                        next_token: 1,
                    });
                }
            }
        });
    }
}

/// The enclosing function's path, from the `type_name` of a marker item defined inside it.
#[doc(hidden)]
#[inline(always)]
pub fn fn_path_of<F>(_marker: F) -> &'static str {
    std::any::type_name::<F>()
}

/// The one place with `unsafe`: storing `&'a dyn Debug` in a thread-local `'static` slot.
#[allow(unsafe_code)]
pub mod erased {
    use super::*;
    use std::ptr::NonNull;

    /// A `&dyn Debug` whose lifetime has been erased.
    #[derive(Clone, Copy)]
    pub(super) struct ErasedRef(NonNull<dyn Debug + 'static>);

    impl ErasedRef {
        /// # Safety
        /// The referent must still be alive; see [`register`].
        pub(super) unsafe fn get(&self) -> &dyn Debug {
            // SAFETY: the caller guarantees the referent is alive. Entries are only read on the
            // thread that registered them (the stack is thread-local) and are removed by the
            // guard's drop, which runs before the borrowed variables go out of scope.
            unsafe { self.0.as_ref() }
        }
    }

    /// Registers borrowed variables until the returned guard drops.
    ///
    /// # Safety
    /// The guard must be dropped before any of the referenced values (and must not be leaked
    /// with `mem::forget`, `Box::leak`, `Rc` cycles…). The [`locals!`](crate::locals!) macro
    /// guarantees this by binding the guard to a hygienic local declared after the variables,
    /// which user code cannot name, so it is dropped at the end of the scope before them.
    #[doc(hidden)]
    #[inline]
    pub unsafe fn register<'a>(
        site: &'static LocalsSite,
        function: &'static str,
        vars: &[(&'static str, &'a (dyn Debug + 'a))],
    ) -> LocalsGuard<'a> {
        if !crate::client::any_client_active() || vars.is_empty() {
            return LocalsGuard::inactive();
        }
        let pushed = STACK.try_with(|s| {
            let Ok(mut s) = s.try_borrow_mut() else {
                return None;
            };
            let token = s.next_token;
            s.next_token = token.wrapping_add(1).max(1);
            if s.entries.capacity() == 0 {
                s.entries.reserve(64);
            }
            for (name, value) in vars {
                let ptr: NonNull<dyn Debug + 'a> = NonNull::from(*value);
                // SAFETY: only the lifetime changes (same fat-pointer layout). The pointer is
                // dereferenced only while the guard lives, which the caller guarantees is
                // shorter than `'a`; the guard removes every entry carrying its token on drop.
                let ptr: NonNull<dyn Debug + 'static> = unsafe {
                    std::mem::transmute::<NonNull<dyn Debug + 'a>, NonNull<dyn Debug + 'static>>(
                        ptr,
                    )
                };
                s.entries.push(Entry {
                    name,
                    value: ErasedRef(ptr),
                    site,
                    function,
                    token,
                });
            }
            Some(token)
        });
        if let Ok(Some(token)) = pushed {
            LocalsGuard {
                token,
                count: vars.len() as u32,
                _borrow: PhantomData,
                _not_send: PhantomData,
            }
        } else {
            LocalsGuard::inactive()
        }
    }

    /// Walks the current stack collecting instruction pointers (newest first) and, when
    /// `sps` is given, each frame's stack pointer (the unwinder's CFA of the frame it called;
    /// feature `auto-locals`).
    pub(crate) fn trace_ips(out: &mut Vec<usize>, mut sps: Option<&mut Vec<usize>>, max: usize) {
        let mut push = |f: &backtrace::Frame| {
            out.push(f.ip() as usize);
            if let Some(c) = sps.as_deref_mut() {
                c.push(f.sp() as usize);
            }
            out.len() < max
        };
        #[cfg(unix)]
        // SAFETY: the synchronized `trace` only adds a process-wide lock that `resolve` also
        // takes; it exists for dbghelp on Windows. On unix the walk uses `_Unwind_Backtrace`,
        // which is thread-safe, and skipping the lock keeps a capture from waiting behind the
        // worker's symbol resolution. The callback does not panic.
        unsafe {
            backtrace::trace_unsynchronized(&mut push)
        }
        #[cfg(not(unix))]
        backtrace::trace(&mut push);
    }

    /// Formats the registered values of this thread.
    pub(crate) fn snapshot(secret_names: &[String], max_len: usize) -> Vec<CapturedLocals> {
        let entries: Vec<Entry> = STACK
            .try_with(|s| {
                s.try_borrow()
                    .map(|s| s.entries.clone())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let mut out: Vec<CapturedLocals> = Vec::new();
        for e in entries {
            let value = if is_secret_name(secret_names, e.name) {
                Value::String(FILTERED.to_owned())
            } else {
                // SAFETY: `entries` was copied from this thread's stack just now and no guard
                // has dropped since (we are still inside the capturing call), so every
                // referent is alive.
                let v = unsafe { e.value.get() };
                Value::String(format_limited(v, max_len))
            };
            let key = e.site as *const LocalsSite as usize;
            match out.last_mut() {
                Some(last) if last.token == e.token => {
                    last.vars.push((e.name.to_owned(), value));
                }
                _ => out.push(CapturedLocals {
                    source: VarsSource::Locals,
                    token: e.token,
                    site_key: key,
                    function: super::clean_marker_path(e.function),
                    file: e.site.file.to_owned(),
                    line: e.site.line,
                    module: e.site.module.to_owned(),
                    vars: vec![(e.name.to_owned(), value)],
                }),
            }
        }
        out
    }
}

/// The replacement for secret-looking values.
pub const FILTERED: &str = "[Filtered]";

/// Where a frame's variable came from (`frame.data.vars_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarsSource {
    /// [`locals!`](crate::locals!).
    Locals,
    /// A `tracing` span's fields.
    Tracing,
    /// The binary's debug info (feature `auto-locals`).
    DebugInfo,
}

impl VarsSource {
    /// The protocol name.
    pub fn as_str(self) -> &'static str {
        match self {
            VarsSource::Locals => "locals",
            VarsSource::Tracing => "tracing",
            VarsSource::DebugInfo => "debug_info",
        }
    }
}

/// Sets `frame.vars[name]` unless a value is there already (the first source wins) and, with
/// auto-locals compiled in (where sources mix), records the source in `frame.data.vars_source`.
pub(crate) fn set_var(
    frame: &mut crate::protocol::Frame,
    name: String,
    value: Value,
    source: VarsSource,
) {
    if frame.vars.contains_key(&name) {
        return;
    }
    if !cfg!(feature = "auto-locals") {
        frame.vars.insert(name, value);
        return;
    }
    let sources = frame
        .data
        .entry("vars_source".to_owned())
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if let Value::Object(m) = sources {
        m.insert(name.clone(), Value::String(source.as_str().to_owned()));
    }
    frame.vars.insert(name, value);
}

/// Variables captured from one registration (or one tracing span), oldest first in a list.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturedLocals {
    pub(crate) source: VarsSource,
    pub(crate) token: u32,
    /// Identifies the call site so recursion assigns one registration per frame.
    pub(crate) site_key: usize,
    /// Function path (closures/markers stripped).
    pub(crate) function: String,
    /// Source file as given by `file!()` or the span metadata.
    pub(crate) file: String,
    pub(crate) line: u32,
    #[allow(dead_code)]
    pub(crate) module: String,
    pub(crate) vars: Vec<(String, Value)>,
}

/// `crate::f::__errata_here` → `crate::f`; also drops `{{closure}}` segments.
fn clean_marker_path(p: &str) -> String {
    let p = p.strip_suffix("::__errata_here").unwrap_or(p);
    strip_closures(p)
}

pub(crate) fn strip_closures(p: &str) -> String {
    p.split("::")
        .filter(|s| !s.starts_with("{{closure") && !s.starts_with("{closure"))
        .collect::<Vec<_>>()
        .join("::")
}

/// The last path segment, ignoring generic arguments (`a::B<T>::f` → `f`).
pub(crate) fn last_segment(p: &str) -> &str {
    p.rsplit("::").next().unwrap_or(p)
}

struct Limited {
    buf: String,
    max: usize,
    truncated: bool,
}

impl fmt::Write for Limited {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.max.saturating_sub(self.buf.len());
        if s.len() <= room {
            self.buf.push_str(s);
            Ok(())
        } else {
            let mut cut = room;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            self.buf.push_str(&s[..cut]);
            self.truncated = true;
            // Stops the Debug impl early: huge values cost no more than `max` bytes.
            Err(fmt::Error)
        }
    }
}

/// `Debug` form cut at `max` bytes (with a trailing `…`).
pub(crate) fn format_limited(v: &dyn Debug, max: usize) -> String {
    let mut w = Limited {
        buf: String::new(),
        max,
        truncated: false,
    };
    let _ = write!(w, "{v:?}");
    if w.truncated {
        w.buf.push('…');
    }
    w.buf
}

/// Assigns captured locals to frames: newest registration to the newest matching frame, the
/// same call site never twice to one frame (recursion). Returns the ones that matched nothing.
pub(crate) fn attach_to_frames(
    frames: &mut [crate::protocol::Frame],
    locals: Vec<CapturedLocals>,
) -> Vec<CapturedLocals> {
    let mut unmatched = Vec::new();
    let mut cursor = frames.len();
    let mut used: Vec<(usize, usize)> = Vec::new();
    for group in locals.into_iter().rev() {
        let want_fn = last_segment(&group.function).to_owned();
        // First the function itself, then its closures (async fn bodies are closures).
        let matches = |i: usize, strip: bool| {
            let f = &frames[i];
            if used.contains(&(i, group.site_key)) {
                return false;
            }
            let Some(func) = f.function.as_deref() else {
                return false;
            };
            let mut func = strip_generics(func);
            if strip {
                func = strip_closures(&func);
            }
            if last_segment(&func) != want_fn {
                return false;
            }
            match f.abs_path.as_deref().or(f.filename.as_deref()) {
                Some(path) => paths_match(path, &group.file),
                None => true,
            }
        };
        let found = (0..cursor)
            .rev()
            .find(|&i| matches(i, false))
            .or_else(|| (0..cursor).rev().find(|&i| matches(i, true)));
        match found {
            Some(i) => {
                used.push((i, group.site_key));
                cursor = i + 1;
                for (k, v) in group.vars {
                    set_var(&mut frames[i], k, v, group.source);
                }
            }
            None => unmatched.push(group),
        }
    }
    unmatched.reverse();
    unmatched
}

fn paths_match(abs: &str, file: &str) -> bool {
    let norm = |s: &str| s.replace('\\', "/");
    let (abs, file) = (norm(abs), norm(file));
    abs == file || abs.ends_with(&format!("/{}", file.trim_start_matches("./")))
}

/// Removes `<…>` generic argument lists, keeping a leading `<T as Trait>` readable enough for
/// matching the last segment.
pub(crate) fn strip_generics(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    let mut prev = '\0';
    for c in s.chars() {
        match c {
            '<' => depth += 1,
            '>' if prev != '-' && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
        prev = c;
    }
    while out.contains("::::") {
        out = out.replace("::::", "::");
    }
    out.trim_start_matches("::").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_format_stops_early() {
        let v = vec![1u8; 10_000];
        let s = format_limited(&v, 20);
        assert!(s.len() <= 24, "{s}");
        assert!(s.ends_with('…'));
        assert_eq!(format_limited(&"ab", 20), "\"ab\"");
    }

    #[test]
    fn generics_and_closures_are_stripped() {
        assert_eq!(
            strip_closures(&strip_generics("app::run::<T>::{{closure}}")),
            "app::run"
        );
        assert_eq!(clean_marker_path("app::f::__errata_here"), "app::f");
    }
}
