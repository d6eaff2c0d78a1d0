//! A request body that must keep up a minimum rate (issue #24, item 1): the rule of Apache's
//! `mod_reqtimeout` (`body=20,MinRate=500`), where a grace period is extended by one second
//! for every `min_rate` bytes received. A client that sends one byte every few seconds is cut
//! off after about the grace period, while a slow but steady upload of any size completes.
//!
//! tower-http's `RequestBodyTimeout` resets on every frame, so one byte every few seconds
//! would hold a request open for ever; hence this small wrapper.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// How fast a body must arrive: complete within `grace + received / min_rate` of its first
/// read (`min_rate` in bytes per second; 0 means `grace` for the whole body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Time allowed beyond what the rate buys.
    pub grace: Duration,
    /// Bytes per second that each extend the deadline by one second.
    pub min_rate: u64,
}

impl Rule {
    /// The deadline of a body first read at `start` that has delivered `received` bytes.
    fn deadline(&self, start: Instant, received: u64) -> Instant {
        let bought = match self.min_rate {
            0 => Duration::ZERO,
            rate => Duration::from_millis(received.saturating_mul(1000) / rate),
        };
        start + self.grace + bought
    }
}

/// The body came in slower than its [`Rule`] allows (the error of [`MinRate`]; the ingest
/// endpoints answer 408 for it).
#[derive(Debug, thiserror::Error)]
#[error(
    "the request body arrived too slowly: {received} bytes in {secs:.1} s, \
     below {min_rate} bytes/s after a {grace_secs} s grace period"
)]
pub struct BodyTooSlow {
    /// Bytes received before the deadline.
    pub received: u64,
    /// Seconds since the first read.
    pub secs: f64,
    /// The rule's rate, bytes per second.
    pub min_rate: u64,
    /// The rule's grace period, seconds.
    pub grace_secs: u64,
}

pin_project_lite::pin_project! {
    /// A body failing with [`BodyTooSlow`] once it falls behind its [`Rule`]. The clock starts
    /// at the first poll, when someone reads the body, not when the request arrived.
    pub struct MinRate<B> {
        #[pin]
        body: B,
        #[pin]
        timer: Option<Sleep>,
        rule: Rule,
        start: Option<Instant>,
        received: u64,
    }
}

impl<B> MinRate<B> {
    /// Wraps `body` under `rule`.
    pub fn new(body: B, rule: Rule) -> MinRate<B> {
        MinRate {
            body,
            timer: None,
            rule,
            start: None,
            received: 0,
        }
    }
}

impl<B> Body for MinRate<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        let start = *this.start.get_or_insert_with(Instant::now);
        match this.body.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.received += data.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                // The timer is armed only while waiting: a body that is already in, the common
                // case, costs no timer.
                let deadline = this.rule.deadline(start, *this.received);
                match this.timer.as_mut().as_pin_mut() {
                    Some(timer) if timer.deadline() == deadline => {}
                    Some(timer) => timer.reset(deadline),
                    None => this.timer.set(Some(tokio::time::sleep_until(deadline))),
                }
                let expired = this
                    .timer
                    .as_mut()
                    .as_pin_mut()
                    .is_some_and(|timer| timer.poll(cx).is_ready());
                if expired {
                    return Poll::Ready(Some(Err(Box::new(BodyTooSlow {
                        received: *this.received,
                        secs: start.elapsed().as_secs_f64(),
                        min_rate: this.rule.min_rate,
                        grace_secs: this.rule.grace.as_secs(),
                    }))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rate_worth_of_bytes_buys_a_second() {
        let start = Instant::now();
        let rule = Rule {
            grace: Duration::from_secs(20),
            min_rate: 500,
        };
        assert_eq!(rule.deadline(start, 0), start + Duration::from_secs(20));
        assert_eq!(rule.deadline(start, 5_000), start + Duration::from_secs(30));
        let flat = Rule {
            min_rate: 0,
            ..rule
        };
        assert_eq!(flat.deadline(start, 5_000), start + Duration::from_secs(20));
    }
}
