//! What one client may hold of ingestion (issue #24, items 1 and 2), beside the writer's
//! total admissions (`writer.rs`):
//! * **places per client address**: at most `ingest.max_per_address` requests in progress
//!   from one address (an IPv6 /64 counts as one, since a host usually holds a whole /64),
//!   so that slow or abusive clients at one address cannot take every place;
//! * **bytes in flight**: the [`Budget`] (`ingest.max_bytes_in_flight`, `budget.rs`), which
//!   the gate hands out reservations of. Before its body is read, a request reserves its
//!   declared length, but at most its address's share ([`Gate::up_front`]): one address's
//!   places together can hold at most half of the budget without sending the bytes, so slow
//!   senders declaring large bodies cannot take it all.
//!
//! * **heavy steps**: decoding, framing and processing large bodies, off the async workers,
//!   one fewer at a time than there are cores (`heavy.rs`).
//!
//! A full address is answered at once (429); the budget lets a charge wait briefly. The
//! address table is sharded so that concurrent requests rarely share a lock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::IngestConfig;

pub use super::budget::{Budget, OverBudget, Reservation};
use super::heavy::{Heavy, WORKING_COPIES};

/// Shards of the address table: a power of two, several times the cores of a small server.
const SHARDS: usize = 16;

/// A client address as counted: IPv4 as is, IPv6 by its /64 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum AddressKey {
    V4(u32),
    V6(u64),
}

impl AddressKey {
    fn of(ip: IpAddr) -> AddressKey {
        match ip {
            IpAddr::V4(v4) => AddressKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey::V4(u32::from(v4)),
                None => AddressKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }

    fn shard(self) -> usize {
        let mixed = match self {
            AddressKey::V4(a) => u64::from(a),
            AddressKey::V6(p) => p ^ (p >> 32),
        };
        // Fibonacci hashing: consecutive addresses land on different shards.
        (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize % SHARDS
    }
}

/// Why the gate refused a request; both are answered 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The client's address holds `max_per_address` requests already.
    AddressFull,
    /// The bytes in flight would pass `max_bytes_in_flight`.
    OverBudget,
}

/// Per-address places, the byte budget and the heavy-work slots of one server.
#[derive(Debug)]
pub struct Gate {
    shards: [Mutex<HashMap<AddressKey, usize>>; SHARDS],
    max_per_address: usize,
    /// Bodies, as read and as decompressed.
    budget: Arc<Budget>,
    /// Working copies of large events being processed: a fixed part of `max_bytes_in_flight`,
    /// as large as the heavy slots can use at once, so that processing never waits behind
    /// bodies still arriving (which wait for it to finish).
    working: Arc<Budget>,
    heavy: Heavy,
}

impl Gate {
    /// The limits of `config` for events up to `max_event_bytes`; `max_per_address` defaults
    /// to a quarter of the queue. The budget for working copies is what the heavy slots can
    /// use at once ([`WORKING_COPIES`] of the largest event each), at most half of the whole.
    pub fn new(config: &IngestConfig, max_event_bytes: usize) -> Gate {
        let max_per_address = config
            .max_per_address
            .unwrap_or(config.queue_capacity / 4)
            .max(1);
        let heavy = Heavy::new();
        let total = config.max_bytes_in_flight;
        let working = heavy
            .slots()
            .saturating_mul(WORKING_COPIES)
            .saturating_mul(max_event_bytes)
            .min(total / 2);
        let wait = Duration::from_millis(config.budget_wait_ms);
        Gate {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            max_per_address,
            budget: Budget::new(total - working, wait),
            working: Budget::new(working, wait),
            heavy,
        }
    }

    /// What a request declaring `declared` bytes reserves before reading them: all of it, up
    /// to its address's share of the budget (half of it, shared by `max_per_address` places).
    pub fn up_front(&self, declared: usize) -> usize {
        declared.min(self.budget.max() / 2 / self.max_per_address)
    }

