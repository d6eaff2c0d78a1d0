//! The data lifecycle (`src/retention`): each rule on SQLite and PostgreSQL with the clock
//! given to the pass (age, cap per issue, disk budget, totals unchanged, discard, project
//! delete, pending aggregates), and over HTTP: quotas, discard at ingest, the API.

use std::collections::BTreeSet;

use anyhow::{ensure, Context, Result};
use errata_server::clock::{DAY_MS, HOUR_MS};
use errata_server::jobs::RunOutcome;
use errata_server::normalize::EventFields;
use errata_server::protocol::{EventId, Level};
use errata_server::retention::{self, run_pass, Mode, RetentionConfig};
use errata_server::store::{
    encode_payload, Aggregates, IssueQuery, IssueSort, IssueStatus, Limit, NewEvent, Store,
};
use errata_server::triage::{Actor, Condition, StatusDetails};
use serde_json::{json, Value};

use crate::store::{grouping, Ctx};

const T0: i64 = 1_700_000_000_000;

macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    crate::store::run_sqlite(super::$name).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    crate::store::run_postgres(super::$name).await
                }
            )*
        }
    };
}

both_engines!(
    age_deletes_old_events_and_idle_issues,
    cap_keeps_the_first_and_the_newest_events,
    budget_prunes_the_oldest_events_until_under_it,
    discard_deletes_the_issue_and_records_its_hashes,
    project_delete_removes_everything_it_owns,
    pending_aggregates_are_never_pruned,
    one_cap_step_covers_many_issues_and_resumes_a_large_one,
    idle_tag_values_fold_into_their_key,
    retiring_while_events_arrive_keeps_totals_exact,
    idle_users_are_forgotten_and_count_again,
    forgotten_users_lower_an_ignores_target,
    idle_rows_of_many_issues_go_in_steps_across_them,
);

/// An event of `project` grouped under `label`, received at `received_ms`, with a payload of
/// about `padding` incompressible bytes.
fn event(project: i64, label: &str, received_ms: i64, padding: usize) -> NewEvent {
    let noise: String = (0..padding / 2)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let payload = json!({"message": format!("{label} happened"), "extra": {"noise": noise}});
    NewEvent {
        project_id: project,
        fields: EventFields {
            event_id: EventId::new_random(),
            timestamp_ms: received_ms - 5,
            received_ms,
            level: Level::Error,
            platform: "python".to_owned(),
            title: format!("{label} happened"),
            culprit: None,
            release: Some("1.0".to_owned()),
            environment: Some("production".to_owned()),
            user_key: Some(format!("id:{}", received_ms % 3)),
            tags: vec![("browser".into(), "firefox".into())],
        },
        grouping: grouping(label),
        payload: encode_payload(&payload),
    }
}

fn config() -> RetentionConfig {
    RetentionConfig {
        days: 0,
        max_events_per_issue: 0,
        max_database_bytes: None,
        batch_size: 7,
        ..RetentionConfig::default()
    }
}

async fn pass(
    s: &Store,
    c: &RetentionConfig,
    now: i64,
) -> Result<errata_server::store::RetentionRun> {
    Ok(run_pass(s, c, now, Mode::Exact, &|| false).await?)
}

/// One pass of the idle job at `now` under an age of 90 days, in steps of `batch` rows.
async fn retire(s: &Store, batch: usize, now: i64) -> Result<retention::idle::Retired> {
    let c = RetentionConfig {
        days: 90,
        batch_size: batch,
        ..config()
    };
    Ok(retention::idle::retire_idle(s, &c, now, &|| false).await?)
}

/// Everything an issue shows that must survive pruning, by title.
async fn totals(s: &Store, project: i64) -> Result<Vec<Value>> {
    let page = s
        .list_issues(&IssueQuery {
            sort: IssueSort::FirstSeen,
            ..IssueQuery::new(project)
        })
        .await?;
    let mut out = Vec::new();
    for i in page.issues {
        out.push(json!({
            "title": i.title, "count": i.count, "users": i.user_count,
            "first": i.first_seen_ms, "last": i.last_seen_ms,
            "tags": s.issue_tag_facets(i.id, 10).await?,
            "hourly": s.issue_hourly(i.id, 0).await?,
        }));
    }
    Ok(out)
}

