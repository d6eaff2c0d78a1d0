//! Account management end to end: API tokens (created once, last use to the minute, revoked),
//! users (role, delete, the last admin kept), passwords (one's own, an admin's one-time reset
//! link), the audit log that records each, and members refused with 403 and no change —
//! through the API on SQLite and PostgreSQL, the pages, the command line and, in
//! `browser_*`, headless Chromium.

use std::path::PathBuf;
use std::time::Duration;

use errata_server::clock::{system_now_ms, Clock};
use errata_server::store::{AuditAction, AuditEntry, AuditQuery};
use reqwest::header::COOKIE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::store::{run_postgres, run_sqlite, Ctx};
use crate::web::{
    add_admin, client, cookie_pair, csrf_of, get_page, post_login, set_cookie, EMAIL, PASSWORD,
};

const MEMBER: &str = "member@example.com";
const MEMBER_PASSWORD: &str = "member password 1";

/// A signed-in browser session: its cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

/// Signs in; panics unless it works.
async fn session(app: &TestApp, email: &str, password: &str) -> Session {
    let http = client();
    let res = post_login(app, &http, email, password).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "sign-in of {email}");
    let cookie = cookie_pair(&set_cookie(res.headers(), "errata_session").expect("cookie"));
    let (_, page) = get_page(app, &http, &cookie, "/account").await;
    Session {
        csrf: csrf_of(&page),
        cookie,
    }
}

/// Who calls the API.
enum Who<'a> {
    Token(&'a str),
    Session(&'a Session),
}

/// API calls made by one caller; each returns the status and the JSON body (`null` when
/// there is none).
struct Api<'a> {
    app: &'a TestApp,
    who: Who<'a>,
}

impl<'a> Api<'a> {
    fn token(app: &'a TestApp, token: &'a str) -> Api<'a> {
        Api {
            app,
            who: Who::Token(token),
        }
    }

    fn session(app: &'a TestApp, session: &'a Session) -> Api<'a> {
        Api {
            app,
            who: Who::Session(session),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.app.base);
        let mut req = self.app.http.request(method, url);
        req = match &self.who {
            Who::Token(t) => req.bearer_auth(t),
            Who::Session(s) => req
                .header(COOKIE, &s.cookie)
                .header("x-csrf-token", &s.csrf),
        };
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(Method::POST, path, body).await
    }

    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> StatusCode {
        self.call(Method::DELETE, path, None).await.0
    }
}

