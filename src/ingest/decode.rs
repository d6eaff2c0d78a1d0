//! Request body decoding: `Content-Encoding` and the legacy `/store/` encodings
//! (sentry-protocol.md 3.1, limits 3.2).
//!
//! Decompression is streaming: output is produced in chunks and counted as it appears, so a
//! small compressed body that inflates to gigabytes ("zip bomb") is cut off at the limit and
//! never allocates more than the limit. Decoders run synchronously: the ingest endpoints run
//! them on the blocking pool whatever the body's size, since a few hundred compressed bytes
//! can take a core for tens of milliseconds.
//!
//! | `Content-Encoding` | decoding |
//! | --- | --- |
//! | `gzip`, `x-gzip` | gzip (concatenated members allowed) |
//! | `deflate` | zlib (raven-python), falling back to raw deflate |
//! | `br` | brotli |
//! | `zstd` | zstandard |
//! | absent, `identity`, `""`, `UTF-8` (any case) | none |
//! | `a, b` | `b` undone first, then `a` (RFC 9110 lists codings in the order applied) |

use std::io::Read;

use base64::Engine as _;
use bytes::Bytes;

/// Why a body could not be decoded.
///
/// Status mapping (sentry-protocol.md 3.1–3.3): `Unsupported` → 415 (answer with
/// `Accept-Encoding: gzip, deflate, br, zstd`), `TooLarge` → 413, `OverBudget` → 429,
/// `Corrupt` → 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// A content coding this server does not implement; holds the coding as sent.
    #[error("unsupported content encoding {0:?}")]
    Unsupported(String),
    /// The decoded body exceeds `limit` bytes.
    #[error("decoded body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The caller's memory allowance refused more output (the server's bytes-in-flight budget,
    /// `ingest::gate`): answered 429, as the same body may fit later.
    #[error("the server's memory for requests in flight is used up")]
    OverBudget,
    /// The data is not valid for its encoding (truncated, bad checksum, not base64, …).
    #[error("body is not valid {encoding}: {reason}")]
    Corrupt {
        /// The encoding that failed (`gzip`, `deflate`, `br`, `zstd`, `base64`).
        encoding: String,
        /// The decoder's message.
        reason: String,
    },
}

/// The content codings this module can undo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl Coding {
    fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
        }
    }
}

/// Undoes `Content-Encoding` on a request body.
///
/// `content_encoding` is the raw header value (`None` when absent); `limit` is the maximum size
/// in bytes of the decoded body, and of every intermediate result when several codings are
/// stacked. An unencoded body is returned as is (no copy) if it fits the limit.
///
/// Errors: [`DecodeError::Unsupported`] for an unknown coding (checked before any work),
/// [`DecodeError::TooLarge`] as soon as the output passes `limit`, [`DecodeError::Corrupt`] when
/// a decoder rejects the data.
pub fn decode_body(
    content_encoding: Option<&str>,
    body: Bytes,
    limit: usize,
) -> Result<Bytes, DecodeError> {
    decode_body_within(content_encoding, body, limit, &mut |_| true)
}

/// [`decode_body`] that asks `allow(bytes)` before every allocation of decoded output, so the
/// caller can charge it to a memory budget while the output grows; a `false` stops decoding
/// with [`DecodeError::OverBudget`]. Intermediate results of stacked codings are charged too.
pub fn decode_body_within(
    content_encoding: Option<&str>,
    body: Bytes,
    limit: usize,
    allow: &mut dyn FnMut(usize) -> bool,
) -> Result<Bytes, DecodeError> {
    let codings = parse_codings(content_encoding.unwrap_or(""))?;
    let mut body = body;
    for coding in codings.into_iter().rev() {
        body = Bytes::from(decode_one(coding, &body, limit, allow)?);
    }
    if body.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(body)
}

/// Whether a body with this `Content-Encoding` needs decoding at all (false for none,
/// `identity` and the values SDKs send for none). Errors: [`DecodeError::Unsupported`], so an
/// unknown coding is refused before its body is read.
pub fn is_encoded(content_encoding: Option<&str>) -> Result<bool, DecodeError> {
    Ok(!parse_codings(content_encoding.unwrap_or(""))?.is_empty())
}

