//! Artifact bundles: the ZIP that `sentry-cli sourcemaps upload` builds (sentry-protocol-more.md
//! section 2; sentry-cli `src/utils/source_bundle.rs`).
//!
//! ```text
//! manifest.json   {"org", "release"?, "dist"?, "files": {
//!                    "files/_/_/app.min.js":     {"url": "~/app.min.js", "type": "minified_source",
//!                                                 "headers": {"debug-id": "<uuid>", "sourcemap": "app.min.js.map"}},
//!                    "files/_/_/app.min.js.map": {"url": "~/app.min.js.map", "type": "source_map",
//!                                                 "headers": {"debug-id": "<uuid>"}}}}
//! files/…         the files themselves
//! ```
//!
//! Reading is bounded: the archive's entry count, every entry's uncompressed bytes and their
//! sum are capped, and entries are inflated through a reader that stops at the cap whatever the
//! ZIP's headers claim, so a ZIP bomb costs at most the caps. A bundle is all or nothing: a
//! source map that does not parse fails the whole bundle, naming the file.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use serde::Deserialize;

use crate::store::{ArtifactKind, NewArtifactFile};

/// The caps of [`read_bundle`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest uncompressed file.
    pub max_file_bytes: usize,
    /// Largest sum of uncompressed files.
    pub max_unpacked_bytes: usize,
    /// Most entries in the archive.
    pub max_files: usize,
}

/// A bundle's contents.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The manifest's `release`, if any (the assemble request's `version` wins).
    pub release: Option<String>,
    /// The manifest's `dist`, if any.
    pub dist: Option<String>,
    /// The files Errata keeps: minified sources, source maps and sources.
    pub files: Vec<NewArtifactFile>,
}

/// Why a bundle was refused. Each message names what was wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    /// Not a readable ZIP archive.
    #[error("the artifact bundle is not a valid ZIP archive: {0}")]
    NotZip(String),
    /// No `manifest.json`.
    #[error("the artifact bundle has no manifest.json")]
    NoManifest,
    /// A manifest that is not the expected JSON.
    #[error("the artifact bundle's manifest.json is invalid: {0}")]
    BadManifest(String),
    /// More entries than allowed.
    #[error("the artifact bundle has {count} entries, more than the limit of {limit}")]
    TooManyFiles {
        /// Entries in the archive.
        count: usize,
        /// The cap.
        limit: usize,
    },
    /// One file inflates beyond the cap.
    #[error("{path} is larger than the limit of {limit} bytes when unpacked")]
    FileTooLarge {
        /// The entry.
        path: String,
        /// The cap.
        limit: usize,
    },
    /// All files together inflate beyond the cap.
    #[error("the artifact bundle unpacks to more than the limit of {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// The manifest lists a file the archive lacks, or one that cannot be inflated.
    #[error("{path} cannot be read from the artifact bundle: {reason}")]
    BadEntry {
        /// The entry.
        path: String,
        /// What failed.
        reason: String,
    },
    /// A source map that does not parse.
    #[error("{path} is not a valid source map: {reason}")]
    BadSourceMap {
        /// The entry.
        path: String,
        /// The parser's complaint.
        reason: String,
    },
}

#[derive(Debug, Deserialize)]
struct Manifest {
    #[serde(default)]
    release: Option<String>,
    #[serde(default)]
    dist: Option<String>,
    #[serde(default)]
    files: BTreeMap<String, ManifestFile>,
}

