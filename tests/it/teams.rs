//! The Teams page and `errata team …`: what they change goes through the store (teams,
//! members, projects, the audit log), and who is not an owner, or a form without its CSRF
//! token, changes nothing.

use std::time::Duration;

use errata_server::store::{AuditAction, AuditQuery, Role, Team};
use reqwest::Method;

use crate::access::{request, run_errata, session, user, Caller};
use crate::browser::{browser_tools, repo, run_script};
use crate::helpers::TestApp;
use crate::web::{add_admin, client, EMAIL, PASSWORD};

/// The team named `name`.
async fn team_named(app: &TestApp, name: &str) -> Option<Team> {
    let teams = app.store.list_teams().await.expect("teams");
    teams.into_iter().find(|t| t.name == name)
}

/// The audit log's team actions, oldest first.
async fn team_actions(app: &TestApp) -> Vec<&'static str> {
    let q = AuditQuery {
        limit: 100,
        ..AuditQuery::default()
    };
    let log = app.store.audit_log(&q).await.expect("audit").entries;
    log.iter()
        .rev()
        .map(|e| e.action.as_str())
        .filter(|a| a.starts_with("team."))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_manages_teams_on_the_teams_page() {
    let Some(chromium) = browser_tools() else {
        return;
    };
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    let member = user(&app, "member@example.com", Role::Member).await;
    user(&app, "viewer@example.com", Role::Viewer).await;
    let beta = app.store.create_project("beta").await.expect("project");
    let shots = repo().join("target/screenshots");
    run_script(
        "teams.js",
        &chromium,
        &[
            ("ERRATA_BASE_URL", app.base.as_str()),
            ("ERRATA_EMAIL", EMAIL),
            ("ERRATA_PASSWORD", PASSWORD),
            ("ERRATA_MEMBER", "member@example.com"),
            ("ERRATA_VIEWER", "viewer@example.com"),
            ("ERRATA_PROJECT", app.project.name.as_str()),
            ("ERRATA_SCREENSHOTS", shots.to_str().expect("path")),
        ],
        Duration::from_secs(180),
        "teams walkthrough ok",
    )
    .await;
    let teams = app.store.list_teams().await.expect("teams");
    assert_eq!(teams.len(), 1, "{teams:?}");
    assert!(teams[0].name.starts_with("<b>payments</b>"));
    assert_eq!(teams[0].members, vec![member]);
    assert_eq!(teams[0].projects, vec![beta.id]);
    assert_eq!(
        team_actions(&app).await,
        [
            "team.create",
            "team.member_add",
            "team.member_add",
            "team.member_remove",
            "team.project_add",
            "team.project_add",
            "team.project_remove",
            "team.create",
            "team.delete",
        ]
    );
}