/// Whether every coding in `content_encoding` is gzip or deflate, whose decoders hold a
/// 32 KiB window at most (brotli's and zstd's may hold megabytes, sized by the sender).
pub fn has_small_window(content_encoding: Option<&str>) -> bool {
    parse_codings(content_encoding.unwrap_or("")).is_ok_and(|c| {
        c.iter()
            .all(|c| matches!(c, Coding::Gzip | Coding::Deflate))
    })
}

/// Whether a legacy `/store/` body is already JSON, which [`decode_store_body`] returns as is.
pub fn is_plain_json(body: &[u8]) -> bool {
    starts_with_brace(body)
}

/// Decodes a legacy `/store/` body to JSON bytes (sentry-protocol.md 3.1).
///
/// Call after [`decode_body`]. A body starting with `{` (after whitespace) is returned as is;
/// otherwise it is base64 (old raven/JS clients), whose content is either JSON or a zlib stream
/// (raw deflate tolerated) of JSON. The result is not validated as JSON here.
///
/// Errors: [`DecodeError::Corrupt`] with encoding `base64` or `deflate`, and
/// [`DecodeError::TooLarge`] when the result exceeds `limit` bytes.
pub fn decode_store_body(body: Bytes, limit: usize) -> Result<Bytes, DecodeError> {
    if starts_with_brace(&body) {
        if body.len() > limit {
            return Err(DecodeError::TooLarge { limit });
        }
        return Ok(body);
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    // Some clients wrap base64 at 76 columns; the engine rejects embedded whitespace.
    let compact: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let decoded = engine.decode(&compact).map_err(|e| DecodeError::Corrupt {
        encoding: "base64".to_owned(),
        reason: format!("store body is neither JSON nor base64: {e}"),
    })?;
    if starts_with_brace(&decoded) {
        if decoded.len() > limit {
            return Err(DecodeError::TooLarge { limit });
        }
        return Ok(Bytes::from(decoded));
    }
    decode_one(Coding::Deflate, &decoded, limit, &mut |_| true).map(Bytes::from)
}

fn starts_with_brace(data: &[u8]) -> bool {
    data.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Splits a `Content-Encoding` value into the codings to undo, in the order they were applied.
fn parse_codings(header: &str) -> Result<Vec<Coding>, DecodeError> {
    header
        .split(',')
        .map(str::trim)
        .filter(|c| {
            // sentry-ruby 5.x and old sentry-java-android send "" and "UTF-8"; Relay ignores them.
            !(c.is_empty() || c.eq_ignore_ascii_case("identity") || c.eq_ignore_ascii_case("utf-8"))
        })
        .map(|c| match c.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Ok(Coding::Gzip),
            "deflate" => Ok(Coding::Deflate),
            "br" => Ok(Coding::Brotli),
            "zstd" => Ok(Coding::Zstd),
            _ => Err(DecodeError::Unsupported(c.chars().take(64).collect())),
        })
        .collect()
}

fn decode_one(
    coding: Coding,
    data: &[u8],
    limit: usize,
    allow: &mut dyn FnMut(usize) -> bool,
) -> Result<Vec<u8>, DecodeError> {
    let first = first_capacity(coding, data);
    let read = |reader: &mut dyn Read, allow: &mut dyn FnMut(usize) -> bool| {
        read_limited(reader, coding, limit, first, allow)
    };
    // The `bufread` decoders read the slice in place; the `read` ones would copy it through a
    // buffer of their own first.
    match coding {
        Coding::Gzip => read(&mut flate2::bufread::MultiGzDecoder::new(data), allow),
        Coding::Deflate => {
            // raven-python sends zlib-wrapped data under "deflate" (RFC 9110's meaning); some
            // clients send raw deflate. Try zlib when the header checks out, else raw.
            if has_zlib_header(data) {
                match read(&mut flate2::bufread::ZlibDecoder::new(data), allow) {
                    Err(zlib_err @ DecodeError::Corrupt { .. }) => {
                        // A raw stream can start with bytes that pass the zlib header check.
                        match read(&mut flate2::bufread::DeflateDecoder::new(data), allow) {
                            Err(DecodeError::Corrupt { .. }) => Err(zlib_err),
                            raw => raw,
                        }
                    }
                    zlib => zlib,
                }
            } else {
                read(&mut flate2::bufread::DeflateDecoder::new(data), allow)
            }
        }
        Coding::Brotli => read(&mut brotli::Decompressor::new(data, 64 * 1024), allow),
        Coding::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(|e| {
                DecodeError::Corrupt {
                    encoding: coding.name().to_owned(),
                    reason: e.to_string(),
                }
            })?;
            read(&mut decoder, allow)
        }
    }
}

