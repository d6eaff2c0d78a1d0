//! Team triage (issue #21): conditional resolve and ignore applied by the ingest batch
//! (inline and deferred alike), merge and unmerge, assignment with its notifications, the
//! timeline and comments; in the store on both engines, then through the API and the pages
//! of a real server on both engines. The browser walk is `triage_browser.rs`.

use anyhow::{ensure, Context, Result};
use errata_server::store::{
    Aggregates, IssueStatus, MergeError, NewEvent, Store, StoreError, Trigger,
    REGROUPING_LOCK_TIMEOUT_MS,
};
use errata_server::triage::{Actor, Condition, StatusDetails};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{event_envelope, new_event_id, TestApp};
use crate::store::{event, project, run_postgres, run_sqlite, Ctx, HOUR_MS, T0};
use crate::web::{add_admin, client, csrf_of, EMAIL};

const MINUTE_MS: i64 = 60_000;

/// The timeline of an issue that was assigned, resolved, regressed and commented on.
const TIMELINE: [&str; 5] = [
    "first_seen",
    "assigned",
    "set_status",
    "regression",
    "comment",
];

conformance!(
    release_conditions_reopen_only_for_newer_releases,
    ignore_conditions_end_when_met,
    merge_and_unmerge_move_events_and_counts,
    unmerge_takes_folded_values_from_their_keys_remainder,
    assignment_comments_and_their_notifications,
);

fn admin() -> Actor {
    Actor::token(0, "tests")
}

/// Commits `events` with `mode`, rolling deferred aggregates up at once.
async fn commit(s: &Store, events: Vec<NewEvent>, mode: Aggregates) -> Result<()> {
    s.commit_batch(events.into(), mode).await?;
    if mode == Aggregates::Deferred {
        while s.roll_up(1000).await?.events > 0 {}
    }
    Ok(())
}

async fn commit_one(s: &Store, e: NewEvent, mode: Aggregates) -> Result<()> {
    commit(s, vec![e], mode).await
}

/// Commits `e` and returns the status of `issue_id` after it.
async fn status_after(
    s: &Store,
    e: NewEvent,
    mode: Aggregates,
    issue_id: i64,
) -> Result<IssueStatus> {
    commit_one(s, e, mode).await?;
    status_of(s, issue_id).await
}

/// Commits `e` (a new issue's first event) and gives its issue the status of `condition`
/// with it; returns the issue.
async fn issue_with(s: &Store, e: NewEvent, mode: Aggregates, condition: Condition) -> Result<i64> {
    commit_one(s, e.clone(), mode).await?;
    let id = issue_of(s, &e).await?;
    s.change_status(id, condition.status(), Some(condition), &admin(), T0)
        .await?;
    Ok(id)
}

async fn status_of(s: &Store, issue_id: i64) -> Result<IssueStatus> {
    Ok(s.issue(issue_id).await?.status)
}

fn with_release(mut e: NewEvent, release: &str) -> NewEvent {
    e.fields.release = Some(release.to_owned());
    e
}

fn with_user(mut e: NewEvent, user: &str) -> NewEvent {
    e.fields.user_key = Some(user.to_owned());
    e
}

async fn issue_of(s: &Store, e: &NewEvent) -> Result<i64> {
    Ok(s.event(e.project_id, &e.fields.event_id)
        .await?
        .summary
        .issue_id)
}

async fn kinds(s: &Store, issue_id: i64) -> Result<Vec<String>> {
    Ok(s.issue_activity(issue_id)
        .await?
        .into_iter()
        .map(|a| a.kind)
        .collect())
}

async fn outbox_kinds(s: &Store, issue_id: i64) -> Result<Vec<Trigger>> {
    Ok(s.pending_outbox(1000)
        .await?
        .into_iter()
        .filter(|o| o.issue_id == issue_id)
        .map(|o| o.kind)
        .collect())
}

