//! Failed sign-ins, counted in memory per (remote address, account) and per remote address,
//! each with exponentially growing delays, so that guessing passwords is slow while nobody
//! can lock an account's owner out from elsewhere.
//!
//! The account alone is never a key: counting failures per e-mail would let any stranger
//! lock its owner out by typing wrong passwords for it (OWASP's "account lockout" denial of
//! service). Instead a guesser is slowed where they sit:
//!
//! * per (address, account): [`LoginLimiter::PAIR_FREE`] failures are free, then each further
//!   one makes that address wait [`LoginLimiter::BASE_DELAY_MS`] × 2ⁿ before trying that
//!   account again (capped at [`LoginLimiter::MAX_DELAY_MS`]);
//! * per address, over all accounts: the same with [`LoginLimiter::ADDRESS_FREE`] free
//!   failures (several users behind one NAT), against spraying one password over many accounts.
//!
//! A success clears its (address, account) counter. Counters are forgotten
//! [`LoginLimiter::FORGET_AFTER_MS`] after their last failure. The account is the e-mail
//! lowercased with all whitespace removed, so case and spacing variants count as one.
//! Time comes from the server's [`crate::clock::Clock`] (epoch ms passed in by the caller).
//! Bounded: at most [`LoginLimiter::MAX_KEYS`] counters.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use crate::clock::{HOUR_MS, MINUTE_MS, SECOND_MS};

/// What one counter counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// One account from one address.
    Pair(Option<IpAddr>, String),
    /// Every account from one address.
    Address(Option<IpAddr>),
}

/// Failures of one key.
#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_ms: i64,
}

/// In-memory counters of failed sign-ins (one per router, so test servers do not share them).
#[derive(Debug, Default)]
pub struct LoginLimiter {
    entries: Mutex<HashMap<Key, Entry>>,
}

impl LoginLimiter {
    /// Failures of one account from one address before delays start.
    pub const PAIR_FREE: u32 = 5;
    /// Failures from one address, over all accounts, before delays start.
    pub const ADDRESS_FREE: u32 = 20;
    /// The first delay; each further failure doubles it.
    pub const BASE_DELAY_MS: i64 = 30 * SECOND_MS;
    /// The longest delay.
    pub const MAX_DELAY_MS: i64 = 15 * MINUTE_MS;
    /// A counter without failures for this long is forgotten.
    pub const FORGET_AFTER_MS: i64 = HOUR_MS;
    /// Most counters kept; past it, forgotten ones are dropped, then the stalest.
    pub const MAX_KEYS: usize = 10_000;

    /// The account part of a key: lowercased, without any whitespace.
    fn account(email: &str) -> String {
        email
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect()
    }

    fn keys(ip: Option<IpAddr>, email: &str) -> [(Key, u32); 2] {
        [
            (Key::Pair(ip, Self::account(email)), Self::PAIR_FREE),
            (Key::Address(ip), Self::ADDRESS_FREE),
        ]
    }

    /// How long after its last failure a key with `failures` must wait: 0 while within
    /// `free`, then `BASE_DELAY_MS × 2^(failures − free)` up to `MAX_DELAY_MS`.
    fn delay_ms(failures: u32, free: u32) -> i64 {
        if failures < free {
            return 0;
        }
        let doublings = (failures - free).min(20);
        Self::BASE_DELAY_MS
            .saturating_mul(1 << doublings)
            .min(Self::MAX_DELAY_MS)
    }

    /// `Some(wait)` when this address must wait before trying this account again (at `now_ms`,
    /// epoch ms).
    pub fn blocked(&self, now_ms: i64, ip: Option<IpAddr>, email: &str) -> Option<Duration> {
        let Ok(map) = self.entries.lock() else {
            return None;
        };
        Self::keys(ip, email)
            .iter()
            .filter_map(|(key, free)| {
                let e = map.get(key)?;
                let until = e.last_ms.saturating_add(Self::delay_ms(e.failures, *free));
                let wait = until.saturating_sub(now_ms);
                (wait > 0).then(|| Duration::from_millis(wait.unsigned_abs()))
            })
            .max()
    }

    /// Counts a failed attempt at `now_ms`.
    pub fn record_failure(&self, now_ms: i64, ip: Option<IpAddr>, email: &str) {
        let Ok(mut map) = self.entries.lock() else {
            return;
        };
        if map.len() >= Self::MAX_KEYS {
            map.retain(|_, e| now_ms - e.last_ms < Self::FORGET_AFTER_MS);
            while map.len() >= Self::MAX_KEYS {
                let Some(stalest) = map
                    .iter()
                    .min_by_key(|(_, e)| e.last_ms)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                map.remove(&stalest);
            }
        }
        for (key, _) in Self::keys(ip, email) {
            let e = map.entry(key).or_insert(Entry {
                failures: 0,
                last_ms: now_ms,
            });
            if now_ms - e.last_ms >= Self::FORGET_AFTER_MS {
                e.failures = 0;
            }
            e.failures = e.failures.saturating_add(1);
            e.last_ms = now_ms;
        }
    }

    /// Forgets this address's failures for this account after a successful sign-in.
    pub fn record_success(&self, ip: Option<IpAddr>, email: &str) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(&Key::Pair(ip, Self::account(email)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn delays_grow_exponentially_per_address_and_account() {
        let l = LoginLimiter::default();
        let (a, mut now) = (ip("10.0.0.1"), 1_000_000);
        for _ in 0..LoginLimiter::PAIR_FREE {
            assert!(l.blocked(now, a, "a@x").is_none());
            l.record_failure(now, a, "a@x");
        }
        let mut expected = LoginLimiter::BASE_DELAY_MS;
        for _ in 0..8 {
            let wait = l.blocked(now, a, "a@x").expect("blocked");
            assert_eq!(wait.as_millis() as i64, expected);
            now += expected;
            assert!(
                l.blocked(now, a, "a@x").is_none(),
                "free again after the delay"
            );
            l.record_failure(now, a, "a@x");
            expected = (expected * 2).min(LoginLimiter::MAX_DELAY_MS);
        }
        // Case and spacing variants are the same account; others and other addresses are free.
        assert!(l.blocked(now, a, " A@X ").is_some());
        assert!(l.blocked(now, a, "b@x").is_none());
        assert!(l.blocked(now, ip("10.0.0.2"), "a@x").is_none());
        l.record_success(a, "a@x");
        assert!(l.blocked(now, a, "a@x").is_none());
    }

    #[test]
    fn one_address_spraying_many_accounts_is_slowed() {
        let l = LoginLimiter::default();
        let a = ip("10.0.0.9");
        for i in 0..LoginLimiter::ADDRESS_FREE {
            assert!(l.blocked(0, a, &format!("u{i}@x")).is_none());
            l.record_failure(0, a, &format!("u{i}@x"));
        }
        assert!(l.blocked(0, a, "fresh@x").is_some());
        assert!(l.blocked(0, ip("10.0.0.10"), "fresh@x").is_none());
    }

    #[test]
    fn counters_are_forgotten_after_a_quiet_hour() {
        let l = LoginLimiter::default();
        let a = ip("10.0.0.1");
        for _ in 0..LoginLimiter::PAIR_FREE {
            l.record_failure(0, a, "a@x");
        }
        let later = LoginLimiter::FORGET_AFTER_MS;
        l.record_failure(later, a, "a@x");
        assert!(l.blocked(later, a, "a@x").is_none(), "counting starts over");
    }
}
