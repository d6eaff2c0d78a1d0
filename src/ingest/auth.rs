//! Who may send to a project (sentry-protocol.md 2.1): the request's credentials, checked before
//! the body is read, and the envelope header's `dsn`, which tunnelled SDKs send instead of
//! credentials (checked from the body's first line, before the rest) and which must otherwise
//! agree with them.

use crate::protocol::dsn::Dsn;
use crate::protocol::envelope::{Envelope, EnvelopeHeader};
use crate::AppState;

use super::error::IngestError;
use super::request::{BodyFormat, RequestMeta};

/// What [`check_request`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Credentials {
    /// The request's key may send to the project.
    Checked,
    /// No credentials in the headers or the query of an uncompressed envelope: the envelope
    /// header's `dsn` is the only possible one ([`check_header_line`] before the rest of the
    /// body).
    InEnvelopeHeader,
}

/// Checks the request's credentials before the body is read, so that a bad or missing key
/// costs no body and no decompression.
///
/// A request without credentials passes only when its body is an uncompressed envelope,
/// whose header may carry a `dsn` (sentry-protocol.md 2.1, tunnels). Errors: 401 without
/// credentials for a legacy event or a compressed envelope (whose header could be read only
/// by decompressing what anybody sent), 403 for a key that may not send to this project, 503
/// when the key lookup cannot reach the database.
pub(super) async fn check_request(
    app: &AppState,
    meta: &RequestMeta,
    format: BodyFormat,
    encoded: bool,
) -> Result<Credentials, IngestError> {
    match (&meta.auth, format) {
        (Some(auth), _) => {
            authorize(app, &auth.public_key, meta.project_id).await?;
            Ok(Credentials::Checked)
        }
        (None, BodyFormat::Envelope) if !encoded => Ok(Credentials::InEnvelopeHeader),
        (None, BodyFormat::Envelope) => Err(IngestError::MissingAuth(
            "X-Sentry-Auth or ?sentry_key= (a dsn in the envelope header is read only from \
             uncompressed envelopes)",
        )),
        (None, BodyFormat::Event) => Err(IngestError::MissingAuth("X-Sentry-Auth or ?sentry_key=")),
    }
}

/// Checks the envelope header's `dsn` from the body's first line, before the rest of the body
/// is read, for a request whose only credential it can be. Errors as [`check_envelope`]
/// (401 when the line is not an envelope header with a `dsn`).
pub(super) async fn check_header_line(
    app: &AppState,
    meta: &RequestMeta,
    line: bytes::Bytes,
) -> Result<(), IngestError> {
    // The header alone parses as an envelope without items.
    let header = Envelope::parse_with_limits(line, 0)
        .map(|envelope| envelope.header)
        .map_err(|_| {
            IngestError::MissingAuth(
                "X-Sentry-Auth, ?sentry_key= or a dsn in a valid envelope header",
            )
        })?;
    check_envelope(app, meta, &header).await
}

/// Checks the envelope header's `dsn`: it must name the request's key and project when the
/// request had credentials, and it is the credential when the request had none.
///
/// Errors: 400 for a `dsn` that does not parse or disagrees with the request (401 for one that
/// does not parse when it is the only credential), 401 when there is no credential at all,
/// 403 as for [`check_request`].
pub(super) async fn check_envelope(
    app: &AppState,
    meta: &RequestMeta,
    header: &EnvelopeHeader,
) -> Result<(), IngestError> {
    let Some(dsn) = &header.dsn else {
        return match meta.auth {
            Some(_) => Ok(()),
            None => Err(IngestError::MissingAuth(
                "X-Sentry-Auth, ?sentry_key= or a dsn in the envelope header",
            )),
        };
    };
    let only_credential = meta.auth.is_none();
    let dsn: Dsn = dsn
        .parse()
        .map_err(|source| IngestError::InvalidHeaderDsn {
            source,
            only_credential,
        })?;
    match &meta.auth {
        Some(auth) if dsn.public_key != auth.public_key || dsn.project_id != meta.project_id => {
            Err(IngestError::DsnMismatch)
        }
        Some(_) => Ok(()),
        None if dsn.project_id != meta.project_id => Err(IngestError::DsnOtherProject),
        None => authorize(app, &dsn.public_key, meta.project_id).await,
    }
}

/// Checks that `key` is an active key of an active `project_id`, from the key cache.
pub(super) async fn authorize(
    app: &AppState,
    key: &str,
    project_id: i64,
) -> Result<(), IngestError> {
    match app.keys.get(&app.store, key).await? {
        None => Err(IngestError::UnknownKey),
        Some(i) if i.project_id != project_id => Err(IngestError::KeyOfAnotherProject),
        Some(i) if !i.key_active => Err(IngestError::KeyDisabled),
        Some(i) if !i.project_active => Err(IngestError::ProjectDisabled),
        Some(_) => Ok(()),
    }
}
