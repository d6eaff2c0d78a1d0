//! The `user` interface (sentry-protocol.md 5.1): `id` stringified, `ip_address: "{{auto}}"`
//! replaced by the client address, and the key used to count distinct affected users.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::notes::Notes;
use crate::event::lenient::py_str_owned;

/// Normalizes `event.user` in place and returns the distinct-user key: `id:…` ∥ `email:…` ∥
/// `username:…` ∥ `ip:…` (the first non-empty one).
pub fn normalize(
    event: &mut Map<String, Value>,
    client_ip: Option<IpAddr>,
    notes: &mut Notes,
) -> Option<String> {
    let user = match event.get_mut("user") {
        None => return None,
        Some(Value::Object(user)) => user,
        Some(Value::Null) => {
            event.remove("user");
            return None;
        }
        Some(_) => {
            if let Some(v) = event.remove("user") {
                notes.invalid("user", &v);
            }
            return None;
        }
    };
    // `id` may be a number (5.1); everything else identifying must be a string.
    if let Some(v @ (Value::Number(_) | Value::Bool(_))) = user.get_mut("id") {
        *v = Value::String(py_str_owned(v));
    }
    for key in ["id", "email", "username", "ip_address"] {
        if user
            .get(key)
            .is_some_and(|v| !v.is_string() && !v.is_null())
        {
            if let Some(v) = user.remove(key) {
                notes.invalid(&format!("user.{key}"), &v);
            }
        }
    }
    if user.get("ip_address").and_then(Value::as_str) == Some("{{auto}}") {
        match client_ip {
            Some(ip) => {
                user.insert("ip_address".to_owned(), Value::String(ip.to_string()));
            }
            None => {
                user.remove("ip_address");
            }
        }
    }
    [
        ("id", "id"),
        ("email", "email"),
        ("username", "username"),
        ("ip_address", "ip"),
    ]
    .iter()
    .find_map(|(field, prefix)| {
        user.get(*field)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| format!("{prefix}:{s}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(user: Value, ip: Option<IpAddr>) -> (Option<String>, Value, usize) {
        let mut notes = Notes::default();
        let mut ev = Map::new();
        ev.insert("user".to_owned(), user);
        let key = normalize(&mut ev, ip, &mut notes);
        (
            key,
            ev.get("user").cloned().unwrap_or(Value::Null),
            notes.entries().len(),
        )
    }

    #[test]
    fn auto_ip_and_key_precedence() {
        let ip: Option<IpAddr> = "203.0.113.9".parse().ok();
        let (key, user, _) = run(json!({"email": "a@x.io", "ip_address": "{{auto}}"}), ip);
        assert_eq!(key.as_deref(), Some("email:a@x.io"));
        assert_eq!(user["ip_address"], "203.0.113.9");
        let (key, user, _) = run(json!({"ip_address": "{{auto}}"}), None);
        assert_eq!(key, None);
        assert_eq!(user, json!({}));
        let (key, _, _) = run(json!({"id": 42, "email": "a@x.io"}), None);
        assert_eq!(key.as_deref(), Some("id:42"));
        let (key, _, _) = run(json!({"username": "jane", "ip_address": "10.0.0.1"}), None);
        assert_eq!(key.as_deref(), Some("username:jane"));
        let (key, _, _) = run(json!({"ip_address": "10.0.0.1"}), None);
        assert_eq!(key.as_deref(), Some("ip:10.0.0.1"));
    }

    #[test]
    fn garbage_user() {
        let (key, user, notes) = run(json!("bob"), None);
        assert_eq!((key, user, notes), (None, Value::Null, 1));
        let (key, _, notes) = run(json!({"id": {"x": 1}, "email": "e@x.io"}), None);
        assert_eq!((key.as_deref(), notes), (Some("email:e@x.io"), 1));
    }
}
