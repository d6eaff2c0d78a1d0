//! Errata client SDK: captures panics and errors and sends them to an Errata (or any
//! Sentry-compatible) server over the Sentry envelope protocol.
//!
//! # Quick start
//!
//! ```no_run
//! # #[allow(clippy::needless_doctest_main)]
//! fn main() {
//!     // DSN from the argument, or ERRATA_DSN / SENTRY_DSN; none at all disables the SDK.
//!     let _guard = errata::init(
//!         errata::ClientOptions::new()
//!             .dsn("http://publickey@127.0.0.1:8000/1")
//!             .release(errata::release_name!())
//!             .environment("production"),
//!     );
//!
//!     errata::configure_scope(|scope| scope.set_tag("region", "eu"));
//!
//!     let user_id = 42;
//!     errata::locals!(user_id); // sent with the frame of `main` if something goes wrong here
//!
//!     if let Err(e) = "x".parse::<u32>() {
//!         errata::capture_error(&e);
//!     }
//!     // Panics are captured by the hook `init` installs; the guard flushes when dropped.
//! }
//! ```
//!
//! # How it works
//!
//! Application threads do only cheap work: walk the stack for raw addresses, format registered
//! [`locals!`] values, copy the scope, and `try_send` into a bounded queue. One background
//! thread per client resolves symbols (the `backtrace` crate), marks in-app frames, reads source
//! context, attaches locals to their frames, adds `os`/`runtime`/`device`/`app` contexts, runs
//! `before_send` and delivers gzip-compressed envelopes with retries, rate limits and an
//! optional offline spool. See the modules for details.
//!
//! Frames need debug info for file names and line numbers (`debug = "line-tables-only"` is
//! enough in release profiles); locals need it for matching frames to functions.
//!
//! # Cron monitors
//!
//! [`monitor`] wraps a scheduled job in `in_progress` and `ok`/`error` check-ins, so the
//! server notices a job that stopped running or runs too long; [`check_in`] sends one.
//!
//! # Features
//!
//! * `log` – [`integrations::log::ErrataLogger`]: log records become breadcrumbs.
//! * `tracing` – [`integrations::tracing::ErrataLayer`]: span fields become frame locals,
//!   events become breadcrumbs.
//! * `anyhow` – [`capture_anyhow`], using anyhow's backtrace when it captured one.
//! * `test` – [`test`]: a capturing transport for tests.
//! * `tls` – HTTPS for the transport.
//! * `auto-locals` – [`autolocals`]: every frame's local variables read from the binary's
//!   debug info, no macro needed (Linux x86_64/aarch64).

#![warn(missing_docs)]
#![deny(unsafe_code)]

#[cfg(feature = "auto-locals")]
pub mod autolocals;
pub mod backtrace;
pub mod breadcrumbs;
pub mod client;
pub mod contexts;
pub mod dsn;
pub mod hub;
pub mod integrations;
pub mod locals;
pub mod monitor;
pub mod options;
pub mod panic;
pub mod protocol;
pub mod scope;
#[cfg(feature = "test")]
pub mod test;
pub mod transport;

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

pub use crate::breadcrumbs::add_breadcrumb;
pub use crate::client::Client;
pub use crate::dsn::{Dsn, ParseDsnError};
pub use crate::hub::{configure_global_scope, BoundFuture, Hub, HubFutureExt};
pub use crate::monitor::{
    check_in, monitor, CheckIn, CheckInStatus, IntervalUnit, JobOutcome, MonitorConfig,
    MonitorSchedule,
};
pub use crate::options::{ClientOptions, FlushOnPanic};
pub use crate::protocol::{Breadcrumb, Event, EventId, Level, User};
pub use crate::scope::{breadcrumb, Scope};

use crate::backtrace::{RawStack, Trim};
use crate::client::StackTarget;
use crate::protocol::{Exception, Mechanism};

/// Keeps the SDK running; dropping it flushes pending events (up to the shutdown timeout)
/// and stops the worker.
#[must_use = "dropping the guard immediately shuts the SDK down; bind it: `let _guard = errata::init(..)`"]
pub struct ClientGuard {
    client: Option<Arc<Client>>,
}

