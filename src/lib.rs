//! Errata server: a self-hosted error tracker that speaks the Sentry protocol.
//!
//! Flow of an event: [`ingest`] authenticates and decodes → [`protocol`] parses →
//! [`normalize`] → [`grouping`] → [`store`] commits (group commit) → response. Only `http`,
//! `ingest`, `api` and `error` know axum; only `store` knows sqlx.

pub mod api;
pub mod cli;
pub mod config;
pub mod error;
pub mod grouping;
pub mod http;
pub mod ingest;
pub mod normalize;
pub mod notify;
pub mod protocol;
pub mod store;
pub mod telemetry;
pub mod timefmt;
pub mod web;

mod app;
pub use app::*;
