//! What an ingest request carries, step by step: the facts known before the body
//! ([`RequestMeta`]; the body itself is `body.rs`) and the envelope it frames
//! ([`parse_envelope`]), a legacy `/store/` event becoming a one-item envelope as in Relay's
//! store endpoint (sentry-protocol.md 3, 3.1).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap};
use bytes::Bytes;

use crate::config::Limits;
use crate::protocol::auth::{self, Auth, AuthError};
use crate::protocol::envelope::{Envelope, EnvelopeHeader, Item, ItemHeader, ItemType};
use crate::AppState;

use super::decode;
use super::error::IngestError;
use super::heavy::Heavy;

/// How a request's body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BodyFormat {
    /// An envelope (sentry-protocol.md 4): `/envelope/`, and `/store/` with
    /// `Content-Type: application/x-sentry-envelope`.
    Envelope,
    /// One JSON event, possibly base64 and zlib (legacy `/store/`, section 3.1).
    Event,
}

impl BodyFormat {
    /// The format of a `/store/` request, which the content type decides.
    pub(super) fn of_store_request(headers: &HeaderMap) -> BodyFormat {
        let envelope = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-sentry-envelope"));
        if envelope {
            BodyFormat::Envelope
        } else {
            BodyFormat::Event
        }
    }
}

/// What a request carried, before the body is read.
pub(super) struct RequestMeta {
    /// The project id of the URL.
    pub project_id: i64,
    /// Credentials from the headers or the query; `None` when there were none.
    pub auth: Option<Auth>,
    /// The raw `Content-Encoding` header.
    pub content_encoding: Option<String>,
    /// The client's address (`X-Forwarded-For` when trusted), for `{{auto}}` user IPs.
    pub client_ip: Option<IpAddr>,
}

/// Reads the URL's project id, the credentials and the headers the body needs.
///
/// Errors: 400 for a non-numeric project id or an unsupported `sentry_version`, 401 for
/// malformed or conflicting credentials, 415 for a non-ASCII `Content-Encoding`.
pub(super) fn meta(
    app: &AppState,
    project_id: &str,
    req: &Request,
) -> Result<RequestMeta, IngestError> {
    let project_id: i64 = project_id
        .parse()
        .map_err(|_| IngestError::InvalidProjectId(project_id.to_owned()))?;
    let auth = auth::from_request_parts(req.headers(), req.uri().query()).map_err(|e| match e {
        AuthError::UnsupportedVersion(_) => IngestError::UnsupportedVersion(e),
        e => IngestError::InvalidAuth(e),
    })?;
    let content_encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| IngestError::EncodingNotAscii)
        })
        .transpose()?;
    Ok(RequestMeta {
        project_id,
        auth,
        content_encoding,
        client_ip: crate::http::client_ip(
            req.headers(),
            req.extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
            app.config.ingest.trust_forwarded_for,
        ),
    })
}

/// The declared `Content-Length`, if any (hyper holds the body to it).
pub(super) fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Largest envelope framed on the async worker that read it (events are ~10 KB; a few MiB
/// of attachments are better scanned elsewhere).
const INLINE_FRAMING: usize = 1024 * 1024;

/// Frames the decoded body as an envelope.
///
/// An [`BodyFormat::Event`] body (JSON, or base64 of JSON or of zlib'd JSON) becomes an
/// envelope with an empty header and one `event` item whose payload is the JSON, without a
/// copy when the body was plain JSON; the event's own `event_id` then names it.
///
/// A legacy body that is not plain JSON (base64, maybe of zlib) is decoded as a heavy step
/// ([`Heavy`]), as compressed bodies are, and so is the framing of an envelope over 1 MiB.
///
/// Errors: 400 for bad framing or a corrupt legacy encoding, 413 for more than
/// `limits.max_items` items or a legacy event over `limits.max_event_bytes`.
pub(super) async fn parse_envelope(
    heavy: &Heavy,
    body: Bytes,
    format: BodyFormat,
    limits: &Limits,
) -> Result<Envelope, IngestError> {
    match format {
        // Framing scans every byte; a body of many megabytes is scanned off the async workers.
        BodyFormat::Envelope if body.len() > INLINE_FRAMING => {
            let max_items = limits.max_items;
            Ok(heavy
                .run("framing", move || {
                    Envelope::parse_with_limits(body, max_items)
                })
                .await??)
        }
        BodyFormat::Envelope => Ok(Envelope::parse_with_limits(body, limits.max_items)?),
        BodyFormat::Event => {
            let limit = limits.max_event_bytes;
            let json = if decode::is_plain_json(&body) {
                decode::decode_store_body(body, limit)?
            } else {
                heavy
                    .run("decoding", move || decode::decode_store_body(body, limit))
                    .await??
            };
            Ok(Envelope {
                header: EnvelopeHeader::default(),
                items: vec![Item {
                    header: ItemHeader {
                        ty: ItemType::Event,
                        length: None,
                        content_type: None,
                        filename: None,
                        attachment_type: None,
                    },
                    payload: json,
                }],
            })
        }
    }
}