impl ClientGuard {
    /// True when events are sent somewhere.
    pub fn is_enabled(&self) -> bool {
        self.client.as_ref().is_some_and(|c| c.is_enabled())
    }

    /// The client.
    pub fn client(&self) -> Option<&Arc<Client>> {
        self.client.as_ref()
    }

    /// Waits for pending events; false on timeout.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.client.as_ref().is_none_or(|c| c.flush(timeout))
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let main = Hub::main();
            if main.client().is_some_and(|c| Arc::ptr_eq(&c, &client)) {
                main.bind_client(None);
            }
            client.close(client.options().shutdown_timeout);
        }
    }
}

/// Starts the SDK: a DSN string, a [`Dsn`], or [`ClientOptions`]. Without a DSN (argument,
/// `ERRATA_DSN` or `SENTRY_DSN`) the SDK stays disabled: no thread, no hook, every call returns
/// at once.
///
/// A DSN this build cannot send to (`https://` without the `tls` feature) leaves the SDK
/// disabled and says so on stderr, whatever `debug` says: [`try_init`] returns it as an error.
pub fn init(options: impl Into<ClientOptions>) -> ClientGuard {
    match try_init(options) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("[errata] SDK disabled: {e}");
            ClientGuard { client: None }
        }
    }
}

/// Why [`try_init`] refused to start the SDK.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    /// The DSN is `https://…` but this build has no TLS: events would be lost at send time.
    #[error(
        "the DSN is https://, but this build of errata cannot send over TLS: enable the \
         `tls` feature of the `errata` crate (on by default; `default-features = false` \
         turns it off)"
    )]
    TlsDisabled,
}

/// [`init`] that refuses, instead of starting disabled, a DSN this build cannot send to.
/// Without a DSN the SDK starts disabled, as with [`init`]. Errors: [`InitError`].
pub fn try_init(options: impl Into<ClientOptions>) -> Result<ClientGuard, InitError> {
    let mut options: ClientOptions = options.into();
    options.apply_env();
    if let Some(e) = options.unsendable() {
        return Err(e);
    }
    Ok(start(options))
}

fn start(options: ClientOptions) -> ClientGuard {
    let install_hook = options.install_panic_hook;
    let client = Client::new(options);
    if !client.is_enabled() {
        return ClientGuard { client: None };
    }
    Hub::main().bind_client(Some(client.clone()));
    // The calling thread (usually `main`) shares the main hub so its scope is everyone's base.
    crate::hub::set_current(Hub::main());
    if install_hook {
        crate::panic::install_panic_hook();
    }
    ClientGuard {
        client: Some(client),
    }
}

/// `init` with the release defaulting to the calling crate's `name@version`.
#[macro_export]
macro_rules! init {
    ($opts:expr) => {{
        let opts: $crate::ClientOptions = ::core::convert::Into::into($opts);
        $crate::init(opts.release_if_unset($crate::release_name!()))
    }};
}

/// The calling crate's `name@version` (from Cargo), for [`ClientOptions::release`].
#[macro_export]
macro_rules! release_name {
    () => {
        ::std::borrow::Cow::Borrowed(concat!(
            env!("CARGO_PKG_NAME"),
            "@",
            env!("CARGO_PKG_VERSION")
        ))
    };
}

/// Registers local variables for the rest of the scope; their `Debug` forms are attached to
/// this function's frame when an event is captured (including panics) while they are live.
///
/// ```no_run
/// # let user_id = 1; let cart = vec![1];
/// errata::locals!(user_id, &cart);
/// ```
///
/// Costs a few nanoseconds (no allocation or formatting); with the SDK disabled, one atomic
/// load. Names containing a secret fragment (`password`, `token`, `key`…) are sent as
/// `[Filtered]` without being formatted.
#[macro_export]
macro_rules! locals {
    ($($(&)? $name:ident),+ $(,)?) => {
        let __errata_locals_guard = {
            fn __errata_here() {}
            static __ERRATA_SITE: $crate::locals::LocalsSite = $crate::locals::LocalsSite {
                module: ::core::module_path!(),
                file: ::core::file!(),
                line: ::core::line!(),
            };
            // SAFETY: the guard is bound to a hygienic local that user code cannot name, move or
            // forget, declared after the borrowed variables, so it is dropped (unregistering
            // them) at the end of this scope before any of them.
            #[allow(unsafe_code)]
            unsafe {
                $crate::locals::erased::register(
                    &__ERRATA_SITE,
                    $crate::locals::fn_path_of(__errata_here),
                    &[$((::core::stringify!($name), &$name as &dyn ::core::fmt::Debug)),+],
                )
            }
        };
    };
}

