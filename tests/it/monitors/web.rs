//! The monitor pages over HTTP (a signed-in session): what they show, escaping of what
//! clients sent, the forms (create, edit, pause, resume, delete) with their permissions, and
//! a walk through them in headless Chromium (`tests/browser/monitors.js`).

use reqwest::header::{COOKIE, LOCATION};
use reqwest::StatusCode;
use serde_json::json;

use super::*;
use crate::helpers::TestApp;
use crate::web::get_page as page;
use crate::web::{add_admin, client, cookie_pair, csrf_of, post_login, set_cookie, sign_in};

/// A payload that would run if a page did not escape it.
const XSS_ENV: &str = "<svg onload=window.__xss=1>";
const XSS_RELEASE: &str = "<script>window.__xss=2</script>";
const XSS_NAME: &str = "<b onmouseover=window.__xss=3>Backup</b>";

async fn post_form(
    app: &TestApp,
    http: &reqwest::Client,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    http.post(format!("{}{path}", app.base))
        .header(COOKIE, cookie)
        .form(fields)
        .send()
        .await
        .expect("post")
}

/// A monitor with payloads in its name, environment and release, a run of check-ins (more
/// than a page), a missed one and an incident; returns its id.
async fn seeded(app: &TestApp) -> i64 {
    let res = app
        .http
        .post(format!(
            "{}/api/v1/projects/{}/monitors",
            app.base, app.project.id
        ))
        .bearer_auth(&app.token)
        .json(&json!({"slug": "nightly-backup", "name": XSS_NAME,
                      "schedule": {"type": "interval", "value": 1, "unit": "hour"},
                      "checkin_margin": 5}))
        .send()
        .await
        .expect("create");
    assert_eq!(res.status(), 201);
    for i in 0..28 {
        let mut c = checkin(
            "nightly-backup",
            &guid(),
            if i % 5 == 4 { "error" } else { "ok" },
            None,
        );
        c["environment"] = json!(XSS_ENV);
        c["release"] = json!(XSS_RELEASE);
        c["duration"] = json!(10 + i * 3);
        assert_eq!(post_checkin(app, &c).await.0, 200);
        advance(app, 60).await;
    }
    advance(app, 66).await;
    monitor(app, "nightly-backup").await["id"]
        .as_i64()
        .expect("id")
}

fn assert_escaped(html: &str) {
    for raw in [XSS_ENV, XSS_RELEASE, XSS_NAME] {
        assert!(!html.contains(raw), "raw payload {raw:?} on the page");
    }
    assert!(
        html.contains("&lt;svg onload=window.__xss=1&gt;"),
        "the environment is shown, escaped"
    );
}

