//! Incidents (`incidents`): periods of failure of something watched (see
//! [`crate::monitors::incident`]). Opened and resolved inside a [`MonitorTx`](super::MonitorTx);
//! read here by the notification worker, the pages and the metrics.

use super::db::{parse_name, placeholders, Arg, Executor, IdRow};
use super::{Store, StoreError};
use crate::monitors::incident::IncidentSource;

/// One incident.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Incident {
    /// Row id.
    pub id: i64,
    /// The project of what failed.
    pub project_id: i64,
    /// What failed.
    pub source: IncidentSource,
    /// Its row id (a monitor environment for [`IncidentSource::Cron`]).
    pub source_id: i64,
    /// When it opened, epoch ms.
    pub opened_ms: i64,
    /// When it resolved, epoch ms; `None` while open.
    pub resolved_ms: Option<i64>,
    /// The failure that opened it, in words.
    pub reason: String,
    /// The last success before it opened, epoch ms.
    pub last_ok_ms: Option<i64>,
    /// The issue that shows it.
    pub issue_id: Option<i64>,
    /// The event that opened it (32 hex).
    pub event_id: String,
}

pub(super) const INCIDENT_COLUMNS: &str = "incident_id, project_id, source, source_id, \
    opened_ms, resolved_ms, reason, last_ok_ms, issue_id, event_id";

row! {
    pub(super) struct IncidentRow {
        incident_id: i64,
        project_id: i64,
        source: String,
        source_id: i64,
        opened_ms: i64,
        resolved_ms: Option<i64>,
        reason: String,
        last_ok_ms: Option<i64>,
        issue_id: Option<i64>,
        event_id: String,
    }

    try_into |r| {
        Ok(Incident {
            id: r.incident_id,
            project_id,
            source: parse_name(
                &IncidentSource::ALL,
                IncidentSource::as_str,
                &r.source,
                "incident source",
            )?,
            source_id, opened_ms, resolved_ms, reason, last_ok_ms, issue_id, event_id,
        })
    }
}

impl Store {
    /// The incident an outbox row of kind `incident_opened`/`incident_resolved` is about (its
    /// opening event), if it still exists.
    pub async fn incident_by_event(
        &self,
        project_id: i64,
        event_id: &str,
    ) -> Result<Option<Incident>, StoreError> {
        let sql = format!(
            "select {INCIDENT_COLUMNS} from incidents where project_id = $1 and event_id = $2"
        );
        self.db()
            .fetch_optional::<IncidentRow>(&sql, vec![project_id.into(), event_id.into()])
            .await?
            .map(Incident::try_from)
            .transpose()
    }

    /// The newest `limit` incidents of the given sources, newest first.
    pub async fn incidents_of(
        &self,
        source: IncidentSource,
        source_ids: &[i64],
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        if source_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "select {INCIDENT_COLUMNS} from incidents where source = $1 and source_id in ({}) \
             order by opened_ms desc, incident_id desc limit ${}",
            placeholders(2, source_ids.len()),
            source_ids.len() + 2
        );
        let mut args: Vec<Arg<'_>> = vec![source.as_str().into()];
        args.extend(source_ids.iter().map(|&id| Arg::Int(id)));
        args.push(i64::try_from(limit.clamp(1, 1000)).unwrap_or(1000).into());
        self.db()
            .fetch_all::<IncidentRow>(&sql, args)
            .await?
            .into_iter()
            .map(Incident::try_from)
            .collect()
    }

    /// How many incidents of `source` are open (the `errata_monitors_failing` gauge).
    pub async fn open_incident_count(&self, source: IncidentSource) -> Result<i64, StoreError> {
        Ok(self
            .db()
            .fetch_one::<IdRow>(
                "select count(*) as id from incidents where source = $1 and resolved_ms is null",
                vec![source.as_str().into()],
            )
            .await?
            .id)
    }
}