/// The issue's stored events, oldest first.
async fn stored(s: &Store, issue_id: i64) -> Result<Vec<EventId>> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = s.issue_events(issue_id, 100, cursor.as_deref()).await?;
        all.extend(page.events.iter().map(|e| e.event_id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    all.reverse();
    Ok(all)
}

/// Inserts one event per transaction, so that arrival order (`event_pk`) is list order.
async fn insert(s: &Store, events: &[NewEvent]) -> Result<Vec<i64>> {
    let mut issues = Vec::new();
    for e in events {
        issues.extend(
            s.insert_events(std::slice::from_ref(e))
                .await?
                .iter()
                .map(|o| o.issue_id),
        );
    }
    Ok(issues)
}

async fn age_deletes_old_events_and_idle_issues(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = s.create_project("app").await?.id;
    let short = s.create_project("short").await?.id;
    s.set_project_limit(short, Limit::RetentionDays, Some(1))
        .await?;
    let now = T0 + 100 * DAY_MS;
    // "live" has old and new events; "gone" only old ones; "short" keeps one day.
    let mut events = vec![
        event(p, "live", T0, 100),
        event(p, "gone", T0 + HOUR_MS, 100),
    ];
    let fresh: Vec<NewEvent> = (0..3)
        .map(|i| event(p, "live", now - DAY_MS + i, 100))
        .collect();
    events.extend(fresh.iter().cloned());
    events.push(event(short, "brief", now - 2 * DAY_MS, 100));
    events.push(event(short, "brief", now - HOUR_MS, 100));
    let issues = insert(s, &events).await?;
    let before = totals(s, p).await?;
    let c = RetentionConfig {
        days: 90,
        ..config()
    };

    let run = pass(s, &c, now).await?;
    ensure!(run.deleted_age == 3, "{run:?}");
    ensure!(run.deleted_issues == 1, "the idle issue goes: {run:?}");
    ensure!(
        stored(s, issues[2]).await? == fresh.iter().map(|e| e.fields.event_id).collect::<Vec<_>>(),
        "the recent events stay"
    );
    ensure!(s.issue(issues[1]).await.is_err(), "the idle issue is gone");
    ensure!(
        stored(s, issues[5]).await?.len() == 1,
        "a project's own retention"
    );
    // Totals of the surviving issue count every event ever received.
    let after = totals(s, p).await?;
    ensure!(
        after.len() == 1 && after[0] == before[1],
        "{after:?} vs {before:?}"
    );
    ensure!(after[0]["count"] == 4);
    // The pass is recorded, and a second pass finds nothing.
    ensure!(s.retention_runs(1).await?[0].deleted_age == 3);
    let again = pass(s, &c, now).await?;
    ensure!(again.deleted_age + again.deleted_issues == 0, "{again:?}");
    Ok(())
}

async fn idle_tag_values_fold_into_their_key(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = s.create_project("app").await?.id;
    let now = T0 + 100 * DAY_MS;
    let tagged = |received_ms: i64, request: &str, release: &str| {
        let mut e = event(p, "live", received_ms, 10);
        e.fields.tags = vec![
            ("request".into(), request.into()),
            ("browser".into(), "firefox".into()),
        ];
        e.fields.release = Some(release.to_owned());
        e
    };
    // One request id per event: three long ago, one recent.
    let events = [
        tagged(T0, "a", "1.0"),
        tagged(T0 + 1, "b", "1.0"),
        tagged(T0 + 2, "c", "1.0"),
        tagged(now - DAY_MS, "d", "2.0"),
    ];
    let issue = insert(s, &events).await?[0];
    let totals = s.issue_tag_key_totals(issue).await?;
    ensure!(totals.get("request") == Some(&4), "{totals:?}");
    // Steps of two rows: the three idle values take two.
    let fold = |at: i64| async move { anyhow::Ok(retire(s, 2, at).await?.tag_values) };
    ensure!(fold(now).await? == 3, "a, b and c fold");
    let values = |key: &'static str| async move {
        let facets = s.issue_tag_facets(issue, 10).await?;
        anyhow::Ok(
            facets
                .into_iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_default(),
        )
    };
    ensure!(values("request").await? == [("d".to_owned(), 1)]);
    ensure!(values("browser").await? == [("firefox".to_owned(), 4)]);
    ensure!(
        values("release").await? == [("1.0".to_owned(), 3), ("2.0".to_owned(), 1)],
        "release values are never folded"
    );
    ensure!(
        s.issue_tag_key_totals(issue).await? == totals,
        "key totals count the folded values"
    );
    let found = |value: &str| {
        let q = IssueQuery {
            tags: vec![("request".to_owned(), value.to_owned())],
            ..IssueQuery::new(p)
        };
        async move { anyhow::Ok(s.list_issues(&q).await?.issues.len()) }
    };
    ensure!(found("a").await? == 0 && found("d").await? == 1);
    ensure!(found("").await? == 0, "the remainder is not a value");
    ensure!(fold(now).await? == 0, "nothing left, the remainder stays");
    // A folded value seen again counts anew; folding later adds to the remainder.
    insert(s, &[tagged(now, "a", "2.0")]).await?;
    ensure!(values("request").await? == [("a".to_owned(), 1), ("d".to_owned(), 1)]);
    ensure!(fold(now + 95 * DAY_MS).await? == 3, "a, d and firefox fold");
    let facets = s.issue_tag_facets(issue, 10).await?;
    ensure!(
        facets.contains(&("request".to_owned(), vec![])),
        "a key whose every value folded stays, with none: {facets:?}"
    );
    let later = s.issue_tag_key_totals(issue).await?;
    ensure!(later.get("request") == Some(&5) && later.get("browser") == Some(&5));
    ensure!(later.get("release") == Some(&5), "{later:?}");
    Ok(())
}

/// An event of issue "live" received at `received_ms` whose one tag is `request`, from user
/// `id:{request}`.
fn with_request(project: i64, received_ms: i64, request: String) -> NewEvent {
    let mut e = event(project, "live", received_ms, 10);
    e.fields.user_key = Some(format!("id:{request}"));
    e.fields.tags = vec![("request".into(), request)];
    e
}

async fn retiring_while_events_arrive_keeps_totals_exact(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = s.create_project("app").await?.id;
    let now = T0 + 100 * DAY_MS;
    let old: Vec<NewEvent> = (0..200)
        .map(|i| with_request(p, T0 + i, format!("v{}", i % 40)))
        .collect();
    let issue = s.insert_events(&old).await?[0].issue_id;
    // While retiring runs, the same values and users keep arriving: the even ones in old
    // events, the odd ones in new events, which take their rows out of reach (or start them
    // again).
    let arrivals = {
        let s = s.clone();
        tokio::spawn(async move {
            let mut arrived = 0;
            for round in 0..40 {
                let batch: Vec<NewEvent> = (0..10)
                    .map(|i| {
                        let at = if i % 2 == 0 {
                            T0 + 1000 + round
                        } else {
                            now - HOUR_MS
                        };
                        with_request(p, at, format!("v{}", (round * 10 + i) % 40))
                    })
                    .collect();
                arrived += s.insert_events(&batch).await?.len();
            }
            anyhow::Ok(arrived)
        })
    };
    let (mut folded, mut forgot) = (0, 0);
    loop {
        let finished = arrivals.is_finished();
        let retired = retire(s, 3, now).await?;
        folded += retired.tag_values;
        forgot += retired.users;
        if finished {
            break;
        }
    }
    let arrived = arrivals.await??;
    ensure!(folded >= 20, "at least the even values folded: {folded}");
    ensure!(
        forgot >= 20,
        "at least the even users were forgotten: {forgot}"
    );
    ensure!(
        users_of(s, p).await? == 20,
        "exactly the odd users, seen lately, are counted"
    );
    let totals = s.issue_tag_key_totals(issue).await?;
    let events = 200 + i64::try_from(arrived)?;
    ensure!(
        totals.get("request") == Some(&events),
        "{totals:?} for {events} events"
    );
    let facets = s.issue_tag_facets(issue, 100).await?;
    let left: BTreeSet<String> = facets
        .into_iter()
        .filter(|(k, _)| k == "request")
        .flat_map(|(_, values)| values.into_iter().map(|(v, _)| v))
        .collect();
    let recent: BTreeSet<String> = (0..40)
        .filter(|i| i % 2 == 1)
        .map(|i| format!("v{i}"))
        .collect();
    ensure!(left == recent, "only the values seen lately stay: {left:?}");
    Ok(())
}