#[tokio::test]
async fn monitor_pages_show_status_history_and_escape_client_text() {
    let app = TestApp::spawn_with_clock(T0, |c| c.notify.enabled = false).await;
    add_admin(&app).await;
    let id = seeded(&app).await;
    let http = client();
    let cookie = sign_in(&app, &http).await;

    let (status, list) = page(
        &app,
        &http,
        &cookie,
        &format!("/projects/{}/monitors", app.project.id),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_escaped(&list);
    assert!(
        list.contains("&lt;b onmouseover=window.__xss=3&gt;Backup&lt;&#x2f;b&gt;"),
        "{list}"
    );
    assert!(list.contains("Every hour"), "schedule in words");
    assert!(list.contains("<svg class=\"strip\""), "the strip");
    assert_eq!(
        list.matches("<rect class=\"ci ").count(),
        30,
        "the last 30 check-ins"
    );
    assert!(
        list.contains("class=\"badge mon-missed monitor-status\""),
        "{list}"
    );
    assert!(list.contains("average 50.5 s"), "average duration");
    assert!(
        list.contains("@monitor(monitor_slug=&quot;nightly-backup&quot;"),
        "setup snippets"
    );

    let (status, html) = page(&app, &http, &cookie, &format!("/monitors/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_escaped(&html);
    assert!(html.contains("class=\"chart durations\""));
    assert_eq!(
        html.matches("<tr class=\"checkin\">").count(),
        25,
        "one page of history"
    );
    assert!(html.contains("id=\"older-checkins\""));
    assert!(html.contains("id=\"incidents\""), "the incident is listed");
    assert!(html.contains("missed its check-in due"), "{html}");
    assert!(
        html.contains("cron&#x2f;nightly-backup&#x2f;"),
        "curl snippet"
    );
    let older = regex::Regex::new(r#"href="([^"]+)" rel="next" id="older-checkins""#)
        .unwrap()
        .captures(&html)
        .expect("older link")[1]
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    let (_, html) = page(&app, &http, &cookie, &older).await;
    assert_eq!(
        html.matches("<tr class=\"checkin\">").count(),
        5,
        "the rest"
    );
    // The failing monitor's issue: found by its tag, and its page shows the failure.
    let search = format!(
        "/projects/{}/issues?q=monitor.slug%3Anightly-backup",
        app.project.id
    );
    let (_, issues) = page(&app, &http, &cookie, &search).await;
    let issue = regex::Regex::new(r#"id="issue-(\d+)""#)
        .unwrap()
        .captures(&issues)
        .expect("the monitor's issue is found by its tag")[1]
        .to_owned();
    let (status, issue_page) = page(&app, &http, &cookie, &format!("/issues/{issue}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        issue_page.contains("Cron monitor nightly-backup (&lt;svg"),
        "{issue_page}"
    );
    assert!(issue_page.contains("missed its check-in due"));
    assert_escaped(&issue_page);
    let (status, _) = page(&app, &http, &cookie, "/monitors/999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn monitor_forms_with_permissions() {
    let app = TestApp::spawn_with_clock(T0, |c| c.notify.enabled = false).await;
    add_admin(&app).await;
    let http = client();
    let cookie = sign_in(&app, &http).await;
    let list_path = format!("/projects/{}/monitors", app.project.id);
    let (_, html) = page(&app, &http, &cookie, &list_path).await;
    let csrf = csrf_of(&html);
    let create = |slug: &'static str, crontab: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("slug", slug.to_owned()),
            ("name", "Nightly".to_owned()),
            ("schedule_type", "crontab".to_owned()),
            ("crontab", crontab.to_owned()),
            ("interval_value", "1".to_owned()),
            ("interval_unit", "day".to_owned()),
            ("timezone", "Europe/Berlin".to_owned()),
            ("checkin_margin", "5".to_owned()),
            ("max_runtime", "45".to_owned()),
            ("failure_issue_threshold", "2".to_owned()),
            ("recovery_threshold", "1".to_owned()),
        ]
    };
    let fields = create("nightly", "0 2 * * *");
    let res = http
        .post(format!("{}{list_path}", app.base))
        .header(COOKIE, &cookie)
        .form(&fields)
        .send()
        .await
        .expect("create");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()[LOCATION].to_str().unwrap().to_owned();
    let m = monitor(&app, "nightly").await;
    assert_eq!(location, format!("/monitors/{}", m["id"]));
    assert_eq!(
        (m["timezone"].as_str(), m["max_runtime"].as_i64()),
        (Some("Europe/Berlin"), Some(45))
    );
    assert_eq!(m["failure_issue_threshold"], 2);

    // A bad crontab: 400 with the reason, nothing created.
    let res = http
        .post(format!("{}{list_path}", app.base))
        .header(COOKIE, &cookie)
        .form(&create("broken", "99 * * * *"))
        .send()
        .await
        .expect("create");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("not a valid crontab expression"));
    assert_eq!(monitors(&app).await.len(), 1);

    // Edit to an interval; pause; resume.
    let path = format!("/monitors/{}", m["id"]);
    let (_, html) = page(&app, &http, &cookie, &path).await;
    let csrf = csrf_of(&html);
    let res = post_form(
        &app,
        &http,
        &cookie,
        &path,
        &[
            ("csrf", &csrf),
            ("name", "Nightly export"),
            ("schedule_type", "interval"),
            ("crontab", ""),
            ("interval_value", "2"),
            ("interval_unit", "hour"),
            ("timezone", "UTC"),
            ("checkin_margin", "3"),
            ("max_runtime", "45"),
            ("failure_issue_threshold", "2"),
            ("recovery_threshold", "1"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let m = monitor(&app, "nightly").await;
    assert_eq!(m["name"], "Nightly export");
    assert_eq!(
        m["schedule"],
        json!({"type": "interval", "value": 2, "unit": "hour"})
    );
    assert_eq!(m["checkin_margin"], 3);
    for (action, paused) in [("pause", true), ("resume", false)] {
        let res = post_form(
            &app,
            &http,
            &cookie,
            &format!("{path}/{action}"),
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{action}");
        assert_eq!(monitor(&app, "nightly").await["is_paused"], paused);
    }
    // Without the CSRF token: refused.
    let res = post_form(&app, &http, &cookie, &format!("{path}/pause"), &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // A member may pause, not create or delete.
    let hash = errata_server::web::hash_password("member password 1").expect("hash");
    app.store
        .create_user("member@example.com", &hash, false)
        .await
        .expect("user");
    let res = post_login(&app, &http, "member@example.com", "member password 1").await;
    let member = cookie_pair(&set_cookie(res.headers(), "errata_session").expect("session"));
    let (_, html) = page(&app, &http, &member, &path).await;
    assert!(
        !html.contains("id=\"edit-monitor\""),
        "no edit form for members"
    );
    let csrf_m = csrf_of(&html);
    let res = post_form(
        &app,
        &http,
        &member,
        &format!("{path}/pause"),
        &[("csrf", &csrf_m)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = post_form(
        &app,
        &http,
        &member,
        &format!("{path}/delete"),
        &[("csrf", &csrf_m)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let mut fields = create("other", "@daily");
    fields[0].1 = csrf_m.clone();
    let res = http
        .post(format!("{}{list_path}", app.base))
        .header(COOKIE, &member)
        .form(&fields)
        .send()
        .await
        .expect("create");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Delete (admin): back to the list, gone.
    let res = post_form(
        &app,
        &http,
        &cookie,
        &format!("{path}/delete"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION].to_str().unwrap(), list_path);
    assert!(monitors(&app).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn chromium_walks_through_the_monitor_pages() {
    let Some(chromium) = crate::browser::browser_tools() else {
        return;
    };
    let app = TestApp::spawn_with_clock(T0, |c| c.notify.enabled = false).await;
    add_admin(&app).await;
    let id = seeded(&app).await;
    let (project_id, monitor_id) = (app.project.id.to_string(), id.to_string());
    let shots = crate::browser::repo().join("target/screenshots");
    let shots = shots.display().to_string();
    let envs = [
        ("ERRATA_BASE_URL", app.base.as_str()),
        ("ERRATA_EMAIL", crate::web::EMAIL),
        ("ERRATA_PASSWORD", crate::web::PASSWORD),
        ("ERRATA_PROJECT_ID", project_id.as_str()),
        ("ERRATA_MONITOR_ID", monitor_id.as_str()),
        ("ERRATA_SCREENSHOTS", shots.as_str()),
    ];
    let limit = std::time::Duration::from_secs(180);
    let stdout =
        crate::browser::run_script("monitors.js", &chromium, &envs, limit, "monitors walk ok")
            .await;
    assert!(
        stdout.contains("ok - monitor page: no payload ran"),
        "{stdout}"
    );
    // What the browser did went through the server.
    let created = monitor(&app, "browser-job").await;
    assert_eq!(
        created["schedule"],
        json!({"type": "crontab", "value": "*/15 * * * *"})
    );
    assert_eq!(created["timezone"], "Europe/Berlin");
    assert_eq!(created["is_paused"], false, "paused, then resumed");
    assert_eq!(created["max_runtime"], 20, "edited");
    assert!(
        monitors(&app)
            .await
            .iter()
            .all(|m| m["slug"] != "nightly-backup"),
        "deleted"
    );
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    assert!(shots.join("m2-monitor.png").exists());
    app.stop().await;
}
