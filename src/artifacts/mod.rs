//! JavaScript done right: releases, source-map uploads from `sentry-cli`, and resolution of
//! minified frames at ingest (sentry-protocol-more.md section 2).
//!
//! * [`api`]: the Sentry-compatible HTTP API under `/api/0/` that `sentry-cli` calls: chunk
//!   upload options and chunks, artifact bundle assemble, legacy release files, releases,
//!   deploys, commits and repositories. Authenticated by a full API token, a session, or a
//!   token with the scope `project:releases` only.
//! * [`bundle`]: reading an artifact bundle (a ZIP with `manifest.json`) entry by entry under
//!   size caps, so a ZIP bomb stops at the cap, and checking that every source map parses.
//! * [`resolve`]: the ingest stage between normalization and grouping that rewrites each
//!   JavaScript frame to its original file, line, column, function and source context,
//!   keeping the minified frame beside it, or notes per frame why it could not.
//! * [`cache`]: parsed source maps kept in memory within a byte budget.
//! * [`urls`]: the `~/path` URL rules used to match frames to release files.
//!
//! Storage is `store::artifacts` and `store::releases`; retention calls
//! `Store::purge_artifacts`.

pub mod api;
pub mod bundle;
pub mod cache;
pub mod resolve;
pub mod urls;

use serde::Deserialize;

pub use cache::SourceMaps;

const MIB: usize = 1024 * 1024;

/// `[releases]`: uploads and the releases API.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReleasesConfig {
    /// `chunkSize` told to `sentry-cli`: bytes per upload chunk, a power of two (default
    /// 8 MiB); rounded down to one.
    pub chunk_bytes: usize,
    /// Largest chunk-upload request body (`maxRequestSize`), default 32 MiB.
    pub max_request_bytes: usize,
    /// Largest artifact bundle (`maxFileSize`, the ZIP), default 100 MiB.
    pub max_bundle_bytes: usize,
    /// Largest file inside a bundle, uncompressed, default 50 MiB: bigger source maps are
    /// refused.
    pub max_file_bytes: usize,
    /// Largest sum of a bundle's uncompressed files, default 400 MiB (ZIP bombs stop here).
    pub max_unpacked_bytes: usize,
    /// Most files in a bundle, default 10 000.
    pub max_files: usize,
    /// Memory for parsed source maps kept between events, default 128 MiB.
    pub cache_bytes: usize,
    /// Repository names `sentry-cli releases set-commits --commit REPO@SHA` may name
    /// (`GET /api/0/organizations/{org}/repos/` lists them); empty by default.
    pub repositories: Vec<String>,
}

impl Default for ReleasesConfig {
    fn default() -> Self {
        ReleasesConfig {
            chunk_bytes: 8 * MIB,
            max_request_bytes: 32 * MIB,
            max_bundle_bytes: 100 * MIB,
            max_file_bytes: 50 * MIB,
            max_unpacked_bytes: 400 * MIB,
            max_files: 10_000,
            cache_bytes: 128 * MIB,
            repositories: Vec::new(),
        }
    }
}

impl ReleasesConfig {
    /// `chunk_bytes` rounded down to a power of two (older CLIs need one), at least 64 KiB.
    pub fn chunk_size(&self) -> usize {
        let n = self.chunk_bytes.max(64 * 1024);
        1 << (usize::BITS - 1 - n.leading_zeros())
    }

    /// The caps of reading a bundle.
    pub fn bundle_limits(&self) -> bundle::Limits {
        bundle::Limits {
            max_file_bytes: self.max_file_bytes,
            max_unpacked_bytes: self.max_unpacked_bytes,
            max_files: self.max_files,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_is_a_power_of_two() {
        let mut c = ReleasesConfig::default();
        assert_eq!(c.chunk_size(), 8 * MIB);
        c.chunk_bytes = 5 * MIB;
        assert_eq!(c.chunk_size(), 4 * MIB);
        c.chunk_bytes = 1;
        assert_eq!(c.chunk_size(), 64 * 1024);
    }
}
