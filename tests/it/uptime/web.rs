//! The uptime pages: a walk through them in headless Chromium (`tests/browser/uptime.js`)
//! against a server with a down check whose name and URL carry XSS payloads.

use serde_json::json;

use super::*;

#[tokio::test]
async fn chromium_walks_through_the_uptime_pages() {
    let Some(chromium) = crate::browser::browser_tools() else {
        return;
    };
    let app = app(|c| c.notify.enabled = false).await;
    crate::web::add_admin(&app).await;
    let broken = Target::start(Reply::Status(503, "no")).await;
    let healthy = Target::start(Reply::Status(200, "healthy")).await;
    let id = create_ok(
        &app,
        &json!({"url": broken.url("/<svg onload=window.__xss=1>"),
                "name": "<img src=x onerror=window.__xss=2> shop",
                "keyword": "<script>window.__xss=3</script>", "is_public": true,
                "interval_seconds": 10, "timeout_seconds": 2}),
    )
    .await;
    for _ in 0..3 {
        step(&app, 10).await;
    }
    assert_eq!(check(&app, id).await["status"], "down");
    let res = app
        .http
        .put(format!(
            "{}/api/v1/projects/{}/status-page",
            app.base, app.project.id
        ))
        .bearer_auth(&app.token)
        .json(&json!({"slug": "shop", "title": "<i>Shop</i> status", "enabled": true}))
        .send()
        .await
        .expect("status page");
    assert_eq!(res.status(), 200);
    let (project_id, check_id) = (app.project.id.to_string(), id.to_string());
    let target = healthy.url("/healthz");
    let shots = crate::browser::repo().join("target/screenshots");
    let shots = shots.display().to_string();
    let envs = [
        ("ERRATA_BASE_URL", app.base.as_str()),
        ("ERRATA_EMAIL", crate::web::EMAIL),
        ("ERRATA_PASSWORD", crate::web::PASSWORD),
        ("ERRATA_PROJECT_ID", project_id.as_str()),
        ("ERRATA_CHECK_ID", check_id.as_str()),
        ("ERRATA_TARGET_URL", target.as_str()),
        ("ERRATA_SCREENSHOTS", shots.as_str()),
    ];
    let limit = std::time::Duration::from_secs(180);
    let stdout =
        crate::browser::run_script("uptime.js", &chromium, &envs, limit, "uptime walk ok").await;
    assert!(
        stdout.contains("ok - check page: no payload ran"),
        "{stdout}"
    );
    // What the browser did went through the server.
    let list = app
        .api(&format!(
            "/api/v1/projects/{}/uptime-checks",
            app.project.id
        ))
        .await;
    let checks = list["uptime_checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(checks.len(), 1, "the seeded check was deleted: {list}");
    let created = &checks[0];
    assert_eq!(created["name"], "Browser check");
    assert_eq!(created["url"], target.as_str());
    assert_eq!(created["interval_seconds"], 30);
    assert_eq!(created["timeout_seconds"], 5, "edited");
    assert_eq!(created["keyword"], "healthy");
    assert_eq!(created["is_paused"], false, "paused, then resumed");
    app.stop().await;
}
