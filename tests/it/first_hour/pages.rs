//! Issue #20 items 6–10 over HTTP and in headless Chromium: the 404 page and the API's JSON
//! 404, a used setup link, collapsed breadcrumbs that fit a phone, "(not set)" apart from
//! "other values", the search's match count, bulk results, the event's logger, server and
//! message template, a chart without gutters, and one search meaning for pages and API.

use std::time::Duration;

use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::browser::{browser_tools, repo, run_script};
use crate::helpers::{error_event, new_event_id, urlencode, TestApp};
use crate::web::{add_admin, client, get_page, send, sign_in, EMAIL, PASSWORD};

#[tokio::test]
async fn unknown_paths_get_a_page_or_the_api_error_and_used_setup_links_say_so() {
    let app = TestApp::spawn().await;
    let http = client();
    let res = http
        .get(format!("{}/no/such/page", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers()[CONTENT_TYPE]
        .to_str()
        .expect("ok")
        .starts_with("text/html"));
    assert!(res.headers().contains_key(CONTENT_SECURITY_POLICY));
    let body = res.text().await.expect("body");
    assert!(
        body.contains("<h1>404</h1>") && body.contains("There is no page at /no/such/page."),
        "{body}"
    );
    for path in ["/api/v1/nothing", "/api/v1/projects/1/nothing"] {
        let res = app.api_raw(path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let v: Value = res.json().await.expect("a JSON error");
        assert!(
            v["detail"].as_str().unwrap_or_default().contains(path),
            "{path}: {v}"
        );
    }
    // A setup link before and after the first admin exists.
    let token = errata_server::web::auth::first_admin_setup_token(&app.store)
        .await
        .expect("token")
        .expect("no user yet");
    let res = http
        .get(format!("{}/setup/{}", app.base, "0".repeat(64)))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res
        .text()
        .await
        .expect("ok")
        .contains("unknown or has expired"));
    add_admin(&app).await;
    let res = http
        .get(format!("{}/setup/{token}", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), StatusCode::GONE);
    let body = res.text().await.expect("ok");
    assert!(
        body.contains("already used") && body.contains("errata user create"),
        "{body}"
    );
}

/// A message event of the "payment failed" issue: a template with parameters, logger and
/// server, `crumbs` breadcrumbs, and the `browser` tag when `tagged`.
fn payment_event(crumbs: usize, tagged: bool) -> Value {
    let breadcrumbs: Vec<Value> = (0..crumbs)
        .map(|i| {
            json!({
                "timestamp": 1_780_000_000 + i as i64,
                "category": "http",
                "level": "info",
                "message": format!("crumb {i}: GET https://api.example.com/orders/{i}?expand=items,customer,payments took {i} ms"),
            })
        })
        .collect();
    let mut event = json!({
        "event_id": new_event_id(),
        "platform": "python",
        "level": "error",
        "logger": "shop.payments",
        "server_name": "web-7",
        "logentry": {
            "message": "Payment %s failed after %d tries",
            "params": ["ord-7", 3],
            "formatted": "Payment ord-7 failed after 3 tries",
        },
        "fingerprint": ["payment-failed"],
        "breadcrumbs": {"values": breadcrumbs},
        "tags": {"region": "eu"},
    });
    if tagged {
        event["tags"]["browser"] = json!("Firefox");
    }
    event
}

/// Ids of the issues a list page links to.
fn listed(body: &str) -> Vec<i64> {
    let re = regex::Regex::new(r#"id="issue-(\d+)""#).expect("regex");
    let mut ids: Vec<i64> = re
        .captures_iter(body)
        .map(|c| c[1].parse().expect("id"))
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn the_api_query_and_the_search_box_mean_the_same() {
    search_parity(TestApp::spawn().await).await;
}

#[tokio::test]
async fn the_api_query_and_the_search_box_mean_the_same_on_postgres() -> anyhow::Result<()> {
    crate::store::with_fresh_postgres(|url| async move {
        search_parity(TestApp::spawn_on(&url, |_| {}).await).await;
        Ok(())
    })
    .await
}

/// Item 10 (and item 8's counts and "(not set)" on the engine of `app`): every search gives
/// the same issues on the page and through the API.
async fn search_parity(app: TestApp) {
    add_admin(&app).await;
    let mut a = error_event(&new_event_id(), "charge", "card declined");
    a["tags"] = json!({"browser": "Firefox"});
    a["release"] = json!("shop@2.0");
    send(&app, &a).await;
    let mut b = error_event(&new_event_id(), "load", "config missing");
    b["level"] = json!("warning");
    b["environment"] = json!("prod");
    send(&app, &b).await;
    send(&app, &error_event(&new_event_id(), "sync", "sync declined")).await;
    send(&app, &payment_event(2, false)).await;
    send(&app, &payment_event(2, true)).await;
    let resolved = crate::web::issue_titled(&app, "sync declined").await;
    assert_eq!(app.set_status(resolved, "resolved").await.status(), 200);
    let http = client();
    let cookie = sign_in(&app, &http).await;
    let project = app.project.id;
    let mut checked = 0;
    let count_re = regex::Regex::new(r#"id="match-count">(\d+) "#).expect("regex");
    for q in [
        "",
        "declined",
        "browser:Firefox",
        "level:warning",
        "env:prod",
        "release:shop@2.0 declined",
        "is:resolved",
        "is:resolved declined",
        "is:unassigned",
        "\"card declined\"",
        "Payment",
    ] {
        let path = format!("/projects/{project}/issues?q={}", urlencode(q));
        let (status, page) = get_page(&app, &http, &cookie, &path).await;
        assert_eq!(status, 200, "{q}");
        let api = app
            .api(&format!(
                "/api/v1/projects/{project}/issues?status=unresolved&query={}",
                urlencode(q)
            ))
            .await;
        let mut from_api: Vec<i64> = api["issues"]
            .as_array()
            .expect("issues")
            .iter()
            .map(|i| i["id"].as_i64().expect("id"))
            .collect();
        from_api.sort_unstable();
        assert_eq!(listed(&page), from_api, "{q:?}");
        let count = count_re
            .captures(&page)
            .unwrap_or_else(|| panic!("no match count for {q:?}"))[1]
            .parse::<usize>()
            .expect("ok");
        assert_eq!(count, from_api.len(), "{q:?}");
        checked += usize::from(!from_api.is_empty());
    }
    assert!(checked >= 8, "most searches find something");
    // A term wins over the parameter of the same name, as `is:` over the tab.
    let api = app
        .api(&format!(
            "/api/v1/projects/{project}/issues?level=error&query={}",
            urlencode("level:warning")
        ))
        .await;
    assert_eq!(api["issues"].as_array().map(Vec::len), Some(1));
    // Terms events do not have are refused the same way by the page and the API.
    let issue = crate::web::issue_titled(&app, "card declined").await;
    let res = app
        .api_raw(&format!("/api/v1/issues/{issue}/events?query=has:feedback"))
        .await;
    assert_eq!(res.status(), 400);
    let detail = res.json::<Value>().await.expect("ok")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (_, page) = get_page(
        &app,
        &http,
        &cookie,
        &format!("/issues/{issue}/events?q=has:feedback"),
    )
    .await;
    assert!(
        detail.contains("events take text") && page.contains("events take text"),
        "{detail}"
    );
    // Half the payment events lack the `browser` tag: "(not set)", not "other".
    let payment = crate::web::issue_titled(&app, "Payment").await;
    let (status, page) = get_page(&app, &http, &cookie, &format!("/issues/{payment}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<span class=\"fv\">(not set)</span> <span class=\"pct\">50%</span>")
            && !page.contains("other values"),
        "{page}"
    );
    app.stop().await;
}

#[tokio::test]
async fn bulk_actions_say_what_they_did() {
    let logs = crate::helpers::CapturedLogs::default();
    let _capture = logs.install();
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    for f in ["one", "two", "three"] {
        send(&app, &error_event(&new_event_id(), f, &format!("boom {f}"))).await;
    }
    let ids: Vec<i64> = app
        .all_issues()
        .await
        .iter()
        .map(|i| i["id"].as_i64().expect("ok"))
        .collect();
    let http = client();
    let cookie = sign_in(&app, &http).await;
    let list = format!("/projects/{}/issues?status=unresolved", app.project.id);
    let (_, page) = get_page(&app, &http, &cookie, &list).await;
    assert!(
        page.contains("id=\"match-count\">3 unresolved issues."),
        "{page}"
    );
    let csrf = crate::web::csrf_of(&page);
    let res = http
        .post(format!(
            "{}/projects/{}/issues/bulk",
            app.base, app.project.id
        ))
        .header(COOKIE, &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("issue", &ids[0].to_string()),
            ("issue", &ids[1].to_string()),
            ("action", "resolve"),
            ("back", list.as_str()),
        ])
        .send()
        .await
        .expect("bulk");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()["location"].to_str().expect("ok").to_owned();
    let (_, page) = get_page(&app, &http, &cookie, &to).await;
    assert!(page.contains("2 issues resolved."), "{to}: {page}");
    // Item 5: changes made through the pages are logged with who made them.
    let text = logs.text();
    assert!(
        text.lines()
            .any(|l| l.contains("bulk triage") && l.contains(&format!("by={EMAIL}"))),
        "{text}"
    );
    assert!(page.contains("id=\"match-count\">1 unresolved issue."));
    // The words come from the server: a made-up result shows nothing.
    let (_, page) = get_page(&app, &http, &cookie, &format!("{list}&done=hacked&n=9")).await;
    assert!(!page.contains("bulk-done") && !page.contains("hacked"));
}

#[tokio::test]
async fn chromium_sees_collapsed_breadcrumbs_facets_event_facts_and_a_full_width_chart() {
    let Some(chromium) = browser_tools() else {
        return;
    };
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    send(&app, &payment_event(25, true)).await;
    send(&app, &payment_event(25, false)).await;
    for f in ["one", "two"] {
        send(&app, &error_event(&new_event_id(), f, &format!("boom {f}"))).await;
    }
    let issue = crate::web::issue_titled(&app, "Payment").await.to_string();
    let project = app.project.id.to_string();
    let shots = repo().join("target/screenshots/first-hour");
    let shots_dir = shots.display().to_string();
    let env = [
        ("ERRATA_BASE_URL", app.base.as_str()),
        ("ERRATA_EMAIL", EMAIL),
        ("ERRATA_PASSWORD", PASSWORD),
        ("ERRATA_ISSUE", issue.as_str()),
        ("ERRATA_PROJECT_ID", project.as_str()),
        ("ERRATA_SCREENSHOTS", shots_dir.as_str()),
    ];
    run_script(
        "firsthour.js",
        &chromium,
        &env,
        Duration::from_secs(180),
        "first hour ok",
    )
    .await;
    assert!(
        shots.join("issue-phone.png").exists(),
        "screenshots written"
    );
    // The browser's bulk resolve went through the server.
    let resolved = app
        .all_issues()
        .await
        .iter()
        .filter(|i| i["status"] == "resolved")
        .count();
    assert_eq!(resolved, 2);
}
