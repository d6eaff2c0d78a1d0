//! `payload_dictionaries`: per-project zstd dictionaries for event payloads, and the store's
//! in-memory [`Dictionaries`]: each project's current one for the ingest path, and the
//! decoders readers load on demand when a payload names a dictionary.
//!
//! A row's `dict_id` is the id in its dictionary's header and in the header of every frame
//! compressed with it ([`super::payload`]); the newest row of a project is its current
//! dictionary. Rows are never deleted while their project lives (a payload may name any of
//! them); a deleted project's go in its last step (`retention/prune.rs`).

use std::sync::Arc;

use zstd::dict::DecoderDictionary;

use super::db::{Executor, IdRow};
use super::events::PAYLOAD;
use super::payload::{self, payload_dictionary_id, PayloadDictionary};
use super::{Store, StoreError};
use crate::protocol::EventId;

row! {
    struct CurrentRow {
        project_id: i64,
        dict_id: i64,
    }
}

row! {
    struct DictionaryRow {
        project_id: i64,
        dictionary: Vec<u8>,
    }
}

row! {
    struct PayloadRow {
        payload: Vec<u8>,
    }
}

/// How a stored payload is kept (what a test or a measurement reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadInfo {
    /// Bytes in the `payload` column.
    pub bytes: usize,
    /// The dictionary its frame names, if any.
    pub dictionary: Option<u32>,
}

/// Dictionary ids are the table's key, within the 31 bits zstd leaves to private use.
fn dict_id(id: i64) -> Result<u32, StoreError> {
    u32::try_from(id)
        .ok()
        .filter(|id| *id > 0 && *id < 1 << 31)
        .ok_or_else(|| StoreError::Other(format!("payload dictionary id {id} out of range")))
}

/// One dictionary row by its id (the id its frames name).
const DICTIONARY_BY_ID: &str =
    "select project_id, dictionary from payload_dictionaries where dict_id = $1";

impl Store {
    /// The project's current payload dictionary, from memory (refreshed by
    /// [`Store::load_payload_dictionaries`] and [`Store::add_payload_dictionary`]); `None`
    /// when it has none (its events are compressed without one).
    pub fn payload_dictionary(&self, project_id: i64) -> Option<Arc<PayloadDictionary>> {
        self.dictionaries.current(project_id)
    }

    /// Brings the in-memory current dictionaries up to date with the table (at start and
    /// periodically, so that a dictionary another server trained is used here too): loads
    /// the bytes of those that changed only. Returns how many were loaded.
    pub async fn load_payload_dictionaries(&self) -> Result<usize, StoreError> {
        let rows: Vec<CurrentRow> = self
            .db()
            .fetch_all(
                "select project_id, max(dict_id) as dict_id from payload_dictionaries \
                 group by project_id",
                vec![],
            )
            .await?;
        let known = self.dictionaries.current_ids();
        let mut loaded = 0;
        for r in rows {
            let id = dict_id(r.dict_id)?;
            if known.get(&r.project_id) == Some(&id) {
                continue;
            }
            let row: DictionaryRow = self
                .db()
                .fetch_one(DICTIONARY_BY_ID, vec![r.dict_id.into()])
                .await?;
            let d = PayloadDictionary::new(id, row.project_id, &row.dictionary)?;
            self.dictionaries.install(d, &row.dictionary);
            loaded += 1;
        }
        Ok(loaded)
    }

    /// Stores `dictionary` (zstd dictionary bytes, any id) as the project's current one,
    /// trained on `samples` payloads at `now_ms`: its id becomes the new row's key. Returns
    /// it prepared, as the ingest path uses it from now on. Errors:
    /// [`StoreError::Other`] for bytes that are not a zstd dictionary; the store's.
    pub async fn add_payload_dictionary(
        &self,
        project_id: i64,
        now_ms: i64,
        samples: usize,
        mut dictionary: Vec<u8>,
    ) -> Result<Arc<PayloadDictionary>, StoreError> {
        payload::set_dictionary_id(&mut dictionary, 0)?;
        // One short transaction: the key, then the dictionary with the key as its id.
        let mut tx = self.pool.begin_write().await?;
        let id = tx
            .fetch_one::<IdRow>(
                "insert into payload_dictionaries \
                 (project_id, created_ms, sample_count, dictionary) \
                 values ($1, $2, $3, $4) returning dict_id as id",
                vec![
                    project_id.into(),
                    now_ms.into(),
                    i64::try_from(samples).unwrap_or(i64::MAX).into(),
                    super::db::Arg::Bytes(&dictionary),
                ],
            )
            .await?
            .id;
        let key = dict_id(id)?;
        payload::set_dictionary_id(&mut dictionary, key)?;
        let prepared = PayloadDictionary::new(key, project_id, &dictionary)?;
        tx.execute(
            "update payload_dictionaries set dictionary = $1 where dict_id = $2",
            vec![super::db::Arg::Bytes(&dictionary), id.into()],
        )
        .await?;
        tx.commit().await?;
        self.dictionaries.install(prepared, &dictionary);
        self.payload_dictionary(project_id)
            .ok_or_else(|| StoreError::Other("payload dictionary cache unavailable".into()))
    }