fn type_name_parts(full: &str) -> (String, Option<String>) {
    // Split the module path from the type at the last `::` outside generic arguments.
    let mut depth = 0i32;
    let mut split = None;
    let bytes = full.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            b'<' => depth += 1,
            b'>' => depth -= 1,
            b':' if depth == 0 && i + 1 < bytes.len() && bytes[i + 1] == b':' => split = Some(i),
            _ => {}
        }
    }
    match split {
        Some(i) => (full[i + 2..].to_owned(), Some(full[..i].to_owned())),
        None => (full.to_owned(), None),
    }
}

/// Best-effort type name of a `dyn Error`: the leading identifier of its `Debug` output
/// (`ParseIntError { kind: .. }` → `ParseIntError`). Errors whose `Debug` starts elsewhere
/// (e.g. `io::Error` prints `Os { .. }` or `Custom { .. }`) give that identifier instead, and
/// `"Error"` when there is none.
pub fn type_name_from_debug(err: &dyn Error) -> String {
    let dbg = crate::locals::format_limited(&err, 128);
    let ident: String = dbg
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    let ident = ident.trim_end_matches(':');
    if ident.is_empty() {
        "Error".to_owned()
    } else {
        ident.to_owned()
    }
}

fn error_exceptions(
    outer_ty: (String, Option<String>),
    outer_value: String,
    first_source: Option<&(dyn Error + 'static)>,
) -> Vec<Exception> {
    let mut values = vec![Exception {
        ty: outer_ty.0,
        module: outer_ty.1,
        value: Some(outer_value),
        mechanism: Some(Mechanism {
            ty: "generic".to_owned(),
            handled: Some(true),
            synthetic: false,
            data: Default::default(),
        }),
        ..Exception::default()
    }];
    let mut source = first_source;
    while let Some(err) = source {
        if values.len() >= 32 {
            break;
        }
        values.push(Exception {
            ty: type_name_from_debug(err),
            value: Some(err.to_string()),
            mechanism: Some(Mechanism {
                ty: "chained".to_owned(),
                handled: Some(true),
                synthetic: false,
                data: Default::default(),
            }),
            ..Exception::default()
        });
        source = err.source();
    }
    // Protocol order: innermost first, the reported error last.
    values.reverse();
    values
}

/// Captures an error and its whole `source()` chain (innermost first on the wire), with the
/// current stack on the outermost exception. The outermost type name is exact
/// (`std::any::type_name`); source types are best-effort, see [`type_name_from_debug`].
#[inline(never)]
pub fn capture_error<E: Error + ?Sized + 'static>(err: &E) -> EventId {
    if !client::any_client_active() || hub::is_worker_thread() {
        return EventId::nil();
    }
    let raw = RawStack::capture();
    Hub::with_current(|hub| {
        let Some(client) = hub.client() else {
            return EventId::nil();
        };
        if !client.sample() {
            return EventId::nil();
        }
        let values = error_exceptions(
            type_name_parts(std::any::type_name::<E>()),
            err.to_string(),
            err.source(),
        );
        let last = values.len() - 1;
        let mut event = Event::default();
        event.exception.values = values;
        client.capture(
            hub,
            event,
            Some((StackTarget::Exception(last), raw, Trim::Capture)),
            true,
        )
    })
}

