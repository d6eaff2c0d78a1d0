//! Scope: data merged into every event captured while it is active.
//!
//! Events get, in order, the global scope ([`configure_global_scope`](crate::configure_global_scope),
//! shared by all threads) and then the current hub's top scope (per thread or per bound task;
//! pushed by [`with_scope`](crate::with_scope)). Later layers win for single values (level,
//! transaction, user, fingerprint) and per key for maps (tags, extra, contexts); breadcrumbs of
//! both are merged by time.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};

use serde_json::Value;

use crate::protocol::{Breadcrumb, Event, Level, User};

/// Tags, user, extra, level, fingerprint, transaction and breadcrumbs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scope {
    pub(crate) level: Option<Level>,
    pub(crate) fingerprint: Option<Vec<String>>,
    pub(crate) transaction: Option<String>,
    pub(crate) user: Option<User>,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) extra: BTreeMap<String, Value>,
    pub(crate) contexts: BTreeMap<String, Value>,
    pub(crate) breadcrumbs: VecDeque<Breadcrumb>,
}

impl Scope {
    /// An empty scope (usable in `static`s).
    pub const fn empty() -> Scope {
        Scope {
            level: None,
            fingerprint: None,
            transaction: None,
            user: None,
            tags: BTreeMap::new(),
            extra: BTreeMap::new(),
            contexts: BTreeMap::new(),
            breadcrumbs: VecDeque::new(),
        }
    }

    /// Overrides the event level.
    pub fn set_level(&mut self, level: Option<Level>) {
        self.level = level;
    }

    /// Overrides grouping: events with the same fingerprint form one issue.
    pub fn set_fingerprint(&mut self, fingerprint: Option<&[&str]>) {
        self.fingerprint = fingerprint.map(|f| f.iter().map(|s| (*s).to_owned()).collect());
    }

    /// Sets the transaction (route, job or task name).
    pub fn set_transaction(&mut self, transaction: Option<&str>) {
        self.transaction = transaction.map(str::to_owned);
    }

    /// Sets the user.
    pub fn set_user(&mut self, user: Option<User>) {
        self.user = user;
    }

    /// Sets a tag.
    pub fn set_tag(&mut self, key: &str, value: impl ToString) {
        self.tags.insert(key.to_owned(), value.to_string());
    }

    /// Removes a tag.
    pub fn remove_tag(&mut self, key: &str) {
        self.tags.remove(key);
    }

    /// Sets an extra value.
    pub fn set_extra(&mut self, key: &str, value: Value) {
        self.extra.insert(key.to_owned(), value);
    }

    /// Sets a custom context (an object; `type` defaults to the key on the server).
    pub fn set_context(&mut self, key: &str, value: Value) {
        self.contexts.insert(key.to_owned(), value);
    }

    /// Removes all breadcrumbs.
    pub fn clear_breadcrumbs(&mut self) {
        self.breadcrumbs.clear();
    }

    /// Adds a breadcrumb, dropping the oldest beyond `max`.
    pub(crate) fn push_breadcrumb(&mut self, crumb: Breadcrumb, max: usize) {
        if max == 0 {
            return;
        }
        while self.breadcrumbs.len() >= max {
            self.breadcrumbs.pop_front();
        }
        self.breadcrumbs.push_back(crumb);
    }

    /// Merges this scope into an event (fields already set on the event by the layer below may
    /// be overridden).
    pub(crate) fn apply(&self, event: &mut Event) {
        if let Some(l) = self.level {
            event.level = l;
        }
        if let Some(f) = &self.fingerprint {
            event.fingerprint = f.clone();
        }
        if let Some(t) = &self.transaction {
            event.transaction = Some(t.clone());
        }
        if let Some(u) = &self.user {
            event.user = Some(u.clone());
        }
        for (k, v) in &self.tags {
            event.tags.insert(k.clone(), v.clone());
        }
        for (k, v) in &self.extra {
            event.extra.insert(k.clone(), v.clone());
        }
        for (k, v) in &self.contexts {
            event.contexts.insert(k.clone(), v.clone());
        }
        if !self.breadcrumbs.is_empty() {
            event
                .breadcrumbs
                .values
                .extend(self.breadcrumbs.iter().cloned());
        }
    }
}

/// Sorts merged breadcrumbs by time and keeps the newest `max`.
pub(crate) fn finish_breadcrumbs(event: &mut Event, max: usize) {
    let v = &mut event.breadcrumbs.values;
    v.sort_by_key(|b| b.timestamp.0);
    if v.len() > max {
        v.drain(..v.len() - max);
    }
}

/// A breadcrumb with a message and category, for quick use.
pub fn breadcrumb(
    category: impl Into<Cow<'static, str>>,
    message: impl Into<Cow<'static, str>>,
) -> Breadcrumb {
    Breadcrumb {
        category: Some(category.into()),
        message: Some(message.into()),
        ..Breadcrumb::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breadcrumbs_are_bounded() {
        let mut s = Scope::empty();
        for i in 0..10 {
            s.push_breadcrumb(breadcrumb("t", format!("{i}")), 3);
        }
        assert_eq!(s.breadcrumbs.len(), 3);
        assert_eq!(s.breadcrumbs[0].message.as_deref(), Some("7"));
    }
}