    /// Live projects with at least `min_events` stored events and no payload dictionary yet.
    pub async fn projects_needing_payload_dictionary(
        &self,
        min_events: u64,
    ) -> Result<Vec<i64>, StoreError> {
        let min = i64::try_from(min_events.max(1)).unwrap_or(i64::MAX);
        // Counting stops at `min` per project (the inner limit), so a project of millions
        // of events costs no more than one at the threshold.
        self.db()
            .fetch_ids(
                "select p.project_id as id from projects p where p.deleted_ms is null \
                 and not exists (select 1 from payload_dictionaries d \
                 where d.project_id = p.project_id) \
                 and (select count(*) from (select 1 from events e \
                 where e.project_id = p.project_id limit $1) t) >= $1 \
                 order by p.project_id",
                vec![min.into()],
            )
            .await
    }

    /// The JSON text of the project's `limit` most recently received events (samples for
    /// training its dictionary), newest first.
    pub async fn payload_samples(
        &self,
        project_id: i64,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows: Vec<PayloadRow> = self
            .db()
            .fetch_all(
                &format!(
                    "select {PAYLOAD} from events where project_id = $1 \
                     order by received_ms desc limit $2"
                ),
                vec![
                    project_id.into(),
                    i64::try_from(limit).unwrap_or(i64::MAX).into(),
                ],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let decoder = self.payload_decoder(&mut self.db(), &r.payload).await?;
            out.push(payload::decompress(&r.payload, |_| decoder)?.into_owned());
        }
        Ok(out)
    }

    /// How an event's payload is stored. Errors: [`StoreError::NotFound`].
    pub async fn payload_info(
        &self,
        project_id: i64,
        event_id: &EventId,
    ) -> Result<PayloadInfo, StoreError> {
        let row: PayloadRow = self
            .db()
            .fetch_one(
                &format!("select {PAYLOAD} from events where project_id = $1 and event_id = $2"),
                vec![project_id.into(), event_id.simple().into()],
            )
            .await?;
        Ok(PayloadInfo {
            bytes: row.payload.len(),
            dictionary: payload_dictionary_id(&row.payload),
        })
    }

    /// Forgets a deleted project's current dictionary on this server.
    pub(super) fn forget_payload_dictionary(&self, project_id: i64) {
        self.dictionaries.remove_project(project_id);
    }

    /// Decodes a stored payload, loading the dictionary it names through `ex` if this
    /// server has not yet. Errors: [`StoreError::Other`] for corrupt data, a frame naming a
    /// dictionary that does not exist included.
    pub(super) async fn decode_stored(
        &self,
        ex: &mut impl Executor,
        bytes: &[u8],
    ) -> Result<serde_json::Value, StoreError> {
        let decoder = self.payload_decoder(ex, bytes).await?;
        payload::decode_payload_with(bytes, |_| decoder)
    }

    /// The decoder for the dictionary `bytes` names, if any and if it exists.
    async fn payload_decoder(
        &self,
        ex: &mut impl Executor,
        bytes: &[u8],
    ) -> Result<Option<Arc<DecoderDictionary<'static>>>, StoreError> {
        let Some(id) = payload_dictionary_id(bytes) else {
            return Ok(None);
        };
        if let Some(d) = self.dictionaries.decoder(id) {
            return Ok(Some(d));
        }
        let row: Option<DictionaryRow> = ex
            .fetch_optional(DICTIONARY_BY_ID, vec![i64::from(id).into()])
            .await?;
        Ok(row.map(|r| self.dictionaries.add_decoder(id, &r.dictionary)))
    }
}
