//! The organization routes of the Sentry API (`/api/0/organizations/{org}/…`, what sentry-cli
//! calls for releases, deploys and artifact bundles) name projects in their bodies and
//! queries, not their paths, so the access guard cannot see them: the handlers check. A token
//! limited to project A, and a member of a team with only A, get 404 for project B (as if it
//! did not exist) and never reach B's releases; a token without `project:releases` gets 403
//! naming the scope — on SQLite and PostgreSQL.

use errata_server::store::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::access::{api, request, session, team, token, user, Caller};
use crate::helpers::TestApp;
use crate::store::{run_postgres, run_sqlite, Ctx};
use crate::web::add_admin;

const ORG: &str = "/api/0/organizations/acme";

/// `method path` with JSON `body` as `who`: the status and the JSON answer.
async fn send(
    app: &TestApp,
    who: &Caller<'_>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = request(app, who, method, path);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The projects (by id) that have release `version`.
async fn projects_with(app: &TestApp, version: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = app
        .store
        .releases_named(version)
        .await
        .expect("releases")
        .iter()
        .map(|r| r.project_id)
        .collect();
    ids.sort_unstable();
    ids
}

/// What `who`, who sees project `a` but not project `beta`, may do through the organization
/// routes.
async fn limited_to_a(app: &TestApp, who: &Caller<'_>, a: &str, tag: &str) {
    let beta_only = format!("beta-only-{tag}");
    let both = format!("both-{tag}");
    let release = |v: &str, projects: &[&str]| json!({"version": v, "projects": projects});
    let (status, body) = api(
        app,
        Method::POST,
        &format!("{ORG}/releases/"),
        Some(release(&beta_only, &["beta"])),
    )
    .await;
    assert_eq!(status, 201, "the owner creates a release of beta: {body}");
    let (status, _) = api(
        app,
        Method::POST,
        &format!("{ORG}/releases/"),
        Some(release(&both, &[a, "beta"])),
    )
    .await;
    assert_eq!(status, 201);
    let beta = app
        .store
        .list_projects()
        .await
        .expect("projects")
        .into_iter()
        .find(|p| p.name == "beta")
        .expect("beta")
        .id;

    // Creating a release for B, alone or with A, is refused as if B did not exist.
    let new = format!("new-{tag}");
    for projects in [vec!["beta"], vec![a, "beta"]] {
        let (status, body) = send(
            app,
            who,
            Method::POST,
            &format!("{ORG}/releases/"),
            Some(release(&new, &projects)),
        )
        .await;
        assert_eq!(status, 404, "{tag}: release for {projects:?}: {body}");
        assert!(
            body.to_string().contains("\\\"beta\\\" does not exist"),
            "{body}"
        );
    }
    assert!(
        projects_with(app, &new).await.is_empty(),
        "{tag}: nothing created"
    );
    let (status, body) = send(
        app,
        who,
        Method::POST,
        &format!("{ORG}/releases/"),
        Some(release(&new, &[a])),
    )
    .await;
    assert_eq!(status, 201, "{tag}: its own project: {body}");
    assert_eq!(projects_with(app, &new).await.len(), 1);

    // B's releases are not listed, not found, not changed, not deployed, not deleted.
    let (status, list) = send(app, who, Method::GET, &format!("{ORG}/releases/"), None).await;
    assert_eq!(status, 200, "{list}");
    let versions: Vec<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["version"].as_str())
        .collect();
    assert!(
        !versions.contains(&beta_only.as_str()),
        "{tag}: {versions:?}"
    );
    assert!(versions.contains(&both.as_str()), "{tag}: {versions:?}");
    assert!(!list.to_string().contains("\"beta\""), "{tag}: {list}");
    let (status, _) = send(
        app,
        who,
        Method::GET,
        &format!("{ORG}/releases/?project=beta"),
        None,
    )
    .await;
    assert_eq!(status, 404, "{tag}: list of beta");
    let one = format!("{ORG}/releases/{beta_only}/");
    let finalize = json!({"dateReleased": "2026-12-05T10:00:00Z"});
    let deploy = json!({"environment": "production"});
    let refused: [(Method, String, Option<Value>); 6] = [
        (Method::GET, one.clone(), None),
        (Method::PUT, one.clone(), Some(finalize)),
        (Method::DELETE, one.clone(), None),
        (Method::POST, format!("{one}deploys/"), Some(deploy.clone())),
        (Method::GET, format!("{one}deploys/"), None),
        (Method::GET, format!("{one}commits/"), None),
    ];
    for (method, path, body) in refused {
        let (status, answer) = send(app, who, method.clone(), &path, body).await;
        assert_eq!(status, 404, "{tag}: {method} {path}: {answer}");
    }
    let (status, shown) = send(
        app,
        who,
        Method::GET,
        &format!("{ORG}/releases/{both}/"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        shown["projects"].as_array().map(Vec::len),
        Some(1),
        "{tag}: only A: {shown}"
    );
    let (status, body) = send(
        app,
        who,
        Method::POST,
        &format!("{ORG}/releases/{both}/deploys/"),
        Some(json!({"environment": "production", "projects": ["beta"]})),
    )
    .await;
    assert_eq!(status, 404, "{tag}: a deploy naming beta: {body}");
    let (status, _) = send(
        app,
        who,
        Method::DELETE,
        &format!("{ORG}/releases/{both}/"),
        None,
    )
    .await;
    assert_eq!(status, 204, "{tag}: deletes A's row");
    assert_eq!(
        projects_with(app, &both).await,
        vec![beta],
        "{tag}: B's row stays"
    );
    assert_eq!(projects_with(app, &beta_only).await, vec![beta]);
    let (_, b_release) = api(app, Method::GET, &one, None).await;
    assert_eq!(
        b_release["dateReleased"],
        Value::Null,
        "{tag}: not finalized"
    );
    assert_eq!(b_release["deployCount"], 0, "{tag}: not deployed");

    // Artifact bundles for B are refused before any chunk is looked at.
    let checksum = "0".repeat(40);
    let bundle = json!({"checksum": checksum, "chunks": [checksum], "projects": ["beta"]});
    let (status, body) = send(
        app,
        who,
        Method::POST,
        &format!("{ORG}/artifactbundle/assemble/"),
        Some(bundle),
    )
    .await;
    assert_eq!(status, 404, "{tag}: bundle for beta: {body}");
    let (status, body) = send(
        app,
        who,
        Method::POST,
        &format!("{ORG}/releases/{beta_only}/assemble/"),
        Some(json!({"checksum": checksum, "chunks": [checksum]})),
    )
    .await;
    assert_eq!(
        status, 404,
        "{tag}: release bundle of beta's release: {body}"
    );
    let mine = json!({"checksum": checksum, "chunks": [checksum], "projects": [a]});
    let (status, body) = send(
        app,
        who,
        Method::POST,
        &format!("{ORG}/artifactbundle/assemble/"),
        Some(mine),
    )
    .await;
    assert_eq!(
        (status, &body["state"]),
        (200, &json!("not_found")),
        "{tag}: {body}"
    );
}

async fn organization_routes(url: &str) {
    let app = TestApp::spawn_on(url, |_| {}).await;
    add_admin(&app).await;
    let beta = app.store.create_project("beta").await.expect("project");
    let a = app.project.clone();
    let releases = token(&app, &["project:releases"], &[a.id]).await;
    limited_to_a(&app, &Caller::Token(&releases), &a.name, "token").await;

    let member = user(&app, "releaser@example.com", Role::Member).await;
    let outsider = user(&app, "outsider@example.com", Role::Member).await;
    team(&app, "team a", &[member], &[a.id]).await;
    team(&app, "team b", &[outsider], &[beta.id]).await;
    let s = session(&app, "releaser@example.com").await;
    limited_to_a(&app, &Caller::Session(&s), &a.name, "member").await;

    // Without the scope: 403 naming it, whatever the project.
    let read = token(&app, &["project:read"], &[a.id]).await;
    let body = json!({"version": "nope", "projects": [a.name]});
    let (status, answer) = send(
        &app,
        &Caller::Token(&read),
        Method::POST,
        &format!("{ORG}/releases/"),
        Some(body),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer
            .to_string()
            .contains("lacks the scope project:releases"),
        "{answer}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_routes_keep_to_the_callers_projects_on_sqlite() -> anyhow::Result<()> {
    run_sqlite(|ctx: Ctx| async move {
        organization_routes(&ctx.url).await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_routes_keep_to_the_callers_projects_on_postgres() -> anyhow::Result<()> {
    run_postgres(|ctx: Ctx| async move {
        organization_routes(&ctx.url).await;
        Ok(())
    })
    .await
}