async fn release_conditions_reopen_only_for_newer_releases(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    for mode in [Aggregates::Inline, Aggregates::Deferred] {
        let p = project(s).await?;
        let first = with_release(event(p, "boom", 0), "shop@1.0.0");
        commit_one(s, first.clone(), mode).await?;
        commit_one(s, with_release(event(p, "boom", 1_000), "shop@1.1.0"), mode).await?;
        let id = issue_of(s, &first).await?;
        let issue = s
            .change_status(
                id,
                IssueStatus::Resolved,
                Some(Condition::InNextRelease),
                &admin(),
                T0,
            )
            .await?;
        ensure!(
            issue.status_details
                == Some(StatusDetails::InNextRelease {
                    after: Some("shop@1.1.0".into())
                }),
            "{:?}",
            issue.status_details
        );
        // Old and current releases, and no release, are counted but do not reopen it.
        let old = vec![
            with_release(event(p, "boom", 2_000), "shop@1.0.0"),
            with_release(event(p, "boom", 3_000), "shop@1.1.0"),
            event(p, "boom", 4_000),
        ];
        commit(s, old, mode).await?;
        let issue = s.issue(id).await?;
        ensure!(issue.status == IssueStatus::Resolved, "{mode:?}: {issue:?}");
        ensure!(
            issue.count == 5 && !issue.is_regression,
            "{mode:?}: {issue:?}"
        );
        ensure!(!outbox_kinds(s, id).await?.contains(&Trigger::Regression));
        // A newer release does.
        commit_one(
            s,
            with_release(event(p, "boom", 5_000), "shop@1.10.0"),
            mode,
        )
        .await?;
        let issue = s.issue(id).await?;
        ensure!(
            issue.status == IssueStatus::Unresolved && issue.is_regression,
            "{issue:?}"
        );
        ensure!(issue.status_details.is_none() && issue.count == 6);
        ensure!(outbox_kinds(s, id).await?.contains(&Trigger::Regression));
        let activity = s.issue_activity(id).await?;
        let regression = activity
            .iter()
            .find(|a| a.kind == "regression")
            .context("a regression entry")?;
        ensure!(regression.data["release"] == "shop@1.10.0" && regression.actor_name == "Errata");
        ensure!(activity[0].kind == "first_seen" && activity[0].data["release"] == "shop@1.0.0");

        // Releases without versions compare by first-seen order; "in release X" regresses
        // for X and newer.
        let first = with_release(event(p, "sha", 0), "abc123");
        commit_one(s, first, mode).await?;
        let def = with_release(event(p, "sha", HOUR_MS), "def456");
        let sha = issue_with(s, def, mode, Condition::InRelease("def456".into())).await?;
        let (older, newer) = (
            with_release(event(p, "sha", 2 * HOUR_MS), "abc123"),
            with_release(event(p, "sha", 3 * HOUR_MS), "fed789"),
        );
        ensure!(
            status_after(s, older, mode, sha).await? == IssueStatus::Resolved,
            "older release"
        );
        ensure!(
            status_after(s, newer, mode, sha).await? == IssueStatus::Unresolved,
            "newer release"
        );
    }
    Ok(())
}

async fn ignore_conditions_end_when_met(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    for mode in [Aggregates::Inline, Aggregates::Deferred] {
        let p = project(s).await?;
        // Until 2 more events.
        let id = issue_with(s, event(p, "count", 0), mode, Condition::IgnoreCount(2)).await?;
        let issue = s.issue(id).await?;
        ensure!(
            issue.status_details.as_ref().map(StatusDetails::wire)
                == Some(json!({"ignore_count": 2, "ignore_until_count": 3}))
        );
        ensure!(status_after(s, event(p, "count", 1_000), mode, id).await? == IssueStatus::Ignored);
        ensure!(outbox_kinds(s, id)
            .await?
            .iter()
            .all(|k| *k == Trigger::NewIssue));
        commit_one(s, event(p, "count", 2_000), mode).await?;
        let issue = s.issue(id).await?;
        ensure!(
            issue.status == IssueStatus::Unresolved && issue.status_details.is_none(),
            "{issue:?}"
        );
        ensure!(
            !issue.is_regression,
            "an ignore that ends is not a regression"
        );
        ensure!(outbox_kinds(s, id).await?.contains(&Trigger::Unignored));
        let last = s.issue_activity(id).await?.pop().context("entries")?;
        ensure!(last.kind == "set_status" && last.data["reason"] == "ignore_count");
        ensure!(last.actor_kind == "errata");

        // Until 1 more user: the same user again changes nothing.
        let id = issue_with(
            s,
            with_user(event(p, "users", 0), "u1"),
            mode,
            Condition::IgnoreUsers(1),
        )
        .await?;
        ensure!(
            status_after(s, with_user(event(p, "users", 1_000), "u1"), mode, id).await?
                == IssueStatus::Ignored
        );
        ensure!(
            status_after(s, with_user(event(p, "users", 2_000), "u2"), mode, id).await?
                == IssueStatus::Unresolved
        );

        // Until it regresses: the next event reopens it as a regression.
        let id = issue_with(
            s,
            event(p, "regress", 0),
            mode,
            Condition::IgnoreUntilRegression,
        )
        .await?;
        commit_one(s, event(p, "regress", 1_000), mode).await?;
        let issue = s.issue(id).await?;
        ensure!(issue.status == IssueStatus::Unresolved && issue.is_regression);
        ensure!(outbox_kinds(s, id).await?.contains(&Trigger::Regression));
    }
    // For a duration: events do not end it, the expiry does once its time has come.
    let p = project(s).await?;
    let later = event(p, "later", 0);
    let id = issue_with(s, later, Aggregates::Inline, Condition::IgnoreDuration(30)).await?;
    commit(s, vec![event(p, "later", 1_000)], Aggregates::Inline).await?;
    ensure!(s.expire_ignores(T0 + 29 * MINUTE_MS).await? == 0);
    ensure!(status_of(s, id).await? == IssueStatus::Ignored);
    ensure!(s.expire_ignores(T0 + 30 * MINUTE_MS).await? == 1);
    let issue = s.issue(id).await?;
    ensure!(issue.status == IssueStatus::Unresolved && issue.status_details.is_none());
    ensure!(outbox_kinds(s, id).await?.contains(&Trigger::Unignored));
    ensure!(
        s.expire_ignores(T0 + 60 * MINUTE_MS).await? == 0,
        "ends once"
    );
    Ok(())
}

