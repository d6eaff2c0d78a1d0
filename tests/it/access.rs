//! Teams, roles and scoped tokens over HTTP, for every route that names a project, an issue
//! or a monitor (issue #19): a member of team A gets 404 for team B's project (not 403, so
//! ids do not leak), a viewer cannot change anything (403), a token without the scope gets 403
//! naming it, a token limited to project A gets 404 for B — on SQLite and PostgreSQL. The
//! route table is checked against the router's source, so a new route cannot be forgotten.

use std::collections::BTreeSet;
use std::path::Path;

use errata_server::store::Role;
use reqwest::header::COOKIE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_event, event_envelope, new_event_id, TestApp};
use crate::store::{run_postgres, run_sqlite, Ctx};
use crate::web::{add_admin, client, cookie_pair, csrf_of, get_page, post_login, set_cookie};

/// Whether a route is a page (session cookie, form posts) or the API (JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Page,
    Api,
    /// The API, for the caller's own settings: a viewer may change them.
    Personal,
}

/// Every route with a project, issue or monitor in its path, as the router spells it.
const ROUTES: &[(&str, &str, Kind)] = &[
    // Pages.
    ("GET", "/projects/{project_id}/issues", Kind::Page),
    ("POST", "/projects/{project_id}/issues/bulk", Kind::Page),
    ("GET", "/projects/{project_id}/releases", Kind::Page),
    ("GET", "/projects/{project_id}/feedback", Kind::Page),
    ("POST", "/projects/{project_id}/channels", Kind::Page),
    ("GET", "/projects/{project_id}/settings", Kind::Page),
    ("POST", "/projects/{project_id}/settings", Kind::Page),
    ("POST", "/projects/{project_id}/discarded/undo", Kind::Page),
    ("POST", "/projects/{project_id}/delete", Kind::Page),
    ("GET", "/projects/{project_id}/monitors", Kind::Page),
    ("POST", "/projects/{project_id}/monitors", Kind::Page),
    ("GET", "/issues/{issue_id}", Kind::Page),
    ("POST", "/issues/{issue_id}/status", Kind::Page),
    ("POST", "/issues/{issue_id}/delete", Kind::Page),
    ("POST", "/issues/{issue_id}/assign", Kind::Page),
    ("POST", "/issues/{issue_id}/comments", Kind::Page),
    (
        "POST",
        "/issues/{issue_id}/comments/{comment_id}/edit",
        Kind::Page,
    ),
    (
        "POST",
        "/issues/{issue_id}/comments/{comment_id}/delete",
        Kind::Page,
    ),
    ("POST", "/issues/{issue_id}/unmerge", Kind::Page),
    ("POST", "/issues/{issue_id}/mute", Kind::Personal),
    ("GET", "/issues/{issue_id}/events", Kind::Page),
    (
        "GET",
        "/issues/{issue_id}/events/{event_id}/json",
        Kind::Page,
    ),
    ("POST", "/issues/{issue_id}/discard", Kind::Page),
    ("GET", "/monitors/{monitor_id}", Kind::Page),
    ("POST", "/monitors/{monitor_id}", Kind::Page),
    ("POST", "/monitors/{monitor_id}/pause", Kind::Page),
    ("POST", "/monitors/{monitor_id}/resume", Kind::Page),
    ("POST", "/monitors/{monitor_id}/delete", Kind::Page),
    ("GET", "/projects/{project_id}/uptime", Kind::Page),
    ("POST", "/projects/{project_id}/uptime", Kind::Page),
    ("GET", "/uptime/{check_id}", Kind::Page),
    ("POST", "/uptime/{check_id}", Kind::Page),
    ("POST", "/uptime/{check_id}/pause", Kind::Page),
    ("POST", "/uptime/{check_id}/resume", Kind::Page),
    ("POST", "/uptime/{check_id}/delete", Kind::Page),
    ("GET", "/projects/{project_id}/alerts", Kind::Page),
    ("POST", "/projects/{project_id}/alerts", Kind::Page),
    (
        "GET",
        "/projects/{project_id}/alerts/{rule_id}/edit",
        Kind::Page,
    ),
    (
        "POST",
        "/projects/{project_id}/alerts/{rule_id}/edit",
        Kind::Page,
    ),
    // The API.
    ("GET", "/api/v1/projects/{project_id}/issues", Kind::Api),
    (
        "GET",
        "/api/v1/projects/{project_id}/events/{event_id}",
        Kind::Api,
    ),
    ("GET", "/api/v1/issues/{issue_id}", Kind::Api),
    ("PATCH", "/api/v1/issues/{issue_id}", Kind::Api),
    ("GET", "/api/v1/issues/{issue_id}/events", Kind::Api),
    ("GET", "/api/v1/issues/{issue_id}/activity", Kind::Api),
    ("POST", "/api/v1/issues/{issue_id}/comments", Kind::Api),
    (
        "PATCH",
        "/api/v1/issues/{issue_id}/comments/{comment_id}",
        Kind::Api,
    ),
    (
        "DELETE",
        "/api/v1/issues/{issue_id}/comments/{comment_id}",
        Kind::Api,
    ),
    (
        "POST",
        "/api/v1/projects/{project_id}/issues/merge",
        Kind::Api,
    ),
    ("GET", "/api/v1/issues/{issue_id}/hashes", Kind::Api),
    ("POST", "/api/v1/issues/{issue_id}/unmerge", Kind::Api),
    ("GET", "/api/v1/issues/{issue_id}/feedback", Kind::Api),
    ("GET", "/api/v1/projects/{project_id}/feedback", Kind::Api),
    ("POST", "/api/v1/issues/{issue_id}/discard", Kind::Api),
    ("GET", "/api/v1/projects/{project_id}/discarded", Kind::Api),
    (
        "DELETE",
        "/api/v1/projects/{project_id}/discarded/{hash}",
        Kind::Api,
    ),
    ("GET", "/api/v1/projects/{project_id}/monitors", Kind::Api),
    ("POST", "/api/v1/projects/{project_id}/monitors", Kind::Api),
    ("GET", "/api/v1/monitors/{monitor_id}", Kind::Api),
    ("PATCH", "/api/v1/monitors/{monitor_id}", Kind::Api),
    ("DELETE", "/api/v1/monitors/{monitor_id}", Kind::Api),
    ("GET", "/api/v1/monitors/{monitor_id}/checkins", Kind::Api),
    (
        "GET",
        "/api/v1/projects/{project_id}/uptime-checks",
        Kind::Api,
    ),
    (
        "POST",
        "/api/v1/projects/{project_id}/uptime-checks",
        Kind::Api,
    ),
    ("GET", "/api/v1/uptime-checks/{check_id}", Kind::Api),
    ("PATCH", "/api/v1/uptime-checks/{check_id}", Kind::Api),
    ("DELETE", "/api/v1/uptime-checks/{check_id}", Kind::Api),
    ("GET", "/api/v1/uptime-checks/{check_id}/results", Kind::Api),
    (
        "GET",
        "/api/v1/projects/{project_id}/status-page",
        Kind::Api,
    ),
    (
        "PUT",
        "/api/v1/projects/{project_id}/status-page",
        Kind::Api,
    ),
    (
        "GET",
        "/api/v1/projects/{project_id}/alert-rules",
        Kind::Api,
    ),
    (
        "POST",
        "/api/v1/projects/{project_id}/alert-rules",
        Kind::Api,
    ),
    (
        "GET",
        "/api/v1/projects/{project_id}/email-digest",
        Kind::Api,
    ),
    (
        "PUT",
        "/api/v1/projects/{project_id}/email-digest",
        Kind::Api,
    ),
    ("PATCH", "/api/v1/alert-rules/{rule_id}", Kind::Api),
    ("DELETE", "/api/v1/alert-rules/{rule_id}", Kind::Api),
    ("POST", "/api/v1/alert-rules/{rule_id}/test", Kind::Api),
    // One's own settings (a signed-in user's, not a token's): only hidden elsewhere.
    ("GET", "/api/v1/issues/{issue_id}/mute", Kind::Personal),
    ("PUT", "/api/v1/issues/{issue_id}/mute", Kind::Personal),
    ("DELETE", "/api/v1/issues/{issue_id}/mute", Kind::Personal),
    (
        "GET",
        "/api/v1/projects/{project_id}/subscription",
        Kind::Personal,
    ),
    (
        "PUT",
        "/api/v1/projects/{project_id}/subscription",
        Kind::Personal,
    ),
    (
        "DELETE",
        "/api/v1/projects/{project_id}/subscription",
        Kind::Personal,
    ),
    (
        "PUT",
        "/api/v1/teams/{team_id}/projects/{project_id}",
        Kind::Api,
    ),
    // The Sentry API of sentry-cli (routes built with format!, by project name).
    ("GET", "/api/0/projects/org/{project}/releases/", Kind::Api),
    ("POST", "/api/0/projects/org/{project}/releases/", Kind::Api),
    (
        "GET",
        "/api/0/projects/org/{project}/releases/1.0/files/",
        Kind::Api,
    ),
];

