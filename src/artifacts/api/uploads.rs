//! Uploads: chunk upload options and chunks, artifact bundle assemble, legacy release files
//! (sentry-cli `src/utils/file_upload.rs`, `src/api/mod.rs`; bugsink `files/views.py`).
//!
//! Since sentry-cli 2.x with `artifact_bundles` accepted, the CLI asks assemble first with
//! every chunk's checksum, uploads exactly the chunks named in `missingChunks`, then asks
//! assemble again until the state is `ok` or `error`. So assemble answers `not_found` with
//! the chunks it lacks, and assembles synchronously once it has them all.

use std::io::Read;

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use super::{api_time, projects_named, Uploader};
use crate::artifacts::bundle::{check_source_map, normalize_debug_id, read_bundle};
use crate::error::ApiError;
use crate::store::{ArtifactKind, ArtifactRef, NewArtifactFile, NewBundle};
use crate::AppState;

/// `GET /api/0/organizations/{org}/chunk-upload/`: how sentry-cli should upload.
pub async fn chunk_options(
    State(app): State<AppState>,
    _who: Uploader,
    Path(org): Path<String>,
) -> Json<Value> {
    let c = &app.config.releases;
    let chunk = c.chunk_size();
    Json(json!({
        "url": format!("{}/api/0/organizations/{org}/chunk-upload/", app.config.base_url()),
        "chunkSize": chunk,
        "chunksPerRequest": chunks_per_request(c),
        "maxRequestSize": c.max_request_bytes,
        "maxFileSize": c.max_bundle_bytes,
        "concurrency": 4,
        "hashAlgorithm": "sha1",
        "compression": ["gzip"],
        // `release_files`: without it sentry-cli insists on a release; `artifact_bundles_v2`
        // makes 2.x ask assemble for missing chunks first, as 3.x always does.
        "accept": ["release_files", "sources", "artifact_bundles", "artifact_bundles_v2"],
    }))
}

/// Most chunks in one upload request (`chunksPerRequest`): with gzip, parts inflate up to
/// `chunkSize` each, so their number bounds the request's memory.
fn chunks_per_request(c: &crate::artifacts::ReleasesConfig) -> usize {
    (c.max_request_bytes / c.chunk_size()).clamp(1, 64)
}

/// `POST /api/0/organizations/{org}/chunk-upload/`: multipart parts `file` (raw) or
/// `file_gzip`, each named by the SHA-1 of its (uncompressed) content. All parts are checked
/// before any is stored; a wrong checksum is a 400 naming the part.
pub async fn upload_chunks(
    State(app): State<AppState>,
    _who: Uploader,
    mut form: Multipart,
) -> Result<StatusCode, ApiError> {
    let max = app.config.releases.chunk_size();
    let mut chunks: Vec<(String, Vec<u8>)> = Vec::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(format!("invalid multipart body: {e}")))?
    {
        let gzip = match field.name() {
            Some("file") => false,
            Some("file_gzip") => true,
            _ => continue,
        };
        if chunks.len() >= chunks_per_request(&app.config.releases) {
            return Err(ApiError::too_large(format!(
                "more than chunksPerRequest ({}) chunks in one request",
                chunks_per_request(&app.config.releases)
            )));
        }
        let name = field.file_name().unwrap_or_default().to_ascii_lowercase();
        if !is_sha1(&name) {
            return Err(ApiError::bad_request(format!(
                "chunk {name:?}: a chunk's file name must be the SHA-1 of its content"
            )));
        }
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::bad_request(format!("chunk {name}: {e}")))?;
        let data = if gzip {
            gunzip(&bytes, max, &name)?
        } else {
            bytes.to_vec()
        };
        if data.len() > max {
            return Err(ApiError::too_large(format!(
                "chunk {name} has {} bytes, more than chunkSize {max}",
                data.len()
            )));
        }
        let actual = sha1_hex(&data);
        if actual != name {
            return Err(ApiError::bad_request(format!(
                "chunk {name}: checksum mismatch, the content's SHA-1 is {actual}"
            )));
        }
        chunks.push((name, data));
    }
    app.store.store_chunks(&chunks).await?;
    Ok(StatusCode::OK)
}

