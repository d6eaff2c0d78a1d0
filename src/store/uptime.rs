//! Uptime checks (`uptime_checks`), their results (`uptime_results`) and the certificates
//! they saw (`uptime_certificates`): reads for the pages, the API and the runner, creating
//! and deleting checks, and the claim that gives each due check to one runner. What a result
//! changes (state, counters, incident, issue event, outbox rows) is written in a
//! [`MonitorTx`] by `src/monitors/uptime/runner.rs`; the SQL is here.

use super::db::{arg, next_page, page_limit, parse_name, Arg, Executor, IdRow};
use super::{MonitorTx, Store, StoreError};
use crate::monitors::uptime::config::{CheckConfig, ExpectedStatus, Method};
use crate::monitors::uptime::{CheckStatus, ErrorClass};

/// One uptime check: its configuration and its state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UptimeCheck {
    /// Row id (the `source_id` of its incidents).
    pub id: i64,
    /// Owning project.
    pub project_id: i64,
    /// What is requested and what counts as up.
    pub config: CheckConfig,
    /// Paused by a person: no requests.
    pub is_paused: bool,
    /// `unknown` before enough results, then `up` or `down`.
    pub status: CheckStatus,
    /// When the next check is due, epoch ms.
    pub next_check_ms: i64,
    /// The latest check, epoch ms.
    pub last_checked_ms: Option<i64>,
    /// Its response time, ms.
    pub last_response_ms: Option<i64>,
    /// Its failure in words (`None` when it succeeded).
    pub last_error: Option<String>,
    /// The latest success, epoch ms.
    pub last_ok_ms: Option<i64>,
    /// Failures since the last success.
    pub consecutive_failures: i64,
    /// Successes since the last failure.
    pub consecutive_ok: i64,
    /// The open incident, while down.
    pub incident_id: Option<i64>,
    /// Created, epoch ms.
    pub created_ms: i64,
    /// Configuration last changed, epoch ms.
    pub updated_ms: i64,
}

/// One stored result: its row id and what was measured.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UptimeResult {
    /// Row id.
    pub id: i64,
    /// What the request found.
    #[serde(flatten)]
    pub outcome: UptimeOutcome,
}

/// What one request of a check found (stored as an [`UptimeResult`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UptimeOutcome {
    /// The check.
    pub check_id: i64,
    /// When the request started, epoch ms.
    pub checked_ms: i64,
    /// Up.
    pub ok: bool,
    /// Status of the final response, if one came.
    pub status_code: Option<i64>,
    /// Time until the body was read or the request failed, ms.
    pub response_ms: Option<i64>,
    /// What kind of failure.
    pub error_class: Option<ErrorClass>,
    /// The failure in words.
    pub reason: Option<String>,
}

/// A page of results, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UptimeResultPage {
    /// The results.
    pub results: Vec<UptimeResult>,
    /// Cursor of the next (older) page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// A certificate a check saw.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UptimeCertificate {
    /// Row id.
    pub id: i64,
    /// The check.
    pub check_id: i64,
    /// The project.
    pub project_id: i64,
    /// SHA-256 of the DER, hex.
    pub sha256: String,
    /// Subject, as text.
    pub subject: String,
    /// Expiry, epoch ms.
    pub not_after_ms: i64,
    /// First seen, epoch ms.
    pub first_seen_ms: i64,
    /// When its warning was written.
    pub warned_ms: Option<i64>,
    /// The event of the warning.
    pub event_id: Option<String>,
}

const CHECK_COLUMNS: &str = "uptime_check_id, project_id, name, url, method, headers, body, \
    interval_seconds, timeout_seconds, expected_status, keyword, keyword_absent, \
    follow_redirects, verify_tls, failure_threshold, recovery_threshold, cert_warning_days, \
    is_paused, is_public, status, next_check_ms, last_checked_ms, last_response_ms, last_error, \
    last_ok_ms, consecutive_failures, consecutive_ok, incident_id, created_ms, updated_ms";

