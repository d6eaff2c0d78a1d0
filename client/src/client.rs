//! The client: builds events on the calling thread (cheaply) and finishes them on its worker.
//!
//! On the calling thread a capture takes: type names and messages, the raw stack (addresses
//! only), the `Debug` forms of registered locals and tracing span fields, the scope and the
//! thread's name. Everything costly — symbolication, in-app marking, source context, attaching
//! locals to frames, contexts, `before_send`, JSON and gzip — runs on the worker.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::backtrace::{RawStack, Resolver, Trim};
use crate::hub::Hub;
use crate::locals::CapturedLocals;
use crate::options::ClientOptions;
use crate::protocol::{Envelope, Event, EventId, Thread};
use crate::transport::{DeliveryConfig, Shared, Task, Worker};

static ACTIVE_CLIENTS: AtomicUsize = AtomicUsize::new(0);
static MAX_BREADCRUMBS: AtomicUsize = AtomicUsize::new(100);
static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static THREAD_ID: u64 = NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed);
}

/// True while at least one enabled client exists; every API checks it first so a disabled SDK
/// costs one atomic load.
#[inline]
pub(crate) fn any_client_active() -> bool {
    ACTIVE_CLIENTS.load(Ordering::Relaxed) > 0
}

pub(crate) fn max_breadcrumbs() -> usize {
    MAX_BREADCRUMBS.load(Ordering::Relaxed)
}

/// The SDK's small numeric id of the current thread.
pub(crate) fn thread_id() -> u64 {
    THREAD_ID.try_with(|t| *t).unwrap_or(0)
}

/// Where a resolved stack is attached.
#[derive(Clone, Copy, Debug)]
pub(crate) enum StackTarget {
    /// `exception.values[i]`.
    Exception(usize),
    /// `threads.values[0]` (message events).
    Thread,
}

/// An event captured on the application thread, waiting for the worker.
pub(crate) struct PendingEvent {
    pub(crate) event: Event,
    /// The stack and where it goes.
    pub(crate) stack: Option<(StackTarget, RawStack, Trim)>,
    pub(crate) locals: Vec<CapturedLocals>,
}

/// Sends events for one DSN (or transport). Create through [`init`](crate::init).
pub struct Client {
    options: ClientOptions,
    worker: Option<Worker<Box<PendingEvent>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("options", &self.options)
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

impl Client {
    /// A client; disabled (no worker thread, no cost) without a DSN or custom transport.
    pub fn new(mut options: ClientOptions) -> Arc<Client> {
        options.apply_env();
        if let Some(e) = &options.dsn_error {
            if options.debug {
                eprintln!("[errata] invalid DSN, SDK disabled: {e}");
            }
        }
        if options.release.is_none() {
            options.release = crate::contexts::default_release().map(Into::into);
        }
        let transport = match (&options.transport, &options.dsn) {
            (Some(factory), _) => Some(factory(&options)),
            (None, Some(dsn)) => Some(Arc::new(crate::transport::http::HttpTransport::new(dsn))
                as Arc<dyn crate::transport::Transport>),
            (None, None) => None,
        };
        let worker = transport.and_then(|t| {
            let config = DeliveryConfig {
                max_retries: options.max_retries,
                retry_backoff: options.retry_backoff,
                spool_dir: options.spool_dir.clone(),
                dsn: options.dsn.as_ref().map(|d| d.as_str().to_owned()),
                debug: options.debug,
            };
            let mut processor = Processor::new(&options);
            match Worker::spawn(
                options.queue_size,
                t,
                config,
                move |p: Box<PendingEvent>, shared: &Shared| processor.process(*p, shared),
            ) {
                Ok(w) => Some(w),
                Err(e) => {
                    if options.debug {
                        eprintln!("[errata] could not start worker thread, SDK disabled: {e}");
                    }
                    None
                }
            }
        });
        if worker.is_some() {
            #[cfg(feature = "auto-locals")]
            if !crate::autolocals::enable(options.auto_locals_stack) {
                options.auto_locals_stack = 0;
            }
            ACTIVE_CLIENTS.fetch_add(1, Ordering::SeqCst);
            MAX_BREADCRUMBS.store(options.max_breadcrumbs, Ordering::Relaxed);
            crate::contexts::mark_start();
        }
        if options.debug {
            eprintln!(
                "[errata] client {} ({:?})",
                if worker.is_some() {
                    "enabled"
                } else {
                    "disabled"
                },
                options.dsn
            );
        }
        Arc::new(Client { options, worker })
    }

