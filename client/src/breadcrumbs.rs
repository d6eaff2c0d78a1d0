//! Breadcrumbs: a bounded trail of what happened before an event.
//!
//! Each scope keeps a ring (`VecDeque`) of at most `max_breadcrumbs`; the oldest is dropped
//! first. Adding one takes the current hub's scope lock and pushes — no formatting, no I/O —
//! and returns at once when the SDK is disabled. The `log` and `tracing` integrations feed it.

use crate::hub::Hub;
use crate::protocol::Breadcrumb;

/// Adds a breadcrumb to the current scope.
#[inline]
pub fn add_breadcrumb(crumb: Breadcrumb) {
    if !crate::client::any_client_active() {
        return;
    }
    Hub::with_current_internal(|hub| hub.add_breadcrumb(crumb));
}

/// Adds a breadcrumb built only when the SDK is enabled.
#[inline]
pub fn add_breadcrumb_with(f: impl FnOnce() -> Breadcrumb) {
    if !crate::client::any_client_active() {
        return;
    }
    let crumb = f();
    Hub::with_current_internal(|hub| hub.add_breadcrumb(crumb));
}