row! {
    struct CheckRow {
        uptime_check_id: i64,
        project_id: i64,
        name: String,
        url: String,
        method: String,
        headers: String,
        body: Option<String>,
        interval_seconds: i64,
        timeout_seconds: i64,
        expected_status: String,
        keyword: Option<String>,
        keyword_absent: bool,
        follow_redirects: bool,
        verify_tls: bool,
        failure_threshold: i64,
        recovery_threshold: i64,
        cert_warning_days: i64,
        is_paused: bool,
        is_public: bool,
        status: String,
        next_check_ms: i64,
        last_checked_ms: Option<i64>,
        last_response_ms: Option<i64>,
        last_error: Option<String>,
        last_ok_ms: Option<i64>,
        consecutive_failures: i64,
        consecutive_ok: i64,
        incident_id: Option<i64>,
        created_ms: i64,
        updated_ms: i64,
    }

    try_into |r| {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Other(format!(
                "corrupt {what} of uptime check {}: {e}",
                r.uptime_check_id
            ))
        };
        let headers: Vec<(String, String)> =
            serde_json::from_str(&r.headers).map_err(|e| corrupt("headers", &e))?;
        let expected_status = ExpectedStatus::parse(&r.expected_status)
            .map_err(|e| corrupt("expected_status", &e))?;
        Ok(UptimeCheck {
            id: r.uptime_check_id,
            project_id,
            config: CheckConfig {
                name: r.name,
                url: r.url,
                method: parse_name(&Method::ALL, Method::as_str, &r.method, "method")?,
                headers,
                body: r.body,
                interval_seconds: r.interval_seconds,
                timeout_seconds: r.timeout_seconds,
                expected_status,
                keyword: r.keyword,
                keyword_absent: r.keyword_absent,
                follow_redirects: r.follow_redirects,
                verify_tls: r.verify_tls,
                failure_threshold: r.failure_threshold,
                recovery_threshold: r.recovery_threshold,
                cert_warning_days: r.cert_warning_days,
                is_public: r.is_public,
            },
            is_paused,
            status: parse_name(
                &CheckStatus::ALL,
                CheckStatus::as_str,
                &r.status,
                "uptime status",
            )?,
            next_check_ms, last_checked_ms, last_response_ms, last_error, last_ok_ms,
            consecutive_failures, consecutive_ok, incident_id, created_ms, updated_ms,
        })
    }
}

const RESULT_COLUMNS: &str = "uptime_result_id, uptime_check_id, checked_ms, ok, status_code, \
    response_ms, error_class, reason";

row! {
    struct ResultRow {
        uptime_result_id: i64,
        uptime_check_id: i64,
        checked_ms: i64,
        ok: bool,
        status_code: Option<i64>,
        response_ms: Option<i64>,
        error_class: Option<String>,
        reason: Option<String>,
    }

    try_into |r| {
        Ok(UptimeResult {
            id: r.uptime_result_id,
            outcome: UptimeOutcome {
                check_id: r.uptime_check_id,
                checked_ms: r.checked_ms,
                ok: r.ok,
                status_code: r.status_code,
                response_ms: r.response_ms,
                error_class: r
                    .error_class
                    .map(|c| parse_name(&ErrorClass::ALL, ErrorClass::as_str, &c, "error class"))
                    .transpose()?,
                reason: r.reason,
            },
        })
    }
}

const CERT_COLUMNS: &str = "uptime_certificate_id, uptime_check_id, project_id, sha256, \
    subject, not_after_ms, first_seen_ms, warned_ms, event_id";

row! {
    struct CertRow {
        uptime_certificate_id: i64,
        uptime_check_id: i64,
        project_id: i64,
        sha256: String,
        subject: String,
        not_after_ms: i64,
        first_seen_ms: i64,
        warned_ms: Option<i64>,
        event_id: Option<String>,
    }
}

impl From<CertRow> for UptimeCertificate {
    fn from(r: CertRow) -> Self {
        UptimeCertificate {
            id: r.uptime_certificate_id,
            check_id: r.uptime_check_id,
            project_id: r.project_id,
            sha256: r.sha256,
            subject: r.subject,
            not_after_ms: r.not_after_ms,
            first_seen_ms: r.first_seen_ms,
            warned_ms: r.warned_ms,
            event_id: r.event_id,
        }
    }
}

