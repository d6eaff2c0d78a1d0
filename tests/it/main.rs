//! One integration-test binary; a module per area.

mod browser;
mod client_sdk;
mod helpers;
mod ingest;
mod notify;
mod python_sdk;
mod replay;
mod rust_sdk;
mod store;
mod web;
