//! One integration-test binary; a module per area.

mod access;
mod access_org;
mod accounts;
mod alerts;
mod alerts_more;
mod browser;
mod client_auto_locals;
mod client_sdk;
mod event_values;
mod feedback;
mod first_hour;
mod hardening;
mod helpers;
mod ingest;
mod jobs;
mod monitors;
mod notify;
mod python_sdk;
mod replay;
mod retention;
mod rust_sdk;
mod security_settings;
mod signin;
mod sourcemaps;
mod sso;
mod startup;
mod storage_faults;
#[macro_use]
mod store;
mod store_releases;
mod teams;
mod triage;
mod triage_browser;
mod upgrade;
mod uptime;
mod web;