row! {
    struct DueRow {
        uptime_check_id: i64,
        next_check_ms: i64,
    }
}

row! {
    struct CountRow {
        total: i64,
        up: Option<i64>,
    }
}

row! {
    struct StreakRow {
        failures: i64,
        first_ms: Option<i64>,
    }
}

/// The bound arguments of a configuration, in the order `name, url, method, headers, body,
/// interval_seconds, timeout_seconds, expected_status, keyword, keyword_absent,
/// follow_redirects, verify_tls, failure_threshold, recovery_threshold, cert_warning_days,
/// is_public` ($n from `first`).
fn config_args(c: &CheckConfig) -> Result<Vec<Arg<'static>>, StoreError> {
    let headers = serde_json::to_string(&c.headers)
        .map_err(|e| StoreError::Other(format!("cannot encode headers: {e}")))?;
    Ok(vec![
        c.name.clone().into(),
        c.url.clone().into(),
        c.method.as_str().into(),
        headers.into(),
        c.body.clone().into(),
        c.interval_seconds.into(),
        c.timeout_seconds.into(),
        c.expected_status.to_string().into(),
        c.keyword.clone().into(),
        c.keyword_absent.into(),
        c.follow_redirects.into(),
        c.verify_tls.into(),
        c.failure_threshold.into(),
        c.recovery_threshold.into(),
        c.cert_warning_days.into(),
        c.is_public.into(),
    ])
}

