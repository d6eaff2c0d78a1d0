//! Client options: a by-value builder with documented defaults.
//!
//! `init` accepts anything convertible into [`ClientOptions`]: a DSN string, a [`Dsn`], or a
//! built `ClientOptions`. When no DSN is given, `ERRATA_DSN` then `SENTRY_DSN` is read; with none
//! at all the SDK is disabled.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::dsn::Dsn;
use crate::protocol::Event;
use crate::transport::Transport;

/// The `before_send` hook: return `None` to drop the event. Runs on the background worker with
/// the fully resolved event (frames, locals, contexts).
pub type BeforeSend = Arc<dyn Fn(Event) -> Option<Event> + Send + Sync>;

/// Builds the transport for a client; lets tests and benchmarks replace HTTP.
pub type TransportFactory = Arc<dyn Fn(&ClientOptions) -> Arc<dyn Transport> + Send + Sync>;

/// When the panic hook waits for the event to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FlushOnPanic {
    /// Wait (up to `shutdown_timeout`) when the process is likely to end: the panic is on the
    /// `main` thread, or the binary is built with `panic = "abort"`. Panics on other threads
    /// only enqueue the event, so a thread that survives a caught panic stays fast.
    #[default]
    Auto,
    /// Always wait.
    Always,
    /// Never wait (the guard's drop still flushes).
    Never,
}

/// Default names whose values are sent as `[Filtered]` (case-insensitive substring match).
pub const DEFAULT_SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "key",
    "authorization",
    "cookie",
    "session",
    "credential",
];

/// SDK configuration; see each setter for the default.
#[derive(Clone)]
#[must_use = "options do nothing until passed to errata::init"]
pub struct ClientOptions {
    pub(crate) dsn: Option<Dsn>,
    pub(crate) dsn_error: Option<String>,
    pub(crate) release: Option<Cow<'static, str>>,
    pub(crate) environment: Option<Cow<'static, str>>,
    pub(crate) server_name: Option<Cow<'static, str>>,
    pub(crate) sample_rate: f32,
    pub(crate) before_send: Option<BeforeSend>,
    pub(crate) max_breadcrumbs: usize,
    pub(crate) in_app_include: Vec<String>,
    pub(crate) in_app_exclude: Vec<String>,
    pub(crate) debug: bool,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) max_value_length: usize,
    pub(crate) secret_names: Vec<String>,
    pub(crate) env_allowlist: Vec<String>,
    pub(crate) spool_dir: Option<PathBuf>,
    pub(crate) queue_size: usize,
    pub(crate) flush_on_panic: FlushOnPanic,
    pub(crate) max_retries: u32,
    pub(crate) retry_backoff: Duration,
    pub(crate) attach_stacktrace: bool,
    pub(crate) transport: Option<TransportFactory>,
    pub(crate) install_panic_hook: bool,
    /// Bytes of stack copied per capture for auto-locals; 0 = off.
    #[cfg(feature = "auto-locals")]
    pub(crate) auto_locals_stack: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            dsn: None,
            dsn_error: None,
            release: None,
            environment: None,
            server_name: None,
            sample_rate: 1.0,
            before_send: None,
            max_breadcrumbs: 100,
            in_app_include: Vec::new(),
            in_app_exclude: Vec::new(),
            debug: false,
            shutdown_timeout: Duration::from_secs(2),
            max_value_length: 1024,
            secret_names: DEFAULT_SECRET_NAMES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            env_allowlist: Vec::new(),
            spool_dir: None,
            queue_size: 100,
            flush_on_panic: FlushOnPanic::Auto,
            max_retries: 3,
            retry_backoff: Duration::from_millis(200),
            attach_stacktrace: true,
            transport: None,
            install_panic_hook: true,
            #[cfg(feature = "auto-locals")]
            auto_locals_stack: crate::autolocals::DEFAULT_STACK_BYTES,
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("dsn", &self.dsn)
            .field("release", &self.release)
            .field("environment", &self.environment)
            .field("server_name", &self.server_name)
            .field("sample_rate", &self.sample_rate)
            .field("max_breadcrumbs", &self.max_breadcrumbs)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("spool_dir", &self.spool_dir)
            .finish_non_exhaustive()
    }
}

