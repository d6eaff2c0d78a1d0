//! Alert rules and the channel kinds added with them (issue #18): rules through the API,
//! filters, windowed triggers and per-issue intervals under a manual clock (on SQLite and
//! PostgreSQL), and each new channel kind against a real listener on 127.0.0.1.

use std::sync::{Arc, Mutex};

use anyhow::{ensure, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use errata_server::clock::Clock;
use errata_server::config::Config;
use errata_server::grouping::Grouping;
use errata_server::normalize::EventFields;
use errata_server::notify::{Notifier, Outcome};
use errata_server::protocol::{EventId, Level};
use errata_server::store::{
    encode_payload, Aggregates, ChannelKind, IssueStatus, NewEvent, RuleSpec, Store,
};
use serde_json::{json, Value};

use crate::helpers::{error_event, event_envelope, new_event_id, TestApp};
use crate::notify::{fast, wait_for, Hook};
use crate::store::{run_postgres, run_sqlite, Ctx};

pub(crate) const T0: i64 = 1_700_000_000_000;
pub(crate) const MINUTE: i64 = 60_000;

// ---- a listener that keeps headers -----------------------------------------------------

/// An HTTP listener on 127.0.0.1 recording every request (path, headers, raw body) and
/// answering `status`.
#[derive(Clone)]
pub(crate) struct Listener {
    pub(crate) base: String,
    status: u16,
    got: Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>,
}

async fn keep(
    State(l): State<Listener>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    l.got
        .lock()
        .expect("lock")
        .push((uri.path().to_owned(), headers, body));
    StatusCode::from_u16(l.status).unwrap_or(StatusCode::OK)
}

impl Listener {
    pub(crate) async fn start(status: u16) -> Listener {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let l = Listener {
            base: format!("http://{}", tcp.local_addr().expect("addr")),
            status,
            got: Arc::default(),
        };
        let app = axum::Router::new()
            .fallback(axum::routing::post(keep))
            .with_state(l.clone());
        tokio::spawn(async move {
            let _ = axum::serve(tcp, app).await;
        });
        l
    }

    pub(crate) fn requests(&self) -> Vec<(String, HeaderMap, Bytes)> {
        self.got.lock().expect("lock").clone()
    }

    pub(crate) fn json(&self, i: usize) -> Value {
        serde_json::from_slice(&self.requests()[i].2).expect("json body")
    }
}

// ---- helpers ------------------------------------------------------------------------------

/// A worker over `store` reading `clock`, with fast retries and loopback targets allowed.
pub(crate) fn notifier(store: &Store, clock: &Clock, tweak: impl Fn(&mut Config)) -> Notifier {
    let mut config = Config {
        base_url: Some("http://errata.test".into()),
        ..Config::default()
    };
    fast(&mut config);
    tweak(&mut config);
    Notifier::with_clock(store.clone(), &config, clock.clone()).expect("notifier")
}

/// Rounds until one does nothing.
pub(crate) async fn drain(n: &Notifier) -> Outcome {
    let mut total = Outcome::default();
    for _ in 0..50 {
        let o = n.run_once().await.expect("round");
        if o.is_idle() {
            return total;
        }
        total.dispatched += o.dispatched;
        total.dropped += o.dropped;
        total.frequency_alerts += o.frequency_alerts;
        total.sent += o.sent;
        total.failed += o.failed;
    }
    panic!("the worker is still busy after 50 rounds");
}

/// One event of the issue grouped by `group`, received at `at`.
pub(crate) fn event(
    project: i64,
    group: &str,
    env: &str,
    level: Level,
    user: &str,
    at: i64,
) -> NewEvent {
    use sha2::Digest;
    NewEvent {
        project_id: project,
        fields: EventFields {
            event_id: EventId::new_random(),
            timestamp_ms: at,
            received_ms: at,
            level,
            platform: "python".into(),
            title: format!("ValueError: {group}"),
            culprit: Some("app.main in charge".into()),
            release: Some("shop@2".into()),
            environment: Some(env.into()),
            user_key: Some(user.into()),
            tags: vec![("environment".into(), env.into())],
        },
        grouping: Grouping {
            version: "v1",
            kind: "message".into(),
            hash: hex::encode(sha2::Sha256::digest(group.as_bytes())),
            values: vec![group.to_owned()],
        },
        payload: encode_payload(&json!({
            "message": group, "environment": env, "level": level.as_str(),
            "tags": [["environment", env], ["region", "eu-west-1"]],
        })),
    }
}

/// Commits `events`; returns their issue ids.
pub(crate) async fn commit(store: &Store, events: Vec<NewEvent>) -> Result<Vec<i64>> {
    let out = store
        .commit_batch(Arc::from(events), Aggregates::Inline)
        .await?;
    Ok(out.into_iter().map(|o| o.issue_id).collect())
}

fn spec(v: Value) -> RuleSpec {
    serde_json::from_value(v).expect("rule spec")
}

/// Disables the project's default rule, so only the test's rules speak.
async fn quiet_default(store: &Store, project: i64) -> Result<()> {
    for r in store.alert_rules(project).await? {
        let mut s = r.spec.clone();
        s.enabled = false;
        store.update_alert_rule(r.id, &s, T0).await??;
    }
    Ok(())
}

// ---- rules on both engines ------------------------------------------------------------

/// A staging event does not alert, a production one does; a warning is under the level.
async fn environment_and_level_filters(ctx: Ctx) -> Result<()> {
    let store = &ctx.store;
    let clock = Clock::manual(T0);
    let hook = Hook::start().await;
    let project = store.create_project("shop").await?.id;
    store
        .add_channel(project, ChannelKind::Slack, &hook.url)
        .await?;
    // The default rule exists and is what we narrow.
    let rules = store.alert_rules(project).await?;
    ensure!(rules.len() == 1 && rules[0].builtin.as_deref() == Some("default"));
    let mut narrowed = rules[0].spec.clone();
    narrowed.filters = serde_json::from_value(json!({
        "environments": ["production"], "level": "error"
    }))?;
    store
        .update_alert_rule(rules[0].id, &narrowed, T0)
        .await??;
    let n = notifier(store, &clock, |_| {});

    commit(
        store,
        vec![event(
            project,
            "staging-a",
            "staging",
            Level::Error,
            "u1",
            T0,
        )],
    )
    .await?;
    let o = drain(&n).await;
    ensure!(
        (o.dispatched, o.dropped, o.sent) == (0, 1, 0),
        "staging: {o:?}"
    );
    commit(
        store,
        vec![event(
            project,
            "prod-warn",
            "production",
            Level::Warning,
            "u1",
            T0,
        )],
    )
    .await?;
    let o = drain(&n).await;
    ensure!(o.sent == 0, "warning: {o:?}");
    commit(
        store,
        vec![event(
            project,
            "prod-err",
            "production",
            Level::Fatal,
            "u1",
            T0,
        )],
    )
    .await?;
    let o = drain(&n).await;
    ensure!((o.dispatched, o.sent) == (1, 1), "production: {o:?}");
    let got = hook.accepted();
    ensure!(got.len() == 1, "{got:?}");
    ensure!(got[0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("ValueError: prod-err")));
    Ok(())
}

/// "More than 2 users in 10 minutes": the third user alerts once; the window moves with the
/// clock, and after it the rule may fire again.
async fn users_affected_trigger(ctx: Ctx) -> Result<()> {
    let store = &ctx.store;
    let clock = Clock::manual(T0);
    let hook = Hook::start().await;
    let project = store.create_project("shop").await?.id;
    store
        .add_channel(project, ChannelKind::Slack, &hook.url)
        .await?;
    quiet_default(store, project).await?;
    store
        .create_alert_rule(
            project,
            &spec(json!({"name": "many users",
                "triggers": [{"kind": "users", "users": 2, "minutes": 10}],
                "actions": {"channels": "all"}})),
            T0,
        )
        .await??;
    let n = notifier(store, &clock, |_| {});
    let ev = |user: &str, at| event(project, "checkout", "production", Level::Error, user, at);
    commit(store, vec![ev("u1", T0), ev("u2", T0), ev("u2", T0)]).await?;
    let o = drain(&n).await;
    ensure!((o.frequency_alerts, o.sent) == (0, 0), "two users: {o:?}");
    commit(store, vec![ev("u3", T0 + MINUTE)]).await?;
    clock.advance(std::time::Duration::from_secs(60));
    let o = drain(&n).await;
    ensure!((o.frequency_alerts, o.sent) == (1, 1), "three users: {o:?}");
    let alert = hook.accepted().pop().expect("alert");
    ensure!(
        alert["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("[shop] Users affected: ")),
        "{alert}"
    );
    // A fourth user within the window: no second alert.
    commit(store, vec![ev("u4", T0 + 2 * MINUTE)]).await?;
    clock.advance(std::time::Duration::from_secs(60));
    let o = drain(&n).await;
    ensure!(o.frequency_alerts == 0, "{o:?}");
    // Twenty minutes on, two users in the window: not over the threshold.
    clock.set_ms(T0 + 22 * MINUTE);
    commit(
        store,
        vec![ev("u5", T0 + 21 * MINUTE), ev("u6", T0 + 22 * MINUTE)],
    )
    .await?;
    let o = drain(&n).await;
    ensure!(o.frequency_alerts == 0, "old users left the window: {o:?}");
    // A third one in the new window fires again.
    commit(store, vec![ev("u7", T0 + 22 * MINUTE)]).await?;
    let o = drain(&n).await;
    ensure!(o.frequency_alerts == 1, "{o:?}");
    ensure!(hook.accepted().len() == 2);
    Ok(())
}

/// "Every event" with a 5-minute interval: at most once per issue per interval, per issue;
/// an ignored issue never.
async fn per_issue_interval(ctx: Ctx) -> Result<()> {
    let store = &ctx.store;
    let clock = Clock::manual(T0);
    let hook = Hook::start().await;
    let project = store.create_project("shop").await?.id;
    let channel = store
        .add_channel(project, ChannelKind::Slack, &hook.url)
        .await?
        .id;
    quiet_default(store, project).await?;
    store
        .create_alert_rule(
            project,
            &spec(json!({"name": "every event", "interval_minutes": 5,
                "triggers": [{"kind": "every_event"}],
                "filters": {"tags": [{"key": "region", "op": "contains", "value": "eu"}]},
                "actions": {"channels": [channel]}})),
            T0,
        )
        .await??;
    let n = notifier(store, &clock, |_| {});
    let ev = |group: &str, at| event(project, group, "production", Level::Error, "u1", at);
    let issues = commit(store, vec![ev("a", T0), ev("b", T0)]).await?;
    ensure!(drain(&n).await.frequency_alerts == 2, "one per issue");
    clock.set_ms(T0 + 4 * MINUTE);
    commit(store, vec![ev("a", T0 + 4 * MINUTE)]).await?;
    ensure!(drain(&n).await.frequency_alerts == 0, "within the interval");
    clock.set_ms(T0 + 6 * MINUTE);
    commit(store, vec![ev("a", T0 + 6 * MINUTE)]).await?;
    ensure!(drain(&n).await.frequency_alerts == 1, "after the interval");
    // Ignored: never.
    for id in &issues {
        store.set_issue_status(*id, IssueStatus::Ignored).await?;
    }
    clock.set_ms(T0 + 20 * MINUTE);
    commit(store, vec![ev("a", T0 + 20 * MINUTE)]).await?;
    ensure!(drain(&n).await.frequency_alerts == 0, "ignored");
    ensure!(hook.accepted().len() == 3);
    Ok(())
}

/// A rule e-mails a named user about every new issue, except the one they muted; unmuted,
/// the next notification reaches them again.
async fn muted_issues_send_the_user_nothing(ctx: Ctx) -> Result<()> {
    let store = &ctx.store;
    let project = store.create_project("shop").await?.id;
    let bob = store.create_user("bob@example.com", "x", false).await?;
    quiet_default(store, project).await?;
    store
        .create_alert_rule(
            project,
            &spec(json!({"name": "bob hears", "triggers": [{"kind": "new_issue"}, {"kind": "regression"}],
                "actions": {"channels": [], "email_users": [bob.id]}})),
            T0,
        )
        .await??;
    let ev = |group: &str, at| event(project, group, "production", Level::Error, "u1", at);
    let ids = commit(store, vec![ev("muted", T0), ev("heard", T0)]).await?;
    store.set_issue_muted(bob.id, ids[0], true, T0).await?;
    ensure!(store.issue_muted(bob.id, ids[0]).await?);
    let pending = || async {
        let status = store.notification_status().await?;
        anyhow::Ok(
            status
                .iter()
                .find(|c| c.channel.source == "user" && c.channel.target == "bob@example.com")
                .map_or(0, |c| c.pending),
        )
    };
    let fan = store.fan_out_notifications(100, T0, 0).await?;
    ensure!(fan.dispatched == 2, "{fan:?}");
    ensure!(pending().await? == 1, "only the issue bob did not mute");
    // Unmuted, its regression reaches him.
    store.set_issue_muted(bob.id, ids[0], false, T0).await?;
    store
        .set_issue_status(ids[0], IssueStatus::Resolved)
        .await?;
    commit(store, vec![ev("muted", T0 + MINUTE)]).await?;
    store.fan_out_notifications(100, T0 + MINUTE, 0).await?;
    ensure!(pending().await? == 2);
    Ok(())
}

/// The default rule e-mails the users who chose e-mail for the project, and only them;
/// unsubscribing stops it.
async fn subscribers_get_the_projects_mail(ctx: Ctx) -> Result<()> {
    let store = &ctx.store;
    let project = store.create_project("shop").await?.id;
    let other = store.create_project("other").await?.id;
    let bob = store.create_user("bob@example.com", "x", false).await?;
    store.create_user("carol@example.com", "x", false).await?;
    store
        .set_project_subscription(bob.id, project, true, T0)
        .await?;
    ensure!(store.project_subscriptions(bob.id).await? == [project]);
    let mails = |to: &'static str| async move {
        let status = store.notification_status().await?;
        anyhow::Ok(
            status
                .iter()
                .find(|c| c.channel.source == "user" && c.channel.target == to)
                .map_or(0, |c| c.pending),
        )
    };
    let ev = |p, group: &str| event(p, group, "production", Level::Error, "u1", T0);
    commit(store, vec![ev(project, "a"), ev(other, "b")]).await?;
    store.fan_out_notifications(100, T0, 0).await?;
    ensure!(
        mails("bob@example.com").await? == 1,
        "bob: his project only"
    );
    ensure!(
        mails("carol@example.com").await? == 0,
        "carol chose nothing"
    );
    store
        .set_project_subscription(bob.id, project, false, T0)
        .await?;
    commit(store, vec![ev(project, "c")]).await?;
    store.fan_out_notifications(100, T0, 0).await?;
    ensure!(mails("bob@example.com").await? == 1, "unsubscribed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_get_the_projects_mail_on_sqlite() -> Result<()> {
    run_sqlite(subscribers_get_the_projects_mail).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_get_the_projects_mail_on_postgres() -> Result<()> {
    run_postgres(subscribers_get_the_projects_mail).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muted_issues_send_the_user_nothing_on_sqlite() -> Result<()> {
    run_sqlite(muted_issues_send_the_user_nothing).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muted_issues_send_the_user_nothing_on_postgres() -> Result<()> {
    run_postgres(muted_issues_send_the_user_nothing).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_filter_by_environment_and_level_on_sqlite() -> Result<()> {
    run_sqlite(environment_and_level_filters).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_filter_by_environment_and_level_on_postgres() -> Result<()> {
    run_postgres(environment_and_level_filters).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_affected_trigger_on_sqlite() -> Result<()> {
    run_sqlite(users_affected_trigger).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_affected_trigger_on_postgres() -> Result<()> {
    run_postgres(users_affected_trigger).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_issue_interval_on_sqlite() -> Result<()> {
    run_sqlite(per_issue_interval).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_issue_interval_on_postgres() -> Result<()> {
    run_postgres(per_issue_interval).await
}

// ---- the API ---------------------------------------------------------------------------

#[tokio::test]
async fn alert_rules_api_lists_creates_updates_and_deletes() {
    let app = TestApp::spawn().await;
    let base = format!("{}/api/v1", app.base);
    let list = app
        .api(&format!("/api/v1/projects/{}/alert-rules", app.project.id))
        .await;
    let rules = list["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 1, "{list}");
    assert_eq!(rules[0]["builtin"], "default");
    assert_eq!(rules[0]["actions"]["channels"], "all");
    assert_eq!(rules[0]["triggers"][0]["kind"], "new_issue");
    assert!(rules[0]["triggers"]
        .as_array()
        .expect("triggers")
        .iter()
        .any(|t| t["kind"] == "uptime_down"));

    let post = |body: Value| {
        app.http
            .post(format!("{base}/projects/{}/alert-rules", app.project.id))
            .bearer_auth(&app.token)
            .json(&body)
            .send()
    };
    for (body, needle) in [
        (json!({"name": "x", "triggers": []}), "at least one trigger"),
        (
            json!({"name": "x", "triggers": [{"kind": "sometimes"}]}),
            "unknown variant",
        ),
        (
            json!({"name": "x", "triggers": [{"kind": "new_issue"}], "filters": {"level": "loud"}}),
            "level \\\"loud\\\"",
        ),
        (
            json!({"name": "x", "triggers": [{"kind": "new_issue"}], "actions": {"channels": [999]}}),
            "channel 999",
        ),
    ] {
        let res = post(body.clone()).await.expect("post");
        assert_eq!(res.status(), 400, "{body}");
        let text = res.text().await.expect("text");
        assert!(text.contains(needle), "{body}: {text}");
    }
    let res = post(json!({
        "name": "Prod spikes",
        "triggers": [{"kind": "frequency", "events": 100, "minutes": 5}],
        "filters": {"environments": ["production"]},
        "actions": {"channels": "all", "email_assignee": true},
        "interval_minutes": 30,
    }))
    .await
    .expect("post");
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.expect("json");
    let id = created["id"].as_i64().expect("id");
    assert_eq!(created["interval_minutes"], 30);
    assert!(created["builtin"].is_null());

    let res = app
        .http
        .patch(format!("{base}/alert-rules/{id}"))
        .bearer_auth(&app.token)
        .json(&json!({"name": "Renamed", "enabled": false}))
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), 200);
    let patched: Value = res.json().await.expect("json");
    assert_eq!(patched["name"], "Renamed");
    assert_eq!(patched["enabled"], false);
    assert_eq!(
        patched["triggers"], created["triggers"],
        "untouched fields stay"
    );
    let res = app
        .http
        .patch(format!("{base}/alert-rules/{id}"))
        .bearer_auth(&app.token)
        .json(&json!({"colour": "red"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), 400);

    let del = |id: i64| {
        app.http
            .delete(format!("{base}/alert-rules/{id}"))
            .bearer_auth(&app.token)
            .send()
    };
    assert_eq!(del(id).await.expect("delete").status(), 204);
    assert_eq!(del(id).await.expect("delete").status(), 404);
    let list = app
        .api(&format!("/api/v1/projects/{}/alert-rules", app.project.id))
        .await;
    assert_eq!(list["rules"].as_array().map(Vec::len), Some(1));
    let res = app.api_raw("/api/v1/projects/99999/alert-rules").await;
    assert_eq!(res.status(), 404);
    app.stop().await;
}

// ---- channels against real listeners -------------------------------------------------

/// Posts one error event through the envelope endpoint.
pub(crate) async fn send_event(app: &TestApp, function: &str, value: &str) {
    let id = new_event_id();
    let res = app
        .post_envelope(event_envelope(&error_event(&id, function, value)))
        .await;
    assert_eq!(res.status(), 200);
}

/// Adds a PagerDuty channel with routing key `key` to the app's project.
pub(crate) async fn add_pagerduty(app: &TestApp, key: &str) {
    errata_server::notify::channel::add(
        &app.store,
        app.project.id,
        "pagerduty",
        key,
        &errata_server::outbound::TargetPolicy {
            allow_private: true,
            setting: "notify.allow_private_targets",
        },
    )
    .await
    .expect("add");
}

const INJECTION: &str = "@everyone <@123> [Log in](http://evil.example/reset) <!channel>";

#[tokio::test]
async fn a_generic_webhook_is_signed_with_the_channel_secret() {
    let hook = Listener::start(200).await;
    let app = TestApp::spawn_with(|c| {
        fast(c);
        c.notify.enabled = false;
    })
    .await;
    let secret = "a-long-shared-secret-0123456789";
    let added = errata_server::notify::channel::add(
        &app.store,
        app.project.id,
        "webhook",
        &format!("{}/errata {secret}", hook.base),
        &errata_server::outbound::TargetPolicy {
            allow_private: true,
            setting: "notify.allow_private_targets",
        },
    )
    .await
    .expect("add");
    assert_eq!(added.len(), 1);
    let n = notifier(&app.store, &Clock::system(), |c| {
        c.base_url = Some(app.base.clone())
    });
    send_event(&app, "charge", INJECTION).await;
    assert_eq!(drain(&n).await.sent, 1);
    let got = hook.requests();
    assert_eq!(got.len(), 1);
    let (path, headers, body) = &got[0];
    assert_eq!(path, "/errata");
    let ts = headers["x-errata-timestamp"].to_str().expect("ts");
    let now = errata_server::clock::system_now_ms() / 1000;
    assert!((now - ts.parse::<i64>().expect("secs")).abs() < 300);
    // The receiver's check, written independently of the server's code.
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        headers["x-errata-signature"].to_str().expect("sig"),
        expected
    );
    assert_eq!(headers["x-errata-event"], "new_issue");
    let v: Value = serde_json::from_slice(body).expect("json");
    assert_eq!(v["version"], 1);
    assert_eq!(v["trigger"], "new_issue");
    assert_eq!(v["project"]["id"], app.project.id);
    assert_eq!(v["project"]["name"], "fixtures");
    assert_eq!(v["issue"]["level"], "error");
    assert_eq!(v["issue"]["count"], 1);
    assert_eq!(v["issue"]["title"], format!("ValueError: {INJECTION}"));
    let issue_id = v["issue"]["id"].as_i64().expect("issue id");
    assert_eq!(v["issue"]["url"], format!("{}/issues/{issue_id}", app.base));
    // The delivery log names the issue, and shows no secret.
    crate::web::add_admin(&app).await;
    let http = crate::web::client();
    let cookie = crate::web::sign_in(&app, &http).await;
    let (status, page) = crate::web::get_page(&app, &http, &cookie, "/admin/deliveries").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!(
            "new_issue · <a href=\"/issues/{issue_id}\">issue #{issue_id}</a>"
        )),
        "{page}"
    );
    assert!(!page.contains(secret), "the secret is not shown");
    // A wrong secret does not verify.
    let mut other = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"wrong").expect("key");
    other.update(format!("{ts}.").as_bytes());
    other.update(body);
    assert_ne!(
        format!("sha256={}", hex::encode(other.finalize().into_bytes())),
        expected
    );
    app.stop().await;
}

/// Discord (204), Teams (200) and ntfy (200) each get their documented shape, with the
/// injection payload inert, from one new issue.
#[tokio::test]
async fn discord_teams_and_ntfy_get_their_shapes_with_event_text_inert() {
    let discord = Listener::start(204).await;
    let teams = Listener::start(200).await;
    let ntfy = Listener::start(200).await;
    let app = TestApp::spawn_with(|c| {
        fast(c);
        c.notify.enabled = false;
    })
    .await;
    let policy = errata_server::outbound::TargetPolicy {
        allow_private: true,
        setting: "notify.allow_private_targets",
    };
    for (kind, target) in [
        ("discord", format!("{}/api/webhooks/1/tok", discord.base)),
        ("teams", format!("{}/workflows/abc", teams.base)),
        ("ntfy", format!("{}/errata-alerts", ntfy.base)),
    ] {
        errata_server::notify::channel::add(&app.store, app.project.id, kind, &target, &policy)
            .await
            .expect(kind);
    }
    let n = notifier(&app.store, &Clock::system(), |c| {
        c.base_url = Some(app.base.clone())
    });
    send_event(&app, "charge", INJECTION).await;
    let o = drain(&n).await;
    assert_eq!(o.sent, 3, "{o:?}");

    let d = discord.json(0);
    assert_eq!(discord.requests()[0].0, "/api/webhooks/1/tok");
    assert_eq!(d["allowed_mentions"]["parse"], json!([]));
    let embed = &d["embeds"][0];
    assert!(embed["url"]
        .as_str()
        .is_some_and(|u| u.starts_with(&format!("{}/issues/", app.base))));
    for text in [&d["content"], &embed["title"], &embed["description"]] {
        let t = text.as_str().expect("text");
        assert!(!t.contains("@everyone"), "{t}");
        assert!(!t.contains("](http"), "{t}");
    }

    let t = teams.json(0);
    assert_eq!(t["type"], "message");
    let card = &t["attachments"][0]["content"];
    assert_eq!(
        t["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    assert!(!card["body"][0]["text"]
        .as_str()
        .expect("title")
        .contains("](http"));

    assert_eq!(
        ntfy.requests()[0].0,
        "/",
        "JSON publishing goes to the root"
    );
    let m = ntfy.json(0);
    assert_eq!(m["topic"], "errata-alerts");
    assert!(m["title"]
        .as_str()
        .is_some_and(|t| t.starts_with("[fixtures] New issue: ValueError:")));
    assert!(m["click"]
        .as_str()
        .is_some_and(|u| u.starts_with(&format!("{}/issues/", app.base))));
    app.stop().await;
}

/// PagerDuty: an issue triggers with its own key; a failing cron monitor triggers and its
/// recovery resolves with one dedup key. The routing key travels in the body only.
#[tokio::test]
async fn pagerduty_triggers_and_resolves_with_one_dedup_key() {
    use crate::monitors::{advance, checkin, guid, post_checkin, MINUTE as ONE_MINUTE};
    let pd = Listener::start(202).await;
    let events_url = format!("{}/v2/enqueue", pd.base);
    let app = TestApp::spawn_with_clock(crate::monitors::T0, |c| {
        fast(c);
        c.notify.pagerduty_events_url = events_url.clone();
    })
    .await;
    let key = "R0UT1NGKEY0123456789abcdefABCDEF";
    add_pagerduty(&app, key).await;
    send_event(&app, "charge", "card declined").await;
    wait_for("the issue event", || {
        (pd.requests().len() == 1).then_some(())
    })
    .await;
    let issue = pd.json(0);
    assert_eq!(pd.requests()[0].0, "/v2/enqueue");
    assert_eq!(issue["routing_key"], key);
    assert_eq!(issue["event_action"], "trigger");
    assert!(issue["dedup_key"]
        .as_str()
        .is_some_and(|k| k.starts_with("errata-issue-")));
    assert_eq!(issue["payload"]["severity"], "error");
    assert_eq!(issue["payload"]["source"], "errata");
    assert_eq!(issue["payload"]["component"], "fixtures");
    assert!(issue["payload"]["summary"]
        .as_str()
        .is_some_and(|s| s.contains("card declined")));
    assert!(issue["links"][0]["href"].as_str().is_some());

    // A cron monitor misses its check-in, then runs well again.
    let config = json!({"schedule": {"type": "crontab", "value": "0 2 * * *"},
                        "timezone": "Europe/Berlin", "checkin_margin": 5});
    post_checkin(&app, &checkin("nightly", &guid(), "ok", Some(config))).await;
    advance(&app, 66).await;
    let events = || -> Vec<Value> { (0..pd.requests().len()).map(|i| pd.json(i)).collect() };
    let is_monitor = |e: &Value| {
        e["dedup_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("errata-monitor-"))
    };
    let trigger = wait_for("the monitor trigger", || {
        events()
            .into_iter()
            .find(|e| is_monitor(e) && e["event_action"] == "trigger")
    })
    .await;
    advance(&app, 60 * 24).await;
    app.clock.advance(ONE_MINUTE * 9);
    post_checkin(&app, &checkin("nightly", &guid(), "ok", None)).await;
    let resolve = wait_for("the resolve", || {
        events()
            .into_iter()
            .find(|e| e["event_action"] == "resolve")
    })
    .await;
    assert!(trigger["payload"]["summary"]
        .as_str()
        .is_some_and(|s| s.contains("FAILING")));
    assert_eq!(trigger["dedup_key"], resolve["dedup_key"]);
    assert_eq!(resolve["routing_key"], key);
    app.stop().await;
}

/// The hook helper of `notify.rs` keeps working for the default rule: an issue reaches a
/// Slack channel through the migrated behaviour with no rule edited.
#[tokio::test]
async fn the_default_rule_keeps_the_old_behaviour() {
    let hook = Hook::start().await;
    let app = TestApp::spawn_with(fast).await;
    app.store
        .add_channel(app.project.id, ChannelKind::Slack, &hook.url)
        .await
        .expect("channel");
    send_event(&app, "charge", "still told").await;
    let p = wait_for("the notification", || hook.accepted().first().cloned()).await;
    assert_eq!(p["text"], "[fixtures] New issue: ValueError: still told");
    app.stop().await;
}

/// Three mails about one issue (new, then two regressions) thread together: distinct
/// `Message-ID`s, one root in `In-Reply-To` and `References`; another issue has another
/// root.
#[tokio::test]
async fn mails_about_one_issue_thread_together() {
    use crate::notify::SmtpSink;
    let Some(python) = crate::helpers::python_with("aiosmtpd") else {
        return;
    };
    let sink = SmtpSink::start(&python, 0).await;
    let port = sink.port;
    let app = TestApp::spawn_with(|c| {
        fast(c);
        c.notify.enabled = false;
        c.notify.regression_window_secs = 0;
        c.notify.smtp.host = Some("127.0.0.1".into());
        c.notify.smtp.port = Some(port);
        c.notify.smtp.tls = errata_server::notify::SmtpTls::None;
        c.notify.smtp.from = "Errata <errata@errors.example.com>".into();
    })
    .await;
    app.store
        .add_channel(app.project.id, ChannelKind::Email, "ops@example.com")
        .await
        .expect("channel");
    let n = notifier(&app.store, &Clock::system(), |c| {
        c.base_url = Some(app.base.clone());
        c.notify.regression_window_secs = 0;
        c.notify.smtp.host = Some("127.0.0.1".into());
        c.notify.smtp.port = Some(port);
        c.notify.smtp.tls = errata_server::notify::SmtpTls::None;
        c.notify.smtp.from = "Errata <errata@errors.example.com>".into();
    });
    send_event(&app, "charge", "threaded").await;
    assert_eq!(drain(&n).await.sent, 1);
    let issue_id = app.all_issues().await[0]["id"].as_i64().expect("id");
    for _ in 0..2 {
        app.store
            .set_issue_status(issue_id, IssueStatus::Resolved)
            .await
            .expect("resolve");
        send_event(&app, "charge", "threaded").await;
        assert_eq!(drain(&n).await.sent, 1);
    }
    send_event(&app, "other", "elsewhere").await;
    assert_eq!(drain(&n).await.sent, 1);
    let mails = wait_for("four mails", || {
        let m = sink.messages();
        (m.len() == 4).then_some(m)
    })
    .await;
    let root = format!("<errata.issue-{issue_id}@errors.example.com>");
    let mut ids = std::collections::BTreeSet::new();
    for m in &mails[..3] {
        assert_eq!(m["in_reply_to"], root.as_str(), "{m}");
        assert_eq!(m["references"], root.as_str(), "{m}");
        let id = m["message_id"].as_str().expect("message id");
        assert!(
            id.starts_with(&format!("<errata.issue-{issue_id}.")),
            "{id}"
        );
        assert!(id.ends_with("@errors.example.com>"), "{id}");
        ids.insert(id.to_owned());
    }
    assert_eq!(ids.len(), 3, "each mail has its own Message-ID");
    // The top in-app frame comes with its source line.
    let text = mails[0]["text"].as_str().expect("text");
    assert!(
        text.replace("\r\n", "\n")
            .contains("charge at app.main:10\n      raise ValueError(x)"),
        "{text}"
    );
    let html = mails[0]["html"].as_str().expect("html");
    assert!(html.contains(">raise ValueError(x)</pre>"), "{html}");
    assert!(mails[1]["subject"]
        .as_str()
        .is_some_and(|s| s.contains("Regression")));
    assert_ne!(mails[3]["references"], root.as_str());
    app.stop().await;
}

/// The Alerts page in headless Chromium (`tests/browser/alerts.js`): list, add a rule with
/// two triggers, an environment filter and two channels (refused once first), edit it (a
/// threshold, one channel fewer), send test, disable, delete; the test message reaches the
/// remaining channel only, and the API reads the rule as the browser left it.
#[tokio::test]
async fn chromium_uses_the_alerts_page() {
    use crate::browser::{browser_tools, repo};
    use crate::web::{add_admin, EMAIL, PASSWORD};
    let Some(chromium) = browser_tools() else {
        return;
    };
    let hook = Hook::start().await;
    let app = TestApp::spawn_with(|c| {
        fast(c);
        c.notify.enabled = false;
    })
    .await;
    add_admin(&app).await;
    // Two channels: the edit removes the second, which then gets nothing.
    let other = Hook::start().await;
    let mut channel_ids = Vec::new();
    for url in [&hook.url, &other.url] {
        let c = app
            .store
            .add_channel(app.project.id, ChannelKind::Slack, url)
            .await
            .expect("channel");
        channel_ids.push(c.id);
    }
    send_event(
        &app,
        "charge",
        "<img src=x onerror=window.__xss=1> <!channel>",
    )
    .await;
    let shots = repo().join("target/screenshots");
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(repo().join("tests/browser/alerts.js"))
        .env("ERRATA_BASE_URL", &app.base)
        .env("ERRATA_EMAIL", EMAIL)
        .env("ERRATA_PASSWORD", PASSWORD)
        .env("ERRATA_PROJECT_ID", app.project.id.to_string())
        .env(
            "ERRATA_CHANNELS",
            format!("{},{}", channel_ids[0], channel_ids[1]),
        )
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
        out.status.success() && stdout.contains("alerts ok"),
        "{stdout}\n{stderr}"
    );
    // The test message went out for real, with the issue's text escaped for Slack.
    let sent = hook.accepted();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let text = sent[0]["text"].as_str().expect("text");
    assert!(text.contains("&lt;!channel&gt;"), "{text}");
    assert!(
        other.accepted().is_empty(),
        "the removed channel got nothing"
    );
    // The rule as the API stores it: what the browser typed, then changed.
    let list = app
        .api(&format!("/api/v1/projects/{}/alert-rules", app.project.id))
        .await;
    let rules = list["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 2, "the default and the page's rule: {list}");
    let rule = &rules[1];
    assert_eq!(rule["name"], "Prod spikes");
    assert_eq!(rule["enabled"], true);
    assert_eq!(
        rule["triggers"],
        json!([
            {"kind": "frequency", "events": 50, "minutes": 5},
            {"kind": "users", "users": 3, "minutes": 10},
        ])
    );
    assert_eq!(rule["filters"], json!({"environments": ["production"]}));
    assert_eq!(
        rule["actions"],
        json!({"channels": [channel_ids[0]], "email_assignee": false, "email_subscribers": false})
    );
    assert_eq!(rule["interval_minutes"], 15);
    app.stop().await;
}

/// The Alerts page's rule form over plain HTTP: a bad rule (a zero window, a threshold that
/// is not a number) is a 400 with the API's words, the form still holding what was typed
/// (escaped), and nothing is stored; the edit form refuses the same way and leaves the rule
/// as it was; a rule of no such id is 404 and a post without the CSRF token changes nothing.
#[tokio::test]
async fn the_alerts_form_refuses_bad_rules_and_stores_nothing() {
    use crate::web::{add_admin, client, csrf_of, get_page, sign_in};
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    let http = client();
    let cookie = sign_in(&app, &http).await;
    let page = format!("/projects/{}/alerts", app.project.id);
    let (status, html) = get_page(&app, &http, &cookie, &page).await;
    assert_eq!(status, StatusCode::OK);
    let csrf = csrf_of(&html);
    let post = |path: String, fields: Vec<(&'static str, &'static str)>, token: bool| {
        let mut form: Vec<(&str, &str)> = fields;
        if token {
            form.push(("csrf", csrf.as_str()));
        }
        http.post(format!("{}{path}", app.base))
            .header(reqwest::header::COOKIE, &cookie)
            .form(&form)
            .send()
    };
    let rules = || async {
        let list = app
            .api(&format!("/api/v1/projects/{}/alert-rules", app.project.id))
            .await;
        list["rules"].as_array().cloned().unwrap_or_default()
    };
    let typed = |extra: &[(&'static str, &'static str)]| {
        let mut f = vec![
            ("action", "create"),
            ("name", "<b>Spikes</b>"),
            ("trigger", "frequency"),
            ("environments", "production"),
            ("channel", "all"),
            ("interval_minutes", "0"),
        ];
        f.extend_from_slice(extra);
        f
    };
    for (extra, needle) in [
        (
            [("frequency_events", "0"), ("frequency_minutes", "0")],
            "a trigger&#x27;s minutes must be from 1",
        ),
        (
            [("frequency_events", "lots"), ("frequency_minutes", "5")],
            "N events must be a whole number",
        ),
    ] {
        let res = post(page.clone(), typed(&extra), true).await.expect("post");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{extra:?}");
        let html = res.text().await.expect("text");
        assert!(html.contains(needle), "{needle}: {html}");
        assert!(
            html.contains("&lt;b&gt;Spikes") && !html.contains("<b>Spikes"),
            "the name is kept, escaped"
        );
        assert!(html.contains(r#"value="production""#), "the filter is kept");
        assert_eq!(rules().await.len(), 1, "nothing stored for {extra:?}");
    }

    let res = post(
        page.clone(),
        typed(&[("frequency_events", "10"), ("frequency_minutes", "5")]),
        true,
    )
    .await
    .expect("post");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let stored = rules().await;
    assert_eq!(stored.len(), 2);
    let id = stored[1]["id"].as_i64().expect("id");
    let edit = format!("{page}/{id}/edit");
    let (status, html) = get_page(&app, &http, &cookie, &edit).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"name="frequency_events" id="rule-frequency-events" size="6" value="10""#)
    );
    let bad_edit = vec![
        ("name", "Spikes"),
        ("trigger", "users"),
        ("users_users", "2"),
        ("users_minutes", "0"),
    ];
    let res = post(edit.clone(), bad_edit.clone(), true)
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = res.text().await.expect("text");
    assert!(html.contains("minutes must be from 1"), "{html}");
    assert!(html.contains(r#"value="users" id="rule-trigger-users" checked"#));
    let res = post(edit.clone(), bad_edit, false).await.expect("post");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "no CSRF token");
    assert_eq!(
        rules().await[1],
        stored[1],
        "the refused edits changed nothing"
    );
    let res = post(format!("{page}/99999/edit"), typed(&[]), true)
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
