//! Alert follow-ups of issue #18: PagerDuty resolves an issue's incident when the issue is
//! resolved, the per-project e-mail digest, personal e-mail settings and the Alerts page's
//! rules with several triggers, filters and actions.

use anyhow::{ensure, Result};
use errata_server::clock::Clock;
use errata_server::notify::SmtpTls;
use errata_server::protocol::Level;
use errata_server::store::ChannelKind;
use serde_json::{json, Value};

use crate::alerts::{
    add_pagerduty, commit, drain, event, notifier, send_event, Listener, MINUTE, T0,
};
use crate::helpers::TestApp;
use crate::notify::{fast, wait_for, Hook, SmtpSink};
use crate::store::{run_postgres, run_sqlite, Ctx};

/// A PagerDuty channel and a Slack channel hear of a new issue; resolving the issue through
/// the API sends PagerDuty a `resolve` with the trigger's dedup key, and Slack nothing.
async fn resolving_resolves_pagerduty(url: String) -> Result<()> {
    let pd = Listener::start(202).await;
    let hook = Hook::start().await;
    let events_url = format!("{}/v2/enqueue", pd.base);
    let app = TestApp::spawn_on(&url, |c| {
        fast(c);
        c.notify.pagerduty_events_url = events_url.clone();
    })
    .await;
    let key = "R0UT1NGKEY0123456789abcdefABCDEF";
    add_pagerduty(&app, key).await;
    app.store
        .add_channel(app.project.id, ChannelKind::Slack, &hook.url)
        .await
        .expect("slack");
    send_event(&app, "charge", "card declined").await;
    wait_for("the trigger", || (pd.requests().len() == 1).then_some(())).await;
    wait_for("the slack message", || hook.accepted().first().cloned()).await;
    let issue_id = app.all_issues().await[0]["id"].as_i64().expect("id");
    let res = app.set_status(issue_id, "resolved").await;
    assert_eq!(res.status(), 200);
    wait_for("the resolve", || (pd.requests().len() == 2).then_some(())).await;
    let trigger: Value = pd.json(0);
    let resolve: Value = pd.json(1);
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], trigger["dedup_key"]);
    assert_eq!(
        resolve["dedup_key"].as_str(),
        Some(format!("errata-issue-{issue_id}").as_str())
    );
    assert_eq!(resolve["routing_key"], key);
    // Resolving again changes nothing; Slack was told of the new issue only.
    assert_eq!(app.set_status(issue_id, "resolved").await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(pd.requests().len(), 2);
    assert_eq!(hook.accepted().len(), 1, "{:?}", hook.accepted());
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn resolving_an_issue_resolves_its_pagerduty_incident_on_sqlite() -> Result<()> {
    let dir = tempfile::tempdir()?;
    resolving_resolves_pagerduty(format!("sqlite://{}/errata.db", dir.path().display())).await
}

#[tokio::test]
async fn resolving_an_issue_resolves_its_pagerduty_incident_on_postgres() -> Result<()> {
    crate::store::with_fresh_postgres(resolving_resolves_pagerduty).await
}

/// With a 10-minute e-mail digest on `shop`: its first issue is mailed at once, the next two
/// (a minute later) wait and leave as one digest when the ten minutes are over; `other`,
/// without a digest, is mailed at once. A real SMTP listener, a manual clock, both engines.
async fn project_email_digest(ctx: Ctx) -> Result<()> {
    let Some(python) = crate::helpers::python_with("aiosmtpd") else {
        return Ok(());
    };
    let sink = SmtpSink::start(&python, 0).await;
    let port = sink.port;
    let store = &ctx.store;
    let clock = Clock::manual(T0);
    let shop = store.create_project("shop").await?.id;
    let other = store.create_project("other").await?.id;
    for p in [shop, other] {
        store
            .add_channel(p, ChannelKind::Email, "ops@example.com")
            .await?;
    }
    store.set_project_email_digest(shop, Some(10)).await?;
    ensure!(store.project_email_digest(shop).await? == Some(10));
    ensure!(store.project_email_digest(other).await?.is_none());
    let n = notifier(store, &clock, |c| {
        c.notify.smtp.host = Some("127.0.0.1".into());
        c.notify.smtp.port = Some(port);
        c.notify.smtp.tls = SmtpTls::None;
        c.notify.smtp.from = "Errata <errata@example.com>".into();
    });
    let ev = |p, group: &str, at| event(p, group, "production", Level::Error, "u1", at);
    commit(store, vec![ev(shop, "first", T0)]).await?;
    ensure!(drain(&n).await.sent == 1, "the first mail goes at once");
    clock.set_ms(T0 + MINUTE);
    commit(
        store,
        vec![
            ev(shop, "second", T0 + MINUTE),
            ev(shop, "third", T0 + MINUTE),
            ev(other, "elsewhere", T0 + MINUTE),
        ],
    )
    .await?;
    ensure!(drain(&n).await.sent == 1, "only other's mail");
    clock.set_ms(T0 + 9 * MINUTE);
    ensure!(drain(&n).await.sent == 0, "still within shop's ten minutes");
    clock.set_ms(T0 + 10 * MINUTE);
    ensure!(drain(&n).await.sent == 1, "one digest");
    let mails = wait_for("three mails", || {
        let m = sink.messages();
        (m.len() == 3).then_some(m)
    })
    .await;
    let subjects: Vec<&str> = mails
        .iter()
        .map(|m| m["subject"].as_str().unwrap_or_default())
        .collect();
    ensure!(
        subjects[0].contains("ValueError: first") && subjects[1].contains("ValueError: elsewhere"),
        "{subjects:?}"
    );
    ensure!(subjects[2] == "[shop] 2 new issues", "{subjects:?}");
    let text = mails[2]["text"].as_str().unwrap_or_default();
    ensure!(
        text.contains("ValueError: second") && text.contains("ValueError: third"),
        "{text}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_email_digest_on_sqlite() -> Result<()> {
    run_sqlite(project_email_digest).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_email_digest_on_postgres() -> Result<()> {
    run_postgres(project_email_digest).await
}

/// The digest setting through the API and `errata project update`-style parsing: minutes
/// out of range are refused with 400, `null` turns it off.
#[tokio::test]
async fn email_digest_api_sets_and_refuses() {
    let app = TestApp::spawn().await;
    let path = format!("/api/v1/projects/{}/email-digest", app.project.id);
    let put = |body: Value| {
        app.http
            .put(format!("{}{path}", app.base))
            .bearer_auth(&app.token)
            .json(&body)
            .send()
    };
    assert_eq!(app.api(&path).await["minutes"], Value::Null);
    let res = put(json!({"minutes": 15})).await.expect("put");
    assert_eq!(res.status(), 200);
    assert_eq!(app.api(&path).await["minutes"], 15);
    assert_eq!(
        app.store.project_email_digest(app.project.id).await.ok(),
        Some(Some(15))
    );
    let res = put(json!({"minutes": 100_000})).await.expect("put");
    assert_eq!(res.status(), 400);
    let res = put(json!({"minutes": null})).await.expect("put");
    assert_eq!(res.status(), 200);
    assert_eq!(app.api(&path).await["minutes"], Value::Null);
    app.stop().await;
}

/// One's own e-mail settings in headless Chromium (`tests/browser/notify_prefs.js`): the
/// admin and bob get e-mail for the project; the admin unticks it on
/// `/account/notifications` and mutes an issue with the issue page's button. The next new
/// issue reaches bob's mailbox on a real SMTP listener and not the admin's.
#[tokio::test]
async fn chromium_opts_out_of_a_projects_mail_and_mutes_an_issue() {
    use crate::browser::{browser_tools, repo, run_script};
    use crate::web::{add_admin, EMAIL, PASSWORD};
    let Some(chromium) = browser_tools() else {
        return;
    };
    let Some(python) = crate::helpers::python_with("aiosmtpd") else {
        return;
    };
    let sink = SmtpSink::start(&python, 0).await;
    let port = sink.port;
    let app = TestApp::spawn_with(|c| {
        fast(c);
        c.notify.smtp.host = Some("127.0.0.1".into());
        c.notify.smtp.port = Some(port);
        c.notify.smtp.tls = SmtpTls::None;
        c.notify.smtp.from = "Errata <errata@example.com>".into();
    })
    .await;
    add_admin(&app).await;
    let admin = app
        .store
        .user_by_email(EMAIL)
        .await
        .expect("db")
        .expect("admin")
        .id;
    let bob = app
        .store
        .create_user("bob@example.com", "x", false)
        .await
        .expect("bob")
        .id;
    for user in [admin, bob] {
        app.store
            .set_project_subscription(user, app.project.id, true, T0)
            .await
            .expect("subscribe");
    }
    let to = |m: &Value| m["rcpt_tos"][0].as_str().unwrap_or_default().to_owned();
    send_event(&app, "charge", "before").await;
    wait_for("both mails", || (sink.messages().len() == 2).then_some(())).await;
    let issue_id = app.all_issues().await[0]["id"].as_i64().expect("id");

    let shots = repo().join("target/screenshots").display().to_string();
    let (project, issue) = (app.project.id.to_string(), issue_id.to_string());
    let env = [
        ("ERRATA_BASE_URL", app.base.as_str()),
        ("ERRATA_EMAIL", EMAIL),
        ("ERRATA_PASSWORD", PASSWORD),
        ("ERRATA_PROJECT_ID", project.as_str()),
        ("ERRATA_ISSUE_ID", issue.as_str()),
        ("ERRATA_SCREENSHOTS", shots.as_str()),
    ];
    let limit = std::time::Duration::from_secs(180);
    run_script("notify_prefs.js", &chromium, &env, limit, "prefs ok").await;
    assert_eq!(
        app.store.project_subscriptions(admin).await.expect("subs"),
        Vec::<i64>::new()
    );
    assert!(app.store.issue_muted(admin, issue_id).await.expect("muted"));
    assert!(!app.store.issue_muted(bob, issue_id).await.expect("bob"));

    send_event(&app, "refund", "after").await;
    wait_for("bob's mail", || (sink.messages().len() == 3).then_some(())).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mails = sink.messages();
    assert_eq!(mails.len(), 3, "{mails:?}");
    assert_eq!(to(&mails[2]), "bob@example.com");
    let admins: Vec<&Value> = mails.iter().filter(|m| to(m) == EMAIL).collect();
    assert_eq!(admins.len(), 1, "the admin heard only before opting out");
    app.stop().await;
}