impl Store {
    /// Creates a check, first due at `next_check_ms`. Errors: [`StoreError::Other`] for an
    /// unknown project.
    pub async fn create_uptime_check(
        &self,
        project_id: i64,
        config: &CheckConfig,
        is_paused: bool,
        next_check_ms: i64,
        now: i64,
    ) -> Result<UptimeCheck, StoreError> {
        let mut args: Vec<Arg<'_>> = vec![project_id.into()];
        args.extend(config_args(config)?);
        args.extend([
            Arg::from(is_paused),
            Arg::from(next_check_ms),
            Arg::from(now),
        ]);
        let id = self
            .db()
            .fetch_one::<IdRow>(
                "insert into uptime_checks (project_id, name, url, method, headers, body, \
                 interval_seconds, timeout_seconds, expected_status, keyword, keyword_absent, \
                 follow_redirects, verify_tls, failure_threshold, recovery_threshold, \
                 cert_warning_days, is_public, is_paused, status, next_check_ms, \
                 consecutive_failures, consecutive_ok, created_ms, updated_ms) values ($1, $2, \
                 $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
                 'unknown', $19, 0, 0, $20, $20) returning uptime_check_id as id",
                args,
            )
            .await?
            .id;
        self.uptime_check(id).await
    }

    /// One check. Errors: [`StoreError::NotFound`].
    pub async fn uptime_check(&self, id: i64) -> Result<UptimeCheck, StoreError> {
        let sql = format!("select {CHECK_COLUMNS} from uptime_checks where uptime_check_id = $1");
        self.db()
            .fetch_one::<CheckRow>(&sql, vec![id.into()])
            .await?
            .try_into()
    }

    /// The checks of a project, by name then id.
    pub async fn uptime_checks(&self, project_id: i64) -> Result<Vec<UptimeCheck>, StoreError> {
        let sql = format!(
            "select {CHECK_COLUMNS} from uptime_checks where project_id = $1 \
             order by name, uptime_check_id"
        );
        self.db()
            .fetch_all::<CheckRow>(&sql, vec![project_id.into()])
            .await?
            .into_iter()
            .map(UptimeCheck::try_from)
            .collect()
    }

    /// Every check of every project, by project then name (`errata uptime list`).
    pub async fn all_uptime_checks(&self) -> Result<Vec<UptimeCheck>, StoreError> {
        let sql = format!(
            "select {CHECK_COLUMNS} from uptime_checks order by project_id, name, uptime_check_id"
        );
        self.db()
            .fetch_all::<CheckRow>(&sql, vec![])
            .await?
            .into_iter()
            .map(UptimeCheck::try_from)
            .collect()
    }

    /// Saves a check's configuration and pause; `next_check_ms` when it should be due anew
    /// (a changed interval, a resumed check). Errors: [`StoreError::NotFound`].
    pub async fn update_uptime_check(
        &self,
        id: i64,
        config: &CheckConfig,
        is_paused: bool,
        next_check_ms: Option<i64>,
        now: i64,
    ) -> Result<UptimeCheck, StoreError> {
        let mut args: Vec<Arg<'_>> = vec![id.into()];
        args.extend(config_args(config)?);
        args.extend([
            Arg::from(is_paused),
            Arg::from(next_check_ms),
            Arg::from(now),
        ]);
        self.db()
            .execute_one(
                "update uptime_checks set name = $2, url = $3, method = $4, headers = $5, \
                 body = $6, interval_seconds = $7, timeout_seconds = $8, expected_status = $9, \
                 keyword = $10, keyword_absent = $11, follow_redirects = $12, verify_tls = $13, \
                 failure_threshold = $14, recovery_threshold = $15, cert_warning_days = $16, \
                 is_public = $17, is_paused = $18, \
                 next_check_ms = coalesce($19, next_check_ms), updated_ms = $20 \
                 where uptime_check_id = $1",
                args,
            )
            .await?;
        self.uptime_check(id).await
    }

    /// Deletes a check with its results, certificates and incidents, in one transaction.
    /// Its issues stay. Errors: [`StoreError::NotFound`].
    pub async fn delete_uptime_check(&self, id: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_write().await?;
        for sql in [
            "delete from uptime_results where uptime_check_id = $1",
            "delete from uptime_certificates where uptime_check_id = $1",
            "delete from incidents where source = 'uptime' and source_id = $1",
        ] {
            tx.execute(sql, vec![id.into()]).await?;
        }
        tx.execute_one(
            "delete from uptime_checks where uptime_check_id = $1",
            vec![id.into()],
        )
        .await?;
        tx.commit().await
    }

    /// Unpaused checks due at `now` (at most `limit`, most overdue first): `(id, due)`.
    pub async fn due_uptime_checks(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let limit = i64::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        Ok(self
            .db()
            .fetch_all::<DueRow>(
                "select uptime_check_id, next_check_ms from uptime_checks \
                 where next_check_ms <= $1 and not is_paused order by next_check_ms limit $2",
                vec![now.into(), limit.into()],
            )
            .await?
            .into_iter()
            .map(|r| (r.uptime_check_id, r.next_check_ms))
            .collect())
    }

    /// Claims a due check for one run: moves its due time from `due_ms` to `next_ms` if no
    /// one else did first (compare-and-set, the same on both engines). True when this caller
    /// runs it.
    pub async fn claim_uptime_check(
        &self,
        id: i64,
        due_ms: i64,
        next_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .db()
            .execute(
                "update uptime_checks set next_check_ms = $3 \
                 where uptime_check_id = $1 and next_check_ms = $2 and not is_paused",
                vec![id.into(), due_ms.into(), next_ms.into()],
            )
            .await?;
        Ok(n > 0)
    }

    /// A page of a check's results, newest first; `limit` clamped to 1..=100. Errors:
    /// [`StoreError::InvalidCursor`].
    pub async fn uptime_results(
        &self,
        check_id: i64,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<UptimeResultPage, StoreError> {
        let mut args: Vec<Arg<'_>> = Vec::new();
        let mut sql = format!(
            "select {RESULT_COLUMNS} from uptime_results where uptime_check_id = {}",
            arg(&mut args, check_id)
        );
        if let Some(cursor) = cursor {
            let (at, id) = cursor
                .split_once('.')
                .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)))
                .ok_or_else(|| {
                    StoreError::InvalidCursor(format!("{cursor:?} is not a result cursor"))
                })?;
            let (a, i) = (arg(&mut args, at), arg(&mut args, id));
            sql += &format!(
                " and (checked_ms < {a} or (checked_ms = {a} and uptime_result_id < {i}))"
            );
        }
        let limit = page_limit(limit);
        sql += &format!(
            " order by checked_ms desc, uptime_result_id desc limit {}",
            arg(&mut args, limit + 1)
        );
        let mut found = self.db().fetch_all::<ResultRow>(&sql, args).await?;
        let next_cursor = next_page(&mut found, limit)
            .map(|r| format!("{}.{}", r.checked_ms, r.uptime_result_id));
        Ok(UptimeResultPage {
            results: found
                .into_iter()
                .map(UptimeResult::try_from)
                .collect::<Result<_, _>>()?,
            next_cursor,
        })
    }

    /// A check's results since `since_ms`, oldest first, at most `limit` (charts).
    pub async fn uptime_results_since(
        &self,
        check_id: i64,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<UptimeResult>, StoreError> {
        let limit = i64::try_from(limit.clamp(1, 10_000)).unwrap_or(10_000);
        let sql = format!(
            "select {RESULT_COLUMNS} from (select {RESULT_COLUMNS} from uptime_results \
             where uptime_check_id = $1 and checked_ms >= $2 \
             order by checked_ms desc, uptime_result_id desc limit $3) recent \
             order by checked_ms, uptime_result_id"
        );
        self.db()
            .fetch_all::<ResultRow>(&sql, vec![check_id.into(), since_ms.into(), limit.into()])
            .await?
            .into_iter()
            .map(UptimeResult::try_from)
            .collect()
    }

    /// The share of a check's results since `since_ms` that were up, in percent; `None`
    /// without results.
    pub async fn uptime_percent(
        &self,
        check_id: i64,
        since_ms: i64,
    ) -> Result<Option<f64>, StoreError> {
        let row = self
            .db()
            .fetch_one::<CountRow>(
                "select count(*) as total, sum(case when ok then 1 else 0 end) as up \
                 from uptime_results where uptime_check_id = $1 and checked_ms >= $2",
                vec![check_id.into(), since_ms.into()],
            )
            .await?;
        Ok((row.total > 0).then(|| row.up.unwrap_or(0) as f64 * 100.0 / row.total as f64))
    }

    /// The failing results of a check after `after_ms` (all when `None`) up to `until_ms`:
    /// how many, and the first one's time (what took it down, for messages).
    pub async fn uptime_failures_between(
        &self,
        check_id: i64,
        after_ms: Option<i64>,
        until_ms: i64,
    ) -> Result<(i64, Option<i64>), StoreError> {
        let row = self
            .db()
            .fetch_one::<StreakRow>(
                "select count(*) as failures, min(checked_ms) as first_ms from uptime_results \
                 where uptime_check_id = $1 and not ok and checked_ms > $2 and checked_ms <= $3",
                vec![
                    check_id.into(),
                    after_ms.unwrap_or(i64::MIN).into(),
                    until_ms.into(),
                ],
            )
            .await?;
        Ok((row.failures, row.first_ms))
    }

    /// Deletes a check's results older than `before_ms` (results are kept 90 days).
    pub async fn prune_uptime_results(
        &self,
        check_id: i64,
        before_ms: i64,
    ) -> Result<u64, StoreError> {
        self.db()
            .execute(
                "delete from uptime_results where uptime_check_id = $1 and checked_ms < $2",
                vec![check_id.into(), before_ms.into()],
            )
            .await
    }

    /// The certificate whose warning carried event `event_id`, if it still exists.
    pub async fn uptime_certificate_by_event(
        &self,
        project_id: i64,
        event_id: &str,
    ) -> Result<Option<UptimeCertificate>, StoreError> {
        let sql = format!(
            "select {CERT_COLUMNS} from uptime_certificates where project_id = $1 and event_id = $2"
        );
        Ok(self
            .db()
            .fetch_optional::<CertRow>(&sql, vec![project_id.into(), event_id.into()])
            .await?
            .map(UptimeCertificate::from))
    }

    /// The certificates a check saw, newest first.
    pub async fn uptime_certificates(
        &self,
        check_id: i64,
    ) -> Result<Vec<UptimeCertificate>, StoreError> {
        let sql = format!(
            "select {CERT_COLUMNS} from uptime_certificates where uptime_check_id = $1 \
             order by first_seen_ms desc, uptime_certificate_id desc"
        );
        Ok(self
            .db()
            .fetch_all::<CertRow>(&sql, vec![check_id.into()])
            .await?
            .into_iter()
            .map(UptimeCertificate::from)
            .collect())
    }
}