/// Owners change every team; an admin sees only their own teams and changes only their
/// members; a form without the CSRF token is refused.
#[tokio::test]
async fn teams_page_is_for_owners_with_csrf() {
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    let admin_id = user(&app, "admin2@example.com", Role::Admin).await;
    let owner = {
        let hash = errata_server::web::hash_password("access password 1").expect("hash");
        app.store
            .create_user_with_role("owner2@example.com", &hash, Role::Owner)
            .await
            .expect("owner");
        session(&app, "owner2@example.com").await
    };
    let admin = session(&app, "admin2@example.com").await;
    let form = |who: &Caller<'_>, csrf: &str, name: &str| {
        request(&app, who, Method::POST, "/admin/teams")
            .form(&[("csrf", csrf), ("name", name)])
            .send()
    };
    let res = form(&Caller::Session(&admin), &admin.csrf, "by admin")
        .await
        .expect("post");
    assert_eq!(res.status(), 403, "an admin who is not an owner");
    // The session cookie alone, with a wrong form token and no header.
    let res = client()
        .post(format!("{}/admin/teams", app.base))
        .header(reqwest::header::COOKIE, &owner.cookie)
        .form(&[("csrf", "wrong"), ("name", "no csrf")])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 403, "without the CSRF token");
    let res = form(&Caller::Session(&owner), &owner.csrf, "   ")
        .await
        .expect("post");
    assert_eq!(res.status(), 400, "an empty name");
    assert!(app.store.list_teams().await.expect("teams").is_empty());
    let res = form(&Caller::Session(&owner), &owner.csrf, "ops")
        .await
        .expect("post");
    assert_eq!(res.status(), 303);
    let ops = team_named(&app, "ops").await.expect("created");
    let res = request(
        &app,
        &Caller::Session(&owner),
        Method::POST,
        &format!("/admin/teams/{}/nope", ops.id),
    )
    .form(&[("csrf", owner.csrf.as_str()), ("id", "1"), ("op", "add")])
    .send()
    .await
    .expect("post");
    assert_eq!(res.status(), 404);

    // An admin of team "ops" manages its members, not another team's, nor its projects.
    let viewer_id = user(&app, "viewer2@example.com", Role::Viewer).await;
    let by_owner = |team_id: i64, what: &str, id: i64| {
        let path = format!("/admin/teams/{team_id}/{what}");
        let id = id.to_string();
        request(&app, &Caller::Session(&owner), Method::POST, &path)
            .form(&[
                ("csrf", owner.csrf.as_str()),
                ("id", id.as_str()),
                ("op", "add"),
            ])
            .send()
    };
    assert_eq!(
        by_owner(ops.id, "members", admin_id)
            .await
            .expect("post")
            .status(),
        303
    );
    form(&Caller::Session(&owner), &owner.csrf, "billing")
        .await
        .expect("post");
    let billing = team_named(&app, "billing").await.expect("created");
    let by_admin = |team_id: i64, what: &str, id: i64| {
        let path = format!("/admin/teams/{team_id}/{what}");
        let id = id.to_string();
        request(&app, &Caller::Session(&admin), Method::POST, &path)
            .form(&[
                ("csrf", admin.csrf.as_str()),
                ("id", id.as_str()),
                ("op", "add"),
            ])
            .send()
    };
    assert_eq!(
        by_admin(ops.id, "members", viewer_id)
            .await
            .expect("post")
            .status(),
        303
    );
    assert_eq!(
        by_admin(billing.id, "members", viewer_id)
            .await
            .expect("post")
            .status(),
        403
    );
    assert_eq!(
        by_admin(ops.id, "projects", 1)
            .await
            .expect("post")
            .status(),
        403
    );
    let members = team_named(&app, "ops").await.expect("ops").members;
    assert!(members.contains(&viewer_id), "{members:?}");
    let page = request(&app, &Caller::Session(&admin), Method::GET, "/admin/teams")
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("body");
    assert!(html.contains("team-") && html.contains(">ops<"), "{html}");
    assert!(!html.contains(">billing<"), "another team's");
    assert!(
        !html.contains("new-team") && !html.contains("Delete team"),
        "owners' forms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_line_manages_teams() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("errata.db").display());
    let app = TestApp::spawn_on(&db, |_| {}).await;
    let member = user(&app, "member@example.com", Role::Member).await;
    let beta = app.store.create_project("beta").await.expect("project");
    let errata = |args: &[&str]| {
        let args: Vec<&str> = std::iter::once("team")
            .chain(args.iter().copied())
            .collect();
        run_errata(&db, &args)
    };
    let (ok, id, err) = errata(&["create", "payments"]);
    assert!(ok, "{err}");
    let id: i64 = id.trim().parse().expect("the new team's id");
    let (ok, _, err) = errata(&["create", "payments"]);
    assert!(!ok && err.contains("exists"), "{err}");
    let (ok, _, err) = errata(&["create", " "]);
    assert!(!ok && err.contains("1 to 100"), "{err}");
    for args in [
        ["add-member", "payments", "Member@Example.com"],
        ["add-project", "payments", "beta"],
        ["add-project", &id.to_string(), &app.project.id.to_string()],
        ["remove-project", "payments", &app.project.name],
    ] {
        let (ok, _, err) = errata(&args);
        assert!(ok, "{args:?}: {err}");
    }
    let (ok, _, err) = errata(&["add-member", "payments", "nobody@example.com"]);
    assert!(!ok && err.contains("nobody@example.com"), "{err}");
    let (ok, _, err) = errata(&["add-project", "nope", "beta"]);
    assert!(!ok && err.contains("no team \"nope\""), "{err}");
    let team = team_named(&app, "payments").await.expect("team");
    assert_eq!(
        (team.id, team.members.clone(), team.projects.clone()),
        (id, vec![member], vec![beta.id])
    );
    let (ok, list, err) = errata(&["list"]);
    assert!(ok, "{err}");
    assert_eq!(
        list.trim(),
        format!("{id}\tpayments\tmember@example.com\tbeta")
    );

    let (ok, _, err) = errata(&["remove-member", "payments", "member@example.com"]);
    assert!(ok, "{err}");
    assert!(team_named(&app, "payments")
        .await
        .expect("team")
        .members
        .is_empty());
    let (ok, _, err) = errata(&["delete", "payments"]);
    assert!(ok, "{err}");
    assert!(team_named(&app, "payments").await.is_none());
    let (ok, list, _) = errata(&["list"]);
    assert!(ok && list.trim().is_empty(), "{list}");

    let q = AuditQuery {
        limit: 100,
        ..AuditQuery::default()
    };
    let log = app.store.audit_log(&q).await.expect("audit").entries;
    let team_entries: Vec<_> = log
        .iter()
        .filter(|e| e.action.as_str().starts_with("team."))
        .collect();
    assert_eq!(team_entries.len(), 7, "{team_entries:?}");
    assert!(team_entries.iter().all(|e| e.actor.label == "command line"));
    assert_eq!(team_entries[0].action, AuditAction::TeamDelete);
    app.stop().await;
}