/// The issue "live"'s `user_count`.
async fn users_of(s: &Store, project: i64) -> Result<i64> {
    let page = s.list_issues(&IssueQuery::new(project)).await?;
    let issue = page.issues.first().context("no issue")?;
    Ok(issue.user_count)
}

/// An event of issue "live" received at `received_ms` from user `id:{user}`.
fn from_user(project: i64, received_ms: i64, user: &str) -> NewEvent {
    let mut e = event(project, "live", received_ms, 10);
    e.fields.user_key = Some(format!("id:{user}"));
    e
}

async fn idle_users_are_forgotten_and_count_again(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = s.create_project("app").await?.id;
    let now = T0 + 100 * DAY_MS;
    let events = [
        from_user(p, T0, "a"),
        from_user(p, T0 + 1, "b"),
        from_user(p, T0 + 2, "c"),
        from_user(p, now - DAY_MS, "d"),
    ];
    insert(s, &events).await?;
    ensure!(users_of(s, p).await? == 4);
    let forget = |at: i64| async move { anyhow::Ok(retire(s, 2, at).await?.users) };
    ensure!(
        forget(now).await? == 3,
        "a, b and c are forgotten, in two steps"
    );
    ensure!(users_of(s, p).await? == 1, "only d was seen within 90 days");
    ensure!(forget(now).await? == 0);
    // A forgotten user seen again counts again; a known one seen on a later day does not,
    // and its last day moves on.
    insert(s, &[from_user(p, now, "a"), from_user(p, now, "d")]).await?;
    ensure!(users_of(s, p).await? == 2, "a counts again, d is not new");
    // 90 days less a few hours on: d's first day is past the cutoff, its last day is not.
    let later = now + 90 * DAY_MS - 6 * HOUR_MS;
    let kept = now.div_euclid(DAY_MS) == (later - 90 * DAY_MS).div_euclid(DAY_MS);
    ensure!(kept, "the test's times straddle a day: pick another T0");
    ensure!(forget(later).await? == 0, "d's last day moved on");
    ensure!(forget(now + 92 * DAY_MS).await? == 2);
    ensure!(users_of(s, p).await? == 0);
    Ok(())
}

async fn forgotten_users_lower_an_ignores_target(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = s.create_project("app").await?.id;
    let now = T0 + 100 * DAY_MS;
    // Two users idle for 100 days, one seen yesterday.
    let events: Vec<NewEvent> = [(T0, "a"), (T0 + 1, "b"), (now - DAY_MS, "c")]
        .into_iter()
        .map(|(at, user)| from_user(p, at, user))
        .collect();
    let issue = insert(s, &events).await?[0];
    let until_two_more = Some(Condition::IgnoreUsers(2));
    let tests = Actor::token(0, "tests");
    s.change_status(issue, IssueStatus::Ignored, until_two_more, &tests, now)
        .await?;
    ensure!(retire(s, 10, now).await?.users == 2);
    let details = s.issue(issue).await?.status_details;
    ensure!(
        details
            == Some(StatusDetails::IgnoreUsers {
                users: 2,
                until_users: 3
            }),
        "the target drops with the count: {details:?}"
    );
    insert(s, &[from_user(p, now, "d")]).await?;
    ensure!(s.issue(issue).await?.status == IssueStatus::Ignored);
    insert(s, &[from_user(p, now, "e")]).await?;
    let reopened = s.issue(issue).await?;
    ensure!(
        reopened.status == IssueStatus::Unresolved,
        "two users after the ignore end it: {reopened:?}"
    );
    Ok(())
}

async fn idle_rows_of_many_issues_go_in_steps_across_them(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = s.create_project("app").await?.id;
    let now = T0 + 100 * DAY_MS;
    // Three issues, five users and request ids each: the even ones idle, the odd ones kept,
    // so that every read passes kept rows and steps of two rows span issues.
    let mut events = Vec::new();
    for label in ["x", "y", "z"] {
        for i in 0..5 {
            let at = if i % 2 == 0 { T0 + i } else { now - HOUR_MS };
            let mut e = event(p, label, at, 10);
            e.fields.user_key = Some(format!("id:{label}{i}"));
            e.fields.tags = vec![("request".into(), format!("{label}{i}"))];
            events.push(e);
        }
    }
    insert(s, &events).await?;
    let retired = retire(s, 2, now).await?;
    ensure!(retired.users == 9 && retired.tag_values == 9, "{retired:?}");
    let page = s.list_issues(&IssueQuery::new(p)).await?;
    ensure!(page.issues.len() == 3);
    for issue in page.issues {
        ensure!(issue.user_count == 2, "{issue:?}");
        let label = issue.title.split(' ').next().context("title")?.to_owned();
        let facets = s.issue_tag_facets(issue.id, 10).await?;
        let kept = vec![(format!("{label}1"), 1), (format!("{label}3"), 1)];
        ensure!(facets.contains(&("request".to_owned(), kept)), "{facets:?}");
    }
    ensure!(retire(s, 2, now).await? == Default::default());
    Ok(())
}