    /// True when events are sent somewhere.
    pub fn is_enabled(&self) -> bool {
        self.worker.is_some()
    }

    /// The options.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Waits until queued events are handled; false when `timeout` passed first.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.worker.as_ref().is_none_or(|w| w.flush(timeout))
    }

    /// Flushes and stops the worker; later captures are ignored.
    pub fn close(&self, timeout: Duration) -> bool {
        self.worker.as_ref().is_none_or(|w| w.close(timeout))
    }

    pub(crate) fn sample(&self) -> bool {
        let rate = self.options.sample_rate;
        if rate >= 1.0 {
            return true;
        }
        let r = (uuid::Uuid::new_v4().as_u128() >> 64) as u64 as f64 / u64::MAX as f64;
        let keep = r < f64::from(rate);
        if !keep {
            if let Some(w) = &self.worker {
                w.shared.discard("sample_rate", "error", 1);
            }
        }
        keep
    }

    /// Completes `event` with scope, thread, locals and stack, and queues it.
    pub(crate) fn capture(
        &self,
        hub: &Hub,
        mut event: Event,
        stack: Option<(StackTarget, RawStack, Trim)>,
        with_locals: bool,
    ) -> EventId {
        let Some(worker) = &self.worker else {
            return EventId::nil();
        };
        let global = crate::hub::global_scope_snapshot();
        global.apply(&mut event);
        hub.with_top(|s| s.apply(&mut event));
        crate::scope::finish_breadcrumbs(&mut event, self.options.max_breadcrumbs);
        let thread = std::thread::current();
        let tid = thread_id();
        event.threads.values.push(Thread {
            id: Some(tid),
            name: Some(thread.name().unwrap_or("<unnamed>").to_owned()),
            crashed: event.level == crate::protocol::Level::Fatal,
            current: true,
            stacktrace: None,
        });
        for e in &mut event.exception.values {
            e.thread_id = Some(tid);
        }
        let mut locals = Vec::new();
        if with_locals {
            locals = crate::locals::erased::snapshot(
                &self.options.secret_names,
                self.options.max_value_length,
            );
            #[cfg(feature = "tracing")]
            locals.extend(crate::integrations::tracing::span_locals(
                &self.options.secret_names,
                self.options.max_value_length,
            ));
        }
        let id = event.event_id;
        worker.enqueue(Task::Event(Box::new(PendingEvent {
            event,
            stack,
            locals,
        })));
        id
    }

    /// Queues a finished envelope (bypassing event processing).
    pub fn send_envelope(&self, envelope: Envelope) -> bool {
        self.worker
            .as_ref()
            .is_some_and(|w| w.enqueue(Task::Envelope(envelope)))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(w) = &self.worker {
            w.close(self.options.shutdown_timeout);
            ACTIVE_CLIENTS.fetch_sub(1, Ordering::SeqCst);
            #[cfg(feature = "auto-locals")]
            if self.options.auto_locals_stack > 0 {
                crate::autolocals::disable();
            }
        }
    }
}

/// Worker-side event completion.
struct Processor {
    resolver: Resolver,
    contexts: Option<BTreeMap<String, Value>>,
    release: Option<String>,
    environment: Option<String>,
    server_name: Option<String>,
    env_allowlist: Vec<String>,
    secret_names: Vec<String>,
    #[cfg(feature = "auto-locals")]
    max_value_length: usize,
    before_send: Option<crate::options::BeforeSend>,
    debug: bool,
    /// Present when auto-locals is on for this client.
    #[cfg(feature = "auto-locals")]
    auto_locals: Option<crate::autolocals::Evaluator>,
}

impl Processor {
    fn new(o: &ClientOptions) -> Self {
        Processor {
            resolver: Resolver::new(o.in_app_include.clone(), o.in_app_exclude.clone()),
            contexts: None,
            release: o.release.as_deref().map(str::to_owned),
            environment: o.environment.as_deref().map(str::to_owned),
            server_name: o.server_name.as_deref().map(str::to_owned),
            env_allowlist: o.env_allowlist.clone(),
            secret_names: o.secret_names.clone(),
            #[cfg(feature = "auto-locals")]
            max_value_length: o.max_value_length,
            before_send: o.before_send.clone(),
            debug: o.debug,
            #[cfg(feature = "auto-locals")]
            auto_locals: (o.auto_locals_stack > 0)
                .then(|| crate::autolocals::Evaluator::start(o.auto_locals_stack)),
        }
    }

