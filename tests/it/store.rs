//! Store conformance suite: every test runs on SQLite (a fresh file per test) and, when
//! `ERRATA_TEST_POSTGRES_URL` is set, on PostgreSQL (a fresh database per test, created
//! through that URL's server and dropped afterwards).

use std::collections::BTreeSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use anyhow::{bail, ensure, Context, Result};
use errata_server::grouping::Grouping;
use errata_server::normalize::EventFields;
use errata_server::protocol::{EventId, Level};
use errata_server::store::{
    decode_payload, encode_payload, Aggregates, Backend, IssueQuery, IssueSort, IssueStatus,
    NewEvent, RollUp, Store, StoreError, Trigger,
};
use futures::FutureExt;
use serde_json::json;
use sqlx::{Connection, Executor};

const POSTGRES_ENV: &str = "ERRATA_TEST_POSTGRES_URL";
pub(crate) const HOUR_MS: i64 = 3_600_000;
pub(crate) const T0: i64 = 1_700_000_000_000;

/// What a test gets: a migrated store on a fresh database, and the URL to open more.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) store: Store,
    pub(crate) url: String,
}

impl Ctx {
    /// A second, independent pool on the same database.
    pub(crate) async fn second_store(&self) -> Result<Store> {
        Ok(Store::connect(&self.url).await?)
    }
}

pub(crate) async fn run_sqlite<F, Fut>(test: F) -> Result<()>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let dir = tempfile::tempdir()?;
    // `connect` creates the file, never its directory (`errata serve` makes only `data/`).
    let url = format!("sqlite://{}/errata.db", dir.path().display());
    run_on(url, Backend::Sqlite, test).await
}

/// Connects to `url`, runs `test` on it, and closes the store.
async fn run_on<F, Fut>(url: String, backend: Backend, test: F) -> Result<()>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let store = Store::connect(&url).await?;
    ensure!(store.backend() == backend);
    let result = test(Ctx {
        store: store.clone(),
        url,
    })
    .await;
    store.close().await;
    result
}

pub(crate) async fn run_postgres<F, Fut>(test: F) -> Result<()>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    with_fresh_postgres(|url| run_on(url, Backend::Postgres, test)).await
}

/// Runs `test` with the URL of a fresh, empty PostgreSQL database on the server of
/// `ERRATA_TEST_POSTGRES_URL`, dropped afterwards whatever happened; skips (saying so) when
/// the variable is not set.
pub(crate) async fn with_fresh_postgres<F, Fut>(test: F) -> Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
        println!("skipping postgres: {POSTGRES_ENV} not set");
        return Ok(());
    };
    let name = format!("errata_test_{}", hex::encode(rand::random::<[u8; 8]>()));
    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
    admin
        .execute(format!("create database {name}").as_str())
        .await?;
    let mut url = url::Url::parse(&admin_url)?;
    url.set_path(&name);
    let outcome = AssertUnwindSafe(test(url.to_string())).catch_unwind().await;
    // Drop the database whatever happened; `force` ends connections a failed test leaked.
    admin
        .execute(format!("drop database if exists {name} with (force)").as_str())
        .await?;
    match outcome {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Declares each listed `async fn(Ctx) -> Result<()>` as a test on both backends:
/// `store::sqlite::<name>` and `store::postgres::<name>`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    super::run_sqlite(super::$name).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    super::run_postgres(super::$name).await
                }
            )*
        }
    };
}

conformance!(
    connect_runs_migrations,
    projects_keys_and_tokens,
    new_event_creates_issue_and_outbox,
    same_hash_joins_issue_and_updates_counters,
    large_batch_joins_each_event_to_its_issue,
    duplicate_event_changes_nothing,
    resolve_then_event_is_regression,
    ignored_issue_stays_ignored,
    list_issues_filters_sorts_and_pages,
    concurrent_first_events_make_one_issue,
    events_read_back_with_payload,
    facets_and_hourly_counts,
    deferred_aggregates_match_inline,
    deleting_an_issue_drops_its_pending_aggregates,
);

#[test]
fn migration_dirs_list_the_same_versions() -> Result<()> {
    let versions = |backend: &str| -> Result<Vec<String>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".sql") {
                let version = stem.split('_').next().unwrap_or_default().to_owned();
                ensure!(
                    version.parse::<u64>().is_ok(),
                    "{name}: not <version>_<name>.sql"
                );
                names.push(version);
            }
        }
        names.sort();
        Ok(names)
    };
    let sqlite = versions("sqlite")?;
    ensure!(!sqlite.is_empty(), "no migrations");
    ensure!(
        sqlite == versions("postgres")?,
        "sqlite and postgres migrations differ"
    );
    Ok(())
}

