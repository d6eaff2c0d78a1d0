//! The bytes-in-flight budget of ingestion (issue #24, item 2): what bounds its memory, by
//! bytes rather than by a count of requests that may each be megabytes.
//!
//! Everything an ingest request holds in memory is charged here before it is allocated: its
//! body (the declared `Content-Length` up to a share before reading, the rest as it arrives),
//! the decompressed copy as a decoder's output grows, and the working copies of processing a
//! large event (JSON tree, normalized event, re-serialized payload) until the event is queued
//! for the writer; the body, whose bytes the queued event was made from, stays charged until
//! the request is answered. A [`Reservation`] gives its bytes back when dropped.
//!
//! A charge that does not fit waits in line (first come, first served) up to
//! `ingest.budget_wait_ms` for others to give bytes back, then fails with [`OverBudget`] (429
//! with `Retry-After`). Decoders on blocking threads only try, without waiting.
//!
//! The budget is a fair semaphore of 1 KiB units: waiters are woken in order as bytes come
//! back, not all at once, so thousands of waiting connections cost nothing while they wait.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// Granularity of the budget: charges are rounded up to whole units per reservation.
const UNIT: usize = 1024;

/// A charge the budget cannot take: it is used up (or the charge is larger than all of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the bytes-in-flight budget is used up")]
pub struct OverBudget;

/// The budget of one server.
#[derive(Debug)]
pub struct Budget {
    units: Arc<Semaphore>,
    total_units: usize,
    wait: Duration,
}

impl Budget {
    /// A budget of `max_bytes` (at least one unit), charges waiting at most `wait` for room.
    pub fn new(max_bytes: usize, wait: Duration) -> Arc<Budget> {
        let total_units = max_bytes.div_ceil(UNIT).clamp(1, Semaphore::MAX_PERMITS);
        Arc::new(Budget {
            units: Arc::new(Semaphore::new(total_units)),
            total_units,
            wait,
        })
    }

    /// A reservation of nothing yet.
    pub fn reservation(self: &Arc<Self>) -> Reservation {
        Reservation {
            budget: self.clone(),
            bytes: 0,
            units: 0,
        }
    }

    /// Bytes charged right now (whole units).
    pub fn in_flight(&self) -> usize {
        self.total_units
            .saturating_sub(self.units.available_permits())
            .saturating_mul(UNIT)
    }

    /// The whole budget, in bytes.
    pub fn max(&self) -> usize {
        self.total_units.saturating_mul(UNIT)
    }
}

/// Bytes a request holds of the budget; given back when dropped. Owned (not borrowed), so a
/// decoder on a blocking thread can grow it as its output grows.
#[must_use = "the bytes stay charged as long as the reservation is held"]
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<Budget>,
    bytes: usize,
    units: usize,
}

impl Reservation {
    /// Units more that holding `more` bytes more needs; `None` when that is more than the
    /// whole budget (it could never fit).
    fn units_for(&self, more: usize) -> Option<u32> {
        let units = self.bytes.saturating_add(more).div_ceil(UNIT);
        let extra = units.saturating_sub(self.units);
        if units > self.budget.total_units {
            return None;
        }
        u32::try_from(extra).ok()
    }

    fn charged(&mut self, more: usize, extra: u32) {
        self.bytes += more;
        self.units += extra as usize;
    }

    /// Charges `bytes` more if they fit now. Errors: [`OverBudget`], leaving what was held.
    pub fn grow(&mut self, bytes: usize) -> Result<(), OverBudget> {
        let extra = self.units_for(bytes).ok_or(OverBudget)?;
        if extra > 0 {
            self.budget
                .units
                .try_acquire_many(extra)
                .map_err(|_| OverBudget)?
                .forget();
        }
        self.charged(bytes, extra);
        Ok(())
    }

    /// Charges `bytes` more, waiting in line up to the budget's wait for room. Errors:
    /// [`OverBudget`] when they did not fit in time or can never fit, leaving what was held.
    pub async fn grow_waiting(&mut self, bytes: usize) -> Result<(), OverBudget> {
        let extra = self.units_for(bytes).ok_or(OverBudget)?;
        if extra > 0 {
            // Without waiting first: the common case takes no timer.
            match self.budget.units.try_acquire_many(extra) {
                Ok(permit) => permit.forget(),
                Err(_) => {
                    tokio::time::timeout(self.budget.wait, self.budget.units.acquire_many(extra))
                        .await
                        .map_err(|_| OverBudget)?
                        .map_err(|_| OverBudget)?
                        .forget();
                }
            }
        }
        self.charged(bytes, extra);
        Ok(())
    }

    /// Gives back `bytes` of what is held (memory freed before the request ends).
    pub fn shrink(&mut self, bytes: usize) {
        self.bytes -= bytes.min(self.bytes);
        let keep = self.bytes.div_ceil(UNIT);
        self.budget.units.add_permits(self.units - keep);
        self.units = keep;
    }

    /// Bytes held.
    pub fn held(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.units.add_permits(self.units);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_counts_bytes_until_released() {
        let budget = Budget::new(100 * UNIT, Duration::ZERO);
        let mut a = budget.reservation();
        a.grow(60 * UNIT).unwrap();
        let mut b = budget.reservation();
        assert_eq!(b.grow(50 * UNIT).unwrap_err(), OverBudget);
        assert_eq!(a.grow(50 * UNIT).unwrap_err(), OverBudget);
        assert_eq!(a.held(), 60 * UNIT, "a refused growth charges nothing");
        a.grow(40 * UNIT).unwrap();
        assert_eq!(budget.in_flight(), 100 * UNIT);
        a.shrink(30 * UNIT);
        assert_eq!(budget.in_flight(), 70 * UNIT);
        drop(a);
        assert_eq!(budget.in_flight(), 0);
        assert!(b.grow(100 * UNIT).is_ok());
        assert_eq!(b.grow(1).unwrap_err(), OverBudget);
    }

    #[test]
    fn small_charges_share_a_unit() {
        let budget = Budget::new(2 * UNIT, Duration::ZERO);
        let mut a = budget.reservation();
        for _ in 0..UNIT {
            a.grow(1).unwrap();
        }
        assert_eq!(budget.in_flight(), UNIT);
        a.grow(1).unwrap();
        assert_eq!(budget.in_flight(), 2 * UNIT);
        a.shrink(2);
        assert_eq!(budget.in_flight(), UNIT);
    }

    #[tokio::test]
    async fn a_charge_waits_for_bytes_given_back_but_not_forever() {
        let budget = Budget::new(10 * UNIT, Duration::from_millis(200));
        let mut held = budget.reservation();
        held.grow(8 * UNIT).unwrap();
        // Never fits: refused at once, whatever the wait.
        let mut huge = budget.reservation();
        assert_eq!(huge.grow_waiting(11 * UNIT).await.unwrap_err(), OverBudget);
        // Nobody gives back: refused after the wait.
        let mut late = budget.reservation();
        let started = tokio::time::Instant::now();
        assert_eq!(late.grow_waiting(4 * UNIT).await.unwrap_err(), OverBudget);
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(
            budget.in_flight(),
            8 * UNIT,
            "a refused wait charges nothing"
        );
        // Given back while waiting: charged.
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move {
                let mut r = budget.reservation();
                r.grow_waiting(4 * UNIT).await.map(|()| r.held())
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        held.shrink(4 * UNIT);
        assert_eq!(waiter.await.unwrap(), Ok(4 * UNIT));
        assert_eq!(
            budget.in_flight(),
            4 * UNIT,
            "the waiter's bytes were given back"
        );
    }
}