async fn cap_keeps_the_first_and_the_newest_events(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = s.create_project("app").await?.id;
    let events: Vec<NewEvent> = (0..20)
        .map(|i| event(p, "noisy", T0 + i * 1000, 50))
        .collect();
    let quiet = event(p, "quiet", T0, 50);
    let issues = insert(s, &[events.clone(), vec![quiet]].concat()).await?;
    let noisy = issues[0];
    let before = totals(s, p).await?;
    let c = RetentionConfig {
        max_events_per_issue: 5,
        ..config()
    };

    let run = pass(s, &c, T0 + DAY_MS).await?;
    ensure!(run.deleted_cap == 15, "{run:?}");
    let mut expected = vec![events[0].fields.event_id];
    expected.extend(events[16..].iter().map(|e| e.fields.event_id));
    ensure!(stored(s, noisy).await? == expected, "first + newest 4");
    ensure!(
        totals(s, p).await? == before,
        "counts, users, tags, hours unchanged"
    );
    ensure!(s.issue_stored_events(noisy).await? == 5);

    // New events: the cap holds, the first event stays.
    let more: Vec<NewEvent> = (20..23)
        .map(|i| event(p, "noisy", T0 + i * 1000, 50))
        .collect();
    insert(s, &more).await?;
    let run = pass(s, &c, T0 + DAY_MS).await?;
    ensure!(run.deleted_cap == 3, "{run:?}");
    let mut expected = vec![events[0].fields.event_id, events[19].fields.event_id];
    expected.extend(more.iter().map(|e| e.fields.event_id));
    ensure!(stored(s, noisy).await? == expected);
    ensure!(
        s.issue(noisy).await?.count == 23,
        "the count keeps every event"
    );

    // A project's own cap, and the scheduled pass's slack of a tenth of the cap.
    s.set_project_limit(p, Limit::MaxEventsPerIssue, Some(2))
        .await?;
    let run = run_pass(s, &c, T0 + DAY_MS, Mode::Scheduled, &|| false).await?;
    ensure!(run.deleted_cap == 3, "{run:?}");
    ensure!(stored(s, noisy).await?.len() == 2);
    Ok(())
}

async fn budget_prunes_the_oldest_events_until_under_it(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = s.create_project("app").await?.id;
    let events: Vec<NewEvent> = (0..300)
        .map(|i| event(p, ["a", "b", "c"][(i % 3) as usize], T0 + i * 1000, 24_000))
        .collect();
    let issues = insert(s, &events).await?;
    let full = s.database_size().await?;
    let budget = (full.used_bytes / 2).max(1).unsigned_abs();
    let c = RetentionConfig {
        max_database_bytes: Some(budget),
        ..config()
    };

    let run = pass(s, &c, T0 + DAY_MS).await?;
    let size = s.database_size().await?;
    ensure!(!run.over_budget && run.deleted_budget > 0, "{run:?}");
    // SQLite counts pages exactly; PostgreSQL's figure is an estimate, and autovacuum may
    // add its map pages after the pass: under the budget, near 90 % of it.
    let target = match s.backend() {
        errata_server::store::Backend::Sqlite => (budget as i64) / 10 * 9,
        errata_server::store::Backend::Postgres => budget as i64,
    };
    ensure!(
        size.used_bytes <= target,
        "used {} of a budget of {budget} (was {})",
        size.used_bytes,
        full.used_bytes
    );
    // The oldest went first: what is left is the newest events.
    let left = s.stored_contents().await?.events;
    let kept: BTreeSet<EventId> = events[300 - left as usize..]
        .iter()
        .map(|e| e.fields.event_id)
        .collect();
    for &issue in &issues[..3] {
        for id in stored(s, issue).await? {
            ensure!(kept.contains(&id), "an older event survived a newer one");
        }
    }
    // A budget smaller than the issues alone: each keeps its newest event, and it is reported.
    let c = RetentionConfig {
        max_database_bytes: Some(1000),
        ..config()
    };
    let run = pass(s, &c, T0 + DAY_MS).await?;
    ensure!(run.over_budget, "{run:?}");
    for (k, &issue) in issues[..3].iter().enumerate() {
        ensure!(stored(s, issue).await? == vec![events[297 + k].fields.event_id]);
    }
    ensure!(s.retention_runs(1).await?[0].over_budget);
    if size.incremental_vacuum {
        ensure!(
            s.database_size().await?.free_bytes == 0,
            "free pages returned"
        );
        ensure!(
            s.database_size().await?.bytes < full.bytes,
            "the file shrank"
        );
    }
    Ok(())
}

async fn discard_deletes_the_issue_and_records_its_hashes(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = s.create_project("app").await?.id;
    let events: Vec<NewEvent> = (0..12).map(|i| event(p, "spam", T0 + i, 10)).collect();
    let issues = insert(s, &[events, vec![event(p, "keep", T0, 10)]].concat()).await?;
    let r = retention::Retention::new(s.clone());
    let clock = errata_server::clock::Clock::manual(T0);
    let deleted = retention::discard_issue(s, &r, &clock, issues[0]).await?;
    ensure!(deleted == 12);
    ensure!(s.issue(issues[0]).await.is_err());
    ensure!(s.issue(issues[12]).await?.count == 1, "other issues stay");
    let d = s.discarded_groupings(Some(p)).await?;
    ensure!(
        d.len() == 1 && d[0].hash == grouping("spam").hash && d[0].issue_title == "spam happened"
    );
    let rules = std::sync::Arc::new(r).policies.snapshot().await;
    ensure!(
        rules.is_discarded(p, &grouping("spam").hash)
            && !rules.is_discarded(p, &grouping("keep").hash)
    );
    // An event that slipped through creates the issue again; the next pass deletes it.
    let back = insert(s, &[event(p, "spam", T0 + 99, 10)]).await?[0];
    let run = pass(s, &config(), T0).await?;
    ensure!(
        run.deleted_issues == 1 && s.issue(back).await.is_err(),
        "{run:?}"
    );
    s.undiscard_grouping(p, &grouping("spam").hash).await?;
    ensure!(s.discarded_groupings(Some(p)).await?.is_empty());
    Ok(())
}

