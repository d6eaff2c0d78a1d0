//! Single sign-on end to end: a real OpenID provider (the `oidc-provider` package under
//! `tests/oidc`, run with Node on loopback) and headless Chromium through the whole sign-in
//! (`tests/browser/sso.js`): discovery, redirect, the provider's sign-in and consent, the
//! callback, a user made just in time with their group's role and team; a disallowed domain, a
//! tampered state, a tampered nonce and an expired ID token refused; each in the audit log.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use errata_server::clock::system_now_ms;
use errata_server::store::{AuditAction, AuditQuery, Role};
use errata_server::web::sso::OidcProvider;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::browser::{browser_tools, repo, run_script};
use crate::helpers::TestApp;
use crate::web::add_admin;

/// A port free a moment ago on 127.0.0.1 (the provider must know Errata's callback, and
/// Errata the provider's issuer, before either starts).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts the provider; returns once it listens.
async fn start_provider(port: u16, redirect: &str) -> tokio::process::Child {
    let mut child = tokio::process::Command::new("node")
        .arg(repo().join("tests/oidc/provider.mjs"))
        .env("PORT", port.to_string())
        .env("REDIRECT_URI", redirect)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let listening = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("listening") {
                return true;
            }
        }
        false
    };
    let up = tokio::time::timeout(Duration::from_secs(30), listening).await;
    assert!(matches!(up, Ok(true)), "the OpenID provider starts");
    // Keep reading: the provider prints warnings later, and a closed pipe would stop it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_with_openid_connect() {
    let Some(chromium) = browser_tools() else {
        return;
    };
    if !repo()
        .join("tests/oidc/node_modules/oidc-provider")
        .exists()
    {
        let reason = "tests/oidc/node_modules missing (npm ci --prefix tests/oidc)";
        assert!(std::env::var_os("CI").is_none(), "{reason}");
        eprintln!("skipping: {reason}");
        return;
    }
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    // Errata's clock runs two minutes ahead: the provider's 5-second tokens for "late@…"
    // arrive expired (beyond the minute of skew allowed), its hour-long ones are fine.
    let app = TestApp::spawn_with_clock(system_now_ms() + 120_000, |c| {
        c.auth.oidc = vec![OidcProvider {
            id: "test".into(),
            name: "Test SSO".into(),
            issuer: issuer.clone(),
            client_id: "errata".into(),
            client_secret: Some("errata-test-secret".into()),
            allowed_domains: vec!["corp.example".into()],
            groups_claim: Some("groups".into()),
            group_roles: BTreeMap::from([("errata-admins".into(), "admin".into())]),
            group_teams: BTreeMap::from([("payments".into(), "payments".into())]),
            ..OidcProvider::default()
        }];
    })
    .await;
    add_admin(&app).await;
    let redirect = format!("{}/login/sso/test/callback", app.base);
    let _provider = start_provider(port, &redirect).await;

    let shots = repo().join("target/screenshots");
    run_script(
        "sso.js",
        &chromium,
        &[
            ("ERRATA_BASE_URL", app.base.as_str()),
            ("ERRATA_PROVIDER_URL", issuer.as_str()),
            ("ERRATA_SCREENSHOTS", shots.to_str().expect("path")),
        ],
        Duration::from_secs(180),
        "sso walkthrough ok",
    )
    .await;

    // Alice was made just in time: an admin (her group), in team payments; nobody else was.
    let users = app.store.list_users().await.expect("users");
    let alice = users
        .iter()
        .find(|u| u.email == "alice@corp.example")
        .expect("alice was created");
    assert_eq!(alice.role, Role::Admin);
    assert!(!users.iter().any(|u| u.email.ends_with("@other.example")));
    assert!(!users.iter().any(|u| u.email.starts_with("late@")));
    let teams = app.store.list_teams().await.expect("teams");
    let payments = teams.iter().find(|t| t.name == "payments").expect("team");
    assert_eq!(payments.members, vec![alice.id]);

    // The audit log has the sign-in and each refusal, with the provider and the reason.
    let log = app
        .store
        .audit_log(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .expect("audit log")
        .entries;
    let signed_in: Vec<_> = log
        .iter()
        .filter(|e| e.action == AuditAction::SignIn)
        .collect();
    assert_eq!(signed_in.len(), 1, "{log:?}");
    assert_eq!(signed_in[0].data["provider"], "test");
    assert_eq!(signed_in[0].data["method"], "oidc");
    assert_eq!(signed_in[0].actor.label, "alice@corp.example");
    let reasons: Vec<String> = log
        .iter()
        .filter(|e| e.action == AuditAction::SignInFailed)
        .map(|e| e.data["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    for needle in [
        "domain is not allowed",
        "state does not match",
        "nonce",
        "expired",
    ] {
        assert!(
            reasons.iter().any(|r| r.to_lowercase().contains(needle)),
            "{needle}: {reasons:?}"
        );
    }
}

/// With passwords turned off the sign-in form is gone and a posted password is refused.
#[tokio::test]
async fn password_sign_in_can_be_turned_off() {
    let app = TestApp::spawn_with(|c| c.auth.passwords = false).await;
    add_admin(&app).await;
    let http = crate::web::client();
    let res = http
        .get(format!("{}/login", app.base))
        .send()
        .await
        .expect("login page");
    let pre = crate::web::set_cookie(res.headers(), "errata_csrf").expect("csrf cookie");
    let pre = crate::web::cookie_pair(&pre);
    let page = res.text().await.expect("body");
    assert!(!page.contains("name=\"password\""), "no password form");
    // The pre-session token is the cookie's value (double submit).
    let token = pre
        .split_once('=')
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default();
    let res = http
        .post(format!("{}/login", app.base))
        .header(reqwest::header::COOKIE, &pre)
        .form(&[
            ("csrf", token.as_str()),
            ("email", crate::web::EMAIL),
            ("password", crate::web::PASSWORD),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), 403);
    assert!(res
        .text()
        .await
        .expect("body")
        .contains("Password sign-in is turned off"));
}