    /// Adds each frame's variables from debug info (explicit values of the same name stay)
    /// and the reasons values are missing to the event's `errors`.
    #[cfg(feature = "auto-locals")]
    fn attach_auto_locals(
        &mut self,
        raw: &RawStack,
        origins: &[crate::backtrace::FrameOrigin],
        frames: &mut [crate::protocol::Frame],
        event: &mut Event,
    ) {
        let Some(evaluator) = self.auto_locals.as_mut() else {
            return;
        };
        // A panic's hook waits for this event while the debug info loads (its heap values
        // die with the unwinding), so it may wait as long; other events are not held up.
        let panicked = event.exception.values.iter().any(|e| {
            e.mechanism
                .as_ref()
                .is_some_and(|m| m.ty == "panic" && m.handled == Some(false))
        });
        let load_wait = if panicked {
            crate::autolocals::PANIC_WAIT_WHILE_LOADING
        } else {
            crate::autolocals::LOAD_WAIT
        };
        let outcome = evaluator.evaluate(
            raw,
            origins,
            frames,
            &self.secret_names,
            self.max_value_length,
            load_wait,
        );
        for (frame, vars) in frames.iter_mut().zip(outcome.vars) {
            for (name, value) in vars {
                crate::locals::set_var(
                    frame,
                    name,
                    Value::String(value),
                    crate::locals::VarsSource::DebugInfo,
                );
            }
        }
        for reason in outcome.errors {
            if self.debug {
                eprintln!("[errata] auto-locals: {reason}");
            }
            event
                .errors
                .push(serde_json::json!({"type": "auto_locals", "reason": reason}));
        }
    }

    fn process(&mut self, p: PendingEvent, shared: &Shared) -> Option<Envelope> {
        let PendingEvent {
            mut event,
            stack,
            locals,
        } = p;
        let mut unmatched = locals;
        if let Some((target, raw, trim)) = stack {
            let (mut st, origins) = self.resolver.resolve(&raw, trim);
            // Explicit values first: they win over debug-info values of the same name.
            unmatched = crate::locals::attach_to_frames(&mut st.frames, unmatched);
            #[cfg(feature = "auto-locals")]
            self.attach_auto_locals(&raw, &origins, &mut st.frames, &mut event);
            #[cfg(not(feature = "auto-locals"))]
            let _ = origins;
            match target {
                StackTarget::Exception(i) => {
                    if let Some(exc) = event.exception.values.get_mut(i) {
                        exc.stacktrace = Some(st);
                    }
                }
                StackTarget::Thread => {
                    if let Some(t) = event.threads.values.first_mut() {
                        t.stacktrace = Some(st);
                    }
                }
            }
        }
        if !unmatched.is_empty() {
            let mut m = serde_json::Map::new();
            for g in unmatched {
                let vars: serde_json::Map<String, Value> = g.vars.into_iter().collect();
                m.insert(
                    format!("{} ({}:{})", g.function, g.file, g.line),
                    vars.into(),
                );
            }
            event.extra.insert("locals".into(), Value::Object(m));
        }
        let release = self.release.clone();
        let contexts = self
            .contexts
            .get_or_insert_with(|| crate::contexts::static_contexts(release.as_deref()));
        for (k, v) in contexts.iter() {
            event.contexts.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if let Some(env) = crate::contexts::env_context(&self.env_allowlist, &self.secret_names) {
            event.contexts.entry("env".into()).or_insert(env);
        }
        if event.release.is_none() {
            event.release = self.release.clone();
        }
        if event.environment.is_none() {
            event.environment = self.environment.clone();
        }
        if event.server_name.is_none() {
            if self.server_name.is_none() {
                self.server_name = crate::contexts::hostname();
            }
            event.server_name = self.server_name.clone();
        }
        if let Some(hook) = &self.before_send {
            match hook(event) {
                Some(e) => event = e,
                None => {
                    if self.debug {
                        eprintln!("[errata] event dropped by before_send");
                    }
                    shared.discard("before_send", "error", 1);
                    return None;
                }
            }
        }
        match Envelope::from_event(&event) {
            Ok(env) => Some(env),
            Err(e) => {
                if self.debug {
                    eprintln!("[errata] event could not be serialized: {e}");
                }
                None
            }
        }
    }
}