async fn project_delete_removes_everything_it_owns(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let doomed = s.create_project("doomed").await?.id;
    let other = s.create_project("other").await?.id;
    let events: Vec<NewEvent> = (0..30)
        .map(|i| event(doomed, ["x", "y", "z"][(i % 3) as usize], T0 + i, 10))
        .collect();
    insert(s, &events).await?;
    // Deferred aggregates, a channel, a rule and a discarded hash belong to it too.
    s.commit_batch(
        vec![event(doomed, "late", T0, 10)].into(),
        Aggregates::Deferred,
    )
    .await?;
    s.add_channel(
        doomed,
        errata_server::store::ChannelKind::Email,
        "a@example.com",
    )
    .await?;
    let rule = errata_server::store::FrequencyRule {
        events: 10,
        minutes: 5,
    };
    s.set_frequency_rule(doomed, Some(rule)).await?;
    // And a cron monitor with its environment, a check-in and (after a failure) an incident.
    for status in ["ok", "error"] {
        let checkin = errata_server::monitors::cron::CheckIn::from_json(&serde_json::json!({
            "monitor_slug": "nightly", "status": status,
            "monitor_config": {"schedule": {"type": "crontab", "value": "0 2 * * *"}},
        }))?;
        errata_server::monitors::cron::record(s, doomed, &checkin, T0).await?;
    }
    // And a release with a deploy.
    let (release, _) = s.create_release(doomed, "1.0", None, None).await?;
    s.create_deploy(release.id, "production", None, None, None, None)
        .await?;
    insert(s, &[event(other, "x", T0, 10)]).await?;
    let (events_deleted, issues_deleted) = retention::delete_project(s, doomed, T0).await?;
    // 31 events, 4 issues, and the monitor's failure event with its issue.
    ensure!(
        events_deleted == 32 && issues_deleted == 5,
        "{events_deleted} {issues_deleted}"
    );
    ensure!(s.monitors(doomed).await?.is_empty(), "the monitor is gone");
    ensure!(s
        .project_limits()
        .await?
        .iter()
        .all(|p| p.project_id != doomed));
    ensure!(s.counts(Some(doomed)).await? == (0, 0));
    ensure!(
        s.counts(Some(other)).await? == (1, 1),
        "the other project is untouched"
    );
    ensure!(s
        .channels()
        .await?
        .iter()
        .all(|c| c.project_id != Some(doomed)));
    ensure!(s.project(doomed).await.is_err());
    Ok(())
}

async fn pending_aggregates_are_never_pruned(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = s.create_project("app").await?.id;
    let inline: Vec<NewEvent> = (0..4).map(|i| event(p, "hot", T0 + i, 10)).collect();
    insert(s, &inline).await?;
    let deferred: Vec<NewEvent> = (4..8).map(|i| event(p, "hot", T0 + i, 10)).collect();
    let issue = s
        .commit_batch(deferred.clone().into(), Aggregates::Deferred)
        .await?[0]
        .issue_id;
    let c = RetentionConfig {
        max_events_per_issue: 1,
        days: 1,
        ..config()
    };
    // Age and cap both want everything; the events whose counts are pending stay.
    let run = pass(s, &c, T0 + 10 * DAY_MS).await.context("first pass")?;
    ensure!(run.deleted_age == 4, "{run:?}");
    let left: BTreeSet<EventId> = stored(s, issue).await?.into_iter().collect();
    ensure!(left == deferred.iter().map(|e| e.fields.event_id).collect());
    s.roll_up(100).await?;
    ensure!(
        s.issue(issue).await?.count == 8,
        "the roll-up counted every event"
    );
    // Now they are counted, they go, and with them the idle issue.
    let run = pass(s, &c, T0 + 10 * DAY_MS).await?;
    ensure!(run.deleted_age == 4 && run.deleted_issues == 1, "{run:?}");
    Ok(())
}

/// The cap's step (one transaction): it trims issue after issue until its limit, marks only
/// the issues it finished, and the next step resumes the one it stopped in.
async fn one_cap_step_covers_many_issues_and_resumes_a_large_one(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = s.create_project("app").await?.id;
    let series = |label: &str, n: i64| -> Vec<NewEvent> {
        (0..n).map(|i| event(p, label, T0 + i * 1000, 10)).collect()
    };
    let (a, b, c) = (series("a", 8), series("b", 3), series("c", 9));
    let issues = insert(s, &[a.clone(), b.clone(), c.clone()].concat()).await?;
    let (ia, ib, ic) = (issues[0], issues[8], issues[11]);
    let before = totals(s, p).await?;
    let kept = |events: &[NewEvent]| {
        let mut ids = vec![events[0].fields.event_id];
        ids.extend(events[events.len() - 3..].iter().map(|e| e.fields.event_id));
        ids
    };

    // Cap 4: "a" has 4 too many, "b" none, "c" 5. A limit of 6 finishes "a" and stops in "c".
    let candidates = s.cap_candidates(p, 4, 0, 0, 10).await?;
    let ids: Vec<i64> = candidates.iter().map(|c| c.issue_id).collect();
    ensure!(ids == vec![ia, ic], "{candidates:?}");
    let step = s.cap_issues(&candidates, 4, 6).await?;
    ensure!(step == (6, 1), "{step:?}");
    ensure!(stored(s, ia).await? == kept(&a), "first + newest 3 of a");
    ensure!(stored(s, ic).await?.len() == 7, "c trimmed part way");
    let left = s.cap_candidates(p, 4, 0, 0, 10).await?;
    ensure!(left == candidates[1..], "a is marked, c is not: {left:?}");

    let step = s.cap_issues(&left, 4, 6).await?;
    ensure!(step == (3, 1), "{step:?}");
    ensure!(stored(s, ic).await? == kept(&c), "first + newest 3 of c");
    ensure!(stored(s, ib).await?.len() == 3, "b was under the cap");
    ensure!(s.cap_candidates(p, 4, 0, 0, 10).await?.is_empty());
    ensure!(totals(s, p).await? == before, "totals unchanged");
    Ok(())
}

