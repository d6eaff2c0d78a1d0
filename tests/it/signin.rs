//! Sign-in under attack (issue #24 items 4 and 8): `next` cannot redirect anywhere but this
//! server, over HTTP and in headless Chromium; failed sign-ins slow the guesser's address
//! but never lock the account's owner out from elsewhere.

use std::time::Duration;

use reqwest::header::{COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};
use reqwest::StatusCode;

use crate::helpers::TestApp;
use crate::web::{add_admin, client, csrf_of, EMAIL, PASSWORD};

/// Loads the sign-in page and posts its form from `address` (`X-Forwarded-For`, which the
/// server trusts only when `ingest.trust_forwarded_for` is on).
pub(crate) async fn post_login(
    app: &TestApp,
    http: &reqwest::Client,
    address: &str,
    email: &str,
    password: &str,
    next: &str,
) -> reqwest::Response {
    let page = http
        .get(format!("{}/login", app.base))
        .header("x-forwarded-for", address)
        .send()
        .await
        .expect("login page");
    let pre = page
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("errata_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("pre-session csrf cookie")
        .to_owned();
    let csrf = csrf_of(&page.text().await.expect("body"));
    http.post(format!("{}/login", app.base))
        .header(COOKIE, pre)
        .header("x-forwarded-for", address)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
            ("next", next),
        ])
        .send()
        .await
        .expect("login")
}

/// `errata_session=…` of a response that started a session, for a `Cookie` header.
pub(crate) fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with("errata_session=") && !v.starts_with("errata_session=;"))
        .find_map(|v| v.split(';').next())
        .map(str::to_owned)
}

fn has_session_cookie(res: &reqwest::Response) -> bool {
    session_cookie(res).is_some()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn sign_in_never_redirects_off_the_server() {
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    let http = client();
    for next in [
        "/\t/evil.example/x",
        "/\r\n/evil.example",
        "/.//evil.example",
        "/\\evil.example",
        "//evil.example",
        "https://evil.example/",
    ] {
        let res = post_login(&app, &http, "127.0.0.1", EMAIL, PASSWORD, next).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "next={next:?}");
        assert_eq!(location(&res), "/", "next={next:?}");
        assert!(has_session_cookie(&res), "next={next:?}");
    }
    // A header injection attempt: no 500, the session is started and its cookie sent, and
    // nothing of the payload reaches the headers.
    let res = post_login(
        &app,
        &http,
        "127.0.0.1",
        EMAIL,
        PASSWORD,
        "/\r\nSet-Cookie: planted=1",
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(has_session_cookie(&res));
    let planted = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .any(|v| v.to_str().unwrap_or_default().starts_with("planted"));
    assert!(!planted);
    assert!(location(&res).starts_with('/') && !location(&res).starts_with("//"));
    // Local targets still work.
    let res = post_login(&app, &http, "127.0.0.1", EMAIL, PASSWORD, "/issues/4?x=1").await;
    assert_eq!(location(&res), "/issues/4?x=1");

    // Signed in, `GET /login?next=` redirects at once, by the same rule.
    let cookie = session_cookie(&res).expect("session cookie");
    let res = http
        .get(format!("{}/login?next=/%09/evil.example/x", app.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("login page");
    assert_eq!(location(&res), "/");
}

#[tokio::test]
async fn chromium_signing_in_with_a_hostile_next_stays_on_the_server() {
    let Some(chromium) = crate::browser::browser_tools() else {
        return;
    };
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    let env = [
        ("ERRATA_BASE_URL", app.base.as_str()),
        ("ERRATA_EMAIL", EMAIL),
        ("ERRATA_PASSWORD", PASSWORD),
    ];
    let limit = Duration::from_secs(120);
    crate::browser::run_script("redirect.js", &chromium, &env, limit, "redirect ok").await;
}

/// The `Retry-After` of a 429, in seconds.
fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After on 429")
}

#[tokio::test]
async fn a_stranger_cannot_lock_the_owner_out_and_is_slowed_exponentially() {
    let start = errata_server::clock::system_now_ms();
    let app = TestApp::spawn_with_clock(start, |c| c.ingest.trust_forwarded_for = true).await;
    add_admin(&app).await;
    let http = client();
    let stranger = "203.0.113.7";
    // Case and spacing variants of the e-mail are the same account.
    let variants = [
        "ADMIN@example.com",
        " admin@example.com ",
        "Admin@Example.COM",
        EMAIL,
    ];
    for i in 0..5 {
        let email = variants[i % variants.len()];
        let res = post_login(&app, &http, stranger, email, "guess", "/").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let res = post_login(&app, &http, stranger, " Admin@example.com", "guess", "/").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&res), 30);
    assert!(res
        .text()
        .await
        .expect("body")
        .contains("Too many failed sign-in attempts"));

    // The owner, elsewhere, signs in with the right password.
    let res = post_login(&app, &http, "198.51.100.2", EMAIL, PASSWORD, "/projects").await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the owner is not locked out"
    );
    assert!(has_session_cookie(&res));

    // The stranger's delays double: 30 s, 60 s, 120 s …, each over once the clock has moved.
    let mut wait = 30;
    for _ in 0..3 {
        app.clock.advance(Duration::from_secs(wait));
        let res = post_login(&app, &http, stranger, EMAIL, "guess", "/").await;
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "allowed after {wait} s"
        );
        wait *= 2;
        let res = post_login(&app, &http, stranger, EMAIL, PASSWORD, "/").await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry_after(&res), wait);
    }
}