/// Inflates a `file_gzip` part, at most `max` bytes (one more is an error).
fn gunzip(bytes: &[u8], max: usize, name: &str) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::bad_request(format!("chunk {name}: invalid gzip: {e}")))?;
    Ok(out)
}

fn is_sha1(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn sha1_hex(data: &[u8]) -> String {
    hex::encode(Sha1::digest(data))
}

/// Body of an assemble request.
#[derive(Debug, Deserialize)]
pub struct AssembleRequest {
    checksum: String,
    #[serde(default)]
    chunks: Vec<String>,
    #[serde(default)]
    projects: Vec<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    dist: Option<String>,
}

/// `POST /api/0/organizations/{org}/artifactbundle/assemble/`.
pub async fn assemble_bundle(
    State(app): State<AppState>,
    who: Uploader,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: AssembleRequest = parse_json(&body)?;
    assemble(&app, &who, req).await
}

/// `POST /api/0/organizations/{org}/releases/{version}/assemble/` (sentry-cli 2.x without
/// artifact bundles): the release's bundle, for every project that has the release (of
/// those the caller sees).
pub async fn assemble_release_bundle(
    State(app): State<AppState>,
    who: Uploader,
    Path((_org, version)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let mut req: AssembleRequest = parse_json(&body)?;
    if req.projects.is_empty() {
        let releases = app.store.releases_named(&version).await?;
        for r in releases.iter().filter(|r| who.sees(r.project_id)) {
            req.projects.push(r.project_id.to_string());
        }
        if req.projects.is_empty() {
            return Err(ApiError::not_found(format!(
                "release {version:?} does not exist"
            )));
        }
    }
    req.version = Some(version);
    assemble(&app, &who, req).await
}

/// A JSON body, or a 400 saying what is wrong with it.
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// The assemble state machine: `ok` when stored, `not_found` with the missing chunks,
/// `error` with the reason for a bundle that cannot be used (nothing is stored then).
async fn assemble(
    app: &AppState,
    who: &Uploader,
    req: AssembleRequest,
) -> Result<Json<Value>, ApiError> {
    let checksum = req.checksum.to_ascii_lowercase();
    let chunks: Vec<String> = req.chunks.iter().map(|c| c.to_ascii_lowercase()).collect();
    if let Some(bad) = std::iter::once(&checksum)
        .chain(&chunks)
        .find(|c| !is_sha1(c))
    {
        return Err(ApiError::bad_request(format!(
            "{bad:?} is not a SHA-1 checksum (40 hex digits)"
        )));
    }
    let projects = projects_named(app, who, &req.projects).await?;
    let ids: Vec<i64> = projects.iter().map(|p| p.id).collect();
    let state = |state: &str, missing: &[String], detail: Option<String>| {
        Json(json!({"state": state, "missingChunks": missing, "detail": detail}))
    };
    if app.store.bundle_stored(&ids, &checksum).await? {
        return Ok(state("ok", &[], None));
    }
    if chunks.is_empty() {
        return Ok(state(
            "error",
            &[],
            Some("the request names no chunks".into()),
        ));
    }
    // Every stored chunk is at most chunkSize: the count bounds the assembled file's memory
    // before any chunk is read (a list may name one chunk many times).
    let limit = app.config.releases.max_bundle_bytes;
    if chunks.len() > limit / app.config.releases.chunk_size() + 1 {
        return Ok(state(
            "error",
            &[],
            Some(format!(
                "{} chunks make a file larger than maxFileSize {limit}",
                chunks.len()
            )),
        ));
    }
    let missing = app.store.missing_chunks(&chunks).await?;
    if !missing.is_empty() {
        return Ok(state("not_found", &missing, None));
    }
    let parts = match app.store.chunk_data(&chunks).await {
        Ok(parts) => parts,
        // Purged between the two reads: ask for them again.
        Err(crate::store::StoreError::NotFound) => {
            return Ok(state("not_found", &chunks, None));
        }
        Err(e) => return Err(e.into()),
    };
    let size: usize = parts.iter().map(Vec::len).sum();
    if size > limit {
        return Ok(state(
            "error",
            &[],
            Some(format!(
                "the file has {size} bytes, more than maxFileSize {limit}"
            )),
        ));
    }
    let data = parts.concat();
    let actual = sha1_hex(&data);
    if actual != checksum {
        return Ok(state(
            "error",
            &[],
            Some(format!(
                "the chunks do not add up to the file: their SHA-1 is {actual}, not {checksum}"
            )),
        ));
    }
    let limits = app.config.releases.bundle_limits();
    let bundle = match tokio::task::spawn_blocking(move || read_bundle(&data, limits)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return Ok(state("error", &[], Some(e.to_string()))),
        Err(e) => return Err(ApiError::internal(e)),
    };
    let release = req.version.filter(|v| !v.is_empty()).or(bundle.release);
    let dist = req.dist.filter(|d| !d.is_empty()).or(bundle.dist);
    app.store
        .insert_bundle(&NewBundle {
            project_ids: &ids,
            checksum: &checksum,
            release: release.as_deref(),
            dist: dist.as_deref(),
            size: i64::try_from(size).unwrap_or(i64::MAX),
            files: &bundle.files,
            chunks: &chunks,
        })
        .await?;
    app.items.sourcemaps.uploaded();
    tracing::info!(
        checksum = %checksum,
        files = bundle.files.len(),
        release = release.as_deref().unwrap_or(""),
        "artifact bundle stored"
    );
    Ok(state("ok", &[], None))
}

/// A legacy release file as the API lists it.
fn file_json(f: &ArtifactRef) -> Value {
    let mut headers = serde_json::Map::new();
    if let Some(s) = &f.sourcemap {
        headers.insert("Sourcemap".into(), Value::String(s.clone()));
    }
    if let Some(d) = &f.debug_id {
        headers.insert("debug-id".into(), Value::String(d.clone()));
    }
    json!({
        "id": f.file_id.to_string(),
        "name": f.url,
        "dist": f.dist,
        "headers": headers,
        "size": f.size,
        "sha1": Value::Null,
        "dateCreated": api_time(f.created_ms),
    })
}

/// `GET /api/0/projects/{org}/{project}/releases/{version}/files/`: the release's files.
pub async fn list_files(
    State(app): State<AppState>,
    who: Uploader,
    Path((_org, project, version)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let project = who.project(&app, &project).await?;
    let files = app
        .store
        .release_artifacts(project.id, Some(&version))
        .await?;
    Ok(Json(Value::Array(files.iter().map(file_json).collect())))
}

/// `POST /api/0/projects/{org}/{project}/releases/{version}/files/`: one legacy release file
/// (multipart `file`, `name` = its URL such as `~/app.min.js`, `dist`, repeated `header` =
/// `Name:Value`). The release must exist; a file of the same name and dist is a 409.
pub async fn upload_file(
    State(app): State<AppState>,
    who: Uploader,
    Path((_org, project, version)): Path<(String, String, String)>,
    mut form: Multipart,
) -> Result<Response, ApiError> {
    let project = who.project(&app, &project).await?;
    app.store
        .release(project.id, &version)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => ApiError::not_found(format!(
                "release {version:?} does not exist: create it first (sentry-cli releases new)"
            )),
            other => other.into(),
        })?;
    let (mut content, mut file_name, mut name, mut dist) = (None, None, None, None);
    let mut headers: Vec<(String, String)> = Vec::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(format!("invalid multipart body: {e}")))?
    {
        let key = field.name().unwrap_or_default().to_owned();
        if key == "file" {
            file_name = field.file_name().map(str::to_owned);
        }
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::bad_request(format!("field {key}: {e}")))?;
        let text = || String::from_utf8_lossy(&bytes).trim().to_owned();
        match key.as_str() {
            "file" => content = Some(bytes.to_vec()),
            "name" => name = Some(text()),
            "dist" => dist = Some(text()).filter(|d| !d.is_empty()),
            "header" => {
                if let Some((k, v)) = text().split_once(':') {
                    headers.push((k.trim().to_owned(), v.trim().to_owned()));
                }
            }
            _ => {}
        }
    }
    let content = content.ok_or_else(|| ApiError::bad_request("the form has no file part"))?;
    let name = name
        .or(file_name)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("name: give the file's URL, e.g. ~/app.min.js"))?;
    let header = |wanted: &[&str]| {
        headers
            .iter()
            .find(|(k, _)| wanted.iter().any(|w| k.eq_ignore_ascii_case(w)))
            .map(|(_, v)| v.clone())
    };
    let kind = if name.ends_with(".map") || sourcemap::is_sourcemap_slice(&content) {
        check_source_map(&content)
            .map_err(|e| ApiError::bad_request(format!("{name} is not a valid source map: {e}")))?;
        ArtifactKind::SourceMap
    } else if [".js", ".mjs", ".cjs"].iter().any(|s| name.ends_with(s)) {
        ArtifactKind::MinifiedSource
    } else {
        ArtifactKind::Source
    };
    let existing = app
        .store
        .artifacts_by_url(
            project.id,
            &version,
            dist.as_deref(),
            std::slice::from_ref(&name),
        )
        .await?;
    if !existing.is_empty() {
        return Err(ApiError::with_status(
            StatusCode::CONFLICT,
            format!("a file named {name} already exists in release {version}"),
        ));
    }
    let mut key = Sha1::new();
    for part in [
        name.as_bytes(),
        b"\0",
        dist.as_deref().unwrap_or("").as_bytes(),
        b"\0",
        &content,
    ] {
        key.update(part);
    }
    let checksum = hex::encode(key.finalize());
    let file = NewArtifactFile {
        url: Some(name),
        kind,
        debug_id: header(&["debug-id"]).and_then(|d| normalize_debug_id(&d)),
        sourcemap: header(&["sourcemap", "x-sourcemap"]),
        content,
    };
    let size = i64::try_from(file.content.len()).unwrap_or(i64::MAX);
    app.store
        .insert_bundle(&NewBundle {
            project_ids: &[project.id],
            checksum: &checksum,
            release: Some(&version),
            dist: dist.as_deref(),
            size,
            files: std::slice::from_ref(&file),
            chunks: &[],
        })
        .await?;
    app.items.sourcemaps.uploaded();
    let stored = app
        .store
        .artifacts_by_url(
            project.id,
            &version,
            dist.as_deref(),
            &[file.url.clone().unwrap_or_default()],
        )
        .await?;
    let body = stored.first().map(file_json).unwrap_or(Value::Null);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `DELETE /api/0/projects/{org}/{project}/releases/{version}/files/{id}/`.
pub async fn delete_file(
    State(app): State<AppState>,
    who: Uploader,
    Path((_org, project, _version, file_id)): Path<(String, String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let project = who.project(&app, &project).await?;
    let id: i64 = file_id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{file_id:?} is not a file id")))?;
    app.store.delete_artifact(project.id, id).await?;
    app.items.sourcemaps.uploaded();
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert!(is_sha1("a9993e364706816aba3e25717850c26c9cd0d89d"));
        assert!(!is_sha1("a9993e"));
    }

    #[test]
    fn gunzip_is_capped() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&[0u8; 10_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz, 100_000, "x").unwrap().len(), 10_000);
        assert_eq!(gunzip(&gz, 100, "x").unwrap().len(), 101);
        assert!(gunzip(b"nope", 100, "x").is_err());
    }
}
