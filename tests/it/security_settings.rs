//! The `[security]` settings over HTTP (issue #24 item 13): `/metrics` limited to an address
//! list or a bearer token, HSTS when `base_url` is https, and members who may not delete
//! issues unless allowed.

use reqwest::header::{COOKIE, STRICT_TRANSPORT_SECURITY, WWW_AUTHENTICATE};
use reqwest::StatusCode;

use errata_server::config::Config;
use errata_server::notify::Secret;

use crate::helpers::{error_event, event_envelope, new_event_id, TestApp};
use crate::signin::{post_login, session_cookie};
use crate::web::{client, csrf_of, get_page};

async fn metrics_status(
    app: &TestApp,
    forwarded: Option<&str>,
    bearer: Option<&str>,
) -> StatusCode {
    let mut req = app.http.get(format!("{}/metrics", app.base));
    if let Some(ip) = forwarded {
        req = req.header("x-forwarded-for", ip);
    }
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    req.send().await.expect("metrics").status()
}

#[tokio::test]
async fn metrics_are_limited_to_an_address_list_or_a_token() {
    let open = TestApp::spawn().await;
    assert_eq!(metrics_status(&open, None, None).await, StatusCode::OK);

    // An address list: the test client (127.0.0.1) is not on it.
    let listed = TestApp::spawn_with(|c| {
        c.security.metrics_allow = vec!["10.0.0.0/8".into(), "192.0.2.1".into()];
    })
    .await;
    assert_eq!(
        metrics_status(&listed, None, None).await,
        StatusCode::FORBIDDEN
    );
    // X-Forwarded-For counts only when the proxy is trusted.
    assert_eq!(
        metrics_status(&listed, Some("10.1.2.3"), None).await,
        StatusCode::FORBIDDEN
    );
    let local =
        TestApp::spawn_with(|c| c.security.metrics_allow = vec!["127.0.0.0/8".into()]).await;
    assert_eq!(metrics_status(&local, None, None).await, StatusCode::OK);
    let proxied = TestApp::spawn_with(|c| {
        c.ingest.trust_forwarded_for = true;
        c.security.metrics_allow = vec!["10.0.0.0/8".into()];
    })
    .await;
    assert_eq!(
        metrics_status(&proxied, Some("10.1.2.3"), None).await,
        StatusCode::OK
    );
    assert_eq!(
        metrics_status(&proxied, Some("203.0.113.9"), None).await,
        StatusCode::FORBIDDEN
    );

    // A token: 401 without it (saying which scheme), 200 with it.
    let token =
        TestApp::spawn_with(|c| c.security.metrics_token = Some(Secret::new("s3cret"))).await;
    let res = token
        .http
        .get(format!("{}/metrics", token.base))
        .send()
        .await
        .expect("metrics");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()[WWW_AUTHENTICATE], "Bearer");
    let body: serde_json::Value = res.json().await.expect("json");
    assert!(body["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("metrics_token"));
    assert_eq!(
        metrics_status(&token, None, Some("wrong")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        metrics_status(&token, None, Some("s3cret")).await,
        StatusCode::OK
    );
    // The API token is not the metrics token.
    assert_eq!(
        metrics_status(&token, None, Some(&token.token)).await,
        StatusCode::UNAUTHORIZED
    );
}

/// A server like `TestApp`'s but whose `base_url` is `base_url` (`TestApp` sets its own).
async fn serve_with_base_url(
    base_url: &str,
) -> (String, tokio::sync::oneshot::Sender<()>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("errata.db").display());
    let store = errata_server::store::Store::connect(&url)
        .await
        .expect("store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = Config {
        database_url: url,
        base_url: Some(base_url.to_owned()),
        ..Config::default()
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = errata_server::App::new(config, store);
    tokio::spawn(errata_server::serve(listener, app, async move {
        let _ = rx.await;
    }));
    (format!("http://{addr}"), tx, dir)
}

#[tokio::test]
async fn hsts_is_sent_when_the_base_url_is_https() {
    let http = client();
    let (base, _stop, _dir) = serve_with_base_url("https://errors.example.com").await;
    for path in ["/healthz", "/login", "/api/1/envelope/", "/nowhere"] {
        let res = http.get(format!("{base}{path}")).send().await.expect("get");
        assert_eq!(
            res.headers()
                .get(STRICT_TRANSPORT_SECURITY)
                .map(|v| v.to_str().unwrap_or("")),
            Some("max-age=31536000"),
            "{path}: {}",
            res.status()
        );
    }
    let (base, _stop2, _dir2) = serve_with_base_url("http://errors.example.com").await;
    let res = http.get(format!("{base}/login")).send().await.expect("get");
    assert!(res.headers().get(STRICT_TRANSPORT_SECURITY).is_none());
}

const MEMBER: &str = "member@example.com";
const MEMBER_PASSWORD: &str = "member password 123";

/// A server with one issue and a signed-in member (not an admin); returns the issue id and
/// the member's session cookie.
async fn member_and_issue(app: &TestApp) -> (i64, String) {
    let hash = errata_server::web::hash_password(MEMBER_PASSWORD).expect("hash");
    app.store
        .create_user(MEMBER, &hash, false)
        .await
        .expect("member");
    let id = new_event_id();
    let res = app
        .post_envelope(event_envelope(&error_event(&id, "doomed", "delete me")))
        .await;
    assert_eq!(res.status(), 200);
    let issue = app.event(&id).await["issue_id"].as_i64().expect("issue");
    let res = post_login(app, &client(), "127.0.0.1", MEMBER, MEMBER_PASSWORD, "/").await;
    (issue, session_cookie(&res).expect("member session"))
}

/// The issue page as `cookie` sees it, and a delete posted with its CSRF token.
async fn page_and_delete(app: &TestApp, cookie: &str, issue: i64) -> (String, StatusCode) {
    let http = client();
    let (_, page) = get_page(app, &http, cookie, &format!("/issues/{issue}")).await;
    let res = http
        .post(format!("{}/issues/{issue}/delete", app.base))
        .header(COOKIE, cookie)
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .expect("delete");
    (page, res.status())
}

#[tokio::test]
async fn members_may_not_delete_issues_unless_allowed() {
    let app = TestApp::spawn().await;
    let (issue, cookie) = member_and_issue(&app).await;
    let (page, status) = page_and_delete(&app, &cookie, issue).await;
    assert!(
        !page.contains(&format!("/issues/{issue}/delete")),
        "no Delete button"
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        app.store.issue(issue).await.is_ok(),
        "the issue is still there"
    );

    let allowed = TestApp::spawn_with(|c| c.security.members_may_delete_issues = true).await;
    let (issue, cookie) = member_and_issue(&allowed).await;
    let (page, status) = page_and_delete(&allowed, &cookie, issue).await;
    assert!(
        page.contains(&format!("/issues/{issue}/delete")),
        "a Delete button"
    );
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(allowed.store.issue(issue).await.is_err(), "deleted");
}