/// The audit log's actions through the API, newest first.
async fn audit_actions(app: &TestApp) -> Vec<String> {
    let (status, body) = Api::token(app, &app.token)
        .get("/api/v1/audit-log?limit=100")
        .await;
    assert_eq!(status, 200, "{body}");
    body["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        // Sign-ins are recorded too (tests/it/sso.rs); these tests follow the changes.
        .filter(|a| !a.starts_with("user.sign_in"))
        .collect()
}

/// The audit log as the store reads it, newest first.
async fn stored_audit(store: &errata_server::store::Store) -> Vec<AuditEntry> {
    let q = AuditQuery {
        limit: 100,
        ..AuditQuery::default()
    };
    let entries = store.audit_log(&q).await.expect("audit log").entries;
    // Sign-ins are recorded too (tests/it/sso.rs); these tests follow the changes.
    entries
        .into_iter()
        .filter(|e| !matches!(e.action, AuditAction::SignIn | AuditAction::SignInFailed))
        .collect()
}

async fn add_member(app: &TestApp) -> i64 {
    let hash = errata_server::web::hash_password(MEMBER_PASSWORD).expect("hash");
    app.store
        .create_user(MEMBER, &hash, false)
        .await
        .expect("member")
        .id
}

async fn user_id(app: &TestApp, email: &str) -> i64 {
    app.store
        .list_users()
        .await
        .expect("users")
        .iter()
        .find(|u| u.email == email)
        .map(|u| u.id)
        .expect("user")
}

/// Every account action of the API a member tries: each is 403 and changes nothing.
async fn members_are_refused(app: &TestApp, member: &Session, token_id: i64, admin_id: i64) {
    let tokens_before = app.store.list_tokens().await.expect("tokens");
    let users_before = app.store.list_users().await.expect("users");
    let audit_before = audit_actions(app).await;
    let api = Api::session(app, member);
    let user = format!("/api/v1/users/{admin_id}");
    let attempts = [
        (Method::GET, "/api/v1/tokens".to_owned(), None),
        (
            Method::POST,
            "/api/v1/tokens".to_owned(),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("/api/v1/tokens/{token_id}"), None),
        (Method::PATCH, user.clone(), Some(json!({"role": "member"}))),
        (Method::DELETE, user.clone(), None),
        (Method::POST, format!("{user}/password-reset"), None),
        (Method::GET, "/api/v1/audit-log".to_owned(), None),
    ];
    for (method, path, body) in attempts {
        let (status, answer) = api.call(method.clone(), &path, body).await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert_eq!(answer["detail"], "only owners may do this", "{path}");
    }
    assert_eq!(
        app.store.list_tokens().await.expect("tokens"),
        tokens_before
    );
    assert_eq!(app.store.list_users().await.expect("users"), users_before);
    assert_eq!(audit_actions(app).await, audit_before);
    // Reading the user list is not managing it.
    assert_eq!(api.get("/api/v1/users").await.0, 200);
}

/// Tokens and users through the API, on a server whose clock the test moves.
async fn account_api(url: &str) {
    let t0 = system_now_ms();
    let app = TestApp::spawn_on_with_clock(url, Clock::manual(t0), |_| {}).await;
    add_admin(&app).await;
    let member_id = add_member(&app).await;
    let admin_id = user_id(&app, EMAIL).await;
    let ci = Api::token(&app, &app.token);
    let member_url = format!("/api/v1/users/{member_id}");
    let admin_url = format!("/api/v1/users/{admin_id}");
    let role = |r: &str| json!({ "role": r });

    // A token made by a token: shown once, owned by nobody, recorded.
    let (status, made) = ci
        .post("/api/v1/tokens", Some(json!({"name": " deploy "})))
        .await;
    assert_eq!(status, 201, "{made}");
    let secret = made["token"].as_str().expect("the plaintext").to_owned();
    assert!(secret.starts_with("errata_") && secret.len() == 47);
    assert_eq!(made["name"], "deploy");
    assert_eq!(made["user"], Value::Null);
    assert_eq!(made["hint"], secret[secret.len() - 4..]);
    assert_eq!(made["last_used"], Value::Null);
    let deploy_id = made["id"].as_i64().expect("id");
    let deploy_url = format!("/api/v1/tokens/{deploy_id}");
    for bad in [
        json!({"name": ""}),
        json!({"nom": "x"}),
        json!({"name": "x".repeat(101)}),
    ] {
        let (status, body) = ci.post("/api/v1/tokens", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }

    // Last use: written on use, then not again within the minute.
    let deploy = Api::token(&app, &secret);
    let last_used = || async {
        app.store
            .token(deploy_id)
            .await
            .expect("token")
            .last_used_ms
    };
    assert_eq!(deploy.get("/api/v1/projects").await.0, 200);
    assert_eq!(last_used().await, Some(t0));
    app.clock.advance(Duration::from_secs(59));
    assert_eq!(deploy.get("/api/v1/projects").await.0, 200);
    assert_eq!(last_used().await, Some(t0), "not again within the minute");
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(deploy.get("/api/v1/projects").await.0, 200);
    assert_eq!(last_used().await, Some(t0 + 60_000), "a minute later");
    let (_, listed) = ci.get("/api/v1/tokens").await;
    let row = listed["tokens"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["id"] == deploy_id))
        .cloned()
        .expect("listed");
    assert!(
        row["last_used"].as_str().is_some_and(|d| d.ends_with('Z')),
        "{row}"
    );
    assert!(
        !listed.to_string().contains(&secret),
        "never listed in the clear"
    );

    // Members may do none of it.
    let member = session(&app, MEMBER, MEMBER_PASSWORD).await;
    members_are_refused(&app, &member, deploy_id, admin_id).await;

    // Roles: a member made owner makes a token of their own; the last owner stays one.
    let (status, user) = ci.patch(&member_url, role("owner")).await;
    assert_eq!(
        (status, &user["role"]),
        (StatusCode::OK, &json!("owner")),
        "{user}"
    );
    let promoted = Api::session(&app, &member);
    let (status, own) = promoted
        .post("/api/v1/tokens", Some(json!({"name": "mine"})))
        .await;
    assert_eq!(status, 201, "{own}");
    assert_eq!(own["user"], MEMBER, "owned by the session's user");
    let own_secret = own["token"].as_str().expect("secret").to_owned();
    assert_eq!(ci.patch(&member_url, role("member")).await.0, 200);
    let (status, body) = ci.patch(&admin_url, role("member")).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("last owner"),
        "{body}"
    );
    assert_eq!(ci.delete(&admin_url).await, 409);
    assert!(app.store.user(admin_id).await.expect("admin").is_admin);
    assert_eq!(ci.patch(&member_url, role("superuser")).await.0, 400);
    assert_eq!(ci.patch("/api/v1/users/999999", role("admin")).await.0, 404);
    let admin = session(&app, EMAIL, PASSWORD).await;
    assert_eq!(
        Api::session(&app, &admin).delete(&admin_url).await,
        400,
        "not oneself"
    );

    // A reset link: works once, ends the user's sessions, expires after a day.
    let reset = format!("{member_url}/password-reset");
    let (status, link) = ci.post(&reset, None).await;
    assert_eq!(status, 201, "{link}");
    let url = link["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with(&format!("{}/reset/", app.base)), "{url}");
    let new_password = "brand new password";
    assert_eq!(use_reset_link(&url, "short", "short").await.status(), 400);
    assert_eq!(
        use_reset_link(&url, new_password, "something else")
            .await
            .status(),
        400
    );
    let res = use_reset_link(&url, new_password, new_password).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "set and signed in");
    assert!(set_cookie(res.headers(), "errata_session").is_some());
    let old_session = Api::session(&app, &member);
    assert_eq!(
        old_session.get("/api/v1/users").await.0,
        401,
        "the old session ended"
    );
    let again = use_reset_link(&url, new_password, new_password).await;
    assert_eq!(again.status(), 404, "spent");
    let member = session(&app, MEMBER, new_password).await;
    let (_, link) = ci.post(&reset, None).await;
    app.clock.advance(Duration::from_secs(24 * 3600));
    let late = link["url"].as_str().expect("url");
    let expired = use_reset_link(late, "too late password", "too late password").await;
    assert_eq!(expired.status(), 404, "expired");

    // Deleting a user ends their sessions and revokes their tokens.
    assert_eq!(ci.delete(&member_url).await, 204);
    assert_eq!(
        Api::session(&app, &member).get("/api/v1/users").await.0,
        401
    );
    assert_eq!(
        Api::token(&app, &own_secret).get("/api/v1/users").await.0,
        401
    );
    assert_eq!(ci.delete(&member_url).await, 404);

    // Revoking: the token stops working at once; a second revoke is 404.
    assert_eq!(ci.delete(&deploy_url).await, 204);
    assert_eq!(deploy.get("/api/v1/projects").await.0, 401);
    assert_eq!(ci.delete(&deploy_url).await, 404);

    // The audit log has all of it, newest first, with who and from where.
    assert_eq!(
        audit_actions(&app).await,
        [
            "token.revoke",
            "user.delete",
            "user.password_reset_link",
            "user.password_reset",
            "user.password_reset_link",
            "user.role",
            "token.create",
            "user.role",
            "token.create",
        ]
    );
    let (_, log) = ci.get("/api/v1/audit-log?action=user.delete").await;
    let e = &log["entries"][0];
    let actor = json!({"kind": "token", "id": e["actor"]["id"], "label": "tests"});
    assert_eq!(e["actor"], actor);
    assert_eq!(e["ip"], "127.0.0.1");
    assert_eq!(e["target"]["label"], MEMBER);
    assert_eq!(e["data"]["tokens_revoked"], 1);
    let (_, log) = ci.get("/api/v1/audit-log?action=user.password_reset").await;
    let by = &log["entries"][0]["actor"]["label"];
    assert_eq!(by, MEMBER, "done by the user through the link");
    let (_, log) = ci.get("/api/v1/audit-log?action=user.sign_in").await;
    let methods: Vec<_> = log["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["data"]["method"].clone(), e["actor"]["label"].clone()))
        .collect();
    assert!(
        methods.contains(&(json!("reset_link"), json!(MEMBER))),
        "the sign-in through the reset link is audited with its method: {methods:?}"
    );
    let (_, page) = ci.get("/api/v1/audit-log?limit=4").await;
    let cursor = page["next_cursor"].as_str().expect("more").to_owned();
    let (_, rest) = ci
        .get(&format!("/api/v1/audit-log?limit=100&cursor={cursor}"))
        .await;
    // Nine changes and four sign-ins (one through the reset link), four on the first page.
    assert_eq!(rest["entries"].as_array().map(Vec::len), Some(9));
    assert_eq!(ci.get("/api/v1/audit-log?action=nope").await.0, 400);
    app.stop().await;
}

/// Posts the reset form of `url` (with its pre-session CSRF token).
async fn use_reset_link(url: &str, password: &str, repeat: &str) -> reqwest::Response {
    let http = client();
    let page = http.get(url).send().await.expect("reset page");
    if page.status() != 200 {
        return page;
    }
    let pre = cookie_pair(&set_cookie(page.headers(), "errata_csrf").expect("csrf cookie"));
    let csrf = csrf_of(&page.text().await.expect("body"));
    http.post(url)
        .header(COOKIE, pre)
        .form(&[
            ("csrf", csrf.as_str()),
            ("password", password),
            ("repeat", repeat),
        ])
        .send()
        .await
        .expect("reset")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_api_on_sqlite() -> anyhow::Result<()> {
    run_sqlite(|ctx: Ctx| async move {
        account_api(&ctx.url).await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_api_on_postgres() -> anyhow::Result<()> {
    run_postgres(|ctx: Ctx| async move {
        account_api(&ctx.url).await;
        Ok(())
    })
    .await
}

/// Posts a page form as `s`; returns the status and the page.
async fn post_form(
    app: &TestApp,
    s: &Session,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut fields = vec![("csrf", s.csrf.as_str())];
    fields.extend_from_slice(form);
    let res = client()
        .post(format!("{}{path}", app.base))
        .header(COOKIE, &s.cookie)
        .form(&fields)
        .send()
        .await
        .expect("post");
    let status = res.status();
    (status, res.text().await.unwrap_or_default())
}

#[tokio::test]
async fn pages_manage_tokens_users_and_passwords_and_refuse_members() {
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    let member_id = add_member(&app).await;
    let admin_id = user_id(&app, EMAIL).await;
    let admin = session(&app, EMAIL, PASSWORD).await;
    let http = client();

    // Tokens: made, shown once, listed without it, revoked.
    let (status, page) = post_form(&app, &admin, "/admin/tokens", &[("name", "grafana <x>")]).await;
    assert_eq!(status, 201);
    let secret = regex::Regex::new(r#"value="(errata_[0-9a-f]{40})""#)
        .unwrap()
        .captures(&page)
        .expect("the new token on the page")[1]
        .to_owned();
    assert!(page.contains("grafana &lt;x&gt;"));
    let made = app
        .store
        .token_by_secret(&secret)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        made.user_email.as_deref(),
        Some(EMAIL),
        "owned by the admin"
    );
    let (_, list) = get_page(&app, &http, &admin.cookie, "/admin/tokens").await;
    assert!(
        list.contains("grafana &lt;x&gt;") && !list.contains(&secret),
        "not shown again"
    );
    assert!(list.contains(&format!("…{}", &secret[secret.len() - 4..])));
    let (status, _) = post_form(&app, &admin, "/admin/tokens", &[("name", "  ")]).await;
    assert_eq!(status, 400);

    // Members: every admin page and form is refused, nothing changes.
    let member = session(&app, MEMBER, MEMBER_PASSWORD).await;
    for path in ["/admin/tokens", "/admin/users", "/admin/audit"] {
        assert_eq!(
            get_page(&app, &http, &member.cookie, path).await.0,
            403,
            "{path}"
        );
    }
    let tokens_before = app.store.list_tokens().await.unwrap();
    let users_before = app.store.list_users().await.unwrap();
    let admin_path = |what: &str| format!("/admin/users/{admin_id}/{what}");
    for (path, form) in [
        ("/admin/tokens".to_owned(), vec![("name", "sneaky")]),
        (format!("/admin/tokens/{}/revoke", made.id), vec![]),
        (admin_path("role"), vec![("role", "member")]),
        (admin_path("delete"), vec![]),
        (admin_path("reset"), vec![]),
        (
            "/admin/users".to_owned(),
            vec![("email", "x@example.com"), ("password", "long enough!")],
        ),
    ] {
        let (status, page) = post_form(&app, &member, &path, &form).await;
        assert_eq!(status, 403, "{path}");
        assert!(page.contains("Only owners may do this."), "{path}");
    }
    assert_eq!(app.store.list_tokens().await.unwrap(), tokens_before);
    assert_eq!(app.store.list_users().await.unwrap(), users_before);

    // Users: role changes, self-deletion refused, a reset link shown once.
    let member_path = |what: &str| format!("/admin/users/{member_id}/{what}");
    let (status, _) = post_form(&app, &admin, &member_path("role"), &[("role", "owner")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(app.store.user(member_id).await.unwrap().is_admin);
    let (status, _) = post_form(&app, &admin, &member_path("role"), &[("role", "member")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, page) = post_form(&app, &admin, &admin_path("delete"), &[]).await;
    assert_eq!(status, 400);
    assert!(page.contains("You cannot delete your own account."));
    let (status, page) = post_form(&app, &admin, &member_path("reset"), &[]).await;
    assert_eq!(status, 200);
    let link = regex::Regex::new(r#"value="([^"]+)" id="reset-url""#)
        .unwrap()
        .captures(&page)
        .expect("the link")[1]
        .replace("&#x2f;", "/");
    assert!(link.starts_with(&format!("{}/reset/", app.base)), "{link}");

    // One's own password: the current one is asked for; other sessions end, this one stays.
    let other = session(&app, MEMBER, MEMBER_PASSWORD).await;
    let change = |current: &'static str, new: &'static str, repeat: &'static str| {
        let member = &member;
        let app = &app;
        async move {
            post_form(
                app,
                member,
                "/account/password",
                &[("current", current), ("password", new), ("repeat", repeat)],
            )
            .await
        }
    };
    let (status, page) = change("wrong password", "fresh password 2", "fresh password 2").await;
    assert_eq!(status, 400);
    assert!(page.contains("The current password is wrong."));
    let (status, _) = change(MEMBER_PASSWORD, "fresh password 2", "fresh password 3").await;
    assert_eq!(status, 400);
    let (status, _) = change(MEMBER_PASSWORD, "short", "short").await;
    assert_eq!(status, 400);
    let (status, page) = change(MEMBER_PASSWORD, "fresh password 2", "fresh password 2").await;
    assert_eq!(status, 200);
    assert!(page.contains("Your password was changed."));
    assert_eq!(
        get_page(&app, &http, &member.cookie, "/account").await.0,
        200,
        "this session stays"
    );
    assert_eq!(
        get_page(&app, &http, &other.cookie, "/account").await.0,
        StatusCode::SEE_OTHER,
        "the other ended"
    );
    assert_eq!(
        post_login(&app, &http, MEMBER, "fresh password 2")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        post_login(&app, &http, MEMBER, MEMBER_PASSWORD)
            .await
            .status(),
        401
    );
    assert!(
        use_reset_link(&link, "x", "x").await.status() == 404,
        "a password change spends reset links"
    );

    // Revoke, delete, and the audit page shows it all.
    let (status, _) = post_form(
        &app,
        &admin,
        &format!("/admin/tokens/{}/revoke", made.id),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(app.store.token_by_secret(&secret).await.unwrap().is_none());
    let (status, _) = post_form(&app, &admin, &member_path("delete"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(app
        .store
        .list_users()
        .await
        .unwrap()
        .iter()
        .all(|u| u.email != MEMBER));
    let (status, page) = get_page(&app, &http, &admin.cookie, "/admin/audit").await;
    assert_eq!(status, 200);
    for action in [
        "token.create",
        "token.revoke",
        "user.role",
        "user.password_reset_link",
        "user.password_change",
        "user.delete",
    ] {
        assert!(
            page.contains(&format!("<code class=\"audit-action\">{action}</code>")),
            "{action}"
        );
    }
    let (_, page) = get_page(
        &app,
        &http,
        &admin.cookie,
        "/admin/audit?action=user.delete",
    )
    .await;
    assert_eq!(page.matches("class=\"audit-action\"").count(), 1);
    assert_eq!(
        get_page(&app, &http, &admin.cookie, "/admin/audit?action=x")
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn command_line_manages_tokens_and_users() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("errata.db").display());
    let errata = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_errata"))
            .args(args)
            .env("DATABASE_URL", &db)
            .env("ERRATA_BASE_URL", "https://errors.example.com")
            .env("ERRATA_PASSWORD", "cli password 123")
            .env("RUST_LOG", "warn")
            .output()
            .expect("run errata");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), stdout, stderr)
    };
    let (ok, token, _) = errata(&["token", "create", "--name", "ci", "--create"]);
    assert!(ok && token.trim().starts_with("errata_"), "{token}");
    let token = token.trim();
    let (ok, list, _) = errata(&["token", "list"]);
    assert!(ok);
    let row: Vec<&str> = list.lines().next().expect("a row").split('\t').collect();
    let hint = format!("…{}", &token[token.len() - 4..]);
    assert_eq!(row[1..4], ["ci", hint.as_str(), "command line"]);
    assert_eq!(row[5], "never");
    assert!(errata(&["user", "create", "ops@example.com", "--admin"]).0);
    assert!(errata(&["user", "create", "dev@example.com"]).0);
    let (ok, _, err) = errata(&["user", "set-role", "ops@example.com", "member"]);
    assert!(!ok && err.contains("last owner"), "{err}");
    assert!(errata(&["user", "set-role", "dev@example.com", "admin"]).0);
    let (ok, users, _) = errata(&["user", "list"]);
    assert!(ok && users.contains("dev@example.com\tadmin"), "{users}");
    let (ok, link, _) = errata(&["user", "reset-password", "dev@example.com"]);
    assert!(
        ok && link.trim().starts_with("https://errors.example.com/reset/"),
        "{link}"
    );
    assert!(errata(&["user", "delete", "dev@example.com"]).0);
    let (ok, _, err) = errata(&["user", "delete", "nobody@example.com"]);
    assert!(!ok && err.contains("no user"), "{err}");
    let id = row[0];
    assert!(errata(&["token", "revoke", id]).0);
    let (ok, _, err) = errata(&["token", "revoke", id]);
    assert!(!ok && err.contains("no token"), "{err}");
    let store = errata_server::store::Store::connect(&db)
        .await
        .expect("store");
    let entries = stored_audit(&store).await;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "token.revoke",
            "user.delete",
            "user.password_reset_link",
            "user.role",
            "user.create",
            "user.create",
            "token.create"
        ]
    );
    assert!(entries
        .iter()
        .all(|e| e.actor.label == "command line" && e.actor.ip.is_none()));
    store.close().await;
}

#[tokio::test]
async fn browser_manages_tokens_users_and_passwords() {
    let Some(chromium) = crate::browser::browser_tools() else {
        return;
    };
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    add_member(&app).await;
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(repo.join("tests/browser/accounts.js"))
        .env("ERRATA_BASE_URL", &app.base)
        .env("ERRATA_EMAIL", EMAIL)
        .env("ERRATA_PASSWORD", PASSWORD)
        .env("ERRATA_MEMBER", MEMBER)
        .env("ERRATA_MEMBER_PASSWORD", MEMBER_PASSWORD)
        .env("ERRATA_SCREENSHOTS", repo.join("target/screenshots"))
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .expect("the walk finishes within 3 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("accounts walkthrough ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What the browser did went through the server.
    let tokens = app.store.list_tokens().await.expect("tokens");
    assert!(tokens.iter().all(|t| t.name != "browser token"), "revoked");
    let entries = stored_audit(&app.store).await;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "user.password_change",
            "user.password_reset",
            "user.password_reset_link",
            "user.role",
            "user.role",
            "token.revoke",
            "token.create"
        ]
    );
}