/// Routes with a project in the path that are not about access: ingestion authenticates
/// with the project's DSN key, not a user or API token.
const NOT_ACCESS: &[&str] = &[
    "/api/{project_id}/envelope",
    "/api/{project_id}/envelope/",
    "/api/{project_id}/store",
    "/api/{project_id}/store/",
    "/api/{project_id}/cron/{monitor_slug}",
    "/api/{project_id}/cron/{monitor_slug}/",
    "/api/{project_id}/cron/{monitor_slug}/{sentry_key}",
    "/api/{project_id}/cron/{monitor_slug}/{sentry_key}/",
];

/// The route paths of `.route("…")` calls under `dir`.
fn routes_in(dir: &Path, out: &mut BTreeSet<String>) {
    let re = regex::Regex::new(r#"\.route\(\s*"([^"]+)""#).expect("regex");
    for entry in std::fs::read_dir(dir).expect("src dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            routes_in(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source");
            for c in re.captures_iter(&text) {
                out.insert(c[1].to_owned());
            }
        }
    }
}

#[test]
fn every_route_naming_a_project_is_in_the_table() {
    let mut found = BTreeSet::new();
    routes_in(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    assert!(found.len() > 40, "the scan found the routes: {found:?}");
    let table: BTreeSet<&str> = ROUTES.iter().map(|r| r.1).collect();
    for route in found {
        let names_project = [
            "{project_id}",
            "{issue_id}",
            "{monitor_id}",
            "{check_id}",
            "{rule_id}",
        ]
        .iter()
        .any(|p| route.contains(p));
        if names_project && !NOT_ACCESS.contains(&route.as_str()) {
            assert!(
                table.contains(route.as_str()),
                "{route} is not in the access table of tests/it/access.rs"
            );
        }
    }
}

/// One project's ids, to fill a route's parameters.
struct Ids {
    project: i64,
    name: String,
    issue: i64,
    event: String,
    monitor: i64,
    comment: i64,
    check: i64,
    rule: i64,
}

impl Ids {
    fn path(&self, template: &str, team: i64) -> String {
        template
            .replace("{project_id}", &self.project.to_string())
            .replace("{project}", &self.name)
            .replace("{issue_id}", &self.issue.to_string())
            .replace("{event_id}", &self.event)
            .replace("{monitor_id}", &self.monitor.to_string())
            .replace("{comment_id}", &self.comment.to_string())
            .replace("{check_id}", &self.check.to_string())
            .replace("{rule_id}", &self.rule.to_string())
            .replace("{hash}", "00112233445566778899aabbccddeeff")
            .replace("{team_id}", &team.to_string())
    }
}

/// A signed-in browser: cookie and CSRF token.
pub(crate) struct Session {
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

pub(crate) async fn session(app: &TestApp, email: &str) -> Session {
    let http = client();
    let res = post_login(app, &http, email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "sign-in of {email}");
    let cookie = cookie_pair(&set_cookie(res.headers(), "errata_session").expect("cookie"));
    let (_, page) = get_page(app, &http, &cookie, "/account").await;
    Session {
        csrf: csrf_of(&page),
        cookie,
    }
}

const PASSWORD: &str = "access password 1";

/// Who makes a request.
pub(crate) enum Caller<'a> {
    Session(&'a Session),
    Token(&'a str),
}

/// Makes `method path` as `who`; pages get a form with the CSRF field, the API `{}`.
pub(crate) async fn call(
    app: &TestApp,
    who: &Caller<'_>,
    method: &str,
    path: &str,
    kind: Kind,
) -> (u16, String) {
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = request(app, who, method.clone(), path);
    if method != Method::GET {
        req = match (kind, who) {
            (Kind::Page, Caller::Session(s)) => req.form(&[("csrf", s.csrf.as_str())]),
            _ => req.json(&json!({})),
        };
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

/// A request to `path` as `who` (a session's cookie and CSRF header, or the bearer token).
pub(crate) fn request(
    app: &TestApp,
    who: &Caller<'_>,
    method: Method,
    path: &str,
) -> reqwest::RequestBuilder {
    let req = client().request(method, format!("{}{path}", app.base));
    match who {
        Caller::Session(s) => req
            .header(COOKIE, &s.cookie)
            .header("x-csrf-token", &s.csrf),
        Caller::Token(t) => req.bearer_auth(t),
    }
}

/// Runs the `errata` binary with `args` on database `db`: success, stdout, stderr.
pub(crate) fn run_errata(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_errata"))
        .args(args)
        .env("DATABASE_URL", db)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run errata");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), stdout, stderr)
}

pub(crate) async fn api(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(&app.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A project with an issue, an event, a monitor and a comment.
async fn populate(app: &TestApp, project: i64, name: &str, key: &str) -> Ids {
    let event = new_event_id();
    let res = app
        .http
        .post(format!(
            "{}/api/{project}/envelope/?sentry_key={key}",
            app.base
        ))
        .body(event_envelope(&error_event(&event, "handler", name)))
        .send()
        .await
        .expect("envelope");
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let (_, issues) = api(
        app,
        Method::GET,
        &format!("/api/v1/projects/{project}/issues"),
        None,
    )
    .await;
    let issue = issues["issues"][0]["id"].as_i64().expect("an issue");
    let (status, monitor) = api(
        app,
        Method::POST,
        &format!("/api/v1/projects/{project}/monitors"),
        Some(json!({"slug": "nightly", "schedule": "@daily"})),
    )
    .await;
    assert_eq!(status, 201, "{monitor}");
    let (status, comment) = api(
        app,
        Method::POST,
        &format!("/api/v1/issues/{issue}/comments"),
        Some(json!({"text": "looking"})),
    )
    .await;
    assert_eq!(status, 201, "{comment}");
    // Paused: nothing is probed (a public address, never contacted).
    let (status, check) = api(
        app,
        Method::POST,
        &format!("/api/v1/projects/{project}/uptime-checks"),
        Some(json!({"url": "https://93.184.216.34/healthz", "is_paused": true})),
    )
    .await;
    assert_eq!(status, 201, "{check}");
    let (status, page) = api(
        app,
        Method::PUT,
        &format!("/api/v1/projects/{project}/status-page"),
        Some(json!({"slug": format!("status-{project}")})),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let (_, rules) = api(
        app,
        Method::GET,
        &format!("/api/v1/projects/{project}/alert-rules"),
        None,
    )
    .await;
    Ids {
        project,
        name: name.to_owned(),
        issue,
        event,
        monitor: monitor["id"].as_i64().expect("monitor id"),
        comment: comment["id"].as_i64().expect("comment id"),
        check: check["id"].as_i64().expect("check id"),
        rule: rules["rules"][0]["id"].as_i64().expect("the default rule"),
    }
}

pub(crate) async fn user(app: &TestApp, email: &str, role: Role) -> i64 {
    let hash = errata_server::web::hash_password(PASSWORD).expect("hash");
    app.store
        .create_user_with_role(email, &hash, role)
        .await
        .expect("user")
        .id
}

/// Creates a team with `members` and `projects` through the API; returns its id.
pub(crate) async fn team(app: &TestApp, name: &str, members: &[i64], projects: &[i64]) -> i64 {
    let (status, t) = api(
        app,
        Method::POST,
        "/api/v1/teams",
        Some(json!({"name": name})),
    )
    .await;
    assert_eq!(status, 201, "{t}");
    let id = t["id"].as_i64().expect("team id");
    for m in members {
        let path = format!("/api/v1/teams/{id}/members/{m}");
        assert_eq!(api(app, Method::PUT, &path, None).await.0, 204, "{path}");
    }
    for p in projects {
        let path = format!("/api/v1/teams/{id}/projects/{p}");
        assert_eq!(api(app, Method::PUT, &path, None).await.0, 204, "{path}");
    }
    id
}

pub(crate) async fn token(app: &TestApp, scopes: &[&str], projects: &[i64]) -> String {
    let body = json!({"name": format!("{scopes:?}"), "scopes": scopes, "projects": projects});
    let (status, t) = api(app, Method::POST, "/api/v1/tokens", Some(body)).await;
    assert_eq!(status, 201, "{t}");
    t["token"].as_str().expect("secret").to_owned()
}

async fn access_matrix(url: &str) {
    let app = TestApp::spawn_on(url, |_| {}).await;
    add_admin(&app).await;
    let beta = app.store.create_project("beta").await.expect("project");
    let a = populate(
        &app,
        app.project.id,
        &app.project.name,
        crate::helpers::FIXTURE_KEY,
    )
    .await;
    let b = populate(&app, beta.id, "beta", &beta.public_key).await;
    let member = user(&app, "member-a@example.com", Role::Member).await;
    let viewer = user(&app, "viewer-a@example.com", Role::Viewer).await;
    let outsider = user(&app, "member-b@example.com", Role::Member).await;
    let team_a = team(&app, "team a", &[member, viewer], &[a.project]).await;
    let team_b = team(&app, "team b", &[outsider], &[b.project]).await;
    let member_s = session(&app, "member-a@example.com").await;
    let viewer_s = session(&app, "viewer-a@example.com").await;
    let read = token(&app, &["project:read"], &[]).await;
    let limited = token(&app, &["org:admin"], &[a.project]).await;

    // Lists show only what one sees.
    let (status, body) = call(
        &app,
        &Caller::Session(&member_s),
        "GET",
        "/api/v1/projects",
        Kind::Api,
    )
    .await;
    assert_eq!(status, 200);
    let names: Vec<String> = serde_json::from_str::<Value>(&body).expect("json")["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, vec![a.name.as_str()]);
    let (status, page) = call(
        &app,
        &Caller::Session(&member_s),
        "GET",
        "/projects",
        Kind::Page,
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("/projects/{}/issues", a.project)));
    assert!(
        !page.contains(&format!("/projects/{}/issues", b.project)),
        "team b's project is listed"
    );
    let (_, body) = call(
        &app,
        &Caller::Token(&limited),
        "GET",
        "/api/v1/projects",
        Kind::Api,
    )
    .await;
    assert!(!body.contains("\"beta\""), "{body}");

    // A bulk action on one's own project does not reach another project's issue.
    let bulk = format!("/projects/{}/issues/bulk", a.project);
    let res = client()
        .post(format!("{}{bulk}", app.base))
        .header(COOKIE, &member_s.cookie)
        .form(&[
            ("csrf", member_s.csrf.as_str()),
            ("action", "resolve"),
            ("issue", &b.issue.to_string()),
        ])
        .send()
        .await
        .expect("bulk");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, issue_b) = api(
        &app,
        Method::GET,
        &format!("/api/v1/issues/{}", b.issue),
        None,
    )
    .await;
    assert_eq!(issue_b["status"], "unresolved");

    for &(method, template, kind) in ROUTES {
        let on_b = b.path(template, team_b);
        let on_a = a.path(template, team_a);
        // Team B's project does not exist for team A's member, nor for a token limited to A.
        let (status, body) = call(&app, &Caller::Session(&member_s), method, &on_b, kind).await;
        assert_eq!(status, 404, "member of team a: {method} {on_b}: {body}");
        if kind == Kind::Personal {
            continue;
        }
        if kind == Kind::Api {
            let (status, body) = call(&app, &Caller::Token(&limited), method, &on_b, kind).await;
            assert_eq!(status, 404, "token limited to a: {method} {on_b}: {body}");
        }
        if method == "GET" {
            // Reading one's own project works, for viewers too.
            let (status, body) = call(&app, &Caller::Session(&viewer_s), method, &on_a, kind).await;
            assert_eq!(status, 200, "viewer: {method} {on_a}: {body}");
            if kind == Kind::Api && !template.starts_with("/api/0/") {
                let (status, body) = call(&app, &Caller::Token(&read), method, &on_a, kind).await;
                assert_eq!(status, 200, "project:read token: {method} {on_a}: {body}");
            }
        } else {
            // A viewer changes nothing; a read-only token is told the scope it lacks.
            let (status, body) = call(&app, &Caller::Session(&viewer_s), method, &on_a, kind).await;
            assert_eq!(status, 403, "viewer: {method} {on_a}: {body}");
            if kind == Kind::Api {
                let (status, body) = call(&app, &Caller::Token(&read), method, &on_a, kind).await;
                assert_eq!(status, 403, "project:read token: {method} {on_a}: {body}");
                assert!(
                    body.contains("lacks the scope project:"),
                    "{method} {on_a}: {body}"
                );
            }
        }
    }

    // Nothing of project B changed, and the owner still sees it all.
    let owner_b = format!("/api/v1/issues/{}/activity", b.issue);
    let (status, _) = api(&app, Method::GET, &owner_b, None).await;
    assert_eq!(status, 200);
    let (status, monitor) = api(
        &app,
        Method::GET,
        &format!("/api/v1/monitors/{}", b.monitor),
        None,
    )
    .await;
    assert_eq!((status, monitor["is_paused"].as_bool()), (200, Some(false)));
    let (status, issue_b) = api(
        &app,
        Method::GET,
        &format!("/api/v1/issues/{}", b.issue),
        None,
    )
    .await;
    assert_eq!((status, &issue_b["status"]), (200, &json!("unresolved")));

    // An issue cannot be assigned to someone who does not see its project.
    let (status, body) = api(
        &app,
        Method::PATCH,
        &format!("/api/v1/issues/{}", a.issue),
        Some(json!({"assignee": "member-b@example.com"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // Team changes are in the audit log, and the log exports as JSON lines (owners only).
    let res = app
        .http
        .get(format!("{}/api/v1/audit-log/export", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("export");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = res
        .text()
        .await
        .expect("body")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    for action in [
        "team.create",
        "team.member_add",
        "team.project_add",
        "token.create",
    ] {
        assert!(lines.iter().any(|l| l["action"] == action), "{action}");
    }
    let (status, _) = call(
        &app,
        &Caller::Session(&member_s),
        "GET",
        "/api/v1/audit-log/export",
        Kind::Api,
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_matrix_on_sqlite() -> anyhow::Result<()> {
    run_sqlite(|ctx: Ctx| async move {
        access_matrix(&ctx.url).await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_matrix_on_postgres() -> anyhow::Result<()> {
    run_postgres(|ctx: Ctx| async move {
        access_matrix(&ctx.url).await;
        Ok(())
    })
    .await
}

/// `errata token create --scope … --project …`: the scopes and projects are stored, and the
/// token is held to them over HTTP. Multi-threaded: the commands block their thread, and
/// the server (in this runtime) must go on meanwhile, or a pass it is in the middle of holds
/// SQLite's write lock past the command's busy timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_line_makes_scoped_project_tokens() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("errata.db").display());
    let app = TestApp::spawn_on(&db, |_| {}).await;
    let beta = app.store.create_project("beta").await.expect("project");
    let errata = |args: &[&str]| run_errata(&db, args);
    let (ok, secret, err) = errata(&[
        "token",
        "create",
        "--name",
        "reader",
        "--scope",
        "project:read",
        "--project",
        "beta",
    ]);
    assert!(ok, "{err}");
    let secret = secret.trim().to_owned();
    let (ok, _, err) = errata(&["token", "create", "--scope", "project:everything"]);
    assert!(!ok && err.contains("project:everything"), "{err}");
    let (ok, _, err) = errata(&["token", "create", "--project", "nope"]);
    assert!(!ok && err.contains("nope"), "{err}");
    let (_, list) = api(&app, Method::GET, "/api/v1/tokens", None).await;
    let made = list["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["name"] == "reader")
        .expect("the token")
        .clone();
    assert_eq!(made["scopes"], json!(["project:read"]));
    assert_eq!(made["projects"], json!([beta.id]));
    assert_eq!(
        list["tokens"][0]["scopes"],
        json!(["org:admin"]),
        "the old token"
    );

    let as_reader = |path: String, method: Method| {
        let req = app
            .http
            .request(method, format!("{}{path}", app.base))
            .bearer_auth(&secret);
        async move {
            let res = req.json(&json!({})).send().await.expect("request");
            (res.status().as_u16(), res.text().await.unwrap_or_default())
        }
    };
    let beta_issues = format!("/api/v1/projects/{}/issues", beta.id);
    assert_eq!(as_reader(beta_issues.clone(), Method::GET).await.0, 200);
    let other = format!("/api/v1/projects/{}/issues", app.project.id);
    assert_eq!(as_reader(other, Method::GET).await.0, 404);
    let (status, body) = as_reader(
        format!("/api/v1/projects/{}/issues/merge", beta.id),
        Method::POST,
    )
    .await;
    assert_eq!(status, 403);
    assert!(body.contains("lacks the scope project:write"), "{body}");
    let (status, body) = as_reader("/api/v1/tokens".into(), Method::GET).await;
    assert_eq!(status, 403);
    assert!(body.contains("lacks the scope org:admin"), "{body}");
}

/// One's sessions: listed (the current one marked), one revoked ends it; an owner ends
/// anyone's; a viewer may end their own.
#[tokio::test]
async fn sessions_are_listed_and_revoked() {
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    user(&app, "viewer@example.com", Role::Viewer).await;
    let first = session(&app, "viewer@example.com").await;
    let second = session(&app, "viewer@example.com").await;
    let (status, body) = call(
        &app,
        &Caller::Session(&first),
        "GET",
        "/api/v1/sessions",
        Kind::Api,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body).expect("json");
    let sessions = list["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2, "{list}");
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{list}");
    let other = sessions
        .iter()
        .find(|s| s["current"] == false)
        .and_then(|s| s["id"].as_str())
        .expect("the other session")
        .to_owned();
    let path = format!("/api/v1/sessions/{other}");
    assert_eq!(
        call(&app, &Caller::Session(&first), "DELETE", &path, Kind::Api)
            .await
            .0,
        204
    );
    assert_eq!(
        call(&app, &Caller::Session(&first), "DELETE", &path, Kind::Api)
            .await
            .0,
        404
    );
    let (status, _) = call(
        &app,
        &Caller::Session(&second),
        "GET",
        "/api/v1/sessions",
        Kind::Api,
    )
    .await;
    assert_eq!(status, 401, "the revoked session ended");

    // The account page lists them too and signs one out (a viewer may).
    let third = session(&app, "viewer@example.com").await;
    let (status, page) = call(
        &app,
        &Caller::Session(&first),
        "GET",
        "/account",
        Kind::Page,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page.matches("/revoke\"").count(), 2, "two sessions listed");
    assert_eq!(page.matches("this browser").count(), 1);
    let third_id = list_ids(&app, &third)
        .await
        .into_iter()
        .find(|(_, current)| *current)
        .expect("third")
        .0;
    let path = format!("/account/sessions/{third_id}/revoke");
    let (status, body) = call(&app, &Caller::Session(&first), "POST", &path, Kind::Page).await;
    assert_eq!(status, 303, "{body}");
    let (status, _) = call(
        &app,
        &Caller::Session(&third),
        "GET",
        "/api/v1/sessions",
        Kind::Api,
    )
    .await;
    assert_eq!(status, 401, "signed out from the account page");

    // An owner lists and ends anyone's; a token without org:admin may not.
    let viewer_id = app
        .store
        .user_by_email("viewer@example.com")
        .await
        .expect("lookup")
        .expect("viewer")
        .id;
    let (_, theirs) = api(
        &app,
        Method::GET,
        &format!("/api/v1/users/{viewer_id}/sessions"),
        None,
    )
    .await;
    let id = theirs["sessions"][0]["id"].as_str().expect("id").to_owned();
    let (status, _) = api(
        &app,
        Method::DELETE,
        &format!("/api/v1/users/{viewer_id}/sessions/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &app,
        &Caller::Session(&first),
        "GET",
        "/api/v1/sessions",
        Kind::Api,
    )
    .await;
    assert_eq!(status, 401, "ended by the owner");
}

/// The ids of a session's user's sessions, with whether each is `s` itself.
async fn list_ids(app: &TestApp, s: &Session) -> Vec<(String, bool)> {
    let (status, body) = call(
        app,
        &Caller::Session(s),
        "GET",
        "/api/v1/sessions",
        Kind::Api,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    v["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or_default().to_owned(),
                s["current"] == true,
            )
        })
        .collect()
}
