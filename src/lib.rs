//! Errata server: a self-hosted error tracker that speaks the Sentry protocol.
//!
//! Flow of an event: [`ingest`] authenticates and decodes → [`protocol`] parses →
//! [`normalize`] → [`grouping`] → [`store`] commits (group commit) → response. Only `http`,
//! `ingest`, `api` and `error` know axum; only `store` knows sqlx.

pub mod actor;
pub mod api;
pub mod artifacts;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod event;
pub mod feedback;
pub mod grouping;
pub mod html;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod monitors;
pub mod normalize;
pub mod notify;
pub mod outbound;
pub mod payload_dictionaries;
pub mod protocol;
pub mod retention;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod timefmt;
pub mod triage;
pub mod web;

mod app;
pub use app::*;
