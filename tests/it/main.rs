//! One integration-test binary; a module per area.

mod helpers;
mod ingest;
mod python_sdk;
mod replay;
mod store;