async fn merge_and_unmerge_move_events_and_counts(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = project(s).await?;
    let tagged = |label: &str, at: i64, user: &str, browser: &str| {
        with_user(with_browser(p, label, at, browser), user)
    };
    let a: Vec<NewEvent> = (0..3)
        .map(|i| tagged("a", i * 1_000, "u1", "firefox"))
        .collect();
    let b: Vec<NewEvent> = (0..2)
        .map(|i| tagged("b", HOUR_MS + i, "u2", "chrome"))
        .collect();
    s.insert_events(&a).await?;
    s.insert_events(&b).await?;
    let (ia, ib) = (issue_of(s, &a[0]).await?, issue_of(s, &b[0]).await?);
    let other = project(s).await?;
    let stranger = event(other, "x", 0);
    s.insert_events(std::slice::from_ref(&stranger)).await?;
    let stranger = issue_of(s, &stranger).await?;
    ensure!(matches!(
        s.merge_issues(p, &[ia, stranger], &admin(), T0).await,
        Err(MergeError::UnknownIssues(ids)) if ids == vec![stranger]
    ));
    ensure!(matches!(
        s.merge_issues(p, &[ia], &admin(), T0).await,
        Err(MergeError::TooFew)
    ));

    let survivor = s.merge_issues(p, &[ib, ia], &admin(), T0).await?;
    ensure!(survivor == ia, "the issue with the most events survives");
    let merged = s.issue(ia).await?;
    ensure!(merged.count == 5 && merged.user_count == 2, "{merged:?}");
    ensure!(merged.first_seen_ms == T0 && merged.last_seen_ms == T0 + HOUR_MS + 1);
    ensure!(matches!(s.issue(ib).await, Err(StoreError::NotFound)));
    ensure!(s.issue_redirect(ib).await? == Some(ia));
    let facets = s.issue_tag_facets(ia, 5).await?;
    let browser = &facets
        .iter()
        .find(|(k, _)| k == "browser")
        .context("browser")?
        .1;
    ensure!(browser.contains(&("firefox".into(), 3)) && browser.contains(&("chrome".into(), 2)));
    ensure!(kinds(s, ia).await?.contains(&"merge".to_owned()));

    // Later events of B's hash join the survivor, one of them deferred and still pending
    // when the unmerge starts.
    s.insert_events(&[tagged("b", HOUR_MS + 10, "u3", "chrome")])
        .await?;
    s.commit_batch(
        vec![tagged("b", HOUR_MS + 20, "u2", "chrome")].into(),
        Aggregates::Deferred,
    )
    .await?;
    ensure!(issue_of(s, &b[0]).await? == ia);
    let hashes = s.issue_hashes(ia).await?;
    ensure!(hashes.len() == 2, "{hashes:?}");
    let b_hash = crate::store::grouping("b").hash;
    let counted = |h: &str| hashes.iter().find(|x| x.hash == h).map(|x| x.event_count);
    ensure!(counted(&b_hash) == Some(4) && counted(&crate::store::grouping("a").hash) == Some(3));

    ensure!(matches!(
        s.unmerge_hashes(ia, &["f00".into()], &admin(), T0).await,
        Err(MergeError::UnknownHashes(_))
    ));
    let all: Vec<String> = hashes.iter().map(|h| h.hash.clone()).collect();
    ensure!(matches!(
        s.unmerge_hashes(ia, &all, &admin(), T0).await,
        Err(MergeError::AllHashes)
    ));
    let split = s
        .unmerge_hashes(ia, std::slice::from_ref(&b_hash), &admin(), T0 + 5)
        .await?;
    let new = s.issue(split).await?;
    let old = s.issue(ia).await?;
    ensure!(new.count == 4 && new.user_count == 2, "{new:?}");
    ensure!(new.first_seen_ms == T0 + HOUR_MS && new.status == IssueStatus::Unresolved);
    ensure!(old.count == 3 && old.user_count == 1, "{old:?}");
    ensure!(old.last_seen_ms == T0 + 2_000, "{old:?}");
    let old_browser = s.issue_tag_facets(ia, 5).await?;
    ensure!(
        old_browser
            .iter()
            .find(|(k, _)| k == "browser")
            .map(|(_, v)| v.clone())
            == Some(vec![("firefox".into(), 3)]),
        "{old_browser:?}"
    );
    let new_browser = s.issue_tag_facets(split, 5).await?;
    ensure!(new_browser
        .iter()
        .any(|(k, v)| k == "browser" && v == &vec![("chrome".to_owned(), 4)]));
    let hourly: i64 = s.issue_hourly(split, 0).await?.iter().map(|h| h.1).sum();
    let old_hourly: i64 = s.issue_hourly(ia, 0).await?.iter().map(|h| h.1).sum();
    ensure!(hourly == 4 && old_hourly == 3, "{hourly} {old_hourly}");
    ensure!(s.issue_events(split, 100, None).await?.events.len() == 4);
    // The hash now finds the new issue.
    s.insert_events(&[tagged("b", HOUR_MS + 30, "u2", "chrome")])
        .await?;
    ensure!(s.issue(split).await?.count == 5 && s.issue(ia).await?.count == 3);
    ensure!(kinds(s, split).await?.contains(&"unmerge".to_owned()));
    ensure!(kinds(s, ia).await?.contains(&"unmerge".to_owned()));
    // Merged and split-off users keep the days they were seen: a retention pass whose cutoff
    // falls later on that day (T0 is 22:13 UTC) forgets none of them, though both issues are
    // older than the cutoff (a row left at the columns' default, day 0, would go).
    let config = errata_server::retention::RetentionConfig {
        days: 30,
        ..Default::default()
    };
    let now = T0 + 30 * 24 * HOUR_MS + 90 * 60_000;
    let retired = errata_server::retention::idle::retire_idle(s, &config, now, &|| false).await?;
    ensure!(retired.users == 0, "{retired:?}");
    ensure!(s.issue(split).await?.user_count == 2 && s.issue(ia).await?.user_count == 1);
    Ok(())
}