    /// Takes a place for a request from `ip` (no limit without an address, as in router
    /// tests). Errors: [`Refusal::AddressFull`].
    pub fn enter(&self, ip: Option<IpAddr>) -> Result<Place<'_>, Refusal> {
        let Some(ip) = ip else {
            return Ok(Place {
                gate: self,
                key: None,
            });
        };
        let key = AddressKey::of(ip);
        let mut shard = self.shard(key);
        let held = shard.entry(key).or_insert(0);
        if *held >= self.max_per_address {
            return Err(Refusal::AddressFull);
        }
        *held += 1;
        Ok(Place {
            gate: self,
            key: Some(key),
        })
    }

    /// A reservation of nothing yet, to [`Reservation::grow`] as bytes arrive.
    pub fn reservation(&self) -> Reservation {
        self.budget.reservation()
    }

    /// Where CPU-heavy steps run: off the async workers, one fewer at a time than the cores.
    pub fn heavy(&self) -> &Heavy {
        &self.heavy
    }

    /// A reservation of the working-copy budget, for processing a large event.
    pub fn working(&self) -> Reservation {
        self.working.reservation()
    }

    /// What processing an event of `bytes` is charged: [`WORKING_COPIES`] of it, at most the
    /// whole working-copy budget (a small configured budget still lets the largest event in,
    /// one at a time).
    pub fn working_charge(&self, bytes: usize) -> usize {
        bytes.saturating_mul(WORKING_COPIES).min(self.working.max())
    }

    /// Bytes charged right now, bodies and working copies.
    pub fn bytes_in_flight(&self) -> usize {
        self.budget.in_flight() + self.working.in_flight()
    }

    fn shard(&self, key: AddressKey) -> std::sync::MutexGuard<'_, HashMap<AddressKey, usize>> {
        // A panic while holding a shard leaves only counts behind, which stay consistent.
        self.shards[key.shard()]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A request's place among its address's; freed when dropped.
#[must_use = "the place lasts as long as it is held"]
#[derive(Debug)]
pub struct Place<'a> {
    gate: &'a Gate,
    key: Option<AddressKey>,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut shard = self.gate.shard(key);
        if let Some(held) = shard.get_mut(&key) {
            *held -= 1;
            if *held == 0 {
                shard.remove(&key);
            }
        }
    }
}

impl From<OverBudget> for Refusal {
    fn from(_: OverBudget) -> Refusal {
        Refusal::OverBudget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(per_address: usize, bytes: usize) -> Gate {
        Gate::new(
            &IngestConfig {
                max_per_address: Some(per_address),
                max_bytes_in_flight: bytes,
                ..IngestConfig::default()
            },
            0,
        )
    }

    #[test]
    fn one_address_cannot_take_more_than_its_share() {
        let gate = gate(2, 100);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = gate.enter(Some(a)).unwrap();
        let _second = gate.enter(Some(a)).unwrap();
        assert_eq!(gate.enter(Some(a)).unwrap_err(), Refusal::AddressFull);
        assert!(
            gate.enter(Some(b)).is_ok(),
            "other addresses are not affected"
        );
        drop(first);
        assert!(
            gate.enter(Some(a)).is_ok(),
            "a freed place can be taken again"
        );
        assert!(gate.enter(None).is_ok());
    }

    #[test]
    fn an_ipv6_host_counts_by_its_64_prefix() {
        let gate = gate(1, 100);
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let _held = gate.enter(Some(one)).unwrap();
        assert!(gate.enter(Some(same_64)).is_err());
        assert!(gate.enter(Some(other_64)).is_ok());
        let _mapped = gate.enter(Some(mapped)).unwrap();
        assert!(gate.enter(Some(v4)).is_err(), "a mapped IPv4 is that IPv4");
    }

    #[test]
    fn an_address_reserves_up_front_at_most_its_share() {
        let gate = gate(4, 800 * 1024);
        assert_eq!(gate.up_front(10_000), 10_000);
        assert_eq!(
            gate.up_front(1 << 20),
            100 * 1024,
            "half the budget over 4 places"
        );
    }
}
