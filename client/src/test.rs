//! Test helpers (feature `test`): a transport that keeps envelopes in memory.
//!
//! ```no_run
//! let events = errata::test::with_captured_events(|| {
//!     errata::capture_message("hello", errata::Level::Info);
//! });
//! assert_eq!(events[0]["message"], "hello");
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::hub::Hub;
use crate::options::ClientOptions;
use crate::protocol::{parse_envelope, ParsedEnvelope};
use crate::scope::Scope;
use crate::transport::{Response, Transport, TransportError};
use crate::Client;

/// Keeps every envelope it is given and answers 200.
#[derive(Default, Clone)]
pub struct TestTransport {
    envelopes: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl TestTransport {
    /// An empty transport.
    pub fn new() -> Arc<TestTransport> {
        Arc::new(TestTransport::default())
    }

    /// The envelopes so far, parsed.
    pub fn envelopes(&self) -> Vec<ParsedEnvelope> {
        self.envelopes
            .lock()
            .map(|e| e.iter().filter_map(|b| parse_envelope(b).ok()).collect())
            .unwrap_or_default()
    }

    /// The raw envelopes so far.
    pub fn raw(&self) -> Vec<Vec<u8>> {
        self.envelopes.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// The event payloads so far.
    pub fn events(&self) -> Vec<Value> {
        self.envelopes()
            .iter()
            .flat_map(|e| e.json_items("event"))
            .collect()
    }
}

impl Transport for TestTransport {
    fn send(&self, envelope: &[u8]) -> Result<Response, TransportError> {
        if let Ok(mut e) = self.envelopes.lock() {
            e.push(envelope.to_vec());
        }
        Ok(Response {
            status: 200,
            ..Response::default()
        })
    }
}

/// Runs `f` with a fresh hub bound to a capturing client built from `options`, flushes, and
/// returns the events (JSON). The panic hook is installed.
pub fn with_captured_events_options<F: FnOnce()>(options: ClientOptions, f: F) -> Vec<Value> {
    let transport = TestTransport::new();
    let t = transport.clone();
    let client = Client::new(options.transport(move |_| t.clone()));
    crate::panic::install_panic_hook();
    let hub = Hub::new(Some(client.clone()), Scope::empty());
    Hub::run(hub, f);
    client.flush(Duration::from_secs(10));
    transport.events()
}

/// [`with_captured_events_options`] with default options.
pub fn with_captured_events<F: FnOnce()>(f: F) -> Vec<Value> {
    with_captured_events_options(ClientOptions::new(), f)
}
