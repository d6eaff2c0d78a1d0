//! User feedback end to end: `feedback` and `user_report` envelope items stored and linked
//! to their event's issue whichever arrives first (on SQLite and PostgreSQL), the API, the
//! issue list's count and `has:feedback`, the pages; then the real `@sentry/node` and
//! `@sentry/browser` (bundled from `tests/node/node_modules`, run in headless Chromium)
//! sending `captureFeedback` about their own errors.

use std::path::PathBuf;
use std::time::Duration;

use errata_server::clock::{system_now_ms, Clock};
use errata_server::store::{FeedbackQuery, IssueQuery};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{error_event, new_event_id, urlencode, TestApp};
use crate::ingest::{envelope_of, to_json};
use crate::store::{run_postgres, run_sqlite, Ctx};
use crate::web::{add_admin, client, get_page, issue_titled, send, sign_in, EMAIL, PASSWORD};

/// Posts an envelope of `items` with an `event_id` header; returns the status and body.
async fn post(app: &TestApp, header_id: &str, items: &[(&str, Value)]) -> (StatusCode, Value) {
    let items: Vec<(&str, Vec<u8>)> = items.iter().map(|(t, v)| (*t, to_json(v))).collect();
    let res = app
        .post_envelope(envelope_of(&json!({ "event_id": header_id }), &items))
        .await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A `feedback` item as `captureFeedback` sends it.
fn feedback_item(own_id: &str, about: Option<&str>, message: &str) -> Value {
    json!({
        "event_id": own_id,
        "type": "feedback",
        "level": "info",
        "platform": "javascript",
        "user": {"email": "fallback@example.com"},
        "contexts": {"feedback": {
            "message": message,
            "name": "Ann Example",
            "associated_event_id": about,
            "url": "https://shop.example.com/cart?x=<b>",
            "source": "api",
        }},
    })
}

/// A legacy `user_report` item.
fn user_report(event_id: &str, comments: &str) -> Value {
    json!({"event_id": event_id, "name": "Bo", "email": "bo@example.com", "comments": comments})
}

/// The feedback the API lists for an issue.
async fn issue_feedback(app: &TestApp, issue_id: i64) -> Vec<Value> {
    app.api(&format!("/api/v1/issues/{issue_id}/feedback"))
        .await["feedback"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The project's feedback, newest first.
async fn project_feedback(app: &TestApp) -> Vec<Value> {
    app.api(&format!("/api/v1/projects/{}/feedback", app.project.id))
        .await["feedback"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn link(app: &TestApp) {
    let report = app
        .jobs
        .run_now(errata_server::feedback::JOB_NAME)
        .await
        .expect("feedback_links runs");
    assert!(format!("{report:?}").contains("Ok"), "{report:?}");
}

/// The scenario of both engines, on a server whose clock stands still (so the link job runs
/// only when the test asks).
async fn feedback_items_are_stored_and_linked(url: &str) {
    let clock = Clock::manual(system_now_ms());
    let app = TestApp::spawn_on_with_clock(url, clock, |_| {}).await;

    // The event first, then a legacy report about it: linked as it is stored.
    let a = new_event_id();
    send(&app, &error_event(&a, "charge_card", "card declined")).await;
    let (status, body) = post(
        &app,
        &a,
        &[("user_report", user_report(&a, "I was charged twice"))],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let issue_a = issue_titled(&app, "card declined").await;
    let listed = issue_feedback(&app, issue_a).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let f = &listed[0];
    assert_eq!(
        (&f["name"], &f["email"], &f["message"], &f["event_id"]),
        (
            &json!("Bo"),
            &json!("bo@example.com"),
            &json!("I was charged twice"),
            &json!(a)
        )
    );
    assert_eq!(f["kind"], "user_report");
    assert!(
        f["date_created"].as_str().is_some_and(|d| d.ends_with('Z')),
        "{f}"
    );
    // A second report about the same event replaces the first.
    let (status, _) = post(
        &app,
        &a,
        &[("user_report", user_report(&a, "Charged twice, refund?"))],
    )
    .await;
    assert_eq!(status, 200);
    let listed = issue_feedback(&app, issue_a).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["message"], "Charged twice, refund?");

    // Feedback first, its event later: unlinked until the link job finds the event.
    let b = new_event_id();
    let fb = new_event_id();
    let item = feedback_item(
        &fb,
        Some(&b),
        "Nothing happens when I pay <script>window.__xss=1</script>",
    );
    let (status, body) = post(&app, &fb, &[("feedback", item.clone())]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], fb, "answered with the feedback's id");
    // An SDK retry of the same feedback is not a second entry.
    assert_eq!(post(&app, &fb, &[("feedback", item)]).await.0, 200);
    let waiting: Vec<Value> = project_feedback(&app)
        .await
        .into_iter()
        .filter(|f| f["event_id"] == json!(b))
        .collect();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0]["issue_id"], Value::Null);
    assert_eq!(waiting[0]["name"], "Ann Example");
    assert_eq!(
        waiting[0]["email"], "fallback@example.com",
        "the user's e-mail"
    );
    send(&app, &error_event(&b, "apply_coupon", "coupon rejected")).await;
    let issue_b = issue_titled(&app, "coupon rejected").await;
    assert!(
        issue_feedback(&app, issue_b).await.is_empty(),
        "not linked yet"
    );
    link(&app).await;
    let linked = issue_feedback(&app, issue_b).await;
    assert_eq!(linked.len(), 1, "{linked:?}");
    assert_eq!(linked[0]["url"], "https://shop.example.com/cart?x=<b>");

    // Feedback and its event in one envelope, the feedback first: both stored, the response
    // names the event, the event is not mistaken for a second one.
    let c = new_event_id();
    let (status, body) = post(
        &app,
        &c,
        &[
            (
                "feedback",
                feedback_item(&new_event_id(), Some(&c), "same envelope"),
            ),
            ("event", error_event(&c, "ship_order", "no courier")),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], c);
    link(&app).await;
    let issue_c = issue_titled(&app, "no courier").await;
    assert_eq!(issue_feedback(&app, issue_c).await.len(), 1);

    // Feedback about no event (the widget) is kept for the project; the job leaves it.
    let (status, _) = post(
        &app,
        &new_event_id(),
        &[(
            "feedback",
            feedback_item(&new_event_id(), None, "Dark mode please"),
        )],
    )
    .await;
    assert_eq!(status, 200);
    link(&app).await;
    let all = project_feedback(&app).await;
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(all[0]["message"], "Dark mode please", "newest first");
    assert_eq!(all[0]["issue_id"], Value::Null);

    // Bad items are refused with a reason and store nothing.
    let d = new_event_id();
    send(&app, &error_event(&d, "no_feedback_here", "quiet failure")).await;
    for (ty, item, needle) in [
        (
            "feedback",
            json!({"contexts": {"feedback": {"message": " "}}}),
            "message",
        ),
        ("feedback", json!(["not", "an", "object"]), "object"),
        ("user_report", json!({"comments": "no event"}), "event_id"),
        ("user_report", json!({"event_id": d}), "comments"),
    ] {
        let (status, body) = post(&app, &d, &[(ty, item)]).await;
        assert_eq!(status, 400, "{ty}: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(ty) && detail.contains(needle), "{detail}");
    }
    assert_eq!(project_feedback(&app).await.len(), 4);

    // The issue list: counts, and `has:feedback` finds exactly the issues with feedback.
    let mut q = IssueQuery::new(app.project.id);
    q.has_feedback = true;
    let mut with: Vec<i64> = app
        .store
        .list_issues(&q)
        .await
        .expect("list")
        .issues
        .iter()
        .map(|i| i.id)
        .collect();
    with.sort_unstable();
    assert_eq!(with, vec![issue_a, issue_b, issue_c]);
    add_admin(&app).await;
    let http = client();
    let cookie = sign_in(&app, &http).await;
    // A page with its attribute values' escaped `/` put back, to look for links.
    let get = |path: String| {
        let (http, cookie, app) = (&http, &cookie, &app);
        async move {
            let (status, page) = get_page(app, http, cookie, &path).await;
            (status, page.replace("&#x2f;", "/"))
        }
    };
    let list = format!(
        "/projects/{}/issues?q={}",
        app.project.id,
        urlencode("has:feedback")
    );
    let (status, page) = get(list.clone()).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("card declined")
            && page.contains("coupon rejected")
            && !page.contains("quiet failure"),
        "has:feedback"
    );
    assert!(page.contains(&format!(
        "href=\"/issues/{issue_b}#user-feedback\" title=\"user feedback\">1 feedback"
    )));
    let (_, page) = get(format!("/projects/{}/issues?q=has:nothing", app.project.id)).await;
    assert!(page.contains("unknown has:nothing"), "a clear search error");

    // The issue page and the Feedback page show it, escaped.
    let (status, page) = get(format!("/issues/{issue_b}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"user-feedback\"") && page.contains("Ann Example"));
    assert!(
        page.contains("Nothing happens when I pay &lt;script&gt;")
            && !page.contains("<script>window")
    );
    assert!(
        page.contains(&format!("href=\"/issues/{issue_b}?event={b}\"")),
        "links its event"
    );
    let (_, page) = get(format!(
        "/issues/{}",
        issue_titled(&app, "quiet failure").await
    ))
    .await;
    assert!(
        !page.contains("id=\"user-feedback\""),
        "no section without feedback"
    );
    let feedback_page = format!("/projects/{}/feedback", app.project.id);
    let (status, page) = get(feedback_page.clone()).await;
    assert_eq!(status, 200);
    assert!(page.contains("Dark mode please") && page.contains("Charged twice, refund?"));
    assert!(page.contains("no event") && page.contains("crash report"));
    assert!(
        page.contains("https://shop.example.com/cart?x=&lt;b&gt;")
            && !page.contains("href=\"https://shop.example.com"),
        "the page URL is text, not a link"
    );
    let (_, page) = get(format!("{feedback_page}?issue={issue_a}")).await;
    assert!(page.contains("Charged twice, refund?") && !page.contains("Dark mode please"));

    // The API: paging, errors.
    let first = app
        .api(&format!(
            "/api/v1/projects/{}/feedback?limit=3",
            app.project.id
        ))
        .await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let second = app
        .api(&format!(
            "/api/v1/projects/{}/feedback?limit=3&cursor={cursor}",
            app.project.id
        ))
        .await;
    assert_eq!(second["feedback"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["next_cursor"], Value::Null);
    assert_eq!(
        app.api_raw("/api/v1/issues/999999/feedback").await.status(),
        404
    );
    let bad = app
        .api_raw(&format!("/api/v1/issues/{issue_a}/feedback?cursor=x"))
        .await;
    assert_eq!(bad.status(), 400);

    // Deleting an issue deletes its feedback; the rest stays.
    let csrf = crate::web::csrf_of(&get(format!("/issues/{issue_a}")).await.1);
    let res = http
        .post(format!("{}/issues/{issue_a}/delete", app.base))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let left = app
        .store
        .list_feedback(&FeedbackQuery {
            project_id: Some(app.project.id),
            limit: 100,
            ..FeedbackQuery::default()
        })
        .await
        .expect("feedback");
    assert_eq!(left.feedback.len(), 3);
    assert!(left.feedback.iter().all(|f| f.issue_id != Some(issue_a)));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_is_stored_and_linked_on_sqlite() -> anyhow::Result<()> {
    run_sqlite(|ctx: Ctx| async move {
        feedback_items_are_stored_and_linked(&ctx.url).await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_is_stored_and_linked_on_postgres() -> anyhow::Result<()> {
    run_postgres(|ctx: Ctx| async move {
        feedback_items_are_stored_and_linked(&ctx.url).await;
        Ok(())
    })
    .await
}

/// The store's side: the link job's window, relinking after events move, counts.
#[tokio::test]
async fn links_follow_events_and_old_orphans_are_left_alone() {
    let start = system_now_ms();
    let app = TestApp::spawn_with_clock(start, |_| {}).await;
    let orphan = new_event_id();
    let (status, _) = post(
        &app,
        &orphan,
        &[(
            "feedback",
            feedback_item(&new_event_id(), Some(&orphan), "old"),
        )],
    )
    .await;
    assert_eq!(status, 200);
    // 31 days later its event arrives: the job no longer looks for it.
    app.clock.advance(Duration::from_secs(31 * 24 * 3600));
    send(&app, &error_event(&orphan, "late", "very late event")).await;
    link(&app).await;
    let stored = project_feedback(&app).await;
    assert_eq!(
        stored[0]["issue_id"],
        Value::Null,
        "outside the 30-day window"
    );
    // Relinking by issue moves feedback to wherever its event is now.
    let e = new_event_id();
    send(&app, &error_event(&e, "moved", "moved event")).await;
    let (status, _) = post(&app, &e, &[("user_report", user_report(&e, "moving"))]).await;
    assert_eq!(status, 200);
    let issue = issue_titled(&app, "moved event").await;
    assert_eq!(
        app.store
            .feedback_counts(&[issue])
            .await
            .expect("counts")
            .get(&issue),
        Some(&1)
    );
    assert_eq!(
        app.store.relink_feedback(&[issue]).await.expect("relink"),
        1,
        "rewritten in place"
    );
    assert_eq!(app.store.relink_feedback(&[]).await.expect("relink"), 0);
    app.stop().await;
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `node` and the JavaScript SDKs, or `None` with a printed reason (a panic in CI, where
/// `scripts/test` installs them).
fn js_sdks() -> Option<()> {
    let node_ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let modules = repo().join("tests/node/node_modules/@sentry/node");
    let missing = if !node_ok {
        Some("no node on PATH".to_owned())
    } else if !modules.exists() {
        Some("tests/node/node_modules missing (npm ci --prefix tests/node)".to_owned())
    } else {
        None
    };
    match missing {
        None => Some(()),
        Some(reason) => {
            assert!(std::env::var_os("CI").is_none(), "{reason}");
            eprintln!("skipping: {reason}");
            None
        }
    }
}

/// Runs `node script args…` with `env` (at most two minutes); returns its standard output.
async fn node(script: PathBuf, args: &[&str], env: &[(&str, String)]) -> String {
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(&script).args(args).kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("node finishes within two minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed:\n{stdout}\n{stderr}",
        script.display()
    );
    stdout
}

#[tokio::test]
async fn node_sdk_capture_feedback_is_linked_to_its_event() {
    if js_sdks().is_none() {
        return;
    }
    let app = TestApp::spawn().await;
    let out = node(
        repo().join("tests/node/capture-feedback.js"),
        &[],
        &[
            ("ERRATA_DSN", app.dsn()),
            ("ERRATA_MESSAGE", "Paid but got no receipt".to_owned()),
        ],
    )
    .await;
    let ids: Value = serde_json::from_str(out.trim().lines().last().unwrap_or_default())
        .expect("the script prints the ids");
    let event_id = ids["event_id"].as_str().expect("event id");
    let stored = app.event(event_id).await;
    let issue_id = stored["issue_id"].as_i64().expect("issue");
    let feedback = issue_feedback(&app, issue_id).await;
    assert_eq!(feedback.len(), 1, "{feedback:?}");
    let f = &feedback[0];
    assert_eq!(f["message"], "Paid but got no receipt");
    assert_eq!(f["name"], "Node User");
    assert_eq!(f["email"], "node.user@example.com");
    assert_eq!(f["event_id"], event_id);
    assert_eq!(f["kind"], "feedback");
    assert_eq!(f["url"], "https://shop.example.com/checkout");
}

#[tokio::test]
async fn browser_sdk_capture_feedback_in_chromium_and_the_pages() {
    let Some(chromium) = crate::browser::browser_tools() else {
        return;
    };
    if js_sdks().is_none() {
        return;
    }
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    let bundle = repo().join("target/js/sentry-browser.js");
    let bundle_arg = bundle.display().to_string();
    node(
        repo().join("tests/node/bundle-browser.js"),
        &[&bundle_arg],
        &[],
    )
    .await;
    let shots = repo().join("target/screenshots");
    let out = node(
        repo().join("tests/browser/feedback.js"),
        &[],
        &[
            ("ERRATA_BASE_URL", app.base.clone()),
            ("ERRATA_DSN", app.dsn()),
            ("ERRATA_PROJECT_ID", app.project.id.to_string()),
            ("ERRATA_EMAIL", EMAIL.to_owned()),
            ("ERRATA_PASSWORD", PASSWORD.to_owned()),
            ("ERRATA_SDK_BUNDLE", bundle_arg.clone()),
            ("ERRATA_SCREENSHOTS", shots.display().to_string()),
            ("CHROMIUM", chromium.display().to_string()),
        ],
    )
    .await;
    println!("{out}");
    assert!(out.contains("feedback walkthrough ok"), "{out}");
    // What the browser SDK sent is stored and linked.
    let issue = issue_titled(&app, "browser checkout failed").await;
    let feedback = issue_feedback(&app, issue).await;
    assert_eq!(feedback.len(), 1, "{feedback:?}");
    assert_eq!(feedback[0]["name"], "Browser User");
    assert!(feedback[0]["url"]
        .as_str()
        .is_some_and(|u| u.starts_with("http://127.0.0.1:")));
    let dialog = issue_feedback(&app, issue_titled(&app, "browser report dialog").await).await;
    assert_eq!(dialog.len(), 1, "{dialog:?}");
    assert_eq!(
        (&dialog[0]["name"], &dialog[0]["email"], &dialog[0]["kind"]),
        (
            &json!("Dialog User"),
            &json!("dialog.user@example.com"),
            &json!("user_report")
        )
    );
}

/// The crash-report dialog's endpoint over plain HTTP: the script, its checks, the form.
#[tokio::test]
async fn crash_report_dialog_endpoint() {
    let app = TestApp::spawn().await;
    let id = new_event_id();
    send(&app, &error_event(&id, "render", "template exploded")).await;
    let url = |dsn: &str, event: &str| {
        format!(
            "{}/api/embed/error-page/?dsn={}&eventId={event}&title={}",
            app.base,
            urlencode(dsn),
            urlencode("</script><b>")
        )
    };
    let ok_url = url(&app.dsn(), &id);
    let res = app
        .http
        .get(&ok_url)
        .header("origin", "https://shop.example.com")
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(res.headers()["content-type"]
        .to_str()
        .is_ok_and(|t| t.starts_with("text/javascript")));
    let script = res.text().await.expect("script");
    assert!(script.starts_with("(function (config) {"));
    assert!(
        script.contains(r#""title":"</script><b>""#),
        "options are JSON in the script, shown with textContent"
    );
    assert!(script.contains(&format!("\"eventId\":\"{id}\"")));
    let other_key = app.dsn().replace(&app.project.public_key, "0000aaaa");
    for (bad, status) in [
        (format!("{}/api/embed/error-page/", app.base), 400),
        (url("not a dsn", &id), 400),
        (url(&app.dsn(), "nope"), 400),
        (url(&other_key, &id), 403),
    ] {
        let res = app.http.get(&bad).send().await.expect("get");
        assert_eq!(res.status(), status, "{bad}");
    }
    let post = |form: Vec<(&'static str, &'static str)>| app.http.post(&ok_url).form(&form).send();
    for (form, needle) in [
        (
            vec![("name", "Kim"), ("email", "kim@example.com")],
            "comments",
        ),
        (
            vec![("email", "kim@example.com"), ("comments", "x")],
            "name",
        ),
        (
            vec![("name", "Kim"), ("email", "kim"), ("comments", "x")],
            "e-mail",
        ),
    ] {
        let res = post(form).await.expect("post");
        assert_eq!(res.status(), 400);
        let body: Value = res.json().await.expect("json");
        assert!(
            body["detail"].as_str().unwrap_or_default().contains(needle),
            "{body}"
        );
    }
    assert!(project_feedback(&app).await.is_empty(), "nothing stored");
    let res = post(vec![
        ("name", "Kim"),
        ("email", "kim@example.com"),
        ("comments", "The page went blank"),
    ])
    .await
    .expect("post");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let issue = issue_titled(&app, "template exploded").await;
    let stored = issue_feedback(&app, issue).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["message"], "The page went blank");
    assert_eq!(stored[0]["kind"], "user_report");
    app.stop().await;
}