/// An event of issue `label` of `project` at `offset_ms` tagged `browser:{browser}`, in its
/// payload too, as ingestion stores it: unmerge reads the tags there.
fn with_browser(project: i64, label: &str, offset_ms: i64, browser: &str) -> NewEvent {
    let mut e = event(project, label, offset_ms);
    e.fields.tags = vec![("browser".into(), browser.into())];
    e.payload = errata_server::store::encode_payload(
        &json!({"message": label, "tags": [["browser", browser]]}),
    );
    e
}

async fn unmerge_takes_folded_values_from_their_keys_remainder(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = project(s).await?;
    // Issue "a": three events, each with its own browser; issue "b": two with a fourth one.
    // Merged into one.
    let a: Vec<NewEvent> = ["firefox", "safari", "edge"]
        .iter()
        .map(|b| with_browser(p, "a", 0, b))
        .collect();
    let b: Vec<NewEvent> = (0..2).map(|i| with_browser(p, "b", i, "chrome")).collect();
    s.insert_events(&a).await?;
    s.insert_events(&b).await?;
    let (ia, ib) = (issue_of(s, &a[0]).await?, issue_of(s, &b[0]).await?);
    let merged = s.merge_issues(p, &[ia, ib], &admin(), T0).await?;
    // Thirty-one days on, every value is idle and folds before its events are pruned (the
    // idle job and the pruning pass run apart).
    let config = errata_server::retention::RetentionConfig {
        days: 30,
        ..Default::default()
    };
    let now = T0 + 31 * 24 * HOUR_MS;
    let retired = errata_server::retention::idle::retire_idle(s, &config, now, &|| false).await?;
    ensure!(retired.tag_values == 4, "{retired:?}");
    ensure!(s.issue_tag_key_totals(merged).await?.get("browser") == Some(&5));
    let split = s
        .unmerge_hashes(merged, &[crate::store::grouping("b").hash], &admin(), now)
        .await?;
    let old = s.issue_tag_key_totals(merged).await?;
    let new = s.issue_tag_key_totals(split).await?;
    ensure!(
        old.get("browser") == Some(&3) && new.get("browser") == Some(&2),
        "the old issue keeps its own events' total: {old:?}, the new one {new:?}"
    );
    Ok(())
}

async fn assignment_comments_and_their_notifications(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = project(s).await?;
    let alice = s.create_user("alice@example.com", "x", true).await?;
    let bob = s.create_user("bob@example.com", "x", false).await?;
    let as_alice = Actor::user(&alice);
    let as_bob = Actor::user(&bob);
    let e = event(p, "boom", 0);
    s.insert_events(std::slice::from_ref(&e)).await?;
    let id = issue_of(s, &e).await?;

    let issue = s.assign_issue(id, Some(bob.id), &as_alice, T0).await?;
    ensure!(issue.assignee.as_ref().map(|a| a.email.as_str()) == Some("bob@example.com"));
    ensure!(outbox_kinds(s, id).await?.contains(&Trigger::Assigned));
    ensure!(matches!(
        s.assign_issue(id, Some(9_999), &as_alice, T0).await,
        Err(StoreError::NotFound)
    ));
    // Taking an issue oneself tells nobody.
    let e2 = event(p, "mine", 0);
    s.insert_events(std::slice::from_ref(&e2)).await?;
    let mine = issue_of(s, &e2).await?;
    s.assign_issue(mine, Some(bob.id), &as_bob, T0).await?;
    ensure!(!outbox_kinds(s, mine).await?.contains(&Trigger::Assigned));
    ensure!(s.assigned_issues(bob.id, 10).await?.len() == 2);

    // Fan-out: the assignment goes to bob's own channel only; a regression of his issue
    // goes there too, besides the project's channels.
    let fan = s.fan_out_notifications(100, T0, HOUR_MS).await?;
    ensure!(fan.deliveries >= 1, "{fan:?}");
    let own = |status: &[errata_server::store::ChannelStatus]| {
        status
            .iter()
            .find(|c| c.channel.source == "user" && c.channel.target == "bob@example.com")
            .map(|c| c.pending)
    };
    ensure!(own(&s.notification_status().await?) == Some(1));
    ensure!(s.channels().await?.iter().all(|c| c.source != "user"));
    s.change_status(id, IssueStatus::Resolved, None, &as_alice, T0)
        .await?;
    s.insert_events(&[event(p, "boom", 1_000)]).await?;
    s.fan_out_notifications(100, T0 + 1, HOUR_MS).await?;
    ensure!(own(&s.notification_status().await?) == Some(2));

    // Comments: only their author changes them.
    let c = s
        .add_comment(id, &as_alice, "  **fixed** in #12  ", T0)
        .await?;
    ensure!(c.body.as_deref() == Some("**fixed** in #12"));
    ensure!(matches!(
        s.edit_comment(id, c.id, &as_bob, "mine now", T0).await,
        Err(errata_server::store::CommentError::NotAuthor)
    ));
    ensure!(matches!(
        s.delete_comment(id, c.id, &as_bob).await,
        Err(errata_server::store::CommentError::NotAuthor)
    ));
    ensure!(matches!(
        s.add_comment(id, &as_bob, "   ", T0).await,
        Err(errata_server::store::CommentError::BadText)
    ));
    let edited = s
        .edit_comment(id, c.id, &as_alice, "fixed in #13", T0 + 1)
        .await?;
    ensure!(edited.body.as_deref() == Some("fixed in #13") && edited.edited_ms == Some(T0 + 1));
    let kinds = kinds(s, id).await?;
    ensure!(kinds == TIMELINE, "{kinds:?}");
    s.delete_comment(id, c.id, &as_alice).await?;
    ensure!(matches!(
        s.comment(id, c.id).await,
        Err(StoreError::NotFound)
    ));
    s.assign_issue(id, None, &as_alice, T0).await?;
    ensure!(s.issue(id).await?.assignee.is_none());
    ensure!(s.issue_activity(id).await?.last().map(|a| a.kind.as_str()) == Some("unassigned"));
    Ok(())
}

