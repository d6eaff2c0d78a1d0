//! An ingest request's body, read under three bounds (issue #24, items 1 and 2): the size
//! limit (413), the body-rate rule of `http::min_rate` (408) and the bytes-in-flight budget of
//! [`Gate`] (429 once a brief wait for room is over), reserved by `Content-Length` before
//! reading (up to the address's share), grown as the body arrives and again as it is
//! decompressed. Decompression of anything larger than a typical envelope runs as a heavy step
//! ([`Heavy`]), never on the async workers that answer everyone else.
//!
//! A request whose only credential can be the envelope header's `dsn` is read one line at a
//! time: [`BodyReader::first_line`] stops at the header, so that the key is checked before the
//! rest of the body is read.

use std::pin::Pin;

use axum::body::Body;
use bytes::Bytes;
use http_body_util::BodyExt;

use crate::http::min_rate::{BodyTooSlow, MinRate};

use super::decode::{self, DecodeError};
use super::error::IngestError;
use super::gate::{Gate, Refusal, Reservation};
use super::heavy::Heavy;

/// The bytes read so far: one chunk as it came (no copy, the common case), or several copied
/// into one buffer. What it allocates is charged to the budget before it is allocated.
enum Buffer {
    Empty,
    One(Bytes),
    Many(Vec<u8>),
}

impl Buffer {
    /// Most bytes held while appending `more`, growing a copy to at most `cap` bytes (the
    /// declared length or the limit) by doubling; the first chunk counts while it is copied.
    fn peak_after(&self, more: usize, cap: usize) -> usize {
        let grown = |len: usize, capacity: usize| {
            let needed = len + more;
            if needed > capacity {
                needed.max(2 * capacity).min(cap).max(needed)
            } else {
                capacity
            }
        };
        match self {
            Buffer::Empty => more,
            Buffer::One(first) => first.len() + grown(first.len(), first.len()),
            Buffer::Many(all) => grown(all.len(), all.capacity()),
        }
    }

    /// Appends `data` (its memory charged already, [`Buffer::peak_after`]).
    fn push(&mut self, data: Bytes, cap: usize) {
        let target = self.peak_after(data.len(), cap);
        match self {
            Buffer::Empty => *self = Buffer::One(data),
            Buffer::One(first) => {
                let mut all = Vec::with_capacity(target - first.len());
                all.extend_from_slice(first);
                all.extend_from_slice(&data);
                *self = Buffer::Many(all);
            }
            Buffer::Many(all) => {
                if target > all.capacity() {
                    all.reserve_exact(target - all.len());
                }
                all.extend_from_slice(&data);
            }
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Buffer::Empty => &[],
            Buffer::One(b) => b,
            Buffer::Many(b) => b,
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Buffer::Empty => Bytes::new(),
            Buffer::One(b) => b,
            Buffer::Many(b) => Bytes::from(b),
        }
    }
}

/// Reads one request body.
pub(super) struct BodyReader<'a> {
    body: Pin<&'a mut MinRate<Body>>,
    buffer: Buffer,
    received: usize,
    limit: usize,
    /// Most bytes the buffer will need: `Content-Length`, else the limit.
    cap: usize,
    /// What the buffer holds of the budget: the declared length up to the address's share
    /// before reading ([`Gate::up_front`]), then more as the bytes arrive, so that a slow
    /// client declaring a large body holds only that share and what it has sent.
    reservation: Reservation,
    retry_after_secs: u64,
    ended: bool,
}