impl ClientOptions {
    /// Options with defaults and no DSN (the environment is consulted at `init`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the DSN. An unparsable DSN disables the SDK (reported with `debug`).
    pub fn dsn(mut self, dsn: &str) -> Self {
        self.set_dsn_str(dsn);
        self
    }

    fn set_dsn_str(&mut self, dsn: &str) {
        if dsn.trim().is_empty() {
            self.dsn = None;
            return;
        }
        match dsn.parse::<Dsn>() {
            Ok(d) => {
                self.dsn = Some(d);
                self.dsn_error = None;
            }
            Err(e) => {
                self.dsn = None;
                self.dsn_error = Some(e.to_string());
            }
        }
    }

    /// The parsed DSN, if any.
    pub fn get_dsn(&self) -> Option<&Dsn> {
        self.dsn.as_ref()
    }

    /// Release name. Default: the binary's name; use `errata::release_name!()` for
    /// `package@version` of the application crate.
    pub fn release(mut self, release: impl Into<Cow<'static, str>>) -> Self {
        self.release = Some(release.into());
        self
    }

    /// Sets the release only when none was set (used by `errata::init!`).
    pub fn release_if_unset(mut self, release: impl Into<Cow<'static, str>>) -> Self {
        if self.release.is_none() {
            self.release = Some(release.into());
        }
        self
    }

    /// Environment (`production`, `staging`…). Default: none.
    pub fn environment(mut self, env: impl Into<Cow<'static, str>>) -> Self {
        self.environment = Some(env.into());
        self
    }

    /// Server name. Default: the host name.
    pub fn server_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Fraction of error events sent, 0.0–1.0. Default 1.0.
    pub fn sample_rate(mut self, rate: f32) -> Self {
        self.sample_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// Hook run on every event before sending; return `None` to drop it.
    pub fn before_send(
        mut self,
        f: impl Fn(Event) -> Option<Event> + Send + Sync + 'static,
    ) -> Self {
        self.before_send = Some(Arc::new(f));
        self
    }

    /// Breadcrumbs kept per scope. Default 100.
    pub fn max_breadcrumbs(mut self, n: usize) -> Self {
        self.max_breadcrumbs = n;
        self
    }

    /// Function-path prefixes always marked in-app (wins over excludes and built-in rules).
    pub fn in_app_include(mut self, prefix: impl Into<String>) -> Self {
        self.in_app_include.push(prefix.into());
        self
    }

    /// Function-path prefixes never marked in-app (in addition to std, registry crates…).
    pub fn in_app_exclude(mut self, prefix: impl Into<String>) -> Self {
        self.in_app_exclude.push(prefix.into());
        self
    }

    /// Prints SDK diagnostics to stderr. Default off.
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = on;
        self
    }

    /// How long the guard's drop and the panic hook wait for pending events. Default 2 s.
    pub fn shutdown_timeout(mut self, t: Duration) -> Self {
        self.shutdown_timeout = t;
        self
    }

    /// Maximum bytes of one local variable's `Debug` form. Default 1024.
    pub fn max_value_length(mut self, n: usize) -> Self {
        self.max_value_length = n.max(16);
        self
    }

    /// Adds a name fragment whose locals/env vars are sent as `[Filtered]`.
    pub fn secret_name(mut self, fragment: impl Into<String>) -> Self {
        self.secret_names.push(fragment.into().to_ascii_lowercase());
        self
    }