// ---- the API and the pages, on both engines ----------------------------------------

/// Posts one event (`function` groups it) of `release`, optionally as `user`.
pub(crate) async fn post(app: &TestApp, function: &str, release: &str, user: &str) -> String {
    let id = new_event_id();
    let e = json!({
        "event_id": id, "platform": "python", "level": "error", "release": release,
        "environment": "prod", "user": {"id": user}, "tags": {"region": format!("r-{user}")},
        "exception": {"values": [{"type": "ValueError", "value": format!("{function} failed"),
            "stacktrace": {"frames": [{"module": "app", "function": function,
                "filename": "app.py", "lineno": 3, "in_app": true}]}}]}
    });
    let res = app.post_envelope(event_envelope(&e)).await;
    assert_eq!(res.status(), 200);
    id
}

async fn patch(app: &TestApp, issue: i64, body: Value) -> (StatusCode, Value) {
    let res = app
        .http
        .patch(format!("{}/api/v1/issues/{issue}", app.base))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await
        .expect("patch");
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

async fn send_json(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let res = app
        .http
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await
        .expect("request");
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

/// A signed-in browser session: its cookie and CSRF token.
struct Session {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl Session {
    async fn sign_in(app: &TestApp, email: &str, password: &str) -> Result<Session> {
        let http = client();
        let res = crate::web::post_login(app, &http, email, password).await;
        ensure!(res.status() == 303, "{email} signs in");
        let cookie = crate::web::set_cookie(res.headers(), "errata_session")
            .map(|c| crate::web::cookie_pair(&c))
            .context("session cookie")?;
        let mut session = Session {
            http,
            base: app.base.clone(),
            cookie,
            csrf: String::new(),
        };
        session.csrf = csrf_of(&session.get("/projects").await?);
        Ok(session)
    }

    async fn get(&self, path: &str) -> Result<String> {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await?;
        Ok(res.text().await?)
    }

    /// Posts a form (with the CSRF token); returns the status.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Result<StatusCode> {
        let mut form = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await?;
        Ok(res.status())
    }
}

pub(crate) async fn issue_id_of(app: &TestApp, event_id: &str) -> i64 {
    app.event(event_id).await["issue_id"]
        .as_i64()
        .expect("issue id")
}

async fn triage_through_the_api_and_pages(app: TestApp) -> Result<()> {
    add_admin(&app).await;
    let hash = errata_server::web::hash_password("member password 1").expect("hash");
    let member = app
        .store
        .create_user("member@example.com", &hash, false)
        .await?;
    let x = issue_id_of(&app, &post(&app, "checkout", "1.0.0", "u1").await).await;
    let y = issue_id_of(&app, &post(&app, "login", "1.0.0", "u2").await).await;

    // Assignment and the search terms.
    let (status, body) = patch(&app, x, json!({"assignee": "Member@Example.com"})).await;
    ensure!(
        status == 200 && body["assignee"] == "member@example.com",
        "{body}"
    );
    let list = |q: &str| {
        format!(
            "/api/v1/projects/{}/issues?query={}",
            app.project.id,
            crate::helpers::urlencode(q)
        )
    };
    let ids = |v: Value| -> Vec<i64> {
        v["issues"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["id"].as_i64())
            .collect()
    };
    ensure!(ids(app.api(&list("assigned:member@example.com")).await) == vec![x]);
    ensure!(ids(app.api(&list("is:unassigned")).await) == vec![y]);
    let res = app.api_raw(&list("assigned:me")).await;
    ensure!(res.status() == 400, "a token has no me");
    let (status, body) = patch(&app, x, json!({"assignee": "nobody@example.com"})).await;
    ensure!(
        status == 400
            && body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("nobody@"),
        "{body}"
    );

    // Resolve in the next release: an old-release event does not reopen it, a newer one does.
    let (status, body) = patch(
        &app,
        x,
        json!({"status": "resolved", "status_details": {"in_next_release": true}}),
    )
    .await;
    ensure!(status == 200, "{body}");
    ensure!(
        body["status_details"] == json!({"in_next_release": true, "after_release": "1.0.0"}),
        "{body}"
    );
    post(&app, "checkout", "1.0.0", "u1").await;
    ensure!(app.api(&format!("/api/v1/issues/{x}")).await["status"] == "resolved");
    post(&app, "checkout", "1.1.0", "u1").await;
    let issue = app.api(&format!("/api/v1/issues/{x}")).await;
    ensure!(
        issue["status"] == "unresolved" && issue["is_regression"] == true,
        "{issue}"
    );
    ensure!(issue["status_details"] == json!({}));

    // Ignore until 2 more events.
    let (status, body) = patch(
        &app,
        y,
        json!({"status": "ignored", "status_details": {"ignore_count": 2}}),
    )
    .await;
    ensure!(
        status == 200 && body["status_details"]["ignore_until_count"] == 3,
        "{body}"
    );
    post(&app, "login", "1.0.0", "u2").await;
    ensure!(app.api(&format!("/api/v1/issues/{y}")).await["status"] == "ignored");
    post(&app, "login", "1.0.0", "u2").await;
    ensure!(app.api(&format!("/api/v1/issues/{y}")).await["status"] == "unresolved");

    // Bad input changes nothing.
    for bad in [
        json!({"status_details": {"ignore_count": 2}}),
        json!({"status": "ignored", "status_details": {"ignore_count": 2, "ignore_users": 1}}),
        json!({"status": "resolved", "status_details": {"ignore_count": 2}}),
        json!({"status": "ignored", "status_details": {"ignore_count": 0}}),
        json!({"status": "ignored", "status_details": {"ignore_forever": true}}),
        json!({}),
    ] {
        let (status, body) = patch(&app, y, bad.clone()).await;
        ensure!(
            status == 400 && body["detail"].is_string(),
            "{bad}: {status} {body}"
        );
    }
    ensure!(app.api(&format!("/api/v1/issues/{y}")).await["status"] == "unresolved");

    // Comments: Markdown rendered safely, editable by the author only.
    let text =
        "**done** <script>alert(1)</script> [x](javascript:alert(1)) [ok](https://example.com)";
    let (status, c) = send_json(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/issues/{x}/comments"),
        json!({"text": text}),
    )
    .await;
    ensure!(
        status == 201 && c["type"] == "comment" && c["data"]["text"] == text,
        "{c}"
    );
    let html = c["data"]["html"].as_str().unwrap_or_default();
    ensure!(
        html.contains("<strong>done</strong>")
            && !html.contains("<script")
            && !html.contains("javascript:"),
        "{html}"
    );
    ensure!(html.contains("rel=\"nofollow noopener\""), "{html}");
    ensure!(c["user"]["type"] == "token");
    let cid = c["id"].as_i64().context("comment id")?;
    let (status, e) = send_json(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/issues/{x}/comments/{cid}"),
        json!({"text": "edited"}),
    )
    .await;
    ensure!(
        status == 200 && e["data"]["text"] == "edited" && e["data"]["date_edited"].is_string(),
        "{e}"
    );
    let activity = app.api(&format!("/api/v1/issues/{x}/activity")).await;
    let types: Vec<&str> = activity["activity"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["type"].as_str())
        .collect();
    ensure!(types == TIMELINE, "{types:?}");
    ensure!(
        activity["activity"][3]["data"]["release"] == "1.1.0"
            && activity["activity"][3]["user"]["name"] == "Errata"
    );
    ensure!(activity["activity"][0]["date_created"].is_string());

    // A member may triage but not change someone else's comment: 403, nothing changes.
    let member_session = Session::sign_in(&app, "member@example.com", "member password 1").await?;
    let page = member_session.get(&format!("/issues/{x}")).await?;
    ensure!(page.contains("edited"), "the comment shows");
    let status = member_session
        .post(&format!("/issues/{x}/comments/{cid}/delete"), &[])
        .await?;
    ensure!(status == 403, "{status}");
    ensure!(
        app.store.comment(x, cid).await.is_ok(),
        "the comment survived"
    );
    let res = member_session
        .http
        .patch(format!("{}/api/v1/issues/{x}/comments/{cid}", app.base))
        .header("cookie", &member_session.cookie)
        .header("x-csrf-token", &member_session.csrf)
        .json(&json!({"text": "hijacked"}))
        .send()
        .await?;
    ensure!(res.status() == 403);
    ensure!(app.store.comment(x, cid).await?.body.as_deref() == Some("edited"));
    // …but assigns, comments and searches through the pages.
    let status = member_session
        .post(&format!("/issues/{y}/assign"), &[("assignee", "me")])
        .await?;
    ensure!(status == 303);
    ensure!(app.store.issue(y).await?.assignee.map(|a| a.id) == Some(member.id));
    let mine = member_session.get("/my-issues").await?;
    ensure!(
        mine.contains(&format!("href=\"/issues/{y}\""))
            && mine.contains(&format!("href=\"/issues/{x}\"")),
        "my issues"
    );
    let status = member_session
        .post(
            &format!("/issues/{y}/comments"),
            &[("text", "on it <img src=x onerror=alert(1)>")],
        )
        .await?;
    ensure!(status == 303);
    let page = member_session.get(&format!("/issues/{y}")).await?;
    ensure!(
        page.contains("on it &lt;img src=x onerror=alert(1)&gt;"),
        "raw HTML shows as text"
    );

    // The Events page and the events API take the search terms.
    let events = app
        .api(&format!(
            "/api/v1/issues/{x}/events?query={}",
            crate::helpers::urlencode("release:1.1.0")
        ))
        .await;
    ensure!(
        events["events"].as_array().map(Vec::len) == Some(1),
        "{events}"
    );
    let tagged = app
        .api(&format!("/api/v1/issues/{x}/events?query=region:r-u1"))
        .await;
    ensure!(
        tagged["events"].as_array().map(Vec::len) == Some(3) && tagged["events"][0]["user"] == "u1",
        "{tagged}"
    );
    let wrong = app
        .api_raw(&format!("/api/v1/issues/{x}/events?query=is:resolved"))
        .await;
    ensure!(wrong.status() == 400);
    let page = member_session
        .get(&format!("/issues/{x}/events?q=release%3A1.0.0"))
        .await?;
    ensure!(
        page.matches("class=\"event-row\"").count() == 2,
        "two events of 1.0.0"
    );

    // Merge through the API, the merged issue's link redirects, unmerge splits it again.
    let merge_path = format!("/api/v1/projects/{}/issues/merge", app.project.id);
    let (status, m) = send_json(
        &app,
        reqwest::Method::POST,
        &merge_path,
        json!({"issue_ids": [x, y]}),
    )
    .await;
    ensure!(status == 200, "{m}");
    let survivor = m["issue_id"].as_i64().context("survivor")?;
    let gone = if survivor == x { y } else { x };
    ensure!(app.api(&format!("/api/v1/issues/{gone}")).await["id"] == survivor);
    let res = member_session
        .http
        .get(format!("{}/issues/{gone}", app.base))
        .header("cookie", &member_session.cookie)
        .send()
        .await?;
    let location = format!("/issues/{survivor}");
    ensure!(res.status() == 303 && res.headers()["location"] == location.as_str());
    let hashes = app.api(&format!("/api/v1/issues/{survivor}/hashes")).await;
    let list = hashes["hashes"].as_array().context("hashes")?;
    let total: i64 = list
        .iter()
        .map(|h| h["event_count"].as_i64().unwrap_or(0))
        .sum();
    ensure!(list.len() == 2 && total == 6, "{hashes}");
    let (status, bad) = send_json(
        &app,
        reqwest::Method::POST,
        &merge_path,
        json!({"issue_ids": [survivor]}),
    )
    .await;
    ensure!(status == 400 && bad["detail"].is_string());
    let split_hash = list[1]["hash"].as_str().context("hash")?;
    let (status, u) = send_json(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/issues/{survivor}/unmerge"),
        json!({"hashes": [split_hash]}),
    )
    .await;
    ensure!(status == 200, "{u}");
    let split = u["issue_id"].as_i64().context("new issue")?;
    let count = |v: Value| v["count"].as_i64().unwrap_or(0);
    let counts = count(app.api(&format!("/api/v1/issues/{split}")).await)
        + count(app.api(&format!("/api/v1/issues/{survivor}")).await);
    ensure!(counts == 6, "every event is in one of the two");

    // Bulk assign and merge through the list's form, as the admin.
    let admin_session = Session::sign_in(&app, EMAIL, crate::web::PASSWORD).await?;
    let bulk = format!("/projects/{}/issues/bulk", app.project.id);
    let (survivor_s, split_s, member_s) = (
        survivor.to_string(),
        split.to_string(),
        member.id.to_string(),
    );
    let picked = [("issue", survivor_s.as_str()), ("issue", split_s.as_str())];
    let status = admin_session
        .post(
            &bulk,
            &[
                picked[0],
                picked[1],
                ("action", "assign"),
                ("assignee", &member_s),
            ],
        )
        .await?;
    ensure!(status == 303);
    let assignee = app.store.issue(split).await?.assignee.map(|a| a.email);
    ensure!(assignee == Some("member@example.com".into()));
    let status = admin_session
        .post(&bulk, &[picked[0], picked[1], ("action", "merge")])
        .await?;
    ensure!(status == 303);
    ensure!(
        app.all_issues().await.len() == 1,
        "one issue left after the bulk merge"
    );
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn triage_through_the_api_and_pages_on_sqlite() -> Result<()> {
    triage_through_the_api_and_pages(TestApp::spawn().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_through_the_api_and_pages_on_postgres() -> Result<()> {
    run_postgres(|ctx: Ctx| async move {
        triage_through_the_api_and_pages(TestApp::spawn_on(&ctx.url, |_| {}).await).await
    })
    .await
}

/// PostgreSQL's merge takes `groupings` in access exclusive mode, which waits for every open
/// transaction that read the table. Behind one that stays open (a session idle in a
/// transaction), the merge gives up after its lock timeout with `Unavailable` (a 503), moves
/// nothing, and succeeds once the reader is gone.
#[tokio::test]
async fn a_merge_behind_an_open_reader_gives_up_after_its_lock_timeout() -> Result<()> {
    use sqlx::{Connection, Executor};
    use std::time::{Duration, Instant};
    run_postgres(|ctx: Ctx| async move {
        let s = &ctx.store;
        let p = project(s).await?;
        let (a, b) = (event(p, "a", 0), event(p, "b", 1));
        s.insert_events(&[a.clone(), b.clone()]).await?;
        let (ia, ib) = (issue_of(s, &a).await?, issue_of(s, &b).await?);
        let mut reader = sqlx::PgConnection::connect(&ctx.url).await?;
        reader.execute("begin").await?;
        reader.execute("select count(*) from groupings").await?;

        let started = Instant::now();
        let refused = s.merge_issues(p, &[ia, ib], &admin(), T0).await;
        let waited = started.elapsed();
        ensure!(
            matches!(refused, Err(MergeError::Store(StoreError::Unavailable(_)))),
            "{refused:?}"
        );
        let timeout = Duration::from_millis(REGROUPING_LOCK_TIMEOUT_MS);
        ensure!(
            waited >= timeout && waited < timeout * 3,
            "gave up after {waited:?}"
        );
        ensure!(issue_of(s, &a).await? == ia && issue_of(s, &b).await? == ib);
        ensure!(s.issue(ia).await?.count == 1 && s.issue(ib).await?.count == 1);

        reader.execute("commit").await?;
        let survivor = s.merge_issues(p, &[ia, ib], &admin(), T0).await?;
        ensure!(s.issue(survivor).await?.count == 2);
        Ok(())
    })
    .await
}

// ---- the assignee's e-mail, through the outbox to a real SMTP listener ------------------

/// Mails the sink received for `to`, as `(subject, text)`.
fn mails_to(sink: &crate::notify::SmtpSink, to: &str) -> Vec<(String, String)> {
    sink.messages()
        .iter()
        .filter(|m| {
            m["rcpt_tos"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x == to))
        })
        .map(|m| {
            (
                m["subject"].as_str().unwrap_or_default().to_owned(),
                m["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Waits for bob's first mail whose subject starts with `prefix`: `(subject, text)`.
async fn mail_starting(sink: &crate::notify::SmtpSink, prefix: &str) -> (String, String) {
    crate::notify::wait_for(prefix, || {
        mails_to(sink, "bob@example.com")
            .into_iter()
            .find(|m| m.0.starts_with(prefix))
    })
    .await
}

#[tokio::test]
async fn the_assignee_is_mailed_when_assigned_by_someone_else_and_when_the_issue_comes_back() {
    let Some(python) = crate::helpers::python_with("aiosmtpd") else {
        return;
    };
    let sink = crate::notify::SmtpSink::start(&python, 0).await;
    let port = sink.port;
    let start = errata_server::clock::system_now_ms();
    let app = TestApp::spawn_with_clock(start, |c| {
        crate::notify::fast(c);
        c.notify.smtp.host = Some("127.0.0.1".into());
        c.notify.smtp.port = Some(port);
        c.notify.smtp.tls = errata_server::notify::SmtpTls::None;
    })
    .await;
    let bob = app
        .store
        .create_user("bob@example.com", "x", false)
        .await
        .expect("bob");
    let x = issue_id_of(&app, &post(&app, "checkout", "1.0.0", "u1").await).await;
    let y = issue_id_of(&app, &post(&app, "login", "1.0.0", "u1").await).await;

    // Assigned with a token (someone else): bob is told.
    let (status, _) = patch(&app, x, json!({"assignee": "bob@example.com"})).await;
    assert_eq!(status, 200);
    let mail = mail_starting(&sink, "[fixtures] Assigned").await;
    assert_eq!(
        mail.0,
        "[fixtures] Assigned to you: ValueError: checkout failed"
    );
    assert!(
        mail.1.contains("An issue in fixtures was assigned to you"),
        "{}",
        mail.1
    );
    assert!(
        mail.1.contains(&format!("{}/issues/{x}", app.base)),
        "{}",
        mail.1
    );

    // Taking an issue oneself tells nobody; its regression and its ignore ending do.
    let as_bob = Actor::user(&bob);
    app.store
        .assign_issue(y, Some(bob.id), &as_bob, start)
        .await
        .expect("self-assign");
    let (status, _) = patch(&app, x, json!({"status": "resolved"})).await;
    assert_eq!(status, 200);
    post(&app, "checkout", "1.0.1", "u1").await;
    mail_starting(&sink, "[fixtures] Regression:").await;
    let (status, body) = patch(
        &app,
        y,
        json!({"status": "ignored", "status_details": {"ignore_duration_minutes": 30}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    app.jobs.run_now("ignore_expiry").await.expect("pass");
    assert_eq!(
        app.store.issue(y).await.expect("y").status,
        IssueStatus::Ignored
    );
    app.clock.advance(std::time::Duration::from_secs(31 * 60));
    app.jobs.run_now("ignore_expiry").await.expect("pass");
    assert_eq!(
        app.store.issue(y).await.expect("y").status,
        IssueStatus::Unresolved
    );
    let back = mail_starting(&sink, "[fixtures] Unignored:").await;
    assert!(back.1.contains("login failed"), "{}", back.1);
    let subjects: Vec<String> = mails_to(&sink, "bob@example.com")
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(
        subjects.len(),
        3,
        "assigned, regression, unignored: {subjects:?}"
    );
    let activity = app.api(&format!("/api/v1/issues/{y}/activity")).await;
    let last = &activity["activity"]
        .as_array()
        .expect("entries")
        .last()
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["data"]["reason"], "ignore_duration_minutes", "{last}");
    assert_eq!(last["user"]["type"], "errata");
    app.stop().await;
}