/// PostgreSQL must not compress the (already zstd) payloads again, nor move a typical one
/// out to the TOAST table (migrations/postgres/0005_inline_payloads.sql, and 0019 for their
/// own table).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_payloads_in_their_row() -> Result<()> {
    run_postgres(|ctx: Ctx| async move {
        let s = &ctx.store;
        let p = project(s).await?;
        // Random hex compresses to about half: a ~3 KB frame, over PostgreSQL's ~2 KB
        // threshold for compressing and moving values out of the row.
        let noise: String = (0..96)
            .map(|_| hex::encode(rand::random::<[u8; 32]>()))
            .collect();
        let payload = json!({"message": "big", "extra": {"noise": noise}});
        let mut e = event(p, "big", 0);
        e.payload = encode_payload(&payload);
        ensure!(
            (2_500..8_000).contains(&e.payload.len()),
            "payload frame is {} bytes",
            e.payload.len()
        );
        insert_one(s, e.clone()).await?;
        ensure!(s.event(p, &e.fields.event_id).await?.payload == payload);

        let mut conn = sqlx::PgConnection::connect(&ctx.url).await?;
        let storage: i8 = sqlx::query_scalar(
            "select attstorage from pg_attribute \
             where attrelid = 'event_payloads'::regclass and attname = 'payload'",
        )
        .fetch_one(&mut conn)
        .await?;
        ensure!(
            storage == b'e' as i8,
            "payload storage is {:?}",
            storage as u8 as char
        );
        let toast: String = sqlx::query_scalar(
            "select reltoastrelid::regclass::text from pg_class \
             where oid = 'event_payloads'::regclass",
        )
        .fetch_one(&mut conn)
        .await?;
        let toasted: i64 = sqlx::query_scalar(&format!("select count(*) from {toast}"))
            .fetch_one(&mut conn)
            .await?;
        ensure!(
            toasted == 0,
            "{toasted} TOAST rows for one {}-byte payload",
            e.payload.len()
        );
        conn.close().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn connect_accepts_memory_and_rejects_unknown_schemes() -> Result<()> {
    let store = Store::connect("sqlite::memory:").await?;
    let p = project(&store).await?;
    // Several statements on the one in-memory connection see the same database.
    insert_one(&store, event(p, "boom", 0)).await?;
    ensure!(store.counts(None).await? == (1, 1));
    store.close().await;
    match Store::connect("mysql://localhost/db").await {
        Err(StoreError::Other(msg)) => ensure!(msg.contains("scheme"), "{msg}"),
        other => bail!(
            "expected an unsupported-scheme error, got {:?}",
            other.map(|_| ())
        ),
    }
    Ok(())
}

// ---- builders -------------------------------------------------------------------------

pub(crate) fn grouping(label: &str) -> Grouping {
    use sha2::Digest;
    Grouping {
        version: "v1",
        kind: "message".to_owned(),
        hash: hex::encode(sha2::Sha256::digest(label.as_bytes())),
        values: vec![format!("message:{label}")],
    }
}

/// An event of `project` grouped under `label`, at `T0 + offset_ms`.
pub(crate) fn event(project: i64, label: &str, offset_ms: i64) -> NewEvent {
    let payload = json!({"message": format!("{label} happened"), "level": "error"});
    NewEvent {
        project_id: project,
        fields: EventFields {
            event_id: EventId::new_random(),
            timestamp_ms: T0 + offset_ms,
            received_ms: T0 + offset_ms + 5,
            level: Level::Error,
            platform: "python".to_owned(),
            title: format!("{label} happened"),
            culprit: Some(format!("app.{label}")),
            release: None,
            environment: None,
            user_key: None,
            tags: Vec::new(),
        },
        grouping: grouping(label),
        payload: encode_payload(&payload),
    }
}

pub(crate) async fn project(store: &Store) -> Result<i64> {
    Ok(store.create_project("app").await?.id)
}

pub(crate) async fn insert_one(
    store: &Store,
    e: NewEvent,
) -> Result<errata_server::store::InsertOutcome> {
    let mut out = store.insert_events(&[e]).await?;
    out.pop().context("no outcome")
}

// ---- tests ----------------------------------------------------------------------------

/// Events of several issues with users, tags, environments, releases and a repeat of one id,
/// for comparing the inline and deferred aggregate paths.
fn mixed_batch(p: i64) -> Vec<NewEvent> {
    let mut out = Vec::new();
    for (i, label) in ["boom", "other", "boom", "boom", "other"]
        .iter()
        .enumerate()
    {
        let mut e = event(
            p,
            label,
            1_000 * (i as i64 + 1) + if i == 3 { HOUR_MS } else { 0 },
        );
        e.fields.user_key = Some(format!("id:{}", i % 3));
        e.fields.environment = Some(["production", "staging"][i % 2].to_owned());
        e.fields.release = (i != 2).then(|| format!("1.{i}"));
        e.fields.tags = vec![("browser".into(), ["firefox", "chrome"][i % 2].into())];
        if i == 3 {
            e.fields.level = Level::Fatal;
            e.fields.title = format!("{label} again");
        }
        out.push(e);
    }
    let repeat = out[1].clone();
    out.push(repeat);
    out
}

/// Everything a roll-up decides about an issue, keyed by its grouping hash.
async fn issue_state(s: &Store, p: i64) -> Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    let page = s
        .list_issues(&IssueQuery {
            sort: IssueSort::FirstSeen,
            ..IssueQuery::new(p)
        })
        .await?;
    for i in page.issues {
        out.push(json!({
            "fingerprint": i.fingerprint, "title": i.title, "level": i.level,
            "status": i.status.as_str(), "regression": i.is_regression, "count": i.count,
            "users": i.user_count, "first": i.first_seen_ms, "last": i.last_seen_ms,
            "release": i.last_release, "environments": i.environments,
            "tags": s.issue_tag_facets(i.id, 10).await?,
            "hourly": s.issue_hourly(i.id, 0).await?,
        }));
    }
    Ok(out)
}

async fn deferred_aggregates_match_inline(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let (inline, deferred) = (project(s).await?, project(s).await?);
    let first_inline = insert_one(s, event(inline, "boom", 0)).await?;
    let first = s
        .commit_batch(
            vec![event(deferred, "boom", 0)].into(),
            Aggregates::Deferred,
        )
        .await?;
    ensure!(first[0].new_issue && !first[0].duplicate);
    // Stored and counted as an event at once; its issue waits for the roll-up.
    ensure!(s.counts(Some(deferred)).await? == (1, 1));
    ensure!(s.issue(first[0].issue_id).await?.count == 0);
    ensure!(
        s.roll_up(100).await?
            == RollUp {
                events: 1,
                regressions: 0
            }
    );
    ensure!(s.issue(first[0].issue_id).await?.count == 1);

    // Both resolved, then the same mix: one regression each, through either path.
    s.set_issue_status(first_inline.issue_id, IssueStatus::Resolved)
        .await?;
    s.set_issue_status(first[0].issue_id, IssueStatus::Resolved)
        .await?;
    s.insert_events(&mixed_batch(inline)).await?;
    let out = s
        .commit_batch(mixed_batch(deferred).into(), Aggregates::Deferred)
        .await?;
    ensure!(out.iter().all(|o| !o.regression));
    ensure!(out.iter().filter(|o| o.duplicate).count() == 1);
    ensure!(out.iter().filter(|o| o.new_issue).count() == 1);
    // A small limit takes the oldest rows first and leaves the rest for the next roll-up.
    let a = s.roll_up(2).await?;
    let b = s.roll_up(100).await?;
    ensure!(a.events == 2 && b.events == 3, "{a:?} {b:?}");
    ensure!(a.regressions + b.regressions == 1);
    ensure!(s.roll_up(100).await?.events == 0);

    let (want, got) = (
        issue_state(s, inline).await?,
        issue_state(s, deferred).await?,
    );
    ensure!(
        want.len() == 2 && want == got,
        "inline {want:#?}\ndeferred {got:#?}"
    );
    // The same notifications (a deferred regression is written after the new issues).
    let outbox = s.pending_outbox(100).await?;
    let kinds = |p: i64| {
        let mut k: Vec<String> = outbox
            .iter()
            .filter(|o| o.project_id == p)
            .map(|o| format!("{:?}", o.kind))
            .collect();
        k.sort();
        k
    };
    let (want, got) = (kinds(inline), kinds(deferred));
    ensure!(want.len() == 3 && want == got, "{want:?} vs {got:?}");
    Ok(())
}

async fn deleting_an_issue_drops_its_pending_aggregates(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = project(s).await?;
    let out = s
        .commit_batch(
            vec![event(p, "gone", 0), event(p, "kept", 0)].into(),
            Aggregates::Deferred,
        )
        .await?;
    s.delete_issue(out[0].issue_id).await?;
    ensure!(
        s.roll_up(100).await?
            == RollUp {
                events: 1,
                regressions: 0
            }
    );
    ensure!(s.issue(out[1].issue_id).await?.count == 1);
    ensure!(matches!(
        s.issue(out[0].issue_id).await,
        Err(StoreError::NotFound)
    ));
    ensure!(
        matches!(
            s.delete_issue(out[0].issue_id).await,
            Err(StoreError::NotFound)
        ),
        "deleting a deleted issue is NotFound"
    );
    ensure!(
        s.issue(out[1].issue_id).await?.count == 1,
        "the other issue is untouched"
    );
    Ok(())
}

async fn connect_runs_migrations(ctx: Ctx) -> Result<()> {
    ctx.store.ping().await?;
    ensure!(ctx.store.counts(None).await? == (0, 0));
    // Connecting again finds the schema migrated and changes nothing.
    let again = ctx.second_store().await?;
    again.ping().await?;
    again.close().await;
    ensure!(ctx.store.list_projects().await?.is_empty());
    Ok(())
}

async fn projects_keys_and_tokens(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let a = s.create_project("alpha").await?;
    ensure!(a.public_key.len() == 32);
    ensure!(a
        .public_key
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    let b = s.create_project_with_key("beta", "publickey").await?;
    ensure!(b.public_key == "publickey");
    match s.create_project_with_key("gamma", "publickey").await {
        Err(StoreError::Conflict(_)) => {}
        other => bail!("expected a conflict, got {other:?}"),
    }
    let names: Vec<String> = s
        .list_projects()
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    ensure!(names == ["alpha", "beta"], "{names:?}");
    let got = s.project(b.id).await?;
    ensure!(got.name == "beta" && got.public_key == "publickey" && got.created_ms > 0);
    ensure!(matches!(s.project(9999).await, Err(StoreError::NotFound)));

    let info = s.key_info("publickey").await?.context("key missing")?;
    ensure!(info.project_id == b.id && info.key_active && info.project_active);
    ensure!(s.key_info("nope").await?.is_none());
    s.set_key_active("publickey", false).await?;
    ensure!(!s.key_info("publickey").await?.context("key")?.key_active);
    s.set_project_active(b.id, false).await?;
    let info = s.key_info("publickey").await?.context("key")?;
    ensure!(!info.key_active && !info.project_active);
    ensure!(matches!(
        s.set_key_active("nope", true).await,
        Err(StoreError::NotFound)
    ));
    ensure!(matches!(
        s.set_project_active(9999, true).await,
        Err(StoreError::NotFound)
    ));

    let token = s.create_token("ci").await?;
    ensure!(token.starts_with("errata_") && token.len() == 47, "{token}");
    ensure!(s.token_valid(&token).await?);
    ensure!(!s.token_valid("errata_0000").await?);
    ensure!(s.create_token("ci").await? != token);
    Ok(())
}

async fn new_event_creates_issue_and_outbox(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = project(s).await?;
    let e = event(p, "boom", 0);
    let out = insert_one(s, e.clone()).await?;
    ensure!(
        out.event_id == e.fields.event_id && out.new_issue && !out.duplicate && !out.regression
    );
    let issue = s.issue(out.issue_id).await?;
    ensure!(issue.project_id == p && issue.title == "boom happened");
    ensure!(issue.culprit.as_deref() == Some("app.boom") && issue.level == "error");
    ensure!(issue.status == IssueStatus::Unresolved && !issue.is_regression);
    ensure!(issue.count == 1 && issue.user_count == 0);
    ensure!(issue.first_seen_ms == T0 && issue.last_seen_ms == T0);
    ensure!(issue.fingerprint == e.grouping.hash && issue.grouping_kind == "message");
    ensure!(issue.environments.is_empty() && issue.last_release.is_none());
    let outbox = s.pending_outbox(10).await?;
    ensure!(outbox.len() == 1, "{outbox:?}");
    ensure!(outbox[0].kind == Trigger::NewIssue && outbox[0].issue_id == out.issue_id);
    ensure!(outbox[0].event_id == e.fields.event_id && outbox[0].state == "pending");
    ensure!(s.counts(Some(p)).await? == (1, 1));

    // Unknown project: the batch fails as a whole and leaves nothing behind.
    let err = s
        .insert_events(&[event(p, "x", 0), event(4242, "y", 0)])
        .await;
    ensure!(err.is_err(), "{err:?}");
    ensure!(s.counts(None).await? == (1, 1));
    Ok(())
}

async fn same_hash_joins_issue_and_updates_counters(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = project(s).await?;
    let mut first = event(p, "boom", 10_000);
    first.fields.user_key = Some("id:1".into());
    first.fields.environment = Some("production".into());
    first.fields.release = Some("1.0".into());
    let created = insert_one(s, first).await?;

    // One batch: an older event, a newer one, and a second issue in between.
    let mut older = event(p, "boom", 0);
    older.fields.user_key = Some("id:1".into());
    older.fields.environment = Some("staging".into());
    let mut newer = event(p, "boom", 20_000);
    newer.fields.user_key = Some("id:2".into());
    newer.fields.environment = Some("production".into());
    newer.fields.release = Some("1.1".into());
    newer.fields.level = Level::Fatal;
    newer.fields.title = "boom happened again".into();
    let other = event(p, "other", 5_000);
    let out = s.insert_events(&[older, other, newer]).await?;
    ensure!(out.len() == 3);
    ensure!(out[0].issue_id == created.issue_id && out[2].issue_id == created.issue_id);
    ensure!(out[1].issue_id != created.issue_id && out[1].new_issue);
    ensure!(!out[0].new_issue && !out[2].new_issue && out.iter().all(|o| !o.duplicate));

    let issue = s.issue(created.issue_id).await?;
    ensure!(issue.count == 3, "count {}", issue.count);
    ensure!(issue.user_count == 2, "users {}", issue.user_count);
    ensure!(issue.first_seen_ms == T0 && issue.last_seen_ms == T0 + 20_000);
    ensure!(
        issue.environments == ["production", "staging"],
        "{:?}",
        issue.environments
    );
    ensure!(issue.last_release.as_deref() == Some("1.1"));
    ensure!(issue.level == "fatal" && issue.title == "boom happened again");
    ensure!(s.counts(Some(p)).await? == (4, 2));
    ensure!(s.pending_outbox(10).await?.len() == 2);

    // A late event changes counters, not the newest event's display fields.
    let mut late = event(p, "boom", -50_000);
    late.fields.user_key = Some("id:3".into());
    late.fields.title = "ancient".into();
    insert_one(s, late).await?;
    let issue = s.issue(created.issue_id).await?;
    ensure!(issue.count == 4 && issue.user_count == 3);
    ensure!(issue.first_seen_ms == T0 - 50_000 && issue.last_seen_ms == T0 + 20_000);
    ensure!(issue.title == "boom happened again");
    Ok(())
}

/// A batch bigger than one lookup chunk, mixing known hashes (in another order than they
/// were created) with new ones: every event joins the issue of its own hash.
async fn large_batch_joins_each_event_to_its_issue(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = project(s).await?;
    let labels: Vec<String> = (0..40).map(|i| format!("issue-{i}")).collect();
    let first: Vec<NewEvent> = labels.iter().map(|l| event(p, l, 0)).collect();
    let created = s.insert_events(&first).await?;
    ensure!(created.iter().all(|o| o.new_issue));
    let issue_of: std::collections::HashMap<&str, i64> = labels
        .iter()
        .map(String::as_str)
        .zip(created.iter().map(|o| o.issue_id))
        .collect();
    ensure!(issue_of.values().collect::<BTreeSet<_>>().len() == 40);

    let mut second: Vec<String> = labels.iter().rev().cloned().collect();
    second.extend((0..5).map(|i| format!("fresh-{i}")));
    let batch: Vec<NewEvent> = second.iter().map(|l| event(p, l, 1_000)).collect();
    let out = s.insert_events(&batch).await?;
    ensure!(out.len() == 45);
    for (label, o) in second.iter().zip(&out) {
        match issue_of.get(label.as_str()) {
            Some(&id) => ensure!(o.issue_id == id && !o.new_issue, "{label}: {o:?}"),
            None => ensure!(o.new_issue, "{label}: {o:?}"),
        }
    }
    ensure!(s.counts(Some(p)).await? == (85, 45));
    ensure!(s.issue(issue_of["issue-7"]).await?.count == 2);
    Ok(())
}

async fn duplicate_event_changes_nothing(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = project(s).await?;
    let mut e = event(p, "boom", 0);
    e.fields.tags = vec![("browser".into(), "firefox".into())];
    e.fields.user_key = Some("id:1".into());
    let first = insert_one(s, e.clone()).await?;
    let before = (s.counts(None).await?, s.issue(first.issue_id).await?);
    let facets_before = s.issue_tag_facets(first.issue_id, 10).await?;
    let hourly_before = s.issue_hourly(first.issue_id, 0).await?;

    // Same id again, even with another hash and later timestamp: a duplicate.
    let mut again = e.clone();
    again.grouping = grouping("something else");
    again.fields.timestamp_ms += 1_000_000;
    let out = insert_one(s, again).await?;
    ensure!(out.duplicate && !out.new_issue && !out.regression);
    ensure!(out.issue_id == first.issue_id);
    // Repeated inside one batch, next to a fresh event.
    let fresh = event(p, "boom", 1);
    let out = s
        .insert_events(&[e.clone(), fresh.clone(), fresh.clone()])
        .await?;
    ensure!(out[0].duplicate && !out[1].duplicate && out[2].duplicate);
    ensure!(out.iter().all(|o| o.issue_id == first.issue_id));

    let issue = s.issue(first.issue_id).await?;
    ensure!(issue.count == before.1.count + 1);
    ensure!(s.counts(None).await? == (before.0 .0 + 1, before.0 .1));
    ensure!(s.pending_outbox(10).await?.len() == 1);
    // Nothing of the duplicates was counted: only the fresh event moved the counters.
    let facets = s.issue_tag_facets(first.issue_id, 10).await?;
    let browser = facets
        .iter()
        .find(|(k, _)| k == "browser")
        .context("browser facet")?;
    ensure!(
        browser.1 == [("firefox".to_owned(), 1)],
        "{facets:?} vs {facets_before:?}"
    );
    let hourly: i64 = s
        .issue_hourly(first.issue_id, 0)
        .await?
        .iter()
        .map(|h| h.1)
        .sum();
    ensure!(hourly == 2 && hourly_before.iter().map(|h| h.1).sum::<i64>() == 1);
    ensure!(issue.user_count == 1);
    Ok(())
}

async fn resolve_then_event_is_regression(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = project(s).await?;
    let id = insert_one(s, event(p, "boom", 0)).await?.issue_id;
    let resolved = s.set_issue_status(id, IssueStatus::Resolved).await?;
    ensure!(resolved.status == IssueStatus::Resolved && resolved.resolved_ms.is_some());
    ensure!(matches!(
        s.set_issue_status(9999, IssueStatus::Resolved).await,
        Err(StoreError::NotFound)
    ));

    let regress = event(p, "boom", 1_000);
    let out = s
        .insert_events(&[regress.clone(), event(p, "boom", 2_000)])
        .await?;
    ensure!(out[0].regression && !out[1].regression && !out[0].new_issue);
    let issue = s.issue(id).await?;
    ensure!(issue.status == IssueStatus::Unresolved && issue.is_regression);
    ensure!(issue.resolved_ms.is_none() && issue.count == 3);
    let outbox = s.pending_outbox(10).await?;
    let kinds: Vec<Trigger> = outbox.iter().map(|o| o.kind).collect();
    ensure!(
        kinds == [Trigger::NewIssue, Trigger::Regression],
        "{kinds:?}"
    );
    ensure!(outbox[1].event_id == regress.fields.event_id && outbox[1].issue_id == id);

    // Still open: further events are no regression.
    ensure!(!insert_one(s, event(p, "boom", 3_000)).await?.regression);
    // Resolving again clears the flag; a manual reopen is no regression.
    let again = s.set_issue_status(id, IssueStatus::Resolved).await?;
    ensure!(!again.is_regression);
    let reopened = s.set_issue_status(id, IssueStatus::Unresolved).await?;
    ensure!(!reopened.is_regression && reopened.resolved_ms.is_none());
    ensure!(s.pending_outbox(10).await?.len() == 2);

    // `is:regressed` finds regressed issues only.
    let other = insert_one(s, event(p, "other", 0)).await?.issue_id;
    s.set_issue_status(id, IssueStatus::Resolved).await?;
    insert_one(s, event(p, "boom", 4_000)).await?;
    let regressed = s
        .list_issues(&IssueQuery {
            regressed: true,
            ..IssueQuery::new(p)
        })
        .await?;
    let ids: Vec<i64> = regressed.issues.iter().map(|i| i.id).collect();
    ensure!(ids == [id] && other != id, "{ids:?}");
    Ok(())
}

async fn ignored_issue_stays_ignored(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = project(s).await?;
    let id = insert_one(s, event(p, "boom", 0)).await?.issue_id;
    s.set_issue_status(id, IssueStatus::Ignored).await?;
    let out = insert_one(s, event(p, "boom", 1_000)).await?;
    ensure!(!out.regression && !out.new_issue);
    let issue = s.issue(id).await?;
    ensure!(issue.status == IssueStatus::Ignored && !issue.is_regression && issue.count == 2);
    ensure!(s.pending_outbox(10).await?.len() == 1);
    Ok(())
}

async fn list_issues_filters_sorts_and_pages(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = project(s).await?;
    let other_project = project(s).await?;
    // 23 issues: issue k has k+1 events, last seen at k minutes, users k % 4 + 1.
    let mut ids = Vec::new();
    for k in 0..23_i64 {
        let label = format!("Issue{k:02}");
        let mut batch = Vec::new();
        for n in 0..=k {
            let mut e = event(p, &label, k * 60_000 - n);
            e.fields.user_key = Some(format!("u{}", n % (k % 4 + 1)));
            e.fields.release = Some(if k % 2 == 0 { "even" } else { "odd" }.to_owned());
            e.fields.environment = Some(if k < 5 { "staging" } else { "production" }.to_owned());
            e.fields.tags = vec![("shard".into(), format!("s{}", k % 3))];
            if k == 7 {
                e.fields.level = Level::Warning;
                e.fields.culprit = Some("Payments.Charge".into());
            }
            batch.push(e);
        }
        ids.push(s.insert_events(&batch).await?[0].issue_id);
    }
    insert_one(s, event(other_project, "Issue00", 0)).await?;

    let all = |sort| {
        let mut q = IssueQuery::new(p);
        q.sort = sort;
        q
    };
    // Walk every sort in pages of 5: all 23 issues, each once, in order.
    for sort in [
        IssueSort::LastSeen,
        IssueSort::FirstSeen,
        IssueSort::Count,
        IssueSort::Users,
    ] {
        let mut q = all(sort);
        q.limit = 5;
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = s.list_issues(&q).await?;
            pages += 1;
            ensure!(page.issues.len() <= 5);
            seen.extend(page.issues);
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        ensure!(pages == 5, "{sort:?}: {pages} pages");
        let unique: BTreeSet<i64> = seen.iter().map(|i| i.id).collect();
        ensure!(
            seen.len() == 23 && unique.len() == 23,
            "{sort:?}: {}",
            seen.len()
        );
        let keys: Vec<(i64, i64)> = seen
            .iter()
            .map(|i| {
                let v = match sort {
                    IssueSort::LastSeen => i.last_seen_ms,
                    IssueSort::FirstSeen => i.first_seen_ms,
                    IssueSort::Count => i.count,
                    IssueSort::Users => i.user_count,
                };
                (v, i.id)
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        ensure!(keys == sorted, "{sort:?} out of order");
    }
    let top = s.list_issues(&all(IssueSort::Count)).await?;
    ensure!(top.issues[0].id == ids[22] && top.issues[0].count == 23);
    ensure!(top.next_cursor.is_none() && top.issues.len() == 23);

    let count =
        |q: IssueQuery| async move { Ok::<_, anyhow::Error>(s.list_issues(&q).await?.issues) };
    let mut q = all(IssueSort::LastSeen);
    q.release = Some("odd".into());
    ensure!(count(q).await?.len() == 11);
    let mut q = all(IssueSort::LastSeen);
    q.environment = Some("staging".into());
    ensure!(count(q).await?.len() == 5);
    let mut q = all(IssueSort::LastSeen);
    q.level = Some(Level::Warning);
    let warn = count(q).await?;
    ensure!(warn.len() == 1 && warn[0].id == ids[7]);
    let mut q = all(IssueSort::LastSeen);
    q.query = Some("payments.CHARGE".into());
    let found = count(q).await?;
    ensure!(found.len() == 1 && found[0].id == ids[7], "{found:?}");
    let mut q = all(IssueSort::LastSeen);
    q.query = Some("ISSUE1".into());
    ensure!(count(q).await?.len() == 10);
    let mut q = all(IssueSort::LastSeen);
    q.tags = vec![("shard".into(), "s1".into())];
    q.release = Some("even".into());
    // k % 3 == 1 and k even: 4, 10, 16, 22.
    ensure!(count(q).await?.len() == 4);
    let mut q = all(IssueSort::LastSeen);
    q.tags = vec![("shard".into(), "nope".into())];
    ensure!(count(q).await?.is_empty());

    s.set_issue_status(ids[3], IssueStatus::Resolved).await?;
    let mut q = all(IssueSort::LastSeen);
    q.status = Some(IssueStatus::Resolved);
    let resolved = count(q).await?;
    ensure!(resolved.len() == 1 && resolved[0].id == ids[3]);
    let mut q = all(IssueSort::LastSeen);
    q.status = Some(IssueStatus::Unresolved);
    ensure!(count(q).await?.len() == 22);

    for bad in ["garbage", "ls:1:x", "c:5:5"] {
        let mut q = all(IssueSort::LastSeen);
        q.cursor = Some(bad.into());
        ensure!(
            matches!(s.list_issues(&q).await, Err(StoreError::InvalidCursor(_))),
            "{bad}"
        );
    }
    Ok(())
}

async fn concurrent_first_events_make_one_issue(ctx: Ctx) -> Result<()> {
    let p = project(&ctx.store).await?;
    let second = ctx.second_store().await?;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..8 {
        // Alternate pools, so on PostgreSQL two clients race like two processes would.
        let store = if t % 2 == 0 {
            ctx.store.clone()
        } else {
            second.clone()
        };
        tasks.spawn(async move {
            let mut total = 0;
            for round in 0..3 {
                let batch: Vec<NewEvent> = (0..10)
                    .map(|n| {
                        let mut e = event(p, "race", t * 1000 + round * 100 + n);
                        e.fields.user_key = Some(format!("user{}", n % 5));
                        e.fields.tags = vec![("task".into(), format!("t{t}"))];
                        e
                    })
                    .collect();
                let out = store.insert_events(&batch).await?;
                total += out.iter().filter(|o| !o.duplicate).count();
            }
            Ok::<_, StoreError>(total)
        });
    }
    let mut stored = 0;
    while let Some(res) = tasks.join_next().await {
        stored += res??;
    }
    second.close().await;
    ensure!(stored == 240, "stored {stored}");
    let (events, issues) = ctx.store.counts(Some(p)).await?;
    ensure!(
        (events, issues) == (240, 1),
        "events {events}, issues {issues}"
    );
    let page = ctx.store.list_issues(&IssueQuery::new(p)).await?;
    let issue = &page.issues[0];
    ensure!(issue.count == 240 && issue.user_count == 5, "{issue:?}");
    let outbox = ctx.store.pending_outbox(100).await?;
    ensure!(
        outbox.len() == 1 && outbox[0].kind == Trigger::NewIssue,
        "{outbox:?}"
    );
    let facets = ctx.store.issue_tag_facets(issue.id, 100).await?;
    let tasks_facet = facets
        .iter()
        .find(|(k, _)| k == "task")
        .context("task facet")?;
    ensure!(tasks_facet.1.len() == 8 && tasks_facet.1.iter().all(|(_, c)| *c == 30));
    let hourly: i64 = ctx
        .store
        .issue_hourly(issue.id, 0)
        .await?
        .iter()
        .map(|h| h.1)
        .sum();
    ensure!(hourly == 240);
    Ok(())
}

async fn events_read_back_with_payload(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = project(s).await?;
    let payload = json!({
        "message": "héllo wörld",
        "exception": {"values": [{"type": "ValueError", "value": "x".repeat(5000)}]},
        "extra": {"n": 1.5, "nested": [null, true, {"k": "v"}]},
    });
    let mut e = event(p, "boom", 0);
    e.payload = encode_payload(&payload);
    e.fields.release = Some("2.0".into());
    e.fields.environment = Some("prod".into());
    e.fields.user_key = Some("email:a@example.com".into());
    ensure!(
        e.payload.len() < 1000,
        "payload not compressed: {}",
        e.payload.len()
    );
    ensure!(decode_payload(&e.payload)? == payload);
    let out = insert_one(s, e.clone()).await?;

    let stored = s.event(p, &e.fields.event_id).await?;
    ensure!(stored.payload == payload);
    ensure!(
        stored.summary.event_id == e.fields.event_id && stored.summary.issue_id == out.issue_id
    );
    ensure!(
        stored.summary.timestamp_ms == e.fields.timestamp_ms
            && stored.summary.received_ms == e.fields.received_ms
    );
    ensure!(stored.summary.level == "error" && stored.summary.platform == "python");
    ensure!(
        stored.summary.release.as_deref() == Some("2.0")
            && stored.summary.environment.as_deref() == Some("prod")
    );
    ensure!(stored.user_key.as_deref() == Some("email:a@example.com"));
    ensure!(stored.grouping_version == "v1" && stored.grouping_kind == "message");
    ensure!(stored.grouping_hash == e.grouping.hash && stored.grouping_values == e.grouping.values);
    ensure!(matches!(
        s.event(p + 1, &e.fields.event_id).await,
        Err(StoreError::NotFound)
    ));
    ensure!(matches!(
        s.event(p, &EventId::new_random()).await,
        Err(StoreError::NotFound)
    ));

    // Seven more events of the issue; list them newest first, 3 per page.
    let mut all = vec![e.fields.event_id];
    for n in 1..8 {
        let e = event(p, "boom", n);
        all.push(e.fields.event_id);
        insert_one(s, e).await?;
    }
    let latest = s.latest_event(out.issue_id).await?;
    ensure!(latest.summary.event_id == all[7]);
    ensure!(matches!(
        s.latest_event(9999).await,
        Err(StoreError::NotFound)
    ));
    let mut listed = Vec::new();
    let mut cursor = None;
    loop {
        let page = s.issue_events(out.issue_id, 3, cursor.as_deref()).await?;
        ensure!(page.events.iter().all(|ev| ev.issue_id == out.issue_id));
        listed.extend(page.events.iter().map(|ev| ev.event_id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    all.reverse();
    ensure!(listed == all);
    ensure!(matches!(
        s.issue_events(out.issue_id, 3, Some("abc")).await,
        Err(StoreError::InvalidCursor(_))
    ));
    ensure!(s.issue_events(9999, 3, None).await?.events.is_empty());
    Ok(())
}

async fn facets_and_hourly_counts(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = project(s).await?;
    let mut batch = Vec::new();
    for n in 0..6_i64 {
        let mut e = event(p, "boom", n * HOUR_MS / 2);
        e.fields.tags = vec![
            (
                "browser".into(),
                if n < 4 { "firefox" } else { "chrome" }.into(),
            ),
            ("os".into(), format!("os{n}")),
            // A repeated key counts once per event, first value wins.
            ("browser".into(), "ignored".into()),
        ];
        e.fields.release = Some("1.0".into());
        e.fields.environment = Some(if n % 2 == 0 { "prod" } else { "dev" }.into());
        batch.push(e);
    }
    let id = s.insert_events(&batch).await?[0].issue_id;
    let facets = s.issue_tag_facets(id, 2).await?;
    let keys: Vec<&str> = facets.iter().map(|(k, _)| k.as_str()).collect();
    ensure!(
        keys == ["browser", "environment", "level", "os", "release"],
        "{keys:?}"
    );
    ensure!(facets[0].1 == [("firefox".to_owned(), 4), ("chrome".to_owned(), 2)]);
    ensure!(facets[1].1 == [("dev".to_owned(), 3), ("prod".to_owned(), 3)]);
    ensure!(facets[2].1 == [("error".to_owned(), 6)]);
    ensure!(facets[3].1.len() == 2, "top_n not applied: {:?}", facets[3]);

    // Event times T0 + 0, 30, 60, 90, 120, 150 minutes.
    let hour0 = T0.div_euclid(HOUR_MS) * HOUR_MS;
    let hourly = s.issue_hourly(id, 0).await?;
    let total: i64 = hourly.iter().map(|h| h.1).sum();
    ensure!(total == 6 && hourly.iter().all(|(h, _)| h % HOUR_MS == 0));
    ensure!(hourly.first().map(|h| h.0) == Some(hour0), "{hourly:?}");
    let recent = s.issue_hourly(id, T0 + 2 * HOUR_MS).await?;
    ensure!(
        recent.iter().all(|(h, _)| *h >= hour0 + HOUR_MS),
        "{recent:?}"
    );
    ensure!(s.issue_hourly(9999, 0).await?.is_empty());
    Ok(())
}