impl MonitorTx {
    /// A check, locked; `None` when it is gone.
    pub async fn lock_uptime_check(&mut self, id: i64) -> Result<Option<UptimeCheck>, StoreError> {
        let sql = format!(
            "select {CHECK_COLUMNS} from uptime_checks where uptime_check_id = $1{}",
            self.for_update()
        );
        self.tx
            .fetch_optional::<CheckRow>(&sql, vec![id.into()])
            .await?
            .map(UptimeCheck::try_from)
            .transpose()
    }

    /// Writes a check's state (status, latest result, counters, open incident).
    pub async fn save_uptime_state(&mut self, c: &UptimeCheck) -> Result<(), StoreError> {
        self.tx
            .execute_one(
                "update uptime_checks set status = $2, last_checked_ms = $3, \
                 last_response_ms = $4, last_error = $5, last_ok_ms = $6, \
                 consecutive_failures = $7, consecutive_ok = $8, incident_id = $9 \
                 where uptime_check_id = $1",
                vec![
                    c.id.into(),
                    c.status.as_str().into(),
                    c.last_checked_ms.into(),
                    c.last_response_ms.into(),
                    c.last_error.as_deref().into(),
                    c.last_ok_ms.into(),
                    c.consecutive_failures.into(),
                    c.consecutive_ok.into(),
                    c.incident_id.into(),
                ],
            )
            .await
    }

