//! DOWN and UP messages through the real channels (the aiosmtpd sink and a Slack-like
//! webhook listener of `tests/it/notify.rs`), delivered by the server's own worker; the
//! down check shows as an issue, resolved when it is up again.

use errata_server::notify::SmtpTls;
use errata_server::store::ChannelKind;
use serde_json::json;

use super::*;
use crate::helpers::python_with;
use crate::notify::{wait_for, Hook, SmtpSink};

#[tokio::test]
async fn a_503_goes_down_after_the_threshold_and_up_again_with_one_message_each() {
    let Some(python) = python_with("aiosmtpd") else {
        return;
    };
    let sink = SmtpSink::start(&python, 0).await;
    let hook = Hook::start().await;
    let port = sink.port;
    let app = app(|c| {
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
    let site = Target::start(Reply::Status(200, "ok")).await;
    let url = site.url("/healthz");
    let id = create_ok(
        &app,
        &json!({"url": url, "name": "Shop <health>", "interval_seconds": 10, "timeout_seconds": 2}),
    )
    .await;
    step(&app, 10).await;
    assert_eq!(check(&app, id).await["status"], "up");

    site.set(Reply::Status(503, "maintenance"));
    step(&app, 10).await;
    let c = check(&app, id).await;
    assert_eq!(c["status"], "up", "one failure is below the threshold: {c}");
    assert_eq!(c["last_error"], "503 Service Unavailable");
    step(&app, 10).await;
    let c = check(&app, id).await;
    assert_eq!(c["status"], "down", "{c}");
    let first_failure = results(&app, id).await[1]["checked_at"]
        .as_str()
        .expect("time")
        .to_owned();
    let since = &first_failure[11..19];

    let mails = wait_for("the DOWN mail", || {
        let m = sink.messages();
        (!m.is_empty()).then_some(m)
    })
    .await;
    let down = &mails[0];
    assert_eq!(
        down["subject"],
        format!("[fixtures] DOWN: {url} — 503 Service Unavailable (2 checks, since {since} UTC)")
    );
    let text = down["text"].as_str().expect("text");
    let link = format!("{}/uptime/{id}", app.base);
    for needle in [
        "Check:",
        "Shop <health>",
        "Expected:      200-399",
        &link,
        "/issues/",
    ] {
        assert!(text.contains(needle), "mail lacks {needle:?}:\n{text}");
    }
    let html = down["html"].as_str().expect("html");
    assert!(html.contains("Shop &lt;health&gt;"), "escaped: {html}");
    let posts = wait_for("the DOWN webhook", || {
        let p = hook.accepted();
        (!p.is_empty()).then_some(p)
    })
    .await;
    assert_eq!(posts[0]["text"], down["subject"]);

    // The down check is an issue; a third failure tells nobody again.
    let issues = app.all_issues().await;
    let issue = issues
        .iter()
        .find(|i| {
            i["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("DOWN: ") && t.contains("503"))
        })
        .unwrap_or_else(|| panic!("no DOWN issue in {issues:?}"));
    assert_eq!(issue["status"], "unresolved");
    let issue_id = issue["id"].as_i64().expect("issue id");
    step(&app, 10).await;

    site.set(Reply::Status(200, "ok"));
    step(&app, 10).await;
    assert_eq!(check(&app, id).await["status"], "up");
    let mails = wait_for("the UP mail", || {
        let m = sink.messages();
        (m.len() >= 2).then_some(m)
    })
    .await;
    assert_eq!(
        mails[1]["subject"],
        format!("[fixtures] UP: {url} is up again after 30 s")
    );
    let posts = wait_for("the UP webhook", || {
        let p = hook.accepted();
        (p.len() >= 2).then_some(p)
    })
    .await;
    assert_eq!(posts[1]["text"], mails[1]["subject"]);
    let issue = app.api(&format!("/api/v1/issues/{issue_id}")).await;
    assert_eq!(issue["status"], "resolved", "{issue}");
    for _ in 0..3 {
        app.jobs.run_now("notify").await.expect("notify pass");
    }
    assert_eq!(sink.messages().len(), 2, "{:?}", sink.messages());
    assert_eq!(hook.accepted().len(), 2);
    assert_eq!(app.metric("errata_uptime_down").await, 0.0);
    app.stop().await;
}
