//! Source-map artifacts (`upload_chunks`, `artifact_bundles`, `artifact_files`): the chunks
//! of a `sentry-cli` upload until they are assembled, the bundles assembled from them (and
//! legacy release-file uploads, stored as one-file bundles), and the lookups that resolution
//! at ingest makes (by debug ID, by release and URL).
//!
//! File contents are stored zstd-compressed; `size` is always the uncompressed size.
//! Retention calls [`Store::purge_artifacts`].

use super::db::{placeholders, Arg, Executor, IdRow};
use super::{now_ms, Store, StoreError};

/// What a file of a bundle is (the manifest's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    /// Generated JavaScript (`app.min.js`).
    MinifiedSource,
    /// Its source map (`app.min.js.map`).
    SourceMap,
    /// An original source file.
    Source,
}

impl ArtifactKind {
    /// The manifest's and the table's name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::MinifiedSource => "minified_source",
            ArtifactKind::SourceMap => "source_map",
            ArtifactKind::Source => "source",
        }
    }

    /// The kind named `s`, `None` for kinds Errata does not keep (`indexed_ram_bundle`, …).
    pub fn parse(s: &str) -> Option<ArtifactKind> {
        [Self::MinifiedSource, Self::SourceMap, Self::Source]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A file to store with a new bundle.
#[derive(Debug, Clone)]
pub struct NewArtifactFile {
    /// `~/app.min.js`-style URL, if the manifest gave one.
    pub url: Option<String>,
    /// What the file is.
    pub kind: ArtifactKind,
    /// Lowercase hyphenated debug ID, if any.
    pub debug_id: Option<String>,
    /// The minified file's `Sourcemap` header: its map's URL, maybe relative.
    pub sourcemap: Option<String>,
    /// The uncompressed content.
    pub content: Vec<u8>,
}

/// A bundle to store for each of `project_ids`.
#[derive(Debug, Clone)]
pub struct NewBundle<'a> {
    /// Projects the bundle belongs to (a copy each: debug IDs are scoped per project).
    pub project_ids: &'a [i64],
    /// SHA-1 of the uploaded ZIP (40 lowercase hex).
    pub checksum: &'a str,
    /// The release the files belong to, for lookups by URL.
    pub release: Option<&'a str>,
    /// The release's distribution.
    pub dist: Option<&'a str>,
    /// Bytes of the upload.
    pub size: i64,
    /// Its files.
    pub files: &'a [NewArtifactFile],
    /// Chunks the bundle was assembled from, deleted in the same transaction.
    pub chunks: &'a [String],
}

/// A stored file, without its content.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArtifactRef {
    /// Row id, the key of [`Store::artifact_content`].
    pub file_id: i64,
    /// The bundle it came in.
    pub bundle_id: i64,
    /// `~/…` URL, if any.
    pub url: Option<String>,
    /// `minified_source`, `source_map` or `source`.
    pub kind: String,
    /// Debug ID, if any.
    pub debug_id: Option<String>,
    /// The `Sourcemap` header of a minified file.
    pub sourcemap: Option<String>,
    /// Release, if the bundle had one.
    pub release: Option<String>,
    /// Distribution, if any.
    pub dist: Option<String>,
    /// Uncompressed bytes.
    pub size: i64,
    /// When it was uploaded, epoch ms.
    pub created_ms: i64,
}

row! {
    struct ArtifactRow {
        file_id: i64,
        bundle_id: i64,
        url: Option<String>,
        kind: String,
        debug_id: Option<String>,
        sourcemap: Option<String>,
        release: Option<String>,
        dist: Option<String>,
        size: i64,
        created_ms: i64,
    }
}

impl From<ArtifactRow> for ArtifactRef {
    fn from(r: ArtifactRow) -> Self {
        ArtifactRef {
            file_id: r.file_id,
            bundle_id: r.bundle_id,
            url: r.url,
            kind: r.kind,
            debug_id: r.debug_id,
            sourcemap: r.sourcemap,
            release: r.release,
            dist: r.dist,
            size: r.size,
            created_ms: r.created_ms,
        }
    }
}