    /// Stores one result.
    pub async fn insert_uptime_result(&mut self, r: &UptimeOutcome) -> Result<(), StoreError> {
        self.tx
            .execute(
                "insert into uptime_results (uptime_check_id, checked_ms, ok, status_code, \
                 response_ms, error_class, reason) values ($1, $2, $3, $4, $5, $6, $7)",
                vec![
                    r.check_id.into(),
                    r.checked_ms.into(),
                    r.ok.into(),
                    r.status_code.into(),
                    r.response_ms.into(),
                    r.error_class.map(ErrorClass::as_str).into(),
                    r.reason.as_deref().into(),
                ],
            )
            .await?;
        Ok(())
    }

    /// Records that check `check_id` saw a certificate (once per check and SHA-256) and
    /// returns its row, with `warned_ms` set once it was warned about.
    pub async fn note_certificate(
        &mut self,
        check_id: i64,
        project_id: i64,
        sha256: &str,
        subject: &str,
        not_after_ms: i64,
        now: i64,
    ) -> Result<UptimeCertificate, StoreError> {
        self.tx
            .execute(
                "insert into uptime_certificates (uptime_check_id, project_id, sha256, subject, \
                 not_after_ms, first_seen_ms, warned_ms, event_id) \
                 values ($1, $2, $3, $4, $5, $6, null, null) \
                 on conflict (uptime_check_id, sha256) do nothing",
                vec![
                    check_id.into(),
                    project_id.into(),
                    sha256.into(),
                    subject.into(),
                    not_after_ms.into(),
                    now.into(),
                ],
            )
            .await?;
        let sql = format!(
            "select {CERT_COLUMNS} from uptime_certificates \
             where uptime_check_id = $1 and sha256 = $2"
        );
        Ok(self
            .tx
            .fetch_one::<CertRow>(&sql, vec![check_id.into(), sha256.into()])
            .await?
            .into())
    }

    /// Marks a certificate warned about at `now` by event `event_id`, and writes the
    /// `certificate_expiring` outbox row for the issue `issue_id` that event is on; false
    /// (nothing written) when it already was warned about.
    pub async fn warn_certificate(
        &mut self,
        cert: &UptimeCertificate,
        issue_id: i64,
        event_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .tx
            .execute(
                "update uptime_certificates set warned_ms = $2, event_id = $3 \
                 where uptime_certificate_id = $1 and warned_ms is null",
                vec![cert.id.into(), now.into(), event_id.into()],
            )
            .await?;
        if n == 0 {
            return Ok(false);
        }
        super::outbox::insert_outbox(
            &mut self.tx,
            crate::monitors::uptime::CERTIFICATE_KIND,
            cert.project_id,
            issue_id,
            event_id,
            now,
        )
        .await?;
        Ok(true)
    }
}