#[derive(Debug, Deserialize)]
struct ManifestFile {
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// Reads and checks a bundle. Errors: [`BundleError`], naming the file at fault.
pub fn read_bundle(zip: &[u8], limits: Limits) -> Result<Bundle, BundleError> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(zip)).map_err(|e| BundleError::NotZip(e.to_string()))?;
    if archive.len() > limits.max_files.saturating_add(1) {
        return Err(BundleError::TooManyFiles {
            count: archive.len(),
            limit: limits.max_files,
        });
    }
    let mut budget = limits.max_unpacked_bytes;
    let manifest = match archive.by_name("manifest.json") {
        Ok(entry) => read_capped(entry, "manifest.json", limits, &mut budget)?,
        Err(zip::result::ZipError::FileNotFound) => return Err(BundleError::NoManifest),
        Err(e) => return Err(BundleError::NotZip(e.to_string())),
    };
    let manifest: Manifest =
        serde_json::from_slice(&manifest).map_err(|e| BundleError::BadManifest(e.to_string()))?;
    let mut files = Vec::new();
    for (path, meta) in &manifest.files {
        let Some(kind) = meta.kind.as_deref().and_then(ArtifactKind::parse) else {
            continue;
        };
        let entry = archive.by_name(path).map_err(|e| BundleError::BadEntry {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let content = read_capped(entry, path, limits, &mut budget)?;
        if kind == ArtifactKind::SourceMap {
            check_source_map(&content).map_err(|reason| BundleError::BadSourceMap {
                path: path.clone(),
                reason,
            })?;
        }
        let header = |name: &str| {
            meta.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        files.push(NewArtifactFile {
            url: meta.url.clone().filter(|u| !u.is_empty()),
            kind,
            debug_id: header("debug-id").and_then(|d| normalize_debug_id(&d)),
            sourcemap: header("sourcemap").or_else(|| header("x-sourcemap")),
            content,
        });
    }
    Ok(Bundle {
        release: manifest.release.filter(|r| !r.is_empty()),
        dist: manifest.dist.filter(|d| !d.is_empty()),
        files,
    })
}

/// Inflates one entry, stopping one byte past the cap: the entry's declared size is not
/// trusted.
fn read_capped(
    entry: impl Read,
    path: &str,
    limits: Limits,
    budget: &mut usize,
) -> Result<Vec<u8>, BundleError> {
    let cap = limits.max_file_bytes.min(*budget);
    let mut out = Vec::new();
    entry
        .take(cap as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BundleError::BadEntry {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if out.len() > cap {
        return Err(if out.len() > limits.max_file_bytes {
            BundleError::FileTooLarge {
                path: path.to_owned(),
                limit: limits.max_file_bytes,
            }
        } else {
            BundleError::TooLarge {
                limit: limits.max_unpacked_bytes,
            }
        });
    }
    *budget -= out.len();
    Ok(out)
}

/// `Ok` when `content` is a source map (or index map) that the resolver can use.
pub fn check_source_map(content: &[u8]) -> Result<(), String> {
    match sourcemap::decode_slice(content) {
        Ok(sourcemap::DecodedMap::Regular(_)) => Ok(()),
        Ok(sourcemap::DecodedMap::Index(index)) => {
            index.flatten().map(|_| ()).map_err(|e| e.to_string())
        }
        Ok(sourcemap::DecodedMap::Hermes(_)) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// A debug ID as stored: lowercase hyphenated UUID; `None` for anything else.
pub fn normalize_debug_id(s: &str) -> Option<String> {
    uuid::Uuid::parse_str(s.trim())
        .ok()
        .map(|u| u.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const LIMITS: Limits = Limits {
        max_file_bytes: 1 << 20,
        max_unpacked_bytes: 4 << 20,
        max_files: 10,
    };

    pub(crate) fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    const MAP: &[u8] =
        br#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA","sourcesContent":["x"]}"#;

    fn manifest(kind: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"org": "o", "release": "r1", "files": {
            "files/_/_/app.min.js": {"url": "~/app.min.js", "type": "minified_source",
                "headers": {"debug-id": "8C4A6B0F-90C3-4D8B-9A1F-1B3C0F3E6C11", "Sourcemap": "app.min.js.map"}},
            "files/_/_/app.min.js.map": {"url": "~/app.min.js.map", "type": kind,
                "headers": {"debug-id": "8c4a6b0f-90c3-4d8b-9a1f-1b3c0f3e6c11"}},
        }}))
        .unwrap()
    }

    #[test]
    fn reads_files_and_headers() {
        let zip = zip_of(&[
            ("manifest.json", &manifest("source_map")),
            ("files/_/_/app.min.js", b"function a(){}"),
            ("files/_/_/app.min.js.map", MAP),
        ]);
        let b = read_bundle(&zip, LIMITS).unwrap();
        assert_eq!(b.release.as_deref(), Some("r1"));
        assert_eq!(b.files.len(), 2);
        let min = &b.files[0];
        assert_eq!(min.kind, ArtifactKind::MinifiedSource);
        assert_eq!(min.url.as_deref(), Some("~/app.min.js"));
        assert_eq!(
            min.debug_id.as_deref(),
            Some("8c4a6b0f-90c3-4d8b-9a1f-1b3c0f3e6c11")
        );
        assert_eq!(min.sourcemap.as_deref(), Some("app.min.js.map"));
        assert_eq!(b.files[1].content, MAP);
    }

    #[test]
    fn refuses_bad_input_with_the_reason() {
        assert!(matches!(
            read_bundle(b"not a zip", LIMITS),
            Err(BundleError::NotZip(_))
        ));
        let zip = zip_of(&[("x", b"y")]);
        assert_eq!(
            read_bundle(&zip, LIMITS).unwrap_err(),
            BundleError::NoManifest
        );
        let zip = zip_of(&[
            ("manifest.json", &manifest("source_map")),
            ("files/_/_/app.min.js", b"function a(){}"),
            ("files/_/_/app.min.js.map", b"<html>not json</html>"),
        ]);
        let err = read_bundle(&zip, LIMITS).unwrap_err();
        assert!(
            matches!(&err, BundleError::BadSourceMap { path, .. } if path == "files/_/_/app.min.js.map"),
            "{err}"
        );
        let zip = zip_of(&[("manifest.json", &manifest("source_map"))]);
        assert!(matches!(
            read_bundle(&zip, LIMITS),
            Err(BundleError::BadEntry { .. })
        ));
    }

    #[test]
    fn zip_bombs_stop_at_the_cap() {
        let zeros = vec![0u8; 3 << 20];
        let zip = zip_of(&[
            ("manifest.json", &manifest("source")),
            ("files/_/_/app.min.js", &zeros),
            ("files/_/_/app.min.js.map", b"x"),
        ]);
        assert!(zip.len() < 64 * 1024, "compresses well: {}", zip.len());
        let err = read_bundle(&zip, LIMITS).unwrap_err();
        assert_eq!(
            err,
            BundleError::FileTooLarge {
                path: "files/_/_/app.min.js".into(),
                limit: 1 << 20
            }
        );
        let small = Limits {
            max_file_bytes: 4 << 20,
            max_unpacked_bytes: 2 << 20,
            max_files: 10,
        };
        assert!(matches!(
            read_bundle(&zip, small),
            Err(BundleError::TooLarge { .. })
        ));
        let many: Vec<(String, Vec<u8>)> = (0..20).map(|i| (format!("f{i}"), vec![])).collect();
        let refs: Vec<(&str, &[u8])> = many
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        assert!(matches!(
            read_bundle(&zip_of(&refs), LIMITS),
            Err(BundleError::TooManyFiles { count: 20, .. })
        ));
    }

    #[test]
    fn debug_ids_are_normalized() {
        assert_eq!(
            normalize_debug_id("8C4A6B0F90C34D8B9A1F1B3C0F3E6C11").as_deref(),
            Some("8c4a6b0f-90c3-4d8b-9a1f-1b3c0f3e6c11")
        );
        assert_eq!(normalize_debug_id("nope"), None);
    }
}