impl<'a> BodyReader<'a> {
    /// Prepares to read `body`, reserving its declared length up to its address's share,
    /// waiting briefly for room. Errors: 413 when the declared length is over `limit`, 429 when
    /// the budget has no room for it.
    pub(super) async fn new(
        body: Pin<&'a mut MinRate<Body>>,
        declared: Option<u64>,
        limit: usize,
        gate: &Gate,
        retry_after_secs: u64,
    ) -> Result<BodyReader<'a>, IngestError> {
        let cap = match declared {
            Some(n) if n > limit as u64 => return Err(IngestError::BodyTooLarge { limit }),
            Some(n) => n as usize,
            None => limit,
        };
        let mut reservation = gate.reservation();
        if let Some(n) = declared {
            reservation
                .grow_waiting(gate.up_front(n as usize))
                .await
                .map_err(|e| refused(e.into(), retry_after_secs))?;
        }
        Ok(BodyReader {
            body,
            buffer: Buffer::Empty,
            received: 0,
            limit,
            cap,
            reservation,
            retry_after_secs,
            ended: false,
        })
    }

    /// Reads until the first line (the envelope header) is complete, or the body ends, or
    /// `max` bytes came without a newline; returns that line without its newline.
    ///
    /// Errors as [`BodyReader::finish`].
    pub(super) async fn first_line(&mut self, max: usize) -> Result<Bytes, IngestError> {
        let mut scanned = 0;
        loop {
            let seen = self.buffer.as_slice();
            if let Some(at) = seen[scanned..].iter().position(|&b| b == b'\n') {
                return Ok(Bytes::copy_from_slice(&seen[..scanned + at]));
            }
            if self.ended || seen.len() >= max {
                return Ok(Bytes::copy_from_slice(&seen[..seen.len().min(max)]));
            }
            scanned = seen.len();
            self.read_frame().await?;
        }
    }

    /// Reads the rest of the body; returns it with the budget it holds.
    ///
    /// Errors: 413 past `limit`, 408 when it comes too slowly, 429 when the budget cannot take
    /// what arrived, 400 when the connection breaks.
    pub(super) async fn finish(mut self) -> Result<(Bytes, Reservation), IngestError> {
        while !self.ended {
            self.read_frame().await?;
        }
        Ok((self.buffer.into_bytes(), self.reservation))
    }

    async fn read_frame(&mut self) -> Result<(), IngestError> {
        let frame = match self.body.as_mut().frame().await {
            None => {
                self.ended = true;
                return Ok(());
            }
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                return Err(match e.downcast::<BodyTooSlow>() {
                    Ok(slow) => IngestError::BodyTooSlow(*slow),
                    Err(e) => IngestError::BodyUnreadable(e),
                })
            }
        };
        // Trailers carry nothing an SDK sends.
        let Ok(data) = frame.into_data() else {
            return Ok(());
        };
        self.received += data.len();
        if self.received > self.limit {
            return Err(IngestError::BodyTooLarge { limit: self.limit });
        }
        let peak = self.buffer.peak_after(data.len(), self.cap);
        if let Some(more) = peak.checked_sub(self.reservation.held()) {
            self.reservation
                .grow_waiting(more)
                .await
                .map_err(|e| refused(e.into(), self.retry_after_secs))?;
        }
        self.buffer.push(data, self.cap);
        Ok(())
    }
}

/// Largest decoded body undone on the async worker that read it, bytes: as for events
/// (`items::event`), a typical compressed envelope decodes to ~12 KB in tens of
/// microseconds, less than handing it to a heavy step costs, while a larger one could hold
/// the worker for milliseconds.
const INLINE_DECODED: usize = 64 * 1024;

