//! The web issue browser over real HTTP: sign-in, sessions, CSRF, the API's session
//! fallback, security headers, search, triage, and escaping of attacker-controlled events.
//! The seeding helpers here are shared with `browser.rs`.

use std::time::Duration;

use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{event_envelope, new_event_id, TestApp};

pub const EMAIL: &str = "admin@example.com";
pub const PASSWORD: &str = "correct horse battery";

/// Creates the admin user of the tests.
pub async fn add_admin(app: &TestApp) {
    let hash = errata_server::web::hash_password(PASSWORD).expect("hash");
    app.store
        .create_user(EMAIL, &hash, true)
        .await
        .expect("create user");
}

/// An HTTP client that does not follow redirects (tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// `name=value` of a `Set-Cookie` header for `name`.
pub(crate) fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

pub(crate) fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

/// The value of the first hidden `csrf` field of a page.
pub fn csrf_of(html: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf" value="([0-9a-f]+)""#).expect("regex");
    re.captures(html).expect("a csrf field")[1].to_owned()
}

/// Posts the sign-in form; returns the response.
pub(crate) async fn post_login(
    app: &TestApp,
    http: &reqwest::Client,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let page = http
        .get(format!("{}/login", app.base))
        .send()
        .await
        .expect("login page");
    let pre = cookie_pair(&set_cookie(page.headers(), "errata_csrf").expect("csrf cookie"));
    let csrf = csrf_of(&page.text().await.expect("body"));
    http.post(format!("{}/login", app.base))
        .header(COOKIE, pre)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
            ("next", "/projects"),
        ])
        .send()
        .await
        .expect("login")
}