    /// Replaces the secret name fragments (default [`DEFAULT_SECRET_NAMES`]).
    pub fn secret_names<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.secret_names = names
            .into_iter()
            .map(|s| s.into().to_ascii_lowercase())
            .collect();
        self
    }

    /// Environment variables included in events (`contexts.env`). Default none.
    pub fn env_var(mut self, name: impl Into<String>) -> Self {
        self.env_allowlist.push(name.into());
        self
    }

    /// Directory where envelopes that cannot be delivered are kept and retried later, also
    /// after a restart. Default none (undeliverable envelopes are dropped and counted).
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spool_dir = Some(dir.into());
        self
    }

    /// Capacity of the send queue; when full, events are dropped and counted. Default 100.
    pub fn queue_size(mut self, n: usize) -> Self {
        self.queue_size = n.max(1);
        self
    }

    /// When the panic hook waits for delivery. Default [`FlushOnPanic::Auto`].
    pub fn flush_on_panic(mut self, mode: FlushOnPanic) -> Self {
        self.flush_on_panic = mode;
        self
    }

    /// Retries after connection errors and 5xx answers. Default 3.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// First retry delay, doubled per attempt. Default 200 ms.
    pub fn retry_backoff(mut self, d: Duration) -> Self {
        self.retry_backoff = d;
        self
    }

    /// Attach a stack trace to `capture_message` events. Default true.
    pub fn attach_stacktrace(mut self, on: bool) -> Self {
        self.attach_stacktrace = on;
        self
    }

    /// Replaces the HTTP transport.
    pub fn transport<F>(mut self, factory: F) -> Self
    where
        F: Fn(&ClientOptions) -> Arc<dyn Transport> + Send + Sync + 'static,
    {
        self.transport = Some(Arc::new(factory));
        self
    }

    /// Install the panic hook at `init`. Default true.
    pub fn install_panic_hook(mut self, on: bool) -> Self {
        self.install_panic_hook = on;
        self
    }

    /// Read every frame's local variables from the binary's debug info (feature
    /// `auto-locals`). Default on when the feature is compiled in.
    #[cfg(feature = "auto-locals")]
    pub fn auto_locals(mut self, on: bool) -> Self {
        self.auto_locals_stack = if on {
            crate::autolocals::DEFAULT_STACK_BYTES
        } else {
            0
        };
        self
    }

    /// Bytes of the capturing thread's stack copied for auto-locals (frames beyond get no
    /// values). Default [`DEFAULT_STACK_BYTES`](crate::autolocals::DEFAULT_STACK_BYTES),
    /// 256 KiB; 0 turns auto-locals off.
    #[cfg(feature = "auto-locals")]
    pub fn auto_locals_stack_size(mut self, bytes: usize) -> Self {
        self.auto_locals_stack = bytes;
        self
    }

    /// Fills the DSN from `ERRATA_DSN`/`SENTRY_DSN` when none was set.
    /// Why the built-in HTTP transport could not send to this DSN: `https` on a build without
    /// the `tls` feature. A custom transport decides for itself.
    pub(crate) fn unsendable(&self) -> Option<crate::InitError> {
        let https = self.dsn.as_ref().is_some_and(|d| d.scheme() == "https");
        (https && self.transport.is_none() && !cfg!(feature = "tls"))
            .then_some(crate::InitError::TlsDisabled)
    }

    pub(crate) fn apply_env(&mut self) {
        if self.dsn.is_none() && self.dsn_error.is_none() && self.transport.is_none() {
            for var in ["ERRATA_DSN", "SENTRY_DSN"] {
                if let Ok(v) = std::env::var(var) {
                    if !v.trim().is_empty() {
                        self.set_dsn_str(&v);
                        break;
                    }
                }
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn is_secret(&self, name: &str) -> bool {
        is_secret_name(&self.secret_names, name)
    }
}

pub(crate) fn is_secret_name(fragments: &[String], name: &str) -> bool {
    fragments.iter().any(|f| {
        name.as_bytes()
            .windows(f.len().max(1))
            .any(|w| w.eq_ignore_ascii_case(f.as_bytes()))
    })
}

impl From<&str> for ClientOptions {
    fn from(dsn: &str) -> Self {
        ClientOptions::new().dsn(dsn)
    }
}

impl From<String> for ClientOptions {
    fn from(dsn: String) -> Self {
        ClientOptions::new().dsn(&dsn)
    }
}

impl From<Dsn> for ClientOptions {
    fn from(dsn: Dsn) -> Self {
        ClientOptions {
            dsn: Some(dsn),
            ..ClientOptions::default()
        }
    }
}

impl From<()> for ClientOptions {
    fn from(_: ()) -> Self {
        ClientOptions::default()
    }
}

impl<T: Into<ClientOptions>> From<Option<T>> for ClientOptions {
    fn from(o: Option<T>) -> Self {
        o.map(Into::into).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_match_case_insensitively() {
        let o = ClientOptions::new();
        assert!(o.is_secret("user_password"));
        assert!(o.is_secret("API_KEY"));
        assert!(o.is_secret("authToken"));
        assert!(!o.is_secret("user_id"));
    }
}