/// Captures a message event at `level`, with the current stack (unless
/// `attach_stacktrace(false)`) and locals.
#[inline(never)]
pub fn capture_message(message: &str, level: Level) -> EventId {
    if !client::any_client_active() || hub::is_worker_thread() {
        return EventId::nil();
    }
    Hub::with_current(|hub| {
        let Some(client) = hub.client() else {
            return EventId::nil();
        };
        if !client.sample() {
            return EventId::nil();
        }
        let stack = client
            .options()
            .attach_stacktrace
            .then(|| (StackTarget::Thread, RawStack::capture(), Trim::Capture));
        let event = Event {
            message: Some(message.to_owned()),
            level,
            ..Event::default()
        };
        client.capture(hub, event, stack, true)
    })
}

/// Captures an `anyhow::Error` with its chain. When anyhow captured a backtrace
/// (`RUST_BACKTRACE`/`RUST_LIB_BACKTRACE`), its frames are used (note: `std` resolves that
/// backtrace on the calling thread when it is formatted); otherwise the current stack.
#[cfg(feature = "anyhow")]
#[inline(never)]
pub fn capture_anyhow(err: &anyhow::Error) -> EventId {
    if !client::any_client_active() || hub::is_worker_thread() {
        return EventId::nil();
    }
    Hub::with_current(|hub| {
        let Some(client) = hub.client() else {
            return EventId::nil();
        };
        if !client.sample() {
            return EventId::nil();
        }
        let outer: &(dyn Error + 'static) = err.as_ref();
        let ty = type_name_from_debug(outer);
        let mut values = error_exceptions((ty, None), outer.to_string(), outer.source());
        let last = values.len() - 1;
        let bt = err.backtrace();
        let mut stack = None;
        if bt.status() == std::backtrace::BacktraceStatus::Captured {
            let frames = integrations::parse_std_backtrace(&bt.to_string());
            values[last].stacktrace = Some(protocol::Stacktrace { frames });
        } else {
            stack = Some((
                StackTarget::Exception(last),
                RawStack::capture(),
                Trim::Capture,
            ));
        }
        if let Some(m) = values[last].mechanism.as_mut() {
            m.ty = "anyhow".to_owned();
        }
        let mut event = Event::default();
        event.exception.values = values;
        client.capture(hub, event, stack, true)
    })
}

/// Adds to the current hub's scope.
pub fn configure_scope<R>(f: impl FnOnce(&mut Scope) -> R) -> R {
    Hub::with_current(|hub| hub.configure_scope(f))
}

/// Runs `body` with a temporary scope changed by `config` (current thread/task only).
pub fn with_scope<C: FnOnce(&mut Scope), R>(config: C, body: impl FnOnce() -> R) -> R {
    Hub::with_current(|hub| hub.clone()).with_scope(config, body)
}

/// Waits for the current client's pending events; false on timeout.
pub fn flush(timeout: Duration) -> bool {
    Hub::with_current(|hub| hub.flush(timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_split_outside_generics() {
        assert_eq!(
            type_name_parts("a::b::Wrap<c::D>"),
            ("Wrap<c::D>".to_owned(), Some("a::b".to_owned()))
        );
        assert_eq!(type_name_parts("Plain"), ("Plain".to_owned(), None));
    }

    #[test]
    fn disabled_sdk_returns_nil() {
        let g = init(ClientOptions::new().dsn(""));
        assert!(!g.is_enabled());
    }

    /// Issue #20 item 4: with `tls` (the default) an https DSN is one the transport can send
    /// to; `cargo test -p errata --no-default-features` runs the opposite case below.
    #[cfg(feature = "tls")]
    #[test]
    fn https_dsns_are_sendable_with_the_default_features() {
        let options = ClientOptions::new().dsn("https://key@errors.example.com/1");
        assert_eq!(options.unsendable(), None);
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn an_https_dsn_without_tls_fails_at_init_naming_the_feature() {
        let err = try_init(ClientOptions::new().dsn("https://key@errors.example.com/1"))
            .err()
            .expect("refused at init");
        assert_eq!(err, InitError::TlsDisabled);
        assert!(err.to_string().contains("`tls` feature"), "{err}");
        let plain = ClientOptions::new().dsn("http://key@127.0.0.1:9/1");
        assert_eq!(plain.unsendable(), None, "plain http needs no TLS");
    }
}
