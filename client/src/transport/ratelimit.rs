//! Rate limits announced by the server.
//!
//! `X-Sentry-Rate-Limits: <seconds>:<cat;cat>:<scope>[:reason[:namespaces]], …` is read on every
//! answer; an empty category list limits everything. A `429` without that header falls back to
//! `Retry-After` (seconds or an HTTP date; unparsable → 60 s). Until a deadline passes, items of a
//! limited category are dropped before sending and counted as `ratelimit_backoff`.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use crate::protocol::{Envelope, Item};

const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Deadlines per data category.
#[derive(Debug, Default, Clone)]
pub struct RateLimiter {
    all: Option<Instant>,
    categories: HashMap<String, Instant>,
}

impl RateLimiter {
    /// No limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Learns limits from an answer's status and headers.
    pub fn update(&mut self, status: u16, retry_after: Option<&str>, limits: Option<&str>) {
        let now = Instant::now();
        if let Some(limits) = limits.filter(|l| !l.trim().is_empty()) {
            for limit in limits.split(',') {
                let mut parts = limit.trim().split(':');
                let secs = parts
                    .next()
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .unwrap_or(DEFAULT_RETRY_AFTER.as_secs_f64());
                let until = now + Duration::from_secs_f64(secs.min(86_400.0));
                let cats = parts.next().unwrap_or("");
                if cats.trim().is_empty() {
                    extend(&mut self.all, until);
                } else {
                    for c in cats.split(';').map(str::trim).filter(|c| !c.is_empty()) {
                        let e = self.categories.entry(c.to_owned()).or_insert(until);
                        if *e < until {
                            *e = until;
                        }
                    }
                }
            }
        } else if status == 429 {
            let wait = retry_after
                .and_then(parse_retry_after)
                .unwrap_or(DEFAULT_RETRY_AFTER);
            extend(&mut self.all, now + wait);
        }
    }

    /// When `category` may be sent again, if it is limited now.
    pub fn limited_until(&self, category: &str) -> Option<Instant> {
        let now = Instant::now();
        let mut until = self.all.filter(|t| *t > now);
        if let Some(t) = self.categories.get(category).filter(|t| **t > now) {
            until = Some(until.map_or(*t, |u| u.max(*t)));
        }
        // `default` limits also cover errors, as in Relay's category mapping for events.
        if category == "error" {
            if let Some(t) = self.categories.get("default").filter(|t| **t > now) {
                until = Some(until.map_or(*t, |u| u.max(*t)));
            }
        }
        until
    }

    /// True while any limit is in force.
    pub fn any_active(&self) -> bool {
        let now = Instant::now();
        self.all.is_some_and(|t| t > now) || self.categories.values().any(|t| *t > now)
    }

    /// Removes limited items; returns the dropped ones' categories.
    pub fn filter(&self, envelope: &mut Envelope) -> Vec<&'static str> {
        let mut dropped = Vec::new();
        envelope.items.retain(|item: &Item| {
            let cat = item.ty.category();
            // Client reports are SDK bookkeeping; only a limit on everything stops them.
            let limited = if cat == "internal" {
                self.all.is_some_and(|t| t > Instant::now())
            } else {
                self.limited_until(cat).is_some()
            };
            if limited && cat != "internal" {
                dropped.push(cat);
            }
            !limited
        });
        dropped
    }
}

fn extend(slot: &mut Option<Instant>, until: Instant) {
    if slot.is_none_or(|t| t < until) {
        *slot = Some(until);
    }
}

/// `Retry-After`: delta seconds or an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let parts: Vec<&str> = v.split_whitespace().collect();
    if parts.len() != 6 {
        return None;
    }
    let day: i64 = parts[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])? as i64
        + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<i64> = parts[4]
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if hms.len() != 3 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let epoch = days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2];
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs() as i64;
    Some(Duration::from_secs((epoch - now).max(0) as u64))
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_limits_categories() {
        let mut r = RateLimiter::new();
        r.update(
            200,
            None,
            Some("60:transaction:key, 2700:error;default:project"),
        );
        assert!(r.limited_until("error").is_some());
        assert!(r.limited_until("transaction").is_some());
        assert!(r.limited_until("attachment").is_none());
    }

    #[test]
    fn empty_categories_limit_everything() {
        let mut r = RateLimiter::new();
        r.update(429, Some("1"), Some("60::organization:quota_exceeded"));
        let t = r.limited_until("attachment").unwrap();
        assert!(t > Instant::now() + Duration::from_secs(50));
    }

    #[test]
    fn retry_after_fallback() {
        let mut r = RateLimiter::new();
        r.update(429, Some("2"), None);
        let t = r.limited_until("error").unwrap();
        assert!(t <= Instant::now() + Duration::from_secs(2));
        let mut r = RateLimiter::new();
        r.update(429, Some("garbage"), None);
        assert!(r.limited_until("error").unwrap() > Instant::now() + Duration::from_secs(50));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
    }
}