// ---- over HTTP ------------------------------------------------------------------------

use crate::helpers::{error_event, event_envelope, new_event_id, TestApp};

/// The value of the counter `name{label="value"}` on `/metrics` (0 when absent).
async fn counter(app: &TestApp, sample: &str) -> u64 {
    app.metric(sample).await as u64
}

async fn post_as(
    app: &TestApp,
    project: &errata_server::store::Project,
    body: Vec<u8>,
) -> reqwest::Response {
    app.http
        .post(format!("{}/api/{}/envelope/", app.base, project.id))
        .header(
            "x-sentry-auth",
            format!("Sentry sentry_version=7, sentry_key={}", project.public_key),
        )
        .body(body)
        .send()
        .await
        .expect("send")
}

#[tokio::test]
async fn rate_limits_answer_429_with_sentry_headers_per_project() {
    // 20 s into a minute of the server's clock.
    let start = (errata_server::clock::system_now_ms() / 60_000) * 60_000 + 20_000;
    let app = TestApp::spawn_with_clock(start, |_| {}).await;
    let other = app.store.create_project("other").await.expect("project");
    app.store
        .set_project_limit(app.project.id, Limit::RateLimitPerMinute, Some(3))
        .await
        .expect("limit");
    let send = |f: &str| event_envelope(&error_event(&new_event_id(), f, "x"));
    let rejected = "errata_events_rejected_total{reason=\"project_rate_limit\"}";
    let before = counter(&app, rejected).await;
    for _ in 0..3 {
        assert_eq!(app.post_envelope(send("a")).await.status(), 200);
    }
    let res = app.post_envelope(send("a")).await;
    assert_eq!(res.status(), 429);
    let header = |name: &str| res.headers()[name].to_str().expect("ascii").to_owned();
    assert_eq!(header("retry-after"), "40");
    assert_eq!(header("x-sentry-rate-limits"), "40:error:project");
    let body: Value = res.json().await.expect("json");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("rate limit"),
        "{body}"
    );
    assert_eq!(counter(&app, rejected).await, before + 1);
    // Another project is not limited; the next minute lets the project send again.
    assert_eq!(post_as(&app, &other, send("b")).await.status(), 200);
    app.clock.advance(std::time::Duration::from_secs(40));
    assert_eq!(app.post_envelope(send("a")).await.status(), 200);
    let (events, _) = app
        .store
        .counts(Some(app.project.id))
        .await
        .expect("counts");
    assert_eq!(events, 4, "refused events are not stored");
    app.stop().await;
}