/// Undoes `Content-Encoding`, charging the output to `reservation` as it grows; an unencoded
/// body is returned as is. A gzip or deflate body that decodes to at most [`INLINE_DECODED`]
/// bytes is decoded inline; a larger one (found out when the inline attempt passes that size,
/// or from its compressed size) and any other coding as a heavy step ([`Heavy`]). The compressed body is given back to the
/// budget once decoded.
///
/// Errors: 415 for an unsupported coding, 413 past `limit`, 429 when the budget runs out,
/// 400 for corrupt data.
pub(super) async fn decode(
    heavy: &Heavy,
    raw: Bytes,
    encoding: Option<String>,
    limit: usize,
    mut reservation: Reservation,
    retry_after_secs: u64,
) -> Result<(Bytes, Reservation), IngestError> {
    if !decode::is_encoded(encoding.as_deref())? {
        return Ok((raw, reservation));
    }
    if raw.len() <= INLINE_DECODED && decode::has_small_window(encoding.as_deref()) {
        let inline_limit = limit.min(INLINE_DECODED);
        let mut charged = 0;
        let decoded =
            decode::decode_body_within(encoding.as_deref(), raw.clone(), inline_limit, &mut |n| {
                let granted = reservation.grow(n).is_ok();
                charged += if granted { n } else { 0 };
                granted
            });
        match decoded {
            Ok(body) => {
                reservation.shrink(raw.len());
                return Ok((body, reservation));
            }
            // Larger than an inline decode: the heavy step starts over.
            Err(DecodeError::TooLarge { .. }) if limit > inline_limit => {
                reservation.shrink(charged);
            }
            Err(DecodeError::OverBudget) => {
                return Err(refused(Refusal::OverBudget, retry_after_secs))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let (decoded, reservation) = heavy
        .run("decoding", move || {
            let compressed = raw.len();
            let decoded = decode::decode_body_within(encoding.as_deref(), raw, limit, &mut |n| {
                reservation.grow(n).is_ok()
            });
            // The compressed body was dropped with the decoder.
            reservation.shrink(compressed);
            (decoded, reservation)
        })
        .await?;
    match decoded {
        Ok(body) => Ok((body, reservation)),
        Err(DecodeError::OverBudget) => Err(refused(Refusal::OverBudget, retry_after_secs)),
        Err(e) => Err(e.into()),
    }
}

/// The 429 of a gate refusal.
pub(super) fn refused(refusal: Refusal, retry_after_secs: u64) -> IngestError {
    match refusal {
        Refusal::AddressFull => IngestError::AddressBusy { retry_after_secs },
        Refusal::OverBudget => IngestError::OverBudget { retry_after_secs },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::budget::Budget;
    use std::io::Write;
    use std::sync::Arc;
    use std::time::Duration;

    fn gzip(data: &[u8]) -> Bytes {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).expect("compresses");
        Bytes::from(e.finish().expect("compresses"))
    }

    /// A JSON-ish body of about `len` bytes that compresses like an event (not to nothing).
    fn body(len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 64);
        let mut i = 0u64;
        while out.len() < len {
            i = i
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            out.extend_from_slice(
                format!("{{\"n\":{},\"s\":\"frame_{}\"}},", i >> 40, i % 97).as_bytes(),
            );
        }
        out
    }

    /// What decoding `compressed` charges when done in one go.
    fn charge_of(compressed: &Bytes) -> usize {
        let mut sum = 0;
        decode::decode_body_within(Some("gzip"), compressed.clone(), 1 << 20, &mut |n| {
            sum += n;
            true
        })
        .expect("decodes");
        sum
    }

    /// With the only heavy slot taken, a typical gzip body still decodes (inline), while one
    /// that decodes past [`INLINE_DECODED`] waits for the slot, and its inline attempt leaves
    /// nothing charged behind.
    #[tokio::test]
    async fn small_gzip_bodies_decode_inline_and_large_ones_as_heavy_steps() {
        let heavy = Arc::new(Heavy::with_slots(1));
        let budget = Budget::new(64 << 20, Duration::ZERO);
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let holder = tokio::spawn({
            let heavy = heavy.clone();
            async move {
                heavy
                    .run("holding the slot", move || {
                        let _ = started.send(());
                        let _ = held.recv();
                    })
                    .await
            }
        });
        running.await.expect("the slot is held");

        let decode_charged = |data: Bytes| {
            let heavy = heavy.clone();
            let mut reservation = budget.reservation();
            async move {
                reservation.grow(data.len()).expect("room");
                decode(&heavy, data, Some("gzip".into()), 1 << 20, reservation, 1).await
            }
        };
        let (large_json, small_json) = (body(120 * 1024), body(12 * 1024));
        let large = gzip(&large_json);
        assert!(
            large.len() < INLINE_DECODED,
            "{}: tried inline first",
            large.len()
        );
        let large_charge = charge_of(&large);
        let large_task = tokio::spawn(decode_charged(large));

        let small = gzip(&small_json);
        let small_charge = charge_of(&small);
        let (decoded, reservation) =
            tokio::time::timeout(Duration::from_secs(10), decode_charged(small))
                .await
                .expect("decoded without the heavy slot")
                .expect("decodes");
        assert_eq!(decoded, small_json);
        assert_eq!(
            reservation.held(),
            small_charge,
            "the compressed body given back"
        );
        drop(reservation);
        tokio::task::yield_now().await;
        assert!(!large_task.is_finished(), "a large body waits for the slot");

        release.send(()).expect("release");
        holder.await.expect("task").expect("ran");
        let (decoded, reservation) = large_task.await.expect("task").expect("decodes");
        assert_eq!(decoded, large_json);
        assert_eq!(
            reservation.held(),
            large_charge,
            "the inline attempt's charge given back"
        );
        drop(reservation);
        assert_eq!(budget.in_flight(), 0);
    }
}