/// Signs in as the test admin; returns the `Cookie` header value of the session.
pub async fn sign_in(app: &TestApp, http: &reqwest::Client) -> String {
    let res = post_login(app, http, EMAIL, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    cookie_pair(&set_cookie(res.headers(), "errata_session").expect("session cookie"))
}

pub async fn get_page(
    app: &TestApp,
    http: &reqwest::Client,
    cookie: &str,
    path: &str,
) -> (StatusCode, String) {
    let res = http
        .get(format!("{}{path}", app.base))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("page");
    let status = res.status();
    (status, res.text().await.expect("body"))
}

/// Sends one event through the envelope endpoint (stored when this returns).
pub async fn send(app: &TestApp, event: &Value) {
    let res = app.post_envelope(event_envelope(event)).await;
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
}

/// A Python-style error with an in-app frame carrying source context and locals, a library
/// frame, breadcrumbs, user, request and contexts.
pub fn rich_event(value: &str) -> Value {
    json!({
        "event_id": new_event_id(),
        "platform": "python",
        "level": "error",
        "release": "shop@1.2.0",
        "environment": "prod",
        "user": {"id": "42", "email": "buyer@example.com"},
        "tags": {"browser": "Firefox", "region": "eu-west"},
        "request": {"method": "POST", "url": "https://shop.example.com/checkout", "headers": {"User-Agent": "pytest"}},
        "contexts": {"os": {"name": "Linux", "version": "6.1"}, "runtime": {"name": "CPython", "version": "3.12.1"}},
        "breadcrumbs": {"values": [
            {"timestamp": "2026-11-22T10:00:00Z", "category": "auth", "message": "user logged in", "level": "info"},
            {"timestamp": "2026-11-22T10:00:01Z", "category": "http", "type": "http", "data": {"url": "https://api.example.com/stock", "status_code": 200}}
        ]},
        "exception": {"values": [{
            "type": "PaymentDeclined",
            "value": value,
            "stacktrace": {"frames": [
                {"module": "framework.core", "function": "dispatch", "filename": "framework/core.py", "lineno": 88, "in_app": false,
                 "context_line": "return handler(request)"},
                {"module": "shop.checkout", "function": "charge_card", "filename": "shop/checkout.py", "lineno": 41, "in_app": true,
                 "pre_context": ["def charge_card(cart, card):", "    total = cart.total()"],
                 "context_line": "    raise PaymentDeclined(card.last4)",
                 "post_context": ["", "def refund(order):"],
                 "vars": {"cart_total": "129.90", "card_last4": "'4242'", "retries": 3}}
            ]}
        }]}
    })
}

/// Attacker-controlled strings in every field the pages show.
pub fn xss_event() -> Value {
    json!({
        "event_id": new_event_id(),
        "platform": "python",
        "level": "error",
        "message": "<script>window.__xss='message'</script>",
        "logentry": {"formatted": "<img src=x onerror=\"window.__xss='logentry'\">"},
        "user": {"id": "<script>window.__xss='user'</script>", "email": "\"><svg onload=window.__xss='email'>",
                 "username": "javascript:window.__xss='username'"},
        "tags": {"xss": "<img src=x onerror=window.__xss='tag'>", "link": "javascript:window.__xss='tag-link'"},
        "request": {"url": "javascript:window.__xss='url'", "method": "GET"},
        "breadcrumbs": {"values": [
            {"message": "<img src=x onerror=\"window.__xss='crumb'\">", "category": "<script>window.__xss='cat'</script>",
             "data": {"href": "javascript:window.__xss='crumb-data'"}}
        ]},
        "exception": {"values": [{
            "type": "XssError",
            "value": "<script>window.__xss='title'</script><img src=x onerror=window.__xss='value'>",
            "stacktrace": {"frames": [{
                "module": "evil", "function": "<script>window.__xss='fn'</script>", "filename": "evil.py", "lineno": 1, "in_app": true,
                "context_line": "<img src=x onerror=window.__xss='src'>",
                "vars": {"payload": "<script>window.__xss='local'</script>", "href": "javascript:window.__xss='local-link'",
                         "attr": "\" onmouseover=\"window.__xss='attr'"}
            }]}
        }]}
    })
}

/// Issue id of the (single) issue whose title contains `needle`.
pub async fn issue_titled(app: &TestApp, needle: &str) -> i64 {
    app.all_issues()
        .await
        .iter()
        .find(|i| i["title"].as_str().unwrap_or_default().contains(needle))
        .and_then(|i| i["id"].as_i64())
        .unwrap_or_else(|| panic!("no issue titled {needle:?}"))
}

#[tokio::test]
async fn pages_without_session_redirect_to_sign_in() {
    let app = TestApp::spawn().await;
    let http = client();
    for path in [
        "/",
        "/projects",
        "/projects/1/issues?status=resolved",
        "/issues/1",
        "/admin/users",
        "/admin/deliveries",
    ] {
        let res = http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        let location = res.headers()[LOCATION].to_str().unwrap().to_owned();
        assert!(location.starts_with("/login"), "{path} → {location}");
    }
    let res = http
        .get(format!("{}/issues/1", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[LOCATION], "/login?next=%2Fissues%2F1");
    let res = http
        .get(format!("{}/login", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("No user exists yet"),
        "first-admin hint: {body}"
    );
    // A forged session cookie is no session.
    let (status, _) = get_page(&app, &http, "errata_session=deadbeef", "/projects").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // Pages are for browsers: an API token does not open them.
    let res = http
        .get(format!("{}/projects", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn wrong_password_fails_with_a_message_and_right_one_signs_in() {
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    let http = client();
    let res = post_login(&app, &http, EMAIL, "not the password").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(res.headers(), "errata_session").is_none());
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Wrong e-mail or password."));
    let res = post_login(&app, &http, "nobody@example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let res = post_login(&app, &http, "  ADMIN@example.com ", PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "e-mail is case-insensitive"
    );
    assert_eq!(res.headers()[LOCATION], "/projects");
    let raw = set_cookie(res.headers(), "errata_session").unwrap();
    assert!(
        raw.contains("HttpOnly") && raw.contains("SameSite=Lax"),
        "{raw}"
    );
    assert!(!raw.contains("Secure"), "plain http base URL: {raw}");
    assert!(
        raw.contains("Path=/") && raw.contains("Max-Age=1209600"),
        "a session lasts 14 days: {raw}"
    );
    let cookie = cookie_pair(&raw);
    let (status, body) = get_page(&app, &http, &cookie, "/projects").await;
    assert_eq!(status, 200);
    assert!(
        body.contains(&app.project.public_key) && body.contains(EMAIL),
        "{body}"
    );

    // Signing out ends the session on the server, not just in the browser.
    let csrf = csrf_of(&body);
    let res = http
        .post(format!("{}/logout", app.base))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (status, _) = get_page(&app, &http, &cookie, "/projects").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn repeated_failures_are_rate_limited() {
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    let http = client();
    for _ in 0..5 {
        let res = post_login(&app, &http, EMAIL, "guessing-password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = post_login(&app, &http, EMAIL, PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-in attempts"));
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    send(&app, &rich_event("card declined")).await;
    let issue = issue_titled(&app, "PaymentDeclined").await;
    let http = client();
    let cookie = sign_in(&app, &http).await;
    let url = format!("{}/issues/{issue}/status", app.base);
    let post = |form: Vec<(&'static str, String)>| {
        http.post(&url).header(COOKIE, &cookie).form(&form).send()
    };
    let res = post(vec![("status", "resolved".into())]).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("CSRF"));
    let res = post(vec![
        ("status", "resolved".into()),
        ("csrf", "0".repeat(32)),
    ])
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.store.issue(issue).await.unwrap().status.as_str(),
        "unresolved"
    );

    // Signing out is a change too.
    let res = http
        .post(format!("{}/logout", app.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let (status, page) = get_page(&app, &http, &cookie, &format!("/issues/{issue}")).await;
    assert_eq!(status, 200, "the session survived the forged sign-out");
    let csrf = csrf_of(&page);
    let res = post(vec![("status", "resolved".into()), ("csrf", csrf.clone())])
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.store.issue(issue).await.unwrap().status.as_str(),
        "resolved"
    );

    // Sign-in itself needs the pre-session token: a cross-site login POST fails.
    let res = http
        .post(format!("{}/login", app.base))
        .form(&[("email", EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Another session's token does not work either.
    let other = sign_in(&app, &http).await;
    let res = http
        .post(format!("{}/issues/{issue}/status", app.base))
        .header(COOKIE, &other)
        .form(&[("status", "ignored"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn api_needs_a_token_or_a_session() {
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    send(&app, &rich_event("card declined")).await;
    let issue = issue_titled(&app, "PaymentDeclined").await;
    let http = client();
    let res = http
        .get(format!("{}/api/v1/projects", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = http
        .get(format!("{}/api/v1/projects", app.base))
        .header(COOKIE, "errata_session=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let cookie = sign_in(&app, &http).await;
    let res = http
        .get(format!("{}/api/v1/projects", app.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["projects"][0]["id"], app.project.id);
    // A change through the API with only a cookie needs the CSRF header.
    let patch = |csrf: Option<String>| {
        let mut req = http
            .patch(format!("{}/api/v1/issues/{issue}", app.base))
            .header(COOKIE, &cookie)
            .json(&json!({"status": "ignored"}));
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        req.send()
    };
    let res = patch(None).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("X-CSRF-Token"),
        "{body}"
    );
    // A bearer token is checked even when a session cookie comes along, and needs no CSRF.
    let with_token = |token: &str| {
        http.patch(format!("{}/api/v1/issues/{issue}", app.base))
            .header(COOKIE, &cookie)
            .bearer_auth(token)
            .json(&json!({"status": "resolved"}))
            .send()
    };
    assert_eq!(
        with_token("not-a-token").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        with_token(&app.token).await.unwrap().status(),
        StatusCode::OK
    );
    let res = http
        .get(format!("{}/api/v1/projects", app.base))
        .header("authorization", "Basic YTpi")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("Bearer"),
        "{body}"
    );
    let (_, page) = get_page(&app, &http, &cookie, "/projects").await;
    assert_eq!(
        patch(Some(csrf_of(&page))).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        app.store.issue(issue).await.unwrap().status.as_str(),
        "ignored"
    );
}

#[tokio::test]
async fn pages_carry_security_headers_and_https_cookies_are_secure() {
    // Behind a TLS-terminating proxy that the configuration trusts.
    let app = TestApp::spawn_with(|c| c.ingest.trust_forwarded_for = true).await;
    add_admin(&app).await;
    let http = client();
    let res = http
        .get(format!("{}/login", app.base))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let h = res.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    let raw = set_cookie(h, "errata_csrf").unwrap();
    assert!(raw.contains("Secure") && raw.contains("HttpOnly"), "{raw}");
    let body = res.text().await.unwrap();
    assert!(
        !body.contains("<script>") && !body.contains(" style="),
        "no inline script/style"
    );

    let res = http
        .get(format!("{}/static/app.css", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    let etag = res.headers()["etag"].clone();
    let res = http
        .get(format!("{}/static/app.css", app.base))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let res = http
        .get(format!("{}/static/../Cargo.toml", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn attacker_strings_are_escaped_on_every_page() {
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    send(&app, &xss_event()).await;
    let issue = issue_titled(&app, "XssError").await;
    let http = client();
    let cookie = sign_in(&app, &http).await;
    for path in [
        format!("/projects/{}/issues", app.project.id),
        format!("/projects/{}/issues?q=%3Cscript%3E", app.project.id),
        format!("/issues/{issue}"),
    ] {
        let (status, body) = get_page(&app, &http, &cookie, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(body.contains("XssError"), "{path}");
        for raw in [
            "<script>window",
            "<img src=x",
            "<svg onload",
            "href=\"javascript:",
            "\" onmouseover",
        ] {
            assert!(!body.contains(raw), "{path} contains raw {raw:?}");
        }
        assert!(
            body.contains("&lt;script&gt;window.__xss="),
            "{path} shows the text escaped"
        );
    }
    let (_, page) = get_page(&app, &http, &cookie, &format!("/issues/{issue}")).await;
    for shown in ["local", "crumb", "tag", "user", "fn", "src"] {
        assert!(
            page.contains(&format!("__xss=&#x27;{shown}&#x27;")),
            "payload {shown} rendered as text"
        );
    }
}

#[tokio::test]
async fn search_sort_and_triage_through_the_pages() {
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    send(&app, &rich_event("card declined")).await;
    let mut warn = crate::helpers::error_event(&new_event_id(), "load_config", "missing key");
    warn["level"] = json!("warning");
    warn["release"] = json!("shop@1.3.0");
    send(&app, &warn).await;
    let payment = issue_titled(&app, "PaymentDeclined").await;
    let config = issue_titled(&app, "missing key").await;
    let http = client();
    let cookie = sign_in(&app, &http).await;
    let list = |q: &str| {
        let path = format!(
            "/projects/{}/issues?q={}",
            app.project.id,
            crate::helpers::urlencode(q)
        );
        let (http, cookie, app) = (&http, &cookie, &app);
        async move { get_page(app, http, cookie, &path).await.1 }
    };
    let shows = |body: &str, id: i64| body.contains(&format!("href=\"/issues/{id}\""));
    let body = list("").await;
    assert!(shows(&body, payment) && shows(&body, config));
    assert!(body.contains("<svg class=\"spark\""), "sparklines");
    let body = list("level:warning").await;
    assert!(!shows(&body, payment) && shows(&body, config));
    let body = list("release:shop@1.2.0 browser:Firefox").await;
    assert!(shows(&body, payment) && !shows(&body, config));
    let body = list("declined").await;
    assert!(shows(&body, payment) && !shows(&body, config));
    let body = list("is:regressed").await;
    assert!(!shows(&body, payment) && !shows(&body, config));
    let body = list("_%").await;
    assert!(
        !shows(&body, payment) && !shows(&body, config),
        "LIKE wildcards in the search are literal"
    );
    let body = list("level:loud").await;
    assert!(body.contains("unknown level"), "search errors are shown");

    // Bulk resolve moves both to the resolved tab.
    let csrf = csrf_of(&body);
    let res = http
        .post(format!(
            "{}/projects/{}/issues/bulk",
            app.base, app.project.id
        ))
        .header(COOKIE, &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("issue", &payment.to_string()),
            ("issue", &config.to_string()),
            ("action", "resolve"),
            ("back", "/projects/1/issues?status=unresolved"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()[LOCATION],
        "/projects/1/issues?status=unresolved&done=resolved&n=2",
        "back to the list, which says what was done"
    );
    let body = list("").await;
    assert!(!shows(&body, payment) && !shows(&body, config));
    let (_, body) = get_page(
        &app,
        &http,
        &cookie,
        &format!(
            "/projects/{}/issues?status=resolved&sort=events",
            app.project.id
        ),
    )
    .await;
    assert!(shows(&body, payment) && shows(&body, config));

    // A new event regresses the issue: is:regressed finds it.
    send(&app, &rich_event("card declined again")).await;
    let body = list("is:regressed").await;
    assert!(shows(&body, payment) && !shows(&body, config));
}

#[tokio::test]
async fn issue_page_shows_the_event_and_navigates() {
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    let first = rich_event("card 1 declined");
    send(&app, &first).await;
    send(&app, &rich_event("card 2 declined")).await;
    let issue = issue_titled(&app, "PaymentDeclined").await;
    let http = client();
    let cookie = sign_in(&app, &http).await;
    let (status, body) = get_page(&app, &http, &cookie, &format!("/issues/{issue}")).await;
    assert_eq!(status, 200);
    for expected in [
        "charge_card",
        "raise PaymentDeclined(card.last4)",
        "class=\"current\"",
        "Local variables",
        "card_last4",
        "user logged in",
        "Breadcrumbs",
        "Why grouped",
        "shop@1.2.0",
        "prod",
        "Context: os",
        "CPython",
        "buyer@example.com",
        "shop.example.com&#x2f;checkout",
        "<svg class=\"chart\"",
        "<meter",
        "1 of 2",
        "Older ›",
    ] {
        assert!(body.contains(expected), "issue page lacks {expected:?}");
    }
    // In-app frames open, library frames collapsed.
    assert!(body.contains("<details class=\"frame in-app\" open>"));
    assert!(body.contains("<details class=\"frame\">"));
    // Attribute values are escaped, `/` included.
    let older = regex::Regex::new(r#"href="([^"]+)" id="older-event""#)
        .unwrap()
        .captures(&body)
        .expect("older link")[1]
        .replace("&#x2f;", "/");
    assert!(
        older.starts_with(&format!("/issues/{issue}?event=")),
        "{older}"
    );
    let (_, body) = get_page(&app, &http, &cookie, &older).await;
    assert!(body.contains("2 of 2") && body.contains("card 1 declined"));
    let (_, body) = get_page(&app, &http, &cookie, &format!("/issues/{issue}?range=30d")).await;
    assert!(body.contains("30 days ago"));
    // Raw JSON download.
    let id = first["event_id"].as_str().unwrap();
    let res = http
        .get(format!("{}/issues/{issue}/events/{id}/json", app.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let raw: Value = res.json().await.unwrap();
    assert_eq!(
        raw["event"]["exception"]["values"][0]["value"],
        "card 1 declined"
    );
    // An event of another issue is not shown under this one.
    let (status, _) = get_page(
        &app,
        &http,
        &cookie,
        &format!("/issues/{}?event={id}", issue + 1000),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Delete removes the issue and its events.
    let csrf = csrf_of(&body);
    let res = http
        .post(format!("{}/issues/{issue}/delete", app.base))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(app.store.issue(issue).await.is_err());
    assert_eq!(
        app.store.counts(Some(app.project.id)).await.unwrap(),
        (0, 0)
    );
}

#[tokio::test]
async fn projects_users_and_deliveries_pages() {
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    let http = client();
    let cookie = sign_in(&app, &http).await;
    let (_, body) = get_page(&app, &http, &cookie, "/projects").await;
    let csrf = csrf_of(&body);
    assert!(
        body.contains("sentry_sdk.init(dsn=")
            && body.contains("Sentry.init(")
            && body.contains("errata::init(")
            && body.contains("Create project")
    );
    let post = |path: &str, form: Vec<(&str, &str)>| {
        http.post(format!("{}{path}", app.base))
            .header(COOKIE, &cookie)
            .form(&form)
            .send()
    };
    let res = post(
        "/projects",
        vec![("csrf", &csrf), ("name", "billing <api>")],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let project = app
        .store
        .list_projects()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == "billing <api>")
        .unwrap();
    let path = format!("/projects/{}/channels", project.id);
    let res = post(
        &path,
        vec![
            ("csrf", &csrf),
            ("action", "add"),
            ("kind", "email"),
            ("target", "ops@example.com"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = post(
        &path,
        vec![
            ("csrf", &csrf),
            ("action", "add"),
            ("kind", "slack"),
            ("target", "https://hooks.slack.com/services/T/B/secret"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = post(
        &path,
        vec![
            ("csrf", &csrf),
            ("action", "add"),
            ("kind", "slack"),
            ("target", "http://insecure"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let (_, body) = get_page(&app, &http, &cookie, "/projects").await;
    assert!(body.contains("billing &lt;api&gt;") && body.contains("ops@example.com"));
    assert!(
        body.contains("https://hooks.slack.com/…") && !body.contains("secret"),
        "webhook redacted"
    );

    let (status, body) = get_page(&app, &http, &cookie, "/admin/deliveries").await;
    assert_eq!(status, 200);
    assert!(body.contains("ops@example.com") && body.contains("No attempts yet."));

    let res = post(
        "/admin/users",
        vec![
            ("csrf", &csrf),
            ("email", "dev@example.com"),
            ("password", "another password"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = post(
        "/admin/users",
        vec![
            ("csrf", &csrf),
            ("email", "dev@example.com"),
            ("password", "another password"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let (_, body) = get_page(&app, &http, &cookie, "/admin/users").await;
    assert!(body.contains("dev@example.com") && body.contains("member"));

    // Members may triage but not open the admin pages.
    let member = {
        let res = post_login(&app, &http, "dev@example.com", "another password").await;
        cookie_pair(&set_cookie(res.headers(), "errata_session").unwrap())
    };
    let (status, _) = get_page(&app, &http, &member, "/admin/users").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = get_page(&app, &http, &member, "/projects").await;
    assert_eq!(status, 200);
    assert!(
        !body.contains("Create project"),
        "no admin forms for members"
    );
    let member_csrf = csrf_of(&body);
    let res = http
        .post(format!("{}/projects", app.base))
        .header(COOKIE, &member)
        .form(&[("csrf", member_csrf.as_str()), ("name", "sneaky")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Only admins and owners may change a project"));
    assert!(app
        .store
        .list_projects()
        .await
        .unwrap()
        .iter()
        .all(|p| p.name != "sneaky"));
}

#[tokio::test]
async fn first_admin_setup_link_works_once() {
    let app = TestApp::spawn().await;
    let token = errata_server::web::auth::first_admin_setup_token(&app.store)
        .await
        .unwrap()
        .expect("no users yet");
    let http = client();
    let page = http
        .get(format!("{}/setup/{token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let pre = cookie_pair(&set_cookie(page.headers(), "errata_csrf").unwrap());
    let csrf = csrf_of(&page.text().await.unwrap());
    let submit = |password: &'static str| {
        http.post(format!("{}/setup/{token}", app.base))
            .header(COOKIE, &pre)
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", "first@example.com"),
                ("password", password),
            ])
            .send()
    };
    let res = submit("short").await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("at least 8 characters"));
    let res = submit("long enough password").await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        set_cookie(res.headers(), "errata_session").is_some(),
        "signed in right away"
    );
    let users = app.store.list_users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert!(users[0].is_admin);
    let q = errata_server::store::AuditQuery {
        limit: 10,
        ..Default::default()
    };
    let log = app.store.audit_log(&q).await.unwrap().entries;
    let actions: Vec<_> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["user.sign_in", "user.create"]);
    assert_eq!(log[1].actor.label, "Errata", "created as done by Errata");
    assert_eq!(log[0].actor.label, "first@example.com", "then signed in");
    assert_eq!(
        log[0].data["method"], "setup_link",
        "through the setup link"
    );
    let res = submit("long enough password").await.unwrap();
    assert_eq!(res.status(), StatusCode::GONE, "the link is spent");
    assert!(
        errata_server::web::auth::first_admin_setup_token(&app.store)
            .await
            .unwrap()
            .is_none()
    );
}