/// RFC 1950: compression method 8 and a header checksum divisible by 31.
fn has_zlib_header(data: &[u8]) -> bool {
    match data {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// The output capacity to start decoding `data` with: for gzip the size its trailer states
/// (RFC 1952 `ISIZE`, the last member's size modulo 2^32), for the others, or a trailer that
/// claims more than [`MAX_HINTED_RATIO`] times the compressed size, a guess from that size.
/// Only a first allocation: the output grows past it as needed, and a wrong one costs a copy.
fn first_capacity(coding: Coding, data: &[u8]) -> usize {
    let most = data
        .len()
        .saturating_mul(MAX_HINTED_RATIO)
        .max(MIN_CAPACITY);
    let stated = match (
        coding,
        data.len().checked_sub(4).and_then(|at| data.get(at..)),
    ) {
        (Coding::Gzip, Some(&[a, b, c, d])) => u32::from_le_bytes([a, b, c, d]) as usize,
        _ => data.len().saturating_mul(4),
    };
    stated.clamp(MIN_CAPACITY, most)
}

/// Smallest first output capacity, bytes.
const MIN_CAPACITY: usize = 4 * 1024;

/// Largest ratio of a first output capacity to the compressed size: JSON compresses 4–12×,
/// and a trailer is the sender's word.
const MAX_HINTED_RATIO: usize = 32;

/// Reads `reader` to the end straight into the output, failing with `TooLarge` as soon as more
/// than `limit` bytes appear.
///
/// The output starts at `first` bytes of capacity and doubles as needed, never past `limit` (+ 1,
/// to tell a body of exactly `limit` bytes from a longer one), so the limit bounds memory too;
/// each growth is asked of `allow` first.
fn read_limited(
    reader: &mut dyn Read,
    coding: Coding,
    limit: usize,
    first: usize,
    allow: &mut dyn FnMut(usize) -> bool,
) -> Result<Vec<u8>, DecodeError> {
    let cap = limit.saturating_add(1);
    let mut out: Vec<u8> = Vec::new();
    let mut filled = 0;
    // Where the output is full, a small read tells the end from more to come without growing
    // it first (the common case when the first capacity was the exact size).
    let mut probe = [0u8; 256];
    loop {
        let full = filled == out.len();
        let buf = if full && filled > 0 {
            &mut probe[..]
        } else {
            if full {
                let target = first.min(cap);
                if !allow(target) {
                    return Err(DecodeError::OverBudget);
                }
                out.reserve_exact(target);
                out.resize(target, 0);
            }
            &mut out[filled..]
        };
        let n = match reader.read(buf) {
            Ok(0) => {
                out.truncate(filled);
                return Ok(out);
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(DecodeError::Corrupt {
                    encoding: coding.name().to_owned(),
                    reason: e.to_string(),
                })
            }
        };
        if full && filled > 0 {
            // Doubling as `Vec` would, but never past the cap.
            let target = (filled + n).max(out.len() * 2).min(cap);
            if filled + n > target {
                return Err(DecodeError::TooLarge { limit });
            }
            if !allow(target - out.len()) {
                return Err(DecodeError::OverBudget);
            }
            out.reserve_exact(target - out.len());
            out.resize(target, 0);
            out[filled..filled + n].copy_from_slice(&probe[..n]);
        }
        filled += n;
        if filled > limit {
            return Err(DecodeError::TooLarge { limit });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;

    fn fixtures_dir() -> PathBuf {
        PathBuf::from(crate::protocol::PYTHON_FIXTURES)
    }

    const MIB: usize = 1024 * 1024;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn brotli_compress(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(data).unwrap();
        }
        out
    }

    fn decode(enc: Option<&str>, data: Vec<u8>) -> Result<Bytes, DecodeError> {
        decode_body(enc, Bytes::from(data), 10 * MIB)
    }

    #[test]
    fn every_compressed_fixture_decodes_to_its_envelope() {
        let mut checked = 0;
        for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let (stem, encoding) = if let Some(stem) = name.strip_suffix(".envelope.gz") {
                (stem, "gzip")
            } else if let Some(stem) = name.strip_suffix(".envelope.br") {
                (stem, "br")
            } else {
                continue;
            };
            let raw = std::fs::read(&path).unwrap();
            let expected = std::fs::read(fixtures_dir().join(format!("{stem}.envelope"))).unwrap();
            let decoded = decode_body(Some(encoding), Bytes::from(raw), 100 * MIB)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&decoded[..], &expected[..], "{name}");
            checked += 1;
        }
        assert!(checked >= 30, "only {checked} compressed fixtures");
    }

    #[test]
    fn identity_variants_pass_through_without_copy() {
        let body = Bytes::from_static(b"{}\n");
        for enc in [
            None,
            Some(""),
            Some("identity"),
            Some("IDENTITY"),
            Some("UTF-8"),
            Some("utf-8"),
            Some(" , identity"),
        ] {
            let out = decode_body(enc, body.clone(), 100).unwrap();
            assert_eq!(out.as_ptr(), body.as_ptr(), "{enc:?}");
        }
        assert_eq!(
            decode_body(None, body, 2),
            Err(DecodeError::TooLarge { limit: 2 })
        );
    }

    #[test]
    fn each_coding_round_trips() {
        let data = b"{\"hello\":\"world\"}\n".repeat(100);
        assert_eq!(decode(Some("gzip"), gzip(&data)).unwrap(), data);
        assert_eq!(decode(Some("GZIP"), gzip(&data)).unwrap(), data);
        assert_eq!(decode(Some("x-gzip"), gzip(&data)).unwrap(), data);
        assert_eq!(decode(Some("br"), brotli_compress(&data)).unwrap(), data);
        let zstd = zstd::stream::encode_all(&data[..], 3).unwrap();
        assert_eq!(decode(Some("zstd"), zstd).unwrap(), data);
    }

    #[test]
    fn deflate_accepts_zlib_and_raw() {
        let data = b"{\"message\":\"raven\"}".repeat(50);
        let wrapped = zlib(&data);
        assert_eq!(&wrapped[..2], &[0x78, 0xda]);
        assert_eq!(decode(Some("deflate"), wrapped).unwrap(), data);
        assert_eq!(decode(Some("deflate"), raw_deflate(&data)).unwrap(), data);
        // A raven-style default-level zlib stream starts 78 9c.
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&data).unwrap();
        let wrapped = enc.finish().unwrap();
        assert_eq!(&wrapped[..2], &[0x78, 0x9c]);
        assert_eq!(decode(Some("deflate"), wrapped).unwrap(), data);
    }

    #[test]
    fn stacked_codings_are_undone_in_reverse() {
        let data = b"payload".repeat(10);
        // "gzip, br" means gzip was applied first, then brotli.
        let body = brotli_compress(&gzip(&data));
        assert_eq!(decode(Some("gzip, br"), body).unwrap(), data);
        assert_eq!(decode(Some("identity,gzip"), gzip(&data)).unwrap(), data);
    }

    #[test]
    fn unknown_coding_is_unsupported() {
        assert_eq!(
            decode(Some("compress"), b"x".to_vec()),
            Err(DecodeError::Unsupported("compress".into()))
        );
        // Checked up front, even when stacked after a valid one.
        assert_eq!(
            decode(Some("gzip, lzma"), b"x".to_vec()),
            Err(DecodeError::Unsupported("lzma".into()))
        );
    }

    #[test]
    fn corrupt_data_is_corrupt() {
        let data = b"{\"a\":1}".repeat(1000);
        let mut truncated = gzip(&data);
        truncated.truncate(truncated.len() / 2);
        let err = decode(Some("gzip"), truncated).unwrap_err();
        assert!(
            matches!(&err, DecodeError::Corrupt { encoding, .. } if encoding == "gzip"),
            "{err:?}"
        );
        for enc in ["gzip", "deflate", "br", "zstd"] {
            let err = decode(Some(enc), b"definitely not compressed".to_vec()).unwrap_err();
            assert!(
                matches!(&err, DecodeError::Corrupt { encoding, .. } if encoding == enc),
                "{enc}: {err:?}"
            );
        }
        let mut zstd = zstd::stream::encode_all(&data[..], 3).unwrap();
        zstd.truncate(zstd.len() - 4);
        assert!(matches!(
            decode(Some("zstd"), zstd),
            Err(DecodeError::Corrupt { .. })
        ));
        let mut br = brotli_compress(&data);
        br.truncate(br.len() / 2);
        assert!(matches!(
            decode(Some("br"), br),
            Err(DecodeError::Corrupt { .. })
        ));
    }

    /// 50 MiB of zeros, compressed, against a 1 MiB limit.
    #[test]
    fn bombs_stop_at_the_limit() {
        // Level 6: zlib-rs's level 1 (deflate_quick) does not shrink zeros by 200x.
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let zeros = vec![0u8; MIB];
        for _ in 0..50 {
            enc.write_all(&zeros).unwrap();
        }
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < MIB / 4);
        assert_eq!(
            decode_body(Some("gzip"), Bytes::from(bomb), MIB),
            Err(DecodeError::TooLarge { limit: MIB })
        );

        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        for _ in 0..50 {
            enc.write_all(&zeros).unwrap();
        }
        let bomb = enc.finish().unwrap();
        assert_eq!(
            decode_body(Some("zstd"), Bytes::from(bomb), MIB),
            Err(DecodeError::TooLarge { limit: MIB })
        );

        let bomb = brotli_compress(&vec![0u8; 8 * MIB]);
        assert_eq!(
            decode_body(Some("br"), Bytes::from(bomb), MIB),
            Err(DecodeError::TooLarge { limit: MIB })
        );

        // Exactly at the limit is fine; one byte over is not.
        let body = Bytes::from(gzip(&zeros));
        assert_eq!(
            decode_body(Some("gzip"), body.clone(), MIB).unwrap().len(),
            MIB
        );
        assert_eq!(
            decode_body(Some("gzip"), body, MIB - 1),
            Err(DecodeError::TooLarge { limit: MIB - 1 })
        );
    }

    #[test]
    fn read_limited_never_grows_past_the_limit() {
        let zeros = vec![0u8; 3 * MIB];
        let limit = MIB + 123;
        let mut charged = 0;
        let out = read_limited(&mut &zeros[..limit], Coding::Gzip, limit, 4096, &mut |n| {
            charged += n;
            true
        })
        .unwrap();
        assert_eq!(out.len(), limit);
        assert!(out.capacity() <= limit + 1);
        assert_eq!(
            charged,
            out.capacity(),
            "every allocation was asked for first"
        );
    }

    #[test]
    fn a_gzip_body_is_decoded_into_one_allocation_of_its_stated_size() {
        // Compressing like events do (a few times), not like a run of one byte.
        let json: Vec<u8> = (0u64..3000)
            .flat_map(|i| {
                format!(r#"{{"n":{}}},"#, i.wrapping_mul(2654435761) % 1_000_003).into_bytes()
            })
            .collect();
        let body = Bytes::from(gzip(&json));
        let mut allocations = Vec::new();
        let decoded = decode_body_within(Some("gzip"), body.clone(), MIB, &mut |n| {
            allocations.push(n);
            true
        })
        .unwrap();
        assert_eq!(decoded, json);
        assert_eq!(allocations, [json.len()]);
        // A trailer that lies costs a copy, not a wrong result; one that claims a huge size
        // allocates no more than the ratio allows.
        for stated in [1u32, u32::MAX] {
            let mut lying = body.to_vec();
            let at = lying.len() - 4;
            lying[at..].copy_from_slice(&stated.to_le_bytes());
            let mut charged = Vec::new();
            let r = decode_one(Coding::Gzip, &lying, MIB, &mut |n| {
                charged.push(n);
                true
            });
            assert!(charged[0] <= lying.len() * MAX_HINTED_RATIO, "{charged:?}");
            // flate2 checks the trailer: the lie itself is corrupt data.
            assert!(matches!(r, Err(DecodeError::Corrupt { .. })), "{r:?}");
        }
    }

    #[test]
    fn a_refused_allowance_stops_decoding() {
        let body = Bytes::from(gzip(&vec![b'{'; 4 * MIB]));
        let mut allowed = 0;
        let refused = decode_body_within(Some("gzip"), body.clone(), 8 * MIB, &mut |n| {
            allowed += n;
            allowed <= MIB
        });
        assert_eq!(refused, Err(DecodeError::OverBudget));
        assert!(allowed <= 2 * MIB + 64 * 1024, "stopped early: {allowed}");
        let decoded = decode_body_within(Some("gzip"), body, 8 * MIB, &mut |_| true).unwrap();
        assert_eq!(decoded.len(), 4 * MIB);
    }

    #[test]
    fn store_body_json_passes_through() {
        let body = Bytes::from_static(b"  \n{\"message\":\"x\"}");
        let out = decode_store_body(body.clone(), MIB).unwrap();
        assert_eq!(out.as_ptr(), body.as_ptr());
        assert_eq!(
            decode_store_body(body, 5),
            Err(DecodeError::TooLarge { limit: 5 })
        );
    }

    #[test]
    fn store_body_base64_and_zlib() {
        use base64::engine::general_purpose::STANDARD;
        let json = br#"{"message":"from raven","level":40}"#;

        let plain = STANDARD.encode(json);
        assert_eq!(
            decode_store_body(Bytes::from(plain), MIB).unwrap(),
            &json[..]
        );

        let zipped = STANDARD.encode(zlib(json));
        assert_eq!(
            decode_store_body(Bytes::from(zipped.clone()), MIB).unwrap(),
            &json[..]
        );

        // Line-wrapped and unpadded base64.
        let wrapped = format!("{}\n{}", &zipped[..10], zipped[10..].trim_end_matches('='));
        assert_eq!(
            decode_store_body(Bytes::from(wrapped), MIB).unwrap(),
            &json[..]
        );

        let raw = STANDARD.encode(raw_deflate(json));
        assert_eq!(decode_store_body(Bytes::from(raw), MIB).unwrap(), &json[..]);

        let big = STANDARD.encode(zlib(&vec![b' '; 2 * MIB]));
        assert_eq!(
            decode_store_body(Bytes::from(big), MIB),
            Err(DecodeError::TooLarge { limit: MIB })
        );
    }

    #[test]
    fn store_body_garbage_is_corrupt() {
        let err = decode_store_body(Bytes::from_static(b"not json, not base64!"), MIB).unwrap_err();
        assert!(matches!(&err, DecodeError::Corrupt { encoding, .. } if encoding == "base64"));
        // Valid base64 of neither JSON nor zlib.
        let err = decode_store_body(Bytes::from_static(b"aGVsbG8gd29ybGQ="), MIB).unwrap_err();
        assert!(matches!(&err, DecodeError::Corrupt { encoding, .. } if encoding == "deflate"));
    }
}
