//! Incident messages through the real channels: the aiosmtpd sink and a Slack-like webhook
//! listener of `tests/it/notify.rs`, delivered by the server's own worker: one FAILING
//! message when the monitor starts failing (no separate new-issue message for its issue), one
//! RECOVERED message when it recovers.

use errata_server::notify::SmtpTls;
use errata_server::store::ChannelKind;
use serde_json::{json, Value};

use super::*;
use crate::helpers::{python_with, TestApp};
use crate::notify::{fast, wait_for, Hook, SmtpSink};

#[tokio::test]
async fn failing_and_recovered_messages_reach_smtp_and_webhook_once_each() {
    let Some(python) = python_with("aiosmtpd") else {
        return;
    };
    let sink = SmtpSink::start(&python, 0).await;
    let hook = Hook::start().await;
    let port = sink.port;
    let app = TestApp::spawn_with_clock(T0, |c| {
        fast(c);
        c.notify.admins = "Ops <ops@example.com>".into();
        c.notify.smtp.host = Some("127.0.0.1".into());
        c.notify.smtp.port = Some(port);
        c.notify.smtp.tls = SmtpTls::None;
        c.notify.smtp.from = "Errata <errata@example.com>".into();
    })
    .await;
    app.store
        .add_channel(app.project.id, ChannelKind::Slack, &hook.url)
        .await
        .expect("channel");
    // 01:00 CET on the 10th; the job is due at 02:00 CET (01:00 UTC).
    let config = json!({"schedule": {"type": "crontab", "value": "0 2 * * *"},
                        "timezone": "Europe/Berlin", "checkin_margin": 5});
    post_checkin(
        &app,
        &checkin("nightly-backup", &guid(), "ok", Some(config)),
    )
    .await;
    let id = monitor(&app, "nightly-backup").await["id"]
        .as_i64()
        .expect("id");
    advance(&app, 66).await;

    let mails = wait_for("the failing mail", || {
        let m = sink.messages();
        (!m.is_empty()).then_some(m)
    })
    .await;
    let failing = &mails[0];
    assert_eq!(
        failing["subject"],
        "[fixtures] FAILING: Cron monitor nightly-backup (production) missed its check-in due \
         02:00 Europe/Berlin"
    );
    let text = failing["text"].as_str().expect("text");
    let monitor_link = format!("{}/monitors/{id}", app.base);
    for needle in [
        "Cron monitor nightly-backup (production) missed its check-in due 02:00 Europe/Berlin",
        "Environment:   production",
        "Schedule:      At 02:00",
        "Failing since: 2026-01-10 02:06 Europe/Berlin",
        "Last good run: 2026-01-10 01:00 Europe/Berlin",
        &monitor_link,
        "/issues/",
    ] {
        assert!(text.contains(needle), "mail lacks {needle:?}:\n{text}");
    }
    let html = failing["html"].as_str().expect("html");
    assert!(html.contains(&format!("href=\"{monitor_link}\"")), "{html}");
    let posts = wait_for("the failing webhook", || {
        let p = hook.accepted();
        (!p.is_empty()).then_some(p)
    })
    .await;
    assert_eq!(posts[0]["text"], failing["subject"]);
    let blocks = &posts[0]["attachments"][0]["blocks"];
    assert!(
        blocks[0]["text"]["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("FAILING: "),
        "{blocks}"
    );
    let buttons: Vec<&Value> = blocks[3]["elements"].as_array().unwrap().iter().collect();
    assert_eq!(buttons[0]["url"], monitor_link.as_str());

    // A second miss while failing tells nobody again; then a good run recovers.
    advance(&app, 60 * 24).await;
    app.clock.advance(MINUTE * 9);
    post_checkin(&app, &checkin("nightly-backup", &guid(), "ok", None)).await;
    let mails = wait_for("the recovery mail", || {
        let m = sink.messages();
        (m.len() >= 2).then_some(m)
    })
    .await;
    let recovered = &mails[1];
    let subject = recovered["subject"].as_str().unwrap_or_default();
    assert!(
        subject.starts_with(
            "[fixtures] RECOVERED: Cron monitor nightly-backup (production) is OK again after 1 day"
        ),
        "{subject}"
    );
    let posts = wait_for("the recovery webhook", || {
        let p = hook.accepted();
        (p.len() >= 2).then_some(p)
    })
    .await;
    assert_eq!(posts[1]["text"], recovered["subject"]);
    // Nothing else was sent: no new-issue message for the monitor's issue.
    for _ in 0..3 {
        app.jobs.run_now("notify").await.expect("notify pass");
    }
    assert_eq!(sink.messages().len(), 2, "{:?}", sink.messages());
    assert_eq!(hook.accepted().len(), 2);
    app.stop().await;
}