#[tokio::test]
async fn discarded_issues_drop_their_events_at_ingest_until_undone() {
    let app = TestApp::spawn().await;
    let send = |f: &str| event_envelope(&error_event(&new_event_id(), f, "x"));
    for f in ["spam", "spam", "ham"] {
        assert_eq!(app.post_envelope(send(f)).await.status(), 200);
    }
    let issues = app.all_issues().await;
    let spam = issues.iter().find(|i| i["count"] == 2).expect("spam issue")["id"]
        .as_i64()
        .expect("id");
    let res = app
        .http
        .post(format!("{}/api/v1/issues/{spam}/discard", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("discard");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["deleted_events"], 2, "{body}");
    let hash = body["discarded"][0].as_str().expect("hash").to_owned();

    let discarded = "errata_events_discarded_total";
    let before = counter(&app, discarded).await;
    let res = app.post_envelope(send("spam")).await;
    assert_eq!(
        res.status(),
        200,
        "a discarded event is answered, not stored"
    );
    assert_eq!(counter(&app, discarded).await, before + 1);
    assert_eq!(app.all_issues().await.len(), 1, "only ham is left");
    assert_eq!(
        app.store
            .counts(Some(app.project.id))
            .await
            .expect("counts")
            .0,
        1
    );
    let listed = app
        .api(&format!("/api/v1/projects/{}/discarded", app.project.id))
        .await;
    assert_eq!(listed["discarded"][0]["hash"], hash.as_str());

    let res = app
        .http
        .delete(format!(
            "{}/api/v1/projects/{}/discarded/{hash}",
            app.base, app.project.id
        ))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("undo");
    assert_eq!(res.status(), 204);
    assert_eq!(app.post_envelope(send("spam")).await.status(), 200);
    assert_eq!(
        app.all_issues().await.len(),
        2,
        "stored again after the undo"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_retention_job_runs_on_the_clock_and_totals_stay() {
    let start = errata_server::clock::system_now_ms();
    let app = TestApp::spawn_with_clock(start, |c| {
        c.retention.max_events_per_issue = 3;
        c.retention.days = 30;
    })
    .await;
    let send = |f: &str| event_envelope(&error_event(&new_event_id(), f, "x"));
    for _ in 0..8 {
        assert_eq!(app.post_envelope(send("loud")).await.status(), 200);
    }
    let report = app.jobs.run_now(retention::JOB).await.expect("pass");
    assert_eq!(report.outcome, RunOutcome::Ok);
    let issue = &app.all_issues().await[0];
    let id = issue["id"].as_i64().expect("id");
    assert_eq!(issue["count"], 8, "the count keeps every event");
    assert_eq!(app.store.issue_stored_events(id).await.expect("n"), 3);
    let folding = app.jobs.run_now(retention::idle::JOB).await;
    assert_eq!(folding.expect("pass").outcome, RunOutcome::Ok);
    // A month later the events are gone, and so is the idle issue.
    app.clock
        .advance(std::time::Duration::from_secs(31 * 86_400));
    app.jobs.run_now(retention::JOB).await.expect("pass");
    assert!(app.all_issues().await.is_empty());
    let ready = app.api("/readyz").await;
    assert_eq!(ready["checks"]["disk_budget"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn chromium_uses_the_retention_pages() {
    use crate::browser::{browser_tools, repo};
    use crate::web::{add_admin, EMAIL, PASSWORD};
    let Some(chromium) = browser_tools() else {
        return;
    };
    let app = TestApp::spawn_with(|c| c.retention.max_events_per_issue = 3).await;
    add_admin(&app).await;
    let doomed = app.store.create_project("doomed").await.expect("project");
    let send = |f: &str| event_envelope(&error_event(&new_event_id(), f, "x"));
    for _ in 0..8 {
        assert_eq!(app.post_envelope(send("loud")).await.status(), 200);
    }
    assert_eq!(post_as(&app, &doomed, send("d")).await.status(), 200);
    app.jobs.run_now(retention::JOB).await.expect("pass");
    let issue = app.all_issues().await[0]["id"].as_i64().expect("id");
    let shots = repo().join("target/screenshots");
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(repo().join("tests/browser/retention.js"))
        .env("ERRATA_BASE_URL", &app.base)
        .env("ERRATA_EMAIL", EMAIL)
        .env("ERRATA_PASSWORD", PASSWORD)
        .env("ERRATA_PROJECT_ID", app.project.id.to_string())
        .env("ERRATA_PRUNED_ISSUE", issue.to_string())
        .env("ERRATA_DOOMED_PROJECT_ID", doomed.id.to_string())
        .env("ERRATA_DOOMED_PROJECT", &doomed.name)
        .env("ERRATA_SCREENSHOTS", &shots)
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(180), cmd.output())
        .await
        .expect("finishes within 3 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("retention ok"),
        "{stdout}\n{stderr}"
    );
    // What the browser did went through the server.
    let limits = app
        .store
        .project_limit(app.project.id)
        .await
        .expect("limits");
    assert_eq!(limits.rate_limit_per_minute, Some(120));
    assert!(app
        .store
        .discarded_groupings(None)
        .await
        .expect("list")
        .is_empty());
    assert!(
        app.store.issue(issue).await.is_err(),
        "the discarded issue is deleted"
    );
    // The project's deletion finishes in the background pass.
    for _ in 0..100 {
        if app.store.project_limits().await.expect("projects").len() == 1 {
            break;
        }
        app.jobs.run_now(retention::JOB).await.expect("pass");
    }
    assert_eq!(
        app.store.counts(Some(doomed.id)).await.expect("counts"),
        (0, 0)
    );
    assert_eq!(app.store.project_limits().await.expect("projects").len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_budget_that_cannot_be_met_is_reported_not_enforced_on_ingest() {
    let app = TestApp::spawn_with(|c| c.retention.max_database_bytes = Some(1000)).await;
    let send = |f: &str| event_envelope(&error_event(&new_event_id(), f, "x"));
    for f in ["a", "a", "b"] {
        assert_eq!(app.post_envelope(send(f)).await.status(), 200);
    }
    app.jobs.run_now(retention::JOB).await.expect("pass");
    let ready = app.api("/readyz").await;
    assert_eq!(ready["status"], "ready", "events are still accepted");
    assert_eq!(ready["checks"]["disk_budget"], "over");
    assert_eq!(counter(&app, "errata_retention_over_budget").await, 1);
    assert!(counter(&app, "errata_database_bytes").await > 1000);
    assert_eq!(
        app.store.stored_contents().await.expect("contents").events,
        2,
        "each issue keeps its newest"
    );
    assert_eq!(app.post_envelope(send("c")).await.status(), 200);
    app.stop().await;
}

/// For each issue, the events a cap of `cap` keeps: the first and the newest `cap - 1`.
async fn kept_by_cap(s: &Store, issues: &BTreeSet<i64>, cap: usize) -> Result<BTreeSet<EventId>> {
    let mut keep = BTreeSet::new();
    for &issue in issues {
        let all = stored(s, issue).await?;
        if let Some(first) = all.first() {
            keep.insert(*first);
        }
        keep.extend(all.iter().rev().take(cap - 1));
    }
    Ok(keep)
}

async fn all_stored(s: &Store, issues: &BTreeSet<i64>) -> Result<BTreeSet<EventId>> {
    let mut out = BTreeSet::new();
    for &issue in issues {
        out.extend(stored(s, issue).await?);
    }
    Ok(out)
}

/// `errata retention run` on the database at `url` with a cap of 5 and steps of 5 events.
fn retention_run(dir: &std::path::Path, url: &str) -> tokio::process::Command {
    let config = dir.join("errata.toml");
    std::fs::write(
        &config,
        "[retention]\ndays = 0\nmax_events_per_issue = 5\nbatch_size = 5\n",
    )
    .expect("config");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_errata"));
    cmd.args(["retention", "run"])
        .env("DATABASE_URL", url)
        .env("ERRATA_CONFIG", &config)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// SIGKILL in the middle of a pruning pass, while events keep arriving: every acknowledged
/// event the cap keeps is still there, the file is intact, and the next pass finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_pass_loses_nothing_the_rules_keep() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("errata.db").display());
    let s = Store::connect(&url).await?;
    let p = s.create_project("app").await?.id;
    let labels = ["a", "b", "c", "d", "e", "f"];
    let mut issues = BTreeSet::new();
    for round in 0..50 {
        let batch: Vec<NewEvent> = (0..12)
            .map(|i| event(p, labels[i % 6], T0 + round * 100 + i as i64, 200))
            .collect();
        issues.extend(s.insert_events(&batch).await?.iter().map(|o| o.issue_id));
    }
    let before = totals(&s, p).await?;
    let mut child = retention_run(dir.path(), &url).spawn()?;
    // Acknowledged events keep arriving during the pass; kill it once it is well under way.
    let start = all_stored(&s, &issues).await?.len();
    let mut arrived = Vec::new();
    let mut killed_mid_pass = false;
    for i in 0..2000 {
        let e = event(p, labels[i % 6], T0 + 10_000 + i as i64, 200);
        s.insert_events(std::slice::from_ref(&e)).await?;
        arrived.push(e.fields.event_id);
        let left = s.stored_contents().await?.events as usize;
        if left + 200 < start + arrived.len() {
            killed_mid_pass = child.try_wait()?.is_none();
            child.start_kill()?;
            break;
        }
    }
    child.wait().await?;
    ensure!(killed_mid_pass, "the pass ended before it could be killed");
    // What the cap keeps of everything acknowledged, those that arrived during the pass too.
    let keep = kept_by_cap(&s, &issues, 5).await?;
    ensure!(arrived.iter().rev().take(5).all(|id| keep.contains(id)));
    let after_kill = all_stored(&s, &issues).await?;
    ensure!(
        keep.is_subset(&after_kill),
        "an event the cap keeps was lost"
    );
    ensure!(
        after_kill.len() > keep.len(),
        "the kill came before the pass finished"
    );
    let pool = sqlx::SqlitePool::connect(&url).await?;
    let check: String = sqlx::query_scalar("pragma integrity_check")
        .fetch_one(&pool)
        .await?;
    ensure!(check == "ok", "integrity_check: {check}");
    pool.close().await;

    // The next pass finishes the job: exactly what the cap keeps, totals untouched.
    let out = retention_run(dir.path(), &url).output().await?;
    ensure!(out.status.success(), "second pass failed");
    ensure!(String::from_utf8_lossy(&out.stdout).contains("over the cap per issue"));
    let finished = all_stored(&s, &issues).await?;
    ensure!(
        finished == keep,
        "the second pass finishes the job: {} left, {} kept, {}",
        finished.len(),
        keep.len(),
        String::from_utf8_lossy(&out.stdout)
    );
    let after = totals(&s, p).await?;
    for (b, a) in before.iter().zip(&after) {
        ensure!(a["first"] == b["first"] && a["tags"].is_array());
        ensure!(
            a["count"].as_i64() > b["count"].as_i64(),
            "counts only grow"
        );
    }
    s.close().await;
    Ok(())
}

/// `errata project update|delete` and `errata retention status|vacuum` on a SQLite file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_line_updates_deletes_and_reports() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("errata.db");
    // A file made before incremental vacuum existed: tables first, then the migrations.
    {
        let conn = rusqlite::Connection::open(&path)?;
        conn.execute_batch("create table legacy (x integer); insert into legacy values (1);")?;
    }
    let url = format!("sqlite://{}", path.display());
    let s = Store::connect(&url).await?;
    ensure!(!s.database_size().await?.incremental_vacuum);
    let p = s.create_project("shop").await?;
    let gone = s.create_project("gone").await?;
    insert(
        &s,
        &[event(gone.id, "x", T0, 10), event(gone.id, "y", T0, 10)],
    )
    .await?;
    let cli = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_errata"));
        cmd.args(args)
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "warn")
            .env("ERRATA_RETENTION_DAYS", "0");
        cmd.output()
    };
    let out = cli(&[
        "project",
        "update",
        "shop",
        "--retention-days",
        "30",
        "--rate-limit",
        "100/min",
    ])?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(String::from_utf8_lossy(&out.stdout).contains("retention 30 days"));
    let limits = s.project_limit(p.id).await?;
    ensure!(limits.retention_days == Some(30) && limits.rate_limit_per_minute == Some(100));
    let out = cli(&["project", "update", "shop", "--rate-limit", "lots"])?;
    ensure!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--rate-limit"));

    let out = cli(&["project", "delete", "gone"])?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(String::from_utf8_lossy(&out.stdout).contains("2 events, 2 issues"));
    ensure!(s.counts(Some(gone.id)).await? == (0, 0));

    let out = cli(&["retention", "status"])?;
    let text = String::from_utf8_lossy(&out.stdout);
    let expected = "database: |incremental vacuum off|events kept: 0 in 0 issues|last pass: \
                    |rate limit 100/min";
    let missing: Vec<&str> = expected.split('|').filter(|l| !text.contains(l)).collect();
    ensure!(missing.is_empty(), "{missing:?} missing in:\n{text}");
    // Too large for the start-up conversion, then converted on demand.
    let at_start = retention::vacuum::convert(&s, 1).await?;
    ensure!(matches!(
        at_start,
        retention::vacuum::Conversion::TooLarge { .. }
    ));
    let out = cli(&["retention", "vacuum"])?;
    ensure!(
        out.status.success()
            && String::from_utf8_lossy(&out.stdout).contains("incremental vacuum is on")
    );
    ensure!(s.database_size().await?.incremental_vacuum);

    // A live issue's request id from before the shop's 30 days folds; the new one stays.
    let now = errata_server::clock::system_now_ms();
    // So does its user from then.
    let with_request = |received_ms: i64, request: &str| {
        let mut e = event(p.id, "live", received_ms, 10);
        e.fields.tags = vec![("request".into(), request.into())];
        e.fields.user_key = Some(format!("id:{request}"));
        e
    };
    let issue = insert(&s, &[with_request(T0, "old"), with_request(now, "new")]).await?[0];
    let out = cli(&["retention", "run"])?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        text.contains("deleted 1 events by age")
            && text.contains("folded 1 idle tag values")
            && text.contains("forgot 1 idle users"),
        "{text}"
    );
    let facets = s.issue_tag_facets(issue, 10).await?;
    ensure!(facets.contains(&("request".to_owned(), vec![("new".to_owned(), 1)])));
    s.close().await;
    Ok(())
}
