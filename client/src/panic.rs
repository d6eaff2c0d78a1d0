//! The panic hook.
//!
//! Installed once (by the first `init`), chained to the hook that was there before. It runs
//! before unwinding starts, so registered locals still hold their values at the panic point. An
//! event gets exception type `panic`, the message as value, mechanism
//! `{type: "panic", handled: false, data: {location}}`, level `fatal`, and the panicking
//! thread's stack with the panic machinery trimmed, so the newest frame is the panic site and
//! the server groups each site by its in-app frames.
//!
//! Then the previous hook runs (printing the usual message), and — when the process is likely
//! to end ([`FlushOnPanic`](crate::FlushOnPanic)) — the hook waits for delivery up to the
//! shutdown timeout.

use std::panic::PanicHookInfo;
use std::sync::Once;

use serde_json::Value;

use crate::backtrace::{RawStack, Trim};
use crate::client::StackTarget;
use crate::hub::Hub;
use crate::options::FlushOnPanic;
use crate::protocol::{Event, Exception, Level, Mechanism};

static INSTALL: Once = Once::new();

/// Installs the hook (idempotent).
pub fn install_panic_hook() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let flush = capture_panic(info);
            previous(info);
            if let Some((client, timeout)) = flush {
                client.flush(timeout);
            }
        }));
    });
}

/// The panic's message (`&str`/`String` payloads; others are opaque).
pub fn message_from_info(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

#[inline(never)]
fn capture_panic(
    info: &PanicHookInfo<'_>,
) -> Option<(std::sync::Arc<crate::Client>, std::time::Duration)> {
    if !crate::client::any_client_active() || crate::hub::is_worker_thread() {
        return None;
    }
    let raw = RawStack::capture();
    Hub::with_current(|hub| {
        let client = hub.client()?;
        if !client.is_enabled() || !client.sample() {
            return None;
        }
        let message = message_from_info(info);
        let mut data = std::collections::BTreeMap::new();
        if let Some(loc) = info.location() {
            data.insert(
                "location".to_owned(),
                Value::String(format!("{}:{}:{}", loc.file(), loc.line(), loc.column())),
            );
        }
        let mut event = Event {
            level: Level::Fatal,
            ..Event::default()
        };
        if let Some(Value::String(loc)) = data.get("location") {
            event
                .extra
                .insert("panic_location".into(), Value::String(loc.clone()));
        }
        event.exception.values.push(Exception {
            ty: "panic".to_owned(),
            value: Some(message),
            mechanism: Some(Mechanism {
                ty: "panic".to_owned(),
                handled: Some(false),
                synthetic: false,
                data,
            }),
            ..Exception::default()
        });
        client.capture(
            hub,
            event,
            Some((StackTarget::Exception(0), raw, Trim::Panic)),
            true,
        );
        let opts = client.options();
        let wait = match opts.flush_on_panic {
            FlushOnPanic::Always => true,
            FlushOnPanic::Never => false,
            FlushOnPanic::Auto => {
                cfg!(panic = "abort") || std::thread::current().name() == Some("main")
            }
        };
        let timeout = opts.shutdown_timeout;
        #[cfg(feature = "auto-locals")]
        let timeout = if opts.auto_locals_stack > 0 {
            crate::autolocals::panic_wait(timeout)
        } else {
            timeout
        };
        wait.then_some((client, timeout))
    })
}
