//! Team triage rules that do not depend on storage: the conditions a resolve or an ignore can
//! carry ([`details`]), the order of releases they compare by ([`release`]), who did
//! something ([`Actor`], from `crate::actor`), and the job that ends ignores for a duration ([`expiry`]).
//!
//! Where they are applied: the ingest batch (`store/batch/aggregate.rs`) reopens a resolved
//! or ignored issue when an event meets its condition, in the transaction that counts the
//! event; the store's triage writes (`store/issues/triage.rs`) record the condition with
//! the counters at that moment and write the timeline (`store/activity.rs`).

pub mod details;
pub mod expiry;
pub mod release;

pub use crate::actor::Actor;
pub use details::{Condition, DetailsError, DetailsRequest, Reopen, StatusDetails};