const ARTIFACT_COLUMNS: &str = "f.file_id, f.bundle_id, f.url, f.kind, f.debug_id, f.sourcemap, \
    f.release, f.dist, f.size, b.created_ms";

row! {
    struct ChecksumRow {
        checksum: String,
    }
}

row! {
    struct ChunkRow {
        checksum: String,
        data: Vec<u8>,
    }
}

row! {
    struct ContentRow {
        size: i64,
        content: Vec<u8>,
    }
}

/// zstd level of stored files: fast, and maps compress well at any level.
const ZSTD_LEVEL: i32 = 3;

impl Store {
    /// Stores upload chunks by their SHA-1 (already verified); a chunk already stored is kept.
    pub async fn store_chunks(&self, chunks: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin_write().await?;
        for (checksum, data) in chunks {
            let size = i64::try_from(data.len()).unwrap_or(i64::MAX);
            tx.execute(
                "insert into upload_chunks (checksum, size, data, created_ms) \
                 values ($1, $2, $3, $4) on conflict (checksum) do nothing",
                vec![
                    checksum.as_str().into(),
                    size.into(),
                    Arg::Bytes(data),
                    now.into(),
                ],
            )
            .await?;
        }
        tx.commit().await
    }

    /// The checksums of `wanted` that no stored chunk has, in the given order.
    pub async fn missing_chunks(&self, wanted: &[String]) -> Result<Vec<String>, StoreError> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "select checksum from upload_chunks where checksum in ({})",
            placeholders(1, wanted.len())
        );
        let args = wanted.iter().map(|c| c.as_str().into()).collect();
        let have: Vec<ChecksumRow> = self.db().fetch_all(&sql, args).await?;
        let have: std::collections::HashSet<&str> =
            have.iter().map(|r| r.checksum.as_str()).collect();
        Ok(wanted
            .iter()
            .filter(|c| !have.contains(c.as_str()))
            .cloned()
            .collect())
    }

    /// The chunks' data in the order of `checksums` (which may repeat); [`StoreError::NotFound`]
    /// when one is missing.
    pub async fn chunk_data(&self, checksums: &[String]) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut unique: Vec<&str> = checksums.iter().map(String::as_str).collect();
        unique.sort_unstable();
        unique.dedup();
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "select checksum, data from upload_chunks where checksum in ({})",
            placeholders(1, unique.len())
        );
        let args = unique.iter().map(|&c| c.into()).collect();
        let rows: Vec<ChunkRow> = self.db().fetch_all(&sql, args).await?;
        let by_sum: std::collections::HashMap<&str, &Vec<u8>> = rows
            .iter()
            .map(|r| (r.checksum.as_str(), &r.data))
            .collect();
        checksums
            .iter()
            .map(|c| {
                by_sum
                    .get(c.as_str())
                    .map(|d| (*d).clone())
                    .ok_or(StoreError::NotFound)
            })
            .collect()
    }

    /// Whether every one of `project_ids` already has the bundle with this checksum.
    pub async fn bundle_stored(
        &self,
        project_ids: &[i64],
        checksum: &str,
    ) -> Result<bool, StoreError> {
        if project_ids.is_empty() {
            return Ok(false);
        }
        let sql = format!(
            "select count(*) as id from artifact_bundles where checksum = $1 \
             and project_id in ({})",
            placeholders(2, project_ids.len())
        );
        let mut args: Vec<Arg<'_>> = vec![checksum.into()];
        args.extend(project_ids.iter().map(|&p| Arg::from(p)));
        let row: IdRow = self.db().fetch_one(&sql, args).await?;
        Ok(usize::try_from(row.id).unwrap_or(0) >= project_ids.len())
    }

    /// Stores a bundle and its files for each project (a project that has this checksum
    /// already keeps its copy), deletes the chunks it was made of, all in one transaction.
    /// Returns the number of projects that got a new copy.
    pub async fn insert_bundle(&self, bundle: &NewBundle<'_>) -> Result<usize, StoreError> {
        let compressed = bundle
            .files
            .iter()
            .map(|f| zstd::bulk::compress(&f.content, ZSTD_LEVEL))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Other(format!("compressing an artifact: {e}")))?;
        let now = now_ms();
        let file_count = i64::try_from(bundle.files.len()).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin_write().await?;
        let mut added = 0;
        for &project_id in bundle.project_ids {
            let id: Option<IdRow> = tx
                .fetch_optional(
                    "insert into artifact_bundles \
                     (project_id, checksum, release, dist, size, file_count, created_ms) \
                     values ($1, $2, $3, $4, $5, $6, $7) \
                     on conflict (project_id, checksum) do nothing returning bundle_id as id",
                    vec![
                        project_id.into(),
                        bundle.checksum.into(),
                        bundle.release.into(),
                        bundle.dist.into(),
                        bundle.size.into(),
                        file_count.into(),
                        now.into(),
                    ],
                )
                .await?;
            let Some(IdRow { id: bundle_id }) = id else {
                continue;
            };
            added += 1;
            for (file, data) in bundle.files.iter().zip(&compressed) {
                let size = i64::try_from(file.content.len()).unwrap_or(i64::MAX);
                tx.execute(
                    "insert into artifact_files (bundle_id, project_id, url, kind, debug_id, \
                     sourcemap, release, dist, size, content) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    vec![
                        bundle_id.into(),
                        project_id.into(),
                        file.url.as_deref().into(),
                        file.kind.as_str().into(),
                        file.debug_id.as_deref().into(),
                        file.sourcemap.as_deref().into(),
                        bundle.release.into(),
                        bundle.dist.into(),
                        size.into(),
                        Arg::Bytes(data),
                    ],
                )
                .await?;
            }
        }
        if !bundle.chunks.is_empty() {
            let sql = format!(
                "delete from upload_chunks where checksum in ({})",
                placeholders(1, bundle.chunks.len())
            );
            let args = bundle.chunks.iter().map(|c| c.as_str().into()).collect();
            tx.execute(&sql, args).await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    /// The newest file of `kind` with this debug ID in the project.
    pub async fn artifact_by_debug_id(
        &self,
        project_id: i64,
        debug_id: &str,
        kind: ArtifactKind,
    ) -> Result<Option<ArtifactRef>, StoreError> {
        let sql = format!(
            "select {ARTIFACT_COLUMNS} from artifact_files f \
             join artifact_bundles b on b.bundle_id = f.bundle_id \
             where f.project_id = $1 and f.debug_id = $2 and f.kind = $3 \
             order by f.file_id desc limit 1"
        );
        let row: Option<ArtifactRow> = self
            .db()
            .fetch_optional(
                &sql,
                vec![project_id.into(), debug_id.into(), kind.as_str().into()],
            )
            .await?;
        Ok(row.map(ArtifactRef::from))
    }

    /// The files of a release (and `dist`, `None` matching files without one) whose URL is
    /// one of `urls`, newest first.
    pub async fn artifacts_by_url(
        &self,
        project_id: i64,
        release: &str,
        dist: Option<&str>,
        urls: &[String],
    ) -> Result<Vec<ArtifactRef>, StoreError> {
        if urls.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "select {ARTIFACT_COLUMNS} from artifact_files f \
             join artifact_bundles b on b.bundle_id = f.bundle_id \
             where f.project_id = $1 and f.release = $2 and coalesce(f.dist, '') = $3 \
             and f.url in ({}) order by f.file_id desc",
            placeholders(4, urls.len())
        );
        let mut args: Vec<Arg<'_>> =
            vec![project_id.into(), release.into(), dist.unwrap_or("").into()];
        args.extend(urls.iter().map(|u| Arg::from(u.as_str())));
        let rows: Vec<ArtifactRow> = self.db().fetch_all(&sql, args).await?;
        Ok(rows.into_iter().map(ArtifactRef::from).collect())
    }

    /// A file's uncompressed content. Errors: [`StoreError::NotFound`] for an unknown id,
    /// [`StoreError::Other`] for content that does not decompress.
    pub async fn artifact_content(&self, file_id: i64) -> Result<Vec<u8>, StoreError> {
        let row: ContentRow = self
            .db()
            .fetch_one(
                "select size, content from artifact_files where file_id = $1",
                vec![file_id.into()],
            )
            .await?;
        let capacity = usize::try_from(row.size).unwrap_or(0);
        zstd::bulk::decompress(&row.content, capacity)
            .map_err(|e| StoreError::Other(format!("artifact {file_id} is corrupt: {e}")))
    }

    /// The files of a project's release (`None`: bundles without a release), oldest bundle
    /// first, for the Releases page and the release-files API.
    pub async fn release_artifacts(
        &self,
        project_id: i64,
        release: Option<&str>,
    ) -> Result<Vec<ArtifactRef>, StoreError> {
        let (filter, args): (&str, Vec<Arg<'_>>) = match release {
            Some(r) => ("f.release = $2", vec![project_id.into(), r.into()]),
            None => ("f.release is null", vec![project_id.into()]),
        };
        let sql = format!(
            "select {ARTIFACT_COLUMNS} from artifact_files f \
             join artifact_bundles b on b.bundle_id = f.bundle_id \
             where f.project_id = $1 and {filter} order by f.file_id limit 1000"
        );
        let rows: Vec<ArtifactRow> = self.db().fetch_all(&sql, args).await?;
        Ok(rows.into_iter().map(ArtifactRef::from).collect())
    }

    /// Deletes one stored file (the release-files API's `DELETE`), and its bundle when that
    /// was its last file. [`StoreError::NotFound`] when the project has no such file.
    pub async fn delete_artifact(&self, project_id: i64, file_id: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let bundle: IdRow = tx
            .fetch_one(
                "delete from artifact_files where file_id = $1 and project_id = $2 \
                 returning bundle_id as id",
                vec![file_id.into(), project_id.into()],
            )
            .await?;
        tx.execute(
            "delete from artifact_bundles where bundle_id = $1 and not exists \
             (select 1 from artifact_files f where f.bundle_id = $1)",
            vec![bundle.id.into()],
        )
        .await?;
        tx.commit().await
    }

    /// Retention of artifacts: deletes the bundles (and their files) uploaded before
    /// `cutoff_ms` whose release no longer exists in `releases` (or that had none), so an
    /// artifact goes with its release or after the retention age, whichever comes later; and
    /// upload chunks older than `chunk_cutoff_ms` that no assemble used. Returns the number
    /// of bundles deleted.
    pub async fn purge_artifacts(
        &self,
        cutoff_ms: i64,
        chunk_cutoff_ms: i64,
    ) -> Result<u64, StoreError> {
        const EXPIRED: &str = "select b.bundle_id from artifact_bundles b \
            where b.created_ms < $1 and (b.release is null or not exists \
            (select 1 from releases r where r.project_id = b.project_id \
             and r.version = b.release))";
        let mut tx = self.pool.begin_write().await?;
        tx.execute(
            &format!("delete from artifact_files where bundle_id in ({EXPIRED})"),
            vec![cutoff_ms.into()],
        )
        .await?;
        let bundles = tx
            .execute(
                &format!("delete from artifact_bundles where bundle_id in ({EXPIRED})"),
                vec![cutoff_ms.into()],
            )
            .await?;
        tx.execute(
            "delete from upload_chunks where created_ms < $1",
            vec![chunk_cutoff_ms.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(bundles)
    }
}
